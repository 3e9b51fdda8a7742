//! Plain hyper against the emulator, with none of the connector: what a
//! curl-like client costs (`sentinel bench --fetch-pages`, a child process
//! of the bench), how fast the emulator alone serves a page, and the
//! lockstep "waves" the detail fan-out is compared with.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::emulator::{
    ARM_SCOPE, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_TENANT_ID, DEFAULT_WORKSPACE_NAME,
};

/// The api-version the connector sends.
const API_VERSION: &str = "2025-09-01";

/// One kept-alive HTTP/1.1 connection to the emulator.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Connection, String> {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Connection { sender, authority: addr.to_string() })
    }

    /// One request; the answer's status and whole body.
    pub async fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, Bytes), String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let mut request = hyper::Request::builder().method(method).uri(target).header("host", &self.authority);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let answer = self.sender.send_request(request).await.map_err(|e| e.to_string())?;
        let status = answer.status().as_u16();
        let body = answer.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, body))
    }

    /// An ARM token from the emulator's client-credentials grant.
    pub async fn token(&mut self) -> Result<String, String> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", DEFAULT_CLIENT_ID)
            .append_pair("client_secret", DEFAULT_CLIENT_SECRET)
            .append_pair("scope", ARM_SCOPE)
            .finish();
        let target = format!("/{DEFAULT_TENANT_ID}/oauth2/v2.0/token");
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        let (status, body) = self.send("POST", &target, &headers, Bytes::from(form)).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|e| format!("token answer: {e}"))?;
        match answer["access_token"].as_str() {
            Some(token) if status == 200 => Ok(format!("Bearer {token}")),
            _ => Err(format!("the token request answered {status}")),
        }
    }

    /// A GET with the token; an answer other than 200 is an error.
    pub async fn get(&mut self, target: &str, authorization: &str) -> Result<Bytes, String> {
        let headers = [("authorization", authorization), ("accept", "application/json")];
        match self.send("GET", target, &headers, Bytes::new()).await? {
            (200, body) => Ok(body),
            (status, _) => Err(format!("GET answered {status}")),
        }
    }
}

/// The workspace's incidents collection.
pub fn incidents_path() -> String {
    format!(
        "/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/{DEFAULT_RESOURCE_GROUP}/providers/\
         Microsoft.OperationalInsights/workspaces/{DEFAULT_WORKSPACE_NAME}/providers/Microsoft.SecurityInsights/incidents"
    )
}

/// The first page of `top` incidents.
pub fn first_page(top: usize) -> String {
    format!("{}?api-version={API_VERSION}&$top={top}", incidents_path())
}

/// The page's `nextLink` as a path and query, found without parsing the
/// page: what a shell script with curl and a grep would do.
pub fn next_link(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"nextLink\":";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let mut rest = serde_json::Deserializer::from_slice(&body[at..]).into_iter::<String>();
    let link = url::Url::parse(&rest.next()?.ok()?).ok()?;
    Some(match link.query() {
        Some(query) => format!("{}?{query}", link.path()),
        None => link.path().to_owned(),
    })
}

/// What a walk over every page read.
pub struct Walk {
    pub pages: usize,
    pub bytes: usize,
    /// How long each page took, request to last byte.
    pub times: Vec<Duration>,
}

/// Every page, one after another on one connection, following `nextLink`.
pub async fn walk(connection: &mut Connection, authorization: &str, top: usize) -> Result<Walk, String> {
    let mut walk = Walk { pages: 0, bytes: 0, times: Vec::new() };
    let mut target = Some(first_page(top));
    while let Some(page) = target.take() {
        let started = Instant::now();
        let body = connection.get(&page, authorization).await?;
        walk.times.push(started.elapsed());
        walk.pages += 1;
        walk.bytes += body.len();
        target = next_link(&body);
    }
    Ok(walk)
}

/// The child process `sentinel bench --fetch-pages URL` runs: connect, one
/// token, every page; prints what it read as one JSON line.
pub async fn fetch_pages_child(url: &str, top: usize) -> Result<String, String> {
    let addr = loopback_addr(url)?;
    let mut connection = Connection::open(addr).await?;
    let authorization = connection.token().await?;
    let walk = walk(&mut connection, &authorization, top).await?;
    Ok(format!("{{\"pages\":{},\"bytes\":{}}}", walk.pages, walk.bytes))
}

/// The emulator's address; only loopback is ever benchmarked.
pub fn loopback_addr(url: &str) -> Result<SocketAddr, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let host: std::net::IpAddr = parsed.host_str().unwrap_or_default().parse().map_err(|_| "not an IP address")?;
    if !host.is_loopback() {
        return Err(format!("{url} is not a loopback address: the benchmark talks only to 127.0.0.1"));
    }
    Ok(SocketAddr::new(host, parsed.port().ok_or("the URL has no port")?))
}

/// Pages served a second by the emulator alone: walks every page on one
/// kept-alive connection until `budget` has passed (at least one walk).
pub async fn page_rate(addr: SocketAddr, top: usize, budget: Duration) -> Result<Walk, String> {
    let mut connection = Connection::open(addr).await?;
    let authorization = connection.token().await?;
    let mut total = Walk { pages: 0, bytes: 0, times: Vec::new() };
    let started = Instant::now();
    while total.pages == 0 || started.elapsed() < budget {
        let walk = walk(&mut connection, &authorization, top).await?;
        total.pages += walk.pages;
        total.bytes += walk.bytes;
        total.times.extend(walk.times);
    }
    Ok(total)
}

/// The same requests `poll --details` makes, in lockstep waves of `width`
/// (each group waits for its slowest answer before the next is sent), each
/// request on its own connection as the component's are: the first page of
/// incidents, then each one's alerts and entities.
pub async fn detail_waves(addr: SocketAddr, width: usize) -> Result<Duration, String> {
    let mut connection = Connection::open(addr).await?;
    let authorization = connection.token().await?;
    let started = Instant::now();
    let page = connection.get(&first_page(1000), &authorization).await?;
    let list: serde_json::Value = serde_json::from_slice(&page).map_err(|e| e.to_string())?;
    let names: Vec<String> = list["value"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let targets: Vec<String> = names
        .iter()
        .flat_map(|name| {
            ["alerts", "entities"].map(|what| format!("{}/{name}/{what}?api-version={API_VERSION}", incidents_path()))
        })
        .collect();
    for wave in targets.chunks(width.max(1)) {
        let mut tasks = tokio::task::JoinSet::new();
        for target in wave {
            let (target, authorization) = (target.clone(), authorization.clone());
            tasks.spawn(async move {
                let mut connection = Connection::open(addr).await?;
                let headers = [("authorization", authorization.as_str()), ("accept", "application/json")];
                match connection.send("POST", &target, &headers, Bytes::new()).await? {
                    (200, _) => Ok(()),
                    (status, _) => Err(format!("POST {target} answered {status}")),
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| e.to_string())??;
        }
    }
    Ok(started.elapsed())
}
