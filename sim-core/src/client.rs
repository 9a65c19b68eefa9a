//! Clients and workloads.
//!
//! Each client *slot* is a thread of the workload. It invokes one operation at a time, sends it
//! to the node it believes leads (at first its home node), follows redirects, re-sends the same
//! request (same [`crate::id::RequestId`], so servers can deduplicate) when an attempt gets no
//! answer within `retry_after`, and gives up at `timeout`, recording the operation as `info`
//! (indeterminate). A process that got `info` is retired and the slot continues as a fresh
//! process (Jepsen's convention: process `p + client_count`), so each process has at most one
//! open operation. During the recovery phase operations do not time out: every one of them must
//! complete, or the run is a liveness failure.
//!
//! What the clients ask is decided by a [`Workload`]: the simulator asks it for the next
//! operation of a slot and tells it every result, so workloads can aim CAS operations at values
//! that were actually seen.
//!
//! Both calls go through a [`ClientCtx`] (`Workload::next_operation_in`,
//! `Workload::observe_result_in`), with which a workload takes BUGGIFY's unusual client paths
//! from a stream of its own, marks them, and asks for a request to be sent twice at once.

use crate::history::{Function, Value};
use crate::id::ClientId;
use crate::node::{Operation, Outcome};
use crate::prng::Prng;
use crate::time::{Duration, Instant};
use std::collections::BTreeMap;

/// When an idle client invokes its next operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// After a think time drawn from the client's stream (random workloads).
    Think,
    /// At this instant, or at once if it has passed (a scripted workload).
    At(Instant),
    /// Never: the client has nothing more to do.
    Done,
}

/// The clients' parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// How many client slots run concurrently.
    pub count: u32,
    /// Smallest pause between one operation's completion and the next invocation.
    pub think_min: Duration,
    /// Largest such pause (inclusive).
    pub think_max: Duration,
    /// How long an operation may take before it is recorded as `info` (phase 1 only).
    pub timeout: Duration,
    /// How long one attempt waits for an answer before the request is re-sent to another node.
    pub retry_after: Duration,
    /// How long a client waits after a redirect with no leader hint before trying again.
    pub redirect_backoff: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            count: 3,
            think_min: Duration::ZERO,
            think_max: Duration::from_millis(10),
            timeout: Duration::from_secs(1),
            retry_after: Duration::from_millis(250),
            redirect_backoff: Duration::from_millis(10),
        }
    }
}

/// Decides what the clients do.
///
/// Both calls receive the true simulated time `now`: clients have perfect clocks (only nodes'
/// clocks drift), so a workload can reason about elapsed time exactly, e.g. when a lease it was
/// granted expires.
pub trait Workload {
    /// The next operation for `client` at `now`, drawing randomness from the client's own stream.
    fn next_operation(&mut self, client: ClientId, now: Instant, rng: &mut Prng) -> Operation;

    /// The result, at `now`, of an operation of `client` (`None`: indeterminate).
    fn observe_result(
        &mut self,
        _client: ClientId,
        _now: Instant,
        _operation: &Operation,
        _outcome: Option<&Outcome>,
    ) {
    }

    /// When `client`, idle at `now`, invokes its next operation. Random workloads keep the
    /// default (a think time), which draws nothing extra: their runs are unchanged.
    fn pacing(&mut self, _client: ClientId, _now: Instant) -> Pacing {
        Pacing::Think
    }

    /// What the kernel calls to invoke: [`Workload::next_operation`] with a [`ClientCtx`], for
    /// a workload that takes unusual paths (BUGGIFY) and marks them. The default asks
    /// `next_operation` and records nothing, so a workload without BUGGIFY runs as before.
    fn next_operation_in(&mut self, ctx: &mut ClientCtx<'_>) -> Operation {
        let (client, now) = (ctx.client(), ctx.now());
        self.next_operation(client, now, ctx.rng())
    }

    /// What the kernel calls with a result: [`Workload::observe_result`] with a
    /// [`ClientCtx`]. The default records nothing.
    fn observe_result_in(
        &mut self,
        ctx: &mut ClientCtx<'_>,
        operation: &Operation,
        outcome: Option<&Outcome>,
    ) {
        let (client, now) = (ctx.client(), ctx.now());
        self.observe_result(client, now, operation, outcome);
    }
}

