//! Protocol observations kept for reports: the node lanes of a run page (who led when, in which
//! term, ballot or epoch). Kept only when [`crate::simulation::SimConfig::record_observations`]
//! asks; a sweep keeps none.
//!
//! The kernel knows no protocol, so it reads observations by their `Debug` text, in the
//! protocol's own vocabulary:
//! - a variant named `Became<Role>` starts `<role>` (`BecameLeader` -> `leader`), `Promoted` a
//!   primary, `SteppedDown` a backup, `Established` a leader (ZAB: a quorum acknowledged its
//!   NEWLEADER), and `Voted { candidate: <self> }` a candidacy;
//! - fields named `term`, `ballot`, `epoch`, `view` (and `observer_term`, `leader_term`,
//!   `new_epoch`) carry the node's number: the largest one seen is a lower bound of the
//!   node's current one.
//!
//! Only what changes a lane is kept: observations that start a role, and those that show a node
//! a larger number than it had shown. A Raft run observes every append, commit and apply on
//! every node (tens of thousands); its lanes need a few hundred of them, and [`ObservationLog`]
//! avoids even reading most (see there). Nothing here feeds back into the run: the digest and
//! the verdict are the same with or without it.

use crate::id::NodeId;
use crate::time::Instant;
use std::fmt;

/// A protocol observation kept for reports: what it changes in its node's lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservationRecord {
    /// The true simulated time.
    pub at: Instant,
    /// The observing node.
    pub node: NodeId,
    /// The role the node starts (`leader`, `candidate`, `primary`, ...), if it starts one.
    pub role: Option<String>,
    /// The term, ballot or epoch the node shows (a lower bound of its current one).
    pub number: Option<u64>,
}

/// What one observation changes in its node's lane on a run page: the typed hook
/// [`crate::node::Node::lane`] returns it, so reports need not read `Debug` text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// The node starts `role` (`leader`, `candidate`, `follower`, `primary`, `backup`), in
    /// term/ballot/epoch `number` when it has one.
    Role {
        /// The role, in the protocol's words.
        role: &'static str,
        /// Its term, ballot or epoch.
        number: Option<u64>,
    },
    /// The node shows it knows term/ballot/epoch `number`: a larger one than the one it leads in
    /// ends its leadership on the lane.
    Number(u64),
    /// Nothing a lane shows.
    Nothing,
    /// The protocol has no hook: read the observation's `Debug` text by the naming convention
    /// of this module.
    FromDebugText,
}

/// Bytes of `Debug` text read: the variant and its first fields, which is where protocols put
/// what an observation is about (a Raft `BecameLeader` goes on to list its whole log, and
/// formatting that for every election cost more than the run).
pub const TEXT_MAX: usize = 120;

/// The fields that carry a protocol's notion of "who may lead".
pub const NUMBER_FIELDS: [&str; 7] = [
    "term",
    "observer_term",
    "leader_term",
    "ballot",
    "epoch",
    "new_epoch",
    "view",
];

/// The variant name of a `Debug` text: `BecameLeader` of `BecameLeader { term: Term(3) }`.
pub fn variant(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Every `name: ` of a `Debug` text with the first integer after it, in one pass
/// (`term: Term(3)` -> `("term", Some(3))`, `ballot: Ballot { round: 2, .. }` -> 2).
pub fn fields(text: &str) -> impl Iterator<Item = (&str, Option<u64>)> {
    // Bytes, not `str::find`: this runs on every observation of a recorded run.
    let bytes = text.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut at = 0;
    std::iter::from_fn(move || {
        while at + 1 < bytes.len() {
            let colon = at;
            at += 1;
            if bytes[colon] != b':' || bytes[colon + 1] != b' ' {
                continue;
            }
            let mut name_start = colon;
            while name_start > 0 && is_name(bytes[name_start - 1]) {
                name_start -= 1;
            }
            let mut start = colon + 2;
            while start < bytes.len() && !bytes[start].is_ascii_digit() {
                start += 1;
            }
            let mut end = start;
            let mut number: Option<u64> = None;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                let digit = u64::from(bytes[end] - b'0');
                number = Some(number.unwrap_or(0).saturating_mul(10).saturating_add(digit));
                end += 1;
            }
            // ASCII bytes: the slice is on character boundaries.
            return Some((&text[name_start..colon], number));
        }
        None
    })
}

/// The field `field`'s first integer.
pub fn number_after(text: &str, field: &str) -> Option<u64> {
    fields(text)
        .find(|(name, _)| *name == field)
        .and_then(|(_, n)| n)
}

/// The largest term/ballot/epoch/view an observation names.
pub fn observed_number(text: &str) -> Option<u64> {
    fields(text)
        .filter(|(name, _)| NUMBER_FIELDS.contains(name))
        .filter_map(|(_, number)| number)
        .max()
}

