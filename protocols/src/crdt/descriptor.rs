//! The CRDT counters' registry entry: `Crdt(counter: G | PN, gossip_interval, gossip_fanout)`.

use super::{history, Config, CounterKind, CrdtInvariants, CrdtReplica, CRASH_POINTS, MARKS};
use crate::apps::AnyApp;
use crate::describe::{
    AuditResult, Capabilities, Identity, NodeRule, Protocol, ScenarioContext, SimulationInputs,
};
use crate::mutation::BugSet;
use crate::params::{positive, Param, ParamError, ParamKind, ParamValue, Params};
use sim_core::history::HistoryEvent;
use sim_core::simulation::SimReport;
use sim_core::time::Duration;

/// The CRDT counters in the registry.
pub struct CrdtProtocol;

/// The registry's value for the CRDT counters.
pub static CRDT: CrdtProtocol = CrdtProtocol;

const COUNTERS: &[&str] = &["G", "PN"];

const PARAMS: &[Param] = &[
    Param::new(
        "counter",
        ParamKind::Choice(COUNTERS),
        ParamValue::Choice("PN"),
        "G-Counter (increments only; decrements fail) or PN-Counter",
    ),
    Param::new(
        "gossip_interval",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(100)),
        "time between a replica's anti-entropy rounds (local clock)",
    ),
    Param::new(
        "gossip_fanout",
        ParamKind::Count { min: 1, max: 64 },
        ParamValue::Count(1),
        "peers a replica sends its whole state to per round (capped at the other replicas)",
    ),
    Param::new(
        "buggify",
        ParamKind::Bool,
        ParamValue::Bool(false),
        "now and then a legal but unusual path: a gossip round skipped, a gossip sent twice",
    ),
];

/// How the registry and scenario files name it.
const IDENTITY: Identity = Identity {
    name: "crdt",
    variant: "Crdt",
    summary: "state-based G-/PN-Counter replicas (Shapiro et al. 2011) with anti-entropy gossip: converge, reads not linearizable (staleness measured)",
    params: PARAMS,
    bare: false,
};

impl Protocol for CrdtProtocol {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn nodes(&self) -> NodeRule {
        NodeRule::any(3)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::STATE_MERGE
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
    }

    fn crash_points(&self) -> &'static [&'static str] {
        CRASH_POINTS
    }

    fn invariants(&self) -> &'static [&'static str] {
        &[
            "crdt-monotonic",
            "crdt-own-entry",
            "crdt-entry-bounded",
            "crdt-read-bounds",
            "crdt-convergence",
        ]
    }

    fn validate(&self, params: &mut Params, _context: &ScenarioContext) -> Result<(), ParamError> {
        positive(params, "gossip_interval")?;
        Ok(())
    }

    fn linearizable(&self) -> bool {
        false
    }

    fn audit(&self, _params: &Params, history: &[HistoryEvent]) -> AuditResult {
        history::audit(history).map_err(|message| ("crdt-invoked-range", message))
    }

    /// The replicas hold the counter themselves: `app` (the counter application, the only
    /// one this protocol runs) is not used beyond its workload.
    fn simulate(
        &self,
        params: &Params,
        _app: AnyApp,
        bugs: BugSet,
        inputs: SimulationInputs,
    ) -> SimReport {
        let replica_count = inputs.sim.node_count;
        let config = Config {
            kind: match params.choice("counter") {
                "G" => CounterKind::G,
                _ => CounterKind::Pn,
            },
            replica_count,
            gossip_interval: params.duration("gossip_interval"),
            gossip_fanout: params.count("gossip_fanout"),
            bugs,
            buggify: params.bool("buggify"),
        };
        inputs.simulate::<CrdtReplica>(
            config,
            Box::new(CrdtInvariants::new(replica_count as usize)),
        )
    }
}
