//! The replicated log: entries indexed from 1, with the two queries every Raft rule is built
//! from (the term at an index, and the last index and term).

use super::message::{Entry, LogIndex, Term};

/// A Raft log. Index 0 is the empty prefix, whose term is 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Log {
    entries: Vec<Entry>,
}

impl Log {
    /// An empty log.
    pub fn new() -> Log {
        Log {
            entries: Vec::new(),
        }
    }

    /// The index of the last entry (0 when empty).
    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.entries.len() as u64)
    }

    /// The term of the last entry (0 when empty).
    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(Term(0), |entry| entry.term)
    }

    /// The term of the entry at `index`, `Term(0)` for index 0, `None` past the end.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == LogIndex::ZERO {
            return Some(Term(0));
        }
        self.entries
            .get(Self::position(index))
            .map(|entry| entry.term)
    }

    /// The entry at `index`, if present.
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        if index == LogIndex::ZERO {
            return None;
        }
        self.entries.get(Self::position(index))
    }

    /// Up to `max_count` entries from `first` on.
    pub fn entries_from(&self, first: LogIndex, max_count: usize) -> Vec<Entry> {
        assert!(first > LogIndex::ZERO, "entries start at index 1");
        let start = Self::position(first).min(self.entries.len());
        let end = start.saturating_add(max_count).min(self.entries.len());
        self.entries[start..end].to_vec()
    }

    /// Appends `entry` at `last_index() + 1`.
    ///
    /// # Panics
    /// If the entry's term is below the last entry's: terms never decrease along a log.
    pub fn append(&mut self, entry: Entry) -> LogIndex {
        assert!(
            entry.term >= self.last_term(),
            "appending {} after an entry of {}",
            entry.term,
            self.last_term()
        );
        self.entries.push(entry);
        self.last_index()
    }

    /// Removes every entry after `last_kept`.
    pub fn truncate(&mut self, last_kept: LogIndex) {
        assert!(
            last_kept <= self.last_index(),
            "truncate to {last_kept} past {}",
            self.last_index()
        );
        self.entries.truncate(last_kept.0 as usize);
    }

    /// The first index holding `term`, scanning back from `from` (the fast backup hint).
    pub fn first_index_of_term(&self, term: Term, from: LogIndex) -> LogIndex {
        let mut index = from;
        while index > LogIndex(1) && self.term_at(index.previous()) == Some(term) {
            index = index.previous();
        }
        index
    }

    /// Is a log ending at (`last_term`, `last_index`) at least as up-to-date as this one
    /// (§5.4.1: compare last terms, then lengths)?
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// The term of every entry, in index order (for observations).
    pub fn terms(&self) -> Vec<Term> {
        self.entries.iter().map(|entry| entry.term).collect()
    }

    fn position(index: LogIndex) -> usize {
        assert!(index > LogIndex::ZERO);
        (index.0 - 1) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::message::Payload;

    fn log_of(terms: &[u64]) -> Log {
        let mut log = Log::new();
        for &term in terms {
            log.append(Entry {
                term: Term(term),
                payload: Payload::Noop,
            });
        }
        log
    }

    #[test]
    fn terms_and_indexes_count_from_one() {
        let log = log_of(&[1, 1, 2]);
        assert_eq!(log.last_index(), LogIndex(3));
        assert_eq!(log.last_term(), Term(2));
        assert_eq!(log.term_at(LogIndex(0)), Some(Term(0)));
        assert_eq!(log.term_at(LogIndex(3)), Some(Term(2)));
        assert_eq!(log.term_at(LogIndex(4)), None);
        assert_eq!(log.entries_from(LogIndex(2), 1).len(), 1);
        assert_eq!(log.entries_from(LogIndex(4), 8).len(), 0);
    }

    #[test]
    fn up_to_date_compares_term_before_length() {
        let log = log_of(&[1, 1, 2]);
        assert!(
            log.is_up_to_date(LogIndex(1), Term(3)),
            "higher last term wins despite being shorter"
        );
        assert!(
            !log.is_up_to_date(LogIndex(5), Term(1)),
            "longer log of an older term loses"
        );
        assert!(
            log.is_up_to_date(LogIndex(3), Term(2)),
            "equal logs are up to date"
        );
        assert!(!log.is_up_to_date(LogIndex(2), Term(2)));
    }

    #[test]
    fn fast_backup_finds_the_first_index_of_a_term() {
        let log = log_of(&[1, 2, 2, 2, 3]);
        assert_eq!(log.first_index_of_term(Term(2), LogIndex(4)), LogIndex(2));
        assert_eq!(log.first_index_of_term(Term(1), LogIndex(1)), LogIndex(1));
        let mut truncated = log.clone();
        truncated.truncate(LogIndex(2));
        assert_eq!(truncated.terms(), vec![Term(1), Term(2)]);
    }
}
