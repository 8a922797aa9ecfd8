//! The sync protocol as a state machine with no IO.
//!
//! An [`Engine`] keeps, for one device, what sync needs to remember about
//! its peers: who is connected, what each last said it holds, what has
//! been pushed, where each received envelope came from and which
//! envelopes wait for their author's device record. Inputs go in as
//! method calls (a peer connected, a message arrived, the device stored
//! something itself, time passed); outputs come out of
//! [`Engine::poll_output`]: requests to send and events to record or log.
//! The caller moves the messages (the daemon over libp2p, a test through
//! an in-memory network) and owns the [`Holder`]: the device's ledger,
//! with whatever takes a received envelope or snapshot in.
//!
//! This is the shape of automerge's `generate_sync_message` /
//! `receive_sync_message`: the protocol's decisions are testable with no
//! network, and the daemon is left with IO.
//!
//! ```
//! use duet_core::ledger::Ledger;
//! use duet_core::store::Store;
//! use duet_core::sync::{Engine, Output, SyncRequest};
//! use duet_core::{DeviceId, JournalId};
//!
//! let ledger = Ledger::create(Store::open_in_memory()?, JournalId([1; 16]), DeviceId([1; 32]), &[])?;
//! let mut engine = Engine::new(Default::default(), &ledger)?;
//! // The device that dials says hello: "this is what I hold".
//! engine.connected("peer", true, &ledger);
//! assert!(matches!(
//!     engine.poll_output(),
//!     Some(Output::Send { to: "peer", request: SyncRequest::Hello { .. } })
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod engine;
mod held;
mod holder;
mod message;

use std::time::Duration;

use crate::ids::DeviceId;
use crate::ledger::{Ledger, ReceiveError};
use crate::store::{Heal, StoreError, Tip};
use crate::vv::VersionVector;

pub use engine::Engine;
pub use held::HeldBack;
pub use message::{
    SyncRequest, SyncResponse, MAX_ADDRS, MAX_ADDR_BYTES, MAX_PEER_ADDRS, MAX_PUSH, MAX_PUSH_BYTES,
    MAX_SYNC_MESSAGE, PEER_ADDRS_EACH,
};

/// What a device syncs from: its ledger, and how it takes in what peers
/// send. A member opens and checks each envelope before it stores it; a
/// device without the journal key stores what verifies.
pub trait Holder {
    fn ledger(&self) -> &Ledger;
    /// Takes in one change envelope; returns its position in the store.
    fn receive_envelope(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError>;
    /// Takes in a snapshot.
    fn receive_snapshot(&mut self, bytes: &[u8]) -> Result<(), ReceiveError>;
    /// Compares what a peer holds of this device's own changes with what
    /// it holds, and heals a restored or copied home
    /// (`Member::heal_own`). A device with no changes of its own has
    /// nothing to heal.
    fn heal_own(&mut self, _theirs: Tip) -> Result<Option<Heal>, ReceiveError> {
        Ok(None)
    }
    /// Takes in device-list statements a peer sent
    /// (`Ledger::take_statements`): a device without the journal key
    /// follows them, a member keeps them to hand on. Returns how many were
    /// new.
    fn take_statements(&mut self, statements: &[Vec<u8>]) -> Result<usize, StoreError>;
}

/// The engine's bounds and timing.
#[derive(Clone, Debug)]
pub struct Config {
    /// How often connected peers compare vectors, to repair a lost push.
    pub anti_entropy: Duration,
    /// Most envelopes held back for an unknown author, and most bytes.
    pub held_back_count: usize,
    pub held_back_bytes: usize,
    /// Most envelopes, and bytes, in one push.
    pub push_count: usize,
    pub push_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            anti_entropy: Duration::from_secs(10),
            held_back_count: 1024,
            held_back_bytes: 16 << 20,
            push_count: MAX_PUSH,
            push_bytes: MAX_PUSH_BYTES,
        }
    }
}

/// What the engine asks of its caller.
#[derive(Debug)]
pub enum Output<P> {
    /// Send this request to `to`; its response goes to
    /// [`Engine::on_response`].
    Send {
        to: P,
        request: SyncRequest,
    },
    Event(Event<P>),
}

/// Something worth recording or logging.
#[derive(Debug)]
pub enum Event<P> {
    /// What `peer` holds, as it just said.
    Vector { peer: P, vector: VersionVector },
    /// `peer` sent these changes (author, sequence) and a snapshot
    /// covering `covers`, so it holds them: what it was last seen holding
    /// rises by them (`Store::record_holds`). Without this, a change a
    /// peer pushed would count as waiting to go back to it until the next
    /// exchange of vectors.
    Holds {
        peer: P,
        covers: VersionVector,
        changes: Vec<(DeviceId, u64)>,
    },
    /// Where `peer` says it listens: unchecked bytes, at most
    /// [`MAX_ADDRS`] of at most [`MAX_ADDR_BYTES`] each.
    Addresses { peer: P, addrs: Vec<Vec<u8>> },
    /// Where `from` says other devices of the journal listen (it reached
    /// them there, or they said so): current members only, this device
    /// left out, at most [`MAX_PEER_ADDRS`] addresses (text, unchecked).
    PeerAddresses {
        from: P,
        addrs: Vec<(DeviceId, String)>,
    },
    /// What one message from `from` brought.
    Received { from: P, intake: Intake },
    /// `peer`'s clock is this far ahead of this device's (behind, when
    /// negative).
    Clock { peer: P, ahead_ms: i64 },
    /// `from` sent a version vector that does not decode.
    Malformed { from: P },
    /// `peer` held another history of this device's own changes: this
    /// home was restored from a backup, or another copy of it runs. What
    /// this device wrote meanwhile was sealed again under new numbers.
    Healed { peer: P, heal: Heal },
    /// `from` sent an envelope sealed to key epoch `id`, which this device
    /// lacks: ask it for its keys (`SyncRequest::Keys`).
    NeedsKeys { from: P, id: u32 },
    /// `by_peer` says this device was removed from the journal (and sent
    /// the record of it, taken in like any change).
    RemovedHere { by_peer: P },
    /// Healing failed on this device (its store); tried again at the next
    /// exchange.
    HealFailed { peer: P, error: ReceiveError },
    /// This device's store failed while doing `doing`.
    Local {
        doing: &'static str,
        error: StoreError,
    },
}

/// What one message brought.
#[derive(Debug, Default)]
pub struct Intake {
    /// Envelopes and snapshots taken in (with held-back envelopes that
    /// this message released).
    pub accepted: u64,
    /// Envelopes held back for an unknown author.
    pub held_back: u64,
    /// Envelopes already held.
    pub replays: u64,
    /// Envelopes and snapshots refused, and the first reason.
    pub refused: u64,
    pub first_refusal: Option<ReceiveError>,
}

/// The outcome of one hello, for `duet sync`: items received in the answer
/// and sent back in the push that followed (a snapshot counts as one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    pub received: u64,
    pub sent: u64,
}

#[cfg(test)]
mod tests;
