//! The ledger: everything a device does with sealed bytes without opening
//! the journal document.
//!
//! A [`Ledger`] is the store, the journal's id and the device list as
//! public keys. It decodes envelopes and snapshots, checks their journal,
//! their author's membership and their signature, refuses replays, stores
//! what passes, keeps the version vector and works out what a peer lacks.
//! None of that needs the journal key, so a device that holds no key (a
//! mirror that stores and forwards for the members) runs the same ledger
//! as every member.
//!
//! A device that holds the journal key runs a [`Member`] over its ledger:
//! it also opens what it receives, checks what each change does against
//! the device list, learns the devices those changes add, keeps that list
//! sealed in the store ([`roster`]) and seals its own changes.
//!
//! ```
//! use duet_core::ledger::Ledger;
//! use duet_core::store::Store;
//! use duet_core::{DeviceId, JournalId, VersionVector};
//!
//! // A device without the journal key, told the members when it was set up.
//! let members = [DeviceId([7; 32])];
//! let ledger = Ledger::create(Store::open_in_memory()?, JournalId([1; 16]), DeviceId([9; 32]), &members)?;
//! assert_eq!(ledger.vector()?, VersionVector::new());
//! // Bytes that are not an envelope of this journal are refused with a reason.
//! assert!(ledger.verify(b"not an envelope").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod lacks;
pub(crate) mod member;
pub mod proofs;
pub mod records;
pub mod roster;
pub mod statements;
mod tally;

use std::collections::HashSet;

use crate::envelope::{self, Body, Kind, OpenError, Sealed};
use crate::ids::{DeviceId, JournalId};
use crate::keys::JournalKey;
use crate::store::{Store, StoreError, StoredEnvelope};
use crate::vv::VersionVector;

pub use lacks::Outgoing;
pub use member::{Incoming, Member, MemberError};
pub use tally::MAX_TALLIED;

/// Why an envelope or snapshot from a peer was not taken in.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("envelope {seq} from {} was already received (replay)", .author.short())]
    Replay { author: DeviceId, seq: u64 },
    #[error("envelope {seq} from {} was written after the device was removed", .author.short())]
    Removed { author: DeviceId, seq: u64 },
    #[error("the decrypted payload is not a valid journal change: {0}")]
    BadPayload(#[source] crate::journal::JournalError),
    #[error(transparent)]
    Proof(#[from] proofs::ProofError),
    #[error("this device could not record what it received")]
    Local(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for ReceiveError {
    fn from(e: StoreError) -> Self {
        ReceiveError::Local(Box::new(e))
    }
}

impl ReceiveError {
    /// A short name for why, the same for every refusal of one kind (for
    /// counting and rate-limiting, not for people).
    pub fn kind(&self) -> &'static str {
        use crate::journal::JournalError;
        match self {
            ReceiveError::Open(e) => match e {
                OpenError::Truncated => "truncated",
                OpenError::BadMagic => "bad-magic",
                OpenError::UnsupportedVersion(_) => "unsupported-version",
                OpenError::UnknownKind(_) => "unknown-kind",
                OpenError::WrongKind { .. } => "wrong-kind",
                OpenError::TooLarge { .. } => "too-large",
                OpenError::TrailingBytes(_) => "trailing-bytes",
                OpenError::MalformedHeader(_) => "malformed-header",
                OpenError::WrongJournal => "wrong-journal",
                OpenError::UnknownAuthor(_) => "unknown-author",
                OpenError::BadSignature => "bad-signature",
                OpenError::Undecryptable => "undecryptable",
                OpenError::UnknownEpoch(_) => "unknown-epoch",
            },
            ReceiveError::Removed { .. } => "removed",
            ReceiveError::Replay { .. } => "replay",
            ReceiveError::BadPayload(JournalError::Breach(b)) => b.kind(),
            ReceiveError::BadPayload(_) => "bad-payload",
            ReceiveError::Proof(e) => e.kind(),
            ReceiveError::Local(_) => "local",
        }
    }

    /// True when the envelope may be good but names a device this one
    /// does not know yet (its author, or the maker of what it changes):
    /// it is worth holding until that device's record arrives.
    pub fn waits_for_a_device(&self) -> bool {
        use crate::journal::{Breach, JournalError};
        matches!(
            self,
            ReceiveError::Open(OpenError::UnknownAuthor(_))
                | ReceiveError::Open(OpenError::UnknownEpoch(_))
                | ReceiveError::BadPayload(JournalError::Breach(Breach::UnknownMaker))
        )
    }

    /// Wraps a local failure (the store, a job) that is not the sender's.
    pub fn local(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ReceiveError::Local(Box::new(e))
    }
}

/// A change envelope that passed every check the ledger can make: its
/// framing, its journal, its author's membership and its signature, and
/// it is not one already held.
pub struct Verified<'a> {
    pub author: DeviceId,
    pub seq: u64,
    pub bytes: &'a [u8],
    sealed: Sealed<'a>,
}

impl Verified<'_> {
    /// Decrypts the payload (only a device holding the journal key can).
    pub fn decrypt(&self, key: &JournalKey) -> Result<Vec<u8>, OpenError> {
        self.sealed.decrypt(key)
    }
}

