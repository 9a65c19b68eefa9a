//! The checker's hardening: indeterminate operations that nothing can have observed, blind
//! writes that crashed, the memory limit, and input it must refuse with the offending event.

use sim_core::check::formats::{self, Format};
use sim_core::check::{check_events, CheckOptions, Model, Verdict};
use sim_core::history::{EventType, Function, HistoryEvent, Value};

fn event(
    process: u64,
    kind: EventType,
    f: Function,
    key: Option<&str>,
    value: Value,
) -> HistoryEvent {
    HistoryEvent {
        index: 0,
        time: 0,
        process,
        kind,
        f,
        key: key.map(str::to_string),
        value,
        token: None,
    }
}

fn numbered(mut events: Vec<HistoryEvent>) -> Vec<HistoryEvent> {
    for (index, event) in events.iter_mut().enumerate() {
        event.index = index as u64;
        event.time = index as u64;
    }
    events
}

/// Forty concurrent writes of 1..=40 that all end `info`, then twenty reads one after the
/// other, each of a value one of those writes wrote (`reads`).
fn crashed_writes_then_reads(reads: &[i64]) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    for p in 0..40 {
        events.push(event(
            p,
            EventType::Invoke,
            Function::Write,
            None,
            Value::Int(p as i64 + 1),
        ));
    }
    for p in 0..40 {
        events.push(event(
            p,
            EventType::Info,
            Function::Write,
            None,
            Value::Int(p as i64 + 1),
        ));
    }
    for (i, &value) in reads.iter().enumerate() {
        let p = 100 + i as u64;
        events.push(event(
            p,
            EventType::Invoke,
            Function::Read,
            None,
            Value::Null,
        ));
        events.push(event(
            p,
            EventType::Ok,
            Function::Read,
            None,
            Value::Int(value),
        ));
    }
    numbered(events)
}

/// Twenty distinct values of 1..=40 in a fixed shuffled order.
const READS: [i64; 20] = [
    17, 3, 29, 40, 8, 21, 1, 35, 12, 26, 6, 38, 15, 31, 2, 24, 10, 33, 19, 27,
];

#[test]
fn crashed_writes_read_later_are_decided_in_milliseconds() {
    let events = crashed_writes_then_reads(&READS);
    let result = check_events(&events, Model::Register, &CheckOptions::default()).unwrap();
    assert_eq!(
        result.verdict,
        Verdict::Linearizable,
        "{:?}",
        result.unknown_reason
    );
    assert!(result.steps < 50_000, "{} steps", result.steps);
    // The twenty writes nobody read are dropped before the search.
    assert_eq!(result.operations, 40);

    // A value read again after another one: its write can take effect only once.
    let mut reads = READS;
    reads[7] = reads[5];
    let events = crashed_writes_then_reads(&reads);
    let result = check_events(&events, Model::Register, &CheckOptions::default()).unwrap();
    assert_eq!(result.verdict, Verdict::NotLinearizable);
    assert!(result.steps < 50_000, "{} steps", result.steps);
    let explanation = result.explanation.expect("explained");
    // The second read of the value (event 80 + 2 * 7 + 1) is where every linearization fails.
    assert_eq!(explanation.failing_event, 95);

    // With the reductions off this is Porcupine's search, which cannot decide it in a budget
    // a thousand times larger: the test would catch the reduction being lost.
    let plain = CheckOptions {
        reductions: false,
        budget_steps: 2_000_000,
        ..CheckOptions::default()
    };
    let result = check_events(&crashed_writes_then_reads(&READS), Model::Register, &plain).unwrap();
    assert_eq!(result.verdict, Verdict::Unknown);
}

#[test]
fn a_crashed_write_may_not_be_needed_twice_nor_read_before_it_was_invoked() {
    // A read of 5 that returned before the crashed write of 5 was invoked cannot have seen it.
    let events = numbered(vec![
        event(1, EventType::Invoke, Function::Read, None, Value::Null),
        event(1, EventType::Ok, Function::Read, None, Value::Int(5)),
        event(2, EventType::Invoke, Function::Write, None, Value::Int(5)),
        event(2, EventType::Info, Function::Write, None, Value::Int(5)),
    ]);
    for reductions in [true, false] {
        let options = CheckOptions {
            reductions,
            ..CheckOptions::default()
        };
        let result = check_events(&events, Model::Register, &options).unwrap();
        assert_eq!(
            result.verdict,
            Verdict::NotLinearizable,
            "reductions {reductions}"
        );
    }
    let result = check_events(&events, Model::Register, &CheckOptions::default()).unwrap();
    assert_eq!(result.operations, 1, "the crashed write is dropped");
}

