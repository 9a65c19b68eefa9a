//! The proposer's bookkeeping, free of effects: a phase 1 in progress ([`Candidate`]) and a
//! distinguished leader's state ([`Leadership`]): its slots in flight, the replies it owes, its
//! heartbeat rounds and the lease they earn.

use super::message::{Ballot, Proposal, Slot, Value};
use sim_core::id::{ClientId, NodeId, RequestId};
use sim_core::time::{Duration, Instant};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How many heartbeat rounds' send times a leader remembers; an acknowledgement of an older
/// round cannot extend the lease (it is stale anyway).
pub const ROUNDS_REMEMBERED_MAX: usize = 32;

/// A proposer running phase 1 for `ballot`.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The ballot being prepared.
    pub ballot: Ballot,
    /// The first slot the prepare asked about.
    pub first_unchosen: Slot,
    /// The acceptors that promised, this proposer included.
    pub promised_by: BTreeSet<NodeId>,
    /// Per slot, the proposal with the highest ballot among the promises (P2c's "highest-
    /// numbered proposal among all proposals numbered less than n accepted by any acceptor in
    /// S").
    pub highest_accepted: BTreeMap<Slot, Proposal>,
}

impl Candidate {
    /// Phase 1 of `ballot` from `first_unchosen` on, with no promise yet.
    pub fn new(ballot: Ballot, first_unchosen: Slot) -> Candidate {
        Candidate {
            ballot,
            first_unchosen,
            promised_by: BTreeSet::new(),
            highest_accepted: BTreeMap::new(),
        }
    }

    /// Adds the promise of `acceptor` with the proposals it reported. A repeated promise (a
    /// duplicate on the wire) changes nothing; returns whether this one was new.
    pub fn add_promise(&mut self, acceptor: NodeId, accepted: Vec<(Slot, Proposal)>) -> bool {
        if !self.promised_by.insert(acceptor) {
            return false;
        }
        // A correct acceptor reports ballots below the one it promises; under P2 it may report
        // a higher one (its promise lags its acceptances), which the highest-ballot rule then
        // adopts like any other.
        for (slot, proposal) in accepted {
            assert!(
                slot >= self.first_unchosen,
                "{acceptor} reported {slot}, below the prepare's {}",
                self.first_unchosen
            );
            match self.highest_accepted.get(&slot) {
                Some(held) if held.ballot >= proposal.ballot => {}
                _ => {
                    self.highest_accepted.insert(slot, proposal);
                }
            }
        }
        true
    }

    /// One past the highest slot any promise reported, or `first_unchosen` if none did.
    pub fn end_of_reports(&self) -> Slot {
        self.highest_accepted
            .keys()
            .next_back()
            .map_or(self.first_unchosen, |slot| slot.next())
    }
}

/// A slot the leader proposed and has not yet seen chosen.
#[derive(Clone, Debug)]
pub struct InFlight {
    /// The proposed value.
    pub value: Value,
    /// The acceptors that accepted it in this ballot, the leader included.
    pub accepted_by: BTreeSet<NodeId>,
    /// The heartbeat round during which it was proposed: retransmission waits a full round.
    pub proposed_in_round: u64,
}

/// The state of a distinguished leader (phase 1 complete for `ballot`).
#[derive(Clone, Debug)]
pub struct Leadership {
    /// The ballot led.
    pub ballot: Ballot,
    /// The next free slot.
    pub next_slot: Slot,
    /// `next_slot` when phase 1 completed: every slot below it that anything may have been
    /// chosen in. A lease read waits until all of them are applied.
    pub horizon: Slot,
    /// Proposals awaiting a majority.
    pub in_flight: BTreeMap<Slot, InFlight>,
    /// Client requests this leader proposed and answers when their slot is applied.
    pub owed: BTreeMap<Slot, (ClientId, RequestId)>,
    /// The current heartbeat round.
    pub round: u64,
    /// Recent rounds, oldest first, with their send times on the monotonic clock and the
    /// first unchosen slot they announced.
    rounds_sent: VecDeque<(u64, Instant, Slot)>,
    /// The highest round each replica acknowledged (index = node id).
    acked_round: Vec<u64>,
    /// The lease's end on the monotonic clock (`Instant::ZERO`: no lease).
    pub lease_until: Instant,
    /// The replicas heard from since `quorum_checked_at`.
    pub heard: BTreeSet<NodeId>,
    /// When the quorum was last checked, on the monotonic clock.
    pub quorum_checked_at: Instant,
}

