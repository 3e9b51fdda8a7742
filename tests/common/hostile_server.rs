//! A deliberately badly behaved HTTP/1.1 server on 127.0.0.1 for the
//! hostile-server suite (tests/hostile.rs).
//!
//! Raw TCP, because what it must send cannot be written with a well-behaved
//! HTTP library: `Content-Length` lies, answers that drip, endless chunked
//! bodies, huge headers. Every connection gets one answer and is closed.
//!
//! In its normal mode it plays the token endpoint, Sentinel's ARM incidents
//! (list, get, alerts, entities), the Log Analytics query API and Graph
//! security lists, with fixed data so two normal calls answer the same. A
//! case installs a [`Mode`]: a function that answers the requests it targets
//! and leaves the rest (`None`) to the normal mode. Every request is
//! recorded, and a second listener on another port ("foreign") records any
//! connection at all, so a case can assert that a redirect's `Location` or a
//! foreign `nextLink` was never requested.
//!
//! Declare it from a test with `#[path = "common/hostile_server.rs"] mod hostile_server;`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const TENANT: &str = "8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d";
pub const SUBSCRIPTION: &str = "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0";
pub const RESOURCE_GROUP: &str = "myRg";
pub const WORKSPACE: &str = "myWorkspace";
pub const WORKSPACE_ID: &str = "63c5ed4c-3d9d-4a46-9f5e-0b7c2b3a1f10";

/// The names of the normal mode's incidents, in list order.
pub const INCIDENT_NAMES: [&str; 3] = [
    "0b5bd4f5-7c0e-4b9e-9d36-1b8f2a61c001",
    "0b5bd4f5-7c0e-4b9e-9d36-1b8f2a61c002",
    "0b5bd4f5-7c0e-4b9e-9d36-1b8f2a61c003",
];

/// The largest request head or body the server reads (the connector sends small ones).
const MAX_REQUEST_BYTES: usize = 4 << 20;
/// No answer stream runs longer than this, whatever the case asked for.
const MAX_STREAM_TIME: Duration = Duration::from_secs(40);

/// Which listener a request reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Main,
    Foreign,
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub listener: Listener,
    pub method: String,
    /// The request target: path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map(|(_, q)| q).unwrap_or_default()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn is_token(&self) -> bool {
        self.method == "POST" && self.path().ends_with("/oauth2/v2.0/token")
    }

    /// The `scope` of a token request's form.
    pub fn token_scope(&self) -> Option<String> {
        if !self.is_token() {
            return None;
        }
        url::form_urlencoded::parse(&self.body).find(|(k, _)| k == "scope").map(|(_, v)| v.into_owned())
    }

    /// A token request for the Log Analytics audience.
    pub fn is_log_analytics_token(&self) -> bool {
        self.token_scope().is_some_and(|s| s.contains("loganalytics"))
    }

    pub fn is_graph_token(&self) -> bool {
        self.token_scope().is_some_and(|s| s.contains("graph"))
    }

    pub fn is_arm(&self) -> bool {
        self.path().starts_with("/subscriptions/")
    }

    pub fn is_incident_list(&self) -> bool {
        self.method == "GET" && self.path().ends_with("/providers/Microsoft.SecurityInsights/incidents")
    }

    /// `GET .../incidents/{name}`.
    pub fn incident_name(&self) -> Option<&str> {
        if self.method != "GET" {
            return None;
        }
        let (_, rest) = self.path().split_once("/providers/Microsoft.SecurityInsights/incidents/")?;
        (!rest.contains('/')).then_some(rest)
    }

    pub fn is_query(&self) -> bool {
        self.method == "POST" && self.path().starts_with("/v1/workspaces/") && self.path().ends_with("/query")
    }

    pub fn is_graph(&self) -> bool {
        self.path().starts_with("/v1.0/")
    }

    pub fn is_graph_incident_list(&self) -> bool {
        self.method == "GET" && self.path() == "/v1.0/security/incidents"
    }
}

/// How one answer is written.
#[derive(Clone, Debug)]
pub enum Reply {
    /// These bytes exactly (status line, headers, body), then close.
    Wire(Vec<u8>),
    /// A head, then `chunk` again and again: `total` bytes of body in all,
    /// or until the client goes away. Chunked when `chunked`, else the bytes
    /// follow the head as they are (the head says what it says).
    Repeat { head: Vec<u8>, chunk: Vec<u8>, total: Option<usize>, chunked: bool },
    /// A head, then one body byte every `every`, until the client goes away.
    Drip { head: Vec<u8>, every: Duration },
    /// Accepts the request and never answers.
    Silent,
}

