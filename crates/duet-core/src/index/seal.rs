//! The read index's keys: derived from this device's secret key, never
//! stored, and the same across journal key epochs.
//!
//! HKDF-SHA256 over the device's ed25519 secret, salted with the journal
//! id, gives two keys: one seals rows and state with XChaCha20-Poly1305
//! (a random 24-byte nonce per seal, so nonces never repeat in practice),
//! the other names rows by HMAC-SHA256 of their entry key. Each sealed
//! value is bound to its row key as associated data, so a row moved to
//! another key does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ids::JournalId;
use crate::keys::DeviceKey;

const NONCE_LEN: usize = 24;

pub(super) struct Keys {
    seal: Zeroizing<[u8; 32]>,
    name: Zeroizing<[u8; 32]>,
}

impl Keys {
    pub(super) fn derive(device: &DeviceKey, journal: &JournalId) -> Self {
        let secret = device.secret_bytes();
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&journal.0), secret.as_slice());
        let mut seal = Zeroizing::new([0u8; 32]);
        let mut name = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit of 8160: expand cannot fail.
        let _ = hk.expand(b"duet read index: seal", seal.as_mut_slice());
        let _ = hk.expand(b"duet read index: row names", name.as_mut_slice());
        Self { seal, name }
    }

    /// The name of the row holding the entry key `entry_key`.
    pub(super) fn row_key(&self, entry_key: &str) -> Vec<u8> {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.name.as_slice()) else {
            // HMAC takes a key of any length; this is never reached.
            return Vec::new();
        };
        mac.update(entry_key.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub(super) fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(self.seal.as_slice().into());
        let nonce = crate::ids::random_bytes::<NONCE_LEN>();
        let mut out = nonce.to_vec();
        // Encryption fails only for a message beyond 256 GiB.
        if let Ok(ct) = cipher.encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad }) {
            out.extend_from_slice(&ct);
        }
        out
    }

    /// The plaintext of `sealed`, or `None` when it is damaged, was sealed
    /// under another key, or belongs to another row.
    pub(super) fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new(self.seal.as_slice().into());
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
            .map(Zeroizing::new)
    }
}