/// What a workload may do besides choosing operations, while the kernel asks it for one or
/// tells it a result: draw BUGGIFY coins, record marks, and ask for the request to be sent
/// twice at once.
///
/// BUGGIFY (FoundationDB) at the client: now and then a legal but unusual path, a client that
/// retries at once or a lock holder that releases twice. The coins come from the client slot's
/// own BUGGIFY stream ([`crate::prng::Stream::ClientBuggify`]), never from its workload stream
/// ([`ClientCtx::rng`]), so a workload that draws them only when its option is on leaves every
/// run without it unchanged, and a run with it draws every other number as before. Marks are
/// counted with the nodes' in the run's report, so sweeps show which paths fired.
pub struct ClientCtx<'a> {
    client: ClientId,
    now: Instant,
    rng: &'a mut Prng,
    buggify_rng: &'a mut Prng,
    marks: &'a mut BTreeMap<&'static str, u64>,
    resend_at_once: bool,
}

impl<'a> ClientCtx<'a> {
    /// A context for `client` at `now`: its workload stream, its BUGGIFY stream and the marks
    /// to count into (the kernel's, or a test's own).
    pub fn new(
        client: ClientId,
        now: Instant,
        rng: &'a mut Prng,
        buggify_rng: &'a mut Prng,
        marks: &'a mut BTreeMap<&'static str, u64>,
    ) -> ClientCtx<'a> {
        ClientCtx {
            client,
            now,
            rng,
            buggify_rng,
            marks,
            resend_at_once: false,
        }
    }

    /// The client slot.
    #[inline]
    pub fn client(&self) -> ClientId {
        self.client
    }

    /// The true simulated time (clients have perfect clocks).
    #[inline]
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The client's workload stream (the operation mix, think times).
    #[inline]
    pub fn rng(&mut self) -> &mut Prng {
        self.rng
    }

    /// BUGGIFY's coin: true one call in `one_in`, drawn from the client's BUGGIFY stream.
    ///
    /// # Panics
    /// If `one_in` is 0.
    pub fn buggify(&mut self, one_in: u64) -> bool {
        assert!(one_in > 0, "a BUGGIFY coin needs one_in > 0");
        self.buggify_rng.below(one_in) == 0
    }

    /// Counts `name` (`app.what_happened`) in the run's marks.
    pub fn mark(&mut self, name: &'static str) {
        *self.marks.entry(name).or_insert(0) += 1;
    }

    /// While invoking: send the new request a second time right after the first, to the same
    /// node and with the same request id (a client library that retries at once instead of
    /// after `retry_after`). Servers must deduplicate it as they do any retry. Asked while
    /// observing a result, it does nothing.
    pub fn resend_at_once(&mut self) {
        self.resend_at_once = true;
    }

    /// Did the workload ask for [`ClientCtx::resend_at_once`]?
    pub fn is_resent_at_once(&self) -> bool {
        self.resend_at_once
    }
}

/// Operations given one by one: each client invokes its own list in order, each operation at
/// its instant, or as soon as the client's previous operation completes if that is later (a
/// client has one operation open at a time). A shrunk failure or a textbook story (Raft's
/// Figure 8) is then a readable file rather than a seed's random draws.
#[derive(Clone, Debug, Default)]
pub struct ScriptedWorkload {
    /// Per client slot: its operations still to invoke, earliest first.
    queues: Vec<std::collections::VecDeque<(Instant, Operation)>>,
}

impl ScriptedWorkload {
    /// `script`: `(at, client, operation)` in any order; each client's operations run in the
    /// order of their instants (ties in the order given).
    ///
    /// # Panics
    /// If a client is not below `client_count`.
    pub fn new(client_count: u32, script: Vec<(Instant, ClientId, Operation)>) -> ScriptedWorkload {
        let mut queues = vec![std::collections::VecDeque::new(); client_count as usize];
        let mut script = script;
        script.sort_by_key(|&(at, client, _)| (client, at)); // stable: ties keep their order
        for (at, client, operation) in script {
            assert!(
                client.0 < client_count,
                "scripted operation for {client}, but only {client_count} clients"
            );
            queues[client.index()].push_back((at, operation));
        }
        ScriptedWorkload { queues }
    }
}

