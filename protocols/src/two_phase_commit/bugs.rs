//! Two-phase commit's classic bugs (BUGS.md §4), each switched on by one `if` at the rule it
//! breaks.

use crate::mutation::Bug;

/// T1: the coordinator counts a vote that never arrived (timed out, lost) as YES.
pub const COMMIT_WITHOUT_UNANIMOUS_YES: Bug = Bug::new(
    "2pc-commit-without-unanimous-yes",
    "coordinator commits when a vote times out, as if it were YES",
);
/// T2: a prepared participant that hears no decision in time rolls back on its own.
pub const PARTICIPANT_UNILATERAL_ABORT_AFTER_YES: Bug = Bug::new(
    "2pc-participant-unilateral-abort-after-yes",
    "a participant in doubt times out and aborts on its own",
);
/// T4: the coordinator sends COMMIT before its COMMIT record is durable (it syncs later).
pub const DECISION_NOT_LOGGED_BEFORE_SEND: Bug = Bug::new(
    "2pc-decision-not-logged-before-send",
    "coordinator sends COMMIT before forcing its COMMIT record",
);

/// Every two-phase-commit bug, in BUGS.md order.
pub const ALL: &[Bug] = &[
    COMMIT_WITHOUT_UNANIMOUS_YES,
    PARTICIPANT_UNILATERAL_ABORT_AFTER_YES,
    DECISION_NOT_LOGGED_BEFORE_SEND,
];
