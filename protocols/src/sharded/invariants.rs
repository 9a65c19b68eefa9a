//! The sharded store's safety checks, from observations.
//!
//! - Every group's consensus invariants (Raft's election safety, log matching, leader
//!   completeness and state-machine safety; Multi-Paxos's or ZAB's own when the groups run
//!   those), each group checked on its own with group-local node ids.
//! - **one-owner-per-version**: no key is served by two shards under one configuration
//!   version. A shard group reports `Served { shard, key, version }` whenever its state machine
//!   applies an operation on `key` at a version it had not reported for that key, and when it
//!   answers a read; two shards reporting the same (key, version) is a violation.
//!
//! Lost acknowledged writes and stale reads across a migration are the linearizability
//! checker's to find: it partitions the history by key, and a migration neither splits nor
//! renames a key.

use crate::raft::{RaftInvariants, RaftObservation};
use sim_core::id::NodeId;
use sim_core::node::{Invariants, Violation};
use sim_core::time::Instant;
use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Debug;

/// What a node of the sharded store reports, its groups' consensus protocol observing `O`.
#[derive(Clone, PartialEq, Eq)]
pub enum ShardObservation<O = RaftObservation> {
    /// An observation of group `group`'s consensus replica, with the group-local node id
    /// implied.
    Group {
        /// The group (0: configuration service, `1 + s`: shard s).
        group: u32,
        /// What the replica observed.
        observation: O,
    },
    /// Shard `shard` served `key` at configuration `version`.
    Served {
        /// The serving shard.
        shard: u32,
        /// The key.
        key: u32,
        /// The configuration version it served under.
        version: u64,
    },
}

impl<O: Debug> fmt::Debug for ShardObservation<O> {
    /// The consensus protocol's own words first, so run reports read roles and terms as for
    /// the plain protocol.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardObservation::Group { observation, .. } => fmt::Debug::fmt(observation, f),
            ShardObservation::Served {
                shard,
                key,
                version,
            } => write!(
                f,
                "Served {{ shard: {shard}, key: {key}, version: {version} }}"
            ),
        }
    }
}

/// The checker of [`ShardObservation`]s, each group's observations checked by its own `I`.
#[derive(Debug)]
pub struct ShardInvariants<I = RaftInvariants> {
    replicas: u32,
    groups: Vec<I>,
    owners: BTreeMap<(u32, u64), u32>,
}

impl ShardInvariants {
    /// A checker for `groups` Raft groups of `replicas` nodes.
    pub fn new(groups: u32, replicas: u32) -> ShardInvariants {
        ShardInvariants::with_groups(groups, replicas, RaftInvariants::new)
    }
}

impl<I> ShardInvariants<I> {
    /// A checker for `groups` groups of `replicas` nodes, each checked by a `group()`.
    pub fn with_groups(groups: u32, replicas: u32, group: impl Fn() -> I) -> ShardInvariants<I> {
        ShardInvariants {
            replicas,
            groups: (0..groups).map(|_| group()).collect(),
            owners: BTreeMap::new(),
        }
    }
}

impl<O, I: Invariants<O>> Invariants<ShardObservation<O>> for ShardInvariants<I> {
    fn observe(
        &mut self,
        time: Instant,
        node: NodeId,
        observation: &ShardObservation<O>,
    ) -> Result<(), Violation> {
        match observation {
            ShardObservation::Group { group, observation } => {
                let inner = NodeId(node.0 % self.replicas);
                self.groups[*group as usize]
                    .observe(time, inner, observation)
                    .map_err(|violation| Violation {
                        invariant: violation.invariant,
                        message: format!("group {group}: {}", violation.message),
                    })
            }
            &ShardObservation::Served {
                shard,
                key,
                version,
            } => match self.owners.insert((key, version), shard) {
                Some(other) if other != shard => Err(Violation {
                    invariant: "one-owner-per-version".to_string(),
                    message: format!(
                        "key {key} served by shard {other} and shard {shard} at configuration version {version}"
                    ),
                }),
                _ => Ok(()),
            },
        }
    }

    fn on_crash(&mut self, time: Instant, node: NodeId) {
        let group = (node.0 / self.replicas) as usize;
        self.groups[group].on_crash(time, NodeId(node.0 % self.replicas));
    }

    fn finish(&mut self, time: Instant) -> Result<(), Violation> {
        for group in &mut self.groups {
            group.finish(time)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(shard: u32, key: u32, version: u64) -> ShardObservation {
        ShardObservation::Served {
            shard,
            key,
            version,
        }
    }

    #[test]
    fn two_shards_serving_one_key_at_one_version_is_a_violation() {
        let mut checker = ShardInvariants::new(3, 3);
        let at = Instant::ZERO;
        assert!(checker.observe(at, NodeId(3), &served(0, 7, 1)).is_ok());
        assert!(checker.observe(at, NodeId(4), &served(0, 7, 1)).is_ok());
        // The next owner at the next version: a handoff, not a conflict.
        assert!(checker.observe(at, NodeId(6), &served(1, 7, 2)).is_ok());
        let violation = checker
            .observe(at, NodeId(3), &served(0, 7, 2))
            .expect_err("two owners at version 2");
        assert_eq!(violation.invariant, "one-owner-per-version");
    }
}
