//! Reading entries and devices out of the automerge document.

use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value};

use crate::ledger::member::now_ms;

use super::{
    device_of_actor, id_of_key, time_of_key, DeviceRecord, Entry, Filter, Heard, Journal,
    JournalError, Reaction, Reply, CLOCK_TOLERANCE_MS,
};

/// Shortest id prefix accepted, so that a typo does not pick an entry.
pub const MIN_ID_PREFIX: usize = 4;

impl Journal {
    /// The entry with exactly this id, deleted or not.
    pub fn entry(&self, id: &str) -> Option<Entry> {
        let obj = self.entry_obj(id).ok()?;
        let mut entry = read_entry(&self.doc, id, &obj);
        entry.arrived = self.arrival(&obj, entry.created, now_ms());
        Some(entry)
    }

    /// When the entry `obj`, dated `created`, is listed if its date is
    /// ahead of this device's clock (`now`): when it arrived here, or now.
    fn arrival(&self, obj: &ObjId, created: i64, now: i64) -> Option<i64> {
        if created <= now.saturating_add(CLOCK_TOLERANCE_MS) {
            return None;
        }
        let arrived = self
            .doc
            .hash_for_opid(obj)
            .and_then(|hash| self.arrivals.get(&hash.0).copied());
        Some(arrived.unwrap_or(now).min(now))
    }

    /// The full id of the one entry whose id starts with `prefix`.
    pub fn resolve_id(&self, prefix: &str) -> Result<String, JournalError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        let mut matches = Vec::new();
        for item in self.doc.map_range(&self.entries, ..) {
            let id = id_of_key(&item.key);
            if id == prefix {
                return Ok(prefix);
            }
            if prefix.len() >= MIN_ID_PREFIX && id.starts_with(&prefix) {
                matches.push(id.to_string());
            }
        }
        match matches.len() {
            0 if prefix.len() < MIN_ID_PREFIX => Err(JournalError::ShortId(prefix)),
            0 => Err(JournalError::NoSuchEntry(prefix)),
            1 => Ok(matches.swap_remove(0)),
            n => Err(JournalError::AmbiguousId(prefix, n)),
        }
    }

    /// Number of entries, deleted ones included.
    pub fn len(&self) -> usize {
        self.doc.length(&self.entries)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries that pass `filter`, newest first, deleted ones left out.
    ///
    /// Entry keys start with their creation time, so this walks the keys
    /// from the newest and reads whole entries only until the limit is
    /// reached: `log -n 20` on a long journal touches twenty entries.
    ///
    /// An entry dated further ahead of this device's clock than
    /// [`CLOCK_TOLERANCE_MS`] is listed and filtered by when it arrived
    /// ([`Entry::arrived`]), not at the top for as long as its date is
    /// ahead.
    pub fn query(&self, filter: &Filter) -> Vec<Entry> {
        let now = now_ms();
        let horizon = now.saturating_add(CLOCK_TOLERANCE_MS);
        let mut ahead = false;
        let mut keys: Vec<(i64, String, ObjId, Option<i64>)> = self
            .doc
            .map_range(&self.entries, ..)
            .flat_map(|item| {
                let key = item.key.to_string();
                let t = time_of_key(&key).unwrap_or(0);
                maps_at(&self.doc, &self.entries, &item)
                    .into_iter()
                    .map(move |obj| (t, key.clone(), obj))
            })
            .map(|(t, key, obj)| {
                let arrived = (t > horizon).then(|| self.arrival(&obj, t, now)).flatten();
                ahead |= arrived.is_some();
                (arrived.unwrap_or(t), key, obj, arrived)
            })
            .filter(|(t, ..)| {
                filter.since.is_none_or(|s| *t >= s) && filter.until.is_none_or(|u| *t < u)
            })
            .collect();
        if ahead {
            // Keys are in date order already; only entries listed by their
            // arrival move.
            keys.sort_by_key(|(t, ..)| *t);
        }
        keys.reverse();
        let limit = filter.limit.unwrap_or(usize::MAX);
        let waiting: Vec<Entry> = self
            .waiting_entries()
            .into_iter()
            .filter(|entry| filter.matches(entry))
            .collect();
        let applied = keys
            .into_iter()
            .filter(|(_, _, obj, _)| get_i64(&self.doc, obj, "deleted").is_none())
            .map(|(_, key, obj, arrived)| {
                let mut entry = read_entry(&self.doc, id_of_key(&key), &obj);
                entry.arrived = arrived;
                entry
            })
            .filter(|entry| filter.matches(entry));
        if waiting.is_empty() {
            return applied.take(limit).collect();
        }
        let mut all: Vec<Entry> = applied.chain(waiting).collect();
        all.sort_by_key(|e| std::cmp::Reverse(e.listed_at()));
        all.truncate(limit);
        all
    }

    /// Every entry, deleted ones included, by id.
    pub fn all_entries(&self) -> Vec<Entry> {
        self.doc
            .map_range(&self.entries, ..)
            .flat_map(|item| {
                maps_at(&self.doc, &self.entries, &item)
                    .into_iter()
                    .map(move |obj| read_entry(&self.doc, id_of_key(&item.key), &obj))
            })
            .collect()
    }

    /// Every device in the membership, oldest first.
    pub fn devices(&self) -> Vec<DeviceRecord> {
        let mut devices: Vec<DeviceRecord> = self
            .doc
            .map_range(&self.devices, ..)
            .filter(|item| !item.key.starts_with(super::REMOVED_PREFIX))
            .map(|item| {
                let obj = item.id();
                DeviceRecord {
                    id: item.key.to_string(),
                    person: get_str(&self.doc, &obj, "person").unwrap_or_default(),
                    name: get_str(&self.doc, &obj, "name").unwrap_or_default(),
                    added_by: get_str(&self.doc, &obj, "added_by"),
                    added_at: get_i64(&self.doc, &obj, "added_at").unwrap_or(0),
                    role: get_str(&self.doc, &obj, "role"),
                }
            })
            .collect();
        devices.sort_by(|a, b| a.added_at.cmp(&b.added_at).then_with(|| a.id.cmp(&b.id)));
        devices
    }
}

