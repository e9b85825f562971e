//! How the page writes its numbers: counts with thousands separators, the
//! CPU share, clients done out of started, latencies. One way each, so
//! that every view (and the lesson's proofs) writes a number alike.

use protocol::Micros;

use crate::model::latency::human;
use crate::model::world::Counters;

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The server thread's busy share, `–` before the first measure.
pub fn cpu_text(counters: &Counters) -> String {
    counters
        .cpu_permille
        .map_or_else(|| "–".to_owned(), |permille| format!("{}%", permille / 10))
}

/// Clients done out of those started: `3 / 5`.
pub fn clients_text(counters: &Counters) -> String {
    format!(
        "{} / {}",
        counters.clients_finished, counters.clients_started
    )
}

/// A latency, `–` before the first round trip.
pub fn latency_text(latency: Option<Micros>) -> String {
    latency.map_or_else(|| "–".to_owned(), human)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(2_000_000), "2,000,000");
    }
}
