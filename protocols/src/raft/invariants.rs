//! Raft's safety properties (Figure 3) checked incrementally from observations.
//!
//! - **election-safety**: at most one leader per term.
//! - **log-matching**: an (index, term) pair identifies the entry and its whole prefix. Checked
//!   by induction: every (index, term) ever appended must always come with the same payload and
//!   the same term at `index - 1`; if that holds for every pair, logs that share a pair share the
//!   prefix.
//! - **leader-completeness**: an entry committed in term t is in the log of every leader of a
//!   term after t. Each new leader reports its log's terms; we compare them against the entries
//!   known committed, each stamped with the smallest term in which any node saw it committed
//!   (an upper bound on the term it was committed in, so the check never raises a false alarm).
//!   A truncation is checked too, as it happens: the leader whose entry replaces a
//!   committed one must not be of a term at or after one in which the entry was known
//!   committed. (A follower may legitimately drop a committed entry for a *stale* leader's:
//!   an entry committed in term 11 is absent from term 10's leader, whose delayed
//!   AppendEntries can still reach a follower that has not heard of term 11.)
//! - **state-machine-safety**: no two nodes commit or apply different entries at one index.
//!
//! Each observation costs O(log n), except a new leader's report, which costs O(committed
//! entries): elections are rare.

use super::message::{At, LogIndex, Term};
use sim_core::id::NodeId;
use sim_core::node::{Invariants, Violation};
use sim_core::time::Instant;
use std::collections::BTreeMap;
use std::fmt;

/// A protocol-meaningful moment reported by a Raft node.
// `Debug` stays derived: run reports read a node's role and term from its variant and fields
// (sim-core/src/observed.rs); `Display` (message.rs) is the trace's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RaftObservation {
    /// The node won the election of `term`; `log` is the term of each of its entries, index 1
    /// first, before it appends its no-op.
    BecameLeader {
        /// The term it leads.
        term: Term,
        /// Its log's terms.
        log: Vec<Term>,
    },
    /// The node granted its vote in `term` (to itself, when it starts an election).
    Voted {
        /// The term.
        term: Term,
        /// Who got the vote.
        candidate: NodeId,
    },
    /// The node stored an entry at `index`.
    Appended {
        /// Where.
        index: LogIndex,
        /// The entry's term.
        term: Term,
        /// The term of the entry before it (0 at index 1).
        prev_term: Term,
        /// The payload digest.
        digest: u64,
    },
    /// The node removed its entries after `last_kept`, to store a conflicting entry of the
    /// leader of `leader_term`; the first removed entry had `first_removed_term`.
    Truncated {
        /// The last index kept.
        last_kept: LogIndex,
        /// The term of the entry at `last_kept + 1` before removal.
        first_removed_term: Term,
        /// The term of the leader whose entry replaces it (the node's current term).
        leader_term: Term,
    },
    /// The node learned that `index` is committed, while in `observer_term`.
    Committed {
        /// The committed index.
        index: LogIndex,
        /// The entry's term.
        term: Term,
        /// The payload digest.
        digest: u64,
        /// The node's current term when it learned it.
        observer_term: Term,
    },
    /// The node applied the entry at `index` to its state machine.
    Applied {
        /// The applied index.
        index: LogIndex,
        /// The payload digest.
        digest: u64,
    },
}

#[derive(Clone, Copy, Debug)]
struct CommittedEntry {
    term: Term,
    digest: u64,
    /// The smallest term in which some node knew it committed.
    commit_term: Term,
}

/// The checker for [`RaftObservation`]s.
#[derive(Clone, Debug, Default)]
pub struct RaftInvariants {
    leaders: BTreeMap<Term, NodeId>,
    /// By log index (dense from 1; slot 0 unused): the entries stored there, each as
    /// (term, term at index - 1, payload digest). Vectors, not maps: every node reports every
    /// entry it stores, commits and applies, and map lookups were a tenth of a Raft run.
    entries: Vec<EntriesAt>,
    /// Its last slot is always filled: a slot is added only to be filled.
    committed: Vec<Option<CommittedEntry>>,
    applied: Vec<Option<(NodeId, u64)>>,
}

