//! The **ZooKeeper lock recipe** (the ZooKeeper "Recipes and Solutions" page, *Locks*; Curator's
//! `InterProcessMutex`), on a leader that tracks sessions: ZAB.
//!
//! # Sessions
//!
//! Every Jepsen process is a ZooKeeper session with the timeout `session_timeout`. Every
//! operation of the process touches its session (the client's operations and pings keep it
//! alive); an operation of a process without a session opens one (a ZooKeeper client that was
//! told its session expired makes a new one). The **leader** expires sessions: at each tick it
//! asks the applied state which sessions have not been touched for `session_timeout` on its
//! clock ([`Application::expired_sessions`]) and proposes a `closeSession` txn for each
//! through the broadcast, so that every replica ends the session at the same point of the
//! history and deletes the same ephemeral nodes. The closeSession txn checks again when it is
//! applied: a touch ordered before it (proposed before the leader looked, delivered after)
//! keeps the session alive, and the close does nothing.
//!
//! Time comes only from the proposer's [`Stamp`]s, as in the lease lock: readings of one
//! epoch come from one leader's monotonic clock; the first txn of a new epoch gives every
//! session a full timeout from its stamp (a new ZooKeeper leader's session tracker starts
//! every session afresh). A new leader proposes no expiry before it has applied a txn of its
//! own epoch (a client's poll or renewal does it).
//!
//! # The lock
//!
//! Each lock is a path with ephemeral sequential children, one per waiting or holding session:
//!
//! - `acquire` (key = lock): creates the session's child if it has none, with the txn's zxid as
//!   its `czxid`; the session holds the lock if its child is the lowest, and the answer is `ok`
//!   with the czxid as fencing token. Otherwise the answer is `fail` and the child stays: the
//!   client **polls** (its next acquire asks again) instead of watching its predecessor, so a
//!   poll is a txn and keeps the session alive. The holder's acquire is its renewal (a ping)
//!   and answers the same token. Children are ordered by czxid, which is the order of
//!   ZooKeeper's sequence numbers (both grow with each create under the path). A session that
//!   asks for one lock withdraws its waiting (not lowest) children under the others: the client
//!   gave up on them, as Curator deletes its node when an acquire times out.
//! - `release` (key = lock, value = token): deletes the session's child with that czxid; `fail`
//!   if it has none (its session expired, or it was released already).
//! - a session's expiry deletes all its children: the lock passes to the next child.
//! - `write` (key = lock, value = `[token, payload]`): the resource the lock protects, exactly
//!   as in the [lease lock](super::lock): it accepts a token not below the highest it accepted.
//!
//! The fencing token is the czxid, `epoch · 2^32 + counter`: it grows with every create and
//! across epochs, whatever a new leader saw, so the resource refuses a holder whose session
//! expired once the next holder has written (Kleppmann, *How to do distributed locking*, 2016).
//!
//! # What a client believes (`belief`)
//!
//! - `Timeout`: a client trusts its lock for `session_timeout − margin` after invoking its last
//!   successful acquire (a ZooKeeper client that has heard nothing for that long must assume its
//!   session is gone; Curator's SUSPENDED). The leader cannot close the session earlier, so no
//!   two clients believe at once: the mutual-exclusion audit holds.
//! - `UntilTold`: the recipe as written: the client holds the lock until it deletes its node or
//!   hears that it lost it. A client paused longer than its session timeout (a GC pause between
//!   its check and its write) still believes while its session has expired and the next client
//!   holds the lock: the audit reports two holders. Only fencing (`safety: Resource`) keeps its
//!   write out.
//!
//! Not modelled: watches (clients poll), ZooKeeper's negotiation of the session timeout into
//! `2..20 × tickTime` (files choose a timeout in that range), nested paths and data.

use super::lock::{bugs, LockConfig, LockWorkload, Safety, TokenSource};
use super::{digest_value, Application, Command, Stamp};
use crate::mutation::BugSet;
use sim_core::client::Workload;
use sim_core::history::{Function, HistoryEvent, Value};
use sim_core::id::ProcessId;
use sim_core::node::{Operation, Outcome};
use sim_core::time::{Duration, Instant};
use sim_core::trace::Digest;
use std::collections::BTreeMap;

