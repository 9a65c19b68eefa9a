//! Virtual time. Every instant and duration in a simulation is an integer number of
//! nanoseconds of *simulated* time; `std::time` never appears in the kernel or the protocols.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in simulated time, in nanoseconds since the start of the run.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Instant(pub u64);

/// A span of simulated time, in nanoseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Duration(pub u64);

impl Instant {
    /// The start of every run.
    pub const ZERO: Instant = Instant(0);
    /// The largest representable instant (used as "never").
    pub const MAX: Instant = Instant(u64::MAX);

    /// Nanoseconds since the start of the run.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);
    /// One nanosecond.
    pub const NANOSECOND: Duration = Duration(1);
    /// One microsecond.
    pub const MICROSECOND: Duration = Duration(1_000);
    /// One millisecond.
    pub const MILLISECOND: Duration = Duration(1_000_000);
    /// One second.
    pub const SECOND: Duration = Duration(1_000_000_000);

    /// A duration of `n` nanoseconds.
    pub const fn from_nanos(n: u64) -> Self {
        Duration(n)
    }
    /// A duration of `n` microseconds.
    pub const fn from_micros(n: u64) -> Self {
        Duration(n * 1_000)
    }
    /// A duration of `n` milliseconds.
    pub const fn from_millis(n: u64) -> Self {
        Duration(n * 1_000_000)
    }
    /// A duration of `n` seconds.
    pub const fn from_secs(n: u64) -> Self {
        Duration(n * 1_000_000_000)
    }
    /// The length in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The length in whole milliseconds (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Parses a duration written as an integer or decimal number followed by a unit:
    /// `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. Examples: `"150ms"`, `"1.5s"`, `"0s"`.
    /// Decimals are converted exactly (no floating point), so `"0.1s"` is 100,000,000 ns.
    ///
    /// # Errors
    /// A message naming what was expected when the text is not of that form, has more decimal
    /// places than the unit resolves to nanoseconds, or does not fit in 64 bits.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if let Some(problem) = Duration::not_a_plain_number(text) {
            return Err(problem);
        }
        let unit_start = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!("duration `{text}` has no unit: expected a number followed by ns, us, ms, s, m or h (e.g. \"150ms\")")
            })?;
        let (number, unit) = text.split_at(unit_start);
        let unit_nanos: u64 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "duration `{text}` has unknown unit `{unit}`: expected ns, us, ms, s, m or h"
                ))
            }
        };
        let (whole, fraction) = match number.split_once('.') {
            Some((w, f)) => (w, f),
            None => (number, ""),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(format!("duration `{text}` has no number before its unit"));
        }
        if fraction.contains('.') {
            return Err(format!("duration `{text}` has more than one decimal point"));
        }
        let overflow = || format!("duration `{text}` is too large (limit about 584 years)");
        let whole_value: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let mut nanos = whole_value.checked_mul(unit_nanos).ok_or_else(overflow)?;
        let mut scale = unit_nanos;
        for digit in fraction.bytes() {
            if scale % 10 != 0 {
                return Err(format!("duration `{text}` is finer than one nanosecond"));
            }
            scale /= 10;
            nanos = nanos
                .checked_add(u64::from(digit - b'0') * scale)
                .ok_or_else(overflow)?;
        }
        Ok(Duration(nanos))
    }

    /// Says what is wrong with a duration that is not a plain decimal number before its unit,
    /// in the words a user would use (negative, exponent, not a number), rather than calling
    /// the whole text an unknown unit.
    fn not_a_plain_number(text: &str) -> Option<String> {
        let lower = text.to_ascii_lowercase();
        if text.starts_with('-') {
            return Some(format!(
                "duration `{text}` is negative: durations are zero or more (e.g. \"0ms\", \"150ms\")"
            ));
        }
        if text.starts_with('+') {
            return Some(format!(
                "duration `{text}` has a sign: write the number alone (e.g. \"150ms\")"
            ));
        }
        if lower.starts_with("nan") || lower.starts_with("inf") {
            return Some(format!(
                "duration `{text}` is not a number: expected digits followed by ns, us, ms, s, m or h (e.g. \"1.5s\")"
            ));
        }
        let number_end = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let rest = &text[number_end..];
        let starts_exponent = rest.starts_with(['e', 'E'])
            && rest[1..].starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
        if number_end > 0 && starts_exponent {
            return Some(format!(
                "duration `{text}` uses an exponent: write the number in full with a unit (e.g. \"1500ms\" or \"1.5s\")"
            ));
        }
        None
    }
}

impl fmt::Display for Duration {
    /// The shortest exact form in the largest unit that divides it: `150ms`, `2s`, `1500us`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n == 0 {
            return write!(f, "0s");
        }
        for (unit, size) in [("s", 1_000_000_000u64), ("ms", 1_000_000), ("us", 1_000)] {
            if n % size == 0 {
                return write!(f, "{}{unit}", n / size);
            }
        }
        write!(f, "{n}ns")
    }
}

impl fmt::Display for Instant {
    /// Seconds with nanosecond precision: `12.000150000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(
            self.0
                .checked_add(rhs.0)
                .expect("simulated time overflowed u64 nanoseconds"),
        )
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        assert!(
            self >= rhs,
            "instant subtraction went negative: {self} - {rhs}"
        );
        Duration(self.0 - rhs.0)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(
            self.0
                .checked_add(rhs.0)
                .expect("duration overflowed u64 nanoseconds"),
        )
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        Duration(
            self.0
                .checked_sub(rhs.0)
                .expect("duration subtraction went negative"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_decimals_exactly() {
        assert_eq!(Duration::parse("150ms"), Ok(Duration::from_millis(150)));
        assert_eq!(Duration::parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(Duration::parse("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(Duration::parse("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(Duration::parse("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(Duration::parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(Duration::parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in [
            "150",
            "ms",
            "1.5.0s",
            "10 parsecs",
            "1.5ns",
            "99999999999999h",
            "-1s",
            "",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn says_what_is_wrong_with_signs_exponents_and_non_numbers() {
        for (bad, says) in [
            ("-5s", "is negative"),
            ("+5s", "has a sign"),
            ("1e99s", "uses an exponent"),
            ("1E-3s", "uses an exponent"),
            ("NaNs", "is not a number"),
            ("infs", "is not a number"),
            ("10 parsecs", "unknown unit ` parsecs`"),
            ("5e", "unknown unit `e`"),
        ] {
            let error = Duration::parse(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
        // A unit that merely starts with `e` is still an unknown unit, not an exponent.
        assert!(Duration::parse("5eons")
            .unwrap_err()
            .contains("unknown unit"));
    }

    #[test]
    fn display_round_trips() {
        for text in ["150ms", "2s", "1500us", "7ns", "0s"] {
            let d = Duration::parse(text).unwrap();
            assert_eq!(d.to_string(), text);
            assert_eq!(Duration::parse(&d.to_string()), Ok(d));
        }
    }
}
