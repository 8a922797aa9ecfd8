//! The daemon's replica: a ledger, opened as a member, and the place in
//! history where its next change goes, without the journal document.
//!
//! A [`Writer`] holds the journal's first change and a [`Frontier`] (the
//! document's heads and highest op counter). It verifies, stores and
//! relays envelopes like any member, and it writes entries and device
//! records by drafting them on the first change alone and re-basing them
//! onto the frontier (`journal/frontier.rs`): the same change automerge
//! would have made with the whole document loaded. What needs the whole
//! document (reading, compacting, sealing or merging a snapshot) is done
//! by a [`Replica`](crate::replica::Replica), which also gives a writer
//! its starting point ([`Replica::writer_start`](crate::replica::Replica::writer_start)).

use automerge::ActorId;

use crate::ids::DeviceId;
use crate::index::Index;
use crate::journal::{
    actor_for, rebase, Author, Commit, DeviceRecord, Frontier, Journal, JournalError,
};
use crate::keys::{DeviceKey, JournalKey};
use crate::ledger::member::now_ms;
use crate::ledger::records::{self, BASE};
use crate::ledger::roster::Roster;
use crate::ledger::{Ledger, Member, ReceiveError};
use crate::replica::ReplicaError;
pub use crate::replica::Start;
use crate::store::{Heal, Store, Tip};

pub struct Writer {
    member: Member,
    /// The journal's first change, which every draft is made on.
    base: Vec<u8>,
    /// This session's automerge actor and its last sequence number: a
    /// fresh actor per session never repeats a sequence number.
    actor: ActorId,
    seq: u64,
    frontier: Frontier,
    /// Highest store position taken into the frontier.
    applied_pos: i64,
    /// The sealed read index, which gets the row of each entry written
    /// here (`crate::index`).
    index: Index,
}

impl Writer {
    /// Opens a writer over this device's store. It needs the sealed first
    /// change and device list that opening the whole journal records
    /// (`ReplicaError::Record` says which is missing otherwise).
    pub fn open(
        store: Store,
        device: DeviceKey,
        key: JournalKey,
        start: Start,
    ) -> Result<Self, ReplicaError> {
        let ledger = Ledger::open(store)?;
        let mut key = key;
        records::read_epochs(ledger.store(), &device, &mut key)?;
        let base = records::read(ledger.store(), &key, BASE)?
            .ok_or(ReplicaError::Missing("first change"))?;
        let schema = Journal::writer(&base)?.schema();
        let actor = actor_for(&device.id());
        let index = Index::new(&device, &ledger.journal_id());
        let member = Member::new(ledger, device, key, Roster::default(), schema)?;
        if member.roster().devices().is_empty() {
            return Err(ReplicaError::Missing("device list"));
        }
        let mut writer = Self {
            member,
            base,
            actor,
            seq: 0,
            frontier: Frontier::default(),
            applied_pos: 0,
            index,
        };
        writer.set_start(start)?;
        Ok(writer)
    }

    /// Moves the writer to `start` (the frontier a whole replica found
    /// after merging a snapshot, say), then takes in what was stored since.
    pub fn set_start(&mut self, start: Start) -> Result<usize, ReplicaError> {
        self.frontier = start.frontier;
        self.applied_pos = start.pos;
        self.refresh()
    }

    pub fn into_parts(self) -> (Store, DeviceKey, JournalKey) {
        self.member.into_parts()
    }

    pub fn ledger(&self) -> &Ledger {
        self.member.ledger()
    }

    /// This device as a member: what it opens and checks with the
    /// journal key (`Member::tally_waiting`, say).
    pub fn member(&self) -> &Member {
        &self.member
    }

