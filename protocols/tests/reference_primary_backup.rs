//! Hand-driven tests of asynchronous primary-backup replication (`protocols::primary_backup`):
//! each test scripts deliveries, drops, ticks, crashes and restarts over a tiny in-test
//! cluster, and states the claim it checks in its name.

use protocols::apps::Application;
use protocols::primary_backup::{
    Config, Epoch, Message, Offset, PrimaryBackup, Replication, Timer,
};
use sim_core::history::{Function, Value};
use sim_core::id::{ClientId, NodeId, ProcessId, RequestId};
use sim_core::node::{Ctx, Effect, Node, Operation, Outcome, Request, SyncToken};
use sim_core::prng::{Prng, Stream};
use sim_core::time::{Duration, Instant};
use std::collections::BTreeSet;

type Pb = PrimaryBackup;

/// A minimal hand-driven cluster: one clock for everyone, messages in flight in FIFO order,
/// disks with explicit sync, timers fired only when a test says so.
struct Cluster {
    config: Config,
    nodes: Vec<Option<Pb>>,
    synced: Vec<Vec<<Pb as Node>::Record>>,
    unsynced: Vec<Vec<<Pb as Node>::Record>>,
    rngs: Vec<Prng>,
    next_timers: Vec<u64>,
    now: Instant,
    in_flight: Vec<(NodeId, NodeId, Message<protocols::apps::kv::Kv>)>,
    /// Directed links that drop every message.
    cut: BTreeSet<(NodeId, NodeId)>,
    marks: Vec<(NodeId, &'static str)>,
    next_request: u64,
    /// `Ship` timers set and not yet fired, in the order they were set.
    ship_timers: Vec<(NodeId, Timer)>,
    /// Each node's last sync token (the disk is instant: a sync completes with its handler).
    sync_tokens: Vec<SyncToken>,
    /// Every answer any node gave, in order: (request id, outcome).
    replies: Vec<(u64, Outcome)>,
}

impl Cluster {
    fn new(node_count: u32, config: Config) -> Cluster {
        let n = node_count as usize;
        let mut cluster = Cluster {
            config,
            nodes: (0..n).map(|_| None).collect(),
            synced: vec![Vec::new(); n],
            unsynced: vec![Vec::new(); n],
            rngs: (0..node_count)
                .map(|i| Prng::new(7, Stream::Node(i)))
                .collect(),
            next_timers: vec![0; n],
            now: Instant(1_000_000),
            in_flight: Vec::new(),
            cut: BTreeSet::new(),
            marks: Vec::new(),
            next_request: 1,
            ship_timers: Vec::new(),
            sync_tokens: vec![SyncToken(0); n],
            replies: Vec::new(),
        };
        for i in 0..node_count {
            cluster.restart(NodeId(i));
        }
        cluster.deliver_all();
        cluster
    }

    fn node(&self, id: NodeId) -> &Pb {
        self.nodes[id.index()].as_ref().expect("node is up")
    }

