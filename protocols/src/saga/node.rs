//! A saga node: the orchestrator (node 0) or a participant, dispatching the kernel's inputs to
//! its role.

use super::message::{Message, Observation, Record, Timer};
use super::orchestrator::Orchestrator;
use super::participant::Participant;
use super::{Config, ORCHESTRATOR};
use sim_core::id::NodeId;
use sim_core::node::{Ctx, Node, Outcome, Request, SyncToken};

/// The role a node plays.
#[derive(Debug)]
enum Role {
    Orchestrator(Orchestrator),
    Participant(Participant),
}

/// A node of the saga bank.
#[derive(Debug)]
pub struct SagaNode {
    config: Config,
    role: Role,
}

impl Node for SagaNode {
    type Config = Config;
    type Msg = Message;
    type Timer = Timer;
    type Record = Record;
    type Observation = Observation;

    /// Lanes: node 0 is the `orchestrator` (Garcia-Molina and Salem's saga execution
    /// coordinator), the others `participant`s (see `starting_lane`); steps and endings change
    /// nothing a lane shows.
    fn lane(_observation: &Observation, _node: NodeId) -> sim_core::observed::Lane {
        sim_core::observed::Lane::Nothing
    }

    fn starting_lane(&self) -> sim_core::observed::Lane {
        let role = match self.role {
            Role::Orchestrator(_) => "orchestrator",
            Role::Participant(_) => "participant",
        };
        sim_core::observed::Lane::Role { role, number: None }
    }

