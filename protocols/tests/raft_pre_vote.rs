//! Directed tests of PreVote (Raft thesis §9.6) on the hand-driven harness: a server cut off
//! and reconnected does not disrupt a healthy cluster (and does without PreVote), elections
//! still happen when the leader is really gone, and a pre-vote follows the election
//! restriction (§5.4.1) and changes no state at the voter.

mod raft_support;

use protocols::mutation::Bug;
use protocols::raft::harness::Cluster;
use protocols::raft::{Role, Term};
use raft_support::*;
use sim_core::history::Value;
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::time::Duration;

/// `Config::new`'s heartbeat interval and election timeout range, which these tests keep.
const HEARTBEAT: Duration = Duration::from_millis(50);
const ELECTION_TIMEOUT_MIN: Duration = Duration::from_millis(150);
const ELECTION_TIMEOUT_MAX: Duration = Duration::from_millis(300);

fn pre_vote_cluster(node_count: u32, pre_vote: bool, bugs: &[Bug]) -> Cluster<Register> {
    let mut config = config(bugs);
    assert_eq!(
        (
            config.heartbeat,
            config.election_timeout_min,
            config.election_timeout_max
        ),
        (HEARTBEAT, ELECTION_TIMEOUT_MIN, ELECTION_TIMEOUT_MAX)
    );
    config.pre_vote = pre_vote;
    Cluster::new(node_count, config, 7)
}

/// `rounds` heartbeat intervals of `leader`, each delivered in full.
fn beat(cluster: &mut Cluster<Register>, leader: NodeId, rounds: u32) {
    for _ in 0..rounds {
        cluster.advance(HEARTBEAT);
        cluster.heartbeat(leader);
        cluster.deliver_all();
    }
}

fn terms(cluster: &Cluster<Register>, nodes: &[u32]) -> Vec<Term> {
    nodes
        .iter()
        .map(|&id| cluster.node(n(id)).current_term())
        .collect()
}

/// The story PreVote exists for (thesis §9.6): n0 leads three nodes; n2 is cut off and its
/// election timer fires three times; it is reconnected and times out once more, just after
/// n0's last heartbeat reached n1. n2's log is as up-to-date as everyone's (nothing was
/// written meanwhile), so only PreVote's leader check stands between it and the leadership.
/// Returns n2's term when it was reconnected, and the cluster after its last timeout's
/// messages were delivered.
fn isolate_and_reconnect(pre_vote: bool) -> (Term, Cluster<Register>) {
    let mut cluster = pre_vote_cluster(3, pre_vote, &[]);
    elect(&mut cluster, n(0));
    write_through(&mut cluster, n(0), 1, 5);
    beat(&mut cluster, n(0), 1);
    cluster.isolate(n(2));
    for _ in 0..3 {
        // An election timeout's worth of heartbeats that n1 hears and n2 does not.
        beat(&mut cluster, n(0), 6);
        cluster.timeout(n(2));
        cluster.deliver_all();
    }
    let term_at_reconnect = cluster.node(n(2)).current_term();
    cluster.heal();
    cluster.timeout(n(2));
    cluster.deliver_all();
    (term_at_reconnect, cluster)
}

/// With PreVote the cut-off server never raises its term, and on reconnecting it is refused
/// by the leader and by n1, which heard the leader within the minimum election timeout: the
/// leader keeps its term, and n2 follows it again at its next heartbeat.
#[test]
fn raft_pre_vote_reconnected_server_does_not_disrupt_the_leader() {
    let (term_at_reconnect, mut cluster) = isolate_and_reconnect(true);
    assert_eq!(term_at_reconnect, Term(1), "pre-votes leave the term alone");
    assert!(cluster.has_mark("raft.pre_vote_rejected_leader_alive"));
    assert!(!cluster.has_mark("raft.pre_vote_rejected_log"));
    assert!(!cluster.has_mark("raft.step_down"));
    assert_eq!(cluster.leaders(), vec![n(0)]);
    assert_eq!(terms(&cluster, &[0, 1, 2]), vec![Term(1); 3]);
    assert_eq!(cluster.node(n(2)).role(), Role::PreCandidate);

    write_through(&mut cluster, n(0), 2, 6);
    beat(&mut cluster, n(0), 1);
    let n2 = cluster.node(n(2));
    assert_eq!(
        (n2.role(), n2.leader_id(), n2.current_term()),
        (Role::Follower, Some(n(0)), Term(1))
    );
    assert_eq!(n2.commit_index(), cluster.node(n(0)).commit_index());
    assert_eq!(n2.app().value, 6);
    assert!(cluster.violation().is_none());
}

