//! Shared pieces of the Multi-Paxos tests: clusters of the kv application used as one
//! register (key `None`), operations, and phase-1 / write shortcuts.
//! (Compiled as its own, empty test target too; the `paxos_*` tests include it with `mod`.)

#![allow(dead_code)]

use protocols::apps::kv::Kv;
use protocols::mutation::{Bug, BugSet};
use protocols::paxos::harness::Cluster;
use protocols::paxos::{Config, Message, ReadMode, Value};
use sim_core::history::{Function, Value as Datum};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::node::{Operation, Outcome};

pub type PaxosCluster = Cluster<Kv>;

/// Replica `i`.
pub fn n(i: u32) -> NodeId {
    NodeId(i)
}

/// An operation on the register (the kv store's keyless object).
pub fn op(f: Function, value: Datum) -> Operation {
    Operation {
        f,
        key: None,
        value,
    }
}

pub fn put(value: i64) -> Operation {
    op(Function::Write, Datum::Int(value))
}

pub fn get() -> Operation {
    op(Function::Read, Datum::Null)
}

/// The answer of an operation that took effect, with `value` (`Null` for writes).
pub fn done(value: Datum) -> Outcome {
    Outcome::Ok { value, token: None }
}

pub fn paxos_config(bugs: &[Bug], read_mode: ReadMode) -> Config<Kv> {
    let mut config = Config::new(Kv::new());
    config.bugs = bugs.iter().copied().collect::<BugSet>();
    config.read_mode = read_mode;
    config
}

/// A cluster of `size` replicas reading through the log.
pub fn log_cluster(size: u32, bugs: &[Bug]) -> PaxosCluster {
    Cluster::new(size, paxos_config(bugs, ReadMode::Log), 11)
}

/// A cluster of `size` replicas with leader leases, 150ms after boot: a replica in lease mode
/// promises nothing for `leader_timeout_min` after it starts (it might have granted a lease
/// before a crash).
pub fn lease_cluster(size: u32, bugs: &[Bug]) -> PaxosCluster {
    let config = paxos_config(bugs, ReadMode::Lease);
    let boot_wait = config.leader_timeout_min;
    let mut cluster = Cluster::new(size, config, 12);
    cluster.advance(boot_wait);
    cluster
}

/// Fires `node`'s leader timeout and delivers everything: it must then lead.
pub fn lead(cluster: &mut PaxosCluster, node: NodeId) {
    cluster.timeout(node);
    cluster.deliver_all();
    assert!(cluster.node(node).is_leader(), "{node} should lead");
}

/// Client 0's request `request` writes `value` through `leader` and is answered.
pub fn write_at(cluster: &mut PaxosCluster, leader: NodeId, request: u64, value: i64) {
    cluster.request(leader, ClientId(0), RequestId(request), put(value));
    cluster.deliver_all();
    assert_eq!(
        cluster.reply_to(RequestId(request)),
        Some(&done(Datum::Null)),
        "write {value} through {leader}"
    );
}

/// The register's value at `node` (`None`: never written).
pub fn register(cluster: &PaxosCluster, node: NodeId) -> Option<i64> {
    cluster.node(node).app().get(None)
}

/// The written value a chosen slot holds, `None` for a no-op.
pub fn written(value: &Value) -> Option<i64> {
    match value {
        Value::Noop => None,
        Value::Command(command) => command.operation.value.as_int(),
    }
}

/// Is `message` a phase-2 accept?
pub fn is_accept(message: &Message) -> bool {
    matches!(message, Message::Accept { .. })
}

/// `leader` proposes client 0's `request` writing `value`; only `follower` accepts it, then the
/// leader crashes and every message on the wire is lost. With three replicas the value is then
/// chosen, though no replica knows it.
pub fn propose_then_crash(
    cluster: &mut PaxosCluster,
    leader: NodeId,
    follower: NodeId,
    request: u64,
    value: i64,
) {
    cluster.request(leader, ClientId(0), RequestId(request), put(value));
    cluster.deliver(leader, follower);
    cluster.crash(leader);
    cluster.drop_where(|_| true);
}
