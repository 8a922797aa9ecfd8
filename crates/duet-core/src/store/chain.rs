//! This device's own chain of changes, and what is done when a peer holds
//! another history of it.
//!
//! Each change envelope's signed header carries a link: a hash over its
//! author's changes up to it (`envelope::next_link`). Two envelopes of one
//! author with the same sequence number and the same link hold the same
//! changes up to there. Devices tell each other the link at each author's
//! contiguous tip (`tips`); a device compares the tip a peer holds of its
//! *own* changes with its own links (`own_chain`). When the peer holds more
//! of them than this device does, or another change under a number this
//! device used, this home was restored from a backup or copied: this
//! device gives up its own envelopes past what a peer confirmed and seals
//! their changes again under new numbers after the peer's tip
//! (`reseal_own`), and the peer sends the ones it holds back. Nothing
//! written on either side is lost; `heals` records what happened.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::envelopes::{contiguous_seq, insert_envelope, link_of};
use super::{device_from, Store, StoreError};
use crate::envelope;
use crate::ids::DeviceId;
use crate::vv::VersionVector;

/// What a device holds of one author: the highest contiguous sequence
/// and the link there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    pub author: DeviceId,
    pub seq: u64,
    pub link: [u8; 32],
}

impl Tip {
    pub const ENCODED_LEN: usize = 32 + 8 + 32;

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::ENCODED_LEN);
        out.extend_from_slice(&self.author.0);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.link);
        out
    }

    /// `None` for bytes of the wrong length.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let (author, rest) = bytes.split_first_chunk::<32>()?;
        let (seq, link) = rest.split_first_chunk::<8>()?;
        Some(Self {
            author: DeviceId(*author),
            seq: u64::from_be_bytes(*seq),
            link: link.try_into().ok()?,
        })
    }
}

/// One time this device found a peer holding another history of its own
/// changes, and healed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heal {
    /// When (ms since the epoch).
    pub at: i64,
    /// Own changes up to this sequence were kept where they were.
    pub kept: u64,
    /// How many own changes were sealed again under new numbers.
    pub resealed: u64,
    /// True when this device's own changes had already been confirmed
    /// by a peer in this run: another copy of the home is writing too.
    pub copy: bool,
}

impl Store {
    /// The link at each author's contiguous tip, where it is known.
    pub fn tips(&self) -> Result<Vec<Tip>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT author, seq, link FROM vector WHERE link IS NOT NULL")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (author, seq, link) = row?;
            let Ok(link) = <[u8; 32]>::try_from(link) else {
                continue;
            };
            out.push(Tip {
                author: device_from(author)?,
                seq: seq as u64,
                link,
            });
        }
        Ok(out)
    }

    /// The link of this device's own change `seq`, if recorded.
    pub fn own_link_at(&self, seq: u64) -> Result<Option<[u8; 32]>, StoreError> {
        let link: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT link FROM own_chain WHERE seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(link.and_then(|l| l.try_into().ok()))
    }

    /// The highest sequence number of `me` this store holds, covers or
    /// has used.
    pub fn own_top(&self, me: &DeviceId) -> Result<u64, StoreError> {
        own_top(&self.conn, me)
    }

    /// Up to which sequence a peer was seen holding this device's own
    /// changes exactly as this device does.
    pub fn own_confirmed(&self) -> Result<u64, StoreError> {
        let value: Option<i64> = self
            .conn
            .query_row(
                "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'own_confirmed'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(value.unwrap_or(0).max(0) as u64)
    }

    /// Notes that a peer holds this device's own changes up to `seq` as
    /// this device does.
    pub fn confirm_own(&self, seq: u64) -> Result<(), StoreError> {
        if seq <= self.own_confirmed()? {
            return Ok(());
        }
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('own_confirmed', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [seq as i64],
        )?;
        Ok(())
    }

    /// What the stored snapshot covers, without reading it.
    pub fn snapshot_covers(&self) -> Result<VersionVector, StoreError> {
        let covers: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT covers FROM snapshot WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        match covers {
            None => Ok(VersionVector::new()),
            Some(bytes) => VersionVector::decode(&bytes)
                .map(|(v, _)| v)
                .ok_or(StoreError::Corrupt("snapshot vector")),
        }
    }

    /// Gives up this device's own envelopes after sequence `keep` and
    /// stores `changes` (hash, change bytes), in order, as new envelopes
    /// numbered from `after + 1`, their links following `after_link` (the
    /// link a peer holds at `after`). `seal` builds each envelope from its
    /// number, link and change. One transaction: a crash leaves the old
    /// envelopes or the new ones, never neither. Records the heal.
    #[allow(clippy::too_many_arguments)]
    pub fn reseal_own<E>(
        &mut self,
        me: &DeviceId,
        keep: u64,
        after: u64,
        after_link: [u8; 32],
        changes: &[([u8; 32], Vec<u8>)],
        copy: bool,
        at: i64,
        mut seal: impl FnMut(u64, [u8; 32], &[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Result<Heal, E>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM envelopes WHERE author = ?1 AND seq > ?2",
            params![me.0.as_slice(), keep as i64],
        )?;
        tx.execute("DELETE FROM own_chain WHERE seq > ?1", [keep as i64])?;
        if contiguous_seq(&tx, me)? > keep as i64 {
            let link: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT link FROM own_chain WHERE seq = ?1",
                    [keep as i64],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "UPDATE vector SET seq = ?2, link = ?3 WHERE author = ?1",
                params![me.0.as_slice(), keep as i64, link],
            )?;
        }
        let mut prev = after_link;
        let mut seq = after.max(keep);
        for (hash, change) in changes {
            seq += 1;
            let link = envelope::next_link(&prev, seq, hash);
            let bytes = match seal(seq, link, change) {
                Ok(bytes) => bytes,
                Err(e) => return Ok(Err(e)),
            };
            insert_envelope(&tx, me, seq, hash, &bytes)?;
            prev = link;
        }
        // The next own envelope follows the last resealed one, or the
        // peer's tip: never a number the peer holds.
        let mut record = seq.to_be_bytes().to_vec();
        record.extend_from_slice(&prev);
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('own_link', ?1)",
            [record],
        )?;
        let heal = Heal {
            at,
            kept: keep,
            resealed: changes.len() as u64,
            copy,
        };
        tx.execute(
            "INSERT INTO heals (at, kept, resealed, copy) VALUES (?1, ?2, ?3, ?4)",
            params![at, keep as i64, heal.resealed as i64, copy],
        )?;
        tx.commit()?;
        Ok(Ok(heal))
    }

    /// Every heal recorded, oldest first.
    pub fn heals(&self) -> Result<Vec<Heal>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT at, kept, resealed, copy FROM heals ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(Heal {
                at: r.get(0)?,
                kept: r.get::<_, i64>(1)? as u64,
                resealed: r.get::<_, i64>(2)? as u64,
                copy: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

pub(super) fn own_top(conn: &rusqlite::Connection, me: &DeviceId) -> Result<u64, StoreError> {
    let held: i64 = conn.query_row(
        "SELECT MAX(COALESCE((SELECT seq FROM vector WHERE author = ?1), 0),
                    COALESCE((SELECT MAX(seq) FROM envelopes WHERE author = ?1), 0))",
        [me.0.as_slice()],
        |r| r.get(0),
    )?;
    Ok((held as u64).max(own_link(conn)?.map_or(0, |(seq, _)| seq)))
}

/// The sequence and link of the last own envelope sealed here.
pub(super) fn own_link(conn: &rusqlite::Connection) -> Result<Option<(u64, [u8; 32])>, StoreError> {
    let last: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE key = 'own_link'", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(last.as_deref().and_then(|v| {
        let (at, link) = v.split_first_chunk::<8>()?;
        Some((u64::from_be_bytes(*at), link.try_into().ok()?))
    }))
}

