//! The `bank` model: strict serializability of a bank's client history (Jepsen's bank
//! workload, checked exactly rather than by its total alone).
//!
//! Operations, with no `key` (the bank is one object):
//!
//! - `transfer`, `value` = `[from, to, amount]`: moves `amount > 0` from account `from` to
//!   account `to`. `fail` means it took no effect (refused funds, a lock conflict, an abort);
//!   `info` may have taken effect at any instant after its invoke, or never.
//! - `read` (an audit), `value` of the `ok` completion = every balance, account 0 first.
//!
//! A history is strictly serializable iff some total order of the operations that took effect
//! respects real time (an operation that completed before another was invoked comes first) and
//! replays from one initial state with every audit seeing exactly the balances at its place.
//! The initial balances are [`CheckOptions::initial`] when it is a list, otherwise unknown:
//! the first audit in the order fixes them (its balances minus the transfers before it).
//!
//! Transfers commute: the balances after a set of transfers do not depend on their order. The
//! model therefore does not judge overdrafts (an order-dependent rule; a negative balance in
//! an audit is the bank application's `conservation` audit's business), and in exchange an
//! order is only a matter of which transfers go before each audit.
//!
//! The search is the just-in-time linearization of Knossos's `linear` algorithm, made lazy by
//! that commutativity: it walks the events in order, keeping every configuration (balances,
//! which of the open operations are already in the order) reachable so far. An `ok` transfer
//! is placed at its completion where it is not yet (placing other transfers first changes
//! nothing); an `ok` audit keeps only the configurations that reach its balances by placing
//! open operations (transfers, other audits) before it. Indeterminate transfers stay open to
//! the end. Configurations are a set (sorted, deduplicated), so the work is bounded by the
//! distinct states, and the step budget bounds it again: running out gives
//! [`Verdict::Unknown`], never a pass.

use super::{CheckOptions, CheckResult, Explanation, HistoryError, Rejection, Verdict};
use crate::history::{EventType, Function, HistoryEvent, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What an operation does.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    Transfer { from: usize, to: usize, amount: i64 },
    Audit { balances: Vec<i64> },
}

/// An operation that may have taken effect.
#[derive(Clone, Debug)]
struct Op {
    invoke: usize,
    action: Action,
    /// It completed `ok`: it took effect.
    definite: bool,
}

/// One reachable configuration: the balances (or, before the initial balances are known, the
/// net change of every account) and the open operations already placed in the order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Config {
    known: bool,
    balances: Vec<i64>,
    placed: Vec<u32>,
}

/// Parsed operations: each kept op, the event at which it becomes open, and the event at which
/// it must have taken effect (`ok`), if any.
struct Parsed {
    ops: Vec<Op>,
    /// Per event: `Some((op, true))` opens op, `Some((op, false))` is op's `ok` completion.
    at: Vec<Option<(u32, bool)>>,
    accounts: usize,
}

fn error(event: usize, message: impl Into<String>) -> HistoryError {
    HistoryError {
        event,
        message: message.into(),
    }
}

fn int_list(value: &Value) -> Option<Vec<i64>> {
    match value {
        Value::List(items) => items.iter().map(Value::as_int).collect(),
        _ => None,
    }
}

