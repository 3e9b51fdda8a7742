//! OAuth 2.0 client credentials against the Microsoft identity platform v2
//! token endpoint, and a cache holding one token per API scope.

use serde::Deserialize;

use super::config::{Credential, Settings};
use super::error::Error;
use super::http::{Method, Request, Response, Secret};

/// The APIs the connector calls; each has its own token audience.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Arm,
    LogAnalytics,
    Graph,
}

impl Api {
    pub const ALL: [Api; 3] = [Api::Arm, Api::LogAnalytics, Api::Graph];

    pub fn name(self) -> &'static str {
        match self {
            Api::Arm => "Azure Resource Manager",
            Api::LogAnalytics => "Log Analytics",
            Api::Graph => "Microsoft Graph",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Refresh this long before the token's expiry, so a token never expires in
/// flight (long pollers got 401s after an hour in other integrations).
pub const REFRESH_MARGIN_SECS: u64 = 300;

#[derive(Clone, Debug)]
pub struct CachedToken {
    pub value: Secret,
    /// Unix time after which the token is no longer used.
    pub refresh_at: u64,
}

#[derive(Debug, Default)]
pub struct TokenCache {
    entries: [Option<CachedToken>; 3],
    /// Tokens forgotten after a 401, kept only so an error that still quotes
    /// one is redacted; the newest few.
    retired: Vec<Secret>,
}

/// How many forgotten tokens are still redacted.
const RETIRED_KEPT: usize = 6;

/// The longest lifetime taken from a token answer: Entra issues at most a
/// day; a larger (or hostile) `expires_in` must not overflow the clock.
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 60 * 60;

impl TokenCache {
    /// A token still good at `now`, if one is cached.
    pub fn get(&self, api: Api, now: u64) -> Option<&Secret> {
        let entry = self.entries[api.index()].as_ref()?;
        (now < entry.refresh_at).then_some(&entry.value)
    }

    pub fn put(&mut self, api: Api, token: CachedToken) {
        self.entries[api.index()] = Some(token);
    }

    /// Forgets a token the service refused, so the next call fetches a new one.
    pub fn forget(&mut self, api: Api) {
        if let Some(entry) = self.entries[api.index()].take() {
            if self.retired.len() == RETIRED_KEPT {
                self.retired.remove(0);
            }
            self.retired.push(entry.value);
        }
    }

    /// Every token held, and those recently forgotten.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().flatten().map(|entry| &entry.value).chain(&self.retired).map(Secret::expose)
    }
}

/// A token the host gave, for credentials that are not a client secret.
pub fn host_token(settings: &Settings, api: Api) -> Result<Option<&Secret>, Error> {
    let Credential::AccessTokens { arm, log_analytics, graph } = &settings.credential else {
        return Ok(None);
    };
    let token = match api {
        Api::Arm => arm,
        Api::LogAnalytics => log_analytics,
        Api::Graph => graph,
    };
    match token {
        Some(token) => Ok(Some(token)),
        None => Err(Error::auth_local(
            "NoAccessToken",
            format!("the connection was given no access token for {}", api.name()),
            "Pass a token for this API in credential.access-tokens, or use a client secret.",
        )),
    }
}

pub fn scope(settings: &Settings, api: Api) -> &str {
    match api {
        Api::Arm => &settings.endpoints.arm.scope,
        Api::LogAnalytics => &settings.endpoints.log_analytics.scope,
        Api::Graph => &settings.endpoints.graph.scope,
    }
}

/// How the app proves itself in the client-credentials grant.
pub enum ClientProof<'a> {
    Secret(&'a Secret),
    /// `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`.
    Assertion(&'a Secret),
}

/// The JWT-bearer assertion type of RFC 7521/7523, as Entra names it.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `{login}/{tenant}/oauth2/v2.0/token`: also a certificate assertion's `aud`.
pub fn token_url(settings: &Settings) -> url::Url {
    let mut url = settings.endpoints.login.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend([settings.tenant_id.as_str(), "oauth2", "v2.0", "token"]);
    }
    url
}

/// `POST {login}/{tenant}/oauth2/v2.0/token` with the client-credentials form.
pub fn token_request(settings: &Settings, proof: ClientProof, api: Api) -> Request {
    let url = token_url(settings);
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials").append_pair("client_id", &settings.client_id);
    match proof {
        ClientProof::Secret(secret) => form.append_pair("client_secret", secret.expose()),
        ClientProof::Assertion(assertion) => form
            .append_pair("client_assertion_type", JWT_BEARER)
            .append_pair("client_assertion", assertion.expose().trim()),
    };
    let form = form.append_pair("scope", scope(settings, api)).finish();
    let mut request = Request::new(Method::Post, url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    request.body = form.into_bytes();
    request
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    expires_in: ExpiresIn,
}

/// v2 sends an integer; v1 and some proxies send a string such as "3599".
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresIn {
    Number(u64),
    Text(String),
}

pub fn parse_token_response(response: &Response, now: u64) -> Result<CachedToken, Error> {
    if !response.is_success() {
        return Err(Error::from_token_response(response));
    }
    let body: TokenBody = serde_json::from_slice(&response.body)
        .map_err(|e| Error::invalid_response(format!("the token endpoint's answer could not be read: {e}")))?;
    if body.token_type.as_deref().is_some_and(|kind| !kind.eq_ignore_ascii_case("bearer")) {
        return Err(Error::invalid_response("the token endpoint issued a token that is not a bearer token"));
    }
    check_token_text(&body.access_token)?;
    let lifetime = match body.expires_in {
        ExpiresIn::Number(seconds) => seconds,
        ExpiresIn::Text(text) => text
            .trim()
            .parse()
            .map_err(|_| Error::invalid_response("the token endpoint's expires_in is not a number"))?,
    };
    Ok(CachedToken { value: Secret::new(body.access_token), refresh_at: now.saturating_add(usable_lifetime(lifetime)) })
}

/// A bearer token goes into a header: RFC 6750's token characters only, so an
/// answer cannot smuggle a line break (a second header) into every request.
fn check_token_text(token: &str) -> Result<(), Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=');
    if token.is_empty() || token.len() > 64 * 1024 || !token.chars().all(allowed) {
        return Err(Error::invalid_response("the token endpoint issued an access_token that is not a valid bearer token (empty, too long, or with characters a header cannot carry)"));
    }
    Ok(())
}

/// Clamped to [`MAX_TOKEN_LIFETIME_SECS`]; the margin is capped at half the
/// lifetime so short-lived tokens are still used.
fn usable_lifetime(lifetime: u64) -> u64 {
    let lifetime = lifetime.min(MAX_TOKEN_LIFETIME_SECS);
    lifetime - REFRESH_MARGIN_SECS.min(lifetime / 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::ConnectionConfig;

    fn settings() -> Settings {
        let config = ConnectionConfig {
            tenant_id: "contoso.onmicrosoft.com".into(),
            credential: Credential::ClientSecret(Secret::new("a&b=c secret")),
            ..crate::core::config::tests::sample_config()
        };
        Settings::from_config(config).unwrap()
    }

    #[test]
    fn token_request_is_a_v2_client_credentials_form() {
        let settings = settings();
        let secret = Secret::new("a&b=c secret");
        let request = token_request(&settings, ClientProof::Secret(&secret), Api::LogAnalytics);
        assert_eq!(request.url.as_str(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        assert!(form.contains(&("grant_type".into(), "client_credentials".into())));
        assert!(form.contains(&("client_secret".into(), "a&b=c secret".into())), "secret is form-encoded");
        assert!(form.contains(&("scope".into(), "https://api.loganalytics.io/.default".into())));
        assert!(!format!("{request:?}").contains("secret"), "Debug never shows the body");
    }

    #[test]
    fn fixture_success_is_cached_until_the_refresh_margin() {
        let body = include_str!("../../tests/fixtures/azure-specs/auth/docs-token-success-client-credentials.json");
        let response = Response { status: 200, headers: vec![], body: body.as_bytes().to_vec() };
        let token = parse_token_response(&response, 1_000).unwrap();
        assert_eq!(token.refresh_at, 1_000 + 3599 - REFRESH_MARGIN_SECS);
        let mut cache = TokenCache::default();
        cache.put(Api::Arm, token);
        assert!(cache.get(Api::Arm, 1_000 + 3000).is_some());
        assert!(cache.get(Api::Arm, 1_000 + 3300).is_none(), "refreshed ahead of expiry");
        assert!(cache.get(Api::Graph, 1_000).is_none(), "one token per scope");
    }

    #[test]
    fn string_expires_in_and_short_lifetimes() {
        let body = br#"{"token_type":"Bearer","expires_in":"60","access_token":"t"}"#;
        let token = parse_token_response(&Response { status: 200, headers: vec![], body: body.to_vec() }, 0).unwrap();
        assert_eq!(token.refresh_at, 30);
    }

    fn answer(body: &str) -> Response {
        Response { status: 200, headers: vec![], body: body.as_bytes().to_vec() }
    }

    #[test]
    fn a_huge_expires_in_is_clamped_and_cached() {
        let token = parse_token_response(
            &answer(r#"{"token_type":"Bearer","expires_in":18446744073709551615,"access_token":"t"}"#),
            u64::MAX - 5,
        )
        .unwrap();
        assert_eq!(token.refresh_at, u64::MAX, "saturated, not wrapped");
        let token = parse_token_response(
            &answer(r#"{"token_type":"Bearer","expires_in":18446744073709551615,"access_token":"t"}"#),
            1_000,
        )
        .unwrap();
        assert_eq!(token.refresh_at, 1_000 + MAX_TOKEN_LIFETIME_SECS - REFRESH_MARGIN_SECS);
    }

    #[test]
    fn a_token_that_cannot_be_a_header_is_refused() {
        for token in ["a\r\nX-Injected: 1", "a b", "", "tök"] {
            let body = format!(r#"{{"token_type":"Bearer","expires_in":60,"access_token":"{token}"}}"#);
            assert!(matches!(parse_token_response(&answer(&body), 0), Err(Error::InvalidResponse(_))), "{token}");
        }
    }

    #[test]
    fn a_forgotten_token_is_still_redacted() {
        let mut cache = TokenCache::default();
        cache.put(Api::Arm, CachedToken { value: Secret::new("tok-abcdefgh"), refresh_at: 10 });
        cache.forget(Api::Arm);
        assert!(cache.get(Api::Arm, 0).is_none());
        assert_eq!(cache.secrets().collect::<Vec<_>>(), ["tok-abcdefgh"]);
    }

    #[test]
    fn missing_host_token_is_an_auth_error() {
        let mut settings = settings();
        settings.credential =
            Credential::AccessTokens { arm: Some(Secret::new("t")), log_analytics: None, graph: None };
        assert!(host_token(&settings, Api::Arm).unwrap().is_some());
        assert!(matches!(host_token(&settings, Api::Graph), Err(Error::Auth(_))));
    }
}
