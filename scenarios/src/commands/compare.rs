//! `faultline compare A.ron B.ron ... --seeds A..B [--out DIR]`: scenarios side by side on the
//! same seeds under the same faults. Scenarios whose fault plans could differ (another node
//! count, duration, recovery or fault schedule) are refused: their numbers would not compare.
//!
//! Prints a table (and writes `compare.md` and `index.html` with `--out`): outcome counts,
//! seeds/s and events/s, operations ok/fail/info, latency percentiles of ok operations,
//! availability (ok operations per second) during and outside fault intervals, and the time
//! without a leader after a leader crashes (from the run pages' node lanes); the page adds the
//! latency CDFs.

use super::output::outln;
use crate::runner::{run, RunOptions};
use crate::scenario::Scenario;
use rayon::prelude::*;
use reports::data::{
    fault_spans, fault_union, leaderless_after_crashes, node_lanes, pair_operations,
    quantile_per_mille, OpOutcome,
};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

/// Arguments of `faultline compare`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Two or more scenario files with the same fault plan.
    #[arg(required = true, num_args = 2..)]
    pub scenarios: Vec<PathBuf>,
    /// Seed range `A..B` (B exclusive).
    #[arg(long, value_parser = super::sweep::parse_range, default_value = "0..20")]
    pub seeds: (u64, u64),
    /// Worker threads (default: every core).
    #[arg(long, env = "FAULTLINE_JOBS")]
    pub jobs: Option<usize>,
    /// Write `compare.md` and `index.html` here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write into a non-empty `--out` directory (files of the same name are replaced).
    #[arg(long)]
    pub force: bool,
}

/// One scenario's figures over the seeds.
struct Column {
    name: String,
    outcomes: BTreeMap<String, u64>,
    wall_s: f64,
    seeds: u64,
    events: u64,
    /// Operations ended ok, fail, info (indeterminate).
    ops: [u64; 3],
    /// Per crash of a leading node: nanoseconds until a node leads again (sorted).
    leaderless: Vec<u64>,
    /// Sorted latencies of ok operations.
    latencies: Vec<u64>,
    ok_during: u64,
    during_nanos: u64,
    ok_outside: u64,
    outside_nanos: u64,
}

fn same_plan(a: &Scenario, b: &Scenario) -> Result<(), String> {
    // A scripted schedule names its nodes, so it is the same plan on clusters of different
    // sizes (a single coordinator against a replicated one); a generated one is not.
    let scripted = matches!(a.faults, crate::scenario::FaultSpec::Script(_));
    if a.node_count != b.node_count && !scripted {
        return Err(format!(
            "node counts differ ({} and {})",
            a.node_count, b.node_count
        ));
    }
    if a.duration != b.duration || a.recovery != b.recovery {
        return Err(format!(
            "durations differ ({}+{} and {}+{} of faults+recovery)",
            a.duration, a.recovery, b.duration, b.recovery
        ));
    }
    if a.faults != b.faults {
        return Err("their fault schedules differ (`faults:`)".into());
    }
    Ok(())
}

