//! Each switchable Raft mutation of BUGS.md §1, killed by its minimal schedule: every test
//! runs the schedule with the mutation off (no violation, or a fresh read) and on (the
//! violation the catalogue predicts).

mod raft_support;

use protocols::mutation::Bug;
use protocols::raft::harness::Cluster;
use protocols::raft::{Term, Timer};
use raft_support::*;
use sim_core::history::Value;
use sim_core::id::{ClientId, RequestId};
use sim_core::node::{Outcome, Violation};

fn invariant(violation: Option<Violation>) -> Option<String> {
    violation.map(|violation| violation.invariant)
}

/// R1 `raft-commit-prior-term`, Figure 8: counting replicas of a term-2 entry commits it, and
/// S5's later election in term 5 leaves it out of the leader's log.
#[test]
fn raft_r1_commit_prior_term_is_killed_by_figure_8() {
    let (_, violation) = figure_8(&[]);
    assert_eq!(invariant(violation), None);
    let (_, violation) = figure_8(&[protocols::raft::bugs::COMMIT_PRIOR_TERM]);
    assert_eq!(invariant(violation).as_deref(), Some("leader-completeness"));
}

/// R2 `raft-votedfor-not-durable` (variant A: the vote is written but not synced): a voter
/// that crashes and restarts after voting for n0 votes again for n1 in the same term.
fn r2_schedule(bugs: &[Bug]) -> Option<Violation> {
    let mut cluster = cluster(3, bugs);
    cluster.timeout(n(0));
    cluster.timeout(n(1));
    cluster.deliver(n(0), n(2));
    cluster.deliver(n(2), n(0));
    assert!(cluster.node(n(0)).is_leader());
    cluster.crash(n(2));
    cluster.restart(n(2));
    cluster.deliver(n(1), n(2));
    cluster.deliver(n(2), n(1));
    if bugs.is_empty() {
        assert!(!cluster.node(n(1)).is_leader());
        assert!(cluster.has_mark("raft.vote_rejected_already_voted"));
    }
    cluster.violation().cloned()
}

#[test]
fn raft_r2_votedfor_not_durable_is_killed_by_crash_after_vote() {
    assert_eq!(invariant(r2_schedule(&[])), None);
    assert_eq!(
        invariant(r2_schedule(&[protocols::raft::bugs::VOTEDFOR_NOT_DURABLE])).as_deref(),
        Some("election-safety")
    );
}

/// R4 `raft-no-election-restriction`: n0 commits a write on {n0, n1} and crashes; n2, which
/// lacks it, asks n1 for its vote.
fn r4_schedule(bugs: &[Bug]) -> Option<Violation> {
    let mut cluster = cluster(3, bugs);
    elect(&mut cluster, n(0));
    cluster.isolate(n(2));
    write_through(&mut cluster, n(0), 1, 5);
    cluster.crash(n(0));
    cluster.heal();
    cluster.timeout(n(2));
    cluster.deliver_all();
    if bugs.is_empty() {
        assert!(!cluster.node(n(2)).is_leader());
        assert!(cluster.has_mark("raft.vote_rejected_log"));
        elect(&mut cluster, n(1));
    }
    cluster.violation().cloned()
}

#[test]
fn raft_r4_no_election_restriction_is_killed_by_a_stale_candidate() {
    assert_eq!(invariant(r4_schedule(&[])), None);
    assert_eq!(
        invariant(r4_schedule(&[
            protocols::raft::bugs::NO_ELECTION_RESTRICTION
        ]))
        .as_deref(),
        Some("leader-completeness")
    );
}

/// R6 `raft-ack-before-fsync`: n1 acknowledges a write before syncing it, the write commits
/// and is acknowledged, then n1 and n0 crash losing their unsynced tails; n1 and n2 elect a
/// leader without the write.
fn r6_schedule(bugs: &[Bug]) -> Option<Violation> {
    let mut cluster: Cluster<Register> = cluster(3, bugs);
    elect(&mut cluster, n(0));
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    // Under the mutation the no-op is durable only after the deferred sync; let it happen.
    for id in 0..3 {
        if cluster.has_timer(n(id), |timer| *timer == Timer::DeferredSync) {
            cluster.fire(n(id), "deferred sync", |timer| {
                *timer == Timer::DeferredSync
            });
        }
    }
    cluster.isolate(n(2));
    write_through(&mut cluster, n(0), 1, 5);
    cluster.crash(n(1));
    cluster.crash(n(0));
    cluster.heal();
    cluster.restart(n(1));
    cluster.timeout(n(2));
    cluster.deliver_all();
    if bugs.is_empty() {
        assert!(
            !cluster.node(n(2)).is_leader(),
            "n1 kept the write and refuses n2"
        );
        elect(&mut cluster, n(1));
        assert_eq!(cluster.node(n(1)).current_term(), Term(3));
    }
    cluster.violation().cloned()
}

#[test]
fn raft_r6_ack_before_fsync_is_killed_by_losing_the_unsynced_tail() {
    assert_eq!(invariant(r6_schedule(&[])), None);
    assert_eq!(
        invariant(r6_schedule(&[protocols::raft::bugs::ACK_BEFORE_FSYNC])).as_deref(),
        Some("leader-completeness")
    );
}

/// R7 `raft-stale-read-no-readindex`: a client reads at a deposed leader cut off from the
/// majority after the new leader acknowledged x=2. Returns the read's reply, if any.
fn r7_schedule(bugs: &[Bug]) -> Option<Outcome> {
    let mut cluster = cluster(3, bugs);
    elect(&mut cluster, n(0));
    write_through(&mut cluster, n(0), 1, 1);
    cluster.isolate(n(0));
    elect(&mut cluster, n(1));
    write_through(&mut cluster, n(1), 2, 2);
    cluster.request(n(0), ClientId(1), RequestId(3), read());
    cluster.heartbeat(n(0));
    cluster.deliver_all();
    let reply = cluster.reply_to(RequestId(3)).cloned();
    if bugs.is_empty() {
        // Healing lets n0 learn of term 2: it steps down and redirects the waiting read.
        cluster.heal();
        cluster.heartbeat(n(0));
        cluster.deliver_all();
        assert_eq!(
            cluster.reply_to(RequestId(3)),
            Some(&Outcome::Redirect { leader: None })
        );
    }
    assert!(
        cluster.violation().is_none(),
        "R7 breaks linearizability, not a node invariant"
    );
    reply
}

#[test]
fn raft_r7_stale_read_is_killed_by_reading_at_a_deposed_leader() {
    // Linearizability, checked by hand: x=2 was acknowledged before the read was invoked, so
    // a read may return 2 or not return at all, never 1.
    assert_eq!(
        r7_schedule(&[]),
        None,
        "the deposed leader cannot confirm a ReadIndex round"
    );
    assert_eq!(
        r7_schedule(&[protocols::raft::bugs::STALE_READ_NO_READINDEX]),
        Some(ok(Value::Int(1))),
        "stale read"
    );
}
