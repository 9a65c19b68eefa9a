//! `faultline bench checker`: checks the whole conformance corpus (Porcupine's etcd and kv
//! logs, Knossos's EDN histories) and reports, per file and in total, the wall time of the
//! check (parsing excluded; median of `--repeat` runs), the model steps, the process's peak
//! memory so far (VmHWM) and the verdict against the expected one. The kv files are also
//! checked as ONE unpartitioned object (`#no-partition` rows), where `unknown` within the
//! budget is an acceptable answer. For the Porcupine files, Porcupine's own model step count
//! from the corpus MANIFEST is shown beside ours, and the largest ratio in a total line.
//!
//! First of all it measures the checker's memory on a large history: a generated linearizable
//! kv history of `--large-kv-events` events (600,000 by default) is written to a temporary
//! file, the process's peak resident size (VmHWM) is reset, and the file is read and checked as
//! `faultline check FILE --model kv` does; the peak after it is the check's.
//!
//! Output: a table, or with `--json` one JSON object per line (`{"name": ..., ...}`), like the
//! kernel bench. Exit code 0 when every verdict matches, 1 otherwise.

use super::output::outln;
use super::{EXIT_PASS, EXIT_VIOLATION};
use anyhow::Context;
use serde_json::json;
use sim_core::check::formats::{self, Format};
use sim_core::check::{check_events, CheckOptions, CheckResult, Verdict};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `faultline bench checker`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The conformance corpus (default: $FAULTLINE_CONFORMANCE, else ../shared/conformance
    /// next to the workspace).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Checks per file; the median wall time is reported.
    #[arg(long, default_value_t = 5)]
    pub repeat: u32,
    /// Model steps allowed per check.
    #[arg(long)]
    pub budget: Option<u64>,
    /// Skip the unpartitioned kv runs.
    #[arg(long)]
    pub skip_unpartitioned: bool,
    /// Events of the generated kv history whose check's peak memory is measured first (20
    /// clients, 100 keys, 1% of operations crash); 0 skips it.
    #[arg(long, default_value_t = LARGE_KV_EVENTS)]
    pub large_kv_events: u64,
}

/// The generated kv history's default size: the 600,000 events the memory figure is quoted for.
pub const LARGE_KV_EVENTS: u64 = 600_000;

/// The etcd logs the MANIFEST lists as linearizable (all others but the empty 095 are not).
const ETCD_LINEARIZABLE: [u32; 23] = [
    2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102,
];

/// Wall-clock nanoseconds since an arbitrary origin.
///
/// The one wall-clock read of the checker bench: measuring wall time is its purpose, and it
/// never influences a verdict.
#[allow(clippy::disallowed_methods)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

use super::rss::{peak_rss_kib as peak_memory_kib, reset_peak_rss};

