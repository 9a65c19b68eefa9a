//! Differential testing: the checker against a brute-force oracle that tries every order of
//! small random histories, for every model, with `fail`, `info` and never-completed
//! operations. The oracle is written from DESIGN.md §4 directly (no shared code with the
//! checker): `ok` happened inside its interval, `fail` never happened, `info`/open may have
//! happened at any instant after the invoke, or never.
//!
//! It also checks each explanation: the prefix ending at `failing_event` is not linearizable
//! and the prefix just before it is.

use sim_core::check::{check_events, CheckOptions, Dialect, Model, Verdict};
use sim_core::history::{EventType, Function, HistoryEvent, Value};
use sim_core::prng::{Prng, Stream};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Object {
    Value(Value),
    Lock {
        holder: Option<u64>,
        last_token: Option<u64>,
    },
}

type State = BTreeMap<Option<String>, Object>;

/// One operation as the oracle sees it.
#[derive(Clone, Debug)]
struct Op {
    process: u64,
    f: Function,
    key: Option<String>,
    argument: Value,
    /// `Some(result)` for ok; None otherwise.
    result: Option<Value>,
    token: Option<u64>,
    invoke: usize,
    /// Completion index if it completed ok (or fail, for etcd cas observations).
    complete: Option<usize>,
    required: bool,
    /// Etcd dialect: a failed cas that was observed to fail its compare.
    compare_failed: bool,
    /// `fail` (native semantics): never happened.
    failed: bool,
}

fn initial(model: Model) -> Object {
    match model {
        Model::Mutex => Object::Lock {
            holder: None,
            last_token: None,
        },
        Model::Counter => Object::Value(Value::Int(0)),
        Model::KvAppend => Object::Value(Value::Str(String::new())),
        _ => Object::Value(Value::Null),
    }
}

/// Applies `op` to `state` as an operation that took effect; None if illegal.
fn apply(model: Model, state: &State, op: &Op) -> Option<State> {
    let mut state = state.clone();
    if op.f == Function::Txn {
        let source = op.result.as_ref().unwrap_or(&op.argument);
        let Value::List(micros) = source else {
            panic!("txn value")
        };
        for micro in micros {
            let Value::List(parts) = micro else {
                panic!("micro")
            };
            let key = match &parts[1] {
                Value::Str(s) => Some(s.clone()),
                _ => panic!("key"),
            };
            let current = state.entry(key).or_insert_with(|| initial(model));
            let write = matches!(&parts[0], Value::Str(s) if s == "w");
            if write {
                *current = Object::Value(parts[2].clone());
            } else if op.result.is_some()
                && parts[2] != Value::Null
                && *current != Object::Value(parts[2].clone())
            {
                return None;
            }
        }
        return Some(state);
    }
    let current = state
        .entry(op.key.clone())
        .or_insert_with(|| initial(model));
    match (op.f, current.clone()) {
        (Function::Read, Object::Value(value)) => {
            // An unknown result constrains nothing; a counter read of null neither.
            match &op.result {
                None => {}
                Some(Value::Null) if model == Model::Counter => {}
                Some(result) => {
                    let seen = if model == Model::KvAppend && *result == Value::Null {
                        Value::Str(String::new())
                    } else {
                        result.clone()
                    };
                    if seen != value {
                        return None;
                    }
                }
            }
        }
        (Function::Write, Object::Value(_)) => *current = Object::Value(op.argument.clone()),
        (Function::Cas, Object::Value(value)) => {
            let Value::List(pair) = &op.argument else {
                panic!("cas")
            };
            if op.compare_failed {
                if value == pair[0] {
                    return None;
                }
            } else if value == pair[0] {
                *current = Object::Value(pair[1].clone());
            } else {
                return None;
            }
        }
        (Function::Add, Object::Value(value)) => {
            *current = Object::Value(match (value, &op.argument) {
                (Value::Int(a), Value::Int(b)) => Value::Int(a + b),
                (Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
                other => panic!("add {other:?}"),
            })
        }
        (Function::Acquire, Object::Lock { holder, last_token }) => {
            if holder.is_some() {
                return None;
            }
            let mut last = last_token;
            if let Some(token) = op.token {
                if last_token.is_some_and(|l| token <= l) {
                    return None;
                }
                last = Some(token);
            }
            *current = Object::Lock {
                holder: Some(op.process),
                last_token: last,
            };
        }
        (Function::Release, Object::Lock { holder, last_token }) => {
            if holder != Some(op.process) {
                return None;
            }
            *current = Object::Lock {
                holder: None,
                last_token,
            };
        }
        other => panic!("oracle: unsupported {other:?}"),
    }
    Some(state)
}

fn ops_of(events: &[HistoryEvent], dialect: Dialect) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for (index, event) in events.iter().enumerate() {
        if event.kind == EventType::Invoke {
            open.insert(event.process, ops.len());
            ops.push(Op {
                process: event.process,
                f: event.f,
                key: event.key.clone(),
                argument: event.value.clone(),
                result: None,
                token: None,
                invoke: index,
                complete: None,
                required: false,
                compare_failed: false,
                failed: false,
            });
            continue;
        }
        let op = &mut ops[open.remove(&event.process).expect("paired")];
        match event.kind {
            EventType::Ok => {
                op.result = Some(event.value.clone());
                op.token = event.token;
                op.complete = Some(index);
                op.required = true;
            }
            EventType::Fail if dialect == Dialect::PorcupineEtcd && op.f == Function::Cas => {
                op.complete = Some(index);
                op.required = true;
                op.compare_failed = true;
            }
            EventType::Fail => op.failed = true,
            _ => {}
        }
    }
    ops.retain(|op| !op.failed);
    ops
}

