//! A CRDT counter replica: see the module documentation of [`crdt`](crate::crdt).

use super::state::PnCounter;
use super::{Config, CounterKind};
use sim_core::history::{Function, Value};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::node::{Ctx, Node, Outcome, Request, SyncToken};
use std::collections::BTreeMap;
use std::fmt;

/// What replicas send each other: their whole durable state (state-based anti-entropy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// The sender's durable state, to be merged by the receiver.
    Gossip {
        /// The state.
        state: PnCounter,
    },
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Gossip { state } => write!(f, "Gossip {state}"),
        }
    }
}

/// The replica's one timer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Time for an anti-entropy round.
    Gossip,
}

/// A disk record. The durable state is the replay of the records in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A client's add, applied to this replica's own entries.
    Add {
        /// The client slot, for deduplicating a duplicated request after a restart.
        client: ClientId,
        /// The request.
        request: RequestId,
        /// The delta (negative: a decrement, PN only).
        delta: i64,
    },
    /// The state after merging a peer's: replaces the state when replayed.
    Merged {
        /// The merged state.
        state: PnCounter,
    },
}

/// What a replica reports to the invariant checker ([`super::CrdtInvariants`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A client's add became durable and part of the replica's state.
    Added {
        /// The delta.
        delta: i64,
    },
    /// The replica started (at boot, or restarted after a crash) with `state`, recovered from
    /// its disk, where its own adds sum to `own_increments` and `own_decrements`.
    Started {
        /// The recovered state.
        state: PnCounter,
        /// The sum of the positive deltas of the add records replayed.
        own_increments: u64,
        /// The sum of the negative deltas of the add records replayed, as a positive amount.
        own_decrements: u64,
    },
    /// The replica's durable state is now `state` (after adds or a merge became durable).
    State {
        /// The state.
        state: PnCounter,
    },
    /// The replica answered a read with `value`.
    Read {
        /// The value it answered.
        value: i64,
    },
}

/// A change appended to the disk and not yet known durable: it joins the state when its sync
/// completes.
#[derive(Clone, Debug)]
struct Staged {
    /// The sync that makes it durable.
    token: SyncToken,
    /// The state once it is durable.
    state: PnCounter,
    /// For an add: the delta, the client and the request to answer.
    add: Option<(i64, ClientId, RequestId)>,
}

/// A replica of a state-based G- or PN-Counter.
pub struct CrdtReplica {
    id: NodeId,
    config: Config,
    /// The durable state: what reads answer and gossip sends.
    state: PnCounter,
    /// Changes on their way to the disk, in token order; the last one's state is the newest.
    staged: Vec<Staged>,
    /// The last add request applied here per client (durable with its record): a duplicated
    /// delivery of the same request is answered again, never applied twice.
    last_add: BTreeMap<ClientId, RequestId>,
    /// Answers to duplicated adds whose first copy is still staged: sent with that sync.
    waiting_replies: Vec<(SyncToken, ClientId, RequestId)>,
    /// The sums of the add records replayed at recovery (increments, decrements), reported
    /// once at start.
    replayed: (u64, u64),
    /// Where the gossip rotation stands among the peers (drawn at the first round).
    next_peer: Option<usize>,
}

impl fmt::Debug for CrdtReplica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrdtReplica")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("staged", &self.staged.len())
            .finish()
    }
}

impl CrdtReplica {
    /// The durable state.
    pub fn state(&self) -> &PnCounter {
        &self.state
    }

    fn index(&self) -> usize {
        self.id.0 as usize
    }

    /// The newest state, staged changes included: what the next change builds on.
    fn newest(&self) -> &PnCounter {
        self.staged
            .last()
            .map_or(&self.state, |staged| &staged.state)
    }

    /// Appends `record`, syncs, and stages `state` to join when the sync completes.
    fn stage(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        record: Record,
        state: PnCounter,
        add: Option<(i64, ClientId, RequestId)>,
    ) {
        ctx.append(record);
        let token = ctx.sync();
        self.staged.push(Staged { token, state, add });
    }

