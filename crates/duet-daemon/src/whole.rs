//! Work that needs the whole journal document, done outside the daemon.
//!
//! The daemon holds a writer replica ([`Replica::open_writer`]): it
//! verifies, stores, relays and adds entries without the document. Four
//! things need the document: where its history ends (once, at start),
//! compaction, a joining device's snapshot and a snapshot from a peer.
//! Loading a 10,000-entry journal takes a process to about 50 MB resident,
//! and glibc keeps most of that after the document is dropped (in the main
//! thread and, as measured, in a worker thread's arena too). So each of
//! these runs in a short-lived `duet whole-job` process whose memory goes
//! with it; the daemon waits for it as it waited for the same work before
//! (`docs/performance.md` has the figures). Without the `duet` executable
//! (the library used on its own), or when it cannot be started (moved or
//! replaced by an upgrade), the job runs in a thread instead.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use duet_core::home::Home;
use duet_core::journal::Frontier;
use duet_core::replica::Replica;
use serde::{Deserialize, Serialize};

/// A job on the whole journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Report the document's heads and highest op counter.
    Frontier,
    /// Fold the stored envelopes into a new snapshot.
    Compact,
    /// Seal a snapshot of everything held, for a joining device.
    Seal,
    /// Verify and merge the snapshot given on stdin; report the frontier.
    ReceiveSnapshot,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Frontier => "frontier",
            Job::Compact => "compact",
            Job::Seal => "seal",
            Job::ReceiveSnapshot => "receive-snapshot",
        }
    }

    pub fn from_name(name: &str) -> Option<Job> {
        [Job::Frontier, Job::Compact, Job::Seal, Job::ReceiveSnapshot]
            .into_iter()
            .find(|j| j.name() == name)
    }
}

/// What a job reports, as one line of JSON on the child's stdout.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Hex change hashes: the document's heads.
    #[serde(default)]
    pub heads: Vec<String>,
    #[serde(default)]
    pub max_op: u64,
    /// Base64 of a sealed snapshot (already encrypted to the journal key).
    #[serde(default)]
    pub sealed: Option<String>,
}

impl Outcome {
    fn frontier_of(replica: &Replica) -> Result<Self, String> {
        let frontier = replica.journal().map_err(|e| e.to_string())?.frontier();
        Ok(Self {
            heads: frontier
                .heads()
                .iter()
                .map(|h| data_encoding::HEXLOWER.encode(h))
                .collect(),
            max_op: frontier.max_op(),
            sealed: None,
        })
    }

    pub fn frontier(&self) -> Result<Frontier, String> {
        let heads = self
            .heads
            .iter()
            .map(|h| {
                data_encoding::HEXLOWER
                    .decode(h.as_bytes())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| "a whole-journal job reported a malformed head".to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Frontier::new(heads, self.max_op))
    }

    pub fn sealed(&self) -> Result<Vec<u8>, String> {
        let text = self
            .sealed
            .as_deref()
            .ok_or("a whole-journal job reported no snapshot")?;
        data_encoding::BASE64
            .decode(text.as_bytes())
            .map_err(|_| "a whole-journal job reported a malformed snapshot".to_string())
    }
}

/// Does `job` on the whole journal in `home`, in this process.
pub fn perform(home: &Home, job: Job, input: &[u8]) -> Result<Outcome, String> {
    let mut replica = home.open().map_err(|e| e.to_string())?;
    match job {
        Job::Frontier => Outcome::frontier_of(&replica),
        Job::Compact => {
            replica.compact().map_err(|e| e.to_string())?;
            Ok(Outcome::default())
        }
        Job::Seal => {
            let sealed = replica.seal_current().map_err(|e| e.to_string())?;
            Ok(Outcome {
                sealed: Some(data_encoding::BASE64.encode(&sealed)),
                ..Outcome::default()
            })
        }
        Job::ReceiveSnapshot => {
            replica.receive_snapshot(input).map_err(|e| e.to_string())?;
            Outcome::frontier_of(&replica)
        }
    }
}

/// The child's side (`duet whole-job NAME`): reads the input from stdin
/// when the job takes one and prints the outcome as one line of JSON.
pub fn serve(home: &Home, name: &str) -> Result<(), String> {
    let job =
        Job::from_name(name).ok_or_else(|| format!("there is no whole-journal job `{name}`"))?;
    let mut input = Vec::new();
    if job == Job::ReceiveSnapshot {
        std::io::stdin()
            .take(duet_core::envelope::MAX_SNAPSHOT_BYTES as u64 + (1 << 20))
            .read_to_end(&mut input)
            .map_err(|e| format!("cannot read the snapshot: {e}"))?;
    }
    let outcome = perform(home, job, &input)?;
    let line = serde_json::to_string(&outcome).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").map_err(|e| e.to_string())?;
    Ok(())
}

/// Runs `job` in a `duet whole-job` child of `exe` (or, without one, in a
/// thread of this process) and returns what it reported.
pub(crate) fn run(
    home: &Home,
    exe: Option<&Path>,
    job: Job,
    input: &[u8],
) -> Result<Outcome, String> {
    let Some(exe) = exe else {
        return in_thread(home, job, input);
    };
    let spawned = Command::new(exe)
        .arg("--home")
        .arg(home.root())
        .args(["whole-job", job.name()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            // The executable was moved or replaced (an upgrade while the
            // daemon runs): do the job here rather than not at all.
            tracing::warn!(exe = %exe.display(), error = %e, "cannot start a whole-journal job; running it in the daemon (restart the daemon to free the memory)");
            return in_thread(home, job, input);
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A child that fails before reading closes the pipe; its exit
        // status and stderr say why.
        let _ = stdin.write_all(input);
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("the whole-journal job failed: {e}"))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.trim().trim_start_matches("duet: ");
        return Err(if said.is_empty() {
            format!("the whole-journal job `{}` failed", job.name())
        } else {
            said.to_string()
        });
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|_| format!("the whole-journal job `{}` reported nonsense", job.name()))
}

/// Runs `job` in a thread of this process.
fn in_thread(home: &Home, job: Job, input: &[u8]) -> Result<Outcome, String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("duet-whole".into())
            .spawn_scoped(scope, || perform(home, job, input))
            .map_err(|e| e.to_string())?
            .join()
            .unwrap_or_else(|_| Err("the whole-journal job panicked".into()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_runs_in_a_thread_when_there_is_no_executable_to_start() {
        let dir = tempfile::tempdir().expect("dir");
        let home = Home::new(dir.path().join("alex"));
        drop(home.init("Alex", "laptop", 1).expect("init"));
        for exe in [None, Some(Path::new("/nonexistent/duet"))] {
            let outcome = run(&home, exe, Job::Frontier, &[]).expect("frontier");
            assert_eq!(outcome.frontier().expect("heads").heads().len(), 1);
            let sealed = run(&home, exe, Job::Seal, &[]).expect("seal");
            assert!(sealed.sealed().expect("snapshot").starts_with(b"DUET"));
        }
        assert_eq!(
            Job::from_name("receive-snapshot"),
            Some(Job::ReceiveSnapshot)
        );
        assert_eq!(Job::from_name("nonsense"), None);
    }
}
