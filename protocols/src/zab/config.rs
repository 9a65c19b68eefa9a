//! ZAB's configuration: ZooKeeper's timing parameters, the read path, the committed-log
//! window, BUGGIFY and switched-on mutations.

use crate::mutation::BugSet;
use sim_core::time::Duration;

/// How reads are served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// Reads are broadcast like writes and answered when delivered: linearizable.
    #[default]
    Log,
    /// A ZooKeeper client's `sync` then a local read: the server asks the leader for a SYNC
    /// and reads once the leader's answer (which follows every COMMIT the leader had pending)
    /// arrives.
    Sync,
    /// ZooKeeper's default: the server answers from its own replica. Sequentially
    /// consistent only: a follower behind the leader serves stale data.
    Local,
}

/// Configuration shared by every server of a ZAB ensemble, generic over the replicated
/// application whose initial state it carries.
#[derive(Clone, Debug)]
pub struct Config<A> {
    /// ZooKeeper's `tickTime`: the heartbeat period and the unit of the limits (default 10ms;
    /// ZooKeeper's 2s is scaled down with everything else).
    pub tick_time: Duration,
    /// `initLimit`: ticks a follower may take to connect to and synchronize with its leader,
    /// and a new leader to get a quorum through discovery and synchronization (default 10).
    pub init_limit: u32,
    /// `syncLimit`: ticks a follower may go without hearing from its leader, and a leader
    /// without hearing from a quorum, in broadcast (default 5).
    pub sync_limit: u32,
    /// How many of its last committed txns the leader keeps to DIFF from (ZooKeeper's
    /// `commitLogCount`, default 500): a follower whose last zxid is older gets a SNAP.
    pub committed_log: u32,
    /// The read path (default [`ReadMode::Log`]).
    pub read_mode: ReadMode,
    /// BUGGIFY: now and then a legal but unusual path (see the module documentation).
    pub buggify: bool,
    /// Switched-on mutations (default none).
    pub bugs: BugSet,
    /// The application's initial state; every replica starts from a clone.
    pub app: A,
}

impl<A> Config<A> {
    /// The defaults above, with `app` as the initial application state.
    pub fn new(app: A) -> Config<A> {
        Config {
            tick_time: Duration::from_millis(10),
            init_limit: 10,
            sync_limit: 5,
            committed_log: 500,
            read_mode: ReadMode::Log,
            buggify: false,
            bugs: BugSet::NONE,
            app,
        }
    }

    /// `ticks` ticks.
    pub fn ticks(&self, ticks: u32) -> Duration {
        Duration::from_nanos(self.tick_time.as_nanos().saturating_mul(u64::from(ticks)))
    }

    /// Checks the relationships between the fields.
    ///
    /// # Panics
    /// If a field is zero.
    pub fn assert_valid(&self) {
        assert!(
            self.tick_time > Duration::ZERO,
            "tick_time must be positive"
        );
        assert!(self.init_limit > 0, "init_limit must be positive");
        assert!(self.sync_limit > 0, "sync_limit must be positive");
        assert!(self.committed_log > 0, "committed_log must be positive");
    }
}
