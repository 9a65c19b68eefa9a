//! Two-phase commit's checks, from the nodes' observations (BUGS.md's `atomicity(2PC)` and
//! `durability` oracles, and the bank's conservation of money).

use super::message::Observation;
use super::{Config, TxnId};
use crate::raft::RaftInvariants;
use sim_core::history::HistoryEvent;
use sim_core::id::NodeId;
use sim_core::node::{Invariants, Violation};
use sim_core::time::{Duration, Instant};
use std::collections::{BTreeMap, BTreeSet};

/// What one participant's state is, as its observations tell.
#[derive(Debug, Default)]
struct ParticipantView {
    balances: BTreeMap<u32, i64>,
    committed: BTreeSet<TxnId>,
    /// In doubt since (true simulated time).
    in_doubt: BTreeMap<TxnId, Instant>,
}

/// Every observed fact about one transaction.
#[derive(Debug, Default)]
struct TxnView {
    voted_yes: BTreeSet<NodeId>,
    committed_at: BTreeSet<NodeId>,
    aborted_at: BTreeSet<NodeId>,
    /// Participants whose abort is only a NO vote: no record, so a crash forgets it and a
    /// duplicate PREPARE may find them fresh (presumed abort lets them forget).
    voted_no: BTreeSet<NodeId>,
}

/// The checker: `atomicity`, `conservation`, `durability`, `in-doubt-resolved`.
#[derive(Debug)]
pub struct TwoPhaseCommitInvariants {
    total: i64,
    participants: BTreeMap<NodeId, ParticipantView>,
    txns: BTreeMap<TxnId, TxnView>,
    /// Transfers acknowledged to clients, with their participants.
    acknowledged: Vec<(TxnId, Vec<NodeId>)>,
    /// How long a transaction may still be in doubt at the end of the run.
    resolution_grace: Duration,
    /// Since when (true time) each participant has been in doubt about each transaction,
    /// across its crashes (its PREPARE record keeps it in doubt), for the figure.
    doubt_began: BTreeMap<(NodeId, TxnId), Instant>,
    /// Simulated time spent in doubt, summed over participants and transactions.
    time_in_doubt_nanos: u64,
    /// The part of it beyond `decision_timeout` per transaction and participant: blocked.
    time_blocked_nanos: u64,
    decision_timeout: Duration,
    /// Transactions the coordinator decided to abort (transfers and audits).
    aborts: u64,
    /// Raft's invariants over a replicated coordinator's group.
    group: RaftInvariants,
}

fn violation(invariant: &str, message: String) -> Result<(), Violation> {
    Err(Violation {
        invariant: invariant.into(),
        message,
    })
}

impl TwoPhaseCommitInvariants {
    /// A checker for a bank of `config`; a transaction still in doubt at the end of the run
    /// is a failure once it has been in doubt for longer than `resolution_grace`.
    pub fn new(config: &Config, resolution_grace: Duration) -> TwoPhaseCommitInvariants {
        let participants = config
            .participant_ids()
            .map(|node| {
                let view = ParticipantView {
                    balances: config
                        .range(node)
                        .map(|a| (a, config.initial_balances[a as usize]))
                        .collect(),
                    ..ParticipantView::default()
                };
                (node, view)
            })
            .collect();
        TwoPhaseCommitInvariants {
            total: config.total(),
            participants,
            txns: BTreeMap::new(),
            acknowledged: Vec::new(),
            resolution_grace,
            doubt_began: BTreeMap::new(),
            time_in_doubt_nanos: 0,
            time_blocked_nanos: 0,
            decision_timeout: config.decision_timeout,
            aborts: 0,
            group: RaftInvariants::new(),
        }
    }

    fn add_doubt(&mut self, in_doubt: Duration) {
        self.time_in_doubt_nanos += in_doubt.as_nanos();
        self.time_blocked_nanos += in_doubt
            .as_nanos()
            .saturating_sub(self.decision_timeout.as_nanos());
    }

    fn doubt_ends(&mut self, time: Instant, node: NodeId, txn: TxnId) {
        if let Some(began) = self.doubt_began.remove(&(node, txn)) {
            self.add_doubt(time.saturating_since(began));
        }
    }

    fn check_atomicity(&self, txn: TxnId) -> Result<(), Violation> {
        let view = &self.txns[&txn];
        if let (Some(committed), Some(aborted)) =
            (view.committed_at.first(), view.aborted_at.first())
        {
            return violation(
                "atomicity",
                format!("{txn} committed at {committed} and aborted at {aborted}"),
            );
        }
        Ok(())
    }
}

