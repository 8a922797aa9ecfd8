//! The store: SQLite (WAL, `synchronous=FULL`) holding only ciphertext and
//! the metadata sync needs. No entry text is ever written here in the
//! clear; the envelopes and the snapshot are sealed before they arrive.
//!
//! Tables (schema version 7; `docs/architecture.md` explains each):
//! `meta` (journal id, device id), `members` (device public keys),
//! `envelopes` (author, seq, change hash, sealed bytes, local position),
//! `vector` (per author, highest contiguous seq held and its link),
//! `snapshot` (the one sealed snapshot and the version vector it covers),
//! `peers` (addresses and last sync of other devices), `seen_devices`
//! (devices this one has told its person about), `arrivals`,
//! `quarantine`, `own_chain` (this device's own links) and `heals`
//! (restores and copies found), and `read_index` (the sealed read index,
//! `index.rs`).

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::ids::{DeviceId, JournalId};
use crate::vv::VersionVector;

mod chain;
mod envelopes;
mod index;
mod peers;
mod quarantine;
mod read_only;

pub use chain::{Heal, Tip};
pub use index::IndexRow;
pub use quarantine::Quarantined;

pub use peers::PeerRecord;

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
    // 3: when changes dated ahead of this device's clock arrived (by
    // change hash), so that such an entry is listed by its arrival.
    "CREATE TABLE arrivals (hash BLOB PRIMARY KEY, at INTEGER NOT NULL);",
    // 4: stored bytes that no longer verify (a damaged disk, a bad
    // restore), set aside whole so that the rest opens; a peer sends the
    // good copy again.
    "CREATE TABLE quarantine (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         what TEXT NOT NULL,
         author BLOB,
         seq INTEGER,
         bytes BLOB NOT NULL,
         at INTEGER NOT NULL
     );",
    // 5: the link at each author's contiguous tip, told to peers so that a
    // device finds out when a peer holds another history of its own
    // changes (a restored or copied home); this device's own links by
    // sequence; and what became of each such finding.
    "ALTER TABLE vector ADD COLUMN link BLOB;
     CREATE TABLE own_chain (seq INTEGER PRIMARY KEY, link BLOB NOT NULL);
     CREATE TABLE heals (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         at INTEGER NOT NULL,
         kept INTEGER NOT NULL,
         resealed INTEGER NOT NULL,
         copy INTEGER NOT NULL
     );
     ALTER TABLE quarantine ADD COLUMN covers BLOB;
     ALTER TABLE peers ADD COLUMN clock_ahead INTEGER;
     CREATE TABLE removed (
         device BLOB PRIMARY KEY,
         cut INTEGER NOT NULL,
         by TEXT,
         at INTEGER,
         envelope BLOB
     );
     CREATE TABLE told (what TEXT PRIMARY KEY);",
    // 6: concurrent removals: who recorded a removal of each device (a
    // removal of one of them, by that device, is a counter-removal), and
    // the devices each key epoch is kept from (a device seals only to an
    // epoch no removed device holds).
    "CREATE TABLE removers (
         device BLOB NOT NULL,
         by BLOB NOT NULL,
         PRIMARY KEY (device, by)
     );
     CREATE TABLE kept_from (
         key_id INTEGER NOT NULL,
         device BLOB NOT NULL,
         PRIMARY KEY (key_id, device)
     );
     CREATE TABLE statements (
         device BLOB NOT NULL,
         by BLOB NOT NULL,
         kind INTEGER NOT NULL,
         value INTEGER NOT NULL,
         bytes BLOB NOT NULL,
         PRIMARY KEY (device, by, kind, value)
     );",
    // 7: the sealed read index (`index.rs`): one row per entry key, its
    // value the entries' current state sealed, its key a keyed hash and
    // its order a number with gaps, so that a page of the timeline reads
    // a page of rows and nothing of an entry is in the clear.
    "CREATE TABLE read_index (
         key BLOB PRIMARY KEY,
         ord INTEGER NOT NULL,
         bytes BLOB NOT NULL
     );
     CREATE INDEX read_index_ord ON read_index (ord);",
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store was written by a newer duet (schema {found}, this one knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("the store was written by an older duet (schema {found}; this one uses {known}) and cannot be brought up to date here, because this home can only be read")]
    Outdated { found: i64, known: i64 },
    #[error("the store has changes not yet folded into it (store.sqlite-wal), which cannot be read while this home can only be read")]
    Unfolded,
    #[error("this home can only be read, so nothing can be changed in it (a read-only disk, or files this user may not change)")]
    /// (SQLite's own message says less than this one: it is kept for
    /// `Debug`, not told.)
    ReadOnly(rusqlite::Error),
    #[error("the store is not initialised")]
    NotInitialised,
    #[error("the store's {0} is corrupt")]
    Corrupt(&'static str),
    #[error("cannot create {0}: {1}")]
    Io(String, std::io::Error),
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    /// A write refused because the database can only be read is said as
    /// such, wherever it happens.
    fn from(e: rusqlite::Error) -> Self {
        if read_only::is_read_only(&e) {
            StoreError::ReadOnly(e)
        } else {
            StoreError::Sqlite(e)
        }
    }
}

