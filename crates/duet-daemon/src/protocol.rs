//! The messages of duet's two libp2p protocols, and their limits.
//!
//! Both run over libp2p request-response with CBOR bodies, inside Noise.
//! The sync messages are duet-core's (`duet_core::sync`), which decides
//! what they carry; the pairing messages are the daemon's own.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

pub use duet_core::sync::{
    SyncRequest, SyncResponse, MAX_ADDRS, MAX_ADDR_BYTES, MAX_PUSH, MAX_SYNC_MESSAGE,
};

/// Sync between member devices.
pub const SYNC_PROTOCOL: &str = "/duet/sync/1";
/// Pairing a new device during an invitation.
pub const PAIR_PROTOCOL: &str = "/duet/pair/1";

/// Largest pairing message: the welcome carries a snapshot, in base64
/// inside JSON (4/3 of `MAX_SNAPSHOT_BYTES`, and a little).
pub const MAX_PAIR_MESSAGE: u64 = 16 << 20;

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
        /// Who the inviting device is (an [`Intro`]), sealed under the
        /// pairing key, so the joiner can say whose confirmation it waits
        /// for; only the holder of the right code can read it. Absent from
        /// inviters before this field existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed_intro: Option<ByteBuf>,
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
    /// The signed device list (`ledger/statements.rs`), base64 each: all a
    /// mirror has to know the members by. `journal_key` is empty for a
    /// mirror.
    #[serde(default)]
    pub statements: Vec<String>,
}

/// Who a side of pairing is, sealed under the pairing key: the joiner
/// sends it with `Confirm`, the inviter with `Started`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Intro {
    pub person: String,
    pub device: String,
    /// `Some("mirror")` when the joiner is a mirror, which is sent no
    /// journal key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Intro {
    pub fn is_mirror(&self) -> bool {
        self.role.as_deref() == Some(duet_core::journal::MIRROR_ROLE)
    }
}

impl Drop for Welcome {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.journal_key);
    }
}
