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
    ActionFile, AppFile, BugName, Chosen, ClientsFile, CrashPointsFile, DiskFile, DurationText,
    Entry, ExpectFile, FaultKindFile, FaultsFile, LimitsFile, NetworkFile, OpKindFile,
    ProtocolFile, RatioText, ScenarioFile, ScriptedOpFile, ShapeFile, SignedDurationText,
    TimedActionFile, WorkloadFile,
};
use protocols::apps::kv::KEYS_MAX;
use protocols::mutation::{Bug, BugSet};
use protocols::params::{check_kinds, ParamError, ParamValue, Params};
use protocols::registry::{self, App, Protocol, ScenarioContext};
use sim_core::disk::DiskConfig;
use sim_core::faults::{
    CrashPoints, FaultAction, FaultKind, FaultPlan, Membership, MessageFate, MessageRef,
    PartitionShape, RandomFaults, TimedFault,
};
use sim_core::history::{Function, Value};
use sim_core::id::NodeId;
use sim_core::node::Operation;
use sim_core::prng::Ratio;
use sim_core::time::{Duration, Instant};
use std::path::{Path, PathBuf};

mod script_ron;
mod validate;
use validate::*;
pub use validate::{applicable_bugs, bug_applies, protocols_with};

/// The largest cluster a scenario may ask for.
pub const MAX_NODES: u32 = 64;
/// The most client slots a scenario may ask for.
pub const MAX_CLIENTS: u32 = 10_000;
/// The most keys a kv application may have.
pub const MAX_OBJECTS: u32 = KEYS_MAX;
/// The largest clock drift, in ppm, that a fault may apply (a 100% rate error stops a clock).
pub const MAX_DRIFT_PPM: u32 = 999_999;
/// The slowest disk write or sync a scenario may ask for: slower is a dead disk, not a slow one.
pub const DISK_LATENCY_MAX: Duration = Duration::from_secs(10);

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
    /// Write and sync latencies of every node's disk, each range `min <= max <=`
    /// [`DISK_LATENCY_MAX`]. Default: instant (all `0ms`).
    pub disk: DiskConfig,
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
    /// Swarm testing over the configuration: each seed draws its own network, protocol
    /// timeouts and clients within the scenario's ranges (`runner::swarm_draw`). Default off.
    pub swarm: bool,
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
            disk,
            faults,
            duration,
            recovery,
            bugs,
            limits,
            expect,
            swarm,
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
            && *disk == other.disk
            && *faults == other.faults
            && *duration == other.duration
            && *recovery == other.recovery
            && *bugs == other.bugs
            && *limits == other.limits
            && *expect == other.expect
            && *swarm == other.swarm
    }
}

impl Eq for Scenario {}

/// The protocol under test and its validated parameters (every one has a value).
#[derive(Clone)]
pub struct ProtocolSpec {
    /// The registry entry.
    pub protocol: &'static dyn Protocol,
    /// Its parameters.
    pub params: Params,
}

impl ProtocolSpec {
    /// The protocol's kebab-case name (`raft`).
    pub fn name(&self) -> &'static str {
        self.protocol.name()
    }

    /// The node count used when the file gives none.
    pub fn default_node_count(&self) -> u32 {
        self.protocol.nodes().default
    }

    /// The registered protocol called `name` with `given` parameters and every other one at
    /// its default, validated as a file with faults of the kind `random_faults` says would be.
    ///
    /// # Panics
    /// On an unknown protocol or parameter, or values that break a rule (for tests and tools
    /// that build scenarios by hand).
    pub fn of(name: &str, given: &[(&str, ParamValue)], random_faults: bool) -> ProtocolSpec {
        let protocol =
            registry::protocol_by_name(name).unwrap_or_else(|| panic!("no protocol called {name}"));
        let mut params = Params::empty(protocol.params());
        for &(param, value) in given {
            params.set(param, value);
        }
        validate_protocol(Chosen::new(protocol, params), random_faults)
            .unwrap_or_else(|error| panic!("{name}: {}: {}", error.path, error.message))
    }
}

impl PartialEq for ProtocolSpec {
    fn eq(&self, other: &ProtocolSpec) -> bool {
        self.name() == other.name() && self.params == other.params
    }
}

impl Eq for ProtocolSpec {}

impl std::fmt::Debug for ProtocolSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.protocol.variant())
            .field("params", &self.params)
            .finish()
    }
}

/// The replicated application and its validated parameters.
#[derive(Clone)]
pub struct AppSpec {
    /// The registry entry.
    pub app: &'static dyn App,
    /// Its parameters.
    pub params: Params,
}

