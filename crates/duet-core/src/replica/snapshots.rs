//! Snapshots: compacting the store's envelopes into one sealed document,
//! sealing one for a joining device, and merging one from a peer. Every
//! snapshot carries the proof of what it holds (`ledger/proofs.rs`).

use std::collections::{BTreeMap, HashMap};

use super::proven::{self, Against};
use super::{Replica, ReplicaError};
use crate::envelope::{self, Body};
use crate::ids::DeviceId;
use crate::ledger::proofs::{Chain, Contents};
use crate::ledger::ReceiveError;
use crate::store::StoredEnvelope;
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
    /// store covers what the snapshot brought. Nothing of a snapshot whose
    /// proof fails is merged or stored.
    pub fn receive_snapshot(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        let (snapshot, payload) = self.member.open_snapshot(bytes)?;
        let covers = snapshot.covers;
        if self.ledger().vector()?.dominates(&covers) {
            return Ok(());
        }
        let contents = Contents::decode(&payload)?;
        let index = self.store().envelope_index()?;
        let held = |author: &DeviceId, seq: u64| {
            index
                .iter()
                .find(|(a, s, _)| a == author && *s == seq)
                .and_then(|(_, _, hash)| *hash)
        };
        let against = Against {
            journal_id: self.journal_id(),
            key: self.member.journal_key(),
            roster: self.member.roster(),
            schema: Some(self.member.schema()),
        };
        let journal = &self.journal;
        let known = |hash: &[u8; 32]| journal.contains(hash);
        let mut incoming = proven::check(&against, &covers, &contents, held, known)?;
        self.journal
            .merge(&mut incoming)
            .map_err(ReceiveError::BadPayload)?;
        self.member
            .learn(self.journal.devices())
            .map_err(ReceiveError::local)?;
        self.member
            .learn_removals(&self.journal.removals())
            .map_err(ReceiveError::local)?;
        self.take_extras(&contents.extras)?;
        for chain in contents.chains {
            self.adopt(chain);
        }
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
        self.keep_index();
        Ok(())
    }

    /// Stores a snapshot's extra envelopes (their changes are in the
    /// document already) like any received from a peer.
    pub(super) fn take_extras(&mut self, extras: &[Vec<u8>]) -> Result<(), ReceiveError> {
        for extra in extras {
            match self.member.check(extra) {
                Ok(incoming) => {
                    self.member.accept(incoming)?;
                }
                Err(ReceiveError::Replay { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Keeps a proven chain if it is longer than the one held.
    pub(super) fn adopt(&mut self, chain: Chain) {
        let longer = self
            .chains
            .get(&chain.author)
            .is_none_or(|held| held.hashes.len() < chain.hashes.len());
        if longer {
            self.chains.insert(chain.author, chain);
        }
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
        let before = base.map(|s| s.covers).unwrap_or_default();
        let (covers, contents) = self.contents()?;
        if covers == before && extra.is_empty() {
            return Ok(None);
        }
        let sealed = self.seal_contents(&covers, &contents)?;
        let tips = contents.tips();
        let store = self.member.ledger_mut().store_mut();
        if !store.replace_snapshot(generation, &covers, &sealed, &tips)? {
            return Ok(None);
        }
        self.snapshot_generation = generation + 1;
        for chain in contents.chains {
            self.adopt(chain);
        }
        self.store().reclaim_space()?;
        self.keep_index();
        Ok(Some(Compaction {
            covers,
            snapshot_bytes: sealed.len(),
            envelopes_left: self.ledger().envelope_count()?,
        }))
    }

    /// What a snapshot of the document proves: for each author, the
    /// chain held, extended over every stored envelope, in sequence,
    /// whose change the document holds and whose link follows; every
    /// other stored envelope whose change the document holds goes along
    /// whole. Returns the vector the chains prove and the contents.
    fn contents(&self) -> Result<(VersionVector, Contents), ReplicaError> {
        let stored = self.ledger().stored_after(0)?;
        let mut by_author: HashMap<DeviceId, BTreeMap<u64, &StoredEnvelope>> = HashMap::new();
        for env in &stored {
            by_author
                .entry(env.author)
                .or_default()
                .insert(env.seq, env);
        }
        let mut authors: Vec<DeviceId> = self.chains.keys().copied().collect();
        authors.extend(by_author.keys().copied());
        authors.sort_by_key(|a| a.0);
        authors.dedup();
        let mut covers = VersionVector::new();
        let mut chains = Vec::new();
        for author in authors {
            let (mut hashes, mut anchor) = match self.chains.get(&author) {
                Some(chain) => (chain.hashes.clone(), chain.anchor.clone()),
                None => (Vec::new(), Vec::new()),
            };
            let mut link = crate::ledger::proofs::fold(&hashes);
            if let Some(envelopes) = by_author.get(&author) {
                while let Some(env) = envelopes.get(&(hashes.len() as u64 + 1)) {
                    let Some(hash) = env.hash.filter(|h| self.journal.contains(h)) else {
                        break;
                    };
                    let seq = env.seq;
                    let next = envelope::next_link(&link, seq, &hash);
                    let follows = envelope::decode(&env.bytes)
                        .is_ok_and(|e| matches!(e.body, Body::Change { link, .. } if link == next));
                    if !follows {
                        break;
                    }
                    hashes.push(hash);
                    anchor = env.bytes.clone();
                    link = next;
                }
            }
            if hashes.is_empty() {
                continue;
            }
            covers.set(author, hashes.len() as u64);
            chains.push(Chain {
                author,
                hashes,
                anchor,
            });
        }
        let extras = stored
            .iter()
            .filter(|env| env.seq > covers.get(&env.author))
            .filter(|env| env.hash.is_some_and(|h| self.journal.contains(&h)))
            .map(|env| env.bytes.clone())
            .collect();
        let contents = Contents {
            chains,
            extras,
            doc: self.journal.save(),
        };
        Ok((covers, contents))
    }

    /// A sealed snapshot of everything this device holds, for a device
    /// that is joining: stored envelopes are applied first, and it proves
    /// what it holds like every snapshot.
    pub fn seal_current(&mut self) -> Result<Vec<u8>, ReplicaError> {
        self.refresh()?;
        let (covers, contents) = self.contents()?;
        self.seal_contents(&covers, &contents)
    }

    fn seal_contents(
        &self,
        covers: &VersionVector,
        contents: &Contents,
    ) -> Result<Vec<u8>, ReplicaError> {
        Ok(self
            .member
            .seal_snapshot(covers, &contents.encode())
            .map_err(crate::ledger::MemberError::from)?)
    }
}
