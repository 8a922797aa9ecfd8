//! The envelopes, the version vector and the snapshot: the rows sync
//! moves, and the transactions that keep them consistent.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::chain::{is_me, own_link, own_top, record_own_link};
use super::{device_from, Store, StoreError, StoredEnvelope, StoredSnapshot};
use crate::envelope::{self, Body};
use crate::ids::DeviceId;
use crate::vv::VersionVector;

impl Store {
    /// The highest contiguous sequence held, per author.
    pub fn vector(&self) -> Result<VersionVector, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT author, seq FROM vector")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?;
        let mut vv = VersionVector::new();
        for row in rows {
            let (author, seq) = row?;
            vv.set(device_from(author)?, seq as u64);
        }
        Ok(vv)
    }

    /// True when the envelope `(author, seq)` is held or was compacted
    /// into the snapshot.
    pub fn holds(&self, author: &DeviceId, seq: u64) -> Result<bool, StoreError> {
        if seq as i64 <= contiguous_seq(&self.conn, author)? {
            return Ok(true);
        }
        let found = self
            .conn
            .query_row(
                "SELECT 1 FROM envelopes WHERE author = ?1 AND seq = ?2",
                params![author.0.as_slice(), seq as i64],
                |_| Ok(()),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Stores a local envelope durably under the next sequence number of
    /// `author`. `seal` builds the envelope for that number; it runs inside
    /// the write transaction so two processes never take the same number.
    pub fn insert_local<E>(
        &mut self,
        author: &DeviceId,
        hash: &[u8; 32],
        seal: impl FnOnce(u64, [u8; 32]) -> Result<Vec<u8>, E>,
    ) -> Result<Result<(u64, i64), E>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = own_top(&tx, author)?;
        // A peer may hold more of this device's envelopes than it does
        // itself: this home was restored from a backup, or copied. A new
        // envelope must never take a number a peer holds under another
        // one, so it goes after what any peer was last seen to hold; the
        // peers send the rest back (it is this device's own, signed by it),
        // and `store/chain.rs` heals what was sealed meanwhile.
        let peers_hold = {
            let mut stmt =
                tx.prepare_cached("SELECT vector FROM peers WHERE vector IS NOT NULL")?;
            let vectors: Vec<Vec<u8>> = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            vectors
                .iter()
                .filter_map(|bytes| VersionVector::decode(bytes).map(|(v, _)| v.get(author)))
                // A claim no device could reach is a lie, not a restore.
                .filter(|seq| *seq < (i64::MAX / 2) as u64)
                .max()
                .unwrap_or(0)
        };
        let seq = held.max(peers_hold) + 1;
        // The link of this device's previous change, kept beside its
        // sequence so that compaction never loses it.
        let prev = match own_link(&tx)? {
            Some((at, link)) if at == seq - 1 => link,
            // A store from before links (or one whose record was lost):
            // the chain starts again here, and snapshots carry this
            // device's changes from here on as envelopes.
            _ => crate::envelope::FIRST_LINK,
        };
        let link = crate::envelope::next_link(&prev, seq, hash);
        let bytes = match seal(seq, link) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(Err(e)),
        };
        let pos = insert_envelope(&tx, author, seq, hash.as_slice(), &bytes)?;
        let mut record = seq.to_be_bytes().to_vec();
        record.extend_from_slice(&link);
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('own_link', ?1)",
            [record],
        )?;
        tx.commit()?;
        Ok(Ok((seq, pos)))
    }

    /// Stores an envelope received from a peer; `false` if it was held.
    pub fn insert_received(
        &mut self,
        author: &DeviceId,
        seq: u64,
        hash: Option<&[u8; 32]>,
        bytes: &[u8],
    ) -> Result<Option<i64>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists = tx
            .query_row(
                "SELECT 1 FROM envelopes WHERE author = ?1 AND seq = ?2",
                params![author.0.as_slice(), seq as i64],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if exists {
            return Ok(None);
        }
        let pos = insert_envelope(&tx, author, seq, hash.map_or(&[][..], |h| h), bytes)?;
        tx.commit()?;
        Ok(Some(pos))
    }

    /// Envelopes stored after local position `pos`, oldest first.
    pub fn envelopes_after(&self, pos: i64) -> Result<Vec<StoredEnvelope>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT pos, author, seq, hash, bytes FROM envelopes WHERE pos > ?1 ORDER BY pos",
        )?;
        let rows = stmt.query_map([pos], row_to_envelope)?;
        rows.map(|r| r?).collect()
    }

    /// Envelopes of `author` with sequence numbers in `range`.
    pub fn envelopes_of(
        &self,
        author: &DeviceId,
        from: u64,
        to: u64,
    ) -> Result<Vec<StoredEnvelope>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT pos, author, seq, hash, bytes FROM envelopes
             WHERE author = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
        )?;
        let rows = stmt.query_map(
            params![author.0.as_slice(), from as i64, to as i64],
            row_to_envelope,
        )?;
        rows.map(|r| r?).collect()
    }

    /// (author, seq, change hash) of every stored envelope, by author then
    /// seq. The hash is `None` where the device that stored it could not
    /// open it.
    #[allow(clippy::type_complexity)]
    pub fn envelope_index(&self) -> Result<Vec<(DeviceId, u64, Option<[u8; 32]>)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT author, seq, hash FROM envelopes ORDER BY author, seq")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (author, seq, hash) = row?;
            let hash = change_hash(hash)?;
            out.push((device_from(author)?, seq as u64, hash));
        }
        Ok(out)
    }

    pub fn envelope_count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM envelopes", [], |r| r.get(0))?;
        Ok(n as usize)
    }

    pub fn snapshot(&self) -> Result<Option<StoredSnapshot>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT generation, covers, bytes FROM snapshot WHERE id = 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )
            .optional()?;
        let Some((generation, covers, bytes)) = row else {
            return Ok(None);
        };
        let (covers, _) =
            VersionVector::decode(&covers).ok_or(StoreError::Corrupt("snapshot vector"))?;
        Ok(Some(StoredSnapshot {
            generation,
            covers,
            bytes,
        }))
    }

    pub fn snapshot_generation(&self) -> Result<i64, StoreError> {
        let generation: Option<i64> = self
            .conn
            .query_row("SELECT generation FROM snapshot WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(generation.unwrap_or(0))
    }

    /// Replaces the snapshot with one covering `covers` and deletes the
    /// envelopes it covers, in one transaction. `tips` are the links at
    /// the snapshot's ends, where the caller knows them. Returns `false`,
    /// changing nothing, if another process replaced the snapshot since
    /// `expected_generation` was read.
    pub fn replace_snapshot(
        &mut self,
        expected_generation: i64,
        covers: &VersionVector,
        bytes: &[u8],
        tips: &[(DeviceId, [u8; 32])],
    ) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx
            .query_row("SELECT generation FROM snapshot WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?
            .unwrap_or(0);
        if current != expected_generation {
            return Ok(false);
        }
        let mut encoded = Vec::new();
        covers.encode(&mut encoded);
        tx.execute(
            "INSERT OR REPLACE INTO snapshot (id, generation, covers, bytes) VALUES (1, ?1, ?2, ?3)",
            params![current + 1, encoded, bytes],
        )?;
        for (author, seq) in covers.iter() {
            tx.execute(
                "DELETE FROM envelopes WHERE author = ?1 AND seq <= ?2",
                params![author.0.as_slice(), seq as i64],
            )?;
            let link = tips.iter().find(|(a, _)| *a == author).map(|(_, l)| *l);
            raise_vector(&tx, &author, seq, link)?;
        }
        tx.commit()?;
        Ok(true)
    }
}

