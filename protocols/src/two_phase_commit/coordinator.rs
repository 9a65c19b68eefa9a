//! The coordinator (Gray & Lamport's transaction manager): turns client requests into
//! transactions, collects votes, forces and sends decisions. See the module documentation of
//! [`two_phase_commit`](super) for the rules.

use super::forced::ForcedLog;
use super::message::{Message, Observation, Record, Speaks, Timer};
use super::{bugs, Access, Config, TxnId, Work};
use crate::apps::bank::Bank;
use sim_core::history::{Function, Value};
use sim_core::id::{ClientId, NodeId, RequestId, TimerId};
use sim_core::node::{Ctx, Outcome, Request, SyncToken};
use std::collections::{BTreeMap, BTreeSet};

type NodeCtx<'a, 'b, N> = &'a mut Ctx<'b, N>;

/// Where a transaction stands at the coordinator.
#[derive(Debug)]
enum Phase {
    /// Waiting for votes; YES so far from these.
    Collecting {
        yes: BTreeSet<NodeId>,
        vote_timer: TimerId,
    },
    /// COMMIT decided; these participants have not acknowledged it yet. `waited`: a resend
    /// tick has passed since (the next one re-sends: acknowledgements get a full interval).
    Committing {
        unacked: BTreeSet<NodeId>,
        waited: bool,
    },
}

/// A transaction the coordinator has not forgotten.
#[derive(Debug)]
struct Active {
    request: RequestId,
    client: ClientId,
    is_audit: bool,
    participants: Vec<NodeId>,
    /// What an audit read so far, by account.
    reads: BTreeMap<u32, i64>,
    /// The answer to send once COMMIT is durable.
    reply: Value,
    phase: Phase,
}

/// An answer that depends on a durable record.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// Send COMMIT and answer the client (the COMMIT record is forced).
    SendCommit(TxnId),
    /// Answer the client FAIL (the REFUSED record is forced).
    Refuse {
        /// The client slot.
        client: ClientId,
        /// The refused request.
        request: RequestId,
    },
}

/// A request's transaction: is it an audit, and each participant's work; `None` for a
/// request this bank cannot run (refused, no effect).
pub fn work_of(config: &Config, request: &Request) -> Option<(bool, BTreeMap<NodeId, Vec<Work>>)> {
    let mut work: BTreeMap<NodeId, Vec<Work>> = BTreeMap::new();
    let is_audit = request.operation.f == Function::Read;
    if is_audit {
        for account in 0..config.accounts() {
            work.entry(config.owner(account)).or_default().push(Work {
                account,
                access: Access::Read,
            });
        }
    } else {
        let (from, to, amount) =
            Bank::transfer_of(&request.operation.value).filter(|&(from, to, amount)| {
                request.operation.f == Function::Transfer
                    && from != to
                    && from.max(to) < config.accounts()
                    && amount > 0
            })?;
        for (account, delta) in [(from, -amount), (to, amount)] {
            work.entry(config.owner(account)).or_default().push(Work {
                account,
                access: Access::Add(delta),
            });
        }
    }
    Some((is_audit, work))
}

/// An audit's answer: every balance read, by account (0 for one not read).
pub fn audit_reply(config: &Config, reads: &BTreeMap<u32, i64>) -> Value {
    let balances: Vec<i64> = (0..config.accounts())
        .map(|account| reads.get(&account).copied().unwrap_or(0))
        .collect();
    Bank::audit_value(&balances)
}

/// The coordinator's state.
#[derive(Debug)]
pub struct Coordinator {
    active: BTreeMap<TxnId, Active>,
    /// Requests with a transaction under way (a retry waits for it).
    running: BTreeMap<RequestId, TxnId>,
    /// Answers already given, for retries: every commit from the records, aborts while up.
    answered: BTreeMap<RequestId, Outcome>,
    /// Every transaction with a COMMIT record.
    committed: BTreeSet<TxnId>,
    log: ForcedLog<Answer>,
    /// Mutation T4: COMMIT records appended but not yet synced.
    unsynced_commits: bool,
}

impl Coordinator {
    /// Rebuilds the coordinator from its durable records: committed transactions without an
    /// END record are still to be delivered.
    pub fn recover(durable: &[Record]) -> Coordinator {
        let mut coordinator = Coordinator {
            active: BTreeMap::new(),
            running: BTreeMap::new(),
            answered: BTreeMap::new(),
            committed: BTreeSet::new(),
            log: ForcedLog::default(),
            unsynced_commits: false,
        };
        for record in durable {
            match record {
                Record::Commit {
                    txn,
                    participants,
                    request,
                    client,
                    reply,
                } => {
                    assert!(coordinator.committed.insert(*txn), "{txn} committed twice");
                    coordinator.answered.insert(
                        *request,
                        Outcome::Ok {
                            value: reply.clone(),
                            token: None,
                        },
                    );
                    coordinator.active.insert(
                        *txn,
                        Active {
                            request: *request,
                            client: *client,
                            is_audit: false,
                            participants: participants.clone(),
                            reads: BTreeMap::new(),
                            reply: reply.clone(),
                            phase: Phase::Committing {
                                unacked: participants.iter().copied().collect(),
                                waited: true,
                            },
                        },
                    );
                }
                Record::Refused { request } => {
                    coordinator.answered.insert(*request, Outcome::Fail);
                }
                Record::End { txn } => {
                    // Pair of the append in `on_ack`: an END follows its COMMIT.
                    assert!(
                        coordinator.active.remove(txn).is_some(),
                        "{txn}: END without COMMIT"
                    );
                }
                _ => panic!("the coordinator found a participant's record"),
            }
        }
        coordinator
    }