/// The role an observation of `node` starts, if any.
pub fn role_of(text: &str, node: NodeId) -> Option<String> {
    let name = variant(text);
    if let Some(role) = name.strip_prefix("Became") {
        if !role.is_empty() {
            return Some(role.to_ascii_lowercase());
        }
    }
    match name {
        "Promoted" => Some("primary".into()),
        "Established" => Some("leader".into()),
        "SteppedDown" | "Demoted" => Some("backup".into()),
        "Voted" if number_after(text, "candidate") == Some(u64::from(node.0)) => {
            Some("candidate".into())
        }
        _ => None,
    }
}

/// What an observation variant is to the lanes, learned from its first occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VariantKind {
    /// It starts a role: read every time.
    Role,
    /// It names a term/ballot/epoch: read at most once per node per sampling interval.
    Numbered,
    /// Neither: never read again.
    Plain,
}

/// The observations a run keeps, as it goes.
///
/// Reading an observation means formatting it, and a Raft run observes every append, commit and
/// apply on every node. So each variant is classified at its first occurrence: variants that
/// start roles are read every time, variants that carry no number never again, and numbered
/// ones at most once per node per `sample_nanos` (a lane is drawn a pixel per about a
/// thousandth of the run, so a finer reading would not show).
#[derive(Debug)]
pub struct ObservationLog<T> {
    buffer: String,
    /// Per node: the largest number it has shown, and when a numbered variant was last read.
    numbers: Vec<Option<u64>>,
    read_at: Vec<Option<Instant>>,
    sample_nanos: u64,
    kinds: Vec<(std::mem::Discriminant<T>, VariantKind)>,
    records: Vec<ObservationRecord>,
}

impl<T: fmt::Debug> ObservationLog<T> {
    /// An empty log for `node_count` nodes, reading numbered observations at most once per
    /// node per `sample_nanos`.
    pub fn new(node_count: u32, sample_nanos: u64) -> ObservationLog<T> {
        ObservationLog {
            buffer: String::with_capacity(TEXT_MAX),
            numbers: vec![None; node_count as usize],
            read_at: vec![None; node_count as usize],
            sample_nanos,
            kinds: Vec::new(),
            records: Vec::new(),
        }
    }

