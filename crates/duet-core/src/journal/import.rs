//! Bringing the entries of another journal into this one (`duet import`).
//!
//! An imported entry is a new entry of the person importing it, signed by
//! their device like any other, with its old id, date, edit date, kind,
//! tags, mood, body, replies, reactions and heard marks, and a marker:
//!
//! ```text
//! <created>-<old id>: { person, device, created, edited?, kind, tags, mood?, body,
//!                       reactions: { <emoji>: { <importer>: t } },
//!                       replies: { <old reply id>: { person, device, created, body,
//!                                                    imported?: { author, author_device } } },
//!                       heard: { <importer>: t },
//!                       imported: { journal, author?, author_device?,
//!                                   reactions: [ { author, emoji, created } ],
//!                                   heard: [ { author, created } ] } }
//! ```
//!
//! The journal's checks (`schema.rs`) prove who signed a change, so an
//! entry, reply, reaction or heard mark someone else wrote in the old
//! journal cannot be written under their name here: that would be a
//! forgery. What they wrote is kept under the importer's name with the
//! marker saying who wrote it there (`author`), shown as "Sam (imported by
//! Alex)"; their reactions and heard marks are kept inside the marker.
//! What was written there under the importer's own name here is brought
//! as theirs; under any other name (even their own earlier one), it is
//! marked, since a name is all that ties the two journals' people. The marker is written once, by the
//! change that makes the entry, and nobody writes into another person's
//! entry a key the marker uses (both are schema rules).
//!
//! An entry keeps its old id, so importing twice brings nothing the second
//! time ([`Journal::entry_ids`]).

use std::collections::HashSet;

use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ObjId, ObjType, ReadDoc, ScalarValue};

use super::read::{get_i64, get_str};
use super::{
    check_body, entry_key, id_of_key, put_reaction, Author, Commit, Entry, Heard, Imported,
    Journal, JournalError, Origin, Reaction, MAX_CHANGE_BYTES, MAX_CHANGE_OPS,
};

/// The key of the marker on an imported entry or reply.
pub(super) const IMPORTED: &str = "imported";

/// Half the limits of one change: room for the estimate to be off.
const BATCH_OPS: usize = MAX_CHANGE_OPS / 2;
const BATCH_BYTES: usize = MAX_CHANGE_BYTES / 2;

impl Journal {
    /// The id of every entry here, deleted ones included: an entry whose
    /// old id is among them was imported already (or deleted since), and
    /// is not brought again.
    pub fn entry_ids(&self) -> HashSet<String> {
        self.doc
            .map_range(&self.entries, ..)
            .map(|item| id_of_key(&item.key).to_string())
            .collect()
    }

    /// Writes `entries`, read from the journal whose id is `from`, as one
    /// change by `author`. What was written there under `author`'s person
    /// name is brought as theirs; the rest is marked as imported. Entries
    /// already here ([`Journal::entry_ids`]) are left out by the caller;
    /// deleted ones are refused here.
    pub fn import_entries(
        &mut self,
        author: &Author,
        from: &str,
        entries: &[Entry],
    ) -> Result<Commit, JournalError> {
        for entry in entries {
            if entry.deleted.is_some() {
                return Err(JournalError::Deleted(entry.id.clone()));
            }
            check_body(&entry.body)?;
        }
        let mut tx = self.doc.transaction();
        for entry in entries {
            write_entry(&mut tx, &self.entries, author, from, entry)?;
        }
        tx.commit();
        self.last_commit()
    }
}

/// Runs of `entries` that each fit in one change.
pub fn batches(entries: &[Entry]) -> Vec<&[Entry]> {
    let mut out = Vec::new();
    let (mut start, mut ops, mut bytes) = (0, 0, 0);
    for (i, entry) in entries.iter().enumerate() {
        let (o, b) = cost(entry);
        if i > start && (ops + o > BATCH_OPS || bytes + b > BATCH_BYTES) {
            out.push(&entries[start..i]);
            (start, ops, bytes) = (i, 0, 0);
        }
        ops += o;
        bytes += b;
    }
    if start < entries.len() {
        out.push(&entries[start..]);
    }
    out
}

