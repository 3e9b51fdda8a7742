//! The emulator's notion of now: the real clock plus an offset that tests
//! set or advance (in-process or through `/_emulator/clock`), so a poller
//! can live through a day in seconds. Every time the emulator writes into
//! an incident, alert or comment comes from it. Token lifetimes and the
//! visibility delays of late-indexed incidents stay on the real clock: a
//! client's cached token keeps working when emulated time jumps.

use jiff::{SignedDuration, Timestamp};

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Clock {
    offset: SignedDuration,
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        let real = Timestamp::now();
        real.checked_add(self.offset).unwrap_or(real)
    }

    /// Now, as Azure and Graph write times (seven fractional digits).
    pub fn text(&self) -> String {
        format_instant(self.now())
    }

    /// From now on, time runs from `at` (at the real clock's pace).
    pub fn set(&mut self, at: Timestamp) {
        self.offset = at.duration_since(Timestamp::now());
    }

    pub fn advance(&mut self, by: SignedDuration) {
        self.offset = self.offset.saturating_add(by);
    }
}

/// An instant as Azure and Graph write it: `YYYY-MM-DDThh:mm:ss.fffffffZ`.
pub(crate) fn format_instant(at: Timestamp) -> String {
    format!("{}.{:07}Z", at.strftime("%Y-%m-%dT%H:%M:%S"), at.subsec_nanosecond() / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_advance_move_now() {
        let mut clock = Clock::default();
        let at: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        clock.set(at);
        let now = clock.now();
        assert!(now >= at && now.duration_since(at) < SignedDuration::from_secs(5), "{now}");
        clock.advance(SignedDuration::from_hours(24));
        assert!(clock.now() >= at + SignedDuration::from_hours(24));
        assert!(clock.text().starts_with("2030-01-02T00:00:0"), "{}", clock.text());
    }
}
