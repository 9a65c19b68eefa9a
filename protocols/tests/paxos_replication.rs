//! Phase 2, the new leader's recovery of earlier slots (P2c and gap filling, Paxos Made Simple
//! §3), catch-up of lagging and restarted replicas, and exactly-once application of retries.

mod paxos_support;

use paxos_support::*;
use protocols::paxos::{Ballot, Message, Slot, Value};
use sim_core::history::Value as Datum;
use sim_core::id::{ClientId, RequestId};

#[test]
fn paxos_write_is_chosen_applied_everywhere_and_answered() {
    let mut cluster = log_cluster(5, &[]);
    lead(&mut cluster, n(0));
    write_at(&mut cluster, n(0), 1, 5);
    write_at(&mut cluster, n(0), 2, 6);
    // Followers learn from the next heartbeat's first unchosen slot.
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    for id in 0..5 {
        assert_eq!(register(&cluster, n(id)), Some(6), "replica {id}");
        let chosen: Vec<Option<i64>> = cluster.node(n(id)).chosen().iter().map(written).collect();
        assert_eq!(chosen, vec![Some(5), Some(6)]);
    }
    assert_eq!(cluster.invariants().chosen_count(), 2);
    // Every acceptance reached the disk before its answer left.
    for id in 0..5 {
        let (synced, written) = cluster.disk_len(n(id));
        assert_eq!(synced, written);
        assert!(synced >= 3, "a promise and two acceptances on {id}");
    }
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_new_leader_adopts_the_highest_ballot_value_reported() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    // n0 proposes 5 in slot 1; n1 accepts it, which makes it chosen (two of three), but n0
    // crashes before it hears so: nobody knows.
    propose_then_crash(&mut cluster, n(0), n(1), 1, 5);
    assert!(cluster.invariants().chosen(Slot(1)).is_some());
    assert_eq!(cluster.node(n(1)).first_unchosen(), Slot::FIRST);
    // n2 leads with promises from n1 and n2: n1 reports (b1.0, 5); P2c makes n2 propose 5.
    lead(&mut cluster, n(2));
    assert!(cluster.has_mark("paxos.adopted_accepted_value"));
    assert_eq!(
        written(&cluster.node(n(2)).chosen()[0]),
        Some(5),
        "slot 1 keeps the value n1 reported"
    );
    // The client's retry at the new leader is answered from the session table.
    cluster.request(n(2), ClientId(0), RequestId(1), put(5));
    assert_eq!(cluster.reply_to(RequestId(1)), Some(&done(Datum::Null)));
    assert!(cluster.has_mark("paxos.duplicate_answered_from_session"));
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_new_leader_fills_gaps_with_noops() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    for (request, value) in [(1, 10), (2, 20), (3, 30)] {
        cluster.request(n(0), ClientId(0), RequestId(request), put(value));
    }
    // Slot 2's accepts are lost; n1 accepts slots 1 and 3; n0 crashes before learning.
    cluster.drop_where(|e| matches!(e.msg, Message::Accept { slot: Slot(2), .. }));
    cluster.drop_where(|e| e.to == n(2));
    cluster.deliver_all_where(|e| e.to == n(1));
    cluster.crash(n(0));
    cluster.drop_where(|_| true);
    lead(&mut cluster, n(1));
    assert!(cluster.has_mark("paxos.gap_noop_filled"));
    let chosen: Vec<Option<i64>> = cluster.node(n(1)).chosen().iter().map(written).collect();
    assert_eq!(chosen, vec![Some(10), None, Some(30)]);
    assert_eq!(cluster.node(n(1)).chosen()[1], Value::Noop);
    // n0 comes back and learns the no-op over its own accepted 20.
    cluster.restart(n(0));
    cluster.heartbeat(n(1));
    cluster.deliver_all();
    assert_eq!(register(&cluster, n(0)), Some(30));
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_lagging_replica_catches_up_from_the_leader() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    cluster.isolate(n(2));
    for request in 1..=5 {
        write_at(&mut cluster, n(0), request, request as i64 * 10);
    }
    assert_eq!(register(&cluster, n(2)), None);
    cluster.heal();
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    assert!(cluster.has_mark("paxos.catch_up"));
    assert_eq!(register(&cluster, n(2)), Some(50));
    assert_eq!(cluster.node(n(2)).first_unchosen(), Slot(6));
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_restarted_replica_keeps_its_acceptor_state_and_relearns_the_rest() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    write_at(&mut cluster, n(0), 1, 7);
    write_at(&mut cluster, n(0), 2, 8);
    cluster.crash(n(1));
    cluster.restart(n(1));
    let restarted = cluster.node(n(1));
    assert_eq!(restarted.acceptor().promised(), Ballot::new(1, n(0)));
    assert_eq!(restarted.acceptor().accepted_from(Slot::FIRST).len(), 2);
    assert_eq!(
        restarted.first_unchosen(),
        Slot::FIRST,
        "what is chosen is volatile"
    );
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    assert_eq!(register(&cluster, n(1)), Some(8));
    // A restarted leader candidate that knows nothing chosen re-proposes what the promises
    // report (P2c), which chooses the same values again.
    cluster.crash(n(2));
    cluster.restart(n(2));
    lead(&mut cluster, n(2));
    assert_eq!(cluster.mark_count("paxos.adopted_accepted_value"), 2);
    assert_eq!(register(&cluster, n(2)), Some(8));
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_lost_accepts_are_sent_again_on_a_later_heartbeat() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    cluster.request(n(0), ClientId(0), RequestId(1), put(3));
    cluster.drop_where(|e| is_accept(&e.msg));
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(1)), None);
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    assert!(cluster.has_mark("paxos.accept_resent"));
    assert_eq!(cluster.reply_to(RequestId(1)), Some(&done(Datum::Null)));
}

#[test]
fn paxos_retry_chosen_twice_is_applied_once() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    // 1. Client 0 writes 5: n0 and n1 accept it in slot 1, n0 crashes before learning it.
    propose_then_crash(&mut cluster, n(0), n(1), 1, 5);
    // 2. n2 leads with n1's promise and proposes 5 again in slot 1, not yet accepted.
    cluster.timeout(n(2));
    cluster.deliver_all_where(|e| !is_accept(&e.msg));
    assert!(cluster.node(n(2)).is_leader());
    // 3. Client 0's retry reaches n2 before slot 1 is applied there: it is proposed again, in
    //    slot 2; client 1 writes 7 in slot 3.
    cluster.request(n(2), ClientId(0), RequestId(1), put(5));
    cluster.request(n(2), ClientId(1), RequestId(2), put(7));
    assert_eq!(cluster.node(n(2)).next_slot(), Some(Slot(4)));
    cluster.deliver_all();
    // 4. Slot 2 holds a duplicate: it is not applied, so 7 stays; the retry is answered.
    assert_eq!(register(&cluster, n(2)), Some(7));
    assert!(cluster.has_mark("paxos.duplicate_not_applied"));
    assert_eq!(cluster.reply_to(RequestId(1)), Some(&done(Datum::Null)));
    assert_eq!(cluster.reply_to(RequestId(2)), Some(&done(Datum::Null)));
    assert!(cluster.violation().is_none());
}