    pub fn store(&self) -> &Store {
        self.member.ledger().store()
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

    /// The journal's devices, oldest first.
    pub fn devices(&self) -> &[DeviceRecord] {
        self.member.roster().devices()
    }

    /// The sealed read index's keys (`crate::index`).
    pub fn index(&self) -> &Index {
        &self.index
    }

    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Makes one change and stores it durably. `write` gets a journal of
    /// the first change only: it can add an entry or a device record, not
    /// read or edit entries (those need the whole document).
    ///
    /// Removals this device learned are followed first
    /// ([`Writer::follow_removals`]), so the write is never sealed to an
    /// epoch a removed device holds.
    pub fn commit<T>(
        &mut self,
        write: impl FnOnce(&mut Journal, &Author) -> Result<(T, Commit), JournalError>,
    ) -> Result<T, ReplicaError> {
        self.follow_removals(now_ms())?;
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
        let author = self.member.author()?;
        let mut scratch = Journal::writer(&self.base)?;
        let (value, draft) = write(&mut scratch, &author)?;
        let draft = automerge::Change::from_bytes(draft.bytes).map_err(JournalError::from)?;
        let change = rebase(&draft, &self.actor, self.seq + 1, &self.frontier)?;
        // The devices this write records come from the change itself.
        let made = self
            .member
            .schema()
            .inspect(&change, &author.device, self.member.roster(), now_ms())
            .map_err(JournalError::from)?;
        let commit = Commit {
            hash: change.hash().0,
            bytes: change.raw_bytes().to_vec(),
        };
        let before = self.start();
        let pos = self.member.commit(&commit, made)?;
        self.seq += 1;
        self.frontier.observe(&change);
        if pos == self.applied_pos + 1 {
            self.applied_pos = pos;
        }
        self.keep_index(&scratch, &change, &before);
        Ok(value)
    }

    /// Where this writer stands: its frontier, as of the store position
    /// it has taken in.
    pub fn start(&self) -> Start {
        Start {
            frontier: self.frontier.clone(),
            pos: self.applied_pos,
        }
    }

    /// Puts the rows of the entries `change` made into the read index
    /// (when it was current before), and keeps where a writer starts
    /// next. Never fatal: the entry is stored; a stale index only means a
    /// read loads the document, which brings it current.
    fn keep_index(&self, draft: &Journal, change: &automerge::Change, before: &Start) {
        let after = self.start();
        // One transaction, so that `duet add` pays one synced write for
        // the index rather than one for the rows and one for the start.
        let kept = self.store().in_write_transaction(|store| {
            self.index
                .add_written(store, draft, change, before, &after)?;
            self.index.keep_start(store, &after)
        });
        if let Err(e) = kept {
            tracing::warn!(error = %e, "could not update the read index; reads load the whole journal until it is");
        }
    }

    /// Verifies and stores one change envelope from a peer, and takes it
    /// into the frontier. Returns its position in the store.
    pub fn receive_envelope(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError> {
        let incoming = self.member.check(bytes)?;
        let change = incoming.change.clone();
        let pos = self.member.accept(incoming)?;
        self.frontier.observe(&change);
        if pos == self.applied_pos + 1 {
            self.applied_pos = pos;
        }
        Ok(pos)
    }

    /// On a removed device, what it must hand a member so that removals
    /// settle the same way everywhere (`Member::counter_removals`).
    pub fn counter_removals(&self) -> Result<Vec<Vec<u8>>, ReplicaError> {
        Ok(self.member.counter_removals()?)
    }

    /// Keeps the device-list statements a peer sent that verify; the
    /// sealed list stays what this device trusts.
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

    /// Every key epoch, sealed to `device` if it is a current member.
    pub fn keys_sealed_to(&self, device: &DeviceId) -> Option<Vec<u8>> {
        self.member.keys_sealed_to(device)
    }

    /// Takes in the `wanted` key epochs a member sealed to this device.
    pub fn take_keys(&mut self, sealed: &[u8], wanted: &[u32]) -> Result<Vec<u32>, ReplicaError> {
        Ok(self.member.take_keys(sealed, wanted)?)
    }

    /// Heals a restored or copied home from what a peer holds of this
    /// device's own changes (`Member::heal_own`). The frontier is
    /// unchanged: only envelopes move.
    pub fn heal_own(&mut self, theirs: Tip) -> Result<Option<Heal>, ReceiveError> {
        self.member.heal_own(theirs).map_err(ReceiveError::local)
    }

    /// Takes what other processes stored since into the frontier, and the
    /// devices they recorded into the device list. Returns how many
    /// envelopes were new to it.
    pub fn refresh(&mut self) -> Result<usize, ReplicaError> {
        self.member.reload_membership()?;
        let mut seen = 0;
        let mut made = Vec::new();
        let mut removals = Vec::new();
        let mut pending_envelopes = Vec::new();
        for env in self.ledger().stored_after(self.applied_pos)? {
            self.applied_pos = env.pos;
            let change = self
                .member
                .open_stored(&env)
                .map_err(ReplicaError::from)
                .and_then(|bytes| {
                    automerge::Change::from_bytes(bytes)
                        .map_err(|e| ReplicaError::from(JournalError::from(e)))
                });
            match change {
                Ok(change) => {
                    let roster = self.member.roster();
                    if let Ok(checked) =
                        self.member
                            .schema()
                            .inspect(&change, &env.author, roster, now_ms())
                    {
                        made.extend(checked.records);
                        if !checked.removals.is_empty() {
                            pending_envelopes.push((checked.removals.clone(), env.bytes.clone()));
                        }
                        removals.extend(checked.removals);
                    }
                    self.frontier.observe(&change);
                    seen += 1;
                }
                Err(e) => crate::replica::set_aside_or_warn(self.ledger(), &env, &e),
            }
        }
        self.member.learn(made)?;
        self.member.learn_removals(&removals)?;
        for (removals, envelope) in pending_envelopes {
            self.member.keep_removal_envelopes(&removals, &envelope)?;
        }
        Ok(seen)
    }
}

#[cfg(test)]
mod tests;
