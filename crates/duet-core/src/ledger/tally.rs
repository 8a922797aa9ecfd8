//! What sealed changes are to a person (`journal::Tally`): a member opens
//! them with the journal key and reads what each makes.

use super::member::open_own;
use super::Member;
use crate::envelope::Kind;
use crate::journal::{check_packed, Tally};
use crate::store::StoreError;
use crate::vv::VersionVector;

/// Most envelopes opened for one tally: what lies beyond counts as other
/// changes, so a long backlog costs `duet status` a bounded time.
pub const MAX_TALLIED: usize = 2000;

impl Member {
    /// What these sealed changes are to a person. One that does not open
    /// counts as another change.
    pub fn tally<'a>(&self, envelopes: impl IntoIterator<Item = &'a [u8]>) -> Tally {
        let journal = self.ledger().journal_id();
        let mut tally = Tally::default();
        for (i, bytes) in envelopes.into_iter().enumerate() {
            let change = (i < MAX_TALLIED)
                .then(|| open_own(bytes, Kind::Change, &journal, self.journal_key()).ok())
                .flatten()
                .filter(|payload| check_packed(payload).is_ok())
                .and_then(|payload| automerge::Change::from_bytes(payload).ok());
            match change {
                Some(change) => tally.add(self.schema().tally(&change)),
                None => tally.other += 1,
            }
        }
        tally
    }

    /// What this device holds that a peer whose vector is `theirs` lacks,
    /// as a person counts it. What only the snapshot still holds counts as
    /// other changes.
    pub fn tally_waiting(&self, theirs: &VersionVector) -> Result<Tally, StoreError> {
        let ledger = self.ledger();
        let store = ledger.store();
        let mut tally = Tally::default();
        let mut opened = 0;
        for (author, range) in store.vector()?.lacks(theirs) {
            let count = range.end() - range.start() + 1;
            let room = MAX_TALLIED.saturating_sub(opened) as u64;
            let end = (*range.start() + room.min(count)).saturating_sub(1);
            let held = if room == 0 {
                Vec::new()
            } else {
                store.envelopes_of(&author, *range.start(), end)?
            };
            opened += held.len();
            tally.add(self.tally(held.iter().map(|e| e.bytes.as_slice())));
            tally.other += count.saturating_sub(held.len() as u64);
        }
        Ok(tally)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{add, alex, now};
    use crate::vv::VersionVector;

    #[test]
    fn what_waits_is_counted_in_entries_replies_and_other_changes() {
        let mut a = alex();
        let before = a
            .member()
            .tally_waiting(&VersionVector::new())
            .expect("tally");
        assert_eq!((before.entries, before.replies), (0, 0), "{before:?}");
        let first = add(&mut a, "one");
        add(&mut a, "two");
        a.commit(|j, author| j.reply(author, &first, "a reply", now()))
            .expect("reply");
        a.commit(|j, author| Ok(((), j.react(author, &first, "🌱", now())?)))
            .expect("react");
        let tally = a
            .member()
            .tally_waiting(&VersionVector::new())
            .expect("tally");
        assert_eq!(tally.entries, 2, "{tally:?}");
        assert_eq!(tally.replies, 1, "{tally:?}");
        assert_eq!(tally.other, before.other + 1, "the reaction: {tally:?}");
        let own = a.vector().expect("vv");
        assert!(a.member().tally_waiting(&own).expect("tally").is_empty());
    }
}
