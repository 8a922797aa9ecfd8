//! The store: SQLite (WAL, `synchronous=FULL`) holding only ciphertext and
//! the metadata sync needs. No entry text is ever written here in the
//! clear; the envelopes and the snapshot are sealed before they arrive.
//!
//! Tables (schema version 2; `docs/architecture.md` explains each):
//! `meta` (journal id, device id), `members` (device public keys),
//! `envelopes` (author, seq, change hash, sealed bytes, local position),
//! `vector` (per author, highest contiguous seq held), `snapshot` (the one
//! sealed snapshot and the version vector it covers), `peers` (addresses
//! and last sync of other devices) and `seen_devices` (devices this one
//! has told its person about).

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::ids::{DeviceId, JournalId};
use crate::vv::VersionVector;

/// Each entry moves the schema one version up; `PRAGMA user_version`
/// records how many have run. Never edit a released migration: add one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
     CREATE TABLE members (device BLOB PRIMARY KEY);
     CREATE TABLE envelopes (
         pos INTEGER PRIMARY KEY AUTOINCREMENT,
         author BLOB NOT NULL,
         seq INTEGER NOT NULL,
         hash BLOB NOT NULL,
         bytes BLOB NOT NULL,
         UNIQUE (author, seq)
     );
     CREATE TABLE vector (author BLOB PRIMARY KEY, seq INTEGER NOT NULL);
     CREATE TABLE snapshot (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         generation INTEGER NOT NULL,
         covers BLOB NOT NULL,
         bytes BLOB NOT NULL
     );",
    // 2: what the daemon remembers of other devices, and which devices
    // this one has already told its person about.
    "CREATE TABLE peers (
         device BLOB PRIMARY KEY,
         addrs TEXT NOT NULL DEFAULT '[]',
         last_sync INTEGER,
         vector BLOB
     );
     CREATE TABLE seen_devices (device BLOB PRIMARY KEY);",
];