fn parse(events: &[HistoryEvent], initial: Option<&[i64]>) -> Result<Parsed, HistoryError> {
    let mut ops: Vec<Op> = Vec::new();
    let mut at: Vec<Option<(u32, bool)>> = vec![None; events.len()];
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut accounts: Option<usize> = initial.map(<[i64]>::len);
    let mut highest_account = 0usize;
    for (index, event) in events.iter().enumerate() {
        if event.key.is_some() {
            return Err(error(index, "bank operations have no key"));
        }
        if !matches!(event.f, Function::Transfer | Function::Read) {
            return Err(error(
                index,
                format!(
                    "the bank model has transfer and read, not {}",
                    event.f.as_str()
                ),
            ));
        }
        if event.kind == EventType::Invoke {
            if open.insert(event.process, index).is_some() {
                return Err(error(
                    index,
                    format!("process {} invokes with an operation open", event.process),
                ));
            }
            if event.f == Function::Transfer {
                let Some(&[from, to, amount]) = int_list(&event.value).as_deref() else {
                    return Err(error(index, "a transfer's value is [from, to, amount]"));
                };
                if from < 0 || to < 0 || from == to || amount <= 0 {
                    return Err(error(
                        index,
                        format!("transfer [{from}, {to}, {amount}]: expected two different accounts and a positive amount"),
                    ));
                }
                highest_account = highest_account.max(from.max(to) as usize);
            }
            continue;
        }
        let Some(invoke) = open.remove(&event.process) else {
            return Err(error(
                index,
                format!("process {} completes without an invoke", event.process),
            ));
        };
        if events[invoke].f != event.f {
            return Err(error(
                index,
                "the completion's function differs from its invoke",
            ));
        }
        let action = match event.f {
            Function::Transfer => {
                let v = int_list(&events[invoke].value).expect("checked at the invoke");
                Action::Transfer {
                    from: v[0] as usize,
                    to: v[1] as usize,
                    amount: v[2],
                }
            }
            _ => Action::Audit {
                balances: Vec::new(),
            },
        };
        match (event.kind, action) {
            (EventType::Fail, _) => {}                    // took no effect
            (EventType::Info, Action::Audit { .. }) => {} // a read nobody saw constrains nothing
            (EventType::Info, action) => {
                at[invoke] = Some((ops.len() as u32, true));
                ops.push(Op {
                    invoke,
                    action,
                    definite: false,
                });
            }
            (_, Action::Audit { .. }) => {
                let Some(balances) = int_list(&event.value) else {
                    return Err(error(
                        index,
                        "an audit's value is the list of every balance",
                    ));
                };
                if *accounts.get_or_insert(balances.len()) != balances.len() {
                    return Err(error(
                        index,
                        format!(
                            "an audit of {} accounts in a bank of {}",
                            balances.len(),
                            accounts.unwrap_or(0)
                        ),
                    ));
                }
                at[invoke] = Some((ops.len() as u32, true));
                at[index] = Some((ops.len() as u32, false));
                ops.push(Op {
                    invoke,
                    action: Action::Audit { balances },
                    definite: true,
                });
            }
            (_, action) => {
                at[invoke] = Some((ops.len() as u32, true));
                at[index] = Some((ops.len() as u32, false));
                ops.push(Op {
                    invoke,
                    action,
                    definite: true,
                });
            }
        }
    }
    // Invokes never completed are indeterminate, like `info`.
    for (_, invoke) in open {
        if events[invoke].f == Function::Transfer {
            let v = int_list(&events[invoke].value).expect("checked at the invoke");
            at[invoke] = Some((ops.len() as u32, true));
            ops.push(Op {
                invoke,
                action: Action::Transfer {
                    from: v[0] as usize,
                    to: v[1] as usize,
                    amount: v[2],
                },
                definite: false,
            });
        }
    }
    let accounts = accounts.unwrap_or(highest_account + 1);
    if highest_account >= accounts
        && ops
            .iter()
            .any(|op| matches!(op.action, Action::Transfer { .. }))
    {
        let bad = ops
            .iter()
            .find(|op| matches!(op.action, Action::Transfer { from, to, .. } if from.max(to) >= accounts))
            .map_or(0, |op| op.invoke);
        return Err(error(
            bad,
            format!("a transfer names account {highest_account} of a bank of {accounts}"),
        ));
    }
    Ok(Parsed { ops, at, accounts })
}

