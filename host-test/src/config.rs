//! Where a connection's configuration comes from: a TOML file (`--config`),
//! then environment variables named as azure-identity names them, then
//! `--emulator`, which points every endpoint at a local emulator and fills in
//! the emulator's default credentials for anything still unset.
//!
//! Resolution is a pure function of those three inputs, so it is tested
//! without touching the process environment.

use std::path::{Path, PathBuf};

use sentinel_connector::core::config::{
    Cloud, ConnectionConfig, Credential, CustomCloud, ProtectedAccounts, PUBLIC_ARM_SCOPE, PUBLIC_GRAPH_SCOPE,
    PUBLIC_LOG_ANALYTICS_SCOPE,
};
use sentinel_connector::core::http::{Secret, Timeouts};
use sentinel_connector::core::retry::RetryPolicy;
use sentinel_emulator as emulator;

use crate::identity::{self, AuthMethod};
use serde::Deserialize;

/// The TOML file's keys; unknown keys are refused so a typo is not ignored.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The Entra tenant: a GUID or a domain such as `contoso.onmicrosoft.com`;
    /// `AZURE_TENANT_ID` wins.
    pub tenant_id: Option<String>,
    /// The app registration's client id (a GUID); `AZURE_CLIENT_ID` wins.
    pub client_id: Option<String>,
    /// The app's client secret; `AZURE_CLIENT_SECRET` wins. Never echoed in
    /// an error, even when the file fails to parse.
    pub client_secret: Option<Secret>,
    /// A file holding the client secret, so the TOML holds none (a mounted
    /// secret, `sentinel serve`'s tenant files); read when the connection
    /// opens, so a rotated secret is picked up. Not with `client_secret`.
    pub client_secret_file: Option<PathBuf>,
    /// A file holding a federated token (workload identity), re-read when
    /// the connection is opened again; `AZURE_FEDERATED_TOKEN_FILE` wins.
    pub federated_token_file: Option<PathBuf>,
    /// The app's certificate and key: PEM, or PKCS#12 (with
    /// `client_certificate_password`); `AZURE_CLIENT_CERTIFICATE_PATH` wins.
    pub client_certificate_path: Option<PathBuf>,
    /// The PKCS#12 bundle's password (unused for PEM);
    /// `AZURE_CLIENT_CERTIFICATE_PASSWORD` wins.
    pub client_certificate_password: Option<Secret>,
    /// A file holding the PKCS#12 bundle's password; not with
    /// `client_certificate_password`.
    pub client_certificate_password_file: Option<PathBuf>,
    /// The workspace's subscription (a GUID); `SENTINEL_SUBSCRIPTION_ID` wins.
    pub subscription_id: Option<String>,
    /// The workspace's resource group; `SENTINEL_RESOURCE_GROUP` wins.
    pub resource_group: Option<String>,
    /// The Log Analytics workspace Sentinel runs on (its name, not its id);
    /// `SENTINEL_WORKSPACE_NAME` wins.
    pub workspace_name: Option<String>,
    /// The workspace's id (a GUID), needed only for KQL queries;
    /// `SENTINEL_WORKSPACE_ID` wins.
    pub workspace_id: Option<String>,
    /// public, usgov, china or custom.
    pub cloud: Option<String>,
    /// With `cloud = "custom"`: the Entra login base URL (https; http only
    /// on loopback); `SENTINEL_LOGIN_URL` wins.
    pub login_url: Option<String>,
    /// With `cloud = "custom"`: the Azure Resource Manager base URL;
    /// `SENTINEL_ARM_URL` wins.
    pub arm_url: Option<String>,
    /// With `cloud = "custom"`: the Log Analytics query API's base URL;
    /// `SENTINEL_LOGANALYTICS_URL` wins.
    pub log_analytics_url: Option<String>,
    /// With `cloud = "custom"`: the Microsoft Graph base URL;
    /// `SENTINEL_GRAPH_URL` wins.
    pub graph_url: Option<String>,
    /// With `cloud = "custom"`: the ARM token scope; unset, the public
    /// cloud's. File only, no environment variable.
    pub arm_scope: Option<String>,
    /// With `cloud = "custom"`: the Log Analytics token scope; unset, the
    /// public cloud's. File only.
    pub log_analytics_scope: Option<String>,
    /// With `cloud = "custom"`: the Graph token scope; unset, the public
    /// cloud's. File only.
    pub graph_scope: Option<String>,
    /// The Sentinel REST api-version (`YYYY-MM-DD[-preview]`); unset, the
    /// component's default. `SENTINEL_API_VERSION` wins.
    pub api_version: Option<String>,
    /// `[timeouts]`, `[retry]` and `[protected_accounts]` are the core's own
    /// records, read as they are.
    ///
    /// `[timeouts]`: `connect_ms`, `first_byte_ms`, `between_bytes_ms`, all
    /// needed; unset, 10 s, 60 s and 30 s.
    pub timeouts: Option<Timeouts>,
    /// `[retry]`: `max_retries`, `initial_delay_ms`, `max_delay_ms`,
    /// `total_budget_ms`, all needed; unset, up to 4 retries, none started
    /// after 60 s.
    pub retry: Option<RetryPolicy>,
    /// `[protected_accounts]`: accounts containment never touches. Extended,
    /// not replaced, by `SENTINEL_PROTECTED_USERS` and `SENTINEL_PROTECTED_GROUPS`.
    pub protected_accounts: Option<ProtectedAccounts>,
}

