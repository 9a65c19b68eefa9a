//! The **bank** application: accounts holding integer balances, with transfers between two
//! accounts and audits that read every balance (Jepsen's bank workload). It needs a protocol
//! that runs transactions over accounts partitioned among its nodes
//! ([`Capabilities::TRANSACTIONS`]: two-phase commit); it is not a replicated state machine,
//! so no consensus protocol runs it.
//!
//! - `transfer` (`value` = `[from, to, amount]`, no key): moves `amount` from `from` to `to`
//!   when `from` holds at least `amount`, and answers `Ok`; refuses (`Fail`) an overdraft.
//! - `read` (no key): an audit, answering `Ok { value: [b0, b1, ...] }`, every balance in
//!   account order.
//!
//! [`Bank`] is the sequential reference: the protocol reads its initial balances from it (an
//! audit) and the checker's `bank` model has the same rules. The workload sends transfers
//! between two different accounts with amounts up to the initial balance, so that some exceed
//! what the debited account holds, and audits with the scenario's `audit_ratio`.
//!
//! Checks: the history's strict serializability (the checker's `bank` model) and the audit
//! [`audit`], `conservation`: every `ok` audit sums to the initial total and shows no negative
//! balance.

use super::{Application, Command};
use crate::capabilities::Capabilities;
use crate::describe::{App, AuditResult, Identity};
use crate::mutation::BugSet;
use crate::params::{Param, ParamKind, ParamValue, Params};
use sim_core::check::Model;
use sim_core::client::Workload;
use sim_core::history::{EventType, Function, HistoryEvent, Value};
use sim_core::id::{ClientId, NodeId};
use sim_core::node::{Operation, Outcome};
use sim_core::prng::{Prng, Ratio};
use sim_core::time::Instant;
use sim_core::trace::Digest;

/// The bank: one balance per account, account 0 first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bank {
    balances: Vec<i64>,
}

impl Bank {
    /// `accounts` accounts holding `initial_balance` each.
    pub fn new(accounts: u32, initial_balance: i64) -> Bank {
        assert!(
            accounts >= 2,
            "a bank of {accounts} accounts has no transfers"
        );
        assert!(initial_balance >= 0, "initial balance {initial_balance}");
        Bank {
            balances: vec![initial_balance; accounts as usize],
        }
    }

    /// Every balance, account 0 first.
    pub fn balances(&self) -> &[i64] {
        &self.balances
    }

    /// The audit operation (`read`, no key).
    pub fn audit_operation() -> Operation {
        Operation {
            f: Function::Read,
            key: None,
            value: Value::Null,
        }
    }

    /// The `(from, to, amount)` of a transfer's value, if it is one.
    pub fn transfer_of(value: &Value) -> Option<(u32, u32, i64)> {
        match value {
            Value::List(items) if items.len() == 3 => {
                let from = u32::try_from(items[0].as_int()?).ok()?;
                let to = u32::try_from(items[1].as_int()?).ok()?;
                Some((from, to, items[2].as_int()?))
            }
            _ => None,
        }
    }

    /// The value of a transfer of `amount` from `from` to `to`.
    pub fn transfer_value(from: u32, to: u32, amount: i64) -> Value {
        Value::List(vec![
            Value::Int(i64::from(from)),
            Value::Int(i64::from(to)),
            Value::Int(amount),
        ])
    }

    /// The balances as an audit's answer.
    pub fn audit_value(balances: &[i64]) -> Value {
        Value::List(balances.iter().map(|&b| Value::Int(b)).collect())
    }
}

impl Application for Bank {
    fn apply(&mut self, command: &Command) -> Outcome {
        let operation = &command.operation;
        if let Some(outcome) = self.query(operation) {
            return outcome;
        }
        let (from, to, amount) = Bank::transfer_of(&operation.value)
            .unwrap_or_else(|| panic!("not a bank operation: {operation:?}"));
        let (from, to) = (from as usize, to as usize);
        assert!(
            from != to && amount > 0,
            "transfer {from} -> {to} of {amount}"
        );
        if self.balances[from] < amount {
            return Outcome::Fail; // an overdraft is refused
        }
        self.balances[from] -= amount;
        self.balances[to] += amount;
        Outcome::Ok {
            value: Value::Null,
            token: None,
        }
    }

