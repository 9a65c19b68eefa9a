//! The saga's checks, from the nodes' observations: semantic atomicity, compensation once,
//! conservation, and the isolation anomalies it measures (module documentation of
//! [`saga`](super)).

use super::message::{Ending, Observation};
use super::{Config, SagaId, Step};
use sim_core::id::NodeId;
use sim_core::node::{Invariants, Violation};
use sim_core::time::{Duration, Instant};
use std::collections::{BTreeMap, BTreeSet};

/// One participant's state, as its observations tell.
#[derive(Debug, Default)]
struct ParticipantView {
    balances: BTreeMap<u32, i64>,
    applied: BTreeSet<(SagaId, Step)>,
}

/// The checker.
#[derive(Debug)]
pub struct SagaInvariants {
    total: i64,
    anomalies_fatal: bool,
    participants: BTreeMap<NodeId, ParticipantView>,
    ended: BTreeMap<SagaId, Ending>,
    /// Sagas whose debit ran and whose credit or refund has not: since when (true time).
    in_flight: BTreeMap<SagaId, Instant>,
    /// How long a saga may still have money in flight at the end.
    grace: Duration,
    audits: u64,
    anomalies: u64,
    compensations: u64,
    money_in_flight_nanos: u64,
}

fn violation(invariant: &str, message: String) -> Result<(), Violation> {
    Err(Violation {
        invariant: invariant.into(),
        message,
    })
}

impl SagaInvariants {
    /// A checker for a bank of `config`; money still in flight at the end of the run for longer
    /// than `grace` is a liveness failure.
    pub fn new(config: &Config, grace: Duration) -> SagaInvariants {
        let participants = (1..=config.participants)
            .map(NodeId)
            .map(|node| {
                let view = ParticipantView {
                    balances: config
                        .range(node)
                        .map(|a| (a, config.initial_balances[a as usize]))
                        .collect(),
                    applied: BTreeSet::new(),
                };
                (node, view)
            })
            .collect();
        SagaInvariants {
            total: config.total(),
            anomalies_fatal: config.anomalies_fatal,
            participants,
            ended: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            grace,
            audits: 0,
            anomalies: 0,
            compensations: 0,
            money_in_flight_nanos: 0,
        }
    }

    /// Has `step` of `saga` run at some participant (as its current state says)?
    fn ran(&self, saga: SagaId, step: Step) -> bool {
        self.participants
            .values()
            .any(|view| view.applied.contains(&(saga, step)))
    }

    fn on_applied(
        &mut self,
        time: Instant,
        node: NodeId,
        saga: SagaId,
        step: Step,
        account: u32,
        delta: i64,
    ) -> Result<(), Violation> {
        match step {
            Step::Debit => {
                if self.ended.get(&saga) == Some(&Ending::Refused) {
                    return violation(
                        "semantic-atomicity",
                        format!("{saga} was debited on {node} after it ended refused"),
                    );
                }
            }
            Step::Credit => {
                if self.ran(saga, Step::Refund) {
                    return violation(
                        "semantic-atomicity",
                        format!("{saga} was credited on {node} after its debit was refunded: the money exists twice"),
                    );
                }
                if let Some(ending @ (Ending::Compensated | Ending::Refused)) =
                    self.ended.get(&saga)
                {
                    return violation(
                        "semantic-atomicity",
                        format!("{saga} was credited on {node} after it ended {ending:?}"),
                    );
                }
            }
            Step::Refund => {
                if self.ran(saga, Step::Credit) {
                    return violation(
                        "semantic-atomicity",
                        format!("{saga} was refunded on {node} after its credit ran: the money exists twice"),
                    );
                }
                if !self.participants[&node]
                    .applied
                    .contains(&(saga, Step::Debit))
                {
                    return violation(
                        "semantic-atomicity",
                        format!("{saga} was refunded on {node}, which never debited it"),
                    );
                }
            }
        }
        let view = self.participants.get_mut(&node).expect("a participant");
        if !view.applied.insert((saga, step)) {
            let invariant = if step == Step::Refund {
                "compensation-once"
            } else {
                "semantic-atomicity"
            };
            return violation(invariant, format!("{saga}: {step:?} ran twice on {node}"));
        }
        let balance = view.balances.get_mut(&account).expect("owned");
        *balance += delta;
        if *balance < 0 {
            return violation(
                "conservation",
                format!("{saga} left account {account} at {balance} on {node}"),
            );
        }
        if step == Step::Debit {
            self.in_flight.insert(saga, time);
        } else if let Some(since) = self.in_flight.remove(&saga) {
            self.money_in_flight_nanos += time.saturating_since(since).as_nanos();
        }
        Ok(())
    }

