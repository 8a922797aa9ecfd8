//! One device's replica of the whole journal: its ledger, opened as a
//! member, and the journal document built from what the ledger holds,
//! kept in step.
//!
//! Every write goes through [`Replica::commit`]: the change is made on the
//! in-memory document, sealed into an envelope and committed durably to
//! the store before the call returns. Envelopes and snapshots from peers
//! enter through [`Replica::receive_envelope`] and
//! [`Replica::receive_snapshot`], which check everything before they
//! apply or store anything. The daemon does not hold the document: it
//! runs a [`Writer`](crate::writer::Writer) over the same ledger.

mod proven;
mod snapshots;

use std::collections::HashMap;

use crate::envelope::{self, Body, Kind, OpenError};
use crate::ids::{DeviceId, JournalId};
use crate::index::{Index, Seen};
use crate::journal::{Author, Commit, DeviceRecord, Frontier, Journal, JournalError};
use crate::keys::{DeviceKey, JournalKey};
use crate::ledger::member::open_own;
use crate::ledger::proofs::{Chain, Contents};
use crate::ledger::records::{self, RecordError, BASE};
use crate::ledger::roster::Roster;
use crate::ledger::{Ledger, Member, MemberError, Outgoing, ReceiveError};
use crate::store::{Heal, Store, StoreError, Tip};
use crate::vv::VersionVector;

pub use snapshots::Compaction;

/// Compact once this many envelopes sit beyond the snapshot: opening the
/// journal decrypts each of them, so the tail is what `duet add` pays for.
pub const DEFAULT_COMPACT_AFTER: usize = 128;

/// Where a [`Writer`](crate::writer::Writer) starts: the document's frontier as of store position
/// `pos`. Every change stored after `pos` is taken into it when the writer
/// opens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Start {
    pub frontier: Frontier,
    pub pos: i64,
}

/// Why a replica or a writer could not do what was asked. The larger
/// causes are boxed, so that every `Result` carrying one stays small.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Member(Box<MemberError>),
    #[error(transparent)]
    Record(Box<RecordError>),
    #[error(transparent)]
    Journal(Box<JournalError>),
    #[error("the store belongs to another journal than the key")]
    KeyMismatch,
    #[error("the store has no sealed {0} yet; open the whole journal once to record it")]
    Missing(&'static str),
    #[error("no device of this journal has the id {0}")]
    NoSuchDevice(String),
    #[error("device {0} was already removed")]
    AlreadyRemoved(String),
    #[error("no device would be left to read the journal")]
    NobodyLeft,
    #[error("this device was removed from the journal, so it cannot remove others")]
    ThisDeviceRemoved,
}

impl From<MemberError> for ReplicaError {
    fn from(e: MemberError) -> Self {
        ReplicaError::Member(Box::new(e))
    }
}

impl From<RecordError> for ReplicaError {
    fn from(e: RecordError) -> Self {
        ReplicaError::Record(Box::new(e))
    }
}

impl From<JournalError> for ReplicaError {
    fn from(e: JournalError) -> Self {
        ReplicaError::Journal(Box::new(e))
    }
}

pub struct Replica {
    member: Member,
    journal: Journal,
    /// The longest proven chain of each author's changes this device
    /// holds (from its snapshot, or a peer's), which the next snapshot it
    /// seals extends (`ledger/proofs.rs`).
    chains: HashMap<DeviceId, Chain>,
    /// Highest store position this replica has applied, so `refresh` picks
    /// up what other processes (the CLI, the daemon) wrote since.
    applied_pos: i64,
    snapshot_generation: i64,
    compact_after: usize,
    /// Damaged items this replica set aside when it opened.
    set_aside: usize,
    /// The sealed read index this replica keeps current (`crate::index`).
    index: Index,
}

