//! The orchestrator (Garcia-Molina & Salem's saga execution component): turns transfers into
//! sagas, runs their steps in order, compensates, and keeps the saga log. See the module
//! documentation of [`saga`](super) for the rules.

use super::message::{Ending, Message, Observation, Record, Speaks, Timer};
use super::{bugs, Config, SagaId, Step};
use crate::apps::bank::Bank;
use crate::two_phase_commit::forced::ForcedLog;
use sim_core::history::{Function, Value};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::node::{Ctx, Outcome, Request, SyncToken};
use sim_core::time::Instant;
use std::collections::BTreeMap;

type NodeCtx<'a, 'b, N> = &'a mut Ctx<'b, N>;

/// Where a saga stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Its record (BEGIN, DEBITED, COMPENSATING or END) is being forced; nothing in flight.
    Forcing,
    /// The debit is in flight.
    Debiting,
    /// The credit is in flight.
    Crediting,
    /// The refund is in flight.
    Compensating,
}

/// A saga the orchestrator has not ended.
#[derive(Debug)]
struct Saga {
    request: RequestId,
    client: ClientId,
    from: u32,
    to: u32,
    amount: i64,
    phase: Phase,
    /// When the step in flight last left (local time).
    sent_at: Instant,
}

/// What may happen once a forced record is durable.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// BEGIN, DEBITED or COMPENSATING is durable: send this step.
    Send(SagaId, Step),
    /// END is durable: answer the client.
    End(SagaId, Ending),
}

/// An audit collecting every participant's balances.
#[derive(Debug)]
struct Audit {
    request: RequestId,
    client: ClientId,
    balances: BTreeMap<NodeId, Vec<(u32, i64)>>,
    sent_at: Instant,
}

/// The orchestrator's state.
#[derive(Debug)]
pub struct Orchestrator {
    /// This incarnation: its durable log's length when it recovered. It never decreases from
    /// one incarnation to the next, and grows once one made a record durable, so a
    /// participant tells a re-sent step (same epoch) and a step the orchestrator decides to
    /// run again after recovery (a later epoch) from a late copy of an old request.
    epoch: u64,
    sagas: BTreeMap<SagaId, Saga>,
    /// Requests with a saga under way (a retry waits for it).
    running: BTreeMap<RequestId, SagaId>,
    /// Answers already given (from END records), for retries.
    answered: BTreeMap<RequestId, Outcome>,
    audits: BTreeMap<u64, Audit>,
    log: ForcedLog<Answer>,
}

fn outcome_of(ending: Ending) -> Outcome {
    match ending {
        Ending::Completed => Outcome::Ok {
            value: Value::Null,
            token: None,
        },
        Ending::Compensated | Ending::Refused => Outcome::Fail,
    }
}

impl Orchestrator {
    /// Rebuilds the orchestrator from its saga log.
    pub fn recover(durable: &[Record]) -> Orchestrator {
        let mut orchestrator = Orchestrator {
            epoch: durable.len() as u64,
            sagas: BTreeMap::new(),
            running: BTreeMap::new(),
            answered: BTreeMap::new(),
            audits: BTreeMap::new(),
            log: ForcedLog::default(),
        };
        for record in durable {
            match record {
                Record::Begin {
                    saga,
                    request,
                    client,
                    from,
                    to,
                    amount,
                } => {
                    orchestrator.running.insert(*request, *saga);
                    let fresh = Saga {
                        request: *request,
                        client: *client,
                        from: *from,
                        to: *to,
                        amount: *amount,
                        phase: Phase::Debiting,
                        sent_at: Instant::ZERO,
                    };
                    assert!(
                        orchestrator.sagas.insert(*saga, fresh).is_none(),
                        "{saga} began twice"
                    );
                }
                Record::Debited { saga } => orchestrator.in_log(*saga).phase = Phase::Crediting,
                Record::Compensating { saga } => {
                    orchestrator.in_log(*saga).phase = Phase::Compensating
                }
                Record::End { saga, ending } => {
                    let ended = orchestrator
                        .sagas
                        .remove(saga)
                        .unwrap_or_else(|| panic!("{saga}: END without BEGIN"));
                    orchestrator.running.remove(&ended.request);
                    orchestrator
                        .answered
                        .insert(ended.request, outcome_of(*ending));
                }
                Record::Applied { .. } | Record::Refused { .. } => {
                    panic!("the orchestrator found a participant's record")
                }
            }
        }
        orchestrator
    }

