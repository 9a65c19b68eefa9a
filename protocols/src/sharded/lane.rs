//! The sharded store's node lanes on a run page: each node's group by its place (`config`
//! for the configuration service, `shard` for a shard group), and within it Raft's roles and
//! terms: a `group leader` in its term, until the node sees a larger term of its group.
//! Terms are per group, so a group leader is not marked deposed by another group's larger
//! term (a plain `leader` would be: reports compare every node's terms).

use super::invariants::ShardObservation;
use crate::raft::RaftObservation;
use sim_core::observed::Lane;

/// The lane a node of group `group` starts with: the group it belongs to.
pub fn starting(group: u32) -> Lane {
    let role = if group == 0 { "config" } else { "shard" };
    Lane::Role { role, number: None }
}

impl ShardObservation {
    /// What this observation changes in its node's lane. A vote names its candidate by the
    /// group-local id, which the hook cannot match to the node, so a vote only shows its term
    /// (candidacies are not drawn).
    pub fn lane(&self) -> Lane {
        let ShardObservation::Raft { observation, .. } = self else {
            return Lane::Nothing;
        };
        match observation {
            RaftObservation::BecameLeader { term, .. } => Lane::Role {
                role: "group leader",
                number: Some(term.0),
            },
            RaftObservation::Voted { term, .. } | RaftObservation::Appended { term, .. } => {
                Lane::Number(term.0)
            }
            RaftObservation::Truncated { leader_term, .. } => Lane::Number(leader_term.0),
            RaftObservation::Committed { observer_term, .. } => Lane::Number(observer_term.0),
            RaftObservation::Applied { .. } => Lane::Nothing,
        }
    }
}
