//! duet-core: the journal two partners share, as data.
//!
//! It holds the journal model on automerge ([`journal`]), the device and
//! journal keys ([`keys`]), sealed envelopes and snapshots ([`envelope`]),
//! version vectors ([`vv`]), the encrypted SQLite store ([`store`]) and the
//! [`replica`] that ties them into one device's view of the journal.
//! It knows nothing of tokio or libp2p: sync is a matter of moving the
//! sealed bytes this crate produces, which the daemon does.

pub mod envelope;
pub mod export;
pub mod home;
pub mod ids;
pub mod index;
pub mod journal;
pub mod keys;
pub mod ledger;
pub mod prompts;
pub mod replica;
pub mod store;
pub mod sync;
#[cfg(test)]
mod testing;
pub mod vv;
pub mod writer;

pub use ids::{DeviceId, JournalId};
pub use vv::VersionVector;
