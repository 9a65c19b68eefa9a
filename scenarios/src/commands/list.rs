//! `faultline list [--json]`: what a scenario can name.
//!
//! Prints the protocols (with their parameters and the defaults stage two of scenario parsing
//! fills in), the applications (and which of them the runner can run today), the fault kinds a
//! `Random` plan draws from, the actions a `Script` may take, the partition shapes, every
//! top-level field's default (read from a scenario that names only its protocol), every
//! switchable bug, the checker's models and the scenario catalogue. With `--json` the same
//! content is one JSON object on one line. Exit code 0.
//!
//! Protocols, applications, their parameters and bugs come from the registry
//! (`protocols::registry`), the same source that scenario parsing uses; which application runs
//! on which protocol is read back from [`Scenario::from_str`] on minimal files, so it cannot
//! drift from validation. The fault, action and shape tables are
//! written out by hand (an enum's variants cannot be enumerated); the tests parse every syntax
//! example they give, so a rename in `file.rs` fails them.

use crate::commands::output::out;
use crate::commands::EXIT_PASS;
use crate::scenario::{Expectation, Scenario};
use protocols::params::{Param, ParamDefault, ParamValue};
use protocols::registry::{self, App};
use serde_json::{json, Value};
use sim_core::check::Model;
use std::path::{Path, PathBuf};

/// Arguments of `faultline list`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The scenario catalogue, as the crate was built (read at run time; skipped when missing).
const CATALOG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/catalog");

/// Runs the command.
///
/// # Errors
/// None in practice: `main` reports a failed write to stdout (other than a closed pipe).
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let listing = listing(Path::new(CATALOG_DIR));
    let text = if args.json {
        format!("{}\n", serde_json::to_string(&listing)?)
    } else {
        human(&listing)
    };
    // `faultline list | head` is not a failure (see `output`).
    out!("{text}");
    Ok(EXIT_PASS)
}

/// A parameter's default as a listing shows it: durations and ratios without quotes.
fn default_text(param: &Param) -> String {
    match param.default {
        ParamDefault::Value(ParamValue::Duration(value)) => value.to_string(),
        ParamDefault::Value(ParamValue::Ratio(value)) => value.to_string(),
        _ => param.default_text(),
    }
}

fn parameters(params: &[Param]) -> Value {
    Value::Array(
        params
            .iter()
            .map(|param| {
                json!({
                    "name": param.name,
                    "syntax": param.kind.syntax(),
                    "default": default_text(param),
                    "meaning": param.doc,
                })
            })
            .collect(),
    )
}

/// The shortest way a file names an entry with every default: `SingleServer`, `Raft()`.
fn minimal_syntax(variant: &str, bare: bool) -> String {
    if bare {
        variant.to_string()
    } else {
        format!("{variant}()")
    }
}

fn protocols() -> Value {
    let entries = registry::PROTOCOLS.iter().map(|protocol| {
        let syntax = if protocol.identity().bare {
            protocol.variant().to_string()
        } else if protocol.params().is_empty() {
            format!("{}()", protocol.variant())
        } else {
            format!(
                "{0}(...)  (write {0}() for every default)",
                protocol.variant()
            )
        };
        let bugs: Vec<&str> = protocol.bugs().iter().map(|bug| bug.name()).collect();
        json!({
            "name": protocol.name(),
            "syntax": syntax,
            "nodes": protocol.nodes().to_string(),
            "summary": protocol.identity().summary,
            "capabilities": protocol.capabilities().names(),
            "invariants": protocol.invariants(),
            "crash_points": protocol.crash_points(),
            "bugs": bugs,
            "parameters": parameters(protocol.params()),
        })
    });
    Value::Array(entries.collect())
}

/// The protocols (by name) that run `app`, as scenario validation and the runner decide it:
/// the matrix is read from the rules, not restated.
fn runs_on(app: &dyn App) -> Vec<&'static str> {
    registry::PROTOCOLS
        .iter()
        .filter_map(|protocol| {
            let text = format!(
                "Scenario(protocol: {}, app: {})",
                minimal_syntax(protocol.variant(), protocol.identity().bare),
                minimal_syntax(app.variant(), app.identity().bare)
            );
            let scenario = Scenario::from_str(&text, "matrix.ron").ok()?;
            crate::runner::supported(&scenario).ok()?;
            Some(scenario.protocol.name())
        })
        .collect()
}

