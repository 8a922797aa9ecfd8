//! What this device remembers of other devices: where they listen, when
//! they last synced, and which of them its person has been told about.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};

use super::{device_from, Store, StoreError};
use crate::ids::DeviceId;
use crate::vv::VersionVector;

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
    /// How far its clock was ahead of this device's (ms; behind when
    /// negative), last it said.
    pub clock_ahead: Option<i64>,
}

impl Store {
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

    /// Adds addresses another device reported for `device` after those
    /// already known (which this device found itself), at most 8 in all.
    pub fn learn_addrs(&self, device: &DeviceId, addrs: &[String]) -> Result<(), StoreError> {
        let mut known = self.peer(device)?.addrs;
        let before = known.len();
        for addr in addrs {
            if known.len() < 8 && !known.contains(addr) {
                known.push(addr.clone());
            }
        }
        if known.len() == before {
            return Ok(());
        }
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

    /// Raises what `device` was last seen holding by what it just sent: a
    /// snapshot covering `covers`, and `changes` (author, sequence). A
    /// vector holds contiguous sequences only, so a change raises its
    /// author only when it follows what is known. Counts as a sync.
    pub fn record_holds(
        &self,
        device: &DeviceId,
        at: i64,
        covers: &VersionVector,
        changes: &[(DeviceId, u64)],
    ) -> Result<(), StoreError> {
        let mut vector = self.peer(device)?.vector.unwrap_or_default();
        vector.merge(covers);
        let mut changes = changes.to_vec();
        changes.sort_unstable();
        for (author, seq) in changes {
            if vector.get(&author).checked_add(1) == Some(seq) {
                vector.set(author, seq);
            }
        }
        self.record_sync(device, at, &vector)
    }

    /// What is remembered of `device` (empty if nothing).
    pub fn peer(&self, device: &DeviceId) -> Result<PeerRecord, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT addrs, last_sync, vector, clock_ahead FROM peers WHERE device = ?1",
                [device.0.as_slice()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<Vec<u8>>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((addrs, last_sync, vector, clock_ahead)) = row else {
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
            clock_ahead,
        })
    }

    /// Records how far `device`'s clock is ahead of this one's.
    pub fn record_clock(&self, device: &DeviceId, ahead_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO peers (device, clock_ahead) VALUES (?1, ?2)
             ON CONFLICT (device) DO UPDATE SET clock_ahead = excluded.clock_ahead",
            params![device.0.as_slice(), ahead_ms],
        )?;
        Ok(())
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

    /// Notes that the change with this hash, dated ahead of this device's
    /// clock, arrived at `at`; the first arrival is kept.
    pub fn record_arrival(&self, hash: &[u8; 32], at: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO arrivals (hash, at) VALUES (?1, ?2)",
            rusqlite::params![hash.as_slice(), at],
        )?;
        Ok(())
    }

    /// Every arrival [`Store::record_arrival`] noted, by change hash.
    pub fn arrivals(&self) -> Result<std::collections::HashMap<[u8; 32], i64>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT hash, at FROM arrivals")?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get(1)?)))?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (hash, at) = row?;
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("arrivals"))?;
            out.insert(hash, at);
        }
        Ok(out)
    }
}
