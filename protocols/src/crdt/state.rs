//! The replicated states of the two counters (Shapiro, Preguiça, Baquero, Zawirski,
//! "Conflict-free replicated data types", SSS 2011 / INRIA RR-7687, §3.1.1 and §3.1.2 of
//! RR-7506 "A comprehensive study of CRDTs").
//!
//! - A **G-Counter** is a vector of non-negative integers, one entry per replica. Replica `i`
//!   increments only its own entry `P[i]`; the value is the sum of the entries; **merge** takes
//!   the pointwise maximum. The states form a join semilattice under the pointwise order and
//!   merge is its least upper bound, so merge is commutative, associative and idempotent: a
//!   state received twice, out of order or through a third replica changes nothing more than
//!   receiving it once. That is what lets anti-entropy run over a lossy, duplicating network.
//! - A **PN-Counter** is two G-Counters: `P` counts increments and `N` decrements; the value is
//!   `sum(P) - sum(N)` and merge merges both halves. The value can go down, but each half only
//!   grows, so the state is still a join semilattice.
//!
//! The G-Counter is the PN-Counter with an `N` that stays zero: one type serves both, and the
//! replica refuses decrements when it runs as a G-Counter.
//!
//! Mutation `gcounter-merge-sum` (BUGS.md C3): [`merge`] adds the entries instead of taking
//! their maximum. Merging a state with itself then doubles it, so the first repeated
//! anti-entropy round (or a duplicated gossip message) counts increments twice.

use crate::mutation::BugSet;
use std::fmt;

/// One G-Counter: an entry per replica, each the sum of that replica's own increments.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GCounter {
    entries: Vec<u64>,
}

impl GCounter {
    /// A G-Counter at 0 over `replica_count` replicas.
    pub fn new(replica_count: usize) -> GCounter {
        GCounter {
            entries: vec![0; replica_count],
        }
    }

    /// A G-Counter with these entries (tests, and records read back from the disk).
    pub fn from_entries(entries: Vec<u64>) -> GCounter {
        GCounter { entries }
    }

    /// Replica `replica`'s entry.
    ///
    /// # Panics
    /// If the replica is not one of the counter's.
    pub fn entry(&self, replica: usize) -> u64 {
        self.entries[replica]
    }

    /// Every entry, replica 0 first.
    pub fn entries(&self) -> &[u64] {
        &self.entries
    }

    /// The value: the sum of the entries.
    pub fn value(&self) -> u128 {
        self.entries.iter().map(|&e| u128::from(e)).sum()
    }

    /// Replica `replica` counts `amount` more (only a replica's own entry is ever incremented).
    ///
    /// # Panics
    /// On overflow of the entry (2^64 increments: a harness bug).
    pub fn increment(&mut self, replica: usize, amount: u64) {
        let entry = &mut self.entries[replica];
        *entry = entry.checked_add(amount).unwrap_or_else(|| {
            panic!("G-Counter entry {replica} overflows adding {amount} to {entry}")
        });
    }

    /// Is every entry at most the other's (the semilattice order)?
    pub fn is_below(&self, other: &GCounter) -> bool {
        assert_eq!(self.entries.len(), other.entries.len(), "replica counts");
        self.entries.iter().zip(&other.entries).all(|(a, b)| a <= b)
    }

    /// The pointwise minimum: what every one of `counters` has counted.
    pub fn meet<'a>(mut counters: impl Iterator<Item = &'a GCounter>) -> Option<GCounter> {
        let mut meet = counters.next()?.clone();
        for counter in counters {
            for (low, &entry) in meet.entries.iter_mut().zip(&counter.entries) {
                *low = (*low).min(entry);
            }
        }
        Some(meet)
    }
}

/// Merges `other` into `into`: the pointwise maximum, or the sum under `gcounter-merge-sum`.
///
/// # Panics
/// If the counters have different replica counts (states of different clusters).
pub fn merge(into: &mut GCounter, other: &GCounter, bugs: BugSet) {
    assert_eq!(
        into.entries.len(),
        other.entries.len(),
        "merging G-Counters of different replica counts"
    );
    let sum = bugs.contains(crate::apps::counter::bugs::GCOUNTER_MERGE_SUM);
    for (mine, &theirs) in into.entries.iter_mut().zip(&other.entries) {
        *mine = if sum {
            // C3: a merge that adds. Saturating, so that the doubling it causes reaches the
            // invariant checker as a wrong count rather than as an overflow panic.
            mine.saturating_add(theirs)
        } else {
            (*mine).max(theirs)
        };
    }
}

/// A PN-Counter: increments in `p`, decrements in `n`. A G-Counter is one whose `n` stays 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PnCounter {
    /// Increments, one entry per replica.
    pub p: GCounter,
    /// Decrements (as positive amounts), one entry per replica.
    pub n: GCounter,
}

impl PnCounter {
    /// A counter at 0 over `replica_count` replicas.
    pub fn new(replica_count: usize) -> PnCounter {
        PnCounter {
            p: GCounter::new(replica_count),
            n: GCounter::new(replica_count),
        }
    }

    /// The value, `sum(p) - sum(n)`.
    ///
    /// # Panics
    /// If it does not fit in an `i64` (only a merge-sum run gets there, and its invariant
    /// stops the run first).
    pub fn value(&self) -> i64 {
        let value = self.p.value() as i128 - self.n.value() as i128;
        i64::try_from(value).unwrap_or_else(|_| panic!("counter value {value} overflows i64"))
    }

