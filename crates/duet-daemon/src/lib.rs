//! duet-daemon: the background process that keeps one device's journal
//! merged with the partner's devices, directly, over libp2p.
//!
//! It is the only crate that knows libp2p. One task owns the swarm and the
//! replica ([`daemon`]); the control socket ([`control`]) lets the CLI ask
//! it for status, a sync, or an invitation; [`pairing`] is the SPAKE2
//! handshake as plain state, and [`join`] is the joining side of it.

pub mod behaviour;
pub mod control;
pub mod daemon;
pub mod gate;
pub mod identity;
mod invite;
pub mod join;
pub mod pairing;
pub mod protocol;
mod server;
mod sync;
pub mod whole;
pub mod wordlist;

pub use daemon::{run, Config, DaemonError};

/// Network addresses, as the CLI takes them (`--listen`, `--addr`).
pub use libp2p::Multiaddr;
