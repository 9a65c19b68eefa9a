//! `faultline sweep SCENARIO... [--seeds A..B | --count N] [--jobs N] [--shard M/N]
//! [--format human|jsonl] [--junit FILE] [--fail-fast] [--check-determinism] [--bug NAME]...`
//!
//! Seeds run in parallel on rayon and their results are collected in seed order, so the output
//! never depends on the thread count. `--shard M/N` (1-based) takes the M-th of N contiguous
//! blocks of the seed range, so the shards' JSONL records, concatenated in shard order, are the
//! whole sweep's records. Every failing seed prints one pasteable replay line as it is found,
//! and all of them again at the end.
//!
//! `--junit FILE` writes one `<testsuite>` per scenario holding an aggregate testcase
//! (`all-seeds`: passed, or failed with the outcome counts) and one failed testcase per failing
//! seed whose message is its replay line. The file is written to a temporary sibling and
//! renamed into place; with `--shard` it covers that shard's seeds only.

use super::output::{errln, outln};
use crate::runner::{replay_line, run, Outcome, RunOptions, RunReport};
use crate::scenario::Scenario;
use indicatif::{ProgressBar, ProgressStyle};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Progress, failures and a summary for people.
    Human,
    /// One versioned JSON record per seed, then a summary record.
    Jsonl,
}

/// Arguments of `faultline sweep`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Scenario files.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Seed range `A..B` (B exclusive).
    #[arg(long, conflicts_with = "count", value_parser = parse_range)]
    pub seeds: Option<(u64, u64)>,
    /// Number of seeds, starting at `FAULTLINE_SEED` (default 0).
    #[arg(long, default_value_t = 100)]
    pub count: u64,
    /// Worker threads (default: every core).
    #[arg(long, env = "FAULTLINE_JOBS")]
    pub jobs: Option<usize>,
    /// Run only block M of N of the seed range (1-based).
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Stop starting new seeds after the first failure.
    #[arg(long)]
    pub fail_fast: bool,
    /// Run every seed twice and compare digests (exit 5 on a mismatch).
    #[arg(long)]
    pub check_determinism: bool,
    /// Switch on a classic bug in every scenario; repeatable.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
    /// Write a JUnit XML report here: per scenario, an aggregate testcase and one testcase
    /// per failing seed carrying its replay line.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

pub(crate) fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("`{text}` is not a range A..B"))?;
    let a: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("`{a}` is not a seed"))?;
    let b: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("`{b}` is not a seed"))?;
    if a >= b {
        return Err(format!("empty seed range {a}..{b}"));
    }
    Ok((a, b))
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (m, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a shard M/N"))?;
    let m: u64 = m
        .trim()
        .parse()
        .map_err(|_| format!("`{m}` is not a shard number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a shard count"))?;
    if n == 0 || m == 0 || m > n {
        return Err(format!("shard {m}/{n}: expected 1 <= M <= N"));
    }
    Ok((m, n))
}

/// The worker pool for `--jobs` threads (default: every core). Also silences the panic hook:
/// panics are caught per seed and reported as outcomes with their replay line, and the default
/// hook's backtrace spam would bury them.
pub(crate) fn seed_pool(jobs: Option<usize>) -> anyhow::Result<(usize, rayon::ThreadPool)> {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    anyhow::ensure!(jobs >= 1, "--jobs must be at least 1");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs).build()?;
    std::panic::set_hook(Box::new(|_| {}));
    Ok((jobs, pool))
}

/// The seeds of block `m` of `n` (1-based) of `start..end`: contiguous, in order, covering the
/// range exactly once over all blocks.
pub fn shard_seeds(start: u64, end: u64, shard: Option<(u64, u64)>) -> std::ops::Range<u64> {
    let Some((m, n)) = shard else {
        return start..end;
    };
    let total = end - start;
    let block_start = start + total * (m - 1) / n;
    let block_end = start + total * m / n;
    block_start..block_end
}

/// What a sweep keeps of one run: the figures, not the history. A run's history and fault
/// plan are hundreds of kilobytes, and a sweep of thousands of seeds kept them all until the
/// end (about 850 MB for 1,000 seeds of `single-server-kv-crashes`).
struct SeedReport {
    scenario: String,
    seed: u64,
    outcome: Outcome,
    digest: u64,
    events: u64,
    simulated_nanos: u64,
    ops_ok: u64,
    ops_fail: u64,
    ops_info: u64,
    marks: BTreeMap<String, u64>,
}

