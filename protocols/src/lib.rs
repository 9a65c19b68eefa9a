//! protocols (under construction)
#![forbid(unsafe_code)]
