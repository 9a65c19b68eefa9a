//! A single-server register/kv (under construction).