impl Leadership {
    /// The state of a leader of `ballot` in a cluster of `node_count` that starts proposing
    /// at `next_slot`, at monotonic time `now`.
    pub fn new(ballot: Ballot, node_count: u32, next_slot: Slot, now: Instant) -> Leadership {
        Leadership {
            ballot,
            next_slot,
            horizon: next_slot,
            in_flight: BTreeMap::new(),
            owed: BTreeMap::new(),
            round: 0,
            rounds_sent: VecDeque::with_capacity(ROUNDS_REMEMBERED_MAX),
            acked_round: vec![0; node_count as usize],
            lease_until: Instant::ZERO,
            heard: BTreeSet::new(),
            quorum_checked_at: now,
        }
    }

    /// Takes the next free slot.
    pub fn take_slot(&mut self) -> Slot {
        let slot = self.next_slot;
        self.next_slot = slot.next();
        slot
    }

    /// Records that `acceptor` accepted the proposal in `slot`; returns its value when that
    /// makes a majority (the value is chosen) and forgets the slot.
    pub fn count_accept(&mut self, slot: Slot, acceptor: NodeId, majority: usize) -> Option<Value> {
        let in_flight = self.in_flight.get_mut(&slot)?;
        in_flight.accepted_by.insert(acceptor);
        if in_flight.accepted_by.len() < majority {
            return None;
        }
        self.in_flight.remove(&slot).map(|done| done.value)
    }

    /// Starts a heartbeat round sent at `monotonic_now` announcing `first_unchosen`; returns
    /// its number.
    pub fn start_round(&mut self, monotonic_now: Instant, first_unchosen: Slot) -> u64 {
        self.round += 1;
        if self.rounds_sent.len() == ROUNDS_REMEMBERED_MAX {
            self.rounds_sent.pop_front();
        }
        self.rounds_sent
            .push_back((self.round, monotonic_now, first_unchosen));
        self.round
    }

    /// The first unchosen slot that heartbeat `round` announced, if it is recent.
    pub fn announced_in(&self, round: u64) -> Option<Slot> {
        self.rounds_sent
            .iter()
            .find(|&&(number, _, _)| number == round)
            .map(|&(_, _, first_unchosen)| first_unchosen)
    }

    /// Records that `acceptor` acknowledged `round`, and extends the lease to `lease_length`
    /// after the send time of the newest round a majority (the leader included) acknowledged.
    pub fn acknowledge(
        &mut self,
        leader: NodeId,
        acceptor: NodeId,
        round: u64,
        majority: usize,
        lease_length: Duration,
    ) {
        assert!(
            round <= self.round,
            "{acceptor} acknowledged round {round} of {}",
            self.round
        );
        let held = &mut self.acked_round[acceptor.index()];
        *held = (*held).max(round);
        let mut rounds = self.acked_round.clone();
        rounds[leader.index()] = self.round;
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = rounds[majority - 1];
        // The lease counts from when the round was *sent*: the acknowledging replicas started
        // their refusal no earlier than that (BUGS.md P6: measuring from the acknowledgement
        // instead would stretch the lease by the round trip).
        let sent_at = self
            .rounds_sent
            .iter()
            .find(|&&(number, _, _)| number == confirmed)
            .map(|&(_, sent_at, _)| sent_at);
        if let Some(sent_at) = sent_at {
            self.lease_until = self.lease_until.max(sent_at + lease_length);
        }
    }

