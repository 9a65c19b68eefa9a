//! Stage two of scenario parsing: the validated [`Scenario`] a run is built from.
//!
//! [`Scenario::from_file`] and [`Scenario::from_str`] read a RON file into the raw
//! [`ScenarioFile`](crate::file::ScenarioFile) (stage one: syntax, field and variant names,
//! durations, ratios and bug names, all located as `file:line:column`), then resolve defaults and
//! check every rule that involves more than one value (stage two: located by a field path such
//! as `faults.Script[2].do.Crash.node`).
//!
//! A `Scenario` produced by these functions satisfies every rule documented on its fields: the
//! runner may rely on them without checking again. The fields are public so the runner, the
//! shrinker and tests can read and adjust them; code that builds or edits a `Scenario` by hand
//! is responsible for keeping those rules (re-validating through
//! [`Scenario::to_ron_with_script`] and [`Scenario::from_str`] is one way).
//!
//! Everything is integers: durations are [`Duration`] nanoseconds, probabilities [`Ratio`] ppm.

use crate::file::{
    ActionFile, AppFile, BugName, ClientsFile, DurationText, ExpectFile, FaultKindFile, FaultsFile,
    LimitsFile, NetworkFile, OpKindFile, PaxosReadFile, ProtocolFile, RaftReadFile, RatioText,
    ReplicationFile, ScenarioFile, ShapeFile, SignedDurationText, TimedActionFile, WorkloadFile,
};
use protocols::apps::lock::LOCKS_MAX;
use protocols::mutation::{Bug, BugSet};
use sim_core::faults::{
    FaultAction, FaultKind, FaultPlan, PartitionShape, RandomFaults, TimedFault,
};
use sim_core::history::Function;
use sim_core::id::NodeId;
use sim_core::prng::Ratio;
use sim_core::time::{Duration, Instant};
use std::path::{Path, PathBuf};

/// The largest cluster a scenario may ask for.
pub const MAX_NODES: u32 = 64;
/// The most client slots a scenario may ask for.
pub const MAX_CLIENTS: u32 = 10_000;
/// The most keys a kv application may have.
pub const MAX_OBJECTS: u32 = 1_000_000;
/// The largest clock drift, in ppm, that a fault may apply (a 100% rate error stops a clock).
pub const MAX_DRIFT_PPM: u32 = 999_999;

/// A validated scenario: everything one run needs besides the seed.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// A short name for reports (the file stem when the file gives none).
    pub name: String,
    /// The protocol under test.
    pub protocol: ProtocolSpec,
    /// The replicated application.
    pub app: AppSpec,
    /// Number of server nodes, `1..=MAX_NODES` (exactly 1 for [`ProtocolSpec::SingleServer`]).
    /// Nodes are `NodeId(0)..NodeId(node_count)`.
    pub node_count: u32,
    /// Client processes.
    pub clients: ClientSpec,
    /// The operation mix; every function fits `app`.
    pub workload: WorkloadSpec,
    /// Network behaviour.
    pub network: NetworkSpec,
    /// Largest initial offset of a node's clock from true time (drawn per node by the kernel).
    /// Default `0s`.
    pub clock_offset_max: Duration,
    /// Faults; every node id in them is `< node_count`.
    pub faults: FaultSpec,
    /// Length of phase one (workload and faults), greater than zero.
    pub duration: Duration,
    /// Length of phase two (faults healed; every client operation must complete).
    pub recovery: Duration,
    /// Switched-on bugs; each belongs to `protocol`.
    pub bugs: BugSet,
    /// Resource limits, each greater than zero.
    pub limits: Limits,
    /// The verdict a directed scenario expects, if it states one.
    pub expect: Option<Expectation>,
    /// Where the scenario was read from (not part of equality).
    source: Option<PathBuf>,
}

impl PartialEq for Scenario {
    /// Two scenarios are equal when they describe the same run, wherever they were read from.
    fn eq(&self, other: &Scenario) -> bool {
        // Destructured so that a new field cannot be forgotten here.
        let Scenario {
            name,
            protocol,
            app,
            node_count,
            clients,
            workload,
            network,
            clock_offset_max,
            faults,
            duration,
            recovery,
            bugs,
            limits,
            expect,
            source: _,
        } = self;
        *name == other.name
            && *protocol == other.protocol
            && *app == other.app
            && *node_count == other.node_count
            && *clients == other.clients
            && *workload == other.workload
            && *network == other.network
            && *clock_offset_max == other.clock_offset_max
            && *faults == other.faults
            && *duration == other.duration
            && *recovery == other.recovery
            && *bugs == other.bugs
            && *limits == other.limits
            && *expect == other.expect
    }
}

impl Eq for Scenario {}

/// The protocol under test and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolSpec {
    /// One server owning all state, persisting before it replies: the linearizable reference.
    SingleServer,
    /// Primary-backup replication.
    PrimaryBackup(PrimaryBackupSpec),
    /// Raft.
    Raft(RaftSpec),
    /// Multi-Paxos.
    Paxos(PaxosSpec),
}

impl ProtocolSpec {
    /// The protocol's kebab-case name, as [`Bug::protocol`] and reports use it.
    pub fn name(&self) -> &'static str {
        match self {
            ProtocolSpec::SingleServer => "single-server",
            ProtocolSpec::PrimaryBackup(_) => "primary-backup",
            ProtocolSpec::Raft(_) => "raft",
            ProtocolSpec::Paxos(_) => "paxos",
        }
    }

    /// Is this a consensus protocol (Raft, Multi-Paxos)? Those replicate any application
    /// built from its configuration and implement the application mutations (the proposal
    /// hook, the session-table switch). The reference protocols build their application with
    /// `Default` and implement neither, so they run kv, register and counter without bugs.
    pub fn is_consensus(&self) -> bool {
        matches!(self, ProtocolSpec::Raft(_) | ProtocolSpec::Paxos(_))
    }

    /// The node count used when the file gives none.
    pub fn default_node_count(&self) -> u32 {
        match self {
            ProtocolSpec::SingleServer => 1,
            ProtocolSpec::PrimaryBackup(_) => 3,
            ProtocolSpec::Raft(_) | ProtocolSpec::Paxos(_) => 5,
        }
    }
}

/// Parameters of primary-backup replication. Node 0 starts as the primary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryBackupSpec {
    /// Clients may read from backups (which may be stale). Default `false`.
    pub read_from_backups: bool,
    /// When writes are acknowledged. Default [`Replication::Async`].
    pub replication: Replication,
    /// How long the primary batches updates before shipping them. Default `5ms`.
    pub replication_delay: Duration,
    /// Primary heartbeat interval, greater than zero. Default `50ms`.
    pub heartbeat: Duration,
    /// A backup promotes itself after hearing nothing from the primary for this long; greater
    /// than `heartbeat`. Default `500ms`.
    pub failover_timeout: Duration,
}

/// When a primary acknowledges a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    /// After applying it locally (acknowledged writes can be lost on failover).
    Async,
    /// After every live backup applied it.
    Sync,
}

/// Parameters of Raft.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftSpec {
    /// Smallest election timeout, greater than `heartbeat`. Default `150ms`.
    pub election_timeout_min: Duration,
    /// Largest election timeout, `>= election_timeout_min`. Default `300ms`.
    pub election_timeout_max: Duration,
    /// Leader heartbeat interval, greater than zero. Default `50ms`.
    pub heartbeat: Duration,
    /// Pre-vote (thesis §9.6). Default `false`.
    pub pre_vote: bool,
    /// Check-quorum (thesis §6.2). Default `false`.
    pub check_quorum: bool,
    /// BUGGIFY: now and then take a legal but unusual path (a quiet new leader, a late no-op,
    /// a held batch) so that random faults reach narrow windows. Default: `true` when the
    /// faults are `Random(...)`, `false` for scripted or no faults (a script needs exact
    /// timing).
    pub buggify: bool,
    /// How reads are served. Default [`RaftRead::ReadIndex`].
    pub read: RaftRead,
}

