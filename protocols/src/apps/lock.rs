//! The **lock** application: a lease lock table with fencing tokens, and the resource the locks
//! protect, in one replicated state machine (DESIGN.md §5, BUGS.md §5).
//!
//! # The lock table
//!
//! Per named lock (the operation's key) the table keeps the holder's lease — the process, its
//! fencing token and the lease's expiry — and the last token handed out.
//!
//! - `acquire` (key = lock): if the caller holds an unexpired lease, it is renewed (same token,
//!   a new expiry: clients keep their lease alive by re-acquiring while they work, and name
//!   the token they hold, `acquire(k0, 70)`, which Redlock needs and this table ignores); if the lock
//!   is free or its lease has expired, it is granted with a new token one above the last
//!   (tokens strictly increase per lock: Chubby's sequencer, Kleppmann's 33 → 34); otherwise
//!   the answer is `fail`. An `ok` carries the token.
//! - `release` (key = lock, value = token): compare-and-delete. The lock is freed only if the
//!   caller holds it with that token (expired or not: a lease nobody took over is still its
//!   holder's). Otherwise `fail` and nothing changes.
//!
//! The holder is the Jepsen *process*, not the client slot: a process that got an
//! indeterminate answer is retired and its slot continues as a new process, a new session that
//! must not inherit the old one's lease (and the history checker names holders by process).
//!
//! # Lease time
//!
//! Replicas must decide identically, so the table never reads a clock: time comes only from
//! the [`Stamp`] the proposer put on each command. Within one epoch (one leader) readings come
//! from one node's monotonic clock and are comparable: expiry = reading + `lease_ttl`, and the
//! table's "now" is the largest reading applied in the epoch. Readings of different epochs come
//! from different clocks and are not comparable, so:
//!
//! 1. When a command of a **higher** epoch is applied, leases that had expired by the old
//!    epoch's last reading are dropped and every remaining lease is re-based to a full TTL from
//!    the new stamp. The new leader cannot know how much of an old lease ran; a full TTL from a
//!    proposal that comes after the grant was made errs on the side of the holder (etcd's
//!    lessor refreshes all leases when a leader is elected, for the same reason).
//! 2. A command of an **older** epoch applied late (an old leader's proposal chosen after a
//!    newer one, possible in Multi-Paxos, never in Raft) cannot measure time: its acquire
//!    answers `fail`. Granting or renewing it would date the lease from an unknown instant,
//!    which may be before the client's request was sent. Release and resource writes need no
//!    time and proceed.
//!
//! Why this is safe: a client sends its acquire at `t0` and then believes it holds the lock
//! until `t0 + lease_ttl − drift_margin` on its own clock. The leader stamps the command at or
//! after `t0`; another grant needs a reading `lease_ttl` later on the same monotonic clock (or
//! a full TTL after a later epoch's stamp), which is at least `lease_ttl / (1 + drift)` of true
//! time. So beliefs never overlap while `drift_margin ≥ lease_ttl · drift / (1 + drift)` for
//! the largest rate error `drift` of any node's clock in the scenario.
//!
//! # The protected resource
//!
//! Each lock `k` protects a resource object `k`, in the same replicated state machine but
//! sharing no state with the lock table (it never consults it: Kleppmann's point is that the
//! *storage* checks the token, not the lock service). `write` (key = `k`, value =
//! `[token, payload]`) is accepted only when `token ≥` the highest token the resource has
//! accepted, else `fail`. A separate node would have to be replicated and faulted in its own
//! right to be worth having; what matters here is that the decision uses only the resource's
//! own state, and that its writes are in the same history as the lock's operations.
//!
//! # The workload and the audit
//!
//! [`LockWorkload`]: each client acquires one of a few locks, then — while it believes it holds
//! the lock — writes to the resource with its token and renews, then releases. Validity is
//! checked when an answer arrives (`valid_until = acquire invoked + lease_ttl − drift_margin`,
//! client clocks are perfect), and the next operation goes out after the think time: a think
//! time longer than the lease is the GC pause between "am I still the holder?" and the write
//! that no client-side check can close. Network delay, retries and node pauses do the rest.
//!
//! [`audit`] is the client-side oracle of BUGS.md: from the history's times and the client's
//! validity rule it rebuilds every process's believed-held intervals and fails when two
//! processes believed they held the same lock at the same instant. The linearizability
//! checker's `lease-lock` model checks the rest (tokens grow, release only by the holder, the
//! resource accepts exactly the tokens not below the highest).
//!
//! # Mutations (BUGS.md §5)
//!
//! - L1 `lock-resource-skips-fencing-check`: the resource accepts any token.
//! - L3 `lock-release-without-owner-check`: release deletes the lock whoever holds it.
//! - L4 `lock-lease-no-drift-margin`: the client measures validity from the response with no
//!   margin, and the table measures expiry on the proposer's wall clock, which clock-step
//!   faults jump.
//!
//! # Token source and claim
//!
//! `tokens` ([`TokenSource`]): one above the lock's last (`Counter`), or the proposer's epoch in
//! the high bits (`Epoch`), so a new leader's or primary's tokens exceed every earlier epoch's
//! even when it never saw their grants (asynchronous primary-backup: the Redis-style lock);
//! with `Epoch` a lease ends with its epoch. `safety` ([`Safety`]): `Holders` runs the
//! mutual-exclusion audit; `Resource` claims only what fencing promises, checked by the
//! `lease-lock` model, and allows two believed holders.
//!
//! Simplifications: no lock-delay (Chubby's grace period after an expiry) and no session
//! table of its own — a retried acquire or release is deduplicated by the protocol's session
//! table when it has one, and is harmless otherwise (a renewal, or a `fail`).

use super::{digest_value, Application, Command, Stamp};
use crate::mutation::BugSet;
use sim_core::client::{ClientCtx, Pacing, Workload};
use sim_core::history::{EventType, Function, HistoryEvent, Value};
use sim_core::id::{ClientId, ProcessId};
use sim_core::node::{Operation, Outcome};
use sim_core::prng::Prng;
use sim_core::time::{Duration, Instant};
use sim_core::trace::Digest;
use std::collections::BTreeMap;

/// The lock service's classic bugs (BUGS.md §5), in the lock table and its clients.
pub mod bugs {
    use crate::mutation::Bug;

    /// L1: the protected resource accepts writes without comparing fencing tokens.
    pub const RESOURCE_SKIPS_FENCING_CHECK: Bug = Bug::new(
        "lock-resource-skips-fencing-check",
        "resource accepts writes with stale tokens",
    );
    /// L3: release deletes the lock without checking the caller owns it.
    pub const RELEASE_WITHOUT_OWNER_CHECK: Bug = Bug::new(
        "lock-release-without-owner-check",
        "release frees the lock whoever holds it",
    );
    /// L4: lease validity measured without a drift margin / from a jumping wall clock.
    pub const LEASE_NO_DRIFT_MARGIN: Bug = Bug::new(
        "lock-lease-no-drift-margin",
        "lease validity from the response with no drift margin, expiry on the wall clock",
    );

    /// Every lock bug.
    pub const ALL: &[Bug] = &[
        RESOURCE_SKIPS_FENCING_CHECK,
        RELEASE_WITHOUT_OWNER_CHECK,
        LEASE_NO_DRIFT_MARGIN,
    ];
}

// The lock's configuration types live in `apps/mod.rs`, beside `Application::lock_config`
// (which Redlock reads), so that module needs nothing from this one.
pub use super::{LockConfig, Safety, TokenSource};

/// The bits of an [`TokenSource::Epoch`] token below the epoch: grants per epoch and lock.
pub const EPOCH_TOKEN_SHIFT: u32 = 24;

/// The most locks a workload may address (a limit, like every collection here; the same as
/// the scenario files' object limit). The table only holds locks that were used.
pub const LOCKS_MAX: u32 = 1_000_000;

