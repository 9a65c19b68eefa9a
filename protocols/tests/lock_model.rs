//! The checker's `lease-lock` model against a brute-force oracle: small histories of a lease
//! lock and its fenced resource, generated from a true lock service with random linearization
//! points and then sometimes corrupted, are checked both by the Wing–Gong search and by trying
//! every ordering. The verdicts must agree, and both verdicts must occur often.

use sim_core::check::{check_events, CheckOptions, Model, Verdict};
use sim_core::history::{EventType, Function, HistoryEvent, Value};
use sim_core::prng::{Prng, Stream};

/// The true state of the lock and its resource (real tokens, 0 = none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct State {
    holder: Option<u64>,
    last: u64,
    highest: u64,
}

/// One operation of a history, as the oracle sees it.
#[derive(Clone, Debug)]
struct Op {
    process: u64,
    f: Function,
    /// The release's or write's token; an ok acquire's returned token.
    token: Option<u64>,
    invoke: usize,
    /// Index of its completion; `None`: never completed.
    complete: Option<usize>,
    kind: EventType,
}

impl Op {
    /// Must the operation be linearized (it completed ok, or is a refused write, an
    /// observation)? Failed acquires and releases take no part; indeterminate ones may.
    fn required(&self) -> bool {
        self.kind == EventType::Ok || (self.kind == EventType::Fail && self.f == Function::Write)
    }

    fn optional(&self) -> bool {
        self.kind == EventType::Info
    }

    /// The state after the operation, or `None` when it is illegal: the model's documented
    /// semantics (an indeterminate acquire has no known token).
    fn step(&self, state: State) -> Option<State> {
        match (self.f, self.kind) {
            (Function::Acquire, EventType::Ok) => match self.token {
                Some(t) if t > state.last => Some(State {
                    holder: Some(self.process),
                    last: t,
                    ..state
                }),
                Some(t) if t == state.last && state.holder == Some(self.process) => Some(state),
                Some(_) => None,
                None => Some(State {
                    holder: Some(self.process),
                    ..state
                }),
            },
            (Function::Acquire, _) => Some(State {
                holder: Some(self.process),
                ..state
            }),
            (Function::Release, _) => (state.holder == Some(self.process)
                && self.token == Some(state.last))
            .then_some(State {
                holder: None,
                ..state
            }),
            (Function::Write, EventType::Fail) => {
                (self.token.unwrap() < state.highest).then_some(state)
            }
            (Function::Write, _) => {
                let token = self.token.unwrap();
                (token >= state.highest).then_some(State {
                    highest: token,
                    ..state
                })
            }
            (f, _) => unreachable!("{f:?}"),
        }
    }
}

