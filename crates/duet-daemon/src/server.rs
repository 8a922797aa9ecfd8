//! The daemon's side of the control socket: one small task per client,
//! each turning lines into calls on the event loop's [`Handle`].

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::command::{Handle, HandleError};
use crate::control::{Reply, Request, CONTROL_VERSION, MAX_LINE};

/// At most this many CLI connections are served at once.
const MAX_CLIENTS: usize = 16;

pub async fn serve(listener: UnixListener, handle: Handle) {
    let permits = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_client(stream, handle).await {
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
    async fn next(&mut self) -> std::io::Result<Option<Result<Request, serde_json::Error>>> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(serde_json::from_slice(&line)))
    }

    async fn send(&mut self, reply: &Reply) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.writer.write_all(&line).await
    }

    async fn error(&mut self, message: String) -> std::io::Result<()> {
        self.send(&Reply::Error { message }).await
    }
}

async fn serve_client(stream: UnixStream, handle: Handle) -> std::io::Result<()> {
    let (reader, writer) = stream.into_split();
    let mut lines = Lines {
        reader: BufReader::new(reader),
        writer,
    };
    let hello = Reply::Hello {
        version: CONTROL_VERSION,
    };
    match lines.next().await? {
        Some(Ok(Request::Hello { version })) if version == CONTROL_VERSION => {
            lines.send(&hello).await?;
        }
        Some(Ok(Request::Hello { .. })) => return lines.send(&hello).await,
        _ => return lines.error("expected a hello first".into()).await,
    }
    let Some(request) = lines.next().await? else {
        return Ok(());
    };
    let reply = match request {
        Ok(Request::Status) => handle.status().await.map(Reply::Status),
        Ok(Request::Sync) => handle.sync().await.map(|peers| Reply::Synced { peers }),
        Ok(Request::Refresh) => handle.refresh().await.map(|()| Reply::Ok),
        Ok(Request::Add { entry, created }) => handle
            .add(entry, created)
            .await
            .map(|id| Reply::Added { id }),
        Ok(Request::Invite { timeout_secs, dial }) => {
            return invite(&mut lines, &handle, timeout_secs, dial).await;
        }
        Ok(other) => return lines.error(format!("unexpected request {other:?}")).await,
        Err(e) => return lines.error(format!("malformed request: {e}")).await,
    };
    match reply {
        Ok(reply) => lines.send(&reply).await,
        Err(e) => lines.error(message(&e)).await,
    }
}

/// Streams an invitation's events to the client and passes its answer on.
/// A client that hangs up ends the invitation (the session's drop does).
async fn invite(
    lines: &mut Lines,
    handle: &Handle,
    timeout_secs: u64,
    dial: Vec<String>,
) -> std::io::Result<()> {
    let timeout = Duration::from_secs(timeout_secs.clamp(1, 24 * 3600));
    let mut dials = Vec::new();
    for addr in dial.iter().take(8) {
        match addr.parse::<libp2p::Multiaddr>() {
            Ok(addr) => dials.push(addr),
            Err(_) => {
                return lines
                    .error(format!(
                        "`{addr}` is not an address like /ip4/203.0.113.10/tcp/4001"
                    ))
                    .await
            }
        }
    }
    let mut session = match handle.invite(timeout, dials).await {
        Ok(session) => session,
        Err(e) => return lines.error(message(&e)).await,
    };
    loop {
        tokio::select! {
            event = session.next_event() => {
                let Some(event) = event else { return Ok(()) };
                let last = event.is_last();
                lines.send(&Reply::from(event)).await?;
                if last {
                    return Ok(());
                }
            }
            request = lines.next() => match request {
                Ok(Some(Ok(Request::Answer { accept }))) => {
                    if session.answer(accept).await.is_err() {
                        return Ok(());
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return Ok(()),
            }
        }
    }
}

/// The error as the sentence the client shows.
fn message(e: &HandleError) -> String {
    crate::sentence(e)
}
