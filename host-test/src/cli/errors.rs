//! What a failed call says to a person: one line per error, the CLI's and
//! [`CallError`]'s `Display`.

use sentinel_connector::core::error::{sentence, PROTECTED_HINT};

use crate::runtime::types::ConnectorError;
use crate::runtime::CallError;

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connector(error) => write!(f, "{}", describe(error)),
            CallError::Timeout(after) => {
                write!(f, "the call was stopped after {} s (the host's call deadline)", after.as_secs_f64())
            }
            CallError::Trap(reason) => write!(f, "the connector stopped abnormally: {reason}"),
            CallError::AtCapacity { max_sessions } => write!(
                f,
                "this host has its {max_sessions} sessions open (the operator's max_sessions); \
                 close a session or raise max_sessions"
            ),
        }
    }
}

/// One line for a connector error: what happened and the hint, then the
/// request's ids when a request failed (what Microsoft support asks for).
pub fn describe(error: &ConnectorError) -> String {
    let mut line = what_happened(error);
    if !error.client_request_id.is_empty() {
        line.push_str(&format!(" (client request id {}", error.client_request_id));
        if !error.request_id.is_empty() {
            line.push_str(&format!(", request id {}", error.request_id));
        }
        line.push(')');
    }
    line
}

fn what_happened(error: &ConnectorError) -> String {
    use crate::runtime::types::ErrorKind as K;
    let e = error;
    match e.kind {
        K::InvalidInput => format!("invalid input: {}: {}", e.subject, e.message),
        K::Transport | K::InvalidResponse => {
            format!("{}: {}. Hint: {}", kind(e), e.message.trim_end_matches('.'), e.hint)
        }
        K::ProtectedAccount => format!(
            "protected-account: {} is protected ({}); nothing was sent to change it. Hint: {}",
            e.subject, e.message, PROTECTED_HINT
        ),
        K::Throttled => {
            let after = e.retry_after_seconds.map(|s| format!(" (retry after {s} s)")).unwrap_or_default();
            format!("throttled: {} {}{after}. Hint: {}", e.status, sentence(&e.code, &e.message), e.hint)
        }
        K::Auth | K::Forbidden | K::NotFound | K::Conflict | K::BadRequest | K::Service => {
            let status = if e.status == 0 { String::new() } else { format!("{} ", e.status) };
            format!("{}: {status}{}. Hint: {}", kind(e), sentence(&e.code, &e.message), e.hint)
        }
    }
}

/// The error's kind as the WIT spells it.
pub fn kind(error: &ConnectorError) -> &'static str {
    use crate::runtime::types::ErrorKind as K;
    match error.kind {
        K::InvalidInput => "invalid-input",
        K::Auth => "auth",
        K::Forbidden => "forbidden",
        K::NotFound => "not-found",
        K::Conflict => "conflict",
        K::Throttled => "throttled",
        K::BadRequest => "bad-request",
        K::Service => "service",
        K::Transport => "transport",
        K::InvalidResponse => "invalid-response",
        K::ProtectedAccount => "protected-account",
    }
}
