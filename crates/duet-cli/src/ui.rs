//! `duet ui`: the journal in the browser (crates/duet-web). This module
//! only builds the runtime, prints the secret URL and opens the browser.

use std::io::Write;

use duet_daemon::Multiaddr;

use crate::context::Context;

#[derive(clap::Args)]
pub struct Args {
    /// Do not open the browser; only print the address.
    #[arg(long)]
    no_open: bool,
    /// The port on 127.0.0.1 (default: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where the sync daemon listens, when `duet ui` runs it (repeatable;
    /// default as `duet daemon`).
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,
    /// Do not look for devices on the local network with mDNS.
    #[arg(long)]
    no_mdns: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        !ctx.home.is_mirror(),
        "this home is a mirror, which holds no key and nothing to read; run `duet ui` on a device"
    );
    crate::daemon_cmd::init_logging();
    let config = duet_web::Config {
        home: ctx.home.root().to_path_buf(),
        port: args.port,
        listen: args.listen,
        mdns: !args.no_mdns,
        whole_exe: std::env::current_exe().ok(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = duet_web::bind(config).await?;
        let url = server.url();
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "duet ui: {url}")?;
            out.flush()?;
        }
        if !args.no_open {
            open_browser(&url);
        }
        server.run(crate::daemon_cmd::shutdown_signal()).await?;
        anyhow::Ok(())
    })
}

/// Opens `url` in the person's browser; failing to is only a note, since
/// the address is printed.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if spawned.is_err() {
        eprintln!("duet: note: could not open a browser ({opener}); open the address above in one");
    }
}