/// An application with every parameter at its default: `Kv(keys: 4)`.
fn app_syntax(app: &dyn App) -> String {
    if app.identity().bare {
        return app.variant().to_string();
    }
    let fields: Vec<String> = app
        .params()
        .iter()
        .map(|param| format!("{}: {}", param.name, param.default_text()))
        .collect();
    format!("{}({})", app.variant(), fields.join(", "))
}

fn apps() -> Value {
    let entries = registry::APPS.iter().map(|&app| {
        let functions: Vec<&str> = app.functions().iter().map(|f| f.as_str()).collect();
        let objects = match app
            .params()
            .iter()
            .find(|param| matches!(param.kind, protocols::params::ParamKind::Count { .. }))
        {
            Some(param) => format!("{} (default {})", param.name, default_text(param)),
            None => "one object".to_string(),
        };
        let runs_on = runs_on(app);
        let bugs: Vec<&str> = app.bugs().iter().map(|bug| bug.name()).collect();
        json!({
            "name": app.name(),
            "syntax": app_syntax(app),
            "objects": objects,
            "operations": functions,
            "model": app.model().name(),
            "audits": app.audits(),
            "marks": app.marks(),
            "requires": app.requires().names(),
            "bugs": bugs,
            "runnable": !runs_on.is_empty(),
            "runs_on": runs_on,
            "summary": app.identity().summary,
            "parameters": parameters(app.params()),
        })
    });
    Value::Array(entries.collect())
}

fn syntax_table(rows: &[(&str, &str)]) -> Value {
    Value::Array(
        rows.iter()
            .map(|(syntax, meaning)| json!({"syntax": syntax, "meaning": meaning}))
            .collect(),
    )
}

/// `faults: Random(kinds: [...])`: what a generated plan may inject.
const FAULT_KINDS: &[(&str, &str)] = &[
    (
        "Partition(SHAPE)",
        "a partition of that shape, healed after a while",
    ),
    (
        "Crash",
        "crash a node (the OS keeps unsynced writes), restart it later",
    ),
    (
        "LoseUnsynced",
        "crash with power loss (unsynced writes may be lost or torn), restart later",
    ),
    (
        "Pause(\"300ms\")",
        "pause a node for up to this long (a GC or VM pause)",
    ),
    (
        "ClockSkew(\"200ms\")",
        "step a node's clock by up to \u{b1} this much, step it back later",
    ),
    (
        "ClockDrift(500)",
        "drift a node's clock by up to \u{b1} this many ppm, reset later",
    ),
    (
        "Clog",
        "hold every message on a pair of links, release later",
    ),
    (
        "LossBurst(\"50%\")",
        "raise the message loss ratio to this for a while",
    ),
    (
        "AddShard",
        "Sharded only: ask the configuration service to add a spare shard (a stream of its own)",
    ),
    (
        "RemoveShard",
        "Sharded only: ask the configuration service to remove a random shard (likewise)",
    ),
];

/// `faults: Script([(at: "2s", do: ACTION), ...])`: scripted actions (nodes numbered from 0).
const SCRIPT_ACTIONS: &[(&str, &str)] = &[
    ("Partition(SHAPE)", "replace the current partition"),
    (
        "Heal",
        "remove every partition and clog, end any loss burst",
    ),
    ("Crash(1)", "crash node 1; the OS keeps its unsynced writes"),
    (
        "LoseUnsynced(1)",
        "crash node 1 with power loss: unsynced writes may be lost",
    ),
    ("Restart(1)", "restart node 1 from its synced records"),
    ("Pause(1)", "pause node 1 (inputs queue up)"),
    ("Resume(1)", "resume node 1"),
    (
        "ClockStep(1, \"-200ms\")",
        "step node 1's clock by a signed duration",
    ),
    (
        "ClockDrift(1, 500)",
        "set node 1's clock rate error in ppm (signed)",
    ),
    ("Clog(0, 1)", "hold messages on the directed link 0 -> 1"),
    ("Unclog(0, 1)", "release the link 0 -> 1"),
    ("SetLoss(\"10%\")", "override the loss ratio (a loss burst)"),
    ("ResetLoss", "restore the configured loss ratio"),
    (
        "CrashAt(1, \"raft.after_vote\", 1)",
        "crash node 1 the 1st time from now on it passes that crash point (see `crash points` above)",
    ),
    (
        "PowerLossAt(1, \"raft.after_vote\", 1)",
        "the same with power loss: unsynced writes may be lost",
    ),
    (
        "AddShard(3)",
        "Sharded only: add shard 3 to the ring (AddShard(None): the lowest spare)",
    ),
    (
        "RemoveShard(0)",
        "Sharded only: remove shard 0 from the ring (RemoveShard(None): a random one)",
    ),
];

