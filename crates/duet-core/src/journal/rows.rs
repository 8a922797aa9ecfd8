//! What the sealed read index (`crate::index`) needs from the document:
//! each entry key's current entries, and which keys changed between two
//! points of history.
//!
//! An index row is one key of the `entries` map (`<created ms>-<id>`)
//! with every entry map at it, in the order [`Journal::query`] reads
//! them, so a page read from rows is the page the document gives.

use std::collections::BTreeSet;

use automerge::legacy::{Key, ObjectId};
use automerge::{Change, ChangeHash, ObjType, ReadDoc, Value};

use super::read::{maps_at, read_entry_at};
use super::{entry_key, id_of_key, time_of_key, Entry, Journal};

impl Journal {
    /// The document's heads, as raw hashes.
    pub fn heads(&self) -> Vec<[u8; 32]> {
        self.doc.get_heads().into_iter().map(|h| h.0).collect()
    }

    /// True when changes wait for a dependency (`waiting.rs`): the entries
    /// they make are listed from the change, not the document, so an
    /// index of the document alone would not list them.
    pub fn has_waiting(&self) -> bool {
        !self.waiting_entries().is_empty()
    }

    /// Every key of the `entries` map, oldest first, with its entries as
    /// [`Journal::entries_at`] gives them: one walk of the map, where
    /// looking each key up again costs a seek through the whole map
    /// (seconds at 40,000 entries).
    pub fn every_row(&self) -> Vec<(String, Vec<Entry>)> {
        self.doc
            .map_range(&self.entries, ..)
            .map(|item| {
                let key = item.key.to_string();
                let entries = maps_at(&self.doc, &self.entries, &item)
                    .iter()
                    .map(|obj| read_entry_at(&self.doc, id_of_key(&key), obj))
                    .collect();
                (key, entries)
            })
            .collect()
    }

    /// The entries at one key of the `entries` map, deleted ones included,
    /// in the order [`Journal::query`] finds them (usually one).
    pub fn entries_at(&self, key: &str) -> Vec<Entry> {
        self.doc
            .get_all(&self.entries, key)
            .unwrap_or_default()
            .into_iter()
            .filter(|(value, _)| matches!(value, Value::Object(ObjType::Map)))
            .map(|(_, obj)| read_entry_at(&self.doc, id_of_key(key), &obj))
            .collect()
    }

    /// The keys of the `entries` map that the changes made since `heads`
    /// touch (an entry made, or anything inside one changed). `None` when
    /// the document does not hold every one of `heads` (another history:
    /// a restored home), so the caller reads everything again.
    pub fn keys_changed_since(&self, heads: &[[u8; 32]]) -> Option<BTreeSet<String>> {
        let heads: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
        if heads
            .iter()
            .any(|h| self.doc.get_change_by_hash(h).is_none())
        {
            return None;
        }
        let entries = self.schema().entries_id();
        let mut keys = BTreeSet::new();
        let mut objects: BTreeSet<String> = BTreeSet::new();
        for change in self.doc.get_changes(&heads) {
            let expanded = change.decode();
            for op in &expanded.operations {
                match (&op.obj, &op.key) {
                    (obj, Key::Map(key)) if *obj == entries => {
                        keys.insert(key.to_string());
                    }
                    (ObjectId::Id(id), _) => {
                        objects.insert(format!("{}@{}", id.0, id.1));
                    }
                    (ObjectId::Root, _) => {}
                }
            }
        }
        // An object inside an entry names its entry through its parents;
        // objects outside `entries` (the device list) name none.
        for text in objects {
            let Ok(obj) = self.doc.import_obj(&text) else {
                continue;
            };
            let Ok(parents) = self.doc.parents(&obj) else {
                continue;
            };
            for parent in parents {
                if parent.obj == self.entries {
                    if let automerge::Prop::Map(key) = parent.prop {
                        keys.insert(key);
                    }
                    break;
                }
            }
        }
        Some(keys)
    }

    /// The entries `change` makes, each with its key: what a writer,
    /// which holds no document, puts in the index for an entry it adds.
    /// They read exactly as the document would read them once `change`
    /// is in it (nothing else has touched them yet).
    pub fn entries_in_change(&self, change: &Change) -> Vec<(String, Entry)> {
        let entries = self.schema().entries_id();
        super::waiting::entries_made(change, &entries)
            .into_iter()
            .map(|mut entry| {
                entry.waiting = false;
                (entry_key(entry.created, &entry.id), entry)
            })
            .collect()
    }
}

/// The creation time an entry key starts with (0 for a key without one),
/// which orders the index as the document's keys are ordered.
pub fn time_of_entry_key(key: &str) -> i64 {
    time_of_key(key).unwrap_or(0)
}
