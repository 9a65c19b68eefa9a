//! Seeded randomness. One `u64` seed per run; from it, an independent ChaCha8 stream per
//! *purpose* (scheduler, network, faults, workload, each node, each client), so that a new draw
//! in one component never shifts the draws of another.
//!
//! All sampling is integer-only ([`Prng::below`], [`Prng::range_inclusive`], [`Prng::chance`]):
//! floats and `rand` distributions, whose values may differ across platforms or minor versions,
//! are never used. The versions of `rand_chacha`/`rand_core` are pinned in the workspace and the
//! first outputs of a fixed seed are pinned by a test below.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a stream is used for. Each purpose maps to a distinct ChaCha stream number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Tie-free scheduling decisions of the kernel itself.
    Scheduler,
    /// Latency, loss, duplication.
    Network,
    /// Generated fault plans.
    Faults,
    /// The client workload (operation mix, think times).
    Workload,
    /// Swarm choices made once per run (which fault kinds are enabled, and similar).
    Swarm,
    /// Crash-time disk decisions (how much unsynced data survives).
    Disk,
    /// Write and sync latencies of the disks (its own stream, so slow disks shift no other
    /// draw).
    DiskLatency,
    /// Crashes at the protocols' crash points (its own stream, drawn only when they are on).
    CrashPoints,
    /// Per-seed configuration draws of swarm testing over the whole scenario (latency
    /// spread, loss, duplication, timeouts, client count, think time), drawn only when on.
    SwarmConfig,
    /// A node's own stream, handed to its handlers through `Ctx::rng`.
    Node(u32),
    /// A client slot's own stream.
    Client(u32),
    /// A stream for tools outside the simulation (benchmarks, tests), by number.
    Custom(u32),
    /// A node's BUGGIFY coins ([`crate::node::Ctx::buggify`]): its own stream, so a protocol
    /// that switches BUGGIFY on shifts none of the node's other draws.
    Buggify(u32),
    /// A client slot's BUGGIFY coins ([`crate::client::ClientCtx::buggify`]): its own stream,
    /// so a workload that switches BUGGIFY on shifts none of its other draws.
    ClientBuggify(u32),
}

impl Stream {
    fn number(self) -> u64 {
        match self {
            Stream::Scheduler => 1,
            Stream::Network => 2,
            Stream::Faults => 3,
            Stream::Workload => 4,
            Stream::Swarm => 5,
            Stream::Disk => 6,
            Stream::DiskLatency => 7,
            Stream::CrashPoints => 8,
            Stream::SwarmConfig => 9,
            Stream::Node(i) => (1 << 32) | u64::from(i),
            Stream::Client(i) => (2 << 32) | u64::from(i),
            Stream::Custom(i) => (3 << 32) | u64::from(i),
            Stream::Buggify(i) => (4 << 32) | u64::from(i),
            Stream::ClientBuggify(i) => (5 << 32) | u64::from(i),
        }
    }
}

/// A deterministic pseudo-random stream (ChaCha8) with an integer-only sampling API.
#[derive(Clone, Debug)]
pub struct Prng {
    inner: ChaCha8Rng,
}

/// SplitMix64: expands the 64-bit run seed into a 256-bit ChaCha key.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Prng {
    /// The stream for `purpose` of the run with root seed `seed`.
    pub fn new(seed: u64, purpose: Stream) -> Prng {
        let mut state = seed;
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        let mut inner = ChaCha8Rng::from_seed(key);
        inner.set_stream(purpose.number());
        Prng { inner }
    }

    /// The next 64 uniformly random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform integer in `0..bound` (Lemire's unbiased multiply-and-reject).
    ///
    /// # Panics
    /// If `bound` is zero.
    #[inline]
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "Prng::below(0)");
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// A uniform integer in `low..=high`.
    ///
    /// # Panics
    /// If `low > high`.
    #[inline]
    pub fn range_inclusive(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "Prng::range_inclusive({low}, {high})");
        if low == 0 && high == u64::MAX {
            return self.next_u64();
        }
        low + self.below(high - low + 1)
    }

    /// True with probability `ratio`.
    #[inline]
    pub fn chance(&mut self, ratio: Ratio) -> bool {
        if ratio.ppm == 0 {
            return false;
        }
        self.below(Ratio::SCALE) < u64::from(ratio.ppm)
    }

    /// An index into a slice of length `len`.
    ///
    /// # Panics
    /// If `len` is zero.
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// An index drawn with the given integer weights (zero weights are never drawn).
    ///
    /// # Panics
    /// If the weights are empty or all zero.
    pub fn weighted_index(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        assert!(total > 0, "Prng::weighted_index with no positive weight");
        let mut pick = self.below(total);
        for (index, &weight) in weights.iter().enumerate() {
            if pick < weight {
                return index;
            }
            pick -= weight;
        }
        unreachable!("pick below the total always lands in a bucket")
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// A probability as an integer number of parts per million (no floats in a run).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ratio {
    /// Parts per million, `0..=1_000_000`.
    pub ppm: u32,
}

impl Ratio {
    /// The denominator of every ratio.
    pub const SCALE: u64 = 1_000_000;
    /// Never.
    pub const ZERO: Ratio = Ratio { ppm: 0 };
    /// Always.
    pub const ONE: Ratio = Ratio { ppm: 1_000_000 };

    /// `ppm` parts per million.
    ///
    /// # Panics
    /// If `ppm` exceeds one million.
    pub const fn from_ppm(ppm: u32) -> Ratio {
        assert!(ppm <= 1_000_000);
        Ratio { ppm }
    }

    /// `percent` per cent.
    pub const fn from_percent(percent: u32) -> Ratio {
        Ratio::from_ppm(percent * 10_000)
    }

