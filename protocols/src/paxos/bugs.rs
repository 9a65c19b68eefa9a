//! Multi-Paxos's classic bugs (BUGS.md §2), each switched on by one `if` at the rule it breaks.

use crate::mutation::Bug;

/// P1: the acceptor accepts any Accept, ignoring its promise (Paxos Made Simple P1a).
pub const ACCEPT_IGNORES_PROMISE: Bug = Bug::new(
    "paxos-accept-ignores-promise",
    "acceptor accepts ballots below its promise",
);
/// P2: accepting ballot n does not also promise n.
pub const ACCEPT_DOES_NOT_RAISE_PROMISE: Bug = Bug::new(
    "paxos-accept-does-not-raise-promise",
    "accepting a ballot does not promise it",
);
/// P4: after phase 1 the proposer proposes its own value, not the highest-ballot accepted one.
pub const IGNORE_ACCEPTED_VALUE: Bug = Bug::new(
    "paxos-ignore-accepted-value",
    "proposer ignores the highest-ballot accepted value reported in promises",
);
/// P6: leader-local lease reads with no clock-drift margin.
pub const LEASE_READ_UNSAFE: Bug = Bug::new(
    "multipaxos-lease-read-unsafe",
    "lease reads with no clock-drift margin",
);

/// Every Multi-Paxos bug, in BUGS.md order.
pub const ALL: &[Bug] = &[
    ACCEPT_IGNORES_PROMISE,
    ACCEPT_DOES_NOT_RAISE_PROMISE,
    IGNORE_ACCEPTED_VALUE,
    LEASE_READ_UNSAFE,
];
