//! The linearizability checker (under construction).
