//! A tenant's backoff after failures: a pure function of how many failures
//! in a row and of what kind, so it is tested without waiting.
//!
//! A refused sign-in (a revoked secret, a removed consent) will not fix
//! itself within seconds, and retrying it fast only fills Entra's sign-in
//! logs: it starts at a minute. Anything else (throttling the component
//! could not ride out, a 5xx, a timeout, a trap) starts at five seconds.
//! Both double up to a cap, with ±20% jitter so a thousand tenants that
//! failed together (an emulator restart, a network blip) do not retry
//! together.

use std::time::Duration;

/// What kind of failure a backoff follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// The sign-in was refused: it waits for a person.
    Auth,
    /// Anything else: the service, the network, the sandbox.
    Transient,
}

impl FailureClass {
    fn first_delay(self) -> Duration {
        match self {
            FailureClass::Auth => Duration::from_secs(60),
            FailureClass::Transient => Duration::from_secs(5),
        }
    }

    fn longest_delay(self) -> Duration {
        match self {
            FailureClass::Auth => Duration::from_secs(3600),
            FailureClass::Transient => Duration::from_secs(600),
        }
    }

    /// Its label in metrics and the status table.
    pub fn name(self) -> &'static str {
        match self {
            FailureClass::Auth => "auth",
            FailureClass::Transient => "transient",
        }
    }
}

/// The wait after the `failures`-th failure in a row (1 for the first),
/// `unit_jitter` in `[0, 1)` drawn by the caller: first × 2^(n−1), capped,
/// then spread by ±20%.
pub fn delay(class: FailureClass, failures: u32, unit_jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let base = class.first_delay().saturating_mul(1u32 << doublings).min(class.longest_delay());
    let factor = 0.8 + 0.4 * unit_jitter.clamp(0.0, 1.0);
    base.mul_f64(factor)
}

/// The wait between polls of a caught-up tenant: its interval spread by
/// ±10%, so tenants added together drift apart instead of polling in step.
pub fn interval_with_jitter(interval: Duration, unit_jitter: f64) -> Duration {
    interval.mul_f64(0.9 + 0.2 * unit_jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_doubles_from_its_first_delay_up_to_its_cap() {
        let middle = 0.5; // no jitter
        let transient: Vec<u64> = (1..=10).map(|n| delay(FailureClass::Transient, n, middle).as_secs()).collect();
        assert_eq!(transient, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(delay(FailureClass::Auth, 1, middle), Duration::from_secs(60));
        assert_eq!(delay(FailureClass::Auth, 7, middle), Duration::from_secs(3600));
    }

    #[test]
    fn auth_failures_wait_longer_than_transient_ones() {
        for n in 1..=20 {
            assert!(delay(FailureClass::Auth, n, 0.0) > delay(FailureClass::Transient, n, 0.0) / 2);
        }
        assert!(delay(FailureClass::Auth, 1, 0.5) > delay(FailureClass::Transient, 3, 0.5));
    }

    #[test]
    fn jitter_spreads_by_a_fifth_and_never_overflows() {
        assert_eq!(delay(FailureClass::Transient, 1, 0.0), Duration::from_secs(4));
        assert_eq!(delay(FailureClass::Transient, 1, 1.0), Duration::from_secs(6));
        assert_eq!(delay(FailureClass::Transient, u32::MAX, f64::NAN.max(2.0)), Duration::from_secs(720));
        assert_eq!(interval_with_jitter(Duration::from_secs(60), 0.0), Duration::from_secs(54));
    }
}
