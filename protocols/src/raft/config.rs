//! Raft's configuration: timing, read path, optional features and switched-on mutations.

use crate::mutation::BugSet;
use sim_core::time::Duration;

/// How the leader serves read-only operations (thesis §6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// ReadIndex: record commitIndex, confirm leadership with a heartbeat round acknowledged
    /// by a majority, wait until the state machine has applied the read index, then answer
    /// from local state. Requires an entry of the leader's own term to be committed first.
    #[default]
    ReadIndex,
    /// Reads are appended to the log and answered when applied, like writes.
    Log,
}

/// Configuration shared by every replica of a Raft cluster, generic over the replicated
/// application whose initial state it carries.
#[derive(Clone, Debug)]
pub struct Config<A> {
    /// Lower bound of the randomised election timeout (default 150ms, §5.2 / §9.3).
    pub election_timeout_min: Duration,
    /// Upper bound, inclusive (default 300ms).
    pub election_timeout_max: Duration,
    /// The leader's heartbeat interval (default 50ms); must be well below
    /// `election_timeout_min` or followers start needless elections.
    pub heartbeat: Duration,
    /// The read path (default [`ReadMode::ReadIndex`]).
    pub read_mode: ReadMode,
    /// Check-quorum (thesis §6.2): a leader that has not heard from a majority within an
    /// election timeout steps down. Default off.
    pub check_quorum: bool,
    /// PreVote (thesis §9.6): a server whose election timer fires first asks every peer
    /// whether it could win an election for the next term, and increments its term only after
    /// a majority said yes. A server partitioned away and reconnected then cannot raise the
    /// cluster's term and depose a healthy leader. Default off.
    pub pre_vote: bool,
    /// The most entries one AppendEntries carries (default 64); each batch draws its own limit,
    /// a power of two up to this (see the flow control in the module documentation). Directed
    /// tests set it to 1 to replicate an exact prefix (Figure 8).
    pub max_entries_per_append: usize,
    /// BUGGIFY (FoundationDB's word): now and then take a legal but unusual path, so that
    /// random testing reaches windows that would otherwise need precise timing. A new leader
    /// sometimes sends nothing until its first heartbeat (as if its no-op's disk write were
    /// slow), and a leader sometimes holds a follower's next batch until the next heartbeat.
    /// Each choice is drawn from the node's stream; the protocol stays correct either way.
    /// Default off; the runner turns it on for generated fault plans (scripted stories need
    /// the exact timing).
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
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            heartbeat: Duration::from_millis(50),
            read_mode: ReadMode::ReadIndex,
            check_quorum: false,
            pre_vote: false,
            max_entries_per_append: 64,
            buggify: false,
            bugs: BugSet::NONE,
            app,
        }
    }

    /// Checks the relationships between the fields.
    ///
    /// # Panics
    /// If the election timeout range is empty, the heartbeat is zero or not below the minimum
    /// election timeout, or `max_entries_per_append` is zero.
    pub fn assert_valid(&self) {
        assert!(
            self.election_timeout_min <= self.election_timeout_max,
            "election_timeout_min={} > election_timeout_max={}",
            self.election_timeout_min,
            self.election_timeout_max
        );
        assert!(
            self.heartbeat > Duration::ZERO,
            "heartbeat must be positive"
        );
        assert!(
            self.heartbeat < self.election_timeout_min,
            "heartbeat={} must be below election_timeout_min={}",
            self.heartbeat,
            self.election_timeout_min
        );
        assert!(
            self.max_entries_per_append > 0,
            "max_entries_per_append must be positive"
        );
    }
}
