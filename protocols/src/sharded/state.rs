//! The replicated state machines of the sharded store: the configuration service's list of
//! configurations ([`Configurations`]) and a shard group's slice of the key space
//! ([`ShardState`]), behind one type ([`GroupApp`]) so every group runs the same Raft.
//!
//! Control commands (a configuration change, a reconfiguration of a shard group, the
//! installation of a migrated snapshot) travel through a group's Raft log like client
//! commands: as a `write` without a key whose value is a list of integers, tagged by its first
//! element. No client writes a list, so the two never mix.

use super::ring::Ring;
use crate::apps::{Application, Command};
use sim_core::history::{Function, Value};
use sim_core::id::NodeId;
use sim_core::node::{Operation, Outcome};
use sim_core::trace::Digest;
use std::collections::{BTreeMap, BTreeSet};

/// The key the keyless object (`Register`) is placed and stored under.
pub const KEYLESS: u32 = u32::MAX;

/// The `leader` of a redirect that means "not this shard's key at this version": the node
/// replaces it with a hint from its cached configuration before the client sees it.
pub const WRONG_SHARD: NodeId = NodeId(u32::MAX);

/// A configuration version: 1 is the initial configuration, each change adds one.
pub type Version = u64;

/// What an old owner hands a new owner at a handoff: the written keys of the ranges that move,
/// and its whole client-session table (thesis §6.3), so that a request applied by the old owner
/// and retried at the new one is answered from the table instead of being applied twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Written keys and their values.
    pub entries: Vec<(u32, i64)>,
    /// For each client slot, its last applied request and that request's answer.
    pub sessions: Vec<(u32, u64, Outcome)>,
}

/// The words of a session's answer: (kind, value).
fn outcome_words(outcome: &Outcome) -> [i64; 2] {
    match outcome {
        Outcome::Ok {
            value: Value::Null,
            token: None,
        } => [0, 0],
        Outcome::Ok {
            value: Value::Int(v),
            token: None,
        } => [1, *v],
        Outcome::Fail => [2, 0],
        Outcome::Unknown => [3, 0],
        other => panic!("a kv session never caches {other:?}"),
    }
}

fn outcome_of_words(kind: i64, value: i64) -> Outcome {
    match kind {
        0 => Outcome::Ok {
            value: Value::Null,
            token: None,
        },
        1 => Outcome::Ok {
            value: Value::Int(value),
            token: None,
        },
        2 => Outcome::Fail,
        3 => Outcome::Unknown,
        other => panic!("unknown session outcome kind {other}"),
    }
}

/// A control command of the sharded store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    /// On the configuration service: make `version` the configuration `members`.
    Change {
        /// The version the change creates (the current one plus one).
        version: Version,
        /// The shards on the ring from then on.
        members: BTreeSet<u32>,
    },
    /// On a shard group: adopt configuration `version` (fencing: from this entry on, keys that
    /// moved away are no longer served, and their values are set aside as snapshots).
    Reconfigure {
        /// The version adopted.
        version: Version,
        /// Its shards.
        members: BTreeSet<u32>,
    },
    /// On the configuration service: the scenario's `request`-th membership change
    /// (`AddShard`/`RemoveShard`), resolved by the proposing leader to the configuration
    /// `members` as `version`; with `members` equal to the latest configuration (nothing to
    /// add or remove) it only marks the request done.
    Requested {
        /// The version the change creates (the current one plus one).
        version: Version,
        /// The scenario's number for the request (from 1).
        request: u64,
        /// The shards on the ring from then on.
        members: BTreeSet<u32>,
    },
    /// On a shard group: install the snapshot shard `from` took when it adopted `version`.
    Install {
        /// The configuration version of the handoff.
        version: Version,
        /// The shard that handed the keys over.
        from: u32,
        /// The keys and sessions handed over.
        snapshot: Snapshot,
    },
}

const CHANGE: i64 = 0;
const RECONFIGURE: i64 = 1;
const INSTALL: i64 = 2;
const REQUESTED: i64 = 3;

