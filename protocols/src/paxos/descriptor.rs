//! Multi-Paxos's registry entry: its parameters as a scenario file writes them, and how a run
//! builds its replicas.

use super::{bugs, Config, PaxosInvariants, PaxosNode, ReadMode, MARKS};
use crate::apps::AnyApp;
use crate::describe::{
    Capabilities, Identity, NodeRule, Protocol, ScenarioContext, SimulationInputs,
};
use crate::mutation::{Bug, BugSet};
use crate::params::{leader_timing, Param, ParamError, ParamKind, ParamValue, Params};
use sim_core::prng::Ratio;
use sim_core::simulation::SimReport;
use sim_core::time::Duration;

/// Multi-Paxos in the registry.
pub struct PaxosProtocol;

/// The registry's value for Multi-Paxos.
pub static PAXOS: PaxosProtocol = PaxosProtocol;

const READ_MODES: &[&str] = &["Log", "Lease"];

const PARAMS: &[Param] = &[
    Param::new(
        "leader_timeout",
        ParamKind::DurationRange,
        ParamValue::DurationRange(Duration::from_millis(150), Duration::from_millis(300)),
        "silence before a replica starts phase 1 (min, above heartbeat); a leader without a majority steps down after max",
    ),
    Param::new(
        "heartbeat",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(50)),
        "leader heartbeat interval",
    ),
    Param::new(
        "read",
        ParamKind::Choice(READ_MODES),
        ParamValue::Choice("Log"),
        "reads through the log, or from a leader holding a lease",
    ),
    Param::new(
        "max_clock_drift",
        ParamKind::Ratio,
        ParamValue::Ratio(Ratio::from_ppm(1_000)),
        "largest clock rate error the lease's drift margin covers (below 50%)",
    ),
    Param::new(
        "buggify",
        ParamKind::Bool,
        ParamValue::Bool(false),
        "unusual-but-legal timing now and then: a proposer waits before phase 2, an acceptor answers late, a leader proposes a slot twice",
    ),
];

/// How the registry and scenario files name it.
const IDENTITY: Identity = Identity {
    name: "paxos",
    variant: "Paxos",
    summary: "Multi-Paxos: ballots, prepare/promise, accept/accepted per slot, a distinguished leader, gap no-ops, catch-up, optional leader leases",
    params: PARAMS,
    bare: false,
};

impl Protocol for PaxosProtocol {
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
        &["agreement", "election-safety", "state-machine-safety"]
    }

    fn validate(&self, params: &mut Params, _context: &ScenarioContext) -> Result<(), ParamError> {
        leader_timing(
            params,
            "leader_timeout",
            "replicas would start phase 1 under a healthy leader",
        )?;
        let drift = params.ratio("max_clock_drift");
        if drift >= Ratio::from_percent(50) {
            return Err(ParamError::new(
                "max_clock_drift",
                format!(
                    "{drift}: expected below 50% (the lease margin is twice the drift bound of the timeout, so 50% leaves no lease)"
                ),
            ));
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
        (config.leader_timeout_min, config.leader_timeout_max) =
            params.duration_range("leader_timeout");
        config.heartbeat = params.duration("heartbeat");
        config.read_mode = match params.choice("read") {
            "Lease" => ReadMode::Lease,
            _ => ReadMode::Log,
        };
        config.max_clock_drift_ppm = params.ratio("max_clock_drift").ppm;
        config.buggify = params.bool("buggify");
        config.bugs = bugs;
        inputs.simulate::<PaxosNode<AnyApp>>(config, Box::new(PaxosInvariants::new()))
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
            params.duration_range("leader_timeout"),
            (config.leader_timeout_min, config.leader_timeout_max)
        );
        assert_eq!(params.duration("heartbeat"), config.heartbeat);
        assert_eq!(
            params.ratio("max_clock_drift").ppm,
            config.max_clock_drift_ppm
        );
        assert_eq!(config.read_mode, ReadMode::Log);
        assert_eq!(params.choice("read"), "Log");
        assert_eq!(params.bool("buggify"), config.buggify);
    }
}
