//! Stage one of scenario parsing: the raw RON file as serde sees it.
//!
//! Every type here mirrors the text a user writes, field for field, with
//! `#[serde(deny_unknown_fields)]` everywhere so a misspelt field is an error with the list of
//! expected fields rather than silently ignored. Fields that may be left out are `Option`s (the
//! file is read with RON's `implicit_some` extension, so users write `nodes: 5`, not
//! `nodes: Some(5)`); defaults are filled in by stage two, [`crate::scenario`], which also does
//! every check that needs more than one field (ranges, node ids, operations per application,
//! bugs per protocol).
//!
//! Durations, signed durations, ratios and bug names are parsed *here*, inside serde, by the
//! newtypes [`DurationText`], [`SignedDurationText`], [`RatioText`] and [`BugName`]: a bad
//! value is then a RON error and carries the file's `line:column`.
//!
//! The same types serialize back to RON ([`crate::scenario::Scenario::to_ron_with_script`]).

use protocols::mutation::Bug;
use protocols::params::{Param, ParamKind, ParamValue, Params};
use protocols::registry::{App, Identity, Protocol, APPS, PROTOCOLS};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use sim_core::prng::Ratio;
use sim_core::time::Duration;
use std::fmt;

/// A whole scenario file: `Scenario(protocol: ..., ...)`. Only `protocol` is required.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Scenario")]
pub struct ScenarioFile {
    /// A short name for reports; defaults to the file name without `.ron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The protocol under test and its parameters.
    pub protocol: ProtocolFile,
    /// The replicated application; defaults to `Kv(keys: 4)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppFile>,
    /// Number of server nodes; defaults per protocol (1, 3 for primary-backup, 5 for Raft).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u32>,
    /// Client processes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<ClientsFile>,
    /// The operation mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadFile>,
    /// Network behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkFile>,
    /// Disk latencies; absent means an instant disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskFile>,
    /// Faults: `Random(...)` or `Script([...])`; absent (or `None`) means no faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultsFile>,
    /// Length of phase one (workload and faults); defaults to `"10s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<DurationText>,
    /// Length of phase two (faults healed, every operation must complete); defaults to `"5s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<DurationText>,
    /// Switched-on classic bugs by kebab-case name; defaults to none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bugs: Option<Vec<BugName>>,
    /// Largest initial offset of a node's clock from true time; defaults to `"0s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_offset_max: Option<DurationText>,
    /// Resource limits; each defaults generously.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsFile>,
    /// What a directed scenario expects of every seed (used by the runner and CI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectFile>,
    /// Swarm testing over the whole configuration: each seed draws its own latency spread,
    /// loss, duplication, reordering, protocol timeouts, client count and think time within
    /// the scenario's ranges. Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<bool>,
}

/// A registry entry as a scenario file names it: a protocol (`Raft(heartbeat: "50ms")`) or an
/// application (`Kv(keys: 4)`). Implemented for the registry's two kinds of entry, so that one
/// reader and one writer serve both.
pub trait Entry: Copy + 'static {
    /// What messages call this kind of entry: `Protocol`, `App`.
    const KIND: &'static str;
    /// Every entry of this kind, in registry order.
    fn all() -> Vec<Self>;
    /// Its name, spelling, parameters and whether it is written bare.
    fn identity(self) -> &'static Identity;
    /// How the file writes this entry (`Raft`).
    fn variant(self) -> &'static str {
        self.identity().variant
    }
    /// Its kebab-case name (`raft`).
    fn name(self) -> &'static str {
        self.identity().name
    }
    /// Its parameters.
    fn schema(self) -> &'static [Param] {
        self.identity().params
    }
    /// Written without parentheses (no parameters).
    fn bare(self) -> bool {
        self.identity().bare
    }
}

impl Entry for &'static dyn Protocol {
    const KIND: &'static str = "Protocol";
    fn all() -> Vec<Self> {
        PROTOCOLS.to_vec()
    }
    fn identity(self) -> &'static Identity {
        Protocol::identity(self)
    }
}

impl Entry for &'static dyn App {
    const KIND: &'static str = "App";
    fn all() -> Vec<Self> {
        APPS.to_vec()
    }
    fn identity(self) -> &'static Identity {
        App::identity(self)
    }
}

