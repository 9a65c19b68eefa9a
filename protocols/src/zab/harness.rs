//! A ZAB ensemble driven by hand, for directed tests: [`crate::harness::Cluster`] of
//! [`ZabNode`]s, plus ZAB's tick (`tickTime`), which drives every timeout.

use super::invariants::ZabInvariants;
use super::message::{Message, Timer};
use super::node::ZabNode;
use crate::apps::Application;
use crate::harness::Driven;
use sim_core::id::NodeId;

pub use crate::harness::DELIVERIES_MAX;

/// A cluster of [`ZabNode`]s under the test's control.
pub type Cluster<A> = crate::harness::Cluster<ZabNode<A>>;

/// One message on the wire.
pub type Envelope = crate::harness::Envelope<Message>;

impl<A: Application> Driven for ZabNode<A> {
    type Oracle = ZabInvariants;

    fn oracle() -> ZabInvariants {
        ZabInvariants::new()
    }

    fn replica_id(&self) -> NodeId {
        self.id()
    }

    fn believes_it_leads(&self) -> bool {
        self.is_leader()
    }
}

impl<A: Application> Cluster<A> {
    /// Fires replica `id`'s tick.
    ///
    /// # Panics
    /// If it has none pending (it is crashed).
    pub fn tick(&mut self, id: NodeId) {
        self.fire(id, "tick", |timer| matches!(timer, Timer::Tick));
    }

    /// Moves time on by one `tickTime` and ticks every running replica, in id order.
    pub fn tick_all(&mut self) {
        self.advance(self.config().tick_time);
        for id in (0..self.size()).map(NodeId) {
            if self.is_up(id) {
                self.tick(id);
            }
        }
    }

    /// `rounds` times: deliver everything on the wire, then tick everyone.
    pub fn settle(&mut self, rounds: u32) {
        for _ in 0..rounds {
            self.deliver_all();
            self.tick_all();
        }
        self.deliver_all();
    }
}
