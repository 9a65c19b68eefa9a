//! The classic bugs each protocol carries as switchable mutations (`../shared/BUGS.md`).
//!
//! With no mutation on, every protocol's code path is exactly the correct protocol: each
//! mutation is one `if config.bugs.contains(Bug::X)` at the point where the paper's rule is
//! enforced. Names are BUGS.md's kebab-case names, used verbatim in scenario files
//! (`bugs: ["raft-commit-prior-term"]`), on the command line (`--bug`) and in reports.

use std::fmt;

/// One switchable classic bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// R1: count replicas for entries of earlier terms (Raft §5.4.2, Figure 8).
    RaftCommitPriorTerm,
    /// R2: keep votedFor only in memory / unsynced.
    RaftVotedforNotDurable,
    /// R4: grant votes without the up-to-date check (Raft §5.4.1).
    RaftNoElectionRestriction,
    /// R6: acknowledge AppendEntries before the entries are synced.
    RaftAckBeforeFsync,
    /// R7: serve reads from the leader's local state with no quorum check.
    RaftStaleReadNoReadindex,
    /// P1: the acceptor accepts any Accept, ignoring its promise (Paxos Made Simple P1a).
    PaxosAcceptIgnoresPromise,
    /// P2: accepting ballot n does not also promise n.
    PaxosAcceptDoesNotRaisePromise,
    /// P4: after phase 1 the proposer proposes its own value, not the highest-ballot accepted one.
    PaxosIgnoreAcceptedValue,
    /// P6: leader-local lease reads with no clock-drift margin.
    MultipaxosLeaseReadUnsafe,
    /// L1: the protected resource accepts writes without comparing fencing tokens.
    LockResourceSkipsFencingCheck,
    /// L3: release deletes the lock without checking the caller owns it.
    LockReleaseWithoutOwnerCheck,
    /// L4: lease validity measured without a drift margin / from a jumping wall clock.
    LockLeaseNoDriftMargin,
    /// C1: increment as a read followed by a blind write.
    CounterNonatomicRmw,
    /// C2: no session table: a retried add is applied again.
    CounterRetryNotIdempotent,
}