/// The distinct entries seen at one index: almost always one, so the first is stored inline.
#[derive(Clone, Debug, Default)]
struct EntriesAt {
    first: Option<(Term, Term, u64)>,
    others: Vec<(Term, Term, u64)>,
}

impl EntriesAt {
    /// (prev_term, digest) of the entry of `term`, if seen.
    fn get(&self, term: Term) -> Option<(Term, u64)> {
        self.first
            .iter()
            .chain(self.others.iter())
            .find(|(known, _, _)| *known == term)
            .map(|&(_, prev, digest)| (prev, digest))
    }

    fn insert(&mut self, term: Term, prev_term: Term, digest: u64) {
        if self.first.is_none() {
            self.first = Some((term, prev_term, digest));
        } else {
            self.others.push((term, prev_term, digest));
        }
    }
}

/// The slot for `index` in a by-index vector, grown on demand.
fn slot<T: Default>(by_index: &mut Vec<T>, index: LogIndex) -> &mut T {
    let at = usize::try_from(index.0).expect("log index fits in memory");
    if by_index.len() <= at {
        by_index.resize_with(at + 1, T::default);
    }
    &mut by_index[at]
}

/// The value at `index` of a by-index vector of options.
fn at<T: Copy>(by_index: &[Option<T>], index: LogIndex) -> Option<T> {
    usize::try_from(index.0)
        .ok()
        .and_then(|i| by_index.get(i))
        .copied()
        .flatten()
}

fn violation(invariant: &str, message: String) -> Result<(), Violation> {
    Err(Violation {
        invariant: invariant.to_string(),
        message,
    })
}

impl RaftInvariants {
    /// A checker that has seen nothing.
    pub fn new() -> RaftInvariants {
        RaftInvariants::default()
    }

    /// The leader elected in `term`, if one was observed.
    pub fn leader_of(&self, term: Term) -> Option<NodeId> {
        self.leaders.get(&term).copied()
    }

    /// The highest index observed committed.
    pub fn commit_index(&self) -> LogIndex {
        LogIndex(self.committed.len().saturating_sub(1) as u64)
    }

    fn check_leader(&mut self, node: NodeId, term: Term, log: &[Term]) -> Result<(), Violation> {
        if let Some(&other) = self.leaders.get(&term) {
            if other != node {
                return violation(
                    "election-safety",
                    format!("{node} and {other} both became leader in {term}"),
                );
            }
        }
        self.leaders.insert(term, node);
        for (index, committed) in self.committed.iter().enumerate() {
            let Some(committed) = committed else { continue };
            if committed.commit_term >= term {
                continue;
            }
            let index = LogIndex(index as u64);
            let held = log.get((index.0 - 1) as usize).copied();
            if held != Some(committed.term) {
                return violation(
                    "leader-completeness",
                    format!(
                        "{node} became leader in {term} without entry {index}@{} committed by {}; its log has {}",
                        committed.term,
                        committed.commit_term,
                        held.map_or("nothing".to_string(), |t| t.to_string())
                    ),
                );
            }
        }
        Ok(())
    }
}

