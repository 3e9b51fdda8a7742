//! The operator's egress policy, and the host's own outgoing connector that
//! enforces it where it matters: at connect time.
//!
//! A tenant's configuration names endpoints; it never decides which of them
//! may be reached. The policy says which clouds a tenant may name, which
//! extra origins the operator allows, and whether addresses in loopback and
//! private ranges may be connected to. Link-local addresses (cloud metadata
//! services such as 169.254.169.254) and non-routable ones never are.
//!
//! The connector resolves a host name once, checks every address it resolved
//! to, and connects to an address it checked, so a name that resolves to a
//! public address when checked and to a private one a moment later (DNS
//! rebinding) gains nothing. It is built on hyper and rustls like
//! wasmtime-wasi-http's `default_send_request`, which resolves and connects
//! by itself and so cannot be checked; proxies and private CAs plug in here
//! (the TLS configuration and the resolver are its fields).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use sentinel_connector::core::config::Cloud;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::sandbox::Origin;

/// The Microsoft clouds a tenant may name without any custom URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KnownCloud {
    /// Azure's global cloud (`management.azure.com`).
    Public,
    /// Azure Government (`management.usgovcloudapi.net`).
    UsGovernment,
    /// Azure China, operated by 21Vianet (`management.chinacloudapi.cn`).
    China,
}

/// Which private addresses a connection may reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrivateNetwork {
    /// Only public addresses: the default.
    #[default]
    Refuse,
    /// Loopback (127.0.0.0/8, ::1) too: for tests and a local emulator.
    LoopbackOnly,
    /// Loopback and private ranges (RFC 1918, unique-local, shared CGNAT).
    Allow,
}

/// Set by the operator, never by a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Clouds a tenant may name. Default: the three Microsoft clouds.
    pub clouds: Vec<KnownCloud>,
    /// Whether a tenant may name a custom cloud (its own URLs). Default: no.
    pub custom_clouds: bool,
    /// Origins allowed beyond the clouds': a custom cloud whose every
    /// endpoint is listed here is allowed even when custom clouds are not.
    pub extra_origins: Vec<Origin>,
    /// Whether resolved addresses in private ranges may be connected to.
    pub private_network: PrivateNetwork,
}

impl Default for EgressPolicy {
    /// The strict policy for multi-tenant embedding: public clouds only.
    fn default() -> Self {
        EgressPolicy {
            clouds: vec![KnownCloud::Public, KnownCloud::UsGovernment, KnownCloud::China],
            custom_clouds: false,
            extra_origins: Vec::new(),
            private_network: PrivateNetwork::Refuse,
        }
    }
}

/// Why the policy refused a connection's configuration or an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl EgressPolicy {
    /// The policy of a single-operator CLI: custom clouds allowed, private
    /// and loopback targets only when asked for.
    pub fn operator(private_network: PrivateNetwork) -> Self {
        EgressPolicy { custom_clouds: true, private_network, ..EgressPolicy::default() }
    }

    /// Whether a tenant may open a connection to this cloud.
    pub fn check_cloud(&self, cloud: &Cloud, endpoints: &[Origin]) -> Result<(), Refusal> {
        let known = match cloud {
            Cloud::Public => KnownCloud::Public,
            Cloud::UsGovernment => KnownCloud::UsGovernment,
            Cloud::China => KnownCloud::China,
            Cloud::Custom(_)
                if self.custom_clouds || endpoints.iter().all(|origin| self.extra_origins.contains(origin)) =>
            {
                return Ok(())
            }
            Cloud::Custom(_) => return Err(Refusal(
                "this host's policy does not allow custom clouds; the operator can allow them, or list their origins"
                    .into(),
            )),
        };
        if self.clouds.contains(&known) {
            Ok(())
        } else {
            Err(Refusal(format!("this host's policy does not allow the {known:?} cloud")))
        }
    }

    /// Whether an address may be connected to, and if not, which range it is in.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Refusal> {
        let allowed = match classify(ip) {
            Range::Public => true,
            Range::Loopback => self.private_network != PrivateNetwork::Refuse,
            Range::Private => self.private_network == PrivateNetwork::Allow,
            Range::LinkLocal | Range::NonRoutable => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Refusal(format!("{ip} is a {} address, which this host's policy does not allow", classify(ip).name())))
        }
    }
}

