//! One device's replica of the journal: its keys, its store and the
//! journal document built from the store, kept in step.
//!
//! Every write goes through [`Replica::commit`]: the change is made on the
//! in-memory document, sealed into an envelope and committed durably to
//! the store before the call returns. Envelopes and snapshots from peers
//! enter through [`Replica::receive_envelope`] and
//! [`Replica::receive_snapshot`], which verify before they decrypt and
//! apply nothing from bytes that fail.
//!
//! A replica opened with [`Replica::open`] holds the whole document. One
//! opened with [`Replica::open_writer`] (the daemon's) holds only the
//! journal's first change, the document's heads and the device list: it verifies,
//! stores and relays envelopes and adds entries, while reading, editing
//! and compacting are left to a replica that holds the whole document.
//! Both keep the device list and the first change in the store, sealed
//! with the journal key, so a writer replica opens without the document.

use std::collections::HashSet;

use crate::envelope::{self, Body, Kind, OpenError, SealError};
use crate::ids::{DeviceId, JournalId};
use crate::journal::{rebase, Author, Commit, DeviceRecord, Frontier, Journal, JournalError};
use crate::keys::{DeviceKey, JournalKey};
use crate::store::{Store, StoreError};
use crate::vv::VersionVector;

/// Compact once this many envelopes sit beyond the snapshot: opening the
/// journal decrypts each of them, so the tail is what `duet add` pays for.
pub const DEFAULT_COMPACT_AFTER: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("a stored envelope does not open: {0}")]
    StoredEnvelope(OpenError),
    #[error("this device is not in the journal's device list")]
    NotAMember,
    #[error("the store belongs to another journal than the key")]
    KeyMismatch,
    #[error("this needs the whole journal document, which a writer replica does not hold")]
    NoDocument,
    #[error("the store has no sealed {0} yet; open the whole journal once to record it")]
    MissingRecord(&'static str),
    #[error("a record in the store does not decrypt or parse")]
    BadRecord,
}

/// Why an envelope or snapshot from a peer was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("envelope {seq} from {} was already received (replay)", .author.short())]
    Replay { author: DeviceId, seq: u64 },
    #[error("the decrypted payload is not a valid journal change: {0}")]
    BadPayload(JournalError),
    #[error(transparent)]
    Local(#[from] ReplicaError),
}

impl From<StoreError> for ReceiveError {
    fn from(e: StoreError) -> Self {
        ReceiveError::Local(e.into())
    }
}

/// A change envelope that passed every check.
struct Incoming {
    author: DeviceId,
    seq: u64,
    hash: [u8; 32],
    change: Vec<u8>,
    /// Device records the change makes.
    devices: Vec<DeviceRecord>,
    parsed: automerge::Change,
}

/// How much of the journal document a replica holds.
enum Doc {
    /// The whole document: reads, every write, snapshots.
    Whole(Box<Journal>),
    /// Only the first change: enough to add entries and devices.
    Writer(Box<Writer>),
}

impl Doc {
    /// A journal that knows the `devices` map, for attribution checks.
    fn any(&self) -> &Journal {
        match self {
            Doc::Whole(j) => j,
            Doc::Writer(w) => &w.template,
        }
    }
}

/// A writer replica's state (see `journal/frontier.rs`).
struct Writer {
    /// The journal's first change.
    base: Vec<u8>,
    /// A journal of only the first change, never written to.
    template: Journal,
    /// This session's automerge actor and its last sequence number.
    actor: automerge::ActorId,
    seq: u64,
    /// Where the next change goes; `None` until the whole document's
    /// heads are given ([`Replica::set_frontier`]).
    frontier: Option<Frontier>,
}

/// Meta keys of the sealed records a writer replica opens from.
const ROSTER: &str = "roster";
const BASE: &str = "base";

/// What a peer lacks, ready to send: a snapshot first when one is needed
/// (or cheaper), then envelopes in the order this device received them.
#[derive(Debug, Default)]
pub struct Outgoing {
    pub snapshot: Option<Vec<u8>>,
    pub envelopes: Vec<Vec<u8>>,
}

/// What a compaction did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Compaction {
    pub covers: VersionVector,
    pub snapshot_bytes: usize,
    pub envelopes_left: usize,
}

