//! The daemon's side of the control socket: one small task per client,
//! each turning lines into commands for the event loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::control::{Reply, Request, CONTROL_VERSION, MAX_LINE};
use crate::daemon::Command;

/// At most this many CLI connections are served at once.
const MAX_CLIENTS: usize = 16;

pub async fn serve(listener: UnixListener, commands: mpsc::Sender<Command>) {
    let permits = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let commands = commands.clone();
        tokio::spawn(async move {
            if let Err(e) = handle(stream, commands).await {
                tracing::debug!(error = %e, "control client ended");
            }
            drop(permit);
        });
    }
}

struct Lines {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Lines {
    /// The next request; `None` when the client hung up.
    async fn next(&mut self) -> std::io::Result<Option<Result<Request, String>>> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(
            serde_json::from_slice(&line).map_err(|e| e.to_string()),
        ))
    }

    async fn send(&mut self, reply: &Reply) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(reply).unwrap_or_default();
        line.push(b'\n');
        self.writer.write_all(&line).await
    }
}

async fn ask<T>(
    commands: &mpsc::Sender<Command>,
    make: impl FnOnce(oneshot::Sender<T>) -> Command,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    commands.send(make(tx)).await.ok()?;
    rx.await.ok()
}

async fn handle(stream: UnixStream, commands: mpsc::Sender<Command>) -> std::io::Result<()> {
    let (reader, writer) = stream.into_split();
    let mut lines = Lines {
        reader: BufReader::new(reader),
        writer,
    };
    match lines.next().await? {
        Some(Ok(Request::Hello { version })) if version == CONTROL_VERSION => {
            lines
                .send(&Reply::Hello {
                    version: CONTROL_VERSION,
                })
                .await?;
        }
        Some(Ok(Request::Hello { .. })) => {
            lines
                .send(&Reply::Hello {
                    version: CONTROL_VERSION,
                })
                .await?;
            return Ok(());
        }
        _ => {
            let message = "expected a hello first".to_string();
            return lines.send(&Reply::Error { message }).await;
        }
    }
    let Some(request) = lines.next().await? else {
        return Ok(());
    };
    let gone = || Reply::Error {
        message: "the daemon is stopping".into(),
    };
    match request {
        Ok(Request::Status) => {
            let reply = ask(&commands, Command::Status)
                .await
                .map_or_else(gone, Reply::Status);
            lines.send(&reply).await
        }
        Ok(Request::Sync) => {
            let reply = ask(&commands, Command::Sync)
                .await
                .map_or_else(gone, |peers| Reply::Synced { peers });
            lines.send(&reply).await
        }
        Ok(Request::Refresh) => {
            let reply = ask(&commands, Command::Refresh)
                .await
                .map_or_else(gone, |()| Reply::Ok);
            lines.send(&reply).await
        }
        Ok(Request::Add {
            kind,
            tags,
            mood,
            body,
            created,
        }) => {
            let reply = match kind.parse() {
                Ok(kind) => {
                    let entry = duet_core::journal::NewEntry {
                        kind,
                        tags,
                        mood,
                        body,
                    };
                    match ask(&commands, |reply| Command::Add {
                        entry,
                        created,
                        reply,
                    })
                    .await
                    {
                        Some(Ok(id)) => Reply::Added { id },
                        Some(Err(message)) => Reply::Error { message },
                        None => gone(),
                    }
                }
                Err(e) => Reply::Error {
                    message: format!("{e}"),
                },
            };
            lines.send(&reply).await
        }
        Ok(Request::Invite { timeout_secs }) => invite(&mut lines, &commands, timeout_secs).await,
        Ok(other) => {
            let message = format!("unexpected request {other:?}");
            lines.send(&Reply::Error { message }).await
        }
        Err(e) => {
            let message = format!("malformed request: {e}");
            lines.send(&Reply::Error { message }).await
        }
    }
}

/// Streams an invitation's events to the client and passes its answer on.
async fn invite(
    lines: &mut Lines,
    commands: &mpsc::Sender<Command>,
    timeout_secs: u64,
) -> std::io::Result<()> {
    let (events_tx, mut events) = mpsc::channel(8);
    let timeout = Duration::from_secs(timeout_secs.clamp(1, 24 * 3600));
    let opened = ask(commands, |opened| Command::Invite {
        timeout,
        events: events_tx,
        opened,
    })
    .await;
    let nameplate = match opened {
        Some(Ok(n)) => n,
        Some(Err(message)) => return lines.send(&Reply::Error { message }).await,
        None => {
            let message = "the daemon is stopping".to_string();
            return lines.send(&Reply::Error { message }).await;
        }
    };
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { return Ok(()) };
                let last = matches!(event, Reply::InviteJoined { .. } | Reply::InviteFailed { .. });
                lines.send(&event).await?;
                if last {
                    return Ok(());
                }
            }
            request = lines.next() => {
                match request {
                    Ok(Some(Ok(Request::Answer { accept }))) => {
                        let _ = commands.send(Command::Answer { nameplate, accept }).await;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        let _ = commands.send(Command::Abandon { nameplate }).await;
                        return Ok(());
                    }
                }
            }
        }
    }
}