impl Reply {
    /// A well-formed answer with its `Content-Length`.
    pub fn with(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
        let body = body.into();
        let mut head = head(status, headers);
        head.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        head.extend_from_slice(&body);
        Reply::Wire(head)
    }

    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::with(status, &[("content-type", "application/json; charset=utf-8")], body)
    }

    /// The same answer with more headers (a `Wire` answer only).
    pub fn with_headers(self, headers: &[(&str, &str)]) -> Reply {
        let Reply::Wire(bytes) = self else { return self };
        let line_end = bytes.windows(2).position(|w| w == b"\r\n").map_or(0, |at| at + 2);
        let mut wire = bytes[..line_end].to_vec();
        for (name, value) in headers {
            wire.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        wire.extend_from_slice(&bytes[line_end..]);
        Reply::Wire(wire)
    }

    /// An ARM/Graph-shaped error, `{"error":{"code","message"}}`.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(status, serde_json::json!({"error": {"code": code, "message": message}}).to_string())
    }
}

/// A status line and headers, without the blank line that ends the head.
pub fn head(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {}\r\nconnection: close\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

/// What a case answers: `Some` for the requests it targets, `None` leaves
/// a request to the normal mode.
pub type Mode = Arc<dyn Fn(&Recorded) -> Option<Reply> + Send + Sync>;

pub fn mode(f: impl Fn(&Recorded) -> Option<Reply> + Send + Sync + 'static) -> Mode {
    Arc::new(f)
}

#[derive(Default)]
struct State {
    mode: Mutex<Option<Mode>>,
    log: Mutex<Vec<Recorded>>,
    /// Every access token issued, in order.
    tokens: Mutex<Vec<String>>,
    /// Connections accepted by the foreign listener.
    foreign_connections: AtomicUsize,
    main_connections: AtomicUsize,
    rng: Mutex<u64>,
}

pub struct HostileServer {
    pub addr: SocketAddr,
    pub foreign_addr: SocketAddr,
    state: Arc<State>,
}

impl HostileServer {
    pub async fn start() -> HostileServer {
        let main = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let foreign = TcpListener::bind("127.0.0.1:0").await.expect("another loopback port");
        let (addr, foreign_addr) = (main.local_addr().unwrap(), foreign.local_addr().unwrap());
        let state =
            Arc::new(State { rng: Mutex::new(0x9E37_79B9_7F4A_7C15 ^ u64::from(addr.port())), ..State::default() });
        for (listener, which) in [(main, Listener::Main), (foreign, Listener::Foreign)] {
            let state = state.clone();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let counter =
                        if which == Listener::Main { &state.main_connections } else { &state.foreign_connections };
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(serve(socket, which, state.clone()));
                }
            });
        }
        HostileServer { addr, foreign_addr, state }
    }

    /// `http://127.0.0.1:PORT`: every endpoint of the custom cloud.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Another port on loopback, where nothing should ever be sent.
    pub fn foreign_url(&self) -> String {
        format!("http://{}", self.foreign_addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = Some(mode);
    }

    pub fn normal(&self) {
        *self.state.mode.lock().unwrap() = None;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.log.lock().unwrap().clone()
    }

    /// Every access token this server issued.
    pub fn tokens(&self) -> Vec<String> {
        self.state.tokens.lock().unwrap().clone()
    }

    pub fn foreign_connections(&self) -> usize {
        self.state.foreign_connections.load(Ordering::SeqCst)
    }

    pub fn main_connections(&self) -> usize {
        self.state.main_connections.load(Ordering::SeqCst)
    }

    /// Issues tokens that count as this server's (for a case's own token answers).
    pub fn issuer(&self) -> Issuer {
        Issuer(self.state.clone())
    }
}

/// Hands out access tokens recorded as issued by the server.
#[derive(Clone)]
pub struct Issuer(Arc<State>);

impl Issuer {
    pub fn token(&self, scope: &str) -> String {
        issue_token(&self.0, scope)
    }
}

async fn serve(mut socket: TcpStream, which: Listener, state: Arc<State>) {
    let Some(request) = read_request(&mut socket, which).await else { return };
    state.log.lock().unwrap().push(request.clone());
    let reply = match which {
        Listener::Foreign => Reply::error(500, "Foreign", "this port must never be reached"),
        Listener::Main => {
            let mode = state.mode.lock().unwrap().clone();
            match mode.and_then(|mode| mode(&request)) {
                Some(reply) => reply,
                None => normal(&request, &state),
            }
        }
    };
    let _ = tokio::time::timeout(MAX_STREAM_TIME, write_reply(&mut socket, reply)).await;
    let _ = socket.shutdown().await;
}

