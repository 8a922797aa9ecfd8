//! What a snapshot proves it holds.
//!
//! A snapshot's payload is the whole document, and beside it, for every
//! author whose changes it covers, the hashes of that author's changes 1
//! to `n` in order and the author's own signed envelope number `n` (the
//! anchor). The anchor's `link` is a hash chain over those hashes
//! (`envelope::next_link`), so one signature per author proves the list,
//! and the list proves what the snapshot's vector claims: a member cannot
//! claim envelopes its snapshot does not hold, nor slip a change into it
//! under another device's name. Changes in the document beyond what the
//! chains cover travel as their own sealed envelopes (`extras`).
//!
//! ```text
//! "DUETSNP1" | chains (u32) | per chain: author (32) | n (u32) | n × hash (32)
//!            | anchor length (u32) | anchor | extras (u32)
//!            | per extra: length (u32) | envelope | document (the rest)
//! ```

use std::collections::HashSet;

use crate::envelope::{self, Body, OpenError, FIRST_LINK};
use crate::ids::{DeviceId, JournalId};
use crate::vv::VersionVector;

const MAGIC: &[u8; 8] = b"DUETSNP1";

/// How a snapshot's proof fails.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("the snapshot's contents are malformed ({0})")]
    Malformed(&'static str),
    #[error("the snapshot's proof for {author} does not verify: {1}", author = .0.short())]
    Anchor(DeviceId, #[source] OpenError),
    #[error("the snapshot's list of {}'s changes does not match what that device signed", .0.short())]
    Chain(DeviceId),
    #[error("the snapshot claims more than it proves it holds")]
    Overclaim,
    #[error("the snapshot's document holds a change no proof accounts for")]
    Unproven,
    #[error("the snapshot's document lacks a change its proof lists")]
    Missing,
}

impl ProofError {
    /// A short name for the failure (for counting, not for people).
    pub fn kind(&self) -> &'static str {
        match self {
            ProofError::Malformed(_) => "snapshot-malformed",
            ProofError::Anchor(..) => "snapshot-anchor",
            ProofError::Chain(_) => "snapshot-chain",
            ProofError::Overclaim => "snapshot-overclaim",
            ProofError::Unproven => "snapshot-unproven",
            ProofError::Missing => "snapshot-missing",
        }
    }
}

/// One author's changes a snapshot covers: their hashes, in sequence
/// from 1, and the author's envelope for the last of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub author: DeviceId,
    pub hashes: Vec<[u8; 32]>,
    pub anchor: Vec<u8>,
}

/// A snapshot's payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    pub chains: Vec<Chain>,
    /// Sealed envelopes of changes the document holds beyond the chains.
    pub extras: Vec<Vec<u8>>,
    /// The automerge document, saved.
    pub doc: Vec<u8>,
}

impl Contents {
    /// The link at the end of each chain: its anchor's, which the chain
    /// proves (checked by `verify_chains` for a peer's snapshot).
    pub fn tips(&self) -> Vec<(DeviceId, [u8; 32])> {
        self.chains
            .iter()
            .filter_map(|c| match envelope::decode(&c.anchor).ok()?.body {
                Body::Change { link, .. } => Some((c.author, link)),
                _ => None,
            })
            .collect()
    }

    pub fn encode(&self) -> Vec<u8> {
        let hashes: usize = self.chains.iter().map(|c| c.hashes.len() * 32).sum();
        let mut out = Vec::with_capacity(self.doc.len() + hashes + 1024);
        out.extend_from_slice(MAGIC);
        put_len(&mut out, self.chains.len());
        for chain in &self.chains {
            out.extend_from_slice(&chain.author.0);
            put_len(&mut out, chain.hashes.len());
            for hash in &chain.hashes {
                out.extend_from_slice(hash);
            }
            put_len(&mut out, chain.anchor.len());
            out.extend_from_slice(&chain.anchor);
        }
        put_len(&mut out, self.extras.len());
        for extra in &self.extras {
            put_len(&mut out, extra.len());
            out.extend_from_slice(extra);
        }
        out.extend_from_slice(&self.doc);
        out
    }

