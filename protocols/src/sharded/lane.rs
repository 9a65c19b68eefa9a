//! The sharded store's node lanes on a run page: each node's group by its place (`config`
//! for the configuration service, `shard` for a shard group), and within it the group
//! protocol's own roles and terms/ballots/epochs, its leader drawn as a `group leader` until
//! the node sees a larger number of its group. Numbers are per group, so a group leader is
//! not marked deposed by another group's larger term (a plain `leader` would be: reports
//! compare every node's numbers).

use super::invariants::ShardObservation;
use sim_core::id::NodeId;
use sim_core::node::Node;
use sim_core::observed::Lane;

/// The lane a node of group `group` starts with: the group it belongs to.
pub fn starting(group: u32) -> Lane {
    let role = if group == 0 { "config" } else { "shard" };
    Lane::Role { role, number: None }
}

impl<O> ShardObservation<O> {
    /// What this observation changes in its node's lane, in the words of the group's protocol
    /// `R`. A vote names its candidate by the group-local id, which the hook cannot match to
    /// the node (it is asked with an id no node has), so a vote only shows its number
    /// (candidacies are not drawn).
    pub fn lane<R: Node<Observation = O>>(&self) -> Lane {
        let ShardObservation::Group { observation, .. } = self else {
            return Lane::Nothing;
        };
        match R::lane(observation, NodeId(u32::MAX)) {
            Lane::Role {
                role: "leader",
                number,
            } => Lane::Role {
                role: "group leader",
                number,
            },
            other => other,
        }
    }
}
