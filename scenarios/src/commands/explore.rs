//! `faultline sweep --explore`: a sweep that steers by coverage (FoundationDB's and
//! Antithesis's idea, on faultline's fault plans).
//!
//! ```text
//! phase 1: the first half of the seed range runs as a plain sweep; every seed's marks are
//!          kept (with crash points on, `passed:NAME` and `crashed:NAME` too)
//! rarity:  a mark hit by few seeds is rare; a seed scores the sum over the rare marks it hit
//!          of 1 / (seeds that hit it); the best EXPLORE_CORPUS seeds are kept
//! phase 2: the other half of the budget runs mutants of the kept seeds' fault plans, round
//!          robin: a crash armed at a rare crash point (`CrashAt`/`PowerLossAt`), a fault
//!          moved in time, a crash repeated elsewhere, a fault dropped
//! ```
//!
//! Determinism: which seeds are kept depends only on phase 1's results in seed order, and
//! mutant `i` draws its edits from a stream seeded by (its parent seed, `i`), so the same
//! command explores the same mutants on any `--jobs`. A failing mutant is written as a
//! scripted scenario (to `--out DIR/explore/`, or `faultline-explore/`) and printed as one
//! `faultline replay FILE --seed N` line that replays it. `--fail-fast` stops at the first
//! failure in phase 1's seed order, then in phase 2's mutant order.
//!
//! Output: human (the default); `--format jsonl`, one record per run (`"type": "seed"` for
//! phase 1, `"mutant"` for phase 2) and a `"summary"` per scenario; `--junit FILE`, one suite
//! per scenario (an aggregate `explore` testcase, then one testcase per failing run carrying
//! its replay line). `--shard M/N` explores block M of N of the seed range on its own.

use super::output::{errln, outln};
use crate::runner::{replay_line, run, RunOptions};
use crate::scenario::Scenario;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use rayon::prelude::*;
use sim_core::faults::{FaultAction, FaultPlan, TimedFault};
use sim_core::id::NodeId;
use sim_core::prng::{Prng, Stream};
use sim_core::time::{Duration, Instant};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How many seeds phase 1 keeps to mutate.
pub const EXPLORE_CORPUS: usize = 8;
/// A mark is rare when at most this share (in percent) of phase 1's seeds hit it.
pub const RARE_PERCENT: u64 = 10;
/// Mutants run in chunks of this many per job (as `--fail-fast` seeds do).
const CHUNK_PER_JOB: usize = 4;

/// What one explored run found.
struct Found {
    /// Phase 1: the seed; phase 2: the parent seed.
    seed: u64,
    /// Phase 2: the mutant's index.
    mutant: Option<usize>,
    outcome_name: &'static str,
    message: String,
    failed: bool,
    marks: BTreeMap<String, u64>,
    /// Phase 2: the mutated scenario (to write when it fails).
    scenario: Option<Scenario>,
}

/// Where an exploration reports, beside its exit code.
pub struct Reporting<'a> {
    /// One JSON record per run and a summary per scenario instead of human lines.
    pub jsonl: bool,
    /// A JUnit XML report to write.
    pub junit: Option<&'a Path>,
    /// The shard `M/N` whose block of the seed range this is (for the reports).
    pub shard: Option<(u64, u64)>,
}