/// The ranges the policy tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// Anything not below: always allowed.
    Public,
    /// 127.0.0.0/8 and ::1: allowed unless [`PrivateNetwork::Refuse`].
    Loopback,
    /// RFC 1918, unique-local (fc00::/7) and shared address space (100.64.0.0/10).
    Private,
    /// 169.254.0.0/16 and fe80::/10: cloud metadata services live here.
    LinkLocal,
    /// Unspecified, broadcast, multicast, documentation, benchmarking and reserved.
    NonRoutable,
}

impl Range {
    fn name(self) -> &'static str {
        match self {
            Range::Public => "public",
            Range::Loopback => "loopback",
            Range::Private => "private",
            Range::LinkLocal => "link-local (cloud metadata)",
            Range::NonRoutable => "non-routable",
        }
    }
}

/// The range `ip` is in. IPv4-mapped (`::ffff:a.b.c.d`) and NAT64
/// (`64:ff9b::/96`) addresses are judged by the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> Range {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Range {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Range::Loopback
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Range::Private
    } else if ip.is_link_local() {
        Range::LinkLocal
    } else if a == 0
        || ip.is_broadcast()
        || ip.is_multicast()
        || a >= 240
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && c == 0)
    {
        Range::NonRoutable
    } else {
        Range::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Range {
    // An IPv4 address in IPv6 clothing is judged as what it is.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [_, _, _, _, _, _, hi, lo] = segments;
        return classify_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    if ip.is_loopback() {
        Range::Loopback
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Range::Private
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Range::LinkLocal
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || segments[0] == 0x2001 && segments[1] == 0x0db8
        || segments[..6] == [0; 6]
    {
        Range::NonRoutable
    } else {
        Range::Public
    }
}

/// Turns a host name into addresses. The system resolver by default; tests
/// and hosts with their own DNS give another.
pub trait Resolve: Send + Sync {
    /// Every address `host` resolves to, with `port`. Each is checked
    /// against the policy; an empty list is refused as not found.
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'static>>;
}

/// The operating system's resolver (getaddrinfo), off the async workers.
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send + 'static>> {
        let target = format!("{host}:{port}");
        Box::pin(async move { Ok(tokio::net::lookup_host(target).await?.collect()) })
    }
}

/// A test's promise that no connection leaves the machine: once set, the
/// connector aborts the process rather than connect to any address outside
/// 127.0.0.0/8 and ::1, so a regression in the policy fails the test run
/// instead of sending traffic. Also set by `SENTINEL_TEST_LOOPBACK_ONLY=1`.
pub fn guard_loopback_only() {
    LOOPBACK_ONLY.store(true, Ordering::SeqCst);
}

static LOOPBACK_ONLY: AtomicBool = AtomicBool::new(false);

/// [`guard_loopback_only`]'s check, for the host's own connections outside
/// the connector (the managed identity endpoint).
pub(crate) fn check_loopback_guard(address: SocketAddr) {
    loopback_guard(address);
}