/// Places `op` next in `config`, or says why it cannot go there (an audit that does not see
/// the balances).
fn step(config: &Config, op: &Action) -> Result<Config, String> {
    let mut next = config.clone();
    match op {
        Action::Transfer { from, to, amount } => {
            next.balances[*from] -= amount;
            next.balances[*to] += amount;
        }
        Action::Audit { balances } => {
            if config.known {
                if &config.balances != balances {
                    return Err(format!(
                        "it saw {} where the balances are {}",
                        show(balances),
                        show(&config.balances)
                    ));
                }
            } else {
                next.known = true;
                next.balances.clone_from(balances);
            }
        }
    }
    Ok(next)
}

/// Every configuration in which `op` goes next after `config` (`op` itself not marked placed):
/// a transfer simply applies; an audit needs a set of open, unplaced transfers placed before
/// it that takes the balances exactly to what it saw. While the initial balances are unknown
/// the first audit fixes them, and only transfers that will complete `ok` are worth placing
/// before it (placing an indeterminate one there is the same as never placing it, and
/// leaving it open keeps every option).
fn place(
    parsed: &Parsed,
    open: &BTreeSet<u32>,
    config: &Config,
    op: u32,
    steps: &mut u64,
) -> Vec<Config> {
    let action = &parsed.ops[op as usize].action;
    let Action::Audit { balances: seen } = action else {
        *steps += 1;
        return step(config, action).into_iter().collect();
    };
    let candidates: Vec<u32> = open
        .iter()
        .copied()
        .filter(|&other| {
            other != op
                && config.placed.binary_search(&other).is_err()
                && matches!(parsed.ops[other as usize].action, Action::Transfer { .. })
                && (config.known || parsed.ops[other as usize].definite)
        })
        .collect();
    let mut found = Vec::new();
    let mut chosen = Vec::new();
    if config.known {
        let need: Vec<i64> = seen
            .iter()
            .zip(&config.balances)
            .map(|(s, b)| s - b)
            .collect();
        // reach[i][a]: what candidates i.. can still move through account a.
        let mut reach = vec![vec![0i64; need.len()]; candidates.len() + 1];
        for (i, &candidate) in candidates.iter().enumerate().rev() {
            reach[i] = reach[i + 1].clone();
            if let Action::Transfer { from, to, amount } = parsed.ops[candidate as usize].action {
                reach[i][from] += amount;
                reach[i][to] += amount;
            }
        }
        subsets(
            parsed,
            &candidates,
            &reach,
            0,
            need,
            &mut chosen,
            &mut |chosen| found.push(chosen.to_vec()),
            steps,
        );
    } else {
        // Every subset of the definite transfers (a handful: one per client at most).
        for mask in 0u64..(1u64 << candidates.len().min(20)) {
            *steps += 1;
            found.push(
                (0..candidates.len())
                    .filter(|bit| mask >> bit & 1 == 1)
                    .map(|bit| candidates[bit])
                    .collect(),
            );
        }
    }
    found
        .into_iter()
        .map(|chosen| {
            let mut placed = config.placed.clone();
            placed.extend(chosen);
            placed.sort_unstable();
            Config {
                known: true,
                balances: seen.clone(),
                placed,
            }
        })
        .collect()
}

/// Calls `emit` with every subset of `candidates[index..]` (added to `chosen`) whose transfers
/// change the balances by exactly `need`, pruning where an account's need exceeds what the
/// remaining candidates can move through it.
#[allow(clippy::too_many_arguments)]
fn subsets(
    parsed: &Parsed,
    candidates: &[u32],
    reach: &[Vec<i64>],
    index: usize,
    mut need: Vec<i64>,
    chosen: &mut Vec<u32>,
    emit: &mut dyn FnMut(&[u32]),
    steps: &mut u64,
) {
    *steps += 1;
    if need.iter().zip(&reach[index]).any(|(n, r)| n.abs() > *r) {
        return;
    }
    if index == candidates.len() {
        emit(chosen); // every need is 0 here: the bound above is 0
        return;
    }
    subsets(
        parsed,
        candidates,
        reach,
        index + 1,
        need.clone(),
        chosen,
        emit,
        steps,
    );
    if let Action::Transfer { from, to, amount } = parsed.ops[candidates[index] as usize].action {
        need[from] += amount;
        need[to] -= amount;
        chosen.push(candidates[index]);
        subsets(
            parsed,
            candidates,
            reach,
            index + 1,
            need,
            chosen,
            emit,
            steps,
        );
        chosen.pop();
    }
}