pub struct Replica {
    store: Store,
    device: DeviceKey,
    key: JournalKey,
    journal_id: JournalId,
    doc: Doc,
    /// The journal's device list, kept in step with the document (or, for
    /// a writer, with the device records in what it stores).
    roster: Vec<DeviceRecord>,
    members: HashSet<DeviceId>,
    /// Highest store position this replica has applied, so `refresh` picks
    /// up what other processes (the CLI, the daemon) wrote since.
    applied_pos: i64,
    snapshot_generation: i64,
    compact_after: usize,
}

impl Replica {
    /// Starts a new journal on this device.
    pub fn create(
        mut store: Store,
        device: DeviceKey,
        key: JournalKey,
        person: &str,
        device_name: &str,
        now: i64,
    ) -> Result<Self, ReplicaError> {
        let journal_id = JournalId::random();
        let record = DeviceRecord {
            id: device.id().to_text(),
            person: person.to_string(),
            name: device_name.to_string(),
            added_by: None,
            added_at: now,
        };
        let (journal, commit) = Journal::genesis(&journal_id, &record, now)?;
        store.initialise(&journal_id, &device.id())?;
        let mut replica = Self::assemble(store, device, key, Doc::Whole(Box::new(journal)), 0, 0)?;
        replica.store_local(&commit)?;
        replica.sync_members()?;
        Ok(replica)
    }

    /// Sets up this device as a new member of an existing journal, from
    /// what pairing delivered: the journal key and a snapshot sealed by the
    /// inviting device, whose device list already names this device.
    pub fn join(
        mut store: Store,
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
        let journal = Journal::load(Some(&payload), []).map_err(ReceiveError::BadPayload)?;
        let me = device.id().to_text();
        if !journal.devices().iter().any(|d| d.id == me) {
            return Err(ReplicaError::NotAMember.into());
        }
        store.initialise(&journal_id, &device.id())?;
        store.add_member(&inviter)?;
        store.replace_snapshot(0, &covers, snapshot)?;
        let everyone: Vec<DeviceId> = journal
            .devices()
            .iter()
            .filter_map(|d| DeviceId::from_text(&d.id))
            .collect();
        store.mark_seen(&everyone)?;
        let mut replica = Self::assemble(store, device, key, Doc::Whole(Box::new(journal)), 0, 1)?;
        replica.sync_members()?;
        Ok(replica)
    }

    /// Opens this device's replica from its store.
    pub fn open(store: Store, device: DeviceKey, key: JournalKey) -> Result<Self, ReplicaError> {
        let journal_id = store.journal_id()?;
        if store.device_id()? != device.id() {
            return Err(ReplicaError::KeyMismatch);
        }
        let snapshot = store.snapshot()?;
        let saved = match &snapshot {
            Some(s) => Some(open_stored(&s.bytes, Kind::Snapshot, &journal_id, &key)?),
            None => None,
        };
        let envelopes = store.envelopes_after(0)?;
        let applied_pos = envelopes.last().map_or(0, |e| e.pos);
        let changes = envelopes
            .iter()
            .map(|e| open_stored(&e.bytes, Kind::Change, &journal_id, &key))
            .collect::<Result<Vec<_>, _>>()?;
        let journal = Journal::load(saved.as_deref(), changes)?;
        if journal.journal_id().is_some_and(|id| id != journal_id) {
            return Err(ReplicaError::KeyMismatch);
        }
        let generation = snapshot.map_or(0, |s| s.generation);
        let mut replica = Self::assemble(
            store,
            device,
            key,
            Doc::Whole(Box::new(journal)),
            applied_pos,
            generation,
        )?;
        replica.sync_members()?;
        Ok(replica)
    }