fn loopback_guard(address: SocketAddr) {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    let on = LOOPBACK_ONLY.load(Ordering::SeqCst)
        || *FROM_ENV.get_or_init(|| std::env::var_os("SENTINEL_TEST_LOOPBACK_ONLY").is_some_and(|v| v == "1"));
    if on && !address.ip().is_loopback() {
        eprintln!("loopback guard: refusing to connect to {address}: tests may only talk to 127.0.0.0/8");
        std::process::abort();
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// The outgoing connector of every tenant's store.
pub struct OutboundConnector {
    /// The operator's policy every resolved address is checked against.
    pub policy: Arc<EgressPolicy>,
    /// How host names become addresses ([`SystemResolver`] by default). Not
    /// used through a proxy: the proxy resolves the name, and the private
    /// address check is then the proxy's to make.
    pub resolver: Arc<dyn Resolve>,
    /// The TLS trust for every https connection: [`default_tls`]'s public
    /// roots, plus the operator's CAs when given.
    pub tls: Arc<rustls::ClientConfig>,
    /// The operator's outgoing proxies (none: every connection is direct).
    pub proxies: super::proxy::ProxySettings,
    /// Why the last certificates were refused, by `host:port` (the guest's
    /// `TLS-certificate-error` carries no detail; the audit log shows this).
    pub tls_refusals: TlsRefusals,
}

/// The most recent certificate refusals, a few dozen at most.
#[derive(Default)]
pub struct TlsRefusals(std::sync::Mutex<std::collections::VecDeque<(String, String)>>);

impl TlsRefusals {
    const KEPT: usize = 64;

    fn record(&self, authority: String, detail: String) {
        if let Ok(mut kept) = self.0.lock() {
            kept.retain(|(a, _)| a != &authority);
            if kept.len() >= Self::KEPT {
                kept.pop_front();
            }
            kept.push_back((authority, detail));
        }
    }

    /// Why `authority`'s certificate was last refused.
    pub fn of(&self, authority: &str) -> Option<String> {
        self.0.lock().ok()?.iter().rev().find(|(a, _)| a == authority).map(|(_, d)| d.clone())
    }
}

impl OutboundConnector {
    /// Under `policy`, trusting the public roots only, with the system
    /// resolver and no proxy.
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self::trusting(policy, default_tls())
    }

    /// With the operator's TLS trust (see [`tls_with_extra_roots`]).
    pub fn trusting(policy: Arc<EgressPolicy>, tls: rustls::ClientConfig) -> Self {
        OutboundConnector {
            policy,
            resolver: Arc::new(SystemResolver),
            tls: Arc::new(tls),
            proxies: super::proxy::ProxySettings::default(),
            tls_refusals: TlsRefusals::default(),
        }
    }

    /// Sends one request of the guest's, checked at every step.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: RequestOptions,
    ) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
        let target = Target::of(request.uri())?;
        let connect_timeout = options.connect_timeout.unwrap_or(Duration::from_secs(30));
        let stream = match self.proxies.for_target(&target.host, target.tls) {
            // The name was checked against the allow-list; the proxy resolves it.
            Some(proxy) => tokio::time::timeout(connect_timeout, proxy.tunnel(&target.host, target.port))
                .await
                .map_err(|_| HttpError::ConnectionTimeout)??,
            None => {
                let addresses = tokio::time::timeout(connect_timeout, self.checked_addresses(&target))
                    .await
                    .map_err(|_| HttpError::DnsTimeout)??;
                tokio::time::timeout(connect_timeout, connect(&addresses))
                    .await
                    .map_err(|_| HttpError::ConnectionTimeout)??
            }
        };
        let io: Box<dyn Stream> = if target.tls {
            let name = server_name(&target.host)?;
            let tls = tokio_rustls::TlsConnector::from(self.tls.clone());
            Box::new(
                tokio::time::timeout(connect_timeout, tls.connect(name, stream))
                    .await
                    .map_err(|_| HttpError::ConnectionTimeout)?
                    .map_err(|error| self.tls_error(&target, error))?,
            )
        } else {
            Box::new(stream)
        };
        exchange(io, request, options, connect_timeout).await
    }

    /// A refused certificate is `TLS-certificate-error` to the guest (an
    /// untrusted issuer, an expired certificate, another name), not a
    /// protocol error, and why is kept for the audit log.
    fn tls_error(&self, target: &Target, error: std::io::Error) -> HttpError {
        let refused = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()).and_then(|e| match e {
            rustls::Error::InvalidCertificate(why) => Some(certificate_refusal(why)),
            _ => None,
        });
        match refused {
            Some(detail) => {
                self.tls_refusals.record(format!("{}:{}", target.host, target.port), detail);
                HttpError::TlsCertificateError
            }
            None => HttpError::Tls(error),
        }
    }

    /// Resolves once and checks every address; any refused address refuses
    /// the request (a name that points anywhere private is not trusted).
    async fn checked_addresses(&self, target: &Target) -> Result<Vec<SocketAddr>, HttpError> {
        let addresses = match target.host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, target.port)],
            Err(_) => self
                .resolver
                .resolve(&target.host, target.port)
                .await
                .map_err(|_| HttpError::DnsError { rcode: None, info_code: None })?,
        };
        if addresses.is_empty() {
            return Err(HttpError::DestinationNotFound);
        }
        for address in &addresses {
            if self.policy.check_address(address.ip()).is_err() {
                return Err(HttpError::DestinationIpProhibited);
            }
        }
        Ok(addresses)
    }
}

