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

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ScalarValue, Value};

use super::{read, Author, Commit, Journal, JournalError};
use crate::ids::DeviceId;

/// The key prefix of removal records in `devices`.
pub const REMOVED_PREFIX: &str = "removed:";
/// The most bytes of sealed keys one removal carries (an age stanza is
/// about 100 bytes per device that stays).
pub const MAX_REMOVAL_KEYS: usize = 64 * 1024;

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
}

impl Journal {
    /// Records that `device` is removed, as `author`, with `cut` and the
    /// new epoch's sealed `keys`.
    #[allow(clippy::too_many_arguments)]
    pub fn remove_device(
        &mut self,
        author: &Author,
        device: &DeviceId,
        cut: u64,
        (epoch, key_id): (u32, u32),
        keys: &[u8],
        now: i64,
    ) -> Result<Commit, JournalError> {
        let mut tx = self.doc.transaction();
        let key = format!("{REMOVED_PREFIX}{}", device.to_text());
        let obj = tx.put_object(&self.devices, key.as_str(), ObjType::Map)?;
        tx.put(&obj, "by", author.device.to_text())?;
        tx.put(&obj, "at", ScalarValue::Timestamp(now))?;
        tx.put(&obj, "cut", ScalarValue::Uint(cut))?;
        tx.put(&obj, "epoch", ScalarValue::Uint(u64::from(epoch)))?;
        tx.put(&obj, "key_id", ScalarValue::Uint(u64::from(key_id)))?;
        tx.put(&obj, "keys", ScalarValue::Bytes(keys.to_vec()))?;
        tx.commit();
        self.last_commit()
    }

    /// Every removal recorded, oldest first.
    pub fn removals(&self) -> Vec<Removal> {
        let mut out = Vec::new();
        for item in self.doc.map_range(&self.devices, ..) {
            let Some(device) = item.key.strip_prefix(REMOVED_PREFIX) else {
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
                let keys = match self.doc.get(&obj, "keys").ok().flatten() {
                    Some((Value::Scalar(v), _)) => match v.as_ref() {
                        ScalarValue::Bytes(b) => b.clone(),
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                out.push(Removal {
                    device: device.clone(),
                    by: read::get_str(&self.doc, &obj, "by").unwrap_or_default(),
                    at: read::get_i64(&self.doc, &obj, "at").unwrap_or(0),
                    cut: uint("cut").unwrap_or(0),
                    epoch: uint("epoch")
                        .and_then(|e| u32::try_from(e).ok())
                        .unwrap_or(0),
                    key_id: uint("key_id").and_then(|e| u32::try_from(e).ok()),
                    keys,
                });
            }
        }
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.device.cmp(&b.device)));
        out
    }
}
