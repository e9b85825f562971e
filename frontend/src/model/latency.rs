//! Echo latencies: p50 and p99 of any number of round trips in constant
//! memory, kept in an HDR histogram (to within 1%).

use hdrhistogram::Histogram;
use protocol::Micros;

/// Latencies seen so far.
#[derive(Clone, Debug, PartialEq)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            // Two significant digits; the histogram grows as latencies do.
            histogram: Histogram::new(2).expect("2 significant digits are valid"),
        }
    }
}

impl Latencies {
    /// Counts one round trip.
    pub fn record(&mut self, latency: Micros) {
        // The histogram widens itself as needed; only a value beyond what
        // it can ever hold is clamped.
        if self.histogram.record(latency).is_err() {
            self.histogram.saturating_record(latency);
        }
    }

    /// Roughly the bytes it holds (its counts).
    pub fn weight(&self) -> usize {
        self.histogram.distinct_values() * std::mem::size_of::<u64>()
    }

    /// The mean latency; `None` before the first.
    pub fn mean(&self) -> Option<Micros> {
        (!self.histogram.is_empty()).then(|| self.histogram.mean().round() as Micros)
    }

    /// The latency `fraction` (0.5 for the median) of the round trips did
    /// not exceed, to within 1%; `None` before the first.
    pub fn percentile(&self, fraction: f64) -> Option<Micros> {
        (!self.histogram.is_empty()).then(|| self.histogram.value_at_quantile(fraction))
    }
}

/// A latency as a person reads it: `850 µs`, `12.3 ms`, `1.20 s`.
pub fn human(latency: Micros) -> String {
    match latency {
        0..1_000 => format!("{latency} µs"),
        1_000..1_000_000 => format!("{:.1} ms", latency as f64 / 1e3),
        _ => format!("{:.2} s", latency as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_land_within_one_percent() {
        let mut latencies = Latencies::default();
        for latency in 1..=1000 {
            latencies.record(latency * 100);
        }
        let p50 = latencies.percentile(0.5).unwrap() as f64;
        let p99 = latencies.percentile(0.99).unwrap() as f64;
        assert!((p50 / 50_000.0 - 1.0).abs() < 0.01, "{p50}");
        assert!((p99 / 99_000.0 - 1.0).abs() < 0.01, "{p99}");
        let mean = latencies.mean().unwrap() as f64;
        assert!((mean / 50_050.0 - 1.0).abs() < 0.01, "{mean}");
    }

    #[test]
    fn one_slow_round_trip_shows_in_p99_not_in_the_median() {
        let mut latencies = Latencies::default();
        for _ in 0..99 {
            latencies.record(1_000);
        }
        latencies.record(2_000_000);
        assert!(latencies.percentile(0.5).unwrap() <= 1_010);
        assert!(latencies.percentile(0.995).unwrap() >= 1_980_000);
        assert_eq!(Latencies::default().percentile(0.5), None);
        assert_eq!(Latencies::default().mean(), None);
    }

    #[test]
    fn latencies_read_as_a_person_would() {
        assert_eq!(human(850), "850 µs");
        assert_eq!(human(12_345), "12.3 ms");
        assert_eq!(human(1_200_000), "1.20 s");
    }
}