impl LockConfig {
    /// Checks the parameters.
    ///
    /// # Errors
    /// A message naming the field when `locks` is 0 or above [`LOCKS_MAX`], `lease_ttl` is
    /// zero, or `drift_margin` is not below `lease_ttl`.
    pub fn check(&self) -> Result<(), String> {
        if self.locks == 0 || self.locks > LOCKS_MAX {
            return Err(format!("locks must be 1..={LOCKS_MAX}, not {}", self.locks));
        }
        if self.lease_ttl == Duration::ZERO {
            return Err("lease_ttl must be positive".into());
        }
        if self.drift_margin >= self.lease_ttl {
            return Err(format!(
                "drift_margin ({}) must be below lease_ttl ({}): no lease would ever be valid",
                self.drift_margin, self.lease_ttl
            ));
        }
        Ok(())
    }

    /// Until when a client that invoked its acquire at `invoked` and got the answer at
    /// `answered` believes it holds the lock: `invoked + lease_ttl − drift_margin`. With L4 the
    /// client counts from the answer with no margin, `answered + lease_ttl`.
    pub fn valid_until(&self, invoked: Instant, answered: Instant) -> Instant {
        if self.bugs.contains(bugs::LEASE_NO_DRIFT_MARGIN) {
            saturating_add(answered, self.lease_ttl)
        } else {
            saturating_add(invoked, self.lease_ttl - self.drift_margin)
        }
    }
}

/// `at + duration`, saturating: stamps from a wall clock a fault jumped far ahead must not
/// overflow.
fn saturating_add(at: Instant, duration: Duration) -> Instant {
    Instant(at.as_nanos().saturating_add(duration.as_nanos()))
}

/// A holder's lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The holding process.
    pub process: ProcessId,
    /// Its fencing token.
    pub token: u64,
    /// When it expires, on the current epoch's clock.
    pub expiry: Instant,
}

/// One named lock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LockEntry {
    holder: Option<Lease>,
    /// The last token handed out (0: none yet); the next grant gets one more.
    last_token: u64,
}

/// One protected resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Resource {
    /// The highest token of an accepted write (0: none yet).
    highest_token: u64,
    /// The last accepted payload.
    payload: i64,
}

/// The table's notion of time: the highest epoch applied and the latest reading in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EpochClock {
    epoch: u64,
    reading: Instant,
}

/// The lock table and the resources its locks protect: the replicated state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockTable {
    lease_ttl: Duration,
    bugs: BugSet,
    tokens: TokenSource,
    clock: Option<EpochClock>,
    locks: BTreeMap<Option<u32>, LockEntry>,
    resources: BTreeMap<Option<u32>, Resource>,
    /// The configuration it was built with (Redlock reads the lease from it).
    config: LockConfig,
}

/// The answer of an operation that took effect and returns nothing.
fn ok_null() -> Outcome {
    Outcome::Ok {
        value: Value::Null,
        token: None,
    }
}

impl LockTable {
    /// An empty table: every lock free, every resource unwritten.
    ///
    /// # Panics
    /// If `config` does not pass [`LockConfig::check`].
    pub fn new(config: &LockConfig) -> LockTable {
        if let Err(message) = config.check() {
            panic!("invalid lock configuration: {message}");
        }
        LockTable {
            lease_ttl: config.lease_ttl,
            bugs: config.bugs,
            tokens: config.tokens,
            clock: None,
            locks: BTreeMap::new(),
            resources: BTreeMap::new(),
            config: *config,
        }
    }

    /// The lease on `lock`, if one is recorded (it may have expired).
    pub fn holder(&self, lock: Option<u32>) -> Option<Lease> {
        self.locks.get(&lock).and_then(|entry| entry.holder)
    }

    /// The last token handed out for `lock` (0: none).
    pub fn last_token(&self, lock: Option<u32>) -> u64 {
        self.locks.get(&lock).map_or(0, |entry| entry.last_token)
    }

    /// The highest token the resource of `lock` accepted (0: none) and its last payload.
    pub fn resource(&self, lock: Option<u32>) -> (u64, i64) {
        self.resources
            .get(&lock)
            .map_or((0, 0), |r| (r.highest_token, r.payload))
    }

    /// The reading of `stamp` the table measures leases with.
    fn reading(&self, stamp: &Stamp) -> Instant {
        // L4: measure on the wall clock, which clock-step faults jump forward, so leases
        // expire early on the leader that was stepped.
        if self.bugs.contains(bugs::LEASE_NO_DRIFT_MARGIN) {
            stamp.wall
        } else {
            stamp.monotonic
        }
    }

    /// Advances the table's clock with `stamp`: the time to judge leases by, or `None` for a
    /// stamp of an older epoch, which cannot be compared with the current one's readings.
    fn advance_clock(&mut self, stamp: &Stamp) -> Option<Instant> {
        let reading = self.reading(stamp);
        match self.clock {
            Some(clock) if stamp.epoch < clock.epoch => None,
            Some(clock) if stamp.epoch == clock.epoch => {
                let now = clock.reading.max(reading);
                self.clock = Some(EpochClock {
                    epoch: clock.epoch,
                    reading: now,
                });
                Some(now)
            }
            previous => {
                // A new epoch (or the first command). Leases already over by the old epoch's
                // last reading stay over; the rest get a full TTL on the new clock. With epoch
                // tokens no lease outlives its epoch: its holder must take a new-epoch token.
                let expiry = saturating_add(reading, self.lease_ttl);
                let ends_with_epoch = self.tokens == TokenSource::Epoch;
                for entry in self.locks.values_mut() {
                    match (entry.holder, previous) {
                        (Some(_), Some(_)) if ends_with_epoch => {
                            entry.holder = None;
                        }
                        (Some(lease), Some(old)) if lease.expiry <= old.reading => {
                            entry.holder = None;
                        }
                        (Some(lease), _) => {
                            entry.holder = Some(Lease { expiry, ..lease });
                        }
                        (None, _) => {}
                    }
                }
                self.clock = Some(EpochClock {
                    epoch: stamp.epoch,
                    reading,
                });
                Some(reading)
            }
        }
    }

    fn acquire(&mut self, lock: Option<u32>, process: ProcessId, now: Option<Instant>) -> Outcome {
        let Some(now) = now else {
            // An old epoch's command: see the module documentation, rule 2.
            return Outcome::Fail;
        };
        let expiry = saturating_add(now, self.lease_ttl);
        let entry = self.locks.entry(lock).or_default();
        match entry.holder {
            Some(lease) if lease.expiry > now && lease.process == process => {
                // Renewal: same token, the lease runs a full TTL from now.
                entry.holder = Some(Lease { expiry, ..lease });
                Outcome::Ok {
                    value: Value::Null,
                    token: Some(lease.token),
                }
            }
            Some(lease) if lease.expiry > now => Outcome::Fail,
            _ => {
                let mut token = entry
                    .last_token
                    .checked_add(1)
                    .expect("fencing tokens exhausted u64");
                if self.tokens == TokenSource::Epoch {
                    // The first grant of an epoch starts above every earlier epoch's tokens.
                    let epoch = self.clock.map_or(0, |clock| clock.epoch);
                    assert!(
                        epoch < 1 << (63 - EPOCH_TOKEN_SHIFT),
                        "epoch {epoch} too large for epoch tokens"
                    );
                    let floor = epoch << EPOCH_TOKEN_SHIFT;
                    token = token.max(floor + 1);
                    assert!(
                        token - floor < 1 << EPOCH_TOKEN_SHIFT,
                        "more than 2^{EPOCH_TOKEN_SHIFT} grants of one lock in one epoch"
                    );
                }
                entry.last_token = token;
                entry.holder = Some(Lease {
                    process,
                    token,
                    expiry,
                });
                assert!(entry.holder.is_some_and(|l| l.token == entry.last_token));
                Outcome::Ok {
                    value: Value::Null,
                    token: Some(token),
                }
            }
        }
    }

    fn release(&mut self, lock: Option<u32>, process: ProcessId, token: u64) -> Outcome {
        let entry = self.locks.entry(lock).or_default();
        let owns = entry
            .holder
            .is_some_and(|lease| lease.process == process && lease.token == token);
        // L3: an unconditional delete frees whoever's lock it is (a late release after the
        // lease was taken over frees the new holder's lock).
        if owns || self.bugs.contains(bugs::RELEASE_WITHOUT_OWNER_CHECK) {
            entry.holder = None;
            ok_null()
        } else {
            Outcome::Fail
        }
    }

