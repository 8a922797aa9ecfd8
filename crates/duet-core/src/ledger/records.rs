//! Records a member keeps beside the journal in the store's `meta` table,
//! age-encrypted to the journal key, so that no name is on disk in the
//! clear: the device list ([`ROSTER`], see `roster.rs`) and the journal's
//! first change ([`BASE`], which a writer drafts its changes on).

use crate::keys::JournalKey;
use crate::store::{Store, StoreError};

/// The device list, as JSON.
pub const ROSTER: &str = "roster";
/// The journal's first automerge change.
pub const BASE: &str = "base";

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
    age::decrypt(key.identity(), sealed).map_err(|_| RecordError::Unreadable(name))
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
