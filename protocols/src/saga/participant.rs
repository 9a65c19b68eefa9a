//! A participant: its accounts and the steps it has run. Every step is a local transaction:
//! applied, its APPLIED record forced, then answered. See the module documentation of
//! [`saga`](super).

use super::message::{Message, Observation, Record, Speaks};
use super::{Config, SagaId, Step, ORCHESTRATOR};
use crate::two_phase_commit::forced::ForcedLog;
use sim_core::id::NodeId;
use sim_core::node::{Ctx, SyncToken};
use std::collections::{BTreeMap, BTreeSet};

type NodeCtx<'a, 'b, N> = &'a mut Ctx<'b, N>;

/// An answer that waits for its APPLIED record: `(saga, step, attempt)`.
type Answer = (SagaId, Step, u64);

/// A participant's state.
#[derive(Debug)]
pub struct Participant {
    id: NodeId,
    balances: BTreeMap<u32, i64>,
    /// Every step run here (at most once per saga and step).
    applied: BTreeSet<(SagaId, Step)>,
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
            log: ForcedLog::default(),
        };
        for record in durable {
            let Record::Applied {
                saga,
                step,
                account,
                delta,
            } = record
            else {
                panic!("participant {id} found an orchestrator record");
            };
            // Pair of the append in `on_run`: once per saga and step.
            assert!(
                participant.applied.insert((*saga, *step)),
                "{saga}: {step:?} recorded twice"
            );
            *participant.balances.get_mut(account).expect("owned") += delta;
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

    /// Runs `step` of `saga` on `account` (or answers from the record if it ran already).
    #[allow(clippy::too_many_arguments)]
    pub fn on_run<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        config: &Config,
        saga: SagaId,
        step: Step,
        account: u32,
        amount: i64,
        attempt: u64,
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
            self.log.force(ctx, (saga, step, attempt));
            return;
        }
        let refused = match step {
            Step::Debit => balance < amount,
            Step::Credit => config.balance_max > 0 && balance + amount > config.balance_max,
            // A compensation never fails; the orchestrator sends it only after the debit ran.
            Step::Refund => false,
        };
        if refused {
            // A local transaction that aborted: nothing to record.
            ctx.send(
                ORCHESTRATOR,
                Message::Ran {
                    saga,
                    step,
                    attempt,
                    applied: false,
                },
            );
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
        self.log.force(ctx, (saga, step, attempt));
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

    /// A sync completed: answer the steps it made durable.
    pub fn on_synced<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, token: SyncToken) {
        for (saga, step, attempt) in self.log.on_synced(token) {
            ctx.send(
                ORCHESTRATOR,
                Message::Ran {
                    saga,
                    step,
                    attempt,
                    applied: true,
                },
            );
            ctx.crash_point("saga.after_step_answered");
        }
    }
}
