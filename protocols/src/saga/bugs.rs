//! The saga's classic bug (BUGS.md §6b), switched on by one `if` at the rule it breaks.

use crate::mutation::Bug;

/// S1: the orchestrator sends a compensation before its COMPENSATING record is durable.
pub const COMPENSATION_NOT_DURABLE: Bug = Bug::new(
    "saga-compensation-not-durable",
    "orchestrator sends a compensation before forcing its COMPENSATING record",
);

/// Every saga bug.
pub const ALL: &[Bug] = &[COMPENSATION_NOT_DURABLE];
