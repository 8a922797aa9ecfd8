//! Keeping the index current: from the whole document (a replica), and
//! for the entries a writer adds without it.

use automerge::Change;

use super::{Index, IndexError, Row, State, GAP};
use crate::journal::{time_of_entry_key, DeviceRecord, Journal};
use crate::replica::Start;
use crate::store::{IndexRow, Store, StoreError};

/// What the document holds besides its entries, for the state record.
pub struct Seen<'a> {
    /// The store position the document holds everything up to.
    pub pos: i64,
    /// The snapshot generation the document was built from.
    pub generation: i64,
    pub devices: &'a [DeviceRecord],
    /// Removal notices a person is owed once (`Store::tell_once` keys).
    pub notices: Vec<String>,
}

impl Index {
    /// Brings the index to what `journal` holds: the rows of the entry
    /// keys changed since the heads it reflects, or every row when it
    /// reflects another history, is damaged or missing. Never moves it
    /// back to an older position than another process recorded. Returns
    /// how many rows were written.
    pub fn update(
        &self,
        store: &Store,
        journal: &Journal,
        seen: Seen<'_>,
    ) -> Result<usize, StoreError> {
        let heads = journal.heads();
        let complete = !journal.has_waiting();
        let target = |rows: i64, newest: i64| State {
            heads: heads.clone(),
            pos: seen.pos,
            generation: seen.generation,
            rows,
            newest,
            complete,
            devices: seen.devices.to_vec(),
            notices: seen.notices.clone(),
        };
        // Nothing to do (the common case, when a command opens): decided
        // without taking the write lock.
        if let Some(state) = self.state(store)? {
            if state == target(state.rows, state.newest) && state.rows == store.index_count()? {
                return Ok(0);
            }
        }
        store.in_write_transaction(|store| {
            let state = self.state(store)?;
            let count = store.index_count()?;
            // Another process recorded a later point: leave its rows. Only
            // when they are all there: an index missing rows is built
            // again from what this document holds. (After a compaction
            // that left no envelope, a freshly opened replica's position
            // is 0 while the state's is the last one folded in.)
            let later = |s: &State| {
                s.generation > seen.generation
                    || (s.generation == seen.generation && s.pos > seen.pos)
            };
            if state.as_ref().is_some_and(|s| s.rows == count && later(s)) {
                return Ok(0);
            }
            let changed = state
                .as_ref()
                .filter(|s| s.rows == count)
                .and_then(|s| Some((s.newest, journal.keys_changed_since(&s.heads)?)));
            let (written, newest) = match changed {
                Some((newest, keys)) => {
                    let newest = keys
                        .iter()
                        .map(|k| time_of_entry_key(k))
                        .fold(newest, i64::max);
                    match self.write_keys(store, journal, &keys) {
                        Ok(n) => (n, newest),
                        Err(IndexError::Damaged) => self.rebuild(store, journal)?,
                        Err(IndexError::Store(e)) => return Err(e),
                    }
                }
                None => self.rebuild(store, journal)?,
            };
            self.write_state(store, &target(store.index_count()?, newest))?;
            Ok(written)
        })
    }

    /// Writes every row again, numbered in the document's order. Returns
    /// how many, and the newest key's date.
    fn rebuild(&self, store: &Store, journal: &Journal) -> Result<(usize, i64), StoreError> {
        store.index_clear()?;
        let rows = journal.every_row();
        let count = rows.len();
        let newest = rows.last().map_or(0, |(k, _)| time_of_entry_key(k));
        for (i, (key, entries)) in rows.into_iter().enumerate() {
            let row_key = self.keys.row_key(&key);
            let bytes = self.seal_row(&row_key, &Row { key, entries });
            store.index_put(&IndexRow {
                key: row_key,
                ord: (i as i64 + 1).saturating_mul(GAP),
                bytes,
            })?;
        }
        Ok((count, newest))
    }