    fn write(&mut self, lock: Option<u32>, token: u64, payload: i64) -> Outcome {
        let resource = self.resources.entry(lock).or_default();
        // L1: without the comparison a paused holder's late write with an old token lands
        // after the new holder's.
        if token < resource.highest_token && !self.bugs.contains(bugs::RESOURCE_SKIPS_FENCING_CHECK)
        {
            return Outcome::Fail;
        }
        resource.highest_token = resource.highest_token.max(token);
        resource.payload = payload;
        ok_null()
    }
}

/// A token from an operation's value; a harness bug if it is not one.
fn token_of(value: &Value, command: &Command) -> u64 {
    value
        .as_int()
        .and_then(|token| u64::try_from(token).ok())
        .unwrap_or_else(|| {
            panic!(
                "lock operation with a malformed token {value} (request {:?})",
                command.request
            )
        })
}

impl Application for LockTable {
    /// # Panics
    /// On an operation the lock table does not have (`read`, `add`, ...) or a malformed
    /// argument (a release without a token, a write that is not `[token, payload]`): the
    /// scenario's workload and application disagree, which is a harness bug.
    fn apply(&mut self, command: &Command) -> Outcome {
        let now = self.advance_clock(&command.stamp);
        let Operation { f, key, value } = &command.operation;
        match f {
            Function::Acquire => self.acquire(*key, command.process, now),
            Function::Release => {
                let token = token_of(value, command);
                self.release(*key, command.process, token)
            }
            Function::Write => {
                let Value::List(items) = value else {
                    panic!("lock write needs [token, payload], got {value}");
                };
                let [token, Value::Int(payload)] = items.as_slice() else {
                    panic!("lock write needs [token, payload], got {value}");
                };
                let token = token_of(token, command);
                self.write(*key, token, *payload)
            }
            other => panic!("the lock application has no `{}` operation", other.as_str()),
        }
    }

    fn query(&self, _operation: &Operation) -> Option<Outcome> {
        // Every lock operation changes state or depends on the replicated clock: none may
        // bypass the log.
        None
    }

    fn lock_config(&self) -> Option<LockConfig> {
        Some(self.config)
    }

    fn state_digest(&self) -> u64 {
        let mut digest = Digest::new();
        digest.str("lock");
        match self.clock {
            None => digest.word(0),
            Some(clock) => {
                digest.word(1);
                digest.word(clock.epoch);
                digest.word(clock.reading.as_nanos());
            }
        }
        let key_word = |key: &Option<u32>| key.map_or(u64::MAX, u64::from);
        digest.word(self.locks.len() as u64);
        for (key, entry) in &self.locks {
            digest.word(key_word(key));
            digest.word(entry.last_token);
            match entry.holder {
                None => digest.word(0),
                Some(lease) => {
                    digest.word(1);
                    digest.word(lease.process.0);
                    digest.word(lease.token);
                    digest.word(lease.expiry.as_nanos());
                }
            }
        }
        digest.word(self.resources.len() as u64);
        for (key, resource) in &self.resources {
            digest.word(key_word(key));
            digest.word(resource.highest_token);
            digest_value(&mut digest, &Value::Int(resource.payload));
        }
        digest.value()
    }
}

/// The most work steps (writes and renewals) a client does between acquire and release.
const WORK_STEPS_MAX: u64 = 4;

/// What a client believes it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Holding {
    lock: u32,
    token: u64,
    valid_until: Instant,
    /// Work steps left before the release; drawn at the first step.
    steps_left: Option<u64>,
}

/// One client slot's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ClientState {
    /// When the open operation was invoked.
    invoked_at: Instant,
    holding: Option<Holding>,
    /// Writes so far, for unique payloads.
    sequence: i64,
    /// BUGGIFY's next operation, invoked at once, and the mark it counts when it goes out.
    unusual: Option<(Operation, &'static str)>,
    /// The lease the validity check just gave up on (BUGGIFY may release it anyway).
    expired: Option<Holding>,
}

/// The marks of the lock workload's BUGGIFY paths (`Lock(buggify: true)`), one in four at each
/// place: a request sent twice at once; a release sent again right after it was answered; a
/// release of a lease the client found run out (instead of walking away from it); a write with
/// the token of a lease the client found run out (a client that skips the check, Kleppmann's
/// paused holder: the resource must refuse it once a newer token wrote); a refused acquire
/// retried at once instead of after a think time.
pub const MARKS: &[&str] = &[
    "lock.buggify_request_resent",
    "lock.buggify_released_twice",
    "lock.buggify_released_after_expiry",
    "lock.buggify_wrote_after_expiry",
    "lock.buggify_acquire_retried",
];

/// One BUGGIFY coin in this many at each of the workload's unusual paths.
const BUGGIFY_ONE_IN: u64 = 4;

/// Clients contending for a few locks: acquire, then write with the token and renew while the
/// lease is believed valid, then release (see the module documentation).
#[derive(Clone, Debug)]
pub struct LockWorkload {
    config: LockConfig,
    clients: Vec<ClientState>,
    /// Takes the unusual paths of [`MARKS`] now and then.
    buggify: bool,
}

impl LockWorkload {
    /// A workload over `config.locks` locks for `client_count` clients.
    ///
    /// # Panics
    /// If `config` does not pass [`LockConfig::check`].
    pub fn new(config: &LockConfig, client_count: u32) -> LockWorkload {
        if let Err(message) = config.check() {
            panic!("invalid lock configuration: {message}");
        }
        LockWorkload {
            config: *config,
            clients: vec![ClientState::default(); client_count as usize],
            buggify: false,
        }
    }

    /// The same workload, taking BUGGIFY's unusual paths ([`MARKS`]) when `buggify` is on.
    pub fn with_buggify(mut self, buggify: bool) -> LockWorkload {
        self.buggify = buggify;
        self
    }

    /// BUGGIFY after a result: what the client does next at once, if anything. Every path is
    /// legal: the table must answer a second release, a late release or a hot retry correctly.
    fn choose_unusual(
        &mut self,
        ctx: &mut ClientCtx<'_>,
        held_before: Option<Holding>,
        operation: &Operation,
        outcome: Option<&Outcome>,
    ) -> Option<(Operation, &'static str)> {
        let expired = self.clients[ctx.client().index()].expired.take();
        match (operation.f, outcome) {
            // Released (or refused): the same release again, as a client whose first answer
            // it did not trust. A correct table refuses it: the token is no longer held.
            (Function::Release, Some(Outcome::Ok { .. })) if ctx.buggify(BUGGIFY_ONE_IN) => {
                Some((operation.clone(), "lock.buggify_released_twice"))
            }
            // Refused: someone else holds the lock. Ask again at once rather than think.
            (Function::Acquire, Some(Outcome::Fail)) if held_before.is_none() => ctx
                .buggify(BUGGIFY_ONE_IN)
                .then(|| (operation.clone(), "lock.buggify_acquire_retried")),
            // The validity check ran the lease out: release it anyway (tidying up) instead of
            // walking away. The lease may have passed to another holder by now, so a table
            // that frees whoever's lock it is (L3) frees theirs.
            _ => {
                let expired = expired?;
                if ctx.buggify(BUGGIFY_ONE_IN) {
                    let release = Operation {
                        f: Function::Release,
                        key: Some(expired.lock),
                        value: Value::Int(expired.token as i64),
                    };
                    return Some((release, "lock.buggify_released_after_expiry"));
                }
                // Or write with it anyway: the check that no client-side code can make safe.
                // A fenced resource refuses the write once a newer holder wrote (L1 does not).
                ctx.buggify(BUGGIFY_ONE_IN).then(|| {
                    let state = &mut self.clients[ctx.client().index()];
                    state.sequence += 1;
                    let payload = i64::from(ctx.client().0) * 1_000_000 + state.sequence;
                    let write = Operation {
                        f: Function::Write,
                        key: Some(expired.lock),
                        value: Value::pair(expired.token as i64, payload),
                    };
                    (write, "lock.buggify_wrote_after_expiry")
                })
            }
        }
    }
}

