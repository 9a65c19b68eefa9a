//! The sharded store's configuration.

use super::bugs;
use super::invariants::ShardInvariants;
use super::state::{Configurations, GroupApp, ShardState};
use crate::group::Replica;
use crate::mutation::BugSet;
use crate::paxos::{self, PaxosInvariants, PaxosNode};
use crate::raft::{self, RaftInvariants, RaftNode};
use crate::zab::{self, ZabInvariants, ZabNode};
use sim_core::node::Invariants;
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

/// The consensus protocol every group (the configuration service's and every shard's) runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupProtocol {
    /// Raft (the default).
    #[default]
    Raft,
    /// Multi-Paxos with a stable leader.
    MultiPaxos,
    /// ZooKeeper's atomic broadcast.
    Zab,
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
    /// The consensus protocol of every group.
    pub group_protocol: GroupProtocol,
    /// Every group's Multi-Paxos, when the groups run it (its application is set per group).
    pub paxos: paxos::Config<()>,
    /// Every group's ZAB, when the groups run it (its application is set per group).
    pub zab: zab::Config<()>,
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

    /// The replicated state machine of group `group` (0: configuration service, `1 + s`:
    /// shard s), as it starts.
    pub fn app_for_group(&self, group: u32) -> GroupApp {
        let initial = self.initial_members();
        if group == 0 {
            GroupApp::Configurations(Configurations::new(initial, self.vnodes))
        } else {
            GroupApp::Shard(ShardState::new(
                group - 1,
                &initial,
                self.vnodes,
                self.bugs.contains(bugs::SERVE_AFTER_HANDOFF),
                self.bugs.contains(bugs::MIGRATE_WITHOUT_SNAPSHOT_FENCE),
            ))
        }
    }

    /// The Raft configuration of group `group` (0: configuration service, `1 + s`: shard s).
    pub fn raft_for_group(&self, group: u32) -> raft::Config<GroupApp> {
        let app = self.app_for_group(group);
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

/// A consensus replica the sharded store's groups can run: how a group's member is configured
/// from the store's configuration, and how a group's observations are checked.
pub trait GroupReplica: Replica<App = GroupApp> {
    /// The protocol's checker of one group's observations.
    type GroupInvariants: Invariants<Self::Observation> + std::fmt::Debug + 'static;

    /// The configuration of every member of group `group`.
    fn group_config(config: &Config, group: u32) -> Self::Config;

    /// A checker for every group of the store.
    fn invariants(config: &Config) -> ShardInvariants<Self::GroupInvariants>;

    /// How far the replica's state machine has applied its log (entries, slots or txns).
    fn applied_position(&self) -> u64;

    /// How far the replica's durable log reaches, in the same unit: read right after recovery,
    /// the end of what a restarted replica may re-apply.
    fn durable_position(&self) -> u64;
}

impl GroupReplica for RaftNode<GroupApp> {
    type GroupInvariants = RaftInvariants;

    fn group_config(config: &Config, group: u32) -> raft::Config<GroupApp> {
        config.raft_for_group(group)
    }

    fn invariants(config: &Config) -> ShardInvariants<RaftInvariants> {
        ShardInvariants::new(1 + config.shards_max, config.replicas)
    }

    fn applied_position(&self) -> u64 {
        self.last_applied().0
    }

    fn durable_position(&self) -> u64 {
        self.log().last_index().0
    }
}

impl GroupReplica for PaxosNode<GroupApp> {
    type GroupInvariants = PaxosInvariants;

    fn group_config(config: &Config, group: u32) -> paxos::Config<GroupApp> {
        let paxos = &config.paxos;
        paxos::Config {
            leader_timeout_min: paxos.leader_timeout_min,
            leader_timeout_max: paxos.leader_timeout_max,
            heartbeat: paxos.heartbeat,
            read_mode: paxos.read_mode,
            max_clock_drift_ppm: paxos.max_clock_drift_ppm,
            buggify: paxos.buggify,
            bugs: BugSet::NONE,
            app: config.app_for_group(group),
        }
    }

    fn invariants(config: &Config) -> ShardInvariants<PaxosInvariants> {
        ShardInvariants::with_groups(1 + config.shards_max, config.replicas, PaxosInvariants::new)
    }

    fn applied_position(&self) -> u64 {
        // Slots count from 1: the chosen (and applied) prefix ends at slot `len`.
        self.chosen().len() as u64
    }

    fn durable_position(&self) -> u64 {
        let accepted = self.acceptor().accepted_from(paxos::Slot(1));
        accepted.last().map_or(0, |(slot, _)| slot.0)
    }
}

impl GroupReplica for ZabNode<GroupApp> {
    type GroupInvariants = ZabInvariants;

    fn group_config(config: &Config, group: u32) -> zab::Config<GroupApp> {
        let zab = &config.zab;
        zab::Config {
            tick_time: zab.tick_time,
            init_limit: zab.init_limit,
            sync_limit: zab.sync_limit,
            committed_log: zab.committed_log,
            read_mode: zab.read_mode,
            buggify: zab.buggify,
            bugs: BugSet::NONE,
            app: config.app_for_group(group),
        }
    }

    fn invariants(config: &Config) -> ShardInvariants<ZabInvariants> {
        ShardInvariants::with_groups(1 + config.shards_max, config.replicas, ZabInvariants::new)
    }

    fn applied_position(&self) -> u64 {
        self.delivered() as u64
    }

    fn durable_position(&self) -> u64 {
        self.history().len() as u64
    }
}
