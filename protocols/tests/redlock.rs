//! Redlock's declared marks are the marks its node emits (the shared test in
//! `declared_marks.rs` covers the protocols that existed before it, with the same scan).

use std::collections::BTreeSet;

#[test]
fn redlocks_declared_marks_are_the_marks_its_code_emits() {
    let source = include_str!("../src/redlock/node.rs");
    let mut emitted = BTreeSet::new();
    let mut rest = source;
    while let Some(start) = rest.find("\"redlock.") {
        let after = &rest[start + 1..];
        let end = after.find('"').expect("an unterminated string literal");
        // Crash points (`ctx.crash_point("redlock.…")`) are declared in CRASH_POINTS, not
        // as marks.
        let name = after[..end].to_string();
        if !protocols::redlock::CRASH_POINTS.contains(&name.as_str()) {
            emitted.insert(name);
        }
        rest = &after[end + 1..];
    }
    let declared: BTreeSet<String> = protocols::redlock::MARKS
        .iter()
        .map(|mark| mark.to_string())
        .collect();
    assert_eq!(
        declared.len(),
        protocols::redlock::MARKS.len(),
        "a mark listed twice"
    );
    assert_eq!(declared, emitted);
}

#[test]
fn redlock_runs_the_lock_and_takes_its_lease_from_it() {
    use protocols::apps::Application;
    use protocols::registry::{app_by_name, protocol_by_name};
    let redlock = protocol_by_name("redlock").expect("registered");
    let lock = app_by_name("lock").expect("registered");
    assert!(redlock.capabilities().covers(lock.requires()));
    let mut params = protocols::params::Params::defaults(lock.params());
    params.set(
        "lease",
        protocols::params::ParamValue::Duration(sim_core::time::Duration::from_millis(300)),
    );
    let built = lock.build(&params, protocols::mutation::BugSet::NONE);
    let config = built.lock_config().expect("the lock table knows its lease");
    assert_eq!(config.lease_ttl, sim_core::time::Duration::from_millis(300));
    let kv = app_by_name("kv").expect("registered");
    let kv_params = protocols::params::Params::defaults(kv.params());
    assert!(kv
        .build(&kv_params, protocols::mutation::BugSet::NONE)
        .lock_config()
        .is_none());
}