    /// After boot or restart: re-send the decisions not known delivered.
    pub fn on_start<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config) {
        if !self.active.is_empty() {
            ctx.mark("two_phase_commit.recovered_undelivered_commit");
            ctx.crash_point("2pc.coordinator_recovering");
        }
        self.resend(ctx);
        ctx.set_timer(config.resend_interval, Timer::Resend);
    }

    /// A client request: start a transaction for it (or answer a retry).
    pub fn on_request<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        request: Request,
    ) {
        if let Some(outcome) = self.answered.get(&request.id) {
            ctx.mark("two_phase_commit.duplicate_request");
            ctx.reply(request.client, request.id, outcome.clone());
            return;
        }
        if self.running.contains_key(&request.id) {
            // A retry of a transaction under way: its answer will come.
            ctx.mark("two_phase_commit.duplicate_request");
            return;
        }
        let Some((is_audit, work)) = work_of(config, &request) else {
            // Not a transfer this bank can run: refused, it took no effect.
            ctx.reply(request.client, request.id, Outcome::Fail);
            return;
        };
        let txn = TxnId(ctx.rng().next_u64());
        let participants: Vec<NodeId> = work.keys().copied().collect();
        for (&participant, items) in &work {
            ctx.send(
                participant,
                Message::Prepare {
                    txn,
                    work: items.clone(),
                    participants: participants.clone(),
                },
            );
        }
        let vote_timer = ctx.set_timer(config.vote_timeout, Timer::VoteTimeout(txn));
        self.running.insert(request.id, txn);
        self.active.insert(
            txn,
            Active {
                request: request.id,
                client: request.client,
                is_audit,
                participants,
                reads: BTreeMap::new(),
                reply: Value::Null,
                phase: Phase::Collecting {
                    yes: BTreeSet::new(),
                    vote_timer,
                },
            },
        );
    }

    /// A participant's vote.
    pub fn on_vote<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        from: NodeId,
        txn: TxnId,
        yes: bool,
        reads: Vec<(u32, i64)>,
    ) {
        let Some(active) = self.active.get_mut(&txn) else {
            return; // decided and forgotten (aborted, or ended): a late vote, ignored on purpose
        };
        let Phase::Collecting { yes: voters, .. } = &mut active.phase else {
            return; // decided already: a duplicate vote
        };
        if !yes {
            self.decide_abort(ctx, config, txn);
            return;
        }
        voters.insert(from);
        active.reads.extend(reads);
        if voters.len() == active.participants.len() {
            self.decide_commit(ctx, config, txn);
        }
    }

    /// No answer from every participant in time: abort (a missing vote is a NO).
    pub fn on_vote_timeout<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        txn: TxnId,
    ) {
        let collecting = self
            .active
            .get(&txn)
            .is_some_and(|active| matches!(active.phase, Phase::Collecting { .. }));
        if !collecting {
            return; // decided before the timer fired
        }
        ctx.mark("two_phase_commit.vote_timeout");
        if config.bugs.contains(bugs::COMMIT_WITHOUT_UNANIMOUS_YES) {
            // T1: the silent participants are counted as YES. Wrong: a lost PREPARE or vote
            // means that participant never prepared, so it cannot commit.
            self.decide_commit(ctx, config, txn);
        } else {
            self.decide_abort(ctx, config, txn);
        }
    }

    fn decide_abort<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config, txn: TxnId) {
        let active = self.active.remove(&txn).expect("an active transaction");
        if let Phase::Collecting { vote_timer, .. } = active.phase {
            ctx.cancel_timer(vote_timer);
        }
        self.running.remove(&active.request);
        // Presumed abort: nothing logged, nothing to acknowledge.
        ctx.observe(Observation::Decided {
            txn,
            commit: false,
            participants: active.participants.clone(),
        });
        for &participant in &active.participants {
            ctx.send(participant, Message::Abort { txn });
        }
        // The abort itself needs no record (presumed abort), but the client's FAIL does: a
        // late duplicate of this request reaching a restarted coordinator must find it refused
        // (found by 100,000-seed false-alarm sweeps: seed 322 of 2pc-bank-crash-points).
        self.answered.insert(active.request, Outcome::Fail);
        ctx.append(Record::Refused {
            request: active.request,
        });
        if config.bugs.contains(bugs::DECISION_NOT_LOGGED_BEFORE_SEND) {
            // T4 defers every sync to its flush: the FAIL leaves unlogged too (forcing here
            // would sync the unsynced COMMIT records with it and hide the mutant).
            if !self.unsynced_commits {
                self.unsynced_commits = true;
                ctx.set_timer(config.resend_interval, Timer::Flush);
            }
            ctx.reply(active.client, active.request, Outcome::Fail);
            return;
        }
        self.log.force(
            ctx,
            Answer::Refuse {
                client: active.client,
                request: active.request,
            },
        );
    }

    fn decide_commit<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config, txn: TxnId) {
        let active = self.active.get_mut(&txn).expect("an active transaction");
        if let Phase::Collecting { vote_timer, .. } = active.phase {
            ctx.cancel_timer(vote_timer);
        }
        active.phase = Phase::Committing {
            unacked: active.participants.iter().copied().collect(),
            waited: false,
        };
        let reply = if active.is_audit {
            audit_reply(config, &active.reads)
        } else {
            Value::Null
        };
        active.reply = reply.clone();
        ctx.observe(Observation::Decided {
            txn,
            commit: true,
            participants: active.participants.clone(),
        });
        ctx.append(Record::Commit {
            txn,
            participants: active.participants.clone(),
            request: active.request,
            client: active.client,
            reply,
        });
        // Decided commit, the record in the disk's cache, not yet forced.
        ctx.crash_point("2pc.after_commit_decision");
        if config.bugs.contains(bugs::DECISION_NOT_LOGGED_BEFORE_SEND) {
            // T4: send first, sync later. Wrong: a power loss before the flush forgets the
            // commit, and presumed abort then tells the others to abort.
            if !self.unsynced_commits {
                self.unsynced_commits = true;
                ctx.set_timer(config.resend_interval, Timer::Flush);
            }
            self.on_durable(ctx, Answer::SendCommit(txn));
            return;
        }
        // COMMIT leaves only once its record is durable (Gray & Lamport §3; R* §3): from
        // `on_synced`. Until then an inquiry gets no answer and a retry waits.
        self.log.force(ctx, Answer::SendCommit(txn));
    }

    /// A sync completed: send the decisions it made durable.
    pub fn on_synced<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, token: SyncToken) {
        for answer in self.log.on_synced(token) {
            self.on_durable(ctx, answer);
        }
    }

    /// Mutation T4's late sync.
    pub fn on_flush<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>) {
        self.unsynced_commits = false;
        ctx.sync();
    }

    fn on_durable<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, answer: Answer) {
        let txn = match answer {
            Answer::SendCommit(txn) => txn,
            Answer::Refuse { client, request } => {
                ctx.reply(client, request, Outcome::Fail);
                return;
            }
        };
        let Some(active) = self.active.get(&txn) else {
            return;
        };
        self.committed.insert(txn);
        self.answered.insert(
            active.request,
            Outcome::Ok {
                value: active.reply.clone(),
                token: None,
            },
        );
        for (sent, &participant) in active.participants.iter().enumerate() {
            if sent == 1 {
                // COMMIT reached one participant, not yet the others.
                ctx.crash_point("2pc.mid_commit_broadcast");
            }
            ctx.send(participant, Message::Commit { txn });
        }
        self.running.remove(&active.request);
        if !active.is_audit {
            ctx.observe(Observation::Acknowledged {
                txn,
                participants: active.participants.clone(),
            });
        }
        let outcome = self.answered[&active.request].clone();
        ctx.reply(active.client, active.request, outcome);
    }

    /// A participant applied the COMMIT.
    pub fn on_ack<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, from: NodeId, txn: TxnId) {
        let Some(active) = self.active.get_mut(&txn) else {
            return; // ended already: a duplicate
        };
        let Phase::Committing { unacked, .. } = &mut active.phase else {
            return; // cannot happen with a correct participant; ignored
        };
        unacked.remove(&from);
        if unacked.is_empty() {
            self.active.remove(&txn);
            // Not forced: without it a restarted coordinator only re-sends COMMIT.
            ctx.append(Record::End { txn });
        }
    }

    /// An in-doubt participant asks for the decision.
    pub fn on_inquire<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, from: NodeId, txn: TxnId) {
        if self.committed.contains(&txn) {
            ctx.mark("two_phase_commit.inquiry_answered_commit");
            ctx.send(from, Message::Commit { txn });
        } else if self.active.contains_key(&txn) {
            // Still collecting votes: undecided, no answer yet.
            ctx.mark("two_phase_commit.inquiry_while_collecting");
        } else {
            // No COMMIT record: presumed abort.
            ctx.mark("two_phase_commit.inquiry_answered_abort");
            ctx.send(from, Message::Abort { txn });
        }
    }

    /// The periodic re-send of COMMITs not yet acknowledged.
    pub fn on_resend_timer<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config) {
        ctx.set_timer(config.resend_interval, Timer::Resend);
        self.resend(ctx);
    }

    fn resend<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>) {
        for (&txn, active) in &mut self.active {
            let Phase::Committing { unacked, waited } = &mut active.phase else {
                continue;
            };
            if !*waited {
                *waited = true;
                continue;
            }
            for &participant in unacked.iter() {
                ctx.mark("two_phase_commit.decision_resent");
                ctx.send(participant, Message::Commit { txn });
            }
        }
    }
}
