//! Keys: the device's signing key and the journal's age key, and how they
//! live on disk (one file each, mode 0600, in a 0700 home).

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use age::secrecy::ExposeSecret;
use data_encoding::BASE64;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use zeroize::Zeroizing;

use crate::ids::{random_bytes, DeviceId};

const DEVICE_KEY_HEADER: &str = "duet-device-key-v1";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a duet key file")]
    Malformed { path: String },
    #[error("{path} can be read by other users (mode {mode:o})")]
    TooOpen { path: String, mode: u32 },
}

/// The device's ed25519 signing key. Its public half is the [`DeviceId`].
/// The secret is zeroed on drop and never printed.
pub struct DeviceKey(SigningKey);

impl DeviceKey {
    pub fn generate() -> Self {
        let secret = Zeroizing::new(random_bytes::<32>());
        Self(SigningKey::from_bytes(&secret))
    }

    pub fn id(&self) -> DeviceId {
        DeviceId(self.0.verifying_key().to_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// The 32-byte secret seed, for the daemon to build its libp2p keypair
    /// from. Keep it in a `Zeroizing` buffer.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        let text = Zeroizing::new(format!(
            "{DEVICE_KEY_HEADER}\n{}\n",
            BASE64.encode(self.secret_bytes().as_ref())
        ));
        write_secret_file(path, text.as_bytes())
    }

    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = read_secret_file(path)?;
        let malformed = || KeyError::Malformed {
            path: path.display().to_string(),
        };
        let mut lines = text.lines();
        if lines.next() != Some(DEVICE_KEY_HEADER) {
            return Err(malformed());
        }
        let encoded = lines.next().ok_or_else(malformed)?;
        let bytes = Zeroizing::new(BASE64.decode(encoded.as_bytes()).map_err(|_| malformed())?);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.as_slice().try_into().map_err(|_| malformed())?);
        Ok(Self(SigningKey::from_bytes(&seed)))
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceKey({}, secret redacted)", self.id().short())
    }
}

/// Checks an ed25519 signature by `author` over `message`.
pub fn verify(author: &DeviceId, message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&author.0) else {
        return false;
    };
    key.verify(message, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

/// The journal's age X25519 identity, shared by every member device. All
/// journal content is encrypted to its recipient. The file uses age's own
/// format, so `age -d -i journal.key` works on anything duet wrote.
pub struct JournalKey(age::x25519::Identity);

impl JournalKey {
    pub fn generate() -> Self {
        Self(age::x25519::Identity::generate())
    }

    pub fn identity(&self) -> &age::x25519::Identity {
        &self.0
    }

    pub fn recipient(&self) -> age::x25519::Recipient {
        self.0.to_public()
    }

    /// The secret in age's text form, for pairing to carry inside a sealed
    /// channel. Keep it in the returned zeroizing buffer.
    pub fn to_secret_text(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.to_string().expose_secret().to_string())
    }

    pub fn from_secret_text(text: &str) -> Option<Self> {
        text.trim().parse().ok().map(Self)
    }

    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        let text = Zeroizing::new(format!("{}\n", self.to_secret_text().as_str()));
        write_secret_file(path, text.as_bytes())
    }

    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = read_secret_file(path)?;
        Self::from_secret_text(&text).ok_or_else(|| KeyError::Malformed {
            path: path.display().to_string(),
        })
    }
}

impl fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JournalKey(secret redacted)")
    }
}

/// Writes a new file readable by its owner only, and syncs it. Refuses to
/// overwrite: a key that exists is never replaced by accident.
fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let err = |source| KeyError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)
}

fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let err = |source| KeyError::Read {
        path: path.display().to_string(),
        source,
    };
    let mode = fs::metadata(path).map_err(err)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.display().to_string(),
            mode,
        });
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(err)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| KeyError::Malformed {
        path: path.display().to_string(),
    })?;
    Ok(Zeroizing::new(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_private_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let device = DeviceKey::generate();
        let journal = JournalKey::generate();
        device.write(&dir.path().join("device.key")).expect("write");
        journal
            .write(&dir.path().join("journal.key"))
            .expect("write");
        for name in ["device.key", "journal.key"] {
            let mode = fs::metadata(dir.path().join(name))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let device2 = DeviceKey::read(&dir.path().join("device.key")).expect("read");
        assert_eq!(device2.id(), device.id());
        let journal2 = JournalKey::read(&dir.path().join("journal.key")).expect("read");
        assert_eq!(
            journal2.recipient().to_string(),
            journal.recipient().to_string()
        );
        assert!(device.write(&dir.path().join("device.key")).is_err());
    }

    #[test]
    fn signatures_verify_only_for_their_author_and_message() {
        let a = DeviceKey::generate();
        let b = DeviceKey::generate();
        let sig = a.sign(b"hello");
        assert!(verify(&a.id(), b"hello", &sig));
        assert!(!verify(&a.id(), b"hellp", &sig));
        assert!(!verify(&b.id(), b"hello", &sig));
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let journal = JournalKey::generate();
        let secret = journal.to_secret_text();
        assert!(!format!("{journal:?}").contains(secret.as_str()));
        let device = DeviceKey::generate();
        assert!(!format!("{device:?}").contains(&BASE64.encode(device.secret_bytes().as_ref())));
    }
}
