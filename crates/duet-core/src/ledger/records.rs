//! Records a member keeps beside the journal in the store's `meta` table,
//! age-encrypted to the journal key, so that no name is on disk in the
//! clear: the device list ([`ROSTER`], see `roster.rs`) and the journal's
//! first change ([`BASE`], which a writer drafts its changes on).

use crate::keys::{DeviceKey, JournalKey};
use crate::store::{Store, StoreError};

/// The device list, as JSON.
pub const ROSTER: &str = "roster";
/// The journal's first automerge change.
pub const BASE: &str = "base";
/// The key epochs after the first, sealed to this device's own key
/// (`keys::DeviceKey::age_identity`), not to the journal key.
pub const EPOCHS: &str = "epochs";
/// Present, in the clear, in a mirror's store (`docs/mirror.md`): the
/// home holds no journal key and runs as a mirror.
pub const MIRROR: &str = "mirror";

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store's sealed {0} record does not decrypt or parse")]
    Unreadable(&'static str),
    #[error("cannot seal the {0} record")]
    Seal(&'static str, #[source] age::EncryptError),
}

/// Decrypts record `name` as sealed by [`seal`].
pub fn open(key: &JournalKey, name: &'static str, sealed: &[u8]) -> Result<Vec<u8>, RecordError> {
    // Only age's binary format is valid here, never its ASCII armor.
    if !sealed.starts_with(b"age-encryption.org/") {
        return Err(RecordError::Unreadable(name));
    }
    key.decrypt_any(sealed).ok_or(RecordError::Unreadable(name))
}

/// Encrypts record `name` to the journal key.
pub fn seal(key: &JournalKey, name: &'static str, bytes: &[u8]) -> Result<Vec<u8>, RecordError> {
    age::encrypt(&key.recipient(), bytes).map_err(|e| RecordError::Seal(name, e))
}

/// Reads and decrypts record `name`; `None` when the store has none.
/// A record that no longer opens while the key opens the rest of the
/// store was damaged where it lies: it is set aside (`None`), and the
/// replica writes it again from the journal.
pub fn read(
    store: &Store,
    key: &JournalKey,
    name: &'static str,
) -> Result<Option<Vec<u8>>, RecordError> {
    let Some(sealed) = store.record(name)? else {
        return Ok(None);
    };
    match open(key, name, &sealed) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) => {
            set_aside_if_damaged(store, key, name, e)?;
            Ok(None)
        }
    }
}

/// Sets aside record `name`, which failed to open with `error`, when the
/// key opens what else the store holds; otherwise the key is the problem,
/// and the error stands.
pub fn set_aside_if_damaged(
    store: &Store,
    key: &JournalKey,
    name: &'static str,
    error: RecordError,
) -> Result<(), RecordError> {
    if !key_opens_store(store, key)? {
        return Err(error);
    }
    tracing::warn!(
        record = name,
        "set aside a stored record that is damaged; it is written again from the journal"
    );
    store.quarantine_record(name, crate::ledger::member::now_ms())?;
    Ok(())
}

/// True when `key` decrypts the stored snapshot or one of the first few
/// stored envelopes.
fn key_opens_store(store: &Store, key: &JournalKey) -> Result<bool, StoreError> {
    let opens = |bytes: &[u8]| {
        crate::envelope::decode(bytes)
            .ok()
            .is_some_and(|sealed| sealed.decrypt(key).is_ok())
    };
    if store.snapshot()?.is_some_and(|s| opens(&s.bytes)) {
        return Ok(true);
    }
    Ok(store
        .envelopes_after(0)?
        .iter()
        .take(8)
        .any(|e| opens(&e.bytes)))
}

/// Seals `bytes` and stores them as record `name`.
pub fn write(
    store: &Store,
    key: &JournalKey,
    name: &'static str,
    bytes: &[u8],
) -> Result<(), RecordError> {
    Ok(store.set_record(name, &seal(key, name, bytes)?)?)
}

/// Takes the key epochs this store keeps (sealed to `device`) into `key`;
/// true if any was new. A record that does not open with the device key
/// is left alone: the removal records in the journal carry the same keys.
pub fn read_epochs(
    store: &Store,
    device: &DeviceKey,
    key: &mut JournalKey,
) -> Result<bool, RecordError> {
    let Some(sealed) = store.record(EPOCHS)? else {
        return Ok(false);
    };
    let Some(epochs) = crate::keys::open_sealed_epochs(device, &sealed) else {
        tracing::warn!(
            "the store's record of key epochs does not open; they are taken again from the journal"
        );
        return Ok(false);
    };
    Ok(key.merge(&epochs))
}

/// Keeps `key`'s epochs after the first in the store, sealed to `device`.
pub fn write_epochs(
    store: &Store,
    device: &DeviceKey,
    key: &JournalKey,
) -> Result<(), RecordError> {
    let text = key.later_secret_text();
    if text.is_empty() {
        return Ok(());
    }
    let sealed = age::encrypt(&device.age_identity().to_public(), text.as_bytes())
        .map_err(|e| RecordError::Seal(EPOCHS, e))?;
    Ok(store.set_record(EPOCHS, &sealed)?)
}