    fn on_ended(&mut self, saga: SagaId, ending: Ending) -> Result<(), Violation> {
        let (debit, credit, refund) = (
            self.ran(saga, Step::Debit),
            self.ran(saga, Step::Credit),
            self.ran(saga, Step::Refund),
        );
        let consistent = match ending {
            Ending::Completed => debit && credit && !refund,
            Ending::Compensated => debit && refund && !credit,
            Ending::Refused => !debit,
        };
        if !consistent {
            return violation(
                "semantic-atomicity",
                format!("{saga} ended {ending:?} with debit {debit}, credit {credit}, refund {refund} applied"),
            );
        }
        if ending == Ending::Compensated {
            self.compensations += 1;
        }
        self.ended.insert(saga, ending);
        Ok(())
    }
}

impl Invariants<Observation> for SagaInvariants {
    fn observe(
        &mut self,
        time: Instant,
        node: NodeId,
        observation: &Observation,
    ) -> Result<(), Violation> {
        match observation {
            Observation::Applied {
                saga,
                step,
                account,
                delta,
            } => self.on_applied(time, node, *saga, *step, *account, *delta),
            Observation::Recovered { balances, applied } => {
                let view = self.participants.get_mut(&node).expect("a participant");
                view.balances = balances.iter().copied().collect();
                view.applied = applied.iter().copied().collect();
                // A debit lost with unsynced records runs again: its flight restarts then.
                let lost: Vec<SagaId> = self
                    .in_flight
                    .keys()
                    .copied()
                    .filter(|&saga| !self.ran(saga, Step::Debit))
                    .collect();
                for saga in lost {
                    self.in_flight.remove(&saga);
                }
                Ok(())
            }
            Observation::Ended { saga, ending } => self.on_ended(*saga, *ending),
            Observation::Audited { balances } => {
                self.audits += 1;
                let sum: i64 = balances.iter().sum();
                if sum == self.total {
                    return Ok(());
                }
                self.anomalies += 1;
                if self.anomalies_fatal {
                    return violation(
                        "isolation",
                        format!("an audit saw {balances:?}, summing to {sum}, not {}: money in flight (isolation_anomalies: Fatal)", self.total),
                    );
                }
                Ok(())
            }
        }
    }

    fn finish(&mut self, _time: Instant) -> Result<(), Violation> {
        if !self.in_flight.is_empty() {
            return Ok(()); // judged by `liveness`
        }
        let sum: i64 = self
            .participants
            .values()
            .flat_map(|view| view.balances.values())
            .sum();
        if sum != self.total {
            return violation(
                "conservation",
                format!(
                    "with no saga in flight the final balances sum to {sum}, not {}",
                    self.total
                ),
            );
        }
        Ok(())
    }

    fn liveness(&mut self, time: Instant) -> Option<String> {
        let (saga, since) = self
            .in_flight
            .iter()
            .find(|(_, &since)| time.saturating_since(since) > self.grace)?;
        Some(format!(
            "saga-finished: {saga} still has money in flight at the end, {} after its debit ({} sagas in flight)",
            time.saturating_since(*since),
            self.in_flight.len()
        ))
    }

    fn figures(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("audits", self.audits),
            ("isolation_anomalies", self.anomalies),
            ("compensations", self.compensations),
            ("money_in_flight_ns", self.money_in_flight_nanos),
        ]
    }
}