impl Workload for LockWorkload {
    fn next_operation(&mut self, client: ClientId, now: Instant, rng: &mut Prng) -> Operation {
        let state = &mut self.clients[client.index()];
        state.invoked_at = now;
        // No validity check here: it was made when the last answer arrived, and the think
        // time since is the pause between the check and the use.
        let Some(holding) = state.holding.as_mut() else {
            let lock = rng.below(u64::from(self.config.locks)) as u32;
            return Operation {
                f: Function::Acquire,
                key: Some(lock),
                value: Value::Null,
            };
        };
        let lock = Some(holding.lock);
        let steps_left = holding
            .steps_left
            .get_or_insert_with(|| rng.range_inclusive(1, WORK_STEPS_MAX));
        if *steps_left == 0 {
            return Operation {
                f: Function::Release,
                key: lock,
                value: Value::Int(holding.token as i64),
            };
        }
        *steps_left -= 1;
        if rng.below(3) == 0 {
            // Keep-alive: a renewal is an acquire by the holder, naming the token it holds
            // (Redlock extends only a key that still holds it; the lock table renews the
            // caller's lease whatever the argument).
            Operation {
                f: Function::Acquire,
                key: lock,
                value: Value::Int(holding.token as i64),
            }
        } else {
            state.sequence += 1;
            let payload = i64::from(client.0) * 1_000_000 + state.sequence;
            Operation {
                f: Function::Write,
                key: lock,
                value: Value::pair(holding.token as i64, payload),
            }
        }
    }

    fn observe_result(
        &mut self,
        client: ClientId,
        now: Instant,
        operation: &Operation,
        outcome: Option<&Outcome>,
    ) {
        let config = self.config;
        let state = &mut self.clients[client.index()];
        let Some(outcome) = outcome.filter(|o| !matches!(o, Outcome::Unknown)) else {
            // Indeterminate: the process is retired and the slot starts a new session.
            state.holding = None;
            return;
        };
        match (operation.f, outcome, operation.key) {
            (
                Function::Acquire,
                Outcome::Ok {
                    token: Some(token), ..
                },
                Some(lock),
            ) => {
                let steps_left = state
                    .holding
                    .filter(|h| h.lock == lock && h.token == *token)
                    .and_then(|h| h.steps_left);
                state.holding = Some(Holding {
                    lock,
                    token: *token,
                    valid_until: config.valid_until(state.invoked_at, now),
                    steps_left,
                });
            }
            // A refused acquire or write means someone else holds the lock now; a release
            // ends the work either way.
            (Function::Acquire, _, _)
            | (Function::Write, Outcome::Fail, _)
            | (Function::Release, _, _) => {
                state.holding = None;
            }
            _ => {}
        }
        // The validity check ("am I still the holder?").
        if let Some(holding) = state.holding.filter(|h| now >= h.valid_until) {
            state.expired = Some(holding);
            state.holding = None;
        }
    }

    fn pacing(&mut self, client: ClientId, now: Instant) -> Pacing {
        // BUGGIFY's next operation goes out at once; otherwise the usual think time.
        match self.clients[client.index()].unusual {
            Some(_) => Pacing::At(now),
            None => Pacing::Think,
        }
    }

    fn next_operation_in(&mut self, ctx: &mut ClientCtx<'_>) -> Operation {
        let (client, now) = (ctx.client(), ctx.now());
        if let Some((operation, mark)) = self.clients[client.index()].unusual.take() {
            ctx.mark(mark);
            self.clients[client.index()].invoked_at = now;
            return operation;
        }
        let operation = self.next_operation(client, now, ctx.rng());
        if self.buggify && ctx.buggify(BUGGIFY_ONE_IN) {
            ctx.mark("lock.buggify_request_resent");
            ctx.resend_at_once();
        }
        operation
    }

    fn observe_result_in(
        &mut self,
        ctx: &mut ClientCtx<'_>,
        operation: &Operation,
        outcome: Option<&Outcome>,
    ) {
        let (client, now) = (ctx.client(), ctx.now());
        let held_before = self.clients[client.index()].holding;
        self.clients[client.index()].expired = None;
        self.observe_result(client, now, operation, outcome);
        if self.buggify {
            let unusual = self.choose_unusual(ctx, held_before, operation, outcome);
            self.clients[client.index()].unusual = unusual;
        }
    }
}

/// One believed-held interval: `process` believed it held `lock` with `token` during
/// `[start, end)` (nanoseconds of simulated time).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Belief {
    start: u64,
    end: u64,
    process: u64,
    token: u64,
}

/// The client-side mutual-exclusion oracle (BUGS.md `mutual-exclusion`): rebuilds every
/// process's believed-held intervals from the history's times and the client's validity rule
/// ([`LockConfig::valid_until`]) and checks that no two processes believed they held the same
/// lock at the same instant.
///
/// A belief starts when an acquire answers `ok` and lasts until its validity runs out, or
/// earlier when the process invokes a release of the lock, is refused an acquire or a write
/// on it, or is retired by an indeterminate answer. A renewal starts a new belief. Events of
/// other functions are not lock operations and are ignored.
///
/// # Errors
/// A message naming both processes, their tokens and intervals when two beliefs overlap.
pub fn audit(history: &[HistoryEvent], config: &LockConfig) -> Result<(), String> {
    // Per process: when its open operation was invoked.
    let mut invoked: BTreeMap<u64, u64> = BTreeMap::new();
    // Per (lock, process): the belief being built.
    let mut open: BTreeMap<(Option<String>, u64), Belief> = BTreeMap::new();
    let mut beliefs: BTreeMap<Option<String>, Vec<Belief>> = BTreeMap::new();
    let mut close = |open: &mut BTreeMap<(Option<String>, u64), Belief>,
                     key: &(Option<String>, u64),
                     at: u64| {
        if let Some(mut belief) = open.remove(key) {
            belief.end = belief.end.min(at);
            if belief.start < belief.end {
                beliefs.entry(key.0.clone()).or_default().push(belief);
            }
        }
    };
    for event in history {
        let key = (event.key.clone(), event.process);
        match (event.kind, event.f) {
            (
                _,
                Function::Read | Function::Cas | Function::Add | Function::Txn | Function::Transfer,
            ) => {}
            (EventType::Invoke, f) => {
                invoked.insert(event.process, event.time);
                if f == Function::Release {
                    close(&mut open, &key, event.time);
                }
            }
            (EventType::Ok, Function::Acquire) => {
                let Some(token) = event.token else { continue };
                let start = invoked.get(&event.process).copied().unwrap_or(event.time);
                let valid_until = config
                    .valid_until(Instant(start), Instant(event.time))
                    .as_nanos();
                close(&mut open, &key, event.time);
                open.insert(
                    key,
                    Belief {
                        start: event.time,
                        end: valid_until,
                        process: event.process,
                        token,
                    },
                );
            }
            (EventType::Fail, Function::Acquire | Function::Write) => {
                close(&mut open, &key, event.time);
            }
            (EventType::Info, _) => {
                // Retired: every belief of the process ends.
                let held: Vec<_> = open
                    .keys()
                    .filter(|(_, process)| *process == event.process)
                    .cloned()
                    .collect();
                for key in held {
                    close(&mut open, &key, event.time);
                }
            }
            _ => {}
        }
    }
    let rest: Vec<_> = open.keys().cloned().collect();
    for key in rest {
        close(&mut open, &key, u64::MAX);
    }
    for (lock, mut list) in beliefs {
        list.sort();
        // Sweep in start order, keeping the beliefs still running at the current start.
        let mut running: Vec<&Belief> = Vec::new();
        for belief in &list {
            running.retain(|other| other.end > belief.start);
            if let Some(other) = running.iter().find(|other| other.process != belief.process) {
                return Err(format!(
                    "mutual exclusion: lock {} was believed held by process {} (token {}) from {} to {} and by process {} (token {}) from {} to {}",
                    lock.as_deref().unwrap_or("(unnamed)"),
                    other.process,
                    other.token,
                    Instant(other.start),
                    Instant(other.end),
                    belief.process,
                    belief.token,
                    Instant(belief.start),
                    Instant(belief.end),
                ));
            }
            running.push(belief);
        }
    }
    Ok(())
}

