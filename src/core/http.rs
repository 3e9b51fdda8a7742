//! Plain-data HTTP messages exchanged between the core and a transport.

use std::fmt;
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Patch,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
        }
    }
}

/// A value that must never be printed: client secrets and tokens.
/// `Debug` shows `[redacted]`, and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Read from configuration files; still never printed. A value of the
/// wrong type is refused without quoting it (serde's own message would).
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

struct SecretVisitor;

const NOT_A_SECRET: &str = "expected a string; the value given is not shown, in case it is a secret";

impl<'de> serde::de::Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Secret, E> {
        Ok(Secret(value.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<Secret, E> {
        Ok(Secret(value))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(E::custom(NOT_A_SECRET))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(E::custom(NOT_A_SECRET))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(E::custom(NOT_A_SECRET))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(E::custom(NOT_A_SECRET))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(serde::de::Error::custom(NOT_A_SECRET))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(serde::de::Error::custom(NOT_A_SECRET))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Outgoing request timeouts in milliseconds. A whole answer body must also
/// arrive within `first_byte_ms + between_bytes_ms` of its headers, so a
/// server that drips bytes cannot hold a call forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    pub connect_ms: u32,
    pub first_byte_ms: u32,
    pub between_bytes_ms: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect_ms: 10_000, first_byte_ms: 60_000, between_bytes_ms: 30_000 }
    }
}

impl Timeouts {
    /// How long an answer's body may take to arrive, once its headers have.
    pub fn body_ms(&self) -> u64 {
        u64::from(self.first_byte_ms) + u64::from(self.between_bytes_ms)
    }
}

/// A request ready to send. Its body may hold a secret (the token request),
/// so `Debug` shows only the method, URL and header names.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How many times its own size the parsed answer takes in memory: the
    /// transport allows an answer its response cap divided by this, so an
    /// answer that would not fit once parsed is refused before it is read.
    pub answer_weight: u32,
}

/// A KQL or hunting table: JSON values, then typed cells, then the copy the
/// component hands its host take about this many times the body's size.
pub const TABLE_ANSWER_WEIGHT: u32 = 4;

/// Sent on every Graph request: without it Graph hides enum members added
/// after v1.0 shipped (incident status `awaitingAction`, alerts'
/// `serviceSource` `microsoftSentinel` and Sentinel's detection sources) as
/// `unknownFutureValue`.
pub const GRAPH_PREFER: [&str; 2] = ["prefer", "include-unknown-enum-members"];

/// The id each request carries so Microsoft support can find it: ARM, Log
/// Analytics and Entra read `x-ms-client-request-id`, Graph reads
/// `client-request-id` (both are sent to Graph, with the same value).
pub const CLIENT_REQUEST_ID: &str = "x-ms-client-request-id";
pub const GRAPH_CLIENT_REQUEST_ID: &str = "client-request-id";
/// The id the service gives its answer: ARM, Log Analytics and Entra
/// answer `x-ms-request-id`, Graph `request-id`.
pub const REQUEST_ID: &str = "x-ms-request-id";
pub const GRAPH_REQUEST_ID: &str = "request-id";

impl Request {
    pub fn new(method: Method, url: Url) -> Self {
        Request { method, url, headers: Vec::new(), body: Vec::new(), answer_weight: 1 }
    }

    pub fn answer_weight(mut self, weight: u32) -> Self {
        self.answer_weight = weight.max(1);
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The value of the first header called `name` (any case).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The request with a fresh client request id (a version 4 UUID from
    /// `random`): one per request, kept by its retries, as Azure's SDKs do.
    pub fn traced(mut self, random: [u64; 2]) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&random[0].to_le_bytes());
        bytes[8..].copy_from_slice(&random[1].to_le_bytes());
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string();
        self.headers.retain(|(key, _)| !key.eq_ignore_ascii_case(CLIENT_REQUEST_ID));
        self.header(CLIENT_REQUEST_ID, id)
    }

    pub fn json_body(self, body: Vec<u8>) -> Self {
        let mut request = self.header("content-type", "application/json");
        request.body = body;
        request
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_of_the_wrong_type_is_refused_without_its_value() {
        let secret: Secret = serde_json::from_str(r#""Abc8Q~value""#).unwrap();
        assert_eq!(secret.expose(), "Abc8Q~value");
        for wrong in ["918273645546372819", "[\"Abc8Q~hunter2\"]", "{\"v\":\"Abc8Q~hunter2\"}", "true", "1.5"] {
            let error = serde_json::from_str::<Secret>(wrong).unwrap_err().to_string();
            assert!(
                error.contains("not shown") && !error.contains("91827364") && !error.contains("hunter2"),
                "{error}"
            );
        }
    }
}