    fn recover(config: &Config, id: NodeId, durable: &[Record]) -> Self {
        assert!(id.0 <= config.participants, "{id} is not a saga node");
        let role = if id == ORCHESTRATOR {
            Role::Orchestrator(Orchestrator::recover(durable))
        } else {
            Role::Participant(Participant::recover(config, id, durable))
        };
        SagaNode {
            config: config.clone(),
            role,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        match &mut self.role {
            Role::Orchestrator(orchestrator) => orchestrator.on_start(ctx, &self.config),
            Role::Participant(participant) => participant.on_start(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message) {
        let config = &self.config;
        match (&mut self.role, msg) {
            (
                Role::Participant(participant),
                Message::Run {
                    saga,
                    step,
                    account,
                    amount,
                    epoch,
                },
            ) => participant.on_run(ctx, config, saga, step, account, amount, epoch),
            (Role::Participant(participant), Message::Read { audit }) => {
                participant.on_read(ctx, audit)
            }
            (
                Role::Orchestrator(orchestrator),
                Message::Ran {
                    saga,
                    step,
                    epoch,
                    applied,
                },
            ) => orchestrator.on_ran(ctx, config, saga, step, epoch, applied),
            (Role::Orchestrator(orchestrator), Message::Balances { audit, balances }) => {
                orchestrator.on_balances(ctx, config, from, audit, balances)
            }
            (_, msg) => panic!("{} got {msg:?}, which its role never receives", ctx.id()),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (&mut self.role, timer) {
            (Role::Orchestrator(orchestrator), Timer::Resend) => {
                orchestrator.on_resend_timer(ctx, &self.config)
            }
            (_, timer) => panic!("{} got timer {timer:?} of another role", ctx.id()),
        }
    }

    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        match &mut self.role {
            Role::Orchestrator(orchestrator) => orchestrator.on_synced(ctx, &self.config, token),
            Role::Participant(participant) => participant.on_synced(ctx, token),
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        match &mut self.role {
            Role::Orchestrator(orchestrator) => orchestrator.on_request(ctx, &self.config, request),
            // Clients talk to the orchestrator.
            Role::Participant(_) => ctx.reply(
                request.client,
                request.id,
                Outcome::Redirect {
                    leader: Some(ORCHESTRATOR),
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saga::{SagaId, Step};
    use sim_core::node::Effect;
    use sim_core::prng::{Prng, Stream};
    use sim_core::time::Instant;

    /// Participant 1 of a bank of two participants and four accounts of 100 (it owns 0 and 1),
    /// credits refused above 150.
    fn config() -> Config {
        let mut config = Config::new(2, vec![100; 4]);
        config.balance_max = 150;
        config
    }

    /// Delivers `msg` from the orchestrator to `node` on an instant disk; returns the node's
    /// `(applied, epoch)` answers and the records it made durable.
    fn deliver(node: &mut SagaNode, msg: Message) -> (Vec<(bool, u64)>, Vec<Record>) {
        let mut rng = Prng::new(1, Stream::Node(1));
        let mut effects = Vec::new();
        let mut next_timer = 0;
        let mut ctx = Ctx::new(
            NodeId(1),
            3,
            Instant(1_000),
            &mut rng,
            &mut effects,
            &mut next_timer,
        );
        node.on_message(&mut ctx, ORCHESTRATOR, msg);
        let synced = ctx.last_sync_token();
        if synced != SyncToken(0) {
            node.on_synced(&mut ctx, synced);
        }
        let mut answers = Vec::new();
        let mut records = Vec::new();
        for effect in effects {
            match effect {
                Effect::Send {
                    msg: Message::Ran { epoch, applied, .. },
                    ..
                } => answers.push((applied, epoch)),
                Effect::Append { record } => records.push(record),
                _ => {}
            }
        }
        (answers, records)
    }

    fn run(saga: u64, step: Step, account: u32, amount: i64, epoch: u64) -> Message {
        Message::Run {
            saga: SagaId(saga),
            step,
            account,
            amount,
            epoch,
        }
    }

    #[test]
    fn a_duplicated_step_is_applied_once_and_answered_each_time() {
        let config = config();
        let mut node = SagaNode::recover(&config, NodeId(1), &[]);
        let (answers, records) = deliver(&mut node, run(7, Step::Debit, 0, 30, 4));
        assert_eq!(answers, [(true, 4)]);
        assert_eq!(records.len(), 1, "one APPLIED record: {records:?}");
        let mut durable = records;
        // The duplicate, and a copy of the request from a later incarnation: answered, not run.
        for epoch in [4, 9] {
            let (answers, records) = deliver(&mut node, run(7, Step::Debit, 0, 30, epoch));
            assert_eq!(answers, [(true, epoch)]);
            assert!(records.is_empty(), "ran twice: {records:?}");
        }
        // So after a restart.
        let mut recovered = SagaNode::recover(&config, NodeId(1), &durable);
        let (answers, records) = deliver(&mut recovered, run(7, Step::Debit, 0, 30, 4));
        assert_eq!(answers, [(true, 4)]);
        durable.extend(records);
        assert_eq!(durable.len(), 1);
    }

    #[test]
    fn a_late_copy_of_a_refused_credit_is_never_credited() {
        let config = config();
        // Account 1 at 100 + 60 > 150: the credit is refused, and the refusal is recorded.
        let mut node = SagaNode::recover(&config, NodeId(1), &[]);
        let (answers, mut durable) = deliver(&mut node, run(7, Step::Credit, 1, 60, 4));
        assert_eq!(answers, [(false, 4)]);
        assert_eq!(
            durable,
            [Record::Refused {
                saga: SagaId(7),
                step: Step::Credit,
                epoch: 4
            }]
        );
        // Another saga debits account 1 to 50: a fresh decision would now accept the credit.
        let (answers, records) = deliver(&mut node, run(8, Step::Debit, 1, 50, 4));
        assert_eq!(answers, [(true, 4)]);
        durable.extend(records);
        // The orchestrator compensates; a late copy of the credit arrives, before and after a
        // restart of the participant: answered from the refusal, never credited.
        for node in [
            &mut node,
            &mut SagaNode::recover(&config, NodeId(1), &durable),
        ] {
            let (answers, records) = deliver(node, run(7, Step::Credit, 1, 60, 4));
            assert_eq!(answers, [(false, 4)]);
            assert!(records.is_empty(), "{records:?}");
        }
        // A copy from an earlier incarnation than the refusal's is left unanswered.
        let (answers, records) = deliver(&mut node, run(7, Step::Credit, 1, 60, 2));
        assert!(answers.is_empty() && records.is_empty());
        // A later incarnation that resumed the saga forward decides again (nothing was
        // refunded: it recovered to DEBITED), and now the credit fits.
        let (answers, records) = deliver(&mut node, run(7, Step::Credit, 1, 60, 11));
        assert_eq!(answers, [(true, 11)]);
        assert!(matches!(records[..], [Record::Applied { delta: 60, .. }]));
    }
}
