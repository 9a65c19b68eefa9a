//! A small SVG writer for the run page: numbers written as integers (coordinates in tenths of a
//! pixel, times in milliseconds), text escaped only when it needs it, everything appended to
//! one `String`. A run page is drawn for every `run --out`, so its cost is part of a run's:
//! formatting floats and building one element per data point (what a plotting library does)
//! cost more than the simulation (see README "## Reports").

use layout::{LEFT, PLOT_WIDTH};

/// The horizontal geometry every run-page figure shares.
pub mod layout {
    /// Figure width in pixels.
    pub const WIDTH: u32 = 1100;
    /// Outer margin.
    pub const MARGIN: u32 = 10;
    /// Room for the y axis labels.
    pub const Y_LABELS: u32 = 60;
    /// Left edge of the plotting area.
    pub const LEFT: u32 = MARGIN + Y_LABELS;
    /// Right edge of the plotting area.
    pub const RIGHT: u32 = WIDTH - MARGIN;
    /// Width of the plotting area.
    pub const PLOT_WIDTH: u32 = RIGHT - LEFT;
}

/// Appends `value` in decimal. A page and a history are mostly numbers: `write!` costs
/// several times this, and so do a `char` push per digit or a UTF-8 check of the digits (itoa
/// writes them into a stack buffer known to be ASCII, then one copy).
pub fn push_u64(out: &mut String, value: u64) {
    if value < 10 {
        out.push(char::from(b'0' + value as u8));
        return;
    }
    out.push_str(itoa::Buffer::new().format(value));
}

/// Appends a signed value in decimal.
pub fn push_i64(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    push_u64(out, value.unsigned_abs());
}

/// Appends tenths as a decimal: `1234` -> `123.4`, `1230` -> `123`.
pub fn push_tenths(out: &mut String, tenths: i64) {
    if tenths < 0 {
        out.push('-');
    }
    let magnitude = tenths.unsigned_abs();
    push_u64(out, magnitude / 10);
    if magnitude % 10 != 0 {
        out.push('.');
        out.push(char::from(b'0' + (magnitude % 10) as u8));
    }
}

/// Appends nanoseconds as seconds with three decimals (milliseconds): `1234567890` ->
/// `1.234`.
pub fn push_seconds(out: &mut String, nanos: u64) {
    let millis = nanos / 1_000_000;
    push_u64(out, millis / 1000);
    out.push('.');
    let rest = millis % 1000;
    out.push(char::from(b'0' + (rest / 100) as u8));
    out.push(char::from(b'0' + (rest / 10 % 10) as u8));
    out.push(char::from(b'0' + (rest % 10) as u8));
}

/// The bytes [`push_escaped`] replaces.
const SPECIAL: [bool; 256] = {
    let mut special = [false; 256];
    special[b'&' as usize] = true;
    special[b'<' as usize] = true;
    special[b'>' as usize] = true;
    special[b'"' as usize] = true;
    special[b'\'' as usize] = true;
    special
};

/// Appends `text` escaped for HTML and SVG; text without special characters is copied as is.
pub fn push_escaped(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut copied = 0;
    for (at, &b) in bytes.iter().enumerate() {
        // One table load per byte; most bytes are not special.
        if !SPECIAL[usize::from(b)] {
            continue;
        }
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // The special characters are ASCII: both slices end on character boundaries.
        out.push_str(&text[copied..at]);
        out.push_str(entity);
        copied = at + 1;
    }
    out.push_str(&text[copied..]);
}

/// Appends `text` as HTML element content (a `<pre>`): only `<`, `>` and `&` need escaping
/// there, and text without them (most scenario files) is copied after one vectorised scan.
pub fn push_escaped_text(out: &mut String, text: &str) {
    if memchr::memchr3(b'<', b'>', b'&', text.as_bytes()).is_some() {
        push_escaped(out, text);
    } else {
        out.push_str(text);
    }
}

/// Maps nanoseconds in `[start, end]` to the shared plotting area, in tenths of a pixel.
#[derive(Clone, Copy)]
pub struct Axis {
    /// The left edge's time.
    pub start: u64,
    /// The right edge's time.
    pub end: u64,
}