/// The failing side of the story above: without PreVote the cut-off server counts its term up
/// on every timeout, and its first RequestVote after reconnecting deposes the healthy leader
/// and takes over at its own term.
#[test]
fn raft_without_pre_vote_reconnected_server_deposes_the_leader() {
    let (term_at_reconnect, cluster) = isolate_and_reconnect(false);
    assert_eq!(term_at_reconnect, Term(4), "one term per timeout");
    assert!(cluster.has_mark("raft.step_down"));
    assert_eq!(cluster.leaders(), vec![n(2)]);
    assert_eq!(terms(&cluster, &[0, 1, 2]), vec![Term(5); 3]);
    assert!(cluster.violation().is_none());
}

/// Liveness: once the leader crashes, a pre-vote fails while the followers' last heartbeat is
/// younger than the minimum election timeout, and the next timeout after that wins the
/// pre-vote and then the real election; election safety holds and the new leader serves.
#[test]
fn raft_pre_vote_elects_a_new_leader_after_the_leader_crashes() {
    let mut cluster = pre_vote_cluster(5, true, &[]);
    elect(&mut cluster, n(0));
    assert!(cluster.has_mark("raft.pre_vote_won"));
    write_through(&mut cluster, n(0), 1, 5);
    beat(&mut cluster, n(0), 1);
    cluster.crash(n(0));

    // Too early: every follower heard n0 less than election_timeout_min ago.
    cluster.advance(ELECTION_TIMEOUT_MIN - HEARTBEAT);
    cluster.timeout(n(1));
    cluster.deliver_all();
    assert!(cluster.has_mark("raft.pre_vote_rejected_leader_alive"));
    assert!(cluster.leaders().is_empty());
    assert_eq!(cluster.node(n(1)).role(), Role::PreCandidate);
    assert_eq!(terms(&cluster, &[1, 2, 3, 4]), vec![Term(1); 4]);
    // Like a candidate, it asks the silent peer (the crashed n0) again every heartbeat.
    cluster.advance(HEARTBEAT);
    cluster.heartbeat(n(1));
    let asked: Vec<NodeId> = cluster.wire().map(|envelope| envelope.to).collect();
    assert_eq!(asked, vec![n(0)]);
    assert!(cluster.has_mark("raft.pre_vote_retried"));
    cluster.deliver_all();

    // n1's next timeout: nobody has heard a leader for an election timeout.
    cluster.advance(ELECTION_TIMEOUT_MAX);
    cluster.timeout(n(1));
    cluster.deliver_votes();
    assert_eq!(cluster.leaders(), vec![n(1)]);
    assert_eq!(terms(&cluster, &[1, 2, 3, 4]), vec![Term(2); 4]);
    for id in [2, 3, 4] {
        assert_eq!(cluster.node(n(id)).voted_for(), Some(n(1)), "n{id}");
    }
    cluster.deliver_all();
    write_through(&mut cluster, n(1), 2, 7);
    cluster.request(n(1), ClientId(1), RequestId(3), read());
    beat(&mut cluster, n(1), 1);
    assert_eq!(cluster.reply_to(RequestId(3)), Some(&ok(Value::Int(7))));
    // The old leader returns as a follower of term 2 with the whole log.
    cluster.restart(n(0));
    beat(&mut cluster, n(1), 2);
    assert_eq!(cluster.node(n(0)).current_term(), Term(2));
    assert_eq!(cluster.node(n(0)).app().value, 7);
    assert_eq!(cluster.leaders(), vec![n(1)]);
    assert!(cluster.violation().is_none());
}

/// Two servers time out together: both win their pre-votes (each grants the other's), and
/// the real election of term 2 then has one winner, as without PreVote: n1's RequestVotes
/// reach n3 and n4 first.
#[test]
fn raft_pre_vote_concurrent_pre_candidates_elect_one_leader() {
    let mut cluster = leader_crashed(5);
    cluster.timeout(n(1));
    cluster.timeout(n(2));
    cluster.deliver_all();
    assert!(cluster.has_mark("raft.pre_vote_granted"));
    assert!(cluster.has_mark("raft.vote_rejected_already_voted"));
    assert_eq!(cluster.leaders(), vec![n(1)]);
    assert_eq!(terms(&cluster, &[1, 2, 3, 4]), vec![Term(2); 4]);
    assert!(cluster.violation().is_none());
}

