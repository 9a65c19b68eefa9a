//! The saga's checks, from the nodes' observations: semantic atomicity, compensation once,
//! conservation, and the isolation anomalies it measures (module documentation of
//! [`saga`](super)).

use super::message::{Ending, Observation};
use super::{Config, SagaId, Step};
use sim_core::history::HistoryEvent;
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
    /// Sagas ended completed, and ended otherwise (refused or compensated).
    completed: u64,
    aborts: u64,
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
            completed: 0,
            aborts: 0,
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
        match ending {
            Ending::Completed => self.completed += 1,
            Ending::Compensated => {
                self.compensations += 1;
                self.aborts += 1;
            }
            Ending::Refused => self.aborts += 1,
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

    fn figures(&self, _history: &[HistoryEvent]) -> Vec<(&'static str, u64)> {
        vec![
            ("audits", self.audits),
            ("isolation_anomalies", self.anomalies),
            ("compensations", self.compensations),
            ("money_in_flight_ns", self.money_in_flight_nanos),
            ("transfers_committed", self.completed),
            ("aborts", self.aborts),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: NodeId = NodeId(1);
    const P2: NodeId = NodeId(2);
    const S: SagaId = SagaId(7);

    fn checker(fatal: bool) -> SagaInvariants {
        let mut config = Config::new(2, vec![100; 4]);
        config.anomalies_fatal = fatal;
        SagaInvariants::new(&config, Duration::from_secs(1))
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    /// Step `step` of saga S moving 30 between account 0 (on P1) and account 2 (on P2).
    fn applied(step: Step) -> (NodeId, Observation) {
        let (node, account) = if step == Step::Credit {
            (P2, 2)
        } else {
            (P1, 0)
        };
        let observation = Observation::Applied {
            saga: S,
            step,
            account,
            delta: step.delta(30),
        };
        (node, observation)
    }

    fn feed(checker: &mut SagaInvariants, steps: &[Step]) -> Result<(), Violation> {
        for (i, &step) in steps.iter().enumerate() {
            let (node, observation) = applied(step);
            checker.observe(at(i as u64 * 10), node, &observation)?;
        }
        Ok(())
    }

    #[test]
    fn a_completed_and_a_compensated_saga_pass_and_are_measured() {
        let mut completed = checker(false);
        feed(&mut completed, &[Step::Debit, Step::Credit]).unwrap();
        let ended = Observation::Ended {
            saga: S,
            ending: Ending::Completed,
        };
        completed.observe(at(30), NodeId(0), &ended).unwrap();
        assert!(completed.finish(at(40)).is_ok());
        assert_eq!(completed.liveness(at(40)), None);
        let figures: BTreeMap<_, _> = completed.figures(&[]).into_iter().collect();
        assert_eq!(figures["money_in_flight_ns"], 10_000_000);

        let mut compensated = checker(false);
        feed(&mut compensated, &[Step::Debit, Step::Refund]).unwrap();
        let ended = Observation::Ended {
            saga: S,
            ending: Ending::Compensated,
        };
        compensated.observe(at(30), NodeId(0), &ended).unwrap();
        assert!(compensated.finish(at(40)).is_ok());
        assert_eq!(compensated.figures(&[])[2], ("compensations", 1));
    }

    #[test]
    fn credited_and_refunded_breaks_semantic_atomicity_either_way() {
        let error = feed(
            &mut checker(false),
            &[Step::Debit, Step::Refund, Step::Credit],
        )
        .expect_err("refund then credit");
        assert_eq!(error.invariant, "semantic-atomicity");
        let error = feed(
            &mut checker(false),
            &[Step::Debit, Step::Credit, Step::Refund],
        )
        .expect_err("credit then refund");
        assert_eq!(error.invariant, "semantic-atomicity");
        let error = feed(&mut checker(false), &[Step::Refund]).expect_err("refund, no debit");
        assert!(error.message.contains("never debited"), "{error}");
    }

    #[test]
    fn a_second_refund_is_a_double_compensation() {
        let mut twice = checker(false);
        let error = feed(&mut twice, &[Step::Debit, Step::Refund, Step::Refund])
            .expect_err("refunded twice");
        assert_eq!(error.invariant, "compensation-once");
    }

    #[test]
    fn an_ending_that_disagrees_with_the_steps_is_caught() {
        let mut lost = checker(false);
        feed(&mut lost, &[Step::Debit]).unwrap();
        let ended = Observation::Ended {
            saga: S,
            ending: Ending::Compensated,
        };
        let error = lost.observe(at(30), NodeId(0), &ended).unwrap_err();
        assert_eq!(error.invariant, "semantic-atomicity");
        assert!(error.message.contains("refund false"), "{error}");
    }

    #[test]
    fn money_in_flight_at_the_end_is_a_liveness_failure_not_a_violation() {
        let mut stuck = checker(false);
        feed(&mut stuck, &[Step::Debit]).unwrap();
        assert!(stuck.finish(at(500)).is_ok(), "not judged while in flight");
        assert_eq!(stuck.liveness(at(500)), None, "within the grace");
        let failure = stuck.liveness(at(5_000)).expect("past the grace");
        assert!(failure.starts_with("saga-finished"), "{failure}");
    }

    #[test]
    fn audits_off_the_total_are_counted_or_fatal() {
        let skewed = Observation::Audited {
            balances: vec![70, 100, 100, 100],
        };
        let exact = Observation::Audited {
            balances: vec![70, 100, 130, 100],
        };
        let mut measured = checker(false);
        measured.observe(at(1), NodeId(0), &skewed).unwrap();
        measured.observe(at(2), NodeId(0), &exact).unwrap();
        assert_eq!(
            measured.figures(&[])[..2],
            [("audits", 2), ("isolation_anomalies", 1)]
        );
        let mut fatal = checker(true);
        fatal.observe(at(1), NodeId(0), &exact).unwrap();
        let error = fatal.observe(at(2), NodeId(0), &skewed).unwrap_err();
        assert_eq!(error.invariant, "isolation");
    }
}
