//! A hand-driven Raft cluster for directed tests and golden traces (STYLE.md §7).
//!
//! Nothing happens on its own: the test fires timers, delivers, drops or reorders messages,
//! cuts links, crashes and restarts nodes, and sends client requests, one step at a time. Each
//! step runs one handler through a real [`Ctx`] and then applies the recorded effects the way
//! the simulator does: sends go to a FIFO of in-flight messages, timers to a per-node table,
//! appends and syncs to a per-node disk, observations to [`RaftInvariants`] (the first
//! violation is kept), replies and marks to lists the test inspects.
//!
//! A crash keeps only the synced records of the node's disk: the harshest power loss, which
//! drops every unsynced record. Messages addressed to a down node or across a cut link are
//! dropped when their turn comes.

use super::config::Config;
use super::invariants::{RaftInvariants, RaftObservation};
use super::message::{Message, Record, Timer};
use super::node::RaftNode;
use crate::apps::Application;
use sim_core::id::{ClientId, NodeId, ProcessId, RequestId, TimerId};
use sim_core::node::{
    Ctx, Effect, Invariants, Node, Operation, Reply, Request, SyncToken, Violation,
};
use sim_core::prng::{Prng, Stream};
use sim_core::time::{Duration, Instant};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// A handler of a node, as [`Cluster`] runs it.
type Handler<'h, A> = dyn FnMut(&mut RaftNode<A>, &mut Ctx<'_, RaftNode<A>>) + 'h;

/// A message on the simulated wire.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Sender.
    pub from: NodeId,
    /// Destination.
    pub to: NodeId,
    /// The message.
    pub msg: Message,
}

#[derive(Clone, Debug, Default)]
struct Disk {
    records: Vec<Record>,
    synced: usize,
}

/// The most deliveries [`Cluster::deliver_all`] makes before it declares a livelock.
pub const DELIVERIES_MAX: usize = 100_000;

/// A Raft cluster driven step by step.
pub struct Cluster<A: Application> {
    config: Config<A>,
    nodes: Vec<Option<RaftNode<A>>>,
    disks: Vec<Disk>,
    rngs: Vec<Prng>,
    next_timer: Vec<u64>,
    /// Per node, the last sync token handed out (tokens keep growing across restarts).
    last_sync_token: Vec<SyncToken>,
    timers: Vec<BTreeMap<TimerId, Timer>>,
    now: Instant,
    in_flight: VecDeque<Envelope>,
    cut: BTreeSet<(NodeId, NodeId)>,
    invariants: RaftInvariants,
    violation: Option<Violation>,
    replies: Vec<(NodeId, ClientId, Reply)>,
    marks: Vec<(NodeId, &'static str)>,
}

impl<A: Application> Cluster<A> {
    /// Boots `node_count` nodes with empty disks; node `i` draws from stream `Node(i)` of `seed`.
    pub fn new(node_count: u32, config: Config<A>, seed: u64) -> Cluster<A> {
        let count = node_count as usize;
        let mut cluster = Cluster {
            config,
            nodes: (0..count).map(|_| None).collect(),
            disks: vec![Disk::default(); count],
            rngs: (0..node_count)
                .map(|i| Prng::new(seed, Stream::Node(i)))
                .collect(),
            next_timer: vec![0; count],
            last_sync_token: vec![SyncToken(0); count],
            timers: vec![BTreeMap::new(); count],
            now: Instant::ZERO,
            in_flight: VecDeque::new(),
            cut: BTreeSet::new(),
            invariants: RaftInvariants::new(),
            violation: None,
            replies: Vec::new(),
            marks: Vec::new(),
        };
        for i in 0..node_count {
            cluster.restart(NodeId(i));
        }
        cluster
    }

    fn node_count(&self) -> u32 {
        self.nodes.len() as u32
    }