async fn write_reply(socket: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Wire(bytes) => socket.write_all(&bytes).await,
        Reply::Repeat { head, chunk, total, chunked } => {
            socket.write_all(&head).await?;
            if chunked {
                socket.write_all(b"transfer-encoding: chunked\r\n").await?;
            }
            socket.write_all(b"\r\n").await?;
            let mut sent = 0usize;
            loop {
                let piece = match total {
                    Some(total) if sent >= total => break,
                    Some(total) => &chunk[..chunk.len().min(total - sent)],
                    None => &chunk[..],
                };
                if chunked {
                    socket.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await?;
                    socket.write_all(piece).await?;
                    socket.write_all(b"\r\n").await?;
                } else {
                    socket.write_all(piece).await?;
                }
                sent += piece.len();
            }
            if chunked {
                socket.write_all(b"0\r\n\r\n").await?;
            }
            Ok(())
        }
        Reply::Drip { head, every } => {
            socket.write_all(&head).await?;
            socket.write_all(b"\r\n").await?;
            loop {
                socket.write_all(b" ").await?;
                socket.flush().await?;
                tokio::time::sleep(every).await;
            }
        }
        Reply::Silent => {
            // Holds the connection open, reading nothing more, sending nothing.
            tokio::time::sleep(MAX_STREAM_TIME).await;
            Ok(())
        }
    }
}

/// Reads one request: the head, then a body by `Content-Length` or chunked.
async fn read_request(socket: &mut TcpStream, listener: Listener) -> Option<Recorded> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if raw.len() > MAX_REQUEST_BYTES {
            return None;
        }
        match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => {
                // A client that said something that is not HTTP (a TLS hello) is still recorded.
                return (!raw.is_empty()).then(|| Recorded {
                    listener,
                    method: "?".into(),
                    target: String::from_utf8_lossy(&raw[..raw.len().min(64)]).into_owned(),
                    headers: Vec::new(),
                    body: Vec::new(),
                });
            }
            Ok(Ok(n)) => raw.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let chunked = header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    let complete = |body: &[u8]| -> bool {
        if chunked {
            body.windows(5).any(|w| w == b"0\r\n\r\n")
        } else {
            body.len() >= header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0)
        }
    };
    while !complete(&body) && body.len() < MAX_REQUEST_BYTES {
        match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    Some(Recorded { listener, method, target, headers, body })
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else { break };
        rest = &rest[line_end + 2..];
        body.extend_from_slice(&rest[..size.min(rest.len())]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    body
}

fn next_random(state: &State) -> u64 {
    let mut seed = state.rng.lock().unwrap();
    // xorshift64*
    let mut x = *seed;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *seed = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Random characters a bearer token may hold, `~`, `+` and `/` among them
/// (so its form-, percent- and JSON-escaped forms each differ from it).
fn random_token_text(state: &State, len: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const SPECIAL: &[u8] = b"~+/-_";
    (0..len)
        .map(|i| {
            let r = next_random(state);
            if i % 7 == 3 {
                SPECIAL[(r % SPECIAL.len() as u64) as usize] as char
            } else {
                ALNUM[(r % ALNUM.len() as u64) as usize] as char
            }
        })
        .collect()
}

fn issue_token(state: &State, scope: &str) -> String {
    use base64::Engine as _;
    let claims = serde_json::json!({"aud": scope.trim_end_matches("/.default"), "tid": TENANT, "roles": [], "n": next_random(state) % 1_000_000});
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let token = format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{payload}.{}", random_token_text(state, 64));
    state.tokens.lock().unwrap().push(token.clone());
    token
}

/// The token answer Entra gives, with a fresh token.
pub fn token_answer(token: &str) -> String {
    serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})
        .to_string()
}

/// The ARM resource id prefix of the workspace's Sentinel resources.
pub fn workspace_id_path() -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.OperationalInsights/workspaces/{WORKSPACE}/providers/Microsoft.SecurityInsights"
    )
}