/// Writes a linearizable kv history of about `events` events in the native format to `out`:
/// `CLIENTS` processes, `KEYS` keys, reads, writes and compare-and-sets (50/35/15), each
/// operation taking effect at its completion (so the history is linearizable by construction)
/// except that 1% end `info` (a crash: applied or not, by a coin, and the process retired for a
/// fresh one, Jepsen's convention). Deterministic: the same `events` give the same file.
///
/// # Errors
/// I/O errors of `out`.
pub fn write_large_kv_history(events: u64, out: &mut impl std::io::Write) -> std::io::Result<()> {
    use sim_core::prng::{Prng, Stream};
    const CLIENTS: u64 = 20;
    const KEYS: u64 = 100;
    #[derive(Clone, Copy)]
    enum Op {
        Read,
        Write(u64),
        Cas(Option<u64>, u64),
    }
    let mut rng = Prng::new(events, Stream::Workload);
    let mut values: Vec<Option<u64>> = vec![None; KEYS as usize];
    // Per client slot: its process id and its open operation (on a key), if any.
    let mut slots: Vec<(u64, Option<(u64, Op)>)> = (0..CLIENTS).map(|p| (p, None)).collect();
    let mut next_process = CLIENTS;
    let value_text = |value: Option<u64>| value.map_or("null".to_string(), |v| v.to_string());
    for index in 0..events {
        let time = index * 1_000;
        let slot = rng.below(CLIENTS) as usize;
        let (process, open) = slots[slot];
        let (f, key, value, kind) = match open {
            None => {
                let key = rng.below(KEYS);
                let op = match rng.below(100) {
                    0..50 => Op::Read,
                    50..85 => Op::Write(rng.below(1000)),
                    _ => {
                        let current = values[key as usize];
                        let from = if rng.below(2) == 0 {
                            current
                        } else {
                            Some(rng.below(1000))
                        };
                        Op::Cas(from, rng.below(1000))
                    }
                };
                slots[slot].1 = Some((key, op));
                let (f, value) = match op {
                    Op::Read => ("read", "null".to_string()),
                    Op::Write(v) => ("write", v.to_string()),
                    Op::Cas(from, to) => ("cas", format!("[{},{to}]", value_text(from))),
                };
                (f, key, value, "invoke")
            }
            Some((key, op)) => {
                slots[slot].1 = None;
                let current = &mut values[key as usize];
                let crashed = rng.below(100) == 0;
                if crashed {
                    slots[slot].0 = next_process;
                    next_process += 1;
                }
                // A crashed operation takes effect, or not, at this moment: both are allowed.
                let applies = !crashed || rng.below(2) == 0;
                match op {
                    Op::Read => {
                        let kind = if crashed { "info" } else { "ok" };
                        let seen = if crashed { None } else { *current };
                        ("read", key, value_text(seen), kind)
                    }
                    Op::Write(v) => {
                        if applies {
                            *current = Some(v);
                        }
                        (
                            "write",
                            key,
                            v.to_string(),
                            if crashed { "info" } else { "ok" },
                        )
                    }
                    Op::Cas(from, to) => {
                        let text = format!("[{},{to}]", value_text(from));
                        let kind = if *current == from && applies {
                            *current = Some(to);
                            if crashed {
                                "info"
                            } else {
                                "ok"
                            }
                        } else if crashed {
                            "info"
                        } else {
                            "fail"
                        };
                        ("cas", key, text, kind)
                    }
                }
            }
        };
        writeln!(
            out,
            r#"{{"index":{index},"time":{time},"process":{process},"type":"{kind}","f":"{f}","key":"k{key}","value":{value}}}"#
        )?;
    }
    Ok(())
}

/// The peak memory of `faultline check` on the generated kv history of `events` events, measured
/// in this process: the file is written to a temporary directory, the peak reset, then read
/// and checked as `faultline check FILE --model kv` does. Returns (events, verdict, wall ns,
/// peak KiB, whether the peak was reset).
fn large_kv_case(events: u64) -> anyhow::Result<(usize, CheckResult, u64, u64, bool)> {
    let file = std::env::temp_dir().join(format!(
        "faultline-bench-kv-{}-{events}.jsonl",
        std::process::id()
    ));
    {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&file)
                .with_context(|| format!("cannot write {}", file.display()))?,
        );
        write_large_kv_history(events, &mut out)
            .and_then(|()| std::io::Write::flush(&mut out))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    let reset = reset_peak_rss();
    let start = now();
    let checked = super::check::check_native_file(&file, sim_core::check::Model::Kv);
    let wall = start.elapsed().as_nanos() as u64;
    let peak = peak_memory_kib();
    let _ = std::fs::remove_file(&file);
    // The corpus rows after it report their own peaks, not this one.
    reset_peak_rss();
    let (events, result) = checked?;
    Ok((events, result, wall, peak, reset))
}

fn default_corpus() -> PathBuf {
    if let Ok(path) = std::env::var("FAULTLINE_CONFORMANCE") {
        return PathBuf::from(path);
    }
    let beside_workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    if beside_workspace.exists() {
        return beside_workspace;
    }
    PathBuf::from("../shared/conformance")
}