/// A snapshot that passed the same checks; `covers` is what its signer
/// says it holds.
pub struct VerifiedSnapshot<'a> {
    pub author: DeviceId,
    pub covers: VersionVector,
    pub bytes: &'a [u8],
    sealed: Sealed<'a>,
}

impl VerifiedSnapshot<'_> {
    pub fn decrypt(&self, key: &JournalKey) -> Result<Vec<u8>, OpenError> {
        self.sealed.decrypt(key)
    }
}

pub struct Ledger {
    store: Store,
    journal_id: JournalId,
    /// This device.
    me: DeviceId,
    /// The devices whose envelopes verify: a copy of the store's `members`
    /// table, which only grows (a removed device stays, to verify what it
    /// wrote before its cut; see `removed`).
    members: HashSet<DeviceId>,
    /// Removed devices and their cuts (the store's `removed` table):
    /// their envelopes numbered after the cut are refused.
    removed: std::collections::HashMap<DeviceId, u64>,
    /// For each removed device, the devices that decided to remove it (the
    /// store's `removers` table): a removal of one of them, written by the
    /// removed device, is a counter-removal (`Member::check`).
    removers: std::collections::HashMap<DeviceId, HashSet<DeviceId>>,
}

impl Ledger {
    /// Sets up a new store for `journal` on device `me`, whose members are
    /// `me` and `members`.
    pub fn create(
        mut store: Store,
        journal: JournalId,
        me: DeviceId,
        members: &[DeviceId],
    ) -> Result<Self, StoreError> {
        store.initialise(&journal, &me)?;
        let mut ledger = Self::open(store)?;
        ledger.add_members(members.iter().copied())?;
        Ok(ledger)
    }

    /// Opens the ledger of an initialised store.
    pub fn open(store: Store) -> Result<Self, StoreError> {
        Ok(Self {
            journal_id: store.journal_id()?,
            me: store.device_id()?,
            members: store.members()?,
            removed: store.removed()?,
            removers: store.removers()?,
            store,
        })
    }

    /// Removed devices and their cuts.
    pub fn removed(&self) -> &std::collections::HashMap<DeviceId, u64> {
        &self.removed
    }

    /// True when `device` is a member that was not removed.
    pub fn is_current_member(&self, device: &DeviceId) -> bool {
        self.members.contains(device) && !self.removed.contains_key(device)
    }

    /// True when `by` decided to remove `device`.
    pub fn removed_by(&self, device: &DeviceId, by: &DeviceId) -> bool {
        self.removers.get(device).is_some_and(|r| r.contains(by))
    }

    /// Records that `by` decided to remove `device`, durably.
    pub fn add_remover(&mut self, device: DeviceId, by: DeviceId) -> Result<bool, StoreError> {
        if self.removed_by(&device, &by) {
            return Ok(false);
        }
        self.store.add_remover(&device, &by)?;
        self.removers.entry(device).or_default().insert(by);
        Ok(true)
    }

    /// The digest of the device-list statements kept
    /// (`statements::digest`).
    pub fn statements_digest(&self) -> Result<[u8; 32], StoreError> {
        Ok(statements::digest(&self.statements()?))
    }

    /// The device-list statements kept that still verify: one damaged on
    /// disk is left out (a peer sends it again), never handed on.
    pub fn statements(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut all = self.store.statements()?;
        all.retain(|s| {
            statements::Statement::decode(s).is_ok_and(|s| s.journal == self.journal_id)
        });
        Ok(all)
    }

