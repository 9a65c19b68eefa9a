//! `faultline sweep SCENARIO... [--seeds A..B | --count N] [--jobs N] [--shard M/N]
//! [--format human|jsonl] [--junit FILE] [--fail-fast] [--check-determinism] [--bug NAME]...`
//!
//! Seeds run in parallel on rayon and their results are collected in seed order, so the output
//! never depends on the thread count. `--shard M/N` (1-based) takes the M-th of N contiguous
//! blocks of the seed range, so the shards' JSONL records, concatenated in shard order, are the
//! whole sweep's records. Every failing seed prints one pasteable replay line as it is found,
//! and all of them again at the end.
//!
//! `--fail-fast` stops at the lowest failing seed of the range, whatever `--jobs` is: the seeds
//! run in consecutive chunks of [`FAIL_FAST_SEEDS_PER_JOB`] × jobs, each chunk in parallel, and
//! no chunk starts after one that holds a failure (any outcome but `pass`, or a digest
//! mismatch under `--check-determinism`). The sweep reports the seeds from the first one up to
//! and including that lowest failing seed, and nothing after it: seeds of the same chunk that
//! ran past it are dropped, and so are the scenarios after it. The records, the summary's
//! `seeds` (the seeds to the first failure) and the JUnit report are therefore the same for
//! any job count; a smaller chunk would waste less work after the failure but leave workers
//! idle at more chunk boundaries.
//!
//! `--junit FILE` writes one `<testsuite>` per scenario holding an aggregate testcase
//! (`all-seeds`: passed, or failed with the outcome counts) and one failed testcase per failing
//! seed whose message is its replay line. The file is written to a temporary sibling and
//! renamed into place; with `--shard` it covers that shard's seeds only.

use super::atomic::write_atomically;
use super::output::{errln, outln};
use crate::runner::{replay_line, run, Outcome, RunOptions, RunReport};
use crate::scenario::Scenario;
use indicatif::{ProgressBar, ProgressStyle};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use rayon::prelude::*;
use sim_core::node::combine_figure;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Number of seeds, starting at `FAULTLINE_SEED` (default 0); at least 1, as a `--seeds`
    /// range must hold at least one seed.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Worker threads (default: every core; at most 8 per core).
    #[arg(long, env = "FAULTLINE_JOBS")]
    pub jobs: Option<usize>,
    /// Run only block M of N of the seed range (1-based).
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Stop at the lowest failing seed (in seed order, for any --jobs): report the seeds up to
    /// it and drop the rest. Seeds run in chunks of 4 x jobs; no chunk starts after a failure.
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
    /// Write a report directory: `results.jsonl`, `summary.md`, `index.html`, and full run
    /// directories (`runs/`) for the first failing seeds.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into a non-empty `--out` directory (files of the same name are replaced).
    #[arg(long)]
    pub force: bool,
    /// With `--out`: how many failing seeds (per scenario) get a full run directory.
    #[arg(long, default_value_t = 5)]
    pub out_runs: usize,
    /// Steer by coverage: run the first half of the seeds, keep those that hit rare marks and
    /// crash points, and spend the other half mutating their fault plans (see README).
    /// Failing mutants are written as scripted scenarios (under `--out DIR/explore/`, else
    /// `faultline-explore/`) with a replay line each. `--format jsonl`, `--junit` and
    /// `--shard M/N` (exploring that block of the seeds) work as for a sweep.
    #[arg(long, conflicts_with_all = ["check_determinism"])]
    pub explore: bool,
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

/// The most worker threads per core that `--jobs` accepts.
const JOBS_PER_CORE_MAX: usize = 8;

/// How many failing seeds print a `FAIL` line as they are found; the rest are counted and shown
/// grouped at the end, so a sweep with hundreds of failures stays readable.
const FAIL_LINES_AS_FOUND: u64 = 10;

/// How many replay lines the closing list shows per group of alike failures.
const REPLAYS_PER_GROUP: usize = 3;

