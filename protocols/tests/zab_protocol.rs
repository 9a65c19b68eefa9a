//! ZAB driven by hand: elections, discovery, the three synchronization paths, broadcast
//! through followers, the read modes, and the epoch rules. Every test also checks that the
//! global oracle saw no violation.

use protocols::apps::kv::Kv;
use protocols::zab::harness::Cluster;
use protocols::zab::{
    Config, FollowerPhase, LeaderPacket, LearnerPacket, Message, ReadMode, Role, Zxid,
};
use sim_core::history::{Function, Value};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::node::{Operation, Outcome};

fn n(i: u32) -> NodeId {
    NodeId(i)
}

fn put(value: i64) -> Operation {
    Operation {
        f: Function::Write,
        key: None,
        value: Value::Int(value),
    }
}

fn get() -> Operation {
    Operation {
        f: Function::Read,
        key: None,
        value: Value::Null,
    }
}

fn ensemble(size: u32, configure: impl FnOnce(&mut Config<Kv>)) -> Cluster<Kv> {
    let mut config = Config::new(Kv::new());
    configure(&mut config);
    let mut cluster = Cluster::new(size, config, 7);
    cluster.settle(6);
    cluster
}

fn leader(cluster: &Cluster<Kv>) -> NodeId {
    let leaders = cluster.leaders();
    assert_eq!(leaders.len(), 1, "one established leader: {leaders:?}");
    leaders[0]
}

fn assert_clean(cluster: &Cluster<Kv>) {
    assert!(cluster.violation().is_none(), "{:?}", cluster.violation());
}

/// Client 0 writes `value` through `server` as request `request`; it is answered.
fn write(cluster: &mut Cluster<Kv>, server: NodeId, request: u64, value: i64) {
    cluster.request(server, ClientId(0), RequestId(request), put(value));
    cluster.settle(2);
    assert_eq!(
        cluster.reply_to(RequestId(request)),
        Some(&Outcome::Ok {
            value: Value::Null,
            token: None
        }),
        "write {request} through {server}"
    );
}

#[test]
fn boot_elects_one_leader_that_every_follower_syncs_with() {
    let cluster = ensemble(3, |_| {});
    // Equal votes (epoch 0, empty history): the highest server id wins.
    assert_eq!(leader(&cluster), n(2));
    for follower in [n(0), n(1)] {
        let node = cluster.node(follower);
        assert_eq!(node.role(), Role::Following);
        assert_eq!(node.leader(), Some(n(2)));
        assert_eq!(node.follower_phase(), Some(FollowerPhase::Broadcast));
        assert_eq!((node.accepted_epoch(), node.current_epoch()), (1, 1));
    }
    assert_eq!(cluster.invariants().leader_of(1), Some(n(2)));
    assert_clean(&cluster);
}

#[test]
fn a_write_through_a_follower_is_forwarded_broadcast_and_answered_there() {
    let mut cluster = ensemble(3, |_| {});
    write(&mut cluster, n(0), 1, 10);
    write(&mut cluster, n(1), 2, 20);
    for id in 0..3 {
        let node = cluster.node(n(id));
        assert_eq!(node.delivered(), 2, "{id}");
        let zxids: Vec<Zxid> = node.history().iter().map(|t| t.zxid).collect();
        assert_eq!(zxids, vec![Zxid::new(1, 1), Zxid::new(1, 2)]);
    }
    // The server the client asked answers (the follower), not the leader.
    assert!(cluster
        .replies()
        .iter()
        .any(|(server, _, id, _)| *server == n(0) && *id == RequestId(1)));
    assert_clean(&cluster);
}

#[test]
fn the_survivors_elect_the_most_up_to_date_server_and_the_old_leader_rejoins() {
    let mut cluster = ensemble(3, |_| {});
    write(&mut cluster, n(0), 1, 10);
    cluster.isolate(n(2));
    cluster.settle(12);
    // n2 lost its quorum and stepped down; n0 and n1 elected n1 (equal votes, higher id).
    assert_eq!(leader(&cluster), n(1));
    assert!(cluster.has_mark("zab.leader_lost_quorum"));
    write(&mut cluster, n(0), 2, 20);
    cluster.heal();
    cluster.settle(12);
    assert_eq!(leader(&cluster), n(1));
    let old = cluster.node(n(2));
    assert_eq!(old.follower_phase(), Some(FollowerPhase::Broadcast));
    assert_eq!(old.delivered(), 2);
    assert_eq!(old.current_epoch(), 2);
    assert_clean(&cluster);
}

#[test]
fn a_follower_behind_the_leader_gets_a_diff() {
    let mut cluster = ensemble(3, |_| {});
    write(&mut cluster, n(1), 1, 10);
    cluster.isolate(n(0));
    cluster.settle(1);
    write(&mut cluster, n(1), 2, 20);
    write(&mut cluster, n(2), 3, 30);
    cluster.heal();
    cluster.settle(12);
    let node = cluster.node(n(0));
    assert_eq!(node.follower_phase(), Some(FollowerPhase::Broadcast));
    assert_eq!(node.delivered(), 3);
    assert!(!cluster.has_mark("zab.trunc_sent"));
    assert!(!cluster.has_mark("zab.snap_sent"));
    assert_clean(&cluster);
}

