//! What a failed call says to a person: one line per error, the CLI's and
//! [`CallError`]'s `Display`.

use sentinel_connector::core::error::{sentence, PROTECTED_HINT};

use crate::runtime::types::Error as ConnectorError;
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

/// One line for a connector error: what happened and the hint.
pub fn describe(error: &ConnectorError) -> String {
    use ConnectorError as E;
    match error {
        E::InvalidInput(i) => format!("invalid input: {}: {}", i.field, i.reason),
        E::Auth(f) | E::Forbidden(f) | E::NotFound(f) | E::Conflict(f) | E::BadRequest(f) | E::Service(f) => {
            let status = if f.status == 0 { String::new() } else { format!("{} ", f.status) };
            format!("{}: {status}{}. Hint: {}", kind(error), sentence(&f.code, &f.message), f.hint)
        }
        E::Throttled(t) => {
            let after = t.retry_after_seconds.map(|s| format!(" (retry after {s} s)")).unwrap_or_default();
            format!(
                "throttled: {} {}{after}. Hint: {}",
                t.failure.status,
                sentence(&t.failure.code, &t.failure.message),
                t.failure.hint
            )
        }
        E::Transport(l) | E::InvalidResponse(l) => {
            format!("{}: {}. Hint: {}", kind(error), l.message.trim_end_matches('.'), l.hint)
        }
        E::ProtectedAccount(p) => {
            format!(
                "protected-account: {} is protected ({}); nothing was sent to change it. Hint: {}",
                p.user, p.reason, PROTECTED_HINT
            )
        }
    }
}

/// The error's case as the WIT spells it.
pub fn kind(error: &ConnectorError) -> &'static str {
    use ConnectorError as E;
    match error {
        E::InvalidInput(_) => "invalid-input",
        E::Auth(_) => "auth",
        E::Forbidden(_) => "forbidden",
        E::NotFound(_) => "not-found",
        E::Conflict(_) => "conflict",
        E::Throttled(_) => "throttled",
        E::BadRequest(_) => "bad-request",
        E::Service(_) => "service",
        E::Transport(_) => "transport",
        E::InvalidResponse(_) => "invalid-response",
        E::ProtectedAccount(_) => "protected-account",
    }
}