    /// Opens this device's replica without the journal document: a writer
    /// (see the module documentation). It needs the sealed device list and
    /// first change that opening the whole journal records in the store,
    /// and it writes only once given the document's heads
    /// ([`Replica::set_frontier`]); every change stored after this call is
    /// taken into them.
    pub fn open_writer(
        store: Store,
        device: DeviceKey,
        key: JournalKey,
    ) -> Result<Self, ReplicaError> {
        if store.device_id()? != device.id() {
            return Err(ReplicaError::KeyMismatch);
        }
        let base = store
            .record(BASE)?
            .ok_or(ReplicaError::MissingRecord("first change"))?;
        let base = open_record(&key, &base)?;
        let writer = Writer {
            template: Journal::writer(&base)?,
            base,
            actor: automerge::ActorId::random(),
            seq: 0,
            frontier: None,
        };
        let applied_pos = store.last_position()?;
        let mut replica = Self::assemble(
            store,
            device,
            key,
            Doc::Writer(Box::new(writer)),
            applied_pos,
            0,
        )?;
        replica.sync_members()?;
        Ok(replica)
    }

    /// Gives a writer the whole document's heads, as a replica holding the
    /// document found them after this writer opened (or after it stored a
    /// snapshot). Envelopes stored since are taken in at the next
    /// [`Replica::refresh`].
    pub fn set_frontier(&mut self, frontier: Frontier) {
        if let Doc::Writer(w) = &mut self.doc {
            w.frontier = Some(frontier);
        }
    }

    /// True for a replica that holds the whole document.
    pub fn is_whole(&self) -> bool {
        matches!(self.doc, Doc::Whole(_))
    }

    fn assemble(
        store: Store,
        device: DeviceKey,
        key: JournalKey,
        doc: Doc,
        applied_pos: i64,
        snapshot_generation: i64,
    ) -> Result<Self, ReplicaError> {
        let roster = match &doc {
            Doc::Whole(journal) => journal.devices(),
            Doc::Writer(_) => {
                read_roster(&store, &key)?.ok_or(ReplicaError::MissingRecord("device list"))?
            }
        };
        Ok(Self {
            members: store.members()?,
            journal_id: store.journal_id()?,
            store,
            device,
            key,
            doc,
            roster,
            applied_pos,
            snapshot_generation,
            compact_after: DEFAULT_COMPACT_AFTER,
        })
    }

    pub fn set_compact_after(&mut self, envelopes: usize) {
        self.compact_after = envelopes.max(1);
    }

    /// The whole journal document; a writer replica does not hold it.
    pub fn journal(&self) -> Result<&Journal, ReplicaError> {
        match &self.doc {
            Doc::Whole(journal) => Ok(journal),
            Doc::Writer(_) => Err(ReplicaError::NoDocument),
        }
    }

    fn whole_mut(&mut self) -> Result<&mut Journal, ReplicaError> {
        match &mut self.doc {
            Doc::Whole(journal) => Ok(journal),
            Doc::Writer(_) => Err(ReplicaError::NoDocument),
        }
    }

    /// The journal's devices, oldest first.
    pub fn devices(&self) -> &[DeviceRecord] {
        &self.roster
    }

    pub fn journal_id(&self) -> JournalId {
        self.journal_id
    }

    pub fn device_id(&self) -> DeviceId {
        self.device.id()
    }

    pub fn device_key(&self) -> &DeviceKey {
        &self.device
    }

