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
//! - the `person` and `device` of a new entry or reply are the signer's;
//! - every time it carries is one a journal can hold: not before 2000 and
//!   not more than [`MAX_AHEAD_MS`] ahead of the receiving device's clock.
//!
//! Rules that need to know who made an existing object (an edit of the
//! other person's entry, a reaction or heard mark written as the other
//! person) are not checked here yet; `docs/threat-model.md` says so.

use std::collections::HashMap;
use std::io::Read;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Change, ChangeHash, ScalarValue};

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

impl Schema {
    /// Checks `change`, signed by `signer` (whose person is
    /// `signer_person` in the device list), against every rule above, at
    /// `now` on this device's clock. Returns the device records it makes.
    pub fn check(
        &self,
        change: &Change,
        signer: &DeviceId,
        signer_person: Option<&str>,
        now: i64,
    ) -> Result<Vec<DeviceRecord>, Breach> {
        if change.len() > MAX_CHANGE_OPS {
            return Err(Breach::TooManyOps { ops: change.len() });
        }
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
        for op in &expanded.operations {
            if let OpType::Put(ScalarValue::Timestamp(ms)) = &op.action {
                if *ms < MIN_TIME_MS || *ms > now.saturating_add(MAX_AHEAD_MS) {
                    return Err(Breach::AbsurdTime { ms: *ms });
                }
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
            let Key::Map(key) = &op.key else {
                continue;
            };
            let in_device_record = made
                .get(&op.obj)
                .and_then(|(parent, id)| (*parent == self.devices).then_some(id.as_ref()?));
            if let Some(id) = in_device_record {
                let record = records
                    .entry(op.obj.clone())
                    .or_insert_with(|| DeviceRecord {
                        id: id.clone(),
                        person: String::new(),
                        name: String::new(),
                        added_by: None,
                        added_at: 0,
                    });
                match (key.as_str(), &op.action) {
                    ("person", OpType::Put(ScalarValue::Str(v))) => record.person = v.to_string(),
                    ("name", OpType::Put(ScalarValue::Str(v))) => record.name = v.to_string(),
                    ("added_by", OpType::Put(ScalarValue::Str(v))) => {
                        record.added_by = Some(v.to_string())
                    }
                    ("added_at", OpType::Put(ScalarValue::Timestamp(t))) => record.added_at = *t,
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
        }
        Ok(records.into_values().collect())
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
