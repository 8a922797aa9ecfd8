//! Stored bytes that no longer verify, set aside whole.
//!
//! A flipped bit on disk, or a file restored from a bad copy, must not
//! make the whole journal unreadable. An envelope whose signature no
//! longer verifies is moved out of `envelopes` into `quarantine`, and its
//! author's contiguous sequence drops below it, so that the next sync asks
//! a peer for it again; a damaged snapshot is moved out the same way, and
//! the vector falls back to what the envelopes alone hold, so that a peer
//! sends its snapshot. Nothing is deleted: the bytes stay, for `duet
//! doctor` to report and a person to inspect.

use rusqlite::{params, OptionalExtension};

use super::{device_from, Store, StoreError};
use crate::ids::DeviceId;
use crate::vv::VersionVector;

/// One item set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// `envelope` or `snapshot`.
    pub what: String,
    pub author: Option<DeviceId>,
    pub seq: Option<u64>,
    /// For a snapshot: what the store held when it was set aside (the
    /// store is whole again once it holds as much).
    pub covers: Option<VersionVector>,
    /// When it was set aside, in milliseconds since the Unix epoch.
    pub at: i64,
}

impl Store {
    /// Sets aside the stored envelope at `pos`.
    pub fn quarantine_envelope(&self, pos: i64, at: i64) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let row: Option<(Vec<u8>, i64, Vec<u8>)> = tx
            .query_row(
                "SELECT author, seq, bytes FROM envelopes WHERE pos = ?1",
                [pos],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((author, seq, bytes)) = row else {
            return Ok(());
        };
        tx.execute(
            "INSERT INTO quarantine (what, author, seq, bytes, at) VALUES ('envelope', ?1, ?2, ?3, ?4)",
            params![author, seq, bytes, at],
        )?;
        tx.execute("DELETE FROM envelopes WHERE pos = ?1", [pos])?;
        // The contiguous sequence now ends before the envelope set aside.
        // Its link there is the one of the envelope before, when held.
        let before: Option<Vec<u8>> = tx
            .query_row(
                "SELECT bytes FROM envelopes WHERE author = ?1 AND seq = ?2 - 1",
                params![author, seq],
                |r| r.get(0),
            )
            .optional()?;
        let link = before
            .as_deref()
            .and_then(super::envelopes::link_of)
            .map(|l| l.to_vec());
        tx.execute(
            "UPDATE vector SET seq = ?2 - 1, link = ?3 WHERE author = ?1 AND seq >= ?2",
            params![author, seq, link],
        )?;
        tx.execute("DELETE FROM vector WHERE seq <= 0", [])?;
        tx.commit()?;
        Ok(())
    }

    /// Sets aside the record `name` (the sealed device list or first
    /// change) when it no longer opens; the replica writes it again from
    /// the journal.
    pub fn quarantine_record(&self, name: &str, at: i64) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let bytes: Option<Vec<u8>> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(bytes) = bytes else {
            return Ok(());
        };
        tx.execute(
            "INSERT INTO quarantine (what, bytes, at) VALUES (?1, ?2, ?3)",
            params![name, bytes, at],
        )?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [name])?;
        tx.commit()?;
        Ok(())
    }

    /// Sets aside the stored snapshot; the vector becomes what the stored
    /// envelopes alone hold, from each author's first.
    pub fn quarantine_snapshot(&self, at: i64) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let bytes: Option<Vec<u8>> = tx
            .query_row("SELECT bytes FROM snapshot WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        let Some(bytes) = bytes else {
            return Ok(());
        };
        let mut held = Vec::new();
        self.vector()?.encode(&mut held);
        tx.execute(
            "INSERT INTO quarantine (what, bytes, at, covers) VALUES ('snapshot', ?1, ?2, ?3)",
            params![bytes, at, held],
        )?;
        tx.execute("DELETE FROM snapshot WHERE id = 1", [])?;
        tx.execute("DELETE FROM vector", [])?;
        let mut stmt = tx.prepare("SELECT author, seq FROM envelopes ORDER BY author, seq")?;
        let rows: Vec<(Vec<u8>, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        drop(stmt);
        let mut current: Option<(Vec<u8>, i64)> = None;
        let mut tops: Vec<(Vec<u8>, i64)> = Vec::new();
        for (author, seq) in rows {
            match &mut current {
                Some((a, top)) if *a == author => {
                    if seq == *top + 1 {
                        *top = seq;
                    }
                }
                _ => {
                    if let Some(done) = current.take() {
                        tops.push(done);
                    }
                    current = Some((author, if seq == 1 { 1 } else { 0 }));
                }
            }
        }
        tops.extend(current);
        for (author, top) in tops.into_iter().filter(|(_, top)| *top > 0) {
            tx.execute(
                "INSERT INTO vector (author, seq) VALUES (?1, ?2)",
                params![author, top],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Everything set aside, oldest first.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT what, author, seq, at, covers FROM quarantine ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<Vec<u8>>>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (what, author, seq, at, covers) = row?;
            let covers = covers.and_then(|b| VersionVector::decode(&b).map(|(v, _)| v));
            let author = match author {
                Some(bytes) => Some(device_from(bytes)?),
                None => None,
            };
            out.push(Quarantined {
                what,
                author,
                seq: seq.map(|s| s as u64),
                covers,
                at,
            });
        }
        Ok(out)
    }
}
