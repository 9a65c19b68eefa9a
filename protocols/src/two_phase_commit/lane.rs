//! Two-phase commit's node lanes on a run page, in Gray's words: the `coordinator`, and each
//! `participant`, which is `prepared` (in doubt: it voted YES, so it may neither commit nor
//! abort on its own, and holds its locks) from its vote until it applies a decision.

use super::coordinator_log::CoordinatorLog;
use super::message::Observation;
use crate::raft::RaftNode;
use sim_core::id::NodeId;
use sim_core::node::Node;
use sim_core::observed::Lane;

/// The lane a node starts with (and restarts with: a participant that recovers in doubt says
/// so in its `Recovered` observation right after): its role, `coordinator`, `coordinator
/// replica` (a member of a replicated coordinator's group) or `participant`.
pub fn starting(role: &'static str) -> Lane {
    Lane::Role { role, number: None }
}

impl Observation {
    /// What this observation changes in node `node`'s lane. The hook sees one observation at a
    /// time, so a participant with several transactions prepared at once shows `prepared`
    /// from a YES vote to the next decision it applies, not to its last one. A replica of a
    /// replicated coordinator is drawn by its Raft: its group's leader is the `coordinator`
    /// in its term, until the replica sees a larger term.
    pub fn lane(&self, node: NodeId) -> Lane {
        let role = match self {
            Observation::Group { observation } => {
                return match <RaftNode<CoordinatorLog> as Node>::lane(observation, node) {
                    Lane::Role {
                        role: "leader",
                        number,
                    } => Lane::Role {
                        role: "coordinator",
                        number,
                    },
                    other => other,
                };
            }
            Observation::Voted { yes: true, .. } => "prepared",
            Observation::Recovered { in_doubt, .. } if !in_doubt.is_empty() => "prepared",
            Observation::Committed { .. }
            | Observation::Aborted { .. }
            | Observation::Recovered { .. } => "participant",
            _ => return Lane::Nothing,
        };
        Lane::Role { role, number: None }
    }
}
