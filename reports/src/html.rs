//! The pages: one self-contained HTML file each (inline CSS and SVG, no script but one line
//! that scrolls to a violation, nothing fetched from the network).

use crate::charts;
use crate::data::{self, Op};
pub use crate::escape::escape;
use crate::timeline::{self, Highlight};
use sim_core::check::{CheckResult, Verdict};
use sim_core::history::HistoryEvent;
use sim_core::simulation::{AppliedFault, ObservationRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The stylesheet every page inlines.
pub const CSS: &str = r#"
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1140px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { padding: 2px 8px; border-radius: 4px; color: white; }
.verdict.pass { background: #2ca02c; } .verdict.fail { background: #d62728; }
.verdict.other { background: #ff7f0e; }
pre.explanation.violation { border-left: 4px solid #d62728; }
svg { display: block; margin: 4px 0; }
svg text { font-family: sans-serif; font-size: 11px; }
text.tick { fill: #666; font-size: 10px; } line.tick { stroke: #e4e4e4; }
.fault rect { stroke: #555; stroke-width: .5; }
.fault.partition rect { fill: #f4b183; } .fault.crash rect { fill: #c00000; }
.fault.crash text { fill: white; } .fault.pause rect { fill: #9e86c8; }
.fault.clog rect { fill: #bdd7ee; } .fault.loss rect { fill: #ffe699; }
.fault.clock rect { fill: #4472c4; }
.fault.membership rect { fill: #00897b; }
.role rect { fill: #eee; stroke: #fff; stroke-width: .5; }
.role.leader rect, .role.primary rect { fill: #ffc000; } .role.candidate rect { fill: #9dc3e6; }
.role.follower rect, .role.backup rect { fill: #d9d9d9; }
.role.crashed rect { fill: #404040; } .role.crashed text { fill: white; }
.role.paused rect { fill: #9e86c8; }
.role.deposed rect { fill: #fff2cc; stroke: #bf9000; stroke-width: 1; stroke-dasharray: 3 2; }
.role.coordinator rect, .role.orchestrator rect, .role.group-leader rect { fill: #ffc000; }
.role.participant rect, .role.instance rect, .role.replica rect, .role.shard rect { fill: #d9d9d9; }
.role.config rect { fill: #c5e0b4; } .role.storage rect { fill: #bdd7ee; }
.role.prepared rect { fill: #f4b183; stroke: #c55a11; stroke-width: 1; }
.role.coordinator-replica rect { fill: #ffe699; }
rect.op { stroke: #fff; stroke-width: .3; }
rect.op.ok { fill: #6abf69; } rect.op.fail { fill: #f08080; } rect.op.info { fill: #ffb347; }
rect.op.open { fill: #bbb; }
rect.op.same-key { stroke: #1f3d7a; stroke-width: 1; }
rect.op.linearized { fill-opacity: .55; }
rect.op.violation { fill: #d62728; stroke: #000; stroke-width: 2.5; fill-opacity: 1; }
line.prefix-end { stroke: #d62728; stroke-width: 1.5; stroke-dasharray: 4 3; }
.legend span { display: inline-block; padding: 0 6px; margin-right: 4px; border-radius: 3px; font-size: 12px; }
.note { color: #555; font-size: 13px; }
"#;

/// Node lane roles of protocols without leaders: (role, legend style, legend text).
const ROLE_LEGEND: [(&str, &str, &str); 11] = [
    ("coordinator", "background:#ffc000", "coordinator"),
    ("participant", "background:#d9d9d9", "participant"),
    (
        "coordinator replica",
        "background:#ffe699",
        "coordinator replica (a member of a replicated coordinator's group)",
    ),
    (
        "prepared",
        "background:#f4b183;outline:1px solid #c55a11",
        "prepared (in doubt: voted yes, no decision yet)",
    ),
    ("orchestrator", "background:#ffc000", "orchestrator"),
    ("instance", "background:#d9d9d9", "instance"),
    ("storage", "background:#bdd7ee", "token storage"),
    ("replica", "background:#d9d9d9", "replica"),
    ("config", "background:#c5e0b4", "configuration service"),
    ("shard", "background:#d9d9d9", "shard group"),
    ("group leader", "background:#ffc000", "group leader"),
];

/// Opens a page: doctype, title, the stylesheet.
pub fn page_start(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body>\n",
        escape(title),
        CSS
    )
}

/// Closes a page.
pub const PAGE_END: &str = "</body></html>\n";

/// Everything a run page shows. The scenarios crate fills it from its `RunReport`; nothing
/// here is recorded for the page alone except the observations (only with `--out`).
pub struct RunPage<'a> {
    /// The scenario's name.
    pub scenario: &'a str,
    /// The seed.
    pub seed: u64,
    /// `pass`, `safety-violation`, ...
    pub outcome: &'a str,
    /// Where a violation came from (`linearizability`, `invariant:...`).
    pub source: Option<&'a str>,
    /// The outcome's message (the checker's explanation on a linearizability violation).
    pub message: Option<&'a str>,
    /// `faultline replay ...`.
    pub replay: &'a str,
    /// The scenario with its fault plan as a script.
    pub scenario_ron: &'a str,
    /// The build: `faultline 0.1.0`.
    pub version: &'a str,
    /// The trace digest.
    pub digest: &'a str,
    /// Replicas.
    pub node_count: u32,
    /// When the recovery phase began.
    pub recovery_nanos: u64,
    /// When the run ended.
    pub end_nanos: u64,
    /// The client history.
    pub history: &'a [HistoryEvent],
    /// The faults as applied.
    pub faults: &'a [AppliedFault],
    /// The protocol's observations (empty: the node lanes show crashes and pauses only).
    pub observations: &'a [ObservationRecord],
    /// The checker's result.
    pub check: Option<&'a CheckResult>,
    /// Marks hit, by name.
    pub marks: &'a BTreeMap<String, u64>,
    /// Marks the protocol declares (to list those not hit).
    pub marks_declared: &'a [&'a str],
    /// Statistics rows: name, value.
    pub stats: Vec<(String, String)>,
    /// Whether `trace.log` was written.
    pub has_trace: bool,
}

/// The history highlight of a linearizability violation.
fn highlight(ops: &[Op], history: &[HistoryEvent], check: Option<&CheckResult>) -> Highlight {
    let Some(explanation) = check
        .filter(|c| c.verdict == Verdict::NotLinearizable)
        .and_then(|c| c.explanation.as_ref())
    else {
        return Highlight::default();
    };
    let mut by_event: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_event.insert(op.invoke_index, i);
        if let Some(complete) = op.complete_index {
            by_event.insert(complete, i);
        }
    }
    let failing_op = by_event.get(&explanation.failing_event).copied();
    Highlight {
        failing_op,
        key: failing_op.and_then(|i| ops[i].key.map(str::to_string)),
        linearized: explanation
            .linearized
            .iter()
            .filter_map(|e| by_event.get(e).copied())
            .collect::<BTreeSet<usize>>(),
        cut_nanos: history.get(explanation.failing_event).map(|e| e.time),
    }
}

fn verdict_class(outcome: &str) -> &'static str {
    match outcome {
        "pass" => "pass",
        "safety-violation" | "panic" => "fail",
        _ => "other",
    }
}

/// The run page (`index.html` of a run directory).
pub fn run_page(run: &RunPage<'_>) -> String {
    let ops = data::pair_operations(run.history);
    let spans = data::fault_spans(
        run.faults,
        run.node_count,
        run.recovery_nanos.max(1).min(run.end_nanos.max(1)),
    );
    let shaded = data::fault_union(&spans);
    let lanes = data::node_lanes(run.node_count, run.observations, &spans, run.end_nanos);
    let highlight = highlight(&ops, run.history, run.check);
    let window = timeline::history_window(ops.len(), highlight.failing_op);

    let title = format!("{} seed {}: {}", run.scenario, run.seed, run.outcome);
    // One buffer for the whole page, sized for the usual run (the scenario text is shown too).
    let mut out = String::with_capacity(
        64 * 1024
            + run.scenario_ron.len()
            + 200 * ops.len().min(timeline::OPS_SHOWN_MAX)
            + 300 * (spans.len() + lanes.iter().map(Vec::len).sum::<usize>()),
    );
    out.push_str(&page_start(&title));
    let _ = writeln!(
        out,
        "<h1>{} seed {} <span class=\"verdict {}\" id=\"verdict\">{}</span></h1>",
        escape(run.scenario),
        run.seed,
        verdict_class(run.outcome),
        escape(run.outcome)
    );
    let _ = write!(
        out,
        "<pre class=\"replay\">{}</pre>\n<p class=\"note\">{} &middot; trace digest {} &middot; {} nodes &middot; {:.3}s simulated (recovery from {:.3}s)</p>\n",
        escape(run.replay),
        escape(run.version),
        escape(run.digest),
        run.node_count,
        run.end_nanos as f64 / 1e9,
        run.recovery_nanos as f64 / 1e9,
    );
    out.push_str("<h2>Verdict</h2>\n");
    match run.message {
        Some(message) => {
            let class = if verdict_class(run.outcome) == "fail" { "explanation violation" } else { "explanation" };
            if let Some(source) = run.source {
                let _ = writeln!(out, "<p>found by <b>{}</b></p>", escape(source));
            }
            let _ = writeln!(out, "<pre class=\"{class}\">{}</pre>", escape(message));
            if highlight.failing_op.is_some() {
                out.push_str("<p><a href=\"#violation\">the operation at which every linearization fails</a> is outlined in black in the history timeline; the dashed red line is where the longest linearizable prefix ends.</p>\n");
            }
        }
        None => out.push_str("<p>No violation: the invariants held, every recovery operation completed and the history is linearizable.</p>\n"),
    }
    if let Some(check) = run.check {
        let _ = writeln!(
            out,
            "<p class=\"note\">checker: {} operations in {} partition(s), {} model steps</p>",
            check.operations, check.partitions, check.steps
        );
    }

    out.push_str("<h2>Faults</h2>\n<div class=\"legend\"><span style=\"background:#f4b183\">partition</span><span style=\"background:#c00000;color:white\">crash</span><span style=\"background:#9e86c8\">pause</span><span style=\"background:#bdd7ee\">clog</span><span style=\"background:#ffe699\">loss burst</span><span style=\"background:#4472c4;color:white\">clock</span>");
    if spans.iter().any(|s| s.kind == data::FaultKind::Membership) {
        out.push_str("<span style=\"background:#00897b;color:white\">membership change</span>");
    }
    out.push_str("</div>\n");
    timeline::fault_lane_into(&mut out, &spans, run.end_nanos);
    out.push_str("<h2>Nodes</h2>\n<div class=\"legend\"><span style=\"background:#ffc000\">leader / primary</span><span style=\"background:#9dc3e6\">candidate</span><span style=\"background:#d9d9d9\">follower / backup</span><span style=\"background:#404040;color:white\">crashed</span><span style=\"background:#9e86c8\">paused</span><span style=\"background:#fff2cc;outline:1px dashed #bf9000\">leader (deposed): a larger term, ballot or epoch exists elsewhere and it has not heard</span>");
    // The roles of protocols without leaders, named only where they appear.
    for (role, style, meaning) in ROLE_LEGEND {
        if lanes.iter().flatten().any(|span| span.role == *role) {
            let _ = write!(out, "<span style=\"{style}\">{meaning}</span>");
        }
    }
    out.push_str(" (numbers: term, ballot or epoch)</div>\n");
    if run.observations.is_empty() {
        out.push_str("<p class=\"note\">The protocol reported no observations in this run: only crashes and pauses are shown.</p>\n");
    }
    timeline::node_lanes_into(&mut out, &lanes, run.end_nanos);
    out.push_str("<h2>Latency</h2>\n<p class=\"note\">Each operation at its invoke time; fault intervals shaded. Dense stretches keep the fastest and slowest operation of each pixel column.</p>\n");
    charts::latency_over_time_into(&mut out, &ops, &shaded, run.end_nanos);
    out.push_str("<h2>Throughput</h2>\n");
    charts::throughput_into(&mut out, &ops, &shaded, run.end_nanos);

    out.push_str("<h2 id=\"history\">History</h2>\n<div class=\"legend\"><span style=\"background:#6abf69\">ok</span><span style=\"background:#f08080\">fail</span><span style=\"background:#ffb347\">info</span><span style=\"background:#bbb\">never completed</span>");
    if highlight.failing_op.is_some() {
        out.push_str("<span style=\"background:#d62728;color:white;outline:2px solid black\">fails every linearization</span><span style=\"outline:1px solid #1f3d7a\">same key</span><span style=\"opacity:.55;background:#6abf69\">in the longest linearizable prefix</span>");
    }
    out.push_str("</div>\n");
    if window.len() < ops.len() {
        let _ = writeln!(
            out,
            "<p class=\"note\">Showing operations {} to {} of {} (history.jsonl has them all).</p>",
            window.start,
            window.end.saturating_sub(1),
            ops.len()
        );
    }
    timeline::history_into(&mut out, &ops, window, &highlight);

    out.push_str("<h2>Marks</h2>\n");
    if run.marks.is_empty() {
        out.push_str("<p>No marks hit.</p>\n");
    } else {
        out.push_str("<table class=\"marks\"><tr><th>mark</th><th>hits</th></tr>");
        for (name, count) in run.marks {
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"n\">{count}</td></tr>",
                escape(name)
            );
        }
        out.push_str("</table>\n");
    }
    let not_hit: Vec<&str> = run
        .marks_declared
        .iter()
        .copied()
        .filter(|m| !run.marks.contains_key(*m))
        .collect();
    if !not_hit.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\">not hit: {}</p>",
            escape(&not_hit.join(", "))
        );
    }
    out.push_str("<h2>Statistics</h2>\n<table class=\"stats\">");
    for (name, value) in &run.stats {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(name),
            escape(value)
        );
    }
    out.push_str("</table>\n<h2>Files</h2>\n<ul>");
    let mut files = vec![
        "results.json",
        "history.jsonl",
        "history.edn",
        "scenario.resolved.ron",
        "REPLAY",
    ];
    if run.has_trace {
        files.push("trace.log");
    }
    for file in files {
        let _ = write!(out, "<li><a href=\"{file}\">{file}</a></li>");
    }
    out.push_str("</ul>\n<h2>Scenario (resolved)</h2>\n<details><summary>the scenario with the fault plan that ran, as a script</summary>");
    out.push_str("<pre>");
    crate::svg::push_escaped_text(&mut out, run.scenario_ron);
    out.push_str("</pre></details>\n");
    // The one script: bring the violation into view once the page is laid out.
    out.push_str("<script>window.addEventListener('load',function(){var v=document.getElementById('violation');if(v){v.scrollIntoView({block:'center'});}});</script>\n");
    out.push_str(PAGE_END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FaultKind;

    #[test]
    fn every_fault_kind_and_every_named_role_has_a_style() {
        let kinds = [
            FaultKind::Partition,
            FaultKind::Crash,
            FaultKind::Pause,
            FaultKind::Clog,
            FaultKind::Loss,
            FaultKind::Clock,
            FaultKind::Membership,
        ];
        for kind in kinds {
            let rule = format!(".fault.{} rect {{ fill: #", kind.name());
            assert!(CSS.contains(&rule), "no style for the {} tick", kind.name());
        }
        // A lane's class is its role with every other character a dash (timeline.rs).
        for (role, _, _) in ROLE_LEGEND {
            let class = role.replace(' ', "-");
            let rule = format!(".role.{class} rect");
            assert!(CSS.contains(&rule), "no style for the {role} lane");
        }
    }
}