/// The worker pool for `--jobs` threads (default: every core). Also silences the panic hook:
/// panics are caught per seed and reported as outcomes with their replay line, and the default
/// hook's backtrace spam would bury them.
pub(crate) fn seed_pool(jobs: Option<usize>) -> anyhow::Result<(usize, rayon::ThreadPool)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = jobs.unwrap_or(cores);
    anyhow::ensure!(jobs >= 1, "--jobs must be at least 1");
    // Seeds are CPU-bound: threads beyond the cores only add memory and switching, and
    // thousands of them stall the machine. Refuse rather than silently cap, so a CI script
    // sees its mistake.
    let jobs_max = cores.saturating_mul(JOBS_PER_CORE_MAX);
    anyhow::ensure!(
        jobs <= jobs_max,
        "--jobs {jobs} is more than {JOBS_PER_CORE_MAX} per core ({cores} cores here: at most {jobs_max}); seeds are CPU-bound, so more threads than cores do not help"
    );
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
    figures: BTreeMap<String, u64>,
    /// Completed operations' latencies, as a mergeable histogram (`reports::summary`).
    latency: BTreeMap<u32, u64>,
}

impl From<RunReport> for SeedReport {
    fn from(report: RunReport) -> Self {
        SeedReport {
            latency: reports::summary::latency_histogram(&report.history),
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
            figures: report.figures,
        }
    }
}

struct SeedResult {
    report: SeedReport,
    wall_ms: f64,
    nondeterministic: Option<u64>,
}

impl SeedResult {
    /// Whether the seed counts as a failure for `--fail-fast`, the human `FAIL` lines and the
    /// summary's `first_failing_seed`.
    fn failed(&self) -> bool {
        self.report.outcome.is_failure() || self.nondeterministic.is_some()
    }
}

/// `--fail-fast` runs seeds in chunks of this many per job (see the module doc).
pub const FAIL_FAST_SEEDS_PER_JOB: u64 = 4;

