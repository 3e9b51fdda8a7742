#![cfg(test)]
//! Test support shared by the core's unit tests: a scripted transport and a
//! client on a loopback custom cloud.

use std::collections::VecDeque;

use super::client::{Client, Transport};
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
