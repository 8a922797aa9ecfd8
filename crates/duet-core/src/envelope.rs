//! Sealed envelopes and sealed snapshots: the only form in which journal
//! content is stored or leaves a device.
//!
//! Both share one layout (all integers big endian; `docs/protocol.md` has
//! the table):
//!
//! ```text
//! magic "DUET" | version 2 or 3 | kind | journal id (16) | author (32)
//! | kind body: change → seq (u64), link (32); snapshot → version vector
//! | version 3 only: key id (u32)
//! | ciphertext length (u32) | age ciphertext | ed25519 signature (64)
//! ```
//!
//! Version 3 names the key epoch the payload is sealed to (after a device
//! was removed, `keys::JournalKey`); version 2, which names none, is
//! sealed to the journal's first key, and is still what duet writes until
//! a journal's first removal, so older peers read it.
//!
//! The signature covers every byte before it. A receiver decodes the
//! header, checks the journal id, checks the author against its membership,
//! verifies the signature, and only then decrypts.
//!
//! A change envelope's `link` chains it to every earlier change of its
//! author ([`next_link`]): signing envelope `n` signs the hashes of the
//! author's changes 1 to `n`, so a snapshot proves which of them it holds
//! with one envelope per author (`ledger/proofs.rs`).

use crate::ids::{DeviceId, JournalId};
use crate::keys::{verify, DeviceKey, JournalKey};
use crate::vv::VersionVector;

pub const MAGIC: [u8; 4] = *b"DUET";
pub const FORMAT_VERSION: u8 = 2;
/// The format that names its key epoch.
pub const FORMAT_WITH_EPOCH: u8 = 3;
/// Largest change envelope accepted: a generous entry with its replies is
/// a few kilobytes; anything near this is not a journal entry.
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;
/// Largest snapshot accepted. A 40,000-entry journal (ten years of a
/// couple writing daily) compacts to about 7 MB; this leaves room for some
/// 60,000 entries, and keeps a snapshot and a push inside one 16 MiB sync
/// message. A larger journal needs snapshots sent in parts.
pub const MAX_SNAPSHOT_BYTES: usize = 11 << 20;

const PREFIX_LEN: usize = 4 + 1 + 1 + 16 + 32;
const SIGNATURE_LEN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// One automerge change, the unit of a local commit.
    Change = 1,
    /// A whole automerge document (`save()`), covering a version vector.
    Snapshot = 2,
}

/// Every way bytes can fail to be a valid envelope for this journal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("envelope is truncated")]
    Truncated,
    #[error("not a duet envelope (bad magic)")]
    BadMagic,
    #[error("envelope format version {0} is not supported; update duet")]
    UnsupportedVersion(u8),
    #[error("unknown envelope kind {0}")]
    UnknownKind(u8),
    #[error("expected a {expected:?} envelope, got {got:?}")]
    WrongKind { expected: Kind, got: Kind },
    #[error("envelope is {len} bytes, over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("envelope has {0} bytes after its signature")]
    TrailingBytes(usize),
    #[error("envelope header is malformed: {0}")]
    MalformedHeader(&'static str),
    #[error("envelope belongs to another journal")]
    WrongJournal,
    #[error("envelope author {} is not a member of this journal", .0.short())]
    UnknownAuthor(DeviceId),
    #[error("envelope signature does not verify (tampered or forged)")]
    BadSignature,
    #[error("envelope payload cannot be decrypted with the journal key")]
    Undecryptable,
    #[error("envelope is sealed to a key epoch this device does not hold")]
    UnknownEpoch(u32),
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("payload of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("age encryption failed: {0}")]
    Encrypt(#[from] age::EncryptError),
}

/// The kind-specific part of the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// The author's `seq`-th change; `link` is [`next_link`] over the
    /// author's previous link and this change's hash.
    Change {
        seq: u64,
        link: [u8; 32],
    },
    Snapshot {
        covers: VersionVector,
    },
}

/// A decoded but not yet verified envelope. Borrowed from the input bytes.
#[derive(Debug)]
pub struct Sealed<'a> {
    pub journal: JournalId,
    pub author: DeviceId,
    pub body: Body,
    /// The key epoch's id (version 3); `None`: the journal's first key.
    pub key_id: Option<u32>,
    signed: &'a [u8],
    ciphertext: &'a [u8],
    signature: [u8; 64],
}

