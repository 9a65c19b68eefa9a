//! Ballots and phase 1 (Paxos Made Simple §2.2, §3): who leads, who is preempted, and that a
//! ballot is never reused.

mod paxos_support;

use paxos_support::*;
use protocols::paxos::{Ballot, Message, Role, Timer};
use sim_core::id::{ClientId, RequestId};
use sim_core::node::Outcome;
use sim_core::time::Duration;

#[test]
fn paxos_first_timeout_completes_phase_1_and_everyone_follows() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    let ballot = Ballot::new(1, n(0));
    assert_eq!(cluster.node(n(0)).ballot(), Some(ballot));
    assert_eq!(cluster.leaders(), vec![n(0)]);
    assert_eq!(cluster.invariants().leader_of(ballot), Some(n(0)));
    for id in 0..3 {
        assert_eq!(cluster.node(n(id)).acceptor().promised(), ballot);
    }
    // The leader's first heartbeat names it to the others; clients are redirected to it.
    for id in 1..3 {
        assert_eq!(cluster.node(n(id)).leader_hint(), Some(n(0)));
        assert_eq!(cluster.node(n(id)).role(), Role::Follower);
    }
    cluster.request(n(2), ClientId(0), RequestId(1), get());
    assert_eq!(
        cluster.reply_to(RequestId(1)),
        Some(&Outcome::Redirect { leader: Some(n(0)) })
    );
    assert!(!cluster.has_timer(n(0), |t| matches!(t, Timer::LeaderTimeout { .. })));
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_higher_ballot_preempts_the_leader() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    lead(&mut cluster, n(1));
    assert_eq!(cluster.node(n(1)).ballot(), Some(Ballot::new(2, n(1))));
    assert_eq!(
        cluster.leaders(),
        vec![n(1)],
        "n0 promised 2.1 and stepped down"
    );
    assert!(cluster.has_mark("paxos.preempted"));
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_dueling_candidates_resolve_by_ballot_order() {
    let mut cluster = log_cluster(3, &[]);
    cluster.timeout(n(0));
    cluster.timeout(n(1));
    cluster.deliver_all();
    // Both chose round 1; (1, n1) > (1, n0), so n0 and n2 end up promising n1.
    assert_eq!(cluster.leaders(), vec![n(1)]);
    assert_eq!(
        cluster.node(n(0)).acceptor().promised(),
        Ballot::new(1, n(1))
    );
    assert!(cluster.has_mark("paxos.prepare_refused") || cluster.has_mark("paxos.preempted"));
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_restarted_proposer_never_reuses_a_ballot() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    cluster.crash(n(0));
    cluster.restart(n(0));
    assert!(cluster.has_mark("paxos.recovered"));
    assert_eq!(
        cluster.node(n(0)).acceptor().promised(),
        Ballot::new(1, n(0)),
        "the promise is durable"
    );
    lead(&mut cluster, n(0));
    assert_eq!(cluster.node(n(0)).ballot(), Some(Ballot::new(2, n(0))));
}

#[test]
fn paxos_stale_leader_learns_of_the_new_ballot_from_a_nack() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    cluster.isolate(n(0));
    lead(&mut cluster, n(1));
    assert_eq!(cluster.leaders(), vec![n(0), n(1)], "n0 does not know yet");
    cluster.heal();
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    assert_eq!(cluster.leaders(), vec![n(1)]);
    assert!(cluster.has_mark("paxos.preempted"));
    assert!(cluster.violation().is_none());
}

#[test]
fn paxos_candidate_retries_with_a_higher_round_when_phase_1_stalls() {
    let mut cluster = log_cluster(3, &[]);
    cluster.timeout(n(2));
    cluster.drop_where(|e| matches!(e.msg, Message::Prepare { .. }));
    assert_eq!(cluster.node(n(2)).role(), Role::Candidate);
    cluster.timeout(n(2));
    cluster.deliver_all();
    assert_eq!(cluster.node(n(2)).ballot(), Some(Ballot::new(2, n(2))));
    assert!(cluster.node(n(2)).is_leader());
}

#[test]
fn paxos_leader_cut_off_from_a_majority_steps_down() {
    let mut cluster = log_cluster(3, &[]);
    lead(&mut cluster, n(0));
    cluster.isolate(n(0));
    // Acknowledgements from before the cut count for the first check window (300ms).
    for _ in 0..16 {
        cluster.advance(Duration::from_millis(50));
        if !cluster.node(n(0)).is_leader() {
            break;
        }
        cluster.heartbeat(n(0));
        cluster.deliver_all();
    }
    assert!(!cluster.node(n(0)).is_leader());
    assert!(cluster.has_mark("paxos.quorum_lost"));
    // With the majority it keeps leading.
    let mut healthy = log_cluster(3, &[]);
    lead(&mut healthy, n(0));
    for _ in 0..16 {
        healthy.advance(Duration::from_millis(50));
        healthy.heartbeat(n(0));
        healthy.deliver_all();
    }
    assert!(healthy.node(n(0)).is_leader());
}
