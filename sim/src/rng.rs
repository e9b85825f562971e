//! A tiny seeded generator (SplitMix64): the same numbers on every platform,
//! native and wasm alike, which is all the simulation's determinism needs.

use protocol::Micros;

/// A seeded pseudo-random sequence.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The sequence for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `base` give or take up to 10%, so that clients started together drift
    /// apart as real ones do.
    pub fn jitter(&mut self, base: Micros) -> Micros {
        let spread = base / 10;
        if spread == 0 {
            return base;
        }
        base - spread + self.next_u64() % (2 * spread + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let first: Vec<_> = (0..5).map(|_| a.next_u64()).collect();
        let second: Vec<_> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(first, second);
        assert_ne!(
            first,
            (0..5).map(|_| Rng::new(8).next_u64()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            let value = rng.jitter(200_000);
            assert!((180_000..=220_000).contains(&value), "{value}");
        }
        assert_eq!(rng.jitter(5), 5);
    }
}