impl Sealed<'_> {
    pub fn kind(&self) -> Kind {
        match self.body {
            Body::Change { .. } => Kind::Change,
            Body::Snapshot { .. } => Kind::Snapshot,
        }
    }

    /// Checks journal, membership and signature, in that order.
    pub fn verify(
        &self,
        journal: &JournalId,
        is_member: impl Fn(&DeviceId) -> bool,
    ) -> Result<(), OpenError> {
        if &self.journal != journal {
            return Err(OpenError::WrongJournal);
        }
        if !is_member(&self.author) {
            return Err(OpenError::UnknownAuthor(self.author));
        }
        if !verify(&self.author, self.signed, &self.signature) {
            return Err(OpenError::BadSignature);
        }
        Ok(())
    }

    /// Decrypts the payload. Call only after [`Sealed::verify`].
    pub fn decrypt(&self, key: &JournalKey) -> Result<Vec<u8>, OpenError> {
        // Only age's binary format is valid here, never its ASCII armor.
        if !self.ciphertext.starts_with(b"age-encryption.org/") {
            return Err(OpenError::Undecryptable);
        }
        let identity = key
            .identity_for(self.key_id)
            .ok_or(OpenError::UnknownEpoch(self.key_id.unwrap_or(0)))?;
        age::decrypt(identity, self.ciphertext).map_err(|_| OpenError::Undecryptable)
    }
}

/// Parses the framing of `bytes` without any cryptography. Never panics.
pub fn decode(bytes: &[u8]) -> Result<Sealed<'_>, OpenError> {
    if bytes.len() >= 6 && bytes[..4] == MAGIC {
        let max = match bytes[5] {
            2 => MAX_SNAPSHOT_BYTES,
            _ => MAX_ENVELOPE_BYTES,
        };
        if bytes.len() > max {
            return Err(OpenError::TooLarge {
                len: bytes.len(),
                max,
            });
        }
    }
    let (prefix, rest) = bytes.split_first_chunk::<PREFIX_LEN>().ok_or(
        if bytes.len() >= 4 && bytes[..4] != MAGIC {
            OpenError::BadMagic
        } else {
            OpenError::Truncated
        },
    )?;
    if prefix[..4] != MAGIC {
        return Err(OpenError::BadMagic);
    }
    let version = prefix[4];
    if version != FORMAT_VERSION && version != FORMAT_WITH_EPOCH {
        return Err(OpenError::UnsupportedVersion(version));
    }
    let journal = JournalId(prefix[6..22].try_into().map_err(|_| OpenError::Truncated)?);
    let author = DeviceId(
        prefix[22..54]
            .try_into()
            .map_err(|_| OpenError::Truncated)?,
    );
    let (body, rest) = match prefix[5] {
        1 => {
            let (seq, rest) = rest.split_first_chunk::<8>().ok_or(OpenError::Truncated)?;
            let seq = u64::from_be_bytes(*seq);
            if seq == 0 {
                return Err(OpenError::MalformedHeader("sequence number 0"));
            }
            let (link, rest) = rest.split_first_chunk::<32>().ok_or(OpenError::Truncated)?;
            (Body::Change { seq, link: *link }, rest)
        }
        2 => {
            let (covers, rest) = VersionVector::decode(rest).ok_or(OpenError::Truncated)?;
            (Body::Snapshot { covers }, rest)
        }
        other => return Err(OpenError::UnknownKind(other)),
    };
    let (key_id, rest) = if version == FORMAT_WITH_EPOCH {
        let (id, rest) = rest.split_first_chunk::<4>().ok_or(OpenError::Truncated)?;
        (Some(u32::from_be_bytes(*id)), rest)
    } else {
        (None, rest)
    };
    let (len, rest) = rest.split_first_chunk::<4>().ok_or(OpenError::Truncated)?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len.saturating_add(SIGNATURE_LEN) {
        return Err(OpenError::Truncated);
    }
    let (ciphertext, rest) = rest.split_at(len);
    let (signature, trailing) = rest
        .split_first_chunk::<SIGNATURE_LEN>()
        .ok_or(OpenError::Truncated)?;
    if !trailing.is_empty() {
        return Err(OpenError::TrailingBytes(trailing.len()));
    }
    let signed_len = bytes.len() - SIGNATURE_LEN;
    Ok(Sealed {
        journal,
        author,
        body,
        key_id,
        signed: &bytes[..signed_len],
        ciphertext,
        signature: *signature,
    })
}

