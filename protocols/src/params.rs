//! Parameters of protocols and applications, described as data.
//!
//! A protocol or application lists its parameters once ([`Param`]: name, kind, default, doc);
//! that one list drives the scenario file's syntax (`Raft(heartbeat: "50ms")`), its error
//! messages ("expected one of ..."), the defaults written back by `scenario.resolved.ron`, and
//! `faultline list`. After validation a [`Params`] holds a value for every listed parameter,
//! so the code that builds a node reads them without `Option`s.

use sim_core::prng::Ratio;
use sim_core::time::Duration;
use std::fmt;

/// How a parameter's value is written in a scenario file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// `true` or `false`.
    Bool,
    /// A whole number in `min..=max`.
    Count {
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },
    /// A duration string, `"50ms"`.
    Duration,
    /// A `(min, max)` pair of duration strings, `min <= max`.
    DurationRange,
    /// A ratio string, `"1%"`, `"1/1000"`.
    Ratio,
    /// One of these names, written bare: `ReadIndex`.
    Choice(&'static [&'static str]),
}

impl ParamKind {
    /// How a value of this kind is written, for listings: `true | false`, `"50ms"`.
    pub fn syntax(self) -> String {
        match self {
            ParamKind::Bool => "true | false".into(),
            ParamKind::Count { min, max } => format!("{min}..{max}"),
            ParamKind::Duration => "\"50ms\"".into(),
            ParamKind::DurationRange => "(\"min\", \"max\")".into(),
            ParamKind::Ratio => "\"1%\"".into(),
            ParamKind::Choice(names) => names.join(" | "),
        }
    }
}

/// A parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamValue {
    /// [`ParamKind::Bool`].
    Bool(bool),
    /// [`ParamKind::Count`].
    Count(u32),
    /// [`ParamKind::Duration`].
    Duration(Duration),
    /// [`ParamKind::DurationRange`]: `(min, max)`.
    DurationRange(Duration, Duration),
    /// [`ParamKind::Ratio`].
    Ratio(Ratio),
    /// [`ParamKind::Choice`]: one of the kind's names.
    Choice(&'static str),
}

impl ParamValue {
    /// Does this value have `kind`'s shape (the range of a count is checked separately)?
    pub fn fits(self, kind: ParamKind) -> bool {
        match (self, kind) {
            (ParamValue::Bool(_), ParamKind::Bool)
            | (ParamValue::Count(_), ParamKind::Count { .. })
            | (ParamValue::Duration(_), ParamKind::Duration)
            | (ParamValue::DurationRange(..), ParamKind::DurationRange)
            | (ParamValue::Ratio(_), ParamKind::Ratio) => true,
            (ParamValue::Choice(name), ParamKind::Choice(names)) => names.contains(&name),
            _ => false,
        }
    }
}

impl fmt::Display for ParamValue {
    /// The value as a scenario file writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(value) => write!(f, "{value}"),
            ParamValue::Count(value) => write!(f, "{value}"),
            ParamValue::Duration(value) => write!(f, "\"{value}\""),
            ParamValue::DurationRange(min, max) => write!(f, "(\"{min}\", \"{max}\")"),
            ParamValue::Ratio(value) => write!(f, "\"{value}\""),
            ParamValue::Choice(name) => f.write_str(name),
        }
    }
}

/// What a parameter is when the file leaves it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamDefault {
    /// This value.
    Value(ParamValue),
    /// Decided by the protocol's `validate` from the rest of the scenario; the text says how
    /// ("on with Random faults").
    Decided(&'static str),
}

/// One parameter of a protocol or application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its field name in the scenario file, snake_case.
    pub name: &'static str,
    /// How its value is written.
    pub kind: ParamKind,
    /// Its value when the file leaves it out.
    pub default: ParamDefault,
    /// One line on what it means (and its rules, "above heartbeat").
    pub doc: &'static str,
}

impl Param {
    /// A parameter with a fixed default.
    pub const fn new(
        name: &'static str,
        kind: ParamKind,
        default: ParamValue,
        doc: &'static str,
    ) -> Param {
        Param {
            name,
            kind,
            default: ParamDefault::Value(default),
            doc,
        }
    }

    /// A parameter whose default the protocol decides in `validate` (`how` says how).
    pub const fn decided(
        name: &'static str,
        kind: ParamKind,
        how: &'static str,
        doc: &'static str,
    ) -> Param {
        Param {
            name,
            kind,
            default: ParamDefault::Decided(how),
            doc,
        }
    }

