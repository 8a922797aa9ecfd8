//! duet-daemon: the background process that keeps one device's journal
//! merged with the partner's devices, directly, over libp2p.
//!
//! It is the only crate that knows libp2p, and it is IO: the sync
//! protocol's decisions are duet-core's engine (`duet_core::sync`), the
//! journal is duet-core's writer, and pairing is a handshake
//! ([`pairing`]) and a state machine ([`invite`]). One task, the
//! [`event_loop`], owns the swarm and carries their outputs out; the rest
//! talk to it through a cloneable [`Handle`]: the control socket
//! ([`server`] here, [`client`] in the CLI), or a test that runs the
//! daemon in-process with [`start`].
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = duet_daemon::Config {
//!     home: "/tmp/alex".into(),
//!     listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
//!     mdns: false,
//!     compact_after: None,
//!     whole_exe: None,
//!     control: duet_daemon::Control::Off,
//! };
//! let daemon = duet_daemon::start(config).await?;
//! let status = daemon.handle().status().await?;
//! println!("listening on {:?}", status.addrs);
//! daemon.stop().await;
//! # Ok(()) }
//! ```

pub mod behaviour;
pub mod child;
pub mod client;
pub mod command;
pub mod control;
pub mod door;
mod event_loop;
pub mod gate;
pub mod identity;
pub mod invite;
pub mod join;
mod local;
pub mod mirror;
pub mod pairing;
mod peering;
pub mod protocol;
mod redial;
mod run;
mod server;
mod waiters;
mod warnings;
pub mod whole;
pub mod wordlist;

pub use command::{Handle, HandleError, InviteSession};
pub use run::{run, start, Config, Control, Daemon, DaemonError};

/// Network addresses, as the CLI takes them (`--listen`, `--addr`).
pub use libp2p::Multiaddr;

/// An error and its causes as one line, for logs and for the control
/// socket's error replies (a cause already in the text is not repeated).
pub(crate) fn sentence(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let said = e.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = e.source();
    }
    text
}
