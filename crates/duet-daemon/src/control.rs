//! The control socket's messages: how the CLI talks to a running daemon.
//!
//! A Unix socket at `<home>/daemon.sock`, mode 0600 inside the 0700 home.
//! Each line is one JSON message. The client opens with
//! `{"cmd":"hello","version":1}`; the daemon answers with its own version
//! or an error, and the client then sends one request. Most requests get
//! one reply; `invite` streams events, and takes an `answer` from the
//! client when a device asks to join. The CLI's side is
//! [`Client`](crate::client::Client); the daemon's is `server.rs`.

use std::path::{Path, PathBuf};

use duet_core::journal::{NewEntry, Tally};
use serde::{Deserialize, Serialize};

/// Bumped when a message changes meaning.
pub const CONTROL_VERSION: u32 = 1;
/// Longest line either side accepts: room for the largest entry body
/// (256 KiB, JSON-escaped) on the `add` fast path.
pub const MAX_LINE: usize = 2 << 20;

pub fn socket_path(home: &Path) -> PathBuf {
    home.join("daemon.sock")
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Hello {
        version: u32,
    },
    Status,
    Sync,
    /// The CLI wrote to the store: pick it up and push it now.
    Refresh,
    /// The fast path for `duet add`: the daemon writes the entry (durably)
    /// without any process loading the journal, and pushes it at once.
    Add {
        #[serde(flatten)]
        entry: NewEntry,
        created: i64,
    },
    Invite {
        timeout_secs: u64,
        /// Addresses to dial while the invitation waits: a joiner that
        /// listens (`duet join --listen`, a mirror on a server this
        /// device can reach but that cannot reach it).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        dial: Vec<String>,
    },
    /// The person's answer to a joining device's request.
    Answer {
        accept: bool,
    },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PeerStatus {
    pub device_id: String,
    pub person: String,
    pub name: String,
    pub connected: bool,
    pub last_sync: Option<i64>,
    /// Changes (envelopes) this device holds that the peer lacks, as far
    /// as known.
    pub waiting: u64,
    /// The same, as a person counts them: entries, replies, other changes.
    #[serde(default)]
    pub to_go: Tally,
    /// How far its clock was ahead of this device's (ms), last it said.
    #[serde(default)]
    pub clock_ahead: Option<i64>,
    /// Where this device can dial it, newest first.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// How it is connected: "direct", or "relayed" through a mirror.
    #[serde(default)]
    pub via: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusReport {
    pub device_id: String,
    pub addrs: Vec<String>,
    pub peers: Vec<PeerStatus>,
    /// Whether devices elsewhere can dial this one, as its mirrors found
    /// (`None` with no mirror to ask).
    #[serde(default)]
    pub reachability: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncedPeer {
    pub device_id: String,
    /// Whose device it is and its name, as `duet devices` shows them.
    #[serde(default)]
    pub person: String,
    #[serde(default)]
    pub name: String,
    /// Changes (envelopes, a snapshot as one) received and sent.
    pub received: u64,
    pub sent: u64,
    /// The same, as a person counts them.
    #[serde(default)]
    pub received_tally: Tally,
    #[serde(default)]
    pub sent_tally: Tally,
    pub ok: bool,
}

/// What happens to an invitation, in order: it opens; a device asks to
/// join (answer it); it ends, joined or failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InviteEvent {
    Opened {
        code: String,
        uri: String,
        expires_at: i64,
        /// Where the daemon can be reached (listen, external and relayed
        /// addresses, each ending in its `/p2p/` id): what `duet invite`
        /// shows a joiner on another network.
        #[serde(default)]
        addrs: Vec<String>,
    },
    Joining {
        person: String,
        device: String,
        device_id: String,
        words: String,
        /// A mirror: it will get no journal key.
        #[serde(default)]
        mirror: bool,
    },
    Joined {
        person: String,
        device: String,
        device_id: String,
        words: String,
        #[serde(default)]
        mirror: bool,
    },
    Failed {
        reason: String,
    },
}

impl InviteEvent {
    /// True for the events that end an invitation.
    pub fn is_last(&self) -> bool {
        matches!(
            self,
            InviteEvent::Joined { .. } | InviteEvent::Failed { .. }
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Hello {
        version: u32,
    },
    Status(StatusReport),
    Synced {
        peers: Vec<SyncedPeer>,
    },
    Ok,
    Added {
        id: String,
    },
    InviteOpened {
        code: String,
        uri: String,
        expires_at: i64,
        #[serde(default)]
        addrs: Vec<String>,
    },
    InviteJoining {
        person: String,
        device: String,
        device_id: String,
        words: String,
        #[serde(default)]
        mirror: bool,
    },
    InviteJoined {
        person: String,
        device: String,
        device_id: String,
        words: String,
        #[serde(default)]
        mirror: bool,
    },
    InviteFailed {
        reason: String,
    },
    Error {
        message: String,
    },
}

impl Reply {
    /// The reply's name on the wire, for messages about it.
    pub fn name(&self) -> &'static str {
        match self {
            Reply::Hello { .. } => "hello",
            Reply::Status(_) => "status",
            Reply::Synced { .. } => "synced",
            Reply::Ok => "ok",
            Reply::Added { .. } => "added",
            Reply::InviteOpened { .. } => "invite_opened",
            Reply::InviteJoining { .. } => "invite_joining",
            Reply::InviteJoined { .. } => "invite_joined",
            Reply::InviteFailed { .. } => "invite_failed",
            Reply::Error { .. } => "error",
        }
    }

    /// The invitation event this reply carries, if it is one.
    pub fn into_invite_event(self) -> Result<InviteEvent, Reply> {
        Ok(match self {
            Reply::InviteOpened {
                code,
                uri,
                expires_at,
                addrs,
            } => InviteEvent::Opened {
                code,
                uri,
                expires_at,
                addrs,
            },
            Reply::InviteJoining {
                person,
                device,
                device_id,
                words,
                mirror,
            } => InviteEvent::Joining {
                person,
                device,
                device_id,
                words,
                mirror,
            },
            Reply::InviteJoined {
                person,
                device,
                device_id,
                words,
                mirror,
            } => InviteEvent::Joined {
                person,
                device,
                device_id,
                words,
                mirror,
            },
            Reply::InviteFailed { reason } => InviteEvent::Failed { reason },
            other => return Err(other),
        })
    }
}

impl From<InviteEvent> for Reply {
    fn from(event: InviteEvent) -> Self {
        match event {
            InviteEvent::Opened {
                code,
                uri,
                expires_at,
                addrs,
            } => Reply::InviteOpened {
                code,
                uri,
                expires_at,
                addrs,
            },
            InviteEvent::Joining {
                person,
                device,
                device_id,
                words,
                mirror,
            } => Reply::InviteJoining {
                person,
                device,
                device_id,
                words,
                mirror,
            },
            InviteEvent::Joined {
                person,
                device,
                device_id,
                words,
                mirror,
            } => Reply::InviteJoined {
                person,
                device,
                device_id,
                words,
                mirror,
            },
            InviteEvent::Failed { reason } => Reply::InviteFailed { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_add_request_keeps_its_wire_form() {
        let request = Request::Add {
            entry: NewEntry {
                kind: duet_core::journal::EntryKind::Feeling,
                tags: vec!["us".into()],
                mood: Some("warm".into()),
                prompt: None,
                body: "a walk".into(),
            },
            created: 5,
        };
        let line = serde_json::to_value(&request).expect("json");
        assert_eq!(
            line,
            serde_json::json!({"cmd": "add", "kind": "feeling", "tags": ["us"], "mood": "warm", "body": "a walk", "created": 5})
        );
        let back: Request = serde_json::from_value(line).expect("parses");
        assert!(matches!(back, Request::Add { created: 5, .. }));
    }

    #[test]
    fn invitation_events_travel_as_replies_and_back() {
        let event = InviteEvent::Joining {
            person: "Sam".into(),
            device: "laptop".into(),
            device_id: "x".into(),
            words: "a-b-c".into(),
            mirror: true,
        };
        let reply = Reply::from(event.clone());
        assert_eq!(reply.name(), "invite_joining");
        assert_eq!(reply.into_invite_event().expect("an event"), event);
        assert!(Reply::Ok.into_invite_event().is_err());
    }
}
