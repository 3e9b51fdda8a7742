//! An outgoing proxy for the tenants' connectors, as curl and azure-identity
//! read it: `HTTPS_PROXY` for https destinations, `HTTP_PROXY` for http ones
//! (either case), `NO_PROXY` for the names that go direct, and
//! `user:password@` for Basic proxy authentication (never printed).
//! Every destination is tunnelled with `CONNECT host:port`, so TLS runs end
//! to end through it and the proxy sees only the name. The egress
//! allow-list is checked against that name before any of this; the proxy
//! itself is the operator's, allowed by being configured.

use std::net::SocketAddr;

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;
use wasmtime_wasi_http::Error as HttpError;

/// The longest CONNECT answer head read before giving up on the proxy.
const MAX_PROXY_HEAD: usize = 16 * 1024;

/// Where and how to reach the proxy.
#[derive(Clone)]
pub struct Proxy {
    host: String,
    port: u16,
    /// `Basic base64(user:password)`, when the URL carries them.
    authorization: Option<String>,
    /// For messages: `http://host:port`, never the credentials.
    shown: String,
}

/// Never the password.
impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({}{})", self.shown, if self.authorization.is_some() { ", with credentials" } else { "" })
    }
}

impl Proxy {
    /// `http://[user:password@]host[:port]`; the password is percent-decoded.
    pub fn parse(text: &str) -> Result<Proxy, String> {
        let url = Url::parse(text.trim())
            .or_else(|_| Url::parse(&format!("http://{}", text.trim())))
            .map_err(|_| "the proxy is not a URL (http://host:port)".to_owned())?;
        if url.scheme() != "http" {
            return Err(format!("the proxy's scheme is {}: only http:// proxies are spoken to", url.scheme()));
        }
        let host = url.host_str().ok_or("the proxy URL has no host")?.to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let authorization = (!url.username().is_empty()).then(|| {
            let decode = |part: &str| percent_encoding::percent_decode_str(part).decode_utf8_lossy().into_owned();
            let pair = format!("{}:{}", decode(url.username()), decode(url.password().unwrap_or_default()));
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
        });
        Ok(Proxy { shown: format!("http://{host}:{port}"), host, port, authorization })
    }

    /// A tunnel to `host:port` through the proxy: the TCP stream to the
    /// proxy after its `200` to `CONNECT`.
    pub async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, HttpError> {
        let address = self.address().await?;
        super::egress::check_loopback_guard(address);
        let mut stream = TcpStream::connect(address).await.map_err(|_| HttpError::ConnectionRefused)?;
        let authority = format!("{host}:{port}");
        let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(authorization) = &self.authorization {
            head.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.map_err(|_| HttpError::ConnectionTerminated)?;
        let status = read_status(&mut stream).await?;
        match status {
            200..=299 => Ok(stream),
            407 => Err(HttpError::InternalError(Some(format!(
                "the proxy {} asked for credentials (407 Proxy Authentication Required): put user:password@ in HTTPS_PROXY, and check them",
                self.shown
            )))),
            other => Err(HttpError::InternalError(Some(format!(
                "the proxy {} refused CONNECT to {authority} ({other})",
                self.shown
            )))),
        }
    }

    async fn address(&self) -> Result<SocketAddr, HttpError> {
        tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|_| HttpError::DnsError {
                rcode: Some(format!("the proxy {} does not resolve", self.shown)),
                info_code: None,
            })?
            .next()
            .ok_or(HttpError::DestinationNotFound)
    }
}

/// The status of the proxy's answer head, read up to its blank line and
/// not a byte further (the tunnel starts right after it).
async fn read_status(stream: &mut TcpStream) -> Result<u16, HttpError> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_HEAD {
            return Err(HttpError::HttpProtocolError);
        }
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return Err(HttpError::ConnectionTerminated),
        }
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let text = std::str::from_utf8(line).map_err(|_| HttpError::HttpProtocolError)?;
    text.split_whitespace().nth(1).and_then(|code| code.parse().ok()).ok_or(HttpError::HttpProtocolError)
}

/// The proxies of a host, and the names that bypass them.
#[derive(Clone, Debug, Default)]
pub struct ProxySettings {
    /// The proxy for https destinations (`HTTPS_PROXY`); `None` connects direct.
    pub https: Option<Proxy>,
    /// The proxy for http destinations (`HTTP_PROXY`). The core allows http
    /// only to loopback hosts, and those go through it unless `NO_PROXY` names them.
    pub http: Option<Proxy>,
    /// `NO_PROXY`'s entries: a name, `.suffix` or `suffix` for a domain and
    /// its subdomains, an address, or `*` for everything.
    pub no_proxy: Vec<String>,
}

impl ProxySettings {
    /// From `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (upper or lower case).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<ProxySettings, String> {
        let var = |name: &str| env(name).or_else(|| env(&name.to_ascii_lowercase())).filter(|v| !v.trim().is_empty());
        let proxy = |name: &str| var(name).map(|v| Proxy::parse(&v).map_err(|e| format!("{name}: {e}"))).transpose();
        Ok(ProxySettings {
            https: proxy("HTTPS_PROXY")?,
            http: proxy("HTTP_PROXY")?,
            no_proxy: var("NO_PROXY")
                .map(|list| list.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()).collect())
                .unwrap_or_default(),
        })
    }

    /// The proxy a destination goes through, if any. Loopback goes through
    /// it too unless NO_PROXY names it, as curl does.
    pub fn for_target(&self, host: &str, tls: bool) -> Option<&Proxy> {
        let proxy = if tls { self.https.as_ref() } else { self.http.as_ref() }?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let bypassed = self.no_proxy.iter().any(|entry| {
            let entry = entry.trim_start_matches('.');
            entry == "*" || host == entry || host.ends_with(&format!(".{entry}"))
        });
        (!bypassed).then_some(proxy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_read_as_curl_reads_them_and_never_show_their_password() {
        let env = |name: &str| match name {
            "https_proxy" => Some("http://svc:p%40ss-9f3a@proxy.corp:3128".to_owned()),
            "NO_PROXY" => Some("internal.corp, .lan,127.0.0.2".to_owned()),
            _ => None,
        };
        let settings = ProxySettings::from_env(&env).unwrap();
        let proxy = settings.for_target("management.azure.com", true).unwrap();
        assert_eq!(proxy.authorization.as_deref(), Some("Basic c3ZjOnBAc3MtOWYzYQ=="), "percent-decoded");
        assert!(!format!("{proxy:?}").contains("p@ss") && !format!("{proxy:?}").contains("c3Zj"), "{proxy:?}");
        assert!(settings.for_target("graph.microsoft.com", false).is_none(), "no HTTP_PROXY: http goes direct");
        for direct in ["internal.corp", "a.internal.corp", "box.lan", "127.0.0.2"] {
            assert!(settings.for_target(direct, true).is_none(), "{direct}");
        }
        assert!(settings.for_target("127.0.0.1", true).is_some(), "loopback is proxied unless NO_PROXY says so");
        assert!(Proxy::parse("socks5://x:1").is_err());
    }
}
