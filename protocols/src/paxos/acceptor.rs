//! The acceptor (Paxos Made Simple §2.2–2.3) as a pure value: its promise, the proposal it
//! accepted in each slot, and the two rules that decide its answers. Persistence is the
//! caller's: every decision says which records must reach the disk before the answer leaves.
//!
//! The rules (6.824 notes' pseudo-code, with the single promise of Multi-Paxos, §3, that
//! covers every slot at once):
//!
//! - `prepare(n)`: if `n > promised` then `promised := n` and promise, reporting the accepted
//!   proposals; otherwise refuse.
//! - `accept(n, v)` in slot `s`: if `n >= promised` then `promised := n` and
//!   `accepted[s] := (n, v)`; otherwise refuse.
//!
//! Two mutations of BUGS.md §2 live here, one `if` each at the rule they break: P1
//! `paxos-accept-ignores-promise` drops the `n >= promised` guard of accept, P2
//! `paxos-accept-does-not-raise-promise` drops its `promised := n`.

use super::message::{Ballot, Proposal, Record, Slot, Value};
use crate::mutation::BugSet;
use crate::paxos::bugs;

/// What the acceptor decided about an accept request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcceptDecision {
    /// Accepted; append `records`, sync, then answer.
    Accepted {
        /// The records that make the decision durable (empty for a repeat of a proposal
        /// already accepted).
        records: Vec<Record>,
    },
    /// Refused: the acceptor promised the higher `promised`.
    Refused {
        /// The current promise.
        promised: Ballot,
    },
}

/// What the acceptor decided about a prepare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrepareDecision {
    /// Promised; append and sync `record` (if any) before sending the promise.
    Promised {
        /// The new promise's record, `None` when the same ballot was promised before (a
        /// retransmitted prepare gets the same answer again).
        record: Option<Record>,
    },
    /// Refused: the acceptor promised `promised`, which is at least the prepare's ballot.
    Refused {
        /// The current promise.
        promised: Ballot,
    },
}

/// An acceptor's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptor {
    /// The highest ballot promised (np).
    promised: Ballot,
    /// The last proposal accepted in each slot (na, va), indexed by slot - 1: slots are
    /// numbered densely from 1, so a vector (with holes where nothing was accepted) beats a
    /// map.
    accepted: Vec<Option<Proposal>>,
    bugs: BugSet,
}

impl Acceptor {
    /// An acceptor that has promised and accepted nothing.
    pub fn new(bugs: BugSet) -> Acceptor {
        Acceptor {
            promised: Ballot::ZERO,
            accepted: Vec::new(),
            bugs,
        }
    }

    /// The acceptor rebuilt from its synced records, in order.
    ///
    /// # Panics
    /// If the records break the acceptor's rules: a promise below an earlier one, or (with the
    /// promise-raising rule on) an accepted ballot above the promise recorded before it.
    pub fn recover(bugs: BugSet, records: &[Record]) -> Acceptor {
        let mut acceptor = Acceptor::new(bugs);
        for record in records {
            match record {
                Record::Promised { ballot } => {
                    assert!(
                        *ballot >= acceptor.promised,
                        "promise {ballot} recorded after {}",
                        acceptor.promised
                    );
                    acceptor.promised = *ballot;
                }
                Record::Accepted { slot, proposal } => {
                    // Paired with `on_accept`, which records the raised promise first.
                    if !bugs.contains(bugs::ACCEPT_DOES_NOT_RAISE_PROMISE) {
                        assert!(
                            proposal.ballot <= acceptor.promised,
                            "{slot} accepted {} above the promise {}",
                            proposal.ballot,
                            acceptor.promised
                        );
                    }
                    acceptor.store(*slot, proposal.clone());
                }
            }
        }
        acceptor
    }

    /// The highest ballot promised.
    pub fn promised(&self) -> Ballot {
        self.promised
    }

