//! Each switchable Multi-Paxos mutation of BUGS.md §2, killed by a directed schedule: every
//! test runs the schedule with the mutation off (no violation, or no stale read) and on (the
//! violation the catalogue predicts).

mod paxos_support;

use paxos_support::*;
use protocols::mutation::Bug;
use protocols::paxos::{Ballot, Message, Slot};
use sim_core::history::Value as Datum;
use sim_core::id::{ClientId, RequestId};
use sim_core::node::{Outcome, Violation};
use sim_core::time::Duration;

fn invariant(violation: Option<&Violation>) -> Option<String> {
    violation.map(|violation| violation.invariant.clone())
}

fn is_phase_1(message: &Message) -> bool {
    matches!(message, Message::Prepare { .. } | Message::Promise { .. })
}

fn is_phase_2(message: &Message) -> bool {
    matches!(message, Message::Accept { .. } | Message::Accepted { .. })
}

/// P1 `paxos-accept-ignores-promise`, BUGS.md's schedule on three replicas: n0 leads ballot
/// 1.0 with n1's promise and proposes 1, but its accepts are delayed; n2 leads 1.2 with n1's
/// promise and gets 2 chosen on {n1, n2}; n0's delayed accept reaches n1, which (bug) accepts
/// the lower ballot: 1 is chosen on {n0, n1} too.
fn p1_schedule(bugs: &[Bug]) -> PaxosCluster {
    let mut cluster = log_cluster(3, bugs);
    cluster.timeout(n(0));
    cluster.drop_where(|e| e.to == n(2));
    cluster.deliver_all_where(|e| is_phase_1(&e.msg));
    assert!(cluster.node(n(0)).is_leader());
    cluster.drop_where(|_| true);
    cluster.request(n(0), ClientId(0), RequestId(1), put(1));
    let delayed = cluster.hold_where(|e| e.from == n(0));
    cluster.timeout(n(2));
    cluster.drop_where(|e| e.to == n(0));
    cluster.deliver_all_where(|e| is_phase_1(&e.msg));
    assert_eq!(cluster.node(n(2)).ballot(), Some(Ballot::new(1, n(2))));
    cluster.drop_where(|_| true);
    cluster.request(n(2), ClientId(1), RequestId(2), put(2));
    cluster.drop_where(|e| e.to == n(0));
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(2)), Some(&done(Datum::Null)));
    cluster.put_back(delayed);
    cluster.deliver_where(|e| e.to == n(1) && is_phase_2(&e.msg));
    cluster
}

#[test]
fn paxos_p1_accept_ignores_promise_is_killed_by_a_delayed_accept() {
    let correct = p1_schedule(&[]);
    assert_eq!(invariant(correct.violation()), None);
    assert!(correct.has_mark("paxos.accept_refused"));
    let mutant = p1_schedule(&[protocols::paxos::bugs::ACCEPT_IGNORES_PROMISE]);
    assert_eq!(invariant(mutant.violation()).as_deref(), Some("agreement"));
    assert!(mutant
        .violation()
        .unwrap()
        .message
        .contains("two values chosen in s1"));
}

/// P2 `paxos-accept-does-not-raise-promise` on five replicas (deep: three ballots and two
/// targeted delays). n0 leads 1.0 with {n0, n1, n2} and proposes 1 in slot 1, its accepts
/// delayed. n1 leads 2.1 with {n1, n2, n3} and gets 2 chosen on {n1, n2, n4}: n4 never promised
/// anything and (bug) its acceptance leaves its promise at zero. n0's delayed accept reaches n4,
/// which (bug) accepts the lower ballot over the chosen value. n3 then leads 3.3 with {n3, n0,
/// n4}: both report (1.0, 1), nobody reports 2, so n3 proposes 1 and gets it chosen.
fn p2_schedule(bugs: &[Bug]) -> PaxosCluster {
    let mut cluster = log_cluster(5, bugs);
    cluster.timeout(n(0));
    cluster.drop_where(|e| e.to == n(3) || e.to == n(4));
    cluster.deliver_all_where(|e| is_phase_1(&e.msg));
    assert!(cluster.node(n(0)).is_leader());
    cluster.drop_where(|_| true);
    cluster.request(n(0), ClientId(0), RequestId(1), put(1));
    let delayed = cluster.hold_where(|e| e.from == n(0));

    cluster.timeout(n(1));
    cluster.drop_where(|e| e.to == n(0) || e.to == n(4));
    cluster.deliver_all_where(|e| is_phase_1(&e.msg));
    assert_eq!(cluster.node(n(1)).ballot(), Some(Ballot::new(2, n(1))));
    cluster.drop_where(|_| true);
    cluster.request(n(1), ClientId(1), RequestId(2), put(2));
    cluster.drop_where(|e| e.to == n(0) || e.to == n(3));
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(2)), Some(&done(Datum::Null)));
    assert!(cluster.invariants().chosen(Slot(1)).is_some());

    cluster.put_back(delayed);
    cluster.deliver_where(|e| e.to == n(4) && is_phase_2(&e.msg));
    cluster.drop_where(|_| true);

    cluster.timeout(n(3));
    cluster.drop_where(|e| e.to == n(1) || e.to == n(2));
    cluster.deliver_all_where(|e| is_phase_1(&e.msg));
    assert_eq!(cluster.node(n(3)).ballot(), Some(Ballot::new(3, n(3))));
    cluster.drop_where(|e| e.to == n(1) || e.to == n(2));
    cluster.deliver_all_where(|e| is_phase_2(&e.msg));
    cluster
}

