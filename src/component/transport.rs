//! The only module that touches the network: one blocking `wasi:http`
//! exchange per call, with the connection's timeouts on every request.

use std::time::{SystemTime, UNIX_EPOCH};

use url::{Position, Url};
use wasip2::clocks::monotonic_clock;
use wasip2::http::outgoing_handler::{self, FutureIncomingResponse};
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, IncomingResponse, Method as WasiMethod, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasip2::io::poll::{poll, Pollable};
use wasip2::io::streams::StreamError;
use wasip2::random::random;

use crate::core::client::{sliding_window, Overlapping};
use crate::core::http::{Method, Request, Response, Timeouts};
use crate::core::{Error, Transport};

/// The largest answer body read when the host says nothing: a quarter of the
/// 64 MiB a store gets by default, leaving room to parse it. A body past the
/// cap is refused with `invalid-response`, never read into a trap.
const DEFAULT_RESPONSE_CAP: usize = 16 << 20;
/// The host sets the cap from its store memory limit through this
/// environment variable (standard `wasi:cli/environment`; hosts that do not
/// set it get the default).
const RESPONSE_CAP_VARIABLE: &str = "SENTINEL_MAX_RESPONSE_BYTES";
const RESPONSE_CAP_RANGE: std::ops::RangeInclusive<usize> = (1 << 20)..=(1 << 30);
/// `blocking-write-and-flush` accepts at most 4096 bytes per call.
const WRITE_CHUNK: usize = 4096;
const READ_CHUNK: u64 = 64 * 1024;

pub struct WasiHttp;

impl Transport for WasiHttp {
    fn send(&mut self, request: &Request, timeouts: &Timeouts) -> Result<Response, Error> {
        finish(start(request, timeouts)?, request, timeouts)
    }

    /// At most `concurrency` requests in flight, waited on together through
    /// `wasi:io/poll`; each answer is read as it arrives and the next request
    /// starts at once in the slot it freed (see [`sliding_window`]).
    fn send_all(
        &mut self,
        requests: &[Request],
        concurrency: usize,
        timeouts: &Timeouts,
    ) -> Vec<Result<Response, Error>> {
        sliding_window(&mut Window { requests, timeouts, in_flight: Vec::new() }, requests.len(), concurrency)
    }

    fn now_unix_secs(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }

    fn monotonic_millis(&self) -> u64 {
        monotonic_clock::now() / 1_000_000
    }

    fn sleep(&mut self, duration: std::time::Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        monotonic_clock::subscribe_duration(nanos).block();
    }

    fn random_u64(&mut self) -> u64 {
        random::get_random_u64()
    }
}

/// A request sent, its body written, its answer not yet read.
struct InFlight {
    future: FutureIncomingResponse,
    written: Result<(), Error>,
}

/// One `send_all`: its requests, and those in flight by index.
struct Window<'a> {
    requests: &'a [Request],
    timeouts: &'a Timeouts,
    in_flight: Vec<(usize, InFlight)>,
}

impl Overlapping for Window<'_> {
    fn start(&mut self, index: usize) -> Result<(), Error> {
        let started = start(&self.requests[index], self.timeouts)?;
        self.in_flight.push((index, started));
        Ok(())
    }

    fn wait_any(&mut self) -> Vec<(usize, Result<Response, Error>)> {
        if self.in_flight.is_empty() {
            return Vec::new();
        }
        let ready = {
            // The pollables are children of the futures: dropped before any future is used.
            let pollables: Vec<Pollable> = self.in_flight.iter().map(|(_, f)| f.future.subscribe()).collect();
            let refs: Vec<&Pollable> = pollables.iter().collect();
            poll(&refs)
        };
        // Taken from the back, so the positions `poll` named stay valid.
        let mut ready: Vec<usize> = ready.into_iter().map(|position| position as usize).collect();
        ready.sort_unstable_by(|a, b| b.cmp(a));
        ready.dedup();
        let count = self.in_flight.len();
        let answered: Vec<(usize, InFlight)> = ready
            .into_iter()
            .filter(|position| *position < count)
            .map(|position| self.in_flight.swap_remove(position))
            .collect();
        answered
            .into_iter()
            .map(|(index, started)| (index, finish(started, &self.requests[index], self.timeouts)))
            .collect()
    }
}

fn start(request: &Request, timeouts: &Timeouts) -> Result<InFlight, Error> {
    let outgoing = outgoing_request(request)?;
    let body = outgoing.body().map_err(|()| local("the request body was already taken"))?;
    let future =
        outgoing_handler::handle(outgoing, Some(options(timeouts))).map_err(|code| from_code(&code, &request.url))?;
    let written = write_body(body, &request.body);
    Ok(InFlight { future, written })
}

