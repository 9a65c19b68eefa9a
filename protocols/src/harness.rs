//! A cluster of one consensus protocol's replicas driven by hand, for directed tests
//! (STYLE.md §7). Raft, Multi-Paxos and ZAB each add their own steps (`raft::harness`,
//! `paxos::harness`, `zab::harness`: firing their timers, delivering their vote traffic);
//! everything else is here, once.
//!
//! The test is the scheduler: nothing fires, arrives or crashes unless it says so. Each step
//! runs one handler of one replica through a real [`Ctx`] and then carries out the effects it
//! recorded, as the simulator would: messages join the wire (a FIFO the test may reorder,
//! drop from, or deliver selectively), timers wait in the replica's table until the test fires
//! them, records go to the replica's disk, observations to the protocol's invariant checker
//! (the first violation is kept and later ones ignored), replies and marks to lists the test
//! inspects.
//!
//! Every replica has its own [`Clock`], so that lease tests can give one replica a slow clock
//! (drift) or a wall-clock jump; [`Cluster::advance`] moves true time for all of them.
//!
//! A crash keeps only the synced prefix of the disk (the harshest power loss). Messages to a
//! crashed replica, or across a cut link, are lost when their turn comes. The disk is instant:
//! a replica hears of its last sync as soon as the handler's effects are carried out.

use sim_core::clock::Clock;
use sim_core::id::{ClientId, NodeId, ProcessId, RequestId, TimerId};
use sim_core::node::{
    Ctx, Effect, Invariants, Node, Operation, Outcome, Request, SyncToken, Violation,
};
use sim_core::prng::{Prng, Stream};
use sim_core::time::{Duration, Instant};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A replica the harness can drive: a [`Node`] with a global invariant checker and a notion of
/// leadership.
pub trait Driven: Node {
    /// The protocol's invariant checker (the global oracle).
    type Oracle: Invariants<Self::Observation>;

    /// A fresh checker, as at the start of a run.
    fn oracle() -> Self::Oracle;

    /// This replica's id.
    fn replica_id(&self) -> NodeId;

    /// Does this replica believe it leads?
    fn believes_it_leads(&self) -> bool;
}

/// A handler of a replica, as [`Cluster`] runs it.
type Handler<'h, N> = dyn FnMut(&mut N, &mut Ctx<'_, N>) + 'h;

/// One message on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<M> {
    /// The sender.
    pub from: NodeId,
    /// The addressee.
    pub to: NodeId,
    /// The message.
    pub msg: M,
}

/// The most messages [`Cluster::deliver_all`] delivers before it calls the run a livelock.
pub const DELIVERIES_MAX: usize = 200_000;

/// Everything the harness keeps for one replica, up or down.
struct Replica<N: Node> {
    /// `None` while crashed.
    state: Option<N>,
    records: Vec<N::Record>,
    /// How many of `records` are durable.
    synced_count: usize,
    clock: Clock,
    rng: Prng,
    next_timer: u64,
    /// The last sync token handed out (tokens keep growing across restarts).
    last_sync_token: SyncToken,
    pending_timers: BTreeMap<TimerId, N::Timer>,
}

/// A cluster of replicas under the test's control.
pub struct Cluster<N: Driven> {
    config: N::Config,
    replicas: Vec<Replica<N>>,
    /// True simulated time.
    now: Instant,
    wire: VecDeque<Envelope<N::Msg>>,
    /// Directed links that lose every message.
    cuts: BTreeSet<(NodeId, NodeId)>,
    invariants: N::Oracle,
    violation: Option<Violation>,
    replies: Vec<(NodeId, ClientId, RequestId, Outcome)>,
    marks: BTreeMap<&'static str, u64>,
}

impl<N: Driven> Cluster<N> {
    /// `node_count` replicas booted from empty disks, with perfect clocks; replica `i` draws
    /// from stream `Node(i)` of `seed`.
    pub fn new(node_count: u32, config: N::Config, seed: u64) -> Cluster<N> {
        assert!(node_count > 0, "a cluster needs a replica");
        let replicas = (0..node_count)
            .map(|i| Replica {
                state: None,
                records: Vec::new(),
                synced_count: 0,
                clock: Clock::default(),
                rng: Prng::new(seed, Stream::Node(i)),
                next_timer: 0,
                last_sync_token: SyncToken(0),
                pending_timers: BTreeMap::new(),
            })
            .collect();
        let mut cluster = Cluster {
            config,
            replicas,
            now: Instant::ZERO,
            wire: VecDeque::new(),
            cuts: BTreeSet::new(),
            invariants: N::oracle(),
            violation: None,
            replies: Vec::new(),
            marks: BTreeMap::new(),
        };
        for i in 0..node_count {
            cluster.restart(NodeId(i));
        }
        cluster
    }