    fn write_keys<'a>(
        &self,
        store: &Store,
        journal: &Journal,
        keys: impl IntoIterator<Item = &'a String>,
    ) -> Result<usize, IndexError> {
        let mut written = 0;
        for key in keys {
            let entries = journal.entries_at(key);
            if entries.is_empty() {
                store.index_delete(&self.keys.row_key(key))?;
                continue;
            }
            self.write_row(
                store,
                Row {
                    key: key.clone(),
                    entries,
                },
            )?;
            written += 1;
        }
        Ok(written)
    }

    /// Writes one row, in its place: where it was, or between the rows
    /// whose keys come before and after its own.
    fn write_row(&self, store: &Store, row: Row) -> Result<(), IndexError> {
        let row_key = self.keys.row_key(&row.key);
        let ord = match store.index_row(&row_key)? {
            Some(existing) => existing.ord,
            None => self.place(store, &row.key)?,
        };
        let bytes = self.seal_row(&row_key, &row);
        store.index_put(&IndexRow {
            key: row_key,
            ord,
            bytes,
        })?;
        Ok(())
    }

    /// The order number for a new row with entry key `key`. A new entry is
    /// nearly always the newest (one row read); one dated earlier is found
    /// by bisection over the rows (a few dozen read at 40,000).
    fn place(&self, store: &Store, key: &str) -> Result<i64, IndexError> {
        let count = store.index_count()?;
        let Some(top) = store.index_rows_down(None, 1)?.pop() else {
            return Ok(GAP);
        };
        if key > self.open_row(&top)?.key.as_str() {
            return Ok(top.ord.saturating_add(GAP));
        }
        // The first row (by rank) whose key comes after `key`.
        let (mut lo, mut hi) = (0, count - 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let row = store.index_row_at(mid)?.ok_or(IndexError::Damaged)?;
            if self.open_row(&row)?.key.as_str() > key {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        for _ in 0..2 {
            let after = store.index_row_at(lo)?.ok_or(IndexError::Damaged)?;
            if lo == 0 {
                return Ok(after.ord.saturating_sub(GAP));
            }
            let before = store.index_row_at(lo - 1)?.ok_or(IndexError::Damaged)?;
            if after.ord - before.ord > 1 {
                return Ok(before.ord + (after.ord - before.ord) / 2);
            }
            store.index_respace(GAP)?;
        }
        Err(IndexError::Damaged)
    }

    /// Adds the rows of the entries a writer just made in `change`, when
    /// the index reflected everything up to `before` and the store holds
    /// nothing beyond `after` (else the rows wait for a replica). `draft`
    /// is the writer's journal of the first change. True if it wrote.
    pub fn add_written(
        &self,
        store: &Store,
        draft: &Journal,
        change: &Change,
        before: &Start,
        after: &Start,
    ) -> Result<bool, StoreError> {
        let made = draft.entries_in_change(change);
        // A change that records a device or a removal changes what the
        // state holds besides rows: a replica brings it current.
        if made.is_empty() {
            return Ok(false);
        }
        store.in_write_transaction(|store| {
            let Some(mut state) = self.current_at(store, before.pos)? else {
                return Ok(false);
            };
            let same_heads = {
                let mut theirs = state.heads.clone();
                theirs.sort_unstable();
                theirs == before.frontier.heads()
            };
            if !same_heads || store.last_position()? != after.pos {
                return Ok(false);
            }
            for (key, entry) in made {
                state.newest = state.newest.max(time_of_entry_key(&key));
                let row = Row {
                    key,
                    entries: vec![entry],
                };
                match self.write_row(store, row) {
                    Ok(()) => {}
                    // A damaged row is found and rebuilt by a replica.
                    Err(IndexError::Damaged) => return Ok(false),
                    Err(IndexError::Store(e)) => return Err(e),
                }
            }
            state.heads = after.frontier.heads();
            state.pos = after.pos;
            state.rows = store.index_count()?;
            self.write_state(store, &state)?;
            Ok(true)
        })
    }

    /// The state, if it reflects exactly the store position `pos` and the
    /// current snapshot, with every row in place.
    fn current_at(&self, store: &Store, pos: i64) -> Result<Option<State>, StoreError> {
        let Some(state) = self.state(store)? else {
            return Ok(None);
        };
        let ok = state.complete
            && state.pos == pos
            && state.generation == store.snapshot_generation()?
            && state.rows == store.index_count()?;
        Ok(ok.then_some(state))
    }
}
