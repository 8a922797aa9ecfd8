//! What a device that holds the journal key adds to its ledger: it opens
//! what it receives, checks each change against the device list before
//! anything is stored, learns the devices changes add, and seals its own
//! changes and snapshots.

use crate::envelope::{self, Body, Kind, OpenError, SealError};
use crate::ids::{DeviceId, JournalId};
use crate::journal::{
    check_packed, Author, Checked, Commit, DeviceRecord, People, Schema, CLOCK_TOLERANCE_MS,
};
use crate::keys::{DeviceKey, JournalKey};
use crate::store::{Heal, Store, StoreError, StoredEnvelope, Tip};
use crate::vv::VersionVector;

use super::records::{set_aside_if_damaged, RecordError, ROSTER};
use super::roster::Roster;
use super::{Ledger, ReceiveError, Verified, VerifiedSnapshot};

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error("a stored envelope does not open")]
    StoredEnvelope(#[source] OpenError),
    #[error("this device is not in the journal's device list")]
    NotAMember,
    #[error("the store belongs to another device than the key")]
    KeyMismatch,
}

/// A change envelope that passed every check, opened: ready to be stored
/// and applied.
pub struct Incoming<'a> {
    verified: Verified<'a>,
    pub change: automerge::Change,
    /// The device records the change makes and the latest time it carries.
    checked: Checked,
    /// A removed device's envelope after its cut, taken in because it
    /// removes a device that removed it (see [`Member::check`]).
    counter: bool,
}

impl Incoming<'_> {
    pub fn author(&self) -> DeviceId {
        self.verified.author
    }

    pub fn seq(&self) -> u64 {
        self.verified.seq
    }
}

/// Sequence numbers from here on are never taken as a peer's holding of
/// this device's changes (a device writing a change a second would need
/// millions of years to reach them).
pub const MAX_BELIEVED_SEQ: u64 = 1 << 40;

/// What a device writes on its own to follow removals it learned
/// (`docs/protocol.md`, Concurrent removals): removal records, marked as
/// following, that raise each removed device's cut to what this device
/// already took in from it, and that carry a new key epoch kept from
/// every removed device.
pub struct FollowUp {
    /// The devices and cuts recorded.
    pub devices: Vec<(DeviceId, u64)>,
    pub epoch: NewEpoch,
}

/// A fresh key epoch, sealed to the devices that stay.
pub struct NewEpoch {
    pub number: u32,
    pub key_id: u32,
    /// The epoch's key in age's identity-file form, age-encrypted to
    /// every device that stays.
    pub keys: Vec<u8>,
    /// Every device the key is kept from.
    pub without: Vec<DeviceId>,
}

impl FollowUp {
    /// The record to write, at `at`.
    pub fn record(&self, at: i64) -> crate::journal::RemovalRecord<'_> {
        self.epoch.record(true, at)
    }
}

impl NewEpoch {
    /// A removal record carrying this epoch.
    pub fn record(&self, follows: bool, at: i64) -> crate::journal::RemovalRecord<'_> {
        crate::journal::RemovalRecord {
            epoch: (self.number, self.key_id),
            keys: &self.keys,
            without: &self.without,
            follows,
            at,
        }
    }
}

pub struct Member {
    ledger: Ledger,
    device: DeviceKey,
    key: JournalKey,
    roster: Roster,
    schema: Schema,
    /// The sealed list in the store as last read or written, and what it
    /// held, so that an unchanged record is not decrypted again.
    sealed_seen: Option<Vec<u8>>,
    stored: Roster,
    /// Whether a peer confirmed this device's own changes, or this device
    /// healed another history of them, since this member was opened.
    confirmed_here: bool,
    healed_here: bool,
    /// The sealed epochs record as last read.
    epochs_seen: Option<Vec<u8>>,
}

