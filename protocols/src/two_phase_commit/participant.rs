//! A participant (Gray & Lamport's resource manager): its accounts, its lock table, its
//! prepared (in-doubt) transactions. See the module documentation of
//! [`two_phase_commit`](super) for the rules.

use super::forced::ForcedLog;
use super::message::{Message, Observation, Record, Speaks, Timer};
use super::{bugs, Access, Config, TxnId, Work, COORDINATOR};
use sim_core::id::NodeId;
use sim_core::node::{Ctx, SyncToken};
use sim_core::time::Instant;
use std::collections::{BTreeMap, BTreeSet};

type NodeCtx<'a, 'b, N> = &'a mut Ctx<'b, N>;

/// Who holds an account's lock: one writer or any number of readers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Lock {
    writer: Option<TxnId>,
    readers: BTreeSet<TxnId>,
}

/// A transaction this participant voted YES for (or is about to, once PREPARE is durable).
#[derive(Clone, Debug)]
struct Prepared {
    work: Vec<Work>,
    participants: Vec<NodeId>,
    /// Local time it was prepared (or recovered in doubt).
    since: Instant,
    /// The YES vote left (its PREPARE record is durable).
    voted: bool,
    /// Counted as blocked already.
    blocked: bool,
}

/// An answer that depends on a durable record.
#[derive(Clone, Debug)]
pub enum Answer {
    /// YES to the coordinator (PREPARE forced).
    VoteYes(TxnId),
    /// Acknowledge the COMMIT (COMMIT forced).
    Ack(TxnId),
    /// Answer a peer's decision request with ABORT (the promise to abort forced).
    PromisedAbort { txn: TxnId, to: NodeId },
}

/// A participant's state.
#[derive(Debug)]
pub struct Participant {
    id: NodeId,
    /// Where votes and acknowledgements go: the coordinator, or the replica of a replicated
    /// coordinator that last sent this participant a PREPARE or a decision (its leader).
    coordinator: NodeId,
    /// How many nodes coordinate (nodes `0..coordinators`): an in-doubt inquiry goes to each.
    coordinators: u32,
    balances: BTreeMap<u32, i64>,
    locks: BTreeMap<u32, Lock>,
    prepared: BTreeMap<TxnId, Prepared>,
    committed: BTreeSet<TxnId>,
    /// Voted NO, rolled back or promised to abort: a late PREPARE gets NO. Volatile for NO
    /// votes and rollbacks (the coordinator never commits those: presumed abort), durable
    /// for promises.
    aborted: BTreeSet<TxnId>,
    log: ForcedLog<Answer>,
}

impl Participant {
    /// Rebuilds participant `id` from its durable records.
    pub fn recover(config: &Config, id: NodeId, durable: &[Record]) -> Participant {
        let mut participant = Participant {
            id,
            coordinator: COORDINATOR,
            coordinators: config.coordinators(),
            balances: config
                .range(id)
                .map(|account| (account, config.initial_balances[account as usize]))
                .collect(),
            locks: BTreeMap::new(),
            prepared: BTreeMap::new(),
            committed: BTreeSet::new(),
            aborted: BTreeSet::new(),
            log: ForcedLog::default(),
        };
        for record in durable {
            match record {
                Record::Prepared {
                    txn,
                    work,
                    participants,
                } => {
                    // Pair of the append in `on_prepare`: the locks were free when it was
                    // written, and every earlier holder has its COMMIT replayed by now or is
                    // a reader (shared locks) in doubt too.
                    assert!(
                        participant.try_lock(*txn, work),
                        "{txn}: recovered locks conflict"
                    );
                    participant.prepared.insert(
                        *txn,
                        Prepared {
                            work: work.clone(),
                            participants: participants.clone(),
                            since: Instant::ZERO,
                            voted: true,
                            blocked: false,
                        },
                    );
                }
                Record::Committed { txn } => {
                    let prepared = participant
                        .prepared
                        .remove(txn)
                        .unwrap_or_else(|| panic!("{txn}: COMMIT record without PREPARE"));
                    participant.unlock(*txn, &prepared.work);
                    participant.apply(*txn, &prepared.work);
                    participant.committed.insert(*txn);
                }
                Record::Aborted { txn } => {
                    if let Some(prepared) = participant.prepared.remove(txn) {
                        participant.unlock(*txn, &prepared.work);
                    }
                    participant.aborted.insert(*txn);
                }
                Record::Commit { .. }
                | Record::Refused { .. }
                | Record::End { .. }
                | Record::Raft(_) => {
                    panic!("participant {id} found a coordinator record")
                }
            }
        }
        participant
    }