#[test]
fn a_follower_below_the_committed_log_gets_a_snap_and_rebuilds_its_state() {
    let mut cluster = ensemble(3, |config| config.committed_log = 1);
    write(&mut cluster, n(1), 1, 10);
    cluster.isolate(n(0));
    cluster.settle(1);
    write(&mut cluster, n(1), 2, 20);
    write(&mut cluster, n(1), 3, 30);
    cluster.heal();
    cluster.settle(12);
    assert!(cluster.has_mark("zab.snap_sent"));
    assert!(cluster.has_mark("zab.state_reset"));
    let node = cluster.node(n(0));
    assert_eq!(node.delivered(), 3);
    assert_eq!(node.app(), cluster.node(n(2)).app());
    assert_clean(&cluster);
}

/// Leader n2 logs a proposal nobody else receives, then is cut off; n1 leads epoch 2 and
/// commits a txn. n2's last zxid (1,2) lies within the new leader's committed log but is not
/// in its history: TRUNC to (1,1), then DIFF.
#[test]
fn a_follower_with_a_txn_of_an_abandoned_epoch_gets_trunc_then_diff() {
    let mut cluster = ensemble(3, |_| {});
    write(&mut cluster, n(2), 1, 10);
    cluster.request(n(2), ClientId(1), RequestId(2), put(99));
    cluster.drop_where(|e| {
        matches!(
            e.msg,
            Message::ToLearner {
                packet: LeaderPacket::Proposal(_),
                ..
            }
        )
    });
    cluster.isolate(n(2));
    assert_eq!(cluster.node(n(2)).last_zxid(), Zxid::new(1, 2));
    cluster.settle(12);
    assert_eq!(leader(&cluster), n(1));
    write(&mut cluster, n(0), 3, 30);
    cluster.heal();
    cluster.settle(12);
    assert!(cluster.has_mark("zab.trunc_sent"));
    let old = cluster.node(n(2));
    let zxids: Vec<Zxid> = old.history().iter().map(|t| t.zxid).collect();
    assert_eq!(zxids, vec![Zxid::new(1, 1), Zxid::new(2, 1)]);
    assert_eq!(old.delivered(), 2);
    assert_clean(&cluster);
}

#[test]
fn a_follower_rejects_a_leaderinfo_below_its_accepted_epoch() {
    let mut cluster = ensemble(3, |_| {});
    cluster.crash(n(2));
    cluster.settle(15);
    assert_eq!(leader(&cluster), n(1));
    assert_eq!(cluster.node(n(0)).accepted_epoch(), 2);
    // n0 loses its leader and looks; the old leader n2 comes back with acceptedEpoch 1.
    cluster.isolate(n(0));
    cluster.settle(8);
    assert_eq!(cluster.node(n(0)).role(), Role::Looking);
    // n0 hears that n2 leads with n1's support, and opens a connection to it.
    let vote = protocols::zab::Vote {
        epoch: 1,
        zxid: Zxid::ZERO,
        sid: n(2),
    };
    let round = cluster.node(n(0)).round();
    for (from, state) in [
        (n(2), protocols::zab::message::ServerState::Leading),
        (n(1), protocols::zab::message::ServerState::Following),
    ] {
        cluster.heal();
        cluster.inject(from, n(0), Message::Notification { vote, round, state });
        cluster.deliver_where(|e| e.to == n(0) && matches!(e.msg, Message::Notification { .. }));
    }
    assert_eq!(cluster.node(n(0)).leader(), Some(n(2)));
    let conn = cluster
        .wire()
        .find_map(|e| match e.msg {
            Message::ToLeader {
                conn,
                packet: LearnerPacket::FollowerInfo { .. },
                ..
            } if e.from == n(0) => Some(conn),
            _ => None,
        })
        .expect("FOLLOWERINFO on the wire");
    // A leader of epoch 1 answers it: n0 promised epoch 2 and refuses.
    cluster.drop_where(|_| true);
    cluster.inject(
        n(2),
        n(0),
        Message::ToLearner {
            conn,
            seq: 0,
            epoch: 1,
            packet: LeaderPacket::LeaderInfo { new_epoch: 1 },
        },
    );
    cluster.deliver(n(2), n(0));
    assert!(cluster.has_mark("zab.follower_rejected_lower_epoch"));
    let node = cluster.node(n(0));
    assert_eq!(node.role(), Role::Looking);
    assert_eq!(node.accepted_epoch(), 2);
    assert_clean(&cluster);
}