/// `disk: (...)`: how long every node's disk takes. Both default to `("0ms", "0ms")`, an
/// instant disk.
const DISK_FIELDS: &[(&str, &str)] = &[
    (
        "write_latency: (\"0ms\", \"1ms\")",
        "time for an appended record to reach the disk's cache, drawn per append (min, max); default (\"0ms\", \"0ms\")",
    ),
    (
        "sync_latency: (\"1ms\", \"20ms\")",
        "time for a sync to make records durable, drawn per sync (min, max); answers that need durable state wait for it, and a crash before it may lose the records; default (\"0ms\", \"0ms\")",
    ),
];

/// Partition shapes, named as Jepsen names them; cuts are directed.
const PARTITION_SHAPES: &[(&str, &str)] = &[
    (
        "Halves",
        "two random halves (the smaller half gets the odd one out)",
    ),
    (
        "MajoritiesRing",
        "every node sees a majority, no two nodes the same majority",
    ),
    (
        "Bridge",
        "two halves joined by one bridge node that sees both",
    ),
    ("IsolateOne", "one random node cut off from all others"),
    ("OneWay", "one random node can send but not receive"),
    (
        "Groups([[0, 1], [2, 3, 4]])",
        "explicit disjoint groups; unlisted nodes form one more group",
    ),
    (
        "Cuts([(0, 1), (1, 0)])",
        "explicit directed cuts (from, to)",
    ),
];

fn bugs() -> Value {
    Value::Array(
        registry::all_bugs()
            .iter()
            .map(|(bug, owner)| {
                json!({
                    "name": bug.name(),
                    "protocol": owner,
                    "requires": bug.requires().names(),
                    "summary": bug.summary(),
                })
            })
            .collect(),
    )
}

fn model_summary(model: Model) -> &'static str {
    match model {
        Model::Register => "a register per key: read, write",
        Model::CasRegister => "a register per key with cas ([from, to])",
        Model::Kv => "a key-value store: a cas-register per key",
        Model::KvAppend => "a string key-value store: read (get), write (put), add (append)",
        Model::Counter => "a counter per key: add (delta), read",
        Model::Mutex => "a lock per key: acquire, release; fencing tokens must grow",
        Model::LeaseLock => {
            "a lease lock per key and its fenced resource: acquire, release, write [token, payload]"
        }
        Model::MultiRegister => "registers over several keys with atomic txn operations",
        Model::Bank => "a bank: transfer [from, to, amount] and read (audit every balance), strictly serializable",
    }
}

fn models() -> Value {
    Value::Array(
        Model::ALL
            .iter()
            .map(|&model| json!({"name": model.name(), "summary": model_summary(model)}))
            .collect(),
    )
}

/// The `.ron` files of `directory`, sorted, with what they say of themselves; `None` when the
/// directory cannot be read.
fn catalog(directory: &Path) -> Option<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "ron"))
        .collect();
    files.sort();
    let scenarios: Vec<Value> = files
        .iter()
        .map(|path| {
            let file = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            match Scenario::from_file(path) {
                Ok(scenario) => {
                    let expect = scenario.expect.map(|expect| match expect {
                        Expectation::Pass => "pass",
                        Expectation::Violation => "violation",
                        Expectation::LivenessFailure => "liveness-failure",
                    });
                    json!({
                        "file": file,
                        "name": scenario.name,
                        "protocol": scenario.protocol.name(),
                        "app": scenario.app.name(),
                        "nodes": scenario.node_count,
                        "expect": expect,
                    })
                }
                Err(error) => json!({"file": file, "error": error.to_string()}),
            }
        })
        .collect();
    Some(json!({"directory": directory.display().to_string(), "scenarios": scenarios}))
}