impl Control {
    /// The operation that carries this command through a Raft log.
    pub fn to_operation(&self) -> Operation {
        let mut words: Vec<i64> = Vec::new();
        match self {
            Control::Change { version, members } | Control::Reconfigure { version, members } => {
                let tag = if matches!(self, Control::Change { .. }) {
                    CHANGE
                } else {
                    RECONFIGURE
                };
                words.extend([tag, *version as i64]);
                words.extend(members.iter().map(|&s| i64::from(s)));
            }
            Control::Requested {
                version,
                request,
                members,
            } => {
                words.extend([REQUESTED, *version as i64, *request as i64]);
                words.extend(members.iter().map(|&s| i64::from(s)));
            }
            Control::Install {
                version,
                from,
                snapshot,
            } => {
                words.extend([
                    INSTALL,
                    *version as i64,
                    i64::from(*from),
                    snapshot.entries.len() as i64,
                ]);
                for &(key, value) in &snapshot.entries {
                    words.extend([i64::from(key), value]);
                }
                for (client, request, outcome) in &snapshot.sessions {
                    words.extend([i64::from(*client), *request as i64]);
                    words.extend(outcome_words(outcome));
                }
            }
        }
        Operation {
            f: Function::Write,
            key: None,
            value: Value::List(words.into_iter().map(Value::Int).collect()),
        }
    }

    /// The control command an operation carries, if it is one.
    pub fn from_operation(operation: &Operation) -> Option<Control> {
        if operation.f != Function::Write || operation.key.is_some() {
            return None;
        }
        let Value::List(items) = &operation.value else {
            return None;
        };
        let words: Vec<i64> = items
            .iter()
            .map(|item| item.as_int().expect("control words are integers"))
            .collect();
        let (&tag, rest) = words.split_first().expect("a control command has a tag");
        let version = rest[0] as Version;
        let members = || rest[1..].iter().map(|&s| s as u32).collect();
        Some(match tag {
            CHANGE => Control::Change {
                version,
                members: members(),
            },
            RECONFIGURE => Control::Reconfigure {
                version,
                members: members(),
            },
            REQUESTED => Control::Requested {
                version,
                request: rest[1] as u64,
                members: rest[2..].iter().map(|&s| s as u32).collect(),
            },
            INSTALL => {
                let count = rest[2] as usize;
                let (entries, sessions) = rest[3..].split_at(2 * count);
                Control::Install {
                    version,
                    from: rest[1] as u32,
                    snapshot: Snapshot {
                        entries: entries
                            .chunks(2)
                            .map(|pair| (pair[0] as u32, pair[1]))
                            .collect(),
                        sessions: sessions
                            .chunks(4)
                            .map(|quad| {
                                (
                                    quad[0] as u32,
                                    quad[1] as u64,
                                    outcome_of_words(quad[2], quad[3]),
                                )
                            })
                            .collect(),
                    },
                }
            }
            other => panic!("unknown control tag {other}"),
        })
    }
}

/// The configuration service's state: every configuration so far, version 1 first.
#[derive(Clone, Debug)]
pub struct Configurations {
    history: Vec<BTreeSet<u32>>,
    /// The scenario's membership requests done so far (the last one's number).
    requests_applied: u64,
    vnodes: u32,
    /// The ring of the latest configuration (derived state, not digested).
    ring: Ring,
}

impl Configurations {
    /// Version 1 is `initial`.
    pub fn new(initial: BTreeSet<u32>, vnodes: u32) -> Configurations {
        let ring = Ring::new(&initial, vnodes);
        Configurations {
            history: vec![initial],
            requests_applied: 0,
            vnodes,
            ring,
        }
    }

    /// The latest version.
    pub fn version(&self) -> Version {
        self.history.len() as Version
    }

    /// The shards of configuration `version`, if it exists.
    pub fn members(&self, version: Version) -> Option<&BTreeSet<u32>> {
        let index = usize::try_from(version).ok()?.checked_sub(1)?;
        self.history.get(index)
    }

