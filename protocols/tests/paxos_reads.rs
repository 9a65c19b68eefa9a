//! Reads: through the log, and under leader leases (Paxos Made Live §5.2): a lease runs from
//! the send time of a heartbeat round a majority acknowledged, replicas that granted it promise
//! no one else until it has run out on their clocks, and a new leader reads locally only once
//! it has applied every slot its phase 1 recovered.

mod paxos_support;

use paxos_support::*;
use protocols::paxos::{Message, Role, Slot};
use sim_core::history::Value as Datum;
use sim_core::id::{ClientId, RequestId};
use sim_core::time::Duration;

fn read_at(cluster: &mut PaxosCluster, node: u32, request: u64) {
    cluster.request(n(node), ClientId(1), RequestId(request), get());
}

fn is_prepare(message: &Message) -> bool {
    matches!(message, Message::Prepare { .. })
}

#[test]
fn paxos_log_read_takes_a_slot() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    write_at(&mut cluster, n(0), 1, 5);
    read_at(&mut cluster, 0, 2);
    assert!(
        cluster.wire().any(|e| is_accept(&e.msg)),
        "the read is proposed"
    );
    assert_eq!(cluster.reply_to(RequestId(2)), None);
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(2)), Some(&done(Datum::Int(5))));
    assert!(!cluster.has_mark("paxos.lease_read"));
}

#[test]
fn paxos_lease_read_is_local_and_falls_back_to_the_log_once_the_lease_ran_out() {
    let mut cluster = lease_cluster(3, &[]);
    lead(&mut cluster, n(0));
    let lease_until = cluster.node(n(0)).lease_until().expect("leads");
    assert!(
        lease_until > cluster.monotonic_now(n(0)),
        "the first heartbeat round was acknowledged"
    );
    write_at(&mut cluster, n(0), 1, 5);
    read_at(&mut cluster, 0, 2);
    assert_eq!(cluster.reply_to(RequestId(2)), Some(&done(Datum::Int(5))));
    assert_eq!(cluster.wire().count(), 0, "answered without a message");
    assert!(cluster.has_mark("paxos.lease_read"));
    // 150ms less the 300µs margin after the round was sent, the lease is over.
    cluster.advance(Duration::from_micros(149_700));
    read_at(&mut cluster, 0, 3);
    assert!(
        cluster.wire().any(|e| is_accept(&e.msg)),
        "the read is proposed"
    );
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(3)), Some(&done(Datum::Int(5))));
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_replicas_that_granted_a_lease_promise_no_one_else_until_it_runs_out() {
    let mut cluster = lease_cluster(3, &[]);
    lead(&mut cluster, n(0));
    // 100ms later n0's next round reaches n2 only; then n0 is cut off.
    cluster.advance(Duration::from_millis(100));
    cluster.heartbeat(n(0));
    cluster.drop_where(|e| e.to == n(1));
    cluster.deliver_all();
    cluster.isolate(n(0));
    // At 120ms n1's own grant still runs: its timeout waits instead of preparing.
    cluster.advance(Duration::from_millis(20));
    cluster.timeout(n(1));
    assert!(cluster.has_mark("paxos.lease_wait"));
    assert!(!cluster.wire().any(|e| is_prepare(&e.msg)));
    // At 160ms n1's grant is over, n2's (from 100ms) is not: n2 does not answer.
    cluster.advance(Duration::from_millis(40));
    cluster.timeout(n(1));
    assert_eq!(cluster.node(n(1)).role(), Role::Candidate);
    let waits = cluster.mark_count("paxos.lease_wait");
    cluster.deliver_all();
    assert_eq!(cluster.mark_count("paxos.lease_wait"), waits + 1);
    assert_eq!(cluster.node(n(1)).role(), Role::Candidate);
    // Meanwhile the isolated n0 still serves reads: its lease holds and nobody else leads.
    read_at(&mut cluster, 0, 1);
    assert_eq!(cluster.reply_to(RequestId(1)), Some(&done(Datum::Null)));
    // At 260ms every grant and n0's lease are over: n1's retry succeeds, n0 reads via the log.
    cluster.advance(Duration::from_millis(100));
    cluster.timeout(n(1));
    cluster.deliver_all();
    assert!(cluster.node(n(1)).is_leader());
    read_at(&mut cluster, 0, 2);
    assert_eq!(cluster.reply_to(RequestId(2)), None);
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_restarted_replica_waits_out_any_lease_before_promising() {
    let mut cluster = lease_cluster(3, &[]);
    lead(&mut cluster, n(0));
    cluster.crash(n(0));
    // n2 restarts 100ms later: it cannot know whether it granted n0 a lease just before.
    cluster.advance(Duration::from_millis(100));
    cluster.crash(n(2));
    cluster.restart(n(2));
    // At 160ms n1's grant has run out; the restarted n2 still promises nobody until 250ms.
    cluster.advance(Duration::from_millis(60));
    cluster.timeout(n(1));
    cluster.deliver_all();
    assert!(cluster.has_mark("paxos.lease_wait"));
    assert_eq!(cluster.node(n(1)).role(), Role::Candidate);
    cluster.advance(Duration::from_millis(100));
    cluster.timeout(n(1));
    cluster.deliver_all();
    assert!(cluster.node(n(1)).is_leader());
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_new_leader_reads_locally_only_after_applying_its_phase_1_horizon() {
    let mut cluster = lease_cluster(3, &[]);
    lead(&mut cluster, n(0));
    write_at(&mut cluster, n(0), 1, 5);
    // n0 proposes 6 in slot 2; only n1 accepts it; n0 crashes.
    propose_then_crash(&mut cluster, n(0), n(1), 2, 6);
    // n2 leads after the old lease ran out; its accepts for slot 2 are held back.
    cluster.advance(Duration::from_millis(150));
    cluster.timeout(n(2));
    cluster.deliver_all_where(|e| !is_accept(&e.msg));
    assert!(cluster.node(n(2)).is_leader());
    assert!(cluster.node(n(2)).lease_until() > Some(cluster.monotonic_now(n(2))));
    // n2 never learned slot 1 either: it re-proposes slots 1 and 2.
    assert_eq!(cluster.node(n(2)).first_unchosen(), Slot(1));
    assert_eq!(cluster.node(n(2)).next_slot(), Some(Slot(3)));
    // Under a lease but short of its horizon (slot 3): the read goes through the log and sees 6.
    read_at(&mut cluster, 2, 3);
    assert_eq!(cluster.reply_to(RequestId(3)), None);
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(3)), Some(&done(Datum::Int(6))));
    assert!(!cluster.has_mark("paxos.lease_read"));
    read_at(&mut cluster, 2, 4);
    assert_eq!(cluster.reply_to(RequestId(4)), Some(&done(Datum::Int(6))));
    assert!(cluster.has_mark("paxos.lease_read"));
}
