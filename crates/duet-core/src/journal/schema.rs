//! The journal's schema, as checked at ingest: what one signed change may
//! do, whoever signed it.
//!
//! Every change a member receives is checked here before it is stored as
//! accepted (`Member::check`), and the daemon's own changes before they
//! are sealed. A change that breaks a rule is refused whole with a
//! [`Breach`]; nothing of it is applied or stored. The rules a change can
//! be checked against on its own (with the journal's first change for
//! the ids of the root maps, and the device list for the signer's person):
//!
//! - it is at most [`MAX_CHANGE_OPS`] operations and [`MAX_CHANGE_BYTES`]
//!   unpacked, so that a few compressed kilobytes cannot expand into
//!   millions of operations that every later read pays for;
//! - only the journal's first change writes the root or the journal's
//!   metadata; no later change deletes or replaces a root object;
//! - a device record is only ever added, never deleted or replaced, and
//!   it names the device that added it, which is the signer (the first
//!   change records the first device, which nobody added);
//! - an entry is only ever added to the entries map (removing one is a
//!   `deleted` mark by its author), never deleted or replaced there;
//! - a change is written by an automerge actor of the device that signed
//!   it (`actor_for`), so every object's id names the device that made it;
//! - an object an earlier change made is changed only by its maker's
//!   person, and then only in the fields editing and removing write
//!   ([`EDITABLE`]); who made it, when, the maps others write into and
//!   an imported entry's marker ([`MADE_ONCE`]) are written once, by the
//!   change that makes it;
//! - the other person may only add a map to it (a reaction's emoji, a
//!   reply) or write a time under their own name (a reaction, a heard
//!   mark); nobody writes a key named after another person;
//! - the `person` and `device` of a new entry or reply are the signer's;
//!   a new device record is for a device not yet recorded, added by the
//!   signer, with a person name that is not one of the journal's keys;
//! - every time it carries is one a journal can hold: not before 2000 and
//!   not more than [`MAX_AHEAD_MS`] ahead of the receiving device's clock.
//!
//! None of these needs the document: the maker of an object is read from
//! its id, and the device list says whose person a device is. A change
//! into an object made by a device not yet in the list is refused for now
//! ([`Breach::UnknownMaker`]) and taken when it is offered again.

use std::collections::HashMap;
use std::io::Read;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Change, ChangeHash, ScalarValue};

use super::removal::{removal_key_device, unpack_devices, Removal, MAX_REMOVAL_KEYS};
use super::{DeviceRecord, Journal, JournalError};
use crate::ids::DeviceId;

/// Most operations one change may hold. A new entry is about twenty, an
/// edit a few more than its tags; this leaves room for a long list of tags.
pub const MAX_CHANGE_OPS: usize = 10_000;
/// Most bytes one change may unpack to: eight times the largest entry.
pub const MAX_CHANGE_BYTES: usize = 2 << 20;
/// Earliest time a journal holds: 2000-01-01.
pub const MIN_TIME_MS: i64 = 946_684_800_000;
/// How far ahead of this device's clock a time may be: a year.
pub const MAX_AHEAD_MS: i64 = 366 * 24 * 3600 * 1000;