/// Porcupine's model step counts by case name, from the "model step calls" column of the
/// Porcupine MANIFEST's tables (for a range such as `54k–181k`, which a bad kv file gets from
/// Porcupine's concurrent partitions, its top). Empty when the MANIFEST is missing.
fn porcupine_steps(root: &Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(root.join("porcupine/MANIFEST.md")) else {
        return counts;
    };
    let mut column = None;
    for line in text.lines() {
        if !line.starts_with('|') {
            column = None;
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if let Some(index) = cells.iter().position(|c| *c == "model step calls") {
            column = Some(index);
            continue;
        }
        let top = column
            .and_then(|index| cells.get(index))
            .and_then(|cell| cell.rsplit('–').next())
            .and_then(|top| match top.strip_suffix('k') {
                Some(thousands) => thousands.parse::<u64>().ok().map(|n| n * 1000),
                None => top.parse().ok(),
            });
        if let Some(top) = top {
            counts.insert(format!("porcupine/{}", cells[0]), top);
        }
    }
    counts
}

struct Case {
    /// Relative name, e.g. `porcupine/jepsen/etcd_002.log`.
    name: String,
    group: &'static str,
    path: PathBuf,
    format: Format,
    /// None: no verdict expected.
    expected: Option<bool>,
    partition: bool,
}

fn sorted_files(dir: &Path, extension: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    Ok(files)
}

fn cases(root: &Path, unpartitioned: bool) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    for path in sorted_files(&root.join("porcupine/jepsen"), "log")? {
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let number: u32 = stem.trim_start_matches("etcd_").parse().unwrap_or(u32::MAX);
        let expected = if number == 95 {
            None
        } else {
            Some(ETCD_LINEARIZABLE.contains(&number))
        };
        let name = format!("porcupine/jepsen/{stem}.log");
        cases.push(Case {
            name,
            group: "porcupine-etcd",
            path,
            format: Format::PorcupineEtcd,
            expected,
            partition: true,
        });
    }
    let kv = sorted_files(&root.join("porcupine/kv"), "txt")?;
    for path in &kv {
        let file = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let expected = Some(file.contains("-ok"));
        let name = format!("porcupine/kv/{file}");
        cases.push(Case {
            name,
            group: "porcupine-kv",
            path: path.clone(),
            format: Format::PorcupineKv,
            expected,
            partition: true,
        });
    }
    for directory in [
        "cas-register/bad",
        "cas-register/good",
        "multi-register/good",
        "mutex/bad",
    ] {
        for path in sorted_files(&root.join("knossos").join(directory), "edn")? {
            let file = path
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            let expected = Some(directory.ends_with("good"));
            let name = format!("knossos/{directory}/{file}");
            cases.push(Case {
                name,
                group: "knossos",
                path,
                format: Format::Edn,
                expected,
                partition: true,
            });
        }
    }
    if unpartitioned {
        for path in &kv {
            let file = path
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            let expected = Some(file.contains("-ok"));
            let name = format!("porcupine/kv/{file}#no-partition");
            cases.push(Case {
                name,
                group: "porcupine-kv-unpartitioned",
                path: path.clone(),
                format: Format::PorcupineKv,
                expected,
                partition: false,
            });
        }
    }
    Ok(cases)
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let root = args.corpus.clone().unwrap_or_else(default_corpus);
    anyhow::ensure!(
        root.join("porcupine").exists() && root.join("knossos").exists(),
        "conformance corpus not found at {} (use --corpus or FAULTLINE_CONFORMANCE)",
        root.display()
    );
    let repeat = args.repeat.max(1);
    let porcupine = porcupine_steps(&root);
    let mut all_match = true;
    // First, while the process is small: its peak is the check's own (reset just before it).
    if args.large_kv_events > 0 {
        let (events, result, wall, peak, reset) = large_kv_case(args.large_kv_events)?;
        let matches = result.verdict == Verdict::Linearizable;
        all_match &= matches;
        let name = format!("checker/generated/kv-{events}-events");
        if args.json {
            outln!(
                "{}",
                json!({"name": name, "verdict": result.verdict.name(), "expected": "linearizable",
                    "match": matches, "events": events, "wall_ns": wall, "steps": result.steps,
                    "peak_memory_kib": peak, "peak_reset": reset})
            );
        } else {
            outln!(
                "{name}: {} in {:.2}s, {} steps, peak memory {:.1} MiB{}",
                result.verdict.name(),
                wall as f64 / 1e9,
                result.steps,
                peak as f64 / 1024.0,
                if reset {
                    " (VmHWM, reset before the read)"
                } else {
                    " (VmHWM could not be reset: the whole process's peak)"
                }
            );
        }
    }
    // (ratio, case name, files compared, files over Porcupine's count)
    let mut ratio_max: (f64, String, usize, usize) = (0.0, String::new(), 0, 0);
    let mut totals: Vec<(&'static str, u64, u64, usize, usize)> = Vec::new(); // group, wall ns, steps, files, mismatches
    if !args.json {
        outln!(
            "{:<58} {:>16} {:>11} {:>10} {:>10} {:>11} {:>10}",
            "file",
            "verdict",
            "wall µs",
            "steps",
            "Porcupine",
            "peak KiB",
            "match"
        );
    }
    for case in cases(&root, !args.skip_unpartitioned)? {
        let text = std::fs::read_to_string(&case.path)
            .with_context(|| format!("cannot read {}", case.path.display()))?;
        let history = formats::read(case.format, &text)
            .map_err(|e| anyhow::anyhow!("{}:{}: {}", case.path.display(), e.line, e.message))?;
        let mut options = CheckOptions {
            dialect: history.dialect,
            initial: history.initial.clone(),
            partition: case.partition,
            explain: false,
            ..CheckOptions::default()
        };
        if let Some(budget) = args.budget {
            options.budget_steps = budget;
        }
        let mut walls = Vec::with_capacity(repeat as usize);
        let mut last: Option<CheckResult> = None;
        for _ in 0..repeat {
            let start = now();
            let result =
                check_events(&history.events, history.default_model, &options).map_err(|e| {
                    anyhow::anyhow!("{}: event {}: {}", case.path.display(), e.event, e.message)
                })?;
            walls.push(start.elapsed().as_nanos() as u64);
            last = Some(result);
            // A run that gave up took its whole budget; repeating it says nothing new.
            if last.as_ref().is_some_and(|r| r.verdict == Verdict::Unknown) {
                break;
            }
        }
        walls.sort_unstable();
        let wall = walls[walls.len() / 2];
        let result = last.expect("at least one run");
        let expected = case.expected.map(|l| {
            if l {
                Verdict::Linearizable
            } else {
                Verdict::NotLinearizable
            }
        });
        let matches = match expected {
            None => true,
            Some(_) if !case.partition && result.verdict == Verdict::Unknown => true,
            Some(want) => result.verdict == want,
        };
        all_match &= matches;
        let peak = peak_memory_kib();
        let porcupine_steps = porcupine.get(&case.name).copied();
        if let Some(theirs) = porcupine_steps {
            let ratio = result.steps as f64 / theirs.max(1) as f64;
            if ratio > ratio_max.0 {
                (ratio_max.0, ratio_max.1) = (ratio, case.name.clone());
            }
            ratio_max.2 += 1;
            ratio_max.3 += usize::from(result.steps > theirs);
        }
        match totals.iter_mut().find(|t| t.0 == case.group) {
            Some(total) => {
                total.1 += wall;
                total.2 += result.steps;
                total.3 += 1;
                total.4 += usize::from(!matches);
            }
            None => totals.push((case.group, wall, result.steps, 1, usize::from(!matches))),
        }
        if args.json {
            outln!(
                "{}",
                json!({
                    "name": format!("checker/{}", case.name),
                    "verdict": result.verdict.name(),
                    "expected": expected.map(|v| v.name()),
                    "match": matches,
                    "wall_ns": wall,
                    "steps": result.steps,
                    "porcupine_steps": porcupine_steps,
                    "operations": result.operations,
                    "partitions": result.partitions,
                    "cache_entries_max": result.cache_entries_max,
                    "peak_memory_kib": peak,
                    "unknown_reason": result.unknown_reason,
                })
            );
        } else {
            outln!(
                "{:<58} {:>16} {:>11} {:>10} {:>10} {:>11} {:>10}",
                case.name,
                result.verdict.name(),
                wall / 1000,
                result.steps,
                porcupine_steps.map_or("-".to_string(), |n| n.to_string()),
                peak,
                if matches { "ok" } else { "MISMATCH" }
            );
        }
    }
    let mut grand = (0u64, 0u64, 0usize, 0usize);
    for &(group, wall, steps, files, mismatches) in &totals {
        if group != "porcupine-kv-unpartitioned" {
            grand.0 += wall;
            grand.1 += steps;
            grand.2 += files;
            grand.3 += mismatches;
        }
        print_total(args.json, group, wall, steps, files, mismatches);
    }
    print_total(args.json, "corpus", grand.0, grand.1, grand.2, grand.3);
    let (ratio, file, compared, over) = ratio_max;
    if args.json {
        outln!(
            "{}",
            json!({"name": "checker/total/steps-vs-porcupine", "files": compared, "over": over, "steps_ratio_max": ratio, "steps_ratio_max_file": file})
        );
    } else {
        outln!(
            "model steps vs Porcupine's: {compared} files compared, {over} over, largest ratio {ratio:.3} ({file})"
        );
    }
    Ok(if all_match { EXIT_PASS } else { EXIT_VIOLATION })
}

fn print_total(json: bool, group: &str, wall: u64, steps: u64, files: usize, mismatches: usize) {
    let peak = peak_memory_kib();
    if json {
        outln!(
            "{}",
            json!({"name": format!("checker/total/{group}"), "files": files, "mismatches": mismatches, "wall_ns": wall, "steps": steps, "peak_memory_kib": peak})
        );
    } else {
        outln!(
            "total {:<52} {:>16} {:>11} {:>10} {:>10} {:>11} {:>10}",
            group,
            format!("{files} files"),
            wall / 1000,
            steps,
            "",
            peak,
            if mismatches == 0 {
                "ok".to_string()
            } else {
                format!("{mismatches} MISMATCH")
            }
        );
    }
}
