//! Plots drawn with plotters' SVG backend: latency over time and throughput (Jepsen's
//! latency-raw and rate graphs), a latency CDF and grouped bars for comparisons.
//!
//! Text is laid out by plotters' built-in estimate (no font files are read) and rendered by the
//! browser with its generic `sans-serif`: the binary needs no system fonts and the SVG no
//! network. Every chart shares [`layout`]'s horizontal geometry, so the hand-drawn lanes of a
//! run page line up with the plots' time axes.

use crate::data::{Op, OpOutcome};
use crate::svg::{push_i64, push_tenths, push_u64, Axis};
use plotters::prelude::*;
use sim_core::history::Function;
use std::collections::BTreeMap;

pub use crate::svg::layout;

/// Points a latency plot keeps per series: the minimum and maximum of each pixel column, so
/// a 60-second, 20-client run stays a few hundred kilobytes and no outlier disappears.
const COLUMNS: u64 = layout::PLOT_WIDTH as u64;

fn function_color(f: Function) -> RGBColor {
    match f {
        Function::Read => RGBColor(31, 119, 180),
        Function::Write => RGBColor(44, 160, 44),
        Function::Cas => RGBColor(148, 103, 189),
        Function::Add => RGBColor(23, 190, 207),
        Function::Acquire => RGBColor(140, 86, 75),
        Function::Release => RGBColor(227, 119, 194),
        Function::Txn => RGBColor(127, 127, 127),
        Function::Append => RGBColor(188, 189, 34),
        Function::Transfer => RGBColor(255, 127, 14),
    }
}

fn outcome_color(outcome: OpOutcome) -> RGBColor {
    match outcome {
        OpOutcome::Ok => RGBColor(44, 160, 44),
        OpOutcome::Fail => RGBColor(214, 39, 40),
        OpOutcome::Info => RGBColor(255, 127, 14),
        OpOutcome::Open => RGBColor(127, 127, 127),
    }
}

/// Colours for comparison series, in order.
pub const SERIES_COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

type ChartResult = Result<(), Box<dyn std::error::Error>>;

fn render(
    height: u32,
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> ChartResult,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (layout::WIDTH, height)).into_drawing_area();
        if let Err(error) = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(root))
        {
            return format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"40\"><text x=\"10\" y=\"25\">chart failed: {}</text></svg>",
                layout::WIDTH,
                crate::escape::escape(&error.to_string())
            );
        }
    }
    svg
}

