//! A Redlock node: a Redis instance that also proxies the clients that reach it (steps 1–5
//! of the module documentation), or the storage service (node `instances`: the fenced resource
//! and the token counter).

use super::message::{Message, Record, Timer};
use super::{drift_bound, majority, validity, Config, Persistence};
use crate::apps::lock::bugs as lock_bugs;
use crate::apps::session::{Applied, Sessions};
use crate::apps::{AnyApp, Application, Command, Stamp};
use sim_core::history::{Function, Value};
use sim_core::id::{ClientId, NodeId, ProcessId, RequestId, TimerId};
use sim_core::node::{Ctx, Node, Outcome, Request, SyncToken};
use sim_core::time::{Duration, Instant};
use std::collections::{BTreeMap, BTreeSet};

/// Redlock has no replica invariants (the instances share nothing): the lock application's
/// audit and the history checker judge it. Nothing is ever observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {}

/// A key on an instance: its value (owner and token) and its absolute expiry on the
/// instance's wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    owner: ProcessId,
    token: u64,
    expires_at: Instant,
}

/// Where a proxied client request is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// Acquire, waiting for the storage's token.
    DrawToken,
    /// Acquire: `SET` sent to every instance with the fresh `token`; the token each instance
    /// holds for the owner now (its own old one where it extended the owner's key), and who
    /// refused.
    Lock {
        token: u64,
        set: BTreeMap<NodeId, u64>,
        refused: BTreeSet<NodeId>,
    },
    /// Release: `DEL` sent to every instance.
    Delete {
        token: u64,
        deleted: BTreeSet<NodeId>,
        kept: BTreeSet<NodeId>,
    },
    /// Release: deleted on a majority; is `token` still the lock's last token?
    CheckLast { token: u64 },
}

/// A client request this instance runs Redlock's client side for.
#[derive(Clone, Debug)]
struct Proxy {
    client: ClientId,
    process: ProcessId,
    lock: u32,
    /// `T1`, on this node's monotonic clock.
    started: Instant,
    /// An acquire by the holder: the token of the lease it renews.
    renew: Option<u64>,
    round: u32,
    timer: TimerId,
    step: Step,
}

/// A Redis instance's state.
#[derive(Debug)]
struct Instance {
    keys: BTreeMap<u32, Key>,
    /// It has run before (a `Boot` record survived): this start is a restart.
    restarted: bool,
    /// During a delayed restart: refuse everything until then (monotonic clock).
    unavailable_until: Option<Instant>,
    /// Answers waiting for their `SET`/`DEL` record to be durable (persistence `Fsync`).
    parked: Vec<(SyncToken, NodeId, Message)>,
    proxies: BTreeMap<RequestId, Proxy>,
    /// The newest request of each client this proxy took up: an older or repeated one (a
    /// duplicate delivery, a retry) is not run again.
    newest: BTreeMap<ClientId, RequestId>,
    /// The answer to each client's newest finished request, for a retry whose answer was lost.
    answered: BTreeMap<ClientId, (RequestId, Outcome)>,
}

/// An answer the storage service sends once its records are durable.
#[derive(Clone, Debug)]
enum Answer {
    Client(ClientId, RequestId, Outcome),
    Node(NodeId, Message),
}

/// The storage service's state: the application (the lock's fenced resource) behind the
/// client-session table, and the per-lock token counters.
#[derive(Debug)]
struct Storage {
    state: Sessions<AnyApp>,
    tokens: BTreeMap<u32, u64>,
    unsynced: Option<SyncToken>,
    parked: Vec<(SyncToken, Answer)>,
}

#[derive(Debug)]
enum Role {
    Instance(Instance),
    Storage(Storage),
}

/// One Redlock node.
#[derive(Debug)]
pub struct RedlockNode {
    id: NodeId,
    config: Config,
    role: Role,
}

impl RedlockNode {
    fn instances(&self) -> impl Iterator<Item = NodeId> {
        (0..self.config.instances).map(NodeId)
    }

    fn instance(&mut self) -> &mut Instance {
        match &mut self.role {
            Role::Instance(instance) => instance,
            Role::Storage(_) => panic!("{} is the storage service, not an instance", self.id),
        }
    }

    /// Is this instance in its delayed restart?
    fn unavailable(&mut self, ctx: &mut Ctx<'_, Self>) -> bool {
        let now = ctx.monotonic_now();
        let instance = self.instance();
        match instance.unavailable_until {
            Some(until) if now < until => {
                ctx.mark("redlock.restart_delayed");
                true
            }
            Some(_) => {
                instance.unavailable_until = None;
                false
            }
            None => false,
        }
    }

