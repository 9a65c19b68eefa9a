//! Raft (under construction).
