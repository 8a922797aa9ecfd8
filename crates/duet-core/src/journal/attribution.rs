//! Entries are attributed to the person of the device that signed them.
//!
//! The `person` and `device` fields of an entry or a reply are written by
//! its author's device. A change signed by one member must not write them
//! as another: [`Schema::check_attribution`] refuses such a change before
//! it is applied or stored. The one place another device's person is
//! written legitimately is a device record, made by the member that paired
//! the new device.

use std::collections::HashMap;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Change, ScalarValue};

use super::{DeviceRecord, Journal, JournalError};
use crate::ids::DeviceId;

/// Where the journal's first change put its `devices` map: all that a
/// change's operations are checked against, so a device checks them
/// without holding the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    devices: ObjectId,
}

impl Journal {
    /// This journal's schema.
    pub fn schema(&self) -> Schema {
        let devices = match &self.devices {
            automerge::ObjId::Id(counter, actor, _) => ObjectId::Id(OpId(*counter, actor.clone())),
            automerge::ObjId::Root => ObjectId::Root,
        };
        Schema { devices }
    }
}

impl Schema {
    /// Checks that `change`, signed by `signer` (whose person is
    /// `signer_person` in the device list), writes `person` and `device`
    /// fields only as the signer (device records aside). Returns the
    /// device records the change makes.
    pub fn check_attribution(
        &self,
        change: &Change,
        signer: &DeviceId,
        signer_person: Option<&str>,
    ) -> Result<Vec<DeviceRecord>, JournalError> {
        let signer_text = signer.to_text();
        let expanded = change.decode();
        let start = expanded.start_op.get();
        let actor = expanded.actor_id.clone();
        let devices_map = &self.devices;
        // Maps this change creates, by id, with the object and key they are
        // made at.
        let mut made: HashMap<ObjectId, (ObjectId, Option<String>)> = HashMap::new();
        for (i, op) in expanded.operations.iter().enumerate() {
            if let OpType::Make(_) = op.action {
                let id = ObjectId::Id(OpId(start + i as u64, actor.clone()));
                let key = match &op.key {
                    Key::Map(key) => Some(key.to_string()),
                    Key::Seq(_) => None,
                };
                made.insert(id, (op.obj.clone(), key));
            }
        }
        let mut records: HashMap<ObjectId, DeviceRecord> = HashMap::new();
        for op in &expanded.operations {
            let Key::Map(key) = &op.key else {
                continue;
            };
            let in_device_record = made
                .get(&op.obj)
                .and_then(|(parent, id)| (parent == devices_map).then_some(id.as_ref()?));
            if let Some(id) = in_device_record {
                let record = records
                    .entry(op.obj.clone())
                    .or_insert_with(|| DeviceRecord {
                        id: id.clone(),
                        person: String::new(),
                        name: String::new(),
                        added_by: None,
                        added_at: 0,
                    });
                match (key.as_str(), &op.action) {
                    ("person", OpType::Put(ScalarValue::Str(v))) => record.person = v.to_string(),
                    ("name", OpType::Put(ScalarValue::Str(v))) => record.name = v.to_string(),
                    ("added_by", OpType::Put(ScalarValue::Str(v))) => {
                        record.added_by = Some(v.to_string())
                    }
                    ("added_at", OpType::Put(ScalarValue::Timestamp(t))) => record.added_at = *t,
                    _ => {}
                }
                continue;
            }
            let OpType::Put(ScalarValue::Str(value)) = &op.action else {
                continue;
            };
            let expected = match key.as_str() {
                "person" => signer_person,
                "device" => Some(signer_text.as_str()),
                _ => continue,
            };
            if expected != Some(value.as_str()) {
                return Err(JournalError::Misattributed {
                    field: if key.as_str() == "person" {
                        "person"
                    } else {
                        "device"
                    },
                });
            }
        }
        Ok(records.into_values().collect())
    }
}
