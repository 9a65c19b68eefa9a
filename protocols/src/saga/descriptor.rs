//! The saga's registry entry: its parameters as a scenario file writes them, and how a run
//! builds its nodes.

use super::{bugs, Config, SagaInvariants, SagaNode, CRASH_POINTS, MARKS};
use crate::apps::bank::Bank;
use crate::apps::{AnyApp, Application};
use crate::describe::ScenarioContext;
use crate::describe::{Capabilities, Identity, NodeRule, Protocol, SimulationInputs};
use crate::mutation::{Bug, BugSet};
use crate::params::{positive, Param, ParamError, ParamKind, ParamValue, Params};
use sim_core::node::Outcome;
use sim_core::simulation::SimReport;
use sim_core::time::Duration;

/// Sagas in the registry.
pub struct SagaProtocol;

/// The registry's value for sagas.
pub static SAGA: SagaProtocol = SagaProtocol;

/// The most participants a scenario may ask for.
const PARTICIPANTS_MAX: u32 = 16;

const ISOLATION: &[&str] = &["Measured", "Fatal"];

const PARAMS: &[Param] = &[
    Param::new(
        "participants",
        ParamKind::Count {
            min: 1,
            max: PARTICIPANTS_MAX,
        },
        ParamValue::Count(3),
        "participants (nodes 1 to N, each owning a range of accounts); node 0 orchestrates",
    ),
    Param::new(
        "step_timeout",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(50)),
        "the orchestrator re-sends a step (or an audit's read) unanswered this long",
    ),
    Param::new(
        "balance_max",
        ParamKind::Count {
            min: 0,
            max: 1_000_000_000,
        },
        ParamValue::Count(0),
        "a credit that would take a balance above this is refused and the saga compensates (0: no limit)",
    ),
    Param::new(
        "isolation_anomalies",
        ParamKind::Choice(ISOLATION),
        ParamValue::Choice("Measured"),
        "audits that see money in flight are counted (Measured) or fail the run (Fatal, which also checks the history's serializability)",
    ),
    Param::new(
        "buggify",
        ParamKind::Bool,
        ParamValue::Bool(false),
        "now and then a legal but unusual path: the orchestrator sends a step twice",
    ),
];

const IDENTITY: Identity = Identity {
    name: "saga",
    variant: "Saga",
    summary: "orchestrated sagas over the bank: debit, then credit, a refund if the credit is refused; no locks across steps",
    params: PARAMS,
    bare: false,
};

impl Protocol for SagaProtocol {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn nodes(&self) -> NodeRule {
        NodeRule {
            default: 4,
            min: 2,
            max: PARTICIPANTS_MAX + 1,
        }
    }

    fn nodes_for(&self, params: &Params) -> NodeRule {
        NodeRule::exactly(params.count("participants") + 1)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::TRANSACTIONS
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
    }

    fn bugs(&self) -> &'static [Bug] {
        bugs::ALL
    }

    fn crash_points(&self) -> &'static [&'static str] {
        CRASH_POINTS
    }

    fn invariants(&self) -> &'static [&'static str] {
        &[
            "semantic-atomicity",
            "compensation-once",
            "conservation",
            "isolation (with isolation_anomalies: Fatal)",
            "saga-finished (liveness)",
        ]
    }

    fn validate(&self, params: &mut Params, _context: &ScenarioContext) -> Result<(), ParamError> {
        positive(params, "step_timeout")?;
        Ok(())
    }

    fn isolated(&self, params: &Params) -> bool {
        params.choice("isolation_anomalies") == "Fatal"
    }

    fn simulate(
        &self,
        params: &Params,
        app: AnyApp,
        bugs: BugSet,
        inputs: SimulationInputs,
    ) -> SimReport {
        // The application is the bank (the only one needing `transactions`): its audit gives
        // the initial balances.
        let initial_balances: Vec<i64> = match app.query(&Bank::audit_operation()) {
            Some(Outcome::Ok {
                value: sim_core::history::Value::List(items),
                ..
            }) => items
                .iter()
                .map(|item| item.as_int().expect("a balance"))
                .collect(),
            other => panic!("sagas run the bank, whose audit answered {other:?}"),
        };
        let mut config = Config::new(params.count("participants"), initial_balances);
        config.step_timeout = params.duration("step_timeout");
        config.balance_max = i64::from(params.count("balance_max"));
        config.anomalies_fatal = self.isolated(params);
        config.bugs = bugs;
        config.buggify = params.bool("buggify");
        // A saga in flight when the faults heal finishes within a few re-sends; one still in
        // flight a second after that is a liveness failure.
        let grace = Duration::from_nanos(
            Duration::from_secs(1).as_nanos() + 4 * config.step_timeout.as_nanos(),
        );
        let invariants = SagaInvariants::new(&config, grace);
        inputs.simulate::<SagaNode>(config, Box::new(invariants))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_configs() {
        let config = Config::new(3, vec![100; 12]);
        let params = Params::defaults(PARAMS);
        assert_eq!(params.count("participants"), 3);
        assert_eq!(params.duration("step_timeout"), config.step_timeout);
        assert_eq!(i64::from(params.count("balance_max")), config.balance_max);
        assert!(!SAGA.isolated(&params));
        assert_eq!(params.bool("buggify"), config.buggify);
        assert_eq!(SAGA.nodes_for(&params), NodeRule::exactly(4));
    }
}
