//! Removal records: a device taken out of the journal.
//!
//! A removal is a map in `devices`, at `removed:<device id>`, written by
//! the removing device's change: who removed it (`by`, the signer), when
//! (`at`), the cut (`cut`: the last of the removed device's sequence
//! numbers still accepted, what the remover held of it) and the new key
//! epoch (`epoch`, with `keys`: the epoch's secret, age-sealed to every
//! device that stays, `keys::device_recipient`). The change itself is
//! sealed to the epoch before, so the removed device can read that it
//! was removed, and nothing after. Two removals of one device that cross
//! are two maps at one key; both are read, and the later cut stands.
//!
//! Two more fields settle concurrency (`docs/protocol.md`, Concurrent
//! removals): `without`, every device the new epoch's key is kept from
//! (the removed one and every device already removed where it was
//! written), and `follows`, true on a record a device writes on its own
//! to follow removals it learned (raising a cut to what it already took
//! in, or starting an epoch no removed device holds) rather than a
//! person's decision.

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ScalarValue, Value};

use super::{read, Author, Commit, Journal, JournalError};
use crate::ids::DeviceId;

/// The key prefix of removal records in `devices`: `removed:<device id>`,
/// or, since records that follow removals, `removed:<device id>/<key id>`
/// (the new epoch's key id in hex), so that every record is a map of its
/// own and none replaces another.
pub const REMOVED_PREFIX: &str = "removed:";

/// The removed device's id (text) in a key of `devices`, if the key is a
/// removal record's.
pub fn removal_key_device(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(REMOVED_PREFIX)?;
    Some(rest.split_once('/').map_or(rest, |(device, _)| device))
}
/// The most bytes of sealed keys one removal carries (an age stanza is
/// about 100 bytes per device that stays).
pub const MAX_REMOVAL_KEYS: usize = 64 * 1024;
/// The most devices one removal's `without` names.
pub const MAX_REMOVAL_WITHOUT: usize = 1024;

/// One removal, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    /// The removed device's id (text).
    pub device: String,
    /// The device that removed it (text).
    pub by: String,
    pub at: i64,
    pub cut: u64,
    pub epoch: u32,
    /// The new epoch's key id (`keys::key_id`), so that a device that got
    /// the key another way knows its number.
    pub key_id: Option<u32>,
    /// The new epoch's key, sealed to every device that stays.
    pub keys: Vec<u8>,
    /// The devices the new epoch's key is kept from; empty in records
    /// written before the field, which kept it from `device` alone (see
    /// [`Removal::kept_from`]).
    pub without: Vec<DeviceId>,
    /// Written by a device following removals it learned, not by a
    /// person's decision: it never counts as removing the record's author
    /// (`Member::check`, counter-removals).
    pub follows: bool,
}

impl Removal {
    /// The key under which a person is told of this removal once
    /// (`Store::tell_once`).
    pub fn notice_key(&self) -> String {
        format!("removal:{}:{}", self.device, self.by)
    }
}

impl Removal {
    /// The devices this record's epoch key is kept from.
    pub fn kept_from(&self) -> Vec<DeviceId> {
        if self.without.is_empty() {
            DeviceId::from_text(&self.device).into_iter().collect()
        } else {
            self.without.clone()
        }
    }
}

/// What one removal record states beside its device and author.
pub struct RemovalRecord<'a> {
    /// The new epoch's number and key id.
    pub epoch: (u32, u32),
    /// The new epoch's key, sealed to every device that stays.
    pub keys: &'a [u8],
    /// Every device the new key is kept from.
    pub without: &'a [DeviceId],
    pub follows: bool,
    pub at: i64,
}

/// `without` as stored: device ids, 32 bytes each.
fn pack_devices(devices: &[DeviceId]) -> Vec<u8> {
    devices.iter().flat_map(|d| d.0).collect()
}

/// The device ids in a stored `without`; `None` if it is not whole ids.
pub(super) fn unpack_devices(bytes: &[u8]) -> Option<Vec<DeviceId>> {
    if !bytes.len().is_multiple_of(32) || bytes.len() / 32 > MAX_REMOVAL_WITHOUT {
        return None;
    }
    Some(
        bytes
            .chunks_exact(32)
            .map(|c| {
                let mut id = [0u8; 32];
                id.copy_from_slice(c);
                DeviceId(id)
            })
            .collect(),
    )
}

impl Journal {
    /// Records, as `author`, that each of `devices` is removed with its
    /// cut, every record carrying the same new epoch: one change.
    pub fn remove_devices(
        &mut self,
        author: &Author,
        devices: &[(DeviceId, u64)],
        record: &RemovalRecord<'_>,
    ) -> Result<Commit, JournalError> {
        let mut tx = self.doc.transaction();
        for (device, cut) in devices {
            let key = format!(
                "{REMOVED_PREFIX}{}/{:08x}",
                device.to_text(),
                record.epoch.1
            );
            let obj = tx.put_object(&self.devices, key.as_str(), ObjType::Map)?;
            tx.put(&obj, "by", author.device.to_text())?;
            tx.put(&obj, "at", ScalarValue::Timestamp(record.at))?;
            tx.put(&obj, "cut", ScalarValue::Uint(*cut))?;
            tx.put(&obj, "epoch", ScalarValue::Uint(u64::from(record.epoch.0)))?;
            tx.put(&obj, "key_id", ScalarValue::Uint(u64::from(record.epoch.1)))?;
            tx.put(&obj, "keys", ScalarValue::Bytes(record.keys.to_vec()))?;
            tx.put(
                &obj,
                "without",
                ScalarValue::Bytes(pack_devices(record.without)),
            )?;
            if record.follows {
                tx.put(&obj, "follows", true)?;
            }
        }
        tx.commit();
        self.last_commit()
    }

    /// Every removal recorded, oldest first.
    pub fn removals(&self) -> Vec<Removal> {
        let mut out = Vec::new();
        for item in self.doc.map_range(&self.devices, ..) {
            let Some(device) = removal_key_device(&item.key) else {
                continue;
            };
            let device = device.to_string();
            for obj in read::maps_at(&self.doc, &self.devices, &item) {
                let uint = |key: &str| match self.doc.get(&obj, key).ok().flatten() {
                    Some((Value::Scalar(v), _)) => match v.as_ref() {
                        ScalarValue::Uint(n) => Some(*n),
                        ScalarValue::Int(n) => u64::try_from(*n).ok(),
                        _ => None,
                    },
                    _ => None,
                };
                let bytes = |key: &str| match self.doc.get(&obj, key).ok().flatten() {
                    Some((Value::Scalar(v), _)) => match v.as_ref() {
                        ScalarValue::Bytes(b) => b.clone(),
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                let follows = matches!(
                    self.doc.get(&obj, "follows").ok().flatten(),
                    Some((Value::Scalar(v), _)) if matches!(v.as_ref(), ScalarValue::Boolean(true))
                );
                out.push(Removal {
                    device: device.clone(),
                    by: read::get_str(&self.doc, &obj, "by").unwrap_or_default(),
                    at: read::get_i64(&self.doc, &obj, "at").unwrap_or(0),
                    cut: uint("cut").unwrap_or(0),
                    epoch: uint("epoch")
                        .and_then(|e| u32::try_from(e).ok())
                        .unwrap_or(0),
                    key_id: uint("key_id").and_then(|e| u32::try_from(e).ok()),
                    keys: bytes("keys"),
                    without: unpack_devices(&bytes("without")).unwrap_or_default(),
                    follows,
                });
            }
        }
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.device.cmp(&b.device)));
        out
    }
}