    fn on_add(&mut self, ctx: &mut Ctx<'_, Self>, request: Request, delta: i64) {
        let Request {
            id,
            client,
            attempt,
            ..
        } = request;
        match self.last_add.get(&client) {
            Some(&last) if last == id => {
                // A duplicated delivery of an add already applied here: answer it again once
                // the first copy is durable.
                ctx.mark("crdt.duplicate_add");
                match self.staged.last() {
                    Some(staged) => self.waiting_replies.push((staged.token, client, id)),
                    None => ctx.reply(client, id, ok(Value::Null)),
                }
                return;
            }
            Some(&last) if last > id => {
                // A delayed copy of a request older than the client's last: the client has
                // moved on and no longer listens. Applying it would be legal (its operation
                // is indeterminate) but pointless.
                ctx.mark("crdt.stale_add");
                ctx.reply(client, id, Outcome::Unknown);
                return;
            }
            _ => {}
        }
        if attempt > 0 {
            // A retry: the first attempt went to another replica, which may have applied it.
            // An add is not idempotent and replicas share no session table, so applying it
            // here could count it twice: answer "unknown" (the client records the add as
            // indeterminate) instead.
            ctx.mark("crdt.retry_refused");
            ctx.reply(client, id, Outcome::Unknown);
            return;
        }
        if delta < 0 && self.config.kind == CounterKind::G {
            // A G-Counter only grows (Shapiro et al. §3.1.1): a decrement is refused.
            ctx.mark("crdt.decrement_refused");
            ctx.reply(client, id, Outcome::Fail);
            return;
        }
        self.last_add.insert(client, id);
        let mut state = self.newest().clone();
        state.add(self.index(), delta);
        self.stage(
            ctx,
            Record::Add {
                client,
                request: id,
                delta,
            },
            state,
            Some((delta, client, id)),
        );
    }

    /// One anti-entropy round: the durable state to the next `fanout` peers in a rotation
    /// that starts at a random peer. Choosing every round at random would leave a peer
    /// unvisited for any number of rounds; the rotation reaches every peer within
    /// `(n - 1) / fanout` rounds, which bounds how long convergence takes once the network
    /// heals.
    fn gossip(&mut self, ctx: &mut Ctx<'_, Self>) {
        let peers: Vec<NodeId> = ctx.peers().collect();
        if peers.is_empty() {
            return;
        }
        let next = *self
            .next_peer
            .get_or_insert_with(|| ctx.rng().index(peers.len()));
        let fanout = (self.config.gossip_fanout as usize).min(peers.len());
        self.next_peer = Some((next + fanout) % peers.len());
        for step in 0..fanout {
            let peer = peers[(next + step) % peers.len()];
            if self.config.buggify && ctx.buggify(4) {
                // BUGGIFY: the same state sent twice, as a network that duplicates would;
                // merge is idempotent, so the peer's state must not change the second time.
                ctx.mark("crdt.buggify_gossip_repeated");
                ctx.send(
                    peer,
                    Message::Gossip {
                        state: self.state.clone(),
                    },
                );
            }
            ctx.send(
                peer,
                Message::Gossip {
                    state: self.state.clone(),
                },
            );
        }
        ctx.crash_point("crdt.after_gossip");
    }
}

fn ok(value: Value) -> Outcome {
    Outcome::Ok { value, token: None }
}

impl Node for CrdtReplica {
    type Config = Config;
    type Msg = Message;
    type Timer = Timer;
    type Record = Record;
    type Observation = Observation;

    /// Lanes: every node is a `replica` (see `starting_lane`) and none leads; adds, merges and
    /// reads change nothing a lane shows.
    fn lane(_observation: &Observation, _node: NodeId) -> sim_core::observed::Lane {
        sim_core::observed::Lane::Nothing
    }

    fn starting_lane(&self) -> sim_core::observed::Lane {
        sim_core::observed::Lane::Role {
            role: "replica",
            number: None,
        }
    }