    /// The proposal accepted in `slot`, if any.
    pub fn accepted(&self, slot: Slot) -> Option<&Proposal> {
        self.accepted.get(Self::index(slot))?.as_ref()
    }

    /// Every proposal accepted from `first` on, in slot order.
    pub fn accepted_from(&self, first: Slot) -> Vec<(Slot, Proposal)> {
        let end = Slot(self.accepted.len() as u64 + 1);
        self.accepted_in(first, end)
            .map(|(slot, proposal)| (slot, proposal.clone()))
            .collect()
    }

    /// The proposals accepted in the slots from `first` up to (not including) `end`.
    pub fn accepted_in(&self, first: Slot, end: Slot) -> impl Iterator<Item = (Slot, &Proposal)> {
        let start = Self::index(first).min(self.accepted.len());
        let stop = Self::index(end).clamp(start, self.accepted.len());
        self.accepted[start..stop]
            .iter()
            .enumerate()
            .filter_map(move |(offset, proposal)| {
                let slot = Slot((start + offset) as u64 + 1);
                proposal.as_ref().map(|proposal| (slot, proposal))
            })
    }

    fn index(slot: Slot) -> usize {
        assert!(slot >= Slot::FIRST, "slot 0 has no proposal");
        usize::try_from(slot.0 - 1).expect("slot fits memory")
    }

    fn store(&mut self, slot: Slot, proposal: Proposal) {
        let index = Self::index(slot);
        if index >= self.accepted.len() {
            self.accepted.resize_with(index + 1, || None);
        }
        self.accepted[index] = Some(proposal);
    }

    /// Has the acceptor anything on record?
    pub fn is_blank(&self) -> bool {
        self.promised == Ballot::ZERO && self.accepted.iter().all(Option::is_none)
    }

    /// Phase 1b: the answer to `prepare(ballot)`.
    pub fn on_prepare(&mut self, ballot: Ballot) -> PrepareDecision {
        if ballot == self.promised && ballot != Ballot::ZERO {
            return PrepareDecision::Promised { record: None };
        }
        if ballot <= self.promised {
            return PrepareDecision::Refused {
                promised: self.promised,
            };
        }
        self.promised = ballot;
        PrepareDecision::Promised {
            record: Some(Record::Promised { ballot }),
        }
    }

