//! `duet join`: pair this (fresh) device into a partner's journal.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use duet_daemon::join::{JoinRequest, Secret};
use duet_daemon::pairing::{Code, PairUri};
use duet_daemon::Multiaddr;
use serde_json::json;

use crate::context::Context;

#[derive(clap::Args)]
pub struct Args {
    /// The `duet:` link from the inviting device's QR code (or set
    /// DUET_URI, which other users of this machine cannot read).
    #[arg(long, env = "DUET_URI", hide_env_values = true)]
    uri: Option<String>,
    /// Where the inviting device listens (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    addr: Vec<Multiaddr>,
    /// Your name as your partner knows you (with --bring, default: the
    /// name you wrote under in this home's journal).
    #[arg(long, required_unless_present_any = ["mirror", "bring"])]
    person: Option<String>,
    /// Join as a mirror (docs/mirror.md): this machine stores and serves
    /// the journal sealed and gets no key; run `duet mirror` on it after.
    #[arg(long, conflicts_with = "person")]
    mirror: bool,
    /// This device's name (default: the host name).
    #[arg(long)]
    device: Option<String>,
    /// Read the code from this file (else `DUET_CODE`, else a prompt).
    #[arg(long)]
    code_file: Option<PathBuf>,
    /// Listen here for the inviting device to dial in (repeatable): on a
    /// server it can reach that cannot reach it, run `duet invite --dial
    /// <this address>` there.
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<Multiaddr>,
    /// Do not look for the inviting device with mDNS.
    #[arg(long)]
    no_mdns: bool,
    /// Bring along the journal this home holds: once joined, it is kept
    /// aside in `<home>/retired/` and its entries are imported (see
    /// `duet import`).
    #[arg(long, conflicts_with = "mirror")]
    bring: bool,
    /// Give up after this long.
    #[arg(long, default_value = "2m", value_parser = crate::invite::parse_duration)]
    timeout: Duration,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let bring = match args.bring {
        true => Some(crate::import::Bring::prepare(ctx)?),
        false => None,
    };
    let person = match (&args.person, &bring) {
        (Some(person), _) => crate::init::person_name(person)?,
        (None, Some(bring)) => bring.person.clone(),
        (None, None) => String::new(),
    };
    if bring.is_none() {
        ctx.home.prepare_new()?;
    }
    let secret = match &args.uri {
        Some(uri) => Secret::Uri(PairUri::parse(uri)?),
        None => Secret::Code(Code::parse(&read_code(args.code_file.as_deref())?)?),
    };
    let device_name = args
        .device
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .or_else(|| bring.as_ref().map(|b| b.device.clone()))
        .unwrap_or_else(crate::init::host_name);
    let request = JoinRequest {
        home: bring
            .as_ref()
            .map_or(ctx.home.root(), |b| b.staging())
            .to_path_buf(),
        person: person.clone(),
        device_name: device_name.clone(),
        secret,
        addrs: args.addr,
        mdns: !args.no_mdns,
        timeout: args.timeout,
        mirror: args.mirror,
        listen: args.listen,
    };
    let json = ctx.json;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut shown = String::new();
    let joined = runtime.block_on(duet_daemon::join::join(request, |words| {
        shown = words.to_string();
        if json {
            println!("{}", json!({ "words": words }));
        } else {
            println!("Connected. Check that the other device shows these words:   {words}");
            println!("Waiting for it to accept...");
        }
        let _ = std::io::stdout().flush();
    }))?;
    if json {
        println!(
            "{}",
            json!({
                "joined": true,
                "words": shown,
                "device_id": joined.device_id.to_text(),
                "inviter": joined.inviter.to_text(),
                "devices": joined.devices,
            })
        );
    } else if args.mirror {
        println!(
            "Joined as a mirror (\"{}\"). It holds the journal sealed and no key.",
            crate::safe::line(&device_name)
        );
        println!("Start it with `duet mirror` (docs/mirror.md: running it as a service).");
    } else {
        println!(
            "Joined. This device ({}'s {}) now holds the journal.",
            crate::safe::line(&person),
            crate::safe::line(&device_name)
        );
        println!("Start syncing with `duet daemon` (README: running it in the background).");
    }
    match bring {
        Some(bring) => bring.finish(ctx),
        None => Ok(()),
    }
}

/// The code from `--code-file`, `DUET_CODE` or a prompt; never from the
/// command line, where other users could read it.
fn read_code(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    if let Some(path) = file {
        return std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()));
    }
    if let Ok(code) = std::env::var("DUET_CODE") {
        return Ok(code);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no code given; set DUET_CODE, pass --code-file, or run in a terminal to be asked");
    }
    print!("Code from `duet invite` on the other device: ");
    std::io::stdout().flush()?;
    let mut code = String::new();
    std::io::stdin().lock().read_line(&mut code)?;
    Ok(code)
}