/// About how many operations and bytes writing `entry` takes.
fn cost(entry: &Entry) -> (usize, usize) {
    let imported = entry.imported.as_ref();
    let responses = entry.reactions.len()
        + entry.heard.len()
        + imported.map_or(0, |i| i.reactions.len() + i.heard.len());
    let ops = 24 + entry.tags.len() + 4 * responses + 9 * entry.replies.len();
    let bytes = 512
        + entry.body.len()
        + entry.tags.iter().map(String::len).sum::<usize>()
        + entry
            .replies
            .iter()
            .map(|r| r.body.len() + 256)
            .sum::<usize>()
        + 128 * responses;
    (ops, bytes)
}

/// Who wrote `entry` in its old journal: whoever an earlier import said,
/// else the person whose device signed it there.
fn first_author(entry: &Entry) -> Origin {
    match entry.imported.as_ref().and_then(|i| i.author.clone()) {
        Some(origin) => origin,
        None => Origin {
            person: entry.person.clone(),
            device: entry.device.clone(),
        },
    }
}

fn write_entry(
    tx: &mut Transaction<'_>,
    entries: &ObjId,
    author: &Author,
    from: &str,
    entry: &Entry,
) -> Result<(), JournalError> {
    let own = |person: &str| person == author.person;
    let obj = tx.put_object(entries, entry_key(entry.created, &entry.id), ObjType::Map)?;
    tx.put(&obj, "person", author.person.as_str())?;
    tx.put(&obj, "device", author.device.to_text())?;
    tx.put(&obj, "created", ScalarValue::Timestamp(entry.created))?;
    if let Some(edited) = entry.edited {
        tx.put(&obj, "edited", ScalarValue::Timestamp(edited))?;
    }
    tx.put(&obj, "kind", entry.kind.as_str())?;
    let tags = tx.put_object(&obj, "tags", ObjType::List)?;
    for (i, tag) in entry.tags.iter().enumerate() {
        tx.insert(&tags, i, tag.as_str())?;
    }
    if let Some(mood) = &entry.mood {
        tx.put(&obj, "mood", mood.as_str())?;
    }
    if let Some(prompt) = &entry.prompt {
        tx.put(&obj, "prompt", prompt.as_str())?;
    }
    tx.put(&obj, "body", entry.body.as_str())?;

    // Responses: the importer's own under their name, others' in the marker.
    let imported = entry.imported.as_ref();
    let all_reactions = entry
        .reactions
        .iter()
        .chain(imported.into_iter().flat_map(|i| &i.reactions));
    let (own_reactions, their_reactions): (Vec<&Reaction>, Vec<&Reaction>) =
        all_reactions.partition(|r| own(&r.person));
    let all_heard = entry
        .heard
        .iter()
        .chain(imported.into_iter().flat_map(|i| &i.heard));
    let (own_heard, their_heard): (Vec<&Heard>, Vec<&Heard>) =
        all_heard.partition(|h| own(&h.person));

    let reactions = tx.put_object(&obj, "reactions", ObjType::Map)?;
    for reaction in own_reactions {
        put_reaction(tx, &reactions, &reaction.emoji, &author.person, reaction.at)?;
    }
    let replies = tx.put_object(&obj, "replies", ObjType::Map)?;
    for reply in &entry.replies {
        check_body(&reply.body)?;
        let map = tx.put_object(&replies, reply.id.as_str(), ObjType::Map)?;
        tx.put(&map, "person", author.person.as_str())?;
        tx.put(&map, "device", author.device.to_text())?;
        tx.put(&map, "created", ScalarValue::Timestamp(reply.created))?;
        if let Some(edited) = reply.edited {
            tx.put(&map, "edited", ScalarValue::Timestamp(edited))?;
        }
        tx.put(&map, "body", reply.body.as_str())?;
        // The importer's own reactions to a reply come under their name;
        // others' are not carried (a reply's marker names only its author).
        for reaction in reply.reactions.iter().filter(|r| own(&r.person)) {
            put_reaction(tx, &map, &reaction.emoji, &author.person, reaction.at)?;
        }
        let origin = reply.imported.clone().unwrap_or_else(|| Origin {
            person: reply.person.clone(),
            device: reply.device.clone(),
        });
        if !own(&origin.person) {
            let marker = tx.put_object(&map, IMPORTED, ObjType::Map)?;
            write_origin(tx, &marker, &origin)?;
        }
    }
    let heard = tx.put_object(&obj, "heard", ObjType::Map)?;
    if let Some(latest) = own_heard.iter().map(|h| h.at).max() {
        tx.put(
            &heard,
            author.person.as_str(),
            ScalarValue::Timestamp(latest),
        )?;
    }

    let marker = tx.put_object(&obj, IMPORTED, ObjType::Map)?;
    let journal = imported.map_or(from, |i| i.journal.as_str());
    tx.put(&marker, "journal", journal)?;
    let origin = first_author(entry);
    if !own(&origin.person) {
        write_origin(tx, &marker, &origin)?;
    }
    let list = tx.put_object(&marker, "reactions", ObjType::List)?;
    for (i, reaction) in their_reactions.iter().enumerate() {
        let item = tx.insert_object(&list, i, ObjType::Map)?;
        tx.put(&item, "author", reaction.person.as_str())?;
        tx.put(&item, "emoji", reaction.emoji.as_str())?;
        tx.put(&item, "created", ScalarValue::Timestamp(reaction.at))?;
    }
    let list = tx.put_object(&marker, "heard", ObjType::List)?;
    for (i, mark) in their_heard.iter().enumerate() {
        let item = tx.insert_object(&list, i, ObjType::Map)?;
        tx.put(&item, "author", mark.person.as_str())?;
        tx.put(&item, "created", ScalarValue::Timestamp(mark.at))?;
    }
    Ok(())
}

