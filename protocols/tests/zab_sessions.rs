//! ZooKeeper's sessions on ZAB, driven by hand: the leader expires a silent session through a
//! closeSession txn, every replica deletes the session's lock node at the same point of the
//! history, the next waiter holds the lock with a higher czxid, and the resource refuses the
//! expired holder's token.

use protocols::apps::lock::Safety;
use protocols::apps::zk_lock::{zxid_word, Belief, ZkLockConfig, ZkLockTable};
use protocols::apps::Application;
use protocols::zab::harness::Cluster;
use protocols::zab::node::SESSION_TRACKER;
use protocols::zab::Config;
use sim_core::history::{Function, Value};
use sim_core::id::{ClientId, NodeId, ProcessId, RequestId};
use sim_core::node::{Operation, Outcome};
use sim_core::time::Duration;

const TIMEOUT: Duration = Duration::from_millis(100);

fn ensemble() -> Cluster<ZkLockTable> {
    let table = ZkLockTable::new(&ZkLockConfig {
        locks: 1,
        session_timeout: TIMEOUT,
        margin: Duration::from_millis(20),
        belief: Belief::Timeout,
        safety: Safety::Holders,
        bugs: Default::default(),
    });
    let mut cluster = Cluster::new(3, Config::new(table), 11);
    cluster.settle(6);
    cluster
}

fn leader(cluster: &Cluster<ZkLockTable>) -> NodeId {
    let leaders = cluster.leaders();
    assert_eq!(leaders.len(), 1, "one established leader: {leaders:?}");
    leaders[0]
}

fn op(f: Function, value: Value) -> Operation {
    Operation {
        f,
        key: Some(0),
        value,
    }
}

/// Client `client` sends `operation` to `server` as `request` and gets its answer.
fn call(
    cluster: &mut Cluster<ZkLockTable>,
    server: NodeId,
    client: u32,
    request: u64,
    operation: Operation,
) -> Outcome {
    cluster.request(server, ClientId(client), RequestId(request), operation);
    cluster.deliver_all();
    cluster
        .reply_to(RequestId(request))
        .cloned()
        .unwrap_or_else(|| panic!("request {request} unanswered"))
}

fn token(outcome: &Outcome) -> u64 {
    match outcome {
        Outcome::Ok { token: Some(t), .. } => *t,
        other => panic!("not a grant: {other:?}"),
    }
}

