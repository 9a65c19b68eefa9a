//! The classic bugs each protocol carries as switchable mutations (`../shared/BUGS.md`).
//!
//! With no mutation on, every protocol's code path is exactly the correct protocol: each
//! mutation is one `if config.bugs.contains(bugs::X)` at the point where the paper's rule is
//! enforced. A [`Bug`] is declared next to the code it breaks, in its protocol's (or
//! application's) folder, and listed by that protocol's registry entry
//! ([`crate::describe::Protocol::bugs`]); nothing here knows any protocol. Names are BUGS.md's
//! kebab-case names, used verbatim in scenario files (`bugs: ["raft-commit-prior-term"]`), on the
//! command line (`--bug`) and in reports.

use crate::capabilities::Capabilities;
use std::fmt;

/// One switchable classic bug. Two bugs are the same bug when their names are equal.
#[derive(Clone, Copy, Debug)]
pub struct Bug {
    name: &'static str,
    summary: &'static str,
    requires: Capabilities,
}

impl Bug {
    /// A bug called `name` (kebab-case, prefixed by its protocol or application family) that
    /// does what `summary` says.
    pub const fn new(name: &'static str, summary: &'static str) -> Bug {
        Bug {
            name,
            summary,
            requires: Capabilities::NONE,
        }
    }

    /// An application's bug that only a protocol with `capabilities` can carry (the counter's
    /// C1 lives in the proposal hook that consensus protocols call).
    pub const fn requiring(mut self, capabilities: Capabilities) -> Bug {
        self.requires = capabilities;
        self
    }

    /// The kebab-case name of BUGS.md.
    pub const fn name(self) -> &'static str {
        self.name
    }

    /// One line on what the mutation does.
    pub const fn summary(self) -> &'static str {
        self.summary
    }

    /// What a protocol must implement for this bug to mean anything.
    pub const fn requires(self) -> Capabilities {
        self.requires
    }
}

impl PartialEq for Bug {
    fn eq(&self, other: &Bug) -> bool {
        self.name == other.name
    }
}

impl Eq for Bug {}

impl PartialOrd for Bug {
    fn partial_cmp(&self, other: &Bug) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bug {
    fn cmp(&self, other: &Bug) -> std::cmp::Ordering {
        self.name.cmp(other.name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A set of switched-on bugs, in the order they were switched on. Small and `Copy`, so that it
/// travels in every node's configuration; with no bug on (every correct run) `contains` is one
/// comparison of a length with zero.
#[derive(Clone, Copy, Debug, Default)]
pub struct BugSet {
    len: u8,
    bugs: [Option<Bug>; BugSet::CAPACITY],
}

impl BugSet {
    /// The most bugs one run may switch on at once.
    pub const CAPACITY: usize = 8;

    /// No bugs: the correct protocols.
    pub const NONE: BugSet = BugSet {
        len: 0,
        bugs: [None; BugSet::CAPACITY],
    };

    /// Switches `bug` on (no effect if it already is).
    ///
    /// # Panics
    /// With more than [`BugSet::CAPACITY`] bugs (scenario validation refuses that first).
    pub fn insert(&mut self, bug: Bug) {
        if self.contains(bug) {
            return;
        }
        let len = usize::from(self.len);
        assert!(
            len < BugSet::CAPACITY,
            "at most {} bugs at once",
            BugSet::CAPACITY
        );
        self.bugs[len] = Some(bug);
        self.len += 1;
    }

    /// Is `bug` switched on?
    #[inline]
    pub fn contains(&self, bug: Bug) -> bool {
        self.bugs[..usize::from(self.len)]
            .iter()
            .any(|on| on.is_some_and(|on| on.name == bug.name))
    }

    /// True when no bug is on.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many bugs are on.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// The switched-on bugs, in the order they were switched on.
    pub fn iter(&self) -> impl Iterator<Item = Bug> + '_ {
        self.bugs[..usize::from(self.len)].iter().flatten().copied()
    }
}

impl PartialEq for BugSet {
    /// The same bugs, in any order.
    fn eq(&self, other: &BugSet) -> bool {
        self.len == other.len && self.iter().all(|bug| other.contains(bug))
    }
}

impl Eq for BugSet {}

impl FromIterator<Bug> for BugSet {
    fn from_iter<I: IntoIterator<Item = Bug>>(iter: I) -> Self {
        let mut set = BugSet::NONE;
        for bug in iter {
            set.insert(bug);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Bug = Bug::new("test-a", "a");
    const B: Bug = Bug::new("test-b", "b");

    #[test]
    fn a_set_holds_what_was_switched_on_once() {
        let mut set: BugSet = [A].into_iter().collect();
        assert!(set.contains(A));
        assert!(!set.contains(B));
        set.insert(A);
        assert_eq!(set.len(), 1);
        set.insert(B);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![A, B]);
        let other: BugSet = [B, A].into_iter().collect();
        assert_eq!(set, other, "order does not matter");
        assert_ne!(set, BugSet::NONE);
        assert!(BugSet::NONE.is_empty());
    }
}