/// Runs the command.
pub fn execute(args: Args) -> anyhow::Result<u8> {
    let scenarios: Vec<(String, Scenario)> = args
        .scenarios
        .iter()
        .map(|path| Ok((path.display().to_string(), super::load_scenario(path, &[])?)))
        .collect::<anyhow::Result<_>>()?;
    if let Some(out) = &args.out {
        super::check_out_directory(out, args.force)?;
    }
    let (first_path, first) = &scenarios[0];
    for (path, scenario) in &scenarios[1..] {
        if let Err(why) = same_plan(first, scenario) {
            anyhow::bail!(
                "{first_path} and {path} cannot be compared: {why}; compare scenarios that differ \
                 only in protocol, application parameters or workload"
            );
        }
    }
    let (start, end) = args.seeds;
    anyhow::ensure!(end > start, "--seeds {start}..{end} is empty");
    let (_, pool) = super::sweep::seed_pool(args.jobs)?;
    let mut columns = Vec::new();
    for (_, scenario) in &scenarios {
        #[allow(clippy::disallowed_methods)]
        let started = std::time::Instant::now();
        let per_seed: Vec<_> = pool.install(|| {
            (start..end)
                .into_par_iter()
                .map(|seed| {
                    // Observations too, for the node lanes the leaderless figure reads.
                    let options = RunOptions {
                        record_observations: true,
                        ..RunOptions::default()
                    };
                    let report = run(scenario, seed, &options).expect("supported");
                    let ops = pair_operations(&report.history);
                    let recovery = scenario.duration.as_nanos();
                    let spans = fault_spans(&report.faults_applied, scenario.node_count, recovery);
                    let lanes = node_lanes(
                        scenario.node_count,
                        &report.observations,
                        &spans,
                        report.simulated_nanos,
                    );
                    let leaderless = leaderless_after_crashes(&lanes, &spans, recovery);
                    let faults = fault_union(&spans);
                    let mut counts = [0u64; 3];
                    for op in &ops {
                        counts[match op.outcome {
                            OpOutcome::Ok => 0,
                            OpOutcome::Fail => 1,
                            _ => 2,
                        }] += 1;
                    }
                    let during_nanos: u64 = faults.iter().map(|(a, b)| b - a).sum();
                    let (mut latencies, mut ok_during, mut ok_outside) = (Vec::new(), 0, 0);
                    for op in ops.iter().filter(|op| op.outcome == OpOutcome::Ok) {
                        latencies.extend(op.latency_nanos());
                        let end = op.end_nanos.unwrap_or(0);
                        if end >= recovery {
                            continue;
                        }
                        if faults.iter().any(|&(a, b)| (a..b).contains(&end)) {
                            ok_during += 1;
                        } else {
                            ok_outside += 1;
                        }
                    }
                    let outside_nanos = recovery.saturating_sub(during_nanos);
                    let outcome = report.outcome.name().to_string();
                    (
                        (outcome, report.events, counts, leaderless),
                        latencies,
                        ok_during,
                        during_nanos,
                        ok_outside,
                        outside_nanos,
                    )
                })
                .collect()
        });
        let mut column = Column {
            name: scenario.name.clone(),
            outcomes: BTreeMap::new(),
            wall_s: started.elapsed().as_secs_f64(),
            seeds: end - start,
            events: 0,
            ops: [0; 3],
            leaderless: Vec::new(),
            latencies: Vec::new(),
            ok_during: 0,
            during_nanos: 0,
            ok_outside: 0,
            outside_nanos: 0,
        };
        for (
            (outcome, events, ops, leaderless),
            latencies,
            ok_during,
            during,
            ok_outside,
            outside,
        ) in per_seed
        {
            *column.outcomes.entry(outcome).or_insert(0) += 1;
            column.events += events;
            for (total, count) in column.ops.iter_mut().zip(ops) {
                *total += count;
            }
            column.leaderless.extend(leaderless);
            column.latencies.extend(latencies);
            column.ok_during += ok_during;
            column.during_nanos += during;
            column.ok_outside += ok_outside;
            column.outside_nanos += outside;
        }
        column.latencies.sort_unstable();
        column.leaderless.sort_unstable();
        columns.push(column);
    }
    let table = markdown_table(&columns, start, end);
    outln!("{table}");
    if let Some(out) = &args.out {
        use anyhow::Context;
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        std::fs::write(out.join("compare.md"), format!("# Comparison\n\n{table}"))
            .with_context(|| format!("writing {}", out.join("compare.md").display()))?;
        std::fs::write(out.join("index.html"), page(&columns, &table))
            .with_context(|| format!("writing {}", out.join("index.html").display()))?;
        outln!("comparison: {}", out.join("index.html").display());
    }
    Ok(super::EXIT_PASS)
}

fn per_second(count: u64, nanos: u64) -> f64 {
    if nanos == 0 {
        0.0
    } else {
        count as f64 / (nanos as f64 / 1e9)
    }
}

