//! The journal's public device list: signed statements that a device is a
//! member, or was removed with a cut, readable without the journal key.
//!
//! Members learn the device list from the sealed journal; a mirror
//! (`docs/mirror.md`) holds no key, so members also sign each fact of the
//! list as a statement of its own, and sync carries them to every device.
//! A statement names no person and no device name: only ids, who vouches,
//! when, and the role or the cut. A keyless device takes a statement when
//! its signer is a current member as far as it knows; a member keeps the
//! statements it can verify, to hand on, and goes on trusting only the
//! sealed list.

use sha2::{Digest, Sha256};

use crate::ids::{DeviceId, JournalId};
use crate::keys::{self, DeviceKey};

/// The first bytes of every statement (and of what its signature covers).
const MAGIC: &[u8; 8] = b"duet-ms1";
/// A statement's length: magic, journal, device, signer, time, kind,
/// value, signature.
pub const STATEMENT_LEN: usize = 8 + 16 + 32 + 32 + 8 + 1 + 8 + 64;
/// Most statements taken from one message.
pub const MAX_STATEMENTS: usize = 4096;

/// What a statement says of its device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Claim {
    /// A member: a device people write from, or a mirror (no key).
    Admit { role: Role },
    /// Removed; its envelopes numbered after `cut` are refused.
    Remove { cut: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Device,
    Mirror,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub journal: JournalId,
    pub device: DeviceId,
    /// The member that signed it.
    pub by: DeviceId,
    pub at: i64,
    pub claim: Claim,
    signature: [u8; 64],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatementError {
    #[error("a device-list statement has the wrong length or form")]
    Malformed,
    #[error("a device-list statement's signature does not verify")]
    BadSignature,
    #[error("a device-list statement belongs to another journal")]
    WrongJournal,
    #[error("a device-list statement is signed by a device that is not a current member")]
    NotAMember,
}

impl Statement {
    /// Signs `claim` about `device` as `key`'s device.
    pub fn sign(
        journal: JournalId,
        device: DeviceId,
        key: &DeviceKey,
        at: i64,
        claim: Claim,
    ) -> Self {
        let mut statement = Self {
            journal,
            device,
            by: key.id(),
            at,
            claim,
            signature: [0; 64],
        };
        statement.signature = key.sign(&statement.signed_part());
        statement
    }

    fn signed_part(&self) -> Vec<u8> {
        let (kind, value) = match self.claim {
            Claim::Admit { role: Role::Device } => (1u8, 0u64),
            Claim::Admit { role: Role::Mirror } => (2, 0),
            Claim::Remove { cut } => (3, cut),
        };
        let mut out = Vec::with_capacity(STATEMENT_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.journal.0);
        out.extend_from_slice(&self.device.0);
        out.extend_from_slice(&self.by.0);
        out.extend_from_slice(&self.at.to_be_bytes());
        out.push(kind);
        out.extend_from_slice(&value.to_be_bytes());
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_part();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses a statement and checks its signature (not its signer's
    /// membership: that is the holder's to judge).
    pub fn decode(bytes: &[u8]) -> Result<Self, StatementError> {
        if bytes.len() != STATEMENT_LEN || &bytes[..8] != MAGIC {
            return Err(StatementError::Malformed);
        }
        let id = |at: usize| {
            let mut out = [0u8; 32];
            out.copy_from_slice(&bytes[at..at + 32]);
            out
        };
        let mut journal = [0u8; 16];
        journal.copy_from_slice(&bytes[8..24]);
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&bytes[88..96]);
        let at = i64::from_be_bytes(eight);
        eight.copy_from_slice(&bytes[97..105]);
        let value = u64::from_be_bytes(eight);
        let claim = match bytes[96] {
            1 if value == 0 => Claim::Admit { role: Role::Device },
            2 if value == 0 => Claim::Admit { role: Role::Mirror },
            3 => Claim::Remove { cut: value },
            _ => return Err(StatementError::Malformed),
        };
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[105..]);
        let statement = Self {
            journal: JournalId(journal),
            device: DeviceId(id(24)),
            by: DeviceId(id(56)),
            at,
            claim,
            signature,
        };
        if !keys::verify(&statement.by, &bytes[..105], &signature) {
            return Err(StatementError::BadSignature);
        }
        Ok(statement)
    }
}

/// The digest of a set of encoded statements: equal sets, equal digests,
/// whatever the order.
pub fn digest(statements: &[Vec<u8>]) -> [u8; 32] {
    let mut sorted: Vec<&Vec<u8>> = statements.iter().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for s in sorted {
        hasher.update(s);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_round_trips_and_any_flipped_byte_is_refused() {
        let key = DeviceKey::generate();
        let journal = JournalId([7; 16]);
        let device = DeviceKey::generate().id();
        for claim in [
            Claim::Admit { role: Role::Device },
            Claim::Admit { role: Role::Mirror },
            Claim::Remove { cut: 42 },
        ] {
            let s = Statement::sign(journal, device, &key, 1_700_000_000_000, claim);
            let bytes = s.encode();
            assert_eq!(bytes.len(), STATEMENT_LEN);
            assert_eq!(Statement::decode(&bytes), Ok(s));
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 1;
                assert!(Statement::decode(&bad).is_err(), "byte {i}");
            }
        }
        assert_eq!(Statement::decode(&[0; 10]), Err(StatementError::Malformed));
    }

    #[test]
    fn the_digest_ignores_order() {
        let a = vec![vec![1, 2], vec![3]];
        let b = vec![vec![3], vec![1, 2]];
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&a[..1]));
    }
}