    /// The ring of the latest configuration.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The number of the last membership request done (0: none).
    pub fn requests_applied(&self) -> u64 {
        self.requests_applied
    }

    /// Applies the scenario's `request`-th membership change, once, if `version` is next (a
    /// proposal made at an older version is refused; its leader proposes it again).
    fn apply_request(&mut self, version: Version, request: u64, members: BTreeSet<u32>) {
        if request <= self.requests_applied || version != self.version() + 1 {
            return;
        }
        self.requests_applied = request;
        if self.history.last() != Some(&members) {
            self.ring = Ring::new(&members, self.vnodes);
            self.history.push(members);
        }
    }
}

/// One shard group's replicated state: its configuration, its keys, the snapshots it owes.
#[derive(Clone, Debug)]
pub struct ShardState {
    shard: u32,
    vnodes: u32,
    /// `shard-serve-after-handoff`: keys that moved away stay served.
    serve_after_handoff: bool,
    /// `shard-migrate-without-snapshot-fence`: keys that moved here are served before the
    /// snapshot arrives.
    serve_before_install: bool,
    version: Version,
    ring: Ring,
    /// The ring of `version - 1` (`None` at version 1).
    previous: Option<Ring>,
    /// The shards whose snapshot for `version` has not been installed yet.
    pending: BTreeSet<u32>,
    values: BTreeMap<u32, i64>,
    /// The snapshots taken at each handoff: (version, to shard) -> snapshot.
    outgoing: BTreeMap<(Version, u32), Snapshot>,
    /// The client-session table of this group's key operations (thesis §6.3), which moves
    /// with the keys: client slot -> (last applied request, its answer). Raft's own table sits
    /// in front of it and answers retries within the group; this one answers retries that
    /// followed a key to its new group.
    sessions: BTreeMap<u32, (u64, Outcome)>,
    /// For each key this group served, the last version it served it at.
    last_served: BTreeMap<u32, Version>,
    /// Snapshots installed so far (where the node passes `shard.after_install`; derived from
    /// the log, not digested).
    installs: u64,
}

impl ShardState {
    /// Shard `shard` at version 1, whose shards are `initial`.
    pub fn new(
        shard: u32,
        initial: &BTreeSet<u32>,
        vnodes: u32,
        serve_after_handoff: bool,
        serve_before_install: bool,
    ) -> ShardState {
        ShardState {
            shard,
            vnodes,
            serve_after_handoff,
            serve_before_install,
            version: 1,
            ring: Ring::new(initial, vnodes),
            previous: None,
            pending: BTreeSet::new(),
            values: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            sessions: BTreeMap::new(),
            last_served: BTreeMap::new(),
            installs: 0,
        }
    }

    /// How many snapshots this group has installed.
    pub fn installs(&self) -> u64 {
        self.installs
    }

    /// The configuration version this group has adopted.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Which shard this is.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// The ring of the adopted version.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// Has every snapshot of the adopted version been installed? Only then may the group adopt
    /// the next version.
    pub fn is_settled(&self) -> bool {
        self.pending.is_empty()
    }

    /// The shards whose snapshot for the adopted version is not installed yet.
    pub fn pending(&self) -> &BTreeSet<u32> {
        &self.pending
    }

    /// Is the snapshot `from` took at `version` installed here?
    pub fn has_installed(&self, version: Version, from: u32) -> bool {
        version < self.version || (version == self.version && !self.pending.contains(&from))
    }

    /// Is this group waiting for the snapshot of `from` at `version`?
    pub fn awaits(&self, version: Version, from: u32) -> bool {
        version == self.version && self.pending.contains(&from)
    }

    /// The snapshots this group handed over, by (version, receiving shard).
    pub fn outgoing(&self) -> &BTreeMap<(Version, u32), Snapshot> {
        &self.outgoing
    }

    /// For each key served, the last version it was served at.
    pub fn last_served(&self) -> &BTreeMap<u32, Version> {
        &self.last_served
    }