fn millis(nanos: Option<u64>) -> String {
    nanos.map_or("-".into(), |n| format!("{:.1}", n as f64 / 1e6))
}

fn markdown_table(columns: &[Column], start: u64, end: u64) -> String {
    let mut out = format!(
        "Seeds {start}..{end}, the same fault plan per seed. Operations are totals over the \
         seeds (info: indeterminate). Availability: ok operations per second of the fault \
         phase, inside and outside fault intervals. No leader: after each crash of a leading \
         node, the time until some node leads again, from the node lanes (median and max over \
         the crashes counted).\n\n"
    );
    out.push_str(
        "| scenario | outcomes | seeds/s | events/s | ok / fail / info | p50 ms | p99 ms | max ms \
         | ok/s during faults | ok/s outside faults | leader crashes | no leader p50 ms | no leader max ms |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in columns {
        let outcomes: Vec<String> = c.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let wall_s = c.wall_s.max(1e-9);
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.0} | {} / {} / {} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {} |",
            c.name,
            outcomes.join(", "),
            c.seeds as f64 / wall_s,
            c.events as f64 / wall_s,
            c.ops[0],
            c.ops[1],
            c.ops[2],
            millis(quantile_per_mille(&c.latencies, 500)),
            millis(quantile_per_mille(&c.latencies, 990)),
            millis(c.latencies.last().copied()),
            per_second(c.ok_during, c.during_nanos),
            per_second(c.ok_outside, c.outside_nanos),
            c.leaderless.len(),
            millis(quantile_per_mille(&c.leaderless, 500)),
            millis(c.leaderless.last().copied()),
        );
    }
    out
}

fn page(columns: &[Column], table: &str) -> String {
    use reports::html::{escape, page_start, PAGE_END};
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let mut out = page_start("faultline compare");
    out.push_str("<h1>Protocols side by side</h1>\n");
    let _ = writeln!(out, "<pre class=\"table\">{}</pre>", escape(table));
    out.push_str("<h2>Latency CDF (ok operations)</h2>\n");
    let series: Vec<(String, Vec<u64>)> = columns
        .iter()
        .map(|c| (c.name.clone(), c.latencies.clone()))
        .collect();
    out.push_str(&reports::charts::latency_cdf(&series));
    out.push_str("<h2>Availability (ok operations per second)</h2>\n");
    let groups = vec!["during faults".to_string(), "outside faults".to_string()];
    let values: Vec<Vec<f64>> = columns
        .iter()
        .map(|c| {
            vec![
                per_second(c.ok_during, c.during_nanos),
                per_second(c.ok_outside, c.outside_nanos),
            ]
        })
        .collect();
    out.push_str(&reports::charts::grouped_bars(
        &groups,
        &names,
        &values,
        "ok operations / s",
    ));
    out.push_str("<h2>Outcomes</h2>\n");
    let mut outcome_names: Vec<String> = columns
        .iter()
        .flat_map(|c| c.outcomes.keys().cloned())
        .collect();
    outcome_names.sort();
    outcome_names.dedup();
    let counts: Vec<Vec<f64>> = columns
        .iter()
        .map(|c| {
            outcome_names
                .iter()
                .map(|o| c.outcomes.get(o).copied().unwrap_or(0) as f64)
                .collect()
        })
        .collect();
    out.push_str(&reports::charts::grouped_bars(
        &outcome_names,
        &names,
        &counts,
        "seeds",
    ));
    out.push_str("<h2>Seeds per second</h2>\n");
    let speed: Vec<Vec<f64>> = columns
        .iter()
        .map(|c| vec![c.seeds as f64 / c.wall_s.max(1e-9)])
        .collect();
    out.push_str(&reports::charts::grouped_bars(
        &["seeds/s".to_string()],
        &names,
        &speed,
        "seeds / s",
    ));
    out.push_str(PAGE_END);
    out
}