const LOCK_PARAMS: &[crate::params::Param] = &[
    crate::params::Param::new(
        "locks",
        crate::params::ParamKind::Count {
            min: 1,
            max: LOCKS_MAX,
        },
        crate::params::ParamValue::Count(1),
        "how many locks clients contend for",
    ),
    crate::params::Param::new(
        "lease",
        crate::params::ParamKind::Duration,
        crate::params::ParamValue::Duration(Duration::from_secs(1)),
        "how long a grant lasts without renewal (on the leader's monotonic clock)",
    ),
    crate::params::Param::new(
        "drift_margin",
        crate::params::ParamKind::Duration,
        crate::params::ParamValue::Duration(Duration::from_millis(100)),
        "how much earlier a client stops trusting its lease (below lease)",
    ),
    crate::params::Param::new(
        "tokens",
        crate::params::ParamKind::Choice(&["Counter", "Epoch"]),
        crate::params::ParamValue::Choice("Counter"),
        "fencing tokens one above the lock's last (Counter) or epoch-prefixed, higher than any earlier epoch's (Epoch; leases end with their epoch)",
    ),
    crate::params::Param::new(
        "safety",
        crate::params::ParamKind::Choice(&["Holders", "Resource"]),
        crate::params::ParamValue::Choice("Holders"),
        "the claim checked: no two believed holders at once (Holders), or only that the fenced resource refuses stale tokens (Resource)",
    ),
    crate::params::Param::new(
        "buggify",
        crate::params::ParamKind::Bool,
        crate::params::ParamValue::Bool(false),
        "unusual-but-legal client paths now and then: a request sent twice at once, a release sent twice or after the lease ran out, a write after the lease ran out, a refused acquire retried at once",
    ),
];

/// The lock service in the registry.
pub struct LockApp;

/// The registry's value for the lock service.
pub static LOCK: LockApp = LockApp;

impl LockApp {
    /// The lock configuration of validated `params` with `bugs` on.
    pub fn config(params: &crate::params::Params, bugs: BugSet) -> LockConfig {
        LockConfig {
            locks: params.count("locks"),
            lease_ttl: params.duration("lease"),
            drift_margin: params.duration("drift_margin"),
            bugs,
            tokens: match params.choice("tokens") {
                "Epoch" => TokenSource::Epoch,
                _ => TokenSource::Counter,
            },
            safety: match params.choice("safety") {
                "Resource" => Safety::Resource,
                _ => Safety::Holders,
            },
        }
    }
}

/// How the registry and scenario files name it.
const IDENTITY: crate::describe::Identity = crate::describe::Identity {
    name: "lock",
    variant: "Lock",
    summary: "lease locks with fencing tokens and a fenced resource; a fixed workload (no mix)",
    params: LOCK_PARAMS,
    bare: false,
};