/// Tries every order that respects real time.
fn brute_force(ops: &[Op]) -> bool {
    fn search(ops: &[Op], done: &mut Vec<bool>, state: State) -> bool {
        let pending: Vec<usize> = (0..ops.len())
            .filter(|&i| !done[i] && ops[i].required())
            .collect();
        if pending.is_empty() {
            return true;
        }
        // The earliest return among operations still to be linearized bounds the candidates.
        let horizon = pending
            .iter()
            .filter_map(|&i| ops[i].complete)
            .min()
            .unwrap_or(usize::MAX);
        for i in 0..ops.len() {
            if done[i] || !(ops[i].required() || ops[i].optional()) || ops[i].invoke > horizon {
                continue;
            }
            if let Some(next) = ops[i].step(state) {
                done[i] = true;
                let found = search(ops, done, next);
                done[i] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    search(ops, &mut vec![false; ops.len()], State::default())
}

/// What an operation did when it took effect: its completion type and an acquire's token.
type Effect = (EventType, Option<u64>);

/// A history of a true lease lock (random lease expiries, random linearization points), then
/// with probability 1/3 one completion corrupted.
fn generate(rng: &mut Prng) -> (Vec<HistoryEvent>, Vec<Op>) {
    let op_count = 1 + rng.below(6) as usize;
    let process_count = 2 + rng.below(2);
    let mut truth = State::default();
    // Per process: the open op and its result once it took effect.
    let mut open: Vec<Option<(usize, Option<Effect>)>> = vec![None; process_count as usize];
    let mut known_token = vec![0u64; process_count as usize];
    let mut ops: Vec<Op> = Vec::new();
    let mut events: Vec<HistoryEvent> = Vec::new();
    let push = |events: &mut Vec<HistoryEvent>, op: &Op, kind: EventType, token: Option<u64>| {
        let value = match (op.f, op.token) {
            (Function::Release, Some(t)) => Value::Int(t as i64),
            (Function::Write, Some(t)) => Value::pair(t as i64, 1),
            _ => Value::Null,
        };
        events.push(HistoryEvent {
            index: events.len() as u64,
            time: events.len() as u64,
            process: op.process,
            kind,
            f: op.f,
            key: Some("0".into()),
            value,
            token,
        });
    };
    loop {
        let idle: Vec<usize> = (0..process_count as usize)
            .filter(|&p| open[p].is_none())
            .collect();
        let busy: Vec<usize> = (0..process_count as usize)
            .filter(|&p| open[p].is_some())
            .collect();
        if busy.is_empty() && ops.len() == op_count {
            break;
        }
        if !idle.is_empty() && ops.len() < op_count && (busy.is_empty() || rng.below(2) == 0) {
            let p = idle[rng.index(idle.len())];
            let f = [Function::Acquire, Function::Release, Function::Write][rng.index(3)];
            let token = match f {
                Function::Acquire => None,
                _ if rng.below(4) == 0 => Some(1 + rng.below(3)),
                _ => Some(known_token[p].max(1)),
            };
            let op = Op {
                process: p as u64,
                f,
                token,
                invoke: events.len(),
                complete: None,
                kind: EventType::Info,
            };
            push(&mut events, &op, EventType::Invoke, None);
            open[p] = Some((ops.len(), None));
            ops.push(op);
            continue;
        }
        let p = busy[rng.index(busy.len())];
        let (index, effect) = open[p].expect("busy");
        match effect {
            None if rng.below(8) == 0 => {
                // Times out without ever taking effect.
                ops[index].complete = Some(events.len());
                let op = ops[index].clone();
                push(&mut events, &op, EventType::Info, None);
                open[p] = None;
            }
            None => {
                // Takes effect now, on the true lock.
                let op = &ops[index];
                let result = match op.f {
                    Function::Acquire => {
                        if truth.holder == Some(op.process) {
                            (EventType::Ok, Some(truth.last))
                        } else if truth.holder.is_none() || rng.below(2) == 0 {
                            truth.last += 1;
                            truth.holder = Some(op.process);
                            (EventType::Ok, Some(truth.last))
                        } else {
                            (EventType::Fail, None)
                        }
                    }
                    Function::Release => {
                        if truth.holder == Some(op.process) && op.token == Some(truth.last) {
                            truth.holder = None;
                            (EventType::Ok, None)
                        } else {
                            (EventType::Fail, None)
                        }
                    }
                    _ => {
                        let token = op.token.expect("writes carry tokens");
                        if token >= truth.highest {
                            truth.highest = token;
                            (EventType::Ok, None)
                        } else {
                            (EventType::Fail, None)
                        }
                    }
                };
                if let (EventType::Ok, Some(token)) = result {
                    known_token[p] = token;
                }
                open[p] = Some((index, Some(result)));
            }
            Some((kind, token)) => {
                let kind = if rng.below(8) == 0 {
                    EventType::Info
                } else {
                    kind
                };
                ops[index].complete = Some(events.len());
                ops[index].kind = kind;
                if kind == EventType::Ok && ops[index].f == Function::Acquire {
                    ops[index].token = token;
                }
                let op = ops[index].clone();
                push(
                    &mut events,
                    &op,
                    kind,
                    op.token.filter(|_| op.f == Function::Acquire),
                );
                open[p] = None;
            }
        }
    }
    if rng.below(3) == 0 {
        // Corrupt one completion: a wrong token or a flipped ok/fail.
        let completed: Vec<usize> = (0..ops.len())
            .filter(|&i| matches!(ops[i].kind, EventType::Ok | EventType::Fail))
            .collect();
        if !completed.is_empty() {
            let i = completed[rng.index(completed.len())];
            let at = ops[i].complete.expect("completed");
            if ops[i].f == Function::Acquire && ops[i].kind == EventType::Ok && rng.below(2) == 0 {
                let token = ops[i].token.unwrap_or(1);
                let wrong = if token > 1 && rng.below(2) == 0 {
                    token - 1
                } else {
                    token + 1
                };
                ops[i].token = Some(wrong);
                events[at].token = Some(wrong);
            } else {
                let flipped = if ops[i].kind == EventType::Ok {
                    EventType::Fail
                } else {
                    EventType::Ok
                };
                ops[i].kind = flipped;
                events[at].kind = flipped;
                let acquire_ok = ops[i].f == Function::Acquire && flipped == EventType::Ok;
                if acquire_ok {
                    ops[i].token = Some(1 + rng.below(3));
                } else if ops[i].f == Function::Acquire {
                    ops[i].token = None;
                }
                events[at].token = ops[i].token.filter(|_| acquire_ok);
            }
        }
    }
    (events, ops)
}

#[test]
fn lease_lock_model_agrees_with_brute_force() {
    let mut rng = Prng::new(2016, Stream::Workload);
    let (mut linearizable, mut not) = (0, 0);
    for round in 0..4000 {
        let (events, ops) = generate(&mut rng);
        let expected = brute_force(&ops);
        let result = check_events(&events, Model::LeaseLock, &CheckOptions::default())
            .unwrap_or_else(|error| panic!("round {round}: {error}"));
        let found = match result.verdict {
            Verdict::Linearizable => true,
            Verdict::NotLinearizable => false,
            Verdict::Unknown => panic!("round {round}: a tiny history hit the budget"),
        };
        let lines: Vec<String> = events.iter().map(HistoryEvent::to_json_line).collect();
        assert_eq!(
            found,
            expected,
            "round {round}: checker says {}, brute force says {}\n{}",
            result.verdict,
            if expected { "linearizable" } else { "not" },
            lines.join("\n")
        );
        if expected {
            linearizable += 1;
        } else {
            not += 1;
        }
    }
    assert!(
        linearizable > 1000 && not > 300,
        "both verdicts must be exercised: {linearizable} linearizable, {not} not"
    );
}
