//! Two-phase commit's registry entry: its parameters as a scenario file writes them, and how
//! a run builds its nodes.

use super::{bugs, Config, CoordinatorKind, TwoPhaseCommitInvariants, TwoPhaseCommitNode, MARKS};
use crate::apps::bank::Bank;
use crate::apps::{AnyApp, Application};
use crate::describe::ScenarioContext;
use crate::describe::{Capabilities, Identity, NodeRule, Protocol, SimulationInputs};
use crate::mutation::{Bug, BugSet};
use crate::params::{positive, Param, ParamError, ParamKind, ParamValue, Params};
use sim_core::node::Outcome;
use sim_core::simulation::SimReport;
use sim_core::time::Duration;

/// Two-phase commit in the registry.
pub struct TwoPhaseCommitProtocol;

/// The registry's value for two-phase commit.
pub static TWO_PHASE_COMMIT: TwoPhaseCommitProtocol = TwoPhaseCommitProtocol;

/// The most participants a scenario may ask for.
const PARTICIPANTS_MAX: u32 = 16;
/// The largest replicated coordinator.
const REPLICAS_MAX: u32 = 7;

const PARAMS: &[Param] = &[
    Param::new(
        "participants",
        ParamKind::Count {
            min: 1,
            max: PARTICIPANTS_MAX,
        },
        ParamValue::Count(3),
        "participants, each owning a range of accounts: nodes 1 to N after the coordinator, node 0 (after its replicas with coordinator: Replicated)",
    ),
    Param::new(
        "vote_timeout",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(100)),
        "the coordinator aborts a transaction whose votes are not all in by then",
    ),
    Param::new(
        "decision_timeout",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(100)),
        "a participant in doubt this long starts asking for the decision (it is then blocked)",
    ),
    Param::new(
        "inquiry_interval",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(50)),
        "how often an in-doubt participant asks again",
    ),
    Param::new(
        "resend_interval",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(50)),
        "how often the coordinator re-sends an unacknowledged COMMIT",
    ),
    Param::new(
        "cooperative_termination",
        ParamKind::Bool,
        ParamValue::Bool(false),
        "in-doubt participants also ask the other participants",
    ),
    Param::new(
        "coordinator",
        ParamKind::Choice(&["Single", "Replicated"]),
        ParamValue::Choice("Single"),
        "Single: node 0 coordinates (and blocks while down); Replicated: nodes 0..coordinator_replicas run it over Raft, participants after them",
    ),
    Param::new(
        "coordinator_replicas",
        ParamKind::Count {
            min: 3,
            max: REPLICAS_MAX,
        },
        ParamValue::Count(3),
        "the replicated coordinator's Raft group size (with coordinator: Replicated)",
    ),
];

const IDENTITY: Identity = Identity {
    name: "2pc",
    variant: "TwoPhaseCommit",
    summary: "two-phase commit with presumed abort: a coordinator and participants owning ranges of accounts",
    params: PARAMS,
    bare: false,
};

impl Protocol for TwoPhaseCommitProtocol {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn nodes(&self) -> NodeRule {
        NodeRule {
            default: 4,
            min: 2,
            max: PARTICIPANTS_MAX + REPLICAS_MAX,
        }
    }

    fn nodes_for(&self, params: &Params) -> NodeRule {
        NodeRule::exactly(params.count("participants") + coordinator_of(params).1)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::TRANSACTIONS
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
    }

    fn crash_points(&self) -> &'static [&'static str] {
        super::CRASH_POINTS
    }

    fn bugs(&self) -> &'static [Bug] {
        bugs::ALL
    }

    fn invariants(&self) -> &'static [&'static str] {
        &[
            "atomicity",
            "conservation",
            "durability",
            "in-doubt-resolved",
        ]
    }

    fn validate(&self, params: &mut Params, _context: &ScenarioContext) -> Result<(), ParamError> {
        for name in [
            "vote_timeout",
            "decision_timeout",
            "inquiry_interval",
            "resend_interval",
        ] {
            positive(params, name)?;
        }
        if params.choice("coordinator") == "Single" && params.is_set("coordinator_replicas") {
            // Defaults are filled before validation, so compare with the default too.
            if params.count("coordinator_replicas") != 3 {
                return Err(ParamError::new(
                    "coordinator_replicas",
                    "a replica count needs coordinator: Replicated",
                ));
            }
        }
        Ok(())
    }

    fn simulate(
        &self,
        params: &Params,
        app: AnyApp,
        bugs: BugSet,
        inputs: SimulationInputs,
    ) -> SimReport {
        // The application is the bank (the only one needing `transactions`): its audit gives
        // the initial balances the participants start from.
        let initial_balances: Vec<i64> = match app.query(&Bank::audit_operation()) {
            Some(Outcome::Ok { value, .. }) => match value {
                sim_core::history::Value::List(items) => items
                    .iter()
                    .map(|item| item.as_int().expect("a balance"))
                    .collect(),
                other => panic!("the bank's audit answered {other}"),
            },
            other => panic!("two-phase commit runs the bank, whose audit answered {other:?}"),
        };
        let mut config = Config::new(params.count("participants"), initial_balances);
        config.vote_timeout = params.duration("vote_timeout");
        config.decision_timeout = params.duration("decision_timeout");
        config.inquiry_interval = params.duration("inquiry_interval");
        config.resend_interval = params.duration("resend_interval");
        config.cooperative_termination = params.bool("cooperative_termination");
        config.coordinator = coordinator_of(params).0;
        config.bugs = bugs;
        // A transaction in doubt when the faults heal resolves within a few inquiries; one
        // still in doubt a second after that at the end of the run is a failure.
        let grace = Duration::from_nanos(
            Duration::from_secs(1).as_nanos()
                + config.decision_timeout.as_nanos()
                + 4 * config.inquiry_interval.as_nanos(),
        );
        let invariants = TwoPhaseCommitInvariants::new(&config, grace);
        inputs.simulate::<TwoPhaseCommitNode>(config, Box::new(invariants))
    }
}

/// The coordinator a scenario asks for, and how many nodes it takes.
fn coordinator_of(params: &Params) -> (CoordinatorKind, u32) {
    match params.choice("coordinator") {
        "Replicated" => {
            let replicas = params.count("coordinator_replicas");
            (CoordinatorKind::Replicated { replicas }, replicas)
        }
        _ => (CoordinatorKind::Single, 1),
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
        assert_eq!(params.duration("vote_timeout"), config.vote_timeout);
        assert_eq!(params.duration("decision_timeout"), config.decision_timeout);
        assert_eq!(params.duration("inquiry_interval"), config.inquiry_interval);
        assert_eq!(params.duration("resend_interval"), config.resend_interval);
        assert_eq!(
            params.bool("cooperative_termination"),
            config.cooperative_termination
        );
        assert_eq!(TWO_PHASE_COMMIT.nodes_for(&params), NodeRule::exactly(4));
        assert_eq!(config.coordinator, CoordinatorKind::Single);
        let mut replicated = Params::defaults(PARAMS);
        replicated.set("coordinator", ParamValue::Choice("Replicated"));
        replicated.set("coordinator_replicas", ParamValue::Count(5));
        assert_eq!(
            TWO_PHASE_COMMIT.nodes_for(&replicated),
            NodeRule::exactly(8)
        );
    }
}