impl Invariants<Observation> for TwoPhaseCommitInvariants {
    fn observe(
        &mut self,
        time: Instant,
        node: NodeId,
        observation: &Observation,
    ) -> Result<(), Violation> {
        match observation {
            Observation::Group { observation } => {
                self.group.observe(time, node, observation)?;
            }
            Observation::Voted { txn, yes } => {
                let view = self.txns.entry(*txn).or_default();
                if *yes {
                    view.voted_yes.insert(node);
                    self.participants
                        .get_mut(&node)
                        .expect("a participant")
                        .in_doubt
                        .insert(*txn, time);
                    self.doubt_began.entry((node, *txn)).or_insert(time);
                } else {
                    // A NO is this participant's unilateral abort.
                    view.aborted_at.insert(node);
                    view.voted_no.insert(node);
                    self.check_atomicity(*txn)?;
                }
            }
            Observation::Committed { txn, changes } => {
                self.doubt_ends(time, node, *txn);
                let participant = self.participants.get_mut(&node).expect("a participant");
                participant.in_doubt.remove(txn);
                participant.committed.insert(*txn);
                for &(account, delta) in changes {
                    let balance = participant.balances.get_mut(&account).expect("owned");
                    *balance += delta;
                    if *balance < 0 {
                        return violation(
                            "conservation",
                            format!("{txn} left account {account} at {balance} on {node}"),
                        );
                    }
                }
                self.txns.entry(*txn).or_default().committed_at.insert(node);
                self.check_atomicity(*txn)?;
            }
            Observation::Aborted { txn } => {
                self.doubt_ends(time, node, *txn);
                let participant = self.participants.get_mut(&node).expect("a participant");
                participant.in_doubt.remove(txn);
                self.txns.entry(*txn).or_default().aborted_at.insert(node);
                self.check_atomicity(*txn)?;
            }
            Observation::Recovered {
                balances,
                committed,
                in_doubt,
            } => {
                let participant = self.participants.get_mut(&node).expect("a participant");
                participant.balances = balances.iter().copied().collect();
                participant.committed = committed.iter().copied().collect();
                participant.in_doubt = in_doubt.iter().map(|&txn| (txn, time)).collect();
                for &txn in in_doubt {
                    self.doubt_began.entry((node, txn)).or_insert(time);
                }
                // A NO vote left no record: the crash forgot it, and the participant may vote
                // again on a duplicate PREPARE. It aborted nothing anyone depends on (the
                // coordinator either heard it and aborted, or never did).
                for view in self.txns.values_mut() {
                    if view.voted_no.remove(&node) {
                        view.aborted_at.remove(&node);
                    }
                }
            }
            Observation::Decided {
                txn,
                commit,
                participants,
            } => {
                if !*commit {
                    self.aborts += 1;
                }
                if *commit {
                    let view = self.txns.entry(*txn).or_default();
                    if let Some(silent) = participants.iter().find(|p| !view.voted_yes.contains(p))
                    {
                        return violation(
                            "atomicity",
                            format!("the coordinator committed {txn} without a YES from {silent}"),
                        );
                    }
                }
            }
            Observation::Acknowledged { txn, participants } => {
                self.acknowledged.push((*txn, participants.clone()));
            }
        }
        Ok(())
    }

    fn finish(&mut self, time: Instant) -> Result<(), Violation> {
        // Time in doubt up to the end for what is still in doubt.
        for began in std::mem::take(&mut self.doubt_began).into_values() {
            self.add_doubt(time.saturating_since(began));
        }
        for (txn, participants) in &self.acknowledged {
            for node in participants {
                let participant = &self.participants[node];
                // Still in doubt there: not lost, not yet delivered (`liveness` judges it).
                if !participant.committed.contains(txn) && !participant.in_doubt.contains_key(txn) {
                    return violation(
                        "durability",
                        format!("{txn} was acknowledged to its client but is not committed on {node} at the end"),
                    );
                }
            }
        }
        let in_doubt = self
            .participants
            .values()
            .any(|participant| !participant.in_doubt.is_empty());
        let sum: i64 = self
            .participants
            .values()
            .flat_map(|participant| participant.balances.values())
            .sum();
        if !in_doubt && sum != self.total {
            return violation(
                "conservation",
                format!("the final balances sum to {sum}, not {}", self.total),
            );
        }
        Ok(())
    }

    /// `in-doubt-resolved`: blocking is behaviour, but after the faults heal every in-doubt
    /// transaction must resolve; one still in doubt at the end is a liveness failure.
    fn liveness(&mut self, time: Instant) -> Option<String> {
        self.participants.iter().find_map(|(node, participant)| {
            let (txn, since) = participant
                .in_doubt
                .iter()
                .find(|(_, &since)| time.saturating_since(since) > self.resolution_grace)?;
            Some(format!(
                "in-doubt-resolved: {txn} is still in doubt on {node} at the end, {} after it began",
                time.saturating_since(*since)
            ))
        })
    }

