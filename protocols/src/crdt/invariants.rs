//! The CRDT counters' invariants, checked from the replicas' observations at every step and
//! once at the end (BUGS.md's `crdt-convergence`).
//!
//! The checker keeps, per replica `r`, the sums of the adds `r` made durable (`applied`: its
//! increments and its decrements) and `r`'s latest durable state. Then:
//!
//! - **crdt-monotonic**: a replica's state only grows in the semilattice order, across
//!   restarts too (the state is durable).
//! - **crdt-own-entry**: replica `r`'s own entries are exactly the sums of its applied adds:
//!   nothing it acknowledged is missing, nothing is counted twice.
//! - **crdt-entry-bounded**: no replica counts more of replica `r`'s adds than `r` applied. A
//!   merge that adds instead of taking the maximum (`gcounter-merge-sum`) breaks it at the
//!   first repeated gossip.
//! - **crdt-read-bounds**: a read answers at most the applied increments less the decrements
//!   every replica has, and at least the increments every replica has less the applied
//!   decrements: it never goes below what was applied everywhere before it, nor above what was
//!   ever applied.
//! - **crdt-convergence** (at the end, after the recovery phase healed everything and
//!   clients stopped): every replica holds the same state, and it is exactly the applied adds,
//!   so every replica reads their sum.
//!
//! Its figures are the staleness of the client history's reads (`history::measure`).

use super::node::Observation;
use super::state::{GCounter, PnCounter};
use sim_core::history::HistoryEvent;
use sim_core::id::NodeId;
use sim_core::node::{Invariants, Violation};
use sim_core::time::Instant;

/// The CRDT counters' invariant checker.
#[derive(Clone, Debug)]
pub struct CrdtInvariants {
    /// Per replica: the sum of its durable increments and decrements (as positive amounts).
    applied: PnCounter,
    /// Per replica: its latest durable state.
    states: Vec<PnCounter>,
}

fn violation(invariant: &str, message: String) -> Violation {
    Violation {
        invariant: invariant.to_string(),
        message,
    }
}

impl CrdtInvariants {
    /// A checker for `replica_count` replicas, all at 0.
    pub fn new(replica_count: usize) -> CrdtInvariants {
        CrdtInvariants {
            applied: PnCounter::new(replica_count),
            states: vec![PnCounter::new(replica_count); replica_count],
        }
    }

    /// The applied value: every durable add's delta, summed.
    fn applied_value(&self) -> i64 {
        self.applied.value_saturating()
    }

    fn on_state(&mut self, node: usize, state: &PnCounter) -> Result<(), Violation> {
        let previous = &self.states[node];
        if !previous.is_below(state) {
            return Err(violation(
                "crdt-monotonic",
                format!("replica {node}'s state went from {previous} to {state}"),
            ));
        }
        for (half, name, mine, applied) in [
            ("P", "increments", &state.p, &self.applied.p),
            ("N", "decrements", &state.n, &self.applied.n),
        ] {
            if mine.entry(node) != applied.entry(node) {
                return Err(violation(
                    "crdt-own-entry",
                    format!(
                        "replica {node}'s own entry {half}[{node}] is {}, but its durable {name} sum to {}",
                        mine.entry(node),
                        applied.entry(node)
                    ),
                ));
            }
            for (replica, (&counted, &made)) in
                mine.entries().iter().zip(applied.entries()).enumerate()
            {
                if counted > made {
                    return Err(violation(
                        "crdt-entry-bounded",
                        format!(
                            "replica {node} counts {counted} of replica {replica}'s {name} ({half}[{replica}]), but replica {replica} applied {made}: state {state}"
                        ),
                    ));
                }
            }
        }
        self.states[node] = state.clone();
        Ok(())
    }