/// What this device remembers of another member device.
#[derive(Clone, Debug, Default)]
pub struct PeerRecord {
    pub device: Option<DeviceId>,
    /// Multiaddrs the device was reached at or announced, newest first.
    pub addrs: Vec<String>,
    /// When the last sync with it completed (ms since the epoch).
    pub last_sync: Option<i64>,
    /// Its version vector as of that sync.
    pub vector: Option<VersionVector>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store was written by a newer duet (schema {found}, this one knows {known}); update duet")]
    TooNew { found: i64, known: i64 },
    #[error("the store is not initialised")]
    NotInitialised,
    #[error("the store's {0} is corrupt")]
    Corrupt(&'static str),
    #[error("cannot create {0}: {1}")]
    Io(String, std::io::Error),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// One stored envelope.
#[derive(Clone, Debug)]
pub struct StoredEnvelope {
    /// Local arrival order; only meaningful on this device.
    pub pos: i64,
    pub author: DeviceId,
    pub seq: u64,
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
}

/// The one stored snapshot.
#[derive(Clone, Debug)]
pub struct StoredSnapshot {
    /// Bumped by every replacement, so that two processes compacting at
    /// once cannot delete envelopes the surviving snapshot does not cover.
    pub generation: i64,
    pub covers: VersionVector,
    pub bytes: Vec<u8>,
}

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // Create the file owner-only before SQLite does: its -wal and -shm
        // files take their mode from it.
        if !path.exists() {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::Io(path.display().to_string(), e))?;
        }
        let conn = Connection::open(path)?;
        Self::setup(conn)
    }

    /// An in-memory store, for tests and benchmarks.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // auto_vacuum only takes effect before the first table exists.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        let mut store = Self { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        for sql in &MIGRATIONS[version as usize..] {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", known)?;
        tx.commit()?;
        Ok(())
    }

    /// Records which journal and device this store belongs to. Once.
    pub fn initialise(&mut self, journal: &JournalId, device: &DeviceId) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('journal', ?1)",
            params![journal.0.as_slice()],
        )?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('device', ?1)",
            params![device.0.as_slice()],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO members (device) VALUES (?1)",
            params![device.0.as_slice()],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO seen_devices (device) VALUES (?1)",
            params![device.0.as_slice()],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn journal_id(&self) -> Result<JournalId, StoreError> {
        let bytes = self.meta_blob("journal")?;
        Ok(JournalId(
            bytes
                .try_into()
                .map_err(|_| StoreError::Corrupt("journal id"))?,
        ))
    }

    pub fn device_id(&self) -> Result<DeviceId, StoreError> {
        let bytes = self.meta_blob("device")?;
        Ok(DeviceId(
            bytes
                .try_into()
                .map_err(|_| StoreError::Corrupt("device id"))?,
        ))
    }

    fn meta_blob(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?
            .ok_or(StoreError::NotInitialised)
    }

    /// The position of the last stored envelope (0 when there is none).
    pub fn last_position(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(pos), 0) FROM envelopes", [], |r| {
                r.get(0)
            })?)
    }

    /// A record the replica keeps beside the journal (sealed by it).
    pub fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_record(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn members(&self) -> Result<HashSet<DeviceId>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT device FROM members")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = HashSet::new();
        for row in rows {
            out.insert(device_from(row?)?);
        }
        Ok(out)
    }

    pub fn add_member(&self, device: &DeviceId) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO members (device) VALUES (?1)",
            params![device.0.as_slice()],
        )?;
        Ok(())
    }

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
        seal: impl FnOnce(u64) -> Result<Vec<u8>, E>,
    ) -> Result<Result<(u64, i64), E>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held: i64 = tx.query_row(
            "SELECT MAX(COALESCE((SELECT seq FROM vector WHERE author = ?1), 0),
                        COALESCE((SELECT MAX(seq) FROM envelopes WHERE author = ?1), 0))",
            [author.0.as_slice()],
            |r| r.get(0),
        )?;
        let seq = held as u64 + 1;
        let bytes = match seal(seq) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(Err(e)),
        };
        let pos = insert_envelope(&tx, author, seq, hash, &bytes)?;
        tx.commit()?;
        Ok(Ok((seq, pos)))
    }

    /// Stores an envelope received from a peer; `false` if it was held.
    pub fn insert_received(
        &mut self,
        author: &DeviceId,
        seq: u64,
        hash: &[u8; 32],
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
        let pos = insert_envelope(&tx, author, seq, hash, bytes)?;
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

    /// (author, seq, hash) of every stored envelope, by author then seq.
    pub fn envelope_index(&self) -> Result<Vec<(DeviceId, u64, [u8; 32])>, StoreError> {
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
            let hash = hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("change hash"))?;
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
    /// envelopes it covers, in one transaction. Returns `false`, changing
    /// nothing, if another process replaced the snapshot since
    /// `expected_generation` was read.
    pub fn replace_snapshot(
        &mut self,
        expected_generation: i64,
        covers: &VersionVector,
        bytes: &[u8],
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
            raise_vector(&tx, &author, seq)?;
        }
        tx.commit()?;
        Ok(true)
    }

    /// Remembers addresses for `device`, newest first, at most 8.
    pub fn remember_addrs(&self, device: &DeviceId, addrs: &[String]) -> Result<(), StoreError> {
        let mut known = self.peer(device)?.addrs;
        for addr in addrs.iter().rev() {
            known.retain(|a| a != addr);
            known.insert(0, addr.clone());
        }
        known.truncate(8);
        let text = serde_json::to_string(&known).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "INSERT INTO peers (device, addrs) VALUES (?1, ?2)
             ON CONFLICT (device) DO UPDATE SET addrs = excluded.addrs",
            params![device.0.as_slice(), text],
        )?;
        Ok(())
    }

    /// Records a completed sync with `device`, and its vector then.
    pub fn record_sync(
        &self,
        device: &DeviceId,
        at: i64,
        vector: &VersionVector,
    ) -> Result<(), StoreError> {
        let mut encoded = Vec::new();
        vector.encode(&mut encoded);
        self.conn.execute(
            "INSERT INTO peers (device, last_sync, vector) VALUES (?1, ?2, ?3)
             ON CONFLICT (device) DO UPDATE SET last_sync = excluded.last_sync, vector = excluded.vector",
            params![device.0.as_slice(), at, encoded],
        )?;
        Ok(())
    }

    /// What is remembered of `device` (empty if nothing).
    pub fn peer(&self, device: &DeviceId) -> Result<PeerRecord, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT addrs, last_sync, vector FROM peers WHERE device = ?1",
                [device.0.as_slice()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<Vec<u8>>>(2)?,
                    ))
                },
            )
            .optional()?;
        let Some((addrs, last_sync, vector)) = row else {
            return Ok(PeerRecord {
                device: Some(*device),
                ..PeerRecord::default()
            });
        };
        Ok(PeerRecord {
            device: Some(*device),
            addrs: serde_json::from_str(&addrs).unwrap_or_default(),
            last_sync,
            vector: vector.and_then(|v| VersionVector::decode(&v).map(|(vv, _)| vv)),
        })
    }

    /// Devices this one has already told its person about.
    pub fn seen_devices(&self) -> Result<HashSet<DeviceId>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT device FROM seen_devices")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = HashSet::new();
        for row in rows {
            out.insert(device_from(row?)?);
        }
        Ok(out)
    }

    pub fn mark_seen(&self, devices: &[DeviceId]) -> Result<(), StoreError> {
        for device in devices {
            self.conn.execute(
                "INSERT OR IGNORE INTO seen_devices (device) VALUES (?1)",
                [device.0.as_slice()],
            )?;
        }
        Ok(())
    }

    /// Gives freed pages back to the file system and empties the WAL.
    pub fn reclaim_space(&self) -> Result<(), StoreError> {
        // Each step of incremental_vacuum frees one page; step to the end.
        let mut stmt = self.conn.prepare("PRAGMA incremental_vacuum")?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
        drop(rows);
        drop(stmt);
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// `PRAGMA integrity_check`: `Ok(())` or the problems it lists.
    pub fn integrity_check(&self) -> Result<Result<(), String>, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(if lines == ["ok"] {
            Ok(())
        } else {
            Err(lines.join("; "))
        })
    }
}

