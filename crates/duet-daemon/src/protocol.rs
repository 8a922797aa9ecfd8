//! The messages of duet's two libp2p protocols, and their limits.
//!
//! Both run over libp2p request-response with CBOR bodies, inside Noise.
//! Sync messages carry only sealed envelopes and version vectors: nothing a
//! peer could read without the journal key.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Sync between member devices.
pub const SYNC_PROTOCOL: &str = "/duet/sync/1";
/// Pairing a new device during an invitation.
pub const PAIR_PROTOCOL: &str = "/duet/pair/1";

/// Largest sync request or response: a whole 40,000-entry snapshot is
/// about 7 MB; this leaves room for a long tail of envelopes beside it.
pub const MAX_SYNC_MESSAGE: u64 = 64 << 20;
/// Largest pairing message: the welcome carries a snapshot.
pub const MAX_PAIR_MESSAGE: u64 = 64 << 20;
/// Most envelopes in one push.
pub const MAX_PUSH: usize = 4096;
/// Most listen addresses taken from one message, and the longest one.
pub const MAX_ADDRS: usize = 16;
pub const MAX_ADDR_BYTES: usize = 128;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SyncRequest {
    /// "This is what I hold (an encoded version vector); send what I lack."
    /// With the addresses the sender listens on (binary multiaddrs), so
    /// the other device can dial it later.
    Hello {
        vector: ByteBuf,
        #[serde(default)]
        addrs: Vec<ByteBuf>,
    },
    /// New envelopes, pushed as they are written or received; a snapshot
    /// first when the receiver is known to be behind one.
    Push {
        snapshot: Option<ByteBuf>,
        envelopes: Vec<ByteBuf>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SyncResponse {
    /// What the asker lacks, snapshot first, and the answerer's vector.
    Missing {
        snapshot: Option<ByteBuf>,
        envelopes: Vec<ByteBuf>,
        vector: ByteBuf,
        /// The addresses the answerer listens on, as in `Hello`.
        #[serde(default)]
        addrs: Vec<ByteBuf>,
    },
    /// After a push: the receiver's vector now.
    Ack { vector: ByteBuf },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PairRequest {
    /// The joiner's SPAKE2 message, for invitation `nameplate`.
    Start {
        nameplate: u32,
        by_uri: bool,
        spake: ByteBuf,
    },
    /// The joiner's key confirmation, and (sealed under the pairing key)
    /// who it is: `{"person": .., "device": ..}`.
    Confirm {
        nameplate: u32,
        confirm: ByteBuf,
        sealed_intro: ByteBuf,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PairResponse {
    Started {
        spake: ByteBuf,
        confirm: ByteBuf,
    },
    /// The journal, sealed under the pairing key (see `Welcome`).
    Welcome {
        sealed: ByteBuf,
    },
    Refused {
        reason: String,
    },
}

/// What the inviter hands the new device, sealed under the pairing key.
/// The journal key in it is wiped from memory when it is dropped.
#[derive(Serialize, Deserialize)]
pub struct Welcome {
    pub journal_id: String,
    pub journal_key: String,
    pub inviter: String,
    /// The sealed snapshot, base64.
    pub snapshot: String,
    pub inviter_addrs: Vec<String>,
}

/// Who the joiner is, sealed under the pairing key.
#[derive(Serialize, Deserialize)]
pub struct Intro {
    pub person: String,
    pub device: String,
}

impl Drop for Welcome {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.journal_key);
    }
}