/// Why the configuration could not be read or resolved, as a message fit to
/// show: it names the setting or file, never a secret's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl FileConfig {
    /// The secrets given as `*_file` paths, read into their keys: done as
    /// the connection opens, so a rotated file is read anew. A key given
    /// both ways is refused rather than one silently winning.
    pub fn with_secret_files(mut self) -> Result<FileConfig, ConfigError> {
        if let Some(path) = self.client_secret_file.take() {
            self.client_secret = Some(secret_from_file(self.client_secret.take(), &path, "client_secret")?);
        }
        if let Some(path) = self.client_certificate_password_file.take() {
            let password = self.client_certificate_password.take();
            self.client_certificate_password = Some(secret_from_file(password, &path, "client_certificate_password")?);
        }
        Ok(self)
    }
}

/// The largest secret file read: a secret is a line, never megabytes.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

fn secret_from_file(inline: Option<Secret>, path: &Path, key: &str) -> Result<Secret, ConfigError> {
    if inline.is_some() {
        return Err(ConfigError(format!("{key} and {key}_file are both set; keep one")));
    }
    let failed = |problem: String| ConfigError(format!("{key}_file {}: {problem}", path.display()));
    let text = read_bounded(path, MAX_SECRET_FILE_BYTES).map_err(failed)?;
    // A trailing newline is the editor's, not the secret's.
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(failed("it is empty".into()));
    }
    Ok(Secret::new(secret))
}

/// A settings file read whole, or why not; one larger than `max` bytes is
/// refused without reading past it (a device, a log file named by mistake).
pub fn read_bounded(path: &Path, max: u64) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, max + 1), &mut text).map_err(|e| e.to_string())?;
    if text.len() as u64 > max {
        return Err(format!("larger than {max} bytes, more than settings or a secret can be"));
    }
    Ok(text)
}

/// Reads and parses a `--config` TOML file. A parse error names the line
/// and key but never quotes the value, which may be a secret.
pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read the config file {}: {e}", path.display())))?;
    parse::<FileConfig>(&text, &format!("the config file {}", path.display()))?.with_secret_files()
}

/// Parses TOML settings; `origin` names where they came from in an error.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
    // toml's full messages quote the offending line, and its type errors the
    // value, either of which may be the secret: report where the problem is,
    // which key, and what was expected, never the value.
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|span| location(text, span.start)).unwrap_or_default();
        ConfigError(format!("{origin} is not valid{at}: {}", without_values(e.message())))
    })
}

