//! The messages of the sync protocol and their limits.
//!
//! The daemon carries them over libp2p request-response (CBOR bodies,
//! `/duet/sync/1`; `docs/protocol.md` has the rules). They hold only
//! sealed envelopes and snapshots, version vectors and the sender's
//! listen addresses: nothing a peer could read without the journal key.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// Largest sync request or response: a whole 40,000-entry snapshot is
/// about 7 MB; this leaves room for a long tail of envelopes beside it.
pub const MAX_SYNC_MESSAGE: u64 = 64 << 20;
/// Most envelopes in one push.
pub const MAX_PUSH: usize = 4096;
/// Most bytes of envelopes in one push, well inside one message.
pub const MAX_PUSH_BYTES: usize = 32 << 20;
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
