//! Directed tests of linearizable reads (Raft §8; thesis §6.4): ReadIndex and reads through
//! the log.

mod raft_support;

use protocols::raft::harness::Cluster;
use protocols::raft::ReadMode;
use raft_support::*;
use sim_core::history::Value;
use sim_core::id::{ClientId, RequestId};

/// ReadIndex: the leader answers only after a heartbeat round started for the read is
/// acknowledged by a majority.
#[test]
fn raft_read_index_waits_for_a_majority_heartbeat_round() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    write_through(&mut cluster, n(0), 1, 5);
    cluster.request(n(0), ClientId(1), RequestId(2), read());
    assert!(
        cluster.reply_to(RequestId(2)).is_none(),
        "not before the round is acknowledged"
    );
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(2)), Some(&ok(Value::Int(5))));
    assert!(cluster.has_mark("raft.read_index_confirmed"));
    assert_eq!(
        cluster.node(n(0)).log().last_index().0,
        2,
        "reads are not logged"
    );
}

/// §8: a new leader does not know the commit index until an entry of its own term commits;
/// reads wait for its no-op.
#[test]
fn raft_read_index_waits_for_the_new_leaders_no_op() {
    let mut cluster = cluster(3, &[]);
    cluster.timeout(n(0));
    cluster.deliver_votes();
    assert!(cluster.node(n(0)).is_leader());
    cluster.request(n(0), ClientId(1), RequestId(1), read());
    // Even a majority answering heartbeats would not do: the no-op is not committed yet.
    assert!(cluster.reply_to(RequestId(1)).is_none());
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(1)), Some(&ok(Value::Int(0))));
}

/// Reads through the log are committed and applied like writes.
#[test]
fn raft_log_reads_are_answered_when_applied() {
    let mut config = config(&[]);
    config.read_mode = ReadMode::Log;
    let mut cluster = Cluster::new(3, config, 7);
    elect(&mut cluster, n(0));
    write_through(&mut cluster, n(0), 1, 5);
    cluster.request(n(0), ClientId(1), RequestId(2), read());
    assert!(cluster.reply_to(RequestId(2)).is_none());
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(2)), Some(&ok(Value::Int(5))));
    assert_eq!(
        cluster.node(n(0)).log().last_index().0,
        3,
        "the read took a log slot"
    );
}

/// Check-quorum: a leader that hears from no majority for an election timeout steps down.
#[test]
fn raft_check_quorum_deposes_an_isolated_leader() {
    let mut config = config(&[]);
    config.check_quorum = true;
    let mut cluster = Cluster::new(3, config, 7);
    elect(&mut cluster, n(0));
    cluster.isolate(n(0));
    // The first check (one election timeout in) still counts the election's acknowledgements.
    for _ in 0..20 {
        cluster.advance(sim_core::time::Duration::from_millis(50));
        if !cluster.node(n(0)).is_leader() {
            break;
        }
        cluster.heartbeat(n(0));
        cluster.deliver_all();
    }
    assert!(!cluster.node(n(0)).is_leader());
    assert!(cluster.has_mark("raft.check_quorum_step_down"));
}

/// The other side: without check-quorum the same isolated leader keeps believing it leads
/// (nothing it hears tells it otherwise), so the option is what deposes it above.
#[test]
fn raft_without_check_quorum_an_isolated_leader_stays_leader() {
    let mut cluster = Cluster::new(3, config(&[]), 7);
    elect(&mut cluster, n(0));
    cluster.isolate(n(0));
    for _ in 0..20 {
        cluster.advance(sim_core::time::Duration::from_millis(50));
        cluster.heartbeat(n(0));
        cluster.deliver_all();
    }
    assert!(cluster.node(n(0)).is_leader());
    assert!(!cluster.has_mark("raft.check_quorum_step_down"));
}