/// Per model, an indeterminate operation nothing completed can have observed is dropped, and
/// the verdict is the one without dropping.
#[test]
fn unobserved_indeterminate_operations_are_dropped_per_model() {
    let cases: Vec<(Model, Vec<HistoryEvent>, Verdict, usize)> = vec![
        // Counter: an add of 0, and an add invoked after the last read returned.
        (
            Model::Counter,
            numbered(vec![
                event(1, EventType::Invoke, Function::Add, None, Value::Int(0)),
                event(2, EventType::Invoke, Function::Add, None, Value::Int(3)),
                event(2, EventType::Ok, Function::Add, None, Value::Int(3)),
                event(3, EventType::Invoke, Function::Read, None, Value::Null),
                event(3, EventType::Ok, Function::Read, None, Value::Int(3)),
                event(4, EventType::Invoke, Function::Add, None, Value::Int(7)),
            ]),
            Verdict::Linearizable,
            2,
        ),
        // Counter: the crashed add is the only explanation of the read; it stays.
        (
            Model::Counter,
            numbered(vec![
                event(1, EventType::Invoke, Function::Add, None, Value::Int(7)),
                event(3, EventType::Invoke, Function::Read, None, Value::Null),
                event(3, EventType::Ok, Function::Read, None, Value::Int(7)),
            ]),
            Verdict::Linearizable,
            2,
        ),
        // String store: an append of "z" no read contains, a put of "q" no read starts with.
        (
            Model::KvAppend,
            numbered(vec![
                event(
                    1,
                    EventType::Invoke,
                    Function::Append,
                    Some("k"),
                    Value::Str("a".into()),
                ),
                event(
                    1,
                    EventType::Ok,
                    Function::Append,
                    Some("k"),
                    Value::Str("a".into()),
                ),
                event(
                    2,
                    EventType::Invoke,
                    Function::Append,
                    Some("k"),
                    Value::Str("z".into()),
                ),
                event(
                    4,
                    EventType::Invoke,
                    Function::Write,
                    Some("k"),
                    Value::Str("q".into()),
                ),
                event(3, EventType::Invoke, Function::Read, Some("k"), Value::Null),
                event(
                    3,
                    EventType::Ok,
                    Function::Read,
                    Some("k"),
                    Value::Str("a".into()),
                ),
            ]),
            Verdict::Linearizable,
            2,
        ),
        // String store: a read that contains the crashed append keeps it.
        (
            Model::KvAppend,
            numbered(vec![
                event(
                    2,
                    EventType::Invoke,
                    Function::Append,
                    Some("k"),
                    Value::Str("z".into()),
                ),
                event(3, EventType::Invoke, Function::Read, Some("k"), Value::Null),
                event(
                    3,
                    EventType::Ok,
                    Function::Read,
                    Some("k"),
                    Value::Str("z".into()),
                ),
            ]),
            Verdict::Linearizable,
            2,
        ),
        // Mutex: an acquire invoked after everything completed returned.
        (
            Model::Mutex,
            numbered(vec![
                event(1, EventType::Invoke, Function::Acquire, None, Value::Null),
                event(1, EventType::Ok, Function::Acquire, None, Value::Null),
                event(2, EventType::Invoke, Function::Acquire, None, Value::Null),
            ]),
            Verdict::Linearizable,
            1,
        ),
        // Mutex: a crashed release may have freed the lock for the next acquire; it stays.
        (
            Model::Mutex,
            numbered(vec![
                event(1, EventType::Invoke, Function::Acquire, None, Value::Null),
                event(1, EventType::Ok, Function::Acquire, None, Value::Null),
                event(1, EventType::Invoke, Function::Release, None, Value::Null),
                event(1, EventType::Info, Function::Release, None, Value::Null),
                event(2, EventType::Invoke, Function::Acquire, None, Value::Null),
                event(2, EventType::Ok, Function::Acquire, None, Value::Null),
            ]),
            Verdict::Linearizable,
            3,
        ),
    ];
    for (number, (model, events, expected, operations)) in cases.into_iter().enumerate() {
        let reduced = check_events(&events, model, &CheckOptions::default()).unwrap();
        let plain = CheckOptions {
            reductions: false,
            ..CheckOptions::default()
        };
        let full = check_events(&events, model, &plain).unwrap();
        assert_eq!(reduced.verdict, expected, "case {number}");
        assert_eq!(full.verdict, expected, "case {number}");
        assert_eq!(
            reduced.operations, operations,
            "case {number}: operations kept"
        );
    }
}

