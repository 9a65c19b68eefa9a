//! Directed tests of log replication and commitment (Raft §5.3, §5.4.2) and of recovery from
//! the disk, on the hand-driven harness.

mod raft_support;

use protocols::apps::{Application, Command};
use protocols::mutation::Bug;
use protocols::raft::harness::Cluster;
use protocols::raft::{Config, LogIndex, Term};
use raft_support::*;
use sim_core::history::Value;
use sim_core::id::{ClientId, RequestId};
use sim_core::node::{Operation, Outcome};

/// §5.3: an entry replicates to every follower, commits, applies, and the client gets `ok`.
#[test]
fn raft_a_log_replicates_and_commits() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    write_through(&mut cluster, n(0), 1, 5);
    write_through(&mut cluster, n(0), 2, 6);
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    for id in 0..3 {
        let node = cluster.node(n(id));
        assert_eq!(node.log().last_index(), LogIndex(3), "n{id}");
        assert_eq!(node.commit_index(), LogIndex(3), "n{id}");
        assert_eq!(node.last_applied(), LogIndex(3), "n{id}");
        assert_eq!(node.app().value, 6, "n{id}");
    }
    assert!(cluster.violation().is_none());
}

/// §5.3: a leader cut off from the majority appends but never commits, and never answers.
#[test]
fn raft_isolated_leader_cannot_commit() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    cluster.isolate(n(0));
    cluster.request(n(0), ClientId(0), RequestId(1), write(5));
    for _ in 0..3 {
        cluster.heartbeat(n(0));
        cluster.deliver_all();
    }
    let leader = cluster.node(n(0));
    assert_eq!(leader.log().last_index(), LogIndex(2));
    assert_eq!(leader.commit_index(), LogIndex(1));
    assert!(
        cluster.reply_to(RequestId(1)).is_none(),
        "no reply for an uncommitted write"
    );
    assert!(cluster.violation().is_none());
}

/// §5.3: a follower's conflicting uncommitted suffix is truncated and replaced by the new
/// leader's entries; the deposed leader's client gets no reply.
#[test]
fn raft_conflicting_suffix_is_truncated() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    cluster.isolate(n(0));
    cluster.request(n(0), ClientId(0), RequestId(1), write(5));
    cluster.deliver_all();
    elect(&mut cluster, n(1));
    write_through(&mut cluster, n(1), 2, 7);
    cluster.heal();
    cluster.heartbeat(n(1));
    cluster.deliver_all();
    cluster.heartbeat(n(1));
    cluster.deliver_all();
    assert!(cluster.has_mark("raft.truncate"));
    assert!(cluster.has_mark("raft.proposals_abandoned"));
    for id in 0..3 {
        let node = cluster.node(n(id));
        assert_eq!(node.log().terms(), vec![Term(1), Term(2), Term(2)], "n{id}");
        assert_eq!(node.app().value, 7, "n{id}");
    }
    assert!(cluster.reply_to(RequestId(1)).is_none());
    assert!(cluster.violation().is_none());
}

/// A write of client 0 commits on n0 and n1, n0 crashes before replying, and the client retries
/// the same request at n1 once n1 leads. Returns how often n1 and then n2 applied it.
fn retry_after_a_leader_change(bugs: &[Bug]) -> (u64, u64) {
    let mut cluster = cluster(3, bugs);
    elect(&mut cluster, n(0));
    cluster.request(n(0), ClientId(0), RequestId(1), write(5));
    // Committed on n0 and n1, but the reply is lost with n0's crash.
    cluster.deliver_all();
    cluster.crash(n(0));
    elect(&mut cluster, n(1));
    cluster.request(n(1), ClientId(0), RequestId(1), write(5));
    cluster.deliver_all();
    let replies: Vec<_> = cluster
        .replies()
        .iter()
        .filter(|(_, _, id, _)| *id == RequestId(1))
        .collect();
    assert!(!replies.is_empty());
    cluster.heartbeat(n(1));
    cluster.deliver_all();
    assert!(cluster.violation().is_none());
    (
        cluster.node(n(1)).app().applied,
        cluster.node(n(2)).app().applied,
    )
}

/// A retried request (same id) is applied once, through a leader change (thesis §6.3); with
/// the session table switched off (C2 `counter-retry-not-idempotent`) it is applied twice.
#[test]
fn raft_retried_request_is_applied_once() {
    assert_eq!(retry_after_a_leader_change(&[]), (1, 1), "applied once");
    assert_eq!(
        retry_after_a_leader_change(&[protocols::apps::counter::bugs::RETRY_NOT_IDEMPOTENT]),
        (2, 2),
        "without sessions the retry is a second command"
    );
}

/// A register whose `prepare_proposal` multiplies written values by ten, so that a test sees
/// where the hook ran: the leader proposes the rewritten command, and every replica applies
/// exactly that (the hook is not re-run when applying).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TenfoldRegister(Register);

