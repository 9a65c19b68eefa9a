//! Per-node clocks. Each node reads time only through its local clock, which has an offset and
//! a rate error (drift, in parts per million) relative to true simulated time, and which faults
//! can step (a wall-clock jump) or re-rate. Timers are set in local time, so a fast clock fires
//! its timers early in true time, and leases or lock expiries see real skew.
//!
//! Local time is piecewise linear in true time: `local(t) = base_local + (t - base_true) *
//! (1e6 + drift_ppm) / 1e6`, re-based at every change, in integer arithmetic.

use crate::time::{Duration, Instant};

/// Local clocks start at this reading (one hour), so that a backward step early in a run still
/// reads as a sane instant rather than saturating at zero.
pub const LOCAL_EPOCH: Instant = Instant(3_600_000_000_000);

/// The largest drift accepted, in ppm (±50%): beyond that a "clock" is no longer a clock.
pub const DRIFT_PPM_LIMIT: i32 = 500_000;

/// One node's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clock {
    base_true: Instant,
    base_local: Instant,
    drift_ppm: i32,
    /// The sum of all steps so far, in signed nanoseconds: the monotonic reading is the local
    /// reading minus this (drift still applies; jumps do not).
    stepped_nanos: i64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new(Duration::ZERO)
    }
}

impl Clock {
    /// A clock reading `LOCAL_EPOCH + offset` at true time zero, with no drift.
    pub fn new(offset: Duration) -> Clock {
        Clock {
            base_true: Instant::ZERO,
            base_local: LOCAL_EPOCH + offset,
            drift_ppm: 0,
            stepped_nanos: 0,
        }
    }

    /// The current rate error in ppm.
    pub fn drift_ppm(&self) -> i32 {
        self.drift_ppm
    }

    /// The local reading at true time `now`.
    pub fn local(&self, now: Instant) -> Instant {
        assert!(now >= self.base_true, "clock read before its last change");
        if self.drift_ppm == 0 {
            // The common case, without 128-bit arithmetic: this is on every handler call.
            return Instant(self.base_local.0 + (now.0 - self.base_true.0));
        }
        let elapsed = u128::from((now - self.base_true).as_nanos());
        let rate = (1_000_000 + i64::from(self.drift_ppm)) as u128;
        let local_elapsed = elapsed * rate / 1_000_000;
        Instant(self.base_local.0 + local_elapsed as u64)
    }

    /// The monotonic reading at true time `now`: the local clock with its drift but without its
    /// steps (a `CLOCK_MONOTONIC` beside the `CLOCK_REALTIME` of [`Clock::local`]). Lease code
    /// that must not be fooled by wall-clock jumps measures with this.
    pub fn monotonic(&self, now: Instant) -> Instant {
        let local = i128::from(self.local(now).0);
        let monotonic = (local - i128::from(self.stepped_nanos)).max(0);
        Instant(u64::try_from(monotonic).unwrap_or(u64::MAX))
    }

    /// The earliest true instant at or after `now` at which the local clock reads at least
    /// `deadline`.
    pub fn true_instant_of(&self, now: Instant, deadline: Instant) -> Instant {
        let local_now = self.local(now);
        if deadline <= local_now {
            return now;
        }
        if self.drift_ppm == 0 {
            return Instant(self.base_true.0 + (deadline.0 - self.base_local.0)).max(now);
        }
        let rate = (1_000_000 + i64::from(self.drift_ppm)) as u128;
        // Solve base_local + elapsed * rate / 1e6 >= deadline for the smallest elapsed.
        let local_needed = u128::from(deadline.0 - self.base_local.0);
        let elapsed = (local_needed * 1_000_000).div_ceil(rate);
        let at = Instant(self.base_true.0 + elapsed as u64);
        debug_assert!(self.local(at) >= deadline);
        at.max(now)
    }

    /// Steps the clock by `delta_nanos` (signed) at true time `now`. A backward step below the
    /// start of time saturates at zero.
    pub fn step(&mut self, now: Instant, delta_nanos: i64) {
        let local = self.local(now).0;
        let stepped = if delta_nanos >= 0 {
            local.saturating_add(delta_nanos as u64)
        } else {
            local.saturating_sub(delta_nanos.unsigned_abs())
        };
        // Record the step that actually happened (a saturated backward step is smaller).
        let applied = i128::from(stepped) - i128::from(local);
        self.stepped_nanos = i64::try_from(i128::from(self.stepped_nanos) + applied)
            .expect("clock steps beyond ±292 years");
        self.base_true = now;
        self.base_local = Instant(stepped);
    }

    /// Sets the rate error at true time `now` (no jump in the reading).
    ///
    /// # Panics
    /// If `drift_ppm` exceeds ±[`DRIFT_PPM_LIMIT`].
    pub fn set_drift(&mut self, now: Instant, drift_ppm: i32) {
        assert!(
            drift_ppm.abs() <= DRIFT_PPM_LIMIT,
            "drift {drift_ppm} ppm beyond ±{DRIFT_PPM_LIMIT}"
        );
        self.base_local = self.local(now);
        self.base_true = now;
        self.drift_ppm = drift_ppm;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_changes_the_rate_and_inverse_is_exact() {
        let mut clock = Clock::new(Duration::ZERO);
        clock.set_drift(Instant::ZERO, 100_000); // 10% fast
        assert_eq!(
            clock.local(Instant(1_000_000_000)),
            LOCAL_EPOCH + Duration::from_millis(1100)
        );
        let deadline = LOCAL_EPOCH + Duration::from_millis(110);
        assert_eq!(
            clock.true_instant_of(Instant::ZERO, deadline),
            Instant(100_000_000)
        );
        clock.set_drift(Instant(1_000_000_000), -500_000); // now half speed
        assert_eq!(
            clock.local(Instant(2_000_000_000)),
            LOCAL_EPOCH + Duration::from_millis(1600)
        );
    }

    #[test]
    fn steps_jump_the_reading_both_ways() {
        let mut clock = Clock::new(Duration::from_millis(5));
        clock.step(Instant(10), 1_000);
        assert_eq!(
            clock.local(Instant(10)),
            LOCAL_EPOCH + Duration::from_millis(5) + Duration(1_010)
        );
        clock.step(Instant(10), -2_000);
        assert_eq!(
            clock.local(Instant(20)),
            Instant(LOCAL_EPOCH.0 + 5_000_000 + 1_010 - 2_000 + 10)
        );
    }

    #[test]
    fn monotonic_reading_ignores_steps_but_keeps_drift() {
        let mut clock = Clock::new(Duration::from_millis(5));
        let start = clock.monotonic(Instant::ZERO);
        clock.step(Instant(100), 1_000_000);
        clock.step(Instant(200), -3_000_000);
        assert_eq!(clock.monotonic(Instant(300)), start + Duration(300));
        assert_eq!(
            clock.local(Instant(300)),
            Instant(start.0 + 300 - 2_000_000)
        );
        clock.set_drift(Instant(300), 100_000);
        assert_eq!(
            clock.monotonic(Instant(1_300)),
            start + Duration(300) + Duration(1_100)
        );
    }
}
