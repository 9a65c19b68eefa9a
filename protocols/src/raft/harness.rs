//! A Raft cluster driven by hand, for directed tests and golden traces:
//! [`crate::harness::Cluster`] of [`RaftNode`]s, plus the steps that name Raft's own timers
//! and its election traffic.

use super::invariants::RaftInvariants;
use super::message::{Message, Timer};
use super::node::RaftNode;
use crate::apps::Application;
use crate::harness::Driven;
use sim_core::id::NodeId;

pub use crate::harness::DELIVERIES_MAX;

/// A cluster of [`RaftNode`]s under the test's control.
pub type Cluster<A> = crate::harness::Cluster<RaftNode<A>>;

/// One message on the wire.
pub type Envelope = crate::harness::Envelope<Message>;

impl<A: Application> Driven for RaftNode<A> {
    type Oracle = RaftInvariants;

    fn oracle() -> RaftInvariants {
        RaftInvariants::new()
    }

    fn replica_id(&self) -> NodeId {
        self.id()
    }

    fn believes_it_leads(&self) -> bool {
        self.is_leader()
    }
}

impl<A: Application> Cluster<A> {
    /// Fires node `id`'s election timeout: it starts an election (or a pre-vote).
    ///
    /// # Panics
    /// If it has none pending.
    pub fn timeout(&mut self, id: NodeId) {
        self.fire(id, "election", |timer| {
            matches!(timer, Timer::Election { .. })
        });
    }

    /// Fires leader `id`'s heartbeat timer.
    ///
    /// # Panics
    /// If it has none pending.
    pub fn heartbeat(&mut self, id: NodeId) {
        self.fire(id, "heartbeat", |timer| {
            matches!(timer, Timer::Heartbeat { .. })
        });
    }

    /// Delivers election traffic (RequestVote, PreVote and their responses) until none is on
    /// the wire, leaving every other message where it is.
    ///
    /// # Panics
    /// After [`DELIVERIES_MAX`] deliveries (a livelock).
    pub fn deliver_votes(&mut self) {
        self.deliver_all_where(|envelope| {
            matches!(
                envelope.msg,
                Message::RequestVote { .. }
                    | Message::RequestVoteResponse { .. }
                    | Message::PreVote { .. }
                    | Message::PreVoteResponse { .. }
            )
        });
    }
}