/// §5.4.1 applies to pre-votes: n2 missed a committed write, so n1 refuses its pre-vote, and
/// n2 never becomes a candidate (no term is raised); n1 then wins with n2's pre-vote and vote.
#[test]
fn raft_pre_vote_is_refused_by_a_more_up_to_date_log() {
    let cluster = stale_pre_candidate(&[]);
    assert!(cluster.has_mark("raft.pre_vote_rejected_log"));
    assert_eq!(cluster.node(n(2)).role(), Role::PreCandidate);
    assert_eq!(terms(&cluster, &[1, 2]), vec![Term(1); 2]);
    assert_eq!(cluster.node(n(1)).voted_for(), Some(n(0)));

    let mut cluster = cluster;
    cluster.timeout(n(1));
    cluster.deliver_all();
    assert!(cluster.has_mark("raft.pre_vote_granted"));
    assert_eq!(cluster.leaders(), vec![n(1)]);
    assert_eq!(terms(&cluster, &[1, 2]), vec![Term(2); 2]);
    beat(&mut cluster, n(1), 1);
    assert_eq!(cluster.node(n(2)).app().value, 5);
    assert!(cluster.violation().is_none());
}

/// The failing side: with R4 (`raft-no-election-restriction`), which skips the up-to-date
/// check that votes and pre-votes share, n1 grants n2's pre-vote and vote, and n2 leads
/// without the committed write (leader completeness).
#[test]
fn raft_pre_vote_without_election_restriction_elects_a_stale_leader() {
    let cluster = stale_pre_candidate(&[protocols::raft::bugs::NO_ELECTION_RESTRICTION]);
    assert!(cluster.has_mark("mutation.raft-no-election-restriction"));
    assert_eq!(cluster.leaders(), vec![n(2)]);
    assert_eq!(cluster.node(n(2)).current_term(), Term(2));
    let violation = cluster.violation().expect("a stale leader is reported");
    assert_eq!(violation.invariant, "leader-completeness", "{violation:?}");
}

/// n0 commits a write on {n0, n1} while n2 is cut off, then crashes; n2 is reconnected and its
/// pre-vote (after an election timeout) reaches n1.
fn stale_pre_candidate(bugs: &[Bug]) -> Cluster<Register> {
    let mut cluster = pre_vote_cluster(3, true, bugs);
    elect(&mut cluster, n(0));
    cluster.isolate(n(2));
    write_through(&mut cluster, n(0), 1, 5);
    cluster.crash(n(0));
    cluster.heal();
    cluster.advance(ELECTION_TIMEOUT_MAX);
    cluster.timeout(n(2));
    cluster.deliver_all();
    cluster
}

/// n0 leads `node_count` nodes, crashes, and an election timeout passes: nobody has heard a
/// leader for that long.
fn leader_crashed(node_count: u32) -> Cluster<Register> {
    let mut cluster = pre_vote_cluster(node_count, true, &[]);
    elect(&mut cluster, n(0));
    beat(&mut cluster, n(0), 1);
    cluster.crash(n(0));
    cluster.advance(ELECTION_TIMEOUT_MAX);
    cluster
}

/// Granting a pre-vote changes nothing at the voter: not its term (the proposed term is not
/// adopted), not its vote, not its disk.
#[test]
fn raft_pre_vote_grant_changes_no_state() {
    let mut cluster = leader_crashed(3);
    let disks_before = [cluster.disk_len(n(1)), cluster.disk_len(n(2))];
    cluster.timeout(n(1));
    cluster.deliver(n(1), n(2));
    assert!(cluster.has_mark("raft.pre_vote_granted"));
    let n2 = cluster.node(n(2));
    assert_eq!(
        (n2.current_term(), n2.voted_for(), n2.role()),
        (Term(1), Some(n(0)), Role::Follower)
    );
    assert_eq!(
        [cluster.disk_len(n(1)), cluster.disk_len(n(2))],
        disks_before,
        "neither the pre-candidate nor the voter persisted anything"
    );
    assert_eq!(cluster.node(n(1)).current_term(), Term(1));
}

/// A pre-candidate a term behind (it was cut off while the others elected a leader of term 2)
/// is refused for the term it proposes and adopts the real term the refusals carry (§5.1),
/// without disturbing the leader.
#[test]
fn raft_pre_candidate_behind_learns_the_term_from_refusals() {
    let mut cluster = leader_crashed(5);
    cluster.isolate(n(4));
    cluster.timeout(n(1));
    cluster.deliver_all();
    assert_eq!(cluster.leaders(), vec![n(1)]);
    beat(&mut cluster, n(1), 1);
    cluster.heal();
    cluster.timeout(n(4));
    cluster.deliver_votes();
    assert!(cluster.has_mark("raft.pre_vote_rejected_term"));
    let n4 = cluster.node(n(4));
    assert_eq!((n4.current_term(), n4.role()), (Term(2), Role::Follower));
    assert_eq!(cluster.leaders(), vec![n(1)]);
    assert_eq!(terms(&cluster, &[1, 2, 3]), vec![Term(2); 3]);
    beat(&mut cluster, n(1), 1);
    assert_eq!(cluster.node(n(4)).leader_id(), Some(n(1)));
    assert!(cluster.violation().is_none());
}