/// How a change breaks the journal's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Breach {
    #[error("the change holds {ops} operations, over the limit of {MAX_CHANGE_OPS}")]
    TooManyOps { ops: usize },
    #[error("the change unpacks to more than {MAX_CHANGE_BYTES} bytes")]
    TooLarge,
    #[error("the change writes the journal's root or its metadata")]
    Root,
    #[error("the change deletes or replaces a device record")]
    DeviceReplaced,
    #[error("the change records a device without naming itself as the device that added it")]
    AddedBy,
    #[error("the change deletes or replaces an entry")]
    EntryReplaced,
    #[error("the change writes an entry's {field} as a device other than the one that signed it")]
    Misattributed { field: &'static str },
    #[error("the change carries a time a journal cannot hold ({ms} ms since 1970)")]
    AbsurdTime { ms: i64 },
    #[error("the change is written by an actor of another device than the one that signed it")]
    Actor,
    #[error("the change writes into the other person's entry or record")]
    NotOwner,
    #[error("the change writes a reaction or heard mark as another person")]
    AsOtherPerson,
    #[error("the change rewrites `{key}`, which only the change making an object writes")]
    MadeOnce { key: &'static str },
    #[error("the change replaces or deletes something that is not its own to change")]
    Replaces,
    #[error("the change names a person with an empty or reserved name")]
    ReservedName,
    #[error("the change writes into an object made by a device this device does not know yet")]
    UnknownMaker,
    #[error("a removal record is malformed: {0}")]
    Removal(&'static str),
}

impl Breach {
    /// A short name for the rule broken, the same for every change that
    /// breaks it (for counting and rate-limiting, not for people).
    pub fn kind(&self) -> &'static str {
        match self {
            Breach::TooManyOps { .. } => "too-many-ops",
            Breach::TooLarge => "too-large",
            Breach::Root => "root",
            Breach::DeviceReplaced => "device-replaced",
            Breach::AddedBy => "added-by",
            Breach::EntryReplaced => "entry-replaced",
            Breach::Misattributed { .. } => "misattributed",
            Breach::AbsurdTime { .. } => "absurd-time",
            Breach::Actor => "actor",
            Breach::NotOwner => "not-owner",
            Breach::AsOtherPerson => "as-other-person",
            Breach::MadeOnce { .. } => "made-once",
            Breach::Replaces => "replaces",
            Breach::ReservedName => "reserved-name",
            Breach::UnknownMaker => "unknown-maker",
            Breach::Removal(_) => "removal",
        }
    }
}

/// Where the journal's first change put its root maps: all a change is
/// checked against, so a device checks changes without the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    base: Option<ChangeHash>,
    meta: ObjectId,
    devices: ObjectId,
    entries: ObjectId,
}

impl Journal {
    /// This journal's schema.
    pub fn schema(&self) -> Schema {
        let legacy = |id: &automerge::ObjId| match id {
            automerge::ObjId::Id(counter, actor, _) => ObjectId::Id(OpId(*counter, actor.clone())),
            automerge::ObjId::Root => ObjectId::Root,
        };
        let meta = match self.doc_get_root_obj("journal") {
            Some(id) => legacy(&id),
            None => ObjectId::Root,
        };
        Schema {
            base: self.base_hash(),
            meta,
            devices: legacy(&self.devices),
            entries: legacy(&self.entries),
        }
    }
}

/// What the schema needs to know of the journal's people: the person each
/// member device writes as. The device list (`Roster`) is one.
pub trait People {
    /// The person `device` writes as, if it is a member this device knows.
    fn person_of(&self, device: &DeviceId) -> Option<&str>;
    /// True if some member device writes as `name`.
    fn is_person(&self, name: &str) -> bool;
    /// The record of `device`, where the whole record is known.
    fn record(&self, _device: &DeviceId) -> Option<&DeviceRecord> {
        None
    }
}

/// Keys that only the change making an object writes: who made it, when,
/// the maps others write into (so nobody replaces them), and where an
/// imported entry came from (so nobody adds or changes that claim later).
const MADE_ONCE: [&str; 10] = [
    "person",
    "device",
    "created",
    "reactions",
    "replies",
    "heard",
    "added_by",
    "added_at",
    "prompt",
    "imported",
];
/// Keys whose value the object's own person may replace or delete later:
/// what editing and removing an entry write.
const EDITABLE: [&str; 6] = ["body", "kind", "tags", "mood", "edited", "deleted"];
/// Keys the journal's objects use; no person may be named one of them,
/// since reactions and heard marks are keyed by person. The last four before `prompt` are
/// the keys of an imported entry's marker (`import.rs`), which nobody but
/// its maker may write.
pub const RESERVED_NAMES: [&str; 24] = [
    "journal",
    "id",
    "created",
    "devices",
    "entries",
    "person",
    "device",
    "name",
    "added_by",
    "added_at",
    "edited",
    "kind",
    "tags",
    "mood",
    "body",
    "reactions",
    "replies",
    "heard",
    "deleted",
    "imported",
    "author",
    "author_device",
    "emoji",
    "prompt",
];

