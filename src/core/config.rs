//! Connection configuration: what the host gives, and its validation into
//! [`Settings`], the only form the rest of the core accepts.

use url::{Host, Url};

use super::certificate::CertificateKey;
use super::error::Error;
pub use super::graph::containment::ProtectedAccounts;
use super::http::{Secret, Timeouts};
use super::retry::RetryPolicy;

pub const DEFAULT_API_VERSION: &str = "2025-09-01";
const MAX_TIMEOUT_MS: u32 = 600_000;

/// Public-cloud scopes; a custom cloud that leaves its scopes out emulates these.
pub const PUBLIC_ARM_SCOPE: &str = "https://management.azure.com/.default";
pub const PUBLIC_LOG_ANALYTICS_SCOPE: &str = "https://api.loganalytics.io/.default";
pub const PUBLIC_GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomCloud {
    pub login_url: String,
    pub arm_url: String,
    pub log_analytics_url: String,
    pub graph_url: String,
    pub arm_scope: Option<String>,
    pub log_analytics_scope: Option<String>,
    pub graph_scope: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cloud {
    Public,
    UsGovernment,
    China,
    Custom(CustomCloud),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    ClientSecret(Secret),
    /// A signed JWT the app presents instead of a secret (workload identity
    /// federation: a Kubernetes, GitHub or other OIDC issuer's token).
    ClientAssertion(Secret),
    /// The app's certificate (PEM) and its RSA private key (PEM, unencrypted):
    /// the component signs a client assertion with it for each token.
    Certificate {
        private_key: Secret,
        certificate: String,
    },
    AccessTokens {
        arm: Option<Secret>,
        log_analytics: Option<Secret>,
        graph: Option<Secret>,
    },
}

/// The configuration as the host gives it (the WIT `connection-config`).
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace_name: String,
    pub workspace_id: Option<String>,
    pub cloud: Cloud,
    pub api_version: Option<String>,
    pub timeouts: Option<Timeouts>,
    pub retry: Option<RetryPolicy>,
    /// Accounts containment actions refuse to touch.
    pub protected_accounts: ProtectedAccounts,
}

/// One API's base URL and token scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub base: Url,
    pub scope: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub login: Url,
    pub arm: Endpoint,
    pub log_analytics: Endpoint,
    pub graph: Endpoint,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub tenant_id: String,
    pub client_id: String,
    pub credential: Credential,
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace_name: String,
    pub workspace_id: Option<String>,
    pub endpoints: Endpoints,
    pub api_version: String,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    pub protected: ProtectedAccounts,
    /// With a certificate credential: its key, parsed once.
    pub certificate: Option<CertificateKey>,
}

impl Settings {
    /// Validates every field, naming the first bad one. Sends nothing. A
    /// secret pasted into the wrong field is never echoed: the fields a
    /// credential is mistaken for (tenant and client id) never quote their
    /// value, and every reason is redacted against the credential.
    pub fn from_config(config: ConnectionConfig) -> Result<Settings, Error> {
        let secrets: Vec<String> = credential_secrets(&config.credential).into_iter().map(str::to_owned).collect();
        Settings::validated(config)
            .map_err(|error| error.scrub(&secrets.iter().map(String::as_str).collect::<Vec<_>>()))
    }

    fn validated(config: ConnectionConfig) -> Result<Settings, Error> {
        validate_tenant(&config.tenant_id)?;
        validate_credential(&config.credential, &config.client_id)?;
        let certificate = match &config.credential {
            Credential::Certificate { private_key, certificate } => {
                Some(CertificateKey::from_pem(private_key.expose(), certificate)?)
            }
            _ => None,
        };
        validate_guid("subscription-id", &config.subscription_id)?;
        validate_resource_group(&config.resource_group)?;
        validate_workspace_name(&config.workspace_name)?;
        if let Some(id) = &config.workspace_id {
            validate_guid("workspace-id", id)?;
        }
        let api_version = config.api_version.unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        validate_api_version(&api_version)?;
        let timeouts = config.timeouts.unwrap_or_default();
        validate_timeouts(&timeouts)?;
        let retry = config.retry.unwrap_or_default();
        validate_retry(&retry)?;
        let protected = config.protected_accounts.normalized()?;
        Ok(Settings {
            endpoints: endpoints_for(&config.cloud)?,
            tenant_id: config.tenant_id,
            client_id: config.client_id,
            credential: config.credential,
            subscription_id: config.subscription_id,
            resource_group: config.resource_group,
            workspace_name: config.workspace_name,
            workspace_id: config.workspace_id,
            api_version,
            timeouts,
            retry,
            protected,
            certificate,
        })
    }