impl Axis {
    /// The x coordinate of `nanos` (clamped to the axis), in tenths of a pixel.
    pub fn x(self, nanos: u64) -> i64 {
        let span = u128::from((self.end - self.start).max(1));
        let offset = u128::from(nanos.clamp(self.start, self.end) - self.start);
        i64::from(LEFT) * 10 + (offset * u128::from(PLOT_WIDTH) * 10 / span) as i64
    }

    /// Ticks at round seconds (or milliseconds for short windows), with their labels.
    pub fn ticks(self) -> Vec<(u64, String)> {
        let span = (self.end - self.start).max(1);
        let steps = [
            1_000_000u64,
            2_000_000,
            5_000_000,
            10_000_000,
            20_000_000,
            50_000_000,
            100_000_000,
            200_000_000,
            500_000_000,
            1_000_000_000,
            2_000_000_000,
            5_000_000_000,
            10_000_000_000,
            20_000_000_000,
            60_000_000_000,
        ];
        let step = steps
            .iter()
            .copied()
            .find(|step| span / step <= 12)
            .unwrap_or(120_000_000_000);
        let first = self.start.div_ceil(step) * step;
        (0..)
            .map(|i| first + i * step)
            .take_while(|&t| t <= self.end)
            .map(|t| {
                let mut label = String::new();
                if step >= 1_000_000_000 {
                    push_u64(&mut label, t / 1_000_000_000);
                } else {
                    push_seconds(&mut label, t);
                }
                label.push('s');
                (t, label)
            })
            .collect()
    }

    /// Vertical tick lines from `y` down `height` pixels, labelled below.
    pub fn draw(self, out: &mut String, y: u32, height: u32) {
        for (t, label) in self.ticks() {
            let x = self.x(t);
            out.push_str(r#"<line class="tick" x1=""#);
            push_tenths(out, x);
            out.push_str(r#"" y1=""#);
            push_u64(out, u64::from(y));
            out.push_str(r#"" x2=""#);
            push_tenths(out, x);
            out.push_str(r#"" y2=""#);
            push_u64(out, u64::from(y + height));
            out.push_str(r#""/><text class="tick" x=""#);
            push_tenths(out, x);
            out.push_str(r#"" y=""#);
            push_u64(out, u64::from(y + height + 14));
            out.push_str(r#"" text-anchor="middle">"#);
            out.push_str(&label);
            out.push_str("</text>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_text_are_written_as_expected() {
        let mut out = String::new();
        push_u64(&mut out, 0);
        out.push(' ');
        push_u64(&mut out, u64::MAX);
        for value in [7, 10, 99, 100, 101, 1_000_000_007] {
            out.push(' ');
            push_u64(&mut out, value);
        }
        out.push(' ');
        push_i64(&mut out, -42);
        out.push(' ');
        push_tenths(&mut out, 1234);
        out.push(' ');
        push_tenths(&mut out, 1230);
        out.push(' ');
        push_tenths(&mut out, -5);
        out.push(' ');
        push_seconds(&mut out, 1_234_567_890);
        out.push(' ');
        push_seconds(&mut out, 7_000_000);
        assert_eq!(
            out,
            "0 18446744073709551615 7 10 99 100 101 1000000007 -42 123.4 123 -0.5 1.234 0.007"
        );
        let mut text = String::new();
        push_escaped(&mut text, "a<b & 'c' \"d\" é>");
        assert_eq!(text, "a&lt;b &amp; &#39;c&#39; &quot;d&quot; é&gt;");
        let mut content = String::new();
        push_escaped_text(&mut content, "(at: \"5ms\")");
        push_escaped_text(&mut content, " a<b");
        assert_eq!(content, "(at: \"5ms\") a&lt;b");
        let axis = Axis { start: 0, end: 100 };
        assert_eq!(axis.x(0), i64::from(LEFT) * 10);
        assert_eq!(axis.x(100), i64::from(LEFT + PLOT_WIDTH) * 10);
        assert_eq!(axis.x(500), i64::from(LEFT + PLOT_WIDTH) * 10);
    }
}
