//! Two-phase commit's checks, from the nodes' observations (BUGS.md's `atomicity(2PC)` and
//! `durability` oracles, and the bank's conservation of money).

use super::message::Observation;
use super::{Config, TxnId};
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
        let participants = (1..=config.participants)
            .map(NodeId)
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
            Observation::Voted { txn, yes } => {
                let view = self.txns.entry(*txn).or_default();
                if *yes {
                    view.voted_yes.insert(node);
                    self.participants
                        .get_mut(&node)
                        .expect("a participant")
                        .in_doubt
                        .insert(*txn, time);
                } else {
                    // A NO is this participant's unilateral abort.
                    view.aborted_at.insert(node);
                    self.check_atomicity(*txn)?;
                }
            }
            Observation::Committed { txn, changes } => {
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
            }
            Observation::Decided {
                txn,
                commit,
                participants,
            } => {
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
        for (node, participant) in &self.participants {
            if let Some((txn, since)) = participant
                .in_doubt
                .iter()
                .find(|(_, &since)| time.saturating_since(since) > self.resolution_grace)
            {
                return violation(
                    "in-doubt-resolved",
                    format!(
                        "{txn} is still in doubt on {node} at the end, {} after it began",
                        time.saturating_since(*since)
                    ),
                );
            }
        }
        for (txn, participants) in &self.acknowledged {
            for node in participants {
                if !self.participants[node].committed.contains(txn) {
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
}