/// Runs `--explore` over `scenarios` and returns the exit code.
///
/// # Errors
/// Writing a failing mutant's scenario file or the JUnit report.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    scenarios: &[(String, Scenario)],
    seeds: std::ops::Range<u64>,
    pool: &rayon::ThreadPool,
    jobs: usize,
    fail_fast: bool,
    bugs: &[String],
    out: Option<&Path>,
    reporting: &Reporting<'_>,
) -> anyhow::Result<u8> {
    // The JUnit report's wall time (a report figure, never a simulation input).
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let mut exit = super::EXIT_PASS;
    let mut suites: Vec<TestSuite> = Vec::new();
    for (path, scenario) in scenarios {
        let budget = seeds.end.saturating_sub(seeds.start);
        let phase_1_end = seeds.start + budget.div_ceil(2);
        let mutant_count = (budget - (phase_1_end - seeds.start)) as usize;
        let run_seed = |seed: u64| -> Found {
            let report = run(scenario, seed, &RunOptions::default()).expect("checked on load");
            Found {
                seed,
                mutant: None,
                outcome_name: report.outcome.name(),
                message: report.outcome.message().unwrap_or_default().to_string(),
                failed: report.outcome.is_failure(),
                marks: report.marks,
                scenario: None,
            }
        };
        let phase_1 = in_chunks(
            (seeds.start..phase_1_end).collect(),
            jobs,
            pool,
            fail_fast,
            &run_seed,
        );
        let rare = rare_marks(&phase_1);
        let corpus = corpus(&phase_1, &rare);
        let mut failures: Vec<String> = Vec::new();
        // (testcase name, outcome, message, replay line) of each failing run, for JUnit.
        let mut failing_runs: Vec<(String, &'static str, String, String)> = Vec::new();
        let mut worst = super::EXIT_PASS;
        for found in &phase_1 {
            let replay = replay_line(path, found.seed, bugs);
            if reporting.jsonl {
                outln!("{}", run_record(path, scenario, found, &replay));
            }
            if !found.failed {
                continue;
            }
            failures.push(format!(
                "FAIL {} seed {}: {}\n  {}",
                scenario.name, found.seed, found.outcome_name, replay
            ));
            failing_runs.push((
                format!("seed {}", found.seed),
                found.outcome_name,
                found.message.clone(),
                replay,
            ));
            worst = worst.max(1);
        }
        let stop_now = fail_fast && !failures.is_empty();
        // Phase 2: mutants of the corpus, round robin.
        let parents: Vec<(u64, FaultPlan, BTreeMap<String, u64>)> = if stop_now {
            Vec::new()
        } else {
            corpus
                .iter()
                .map(|&seed| {
                    let report =
                        run(scenario, seed, &RunOptions::default()).expect("checked on load");
                    (seed, report.plan, report.marks)
                })
                .collect()
        };
        let rare_points: Vec<String> = rare
            .keys()
            .filter_map(|mark| mark.strip_prefix("passed:").map(str::to_string))
            .collect();
        let run_mutant = |index: usize| -> Found {
            let (parent, plan, marks) = &parents[index % parents.len()];
            let mut rng = Prng::new(
                parent.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64,
                Stream::Custom(20),
            );
            let plan = mutate(scenario, plan, marks, &rare_points, &mut rng);
            let text = scenario.to_ron_with_script(&plan);
            let mut mutated = match Scenario::from_str(&text, "mutant") {
                Ok(mutated) => mutated,
                Err(_) => scenario.clone(), // cannot happen for a valid plan; run the parent
            };
            mutated.name = format!("{}-s{parent}-m{index}", scenario.name);
            let report = run(&mutated, *parent, &RunOptions::default()).expect("checked");
            Found {
                seed: *parent,
                mutant: Some(index),
                outcome_name: report.outcome.name(),
                message: report.outcome.message().unwrap_or_default().to_string(),
                failed: report.outcome.is_failure(),
                marks: report.marks,
                scenario: Some(mutated),
            }
        };
        let phase_2 = if parents.is_empty() {
            Vec::new()
        } else {
            in_chunks(
                (0..mutant_count).collect(),
                jobs,
                pool,
                fail_fast,
                &run_mutant,
            )
        };
        let mut new_marks: BTreeMap<&str, u64> = BTreeMap::new();
        for found in &phase_2 {
            for mark in found.marks.keys() {
                if !phase_1.iter().any(|seen| seen.marks.contains_key(mark)) {
                    *new_marks.entry(mark).or_insert(0) += 1;
                }
            }
            if !found.failed {
                if reporting.jsonl {
                    outln!("{}", run_record(path, scenario, found, ""));
                }
                continue;
            }
            let mutated = found.scenario.as_ref().expect("phase 2 keeps its scenario");
            let file = write_mutant(out, mutated)?;
            let replay = replay_line(&file.display().to_string(), found.seed, &[]);
            if reporting.jsonl {
                outln!("{}", run_record(path, scenario, found, &replay));
            }
            failures.push(format!(
                "FAIL {} (mutant {} of seed {}): {}: {}\n  {}",
                scenario.name,
                found.mutant.unwrap_or(0),
                found.seed,
                found.outcome_name,
                found.message,
                replay
            ));
            failing_runs.push((
                format!(
                    "mutant {} of seed {}",
                    found.mutant.unwrap_or(0),
                    found.seed
                ),
                found.outcome_name,
                found.message.clone(),
                replay,
            ));
            worst = worst.max(1);
        }
        let failed_runs = failures.len();
        let total_runs = phase_1.len() + phase_2.len();
        if reporting.junit.is_some() {
            suites.push(junit_suite(
                path,
                scenario,
                &seeds,
                reporting.shard,
                total_runs,
                &failing_runs,
            ));
        }
        if reporting.jsonl {
            let summary = serde_json::json!({
                "type": "summary",
                "version": 1,
                "scenario": scenario.name,
                "path": path,
                "seeds": phase_1.len(),
                "mutants": phase_2.len(),
                "corpus": corpus,
                "rare_marks": rare,
                "marks_only_mutants": new_marks,
                "failing": failed_runs,
                "exit_code": worst,
            });
            outln!("{summary}");
            exit = exit.max(worst);
            if fail_fast && failed_runs > 0 {
                break;
            }
            continue;
        }
        outln!(
            "{} ({path}): explore: {} seeds, then {} mutants of seeds {:?}",
            scenario.name,
            phase_1.len(),
            phase_2.len(),
            corpus
        );
        let rare_text: Vec<String> = rare.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        outln!(
            "  rare marks (seeds that hit them): {}",
            if rare_text.is_empty() {
                "none".to_string()
            } else {
                rare_text.join(" ")
            }
        );
        if !new_marks.is_empty() {
            let text: Vec<String> = new_marks.iter().map(|(k, v)| format!("{k}×{v}")).collect();
            outln!("  marks only mutants hit: {}", text.join(" "));
        }
        outln!("  failing: {} of {} runs", failed_runs, total_runs);
        for line in &failures {
            errln!("{line}");
        }
        exit = exit.max(worst);
        if fail_fast && failed_runs > 0 {
            break;
        }
    }
    if let Some(junit) = reporting.junit {
        let mut report = Report::new(match reporting.shard {
            Some((m, n)) => format!("faultline sweep --explore (shard {m}/{n})"),
            None => "faultline sweep --explore".to_string(),
        });
        report.set_time(started.elapsed());
        report.add_test_suites(suites);
        let xml = report
            .to_string()
            .map_err(|error| anyhow::anyhow!("serialising the JUnit report: {error}"))?;
        super::atomic::write_atomically(junit, xml.as_bytes())?;
        if !reporting.jsonl {
            outln!("JUnit report: {}", junit.display());
        }
    }
    Ok(exit)
}

/// One run's JSONL record: a phase-1 seed (`"type": "seed"`) or a phase-2 mutant
/// (`"type": "mutant"`, with its index and parent seed); `replay` is empty for a passing
/// mutant (no file is written for it).
fn run_record(path: &str, scenario: &Scenario, found: &Found, replay: &str) -> serde_json::Value {
    serde_json::json!({
        "type": if found.mutant.is_some() { "mutant" } else { "seed" },
        "version": 1,
        "scenario": scenario.name,
        "path": path,
        "seed": found.seed,
        "mutant": found.mutant,
        "outcome": found.outcome_name,
        "message": if found.message.is_empty() { None } else { Some(&found.message) },
        "replay": if replay.is_empty() { None } else { Some(replay) },
        "marks": found.marks,
    })
}

/// The JUnit suite of one explored scenario: an aggregate `explore` testcase, then one
/// testcase per failing run with its replay line.
fn junit_suite(
    path: &str,
    scenario: &Scenario,
    seeds: &std::ops::Range<u64>,
    shard: Option<(u64, u64)>,
    total_runs: usize,
    failing: &[(String, &'static str, String, String)],
) -> TestSuite {
    let mut suite = TestSuite::new(scenario.name.as_str());
    suite.add_property(Property::new("path", path));
    suite.add_property(Property::new(
        "seeds",
        format!("{}..{}", seeds.start, seeds.end),
    ));
    if let Some((m, n)) = shard {
        suite.add_property(Property::new("shard", format!("{m}/{n}")));
    }
    let summary = format!("{} of {} runs failed", failing.len(), total_runs);
    let mut aggregate = match failing.first() {
        None => TestCase::new("explore", TestCaseStatus::success()),
        Some((_, _, _, replay)) => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(format!("{summary}; first: {replay}"))
                .set_type("exit 1");
            TestCase::new("explore", status)
        }
    };
    aggregate
        .set_classname(scenario.name.as_str())
        .set_system_out(summary);
    suite.add_test_case(aggregate);
    for (name, kind, message, replay) in failing {
        let non_success = if *kind == "panic" {
            NonSuccessKind::Error
        } else {
            NonSuccessKind::Failure
        };
        let mut status = TestCaseStatus::non_success(non_success);
        status
            .set_message(format!("{kind}: {replay}"))
            .set_type(*kind)
            .set_description(format!("{replay}\n\n{message}"));
        let mut case = TestCase::new(name.as_str(), status);
        case.set_classname(scenario.name.as_str());
        suite.add_test_case(case);
    }
    suite
}

/// Runs `items` in chunks of `CHUNK_PER_JOB x jobs` on `pool`, results in item order; with
/// `fail_fast`, stops after the chunk holding the first failure and drops what follows it.
fn in_chunks<T: Copy + Send + Sync>(
    items: Vec<T>,
    jobs: usize,
    pool: &rayon::ThreadPool,
    fail_fast: bool,
    run_one: &(dyn Fn(T) -> Found + Sync),
) -> Vec<Found> {
    let chunk = (CHUNK_PER_JOB * jobs).max(1);
    let mut results = Vec::with_capacity(items.len());
    for part in items.chunks(chunk) {
        let found: Vec<Found> =
            pool.install(|| part.par_iter().map(|&item| run_one(item)).collect());
        match found.iter().position(|found| found.failed) {
            Some(first) if fail_fast => {
                results.extend(found.into_iter().take(first + 1));
                break;
            }
            _ => results.extend(found),
        }
    }
    results
}

/// The marks at most `RARE_PERCENT`% of the seeds hit (at least one), with how many seeds did.
fn rare_marks(found: &[Found]) -> BTreeMap<String, u64> {
    let mut seeds_hitting: BTreeMap<String, u64> = BTreeMap::new();
    for result in found {
        for mark in result.marks.keys() {
            *seeds_hitting.entry(mark.clone()).or_insert(0) += 1;
        }
    }
    let bound = (found.len() as u64 * RARE_PERCENT / 100).max(1);
    seeds_hitting.retain(|_, seeds| *seeds <= bound);
    seeds_hitting
}

/// The seeds that hit the rarest marks: score = sum over rare marks hit of
/// 1,000,000 / seeds hitting it; ties to the lower seed. Without rare marks, the first seeds.
fn corpus(found: &[Found], rare: &BTreeMap<String, u64>) -> Vec<u64> {
    let mut scored: Vec<(u64, u64)> = found
        .iter()
        .filter(|result| !result.failed)
        .map(|result| {
            let score = rare
                .iter()
                .filter(|(mark, _)| result.marks.contains_key(*mark))
                .map(|(_, seeds)| 1_000_000 / seeds)
                .sum();
            (score, result.seed)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(EXPLORE_CORPUS)
        .map(|(_, seed)| seed)
        .collect()
}

/// One to three edits of `plan`: arm a crash at a crash point (rare ones first), move a fault,
/// repeat a crash at another time, drop a fault. Times stay within phase 1.
fn mutate(
    scenario: &Scenario,
    plan: &FaultPlan,
    marks: &BTreeMap<String, u64>,
    rare_points: &[String],
    rng: &mut Prng,
) -> FaultPlan {
    let mut faults = plan.faults.clone();
    let end = scenario.duration.as_nanos().max(1);
    let declared = scenario.protocol.protocol.crash_points();
    let nodes = u64::from(scenario.node_count);
    let edits = 1 + rng.below(3);
    for _ in 0..edits {
        match rng.below(4) {
            0 if !declared.is_empty() => {
                // Prefer a rare crash point this parent passed; else any it passed; else any.
                let passed: Vec<&str> = declared
                    .iter()
                    .copied()
                    .filter(|point| marks.contains_key(&format!("passed:{point}")))
                    .collect();
                let rare: Vec<&str> = passed
                    .iter()
                    .copied()
                    .filter(|point| rare_points.iter().any(|rare| rare == point))
                    .collect();
                let pool = if !rare.is_empty() {
                    rare
                } else if !passed.is_empty() {
                    passed
                } else {
                    declared.to_vec()
                };
                let point = pool[rng.index(pool.len())];
                let passages = marks.get(&format!("passed:{point}")).copied().unwrap_or(1);
                let per_node = (passages / nodes).max(1);
                let node = NodeId(rng.below(nodes) as u32);
                let restart_at = Instant(rng.below(end));
                faults.push(TimedFault {
                    at: Instant::ZERO,
                    action: FaultAction::CrashAt {
                        node,
                        point: point.to_string(),
                        nth: rng.range_inclusive(1, per_node.min(u64::from(u32::MAX))) as u32,
                        lose_unsynced: rng.below(2) == 0,
                    },
                });
                faults.push(TimedFault {
                    at: restart_at,
                    action: FaultAction::Restart { node },
                });
            }
            1 if !faults.is_empty() => {
                let index = rng.index(faults.len());
                let shift = rng.below(end / 10 + 1) as i64 * if rng.below(2) == 0 { 1 } else { -1 };
                let at = (faults[index].at.as_nanos() as i64 + shift).clamp(0, end as i64 - 1);
                faults[index].at = Instant(at as u64);
            }
            2 => {
                let crashes: Vec<usize> = (0..faults.len())
                    .filter(|&i| matches!(faults[i].action, FaultAction::Crash { .. }))
                    .collect();
                let node = NodeId(rng.below(nodes) as u32);
                let lose_unsynced = if crashes.is_empty() {
                    rng.below(2) == 0
                } else {
                    let FaultAction::Crash { lose_unsynced, .. } =
                        faults[crashes[rng.index(crashes.len())]].action
                    else {
                        unreachable!("filtered above")
                    };
                    lose_unsynced
                };
                let at = rng.below(end);
                let down = Duration(rng.range_inclusive(1, (end / 20).max(1)));
                faults.push(TimedFault {
                    at: Instant(at),
                    action: FaultAction::Crash {
                        node,
                        lose_unsynced,
                    },
                });
                faults.push(TimedFault {
                    at: Instant((at + down.0).min(end - 1)),
                    action: FaultAction::Restart { node },
                });
            }
            _ if !faults.is_empty() => {
                let index = rng.index(faults.len());
                faults.remove(index);
            }
            _ => {}
        }
    }
    faults.sort_by_key(|fault| fault.at);
    FaultPlan { faults }
}

/// Writes a failing mutant's scenario and returns its path.
fn write_mutant(out: Option<&Path>, scenario: &Scenario) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    let directory = match out {
        Some(out) => out.join("explore"),
        None => PathBuf::from("faultline-explore"),
    };
    std::fs::create_dir_all(&directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let file = directory.join(format!("{}.ron", scenario.name));
    let text = format!(
        "// A fault plan `faultline sweep --explore` derived from a seed of a catalogue file;\n// it fails as written.\n{}",
        scenario.to_ron_resolved()
    );
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}