    fn query(&self, operation: &Operation) -> Option<Outcome> {
        (operation.f == Function::Read).then(|| Outcome::Ok {
            value: Bank::audit_value(&self.balances),
            token: None,
        })
    }

    fn state_digest(&self) -> u64 {
        let mut digest = Digest::new();
        digest.str("bank");
        for &balance in &self.balances {
            digest.word(balance as u64);
        }
        digest.value()
    }
}

/// Transfers between two different accounts (amounts from 1 to the initial balance) and, with
/// probability `audit_ratio`, audits.
#[derive(Clone, Debug)]
pub struct BankWorkload {
    accounts: u32,
    amount_max: u64,
    audit_ratio: Ratio,
}

impl Workload for BankWorkload {
    fn next_operation(&mut self, _client: ClientId, _now: Instant, rng: &mut Prng) -> Operation {
        if rng.chance(self.audit_ratio) {
            return Bank::audit_operation();
        }
        let from = rng.below(u64::from(self.accounts)) as u32;
        // Any other account: draw among accounts - 1 and skip `from`.
        let mut to = rng.below(u64::from(self.accounts - 1)) as u32;
        if to >= from {
            to += 1;
        }
        let amount = rng.range_inclusive(1, self.amount_max) as i64;
        Operation {
            f: Function::Transfer,
            key: None,
            value: Bank::transfer_value(from, to, amount),
        }
    }
}

/// `conservation`: every `ok` audit has one balance per account, none negative, summing to
/// `total`.
///
/// # Errors
/// The first audit that breaks it, with its balances.
pub fn audit(history: &[HistoryEvent], accounts: u32, total: i64) -> Result<(), String> {
    for event in history {
        if event.kind != EventType::Ok || event.f != Function::Read {
            continue;
        }
        let balances: Option<Vec<i64>> = match &event.value {
            Value::List(items) => items.iter().map(Value::as_int).collect(),
            _ => None,
        };
        let Some(balances) = balances else {
            return Err(format!(
                "history index {}: an audit answered {}, not a list of balances",
                event.index, event.value
            ));
        };
        let sum: i64 = balances.iter().sum();
        if balances.len() != accounts as usize || sum != total || balances.iter().any(|&b| b < 0) {
            return Err(format!(
                "history index {}: process {} audited {} (sum {sum}), but the bank's {accounts} accounts hold {total} in total and no balance is negative",
                event.index, event.process, event.value
            ));
        }
    }
    Ok(())
}

/// The bank in the registry.
pub struct BankApp;

/// The registry's value for the bank.
pub static BANK: BankApp = BankApp;

const PARAMS: &[Param] = &[
    Param::new(
        "accounts",
        ParamKind::Count { min: 2, max: 1024 },
        ParamValue::Count(12),
        "accounts, split into contiguous ranges among the participants",
    ),
    Param::new(
        "initial_balance",
        ParamKind::Count {
            min: 1,
            max: 1_000_000,
        },
        ParamValue::Count(100),
        "every account's balance at the start; transfers move 1 to this much",
    ),
    Param::new(
        "audit_ratio",
        ParamKind::Ratio,
        ParamValue::Ratio(Ratio::from_percent(10)),
        "share of operations that audit every balance (the rest are transfers)",
    ),
];

const IDENTITY: Identity = Identity {
    name: "bank",
    variant: "Bank",
    summary: "transfers between accounts (overdrafts refused) and audits of every balance; a fixed workload (no mix)",
    params: PARAMS,
    bare: false,
};

