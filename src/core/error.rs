//! The one error type, one case per kind of the WIT `error` (the component
//! flattens it into that record), and the mapping of Microsoft's error
//! answers (ARM CloudError, Entra token errors) into it, each with a hint a
//! SOC engineer can act on.

use std::fmt;

use serde::Deserialize;

use super::http::{Request, Response, CLIENT_REQUEST_ID, GRAPH_REQUEST_ID, REQUEST_ID};
use super::redact::{escape_controls, truncate_chars, Redactor};
use super::sentinel::versions;

/// How much of a message an error shows, counted after secrets are redacted.
pub const MAX_MESSAGE_CHARS: usize = 500;
/// How much of a service's message is kept for redaction at all: a bound on
/// the work, never a cut that matters (a fragment shorter than
/// [`super::redact::MIN_PART`] is all a cut can leave of a secret).
const MAX_KEPT_CHARS: usize = 8192;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub hint: String,
    /// Boxed: every `Result` of the core carries this error, and the ids are
    /// read only when a call fails.
    pub trace: Box<Trace>,
}

/// Which request failed, in the terms Microsoft support searches by: the
/// `x-ms-client-request-id` this connector sent (a fresh UUID per request)
/// and the id the service gave its answer (`x-ms-request-id`; Graph's
/// `request-id`). Empty where there was no request or no answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub client_request_id: String,
    pub request_id: String,
}

impl Trace {
    /// The ids of `request` and, when one was read, of its answer.
    pub fn of(request: &Request, response: Option<&Response>) -> Self {
        let service_id = response.and_then(|r| r.header(REQUEST_ID).or_else(|| r.header(GRAPH_REQUEST_ID)));
        Trace {
            client_request_id: request.header_value(CLIENT_REQUEST_ID).unwrap_or_default().to_owned(),
            // A header is the service's text: kept only when it looks like an id.
            request_id: service_id.filter(|id| is_request_id(id)).unwrap_or_default().to_owned(),
        }
    }
}

