//! `faultline run SCENARIO [--seed N] [--out DIR] [--bug NAME]... [--export-script FILE]`: one
//! seed, one run directory, and optionally the run as an editable scripted scenario.
//!
//! The run directory holds `index.html` (the report: verdict, fault timeline, node lanes,
//! plots, the history timeline with a violation highlighted), `results.json`, `history.jsonl`
//! (native format, checkable with `faultline check`), `history.edn` (the same history for
//! Knossos or Elle, which `faultline check` reads back with the same verdict),
//! `scenario.resolved.ron` (the scenario with the fault plan that actually ran, as a `Script`:
//! edit and re-run it) and `REPLAY` (the command that replays the run). It is written to a
//! temporary sibling and renamed into place, so nothing is left half-written.
//!
//! A run that writes a directory keeps its protocol observations for the report's node lanes;
//! sweeps keep none (they write run directories only for failing seeds, by re-running them).

use super::output::outln;
use crate::runner::{replay_line, run, RunOptions, RunReport};
use crate::scenario::Scenario;
use std::path::{Path, PathBuf};

/// Arguments of `faultline run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The seed.
    #[arg(long, env = "FAULTLINE_SEED", default_value_t = 0)]
    pub seed: u64,
    /// The run directory (default `store/<scenario>/<timestamp>-s<seed>/` under the working
    /// directory, plus a `latest` link; its full path is printed).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into a non-empty `--out` directory (files of the same name are replaced).
    #[arg(long)]
    pub force: bool,
    /// Switch on a classic bug (see `faultline list`); repeatable.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
    /// Also write this run as a scripted scenario: every fault of the seed explicit, one
    /// comment per event. Run with the same seed, it gives the same trace digest.
    #[arg(long, value_name = "FILE")]
    pub export_script: Option<PathBuf>,
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let scenario = super::load_scenario(&args.scenario, &args.bugs)?;
    if let Some(out) = &args.out {
        super::check_out_directory(out, args.force)?;
    }
    let label = format!("{} seed {}", scenario.name, args.seed);
    let report = super::progress::while_running(label, || {
        run(&scenario, args.seed, &report_options(false))
    })?;
    let replay = replay_line(&args.scenario.display().to_string(), args.seed, &args.bugs);
    let default_directory = args.out.is_none();
    let directory = match args.out {
        Some(out) => out,
        None => default_run_directory(&scenario.name, args.seed),
    };
    write_run_directory(&directory, &scenario, &report, &replay, None)?;
    if default_directory {
        link_latest(&directory);
    }
    print_summary(&report, &replay);
    if default_directory {
        // Without --out the files land in the working directory: say exactly where.
        let shown = std::fs::canonicalize(&directory).unwrap_or(directory);
        outln!(
            "run directory: {} (no --out given: under store/ in the working directory)",
            shown.display()
        );
    } else {
        outln!("run directory: {}", directory.display());
    }
    if let Some(path) = &args.export_script {
        use anyhow::Context;
        let text = crate::shrink::script::exported(
            &scenario,
            &report.plan,
            args.seed,
            &args.scenario.display().to_string(),
            report.outcome.name(),
            &path.display().to_string(),
        );
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        outln!("script: {}", path.display());
    }
    let expect = crate::expectation::in_force(&scenario, &args.bugs);
    let (code, unmet) = crate::expectation::for_run(expect, &report.outcome);
    if let Some(line) = unmet {
        outln!("{line}");
    }
    Ok(code)
}

/// How to run a seed whose run directory will be written: observations kept for the node
/// lanes, the trace on request.
pub fn report_options(trace: bool) -> RunOptions {
    RunOptions {
        trace,
        record_observations: true,
    }
}

/// Prints the one-paragraph summary of a run.
pub fn print_summary(report: &RunReport, replay: &str) {
    outln!(
        "{} seed {}: {} (digest {}, {} events, {:.3}s simulated, ops ok/fail/info {}/{}/{})",
        report.scenario,
        report.seed,
        report.outcome.name(),
        sim_core::trace::format_digest(report.digest),
        report.events,
        report.simulated_nanos as f64 / 1e9,
        report.ops_ok,
        report.ops_fail,
        report.ops_info,
    );
    if let Some(message) = report.outcome.message() {
        outln!("{message}");
    }
    if !report.figures.is_empty() {
        let text: Vec<String> = report
            .figures
            .iter()
            .map(|(name, value)| crate::runner::figure_text(name, *value))
            .collect();
        outln!("measured: {}", text.join(", "));
    }
    if report.outcome.is_failure() {
        outln!("{replay}");
    }
}

fn default_run_directory(name: &str, seed: u64) -> PathBuf {
    // Naming the directory is the one use of the wall clock here; it never feeds a run.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    PathBuf::from("store")
        .join(name)
        .join(format!("{}-s{seed}", now.as_millis()))
}

