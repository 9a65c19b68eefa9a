//! What the nodes of the sharded store send each other, and their timers.

use super::state::{Snapshot, Version};
use sim_core::id::TimerId;
use std::collections::BTreeSet;

/// A message between nodes of the sharded store whose groups run a consensus protocol with
/// messages `M` (Raft's by default).
#[derive(Clone, Debug)]
pub enum Message<M = crate::raft::Message> {
    /// A message of the group's consensus protocol (sender and receiver are of the same
    /// group).
    Group(M),
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

/// A timer of a node of the sharded store whose groups' consensus protocol has timers `T`.
#[derive(Clone, Debug)]
pub enum Timer<T = crate::raft::Timer> {
    /// A timer of the group's consensus replica, under the replica's own id.
    Group {
        /// The inner replica's id for it.
        id: TimerId,
        /// Its payload.
        timer: T,
    },
    /// A shard group node's periodic duties (poll the configuration, resend snapshots).
    Poll,
    /// A configuration node's next membership change.
    Rebalance,
}
