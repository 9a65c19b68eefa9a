//! ZAB's registry entry: its parameters as a scenario file writes them, and how a run builds
//! its servers.

use super::{bugs, Config, ReadMode, ZabInvariants, ZabNode, MARKS};
use crate::apps::AnyApp;
use crate::describe::{
    Capabilities, Identity, NodeRule, Protocol, ScenarioContext, SimulationInputs,
};
use crate::mutation::{Bug, BugSet};
use crate::params::{Param, ParamError, ParamKind, ParamValue, Params};
use sim_core::simulation::SimReport;
use sim_core::time::Duration;

/// ZAB in the registry.
pub struct ZabProtocol;

/// The registry's value for ZAB.
pub static ZAB: ZabProtocol = ZabProtocol;

const READ_MODES: &[&str] = &["Log", "Sync", "Local"];

const PARAMS: &[Param] = &[
    Param::new(
        "tick_time",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(10)),
        "ZooKeeper's tickTime: the ping period and the unit of init_limit and sync_limit",
    ),
    Param::new(
        "init_limit",
        ParamKind::Count { min: 1, max: 1000 },
        ParamValue::Count(10),
        "ticks to connect and synchronize with a leader (and for a new leader to get a quorum synchronized)",
    ),
    Param::new(
        "sync_limit",
        ParamKind::Count { min: 1, max: 1000 },
        ParamValue::Count(5),
        "ticks a follower may go without hearing its leader, and a leader without hearing a quorum",
    ),
    Param::new(
        "committed_log",
        ParamKind::Count {
            min: 1,
            max: 1_000_000,
        },
        ParamValue::Count(500),
        "committed txns the leader keeps to DIFF from (commitLogCount); older followers get a SNAP",
    ),
    Param::decided(
        "buggify",
        ParamKind::Bool,
        "on with Random faults",
        "now and then a legal but unusual path (a learner's synchronization held a tick) so random faults reach narrow windows",
    ),
    Param::new(
        "read",
        ParamKind::Choice(READ_MODES),
        ParamValue::Choice("Log"),
        "reads through the broadcast (linearizable), after a SYNC, or from the local replica (sequentially consistent)",
    ),
];

/// How the registry and scenario files name it.
const IDENTITY: Identity = Identity {
    name: "zab",
    variant: "Zab",
    summary: "ZooKeeper's atomic broadcast: fast leader election, discovery, DIFF/TRUNC/SNAP synchronization, broadcast",
    params: PARAMS,
    bare: false,
};

impl Protocol for ZabProtocol {
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
            .with(Capabilities::SESSION_TRACKER)
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
            "one-leader-per-epoch",
            "agreement",
            "total-order",
            "primary-order",
            "primary-integrity",
            "replica-digest",
        ]
    }

    fn validate(&self, params: &mut Params, context: &ScenarioContext) -> Result<(), ParamError> {
        if params.duration("tick_time") == Duration::ZERO {
            return Err(ParamError::new("tick_time", "must be positive".to_string()));
        }
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
        config.tick_time = params.duration("tick_time");
        config.init_limit = params.count("init_limit");
        config.sync_limit = params.count("sync_limit");
        config.committed_log = params.count("committed_log");
        config.buggify = params.bool("buggify");
        config.read_mode = match params.choice("read") {
            "Sync" => ReadMode::Sync,
            "Local" => ReadMode::Local,
            _ => ReadMode::Log,
        };
        config.bugs = bugs;
        inputs.simulate::<ZabNode<AnyApp>>(config, Box::new(ZabInvariants::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_configs() {
        let config = Config::new(());
        let params = Params::defaults(PARAMS);
        assert_eq!(params.duration("tick_time"), config.tick_time);
        assert_eq!(params.count("init_limit"), config.init_limit);
        assert_eq!(params.count("sync_limit"), config.sync_limit);
        assert_eq!(params.count("committed_log"), config.committed_log);
        assert_eq!(params.choice("read"), "Log");
        assert_eq!(config.read_mode, ReadMode::Log);
    }
}
