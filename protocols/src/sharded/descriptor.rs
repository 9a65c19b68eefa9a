//! The sharded store's registry entry: its parameters and how a run builds its nodes.

use super::config::{Config, GroupProtocol, GroupReplica, Rebalance};
use super::node::ShardedNode;
use super::ring::VNODES_MAX;
use super::state::GroupApp;
use super::{bugs, MARKS};
use crate::apps::{AnyApp, Application};
use crate::describe::{
    Capabilities, Identity, NodeRule, Protocol, ScenarioContext, SimulationInputs,
};
use crate::mutation::{Bug, BugSet};
use crate::params::{leader_timing, positive, Param, ParamError, ParamKind, ParamValue, Params};
use crate::paxos::{self, PaxosNode};
use crate::raft::{self, RaftNode};
use crate::zab::{self, ZabNode};
use sim_core::faults::FaultAction;
use sim_core::history::{Function, Value};
use sim_core::node::{Operation, Outcome};
use sim_core::simulation::SimReport;
use sim_core::time::Duration;

/// The sharded store in the registry.
pub struct ShardedProtocol;

/// The registry's value for the sharded store.
pub static SHARDED: ShardedProtocol = ShardedProtocol;

const REBALANCE: &[&str] = &["Grow", "Shrink", "Random"];

const GROUP_PROTOCOLS: &[&str] = &["Raft", "MultiPaxos", "Zab"];

use super::SHARDS_MAX;

const PARAMS: &[Param] = &[
    Param::new(
        "replicas",
        ParamKind::Count { min: 1, max: 7 },
        ParamValue::Count(3),
        "Raft replicas per group (the configuration service's and every shard's)",
    ),
    Param::new(
        "shards",
        ParamKind::Count {
            min: 1,
            max: SHARDS_MAX,
        },
        ParamValue::Count(3),
        "shards on the ring at the start (at most shards_max)",
    ),
    Param::new(
        "shards_max",
        ParamKind::Count {
            min: 1,
            max: SHARDS_MAX,
        },
        ParamValue::Count(5),
        "shard groups that exist; the ones not on the ring are spares a change can add",
    ),
    Param::new(
        "vnodes",
        ParamKind::Count {
            min: 1,
            max: VNODES_MAX,
        },
        ParamValue::Count(16),
        "virtual nodes per shard on the consistent-hash ring",
    ),
    Param::new(
        "rebalance",
        ParamKind::Choice(REBALANCE),
        ParamValue::Choice("Grow"),
        "membership changes: Grow (add spares), Shrink (remove shards), Random (either)",
    ),
    Param::new(
        "rebalances",
        ParamKind::Count { min: 0, max: 64 },
        ParamValue::Count(2),
        "how many membership changes the configuration service makes",
    ),
    Param::new(
        "rebalance_every",
        ParamKind::DurationRange,
        ParamValue::DurationRange(Duration::from_secs(1), Duration::from_secs(3)),
        "gap between membership changes, drawn per change",
    ),
    Param::new(
        "poll_interval",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(50)),
        "how often a shard leader asks for the next configuration and resends snapshots",
    ),
    Param::new(
        "election_timeout",
        ParamKind::DurationRange,
        ParamValue::DurationRange(Duration::from_millis(150), Duration::from_millis(300)),
        "every group's Raft election timeout range (min above heartbeat); Multi-Paxos groups' leader timeout",
    ),
    Param::new(
        "heartbeat",
        ParamKind::Duration,
        ParamValue::Duration(Duration::from_millis(50)),
        "every group's Raft or Multi-Paxos heartbeat interval",
    ),
    Param::new(
        "group_protocol",
        ParamKind::Choice(GROUP_PROTOCOLS),
        ParamValue::Choice("Raft"),
        "the consensus protocol of every group: Raft, MultiPaxos, or Zab (ZooKeeper's default ticks)",
    ),
];

const IDENTITY: Identity = Identity {
    name: "shard",
    variant: "Sharded",
    summary: "kv store sharded on a consistent-hash ring over Raft groups, with live rebalancing",
    params: PARAMS,
    bare: false,
};

impl Protocol for ShardedProtocol {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn nodes(&self) -> NodeRule {
        NodeRule::exactly(18)
    }

