//! **Redlock**: Redis's distributed lock over N independent Redis instances (the algorithm of
//! the Redis documentation, "Distributed Locks with Redis", redis.io/docs/manual/patterns/
//! distributed-locks; criticised in Kleppmann, "How to do distributed locking", 2016).
//!
//! # The algorithm, as the Redis description gives it
//!
//! The instances share nothing: no replication, no coordination. Each keeps its keys in
//! memory and expires them on its own wall clock. A client acquiring lock `k`:
//!
//! 1. takes the current time `T1`;
//! 2. tries `SET k <value> NX PX <ttl>` on every instance, each with a timeout small against
//!    the TTL (`instance_timeout`), so a dead instance does not hold it up;
//! 3. takes the time again, `T2`, and holds the lock iff it was set on a majority
//!    (`N/2 + 1`, [`majority`]) **and** the validity is positive:
//!    `validity = TTL − (T2 − T1) − drift`, where the drift bound is
//!    `TTL · CLOCK_DRIFT_FACTOR + 2 ms` ([`drift_bound`], [`validity`]): the description's
//!    "MIN_VALIDITY = TTL − (T2 − T1) − CLOCK_DRIFT" with the factor 0.01 and the 2 ms of
//!    Redis's reference clients (redlock-rb, redlock-py: `drift = ttl * 0.01 + 2`);
//! 4. otherwise unlocks **every** instance (even those that did not answer: the answer may
//!    have been lost) and fails;
//! 5. releases by deleting the key on every instance, only where it still holds its own value
//!    (the compare-and-delete script).
//!
//! # Where the client's side runs
//!
//! The kernel's clients send each operation to one node and wait for one answer. Redlock's
//! client talks to every instance, so the instance a client contacts runs steps 1–5 for that
//! request (a *proxy*: the client library, co-located with the instance the client reached):
//! it fans out, counts, and answers once. `T1` and `T2` are read on the proxy's monotonic
//! clock. The client itself (the lock application's workload) keeps its own validity
//! `invoked + lease − drift_margin` on its perfect clock, which is the same rule from a `T1`
//! no later than the proxy's; the lock application's `drift_margin` should therefore be the
//! Redlock bound (`lease · clock_drift_factor + 2 ms`; the catalogue files set it so).
//!
//! # Fencing tokens
//!
//! Redlock's value is a random string; it has no fencing token, which is Kleppmann's main
//! objection. The lock application's history and its fenced resource need one, so the token
//! is drawn from a durable per-lock counter on the storage service (the node holding the
//! protected resource, node `instances`): a single linearizable counter, the kind of service
//! Kleppmann says fencing needs. The token is also the key's value on the instances, so it is
//! unique per acquisition. A renewal (an acquire by the holder) sets the key again with a
//! fresh token. A release answers `ok` only if it deleted the key on a majority and no later
//! token was drawn for the lock meanwhile; otherwise `fail` (a release constrains nothing).
//!
//! # Faults that matter
//!
//! - **Clock jumps** on an instance: keys expire on its wall clock, so a forward jump expires
//!   them early and a second client can take the lock while the first still holds a valid
//!   Redlock (`redlock-clock-jump.ron`; Kleppmann's example).
//! - **Process pauses** of the client between its validity check and its use of the lock: the
//!   lock workload's think time (a think time longer than the lease is a GC pause); a pause of
//!   the proxy between `T1` and `T2` shows as elapsed time and may make the validity negative
//!   (`redlock.validity_expired`).
//! - **Crash-restart of an instance without persistence**: it comes back empty and grants a
//!   key another client holds there. `persistence: Fsync` (AOF with `appendfsync always`) keeps
//!   the keys; `restart_delay` (Redis's "delayed restarts": unavailable for a bit more than the
//!   longest TTL after a restart) makes the restarted instance take no part in any lock that was
//!   active when it crashed.
//!
//! # Nodes
//!
//! Nodes `0..instances` are the Redis instances (and proxies); node `instances` is the storage
//! service: the lock application's fenced resource (its `write`s, applied to the lock table's
//! resource, which refuses stale tokens) and the token counter, durable, synced before every
//! answer. Any operation that is not `acquire` or `release` goes to the storage service, which
//! applies it to the application like a single server, so kv and counters run too (on one node).
//!
//! # Marks
//!
//! [`MARKS`]: a majority acquired, a majority whose validity had run out (released), a
//! partial acquisition released, an instance setting a key over another owner's expired key,
//! an instance restarted without its keys, a request refused during a delayed restart, a
//! release that reached no majority.

use crate::apps::lock::LockConfig;
use crate::apps::AnyApp;
use crate::mutation::BugSet;
use sim_core::prng::Ratio;
use sim_core::time::Duration;

mod descriptor;
mod message;
mod node;

pub use descriptor::{RedlockProtocol, REDLOCK};
pub use message::{Message, Record, Timer};
pub use node::{Observation, RedlockNode};

/// Every mark Redlock's nodes may emit (a sweep lists those no seed hit). A test keeps it equal
/// to the marks in `node.rs`.
pub const MARKS: &[&str] = &[
    "redlock.majority_acquired",
    "redlock.validity_expired",
    "redlock.partial_released",
    "redlock.expired_key_taken_over",
    "redlock.restarted_empty",
    "redlock.restart_delayed",
    "redlock.release_without_majority",
    "redlock.buggify_del_resent",
];