/// Is `name` the variant of a registered entry that takes parentheses (so `Name()` means every
/// default)? For hints in syntax errors.
pub fn is_parenthesised_entry(name: &str) -> bool {
    let protocols = PROTOCOLS
        .iter()
        .any(|protocol| protocol.variant() == name && !protocol.bare());
    let apps = APPS.iter().any(|app| app.variant() == name && !app.bare());
    protocols || apps
}

/// An entry with the parameters the file gives (the others unset: stage two fills defaults).
#[derive(Clone)]
pub struct Chosen<E: Entry> {
    /// The registry entry.
    pub entry: E,
    /// The values given, in the entry's parameter order.
    pub params: Params,
}

impl<E: Entry> Chosen<E> {
    /// `entry` with `params`.
    pub fn new(entry: E, params: Params) -> Chosen<E> {
        Chosen { entry, params }
    }
}

impl<E: Entry> fmt::Debug for Chosen<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(self.entry.variant())
            .field("params", &self.params)
            .finish()
    }
}

impl<E: Entry> PartialEq for Chosen<E> {
    fn eq(&self, other: &Chosen<E>) -> bool {
        self.entry.name() == other.entry.name() && self.params == other.params
    }
}

impl<E: Entry> Eq for Chosen<E> {}

/// The protocol under test and the parameters the file gives.
pub type ProtocolFile = Chosen<&'static dyn Protocol>;

/// The replicated application and the parameters the file gives.
pub type AppFile = Chosen<&'static dyn App>;

/// A bare identifier (a variant or field name), read the way derived enums and structs read
/// theirs: RON's `deserialize_identifier`, not a quoted string.
struct Identifier(String);

impl<'de> Deserialize<'de> for Identifier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdentifierVisitor;
        impl Visitor<'_> for IdentifierVisitor {
            type Value = Identifier;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an identifier")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Identifier, E> {
                Ok(Identifier(value.to_string()))
            }
        }
        deserializer.deserialize_identifier(IdentifierVisitor)
    }
}

fn quoted(names: impl IntoIterator<Item = &'static str>) -> String {
    names
        .into_iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'de, E: Entry> Deserialize<'de> for Chosen<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor<E>(std::marker::PhantomData<E>);
        impl<'de, E: Entry> Visitor<'de> for EntryVisitor<E> {
            type Value = Chosen<E>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    formatter,
                    "one of {}",
                    quoted(E::all().into_iter().map(|entry| entry.variant()))
                )
            }
            fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Chosen<E>, A::Error> {
                let (Identifier(variant), access): (Identifier, A::Variant) = data.variant()?;
                let Some(entry) = E::all().into_iter().find(|e| e.variant() == variant) else {
                    return Err(de::Error::custom(format!(
                        "unknown variant `{variant}` in `{}`: expected one of {}",
                        E::KIND,
                        quoted(E::all().into_iter().map(|entry| entry.variant()))
                    )));
                };
                if entry.bare() {
                    de::VariantAccess::unit_variant(access)?;
                    return Ok(Chosen::new(entry, Params::empty(entry.schema())));
                }
                let params = de::VariantAccess::struct_variant(
                    access,
                    &[],
                    ParamsVisitor {
                        variant: entry.variant(),
                        schema: entry.schema(),
                    },
                )?;
                Ok(Chosen::new(entry, params))
            }
        }
        deserializer.deserialize_enum(E::KIND, &[], EntryVisitor(std::marker::PhantomData))
    }
}

/// Reads `Name(field: value, ...)`'s fields against a parameter list.
struct ParamsVisitor {
    variant: &'static str,
    schema: &'static [Param],
}

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params;
    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "the parameters of `{}`", self.variant)
    }
    fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Params, M::Error> {
        let mut params = Params::empty(self.schema);
        while let Some(Identifier(field)) = map.next_key::<Identifier>()? {
            let Some(param) = self.schema.iter().find(|param| param.name == field) else {
                let expected = if self.schema.is_empty() {
                    "nothing (it takes no parameters)".to_string()
                } else {
                    format!(
                        "one of {}",
                        quoted(self.schema.iter().map(|param| param.name))
                    )
                };
                return Err(de::Error::custom(format!(
                    "unknown field `{field}` in `{}`: expected {expected}",
                    self.variant
                )));
            };
            if params.is_set(param.name) {
                return Err(de::Error::custom(format!(
                    "field `{field}` is given twice in `{}`",
                    self.variant
                )));
            }
            let value = map.next_value_seed(ValueSeed(param.kind, param.name))?;
            params.set(param.name, value);
        }
        Ok(params)
    }
}