/// Request ids are GUIDs or short tokens of letters, digits and dashes; a
/// header longer or stranger than that is not shown.
fn is_request_id(text: &str) -> bool {
    text.len() <= 128 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

impl ServiceFailure {
    /// The service's code and message made safe to show, as [`Error::scrub`] does.
    pub fn scrub(mut self, secrets: &[&str]) -> Self {
        let redactor = Redactor::new(secrets.iter().copied());
        for text in [&mut self.code, &mut self.message] {
            *text = shown_safely(&redactor, text);
        }
        self
    }
}

/// Redacted, control characters escaped, then (never before) cut.
fn shown_safely(redactor: &Redactor, text: &str) -> String {
    truncate_chars(&escape_controls(&redactor.redact(text)), MAX_MESSAGE_CHARS)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalFailure {
    pub message: String,
    pub hint: String,
    /// Boxed: every `Result` of the core carries this error, and the ids are
    /// read only when a call fails.
    pub trace: Box<Trace>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    InvalidInput {
        field: String,
        reason: String,
    },
    Auth(ServiceFailure),
    Forbidden(ServiceFailure),
    NotFound(ServiceFailure),
    Conflict(ServiceFailure),
    Throttled {
        retry_after_seconds: Option<u32>,
        failure: ServiceFailure,
    },
    BadRequest(ServiceFailure),
    Service(ServiceFailure),
    Transport(LocalFailure),
    InvalidResponse(LocalFailure),
    /// A containment action refused because the account is protected; nothing was changed.
    Protected {
        user: String,
        reason: String,
    },
}

impl Error {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidInput { field: field.to_owned(), reason: reason.into() }
    }

    pub fn transport(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Transport(LocalFailure { message: message.into(), hint: hint.into(), ..LocalFailure::default() })
    }

    pub fn invalid_response(message: impl Into<String>) -> Self {
        Error::InvalidResponse(LocalFailure {
            message: message.into(),
            hint:
                "The service answered in a shape this connector does not know; check the endpoint URLs and api-version."
                    .into(),
            ..LocalFailure::default()
        })
    }

    /// An `auth` error raised on this side, before any request.
    pub fn auth_local(code: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Auth(ServiceFailure {
            code: code.to_owned(),
            message: message.into(),
            hint: hint.into(),
            ..ServiceFailure::default()
        })
    }

    /// Maps an unsuccessful answer from ARM, Log Analytics or Graph.
    pub fn from_service_response(response: &Response) -> Self {
        if (300..400).contains(&response.status) {
            return redirect(response);
        }
        let (code, message) = parse_error_body(&response.body)
            .unwrap_or_else(|| (format!("Http{}", response.status), body_excerpt(&response.body)));
        let hint = match code.as_str() {
            versions::INVALID_API_VERSION => versions::hint(&message),
            _ => hint_for(response.status, &code),
        };
        categorize(
            response,
            ServiceFailure { status: response.status, code, message, hint, ..ServiceFailure::default() },
        )
    }

    /// Maps an unsuccessful answer from the v2 token endpoint, whose body is
    /// `{error, error_description: "AADSTSnnnn: ...\r\nTrace ID: ...", error_codes}`.
    pub fn from_token_response(response: &Response) -> Self {
        let Ok(body) = serde_json::from_slice::<TokenErrorBody>(&response.body) else {
            return Error::from_service_response(response);
        };
        let code = body
            .error_codes
            .first()
            .map(|code| format!("AADSTS{code}"))
            .or(body.error)
            .unwrap_or_else(|| format!("Http{}", response.status));
        let message = first_line(body.error_description.as_deref().unwrap_or("the token request was refused"));
        let hint = hint_for(response.status, &code);
        let failure = ServiceFailure { status: response.status, code, message, hint, ..ServiceFailure::default() };
        match response.status {
            429 | 500..=599 => categorize(response, failure),
            _ => Error::Auth(failure),
        }
    }

    /// Makes the error safe to log or show whatever the service echoed back:
    /// every part of every secret, in any encoding, becomes `[redacted]`;
    /// control characters are escaped; then (never before) long texts are cut.
    pub fn scrub(mut self, secrets: &[&str]) -> Self {
        let redactor = Redactor::new(secrets.iter().copied());
        for text in self.texts_mut() {
            *text = shown_safely(&redactor, text);
        }
        self
    }

    /// The service's answer, for the kinds that carry one.
    pub fn service_failure(&self) -> Option<&ServiceFailure> {
        match self {
            Error::Auth(f)
            | Error::Forbidden(f)
            | Error::NotFound(f)
            | Error::Conflict(f)
            | Error::BadRequest(f)
            | Error::Service(f)
            | Error::Throttled { failure: f, .. } => Some(f),
            Error::InvalidInput { .. } | Error::Transport(_) | Error::InvalidResponse(_) | Error::Protected { .. } => {
                None
            }
        }
    }

    fn texts_mut(&mut self) -> Vec<&mut String> {
        match self {
            Error::InvalidInput { reason, .. } => vec![reason],
            Error::Auth(f)
            | Error::Forbidden(f)
            | Error::NotFound(f)
            | Error::Conflict(f)
            | Error::BadRequest(f)
            | Error::Service(f)
            | Error::Throttled { failure: f, .. } => vec![&mut f.message, &mut f.code],
            Error::Transport(f) | Error::InvalidResponse(f) => vec![&mut f.message],
            Error::Protected { user, reason } => vec![user, reason],
        }
    }

    /// The error with the ids of the request that failed (see [`Trace`]);
    /// errors no request caused are returned unchanged.
    pub fn traced(mut self, trace: Trace) -> Self {
        if let Some(slot) = self.trace_mut() {
            **slot = trace;
        }
        self
    }

    /// The ids of the request that failed, when a request did.
    pub fn trace(&self) -> Option<&Trace> {
        match self {
            Error::Transport(f) | Error::InvalidResponse(f) => Some(&f.trace),
            other => other.service_failure().map(|f| &*f.trace),
        }
    }

    fn trace_mut(&mut self) -> Option<&mut Box<Trace>> {
        match self {
            Error::Auth(f)
            | Error::Forbidden(f)
            | Error::NotFound(f)
            | Error::Conflict(f)
            | Error::BadRequest(f)
            | Error::Service(f)
            | Error::Throttled { failure: f, .. } => Some(&mut f.trace),
            Error::Transport(f) | Error::InvalidResponse(f) => Some(&mut f.trace),
            Error::InvalidInput { .. } | Error::Protected { .. } => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid-input",
            Error::Auth(_) => "auth",
            Error::Forbidden(_) => "forbidden",
            Error::NotFound(_) => "not-found",
            Error::Conflict(_) => "conflict",
            Error::Throttled { .. } => "throttled",
            Error::BadRequest(_) => "bad-request",
            Error::Service(_) => "service",
            Error::Transport(_) => "transport",
            Error::InvalidResponse(_) => "invalid-response",
            Error::Protected { .. } => "protected-account",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidInput { field, reason } => write!(f, "invalid input: {field}: {reason}"),
            Error::Throttled { retry_after_seconds, failure } => {
                write!(f, "throttled: {} {}", failure.status, sentence(&failure.code, &failure.message))?;
                if let Some(seconds) = retry_after_seconds {
                    write!(f, " (retry after {seconds} s)")?;
                }
                write!(f, ". Hint: {}", failure.hint)
            }
            Error::Auth(s) | Error::Forbidden(s) | Error::NotFound(s) | Error::Conflict(s) | Error::BadRequest(s) | Error::Service(s) => {
                write!(f, "{}: {} {}. Hint: {}", self.kind(), s.status, sentence(&s.code, &s.message), s.hint)
            }
            Error::Transport(l) | Error::InvalidResponse(l) => write!(f, "{}: {}. Hint: {}", self.kind(), l.message.trim_end_matches('.'), l.hint),
            Error::Protected { user, reason } => write!(f, "protected-account: {user} is protected ({reason}); nothing was sent to change it. Hint: {PROTECTED_HINT}"),
        }
    }
}

impl std::error::Error for Error {}

pub const PROTECTED_HINT: &str = "Break-glass and admin accounts are listed in the connection's protected-accounts on purpose; contain this account by hand if you must.";

/// `code: message` without repeating a code the message already starts with
/// (Entra's do) and without a trailing period, so a hint can follow.
pub fn sentence(code: &str, message: &str) -> String {
    let message = message.trim_end_matches('.');
    if message.starts_with(code) {
        message.to_owned()
    } else {
        format!("{code}: {message}")
    }
}

fn categorize(response: &Response, failure: ServiceFailure) -> Error {
    match failure.status {
        401 => Error::Auth(failure),
        403 => Error::Forbidden(failure),
        404 => Error::NotFound(failure),
        409 => Error::Conflict(failure),
        429 => Error::Throttled { retry_after_seconds: retry_after_seconds(response), failure },
        400 | 405 | 411 | 412 | 413 | 415 | 422 => Error::BadRequest(failure),
        _ => Error::Service(failure),
    }
}

/// `Retry-After` as delta-seconds, saturated to what the field holds. (An
/// HTTP-date form is handled with retries.)
pub fn retry_after_seconds(response: &Response) -> Option<u32> {
    let seconds: u64 = response.header("retry-after")?.trim().parse().ok()?;
    Some(u32::try_from(seconds).unwrap_or(u32::MAX))
}

/// A bearer token must never follow a redirect to wherever it points, and
/// Azure's APIs do not redirect: the answer is refused, only its origin named.
fn redirect(response: &Response) -> Error {
    let target = response
        .header("location")
        .and_then(|location| url::Url::parse(location).ok())
        .map_or_else(|| "elsewhere".to_owned(), |url| url.origin().ascii_serialization());
    Error::InvalidResponse(LocalFailure {
        message: format!(
            "the service answered {} redirecting to {target}; redirects are never followed",
            response.status
        ),
        hint: "Check the endpoint URLs: Azure's APIs do not redirect, a proxy or a wrong URL does.".into(),
        ..LocalFailure::default()
    })
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    /// Graph's `innerError` (`innererror` in older answers): the request id
    /// Microsoft support asks for, and when it happened.
    #[serde(default, rename = "innerError", alias = "innererror")]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(default, rename = "request-id")]
    request_id: Option<String>,
    #[serde(default)]
    date: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

/// Reads ARM's CloudError, ARM v5 ErrorResponse, Log Analytics and Graph error
/// bodies: all nest `code` and `message` under `error`.
fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let envelope: ErrorEnvelope = serde_json::from_slice(body).ok()?;
    let code = envelope.error.code.filter(|code| !code.is_empty())?;
    let code = truncate_chars(&code, 200);
    let mut message = truncate_chars(&envelope.error.message.unwrap_or_default(), MAX_KEPT_CHARS);
    if let Some(InnerError { request_id: Some(id), date }) = envelope.error.inner_error {
        let at = date.map(|d| format!(" at {d}")).unwrap_or_default();
        message = format!("{} (request-id {id}{at})", message.trim_end_matches('.'));
    }
    Some((code, message))
}

fn first_line(text: &str) -> String {
    truncate_chars(text.lines().next().unwrap_or_default().trim(), MAX_KEPT_CHARS)
}

/// A body that is not Microsoft's error shape, as text. Shown only after
/// [`Error::scrub`], which cuts it to [`MAX_MESSAGE_CHARS`].
fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_KEPT_CHARS * 4)]);
    let text = text.trim();
    if text.is_empty() {
        return "the service sent no error body".into();
    }
    truncate_chars(text, MAX_KEPT_CHARS)
}