/// The link before an author's first change.
pub const FIRST_LINK: [u8; 32] = [0; 32];

/// The link of an author's change number `seq`, whose automerge hash is
/// `hash`, after the link `prev` of its change `seq - 1`.
pub fn next_link(prev: &[u8; 32], seq: u64, hash: &[u8; 32]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"duet link v1");
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(hash);
    h.finalize().into()
}

/// Decodes, verifies and decrypts in one call, expecting `kind`.
pub fn open<'a>(
    bytes: &'a [u8],
    kind: Kind,
    journal: &JournalId,
    is_member: impl Fn(&DeviceId) -> bool,
    key: &JournalKey,
) -> Result<(Sealed<'a>, Vec<u8>), OpenError> {
    let sealed = decode(bytes)?;
    if sealed.kind() != kind {
        return Err(OpenError::WrongKind {
            expected: kind,
            got: sealed.kind(),
        });
    }
    sealed.verify(journal, is_member)?;
    let plaintext = sealed.decrypt(key)?;
    Ok((sealed, plaintext))
}

/// Encrypts `payload` to the journal's newest key epoch and signs the
/// result as `author`: version 2 while the journal has its first key,
/// version 3, naming the epoch, after.
pub fn seal_to(
    journal: &JournalId,
    author: &DeviceKey,
    body: &Body,
    key: &JournalKey,
    payload: &[u8],
) -> Result<Vec<u8>, SealError> {
    let (number, id) = key.epoch();
    let key_id = (number > 0).then_some(id);
    seal_as(journal, author, body, key_id, &key.recipient(), payload)
}

/// Encrypts `payload` to `recipient` (the journal's first key) and signs
/// the result as `author`, in version 2.
pub fn seal(
    journal: &JournalId,
    author: &DeviceKey,
    body: &Body,
    recipient: &age::x25519::Recipient,
    payload: &[u8],
) -> Result<Vec<u8>, SealError> {
    seal_as(journal, author, body, None, recipient, payload)
}

fn seal_as(
    journal: &JournalId,
    author: &DeviceKey,
    body: &Body,
    key_id: Option<u32>,
    recipient: &age::x25519::Recipient,
    payload: &[u8],
) -> Result<Vec<u8>, SealError> {
    let max = match body {
        Body::Change { .. } => MAX_ENVELOPE_BYTES,
        Body::Snapshot { .. } => MAX_SNAPSHOT_BYTES,
    };
    let ciphertext = age::encrypt(recipient, payload)?;
    let mut out = Vec::with_capacity(ciphertext.len() + 256);
    out.extend_from_slice(&MAGIC);
    out.push(if key_id.is_some() {
        FORMAT_WITH_EPOCH
    } else {
        FORMAT_VERSION
    });
    match body {
        Body::Change { seq, link } => {
            out.push(Kind::Change as u8);
            out.extend_from_slice(&journal.0);
            out.extend_from_slice(&author.id().0);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(link);
        }
        Body::Snapshot { covers } => {
            out.push(Kind::Snapshot as u8);
            out.extend_from_slice(&journal.0);
            out.extend_from_slice(&author.id().0);
            covers.encode(&mut out);
        }
    }
    if let Some(id) = key_id {
        out.extend_from_slice(&id.to_be_bytes());
    }
    let len = u32::try_from(ciphertext.len()).map_err(|_| SealError::TooLarge {
        len: ciphertext.len(),
        max,
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&ciphertext);
    let signature = author.sign(&out);
    out.extend_from_slice(&signature);
    if out.len() > max {
        return Err(SealError::TooLarge {
            len: out.len(),
            max,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