/// An incident as ARM sends it; `n` (1..) picks its number and times.
pub fn incident(name: &str, n: u32, title: &str) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{}/incidents/{name}", workspace_id_path()),
        "name": name,
        "type": "Microsoft.SecurityInsights/incidents",
        "etag": format!("\"0300bf09-0000-0000-0000-5c37296e000{n}\""),
        "properties": {
            "title": title,
            "description": "A demo incident",
            "severity": "High",
            "status": "New",
            "incidentNumber": 3176 + n,
            "createdTimeUtc": format!("2026-01-01T00:00:0{n}Z"),
            "lastModifiedTimeUtc": format!("2026-01-01T00:00:0{n}Z"),
            "firstActivityTimeUtc": "2025-12-31T23:59:00Z",
            "lastActivityTimeUtc": "2026-01-01T00:00:00Z",
            "labels": [{"labelName": "hostile", "labelType": "User"}],
            "owner": {"objectId": null, "email": null, "userPrincipalName": null, "assignedTo": null},
            "providerName": "Azure Sentinel",
            "providerIncidentId": (3176 + n).to_string(),
            "relatedAnalyticRuleIds": [],
            "additionalData": {"alertsCount": 1, "bookmarksCount": 0, "commentsCount": 0, "alertProductNames": ["Azure Sentinel"], "tactics": ["Persistence"]}
        }
    })
}

/// The normal incidents, in list order.
pub fn incidents() -> Vec<serde_json::Value> {
    INCIDENT_NAMES.iter().zip(1..).map(|(name, n)| incident(name, n, &format!("Incident {n}"))).collect()
}

/// A list page of these incidents, with a `nextLink` when given.
pub fn incident_page(incidents: &[serde_json::Value], next_link: Option<&str>) -> String {
    let mut page = serde_json::json!({"value": incidents});
    if let Some(link) = next_link {
        page["nextLink"] = serde_json::Value::String(link.to_owned());
    }
    page.to_string()
}

pub fn alerts_answer(incident: &str) -> String {
    serde_json::json!({"value": [{
        "id": format!("{}/entities/alert-of-{incident}", workspace_id_path()),
        "name": format!("alert-of-{incident}"),
        "kind": "SecurityAlert",
        "properties": {"alertDisplayName": "Suspicious sign-in", "severity": "High", "status": "New", "productName": "Azure Sentinel", "friendlyName": "Suspicious sign-in"}
    }]})
    .to_string()
}

pub fn entities_answer(incident: &str) -> String {
    serde_json::json!({"entities": [{
        "id": format!("{}/entities/account-of-{incident}", workspace_id_path()),
        "name": format!("account-of-{incident}"),
        "kind": "Account",
        "properties": {"accountName": "alice", "upnSuffix": "contoso.com", "friendlyName": "alice"}
    }], "metaData": [{"count": 1, "entityKind": "Account"}]})
    .to_string()
}

pub fn query_answer() -> String {
    serde_json::json!({"tables": [{
        "name": "PrimaryResult",
        "columns": [{"name": "TimeGenerated", "type": "datetime"}, {"name": "Computer", "type": "string"}, {"name": "Count", "type": "long"}],
        "rows": [["2026-01-01T00:00:00Z", "web-01", 3], ["2026-01-01T00:01:00Z", "web-02", 5]]
    }]})
    .to_string()
}

pub fn graph_incidents_answer() -> String {
    serde_json::json!({"value": [{
        "id": "2972395",
        "tenantId": TENANT,
        "displayName": "Multi-stage incident",
        "status": "active",
        "severity": "high",
        "classification": "unknown",
        "determination": "unknown",
        "createdDateTime": "2026-01-01T00:00:00Z",
        "lastUpdateDateTime": "2026-01-01T00:00:00Z",
        "incidentWebUrl": "https://security.microsoft.com/incidents/2972395",
        "customTags": [],
        "systemTags": [],
        "comments": []
    }]})
    .to_string()
}

/// The normal mode: what a healthy cloud answers.
fn normal(request: &Recorded, state: &State) -> Reply {
    if request.is_token() {
        let token = issue_token(state, &request.token_scope().unwrap_or_default());
        return Reply::json(200, token_answer(&token));
    }
    if request.is_incident_list() {
        return Reply::json(200, incident_page(&incidents(), None));
    }
    if let Some(name) = request.incident_name() {
        return match incidents().into_iter().find(|i| i["name"] == name) {
            Some(incident) => Reply::json(200, incident.to_string()),
            None => Reply::error(404, "NotFound", "The incident was not found"),
        };
    }
    if request.method == "POST" && request.is_arm() {
        let path = request.path();
        if let Some((_, rest)) = path.split_once("/incidents/") {
            if let Some(name) = rest.strip_suffix("/alerts") {
                return Reply::json(200, alerts_answer(name));
            }
            if let Some(name) = rest.strip_suffix("/entities") {
                return Reply::json(200, entities_answer(name));
            }
        }
    }
    if request.is_query() {
        return Reply::json(200, query_answer());
    }
    if request.is_graph_incident_list() {
        return Reply::json(200, graph_incidents_answer());
    }
    Reply::error(404, "NotFound", "nothing here")
}
