//! How the rest of the daemon (the control socket, or a test running the
//! daemon in-process) talks to the event loop: a cloneable [`Handle`] that
//! sends a typed [`Command`] over a bounded channel, each carrying a
//! oneshot sender for its answer.

use std::time::Duration;

use duet_core::journal::NewEntry;
use duet_core::replica::ReplicaError;
use tokio::sync::{mpsc, oneshot};

use crate::control::{InviteEvent, StatusReport, SyncedPeer};
use crate::invite::InviteError;

/// What the event loop is asked to do.
pub enum Command {
    Status(oneshot::Sender<StatusReport>),
    Sync(oneshot::Sender<Vec<SyncedPeer>>),
    /// The CLI wrote to the store: pick it up and push it.
    Refresh(oneshot::Sender<()>),
    Add {
        entry: NewEntry,
        created: i64,
        reply: oneshot::Sender<Result<String, ReplicaError>>,
    },
    Invite {
        timeout: Duration,
        /// Addresses to dial while the invitation waits.
        dial: Vec<libp2p::Multiaddr>,
        events: mpsc::Sender<InviteEvent>,
        opened: oneshot::Sender<Result<u32, InviteError>>,
    },
    Answer {
        nameplate: u32,
        accept: bool,
    },
    Abandon {
        nameplate: u32,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("the daemon is stopping")]
    Stopped,
    #[error(transparent)]
    Write(#[from] ReplicaError),
    #[error(transparent)]
    Invite(#[from] InviteError),
}

/// A cloneable way to talk to a running daemon's event loop.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
}

impl Handle {
    pub(crate) fn new(commands: mpsc::Sender<Command>) -> Self {
        Self { commands }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, HandleError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| HandleError::Stopped)?;
        rx.await.map_err(|_| HandleError::Stopped)
    }

    /// Where the daemon listens, and how each other device is doing.
    pub async fn status(&self) -> Result<StatusReport, HandleError> {
        self.ask(Command::Status).await
    }

    /// Syncs with every connected device now; answers once each has
    /// answered, or after 15 s.
    pub async fn sync(&self) -> Result<Vec<SyncedPeer>, HandleError> {
        self.ask(Command::Sync).await
    }

    /// Picks up what other processes wrote to the store, and pushes it.
    pub async fn refresh(&self) -> Result<(), HandleError> {
        self.ask(Command::Refresh).await
    }

    /// Writes an entry; returns its id once it is durable.
    pub async fn add(&self, entry: NewEntry, created: i64) -> Result<String, HandleError> {
        Ok(self
            .ask(|reply| Command::Add {
                entry,
                created,
                reply,
            })
            .await??)
    }

    /// Opens an invitation. Its first event says how to join.
    pub async fn invite(
        &self,
        timeout: Duration,
        dial: Vec<libp2p::Multiaddr>,
    ) -> Result<InviteSession, HandleError> {
        let (events_tx, events) = mpsc::channel(8);
        let nameplate = self
            .ask(|opened| Command::Invite {
                timeout,
                dial,
                events: events_tx,
                opened,
            })
            .await??;
        Ok(InviteSession {
            nameplate,
            events,
            commands: self.commands.clone(),
            ended: false,
        })
    }
}

/// An open invitation. Dropping it before it ends ends it.
pub struct InviteSession {
    nameplate: u32,
    events: mpsc::Receiver<InviteEvent>,
    commands: mpsc::Sender<Command>,
    ended: bool,
}

impl InviteSession {
    pub fn nameplate(&self) -> u32 {
        self.nameplate
    }

    /// The next event; `None` once the daemon has stopped.
    pub async fn next_event(&mut self) -> Option<InviteEvent> {
        let event = self.events.recv().await;
        if event.as_ref().is_none_or(InviteEvent::is_last) {
            self.ended = true;
        }
        event
    }

    /// Accepts or declines the device that asked to join.
    pub async fn answer(&self, accept: bool) -> Result<(), HandleError> {
        let nameplate = self.nameplate;
        self.commands
            .send(Command::Answer { nameplate, accept })
            .await
            .map_err(|_| HandleError::Stopped)
    }
}

impl Drop for InviteSession {
    fn drop(&mut self) {
        if !self.ended {
            let nameplate = self.nameplate;
            let _ = self.commands.try_send(Command::Abandon { nameplate });
        }
    }
}
