//! ZAB's safety properties (Junqueira, Reed, Serafini, DSN 2011, §III), checked at every
//! observation by a global oracle that sees every server.
//!
//! - **one-leader-per-epoch**: at most one server establishes itself leader of an epoch.
//! - **agreement**: no two servers deliver (or a leader proposes) different transactions
//!   under one zxid.
//! - **total-order**: every server delivers a prefix of one global sequence: if some server
//!   delivers z before z', no server delivers z' without z first. The global sequence is
//!   increasing in zxid, so a leader's proposals are delivered in the order it proposed them
//!   (**primary-order**), and an earlier epoch's txns never follow a later epoch's.
//! - **primary-integrity**: a leader proposes in epoch e only after delivering every txn of
//!   an earlier epoch that any server delivered.
//! - **replica-digest**: two replicas that delivered the same prefix have the same
//!   application state.
//!
//! A crash, or a state reset (a SNAP, a TRUNC below what was delivered), starts the server's
//! delivery sequence over from the beginning.

use super::message::Zxid;
use sim_core::id::NodeId;
use sim_core::node::{Invariants, Violation};
use sim_core::time::Instant;
use std::collections::BTreeMap;

/// A protocol-meaningful moment, reported by a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZabObservation {
    /// A quorum acknowledged this leader's NEWLEADER for `epoch`.
    Established {
        /// The epoch.
        epoch: u64,
    },
    /// The leader proposed a txn, having delivered `delivered` txns.
    Proposed {
        /// The txn's zxid.
        zxid: Zxid,
        /// Its command's digest.
        digest: u64,
        /// How many txns the leader had delivered.
        delivered: u64,
    },
    /// The server delivered a txn to its application.
    Delivered {
        /// The txn's zxid.
        zxid: Zxid,
        /// Its command's digest.
        digest: u64,
    },
    /// The server's application was rebuilt from scratch (SNAP, or TRUNC below delivery).
    Reset,
    /// The server's application state after delivering `delivered` txns, the last `zxid`.
    Replica {
        /// The last delivered zxid (ZERO: none).
        zxid: Zxid,
        /// How many txns it delivered.
        delivered: u64,
        /// The application's state digest.
        state: u64,
    },
}

/// The oracle.
#[derive(Clone, Debug, Default)]
pub struct ZabInvariants {
    leaders: BTreeMap<u64, NodeId>,
    /// The digest of every zxid proposed or delivered.
    txns: BTreeMap<Zxid, u64>,
    /// The global delivery sequence.
    sequence: Vec<(Zxid, u64)>,
    /// Each server's position in `sequence` (how many it delivered since its last reset).
    positions: BTreeMap<NodeId, usize>,
    /// Application state by delivered prefix length.
    states: BTreeMap<u64, u64>,
}

fn violation(invariant: &str, message: String) -> Result<(), Violation> {
    Err(Violation {
        invariant: invariant.to_string(),
        message,
    })
}

impl ZabInvariants {
    /// An oracle that has seen nothing.
    pub fn new() -> ZabInvariants {
        ZabInvariants::default()
    }

    /// The global delivery sequence so far.
    pub fn sequence(&self) -> &[(Zxid, u64)] {
        &self.sequence
    }

    /// The leader established in `epoch`, if any.
    pub fn leader_of(&self, epoch: u64) -> Option<NodeId> {
        self.leaders.get(&epoch).copied()
    }

    fn agree(&mut self, node: NodeId, zxid: Zxid, digest: u64) -> Result<(), Violation> {
        match self.txns.get(&zxid) {
            Some(&known) if known != digest => violation(
                "agreement",
                format!("{node} has {digest:016x} at zxid {zxid}; another server has {known:016x}"),
            ),
            Some(_) => Ok(()),
            None => {
                self.txns.insert(zxid, digest);
                Ok(())
            }
        }
    }
}

impl Invariants<ZabObservation> for ZabInvariants {
    fn observe(
        &mut self,
        _time: Instant,
        node: NodeId,
        observation: &ZabObservation,
    ) -> Result<(), Violation> {
        match *observation {
            ZabObservation::Established { epoch } => {
                if let Some(&other) = self.leaders.get(&epoch) {
                    if other != node {
                        return violation(
                            "one-leader-per-epoch",
                            format!("{node} and {other} both established epoch {epoch}"),
                        );
                    }
                }
                self.leaders.insert(epoch, node);
                Ok(())
            }
            ZabObservation::Proposed {
                zxid,
                digest,
                delivered,
            } => {
                self.agree(node, zxid, digest)?;
                // The sequence increases in zxid (primary-order), so earlier epochs are a prefix.
                let earlier = self.sequence.partition_point(|(z, _)| z.epoch < zxid.epoch) as u64;
                let position = self.positions.get(&node).copied().unwrap_or(0) as u64;
                if delivered < earlier || position < earlier {
                    return violation(
                        "primary-integrity",
                        format!(
                            "{node} proposes {zxid} having delivered {delivered} txns; {earlier} txns of earlier epochs were delivered"
                        ),
                    );
                }
                Ok(())
            }
            ZabObservation::Delivered { zxid, digest } => {
                self.agree(node, zxid, digest)?;
                let position = self.positions.get(&node).copied().unwrap_or(0);
                if let Some(&(known, known_digest)) = self.sequence.get(position) {
                    if (known, known_digest) != (zxid, digest) {
                        return violation(
                            "total-order",
                            format!(
                                "{node} delivers {zxid} as txn #{}; another server delivered {known} there",
                                position + 1
                            ),
                        );
                    }
                } else {
                    if let Some(&(last, _)) = self.sequence.last() {
                        if zxid <= last {
                            return violation(
                                "primary-order",
                                format!("{node} delivers {zxid} after {last}"),
                            );
                        }
                    }
                    self.sequence.push((zxid, digest));
                }
                self.positions.insert(node, position + 1);
                Ok(())
            }
            ZabObservation::Reset => {
                self.positions.insert(node, 0);
                Ok(())
            }
            ZabObservation::Replica {
                zxid,
                delivered,
                state,
            } => {
                match self.states.get(&delivered) {
                    Some(&known) if known != state => {
                        return violation(
                            "replica-digest",
                            format!(
                                "{node} has state {state:016x} after {delivered} txns (last {zxid}); another replica has {known:016x}"
                            ),
                        )
                    }
                    Some(_) => {}
                    None => {
                        self.states.insert(delivered, state);
                    }
                }
                Ok(())
            }
        }
    }

