//! Setting up the joined home from what pairing delivered: nothing is
//! written before the inviter's welcome, and what a failed set-up wrote
//! is removed again.

use duet_core::home::Home;
use duet_core::keys::{DeviceKey, JournalKey};
use duet_core::ledger::Ledger;
use duet_core::replica::Replica;
use duet_core::store::Store;
use duet_core::{DeviceId, JournalId};

use super::{JoinError, JoinRequest, Joined, Secret, SetupError};
use crate::protocol::Welcome;

/// Every address the joiner was told of for the inviting device.
fn inviter_addrs(welcome: &Welcome, request: &JoinRequest) -> Vec<String> {
    let mut addrs = welcome.inviter_addrs.clone();
    addrs.extend(request.addrs.iter().map(|a| a.to_string()));
    if let Secret::Uri(uri) = &request.secret {
        addrs.extend(uri.addrs.iter().map(|a| a.to_string()));
    }
    addrs
}

/// Sets up a mirror's home from what pairing delivered: the device key
/// and a store holding the signed device list and the sealed snapshot.
/// No journal key: a welcome that carries one is refused.
fn set_up_mirror(
    home: &Home,
    device: DeviceKey,
    welcome: &Welcome,
    journal_id: JournalId,
    inviter: DeviceId,
    request: &JoinRequest,
) -> Result<Joined, JoinError> {
    let bad = |what| JoinError::Setup(SetupError::Welcome(what));
    if !welcome.journal_key.is_empty() {
        return Err(bad("a mirror was sent a journal key"));
    }
    let snapshot = data_encoding::BASE64
        .decode(welcome.snapshot.as_bytes())
        .map_err(|_| bad("snapshot"))?;
    let statements = welcome
        .statements
        .iter()
        .map(|s| data_encoding::BASE64.decode(s.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("device list"))?;
    let device_id = device.id();
    let result = (|| -> Result<Joined, SetupError> {
        device.write(&home.device_key_path())?;
        let store = Store::open(&home.store_path())?;
        store.set_record(duet_core::ledger::records::MIRROR, b"mirror")?;
        let mut ledger = Ledger::create(store, journal_id, device_id, &[inviter])?;
        ledger.take_statements(&statements, true)?;
        if !ledger.is_current_member(&device_id) {
            return Err(SetupError::Welcome(
                "the device list does not name this mirror",
            ));
        }
        ledger.receive_sealed_snapshot(&snapshot)?;
        ledger
            .store()
            .remember_addrs(&inviter, &inviter_addrs(welcome, request))?;
        Ok(Joined {
            device_id,
            inviter,
            devices: Vec::new(),
        })
    })();
    result.map_err(|e| {
        remove_new_home(home);
        JoinError::Setup(e)
    })
}

/// Removes what a failed set-up wrote.
fn remove_new_home(home: &Home) {
    for path in [
        home.device_key_path(),
        home.journal_key_path(),
        home.store_path(),
    ] {
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_file(home.root().join("store.sqlite-wal"));
    let _ = std::fs::remove_file(home.root().join("store.sqlite-shm"));
}

/// Writes what pairing delivered. Nothing is on disk before this; if it
/// fails half way, what it wrote is removed again.
pub(super) fn set_up(
    home: &Home,
    device: DeviceKey,
    welcome: Welcome,
    request: &JoinRequest,
) -> Result<Joined, JoinError> {
    let bad = |what| JoinError::Setup(SetupError::Welcome(what));
    let journal_id = JournalId::from_text(&welcome.journal_id).ok_or(bad("journal id"))?;
    let inviter = DeviceId::from_text(&welcome.inviter).ok_or(bad("inviter id"))?;
    if request.mirror {
        return set_up_mirror(home, device, &welcome, journal_id, inviter, request);
    }
    let key = JournalKey::from_secret_text(&welcome.journal_key).ok_or(bad("journal key"))?;
    let snapshot = data_encoding::BASE64
        .decode(welcome.snapshot.as_bytes())
        .map_err(|_| bad("snapshot"))?;
    let device_id = device.id();
    let result = (|| -> Result<Joined, SetupError> {
        device.write(&home.device_key_path())?;
        key.write(&home.journal_key_path())?;
        let store = Store::open(&home.store_path())?;
        let replica = Replica::join(store, device, key, journal_id, inviter, &snapshot)?;
        replica
            .store()
            .remember_addrs(&inviter, &inviter_addrs(&welcome, request))?;
        Ok(Joined {
            device_id,
            inviter,
            devices: replica.devices().to_vec(),
        })
    })();
    result.map_err(|e| {
        remove_new_home(home);
        JoinError::Setup(e)
    })
}