    fn on_read(&self, node: usize, value: i64) -> Result<(), Violation> {
        let everywhere_p = GCounter::meet(self.states.iter().map(|s| &s.p)).expect("replicas");
        let everywhere_n = GCounter::meet(self.states.iter().map(|s| &s.n)).expect("replicas");
        let lower = everywhere_p.value() as i128 - self.applied.n.value() as i128;
        let upper = self.applied.p.value() as i128 - everywhere_n.value() as i128;
        let value_wide = i128::from(value);
        if value_wide < lower || value_wide > upper {
            return Err(violation(
                "crdt-read-bounds",
                format!(
                    "replica {node} read {value}, outside [{lower}, {upper}]: every replica has increments {:?} and decrements {:?}; the replicas applied increments {:?} and decrements {:?}",
                    everywhere_p.entries(),
                    everywhere_n.entries(),
                    self.applied.p.entries(),
                    self.applied.n.entries()
                ),
            ));
        }
        Ok(())
    }
}

impl Invariants<Observation> for CrdtInvariants {
    fn observe(
        &mut self,
        _time: Instant,
        node: NodeId,
        observation: &Observation,
    ) -> Result<(), Violation> {
        let node = node.0 as usize;
        assert!(node < self.states.len(), "replica {node} out of range");
        match observation {
            Observation::Added { delta } => {
                self.applied.add(node, *delta);
                Ok(())
            }
            Observation::Started {
                state,
                own_increments,
                own_decrements,
            } => {
                // The adds replayed from the disk: every one acknowledged before the crash
                // (durable before its answer), and perhaps adds that reached the disk
                // without being answered (a crash that kept unsynced writes).
                for (half, made, replayed) in [
                    ("increments", &mut self.applied.p, *own_increments),
                    ("decrements", &mut self.applied.n, *own_decrements),
                ] {
                    if replayed < made.entry(node) {
                        return Err(violation(
                            "crdt-own-entry",
                            format!(
                                "replica {node} restarted with {half} summing to {replayed}, below the {} it had made durable",
                                made.entry(node)
                            ),
                        ));
                    }
                    let extra = replayed - made.entry(node);
                    made.increment(node, extra);
                }
                self.on_state(node, state)
            }
            Observation::State { state } => self.on_state(node, state),
            Observation::Read { value } => self.on_read(node, *value),
        }
    }