    /// Takes in device-list statements from a peer: each must verify and
    /// be signed by a current member (as far as this device knows, taking
    /// the others in first). With `follow`, this ledger's membership
    /// follows them (a device without the journal key, which has no other
    /// list); otherwise they are only kept, to hand on. Returns how many
    /// were new; the first refusal's reason beside.
    pub fn take_statements(
        &mut self,
        encoded: &[Vec<u8>],
        follow: bool,
    ) -> Result<(usize, Option<statements::StatementError>), StoreError> {
        let mut pending: Vec<statements::Statement> = Vec::new();
        let mut first_error = None;
        for bytes in encoded.iter().take(statements::MAX_STATEMENTS) {
            match statements::Statement::decode(bytes) {
                Ok(s) if s.journal == self.journal_id => pending.push(s),
                Ok(_) => {
                    first_error.get_or_insert(statements::StatementError::WrongJournal);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let mut taken = 0;
        // Admissions first, in passes, so that a device admitted in this
        // batch may vouch for another; removals after.
        pending.sort_by_key(|s| matches!(s.claim, statements::Claim::Remove { .. }));
        loop {
            let before = pending.len();
            let mut rest = Vec::new();
            for s in pending {
                if !self.is_current_member(&s.by) {
                    rest.push(s);
                    continue;
                }
                if self.store.add_statement(&s)? {
                    taken += 1;
                }
                if follow {
                    match s.claim {
                        statements::Claim::Admit { .. } => {
                            self.add_members([s.device])?;
                        }
                        statements::Claim::Remove { cut } => {
                            self.remove_members([(s.device, cut)])?;
                        }
                    }
                }
            }
            pending = rest;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        if !pending.is_empty() {
            first_error.get_or_insert(statements::StatementError::NotAMember);
        }
        Ok((taken, first_error))
    }

    /// Takes in removals another process on this device recorded.
    pub fn reload_removed(&mut self) -> Result<bool, StoreError> {
        let stored = self.store.removed()?;
        let removers = self.store.removers()?;
        if stored == self.removed && removers == self.removers {
            return Ok(false);
        }
        self.removed = stored;
        self.removers = removers;
        Ok(true)
    }

    /// Records removals, durably; true if any was new.
    pub fn remove_members(
        &mut self,
        removals: impl IntoIterator<Item = (DeviceId, u64)>,
    ) -> Result<bool, StoreError> {
        let mut changed = false;
        for (device, cut) in removals {
            let held = self.removed.get(&device).copied();
            if held.is_none_or(|c| c < cut) {
                self.store.remove_member(&device, cut)?;
                self.removed
                    .insert(device, held.map_or(cut, |c| c.max(cut)));
                changed = true;
            }
        }
        Ok(changed)
    }

    pub fn into_store(self) -> Store {
        self.store
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn journal_id(&self) -> JournalId {
        self.journal_id
    }

    /// The device this ledger belongs to.
    pub fn device_id(&self) -> DeviceId {
        self.me
    }

    pub fn members(&self) -> &HashSet<DeviceId> {
        &self.members
    }

    /// Adds devices to the membership, durably; true if any was new.
    pub fn add_members(
        &mut self,
        devices: impl IntoIterator<Item = DeviceId>,
    ) -> Result<bool, StoreError> {
        let mut added = false;
        for device in devices {
            if !self.members.contains(&device) {
                self.store.add_member(&device)?;
                self.members.insert(device);
                added = true;
            }
        }
        Ok(added)
    }

    /// Every check of a change envelope that needs no key, in order:
    /// framing, kind, journal, membership, signature, cut, then "not
    /// held".
    pub fn verify<'a>(&self, bytes: &'a [u8]) -> Result<Verified<'a>, ReceiveError> {
        let (verified, past_cut) = self.verify_past_cut(bytes)?;
        if past_cut {
            return Err(ReceiveError::Removed {
                author: verified.author,
                seq: verified.seq,
            });
        }
        Ok(verified)
    }

    /// [`Ledger::verify`], except that an envelope of a removed device
    /// numbered after its cut passes, with `true`: only a member that
    /// opens it and finds a counter-removal may take it in
    /// (`Member::check`).
    pub fn verify_past_cut<'a>(
        &self,
        bytes: &'a [u8],
    ) -> Result<(Verified<'a>, bool), ReceiveError> {
        let sealed = envelope::decode(bytes)?;
        let Body::Change { seq, .. } = sealed.body else {
            return Err(OpenError::WrongKind {
                expected: Kind::Change,
                got: sealed.kind(),
            }
            .into());
        };
        sealed.verify(&self.journal_id, |a| self.members.contains(a))?;
        let author = sealed.author;
        let past_cut = self.removed.get(&author).is_some_and(|cut| seq > *cut);
        if self.store.holds(&author, seq)? {
            return Err(ReceiveError::Replay { author, seq });
        }
        Ok((
            Verified {
                author,
                seq,
                bytes,
                sealed,
            },
            past_cut,
        ))
    }

    /// Every check of a snapshot that needs no key.
    pub fn verify_snapshot<'a>(
        &self,
        bytes: &'a [u8],
    ) -> Result<VerifiedSnapshot<'a>, ReceiveError> {
        let sealed = envelope::decode(bytes)?;
        let Body::Snapshot { covers } = &sealed.body else {
            return Err(OpenError::WrongKind {
                expected: Kind::Snapshot,
                got: sealed.kind(),
            }
            .into());
        };
        let covers = covers.clone();
        sealed.verify(&self.journal_id, |a| self.members.contains(a))?;
        if self.removed.contains_key(&sealed.author) {
            return Err(ReceiveError::Removed {
                author: sealed.author,
                seq: 0,
            });
        }
        Ok(VerifiedSnapshot {
            author: sealed.author,
            covers,
            bytes,
            sealed,
        })
    }