impl Replica {
    /// Starts a new journal on this device.
    pub fn create(
        store: Store,
        device: DeviceKey,
        key: JournalKey,
        person: &str,
        device_name: &str,
        now: i64,
    ) -> Result<Self, ReplicaError> {
        let record = DeviceRecord {
            id: device.id().to_text(),
            person: person.to_string(),
            name: device_name.to_string(),
            added_by: None,
            added_at: now,
            role: None,
        };
        let journal_id = JournalId::random();
        let (journal, commit) = Journal::genesis(&journal_id, &record, now)?;
        let ledger = Ledger::create(store, journal_id, device.id(), &[])?;
        let mut replica = Self::assemble(ledger, device, key, journal, 0, 0, Vec::new())?;
        replica.applied_pos = replica.member.commit(&commit, Default::default())?;
        replica.keep_index();
        Ok(replica)
    }

    /// Sets up this device as a new member of an existing journal, from
    /// what pairing delivered: the journal key and a snapshot sealed by the
    /// inviting device, whose device list already names this device.
    pub fn join(
        store: Store,
        device: DeviceKey,
        key: JournalKey,
        journal_id: JournalId,
        inviter: DeviceId,
        snapshot: &[u8],
    ) -> Result<Self, ReceiveError> {
        let (sealed, payload) = envelope::open(
            snapshot,
            Kind::Snapshot,
            &journal_id,
            |a| *a == inviter,
            &key,
        )?;
        let Body::Snapshot { covers } = sealed.body else {
            return Err(OpenError::MalformedHeader("snapshot without a vector").into());
        };
        let contents = Contents::decode(&payload)?;
        let against = proven::Against {
            journal_id,
            key: &key,
            roster: &Roster::default(),
            schema: None,
        };
        let journal = proven::check(&against, &covers, &contents, |_, _| None, |_| false)?;
        let devices = journal.devices();
        if !devices.iter().any(|d| d.id == device.id().to_text()) {
            return Err(ReceiveError::local(MemberError::NotAMember));
        }
        let mut ledger = Ledger::create(store, journal_id, device.id(), &[inviter])?;
        let tips = contents.tips();
        ledger
            .store_mut()
            .replace_snapshot(0, &covers, snapshot, &tips)?;
        let everyone: Vec<DeviceId> = devices
            .iter()
            .filter_map(|d| DeviceId::from_text(&d.id))
            .collect();
        ledger.store().mark_seen(&everyone)?;
        records::write_epochs(ledger.store(), &device, &key).map_err(ReceiveError::local)?;
        let mut replica = Self::assemble(ledger, device, key, journal, 0, 1, contents.chains)
            .map_err(ReceiveError::local)?;
        replica.take_extras(&contents.extras)?;
        replica.applied_pos = replica.ledger().last_position()?;
        // The read index is not built here: a join is the whole journal
        // arriving at once, and reading every entry to build it would
        // nearly double the join at 40,000 entries. The first open of the
        // journal (the daemon's first job, or the first command) builds
        // it; until then reads load the journal. Where the writer starts
        // is kept, so `duet add` needs no load.
        if let Err(e) = replica
            .index
            .keep_start(replica.store(), &replica.writer_start())
        {
            tracing::warn!(error = %e, "could not record where this device's writes start");
        }
        Ok(replica)
    }

    /// Opens this device's replica from its store.
    pub fn open(store: Store, device: DeviceKey, key: JournalKey) -> Result<Self, ReplicaError> {
        let ledger = Ledger::open(store)?;
        if ledger.device_id() != device.id() {
            return Err(MemberError::KeyMismatch.into());
        }
        // The snapshot may be sealed to a later key epoch than journal.key
        // holds: the store keeps those.
        let mut key = key;
        records::read_epochs(ledger.store(), &device, &mut key)?;
        let before = ledger.store().quarantined()?.len();
        let (journal, applied_pos, generation, chains) = load(&ledger, &key)?;
        let set_aside = ledger.store().quarantined()?.len().saturating_sub(before);
        let mut replica = Self::assemble(
            ledger,
            device,
            key,
            journal,
            applied_pos,
            generation,
            chains,
        )?;
        replica.set_aside = set_aside;
        replica.keep_index();
        Ok(replica)
    }

