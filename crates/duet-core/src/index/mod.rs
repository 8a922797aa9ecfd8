//! The sealed read index: each entry's current state, sealed, one row per
//! entry key, so that a page of the timeline costs a page.
//!
//! Reading the journal otherwise means loading the whole automerge
//! document (460–720 ms at 40,000 entries). The index holds, for every key
//! of the document's `entries` map, the [`Entry`] values the document
//! gives for it, serialised and sealed (`seal.rs`), in a table whose order
//! column sorts rows as the document sorts keys (`store/index.rs`). A
//! sealed state record says which document heads and which store position
//! the rows reflect; [`Index::page`] answers only when that is the whole
//! store, and `None` otherwise, so a caller falls back to the document
//! and never shows less than it holds.
//!
//! Kept current by whoever holds the document (a [`Replica`], after it
//! opens and after every change it makes or takes in: `build.rs`), and by
//! a [`Writer`] for the entries it adds. A damaged, missing or stale index
//! is never fatal: the next replica builds it again.
//!
//! The same key seals the frontier a writer starts from ([`Index::start`]),
//! so that `duet add` without a daemon writes without the document.
//!
//! [`Replica`]: crate::replica::Replica
//! [`Writer`]: crate::writer::Writer

mod build;
pub use build::Seen;
mod seal;

use serde::{Deserialize, Serialize};

use crate::ids::JournalId;
use crate::journal::{
    time_of_entry_key, DeviceRecord, Entry, Filter, Frontier, CLOCK_TOLERANCE_MS,
};
use crate::keys::DeviceKey;
use crate::replica::Start;
use crate::store::{IndexRow, Store, StoreError};

/// Where the state record is kept (`meta`), sealed.
const STATE: &str = "read-index";
/// Where the writer's starting point is kept (`meta`), sealed.
const START: &str = "writer-start";
/// How far apart rows are numbered, leaving room for entries dated
/// between two (an entry written up for an earlier day).
const GAP: i64 = 1 << 16;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A row or the state does not open: damaged, or sealed by another
    /// device key. The index is built again.
    #[error("the read index is damaged")]
    Damaged,
}

/// Where a page ended, to ask for the next: the row and how many of its
/// entries were shown (a row holds more than one only when two devices
/// made an entry at the same key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub ord: i64,
    pub skip: usize,
}

/// One page of the timeline, newest first.
#[derive(Clone, Debug)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Where the next page starts; `None` after the oldest entry.
    pub next: Option<Cursor>,
    /// True when the journal holds no entry at all (deleted ones count).
    pub journal_empty: bool,
    /// The journal's devices, to name who wrote from where.
    pub devices: Vec<DeviceRecord>,
}

/// What the rows reflect, sealed in `meta`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    pub heads: Vec<[u8; 32]>,
    /// The store position the document held everything up to.
    pub pos: i64,
    /// The store's snapshot generation then: a merged snapshot changes
    /// the document without a new position.
    pub generation: i64,
    /// How many rows there were: a row deleted from the disk is noticed.
    pub rows: i64,
    /// The newest entry key's date, to notice an entry dated ahead of
    /// this device's clock (listed by its arrival, which only the
    /// document knows).
    pub newest: i64,
    /// False when changes wait for a dependency (their entries are read
    /// from the change by the document, not kept here).
    pub complete: bool,
    pub devices: Vec<DeviceRecord>,
    /// The notices of removals (`tell_once` keys) a person is owed once;
    /// a reader that sees one untold lets the document path tell it.
    pub notices: Vec<String>,
}

/// The writer's starting point, sealed in `meta`.
#[derive(Serialize, Deserialize)]
struct StartRecord {
    heads: Vec<[u8; 32]>,
    max_op: u64,
    pos: i64,
    generation: i64,
}

/// One row's plaintext.
#[derive(Serialize, Deserialize)]
struct Row {
    key: String,
    entries: Vec<Entry>,
}

/// This device's read index of one journal: the keys that seal it.
pub struct Index {
    keys: seal::Keys,
}

impl Index {
    pub fn new(device: &DeviceKey, journal: &JournalId) -> Self {
        Self {
            keys: seal::Keys::derive(device, journal),
        }
    }