/// What a client believes about the lock it was granted (the `belief` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Belief {
    /// For `session_timeout − margin` after invoking its last successful acquire.
    Timeout,
    /// Until it releases, is refused, or gives up on an operation: the recipe's client.
    UntilTold,
}

/// The recipe's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZkLockConfig {
    /// How many locks the workload contends for.
    pub locks: u32,
    /// ZooKeeper's `sessionTimeout`.
    pub session_timeout: Duration,
    /// How much earlier a `Timeout` client stops trusting its lock (clock drift, delay).
    pub margin: Duration,
    /// What clients believe.
    pub belief: Belief,
    /// What the history must show.
    pub safety: Safety,
    /// Switched-on mutations (the `lock-*` ones).
    pub bugs: BugSet,
}

impl ZkLockConfig {
    /// The lease-lock view of the clients: the workload and the audit measure a client's belief
    /// with [`LockConfig::valid_until`]. An `UntilTold` client's validity never runs out.
    pub fn client_view(&self) -> LockConfig {
        let (lease_ttl, drift_margin) = match self.belief {
            Belief::Timeout => (self.session_timeout, self.margin),
            Belief::UntilTold => (Duration(u64::MAX), Duration::ZERO),
        };
        LockConfig {
            locks: self.locks,
            lease_ttl,
            drift_margin,
            bugs: self.bugs,
            tokens: TokenSource::Counter,
            safety: self.safety,
        }
    }
}

/// A txn's zxid as one number, `epoch · 2^32 + counter` (ZooKeeper's 64-bit zxid).
pub fn zxid_word(epoch: u64, counter: u64) -> u64 {
    assert!(
        epoch < 1 << 31 && counter < 1 << 32,
        "zxid ({epoch}, {counter}) does not fit 64 bits"
    );
    (epoch << 32) | counter
}

/// The table's notion of time: the highest epoch applied and the latest reading in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EpochClock {
    epoch: u64,
    reading: Instant,
}

/// One ephemeral sequential child of a lock path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Child {
    czxid: u64,
    owner: ProcessId,
}

/// One protected resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Resource {
    highest_token: u64,
    payload: i64,
}

/// The recipe's replicated state: sessions, lock paths and the resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkLockTable {
    config: ZkLockConfig,
    clock: Option<EpochClock>,
    /// Per session: its last touch on the current epoch's clock.
    sessions: BTreeMap<ProcessId, Instant>,
    /// Per lock: its children in czxid order (the first holds the lock).
    locks: BTreeMap<Option<u32>, Vec<Child>>,
    resources: BTreeMap<Option<u32>, Resource>,
}

fn ok_null() -> Outcome {
    Outcome::Ok {
        value: Value::Null,
        token: None,
    }
}

fn granted(token: u64) -> Outcome {
    Outcome::Ok {
        value: Value::Null,
        token: Some(token),
    }
}

/// The operation of a leader's closeSession txn for the command's process: a release of no lock.
pub fn close_session() -> Operation {
    Operation {
        f: Function::Release,
        key: None,
        value: Value::Null,
    }
}

impl ZkLockTable {
    /// No sessions, no children, no writes.
    pub fn new(config: &ZkLockConfig) -> ZkLockTable {
        assert!(config.locks > 0 && config.session_timeout > Duration::ZERO);
        ZkLockTable {
            config: *config,
            clock: None,
            sessions: BTreeMap::new(),
            locks: BTreeMap::new(),
            resources: BTreeMap::new(),
        }
    }

    /// The session holding `lock` and its token (the lowest child's czxid).
    pub fn holder(&self, lock: Option<u32>) -> Option<(ProcessId, u64)> {
        let child = self.locks.get(&lock)?.first()?;
        Some((child.owner, child.czxid))
    }

    /// Is `process`'s session open?
    pub fn has_session(&self, process: ProcessId) -> bool {
        self.sessions.contains_key(&process)
    }

    /// The highest token the resource of `lock` accepted (0: none) and its last payload.
    pub fn resource(&self, lock: Option<u32>) -> (u64, i64) {
        self.resources
            .get(&lock)
            .map_or((0, 0), |r| (r.highest_token, r.payload))
    }