impl crate::describe::App for LockApp {
    fn identity(&self) -> &'static crate::describe::Identity {
        &IDENTITY
    }

    fn requires(&self) -> crate::capabilities::Capabilities {
        // Lease expiry is decided from the proposer's stamps on every replica.
        crate::capabilities::Capabilities::STAMPED_COMMANDS
            .with(crate::capabilities::Capabilities::STATE_MACHINE)
    }

    fn bugs(&self) -> &'static [crate::mutation::Bug] {
        bugs::ALL
    }

    fn functions(&self) -> &'static [Function] {
        // Writes go to the protected resource, carrying the writer's fencing token.
        &[Function::Acquire, Function::Release, Function::Write]
    }

    fn default_mix(&self) -> &'static [(Function, u64)] {
        // The lock workload is fixed (acquire, fenced writes, release); this is only what a
        // listing shows.
        &[
            (Function::Acquire, 1),
            (Function::Write, 1),
            (Function::Release, 1),
        ]
    }

    fn takes_mix(&self) -> bool {
        false
    }

    fn object_count(&self, params: &crate::params::Params) -> u32 {
        params.count("locks")
    }

    fn model(&self) -> sim_core::check::Model {
        sim_core::check::Model::LeaseLock
    }

    fn audits(&self) -> &'static [&'static str] {
        &["mutual-exclusion"]
    }

    fn validate(
        &self,
        params: &mut crate::params::Params,
    ) -> Result<(), crate::params::ParamError> {
        let lease_ttl = crate::params::positive(params, "lease")?;
        let drift_margin = params.duration("drift_margin");
        if drift_margin >= lease_ttl {
            return Err(crate::params::ParamError::new(
                "drift_margin",
                format!(
                    "{drift_margin} is not below the lease {lease_ttl}: clients would never believe they hold a lock"
                ),
            ));
        }
        Ok(())
    }

    fn build(&self, params: &crate::params::Params, bugs: BugSet) -> super::AnyApp {
        super::AnyApp::new(LockTable::new(&LockApp::config(params, bugs)))
    }

    fn workload(
        &self,
        params: &crate::params::Params,
        _mix: Vec<(Function, u64)>,
        clients: u32,
        bugs: BugSet,
    ) -> Box<dyn Workload> {
        Box::new(
            LockWorkload::new(&LockApp::config(params, bugs), clients)
                .with_buggify(params.bool("buggify")),
        )
    }

    fn marks(&self) -> &'static [&'static str] {
        MARKS
    }

    fn audit(
        &self,
        params: &crate::params::Params,
        bugs: BugSet,
        history: &[HistoryEvent],
    ) -> crate::describe::AuditResult {
        let config = LockApp::config(params, bugs);
        if config.safety == Safety::Resource {
            // Overlapping holders are allowed: the lease-lock model checks the resources.
            return Ok(());
        }
        audit(history, &config).map_err(|message| ("mutual-exclusion", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::Bug;
    use sim_core::id::RequestId;
    use sim_core::prng::Stream;

    const TTL: Duration = Duration::from_millis(100);

    fn config(bugs: &[Bug]) -> LockConfig {
        LockConfig {
            locks: 2,
            lease_ttl: TTL,
            drift_margin: Duration::from_millis(20),
            bugs: bugs.iter().copied().collect(),
            tokens: TokenSource::Counter,
            safety: Safety::Holders,
        }
    }

    /// A stamp of `epoch` at `monotonic_ms` on the monotonic clock and `wall_ms` on the wall.
    fn stamp(epoch: u64, monotonic_ms: u64, wall_ms: u64) -> Stamp {
        Stamp {
            epoch,
            wall: Instant(wall_ms * 1_000_000),
            monotonic: Instant(monotonic_ms * 1_000_000),
        }
    }

    fn command(process: u64, f: Function, value: Value, stamp: Stamp) -> Command {
        Command {
            request: RequestId(0),
            client: ClientId(0),
            process: ProcessId(process),
            operation: Operation {
                f,
                key: Some(0),
                value,
            },
            stamp,
        }
    }

    fn acquire(table: &mut LockTable, process: u64, at: Stamp) -> Outcome {
        table.apply(&command(process, Function::Acquire, Value::Null, at))
    }

    fn release(table: &mut LockTable, process: u64, token: i64, at: Stamp) -> Outcome {
        table.apply(&command(process, Function::Release, Value::Int(token), at))
    }

    fn write(table: &mut LockTable, token: i64, payload: i64, at: Stamp) -> Outcome {
        table.apply(&command(
            9,
            Function::Write,
            Value::pair(token, payload),
            at,
        ))
    }

    fn granted(token: u64) -> Outcome {
        Outcome::Ok {
            value: Value::Null,
            token: Some(token),
        }
    }

    #[test]
    fn grant_renew_and_refuse_while_the_lease_runs() {
        let mut table = LockTable::new(&config(&[]));
        assert_eq!(acquire(&mut table, 1, stamp(1, 0, 0)), granted(1));
        assert_eq!(acquire(&mut table, 2, stamp(1, 50, 50)), Outcome::Fail);
        // Renewal at 90ms: same token, the lease now runs to 190ms.
        assert_eq!(acquire(&mut table, 1, stamp(1, 90, 90)), granted(1));
        assert_eq!(table.holder(Some(0)).unwrap().expiry, Instant(190_000_000));
        assert_eq!(acquire(&mut table, 2, stamp(1, 150, 150)), Outcome::Fail);
        // The other lock is independent.
        let mut other = command(2, Function::Acquire, Value::Null, stamp(1, 150, 150));
        other.operation.key = Some(1);
        assert_eq!(table.apply(&other), granted(1));
        assert_eq!(table.last_token(Some(0)), 1);
    }

    #[test]
    fn an_expired_lease_is_taken_over_with_a_higher_token() {
        let mut table = LockTable::new(&config(&[]));
        assert_eq!(acquire(&mut table, 1, stamp(1, 0, 0)), granted(1));
        assert_eq!(acquire(&mut table, 2, stamp(1, 99, 99)), Outcome::Fail);
        assert_eq!(acquire(&mut table, 2, stamp(1, 100, 100)), granted(2));
        assert_eq!(table.holder(Some(0)).unwrap().process, ProcessId(2));
        // The old holder re-acquiring after its expiry is a new grant, not a renewal.
        assert_eq!(acquire(&mut table, 2, stamp(1, 250, 250)), granted(3));
        assert_eq!(acquire(&mut table, 1, stamp(1, 400, 400)), granted(4));
        assert_eq!(table.last_token(Some(0)), 4);
    }

    #[test]
    fn readings_never_go_back_within_an_epoch() {
        // A proposal stamped earlier but applied later (a reordered command) judges leases by
        // the latest reading of the epoch, not by its own.
        let mut table = LockTable::new(&config(&[]));
        assert_eq!(acquire(&mut table, 1, stamp(1, 0, 0)), granted(1));
        assert_eq!(acquire(&mut table, 2, stamp(1, 120, 120)), granted(2));
        assert_eq!(acquire(&mut table, 2, stamp(1, 30, 30)), granted(2));
        assert_eq!(
            table.holder(Some(0)).unwrap().expiry,
            Instant(220_000_000),
            "renewed from 120ms, not from 30ms"
        );
    }

    #[test]
    fn a_new_epoch_rebases_every_live_lease_to_a_full_ttl() {
        let mut table = LockTable::new(&config(&[]));
        assert_eq!(acquire(&mut table, 1, stamp(1, 1_000, 1_000)), granted(1));
        // The new leader's clock reads something unrelated (5000ms). The lease runs a full
        // TTL from the first command of the new epoch, whatever that command is.
        assert_eq!(write(&mut table, 1, 7, stamp(2, 5_000, 5_000)), ok_null());
        assert_eq!(
            table.holder(Some(0)).unwrap().expiry,
            Instant(5_100_000_000)
        );
        assert_eq!(
            acquire(&mut table, 2, stamp(2, 5_099, 5_099)),
            Outcome::Fail
        );
        assert_eq!(acquire(&mut table, 2, stamp(2, 5_100, 5_100)), granted(2));
        // A lease already over by the old epoch's last reading is not resurrected: process
        // 2's lease ended at 5200ms, the epoch's last reading is 5300ms.
        assert_eq!(write(&mut table, 2, 8, stamp(2, 5_300, 5_300)), ok_null());
        assert_eq!(acquire(&mut table, 1, stamp(3, 0, 0)), granted(3));
        assert_eq!(table.holder(Some(0)).unwrap().process, ProcessId(1));
        // ...and a fresh epoch whose clock reads *earlier* still gives the holder a full TTL.
        let mut table = LockTable::new(&config(&[]));
        assert_eq!(acquire(&mut table, 1, stamp(1, 1_000, 1_000)), granted(1));
        assert_eq!(acquire(&mut table, 2, stamp(2, 10, 10)), Outcome::Fail);
        assert_eq!(table.holder(Some(0)).unwrap().expiry, Instant(110_000_000));
    }

    #[test]
    fn old_epoch_stamps_never_grant_or_expire_anything() {
        let mut table = LockTable::new(&config(&[]));
        assert_eq!(acquire(&mut table, 1, stamp(2, 0, 0)), granted(1));
        // An old leader's proposal with a far-future reading, chosen late.
        assert_eq!(
            acquire(&mut table, 2, stamp(1, 9_000, 9_000)),
            Outcome::Fail
        );
        assert_eq!(
            acquire(&mut table, 1, stamp(1, 9_000, 9_000)),
            Outcome::Fail
        );
        assert_eq!(table.holder(Some(0)).unwrap().expiry, Instant(100_000_000));
        // Release and writes need no clock.
        assert_eq!(write(&mut table, 1, 5, stamp(1, 9_000, 9_000)), ok_null());
        assert_eq!(release(&mut table, 1, 1, stamp(1, 9_000, 9_000)), ok_null());
        assert_eq!(table.holder(Some(0)), None);
        assert_eq!(
            acquire(&mut table, 2, stamp(1, 9_000, 9_000)),
            Outcome::Fail
        );
        assert_eq!(acquire(&mut table, 2, stamp(2, 10, 10)), granted(2));
    }

    #[test]
    fn epoch_tokens_outrun_every_earlier_epoch_and_leases_end_with_theirs() {
        let epoch_config = LockConfig {
            tokens: TokenSource::Epoch,
            ..config(&[])
        };
        let base = |epoch: u64| epoch << EPOCH_TOKEN_SHIFT;
        let mut table = LockTable::new(&epoch_config);
        assert_eq!(acquire(&mut table, 1, stamp(1, 0, 0)), granted(base(1) + 1));
        assert_eq!(
            release(&mut table, 1, (base(1) + 1) as i64, stamp(1, 5, 5)),
            ok_null()
        );
        assert_eq!(
            acquire(&mut table, 2, stamp(1, 10, 10)),
            granted(base(1) + 2)
        );
        // A promoted replica that never saw the grants of epoch 1 still hands out higher tokens.
        let mut promoted = LockTable::new(&epoch_config);
        assert_eq!(
            acquire(&mut promoted, 3, stamp(1, 0, 0)),
            granted(base(1) + 1)
        );
        assert_eq!(
            acquire(&mut promoted, 4, stamp(2, 0, 0)),
            granted(base(2) + 1)
        );
        // The lease of epoch 1 ended with it: its holder's acquire is a new grant, not a renewal.
        assert_eq!(
            acquire(&mut table, 2, stamp(2, 20, 20)),
            granted(base(2) + 1)
        );
        assert_eq!(
            write(&mut table, (base(1) + 2) as i64, 7, stamp(2, 21, 21)),
            ok_null()
        );
        assert_eq!(
            write(&mut table, (base(2) + 1) as i64, 8, stamp(2, 22, 22)),
            ok_null()
        );
        assert_eq!(
            write(&mut table, (base(1) + 2) as i64, 9, stamp(2, 23, 23)),
            Outcome::Fail,
            "the stale holder of epoch 1 is fenced off"
        );
        // Counter tokens restart from the replica's own last token (the failover's duplicate).
        let mut counter = LockTable::new(&config(&[]));
        assert_eq!(acquire(&mut counter, 4, stamp(2, 0, 0)), granted(1));
    }

    #[test]
    fn release_is_compare_and_delete() {
        let mut table = LockTable::new(&config(&[]));
        assert_eq!(acquire(&mut table, 1, stamp(1, 0, 0)), granted(1));
        assert_eq!(
            release(&mut table, 2, 1, stamp(1, 10, 10)),
            Outcome::Fail,
            "not the holder"
        );
        assert_eq!(
            release(&mut table, 1, 7, stamp(1, 10, 10)),
            Outcome::Fail,
            "not its token"
        );
        assert_eq!(table.holder(Some(0)).unwrap().process, ProcessId(1));
        // Expired but not taken over: still the holder's to release.
        assert_eq!(release(&mut table, 1, 1, stamp(1, 500, 500)), ok_null());
        assert_eq!(table.holder(Some(0)), None);
        assert_eq!(
            release(&mut table, 1, 1, stamp(1, 500, 500)),
            Outcome::Fail,
            "twice"
        );
        // After a takeover, the late release of the old grant fails...
        assert_eq!(acquire(&mut table, 1, stamp(1, 600, 600)), granted(2));
        assert_eq!(acquire(&mut table, 2, stamp(1, 700, 700)), granted(3));
        assert_eq!(release(&mut table, 1, 2, stamp(1, 710, 710)), Outcome::Fail);
        assert_eq!(table.holder(Some(0)).unwrap().token, 3);
        // ...and with L3 it frees the new holder's lock.
        let mut table = LockTable::new(&config(&[bugs::RELEASE_WITHOUT_OWNER_CHECK]));
        assert_eq!(acquire(&mut table, 1, stamp(1, 600, 600)), granted(1));
        assert_eq!(acquire(&mut table, 2, stamp(1, 700, 700)), granted(2));
        assert_eq!(release(&mut table, 1, 1, stamp(1, 710, 710)), ok_null());
        assert_eq!(table.holder(Some(0)), None);
        assert_eq!(acquire(&mut table, 3, stamp(1, 720, 720)), granted(3));
    }

    #[test]
    fn the_resource_refuses_tokens_below_the_highest_accepted() {
        for l1 in [false, true] {
            let bugs: &[Bug] = if l1 {
                &[bugs::RESOURCE_SKIPS_FENCING_CHECK]
            } else {
                &[]
            };
            let mut table = LockTable::new(&config(bugs));
            let at = stamp(1, 0, 0);
            assert_eq!(write(&mut table, 33, 1, at), ok_null());
            assert_eq!(write(&mut table, 34, 2, at), ok_null());
            assert_eq!(
                write(&mut table, 34, 3, at),
                ok_null(),
                "equal is not lower"
            );
            let late = write(&mut table, 33, 4, at);
            if l1 {
                assert_eq!(late, ok_null());
                assert_eq!(table.resource(Some(0)), (34, 4));
            } else {
                assert_eq!(late, Outcome::Fail);
                assert_eq!(table.resource(Some(0)), (34, 3));
            }
            // The resource never consults the lock table: nobody holds lock 0 here.
            assert_eq!(table.holder(Some(0)), None);
        }
    }

    #[test]
    fn l4_measures_leases_on_the_wall_clock() {
        // The leader's wall clock jumps 1s forward between two proposals; its monotonic clock
        // does not.
        for l4 in [false, true] {
            let bugs: &[Bug] = if l4 {
                &[bugs::LEASE_NO_DRIFT_MARGIN]
            } else {
                &[]
            };
            let mut table = LockTable::new(&config(bugs));
            assert_eq!(acquire(&mut table, 1, stamp(1, 0, 0)), granted(1));
            let stolen = acquire(&mut table, 2, stamp(1, 10, 1_010));
            assert_eq!(stolen == granted(2), l4, "l4={l4}: {stolen:?}");
        }
    }

    #[test]
    fn replicas_applying_the_same_commands_agree_and_the_digest_sees_the_lease() {
        let commands = [
            command(1, Function::Acquire, Value::Null, stamp(1, 0, 0)),
            command(1, Function::Write, Value::pair(1, 5), stamp(1, 10, 10)),
            command(2, Function::Acquire, Value::Null, stamp(2, 10, 10)),
        ];
        let mut a = LockTable::new(&config(&[]));
        let mut b = LockTable::new(&config(&[]));
        for command in &commands {
            assert_eq!(a.apply(command), b.apply(command));
        }
        assert_eq!(a, b);
        assert_eq!(a.state_digest(), b.state_digest());
        let before = a.state_digest();
        acquire(&mut a, 1, stamp(2, 20, 20)); // a renewal: only the expiry moves
        assert_ne!(a.state_digest(), before);
        assert_ne!(LockTable::new(&config(&[])).state_digest(), before);
    }

    #[test]
    fn nothing_bypasses_the_log() {
        let table = LockTable::new(&config(&[]));
        for f in [
            Function::Acquire,
            Function::Release,
            Function::Write,
            Function::Read,
        ] {
            let operation = Operation {
                f,
                key: Some(0),
                value: Value::Null,
            };
            assert_eq!(table.query(&operation), None);
        }
    }

    #[test]
    #[should_panic(expected = "no `read` operation")]
    fn foreign_operation_is_a_harness_bug() {
        let mut table = LockTable::new(&config(&[]));
        table.apply(&command(1, Function::Read, Value::Null, stamp(1, 0, 0)));
    }

    #[test]
    fn configurations_without_any_valid_lease_are_refused() {
        let good = config(&[]);
        assert_eq!(good.check(), Result::Ok(()));
        let margin = LockConfig {
            drift_margin: TTL,
            ..good
        };
        assert!(margin.check().unwrap_err().contains("drift_margin"));
        let locks = LockConfig { locks: 0, ..good };
        assert!(locks.check().unwrap_err().contains("locks"));
        let ttl = LockConfig {
            lease_ttl: Duration::ZERO,
            drift_margin: Duration::ZERO,
            ..good
        };
        assert!(ttl.check().unwrap_err().contains("lease_ttl"));
    }

    #[test]
    fn validity_counts_from_the_request_with_the_margin_unless_l4() {
        let invoked = Instant(1_000_000_000);
        let answered = Instant(1_030_000_000);
        assert_eq!(
            config(&[]).valid_until(invoked, answered),
            Instant(1_080_000_000)
        );
        assert_eq!(
            config(&[bugs::LEASE_NO_DRIFT_MARGIN]).valid_until(invoked, answered),
            Instant(1_130_000_000)
        );
    }

    fn ms(n: u64) -> Instant {
        Instant(n * 1_000_000)
    }

    /// Two clients of a `LockWorkload` against a real table, one operation at a time, each
    /// answered after 0 to 119ms (so leases run out now and then): the marks counted, every
    /// operation with the client that sent it, and how many asked to be sent twice.
    fn drive(buggify: bool) -> (BTreeMap<&'static str, u64>, Vec<(u32, Operation)>, u32) {
        let mut workload = LockWorkload::new(&config(&[]), 2).with_buggify(buggify);
        let mut table = LockTable::new(&config(&[]));
        let mut rngs = [0, 1].map(|c| Prng::new(5, Stream::Client(c)));
        let mut coins = [0, 1].map(|c| Prng::new(5, Stream::ClientBuggify(c)));
        let mut delays = Prng::new(5, Stream::Custom(0));
        let (mut marks, mut sent, mut resent) = (BTreeMap::new(), Vec::new(), 0);
        let mut now = [0u64, 3];
        for _ in 0..2_000 {
            let c = if now[0] <= now[1] { 0 } else { 1 };
            let client = ClientId(c as u32);
            let mut ctx =
                ClientCtx::new(client, ms(now[c]), &mut rngs[c], &mut coins[c], &mut marks);
            let operation = workload.next_operation_in(&mut ctx);
            resent += u32::from(ctx.is_resent_at_once());
            let answered = now[c] + delays.below(120);
            let mut command = command(
                c as u64,
                operation.f,
                operation.value.clone(),
                stamp(1, answered, answered),
            );
            command.operation.key = operation.key;
            let outcome = table.apply(&command);
            let mut ctx = ClientCtx::new(
                client,
                ms(answered),
                &mut rngs[c],
                &mut coins[c],
                &mut marks,
            );
            workload.observe_result_in(&mut ctx, &operation, Some(&outcome));
            now[c] = match workload.pacing(client, ms(answered)) {
                Pacing::At(at) => {
                    assert!(buggify, "only BUGGIFY paces at once");
                    assert_eq!(at, ms(answered), "at once");
                    answered
                }
                _ => answered + 1 + delays.below(40),
            };
            sent.push((c as u32, operation));
        }
        (marks, sent, resent)
    }

    #[test]
    fn workload_buggify_takes_each_unusual_path_and_marks_it() {
        let (marks, sent, resent) = drive(true);
        for mark in MARKS {
            assert!(
                marks.get(mark).copied().unwrap_or(0) > 0,
                "{mark}: {marks:?}"
            );
        }
        assert_eq!(marks.len(), MARKS.len(), "{marks:?}");
        assert_eq!(u64::from(resent), marks["lock.buggify_request_resent"]);
        // A double release repeats the release just answered: same lock, same token.
        let twice: u64 = [0, 1]
            .iter()
            .map(|&c| {
                let own: Vec<&Operation> = sent
                    .iter()
                    .filter(|(sender, _)| *sender == c)
                    .map(|(_, operation)| operation)
                    .collect();
                own.windows(2)
                    .filter(|pair| pair[0].f == Function::Release && pair[0] == pair[1])
                    .count() as u64
            })
            .sum();
        assert!(twice >= marks["lock.buggify_released_twice"], "{twice}");
    }

    #[test]
    fn workload_without_buggify_marks_nothing_and_draws_as_before() {
        let (marks, sent, resent) = drive(false);
        assert!(marks.is_empty(), "{marks:?}");
        assert_eq!(resent, 0);
        // The same operations as the plain calls draw (no coin taken from the client stream).
        let mut workload = LockWorkload::new(&config(&[]), 2);
        let mut table = LockTable::new(&config(&[]));
        let mut rngs = [0, 1].map(|c| Prng::new(5, Stream::Client(c)));
        let mut delays = Prng::new(5, Stream::Custom(0));
        let mut now = [0u64, 3];
        for (c_sent, operation_sent) in &sent {
            let c = if now[0] <= now[1] { 0 } else { 1 };
            assert_eq!(c as u32, *c_sent);
            let client = ClientId(c as u32);
            let operation = workload.next_operation(client, ms(now[c]), &mut rngs[c]);
            assert_eq!(&operation, operation_sent);
            let answered = now[c] + delays.below(120);
            let mut command = command(
                c as u64,
                operation.f,
                operation.value.clone(),
                stamp(1, answered, answered),
            );
            command.operation.key = operation.key;
            let outcome = table.apply(&command);
            workload.observe_result(client, ms(answered), &operation, Some(&outcome));
            now[c] = answered + 1 + delays.below(40);
        }
    }

    #[test]
    fn workload_acquires_works_with_its_token_and_releases() {
        let mut workload = LockWorkload::new(&config(&[]), 3);
        let mut rng = Prng::new(7, Stream::Client(0));
        let client = ClientId(0);
        let first = workload.next_operation(client, ms(0), &mut rng);
        assert_eq!(first.f, Function::Acquire);
        let lock = first.key.expect("a lock");
        assert!(lock < 2);
        workload.observe_result(client, ms(5), &first, Some(&granted(4)));
        // While the lease is believed valid (until 80ms): writes with token 4 and renewals,
        // then a release of token 4.
        let mut seen = Vec::new();
        let mut now = 10;
        loop {
            let op = workload.next_operation(client, ms(now), &mut rng);
            assert_eq!(op.key, Some(lock));
            seen.push(op.f);
            match op.f {
                Function::Write => {
                    assert_eq!(op.value.as_pair().unwrap().0, 4);
                    workload.observe_result(client, ms(now + 1), &op, Some(&ok_null()));
                }
                Function::Acquire => {
                    workload.observe_result(client, ms(now + 1), &op, Some(&granted(4)));
                }
                Function::Release => {
                    assert_eq!(op.value, Value::Int(4));
                    workload.observe_result(client, ms(now + 1), &op, Some(&ok_null()));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
            now += 10;
        }
        assert!(
            (2..=WORK_STEPS_MAX as usize + 1).contains(&seen.len()),
            "{seen:?}"
        );
        let after = workload.next_operation(client, ms(now + 10), &mut rng);
        assert_eq!(after.f, Function::Acquire, "a new round after the release");
    }

    #[test]
    fn workload_stops_believing_when_validity_runs_out_or_the_lock_is_lost() {
        let mut workload = LockWorkload::new(&config(&[]), 1);
        let mut rng = Prng::new(8, Stream::Client(0));
        let client = ClientId(0);
        let acquire_op = workload.next_operation(client, ms(0), &mut rng);
        // Answered at 85ms: past 0 + 100 − 20, so the grant is useless.
        workload.observe_result(client, ms(85), &acquire_op, Some(&granted(1)));
        assert_eq!(
            workload.next_operation(client, ms(90), &mut rng).f,
            Function::Acquire
        );
        // A refused write ends the belief, and so does an indeterminate answer.
        for outcome in [Some(Outcome::Fail), None, Some(Outcome::Unknown)] {
            let acquire_op = workload.next_operation(client, ms(1_000), &mut rng);
            assert_eq!(acquire_op.f, Function::Acquire);
            workload.observe_result(client, ms(1_001), &acquire_op, Some(&granted(2)));
            let op = std::iter::repeat_with(|| {
                let op = workload.next_operation(client, ms(1_002), &mut rng);
                if op.f == Function::Acquire {
                    workload.observe_result(client, ms(1_003), &op, Some(&granted(2)));
                }
                op
            })
            .find(|op| op.f != Function::Acquire)
            .unwrap();
            workload.observe_result(client, ms(1_004), &op, outcome.as_ref());
            if op.f == Function::Write {
                assert_eq!(
                    workload.next_operation(client, ms(1_010), &mut rng).f,
                    Function::Acquire,
                    "{outcome:?}"
                );
            }
        }
    }

    /// History events for the audit: `(time_ms, process, type, f, token)` on lock "0".
    fn events(lines: &[(u64, u64, EventType, Function, Option<u64>)]) -> Vec<HistoryEvent> {
        lines
            .iter()
            .enumerate()
            .map(|(index, &(time, process, kind, f, token))| HistoryEvent {
                index: index as u64,
                time: time * 1_000_000,
                process,
                kind,
                f,
                key: Some("0".into()),
                value: match (f, token) {
                    (Function::Release, Some(t)) => Value::Int(t as i64),
                    (Function::Write, Some(t)) => Value::pair(t as i64, 0),
                    _ => Value::Null,
                },
                token: if f == Function::Acquire && kind == EventType::Ok {
                    token
                } else {
                    None
                },
            })
            .collect()
    }

    use EventType::{Fail, Info, Invoke, Ok};
    use Function::{Acquire, Release, Write};

    #[test]
    fn audit_passes_handovers_and_fails_overlapping_beliefs() {
        let config = config(&[]);
        // A believes 0..80ms (invoked at 0), B acquires at 100ms: fine.
        let handover = events(&[
            (0, 1, Invoke, Acquire, None),
            (5, 1, Ok, Acquire, Some(1)),
            (100, 2, Invoke, Acquire, None),
            (105, 2, Ok, Acquire, Some(2)),
        ]);
        assert_eq!(audit(&handover, &config), Result::Ok(()));
        // B granted at 60ms while A believes until 80ms: a violation.
        let overlap = events(&[
            (0, 1, Invoke, Acquire, None),
            (5, 1, Ok, Acquire, Some(1)),
            (55, 2, Invoke, Acquire, None),
            (60, 2, Ok, Acquire, Some(2)),
        ]);
        let message = audit(&overlap, &config).unwrap_err();
        assert!(message.contains("process 1 (token 1)"), "{message}");
        assert!(message.contains("process 2 (token 2)"), "{message}");
        // The same history where A released at 50ms, or was refused a write at 50ms, or
        // timed out at 50ms: fine.
        for (kind, f) in [(Invoke, Release), (Fail, Write), (Info, Write)] {
            let mut lines = vec![(0, 1, Invoke, Acquire, None), (5, 1, Ok, Acquire, Some(1))];
            if kind != Invoke {
                lines.push((40, 1, Invoke, f, Some(1)));
            }
            lines.push((50, 1, kind, f, Some(1)));
            lines.extend([
                (55, 2, Invoke, Acquire, None),
                (60, 2, Ok, Acquire, Some(2)),
            ]);
            assert_eq!(
                audit(&events(&lines), &config),
                Result::Ok(()),
                "{kind:?} {f:?}"
            );
        }
        // A renewal extends the belief: invoked at 70ms, A believes until 150ms.
        let renewed = events(&[
            (0, 1, Invoke, Acquire, None),
            (5, 1, Ok, Acquire, Some(1)),
            (70, 1, Invoke, Acquire, None),
            (75, 1, Ok, Acquire, Some(1)),
            (120, 2, Invoke, Acquire, None),
            (125, 2, Ok, Acquire, Some(2)),
        ]);
        assert!(audit(&renewed, &config).is_err());
    }

    #[test]
    fn audit_uses_the_clients_rule_so_l4_beliefs_last_longer() {
        // Answered at 40ms; B granted at 100ms. Correct rule: A believes until 80ms. L4: until
        // 140ms.
        let history = events(&[
            (0, 1, Invoke, Acquire, None),
            (40, 1, Ok, Acquire, Some(1)),
            (95, 2, Invoke, Acquire, None),
            (100, 2, Ok, Acquire, Some(2)),
        ]);
        assert_eq!(audit(&history, &config(&[])), Result::Ok(()));
        assert!(audit(&history, &config(&[bugs::LEASE_NO_DRIFT_MARGIN])).is_err());
    }
}
