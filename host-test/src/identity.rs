//! Host-side sign-in (issue 14, item 3): tokens for the three audiences from
//! the machine's managed identity or from the signed-in Azure CLI, handed to
//! the component as access tokens. The component never sees where they came
//! from; the host renews them by opening the connection again.
//!
//! Managed identity speaks the protocols azure-identity does: App Service and
//! Container Apps (`IDENTITY_ENDPOINT` with `IDENTITY_HEADER`, api-version
//! 2019-08-01), the older App Service one (`MSI_ENDPOINT` with `MSI_SECRET`,
//! 2017-09-01), and IMDS on Azure VMs (`http://169.254.169.254`, only when
//! asked for by `--auth managed-identity`: the default chain never probes a
//! link-local address). `AZURE_CLIENT_ID` picks a user-assigned identity.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use serde::Deserialize;
use url::Url;

use sentinel_connector::core::config::Credential;
use sentinel_connector::core::http::Secret;

/// IMDS's well-known address: only ever used when the operator asks for a
/// managed identity and no endpoint variable names another.
const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// A token answer is a few kilobytes; more is refused unread.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;
const MI_TIMEOUT: Duration = Duration::from_secs(10);

/// How the CLI signs in (`--auth`); unset, the chain below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMethod {
    /// AZURE_CLIENT_SECRET or client_secret.
    Secret,
    /// A federated token: AZURE_FEDERATED_TOKEN_FILE or federated_token_file.
    Workload,
    /// The app's certificate: AZURE_CLIENT_CERTIFICATE_PATH (PEM with the key,
    /// or PKCS#12 with AZURE_CLIENT_CERTIFICATE_PASSWORD) or client_certificate_path.
    Certificate,
    /// The machine's managed identity (App Service, Container Apps, Arc-less VMs through IMDS).
    ManagedIdentity,
    /// The signed-in Azure CLI (`az account get-access-token`).
    AzCli,
}

/// The three resources a connection needs tokens for, as the cloud names
/// them (a scope without `/.default`).
#[derive(Clone, Debug)]
pub struct Resources {
    /// Azure Resource Manager, e.g. `https://management.azure.com`.
    pub arm: String,
    /// The Log Analytics query API, e.g. `https://api.loganalytics.io`.
    pub log_analytics: String,
    /// Microsoft Graph, e.g. `https://graph.microsoft.com`.
    pub graph: String,
}

impl Resources {
    /// The resources for three token scopes, each with its `/.default`
    /// dropped (managed identity and `az` ask by resource, not scope).
    pub fn from_scopes(arm: &str, log_analytics: &str, graph: &str) -> Resources {
        let resource = |scope: &str| scope.trim_end_matches("/.default").to_owned();
        Resources { arm: resource(arm), log_analytics: resource(log_analytics), graph: resource(graph) }
    }
}

/// Tokens obtained by the host, and when the first of them expires.
pub struct HostTokens {
    /// [`Credential::AccessTokens`], one token per resource, for the
    /// connection's configuration.
    pub credential: Credential,
    /// The earliest expiry among the tokens, or `None` when no source said;
    /// reopen the connection before then to renew them.
    pub expires_at: Option<SystemTime>,
}

/// Why no host token was obtained, in words. It may quote up to 300
/// characters of a failed endpoint's answer or of `az`'s stderr.
#[derive(Debug)]
pub struct IdentityError(pub String);

/// Whether this environment names a managed identity endpoint (the chain
/// tries managed identity only then).
pub fn managed_identity_available(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("IDENTITY_ENDPOINT").or_else(|| env("MSI_ENDPOINT")).is_some_and(|v| !v.is_empty())
}

/// Tokens from the managed identity the environment describes.
pub async fn managed_identity(
    env: &dyn Fn(&str) -> Option<String>,
    resources: &Resources,
) -> Result<HostTokens, IdentityError> {
    let endpoint = Endpoint::from_env(env)?;
    let client_id = env("AZURE_CLIENT_ID").filter(|v| !v.is_empty());
    let mut tokens = Vec::new();
    for resource in [&resources.arm, &resources.log_analytics, &resources.graph] {
        tokens.push(endpoint.token(resource, client_id.as_deref()).await?);
    }
    Ok(host_tokens(tokens))
}

/// Tokens from `az account get-access-token`, one per resource.
pub fn az_cli(resources: &Resources, tenant: Option<&str>) -> Result<HostTokens, IdentityError> {
    let mut tokens = Vec::new();
    for resource in [&resources.arm, &resources.log_analytics, &resources.graph] {
        tokens.push(az_token(resource, tenant)?);
    }
    Ok(host_tokens(tokens))
}

/// Whether `az` is on PATH (the chain tries the Azure CLI only then).
pub fn az_available() -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("az").is_file()))
}

fn host_tokens(tokens: Vec<(Secret, Option<SystemTime>)>) -> HostTokens {
    let expires_at = tokens.iter().filter_map(|(_, at)| *at).min();
    let mut secrets = tokens.into_iter().map(|(token, _)| token);
    let (arm, log_analytics, graph) = (secrets.next(), secrets.next(), secrets.next());
    HostTokens { credential: Credential::AccessTokens { arm, log_analytics, graph }, expires_at }
}

/// Where and how to ask for a managed identity token.
enum Endpoint {
    /// App Service and Container Apps: `X-IDENTITY-HEADER`, 2019-08-01.
    AppService { url: Url, header: String },
    /// The older App Service protocol: `secret`, 2017-09-01.
    Msi { url: Url, secret: String },
    /// IMDS: `Metadata: true`, 2018-02-01.
    Imds { url: Url },
}