    /// Answers `to` once `record` is durable (persistence `Fsync`), or at once.
    fn persist_then_send(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        record: Record,
        to: NodeId,
        msg: Message,
    ) {
        if self.config.persistence == Persistence::Fsync {
            ctx.append(record);
            let token = ctx.sync();
            self.instance().parked.push((token, to, msg));
        } else {
            ctx.send(to, msg);
        }
    }

    // ----- the instance: SET NX PX and compare-and-delete on its own wall clock -----

    fn on_set(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        request: RequestId,
        lock: u32,
        value: (ProcessId, u64),
        (ttl, renew): (Duration, Option<u64>),
    ) {
        let refused = Message::SetReply {
            request,
            token: None,
        };
        if self.unavailable(ctx) {
            ctx.send(from, refused);
            return;
        }
        // Redis expires keys by its wall clock: a clock jump moves every expiry.
        let now = ctx.now();
        let (owner, fresh) = value;
        let token = match self.instance().keys.get(&lock).copied() {
            // An expired key is gone for Redis.
            Some(key) if now >= key.expires_at => {
                if key.owner != owner {
                    ctx.mark("redlock.expired_key_taken_over");
                }
                fresh
            }
            None => fresh,
            // The live key of the lease the owner renews: extended, keeping its value, so that
            // a renewal that fails and unlocks its fresh value leaves the lock the owner still
            // holds alone. Any other live key refuses, the owner's own included: a key another
            // of its acquisitions set (a retry still running after the client heard `fail`)
            // may be deleted by that acquisition's clean-up at any moment.
            Some(key) if key.owner == owner && renew == Some(key.token) => key.token,
            Some(_) => {
                ctx.send(from, refused);
                return;
            }
        };
        let expires_at = Instant(now.as_nanos().saturating_add(ttl.as_nanos()));
        self.instance().keys.insert(
            lock,
            Key {
                owner,
                token,
                expires_at,
            },
        );
        let record = Record::Set {
            lock,
            owner,
            token,
            expires_at,
        };
        let reply = Message::SetReply {
            request,
            token: Some(token),
        };
        self.persist_then_send(ctx, record, from, reply);
        // The key is set (and answered, without persistence): a crash here forgets it at once
        // without persistence, or loses it with the unsynced AOF on a power loss.
        ctx.crash_point("redlock.after_set");
    }

    fn on_del(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        request: RequestId,
        lock: u32,
        value: (ProcessId, u64),
    ) {
        if self.unavailable(ctx) {
            ctx.send(
                from,
                Message::DelReply {
                    request,
                    deleted: false,
                },
            );
            return;
        }
        let now = ctx.now();
        // An expired key is gone for Redis: the script's GET sees nil and deletes nothing.
        let holds = self
            .instance()
            .keys
            .get(&lock)
            .is_some_and(|key| (key.owner, key.token) == value && now < key.expires_at);
        if !holds {
            ctx.send(
                from,
                Message::DelReply {
                    request,
                    deleted: false,
                },
            );
            return;
        }
        self.instance().keys.remove(&lock);
        let reply = Message::DelReply {
            request,
            deleted: true,
        };
        self.persist_then_send(ctx, Record::Del { lock }, from, reply);
    }

    // ----- the proxy: Redlock's client side -----

    /// Starts a round of `request`: a fresh timeout.
    fn next_round(
        ctx: &mut Ctx<'_, Self>,
        timeout: Duration,
        proxy: &mut Proxy,
        request: RequestId,
    ) {
        ctx.cancel_timer(proxy.timer);
        proxy.round += 1;
        proxy.timer = ctx.set_timer(
            timeout,
            Timer {
                request,
                round: proxy.round,
            },
        );
    }

    fn take_up(&mut self, ctx: &mut Ctx<'_, Self>, request: &Request) {
        let storage = self.config.storage();
        let Some(lock) = request.operation.key else {
            ctx.reply(request.client, request.id, Outcome::Fail);
            return;
        };
        let fresh = self
            .instance()
            .newest
            .get(&request.client)
            .is_none_or(|&newest| newest < request.id);
        if !fresh {
            // A duplicate delivery or a retry of a request this proxy took up: answer again
            // if it is finished (the answer may have been lost), else the answer is coming.
            if let Some((id, outcome)) = self.instance().answered.get(&request.client) {
                if *id == request.id {
                    ctx.reply(request.client, request.id, outcome.clone());
                }
            }
            return;
        }
        self.instance().newest.insert(request.client, request.id);
        let step = match (request.operation.f, &request.operation.value) {
            (Function::Acquire, _) if self.config.lock.is_some() => {
                ctx.send(
                    storage,
                    Message::NextToken {
                        request: request.id,
                        lock,
                    },
                );
                Step::DrawToken
            }
            (Function::Release, Value::Int(token)) if self.config.lock.is_some() => {
                let token = u64::try_from(*token).unwrap_or(0);
                self.unlock_all(ctx, request.id, lock, request.process, token);
                Step::Delete {
                    token,
                    deleted: BTreeSet::new(),
                    kept: BTreeSet::new(),
                }
            }
            _ => {
                // Not a lock (no lease configured), or a release without a token.
                ctx.reply(request.client, request.id, Outcome::Fail);
                return;
            }
        };
        let timer = ctx.set_timer(
            self.config.instance_timeout,
            Timer {
                request: request.id,
                round: 0,
            },
        );
        // The lock workload's renewal names the token it holds: `acquire(k, token)`.
        let renew = match (request.operation.f, &request.operation.value) {
            (Function::Acquire, Value::Int(token)) => u64::try_from(*token).ok(),
            _ => None,
        };
        let proxy = Proxy {
            client: request.client,
            process: request.process,
            lock,
            started: ctx.monotonic_now(),
            renew,
            round: 0,
            timer,
            step,
        };
        self.instance().proxies.insert(request.id, proxy);
    }

