//! A sharded kv store: keys placed on a consistent-hash ring of shards, each shard a consensus
//! group (Raft, Multi-Paxos or ZAB), the ring's configuration held by a configuration service
//! that is itself such a group, and shards added and removed while clients write and the
//! network misbehaves.
//!
//! ## The design
//!
//! - **Groups inside one cluster.** Node ids are cut into groups of `replicas`: group 0 is the
//!   configuration service, group `1 + s` is shard `s` (`shards_max` groups exist; `shards` of
//!   them are on the ring at first, the others are spares). Every node runs an unmodified
//!   [`RaftNode`](crate::raft::RaftNode) (or `PaxosNode`, `ZabNode`: `group_protocol`, a
//!   [`GroupReplica`]) as a member of its own group's cluster, behind a
//!   translating context ([`crate::group::Group`], driven by [`node`]).
//! - **Placement** ([`ring`]): a key belongs to the shard of the first virtual node at or after
//!   its position on a ring of 2^64 positions (a pinned SplitMix64 hash).
//! - **Configuration service.** Its group's log holds the list of configurations (version 1,
//!   2, …, each a set of shards). Its leader proposes the next change every `rebalance_every`, up to
//!   `rebalances` changes: `Grow` adds the lowest spare shard (a 3-shard store grows to 5),
//!   `Shrink` removes one, `Random` flips a coin.
//! - **Adopting a version (the fence).** Each shard group's leader polls the service for the
//!   version after its own and proposes `Reconfigure { version }` into its group's log, but
//!   only once its current version is *settled* (every snapshot it waits for is installed), so
//!   versions are adopted one at a time, in order, by every group. Applying `Reconfigure`
//!   is the handoff: every key range that moves away stops being served at that log entry,
//!   and its written keys and values become a snapshot in the replicated state; every range
//!   that moves in is *pending* until the old owner's snapshot is installed.
//! - **Snapshot transfer.** The old owner's leader sends each snapshot to every replica of the
//!   new owner, every `poll_interval`, until one of them answers that it installed it; the new
//!   owner's leader proposes `Install { version, from, entries }`, and applying it serves the
//!   range. Both snapshot and pending set are replicated state, so a new leader on either side
//!   after a crash or a partition carries the handoff on.
//! - **Clients** send to any node; a node that does not own the key by its group's adopted
//!   configuration redirects to the owner group's replicas in turn (the client caches the
//!   hint), the owner's followers redirect to their leader, and a pending range answers a
//!   redirect without a hint (the client backs off).
//!
//! ## Invariants
//!
//! Every group's consensus invariants, and one-owner-per-version (no key served by two shards at
//! one configuration version), from observations ([`invariants`]); per-key linearizability of
//! the whole history, across every migration, by the checker.
//!
//! ## Deliberate simplifications
//!
//! - All groups of one store run the same consensus protocol (`group_protocol`).
//! - Membership changes come from the configuration service's own schedule (parameters) or
//!   from the scenario (`AddShard`/`RemoveShard`, handed to every running node by the kernel:
//!   a request that reaches only crashed or paused configuration nodes is lost).
//! - Snapshots travel whole in one message; a handed-over range is dropped from the old owner
//!   at once, and snapshots are never garbage-collected (a few per change).
//! - The key a keyless `Register` uses is placed as key `u32::MAX`.

pub mod bugs;
pub mod config;
mod descriptor;
pub mod invariants;
mod lane;
pub mod message;
pub mod node;
pub mod ring;
pub mod state;

/// The most shard groups (and replicas per group).
pub const SHARDS_MAX: u32 = 16;

pub use config::{Config, GroupProtocol, GroupReplica, Rebalance};
pub use descriptor::{ShardedProtocol, SHARDED};
pub use invariants::{ShardInvariants, ShardObservation};
pub use node::ShardedNode;

/// Every crash point its nodes pass (`ctx.crash_point`), the handoff's moments, each right
/// after a group member applied the log entry (and sent what the handler sent): after an old
/// owner froze the ranges it hands over (a `Reconfigure` that took snapshots), after a new
/// owner installed a snapshot (an `Install`), and after a configuration service member applied
/// a new configuration (a `Change`). The inner replica's own crash points stay off.
pub const CRASH_POINTS: &[&str] = &[
    "shard.after_freeze",
    "shard.after_install",
    "shard.after_config_commit",
];

/// Every mark the sharded store's nodes may emit besides their consensus protocol's.
pub const MARKS: &[&str] = &[
    "shard.add_shard",
    "shard.awaiting_snapshot",
    "shard.install_proposed",
    "shard.membership_unchanged",
    "shard.reconfigure_proposed",
    "shard.redirect_wrong_shard",
    "shard.refusal_answered_unknown",
    "shard.refused_after_handoff",
    "shard.remove_shard",
    "shard.unavailable_100ms_to_500ms",
    "shard.unavailable_20ms_to_100ms",
    "shard.unavailable_500ms_or_more",
    "shard.unavailable_under_20ms",
];
