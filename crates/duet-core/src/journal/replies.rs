//! Replies as things of their own: found by id like entries, reacted to,
//! edited and deleted by their author.
//!
//! A reply is a map in its entry's `replies`. A reaction to a reply is a
//! map under the reply keyed by the emoji (any key but the journal's
//! reserved names), holding a time under each person who chose it,
//! exactly as an entry's `reactions` map holds them;
//! it needs no new rule, since anyone may add a map to another's object
//! and write a time under their own name. Editing writes `body` and
//! `edited`, deleting writes `deleted` and clears `body`: the fields an
//! author may change on their own objects.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue};

use super::read::{self, maps_at, MIN_ID_PREFIX};
use super::{check_body, id_of_key, Author, Commit, Journal, JournalError, Reaction};

/// What an id names: an entry, or a reply within one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The entry, or the entry the reply answers.
    pub entry: String,
    /// The reply, when the id is a reply's.
    pub reply: Option<String>,
}

impl Journal {
    /// The one entry or reply whose id starts with `prefix` (4 characters
    /// at least, unless it is a whole id).
    pub fn resolve(&self, prefix: &str) -> Result<Target, JournalError> {
        match self.resolve_id(prefix) {
            Ok(entry) => Ok(Target { entry, reply: None }),
            Err(JournalError::NoSuchEntry(_)) => {
                let prefix = prefix.trim().to_ascii_lowercase();
                let mut found = Vec::new();
                for item in self.doc.map_range(&self.entries, ..) {
                    for obj in maps_at(&self.doc, &self.entries, &item) {
                        let Some(replies) = read::get_map(&self.doc, &obj, "replies") else {
                            continue;
                        };
                        for reply in self.doc.map_range(&replies, ..) {
                            let id: &str = &reply.key;
                            let hit = id == prefix
                                || (prefix.len() >= MIN_ID_PREFIX && id.starts_with(&prefix));
                            let target = Target {
                                entry: id_of_key(&item.key).to_string(),
                                reply: Some(id.to_string()),
                            };
                            if hit && !found.contains(&target) {
                                found.push(target);
                            }
                        }
                    }
                }
                match found.len() {
                    0 if prefix.len() < MIN_ID_PREFIX => Err(JournalError::ShortId(prefix)),
                    0 => Err(JournalError::NoSuchEntry(prefix)),
                    1 => Ok(found.swap_remove(0)),
                    n => Err(JournalError::AmbiguousId(prefix, n)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Reacts with `emoji` to the reply `reply` of entry `id`.
    pub fn react_to_reply(
        &mut self,
        author: &Author,
        id: &str,
        reply: &str,
        emoji: &str,
        now: i64,
    ) -> Result<Commit, JournalError> {
        // A reaction is a key in the reply itself: never one of its fields.
        if super::RESERVED_NAMES.contains(&emoji) {
            return Err(JournalError::ReservedReaction(emoji.to_string()));
        }
        let obj = self.live_reply(id, reply)?;
        let mut tx = self.doc.transaction();
        super::put_reaction(&mut tx, &obj, emoji, &author.person, now)?;
        tx.commit();
        self.last_commit()
    }

    /// Replaces the words of one's own reply.
    pub fn edit_reply(
        &mut self,
        author: &Author,
        id: &str,
        reply: &str,
        body: &str,
        now: i64,
    ) -> Result<Commit, JournalError> {
        check_body(body)?;
        let obj = self.own_live_reply(author, id, reply)?;
        let mut tx = self.doc.transaction();
        tx.put(&obj, "body", body)?;
        tx.put(&obj, "edited", ScalarValue::Timestamp(now))?;
        tx.commit();
        self.last_commit()
    }

    /// Deletes one's own reply: marked deleted, its words cleared.
    pub fn remove_reply(
        &mut self,
        author: &Author,
        id: &str,
        reply: &str,
        now: i64,
    ) -> Result<Commit, JournalError> {
        let obj = self.own_live_reply(author, id, reply)?;
        let mut tx = self.doc.transaction();
        tx.put(&obj, "body", "")?;
        tx.put(&obj, "deleted", ScalarValue::Timestamp(now))?;
        tx.commit();
        self.last_commit()
    }

    /// The reply's words as they stand (for an editor to start from).
    pub fn reply_body(&self, id: &str, reply: &str) -> Result<String, JournalError> {
        let obj = self.live_reply(id, reply)?;
        Ok(read::get_str(&self.doc, &obj, "body").unwrap_or_default())
    }

    fn live_reply(&self, id: &str, reply: &str) -> Result<ObjId, JournalError> {
        let entry = self.live_entry(id)?;
        let replies = read::get_map(&self.doc, &entry, "replies")
            .ok_or_else(|| JournalError::NoSuchEntry(reply.to_string()))?;
        let obj = match self.doc.get(&replies, reply)? {
            Some((automerge::Value::Object(ObjType::Map), obj)) => obj,
            _ => return Err(JournalError::NoSuchEntry(reply.to_string())),
        };
        if read::get_i64(&self.doc, &obj, "deleted").is_some() {
            return Err(JournalError::Deleted(reply.to_string()));
        }
        Ok(obj)
    }

    fn own_live_reply(
        &self,
        author: &Author,
        id: &str,
        reply: &str,
    ) -> Result<ObjId, JournalError> {
        let obj = self.live_reply(id, reply)?;
        let owner = read::get_str(&self.doc, &obj, "person").unwrap_or_default();
        if owner != author.person {
            return Err(JournalError::NotYours {
                id: reply.to_string(),
                owner,
            });
        }
        Ok(obj)
    }
}

/// The reactions under a reply: each map in it is an emoji's.
pub(super) fn reply_reactions(doc: &automerge::Automerge, reply: &ObjId) -> Vec<Reaction> {
    let mut out: Vec<Reaction> = Vec::new();
    for item in doc.map_range(reply, ..) {
        // The reply's own maps (an import's marker) are not reactions.
        if super::RESERVED_NAMES.contains(&item.key.as_ref()) {
            continue;
        }
        for by_emoji in maps_at(doc, reply, &item) {
            for who in doc.map_range(&by_emoji, ..) {
                let Some(at) = read::scalar_i64(&who.value) else {
                    continue;
                };
                let reaction = Reaction {
                    emoji: item.key.to_string(),
                    person: who.key.to_string(),
                    at,
                };
                if !out
                    .iter()
                    .any(|r| r.emoji == reaction.emoji && r.person == reaction.person)
                {
                    out.push(reaction);
                }
            }
        }
    }
    out
}