impl Invariants<RaftObservation> for RaftInvariants {
    fn observe(
        &mut self,
        _time: Instant,
        node: NodeId,
        observation: &RaftObservation,
    ) -> Result<(), Violation> {
        match *observation {
            RaftObservation::BecameLeader { term, ref log } => self.check_leader(node, term, log),
            RaftObservation::Voted { .. } => Ok(()),
            RaftObservation::Appended {
                index,
                term,
                prev_term,
                digest,
            } => {
                assert!(index > LogIndex::ZERO, "{node} appended at index 0");
                let known_at = slot(&mut self.entries, index);
                match known_at.get(term) {
                    Some((known_prev, known_digest)) => {
                        if known_prev != prev_term || known_digest != digest {
                            return violation(
                                "log-matching",
                                format!(
                                    "{node} stored {index}@{term} after {prev_term} with digest {digest:016x}; \
                                     another log has it after {known_prev} with digest {known_digest:016x}"
                                ),
                            );
                        }
                        Ok(())
                    }
                    None => {
                        known_at.insert(term, prev_term, digest);
                        Ok(())
                    }
                }
            }
            RaftObservation::Truncated {
                last_kept,
                first_removed_term,
                leader_term,
            } => {
                let removed = last_kept.next();
                match at(&self.committed, removed) {
                    // Committed by `commit_term` at the latest, so every leader from that term
                    // on holds it and cannot send a conflicting entry.
                    Some(committed)
                        if committed.term == first_removed_term
                            && committed.commit_term <= leader_term =>
                    {
                        violation(
                            "leader-completeness",
                            format!(
                                "{node} removed entry {removed}@{first_removed_term}, committed by {}, \
                                 for the leader of {leader_term} (truncated after {last_kept})",
                                committed.commit_term
                            ),
                        )
                    }
                    _ => Ok(()),
                }
            }
            RaftObservation::Committed {
                index,
                term,
                digest,
                observer_term,
            } => {
                let entry = slot(&mut self.committed, index);
                match entry {
                    Some(known) => {
                        if known.term != term || known.digest != digest {
                            return violation(
                                "state-machine-safety",
                                format!(
                                    "{node} committed {index}@{term} ({digest:016x}); {index}@{} ({:016x}) was committed before",
                                    known.term, known.digest
                                ),
                            );
                        }
                        known.commit_term = known.commit_term.min(observer_term);
                        Ok(())
                    }
                    None => {
                        // Leaders already elected are not re-checked against this entry:
                        // their logs were reported when they were elected, and a leader that
                        // lacks it shows up either when it truncates the entry away somewhere
                        // or when it commits a different entry at this index.
                        *entry = Some(CommittedEntry {
                            term,
                            digest,
                            commit_term: observer_term,
                        });
                        Ok(())
                    }
                }
            }
            RaftObservation::Applied { index, digest } => {
                let entry = slot(&mut self.applied, index);
                match *entry {
                Some((other, known)) if known != digest => violation(
                    "state-machine-safety",
                    format!("{node} applied {digest:016x} at {index}; {other} applied {known:016x} there"),
                ),
                Some(_) => Ok(()),
                None => {
                    *entry = Some((node, digest));
                    Ok(())
                }
                }
            }
        }
    }
}

