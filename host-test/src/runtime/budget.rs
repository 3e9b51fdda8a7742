//! The operator's request budget: token buckets per tenant session and per
//! Azure subscription, shared by everything a session sends (pollers,
//! detail fetches, actions), so one busy tenant cannot get a whole
//! subscription throttled.
//!
//! Each request takes a token from its tenant's bucket and, when it goes to
//! ARM (`/subscriptions/{id}/...`), from that subscription's; it waits when
//! either is empty. ARM says how much of the subscription's quota is left
//! on every answer (`x-ms-ratelimit-remaining-subscription-reads` and
//! `-writes`); the subscription's bucket never holds more than that, less a
//! reserve for the subscription's other clients, so when other processes
//! (another worker of a fleet, the portal, other tools) use the quota, this
//! host slows down before ARM answers 429.
//!
//! The buckets are plain data over `Instant`s: tested without waiting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A rate: `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// The bucket's size.
    pub burst: f64,
    /// Tokens added each second.
    pub per_second: f64,
}

impl Rate {
    /// ARM's documented subscription read bucket: 250, refilled 25 a second.
    pub const ARM_SUBSCRIPTION_READS: Rate = Rate { burst: 250.0, per_second: 25.0 };
}

/// One token bucket.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: Rate,
    /// May go below zero: requests already promised a later slot.
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate, now: Instant) -> TokenBucket {
        TokenBucket { rate, tokens: rate.burst, updated: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_second).min(self.rate.burst);
        self.updated = self.updated.max(now);
    }

    /// Takes a token for a request; how long it must wait first (zero when
    /// one was there). Waiting requests queue: each takes the next slot.
    pub fn take(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        let seconds = -self.tokens / self.rate.per_second.max(f64::MIN_POSITIVE);
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }

    /// What the service says is left: never hold more than that.
    pub fn at_most(&mut self, remaining: f64, now: Instant) {
        self.refill(now);
        self.tokens = self.tokens.min(remaining);
    }
}

/// The host's budgets: one bucket per session label (the tenant) and one
/// per subscription, made on first use.
#[derive(Debug)]
pub struct RequestBudget {
    tenant_rate: Rate,
    subscription_rate: Rate,
    /// Of ARM's remaining quota, this much is left to the subscription's
    /// other clients.
    reserve: f64,
    tenants: Mutex<HashMap<String, TokenBucket>>,
    subscriptions: Mutex<HashMap<String, TokenBucket>>,
}

impl RequestBudget {
    /// Budgets at these rates; `reserve` requests of ARM's remaining quota
    /// are never used by this host.
    pub fn new(tenant_rate: Rate, subscription_rate: Rate, reserve: u32) -> RequestBudget {
        RequestBudget {
            tenant_rate,
            subscription_rate,
            reserve: f64::from(reserve),
            tenants: Mutex::default(),
            subscriptions: Mutex::default(),
        }
    }

    /// Takes a token from the tenant's bucket and, for an ARM path, the
    /// subscription's; the wait before the request may go.
    pub fn admit(&self, tenant: &str, path: &str, now: Instant) -> Duration {
        let mut wait = take(&self.tenants, tenant, self.tenant_rate, now);
        if let Some(subscription) = subscription_of(path) {
            wait = wait.max(take(&self.subscriptions, &subscription, self.subscription_rate, now));
        }
        wait
    }

    /// Reads ARM's `x-ms-ratelimit-remaining-subscription-*` headers of an
    /// answer to `path`; the subscription's bucket keeps below them.
    pub fn observe(&self, path: &str, headers: &http::HeaderMap, now: Instant) {
        let Some(subscription) = subscription_of(path) else { return };
        let remaining = ["x-ms-ratelimit-remaining-subscription-reads", "x-ms-ratelimit-remaining-subscription-writes"]
            .iter()
            .filter_map(|name| headers.get(*name)?.to_str().ok()?.trim().parse::<u32>().ok())
            .min();
        if let Some(remaining) = remaining {
            let mut buckets = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
            let bucket = buckets.entry(subscription).or_insert_with(|| TokenBucket::new(self.subscription_rate, now));
            bucket.at_most(f64::from(remaining) - self.reserve, now);
        }
    }
}

fn take(buckets: &Mutex<HashMap<String, TokenBucket>>, key: &str, rate: Rate, now: Instant) -> Duration {
    let mut buckets = buckets.lock().unwrap_or_else(|p| p.into_inner());
    match buckets.get_mut(key) {
        Some(bucket) => bucket.take(now),
        None => buckets.entry(key.to_owned()).or_insert_with(|| TokenBucket::new(rate, now)).take(now),
    }
}

/// The subscription of an ARM path (`/subscriptions/{id}/...`), lower-cased.
pub fn subscription_of(path: &str) -> Option<String> {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next()?;
    let id = segments.next().filter(|id| !id.is_empty())?;
    first.eq_ignore_ascii_case("subscriptions").then(|| id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate { burst: 3.0, per_second: 2.0 };

    #[test]
    fn a_bucket_lets_its_burst_through_then_spaces_requests_by_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(RATE, start);
        let waits: Vec<Duration> = (0..6).map(|_| bucket.take(start)).collect();
        let millis: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [0, 0, 0, 500, 1000, 1500]);
        // Two seconds on, the queue has drained and one token is back.
        assert_eq!(bucket.take(start + Duration::from_secs(2)).as_millis(), 0);
    }

    #[test]
    fn the_service_s_remaining_quota_caps_the_subscription_bucket() {
        let start = Instant::now();
        let budget = RequestBudget::new(Rate { burst: 100.0, per_second: 100.0 }, RATE, 1);
        let path = "/subscriptions/D0CFE6B2-9ac0/resourceGroups/rg/providers/x";
        let mut headers = http::HeaderMap::new();
        headers.insert("x-ms-ratelimit-remaining-subscription-reads", "2".parse().unwrap());
        budget.observe(path, &headers, start);
        // 2 left, 1 kept in reserve: one request now, the next waits.
        assert_eq!(budget.admit("a", path, start), Duration::ZERO);
        assert_eq!(budget.admit("b", path, start), Duration::from_millis(500), "another tenant, the same subscription");
        assert_eq!(budget.admit("b", "/v1.0/security/incidents", start), Duration::ZERO, "Graph is not ARM's quota");
    }

    #[test]
    fn tenants_have_buckets_of_their_own() {
        let start = Instant::now();
        let budget = RequestBudget::new(RATE, Rate { burst: 100.0, per_second: 100.0 }, 0);
        for _ in 0..3 {
            assert_eq!(budget.admit("busy", "/v1.0/x", start), Duration::ZERO);
        }
        assert!(budget.admit("busy", "/v1.0/x", start) > Duration::ZERO);
        assert_eq!(budget.admit("quiet", "/v1.0/x", start), Duration::ZERO);
    }

    #[test]
    fn subscriptions_are_read_from_arm_paths_only() {
        assert_eq!(subscription_of("/subscriptions/ABC/resourceGroups/x").as_deref(), Some("abc"));
        assert_eq!(subscription_of("/Subscriptions/abc").as_deref(), Some("abc"));
        assert_eq!(subscription_of("/subscriptions/"), None);
        assert_eq!(subscription_of("/v1/workspaces/abc/query"), None);
    }
}
