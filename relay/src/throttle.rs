//! Rate limits that a hostile page or network cannot turn into work for the
//! relay: a [`TokenBucket`] for what a page may send, and a [`Tally`] that
//! turns any number of repeated happenings (refused commands, refused
//! connections, accept errors) into at most one report a period.
//!
//! Pure: the time is passed in, so every rule is tested below without
//! sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets through `rate` units a second on average and `burst` at once.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.updated = now;
    }

    /// Takes one unit if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes `units` whether or not they are there (the bucket may go into
    /// debt), and says how long to wait until it is out of debt.
    pub fn spend(&mut self, units: u64, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= units as f64;
        self.debt()
    }

    /// How long until the bucket is out of debt (zero when it is not).
    pub fn debt(&self) -> Duration {
        if self.tokens >= 0.0 || self.rate <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Counts a repeated happening and says when to report it: the first time,
/// then at most once a `period`, with how many happened since the last
/// report.
#[derive(Debug)]
pub struct Tally {
    period: Duration,
    state: Mutex<TallyState>,
}

#[derive(Debug, Default)]
struct TallyState {
    last_report: Option<Instant>,
    unreported: u64,
    total: u64,
}

/// What a [`Tally`] says to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Happenings since the last report (this one included).
    pub since_last: u64,
    /// Happenings in all.
    pub total: u64,
}

impl Tally {
    /// Reports at most once a `period`.
    pub const fn new(period: Duration) -> Self {
        Tally {
            period,
            state: Mutex::new(TallyState {
                last_report: None,
                unreported: 0,
                total: 0,
            }),
        }
    }

    /// Counts one happening; `Some` when it is time to report.
    pub fn count(&self, now: Instant) -> Option<Report> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.unreported += 1;
        state.total += 1;
        let due = state
            .last_report
            .is_none_or(|last| now.saturating_duration_since(last) >= self.period);
        if !due {
            return None;
        }
        state.last_report = Some(now);
        let report = Report {
            since_last: state.unreported,
            total: state.total,
        };
        state.unreported = 0;
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_a_burst_through_then_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 5, start);
        let burst = (0..100).filter(|_| bucket.try_take(start)).count();
        assert_eq!(burst, 5);
        let later = start + Duration::from_millis(500);
        let refilled = (0..100).filter(|_| bucket.try_take(later)).count();
        assert_eq!(refilled, 5, "half a second at 10 a second");
        let much_later = later + Duration::from_secs(60);
        let capped = (0..100).filter(|_| bucket.try_take(much_later)).count();
        assert_eq!(capped, 5, "never more than the burst");
    }

    #[test]
    fn spending_past_the_bucket_says_how_long_to_wait() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1000, 1000, start);
        assert_eq!(bucket.spend(1000, start), Duration::ZERO);
        assert_eq!(bucket.spend(500, start), Duration::from_millis(500));
        let paid = start + Duration::from_millis(500);
        assert_eq!(bucket.spend(0, paid), Duration::ZERO);
    }

    #[test]
    fn a_tally_reports_the_first_then_once_a_period_with_the_counts() {
        let tally = Tally::new(Duration::from_secs(1));
        let start = Instant::now();
        assert_eq!(
            tally.count(start),
            Some(Report {
                since_last: 1,
                total: 1
            })
        );
        for _ in 0..999 {
            assert_eq!(tally.count(start + Duration::from_millis(10)), None);
        }
        assert_eq!(
            tally.count(start + Duration::from_secs(1)),
            Some(Report {
                since_last: 1000,
                total: 1001
            })
        );
    }
}