impl fmt::Display for RaftObservation {
    /// What the node says happened, for the trace: `leader of term 3 (log 1@1 2@2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RaftObservation as O;
        match self {
            O::BecameLeader { term, log } => {
                write!(f, "leader of term {} (log", term.0)?;
                if log.is_empty() {
                    write!(f, " empty")?;
                }
                for (offset, entry_term) in log.iter().enumerate() {
                    write!(f, " {}", At(LogIndex(offset as u64 + 1), *entry_term))?;
                }
                write!(f, ")")
            }
            O::Voted { term, candidate } => write!(f, "votes for {candidate} in term {}", term.0),
            O::Appended { index, term, .. } => write!(f, "stores {}", At(*index, *term)),
            O::Truncated {
                last_kept,
                first_removed_term,
                leader_term,
            } => write!(
                f,
                "truncates after {} (removes term {} for the leader of term {})",
                last_kept.0, first_removed_term.0, leader_term.0
            ),
            O::Committed {
                index,
                term,
                observer_term,
                ..
            } => write!(
                f,
                "commits {} (in term {})",
                At(*index, *term),
                observer_term.0
            ),
            O::Applied { index, .. } => write!(f, "applies {}", index.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        invariants: &mut RaftInvariants,
        node: u32,
        observation: RaftObservation,
    ) -> Result<(), Violation> {
        invariants.observe(Instant::ZERO, NodeId(node), &observation)
    }

    #[test]
    fn two_leaders_in_one_term_violate_election_safety() {
        let mut invariants = RaftInvariants::new();
        check(
            &mut invariants,
            0,
            RaftObservation::BecameLeader {
                term: Term(1),
                log: vec![],
            },
        )
        .unwrap();
        check(
            &mut invariants,
            1,
            RaftObservation::BecameLeader {
                term: Term(2),
                log: vec![],
            },
        )
        .unwrap();
        let error = check(
            &mut invariants,
            2,
            RaftObservation::BecameLeader {
                term: Term(2),
                log: vec![],
            },
        )
        .unwrap_err();
        assert_eq!(error.invariant, "election-safety");
    }

    #[test]
    fn a_leader_missing_a_committed_entry_violates_leader_completeness() {
        let mut invariants = RaftInvariants::new();
        let committed = RaftObservation::Committed {
            index: LogIndex(1),
            term: Term(1),
            digest: 7,
            observer_term: Term(1),
        };
        check(&mut invariants, 0, committed).unwrap();
        // A leader of the same term need not be re-checked; one of a later term must hold it.
        check(
            &mut invariants,
            1,
            RaftObservation::BecameLeader {
                term: Term(2),
                log: vec![Term(1)],
            },
        )
        .unwrap();
        let error = check(
            &mut invariants,
            2,
            RaftObservation::BecameLeader {
                term: Term(3),
                log: vec![Term(2)],
            },
        )
        .unwrap_err();
        assert_eq!(error.invariant, "leader-completeness");
        let truncation = |leader_term| RaftObservation::Truncated {
            last_kept: LogIndex(0),
            first_removed_term: Term(1),
            leader_term,
        };
        assert_eq!(
            check(&mut invariants, 1, truncation(Term(1)))
                .unwrap_err()
                .invariant,
            "leader-completeness"
        );
    }

    /// A stale leader's delayed AppendEntries may replace, on a follower that has not heard of
    /// the later term, an entry committed only in that later term: allowed.
    #[test]
    fn a_stale_leader_may_replace_an_entry_committed_in_a_later_term() {
        let mut invariants = RaftInvariants::new();
        let committed = RaftObservation::Committed {
            index: LogIndex(59),
            term: Term(9),
            digest: 7,
            observer_term: Term(11),
        };
        check(&mut invariants, 3, committed).unwrap();
        let truncation = |leader_term| RaftObservation::Truncated {
            last_kept: LogIndex(58),
            first_removed_term: Term(9),
            leader_term,
        };
        check(&mut invariants, 1, truncation(Term(10))).unwrap();
        assert_eq!(
            check(&mut invariants, 1, truncation(Term(11)))
                .unwrap_err()
                .invariant,
            "leader-completeness"
        );
    }

    #[test]
    fn divergent_entries_violate_log_matching_and_state_machine_safety() {
        let mut invariants = RaftInvariants::new();
        let appended = |prev, digest| RaftObservation::Appended {
            index: LogIndex(2),
            term: Term(2),
            prev_term: prev,
            digest,
        };
        check(&mut invariants, 0, appended(Term(1), 5)).unwrap();
        check(&mut invariants, 1, appended(Term(1), 5)).unwrap();
        assert_eq!(
            check(&mut invariants, 2, appended(Term(1), 6))
                .unwrap_err()
                .invariant,
            "log-matching"
        );
        assert_eq!(
            check(&mut invariants, 2, appended(Term(2), 5))
                .unwrap_err()
                .invariant,
            "log-matching"
        );
        check(
            &mut invariants,
            0,
            RaftObservation::Applied {
                index: LogIndex(1),
                digest: 1,
            },
        )
        .unwrap();
        check(
            &mut invariants,
            1,
            RaftObservation::Applied {
                index: LogIndex(1),
                digest: 1,
            },
        )
        .unwrap();
        let error = check(
            &mut invariants,
            2,
            RaftObservation::Applied {
                index: LogIndex(1),
                digest: 2,
            },
        )
        .unwrap_err();
        assert_eq!(error.invariant, "state-machine-safety");
    }
}
