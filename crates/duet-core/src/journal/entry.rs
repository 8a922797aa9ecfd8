//! The plain Rust shapes of what the journal holds, read out of automerge.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What kind of moment an entry records. The kinds follow the habits duet
/// exists for: saying how you feel, being honest about needs, gratitude,
/// sharing dreams, keeping memories and laughing together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    #[default]
    Note,
    Feeling,
    Need,
    Gratitude,
    Dream,
    Memory,
    Laugh,
}

impl EntryKind {
    pub const ALL: [EntryKind; 7] = [
        EntryKind::Note,
        EntryKind::Feeling,
        EntryKind::Need,
        EntryKind::Gratitude,
        EntryKind::Dream,
        EntryKind::Memory,
        EntryKind::Laugh,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            EntryKind::Note => "note",
            EntryKind::Feeling => "feeling",
            EntryKind::Need => "need",
            EntryKind::Gratitude => "gratitude",
            EntryKind::Dream => "dream",
            EntryKind::Memory => "memory",
            EntryKind::Laugh => "laugh",
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a kind of entry; use one of note, feeling, need, gratitude, dream, memory, laugh"
)]
pub struct UnknownKind(pub String);

impl FromStr for EntryKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        EntryKind::ALL
            .into_iter()
            .find(|k| k.as_str() == lower)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// One journal entry as it stands after every merge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub person: String,
    /// The authoring device's id (full text form), read from the entry's
    /// own id: the device whose signed change made it.
    pub device: String,
    /// Milliseconds since the Unix epoch, UTC, as its author's clock said.
    pub created: i64,
    pub edited: Option<i64>,
    /// The device that last edited or removed it, read from the signed
    /// change that did, if it was edited.
    pub edited_by: Option<String>,
    /// Set when its date is further ahead of this device's clock than
    /// [`CLOCK_TOLERANCE_MS`](super::CLOCK_TOLERANCE_MS): when this device
    /// received it (or now, if it does not know), the time it is listed
    /// and filtered by instead of its own date.
    pub arrived: Option<i64>,
    pub kind: EntryKind,
    pub tags: Vec<String>,
    pub mood: Option<String>,
    /// The question the entry answers (a `duet prompt`), when it is an
    /// answer: shown with it, so the partner reads both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub body: String,
    /// Other versions of the body written concurrently on other devices.
    /// Empty unless two edits crossed; both are kept and shown, never lost.
    pub conflicts: Vec<String>,
    pub reactions: Vec<Reaction>,
    pub replies: Vec<Reply>,
    pub heard: Vec<Heard>,
    pub deleted: Option<i64>,
    /// True for an entry read from a change that waits for an earlier one
    /// this device lacks (it was damaged, and a peer will send it again):
    /// shown as written, without later edits or responses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub waiting: bool,
    /// Set for an entry brought from another journal (`duet import`):
    /// where it came from, as the person who imported it (`person`, whose
    /// device signed it) recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
}

impl Entry {
    /// An entry with its id and nothing else yet (a note): what a reader
    /// fills in from the document or from a change.
    pub(super) fn blank(id: &str) -> Self {
        Self {
            id: id.to_string(),
            person: String::new(),
            device: String::new(),
            created: 0,
            edited: None,
            edited_by: None,
            arrived: None,
            kind: EntryKind::Note,
            tags: Vec::new(),
            mood: None,
            prompt: None,
            body: String::new(),
            conflicts: Vec::new(),
            reactions: Vec::new(),
            replies: Vec::new(),
            heard: Vec::new(),
            deleted: None,
            waiting: false,
            imported: None,
        }
    }

    /// The time the entry is listed and filtered by: its date, unless that
    /// was ahead of this device's clock (see [`Entry::arrived`]).
    pub fn listed_at(&self) -> i64 {
        self.arrived.unwrap_or(self.created)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub person: String,
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub id: String,
    pub person: String,
    pub device: String,
    pub created: i64,
    /// When its author last changed its words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited: Option<i64>,
    pub body: String,
    /// Reactions to the reply itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Set for a reply brought from another journal that someone else
    /// wrote there: who, as the person who imported it recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported: Option<Origin>,
}

/// Where an imported entry came from. Everything here is the importing
/// person's word, signed by their device like the entry itself: the
/// journal's checks prove who imported it, not who first wrote it, so it
/// is shown as "Sam (imported by Alex)", never as Sam's own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// The id of the journal it was brought from.
    pub journal: String,
    /// Who wrote it there, when that was not the person who imported it.
    /// `None`: the importer's own entry, brought under their name.
    pub author: Option<Origin>,
    /// Reactions others gave it there (the importer's own are among the
    /// entry's reactions, under their name).
    pub reactions: Vec<Reaction>,
    /// Heard marks others left on it there.
    pub heard: Vec<Heard>,
}

/// The person and device that wrote something in the journal it was
/// imported from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub person: String,
    pub device: String,
}

/// A partner's mark that they read an entry and heard it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heard {
    pub person: String,
    pub at: i64,
}

/// A device that may read and write the journal, as recorded in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub id: String,
    pub person: String,
    pub name: String,
    /// The device that paired this one in; `None` for the journal's first.
    pub added_by: Option<String>,
    pub added_at: i64,
    /// `Some("mirror")` for a mirror (`docs/mirror.md`): a device that
    /// stores and serves the journal sealed, without its key. `None` for a
    /// device people write from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The role of a mirror in its device record.
pub const MIRROR_ROLE: &str = "mirror";

impl DeviceRecord {
    /// True for a mirror, which holds no journal key.
    pub fn is_mirror(&self) -> bool {
        self.role.as_deref() == Some(MIRROR_ROLE)
    }
}

/// What a new entry holds; the journal fills in id, author and times.
/// It travels whole, as one serde type, where an entry crosses a process
/// boundary (the daemon's control socket).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NewEntry {
    #[serde(default)]
    pub kind: EntryKind,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub mood: Option<String>,
    /// The question it answers, if any (see [`Entry::prompt`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub body: String,
}

/// An edit replaces the fields that are `Some`.
#[derive(Clone, Debug, Default)]
pub struct EntryEdit {
    pub body: Option<String>,
    pub kind: Option<EntryKind>,
    pub tags: Option<Vec<String>>,
    pub mood: Option<Option<String>>,
}

/// Which entries `log` shows. Times are milliseconds since the epoch.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub person: Option<String>,
    pub kind: Option<EntryKind>,
    pub tag: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub search: Option<String>,
    pub limit: Option<usize>,
}

impl Filter {
    /// True when `entry` passes every condition but the limit.
    pub fn matches(&self, entry: &Entry) -> bool {
        if let Some(person) = &self.person {
            if !entry.person.eq_ignore_ascii_case(person) {
                return false;
            }
        }
        if self.kind.is_some_and(|k| k != entry.kind) {
            return false;
        }
        if let Some(tag) = &self.tag {
            if !entry.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
                return false;
            }
        }
        if self.since.is_some_and(|s| entry.listed_at() < s) {
            return false;
        }
        if self.until.is_some_and(|u| entry.listed_at() >= u) {
            return false;
        }
        if let Some(needle) = &self.search {
            let needle = needle.to_lowercase();
            let found = entry.body.to_lowercase().contains(&needle)
                || entry
                    .conflicts
                    .iter()
                    .any(|b| b.to_lowercase().contains(&needle))
                || entry
                    .tags
                    .iter()
                    .any(|t| t.to_lowercase().contains(&needle))
                || entry
                    .replies
                    .iter()
                    .any(|r| r.body.to_lowercase().contains(&needle));
            if !found {
                return false;
            }
        }
        true
    }
}