/// True when `author` is the device this store belongs to.
pub(super) fn is_me(tx: &Transaction<'_>, author: &DeviceId) -> Result<bool, StoreError> {
    let me: Option<Vec<u8>> = tx
        .prepare_cached("SELECT value FROM meta WHERE key = 'device'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(me.is_some_and(|m| m == author.0))
}

pub(super) fn record_own_link(
    tx: &Transaction<'_>,
    seq: u64,
    link: &[u8; 32],
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR REPLACE INTO own_chain (seq, link) VALUES (?1, ?2)",
        params![seq as i64, link.as_slice()],
    )?;
    Ok(())
}

/// Fills in, for a store from before links were kept, this device's own
/// links and the link at each author's tip, from the envelopes still held;
/// and takes what peers were last seen holding of this device as confirmed.
pub(super) fn backfill(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let me: Option<Vec<u8>> = tx
        .query_row("SELECT value FROM meta WHERE key = 'device'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let rows: Vec<(Vec<u8>, i64, Vec<u8>)> = tx
        .prepare("SELECT author, seq, bytes FROM envelopes")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let tips: Vec<(Vec<u8>, i64)> = tx
        .prepare("SELECT author, seq FROM vector")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (author, seq, bytes) in &rows {
        let Some(link) = link_of(bytes) else {
            continue;
        };
        if me.as_ref() == Some(author) {
            record_own_link(tx, *seq as u64, &link)?;
        }
        if tips.iter().any(|(a, s)| a == author && s == seq) {
            tx.execute(
                "UPDATE vector SET link = ?2 WHERE author = ?1",
                params![author, link.as_slice()],
            )?;
        }
    }
    if let Some(me) = me {
        let vectors: Vec<Vec<u8>> = tx
            .prepare("SELECT vector FROM peers WHERE vector IS NOT NULL")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let me = device_from(me)?;
        let own = contiguous_seq(tx, &me)? as u64;
        let confirmed = vectors
            .iter()
            .filter_map(|b| VersionVector::decode(b).map(|(v, _)| v.get(&me)))
            .max()
            .unwrap_or(0)
            .min(own);
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('own_confirmed', ?1)",
            [confirmed as i64],
        )?;
    }
    Ok(())
}
