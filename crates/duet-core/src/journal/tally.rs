//! What changes are to a person: entries, replies, and the rest.
//!
//! Sync moves signed changes, one per envelope; a person thinks in entries.
//! `duet status` and `duet sync` count what waits or moved as entries and
//! replies, and everything else (an edit, a reaction, a mark as heard, a
//! device paired or removed) as another change. One change is read on its
//! own, without the document: the journal's first change says where the
//! entries map is, and a reply is a map made with a body in the same
//! change.

use std::collections::HashSet;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::Change;
use serde::{Deserialize, Serialize};

use super::Schema;

/// Counts of changes as a person sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// New entries.
    pub entries: u64,
    /// New replies to entries.
    pub replies: u64,
    /// Every other change: edits, reactions, marks as heard, devices.
    pub other: u64,
}

impl Tally {
    pub fn is_empty(&self) -> bool {
        self.entries + self.replies + self.other == 0
    }

    pub fn add(&mut self, more: Tally) {
        self.entries += more.entries;
        self.replies += more.replies;
        self.other += more.other;
    }

    /// "2 entries, 1 reply and 3 other changes"; "nothing" when empty.
    pub fn sentence(&self) -> String {
        let mut parts = Vec::new();
        let mut part = |n: u64, one: &str, many: &str| {
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        };
        part(self.entries, "entry", "entries");
        part(self.replies, "reply", "replies");
        let other_only = self.entries + self.replies == 0;
        match (self.other, other_only) {
            (0, _) => {}
            (1, true) => parts.push("1 change".into()),
            (n, true) => parts.push(format!("{n} changes")),
            (1, false) => parts.push("1 other change".into()),
            (n, false) => parts.push(format!("{n} other changes")),
        }
        match parts.as_slice() {
            [] => "nothing".into(),
            [one] => one.clone(),
            [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        }
    }
}

impl Schema {
    /// What `change` is to a person: the entries and replies it makes, or
    /// one other change when it makes neither.
    pub fn tally(&self, change: &Change) -> Tally {
        let entries_map = self.entries_id();
        let expanded = change.decode();
        let start = expanded.start_op.get();
        let actor = expanded.actor_id.clone();
        let mut entries = 0;
        // Maps this change makes outside the entries map, by id.
        let mut made = HashSet::new();
        let mut replies = HashSet::new();
        for (i, op) in expanded.operations.iter().enumerate() {
            match (&op.action, &op.key) {
                (OpType::Make(automerge::ObjType::Map), Key::Map(_)) if op.pred.is_empty() => {
                    if op.obj == entries_map {
                        entries += 1;
                    } else {
                        made.insert(ObjectId::Id(OpId(start + i as u64, actor.clone())));
                    }
                }
                (OpType::Put(_), Key::Map(key)) if key == "body" && made.contains(&op.obj) => {
                    replies.insert(op.obj.clone());
                }
                _ => {}
            }
        }
        let replies = replies.len() as u64;
        Tally {
            entries,
            replies,
            other: u64::from(entries + replies == 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_reads_as_a_sentence() {
        let t = |entries, replies, other| Tally {
            entries,
            replies,
            other,
        };
        assert_eq!(t(0, 0, 0).sentence(), "nothing");
        assert_eq!(t(1, 0, 0).sentence(), "1 entry");
        assert_eq!(t(2, 1, 0).sentence(), "2 entries and 1 reply");
        assert_eq!(
            t(2, 1, 3).sentence(),
            "2 entries, 1 reply and 3 other changes"
        );
        assert_eq!(t(0, 0, 1).sentence(), "1 change");
        assert_eq!(t(0, 2, 1).sentence(), "2 replies and 1 other change");
    }
}
