//! Redlock's registry entry: its parameters as a scenario file writes them, and how a run
//! builds its nodes.

use super::{Config, Persistence, RedlockNode, CRASH_POINTS, INSTANCES_MAX, MARKS};
use crate::apps::{AnyApp, Application};
use crate::describe::SimulationInputs;
use crate::describe::{Capabilities, Identity, NodeRule, Protocol, ScenarioContext};
use crate::mutation::BugSet;
use crate::params::{positive, Param, ParamError, ParamKind, ParamValue, Params};
use sim_core::node::NoInvariants;
use sim_core::prng::Ratio;
use sim_core::simulation::SimReport;
use sim_core::time::Duration;

/// Redlock in the registry.
pub struct RedlockProtocol;

/// The registry's value for Redlock.
pub static REDLOCK: RedlockProtocol = RedlockProtocol;

const PERSISTENCE: &[&str] = &["Off", "Fsync"];

const PARAMS: &[Param] = &[
    Param::new(
        "instances",
        ParamKind::Count {
            min: 1,
            max: INSTANCES_MAX,
        },
        ParamValue::Count(5),
        "independent Redis instances (nodes 0 to N-1); node N is the storage service (the fenced resource and the token counter)",
    ),
    Param::new(
        "clock_drift_factor",
        ParamKind::Ratio,
        ParamValue::Ratio(Ratio::from_ppm(10_000)),
        "the drift bound subtracted from a lock's validity is lease x factor + 2ms (Redis: 0.01)",
    ),
    Param::new(
        "persistence",
        ParamKind::Choice(PERSISTENCE),
        ParamValue::Choice("Off"),
        "Off: a restarted instance is empty; Fsync: AOF with appendfsync always, every SET and DEL synced before its answer",
    ),
    Param::new(
        "restart_delay",
        ParamKind::Duration,
        ParamValue::Duration(Duration::ZERO),
        "a restarted instance refuses every request this long (Redis's delayed restart: a bit more than the lease)",
    ),
    Param::new(
        "instance_timeout",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(50)),
        "how long a client waits for the instances' answers in each round (small against the lease)",
    ),
    Param::new(
        "buggify",
        ParamKind::Bool,
        ParamValue::Bool(false),
        "now and then a legal but unusual path: a holder's DEL sent twice",
    ),
];

const IDENTITY: Identity = Identity {
    name: "redlock",
    variant: "Redlock",
    summary: "Redis's Redlock: a lock set on a majority of independent instances, valid for ttl - elapsed - drift",
    params: PARAMS,
    bare: false,
};

impl Protocol for RedlockProtocol {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn nodes(&self) -> NodeRule {
        NodeRule {
            default: 6,
            min: 2,
            max: INSTANCES_MAX + 1,
        }
    }

    fn nodes_for(&self, params: &Params) -> NodeRule {
        NodeRule::exactly(params.count("instances") + 1)
    }

    fn capabilities(&self) -> Capabilities {
        // The storage service runs the application as a single durable server, stamping each
        // command with its clock (the lock's resource needs no time; kv and counters run too).
        Capabilities::STATE_MACHINE.with(Capabilities::STAMPED_COMMANDS)
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
    }

    fn crash_points(&self) -> &'static [&'static str] {
        CRASH_POINTS
    }

    fn validate(&self, params: &mut Params, _context: &ScenarioContext) -> Result<(), ParamError> {
        positive(params, "instance_timeout")?;
        if params.ratio("clock_drift_factor").ppm >= Ratio::SCALE as u32 / 2 {
            return Err(ParamError::new(
                "clock_drift_factor",
                "must be below 50%: a clock that far off is not a clock",
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
        let config = Config {
            instances: params.count("instances"),
            clock_drift_factor: params.ratio("clock_drift_factor"),
            persistence: match params.choice("persistence") {
                "Fsync" => Persistence::Fsync,
                _ => Persistence::Off,
            },
            restart_delay: params.duration("restart_delay"),
            instance_timeout: params.duration("instance_timeout"),
            lock: app.lock_config(),
            app,
            bugs,
            buggify: params.bool("buggify"),
        };
        inputs.simulate::<RedlockNode>(config, Box::new(NoInvariants))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_count_follows_the_instances() {
        let mut params = Params::defaults(PARAMS);
        assert_eq!(REDLOCK.nodes_for(&params), NodeRule::exactly(6));
        params.set("instances", ParamValue::Count(3));
        assert_eq!(REDLOCK.nodes_for(&params), NodeRule::exactly(4));
        assert!(REDLOCK.nodes().allows(4));
    }

    #[test]
    fn validation_refuses_a_zero_timeout_and_a_wild_drift_factor() {
        let context = ScenarioContext {
            random_faults: false,
        };
        let mut params = Params::defaults(PARAMS);
        assert!(REDLOCK.validate(&mut params, &context).is_ok());
        params.set("instance_timeout", ParamValue::Duration(Duration::ZERO));
        assert!(REDLOCK.validate(&mut params, &context).is_err());
        let mut params = Params::defaults(PARAMS);
        params.set(
            "clock_drift_factor",
            ParamValue::Ratio(Ratio::from_ppm(500_000)),
        );
        let error = REDLOCK.validate(&mut params, &context).unwrap_err();
        assert!(
            format!("{error:?}").contains("clock_drift_factor"),
            "{error:?}"
        );
    }
}
