//! Sweep summaries: `summary.md` and `index.html` of `faultline sweep --out`, computed from the
//! records of `results.jsonl` alone, so `faultline report merge` of shard outputs gives the
//! whole sweep's summary (records are sorted by scenario path and seed, and every number is a
//! sum, a count, a maximum or a histogram that adds).
//!
//! Latencies are kept per seed as a histogram of quarter-octave buckets (at most 19% wide),
//! which merges exactly; percentiles are reported as their bucket's upper bound.

use crate::html::{escape, page_start, PAGE_END};
use serde_json::Value as Json;
use sim_core::history::{EventType, HistoryEvent};
use sim_core::node::combine_figure;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The histogram bucket of a latency: four per power of two.
pub fn latency_bucket(nanos: u64) -> u32 {
    let nanos = nanos.max(1);
    let log2 = 63 - nanos.leading_zeros();
    let quarter = if log2 >= 2 {
        (nanos >> (log2 - 2)) & 3
    } else {
        0
    };
    log2 * 4 + quarter as u32
}

/// The largest latency in `bucket`.
pub fn bucket_upper_nanos(bucket: u32) -> u64 {
    let (log2, quarter) = (bucket / 4, u64::from(bucket % 4));
    if log2 < 2 {
        return (1u64 << (log2 + 1)) - 1;
    }
    ((4 + quarter + 1) << (log2 - 2)) - 1
}

/// The latency histogram of a history's completed operations (ok, fail and info).
pub fn latency_histogram(history: &[HistoryEvent]) -> BTreeMap<u32, u64> {
    let mut invoked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut histogram = BTreeMap::new();
    for event in history {
        match event.kind {
            EventType::Invoke => {
                invoked.insert(event.process, event.time);
            }
            _ => {
                if let Some(start) = invoked.remove(&event.process) {
                    *histogram
                        .entry(latency_bucket(event.time.saturating_sub(start)))
                        .or_insert(0) += 1;
                }
            }
        }
    }
    histogram
}

/// The `per_mille` quantile of a histogram, as its bucket's upper bound.
pub fn histogram_quantile(histogram: &BTreeMap<u32, u64>, per_mille: u64) -> Option<u64> {
    let total: u64 = histogram.values().sum();
    if total == 0 {
        return None;
    }
    let rank = (per_mille * total).div_ceil(1000).max(1);
    let mut seen = 0;
    for (&bucket, &count) in histogram {
        seen += count;
        if seen >= rank {
            return Some(bucket_upper_nanos(bucket));
        }
    }
    None
}

/// A failing seed in a summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailingSeed {
    /// The seed.
    pub seed: u64,
    /// Its outcome.
    pub outcome: String,
    /// `faultline replay ...`.
    pub replay: String,
    /// The first line of its message.
    pub explanation: String,
}

/// One scenario's part of a sweep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScenarioSummary {
    /// Its name.
    pub name: String,
    /// Its file.
    pub path: String,
    /// Seeds reported.
    pub seeds: u64,
    /// Outcome counts.
    pub outcomes: BTreeMap<String, u64>,
    /// Sum of the seeds' wall times (ms).
    pub wall_ms: f64,
    /// Marks hit over all seeds.
    pub marks: BTreeMap<String, u64>,
    /// Declared marks no seed hit.
    pub marks_not_hit: BTreeSet<String>,
    /// Latency histogram over all seeds.
    pub latency: BTreeMap<u32, u64>,
    /// Failing seeds, lowest first.
    pub failing: Vec<FailingSeed>,
    /// What the protocol's checker measured over all seeds (`figures` of the seed records:
    /// time in doubt, isolation anomalies, how stale reads were), added up by
    /// `sim_core::node::combine_figure`: a name ending in `_max` by its maximum, any other by
    /// its sum. Empty for protocols that measure nothing.
    pub figures: BTreeMap<String, u64>,
}

/// A sweep's summary: one part per scenario file, in path order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// The scenarios.
    pub scenarios: Vec<ScenarioSummary>,
}

