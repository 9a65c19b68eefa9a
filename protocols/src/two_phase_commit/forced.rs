//! The one place where an answer waits for the disk.
//!
//! Two-phase commit's correctness rests on three "force, then send" rules: a participant votes
//! YES only once its PREPARE record is durable, the coordinator sends COMMIT only once its
//! COMMIT record is durable, and a participant acknowledges a COMMIT only once its own COMMIT
//! record is durable. Each of them goes through [`ForcedLog::force`], so that the kernel's
//! disk model decides when the answer may leave: today a sync completes at once (the effects
//! are applied in order, so the answer recorded after the sync leaves after it); with sync
//! latency, `force` will park the answer until `Node::on_synced` reports its token.

use sim_core::node::{Ctx, Node};

/// Answers waiting for their records to become durable.
#[derive(Debug)]
pub struct ForcedLog<A> {
    waiting: Vec<A>,
}

impl<A> Default for ForcedLog<A> {
    fn default() -> Self {
        ForcedLog {
            waiting: Vec::new(),
        }
    }
}

impl<A> ForcedLog<A> {
    /// Forces every record appended so far and returns the answers that may leave now:
    /// `answer` once the records are durable.
    pub fn force<N: Node>(&mut self, ctx: &mut Ctx<'_, N>, answer: A) -> Vec<A> {
        ctx.sync();
        // The sync is complete when the next effect is applied: everything waiting may go.
        self.waiting.push(answer);
        std::mem::take(&mut self.waiting)
    }
}