/// True if some order of the operations explains the history.
fn oracle(model: Model, events: &[HistoryEvent], dialect: Dialect) -> bool {
    let ops = ops_of(events, dialect);
    fn search(
        model: Model,
        ops: &[Op],
        placed: &mut Vec<bool>,
        state: &State,
        failed: &mut BTreeSet<(Vec<bool>, State)>,
    ) -> bool {
        if ops
            .iter()
            .zip(placed.iter())
            .all(|(op, &p)| p || !op.required)
        {
            return true;
        }
        // Memoise configurations known to fail (keeps larger histories cheap).
        if failed.contains(&(placed.clone(), state.clone())) {
            return false;
        }
        for i in 0..ops.len() {
            if placed[i] {
                continue;
            }
            // Every required op that completed before this one's invoke must already be placed.
            let blocked = ops.iter().enumerate().any(|(j, other)| {
                !placed[j] && other.required && other.complete.is_some_and(|c| c < ops[i].invoke)
            });
            if blocked {
                continue;
            }
            if let Some(next) = apply(model, state, &ops[i]) {
                placed[i] = true;
                let found = search(model, ops, placed, &next, failed);
                placed[i] = false;
                if found {
                    return true;
                }
            }
        }
        failed.insert((placed.clone(), state.clone()));
        false
    }
    let mut placed = vec![false; ops.len()];
    search(
        model,
        &ops,
        &mut placed,
        &State::new(),
        &mut BTreeSet::new(),
    )
}

/// Random histories: a simulated true execution (effects at completion time) with some
/// results corrupted, some completions turned into `info`, and some invokes never completed.
struct Generator {
    rng: Prng,
    model: Model,
    dialect: Dialect,
    /// At most this many operations and (concurrent) processes.
    op_count_max: u64,
    process_count_max: u64,
}

