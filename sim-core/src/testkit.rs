//! Small nodes for the kernel's own tests and benchmarks: ping-pong, gossip, a durable register
//! server, and an invariant checker that records what it is shown. They are deliberately
//! trivial so that a failing kernel test points at the kernel.

use crate::history::{Function, Value};
use crate::id::{ClientId, NodeId, RequestId};
use crate::node::{Ctx, Invariants, Node, Outcome, Request, SyncToken, Violation};
use crate::time::{Duration, Instant};
use std::cell::RefCell;
use std::rc::Rc;

/// Two nodes bounce a counter until it reaches `limit` deliveries.
#[derive(Clone, Debug)]
pub struct PingPong {
    limit: u64,
}

impl Node for PingPong {
    type Config = u64;
    type Msg = u64;
    type Timer = ();
    type Record = ();
    type Observation = u64;

    fn recover(limit: &u64, _id: NodeId, _durable: &[()]) -> Self {
        PingPong { limit: *limit }
    }
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.send(NodeId(1), 1);
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, count: u64) {
        if count < self.limit {
            ctx.send(from, count + 1);
        }
    }
    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}
}

/// All-to-all gossip: every node broadcasts a rumour at start and every `period`, and forwards
/// each rumour it receives to one random peer, until it has handled `per_node_limit` inputs
/// (received rumours plus its own periodic broadcasts, so that a node whose peers all stopped
/// also stops instead of broadcasting forever).
#[derive(Clone, Debug)]
pub struct Gossip {
    config: GossipConfig,
    received: u64,
}

/// Parameters of [`Gossip`].
#[derive(Clone, Copy, Debug)]
pub struct GossipConfig {
    /// Deliveries after which a node stops forwarding and re-broadcasting.
    pub per_node_limit: u64,
    /// Re-broadcast period (keeps the rumour population alive under loss).
    pub period: Duration,
}

impl Node for Gossip {
    type Config = GossipConfig;
    type Msg = u32;
    type Timer = ();
    type Record = ();
    type Observation = ();

    fn recover(config: &GossipConfig, _id: NodeId, _durable: &[()]) -> Self {
        Gossip {
            config: *config,
            received: 0,
        }
    }
    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        ctx.broadcast(0);
        ctx.set_timer(self.config.period, ());
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, _from: NodeId, hops: u32) {
        self.received += 1;
        if self.received < self.config.per_node_limit {
            let peers = ctx.node_count() - 1;
            let pick = ctx.rng().below(u64::from(peers)) as u32;
            let to = NodeId(if pick >= ctx.id().0 { pick + 1 } else { pick });
            ctx.send(to, hops.wrapping_add(1));
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: ()) {
        self.received += 1;
        if self.received < self.config.per_node_limit {
            ctx.broadcast(0);
            ctx.set_timer(self.config.period, ());
        }
    }
    fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}
}

/// A single durable register server (node 0; other nodes redirect to it). Writes and CAS are
/// appended and synced, and answered once the sync completed (`sync_before_reply`), so it is
/// linearizable across crashes on any disk; with `sync_before_reply` off it acknowledges writes
/// it may lose.
#[derive(Clone, Debug)]
pub struct RegisterServer {
    sync_before_reply: bool,
    value: Option<i64>,
    /// Answers waiting for their sync: (token, client, request, outcome).
    unsynced_replies: Vec<(SyncToken, ClientId, RequestId, Outcome)>,
}

/// What a [`RegisterServer`] reports: `(local time, value after the operation)`.
pub type RegisterObservation = (Instant, Option<i64>);

impl Node for RegisterServer {
    type Config = bool;
    type Msg = ();
    type Timer = ();
    type Record = i64;
    type Observation = RegisterObservation;