/// The device that made `obj`, read from its id (see [`actor_for`]).
///
/// [`actor_for`]: super::actor_for
fn maker(obj: &ObjectId) -> Option<DeviceId> {
    match obj {
        ObjectId::Id(OpId(_, actor)) => super::device_of_actor(actor.to_bytes()),
        ObjectId::Root => None,
    }
}

/// What checking a change found, beside that it keeps the rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// The device records it makes.
    pub records: Vec<DeviceRecord>,
    /// The latest time it carries (0 if none): a change dated ahead of
    /// this device's clock is noted when it arrives.
    pub latest: i64,
    /// The removals it records (`journal/removal.rs`).
    pub removals: Vec<Removal>,
}

impl Schema {
    /// The id of the entries map, in automerge's legacy form.
    pub(super) fn entries_id(&self) -> ObjectId {
        self.entries.clone()
    }

    /// Checks `change`, signed by `signer`, against every rule above, at
    /// `now` on this device's clock. Returns the device records it makes.
    pub fn check(
        &self,
        change: &Change,
        signer: &DeviceId,
        people: &impl People,
        now: i64,
    ) -> Result<Vec<DeviceRecord>, Breach> {
        self.inspect(change, signer, people, now).map(|c| c.records)
    }

    /// [`Schema::check`], also returning what else the walk found.
    pub fn inspect(
        &self,
        change: &Change,
        signer: &DeviceId,
        people: &impl People,
        now: i64,
    ) -> Result<Checked, Breach> {
        if change.len() > MAX_CHANGE_OPS {
            return Err(Breach::TooManyOps { ops: change.len() });
        }
        if super::device_of_actor(change.actor_id().to_bytes()) != Some(*signer) {
            return Err(Breach::Actor);
        }
        let signer_person = people.person_of(signer);
        let first = self.base.is_some_and(|b| b == change.hash());
        let signer_text = signer.to_text();
        let expanded = change.decode();
        let start = expanded.start_op.get();
        let actor = expanded.actor_id.clone();
        // Maps this change creates, by id, with the object and key they are
        // made at.
        let mut made: HashMap<ObjectId, (ObjectId, Option<String>)> = HashMap::new();
        for (i, op) in expanded.operations.iter().enumerate() {
            if let OpType::Make(_) = op.action {
                let id = ObjectId::Id(OpId(start + i as u64, actor.clone()));
                let key = match &op.key {
                    Key::Map(key) => Some(key.to_string()),
                    Key::Seq(_) => None,
                };
                made.insert(id, (op.obj.clone(), key));
            }
        }
        let mut records: HashMap<ObjectId, DeviceRecord> = HashMap::new();
        let mut removals: HashMap<ObjectId, Removal> = HashMap::new();
        let mut latest = 0;
        for op in &expanded.operations {
            if let OpType::Put(ScalarValue::Timestamp(ms)) = &op.action {
                if *ms < MIN_TIME_MS || *ms > now.saturating_add(MAX_AHEAD_MS) {
                    return Err(Breach::AbsurdTime { ms: *ms });
                }
                latest = latest.max(*ms);
            }
            if !first && (op.obj == ObjectId::Root || op.obj == self.meta) {
                return Err(Breach::Root);
            }
            let adds_map = matches!(op.action, OpType::Make(_)) && op.pred.is_empty();
            if op.obj == self.devices && !first && !adds_map {
                return Err(Breach::DeviceReplaced);
            }
            if op.obj == self.entries && !adds_map {
                return Err(Breach::EntryReplaced);
            }
            if let Key::Map(key) = &op.key {
                if Some(key.as_str()) != signer_person && people.is_person(key) {
                    return Err(Breach::AsOtherPerson);
                }
            }
            let shared_root = [&self.devices, &self.entries].contains(&&op.obj);
            if !made.contains_key(&op.obj) && !shared_root && op.obj != ObjectId::Root {
                self.check_existing(op, signer, signer_person, people)?;
            }
            let Key::Map(key) = &op.key else {
                continue;
            };
            let in_device_record = made
                .get(&op.obj)
                .and_then(|(parent, id)| (*parent == self.devices).then_some(id.as_ref()?));
            if let Some(removed) = in_device_record.and_then(|id| removal_key_device(id)) {
                let removal = removals.entry(op.obj.clone()).or_insert_with(|| Removal {
                    device: removed.to_string(),
                    by: String::new(),
                    at: 0,
                    cut: 0,
                    epoch: 0,
                    key_id: None,
                    keys: Vec::new(),
                    without: Vec::new(),
                    follows: false,
                });
                match (key.as_str(), &op.action) {
                    ("by", OpType::Put(ScalarValue::Str(v))) => removal.by = v.to_string(),
                    ("at", OpType::Put(ScalarValue::Timestamp(t))) => removal.at = *t,
                    ("cut", OpType::Put(ScalarValue::Uint(n))) => removal.cut = *n,
                    ("epoch", OpType::Put(ScalarValue::Uint(n))) => {
                        removal.epoch = u32::try_from(*n).map_err(|_| Breach::Removal("epoch"))?
                    }
                    ("key_id", OpType::Put(ScalarValue::Uint(n))) => {
                        removal.key_id =
                            Some(u32::try_from(*n).map_err(|_| Breach::Removal("key id"))?)
                    }
                    ("keys", OpType::Put(ScalarValue::Bytes(b))) => {
                        if b.len() > MAX_REMOVAL_KEYS {
                            return Err(Breach::Removal("sealed keys too large"));
                        }
                        removal.keys = b.clone()
                    }
                    ("without", OpType::Put(ScalarValue::Bytes(b))) => {
                        removal.without = unpack_devices(b).ok_or(Breach::Removal("without"))?
                    }
                    ("follows", OpType::Put(ScalarValue::Boolean(f))) => removal.follows = *f,
                    _ => return Err(Breach::Removal("unexpected field")),
                }
                continue;
            }
            if let Some(id) = in_device_record {
                let record = records
                    .entry(op.obj.clone())
                    .or_insert_with(|| DeviceRecord {
                        id: id.clone(),
                        person: String::new(),
                        name: String::new(),
                        added_by: None,
                        added_at: 0,
                        role: None,
                    });
                match (key.as_str(), &op.action) {
                    ("person", OpType::Put(ScalarValue::Str(v))) => record.person = v.to_string(),
                    ("name", OpType::Put(ScalarValue::Str(v))) => record.name = v.to_string(),
                    ("added_by", OpType::Put(ScalarValue::Str(v))) => {
                        record.added_by = Some(v.to_string())
                    }
                    ("added_at", OpType::Put(ScalarValue::Timestamp(t))) => record.added_at = *t,
                    ("role", OpType::Put(ScalarValue::Str(v))) => record.role = Some(v.to_string()),
                    _ => {}
                }
                continue;
            }
            let OpType::Put(ScalarValue::Str(value)) = &op.action else {
                continue;
            };
            let (field, expected) = match key.as_str() {
                "person" => ("person", signer_person),
                "device" => ("device", Some(signer_text.as_str())),
                _ => continue,
            };
            if expected != Some(value.as_str()) {
                return Err(Breach::Misattributed { field });
            }
        }
        for record in records.values() {
            let by_signer = record.added_by.as_deref() == Some(signer_text.as_str());
            let first_device = first && record.added_by.is_none() && record.id == signer_text;
            if !by_signer && !first_device {
                return Err(Breach::AddedBy);
            }
            // A record for a device already recorded replaces it, unless
            // it is that very record (a snapshot's change, checked with
            // the snapshot's devices known).
            let known = DeviceId::from_text(&record.id).is_some_and(|id| {
                !first && people.person_of(&id).is_some() && people.record(&id) != Some(record)
            });
            if known {
                return Err(Breach::DeviceReplaced);
            }
            if record.person.trim().is_empty() || RESERVED_NAMES.contains(&record.person.as_str()) {
                return Err(Breach::ReservedName);
            }
        }
        for removal in removals.values() {
            if removal.by != signer_text {
                return Err(Breach::Misattributed { field: "by" });
            }
            let removed =
                DeviceId::from_text(&removal.device).ok_or(Breach::Removal("device id"))?;
            if people.person_of(&removed).is_none() {
                return Err(Breach::UnknownMaker);
            }
            if removal.epoch == 0 || removal.keys.is_empty() {
                return Err(Breach::Removal("no new key epoch"));
            }
        }
        Ok(Checked {
            records: records.into_values().collect(),
            latest,
            removals: removals.into_values().collect(),
        })
    }