    /// The secrets this connection knows, to scrub from anything shown.
    pub fn secrets(&self) -> Vec<&str> {
        credential_secrets(&self.credential)
    }
}

fn credential_secrets(credential: &Credential) -> Vec<&str> {
    match credential {
        Credential::ClientSecret(secret) | Credential::ClientAssertion(secret) => vec![secret.expose()],
        Credential::Certificate { private_key, .. } => vec![private_key.expose()],
        Credential::AccessTokens { arm, log_analytics, graph } => {
            [arm, log_analytics, graph].into_iter().flatten().map(Secret::expose).collect()
        }
    }
}

/// The URLs and token scopes of a cloud (for a custom one, as configured).
pub fn endpoints_for(cloud: &Cloud) -> Result<Endpoints, Error> {
    let known = |login, arm, la, graph, arm_scope: &str, la_scope: &str, graph_scope: &str| CustomCloud {
        login_url: String::from(login),
        arm_url: String::from(arm),
        log_analytics_url: String::from(la),
        graph_url: String::from(graph),
        arm_scope: Some(arm_scope.into()),
        log_analytics_scope: Some(la_scope.into()),
        graph_scope: Some(graph_scope.into()),
    };
    let custom = match cloud {
        Cloud::Public => known(
            "https://login.microsoftonline.com",
            "https://management.azure.com",
            "https://api.loganalytics.azure.com",
            "https://graph.microsoft.com",
            PUBLIC_ARM_SCOPE,
            PUBLIC_LOG_ANALYTICS_SCOPE,
            PUBLIC_GRAPH_SCOPE,
        ),
        Cloud::UsGovernment => known(
            "https://login.microsoftonline.us",
            "https://management.usgovcloudapi.net",
            "https://api.loganalytics.us",
            "https://graph.microsoft.us",
            "https://management.usgovcloudapi.net/.default",
            "https://api.loganalytics.us/.default",
            "https://graph.microsoft.us/.default",
        ),
        Cloud::China => known(
            "https://login.chinacloudapi.cn",
            "https://management.chinacloudapi.cn",
            "https://api.loganalytics.azure.cn",
            "https://microsoftgraph.chinacloudapi.cn",
            "https://management.chinacloudapi.cn/.default",
            "https://api.loganalytics.azure.cn/.default",
            "https://microsoftgraph.chinacloudapi.cn/.default",
        ),
        Cloud::Custom(custom) => custom.clone(),
    };
    Ok(Endpoints {
        login: base_url("cloud.login-url", &custom.login_url)?,
        arm: endpoint("cloud.arm", &custom.arm_url, custom.arm_scope.as_deref(), PUBLIC_ARM_SCOPE)?,
        log_analytics: endpoint(
            "cloud.log-analytics",
            &custom.log_analytics_url,
            custom.log_analytics_scope.as_deref(),
            PUBLIC_LOG_ANALYTICS_SCOPE,
        )?,
        graph: endpoint("cloud.graph", &custom.graph_url, custom.graph_scope.as_deref(), PUBLIC_GRAPH_SCOPE)?,
    })
}

fn endpoint(field: &str, url: &str, scope: Option<&str>, default_scope: &str) -> Result<Endpoint, Error> {
    let base = base_url(&format!("{field}-url"), url)?;
    let scope = scope.unwrap_or(default_scope).to_owned();
    if scope.trim().is_empty() || scope.contains(char::is_whitespace) {
        return Err(Error::invalid(
            &format!("{field}-scope"),
            "must be one scope such as https://management.azure.com/.default",
        ));
    }
    Ok(Endpoint { base, scope })
}

