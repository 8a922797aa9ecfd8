//! Helpers the unit tests share: replicas in memory, paired the way
//! pairing pairs them.

use crate::journal::{DeviceRecord, NewEntry};
use crate::keys::{DeviceKey, JournalKey};
use crate::replica::Replica;
use crate::store::Store;

pub fn now() -> i64 {
    1_700_000_000_000
}

pub fn alex() -> Replica {
    let store = Store::open_in_memory().expect("store");
    Replica::create(
        store,
        DeviceKey::generate(),
        JournalKey::generate(),
        "Alex",
        "laptop",
        now(),
    )
    .expect("create")
}

/// Pairs a new device into `inviter`'s journal the way pairing will:
/// the inviter records the device, then hands over key and snapshot.
pub fn pair(inviter: &mut Replica, person: &str, name: &str) -> Replica {
    let device = DeviceKey::generate();
    let record = DeviceRecord {
        id: device.id().to_text(),
        person: person.into(),
        name: name.into(),
        added_by: Some(inviter.device_id().to_text()),
        added_at: now(),
        role: None,
    };
    inviter
        .commit(|j, _| Ok(((), j.add_device(&record)?)))
        .expect("record device");
    let snapshot = inviter.seal_current().expect("snapshot");
    let key = JournalKey::from_secret_text(&inviter.journal_key().to_secret_text()).expect("key");
    Replica::join(
        Store::open_in_memory().expect("store"),
        device,
        key,
        inviter.journal_id(),
        inviter.device_id(),
        &snapshot,
    )
    .expect("join")
}

pub fn add(r: &mut Replica, body: &str) -> String {
    r.commit(|j, a| {
        j.add_entry(
            a,
            NewEntry {
                body: body.into(),
                ..NewEntry::default()
            },
            now(),
        )
    })
    .expect("add")
}

/// Every envelope `r` holds, as a peer that has nothing would get them.
pub fn everything(r: &Replica) -> Vec<Vec<u8>> {
    r.store()
        .envelopes_after(0)
        .expect("envelopes")
        .into_iter()
        .map(|e| e.bytes)
        .collect()
}