    fn reading(&self, stamp: &Stamp) -> Instant {
        // L4: the leader measures sessions on its wall clock, which clock-step faults jump.
        if self.config.bugs.contains(bugs::LEASE_NO_DRIFT_MARGIN) {
            stamp.wall
        } else {
            stamp.monotonic
        }
    }

    /// Advances the clock with `stamp`: its reading, or `None` for a stamp of an older epoch.
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
            _ => {
                // A new leader: every session gets a full timeout from its first txn.
                for touched in self.sessions.values_mut() {
                    *touched = reading;
                }
                self.clock = Some(EpochClock {
                    epoch: stamp.epoch,
                    reading,
                });
                Some(reading)
            }
        }
    }

    fn expired_at(&self, touched: Instant, now: Instant) -> bool {
        now.as_nanos()
            >= touched
                .as_nanos()
                .saturating_add(self.config.session_timeout.0)
    }

    /// The leader's closeSession: ends the session if it is still expired, deleting its
    /// children.
    fn close(&mut self, process: ProcessId, now: Option<Instant>) -> Outcome {
        let expired = match (self.sessions.get(&process), now) {
            (Some(&touched), Some(now)) => self.expired_at(touched, now),
            _ => false,
        };
        if !expired {
            return Outcome::Fail;
        }
        self.sessions.remove(&process);
        for children in self.locks.values_mut() {
            children.retain(|child| child.owner != process);
        }
        ok_null()
    }

    fn acquire(
        &mut self,
        lock: Option<u32>,
        process: ProcessId,
        czxid: u64,
        now: Option<Instant>,
    ) -> Outcome {
        let Some(now) = now else {
            return Outcome::Fail;
        };
        self.sessions.insert(process, now);
        // Withdraw from the locks this session waits for and no longer asks about.
        for (other, children) in self.locks.iter_mut() {
            if *other != lock {
                let mut index = 1;
                while index < children.len() {
                    if children[index].owner == process {
                        children.remove(index);
                    } else {
                        index += 1;
                    }
                }
            }
        }
        let children = self.locks.entry(lock).or_default();
        if !children.iter().any(|child| child.owner == process) {
            assert!(
                children.last().is_none_or(|last| last.czxid < czxid),
                "czxid {czxid} not above the lock's last child: the hook gave no zxid"
            );
            children.push(Child {
                czxid,
                owner: process,
            });
        }
        let lowest = children[0];
        if lowest.owner == process {
            granted(lowest.czxid)
        } else {
            Outcome::Fail
        }
    }

    fn release(
        &mut self,
        lock: Option<u32>,
        process: ProcessId,
        token: u64,
        now: Option<Instant>,
    ) -> Outcome {
        if let (Some(touched), Some(now)) = (self.sessions.get_mut(&process), now) {
            *touched = now;
        }
        let children = self.locks.entry(lock).or_default();
        let own = children
            .iter()
            .position(|child| child.owner == process && child.czxid == token);
        // L3: deleting "the lock node" without checking it is one's own deletes the holder's.
        let index = if self.config.bugs.contains(bugs::RELEASE_WITHOUT_OWNER_CHECK) {
            own.or((!children.is_empty()).then_some(0))
        } else {
            own
        };
        match index {
            Some(index) => {
                children.remove(index);
                ok_null()
            }
            None => Outcome::Fail,
        }
    }

    fn write(&mut self, lock: Option<u32>, token: u64, payload: i64) -> Outcome {
        let resource = self.resources.entry(lock).or_default();
        if token < resource.highest_token
            && !self
                .config
                .bugs
                .contains(bugs::RESOURCE_SKIPS_FENCING_CHECK)
        {
            return Outcome::Fail;
        }
        resource.highest_token = resource.highest_token.max(token);
        resource.payload = payload;
        ok_null()
    }
}

fn token_of(value: &Value) -> u64 {
    value
        .as_int()
        .and_then(|token| u64::try_from(token).ok())
        .unwrap_or_else(|| panic!("zk-lock operation with a malformed token {value}"))
}

