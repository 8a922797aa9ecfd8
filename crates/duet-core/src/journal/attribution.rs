//! Entries are attributed to the person of the device that signed them.
//!
//! The `person` and `device` fields of an entry or a reply are written by
//! its author's device. A change signed by one member must not write them
//! as another: [`Journal::check_attribution`] refuses such a change before
//! it is applied or stored. The one place another device's person is
//! written legitimately is a device record, made by the member that paired
//! the new device.

use std::collections::HashMap;

use automerge::legacy::{Key, ObjectId, OpId, OpType};
use automerge::{Change, ScalarValue};

use super::{Journal, JournalError};
use crate::ids::DeviceId;

impl Journal {
    /// Checks that `change`, signed by `signer`, writes `person` and
    /// `device` fields only as the signer (device records aside).
    pub fn check_attribution(
        &self,
        change: &Change,
        signer: &DeviceId,
    ) -> Result<(), JournalError> {
        let signer_text = signer.to_text();
        let signer_person = self
            .devices()
            .into_iter()
            .find(|d| d.id == signer_text)
            .map(|d| d.person);
        let expanded = change.decode();
        let start = expanded.start_op.get();
        let actor = expanded.actor_id.clone();
        let devices_map = match &self.devices {
            automerge::ObjId::Id(counter, actor, _) => ObjectId::Id(OpId(*counter, actor.clone())),
            automerge::ObjId::Root => ObjectId::Root,
        };
        // Maps this change creates, by id, with the object they are made in.
        let mut parent_of: HashMap<ObjectId, ObjectId> = HashMap::new();
        for (i, op) in expanded.operations.iter().enumerate() {
            if let OpType::Make(_) = op.action {
                let id = ObjectId::Id(OpId(start + i as u64, actor.clone()));
                parent_of.insert(id, op.obj.clone());
            }
        }
        for op in &expanded.operations {
            let (Key::Map(key), OpType::Put(ScalarValue::Str(value))) = (&op.key, &op.action)
            else {
                continue;
            };
            let expected = match key.as_str() {
                "person" => signer_person.as_deref(),
                "device" => Some(signer_text.as_str()),
                _ => continue,
            };
            let in_device_record = parent_of.get(&op.obj) == Some(&devices_map);
            if in_device_record {
                continue;
            }
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
        Ok(())
    }
}