impl Workload for ScriptedWorkload {
    fn next_operation(&mut self, client: ClientId, now: Instant, _rng: &mut Prng) -> Operation {
        let (at, operation) = self.queues[client.index()]
            .pop_front()
            .expect("the kernel invokes only when pacing said when");
        debug_assert!(at <= now, "{client} invoked its operation of {at} at {now}");
        operation
    }

    fn pacing(&mut self, client: ClientId, _now: Instant) -> Pacing {
        match self.queues[client.index()].front() {
            Some(&(at, _)) => Pacing::At(at),
            None => Pacing::Done,
        }
    }
}

/// A mix of register/kv operations (`read`, `write`, `cas`) over `key_count` keys (no key when
/// `key_count` is `None`: a single register), with integer weights.
///
/// Written values are unique per run (`client * 1_000_000 + sequence`), which makes lost and
/// stale writes unambiguous to the checker; CAS operations compare against the value the client
/// last saw for that key (so a good share of them succeed) and swap in a fresh unique value.
#[derive(Clone, Debug)]
pub struct RegisterWorkload {
    mix: Vec<(Function, u64)>,
    key_count: Option<u32>,
    sequence: Vec<i64>,
    /// Last value each client saw per key (index `client * keys + key`).
    last_seen: Vec<Option<i64>>,
}

impl RegisterWorkload {
    /// A workload with this mix over `key_count` keys, for `client_count` clients.
    ///
    /// # Panics
    /// If the mix holds a function other than read, write or cas, or has no positive weight.
    pub fn new(
        mix: Vec<(Function, u64)>,
        key_count: Option<u32>,
        client_count: u32,
    ) -> RegisterWorkload {
        assert!(
            mix.iter().any(|&(_, w)| w > 0),
            "workload mix has no positive weight"
        );
        for &(f, _) in &mix {
            assert!(
                matches!(f, Function::Read | Function::Write | Function::Cas),
                "{f:?} is not a register operation"
            );
        }
        let keys = key_count.unwrap_or(1).max(1) as usize;
        RegisterWorkload {
            mix,
            key_count,
            sequence: vec![0; client_count as usize],
            last_seen: vec![None; client_count as usize * keys],
        }
    }

    fn fresh_value(&mut self, client: ClientId) -> i64 {
        let sequence = &mut self.sequence[client.index()];
        *sequence += 1;
        i64::from(client.0) * 1_000_000 + *sequence
    }

    fn seen_slot(&self, client: ClientId, key: Option<u32>) -> usize {
        let keys = self.key_count.unwrap_or(1).max(1) as usize;
        client.index() * keys + key.unwrap_or(0) as usize
    }
}

impl Workload for RegisterWorkload {
    fn next_operation(&mut self, client: ClientId, _now: Instant, rng: &mut Prng) -> Operation {
        let weights: Vec<u64> = self.mix.iter().map(|&(_, w)| w).collect();
        let f = self.mix[rng.weighted_index(&weights)].0;
        let key = self.key_count.map(|keys| rng.below(u64::from(keys)) as u32);
        let value = match f {
            Function::Read => Value::Null,
            Function::Write => Value::Int(self.fresh_value(client)),
            Function::Cas => {
                let from = self.last_seen[self.seen_slot(client, key)].unwrap_or(0);
                Value::pair(from, self.fresh_value(client))
            }
            _ => unreachable!("checked in new"),
        };
        Operation { f, key, value }
    }