impl Application for TenfoldRegister {
    fn apply(&mut self, command: &Command) -> Outcome {
        self.0.apply(command)
    }
    fn query(&self, operation: &Operation) -> Option<Outcome> {
        self.0.query(operation)
    }
    fn state_digest(&self) -> u64 {
        self.0.state_digest()
    }
    fn prepare_proposal(&self, operation: &Operation) -> Operation {
        let mut proposed = operation.clone();
        if let Some(value) = operation.value.as_int() {
            proposed.value = Value::Int(value * 10);
        }
        proposed
    }
}

/// The leader calls `Application::prepare_proposal` once on each fresh command; a retry of an
/// applied request is answered from the session table without proposing it again.
#[test]
fn raft_leader_proposes_what_prepare_proposal_returns() {
    let mut cluster = Cluster::new(3, Config::new(TenfoldRegister::default()), 7);
    cluster.timeout(n(0));
    cluster.deliver_all();
    cluster.request(n(0), ClientId(0), RequestId(1), write(5));
    cluster.deliver_all();
    assert_eq!(cluster.reply_to(RequestId(1)), Some(&ok(Value::Null)));
    cluster.request(n(0), ClientId(0), RequestId(1), write(5));
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    assert!(cluster.has_mark("raft.duplicate_answered_from_session"));
    for id in 0..3 {
        let node = cluster.node(n(id));
        assert_eq!(node.app().0.value, 50, "n{id} applied the proposed value");
        assert_eq!(node.app().0.applied, 1, "n{id} applied it once");
        assert_eq!(
            node.log().last_index(),
            LogIndex(2),
            "n{id}: no-op and one write"
        );
    }
}

/// A request retried while its first copy is still in flight is answered once it commits.
#[test]
fn raft_retry_of_an_in_flight_proposal_is_not_appended_twice() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    cluster.request(n(0), ClientId(0), RequestId(1), write(5));
    cluster.request(n(0), ClientId(0), RequestId(1), write(5));
    assert!(cluster.has_mark("raft.retry_in_flight"));
    cluster.deliver_all();
    assert_eq!(cluster.node(n(0)).log().last_index(), LogIndex(2));
    assert_eq!(cluster.reply_to(RequestId(1)), Some(&ok(Value::Null)));
}

/// Figure 2: term, vote and log survive a crash through synced records, truncation included;
/// commitIndex does not, and the restarted node re-applies once it learns it.
#[test]
fn raft_restart_rebuilds_term_vote_and_log_from_disk() {
    let mut cluster = cluster(3, &[]);
    elect(&mut cluster, n(0));
    write_through(&mut cluster, n(0), 1, 5);
    cluster.crash(n(2));
    cluster.restart(n(2));
    assert!(cluster.has_mark("raft.recovered_with_log"));
    let node = cluster.node(n(2));
    assert_eq!(node.current_term(), Term(1));
    assert_eq!(node.voted_for(), Some(n(0)));
    assert_eq!(node.log().last_index(), LogIndex(2));
    assert_eq!(
        node.commit_index(),
        LogIndex::ZERO,
        "commitIndex is volatile"
    );
    assert_eq!(node.app().value, 0, "the state machine is volatile");
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    assert_eq!(cluster.node(n(2)).app().value, 5);
    let (synced, written) = cluster.disk_len(n(2));
    assert_eq!(synced, written, "followers sync before acknowledging");
}

/// §5.3 fast backup: a follower far behind is caught up, and the leader's nextIndex backs up
/// by the follower's hint.
#[test]
fn raft_lagging_follower_catches_up() {
    let mut config = config(&[]);
    config.max_entries_per_append = 2;
    let mut cluster = protocols::raft::harness::Cluster::new(3, config, 7);
    elect(&mut cluster, n(0));
    cluster.isolate(n(2));
    for request in 1..=6 {
        write_through(&mut cluster, n(0), request, request as i64);
    }
    cluster.heal();
    for _ in 0..5 {
        cluster.heartbeat(n(0));
        cluster.deliver_all();
    }
    assert!(
        cluster.has_mark("raft.append_rejected_log")
            || cluster.node(n(2)).log().last_index() == LogIndex(7)
    );
    assert_eq!(cluster.node(n(2)).log().last_index(), LogIndex(7));
    assert_eq!(cluster.node(n(2)).app().value, 6);
    assert!(cluster.violation().is_none());
}

/// §5.4.2 without mutation: the Figure 8 schedule never commits an entry of an earlier term
/// by counting replicas, so when S5 later overwrites it nothing committed is lost.
#[test]
fn raft_figure_8_prior_term_entry_is_not_committed_by_counting() {
    let (cluster, violation) = figure_8(&[]);
    assert!(violation.is_none(), "{violation:?}");
    assert!(cluster.has_mark("raft.commit_deferred_prior_term"));
    assert!(cluster.has_mark("raft.truncate"));
}