impl Endpoint {
    fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Endpoint, IdentityError> {
        let parse = |name: &str, text: String| {
            Url::parse(&text).map_err(|e| IdentityError(format!("{name} is not a URL ({e})")))
        };
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(url) = set("IDENTITY_ENDPOINT") {
            let Some(header) = set("IDENTITY_HEADER") else {
                return Err(IdentityError(
                    "IDENTITY_ENDPOINT is set without IDENTITY_HEADER (Azure Arc's protocol is not supported yet)"
                        .into(),
                ));
            };
            return Ok(Endpoint::AppService { url: parse("IDENTITY_ENDPOINT", url)?, header });
        }
        if let Some(url) = set("MSI_ENDPOINT") {
            let secret =
                set("MSI_SECRET").ok_or_else(|| IdentityError("MSI_ENDPOINT is set without MSI_SECRET".into()))?;
            return Ok(Endpoint::Msi { url: parse("MSI_ENDPOINT", url)?, secret });
        }
        Ok(Endpoint::Imds { url: Url::parse(IMDS_TOKEN_URL).map_err(|e| IdentityError(e.to_string()))? })
    }

    async fn token(
        &self,
        resource: &str,
        client_id: Option<&str>,
    ) -> Result<(Secret, Option<SystemTime>), IdentityError> {
        let (mut url, header, version) = match self {
            Endpoint::AppService { url, header } => (url.clone(), ("x-identity-header", header.as_str()), "2019-08-01"),
            Endpoint::Msi { url, secret } => (url.clone(), ("secret", secret.as_str()), "2017-09-01"),
            Endpoint::Imds { url } => (url.clone(), ("metadata", "true"), "2018-02-01"),
        };
        url.query_pairs_mut().append_pair("api-version", version).append_pair("resource", resource);
        if let Some(id) = client_id {
            let key = if matches!(self, Endpoint::Msi { .. }) { "clientid" } else { "client_id" };
            url.query_pairs_mut().append_pair(key, id);
        }
        let body = tokio::time::timeout(MI_TIMEOUT, get(&url, header)).await.map_err(|_| {
            IdentityError(format!("the managed identity endpoint did not answer within {MI_TIMEOUT:?}"))
        })??;
        let answer: MiToken = serde_json::from_slice(&body)
            .map_err(|e| IdentityError(format!("the managed identity endpoint's answer could not be read: {e}")))?;
        Ok((Secret::new(answer.access_token), answer.expires_on.and_then(|on| on.at())))
    }
}

#[derive(Deserialize)]
struct MiToken {
    access_token: String,
    /// Seconds since the epoch, as a number or a string (App Service writes a string).
    #[serde(default)]
    expires_on: Option<EpochSeconds>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EpochSeconds {
    Number(u64),
    Text(String),
}

impl EpochSeconds {
    fn at(&self) -> Option<SystemTime> {
        let seconds = match self {
            EpochSeconds::Number(n) => *n,
            EpochSeconds::Text(text) => text.trim().parse().ok()?,
        };
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
    }
}

/// One plain-HTTP GET (managed identity endpoints are local HTTP), with
/// the answer capped before it is read. Only an address this process may
/// reach: under the tests' loopback guard, nothing else.
async fn get(url: &Url, header: (&str, &str)) -> Result<Vec<u8>, IdentityError> {
    let failed =
        |what: &str, e: &dyn std::fmt::Display| IdentityError(format!("managed identity endpoint: {what}: {e}"));
    if url.scheme() != "http" {
        return Err(IdentityError(format!("managed identity endpoint {url}: only http is spoken to it")));
    }
    let host = url.host_str().ok_or_else(|| IdentityError(format!("managed identity endpoint {url} has no host")))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let address = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| failed("cannot resolve", &e))?
        .next()
        .ok_or_else(|| IdentityError(format!("managed identity endpoint {host} resolves to nothing")))?;
    crate::runtime::egress::check_loopback_guard(address);
    let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| failed("cannot connect", &e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| failed("handshake", &e))?;
    tokio::spawn(connection);
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let request = http::Request::get(path)
        .header("host", host)
        .header(header.0, header.1)
        .body(Empty::<Bytes>::new())
        .map_err(|e| failed("request", &e))?;
    let response = sender.send_request(request).await.map_err(|e| failed("request", &e))?;
    let status = response.status();
    let body = Limited::new(response.into_body(), MAX_TOKEN_ANSWER)
        .collect()
        .await
        .map_err(|e| failed("answer", &e))?
        .to_bytes();
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(IdentityError(format!("the managed identity endpoint answered {status}: {text}")));
    }
    Ok(body.to_vec())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzToken {
    access_token: String,
    /// Seconds since the epoch (az 2.54 and later).
    #[serde(default)]
    #[serde(rename = "expires_on")]
    expires_on: Option<u64>,
}

/// `az account get-access-token --resource R --output json [--tenant T]`.
fn az_token(resource: &str, tenant: Option<&str>) -> Result<(Secret, Option<SystemTime>), IdentityError> {
    let mut command = Command::new("az");
    command.args(["account", "get-access-token", "--output", "json", "--resource", resource]);
    if let Some(tenant) = tenant {
        command.args(["--tenant", tenant]);
    }
    let output =
        command.output().map_err(|e| IdentityError(format!("cannot run az ({e}); is the Azure CLI installed?")))?;
    if !output.status.success() {
        let said: String = String::from_utf8_lossy(&output.stderr).chars().take(300).collect();
        return Err(IdentityError(format!("az account get-access-token failed ({}): {}", output.status, said.trim())));
    }
    let token: AzToken = serde_json::from_slice(&output.stdout)
        .map_err(|e| IdentityError(format!("az account get-access-token printed no token ({e})")))?;
    let expires = token.expires_on.and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)));
    Ok((Secret::new(token.access_token), expires))
}