    /// Stores a verified envelope; `hash` is its change's hash when this
    /// device could open it. Returns its position in the store.
    pub fn store_verified(
        &mut self,
        envelope: &Verified<'_>,
        hash: Option<&[u8; 32]>,
    ) -> Result<i64, ReceiveError> {
        let (author, seq) = (envelope.author, envelope.seq);
        match self
            .store
            .insert_received(&author, seq, hash, envelope.bytes)?
        {
            Some(pos) => Ok(pos),
            None => Err(ReceiveError::Replay { author, seq }),
        }
    }

    /// Verifies and stores a change envelope without opening it: all a
    /// device without the journal key does with one.
    pub fn receive_sealed(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError> {
        let verified = self.verify(bytes)?;
        self.store_verified(&verified, None)
    }

    /// Verifies a snapshot and, when it covers everything the held one
    /// does and more than this device holds, keeps it in place of the held
    /// one, without opening it. A device that holds the journal key merges
    /// snapshots instead (`Replica::receive_snapshot`). Returns whether it
    /// was kept.
    pub fn receive_sealed_snapshot(&mut self, bytes: &[u8]) -> Result<bool, ReceiveError> {
        let snapshot = self.verify_snapshot(bytes)?;
        if self.vector()?.dominates(&snapshot.covers) {
            return Ok(false);
        }
        let held = self.store.snapshot()?;
        let generation = held.as_ref().map_or(0, |s| s.generation);
        if held.is_some_and(|h| !snapshot.covers.dominates(&h.covers)) {
            return Ok(false);
        }
        Ok(self
            .store
            .replace_snapshot(generation, &snapshot.covers, bytes, &[])?)
    }

    /// The highest contiguous sequence held from each author.
    pub fn vector(&self) -> Result<VersionVector, StoreError> {
        self.store.vector()
    }

    /// Envelopes stored after local position `pos`, in the order they
    /// were stored.
    pub fn stored_after(&self, pos: i64) -> Result<Vec<StoredEnvelope>, StoreError> {
        self.store.envelopes_after(pos)
    }

    /// The position of the last stored envelope (0 when none is).
    pub fn last_position(&self) -> Result<i64, StoreError> {
        self.store.last_position()
    }

    /// How many envelopes sit beyond the snapshot.
    pub fn envelope_count(&self) -> Result<usize, StoreError> {
        self.store.envelope_count()
    }

    /// Stores one of this device's own changes under its next sequence
    /// number; `seal` makes the envelope for that number.
    pub fn insert_local<E>(
        &mut self,
        hash: &[u8; 32],
        seal: impl FnOnce(u64, [u8; 32]) -> Result<Vec<u8>, E>,
    ) -> Result<Result<i64, E>, StoreError> {
        let me = self.me;
        Ok(self
            .store
            .insert_local(&me, hash, seal)?
            .map(|(_, pos)| pos))
    }

    pub(crate) fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }
}

#[cfg(test)]
mod tests;