/// Why records cannot be summarised.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SummaryError(pub String);

fn u64_map(value: &Json) -> BTreeMap<String, u64> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Summarises `results.jsonl` records (seed and summary records, in any order, from any
/// number of shards). A seed reported twice (overlapping shards) counts once.
///
/// # Errors
/// A record without the fields a summary needs.
pub fn summarise(records: &[Json]) -> Result<Summary, SummaryError> {
    let mut seeds: BTreeMap<(String, u64), &Json> = BTreeMap::new();
    // Per path: the marks not hit, intersected over shards.
    let mut not_hit: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for record in records {
        let path = record["path"]
            .as_str()
            .ok_or_else(|| SummaryError(format!("a record without \"path\": {record}")))?
            .to_string();
        match record["type"].as_str() {
            Some("seed") => {
                let seed = record["seed"].as_u64().ok_or_else(|| {
                    SummaryError(format!("a seed record without \"seed\": {record}"))
                })?;
                seeds.insert((path, seed), record);
            }
            // A shard that ran no seed lists no marks as not hit: it says nothing about them.
            Some("summary") if record["seeds"].as_u64() == Some(0) => {}
            Some("summary") => {
                let shard: BTreeSet<String> = record["marks_not_hit"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|m| m.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                not_hit
                    .entry(path)
                    .and_modify(|all| *all = all.intersection(&shard).cloned().collect())
                    .or_insert(shard);
            }
            _ => return Err(SummaryError(format!("a record of unknown type: {record}"))),
        }
    }
    let mut by_path: BTreeMap<String, ScenarioSummary> = BTreeMap::new();
    for ((path, seed), record) in &seeds {
        let part = by_path
            .entry(path.clone())
            .or_insert_with(|| ScenarioSummary {
                name: record["scenario"].as_str().unwrap_or("").to_string(),
                path: path.clone(),
                ..ScenarioSummary::default()
            });
        part.seeds += 1;
        let outcome = record["outcome"].as_str().unwrap_or("unknown").to_string();
        *part.outcomes.entry(outcome.clone()).or_insert(0) += 1;
        part.wall_ms += record["wall_ms"].as_f64().unwrap_or(0.0);
        for (mark, count) in u64_map(&record["marks"]) {
            *part.marks.entry(mark).or_insert(0) += count;
        }
        for (name, value) in u64_map(&record["figures"]) {
            part.figures
                .entry(name.clone())
                .and_modify(|total| *total = combine_figure(&name, *total, value))
                .or_insert(value);
        }
        for (bucket, count) in u64_map(&record["latency_histogram"]) {
            if let Ok(bucket) = bucket.parse::<u32>() {
                *part.latency.entry(bucket).or_insert(0) += count;
            }
        }
        if outcome != "pass" {
            part.failing.push(FailingSeed {
                seed: *seed,
                outcome,
                replay: record["replay"].as_str().unwrap_or("").to_string(),
                explanation: record["message"]
                    .as_str()
                    .and_then(|m| m.lines().next())
                    .unwrap_or("")
                    .to_string(),
            });
        }
    }
    for (path, part) in &mut by_path {
        part.marks_not_hit = not_hit
            .get(path)
            .map(|marks| {
                marks
                    .iter()
                    .filter(|m| !part.marks.contains_key(*m))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
    }
    Ok(Summary {
        scenarios: by_path.into_values().collect(),
    })
}

fn millis(nanos: Option<u64>) -> String {
    nanos.map_or("-".into(), |n| format!("{:.1}", n as f64 / 1e6))
}

/// How many failing seeds `summary.md` lists per scenario.
pub const FAILING_LISTED_MAX: usize = 50;

/// `summary.md`.
pub fn summary_markdown(summary: &Summary) -> String {
    let mut out = String::from("# Sweep summary\n");
    for part in &summary.scenarios {
        let _ = write!(out, "\n## {} (`{}`)\n\n", part.name, part.path);
        let counts: Vec<String> = part
            .outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "- seeds: {}", part.seeds);
        let _ = writeln!(out, "- outcomes: {}", counts.join(", "));
        let seeds_per_s = if part.wall_ms > 0.0 {
            part.seeds as f64 / (part.wall_ms / 1e3)
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "- seeds/s: {seeds_per_s:.1} (per core: seeds over the sum of their wall times)"
        );
        let q = |per_mille| millis(histogram_quantile(&part.latency, per_mille));
        let _ = writeln!(
            out,
            "- latency (ms, completed operations, bucket upper bounds): p50 {} · p90 {} · p99 {} · max {}",
            q(500),
            q(900),
            q(990),
            q(1000)
        );
        let hit: Vec<String> = part
            .marks
            .iter()
            .map(|(k, v)| format!("`{k}`×{v}"))
            .collect();
        let _ = writeln!(
            out,
            "- marks hit: {}",
            if hit.is_empty() {
                "none".into()
            } else {
                hit.join(" ")
            }
        );
        let missed: Vec<String> = part
            .marks_not_hit
            .iter()
            .map(|m| format!("`{m}`"))
            .collect();
        let _ = writeln!(
            out,
            "- marks not hit: {}",
            if missed.is_empty() {
                "none".into()
            } else {
                missed.join(" ")
            }
        );
        if !part.figures.is_empty() {
            let measured: Vec<String> = part
                .figures
                .iter()
                .map(|(k, v)| format!("`{k}` {v}"))
                .collect();
            let _ = writeln!(out, "- measured: {}", measured.join(" · "));
        }
        if part.failing.is_empty() {
            out.push_str("\nNo failing seeds.\n");
            continue;
        }
        let _ = writeln!(out, "\n### Failing seeds ({})\n", part.failing.len());
        for failing in part.failing.iter().take(FAILING_LISTED_MAX) {
            let _ = writeln!(
                out,
                "- seed {} {}: {}\n  `{}`",
                failing.seed, failing.outcome, failing.explanation, failing.replay
            );
        }
        if part.failing.len() > FAILING_LISTED_MAX {
            let _ = writeln!(
                out,
                "- … {} more in results.jsonl",
                part.failing.len() - FAILING_LISTED_MAX
            );
        }
    }
    out
}

/// `index.html` of a sweep: the summary, with the failing seeds linked to their run
/// directories where one was written (`links`: (path, seed) -> href).
pub fn summary_html(summary: &Summary, links: &BTreeMap<(String, u64), String>) -> String {
    let mut out = page_start("faultline sweep");
    out.push_str("<h1>Sweep summary</h1>\n");
    for part in &summary.scenarios {
        let _ = writeln!(
            out,
            "<h2>{} <code>{}</code></h2>",
            escape(&part.name),
            escape(&part.path)
        );
        out.push_str("<table class=\"outcomes\"><tr><th>outcome</th><th>seeds</th></tr>");
        for (outcome, count) in &part.outcomes {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"n\">{count}</td></tr>",
                escape(outcome)
            );
        }
        out.push_str("</table>\n");
        let groups: Vec<String> = part.outcomes.keys().cloned().collect();
        let values = vec![part
            .outcomes
            .values()
            .map(|&v| v as f64)
            .collect::<Vec<f64>>()];
        out.push_str(&crate::charts::grouped_bars(
            &groups,
            std::slice::from_ref(&part.name),
            &values,
            "seeds",
        ));
        let q = |per_mille| millis(histogram_quantile(&part.latency, per_mille));
        let _ = writeln!(
            out,
            "<p>latency (ms): p50 {} · p90 {} · p99 {} · max {}</p>",
            q(500),
            q(900),
            q(990),
            q(1000)
        );
        if !part.marks_not_hit.is_empty() {
            let missed: Vec<&str> = part.marks_not_hit.iter().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "<p class=\"note\">marks not hit: {}</p>",
                escape(&missed.join(", "))
            );
        }
        if part.failing.is_empty() {
            out.push_str("<p>No failing seeds.</p>\n");
            continue;
        }
        out.push_str("<table class=\"failing\"><tr><th>seed</th><th>outcome</th><th>explanation</th><th>replay</th></tr>");
        for failing in part.failing.iter().take(FAILING_LISTED_MAX) {
            let seed = match links.get(&(part.path.clone(), failing.seed)) {
                Some(href) => format!(
                    "<a class=\"run\" href=\"{}\">{}</a>",
                    escape(href),
                    failing.seed
                ),
                None => failing.seed.to_string(),
            };
            let _ = write!(
                out,
                "<tr><td>{seed}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&failing.outcome),
                escape(&failing.explanation),
                escape(&failing.replay)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str(PAGE_END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_latencies() {
        for nanos in [1u64, 2, 3, 4, 5, 7, 8, 1_000, 1_234_567, 999_999_999] {
            let bucket = latency_bucket(nanos);
            assert!(bucket_upper_nanos(bucket) >= nanos, "{nanos}");
            if bucket > 0 {
                assert!(bucket_upper_nanos(bucket - 1) < nanos, "{nanos}");
            }
        }
    }

    #[test]
    fn shards_summarise_like_the_whole() {
        let seed = |path: &str, seed: u64, outcome: &str| {
            serde_json::json!({"type": "seed", "path": path, "scenario": "s", "seed": seed,
                "outcome": outcome, "message": "bad\nmore", "replay": format!("r {seed}"),
                "wall_ms": 1.0, "marks": {"a": 1}, "latency_histogram": {"80": 2}})
        };
        let summary = |not_hit: &[&str]| serde_json::json!({"type": "summary", "path": "p", "marks_not_hit": not_hit});
        let whole = vec![
            seed("p", 0, "pass"),
            seed("p", 1, "safety-violation"),
            summary(&["b"]),
        ];
        let shards = vec![
            seed("p", 1, "safety-violation"),
            summary(&["b", "c"]),
            seed("p", 0, "pass"),
            summary(&["b"]),
        ];
        let a = summarise(&whole).unwrap();
        assert_eq!(a, summarise(&shards).unwrap());
        assert_eq!(a.scenarios[0].failing[0].explanation, "bad");
        assert_eq!(a.scenarios[0].marks_not_hit.len(), 1);
        assert!(summary_markdown(&a).contains("`r 1`"));
        assert!(a.scenarios[0].figures.is_empty());
        assert!(!summary_markdown(&a).contains("measured"));
    }

    #[test]
    fn figures_add_up_over_seeds_and_maxima_stay_maxima_in_any_shard_split() {
        let seed = |seed: u64, stale: u64, max: u64| {
            serde_json::json!({"type": "seed", "path": "p", "scenario": "s", "seed": seed,
                "outcome": "pass", "wall_ms": 1.0,
                "figures": {"stale_reads": stale, "staleness_ops_max": max, "time_in_doubt_ns": 5}})
        };
        let seeds = [seed(0, 3, 7), seed(1, 4, 2), seed(2, 0, 9), seed(3, 1, 1)];
        let whole = summarise(&seeds).unwrap();
        let figures = &whole.scenarios[0].figures;
        assert_eq!(figures["stale_reads"], 8);
        assert_eq!(figures["staleness_ops_max"], 9);
        assert_eq!(figures["time_in_doubt_ns"], 20);
        assert!(summary_markdown(&whole).contains(
            "- measured: `stale_reads` 8 · `staleness_ops_max` 9 · `time_in_doubt_ns` 20"
        ));
        // Shards in any order, and a seed both shards reported, give the whole sweep's figures.
        let shards = [
            seeds[2].clone(),
            seeds[3].clone(),
            seeds[1].clone(),
            seeds[0].clone(),
            seeds[1].clone(),
        ];
        assert_eq!(summarise(&shards).unwrap(), whole);
        // Without the maximum rule the split would show: the first shard alone holds the 9.
        let first_shard = summarise(&seeds[..2]).unwrap();
        assert_eq!(first_shard.scenarios[0].figures["staleness_ops_max"], 7);
    }
}