impl Generator {
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.index(items.len())].clone()
    }

    fn small(&mut self) -> Value {
        if self.model == Model::KvAppend {
            return Value::Str(
                self.pick(&["", "a", "b", "x", "ax", "xy", "ay", "bx"])
                    .to_string(),
            );
        }
        let v = self.rng.below(4) as i64;
        if v == 3 && self.model != Model::Counter {
            Value::Null
        } else {
            Value::Int(v)
        }
    }

    fn key(&mut self, keys: &[Option<&str>]) -> Option<String> {
        self.pick(keys).map(str::to_string)
    }

    fn invoke(&mut self) -> (Function, Option<String>, Value) {
        let r = self.rng.below(100);
        match self.model {
            Model::Register => {
                let key = None;
                if r < 50 {
                    (Function::Read, key, Value::Null)
                } else {
                    (Function::Write, key, Value::Int(self.rng.below(3) as i64))
                }
            }
            Model::CasRegister | Model::Kv => {
                let key = if self.model == Model::Kv {
                    self.key(&[Some("a"), Some("b")])
                } else {
                    None
                };
                if r < 35 {
                    (Function::Read, key, Value::Null)
                } else if r < 65 {
                    (Function::Write, key, Value::Int(self.rng.below(3) as i64))
                } else {
                    let from = if self.rng.below(4) == 0 {
                        Value::Null
                    } else {
                        Value::Int(self.rng.below(3) as i64)
                    };
                    (
                        Function::Cas,
                        key,
                        Value::List(vec![from, Value::Int(self.rng.below(3) as i64)]),
                    )
                }
            }
            Model::KvAppend => {
                let key = self.key(&[Some("a"), Some("b")]);
                if r < 40 {
                    (Function::Read, key, Value::Null)
                } else if r < 60 {
                    (
                        Function::Write,
                        key,
                        Value::Str(self.pick(&["a", "b"]).into()),
                    )
                } else {
                    (
                        Function::Add,
                        key,
                        Value::Str(self.pick(&["x", "y"]).into()),
                    )
                }
            }
            Model::Counter => {
                if r < 45 {
                    (Function::Read, None, Value::Null)
                } else {
                    (Function::Add, None, Value::Int(self.pick(&[1, 2, -1])))
                }
            }
            Model::Mutex => {
                let key = self.key(&[None, Some("l")]);
                if r < 55 {
                    (Function::Acquire, key, Value::Null)
                } else {
                    (Function::Release, key, Value::Null)
                }
            }
            Model::MultiRegister => {
                let count = 1 + self.rng.below(3);
                let micros = (0..count)
                    .map(|_| {
                        let key = Value::Str(self.pick(&["x", "y"]).into());
                        if self.rng.below(2) == 0 {
                            Value::List(vec![Value::Str("r".into()), key, Value::Null])
                        } else {
                            Value::List(vec![
                                Value::Str("w".into()),
                                key,
                                Value::Int(self.rng.below(3) as i64),
                            ])
                        }
                    })
                    .collect();
                (Function::Txn, None, Value::List(micros))
            }
            // Its brute-force differential lives with the lock application
            // (protocols/tests/lock_model.rs).
            Model::LeaseLock => unreachable!("lease-lock is not generated here"),
            Model::Bank => unreachable!("bank histories are not generated here"),
        }
    }

    fn history(&mut self) -> Vec<HistoryEvent> {
        let op_count = 1 + self.rng.below(self.op_count_max) as usize;
        let process_count = 2 + self.rng.below(self.process_count_max - 1) as usize;
        let use_tokens = self.rng.below(2) == 0;
        let mut processes: Vec<u64> = (0..process_count as u64).collect();
        let mut next_process = process_count as u64;
        let mut open: BTreeMap<u64, (Function, Option<String>, Value)> = BTreeMap::new();
        let mut truth = State::new();
        let mut token_next = 1u64;
        let mut events: Vec<HistoryEvent> = Vec::new();
        let mut issued = 0;
        loop {
            let idle: Vec<u64> = processes
                .iter()
                .copied()
                .filter(|p| !open.contains_key(p))
                .collect();
            let can_invoke = issued < op_count && !idle.is_empty();
            if !can_invoke && open.is_empty() {
                break;
            }
            let push = |events: &mut Vec<HistoryEvent>,
                        process,
                        kind,
                        f,
                        key: Option<String>,
                        value,
                        token| {
                events.push(HistoryEvent {
                    index: events.len() as u64,
                    time: events.len() as u64,
                    process,
                    kind,
                    f,
                    key,
                    value,
                    token,
                });
            };
            if can_invoke && (open.is_empty() || self.rng.below(2) == 0) {
                let process = self.pick(&idle);
                let (f, key, value) = self.invoke();
                push(
                    &mut events,
                    process,
                    EventType::Invoke,
                    f,
                    key.clone(),
                    value.clone(),
                    None,
                );
                open.insert(process, (f, key, value));
                issued += 1;
                continue;
            }
            let busy: Vec<u64> = open.keys().copied().collect();
            let process = self.pick(&busy);
            let (f, key, argument) = open.remove(&process).unwrap();
            let roll = self.rng.below(100);
            let replace = |processes: &mut Vec<u64>, next: &mut u64| {
                let slot = processes.iter().position(|&p| p == process).unwrap();
                processes[slot] = *next;
                *next += 1;
            };
            if roll < 8 {
                // Never completes; maybe it took effect.
                let op = Op {
                    process,
                    f,
                    key,
                    argument,
                    result: None,
                    token: None,
                    invoke: 0,
                    complete: None,
                    required: false,
                    compare_failed: false,
                    failed: false,
                };
                if self.rng.below(2) == 0 {
                    if let Some(next) = apply(self.model, &truth, &op) {
                        truth = next;
                    }
                }
                replace(&mut processes, &mut next_process);
                continue;
            }
            // The true effect, at completion time.
            let mut op = Op {
                process,
                f,
                key: key.clone(),
                argument: argument.clone(),
                result: None,
                token: None,
                invoke: 0,
                complete: None,
                required: true,
                compare_failed: false,
                failed: false,
            };
            let current = truth
                .get(&key)
                .cloned()
                .unwrap_or_else(|| initial(self.model));
            let mut result = match (&current, f) {
                (Object::Value(v), Function::Read) => v.clone(),
                _ => argument.clone(),
            };
            if f == Function::Txn {
                let mut scratch = truth.clone();
                let Value::List(micros) = &argument else {
                    unreachable!()
                };
                let mut filled = Vec::new();
                for micro in micros {
                    let Value::List(parts) = micro else {
                        unreachable!()
                    };
                    let k = match &parts[1] {
                        Value::Str(s) => Some(s.clone()),
                        _ => unreachable!(),
                    };
                    let slot = scratch.entry(k).or_insert_with(|| initial(self.model));
                    if matches!(&parts[0], Value::Str(s) if s == "w") {
                        *slot = Object::Value(parts[2].clone());
                        filled.push(micro.clone());
                    } else {
                        let Object::Value(seen) = slot.clone() else {
                            unreachable!()
                        };
                        filled.push(Value::List(vec![parts[0].clone(), parts[1].clone(), seen]));
                    }
                }
                result = Value::List(filled);
            }
            op.result = Some(result.clone());
            let mut token = None;
            if f == Function::Acquire && use_tokens {
                token = Some(token_next);
                op.token = token;
            }
            let legal = apply(self.model, &truth, &op);
            if roll < 22 {
                // Info: maybe it took effect.
                if self.rng.below(2) == 0 {
                    if let Some(next) = legal {
                        truth = next;
                    }
                }
                push(
                    &mut events,
                    process,
                    EventType::Info,
                    f,
                    key,
                    Value::Null,
                    None,
                );
                replace(&mut processes, &mut next_process);
                continue;
            }
            let corrupt = self.rng.below(100) < 20;
            match legal {
                Some(next) => {
                    truth = next;
                    if token.is_some() {
                        token_next += 1;
                    }
                    if corrupt {
                        match f {
                            Function::Read => result = self.small(),
                            Function::Acquire if use_tokens => token = Some(self.rng.below(3)),
                            Function::Txn => {
                                let Value::List(micros) = &result else {
                                    unreachable!()
                                };
                                let mut changed = Vec::new();
                                for micro in micros.clone() {
                                    let Value::List(mut parts) = micro else {
                                        unreachable!()
                                    };
                                    if matches!(&parts[0], Value::Str(s) if s == "r") {
                                        parts[2] = Value::Int(self.rng.below(3) as i64);
                                    }
                                    changed.push(Value::List(parts));
                                }
                                result = Value::List(changed);
                            }
                            _ => {}
                        }
                    }
                    let value = if f == Function::Read || f == Function::Txn {
                        result
                    } else {
                        argument
                    };
                    push(&mut events, process, EventType::Ok, f, key, value, token);
                }
                None => {
                    if corrupt {
                        // Claim success for an operation that could not succeed.
                        push(&mut events, process, EventType::Ok, f, key, argument, token);
                    } else {
                        push(
                            &mut events,
                            process,
                            EventType::Fail,
                            f,
                            key,
                            argument,
                            None,
                        );
                    }
                }
            }
        }
        let _ = self.dialect;
        events
    }
}

