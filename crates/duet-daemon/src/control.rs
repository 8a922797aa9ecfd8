//! The control socket: how the CLI talks to a running daemon.
//!
//! A Unix socket at `<home>/daemon.sock`, mode 0600 inside the 0700 home.
//! Each line is one JSON message. The client opens with
//! `{"cmd":"hello","version":1}`; the daemon answers with its own version
//! or an error, and the client then sends one request. Most requests get
//! one reply; `invite` streams events, and takes an `answer` from the
//! client when a device asks to join.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// The fast path for `duet add`: the daemon, which holds the journal
    /// in memory, writes the entry (durably) and pushes it at once.
    Add {
        kind: String,
        tags: Vec<String>,
        mood: Option<String>,
        body: String,
        created: i64,
    },
    Invite {
        timeout_secs: u64,
    },
    /// The person's answer to a joining device's request.
    Answer {
        accept: bool,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerStatus {
    pub device_id: String,
    pub person: String,
    pub name: String,
    pub connected: bool,
    pub last_sync: Option<i64>,
    /// Envelopes this device holds that the peer lacks, as far as known.
    pub waiting: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusReport {
    pub device_id: String,
    pub addrs: Vec<String>,
    pub peers: Vec<PeerStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyncedPeer {
    pub device_id: String,
    pub received: u64,
    pub sent: u64,
    pub ok: bool,
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
    },
    InviteJoining {
        person: String,
        device: String,
        device_id: String,
        words: String,
    },
    InviteJoined {
        person: String,
        device: String,
        device_id: String,
        words: String,
    },
    InviteFailed {
        reason: String,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no daemon is running for this home; start it with `duet daemon`")]
    NotRunning,
    #[error("the daemon speaks control version {0}, this duet speaks {CONTROL_VERSION}; restart the daemon")]
    Version(u32),
    #[error("the daemon closed the connection")]
    Closed,
    #[error("the daemon said: {0}")]
    Daemon(String),
    #[error("talking to the daemon failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the daemon sent something this duet does not understand: {0}")]
    Garbled(String),
}

/// A blocking client, for the CLI.
pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// Connects and checks versions. `NotRunning` when nobody listens.
    pub fn connect(home: &Path) -> Result<Self, ControlError> {
        let stream =
            UnixStream::connect(socket_path(home)).map_err(|_| ControlError::NotRunning)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let writer = stream.try_clone()?;
        let mut client = Self {
            reader: BufReader::new(stream),
            writer,
        };
        client.send(&Request::Hello {
            version: CONTROL_VERSION,
        })?;
        match client.receive()? {
            Reply::Hello { version } if version == CONTROL_VERSION => Ok(client),
            Reply::Hello { version } => Err(ControlError::Version(version)),
            Reply::Error { message } => Err(ControlError::Daemon(message)),
            other => Err(ControlError::Garbled(format!("{other:?}"))),
        }
    }

    /// Waits up to `timeout` for each reply (`None`: forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<(), ControlError> {
        Ok(self.writer.set_read_timeout(timeout)?)
    }

    pub fn send(&mut self, request: &Request) -> Result<(), ControlError> {
        let mut line =
            serde_json::to_string(request).map_err(|e| ControlError::Garbled(e.to_string()))?;
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        Ok(())
    }

    /// The next reply; `Error` replies become `ControlError::Daemon`.
    pub fn receive(&mut self) -> Result<Reply, ControlError> {
        let mut line = String::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64)
            .read_line(&mut line)?;
        if n == 0 {
            return Err(ControlError::Closed);
        }
        match serde_json::from_str(&line) {
            Ok(Reply::Error { message }) => Err(ControlError::Daemon(message)),
            Ok(reply) => Ok(reply),
            Err(e) => Err(ControlError::Garbled(e.to_string())),
        }
    }

    /// Sends a request and reads its one reply.
    pub fn call(&mut self, request: &Request) -> Result<Reply, ControlError> {
        self.send(request)?;
        self.receive()
    }
}

use std::io::Read as _;

/// The addresses a running daemon listens on; empty when none runs (or it
/// has not started listening yet).
pub fn listen_addrs(home: &Path) -> Vec<String> {
    let Ok(mut client) = Client::connect(home) else {
        return Vec::new();
    };
    match client.call(&Request::Status) {
        Ok(Reply::Status(report)) => report.addrs,
        _ => Vec::new(),
    }
}

/// Tells a running daemon that the store changed, if one is running.
/// Best effort: a daemon also polls the store.
pub fn poke(home: &Path) {
    if let Ok(mut client) = Client::connect(home) {
        let _ = client.set_timeout(Some(Duration::from_secs(2)));
        let _ = client.call(&Request::Refresh);
    }
}