    /// Runs `handler` on node `id` and performs the effects it recorded; when it synced, the
    /// node then hears that its disk is durable (`on_synced`), as on an instant disk, and the
    /// effects of that call follow.
    fn step<T>(
        &mut self,
        id: NodeId,
        handler: impl FnOnce(&mut Pb, &mut Ctx<'_, Pb>) -> T,
    ) -> (T, Vec<Effect<Pb>>) {
        let node_count = self.nodes.len() as u32;
        let mut effects = Vec::new();
        let node = self.nodes[id.index()].as_mut().expect("node is up");
        let before = self.sync_tokens[id.index()];
        let (result, synced) = {
            let mut ctx = Ctx::new(
                id,
                node_count,
                self.now,
                &mut self.rngs[id.index()],
                &mut effects,
                &mut self.next_timers[id.index()],
            )
            .with_last_sync_token(before);
            let result = handler(node, &mut ctx);
            (result, ctx.last_sync_token())
        };
        self.sync_tokens[id.index()] = synced;
        for effect in &effects {
            match effect {
                Effect::Send { to, msg } => self.in_flight.push((id, *to, msg.clone())),
                Effect::Broadcast { msg } => {
                    for to in (0..node_count).map(NodeId).filter(|&to| to != id) {
                        self.in_flight.push((id, to, msg.clone()));
                    }
                }
                Effect::Append { record } => self.unsynced[id.index()].push(record.clone()),
                Effect::Sync { .. } => {
                    let pending = std::mem::take(&mut self.unsynced[id.index()]);
                    self.synced[id.index()].extend(pending);
                }
                Effect::Mark { name } => self.marks.push((id, name)),
                Effect::SetTimer { timer, .. } => {
                    if matches!(timer, Timer::Ship { .. }) {
                        self.ship_timers.push((id, timer.clone()));
                    }
                }
                Effect::CancelTimer { .. } => {}
                Effect::Reply { reply, .. } => {
                    self.replies.push((reply.id.0, reply.outcome.clone()))
                }
                Effect::Observe { .. } => {}
                // Hand-driven contexts have crash points off.
                Effect::CrashPoint { .. } => {}
            }
        }
        if synced != before {
            effects.extend(self.synced(id, synced));
        }
        (result, effects)
    }

    /// `on_synced(token)` on node `id`, with the effects it recorded.
    fn synced(&mut self, id: NodeId, token: SyncToken) -> Vec<Effect<Pb>> {
        self.step(id, |node, ctx| node.on_synced(ctx, token)).1
    }

    /// Delivers messages in flight until none is left (dropping those on cut links or to
    /// down nodes).
    fn deliver_all(&mut self) {
        for _ in 0..10_000 {
            if self.in_flight.is_empty() {
                return;
            }
            let (from, to, msg) = self.in_flight.remove(0);
            if self.cut.contains(&(from, to)) || self.nodes[to.index()].is_none() {
                continue;
            }
            self.step(to, |node, ctx| node.on_message(ctx, from, msg));
        }
        panic!("messages never quiesced");
    }

    /// Delivers the message in flight at `index`; with `duplicate`, a copy stays in flight.
    fn deliver_one(&mut self, index: usize, duplicate: bool) {
        let (from, to, msg) = if duplicate {
            self.in_flight[index].clone()
        } else {
            self.in_flight.remove(index)
        };
        if self.cut.contains(&(from, to)) || self.nodes[to.index()].is_none() {
            return;
        }
        self.step(to, |node, ctx| node.on_message(ctx, from, msg));
    }

    /// Drops every message in flight to `to`.
    fn drop_in_flight_to(&mut self, to: NodeId) {
        self.in_flight
            .retain(|(_, destination, _)| *destination != to);
    }

    fn isolate(&mut self, id: NodeId) {
        for other in (0..self.nodes.len() as u32)
            .map(NodeId)
            .filter(|&o| o != id)
        {
            self.cut.insert((id, other));
            self.cut.insert((other, id));
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    fn tick(&mut self, id: NodeId) {
        self.step(id, |node, ctx| node.on_timer(ctx, Timer::Tick));
    }

    /// Fires every pending `Ship` timer (the replication delay has passed).
    fn fire_ship_timers(&mut self) {
        for (id, timer) in std::mem::take(&mut self.ship_timers) {
            if self.nodes[id.index()].is_some() {
                self.step(id, |node, ctx| node.on_timer(ctx, timer));
            }
        }
    }

    /// Lets `rounds` heartbeat intervals pass, ticking every live node each time.
    fn run_rounds(&mut self, rounds: u32) {
        for _ in 0..rounds {
            self.now += self.config.heartbeat;
            self.fire_ship_timers();
            for i in 0..self.nodes.len() as u32 {
                if self.nodes[i as usize].is_some() {
                    self.tick(NodeId(i));
                }
            }
            self.deliver_all();
        }
    }

    fn crash(&mut self, id: NodeId) {
        self.nodes[id.index()] = None;
        self.unsynced[id.index()].clear();
        // Timers are volatile.
        self.ship_timers.retain(|&(node, _)| node != id);
        self.drop_in_flight_to(id);
    }

    fn restart(&mut self, id: NodeId) {
        let node = Pb::recover(&self.config, id, &self.synced[id.index()]);
        self.nodes[id.index()] = Some(node);
        self.step(id, |node, ctx| node.on_start(ctx));
    }

    fn request(&mut self, at: NodeId, f: Function, value: Value) -> Outcome {
        let id = self.next_request;
        self.next_request += 1;
        self.request_with_id(at, id, f, value)
    }

    fn request_with_id(&mut self, at: NodeId, id: u64, f: Function, value: Value) -> Outcome {
        let request = Request {
            id: RequestId(id),
            client: ClientId((id % 5) as u32),
            process: ProcessId(id % 5),
            operation: Operation {
                f,
                key: Some(1),
                value,
            },
            attempt: 0,
        };
        let (_, effects) = self.step(at, |node, ctx| node.on_request(ctx, request));
        let replies: Vec<Outcome> = effects
            .into_iter()
            .filter_map(|e| match e {
                Effect::Reply { reply, .. } => Some(reply.outcome),
                _ => None,
            })
            .collect();
        assert_eq!(replies.len(), 1, "one reply per request");
        replies.into_iter().next().unwrap()
    }

    fn replicate_messages(&self) -> Vec<(NodeId, NodeId, Offset, usize)> {
        self.in_flight
            .iter()
            .filter_map(|(from, to, msg)| match msg {
                Message::Replicate {
                    first_offset,
                    commands,
                    ..
                } => Some((*from, *to, *first_offset, commands.len())),
                _ => None,
            })
            .collect()
    }

    fn read(&mut self, at: NodeId) -> Outcome {
        self.request(at, Function::Read, Value::Null)
    }

    fn write(&mut self, at: NodeId, value: i64) -> Outcome {
        self.request(at, Function::Write, Value::Int(value))
    }

    fn has_mark(&self, id: NodeId, name: &str) -> bool {
        self.marks
            .iter()
            .any(|&(node, mark)| node == id && mark == name)
    }

    fn value_at(&self, id: NodeId) -> Option<i64> {
        self.node(id).state().app().get(Some(1))
    }
}

fn ok(value: Value) -> Outcome {
    Outcome::Ok { value, token: None }
}

const N0: NodeId = NodeId(0);
const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

#[test]
fn primary_acknowledges_a_write_before_any_backup_has_it_then_replicates() {
    let mut cluster = Cluster::new(3, Config::default());
    assert!(cluster.node(N0).is_primary());
    assert_eq!(cluster.write(N0, 5), ok(Value::Null));
    assert_eq!(cluster.value_at(N0), Some(5));
    assert_eq!(
        cluster.value_at(N1),
        None,
        "acknowledged before replication"
    );
    cluster.deliver_all();
    for id in [N1, N2] {
        assert_eq!(cluster.value_at(id), Some(5));
        assert_eq!(cluster.node(id).offset(), Offset(1));
        assert_eq!(cluster.node(id).state(), cluster.node(N0).state());
    }
}

#[test]
fn backup_redirects_to_the_primary_unless_reads_from_backups_are_on() {
    let mut cluster = Cluster::new(3, Config::default());
    assert_eq!(cluster.read(N1), Outcome::Redirect { leader: Some(N0) });
    assert_eq!(cluster.write(N2, 1), Outcome::Redirect { leader: Some(N0) });
    let mut reading = Cluster::new(
        3,
        Config {
            read_from_backups: true,
            ..Config::default()
        },
    );
    assert_eq!(reading.read(N1), ok(Value::Null));
    assert_eq!(reading.write(N2, 1), Outcome::Redirect { leader: Some(N0) });
}

#[test]
fn backup_serves_a_stale_read_when_the_stream_has_not_reached_it() {
    let mut cluster = Cluster::new(
        3,
        Config {
            read_from_backups: true,
            ..Config::default()
        },
    );
    assert_eq!(cluster.write(N0, 5), ok(Value::Null));
    cluster.drop_in_flight_to(N1); // The command to n1 is lost.
    cluster.deliver_all();
    // n0's heartbeat tells n1 the stream is at offset 1; n1's read still returns the old value.
    cluster.tick(N0);
    cluster
        .in_flight
        .retain(|(_, to, msg)| *to != N1 || matches!(msg, Message::Heartbeat { .. }));
    cluster.deliver_all();
    assert_eq!(
        cluster.read(N1),
        ok(Value::Null),
        "the acknowledged write is not visible at n1"
    );
    assert!(cluster.has_mark(N1, "primary_backup.stale_read_served"));
    assert_eq!(cluster.read(N2), ok(Value::Int(5)));
}

#[test]
fn lost_command_is_repaired_by_resend_after_the_backups_heartbeat() {
    let mut cluster = Cluster::new(3, Config::default());
    cluster.write(N0, 1);
    cluster.drop_in_flight_to(N1);
    cluster.write(N0, 2);
    cluster.deliver_all();
    assert!(cluster.has_mark(N1, "primary_backup.stream_gap"));
    assert_eq!(
        cluster.node(N1).offset(),
        Offset(0),
        "the command after a gap is not applied"
    );
    // n1's next heartbeat is its acknowledgement and its resend request.
    cluster.run_rounds(1);
    assert!(cluster.has_mark(N0, "primary_backup.resent"));
    assert_eq!(cluster.node(N1).offset(), Offset(2));
    assert_eq!(cluster.value_at(N1), Some(2));
    // Duplicated delivery of an old command changes nothing.
    let stale = Message::Replicate {
        epoch: Epoch::INITIAL,
        first_offset: Offset(1),
        commands: vec![protocols::apps::Command {
            request: RequestId(1),
            client: ClientId(1),
            process: ProcessId(1),
            operation: Operation {
                f: Function::Write,
                key: Some(1),
                value: Value::Int(1),
            },
            stamp: protocols::apps::Stamp::default(),
        }],
    };
    cluster.in_flight.push((N0, N1, stale));
    cluster.deliver_all();
    assert_eq!(cluster.value_at(N1), Some(2));
}

#[test]
fn backup_recovers_its_state_from_synced_records_after_a_crash() {
    let mut cluster = Cluster::new(3, Config::default());
    cluster.write(N0, 1);
    cluster.request(N0, Function::Cas, Value::pair(1, 3));
    cluster.deliver_all();
    let before = cluster.node(N1).state().state_digest();
    cluster.crash(N1);
    cluster.restart(N1);
    assert_eq!(cluster.node(N1).state().state_digest(), before);
    assert_eq!(cluster.node(N1).offset(), Offset(2));
    assert!(cluster.has_mark(N1, "primary_backup.recovered_from_disk"));
    // The primary restarts as primary with everything it acknowledged.
    cluster.crash(N0);
    cluster.restart(N0);
    assert!(cluster.node(N0).is_primary());
    assert_eq!(cluster.read(N0), ok(Value::Int(3)));
}

#[test]
fn retried_write_at_the_primary_is_applied_and_streamed_once() {
    let mut cluster = Cluster::new(2, Config::default());
    assert_eq!(
        cluster.request_with_id(N0, 10, Function::Cas, Value::pair(0, 1)),
        Outcome::Fail
    );
    cluster.request_with_id(N0, 11, Function::Write, Value::Int(4));
    assert_eq!(
        cluster.request_with_id(N0, 12, Function::Cas, Value::pair(4, 5)),
        ok(Value::Null)
    );
    // The reply was lost; the client retries the same request.
    assert_eq!(
        cluster.request_with_id(N0, 12, Function::Cas, Value::pair(4, 5)),
        ok(Value::Null)
    );
    assert!(cluster.has_mark(N0, "primary_backup.duplicate_request"));
    assert_eq!(cluster.node(N0).offset(), Offset(3));
    cluster.deliver_all();
    assert_eq!(cluster.node(N1).state(), cluster.node(N0).state());
}

#[test]
fn failover_promotes_the_lowest_live_backup() {
    let mut cluster = Cluster::new(4, Config::default());
    cluster.write(N0, 7);
    cluster.deliver_all();
    // The primary and the lowest backup both die: n2 is the lowest live backup.
    cluster.crash(N0);
    cluster.crash(N1);
    cluster.run_rounds(12); // 600 ms > failover_timeout (500 ms).
    assert!(cluster.has_mark(N2, "primary_backup.promoted"));
    assert!(!cluster.has_mark(N3, "primary_backup.promoted"));
    assert!(cluster.node(N2).is_primary());
    assert_eq!(
        cluster.node(N2).epoch(),
        Epoch {
            number: 1,
            primary: N2
        }
    );
    assert_eq!(
        cluster.node(N3).epoch(),
        Epoch {
            number: 1,
            primary: N2
        }
    );
    assert_eq!(cluster.node(N3).synced_epoch(), cluster.node(N2).epoch());
    assert!(cluster.has_mark(N3, "primary_backup.snapshot_installed"));
    assert_eq!(cluster.read(N3), Outcome::Redirect { leader: Some(N2) });
    // The new primary keeps the replicated write and streams new ones.
    assert_eq!(cluster.read(N2), ok(Value::Int(7)));
    cluster.write(N2, 8);
    cluster.deliver_all();
    assert_eq!(cluster.value_at(N3), Some(8));
    // n1 restarts: it learns the new epoch and resynchronises.
    cluster.restart(N1);
    cluster.run_rounds(2);
    assert_eq!(cluster.value_at(N1), Some(8));
    assert!(!cluster.node(N1).is_primary());
}

#[test]
fn acknowledged_write_not_yet_replicated_is_lost_after_failover() {
    let mut cluster = Cluster::new(3, Config::default());
    cluster.write(N0, 1);
    cluster.deliver_all();
    assert_eq!(cluster.write(N0, 2), ok(Value::Null), "acknowledged");
    cluster.drop_in_flight_to(N1);
    cluster.drop_in_flight_to(N2);
    cluster.crash(N0);
    cluster.run_rounds(12);
    assert!(cluster.node(N1).is_primary());
    assert_eq!(
        cluster.read(N1),
        ok(Value::Int(1)),
        "the acknowledged write 2 is gone"
    );
    // The old primary comes back from its disk as primary of the old epoch, hears of the new
    // one, steps down and replaces its state (losing write 2 there too).
    cluster.restart(N0);
    cluster.run_rounds(2);
    assert!(cluster.has_mark(N0, "primary_backup.stepped_down"));
    assert!(!cluster.node(N0).is_primary());
    assert_eq!(cluster.value_at(N0), Some(1));
    assert_eq!(cluster.node(N0).state(), cluster.node(N1).state());
}

#[test]
fn isolated_primary_keeps_accepting_writes_then_steps_down_on_a_higher_epoch() {
    let mut cluster = Cluster::new(3, Config::default());
    cluster.isolate(N0);
    cluster.run_rounds(12);
    assert!(
        cluster.node(N1).is_primary(),
        "n1 promoted on its side of the partition"
    );
    // Split brain: both claim to be primary; the old one still acknowledges writes.
    assert!(cluster.node(N0).is_primary());
    assert_eq!(cluster.write(N0, 9), ok(Value::Null));
    assert_eq!(cluster.write(N1, 4), ok(Value::Null));
    cluster.heal();
    cluster.run_rounds(2);
    assert!(cluster.has_mark(N0, "primary_backup.stepped_down"));
    assert_eq!(
        cluster.node(N0).epoch(),
        Epoch {
            number: 1,
            primary: N1
        }
    );
    assert_eq!(cluster.read(N0), Outcome::Redirect { leader: Some(N1) });
    assert_eq!(cluster.value_at(N0), Some(4), "the write of 9 is lost");
    // A message of the deposed primary's stream still in flight is ignored.
    let late = Message::Replicate {
        epoch: Epoch::INITIAL,
        first_offset: Offset(1),
        commands: vec![],
    };
    cluster.in_flight.push((N0, N2, late));
    cluster.deliver_all();
    assert!(cluster.has_mark(N2, "primary_backup.stale_stream_ignored"));
}

fn delayed() -> Config {
    Config {
        read_from_backups: true,
        heartbeat: Duration::from_millis(50),
        failover_timeout: Duration::from_millis(500),
        resend_batch_max: 64,
        replication_delay: Duration::from_millis(30),
        ..Config::default()
    }
}

#[test]
fn zero_replication_delay_streams_each_write_in_the_step_that_acknowledges_it() {
    let mut cluster = Cluster::new(3, Config::default());
    let (_, effects) = cluster.step(N0, |node, ctx| {
        node.on_request(
            ctx,
            Request {
                id: RequestId(1),
                client: ClientId(1),
                process: ProcessId(1),
                operation: Operation {
                    f: Function::Write,
                    key: Some(1),
                    value: Value::Int(3),
                },
                attempt: 0,
            },
        )
    });
    assert!(effects
        .iter()
        .all(|e| !matches!(e, Effect::SetTimer { .. })));
    assert!(matches!(
        effects.last(),
        Some(Effect::Broadcast {
            msg: Message::Replicate { commands, first_offset: Offset(1), .. }
        }) if commands.len() == 1
    ));
    assert_eq!(cluster.replicate_messages().len(), 2, "one per backup");
    assert!(cluster.ship_timers.is_empty());
}

#[test]
fn held_back_writes_leave_in_one_batch_when_the_replication_delay_ends() {
    let mut cluster = Cluster::new(3, delayed());
    assert_eq!(
        cluster.write(N0, 1),
        ok(Value::Null),
        "acknowledged at once"
    );
    assert_eq!(cluster.write(N0, 2), ok(Value::Null));
    assert_eq!(
        cluster.ship_timers.len(),
        1,
        "the first held-back write arms"
    );
    assert!(cluster.replicate_messages().is_empty());
    // Heartbeats go round (the backups ask for what they miss): held-back writes are not
    // resent, so the backups still serve the initial value.
    cluster.tick(N0);
    cluster.tick(N1);
    cluster.tick(N2);
    cluster.deliver_all();
    assert!(!cluster.has_mark(N0, "primary_backup.resent"));
    assert_eq!(cluster.node(N1).offset(), Offset(0));
    assert_eq!(cluster.read(N1), ok(Value::Null));
    assert!(cluster.has_mark(N1, "primary_backup.stale_read_served"));
    cluster.fire_ship_timers();
    assert_eq!(
        cluster.replicate_messages(),
        vec![(N0, N1, Offset(1), 2), (N0, N2, Offset(1), 2)]
    );
    cluster.deliver_all();
    for id in [N1, N2] {
        assert_eq!(cluster.node(id).offset(), Offset(2));
        assert_eq!(cluster.read(id), ok(Value::Int(2)));
    }
    // The next write arms a fresh timer.
    cluster.write(N0, 3);
    assert_eq!(cluster.ship_timers.len(), 1);
}

#[test]
fn a_lost_batch_is_resent_up_to_the_shipped_offset_only() {
    let mut cluster = Cluster::new(3, delayed());
    cluster.write(N0, 1);
    cluster.fire_ship_timers();
    cluster.drop_in_flight_to(N1); // The batch to n1 is lost.
    cluster.deliver_all();
    cluster.write(N0, 2); // Held back.
    cluster.tick(N1);
    cluster.deliver_all();
    assert!(cluster.has_mark(N0, "primary_backup.resent"));
    assert_eq!(cluster.node(N1).offset(), Offset(1), "shipped, not held");
    cluster.fire_ship_timers();
    cluster.deliver_all();
    assert_eq!(cluster.node(N1).offset(), Offset(2));
}

#[test]
fn held_back_writes_are_lost_by_a_failover_and_a_deposed_primary_never_ships_them() {
    let mut cluster = Cluster::new(3, delayed());
    cluster.write(N0, 1);
    cluster.fire_ship_timers();
    cluster.deliver_all();
    cluster.isolate(N0);
    assert_eq!(cluster.write(N0, 2), ok(Value::Null), "acknowledged, held");
    assert_eq!(cluster.ship_timers.len(), 1);
    let timer = cluster.ship_timers[0].clone();
    cluster.ship_timers.clear();
    cluster.run_rounds(12);
    assert!(cluster.node(N1).is_primary());
    cluster.heal();
    cluster.run_rounds(2);
    assert!(cluster.has_mark(N0, "primary_backup.stepped_down"));
    // The old primary's timer fires after it stepped down: nothing leaves.
    cluster.ship_timers.push(timer);
    cluster.fire_ship_timers();
    assert!(cluster.replicate_messages().is_empty());
    cluster.deliver_all();
    for id in [N0, N1, N2] {
        assert_eq!(
            cluster.value_at(id),
            Some(1),
            "the write of 2 is lost at {id}"
        );
    }
}

#[test]
fn silence_shorter_than_the_failover_timeout_changes_nothing() {
    let mut cluster = Cluster::new(3, Config::default());
    cluster.isolate(N0);
    cluster.run_rounds(8); // 400 ms < 500 ms.
    cluster.heal();
    cluster.run_rounds(20);
    assert!(cluster.node(N0).is_primary());
    assert!(!cluster
        .marks
        .iter()
        .any(|&(_, mark)| mark == "primary_backup.promoted"));
}

/// Random schedules of requests, retries, drops, duplicates, reorderings, ticks, crashes,
/// restarts and partitions: no assertion inside the protocol fires, and once everything is
/// healed and restarted the replicas agree on one primary and one state.
#[test]
fn random_faults_keep_assertions_quiet_and_replicas_converge_after_healing() {
    for seed in 0..200 {
        let config = Config {
            read_from_backups: seed % 2 == 0,
            // Every third seed holds writes back; `Ship` timers then fire at random below.
            replication_delay: Duration::from_millis(if seed % 3 == 0 { 30 } else { 0 }),
            ..Config::default()
        };
        let mut cluster = Cluster::new(4, config.clone());
        let mut rng = Prng::new(seed, Stream::Custom(0));
        for _ in 0..500 {
            let node = NodeId(rng.below(4) as u32);
            let is_up = cluster.nodes[node.index()].is_some();
            match rng.below(100) {
                0..=29 if is_up => {
                    let value = rng.below(5) as i64;
                    let (f, argument) = match rng.below(3) {
                        0 => (Function::Read, Value::Null),
                        1 => (Function::Write, Value::Int(value)),
                        _ => (Function::Cas, Value::pair(value, value + 1)),
                    };
                    let issued = cluster.next_request - 1;
                    if issued > 5 && rng.below(4) == 0 {
                        // A retry of the latest request of some client slot.
                        let id = issued - rng.below(5);
                        cluster.request_with_id(node, id, f, argument);
                    } else {
                        cluster.request(node, f, argument);
                    }
                }
                30..=54 if !cluster.in_flight.is_empty() => {
                    let index = rng.below(cluster.in_flight.len() as u64) as usize;
                    cluster.deliver_one(index, rng.below(10) == 0);
                }
                55..=62 if !cluster.in_flight.is_empty() => {
                    let index = rng.below(cluster.in_flight.len() as u64) as usize;
                    cluster.in_flight.remove(index);
                }
                63..=84 => {
                    cluster.now += Duration(config.heartbeat.as_nanos() / 2);
                    if is_up {
                        cluster.tick(node);
                    }
                }
                85..=88 if is_up => cluster.crash(node),
                89..=94 if !is_up => cluster.restart(node),
                95..=96 => cluster.isolate(node),
                97 => cluster.fire_ship_timers(),
                98..=99 => cluster.heal(),
                _ => {}
            }
        }
        cluster.heal();
        for i in 0..4 {
            if cluster.nodes[i].is_none() {
                cluster.restart(NodeId(i as u32));
            }
        }
        cluster.deliver_all();
        cluster.run_rounds(40);
        let primaries: Vec<NodeId> = (0..4)
            .map(NodeId)
            .filter(|&id| cluster.node(id).is_primary())
            .collect();
        assert_eq!(primaries.len(), 1, "seed {seed}: primaries {primaries:?}");
        let primary = cluster.node(primaries[0]);
        for id in (0..4).map(NodeId) {
            let node = cluster.node(id);
            assert_eq!(node.epoch(), primary.epoch(), "seed {seed} {id}");
            assert_eq!(node.synced_epoch(), primary.epoch(), "seed {seed} {id}");
            assert_eq!(node.offset(), primary.offset(), "seed {seed} {id}");
            assert_eq!(node.state(), primary.state(), "seed {seed} {id}");
        }
    }
}

/// A write sent to `at` whose answer may come later: its request id.
fn send_write(cluster: &mut Cluster, at: NodeId, value: i64) -> u64 {
    let id = cluster.next_request;
    cluster.next_request += 1;
    let request = Request {
        id: RequestId(id),
        client: ClientId((id % 5) as u32),
        process: ProcessId(id % 5),
        operation: Operation {
            f: Function::Write,
            key: Some(1),
            value: Value::Int(value),
        },
        attempt: 0,
    };
    cluster.step(at, |node, ctx| node.on_request(ctx, request));
    id
}

fn answered(cluster: &Cluster, id: u64) -> bool {
    cluster.replies.iter().any(|(request, _)| *request == id)
}

fn sync_config() -> Config {
    Config {
        replication: Replication::Sync,
        ..Config::default()
    }
}

#[test]
fn sync_replication_answers_once_every_live_backup_has_the_write_on_disk() {
    let mut cluster = Cluster::new(3, sync_config());
    let id = send_write(&mut cluster, N0, 5);
    assert!(
        !answered(&cluster, id),
        "no answer before the backups acknowledged"
    );
    cluster.deliver_all();
    assert!(answered(&cluster, id));
    assert_eq!(cluster.value_at(N1), Some(5));
    assert_eq!(cluster.value_at(N2), Some(5));
    // The same write under Async is answered in the request's step.
    let mut asynchronous = Cluster::new(3, Config::default());
    let id = send_write(&mut asynchronous, N0, 5);
    assert!(answered(&asynchronous, id));
}

#[test]
fn sync_replication_stops_waiting_for_a_backup_silent_past_the_failover_timeout() {
    let mut cluster = Cluster::new(3, sync_config());
    cluster.crash(N2);
    let id = send_write(&mut cluster, N0, 6);
    cluster.deliver_all();
    assert!(!answered(&cluster, id), "n2 still counts as live");
    cluster.run_rounds(4); // 200 ms: not yet
    assert!(!answered(&cluster, id));
    cluster.run_rounds(8); // 600 ms > failover_timeout
    assert!(answered(&cluster, id));
    // n2 comes back and catches up; answers wait for it again.
    cluster.restart(N2);
    cluster.run_rounds(2);
    assert_eq!(cluster.value_at(N2), Some(6));
    let id = send_write(&mut cluster, N0, 7);
    cluster.deliver_all();
    assert!(answered(&cluster, id));
    assert_eq!(cluster.value_at(N2), Some(7));
}

#[test]
fn sync_failover_keeps_every_answered_write_and_promotes_the_furthest_backup() {
    let mut cluster = Cluster::new(3, sync_config());
    cluster.crash(N1);
    cluster.run_rounds(12); // n0 stops waiting for n1
    let id = send_write(&mut cluster, N0, 8);
    cluster.deliver_all();
    assert!(answered(&cluster, id));
    // n1 comes back behind, and the primary dies before n1 caught up.
    cluster.restart(N1);
    cluster.drop_in_flight_to(N0);
    cluster.crash(N0);
    cluster.drop_in_flight_to(N1); // n1 never hears of write 8 from n0
    cluster.run_rounds(12);
    // n1 is the lower id, but n2 is further: n2 takes over and write 8 survives.
    assert!(cluster.node(N2).is_primary());
    assert!(!cluster.has_mark(N1, "primary_backup.promoted"));
    assert_eq!(cluster.value_at(N2), Some(8));
    assert_eq!(cluster.value_at(N1), Some(8));
}

/// Redis's `min-replicas-to-write` on top of `Sync`: where `Sync` alone stops waiting for a
/// backup silent past `failover_timeout` (the test above), a rule of two backups keeps the
/// answer held until two backups have the write on disk, and refuses new writes (`Fail`, not
/// applied) while fewer than two acknowledged within `min_replicas_max_lag`.
#[test]
fn min_replicas_to_write_holds_answers_for_two_backups_and_refuses_writes_without_them() {
    let config = Config {
        min_replicas_to_write: 2,
        min_replicas_max_lag: Duration::from_millis(200),
        ..sync_config()
    };
    let mut cluster = Cluster::new(3, config);
    cluster.run_rounds(2); // both backups acknowledge
    let id = send_write(&mut cluster, N0, 5);
    cluster.deliver_all();
    assert!(answered(&cluster, id), "two backups hold it");
    cluster.crash(N2);
    let id = send_write(&mut cluster, N0, 6);
    cluster.deliver_all();
    cluster.run_rounds(12); // 600 ms > failover_timeout: Sync alone would answer by now
    assert!(!answered(&cluster, id), "only n1 holds write 6");
    assert_eq!(cluster.write(N0, 7), Outcome::Fail);
    assert!(cluster.has_mark(N0, "primary_backup.write_refused_min_replicas"));
    assert_eq!(
        cluster.value_at(N1),
        Some(6),
        "the refused write never entered the stream"
    );
    // n2 returns and catches up: write 6 is answered, and writes are accepted again.
    cluster.restart(N2);
    cluster.run_rounds(2);
    assert!(answered(&cluster, id));
    let id = send_write(&mut cluster, N0, 8);
    cluster.deliver_all();
    assert!(answered(&cluster, id));
    assert_eq!(cluster.value_at(N2), Some(8));
}