fn finish(started: InFlight, request: &Request, timeouts: &Timeouts) -> Result<Response, Error> {
    // When the host refuses a request its body stream closes too: the
    // response's error code says why, so it wins over the write error.
    let response = wait_for(started.future, &request.url)?;
    started.written?;
    let limits = BodyLimits {
        cap: response_cap() / request.answer_weight.max(1) as usize,
        deadline_ns: timeouts.body_ms().saturating_mul(1_000_000),
    };
    read_response(response, &request.url, limits)
}

/// The sandbox's cap on an answer body, read once.
fn response_cap() -> usize {
    static CAP: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CAP.get_or_init(|| {
        std::env::var(RESPONSE_CAP_VARIABLE)
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
            .map_or(DEFAULT_RESPONSE_CAP, |cap| cap.clamp(*RESPONSE_CAP_RANGE.start(), *RESPONSE_CAP_RANGE.end()))
    })
}

/// How much of an answer body is read, and for how long.
#[derive(Clone, Copy)]
struct BodyLimits {
    cap: usize,
    deadline_ns: u64,
}

fn outgoing_request(request: &Request) -> Result<OutgoingRequest, Error> {
    let mut entries: Vec<(String, Vec<u8>)> =
        request.headers.iter().map(|(name, value)| (name.clone(), value.as_bytes().to_vec())).collect();
    if !matches!(request.method, Method::Get | Method::Delete) {
        // Microsoft's POSTs without a body (alerts, entities) expect a length.
        entries.push(("content-length".into(), request.body.len().to_string().into_bytes()));
    }
    let headers = Fields::from_list(&entries).map_err(|e| local(&format!("a request header was refused: {e:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let url = &request.url;
    let authority = format!("{}:{}", url.host_str().unwrap_or_default(), url.port_or_known_default().unwrap_or(443));
    let scheme = match url.scheme() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => Scheme::Other(other.to_owned()),
    };
    let set = [
        outgoing.set_method(&method(request.method)),
        outgoing.set_scheme(Some(&scheme)),
        outgoing.set_authority(Some(&authority)),
        outgoing.set_path_with_query(Some(&url[Position::BeforePath..Position::AfterQuery])),
    ];
    if set.iter().any(Result::is_err) {
        return Err(local(&format!("the host refused the request line for {}", origin(url))));
    }
    Ok(outgoing)
}

fn method(method: Method) -> WasiMethod {
    match method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
        Method::Put => WasiMethod::Put,
        Method::Delete => WasiMethod::Delete,
        Method::Patch => WasiMethod::Patch,
    }
}

/// A host may not support every timeout; the request still goes, with the
/// host's own limits.
fn options(timeouts: &Timeouts) -> RequestOptions {
    let options = RequestOptions::new();
    let nanos = |ms: u32| Some(u64::from(ms) * 1_000_000);
    let _ = options.set_connect_timeout(nanos(timeouts.connect_ms));
    let _ = options.set_first_byte_timeout(nanos(timeouts.first_byte_ms));
    let _ = options.set_between_bytes_timeout(nanos(timeouts.between_bytes_ms));
    options
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), Error> {
    {
        let stream = body.write().map_err(|()| local("the request body stream was already taken"))?;
        for chunk in bytes.chunks(WRITE_CHUNK) {
            stream.blocking_write_and_flush(chunk).map_err(|e| stream_error("sending the request body", e))?;
        }
    }
    OutgoingBody::finish(body, None)
        .map_err(|code| Error::transport(format!("finishing the request failed: {code:?}"), RETRY_HINT))
}

fn wait_for(future: FutureIncomingResponse, url: &Url) -> Result<IncomingResponse, Error> {
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(from_code(&code, url)),
        Some(Err(())) => Err(local("the response was already taken")),
        None => Err(local("the response was not ready after waiting for it")),
    }
}

fn read_response(response: IncomingResponse, url: &Url, limits: BodyLimits) -> Result<Response, Error> {
    let status = response.status();
    let headers: Vec<(String, String)> = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let declared = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.cap as u64) {
        return Err(too_large(url, limits.cap));
    }
    let incoming = response.consume().map_err(|()| local("the response body was already taken"))?;
    let body = read_body(&incoming, url, limits, declared.unwrap_or(0) as usize)?;
    drop(IncomingBody::finish(incoming));
    Ok(Response { status, headers, body })
}

