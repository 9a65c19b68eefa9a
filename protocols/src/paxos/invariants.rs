//! Multi-Paxos safety checked from observations, at every step.
//!
//! The checker is the **global oracle** of BUGS.md §2: it sees every acceptance once the
//! acceptor's sync made it durable (an acceptance a power loss took back first was never made),
//! so it knows what is chosen even when no node does yet.
//!
//! - **agreement**: a value is chosen in a slot iff a majority of acceptors accepted the same
//!   (ballot, value) there (Paxos Made Simple §2.1); no two different values are ever chosen
//!   for one slot. Acceptances are counted per (slot, ballot) over the whole run: a later
//!   acceptance of another ballot does not un-choose a value. Every value a node *learns* as
//!   chosen must be the value the oracle saw chosen in that slot, and two acceptances of one
//!   ballot in one slot must carry one value (a proposer proposes one value per ballot).
//! - **election-safety**: at most one leader per ballot, and it is the ballot's owner.
//! - **state-machine-safety**: no two replicas apply different values at one slot.
//!
//! Each observation costs O(log n) in the slots and ballots seen.

use super::message::{Ballot, Slot};
use sim_core::id::NodeId;
use sim_core::node::{Invariants, Violation};
use sim_core::time::Instant;
use std::collections::BTreeMap;
use std::fmt;

/// The largest cluster the oracle's acceptor bitsets hold.
pub const NODE_COUNT_MAX: u32 = 64;

/// A protocol-meaningful moment reported by a Multi-Paxos replica.
// `Debug` stays derived: run reports read a node's role and ballot from its variant and fields
// (sim-core/src/observed.rs); `Display` (message.rs) is the trace's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaxosObservation {
    /// The replica booted (first boot or restart) in a cluster of `node_count`: the oracle
    /// needs the size of a majority.
    Started {
        /// Replicas in the cluster.
        node_count: u32,
    },
    /// The replica completed phase 1 for `ballot` and leads it.
    BecameLeader {
        /// The ballot.
        ballot: Ballot,
    },
    /// The acceptor durably accepted the proposal (`ballot`, value `digest`) in `slot`.
    Accepted {
        /// The slot.
        slot: Slot,
        /// The proposal's ballot.
        ballot: Ballot,
        /// The value's digest.
        digest: u64,
    },
    /// The replica learned that the value `digest` is chosen in `slot`.
    Learned {
        /// The slot.
        slot: Slot,
        /// The value's digest.
        digest: u64,
    },
    /// The replica applied the value `digest` of `slot` to its state machine.
    Applied {
        /// The slot.
        slot: Slot,
        /// The value's digest.
        digest: u64,
    },
}

/// The acceptances of one ballot in one slot: the value, and the acceptors as a bitset.
#[derive(Clone, Copy, Debug)]
struct BallotVotes {
    ballot: Ballot,
    digest: u64,
    acceptors: u64,
}

/// What the oracle knows about one slot.
#[derive(Clone, Debug, Default)]
struct SlotRecord {
    /// Every ballot accepted in the slot, in the order first seen (few per slot).
    ballots: Vec<BallotVotes>,
    /// The chosen value and the first ballot seen choosing it.
    chosen: Option<(u64, Ballot)>,
    /// The first replica that applied the slot, and what it applied.
    applied: Option<(NodeId, u64)>,
}

/// The checker for [`PaxosObservation`]s.
#[derive(Clone, Debug, Default)]
pub struct PaxosInvariants {
    node_count: Option<u32>,
    leaders: BTreeMap<Ballot, NodeId>,
    /// Indexed by slot - 1: slots are numbered densely from 1, so a vector beats a map.
    slots: Vec<SlotRecord>,
}

fn violation(invariant: &str, message: String) -> Result<(), Violation> {
    Err(Violation {
        invariant: invariant.to_string(),
        message,
    })
}

impl PaxosInvariants {
    /// A checker that has seen nothing.
    pub fn new() -> PaxosInvariants {
        PaxosInvariants::default()
    }

    /// The digest chosen in `slot`, if the oracle has seen a majority accept it.
    pub fn chosen(&self, slot: Slot) -> Option<u64> {
        self.record(slot)
            .and_then(|record| record.chosen.map(|(digest, _)| digest))
    }