/// `--fail-fast`: runs `seeds` in consecutive chunks of `chunk_seeds`, each in parallel on
/// `pool`, until a chunk holds a failure. Returns the results in seed order up to and including
/// the lowest failing seed (then the last one), or every seed's if none failed. Which seeds are
/// kept depends only on the outcomes, never on the pool's size.
fn run_until_first_failure(
    seeds: Range<u64>,
    chunk_seeds: u64,
    pool: &rayon::ThreadPool,
    run_seed: &(dyn Fn(u64) -> SeedResult + Sync),
) -> Vec<SeedResult> {
    let mut results = Vec::new();
    let mut chunk_start = seeds.start;
    while chunk_start < seeds.end {
        let chunk_end = chunk_start.saturating_add(chunk_seeds).min(seeds.end);
        let chunk: Vec<SeedResult> = pool.install(|| {
            (chunk_start..chunk_end)
                .into_par_iter()
                .map(run_seed)
                .collect()
        });
        match chunk.iter().position(SeedResult::failed) {
            Some(first_failure) => {
                results.extend(chunk.into_iter().take(first_failure + 1));
                break;
            }
            None => results.extend(chunk),
        }
        chunk_start = chunk_end;
    }
    results
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
        "marks": report.marks,
        "figures": report.figures,
        "latency_histogram": report.latency,
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
    if let Some(out) = &args.out {
        super::check_out_directory(out, args.force)?;
    }
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
    if args.explore {
        return super::explore::execute(
            &scenarios,
            seeds,
            &pool,
            jobs,
            args.fail_fast,
            &args.bugs,
            args.out.as_deref(),
            &super::explore::Reporting {
                jsonl: args.format == Format::Jsonl,
                junit: args.junit.as_deref(),
                shard: args.shard,
            },
        );
    }

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
    let done = AtomicU64::new(0);
    let failures_found = AtomicU64::new(0);
    #[allow(clippy::disallowed_methods)]
    let sweep_started = std::time::Instant::now();

    // Prints a failing seed's replay line: as it is found, or under --fail-fast once it is
    // known to be the lowest failing seed (a seed of its chunk after it is dropped unprinted).
    let announce = |path: &str, result: &SeedResult| {
        let found = failures_found.fetch_add(1, Ordering::Relaxed) + 1;
        if !human || found > FAIL_LINES_AS_FOUND + 1 {
            return;
        }
        if found == FAIL_LINES_AS_FOUND + 1 {
            let text = "(more failing seeds: counted, and listed by kind at the end)";
            match &progress {
                Some(bar) => bar.println(text),
                None => errln!("{text}"),
            }
            return;
        }
        let report = &result.report;
        let line = replay_line(path, report.seed, &args.bugs);
        let what = match result.nondeterministic {
            Some(other) => format!(
                "nondeterministic: digests {:016x} and {other:016x}",
                report.digest
            ),
            None => report.outcome.name().to_string(),
        };
        let text = format!(
            "FAIL {} seed {}: {what}\n  {line}",
            report.scenario, report.seed
        );
        match &progress {
            Some(bar) => bar.println(text),
            None => errln!("{text}"),
        }
    };

    let mut exit = super::EXIT_PASS;
    let mut all_replays = Vec::new();
    let mut junit_suites = Vec::new();
    let mut seeds_reported = 0u64;
    let mut stopped = false;
    let mut records: Vec<serde_json::Value> = Vec::new();
    let mut failing_runs: Vec<(String, u64)> = Vec::new();
    for (path, scenario) in &scenarios {
        let run_seed = |seed: u64| -> SeedResult {
            #[allow(clippy::disallowed_methods)]
            let started = std::time::Instant::now();
            let report =
                run(scenario, seed, &RunOptions::default()).expect("checked by load_scenario");
            let nondeterministic = if args.check_determinism {
                let again = run(scenario, seed, &RunOptions::default()).expect("checked");
                (again.digest != report.digest).then_some(again.digest)
            } else {
                None
            };
            let result = SeedResult {
                report: report.into(),
                wall_ms: started.elapsed().as_secs_f64() * 1e3,
                nondeterministic,
            };
            if result.failed() && !args.fail_fast {
                announce(path, &result);
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
            result
        };
        let results: Vec<SeedResult> = if stopped {
            // --fail-fast found a failure in an earlier scenario.
            Vec::new()
        } else if args.fail_fast {
            let chunk_seeds = FAIL_FAST_SEEDS_PER_JOB.saturating_mul(jobs as u64);
            let results = run_until_first_failure(seeds.clone(), chunk_seeds, &pool, &run_seed);
            if let Some(failure) = results.last().filter(|r| r.failed()) {
                announce(path, failure);
                stopped = true;
            }
            results
        } else {
            pool.install(|| seeds.clone().into_par_iter().map(run_seed).collect())
        };
        seeds_reported += results.len() as u64;
        let scenario_exit = summarise(
            path,
            scenario,
            &results,
            &args,
            human,
            &mut all_replays,
            &mut records,
        );
        failing_runs.extend(
            results
                .iter()
                .filter(|r| r.failed())
                .take(args.out_runs)
                .map(|r| (path.clone(), r.report.seed)),
        );
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
    if let Some(out) = &args.out {
        write_sweep_directory(out, &scenarios, &records, &failing_runs, &args.bugs)?;
        if human {
            outln!("sweep report: {}", out.join("index.html").display());
        }
    }
    if human {
        // The throughput counts every seed run, including those --fail-fast dropped.
        let ran = done.load(Ordering::Relaxed);
        outln!(
            "{seeds_reported} seeds in {wall_s:.2}s ({:.1} seeds/s, {jobs} jobs)",
            ran as f64 / wall_s
        );
        if ran > seeds_reported {
            outln!(
                "({} more seeds ran past the first failure and were dropped)",
                ran - seeds_reported
            );
        }
        if args.check_determinism {
            let mismatched = all_replays
                .iter()
                .filter(|(kind, _)| kind.starts_with("nondeterministic"))
                .count();
            if mismatched == 0 {
                outln!(
                    "determinism: every seed ran twice with equal trace digests ({seeds_reported} seeds)"
                );
            } else {
                outln!("determinism: {mismatched} of {seeds_reported} seeds gave two different trace digests");
            }
        }
        print_failure_groups(&all_replays);
    }
    Ok(exit)
}

fn summarise(
    path: &str,
    scenario: &Scenario,
    results: &[SeedResult],
    args: &Args,
    human: bool,
    all_replays: &mut Vec<(String, String)>,
    records: &mut Vec<serde_json::Value>,
) -> u8 {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut marks: BTreeMap<String, u64> = BTreeMap::new();
    let mut figures: BTreeMap<String, u64> = BTreeMap::new();
    let mut exit = super::EXIT_PASS;
    let (mut events, mut wall_ms, mut ran) = (0u64, 0f64, 0u64);
    for result in results.iter() {
        let report = &result.report;
        let replay = replay_line(path, report.seed, &args.bugs);
        ran += 1;
        events += report.events;
        wall_ms += result.wall_ms;
        for (mark, count) in &report.marks {
            *marks.entry(mark.clone()).or_insert(0) += count;
        }
        for (figure, &value) in &report.figures {
            figures
                .entry(figure.clone())
                .and_modify(|total| *total = combine_figure(figure, *total, value))
                .or_insert(value);
        }
        let code = if result.nondeterministic.is_some() {
            *counts.entry("nondeterministic").or_insert(0) += 1;
            super::EXIT_NONDETERMINISM
        } else {
            *counts.entry(report.outcome.name()).or_insert(0) += 1;
            report.outcome.exit_code()
        };
        exit = super::worst_exit_code(exit, code);
        if let Some((kind, message)) = failure_kind(result) {
            all_replays.push((failure_group(kind, &message), replay.clone()));
        }
        let line = record(path, result, &replay);
        if !human {
            outln!("{line}");
        }
        records.push(line);
    }
    let first_failure = results.iter().find(|r| r.failed()).map(|r| r.report.seed);
    // The protocol's rare paths that no seed reached (only for seeds that ran).
    let not_hit: Vec<&str> = if ran == 0 {
        Vec::new()
    } else {
        crate::runner::declared_marks(&scenario.protocol)
            .iter()
            .copied()
            .filter(|mark| !marks.contains_key(*mark))
            .collect()
    };
    let outcome_text: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let expect = crate::expectation::in_force(scenario, &args.bugs).filter(|_| ran > 0);
    let expect_met = expect.map(|expect| {
        let outcomes = results.iter().map(|r| &r.report.outcome);
        crate::expectation::is_met_by_sweep(expect, outcomes)
    });
    if expect_met == Some(false) {
        exit = crate::expectation::exit_code(false, exit);
    }
    if human {
        outln!(
            "{} ({path}): {ran} seeds: {}",
            scenario.name,
            outcome_text.join(", ")
        );
        if let (Some(expect), Some(false)) = (expect, expect_met) {
            let got = outcome_text.join(", ");
            outln!("  {}", crate::expectation::unmet_line(expect, &got));
        }
        if let Some(Outcome::SafetyViolation { source, message }) = results
            .iter()
            .map(|r| &r.report.outcome)
            .find(|o| matches!(o, Outcome::SafetyViolation { .. }))
        {
            let first_line = message.lines().next().unwrap_or("");
            outln!("  first violation ({source}): {first_line}");
        }
        if let (true, Some(seed)) = (args.fail_fast, first_failure) {
            // The seeds kept are the range's first seed up to this one (module doc).
            outln!("  --fail-fast: stopped at seed {seed}, {ran} seeds to the first failure");
        }
        if !figures.is_empty() {
            let text: Vec<String> = figures
                .iter()
                .map(|(name, value)| crate::runner::figure_text(name, *value))
                .collect();
            outln!("  measured: {}", text.join(", "));
        }
        if !marks.is_empty() {
            let text: Vec<String> = marks.iter().map(|(k, v)| format!("{k}×{v}")).collect();
            outln!("  marks hit: {}", text.join(" "));
        }
        if !not_hit.is_empty() {
            outln!("  marks not hit: {}", not_hit.join(" "));
        }
    }
    {
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
            "marks_not_hit": not_hit,
            "figures": figures,
            "expect": expect.map(crate::expectation::name),
            "expect_met": expect_met,
            "exit_code": exit,
        });
        if !human {
            outln!("{summary}");
        }
        records.push(summary);
    }
    exit
}