impl Application for ZkLockTable {
    /// # Panics
    /// On an operation the recipe does not have or a malformed argument, and on an acquire
    /// without its zxid (a protocol that does not call [`Application::prepare_txn`]): harness
    /// bugs.
    fn apply(&mut self, command: &Command) -> Outcome {
        let now = self.advance_clock(&command.stamp);
        let Operation { f, key, value } = &command.operation;
        match (f, key) {
            (Function::Release, None) => self.close(command.process, now),
            (Function::Acquire, _) => {
                let czxid = token_of(value);
                self.acquire(*key, command.process, czxid, now)
            }
            (Function::Release, _) => self.release(*key, command.process, token_of(value), now),
            (Function::Write, _) => {
                let Value::List(items) = value else {
                    panic!("zk-lock write needs [token, payload], got {value}");
                };
                let [token, Value::Int(payload)] = items.as_slice() else {
                    panic!("zk-lock write needs [token, payload], got {value}");
                };
                self.write(*key, token_of(token), *payload)
            }
            (other, _) => panic!(
                "the zk-lock application has no `{}` operation",
                other.as_str()
            ),
        }
    }

    fn query(&self, _operation: &Operation) -> Option<Outcome> {
        None
    }

    /// A create records its txn's zxid: the acquire carries it to every replica.
    fn prepare_txn(&self, operation: &Operation, zxid: u64) -> Operation {
        match operation.f {
            Function::Acquire => Operation {
                value: Value::Int(i64::try_from(zxid).expect("zxid fits i64")),
                ..operation.clone()
            },
            _ => operation.clone(),
        }
    }