/// One stored envelope.
#[derive(Clone, Debug)]
pub struct StoredEnvelope {
    /// Local arrival order; only meaningful on this device.
    pub pos: i64,
    pub author: DeviceId,
    pub seq: u64,
    /// The automerge change's hash; `None` when it was stored by a device
    /// that cannot open it (one without the journal key).
    pub hash: Option<[u8; 32]>,
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
        if version < 5 && known >= 5 {
            chain::backfill(&tx)?;
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

    /// Who removed `device` and when (device id text, ms), as recorded.
    pub fn removed_by(&self, device: &DeviceId) -> Result<Option<(String, i64)>, StoreError> {
        let row: Option<(Option<String>, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT by, at FROM removed WHERE device = ?1",
                [device.0.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.and_then(|(by, at)| Some((by?, at?))))
    }

    /// Records who removed `device` and when (the first removal told).
    pub fn note_remover(&self, device: &DeviceId, by: &str, at: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE removed SET by = ?2, at = ?3 WHERE device = ?1 AND by IS NULL",
            params![device.0.as_slice(), by, at],
        )?;
        Ok(())
    }

    /// True when `what` was told already (`Store::tell_once`), without
    /// marking it.
    pub fn was_told(&self, what: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM told WHERE what = ?1", [what], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// True the first time `what` is asked about: what this device has
    /// told its person once (a notice) is marked here.
    pub fn tell_once(&self, what: &str) -> Result<bool, StoreError> {
        let told = self
            .conn
            .query_row("SELECT 1 FROM told WHERE what = ?1", [what], |_| Ok(()))
            .optional()?
            .is_some();
        if told {
            return Ok(false);
        }
        let n = self
            .conn
            .execute("INSERT OR IGNORE INTO told (what) VALUES (?1)", [what])?;
        Ok(n > 0)
    }

    /// Removed devices, each with its cut: the last of its sequence
    /// numbers still accepted.
    pub fn removed(&self) -> Result<std::collections::HashMap<DeviceId, u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT device, cut FROM removed")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (device, cut) = row?;
            out.insert(device_from(device)?, cut.max(0) as u64);
        }
        Ok(out)
    }