fn link_latest(directory: &Path) {
    #[cfg(unix)]
    if let (Some(parent), Some(leaf)) = (directory.parent(), directory.file_name()) {
        let link = parent.join("latest");
        let _ = std::fs::remove_file(&link);
        let _ = std::os::unix::fs::symlink(leaf, link);
    }
}

/// The `results.json` document of a run.
pub fn results_json(report: &RunReport, replay: &str) -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "scenario": report.scenario,
        "seed": report.seed,
        "outcome": report.outcome,
        "digest": sim_core::trace::format_digest(report.digest),
        "events": report.events,
        "simulated_ns": report.simulated_nanos,
        "ops": { "ok": report.ops_ok, "fail": report.ops_fail, "info": report.ops_info },
        "check": report.check,
        "marks": report.marks,
        "figures": report.figures,
        "faults": report.faults_applied.iter().map(|f| serde_json::json!({"at_ns": f.at.as_nanos(), "what": f.description()})).collect::<Vec<_>>(),
        "replay": replay,
    })
}

/// Writes a run directory atomically (temporary sibling, then rename).
///
/// # Errors
/// I/O errors, with the path.
pub fn write_run_directory(
    directory: &Path,
    scenario: &Scenario,
    report: &RunReport,
    replay: &str,
    trace: Option<&[String]>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let parent = directory
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let leaf = directory
        .file_name()
        .context("the run directory needs a name")?;
    let staging = parent.join(format!(
        ".{}.partial-{}",
        leaf.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    let mut history = String::with_capacity(report.history.len() * 96);
    for event in &report.history {
        history.push_str(&event.to_json_line());
        history.push('\n');
    }
    let resolved = scenario.to_ron_with_script(&report.plan);
    let page = run_page(scenario, report, replay, &resolved, trace.is_some());
    let files: Vec<(&str, String)> = vec![
        (
            "results.json",
            serde_json::to_string_pretty(&results_json(report, replay))? + "\n",
        ),
        ("history.jsonl", history),
        ("history.edn", reports::edn::history_edn(&report.history)),
        ("index.html", page),
        ("scenario.resolved.ron", resolved),
        ("REPLAY", format!("{replay}\n")),
    ];
    for (name, contents) in files {
        let path = staging.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(lines) = trace {
        let path = staging.join("trace.log");
        std::fs::write(&path, lines.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if directory.exists() {
        std::fs::remove_dir_all(directory)
            .with_context(|| format!("replacing {}", directory.display()))?;
    }
    std::fs::rename(&staging, directory)
        .with_context(|| format!("moving the run into {}", directory.display()))?;
    Ok(())
}

/// The build, as a report names it.
pub const VERSION: &str = concat!("faultline ", env!("CARGO_PKG_VERSION"));

/// The run's statistics as (name, value) rows for the report.
fn stats_rows(report: &RunReport) -> Vec<(String, String)> {
    let mut rows = vec![
        ("events".to_string(), report.events.to_string()),
        (
            "simulated time".to_string(),
            format!("{:.3}s", report.simulated_nanos as f64 / 1e9),
        ),
    ];
    if let Some(stats) = &report.stats {
        let counters = [
            ("messages sent", stats.messages_sent),
            ("messages delivered", stats.messages_delivered),
            ("messages lost", stats.messages_lost),
            ("messages cut by partitions", stats.messages_cut),
            ("messages to a down node", stats.messages_to_down_node),
            ("messages duplicated", stats.messages_duplicated),
            ("timers fired", stats.timers_fired),
            ("operations invoked", stats.ops_invoked),
            ("operations ok", stats.ops_ok),
            ("operations fail", stats.ops_fail),
            ("operations info", stats.ops_info),
            ("crashes", stats.crashes),
            ("unsynced records lost", stats.unsynced_records_lost),
        ];
        rows.extend(
            counters
                .iter()
                .map(|(name, v)| (name.to_string(), v.to_string())),
        );
    }
    rows
}

/// The report page of a run (`index.html`).
pub fn run_page(
    scenario: &Scenario,
    report: &RunReport,
    replay: &str,
    resolved: &str,
    has_trace: bool,
) -> String {
    let (source, message) = match &report.outcome {
        crate::runner::Outcome::SafetyViolation { source, message } => {
            (Some(source.as_str()), Some(message.as_str()))
        }
        other => (None, other.message()),
    };
    let digest = sim_core::trace::format_digest(report.digest);
    reports::run_page(&reports::RunPage {
        scenario: &report.scenario,
        seed: report.seed,
        outcome: report.outcome.name(),
        source,
        message,
        replay,
        scenario_ron: resolved,
        version: VERSION,
        digest: &digest,
        node_count: scenario.node_count,
        recovery_nanos: scenario.duration.as_nanos(),
        end_nanos: report.simulated_nanos,
        history: &report.history,
        faults: &report.faults_applied,
        observations: &report.observations,
        check: report.check.as_ref(),
        marks: &report.marks,
        marks_declared: crate::runner::declared_marks(&scenario.protocol),
        stats: stats_rows(report),
        has_trace,
    })
}
