//! Two-phase commit's registry entry: its parameters as a scenario file writes them, and how
//! a run builds its nodes.

use super::{bugs, Config, TwoPhaseCommitInvariants, TwoPhaseCommitNode, MARKS};
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

const PARAMS: &[Param] = &[
    Param::new(
        "participants",
        ParamKind::Count {
            min: 1,
            max: PARTICIPANTS_MAX,
        },
        ParamValue::Count(3),
        "participants (nodes 1 to N, each owning a range of accounts); node 0 coordinates",
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
    }
}
