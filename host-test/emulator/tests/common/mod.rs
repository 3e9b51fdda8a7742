//! What the emulator's HTTP-level tests share: a tiny HTTP/1.1 client over
//! real loopback (hyper's), and the token helpers. The repository's
//! end-to-end tests use this same file as `common::client`.

#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use sentinel_emulator::{Emulator, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TENANT_ID};

pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    /// The JSON body, the body text as a JSON string when it is not JSON, or null when empty.
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request to an absolute `http://` URL, path and query exactly as given.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let uri: hyper::Uri = url.parse().unwrap_or_else(|e| panic!("{url} is not a URI: {e}"));
    let authority = uri.authority().expect("an absolute URL").clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str()).await.expect("connect to the emulator");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |pq| pq.as_str()))
        .header("host", authority.as_str());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::from(body.to_owned()))).expect("a valid request");
    let response = sender.send_request(request).await.expect("a response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.expect("the response body").to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Answer { status, headers, body }
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

pub fn token_url(emulator: &Emulator, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", emulator.url())
}

pub const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// A token request for the default tenant with the given form fields.
pub async fn request_token(emulator: &Emulator, pairs: &[(&str, &str)]) -> Answer {
    send("POST", &token_url(emulator, DEFAULT_TENANT_ID), &[FORM], &form(pairs)).await
}

/// A token request with the default client's credentials and `scope`.
pub async fn request_token_for(emulator: &Emulator, scope: &str) -> Answer {
    request_token(
        emulator,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", scope),
        ],
    )
    .await
}

/// A valid access token for `scope`.
pub async fn token(emulator: &Emulator, scope: &str) -> String {
    let answer = request_token_for(emulator, scope).await;
    assert_eq!(answer.status, 200, "token request failed: {}", answer.body);
    answer.body["access_token"].as_str().expect("an access_token").to_owned()
}

/// The claims (middle part) of a JWT, checking it has three base64url parts.
pub fn jwt_claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    for part in &parts {
        assert!(URL_SAFE_NO_PAD.decode(part).is_ok(), "'{part}' is not base64url");
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url")).expect("the claims are JSON")
}
