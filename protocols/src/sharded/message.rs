//! What the nodes of the sharded store send each other, and their timers.

use super::state::{Snapshot, Version};
use crate::raft;
use sim_core::id::TimerId;
use std::collections::BTreeSet;

/// A message between nodes of the sharded store.
#[derive(Clone, Debug)]
pub enum Message {
    /// A Raft message within one group (sender and receiver are of the same group).
    Raft(raft::Message),
    /// A shard group's leader asks the configuration service for the configuration after
    /// `known`.
    FetchConfiguration {
        /// The version the asking group has adopted.
        known: Version,
    },
    /// The configuration service's answer: configuration `version` has these shards.
    Configuration {
        /// The version.
        version: Version,
        /// Its shards.
        members: BTreeSet<u32>,
    },
    /// The snapshot shard `from` took when it adopted `version`, for the receiving shard.
    Snapshot {
        /// The configuration version of the handoff.
        version: Version,
        /// The handing shard.
        from: u32,
        /// The keys and sessions handed over.
        snapshot: Snapshot,
    },
    /// The receiving shard installed the snapshot of `version` (it is in its applied state).
    SnapshotInstalled {
        /// The configuration version of the handoff.
        version: Version,
        /// The shard that installed it.
        shard: u32,
    },
}

/// A timer of a node of the sharded store.
#[derive(Clone, Debug)]
pub enum Timer {
    /// A timer of the inner Raft, under the inner Raft's own id.
    Raft {
        /// The inner Raft's id for it.
        id: TimerId,
        /// Its payload.
        timer: raft::Timer,
    },
    /// A shard group node's periodic duties (poll the configuration, resend snapshots).
    Poll,
    /// A configuration node's next membership change.
    Rebalance,
}