    fn assemble(
        ledger: Ledger,
        device: DeviceKey,
        key: JournalKey,
        mut journal: Journal,
        applied_pos: i64,
        snapshot_generation: i64,
        chains: Vec<Chain>,
    ) -> Result<Self, ReplicaError> {
        journal.write_as(&device.id());
        journal.set_arrivals(ledger.store().arrivals()?);
        let known = Roster::new(journal.devices());
        let index = Index::new(&device, &ledger.journal_id());
        let mut member = Member::new(ledger, device, key, known, journal.schema())?;
        member.learn_removals(&journal.removals())?;
        // What a writer replica opens from (`writer.rs`).
        // (A damaged one is set aside by reading it, and written again.)
        if records::read(member.ledger().store(), member.journal_key(), BASE)?.is_none() {
            if let Some(base) = journal.base_change() {
                records::write(member.ledger().store(), member.journal_key(), BASE, &base)?;
            }
        }
        Ok(Self {
            member,
            journal,
            chains: chains.into_iter().map(|c| (c.author, c)).collect(),
            applied_pos,
            snapshot_generation,
            compact_after: DEFAULT_COMPACT_AFTER,
            set_aside: 0,
            index,
        })
    }

    /// The sealed read index's keys (`crate::index`), to read pages with.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Brings the sealed read index, and the frontier a writer starts
    /// from, to this replica's document. Never fatal: a failure leaves the
    /// index stale, and reads load the document until a replica succeeds.
    pub(crate) fn keep_index(&self) {
        if let Err(e) = self.try_keep_index() {
            if !matches!(e, StoreError::ReadOnly(_)) {
                tracing::warn!(error = %e, "could not update the read index; reads load the whole journal until it is");
            }
        }
    }

    fn try_keep_index(&self) -> Result<(), StoreError> {
        let notices = self
            .journal
            .removals()
            .iter()
            .filter(|r| !r.follows)
            .map(|r| r.notice_key())
            .collect();
        self.index.update(
            self.store(),
            &self.journal,
            Seen {
                pos: self.applied_pos,
                generation: self.snapshot_generation,
                devices: self.devices(),
                notices,
            },
        )?;
        if self.snapshot_generation == self.store().snapshot_generation()? {
            self.index.keep_start(self.store(), &self.writer_start())?;
        }
        Ok(())
    }

    /// The store, device key and journal key, to open again.
    pub fn into_parts(self) -> (Store, DeviceKey, JournalKey) {
        self.member.into_parts()
    }

    /// How many damaged stored items opening this replica set aside
    /// (`store/quarantine.rs`): a peer's device sends good copies.
    pub fn set_aside(&self) -> usize {
        self.set_aside
    }