    /// How many slots the oracle has seen chosen.
    pub fn chosen_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|record| record.chosen.is_some())
            .count()
    }

    fn record(&self, slot: Slot) -> Option<&SlotRecord> {
        let index = usize::try_from(slot.0.checked_sub(1)?).ok()?;
        self.slots.get(index)
    }

    fn record_mut(&mut self, slot: Slot) -> &mut SlotRecord {
        assert!(slot >= Slot::FIRST, "slot 0 reported");
        let index = usize::try_from(slot.0 - 1).expect("slot fits memory");
        if index >= self.slots.len() {
            self.slots.resize_with(index + 1, SlotRecord::default);
        }
        &mut self.slots[index]
    }

    /// The leader of `ballot`, if one was observed.
    pub fn leader_of(&self, ballot: Ballot) -> Option<NodeId> {
        self.leaders.get(&ballot).copied()
    }

    fn majority(&self, node: NodeId) -> usize {
        let node_count = self
            .node_count
            .unwrap_or_else(|| panic!("{node} reported before any replica started"));
        node_count as usize / 2 + 1
    }

    fn on_accepted(
        &mut self,
        node: NodeId,
        slot: Slot,
        ballot: Ballot,
        digest: u64,
    ) -> Result<(), Violation> {
        let majority = self.majority(node);
        let record = self.record_mut(slot);
        let position = match record
            .ballots
            .iter()
            .position(|votes| votes.ballot == ballot)
        {
            Some(position) => position,
            None => {
                record.ballots.push(BallotVotes {
                    ballot,
                    digest,
                    acceptors: 0,
                });
                record.ballots.len() - 1
            }
        };
        let votes = &mut record.ballots[position];
        if votes.digest != digest {
            return violation(
                "agreement",
                format!(
                    "{node} accepted {digest:016x} in {slot} under {ballot}, which others accepted with {:016x}: two values proposed in one ballot",
                    votes.digest
                ),
            );
        }
        votes.acceptors |= 1 << node.0;
        let acceptors = votes.acceptors;
        if (acceptors.count_ones() as usize) < majority {
            return Ok(());
        }
        match record.chosen {
            None => {
                record.chosen = Some((digest, ballot));
                Ok(())
            }
            Some((known, _)) if known == digest => Ok(()),
            Some((known, first)) => {
                let holders: Vec<String> = (0..NODE_COUNT_MAX)
                    .filter(|&n| acceptors & 1 << n != 0)
                    .map(|n| NodeId(n).to_string())
                    .collect();
                violation(
                    "agreement",
                    format!(
                        "two values chosen in {slot}: {known:016x} under {first}, then {digest:016x} under {ballot} (accepted by {})",
                        holders.join(", ")
                    ),
                )
            }
        }
    }
}

impl Invariants<PaxosObservation> for PaxosInvariants {
    fn observe(
        &mut self,
        _time: Instant,
        node: NodeId,
        observation: &PaxosObservation,
    ) -> Result<(), Violation> {
        match *observation {
            PaxosObservation::Started { node_count } => {
                assert!(node_count > 0, "{node} started in an empty cluster");
                assert!(
                    node_count <= NODE_COUNT_MAX,
                    "the oracle holds clusters of up to {NODE_COUNT_MAX} replicas, not {node_count}"
                );
                let known = *self.node_count.get_or_insert(node_count);
                assert_eq!(known, node_count, "{node} disagrees on the cluster size");
                Ok(())
            }
            PaxosObservation::BecameLeader { ballot } => {
                if ballot.node != node {
                    return violation(
                        "election-safety",
                        format!("{node} leads {ballot}, a ballot of {}", ballot.node),
                    );
                }
                match self.leaders.insert(ballot, node) {
                    Some(other) if other != node => violation(
                        "election-safety",
                        format!("{node} and {other} both lead {ballot}"),
                    ),
                    _ => Ok(()),
                }
            }
            PaxosObservation::Accepted {
                slot,
                ballot,
                digest,
            } => self.on_accepted(node, slot, ballot, digest),
            PaxosObservation::Learned { slot, digest } => {
                match self.record(slot).and_then(|record| record.chosen) {
                    Some((chosen, _)) if chosen == digest => Ok(()),
                    Some((chosen, ballot)) => violation(
                        "agreement",
                        format!(
                            "{node} learned {digest:016x} in {slot}; {chosen:016x} was chosen there under {ballot}"
                        ),
                    ),
                    None => violation(
                        "agreement",
                        format!(
                            "{node} learned {digest:016x} in {slot}, which no majority accepted"
                        ),
                    ),
                }
            }
            PaxosObservation::Applied { slot, digest } => {
                let record = self.record_mut(slot);
                match record.applied {
                    Some((other, known)) if known != digest => violation(
                        "state-machine-safety",
                        format!(
                            "{node} applied {digest:016x} at {slot}; {other} applied {known:016x} there"
                        ),
                    ),
                    Some(_) => Ok(()),
                    None => {
                        record.applied = Some((node, digest));
                        Ok(())
                    }
                }
            }
        }
    }
}