    /// Does this group serve `key` at its version? Its own keys, unless one of them waits for
    /// its snapshot (the fence: a key is served by its new owner only once the old owner's
    /// snapshot of it is installed).
    pub fn serves(&self, key: u32) -> bool {
        let owner = self.ring.owner(key);
        let previous_owner = self.previous.as_ref().map_or(owner, |ring| ring.owner(key));
        if owner == self.shard {
            let waiting = previous_owner != self.shard && self.pending.contains(&previous_owner);
            return !waiting || self.serve_before_install;
        }
        // The mutation: the old owner keeps serving what it handed over.
        self.serve_after_handoff && previous_owner == self.shard
    }

    fn adopt(&mut self, version: Version, members: &BTreeSet<u32>) {
        if version != self.version + 1 {
            return; // A retried or stale proposal: adopted already.
        }
        // Paired with the proposer's check: a group adopts the next version only when settled.
        assert!(
            self.pending.is_empty(),
            "shard {} adopts {version} with snapshots pending from {:?}",
            self.shard,
            self.pending
        );
        let next = Ring::new(members, self.vnodes);
        for (from, to) in super::ring::handoffs(&self.ring, &next) {
            if from == self.shard {
                // Taken at this entry of the log, after every write the group applied to these
                // keys and before any it refuses from now on: the snapshot fence.
                let entries: Vec<(u32, i64)> = self
                    .values
                    .iter()
                    .filter(|&(&key, _)| next.owner(key) == to && self.ring.owner(key) == from)
                    .map(|(&key, &value)| (key, value))
                    .collect();
                if !self.serve_after_handoff {
                    for (key, _) in &entries {
                        self.values.remove(key);
                    }
                }
                let sessions = self
                    .sessions
                    .iter()
                    .map(|(&client, (request, outcome))| (client, *request, outcome.clone()))
                    .collect();
                self.outgoing
                    .insert((version, to), Snapshot { entries, sessions });
            }
            if to == self.shard {
                self.pending.insert(from);
            }
        }
        self.previous = Some(std::mem::replace(&mut self.ring, next));
        self.version = version;
    }

    fn install(&mut self, version: Version, from: u32, snapshot: &Snapshot) {
        if !self.awaits(version, from) {
            return; // Installed already (a retried proposal).
        }
        for (client, request, outcome) in &snapshot.sessions {
            // A slot's requests grow: the later of the two tables' entries is its last.
            let newer = self
                .sessions
                .get(client)
                .is_none_or(|(known, _)| known < request);
            if newer {
                self.sessions.insert(*client, (*request, outcome.clone()));
            }
        }
        for &(key, value) in &snapshot.entries {
            assert_eq!(
                self.ring.owner(key),
                self.shard,
                "snapshot key {key} not ours"
            );
            self.values.insert(key, value);
        }
        self.pending.remove(&from);
        self.installs += 1;
    }

    fn serve(&mut self, command: &Command) -> Outcome {
        let operation = &command.operation;
        let key = operation.key.unwrap_or(KEYLESS);
        if !self.serves(key) {
            return Outcome::Redirect {
                leader: Some(WRONG_SHARD),
            };
        }
        if let Some((request, outcome)) = self.sessions.get(&command.client.0) {
            if command.request.0 == *request {
                return outcome.clone(); // Applied by this group or by the key's old owner.
            }
            if command.request.0 < *request {
                return Outcome::Unknown; // The slot has moved on (session.rs, rule 3).
            }
        }
        self.last_served.insert(key, self.version);
        let outcome = self.apply_operation(key, operation);
        self.sessions
            .insert(command.client.0, (command.request.0, outcome.clone()));
        outcome
    }

    fn apply_operation(&mut self, key: u32, operation: &Operation) -> Outcome {
        let ok_null = Outcome::Ok {
            value: Value::Null,
            token: None,
        };
        match operation.f {
            Function::Read => self.read(key),
            Function::Write => {
                let value = operation.value.as_int().expect("kv writes carry integers");
                self.values.insert(key, value);
                ok_null
            }
            Function::Cas => {
                let (from, to) = operation.value.as_pair().expect("kv cas carries a pair");
                if self.values.get(&key) == Some(&from) {
                    self.values.insert(key, to);
                    ok_null
                } else {
                    Outcome::Fail
                }
            }
            other => panic!("the sharded store has no `{}` operation", other.as_str()),
        }
    }

