//! The **kv** application: a map from integer keys to integer values with `read`, `write` and
//! `cas` (DESIGN.md §4, the checker's `kv` model: one cas-register per key).
//!
//! - `read` answers `Ok { value, token: None }` with the key's value, `Null` when absent.
//! - `write v` stores `v` and answers `Ok { value: Null, token: None }`.
//! - `cas [from, to]` stores `to` when the key holds `from` and answers `Ok { value: Null, .. }`;
//!   otherwise it changes nothing and answers [`Outcome::Fail`] (it did not take effect). An
//!   absent key holds no integer, so a cas on it always fails.
//!
//! An operation without a key (`Operation.key == None`) addresses one more object, distinct
//! from every numbered key, so the same application serves the single-object `register` and
//! `cas-register` models.

use super::{Application, Command};
use sim_core::history::{Function, Value};
use sim_core::node::{Operation, Outcome};
use sim_core::trace::Digest;
use std::collections::BTreeMap;

/// The kv store: the current value of every key that was ever written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    /// `None` is the keyless object; a key is present once written (there is no delete).
    entries: BTreeMap<Option<u32>, i64>,
}

impl Kv {
    /// An empty store: every key reads `Null`.
    pub fn new() -> Kv {
        Kv::default()
    }

    /// The value of `key`, `None` when it was never written.
    pub fn get(&self, key: Option<u32>) -> Option<i64> {
        self.entries.get(&key).copied()
    }

    /// How many keys hold a value.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key holds a value.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn read(&self, key: Option<u32>) -> Outcome {
        let value = self.get(key).map_or(Value::Null, Value::Int);
        Outcome::Ok { value, token: None }
    }
}

/// The answer of an operation that took effect and returns nothing.
fn ok_null() -> Outcome {
    Outcome::Ok {
        value: Value::Null,
        token: None,
    }
}

impl Application for Kv {
    /// # Panics
    /// On an operation the kv store does not have (`add`, `acquire`, ...) or a malformed
    /// argument (a write of a non-integer, a cas without an integer pair): the scenario's
    /// workload and application disagree, which is a bug of the harness, not a client error.
    fn apply(&mut self, command: &Command) -> Outcome {
        let Operation { f, key, value } = &command.operation;
        match f {
            Function::Read => self.read(*key),
            Function::Write => {
                let written = value.as_int().unwrap_or_else(|| {
                    panic!(
                        "kv write of a non-integer value {value} (request {:?})",
                        command.request
                    )
                });
                self.entries.insert(*key, written);
                assert_eq!(self.get(*key), Some(written));
                ok_null()
            }
            Function::Cas => {
                let (from, to) = value.as_pair().unwrap_or_else(|| {
                    panic!("kv cas needs an integer pair [from, to], got {value}")
                });
                if self.get(*key) == Some(from) {
                    self.entries.insert(*key, to);
                    ok_null()
                } else {
                    // The compare failed: nothing changed, and the client must learn that the
                    // operation did not take effect (a `fail` in the history, not an `ok`).
                    Outcome::Fail
                }
            }
            other => panic!("the kv application has no `{}` operation", other.as_str()),
        }
    }

    fn query(&self, operation: &Operation) -> Option<Outcome> {
        match operation.f {
            Function::Read => Some(self.read(operation.key)),
            _ => None,
        }
    }

    fn state_digest(&self) -> u64 {
        let mut digest = Digest::new();
        digest.str("kv");
        digest.word(self.entries.len() as u64);
        // BTreeMap iteration is in key order, so equal maps give equal digests.
        for (key, value) in &self.entries {
            match key {
                None => digest.word(0),
                Some(k) => {
                    digest.word(1);
                    digest.word(u64::from(*k));
                }
            }
            digest.word(*value as u64);
        }
        digest.value()
    }
}

/// The most keys a kv store may have.
pub const KEYS_MAX: u32 = 1_000_000;