    /// Step 4 and 5: `DEL` on every instance, the unanswered ones included.
    fn unlock_all(
        &self,
        ctx: &mut Ctx<'_, Self>,
        request: RequestId,
        lock: u32,
        owner: ProcessId,
        token: u64,
    ) {
        for instance in self.instances() {
            let del = Message::Del {
                request,
                lock,
                owner,
                token,
            };
            if self.config.buggify && ctx.buggify(4) {
                // BUGGIFY: the holder's DEL leaves twice (a release re-sent): the second
                // deletes only a key that still holds this owner's value.
                ctx.mark("redlock.buggify_del_resent");
                ctx.send(instance, del.clone());
            }
            ctx.send(instance, del);
        }
    }

    /// Ends `request` with `outcome`.
    fn finish(&mut self, ctx: &mut Ctx<'_, Self>, request: RequestId, outcome: Outcome) {
        let proxy = self
            .instance()
            .proxies
            .remove(&request)
            .expect("finishing a request this proxy runs");
        ctx.cancel_timer(proxy.timer);
        ctx.reply(proxy.client, request, outcome.clone());
        self.instance()
            .answered
            .insert(proxy.client, (request, outcome));
    }

    /// An acquisition that cannot or must not hold: unlock everywhere and fail.
    fn abandon(&mut self, ctx: &mut Ctx<'_, Self>, request: RequestId, token: u64) {
        let proxy = &self.instance().proxies[&request];
        let (lock, owner) = (proxy.lock, proxy.process);
        self.unlock_all(ctx, request, lock, owner, token);
        self.finish(ctx, request, Outcome::Fail);
    }

    /// Step 3 after an answer: does one value hold a majority, or can none any more?
    fn judge_lock(&mut self, ctx: &mut Ctx<'_, Self>, request: RequestId) {
        let needed = majority(self.config.instances) as usize;
        let instances = self.config.instances as usize;
        let lock_config = self.config.lock.expect("acquires run only with a lock");
        let factor = self.config.clock_drift_factor;
        let no_margin = self.config.bugs.contains(lock_bugs::LEASE_NO_DRIFT_MARGIN);
        let now = ctx.monotonic_now();
        let proxy = &self.instance().proxies[&request];
        let Step::Lock {
            token: fresh,
            ref set,
            ref refused,
        } = proxy.step
        else {
            return;
        };
        let (lock, owner) = (proxy.lock, proxy.process);
        // Usually every instance holds the fresh value; a renewal finds the owner's old one.
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for &token in set.values() {
            *counts.entry(token).or_default() += 1;
        }
        let (best, best_count) = counts
            .iter()
            .max_by_key(|&(&token, &count)| (count, token))
            .map_or((fresh, 0), |(&token, &count)| (token, count));
        let unanswered = instances - set.len() - refused.len();
        if best_count >= needed {
            let ttl = lock_config.lease_ttl;
            let elapsed = now.saturating_since(proxy.started);
            // L4: no drift bound, as if every instance's clock ran at the proxy's rate.
            let drift = if no_margin {
                Duration::ZERO
            } else {
                drift_bound(ttl, factor)
            };
            if validity(ttl, elapsed, drift).is_some() {
                ctx.mark("redlock.majority_acquired");
                if best != fresh {
                    // A renewal: the fresh value set where the old key had gone is not the
                    // lock's value; take it back.
                    self.unlock_all(ctx, request, lock, owner, fresh);
                }
                let outcome = Outcome::Ok {
                    value: Value::Null,
                    token: Some(best),
                };
                self.finish(ctx, request, outcome);
                ctx.crash_point("redlock.after_majority_acquired");
            } else {
                ctx.mark("redlock.validity_expired");
                self.abandon(ctx, request, fresh);
            }
        } else if best_count + unanswered < needed {
            if counts.contains_key(&fresh) {
                ctx.mark("redlock.partial_released");
            }
            self.abandon(ctx, request, fresh);
        }
    }

