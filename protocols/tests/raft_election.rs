//! Directed tests of leader election (Raft §5.2, §5.4.1) on the hand-driven harness.

mod raft_support;

use protocols::raft::{LogIndex, Role, Term, Timer};
use raft_support::*;
use sim_core::history::Value;
use sim_core::id::{ClientId, RequestId};
use sim_core::node::Outcome;

/// §5.2: a node that times out becomes candidate, gathers a majority and leads.
#[test]
fn raft_a_leader_is_elected() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    assert_eq!(cluster.leaders(), vec![n(0)]);
    assert_eq!(cluster.node(n(0)).current_term(), Term(1));
    for id in [1, 2] {
        assert_eq!(cluster.node(n(id)).role(), Role::Follower);
        assert_eq!(cluster.node(n(id)).voted_for(), Some(n(0)));
        assert_eq!(cluster.node(n(id)).leader_id(), Some(n(0)));
    }
    // The no-op of term 1 is committed everywhere after one heartbeat.
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    for id in 0..3 {
        assert_eq!(cluster.node(n(id)).commit_index(), LogIndex(1), "n{id}");
    }
    assert!(cluster.has_timer(n(0), |timer| matches!(timer, Timer::Heartbeat { .. })));
    assert!(cluster.violation().is_none());
}

/// A single-node cluster elects itself and commits alone.
#[test]
fn raft_single_node_cluster_leads_and_commits_alone() {
    let mut cluster = cluster(1, &[]);
    elect(&mut cluster, n(0));
    write_through(&mut cluster, n(0), 1, 9);
    cluster.request(n(0), ClientId(1), RequestId(2), read());
    assert_eq!(cluster.reply_to(RequestId(2)), Some(&ok(Value::Int(9))));
}

/// A follower redirects clients to the leader it knows.
#[test]
fn raft_followers_redirect_clients() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    cluster.request(n(2), ClientId(0), RequestId(1), write(5));
    assert_eq!(
        cluster.reply_to(RequestId(1)),
        Some(&Outcome::Redirect { leader: Some(n(0)) })
    );
}

/// §5.1: a leader that sees a higher term steps down.
#[test]
fn raft_stale_leader_steps_down_on_higher_term() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    cluster.isolate(n(0));
    elect(&mut cluster, n(1));
    assert_eq!(cluster.leaders(), vec![n(0), n(1)], "n0 does not know yet");
    cluster.heal();
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    assert_eq!(cluster.leaders(), vec![n(1)]);
    assert_eq!(cluster.node(n(0)).current_term(), Term(2));
    assert!(cluster.has_mark("raft.step_down"));
    assert!(cluster.has_mark("raft.append_rejected_term"));
    assert!(cluster.violation().is_none());
}

/// §5.2: one vote per term: a second candidate of the same term is refused.
#[test]
fn raft_a_voter_grants_one_vote_per_term() {
    let mut cluster = cluster(3, &[]);
    cluster.timeout(n(0));
    cluster.timeout(n(1));
    // n2 hears n0 first and votes for it; n1's request of the same term is refused.
    cluster.deliver(n(0), n(2));
    cluster.deliver(n(1), n(2));
    cluster.deliver_all();
    assert!(cluster.has_mark("raft.vote_rejected_already_voted"));
    assert_eq!(cluster.leaders(), vec![n(0)]);
    assert!(cluster.violation().is_none());
}

/// §5.4.1: a candidate whose log is less up to date than a voter's is refused that vote.
#[test]
fn raft_candidate_with_stale_log_is_rejected() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    // n2 misses a committed write.
    cluster.isolate(n(2));
    write_through(&mut cluster, n(0), 1, 5);
    cluster.crash(n(0));
    cluster.heal();
    cluster.timeout(n(2));
    cluster.deliver_all();
    assert!(cluster.has_mark("raft.vote_rejected_log"));
    assert!(!cluster.node(n(2)).is_leader());
    // n1, which holds the write, can win.
    elect(&mut cluster, n(1));
    assert_eq!(
        cluster.node(n(1)).log().last_index(),
        LogIndex(3),
        "no-op 1, write, no-op 3"
    );
    assert!(cluster.violation().is_none());
}

/// Votes survive a crash: after restart the voter still refuses a second candidate.
#[test]
fn raft_vote_survives_restart() {
    let mut cluster = cluster(3, &[]);
    cluster.timeout(n(0));
    cluster.timeout(n(1));
    cluster.deliver(n(0), n(2));
    cluster.crash(n(2));
    cluster.restart(n(2));
    assert_eq!(cluster.node(n(2)).voted_for(), Some(n(0)));
    assert_eq!(cluster.node(n(2)).current_term(), Term(1));
    cluster.deliver(n(1), n(2));
    assert!(cluster.has_mark("raft.vote_rejected_already_voted"));
}

/// §5.1 ("servers retry RPCs if they do not receive a response in a timely manner"): a
/// candidate whose RequestVotes were lost asks again, every heartbeat interval, exactly the
/// voters that have not answered, and wins with their votes.
#[test]
fn raft_candidate_asks_silent_voters_again() {
    let mut cluster = cluster(5, &[]);
    cluster.timeout(n(0));
    cluster.deliver(n(0), n(1));
    cluster.deliver(n(1), n(0));
    cluster.drop_all();
    assert_eq!(cluster.node(n(0)).role(), Role::Candidate);
    cluster.heartbeat(n(0));
    let mut asked: Vec<u32> = cluster.wire().map(|envelope| envelope.to.0).collect();
    asked.sort_unstable();
    assert_eq!(
        asked,
        vec![2, 3, 4],
        "n1 answered, so only the others are asked"
    );
    assert!(cluster.has_mark("raft.vote_retried"));
    cluster.deliver_all();
    assert!(cluster.node(n(0)).is_leader());
    assert_eq!(cluster.node(n(0)).current_term(), Term(1));
    assert!(cluster.violation().is_none());
}