    /// Up to `limit` entries that pass `filter` (its own limit is not
    /// used), newest first, from `before` on (or from the newest), deleted
    /// ones left out: the entries [`Journal::query`] gives, decrypting
    /// only the rows it reads. `None` when the index does not reflect the
    /// whole store, or is damaged (then it is marked for building again):
    /// read the document instead.
    ///
    /// [`Journal::query`]: crate::journal::Journal::query
    pub fn page(
        &self,
        store: &Store,
        filter: &Filter,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<Option<Page>, StoreError> {
        let Some(state) = self.current(store)? else {
            return Ok(None);
        };
        match self.read_rows(store, filter, before, limit) {
            Ok((entries, next)) => Ok(Some(Page {
                entries,
                next,
                journal_empty: state.rows == 0,
                devices: state.devices,
            })),
            Err(IndexError::Damaged) => {
                tracing::warn!("the read index is damaged; it is built again from the journal");
                self.forget(store)?;
                Ok(None)
            }
            Err(IndexError::Store(e)) => Err(e),
        }
    }

    fn read_rows(
        &self,
        store: &Store,
        filter: &Filter,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<(Vec<Entry>, Option<Cursor>), IndexError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok((out, before));
        }
        let mut from = before.map(|c| c.ord);
        // Rows are read in batches: a page with no filter reads one.
        let batch = limit.clamp(8, 256);
        let mut inflater = Inflater::new();
        loop {
            let rows = store.index_rows_down(from, batch)?;
            let Some(last) = rows.last() else {
                return Ok((out, None));
            };
            from = Some(last.ord.saturating_sub(1));
            for stored in &rows {
                let row = self.open_row_with(stored, &mut inflater)?;
                let t = time_of_entry_key(&row.key);
                if filter.until.is_some_and(|u| t >= u) {
                    continue;
                }
                if filter.since.is_some_and(|s| t < s) {
                    return Ok((out, None));
                }
                let skip = before.filter(|c| c.ord == stored.ord).map_or(0, |c| c.skip);
                // The document lists a key's entries last first (it
                // reverses the whole list), and so does a page.
                let count = row.entries.len();
                for (i, entry) in row.entries.into_iter().rev().enumerate().skip(skip) {
                    if entry.deleted.is_some() || !filter.matches(&entry) {
                        continue;
                    }
                    out.push(entry);
                    if out.len() >= limit {
                        let next = if i + 1 < count {
                            Cursor {
                                ord: stored.ord,
                                skip: i + 1,
                            }
                        } else {
                            Cursor {
                                ord: stored.ord.saturating_sub(1),
                                skip: 0,
                            }
                        };
                        return Ok((out, Some(next)));
                    }
                }
            }
        }
    }

    /// The state, if the rows reflect the whole store now and can be
    /// listed as they are.
    pub(crate) fn current(&self, store: &Store) -> Result<Option<State>, StoreError> {
        let Some(state) = self.state(store)? else {
            return Ok(None);
        };
        let now = crate::ledger::member::now_ms();
        let current = state.complete
            && state.pos >= store.last_position()?
            && state.generation == store.snapshot_generation()?
            && state.newest <= now.saturating_add(CLOCK_TOLERANCE_MS)
            && state.rows == store.index_count()?;
        Ok(current.then_some(state))
    }

    /// True when the index reflects the whole store.
    pub fn is_current(&self, store: &Store) -> Result<bool, StoreError> {
        Ok(self.current(store)?.is_some())
    }

    /// The removal notices a person is owed once (`Store::tell_once`
    /// keys), as of what the index reflects.
    pub fn notices(&self, store: &Store) -> Result<Vec<String>, StoreError> {
        Ok(self.state(store)?.map(|s| s.notices).unwrap_or_default())
    }

    pub(crate) fn state(&self, store: &Store) -> Result<Option<State>, StoreError> {
        let Some(sealed) = store.record(STATE)? else {
            return Ok(None);
        };
        Ok(self
            .keys
            .open(STATE.as_bytes(), &sealed)
            .and_then(|plain| serde_json::from_slice(&plain).ok()))
    }