    /// A release after an answer: enough to decide?
    fn judge_delete(&mut self, ctx: &mut Ctx<'_, Self>, request: RequestId) {
        let needed = majority(self.config.instances) as usize;
        let instances = self.config.instances as usize;
        let timeout = self.config.instance_timeout;
        let storage = self.config.storage();
        let proxy = self
            .instance()
            .proxies
            .get_mut(&request)
            .expect("judging a request this proxy runs");
        let Step::Delete {
            token,
            ref deleted,
            ref kept,
        } = proxy.step
        else {
            return;
        };
        if deleted.len() >= needed {
            let lock = proxy.lock;
            proxy.step = Step::CheckLast { token };
            RedlockNode::next_round(ctx, timeout, proxy, request);
            ctx.send(storage, Message::LastToken { request, lock });
        } else if kept.len() > instances - needed {
            ctx.mark("redlock.release_without_majority");
            self.finish(ctx, request, Outcome::Fail);
        }
    }

    fn on_proxy_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message) {
        let timeout = self.config.instance_timeout;
        let ttl = self.config.lock.map(|lock| lock.lease_ttl);
        let all: Vec<NodeId> = self.instances().collect();
        let request = match &msg {
            Message::Token { request, .. }
            | Message::LastTokenIs { request, .. }
            | Message::SetReply { request, .. }
            | Message::DelReply { request, .. } => *request,
            _ => return,
        };
        let Some(proxy) = self.instance().proxies.get_mut(&request) else {
            return; // a late answer to a finished request
        };
        match (msg, &mut proxy.step) {
            (Message::Token { token, .. }, Step::DrawToken) => {
                // Step 2: SET on every instance.
                proxy.step = Step::Lock {
                    token,
                    set: BTreeMap::new(),
                    refused: BTreeSet::new(),
                };
                RedlockNode::next_round(ctx, timeout, proxy, request);
                let (lock, owner, renew) = (proxy.lock, proxy.process, proxy.renew);
                let ttl = ttl.expect("acquires run only with a lock");
                for instance in all {
                    ctx.send(
                        instance,
                        Message::Set {
                            request,
                            lock,
                            owner,
                            token,
                            ttl,
                            renew,
                        },
                    );
                }
            }
            (Message::SetReply { token: answer, .. }, Step::Lock { set, refused, .. }) => {
                // An instance's first answer counts: a duplicated SET may be refused after
                // the key it set expired.
                if set.contains_key(&from) || refused.contains(&from) {
                    return;
                }
                match answer {
                    Some(token) => {
                        set.insert(from, token);
                    }
                    None => {
                        refused.insert(from);
                    }
                }
                self.judge_lock(ctx, request);
            }
            (
                Message::DelReply {
                    deleted: answer, ..
                },
                Step::Delete { deleted, kept, .. },
            ) => {
                // The first answer counts: a duplicated DEL finds the key gone.
                if deleted.contains(&from) || kept.contains(&from) {
                    return;
                }
                if answer {
                    deleted.insert(from);
                } else {
                    kept.insert(from);
                }
                self.judge_delete(ctx, request);
            }
            (Message::LastTokenIs { token: last, .. }, Step::CheckLast { token }) => {
                // A later token was drawn: someone may hold the lock now, so the release
                // cannot be said to have freed it.
                let outcome = if last == *token {
                    Outcome::Ok {
                        value: Value::Null,
                        token: None,
                    }
                } else {
                    Outcome::Fail
                };
                self.finish(ctx, request, outcome);
            }
            _ => {} // a duplicate or late answer of an earlier round
        }
    }

    fn on_proxy_timeout(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        let Some(proxy) = self.instance().proxies.get(&timer.request) else {
            return;
        };
        if proxy.round != timer.round {
            return;
        }
        match proxy.step {
            Step::DrawToken | Step::CheckLast { .. } | Step::Delete { .. } => {
                if matches!(proxy.step, Step::Delete { .. }) {
                    ctx.mark("redlock.release_without_majority");
                }
                self.finish(ctx, timer.request, Outcome::Fail);
            }
            Step::Lock { token, ref set, .. } => {
                if set.values().any(|&held| held == token) {
                    ctx.mark("redlock.partial_released");
                }
                self.abandon(ctx, timer.request, token);
            }
        }
    }

    // ----- the storage service -----

    fn storage(&mut self) -> &mut Storage {
        match &mut self.role {
            Role::Storage(storage) => storage,
            Role::Instance(_) => panic!("{} is an instance, not the storage service", self.id),
        }
    }

    /// Sends `answer` once everything appended so far is durable.
    fn answer_when_durable(&mut self, ctx: &mut Ctx<'_, Self>, answer: Answer) {
        match self.storage().unsynced {
            None => RedlockNode::send_answer(ctx, answer),
            Some(token) => self.storage().parked.push((token, answer)),
        }
    }

    fn send_answer(ctx: &mut Ctx<'_, Self>, answer: Answer) {
        match answer {
            Answer::Client(client, id, outcome) => ctx.reply(client, id, outcome),
            Answer::Node(to, msg) => ctx.send(to, msg),
        }
    }

    fn storage_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        if matches!(request.operation.f, Function::Acquire | Function::Release) {
            // Locks are the instances' business.
            let proxy = NodeId(request.client.0 % self.config.instances);
            ctx.reply(
                request.client,
                request.id,
                Outcome::Redirect {
                    leader: Some(proxy),
                },
            );
            return;
        }
        let storage = self.storage();
        if let Some(outcome) = storage.state.query(&request.operation) {
            let answer = Answer::Client(request.client, request.id, outcome);
            self.answer_when_durable(ctx, answer);
            return;
        }
        let command = Command::from_request(&request, Stamp::now(0, ctx));
        let applied = self.storage().state.apply_command(&command);
        if let Applied::Fresh(_) = applied {
            ctx.append(Record::Applied(command));
            let token = ctx.sync();
            self.storage().unsynced = Some(token);
        }
        let answer = Answer::Client(request.client, request.id, applied.outcome());
        self.answer_when_durable(ctx, answer);
    }

    fn storage_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message) {
        match msg {
            Message::NextToken { request, lock } => {
                let storage = self.storage();
                let token = storage.tokens.get(&lock).copied().unwrap_or(0) + 1;
                storage.tokens.insert(lock, token);
                ctx.append(Record::Token { lock, token });
                let synced = ctx.sync();
                self.storage().unsynced = Some(synced);
                let answer = Answer::Node(from, Message::Token { request, token });
                self.answer_when_durable(ctx, answer);
            }
            Message::LastToken { request, lock } => {
                let token = self.storage().tokens.get(&lock).copied().unwrap_or(0);
                ctx.send(from, Message::LastTokenIs { request, token });
            }
            _ => {} // instances' and proxies' messages never come here
        }
    }
}