    fn recover(config: &Config, id: NodeId, durable: &[Record]) -> Self {
        let replica_count = config.replica_count as usize;
        assert!(
            (id.0 as usize) < replica_count,
            "replica {id} of {replica_count}"
        );
        let mut replica = CrdtReplica {
            id,
            config: config.clone(),
            state: PnCounter::new(replica_count),
            staged: Vec::new(),
            last_add: BTreeMap::new(),
            waiting_replies: Vec::new(),
            replayed: (0, 0),
            next_peer: None,
        };
        for record in durable {
            match record {
                Record::Add {
                    client,
                    request,
                    delta,
                } => {
                    // Pair of the check in `on_add`: only fresh adds are recorded.
                    assert!(
                        replica.last_add.get(client) < Some(request),
                        "replayed add {request:?} of {client} is not fresh"
                    );
                    replica.last_add.insert(*client, *request);
                    let index = replica.index();
                    replica.state.add(index, *delta);
                    let (increments, decrements) = &mut replica.replayed;
                    let sum = if *delta >= 0 { increments } else { decrements };
                    *sum += delta.unsigned_abs();
                }
                Record::Merged { state } => {
                    // A merged state includes everything recorded before it (merges build on
                    // the newest state), so it replaces the replayed state.
                    assert!(
                        replica.state.is_below(state),
                        "replayed merge {state} is below the replayed state {}",
                        replica.state
                    );
                    replica.state = state.clone();
                }
            }
        }
        replica
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.state != PnCounter::new(self.state.replica_count()) {
            ctx.mark("crdt.recovered_from_disk");
            ctx.crash_point("crdt.recovering");
        }
        ctx.observe(Observation::Started {
            state: self.state.clone(),
            own_increments: self.replayed.0,
            own_decrements: self.replayed.1,
        });
        ctx.set_timer(self.config.gossip_interval, Timer::Gossip);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Message) {
        let Message::Gossip { state } = msg;
        if state.replica_count() != self.state.replica_count() {
            panic!(
                "gossip of {} replicas at a replica of {}",
                state.replica_count(),
                self.state.replica_count()
            );
        }
        let mut merged = self.newest().clone();
        merged.merge(&state, self.config.bugs);
        if &merged == self.newest() {
            // Nothing new: the usual case once replicas agree, and every duplicated or
            // delayed gossip. Merge is idempotent, so ignoring it is the same as applying it.
            return;
        }
        self.stage(
            ctx,
            Record::Merged {
                state: merged.clone(),
            },
            merged,
            None,
        );
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Gossip => {
                if self.config.buggify && ctx.buggify(4) {
                    // BUGGIFY: a round skipped, as a busy replica would: convergence waits a
                    // round longer.
                    ctx.mark("crdt.buggify_gossip_skipped");
                } else {
                    self.gossip(ctx);
                }
                ctx.set_timer(self.config.gossip_interval, Timer::Gossip);
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        let operation = &request.operation;
        match (operation.f, operation.value.as_int()) {
            (Function::Read, _) => {
                // Answered at once from this replica's durable state: no coordination, so the
                // value may miss adds other replicas acknowledged (not linearizable; measured).
                let value = self.state.value();
                ctx.observe(Observation::Read { value });
                ctx.reply(request.client, request.id, ok(Value::Int(value)));
            }
            (Function::Add, Some(delta)) => self.on_add(ctx, request, delta),
            _ => panic!(
                "a CRDT counter has no `{}` of {} (request {:?})",
                operation.f.as_str(),
                operation.value,
                request.id
            ),
        }
    }

    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        let due = self.staged.partition_point(|staged| staged.token <= token);
        if due == 0 {
            return;
        }
        for staged in self.staged.drain(..due) {
            assert!(
                self.state.is_below(&staged.state),
                "a staged state {} is below the durable {}",
                staged.state,
                self.state
            );
            self.state = staged.state;
            if let Some((delta, client, id)) = staged.add {
                ctx.observe(Observation::Added { delta });
                ctx.reply(client, id, ok(Value::Null));
                // Acknowledged and durable, not yet gossiped: a crash here keeps the add only
                // on this replica's disk.
                ctx.crash_point("crdt.after_add_acknowledged");
            }
        }
        ctx.observe(Observation::State {
            state: self.state.clone(),
        });
        let answered = self.waiting_replies.partition_point(|&(t, ..)| t <= token);
        for (_, client, id) in self.waiting_replies.drain(..answered) {
            ctx.reply(client, id, ok(Value::Null));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::BugSet;
    use sim_core::id::ProcessId;
    use sim_core::node::{Effect, Operation, Reply};
    use sim_core::prng::{Prng, Stream};
    use sim_core::time::{Duration, Instant};

    fn config(kind: CounterKind) -> Config {
        Config {
            kind,
            replica_count: 3,
            gossip_interval: Duration::from_millis(100),
            gossip_fanout: 1,
            bugs: BugSet::NONE,
            buggify: false,
        }
    }

    fn request(id: u64, client: u32, f: Function, value: Value, attempt: u32) -> Request {
        Request {
            id: RequestId(id),
            client: ClientId(client),
            process: ProcessId(u64::from(client)),
            operation: Operation {
                f,
                key: None,
                value,
            },
            attempt,
        }
    }

    fn add(id: u64, client: u32, delta: i64) -> Request {
        request(id, client, Function::Add, Value::Int(delta), 0)
    }

    /// Runs `handler` on `replica` with an instant disk and returns the effects.
    fn with_ctx(
        replica: &mut CrdtReplica,
        handler: impl FnOnce(&mut CrdtReplica, &mut Ctx<'_, CrdtReplica>),
    ) -> Vec<Effect<CrdtReplica>> {
        let mut rng = Prng::new(1, Stream::Node(replica.id.0));
        let mut effects = Vec::new();
        let mut next_timer = 0;
        let mut ctx = Ctx::new(
            replica.id,
            3,
            Instant(1_000),
            &mut rng,
            &mut effects,
            &mut next_timer,
        );
        handler(replica, &mut ctx);
        let synced = ctx.last_sync_token();
        if synced != SyncToken(0) {
            replica.on_synced(&mut ctx, synced);
        }
        effects
    }

    fn replies(effects: &[Effect<CrdtReplica>]) -> Vec<Outcome> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Reply {
                    reply: Reply { outcome, .. },
                    ..
                } => Some(outcome.clone()),
                _ => None,
            })
            .collect()
    }

