//! The one place where an answer waits for the disk.
//!
//! Two-phase commit's correctness rests on three "force, then send" rules: a participant votes
//! YES only once its PREPARE record is durable, the coordinator sends COMMIT only once its
//! COMMIT record is durable, and a participant acknowledges a COMMIT only once its own COMMIT
//! record is durable. Each of them goes through [`ForcedLog::force`], which syncs and parks the
//! answer under the sync's token; [`ForcedLog::on_synced`] hands back the answers a completed
//! sync covers (a completion of token t stands for every token up to t: group commit), and the
//! node performs them from `Node::on_synced`. A crash loses the parked answers with the rest of
//! the volatile state: their records may not have reached the disk, so they must not leave.

use sim_core::node::{Ctx, Node, SyncToken};

/// Answers waiting for their records to become durable, in token order.
#[derive(Debug)]
pub struct ForcedLog<A> {
    waiting: Vec<(SyncToken, A)>,
}

impl<A> Default for ForcedLog<A> {
    fn default() -> Self {
        ForcedLog {
            waiting: Vec::new(),
        }
    }
}

impl<A> ForcedLog<A> {
    /// Forces every record appended so far; `answer` may leave once they are durable.
    pub fn force<N: Node>(&mut self, ctx: &mut Ctx<'_, N>, answer: A) {
        let token = ctx.sync();
        if let Some((last, _)) = self.waiting.last() {
            assert!(
                *last <= token,
                "sync tokens go backwards: {last} then {token}"
            );
        }
        self.waiting.push((token, answer));
    }

    /// The answers whose records the completed sync `token` made durable, in order.
    pub fn on_synced(&mut self, token: SyncToken) -> Vec<A> {
        let covered = self
            .waiting
            .partition_point(|(waiting, _)| *waiting <= token);
        self.waiting
            .drain(..covered)
            .map(|(_, answer)| answer)
            .collect()
    }
}
