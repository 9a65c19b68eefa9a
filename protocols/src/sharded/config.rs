//! The sharded store's configuration.

use super::bugs;
use super::state::{Configurations, GroupApp, ShardState};
use crate::mutation::BugSet;
use crate::raft;
use sim_core::time::Duration;
use std::collections::BTreeSet;

/// Which membership changes the configuration service makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rebalance {
    /// Add spare shards until every shard is on the ring.
    Grow,
    /// Remove shards until one is left.
    Shrink,
    /// Add or remove at random (coin flips of the configuration leader's stream).
    Random,
}

/// Configuration shared by every node of the sharded store.
#[derive(Clone, Debug)]
pub struct Config {
    /// Replicas per group (the configuration service's and every shard's).
    pub replicas: u32,
    /// Shards on the ring at version 1: shards `0..shards`.
    pub shards: u32,
    /// Shard groups that exist (the rest are spares a change can add).
    pub shards_max: u32,
    /// Virtual nodes per shard on the ring.
    pub vnodes: u32,
    /// Which changes the configuration service makes.
    pub rebalance: Rebalance,
    /// How many changes at most.
    pub rebalances: u32,
    /// Smallest gap between changes.
    pub rebalance_every_min: Duration,
    /// Largest gap between changes.
    pub rebalance_every_max: Duration,
    /// How often a shard leader polls the configuration service and resends snapshots.
    pub poll_interval: Duration,
    /// Every group's Raft (its application is set per group).
    pub raft: raft::Config<()>,
    /// Switched-on mutations.
    pub bugs: BugSet,
    /// Does the scenario ask for membership changes (`AddShard`/`RemoveShard`)? Then the
    /// configuration service's nodes poll their queue of requests every `poll_interval`.
    pub membership_changes: bool,
}

impl Config {
    /// The shards of version 1.
    pub fn initial_members(&self) -> BTreeSet<u32> {
        (0..self.shards).collect()
    }

    /// The number of nodes: the configuration service's and every shard group's replicas.
    pub fn node_count(&self) -> u32 {
        self.replicas * (1 + self.shards_max)
    }

    /// The Raft configuration of group `group` (0: configuration service, `1 + s`: shard s).
    pub fn raft_for_group(&self, group: u32) -> raft::Config<GroupApp> {
        let initial = self.initial_members();
        let app = if group == 0 {
            GroupApp::Configurations(Configurations::new(initial, self.vnodes))
        } else {
            GroupApp::Shard(ShardState::new(
                group - 1,
                &initial,
                self.vnodes,
                self.bugs.contains(bugs::SERVE_AFTER_HANDOFF),
                self.bugs.contains(bugs::MIGRATE_WITHOUT_SNAPSHOT_FENCE),
            ))
        };
        let raft = &self.raft;
        raft::Config {
            election_timeout_min: raft.election_timeout_min,
            election_timeout_max: raft.election_timeout_max,
            heartbeat: raft.heartbeat,
            read_mode: raft.read_mode,
            check_quorum: raft.check_quorum,
            pre_vote: raft.pre_vote,
            max_entries_per_append: raft.max_entries_per_append,
            buggify: raft.buggify,
            bugs: BugSet::NONE,
            app,
        }
    }
}