/// Reads until the body ends, the cap is passed, or the deadline: a hostile
/// server can neither fill the guest's memory nor hold the call by dripping.
fn read_body(incoming: &IncomingBody, url: &Url, limits: BodyLimits, declared: usize) -> Result<Vec<u8>, Error> {
    let stream = incoming.stream().map_err(|()| local("the response body stream was already taken"))?;
    let timer = monotonic_clock::subscribe_duration(limits.deadline_ns);
    let mut body = Vec::new();
    body.try_reserve_exact(declared.min(limits.cap)).map_err(|_| too_large(url, limits.cap))?;
    loop {
        let readable = stream.subscribe();
        poll(&[&readable, &timer]);
        if timer.ready() {
            return Err(Error::transport(
                format!(
                    "the answer from {} did not finish arriving within {} s",
                    origin(url),
                    limits.deadline_ns / 1_000_000_000
                ),
                "The service is sending very slowly; retry, or raise timeouts.first-byte-ms and between-bytes-ms.",
            ));
        }
        match stream.read(READ_CHUNK) {
            Ok(chunk) => append(&mut body, &chunk, limits.cap).map_err(|()| too_large(url, limits.cap))?,
            Err(StreamError::Closed) => return Ok(body),
            Err(e) => return Err(stream_error(&format!("reading the answer from {}", origin(url)), e)),
        }
    }
}

/// Grows the body without passing the cap or aborting when memory runs out
/// (`try_reserve`: an allocation failure is an error here, not a trap).
fn append(body: &mut Vec<u8>, chunk: &[u8], cap: usize) -> Result<(), ()> {
    let needed = body.len().checked_add(chunk.len()).filter(|needed| *needed <= cap).ok_or(())?;
    if needed > body.capacity() {
        let target = needed.max(body.capacity().saturating_mul(2)).min(cap);
        body.try_reserve_exact(target - body.len()).map_err(|_| ())?;
    }
    body.extend_from_slice(chunk);
    Ok(())
}

fn too_large(url: &Url, cap: usize) -> Error {
    let mib = (cap as f64) / f64::from(1u32 << 20);
    Error::InvalidResponse(crate::core::LocalFailure {
        message: format!("the answer from {} is larger than {mib:.0} MiB", origin(url)),
        hint: "Narrow the query or the page size (top), or ask the host's operator for a larger memory limit.".into(),
        ..crate::core::LocalFailure::default()
    })
}

const RETRY_HINT: &str =
    "A network problem between the host and the service; retry, and check the host's network if it persists.";

fn stream_error(what: &str, error: StreamError) -> Error {
    let detail = match error {
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
        StreamError::Closed => "the stream closed early".into(),
    };
    Error::transport(format!("{what} failed: {detail}"), RETRY_HINT)
}

fn local(message: &str) -> Error {
    Error::transport(message, "An error in the host's HTTP implementation; report it with the host's name and version.")
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Turns `wasi:http`'s error codes into a message and a hint. Only the origin
/// is named: queries and bodies stay out of error text.
fn from_code(code: &ErrorCode, url: &Url) -> Error {
    let origin = origin(url);
    let (message, hint) = match code {
        ErrorCode::HttpRequestDenied => (
            format!("the host denied the request to {origin}"),
            "The host lets this connection reach only its configured endpoints; check the cloud settings or the host's allow-list.",
        ),
        ErrorCode::DestinationIpProhibited => (
            format!("the host's policy does not allow connecting to the address {origin} resolves to"),
            "Loopback, private and link-local addresses are refused unless the host's operator allows them; check the cloud settings.",
        ),
        ErrorCode::DnsTimeout | ErrorCode::DnsError(_) => (format!("could not resolve {origin}"), "Check the endpoint URL and the host's DNS."),
        ErrorCode::ConnectionRefused => (format!("{origin} refused the connection"), "Is the service (or the emulator) listening at that address?"),
        ErrorCode::ConnectionTimeout => (format!("connecting to {origin} timed out"), "Check the network path, or raise timeouts.connect-ms."),
        ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => (
            format!("{origin} did not answer in time"),
            "The service is slow or unreachable; retry, or raise timeouts.first-byte-ms.",
        ),
        ErrorCode::TlsCertificateError => (
            format!("the TLS certificate of {origin} was not accepted"),
            "Its issuer is not trusted, it has expired, or it is for another name: a private CA (or a TLS-inspecting proxy's) must be trusted by the host (the CLI's --ca-file or SSL_CERT_FILE).",
        ),
        ErrorCode::TlsAlertReceived(_) | ErrorCode::TlsProtocolError => (
            format!("the TLS handshake with {origin} failed ({code:?})"),
            "Check that the endpoint URL is right and that no proxy intercepts TLS.",
        ),
        other => (format!("the request to {origin} failed: {other:?}"), RETRY_HINT),
    };
    Error::transport(message, hint)
}
