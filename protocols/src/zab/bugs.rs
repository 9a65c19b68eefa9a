//! ZAB's classic bugs (BUGS.md §3), each switched on by one `if` at the rule it breaks.

use crate::mutation::Bug;

/// Z1 (ZOOKEEPER-1154): the leader answers a follower whose last zxid is not in its history
/// with a DIFF alone, without the TRUNC that removes the follower's divergent suffix.
pub const DIFF_WITHOUT_TRUNC: Bug = Bug::new(
    "zab-diff-without-trunc",
    "leader sends DIFF where TRUNC+DIFF is needed: the follower keeps a txn the leader never committed",
);
/// Z2 (ZOOKEEPER-3911, ZOOKEEPER-4646): the follower acknowledges NEWLEADER before the
/// synchronized history and its new currentEpoch are durable.
pub const ACK_NEWLEADER_BEFORE_PERSIST: Bug = Bug::new(
    "zab-ack-newleader-before-persist",
    "follower acks NEWLEADER before the synced txns are durable",
);
/// Z3: the follower accepts (logs and acknowledges) a PROPOSAL from a leader of an epoch
/// below its acceptedEpoch, breaking the promise its ACKEPOCH made.
pub const ACCEPT_STALE_EPOCH_PROPOSAL: Bug = Bug::new(
    "zab-accept-stale-epoch-proposal",
    "follower logs and acks a PROPOSAL from a leader of an epoch below its acceptedEpoch",
);

/// Every ZAB bug, in BUGS.md order.
pub const ALL: &[Bug] = &[
    DIFF_WITHOUT_TRUNC,
    ACK_NEWLEADER_BEFORE_PERSIST,
    ACCEPT_STALE_EPOCH_PROPOSAL,
];
