#![cfg(test)]
//! Test support shared by the core's unit tests: a scripted transport and a
//! client on a loopback custom cloud.

use std::collections::VecDeque;

use super::client::{sliding_window, Client, Overlapping, Transport};
use super::config::{ConnectionConfig, Credential, ProtectedAccounts, Settings};
use super::error::Error;
use super::http::{Request, Response, Secret, Timeouts};

/// A scripted transport: answers in order and records what was sent.
pub struct Script {
    answers: VecDeque<Response>,
    pub sent: Vec<Request>,
    pub now: u64,
}

impl Script {
    pub fn new(answers: Vec<(u16, String)>) -> Self {
        let answers = answers
            .into_iter()
            .map(|(status, body)| Response { status, headers: vec![], body: body.into_bytes() })
            .collect();
        Script { answers, sent: Vec::new(), now: 1_000 }
    }

    /// The script with one more answer, carrying `headers`.
    pub fn then(mut self, status: u16, headers: &[(&str, &str)], body: &str) -> Self {
        let headers = headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
        self.answers.push_back(Response { status, headers, body: body.as_bytes().to_vec() });
        self
    }
}

impl Transport for Script {
    fn send(&mut self, request: &Request, _: &Timeouts) -> Result<Response, Error> {
        self.sent.push(request.clone());
        self.answers.pop_front().ok_or_else(|| Error::transport("script ran out", ""))
    }
    fn now_unix_secs(&self) -> u64 {
        self.now
    }
    fn monotonic_millis(&self) -> u64 {
        self.now * 1000
    }
    fn sleep(&mut self, duration: std::time::Duration) {
        self.now += duration.as_secs().max(1);
    }
    fn random_u64(&mut self) -> u64 {
        4
    }
}

/// One request a [`Simulated`] transport carried: when it started and
/// answered on the simulated clock, in start order.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub request: Request,
    pub started_ms: u64,
    pub answered_ms: u64,
}

/// What a [`Simulated`] service answers to a request, and after how long.
pub type Service = Box<dyn FnMut(&Request) -> (u64, Response)>;

/// A transport on a simulated clock that overlaps requests as the real ones
/// do, through the core's [`sliding_window`]: each request takes the latency
/// the service gives it, and every start and answer is recorded, with the
/// most requests ever in flight at once.
pub struct Simulated {
    service: Service,
    pub clock_ms: u64,
    pub exchanges: Vec<Exchange>,
    /// Each `send_all`: how many requests, and the concurrency asked for.
    pub batches: Vec<(usize, usize)>,
    pub max_in_flight: usize,
}

impl Simulated {
    pub fn new(service: impl FnMut(&Request) -> (u64, Response) + 'static) -> Self {
        Simulated {
            service: Box::new(service),
            clock_ms: 0,
            exchanges: Vec::new(),
            batches: Vec::new(),
            max_in_flight: 0,
        }
    }

    /// Records a request started now; returns its answer and when it arrives.
    fn begin(&mut self, request: &Request) -> (usize, u64, Response) {
        let (latency, response) = (self.service)(request);
        let at = self.clock_ms + latency;
        self.exchanges.push(Exchange { request: request.clone(), started_ms: self.clock_ms, answered_ms: at });
        (self.exchanges.len() - 1, at, response)
    }
}

/// One `send_all` of a [`Simulated`] transport: (request index, exchange, answer time, answer).
struct SimulatedWindow<'a> {
    transport: &'a mut Simulated,
    requests: &'a [Request],
    in_flight: Vec<(usize, usize, u64, Response)>,
}

impl Overlapping for SimulatedWindow<'_> {
    fn start(&mut self, index: usize) -> Result<(), Error> {
        let (exchange, at, response) = self.transport.begin(&self.requests[index]);
        self.in_flight.push((index, exchange, at, response));
        self.transport.max_in_flight = self.transport.max_in_flight.max(self.in_flight.len());
        Ok(())
    }

    fn wait_any(&mut self) -> Vec<(usize, Result<Response, Error>)> {
        let Some(first) = self.in_flight.iter().map(|(_, _, at, _)| *at).min() else { return Vec::new() };
        self.transport.clock_ms = self.transport.clock_ms.max(first);
        let (done, rest): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|(_, _, at, _)| *at == first);
        self.in_flight = rest;
        done.into_iter().map(|(index, _, _, response)| (index, Ok(response))).collect()
    }
}

impl Transport for Simulated {
    fn send(&mut self, request: &Request, _: &Timeouts) -> Result<Response, Error> {
        let (_, at, response) = self.begin(request);
        self.clock_ms = at;
        self.max_in_flight = self.max_in_flight.max(1);
        Ok(response)
    }
    fn send_all(&mut self, requests: &[Request], concurrency: usize, _: &Timeouts) -> Vec<Result<Response, Error>> {
        self.batches.push((requests.len(), concurrency));
        sliding_window(
            &mut SimulatedWindow { transport: self, requests, in_flight: Vec::new() },
            requests.len(),
            concurrency,
        )
    }
    fn now_unix_secs(&self) -> u64 {
        1_000 + self.clock_ms / 1000
    }
    fn monotonic_millis(&self) -> u64 {
        self.clock_ms
    }
    fn sleep(&mut self, duration: std::time::Duration) {
        self.clock_ms += duration.as_millis() as u64;
    }
    fn random_u64(&mut self) -> u64 {
        4
    }
}

pub const BASE: &str = "http://127.0.0.1:7000";

pub fn client() -> Client {
    client_protecting(ProtectedAccounts::default())
}

/// A client whose containment actions refuse these accounts.
pub fn client_protecting(protected: ProtectedAccounts) -> Client {
    let config = ConnectionConfig {
        credential: Credential::ClientSecret(Secret::new("the-client-secret")),
        protected_accounts: protected,
        ..super::config::tests::loopback_config(BASE)
    };
    Client::new(Settings::from_config(config).unwrap())
}

pub fn token() -> (u16, String) {
    (200, r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-123"}"#.into())
}