impl App for BankApp {
    fn identity(&self) -> &'static Identity {
        &IDENTITY
    }

    fn requires(&self) -> Capabilities {
        Capabilities::TRANSACTIONS
    }

    fn functions(&self) -> &'static [Function] {
        &[Function::Transfer, Function::Read]
    }

    fn default_mix(&self) -> &'static [(Function, u64)] {
        // Fixed by `audit_ratio`; this is only what a listing shows.
        &[(Function::Transfer, 9), (Function::Read, 1)]
    }

    fn takes_mix(&self) -> bool {
        false
    }

    fn object_count(&self, _params: &Params) -> u32 {
        1
    }

    fn model(&self) -> Model {
        Model::Bank
    }

    fn audits(&self) -> &'static [&'static str] {
        &["conservation"]
    }

    fn build(&self, params: &Params, _bugs: BugSet) -> super::AnyApp {
        super::AnyApp::new(Bank::new(
            params.count("accounts"),
            i64::from(params.count("initial_balance")),
        ))
    }

    fn workload(
        &self,
        params: &Params,
        _mix: Vec<(Function, u64)>,
        _clients: u32,
        _bugs: BugSet,
    ) -> Box<dyn Workload> {
        Box::new(BankWorkload {
            accounts: params.count("accounts"),
            amount_max: u64::from(params.count("initial_balance")),
            audit_ratio: params.ratio("audit_ratio"),
        })
    }

    fn audit(&self, params: &Params, _bugs: BugSet, history: &[HistoryEvent]) -> AuditResult {
        let accounts = params.count("accounts");
        let total = i64::from(accounts) * i64::from(params.count("initial_balance"));
        audit(history, accounts, total).map_err(|message| ("conservation", message))
    }
}

/// The accounts participant `node` owns when nodes `1..=participants` split `accounts` into
/// contiguous ranges, the `node - 1`-th range each; node 0 (2PC's coordinator, the sagas'
/// orchestrator) owns none. Shared by every protocol that runs the bank.
pub fn account_range(accounts: u32, participants: u32, node: NodeId) -> std::ops::Range<u32> {
    if node.0 == 0 || node.0 > participants {
        return 0..0;
    }
    let (accounts, count) = (u64::from(accounts), u64::from(participants));
    let index = u64::from(node.0 - 1);
    (index * accounts / count) as u32..((index + 1) * accounts / count) as u32
}

/// The participant owning `account` (see [`account_range`]).
///
/// # Panics
/// If the bank has no such account.
pub fn account_owner(accounts: u32, participants: u32, account: u32) -> NodeId {
    (1..=participants)
        .map(NodeId)
        .find(|&node| account_range(accounts, participants, node).contains(&account))
        .unwrap_or_else(|| panic!("account {account} outside a bank of {accounts}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::test_command;
    use sim_core::prng::Stream;

    #[test]
    fn transfers_move_money_and_overdrafts_are_refused() {
        let mut bank = Bank::new(3, 10);
        let ok = bank.apply(&test_command(
            0,
            1,
            Function::Transfer,
            None,
            Bank::transfer_value(0, 2, 7),
        ));
        assert!(matches!(ok, Outcome::Ok { .. }));
        let refused = bank.apply(&test_command(
            0,
            2,
            Function::Transfer,
            None,
            Bank::transfer_value(0, 1, 4),
        ));
        assert_eq!(refused, Outcome::Fail);
        assert_eq!(bank.balances(), &[3, 10, 17]);
        assert_eq!(
            bank.query(&Bank::audit_operation()),
            Some(Outcome::Ok {
                value: Bank::audit_value(&[3, 10, 17]),
                token: None
            })
        );
    }

    #[test]
    fn the_workload_transfers_between_different_accounts_and_audits_sometimes() {
        let mut workload = BankWorkload {
            accounts: 4,
            amount_max: 50,
            audit_ratio: Ratio::from_percent(10),
        };
        let mut rng = Prng::new(7, Stream::Client(0));
        let mut audits = 0;
        for _ in 0..2_000 {
            let op = workload.next_operation(ClientId(0), Instant::ZERO, &mut rng);
            if op.f == Function::Read {
                audits += 1;
                continue;
            }
            let (from, to, amount) = Bank::transfer_of(&op.value).unwrap();
            assert!(from != to && from < 4 && to < 4 && (1..=50).contains(&amount));
        }
        assert!((100..300).contains(&audits), "{audits}");
    }

    #[test]
    fn conservation_fails_on_a_wrong_sum_or_a_negative_balance() {
        let event = |value: Value| HistoryEvent {
            index: 0,
            time: 0,
            process: 0,
            kind: EventType::Ok,
            f: Function::Read,
            key: None,
            value,
            token: None,
        };
        assert!(audit(&[event(Bank::audit_value(&[5, 15]))], 2, 20).is_ok());
        assert!(audit(&[event(Bank::audit_value(&[5, 14]))], 2, 20).is_err());
        assert!(audit(&[event(Bank::audit_value(&[-5, 25]))], 2, 20).is_err());
        assert!(audit(&[event(Bank::audit_value(&[20]))], 2, 20).is_err());
    }
}