/// How Raft serves reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaftRead {
    /// ReadIndex (thesis §6.4).
    ReadIndex,
    /// Through the log.
    Log,
}

/// Parameters of Multi-Paxos. Defaults are those of `protocols::paxos::Config::new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaxosSpec {
    /// Smallest leader timeout, greater than `heartbeat`. Default `150ms`.
    pub leader_timeout_min: Duration,
    /// Largest leader timeout, `>= leader_timeout_min`. Default `300ms`.
    pub leader_timeout_max: Duration,
    /// Leader heartbeat interval, greater than zero. Default `50ms`.
    pub heartbeat: Duration,
    /// How reads are served. Default [`PaxosRead::Log`].
    pub read: PaxosRead,
    /// The largest clock rate error the lease margin covers, below 50% (a margin of twice the
    /// drift would leave no lease). Default `0.1%`.
    pub max_clock_drift: Ratio,
}

impl Default for PaxosSpec {
    /// The protocol's own defaults, so that a scenario and a hand-built cluster agree.
    fn default() -> PaxosSpec {
        let config = protocols::paxos::Config::new(());
        PaxosSpec {
            leader_timeout_min: config.leader_timeout_min,
            leader_timeout_max: config.leader_timeout_max,
            heartbeat: config.heartbeat,
            read: match config.read_mode {
                protocols::paxos::ReadMode::Log => PaxosRead::Log,
                protocols::paxos::ReadMode::Lease => PaxosRead::Lease,
            },
            max_clock_drift: Ratio::from_ppm(config.max_clock_drift_ppm),
        }
    }
}

/// How Multi-Paxos serves reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaxosRead {
    /// Through the log.
    Log,
    /// From a leader holding a lease (otherwise through the log).
    Lease,
}

/// The replicated application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppSpec {
    /// A key-value store: one cas-register per key, keys `0..keys`.
    Kv {
        /// Number of keys, `1..=MAX_OBJECTS`.
        keys: u32,
    },
    /// A single cas-register.
    Register,
    /// A single counter.
    Counter,
    /// A lock table, locks `0..locks`, with leases and fencing tokens. Runs on consensus
    /// protocols only.
    Lock {
        /// Number of locks, `1..=LOCKS_MAX`. Default 1.
        locks: u32,
        /// How long a grant lasts without renewal, greater than zero. Default `1s`.
        lease_ttl: Duration,
        /// How much earlier than the server a client assumes its lease ends, below
        /// `lease_ttl`. Default `100ms`.
        drift_margin: Duration,
    },
}

impl AppSpec {
    /// The application's name (`kv`, `register`, `counter`, `lock`).
    pub fn name(&self) -> &'static str {
        match self {
            AppSpec::Kv { .. } => "kv",
            AppSpec::Register => "register",
            AppSpec::Counter => "counter",
            AppSpec::Lock { .. } => "lock",
        }
    }

    /// The operations this application serves.
    pub fn functions(&self) -> &'static [Function] {
        match self {
            AppSpec::Kv { .. } | AppSpec::Register => {
                &[Function::Read, Function::Write, Function::Cas]
            }
            AppSpec::Counter => &[Function::Add, Function::Read],
            // Writes go to the protected resource, carrying the writer's fencing token.
            AppSpec::Lock { .. } => &[Function::Acquire, Function::Release, Function::Write],
        }
    }

    /// Number of independent objects (keys, locks; 1 for single-object applications).
    pub fn object_count(&self) -> u32 {
        match self {
            AppSpec::Kv { keys } => *keys,
            AppSpec::Lock { locks, .. } => *locks,
            AppSpec::Register | AppSpec::Counter => 1,
        }
    }

    /// The operation mix used when the file gives none.
    pub fn default_mix(&self) -> Vec<WeightedOp> {
        let pairs: &[(Function, u64)] = match self {
            AppSpec::Kv { .. } | AppSpec::Register => &[
                (Function::Read, 50),
                (Function::Write, 35),
                (Function::Cas, 15),
            ],
            AppSpec::Counter => &[(Function::Add, 50), (Function::Read, 50)],
            // The lock workload is fixed (acquire, fenced writes, release); this is only what
            // a listing shows.
            AppSpec::Lock { .. } => &[
                (Function::Acquire, 1),
                (Function::Write, 1),
                (Function::Release, 1),
            ],
        };
        pairs
            .iter()
            .map(|&(function, weight)| WeightedOp { function, weight })
            .collect()
    }
}

/// Client processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    /// Number of client slots, `1..=MAX_CLIENTS`. Default 4.
    pub count: u32,
    /// Smallest think time between a completion and the next invoke. Default `0ms`.
    pub think_min: Duration,
    /// Largest think time, `>= think_min`. Default `10ms`.
    pub think_max: Duration,
    /// How long a client waits for a reply before the operation is indeterminate (`info`);
    /// greater than zero. Default `1s`.
    pub timeout: Duration,
    /// How long one attempt waits for an answer before the request is re-sent to another
    /// node; greater than zero. Default `250ms`.
    pub retry_after: Duration,
    /// How long a client waits after a redirect without a leader hint. Default `10ms`.
    pub redirect_backoff: Duration,
}

/// One entry of the operation mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightedOp {
    /// The operation.
    pub function: Function,
    /// Its integer weight, greater than zero.
    pub weight: u64,
}

/// The workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// Operations with weights: non-empty, no function twice, every function served by the
    /// application, every weight positive.
    pub mix: Vec<WeightedOp>,
}

impl WorkloadSpec {
    /// The weights in mix order, for [`sim_core::prng::Prng::weighted_index`].
    pub fn weights(&self) -> Vec<u64> {
        self.mix.iter().map(|op| op.weight).collect()
    }
}

/// Network behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Smallest one-way latency. Default `1ms`.
    pub latency_min: Duration,
    /// Largest one-way latency, `>= latency_min`. Default `10ms`.
    pub latency_max: Duration,
    /// Probability that a message is lost. Default 0.
    pub loss: Ratio,
    /// Probability that a message is delivered twice. Default 0.
    pub duplicate: Ratio,
    /// Probability that a message gets a long extra delay (random latencies reorder messages
    /// anyway; this adds reordering far beyond `latency_max`). Default 0.
    pub reorder: Ratio,
}

/// The fault schedule of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultSpec {
    /// No faults.
    None,
    /// A plan generated from the seed with [`sim_core::faults::generate`]; `kinds` is
    /// non-empty, `every_min > 0`, `every_min <= every_max`.
    Random(RandomFaults),
    /// A scripted plan, sorted by time (stable for equal times), every action at or before
    /// `duration + recovery`.
    Script(FaultPlan),
}

/// Resource limits; each is greater than zero. Hitting one is a reported outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Events the scheduler may process. Default 200,000,000.
    pub max_events: u64,
    /// Messages in flight at once. Default 1,000,000.
    pub max_in_flight_messages: u64,
    /// History events (invokes and completions). Default 2,000,000.
    pub max_history_events: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_events: 200_000_000,
            max_in_flight_messages: 1_000_000,
            max_history_events: 2_000_000,
        }
    }
}

/// The verdict a directed scenario expects of every seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// Every seed passes.
    Pass,
    /// The scenario is built to find a safety violation.
    Violation,
    /// The scenario is built to show a liveness failure.
    LivenessFailure,
}

