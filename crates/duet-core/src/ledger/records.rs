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
pub fn read(
    store: &Store,
    key: &JournalKey,
    name: &'static str,
) -> Result<Option<Vec<u8>>, RecordError> {
    store
        .record(name)?
        .map(|sealed| open(key, name, &sealed))
        .transpose()
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