    pub fn set_compact_after(&mut self, envelopes: usize) {
        self.compact_after = envelopes.max(1);
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn ledger(&self) -> &Ledger {
        self.member.ledger()
    }

    /// This device as a member: what it opens and checks with the
    /// journal key (`Member::tally_waiting`, say).
    pub fn member(&self) -> &Member {
        &self.member
    }

    /// The journal's devices, oldest first.
    pub fn devices(&self) -> &[DeviceRecord] {
        self.member.roster().devices()
    }

    pub fn journal_id(&self) -> JournalId {
        self.ledger().journal_id()
    }

    pub fn device_id(&self) -> DeviceId {
        self.ledger().device_id()
    }

    pub fn device_key(&self) -> &DeviceKey {
        self.member.device_key()
    }

    pub fn journal_key(&self) -> &JournalKey {
        self.member.journal_key()
    }

    pub fn store(&self) -> &Store {
        self.ledger().store()
    }

    /// The person and device writing from here.
    pub fn author(&self) -> Result<Author, ReplicaError> {
        Ok(self.member.author()?)
    }

    /// Where a writer opened after this replica starts: the document's
    /// heads, as of the store position this replica has applied.
    pub fn writer_start(&self) -> Start {
        Start {
            frontier: self.journal.frontier(),
            pos: self.applied_pos,
        }
    }

    /// Devices recorded in the journal that this device has not yet told
    /// its person about; they are marked as told.
    pub fn take_new_devices(&mut self) -> Result<Vec<DeviceRecord>, ReplicaError> {
        Ok(self.member.take_new_devices()?)
    }

    /// Runs one write on the journal and stores it durably. When this
    /// returns `Ok`, the change survives a crash. Removals this device
    /// learned are followed first ([`Replica::follow_removals`]), so the
    /// write is never sealed to an epoch a removed device holds.
    pub fn commit<T>(
        &mut self,
        write: impl FnOnce(&mut Journal, &Author) -> Result<(T, Commit), JournalError>,
    ) -> Result<T, ReplicaError> {
        self.follow_removals(crate::ledger::member::now_ms())?;
        self.commit_now(write)
    }

    /// Writes what following the removals this device learned needs
    /// (`Member::follow_up`), if anything; true if it wrote.
    pub fn follow_removals(&mut self, now: i64) -> Result<bool, ReplicaError> {
        let Some(follow) = self.member.follow_up()? else {
            return Ok(false);
        };
        self.commit_now(|journal, author| {
            Ok((
                (),
                journal.remove_devices(author, &follow.devices, &follow.record(now))?,
            ))
        })?;
        Ok(true)
    }

    fn commit_now<T>(
        &mut self,
        write: impl FnOnce(&mut Journal, &Author) -> Result<(T, Commit), JournalError>,
    ) -> Result<T, ReplicaError> {
        let author = self.author()?;
        let (value, commit) = write(&mut self.journal, &author)?;
        match self.member.commit(&commit, Default::default()) {
            Ok(pos) => {
                self.applied(pos);
                self.keep_index();
            }
            Err(e) => {
                // The document holds a change the store does not: rebuild
                // it from the store so later changes never depend on a
                // lost one.
                self.reload()?;
                return Err(e.into());
            }
        }
        self.member.learn(self.journal.devices())?;
        self.member.learn_removals(&self.journal.removals())?;
        Ok(value)
    }

    /// Removes `device` from the journal (`journal/removal.rs`): its
    /// envelopes after what this device holds of it are refused from now
    /// on, and a new key epoch starts, sealed to every device that stays.
    /// The removal itself is sealed to the epoch before, so the removed
    /// device can read that it was removed. `device` may be this one
    /// (leaving). Returns the removal recorded.
    pub fn remove_device(
        &mut self,
        device: &DeviceId,
        now: i64,
    ) -> Result<crate::journal::Removal, ReplicaError> {
        let text = device.to_text();
        if !self.devices().iter().any(|d| d.id == text) {
            return Err(ReplicaError::NoSuchDevice(text));
        }
        if self.ledger().removed().contains_key(&self.device_id()) {
            return Err(ReplicaError::ThisDeviceRemoved);
        }
        if self.ledger().removed().contains_key(device) {
            return Err(ReplicaError::AlreadyRemoved(text));
        }
        self.follow_removals(now)?;
        let cut = self.vector()?.get(device);
        let epoch = self
            .member
            .new_epoch(std::slice::from_ref(device))
            .ok_or(ReplicaError::NobodyLeft)?;
        let device = *device;
        self.commit_now(|journal, author| {
            let commit =
                journal.remove_devices(author, &[(device, cut)], &epoch.record(false, now))?;
            Ok(((), commit))
        })?;
        // Kept to show the removed device when it next calls.
        let me = self.device_id();
        let seq = self.store().own_top(&me)?;
        if let Some(env) = self.store().envelopes_of(&me, seq, seq)?.pop() {
            self.store().keep_removal_envelope(&device, &env.bytes)?;
        }
        let removal = self
            .journal
            .removals()
            .into_iter()
            .rev()
            .find(|r| r.device == text && r.by == self.device_id().to_text())
            .ok_or(ReplicaError::NoSuchDevice(text))?;
        Ok(removal)
    }

    /// Keeps the device-list statements a peer sent that verify
    /// (`Ledger::take_statements`); the sealed list stays what this device
    /// trusts. Returns how many were new.
    pub fn take_statements(
        &mut self,
        statements: &[Vec<u8>],
    ) -> Result<usize, crate::store::StoreError> {
        Ok(self
            .member
            .ledger_mut()
            .take_statements(statements, false)?
            .0)
    }

    /// Verifies, applies and stores one change envelope from a peer.
    /// Returns the envelope's position in the local store.
    pub fn receive_envelope(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError> {
        let incoming = self.member.check(bytes)?;
        self.journal
            .apply_change(incoming.change.raw_bytes().to_vec())
            .map_err(ReceiveError::BadPayload)?;
        match self.member.accept(incoming) {
            Ok(pos) => {
                self.applied(pos);
                let arrivals = self.store().arrivals().map_err(ReceiveError::local)?;
                self.journal.set_arrivals(arrivals);
                Ok(pos)
            }
            Err(e) => {
                self.reload().map_err(ReceiveError::local)?;
                Err(e)
            }
        }
    }

    /// Heals a restored or copied home from what a peer holds of this
    /// device's own changes (`Member::heal_own`). The document is
    /// unchanged: only envelopes move.
    pub fn heal_own(&mut self, theirs: Tip) -> Result<Option<Heal>, ReceiveError> {
        self.member.heal_own(theirs).map_err(ReceiveError::local)
    }

    /// Notes that the envelope at `pos` is in the document.
    fn applied(&mut self, pos: i64) {
        if pos == self.applied_pos + 1 {
            self.applied_pos = pos;
        }
    }

    /// Applies what other processes wrote to the store since this replica
    /// last looked. Returns how many envelopes were new to it.
    pub fn refresh(&mut self) -> Result<usize, ReplicaError> {
        let generation = self.store().snapshot_generation()?;
        let mut merged_snapshot = false;
        if generation != self.snapshot_generation {
            if let Some(snapshot) = self.store().snapshot()? {
                let saved = self.member.open_stored_snapshot(&snapshot.bytes)?;
                let contents = own_contents(&saved)?;
                self.journal.merge_saved(&contents.doc)?;
                for chain in contents.chains {
                    self.adopt(chain);
                }
                self.snapshot_generation = snapshot.generation;
                merged_snapshot = true;
            }
        }
        let mut applied = 0;
        for env in self.ledger().stored_after(self.applied_pos)? {
            self.applied_pos = env.pos;
            if env.hash.is_some_and(|h| self.journal.contains(&h)) {
                continue;
            }
            // One bad stored envelope must not stop every later one.
            let result = self
                .member
                .open_stored(&env)
                .map_err(ReplicaError::from)
                .and_then(|change| Ok(self.journal.apply_change(change)?));
            match result {
                Ok(_) => applied += 1,
                Err(e) => set_aside_or_warn(self.ledger(), &env, &e),
            }
        }
        if applied > 0 || merged_snapshot {
            self.member.learn(self.journal.devices())?;
            self.member.learn_removals(&self.journal.removals())?;
            self.journal.set_arrivals(self.store().arrivals()?);
            self.keep_index();
        }
        Ok(applied)
    }

    /// The highest contiguous sequence held from each author.
    pub fn vector(&self) -> Result<VersionVector, ReplicaError> {
        Ok(self.ledger().vector()?)
    }

    /// What a peer whose vector is `theirs` lacks (see [`Ledger::outgoing_for`]).
    pub fn outgoing_for(&self, theirs: &VersionVector) -> Result<Outgoing, ReplicaError> {
        Ok(self.ledger().outgoing_for(theirs)?)
    }

    /// How many envelopes this device holds that a peer with vector
    /// `theirs` lacks.
    pub fn waiting_for(&self, theirs: &VersionVector) -> Result<u64, ReplicaError> {
        Ok(self.ledger().waiting_for(theirs)?)
    }

    /// Builds the document again from the store.
    fn reload(&mut self) -> Result<(), ReplicaError> {
        let (mut journal, applied_pos, generation, chains) =
            load(self.member.ledger(), self.journal_key())?;
        journal.write_as(&self.member.device_key().id());
        journal.set_arrivals(self.store().arrivals()?);
        self.journal = journal;
        for chain in chains {
            self.adopt(chain);
        }
        self.applied_pos = applied_pos;
        self.snapshot_generation = generation;
        Ok(())
    }
}

/// The journal document from what `ledger` holds: the snapshot and every
/// envelope beyond it. Returns it with the last store position it holds,
/// the snapshot's generation and the chains it proves.
fn load(
    ledger: &Ledger,
    key: &JournalKey,
) -> Result<(Journal, i64, i64, Vec<Chain>), ReplicaError> {
    let journal_id = ledger.journal_id();
    let now = crate::ledger::member::now_ms();
    // Bytes whose signature no longer verifies were damaged where they
    // lie: they are set aside (`store/quarantine.rs`) and the rest opens.
    // Bytes that verify but do not decrypt point at the key, not the
    // store: that stays an error, and nothing is set aside.
    let damaged = |bytes: &[u8]| is_damaged(ledger, bytes);
    let mut snapshot = ledger.store().snapshot()?;
    let mut contents = None;
    if let Some(s) = &snapshot {
        match open_own(&s.bytes, Kind::Snapshot, &journal_id, key) {
            Ok(payload) => contents = Some(own_contents(&payload)?),
            Err(_) if damaged(&s.bytes) => {
                tracing::warn!("set aside the stored snapshot, which is damaged; a partner's device will send its own");
                ledger.store().quarantine_snapshot(now)?;
                snapshot = None;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let envelopes = ledger.stored_after(0)?;
    let applied_pos = envelopes.last().map_or(0, |e| e.pos);
    let mut changes = Vec::with_capacity(envelopes.len() + 1);
    if contents.is_none() {
        // Without a snapshot, the document grows from the journal's first
        // change, kept sealed beside it: what the envelopes left hold then
        // reads, and the rest waits for a peer's snapshot.
        if let Some(base) = records::read(ledger.store(), key, BASE)? {
            changes.push(base);
        }
    }
    for e in &envelopes {
        match open_own(&e.bytes, Kind::Change, &journal_id, key) {
            Ok(change) => changes.push(change),
            Err(_) if damaged(&e.bytes) => {
                tracing::warn!(author = %e.author.short(), seq = e.seq, "set aside a stored envelope that is damaged; a partner's device will send it again");
                ledger.store().quarantine_envelope(e.pos, now)?;
            }
            Err(err) => return Err(err.into()),
        }
    }
    let journal = Journal::load(contents.as_ref().map(|c| c.doc.as_slice()), changes)?;
    if journal.journal_id().is_some_and(|id| id != journal_id) {
        return Err(ReplicaError::KeyMismatch);
    }
    let chains = contents.map(|c| c.chains).unwrap_or_default();
    Ok((
        journal,
        applied_pos,
        snapshot.map_or(0, |s| s.generation),
        chains,
    ))
}

/// True when stored bytes no longer verify: damaged where they lie, to be
/// set aside (`store/quarantine.rs`). Bytes that verify but do not open
/// point at the key instead.
pub(crate) fn is_damaged(ledger: &Ledger, bytes: &[u8]) -> bool {
    match envelope::decode(bytes) {
        Err(_) => true,
        Ok(sealed) => matches!(
            sealed.verify(&ledger.journal_id(), |a| ledger.members().contains(a)),
            Err(OpenError::BadSignature)
        ),
    }
}

/// Sets aside a stored envelope that `is_damaged`, or logs why one that
/// is not does not open.
pub(crate) fn set_aside_or_warn(
    ledger: &Ledger,
    env: &crate::store::StoredEnvelope,
    error: &dyn std::fmt::Display,
) {
    if is_damaged(ledger, &env.bytes) {
        tracing::warn!(author = %env.author.short(), seq = env.seq, "set aside a stored envelope that is damaged; a partner's device will send it again");
        if let Err(e) = ledger
            .store()
            .quarantine_envelope(env.pos, crate::ledger::member::now_ms())
        {
            tracing::warn!(error = %e, "cannot set aside a damaged envelope");
        }
    } else {
        tracing::warn!(pos = env.pos, error = %error, "skipped a stored envelope that does not apply");
    }
}

/// The contents of this device's own snapshot (checked when it arrived).
fn own_contents(payload: &[u8]) -> Result<Contents, ReplicaError> {
    Contents::decode(payload)
        .map_err(|_| ReplicaError::Journal(Box::new(JournalError::Schema("snapshot contents"))))
}

#[cfg(test)]
mod tests;
