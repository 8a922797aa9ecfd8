//! The device list a member keeps: who each member device is (person,
//! name, who added it), sealed in the store so a device that does not
//! hold the journal document still knows it.
//!
//! Devices are only ever added to a journal, so every copy of the list is
//! a union: merging two never loses a device.

use crate::ids::DeviceId;
use crate::journal::{DeviceRecord, People};
use crate::keys::JournalKey;

use super::records::{self, RecordError, ROSTER};

/// The journal's devices, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roster {
    devices: Vec<DeviceRecord>,
}

impl Roster {
    pub fn new(devices: Vec<DeviceRecord>) -> Self {
        let mut roster = Self::default();
        roster.merge(devices);
        roster
    }

    /// Opens the list as [`Roster::seal`] sealed it.
    pub fn open(sealed: &[u8], key: &JournalKey) -> Result<Self, RecordError> {
        let json = records::open(key, ROSTER, sealed)?;
        let devices: Vec<DeviceRecord> =
            serde_json::from_slice(&json).map_err(|_| RecordError::Unreadable(ROSTER))?;
        Ok(Self::new(devices))
    }

    /// The list as JSON, encrypted to the journal key.
    pub fn seal(&self, key: &JournalKey) -> Result<Vec<u8>, RecordError> {
        let json =
            serde_json::to_vec(&self.devices).map_err(|_| RecordError::Unreadable(ROSTER))?;
        records::seal(key, ROSTER, &json)
    }

    pub fn devices(&self) -> &[DeviceRecord] {
        &self.devices
    }

    /// Adds the devices of `more` this list lacks; true if any was new.
    pub fn merge(&mut self, more: impl IntoIterator<Item = DeviceRecord>) -> bool {
        let mut added = false;
        for record in more {
            if !self.devices.iter().any(|d| d.id == record.id) {
                self.devices.push(record);
                added = true;
            }
        }
        if added {
            self.devices
                .sort_by(|a, b| a.added_at.cmp(&b.added_at).then_with(|| a.id.cmp(&b.id)));
        }
        added
    }

    /// True when every device of `other` is in this list.
    pub fn covers(&self, other: &Roster) -> bool {
        other
            .devices
            .iter()
            .all(|d| self.devices.iter().any(|x| x.id == d.id))
    }

    pub fn get(&self, device: &DeviceId) -> Option<&DeviceRecord> {
        let text = device.to_text();
        self.devices.iter().find(|d| d.id == text)
    }

    /// The person a device writes as.
    pub fn person_of(&self, device: &DeviceId) -> Option<&str> {
        self.get(device).map(|d| d.person.as_str())
    }

    /// The devices' public keys (records whose id does not parse are left
    /// out: they cannot sign anything).
    pub fn ids(&self) -> impl Iterator<Item = DeviceId> + '_ {
        self.devices
            .iter()
            .filter_map(|d| DeviceId::from_text(&d.id))
    }
}

impl People for Roster {
    fn person_of(&self, device: &DeviceId) -> Option<&str> {
        Roster::person_of(self, device)
    }

    fn is_person(&self, name: &str) -> bool {
        self.devices.iter().any(|d| d.person == name)
    }

    fn record(&self, device: &DeviceId) -> Option<&DeviceRecord> {
        self.get(device)
    }
}