/// Many crashed adds of distinct amounts: each subset of them is a different sum, so the
/// search's cache grows with 2^n. The memory limit stops it with `unknown` and says why.
#[test]
fn the_memory_limit_gives_unknown_with_the_reason() {
    let mut events = Vec::new();
    for p in 0..40 {
        events.push(event(
            p,
            EventType::Invoke,
            Function::Add,
            None,
            Value::Int(1 << p),
        ));
    }
    // A sum no subset makes, read after all of them were invoked.
    events.push(event(
        100,
        EventType::Invoke,
        Function::Read,
        None,
        Value::Null,
    ));
    events.push(event(
        100,
        EventType::Ok,
        Function::Read,
        None,
        Value::Int(-1),
    ));
    let options = CheckOptions {
        memory_bytes_max: 4 << 20,
        budget_steps: u64::MAX,
        cache_entries_max: u64::MAX,
        ..CheckOptions::default()
    };
    let result = check_events(&numbered(events), Model::Counter, &options).unwrap();
    assert_eq!(result.verdict, Verdict::Unknown);
    let reason = result.unknown_reason.expect("a reason");
    assert!(reason.contains("memory limit of 4 MiB"), "{reason}");
}

#[test]
fn a_second_invoke_while_the_first_is_open_is_an_error_at_that_event() {
    let events = numbered(vec![
        event(1, EventType::Invoke, Function::Write, None, Value::Int(1)),
        event(2, EventType::Invoke, Function::Read, None, Value::Null),
        event(1, EventType::Invoke, Function::Write, None, Value::Int(2)),
        event(1, EventType::Ok, Function::Write, None, Value::Int(2)),
    ]);
    let error = check_events(&events, Model::Register, &CheckOptions::default()).unwrap_err();
    assert_eq!(error.event, 2);
    assert!(
        error.message.contains("at most one open operation"),
        "{error}"
    );
    // After an `info` the process may go on (its operation is no longer open).
    let events = numbered(vec![
        event(1, EventType::Invoke, Function::Write, None, Value::Int(1)),
        event(1, EventType::Info, Function::Write, None, Value::Int(1)),
        event(1, EventType::Invoke, Function::Write, None, Value::Int(2)),
        event(1, EventType::Ok, Function::Write, None, Value::Int(2)),
    ]);
    assert!(check_events(&events, Model::Register, &CheckOptions::default()).is_ok());
}

#[test]
fn the_kv_model_refuses_strings_and_appends_naming_the_string_store() {
    let strings = numbered(vec![
        event(
            1,
            EventType::Invoke,
            Function::Write,
            Some("k"),
            Value::Int(1),
        ),
        event(1, EventType::Ok, Function::Write, Some("k"), Value::Int(1)),
        event(
            2,
            EventType::Invoke,
            Function::Write,
            Some("k"),
            Value::Str("x".into()),
        ),
        event(
            2,
            EventType::Ok,
            Function::Write,
            Some("k"),
            Value::Str("x".into()),
        ),
    ]);
    let error = check_events(&strings, Model::Kv, &CheckOptions::default()).unwrap_err();
    assert_eq!(error.event, 2);
    assert!(error.message.contains("kv-append"), "{error}");
    // A read that saw a string: the completion is named.
    let read = numbered(vec![
        event(1, EventType::Invoke, Function::Read, Some("k"), Value::Null),
        event(
            1,
            EventType::Ok,
            Function::Read,
            Some("k"),
            Value::Str("x".into()),
        ),
    ]);
    let error = check_events(&read, Model::Kv, &CheckOptions::default()).unwrap_err();
    assert_eq!(error.event, 1);
    let append = numbered(vec![
        event(
            1,
            EventType::Invoke,
            Function::Append,
            Some("k"),
            Value::Str("x".into()),
        ),
        event(
            1,
            EventType::Ok,
            Function::Append,
            Some("k"),
            Value::Str("x".into()),
        ),
    ]);
    let error = check_events(&append, Model::Kv, &CheckOptions::default()).unwrap_err();
    assert!(error.message.contains("kv-append"), "{error}");
    // The same history checks as a string store, and the register model still takes strings.
    let result = check_events(&append, Model::KvAppend, &CheckOptions::default()).unwrap();
    assert_eq!(result.verdict, Verdict::Linearizable);
    assert_eq!(
        check_events(&strings, Model::Register, &CheckOptions::default())
            .unwrap()
            .verdict,
        Verdict::Linearizable
    );
}

#[test]
fn porcupine_kv_appends_read_as_append_and_pick_the_string_store() {
    let text = r#"{:process 0, :type :invoke, :f :append, :key "1", :value "x 0 0 y"}
{:process 0, :type :ok, :f :append, :key "1", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "1", :value nil}
{:process 1, :type :ok, :f :get, :key "1", :value "x 0 0 y"}
"#;
    let history = formats::read(Format::PorcupineKv, text).unwrap();
    assert_eq!(history.events[0].f, Function::Append);
    assert_eq!(formats::infer_model(&history.events), Model::KvAppend);
    let options = CheckOptions {
        dialect: history.dialect,
        initial: history.initial.clone(),
        ..CheckOptions::default()
    };
    let result = check_events(&history.events, Model::KvAppend, &options).unwrap();
    assert_eq!(result.verdict, Verdict::Linearizable);
    let error = check_events(&history.events, Model::Kv, &options).unwrap_err();
    assert!(error.message.contains("kv-append"), "{error}");
}