/// Reads one parameter value of a kind (the parameter's name, for an error's message).
struct ValueSeed(ParamKind, &'static str);

impl<'de> de::DeserializeSeed<'de> for ValueSeed {
    type Value = ParamValue;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ParamValue, D::Error> {
        Ok(match self.0 {
            ParamKind::Bool => ParamValue::Bool(bool::deserialize(deserializer)?),
            ParamKind::Count { .. } => ParamValue::Count(u32::deserialize(deserializer)?),
            ParamKind::Duration => ParamValue::Duration(DurationText::deserialize(deserializer)?.0),
            ParamKind::DurationRange => {
                let (min, max) = <(DurationText, DurationText)>::deserialize(deserializer)?;
                ParamValue::DurationRange(min.0, max.0)
            }
            ParamKind::Ratio => ParamValue::Ratio(RatioText::deserialize(deserializer)?.0),
            ParamKind::Choice(names) => {
                struct ChoiceVisitor(&'static [&'static str], &'static str);
                impl<'de> Visitor<'de> for ChoiceVisitor {
                    type Value = &'static str;
                    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(formatter, "one of {}", quoted(self.0.iter().copied()))
                    }
                    fn visit_enum<A: de::EnumAccess<'de>>(
                        self,
                        data: A,
                    ) -> Result<&'static str, A::Error> {
                        let (Identifier(name), access): (Identifier, A::Variant) =
                            data.variant()?;
                        let Some(&choice) = self.0.iter().find(|&&choice| choice == name) else {
                            return Err(de::Error::custom(format!(
                                "unknown variant `{name}` for `{}`: expected one of {}",
                                self.1,
                                quoted(self.0.iter().copied())
                            )));
                        };
                        de::VariantAccess::unit_variant(access)?;
                        Ok(choice)
                    }
                }
                ParamValue::Choice(deserializer.deserialize_enum(
                    "",
                    names,
                    ChoiceVisitor(names, self.1),
                )?)
            }
        })
    }
}

impl<E: Entry> Serialize for Chosen<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStructVariant;
        let variant = self.entry.variant();
        if self.entry.bare() {
            return serializer.serialize_unit_variant(E::KIND, 0, variant);
        }
        let set: Vec<(&'static Param, ParamValue)> = self.params.iter().collect();
        let mut fields = serializer.serialize_struct_variant(E::KIND, 0, variant, set.len())?;
        for (param, value) in set {
            fields.serialize_field(param.name, &ValueText(value))?;
        }
        fields.end()
    }
}

/// A parameter value as the file writes it.
struct ValueText(ParamValue);

impl Serialize for ValueText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            ParamValue::Bool(value) => serializer.serialize_bool(value),
            ParamValue::Count(value) => serializer.serialize_u32(value),
            ParamValue::Duration(value) => DurationText(value).serialize(serializer),
            ParamValue::DurationRange(min, max) => {
                (DurationText(min), DurationText(max)).serialize(serializer)
            }
            ParamValue::Ratio(value) => RatioText(value).serialize(serializer),
            ParamValue::Choice(name) => serializer.serialize_unit_variant("Choice", 0, name),
        }
    }
}

/// Client processes: `(count: 4, think: ("0ms", "10ms"), timeout: "1s")`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Clients")]
pub struct ClientsFile {
    /// Number of client slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Think time between operations, `(min, max)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think: Option<(DurationText, DurationText)>,
    /// How long a client waits for a reply before the operation is indeterminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DurationText>,
    /// How long one attempt waits before the request is re-sent (to another node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<DurationText>,
    /// How long a client waits after a redirect without a leader hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_backoff: Option<DurationText>,
}

/// The workload: `(mix: [(Read, 50), (Write, 50)])`, or operations one by one:
/// `(script: [(at: "100ms", client: 0, op: Write, key: 1, value: 7), ...])`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Workload")]
pub struct WorkloadFile {
    /// Operation kinds with integer weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<Vec<(OpKindFile, u32)>>,
    /// Scripted client operations, instead of a mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Vec<ScriptedOpFile>>,
}

/// One scripted operation: `(at: "1.2s", client: 0, op: Cas, key: 1, from: 3, to: 4)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Op")]
pub struct ScriptedOpFile {
    /// When the client invokes it (later if its previous operation is still open).
    pub at: DurationText,
    /// The client slot, below `clients.count`.
    pub client: u32,
    /// What it does.
    pub op: OpKindFile,
    /// The object (kv key, lock, counter); none for single-object applications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<u32>,
    /// The written value (Write), the delta (Add), the fencing token released (Release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// The lock service's Write: the fencing token the write carries (with `value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<i64>,
    /// Cas: the value expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// Cas: the value swapped in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
}