    fn nodes_for(&self, params: &Params) -> NodeRule {
        NodeRule::exactly(params.count("replicas") * (1 + params.count("shards_max")))
    }

    fn capabilities(&self) -> Capabilities {
        // The shard groups keep the keys themselves (a migration moves values key by key): the
        // store runs `Kv(...)` and `Register`, no other application (validation refuses them).
        Capabilities::KEYED_STORE
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
    }

    fn bugs(&self) -> &'static [Bug] {
        bugs::ALL
    }

    fn crash_points(&self) -> &'static [&'static str] {
        super::CRASH_POINTS
    }

    fn members(&self, params: &Params) -> Option<u32> {
        // `AddShard(s)` / `RemoveShard(s)` name a shard group: 0 to shards_max - 1.
        Some(params.count("shards_max"))
    }

    fn invariants(&self) -> &'static [&'static str] {
        &[
            "election-safety",
            "log-matching",
            "leader-completeness",
            "state-machine-safety",
            "agreement",
            "one-leader-per-epoch",
            "total-order",
            "primary-order",
            "primary-integrity",
            "replica-digest",
            "one-owner-per-version",
        ]
    }

    fn validate(&self, params: &mut Params, _context: &ScenarioContext) -> Result<(), ParamError> {
        leader_timing(
            params,
            "election_timeout",
            "followers would start elections under a healthy leader",
        )?;
        positive(params, "poll_interval")?;
        if params.count("shards") > params.count("shards_max") {
            return Err(ParamError::new(
                "shards",
                format!(
                    "{} shards on the ring but only shards_max {} groups",
                    params.count("shards"),
                    params.count("shards_max")
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
        // Validation let only the kv store or the register through (`KEYED_STORE`), whose
        // reads of an unwritten key answer Null.
        let probe = Operation {
            f: Function::Read,
            key: Some(0),
            value: Value::Null,
        };
        assert_eq!(
            app.query(&probe),
            Some(Outcome::Ok {
                value: Value::Null,
                token: None
            }),
            "the sharded store runs Kv(...) or Register only"
        );
        let mut raft_config = raft::Config::new(());
        (
            raft_config.election_timeout_min,
            raft_config.election_timeout_max,
        ) = params.duration_range("election_timeout");
        raft_config.heartbeat = params.duration("heartbeat");
        let mut paxos_config = paxos::Config::new(());
        (
            paxos_config.leader_timeout_min,
            paxos_config.leader_timeout_max,
        ) = params.duration_range("election_timeout");
        paxos_config.heartbeat = params.duration("heartbeat");
        let group_protocol = match params.choice("group_protocol") {
            "MultiPaxos" => GroupProtocol::MultiPaxos,
            "Zab" => GroupProtocol::Zab,
            _ => GroupProtocol::Raft,
        };
        let (rebalance_every_min, rebalance_every_max) = params.duration_range("rebalance_every");
        let config = Config {
            replicas: params.count("replicas"),
            shards: params.count("shards"),
            shards_max: params.count("shards_max"),
            vnodes: params.count("vnodes"),
            rebalance: match params.choice("rebalance") {
                "Shrink" => Rebalance::Shrink,
                "Random" => Rebalance::Random,
                _ => Rebalance::Grow,
            },
            rebalances: params.count("rebalances"),
            rebalance_every_min,
            rebalance_every_max,
            poll_interval: params.duration("poll_interval"),
            raft: raft_config,
            group_protocol,
            paxos: paxos_config,
            zab: zab::Config::new(()),
            bugs,
            membership_changes: inputs
                .plan
                .faults
                .iter()
                .any(|fault| matches!(fault.action, FaultAction::Membership(_))),
        };
        match group_protocol {
            GroupProtocol::Raft => simulate::<RaftNode<GroupApp>>(config, inputs),
            GroupProtocol::MultiPaxos => simulate::<PaxosNode<GroupApp>>(config, inputs),
            GroupProtocol::Zab => simulate::<ZabNode<GroupApp>>(config, inputs),
        }
    }
}

/// Runs the store with groups of `R`.
fn simulate<R: GroupReplica>(config: Config, inputs: SimulationInputs) -> SimReport {
    let invariants = R::invariants(&config);
    inputs.simulate::<ShardedNode<R>>(config, Box::new(invariants))
}