/// One entry map read whole (for the read index, `rows.rs`).
pub(super) fn read_entry_at(doc: &Automerge, id: &str, obj: &ObjId) -> Entry {
    read_entry(doc, id, obj)
}

fn read_entry(doc: &Automerge, id: &str, obj: &ObjId) -> Entry {
    // One walk over the entry's fields: each `get` on its own seeks
    // through the document's columns again, which at 40,000 entries made
    // reading every entry (a new read index) take seconds.
    let mut entry = Entry::blank(id);
    let mut device = None;
    for item in doc.map_range(obj, ..) {
        let value = &item.value;
        match item.key.as_ref() {
            "body" => {
                entry.body = scalar_str(value).unwrap_or_default();
                if item.conflict {
                    // `get` picks the same winner on every device; it is
                    // shown first and the others after.
                    let mut bodies: Vec<String> = doc
                        .get_all(obj, "body")
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|(value, _)| value.as_str().map(str::to_string))
                        .collect();
                    if let Some(pos) = bodies.iter().position(|b| *b == entry.body) {
                        bodies.remove(pos);
                    }
                    entry.conflicts = bodies;
                }
            }
            "person" => entry.person = scalar_str(value).unwrap_or_default(),
            "device" => device = scalar_str(value),
            "created" => entry.created = scalar_i64(value).unwrap_or(0),
            // Who last edited it comes from the id of the operation, which
            // names the signer's device (`actor_for`).
            "edited" => {
                entry.edited = scalar_i64(value);
                entry.edited_by = device_of(&item.id());
            }
            "kind" => {
                if let Some(kind) = scalar_str(value).and_then(|k| k.parse().ok()) {
                    entry.kind = kind;
                }
            }
            "tags" => {
                if matches!(value, automerge::ValueRef::Object(ObjType::List)) {
                    entry.tags = list_of_str(doc, &item.id());
                }
            }
            "mood" => entry.mood = scalar_str(value),
            "prompt" => entry.prompt = scalar_str(value),
            "deleted" => entry.deleted = scalar_i64(value),
            "reactions" | "replies" | "heard" | super::import::IMPORTED => {
                if !matches!(value, automerge::ValueRef::Object(ObjType::Map)) {
                    continue;
                }
                let child = item.id();
                match item.key.as_ref() {
                    "reactions" => entry.reactions = read_reactions(doc, &child),
                    "replies" => entry.replies = read_replies(doc, &child),
                    "heard" => entry.heard = read_heard(doc, &child),
                    _ => entry.imported = super::import::read_imported(doc, &child),
                }
            }
            _ => {}
        }
    }
    // Who made it comes from the id of the entry's map, like an edit's.
    entry.device = device_of(obj).or(device).unwrap_or_default();
    entry
}