const KV_PARAMS: &[crate::params::Param] = &[crate::params::Param::new(
    "keys",
    crate::params::ParamKind::Count {
        min: 1,
        max: KEYS_MAX,
    },
    crate::params::ParamValue::Count(4),
    "how many keys (one cas-register each) clients spread over",
)];

const REGISTER_MIX: &[(Function, u64)] = &[
    (Function::Read, 50),
    (Function::Write, 35),
    (Function::Cas, 15),
];

/// The kv store in the registry, keyed (`Kv(keys: N)`) or as one keyless cas-register
/// (`Register`): the same state machine, workload and model, with or without keys.
pub struct KvApp {
    identity: &'static crate::describe::Identity,
    keyed: bool,
}

/// The registry's value for the kv store.
pub static KV: KvApp = KvApp {
    identity: &crate::describe::Identity {
        name: "kv",
        variant: "Kv",
        summary: "key-value store, one cas-register per key",
        params: KV_PARAMS,
        bare: false,
    },
    keyed: true,
};

/// The registry's value for the register (the kv store's keyless object).
pub static REGISTER: KvApp = KvApp {
    identity: &crate::describe::Identity {
        name: "register",
        variant: "Register",
        summary: "a single cas-register",
        params: &[],
        bare: true,
    },
    keyed: false,
};

impl KvApp {
    /// The keys clients spread over; `None` for the keyless register.
    fn keys(&self, params: &crate::params::Params) -> Option<u32> {
        self.keyed.then(|| params.count("keys"))
    }
}