    /// The rules for an operation on an object an earlier change made:
    /// its own person may edit what [`EDITABLE`] names; anyone may add a
    /// map (a reaction's emoji, a reply) and write or delete a time under
    /// their own person's name (a reaction, a heard mark); nothing else.
    fn check_existing(
        &self,
        op: &automerge::legacy::Op,
        signer: &DeviceId,
        signer_person: Option<&str>,
        people: &impl People,
    ) -> Result<(), Breach> {
        let owner = maker(&op.obj).ok_or(Breach::NotOwner)?;
        let own = if owner == *signer {
            true
        } else {
            match people.person_of(&owner) {
                Some(person) => Some(person) == signer_person,
                None => return Err(Breach::UnknownMaker),
            }
        };
        let Key::Map(key) = &op.key else {
            // List operations: only on one's own person's lists (tags).
            return if own { Ok(()) } else { Err(Breach::NotOwner) };
        };
        let key = key.as_str();
        if let Some(key) = MADE_ONCE.iter().find(|k| **k == key) {
            return Err(Breach::MadeOnce { key });
        }
        let under_own_name = Some(key) == signer_person;
        let replaces = !op.pred.is_empty() || matches!(op.action, OpType::Delete);
        if own {
            if replaces && !EDITABLE.contains(&key) && !under_own_name {
                return Err(Breach::Replaces);
            }
            return Ok(());
        }
        let adds_map = matches!(op.action, OpType::Make(automerge::ObjType::Map))
            && op.pred.is_empty()
            && !RESERVED_NAMES.contains(&key);
        let marks = matches!(
            op.action,
            OpType::Put(ScalarValue::Timestamp(_)) | OpType::Delete
        ) && under_own_name;
        if adds_map || marks {
            Ok(())
        } else {
            Err(Breach::NotOwner)
        }
    }
}

/// Checks what a change's bytes unpack to before automerge unpacks them:
/// a compressed change chunk is inflated here with a cap, so that a small
/// payload cannot make this device allocate gigabytes.
pub fn check_packed(bytes: &[u8]) -> Result<(), JournalError> {
    // magic (4) | checksum (4) | type (1) | length (LEB128) | data
    const COMPRESSED: u8 = 2;
    if bytes.len() < 9 || bytes[8] != COMPRESSED {
        return Ok(());
    }
    let mut rest = &bytes[9..];
    let Ok(len) = leb128::read::unsigned(&mut rest) else {
        return Err(JournalError::Schema("change length"));
    };
    let data = usize::try_from(len)
        .ok()
        .and_then(|len| rest.get(..len))
        .ok_or(JournalError::Schema("change length"))?;
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(MAX_CHANGE_BYTES as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|_| JournalError::Schema("compressed change"))?;
    if inflated.len() > MAX_CHANGE_BYTES {
        return Err(Breach::TooLarge.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
