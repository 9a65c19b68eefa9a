//! Multi-Paxos configuration: timing, the read path, the clock-drift bound that leases rely on,
//! and switched-on mutations.

use crate::mutation::BugSet;
use crate::paxos::bugs;
use sim_core::time::Duration;

/// How the leader serves read-only operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// Reads are proposed like writes and answered when their slot is applied.
    #[default]
    Log,
    /// Leader leases (Paxos Made Live §5.2, "master leases"): a leader whose lease holds
    /// answers reads from its applied state; otherwise the read goes through the log.
    Lease,
}

/// Configuration shared by every replica of a Multi-Paxos cluster, generic over the replicated
/// application whose initial state it carries.
#[derive(Clone, Debug)]
pub struct Config<A> {
    /// Lower bound of the randomised leader timeout (default 150ms): a replica that hears
    /// from no leader for this long (on its local clock) starts phase 1. It is also the
    /// length of a lease before the drift margin.
    pub leader_timeout_min: Duration,
    /// Upper bound, inclusive (default 300ms). A leader that hears from no majority for this
    /// long steps down.
    pub leader_timeout_max: Duration,
    /// The leader's heartbeat interval (default 50ms); well below `leader_timeout_min`.
    pub heartbeat: Duration,
    /// The read path (default [`ReadMode::Log`]).
    pub read_mode: ReadMode,
    /// The largest rate error of any replica's clock, in parts per million (default 1,000,
    /// that is 0.1%): the bound the lease's drift margin covers (see [`Config::lease_margin`]).
    pub max_clock_drift_ppm: u32,
    /// BUGGIFY (default off): legal but unusual timing now and then (one chance in four at
    /// each place): a proposer that waits before phase 2, an acceptor that answers an accept
    /// late, a leader that proposes a slot twice. Each is a `paxos.buggify_*` mark.
    pub buggify: bool,
    /// Switched-on mutations (default none: the correct protocol).
    pub bugs: BugSet,
    /// The application's initial state; every replica starts from a clone.
    pub app: A,
}

impl<A> Config<A> {
    /// The defaults above, with `app` as the initial application state.
    pub fn new(app: A) -> Config<A> {
        Config {
            leader_timeout_min: Duration::from_millis(150),
            leader_timeout_max: Duration::from_millis(300),
            heartbeat: Duration::from_millis(50),
            read_mode: ReadMode::Log,
            max_clock_drift_ppm: 1_000,
            buggify: false,
            bugs: BugSet::NONE,
            app,
        }
    }

    /// How much earlier than `leader_timeout_min` a leader's lease ends, on its own clock.
    ///
    /// A lease starts when the leader *sends* the heartbeat round that a majority answers
    /// (true time `t0`); each of those replicas receives it at some `t1 >= t0` and refuses to
    /// promise another proposer until its own clock has measured `leader_timeout_min` = `L`
    /// from then. With every clock's rate within `±ρ` of true time, the follower's refusal
    /// lasts at least `L / (1 + ρ)` of true time after `t1`, and a lease the leader measures
    /// as `L - m` lasts at most `(L - m) / (1 - ρ)` after `t0`. The lease ends first when
    /// `(L - m) / (1 - ρ) <= L / (1 + ρ)`, that is `m >= 2ρL / (1 + ρ)`; `m = 2ρL`, rounded
    /// up, covers it. The margin covers rate error (drift) only: wall-clock steps cannot
    /// shorten a lease because leases are measured on the monotonic clock, and a process
    /// pause is harmless because the leader checks its lease when it answers, after the pause.
    /// Under `multipaxos-lease-read-unsafe` the margin is zero (BUGS.md P6).
    pub fn lease_margin(&self) -> Duration {
        if self.bugs.contains(bugs::LEASE_READ_UNSAFE) {
            return Duration::ZERO;
        }
        let twice_drift = 2 * u128::from(self.max_clock_drift_ppm);
        let nanos =
            (u128::from(self.leader_timeout_min.as_nanos()) * twice_drift).div_ceil(1_000_000);
        Duration::from_nanos(u64::try_from(nanos).expect("margin below the leader timeout"))
    }

    /// The length of a lease on the leader's monotonic clock: `leader_timeout_min` less the
    /// drift margin.
    pub fn lease_length(&self) -> Duration {
        self.leader_timeout_min - self.lease_margin()
    }

    /// Checks the relationships between the fields.
    ///
    /// # Panics
    /// If the leader timeout range is empty, the heartbeat is zero or not below the minimum
    /// leader timeout, or the drift bound leaves no lease (2ρ ≥ 1).
    pub fn assert_valid(&self) {
        assert!(
            self.leader_timeout_min <= self.leader_timeout_max,
            "leader_timeout_min={} > leader_timeout_max={}",
            self.leader_timeout_min,
            self.leader_timeout_max
        );
        assert!(
            self.heartbeat > Duration::ZERO,
            "heartbeat must be positive"
        );
        assert!(
            self.heartbeat < self.leader_timeout_min,
            "heartbeat={} must be below leader_timeout_min={}",
            self.heartbeat,
            self.leader_timeout_min
        );
        assert!(
            self.max_clock_drift_ppm < 500_000,
            "max_clock_drift_ppm={} leaves no lease",
            self.max_clock_drift_ppm
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_is_twice_the_drift_bound_of_the_timeout_rounded_up() {
        let mut config = Config::new(());
        config.assert_valid();
        // 2 × 1,000 ppm of 150ms = 300µs.
        assert_eq!(config.lease_margin(), Duration::from_micros(300));
        assert_eq!(config.lease_length(), Duration::from_micros(149_700));
        config.max_clock_drift_ppm = 1;
        config.leader_timeout_min = Duration::from_nanos(1_000_001);
        assert_eq!(config.lease_margin(), Duration::from_nanos(3), "rounded up");
        config.bugs = [bugs::LEASE_READ_UNSAFE].into_iter().collect();
        assert_eq!(config.lease_margin(), Duration::ZERO);
    }

    #[test]
    #[should_panic(expected = "heartbeat")]
    fn a_heartbeat_as_long_as_the_timeout_is_refused() {
        let mut config = Config::new(());
        config.heartbeat = config.leader_timeout_min;
        config.assert_valid();
    }
}