/// A scenario that could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{origin}: cannot read the file: {source}")]
    Io {
        /// The file.
        origin: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Stage one: the text is not a well-formed scenario file.
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        /// The file (or the origin name given to [`Scenario::from_str`]).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong and what was expected.
        message: String,
    },
    /// Stage two: well-formed, but a value breaks a rule.
    #[error("{origin}: {path}: {message}")]
    Invalid {
        /// The file (or origin name).
        origin: String,
        /// The field path, e.g. `faults.Script[2].do.Crash.node`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl ScenarioError {
    /// The message without the location.
    pub fn message(&self) -> String {
        match self {
            ScenarioError::Io { source, .. } => format!("cannot read the file: {source}"),
            ScenarioError::Syntax { message, .. } | ScenarioError::Invalid { message, .. } => {
                message.clone()
            }
        }
    }
}

/// A semantic error before the origin is attached.
struct Invalid {
    path: String,
    message: String,
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        path: path.into(),
        message: message.into(),
    }
}

/// The options every scenario file is read and written with.
fn ron_options() -> ron::Options {
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .with_recursion_limit(64)
}

impl Scenario {
    /// Reads, parses and validates a scenario file.
    ///
    /// # Errors
    /// [`ScenarioError::Io`] when the file cannot be read, [`ScenarioError::Syntax`] (with
    /// `line:column`) when it is not a well-formed scenario, [`ScenarioError::Invalid`] (with a
    /// field path) when a value breaks a rule.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ScenarioError::Io {
            origin: origin.clone(),
            source,
        })?;
        let mut scenario = Scenario::from_bytes(&bytes, &origin)?;
        scenario.source = Some(path.to_path_buf());
        Ok(scenario)
    }

    /// Parses and validates a scenario from bytes, which must be UTF-8. `origin` names the
    /// source in error messages and provides the default name.
    ///
    /// # Errors
    /// As [`Scenario::from_file`], without `Io`; invalid UTF-8 is a `Syntax` error at the first
    /// bad byte.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Scenario, ScenarioError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Scenario::from_str(text, origin),
            Err(error) => {
                let valid = &bytes[..error.valid_up_to()];
                // The prefix is valid UTF-8 by construction.
                let prefix = String::from_utf8_lossy(valid);
                let (line, column) = end_position(&prefix);
                let bad = bytes.get(error.valid_up_to()).copied().unwrap_or(0);
                Err(ScenarioError::Syntax {
                    origin: origin.to_string(),
                    line,
                    column,
                    message: format!(
                        "the file is not valid UTF-8 (byte 0x{bad:02x}): scenario files are UTF-8 text"
                    ),
                })
            }
        }
    }

    /// Parses and validates a scenario from text. `origin` names the source in error messages
    /// (and, without a `name` field, gives the scenario its name: its file stem).
    ///
    /// # Errors
    /// [`ScenarioError::Syntax`] or [`ScenarioError::Invalid`].
    #[allow(clippy::should_implement_trait)] // Two arguments: not `FromStr`.
    pub fn from_str(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let file = parse_file(text, origin)?;
        let default_name = Path::new(origin)
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .filter(|stem| !stem.is_empty())
            .unwrap_or_else(|| "scenario".to_string());
        validate(file, &default_name).map_err(|error| ScenarioError::Invalid {
            origin: origin.to_string(),
            path: error.path,
            message: error.message,
        })
    }

    /// The file the scenario was read from ([`Scenario::from_file`] only), for replay lines.
    pub fn source_path(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Sets the file the scenario is said to come from (e.g. after writing it out).
    pub fn set_source_path(&mut self, path: Option<PathBuf>) {
        self.source = path;
    }

    /// The nodes of the cluster, in order.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.node_count).map(NodeId)
    }

    /// The end of the run: `duration + recovery` after the start.
    pub fn end(&self) -> Instant {
        Instant(
            self.duration
                .as_nanos()
                .saturating_add(self.recovery.as_nanos()),
        )
    }

    /// The resolved scenario as RON, every default written out, with `faults` replaced by
    /// `plan` as a `Script`. Parsing the text back gives a scenario equal to this one with
    /// `faults: FaultSpec::Script(plan)` (for a plan valid in this scenario: node ids in range,
    /// times within the run).
    pub fn to_ron_with_script(&self, plan: &FaultPlan) -> String {
        self.to_ron(Some(FaultsFile::Script(
            plan.faults.iter().map(timed_fault_file).collect(),
        )))
    }

    /// The resolved scenario as RON with every default written out, faults as they are.
    pub fn to_ron_resolved(&self) -> String {
        let faults = match &self.faults {
            FaultSpec::None => None,
            FaultSpec::Random(random) => Some(FaultsFile::Random {
                every: Some((
                    DurationText(random.every_min),
                    DurationText(random.every_max),
                )),
                kinds: Some(random.kinds.iter().map(fault_kind_file).collect()),
                swarm: Some(random.swarm),
            }),
            FaultSpec::Script(plan) => Some(FaultsFile::Script(
                plan.faults.iter().map(timed_fault_file).collect(),
            )),
        };
        self.to_ron(faults)
    }

    fn to_ron(&self, faults: Option<FaultsFile>) -> String {
        let file = self.to_file(faults);
        let config = ron::ser::PrettyConfig::new()
            .new_line("\n".to_string())
            .indentor("    ".to_string())
            .struct_names(false)
            .compact_arrays(false)
            .depth_limit(2);
        match ron_options().to_string_pretty(&file, config) {
            // The raw types always serialize; `Scenario(` names the top-level struct, which
            // the pretty printer leaves out with `struct_names(false)`.
            Ok(text) => format!("Scenario{text}\n"),
            Err(error) => format!("// serializing the scenario failed: {error}\n"),
        }
    }

    fn to_file(&self, faults: Option<FaultsFile>) -> ScenarioFile {
        let protocol = match &self.protocol {
            ProtocolSpec::SingleServer => ProtocolFile::SingleServer,
            ProtocolSpec::PrimaryBackup(spec) => ProtocolFile::PrimaryBackup {
                read_from_backups: Some(spec.read_from_backups),
                replication: Some(match spec.replication {
                    Replication::Async => ReplicationFile::Async,
                    Replication::Sync => ReplicationFile::Sync,
                }),
                replication_delay: Some(DurationText(spec.replication_delay)),
                heartbeat: Some(DurationText(spec.heartbeat)),
                failover_timeout: Some(DurationText(spec.failover_timeout)),
            },
            ProtocolSpec::Raft(spec) => ProtocolFile::Raft {
                election_timeout: Some((
                    DurationText(spec.election_timeout_min),
                    DurationText(spec.election_timeout_max),
                )),
                heartbeat: Some(DurationText(spec.heartbeat)),
                pre_vote: Some(spec.pre_vote),
                check_quorum: Some(spec.check_quorum),
                buggify: Some(spec.buggify),
                read: Some(match spec.read {
                    RaftRead::ReadIndex => RaftReadFile::ReadIndex,
                    RaftRead::Log => RaftReadFile::Log,
                }),
            },
            ProtocolSpec::Paxos(spec) => ProtocolFile::Paxos {
                leader_timeout: Some((
                    DurationText(spec.leader_timeout_min),
                    DurationText(spec.leader_timeout_max),
                )),
                heartbeat: Some(DurationText(spec.heartbeat)),
                read: Some(match spec.read {
                    PaxosRead::Log => PaxosReadFile::Log,
                    PaxosRead::Lease => PaxosReadFile::Lease,
                }),
                max_clock_drift: Some(RatioText(spec.max_clock_drift)),
            },
        };
        let app = match self.app {
            AppSpec::Kv { keys } => AppFile::Kv { keys: Some(keys) },
            AppSpec::Register => AppFile::Register,
            AppSpec::Counter => AppFile::Counter {},
            AppSpec::Lock {
                locks,
                lease_ttl,
                drift_margin,
            } => AppFile::Lock {
                locks: Some(locks),
                lease: Some(DurationText(lease_ttl)),
                drift_margin: Some(DurationText(drift_margin)),
            },
        };
        // The lock workload takes no mix (validation refuses one).
        let workload = match self.app {
            AppSpec::Lock { .. } => None,
            _ => Some(WorkloadFile {
                mix: Some(
                    self.workload
                        .mix
                        .iter()
                        .map(|op| {
                            (
                                op_kind_file(op.function),
                                u32::try_from(op.weight).unwrap_or(u32::MAX),
                            )
                        })
                        .collect(),
                ),
            }),
        };
        ScenarioFile {
            name: Some(self.name.clone()),
            protocol,
            app: Some(app),
            nodes: Some(self.node_count),
            clients: Some(ClientsFile {
                count: Some(self.clients.count),
                think: Some((
                    DurationText(self.clients.think_min),
                    DurationText(self.clients.think_max),
                )),
                timeout: Some(DurationText(self.clients.timeout)),
                retry_after: Some(DurationText(self.clients.retry_after)),
                redirect_backoff: Some(DurationText(self.clients.redirect_backoff)),
            }),
            workload,
            network: Some(NetworkFile {
                latency: Some((
                    DurationText(self.network.latency_min),
                    DurationText(self.network.latency_max),
                )),
                loss: Some(RatioText(self.network.loss)),
                duplicate: Some(RatioText(self.network.duplicate)),
                reorder: Some(RatioText(self.network.reorder)),
            }),
            clock_offset_max: Some(DurationText(self.clock_offset_max)),
            faults,
            duration: Some(DurationText(self.duration)),
            recovery: Some(DurationText(self.recovery)),
            bugs: Some(self.bugs.iter().map(BugName).collect()),
            limits: Some(LimitsFile {
                max_events: Some(self.limits.max_events),
                max_in_flight_messages: Some(self.limits.max_in_flight_messages),
                max_history_events: Some(self.limits.max_history_events),
            }),
            expect: self.expect.map(|expect| match expect {
                Expectation::Pass => ExpectFile::Pass,
                Expectation::Violation => ExpectFile::Violation,
                Expectation::LivenessFailure => ExpectFile::LivenessFailure,
            }),
        }
    }
}