impl crate::describe::App for KvApp {
    fn identity(&self) -> &'static crate::describe::Identity {
        self.identity
    }

    fn runs_on(&self, capabilities: crate::describe::Capabilities) -> bool {
        // A per-key read/write/cas store: it runs on a replicated state machine, and on a
        // protocol that keeps the keys itself (the sharded store).
        capabilities.covers(self.requires())
            || capabilities.covers(crate::describe::Capabilities::KEYED_STORE)
    }

    fn functions(&self) -> &'static [Function] {
        &[Function::Read, Function::Write, Function::Cas]
    }

    fn default_mix(&self) -> &'static [(Function, u64)] {
        REGISTER_MIX
    }

    fn object_count(&self, params: &crate::params::Params) -> u32 {
        self.keys(params).unwrap_or(1)
    }

    fn model(&self) -> sim_core::check::Model {
        // The keyless object of the kv model is the register.
        sim_core::check::Model::Kv
    }

    fn build(
        &self,
        _params: &crate::params::Params,
        _bugs: crate::mutation::BugSet,
    ) -> super::AnyApp {
        super::AnyApp::new(Kv::default())
    }

    fn workload(
        &self,
        params: &crate::params::Params,
        mix: Vec<(Function, u64)>,
        clients: u32,
        _bugs: crate::mutation::BugSet,
    ) -> Box<dyn sim_core::client::Workload> {
        Box::new(sim_core::client::RegisterWorkload::new(
            mix,
            self.keys(params),
            clients,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::id::{ClientId, ProcessId, RequestId};

    fn command(request: u64, f: Function, key: Option<u32>, value: Value) -> Command {
        Command {
            request: RequestId(request),
            client: ClientId(0),
            process: ProcessId(0),
            operation: Operation { f, key, value },
            stamp: crate::apps::Stamp::default(),
        }
    }

    fn read(kv: &mut Kv, key: Option<u32>) -> Outcome {
        kv.apply(&command(0, Function::Read, key, Value::Null))
    }

    fn int(value: i64) -> Outcome {
        Outcome::Ok {
            value: Value::Int(value),
            token: None,
        }
    }

    #[test]
    fn absent_key_reads_null_and_write_then_read_sees_it() {
        let mut kv = Kv::new();
        assert_eq!(read(&mut kv, Some(3)), ok_null());
        assert_eq!(
            kv.apply(&command(1, Function::Write, Some(3), Value::Int(7))),
            ok_null()
        );
        assert_eq!(read(&mut kv, Some(3)), int(7));
        assert_eq!(
            read(&mut kv, Some(4)),
            ok_null(),
            "other keys are untouched"
        );
        assert_eq!(
            read(&mut kv, None),
            ok_null(),
            "the keyless object is its own object"
        );
    }

    #[test]
    fn cas_takes_effect_only_when_the_compare_holds() {
        let mut kv = Kv::new();
        let cas = |from, to| command(2, Function::Cas, Some(1), Value::pair(from, to));
        assert_eq!(
            kv.apply(&cas(0, 1)),
            Outcome::Fail,
            "an absent key holds no integer"
        );
        assert_eq!(kv.get(Some(1)), None);
        kv.apply(&command(1, Function::Write, Some(1), Value::Int(5)));
        assert_eq!(kv.apply(&cas(4, 9)), Outcome::Fail);
        assert_eq!(kv.get(Some(1)), Some(5), "a failed cas changes nothing");
        assert_eq!(kv.apply(&cas(5, 6)), ok_null());
        assert_eq!(read(&mut kv, Some(1)), int(6));
    }

    #[test]
    fn query_answers_reads_only_and_does_not_change_state() {
        let mut kv = Kv::new();
        kv.apply(&command(1, Function::Write, None, Value::Int(2)));
        let before = kv.clone();
        let read = Operation {
            f: Function::Read,
            key: None,
            value: Value::Null,
        };
        assert_eq!(kv.query(&read), Some(int(2)));
        let write = Operation {
            f: Function::Write,
            key: None,
            value: Value::Int(3),
        };
        assert_eq!(kv.query(&write), None);
        let cas = Operation {
            f: Function::Cas,
            key: None,
            value: Value::pair(2, 3),
        };
        assert_eq!(kv.query(&cas), None);
        assert_eq!(kv, before);
    }

    #[test]
    fn digest_depends_on_contents_not_on_history() {
        let mut a = Kv::new();
        a.apply(&command(1, Function::Write, Some(1), Value::Int(1)));
        a.apply(&command(2, Function::Write, Some(2), Value::Int(2)));
        let mut b = Kv::new();
        b.apply(&command(3, Function::Write, Some(2), Value::Int(9)));
        b.apply(&command(4, Function::Write, Some(2), Value::Int(2)));
        b.apply(&command(5, Function::Write, Some(1), Value::Int(1)));
        assert_eq!(a.state_digest(), b.state_digest());
        b.apply(&command(6, Function::Write, Some(1), Value::Int(0)));
        assert_ne!(a.state_digest(), b.state_digest());
        // The keyless object and key 0 are different objects with different digests.
        let mut keyless = Kv::new();
        keyless.apply(&command(7, Function::Write, None, Value::Int(1)));
        let mut zero = Kv::new();
        zero.apply(&command(8, Function::Write, Some(0), Value::Int(1)));
        assert_ne!(keyless.state_digest(), zero.state_digest());
        assert_ne!(Kv::new().state_digest(), keyless.state_digest());
    }

    #[test]
    fn digest_is_pinned() {
        // A change here changes every replica digest in golden traces: review it as such.
        let mut kv = Kv::new();
        assert_eq!(format!("{:016x}", kv.state_digest()), PINNED_EMPTY);
        kv.apply(&command(1, Function::Write, Some(1), Value::Int(-3)));
        kv.apply(&command(2, Function::Write, None, Value::Int(4)));
        assert_eq!(format!("{:016x}", kv.state_digest()), PINNED_TWO_KEYS);
    }

    const PINNED_EMPTY: &str = "84a78249a39d17da";
    const PINNED_TWO_KEYS: &str = "72974541ff5779fd";

    #[test]
    #[should_panic(expected = "no `add` operation")]
    fn foreign_operation_is_a_harness_bug() {
        Kv::new().apply(&command(1, Function::Add, None, Value::Int(1)));
    }
}