    fn in_log(&mut self, saga: SagaId) -> &mut Saga {
        // Pair of the appends below: every later record follows its BEGIN.
        self.sagas
            .get_mut(&saga)
            .unwrap_or_else(|| panic!("{saga}: a record without BEGIN"))
    }

    /// After boot or restart: resume every saga the log left unended (module doc, Recovery).
    pub fn on_start<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config) {
        let resume: Vec<(SagaId, Step)> = self
            .sagas
            .iter()
            .map(|(&saga, s)| {
                let step = match s.phase {
                    Phase::Debiting => Step::Debit,
                    Phase::Crediting => Step::Credit,
                    Phase::Compensating => Step::Refund,
                    Phase::Forcing => unreachable!("recovered sagas are never forcing"),
                };
                (saga, step)
            })
            .collect();
        for (saga, step) in resume {
            ctx.mark(if step == Step::Refund {
                "saga.recovered_compensating"
            } else {
                "saga.recovered_in_flight"
            });
            self.send_step(ctx, config, saga, step);
        }
        ctx.crash_point("saga.orchestrator_recovering");
        ctx.set_timer(config.step_timeout, Timer::Resend);
    }

    /// A client request: start a saga (or an audit), or answer a retry.
    pub fn on_request<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        request: Request,
    ) {
        if let Some(outcome) = self.answered.get(&request.id) {
            ctx.mark("saga.duplicate_request");
            ctx.reply(request.client, request.id, outcome.clone());
            return;
        }
        if self.running.contains_key(&request.id) {
            ctx.mark("saga.duplicate_request");
            return; // its answer will come
        }
        if request.operation.f == Function::Read {
            let audit = ctx.rng().next_u64();
            for participant in 1..=config.participants {
                ctx.send(NodeId(participant), Message::Read { audit });
            }
            self.audits.insert(
                audit,
                Audit {
                    request: request.id,
                    client: request.client,
                    balances: BTreeMap::new(),
                    sent_at: ctx.now(),
                },
            );
            return;
        }
        let valid = Bank::transfer_of(&request.operation.value).filter(|&(from, to, amount)| {
            request.operation.f == Function::Transfer
                && from != to
                && from.max(to) < config.accounts()
                && amount > 0
        });
        let Some((from, to, amount)) = valid else {
            ctx.reply(request.client, request.id, Outcome::Fail);
            return;
        };
        let saga = SagaId(ctx.rng().next_u64());
        self.running.insert(request.id, saga);
        self.sagas.insert(
            saga,
            Saga {
                request: request.id,
                client: request.client,
                from,
                to,
                amount,
                phase: Phase::Forcing,
                sent_at: ctx.now(),
            },
        );
        ctx.append(Record::Begin {
            saga,
            request: request.id,
            client: request.client,
            from,
            to,
            amount,
        });
        // The debit leaves once BEGIN is durable: a debit the log does not know of would be
        // money lost at a crash.
        self.log.force(ctx, Answer::Send(saga, Step::Debit));
    }

    fn send_step<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        saga: SagaId,
        step: Step,
    ) {
        let now = ctx.now();
        let s = self.sagas.get_mut(&saga).expect("an active saga");
        s.phase = match step {
            Step::Debit => Phase::Debiting,
            Step::Credit => Phase::Crediting,
            Step::Refund => Phase::Compensating,
        };
        s.sent_at = now;
        let account = if step == Step::Credit { s.to } else { s.from };
        let run = Message::Run {
            saga,
            step,
            account,
            amount: s.amount,
            epoch: self.epoch,
        };
        if config.buggify && ctx.buggify(4) {
            // BUGGIFY: the step leaves twice, as a re-send crossing the first would; the
            // participant runs it once and answers both.
            ctx.mark("saga.buggify_step_resent");
            ctx.send(config.owner(account), run.clone());
        }
        ctx.send(config.owner(account), run);
        // A crash here leaves the step running with only the log's word for where the saga
        // stands (the refund of S1 leaves before its COMPENSATING record is durable).
        ctx.crash_point("saga.after_step_sent");
    }

    /// A participant's answer to a step.
    #[allow(clippy::too_many_arguments)]
    pub fn on_ran<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        saga: SagaId,
        step: Step,
        epoch: u64,
        applied: bool,
    ) {
        let Some(s) = self.sagas.get_mut(&saga) else {
            return; // ended: a late answer, ignored on purpose
        };
        let expected = match s.phase {
            Phase::Debiting => Step::Debit,
            Phase::Crediting => Step::Credit,
            Phase::Compensating => Step::Refund,
            Phase::Forcing => return, // decided already, its record on the way to the disk
        };
        // Every copy of this incarnation's request is answered alike (the participant keeps its
        // decision), so any of them counts; an earlier incarnation's answer may not agree.
        if step != expected || epoch != self.epoch {
            ctx.mark("saga.stale_answer");
            return;
        }
        s.phase = Phase::Forcing;
        match (step, applied) {
            (Step::Debit, true) => {
                ctx.append(Record::Debited { saga });
                self.log.force(ctx, Answer::Send(saga, Step::Credit));
            }
            (Step::Debit, false) => {
                ctx.mark("saga.debit_refused");
                self.end(ctx, saga, Ending::Refused);
            }
            (Step::Credit, true) => self.end(ctx, saga, Ending::Completed),
            (Step::Credit, false) => {
                ctx.mark("saga.credit_refused");
                ctx.mark("saga.compensating");
                ctx.append(Record::Compensating { saga });
                if config.bugs.contains(bugs::COMPENSATION_NOT_DURABLE) {
                    // S1: refund first, the record reaches the disk with some later sync.
                    // Wrong: a crash before then recovers to DEBITED and credits again.
                    self.send_step(ctx, config, saga, Step::Refund);
                    return;
                }
                // The refund leaves once COMPENSATING is durable (BUGS.md §6b).
                self.log.force(ctx, Answer::Send(saga, Step::Refund));
            }
            (Step::Refund, true) => self.end(ctx, saga, Ending::Compensated),
            (Step::Refund, false) => panic!("{saga}: a refund was refused"),
        }
    }

    fn end<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, saga: SagaId, ending: Ending) {
        ctx.append(Record::End { saga, ending });
        // The client hears the ending once it is durable: a recovered orchestrator never
        // resumes a saga whose client was answered.
        self.log.force(ctx, Answer::End(saga, ending));
    }

    /// A sync completed: act on the records it made durable.
    pub fn on_synced<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        token: SyncToken,
    ) {
        for answer in self.log.on_synced(token) {
            match answer {
                Answer::Send(saga, step) => self.send_step(ctx, config, saga, step),
                Answer::End(saga, ending) => {
                    let s = self.sagas.remove(&saga).expect("an ending saga");
                    self.running.remove(&s.request);
                    let outcome = outcome_of(ending);
                    self.answered.insert(s.request, outcome.clone());
                    ctx.observe(Observation::Ended { saga, ending });
                    ctx.reply(s.client, s.request, outcome);
                }
            }
        }
    }

    /// A participant's balances for an audit.
    pub fn on_balances<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        from: NodeId,
        audit: u64,
        balances: Vec<(u32, i64)>,
    ) {
        let Some(collecting) = self.audits.get_mut(&audit) else {
            return; // answered already
        };
        collecting.balances.insert(from, balances);
        if collecting.balances.len() < config.participants as usize {
            return;
        }
        let done = self.audits.remove(&audit).expect("collecting");
        let mut all = vec![0; config.accounts() as usize];
        for (account, balance) in done.balances.into_values().flatten() {
            all[account as usize] = balance;
        }
        ctx.observe(Observation::Audited {
            balances: all.clone(),
        });
        ctx.reply(
            done.client,
            done.request,
            Outcome::Ok {
                value: Bank::audit_value(&all),
                token: None,
            },
        );
    }

    /// The periodic re-send of steps and reads left unanswered for `step_timeout`.
    pub fn on_resend_timer<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config) {
        ctx.set_timer(config.step_timeout, Timer::Resend);
        let now = ctx.now();
        let overdue: Vec<(SagaId, Step)> = self
            .sagas
            .iter()
            .filter(|(_, s)| now.saturating_since(s.sent_at) >= config.step_timeout)
            .filter_map(|(&saga, s)| {
                let step = match s.phase {
                    Phase::Debiting => Step::Debit,
                    Phase::Crediting => Step::Credit,
                    Phase::Compensating => Step::Refund,
                    Phase::Forcing => return None,
                };
                Some((saga, step))
            })
            .collect();
        for (saga, step) in overdue {
            ctx.mark("saga.step_resent");
            self.send_step(ctx, config, saga, step);
        }
        for (&audit, collecting) in &mut self.audits {
            if now.saturating_since(collecting.sent_at) < config.step_timeout {
                continue;
            }
            ctx.mark("saga.audit_reread");
            collecting.sent_at = now;
            for participant in (1..=config.participants).map(NodeId) {
                if !collecting.balances.contains_key(&participant) {
                    ctx.send(participant, Message::Read { audit });
                }
            }
        }
    }
}