    fn observe_result(
        &mut self,
        client: ClientId,
        _now: Instant,
        operation: &Operation,
        outcome: Option<&Outcome>,
    ) {
        let slot = self.seen_slot(client, operation.key);
        match (operation.f, outcome) {
            (Function::Read, Some(Outcome::Ok { value, .. })) => {
                self.last_seen[slot] = value.as_int()
            }
            (Function::Write, Some(Outcome::Ok { .. })) => {
                self.last_seen[slot] = operation.value.as_int()
            }
            (Function::Cas, Some(Outcome::Ok { .. })) => {
                self.last_seen[slot] = operation.value.as_pair().map(|(_, to)| to)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng::Stream;

    #[test]
    fn client_buggify_coins_come_from_their_own_stream_and_marks_are_counted() {
        let mut rng = Prng::new(4, Stream::Client(2));
        let mut coins = Prng::new(4, Stream::ClientBuggify(2));
        let mut expected_coins = Prng::new(4, Stream::ClientBuggify(2));
        let mut untouched = Prng::new(4, Stream::Client(2));
        let mut marks = BTreeMap::new();
        let mut ctx = ClientCtx::new(ClientId(2), Instant(7), &mut rng, &mut coins, &mut marks);
        assert_eq!((ctx.client(), ctx.now()), (ClientId(2), Instant(7)));
        assert!(!ctx.is_resent_at_once());
        let mut heads = 0;
        for _ in 0..400 {
            let heads_now = ctx.buggify(4);
            assert_eq!(heads_now, expected_coins.below(4) == 0);
            heads += u32::from(heads_now);
        }
        assert!((60..140).contains(&heads), "{heads} of 400 at one in four");
        ctx.mark("app.path");
        ctx.mark("app.path");
        ctx.resend_at_once();
        assert!(ctx.is_resent_at_once());
        assert_eq!(marks.get("app.path"), Some(&2));
        // The coins left the workload's stream alone.
        assert_eq!(rng.next_u64(), untouched.next_u64());
    }

    #[test]
    fn the_default_ctx_calls_are_the_plain_calls() {
        let mix = vec![(Function::Read, 1), (Function::Write, 1)];
        let mut with_ctx = RegisterWorkload::new(mix.clone(), Some(2), 1);
        let mut plain = RegisterWorkload::new(mix, Some(2), 1);
        let (mut rng, mut plain_rng) = (
            Prng::new(9, Stream::Client(0)),
            Prng::new(9, Stream::Client(0)),
        );
        let mut coins = Prng::new(9, Stream::ClientBuggify(0));
        let mut marks = BTreeMap::new();
        for _ in 0..50 {
            let mut ctx =
                ClientCtx::new(ClientId(0), Instant::ZERO, &mut rng, &mut coins, &mut marks);
            let operation = with_ctx.next_operation_in(&mut ctx);
            assert!(!ctx.is_resent_at_once());
            assert_eq!(
                operation,
                plain.next_operation(ClientId(0), Instant::ZERO, &mut plain_rng)
            );
        }
        assert!(marks.is_empty());
    }

    #[test]
    fn register_workload_follows_its_mix_and_aims_cas_at_seen_values() {
        let mut workload = RegisterWorkload::new(
            vec![
                (Function::Read, 1),
                (Function::Write, 1),
                (Function::Cas, 2),
            ],
            Some(3),
            2,
        );
        let mut rng = Prng::new(1, Stream::Client(0));
        let mut counts = [0u32; 3];
        for _ in 0..4_000 {
            let op = workload.next_operation(ClientId(0), Instant::ZERO, &mut rng);
            assert!(op.key.unwrap() < 3);
            counts[match op.f {
                Function::Read => 0,
                Function::Write => 1,
                _ => 2,
            }] += 1;
        }
        assert!(
            counts[2] > counts[0] + 500 && counts[2] > counts[1] + 500,
            "{counts:?}"
        );
        let read = Operation {
            f: Function::Read,
            key: Some(1),
            value: Value::Null,
        };
        workload.observe_result(
            ClientId(1),
            Instant::ZERO,
            &read,
            Some(&Outcome::Ok {
                value: Value::Int(77),
                token: None,
            }),
        );
        let mut rng = Prng::new(2, Stream::Client(1));
        let cas = std::iter::repeat_with(|| {
            workload.next_operation(ClientId(1), Instant::ZERO, &mut rng)
        })
        .find(|op| op.f == Function::Cas && op.key == Some(1))
        .unwrap();
        assert_eq!(cas.value.as_pair().unwrap().0, 77);
    }
}
