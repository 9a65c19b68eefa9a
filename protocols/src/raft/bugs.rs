//! Raft's classic bugs (BUGS.md §1), each switched on by one `if` at the rule it breaks.

use crate::mutation::Bug;

/// R1: count replicas for entries of earlier terms (Raft §5.4.2, Figure 8).
pub const COMMIT_PRIOR_TERM: Bug = Bug::new(
    "raft-commit-prior-term",
    "leader counts replicas for entries of earlier terms (Figure 8)",
);
/// R2: keep votedFor only in memory / unsynced.
pub const VOTEDFOR_NOT_DURABLE: Bug = Bug::new(
    "raft-votedfor-not-durable",
    "currentTerm/votedFor kept in memory, lost on crash",
);
/// R4: grant votes without the up-to-date check (Raft §5.4.1).
pub const NO_ELECTION_RESTRICTION: Bug = Bug::new(
    "raft-no-election-restriction",
    "votes granted without the log up-to-date check",
);
/// R6: acknowledge AppendEntries before the entries are synced.
pub const ACK_BEFORE_FSYNC: Bug = Bug::new(
    "raft-ack-before-fsync",
    "AppendEntries acknowledged before the entries are synced",
);
/// R7: serve reads from the leader's local state with no quorum check.
pub const STALE_READ_NO_READINDEX: Bug = Bug::new(
    "raft-stale-read-no-readindex",
    "leader serves reads locally without confirming leadership",
);

/// Every Raft bug, in BUGS.md order.
pub const ALL: &[Bug] = &[
    COMMIT_PRIOR_TERM,
    VOTEDFOR_NOT_DURABLE,
    NO_ELECTION_RESTRICTION,
    ACK_BEFORE_FSYNC,
    STALE_READ_NO_READINDEX,
];
