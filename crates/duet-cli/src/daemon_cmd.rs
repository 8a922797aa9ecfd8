//! `duet daemon`: the sync daemon, in the foreground.

use duet_daemon::Multiaddr;

use crate::context::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Listen here (repeatable); default: all interfaces, ephemeral ports,
    /// TCP and QUIC.
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,
    /// Do not look for devices on the local network with mDNS.
    #[arg(long)]
    no_mdns: bool,
    /// A mirror's public address, told to devices as where to reach it
    /// (repeatable): a VPS's address, or a router's forwarded port.
    #[arg(long, value_name = "MULTIADDR")]
    announce: Vec<Multiaddr>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    // A mirror's home runs as a mirror, whichever command started it.
    if ctx.home.is_mirror() {
        return mirror(ctx, args);
    }
    // Checking first gives the usual one-sentence errors for a home that
    // holds no journal, before any network is started. (Not `ctx.open`:
    // the whole document loaded here would stay in this process's memory
    // for good, and notices of new devices are for the person, not the
    // daemon's log.)
    ctx.home.check()?;
    anyhow::ensure!(
        args.announce.is_empty(),
        "only a mirror announces an address (`--announce`); this home is a device's"
    );
    init_logging();
    let config = duet_daemon::Config {
        home: ctx.home.root().to_path_buf(),
        listen: args.listen,
        mdns: !args.no_mdns,
        compact_after: std::env::var("DUET_COMPACT_AFTER")
            .ok()
            .and_then(|v| v.parse().ok()),
        whole_exe: std::env::current_exe().ok(),
        control: duet_daemon::Control::Socket,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async { duet_daemon::run(config, shutdown_signal()).await })?;
    Ok(())
}

/// `duet mirror`: a mirror (docs/mirror.md), in the foreground. It holds
/// no key; it stores and serves the journal sealed.
pub fn mirror(ctx: &Context, args: Args) -> anyhow::Result<()> {
    ctx.home.open_mirror()?;
    init_logging();
    let config = duet_daemon::mirror::MirrorConfig {
        home: ctx.home.root().to_path_buf(),
        listen: args.listen,
        announce: args.announce,
        control: duet_daemon::Control::Socket,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async { duet_daemon::mirror::run(config, shutdown_signal()).await })?;
    Ok(())
}

/// Logs go to stderr; `RUST_LOG` picks what (default: info). They never
/// hold entry text or keys: the daemon only ever sees sealed bytes.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // libp2p's own info lines name this device by its libp2p id,
        // which matches nothing `duet devices` shows.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,libp2p_mdns=warn,libp2p_swarm=warn")
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(colour())
        .try_init();
}

/// Colour codes only for a person at a terminal who did not ask for none
/// (`NO_COLOR`, no-color.org): never into a log file or journald.
fn colour() -> bool {
    let asked_none = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::IsTerminal::is_terminal(&std::io::stderr()) && !asked_none
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping");
}