/// A kind of client operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Op")]
pub enum OpKindFile {
    /// Read (kv, register, counter).
    Read,
    /// Write (kv, register).
    Write,
    /// Compare-and-set (kv, register).
    Cas,
    /// Add a delta (counter).
    Add,
    /// Acquire a lock (lock).
    Acquire,
    /// Release a lock (lock).
    Release,
}

/// The network: `(latency: ("1ms", "10ms"), loss: "1%", duplicate: "0.5%", reorder: "1%")`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Network")]
pub struct NetworkFile {
    /// One-way latency range `(min, max)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<(DurationText, DurationText)>,
    /// Probability that a message is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<RatioText>,
    /// Probability that a message is delivered twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<RatioText>,
    /// Probability that a message gets a long extra delay, on top of the reordering that
    /// random latencies already cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder: Option<RatioText>,
}

/// The disks: `(write_latency: ("0ms", "1ms"), sync_latency: ("1ms", "10ms"))`, each a
/// `(min, max)` range drawn per write and per sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Disk")]
pub struct DiskFile {
    /// How long an appended record takes to reach the disk's cache, `(min, max)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_latency: Option<(DurationText, DurationText)>,
    /// How long a sync takes once the disk starts it, `(min, max)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_latency: Option<(DurationText, DurationText)>,
}

/// The fault schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Faults")]
pub enum FaultsFile {
    /// A plan generated from the seed.
    Random {
        /// Gap between the starts of consecutive faults, `(min, max)`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        every: Option<(DurationText, DurationText)>,
        /// The kinds of fault to draw from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kinds: Option<Vec<FaultKindFile>>,
        /// Swarm testing: each seed enables a random non-empty subset of `kinds`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        swarm: Option<bool>,
        /// Crashes aimed at the protocol's crash points; absent means none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        crash_points: Option<CrashPointsFile>,
    },
    /// A hand-written list of timed actions.
    Script(Vec<TimedActionFile>),
}

/// Crashes at crash points: `(chance: "5%", power_loss: "50%", restart_after: ("1ms",
/// "50ms"), only: ["paxos.after_promise"])`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "CrashPoints")]
pub struct CrashPointsFile {
    /// The chance that one passage of a crash point crashes the node; default `"1%"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance: Option<RatioText>,
    /// The share of those crashes that lose unsynced writes; default `"50%"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_loss: Option<RatioText>,
    /// How long the node stays down, `(min, max)`; default `("1ms", "100ms")`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<(DurationText, DurationText)>,
    /// Only these crash points fire; default: every one the protocol declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
}

/// A kind of generated fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "FaultKind")]
pub enum FaultKindFile {
    /// A partition of this shape, healed later.
    Partition(ShapeFile),
    /// Crash and later restart a node (unsynced writes survive).
    Crash,
    /// Crash with power loss (unsynced writes may be lost) and later restart.
    LoseUnsynced,
    /// Pause a node for up to this long.
    Pause(DurationText),
    /// Step a node's clock by up to ± this much.
    ClockSkew(DurationText),
    /// Drift a node's clock by up to ± this many ppm.
    ClockDrift(u32),
    /// Clog a link for a while.
    Clog,
    /// A burst of this loss ratio.
    LossBurst(RatioText),
    /// Ask the sharded store to add a shard (drawn on a stream of its own).
    AddShard,
    /// Ask the sharded store to remove a shard (drawn on a stream of its own).
    RemoveShard,
}

/// A partition shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Shape")]
pub enum ShapeFile {
    /// Two random halves.
    Halves,
    /// Jepsen's majorities ring.
    MajoritiesRing,
    /// Two halves joined by a bridge node.
    Bridge,
    /// One random node cut off.
    IsolateOne,
    /// One random node that can send but not receive.
    OneWay,
    /// Explicit disjoint groups of node numbers.
    Groups(Vec<Vec<u32>>),
    /// Explicit directed cuts `(from, to)`.
    Cuts(Vec<(u32, u32)>),
}

/// One scripted action: `(at: "2s", do: Crash(1))`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Step")]
pub struct TimedActionFile {
    /// Simulated time since the start of the run.
    pub at: DurationText,
    /// What happens.
    #[serde(rename = "do")]
    pub action: ActionFile,
}