    pub fn journal_key(&self) -> &JournalKey {
        &self.key
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn members(&self) -> &HashSet<DeviceId> {
        &self.members
    }

    /// The person and device writing from here.
    pub fn author(&self) -> Result<Author, ReplicaError> {
        let me = self.device.id().to_text();
        let record = self
            .roster
            .iter()
            .find(|d| d.id == me)
            .ok_or(ReplicaError::NotAMember)?;
        Ok(Author {
            person: record.person.clone(),
            device: self.device.id(),
        })
    }

    /// Devices recorded in the journal that this device has not yet told
    /// its person about; they are marked as told.
    pub fn take_new_devices(&mut self) -> Result<Vec<DeviceRecord>, ReplicaError> {
        let seen = self.store.seen_devices()?;
        let new: Vec<DeviceRecord> = self
            .roster
            .iter()
            .filter(|d| DeviceId::from_text(&d.id).is_some_and(|id| !seen.contains(&id)))
            .cloned()
            .collect();
        let ids: Vec<DeviceId> = new
            .iter()
            .filter_map(|d| DeviceId::from_text(&d.id))
            .collect();
        self.store.mark_seen(&ids)?;
        Ok(new)
    }

    /// Runs one write on the journal and stores it durably. When this
    /// returns `Ok`, the change survives a crash.
    pub fn commit<T>(
        &mut self,
        write: impl FnOnce(&mut Journal, &Author) -> Result<(T, Commit), JournalError>,
    ) -> Result<T, ReplicaError> {
        let author = self.author()?;
        let writer = match &mut self.doc {
            Doc::Whole(journal) => {
                let (value, commit) = write(journal, &author)?;
                if let Err(e) = self.store_local(&commit) {
                    // The document holds a change the store does not:
                    // rebuild it from the store so later changes never
                    // depend on a lost one.
                    self.reload()?;
                    return Err(e);
                }
                self.sync_members()?;
                return Ok(value);
            }
            Doc::Writer(writer) => writer,
        };
        let frontier = writer.frontier.as_ref().ok_or(ReplicaError::NoDocument)?;
        let mut scratch = Journal::writer(&writer.base)?;
        let (value, draft) = write(&mut scratch, &author)?;
        let draft = automerge::Change::from_bytes(draft.bytes).map_err(JournalError::from)?;
        let change = rebase(&draft, &writer.actor, writer.seq + 1, frontier)?;
        // A writer has no device list in its document: take any device
        // this write records from the change itself.
        let made =
            writer
                .template
                .check_attribution_as(&change, &author.device, Some(&author.person))?;
        let commit = Commit {
            hash: change.hash().0,
            bytes: change.raw_bytes().to_vec(),
        };
        self.store_local(&commit)?;
        if let Doc::Writer(writer) = &mut self.doc {
            writer.seq += 1;
        }
        self.observe(&change);
        merge_roster(&mut self.roster, made);
        self.sync_members()?;
        Ok(value)
    }

    fn store_local(&mut self, commit: &Commit) -> Result<(), ReplicaError> {
        let me = self.device.id();
        let (journal, device, recipient) = (self.journal_id, &self.device, self.key.recipient());
        let (_, pos) = self.store.insert_local(&me, &commit.hash, |seq| {
            envelope::seal(
                &journal,
                device,
                &Body::Change { seq },
                &recipient,
                &commit.bytes,
            )
        })??;
        if pos == self.applied_pos + 1 {
            self.applied_pos = pos;
        }
        Ok(())
    }

    fn reload(&mut self) -> Result<(), ReplicaError> {
        let store = std::mem::replace(&mut self.store, Store::open_in_memory()?);
        let device = std::mem::replace(&mut self.device, DeviceKey::generate());
        let key = std::mem::replace(&mut self.key, JournalKey::generate());
        let compact_after = self.compact_after;
        *self = if self.is_whole() {
            Replica::open(store, device, key)?
        } else {
            Replica::open_writer(store, device, key)?
        };
        self.compact_after = compact_after;
        Ok(())
    }

    /// Verifies, stores and applies one change envelope from a peer.
    /// Returns the envelope's position in the local store. A writer
    /// replica only stores it.
    pub fn receive_envelope(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError> {
        if !self.is_whole() {
            return self.store_envelope(bytes);
        }
        let mut incoming = self.check_incoming(bytes)?;
        self.whole_mut()?
            .apply_change(std::mem::take(&mut incoming.change))
            .map_err(ReceiveError::BadPayload)?;
        let pos = self.store_incoming(&incoming, bytes)?;
        if pos == self.applied_pos + 1 {
            self.applied_pos = pos;
        }
        self.sync_members()?;
        Ok(pos)
    }

    /// Verifies one change envelope from a peer and stores it durably,
    /// leaving it for the next [`Replica::refresh`] to apply. For a daemon
    /// receiving a stream: the envelope is safe (and readable by the CLI)
    /// as soon as it is stored, and applying to a large document, which
    /// costs more the larger it is, can wait until the batch is stored.
    pub fn store_envelope(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError> {
        let mut incoming = self.check_incoming(bytes)?;
        let pos = self.store_incoming(&incoming, bytes)?;
        if !self.is_whole() {
            // A whole replica applies it at the next refresh; a writer
            // only needs it in its frontier, now.
            if pos == self.applied_pos + 1 {
                self.applied_pos = pos;
            }
            self.observe(&incoming.parsed);
        }
        if !incoming.devices.is_empty() {
            // The new devices' envelopes verify from now on, before the
            // change is applied anywhere.
            self.learn_devices(std::mem::take(&mut incoming.devices))?;
        }
        Ok(pos)
    }

    /// Every check of an incoming change envelope, up to a parsed change.
    fn check_incoming(&self, bytes: &[u8]) -> Result<Incoming, ReceiveError> {
        let sealed = envelope::decode(bytes)?;
        let Body::Change { seq } = sealed.body else {
            return Err(OpenError::WrongKind {
                expected: Kind::Change,
                got: sealed.kind(),
            }
            .into());
        };
        sealed.verify(&self.journal_id, |a| self.members.contains(a))?;
        let author = sealed.author;
        if self.store.holds(&author, seq)? {
            return Err(ReceiveError::Replay { author, seq });
        }
        let payload = sealed.decrypt(&self.key)?;
        let change = automerge::Change::from_bytes(payload)
            .map_err(|e| ReceiveError::BadPayload(e.into()))?;
        let author_text = author.to_text();
        let person = self
            .roster
            .iter()
            .find(|d| d.id == author_text)
            .map(|d| d.person.as_str());
        let devices = self
            .doc
            .any()
            .check_attribution_as(&change, &author, person)
            .map_err(ReceiveError::BadPayload)?;
        Ok(Incoming {
            author,
            seq,
            hash: change.hash().0,
            change: change.raw_bytes().to_vec(),
            devices,
            parsed: change,
        })
    }

    fn store_incoming(&mut self, incoming: &Incoming, bytes: &[u8]) -> Result<i64, ReceiveError> {
        let (author, seq) = (incoming.author, incoming.seq);
        match self
            .store
            .insert_received(&author, seq, &incoming.hash, bytes)
        {
            Ok(Some(pos)) => Ok(pos),
            Ok(None) => Err(ReceiveError::Replay { author, seq }),
            Err(e) => {
                self.reload()?;
                Err(e.into())
            }
        }
    }

    /// Verifies and merges a snapshot from a peer, then compacts so the
    /// store covers what the snapshot brought.
    pub fn receive_snapshot(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        let (sealed, payload) = envelope::open(
            bytes,
            Kind::Snapshot,
            &self.journal_id,
            |a| self.members.contains(a),
            &self.key,
        )?;
        let Body::Snapshot { covers } = sealed.body else {
            return Err(OpenError::MalformedHeader("snapshot without a vector").into());
        };
        if self.store.vector()?.dominates(&covers) {
            return Ok(());
        }
        self.whole_mut()?
            .merge_saved(&payload)
            .map_err(ReceiveError::BadPayload)?;
        self.sync_members()?;
        // Another process compacting at the same moment makes an attempt
        // give way; try again on top of its snapshot so what this one
        // brought is recorded in the store, not only in memory.
        for _ in 0..3 {
            if self.compact_covering(&covers)?.is_some() {
                break;
            }
            if self.store.vector()?.dominates(&covers) {
                break;
            }
        }
        Ok(())
    }

    /// Applies what other processes wrote to the store since this replica
    /// last looked. Returns how many envelopes were new to it.
    pub fn refresh(&mut self) -> Result<usize, ReplicaError> {
        if !self.is_whole() {
            return self.refresh_writer();
        }
        let generation = self.store.snapshot_generation()?;
        let mut merged_snapshot = false;
        if generation != self.snapshot_generation {
            if let Some(snapshot) = self.store.snapshot()? {
                let saved =
                    open_stored(&snapshot.bytes, Kind::Snapshot, &self.journal_id, &self.key)?;
                self.whole_mut()?.merge_saved(&saved)?;
                self.snapshot_generation = snapshot.generation;
                merged_snapshot = true;
            }
        }
        let mut applied = 0;
        for env in self.store.envelopes_after(self.applied_pos)? {
            self.applied_pos = env.pos;
            let journal = self.whole_mut()?;
            if journal.contains(&env.hash) {
                continue;
            }
            // One bad stored envelope must not stop every later one.
            let result = open_stored(&env.bytes, Kind::Change, &self.journal_id, &self.key)
                .and_then(|change| Ok(self.whole_mut()?.apply_change(change)?));
            match result {
                Ok(_) => applied += 1,
                Err(e) => {
                    tracing::warn!(pos = env.pos, error = %e, "skipped a stored envelope that does not apply")
                }
            }
        }
        if applied > 0 || merged_snapshot {
            self.sync_members()?;
        }
        Ok(applied)
    }

    /// Takes a stored change into a writer's frontier.
    fn observe(&mut self, change: &automerge::Change) {
        if let Doc::Writer(writer) = &mut self.doc {
            if let Some(frontier) = &mut writer.frontier {
                frontier.observe(change);
            }
        }
    }

    /// A writer's refresh: takes what other processes stored into its
    /// frontier, and the devices they recorded into its device list.
    fn refresh_writer(&mut self) -> Result<usize, ReplicaError> {
        let mut seen = 0;
        for env in self.store.envelopes_after(self.applied_pos)? {
            self.applied_pos = env.pos;
            let change = open_stored(&env.bytes, Kind::Change, &self.journal_id, &self.key)
                .and_then(|bytes| {
                    automerge::Change::from_bytes(bytes)
                        .map_err(|e| ReplicaError::Journal(e.into()))
                });
            match change {
                Ok(change) => {
                    self.observe(&change);
                    seen += 1;
                }
                Err(e) => {
                    tracing::warn!(pos = env.pos, error = %e, "skipped a stored envelope that does not open")
                }
            }
        }
        self.sync_members()?;
        Ok(seen)
    }

    /// The highest contiguous sequence held from each author.
    pub fn vector(&self) -> Result<VersionVector, ReplicaError> {
        Ok(self.store.vector()?)
    }

    /// What a peer whose vector is `theirs` lacks: the snapshot when the
    /// peer is behind what it covers (the envelopes it replaced are gone),
    /// then every envelope beyond the peer's vector and the snapshot, in
    /// the order this device received them.
    pub fn outgoing_for(&self, theirs: &VersionVector) -> Result<Outgoing, ReplicaError> {
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
    pub fn waiting_for(&self, theirs: &VersionVector) -> Result<u64, ReplicaError> {
        Ok(self
            .store
            .vector()?
            .lacks(theirs)
            .iter()
            .map(|(_, r)| r.end() - r.start() + 1)
            .sum())
    }

    /// True when the tail of envelopes beyond the snapshot is long enough
    /// to compact.
    pub fn wants_compaction(&self) -> Result<bool, ReplicaError> {
        Ok(self.store.envelope_count()? >= self.compact_after)
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
        self.whole_mut()?;
        self.refresh()?;
        let base = self.store.snapshot()?;
        let generation = base.as_ref().map_or(0, |s| s.generation);
        let mut before = base.map(|s| s.covers).unwrap_or_default();
        before.merge(extra);
        let covers = self.covered_from(before.clone())?;
        if covers == before && extra.is_empty() {
            return Ok(None);
        }
        let sealed = self.seal_snapshot(&covers)?;
        if !self.store.replace_snapshot(generation, &covers, &sealed)? {
            return Ok(None);
        }
        self.snapshot_generation = generation + 1;
        self.store.reclaim_space()?;
        Ok(Some(Compaction {
            covers,
            snapshot_bytes: sealed.len(),
            envelopes_left: self.store.envelope_count()?,
        }))
    }

    /// Extends `covers` over every stored envelope, in sequence, whose
    /// change the document already holds: what a snapshot of the document
    /// may truthfully claim.
    fn covered_from(&self, mut covers: VersionVector) -> Result<VersionVector, ReplicaError> {
        let journal = self.journal()?;
        for (author, seq, hash) in self.store.envelope_index()? {
            let held = covers.get(&author);
            if seq == held + 1 && journal.contains(&hash) {
                covers.set(author, seq);
            }
        }
        Ok(covers)
    }

    /// A sealed snapshot of everything this device holds, for a device
    /// that is joining: stored envelopes are applied first, and the vector
    /// it claims covers only what the document really contains.
    pub fn seal_current(&mut self) -> Result<Vec<u8>, ReplicaError> {
        self.whole_mut()?;
        self.refresh()?;
        let base = self.store.snapshot()?.map(|s| s.covers).unwrap_or_default();
        let covers = self.covered_from(base)?;
        self.seal_snapshot(&covers)
    }

    /// Seals the whole current document as a snapshot covering `covers`,
    /// which must describe what the document holds (see `seal_current`).
    pub fn seal_snapshot(&self, covers: &VersionVector) -> Result<Vec<u8>, ReplicaError> {
        Ok(envelope::seal(
            &self.journal_id,
            &self.device,
            &Body::Snapshot {
                covers: covers.clone(),
            },
            &self.key.recipient(),
            &self.journal()?.save(),
        )?)
    }

    /// Brings the device list up to date (from the document, and from what
    /// other processes recorded) and copies it into the store's member
    /// table, the list envelopes are verified against. Records the sealed
    /// device list, and the first change, for writer replicas.
    fn sync_members(&mut self) -> Result<(), ReplicaError> {
        let mut roster = match &self.doc {
            Doc::Whole(journal) => journal.devices(),
            Doc::Writer(_) => self.roster.clone(),
        };
        let stored = read_roster(&self.store, &self.key)?;
        let stored_complete = stored
            .as_ref()
            .is_some_and(|s| roster.iter().all(|d| s.contains(d)));
        merge_roster(&mut roster, stored.unwrap_or_default());
        self.roster = roster;
        for record in &self.roster {
            if let Some(id) = DeviceId::from_text(&record.id) {
                if self.members.insert(id) {
                    self.store.add_member(&id)?;
                }
            }
        }
        if !stored_complete {
            let json = serde_json::to_vec(&self.roster).map_err(|_| ReplicaError::BadRecord)?;
            self.store
                .set_record(ROSTER, &seal_record(&self.key, &json)?)?;
        }
        if let Doc::Whole(journal) = &self.doc {
            if self.store.record(BASE)?.is_none() {
                if let Some(base) = journal.base_change() {
                    self.store
                        .set_record(BASE, &seal_record(&self.key, &base)?)?;
                }
            }
        }
        Ok(())
    }

    /// Takes in device records from a change this replica stored.
    fn learn_devices(&mut self, records: Vec<DeviceRecord>) -> Result<(), ReplicaError> {
        merge_roster(&mut self.roster, records);
        self.sync_members()
    }
}

/// Adds to `roster` the devices of `more` it lacks. Devices are only ever
/// added to a journal, so a union never loses one.
fn merge_roster(roster: &mut Vec<DeviceRecord>, more: Vec<DeviceRecord>) {
    for record in more {
        if !roster.iter().any(|d| d.id == record.id) {
            roster.push(record);
        }
    }
    roster.sort_by(|a, b| a.added_at.cmp(&b.added_at).then_with(|| a.id.cmp(&b.id)));
}

fn read_roster(store: &Store, key: &JournalKey) -> Result<Option<Vec<DeviceRecord>>, ReplicaError> {
    let Some(sealed) = store.record(ROSTER)? else {
        return Ok(None);
    };
    let json = open_record(key, &sealed)?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|_| ReplicaError::BadRecord)
}

/// Encrypts a record kept beside the journal in the store (the device
/// list, the first change) with the journal key.
fn seal_record(key: &JournalKey, bytes: &[u8]) -> Result<Vec<u8>, ReplicaError> {
    age::encrypt(&key.recipient(), bytes).map_err(|e| SealError::Encrypt(e).into())
}

fn open_record(key: &JournalKey, sealed: &[u8]) -> Result<Vec<u8>, ReplicaError> {
    if !sealed.starts_with(b"age-encryption.org/") {
        return Err(ReplicaError::BadRecord);
    }
    age::decrypt(key.identity(), sealed).map_err(|_| ReplicaError::BadRecord)
}

/// Opens an envelope from this device's own store. Its signature was
/// checked when it arrived; age's authenticated decryption still catches
/// any damage on disk.
fn open_stored(
    bytes: &[u8],
    kind: Kind,
    journal: &JournalId,
    key: &JournalKey,
) -> Result<Vec<u8>, ReplicaError> {
    let sealed = envelope::decode(bytes).map_err(ReplicaError::StoredEnvelope)?;
    if sealed.kind() != kind || &sealed.journal != journal {
        return Err(ReplicaError::StoredEnvelope(OpenError::WrongJournal));
    }
    sealed.decrypt(key).map_err(ReplicaError::StoredEnvelope)
}

#[cfg(test)]
mod tests;
