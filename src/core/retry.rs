//! When to retry and how long to wait: exponential backoff with full jitter,
//! `Retry-After` honoured (seconds or an HTTP date), bounded by a retry count
//! and a total deadline. Plain functions: the client asks, then sleeps through
//! its transport.

use std::time::{Duration, SystemTime};

use super::http::Response;

/// The azure-sdk defaults, with a shorter total so a playbook step stays responsive.
/// Read from a configuration file's `[retry]` table as it is (every key
/// needed, unknown keys refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub initial_delay_ms: u32,
    pub max_delay_ms: u32,
    /// No retry starts after this much time has passed since the first attempt.
    pub total_budget_ms: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_retries: 4, initial_delay_ms: 500, max_delay_ms: 30_000, total_budget_ms: 60_000 }
    }
}

/// Transient answers: request timeout, throttling, and the server errors ARM
/// documents as retryable.
pub fn is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    GiveUp,
}

/// `attempt` counts from 0 (the first try); `elapsed` is the time since it
/// started; `jitter` is a random value (any u64) from the transport.
pub fn decide(
    policy: &RetryPolicy,
    response: &Response,
    attempt: u32,
    elapsed: Duration,
    now: SystemTime,
    jitter: u64,
) -> Decision {
    if !is_retryable(response.status) || attempt >= policy.max_retries {
        return Decision::GiveUp;
    }
    let delay = retry_after(response, now).unwrap_or_else(|| backoff(policy, attempt, jitter));
    let budget = Duration::from_millis(u64::from(policy.total_budget_ms));
    if elapsed.saturating_add(delay) > budget {
        return Decision::GiveUp;
    }
    Decision::RetryAfter(delay)
}

/// Full jitter: a random delay between zero and the exponential bound.
pub fn backoff(policy: &RetryPolicy, attempt: u32, jitter: u64) -> Duration {
    let bound =
        u64::from(policy.initial_delay_ms).saturating_mul(1 << attempt.min(20)).min(u64::from(policy.max_delay_ms));
    Duration::from_millis(jitter % (bound + 1))
}

/// No wait the network asks for is taken as longer than a day: the value is
/// the service's (or an attacker's), the arithmetic on it must not overflow.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// `Retry-After` as delta-seconds or an HTTP date, as RFC 9110 allows,
/// clamped to [`MAX_RETRY_AFTER`].
pub fn retry_after(response: &Response, now: SystemTime) -> Option<Duration> {
    let value = response.header("retry-after")?.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value).ok()?.duration_since(now).unwrap_or(Duration::ZERO),
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<&str>) -> Response {
        let headers = retry_after.map(|v| vec![("Retry-After".to_owned(), v.to_owned())]).unwrap_or_default();
        Response { status, headers, body: Vec::new() }
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        let policy = RetryPolicy::default();
        for status in [400, 401, 403, 404, 409, 412] {
            assert_eq!(
                decide(&policy, &answer(status, None), 0, Duration::ZERO, SystemTime::now(), 7),
                Decision::GiveUp,
                "{status}"
            );
        }
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    decide(&policy, &answer(status, None), 0, Duration::ZERO, SystemTime::now(), 7),
                    Decision::RetryAfter(_)
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_and_dates_are_honoured() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let policy = RetryPolicy::default();
        assert_eq!(
            decide(&policy, &answer(429, Some("7")), 0, Duration::ZERO, now, 0),
            Decision::RetryAfter(Duration::from_secs(7))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(12));
        assert_eq!(
            decide(&policy, &answer(503, Some(&date)), 0, Duration::ZERO, now, 0),
            Decision::RetryAfter(Duration::from_secs(12))
        );
    }

    #[test]
    fn the_count_and_the_budget_bound_the_retries() {
        let policy = RetryPolicy { max_retries: 2, total_budget_ms: 10_000, ..RetryPolicy::default() };
        assert_eq!(decide(&policy, &answer(500, None), 2, Duration::ZERO, SystemTime::now(), 1), Decision::GiveUp);
        assert_eq!(
            decide(&policy, &answer(429, Some("30")), 0, Duration::ZERO, SystemTime::now(), 1),
            Decision::GiveUp,
            "past the budget"
        );
        assert_eq!(
            decide(&policy, &answer(429, Some("3")), 1, Duration::from_secs(8), SystemTime::now(), 1),
            Decision::GiveUp
        );
    }

    #[test]
    fn a_huge_retry_after_is_clamped_and_gives_up_without_overflow() {
        let policy = RetryPolicy::default();
        let huge = answer(429, Some("18446744073709551615"));
        assert_eq!(retry_after(&huge, SystemTime::now()), Some(MAX_RETRY_AFTER));
        assert_eq!(decide(&policy, &huge, 0, Duration::MAX, SystemTime::now(), u64::MAX), Decision::GiveUp);
        assert_eq!(
            decide(&policy, &huge, 0, Duration::ZERO, SystemTime::now(), 0),
            Decision::GiveUp,
            "past the budget"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy { initial_delay_ms: 100, max_delay_ms: 1_000, ..RetryPolicy::default() };
        assert!(backoff(&policy, 0, u64::MAX) <= Duration::from_millis(100));
        assert!(backoff(&policy, 3, u64::MAX) <= Duration::from_millis(800));
        assert!(backoff(&policy, 10, u64::MAX) <= Duration::from_millis(1_000));
    }
}
