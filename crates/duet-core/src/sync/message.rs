//! The messages of the sync protocol and their limits.
//!
//! The daemon carries them over libp2p request-response (CBOR bodies,
//! `/duet/sync/1`; `docs/protocol.md` has the rules). They hold only
//! sealed envelopes and snapshots, version vectors and the sender's
//! listen addresses: nothing a peer could read without the journal key.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Largest sync request or response: a snapshot (at most
/// `envelope::MAX_SNAPSHOT_BYTES`) and a push's worth of envelopes beside
/// it. What one peer can make a device hold at once is this times the
/// streams a connection may have open.
pub const MAX_SYNC_MESSAGE: u64 = 16 << 20;
/// Most envelopes in one push.
pub const MAX_PUSH: usize = 4096;
/// Most bytes of envelopes in one push. Pushes are small (a few
/// entries, or a backlog in several messages); keeping each one small
/// keeps small what a receiver holds for them at once.
pub const MAX_PUSH_BYTES: usize = 1 << 20;
/// Most tips taken from one message: one per device of the journal.
pub const MAX_TIPS: usize = 256;
/// Most listen addresses taken from one message, and the longest one.
pub const MAX_ADDRS: usize = 16;
pub const MAX_ADDR_BYTES: usize = 128;
/// Most addresses of other devices taken from one message, and most sent
/// per device.
pub const MAX_PEER_ADDRS: usize = 64;
/// Longest "<device id> <address>" taken (an address through a relay
/// names two peer ids: about 200 characters).
pub const MAX_PEER_ADDR_LEN: usize = 320;
pub const PEER_ADDRS_EACH: usize = 3;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum SyncRequest {
    /// "This is what I hold (an encoded version vector); send what I lack."
    /// With the addresses the sender listens on (binary multiaddrs), so
    /// the other device can dial it later.
    Hello {
        vector: ByteBuf,
        #[serde(default)]
        addrs: Vec<ByteBuf>,
        /// The link at each author's tip (`store::Tip`, encoded), so that
        /// a device learns when a peer holds another history of its own
        /// changes.
        #[serde(default)]
        tips: Vec<ByteBuf>,
        /// The sender's clock (ms since the epoch), so that a device can
        /// tell its person when the two clocks disagree.
        #[serde(default)]
        now: Option<i64>,
        /// The digest of the device-list statements the sender keeps
        /// (`ledger/statements.rs`): the answer carries the answerer's
        /// when they differ.
        #[serde(default)]
        statements: Option<ByteBuf>,
        /// Where the sender reached the journal's other devices, as
        /// "<device id> <multiaddr>", so that devices paired by a third,
        /// and a mirror added later, find each other.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        peers: Vec<String>,
    },
    /// "Send me every key epoch you hold": asked by a device that holds
    /// an envelope sealed to an epoch it lacks (paired while a removal
    /// that started the epoch was on its way). Answered only to a current
    /// member, with the keys sealed to its own device key.
    Keys,
    /// To a mirror, from a member with an invitation open: "let a device
    /// that is not a member yet reach me through your relay, to pair, for
    /// this many seconds" (0: no longer). Answered `PairingOpen`.
    Pairing { open_secs: u32 },
    /// New envelopes, pushed as they are written or received; a snapshot
    /// first when the receiver is known to be behind one.
    Push {
        snapshot: Option<ByteBuf>,
        envelopes: Vec<ByteBuf>,
        /// Device-list statements, pushed when a peer's digest differed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        statements: Vec<ByteBuf>,
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
        /// The answerer's tips, as in `Hello`.
        #[serde(default)]
        tips: Vec<ByteBuf>,
        /// The answerer's clock, as in `Hello`.
        #[serde(default)]
        now: Option<i64>,
        /// Every device-list statement the answerer keeps, when the
        /// hello's digest differed from its own; and its digest.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        statements: Vec<ByteBuf>,
        #[serde(default)]
        digest: Option<ByteBuf>,
        /// The answerer's addresses of other devices, as in `Hello`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        peers: Vec<String>,
    },
    /// After a push: the receiver's vector now.
    Ack { vector: ByteBuf },
    /// The answer to `Keys`: every epoch the answerer holds, age-sealed to
    /// the asker's device key.
    Keys { sealed: ByteBuf },
    /// To a removed device, for any request: the signed changes that
    /// recorded its removal (sealed to the key epoch it holds, so it can
    /// read who removed it and when), and nothing else.
    Removed {
        envelopes: Vec<ByteBuf>,
        /// The signed device list, so that a device without the journal
        /// key (a mirror) learns it was removed.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        statements: Vec<ByteBuf>,
    },
    /// The answer to `Pairing`: until when (seconds from now) the mirror
    /// relays for a device pairing.
    PairingOpen { open_secs: u32 },
}
