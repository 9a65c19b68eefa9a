//! Text escaped for HTML and SVG: shared by the page writers (html.rs) and the SVG lanes
//! (timeline.rs), so neither imports the other for it.

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    crate::svg::push_escaped(&mut out, text);
    out
}