/// Settings from an already parsed TOML table (a tenant of `sentinel
/// serve`), with the same care for values as [`parse`]. A table has no
/// lines left to point at, so the error names the key: the first one that
/// is refused on its own (every setting is optional).
pub fn from_table<T: serde::de::DeserializeOwned>(table: toml::Table, origin: &str) -> Result<T, ConfigError> {
    let refused_alone = |key: &&String| {
        let alone = toml::Table::from_iter([((*key).clone(), table[*key].clone())]);
        T::deserialize(toml::Value::Table(alone)).is_err()
    };
    T::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
        let key = table.keys().find(refused_alone).filter(|key| key.len() <= 64);
        let at = key.map(|key| format!(" (key {})", crate::cli::output::safe_line(key))).unwrap_or_default();
        ConfigError(format!("{origin} is not valid{at}: {}", without_values(e.message())))
    })
}

/// ` at line N (key k)`: the key is the text before `=` on that line.
fn location(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line_number = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_number - 1).unwrap_or_default();
    let key = line.split_once('=').map(|(key, _)| key.trim()).filter(|key| !key.is_empty() && key.len() <= 64);
    match key {
        Some(key) => format!(" at line {line_number} (key {})", crate::cli::output::safe_line(key)),
        None => format!(" at line {line_number}"),
    }
}

/// serde's "invalid type: string \"...\", expected ..." with the value left
/// out: only its kind (string, integer, ...) and what was expected.
fn without_values(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, "another value"));
            let kind = found
                .split([' ', '`', '"'])
                .next()
                .filter(|kind| kind.chars().all(char::is_alphabetic))
                .unwrap_or("value");
            return format!("{prefix}{kind} (the value is not shown), expected {expected}");
        }
    }
    message.lines().next().unwrap_or_default().to_owned()
}

/// One setting: the environment wins over the file; `--emulator` fills the rest.
pub struct Lookup<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    file: &'a FileConfig,
    emulating: bool,
}

impl Lookup<'_> {
    fn get(&self, env_name: &str, from_file: &Option<String>) -> Option<String> {
        (self.env)(env_name).filter(|v| !v.is_empty()).or_else(|| from_file.clone())
    }

    fn required(
        &self,
        env_name: &str,
        file_key: &str,
        from_file: &Option<String>,
        emulator_default: &str,
    ) -> Result<String, ConfigError> {
        match self.get(env_name, from_file) {
            Some(value) => Ok(value),
            None if self.emulating => Ok(emulator_default.to_owned()),
            None => Err(ConfigError(format!("{env_name} is not set (or {file_key} in the --config file)"))),
        }
    }
}

/// Where the connection's credential comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum SignIn {
    /// A credential the component uses itself (a secret, a federated token).
    Component(Credential),
    /// Tokens the host gets from the machine's managed identity.
    ManagedIdentity,
    /// Tokens the host gets from the signed-in Azure CLI.
    AzCli,
}