fn differential(model: Model, dialect: Dialect, seed_base: u64, count: u64) {
    differential_sized(model, dialect, seed_base, count, 7, 3);
    // Fewer, larger histories: more concurrency, longer chains of greedy reads.
    differential_sized(model, dialect, seed_base + 1_000_000, count / 4, 12, 5);
}

fn differential_sized(
    model: Model,
    dialect: Dialect,
    seed_base: u64,
    count: u64,
    op_count_max: u64,
    process_count_max: u64,
) {
    let mut linearizable = 0;
    let mut violations = 0;
    let (mut steps_reduced, mut steps_porcupine) = (0u64, 0u64);
    for seed in seed_base..seed_base + count {
        let mut generator = Generator {
            rng: Prng::new(seed, Stream::Custom(7)),
            model,
            dialect,
            op_count_max,
            process_count_max,
        };
        let events = generator.history();
        let expected = oracle(model, &events, dialect);
        let options = CheckOptions {
            dialect,
            partition: seed % 3 != 0,
            ..CheckOptions::default()
        };
        let result = check_events(&events, model, &options)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{events:#?}"));
        let dump = || {
            events
                .iter()
                .map(HistoryEvent::to_json_line)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_ne!(
            result.verdict,
            Verdict::Unknown,
            "seed {seed}: unknown on a tiny history"
        );
        // Without reductions the search is Porcupine's own; with them it must agree, and as
        // these searches are far shorter than the switch to observations first (4096 steps),
        // they stay in Porcupine's order, where the reductions never add a model step
        // (linearizability.rs argues why).
        let porcupine = check_events(
            &events,
            model,
            &CheckOptions {
                reductions: false,
                ..options.clone()
            },
        )
        .expect("checked once already");
        assert!(
            porcupine.verdict == result.verdict && result.steps <= porcupine.steps,
            "model {} seed {seed}: {} in {} steps with reductions, {} in {} without\n{}",
            model.name(),
            result.verdict,
            result.steps,
            porcupine.verdict,
            porcupine.steps,
            dump()
        );
        steps_reduced += result.steps;
        steps_porcupine += porcupine.steps;
        // The same with observations first from the first step, where indeterminate blind
        // writes go only right before an operation that is not blind: small histories never
        // get there by themselves.
        let first = check_events(
            &events,
            model,
            &CheckOptions {
                switch_steps: 0,
                explain: false,
                ..options.clone()
            },
        )
        .expect("checked once already");
        assert_eq!(
            first.verdict,
            result.verdict,
            "model {} seed {seed}: observations first from the start\n{}",
            model.name(),
            dump()
        );
        assert_eq!(
            result.verdict == Verdict::Linearizable,
            expected,
            "model {} seed {seed}: checker {} oracle {}\n{}",
            model.name(),
            result.verdict,
            expected,
            dump()
        );
        if expected {
            linearizable += 1;
        } else {
            violations += 1;
            let explanation = result.explanation.expect("explanation");
            let cut = explanation.failing_event;
            assert!(
                !oracle(model, &events[..=cut], dialect),
                "seed {seed}: prefix ..={cut} is linearizable\n{}",
                dump()
            );
            assert!(
                oracle(model, &events[..cut], dialect),
                "seed {seed}: prefix ..{cut} is not linearizable\n{}",
                dump()
            );
        }
    }
    // A mutex has no observations, and its crashed operations (of distinct processes) are
    // never interchangeable: there, and only there, nothing is saved.
    assert!(
        steps_reduced < steps_porcupine
            || (model == Model::Mutex && steps_reduced == steps_porcupine),
        "{}: the reductions saved nothing ({steps_reduced} steps)",
        model.name()
    );
    // Both verdicts must be well represented, or the test proves little.
    assert!(
        linearizable * 10 >= count,
        "{}: only {linearizable} linearizable of {count}",
        model.name()
    );
    assert!(
        violations * 10 >= count,
        "{}: only {violations} violations of {count}",
        model.name()
    );
}

#[test]
fn register_agrees_with_brute_force() {
    differential(Model::Register, Dialect::Native, 0, 4000);
}

#[test]
fn cas_register_agrees_with_brute_force() {
    differential(Model::CasRegister, Dialect::Native, 10_000, 4000);
}

#[test]
fn cas_register_etcd_dialect_agrees_with_brute_force() {
    differential(Model::CasRegister, Dialect::PorcupineEtcd, 15_000, 3000);
}

#[test]
fn kv_agrees_with_brute_force() {
    differential(Model::Kv, Dialect::Native, 20_000, 4000);
}

#[test]
fn kv_append_agrees_with_brute_force() {
    differential(Model::KvAppend, Dialect::Native, 30_000, 4000);
}

#[test]
fn counter_agrees_with_brute_force() {
    differential(Model::Counter, Dialect::Native, 40_000, 4000);
}

#[test]
fn mutex_agrees_with_brute_force() {
    differential(Model::Mutex, Dialect::Native, 50_000, 4000);
}

#[test]
fn multi_register_agrees_with_brute_force() {
    differential(Model::MultiRegister, Dialect::Native, 60_000, 4000);
}

/// Searches long enough to switch to observations first (past 4096 steps) against Porcupine's
/// own search: histories too large for the brute-force oracle, so the reference is the search
/// without reductions, which the oracle vouches for on the small ones above.
#[test]
fn long_searches_agree_with_porcupines_order() {
    let mut switched = 0;
    let (mut steps_reduced, mut steps_porcupine) = (0u64, 0u64);
    for (model, dialect) in [
        (Model::CasRegister, Dialect::PorcupineEtcd),
        (Model::Register, Dialect::Native),
        (Model::KvAppend, Dialect::Native),
    ] {
        for seed in 0..400 {
            let mut generator = Generator {
                rng: Prng::new(90_000 + seed, Stream::Custom(7)),
                model,
                dialect,
                op_count_max: 60,
                process_count_max: 14,
            };
            let events = generator.history();
            let options = CheckOptions {
                dialect,
                explain: false,
                ..CheckOptions::default()
            };
            let reduced = check_events(&events, model, &options).unwrap();
            let porcupine = check_events(
                &events,
                model,
                &CheckOptions {
                    reductions: false,
                    budget_steps: 1_000_000,
                    ..options.clone()
                },
            )
            .unwrap();
            if porcupine.verdict == Verdict::Unknown {
                continue; // too hard for Porcupine's order within the test's budget
            }
            assert_eq!(
                reduced.verdict,
                porcupine.verdict,
                "model {} seed {seed}: {} steps with reductions, {} without ({:?})",
                model.name(),
                reduced.steps,
                porcupine.steps,
                porcupine.unknown_reason
            );
            switched += usize::from(reduced.steps > 4096);
            steps_reduced += reduced.steps;
            steps_porcupine += porcupine.steps;
        }
    }
    // The switch must have happened often enough for this to test it.
    assert!(switched >= 30, "only {switched} searches switched");
    assert!(
        steps_reduced * 2 < steps_porcupine,
        "{steps_reduced} steps with reductions, {steps_porcupine} without"
    );
}