impl Member {
    /// A member over `ledger`. `known` is the device list as the caller
    /// knows it (from the document, or empty); the list sealed in the
    /// store is merged in, and the union is what envelopes verify against.
    pub fn new(
        ledger: Ledger,
        device: DeviceKey,
        key: JournalKey,
        known: Roster,
        schema: Schema,
    ) -> Result<Self, MemberError> {
        if ledger.device_id() != device.id() {
            return Err(MemberError::KeyMismatch);
        }
        let mut key = key;
        super::records::read_epochs(ledger.store(), &device, &mut key)?;
        let mut member = Self {
            ledger,
            device,
            key,
            roster: Roster::default(),
            schema,
            sealed_seen: None,
            stored: Roster::default(),
            confirmed_here: false,
            healed_here: false,
            epochs_seen: None,
        };
        member.learn(known.devices().to_vec())?;
        member.choose_sealing()?;
        member.vouch();
        Ok(member)
    }

    /// Signs, as this device, every fact of the device list it has not
    /// stated yet: each device is a member, each removed device's cut
    /// (`ledger/statements.rs`), for devices without the journal key. A
    /// store that cannot be written (a read-only disk) only loses the
    /// statements until the next try.
    pub fn vouch(&self) -> usize {
        match self.try_vouch() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record this device's statements of the device list; trying again later");
                0
            }
        }
    }

    fn try_vouch(&self) -> Result<usize, StoreError> {
        use super::statements::{Claim, Role, Statement};
        let me = self.device.id();
        if !self.ledger.is_current_member(&me) {
            return Ok(0);
        }
        let store = self.ledger.store();
        let journal = self.ledger.journal_id();
        let now = now_ms();
        let mut made = 0;
        for record in self.roster.devices() {
            let Some(device) = DeviceId::from_text(&record.id) else {
                continue;
            };
            if !store.stated_by(&device, &me)?.0 {
                let role = if record.is_mirror() {
                    Role::Mirror
                } else {
                    Role::Device
                };
                let s = Statement::sign(journal, device, &self.device, now, Claim::Admit { role });
                made += usize::from(store.add_statement(&s)?);
            }
        }
        for (device, cut) in self.ledger.removed() {
            if store.stated_by(device, &me)?.1.is_none_or(|c| c < *cut) {
                let s = Statement::sign(
                    journal,
                    *device,
                    &self.device,
                    now,
                    Claim::Remove { cut: *cut },
                );
                made += usize::from(store.add_statement(&s)?);
            }
        }
        Ok(made)
    }

    pub fn into_parts(self) -> (Store, DeviceKey, JournalKey) {
        (self.ledger.into_store(), self.device, self.key)
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn device_key(&self) -> &DeviceKey {
        &self.device
    }

    pub fn journal_key(&self) -> &JournalKey {
        &self.key
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The person and device writing from here.
    pub fn author(&self) -> Result<Author, MemberError> {
        let me = self.device.id();
        let person = self.roster.person_of(&me).ok_or(MemberError::NotAMember)?;
        Ok(Author {
            person: person.to_string(),
            device: me,
        })
    }

    /// Takes devices into the list (and the membership), with those that
    /// other processes on this device recorded in the store's sealed list,
    /// and keeps that sealed list a superset. True if any device was new.
    pub fn learn(&mut self, records: Vec<DeviceRecord>) -> Result<bool, MemberError> {
        let mut added = self.roster.merge(records);
        let mut raw = self.ledger.store().record(ROSTER)?;
        if raw != self.sealed_seen {
            if let Some(sealed) = &raw {
                match Roster::open(sealed, &self.key) {
                    Ok(stored) => {
                        self.stored = stored;
                        added |= self.roster.merge(self.stored.devices().to_vec());
                    }
                    Err(e) => {
                        // Damaged where it lies: set aside, and sealed
                        // again below from the list this member holds.
                        set_aside_if_damaged(self.ledger.store(), &self.key, ROSTER, e)?;
                        self.stored = Roster::default();
                        raw = None;
                    }
                }
            }
            self.sealed_seen = raw;
        }
        if self.ledger.add_members(self.roster.ids())? {
            self.vouch();
        }
        if !self.stored.covers(&self.roster) {
            let sealed = self.roster.seal(&self.key)?;
            self.ledger.store().set_record(ROSTER, &sealed)?;
            self.stored = self.roster.clone();
            self.sealed_seen = Some(sealed);
        }
        Ok(added)
    }

    /// Takes in removals (from the journal, or a change that records
    /// them): the removed devices and their cuts go to the ledger, and the
    /// new key epochs this device can open (those sealed to it: it stays)
    /// join its journal key, kept in the store. True if anything was new.
    pub fn learn_removals(
        &mut self,
        removals: &[crate::journal::Removal],
    ) -> Result<bool, MemberError> {
        if removals.is_empty() {
            return Ok(false);
        }
        let cuts: Vec<(DeviceId, u64)> = removals
            .iter()
            .filter_map(|r| Some((DeviceId::from_text(&r.device)?, r.cut)))
            .collect();
        let mut changed = self.ledger.remove_members(cuts)?;
        // Only reads when nothing is new: a journal with removals opens
        // on a read-only disk as well as any.
        for removal in removals {
            let Some(device) = DeviceId::from_text(&removal.device) else {
                continue;
            };
            if self.ledger.store().removed_by(&device)?.is_none() {
                self.ledger
                    .store()
                    .note_remover(&device, &removal.by, removal.at)?;
            }
        }
        for removal in removals.iter().filter(|r| !r.follows) {
            let removed = DeviceId::from_text(&removal.device);
            if let (Some(device), Some(by)) = (removed, DeviceId::from_text(&removal.by)) {
                changed |= self.ledger.add_remover(device, by)?;
            }
        }
        let mut new_epoch = false;
        for removal in removals {
            if let Some(epochs) = crate::keys::open_sealed_epochs(&self.device, &removal.keys) {
                new_epoch |= self.key.merge(&epochs);
            }
            // The record states its epoch's number, whoever handed the key.
            if let Some(id) = removal.key_id {
                new_epoch |= self.key.set_number(id, removal.epoch);
                changed |= self
                    .ledger
                    .store()
                    .add_kept_from(id, &removal.kept_from())?;
            }
        }
        if new_epoch {
            super::records::write_epochs(self.ledger.store(), &self.device, &self.key)?;
            changed = true;
        }
        if changed {
            self.choose_sealing()?;
            self.vouch();
        }
        Ok(changed)
    }

    /// Seals new content, from now on, to the newest key epoch that every
    /// removed device is kept from. Returns false when no epoch this
    /// device holds is (a follow-up starts one: [`Member::follow_up`]);
    /// content is then sealed to the newest, and only a follow-up is
    /// written.
    fn choose_sealing(&mut self) -> Result<bool, StoreError> {
        let clean = self.clean_epoch()?;
        self.key.seal_with(clean);
        Ok(clean.is_some())
    }

    /// The key id of the newest epoch no removed device holds.
    fn clean_epoch(&self) -> Result<Option<u32>, StoreError> {
        let removed = self.ledger.removed();
        let newest = self.key.epoch_ids().last().map(|(_, id)| *id);
        if removed.is_empty() {
            return Ok(newest);
        }
        let kept = self.ledger.store().kept_from()?;
        Ok(self
            .key
            .epoch_ids()
            .into_iter()
            .rev()
            .map(|(_, id)| id)
            .find(|id| {
                kept.get(id)
                    .is_some_and(|from| removed.keys().all(|d| from.contains(d)))
            }))
    }

    /// A fresh key epoch, numbered after every one this device holds,
    /// sealed to every current member but `also_without` and kept from
    /// every removed device and `also_without`. `None` when no device
    /// would stay.
    pub fn new_epoch(&self, also_without: &[DeviceId]) -> Option<NewEpoch> {
        let mut without: Vec<DeviceId> = self.ledger.removed().keys().copied().collect();
        without.extend(also_without.iter().copied());
        without.sort();
        without.dedup();
        // A mirror holds no key, of any epoch.
        let staying: Vec<age::x25519::Recipient> = self
            .roster
            .devices()
            .iter()
            .filter(|d| !d.is_mirror())
            .filter_map(|d| DeviceId::from_text(&d.id))
            .filter(|d| !without.contains(d) && self.ledger.is_current_member(d))
            .filter_map(|d| crate::keys::device_recipient(&d))
            .collect();
        let number = self.key.epochs().into_iter().max().unwrap_or(0) + 1;
        let epoch = JournalKey::new_epoch(number);
        let key_id = epoch.epoch().1;
        let keys = crate::keys::seal_to_devices(&staying, epoch.to_secret_text().as_bytes())?;
        Some(NewEpoch {
            number,
            key_id,
            keys,
            without,
        })
    }

    /// What this device should write on its own to follow the removals it
    /// learned, if anything: for each removed device, the cut raised to
    /// what this device holds of it beyond its recorded cut (what it took
    /// in before it learned of the removal stands, everywhere), and a new
    /// epoch when no epoch it holds is kept from every removed device (two
    /// devices that removed each other each made one the other holds).
    /// Nothing on a removed device.
    pub fn follow_up(&self) -> Result<Option<FollowUp>, MemberError> {
        let me = self.device.id();
        let removed = self.ledger.removed();
        if removed.is_empty() || !self.ledger.is_current_member(&me) {
            return Ok(None);
        }
        let vector = self.ledger.vector()?;
        let mut devices: Vec<(DeviceId, u64)> = removed
            .iter()
            .filter(|(d, cut)| vector.get(d) > **cut)
            .map(|(d, _)| (*d, vector.get(d)))
            .collect();
        let clean = self.clean_epoch()?.is_some();
        if devices.is_empty() && clean {
            return Ok(None);
        }
        if devices.is_empty() {
            // A record is what carries an epoch: one for the removed
            // device first in order, at the cut it has.
            if let Some((d, cut)) = removed.iter().min_by_key(|(d, _)| **d) {
                devices.push((*d, *cut));
            }
        }
        devices.sort();
        let Some(epoch) = self.new_epoch(&[]) else {
            return Ok(None);
        };
        Ok(Some(FollowUp { devices, epoch }))
    }

    /// Every key epoch this device holds, sealed to `device`'s own key,
    /// for a current member that lacks some (`SyncRequest::Keys`); `None`
    /// for any other device.
    pub fn keys_sealed_to(&self, device: &DeviceId) -> Option<Vec<u8>> {
        let record = self.roster.record(device)?;
        if !self.ledger.is_current_member(device) || record.is_mirror() {
            return None;
        }
        let recipient = crate::keys::device_recipient(device)?;
        crate::keys::seal_to_devices(&[recipient], self.key.to_secret_text().as_bytes())
    }

    /// Takes in, of the key epochs a member sealed to this device, those
    /// whose ids are in `wanted` (epochs of envelopes it holds and cannot
    /// open): a member cannot slip in a key nobody uses, for this device
    /// to seal to. Returns the ids taken.
    pub fn take_keys(&mut self, sealed: &[u8], wanted: &[u32]) -> Result<Vec<u32>, MemberError> {
        let Some(epochs) = crate::keys::open_sealed_epochs(&self.device, sealed) else {
            return Ok(Vec::new());
        };
        let taken = self.key.merge_only(&epochs, wanted);
        if !taken.is_empty() {
            super::records::write_epochs(self.ledger.store(), &self.device, &self.key)?;
            self.choose_sealing()?;
        }
        Ok(taken)
    }

    /// On a removed device: its own envelopes that a member must see for
    /// the removal to be settled the same way everywhere, counter-removals
    /// first (changes after its cut that remove a device that removed it),
    /// then every other one of its envelopes after its cut up to the last
    /// of them. Empty when it wrote no counter-removal. A member takes
    /// them in, and nothing else a removed device sends
    /// (`Member::check`).
    pub fn counter_removals(&self) -> Result<Vec<Vec<u8>>, MemberError> {
        let me = self.device.id();
        let Some(cut) = self.ledger.removed().get(&me).copied() else {
            return Ok(Vec::new());
        };
        let store = self.ledger.store();
        let own = store.envelopes_of(&me, cut + 1, store.own_top(&me)?)?;
        let mut counters = Vec::new();
        let mut last = None;
        for env in &own {
            let Ok(payload) = self.open_stored(env) else {
                continue;
            };
            let Ok(change) = automerge::Change::from_bytes(payload) else {
                continue;
            };
            let Ok(checked) = self.schema.inspect(&change, &me, &self.roster, now_ms()) else {
                continue;
            };
            if self.is_counter_removal(&me, &checked) {
                counters.push(env.bytes.clone());
                last = Some(env.seq);
            }
        }
        let Some(last) = last else {
            return Ok(Vec::new());
        };
        let rest = own
            .into_iter()
            .filter(|e| e.seq <= last && !counters.contains(&e.bytes))
            .map(|e| e.bytes);
        Ok(counters.iter().cloned().chain(rest).collect())
    }

    /// Keeps `envelope`, which recorded `removals`, for each removed
    /// device (see `Store::keep_removal_envelope`).
    pub fn keep_removal_envelopes(
        &self,
        removals: &[crate::journal::Removal],
        envelope: &[u8],
    ) -> Result<(), MemberError> {
        for removal in removals {
            if let Some(device) = DeviceId::from_text(&removal.device) {
                self.ledger
                    .store()
                    .keep_removal_envelope(&device, envelope)?;
            }
        }
        Ok(())
    }

    /// Takes in the key epochs and removals another process on this
    /// device recorded (a whole-journal job that merged a snapshot, the
    /// CLI): a writer must never seal to an epoch a removed device holds.
    pub fn reload_membership(&mut self) -> Result<bool, MemberError> {
        let raw = self.ledger.store().record(super::records::EPOCHS)?;
        let mut changed = false;
        if raw != self.epochs_seen {
            changed |=
                super::records::read_epochs(self.ledger.store(), &self.device, &mut self.key)?;
            self.epochs_seen = raw;
        }
        changed |= self.ledger.reload_removed()?;
        if changed {
            self.choose_sealing()?;
        }
        Ok(changed)
    }

    /// Devices recorded in the journal that this device has not yet told
    /// its person about; they are marked as told.
    pub fn take_new_devices(&mut self) -> Result<Vec<DeviceRecord>, MemberError> {
        let store = self.ledger.store();
        let seen = store.seen_devices()?;
        let new: Vec<DeviceRecord> = self
            .roster
            .devices()
            .iter()
            .filter(|d| DeviceId::from_text(&d.id).is_some_and(|id| !seen.contains(&id)))
            .cloned()
            .collect();
        let ids: Vec<DeviceId> = new
            .iter()
            .filter_map(|d| DeviceId::from_text(&d.id))
            .collect();
        store.mark_seen(&ids)?;
        Ok(new)
    }

    /// Every check of a change envelope from a peer, up to the opened
    /// change: the ledger's, then decryption, then what the change does
    /// against the journal's schema and the signer's entry in the device
    /// list (`journal/schema.rs`).
    ///
    /// An envelope of a removed device numbered after its cut is refused,
    /// with one exception: a counter-removal, a change that removes a
    /// device that decided to remove its author. Two devices that removed
    /// each other while apart both stay removed, on every device, in
    /// whatever order their removals arrive (`docs/protocol.md`,
    /// Concurrent removals).
    pub fn check<'a>(&self, bytes: &'a [u8]) -> Result<Incoming<'a>, ReceiveError> {
        let (verified, past_cut) = self.ledger.verify_past_cut(bytes)?;
        let removed = ReceiveError::Removed {
            author: verified.author,
            seq: verified.seq,
        };
        let payload = match verified.decrypt(&self.key) {
            Ok(payload) => payload,
            Err(_) if past_cut => return Err(removed),
            Err(e) => return Err(e.into()),
        };
        let opened = open_change(
            payload,
            &verified.author,
            &self.schema,
            &self.roster,
            now_ms(),
        );
        let (change, checked) = match opened {
            Ok(opened) => opened,
            Err(_) if past_cut => return Err(removed),
            Err(e) => return Err(e),
        };
        if past_cut && !self.is_counter_removal(&verified.author, &checked) {
            return Err(removed);
        }
        Ok(Incoming {
            verified,
            change,
            checked,
            counter: past_cut,
        })
    }

    /// True when `checked`, written by `author`, removes a device that
    /// decided to remove `author`.
    fn is_counter_removal(&self, author: &DeviceId, checked: &Checked) -> bool {
        checked.removals.iter().any(|r| {
            !r.follows
                && DeviceId::from_text(&r.device)
                    .is_some_and(|target| self.ledger.removed_by(author, &target))
        })
    }

    /// Stores a checked envelope and takes in the devices it adds, whose
    /// envelopes verify from then on. Returns its position in the store.
    pub fn accept(&mut self, incoming: Incoming<'_>) -> Result<i64, ReceiveError> {
        let hash = incoming.change.hash().0;
        let pos = self
            .ledger
            .store_verified(&incoming.verified, Some(&hash))?;
        if incoming.counter {
            // What its author wrote up to it stands, like what it wrote
            // before its cut.
            self.ledger
                .remove_members([(incoming.verified.author, incoming.verified.seq)])
                .map_err(ReceiveError::local)?;
        }
        let now = now_ms();
        if incoming.checked.latest > now.saturating_add(CLOCK_TOLERANCE_MS) {
            self.ledger.store().record_arrival(&hash, now)?;
        }
        if !incoming.checked.records.is_empty() {
            self.learn(incoming.checked.records)
                .map_err(ReceiveError::local)?;
        }
        self.learn_removals(&incoming.checked.removals)
            .map_err(ReceiveError::local)?;
        self.keep_removal_envelopes(&incoming.checked.removals, incoming.verified.bytes)
            .map_err(ReceiveError::local)?;
        Ok(pos)
    }

    /// Seals one of this device's own changes and stores it durably under
    /// its next sequence number; `made` are the device records it makes.
    /// Returns its position in the store.
    pub fn commit(&mut self, commit: &Commit, made: Checked) -> Result<i64, MemberError> {
        let journal = self.ledger.journal_id();
        let (device, key) = (&self.device, &self.key);
        let pos = self.ledger.insert_local(&commit.hash, |seq, link| {
            envelope::seal_to(
                &journal,
                device,
                &Body::Change { seq, link },
                key,
                &commit.bytes,
            )
        })??;
        if !made.records.is_empty() {
            self.learn(made.records)?;
        }
        self.learn_removals(&made.removals)?;
        Ok(pos)
    }

    /// Compares what a peer holds of this device's own changes (`theirs`,
    /// from its tips) with what this device holds. When they agree, the
    /// peer's tip is noted as confirmed. When the peer holds more of them,
    /// or another change under a number this device used, this home was
    /// restored or copied (`store/chain.rs`): this device's own envelopes
    /// past what a peer confirmed are sealed again after the peer's tip,
    /// and the numbers in between are left for the peer's to fill.
    /// Returns the heal, if one was needed.
    pub fn heal_own(&mut self, theirs: Tip) -> Result<Option<Heal>, MemberError> {
        let me = self.device.id();
        // A claim no device could reach is a lie, not a restore: it must
        // not push this device's numbers to where they overflow.
        if theirs.author != me || theirs.seq >= MAX_BELIEVED_SEQ {
            return Ok(None);
        }
        let store = self.ledger.store();
        let top = store.own_top(&me)?;
        let mine = if theirs.seq <= top {
            store.own_link_at(theirs.seq)?
        } else {
            None
        };
        let differs = mine.is_some_and(|l| l != theirs.link);
        if theirs.seq <= top && !differs {
            if mine.is_some() {
                store.confirm_own(theirs.seq)?;
                self.confirmed_here = true;
            }
            return Ok(None);
        }
        // What this device's own snapshot covers cannot be given up.
        let floor = store.snapshot_covers()?.get(&me);
        let mut keep = store.own_confirmed()?.min(top);
        if differs {
            keep = keep.min(theirs.seq - 1);
        }
        let keep = keep.max(floor);
        if differs && keep >= theirs.seq {
            tracing::warn!(
                seq = theirs.seq,
                "a peer holds another history of this device's changes from before its snapshot; it cannot be healed here"
            );
            return Ok(None);
        }
        let mut changes = Vec::new();
        for env in store.envelopes_of(&me, keep + 1, i64::MAX as u64)? {
            match self.open_stored(&env) {
                Ok(change) => {
                    let hash = match env.hash {
                        Some(hash) => hash,
                        None => automerge::Change::from_bytes(change.clone())
                            .map(|c| c.hash().0)
                            .map_err(|_| {
                                MemberError::StoredEnvelope(OpenError::MalformedHeader(
                                    "own change",
                                ))
                            })?,
                    };
                    changes.push((hash, change));
                }
                Err(e) => {
                    tracing::warn!(seq = env.seq, error = %e, "an own envelope to seal again does not open; it is left out");
                }
            }
        }
        if changes.is_empty() && keep == top && self.healed_here {
            return Ok(None);
        }
        let copy = self.confirmed_here;
        let journal = self.ledger.journal_id();
        let (device, key) = (&self.device, &self.key);
        let heal = self.ledger.store_mut().reseal_own(
            &me,
            keep,
            theirs.seq,
            theirs.link,
            &changes,
            copy,
            now_ms(),
            |seq, link, change| {
                envelope::seal_to(&journal, device, &Body::Change { seq, link }, key, change)
            },
        )??;
        self.healed_here = true;
        Ok(Some(heal))
    }

    /// Opens an envelope from this device's own store.
    pub fn open_stored(&self, envelope: &StoredEnvelope) -> Result<Vec<u8>, MemberError> {
        open_own(
            &envelope.bytes,
            Kind::Change,
            &self.ledger.journal_id(),
            &self.key,
        )
    }

    /// Opens the snapshot held in this device's own store.
    pub fn open_stored_snapshot(&self, bytes: &[u8]) -> Result<Vec<u8>, MemberError> {
        open_own(bytes, Kind::Snapshot, &self.ledger.journal_id(), &self.key)
    }

    /// Verifies and opens a snapshot from a peer.
    pub fn open_snapshot<'a>(
        &self,
        bytes: &'a [u8],
    ) -> Result<(VerifiedSnapshot<'a>, Vec<u8>), ReceiveError> {
        let snapshot = self.ledger.verify_snapshot(bytes)?;
        let payload = snapshot.decrypt(&self.key)?;
        Ok((snapshot, payload))
    }

    /// Seals a saved document as a snapshot covering `covers`, signed by
    /// this device.
    pub fn seal_snapshot(
        &self,
        covers: &VersionVector,
        saved: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        envelope::seal_to(
            &self.ledger.journal_id(),
            &self.device,
            &Body::Snapshot {
                covers: covers.clone(),
            },
            &self.key,
            saved,
        )
    }

    pub(crate) fn ledger_mut(&mut self) -> &mut Ledger {
        &mut self.ledger
    }
}