/// Every crash point a Redlock node passes (`ctx.crash_point`): an instance right after a SET
/// (answered or parked for its sync) and while restarting, a proxy right after it granted a
/// lock.
pub const CRASH_POINTS: &[&str] = &[
    "redlock.after_set",
    "redlock.after_majority_acquired",
    "redlock.recovering",
];

/// The fixed part of the drift bound: Redis's reference clients add 2 ms to `ttl · factor`,
/// one for the millisecond precision of Redis's expiry and one of least drift for short TTLs.
pub const DRIFT_BOUND_FIXED: Duration = Duration::from_millis(2);

/// The most instances a scenario may ask for.
pub const INSTANCES_MAX: u32 = 15;

/// How an instance keeps its keys across a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// In memory only (Redis without AOF or RDB): a restarted instance is empty.
    Off,
    /// AOF with `appendfsync always`: every `SET` and `DEL` is synced before it is answered.
    Fsync,
}

/// Redlock's configuration, shared by every node.
#[derive(Clone, Debug)]
pub struct Config {
    /// The independent Redis instances (nodes `0..instances`); node `instances` is storage.
    pub instances: u32,
    /// The clock drift factor of the validity's drift bound (Redis: 0.01).
    pub clock_drift_factor: Ratio,
    /// How the instances keep their keys.
    pub persistence: Persistence,
    /// How long a restarted instance refuses every request (Redis's delayed restart; zero:
    /// none).
    pub restart_delay: Duration,
    /// How long the proxy waits for instances' answers in each round (Redis: a few ms to tens
    /// of ms, small against the TTL).
    pub instance_timeout: Duration,
    /// The application the storage service runs (the lock table's resource for the lock).
    pub app: AnyApp,
    /// The lock's lease and drift margin (`None` for an application that is not the lock: then
    /// nothing ever acquires).
    pub lock: Option<LockConfig>,
    /// Switched-on mutations (the lock's `lock-lease-no-drift-margin` drops the drift bound).
    pub bugs: BugSet,
    /// BUGGIFY: now and then a proxy's DEL leaves twice (`redlock.buggify_del_resent`).
    pub buggify: bool,
}

impl Config {
    /// The node that holds the resource and the token counter.
    pub fn storage(&self) -> sim_core::id::NodeId {
        sim_core::id::NodeId(self.instances)
    }
}

/// The smallest majority of `instances`: `N/2 + 1`.
pub const fn majority(instances: u32) -> u32 {
    instances / 2 + 1
}

/// The drift bound subtracted from a lock's validity: `ttl · factor + 2 ms`.
pub fn drift_bound(ttl: Duration, factor: Ratio) -> Duration {
    let scaled = u128::from(ttl.as_nanos()) * u128::from(factor.ppm) / u128::from(Ratio::SCALE);
    let scaled = u64::try_from(scaled).expect("ppm ≤ 1e6 keeps the product below the ttl");
    Duration::from_nanos(scaled.saturating_add(DRIFT_BOUND_FIXED.as_nanos()))
}

/// The validity left after acquiring for `elapsed`: `ttl − elapsed − drift`, or `None` when it
/// is not positive (the lock must not be used: step 4 releases it).
pub fn validity(ttl: Duration, elapsed: Duration, drift: Duration) -> Option<Duration> {
    let spent = elapsed.as_nanos().checked_add(drift.as_nanos())?;
    ttl.as_nanos()
        .checked_sub(spent)
        .filter(|&left| left > 0)
        .map(Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_majority_is_more_than_half() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(2), 2);
        assert_eq!(majority(3), 2);
        assert_eq!(majority(4), 3);
        assert_eq!(majority(5), 3);
        // Any two majorities share an instance: that is what makes one client's keys block
        // another's, as long as no instance forgets or expires them early.
        for n in 1..=INSTANCES_MAX {
            assert!(2 * majority(n) > n, "{n}");
            assert!(2 * (majority(n) - 1) <= n, "{n}: not the smallest");
        }
    }

    #[test]
    fn the_drift_bound_is_one_percent_plus_two_milliseconds() {
        let one_percent = Ratio::from_ppm(10_000);
        assert_eq!(
            drift_bound(Duration::from_secs(10), one_percent),
            Duration::from_millis(102)
        );
        assert_eq!(
            drift_bound(Duration::from_millis(300), one_percent),
            Duration::from_millis(5)
        );
        assert_eq!(
            drift_bound(Duration::from_millis(300), Ratio::ZERO),
            DRIFT_BOUND_FIXED
        );
        // No overflow at the extremes.
        assert_eq!(
            drift_bound(Duration::from_nanos(u64::MAX - 10), Ratio::ONE),
            Duration::from_nanos(u64::MAX)
        );
    }

    #[test]
    fn validity_is_ttl_minus_elapsed_minus_drift_and_never_zero() {
        let ttl = Duration::from_millis(300);
        let drift = Duration::from_millis(5);
        assert_eq!(
            validity(ttl, Duration::from_millis(20), drift),
            Some(Duration::from_millis(275))
        );
        assert_eq!(
            validity(ttl, Duration::from_millis(294), drift),
            Some(Duration::from_millis(1))
        );
        assert_eq!(validity(ttl, Duration::from_millis(295), drift), None);
        assert_eq!(validity(ttl, Duration::from_secs(2), drift), None);
        assert_eq!(validity(ttl, Duration::from_nanos(u64::MAX), drift), None);
        // Without a drift bound (the L4 mutant) the same acquisition looks 5 ms better.
        assert_eq!(
            validity(ttl, Duration::from_millis(294), Duration::ZERO),
            Some(Duration::from_millis(6))
        );
    }
}