/// The sign-in `--auth` asks for or, unset, the first of azure-identity's
/// default chain that this environment offers: a client secret in the
/// environment, a federated token file in the environment (as
/// `WorkloadIdentityCredential` reads `AZURE_FEDERATED_TOKEN_FILE`), the
/// --config file's `client_secret` or `federated_token_file`, the emulator's
/// secret with --emulator, a managed identity whose endpoint the
/// environment names (never a probe of IMDS's link-local address: that only
/// with `--auth managed-identity`), the Azure CLI when `az` is on PATH.
pub fn sign_in(look: &Lookup, auth: Option<AuthMethod>) -> Result<SignIn, ConfigError> {
    let env = |name: &str| (look.env)(name).filter(|v| !v.is_empty());
    let secret = || env("AZURE_CLIENT_SECRET").map(Secret::new).or_else(|| look.file.client_secret.clone());
    let token_file = || {
        env("AZURE_FEDERATED_TOKEN_FILE")
            .map(|path| (PathBuf::from(path), "AZURE_FEDERATED_TOKEN_FILE"))
            .or_else(|| look.file.federated_token_file.clone().map(|path| (path, "federated_token_file")))
    };
    let emulator_secret = || Secret::new(emulator::DEFAULT_CLIENT_SECRET);
    let certificate_file = || {
        env("AZURE_CLIENT_CERTIFICATE_PATH")
            .map(|path| (PathBuf::from(path), "AZURE_CLIENT_CERTIFICATE_PATH"))
            .or_else(|| look.file.client_certificate_path.clone().map(|path| (path, "client_certificate_path")))
    };
    let certificate_password = || {
        env("AZURE_CLIENT_CERTIFICATE_PASSWORD")
            .map(Secret::new)
            .or_else(|| look.file.client_certificate_password.clone())
    };
    let certificate = |(path, named_by): (PathBuf, &str)| {
        certificate(&path, named_by, certificate_password().as_ref()).map(SignIn::Component)
    };
    match auth {
        Some(AuthMethod::Certificate) => match certificate_file() {
            Some(file) => certificate(file),
            None => Err(ConfigError("--auth certificate: AZURE_CLIENT_CERTIFICATE_PATH is not set (nor client_certificate_path in the --config file)".into())),
        },
        Some(AuthMethod::Secret) => match secret().or_else(|| look.emulating.then(emulator_secret)) {
            Some(secret) => Ok(SignIn::Component(Credential::ClientSecret(secret))),
            None => Err(ConfigError("--auth secret: AZURE_CLIENT_SECRET is not set (nor client_secret in the --config file)".into())),
        },
        Some(AuthMethod::Workload) => match token_file() {
            Some((path, named_by)) => federated_token(&path, named_by).map(SignIn::Component),
            None => Err(ConfigError("--auth workload: AZURE_FEDERATED_TOKEN_FILE is not set (nor federated_token_file in the --config file)".into())),
        },
        Some(AuthMethod::ManagedIdentity) => Ok(SignIn::ManagedIdentity),
        Some(AuthMethod::AzCli) => Ok(SignIn::AzCli),
        None => {
            if let Some(secret) = env("AZURE_CLIENT_SECRET") {
                return Ok(SignIn::Component(Credential::ClientSecret(Secret::new(secret))));
            }
            if let Some(path) = env("AZURE_CLIENT_CERTIFICATE_PATH") {
                return certificate((PathBuf::from(path), "AZURE_CLIENT_CERTIFICATE_PATH"));
            }
            if let Some(path) = env("AZURE_FEDERATED_TOKEN_FILE") {
                return federated_token(Path::new(&path), "AZURE_FEDERATED_TOKEN_FILE").map(SignIn::Component);
            }
            if let Some(secret) = &look.file.client_secret {
                return Ok(SignIn::Component(Credential::ClientSecret(secret.clone())));
            }
            if let Some(path) = &look.file.client_certificate_path {
                return certificate((path.clone(), "client_certificate_path"));
            }
            if let Some(path) = &look.file.federated_token_file {
                return federated_token(path, "federated_token_file").map(SignIn::Component);
            }
            if look.emulating {
                return Ok(SignIn::Component(Credential::ClientSecret(emulator_secret())));
            }
            if identity::managed_identity_available(look.env) {
                return Ok(SignIn::ManagedIdentity);
            }
            if identity::az_available() {
                return Ok(SignIn::AzCli);
            }
            Err(ConfigError(
                "no credential: set AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE (or client_secret or \
                 federated_token_file in the --config file), or choose --auth managed-identity or az-cli"
                    .into(),
            ))
        }
    }
}

/// A certificate file is a few kilobytes; more is not one.
const MAX_CERTIFICATE_FILE_BYTES: u64 = 256 * 1024;

