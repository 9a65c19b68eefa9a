//! Raft's registry entry: its parameters as a scenario file writes them, and how a run builds
//! its nodes.

use super::{bugs, Config, RaftInvariants, RaftNode, ReadMode, MARKS};
use crate::apps::AnyApp;
use crate::describe::{
    Capabilities, Identity, NodeRule, Protocol, ScenarioContext, SimulationInputs,
};
use crate::mutation::{Bug, BugSet};
use crate::params::{leader_timing, Param, ParamError, ParamKind, ParamValue, Params};
use sim_core::simulation::SimReport;
use sim_core::time::Duration;

/// Raft in the registry.
pub struct RaftProtocol;

/// The registry's value for Raft.
pub static RAFT: RaftProtocol = RaftProtocol;

const READ_MODES: &[&str] = &["ReadIndex", "Log"];

const PARAMS: &[Param] = &[
    Param::new(
        "election_timeout",
        ParamKind::DurationRange,
        ParamValue::DurationRange(Duration::from_millis(150), Duration::from_millis(300)),
        "election timeout range (min above heartbeat)",
    ),
    Param::new(
        "heartbeat",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(50)),
        "leader heartbeat interval",
    ),
    Param::new(
        "pre_vote",
        ParamKind::Bool,
        ParamValue::Bool(false),
        "pre-vote round before each election (thesis §9.6): the term rises only once a majority would vote",
    ),
    Param::new(
        "check_quorum",
        ParamKind::Bool,
        ParamValue::Bool(false),
        "leaders step down without recent contact with a quorum (thesis §6.2)",
    ),
    Param::decided(
        "buggify",
        ParamKind::Bool,
        "on with Random faults",
        "now and then a legal but unusual path (quiet new leader, late no-op, held batch) so random faults reach narrow windows",
    ),
    Param::new(
        "read",
        ParamKind::Choice(READ_MODES),
        ParamValue::Choice("ReadIndex"),
        "how linearizable reads are served",
    ),
];

/// How the registry and scenario files name it.
const IDENTITY: Identity = Identity {
    name: "raft",
    variant: "Raft",
    summary: "elections, log replication, the commit rule of §5.4.2, ReadIndex or log reads",
    params: PARAMS,
    bare: false,
};

impl Protocol for RaftProtocol {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn nodes(&self) -> NodeRule {
        NodeRule::any(5)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::STAMPED_COMMANDS
            .with(Capabilities::PROPOSAL_HOOK)
            .with(Capabilities::SESSION_SWITCH)
            .with(Capabilities::STATE_MACHINE)
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
            "election-safety",
            "log-matching",
            "leader-completeness",
            "state-machine-safety",
        ]
    }

    fn validate(&self, params: &mut Params, context: &ScenarioContext) -> Result<(), ParamError> {
        leader_timing(
            params,
            "election_timeout",
            "followers would start elections under a healthy leader",
        )?;
        // BUGGIFY is on for generated fault plans only: a scripted story relies on exact timing.
        if !params.is_set("buggify") {
            params.set("buggify", ParamValue::Bool(context.random_faults));
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
        let mut config = Config::new(app);
        (config.election_timeout_min, config.election_timeout_max) =
            params.duration_range("election_timeout");
        config.heartbeat = params.duration("heartbeat");
        config.pre_vote = params.bool("pre_vote");
        config.check_quorum = params.bool("check_quorum");
        config.buggify = params.bool("buggify");
        config.read_mode = match params.choice("read") {
            "Log" => ReadMode::Log,
            _ => ReadMode::ReadIndex,
        };
        config.bugs = bugs;
        inputs.simulate::<RaftNode<AnyApp>>(config, Box::new(RaftInvariants::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_configs() {
        let config = Config::new(());
        let params = Params::defaults(PARAMS);
        assert_eq!(
            params.duration_range("election_timeout"),
            (config.election_timeout_min, config.election_timeout_max)
        );
        assert_eq!(params.duration("heartbeat"), config.heartbeat);
        assert_eq!(params.bool("pre_vote"), config.pre_vote);
        assert_eq!(params.bool("check_quorum"), config.check_quorum);
        assert_eq!(params.choice("read"), "ReadIndex");
        assert_eq!(config.read_mode, ReadMode::ReadIndex);
    }
}
