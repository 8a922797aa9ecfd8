//! Snapshots: compacting the store's envelopes into one sealed document,
//! sealing one for a joining device, and merging one from a peer.

use super::{Replica, ReplicaError};
use crate::ledger::ReceiveError;
use crate::vv::VersionVector;

/// What a compaction did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compaction {
    pub covers: VersionVector,
    pub snapshot_bytes: usize,
    pub envelopes_left: usize,
}

impl Replica {
    /// Verifies and merges a snapshot from a peer, then compacts so the
    /// store covers what the snapshot brought.
    pub fn receive_snapshot(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        let (snapshot, payload) = self.member.open_snapshot(bytes)?;
        let covers = snapshot.covers;
        if self.ledger().vector()?.dominates(&covers) {
            return Ok(());
        }
        self.journal
            .merge_saved(&payload)
            .map_err(ReceiveError::BadPayload)?;
        self.member
            .learn(self.journal.devices())
            .map_err(ReceiveError::local)?;
        // Another process compacting at the same moment makes an attempt
        // give way; try again on top of its snapshot so what this one
        // brought is recorded in the store, not only in memory.
        for _ in 0..3 {
            if self
                .compact_covering(&covers)
                .map_err(ReceiveError::local)?
                .is_some()
            {
                break;
            }
            if self.ledger().vector()?.dominates(&covers) {
                break;
            }
        }
        Ok(())
    }

    /// True when the tail of envelopes beyond the snapshot is long enough
    /// to compact.
    pub fn wants_compaction(&self) -> Result<bool, ReplicaError> {
        Ok(self.ledger().envelope_count()? >= self.compact_after)
    }

    /// Compacts when the tail of envelopes beyond the snapshot is long.
    pub fn maybe_compact(&mut self) -> Result<Option<Compaction>, ReplicaError> {
        if !self.wants_compaction()? {
            return Ok(None);
        }
        self.compact()
    }

    /// Seals the whole document into a new snapshot and deletes the
    /// envelopes it covers. `None` if there was nothing to fold in or
    /// another process compacted first.
    pub fn compact(&mut self) -> Result<Option<Compaction>, ReplicaError> {
        self.compact_covering(&VersionVector::new())
    }

    fn compact_covering(
        &mut self,
        extra: &VersionVector,
    ) -> Result<Option<Compaction>, ReplicaError> {
        self.refresh()?;
        let base = self.store().snapshot()?;
        let generation = base.as_ref().map_or(0, |s| s.generation);
        let mut before = base.map(|s| s.covers).unwrap_or_default();
        before.merge(extra);
        let covers = self.covered_from(before.clone())?;
        if covers == before && extra.is_empty() {
            return Ok(None);
        }
        let sealed = self.seal_snapshot(&covers)?;
        let store = self.member.ledger_mut().store_mut();
        if !store.replace_snapshot(generation, &covers, &sealed)? {
            return Ok(None);
        }
        self.snapshot_generation = generation + 1;
        self.store().reclaim_space()?;
        Ok(Some(Compaction {
            covers,
            snapshot_bytes: sealed.len(),
            envelopes_left: self.ledger().envelope_count()?,
        }))
    }

    /// Extends `covers` over every stored envelope, in sequence, whose
    /// change the document already holds: what a snapshot of the document
    /// may truthfully claim.
    fn covered_from(&self, mut covers: VersionVector) -> Result<VersionVector, ReplicaError> {
        for (author, seq, hash) in self.store().envelope_index()? {
            let held = covers.get(&author);
            if seq == held + 1 && hash.is_some_and(|h| self.journal.contains(&h)) {
                covers.set(author, seq);
            }
        }
        Ok(covers)
    }

    /// A sealed snapshot of everything this device holds, for a device
    /// that is joining: stored envelopes are applied first, and the vector
    /// it claims covers only what the document really contains.
    pub fn seal_current(&mut self) -> Result<Vec<u8>, ReplicaError> {
        self.refresh()?;
        let base = self
            .store()
            .snapshot()?
            .map(|s| s.covers)
            .unwrap_or_default();
        let covers = self.covered_from(base)?;
        self.seal_snapshot(&covers)
    }

    /// Seals the whole current document as a snapshot covering `covers`,
    /// which must describe what the document holds (see `seal_current`).
    pub fn seal_snapshot(&self, covers: &VersionVector) -> Result<Vec<u8>, ReplicaError> {
        let saved = self.journal.save();
        Ok(self
            .member
            .seal_snapshot(covers, &saved)
            .map_err(crate::ledger::MemberError::from)?)
    }
}