/// 1-based (line, column) just past the end of `text`, counting characters.
fn end_position(text: &str) -> (usize, usize) {
    let line = 1 + text.matches('\n').count();
    let column = 1 + text
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count());
    (line, column)
}

/// Stage one: text to [`ScenarioFile`], with located errors.
fn parse_file(text: &str, origin: &str) -> Result<ScenarioFile, ScenarioError> {
    let syntax = |line: usize, column: usize, message: String| ScenarioError::Syntax {
        origin: origin.to_string(),
        line,
        column,
        message,
    };
    if is_blank(text) {
        return Err(syntax(
            1,
            1,
            "the file is empty: expected `Scenario(protocol: ..., ...)`".to_string(),
        ));
    }
    ron_options()
        .from_str::<ScenarioFile>(text)
        .map_err(|error| {
            let position = error.span.start;
            let (line, column) = skip_whitespace(text, position.line.max(1), position.col.max(1));
            let context = ErrorContext::at(text, line, column);
            syntax(line, column, describe_ron_error(&error.code, &context))
        })
}

/// Moves a 1-based `line:column` (columns in characters) forward over whitespace, so that an
/// error RON reports just before a value (or at the newline before trailing text) points at the
/// value itself. Positions past the end stay where they are.
fn skip_whitespace(text: &str, line: usize, column: usize) -> (usize, usize) {
    let Some(offset) = byte_offset(text, line, column) else {
        return (line, column);
    };
    let (mut new_line, mut new_column) = (line, column);
    for character in text[offset..].chars() {
        match character {
            '\n' => {
                new_line += 1;
                new_column = 1;
            }
            c if c.is_whitespace() => new_column += 1,
            _ => return (new_line, new_column),
        }
    }
    // Only whitespace follows: keep RON's position.
    (line, column)
}

/// The byte offset of a 1-based `line:column` (columns in characters), if it is in the text.
fn byte_offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let mut lines = text.split_inclusive('\n');
    let mut line_start = 0;
    for _ in 1..line {
        line_start += lines.next()?.len();
    }
    text.get(line_start..)?
        .char_indices()
        .nth(column.checked_sub(1)?)
        .map(|(index, _)| line_start + index)
}

/// What surrounds an error position, for hints.
struct ErrorContext<'a> {
    /// The identifier that ends right before the position (whitespace skipped), if any.
    identifier_before: Option<&'a str>,
    /// The character at the position.
    character: Option<char>,
}

impl<'a> ErrorContext<'a> {
    fn at(text: &'a str, line: usize, column: usize) -> ErrorContext<'a> {
        let Some(offset) = byte_offset(text, line, column) else {
            return ErrorContext {
                identifier_before: None,
                character: None,
            };
        };
        let before = text[..offset].trim_end();
        let start = before
            .char_indices()
            .rev()
            .take_while(|&(_, c)| c.is_alphanumeric() || c == '_')
            .last()
            .map_or(before.len(), |(index, _)| index);
        let identifier = &before[start..];
        let identifier_before = identifier
            .chars()
            .next()
            .filter(|c| c.is_alphabetic())
            .map(|_| identifier);
        ErrorContext {
            identifier_before,
            character: text[offset..].chars().next(),
        }
    }
}

/// True when the text holds nothing but whitespace and `//` comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with("//")
    })
}