/// Opens an envelope or snapshot from this device's own store. Its
/// signature was checked when it arrived; age's authenticated decryption
/// still catches any damage on disk.
pub(crate) fn open_own(
    bytes: &[u8],
    kind: Kind,
    journal: &JournalId,
    key: &JournalKey,
) -> Result<Vec<u8>, MemberError> {
    let sealed = envelope::decode(bytes).map_err(MemberError::StoredEnvelope)?;
    if sealed.kind() != kind || &sealed.journal != journal {
        return Err(MemberError::StoredEnvelope(OpenError::WrongJournal));
    }
    sealed.decrypt(key).map_err(MemberError::StoredEnvelope)
}

/// A decrypted change payload, parsed and checked against the schema as
/// written by `author`: what every change a member takes in goes through,
/// in its own envelope or inside a snapshot.
pub(crate) fn open_change(
    payload: Vec<u8>,
    author: &DeviceId,
    schema: &Schema,
    people: &impl People,
    now: i64,
) -> Result<(automerge::Change, Checked), ReceiveError> {
    check_packed(&payload).map_err(ReceiveError::BadPayload)?;
    let change =
        automerge::Change::from_bytes(payload).map_err(|e| ReceiveError::BadPayload(e.into()))?;
    let checked = schema
        .inspect(&change, author, people, now)
        .map_err(|e| ReceiveError::BadPayload(e.into()))?;
    Ok((change, checked))
}

/// Now on this device's clock, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
