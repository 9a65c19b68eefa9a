//! A two-phase-commit node: the coordinator (node 0) or a participant, dispatching the
//! kernel's inputs to its role.

use super::coordinator::Coordinator;
use super::coordinator_log::CoordinatorLog;
use super::message::{Message, Observation, Record, Timer};
use super::participant::Participant;
use super::replica::Replica;
use super::{Config, CoordinatorKind, COORDINATOR};
use crate::group::Embeds;
use crate::raft::{self, RaftNode};
use sim_core::id::NodeId;
use sim_core::id::TimerId;
use sim_core::node::{Ctx, Node, Outcome, Request, SyncToken};

/// The role a node plays.
#[derive(Debug)]
enum Role {
    Coordinator(Coordinator),
    Participant(Participant),
    /// A replica of a replicated coordinator.
    Replica(Box<Replica>),
    /// A node beyond the participants (never: the node count is decided by `participants`).
    Idle,
}

/// A node of two-phase commit.
#[derive(Debug)]
pub struct TwoPhaseCommitNode {
    config: Config,
    role: Role,
}

impl Node for TwoPhaseCommitNode {
    type Config = Config;
    type Msg = Message;
    type Timer = Timer;
    type Record = Record;
    type Observation = Observation;

    fn lane(observation: &Observation, node: NodeId) -> sim_core::observed::Lane {
        observation.lane(node)
    }

    fn starting_lane(&self) -> sim_core::observed::Lane {
        super::lane::starting(match self.role {
            Role::Coordinator(_) => "coordinator",
            Role::Replica(_) => "coordinator replica",
            Role::Participant(_) | Role::Idle => "participant",
        })
    }

    fn recover(config: &Config, id: NodeId, durable: &[Record]) -> Self {
        let replicated = matches!(config.coordinator, CoordinatorKind::Replicated { .. });
        let role = if replicated && config.is_coordinator(id) {
            Role::Replica(Box::new(Replica::recover(config, id, durable)))
        } else if id == COORDINATOR {
            Role::Coordinator(Coordinator::recover(durable))
        } else if id.0 < config.node_count() {
            Role::Participant(Participant::recover(config, id, durable))
        } else {
            Role::Idle
        };
        TwoPhaseCommitNode {
            config: config.clone(),
            role,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let config = self.config.clone();
        match &mut self.role {
            Role::Coordinator(coordinator) => coordinator.on_start(ctx, &config),
            Role::Participant(participant) => participant.on_start(ctx, &config),
            Role::Replica(replica) => replica.on_start(ctx, &config),
            Role::Idle => {}
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message) {
        let config = &self.config;
        if let Role::Participant(participant) = &mut self.role {
            if config.is_coordinator(from) {
                participant.heard_from_coordinator(from);
            }
        }
        match (&mut self.role, msg) {
            (
                Role::Participant(participant),
                Message::Prepare {
                    txn,
                    work,
                    participants,
                },
            ) => participant.on_prepare(ctx, txn, work, participants),
            (Role::Participant(participant), Message::Commit { txn }) => {
                participant.on_commit(ctx, from, txn)
            }
            (Role::Participant(participant), Message::Abort { txn }) => {
                participant.on_abort(ctx, txn)
            }
            (Role::Participant(participant), Message::DecisionRequest { txn }) => {
                participant.on_decision_request(ctx, from, txn)
            }
            (Role::Coordinator(coordinator), Message::Vote { txn, yes, reads }) => {
                coordinator.on_vote(ctx, config, from, txn, yes, reads)
            }
            (Role::Coordinator(coordinator), Message::Ack { txn }) => {
                coordinator.on_ack(ctx, from, txn)
            }
            (Role::Coordinator(coordinator), Message::Inquire { txn }) => {
                coordinator.on_inquire(ctx, from, txn)
            }
            (Role::Replica(replica), Message::Raft(msg)) => {
                replica.on_raft_message(ctx, config, from, msg)
            }
            (Role::Replica(replica), Message::Vote { txn, yes, reads }) => {
                replica.on_vote(ctx, config, from, txn, yes, reads)
            }
            (Role::Replica(replica), Message::Ack { txn }) => replica.on_ack(ctx, from, txn),
            (Role::Replica(replica), Message::Inquire { txn }) => {
                replica.on_inquire(ctx, config, from, txn)
            }
            (_, msg) => panic!("{} got {msg:?}, which its role never receives", ctx.id()),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        let config = &self.config;
        match (&mut self.role, timer) {
            (Role::Coordinator(coordinator), Timer::VoteTimeout(txn)) => {
                coordinator.on_vote_timeout(ctx, config, txn)
            }
            (Role::Coordinator(coordinator), Timer::Resend) => {
                coordinator.on_resend_timer(ctx, config)
            }
            (Role::Coordinator(coordinator), Timer::Flush) => coordinator.on_flush(ctx),
            (Role::Participant(participant), Timer::InDoubt) => {
                participant.on_in_doubt_timer(ctx, config)
            }
            (Role::Replica(replica), Timer::Raft { id, timer }) => {
                replica.on_raft_timer(ctx, config, id, timer)
            }
            (Role::Replica(replica), Timer::VoteTimeout(txn)) => {
                replica.on_vote_timeout(ctx, config, txn)
            }
            (Role::Replica(replica), Timer::Resend) => replica.on_resend_timer(ctx, config),
            (_, timer) => panic!("{} got timer {timer:?} of another role", ctx.id()),
        }
    }

    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        match &mut self.role {
            Role::Coordinator(coordinator) => coordinator.on_synced(ctx, token),
            Role::Participant(participant) => participant.on_synced(ctx, token),
            Role::Replica(replica) => replica.on_synced(ctx, &self.config, token),
            Role::Idle => {}
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        let config = &self.config;
        match &mut self.role {
            Role::Coordinator(coordinator) => coordinator.on_request(ctx, config, request),
            Role::Replica(replica) => replica.on_request(ctx, config, request),
            // Clients talk to the coordinator.
            _ => ctx.reply(
                request.client,
                request.id,
                Outcome::Redirect {
                    leader: Some(COORDINATOR),
                },
            ),
        }
    }
}

impl Embeds<RaftNode<CoordinatorLog>> for TwoPhaseCommitNode {
    fn wrap_message(msg: raft::Message) -> Message {
        Message::Raft(msg)
    }

    fn wrap_timer(id: TimerId, timer: raft::Timer) -> Timer {
        Timer::Raft { id, timer }
    }

    fn wrap_record(record: raft::Record) -> Record {
        Record::Raft(record)
    }
}