fn show(balances: &[i64]) -> String {
    Value::List(balances.iter().map(|&b| Value::Int(b)).collect()).to_string()
}

/// Checks a bank history for strict serializability (see the module documentation).
///
/// # Errors
/// If the history is not a bank history (another function, a malformed transfer, audits of
/// different sizes, a completion without an invoke).
pub fn check(events: &[HistoryEvent], options: &CheckOptions) -> Result<CheckResult, HistoryError> {
    let initial = match &options.initial {
        Value::Null => None,
        value => Some(
            int_list(value)
                .ok_or_else(|| error(0, "the bank's initial value is the list of every balance"))?,
        ),
    };
    let parsed = parse(events, initial.as_deref())?;
    let mut result = CheckResult {
        verdict: Verdict::Linearizable,
        steps: 0,
        cache_entries_max: 0,
        partitions: 1,
        operations: parsed.ops.len(),
        unknown_reason: None,
        explanation: None,
    };
    let mut configs: BTreeSet<Config> = BTreeSet::new();
    configs.insert(Config {
        known: initial.is_some(),
        balances: initial.unwrap_or_else(|| vec![0; parsed.accounts]),
        placed: Vec::new(),
    });
    let mut open: BTreeSet<u32> = BTreeSet::new();
    for (index, entry) in parsed.at.iter().enumerate() {
        let Some((op, opens)) = *entry else { continue };
        if opens {
            open.insert(op);
            continue;
        }
        let mut next: BTreeSet<Config> = BTreeSet::new();
        for config in &configs {
            if let Ok(position) = config.placed.binary_search(&op) {
                let mut kept = config.clone();
                kept.placed.remove(position);
                next.insert(kept);
                continue;
            }
            // Transfers commute, so only audits need placing before `op`: any open audits,
            // each after the open transfers that reach its balances, then `op` itself.
            let mut seen: BTreeSet<Config> = BTreeSet::new();
            let mut stack = vec![config.clone()];
            while let Some(current) = stack.pop() {
                next.extend(place(&parsed, &open, &current, op, &mut result.steps));
                for &audit in &open {
                    let is_audit =
                        matches!(parsed.ops[audit as usize].action, Action::Audit { .. });
                    if audit == op || !is_audit || current.placed.binary_search(&audit).is_ok() {
                        continue;
                    }
                    for mut reached in place(&parsed, &open, &current, audit, &mut result.steps) {
                        let position = reached.placed.binary_search(&audit).unwrap_err();
                        reached.placed.insert(position, audit);
                        if seen.insert(reached.clone()) {
                            stack.push(reached);
                        }
                    }
                }
                if result.steps > options.budget_steps
                    || seen.len() as u64 > options.cache_entries_max
                {
                    result.verdict = Verdict::Unknown;
                    result.unknown_reason = Some(format!(
                        "step budget of {} or cache limit of {} entries reached (bank)",
                        options.budget_steps, options.cache_entries_max
                    ));
                    return Ok(result);
                }
            }
            result.cache_entries_max = result.cache_entries_max.max(seen.len() as u64);
        }
        open.remove(&op);
        if next.is_empty() {
            result.verdict = Verdict::NotLinearizable;
            if options.explain {
                result.explanation = Some(explain(&parsed, &configs, &open, op, index));
            }
            return Ok(result);
        }
        result.cache_entries_max = result.cache_entries_max.max(next.len() as u64);
        configs = next;
    }
    Ok(result)
}