/// `#rrggbb` of a colour.
fn hex(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

/// Top and bottom of the plotting area of the run page's hand-drawn charts.
const TOP: u32 = layout::MARGIN;
const X_LABELS: u32 = 45;

/// Opens a chart: the `<svg>`, a white background, the fault intervals shaded, the time axis
/// with its ticks and the axis titles.
fn open_chart(
    out: &mut String,
    class: &str,
    height: u32,
    axis: Axis,
    shaded: &[(u64, u64)],
    y_desc: &str,
) {
    let bottom = height - X_LABELS;
    out.push_str(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart "#);
    out.push_str(class);
    out.push_str(r#"" width=""#);
    push_u64(out, u64::from(layout::WIDTH));
    out.push_str(r#"" height=""#);
    push_u64(out, u64::from(height));
    out.push_str(r#"" viewBox="0 0 "#);
    push_u64(out, u64::from(layout::WIDTH));
    out.push(' ');
    push_u64(out, u64::from(height));
    out.push_str(r#""><rect width="100%" height="100%" fill="white"/>"#);
    for &(a, b) in shaded {
        let x0 = axis.x(a);
        out.push_str(r##"<rect class="shade" fill="#ffaa3c" fill-opacity=".18" x=""##);
        push_tenths(out, x0);
        out.push_str(r#"" y=""#);
        push_u64(out, u64::from(TOP));
        out.push_str(r#"" width=""#);
        push_tenths(out, (axis.x(b) - x0).max(5));
        out.push_str(r#"" height=""#);
        push_u64(out, u64::from(bottom - TOP));
        out.push_str(r#""/>"#);
    }
    axis.draw(out, TOP, bottom - TOP);
    out.push_str(r##"<rect fill="none" stroke="#444" x=""##);
    push_u64(out, u64::from(layout::LEFT));
    out.push_str(r#"" y=""#);
    push_u64(out, u64::from(TOP));
    out.push_str(r#"" width=""#);
    push_u64(out, u64::from(layout::PLOT_WIDTH));
    out.push_str(r#"" height=""#);
    push_u64(out, u64::from(bottom - TOP));
    out.push_str(r#""/><text x=""#);
    push_u64(out, u64::from(layout::LEFT + layout::PLOT_WIDTH / 2));
    out.push_str(r#"" y=""#);
    push_u64(out, u64::from(height - 8));
    out.push_str(r#"" text-anchor="middle">time (s)</text><text transform="translate(14 "#);
    push_u64(out, u64::from((TOP + bottom) / 2));
    out.push_str(r#") rotate(-90)" text-anchor="middle">"#);
    out.push_str(y_desc);
    out.push_str("</text>");
}

/// A horizontal grid line at `y` (tenths) labelled `label` on the left.
fn y_tick(out: &mut String, y: i64, label: &str) {
    out.push_str(r#"<line class="tick" x1=""#);
    push_u64(out, u64::from(layout::LEFT));
    out.push_str(r#"" y1=""#);
    push_tenths(out, y);
    out.push_str(r#"" x2=""#);
    push_u64(out, u64::from(layout::RIGHT));
    out.push_str(r#"" y2=""#);
    push_tenths(out, y);
    out.push_str(r#""/><text class="tick" x=""#);
    push_u64(out, u64::from(layout::LEFT - 4));
    out.push_str(r#"" y=""#);
    push_tenths(out, y + 35);
    out.push_str(r#"" text-anchor="end">"#);
    out.push_str(label);
    out.push_str("</text>");
}

/// The legend box in the upper right corner: one row per (marker, label), the marker drawn by
/// `marker(out, x, y)` in tenths.
fn legend(
    out: &mut String,
    rows: &[(String, String)],
    marker: impl Fn(&mut String, usize, i64, i64),
) {
    if rows.is_empty() {
        return;
    }
    let width = 20 + 7 * rows.iter().map(|(_, l)| l.len()).max().unwrap_or(0) as u32 + 24;
    let x = layout::RIGHT - 8 - width;
    let y = TOP + 8;
    out.push_str(r##"<rect fill="white" fill-opacity=".85" stroke="#888" x=""##);
    push_u64(out, u64::from(x));
    out.push_str(r#"" y=""#);
    push_u64(out, u64::from(y));
    out.push_str(r#"" width=""#);
    push_u64(out, u64::from(width));
    out.push_str(r#"" height=""#);
    push_u64(out, 16 * rows.len() as u64 + 6);
    out.push_str(r#""/>"#);
    for (i, (_, label)) in rows.iter().enumerate() {
        let row_y = i64::from(y + 14 + 16 * i as u32);
        marker(out, i, i64::from(x + 12) * 10, row_y * 10 - 40);
        out.push_str(r#"<text x=""#);
        push_u64(out, u64::from(x + 24));
        out.push_str(r#"" y=""#);
        push_i64(out, row_y);
        out.push_str(r#"">"#);
        out.push_str(label);
        out.push_str("</text>");
    }
}

/// One operation's marker at (x, y) in tenths, as path data: a dot (a zero-length round-capped
/// segment) for ok, a cross for fail, a triangle for info.
fn push_marker(out: &mut String, outcome: OpOutcome, x: i64, y: i64) {
    out.push('M');
    match outcome {
        OpOutcome::Ok => {
            push_tenths(out, x);
            out.push(' ');
            push_tenths(out, y);
            out.push_str("h0");
        }
        OpOutcome::Fail => {
            push_tenths(out, x - 30);
            out.push(' ');
            push_tenths(out, y - 30);
            out.push_str("l6 6m0-6l-6 6");
        }
        OpOutcome::Info | OpOutcome::Open => {
            push_tenths(out, x);
            out.push(' ');
            push_tenths(out, y - 40);
            out.push_str("l3.5 6h-7z");
        }
    }
}

/// The `<path>` attributes that draw [`push_marker`]'s path data in `color`.
fn marker_style(out: &mut String, outcome: OpOutcome, color: &str) {
    match outcome {
        OpOutcome::Ok => {
            out.push_str(r#"<path fill="none" stroke-linecap="round" stroke-width="4" stroke-opacity=".7" stroke=""#);
        }
        OpOutcome::Fail => out.push_str(r#"<path fill="none" stroke-width="1" stroke=""#),
        OpOutcome::Info | OpOutcome::Open => out.push_str(r#"<path stroke="none" fill=""#),
    }
    out.push_str(color);
    out.push_str(r#"" d=""#);
}

/// Client latency over time: one colour per operation type, one marker per outcome (ok dot,
/// fail cross, info triangle), log-scaled, with the fault intervals shaded. Dense stretches
/// keep the fastest and slowest operation of each pixel column (no outlier disappears), drawn
/// as one SVG path per series.
pub fn latency_over_time(ops: &[Op], shaded: &[(u64, u64)], end_nanos: u64) -> String {
    let mut out = String::with_capacity(16 * 1024);
    latency_over_time_into(&mut out, ops, shaded, end_nanos);
    out
}

/// [`latency_over_time`], appended to `out`.
pub fn latency_over_time_into(out: &mut String, ops: &[Op], shaded: &[(u64, u64)], end_nanos: u64) {
    const HEIGHT: u32 = 360;
    let end_nanos = end_nanos.max(1);
    // (function, outcome) -> per column (min, max) latency; (MAX, 0) where empty.
    let mut series: BTreeMap<(Function, OpOutcome), Vec<(u64, u64)>> = BTreeMap::new();
    let mut latency_max = 1u64;
    let mut latency_min = u64::MAX;
    for op in ops {
        let Some(latency) = op.latency_nanos() else {
            continue;
        };
        let latency = latency.max(1_000);
        latency_max = latency_max.max(latency);
        latency_min = latency_min.min(latency);
        let column = (op.start_nanos.min(end_nanos) * (COLUMNS - 1)) / end_nanos;
        let cells = series
            .entry((op.f, op.outcome))
            .or_insert_with(|| vec![(u64::MAX, 0); COLUMNS as usize]);
        let cell = &mut cells[column as usize];
        cell.0 = cell.0.min(latency);
        cell.1 = cell.1.max(latency);
    }
    if latency_min == u64::MAX {
        latency_min = 1_000;
    }
    // The y range in nanoseconds, log-scaled, with some room above and below.
    let low = (latency_min as f64 / 1.5).ln();
    let high = (latency_max as f64 * 1.5).ln().max(low + 1e-9);
    let bottom = HEIGHT - X_LABELS;
    let plot_height = f64::from(bottom - TOP) * 10.0;
    let y_of = |latency: u64| -> i64 {
        let fraction = ((latency as f64).ln() - low) / (high - low);
        i64::from(bottom) * 10 - (fraction * plot_height).round() as i64
    };
    let axis = Axis {
        start: 0,
        end: end_nanos,
    };
    open_chart(out, "latency", HEIGHT, axis, shaded, "latency (ms)");
    // A tick per decade of milliseconds.
    let mut decade = 1_000u64; // 1 us
    while decade <= (latency_max as f64 * 1.5) as u64 {
        if (decade as f64).ln() >= low {
            let label = if decade >= 1_000_000 {
                (decade / 1_000_000).to_string()
            } else {
                format!("{}", decade as f64 / 1e6)
            };
            y_tick(out, y_of(decade), &label);
        }
        decade = decade.saturating_mul(10);
    }
    let column_x = |column: usize| {
        i64::from(layout::LEFT) * 10
            + (column as i64 * i64::from(layout::PLOT_WIDTH) * 10) / (COLUMNS as i64 - 1)
    };
    let mut rows = Vec::with_capacity(series.len());
    for (&(f, outcome), columns) in &series {
        let color = hex(function_color(f));
        marker_style(out, outcome, &color);
        for (column, &(min, max)) in columns.iter().enumerate() {
            if min == u64::MAX {
                continue;
            }
            let x = column_x(column);
            push_marker(out, outcome, x, y_of(min));
            if max != min {
                push_marker(out, outcome, x, y_of(max));
            }
        }
        out.push_str(r#""/>"#);
        rows.push((color, format!("{} {}", f.as_str(), outcome.name())));
    }
    let outcomes: Vec<OpOutcome> = series.keys().map(|&(_, outcome)| outcome).collect();
    legend(out, &rows, |out, i, x, y| {
        marker_style(out, outcomes[i], &rows[i].0);
        push_marker(out, outcomes[i], x, y);
        out.push_str(r#""/>"#);
    });
    out.push_str("</svg>");
}

/// Completions per second by outcome (ok, fail, info), with the fault intervals shaded.
pub fn throughput(ops: &[Op], shaded: &[(u64, u64)], end_nanos: u64) -> String {
    let mut out = String::with_capacity(8 * 1024);
    throughput_into(&mut out, ops, shaded, end_nanos);
    out
}

/// [`throughput`], appended to `out`.
pub fn throughput_into(out: &mut String, ops: &[Op], shaded: &[(u64, u64)], end_nanos: u64) {
    const HEIGHT: u32 = 300;
    let end_nanos = end_nanos.max(1);
    let seconds_total = end_nanos.div_ceil(1_000_000_000).max(1);
    let outcomes = [OpOutcome::Ok, OpOutcome::Fail, OpOutcome::Info];
    let mut counts: Vec<Vec<u64>> = vec![vec![0; seconds_total as usize]; outcomes.len()];
    for op in ops {
        let Some(end) = op.end_nanos else { continue };
        let Some(row) = outcomes.iter().position(|&o| o == op.outcome) else {
            continue;
        };
        let second = (end / 1_000_000_000).min(seconds_total - 1) as usize;
        counts[row][second] += 1;
    }
    let peak = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    // A round step giving at most 8 grid lines; the top a little above the peak.
    let step = [1u64, 2, 5]
        .iter()
        .flat_map(|&m| (0..12).map(move |e| m * 10u64.pow(e)))
        .filter(|&step| peak.div_ceil(step) <= 8)
        .min()
        .unwrap_or(1);
    let y_max = (peak + peak / 8).max(1);
    let bottom = HEIGHT - X_LABELS;
    let plot_height = i64::from(bottom - TOP) * 10;
    let y_of = |count: u64| i64::from(bottom) * 10 - (count as i64 * plot_height) / y_max as i64;
    let axis = Axis {
        start: 0,
        end: end_nanos,
    };
    open_chart(out, "throughput", HEIGHT, axis, shaded, "operations / s");
    let mut tick = 0;
    while tick <= y_max {
        y_tick(out, y_of(tick), &tick.to_string());
        tick += step;
    }
    let mut rows = Vec::with_capacity(outcomes.len());
    for (outcome, row) in outcomes.iter().zip(&counts) {
        let color = hex(outcome_color(*outcome));
        // A point per second, at each second's middle.
        out.push_str(r#"<polyline fill="none" stroke-width="2" stroke=""#);
        out.push_str(&color);
        out.push_str(r#"" points=""#);
        for (second, &count) in row.iter().enumerate() {
            let middle = (second as u64 * 1_000_000_000 + 500_000_000).min(end_nanos);
            if second > 0 {
                out.push(' ');
            }
            push_tenths(out, axis.x(middle));
            out.push(',');
            push_tenths(out, y_of(count));
        }
        out.push_str(r#""/>"#);
        rows.push((color, outcome.name().to_string()));
    }
    legend(out, &rows, |out, i, x, y| {
        out.push_str(r#"<path stroke-width="2" stroke=""#);
        out.push_str(&rows[i].0);
        out.push_str(r#"" d="M"#);
        push_tenths(out, x - 60);
        out.push(' ');
        push_tenths(out, y);
        out.push_str(r#"h12"/>"#);
    });
    out.push_str("</svg>");
}

/// Latency CDFs, one line per named series of sorted latencies (nanoseconds), log-scaled x.
pub fn latency_cdf(series: &[(String, Vec<u64>)]) -> String {
    let all = series.iter().flat_map(|(_, values)| values.iter().copied());
    let (low, high) = all.fold((u64::MAX, 1u64), |(low, high), v| {
        (low.min(v.max(1_000)), high.max(v))
    });
    let low = if low == u64::MAX { 1_000 } else { low };
    let x_min = low as f64 / 1e6 / 1.2;
    let x_max = high.max(low + 1) as f64 / 1e6 * 1.2;
    render(360, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(layout::MARGIN)
            .x_label_area_size(35)
            .y_label_area_size(layout::Y_LABELS)
            .build_cartesian_2d((x_min..x_max).log_scale(), 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms)")
            .y_desc("fraction of ok operations")
            .draw()?;
        for (i, (name, values)) in series.iter().enumerate() {
            let color = SERIES_COLORS[i % SERIES_COLORS.len()];
            let n = values.len().max(1);
            // At most ~2 points per pixel column: every k-th value plus the last.
            let step = (values.len() / (2 * COLUMNS as usize)).max(1);
            let mut points: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter(|(rank, _)| rank % step == 0 || rank + 1 == values.len())
                .map(|(rank, &v)| ((v.max(1_000)) as f64 / 1e6, (rank + 1) as f64 / n as f64))
                .collect();
            if points.is_empty() {
                points.push((x_min, 0.0));
            }
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// Grouped bars: for each group (an x category) one bar per series. `values[s][g]` is series
/// `s` in group `g`.
pub fn grouped_bars(
    groups: &[String],
    series: &[String],
    values: &[Vec<f64>],
    y_desc: &str,
) -> String {
    let y_max = values
        .iter()
        .flat_map(|row| row.iter().copied())
        .fold(0f64, f64::max)
        .max(1e-9)
        * 1.15;
    let group_count = groups.len().max(1);
    let series_count = series.len().max(1);
    render(320, |root| {
        let mut chart = ChartBuilder::on(&root)
            .margin(layout::MARGIN)
            .x_label_area_size(35)
            .y_label_area_size(layout::Y_LABELS)
            .build_cartesian_2d(0f64..group_count as f64, 0f64..y_max)?;
        let names = groups.to_vec();
        chart
            .configure_mesh()
            .y_desc(y_desc)
            .x_labels(group_count * 2 + 1)
            .x_label_formatter(&move |x| {
                let index = (*x - 0.5).round();
                if (*x - 0.5 - index).abs() < 1e-6 && index >= 0.0 {
                    names.get(index as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .disable_x_mesh()
            .draw()?;
        let width = 0.8 / series_count as f64;
        for (s, name) in series.iter().enumerate() {
            let color = SERIES_COLORS[s % SERIES_COLORS.len()];
            let row = values.get(s).cloned().unwrap_or_default();
            chart
                .draw_series(row.iter().enumerate().map(|(g, &v)| {
                    let x0 = g as f64 + 0.1 + s as f64 * width;
                    Rectangle::new([(x0, 0.0), (x0 + width * 0.9, v)], color.filled())
                }))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        root.present()?;
        Ok(())
    })
}
