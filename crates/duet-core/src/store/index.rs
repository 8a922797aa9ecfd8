//! The read index's table (`crate::index`): one sealed row per entry key,
//! each with an order number, and nothing else in the clear.
//!
//! `key` is a keyed hash of the entry key and `bytes` the sealed row, so
//! the table tells a reader of the disk how many entries there are and
//! their order, not their dates, authors or words (`docs/threat-model.md`).

use rusqlite::{params, OptionalExtension};

use super::{Store, StoreError};

/// One stored row of the read index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRow {
    pub key: Vec<u8>,
    /// Higher is newer; gaps leave room for entries dated between two.
    pub ord: i64,
    pub bytes: Vec<u8>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IndexRow> {
    Ok(IndexRow {
        key: r.get(0)?,
        ord: r.get(1)?,
        bytes: r.get(2)?,
    })
}

impl Store {
    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`): what the
    /// index reads to decide, and what it writes, is seen by no other
    /// process half done. Inside another such transaction, `f` joins it:
    /// the writer puts an entry's rows and its next start in one commit,
    /// so one synced write rather than two.
    pub fn in_write_transaction<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E>,
    ) -> Result<T, E> {
        if !self.conn.is_autocommit() {
            return f(self);
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        match f(self) {
            Ok(value) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(StoreError::from)?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// How many rows the index holds.
    pub fn index_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM read_index", [], |r| r.get(0))?)
    }

    /// Up to `n` rows, newest first, from order `from` down (inclusive),
    /// or from the newest.
    pub fn index_rows_down(
        &self,
        from: Option<i64>,
        n: usize,
    ) -> Result<Vec<IndexRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, ord, bytes FROM read_index WHERE ord <= ?1 ORDER BY ord DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![from.unwrap_or(i64::MAX), n.min(i64::MAX as usize) as i64],
            row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The row at `rank` (0 is the oldest).
    pub fn index_row_at(&self, rank: i64) -> Result<Option<IndexRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT key, ord, bytes FROM read_index ORDER BY ord LIMIT 1 OFFSET ?1",
                [rank],
                row,
            )
            .optional()?)
    }

    /// The row with this key.
    pub fn index_row(&self, key: &[u8]) -> Result<Option<IndexRow>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT key, ord, bytes FROM read_index WHERE key = ?1",
                [key],
                row,
            )
            .optional()?)
    }

    /// Writes one row (replacing the row with its key).
    pub fn index_put(&self, r: &IndexRow) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO read_index (key, ord, bytes) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET ord = excluded.ord, bytes = excluded.bytes",
            )?
            .execute(params![r.key, r.ord, r.bytes])?;
        Ok(())
    }

    pub fn index_delete(&self, key: &[u8]) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM read_index WHERE key = ?1", [key])?;
        Ok(())
    }

    /// Empties the index (before it is built again).
    pub fn index_clear(&self) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM read_index", [])?;
        Ok(())
    }

    /// Numbers every row again, `gap` apart, keeping their order: what
    /// makes room when two neighbours have no number left between them.
    pub fn index_respace(&self, gap: i64) -> Result<(), StoreError> {
        self.conn.execute_batch(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS index_ranks (key BLOB PRIMARY KEY, n INTEGER);
             DELETE FROM index_ranks;
             INSERT INTO index_ranks SELECT key, ROW_NUMBER() OVER (ORDER BY ord) FROM read_index;
             UPDATE read_index SET ord = {gap} * (SELECT n FROM index_ranks WHERE index_ranks.key = read_index.key);
             DELETE FROM index_ranks;"
        ))?;
        Ok(())
    }
}
