//! This device's journal as the daemon holds it: a writer, and the jobs
//! that need the whole document. It is what the sync engine syncs from.

use std::time::{Duration, Instant};

use duet_core::journal::DeviceRecord;
use duet_core::ledger::{Ledger, ReceiveError};
use duet_core::replica::{ReplicaError, DEFAULT_COMPACT_AFTER};
use duet_core::sync::Holder;
use duet_core::writer::Writer;
use duet_core::DeviceId;
use libp2p::PeerId;

use crate::identity;
use crate::protocol::{Intro, Welcome};
use crate::whole::{Job, Jobs, WholeError};

#[derive(Debug, thiserror::Error)]
pub enum WelcomeError {
    #[error("the joining device's id is not an ed25519 key")]
    NotEd25519,
    #[error("cannot record the new device")]
    Record(#[source] ReplicaError),
    #[error("cannot seal the journal for the new device")]
    Seal(#[source] WholeError),
    #[error("cannot encode the welcome")]
    Encode(#[source] serde_json::Error),
    #[error("cannot seal the welcome for the new device")]
    Pairing(#[source] crate::pairing::PairingError),
    #[error("cannot read the signed device list")]
    Statements(#[source] duet_core::store::StoreError),
}

pub struct Local {
    pub writer: Writer,
    pub jobs: Jobs,
    /// Compact once this many envelopes sit beyond the snapshot.
    pub compact_after: usize,
    /// After a compaction that could not fold the envelopes in (a missing
    /// sequence number keeps them out), when to try again.
    retry: Option<Retry>,
    /// The store position last looked at for the read index, and when
    /// the index job is due: a burst of envelopes runs one job, half a
    /// second after the last of them.
    index_seen: i64,
    index_due: Option<Instant>,
    /// The `index` job under way, in a thread that waits for its child,
    /// so the event loop goes on meanwhile.
    index_job: Option<std::thread::JoinHandle<Result<(), WholeError>>>,
}

/// How long the read index waits after the last envelope arrived.
const INDEX_AFTER: Duration = Duration::from_millis(500);

/// A compaction that did not help waits for something new, and longer
/// each time, so a gap in someone's sequence costs one job per real event
/// rather than one every tick.
struct Retry {
    /// The store's last position then: nothing new, no new job.
    pos: i64,
    not_before: Instant,
    delay: Duration,
}

/// The first wait after a compaction that did not help, and the longest.
const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MOST: Duration = Duration::from_secs(600);

impl Local {
    /// Opens the writer where the whole journal's history ends, as a
    /// `frontier` job finds it (opening the whole journal also records
    /// what a writer opens from, for a store from before writers).
    pub fn open(jobs: Jobs) -> Result<Self, WholeError> {
        let start = jobs.run(Job::Frontier, &[])?.start(Job::Frontier)?;
        let writer = jobs.home().open_writer(start)?;
        Ok(Self {
            writer,
            jobs,
            compact_after: DEFAULT_COMPACT_AFTER,
            retry: None,
            index_seen: 0,
            index_due: None,
            index_job: None,
        })
    }

    /// True when envelopes arrived and the read index should be brought
    /// current now: the store moved, then stayed still for
    /// [`INDEX_AFTER`], no index job is under way, and the index does not
    /// already hold it (entries this daemon writes put their own rows in).
    pub fn wants_index(&mut self, now: Instant) -> bool {
        let Ok(pos) = self.writer.ledger().last_position() else {
            return false;
        };
        if pos != self.index_seen {
            self.index_seen = pos;
            self.index_due = Some(now + INDEX_AFTER);
            return false;
        }
        if self.index_job.is_some() || self.index_due.is_none_or(|due| now < due) {
            return false;
        }
        self.index_due = None;
        !self
            .writer
            .index()
            .is_current(self.writer.store())
            .unwrap_or(false)
    }

    /// Starts bringing the read index current in an `index` whole-journal
    /// job, so that `duet log` and the timeline read a page, not the
    /// journal. The job's child loads the document (and its memory goes
    /// with it); a thread waits for it, so syncing goes on meanwhile. Its
    /// rows and the daemon's own are written in transactions, and neither
    /// moves the index back (`Index::update`).
    pub fn start_reindex(&mut self) {
        let jobs = self.jobs.clone();
        let spawned = std::thread::Builder::new()
            .name("duet-index".into())
            .spawn(move || jobs.run(Job::Index, &[]).map(drop));
        match spawned {
            Ok(handle) => self.index_job = Some(handle),
            Err(e) => tracing::warn!(error = %e, "cannot start the read index job"),
        }
    }

    /// The outcome of the `index` job, once it has finished.
    pub fn finished_reindex(&mut self) -> Option<Result<(), WholeError>> {
        if !self.index_job.as_ref()?.is_finished() {
            return None;
        }
        let handle = self.index_job.take()?;
        Some(
            handle
                .join()
                .unwrap_or(Err(WholeError::Panicked { job: "index" })),
        )
    }

    pub fn device_id(&self) -> DeviceId {
        self.writer.device_id()
    }

    /// True when enough envelopes sit beyond the snapshot to compact, and
    /// a compaction that did not help is not waiting for something new.
    pub fn wants_compaction(&self, now: Instant) -> bool {
        let ledger = self.writer.ledger();
        if !ledger
            .envelope_count()
            .is_ok_and(|n| n >= self.compact_after)
        {
            return false;
        }
        self.retry.as_ref().is_none_or(|r| {
            now >= r.not_before && ledger.last_position().is_ok_and(|pos| pos != r.pos)
        })
    }

    /// True when the last compaction did not bring the envelopes under
    /// the threshold, so the next waits.
    pub fn wants_compaction_later(&self) -> bool {
        self.retry.is_some()
    }

    /// Folds the stored envelopes into a new snapshot (a `compact` job),
    /// then takes in what the whole journal recorded. If that left the
    /// envelopes beyond the threshold, the next try waits.
    pub fn compact(&mut self, now: Instant) -> Result<(), WholeError> {
        let result = self.jobs.run(Job::Compact, &[]).map(drop);
        self.writer.refresh()?;
        let ledger = self.writer.ledger();
        let still = ledger
            .envelope_count()
            .is_ok_and(|n| n >= self.compact_after);
        self.retry = if still || result.is_err() {
            let delay = self
                .retry
                .as_ref()
                .map_or(RETRY_FIRST, |r| (r.delay * 2).min(RETRY_MOST));
            Some(Retry {
                pos: ledger.last_position().unwrap_or(0),
                not_before: now + delay,
                delay,
            })
        } else {
            None
        };
        result
    }

    /// Records the device `peer` in the journal (this device adds it) and
    /// makes what it needs to join: the journal key and a snapshot.
    pub fn welcome(
        &mut self,
        peer: &PeerId,
        intro: &Intro,
        inviter_addrs: Vec<String>,
        now_ms: i64,
    ) -> Result<Welcome, WelcomeError> {
        let device = identity::device_id(peer).ok_or(WelcomeError::NotEd25519)?;
        let mirror = intro.is_mirror();
        // A mirror belongs to the person who set it up.
        let person = if mirror {
            let me = self.device_id().to_text();
            self.writer
                .devices()
                .iter()
                .find(|d| d.id == me)
                .map(|d| d.person.clone())
                .unwrap_or_default()
        } else {
            intro.person.clone()
        };
        let record = DeviceRecord {
            id: device.to_text(),
            person,
            name: intro.device.clone(),
            added_by: Some(self.device_id().to_text()),
            added_at: now_ms,
            role: mirror.then(|| duet_core::journal::MIRROR_ROLE.to_string()),
        };
        self.writer
            .commit(|journal, _| Ok(((), journal.add_device(&record)?)))
            .map_err(WelcomeError::Record)?;
        // This device's person just accepted it; no notice needed here.
        let _ = self.writer.store().mark_seen(&[device]);
        let snapshot = self
            .jobs
            .run(Job::Seal, &[])
            .and_then(|outcome| outcome.into_sealed_base64(Job::Seal))
            .map_err(WelcomeError::Seal)?;
        // A mirror gets no key: only the signed device list, to know the
        // members by, and the sealed snapshot, to serve.
        let journal_key = if mirror {
            String::new()
        } else {
            self.writer.journal_key().to_secret_text().to_string()
        };
        let statements = self
            .writer
            .ledger()
            .statements()
            .map_err(WelcomeError::Statements)?
            .iter()
            .map(|s| data_encoding::BASE64.encode(s))
            .collect();
        Ok(Welcome {
            journal_id: self.writer.ledger().journal_id().to_text(),
            journal_key,
            inviter: self.device_id().to_text(),
            snapshot,
            inviter_addrs,
            statements,
        })
    }
}

impl Holder for Local {
    fn ledger(&self) -> &Ledger {
        self.writer.ledger()
    }

    fn receive_envelope(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError> {
        self.writer.receive_envelope(bytes)
    }

    fn take_statements(
        &mut self,
        statements: &[Vec<u8>],
    ) -> Result<usize, duet_core::store::StoreError> {
        self.writer.take_statements(statements)
    }

    fn heal_own(
        &mut self,
        theirs: duet_core::store::Tip,
    ) -> Result<Option<duet_core::store::Heal>, ReceiveError> {
        self.writer.heal_own(theirs)
    }

    /// Merging a snapshot needs the whole journal: a `receive-snapshot`
    /// job does it, and the writer continues from the heads it reports.
    /// The ledger's own checks run first, so bytes that fail them, or a
    /// snapshot that brings nothing new, start no job.
    fn receive_snapshot(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        let snapshot = self.writer.ledger().verify_snapshot(bytes)?;
        if self.writer.ledger().vector()?.dominates(&snapshot.covers) {
            return Ok(());
        }
        let outcome = self
            .jobs
            .run(Job::ReceiveSnapshot, bytes)
            .map_err(|e| match e {
                WholeError::Refused(refusal) => refusal,
                WholeError::RefusedThere(refusal) => ReceiveError::local(refusal),
                other => ReceiveError::local(other),
            })?;
        let start = outcome
            .start(Job::ReceiveSnapshot)
            .map_err(ReceiveError::local)?;
        self.writer.set_start(start).map_err(ReceiveError::local)?;
        Ok(())
    }
}