/// The rustls configuration of `default_send_request`: Mozilla's roots.
pub fn default_tls() -> rustls::ClientConfig {
    tls_trusting(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() })
}

/// The public roots plus an operator's private CAs (PEM): what an
/// inspecting proxy or an internal endpoint is signed by. Refused, naming
/// the problem, when the PEM holds no certificate or one that is unusable.
pub fn tls_with_extra_roots(ca_pem: &str) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    let mut added = 0;
    for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let certificate = certificate.map_err(|e| format!("the CA file is not PEM certificates ({e})"))?;
        roots.add(certificate).map_err(|e| format!("a CA certificate cannot be trusted ({e})"))?;
        added += 1;
    }
    if added == 0 {
        return Err("the CA file holds no -----BEGIN CERTIFICATE----- block".into());
    }
    Ok(tls_trusting(roots))
}

fn tls_trusting(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .unwrap_or_else(|_| unreachable_tls_config())
}

/// ring's default provider supports the default protocol versions; this
/// only keeps the function total.
fn unreachable_tls_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder().with_root_certificates(rustls::RootCertStore::empty()).with_no_client_auth()
}

/// Where a request goes: host, port, and whether over TLS.
struct Target {
    host: String,
    port: u16,
    tls: bool,
}

impl Target {
    fn of(uri: &http::Uri) -> Result<Target, HttpError> {
        let tls = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => true,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => false,
            _ => return Err(HttpError::HttpRequestUriInvalid),
        };
        let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
        // user:password@host would send credentials, and hides the real host from a reader.
        if authority.as_str().contains('@') {
            return Err(HttpError::HttpRequestDenied);
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Target { host: authority.host().to_owned(), port, tls })
    }
}

/// What an operator fixes, in words: untrusted, expired, another name.
fn certificate_refusal(why: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match why {
        E::UnknownIssuer => "issued by a CA this host does not trust (add it with --ca-file)".into(),
        E::Expired | E::ExpiredContext { .. } => "expired".into(),
        E::NotValidYet | E::NotValidYetContext { .. } => "not valid yet".into(),
        E::NotValidForName | E::NotValidForNameContext { .. } => "issued for another name".into(),
        E::Revoked => "revoked".into(),
        other => format!("refused ({other:?})"),
    }
}

fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, HttpError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(rustls::pki_types::ServerName::from(ip));
    }
    rustls::pki_types::ServerName::try_from(bare.to_owned()).map_err(|_| HttpError::HttpRequestUriInvalid)
}