/// Writes who wrote something in the old journal. Not `person` and
/// `device`: those keys always name the signer (`schema.rs`).
fn write_origin(
    tx: &mut Transaction<'_>,
    marker: &ObjId,
    origin: &Origin,
) -> Result<(), JournalError> {
    tx.put(marker, "author", origin.person.as_str())?;
    tx.put(marker, "author_device", origin.device.as_str())?;
    Ok(())
}

/// The marker on an imported entry, if it has one.
/// What an imported entry's marker map (at [`IMPORTED`]) records.
pub(super) fn read_imported(doc: &Automerge, marker: &ObjId) -> Option<Imported> {
    let items = |key: &str| -> Vec<ObjId> {
        match doc.get(marker, key) {
            Ok(Some((automerge::Value::Object(ObjType::List), list))) => doc
                .list_range(&list, ..)
                .filter(|item| matches!(item.value, automerge::ValueRef::Object(ObjType::Map)))
                .map(|item| item.id())
                .collect(),
            _ => Vec::new(),
        }
    };
    let reactions = items("reactions")
        .into_iter()
        .filter_map(|item| {
            Some(Reaction {
                emoji: get_str(doc, &item, "emoji")?,
                person: get_str(doc, &item, "author")?,
                at: get_i64(doc, &item, "created")?,
            })
        })
        .collect();
    let heard = items("heard")
        .into_iter()
        .filter_map(|item| {
            Some(Heard {
                person: get_str(doc, &item, "author")?,
                at: get_i64(doc, &item, "created")?,
            })
        })
        .collect();
    Some(Imported {
        journal: get_str(doc, marker, "journal").unwrap_or_default(),
        author: read_origin(doc, marker),
        reactions,
        heard,
    })
}

/// Who wrote an imported entry or reply in its old journal, if the marker
/// names someone.
pub(super) fn read_origin(doc: &Automerge, marker: &ObjId) -> Option<Origin> {
    Some(Origin {
        person: get_str(doc, marker, "author")?,
        device: get_str(doc, marker, "author_device").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests;
