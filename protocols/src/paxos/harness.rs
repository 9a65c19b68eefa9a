//! A Multi-Paxos cluster driven by hand, for directed tests: [`crate::harness::Cluster`] of
//! [`PaxosNode`]s, plus the steps that name Multi-Paxos's own timers.

use super::invariants::PaxosInvariants;
use super::message::{Message, Timer};
use super::node::PaxosNode;
use crate::apps::Application;
use crate::harness::Driven;
use sim_core::id::NodeId;

pub use crate::harness::DELIVERIES_MAX;

/// A cluster of [`PaxosNode`]s under the test's control.
pub type Cluster<A> = crate::harness::Cluster<PaxosNode<A>>;

/// One message on the wire.
pub type Envelope = crate::harness::Envelope<Message>;

impl<A: Application> Driven for PaxosNode<A> {
    type Oracle = PaxosInvariants;

    fn oracle() -> PaxosInvariants {
        PaxosInvariants::new()
    }

    fn replica_id(&self) -> NodeId {
        self.id()
    }

    fn believes_it_leads(&self) -> bool {
        self.is_leader()
    }
}

impl<A: Application> Cluster<A> {
    /// Fires replica `id`'s leader timeout (it starts or retries phase 1).
    ///
    /// # Panics
    /// If it has none pending (it leads, or is crashed).
    pub fn timeout(&mut self, id: NodeId) {
        self.fire(id, "leader timeout", |timer| {
            matches!(timer, Timer::LeaderTimeout { .. })
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
}