    /// The value, saturated into an `i64` (for reports about states that may be broken).
    pub fn value_saturating(&self) -> i64 {
        let value = self.p.value() as i128 - self.n.value() as i128;
        value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Replica `replica` adds `delta`: to its `p` entry when positive, its `n` entry when
    /// negative.
    pub fn add(&mut self, replica: usize, delta: i64) {
        if delta >= 0 {
            self.p.increment(replica, delta.unsigned_abs());
        } else {
            self.n.increment(replica, delta.unsigned_abs());
        }
    }

    /// Merges both halves of `other` into this one.
    pub fn merge(&mut self, other: &PnCounter, bugs: BugSet) {
        merge(&mut self.p, &other.p, bugs);
        merge(&mut self.n, &other.n, bugs);
    }

    /// Is each half at most the other's (the semilattice order)?
    pub fn is_below(&self, other: &PnCounter) -> bool {
        self.p.is_below(&other.p) && self.n.is_below(&other.n)
    }

    /// How many replicas it spans.
    pub fn replica_count(&self) -> usize {
        self.p.entries.len()
    }
}

impl fmt::Display for PnCounter {
    /// `P[3,0,2] N[0,1,0] = 4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "P{:?} N{:?} = {}",
            self.p.entries,
            self.n.entries,
            self.value_saturating()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::counter::bugs::GCOUNTER_MERGE_SUM;

    fn g(entries: &[u64]) -> GCounter {
        GCounter::from_entries(entries.to_vec())
    }

    fn merged(a: &GCounter, b: &GCounter, bugs: BugSet) -> GCounter {
        let mut into = a.clone();
        merge(&mut into, b, bugs);
        into
    }

    /// Every G-Counter of 3 replicas with entries in 0..3: 27 states, enough to try every law
    /// on every triple (19,683 triples).
    fn all_states() -> Vec<GCounter> {
        let mut states = Vec::new();
        for a in 0..3 {
            for b in 0..3 {
                for c in 0..3 {
                    states.push(g(&[a, b, c]));
                }
            }
        }
        states
    }

    #[test]
    fn merge_is_commutative_associative_and_idempotent() {
        let states = all_states();
        let none = BugSet::NONE;
        for a in &states {
            assert_eq!(&merged(a, a, none), a, "idempotent: {a:?}");
            for b in &states {
                let ab = merged(a, b, none);
                assert_eq!(ab, merged(b, a, none), "commutative: {a:?} {b:?}");
                assert!(a.is_below(&ab) && b.is_below(&ab), "an upper bound");
                for c in &states {
                    assert_eq!(
                        merged(&ab, c, none),
                        merged(a, &merged(b, c, none), none),
                        "associative: {a:?} {b:?} {c:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn merge_is_the_least_upper_bound() {
        let states = all_states();
        for a in &states {
            for b in &states {
                let join = merged(a, b, BugSet::NONE);
                for upper in &states {
                    if a.is_below(upper) && b.is_below(upper) {
                        assert!(join.is_below(upper), "{a:?} ∨ {b:?} = {join:?} ≤ {upper:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn merge_sum_breaks_idempotence_and_counts_a_repeated_gossip_twice() {
        let sum: BugSet = [GCOUNTER_MERGE_SUM].into_iter().collect();
        let a = g(&[1, 0, 0]);
        assert_eq!(
            merged(&a, &a, sum),
            g(&[2, 0, 0]),
            "merging with itself doubles"
        );
        // Commutative and associative still: the mutant breaks only idempotence, which is the
        // law that makes duplicated and repeated anti-entropy rounds harmless.
        let (b, c) = (g(&[0, 2, 1]), g(&[1, 1, 0]));
        assert_eq!(merged(&a, &b, sum), merged(&b, &a, sum));
        assert_eq!(
            merged(&merged(&a, &b, sum), &c, sum),
            merged(&a, &merged(&b, &c, sum), sum)
        );
        // BUGS.md's minimal schedule: replica 0 increments once and gossips to replica 1
        // twice; replica 1 then counts 2.
        let mut replica_1 = g(&[0, 0, 0]);
        merge(&mut replica_1, &a, sum);
        merge(&mut replica_1, &a, sum);
        assert_eq!(replica_1.value(), 2);
        let mut correct = g(&[0, 0, 0]);
        merge(&mut correct, &a, BugSet::NONE);
        merge(&mut correct, &a, BugSet::NONE);
        assert_eq!(correct.value(), 1);
    }

    #[test]
    fn pn_counter_merges_both_halves_and_its_value_can_go_down() {
        let mut a = PnCounter::new(2);
        a.add(0, 5);
        a.add(0, -2);
        let mut b = PnCounter::new(2);
        b.add(1, -4);
        assert_eq!(a.value(), 3);
        assert_eq!(b.value(), -4);
        let mut ab = a.clone();
        ab.merge(&b, BugSet::NONE);
        let mut ba = b.clone();
        ba.merge(&a, BugSet::NONE);
        assert_eq!(ab, ba);
        assert_eq!(ab.value(), -1);
        let again = ab.clone();
        ab.merge(&again, BugSet::NONE);
        assert_eq!(ab, again, "idempotent");
        assert!(a.is_below(&ab) && b.is_below(&ab));
        assert!(!ab.is_below(&a));
        assert_eq!(ab.to_string(), "P[5, 0] N[2, 4] = -1");
    }

    #[test]
    fn meet_is_what_every_replica_counted() {
        let states = [g(&[3, 1, 0]), g(&[2, 4, 0]), g(&[5, 1, 1])];
        assert_eq!(GCounter::meet(states.iter()), Some(g(&[2, 1, 0])));
        assert_eq!(GCounter::meet(std::iter::empty()), None);
    }
}