/// The certificate credential in `path`: PEM holding the private key and
/// the certificate, or a PKCS#12 bundle, converted to PEM here (the
/// component reads PEM). The password and key never reach an error.
fn certificate(path: &Path, named_by: &str, password: Option<&Secret>) -> Result<Credential, ConfigError> {
    use std::io::Read;
    let failed = |reason: &str| ConfigError(format!("the certificate file {} ({named_by}) {reason}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| failed(&format!("cannot be read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_CERTIFICATE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| failed(&format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_CERTIFICATE_FILE_BYTES {
        return Err(failed("is larger than any certificate and key"));
    }
    let (private_key, certificate) = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => {
            let key = pem_block(text, "PRIVATE KEY")
                .ok_or_else(|| failed("holds no PEM private key beside its certificate"))?;
            let cert =
                pem_block(text, "CERTIFICATE").ok_or_else(|| failed("holds no PEM certificate beside its key"))?;
            (key, cert)
        }
        _ => pkcs12_to_pem(&bytes, password).map_err(|reason| failed(&reason))?,
    };
    Ok(Credential::Certificate { private_key: Secret::new(private_key), certificate })
}

/// The first PEM block whose label ends with `label` (so `PRIVATE KEY`
/// finds `RSA PRIVATE KEY` and `ENCRYPTED PRIVATE KEY` too: the component
/// says what it cannot use).
fn pem_block(text: &str, label: &str) -> Option<String> {
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let name = &after[..after.find("-----")?];
        let end_line = format!("-----END {name}-----");
        let end = rest[start..].find(&end_line)? + start + end_line.len();
        if name.ends_with(label) {
            return Some(rest[start..end].to_owned());
        }
        rest = &rest[end..];
    }
    None
}

/// A PKCS#12 bundle's key and certificate, as PEM.
fn pkcs12_to_pem(bytes: &[u8], password: Option<&Secret>) -> Result<(String, String), String> {
    let password = password.map_or("", |p| p.expose());
    let store = p12_keystore::KeyStore::from_pkcs12(bytes, password, p12_keystore::Pkcs12ImportPolicy::Strict)
        .map_err(|_| {
            "is not a PKCS#12 bundle this reader opens: check AZURE_CLIENT_CERTIFICATE_PASSWORD (or \
             client_certificate_password); a bundle with MD5-based encryption must be re-exported with \
             `openssl pkcs12 -export` (AES)"
                .to_owned()
        })?;
    let (_, chain) = store.private_key_chain().ok_or("holds no private key")?;
    let certificate = chain.certs().first().ok_or("holds no certificate for its key")?;
    Ok((pem("PRIVATE KEY", chain.key().as_der()), pem("CERTIFICATE", certificate.as_der())))
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = encoded.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// A federated token is a JWT of a kilobyte or two; more is not one.
const MAX_FEDERATED_TOKEN_BYTES: u64 = 64 * 1024;

/// The token in `path`, read now (so a reopened connection gets the
/// issuer's latest, as the kubelet rotates it). Never printed.
fn federated_token(path: &Path, named_by: &str) -> Result<Credential, ConfigError> {
    use std::io::Read;
    let failed = |reason: String| {
        ConfigError(format!("cannot read the federated token file {} ({named_by}): {reason}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(|e| failed(e.to_string()))?;
    let mut text = String::new();
    file.take(MAX_FEDERATED_TOKEN_BYTES + 1).read_to_string(&mut text).map_err(|e| failed(e.to_string()))?;
    if text.len() as u64 > MAX_FEDERATED_TOKEN_BYTES {
        return Err(failed(format!("larger than {MAX_FEDERATED_TOKEN_BYTES} bytes, so not a token")));
    }
    if text.trim().is_empty() {
        return Err(failed("it is empty".into()));
    }
    Ok(Credential::ClientAssertion(Secret::new(text.trim())))
}

/// The connection, with the credential the default chain finds (see [`sign_in`]).
pub fn resolve(
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileConfig,
    emulator_url: Option<&str>,
) -> Result<ConnectionConfig, ConfigError> {
    let look = Lookup { env, file, emulating: emulator_url.is_some() };
    match sign_in(&look, None)? {
        SignIn::Component(credential) => settings(&look, emulator_url, credential),
        _ => {
            Err(ConfigError("this environment signs in through the host (managed identity or az); use the CLI".into()))
        }
    }
}

/// The connection and how it signs in, `--auth` deciding; a host sign-in's
/// credential is filled in by the caller (`cli::Global::open_session`).
pub fn resolve_with(
    env: &dyn Fn(&str) -> Option<String>,
    file: &FileConfig,
    emulator_url: Option<&str>,
    auth: Option<AuthMethod>,
) -> Result<(ConnectionConfig, SignIn), ConfigError> {
    let look = Lookup { env, file, emulating: emulator_url.is_some() };
    let sign_in = sign_in(&look, auth)?;
    let credential = match &sign_in {
        SignIn::Component(credential) => credential.clone(),
        // Replaced by the host's tokens before the connection opens.
        SignIn::ManagedIdentity | SignIn::AzCli => {
            Credential::AccessTokens { arm: None, log_analytics: None, graph: None }
        }
    };
    Ok((settings(&look, emulator_url, credential)?, sign_in))
}

fn settings(
    look: &Lookup,
    emulator_url: Option<&str>,
    credential: Credential,
) -> Result<ConnectionConfig, ConfigError> {
    let file = look.file;
    Ok(ConnectionConfig {
        tenant_id: look.required("AZURE_TENANT_ID", "tenant_id", &file.tenant_id, emulator::DEFAULT_TENANT_ID)?,
        client_id: look.required("AZURE_CLIENT_ID", "client_id", &file.client_id, emulator::DEFAULT_CLIENT_ID)?,
        credential,
        subscription_id: look.required(
            "SENTINEL_SUBSCRIPTION_ID",
            "subscription_id",
            &file.subscription_id,
            emulator::DEFAULT_SUBSCRIPTION_ID,
        )?,
        resource_group: look.required(
            "SENTINEL_RESOURCE_GROUP",
            "resource_group",
            &file.resource_group,
            emulator::DEFAULT_RESOURCE_GROUP,
        )?,
        workspace_name: look.required(
            "SENTINEL_WORKSPACE_NAME",
            "workspace_name",
            &file.workspace_name,
            emulator::DEFAULT_WORKSPACE_NAME,
        )?,
        workspace_id: look
            .get("SENTINEL_WORKSPACE_ID", &file.workspace_id)
            .or_else(|| look.emulating.then(|| emulator::DEFAULT_WORKSPACE_ID.to_owned())),
        cloud: cloud(look, emulator_url)?,
        api_version: look.get("SENTINEL_API_VERSION", &file.api_version),
        timeouts: file.timeouts,
        retry: file.retry,
        protected_accounts: protected_accounts(look),
    })
}

/// The file's list plus `SENTINEL_PROTECTED_USERS` (comma-separated object
/// ids or UPNs) and `SENTINEL_PROTECTED_GROUPS` (ids or display names).
fn protected_accounts(look: &Lookup) -> ProtectedAccounts {
    let mut protected = look.file.protected_accounts.clone().unwrap_or_default();
    let list = |name: &str| -> Vec<String> {
        (look.env)(name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    for user in list("SENTINEL_PROTECTED_USERS") {
        if user.contains('@') {
            protected.user_principal_names.push(user)
        } else {
            protected.user_ids.push(user)
        }
    }
    protected.groups.extend(list("SENTINEL_PROTECTED_GROUPS"));
    protected
}

fn cloud(look: &Lookup, emulator_url: Option<&str>) -> Result<Cloud, ConfigError> {
    if let Some(url) = emulator_url {
        // The emulator plays the public cloud on one port: its URLs, public scopes.
        let url = url.trim_end_matches('/').to_owned();
        return Ok(Cloud::Custom(CustomCloud {
            login_url: url.clone(),
            arm_url: url.clone(),
            log_analytics_url: url.clone(),
            graph_url: url,
            arm_scope: Some(PUBLIC_ARM_SCOPE.into()),
            log_analytics_scope: Some(PUBLIC_LOG_ANALYTICS_SCOPE.into()),
            graph_scope: Some(PUBLIC_GRAPH_SCOPE.into()),
        }));
    }
    let file = look.file;
    let name = look.get("AZURE_CLOUD", &file.cloud).unwrap_or_else(|| "public".into());
    match name.to_ascii_lowercase().as_str() {
        "public" | "azurepubliccloud" => Ok(Cloud::Public),
        "usgov" | "usgovernment" | "azureusgovernment" => Ok(Cloud::UsGovernment),
        "china" | "azurechinacloud" => Ok(Cloud::China),
        "custom" => {
            let url = |env: &str, key: &str, value: &Option<String>| {
                look.get(env, value).ok_or_else(|| {
                    ConfigError(format!("AZURE_CLOUD=custom needs {env} (or {key} in the --config file)"))
                })
            };
            Ok(Cloud::Custom(CustomCloud {
                login_url: url("SENTINEL_LOGIN_URL", "login_url", &file.login_url)?,
                arm_url: url("SENTINEL_ARM_URL", "arm_url", &file.arm_url)?,
                log_analytics_url: url("SENTINEL_LOGANALYTICS_URL", "log_analytics_url", &file.log_analytics_url)?,
                graph_url: url("SENTINEL_GRAPH_URL", "graph_url", &file.graph_url)?,
                arm_scope: file.arm_scope.clone(),
                log_analytics_scope: file.log_analytics_scope.clone(),
                graph_scope: file.graph_scope.clone(),
            }))
        }
        other => Err(ConfigError(format!("AZURE_CLOUD={other} is not one of public, usgov, china, custom"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_default_chain_takes_a_secret_then_a_token_file_then_a_managed_identity() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n").unwrap();
        let file = FileConfig::default();
        let token_path = token.to_string_lossy().into_owned();
        let chain = |pairs: &[(&str, &str)], auth| {
            let env = env(pairs);
            sign_in(&Lookup { env: &env, file: &file, emulating: false }, auth)
        };
        let all = [
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_FEDERATED_TOKEN_FILE", token_path.as_str()),
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
        ];
        assert_eq!(chain(&all, None).unwrap(), SignIn::Component(Credential::ClientSecret(Secret::new("s"))));
        assert_eq!(
            chain(&all[1..], None).unwrap(),
            SignIn::Component(Credential::ClientAssertion(Secret::new("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"))),
            "the file's token, trimmed"
        );
        assert_eq!(chain(&all[2..], None).unwrap(), SignIn::ManagedIdentity);
        assert_eq!(chain(&all, Some(AuthMethod::AzCli)).unwrap(), SignIn::AzCli, "--auth decides");
        let refused = chain(&[], Some(AuthMethod::Workload)).unwrap_err();
        assert!(refused.0.contains("AZURE_FEDERATED_TOKEN_FILE is not set"), "{}", refused.0);
        let missing = chain(&[("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/token")], None).unwrap_err();
        assert!(missing.0.contains("/nonexistent/token"), "names the file: {}", missing.0);
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
        ("AZURE_CLIENT_ID", "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"),
        ("AZURE_CLIENT_SECRET", "env-secret"),
        ("SENTINEL_SUBSCRIPTION_ID", "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0"),
        ("SENTINEL_RESOURCE_GROUP", "soc-rg"),
        ("SENTINEL_WORKSPACE_NAME", "soc-ws"),
    ];

    #[test]
    fn environment_gives_a_public_cloud_connection() {
        let config = resolve(&env(FULL), &FileConfig::default(), None).unwrap();
        assert_eq!(config.cloud, Cloud::Public);
        assert_eq!(config.resource_group, "soc-rg");
        assert_eq!(config.credential, Credential::ClientSecret(Secret::new("env-secret")));
    }

    #[test]
    fn environment_overrides_the_file() {
        let file: FileConfig = toml::from_str(
            "resource_group = \"file-rg\"\nworkspace_id = \"63c5ed4c-3d9d-4a46-9f5e-0b7c2b3a1f10\"\ncloud = \"usgov\"",
        )
        .unwrap();
        let config = resolve(&env(FULL), &file, None).unwrap();
        assert_eq!(config.resource_group, "soc-rg");
        assert_eq!(config.workspace_id.as_deref(), Some("63c5ed4c-3d9d-4a46-9f5e-0b7c2b3a1f10"));
        assert_eq!(config.cloud, Cloud::UsGovernment);
    }

    #[test]
    fn protected_accounts_come_from_the_file_and_the_environment() {
        let file: FileConfig = toml::from_str("[protected_accounts]\nuser_principal_names = [\"breakglass@contoso.com\"]\ngroups = [\"Break Glass Admins\"]").unwrap();
        let mut pairs = FULL.to_vec();
        pairs.push(("SENTINEL_PROTECTED_USERS", "29f270bb-4d23-4f68-8a57-dc73dc0d4caf, admin@contoso.com"));
        pairs.push(("SENTINEL_PROTECTED_GROUPS", "62e90394-69f5-4237-9190-012177145e10"));
        let protected = resolve(&env(&pairs), &file, None).unwrap().protected_accounts;
        assert_eq!(protected.user_ids, ["29f270bb-4d23-4f68-8a57-dc73dc0d4caf"]);
        assert_eq!(protected.user_principal_names, ["breakglass@contoso.com", "admin@contoso.com"]);
        assert_eq!(protected.groups, ["Break Glass Admins", "62e90394-69f5-4237-9190-012177145e10"]);
        assert!(toml::from_str::<FileConfig>("[protected_accounts]\nusers = []").is_err(), "a typo is refused");
    }

    #[test]
    fn a_missing_setting_is_named() {
        let error = resolve(&env(&FULL[1..]), &FileConfig::default(), None).unwrap_err();
        assert!(error.0.contains("AZURE_TENANT_ID"), "{error}");
    }

    #[test]
    fn custom_cloud_needs_its_urls() {
        let mut pairs = FULL.to_vec();
        pairs.push(("AZURE_CLOUD", "custom"));
        pairs.push(("SENTINEL_LOGIN_URL", "https://login.example"));
        let error = resolve(&env(&pairs), &FileConfig::default(), None).unwrap_err();
        assert!(error.0.contains("SENTINEL_ARM_URL"), "{error}");
    }

    #[test]
    fn emulator_fills_defaults_but_keeps_what_is_set() {
        let config =
            resolve(&env(&[("AZURE_CLIENT_SECRET", "mine")]), &FileConfig::default(), Some("http://127.0.0.1:4000/"))
                .unwrap();
        assert_eq!(config.tenant_id, emulator::DEFAULT_TENANT_ID);
        assert_eq!(config.credential, Credential::ClientSecret(Secret::new("mine")));
        let Cloud::Custom(cloud) = config.cloud else { panic!() };
        assert_eq!(cloud.arm_url, "http://127.0.0.1:4000");
        assert_eq!(cloud.arm_scope.as_deref(), Some(PUBLIC_ARM_SCOPE));
    }

    #[test]
    fn type_errors_name_the_key_and_never_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (text, key) in [
            ("tenant_id = \"contoso.onmicrosoft.com\"\nclient_secret = 918273645546372819\n", "client_secret"),
            ("client_id = 1234567890123456\n", "client_id"),
            ("timeouts = \"Abc8Q~hunter2-secret-value\"\n", "timeouts"),
            ("client_secret = [\"Abc8Q~hunter2-secret-value\"]\n", "client_secret"),
        ] {
            std::fs::write(&path, text).unwrap();
            let error = read_file(&path).unwrap_err().0;
            for secret in ["91827364", "12345678", "hunter2", "Abc8Q~"] {
                assert!(!error.contains(secret), "{error}");
            }
            assert!(error.contains(&format!("key {key}")), "{error}");
            assert!(error.contains("expected"), "says what shape was expected: {error}");
        }
    }

    #[test]
    fn file_errors_do_not_quote_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "client_secret = \"hunter2-secret\"\nclient_secrt = 1\n").unwrap();
        let error = read_file(&path).unwrap_err();
        assert!(!error.0.contains("hunter2-secret"), "{error}");
        assert!(error.0.contains("client_secrt"), "names the unknown key: {error}");
        assert!(!format!("{:?}", read_file(&path)).contains("hunter2"));
    }
}