impl fmt::Display for PaxosObservation {
    /// What the replica says happened, for the trace: `accepts s7 under b2.1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PaxosObservation as O;
        match self {
            O::Started { node_count } => write!(f, "starts ({node_count} replicas)"),
            O::BecameLeader { ballot } => write!(f, "leads {ballot}"),
            O::Accepted { slot, ballot, .. } => write!(f, "accepts {slot} under {ballot}"),
            O::Learned { slot, .. } => write!(f, "learns {slot} chosen"),
            O::Applied { slot, .. } => write!(f, "applies {slot}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ballot(round: u64, node: u32) -> Ballot {
        Ballot::new(round, NodeId(node))
    }

    fn checker() -> PaxosInvariants {
        let mut invariants = PaxosInvariants::new();
        for node in 0..3 {
            invariants
                .observe(
                    Instant::ZERO,
                    NodeId(node),
                    &PaxosObservation::Started { node_count: 3 },
                )
                .unwrap();
        }
        invariants
    }

    fn accept(
        invariants: &mut PaxosInvariants,
        node: u32,
        slot: u64,
        ballot: Ballot,
        digest: u64,
    ) -> Result<(), Violation> {
        let observation = PaxosObservation::Accepted {
            slot: Slot(slot),
            ballot,
            digest,
        };
        invariants.observe(Instant::ZERO, NodeId(node), &observation)
    }

    #[test]
    fn a_majority_of_one_ballot_chooses_and_a_second_value_violates_agreement() {
        let mut invariants = checker();
        accept(&mut invariants, 0, 1, ballot(1, 0), 10).unwrap();
        assert_eq!(
            invariants.chosen(Slot(1)),
            None,
            "one of three is not a majority"
        );
        accept(&mut invariants, 1, 1, ballot(1, 0), 10).unwrap();
        assert_eq!(invariants.chosen(Slot(1)), Some(10));
        // A higher ballot with the same value is fine (it must carry the chosen value).
        accept(&mut invariants, 1, 1, ballot(2, 2), 10).unwrap();
        accept(&mut invariants, 2, 1, ballot(2, 2), 10).unwrap();
        // Two acceptances of ballots that differ, with another value, do not choose it...
        accept(&mut invariants, 2, 1, ballot(3, 1), 11).unwrap();
        accept(&mut invariants, 0, 1, ballot(4, 0), 11).unwrap();
        // ...but a majority of one ballot does.
        let error = accept(&mut invariants, 1, 1, ballot(4, 0), 11).unwrap_err();
        assert_eq!(error.invariant, "agreement");
        assert!(error.message.contains("two values chosen in s1"), "{error}");
    }

    #[test]
    fn one_ballot_carries_one_value_per_slot() {
        let mut invariants = checker();
        accept(&mut invariants, 0, 2, ballot(1, 0), 10).unwrap();
        let error = accept(&mut invariants, 1, 2, ballot(1, 0), 12).unwrap_err();
        assert_eq!(error.invariant, "agreement");
        accept(&mut invariants, 1, 3, ballot(1, 0), 12).unwrap();
    }

    #[test]
    fn learning_an_unchosen_or_different_value_violates_agreement() {
        let mut invariants = checker();
        let learned = |digest| PaxosObservation::Learned {
            slot: Slot(1),
            digest,
        };
        let early = invariants.observe(Instant::ZERO, NodeId(2), &learned(10));
        assert_eq!(early.unwrap_err().invariant, "agreement");
        accept(&mut invariants, 0, 1, ballot(1, 0), 10).unwrap();
        accept(&mut invariants, 1, 1, ballot(1, 0), 10).unwrap();
        invariants
            .observe(Instant::ZERO, NodeId(2), &learned(10))
            .unwrap();
        let wrong = invariants.observe(Instant::ZERO, NodeId(2), &learned(11));
        assert_eq!(wrong.unwrap_err().invariant, "agreement");
    }

    #[test]
    fn leaders_own_their_ballots_and_replicas_apply_one_value_per_slot() {
        let mut invariants = checker();
        let leads = |round, owner| PaxosObservation::BecameLeader {
            ballot: ballot(round, owner),
        };
        invariants
            .observe(Instant::ZERO, NodeId(1), &leads(1, 1))
            .unwrap();
        let stolen = invariants.observe(Instant::ZERO, NodeId(2), &leads(1, 1));
        assert_eq!(stolen.unwrap_err().invariant, "election-safety");
        assert_eq!(invariants.leader_of(ballot(1, 1)), Some(NodeId(1)));
        let applied = |digest| PaxosObservation::Applied {
            slot: Slot(4),
            digest,
        };
        invariants
            .observe(Instant::ZERO, NodeId(0), &applied(5))
            .unwrap();
        invariants
            .observe(Instant::ZERO, NodeId(1), &applied(5))
            .unwrap();
        let error = invariants
            .observe(Instant::ZERO, NodeId(2), &applied(6))
            .unwrap_err();
        assert_eq!(error.invariant, "state-machine-safety");
    }
}