    fn expired_sessions(&self, now: &Stamp) -> Vec<ProcessId> {
        match self.clock {
            Some(clock) if clock.epoch == now.epoch => {
                let reading = self.reading(now).max(clock.reading);
                self.sessions
                    .iter()
                    .filter(|&(_, &touched)| self.expired_at(touched, reading))
                    .map(|(&process, _)| process)
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn state_digest(&self) -> u64 {
        let mut digest = Digest::new();
        digest.str("zk-lock");
        match self.clock {
            None => digest.word(0),
            Some(clock) => {
                digest.word(1);
                digest.word(clock.epoch);
                digest.word(clock.reading.as_nanos());
            }
        }
        let key_word = |key: &Option<u32>| key.map_or(u64::MAX, u64::from);
        digest.word(self.sessions.len() as u64);
        for (process, touched) in &self.sessions {
            digest.word(process.0);
            digest.word(touched.as_nanos());
        }
        digest.word(self.locks.len() as u64);
        for (key, children) in &self.locks {
            digest.word(key_word(key));
            digest.word(children.len() as u64);
            for child in children {
                digest.word(child.czxid);
                digest.word(child.owner.0);
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

const PARAMS: &[crate::params::Param] = &[
    crate::params::Param::new(
        "locks",
        crate::params::ParamKind::Count {
            min: 1,
            max: super::lock::LOCKS_MAX,
        },
        crate::params::ParamValue::Count(1),
        "how many lock paths clients contend for",
    ),
    crate::params::Param::new(
        "session_timeout",
        crate::params::ParamKind::Duration,
        crate::params::ParamValue::Duration(Duration::from_millis(400)),
        "ZooKeeper's sessionTimeout: the leader expires a session not touched for this long",
    ),
    crate::params::Param::new(
        "margin",
        crate::params::ParamKind::Duration,
        crate::params::ParamValue::Duration(Duration::from_millis(100)),
        "how much earlier than the session timeout a Timeout client stops trusting its lock",
    ),
    crate::params::Param::new(
        "belief",
        crate::params::ParamKind::Choice(&["Timeout", "UntilTold"]),
        crate::params::ParamValue::Choice("Timeout"),
        "a client trusts its lock for session_timeout - margin after its last acquire (Timeout), or until it releases or is refused (UntilTold: the recipe's client)",
    ),
    crate::params::Param::new(
        "safety",
        crate::params::ParamKind::Choice(&["Holders", "Resource"]),
        crate::params::ParamValue::Choice("Holders"),
        "the claim checked: no two believed holders at once (Holders), or only that the fenced resource refuses stale czxids (Resource)",
    ),
];

/// The recipe in the registry.
pub struct ZkLockApp;

/// The registry's value for the ZooKeeper lock recipe.
pub static ZK_LOCK: ZkLockApp = ZkLockApp;

impl ZkLockApp {
    /// The configuration of validated `params` with `bugs` on.
    pub fn config(params: &crate::params::Params, bugs: BugSet) -> ZkLockConfig {
        ZkLockConfig {
            locks: params.count("locks"),
            session_timeout: params.duration("session_timeout"),
            margin: params.duration("margin"),
            belief: match params.choice("belief") {
                "UntilTold" => Belief::UntilTold,
                _ => Belief::Timeout,
            },
            safety: match params.choice("safety") {
                "Resource" => Safety::Resource,
                _ => Safety::Holders,
            },
            bugs,
        }
    }
}

const IDENTITY: crate::describe::Identity = crate::describe::Identity {
    name: "zk-lock",
    variant: "ZkLock",
    summary: "ZooKeeper's lock recipe: ephemeral sequential nodes of expiring sessions, czxid fencing tokens",
    params: PARAMS,
    bare: false,
};

impl crate::describe::App for ZkLockApp {
    fn identity(&self) -> &'static crate::describe::Identity {
        &IDENTITY
    }

    fn requires(&self) -> crate::capabilities::Capabilities {
        // A leader that expires sessions through the broadcast and gives creates their zxid.
        crate::capabilities::Capabilities::STAMPED_COMMANDS
            .with(crate::capabilities::Capabilities::STATE_MACHINE)
            .with(crate::capabilities::Capabilities::SESSION_TRACKER)
    }

    fn bugs(&self) -> &'static [crate::mutation::Bug] {
        bugs::ALL
    }

    // The lock service's workload (acquire, fenced writes, release), model and audit: only
    // the table behind them differs.
    fn functions(&self) -> &'static [Function] {
        super::lock::LockApp.functions()
    }

    fn default_mix(&self) -> &'static [(Function, u64)] {
        super::lock::LockApp.default_mix()
    }

    fn takes_mix(&self) -> bool {
        super::lock::LockApp.takes_mix()
    }

    fn object_count(&self, params: &crate::params::Params) -> u32 {
        super::lock::LockApp.object_count(params)
    }

    fn model(&self) -> sim_core::check::Model {
        super::lock::LockApp.model()
    }

    fn audits(&self) -> &'static [&'static str] {
        super::lock::LockApp.audits()
    }

    fn validate(
        &self,
        params: &mut crate::params::Params,
    ) -> Result<(), crate::params::ParamError> {
        let timeout = crate::params::positive(params, "session_timeout")?;
        let margin = params.duration("margin");
        if margin >= timeout {
            return Err(crate::params::ParamError::new(
                "margin",
                format!("{margin} is not below the session timeout {timeout}: clients would never trust a lock"),
            ));
        }
        Ok(())
    }

    fn build(&self, params: &crate::params::Params, bugs: BugSet) -> super::AnyApp {
        super::AnyApp::new(ZkLockTable::new(&ZkLockApp::config(params, bugs)))
    }

    fn workload(
        &self,
        params: &crate::params::Params,
        _mix: Vec<(Function, u64)>,
        clients: u32,
        bugs: BugSet,
    ) -> Box<dyn Workload> {
        let config = ZkLockApp::config(params, bugs);
        Box::new(LockWorkload::new(&config.client_view(), clients))
    }

    fn audit(
        &self,
        params: &crate::params::Params,
        bugs: BugSet,
        history: &[HistoryEvent],
    ) -> crate::describe::AuditResult {
        let config = ZkLockApp::config(params, bugs);
        if config.safety == Safety::Resource {
            return Ok(());
        }
        super::lock::audit(history, &config.client_view())
            .map_err(|message| ("mutual-exclusion", message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::Bug;
    use sim_core::id::{ClientId, RequestId};

    const TIMEOUT: Duration = Duration::from_millis(100);

    fn config(bugs: &[Bug]) -> ZkLockConfig {
        ZkLockConfig {
            locks: 1,
            session_timeout: TIMEOUT,
            margin: Duration::from_millis(20),
            belief: Belief::Timeout,
            safety: Safety::Holders,
            bugs: bugs.iter().copied().collect(),
        }
    }

    fn stamp(epoch: u64, ms: u64) -> Stamp {
        Stamp {
            epoch,
            wall: Instant(ms * 1_000_000),
            monotonic: Instant(ms * 1_000_000),
        }
    }

    fn run(table: &mut ZkLockTable, process: u64, operation: Operation, at: Stamp) -> Outcome {
        table.apply(&Command {
            request: RequestId(0),
            client: ClientId(0),
            process: ProcessId(process),
            operation,
            stamp: at,
        })
    }

    fn acquire(table: &mut ZkLockTable, process: u64, zxid: u64, at: Stamp) -> Outcome {
        let operation = table.prepare_txn(
            &Operation {
                f: Function::Acquire,
                key: Some(0),
                value: Value::Null,
            },
            zxid,
        );
        run(table, process, operation, at)
    }

    fn release(table: &mut ZkLockTable, process: u64, token: u64, at: Stamp) -> Outcome {
        let operation = Operation {
            f: Function::Release,
            key: Some(0),
            value: Value::Int(token as i64),
        };
        run(table, process, operation, at)
    }

    fn write(table: &mut ZkLockTable, token: u64, at: Stamp) -> Outcome {
        let operation = Operation {
            f: Function::Write,
            key: Some(0),
            value: Value::pair(token as i64, 1),
        };
        run(table, 9, operation, at)
    }

    #[test]
    fn the_lowest_child_holds_waiters_poll_and_a_release_passes_the_lock_on() {
        let mut table = ZkLockTable::new(&config(&[]));
        assert_eq!(acquire(&mut table, 1, 10, stamp(1, 0)), granted(10));
        assert_eq!(acquire(&mut table, 2, 11, stamp(1, 1)), Outcome::Fail);
        assert_eq!(acquire(&mut table, 3, 12, stamp(1, 2)), Outcome::Fail);
        // The holder's renewal keeps its czxid; a waiter's poll keeps its place.
        assert_eq!(acquire(&mut table, 1, 13, stamp(1, 3)), granted(10));
        assert_eq!(acquire(&mut table, 3, 14, stamp(1, 4)), Outcome::Fail);
        assert_eq!(
            release(&mut table, 2, 11, stamp(1, 5)),
            ok_null(),
            "withdraws its wait"
        );
        assert_eq!(
            release(&mut table, 3, 10, stamp(1, 6)),
            Outcome::Fail,
            "not its node"
        );
        assert_eq!(release(&mut table, 1, 10, stamp(1, 7)), ok_null());
        assert_eq!(table.holder(Some(0)), Some((ProcessId(3), 12)));
        assert_eq!(acquire(&mut table, 3, 15, stamp(1, 8)), granted(12));
    }

    #[test]
    fn only_the_leaders_close_ends_a_session_and_it_rechecks_when_applied() {
        let mut table = ZkLockTable::new(&config(&[]));
        assert_eq!(acquire(&mut table, 1, 10, stamp(1, 0)), granted(10));
        assert_eq!(acquire(&mut table, 2, 11, stamp(1, 50)), Outcome::Fail);
        assert_eq!(table.expired_sessions(&stamp(1, 99)), vec![]);
        assert_eq!(table.expired_sessions(&stamp(1, 100)), vec![ProcessId(1)]);
        // Nothing expires by itself: the expired holder still holds until the close.
        assert_eq!(acquire(&mut table, 2, 12, stamp(1, 120)), Outcome::Fail);
        let close = |table: &mut ZkLockTable, process, at| run(table, process, close_session(), at);
        // A close of a session touched since the leader looked does nothing.
        assert_eq!(close(&mut table, 2, stamp(1, 130)), Outcome::Fail);
        assert_eq!(close(&mut table, 1, stamp(1, 130)), ok_null());
        assert!(!table.has_session(ProcessId(1)));
        assert_eq!(table.holder(Some(0)), Some((ProcessId(2), 11)));
        assert_eq!(release(&mut table, 1, 10, stamp(1, 131)), Outcome::Fail);
        // A stale holder's write is fenced off once the next holder wrote.
        assert_eq!(write(&mut table, 11, stamp(1, 132)), ok_null());
        assert_eq!(write(&mut table, 10, stamp(1, 133)), Outcome::Fail);
        // The expired process's next acquire opens a new session at the back.
        assert_eq!(acquire(&mut table, 1, 13, stamp(1, 134)), Outcome::Fail);
        assert_eq!(table.holder(Some(0)), Some((ProcessId(2), 11)));
    }

    #[test]
    fn a_new_epoch_gives_every_session_a_full_timeout_and_czxids_keep_growing() {
        let mut table = ZkLockTable::new(&config(&[]));
        let epoch1 = zxid_word(1, 1);
        assert_eq!(acquire(&mut table, 1, epoch1, stamp(1, 0)), granted(epoch1));
        // The new leader's clock is not comparable; until its first txn it expires nothing.
        assert_eq!(table.expired_sessions(&stamp(2, 5_000)), vec![]);
        let epoch2 = zxid_word(2, 1);
        assert!(epoch2 > epoch1);
        assert_eq!(acquire(&mut table, 2, epoch2, stamp(2, 10)), Outcome::Fail);
        assert_eq!(table.expired_sessions(&stamp(2, 109)), vec![]);
        assert_eq!(
            table.expired_sessions(&stamp(2, 110)),
            vec![ProcessId(1), ProcessId(2)]
        );
    }

    #[test]
    fn l3_release_deletes_the_holders_node() {
        for l3 in [false, true] {
            let bugs: &[Bug] = if l3 {
                &[bugs::RELEASE_WITHOUT_OWNER_CHECK]
            } else {
                &[]
            };
            let mut table = ZkLockTable::new(&config(bugs));
            assert_eq!(acquire(&mut table, 1, 10, stamp(1, 0)), granted(10));
            assert_eq!(acquire(&mut table, 2, 11, stamp(1, 1)), Outcome::Fail);
            let late = release(&mut table, 3, 10, stamp(1, 2));
            assert_eq!(late == ok_null(), l3);
            let expected = if l3 {
                (ProcessId(2), 11)
            } else {
                (ProcessId(1), 10)
            };
            assert_eq!(table.holder(Some(0)), Some(expected));
        }
    }

    #[test]
    fn l1_resource_accepts_stale_czxids() {
        for l1 in [false, true] {
            let bugs: &[Bug] = if l1 {
                &[bugs::RESOURCE_SKIPS_FENCING_CHECK]
            } else {
                &[]
            };
            let mut table = ZkLockTable::new(&config(bugs));
            assert_eq!(write(&mut table, 20, stamp(1, 0)), ok_null());
            assert_eq!(write(&mut table, 10, stamp(1, 1)) == ok_null(), l1);
        }
    }

    #[test]
    fn a_client_that_believes_until_told_never_stops_believing() {
        let timeout = config(&[]).client_view();
        let told = ZkLockConfig {
            belief: Belief::UntilTold,
            ..config(&[])
        }
        .client_view();
        let invoked = Instant(1_000);
        assert_eq!(
            timeout.valid_until(invoked, invoked),
            Instant(1_000 + 80_000_000)
        );
        assert_eq!(told.valid_until(invoked, invoked), Instant::MAX);
        assert_eq!(told.check(), Ok(()));
    }

    #[test]
    fn replicas_applying_the_same_txns_agree() {
        let mut a = ZkLockTable::new(&config(&[]));
        let mut b = ZkLockTable::new(&config(&[]));
        for table in [&mut a, &mut b] {
            acquire(table, 1, 10, stamp(1, 0));
            acquire(table, 2, 11, stamp(1, 10));
            run(table, 1, close_session(), stamp(1, 105));
        }
        assert_eq!(a, b);
        assert_eq!(a.state_digest(), b.state_digest());
        assert_ne!(
            a.state_digest(),
            ZkLockTable::new(&config(&[])).state_digest()
        );
    }
}