/// Why no configuration can place `op` before its completion at event `index`: the rejections
/// seen from the first configuration that reached it.
fn explain(
    parsed: &Parsed,
    configs: &BTreeSet<Config>,
    open: &BTreeSet<u32>,
    op: u32,
    index: usize,
) -> Explanation {
    let config = configs
        .first()
        .expect("a search always keeps a configuration");
    let mut rejected = Vec::new();
    for candidate in open.iter().copied().chain(std::iter::once(op)) {
        if config.placed.binary_search(&candidate).is_ok() {
            continue;
        }
        let action = &parsed.ops[candidate as usize].action;
        let reason = match step(config, action) {
            Err(why) => why,
            Ok(_) if candidate == op => {
                "it fits here, but not after any order of the open operations that must go first"
                    .into()
            }
            Ok(_) => continue,
        };
        rejected.push(Rejection {
            invoke_event: parsed.ops[candidate as usize].invoke,
            complete_event: None,
            reason,
        });
    }
    Explanation {
        failing_event: index,
        object: "bank".into(),
        linearized: Vec::new(),
        state: if config.known {
            format!("balances {}", show(&config.balances))
        } else {
            format!(
                "initial balances unknown, net changes {}",
                show(&config.balances)
            )
        },
        blocking_invoke_event: Some(parsed.ops[op as usize].invoke),
        rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{check_events, Model};
    use super::*;

    /// `(process, type, f, value)` lines: `t` transfer, `r` read.
    fn history(lines: &[(u64, &str, &str, Value)]) -> Vec<HistoryEvent> {
        lines
            .iter()
            .enumerate()
            .map(|(index, (process, kind, f, value))| HistoryEvent {
                index: index as u64,
                time: index as u64,
                process: *process,
                kind: match *kind {
                    "invoke" => EventType::Invoke,
                    "ok" => EventType::Ok,
                    "fail" => EventType::Fail,
                    _ => EventType::Info,
                },
                f: if *f == "t" {
                    Function::Transfer
                } else {
                    Function::Read
                },
                key: None,
                value: value.clone(),
                token: None,
            })
            .collect()
    }

    fn list(values: &[i64]) -> Value {
        Value::List(values.iter().map(|&v| Value::Int(v)).collect())
    }

    fn verdict(lines: &[(u64, &str, &str, Value)], initial: Option<&[i64]>) -> Verdict {
        let options = CheckOptions {
            initial: initial.map_or(Value::Null, list),
            ..CheckOptions::default()
        };
        check_events(&history(lines), Model::Bank, &options)
            .unwrap()
            .verdict
    }

    #[test]
    fn sequential_transfers_and_audits_pass() {
        let lines = [
            (1, "invoke", "t", list(&[0, 1, 30])),
            (1, "ok", "t", list(&[0, 1, 30])),
            (2, "invoke", "r", Value::Null),
            (2, "ok", "r", list(&[70, 130])),
        ];
        assert_eq!(verdict(&lines, Some(&[100, 100])), Verdict::Linearizable);
        assert_eq!(verdict(&lines, None), Verdict::Linearizable);
    }

    #[test]
    fn an_audit_that_sees_half_a_transfer_fails() {
        // Money in flight: the debit without the credit. Not serializable, whatever the
        // initial balances, because a later audit shows the whole transfer.
        let lines = [
            (1, "invoke", "t", list(&[0, 1, 30])),
            (2, "invoke", "r", Value::Null),
            (2, "ok", "r", list(&[70, 100])),
            (1, "ok", "t", list(&[0, 1, 30])),
            (3, "invoke", "r", Value::Null),
            (3, "ok", "r", list(&[70, 130])),
        ];
        assert_eq!(verdict(&lines, Some(&[100, 100])), Verdict::NotLinearizable);
        assert_eq!(verdict(&lines, None), Verdict::NotLinearizable);
    }

    #[test]
    fn a_stale_audit_after_an_acknowledged_transfer_fails() {
        // Serializable (the audit could go first) but not strictly: the transfer completed
        // before the audit was invoked.
        let lines = [
            (1, "invoke", "t", list(&[0, 1, 30])),
            (1, "ok", "t", list(&[0, 1, 30])),
            (2, "invoke", "r", Value::Null),
            (2, "ok", "r", list(&[100, 100])),
        ];
        assert_eq!(verdict(&lines, Some(&[100, 100])), Verdict::NotLinearizable);
        let concurrent = [
            (1, "invoke", "t", list(&[0, 1, 30])),
            (2, "invoke", "r", Value::Null),
            (2, "ok", "r", list(&[100, 100])),
            (1, "ok", "t", list(&[0, 1, 30])),
        ];
        assert_eq!(
            verdict(&concurrent, Some(&[100, 100])),
            Verdict::Linearizable
        );
        // The audit was invoked before the transfer completed: it may go first even though
        // the transfer completes first.
        let overlapping = [
            (2, "invoke", "r", Value::Null),
            (1, "invoke", "t", list(&[0, 1, 30])),
            (1, "ok", "t", list(&[0, 1, 30])),
            (2, "ok", "r", list(&[100, 100])),
        ];
        assert_eq!(
            verdict(&overlapping, Some(&[100, 100])),
            Verdict::Linearizable
        );
        assert_eq!(verdict(&overlapping, None), Verdict::Linearizable);
    }

    #[test]
    fn an_indeterminate_transfer_may_apply_or_not_and_a_failed_one_does_not() {
        // Overdrafts are the conservation audit's business, not the model's: transfers commute.
        let overdraft = [
            (1, "invoke", "t", list(&[0, 1, 150])),
            (1, "ok", "t", list(&[0, 1, 150])),
        ];
        assert_eq!(
            verdict(&overdraft, Some(&[100, 100])),
            Verdict::Linearizable
        );
        for seen in [[100, 100], [60, 140]] {
            let lines = [
                (1, "invoke", "t", list(&[0, 1, 40])),
                (1, "info", "t", list(&[0, 1, 40])),
                (2, "invoke", "r", Value::Null),
                (2, "ok", "r", list(&seen)),
            ];
            assert_eq!(verdict(&lines, Some(&[100, 100])), Verdict::Linearizable);
        }
        let failed = [
            (1, "invoke", "t", list(&[0, 1, 40])),
            (1, "fail", "t", list(&[0, 1, 40])),
            (2, "invoke", "r", Value::Null),
            (2, "ok", "r", list(&[60, 140])),
        ];
        assert_eq!(
            verdict(&failed, Some(&[100, 100])),
            Verdict::NotLinearizable
        );
    }

    #[test]
    fn an_indeterminate_transfer_applies_once_at_most() {
        let lines = [
            (1, "invoke", "t", list(&[0, 1, 10])),
            (1, "info", "t", list(&[0, 1, 10])),
            (2, "invoke", "r", Value::Null),
            (2, "ok", "r", list(&[90, 110])),
            (3, "invoke", "r", Value::Null),
            (3, "ok", "r", list(&[80, 120])),
        ];
        assert_eq!(verdict(&lines, Some(&[100, 100])), Verdict::NotLinearizable);
    }

    #[test]
    fn malformed_bank_histories_are_errors() {
        let options = CheckOptions::default();
        for lines in [
            vec![(1, "invoke", "t", list(&[0, 0, 5]))],
            vec![(1, "invoke", "t", list(&[0, 1]))],
            vec![(1, "invoke", "t", list(&[0, 1, -5]))],
            vec![(1, "ok", "r", list(&[1]))],
            vec![
                (1, "invoke", "r", Value::Null),
                (1, "ok", "r", list(&[1, 2])),
                (2, "invoke", "r", Value::Null),
                (2, "ok", "r", list(&[1, 2, 3])),
            ],
        ] {
            assert!(check_events(&history(&lines), Model::Bank, &options).is_err());
        }
    }
}