    fn read(&mut self, observation: &T) {
        struct Bounded<'a>(&'a mut String);
        impl fmt::Write for Bounded<'_> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                let room = TEXT_MAX - self.0.len();
                if text.len() <= room {
                    self.0.push_str(text);
                    return Ok(());
                }
                let mut end = room;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                self.0.push_str(&text[..end]);
                // An error ends the formatting: the rest is not wanted.
                Err(fmt::Error)
            }
        }
        self.buffer.clear();
        let _ = fmt::write(
            &mut Bounded(&mut self.buffer),
            format_args!("{observation:?}"),
        );
    }

    /// Offers `observation` of `node` at `at`, whose lane change the protocol's hook says is
    /// `lane`; keeps it if it starts a role or shows the node a larger number.
    #[inline(always)]
    pub fn offer(&mut self, at: Instant, node: NodeId, lane: Lane, observation: &T) {
        match lane {
            Lane::Nothing => {}
            Lane::FromDebugText => self.offer_text(at, node, observation),
            // The typed hook: no formatting, no text.
            typed => self.offer_lane(at, node, typed),
        }
    }

    /// Offers a typed lane change of `node` at `at` (an observation's, or the lane it starts
    /// with, [`crate::node::Node::starting_lane`]): kept if it starts a role or shows the node
    /// a larger number.
    #[inline(always)]
    pub fn offer_lane(&mut self, at: Instant, node: NodeId, lane: Lane) {
        // Most observations show a number the node has shown before (every commit on every
        // node): decided in the caller, before anything else.
        if let Lane::Number(number) = lane {
            let shown = self.numbers.get(node.0 as usize).copied().flatten();
            if shown.is_some_and(|shown| number <= shown) {
                return;
            }
        }
        self.keep_lane(at, node, lane);
    }

    /// [`ObservationLog::offer_lane`] past its fast path.
    fn keep_lane(&mut self, at: Instant, node: NodeId, lane: Lane) {
        let Some(shown) = self.numbers.get_mut(node.0 as usize) else {
            return;
        };
        let (role, number) = match lane {
            Lane::Nothing | Lane::FromDebugText => return,
            Lane::Role { role, number } => (Some(role), number),
            Lane::Number(number) => (None, Some(number)),
        };
        let larger = number.is_some() && number > *shown;
        if larger {
            *shown = number;
        }
        if larger || role.is_some() {
            self.records.push(ObservationRecord {
                at,
                node,
                role: role.map(str::to_string),
                number,
            });
        }
    }

    /// [`ObservationLog::offer`] for protocols without a lane hook: reads the `Debug` text.
    fn offer_text(&mut self, at: Instant, node: NodeId, observation: &T) {
        let index = node.0 as usize;
        if index >= self.numbers.len() {
            return;
        }
        let discriminant = std::mem::discriminant(observation);
        let known = self
            .kinds
            .iter()
            .find(|(d, _)| *d == discriminant)
            .map(|(_, kind)| *kind);
        match known {
            Some(VariantKind::Plain) => return,
            Some(VariantKind::Numbered) => {
                let due = self.read_at[index]
                    .is_none_or(|last| at.as_nanos() >= last.as_nanos() + self.sample_nanos);
                if !due {
                    return;
                }
                self.read_at[index] = Some(at);
            }
            Some(VariantKind::Role) | None => {}
        }
        self.read(observation);
        let role =
            role_of(&self.buffer, node).is_some() || matches!(variant(&self.buffer), "Voted");
        let number = observed_number(&self.buffer);
        if known.is_none() {
            let kind = match (role, number) {
                (true, _) => VariantKind::Role,
                (false, Some(_)) => VariantKind::Numbered,
                (false, None) => VariantKind::Plain,
            };
            self.kinds.push((discriminant, kind));
        }
        let shown = &mut self.numbers[index];
        let larger = number.is_some() && number > *shown;
        if larger {
            *shown = number;
        }
        if let Some(role) = role_of(&self.buffer, node) {
            self.records.push(ObservationRecord {
                at,
                node,
                role: Some(role),
                number,
            });
        } else if larger {
            self.records.push(ObservationRecord {
                at,
                node,
                role: None,
                number,
            });
        }
    }

    /// The kept observations, in time order.
    pub fn into_records(self) -> Vec<ObservationRecord> {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_texts_give_roles_and_numbers() {
        let committed = "Committed { index: 4, term: Term(2), observer_term: Term(5) }";
        assert_eq!(number_after(committed, "term"), Some(2));
        assert_eq!(observed_number(committed), Some(5));
        assert_eq!(
            observed_number("BecameLeader { ballot: Ballot { round: 7, owner: NodeId(1) } }"),
            Some(7)
        );
        assert_eq!(
            role_of("BecameLeader { term: 3, log: [] }", NodeId(0)).as_deref(),
            Some("leader")
        );
        let vote = "Voted { term: 3, candidate: NodeId(2) }";
        assert_eq!(role_of(vote, NodeId(2)).as_deref(), Some("candidate"));
        assert_eq!(role_of(vote, NodeId(1)), None);
        assert_eq!(role_of("Applied { index: 3 }", NodeId(1)), None);
        assert_eq!(observed_number("Applied { index: 3 }"), None);
        let established = "Established { epoch: 4 }";
        assert_eq!(role_of(established, NodeId(1)).as_deref(), Some("leader"));
        assert_eq!(observed_number(established), Some(4));
    }

    #[test]
    fn the_log_keeps_roles_and_larger_numbers_only_and_bounds_the_text() {
        #[derive(Debug)]
        #[allow(dead_code)]
        enum Seen {
            Appended { index: u64, term: u64 },
            BecameLeader { term: u64, log: Vec<u64> },
        }
        let mut log = ObservationLog::new(2, 0);
        let at = Instant::ZERO;
        log.offer(
            at,
            NodeId(0),
            Lane::FromDebugText,
            &Seen::Appended { index: 1, term: 1 },
        );
        log.offer(
            at,
            NodeId(0),
            Lane::FromDebugText,
            &Seen::Appended { index: 2, term: 1 },
        );
        log.offer(
            at,
            NodeId(1),
            Lane::FromDebugText,
            &Seen::Appended { index: 1, term: 1 },
        );
        log.offer(
            at,
            NodeId(0),
            Lane::FromDebugText,
            &Seen::Appended { index: 3, term: 2 },
        );
        let long_log = vec![7; 1000];
        log.offer(
            at,
            NodeId(0),
            Lane::FromDebugText,
            &Seen::BecameLeader {
                term: 2,
                log: long_log,
            },
        );
        log.offer(
            at,
            NodeId(5),
            Lane::FromDebugText,
            &Seen::Appended { index: 1, term: 9 },
        );
        let records = log.into_records();
        let kept: Vec<(u32, Option<&str>, Option<u64>)> = records
            .iter()
            .map(|r| (r.node.0, r.role.as_deref(), r.number))
            .collect();
        assert_eq!(
            kept,
            vec![
                (0, None, Some(1)),
                (1, None, Some(1)),
                (0, None, Some(2)),
                (0, Some("leader"), Some(2)),
            ]
        );
    }

    #[test]
    fn the_typed_hook_keeps_roles_and_larger_numbers_without_reading_text() {
        let mut log: ObservationLog<()> = ObservationLog::new(2, 0);
        let at = Instant::ZERO;
        let leader = Lane::Role {
            role: "leader",
            number: Some(3),
        };
        log.offer(at, NodeId(0), Lane::Number(2), &());
        log.offer(at, NodeId(0), Lane::Number(2), &());
        log.offer(at, NodeId(0), Lane::Nothing, &());
        log.offer(at, NodeId(0), leader, &());
        log.offer(at, NodeId(1), Lane::Number(1), &());
        log.offer(at, NodeId(1), Lane::Number(0), &());
        let kept: Vec<(u32, Option<String>, Option<u64>)> = log
            .into_records()
            .into_iter()
            .map(|r| (r.node.0, r.role, r.number))
            .collect();
        assert_eq!(
            kept,
            vec![
                (0, None, Some(2)),
                (0, Some("leader".into()), Some(3)),
                (1, None, Some(1)),
            ]
        );
    }
}