impl Node for RedlockNode {
    type Config = Config;
    type Msg = Message;
    type Timer = Timer;
    type Record = Record;
    type Observation = Observation;

    /// Redlock observes nothing: an instance's lane is its place (see `starting_lane`).
    fn lane(observation: &Observation, _node: NodeId) -> sim_core::observed::Lane {
        match *observation {}
    }

    /// Lanes: every instance is an independent Redis master (`instance`), the token storage
    /// node `storage`; none of them leads.
    fn starting_lane(&self) -> sim_core::observed::Lane {
        let role = match self.role {
            Role::Instance(_) => "instance",
            Role::Storage(_) => "storage",
        };
        sim_core::observed::Lane::Role { role, number: None }
    }

    fn recover(config: &Config, id: NodeId, durable: &[Record]) -> Self {
        assert!(
            id.0 <= config.instances,
            "node {id} in a Redlock of {} instances and one storage node",
            config.instances
        );
        let role = if id == config.storage() {
            let mut storage = Storage {
                state: Sessions::new(config.app.clone()),
                tokens: BTreeMap::new(),
                unsynced: None,
                parked: Vec::new(),
            };
            for record in durable {
                match record {
                    Record::Token { lock, token } => {
                        storage.tokens.insert(*lock, *token);
                    }
                    Record::Applied(command) => {
                        let applied = storage.state.apply_command(command);
                        assert!(applied.is_fresh(), "replayed {command} was not fresh");
                    }
                    other => panic!("the storage service never writes {other:?}"),
                }
            }
            Role::Storage(storage)
        } else {
            let mut keys = BTreeMap::new();
            let mut restarted = false;
            for record in durable {
                match *record {
                    Record::Boot => restarted = true,
                    Record::Set {
                        lock,
                        owner,
                        token,
                        expires_at,
                    } => {
                        assert_eq!(config.persistence, Persistence::Fsync);
                        keys.insert(
                            lock,
                            Key {
                                owner,
                                token,
                                expires_at,
                            },
                        );
                    }
                    Record::Del { lock } => {
                        keys.remove(&lock);
                    }
                    ref other => panic!("an instance never writes {other:?}"),
                }
            }
            Role::Instance(Instance {
                keys,
                restarted,
                unavailable_until: None,
                parked: Vec::new(),
                proxies: BTreeMap::new(),
                newest: BTreeMap::new(),
                answered: BTreeMap::new(),
            })
        };
        RedlockNode {
            id,
            config: config.clone(),
            role,
        }
    }

