//! Known-answer tests: hand-made histories with their verdicts, budget and cache limits that
//! must give `Unknown` (never a pass), explanations, and readers that name the malformed line.

use sim_core::check::formats::{self, Format};
use sim_core::check::{check_events, CheckOptions, Model, Verdict};
use sim_core::history::HistoryEvent;

fn native(lines: &[&str]) -> Vec<HistoryEvent> {
    let text = numbered(lines).join("\n");
    formats::native::read(&text)
        .expect("valid native history")
        .events
}

fn verdict(model: Model, lines: &[&str]) -> Verdict {
    check_events(&native(lines), model, &CheckOptions::default())
        .expect("checkable")
        .verdict
}

/// The shorthand lines of `e` and `ek` numbered by position (the reader refuses an index that
/// does not increase); lines written out in full keep theirs.
fn numbered(lines: &[&str]) -> Vec<String> {
    let shorthand = r#"{"index":0,"time":0,"#;
    lines
        .iter()
        .enumerate()
        .map(|(position, line)| match line.strip_prefix(shorthand) {
            Some(rest) => format!(r#"{{"index":{position},"time":0,{rest}"#),
            None => line.to_string(),
        })
        .collect()
}

/// Shorthand: `e(p, type, f, value)` as a native line (index 0 and time 0; `native` numbers
/// the lines by position).
fn e(process: u64, kind: &str, f: &str, value: &str) -> String {
    format!(
        r#"{{"index":0,"time":0,"process":{process},"type":"{kind}","f":"{f}","value":{value}}}"#
    )
}

fn ek(process: u64, kind: &str, f: &str, key: &str, value: &str) -> String {
    format!(
        r#"{{"index":0,"time":0,"process":{process},"type":"{kind}","f":"{f}","key":"{key}","value":{value}}}"#
    )
}

fn check_lines(model: Model, lines: &[String]) -> Verdict {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    verdict(model, &refs)
}

#[test]
fn design_example_is_linearizable() {
    let lines = [
        r#"{"index":0,"time":1200,"process":3,"type":"invoke","f":"write","key":"a","value":5}"#,
        r#"{"index":1,"time":3400,"process":3,"type":"ok","f":"write","key":"a","value":5}"#,
        r#"{"index":2,"time":3500,"process":4,"type":"invoke","f":"cas","key":"a","value":[5,6]}"#,
        r#"{"index":3,"time":3900,"process":4,"type":"fail","f":"cas","key":"a","value":[5,6]}"#,
        r#"{"index":4,"time":4000,"process":5,"type":"invoke","f":"read","key":"a","value":null}"#,
        r#"{"index":5,"time":4800,"process":5,"type":"ok","f":"read","key":"a","value":6}"#,
    ];
    // The cas failed, so nothing wrote 6: the read of 6 is impossible.
    assert_eq!(verdict(Model::Kv, &lines), Verdict::NotLinearizable);
    let mut fixed = lines;
    fixed[5] = r#"{"index":5,"time":4800,"process":5,"type":"ok","f":"read","key":"a","value":5}"#;
    assert_eq!(verdict(Model::Kv, &fixed), Verdict::Linearizable);
}

#[test]
fn stale_read_after_acknowledged_write_is_a_violation() {
    let history = [
        e(1, "invoke", "write", "1"),
        e(1, "ok", "write", "1"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "null"),
    ];
    assert_eq!(
        check_lines(Model::Register, &history),
        Verdict::NotLinearizable
    );
    let result = check_events(
        &native(&history.iter().map(String::as_str).collect::<Vec<_>>()),
        Model::Register,
        &CheckOptions::default(),
    )
    .unwrap();
    let explanation = result.explanation.unwrap();
    assert_eq!(explanation.failing_event, 3, "the stale read's completion");
    assert_eq!(explanation.linearized, vec![0], "the write is linearized");
    assert_eq!(explanation.state, "1");
    assert_eq!(explanation.rejected.len(), 1);
    assert_eq!(explanation.rejected[0].invoke_event, 2);
    assert!(
        explanation.rejected[0]
            .reason
            .contains("read absent but the value is 1"),
        "{}",
        explanation.rejected[0].reason
    );
}

#[test]
fn concurrent_read_may_see_either_value() {
    let history = [
        e(1, "invoke", "write", "1"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "null"),
        e(1, "ok", "write", "1"),
    ];
    assert_eq!(
        check_lines(Model::Register, &history),
        Verdict::Linearizable
    );
    let history = [
        e(1, "invoke", "write", "1"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "1"),
        e(1, "ok", "write", "1"),
    ];
    assert_eq!(
        check_lines(Model::Register, &history),
        Verdict::Linearizable
    );
}

#[test]
fn info_write_may_take_effect_late_or_never() {
    // The crashed write of 1 explains the later read of 1 even after its info line...
    let late = [
        e(1, "invoke", "write", "1"),
        e(1, "info", "write", "null"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "1"),
    ];
    assert_eq!(check_lines(Model::Register, &late), Verdict::Linearizable);
    // ...or never: a read of absent is fine too.
    let never = [
        e(1, "invoke", "write", "1"),
        e(1, "info", "write", "null"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "null"),
    ];
    assert_eq!(check_lines(Model::Register, &never), Verdict::Linearizable);
    // But it cannot take effect twice: absent, 1, absent is impossible.
    let twice = [
        e(1, "invoke", "write", "1"),
        e(1, "info", "write", "null"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "1"),
        e(3, "invoke", "read", "null"),
        e(3, "ok", "read", "null"),
    ];
    assert_eq!(
        check_lines(Model::Register, &twice),
        Verdict::NotLinearizable
    );
    // A failed write never happened.
    let failed = [
        e(1, "invoke", "write", "1"),
        e(1, "fail", "write", "1"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "1"),
    ];
    assert_eq!(
        check_lines(Model::Register, &failed),
        Verdict::NotLinearizable
    );
}

#[test]
fn counter_mutex_and_kv_append_known_answers() {
    let counter = [
        e(1, "invoke", "add", "2"),
        e(1, "ok", "add", "2"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "3"),
    ];
    assert_eq!(
        check_lines(Model::Counter, &counter),
        Verdict::NotLinearizable
    );
    let counter = [
        e(1, "invoke", "add", "-1"),
        e(1, "ok", "add", "-1"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "-1"),
    ];
    assert_eq!(check_lines(Model::Counter, &counter), Verdict::Linearizable);

    let two_holders = [
        e(1, "invoke", "acquire", "null"),
        e(1, "ok", "acquire", "null"),
        e(2, "invoke", "acquire", "null"),
        e(2, "ok", "acquire", "null"),
    ];
    assert_eq!(
        check_lines(Model::Mutex, &two_holders),
        Verdict::NotLinearizable
    );
    let handover = [
        e(1, "invoke", "acquire", "null"),
        e(1, "ok", "acquire", "null"),
        e(2, "invoke", "acquire", "null"),
        e(1, "invoke", "release", "null"),
        e(1, "ok", "release", "null"),
        e(2, "ok", "acquire", "null"),
    ];
    assert_eq!(check_lines(Model::Mutex, &handover), Verdict::Linearizable);
    // Fencing tokens must grow with each acquisition.
    let tokens = [
        r#"{"index":0,"time":0,"process":1,"type":"invoke","f":"acquire","value":null}"#
            .to_string(),
        r#"{"index":1,"time":1,"process":1,"type":"ok","f":"acquire","value":null,"token":5}"#
            .to_string(),
        e(1, "invoke", "release", "null"),
        e(1, "ok", "release", "null"),
        r#"{"index":4,"time":4,"process":2,"type":"invoke","f":"acquire","value":null}"#
            .to_string(),
        r#"{"index":5,"time":5,"process":2,"type":"ok","f":"acquire","value":null,"token":4}"#
            .to_string(),
    ];
    assert_eq!(check_lines(Model::Mutex, &tokens), Verdict::NotLinearizable);
    // Releasing a lock held by another process is not allowed.
    let foreign = [
        e(1, "invoke", "acquire", "null"),
        e(1, "ok", "acquire", "null"),
        e(2, "invoke", "release", "null"),
        e(2, "ok", "release", "null"),
    ];
    assert_eq!(
        check_lines(Model::Mutex, &foreign),
        Verdict::NotLinearizable
    );

    let appends = [
        ek(1, "invoke", "add", "k", "\"x\""),
        ek(1, "ok", "add", "k", "\"x\""),
        ek(2, "invoke", "add", "k", "\"y\""),
        ek(2, "ok", "add", "k", "\"y\""),
        ek(3, "invoke", "read", "k", "null"),
        ek(3, "ok", "read", "k", "\"xy\""),
    ];
    assert_eq!(
        check_lines(Model::KvAppend, &appends),
        Verdict::Linearizable
    );
    let mut wrong = appends.clone();
    wrong[5] = ek(3, "ok", "read", "k", "\"yx\"");
    assert_eq!(
        check_lines(Model::KvAppend, &wrong),
        Verdict::NotLinearizable
    );
}

#[test]
fn keys_are_independent_objects() {
    let history = [
        ek(1, "invoke", "write", "a", "1"),
        ek(1, "ok", "write", "a", "1"),
        ek(2, "invoke", "read", "b", "null"),
        ek(2, "ok", "read", "b", "null"),
        ek(2, "invoke", "read", "a", "null"),
        ek(2, "ok", "read", "a", "1"),
    ];
    for partition in [true, false] {
        let refs: Vec<&str> = history.iter().map(String::as_str).collect();
        let options = CheckOptions {
            partition,
            ..CheckOptions::default()
        };
        let result = check_events(&native(&refs), Model::Kv, &options).unwrap();
        assert_eq!(result.verdict, Verdict::Linearizable);
        assert_eq!(result.partitions, if partition { 2 } else { 1 });
    }
}

/// A history hard enough to need many steps: many concurrent crashed writes then reads.
fn hard_history() -> Vec<String> {
    let mut lines = Vec::new();
    for p in 0..12 {
        lines.push(e(p, "invoke", "write", &p.to_string()));
        lines.push(e(p, "info", "write", "null"));
    }
    for p in 12..24u64 {
        lines.push(e(p, "invoke", "read", "null"));
        lines.push(e(p, "ok", "read", &((p * 7) % 12).to_string()));
    }
    lines.push(e(99, "invoke", "read", "null"));
    lines.push(e(99, "ok", "read", "77"));
    lines
}

#[test]
fn budget_exhaustion_is_unknown_never_a_pass() {
    let history = hard_history();
    let refs: Vec<&str> = history.iter().map(String::as_str).collect();
    let events = native(&refs);
    let full = check_events(&events, Model::Register, &CheckOptions::default()).unwrap();
    assert_eq!(full.verdict, Verdict::NotLinearizable);
    assert!(full.steps > 10, "needs some search: {}", full.steps);
    let tight = CheckOptions {
        budget_steps: 5,
        ..CheckOptions::default()
    };
    let result = check_events(&events, Model::Register, &tight).unwrap();
    assert_eq!(result.verdict, Verdict::Unknown);
    assert!(result.steps <= 5);
    assert!(result.unknown_reason.unwrap().contains("step budget"));
    let small_cache = CheckOptions {
        cache_entries_max: 3,
        ..CheckOptions::default()
    };
    let result = check_events(&events, Model::Register, &small_cache).unwrap();
    assert_eq!(result.verdict, Verdict::Unknown);
    assert!(result.unknown_reason.unwrap().contains("cache limit"));
}

#[test]
fn ill_formed_histories_are_errors_with_the_event() {
    let orphan = [e(1, "ok", "write", "1")];
    let refs: Vec<&str> = orphan.iter().map(String::as_str).collect();
    let error =
        check_events(&native(&refs), Model::Register, &CheckOptions::default()).unwrap_err();
    assert_eq!(error.event, 0);
    let cas_on_register = [e(1, "invoke", "cas", "[1,2]"), e(1, "ok", "cas", "[1,2]")];
    let refs: Vec<&str> = cas_on_register.iter().map(String::as_str).collect();
    assert!(check_events(&native(&refs), Model::Register, &CheckOptions::default()).is_err());
    let bad_cas = [e(1, "invoke", "cas", "5"), e(1, "ok", "cas", "5")];
    let refs: Vec<&str> = bad_cas.iter().map(String::as_str).collect();
    assert!(check_events(&native(&refs), Model::CasRegister, &CheckOptions::default()).is_err());
}

#[test]
fn readers_report_the_malformed_line() {
    let native_text = format!(
        "{}\n\n{}\nnot json\n",
        e(1, "invoke", "write", "1"),
        e(1, "ok", "write", "1").replacen(r#""index":0"#, r#""index":1"#, 1)
    );
    assert_eq!(
        formats::read(Format::Native, &native_text)
            .unwrap_err()
            .line,
        4
    );

    let etcd = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nsome chatter\nINFO  jepsen.util - :nemesis\t:info\t:start\tnil\nINFO  jepsen.util - 0\t:ok\t:read\tbanana\n";
    assert_eq!(
        formats::read(Format::PorcupineEtcd, etcd).unwrap_err().line,
        4
    );
    let etcd_ok = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\nINFO  jepsen.util - 0   :fail   :cas   [1 2]\n";
    let history = formats::read(Format::PorcupineEtcd, etcd_ok).unwrap();
    assert_eq!(history.events.len(), 2);

    let edn = "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value 0}\n {:process 1, :type :bogus, :f :read}]";
    assert_eq!(formats::read(Format::Edn, edn).unwrap_err().line, 3);
    let unterminated = "[{:process 0, :type :invoke,\n :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value \"abc\n\n";
    assert!(formats::read(Format::Edn, unterminated).is_err());
    let unbalanced = "{:process 0, :type :invoke, :f :read}\n{:process 0 :type}\n";
    assert_eq!(formats::read(Format::Edn, unbalanced).unwrap_err().line, 2);

    let kv = "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 0, :type :ok, :f :get, :key \"1\", :value \"\"}\n{:process 0, :type :invoke, :f :frobnicate, :key \"1\", :value nil}\n";
    assert_eq!(formats::read(Format::PorcupineKv, kv).unwrap_err().line, 3);
}

#[test]
fn edn_nemesis_and_txn_are_understood() {
    let edn = r#"; a comment
[{:process :nemesis, :type :info, :f :start, :value "partition"}
 {:type :invoke, :f :txn, :value [[:read :x nil] [:write :y 2]], :process 3}
 {:type :ok, :f :txn, :value [[:read :x 0] [:write :y 2]], :process 3}
 {:type :invoke, :f :txn, :value [[:read :y nil]], :process 4}
 {:type :ok, :f :txn, :value [[:read :y 0]], :process 4}]"#;
    let history = formats::read(Format::Edn, edn).unwrap();
    assert_eq!(history.events.len(), 4);
    assert_eq!(history.positions[0].ordinal, 1, "the nemesis map counts");
    assert_eq!(history.default_model, Model::MultiRegister);
    let options = CheckOptions {
        dialect: history.dialect,
        initial: history.initial.clone(),
        ..CheckOptions::default()
    };
    // y was written 2 before the second txn began: reading 0 is stale.
    assert_eq!(
        check_events(&history.events, Model::MultiRegister, &options)
            .unwrap()
            .verdict,
        Verdict::NotLinearizable
    );
}

/// Mangled input never panics: readers answer with a line, the checker with an error or a
/// verdict.
#[test]
fn mangled_input_never_panics() {
    use sim_core::history::{EventType, Function, Value};
    use sim_core::prng::{Prng, Stream};
    let samples: [(Format, &str); 4] = [
        (
            Format::Native,
            "{\"index\":0,\"time\":1,\"process\":3,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"a\",\"value\":[5,6]}\n{\"index\":1,\"time\":2,\"process\":3,\"type\":\"ok\",\"f\":\"cas\",\"key\":\"a\",\"value\":[5,6]}\n",
        ),
        (Format::PorcupineEtcd, "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\nINFO  jepsen.util - 2\t:fail\t:cas\t[3 0]\nINFO  jepsen.util - 4\t:info\t:write\t:timed-out\n"),
        (Format::PorcupineKv, "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n{:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n"),
        (Format::Edn, "[{:type :invoke, :f :txn, :value [[:read :x nil] [:write :y 2]], :process 3}\n {:type :ok, :f :txn, :value [[:read :x 0] [:write :y 2]], :process 3}\n {:process :nemesis, :type :info, :f :start, :value nil}]"),
    ];
    let mut rng = Prng::new(7, Stream::Custom(11));
    for (format, text) in samples {
        for _ in 0..400 {
            let mut bytes = text.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.index(bytes.len());
                match rng.below(3) {
                    0 => {
                        bytes.remove(at);
                    }
                    1 => bytes.insert(at, b"[]{}():\"\\ ,;#_-9x\n"[rng.index(18)]),
                    _ => bytes[at] = b"[]{}():\"\\ ,;#_-9x\n"[rng.index(18)],
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(history) = formats::read(format, &text) {
                for model in Model::ALL {
                    let options = CheckOptions {
                        budget_steps: 1000,
                        dialect: history.dialect,
                        ..CheckOptions::default()
                    };
                    let _ = check_events(&history.events, model, &options);
                }
            }
        }
    }
    // Random event soups, for every model.
    let functions = [
        Function::Read,
        Function::Write,
        Function::Cas,
        Function::Add,
        Function::Acquire,
        Function::Release,
        Function::Txn,
    ];
    let kinds = [
        EventType::Invoke,
        EventType::Ok,
        EventType::Fail,
        EventType::Info,
    ];
    let values = [
        Value::Null,
        Value::Int(-1),
        Value::Int(3),
        Value::Str("s".into()),
        Value::pair(1, 2),
        Value::List(vec![Value::List(vec![
            Value::Str("w".into()),
            Value::Str("x".into()),
            Value::Int(1),
        ])]),
    ];
    for _ in 0..2000 {
        let events: Vec<HistoryEvent> = (0..rng.below(8))
            .map(|i| HistoryEvent {
                index: i,
                time: i,
                process: rng.below(3),
                kind: kinds[rng.index(4)],
                f: functions[rng.index(functions.len())],
                key: if rng.below(2) == 0 {
                    None
                } else {
                    Some("k".into())
                },
                value: values[rng.index(values.len())].clone(),
                token: if rng.below(3) == 0 {
                    Some(rng.below(3))
                } else {
                    None
                },
            })
            .collect();
        for model in Model::ALL {
            let _ = check_events(
                &events,
                model,
                &CheckOptions {
                    budget_steps: 1000,
                    ..CheckOptions::default()
                },
            );
        }
    }
}

/// `n` crashed (`info`) writes of values nobody reads, beside acknowledged writes and reads of
/// other values; `last_read` is what a final read returns.
fn many_unread_info_writes(n: u64, last_read: &str) -> Vec<String> {
    let mut lines = vec![e(0, "invoke", "write", "1"), e(0, "ok", "write", "1")];
    for p in 0..n {
        lines.push(e(100 + p, "invoke", "write", &(1000 + p).to_string()));
    }
    lines.push(e(1, "invoke", "read", "null"));
    lines.push(e(1, "ok", "read", "1"));
    lines.push(e(2, "invoke", "write", "2"));
    lines.push(e(2, "ok", "write", "2"));
    lines.push(e(3, "invoke", "read", "null"));
    lines.push(e(3, "ok", "read", last_read));
    for p in 0..n {
        lines.push(e(100 + p, "info", "write", "null"));
    }
    lines
}

/// An indeterminate write whose value nobody observes may always be taken as "never happened",
/// so the search drops it: the verdicts with and without the reduction agree, and with it a
/// history of many such writes is decided in a few steps.
#[test]
fn unread_indeterminate_writes_are_dropped_without_changing_the_verdict() {
    for (last_read, expected) in [
        ("2", Verdict::Linearizable),
        ("1", Verdict::NotLinearizable),
    ] {
        let history = many_unread_info_writes(12, last_read);
        let refs: Vec<&str> = history.iter().map(String::as_str).collect();
        let events = native(&refs);
        let reduced = check_events(&events, Model::Register, &CheckOptions::default()).unwrap();
        let plain = CheckOptions {
            reductions: false,
            ..CheckOptions::default()
        };
        let full = check_events(&events, Model::Register, &plain).unwrap();
        assert_eq!(reduced.verdict, expected, "last read {last_read}");
        assert_eq!(full.verdict, expected, "last read {last_read}");
        assert!(
            reduced.steps * 10 < full.steps,
            "last read {last_read}: {} steps reduced, {} without",
            reduced.steps,
            full.steps
        );
    }
    // Forty of them: out of reach without the reduction's help in a small budget, trivial with.
    let history = many_unread_info_writes(40, "2");
    let refs: Vec<&str> = history.iter().map(String::as_str).collect();
    let small = CheckOptions {
        budget_steps: 10_000,
        ..CheckOptions::default()
    };
    let result = check_events(&native(&refs), Model::Register, &small).unwrap();
    assert_eq!(result.verdict, Verdict::Linearizable);
    let plain_small = CheckOptions {
        reductions: false,
        ..small
    };
    let result = check_events(&native(&refs), Model::Register, &plain_small).unwrap();
    assert_eq!(result.verdict, Verdict::Unknown);
}

/// A read of the value, or a compare against it, keeps an indeterminate write; so does a
/// compare observed to fail (etcd's `:fail :cas`), which the unread write may be the only
/// explanation for.
#[test]
fn observed_or_compared_indeterminate_writes_are_kept() {
    // Read of 5 after a crashed write of 5: only the write explains it.
    let read = [
        e(1, "invoke", "write", "5"),
        e(2, "invoke", "read", "null"),
        e(2, "ok", "read", "5"),
        e(1, "info", "write", "null"),
    ];
    assert_eq!(check_lines(Model::Register, &read), Verdict::Linearizable);
    // A successful cas from 5: same.
    let cas = [
        e(1, "invoke", "write", "5"),
        e(2, "invoke", "cas", "[5, 6]"),
        e(2, "ok", "cas", "[5, 6]"),
        e(1, "info", "write", "null"),
    ];
    assert_eq!(check_lines(Model::CasRegister, &cas), Verdict::Linearizable);
    // etcd: a crashed write of 1 and a compare against nil observed to fail. Nothing reads 1,
    // but only the write makes the value differ from nil.
    let etcd = "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 1\t:invoke\t:cas\t[nil 2]\nINFO  jepsen.util - 1\t:fail\t:cas\t[nil 2]\n";
    let history = formats::read(Format::PorcupineEtcd, etcd).unwrap();
    let options = CheckOptions {
        dialect: history.dialect,
        initial: history.initial.clone(),
        ..CheckOptions::default()
    };
    let result = check_events(&history.events, Model::CasRegister, &options).unwrap();
    assert_eq!(result.verdict, Verdict::Linearizable);
}
