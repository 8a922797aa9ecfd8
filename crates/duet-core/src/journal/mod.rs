//! The journal model: one automerge document holding entries and devices.
//!
//! ```text
//! root
//! ├─ "journal": { "id": str, "created": timestamp }
//! ├─ "devices": { <device id>: { person, name, added_by?, added_at } }
//! └─ "entries": { <created ms, 13 digits>-<entry id>: { person, device, created, edited?, kind,
//!                                tags: [str], mood?, prompt?, body: str,
//!                                reactions: { <emoji>: { <person>: timestamp } },
//!                                replies: { <reply id>: { person, device, created, body } },
//!                                heard: { <person>: timestamp }, deleted?,
//!                                imported?: { .. } } }       (see `import.rs`)
//! ```
//!
//! Bodies are scalar strings, not character-level text: an entry has one
//! author who edits it whole, and scalar strings load and apply an order of
//! magnitude faster (see the design brief). Two edits that cross become an
//! automerge conflict on `body`, which [`Entry::conflicts`] shows.
//!
//! Every write is one automerge transaction and yields one [`Commit`]: the
//! change's bytes, which the replica seals into an envelope.

mod entry;
mod frontier;
mod import;
pub mod input;
mod read;
mod removal;
mod replies;
mod rows;
mod schema;
mod tally;
mod waiting;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, Change, ObjId, ObjType, ReadDoc, ScalarValue, ROOT};

pub use entry::{
    DeviceRecord, Entry, EntryEdit, EntryKind, Filter, Heard, Imported, NewEntry, Origin, Reaction,
    Reply, UnknownKind, MIRROR_ROLE,
};
pub use frontier::{rebase, Frontier};
pub use import::batches;
pub use read::MIN_ID_PREFIX;
pub use removal::{Removal, RemovalRecord, MAX_REMOVAL_KEYS, REMOVED_PREFIX};
pub use replies::Target;
pub use rows::time_of_entry_key;
pub use schema::{
    check_packed, Breach, Checked, People, Schema, MAX_AHEAD_MS, MAX_CHANGE_BYTES, MAX_CHANGE_OPS,
    MIN_TIME_MS, RESERVED_NAMES,
};
pub use tally::Tally;

use crate::ids::{new_entry_id, DeviceId, JournalId};