/// What to do about an error, from the seeds' troubleshooting tables and
/// Microsoft's documented codes. Codes first, then the status.
pub fn hint_for(status: u16, code: &str) -> String {
    let by_code = match code {
        "AADSTS7000215" => "The client secret is wrong: use the secret's Value (not its Secret ID) from the app registration's Certificates & secrets, or create a new secret.",
        "AADSTS7000222" => "The client secret has expired: create a new secret in the app registration.",
        "AADSTS700016" => "No application with this client id exists in the tenant: check the client id and the tenant id. A multi-tenant app must be consented in this tenant (its admin opens https://login.microsoftonline.com/<tenant>/adminconsent?client_id=<app>); Azure Lighthouse delegations reach ARM from the managing tenant, but Log Analytics and Graph need the app in the customer's own tenant.",
        "AADSTS90002" => "The tenant was not found: check the tenant id (the Directory (tenant) ID or a verified domain) and the cloud.",
        "AADSTS70011" => "The token scope is not valid for this cloud: check the cloud setting and any custom scope.",
        "AADSTS900144" | "AADSTS90014" => "The token request is missing a field: check the client id and credential.",
        "AADSTS50034" => "The credential was not accepted: check the client id and credential.",
        "AADSTS700027" => "The client assertion's signature was not accepted: for a federated token, check that its issuer is the one in the app's federated credential; for a certificate, that the certificate is uploaded to the app registration.",
        "AADSTS700021" => "The client assertion's iss and sub must both be the client id: check the client id configured.",
        "AADSTS700023" => "The client assertion's audience is not this tenant's token endpoint: check the tenant id and the cloud's login URL.",
        "AADSTS700024" => "The client assertion has expired: read a fresh federated token (AZURE_FEDERATED_TOKEN_FILE is rotated by its issuer) and open the connection again.",
        "AADSTS70021" => "No federated credential of the app matches the token: check the federated credential's issuer, subject and audience (api://AzureADTokenExchange) in the app registration.",
        "AuthorizationFailed" => "The app has no role on the workspace: assign Microsoft Sentinel Reader to read, or Microsoft Sentinel Responder or Contributor to change incidents, on the workspace or its resource group; new role assignments take a few minutes.",
        "InvalidAuthenticationTokenAudience" => "The token was issued for another API or cloud: check the cloud setting and any custom scopes.",
        "ExpiredAuthenticationToken" => "The access token has expired: give the connection a fresh token, or use a client secret so it refreshes itself.",
        "InvalidAuthenticationToken" | "AuthenticationFailed" => "The access token was rejected: check the credentials and that the token is for this cloud.",
        "SubscriptionNotFound" => "The subscription was not found: check the subscription id and that the app can see it.",
        "ResourceGroupNotFound" => "The resource group was not found: check the resource group name.",
        "ResourceNotFound" | "ParentResourceNotFound" => "The workspace was not found: check the subscription id, the resource group and the workspace name (the name, not the workspace GUID).",
        "MissingApiVersionParameter" | "NoRegisteredProviderFound" => "The api-version is not supported here: use 2025-09-01 (the default).",
        "InvalidResourceType" => "The resource type is not known: check that Microsoft Sentinel is enabled on the workspace.",
        _ => "",
    };
    if !by_code.is_empty() {
        return by_code.to_owned();
    }
    match status {
        400 => "The service refused the request's content: check the values, the OData filter and orderby syntax.",
        401 => "The request was not authenticated: check the credentials.",
        403 => "The identity lacks a role or permission: grant the app a Microsoft Sentinel role on the workspace and admin consent for its API permissions.",
        404 => "Not found: check the id (an incident's id is its GUID name, not its number) and the workspace settings.",
        405 => "The service does not allow this method on this resource.",
        409 => "Someone changed the resource since it was read: read it again and retry.",
        429 => "Azure is throttling this app: wait for the retry-after time before calling again.",
        500..=599 => "Azure had a problem answering: retry later.",
        _ => "Check the request and the connection settings.",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response { status, headers: vec![("Retry-After".into(), "17".into())], body: body.as_bytes().to_vec() }
    }

    #[test]
    fn token_error_fixture_maps_to_auth_with_aadsts_code() {
        let body = include_str!("../../tests/fixtures/azure-specs/auth/docs-token-error-invalid_scope.json");
        let Error::Auth(failure) = Error::from_token_response(&response(400, body)) else { panic!("not auth") };
        assert_eq!(failure.code, "AADSTS70011");
        assert!(failure.message.starts_with("AADSTS70011: The provided value"));
        assert!(!failure.message.contains("Trace ID"), "trace lines are dropped from the message");
        assert!(failure.hint.contains("scope"));
    }

    #[test]
    fn arm_cloud_error_maps_by_status_with_hint() {
        let body = r#"{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have authorization"}}"#;
        let Error::Forbidden(failure) = Error::from_service_response(&response(403, body)) else { panic!() };
        assert_eq!(failure.code, "AuthorizationFailed");
        assert!(failure.hint.contains("Microsoft Sentinel Reader"));
    }

    #[test]
    fn graph_errors_keep_the_request_id_for_support() {
        let body = include_str!("../../tests/fixtures/azure-specs/graph/docs-error-example.json");
        let Error::BadRequest(failure) = Error::from_service_response(&response(400, body)) else {
            panic!("not bad-request")
        };
        assert_eq!(failure.code, "invalidRange");
        assert_eq!(
            failure.message,
            "Uploaded fragment overlaps with existing data (request-id request-id at date-time)"
        );
        let denied = r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"date":"2026-12-02T10:00:00","request-id":"5f1c"}}}"#;
        let Error::Forbidden(failure) = Error::from_service_response(&response(403, denied)) else {
            panic!("not forbidden")
        };
        assert!(failure.message.ends_with("(request-id 5f1c at 2026-12-02T10:00:00)"), "{}", failure.message);
    }

    #[test]
    fn throttled_carries_retry_after() {
        let error =
            Error::from_service_response(&response(429, r#"{"error":{"code":"TooManyRequests","message":"slow"}}"#));
        assert!(matches!(error, Error::Throttled { retry_after_seconds: Some(17), .. }));
    }

    #[test]
    fn non_json_error_body_is_kept_as_message() {
        let Error::Service(failure) = Error::from_service_response(&response(502, "<html>Bad Gateway</html>")) else {
            panic!()
        };
        assert_eq!(failure.code, "Http502");
        assert_eq!(failure.message, "<html>Bad Gateway</html>");
    }

    #[test]
    fn scrub_removes_secrets_from_messages() {
        let error = Error::from_service_response(&response(
            400,
            r#"{"error":{"code":"BadRequest","message":"bad value s3cr3t-value"}}"#,
        ));
        let shown = error.scrub(&["s3cr3t-value"]).to_string();
        assert!(!shown.contains("s3cr3t-value"));
        assert!(shown.contains("[redacted]"));
    }
}