impl AppSpec {
    /// The application's name (`kv`, `register`, `counter`, `lock`).
    pub fn name(&self) -> &'static str {
        self.app.name()
    }

    /// The operations this application serves.
    pub fn functions(&self) -> &'static [Function] {
        self.app.functions()
    }

    /// Number of independent objects (keys, locks; 1 for single-object applications).
    pub fn object_count(&self) -> u32 {
        self.app.object_count(&self.params)
    }

    /// The registered application called `name` with `given` parameters and every other one
    /// at its default, validated.
    ///
    /// # Panics
    /// On an unknown application or parameter, or values that break a rule.
    pub fn of(name: &str, given: &[(&str, ParamValue)]) -> AppSpec {
        let app =
            registry::app_by_name(name).unwrap_or_else(|| panic!("no application called {name}"));
        let mut params = Params::empty(app.params());
        for &(param, value) in given {
            params.set(param, value);
        }
        validate_app(Chosen::new(app, params))
            .unwrap_or_else(|error| panic!("{name}: {}: {}", error.path, error.message))
    }

    /// The operation mix used when the file gives none.
    pub fn default_mix(&self) -> Vec<WeightedOp> {
        self.app
            .default_mix()
            .iter()
            .map(|&(function, weight)| WeightedOp { function, weight })
            .collect()
    }
}

impl PartialEq for AppSpec {
    fn eq(&self, other: &AppSpec) -> bool {
        self.name() == other.name() && self.params == other.params
    }
}

impl Eq for AppSpec {}