    /// Parses a payload. Never panics; every count is checked against
    /// the bytes that remain.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProofError> {
        let mut r = Reader(bytes);
        if r.take(8)? != MAGIC {
            return Err(ProofError::Malformed("magic"));
        }
        let n = r.len()?;
        let mut chains = Vec::new();
        for _ in 0..n {
            let author = DeviceId(r.array()?);
            let count = r.len()?;
            if count.saturating_mul(32) > r.0.len() {
                return Err(ProofError::Malformed("hash count"));
            }
            let mut hashes = Vec::with_capacity(count);
            for _ in 0..count {
                hashes.push(r.array()?);
            }
            let len = r.len()?;
            let anchor = r.take(len)?.to_vec();
            chains.push(Chain {
                author,
                hashes,
                anchor,
            });
        }
        let n = r.len()?;
        let mut extras = Vec::new();
        for _ in 0..n {
            let len = r.len()?;
            extras.push(r.take(len)?.to_vec());
        }
        Ok(Self {
            chains,
            extras,
            doc: r.0.to_vec(),
        })
    }

    /// Checks every chain against its anchor (a member's signed
    /// envelope of this journal) and returns the vector the chains prove.
    pub fn verify_chains(
        &self,
        journal: &JournalId,
        is_member: impl Fn(&DeviceId) -> bool,
    ) -> Result<VersionVector, ProofError> {
        let mut proven = VersionVector::new();
        let mut seen = HashSet::new();
        for chain in &self.chains {
            if !seen.insert(chain.author) || chain.hashes.is_empty() {
                return Err(ProofError::Malformed("chain"));
            }
            let sealed =
                envelope::decode(&chain.anchor).map_err(|e| ProofError::Anchor(chain.author, e))?;
            let Body::Change { seq, link } = sealed.body else {
                return Err(ProofError::Chain(chain.author));
            };
            if sealed.author != chain.author || seq != chain.hashes.len() as u64 {
                return Err(ProofError::Chain(chain.author));
            }
            sealed
                .verify(journal, &is_member)
                .map_err(|e| ProofError::Anchor(chain.author, e))?;
            if fold(&chain.hashes) != link {
                return Err(ProofError::Chain(chain.author));
            }
            proven.set(chain.author, seq);
        }
        Ok(proven)
    }
}

/// The link after hashes 1 to n.
pub fn fold(hashes: &[[u8; 32]]) -> [u8; 32] {
    hashes
        .iter()
        .zip(1u64..)
        .fold(FIRST_LINK, |prev, (hash, seq)| {
            envelope::next_link(&prev, seq, hash)
        })
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_be_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProofError> {
        if n > self.0.len() {
            return Err(ProofError::Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProofError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len(&mut self) -> Result<usize, ProofError> {
        Ok(u32::from_be_bytes(self.array()?) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{DeviceKey, JournalKey};

    fn anchored(author: &DeviceKey, journal: &JournalId, hashes: &[[u8; 32]]) -> Chain {
        let link = fold(hashes);
        let anchor = envelope::seal(
            journal,
            author,
            &Body::Change {
                seq: hashes.len() as u64,
                link,
            },
            &JournalKey::generate().recipient(),
            b"x",
        )
        .expect("seal");
        Chain {
            author: author.id(),
            hashes: hashes.to_vec(),
            anchor,
        }
    }

    #[test]
    fn contents_read_back_and_junk_is_refused() {
        let journal = JournalId([1; 16]);
        let author = DeviceKey::generate();
        let contents = Contents {
            chains: vec![anchored(&author, &journal, &[[1; 32], [2; 32]])],
            extras: vec![b"an envelope".to_vec()],
            doc: b"the document".to_vec(),
        };
        let bytes = contents.encode();
        assert_eq!(Contents::decode(&bytes), Ok(contents));
        for len in 0..bytes.len() - b"the document".len() {
            assert!(Contents::decode(&bytes[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn a_chain_proves_exactly_what_its_author_signed() {
        let journal = JournalId([1; 16]);
        let author = DeviceKey::generate();
        let member = |d: &DeviceId| *d == author.id();
        let good = Contents {
            chains: vec![anchored(&author, &journal, &[[1; 32], [2; 32], [3; 32]])],
            ..Contents::default()
        };
        let proven = good.verify_chains(&journal, member).expect("proven");
        assert_eq!(proven.get(&author.id()), 3);
        // A longer list than the author signed, or another list, fails.
        let mut longer = good.clone();
        longer.chains[0].hashes.push([4; 32]);
        assert_eq!(
            longer.verify_chains(&journal, member),
            Err(ProofError::Chain(author.id()))
        );
        let mut other = good.clone();
        other.chains[0].hashes[1] = [9; 32];
        assert_eq!(
            other.verify_chains(&journal, member),
            Err(ProofError::Chain(author.id()))
        );
        // An anchor by a device that is not a member proves nothing.
        assert!(matches!(
            good.verify_chains(&journal, |_| false),
            Err(ProofError::Anchor(_, OpenError::UnknownAuthor(_)))
        ));
    }
}