#[test]
fn the_leader_expires_a_silent_session_and_every_replica_deletes_its_node_identically() {
    let mut cluster = ensemble();
    let leader = leader(&cluster);
    let follower = NodeId((leader.0 + 1) % 3);
    let first = call(
        &mut cluster,
        follower,
        0,
        1,
        op(Function::Acquire, Value::Null),
    );
    let first_token = token(&first);
    assert_eq!(
        first_token >> 32,
        cluster.node(leader).current_epoch(),
        "czxid: epoch on top"
    );
    assert_eq!(
        call(
            &mut cluster,
            follower,
            1,
            2,
            op(Function::Acquire, Value::Null)
        ),
        Outcome::Fail,
        "the second session waits behind the first"
    );
    assert_eq!(
        call(
            &mut cluster,
            leader,
            0,
            3,
            op(Function::Write, Value::pair(first_token as i64, 1))
        ),
        Outcome::Ok {
            value: Value::Null,
            token: None
        }
    );
    // Client 1 polls every 40ms; client 0 stays silent (paused). Nothing closes before the
    // timeout has run on the leader's clock.
    let mut request = 10;
    let mut polls = 0;
    while !cluster.has_mark("zab.session_closed") {
        assert!(polls < 10, "no session closed after {polls} polls");
        for _ in 0..4 {
            cluster.tick_all();
            cluster.deliver_all();
        }
        request += 1;
        polls += 1;
        call(
            &mut cluster,
            follower,
            1,
            request,
            op(Function::Acquire, Value::Null),
        );
    }
    assert!(polls >= 2, "closed after {polls} polls, before the timeout");
    cluster.settle(2);
    assert_eq!(
        cluster.mark_count("zab.session_closed"),
        1,
        "only client 0's session"
    );
    // Every replica ended session 0 at the same txn and holds the same state.
    let digests: Vec<u64> = (0..3)
        .map(|i| cluster.node(NodeId(i)).app().state_digest())
        .collect();
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    let closes: Vec<_> = (0..3)
        .map(|i| {
            let node = cluster.node(NodeId(i));
            let close = node
                .history()
                .iter()
                .find(|txn| txn.command.client == SESSION_TRACKER)
                .expect("a closeSession txn");
            assert_eq!(close.command.process, ProcessId(0));
            assert!(!node.app().has_session(ProcessId(0)));
            assert!(node.app().has_session(ProcessId(1)));
            close.zxid
        })
        .collect();
    assert!(closes.iter().all(|z| *z == closes[0]), "{closes:?}");
    // The waiter's node is the lowest now: its next poll is granted with its own czxid.
    request += 1;
    let second = call(
        &mut cluster,
        follower,
        1,
        request,
        op(Function::Acquire, Value::Null),
    );
    let second_token = token(&second);
    assert!(second_token > first_token);
    assert_eq!(
        cluster.node(leader).app().holder(Some(0)),
        Some((ProcessId(1), second_token))
    );
    // The expired holder's release fails (its node is gone); its late write with the old
    // czxid is refused once the new holder has written.
    request += 1;
    let ok = Outcome::Ok {
        value: Value::Null,
        token: None,
    };
    let write = |t: u64, payload: i64| op(Function::Write, Value::pair(t as i64, payload));
    assert_eq!(
        call(&mut cluster, leader, 1, request, write(second_token, 2)),
        ok
    );
    assert_eq!(
        call(
            &mut cluster,
            leader,
            0,
            4,
            op(Function::Release, Value::Int(first_token as i64))
        ),
        Outcome::Fail
    );
    assert_eq!(
        call(&mut cluster, leader, 0, 5, write(first_token, 3)),
        Outcome::Fail
    );
    assert_eq!(
        cluster.node(leader).app().resource(Some(0)),
        (second_token, 2)
    );
    assert!(cluster.violation().is_none(), "{:?}", cluster.violation());
}

#[test]
fn a_session_kept_alive_by_its_polls_is_never_closed_and_czxids_grow_across_epochs() {
    let mut cluster = ensemble();
    let old_leader = leader(&cluster);
    let server = NodeId((old_leader.0 + 1) % 3);
    let held = token(&call(
        &mut cluster,
        server,
        0,
        1,
        op(Function::Acquire, Value::Null),
    ));
    for request in 2..12 {
        for _ in 0..5 {
            cluster.tick_all();
            cluster.deliver_all();
        }
        let renewed = call(
            &mut cluster,
            server,
            0,
            request,
            op(Function::Acquire, Value::Null),
        );
        assert_eq!(token(&renewed), held, "a renewal keeps the czxid");
    }
    assert!(!cluster.has_mark("zab.session_closed"));
    // A new leader: client 1's node is created in a higher epoch, so its czxid is higher than
    // every czxid of the old epoch, whatever the counters.
    cluster.crash(old_leader);
    cluster.settle(30);
    let new_leader = leader(&cluster);
    assert_ne!(new_leader, old_leader);
    let waiting = call(
        &mut cluster,
        new_leader,
        1,
        20,
        op(Function::Acquire, Value::Null),
    );
    assert_eq!(
        waiting,
        Outcome::Fail,
        "the old holder keeps a full timeout"
    );
    assert!(zxid_word(cluster.node(new_leader).current_epoch(), 1) > held);
    // The old holder goes silent; the new leader closes its session a timeout after its
    // first txn and client 1 (polling) gets the lock with a higher czxid.
    let mut request = 21;
    while !cluster.has_mark("zab.session_closed") {
        assert!(request < 40, "no session closed");
        for _ in 0..4 {
            cluster.tick_all();
            cluster.deliver_all();
        }
        call(
            &mut cluster,
            new_leader,
            1,
            request,
            op(Function::Acquire, Value::Null),
        );
        request += 1;
    }
    let granted = token(&call(
        &mut cluster,
        new_leader,
        1,
        request,
        op(Function::Acquire, Value::Null),
    ));
    assert!(granted > held);
    assert!(cluster.violation().is_none(), "{:?}", cluster.violation());
}