    /// Phase 2b: the answer to `accept(ballot, value)` in `slot`.
    pub fn on_accept(&mut self, ballot: Ballot, slot: Slot, value: Value) -> AcceptDecision {
        assert!(ballot > Ballot::ZERO, "accept of the zero ballot in {slot}");
        // P1a of Paxos Made Simple: "an acceptor can accept a proposal numbered n iff it has
        // not responded to a prepare request having a number greater than n". P1 forgets it.
        if ballot < self.promised && !self.bugs.contains(bugs::ACCEPT_IGNORES_PROMISE) {
            return AcceptDecision::Refused {
                promised: self.promised,
            };
        }
        let proposal = Proposal { ballot, value };
        if self.accepted(slot) == Some(&proposal) {
            // A retransmission (or a duplicate on the wire): the record is on disk already.
            return AcceptDecision::Accepted {
                records: Vec::new(),
            };
        }
        let mut records = Vec::with_capacity(2);
        // Accepting n is also promising n: an acceptor that accepted in a ballot it never saw
        // prepared must refuse every lower ballot from now on (BUGS.md P2, scylladb#6139).
        if ballot > self.promised && !self.bugs.contains(bugs::ACCEPT_DOES_NOT_RAISE_PROMISE) {
            self.promised = ballot;
            records.push(Record::Promised { ballot });
        }
        records.push(Record::Accepted {
            slot,
            proposal: proposal.clone(),
        });
        self.store(slot, proposal);
        AcceptDecision::Accepted { records }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::id::NodeId;

    fn ballot(round: u64, node: u32) -> Ballot {
        Ballot::new(round, NodeId(node))
    }

    fn accepted(decision: &AcceptDecision) -> bool {
        matches!(decision, AcceptDecision::Accepted { .. })
    }

    #[test]
    fn prepare_promises_only_higher_ballots_and_repeats_the_same_one() {
        let mut acceptor = Acceptor::new(BugSet::NONE);
        assert_eq!(
            acceptor.on_prepare(ballot(2, 1)),
            PrepareDecision::Promised {
                record: Some(Record::Promised {
                    ballot: ballot(2, 1)
                })
            }
        );
        assert_eq!(
            acceptor.on_prepare(ballot(2, 1)),
            PrepareDecision::Promised { record: None }
        );
        assert_eq!(
            acceptor.on_prepare(ballot(2, 0)),
            PrepareDecision::Refused {
                promised: ballot(2, 1)
            }
        );
        assert_eq!(acceptor.promised(), ballot(2, 1));
    }

    #[test]
    fn accept_respects_and_raises_the_promise() {
        let mut acceptor = Acceptor::new(BugSet::NONE);
        acceptor.on_prepare(ballot(1, 0));
        assert!(accepted(&acceptor.on_accept(
            ballot(3, 2),
            Slot(1),
            Value::Noop
        )));
        assert_eq!(acceptor.promised(), ballot(3, 2), "accepting 3 promises 3");
        assert_eq!(
            acceptor.on_accept(ballot(1, 0), Slot(1), Value::Noop),
            AcceptDecision::Refused {
                promised: ballot(3, 2)
            }
        );
        assert_eq!(acceptor.accepted(Slot(1)).unwrap().ballot, ballot(3, 2));
        // A repeat needs no new record.
        assert_eq!(
            acceptor.on_accept(ballot(3, 2), Slot(1), Value::Noop),
            AcceptDecision::Accepted {
                records: Vec::new()
            }
        );
    }

    #[test]
    fn mutations_break_exactly_their_rule() {
        let ignores: BugSet = [bugs::ACCEPT_IGNORES_PROMISE].into_iter().collect();
        let mut p1 = Acceptor::new(ignores);
        p1.on_prepare(ballot(5, 1));
        assert!(accepted(&p1.on_accept(ballot(1, 0), Slot(1), Value::Noop)));
        assert_eq!(p1.promised(), ballot(5, 1), "P1 never lowers the promise");

        let no_raise: BugSet = [bugs::ACCEPT_DOES_NOT_RAISE_PROMISE].into_iter().collect();
        let mut p2 = Acceptor::new(no_raise);
        assert!(accepted(&p2.on_accept(ballot(2, 1), Slot(1), Value::Noop)));
        assert_eq!(p2.promised(), Ballot::ZERO);
        assert!(
            accepted(&p2.on_accept(ballot(1, 0), Slot(1), Value::Noop)),
            "P2 lets a lower ballot replace a higher one"
        );
        assert_eq!(p2.accepted(Slot(1)).unwrap().ballot, ballot(1, 0));
    }

    #[test]
    fn recovery_folds_the_records_in_order() {
        let mut acceptor = Acceptor::new(BugSet::NONE);
        let mut disk = Vec::new();
        if let PrepareDecision::Promised { record: Some(r) } = acceptor.on_prepare(ballot(1, 0)) {
            disk.push(r);
        }
        for slot in 1..=3 {
            if let AcceptDecision::Accepted { records } =
                acceptor.on_accept(ballot(2, 1), Slot(slot), Value::Noop)
            {
                disk.extend(records);
            }
        }
        let recovered = Acceptor::recover(BugSet::NONE, &disk);
        assert_eq!(recovered, acceptor);
        assert_eq!(recovered.accepted_from(Slot(2)).len(), 2);
        assert_eq!(recovered.accepted_in(Slot(1), Slot(3)).count(), 2);
        assert!(Acceptor::new(BugSet::NONE).is_blank() && !recovered.is_blank());
    }
}