    fn read(&self, key: u32) -> Outcome {
        let value = self
            .values
            .get(&key)
            .map_or(Value::Null, |&v| Value::Int(v));
        Outcome::Ok { value, token: None }
    }

    fn digest(&self, digest: &mut Digest) {
        digest.str("shard");
        digest.word(u64::from(self.shard));
        digest.word(self.version);
        digest.word(self.pending.len() as u64);
        for &from in &self.pending {
            digest.word(u64::from(from));
        }
        for (&key, &value) in &self.values {
            digest.word(u64::from(key));
            digest.word(value as u64);
        }
        for (&(version, to), snapshot) in &self.outgoing {
            digest.word(version);
            digest.word(u64::from(to));
            digest.word(snapshot.entries.len() as u64);
        }
        for (&client, (request, _)) in &self.sessions {
            digest.word(u64::from(client));
            digest.word(*request);
        }
    }
}

/// What a group replicates: the configuration service's list or a shard's slice.
#[derive(Clone, Debug)]
pub enum GroupApp {
    /// The configuration service.
    Configurations(Configurations),
    /// A shard group.
    Shard(ShardState),
}

impl Application for GroupApp {
    fn apply(&mut self, command: &Command) -> Outcome {
        let ok_null = Outcome::Ok {
            value: Value::Null,
            token: None,
        };
        match (self, Control::from_operation(&command.operation)) {
            (
                GroupApp::Configurations(configurations),
                Some(Control::Change { version, members }),
            ) => {
                if version == configurations.version() + 1 {
                    configurations.ring = Ring::new(&members, configurations.vnodes);
                    configurations.history.push(members);
                }
                ok_null
            }
            (
                GroupApp::Configurations(configurations),
                Some(Control::Requested {
                    version,
                    request,
                    members,
                }),
            ) => {
                configurations.apply_request(version, request, members);
                ok_null
            }
            (GroupApp::Shard(shard), Some(Control::Reconfigure { version, members })) => {
                shard.adopt(version, &members);
                ok_null
            }
            (
                GroupApp::Shard(shard),
                Some(Control::Install {
                    version,
                    from,
                    snapshot,
                }),
            ) => {
                shard.install(version, from, &snapshot);
                ok_null
            }
            (GroupApp::Shard(shard), None) => shard.serve(command),
            (GroupApp::Configurations(_), None) => Outcome::Redirect {
                leader: Some(WRONG_SHARD),
            },
            (_, Some(control)) => panic!("{control:?} sent to the wrong kind of group"),
        }
    }

    fn query(&self, operation: &Operation) -> Option<Outcome> {
        if operation.f != Function::Read {
            return None;
        }
        Some(match self {
            GroupApp::Shard(shard) => {
                let key = operation.key.unwrap_or(KEYLESS);
                if shard.serves(key) {
                    shard.read(key)
                } else {
                    Outcome::Redirect {
                        leader: Some(WRONG_SHARD),
                    }
                }
            }
            GroupApp::Configurations(_) => Outcome::Redirect {
                leader: Some(WRONG_SHARD),
            },
        })
    }