/// The group a failure is listed under: its kind and the first line of its message with every
/// number replaced by `N`, so the same bug hit at different terms, keys or times groups
/// together.
fn failure_group(kind: &str, message: &str) -> String {
    let first_line = message.lines().next().unwrap_or("").trim();
    let mut masked = String::with_capacity(first_line.len());
    let mut in_number = false;
    for c in first_line.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                masked.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            masked.push(c);
        }
    }
    if masked.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {masked}")
    }
}

/// The closing list of failing seeds: grouped by kind and message (largest group first, then
/// by first appearance), a few replay lines each.
fn print_failure_groups(failures: &[(String, String)]) {
    if failures.is_empty() {
        return;
    }
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (group, replay) in failures {
        match groups.iter_mut().find(|(name, _)| *name == group.as_str()) {
            Some((_, replays)) => replays.push(replay),
            None => groups.push((group, vec![replay])),
        }
    }
    // Stable: equal-sized groups keep their order of first appearance (seed order).
    groups.sort_by_key(|(_, replays)| std::cmp::Reverse(replays.len()));
    let kinds = if groups.len() == 1 { "kind" } else { "kinds" };
    outln!(
        "\nfailing seeds ({}, {} {kinds}):",
        failures.len(),
        groups.len()
    );
    for (group, replays) in &groups {
        outln!("{group} ({} seeds)", replays.len());
        for line in replays.iter().take(REPLAYS_PER_GROUP) {
            outln!("  {line}");
        }
        if replays.len() > REPLAYS_PER_GROUP {
            outln!(
                "  ... and {} more (`--format jsonl` lists every seed)",
                replays.len() - REPLAYS_PER_GROUP
            );
        }
    }
}