    /// After boot or restart: report the recovered state, start looking at in-doubt work.
    pub fn on_start<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config) {
        let now = ctx.now();
        for prepared in self.prepared.values_mut() {
            prepared.since = now;
        }
        if !self.prepared.is_empty() {
            ctx.mark("two_phase_commit.recovered_in_doubt");
            ctx.crash_point("2pc.participant_recovering");
        }
        ctx.observe(Observation::Recovered {
            balances: self.balances.iter().map(|(&a, &b)| (a, b)).collect(),
            committed: self.committed.iter().copied().collect(),
            in_doubt: self.prepared.keys().copied().collect(),
        });
        ctx.set_timer(config.inquiry_interval, Timer::InDoubt);
    }

    /// A message from the coordinator's replica `from`: it leads (or did), so answers go there.
    pub fn heard_from_coordinator(&mut self, from: NodeId) {
        assert!(from.0 < self.coordinators, "{from} does not coordinate");
        self.coordinator = from;
    }

    /// Takes every lock `work` needs for `txn`, or none (no waiting: a conflict is a NO).
    fn try_lock(&mut self, txn: TxnId, work: &[Work]) -> bool {
        let free = work.iter().all(|item| {
            let Some(lock) = self.locks.get(&item.account) else {
                return true;
            };
            let others_read = lock.readers.iter().any(|&reader| reader != txn);
            let other_writes = lock.writer.is_some_and(|writer| writer != txn);
            match item.access {
                Access::Read => !other_writes,
                Access::Add(_) => !other_writes && !others_read,
            }
        });
        if free {
            for item in work {
                let lock = self.locks.entry(item.account).or_default();
                match item.access {
                    Access::Read => {
                        lock.readers.insert(txn);
                    }
                    Access::Add(_) => lock.writer = Some(txn),
                }
            }
        }
        free
    }

    fn unlock(&mut self, txn: TxnId, work: &[Work]) {
        for item in work {
            let lock = self.locks.get_mut(&item.account).expect("a held lock");
            match item.access {
                Access::Read => assert!(lock.readers.remove(&txn), "{txn} read-locked"),
                Access::Add(_) => {
                    assert_eq!(lock.writer, Some(txn), "{txn} write-locked");
                    lock.writer = None;
                }
            }
            if lock.writer.is_none() && lock.readers.is_empty() {
                self.locks.remove(&item.account);
            }
        }
    }

    /// Applies `txn`'s work; returns the changes.
    fn apply(&mut self, txn: TxnId, work: &[Work]) -> Vec<(u32, i64)> {
        let mut changes = Vec::new();
        for item in work {
            if let Access::Add(delta) = item.access {
                let balance = self
                    .balances
                    .get_mut(&item.account)
                    .expect("an owned account");
                *balance += delta;
                assert!(
                    *balance >= 0,
                    "{txn} overdrew account {}: {balance}",
                    item.account
                );
                changes.push((item.account, delta));
            }
        }
        changes
    }

    /// Phase 1 at this participant.
    pub fn on_prepare<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        txn: TxnId,
        work: Vec<Work>,
        participants: Vec<NodeId>,
    ) {
        if self.committed.contains(&txn) {
            return; // a late duplicate: the decision is applied already, ignored on purpose
        }
        if self.aborted.contains(&txn) {
            self.vote_no(ctx, txn);
            return;
        }
        if let Some(prepared) = self.prepared.get(&txn) {
            // A re-sent or duplicated PREPARE: vote again once the first vote could leave.
            if prepared.voted {
                self.send_yes(ctx, txn);
            }
            return;
        }
        for item in &work {
            assert!(
                self.balances.contains_key(&item.account),
                "participant {} asked about account {} it does not own",
                self.id,
                item.account
            );
        }
        // No-wait strict two-phase locking: a held conflicting lock is a NO.
        if !self.try_lock(txn, &work) {
            ctx.mark("two_phase_commit.vote_no_conflict");
            self.vote_no(ctx, txn);
            return;
        }
        let overdraft = work.iter().any(|item| match item.access {
            Access::Add(delta) => self.balances[&item.account] + delta < 0,
            Access::Read => false,
        });
        if overdraft {
            ctx.mark("two_phase_commit.vote_no_funds");
            self.unlock(txn, &work);
            self.vote_no(ctx, txn);
            return;
        }
        self.prepared.insert(
            txn,
            Prepared {
                work: work.clone(),
                participants: participants.clone(),
                since: ctx.now(),
                voted: false,
                blocked: false,
            },
        );
        ctx.append(Record::Prepared {
            txn,
            work,
            participants,
        });
        // YES only once PREPARE is durable (Gray & Lamport §3; R* §2).
        self.force(ctx, Answer::VoteYes(txn));
    }

    fn vote_no<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, txn: TxnId) {
        self.aborted.insert(txn);
        ctx.observe(Observation::Voted { txn, yes: false });
        ctx.send(
            self.coordinator,
            Message::Vote {
                txn,
                yes: false,
                reads: Vec::new(),
            },
        );
    }

    fn send_yes<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, txn: TxnId) {
        let prepared = &self.prepared[&txn];
        let reads = prepared
            .work
            .iter()
            .filter(|item| item.access == Access::Read)
            .map(|item| (item.account, self.balances[&item.account]))
            .collect();
        ctx.send(
            self.coordinator,
            Message::Vote {
                txn,
                yes: true,
                reads,
            },
        );
    }

    /// The single door for answers that need a durable record: they leave from
    /// [`Participant::on_synced`].
    fn force<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, answer: Answer) {
        self.log.force(ctx, answer);
    }

    /// A sync completed: send the answers it made safe.
    pub fn on_synced<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, token: SyncToken) {
        for answer in self.log.on_synced(token) {
            self.on_durable(ctx, answer);
        }
    }

    fn on_durable<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, answer: Answer) {
        match answer {
            Answer::VoteYes(txn) => {
                let Some(prepared) = self.prepared.get_mut(&txn) else {
                    return; // decided while the record was being forced
                };
                prepared.voted = true;
                ctx.observe(Observation::Voted { txn, yes: true });
                self.send_yes(ctx, txn);
                // Prepared durably and voted YES: now in doubt.
                ctx.crash_point("2pc.after_vote_yes");
            }
            Answer::Ack(txn) => ctx.send(self.coordinator, Message::Ack { txn }),
            Answer::PromisedAbort { txn, to } => ctx.send(to, Message::Abort { txn }),
        }
    }

    /// The decision COMMIT (from the coordinator or a peer).
    pub fn on_commit<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, from: NodeId, txn: TxnId) {
        let from_coordinator = from.0 < self.coordinators;
        if self.committed.contains(&txn) {
            if from_coordinator {
                ctx.send(from, Message::Ack { txn });
            }
            return;
        }
        let Some(prepared) = self.prepared.remove(&txn) else {
            // Never prepared here: only a coordinator that committed without this vote sends
            // it (mutation T1). Acknowledge so that it stops re-sending; the invariants have
            // already caught the commit.
            ctx.mark("two_phase_commit.commit_for_unknown_txn");
            if from_coordinator {
                ctx.send(from, Message::Ack { txn });
            }
            return;
        };
        self.unlock(txn, &prepared.work);
        let changes = self.apply(txn, &prepared.work);
        self.committed.insert(txn);
        ctx.observe(Observation::Committed { txn, changes });
        ctx.append(Record::Committed { txn });
        self.force(ctx, Answer::Ack(txn));
    }

    /// The decision ABORT (from the coordinator or a peer).
    pub fn on_abort<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, txn: TxnId) {
        if self.committed.contains(&txn) {
            // A correct coordinator never aborts what it committed; the invariants judge it.
            ctx.mark("two_phase_commit.abort_after_commit_ignored");
            return;
        }
        // Remember it even when unknown: an ABORT may overtake its PREPARE.
        self.aborted.insert(txn);
        if let Some(prepared) = self.prepared.remove(&txn) {
            self.roll_back(ctx, txn, &prepared.work);
        }
    }

    /// Releases a prepared transaction's locks. Its ABORT record is not forced (presumed
    /// abort), but a later PREPARE's forced record carries it to the disk, so a recovery never
    /// sees the old transaction's locks in the way of the new one's.
    fn roll_back<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, txn: TxnId, work: &[Work]) {
        self.unlock(txn, work);
        self.aborted.insert(txn);
        ctx.observe(Observation::Aborted { txn });
        ctx.append(Record::Aborted { txn });
    }

    /// A peer in doubt asks for the decision (cooperative termination).
    pub fn on_decision_request<N: Speaks>(
        &mut self,
        ctx: NodeCtx<'_, '_, N>,
        from: NodeId,
        txn: TxnId,
    ) {
        if self.committed.contains(&txn) {
            ctx.mark("two_phase_commit.cooperative_answer");
            ctx.send(from, Message::Commit { txn });
        } else if self.aborted.contains(&txn) {
            ctx.mark("two_phase_commit.cooperative_answer");
            ctx.send(from, Message::Abort { txn });
        } else if !self.prepared.contains_key(&txn) {
            // Never voted: abort now, durably, so that a PREPARE arriving later gets NO.
            ctx.mark("two_phase_commit.cooperative_answer");
            self.aborted.insert(txn);
            ctx.observe(Observation::Aborted { txn });
            ctx.append(Record::Aborted { txn });
            self.force(ctx, Answer::PromisedAbort { txn, to: from });
        }
        // In doubt itself: it knows nothing; no answer.
    }

    /// The periodic look at in-doubt transactions: ask for their decisions, count blocking.
    pub fn on_in_doubt_timer<N: Speaks>(&mut self, ctx: NodeCtx<'_, '_, N>, config: &Config) {
        ctx.set_timer(config.inquiry_interval, Timer::InDoubt);
        let now = ctx.now();
        let overdue: Vec<TxnId> = self
            .prepared
            .iter()
            .filter(|(_, p)| p.voted && now.saturating_since(p.since) >= config.decision_timeout)
            .map(|(&txn, _)| txn)
            .collect();
        for txn in overdue {
            if config
                .bugs
                .contains(bugs::PARTICIPANT_UNILATERAL_ABORT_AFTER_YES)
            {
                // T2: in doubt too long, roll back on its own. Wrong: the coordinator may
                // have committed on this YES.
                let prepared = self.prepared.remove(&txn).expect("overdue");
                self.roll_back(ctx, txn, &prepared.work);
                continue;
            }
            let prepared = self.prepared.get_mut(&txn).expect("overdue");
            if !prepared.blocked {
                prepared.blocked = true;
                ctx.mark("two_phase_commit.blocked");
            }
            ctx.mark("two_phase_commit.in_doubt_inquiry");
            for _ in &prepared.work {
                ctx.mark("two_phase_commit.lock_held_in_doubt");
            }
            let peers: Vec<NodeId> = prepared
                .participants
                .iter()
                .copied()
                .filter(|&p| p != self.id)
                .collect();
            // A replicated coordinator's replicas are all asked: whichever leads answers.
            for coordinator in (0..self.coordinators).map(NodeId) {
                ctx.send(coordinator, Message::Inquire { txn });
            }
            if config.cooperative_termination {
                for peer in peers {
                    ctx.send(peer, Message::DecisionRequest { txn });
                }
            }
        }
    }
}
