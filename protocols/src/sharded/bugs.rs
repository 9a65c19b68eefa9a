//! The sharded store's classic migration bugs, each one `if` at the rule it breaks
//! (in [`super::state::ShardState::serves`] and the handoff in `adopt`).

use crate::mutation::Bug;

/// The old owner keeps accepting operations on a key range after handing it over.
pub const SERVE_AFTER_HANDOFF: Bug = Bug::new(
    "shard-serve-after-handoff",
    "the old owner keeps serving a key range after handing it over at a new configuration version",
);
/// The new owner serves a range before the transferred snapshot is installed.
pub const MIGRATE_WITHOUT_SNAPSHOT_FENCE: Bug = Bug::new(
    "shard-migrate-without-snapshot-fence",
    "the new owner serves a key range before the old owner's snapshot of it is installed",
);

/// Every bug of the sharded store.
pub const ALL: &[Bug] = &[SERVE_AFTER_HANDOFF, MIGRATE_WITHOUT_SNAPSHOT_FENCE];