fn quoted_list(names: &[&str]) -> String {
    if names.is_empty() {
        return "nothing".to_string();
    }
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn in_outer(outer: &Option<String>) -> String {
    match outer {
        Some(outer) if !outer.is_empty() => format!(" in `{outer}`"),
        _ => String::new(),
    }
}

/// A lowercase message for a RON error, naming what was expected.
fn describe_ron_error(error: &ron::Error, context: &ErrorContext<'_>) -> String {
    use ron::Error;
    match error {
        Error::NoSuchStructField { expected, found, outer } => format!(
            "unknown field `{found}`{}: expected one of {}",
            in_outer(outer),
            quoted_list(expected)
        ),
        Error::NoSuchEnumVariant { expected, found, outer } => format!(
            "unknown variant `{found}`{}: expected one of {}",
            in_outer(outer),
            quoted_list(expected)
        ),
        Error::MissingStructField { field, outer } => {
            format!("missing field `{field}`{}", in_outer(outer))
        }
        Error::DuplicateStructField { field, outer } => {
            format!("field `{field}` is given twice{}", in_outer(outer))
        }
        Error::ExpectedDifferentStructName { expected, found } => {
            format!("expected `{expected}(...)` but found `{found}(...)`")
        }
        Error::IntegerOutOfBounds => {
            "integer out of range for this field (node numbers, counts and weights are 32-bit, limits 64-bit)"
                .to_string()
        }
        Error::TrailingCharacters => {
            "unexpected text after the end of the scenario: expected nothing after the closing `)`"
                .to_string()
        }
        Error::Eof => "unexpected end of file: a bracket or string is not closed".to_string(),
        Error::ExceededRecursionLimit => {
            "nesting is too deep (more than 64 levels of brackets)".to_string()
        }
        Error::ExpectedStructLike => match context.identifier_before {
            // These variants have a default for every parameter.
            Some(name @ ("Raft" | "Paxos" | "PrimaryBackup" | "Kv" | "Counter" | "Lock" | "Random")) => format!(
                "expected `(` after `{name}`: write `{name}(...)`, or `{name}()` for every default"
            ),
            Some(name) => format!("expected `(` after `{name}`: it takes parameters, `{name}(...)`"),
            None => "expected `(`: a pair such as `(\"1ms\", \"10ms\")` or a group such as `(count: 4)`"
                .to_string(),
        },
        Error::ExpectedComma if context.character == Some('(') => match context.identifier_before {
            Some(name) => format!("unexpected `(`: `{name}` takes no parameters, write it without parentheses"),
            None => "unexpected `(`: expected a comma".to_string(),
        },
        Error::ExpectedComma => "expected a comma between items".to_string(),
        // serde names the Rust type of a tuple variant; the file calls it just `Clog`.
        other => lowercase_first(&other.to_string().replace("ActionFile::", "")),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Stage two: defaults and cross-field rules.
fn validate(file: ScenarioFile, default_name: &str) -> Result<Scenario, Invalid> {
    let name = match file.name {
        Some(name) if name.trim().is_empty() => {
            return Err(invalid("name", "the name is empty"));
        }
        Some(name) => name,
        None => default_name.to_string(),
    };
    let random_faults = matches!(file.faults, Some(FaultsFile::Random { .. }));
    let protocol = validate_protocol(file.protocol, random_faults)?;

    let node_count = file.nodes.unwrap_or_else(|| protocol.default_node_count());
    if node_count == 0 || node_count > MAX_NODES {
        return Err(invalid(
            "nodes",
            format!("{node_count} nodes: expected 1 to {MAX_NODES}"),
        ));
    }
    if protocol == ProtocolSpec::SingleServer && node_count != 1 {
        return Err(invalid(
            "nodes",
            format!("single-server runs exactly 1 node, not {node_count}"),
        ));
    }

    let app = validate_app(file.app.unwrap_or(AppFile::Kv { keys: None }))?;
    if matches!(app, AppSpec::Lock { .. }) && !protocol.is_consensus() {
        return Err(invalid(
            "app",
            format!(
                "the lock application runs on Raft and Paxos, not on {}: the reference protocols build their application without the lock's lease configuration",
                protocol.name()
            ),
        ));
    }
    let clients = validate_clients(file.clients.unwrap_or_default())?;
    let workload = validate_workload(file.workload.unwrap_or_default(), &app)?;
    let network = validate_network(file.network.unwrap_or_default())?;
    let clock_offset_max = file.clock_offset_max.map_or(Duration::ZERO, |text| text.0);

    let duration = file.duration.map_or(Duration::from_secs(10), |text| text.0);
    if duration == Duration::ZERO {
        return Err(invalid(
            "duration",
            "the duration is 0s: expected a positive duration",
        ));
    }
    let recovery = file.recovery.map_or(Duration::from_secs(5), |text| text.0);
    let end = duration
        .as_nanos()
        .checked_add(recovery.as_nanos())
        .ok_or_else(|| {
            invalid(
                "recovery",
                "duration + recovery does not fit in 64-bit nanoseconds",
            )
        })?;

    let faults = match file.faults {
        None => FaultSpec::None,
        Some(FaultsFile::Random {
            every,
            kinds,
            swarm,
        }) => FaultSpec::Random(validate_random(every, kinds, swarm, node_count)?),
        Some(FaultsFile::Script(steps)) => {
            FaultSpec::Script(validate_script(&steps, node_count, Duration(end))?)
        }
    };

    let mut bugs = BugSet::NONE;
    for (index, BugName(bug)) in file.bugs.unwrap_or_default().into_iter().enumerate() {
        let path = format!("bugs[{index}]");
        bug_applies(bug, &protocol, &app).map_err(|message| invalid(path.clone(), message))?;
        if bugs.contains(bug) {
            return Err(invalid(path, format!("bug \"{bug}\" is listed twice")));
        }
        bugs.insert(bug);
    }

    let limits = validate_limits(file.limits.unwrap_or_default())?;
    let expect = file.expect.map(|expect| match expect {
        ExpectFile::Pass => Expectation::Pass,
        ExpectFile::Violation => Expectation::Violation,
        ExpectFile::LivenessFailure => Expectation::LivenessFailure,
    });

    Ok(Scenario {
        name,
        protocol,
        app,
        node_count,
        clients,
        workload,
        network,
        clock_offset_max,
        faults,
        duration,
        recovery,
        bugs,
        limits,
        expect,
        source: None,
    })
}

/// Checks that `bug` can be switched on in a scenario of `protocol` running `app`: a protocol's
/// bug (`raft`, `paxos`) needs that protocol, an application's bug (`lock`, `counter`) needs
/// that application, on any protocol (whether a protocol implements it is the runner's
/// [`crate::runner::supported`]).
///
/// # Errors
/// A message naming the bug's family and the bugs that do apply.
pub fn bug_applies(bug: Bug, protocol: &ProtocolSpec, app: &AppSpec) -> Result<(), String> {
    // Protocol and application names are disjoint, so a family matches at most one of them.
    // Application bugs live in the consensus protocols' proposal path and session table.
    let applies = |candidate: Bug| {
        candidate.protocol() == protocol.name()
            || (candidate.protocol() == app.name() && protocol.is_consensus())
    };
    if applies(bug) {
        return Ok(());
    }
    let own: Vec<String> = Bug::ALL
        .iter()
        .filter(|&&candidate| applies(candidate))
        .map(|candidate| format!("\"{candidate}\""))
        .collect();
    let own = if own.is_empty() {
        format!(
            "{} with the {} application has no switchable bugs",
            protocol.name(),
            app.name()
        )
    } else {
        format!(
            "the bugs of {} with the {} application are {}",
            protocol.name(),
            app.name(),
            own.join(", ")
        )
    };
    let why = if bug.protocol() == app.name() {
        format!(
            "bug \"{bug}\" of the {} application is implemented by the consensus protocols (raft, paxos), not by {}",
            app.name(),
            protocol.name()
        )
    } else {
        format!(
            "bug \"{bug}\" belongs to {}, but this scenario runs the {} application on {}",
            bug.protocol(),
            app.name(),
            protocol.name()
        )
    };
    Err(format!("{why} ({own})"))
}

/// Checks `min <= max` for a `(min, max)` pair and returns it.
fn range(
    path: &str,
    pair: Option<(DurationText, DurationText)>,
    default: (Duration, Duration),
) -> Result<(Duration, Duration), Invalid> {
    let (min, max) = pair.map_or(default, |(min, max)| (min.0, max.0));
    if min > max {
        return Err(invalid(path, format!("min {min} is above max {max}")));
    }
    Ok((min, max))
}

fn positive(path: &str, value: Duration) -> Result<Duration, Invalid> {
    if value == Duration::ZERO {
        return Err(invalid(path, "0s: expected a positive duration"));
    }
    Ok(value)
}

/// A leader-based protocol's timing: the `(min, max)` timeout range at `{prefix}.{field}` and
/// a positive heartbeat below the minimum timeout (else `consequence` happens).
fn leader_timing(
    prefix: &str,
    field: &str,
    timeout: Option<(DurationText, DurationText)>,
    heartbeat: Option<DurationText>,
    default_timeout: (Duration, Duration),
    default_heartbeat: Duration,
    consequence: &str,
) -> Result<(Duration, Duration, Duration), Invalid> {
    let timeout_path = format!("{prefix}.{field}");
    let (min, max) = range(&timeout_path, timeout, default_timeout)?;
    let heartbeat = positive(
        &format!("{prefix}.heartbeat"),
        heartbeat.map_or(default_heartbeat, |text| text.0),
    )?;
    if min <= heartbeat {
        return Err(invalid(
            timeout_path,
            format!("min {min} is not above the heartbeat interval {heartbeat}: {consequence}"),
        ));
    }
    Ok((min, max, heartbeat))
}

/// `random_faults`: the scenario's faults are generated (Raft's BUGGIFY defaults on then).
fn validate_protocol(protocol: ProtocolFile, random_faults: bool) -> Result<ProtocolSpec, Invalid> {
    match protocol {
        ProtocolFile::SingleServer => Ok(ProtocolSpec::SingleServer),
        ProtocolFile::PrimaryBackup {
            read_from_backups,
            replication,
            replication_delay,
            heartbeat,
            failover_timeout,
        } => {
            let heartbeat = positive(
                "protocol.PrimaryBackup.heartbeat",
                heartbeat.map_or(Duration::from_millis(50), |text| text.0),
            )?;
            let failover_timeout =
                failover_timeout.map_or(Duration::from_millis(500), |text| text.0);
            if failover_timeout <= heartbeat {
                return Err(invalid(
                    "protocol.PrimaryBackup.failover_timeout",
                    format!(
                        "{failover_timeout} is not above the heartbeat interval {heartbeat}: backups would promote themselves while the primary is healthy"
                    ),
                ));
            }
            Ok(ProtocolSpec::PrimaryBackup(PrimaryBackupSpec {
                read_from_backups: read_from_backups.unwrap_or(false),
                replication: match replication.unwrap_or(ReplicationFile::Async) {
                    ReplicationFile::Async => Replication::Async,
                    ReplicationFile::Sync => Replication::Sync,
                },
                replication_delay: replication_delay
                    .map_or(Duration::from_millis(5), |text| text.0),
                heartbeat,
                failover_timeout,
            }))
        }
        ProtocolFile::Raft {
            election_timeout,
            heartbeat,
            pre_vote,
            check_quorum,
            buggify,
            read,
        } => {
            let (election_timeout_min, election_timeout_max, heartbeat) = leader_timing(
                "protocol.Raft",
                "election_timeout",
                election_timeout,
                heartbeat,
                (Duration::from_millis(150), Duration::from_millis(300)),
                Duration::from_millis(50),
                "followers would start elections under a healthy leader",
            )?;
            Ok(ProtocolSpec::Raft(RaftSpec {
                election_timeout_min,
                election_timeout_max,
                heartbeat,
                pre_vote: pre_vote.unwrap_or(false),
                check_quorum: check_quorum.unwrap_or(false),
                buggify: buggify.unwrap_or(random_faults),
                read: match read.unwrap_or(RaftReadFile::ReadIndex) {
                    RaftReadFile::ReadIndex => RaftRead::ReadIndex,
                    RaftReadFile::Log => RaftRead::Log,
                },
            }))
        }
        ProtocolFile::Paxos {
            leader_timeout,
            heartbeat,
            read,
            max_clock_drift,
        } => {
            let defaults = PaxosSpec::default();
            let (leader_timeout_min, leader_timeout_max, heartbeat) = leader_timing(
                "protocol.Paxos",
                "leader_timeout",
                leader_timeout,
                heartbeat,
                (defaults.leader_timeout_min, defaults.leader_timeout_max),
                defaults.heartbeat,
                "replicas would start phase 1 under a healthy leader",
            )?;
            let max_clock_drift = max_clock_drift.map_or(defaults.max_clock_drift, |text| text.0);
            if max_clock_drift >= Ratio::from_percent(50) {
                return Err(invalid(
                    "protocol.Paxos.max_clock_drift",
                    format!(
                        "{max_clock_drift}: expected below 50% (the lease margin is twice the drift bound of the timeout, so 50% leaves no lease)"
                    ),
                ));
            }
            Ok(ProtocolSpec::Paxos(PaxosSpec {
                leader_timeout_min,
                leader_timeout_max,
                heartbeat,
                read: match read {
                    None => defaults.read,
                    Some(PaxosReadFile::Log) => PaxosRead::Log,
                    Some(PaxosReadFile::Lease) => PaxosRead::Lease,
                },
                max_clock_drift,
            }))
        }
    }
}

fn object_count(path: &str, what: &str, count: u32) -> Result<u32, Invalid> {
    if count == 0 || count > MAX_OBJECTS {
        return Err(invalid(
            path,
            format!("{count} {what}: expected 1 to {MAX_OBJECTS}"),
        ));
    }
    Ok(count)
}

fn validate_app(app: AppFile) -> Result<AppSpec, Invalid> {
    Ok(match app {
        AppFile::Kv { keys } => AppSpec::Kv {
            keys: object_count("app.Kv.keys", "keys", keys.unwrap_or(4))?,
        },
        AppFile::Register => AppSpec::Register,
        AppFile::Counter {} => AppSpec::Counter,
        AppFile::Lock {
            locks,
            lease,
            drift_margin,
        } => {
            let lease_ttl = positive(
                "app.Lock.lease",
                lease.map_or(Duration::from_secs(1), |text| text.0),
            )?;
            let drift_margin = drift_margin.map_or(Duration::from_millis(100), |text| text.0);
            if drift_margin >= lease_ttl {
                return Err(invalid(
                    "app.Lock.drift_margin",
                    format!(
                        "{drift_margin} is not below the lease {lease_ttl}: clients would never believe they hold a lock"
                    ),
                ));
            }
            let locks = locks.unwrap_or(1);
            if locks == 0 || locks > LOCKS_MAX {
                return Err(invalid(
                    "app.Lock.locks",
                    format!("{locks} locks: expected 1 to {LOCKS_MAX}"),
                ));
            }
            AppSpec::Lock {
                locks,
                lease_ttl,
                drift_margin,
            }
        }
    })
}

fn validate_clients(clients: ClientsFile) -> Result<ClientSpec, Invalid> {
    let count = clients.count.unwrap_or(4);
    if count == 0 || count > MAX_CLIENTS {
        return Err(invalid(
            "clients.count",
            format!("{count} clients: expected 1 to {MAX_CLIENTS}"),
        ));
    }
    let (think_min, think_max) = range(
        "clients.think",
        clients.think,
        (Duration::ZERO, Duration::from_millis(10)),
    )?;
    let timeout = positive(
        "clients.timeout",
        clients
            .timeout
            .map_or(Duration::from_secs(1), |text| text.0),
    )?;
    let retry_after = positive(
        "clients.retry_after",
        clients
            .retry_after
            .map_or(Duration::from_millis(250), |text| text.0),
    )?;
    let redirect_backoff = clients
        .redirect_backoff
        .map_or(Duration::from_millis(10), |text| text.0);
    Ok(ClientSpec {
        count,
        think_min,
        think_max,
        timeout,
        retry_after,
        redirect_backoff,
    })
}

fn function_of(kind: OpKindFile) -> Function {
    match kind {
        OpKindFile::Read => Function::Read,
        OpKindFile::Write => Function::Write,
        OpKindFile::Cas => Function::Cas,
        OpKindFile::Add => Function::Add,
        OpKindFile::Acquire => Function::Acquire,
        OpKindFile::Release => Function::Release,
    }
}

fn op_kind_file(function: Function) -> OpKindFile {
    match function {
        Function::Read => OpKindFile::Read,
        Function::Write => OpKindFile::Write,
        Function::Cas => OpKindFile::Cas,
        Function::Add => OpKindFile::Add,
        Function::Acquire => OpKindFile::Acquire,
        Function::Release => OpKindFile::Release,
        // Transactions are not a workload kind yet; validation never produces one.
        Function::Txn => OpKindFile::Read,
    }
}

fn function_name(function: Function) -> &'static str {
    match function {
        Function::Read => "Read",
        Function::Write => "Write",
        Function::Cas => "Cas",
        Function::Add => "Add",
        Function::Acquire => "Acquire",
        Function::Release => "Release",
        Function::Txn => "Txn",
    }
}

fn validate_workload(workload: WorkloadFile, app: &AppSpec) -> Result<WorkloadSpec, Invalid> {
    let Some(entries) = workload.mix else {
        return Ok(WorkloadSpec {
            mix: app.default_mix(),
        });
    };
    if matches!(app, AppSpec::Lock { .. }) {
        // A lock client follows a protocol (acquire, write with the token while the lease
        // lasts, release), not a random mix; a mix here would be silently ignored.
        return Err(invalid(
            "workload.mix",
            "the lock application's workload is fixed (acquire, fenced writes, release): leave `workload` out",
        ));
    }
    if entries.is_empty() {
        return Err(invalid(
            "workload.mix",
            "the mix is empty: expected at least one operation",
        ));
    }
    let mut mix: Vec<WeightedOp> = Vec::with_capacity(entries.len());
    for (index, (kind, weight)) in entries.into_iter().enumerate() {
        let function = function_of(kind);
        let path = format!("workload.mix[{index}]");
        if !app.functions().contains(&function) {
            let served: Vec<&str> = app.functions().iter().map(|&f| function_name(f)).collect();
            return Err(invalid(
                path,
                format!(
                    "{} is not an operation of the {} application: expected one of {}",
                    function_name(function),
                    app.name(),
                    quoted_list(&served)
                ),
            ));
        }
        if mix.iter().any(|op| op.function == function) {
            return Err(invalid(
                path,
                format!("{} appears twice in the mix", function_name(function)),
            ));
        }
        if weight == 0 {
            return Err(invalid(
                path,
                format!(
                    "{} has weight 0: leave it out instead",
                    function_name(function)
                ),
            ));
        }
        mix.push(WeightedOp {
            function,
            weight: u64::from(weight),
        });
    }
    Ok(WorkloadSpec { mix })
}

fn validate_network(network: NetworkFile) -> Result<NetworkSpec, Invalid> {
    let (latency_min, latency_max) = range(
        "network.latency",
        network.latency,
        (Duration::from_millis(1), Duration::from_millis(10)),
    )?;
    Ok(NetworkSpec {
        latency_min,
        latency_max,
        loss: network.loss.map_or(Ratio::ZERO, |text| text.0),
        duplicate: network.duplicate.map_or(Ratio::ZERO, |text| text.0),
        reorder: network.reorder.map_or(Ratio::ZERO, |text| text.0),
    })
}

fn node(path: &str, number: u32, node_count: u32) -> Result<NodeId, Invalid> {
    if number >= node_count {
        return Err(invalid(
            path,
            format!(
                "node {number} does not exist in a {node_count}-node cluster (nodes are 0 to {})",
                node_count - 1
            ),
        ));
    }
    Ok(NodeId(number))
}

fn validate_shape(
    path: &str,
    shape: &ShapeFile,
    node_count: u32,
) -> Result<PartitionShape, Invalid> {
    Ok(match shape {
        ShapeFile::Halves => PartitionShape::Halves,
        ShapeFile::MajoritiesRing => PartitionShape::MajoritiesRing,
        ShapeFile::Bridge => PartitionShape::Bridge,
        ShapeFile::IsolateOne => PartitionShape::IsolateOne,
        ShapeFile::OneWay => PartitionShape::OneWay,
        ShapeFile::Groups(groups) => {
            let mut seen = vec![false; node_count as usize];
            let mut resolved = Vec::with_capacity(groups.len());
            for (group_index, group) in groups.iter().enumerate() {
                let group_path = format!("{path}.Groups[{group_index}]");
                if group.is_empty() {
                    return Err(invalid(group_path, "the group is empty"));
                }
                let mut members = Vec::with_capacity(group.len());
                for (member_index, &number) in group.iter().enumerate() {
                    let id = node(&format!("{group_path}[{member_index}]"), number, node_count)?;
                    if std::mem::replace(&mut seen[id.index()], true) {
                        return Err(invalid(
                            format!("{group_path}[{member_index}]"),
                            format!(
                                "node {number} is in more than one group (groups must be disjoint)"
                            ),
                        ));
                    }
                    members.push(id);
                }
                resolved.push(members);
            }
            PartitionShape::Groups(resolved)
        }
        ShapeFile::Cuts(cuts) => {
            let mut resolved = Vec::with_capacity(cuts.len());
            for (index, &(from, to)) in cuts.iter().enumerate() {
                let cut_path = format!("{path}.Cuts[{index}]");
                let from_id = node(&format!("{cut_path}.from"), from, node_count)?;
                let to_id = node(&format!("{cut_path}.to"), to, node_count)?;
                if from == to {
                    return Err(invalid(
                        cut_path,
                        format!("a cut from node {from} to itself"),
                    ));
                }
                resolved.push((from_id, to_id));
            }
            PartitionShape::Cuts(resolved)
        }
    })
}

fn validate_random(
    every: Option<(DurationText, DurationText)>,
    kinds: Option<Vec<FaultKindFile>>,
    swarm: Option<bool>,
    node_count: u32,
) -> Result<RandomFaults, Invalid> {
    let (every_min, every_max) = range(
        "faults.Random.every",
        every,
        (Duration::from_millis(500), Duration::from_secs(2)),
    )?;
    positive("faults.Random.every", every_min)?;
    let kinds = kinds.unwrap_or_else(|| {
        vec![
            FaultKindFile::Partition(ShapeFile::Halves),
            FaultKindFile::Partition(ShapeFile::MajoritiesRing),
            FaultKindFile::Crash,
            FaultKindFile::Pause(DurationText(Duration::from_millis(300))),
        ]
    });
    if kinds.is_empty() {
        return Err(invalid(
            "faults.Random.kinds",
            "no fault kinds: list at least one, or leave `faults` out for a fault-free run",
        ));
    }
    let mut resolved = Vec::with_capacity(kinds.len());
    for (index, kind) in kinds.iter().enumerate() {
        let path = format!("faults.Random.kinds[{index}]");
        // A partition or a clogged link needs two nodes to come between; the generator is not
        // asked to do the impossible.
        if node_count < 2 && matches!(kind, FaultKindFile::Partition(_) | FaultKindFile::Clog) {
            return Err(invalid(
                path,
                "partitions and clogged links need at least 2 nodes; this cluster has 1",
            ));
        }
        resolved.push(match kind {
            FaultKindFile::Partition(shape) => FaultKind::Partition(validate_shape(
                &format!("{path}.Partition"),
                shape,
                node_count,
            )?),
            FaultKindFile::Crash => FaultKind::Crash,
            FaultKindFile::LoseUnsynced => FaultKind::LoseUnsynced,
            FaultKindFile::Pause(max) => {
                FaultKind::Pause(positive(&format!("{path}.Pause"), max.0)?)
            }
            FaultKindFile::ClockSkew(max) => {
                FaultKind::ClockSkew(positive(&format!("{path}.ClockSkew"), max.0)?)
            }
            FaultKindFile::ClockDrift(ppm) => {
                if *ppm == 0 || *ppm > MAX_DRIFT_PPM {
                    return Err(invalid(
                        format!("{path}.ClockDrift"),
                        format!("{ppm} ppm: expected 1 to {MAX_DRIFT_PPM}"),
                    ));
                }
                FaultKind::ClockDrift(*ppm)
            }
            FaultKindFile::Clog => FaultKind::Clog,
            FaultKindFile::LossBurst(ratio) => {
                if ratio.0 == Ratio::ZERO {
                    return Err(invalid(
                        format!("{path}.LossBurst"),
                        "a loss burst of 0%: expected a positive ratio",
                    ));
                }
                FaultKind::LossBurst(ratio.0)
            }
        });
    }
    Ok(RandomFaults {
        every_min,
        every_max,
        kinds: resolved,
        swarm: swarm.unwrap_or(false),
    })
}

fn validate_script(
    steps: &[TimedActionFile],
    node_count: u32,
    end: Duration,
) -> Result<FaultPlan, Invalid> {
    let mut faults = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let base = format!("faults.Script[{index}]");
        if step.at.0 > end {
            return Err(invalid(
                format!("{base}.at"),
                format!(
                    "{} is after the end of the run ({end}, duration + recovery)",
                    step.at.0
                ),
            ));
        }
        let path = |variant: &str, field: &str| format!("{base}.do.{variant}.{field}");
        let action = match &step.action {
            ActionFile::Partition(shape) => FaultAction::Partition(validate_shape(
                &format!("{base}.do.Partition"),
                shape,
                node_count,
            )?),
            ActionFile::Heal => FaultAction::Heal,
            ActionFile::Crash(n) => FaultAction::Crash {
                node: node(&path("Crash", "node"), *n, node_count)?,
                lose_unsynced: false,
            },
            ActionFile::LoseUnsynced(n) => FaultAction::Crash {
                node: node(&path("LoseUnsynced", "node"), *n, node_count)?,
                lose_unsynced: true,
            },
            ActionFile::Restart(n) => FaultAction::Restart {
                node: node(&path("Restart", "node"), *n, node_count)?,
            },
            ActionFile::Pause(n) => FaultAction::Pause {
                node: node(&path("Pause", "node"), *n, node_count)?,
            },
            ActionFile::Resume(n) => FaultAction::Resume {
                node: node(&path("Resume", "node"), *n, node_count)?,
            },
            ActionFile::ClockStep(n, delta) => FaultAction::ClockStep {
                node: node(&path("ClockStep", "node"), *n, node_count)?,
                delta_nanos: delta.0,
            },
            ActionFile::ClockDrift(n, ppm) => {
                let node = node(&path("ClockDrift", "node"), *n, node_count)?;
                if ppm.unsigned_abs() > MAX_DRIFT_PPM {
                    return Err(invalid(
                        path("ClockDrift", "ppm"),
                        format!("{ppm} ppm: expected -{MAX_DRIFT_PPM} to {MAX_DRIFT_PPM}"),
                    ));
                }
                FaultAction::ClockDrift {
                    node,
                    drift_ppm: *ppm,
                }
            }
            ActionFile::Clog(from, to) | ActionFile::Unclog(from, to) => {
                let variant = if matches!(step.action, ActionFile::Clog(..)) {
                    "Clog"
                } else {
                    "Unclog"
                };
                let from_id = node(&path(variant, "from"), *from, node_count)?;
                let to_id = node(&path(variant, "to"), *to, node_count)?;
                if from == to {
                    return Err(invalid(
                        format!("{base}.do.{variant}"),
                        format!("a link from node {from} to itself"),
                    ));
                }
                if variant == "Clog" {
                    FaultAction::Clog {
                        from: from_id,
                        to: to_id,
                    }
                } else {
                    FaultAction::Unclog {
                        from: from_id,
                        to: to_id,
                    }
                }
            }
            ActionFile::SetLoss(ratio) => FaultAction::SetLoss {
                loss: Some(ratio.0),
            },
            ActionFile::ResetLoss => FaultAction::SetLoss { loss: None },
        };
        faults.push(TimedFault {
            at: Instant(step.at.0.as_nanos()),
            action,
        });
    }
    // Stable: actions at the same instant keep the order the file gives them.
    faults.sort_by_key(|fault| fault.at);
    Ok(FaultPlan { faults })
}

fn validate_limits(limits: LimitsFile) -> Result<Limits, Invalid> {
    let defaults = Limits::default();
    let check = |field: &str, value: Option<u64>, default: u64| -> Result<u64, Invalid> {
        match value {
            Some(0) => Err(invalid(
                format!("limits.{field}"),
                "0: expected a positive limit",
            )),
            Some(value) => Ok(value),
            None => Ok(default),
        }
    };
    Ok(Limits {
        max_events: check("max_events", limits.max_events, defaults.max_events)?,
        max_in_flight_messages: check(
            "max_in_flight_messages",
            limits.max_in_flight_messages,
            defaults.max_in_flight_messages,
        )?,
        max_history_events: check(
            "max_history_events",
            limits.max_history_events,
            defaults.max_history_events,
        )?,
    })
}

fn shape_file(shape: &PartitionShape) -> ShapeFile {
    match shape {
        PartitionShape::Halves => ShapeFile::Halves,
        PartitionShape::MajoritiesRing => ShapeFile::MajoritiesRing,
        PartitionShape::Bridge => ShapeFile::Bridge,
        PartitionShape::IsolateOne => ShapeFile::IsolateOne,
        PartitionShape::OneWay => ShapeFile::OneWay,
        PartitionShape::Groups(groups) => ShapeFile::Groups(
            groups
                .iter()
                .map(|group| group.iter().map(|id| id.0).collect())
                .collect(),
        ),
        PartitionShape::Cuts(cuts) => {
            ShapeFile::Cuts(cuts.iter().map(|(from, to)| (from.0, to.0)).collect())
        }
    }
}

fn fault_kind_file(kind: &FaultKind) -> FaultKindFile {
    match kind {
        FaultKind::Partition(shape) => FaultKindFile::Partition(shape_file(shape)),
        FaultKind::Crash => FaultKindFile::Crash,
        FaultKind::LoseUnsynced => FaultKindFile::LoseUnsynced,
        FaultKind::Pause(max) => FaultKindFile::Pause(DurationText(*max)),
        FaultKind::ClockSkew(max) => FaultKindFile::ClockSkew(DurationText(*max)),
        FaultKind::ClockDrift(ppm) => FaultKindFile::ClockDrift(*ppm),
        FaultKind::Clog => FaultKindFile::Clog,
        FaultKind::LossBurst(ratio) => FaultKindFile::LossBurst(RatioText(*ratio)),
    }
}

fn timed_fault_file(fault: &TimedFault) -> TimedActionFile {
    let action = match &fault.action {
        FaultAction::Partition(shape) => ActionFile::Partition(shape_file(shape)),
        FaultAction::Heal => ActionFile::Heal,
        FaultAction::Crash {
            node,
            lose_unsynced: false,
        } => ActionFile::Crash(node.0),
        FaultAction::Crash {
            node,
            lose_unsynced: true,
        } => ActionFile::LoseUnsynced(node.0),
        FaultAction::Restart { node } => ActionFile::Restart(node.0),
        FaultAction::Pause { node } => ActionFile::Pause(node.0),
        FaultAction::Resume { node } => ActionFile::Resume(node.0),
        FaultAction::ClockStep { node, delta_nanos } => {
            ActionFile::ClockStep(node.0, SignedDurationText(*delta_nanos))
        }
        FaultAction::ClockDrift { node, drift_ppm } => ActionFile::ClockDrift(node.0, *drift_ppm),
        FaultAction::Clog { from, to } => ActionFile::Clog(from.0, to.0),
        FaultAction::Unclog { from, to } => ActionFile::Unclog(from.0, to.0),
        FaultAction::SetLoss { loss: Some(loss) } => ActionFile::SetLoss(RatioText(*loss)),
        FaultAction::SetLoss { loss: None } => ActionFile::ResetLoss,
    };
    TimedActionFile {
        at: DurationText(Duration(fault.at.as_nanos())),
        action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_every_default() {
        let scenario = Scenario::from_str("Scenario(protocol: Raft())", "catalog/x.ron").unwrap();
        assert_eq!(scenario.name, "x");
        assert_eq!(scenario.node_count, 5);
        assert_eq!(scenario.app, AppSpec::Kv { keys: 4 });
        assert_eq!(scenario.faults, FaultSpec::None);
        assert_eq!(scenario.limits, Limits::default());
        assert_eq!(scenario.source_path(), None);
    }

    #[test]
    fn end_position_counts_characters() {
        assert_eq!(end_position(""), (1, 1));
        assert_eq!(end_position("ab\ncµ"), (2, 3));
    }
}