fn insert_envelope(
    tx: &rusqlite::Transaction<'_>,
    author: &DeviceId,
    seq: u64,
    hash: &[u8; 32],
    bytes: &[u8],
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO envelopes (author, seq, hash, bytes) VALUES (?1, ?2, ?3, ?4)",
        params![author.0.as_slice(), seq as i64, hash.as_slice(), bytes],
    )?;
    let pos = tx.last_insert_rowid();
    let contiguous = contiguous_seq(tx, author)?;
    if seq as i64 == contiguous + 1 {
        raise_vector(tx, author, seq)?;
    }
    Ok(pos)
}

/// The author's highest contiguous sequence held (0 if none).
fn contiguous_seq(conn: &Connection, author: &DeviceId) -> Result<i64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq FROM vector WHERE author = ?1",
            [author.0.as_slice()],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Sets the author's contiguous sequence to at least `seq`, then extends it
/// over envelopes already held above it.
fn raise_vector(
    tx: &rusqlite::Transaction<'_>,
    author: &DeviceId,
    seq: u64,
) -> Result<(), StoreError> {
    let mut top = seq as i64;
    let current = contiguous_seq(tx, author)?;
    top = top.max(current);
    let mut stmt =
        tx.prepare_cached("SELECT seq FROM envelopes WHERE author = ?1 AND seq > ?2 ORDER BY seq")?;
    let above: Vec<i64> = stmt
        .query_map(params![author.0.as_slice(), top], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for s in above {
        if s == top + 1 {
            top = s;
        } else {
            break;
        }
    }
    tx.execute(
        "INSERT INTO vector (author, seq) VALUES (?1, ?2)
         ON CONFLICT (author) DO UPDATE SET seq = excluded.seq",
        params![author.0.as_slice(), top],
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
            hash: hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("change hash"))?,
            bytes,
        })
    })())
}

fn device_from(bytes: Vec<u8>) -> Result<DeviceId, StoreError> {
    Ok(DeviceId(
        bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt("device id"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::random_bytes;

    #[test]
    fn the_vector_advances_only_over_contiguous_envelopes() {
        let mut store = Store::open_in_memory().expect("store");
        let a = DeviceId(random_bytes());
        for seq in [1, 2, 4] {
            store
                .insert_received(&a, seq, &[0; 32], b"x")
                .expect("insert");
        }
        assert_eq!(store.vector().expect("vv").get(&a), 2);
        assert!(store.holds(&a, 4).expect("holds"));
        assert!(!store.holds(&a, 3).expect("holds"));
        store
            .insert_received(&a, 3, &[0; 32], b"x")
            .expect("insert");
        assert_eq!(store.vector().expect("vv").get(&a), 4);
        assert_eq!(
            store.insert_received(&a, 3, &[0; 32], b"x").expect("dup"),
            None
        );
    }

    #[test]
    fn replacing_the_snapshot_deletes_what_it_covers_once() {
        let mut store = Store::open_in_memory().expect("store");
        let a = DeviceId(random_bytes());
        for seq in 1..=5 {
            store
                .insert_received(&a, seq, &[0; 32], b"x")
                .expect("insert");
        }
        let covers: VersionVector = [(a, 3)].into_iter().collect();
        assert!(store
            .replace_snapshot(0, &covers, b"snap")
            .expect("replace"));
        assert_eq!(store.envelope_count().expect("count"), 2);
        assert!(store.holds(&a, 2).expect("holds"));
        // A second compaction from a stale reading changes nothing.
        assert!(!store
            .replace_snapshot(0, &covers, b"stale")
            .expect("replace"));
        assert_eq!(
            store.snapshot().expect("snap").expect("some").bytes,
            b"snap"
        );
    }

    #[test]
    fn local_inserts_take_consecutive_numbers() {
        let mut store = Store::open_in_memory().expect("store");
        let me = DeviceId(random_bytes());
        for expected in 1..=3u64 {
            let (seq, _) = store
                .insert_local(&me, &[0; 32], |seq| Ok::<_, ()>(seq.to_be_bytes().to_vec()))
                .expect("store")
                .expect("seal");
            assert_eq!(seq, expected);
        }
        assert_eq!(store.vector().expect("vv").get(&me), 3);
    }

    #[test]
    fn a_store_from_a_newer_duet_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.sqlite");
        drop(Store::open(&path).expect("create"));
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", 99).expect("bump");
        drop(conn);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