/// A scenario of `protocol` with every other field defaulted.
fn defaulted(protocol: &str) -> Scenario {
    Scenario::from_str(&format!("Scenario(protocol: {protocol})"), "defaults.ron")
        .expect("a scenario naming only its protocol is valid")
}

/// The operation as a `workload: (mix: [...])` entry names it: `read` -> `Read`.
fn op_syntax(function: &str) -> String {
    let mut chars = function.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Every top-level field's default, read from a scenario that names only its protocol (so the
/// listing shows what validation fills in): `(field, syntax, meaning)` rows.
fn defaults() -> Value {
    let scenario = defaulted("Raft()");
    let clients = &scenario.clients;
    let network = &scenario.network;
    let disk = &scenario.disk;
    let limits = &scenario.limits;
    let mix: Vec<String> = scenario
        .workload
        .mix
        .iter()
        .map(|op| format!("({}, {})", op_syntax(op.function.as_str()), op.weight))
        .collect();
    let rows = [
        ("name", "\"<file name>\"".to_string(), "for reports: the file's name without `.ron`"),
        ("app", "Kv(keys: 4)".to_string(), "see APPLICATIONS"),
        ("nodes", "per protocol".to_string(), "see PROTOCOLS (`[nodes: ...]`)"),
        (
            "clients",
            format!(
                "(count: {}, think: (\"{}\", \"{}\"), timeout: \"{}\", retry_after: \"{}\", redirect_backoff: \"{}\")",
                clients.count,
                clients.think_min,
                clients.think_max,
                clients.timeout,
                clients.retry_after,
                clients.redirect_backoff
            ),
            "client slots, pause between operations, when an operation becomes `info`, re-send and redirect waits",
        ),
        (
            "workload",
            format!("(mix: [{}])", mix.join(", ")),
            "integer weights; this is kv's and register's mix (counter: Add and Read; lock and bank: fixed)",
        ),
        (
            "network",
            format!(
                "(latency: (\"{}\", \"{}\"), loss: \"{}\", duplicate: \"{}\", reorder: \"{}\")",
                network.latency_min,
                network.latency_max,
                network.loss,
                network.duplicate,
                network.reorder
            ),
            "one-way latency drawn per message, and loss, duplication and reordering ratios",
        ),
        (
            "clock_offset_max",
            format!("\"{}\"", scenario.clock_offset_max),
            "largest initial clock offset of a node",
        ),
        (
            "disk",
            format!(
                "(write_latency: (\"{}\", \"{}\"), sync_latency: (\"{}\", \"{}\"))",
                disk.write_latency_min,
                disk.write_latency_max,
                disk.sync_latency_min,
                disk.sync_latency_max
            ),
            "an instant disk; see DISK",
        ),
        ("faults", "none".to_string(), "no faults unless `Random(...)` or `Script([...])`"),
        (
            "duration",
            format!("\"{}\"", scenario.duration),
            "phase 1: workload and faults",
        ),
        (
            "recovery",
            format!("\"{}\"", scenario.recovery),
            "phase 2: faults healed, every operation must complete",
        ),
        ("bugs", "[]".to_string(), "see BUGS"),
        (
            "limits",
            format!(
                "(max_events: {}, max_in_flight_messages: {}, max_history_events: {}, max_memory_mib: {})",
                limits.max_events,
                limits.max_in_flight_messages,
                limits.max_history_events,
                limits.max_memory_mib
            ),
            "reaching one ends the run as limit-hit (exit 3)",
        ),
        ("expect", "none".to_string(), "Pass | Violation | LivenessFailure: enforced by run, replay and sweep"),
    ];
    Value::Array(
        rows.iter()
            .map(|(field, syntax, meaning)| {
                json!({"field": field, "default": syntax, "meaning": meaning})
            })
            .collect(),
    )
}

/// Everything, as one JSON value (the `--json` output; the text output renders it).
fn listing(catalog_dir: &Path) -> Value {
    let mut listing = json!({
        "protocols": protocols(),
        "apps": apps(),
        "fault_kinds": syntax_table(FAULT_KINDS),
        "script_actions": syntax_table(SCRIPT_ACTIONS),
        "partition_shapes": syntax_table(PARTITION_SHAPES),
        "disk": syntax_table(DISK_FIELDS),
        "defaults": defaults(),
        "bugs": bugs(),
        "models": models(),
    });
    if let (Some(catalog), Some(object)) = (catalog(catalog_dir), listing.as_object_mut()) {
        object.insert("catalog".to_string(), catalog);
    }
    listing
}

fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn items(value: &Value, key: &str) -> Vec<Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The text output.
fn human(listing: &Value) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };

    line("PROTOCOLS  (scenario field `protocol:`)".to_string());
    for protocol in items(listing, "protocols") {
        line(format!(
            "  {:<16} {}  [nodes: {}]",
            text(&protocol, "name"),
            text(&protocol, "syntax"),
            text(&protocol, "nodes")
        ));
        line(format!("  {:<16} {}", "", text(&protocol, "summary")));
        let invariants: Vec<String> = items(&protocol, "invariants")
            .iter()
            .map(|name| name.as_str().unwrap_or_default().to_string())
            .collect();
        if !invariants.is_empty() {
            line(format!(
                "  {:<16} invariants: {}",
                "",
                invariants.join(", ")
            ));
        }
        let crash_points: Vec<String> = items(&protocol, "crash_points")
            .iter()
            .map(|name| name.as_str().unwrap_or_default().to_string())
            .collect();
        if !crash_points.is_empty() {
            line(format!(
                "  {:<16} crash points: {}",
                "",
                crash_points.join(", ")
            ));
        }
        for p in items(&protocol, "parameters") {
            line(format!(
                "      {:<18} {:<22} default {:<20} {}",
                text(&p, "name"),
                text(&p, "syntax"),
                text(&p, "default"),
                text(&p, "meaning")
            ));
        }
    }

    line(String::new());
    line("APPLICATIONS  (scenario field `app:`, default Kv(keys: 4))".to_string());
    for app in items(listing, "apps") {
        let operations: Vec<String> = items(&app, "operations")
            .iter()
            .map(|op| op.as_str().unwrap_or_default().to_string())
            .collect();
        let runs_on: Vec<String> = items(&app, "runs_on")
            .iter()
            .map(|protocol| protocol.as_str().unwrap_or_default().to_string())
            .collect();
        let runs_on = if runs_on.is_empty() {
            "NOT RUNNABLE YET".to_string()
        } else {
            format!("runs on {}", runs_on.join(", "))
        };
        line(format!(
            "  {:<10} {}  [{}]",
            text(&app, "name"),
            text(&app, "syntax"),
            runs_on
        ));
        line(format!(
            "  {:<10} ops: {}; {}",
            "",
            operations.join(", "),
            text(&app, "summary")
        ));
        let marks: Vec<String> = items(&app, "marks")
            .iter()
            .map(|name| name.as_str().unwrap_or_default().to_string())
            .collect();
        if !marks.is_empty() {
            line(format!("  {:<10} marks: {}", "", marks.join(", ")));
        }
        for p in items(&app, "parameters") {
            line(format!(
                "      {:<18} {:<22} default {:<20} {}",
                text(&p, "name"),
                text(&p, "syntax"),
                text(&p, "default"),
                text(&p, "meaning")
            ));
        }
    }

    let mut table = |title: &str, key: &str| {
        line(String::new());
        line(title.to_string());
        for row in items(listing, key) {
            line(format!(
                "  {:<30} {}",
                text(&row, "syntax"),
                text(&row, "meaning")
            ));
        }
    };
    table(
        "FAULT KINDS  (faults: Random(every: (\"500ms\", \"2s\"), kinds: [...], swarm: true))",
        "fault_kinds",
    );
    table(
        "SCRIPT ACTIONS  (faults: Script([(at: \"2s\", do: ACTION), ...]))",
        "script_actions",
    );
    table(
        "PARTITION SHAPES  (Partition(SHAPE), in kinds and scripts)",
        "partition_shapes",
    );
    table(
        "DISK  (scenario field `disk: (write_latency: (..), sync_latency: (..))`)",
        "disk",
    );

    line(String::new());
    line("DEFAULTS  (every top-level field but `protocol` may be left out)".to_string());
    for row in items(listing, "defaults") {
        line(format!(
            "  {:<17}{}",
            text(&row, "field"),
            text(&row, "default")
        ));
        line(format!("  {:<17}{}", "", text(&row, "meaning")));
    }
    line(String::new());

    line(
        "BUGS  (scenario `bugs: [\"name\"]`, or `--bug NAME`; a protocol's bugs need that protocol, an application's bugs that application on a protocol with what they require)"
            .to_string(),
    );
    let bugs = items(listing, "bugs");
    // Columns as wide as their longest entry, so long names do not push the rest out of line.
    let name_width = bugs
        .iter()
        .map(|bug| text(bug, "name").len())
        .max()
        .unwrap_or(0);
    let owner_width = bugs
        .iter()
        .map(|bug| text(bug, "protocol").len())
        .max()
        .unwrap_or(0);
    for bug in &bugs {
        line(format!(
            "  {:<name_width$}  {:<owner_width$}  {}",
            text(bug, "name"),
            text(bug, "protocol"),
            text(bug, "summary")
        ));
    }

    line(String::new());
    line("CHECKER MODELS  (faultline check --model NAME)".to_string());
    for model in items(listing, "models") {
        line(format!(
            "  {:<16} {}",
            text(&model, "name"),
            text(&model, "summary")
        ));
    }

    if let Some(catalog) = listing.get("catalog") {
        line(String::new());
        line(format!("CATALOGUE  ({})", text(catalog, "directory")));
        for scenario in items(catalog, "scenarios") {
            if scenario.get("error").is_some() {
                line(format!(
                    "  {:<40} INVALID: {}",
                    text(&scenario, "file"),
                    text(&scenario, "error")
                ));
                continue;
            }
            let expect = match text(&scenario, "expect") {
                e if e.is_empty() => "-".to_string(),
                e => e,
            };
            line(format!(
                "  {:<40} {:<15} {:<9} {} nodes  expect: {}",
                text(&scenario, "file"),
                text(&scenario, "protocol"),
                text(&scenario, "app"),
                text(&scenario, "nodes"),
                expect
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::FaultSpec;

    fn parses(text: &str) -> Scenario {
        Scenario::from_str(text, "list-test.ron").unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn every_syntax_example_parses() {
        for (shape, _) in PARTITION_SHAPES {
            parses(&format!(
                "Scenario(protocol: Raft(), faults: Random(kinds: [Partition({shape})]))"
            ));
        }
        // Membership changes run on the sharded store only.
        let protocol = |syntax: &str| {
            if syntax.contains("Shard") {
                "Sharded"
            } else {
                "Raft"
            }
        };
        for (kind, _) in FAULT_KINDS {
            let kind = kind.replace("SHAPE", "Halves");
            let scenario = parses(&format!(
                "Scenario(protocol: {}(), faults: Random(kinds: [{kind}]))",
                protocol(&kind)
            ));
            assert!(matches!(scenario.faults, FaultSpec::Random(_)));
        }
        for (action, _) in SCRIPT_ACTIONS {
            let action = action.replace("SHAPE", "Halves");
            let scenario = parses(&format!(
                "Scenario(protocol: {}(), faults: Script([(at: \"1s\", do: {action})]))",
                protocol(&action)
            ));
            assert!(matches!(scenario.faults, FaultSpec::Script(_)));
        }
        for (field, _) in DISK_FIELDS {
            let scenario = parses(&format!("Scenario(protocol: Raft(), disk: ({field}))"));
            assert!(!scenario.disk.is_instant(), "{field}");
        }
        for app in apps().as_array().unwrap() {
            // On the last protocol that runs it (the bank runs on two-phase commit only).
            let runs_on = app["runs_on"].as_array().unwrap().last().unwrap();
            let protocol = registry::protocol_by_name(runs_on.as_str().unwrap()).unwrap();
            parses(&format!(
                "Scenario(protocol: {}(), app: {})",
                protocol.variant(),
                text(app, "syntax")
            ));
        }
    }

    #[test]
    fn every_listed_default_is_the_default() {
        let plain = defaulted("Raft()");
        let mut checked = 0;
        for row in defaults().as_array().unwrap() {
            let (field, default) = (text(row, "field"), text(row, "default"));
            if ["name", "nodes", "faults", "expect"].contains(&field.as_str()) {
                continue;
            }
            let text = format!("Scenario(protocol: Raft(), {field}: {default})");
            let given = Scenario::from_str(&text, "defaults.ron")
                .unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(given, plain, "{field}: {default}");
            checked += 1;
        }
        assert_eq!(checked, 10);
        let human = human(&listing(Path::new(CATALOG_DIR)));
        for field in ["duration", "recovery", "clients", "network", "limits"] {
            assert!(human.contains(&format!("\n  {field:<17}")), "{field}");
        }
        assert!(human.contains("max_memory_mib: 1024"));
    }

    #[test]
    fn defaults_match_the_scenario_defaults() {
        let listing = listing(Path::new(CATALOG_DIR));
        let raft = &listing["protocols"][2];
        assert_eq!(raft["name"], "raft");
        assert_eq!(raft["parameters"][0]["default"], "(\"150ms\", \"300ms\")");
        assert_eq!(
            listing["bugs"].as_array().unwrap().len(),
            registry::all_bugs().len()
        );
        assert_eq!(
            listing["models"].as_array().unwrap().len(),
            Model::ALL.len()
        );
        assert!(!listing["catalog"]["scenarios"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_matrix_is_read_from_the_rules() {
        let listing = listing(Path::new(CATALOG_DIR));
        let runs_on = |app: usize| -> Vec<String> {
            listing["apps"][app]["runs_on"]
                .as_array()
                .unwrap()
                .iter()
                .map(|name| name.as_str().unwrap().to_string())
                .collect()
        };
        let everywhere = ["single-server", "primary-backup", "raft", "paxos", "zab"];
        // The sharded store keeps the keys itself (`keyed-store`): it runs kv and the register
        // only, never the counter.
        // Redlock's storage service runs any application like a single server; CRDT replicas
        // run the counter only.
        let kv: Vec<&str> = everywhere
            .iter()
            .copied()
            .chain(["redlock", "shard"])
            .collect();
        let counter: Vec<&str> = everywhere
            .iter()
            .copied()
            .chain(["redlock", "crdt"])
            .collect();
        assert_eq!(listing["apps"][0]["name"], "kv");
        assert_eq!(runs_on(0), kv);
        assert_eq!(listing["apps"][2]["name"], "counter");
        assert_eq!(runs_on(2), counter);
        assert_eq!(listing["apps"][3]["name"], "lock");
        assert_eq!(
            runs_on(3),
            ["primary-backup", "raft", "paxos", "zab", "redlock"]
        );
        assert_eq!(listing["apps"][3]["parameters"][1]["default"], "1s");
        let paxos = &listing["protocols"][3];
        assert_eq!(paxos["name"], "paxos");
        assert_eq!(paxos["parameters"][0]["default"], "(\"150ms\", \"300ms\")");
        assert_eq!(paxos["parameters"][2]["default"], "Log");
        let text = human(&listing);
        assert!(
            text.contains("runs on primary-backup, raft, paxos"),
            "{text}"
        );
        assert!(!text.contains("NOT RUNNABLE"), "{text}");
    }

    #[test]
    fn a_missing_catalogue_is_skipped() {
        let listing = listing(Path::new("/nonexistent/faultline/catalog"));
        assert!(listing.get("catalog").is_none());
        assert!(!human(&listing).contains("CATALOGUE"));
    }
}
