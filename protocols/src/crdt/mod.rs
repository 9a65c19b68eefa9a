//! **CRDT counters**: state-based G-Counter and PN-Counter replicas with periodic anti-entropy
//! (Shapiro, Preguiça, Baquero, Zawirski, "Conflict-free replicated data types", SSS 2011;
//! the counters are §3.1.1–3.1.2 of INRIA RR-7506, "A comprehensive study of Convergent and
//! Commutative Replicated Data Types", 2011).
//!
//! ## The algorithm
//!
//! Every node is a replica of one counter ([`state::PnCounter`]: a vector `P` of increments
//! and a vector `N` of decrements, one entry per replica; a G-Counter keeps `N` at 0).
//!
//! 1. **Add at any replica.** Replica `i` adds a positive delta to `P[i]` and the size of a
//!    negative one to `N[i]` (a G-Counter refuses decrements with `fail`). The add is appended
//!    to the disk and synced, and joins the state and is acknowledged only once durable, so a
//!    replica never sends or loses an entry it acknowledged (a replica that forgot its own
//!    increments would re-issue their entry values, and merging by maximum would then swallow
//!    the new ones).
//! 2. **Read at any replica**, answered at once from its durable state: `sum(P) - sum(N)`.
//! 3. **Anti-entropy.** Every `gossip_interval` (local clock) a replica sends its durable state
//!    to the next `gossip_fanout` peers of a rotation that starts at a random peer, so every
//!    peer hears from it within `(n - 1) / gossip_fanout` rounds. The receiver merges it into its newest state
//!    (pointwise maximum of both vectors), appends the merged state and syncs; the merge joins
//!    the state when durable. A state with nothing new is ignored (merge is idempotent).
//! 4. **Restart.** The state is rebuilt from the disk: adds replayed into the own entries,
//!    merged states replacing the replayed state.
//!
//! Merge is the least upper bound of a join semilattice, so it is commutative, associative and
//! idempotent: loss only delays convergence (the next round resends everything), duplication
//! and reordering change nothing, and after the network heals every replica reaches the same
//! state, the sum of every applied add, within about `(n - 1) / gossip_fanout` rounds (each
//! replica's rotation reaches every peer) plus a round per lost message. Convergence is
//! checked at the end of the run, so the quiet half of the recovery phase (no new operations)
//! must be longer than that. Reads are **not linearizable**: a read misses adds that
//! reached other replicas but not yet its own.
//!
//! ## Client requests
//!
//! Replicas share no session table. A duplicated delivery of an add at the same replica is
//! recognised (the last add per client is remembered, durably) and answered again. A *retry*
//! (the client's next attempt after a timeout, sent to another replica) may duplicate an add
//! the first replica applied, so it is answered `unknown` rather than applied: the client
//! records the add as indeterminate.
//!
//! ## What is checked
//!
//! - the replicas' invariants at every step and convergence at the end ([`CrdtInvariants`]:
//!   `crdt-monotonic`, `crdt-own-entry`, `crdt-entry-bounded`, `crdt-read-bounds`,
//!   `crdt-convergence`);
//! - the client history against the range its invoked adds allow (`crdt-invoked-range`,
//!   [`history::audit`]), instead of linearizability;
//! - staleness, measured and reported, never failed ([`history::measure`]).
//!
//! ## Mutation
//!
//! `gcounter-merge-sum` (BUGS.md C3, declared with the counter's bugs): merge adds entries
//! instead of taking their maximum, so a repeated or duplicated gossip counts increments
//! again ([`state::merge`]).
//!
//! ## Deliberate simplifications
//!
//! - One counter per cluster (the counter application's single object); keys are ignored.
//! - Full-state gossip, no delta-state optimisation; the disk log grows without compaction.
//! - The replica count is the scenario's node count, fixed for the run (no membership).

/// Every mark this protocol's nodes may emit, so that a sweep can say which rare paths its
/// seeds never reached. A test keeps it equal to the marks in the source.
pub const MARKS: &[&str] = &[
    "crdt.buggify_gossip_repeated",
    "crdt.buggify_gossip_skipped",
    "crdt.decrement_refused",
    "crdt.duplicate_add",
    "crdt.recovered_from_disk",
    "crdt.retry_refused",
    "crdt.stale_add",
];

/// Every crash point a replica passes (`ctx.crash_point`); a test keeps it equal to the calls.
pub const CRASH_POINTS: &[&str] = &[
    "crdt.after_add_acknowledged",
    "crdt.after_gossip",
    "crdt.recovering",
];

mod descriptor;
pub mod history;
mod invariants;
mod node;
pub mod state;

pub use descriptor::{CrdtProtocol, CRDT};
pub use invariants::CrdtInvariants;
pub use node::{CrdtReplica, Message, Observation, Record, Timer};

use crate::mutation::BugSet;
use sim_core::time::Duration;

/// Which counter the replicas hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterKind {
    /// Grow-only: decrements are refused.
    G,
    /// Increments and decrements.
    Pn,
}

/// Configuration of the replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// G- or PN-Counter.
    pub kind: CounterKind,
    /// How many replicas (the scenario's nodes).
    pub replica_count: u32,
    /// Time between a replica's anti-entropy rounds, on its local clock.
    pub gossip_interval: Duration,
    /// Peers a replica sends its state to per round.
    pub gossip_fanout: u32,
    /// Switched-on mutations (only `gcounter-merge-sum` changes anything).
    pub bugs: BugSet,
    /// BUGGIFY: now and then a gossip round skipped or a gossip sent twice.
    pub buggify: bool,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn marks_are_the_marks_the_replica_emits() {
        let source = include_str!("node.rs");
        let mut emitted = BTreeSet::new();
        let mut rest = source;
        while let Some(start) = rest.find("\"crdt.") {
            let after = &rest[start + 1..];
            let end = after.find('"').expect("a terminated literal");
            emitted.insert(&after[..end]);
            rest = &after[end + 1..];
        }
        for point in super::CRASH_POINTS {
            assert!(emitted.remove(point), "crash point {point} is never passed");
        }
        let declared: BTreeSet<&str> = super::MARKS.iter().copied().collect();
        assert_eq!(declared.len(), super::MARKS.len(), "a mark is listed twice");
        assert_eq!(declared, emitted);
    }
}