    /// Runs one handler of node `id` and applies its effects.
    fn step(
        &mut self,
        id: NodeId,
        handler: impl FnOnce(&mut RaftNode<A>, &mut Ctx<'_, RaftNode<A>>),
    ) {
        let mut handler = Some(handler);
        self.step_dyn(id, &mut |node, ctx| {
            (handler.take().expect("a handler runs once"))(node, ctx)
        });
    }

    /// [`Cluster::step`] without generics, so that it can call itself for `on_synced`.
    fn step_dyn(&mut self, id: NodeId, handler: &mut Handler<'_, A>) {
        let mut node = self.nodes[id.index()]
            .take()
            .unwrap_or_else(|| panic!("{id} is down"));
        let mut effects = Vec::new();
        {
            let node_count = self.node_count();
            let rng = &mut self.rngs[id.index()];
            let next_timer = &mut self.next_timer[id.index()];
            let mut ctx = Ctx::new(id, node_count, self.now, rng, &mut effects, next_timer)
                .with_last_sync_token(self.last_sync_token[id.index()]);
            handler(&mut node, &mut ctx);
            self.last_sync_token[id.index()] = ctx.last_sync_token();
        }
        self.nodes[id.index()] = Some(node);
        let mut synced = None;
        for effect in effects {
            if let Effect::Sync { token } = effect {
                synced = Some(token);
            }
            self.apply(id, effect);
        }
        // An instant disk, as the simulator's default: the node hears of its last sync once
        // the handler's effects are applied.
        if let Some(token) = synced {
            if self.nodes[id.index()].is_some() {
                self.step_dyn(id, &mut |node, ctx| node.on_synced(ctx, token));
            }
        }
    }

    fn apply(&mut self, id: NodeId, effect: Effect<RaftNode<A>>) {
        match effect {
            Effect::Send { to, msg } => self.in_flight.push_back(Envelope { from: id, to, msg }),
            Effect::Broadcast { msg } => {
                for to in (0..self.node_count()).map(NodeId).filter(|&to| to != id) {
                    self.in_flight.push_back(Envelope {
                        from: id,
                        to,
                        msg: msg.clone(),
                    });
                }
            }
            Effect::SetTimer {
                id: timer_id,
                timer,
                ..
            } => {
                self.timers[id.index()].insert(timer_id, timer);
            }
            Effect::CancelTimer { id: timer_id } => {
                self.timers[id.index()].remove(&timer_id);
            }
            Effect::Append { record } => self.disks[id.index()].records.push(record),
            Effect::Sync { .. } => {
                let disk = &mut self.disks[id.index()];
                disk.synced = disk.records.len();
            }
            Effect::Reply { client, reply } => self.replies.push((id, client, reply)),
            Effect::Observe { observation } => self.check(id, &observation),
            Effect::Mark { name } => self.marks.push((id, name)),
            // Hand-driven contexts have crash points off: the harness crashes nodes itself.
            Effect::CrashPoint { .. } => {}
        }
    }

    fn check(&mut self, id: NodeId, observation: &RaftObservation) {
        if self.violation.is_some() {
            return;
        }
        if let Err(violation) = self.invariants.observe(self.now, id, observation) {
            self.violation = Some(violation);
        }
    }

    // ----- time and timers --------------------------------------------------------------------

    /// Moves every node's local clock forward (timers do not fire by themselves).
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Fires node `id`'s most recently set pending timer of the kind `matches` accepts.
    ///
    /// # Panics
    /// If there is none.
    pub fn fire(&mut self, id: NodeId, kind: &str, matches: impl Fn(&Timer) -> bool) {
        let timer_id = self.timers[id.index()]
            .iter()
            .filter(|(_, timer)| matches(timer))
            .map(|(&timer_id, _)| timer_id)
            .next_back()
            .unwrap_or_else(|| panic!("{id} has no pending {kind} timer"));
        let timer = self.timers[id.index()]
            .remove(&timer_id)
            .expect("just found");
        self.step(id, |node, ctx| node.on_timer(ctx, timer));
    }

    /// Fires node `id`'s election timeout: it starts an election.
    pub fn timeout(&mut self, id: NodeId) {
        self.fire(id, "election", |timer| {
            matches!(timer, Timer::Election { .. })
        });
    }

    /// Fires leader `id`'s heartbeat timer.
    pub fn heartbeat(&mut self, id: NodeId) {
        self.fire(id, "heartbeat", |timer| {
            matches!(timer, Timer::Heartbeat { .. })
        });
    }

    /// Does node `id` have a pending timer of this kind?
    pub fn has_timer(&self, id: NodeId, matches: impl Fn(&Timer) -> bool) -> bool {
        self.timers[id.index()].values().any(matches)
    }

    // ----- the network ------------------------------------------------------------------------

    /// The messages in flight, oldest first.
    pub fn in_flight(&self) -> impl Iterator<Item = &Envelope> {
        self.in_flight.iter()
    }

    /// Delivers (or, across a cut or to a down node, drops) the oldest message. Returns false
    /// when nothing is in flight.
    pub fn deliver_next(&mut self) -> bool {
        let Some(envelope) = self.in_flight.pop_front() else {
            return false;
        };
        self.deliver_envelope(envelope);
        true
    }

    fn deliver_envelope(&mut self, envelope: Envelope) {
        let Envelope { from, to, msg } = envelope;
        if self.cut.contains(&(from, to)) || self.nodes[to.index()].is_none() {
            return;
        }
        self.step(to, |node, ctx| node.on_message(ctx, from, msg));
    }

    /// Delivers messages until none is in flight.
    ///
    /// # Panics
    /// After [`DELIVERIES_MAX`] deliveries (a livelock).
    pub fn deliver_all(&mut self) {
        for _ in 0..DELIVERIES_MAX {
            if !self.deliver_next() {
                return;
            }
        }
        panic!("deliver_all: still busy after {DELIVERIES_MAX} deliveries");
    }

    /// Delivers the oldest message from `from` to `to`.
    ///
    /// # Panics
    /// If there is none.
    pub fn deliver(&mut self, from: NodeId, to: NodeId) {
        let position = self
            .in_flight
            .iter()
            .position(|envelope| envelope.from == from && envelope.to == to)
            .unwrap_or_else(|| panic!("no message in flight from {from} to {to}"));
        let envelope = self.in_flight.remove(position).expect("position is valid");
        self.deliver_envelope(envelope);
    }

    /// Delivers the oldest message for which `predicate` holds; false if there is none.
    pub fn deliver_first(&mut self, predicate: impl Fn(&Envelope) -> bool) -> bool {
        let Some(position) = self.in_flight.iter().position(predicate) else {
            return false;
        };
        let envelope = self.in_flight.remove(position).expect("position is valid");
        self.deliver_envelope(envelope);
        true
    }

    /// Delivers election traffic (RequestVote, PreVote and their responses) until none is in
    /// flight, leaving every other message where it is.
    pub fn deliver_votes(&mut self) {
        let is_vote = |envelope: &Envelope| {
            matches!(
                envelope.msg,
                Message::RequestVote { .. }
                    | Message::RequestVoteResponse { .. }
                    | Message::PreVote { .. }
                    | Message::PreVoteResponse { .. }
            )
        };
        for _ in 0..DELIVERIES_MAX {
            if !self.deliver_first(is_vote) {
                return;
            }
        }
        panic!("deliver_votes: still busy after {DELIVERIES_MAX} deliveries");
    }

    /// Removes every in-flight message for which `predicate` holds.
    pub fn drop_where(&mut self, predicate: impl Fn(&Envelope) -> bool) {
        self.in_flight.retain(|envelope| !predicate(envelope));
    }

    /// Removes every in-flight message.
    pub fn drop_all(&mut self) {
        self.in_flight.clear();
    }

    /// Cuts every link between `node` and the others, both ways.
    pub fn isolate(&mut self, node: NodeId) {
        for other in (0..self.node_count())
            .map(NodeId)
            .filter(|&other| other != node)
        {
            self.cut.insert((node, other));
            self.cut.insert((other, node));
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    // ----- crashes ----------------------------------------------------------------------------

    /// Crashes `id`: volatile state, timers and unsynced records are gone. Messages already on
    /// the wire to it stay there: they are dropped if delivered while it is down, and arrive if
    /// it has restarted by then.
    pub fn crash(&mut self, id: NodeId) {
        assert!(self.nodes[id.index()].is_some(), "{id} is already down");
        self.nodes[id.index()] = None;
        let disk = &mut self.disks[id.index()];
        disk.records.truncate(disk.synced);
        self.timers[id.index()].clear();
        self.invariants.on_crash(self.now, id);
    }

    /// Boots `id` from its synced records.
    pub fn restart(&mut self, id: NodeId) {
        assert!(self.nodes[id.index()].is_none(), "{id} is up");
        let node = RaftNode::recover(&self.config, id, &self.disks[id.index()].records);
        self.nodes[id.index()] = Some(node);
        self.step(id, |node, ctx| node.on_start(ctx));
    }

    // ----- clients ----------------------------------------------------------------------------

    /// Sends request `request` of client slot `client` (process = slot) to node `to`.
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
        self.step(to, |node, ctx| node.on_request(ctx, request));
    }

    /// The replies so far: (answering node, client, reply).
    pub fn replies(&self) -> &[(NodeId, ClientId, Reply)] {
        &self.replies
    }

    /// The reply to `request`, if one arrived (the first, if several).
    pub fn reply_to(&self, request: RequestId) -> Option<&Reply> {
        self.replies
            .iter()
            .map(|(_, _, reply)| reply)
            .find(|reply| reply.id == request)
    }

    // ----- inspection -------------------------------------------------------------------------

    /// Node `id`.
    ///
    /// # Panics
    /// If it is down.
    pub fn node(&self, id: NodeId) -> &RaftNode<A> {
        self.nodes[id.index()]
            .as_ref()
            .unwrap_or_else(|| panic!("{id} is down"))
    }

    /// Is node `id` up?
    pub fn is_up(&self, id: NodeId) -> bool {
        self.nodes[id.index()].is_some()
    }

    /// The up nodes that believe they lead, in id order.
    pub fn leaders(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .flatten()
            .filter(|node| node.is_leader())
            .map(|node| node.id())
            .collect()
    }

    /// The first invariant violation observed, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// The invariant checker.
    pub fn invariants(&self) -> &RaftInvariants {
        &self.invariants
    }

    /// Was mark `name` hit by any node?
    pub fn has_mark(&self, name: &str) -> bool {
        self.marks.iter().any(|&(_, mark)| mark == name)
    }

    /// How many records of `id`'s disk are synced, and how many are written in all.
    pub fn disk_len(&self, id: NodeId) -> (usize, usize) {
        let disk = &self.disks[id.index()];
        (disk.synced, disk.records.len())
    }
}