    /// The default as a listing shows it.
    pub fn default_text(&self) -> String {
        match self.default {
            ParamDefault::Value(value) => value.to_string(),
            ParamDefault::Decided(how) => how.to_string(),
        }
    }
}

/// A rule a parameter's value breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter (its field name).
    pub param: &'static str,
    /// What is wrong.
    pub message: String,
}

impl ParamError {
    /// `param` breaks a rule: `message`.
    pub fn new(param: &'static str, message: impl Into<String>) -> ParamError {
        ParamError {
            param,
            message: message.into(),
        }
    }
}

/// The values of one protocol's or application's parameters, in the order of its list.
///
/// Built by the scenario reader from what the file gives; after validation every listed
/// parameter has a value. The accessors panic on a name that is not listed or a value of
/// another kind: those are bugs of the protocol's own code, not of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    schema: &'static [Param],
    values: Vec<Option<ParamValue>>,
}

impl Params {
    /// No value given for any parameter of `schema`.
    pub fn empty(schema: &'static [Param]) -> Params {
        Params {
            schema,
            values: vec![None; schema.len()],
        }
    }

    /// Every parameter at its fixed default (decided ones stay unset).
    pub fn defaults(schema: &'static [Param]) -> Params {
        let mut params = Params::empty(schema);
        params.fill_defaults();
        params
    }

    /// The parameter list these values follow.
    pub fn schema(&self) -> &'static [Param] {
        self.schema
    }

    fn position(&self, name: &str) -> usize {
        self.schema
            .iter()
            .position(|param| param.name == name)
            .unwrap_or_else(|| panic!("no parameter `{name}` in this list"))
    }

    /// The parameter called `name`, if listed.
    pub fn param(&self, name: &str) -> Option<&'static Param> {
        self.schema.iter().find(|param| param.name == name)
    }

    /// Sets `name` to `value`.
    ///
    /// # Panics
    /// If `name` is not listed or `value` does not fit its kind.
    pub fn set(&mut self, name: &str, value: ParamValue) {
        let position = self.position(name);
        assert!(
            value.fits(self.schema[position].kind),
            "parameter `{name}`: {value} does not fit {:?}",
            self.schema[position].kind
        );
        self.values[position] = Some(value);
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<ParamValue> {
        self.values[self.position(name)]
    }

    /// Is `name` set (given by the file, or defaulted)?
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets every unset parameter with a fixed default to it.
    pub fn fill_defaults(&mut self) {
        for (value, param) in self.values.iter_mut().zip(self.schema) {
            if let (None, ParamDefault::Value(default)) = (*value, param.default) {
                *value = Some(default);
            }
        }
    }

    /// The parameters still without a value.
    pub fn unset(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.values
            .iter()
            .zip(self.schema)
            .filter(|(value, _)| value.is_none())
            .map(|(_, param)| param.name)
    }

    /// Every `(parameter, value)` that is set, in list order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Param, ParamValue)> + '_ {
        self.schema
            .iter()
            .zip(&self.values)
            .filter_map(|(param, value)| value.map(|value| (param, value)))
    }

    fn value(&self, name: &str) -> ParamValue {
        self.get(name).unwrap_or_else(|| {
            panic!("parameter `{name}` has no value (validation sets every one)")
        })
    }

    /// A [`ParamKind::Bool`].
    pub fn bool(&self, name: &str) -> bool {
        match self.value(name) {
            ParamValue::Bool(value) => value,
            other => panic!("parameter `{name}` is {other}, not a bool"),
        }
    }

    /// A [`ParamKind::Count`].
    pub fn count(&self, name: &str) -> u32 {
        match self.value(name) {
            ParamValue::Count(value) => value,
            other => panic!("parameter `{name}` is {other}, not a count"),
        }
    }

    /// A [`ParamKind::Duration`].
    pub fn duration(&self, name: &str) -> Duration {
        match self.value(name) {
            ParamValue::Duration(value) => value,
            other => panic!("parameter `{name}` is {other}, not a duration"),
        }
    }

    /// A [`ParamKind::DurationRange`], `(min, max)`.
    pub fn duration_range(&self, name: &str) -> (Duration, Duration) {
        match self.value(name) {
            ParamValue::DurationRange(min, max) => (min, max),
            other => panic!("parameter `{name}` is {other}, not a duration range"),
        }
    }

    /// A [`ParamKind::Ratio`].
    pub fn ratio(&self, name: &str) -> Ratio {
        match self.value(name) {
            ParamValue::Ratio(value) => value,
            other => panic!("parameter `{name}` is {other}, not a ratio"),
        }
    }

    /// A [`ParamKind::Choice`]: one of its names.
    pub fn choice(&self, name: &str) -> &'static str {
        match self.value(name) {
            ParamValue::Choice(value) => value,
            other => panic!("parameter `{name}` is {other}, not a choice"),
        }
    }
}