/// The device whose actor made the object or operation `id`, as text.
fn device_of(id: &ObjId) -> Option<String> {
    match id {
        automerge::ObjId::Id(_, actor, _) => device_of_actor(actor.to_bytes()).map(|d| d.to_text()),
        automerge::ObjId::Root => None,
    }
}

/// The reactions map of an entry.
fn read_reactions(doc: &Automerge, reactions: &ObjId) -> Vec<Reaction> {
    let mut out: Vec<Reaction> = Vec::new();
    for item in doc.map_range(reactions, ..) {
        // Both people may start the same emoji's map at once: read them all.
        for by_emoji in maps_at(doc, reactions, &item) {
            for who in doc.map_range(&by_emoji, ..) {
                let Some(at) = scalar_i64(&who.value) else {
                    continue;
                };
                let seen = out
                    .iter()
                    .any(|r| r.emoji == item.key && r.person == who.key);
                if !seen {
                    out.push(Reaction {
                        emoji: item.key.to_string(),
                        person: who.key.to_string(),
                        at,
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.person.cmp(&b.person)));
    out
}

/// The replies map of an entry.
fn read_replies(doc: &Automerge, replies: &ObjId) -> Vec<Reply> {
    let mut out: Vec<Reply> = doc
        .map_range(replies, ..)
        .flat_map(|item| {
            maps_at(doc, replies, &item)
                .into_iter()
                // A deleted reply is gone from what everyone reads.
                .filter(|r| get_i64(doc, r, "deleted").is_none())
                .map(move |r| Reply {
                    id: item.key.to_string(),
                    person: get_str(doc, &r, "person").unwrap_or_default(),
                    device: get_str(doc, &r, "device").unwrap_or_default(),
                    created: get_i64(doc, &r, "created").unwrap_or(0),
                    edited: get_i64(doc, &r, "edited"),
                    body: get_str(doc, &r, "body").unwrap_or_default(),
                    reactions: super::replies::reply_reactions(doc, &r),
                    imported: get_map(doc, &r, super::import::IMPORTED)
                        .and_then(|m| super::import::read_origin(doc, &m)),
                })
        })
        .collect();
    out.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    out
}

/// The heard map of an entry.
fn read_heard(doc: &Automerge, heard: &ObjId) -> Vec<Heard> {
    doc.map_range(heard, ..)
        .filter_map(|item| {
            Some(Heard {
                person: item.key.to_string(),
                at: scalar_i64(&item.value)?,
            })
        })
        .collect()
}

/// The maps at one key of `parent`: the one every device shows, and, when
/// changes that crossed put more than one there, every other. A map put
/// beside another at the same key never hides it.
pub(super) fn maps_at(
    doc: &Automerge,
    parent: &ObjId,
    item: &automerge::iter::MapRangeItem<'_>,
) -> Vec<ObjId> {
    if !item.conflict {
        return match item.value {
            automerge::ValueRef::Object(ObjType::Map) => vec![item.id()],
            _ => Vec::new(),
        };
    }
    doc.get_all(parent, item.key.as_ref())
        .unwrap_or_default()
        .into_iter()
        .filter(|(value, _)| matches!(value, Value::Object(ObjType::Map)))
        .map(|(_, id)| id)
        .collect()
}

fn scalar_str(value: &automerge::ValueRef<'_>) -> Option<String> {
    match value {
        automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(text)) => Some(text.to_string()),
        _ => None,
    }
}

pub(super) fn scalar_i64(value: &automerge::ValueRef<'_>) -> Option<i64> {
    match value {
        automerge::ValueRef::Scalar(
            automerge::ScalarValueRef::Timestamp(n) | automerge::ScalarValueRef::Int(n),
        ) => Some(*n),
        _ => None,
    }
}

pub(super) fn get_map(doc: &Automerge, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(ObjType::Map), child) => Some(child),
        _ => None,
    }
}

pub(super) fn get_str(doc: &Automerge, obj: &ObjId, key: &str) -> Option<String> {
    let (value, _) = doc.get(obj, key).ok()??;
    value.as_str().map(str::to_string)
}

pub(super) fn get_i64(doc: &Automerge, obj: &ObjId, key: &str) -> Option<i64> {
    let (value, _) = doc.get(obj, key).ok()??;
    match value.as_scalar()? {
        ScalarValue::Timestamp(n) | ScalarValue::Int(n) => Some(*n),
        _ => None,
    }
}

fn list_of_str(doc: &Automerge, list: &ObjId) -> Vec<String> {
    doc.list_range(list, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(text)) => {
                Some(text.to_string())
            }
            _ => None,
        })
        .collect()
}
