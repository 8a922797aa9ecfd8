//! What a peer lacks, from its version vector.

use super::Ledger;
use crate::store::StoreError;
use crate::vv::VersionVector;

/// What a peer lacks, ready to send: a snapshot first when one is needed
/// (or cheaper), then envelopes in the order this device stored them.
#[derive(Debug, Default)]
pub struct Outgoing {
    pub snapshot: Option<Vec<u8>>,
    pub envelopes: Vec<Vec<u8>>,
}

impl Outgoing {
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.envelopes.is_empty()
    }

    /// How many items: the envelopes, and the snapshot as one.
    pub fn len(&self) -> u64 {
        self.envelopes.len() as u64 + u64::from(self.snapshot.is_some())
    }
}

impl Ledger {
    /// What a peer whose vector is `theirs` lacks: the snapshot when the
    /// peer is behind what it covers (the envelopes it replaced are gone),
    /// then every envelope beyond the peer's vector and the snapshot, in
    /// the order this device stored them.
    pub fn outgoing_for(&self, theirs: &VersionVector) -> Result<Outgoing, StoreError> {
        let ours = self.store.vector()?;
        let snapshot = self.store.snapshot()?;
        let snapshot = snapshot.filter(|s| s.covers.iter().any(|(a, seq)| theirs.get(&a) < seq));
        let mut envelopes = Vec::new();
        for (author, range) in ours.lacks(theirs) {
            let covered = snapshot.as_ref().map_or(0, |s| s.covers.get(&author));
            let from = (*range.start()).max(covered + 1);
            for env in self.store.envelopes_of(&author, from, *range.end())? {
                envelopes.push((env.pos, env.bytes));
            }
        }
        envelopes.sort_by_key(|(pos, _)| *pos);
        Ok(Outgoing {
            snapshot: snapshot.map(|s| s.bytes),
            envelopes: envelopes.into_iter().map(|(_, b)| b).collect(),
        })
    }

    /// How many envelopes this device holds that a peer with vector
    /// `theirs` lacks.
    pub fn waiting_for(&self, theirs: &VersionVector) -> Result<u64, StoreError> {
        Ok(self
            .store
            .vector()?
            .lacks(theirs)
            .iter()
            .map(|(_, r)| r.end() - r.start() + 1)
            .sum())
    }
}
