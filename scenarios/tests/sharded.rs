//! The sharded store end to end: what validation refuses (a non-keyed application, bad
//! membership events, unknown crash points) with the field path and what is expected.

use scenarios::scenario::{Scenario, ScenarioError};

/// Parses `text` and expects a semantic error at `path`; returns the message.
#[track_caller]
fn semantic_error(text: &str, path: &str) -> String {
    match Scenario::from_str(text, "t.ron") {
        Err(ScenarioError::Invalid {
            path: got_path,
            message,
            ..
        }) => {
            assert_eq!(got_path, path, "wrong path for {text:?}: {message}");
            message
        }
        other => panic!("expected a semantic error for {text:?}, got {other:?}"),
    }
}

#[track_caller]
fn parse(text: &str) -> Scenario {
    Scenario::from_str(text, "t.ron").unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn the_sharded_store_runs_only_keyed_stores() {
    // It keeps the keys itself: the kv store and the register run on it...
    parse("Scenario(protocol: Sharded(), app: Kv(keys: 8))");
    parse("Scenario(protocol: Sharded(), app: Register)");
    // ... and any other application is refused at validation, not at the start of its run.
    for app in ["Counter()", "Lock()", "Bank()"] {
        let message = semantic_error(&format!("Scenario(protocol: Sharded(), app: {app})"), "app");
        assert!(message.contains("not on shard"), "{message}");
        assert!(!message.contains(", shard"), "{message}");
    }
    let message = semantic_error("Scenario(protocol: Sharded(), app: Counter())", "app");
    assert!(
        message.contains("the counter application runs on single-server"),
        "{message}"
    );
}