/// The first address that accepts, in the resolver's order.
async fn connect(addresses: &[SocketAddr]) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for address in addresses {
        loopback_guard(*address);
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Some(error),
        }
    }
    Err(match last {
        Some(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => HttpError::ConnectionRefused,
        Some(error) => HttpError::Connect(error),
        None => HttpError::DestinationNotFound,
    })
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

/// HTTP/1.1 over the connected stream, with the request's first-byte and
/// between-bytes timeouts, as `default_send_request` does it.
async fn exchange(
    io: Box<dyn Stream>,
    mut request: http::Request<WasiBody>,
    options: RequestOptions,
    handshake_timeout: Duration,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let (mut sender, connection) =
        tokio::time::timeout(handshake_timeout, hyper::client::conn::http1::handshake(TokioIo::new(io)))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)??;
    // The request line carries only the path: scheme and authority are for proxies.
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    *request.uri_mut() =
        http::Uri::builder().path_and_query(path).build().map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let driver = tokio::spawn(connection);
    let first_byte = options.first_byte_timeout.unwrap_or(Duration::from_secs(60));
    let response = match tokio::time::timeout(first_byte, sender.send_request(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            driver.abort();
            return Err(error.into());
        }
        Err(_) => {
            driver.abort();
            return Err(HttpError::ConnectionReadTimeout);
        }
    };
    let between_bytes = options.between_bytes_timeout.unwrap_or(Duration::from_secs(30)).max(Duration::from_millis(1));
    let response = response.map(|incoming| TimedBody::new(incoming, between_bytes).boxed_unsync());
    let io: IoFuture = Box::new(async move {
        match driver.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(HttpError::from(error)),
            Err(_) => Err(HttpError::ConnectionTerminated),
        }
    });
    Ok((response, io))
}

/// An answer body that fails when no frame arrives within `between_bytes`.
struct TimedBody {
    incoming: hyper::body::Incoming,
    between_bytes: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl TimedBody {
    fn new(incoming: hyper::body::Incoming, between_bytes: Duration) -> Self {
        TimedBody { incoming, between_bytes, timer: Box::pin(tokio::time::sleep(between_bytes)) }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        use std::task::Poll;
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.between_bytes;
                self.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                Poll::Ready(Some(Err(if error.is_timeout() { HttpError::HttpResponseTimeout } else { error.into() })))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_are_told_apart_in_every_spelling() {
        for (address, range) in [
            ("127.0.0.1", Range::Loopback),
            ("127.255.0.9", Range::Loopback),
            ("::1", Range::Loopback),
            ("::ffff:127.0.0.1", Range::Loopback),
            ("10.1.2.3", Range::Private),
            ("172.16.0.1", Range::Private),
            ("192.168.1.1", Range::Private),
            ("100.64.0.1", Range::Private),
            ("fd00:ec2::254", Range::Private),
            ("169.254.169.254", Range::LinkLocal),
            ("::ffff:169.254.169.254", Range::LinkLocal),
            ("64:ff9b::a9fe:a9fe", Range::LinkLocal),
            ("fe80::1", Range::LinkLocal),
            ("0.0.0.0", Range::NonRoutable),
            ("::", Range::NonRoutable),
            ("255.255.255.255", Range::NonRoutable),
            ("224.0.0.1", Range::NonRoutable),
            ("::127.0.0.1", Range::NonRoutable),
            ("20.190.151.68", Range::Public),
            ("2603:1030::1", Range::Public),
        ] {
            assert_eq!(classify(ip(address)), range, "{address}");
        }
    }

    #[test]
    fn the_default_allows_only_public_addresses_and_clouds() {
        let strict = EgressPolicy::default();
        assert!(strict.check_address(ip("20.190.151.68")).is_ok());
        for refused in ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"] {
            assert!(strict.check_address(ip(refused)).is_err(), "{refused}");
        }
        let loopback = EgressPolicy::operator(PrivateNetwork::LoopbackOnly);
        assert!(loopback.check_address(ip("127.0.0.1")).is_ok());
        assert!(loopback.check_address(ip("10.0.0.1")).is_err());
        let private = EgressPolicy::operator(PrivateNetwork::Allow);
        assert!(private.check_address(ip("10.0.0.1")).is_ok());
        assert!(private.check_address(ip("169.254.169.254")).is_err(), "metadata is never allowed");
    }

    #[test]
    fn authorities_with_userinfo_are_refused() {
        let uri: http::Uri = "http://user:pw@127.0.0.1:80/x".parse().unwrap();
        assert!(matches!(Target::of(&uri), Err(HttpError::HttpRequestDenied)));
    }
}