/// A scripted fault action; nodes are numbered from 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Action")]
pub enum ActionFile {
    /// Replace the current partition.
    Partition(ShapeFile),
    /// Remove every partition and clog, end any loss burst.
    Heal,
    /// Crash a node; the OS keeps its unsynced writes.
    Crash(u32),
    /// Crash a node with power loss: unsynced writes may be lost.
    LoseUnsynced(u32),
    /// Restart a crashed node from its durable records.
    Restart(u32),
    /// Pause a node.
    Pause(u32),
    /// Resume a paused node.
    Resume(u32),
    /// Step a node's clock by a signed duration: `ClockStep(2, "-200ms")`.
    ClockStep(u32, SignedDurationText),
    /// Set a node's clock rate error in ppm.
    ClockDrift(u32, i32),
    /// Hold messages on the directed link `(from, to)`.
    Clog(u32, u32),
    /// Release a clogged link.
    Unclog(u32, u32),
    /// Override the loss ratio (a loss burst).
    SetLoss(RatioText),
    /// Restore the configured loss ratio.
    ResetLoss,
    /// Crash a node (unsynced writes kept) the `nth` time (from 1) it passes a crash point
    /// from now on: `CrashAt(2, "paxos.after_promise", 1)`.
    CrashAt(u32, String, u32),
    /// The same with power loss: unsynced writes may be lost.
    PowerLossAt(u32, String, u32),
    /// Ask the sharded store to add shard `n` (`AddShard(3)`), or the lowest spare
    /// (`AddShard(None)`).
    AddShard(Option<u32>),
    /// Ask the sharded store to remove shard `n` (`RemoveShard(1)`), or one at random
    /// (`RemoveShard(None)`).
    RemoveShard(Option<u32>),
    /// Lose the `nth` (from 1, since the run began) message of a kind that node `from` sends
    /// to node `to`: `DropMessage(0, 2, "AppendEntries", 3)`.
    DropMessage(u32, u32, String, u32),
    /// Deliver that message twice: `DuplicateMessage(0, 2, "AppendEntries", 3)`.
    DuplicateMessage(u32, u32, String, u32),
    /// Deliver that message after exactly this delay:
    /// `DelayMessage(0, 2, "AppendEntries", 3, "40ms")`.
    DelayMessage(u32, u32, String, u32, DurationText),
}

/// Resource limits: hitting one is a reported outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Limits")]
pub struct LimitsFile {
    /// Events the scheduler may process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u64>,
    /// Messages in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight_messages: Option<u64>,
    /// History events (invokes and completions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history_events: Option<u64>,
    /// The run's memory budget in MiB (the simulation's estimate; the checker gets half).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_mib: Option<u64>,
}

/// The verdict a directed scenario expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Expect")]
pub enum ExpectFile {
    /// Every seed passes.
    Pass,
    /// The scenario is built to find a safety violation.
    Violation,
    /// The scenario is built to show a liveness failure.
    LivenessFailure,
}

/// A duration written as a string, `"150ms"` (see [`Duration::parse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationText(pub Duration);

/// A signed duration written as a string, `"-200ms"` or `"+1s"`, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedDurationText(pub i64);

/// A ratio written as a string, `"1%"`, `"0.5%"`, `"1/1000"` or `"0"` (see [`Ratio::parse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RatioText(pub Ratio);

/// A bug by its kebab-case name (BUGS.md), checked against the mutation registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BugName(pub Bug);

/// Parses a signed duration: an optional `+` or `-` followed by a [`Duration`].
///
/// # Errors
/// A message naming the expected form, or saying that the value does not fit in 64 signed bits.
pub fn parse_signed_duration(text: &str) -> Result<i64, String> {
    let trimmed = text.trim();
    let (negative, magnitude) = if let Some(rest) = trimmed.strip_prefix('-') {
        (true, rest)
    } else if let Some(rest) = trimmed.strip_prefix('+') {
        (false, rest)
    } else {
        (false, trimmed)
    };
    let duration = Duration::parse(magnitude).map_err(|message| {
        format!("{message} (a signed duration is written like \"-200ms\" or \"+1s\")")
    })?;
    let magnitude = i128::from(duration.as_nanos());
    let nanos = if negative { -magnitude } else { magnitude };
    i64::try_from(nanos)
        .map_err(|_| format!("signed duration `{trimmed}` is too large (limit about 292 years)"))
}

