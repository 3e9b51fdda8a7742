//! The outbound policy of one tenant's store: only the connection's own
//! endpoints, timeouts capped by the host, and an audit record per request.
//! Modelled on Spin's outbound-networking allow-list: the check runs before
//! any DNS lookup or connect.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::egress::OutboundConnector;

/// Scheme, lower-case host and port: what a request may go to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `https`, or `http` (the core accepts http only for loopback hosts).
    pub scheme: String,
    /// The host name or address, lower-cased; compared exactly, so a
    /// subdomain is another origin.
    pub host: String,
    /// The port, defaulted by scheme (443, 80) when the URL leaves it out.
    pub port: u16,
}

impl Origin {
    /// The origin of `url`, or `None` when it has no host or no known
    /// default port for its scheme.
    pub fn of_url(url: &Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    fn of_uri(uri: &http::Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let authority = uri.authority()?;
        Some(Origin {
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(default_port),
            scheme,
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// One outbound request as the audit log shows it. Only the method, host,
/// path, status, time and the request's ids: never another header, a query
/// or a body, so no token or secret can reach the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// The embedder's label for the session (the `tenant` given to
    /// `ConnectorHost::open`), not necessarily an Entra tenant id.
    pub tenant: String,
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The URL's authority: the host, with `:port` when the URL names one.
    pub host: String,
    /// The URL's path only: the query (which may carry a filter or a
    /// hunting query) is left out.
    pub path: String,
    /// Answered, refused by the host, or failed.
    pub outcome: AuditOutcome,
    /// From sending to the answer's headers (its body is not waited for);
    /// zero when the host refused the request.
    pub elapsed: Duration,
    /// The `x-ms-client-request-id` the component sent, when it looks like an id.
    pub client_request_id: Option<String>,
    /// The id the service gave its answer (`x-ms-request-id`, Graph's
    /// `request-id`), when it looks like one.
    pub request_id: Option<String>,
}

/// How an outbound request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditOutcome {
    /// The service answered with this HTTP status, whatever it was.
    Status(u16),
    /// The host refused it and sent nothing: an origin off the store's
    /// allow-list, or an address the operator's egress policy forbids.
    Denied,
    /// No answer: a DNS, connect, TLS, proxy, timeout or protocol failure, in words
    /// (a refused certificate says why, e.g. "issued by a CA this host does not trust").
    Failed(String),
}

impl fmt::Display for AuditRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match &self.outcome {
            AuditOutcome::Status(status) => status.to_string(),
            AuditOutcome::Denied => "denied".into(),
            AuditOutcome::Failed(reason) => format!("failed ({reason})"),
        };
        write!(f, "{} {} {} {} {}ms", self.method, self.host, self.path, outcome, self.elapsed.as_millis())?;
        if let Some(id) = &self.client_request_id {
            write!(f, " client-request-id={id}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " request-id={id}")?;
        }
        Ok(())
    }
}

/// Where a session's [`AuditRecord`]s go, one call per outbound request. It
/// is called on the runtime's async workers, so it should be quick and not block.
pub type AuditSink = Arc<dyn Fn(&AuditRecord) + Send + Sync>;

/// The `WasiHttpHooks` of one store.
pub struct SandboxHooks {
    /// The session's label, copied into each [`AuditRecord`].
    pub tenant: String,
    /// The only origins the guest may send to; anything else is refused
    /// before any DNS lookup or connect.
    pub allowed: Vec<Origin>,
    /// The host's cap on each of the guest's connect, first-byte and
    /// between-bytes timeouts, also used for any the guest leaves unset.
    pub max_timeout: Duration,
    /// Where audit records go; `None` records nothing.
    pub audit: Option<AuditSink>,
    /// Connects for this store under the operator's egress policy.
    pub connector: Arc<OutboundConnector>,
    /// The host's request budget, which each request waits for; `None`:
    /// requests go at once.
    pub budget: Option<Arc<super::budget::RequestBudget>>,
}

impl SandboxHooks {
    fn record(&self, request: &http::Request<WasiBody>, outcome: AuditOutcome, elapsed: Duration) {
        if let Some(audit) = &self.audit {
            audit(&audit_record(&self.tenant, request, outcome, elapsed));
        }
    }
}

/// `host:port`, the port defaulted by scheme, as the connector keys refusals.
fn target_authority(uri: &http::Uri) -> String {
    let host = uri.host().unwrap_or_default();
    let tls = uri.scheme_str().is_some_and(|s| s.eq_ignore_ascii_case("https"));
    format!("{host}:{}", uri.port_u16().unwrap_or(if tls { 443 } else { 80 }))
}

fn audit_record(
    tenant: &str,
    request: &http::Request<WasiBody>,
    outcome: AuditOutcome,
    elapsed: Duration,
) -> AuditRecord {
    AuditRecord {
        tenant: tenant.to_owned(),
        method: request.method().to_string(),
        // The authority without any `user:password@` a guest may have put in it.
        host: request.uri().authority().and_then(|a| a.as_str().rsplit('@').next()).unwrap_or_default().to_owned(),
        path: request.uri().path().to_owned(),
        outcome,
        elapsed,
        client_request_id: id_header(request.headers(), &["x-ms-client-request-id"]),
        request_id: None,
    }
}

/// The first of `names` that holds an id: at most 128 letters, digits,
/// dashes, dots or underscores. Anything else (a guest smuggling text into
/// the log, a hostile answer) is left out.
fn id_header(headers: &http::HeaderMap, names: &[&str]) -> Option<String> {
    let value = names.iter().find_map(|name| headers.get(*name))?.to_str().ok()?;
    let id_like = value.len() <= 128
        && !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    id_like.then(|| value.to_owned())
}

/// Every timeout is set, and none is longer than the host allows: wasmtime's
/// default would wait 600 s for any the guest leaves unset.
pub fn cap_timeouts(options: Option<RequestOptions>, max: Duration) -> RequestOptions {
    let cap = |value: Option<Duration>| Some(value.map_or(max, |v| v.min(max)));
    let options = options.unwrap_or_default();
    RequestOptions {
        connect_timeout: cap(options.connect_timeout),
        first_byte_timeout: cap(options.first_byte_timeout),
        between_bytes_timeout: cap(options.between_bytes_timeout),
    }
}

type ResponseFuture = Box<
    dyn std::future::Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for SandboxHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: Box<dyn std::future::Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        let allowed = Origin::of_uri(request.uri()).is_some_and(|origin| self.allowed.contains(&origin));
        if !allowed {
            self.record(&request, AuditOutcome::Denied, Duration::ZERO);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let options = cap_timeouts(options, self.max_timeout);
        let audit = self.audit.clone();
        let tenant = self.tenant.clone();
        let connector = self.connector.clone();
        let mut pending = http::Request::builder().method(request.method()).uri(request.uri());
        if let Some(id) = request.headers().get("x-ms-client-request-id") {
            pending = pending.header("x-ms-client-request-id", id);
        }
        let pending = pending.body(WasiBody::default());
        let budget = self.budget.clone();
        let path = request.uri().path().to_owned();
        Box::new(async move {
            if let Some(budget) = &budget {
                // Inside the call's deadline: a long wait ends as a timeout.
                let wait = budget.admit(&tenant, &path, Instant::now());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let started = Instant::now();
            let result = connector.send(request, options).await;
            if let (Some(budget), Ok((response, _))) = (&budget, &result) {
                budget.observe(&path, response.headers(), Instant::now());
            }
            if let (Some(audit), Ok(shown)) = (audit, pending) {
                let outcome = match &result {
                    Ok((response, _)) => AuditOutcome::Status(response.status().as_u16()),
                    Err(HttpError::DestinationIpProhibited | HttpError::HttpRequestDenied) => AuditOutcome::Denied,
                    Err(HttpError::TlsCertificateError) => {
                        let authority = target_authority(shown.uri());
                        let why = connector.tls_refusals.of(&authority).unwrap_or_else(|| "refused".into());
                        AuditOutcome::Failed(format!("TLS certificate {why}"))
                    }
                    Err(error) => AuditOutcome::Failed(error.to_string()),
                };
                let mut record = audit_record(&tenant, &shown, outcome, started.elapsed());
                if let Ok((response, _)) = &result {
                    record.request_id = id_header(response.headers(), &["x-ms-request-id", "request-id"]);
                }
                audit(&record);
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str) -> Option<Origin> {
        Origin::of_uri(&text.parse().unwrap())
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let allowed = Origin::of_url(&Url::parse("https://management.azure.com/").unwrap()).unwrap();
        assert_eq!(origin("https://MANAGEMENT.azure.com/x"), Some(allowed.clone()));
        assert_eq!(origin("https://management.azure.com:443/x"), Some(allowed.clone()));
        assert_ne!(origin("http://management.azure.com/x"), Some(allowed.clone()));
        assert_ne!(origin("https://management.azure.com:8443/x"), Some(allowed.clone()));
        assert_ne!(origin("https://management.azure.com.evil.example/x"), Some(allowed));
        assert_eq!(origin("ftp://x/"), None);
    }

    #[test]
    fn timeouts_are_capped_and_never_left_unset() {
        let max = Duration::from_secs(30);
        let capped = cap_timeouts(
            Some(RequestOptions {
                connect_timeout: Some(Duration::from_secs(5)),
                first_byte_timeout: Some(Duration::from_secs(600)),
                between_bytes_timeout: None,
            }),
            max,
        );
        assert_eq!(capped.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(capped.first_byte_timeout, Some(max));
        assert_eq!(capped.between_bytes_timeout, Some(max));
    }

    #[test]
    fn audit_lines_show_no_query() {
        let request = http::Request::builder()
            .method("GET")
            .uri("https://management.azure.com/subscriptions/x/incidents?api-version=1&$filter=secret")
            .header("authorization", "Bearer tok")
            .header("x-ms-client-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e")
            .body(WasiBody::default())
            .unwrap();
        let line = audit_record("t", &request, AuditOutcome::Status(200), Duration::from_millis(12)).to_string();
        assert_eq!(
            line,
            "GET management.azure.com /subscriptions/x/incidents 200 12ms \
             client-request-id=0f8fad5b-d9cb-469f-a165-70867728950e"
        );
    }

    #[test]
    fn audit_lines_show_no_credentials_of_a_url() {
        let request = http::Request::builder()
            .method("GET")
            .uri("https://svc:hunter2@management.azure.com:8443/x")
            .body(WasiBody::default())
            .unwrap();
        let record = audit_record("t", &request, AuditOutcome::Denied, Duration::ZERO);
        assert_eq!(record.host, "management.azure.com:8443");
        assert!(!record.to_string().contains("hunter2"), "{record}");
    }

    #[test]
    fn only_id_shaped_headers_reach_the_log() {
        let headers = |value: &str| {
            let mut map = http::HeaderMap::new();
            map.insert("x-ms-request-id", value.parse().unwrap());
            map
        };
        let id = |value: &str| id_header(&headers(value), &["x-ms-request-id"]);
        assert_eq!(id("5b0e8f2c-1c55-4a1e-9d0c-8c1e0e0f2a11").as_deref(), Some("5b0e8f2c-1c55-4a1e-9d0c-8c1e0e0f2a11"));
        assert_eq!(id("Bearer eyJ0eXAi.x y"), None);
        assert_eq!(id(&"a".repeat(129)), None);
    }
}