    fn state_digest(&self) -> u64 {
        let mut digest = Digest::new();
        match self {
            GroupApp::Configurations(configurations) => {
                digest.str("configurations");
                if configurations.requests_applied > 0 {
                    digest.word(configurations.requests_applied);
                }
                for members in &configurations.history {
                    digest.word(members.len() as u64);
                    for &shard in members {
                        digest.word(u64::from(shard));
                    }
                }
            }
            GroupApp::Shard(shard) => shard.digest(&mut digest),
        }
        digest.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::Stamp;
    use sim_core::id::{ClientId, ProcessId, RequestId};

    fn command(operation: Operation) -> Command {
        Command {
            request: RequestId(1),
            client: ClientId(0),
            process: ProcessId(0),
            operation,
            stamp: Stamp::default(),
        }
    }

    fn write(key: u32, value: i64) -> Operation {
        Operation {
            f: Function::Write,
            key: Some(key),
            value: Value::Int(value),
        }
    }

    #[test]
    fn control_commands_round_trip() {
        let commands = [
            Control::Change {
                version: 3,
                members: [0, 2, 4].into(),
            },
            Control::Reconfigure {
                version: 2,
                members: [1].into(),
            },
            Control::Requested {
                version: 4,
                request: 9,
                members: [0, 1].into(),
            },
            Control::Install {
                version: 7,
                from: 2,
                snapshot: Snapshot {
                    entries: vec![(5, -1), (9, 1_000_000)],
                    sessions: vec![(3, 17, Outcome::Fail), (4, 2, Outcome::Unknown)],
                },
            },
        ];
        for control in commands {
            assert_eq!(
                Control::from_operation(&control.to_operation()),
                Some(control)
            );
        }
        assert_eq!(Control::from_operation(&write(1, 2)), None);
    }

    /// A key that moves from shard 0 to shard 1: the old owner stops serving it at the
    /// reconfiguration, the new one serves it only after installing the snapshot, and the
    /// snapshot holds the last acknowledged write.
    #[test]
    fn a_handoff_is_fenced_by_version_and_snapshot() {
        let one: BTreeSet<u32> = [0].into();
        let two: BTreeSet<u32> = [0, 1].into();
        let next = Ring::new(&two, 8);
        let key = (0..100).find(|&k| next.owner(k) == 1).expect("a key moves");
        let mut old = GroupApp::Shard(ShardState::new(0, &one, 8, false, false));
        let mut new = GroupApp::Shard(ShardState::new(1, &one, 8, false, false));
        assert!(old.apply(&command(write(key, 42))).is_ok_outcome());
        let reconfigure = Control::Reconfigure {
            version: 2,
            members: two.clone(),
        };
        old.apply(&command(reconfigure.to_operation()));
        new.apply(&command(reconfigure.to_operation()));
        let redirect = Outcome::Redirect {
            leader: Some(WRONG_SHARD),
        };
        assert_eq!(old.apply(&command(write(key, 43))), redirect);
        assert_eq!(new.apply(&command(write(key, 44))), redirect);
        let GroupApp::Shard(old_state) = &old else {
            unreachable!()
        };
        let snapshot = old_state.outgoing()[&(2, 1)].clone();
        assert_eq!(snapshot.entries, vec![(key, 42)]);
        assert_eq!(snapshot.sessions.len(), 1, "the write's session moves too");
        new.apply(&command(
            Control::Install {
                version: 2,
                from: 0,
                snapshot,
            }
            .to_operation(),
        ));
        let read = Operation {
            f: Function::Read,
            key: Some(key),
            value: Value::Null,
        };
        assert_eq!(
            new.query(&read),
            Some(Outcome::Ok {
                value: Value::Int(42),
                token: None
            })
        );
        assert_eq!(old.query(&read), Some(redirect));
    }

    #[test]
    fn the_mutations_break_the_fence() {
        let one: BTreeSet<u32> = [0].into();
        let two: BTreeSet<u32> = [0, 1].into();
        let next = Ring::new(&two, 8);
        let key = (0..100).find(|&k| next.owner(k) == 1).expect("a key moves");
        let mut old = ShardState::new(0, &one, 8, true, false);
        let mut new = ShardState::new(1, &one, 8, false, true);
        old.adopt(2, &two);
        new.adopt(2, &two);
        assert!(old.serves(key), "serve-after-handoff keeps serving");
        assert!(new.serves(key), "no fence serves before the snapshot");
    }

    trait IsOk {
        fn is_ok_outcome(&self) -> bool;
    }

    impl IsOk for Outcome {
        fn is_ok_outcome(&self) -> bool {
            matches!(self, Outcome::Ok { .. })
        }
    }
}