/// Checks the rules every parameter list shares: each value fits its kind, counts are within
/// their range, duration ranges are ordered. A protocol's own `validate` adds the rules that
/// involve more than one value.
///
/// # Errors
/// The first parameter that breaks a rule.
pub fn check_kinds(params: &Params) -> Result<(), ParamError> {
    for (param, value) in params.iter() {
        match (param.kind, value) {
            (ParamKind::Count { min, max }, ParamValue::Count(count)) => {
                if count < min || count > max {
                    return Err(ParamError::new(
                        param.name,
                        format!("{count}: expected {min} to {max}"),
                    ));
                }
            }
            (ParamKind::DurationRange, ParamValue::DurationRange(min, max)) => {
                if min > max {
                    return Err(ParamError::new(
                        param.name,
                        format!("min {min} is above max {max}"),
                    ));
                }
            }
            (kind, value) => assert!(value.fits(kind), "`{}`: {value}", param.name),
        }
    }
    Ok(())
}

/// A positive duration `name`.
///
/// # Errors
/// When it is zero.
pub fn positive(params: &Params, name: &'static str) -> Result<Duration, ParamError> {
    let value = params.duration(name);
    if value == Duration::ZERO {
        return Err(ParamError::new(name, "0s: expected a positive duration"));
    }
    Ok(value)
}

/// A leader-based protocol's timing: a positive `heartbeat` below the minimum of the
/// `timeout` range (else `consequence` happens).
///
/// # Errors
/// When the heartbeat is zero or not below the timeout's minimum.
pub fn leader_timing(
    params: &Params,
    timeout: &'static str,
    consequence: &str,
) -> Result<(), ParamError> {
    let heartbeat = positive(params, "heartbeat")?;
    let (min, _) = params.duration_range(timeout);
    if min <= heartbeat {
        return Err(ParamError::new(
            timeout,
            format!("min {min} is not above the heartbeat interval {heartbeat}: {consequence}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &[Param] = &[
        Param::new(
            "heartbeat",
            ParamKind::Duration,
            ParamValue::Duration(Duration::from_millis(50)),
            "leader heartbeat interval",
        ),
        Param::new(
            "timeout",
            ParamKind::DurationRange,
            ParamValue::DurationRange(Duration::from_millis(150), Duration::from_millis(300)),
            "timeout range",
        ),
        Param::new(
            "count",
            ParamKind::Count { min: 1, max: 9 },
            ParamValue::Count(1),
            "a count",
        ),
        Param::decided(
            "fancy",
            ParamKind::Bool,
            "on with Random faults",
            "decided later",
        ),
    ];

    #[test]
    fn defaults_fill_only_fixed_defaults_and_rules_are_checked() {
        let mut params = Params::defaults(SCHEMA);
        assert_eq!(params.duration("heartbeat"), Duration::from_millis(50));
        assert_eq!(params.unset().collect::<Vec<_>>(), vec!["fancy"]);
        params.set("fancy", ParamValue::Bool(true));
        assert!(params.bool("fancy"));
        assert_eq!(check_kinds(&params), Ok(()));
        assert_eq!(leader_timing(&params, "timeout", "storms"), Ok(()));

        params.set("count", ParamValue::Count(10));
        assert_eq!(check_kinds(&params).unwrap_err().param, "count");
        params.set("count", ParamValue::Count(9));
        params.set(
            "timeout",
            ParamValue::DurationRange(Duration::from_millis(40), Duration::from_millis(30)),
        );
        assert!(check_kinds(&params)
            .unwrap_err()
            .message
            .contains("above max"));
        let error = leader_timing(&params, "timeout", "storms").unwrap_err();
        assert!(
            error.message.contains("not above the heartbeat"),
            "{error:?}"
        );
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_value_of_the_wrong_kind_is_a_bug() {
        Params::empty(SCHEMA).set("heartbeat", ParamValue::Bool(true));
    }
}
