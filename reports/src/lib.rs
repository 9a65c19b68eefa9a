//! Reports for faultline (DESIGN.md §8): the run page, sweep summaries, protocol comparisons
//! and history exports.
//!
//! - [`data`] derives what pages show from what a run already keeps: operations paired from
//!   the history, fault intervals from the applied faults, node roles from the protocol's
//!   observations (recorded only when a report is asked for).
//! - [`charts`] draws plots with plotters' SVG backend; [`timeline`] draws the fault, node and
//!   history lanes on the same time axis; [`html`] puts them in one self-contained page.
//! - [`edn`] writes `history.edn` for Knossos and Elle.
//!
//! Reports depend on sim-core only (DESIGN.md §1): the scenarios crate hands them plain data.
//! Nothing here feeds back into a run, so nothing here can change a trace digest; floats appear
//! only where a chart places a point.
#![forbid(unsafe_code)]

pub mod charts;
pub mod data;
pub mod edn;
pub mod escape;
pub mod html;
pub mod summary;
pub mod svg;
pub mod timeline;

pub use html::{run_page, RunPage};