impl From<RunReport> for SeedReport {
    fn from(report: RunReport) -> Self {
        SeedReport {
            scenario: report.scenario,
            seed: report.seed,
            outcome: report.outcome,
            digest: report.digest,
            events: report.events,
            simulated_nanos: report.simulated_nanos,
            ops_ok: report.ops_ok,
            ops_fail: report.ops_fail,
            ops_info: report.ops_info,
            marks: report.marks,
        }
    }
}

struct SeedResult {
    report: SeedReport,
    wall_ms: f64,
    nondeterministic: Option<u64>,
}

fn record(path: &str, result: &SeedResult, replay: &str) -> serde_json::Value {
    let report = &result.report;
    let outcome = if result.nondeterministic.is_some() {
        "nondeterministic"
    } else {
        report.outcome.name()
    };
    serde_json::json!({
        "version": 1,
        "type": "seed",
        "scenario": report.scenario,
        "path": path,
        "seed": report.seed,
        "outcome": outcome,
        "message": report.outcome.message(),
        "digest": sim_core::trace::format_digest(report.digest),
        "events": report.events,
        "simulated_ns": report.simulated_nanos,
        "ops_completed": report.ops_ok + report.ops_fail,
        "ops_info": report.ops_info,
        "wall_ms": result.wall_ms,
        "replay": replay,
    })
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let scenarios: Vec<(String, Scenario)> = args
        .scenarios
        .iter()
        .map(|path| {
            Ok((
                path.display().to_string(),
                super::load_scenario(path, &args.bugs)?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let (start, end) = match args.seeds {
        Some(range) => range,
        None => {
            let base = std::env::var("FAULTLINE_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0u64);
            (
                base,
                base.checked_add(args.count)
                    .ok_or_else(|| anyhow::anyhow!("seed range overflows"))?,
            )
        }
    };
    let seeds = shard_seeds(start, end, args.shard);
    if let Some(junit) = &args.junit {
        // Fail before the sweep, not after it, when the report cannot be written.
        prepare_parent(junit)?;
    }
    let (jobs, pool) = seed_pool(args.jobs)?;

    let human = args.format == Format::Human;
    let total = seeds.clone().count() as u64 * scenarios.len() as u64;
    let progress = if human && std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} seeds, {per_sec}, eta {eta} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Some(bar)
    } else {
        None
    };
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let failures_found = AtomicU64::new(0);
    #[allow(clippy::disallowed_methods)]
    let sweep_started = std::time::Instant::now();

    let mut exit = super::EXIT_PASS;
    let mut all_replays = Vec::new();
    let mut junit_suites = Vec::new();
    for (path, scenario) in &scenarios {
        let results: Vec<Option<SeedResult>> = pool.install(|| {
            seeds
                .clone()
                .into_par_iter()
                .map(|seed| {
                    if args.fail_fast && stop.load(Ordering::Relaxed) {
                        return None;
                    }
                    #[allow(clippy::disallowed_methods)]
                    let started = std::time::Instant::now();
                    let report = run(scenario, seed, &RunOptions::default())
                        .expect("checked by load_scenario");
                    let nondeterministic = if args.check_determinism {
                        let again = run(scenario, seed, &RunOptions::default()).expect("checked");
                        (again.digest != report.digest).then_some(again.digest)
                    } else {
                        None
                    };
                    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
                    let failed = report.outcome.is_failure() || nondeterministic.is_some();
                    if failed {
                        stop.store(true, Ordering::Relaxed);
                        failures_found.fetch_add(1, Ordering::Relaxed);
                        if human {
                            let line = replay_line(path, seed, &args.bugs);
                            let what = match nondeterministic {
                                Some(other) => format!(
                                    "nondeterministic: digests {:016x} and {other:016x}",
                                    report.digest
                                ),
                                None => report.outcome.name().to_string(),
                            };
                            let text =
                                format!("FAIL {} seed {seed}: {what}\n  {line}", report.scenario);
                            match &progress {
                                Some(bar) => bar.println(text),
                                None => errln!("{text}"),
                            }
                        }
                    }
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    match &progress {
                        Some(bar) => bar.inc(1),
                        None if human && (finished % 500 == 0 || finished == total) => {
                            errln!(
                                "{finished}/{total} seeds, {} failing, {:.1}s",
                                failures_found.load(Ordering::Relaxed),
                                sweep_started.elapsed().as_secs_f64()
                            );
                        }
                        None => {}
                    }
                    Some(SeedResult {
                        report: report.into(),
                        wall_ms,
                        nondeterministic,
                    })
                })
                .collect()
        });
        let scenario_exit = summarise(path, scenario, &results, &args, human, &mut all_replays);
        exit = super::worst_exit_code(exit, scenario_exit);
        if args.junit.is_some() {
            junit_suites.push(junit_suite(
                path,
                scenario,
                &results,
                &seeds,
                &args,
                scenario_exit,
            ));
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let wall_s = sweep_started.elapsed().as_secs_f64();
    if let Some(junit) = &args.junit {
        let mut report = Report::new(match args.shard {
            Some((m, n)) => format!("faultline sweep (shard {m}/{n})"),
            None => "faultline sweep".to_string(),
        });
        report.set_time(sweep_started.elapsed());
        report.add_test_suites(junit_suites);
        let xml = report
            .to_string()
            .map_err(|error| anyhow::anyhow!("serialising the JUnit report: {error}"))?;
        write_atomically(junit, xml.as_bytes())?;
        if human {
            outln!("JUnit report: {}", junit.display());
        }
    }
    if human {
        outln!(
            "{} seeds in {wall_s:.2}s ({:.1} seeds/s, {jobs} jobs)",
            done.load(Ordering::Relaxed),
            done.load(Ordering::Relaxed) as f64 / wall_s
        );
        if !all_replays.is_empty() {
            outln!("\nfailing seeds ({}):", all_replays.len());
            for line in &all_replays {
                outln!("{line}");
            }
        }
    }
    Ok(exit)
}

fn summarise(
    path: &str,
    scenario: &Scenario,
    results: &[Option<SeedResult>],
    args: &Args,
    human: bool,
    all_replays: &mut Vec<String>,
) -> u8 {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut marks: BTreeMap<String, u64> = BTreeMap::new();
    let mut exit = super::EXIT_PASS;
    let (mut events, mut wall_ms, mut ran) = (0u64, 0f64, 0u64);
    for result in results.iter().flatten() {
        let report = &result.report;
        let replay = replay_line(path, report.seed, &args.bugs);
        ran += 1;
        events += report.events;
        wall_ms += result.wall_ms;
        for (mark, count) in &report.marks {
            *marks.entry(mark.clone()).or_insert(0) += count;
        }
        let code = if result.nondeterministic.is_some() {
            *counts.entry("nondeterministic").or_insert(0) += 1;
            super::EXIT_NONDETERMINISM
        } else {
            *counts.entry(report.outcome.name()).or_insert(0) += 1;
            report.outcome.exit_code()
        };
        exit = super::worst_exit_code(exit, code);
        if code != super::EXIT_PASS {
            all_replays.push(replay.clone());
        }
        if !human {
            outln!("{}", record(path, result, &replay));
        }
    }
    let first_failure = results
        .iter()
        .flatten()
        .find(|r| r.report.outcome.is_failure())
        .map(|r| r.report.seed);
    if human {
        let outcome_text: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        outln!(
            "{} ({path}): {ran} seeds: {}",
            scenario.name,
            outcome_text.join(", ")
        );
        if let Some(Outcome::SafetyViolation { source, message }) = results
            .iter()
            .flatten()
            .map(|r| &r.report.outcome)
            .find(|o| matches!(o, Outcome::SafetyViolation { .. }))
        {
            let first_line = message.lines().next().unwrap_or("");
            outln!("  first violation ({source}): {first_line}");
        }
        if !marks.is_empty() {
            let text: Vec<String> = marks.iter().map(|(k, v)| format!("{k}×{v}")).collect();
            outln!("  marks hit: {}", text.join(" "));
        }
    } else {
        let summary = serde_json::json!({
            "version": 1,
            "type": "summary",
            "scenario": scenario.name,
            "path": path,
            "seeds": ran,
            "outcomes": counts,
            "first_failing_seed": first_failure,
            "events": events,
            "seed_wall_ms_total": wall_ms,
            "marks": marks,
            "exit_code": exit,
        });
        outln!("{summary}");
    }
    exit
}

/// What a seed's result failed with, or `None` when it passed.
fn failure_kind(result: &SeedResult) -> Option<(&'static str, String)> {
    let report = &result.report;
    if let Some(other) = result.nondeterministic {
        return Some((
            "nondeterministic",
            format!(
                "digests {} and {} for the same seed",
                sim_core::trace::format_digest(report.digest),
                sim_core::trace::format_digest(other)
            ),
        ));
    }
    if report.outcome.exit_code() == super::EXIT_PASS {
        return None;
    }
    Some((
        report.outcome.name(),
        report.outcome.message().unwrap_or_default().to_string(),
    ))
}

/// The JUnit suite of one scenario: `all-seeds`, then one testcase per failing seed.
fn junit_suite(
    path: &str,
    scenario: &Scenario,
    results: &[Option<SeedResult>],
    seeds: &std::ops::Range<u64>,
    args: &Args,
    exit: u8,
) -> TestSuite {
    let mut suite = TestSuite::new(scenario.name.as_str());
    suite.add_property(Property::new("path", path));
    suite.add_property(Property::new(
        "seeds",
        format!("{}..{}", seeds.start, seeds.end),
    ));
    if let Some((m, n)) = args.shard {
        suite.add_property(Property::new("shard", format!("{m}/{n}")));
    }
    for bug in &args.bugs {
        suite.add_property(Property::new("bug", bug.as_str()));
    }
    let ran: Vec<&SeedResult> = results.iter().flatten().collect();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut failing = Vec::new();
    for result in &ran {
        match failure_kind(result) {
            Some((kind, description)) => {
                *counts.entry(kind).or_insert(0) += 1;
                failing.push((*result, kind, description));
            }
            None => *counts.entry("pass").or_insert(0) += 1,
        }
    }
    let counts_text: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let not_run = results.len() - ran.len();
    let mut summary = format!(
        "{} of {} seeds failed ({})",
        failing.len(),
        ran.len(),
        counts_text.join(", ")
    );
    if not_run > 0 {
        summary.push_str(&format!("; {not_run} not run after --fail-fast"));
    }
    let seed_wall_ms: f64 = ran.iter().map(|r| r.wall_ms).sum();
    let mut aggregate = if exit == super::EXIT_PASS {
        TestCase::new("all-seeds", TestCaseStatus::success())
    } else {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let first = failing
            .first()
            .map(|(r, _, _)| replay_line(path, r.report.seed, &args.bugs))
            .unwrap_or_default();
        status
            .set_message(format!("{summary}; first: {first}"))
            .set_type(format!("exit {exit}"));
        TestCase::new("all-seeds", status)
    };
    aggregate
        .set_classname(scenario.name.as_str())
        .set_time(std::time::Duration::from_secs_f64(seed_wall_ms / 1e3))
        .set_system_out(summary);
    suite.add_test_case(aggregate);
    for (result, kind, description) in failing {
        let seed = result.report.seed;
        let replay = replay_line(path, seed, &args.bugs);
        // A panic is the protocol (or the kernel) breaking, not a finding about the protocol.
        let non_success = if kind == "panic" {
            NonSuccessKind::Error
        } else {
            NonSuccessKind::Failure
        };
        let mut status = TestCaseStatus::non_success(non_success);
        status
            .set_message(format!("{kind}: {replay}"))
            .set_type(kind)
            .set_description(format!("{replay}\n\n{description}"));
        let mut case = TestCase::new(format!("seed {seed}"), status);
        case.set_classname(scenario.name.as_str())
            .set_time(std::time::Duration::from_secs_f64(result.wall_ms / 1e3));
        suite.add_test_case(case);
    }
    suite
}

/// Creates the parent directory of `file` (a usage error if that fails).
fn prepare_parent(file: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    anyhow::ensure!(
        !file.is_dir(),
        "--junit {}: is a directory; expected a file name",
        file.display()
    );
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("--junit: creating {}", parent.display()))?;
    }
    Ok(())
}

/// Writes `contents` to a temporary sibling of `file`, then renames it over `file`, so a
/// reader (a CI job collecting reports) never sees a half-written file.
fn write_atomically(file: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let leaf = file
        .file_name()
        .with_context(|| format!("--junit {}: expected a file name", file.display()))?;
    let staging = file.with_file_name(format!(
        ".{}.partial-{}",
        leaf.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&staging, contents).with_context(|| format!("writing {}", staging.display()))?;
    if let Err(error) = std::fs::rename(&staging, file) {
        let _ = std::fs::remove_file(&staging);
        return Err(error).with_context(|| format!("moving the report into {}", file.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_range_in_order() {
        for (start, end, n) in [(0u64, 10u64, 3u64), (5, 6, 4), (0, 1000, 7)] {
            let mut joined = Vec::new();
            for m in 1..=n {
                joined.extend(shard_seeds(start, end, Some((m, n))));
            }
            assert_eq!(joined, (start..end).collect::<Vec<_>>());
        }
        assert!(
            parse_shard("0/3").is_err()
                && parse_shard("4/3").is_err()
                && parse_shard("2/3").is_ok()
        );
        assert!(parse_range("5..5").is_err() && parse_range("1..9") == Ok((1, 9)));
    }
}