/// Formats signed nanoseconds the way [`parse_signed_duration`] reads them.
pub fn format_signed_duration(nanos: i64) -> String {
    let magnitude = Duration::from_nanos(nanos.unsigned_abs());
    if nanos < 0 {
        format!("-{magnitude}")
    } else {
        format!("{magnitude}")
    }
}

/// Parses a ratio, guarding [`Ratio::parse`] against inputs whose arithmetic could overflow.
///
/// # Errors
/// A message naming the expected form.
pub fn parse_ratio(text: &str) -> Result<Ratio, String> {
    let trimmed = text.trim();
    // `Ratio::parse` multiplies its integer parts by up to 10^6 unchecked; anything long enough
    // to overflow is far outside `0..=1` anyway, so it is rejected here before that arithmetic.
    let too_long = if let Some((numerator, denominator)) = trimmed.split_once('/') {
        numerator.trim().len() > 12 || denominator.trim().len() > 12
    } else {
        trimmed
            .strip_suffix('%')
            .unwrap_or(trimmed)
            .split('.')
            .next()
            .unwrap_or("")
            .len()
            > 6
    };
    if too_long {
        return Err(format!(
            "ratio `{trimmed}` is not of the form \"1%\", \"0.25%\" or \"1/1000\" (between 0 and 1)"
        ));
    }
    Ratio::parse(trimmed)
}

fn expect_str<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct TextVisitor<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
    }
    impl<T> Visitor<'_> for TextVisitor<T> {
        type Value = T;
        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
            (self.parse)(value).map_err(E::custom)
        }
    }
    // `deserialize_any` rather than `deserialize_str`: for a number or an identifier where a
    // string belongs, serde then says "invalid type: integer `10`, expected a duration string
    // such as "150ms"" instead of RON's bare "expected string".
    deserializer.deserialize_any(TextVisitor { expecting, parse })
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        expect_str(
            deserializer,
            "a duration string such as \"150ms\"",
            Duration::parse,
        )
        .map(DurationText)
    }
}

impl Serialize for DurationText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SignedDurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        expect_str(
            deserializer,
            "a signed duration string such as \"-200ms\"",
            parse_signed_duration,
        )
        .map(SignedDurationText)
    }
}

impl Serialize for SignedDurationText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_signed_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for RatioText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        expect_str(deserializer, "a ratio string such as \"1%\"", parse_ratio).map(RatioText)
    }
}

impl Serialize for RatioText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

fn parse_bug_name(name: &str) -> Result<Bug, String> {
    protocols::registry::bug_by_name(name)
        .map(|(bug, _)| bug)
        .ok_or_else(|| {
            let known: Vec<String> = protocols::registry::all_bugs()
                .iter()
                .map(|(bug, _)| format!("\"{bug}\""))
                .collect();
            format!(
                "unknown bug \"{name}\": expected one of {}",
                known.join(", ")
            )
        })
}

impl<'de> Deserialize<'de> for BugName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        expect_str(
            deserializer,
            "a bug name such as \"raft-commit-prior-term\"",
            parse_bug_name,
        )
        .map(BugName)
    }
}

impl Serialize for BugName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_durations_round_trip() {
        for (text, nanos) in [("-200ms", -200_000_000), ("+1s", 1_000_000_000), ("0s", 0)] {
            assert_eq!(parse_signed_duration(text), Ok(nanos));
            assert_eq!(
                parse_signed_duration(&format_signed_duration(nanos)),
                Ok(nanos)
            );
        }
        assert!(parse_signed_duration("--1s").is_err());
        assert!(parse_signed_duration("300y").is_err());
        assert!(parse_signed_duration("9223372036854775808ns").is_err());
        assert_eq!(
            parse_signed_duration("-9223372036854775807ns"),
            Ok(-i64::MAX)
        );
        assert_eq!(
            parse_signed_duration(&format_signed_duration(i64::MIN)),
            Ok(i64::MIN)
        );
    }

    #[test]
    fn ratio_guard_rejects_overflowing_inputs_without_panicking() {
        assert!(parse_ratio("18446744073709551615/18446744073709551615").is_err());
        assert!(parse_ratio("1844674407370955.9999%").is_err());
        assert_eq!(parse_ratio("1%"), Ok(Ratio::from_percent(1)));
        assert_eq!(parse_ratio("100%"), Ok(Ratio::ONE));
    }
}