    fn on_start(&mut self, ctx: &mut Ctx<'_, Self>) {
        let persistence = self.config.persistence;
        let delay = self.config.restart_delay;
        let Role::Instance(instance) = &mut self.role else {
            return;
        };
        if instance.restarted {
            ctx.crash_point("redlock.recovering");
            if persistence == Persistence::Off {
                ctx.mark("redlock.restarted_empty");
            }
            if delay > Duration::ZERO {
                let until = ctx
                    .monotonic_now()
                    .as_nanos()
                    .saturating_add(delay.as_nanos());
                instance.unavailable_until = Some(Instant(until));
            }
        }
        ctx.append(Record::Boot);
        ctx.sync();
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Message) {
        if self.id == self.config.storage() {
            self.storage_message(ctx, from, msg);
            return;
        }
        match msg {
            Message::Set {
                request,
                lock,
                owner,
                token,
                ttl,
                renew,
            } => self.on_set(ctx, from, request, lock, (owner, token), (ttl, renew)),
            Message::Del {
                request,
                lock,
                owner,
                token,
            } => self.on_del(ctx, from, request, lock, (owner, token)),
            other => self.on_proxy_message(ctx, from, other),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        if matches!(self.role, Role::Instance(_)) {
            self.on_proxy_timeout(ctx, timer);
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        if self.id == self.config.storage() {
            self.storage_request(ctx, request);
        } else if matches!(request.operation.f, Function::Acquire | Function::Release) {
            self.take_up(ctx, &request);
        } else {
            let storage = self.config.storage();
            ctx.reply(
                request.client,
                request.id,
                Outcome::Redirect {
                    leader: Some(storage),
                },
            );
        }
    }

    fn on_synced(&mut self, ctx: &mut Ctx<'_, Self>, token: SyncToken) {
        match &mut self.role {
            Role::Instance(instance) => {
                let due = instance.parked.partition_point(|&(t, ..)| t <= token);
                for (_, to, msg) in instance.parked.drain(..due) {
                    ctx.send(to, msg);
                }
            }
            Role::Storage(storage) => {
                if storage.unsynced.is_some_and(|last| last <= token) {
                    storage.unsynced = None;
                }
                let due = storage.parked.partition_point(|&(t, _)| t <= token);
                let answers: Vec<Answer> = storage
                    .parked
                    .drain(..due)
                    .map(|(_, answer)| answer)
                    .collect();
                for answer in answers {
                    RedlockNode::send_answer(ctx, answer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::lock::{LockConfig, LockTable};
    use crate::mutation::BugSet;
    use sim_core::node::{Effect, Operation};
    use sim_core::prng::{Prng, Ratio, Stream};

    const TTL: Duration = Duration::from_millis(300);

    fn config(bugs: BugSet) -> Config {
        let lock = LockConfig {
            locks: 1,
            lease_ttl: TTL,
            drift_margin: Duration::from_millis(5),
            bugs,
            tokens: Default::default(),
            safety: Default::default(),
        };
        Config {
            instances: 3,
            clock_drift_factor: Ratio::from_ppm(10_000),
            persistence: Persistence::Off,
            restart_delay: Duration::ZERO,
            instance_timeout: Duration::from_millis(50),
            app: AnyApp::new(LockTable::new(&lock)),
            lock: Some(lock),
            bugs,
            buggify: false,
        }
    }

    /// Runs `handler` on `node` at `ms` milliseconds of its clock; returns the effects.
    fn drive(
        node: &mut RedlockNode,
        ms: u64,
        handler: impl FnOnce(&mut RedlockNode, &mut Ctx<'_, RedlockNode>),
    ) -> Vec<Effect<RedlockNode>> {
        let mut rng = Prng::new(1, Stream::Node(node.id.0));
        let mut effects = Vec::new();
        let mut next_timer = ms; // distinct ids across calls
        let mut ctx = Ctx::new(
            node.id,
            4,
            Instant(ms * 1_000_000),
            &mut rng,
            &mut effects,
            &mut next_timer,
        );
        handler(node, &mut ctx);
        effects
    }

    fn sent(effects: &[Effect<RedlockNode>]) -> Vec<(u32, Message)> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Send { to, msg } => Some((to.0, msg.clone())),
                _ => None,
            })
            .collect()
    }

    fn replies(effects: &[Effect<RedlockNode>]) -> Vec<Outcome> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Reply { reply, .. } => Some(reply.outcome.clone()),
                _ => None,
            })
            .collect()
    }

    fn marks(effects: &[Effect<RedlockNode>]) -> Vec<&'static str> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Mark { name } => Some(*name),
                _ => None,
            })
            .collect()
    }

    fn set(node: &mut RedlockNode, ms: u64, owner: u64, token: u64) -> Option<u64> {
        set_renewing(node, ms, owner, token, None)
    }

    fn set_renewing(
        node: &mut RedlockNode,
        ms: u64,
        owner: u64,
        token: u64,
        renew: Option<u64>,
    ) -> Option<u64> {
        let effects = drive(node, ms, |node, ctx| {
            let msg = Message::Set {
                request: RequestId(99),
                lock: 0,
                owner: ProcessId(owner),
                token,
                ttl: TTL,
                renew,
            };
            node.on_message(ctx, NodeId(1), msg);
        });
        match sent(&effects).as_slice() {
            [(1, Message::SetReply { token, .. })] => *token,
            other => panic!("{other:?}"),
        }
    }

    fn del(node: &mut RedlockNode, ms: u64, owner: u64, token: u64) -> bool {
        let effects = drive(node, ms, |node, ctx| {
            let msg = Message::Del {
                request: RequestId(99),
                lock: 0,
                owner: ProcessId(owner),
                token,
            };
            node.on_message(ctx, NodeId(1), msg);
        });
        match sent(&effects).as_slice() {
            [(1, Message::DelReply { deleted, .. })] => *deleted,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_instance_sets_if_absent_expires_on_its_clock_and_deletes_only_its_value() {
        let mut instance = RedlockNode::recover(&config(BugSet::NONE), NodeId(0), &[]);
        assert_eq!(set(&mut instance, 1_000, 1, 1), Some(1));
        assert_eq!(set(&mut instance, 1_010, 2, 2), None, "NX: held");
        // The owner's live key is not taken by another acquisition of the same owner (a
        // retry of a request the client already heard fail from); a renewal of that very
        // lease extends it and keeps its value.
        assert_eq!(
            set(&mut instance, 1_050, 1, 2),
            None,
            "NX: its own other key"
        );
        assert_eq!(
            set_renewing(&mut instance, 1_060, 1, 3, Some(7)),
            None,
            "not its lease"
        );
        assert_eq!(set_renewing(&mut instance, 1_100, 1, 3, Some(1)), Some(1));
        assert_eq!(set(&mut instance, 1_390, 2, 4), None, "extended to 1400");
        // At 1400ms on this instance's clock the key is gone: a clock that jumped forward
        // gets there early, which is Kleppmann's example.
        assert!(!del(&mut instance, 1_400, 1, 1), "expired keys are gone");
        assert_eq!(set(&mut instance, 1_400, 2, 5), Some(5));
        assert!(!del(&mut instance, 1_410, 1, 1), "not its value");
        assert!(!del(&mut instance, 1_410, 2, 4), "not its token");
        assert!(del(&mut instance, 1_410, 2, 5));
        assert_eq!(set(&mut instance, 1_420, 3, 6), Some(6));
    }

    #[test]
    fn a_restart_without_persistence_forgets_the_keys_and_fsync_keeps_them() {
        for persistence in [Persistence::Off, Persistence::Fsync] {
            let config = Config {
                persistence,
                ..config(BugSet::NONE)
            };
            let mut instance = RedlockNode::recover(&config, NodeId(0), &[]);
            let effects = drive(&mut instance, 1_000, |node, ctx| {
                node.on_start(ctx);
                let msg = Message::Set {
                    request: RequestId(1),
                    lock: 0,
                    owner: ProcessId(1),
                    token: 1,
                    ttl: TTL,
                    renew: None,
                };
                node.on_message(ctx, NodeId(1), msg);
            });
            let durable: Vec<Record> = effects
                .iter()
                .filter_map(|effect| match effect {
                    Effect::Append { record } => Some(record.clone()),
                    _ => None,
                })
                .collect();
            let mut restarted = RedlockNode::recover(&config, NodeId(0), &durable);
            let effects = drive(&mut restarted, 1_050, |node, ctx| node.on_start(ctx));
            let empty = persistence == Persistence::Off;
            assert_eq!(
                marks(&effects).contains(&"redlock.restarted_empty"),
                empty,
                "{persistence:?}"
            );
            let second = set(&mut restarted, 1_060, 2, 2);
            assert_eq!(second.is_some(), empty, "{persistence:?}: {second:?}");
        }
    }

    #[test]
    fn a_delayed_restart_refuses_everything_for_the_delay() {
        let config = Config {
            restart_delay: Duration::from_millis(400),
            ..config(BugSet::NONE)
        };
        let mut restarted = RedlockNode::recover(&config, NodeId(0), &[Record::Boot]);
        drive(&mut restarted, 1_000, |node, ctx| node.on_start(ctx));
        assert_eq!(set(&mut restarted, 1_399, 2, 2), None);
        assert_eq!(set(&mut restarted, 1_400, 2, 2), Some(2));
    }

    /// The proxy at node 0 takes up an `acquire(k0)` at 1000ms (`T1`), gets token 5 from the
    /// storage service, and hears `answers` (instance, its answer) at `answered_ms` until it
    /// answers the client; returns the effects of the last answer it heard.
    fn acquire(
        bugs: BugSet,
        answered_ms: u64,
        answers: &[(u32, Option<u64>)],
    ) -> Vec<Effect<RedlockNode>> {
        let mut proxy = RedlockNode::recover(&config(bugs), NodeId(0), &[]);
        let request = Request {
            id: RequestId(7),
            client: ClientId(0),
            process: ProcessId(4),
            operation: Operation {
                f: Function::Acquire,
                key: Some(0),
                value: Value::Null,
            },
            attempt: 0,
        };
        let effects = drive(&mut proxy, 1_000, |node, ctx| node.on_request(ctx, request));
        assert_eq!(
            sent(&effects),
            vec![(
                3,
                Message::NextToken {
                    request: RequestId(7),
                    lock: 0
                }
            )]
        );
        let effects = drive(&mut proxy, 1_010, |node, ctx| {
            let token = Message::Token {
                request: RequestId(7),
                token: 5,
            };
            node.on_message(ctx, NodeId(3), token);
        });
        let targets: Vec<u32> = sent(&effects).iter().map(|(to, _)| *to).collect();
        assert_eq!(targets, vec![0, 1, 2], "SET on every instance");
        let mut last = Vec::new();
        for &(instance, answer) in answers {
            last = drive(&mut proxy, answered_ms, |node, ctx| {
                let reply = Message::SetReply {
                    request: RequestId(7),
                    token: answer,
                };
                node.on_message(ctx, NodeId(instance), reply);
            });
            if !replies(&last).is_empty() {
                break;
            }
        }
        last
    }

    #[test]
    fn the_proxy_holds_a_majority_within_the_validity_and_releases_anything_less() {
        let ok = |token| Outcome::Ok {
            value: Value::Null,
            token: Some(token),
        };
        // Two of three set the fresh value 20ms after T1: held, validity 300 − 20 − 5 > 0.
        let effects = acquire(
            BugSet::NONE,
            1_020,
            &[(0, Some(5)), (1, None), (2, Some(5))],
        );
        assert_eq!(replies(&effects), vec![ok(5)]);
        assert_eq!(marks(&effects), vec!["redlock.majority_acquired"]);
        // A renewal: two instances extended the owner's key with token 2: the lock keeps
        // token 2, and the fresh value set on the third is unlocked.
        let effects = acquire(
            BugSet::NONE,
            1_020,
            &[(0, Some(2)), (1, Some(5)), (2, Some(2))],
        );
        assert_eq!(replies(&effects), vec![ok(2)]);
        assert_eq!(sent(&effects).len(), 3, "DEL of the fresh value everywhere");
        // One of three: a partial acquisition, unlocked on every instance.
        let effects = acquire(BugSet::NONE, 1_020, &[(0, Some(5)), (1, None), (2, None)]);
        assert_eq!(replies(&effects), vec![Outcome::Fail]);
        assert_eq!(marks(&effects), vec!["redlock.partial_released"]);
        let targets: Vec<u32> = sent(&effects).iter().map(|(to, _)| *to).collect();
        assert_eq!(targets, vec![0, 1, 2]);
        // A majority after 296ms (the proxy was paused): 300 − 296 − 5 < 0, released.
        let effects = acquire(
            BugSet::NONE,
            1_296,
            &[(0, Some(5)), (1, Some(5)), (2, None)],
        );
        assert_eq!(replies(&effects), vec![Outcome::Fail]);
        assert_eq!(marks(&effects), vec!["redlock.validity_expired"]);
        // L4 subtracts no drift bound: the same acquisition counts as held.
        let mut l4 = BugSet::NONE;
        l4.insert(lock_bugs::LEASE_NO_DRIFT_MARGIN);
        let effects = acquire(l4, 1_296, &[(0, Some(5)), (1, Some(5)), (2, None)]);
        assert_eq!(replies(&effects), vec![ok(5)]);
        // A duplicated SET refused the second time counts once: no double count, no panic.
        let effects = acquire(
            BugSet::NONE,
            1_020,
            &[(0, Some(5)), (0, None), (1, None), (2, Some(5))],
        );
        assert_eq!(replies(&effects), vec![ok(5)]);
    }
}