    /// Records `device` as removed with `cut`; of two cuts, the later one
    /// stands (what either remover accepted stays accepted).
    pub fn remove_member(&self, device: &DeviceId, cut: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO removed (device, cut) VALUES (?1, ?2)
             ON CONFLICT (device) DO UPDATE SET cut = MAX(cut, excluded.cut)",
            params![device.0.as_slice(), cut as i64],
        )?;
        Ok(())
    }

    /// Records that `by` decided to remove `device` (a person's removal,
    /// not a follow-up). True if it was new.
    pub fn add_remover(&self, device: &DeviceId, by: &DeviceId) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO removers (device, by) VALUES (?1, ?2)",
            params![device.0.as_slice(), by.0.as_slice()],
        )?;
        Ok(n > 0)
    }

    /// Every device that decided to remove each removed device.
    pub fn removers(
        &self,
    ) -> Result<std::collections::HashMap<DeviceId, std::collections::HashSet<DeviceId>>, StoreError>
    {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT device, by FROM removers")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out: std::collections::HashMap<DeviceId, std::collections::HashSet<DeviceId>> =
            std::collections::HashMap::new();
        for row in rows {
            let (device, by) = row?;
            out.entry(device_from(device)?)
                .or_default()
                .insert(device_from(by)?);
        }
        Ok(out)
    }

    /// Records that the key epoch `key_id` is kept from `devices`. True
    /// if any was new.
    pub fn add_kept_from(&self, key_id: u32, devices: &[DeviceId]) -> Result<bool, StoreError> {
        let mut added = false;
        for device in devices {
            added |= self.conn.execute(
                "INSERT OR IGNORE INTO kept_from (key_id, device) VALUES (?1, ?2)",
                params![i64::from(key_id), device.0.as_slice()],
            )? > 0;
        }
        Ok(added)
    }

    /// The devices each key epoch is kept from, by key id.
    pub fn kept_from(
        &self,
    ) -> Result<std::collections::HashMap<u32, std::collections::HashSet<DeviceId>>, StoreError>
    {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key_id, device FROM kept_from")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out: std::collections::HashMap<u32, std::collections::HashSet<DeviceId>> =
            std::collections::HashMap::new();
        for row in rows {
            let (id, device) = row?;
            let Ok(id) = u32::try_from(id) else { continue };
            out.entry(id).or_default().insert(device_from(device)?);
        }
        Ok(out)
    }

    /// Keeps a verified device-list statement (`ledger/statements.rs`).
    /// True if it was new, or replaced other bytes for the same fact.
    pub fn add_statement(
        &self,
        statement: &crate::ledger::statements::Statement,
    ) -> Result<bool, StoreError> {
        use crate::ledger::statements::{Claim, Role};
        let (kind, value) = match statement.claim {
            Claim::Admit { role: Role::Device } => (1, 0),
            Claim::Admit { role: Role::Mirror } => (2, 0),
            Claim::Remove { cut } => (3, cut as i64),
        };
        let n = self.conn.execute(
            // A verified statement replaces one of the same fact whose
            // bytes differ (damaged on disk, or signed again).
            "INSERT INTO statements (device, by, kind, value, bytes)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (device, by, kind, value)
             DO UPDATE SET bytes = excluded.bytes WHERE bytes != excluded.bytes",
            params![
                statement.device.0.as_slice(),
                statement.by.0.as_slice(),
                kind,
                value,
                statement.encode()
            ],
        )?;
        Ok(n > 0)
    }

    /// Every device-list statement kept, encoded.
    pub fn statements(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM statements ORDER BY bytes")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// What `by` has stated of `device`: whether it admitted it, and the
    /// highest cut it stated, if any.
    pub fn stated_by(
        &self,
        device: &DeviceId,
        by: &DeviceId,
    ) -> Result<(bool, Option<u64>), StoreError> {
        let (admitted, cut): (i64, Option<i64>) = self.conn.query_row(
            "SELECT COUNT(*) FILTER (WHERE kind IN (1, 2)),
                    MAX(value) FILTER (WHERE kind = 3)
             FROM statements WHERE device = ?1 AND by = ?2",
            params![device.0.as_slice(), by.0.as_slice()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((admitted > 0, cut.map(|c| c.max(0) as u64)))
    }

    /// Keeps `envelope`, the signed change that recorded `device`'s
    /// removal, to show the removed device when it next calls.
    pub fn keep_removal_envelope(
        &self,
        device: &DeviceId,
        envelope: &[u8],
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE removed SET envelope = ?2 WHERE device = ?1 AND envelope IS NULL",
            params![device.0.as_slice(), envelope],
        )?;
        Ok(())
    }

    /// The signed change that recorded `device`'s removal, if kept.
    pub fn removal_envelope(&self, device: &DeviceId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT envelope FROM removed WHERE device = ?1",
                [device.0.as_slice()],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    pub fn add_member(&self, device: &DeviceId) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO members (device) VALUES (?1)",
            params![device.0.as_slice()],
        )?;
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

    /// Rebuilds every index from its table (`REINDEX`): what repairs a
    /// damaged index, the commonest damage SQLite reports.
    pub fn reindex(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("REINDEX")?;
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

pub(crate) fn device_from(bytes: Vec<u8>) -> Result<DeviceId, StoreError> {
    Ok(DeviceId(
        bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt("device id"))?,
    ))
}

#[cfg(test)]
mod tests;
