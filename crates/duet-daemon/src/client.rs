//! The CLI's side of the control socket: a blocking client whose calls
//! return typed answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use duet_core::journal::NewEntry;

use crate::control::{
    socket_path, InviteEvent, Reply, Request, StatusReport, SyncedPeer, CONTROL_VERSION, MAX_LINE,
};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no daemon is running for this home")]
    NotRunning,
    #[error("the daemon speaks control version {theirs}, this duet speaks {CONTROL_VERSION}")]
    Version { theirs: u32 },
    #[error("the daemon closed the connection")]
    Closed,
    /// The daemon refused the request; `message` is its sentence.
    #[error("{message}")]
    Daemon { message: String },
    #[error("talking to the daemon failed")]
    Io(#[from] std::io::Error),
    #[error("the daemon sent something this duet does not understand")]
    Garbled(#[source] serde_json::Error),
    #[error("the daemon answered `{got}` where `{expected}` was due")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
}

/// A connection to the daemon of one home.
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
            Reply::Hello { version } => Err(ControlError::Version { theirs: version }),
            other => Err(unexpected("hello", &other)),
        }
    }

    /// Waits up to `timeout` for each reply (`None`: forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<(), ControlError> {
        Ok(self.writer.set_read_timeout(timeout)?)
    }

    /// Where the daemon listens, and how each other device is doing.
    pub fn status(&mut self) -> Result<StatusReport, ControlError> {
        match self.call(&Request::Status)? {
            Reply::Status(report) => Ok(report),
            other => Err(unexpected("status", &other)),
        }
    }

    /// Syncs with every connected device now; reports what moved.
    pub fn sync(&mut self) -> Result<Vec<SyncedPeer>, ControlError> {
        match self.call(&Request::Sync)? {
            Reply::Synced { peers } => Ok(peers),
            other => Err(unexpected("synced", &other)),
        }
    }

    /// Tells the daemon the store changed; returns once it has pushed.
    pub fn refresh(&mut self) -> Result<(), ControlError> {
        match self.call(&Request::Refresh)? {
            Reply::Ok => Ok(()),
            other => Err(unexpected("ok", &other)),
        }
    }

    /// Has the daemon write `entry`; returns its id once it is durable.
    pub fn add(&mut self, entry: &NewEntry, created: i64) -> Result<String, ControlError> {
        let request = Request::Add {
            entry: entry.clone(),
            created,
        };
        match self.call(&request)? {
            Reply::Added { id } => Ok(id),
            other => Err(unexpected("added", &other)),
        }
    }

    /// Opens an invitation; its events follow on the returned stream.
    pub fn invite(
        mut self,
        timeout: Duration,
        dial: &[String],
    ) -> Result<Invitation, ControlError> {
        self.set_timeout(None)?;
        self.send(&Request::Invite {
            timeout_secs: timeout.as_secs(),
            dial: dial.to_vec(),
        })?;
        Ok(Invitation { client: self })
    }

    fn send(&mut self, request: &Request) -> Result<(), ControlError> {
        let mut line = serde_json::to_string(request).map_err(ControlError::Garbled)?;
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        Ok(())
    }

    /// The next reply; `Error` replies become `ControlError::Daemon`.
    fn receive(&mut self) -> Result<Reply, ControlError> {
        let mut line = String::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64)
            .read_line(&mut line)?;
        if n == 0 {
            return Err(ControlError::Closed);
        }
        match serde_json::from_str(&line).map_err(ControlError::Garbled)? {
            Reply::Error { message } => Err(ControlError::Daemon { message }),
            reply => Ok(reply),
        }
    }

    fn call(&mut self, request: &Request) -> Result<Reply, ControlError> {
        self.send(request)?;
        self.receive()
    }
}

/// An open invitation: its events, and the person's answer.
pub struct Invitation {
    client: Client,
}

impl Invitation {
    /// The next event; after `Joined` or `Failed` there are none.
    pub fn next_event(&mut self) -> Result<InviteEvent, ControlError> {
        self.client
            .receive()?
            .into_invite_event()
            .map_err(|other| unexpected("an invitation event", &other))
    }

    /// Accepts or declines the device that asked to join.
    pub fn answer(&mut self, accept: bool) -> Result<(), ControlError> {
        self.client.send(&Request::Answer { accept })
    }
}

fn unexpected(expected: &'static str, got: &Reply) -> ControlError {
    ControlError::Unexpected {
        expected,
        got: got.name(),
    }
}

/// The addresses a running daemon listens on; empty when none runs (or it
/// has not started listening yet).
pub fn listen_addrs(home: &Path) -> Vec<String> {
    Client::connect(home)
        .and_then(|mut client| client.status())
        .map(|report| report.addrs)
        .unwrap_or_default()
}

/// Tells a running daemon that the store changed, if one is running.
/// Best effort: a daemon also looks at the store every 200 ms.
pub fn poke(home: &Path) {
    if let Ok(mut client) = Client::connect(home) {
        let _ = client.set_timeout(Some(Duration::from_secs(2)));
        let _ = client.refresh();
    }
}
