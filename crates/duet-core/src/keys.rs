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

    /// This device's own age identity: its ed25519 key taken to X25519
    /// (the map libsodium's `crypto_sign_ed25519_sk_to_curve25519` and
    /// age's own ssh-ed25519 recipients use). Whoever knows the device id
    /// can seal to it ([`device_recipient`]); only this device opens.
    pub fn age_identity(&self) -> age::x25519::Identity {
        let scalar = Zeroizing::new(self.0.to_scalar_bytes());
        let encoded = Zeroizing::new(
            bech32::encode::<bech32::Bech32>(AGE_SECRET_HRP, scalar.as_ref())
                .unwrap_or_default()
                .to_uppercase(),
        );
        match encoded.parse() {
            Ok(identity) => identity,
            // A 32-byte secret always encodes; this is never reached.
            Err(_) => age::x25519::Identity::generate(),
        }
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

const AGE_SECRET_HRP: bech32::Hrp = bech32::Hrp::parse_unchecked("age-secret-key-");
const AGE_PUBLIC_HRP: bech32::Hrp = bech32::Hrp::parse_unchecked("age");

/// The age recipient of device `id` ([`DeviceKey::age_identity`]'s
/// public half), or `None` for bytes that are not an ed25519 key.
pub fn device_recipient(id: &DeviceId) -> Option<age::x25519::Recipient> {
    let key = VerifyingKey::from_bytes(&id.0).ok()?;
    let point = key.to_montgomery().to_bytes();
    bech32::encode::<bech32::Bech32>(AGE_PUBLIC_HRP, &point)
        .ok()?
        .parse()
        .ok()
}

/// Checks an ed25519 signature by `author` over `message`.
pub fn verify(author: &DeviceId, message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&author.0) else {
        return false;
    };
    key.verify(message, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

/// The journal's age X25519 identities, shared by every member device: one
/// per key epoch. Epoch 0 is the key the journal started with; removing a
/// device starts a new epoch with a fresh key, which the devices that stay
/// receive (`docs/protocol.md`, Key epochs). New content is sealed to the
/// newest epoch; older ones stay, to read history. The file uses age's own
/// identity format (each later epoch after a `# duet epoch N` comment), so
/// `age -d -i journal.key` works on anything duet wrote.
pub struct JournalKey {
    /// Sorted by (number, id); never empty.
    epochs: Vec<Epoch>,
    /// The key id new content is sealed to, when not the newest epoch's:
    /// a member chooses the newest epoch no removed device holds
    /// (`Member::choose_sealing`).
    sealing: Option<u32>,
}

struct Epoch {
    number: u32,
    id: u32,
    identity: age::x25519::Identity,
}

/// An epoch's key id: the first four bytes of SHA-256 over its recipient.
/// Envelopes of epochs after the first name it in their header.
pub fn key_id(recipient: &age::x25519::Recipient) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(recipient.to_string().as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

impl JournalKey {
    pub fn generate() -> Self {
        Self::single(0, age::x25519::Identity::generate())
    }

    /// A fresh key for epoch `number` alone (what a removal starts).
    pub fn new_epoch(number: u32) -> Self {
        Self::single(number, age::x25519::Identity::generate())
    }

    fn single(number: u32, identity: age::x25519::Identity) -> Self {
        let id = key_id(&identity.to_public());
        Self {
            epochs: vec![Epoch {
                number,
                id,
                identity,
            }],
            sealing: None,
        }
    }

    fn newest(&self) -> &Epoch {
        // Never empty: every constructor makes at least one.
        &self.epochs[self.epochs.len() - 1]
    }

    /// The newest epoch's identity.
    pub fn identity(&self) -> &age::x25519::Identity {
        &self.newest().identity
    }

    /// The epoch new content is sealed to: the chosen one, else the
    /// newest.
    fn sealing_epoch(&self) -> &Epoch {
        self.sealing
            .and_then(|id| self.epochs.iter().find(|e| e.id == id))
            .unwrap_or_else(|| self.newest())
    }

    /// The recipient new content is sealed to.
    pub fn recipient(&self) -> age::x25519::Recipient {
        self.sealing_epoch().identity.to_public()
    }

    /// The number and key id of the epoch new content is sealed to.
    pub fn epoch(&self) -> (u32, u32) {
        let e = self.sealing_epoch();
        (e.number, e.id)
    }

    /// Every epoch's number and key id, oldest first.
    pub fn epoch_ids(&self) -> Vec<(u32, u32)> {
        self.epochs.iter().map(|e| (e.number, e.id)).collect()
    }

    /// Seals new content to the epoch `id` from now on (`None`: the
    /// newest).
    pub fn seal_with(&mut self, id: Option<u32>) {
        self.sealing = id;
    }

    /// The identity of the epoch whose key id is `id`; `None` names the
    /// first epoch (envelopes from before epochs name none).
    pub fn identity_for(&self, id: Option<u32>) -> Option<&age::x25519::Identity> {
        match id {
            None => self.epochs.iter().find(|e| e.number == 0),
            Some(id) => self.epochs.iter().find(|e| e.id == id),
        }
        .map(|e| &e.identity)
    }

    /// Decrypts age `ciphertext` with whichever epoch's key it was sealed
    /// to (records beside the journal name no epoch).
    pub fn decrypt_any(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        self.epochs
            .iter()
            .rev()
            .find_map(|e| age::decrypt(&e.identity, ciphertext).ok())
    }

    /// Every epoch's number, newest last.
    pub fn epochs(&self) -> Vec<u32> {
        self.epochs.iter().map(|e| e.number).collect()
    }

    /// Takes in epoch `number` with `identity`; true if it was new.
    pub fn add(&mut self, number: u32, identity: age::x25519::Identity) -> bool {
        let id = key_id(&identity.to_public());
        if self.epochs.iter().any(|e| e.id == id) {
            return false;
        }
        self.epochs.push(Epoch {
            number,
            id,
            identity,
        });
        self.epochs.sort_by_key(|e| (e.number, e.id));
        true
    }

    /// Takes in every epoch `other` holds; true if any was new.
    pub fn merge(&mut self, other: &JournalKey) -> bool {
        let mut added = false;
        for e in &other.epochs {
            added |= self.add(e.number, e.identity.clone());
        }
        added
    }

    /// Takes in the epochs of `other` whose key ids are in `ids`; returns
    /// the ids taken.
    pub fn merge_only(&mut self, other: &JournalKey, ids: &[u32]) -> Vec<u32> {
        let mut taken = Vec::new();
        for e in other.epochs.iter().filter(|e| ids.contains(&e.id)) {
            if self.add(e.number, e.identity.clone()) {
                taken.push(e.id);
            }
        }
        taken
    }

    /// Gives epoch `id` the number a removal record states for it (what a
    /// device that handed the key over said may be wrong).
    pub fn set_number(&mut self, id: u32, number: u32) -> bool {
        let Some(epoch) = self.epochs.iter_mut().find(|e| e.id == id) else {
            return false;
        };
        if epoch.number == number {
            return false;
        }
        epoch.number = number;
        self.epochs.sort_by_key(|e| (e.number, e.id));
        true
    }

    /// The secrets in age's identity-file form, every epoch, for pairing
    /// to carry inside a sealed channel. Keep it in the returned
    /// zeroizing buffer.
    pub fn to_secret_text(&self) -> Zeroizing<String> {
        self.text_of(|_| true)
    }

    /// The epochs after the first, in the same form (what the store keeps
    /// sealed to the device's own key).
    pub fn later_secret_text(&self) -> Zeroizing<String> {
        self.text_of(|e| e.number > 0)
    }

    fn text_of(&self, keep: impl Fn(&Epoch) -> bool) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for e in self.epochs.iter().filter(|e| keep(e)) {
            if e.number > 0 {
                out.push_str(&format!("# duet epoch {}\n", e.number));
            }
            out.push_str(e.identity.to_string().expose_secret());
            out.push('\n');
        }
        out
    }

    /// Parses [`JournalKey::to_secret_text`] (or one bare key).
    pub fn from_secret_text(text: &str) -> Option<Self> {
        let mut epochs: Option<Self> = None;
        let mut number = 0;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# duet epoch ") {
                number = rest.trim().parse().ok()?;
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let identity: age::x25519::Identity = line.parse().ok()?;
            match &mut epochs {
                None => epochs = Some(Self::single(number, identity)),
                Some(key) => {
                    key.add(number, identity);
                }
            }
            number = 0;
        }
        epochs
    }

    pub fn write(&self, path: &Path) -> Result<(), KeyError> {
        write_secret_file(path, self.to_secret_text().as_bytes())
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
        write!(
            f,
            "JournalKey({} epoch(s), secrets redacted)",
            self.epochs.len()
        )
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

/// Seals `secret` to every one of `recipients` (one age file, a stanza
/// each); `None` when there is no recipient.
pub fn seal_to_devices(recipients: &[age::x25519::Recipient], secret: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    if recipients.is_empty() {
        return None;
    }
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .ok()?;
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).ok()?;
    writer.write_all(secret).ok()?;
    writer.finish().ok()?;
    Some(out)
}

/// Opens key epochs sealed to `device` ([`seal_to_devices`] of a
/// [`JournalKey::to_secret_text`]); `None` when they are not sealed to it
/// or do not parse.
pub fn open_sealed_epochs(device: &DeviceKey, sealed: &[u8]) -> Option<JournalKey> {
    let text = Zeroizing::new(age::decrypt(&device.age_identity(), sealed).ok()?);
    JournalKey::from_secret_text(std::str::from_utf8(&text).ok()?)
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
    fn a_device_opens_what_is_sealed_to_its_id() {
        let device = DeviceKey::generate();
        let recipient = device_recipient(&device.id()).expect("recipient");
        assert_eq!(
            recipient.to_string(),
            device.age_identity().to_public().to_string()
        );
        let sealed = age::encrypt(&recipient, b"epoch key").expect("seal");
        assert_eq!(
            age::decrypt(&device.age_identity(), &sealed).expect("open"),
            b"epoch key"
        );
        let other = DeviceKey::generate();
        assert!(age::decrypt(&other.age_identity(), &sealed).is_err());
    }

    #[test]
    fn journal_keys_keep_every_epoch_and_seal_to_the_newest() {
        let mut key = JournalKey::generate();
        let first = key.recipient();
        let later = age::x25519::Identity::generate();
        assert!(key.add(1, later.clone()));
        assert!(!key.add(1, later.clone()));
        assert_eq!(key.recipient().to_string(), later.to_public().to_string());
        assert_eq!(key.epoch(), (1, key_id(&later.to_public())));
        let old = age::encrypt(&first, b"history").expect("seal");
        assert_eq!(key.decrypt_any(&old).expect("open"), b"history");
        let text = key.to_secret_text();
        let back = JournalKey::from_secret_text(&text).expect("parse");
        assert_eq!(back.epochs(), vec![0, 1]);
        assert_eq!(back.recipient().to_string(), later.to_public().to_string());
        assert!(!key.later_secret_text().contains(&first.to_string()));
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