    fn recover(sync_before_reply: &bool, _id: NodeId, durable: &[i64]) -> Self {
        RegisterServer {
            sync_before_reply: *sync_before_reply,
            value: durable.last().copied(),
            unsynced_replies: Vec::new(),
        }
    }
    fn on_start(&mut self, _: &mut Ctx<'_, Self>) {}
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: ()) {}
    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        if ctx.id() != NodeId(0) {
            ctx.reply(
                request.client,
                request.id,
                Outcome::Redirect {
                    leader: Some(NodeId(0)),
                },
            );
            return;
        }
        let operation = &request.operation;
        let outcome = match operation.f {
            Function::Read => Outcome::Ok {
                value: self.value.map_or(Value::Null, Value::Int),
                token: None,
            },
            Function::Write => {
                let v = operation.value.as_int().expect("write carries an integer");
                self.value = Some(v);
                ctx.append(v);
                Outcome::Ok {
                    value: Value::Null,
                    token: None,
                }
            }
            Function::Cas => {
                let (from, to) = operation.value.as_pair().expect("cas carries a pair");
                if self.value.unwrap_or(0) == from {
                    self.value = Some(to);
                    ctx.append(to);
                    Outcome::Ok {
                        value: Value::Null,
                        token: None,
                    }
                } else {
                    Outcome::Fail
                }
            }
            other => panic!("register server got {other:?}"),
        };
        let now = ctx.now();
        ctx.observe((now, self.value));
        let wrote = matches!(operation.f, Function::Write | Function::Cas);
        let waiting_for = self.unsynced_replies.last().map(|(token, ..)| *token);
        if !self.sync_before_reply {
            ctx.reply(request.client, request.id, outcome);
        } else if wrote {
            let token = ctx.sync();
            self.unsynced_replies
                .push((token, request.client, request.id, outcome));
        } else if let Some(token) = waiting_for {
            // A read of a value that is not durable yet waits for it: a power loss could
            // still take the value back.
            self.unsynced_replies
                .push((token, request.client, request.id, outcome));
        } else {
            ctx.reply(request.client, request.id, outcome);
        }
    }

    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        // Completions come in token order, so the answers due are a prefix.
        let due = self
            .unsynced_replies
            .partition_point(|(waiting, ..)| *waiting <= token);
        for (_, client, id, outcome) in self.unsynced_replies.drain(..due) {
            ctx.reply(client, id, outcome);
        }
    }
}

/// An invariant checker that records every observation (shared with the test through an `Rc`)
/// and fails when `fail_on` returns true.
pub struct Recorder<O> {
    /// Everything observed: (true time, node, observation).
    pub seen: Rc<RefCell<Vec<(Instant, NodeId, O)>>>,
    /// Crashes seen: (true time, node).
    pub crashes: Rc<RefCell<Vec<(Instant, NodeId)>>>,
    fail_on: Box<dyn Fn(&O) -> bool>,
}

impl<O: Clone> Recorder<O> {
    /// A recorder that never fails.
    pub fn new() -> Self {
        Recorder::failing_on(|_| false)
    }

    /// A recorder that reports a violation on the first observation matching `fail_on`.
    pub fn failing_on(fail_on: impl Fn(&O) -> bool + 'static) -> Self {
        Recorder {
            seen: Rc::default(),
            crashes: Rc::default(),
            fail_on: Box::new(fail_on),
        }
    }
}

impl<O: Clone> Default for Recorder<O> {
    fn default() -> Self {
        Recorder::new()
    }
}

impl<O: Clone + std::fmt::Debug> Invariants<O> for Recorder<O> {
    fn observe(&mut self, time: Instant, node: NodeId, observation: &O) -> Result<(), Violation> {
        self.seen
            .borrow_mut()
            .push((time, node, observation.clone()));
        if (self.fail_on)(observation) {
            return Err(Violation {
                invariant: "test".into(),
                message: format!("{observation:?}"),
            });
        }
        Ok(())
    }
    fn on_crash(&mut self, time: Instant, node: NodeId) {
        self.crashes.borrow_mut().push((time, node));
    }
}