    /// Does the lease hold at `monotonic_now`?
    pub fn lease_holds(&self, monotonic_now: Instant) -> bool {
        monotonic_now < self.lease_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ballot(round: u64, node: u32) -> Ballot {
        Ballot::new(round, NodeId(node))
    }

    fn proposal(round: u64, node: u32) -> Proposal {
        Proposal {
            ballot: ballot(round, node),
            value: Value::Noop,
        }
    }

    #[test]
    fn promises_keep_the_highest_ballot_per_slot_and_ignore_repeats() {
        let mut candidate = Candidate::new(ballot(5, 0), Slot(3));
        assert!(candidate.add_promise(NodeId(1), vec![(Slot(4), proposal(2, 1))]));
        assert!(candidate.add_promise(
            NodeId(2),
            vec![(Slot(4), proposal(3, 2)), (Slot(6), proposal(1, 0))]
        ));
        assert!(!candidate.add_promise(NodeId(2), vec![(Slot(4), proposal(4, 2))]));
        assert!(candidate.add_promise(NodeId(0), vec![(Slot(4), proposal(1, 1))]));
        assert_eq!(candidate.highest_accepted[&Slot(4)].ballot, ballot(3, 2));
        assert_eq!(candidate.promised_by.len(), 3);
        assert_eq!(candidate.end_of_reports(), Slot(7));
        assert_eq!(
            Candidate::new(ballot(1, 0), Slot(9)).end_of_reports(),
            Slot(9)
        );
    }

    #[test]
    fn a_majority_of_accepts_chooses_once() {
        let mut leadership = Leadership::new(ballot(1, 0), 3, Slot(1), Instant::ZERO);
        let slot = leadership.take_slot();
        leadership.in_flight.insert(
            slot,
            InFlight {
                value: Value::Noop,
                accepted_by: [NodeId(0)].into_iter().collect(),
                proposed_in_round: 0,
            },
        );
        assert_eq!(leadership.count_accept(slot, NodeId(0), 2), None);
        assert_eq!(
            leadership.count_accept(slot, NodeId(2), 2),
            Some(Value::Noop)
        );
        assert_eq!(
            leadership.count_accept(slot, NodeId(1), 2),
            None,
            "chosen once"
        );
        assert_eq!(leadership.next_slot, Slot(2));
    }

    #[test]
    fn the_lease_runs_from_the_send_time_of_the_newest_majority_round() {
        let length = Duration::from_millis(100);
        let mut leadership = Leadership::new(ballot(1, 0), 5, Slot(1), Instant::ZERO);
        let first = leadership.start_round(Instant(1_000), Slot(1));
        let second = leadership.start_round(Instant(2_000), Slot(4));
        assert_eq!(leadership.announced_in(second), Some(Slot(4)));
        assert_eq!(leadership.announced_in(second + 1), None);
        leadership.acknowledge(NodeId(0), NodeId(1), second, 3, length);
        assert!(
            !leadership.lease_holds(Instant(0)),
            "two of five is no majority"
        );
        leadership.acknowledge(NodeId(0), NodeId(2), first, 3, length);
        assert_eq!(leadership.lease_until, Instant(1_000) + length);
        leadership.acknowledge(NodeId(0), NodeId(2), second, 3, length);
        assert_eq!(leadership.lease_until, Instant(2_000) + length);
        assert!(leadership.lease_holds(Instant(2_000) + (length - Duration::NANOSECOND)));
        assert!(!leadership.lease_holds(Instant(2_000) + length));
        // A late acknowledgement of an old round never shortens the lease.
        leadership.acknowledge(NodeId(0), NodeId(3), first, 3, length);
        assert_eq!(leadership.lease_until, Instant(2_000) + length);
    }
}