/// An absolute https URL (http only on loopback), no credentials, query or
/// fragment. The path is kept without its trailing slash so paths append cleanly.
pub fn base_url(field: &str, text: &str) -> Result<Url, Error> {
    let url = Url::parse(text.trim()).map_err(|e| Error::invalid(field, format!("not a valid URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(Error::invalid(field, "http:// is accepted only for loopback hosts; use https://")),
        other => return Err(Error::invalid(field, format!("scheme {other}:// is not supported; use https://"))),
    }
    if url.host().is_none() {
        return Err(Error::invalid(field, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(field, "must not carry a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(field, "must not carry a query or fragment"));
    }
    let mut url = url;
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A compact JWT: three base64url parts. Its claims are Entra's to check;
/// this refuses what cannot be one (a file path, a secret pasted by
/// mistake) before any request, without echoing it.
fn validate_assertion(assertion: &str) -> Result<(), Error> {
    const FIELD: &str = "credential.client-assertion";
    let base64url =
        |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let parts: Vec<&str> = assertion.trim().split('.').collect();
    match parts.as_slice() {
        [header, claims, signature] if base64url(header) && base64url(claims) && base64url(signature) => Ok(()),
        _ => Err(Error::invalid(
            FIELD,
            "is not a signed JWT (three base64url parts separated by dots); pass the federated token's content, not its path",
        )),
    }
}

fn validate_credential(credential: &Credential, client_id: &str) -> Result<(), Error> {
    match credential {
        Credential::ClientSecret(secret) => {
            validate_guid("client-id", client_id)?;
            if secret.expose().trim().is_empty() {
                return Err(Error::invalid("credential.client-secret", "is empty"));
            }
            check_printable("credential.client-secret", secret.expose())
        }
        Credential::ClientAssertion(assertion) => {
            validate_guid("client-id", client_id)?;
            validate_assertion(assertion.expose())
        }
        // Parsed (and checked to match) by `Settings::validated`.
        Credential::Certificate { .. } => validate_guid("client-id", client_id),
        Credential::AccessTokens { arm, log_analytics, graph } => {
            let tokens = [("arm", arm), ("log-analytics", log_analytics), ("graph", graph)];
            if tokens.iter().all(|(_, token)| token.is_none()) {
                return Err(Error::invalid("credential.access-tokens", "gives no token; set at least one"));
            }
            for (name, token) in tokens {
                if let Some(token) = token {
                    let field = format!("credential.access-tokens.{name}");
                    if token.expose().trim().is_empty() {
                        return Err(Error::invalid(&field, "is empty"));
                    }
                    check_printable(&field, token.expose())?;
                }
            }
            Ok(())
        }
    }
}

/// Secrets go into a form body or a header; a control character there would
/// break the request, and the reason must not quote the secret.
fn check_printable(field: &str, value: &str) -> Result<(), Error> {
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains a control character (a stray newline?)"));
    }
    Ok(())
}

/// The value is not quoted back: a client id and secret swapped by mistake
/// would otherwise print the secret. The reason says what shape was expected.
pub fn validate_guid(field: &str, value: &str) -> Result<(), Error> {
    if is_guid(value) {
        return Ok(());
    }
    Err(Error::invalid(field, format!("is not a GUID like 00000000-0000-0000-0000-000000000000 (the value given has {} characters; it is not shown, in case it is a secret)", value.chars().count())))
}

fn is_guid(value: &str) -> bool {
    value.len() == 36 && value.as_bytes().get(8) == Some(&b'-') && uuid::Uuid::try_parse(value).is_ok()
}

fn validate_tenant(value: &str) -> Result<(), Error> {
    if is_guid(value) {
        return Ok(());
    }
    let is_domain = value.len() <= 253
        && value.contains('.')
        && value.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if is_domain {
        return Ok(());
    }
    Err(Error::invalid("tenant-id", "is neither a GUID nor a domain name like contoso.onmicrosoft.com (the value is not shown, in case it is a secret)"))
}

/// ARM: 1-90 characters of letters, digits, `-`, `_`, `.`, `(`, `)`, not ending in `.`.
fn validate_resource_group(value: &str) -> Result<(), Error> {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')');
    let length = value.chars().count();
    if (1..=90).contains(&length) && value.chars().all(allowed) && !value.ends_with('.') {
        return Ok(());
    }
    Err(Error::invalid(
        "resource-group",
        format!("'{}' must be 1 to 90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'", shown(value)),
    ))
}

/// The spec's pattern `^[A-Za-z0-9][A-Za-z0-9-]+[A-Za-z0-9]$`, at most 90 characters.
fn validate_workspace_name(value: &str) -> Result<(), Error> {
    let bytes = value.as_bytes();
    let edges_ok =
        bytes.first().is_some_and(u8::is_ascii_alphanumeric) && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    let body_ok = bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    if (3..=90).contains(&bytes.len()) && edges_ok && body_ok {
        return Ok(());
    }
    Err(Error::invalid(
        "workspace-name",
        format!("'{}' must be the workspace name: 3 to 90 letters, digits or '-', starting and ending with a letter or digit", shown(value)),
    ))
}

/// `YYYY-MM-DD` or `YYYY-MM-DD-preview`, checked by characters: the text is
/// anyone's, so it is never sliced at a byte index.
fn validate_api_version(value: &str) -> Result<(), Error> {
    let date = value.strip_suffix("-preview").unwrap_or(value);
    let date_ok = date.chars().count() == 10
        && date.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
    if date_ok {
        return Ok(());
    }
    Err(Error::invalid("api-version", format!("'{}' is not an api-version like 2025-09-01", shown(value))))
}

fn validate_timeouts(timeouts: &Timeouts) -> Result<(), Error> {
    let all = [
        ("timeouts.connect-ms", timeouts.connect_ms),
        ("timeouts.first-byte-ms", timeouts.first_byte_ms),
        ("timeouts.between-bytes-ms", timeouts.between_bytes_ms),
    ];
    for (field, value) in all {
        if value == 0 || value > MAX_TIMEOUT_MS {
            return Err(Error::invalid(field, format!("{value} ms is outside 1 to {MAX_TIMEOUT_MS} ms")));
        }
    }
    Ok(())
}

fn validate_retry(retry: &RetryPolicy) -> Result<(), Error> {
    if retry.max_retries > 20 {
        return Err(Error::invalid("retry.max-retries", "is more than 20"));
    }
    if retry.initial_delay_ms == 0 || retry.initial_delay_ms > retry.max_delay_ms {
        return Err(Error::invalid("retry.initial-delay-ms", "must be at least 1 and at most max-delay-ms"));
    }
    if retry.total_budget_ms > 3_600_000 {
        return Err(Error::invalid("retry.total-budget-ms", "is more than an hour"));
    }
    Ok(())
}

/// Free text a request will carry (a name, a label, a cell): not blank, no
/// control character, at most `max_chars` characters; else `invalid-input`
/// on `field`.
pub fn validate_text(field: &str, text: &str, max_chars: usize) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::invalid(field, format!("'{}' holds a control character", shown(text))));
    }
    if text.chars().count() > max_chars {
        return Err(Error::invalid(field, format!("is longer than {max_chars} characters")));
    }
    Ok(())
}

/// A bounded, control-free rendering of user input for error messages.
pub fn shown(value: &str) -> String {
    const MAX: usize = 80;
    let clean: String = value.chars().map(|c| if c.is_control() { '?' } else { c }).take(MAX).collect();
    if value.chars().count() > MAX {
        format!("{clean}...")
    } else {
        clean
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A configuration of a custom cloud on loopback, for other modules' tests.
    pub fn loopback_config(base: &str) -> ConnectionConfig {
        let url = String::from(base);
        let cloud = CustomCloud {
            login_url: url.clone(),
            arm_url: url.clone(),
            log_analytics_url: url.clone(),
            graph_url: url,
            arm_scope: None,
            log_analytics_scope: None,
            graph_scope: None,
        };
        ConnectionConfig { cloud: Cloud::Custom(cloud), ..sample_config() }
    }

    pub fn settings() -> Settings {
        Settings::from_config(loopback_config("http://127.0.0.1:7000")).unwrap()
    }

    pub fn sample_config() -> ConnectionConfig {
        ConnectionConfig {
            tenant_id: "8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d".into(),
            client_id: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b".into(),
            credential: Credential::ClientSecret(Secret::new("s3cret-value")),
            subscription_id: "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0".into(),
            resource_group: "myRg".into(),
            workspace_name: "myWorkspace".into(),
            workspace_id: None,
            cloud: Cloud::Public,
            api_version: None,
            timeouts: None,
            retry: None,
            protected_accounts: ProtectedAccounts::default(),
        }
    }

    fn field_of(result: Result<Settings, Error>) -> String {
        match result {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn public_cloud_defaults() {
        let settings = Settings::from_config(sample_config()).unwrap();
        assert_eq!(settings.api_version, "2025-09-01");
        assert_eq!(settings.endpoints.arm.base.as_str(), "https://management.azure.com/");
        assert_eq!(settings.endpoints.arm.scope, PUBLIC_ARM_SCOPE);
        assert_eq!(settings.endpoints.log_analytics.scope, PUBLIC_LOG_ANALYTICS_SCOPE);
    }

    #[test]
    fn us_government_uses_its_own_hosts_and_scopes() {
        let settings =
            Settings::from_config(ConnectionConfig { cloud: Cloud::UsGovernment, ..sample_config() }).unwrap();
        assert_eq!(settings.endpoints.login.host_str(), Some("login.microsoftonline.us"));
        assert_eq!(settings.endpoints.graph.scope, "https://graph.microsoft.us/.default");
    }

    fn custom(url: &str) -> ConnectionConfig {
        let custom = CustomCloud {
            login_url: url.into(),
            arm_url: url.into(),
            log_analytics_url: url.into(),
            graph_url: url.into(),
            arm_scope: None,
            log_analytics_scope: None,
            graph_scope: None,
        };
        ConnectionConfig { cloud: Cloud::Custom(custom), ..sample_config() }
    }

    #[test]
    fn http_only_for_loopback() {
        assert!(Settings::from_config(custom("http://127.0.0.1:8080")).is_ok());
        assert!(Settings::from_config(custom("http://localhost:8080/")).is_ok());
        assert!(Settings::from_config(custom("http://[::1]:1")).is_ok());
        assert_eq!(field_of(Settings::from_config(custom("http://example.com"))), "cloud.login-url");
        assert_eq!(field_of(Settings::from_config(custom("ftp://127.0.0.1"))), "cloud.login-url");
        assert_eq!(field_of(Settings::from_config(custom("https://user:pw@example.com"))), "cloud.login-url");
    }

    #[test]
    fn custom_cloud_scopes_default_to_public() {
        let settings = Settings::from_config(custom("http://127.0.0.1:9")).unwrap();
        assert_eq!(settings.endpoints.arm.scope, PUBLIC_ARM_SCOPE);
        assert_eq!(settings.endpoints.arm.base.as_str(), "http://127.0.0.1:9/");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(ConnectionConfig, &str)> = vec![
            (ConnectionConfig { tenant_id: "not a tenant".into(), ..sample_config() }, "tenant-id"),
            (ConnectionConfig { client_id: "abc".into(), ..sample_config() }, "client-id"),
            (
                ConnectionConfig { credential: Credential::ClientSecret(Secret::new(" ")), ..sample_config() },
                "credential.client-secret",
            ),
            (
                ConnectionConfig {
                    subscription_id: "{d0cfe6b2-9ac0-4464-9919-dccaee2e48c0}".into(),
                    ..sample_config()
                },
                "subscription-id",
            ),
            (ConnectionConfig { resource_group: "rg/../x".into(), ..sample_config() }, "resource-group"),
            (ConnectionConfig { workspace_name: "-ws".into(), ..sample_config() }, "workspace-name"),
            (ConnectionConfig { workspace_id: Some("ws".into()), ..sample_config() }, "workspace-id"),
            (ConnectionConfig { api_version: Some("latest".into()), ..sample_config() }, "api-version"),
            (
                ConnectionConfig {
                    timeouts: Some(Timeouts { connect_ms: 0, ..Timeouts::default() }),
                    ..sample_config()
                },
                "timeouts.connect-ms",
            ),
        ];
        for (config, field) in cases {
            assert_eq!(field_of(Settings::from_config(config)), field);
        }
    }

    #[test]
    fn domain_tenant_and_preview_api_version_are_accepted() {
        let config = ConnectionConfig {
            tenant_id: "contoso.onmicrosoft.com".into(),
            api_version: Some("2025-07-01-preview".into()),
            ..sample_config()
        };
        assert!(Settings::from_config(config).is_ok());
    }

    #[test]
    fn a_secret_in_the_wrong_field_is_never_echoed() {
        let secret = "Abc8Q~xY9.zz_Secret-Value~2";
        let swapped = ConnectionConfig {
            client_id: secret.into(),
            credential: Credential::ClientSecret(Secret::new("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b")),
            ..sample_config()
        };
        let shown = Settings::from_config(swapped).unwrap_err().to_string();
        assert!(shown.contains("client-id") && !shown.contains("Abc8Q~xY"), "{shown}");
        let in_tenant = ConnectionConfig {
            tenant_id: secret.into(),
            credential: Credential::ClientSecret(Secret::new(secret)),
            ..sample_config()
        };
        assert!(!Settings::from_config(in_tenant).unwrap_err().to_string().contains("Abc8Q~xY"));
        let in_group = ConnectionConfig {
            resource_group: format!("{secret}/x"),
            credential: Credential::ClientSecret(Secret::new(secret)),
            ..sample_config()
        };
        let shown = Settings::from_config(in_group).unwrap_err().to_string();
        assert!(shown.contains("[redacted]") && !shown.contains("Abc8Q~xY"), "{shown}");
    }

    #[test]
    fn an_api_version_with_multibyte_characters_is_refused_not_a_panic() {
        for bad in ["2025-09-0é", "é", "2025-09-01-previeé", "２０２５-09-01"] {
            assert_eq!(
                field_of(Settings::from_config(ConnectionConfig { api_version: Some(bad.into()), ..sample_config() })),
                "api-version"
            );
        }
    }

    #[test]
    fn secret_never_appears_in_debug_or_errors() {
        let config = ConnectionConfig { client_id: "bad".into(), ..sample_config() };
        assert!(!format!("{config:?}").contains("s3cret-value"));
        let error = Settings::from_config(config).unwrap_err();
        assert!(!error.to_string().contains("s3cret-value"));
    }
}