    fn figures(&self, _history: &[HistoryEvent]) -> Vec<(&'static str, u64)> {
        vec![
            ("time_in_doubt_ns", self.time_in_doubt_nanos),
            ("time_blocked_ns", self.time_blocked_nanos),
            ("transfers_committed", self.acknowledged.len() as u64),
            ("aborts", self.aborts),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: NodeId = NodeId(1);
    const P2: NodeId = NodeId(2);
    const T: TxnId = TxnId(9);

    fn checker() -> TwoPhaseCommitInvariants {
        TwoPhaseCommitInvariants::new(&Config::new(2, vec![100; 4]), Duration::from_secs(1))
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn raft_checks_the_replicated_coordinators_group() {
        use crate::raft::{RaftObservation, Term};
        let leader = |term: u64| Observation::Group {
            observation: RaftObservation::BecameLeader {
                term: Term(term),
                log: Vec::new(),
            },
        };
        let mut invariants = checker();
        assert!(invariants.observe(at(1), NodeId(0), &leader(1)).is_ok());
        assert!(invariants.observe(at(2), NodeId(1), &leader(2)).is_ok());
        // Two leaders of term 2: Raft's election safety, checked on the group.
        let two = invariants.observe(at(3), NodeId(2), &leader(2));
        assert!(two.is_err(), "{two:?}");
    }

    fn voted(yes: bool) -> Observation {
        Observation::Voted { txn: T, yes }
    }

    fn committed(account: u32, delta: i64) -> Observation {
        Observation::Committed {
            txn: T,
            changes: vec![(account, delta)],
        }
    }

    fn recovered(balances: &[(u32, i64)]) -> Observation {
        Observation::Recovered {
            balances: balances.to_vec(),
            committed: Vec::new(),
            in_doubt: Vec::new(),
        }
    }

    /// A participant votes NO; the vote is lost; the participant crashes, forgetting it (a NO
    /// leaves no record: presumed abort); a duplicate PREPARE arrives and it now votes YES; the
    /// coordinator, which never heard the NO, commits. Nothing aborted what committed: the NO
    /// was forgotten with the participant's volatile state. Before the fix the checker kept
    /// the forgotten NO as an abort and reported a false atomicity violation.
    #[test]
    fn a_no_vote_forgotten_in_a_crash_then_a_yes_on_a_duplicate_prepare_is_not_an_abort() {
        let mut checker = checker();
        checker.observe(at(1), P1, &voted(false)).unwrap();
        checker.on_crash(at(2), P1);
        checker
            .observe(at(3), P1, &recovered(&[(0, 100), (1, 100)]))
            .unwrap();
        checker.observe(at(4), P1, &voted(true)).unwrap();
        checker.observe(at(4), P2, &voted(true)).unwrap();
        let decided = Observation::Decided {
            txn: T,
            commit: true,
            participants: vec![P1, P2],
        };
        checker.observe(at(5), NodeId(0), &decided).unwrap();
        checker.observe(at(6), P1, &committed(0, -10)).unwrap();
        checker.observe(at(6), P2, &committed(2, 10)).unwrap();
        assert!(checker.finish(at(10)).is_ok());
    }

    /// The same NO, remembered (no crash), is an abort: a COMMIT there breaks atomicity.
    #[test]
    fn a_remembered_no_vote_and_a_commit_elsewhere_break_atomicity() {
        let mut checker = checker();
        checker.observe(at(1), P1, &voted(false)).unwrap();
        checker.observe(at(2), P2, &voted(true)).unwrap();
        let error = checker.observe(at(3), P2, &committed(2, 10)).unwrap_err();
        assert_eq!(error.invariant, "atomicity");
    }

    /// In doubt past the grace at the end is a liveness finding, not a safety violation; the
    /// time in doubt is measured in simulated time.
    #[test]
    fn in_doubt_at_the_end_is_liveness_and_time_in_doubt_is_measured() {
        let mut stuck = checker();
        stuck.observe(at(0), P1, &voted(true)).unwrap();
        assert!(stuck.finish(at(500)).is_ok());
        assert_eq!(stuck.liveness(at(500)), None, "within the grace");
        let failure = stuck.liveness(at(3_000)).expect("past the grace");
        assert!(failure.starts_with("in-doubt-resolved"), "{failure}");

        let mut resolved =
            TwoPhaseCommitInvariants::new(&Config::new(2, vec![100; 4]), Duration::from_secs(1));
        resolved.observe(at(10), P1, &voted(true)).unwrap();
        resolved.observe(at(10), P2, &voted(true)).unwrap();
        resolved.observe(at(40), P1, &committed(0, -10)).unwrap();
        resolved.observe(at(70), P2, &committed(2, 10)).unwrap();
        assert!(resolved.finish(at(100)).is_ok());
        // 30ms and 60ms in doubt; 100ms of `decision_timeout` before either is blocked.
        assert_eq!(
            resolved.figures(&[])[..2],
            [("time_in_doubt_ns", 90_000_000), ("time_blocked_ns", 0)]
        );
        let mut blocked = checker();
        blocked.observe(at(0), P1, &voted(true)).unwrap();
        blocked.observe(at(250), P1, &committed(0, -10)).unwrap();
        assert_eq!(blocked.figures(&[])[1], ("time_blocked_ns", 150_000_000));
    }
}