    fn finish(&mut self, _time: Instant) -> Result<(), Violation> {
        let applied = self.applied_value();
        for (node, state) in self.states.iter().enumerate() {
            if state != &self.applied {
                let reads: Vec<String> = self
                    .states
                    .iter()
                    .enumerate()
                    .map(|(r, s)| format!("replica {r} reads {}", s.value_saturating()))
                    .collect();
                return Err(violation(
                    "crdt-convergence",
                    format!(
                        "after recovery replica {node} holds {state}, not the applied adds P{:?} N{:?} (sum {applied}): {} (a replica that diverged, or gossip that did not reach it in the quiet half of recovery: every peer is reached within (nodes - 1) / gossip_fanout rounds)",
                        self.applied.p.entries(),
                        self.applied.n.entries(),
                        reads.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// How stale the reads of the client history were (`history::measure`): reads are not
    /// linearizable, and their staleness is measured, never failed.
    fn figures(&self, history: &[HistoryEvent]) -> Vec<(&'static str, u64)> {
        super::history::measure(history).named()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(p: &[u64], n: &[u64]) -> PnCounter {
        PnCounter {
            p: GCounter::from_entries(p.to_vec()),
            n: GCounter::from_entries(n.to_vec()),
        }
    }

    fn observe(
        checker: &mut CrdtInvariants,
        node: u32,
        observation: Observation,
    ) -> Result<(), Violation> {
        checker.observe(Instant::ZERO, NodeId(node), &observation)
    }

    fn added(checker: &mut CrdtInvariants, node: u32, delta: i64, after: PnCounter) {
        observe(checker, node, Observation::Added { delta }).unwrap();
        observe(checker, node, Observation::State { state: after }).unwrap();
    }

    #[test]
    fn a_correct_exchange_passes_and_converges() {
        let mut checker = CrdtInvariants::new(2);
        added(&mut checker, 0, 3, state(&[3, 0], &[0, 0]));
        added(&mut checker, 1, -1, state(&[0, 0], &[0, 1]));
        observe(&mut checker, 1, Observation::Read { value: -1 }).unwrap();
        assert!(checker.finish(Instant::ZERO).is_err(), "not yet converged");
        let both = state(&[3, 0], &[0, 1]);
        for node in 0..2 {
            observe(
                &mut checker,
                node,
                Observation::State {
                    state: both.clone(),
                },
            )
            .unwrap();
        }
        observe(&mut checker, 0, Observation::Read { value: 2 }).unwrap();
        checker.finish(Instant::ZERO).unwrap();
    }

    #[test]
    fn a_doubled_entry_is_caught_where_it_appears() {
        let mut checker = CrdtInvariants::new(2);
        added(&mut checker, 0, 1, state(&[1, 0], &[0, 0]));
        let error = observe(
            &mut checker,
            1,
            Observation::State {
                state: state(&[2, 0], &[0, 0]),
            },
        )
        .unwrap_err();
        assert_eq!(error.invariant, "crdt-entry-bounded");
        assert!(
            error.message.contains("counts 2 of replica 0's increments"),
            "{error}"
        );
        let error = observe(
            &mut checker,
            0,
            Observation::State {
                state: state(&[2, 0], &[0, 0]),
            },
        )
        .unwrap_err();
        assert_eq!(error.invariant, "crdt-own-entry");
    }

    #[test]
    fn a_state_that_shrinks_or_a_read_out_of_bounds_is_caught() {
        let mut checker = CrdtInvariants::new(2);
        added(&mut checker, 0, 4, state(&[4, 0], &[0, 0]));
        observe(
            &mut checker,
            1,
            Observation::State {
                state: state(&[4, 0], &[0, 0]),
            },
        )
        .unwrap();
        // Both replicas have the 4: a read of 3 anywhere is below what is everywhere.
        let error = observe(&mut checker, 1, Observation::Read { value: 3 }).unwrap_err();
        assert_eq!(error.invariant, "crdt-read-bounds");
        let error = observe(&mut checker, 0, Observation::Read { value: 5 }).unwrap_err();
        assert!(error.message.contains("outside [4, 4]"), "{error}");
        let error = observe(
            &mut checker,
            1,
            Observation::State {
                state: state(&[3, 0], &[0, 0]),
            },
        )
        .unwrap_err();
        assert_eq!(error.invariant, "crdt-monotonic");
    }

    #[test]
    fn a_restart_may_replay_unanswered_adds_but_never_lose_durable_ones() {
        let mut checker = CrdtInvariants::new(2);
        added(&mut checker, 0, 2, state(&[2, 0], &[0, 0]));
        // A crash that kept an unsynced add of 5: it comes back on replay.
        let restarted = Observation::Started {
            state: state(&[7, 0], &[0, 0]),
            own_increments: 7,
            own_decrements: 0,
        };
        observe(&mut checker, 0, restarted).unwrap();
        let lost = Observation::Started {
            state: state(&[1, 0], &[0, 0]),
            own_increments: 1,
            own_decrements: 0,
        };
        let error = observe(&mut checker, 0, lost).unwrap_err();
        assert_eq!(error.invariant, "crdt-own-entry");
    }

    #[test]
    fn divergence_at_the_end_names_every_replicas_value() {
        let mut checker = CrdtInvariants::new(3);
        added(&mut checker, 2, 5, state(&[0, 0, 5], &[0, 0, 0]));
        let error = checker.finish(Instant::ZERO).unwrap_err();
        assert_eq!(error.invariant, "crdt-convergence");
        assert!(
            error
                .message
                .contains("replica 0 reads 0, replica 1 reads 0, replica 2 reads 5"),
            "{error}"
        );
    }
}
