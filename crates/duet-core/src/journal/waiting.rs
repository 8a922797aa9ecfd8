//! Entries in changes that wait for a missing dependency.
//!
//! automerge applies a change only once every change it depends on is in
//! the document. When one stored change is lost (damaged bytes set aside,
//! waiting for a peer's good copy), every later change waits behind it,
//! entries that have nothing to do with it included. A new entry is whole
//! inside the change that makes it, so it can be read straight from that
//! change: `log` and `export` show it, marked as waiting, until the missing
//! change arrives and automerge applies them all.

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Change, ScalarValue};

use super::{id_of_key, Entry, EntryKind, Journal};
use crate::journal::device_of_actor;

impl Journal {
    /// Keeps changes that did not apply (their dependencies are missing),
    /// to read the entries they make.
    pub(super) fn keep_waiting(&mut self, changes: Vec<Change>) {
        self.waiting = changes;
    }

    /// The entries made by changes still waiting for a dependency.
    pub fn waiting_entries(&self) -> Vec<Entry> {
        let entries = self.schema().entries_id();
        let mut out = Vec::new();
        for change in &self.waiting {
            if self.contains(&change.hash().0) {
                continue;
            }
            out.extend(entries_made(change, &entries));
        }
        out
    }
}

/// The entries `change` makes in the entries map `entries`.
pub(super) fn entries_made(change: &Change, entries: &ObjectId) -> Vec<Entry> {
    let expanded = change.decode();
    let start = expanded.start_op.get();
    let actor = expanded.actor_id.clone();
    let device = device_of_actor(actor.to_bytes())
        .map(|d| d.to_text())
        .unwrap_or_default();
    let id_of = |i: usize| ObjectId::Id(OpId(start + i as u64, actor.clone()));
    let mut out: Vec<(ObjectId, Entry, Option<ObjectId>)> = Vec::new();
    for (i, op) in expanded.operations.iter().enumerate() {
        match (&op.action, &op.key) {
            (OpType::Make(automerge::ObjType::Map), Key::Map(key)) if op.obj == *entries => {
                out.push((
                    id_of(i),
                    Entry {
                        device: device.clone(),
                        waiting: true,
                        ..Entry::blank(id_of_key(key))
                    },
                    None,
                ));
            }
            (OpType::Make(automerge::ObjType::List), Key::Map(key)) if key == "tags" => {
                if let Some(made) = out.iter_mut().find(|(obj, ..)| *obj == op.obj) {
                    made.2 = Some(id_of(i));
                }
            }
            (OpType::Put(ScalarValue::Str(tag)), Key::Seq(_)) if op.insert => {
                if let Some(made) = out
                    .iter_mut()
                    .find(|(_, _, tags)| tags.as_ref() == Some(&op.obj))
                {
                    made.1.tags.push(tag.to_string());
                }
            }
            (OpType::Put(value), Key::Map(key)) => {
                let Some(made) = out.iter_mut().find(|(obj, ..)| *obj == op.obj) else {
                    continue;
                };
                let entry = &mut made.1;
                match (key.as_str(), value) {
                    ("person", ScalarValue::Str(v)) => entry.person = v.to_string(),
                    ("created", ScalarValue::Timestamp(t)) => entry.created = *t,
                    ("kind", ScalarValue::Str(v)) => {
                        entry.kind = v.parse().unwrap_or(EntryKind::Note)
                    }
                    ("mood", ScalarValue::Str(v)) => entry.mood = Some(v.to_string()),
                    ("prompt", ScalarValue::Str(v)) => entry.prompt = Some(v.to_string()),
                    ("body", ScalarValue::Str(v)) => entry.body = v.to_string(),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    out.into_iter().map(|(_, entry, _)| entry).collect()
}