/// Writes the report directory of `sweep --out`: `results.jsonl` (the `--format jsonl`
/// records), `summary.md` and `index.html` (both from the records alone, as `report merge`
/// computes them), and a run directory under `runs/` for each of `failing` (re-run with the
/// report's observations).
fn write_sweep_directory(
    out: &Path,
    scenarios: &[(String, Scenario)],
    records: &[serde_json::Value],
    failing: &[(String, u64)],
    bugs: &[String],
) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut jsonl = String::new();
    for record in records {
        jsonl.push_str(&record.to_string());
        jsonl.push('\n');
    }
    write_atomically(&out.join("results.jsonl"), jsonl.as_bytes())?;
    let summary = reports::summary::summarise(records)?;
    let mut links = BTreeMap::new();
    for (path, seed) in failing {
        let Some((_, scenario)) = scenarios.iter().find(|(p, _)| p == path) else {
            continue;
        };
        let report = run(scenario, *seed, &super::run::report_options(false))?;
        let leaf = format!("{}-s{seed}", scenario.name);
        let directory = out.join("runs").join(&leaf);
        let replay = replay_line(path, *seed, bugs);
        super::run::write_run_directory(&directory, scenario, &report, &replay, None)?;
        links.insert((path.clone(), *seed), format!("runs/{leaf}/index.html"));
    }
    write_report_pages(out, &summary, &links)
}

/// Writes `summary.md` and `index.html` of a sweep report directory.
///
/// # Errors
/// I/O errors, with the path.
pub fn write_report_pages(
    out: &Path,
    summary: &reports::summary::Summary,
    links: &BTreeMap<(String, u64), String>,
) -> anyhow::Result<()> {
    write_atomically(
        &out.join("summary.md"),
        reports::summary::summary_markdown(summary).as_bytes(),
    )?;
    write_atomically(
        &out.join("index.html"),
        reports::summary::summary_html(summary, links).as_bytes(),
    )
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
    results: &[SeedResult],
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
    let ran: Vec<&SeedResult> = results.iter().collect();
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
    // Under --fail-fast, the seeds after the first failure (or all, after an earlier scenario's).
    let not_run = (seeds.end - seeds.start) as usize - ran.len();
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