    /// How many replicas the cluster has.
    pub fn size(&self) -> u32 {
        self.replicas.len() as u32
    }

    /// The configuration every replica boots with.
    pub fn config(&self) -> &N::Config {
        &self.config
    }

    /// Runs `handler` on replica `id` and carries out its effects.
    fn run(&mut self, id: NodeId, handler: impl FnOnce(&mut N, &mut Ctx<'_, N>)) {
        let mut handler = Some(handler);
        self.run_dyn(id, &mut |node, ctx| {
            (handler.take().expect("a handler runs once"))(node, ctx)
        });
    }

    /// [`Cluster::run`] without generics, so that it can call itself for `on_synced`.
    fn run_dyn(&mut self, id: NodeId, handler: &mut Handler<'_, N>) {
        let size = self.size();
        let now = self.now;
        let replica = &mut self.replicas[id.index()];
        let mut state = replica
            .state
            .take()
            .unwrap_or_else(|| panic!("{id} is crashed"));
        let local = replica.clock.local(now);
        let monotonic = replica.clock.monotonic(now);
        let mut effects = Vec::new();
        {
            let mut ctx = Ctx::new(
                id,
                size,
                local,
                &mut replica.rng,
                &mut effects,
                &mut replica.next_timer,
            )
            .with_monotonic_now(monotonic)
            .with_last_sync_token(replica.last_sync_token);
            handler(&mut state, &mut ctx);
            replica.last_sync_token = ctx.last_sync_token();
        }
        self.replicas[id.index()].state = Some(state);
        let mut synced = None;
        for effect in effects {
            if let Effect::Sync { token } = effect {
                synced = Some(token);
            }
            self.carry_out(id, effect);
        }
        if let Some(token) = synced {
            if self.replicas[id.index()].state.is_some() {
                self.run_dyn(id, &mut |node, ctx| node.on_synced(ctx, token));
            }
        }
    }

    fn carry_out(&mut self, id: NodeId, effect: Effect<N>) {
        let replica = &mut self.replicas[id.index()];
        match effect {
            Effect::Send { to, msg } => self.wire.push_back(Envelope { from: id, to, msg }),
            Effect::Broadcast { msg } => {
                for to in (0..self.size()).map(NodeId).filter(|&to| to != id) {
                    let msg = msg.clone();
                    self.wire.push_back(Envelope { from: id, to, msg });
                }
            }
            Effect::SetTimer {
                id: timer,
                timer: payload,
                ..
            } => {
                replica.pending_timers.insert(timer, payload);
            }
            Effect::CancelTimer { id: timer } => {
                replica.pending_timers.remove(&timer);
            }
            Effect::Append { record } => replica.records.push(record),
            Effect::Sync { .. } => replica.synced_count = replica.records.len(),
            Effect::Reply { client, reply } => {
                self.replies.push((id, client, reply.id, reply.outcome));
            }
            Effect::Observe { observation } => {
                let outcome = self.invariants.observe(self.now, id, &observation);
                if let (Err(violation), None) = (outcome, &self.violation) {
                    self.violation = Some(violation);
                }
            }
            Effect::Mark { name } => *self.marks.entry(name).or_insert(0) += 1,
            // Hand-driven contexts have crash points off: the harness crashes nodes itself.
            Effect::CrashPoint { .. } => {}
        }
    }

    // ----- time and timers --------------------------------------------------------------------

    /// Moves true time forward by `by`; each replica's clock follows at its own rate.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// True simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Sets replica `id`'s clock rate error, in ppm (negative: slow).
    pub fn set_drift(&mut self, id: NodeId, drift_ppm: i32) {
        let now = self.now;
        self.replicas[id.index()].clock.set_drift(now, drift_ppm);
    }

    /// Steps replica `id`'s wall clock by `delta_nanos` (its monotonic clock does not jump).
    pub fn step_clock(&mut self, id: NodeId, delta_nanos: i64) {
        let now = self.now;
        self.replicas[id.index()].clock.step(now, delta_nanos);
    }

    /// Replica `id`'s monotonic clock reading now.
    pub fn monotonic_now(&self, id: NodeId) -> Instant {
        self.replicas[id.index()].clock.monotonic(self.now)
    }

    /// Fires replica `id`'s newest pending timer that `wanted` accepts; false if none.
    pub fn fire_where(&mut self, id: NodeId, wanted: impl Fn(&N::Timer) -> bool) -> bool {
        let replica = &mut self.replicas[id.index()];
        let found = replica
            .pending_timers
            .iter()
            .rev()
            .find(|(_, timer)| wanted(timer))
            .map(|(&timer_id, _)| timer_id);
        let Some(timer_id) = found else {
            return false;
        };
        let timer = replica
            .pending_timers
            .remove(&timer_id)
            .expect("found above");
        self.run(id, |node, ctx| node.on_timer(ctx, timer));
        true
    }

    /// Fires replica `id`'s newest pending timer that `wanted` accepts.
    ///
    /// # Panics
    /// If there is none (`kind` names it in the message).
    pub fn fire(&mut self, id: NodeId, kind: &str, wanted: impl Fn(&N::Timer) -> bool) {
        let fired = self.fire_where(id, wanted);
        assert!(fired, "{id} has no {kind} timer pending");
    }

    /// Is a timer that `wanted` accepts pending at replica `id`?
    pub fn has_timer(&self, id: NodeId, wanted: impl Fn(&N::Timer) -> bool) -> bool {
        self.replicas[id.index()]
            .pending_timers
            .values()
            .any(wanted)
    }

    // ----- the wire ---------------------------------------------------------------------------

    /// The messages on the wire, oldest first.
    pub fn wire(&self) -> impl Iterator<Item = &Envelope<N::Msg>> {
        self.wire.iter()
    }

    /// Delivers the oldest message that `wanted` accepts (or loses it, across a cut or to a
    /// crashed replica); false if there is none.
    pub fn deliver_where(&mut self, wanted: impl Fn(&Envelope<N::Msg>) -> bool) -> bool {
        let Some(position) = self.wire.iter().position(wanted) else {
            return false;
        };
        let envelope = self.wire.remove(position).expect("position on the wire");
        let Envelope { from, to, msg } = envelope;
        let lost = self.cuts.contains(&(from, to)) || self.replicas[to.index()].state.is_none();
        if !lost {
            self.run(to, |node, ctx| node.on_message(ctx, from, msg));
        }
        true
    }

    /// Puts a message of the test's own making at the back of the wire, as if `from` had
    /// sent it (a delayed or stale packet).
    pub fn inject(&mut self, from: NodeId, to: NodeId, msg: N::Msg) {
        self.wire.push_back(Envelope { from, to, msg });
    }

    /// Delivers the oldest message from `from` to `to`.
    ///
    /// # Panics
    /// If there is none.
    pub fn deliver(&mut self, from: NodeId, to: NodeId) {
        let found = self.deliver_where(|e| e.from == from && e.to == to);
        assert!(found, "nothing on the wire from {from} to {to}");
    }

    /// Delivers messages oldest first, including those the deliveries send, until the wire
    /// holds none that `wanted` accepts.
    ///
    /// # Panics
    /// After [`DELIVERIES_MAX`] deliveries (a livelock).
    pub fn deliver_all_where(&mut self, wanted: impl Fn(&Envelope<N::Msg>) -> bool) {
        for _ in 0..DELIVERIES_MAX {
            if !self.deliver_where(&wanted) {
                return;
            }
        }
        panic!("still delivering after {DELIVERIES_MAX} messages");
    }

    /// Delivers everything until the wire is empty.
    pub fn deliver_all(&mut self) {
        self.deliver_all_where(|_| true);
    }

    /// Loses every message on the wire that `unwanted` accepts.
    pub fn drop_where(&mut self, unwanted: impl Fn(&Envelope<N::Msg>) -> bool) {
        self.wire.retain(|envelope| !unwanted(envelope));
    }

    /// Loses every message on the wire.
    pub fn drop_all(&mut self) {
        self.wire.clear();
    }

    /// Takes every message that `wanted` accepts off the wire, to be put back later with
    /// [`Cluster::put_back`] (a targeted delay).
    pub fn hold_where(
        &mut self,
        wanted: impl Fn(&Envelope<N::Msg>) -> bool,
    ) -> Vec<Envelope<N::Msg>> {
        let (held, kept): (Vec<_>, Vec<_>) =
            self.wire.drain(..).partition(|envelope| wanted(envelope));
        self.wire = kept.into();
        held
    }

    /// Puts held messages back on the wire, behind everything else.
    pub fn put_back(&mut self, held: Vec<Envelope<N::Msg>>) {
        self.wire.extend(held);
    }

    /// Cuts the links between `node` and every other replica, both ways.
    pub fn isolate(&mut self, node: NodeId) {
        for other in (0..self.size()).map(NodeId).filter(|&other| other != node) {
            self.cuts.insert((node, other));
            self.cuts.insert((other, node));
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cuts.clear();
    }

    // ----- crashes ----------------------------------------------------------------------------

    /// Crashes replica `id`: its volatile state, its timers and its unsynced records are gone.
    /// Messages already on the wire to it stay there: lost if delivered while it is down,
    /// received if it has restarted by then.
    pub fn crash(&mut self, id: NodeId) {
        let replica = &mut self.replicas[id.index()];
        assert!(replica.state.take().is_some(), "{id} is crashed already");
        replica.records.truncate(replica.synced_count);
        replica.pending_timers.clear();
        self.invariants.on_crash(self.now, id);
    }

    /// Boots replica `id` from its synced records.
    pub fn restart(&mut self, id: NodeId) {
        let replica = &mut self.replicas[id.index()];
        assert!(replica.state.is_none(), "{id} is running");
        replica.state = Some(N::recover(&self.config, id, &replica.records));
        self.run(id, |node, ctx| node.on_start(ctx));
    }

    // ----- clients ----------------------------------------------------------------------------

    /// Client slot `client` (process = slot) sends `request` with `operation` to `to`.
    pub fn request(
        &mut self,
        to: NodeId,
        client: ClientId,
        request: RequestId,
        operation: Operation,
    ) {
        let request = Request {
            id: request,
            client,
            process: ProcessId(u64::from(client.0)),
            operation,
            attempt: 0,
        };
        self.run(to, |node, ctx| node.on_request(ctx, request));
    }

    /// The first answer to `request`, if any arrived.
    pub fn reply_to(&self, request: RequestId) -> Option<&Outcome> {
        self.replies
            .iter()
            .find(|(_, _, id, _)| *id == request)
            .map(|(_, _, _, outcome)| outcome)
    }

    /// Every answer so far: (answering replica, client, request, outcome).
    pub fn replies(&self) -> &[(NodeId, ClientId, RequestId, Outcome)] {
        &self.replies
    }

    // ----- inspection -------------------------------------------------------------------------

    /// Replica `id`.
    ///
    /// # Panics
    /// If it is crashed.
    pub fn node(&self, id: NodeId) -> &N {
        self.replicas[id.index()]
            .state
            .as_ref()
            .unwrap_or_else(|| panic!("{id} is crashed"))
    }

    /// Is replica `id` running?
    pub fn is_up(&self, id: NodeId) -> bool {
        self.replicas[id.index()].state.is_some()
    }

    /// The running replicas that believe they lead, in id order.
    pub fn leaders(&self) -> Vec<NodeId> {
        self.replicas
            .iter()
            .filter_map(|replica| replica.state.as_ref())
            .filter(|node| node.believes_it_leads())
            .map(|node| node.replica_id())
            .collect()
    }

    /// The first invariant violation, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// The invariant checker (the global oracle).
    pub fn invariants(&self) -> &N::Oracle {
        &self.invariants
    }

    /// How often mark `name` was hit, over all replicas.
    pub fn mark_count(&self, name: &str) -> u64 {
        self.marks.get(name).copied().unwrap_or(0)
    }

    /// Was mark `name` hit?
    pub fn has_mark(&self, name: &str) -> bool {
        self.mark_count(name) > 0
    }

    /// Replica `id`'s disk: (synced records, all records).
    pub fn disk_len(&self, id: NodeId) -> (usize, usize) {
        let replica = &self.replicas[id.index()];
        (replica.synced_count, replica.records.len())
    }
}
