//! Work that needs the whole journal document, done outside the daemon.
//!
//! The daemon holds a [`Writer`](duet_core::writer::Writer): it verifies,
//! stores, relays and adds entries without the document. Five things need
//! the document: where its history ends (once, at start), compaction, a
//! joining device's snapshot, a snapshot from a peer, and bringing the
//! sealed read index current after envelopes arrive. Loading a
//! 10,000-entry journal takes a process to about 50 MB resident, and glibc
//! keeps most of that after the document is dropped. So each of these
//! runs in a short-lived `duet whole-job` process whose memory goes with
//! it; the daemon waits for it (`docs/performance.md` has the figures).
//! Without the `duet` executable (the library used on its own), or when it
//! cannot be started (moved or replaced by an upgrade), the job runs in a
//! thread instead.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use duet_core::home::{Home, HomeError};
use duet_core::journal::Frontier;
use duet_core::ledger::ReceiveError;
use duet_core::replica::ReplicaError;
use duet_core::writer::Start;
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
    /// Bring the sealed read index current (opening the whole journal
    /// does it, `duet_core::index`); report the frontier.
    Index,
}

impl Job {
    pub const ALL: [Job; 5] = [
        Job::Frontier,
        Job::Compact,
        Job::Seal,
        Job::ReceiveSnapshot,
        Job::Index,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Job::Frontier => "frontier",
            Job::Compact => "compact",
            Job::Seal => "seal",
            Job::ReceiveSnapshot => "receive-snapshot",
            Job::Index => "index",
        }
    }

    pub fn from_name(name: &str) -> Option<Job> {
        Job::ALL.into_iter().find(|j| j.name() == name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WholeError {
    #[error("there is no whole-journal job `{name}`")]
    UnknownJob { name: String },
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("the snapshot was refused")]
    Refused(#[source] ReceiveError),
    #[error(transparent)]
    RefusedThere(JobRefusal),
    #[error("cannot talk to the whole-journal job `{job}`")]
    Io {
        job: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The child failed; `said` is the sentence it printed.
    #[error("the whole-journal job `{job}` failed: {said}")]
    Failed { job: &'static str, said: String },
    #[error("the whole-journal job `{job}` reported something this daemon does not understand")]
    Garbled { job: &'static str },
    #[error("the whole-journal job `{job}` panicked")]
    Panicked { job: &'static str },
}

/// What a job reports, as one line of JSON on the child's stdout.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Hex change hashes: the document's heads.
    #[serde(default)]
    pub heads: Vec<String>,
    #[serde(default)]
    pub max_op: u64,
    /// The store position the heads hold everything up to.
    #[serde(default)]
    pub pos: i64,
    /// Base64 of a sealed snapshot (already encrypted to the journal key).
    #[serde(default)]
    pub sealed: Option<String>,
    /// Why a peer's snapshot was refused, when it was.
    #[serde(default)]
    pub refused: Option<JobRefusal>,
}

/// A peer's snapshot refused in a whole-journal job in another process:
/// the refusal's kind (`ReceiveError::kind`) and its sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{reason}")]
pub struct JobRefusal {
    pub kind: String,
    pub reason: String,
}

impl Outcome {
    fn start_of(start: Start) -> Self {
        Self {
            heads: start
                .frontier
                .heads()
                .iter()
                .map(|h| data_encoding::HEXLOWER.encode(h))
                .collect(),
            max_op: start.frontier.max_op(),
            pos: start.pos,
            sealed: None,
            refused: None,
        }
    }

    /// Where a writer starts after this job.
    pub fn start(&self, job: Job) -> Result<Start, WholeError> {
        let garbled = WholeError::Garbled { job: job.name() };
        let heads = self
            .heads
            .iter()
            .map(|h| {
                data_encoding::HEXLOWER
                    .decode(h.as_bytes())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
            })
            .collect::<Option<Vec<_>>>()
            .ok_or(garbled)?;
        Ok(Start {
            frontier: Frontier::new(heads, self.max_op),
            pos: self.pos,
        })
    }

    /// The sealed snapshot a `seal` job made, as the job printed it
    /// (base64), moved out rather than decoded: the welcome carries it in
    /// base64, and at 40,000 entries each copy is over ten megabytes. Only its length is
    /// checked here; the joining device opens it and refuses anything
    /// else.
    pub fn into_sealed_base64(self, job: Job) -> Result<String, WholeError> {
        self.sealed
            .filter(|text| !text.is_empty() && data_encoding::BASE64.decode_len(text.len()).is_ok())
            .ok_or(WholeError::Garbled { job: job.name() })
    }
}

/// Does `job` on the whole journal in `home`, in this process.
pub fn perform(home: &Home, job: Job, input: &[u8]) -> Result<Outcome, WholeError> {
    let mut replica = home.open()?;
    match job {
        // Opening the whole journal brought the index current.
        Job::Frontier | Job::Index => Ok(Outcome::start_of(replica.writer_start())),
        Job::Compact => {
            replica.compact()?;
            Ok(Outcome::default())
        }
        Job::Seal => {
            let sealed = replica.seal_current()?;
            Ok(Outcome {
                sealed: Some(data_encoding::BASE64.encode(&sealed)),
                ..Outcome::default()
            })
        }
        Job::ReceiveSnapshot => {
            replica
                .receive_snapshot(input)
                .map_err(WholeError::Refused)?;
            Ok(Outcome::start_of(replica.writer_start()))
        }
    }
}

/// The child's side (`duet whole-job NAME`): reads the input from stdin
/// when the job takes one and prints the outcome as one line of JSON.
pub fn serve(home: &Home, name: &str) -> Result<(), WholeError> {
    let job = Job::from_name(name).ok_or_else(|| WholeError::UnknownJob {
        name: name.to_string(),
    })?;
    let io = |source| WholeError::Io {
        job: job.name(),
        source,
    };
    let mut input = Vec::new();
    if job == Job::ReceiveSnapshot {
        std::io::stdin()
            .take(duet_core::envelope::MAX_SNAPSHOT_BYTES as u64 + (1 << 20))
            .read_to_end(&mut input)
            .map_err(io)?;
    }
    let outcome = match perform(home, job, &input) {
        Err(WholeError::Refused(refusal)) => Outcome {
            refused: Some(JobRefusal {
                kind: refusal.kind().to_string(),
                reason: crate::sentence(&refusal),
            }),
            ..Outcome::default()
        },
        other => other?,
    };
    let line =
        serde_json::to_string(&outcome).map_err(|_| WholeError::Garbled { job: job.name() })?;
    writeln!(std::io::stdout().lock(), "{line}").map_err(io)
}

/// Runs whole-journal jobs for one home.
#[derive(Clone, Debug)]
pub struct Jobs {
    home: Home,
    /// The `duet` executable to run them in; `None` runs them in a thread.
    exe: Option<PathBuf>,
}

impl Jobs {
    pub fn new(home: Home, exe: Option<PathBuf>) -> Self {
        Self { home, exe }
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Runs `job` in a `duet whole-job` child (or, without an executable,
    /// in a thread of this process) and returns what it reported.
    pub fn run(&self, job: Job, input: &[u8]) -> Result<Outcome, WholeError> {
        let Some(exe) = &self.exe else {
            return self.in_thread(job, input);
        };
        let spawned = Command::new(exe)
            .arg("--home")
            .arg(self.home.root())
            .args(["whole-job", job.name()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                // The executable was moved or replaced (an upgrade while
                // the daemon runs): do the job here rather than not at all.
                tracing::warn!(exe = %exe.display(), error = %e, "cannot start a whole-journal job; running it in the daemon (restart the daemon to free the memory)");
                return self.in_thread(job, input);
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A child that fails before reading closes the pipe; its exit
            // status and stderr say why.
            let _ = stdin.write_all(input);
        }
        let output = child.wait_with_output().map_err(|source| WholeError::Io {
            job: job.name(),
            source,
        })?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr);
            let said = said.trim().trim_start_matches("duet: ");
            return Err(WholeError::Failed {
                job: job.name(),
                said: if said.is_empty() {
                    format!("it exited with {}", output.status)
                } else {
                    said.to_string()
                },
            });
        }
        let outcome: Outcome = serde_json::from_slice(&output.stdout)
            .map_err(|_| WholeError::Garbled { job: job.name() })?;
        match outcome.refused {
            Some(refusal) => Err(WholeError::RefusedThere(refusal)),
            None => Ok(outcome),
        }
    }

    fn in_thread(&self, job: Job, input: &[u8]) -> Result<Outcome, WholeError> {
        std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .name("duet-whole".into())
                .spawn_scoped(scope, || perform(&self.home, job, input))
                .map_err(|source| WholeError::Io {
                    job: job.name(),
                    source,
                })?;
            spawned
                .join()
                .unwrap_or(Err(WholeError::Panicked { job: job.name() }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_runs_in_a_thread_when_there_is_no_executable_to_start() {
        let dir = tempfile::tempdir().expect("dir");
        let home = Home::new(dir.path().join("alex"));
        drop(home.init("Alex", "laptop", 1).expect("init"));
        for exe in [None, Some(PathBuf::from("/nonexistent/duet"))] {
            let jobs = Jobs::new(home.clone(), exe);
            let outcome = jobs.run(Job::Frontier, &[]).expect("frontier");
            let start = outcome.start(Job::Frontier).expect("heads");
            assert_eq!(start.frontier.heads().len(), 1);
            assert_eq!(start.pos, 1);
            let sealed = jobs.run(Job::Seal, &[]).expect("seal");
            let text = sealed.into_sealed_base64(Job::Seal).expect("snapshot");
            let bytes = data_encoding::BASE64
                .decode(text.as_bytes())
                .expect("base64");
            assert!(bytes.starts_with(b"DUET"));
        }
        assert_eq!(
            Job::from_name("receive-snapshot"),
            Some(Job::ReceiveSnapshot)
        );
        assert_eq!(Job::from_name("nonsense"), None);
    }
}
