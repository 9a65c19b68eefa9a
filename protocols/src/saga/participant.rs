//! A participant: its accounts and the steps it has run. Every step is a local transaction:
//! applied, its APPLIED record forced, then answered; a refusal too is forced (a REFUSED
//! record) before it is answered, so that a duplicate or late copy of the request is answered
//! from the record and never decided again. See the module documentation of [`saga`](super).

use super::message::{Message, Observation, Record, Speaks};
use super::{Config, SagaId, Step, ORCHESTRATOR};
use crate::two_phase_commit::forced::ForcedLog;
use sim_core::id::NodeId;
use sim_core::node::{Ctx, SyncToken};
use std::collections::{BTreeMap, BTreeSet};

type NodeCtx<'a, 'b, N> = &'a mut Ctx<'b, N>;

/// An answer that waits for its APPLIED or REFUSED record: `(saga, step, epoch, applied)`.
type Answer = (SagaId, Step, u64, bool);

/// A participant's state.
#[derive(Debug)]
pub struct Participant {
    id: NodeId,
    balances: BTreeMap<u32, i64>,
    /// Every step run here (at most once per saga and step).
    applied: BTreeSet<(SagaId, Step)>,
    /// Steps refused here and not run since: the latest orchestrator incarnation that asked.
    refused: BTreeMap<(SagaId, Step), u64>,
    log: ForcedLog<Answer>,
}

impl Participant {
    /// Rebuilds participant `id` from its durable records.
    pub fn recover(config: &Config, id: NodeId, durable: &[Record]) -> Participant {
        let mut participant = Participant {
            id,
            balances: config
                .range(id)
                .map(|account| (account, config.initial_balances[account as usize]))
                .collect(),
            applied: BTreeSet::new(),
            refused: BTreeMap::new(),
            log: ForcedLog::default(),
        };
        for record in durable {
            let (saga, step, account, delta) = match record {
                Record::Applied {
                    saga,
                    step,
                    account,
                    delta,
                } => (saga, step, account, delta),
                Record::Refused { saga, step, epoch } => {
                    // Pair of the append in `on_run`: only a later incarnation decides again.
                    let latest = participant.refused.entry((*saga, *step)).or_insert(*epoch);
                    *latest = (*latest).max(*epoch);
                    continue;
                }
                _ => panic!("participant {id} found an orchestrator record"),
            };
            // Pair of the append in `on_run`: once per saga and step.
            assert!(
                participant.applied.insert((*saga, *step)),
                "{saga}: {step:?} recorded twice"
            );
            *participant.balances.get_mut(account).expect("owned") += delta;
            participant.refused.remove(&(*saga, *step));
        }
        participant
    }

    /// After boot or restart: report the recovered state.
    pub fn on_start<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>) {
        ctx.observe(Observation::Recovered {
            balances: self.balances.iter().map(|(&a, &b)| (a, b)).collect(),
            applied: self.applied.iter().copied().collect(),
        });
    }

    /// Runs `step` of `saga` on `account` for orchestrator incarnation `epoch`, or answers from
    /// the record: a step that ran is answered "applied" to any incarnation; a refusal is
    /// answered again to the incarnation it was given to, decided again for a later one (the
    /// orchestrator's forward recovery), and a request from an earlier one than the latest
    /// refusal is a late copy, left unanswered (nobody waits for it).
    #[allow(clippy::too_many_arguments)]
    pub fn on_run<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        saga: SagaId,
        step: Step,
        account: u32,
        amount: i64,
        epoch: u64,
    ) {
        let balance = *self.balances.get(&account).unwrap_or_else(|| {
            panic!(
                "participant {} asked about account {account} it does not own",
                self.id
            )
        });
        assert!(amount > 0, "{saga}: {step:?} of {amount}");
        if self.applied.contains(&(saga, step)) {
            // A re-sent step: it ran once; answer once its record is durable (it may still be
            // on its way to the disk).
            ctx.mark("saga.step_rerun_answered");
            self.log.force(ctx, (saga, step, epoch, true));
            return;
        }
        match self.refused.get(&(saga, step)) {
            Some(&latest) if epoch < latest => {
                ctx.mark("saga.step_late_copy_ignored");
                return;
            }
            Some(&latest) if epoch == latest => {
                // Its REFUSED record may still be on its way to the disk.
                ctx.mark("saga.step_refusal_answered");
                self.log.force(ctx, (saga, step, epoch, false));
                return;
            }
            _ => {}
        }
        let refused = match step {
            Step::Debit => balance < amount,
            Step::Credit => config.balance_max > 0 && balance + amount > config.balance_max,
            // A compensation never fails; the orchestrator sends it only after the debit ran.
            Step::Refund => false,
        };
        if refused {
            // A local transaction that aborted: it changes nothing, but its answer is final for
            // this incarnation, so it is recorded before it leaves. Undecided, a late copy of a
            // refused credit could be accepted after the refund, or one of a refused debit
            // after the saga ended.
            self.refused.insert((saga, step), epoch);
            ctx.append(Record::Refused { saga, step, epoch });
            self.log.force(ctx, (saga, step, epoch, false));
            return;
        }
        if step == Step::Refund {
            assert!(
                self.applied.contains(&(saga, Step::Debit)),
                "{saga}: refund on {} without its debit",
                self.id
            );
        }
        let delta = step.delta(amount);
        *self.balances.get_mut(&account).expect("owned") += delta;
        self.applied.insert((saga, step));
        self.refused.remove(&(saga, step));
        ctx.observe(Observation::Applied {
            saga,
            step,
            account,
            delta,
        });
        ctx.append(Record::Applied {
            saga,
            step,
            account,
            delta,
        });
        self.log.force(ctx, (saga, step, epoch, true));
    }

    /// An audit's read: every balance, now, with no lock.
    pub fn on_read<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, audit: u64) {
        ctx.send(
            ORCHESTRATOR,
            Message::Balances {
                audit,
                balances: self.balances.iter().map(|(&a, &b)| (a, b)).collect(),
            },
        );
    }

    /// A sync completed: answer the steps it made durable (run or refused).
    pub fn on_synced<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, token: SyncToken) {
        for (saga, step, epoch, applied) in self.log.on_synced(token) {
            ctx.send(
                ORCHESTRATOR,
                Message::Ran {
                    saga,
                    step,
                    epoch,
                    applied,
                },
            );
            ctx.crash_point("saga.after_step_answered");
        }
    }
}