    fn on_crash(&mut self, _time: Instant, node: NodeId) {
        self.positions.insert(node, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn z(epoch: u64, counter: u64) -> Zxid {
        Zxid::new(epoch, counter)
    }

    fn run(steps: &[(u32, ZabObservation)]) -> Result<(), Violation> {
        let mut oracle = ZabInvariants::new();
        for (node, observation) in steps {
            oracle.observe(Instant::ZERO, NodeId(*node), observation)?;
        }
        Ok(())
    }

    fn delivered(epoch: u64, counter: u64, digest: u64) -> ZabObservation {
        ZabObservation::Delivered {
            zxid: z(epoch, counter),
            digest,
        }
    }

    fn fails(steps: &[(u32, ZabObservation)], invariant: &str) {
        let err = run(steps).expect_err("a violation");
        assert_eq!(err.invariant, invariant, "{err}");
    }

    #[test]
    fn a_consistent_run_passes() {
        run(&[
            (0, ZabObservation::Established { epoch: 1 }),
            (
                0,
                ZabObservation::Proposed {
                    zxid: z(1, 1),
                    digest: 7,
                    delivered: 0,
                },
            ),
            (0, delivered(1, 1, 7)),
            (1, delivered(1, 1, 7)),
            (1, ZabObservation::Established { epoch: 2 }),
            (
                1,
                ZabObservation::Proposed {
                    zxid: z(2, 1),
                    digest: 8,
                    delivered: 1,
                },
            ),
            (1, delivered(2, 1, 8)),
            (2, delivered(1, 1, 7)),
            (2, ZabObservation::Reset),
            (2, delivered(1, 1, 7)),
            (2, delivered(2, 1, 8)),
            (
                2,
                ZabObservation::Replica {
                    zxid: z(2, 1),
                    delivered: 2,
                    state: 3,
                },
            ),
            (
                1,
                ZabObservation::Replica {
                    zxid: z(2, 1),
                    delivered: 2,
                    state: 3,
                },
            ),
        ])
        .expect("consistent");
    }

    #[test]
    fn two_leaders_of_one_epoch_fire() {
        fails(
            &[
                (0, ZabObservation::Established { epoch: 3 }),
                (1, ZabObservation::Established { epoch: 3 }),
            ],
            "one-leader-per-epoch",
        );
    }

    #[test]
    fn two_txns_under_one_zxid_fire() {
        fails(
            &[
                (
                    0,
                    ZabObservation::Proposed {
                        zxid: z(1, 1),
                        digest: 7,
                        delivered: 0,
                    },
                ),
                (1, delivered(1, 1, 9)),
            ],
            "agreement",
        );
    }

    #[test]
    fn a_skipped_txn_fires_total_order() {
        fails(
            &[
                (0, delivered(1, 1, 7)),
                (0, delivered(1, 2, 8)),
                (1, delivered(1, 2, 8)),
            ],
            "total-order",
        );
    }

    #[test]
    fn an_earlier_epoch_after_a_later_fires_primary_order() {
        fails(
            &[
                (0, delivered(2, 1, 7)),
                (1, delivered(2, 1, 7)),
                (1, delivered(1, 5, 8)),
            ],
            "primary-order",
        );
    }

    #[test]
    fn a_leader_proposing_before_delivering_the_past_fires() {
        fails(
            &[
                (0, delivered(1, 1, 7)),
                (
                    1,
                    ZabObservation::Proposed {
                        zxid: z(2, 1),
                        digest: 8,
                        delivered: 0,
                    },
                ),
            ],
            "primary-integrity",
        );
    }

    #[test]
    fn different_states_after_one_prefix_fire() {
        fails(
            &[
                (
                    0,
                    ZabObservation::Replica {
                        zxid: z(1, 4),
                        delivered: 4,
                        state: 1,
                    },
                ),
                (
                    1,
                    ZabObservation::Replica {
                        zxid: z(1, 4),
                        delivered: 4,
                        state: 2,
                    },
                ),
            ],
            "replica-digest",
        );
    }

    #[test]
    fn a_crash_restarts_the_delivery_sequence() {
        let mut oracle = ZabInvariants::new();
        oracle
            .observe(Instant::ZERO, NodeId(0), &delivered(1, 1, 7))
            .unwrap();
        oracle.on_crash(Instant::ZERO, NodeId(0));
        oracle
            .observe(Instant::ZERO, NodeId(0), &delivered(1, 1, 7))
            .expect("from the start again");
        let err = oracle
            .observe(Instant::ZERO, NodeId(0), &delivered(1, 1, 7))
            .expect_err("delivered twice");
        assert_eq!(err.invariant, "primary-order");
    }
}