impl std::fmt::Debug for AppSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.app.variant())
            .field("params", &self.params)
            .finish()
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
    /// application, every weight positive. Unused when `script` is not empty.
    pub mix: Vec<WeightedOp>,
    /// Scripted operations `(at, client, operation)`, in file order; empty: the mix runs.
    pub script: Vec<(Duration, u32, Operation)>,
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
    /// The run's memory budget in MiB: the simulation stops (limit hit) when its estimate of
    /// what grows with the run (history, messages in flight, disk records, trace) passes it,
    /// and the checker's search may hold half of it. Default 1,024: eight workers per core of
    /// a 2-core machine stay within 24 GB.
    pub max_memory_mib: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_events: 200_000_000,
            max_in_flight_messages: 1_000_000,
            max_history_events: 2_000_000,
            max_memory_mib: 1024,
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
///
/// Displayed as `origin:line:column: message` on the first line (`origin: path: message` for
/// a semantic error whose path the text does not write), then the offending source line with
/// a caret under the span, the way rustc shows errors.
#[derive(Debug)]
pub enum ScenarioError {
    /// The file could not be read.
    Io {
        /// The file.
        origin: String,
        /// Why.
        source: std::io::Error,
    },
    /// Stage one: the text is not a well-formed scenario file.
    Syntax {
        /// The file (or the origin name given to [`Scenario::from_str`]).
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong and what was expected.
        message: String,
        /// The source line with a caret under the error (empty for an empty file).
        snippet: String,
    },
    /// Stage two: well-formed, but a value breaks a rule.
    Invalid {
        /// The file (or origin name).
        origin: String,
        /// The field path, e.g. `faults.Script[2].do.Crash.node`.
        path: String,
        /// What is wrong.
        message: String,
        /// Where the text writes the path (or its longest written prefix): 1-based
        /// `(line, column)`; `None` when the field is not written at all (a default broke a
        /// rule with another value).
        location: Option<(usize, usize)>,
        /// The source line with a caret under the value (empty when not located).
        snippet: String,
    },
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (first, snippet) = match self {
            ScenarioError::Io { origin, source } => {
                return write!(f, "{origin}: cannot read the file: {source}")
            }
            ScenarioError::Syntax {
                origin,
                line,
                column,
                message,
                snippet,
            } => (format!("{origin}:{line}:{column}: {message}"), snippet),
            ScenarioError::Invalid {
                origin,
                path,
                message,
                location: Some((line, column)),
                snippet,
            } => (
                format!("{origin}:{line}:{column}: {path}: {message}"),
                snippet,
            ),
            ScenarioError::Invalid {
                origin,
                path,
                message,
                location: None,
                snippet,
            } => (format!("{origin}: {path}: {message}"), snippet),
        };
        f.write_str(&first)?;
        if !snippet.is_empty() {
            write!(f, "\n{}", snippet.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScenarioError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
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
                    snippet: crate::locate::snippet(
                        &prefix,
                        origin,
                        prefix.len()..prefix.len(),
                        "the text is valid up to here",
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
        validate(file, &default_name).map_err(|error| {
            let span = crate::locate::locate_path(text, &error.path);
            let location = span
                .as_ref()
                .map(|span| crate::locate::line_column(text, span.start));
            let snippet = span.map_or(String::new(), |span| {
                crate::locate::snippet(text, origin, span, &error.message)
            });
            ScenarioError::Invalid {
                origin: origin.to_string(),
                path: error.path,
                message: error.message,
                location,
                snippet,
            }
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
        let faults: Vec<TimedActionFile> = plan.faults.iter().map(timed_fault_file).collect();
        // The script's lines are written by hand (script_ron.rs: the same text, a tenth of
        // the cost), the rest through ron.
        let text = self.to_ron(Some(FaultsFile::Script(Vec::new())));
        match text.find(script_ron::EMPTY_SCRIPT) {
            Some(at) => {
                let script = script_ron::script(&faults);
                let mut out = String::with_capacity(text.len() + script.len());
                out.push_str(&text[..at]);
                out.push_str(&script);
                out.push_str(&text[at + script_ron::EMPTY_SCRIPT.len()..]);
                out
            }
            None => self.to_ron(Some(FaultsFile::Script(faults))),
        }
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
                crash_points: random.crash_points.as_ref().map(crash_points_file),
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
        let protocol: ProtocolFile =
            Chosen::new(self.protocol.protocol, self.protocol.params.clone());
        let app: AppFile = Chosen::new(self.app.app, self.app.params.clone());
        // The lock workload takes no mix (validation refuses one).
        let workload = match self.app.app.takes_mix() {
            _ if !self.workload.script.is_empty() => Some(WorkloadFile {
                mix: None,
                script: Some(
                    self.workload
                        .script
                        .iter()
                        .map(|(at, client, operation)| scripted_op_file(*at, *client, operation))
                        .collect(),
                ),
            }),
            false => None,
            true => Some(WorkloadFile {
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
                script: None,
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
            disk: Some(DiskFile {
                write_latency: Some((
                    DurationText(self.disk.write_latency_min),
                    DurationText(self.disk.write_latency_max),
                )),
                sync_latency: Some((
                    DurationText(self.disk.sync_latency_min),
                    DurationText(self.disk.sync_latency_max),
                )),
            }),
            faults,
            duration: Some(DurationText(self.duration)),
            recovery: Some(DurationText(self.recovery)),
            bugs: Some(self.bugs.iter().map(BugName).collect()),
            limits: Some(LimitsFile {
                max_events: Some(self.limits.max_events),
                max_in_flight_messages: Some(self.limits.max_in_flight_messages),
                max_history_events: Some(self.limits.max_history_events),
                max_memory_mib: Some(self.limits.max_memory_mib),
            }),
            expect: self.expect.map(|expect| match expect {
                Expectation::Pass => ExpectFile::Pass,
                Expectation::Violation => ExpectFile::Violation,
                Expectation::LivenessFailure => ExpectFile::LivenessFailure,
            }),
            swarm: self.swarm.then_some(true),
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
    let syntax = |line: usize, column: usize, message: String| {
        let offset = byte_offset(text, line, column).unwrap_or(text.len());
        let span = crate::locate::token_at(text, offset);
        let snippet = if is_blank(text) {
            String::new()
        } else {
            crate::locate::snippet(text, origin, span, "here")
        };
        ScenarioError::Syntax {
            origin: origin.to_string(),
            line,
            column,
            message,
            snippet,
        }
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
            let at = byte_offset(text, position.line.max(1), position.col.max(1));
            if let Some(open) = crate::locate::string_across_lines(text, at.unwrap_or(text.len())) {
                return unterminated_string(text, origin, open);
            }
            let (line, column) = skip_whitespace(text, position.line.max(1), position.col.max(1));
            let context = ErrorContext::at(text, line, column);
            syntax(line, column, describe_ron_error(&error.code, &context))
        })
}

/// A string that runs over a line end, reported at its opening quote rather than where RON
/// noticed (lines later, at the next quote).
fn unterminated_string(text: &str, origin: &str, open: usize) -> ScenarioError {
    let (line, column) = crate::locate::line_column(text, open);
    let line_end = text[open..].find('\n').map_or(text.len(), |n| open + n);
    ScenarioError::Syntax {
        origin: origin.to_string(),
        line,
        column,
        message: "unterminated string: the string opened here has no closing `\"` on its line"
            .to_string(),
        snippet: crate::locate::snippet(text, origin, open..line_end, "this string is not closed"),
    }
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
            Some(name) if name == "Random" || crate::file::is_parenthesised_entry(name) => format!(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_every_default() {
        let scenario = Scenario::from_str("Scenario(protocol: Raft())", "catalog/x.ron").unwrap();
        assert_eq!(scenario.name, "x");
        assert_eq!(scenario.node_count, 5);
        assert_eq!(
            scenario.app,
            AppSpec::of("kv", &[("keys", ParamValue::Count(4))])
        );
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
