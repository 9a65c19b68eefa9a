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
                    attempt,
                },
            ) => participant.on_run(ctx, config, saga, step, account, amount, attempt),
            (Role::Participant(participant), Message::Read { audit }) => {
                participant.on_read(ctx, audit)
            }
            (
                Role::Orchestrator(orchestrator),
                Message::Ran {
                    saga,
                    step,
                    attempt,
                    applied,
                },
            ) => orchestrator.on_ran(ctx, config, saga, step, attempt, applied),
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