#[test]
fn paxos_p2_accept_does_not_raise_promise_is_killed_by_a_lower_ballot_overwrite() {
    let correct = p2_schedule(&[]);
    assert_eq!(invariant(correct.violation()), None);
    assert!(correct.has_mark("paxos.accept_refused"));
    let chosen: Vec<Option<i64>> = correct.node(n(3)).chosen().iter().map(written).collect();
    assert_eq!(chosen, vec![Some(2)], "n3 re-proposes the chosen 2");
    let mutant = p2_schedule(&[protocols::paxos::bugs::ACCEPT_DOES_NOT_RAISE_PROMISE]);
    assert_eq!(invariant(mutant.violation()).as_deref(), Some("agreement"));
}

/// P4 `paxos-ignore-accepted-value`, BUGS.md's schedule on three replicas: 5 is accepted by
/// {n0, n1} under 1.0 (chosen); n2 leads 1.2 with n1's promise reporting (1.0, 5) and (bug)
/// proposes its own value, a no-op, which {n1, n2} accept: two values chosen.
fn p4_schedule(bugs: &[Bug]) -> PaxosCluster {
    let mut cluster = log_cluster(3, bugs);
    lead(&mut cluster, n(0));
    propose_then_crash(&mut cluster, n(0), n(1), 1, 5);
    lead(&mut cluster, n(2));
    cluster
}

#[test]
fn paxos_p4_ignore_accepted_value_is_killed_by_a_new_leader() {
    let correct = p4_schedule(&[]);
    assert_eq!(invariant(correct.violation()), None);
    assert_eq!(register(&correct, n(2)), Some(5));
    let mutant = p4_schedule(&[protocols::paxos::bugs::IGNORE_ACCEPTED_VALUE]);
    assert_eq!(invariant(mutant.violation()).as_deref(), Some("agreement"));
}

/// The common start of the P6 schedules: n0 leads under leases, x=1 is written, and 50ms
/// later a heartbeat round renews the lease on n1 and n2. Then n0 is cut off.
fn leased_then_cut_off(bugs: &[Bug]) -> PaxosCluster {
    let mut cluster = lease_cluster(3, bugs);
    lead(&mut cluster, n(0));
    write_at(&mut cluster, n(0), 1, 1);
    cluster.advance(Duration::from_millis(50));
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    cluster
}

/// n0 is cut off; n1 times out and, if it gets to lead, writes x=2 (acknowledged); then a
/// client reads at n0. Returns n0's immediate answer to the read, if any, and whether x=2 was
/// acknowledged.
fn write_elsewhere_then_read(cluster: &mut PaxosCluster) -> (Option<Outcome>, bool) {
    cluster.isolate(n(0));
    cluster.timeout(n(1));
    cluster.deliver_all();
    if cluster.node(n(1)).is_leader() {
        write_at(cluster, n(1), 2, 2);
    }
    cluster.request(n(0), ClientId(1), RequestId(3), get());
    let read = cluster.reply_to(RequestId(3)).cloned();
    (read, cluster.reply_to(RequestId(2)).is_some())
}

/// P6 `multipaxos-lease-read-unsafe`, variant "followers do not wait out the lease": BUGS.md's
/// schedule with a wall-clock jump. 20ms after n0's renewal, n1's wall clock jumps 200ms ahead
/// so its leader timeout fires; n1 and n2 granted n0 a lease until 150ms after the renewal.
fn p6_follower_schedule(bugs: &[Bug]) -> (Option<Outcome>, bool) {
    let mut cluster = leased_then_cut_off(bugs);
    cluster.advance(Duration::from_millis(20));
    cluster.step_clock(n(1), 200_000_000);
    let outcome = write_elsewhere_then_read(&mut cluster);
    if bugs.is_empty() {
        assert!(cluster.has_mark("paxos.lease_wait"));
    }
    assert!(
        cluster.violation().is_none(),
        "P6 breaks linearizability, not agreement"
    );
    outcome
}

#[test]
fn paxos_p6_lease_read_unsafe_is_killed_when_followers_do_not_wait() {
    // Linearizability by hand: once x=2 is acknowledged, a read invoked later may answer 2 or
    // nothing, never 1.
    let (read, written) = p6_follower_schedule(&[]);
    assert!(
        !written,
        "the grants outlive n1's clock jump: nobody else leads"
    );
    assert_eq!(read, Some(done(Datum::Int(1))), "reading 1 is right");
    let (read, written) = p6_follower_schedule(&[protocols::paxos::bugs::LEASE_READ_UNSAFE]);
    assert!(written, "x=2 acknowledged");
    assert_eq!(read, Some(done(Datum::Int(1))), "stale read after x=2");
}

/// P6, variant "no drift margin": n0's clock runs 1,000 ppm slow (the configured bound). 150.05ms
/// after the renewal (true time) both grants have run out and n1 legitimately leads and writes
/// x=2, while n0's slow clock has measured only 149.9ms: inside a lease of 150ms, outside one
/// of 150ms less the 300µs margin.
fn p6_margin_schedule(bugs: &[Bug]) -> (Option<Outcome>, bool) {
    let mut cluster = leased_then_cut_off(bugs);
    cluster.set_drift(n(0), -1_000);
    cluster.advance(Duration::from_micros(150_050));
    write_elsewhere_then_read(&mut cluster)
}

#[test]
fn paxos_p6_lease_read_unsafe_is_killed_by_a_slow_leader_clock() {
    let (read, written) = p6_margin_schedule(&[]);
    assert!(written, "x=2 acknowledged");
    assert_eq!(
        read, None,
        "the margin ended the lease: the read goes through the log"
    );
    let (read, written) = p6_margin_schedule(&[protocols::paxos::bugs::LEASE_READ_UNSAFE]);
    assert!(written, "x=2 acknowledged");
    assert_eq!(read, Some(done(Datum::Int(1))), "stale read after x=2");
}
