//! Reading entries and devices out of the automerge document.

use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValue, Value};

use super::{
    id_of_key, time_of_key, DeviceRecord, Entry, EntryKind, Filter, Heard, Journal, JournalError,
    Reaction, Reply,
};

/// Shortest id prefix accepted, so that a typo does not pick an entry.
pub const MIN_ID_PREFIX: usize = 4;

impl Journal {
    /// The entry with exactly this id, deleted or not.
    pub fn entry(&self, id: &str) -> Option<Entry> {
        let obj = self.entry_obj(id).ok()?;
        Some(read_entry(&self.doc, id, &obj))
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
    pub fn query(&self, filter: &Filter) -> Vec<Entry> {
        let mut keys: Vec<(String, ObjId)> = self
            .doc
            .map_range(&self.entries, ..)
            .filter(|item| matches!(item.value, automerge::ValueRef::Object(ObjType::Map)))
            .filter(|item| {
                let t = time_of_key(&item.key).unwrap_or(0);
                filter.since.is_none_or(|s| t >= s) && filter.until.is_none_or(|u| t < u)
            })
            .map(|item| (item.key.to_string(), item.id()))
            .collect();
        keys.reverse();
        let limit = filter.limit.unwrap_or(usize::MAX);
        keys.into_iter()
            .filter(|(_, obj)| get_i64(&self.doc, obj, "deleted").is_none())
            .map(|(key, obj)| read_entry(&self.doc, id_of_key(&key), &obj))
            .filter(|entry| filter.matches(entry))
            .take(limit)
            .collect()
    }

    /// Every entry, deleted ones included, by id.
    pub fn all_entries(&self) -> Vec<Entry> {
        self.doc
            .map_range(&self.entries, ..)
            .map(|item| read_entry(&self.doc, id_of_key(&item.key), &item.id()))
            .collect()
    }

    /// Every device in the membership, oldest first.
    pub fn devices(&self) -> Vec<DeviceRecord> {
        let mut devices: Vec<DeviceRecord> = self
            .doc
            .map_range(&self.devices, ..)
            .map(|item| {
                let obj = item.id();
                DeviceRecord {
                    id: item.key.to_string(),
                    person: get_str(&self.doc, &obj, "person").unwrap_or_default(),
                    name: get_str(&self.doc, &obj, "name").unwrap_or_default(),
                    added_by: get_str(&self.doc, &obj, "added_by"),
                    added_at: get_i64(&self.doc, &obj, "added_at").unwrap_or(0),
                }
            })
            .collect();
        devices.sort_by(|a, b| a.added_at.cmp(&b.added_at).then_with(|| a.id.cmp(&b.id)));
        devices
    }
}

fn read_entry(doc: &Automerge, id: &str, obj: &ObjId) -> Entry {
    let mut bodies: Vec<String> = doc
        .get_all(obj, "body")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(value, _)| value.as_str().map(str::to_string))
        .collect();
    // `get` picks the same winner on every device; show it first.
    let body = get_str(doc, obj, "body").unwrap_or_default();
    if let Some(pos) = bodies.iter().position(|b| *b == body) {
        bodies.remove(pos);
    }
    Entry {
        id: id.to_string(),
        person: get_str(doc, obj, "person").unwrap_or_default(),
        device: get_str(doc, obj, "device").unwrap_or_default(),
        created: get_i64(doc, obj, "created").unwrap_or(0),
        edited: get_i64(doc, obj, "edited"),
        kind: get_str(doc, obj, "kind")
            .and_then(|k| k.parse().ok())
            .unwrap_or(EntryKind::Note),
        tags: get_list_of_str(doc, obj, "tags"),
        mood: get_str(doc, obj, "mood"),
        body,
        conflicts: bodies,
        reactions: read_reactions(doc, obj),
        replies: read_replies(doc, obj),
        heard: read_heard(doc, obj),
        deleted: get_i64(doc, obj, "deleted"),
    }
}

fn read_reactions(doc: &Automerge, obj: &ObjId) -> Vec<Reaction> {
    let Some(reactions) = get_map(doc, obj, "reactions") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in doc.map_range(&reactions, ..) {
        let by_emoji = item.id();
        for who in doc.map_range(&by_emoji, ..) {
            out.push(Reaction {
                emoji: item.key.to_string(),
                person: who.key.to_string(),
                at: scalar_i64(&who.value).unwrap_or(0),
            });
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.person.cmp(&b.person)));
    out
}

fn read_replies(doc: &Automerge, obj: &ObjId) -> Vec<Reply> {
    let Some(replies) = get_map(doc, obj, "replies") else {
        return Vec::new();
    };
    let mut out: Vec<Reply> = doc
        .map_range(&replies, ..)
        .map(|item| {
            let r = item.id();
            Reply {
                id: item.key.to_string(),
                person: get_str(doc, &r, "person").unwrap_or_default(),
                device: get_str(doc, &r, "device").unwrap_or_default(),
                created: get_i64(doc, &r, "created").unwrap_or(0),
                body: get_str(doc, &r, "body").unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    out
}

fn read_heard(doc: &Automerge, obj: &ObjId) -> Vec<Heard> {
    let Some(heard) = get_map(doc, obj, "heard") else {
        return Vec::new();
    };
    doc.map_range(&heard, ..)
        .map(|item| Heard {
            person: item.key.to_string(),
            at: scalar_i64(&item.value).unwrap_or(0),
        })
        .collect()
}

fn scalar_i64(value: &automerge::ValueRef<'_>) -> Option<i64> {
    match value {
        automerge::ValueRef::Scalar(
            automerge::ScalarValueRef::Timestamp(n) | automerge::ScalarValueRef::Int(n),
        ) => Some(*n),
        _ => None,
    }
}

fn get_map(doc: &Automerge, obj: &ObjId, key: &str) -> Option<ObjId> {
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

fn get_list_of_str(doc: &Automerge, obj: &ObjId, key: &str) -> Vec<String> {
    let Some(Ok(Some((Value::Object(ObjType::List), list)))) = Some(doc.get(obj, key)) else {
        return Vec::new();
    };
    doc.list_range(&list, ..)
        .filter_map(|item| match item.value {
            automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(text)) => {
                Some(text.to_string())
            }
            _ => None,
        })
        .collect()
}
