//! The lanes of a run page, drawn as plain SVG: the fault timeline and the node lanes (on the
//! plots' time axis, [`crate::charts::layout`]) and the history timeline (one lane per client
//! process, Jepsen's timeline.html and Porcupine's visualizer are the models).

use crate::data::{FaultSpan, Op, RoleSpan};
use crate::svg::layout::{LEFT, WIDTH};
use crate::svg::{push_escaped, push_seconds, push_tenths, push_u64, Axis};
use std::collections::{BTreeMap, BTreeSet};

const ROW_HEIGHT: u32 = 18;
const AXIS_HEIGHT: u32 = 22;

fn open_svg(out: &mut String, class: &str, height: u32) {
    out.push_str(r#"<svg xmlns="http://www.w3.org/2000/svg" class=""#);
    out.push_str(class);
    out.push_str(r#"" width=""#);
    push_u64(out, u64::from(WIDTH));
    out.push_str(r#"" height=""#);
    push_u64(out, u64::from(height));
    out.push_str(r#"" viewBox="0 0 "#);
    push_u64(out, u64::from(WIDTH));
    out.push(' ');
    push_u64(out, u64::from(height));
    out.push_str(r#"">"#);
}

/// `<rect x=".." y=".." width=".." height=".."`, coordinates in tenths of a pixel except `y`
/// and `height` (whole pixels); the caller closes the tag.
fn rect(out: &mut String, x: i64, y: u32, width: i64, height: u32) {
    out.push_str(r#"<rect x=""#);
    push_tenths(out, x);
    out.push_str(r#"" y=""#);
    push_u64(out, u64::from(y));
    out.push_str(r#"" width=""#);
    push_tenths(out, width);
    out.push_str(r#"" height=""#);
    push_u64(out, u64::from(height));
    out.push('"');
}

/// `<text x=".." y="..">` at tenths `x` and pixel `y`; the caller writes the text and closes.
fn text_at(out: &mut String, x: i64, y: u32) {
    out.push_str(r#"<text x=""#);
    push_tenths(out, x);
    out.push_str(r#"" y=""#);
    push_u64(out, u64::from(y));
    out.push_str(r#"">"#);
}

/// `(1.234s to 5.678s)`.
fn push_interval(out: &mut String, start_nanos: u64, end_nanos: u64) {
    out.push('(');
    push_seconds(out, start_nanos);
    out.push_str("s to ");
    push_seconds(out, end_nanos);
    out.push_str("s)");
}

/// The fault timeline: each fault a bar from when it was applied to when it was undone (clock
/// steps and drifts a tick), packed into as few rows as overlap allows.
pub fn fault_lane(spans: &[FaultSpan], end_nanos: u64) -> String {
    let mut out = String::with_capacity(256 + spans.len() * 200);
    fault_lane_into(&mut out, spans, end_nanos);
    out
}

/// [`fault_lane`], appended to `out`.
pub fn fault_lane_into(out: &mut String, spans: &[FaultSpan], end_nanos: u64) {
    let axis = Axis {
        start: 0,
        end: end_nanos.max(1),
    };
    // Greedy packing: each span goes to the first row whose last span ended before it began
    // (tenths of a pixel).
    let mut row_ends: Vec<i64> = Vec::new();
    let mut placed: Vec<(usize, &FaultSpan)> = Vec::with_capacity(spans.len());
    for span in spans {
        let x0 = axis.x(span.start_nanos);
        let row = match row_ends.iter().position(|&end| end + 10 <= x0) {
            Some(row) => row,
            None => {
                row_ends.push(i64::MIN);
                row_ends.len() - 1
            }
        };
        row_ends[row] = axis.x(span.end_nanos).max(x0 + 30);
        placed.push((row, span));
    }
    let rows = row_ends.len().max(1) as u32;
    let height = rows * ROW_HEIGHT + AXIS_HEIGHT;
    open_svg(out, "lane faults", height);
    if spans.is_empty() {
        text_at(out, i64::from(LEFT) * 10, 13);
        out.push_str("no faults</text>");
    }
    axis.draw(out, 0, rows * ROW_HEIGHT);
    for (row, span) in placed {
        let y = row as u32 * ROW_HEIGHT + 2;
        let x0 = axis.x(span.start_nanos);
        let width = (axis.x(span.end_nanos) - x0).max(30);
        out.push_str(r#"<g class="fault "#);
        out.push_str(span.kind.name());
        out.push_str(r#"">"#);
        rect(out, x0, y, width, ROW_HEIGHT - 4);
        out.push_str("/><title>");
        push_escaped(out, &span.label);
        out.push(' ');
        push_interval(out, span.start_nanos, span.end_nanos);
        out.push_str("</title>");
        // A label only where it fits (about 6 px per character).
        if width > 60 * span.label.len() as i64 + 60 {
            text_at(out, x0 + 30, y + 11);
            push_escaped(out, &span.label);
            out.push_str("</text>");
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
}

/// `leader 3 (deposed)`: a node lane stretch's role, number and whether it is deposed.
fn push_role_label(out: &mut String, span: &RoleSpan) {
    push_escaped(out, &span.role);
    if let Some(number) = span.number {
        out.push(' ');
        push_u64(out, number);
    }
    if span.deposed {
        out.push_str(" (deposed)");
    }
}

/// One lane per node: its role (and term/ballot/epoch) over time, crashed and paused
/// stretches marked, a deposed leader hatched and labelled `leader (deposed)`.
pub fn node_lanes(lanes: &[Vec<RoleSpan>], end_nanos: u64) -> String {
    let mut out = String::with_capacity(256 + lanes.iter().map(Vec::len).sum::<usize>() * 160);
    node_lanes_into(&mut out, lanes, end_nanos);
    out
}

/// [`node_lanes`], appended to `out`.
pub fn node_lanes_into(out: &mut String, lanes: &[Vec<RoleSpan>], end_nanos: u64) {
    let axis = Axis {
        start: 0,
        end: end_nanos.max(1),
    };
    let rows = lanes.len().max(1) as u32;
    let height = rows * ROW_HEIGHT + AXIS_HEIGHT;
    open_svg(out, "lane nodes", height);
    axis.draw(out, 0, rows * ROW_HEIGHT);
    for (node, lane) in lanes.iter().enumerate() {
        let y = node as u32 * ROW_HEIGHT + 2;
        out.push_str(r#"<text class="lane-name" x=""#);
        push_u64(out, u64::from(LEFT - 6));
        out.push_str(r#"" y=""#);
        push_u64(out, u64::from(y + 11));
        out.push_str(r#"" text-anchor="end">n"#);
        push_u64(out, node as u64);
        out.push_str("</text>");
        for span in lane {
            let x0 = axis.x(span.start_nanos);
            let width = (axis.x(span.end_nanos) - x0).max(10);
            out.push_str(r#"<g class="role "#);
            if span.role.bytes().all(|b| b.is_ascii_alphanumeric()) {
                out.push_str(&span.role);
            } else {
                for c in span.role.chars() {
                    out.push(if c.is_ascii_alphanumeric() { c } else { '-' });
                }
            }
            if span.deposed {
                out.push_str(" deposed");
            }
            out.push_str(r#"">"#);
            rect(out, x0, y, width, ROW_HEIGHT - 4);
            out.push_str("/><title>n");
            push_u64(out, node as u64);
            out.push(' ');
            let label_start = out.len();
            push_role_label(out, span);
            let label_end = out.len();
            out.push(' ');
            push_interval(out, span.start_nanos, span.end_nanos);
            out.push_str("</title>");
            let label_len = (label_end - label_start) as i64;
            if span.role != "up" && width > 60 * label_len + 60 {
                text_at(out, x0 + 30, y + 11);
                push_role_label(out, span);
                out.push_str("</text>");
            }
            out.push_str("</g>");
        }
    }
    out.push_str("</svg>");
}

/// Operations the history timeline draws at most: about as many as stay readable on one
/// screen width. Longer histories show a window (around the violation when there is one) and
/// say so; `history.jsonl` has them all.
pub const OPS_SHOWN_MAX: usize = 400;

/// What to highlight on a violation.
#[derive(Clone, Debug, Default)]
pub struct Highlight {
    /// Index (into the operations) of the operation at which every linearization fails.
    pub failing_op: Option<usize>,
    /// Its object.
    pub key: Option<String>,
    /// Operations (indices) in the longest linearizable prefix.
    pub linearized: BTreeSet<usize>,
    /// Where that prefix ends (the failing event's time).
    pub cut_nanos: Option<u64>,
}

/// The window of operations shown: all when few, else [`OPS_SHOWN_MAX`] around the failing
/// operation (mostly before it: the prefix is what explains it), else the first ones.
pub fn history_window(op_count: usize, failing_op: Option<usize>) -> std::ops::Range<usize> {
    if op_count <= OPS_SHOWN_MAX {
        return 0..op_count;
    }
    match failing_op {
        Some(failing) => {
            let start = failing.saturating_sub(OPS_SHOWN_MAX * 3 / 4);
            let end = (start + OPS_SHOWN_MAX).min(op_count);
            end.saturating_sub(OPS_SHOWN_MAX)..end
        }
        None => 0..OPS_SHOWN_MAX,
    }
}

/// The history timeline of `ops[window]`: a lane per client process, a bar per operation
/// from invoke to completion coloured by outcome (open ones run to the window's end).
pub fn history(ops: &[Op], window: std::ops::Range<usize>, highlight: &Highlight) -> String {
    let mut out = String::with_capacity(1024 + window.len() * 200);
    history_into(&mut out, ops, window, highlight);
    out
}

/// [`history`], appended to `out`.
pub fn history_into(
    out: &mut String,
    ops: &[Op],
    window: std::ops::Range<usize>,
    highlight: &Highlight,
) {
    let shown = &ops[window.clone()];
    let start = shown.iter().map(|op| op.start_nanos).min().unwrap_or(0);
    let end = shown
        .iter()
        .map(|op| op.end_nanos.unwrap_or(op.start_nanos))
        .max()
        .unwrap_or(0)
        .max(start + 1);
    let axis = Axis { start, end };
    // A process that got `info` is retired and a fresh one takes its client's place, so one
    // lane per process would leave most lanes nearly empty. Processes share a lane instead
    // when their lifetimes do not overlap (a lane is then one client's seat, as in Jepsen's
    // timeline where process p and p + concurrency are the same worker).
    let mut lifetimes: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for op in shown {
        let entry = lifetimes
            .entry(op.process)
            .or_insert((op.start_nanos, op.start_nanos));
        entry.0 = entry.0.min(op.start_nanos);
        entry.1 = entry.1.max(op.end_nanos.unwrap_or(end));
    }
    let mut by_start: Vec<(u64, u64, u64)> = lifetimes
        .iter()
        .map(|(&process, &(first, last))| (first, last, process))
        .collect();
    by_start.sort_unstable();
    let mut lane_ends: Vec<u64> = Vec::new();
    let mut lane_names: Vec<Vec<u64>> = Vec::new();
    let mut lane_of: BTreeMap<u64, u32> = BTreeMap::new();
    for (first, last, process) in by_start {
        let lane = match lane_ends.iter().position(|&lane_end| lane_end < first) {
            Some(lane) => lane,
            None => {
                lane_ends.push(0);
                lane_names.push(Vec::new());
                lane_ends.len() - 1
            }
        };
        lane_ends[lane] = last;
        lane_names[lane].push(process);
        lane_of.insert(process, lane as u32);
    }
    let rows = lane_ends.len().max(1) as u32;
    let height = rows * ROW_HEIGHT + AXIS_HEIGHT;
    open_svg(out, "lane history", height);
    axis.draw(out, 0, rows * ROW_HEIGHT);
    for (lane, processes) in lane_names.iter().enumerate() {
        out.push_str(r#"<text class="lane-name" x=""#);
        push_u64(out, u64::from(LEFT - 6));
        out.push_str(r#"" y=""#);
        push_u64(out, u64::from(lane as u32 * ROW_HEIGHT + 13));
        out.push_str(r#"" text-anchor="end">p"#);
        push_u64(out, processes[0]);
        if processes.len() > 1 {
            out.push('+');
        }
        out.push_str("<title>processes");
        for process in processes {
            out.push_str(" p");
            push_u64(out, *process);
        }
        out.push_str("</title></text>");
    }
    if let Some(cut) = highlight.cut_nanos.filter(|t| (start..=end).contains(t)) {
        let x = axis.x(cut);
        out.push_str(r#"<line class="prefix-end" x1=""#);
        push_tenths(out, x);
        out.push_str(r#"" y1="0" x2=""#);
        push_tenths(out, x);
        out.push_str(r#"" y2=""#);
        push_u64(out, u64::from(rows * ROW_HEIGHT));
        out.push_str(r#""><title>the longest linearizable prefix ends here</title></line>"#);
    }
    for (offset, op) in shown.iter().enumerate() {
        let index = window.start + offset;
        let lane = lane_of[&op.process];
        let x0 = axis.x(op.start_nanos);
        let x1 = axis.x(op.end_nanos.unwrap_or(end));
        out.push_str(r#"<rect class="op "#);
        out.push_str(op.outcome.name());
        let failing = highlight.failing_op == Some(index);
        if failing {
            out.push_str(" violation");
        } else if highlight.key.is_some() && op.key == highlight.key.as_deref() {
            out.push_str(" same-key");
        }
        if highlight.linearized.contains(&index) {
            out.push_str(" linearized");
        }
        out.push('"');
        if failing {
            out.push_str(r#" id="violation""#);
        }
        out.push_str(r#" x=""#);
        push_tenths(out, x0);
        out.push_str(r#"" y=""#);
        push_u64(out, u64::from(lane * ROW_HEIGHT + 2));
        out.push_str(r#"" width=""#);
        push_tenths(out, (x1 - x0).max(15));
        out.push_str(r#"" height=""#);
        push_u64(out, u64::from(ROW_HEIGHT - 4));
        out.push_str(r#""><title>#"#);
        push_u64(out, op.invoke_index as u64);
        out.push(' ');
        op.describe_into(out);
        out.push_str("</title></rect>");
    }
    out.push_str("</svg>");
}