    fn write_state(&self, store: &Store, state: &State) -> Result<(), StoreError> {
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(state).unwrap_or_default());
        store.set_record(STATE, &self.keys.seal(STATE.as_bytes(), &plain))
    }

    /// Marks the index for building again from the document.
    pub fn forget(&self, store: &Store) -> Result<(), StoreError> {
        store.set_record(STATE, &[])
    }

    /// Keeps `start` (the document's frontier as of a store position) as
    /// where a writer may start, sealed, with the snapshot generation it
    /// was taken at.
    pub fn keep_start(&self, store: &Store, start: &Start) -> Result<(), StoreError> {
        let record = StartRecord {
            heads: start.frontier.heads(),
            max_op: start.frontier.max_op(),
            pos: start.pos,
            generation: store.snapshot_generation()?,
        };
        let plain = serde_json::to_vec(&record).unwrap_or_default();
        store.set_record(START, &self.keys.seal(START.as_bytes(), &plain))
    }

    /// Where a writer starts without the document: the kept frontier, if
    /// it holds everything the store does now.
    pub fn start(&self, store: &Store) -> Result<Option<Start>, StoreError> {
        let Some(sealed) = store.record(START)? else {
            return Ok(None);
        };
        let Some(record) = self
            .keys
            .open(START.as_bytes(), &sealed)
            .and_then(|plain| serde_json::from_slice::<StartRecord>(&plain).ok())
        else {
            return Ok(None);
        };
        let current = record.pos == store.last_position()?
            && record.generation == store.snapshot_generation()?
            && !record.heads.is_empty();
        Ok(current.then(|| Start {
            frontier: Frontier::new(record.heads, record.max_op),
            pos: record.pos,
        }))
    }

    fn open_row(&self, stored: &IndexRow) -> Result<Row, IndexError> {
        self.open_row_with(stored, &mut Inflater::new())
    }

    fn open_row_with(&self, stored: &IndexRow, inflater: &mut Inflater) -> Result<Row, IndexError> {
        let plain = self
            .keys
            .open(&stored.key, &stored.bytes)
            .ok_or(IndexError::Damaged)?;
        let row: Row = match plain.first() {
            // Written before rows were compressed.
            Some(b'{') => serde_json::from_slice(&plain).map_err(|_| IndexError::Damaged)?,
            Some(&DEFLATED) => {
                let json = inflater.inflate(&plain[1..]).ok_or(IndexError::Damaged)?;
                serde_json::from_slice(&json).map_err(|_| IndexError::Damaged)?
            }
            _ => return Err(IndexError::Damaged),
        };
        // A row whose name is not its key's was moved: not to be trusted.
        if self.keys.row_key(&row.key) != stored.key {
            return Err(IndexError::Damaged);
        }
        Ok(row)
    }

    fn seal_row(&self, row_key: &[u8], row: &Row) -> Vec<u8> {
        let json = zeroize::Zeroizing::new(serde_json::to_vec(row).unwrap_or_default());
        let plain = zeroize::Zeroizing::new(deflate_row(&json));
        self.keys.seal(row_key, &plain)
    }
}

/// The first byte of a row's plaintext when the rest is its JSON
/// deflated (a row of JSON alone starts with `{`). Deflate takes a row
/// from about 1.9 bytes per byte of entry text to about 1.1
/// (`docs/performance.md`).
const DEFLATED: u8 = 1;

/// The largest row inflated; a row claiming more is damaged. Far above
/// any entry the schema lets in, with every reply and reaction.
const MAX_ROW_BYTES: u64 = 64 << 20;

fn deflate_row(json: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(json.len() / 2 + 16);
    out.push(DEFLATED);
    let mut encoder = flate2::write::DeflateEncoder::new(out, flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(json);
    encoder.finish().unwrap_or_default()
}

/// Inflates rows, one after another with the same state: setting up an
/// inflater for each row cost more than the row (a search that reads
/// every row of 40,000 took twice as long).
pub(crate) struct Inflater(flate2::Decompress);

impl Inflater {
    pub(crate) fn new() -> Self {
        Self(flate2::Decompress::new(false))
    }

    /// The JSON of a deflated row, or `None` when it does not inflate
    /// whole (damaged, cut short, or beyond [`MAX_ROW_BYTES`]).
    fn inflate(&mut self, deflated: &[u8]) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        use flate2::{FlushDecompress, Status};
        self.0.reset(false);
        let mut json = zeroize::Zeroizing::new(Vec::with_capacity(deflated.len() * 4 + 64));
        loop {
            let read = usize::try_from(self.0.total_in()).ok()?;
            let status = self
                .0
                .decompress_vec(deflated.get(read..)?, &mut json, FlushDecompress::Finish)
                .ok()?;
            if status == Status::StreamEnd {
                return Some(json);
            }
            // Room was left and the stream did not end: it was cut short.
            if json.len() < json.capacity() || json.len() as u64 > MAX_ROW_BYTES {
                return None;
            }
            let grown = json.len();
            json.reserve(grown);
        }
    }
}

#[cfg(test)]
mod tests;