impl Bug {
    /// Every bug, in catalogue order.
    pub const ALL: &'static [Bug] = &[
        Bug::RaftCommitPriorTerm,
        Bug::RaftVotedforNotDurable,
        Bug::RaftNoElectionRestriction,
        Bug::RaftAckBeforeFsync,
        Bug::RaftStaleReadNoReadindex,
        Bug::PaxosAcceptIgnoresPromise,
        Bug::PaxosAcceptDoesNotRaisePromise,
        Bug::PaxosIgnoreAcceptedValue,
        Bug::MultipaxosLeaseReadUnsafe,
        Bug::LockResourceSkipsFencingCheck,
        Bug::LockReleaseWithoutOwnerCheck,
        Bug::LockLeaseNoDriftMargin,
        Bug::CounterNonatomicRmw,
        Bug::CounterRetryNotIdempotent,
    ];

    /// The kebab-case name of BUGS.md.
    pub fn name(self) -> &'static str {
        match self {
            Bug::RaftCommitPriorTerm => "raft-commit-prior-term",
            Bug::RaftVotedforNotDurable => "raft-votedfor-not-durable",
            Bug::RaftNoElectionRestriction => "raft-no-election-restriction",
            Bug::RaftAckBeforeFsync => "raft-ack-before-fsync",
            Bug::RaftStaleReadNoReadindex => "raft-stale-read-no-readindex",
            Bug::PaxosAcceptIgnoresPromise => "paxos-accept-ignores-promise",
            Bug::PaxosAcceptDoesNotRaisePromise => "paxos-accept-does-not-raise-promise",
            Bug::PaxosIgnoreAcceptedValue => "paxos-ignore-accepted-value",
            Bug::MultipaxosLeaseReadUnsafe => "multipaxos-lease-read-unsafe",
            Bug::LockResourceSkipsFencingCheck => "lock-resource-skips-fencing-check",
            Bug::LockReleaseWithoutOwnerCheck => "lock-release-without-owner-check",
            Bug::LockLeaseNoDriftMargin => "lock-lease-no-drift-margin",
            Bug::CounterNonatomicRmw => "counter-nonatomic-rmw",
            Bug::CounterRetryNotIdempotent => "counter-retry-not-idempotent",
        }
    }

    /// The protocol or application family the bug belongs to: `raft` and `paxos` bugs apply
    /// to scenarios of that protocol, `lock` and `counter` bugs to scenarios of that
    /// application on any protocol.
    pub fn protocol(self) -> &'static str {
        match self {
            Bug::RaftCommitPriorTerm
            | Bug::RaftVotedforNotDurable
            | Bug::RaftNoElectionRestriction
            | Bug::RaftAckBeforeFsync
            | Bug::RaftStaleReadNoReadindex => "raft",
            Bug::PaxosAcceptIgnoresPromise
            | Bug::PaxosAcceptDoesNotRaisePromise
            | Bug::PaxosIgnoreAcceptedValue
            | Bug::MultipaxosLeaseReadUnsafe => "paxos",
            Bug::LockResourceSkipsFencingCheck
            | Bug::LockReleaseWithoutOwnerCheck
            | Bug::LockLeaseNoDriftMargin => "lock",
            Bug::CounterNonatomicRmw | Bug::CounterRetryNotIdempotent => "counter",
        }
    }

    /// One line on what the mutation does.
    pub fn summary(self) -> &'static str {
        match self {
            Bug::RaftCommitPriorTerm => {
                "leader counts replicas for entries of earlier terms (Figure 8)"
            }
            Bug::RaftVotedforNotDurable => "currentTerm/votedFor kept in memory, lost on crash",
            Bug::RaftNoElectionRestriction => "votes granted without the log up-to-date check",
            Bug::RaftAckBeforeFsync => "AppendEntries acknowledged before the entries are synced",
            Bug::RaftStaleReadNoReadindex => {
                "leader serves reads locally without confirming leadership"
            }
            Bug::PaxosAcceptIgnoresPromise => "acceptor accepts ballots below its promise",
            Bug::PaxosAcceptDoesNotRaisePromise => "accepting a ballot does not promise it",
            Bug::PaxosIgnoreAcceptedValue => {
                "proposer ignores the highest-ballot accepted value reported in promises"
            }
            Bug::MultipaxosLeaseReadUnsafe => "lease reads with no clock-drift margin",
            Bug::LockResourceSkipsFencingCheck => "resource accepts writes with stale tokens",
            Bug::LockReleaseWithoutOwnerCheck => "release frees the lock whoever holds it",
            Bug::LockLeaseNoDriftMargin => {
                "lease validity from the response with no drift margin, expiry on the wall clock"
            }
            Bug::CounterNonatomicRmw => "add as a read followed by a blind write",
            Bug::CounterRetryNotIdempotent => "no session table: retried adds apply twice",
        }
    }

    /// The bug with this kebab-case name.
    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.iter().copied().find(|bug| bug.name() == name)
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of switched-on bugs (a bitset: cheap to copy into every node's config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BugSet {
    bits: u64,
}

const _: () = assert!(Bug::ALL.len() <= 64, "BugSet is a u64 bitset");

impl BugSet {
    /// No bugs: the correct protocols.
    pub const NONE: BugSet = BugSet { bits: 0 };

    fn bit(bug: Bug) -> u64 {
        let position = Bug::ALL
            .iter()
            .position(|&b| b == bug)
            .expect("every bug is in Bug::ALL");
        1 << position
    }

    /// Switches `bug` on.
    pub fn insert(&mut self, bug: Bug) {
        self.bits |= BugSet::bit(bug);
    }

    /// Is `bug` switched on?
    #[inline]
    pub fn contains(self, bug: Bug) -> bool {
        self.bits & BugSet::bit(bug) != 0
    }

    /// True when no bug is on.
    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// The switched-on bugs, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::ALL
            .iter()
            .copied()
            .filter(move |&bug| self.contains(bug))
    }
}

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

    #[test]
    fn names_round_trip_and_are_unique() {
        for &bug in Bug::ALL {
            assert_eq!(Bug::from_name(bug.name()), Some(bug));
        }
        assert_eq!(Bug::from_name("raft-commit-prior-turn"), None);
        let set: BugSet = [Bug::RaftAckBeforeFsync].into_iter().collect();
        assert!(set.contains(Bug::RaftAckBeforeFsync));
        assert!(!set.contains(Bug::RaftCommitPriorTerm));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Bug::RaftAckBeforeFsync]
        );
    }
}