#[test]
fn a_packet_of_an_older_epoch_on_a_new_connection_is_ignored() {
    let mut cluster = ensemble(3, |_| {});
    let accepted = cluster.node(n(0)).accepted_epoch();
    cluster.inject(
        n(2),
        n(0),
        Message::ToLearner {
            conn: 42,
            seq: 0,
            epoch: accepted - 1,
            packet: LeaderPacket::Commit {
                zxid: Zxid::new(0, 9),
            },
        },
    );
    cluster.deliver(n(2), n(0));
    assert!(cluster.has_mark("zab.stale_epoch_packet_ignored"));
    assert_eq!(
        cluster.node(n(0)).follower_phase(),
        Some(FollowerPhase::Broadcast)
    );
    assert_clean(&cluster);
}

#[test]
fn a_higher_election_round_moves_a_looking_server_along() {
    let mut cluster = Cluster::new(3, Config::new(Kv::new()), 7);
    // Every server boots in round 1; n0 restarts twice and is in round 1 again, but a
    // notification of round 5 arrives.
    let vote = protocols::zab::Vote {
        epoch: 0,
        zxid: Zxid::ZERO,
        sid: n(1),
    };
    cluster.drop_where(|_| true);
    cluster.inject(
        n(1),
        n(0),
        Message::Notification {
            vote,
            round: 5,
            state: protocols::zab::message::ServerState::Looking,
        },
    );
    cluster.deliver(n(1), n(0));
    assert!(cluster.has_mark("zab.election_round_bumped"));
    assert_eq!(cluster.node(n(0)).round(), 5);
    cluster.settle(6);
    assert_eq!(leader(&cluster), n(2));
    assert_clean(&cluster);
}

#[test]
fn local_reads_at_a_lagging_follower_are_stale_and_sync_reads_are_not() {
    let mut cluster = ensemble(3, |config| config.read_mode = ReadMode::Local);
    write(&mut cluster, n(2), 1, 10);
    // n0 misses the next write's COMMIT.
    cluster.request(n(2), ClientId(0), RequestId(2), put(20));
    cluster.deliver_all_where(|e| e.to != n(0));
    cluster.request(n(0), ClientId(1), RequestId(3), get());
    assert_eq!(
        cluster.reply_to(RequestId(3)),
        Some(&Outcome::Ok {
            value: Value::Int(10),
            token: None
        }),
        "a local read at a lagging follower returns the older value"
    );

    let mut cluster = ensemble(3, |config| config.read_mode = ReadMode::Sync);
    write(&mut cluster, n(2), 1, 10);
    cluster.request(n(2), ClientId(0), RequestId(2), put(20));
    cluster.deliver_all_where(|e| !(e.to == n(0) && matches!(e.msg, Message::ToLearner { .. })));
    cluster.request(n(0), ClientId(1), RequestId(3), get());
    assert_eq!(cluster.reply_to(RequestId(3)), None, "waits for the SYNC");
    cluster.deliver_all();
    assert_eq!(
        cluster.reply_to(RequestId(3)),
        Some(&Outcome::Ok {
            value: Value::Int(20),
            token: None
        }),
        "after SYNC the follower has the write"
    );
    assert_clean(&cluster);
}

#[test]
fn a_restarted_server_recovers_its_epochs_and_history_and_delivers_again() {
    let mut cluster = ensemble(3, |_| {});
    write(&mut cluster, n(0), 1, 10);
    write(&mut cluster, n(0), 2, 20);
    cluster.crash(n(0));
    cluster.restart(n(0));
    {
        let node = cluster.node(n(0));
        assert_eq!((node.accepted_epoch(), node.current_epoch()), (1, 1));
        assert_eq!(node.history().len(), 2);
        assert_eq!(node.delivered(), 0);
    }
    cluster.settle(10);
    assert!(cluster.has_mark("zab.recovered_with_history"));
    assert_eq!(cluster.node(n(0)).delivered(), 2);
    assert_clean(&cluster);
}

/// Z1 `zab-diff-without-trunc`: the TRUNC story above with the leader sending DIFF alone; n2
/// keeps (1,2), which was never committed, and delivers it.
#[test]
fn diff_without_trunc_delivers_a_txn_nobody_committed() {
    let mut cluster = ensemble(3, |config| {
        config.bugs = [protocols::zab::bugs::DIFF_WITHOUT_TRUNC]
            .into_iter()
            .collect();
    });
    write(&mut cluster, n(2), 1, 10);
    cluster.request(n(2), ClientId(1), RequestId(2), put(99));
    cluster.drop_where(|e| {
        matches!(
            e.msg,
            Message::ToLearner {
                packet: LeaderPacket::Proposal(_),
                ..
            }
        )
    });
    cluster.isolate(n(2));
    cluster.settle(12);
    write(&mut cluster, n(0), 3, 30);
    cluster.heal();
    cluster.settle(12);
    assert!(cluster.has_mark("mutation.zab-diff-without-trunc"));
    let violation = cluster.violation().expect("a violation");
    assert_eq!(violation.invariant, "total-order", "{violation}");
}