pub(super) fn insert_envelope(
    tx: &rusqlite::Transaction<'_>,
    author: &DeviceId,
    seq: u64,
    hash: &[u8],
    bytes: &[u8],
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO envelopes (author, seq, hash, bytes) VALUES (?1, ?2, ?3, ?4)",
        params![author.0.as_slice(), seq as i64, hash, bytes],
    )?;
    let pos = tx.last_insert_rowid();
    let link = link_of(bytes);
    if let Some(link) = link {
        if is_me(tx, author)? {
            record_own_link(tx, seq, &link)?;
        }
    }
    let contiguous = contiguous_seq(tx, author)?;
    if seq as i64 == contiguous + 1 {
        raise_vector(tx, author, seq, link)?;
    }
    Ok(pos)
}

/// The link in a change envelope's signed header (`None` for bytes that
/// are not one).
pub(super) fn link_of(bytes: &[u8]) -> Option<[u8; 32]> {
    match envelope::decode(bytes).ok()?.body {
        Body::Change { link, .. } => Some(link),
        _ => None,
    }
}

/// The author's highest contiguous sequence held (0 if none).
pub(super) fn contiguous_seq(conn: &Connection, author: &DeviceId) -> Result<i64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq FROM vector WHERE author = ?1",
            [author.0.as_slice()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Sets the author's contiguous sequence to at least `seq` (whose link is
/// `link`, when known), then extends it over envelopes already held above
/// it, keeping the link at the top.
fn raise_vector(
    tx: &rusqlite::Transaction<'_>,
    author: &DeviceId,
    seq: u64,
    link: Option<[u8; 32]>,
) -> Result<(), StoreError> {
    let current: Option<(i64, Option<Vec<u8>>)> = tx
        .query_row(
            "SELECT seq, link FROM vector WHERE author = ?1",
            [author.0.as_slice()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (mut top, mut top_link) = match current {
        Some((at, held)) if at > seq as i64 => (at, held),
        Some((at, held)) if at == seq as i64 => (at, held.or(link.map(|l| l.to_vec()))),
        _ => (seq as i64, link.map(|l| l.to_vec())),
    };
    let mut stmt = tx.prepare_cached(
        "SELECT seq, bytes FROM envelopes WHERE author = ?1 AND seq > ?2 ORDER BY seq",
    )?;
    let above: Vec<(i64, Vec<u8>)> = stmt
        .query_map(params![author.0.as_slice(), top], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    for (s, bytes) in above {
        if s == top + 1 {
            top = s;
            top_link = link_of(&bytes).map(|l| l.to_vec());
        } else {
            break;
        }
    }
    tx.execute(
        "INSERT INTO vector (author, seq, link) VALUES (?1, ?2, ?3)
         ON CONFLICT (author) DO UPDATE SET seq = excluded.seq, link = excluded.link",
        params![author.0.as_slice(), top, top_link],
    )?;
    Ok(())
}

fn row_to_envelope(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<StoredEnvelope, StoreError>> {
    let pos: i64 = r.get(0)?;
    let author: Vec<u8> = r.get(1)?;
    let seq: i64 = r.get(2)?;
    let hash: Vec<u8> = r.get(3)?;
    let bytes: Vec<u8> = r.get(4)?;
    Ok((|| {
        Ok(StoredEnvelope {
            pos,
            author: device_from(author)?,
            seq: seq as u64,
            hash: change_hash(hash)?,
            bytes,
        })
    })())
}

/// A stored change hash: 32 bytes, or none (an empty blob).
fn change_hash(bytes: Vec<u8>) -> Result<Option<[u8; 32]>, StoreError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    bytes
        .try_into()
        .map(Some)
        .map_err(|_| StoreError::Corrupt("change hash"))
}
