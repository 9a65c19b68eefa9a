//! Primary-backup's registry entry: its parameters as a scenario file writes them.

use super::{Config, PrimaryBackup, Replication, MARKS};
use crate::apps::kv::Kv;
use crate::apps::AnyApp;
use crate::describe::{
    Capabilities, Identity, NodeRule, Protocol, ScenarioContext, SimulationInputs,
};
use crate::mutation::BugSet;
use crate::params::{positive, Param, ParamError, ParamKind, ParamValue, Params};
use sim_core::node::NoInvariants;
use sim_core::simulation::SimReport;
use sim_core::time::Duration;

/// Primary-backup in the registry.
pub struct PrimaryBackupProtocol;

/// The registry's value for primary-backup.
pub static PRIMARY_BACKUP: PrimaryBackupProtocol = PrimaryBackupProtocol;

const REPLICATION: &[&str] = &["Async", "Sync"];

const PARAMS: &[Param] = &[
    Param::new(
        "read_from_backups",
        ParamKind::Bool,
        ParamValue::Bool(false),
        "clients may read from backups (which may be stale)",
    ),
    Param::new(
        "replication",
        ParamKind::Choice(REPLICATION),
        ParamValue::Choice("Async"),
        "answer once the primary's disk holds the command (Async) or once every live backup has acknowledged it as durable too (Sync)",
    ),
    Param::new(
        "replication_delay",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(5)),
        "how long the primary batches updates before shipping them",
    ),
    Param::new(
        "heartbeat",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(50)),
        "primary heartbeat interval",
    ),
    Param::new(
        "failover_timeout",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(500)),
        "a backup promotes itself after hearing nothing for this long (above heartbeat)",
    ),
    Param::new(
        "buggify",
        ParamKind::Bool,
        ParamValue::Bool(false),
        "now and then a legal but unusual path: a write shipped a heartbeat late, a backup's acknowledgement a heartbeat late",
    ),
    Param::new(
        "min_replicas_to_write",
        ParamKind::Count { min: 0, max: 64 },
        ParamValue::Count(0),
        "Redis's min-replicas-to-write: refuse writes unless this many backups acknowledged within min_replicas_max_lag; with Sync, answer only what this many backups hold (0: off)",
    ),
    Param::new(
        "min_replicas_max_lag",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(500)),
        "Redis's min-replicas-max-lag: how recent an acknowledgement counts for min_replicas_to_write",
    ),
];

/// How the registry and scenario files name it.
const IDENTITY: Identity = Identity {
    name: "primary-backup",
    variant: "PrimaryBackup",
    summary:
        "node 0 starts as primary and ships updates to backups; a backup promotes itself on silence",
    params: PARAMS,
    bare: false,
};

impl Protocol for PrimaryBackupProtocol {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn nodes(&self) -> NodeRule {
        NodeRule::any(3)
    }

    fn capabilities(&self) -> Capabilities {
        // Commands carry the primary's epoch and clock readings, so the lease lock runs on it
        // (a Redis-style lock: `SET NX PX` on the primary, replicated asynchronously).
        Capabilities::STAMPED_COMMANDS.with(Capabilities::STATE_MACHINE)
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
    }

    fn crash_points(&self) -> &'static [&'static str] {
        super::CRASH_POINTS
    }

    fn validate(&self, params: &mut Params, _context: &ScenarioContext) -> Result<(), ParamError> {
        let heartbeat = positive(params, "heartbeat")?;
        let failover_timeout = params.duration("failover_timeout");
        if failover_timeout <= heartbeat {
            return Err(ParamError::new(
                "failover_timeout",
                format!(
                    "{failover_timeout} is not above the heartbeat interval {heartbeat}: backups would promote themselves while the primary is healthy"
                ),
            ));
        }
        Ok(())
    }

    fn simulate(
        &self,
        params: &Params,
        app: AnyApp,
        _bugs: BugSet,
        inputs: SimulationInputs,
    ) -> SimReport {
        let defaults = Config::<Kv>::default();
        let config = Config {
            read_from_backups: params.bool("read_from_backups"),
            heartbeat: params.duration("heartbeat"),
            failover_timeout: params.duration("failover_timeout"),
            replication_delay: params.duration("replication_delay"),
            resend_batch_max: defaults.resend_batch_max,
            replication: match params.choice("replication") {
                "Sync" => Replication::Sync,
                _ => Replication::Async,
            },
            min_replicas_to_write: params.count("min_replicas_to_write"),
            min_replicas_max_lag: params.duration("min_replicas_max_lag"),
            app,
            buggify: params.bool("buggify"),
        };
        inputs.simulate::<PrimaryBackup<AnyApp>>(config, Box::new(NoInvariants))
    }
}