/// Longest body accepted, in bytes. Far above any journal entry, well
/// below the envelope limit.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("no entry has the id `{0}`")]
    NoSuchEntry(String),
    #[error("`{0}` is too short to pick an entry: ids need at least {MIN_ID_PREFIX} characters")]
    ShortId(String),
    #[error("`{0}` is a word the journal keeps for itself; react to a reply with an emoji")]
    ReservedReaction(String),
    #[error("`{0}` matches {1} entries; type more of the id")]
    AmbiguousId(String, usize),
    #[error("the entry is empty; write something first")]
    EmptyBody,
    #[error("the entry is {0} bytes, over the {MAX_BODY_BYTES}-byte limit")]
    BodyTooLarge(usize),
    #[error("entry `{0}` was deleted")]
    Deleted(String),
    #[error("entry `{id}` was written by {owner}; only its author can change it (reply instead)")]
    NotYours { id: String, owner: String },
    #[error("entry `{0}` is yours; `heard` is for your partner's entries")]
    OwnEntry(String),
    #[error(transparent)]
    Breach(#[from] Breach),
    #[error("the journal document is missing its {0}")]
    Schema(&'static str),
    #[error("the change bytes are not an automerge change: {0}")]
    BadChange(#[from] automerge::LoadChangeError),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// Who is writing: the person and the device they write from.
#[derive(Clone, Debug)]
pub struct Author {
    pub person: String,
    pub device: DeviceId,
}

/// One local write, ready to seal: the automerge change and its hash.
#[derive(Clone, Debug)]
pub struct Commit {
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
}

/// How far ahead of this device's clock an entry's date may be and still
/// be listed by it: ten minutes, more than two clocks kept by NTP ever
/// differ. An entry dated further ahead is listed by when it arrived.
pub const CLOCK_TOLERANCE_MS: i64 = 10 * 60 * 1000;

/// The journal document. Plain state, no IO.
pub struct Journal {
    doc: Automerge,
    entries: ObjId,
    devices: ObjId,
    /// When changes dated ahead of this device's clock arrived, by change
    /// hash (kept in the store; see [`Journal::set_arrivals`]).
    arrivals: std::collections::HashMap<[u8; 32], i64>,
    /// Changes that did not apply when the journal was loaded: they wait
    /// for a dependency (`waiting.rs`).
    waiting: Vec<Change>,
}

impl Journal {
    /// A new journal whose first device is `first`. Returns the journal and
    /// its first commit.
    pub fn genesis(
        id: &JournalId,
        first: &DeviceRecord,
        now: i64,
    ) -> Result<(Self, Commit), JournalError> {
        let device = DeviceId::from_text(&first.id).ok_or(JournalError::Schema("device id"))?;
        let mut doc = Automerge::new().with_actor(actor_for(&device));
        let mut tx = doc.transaction();
        let meta = tx.put_object(ROOT, "journal", ObjType::Map)?;
        tx.put(&meta, "id", id.to_text())?;
        tx.put(&meta, "created", ScalarValue::Timestamp(now))?;
        let devices = tx.put_object(ROOT, "devices", ObjType::Map)?;
        let entries = tx.put_object(ROOT, "entries", ObjType::Map)?;
        write_device(&mut tx, &devices, first)?;
        tx.commit();
        let mut journal = Self {
            doc,
            entries,
            devices,
            arrivals: Default::default(),
            waiting: Vec::new(),
        };
        let commit = journal.last_commit()?;
        Ok((journal, commit))
    }

    /// Builds the journal from a saved document (if any) and changes.
    /// Changes that already are in the document are ignored; changes whose
    /// dependencies are missing wait inside automerge until they arrive.
    pub fn load(
        saved: Option<&[u8]>,
        changes: impl IntoIterator<Item = Vec<u8>>,
    ) -> Result<Self, JournalError> {
        let mut doc = match saved {
            Some(bytes) => load_trusted(bytes)?,
            None => Automerge::new(),
        };
        let changes = changes
            .into_iter()
            .map(Change::from_bytes)
            .collect::<Result<Vec<_>, _>>()?;
        doc.apply_changes(changes.clone())?;
        // Nearly always nothing waits, and this costs one look.
        let waiting: Vec<Change> = if doc.get_missing_deps(&[]).is_empty() {
            Vec::new()
        } else {
            changes
                .into_iter()
                .filter(|c| doc.get_change_by_hash(&c.hash()).is_none())
                .collect()
        };
        let mut journal = Self::for_session(doc)?;
        journal.keep_waiting(waiting);
        Ok(journal)
    }

    /// The journal over `doc`. It writes as an actor no device can sign
    /// for, until [`Journal::write_as`] names the device writing.
    fn for_session(mut doc: Automerge) -> Result<Self, JournalError> {
        doc.set_actor(ActorId::random());
        let entries = map_at_root(&doc, "entries")?;
        let devices = map_at_root(&doc, "devices")?;
        Ok(Self {
            doc,
            entries,
            devices,
            arrivals: Default::default(),
            waiting: Vec::new(),
        })
    }

    /// When changes dated ahead of this device's clock arrived here, by
    /// change hash: entries they made are listed by that time.
    pub fn set_arrivals(&mut self, arrivals: std::collections::HashMap<[u8; 32], i64>) {
        self.arrivals = arrivals;
    }

    /// Writes from here on as a fresh actor of `device` (see [`actor_for`]).
    pub fn write_as(&mut self, device: &DeviceId) {
        self.doc.set_actor(actor_for(device));
    }

    /// The journal's first change, which made the `devices` and `entries`
    /// maps, if it depends on nothing (as every duet journal's does): what
    /// [`Journal::writer`] starts from.
    pub fn base_change(&self) -> Option<Vec<u8>> {
        let hash = self.doc.hash_for_opid(&self.entries)?;
        if self.doc.hash_for_opid(&self.devices)? != hash {
            return None;
        }
        let change = self.doc.get_change_by_hash(&hash)?;
        change
            .deps()
            .is_empty()
            .then(|| change.raw_bytes().to_vec())
    }

    /// The hash of the journal's first change (see [`Journal::base_change`]).
    fn base_hash(&self) -> Option<automerge::ChangeHash> {
        let hash = self.doc.hash_for_opid(&self.entries)?;
        let change = self.doc.get_change_by_hash(&hash)?;
        change.deps().is_empty().then_some(hash)
    }

    /// The object at `key` of the root, if there is one.
    fn doc_get_root_obj(&self, key: &str) -> Option<ObjId> {
        match self.doc.get(ROOT, key) {
            Ok(Some((automerge::Value::Object(_), id))) => Some(id),
            _ => None,
        }
    }

    /// A journal holding only its first change (see
    /// [`Journal::base_change`]): enough to draft a new entry or device
    /// record without loading every entry. A write here depends on the
    /// first change alone; the replica re-bases it onto the whole
    /// document's heads before it is sealed (`frontier.rs`). It cannot
    /// read, edit or reply: those need the entries, which are not here.
    pub fn writer(base: &[u8]) -> Result<Self, JournalError> {
        let change = Change::from_bytes(base.to_vec())?;
        if !change.deps().is_empty() {
            return Err(JournalError::Schema("first change"));
        }
        let hash = change.hash();
        let mut doc = Automerge::new();
        doc.apply_changes([change])?;
        if doc.get_heads() != [hash] {
            return Err(JournalError::Schema("first change"));
        }
        Self::for_session(doc)
    }

    /// Applies one change received from a member; returns its hash.
    pub fn apply_change(&mut self, bytes: Vec<u8>) -> Result<[u8; 32], JournalError> {
        let change = Change::from_bytes(bytes)?;
        let hash = change.hash().0;
        self.doc.apply_changes([change])?;
        Ok(hash)
    }

    /// Merges a whole saved document (this device's own snapshot).
    pub fn merge_saved(&mut self, bytes: &[u8]) -> Result<(), JournalError> {
        let mut other = load_trusted(bytes)?;
        self.doc.merge(&mut other)?;
        Ok(())
    }

    /// Merges another journal (a peer's snapshot, once checked).
    pub fn merge(&mut self, other: &mut Journal) -> Result<(), JournalError> {
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// Every change the document holds: its hash and the device whose
    /// actor made it (`None` for an actor not made by [`actor_for`]).
    pub fn change_index(&self) -> Vec<([u8; 32], Option<DeviceId>)> {
        self.doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|meta| (meta.hash.0, device_of_actor(meta.actor.to_bytes())))
            .collect()
    }

    /// The change with this hash, if the document holds it.
    pub fn change(&self, hash: &[u8; 32]) -> Option<Change> {
        self.doc.get_change_by_hash(&automerge::ChangeHash(*hash))
    }

    /// True once the change with this hash is part of the document (not
    /// merely waiting for its dependencies).
    pub fn contains(&self, hash: &[u8; 32]) -> bool {
        self.doc
            .get_change_by_hash(&automerge::ChangeHash(*hash))
            .is_some()
    }

    /// The whole document, compressed, for a snapshot.
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// The journal id recorded in the document.
    pub fn journal_id(&self) -> Option<JournalId> {
        let (_, meta) = self.doc.get(ROOT, "journal").ok()??;
        let text = read::get_str(&self.doc, &meta, "id")?;
        JournalId::from_text(&text)
    }

    pub fn add_entry(
        &mut self,
        author: &Author,
        new: NewEntry,
        now: i64,
    ) -> Result<(String, Commit), JournalError> {
        check_body(&new.body)?;
        if let Some(prompt) = &new.prompt {
            check_body(prompt)?;
        }
        let id = new_entry_id();
        let mut tx = self.doc.transaction();
        let obj = tx.put_object(&self.entries, entry_key(now, &id), ObjType::Map)?;
        tx.put(&obj, "person", author.person.as_str())?;
        tx.put(&obj, "device", author.device.to_text())?;
        tx.put(&obj, "created", ScalarValue::Timestamp(now))?;
        tx.put(&obj, "kind", new.kind.as_str())?;
        let tags = tx.put_object(&obj, "tags", ObjType::List)?;
        for (i, tag) in new.tags.iter().enumerate() {
            tx.insert(&tags, i, tag.as_str())?;
        }
        if let Some(mood) = &new.mood {
            tx.put(&obj, "mood", mood.as_str())?;
        }
        if let Some(prompt) = &new.prompt {
            tx.put(&obj, "prompt", prompt.as_str())?;
        }
        tx.put(&obj, "body", new.body.as_str())?;
        tx.put_object(&obj, "reactions", ObjType::Map)?;
        tx.put_object(&obj, "replies", ObjType::Map)?;
        tx.put_object(&obj, "heard", ObjType::Map)?;
        tx.commit();
        Ok((id, self.last_commit()?))
    }

    pub fn edit_entry(
        &mut self,
        author: &Author,
        id: &str,
        edit: EntryEdit,
        now: i64,
    ) -> Result<Commit, JournalError> {
        if let Some(body) = &edit.body {
            check_body(body)?;
        }
        let obj = self.own_live_entry(author, id)?;
        let mut tx = self.doc.transaction();
        if let Some(body) = &edit.body {
            tx.put(&obj, "body", body.as_str())?;
        }
        if let Some(kind) = edit.kind {
            tx.put(&obj, "kind", kind.as_str())?;
        }
        if let Some(tags) = &edit.tags {
            let list = tx.put_object(&obj, "tags", ObjType::List)?;
            for (i, tag) in tags.iter().enumerate() {
                tx.insert(&list, i, tag.as_str())?;
            }
        }
        match &edit.mood {
            Some(Some(mood)) => tx.put(&obj, "mood", mood.as_str())?,
            Some(None) => tx.delete(&obj, "mood")?,
            None => {}
        }
        tx.put(&obj, "edited", ScalarValue::Timestamp(now))?;
        tx.commit();
        self.last_commit()
    }

    /// Marks an entry deleted and clears its body from the current state.
    pub fn remove_entry(
        &mut self,
        author: &Author,
        id: &str,
        now: i64,
    ) -> Result<Commit, JournalError> {
        let obj = self.own_live_entry(author, id)?;
        let mut tx = self.doc.transaction();
        tx.put(&obj, "body", "")?;
        tx.put(&obj, "deleted", ScalarValue::Timestamp(now))?;
        tx.commit();
        self.last_commit()
    }

    pub fn react(
        &mut self,
        author: &Author,
        id: &str,
        emoji: &str,
        now: i64,
    ) -> Result<Commit, JournalError> {
        let obj = self.live_entry(id)?;
        let reactions = child_map(&self.doc, &obj, "reactions")?;
        let mut tx = self.doc.transaction();
        put_reaction(&mut tx, &reactions, emoji, &author.person, now)?;
        tx.commit();
        self.last_commit()
    }

    /// Adds a reply; returns its id.
    pub fn reply(
        &mut self,
        author: &Author,
        id: &str,
        body: &str,
        now: i64,
    ) -> Result<(String, Commit), JournalError> {
        check_body(body)?;
        let obj = self.live_entry(id)?;
        let replies = child_map(&self.doc, &obj, "replies")?;
        let reply_id = new_entry_id();
        let mut tx = self.doc.transaction();
        let reply = tx.put_object(&replies, reply_id.as_str(), ObjType::Map)?;
        tx.put(&reply, "person", author.person.as_str())?;
        tx.put(&reply, "device", author.device.to_text())?;
        tx.put(&reply, "created", ScalarValue::Timestamp(now))?;
        tx.put(&reply, "body", body)?;
        tx.commit();
        Ok((reply_id, self.last_commit()?))
    }

    /// Records that `author`'s person read and heard a partner's entry.
    pub fn heard(&mut self, author: &Author, id: &str, now: i64) -> Result<Commit, JournalError> {
        let obj = self.live_entry(id)?;
        let owner = read::get_str(&self.doc, &obj, "person").unwrap_or_default();
        if owner == author.person {
            return Err(JournalError::OwnEntry(id.to_string()));
        }
        let heard = child_map(&self.doc, &obj, "heard")?;
        let mut tx = self.doc.transaction();
        tx.put(&heard, author.person.as_str(), ScalarValue::Timestamp(now))?;
        tx.commit();
        self.last_commit()
    }

    /// Records a device in the membership.
    pub fn add_device(&mut self, record: &DeviceRecord) -> Result<Commit, JournalError> {
        let mut tx = self.doc.transaction();
        write_device(&mut tx, &self.devices, record)?;
        tx.commit();
        self.last_commit()
    }

    fn live_entry(&self, id: &str) -> Result<ObjId, JournalError> {
        let obj = self.entry_obj(id)?;
        if read::get_i64(&self.doc, &obj, "deleted").is_some() {
            return Err(JournalError::Deleted(id.to_string()));
        }
        Ok(obj)
    }

    fn own_live_entry(&self, author: &Author, id: &str) -> Result<ObjId, JournalError> {
        // A map another person put at the same key does not hide one's own.
        let own = self.entry_objs(id).into_iter().find(|obj| {
            read::get_str(&self.doc, obj, "person").as_deref() == Some(author.person.as_str())
        });
        let obj = match own {
            Some(obj) => obj,
            None => self.live_entry(id)?,
        };
        if read::get_i64(&self.doc, &obj, "deleted").is_some() {
            return Err(JournalError::Deleted(id.to_string()));
        }
        let owner = read::get_str(&self.doc, &obj, "person").unwrap_or_default();
        if owner != author.person {
            return Err(JournalError::NotYours {
                id: id.to_string(),
                owner,
            });
        }
        Ok(obj)
    }

    /// The entry with this id that every device shows first.
    fn entry_obj(&self, id: &str) -> Result<ObjId, JournalError> {
        self.entry_objs(id)
            .into_iter()
            .next()
            .ok_or_else(|| JournalError::NoSuchEntry(id.to_string()))
    }

    /// Every entry map at this id's key, the one every device shows first.
    fn entry_objs(&self, id: &str) -> Vec<ObjId> {
        let Some(item) = self
            .doc
            .map_range(&self.entries, ..)
            .find(|item| id_of_key(&item.key) == id)
        else {
            return Vec::new();
        };
        let mut objs = read::maps_at(&self.doc, &self.entries, &item);
        if matches!(item.value, automerge::ValueRef::Object(ObjType::Map)) {
            let winner = item.id();
            objs.retain(|obj| *obj != winner);
            objs.insert(0, winner);
        }
        objs
    }

    fn last_commit(&mut self) -> Result<Commit, JournalError> {
        let mut change = self
            .doc
            .get_last_local_change()
            .ok_or(JournalError::Schema("last local change"))?;
        Ok(Commit {
            hash: change.hash().0,
            bytes: change.bytes().into_owned(),
        })
    }
}

/// A fresh automerge actor for `device`: its 32-byte id then 8 random
/// bytes. Every change names its actor and every object id its maker's,
/// so with this rule (checked at ingest, `schema.rs`) each object's maker
/// device is known from its id alone. A fresh actor per session never
/// repeats a sequence number, which would wedge sync for good.
pub fn actor_for(device: &DeviceId) -> ActorId {
    let mut bytes = device.0.to_vec();
    bytes.extend_from_slice(&crate::ids::random_bytes::<8>());
    ActorId::from(bytes)
}

/// The device whose actor made `actor`'s changes, if it is one made by
/// [`actor_for`].
pub fn device_of_actor(actor: &[u8]) -> Option<DeviceId> {
    if actor.len() != 40 {
        return None;
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(&actor[..32]);
    Some(DeviceId(id))
}

/// Loads a saved document whose bytes are already authenticated: a snapshot
/// is signed by a member and sealed with age's AEAD, so automerge's own
/// re-hashing of every change (most of the load time) adds no safety.
fn load_trusted(bytes: &[u8]) -> Result<Automerge, JournalError> {
    // automerge loads zero bytes as an empty document; a snapshot of a
    // journal is never empty.
    if bytes.is_empty() {
        return Err(JournalError::Schema("saved document"));
    }
    Ok(Automerge::load_with_options(
        bytes,
        automerge::LoadOptions::new().verification_mode(automerge::VerificationMode::DontCheck),
    )?)
}

/// Writes `person`'s reaction `emoji` at `at` under `parent` (an entry's
/// `reactions`, or a reply): a map per emoji, made when absent, holding
/// a time per person.
fn put_reaction(
    tx: &mut automerge::transaction::Transaction<'_>,
    parent: &ObjId,
    emoji: &str,
    person: &str,
    at: i64,
) -> Result<(), JournalError> {
    let by_emoji = match tx.get(parent, emoji)? {
        Some((automerge::Value::Object(ObjType::Map), existing)) => existing,
        _ => tx.put_object(parent, emoji, ObjType::Map)?,
    };
    tx.put(&by_emoji, person, ScalarValue::Timestamp(at))?;
    Ok(())
}

fn check_body(body: &str) -> Result<(), JournalError> {
    if body.trim().is_empty() {
        return Err(JournalError::EmptyBody);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(JournalError::BodyTooLarge(body.len()));
    }
    Ok(())
}

/// The key of an entry in the `entries` map: its creation time (13 decimal
/// digits of milliseconds) then its id, so that the map's own order is
/// newest-last and `log -n 20` reads twenty entries, not all of them.
fn entry_key(created: i64, id: &str) -> String {
    format!("{:013}-{id}", created.clamp(0, 9_999_999_999_999))
}

/// The id part of an entry key (the whole key if it has no time part).
fn id_of_key(key: &str) -> &str {
    key.split_once('-').map_or(key, |(_, id)| id)
}

/// The time part of an entry key, if it has one.
fn time_of_key(key: &str) -> Option<i64> {
    key.split_once('-').and_then(|(t, _)| t.parse().ok())
}

fn write_device(
    tx: &mut impl Transactable,
    devices: &ObjId,
    record: &DeviceRecord,
) -> Result<(), JournalError> {
    let obj = tx.put_object(devices, record.id.as_str(), ObjType::Map)?;
    tx.put(&obj, "person", record.person.as_str())?;
    tx.put(&obj, "name", record.name.as_str())?;
    if let Some(by) = &record.added_by {
        tx.put(&obj, "added_by", by.as_str())?;
    }
    tx.put(&obj, "added_at", ScalarValue::Timestamp(record.added_at))?;
    if let Some(role) = &record.role {
        tx.put(&obj, "role", role.as_str())?;
    }
    Ok(())
}

fn map_at_root(doc: &Automerge, key: &'static str) -> Result<ObjId, JournalError> {
    match doc.get(ROOT, key)? {
        Some((automerge::Value::Object(ObjType::Map), obj)) => Ok(obj),
        _ => Err(JournalError::Schema(key)),
    }
}

fn child_map(doc: &Automerge, obj: &ObjId, key: &'static str) -> Result<ObjId, JournalError> {
    match doc.get(obj, key)? {
        Some((automerge::Value::Object(ObjType::Map), child)) => Ok(child),
        _ => Err(JournalError::Schema(key)),
    }
}

#[cfg(test)]
mod tests;