    /// Parses `"1%"`, `"0.5%"`, `"1/1000"` or `"0"`. Exact: no floating point.
    ///
    /// # Errors
    /// A message naming what was expected.
    pub fn parse(text: &str) -> Result<Ratio, String> {
        let text = text.trim();
        let expected = || {
            format!("ratio `{text}` is not of the form \"1%\", \"0.25%\" or \"1/1000\" (between 0 and 1)")
        };
        if text == "0" {
            return Ok(Ratio::ZERO);
        }
        if let Some(number) = text.strip_suffix('%') {
            let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
            if (whole.is_empty() && fraction.is_empty())
                || !whole.bytes().all(|b| b.is_ascii_digit())
                || !fraction.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(expected());
            }
            if fraction.len() > 4 {
                return Err(format!("ratio `{text}` is finer than one part per million"));
            }
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| expected())?
            };
            let mut ppm = whole.checked_mul(10_000).ok_or_else(expected)?;
            let mut scale = 1_000;
            for digit in fraction.bytes() {
                ppm = ppm.saturating_add(u64::from(digit - b'0') * scale);
                scale /= 10;
            }
            if ppm > Ratio::SCALE {
                return Err(format!("ratio `{text}` is above 100%"));
            }
            return Ok(Ratio { ppm: ppm as u32 });
        }
        if let Some((numerator, denominator)) = text.split_once('/') {
            let numerator: u64 = numerator.trim().parse().map_err(|_| expected())?;
            let denominator: u64 = denominator.trim().parse().map_err(|_| expected())?;
            if denominator == 0 || numerator > denominator {
                return Err(expected());
            }
            // u128: `numerator * SCALE` overflows u64 for numerators above ~1.8e13.
            let scaled = u128::from(numerator) * u128::from(Ratio::SCALE);
            let ppm = scaled / u128::from(denominator);
            if ppm * u128::from(denominator) != scaled {
                return Err(format!("ratio `{text}` is finer than one part per million"));
            }
            return Ok(Ratio { ppm: ppm as u32 });
        }
        Err(expected())
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.ppm / 10_000;
        let fraction = self.ppm % 10_000;
        if fraction == 0 {
            write!(f, "{whole}%")
        } else {
            let digits = format!("{fraction:04}");
            write!(f, "{whole}.{}%", digits.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the first outputs of fixed seeds. If this fails, a dependency bump or a change to
    /// stream derivation has changed every run: that is a breaking change to replayability.
    #[test]
    fn first_outputs_are_pinned() {
        let mut workload = Prng::new(42, Stream::Workload);
        let got: Vec<u64> = (0..3).map(|_| workload.next_u64()).collect();
        assert_eq!(
            got, PINNED_WORKLOAD_42,
            "Prng stream for seed 42/Workload changed"
        );
        let mut node = Prng::new(7, Stream::Node(3));
        assert_eq!(
            node.next_u64(),
            PINNED_NODE3_7,
            "Prng stream for seed 7/Node(3) changed"
        );
    }

    const PINNED_WORKLOAD_42: [u64; 3] = [
        5574938516184574121,
        132759926152441759,
        15975794716040365664,
    ];
    const PINNED_NODE3_7: u64 = 3026978722082842674;

    #[test]
    fn streams_are_independent() {
        let a: Vec<u64> = {
            let mut r = Prng::new(1, Stream::Network);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Prng::new(1, Stream::Faults);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Prng::new(2, Stream::Network);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = Prng::new(9, Stream::Custom(0));
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            let v = r.below(7);
            seen[v as usize] += 1;
        }
        // Each bucket expects 1000; a uniform sampler is far inside these bounds.
        assert!(seen.iter().all(|&n| (850..1150).contains(&n)), "{seen:?}");
        assert_eq!(r.range_inclusive(5, 5), 5);
    }

    #[test]
    fn chance_matches_its_ratio() {
        let mut r = Prng::new(3, Stream::Custom(1));
        let hits = (0..100_000)
            .filter(|_| r.chance(Ratio::from_percent(10)))
            .count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
        assert!(!(0..1000).any(|_| r.chance(Ratio::ZERO)));
        assert!((0..1000).all(|_| r.chance(Ratio::ONE)));
    }

    #[test]
    fn ratio_parses_exactly() {
        assert_eq!(Ratio::parse("1%"), Ok(Ratio::from_ppm(10_000)));
        assert_eq!(Ratio::parse("0.5%"), Ok(Ratio::from_ppm(5_000)));
        assert_eq!(Ratio::parse("0.0001%"), Ok(Ratio::from_ppm(1)));
        assert_eq!(Ratio::parse("1/1000"), Ok(Ratio::from_ppm(1_000)));
        assert_eq!(Ratio::parse("100%"), Ok(Ratio::ONE));
        assert_eq!(Ratio::parse("0"), Ok(Ratio::ZERO));
        for bad in [
            "101%", "1", "1/0", "2/1", "%", "abc", "0.00001%", "1/3", "-1%",
        ] {
            assert!(Ratio::parse(bad).is_err(), "{bad} should be rejected");
        }
        // Huge numbers are errors, not arithmetic overflows.
        assert_eq!(
            Ratio::parse("18446744073709551615/18446744073709551615"),
            Ok(Ratio::ONE)
        );
        assert_eq!(
            Ratio::parse("9223372036854775807/18446744073709551614"),
            Ok(Ratio::from_ppm(500_000))
        );
        for bad in [
            "18446744073709551615%",
            "1844674407370955.9999%",
            "99999999999999999999/1",
            "1/18446744073709551615",
        ] {
            assert!(Ratio::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(Ratio::from_ppm(5_000).to_string(), "0.5%");
        assert_eq!(Ratio::from_ppm(10_000).to_string(), "1%");
    }
}