    fn records(effects: &[Effect<CrdtReplica>]) -> Vec<Record> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Append { record } => Some(record.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_add_is_durable_before_it_is_acknowledged_and_a_duplicate_is_not_applied_twice() {
        let config = config(CounterKind::Pn);
        let mut replica = CrdtReplica::recover(&config, NodeId(1), &[]);
        let effects = with_ctx(&mut replica, |r, ctx| r.on_request(ctx, add(7, 0, 4)));
        let append = effects
            .iter()
            .position(|e| matches!(e, Effect::Append { .. }));
        let reply = effects
            .iter()
            .position(|e| matches!(e, Effect::Reply { .. }));
        assert!(append < reply, "{effects:?}");
        assert_eq!(replies(&effects), vec![ok(Value::Null)]);
        assert_eq!(replica.state().p.entries(), &[0, 4, 0]);
        let again = with_ctx(&mut replica, |r, ctx| r.on_request(ctx, add(7, 0, 4)));
        assert_eq!(replies(&again), vec![ok(Value::Null)]);
        assert!(records(&again).is_empty());
        assert_eq!(replica.state().value(), 4, "the duplicate is not counted");
        let decrement = with_ctx(&mut replica, |r, ctx| r.on_request(ctx, add(8, 0, -3)));
        assert_eq!(replies(&decrement), vec![ok(Value::Null)]);
        assert_eq!(replica.state().n.entries(), &[0, 3, 0]);
        let read = with_ctx(&mut replica, |r, ctx| {
            r.on_request(ctx, request(9, 1, Function::Read, Value::Null, 0))
        });
        assert_eq!(replies(&read), vec![ok(Value::Int(1))]);
    }

    #[test]
    fn a_g_counter_refuses_decrements_and_any_replica_refuses_retries() {
        let mut replica = CrdtReplica::recover(&config(CounterKind::G), NodeId(0), &[]);
        let effects = with_ctx(&mut replica, |r, ctx| r.on_request(ctx, add(1, 0, -1)));
        assert_eq!(replies(&effects), vec![Outcome::Fail]);
        let retry = with_ctx(&mut replica, |r, ctx| {
            r.on_request(ctx, request(2, 0, Function::Add, Value::Int(1), 1))
        });
        assert_eq!(replies(&retry), vec![Outcome::Unknown]);
        assert_eq!(replica.state().value(), 0);
    }

    #[test]
    fn gossip_merges_and_the_state_survives_a_restart() {
        let config = config(CounterKind::Pn);
        let mut a = CrdtReplica::recover(&config, NodeId(0), &[]);
        let mut b = CrdtReplica::recover(&config, NodeId(1), &[]);
        let mut disk_b = records(&with_ctx(&mut b, |r, ctx| r.on_request(ctx, add(1, 0, 2))));
        with_ctx(&mut a, |r, ctx| r.on_request(ctx, add(2, 1, 5)));
        let gossip = Message::Gossip {
            state: a.state().clone(),
        };
        disk_b.extend(records(&with_ctx(&mut b, |r, ctx| {
            r.on_message(ctx, NodeId(0), gossip.clone())
        })));
        assert_eq!(b.state().value(), 7);
        let repeated = with_ctx(&mut b, |r, ctx| r.on_message(ctx, NodeId(0), gossip));
        assert!(
            records(&repeated).is_empty(),
            "nothing new: nothing written"
        );
        assert_eq!(b.state().value(), 7, "a repeated gossip changes nothing");
        let restarted = CrdtReplica::recover(&config, NodeId(1), &disk_b);
        assert_eq!(restarted.state(), b.state());
        assert_eq!(restarted.last_add, b.last_add);
    }

    #[test]
    fn merge_sum_counts_a_repeated_gossip_twice() {
        let mut config = config(CounterKind::G);
        config.bugs = [crate::apps::counter::bugs::GCOUNTER_MERGE_SUM]
            .into_iter()
            .collect();
        let mut a = CrdtReplica::recover(&config, NodeId(0), &[]);
        let mut b = CrdtReplica::recover(&config, NodeId(1), &[]);
        with_ctx(&mut a, |r, ctx| r.on_request(ctx, add(1, 0, 1)));
        for _ in 0..2 {
            let gossip = Message::Gossip {
                state: a.state().clone(),
            };
            with_ctx(&mut b, |r, ctx| r.on_message(ctx, NodeId(0), gossip));
        }
        assert_eq!(b.state().value(), 2);
    }
}
