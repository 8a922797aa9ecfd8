//! `duet join`: pair this (fresh) device into a partner's journal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use duet_daemon::behaviour::PAIR_TIMEOUT;
use duet_daemon::join::{Inviter, JoinProgress, JoinRequest, Secret};
use duet_daemon::pairing::{in_words, Code, PairUri};
use duet_daemon::Multiaddr;
use serde_json::json;

use crate::context::Context;
use crate::safe;

mod prompt;

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
    /// Give up finding the inviting device after this long.
    #[arg(long, default_value = "2m", value_parser = crate::invite::parse_duration)]
    timeout: Duration,
    /// Once it is found, how long its person may take to compare the
    /// words and confirm (at most 10m).
    #[arg(long, default_value = "10m", value_parser = crate::invite::parse_duration)]
    confirm_timeout: Duration,
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
        // The inviting side stops holding the question after this anyway.
        confirm_timeout: args.confirm_timeout.min(PAIR_TIMEOUT),
        mirror: args.mirror,
        listen: args.listen,
    };
    let json = ctx.json;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut shown = String::new();
    let mut asked = String::new();
    let joined = runtime.block_on(duet_daemon::join::join(request, |progress| {
        // Progress goes to stderr, so that stdout (and --json) carries
        // only the words and the result.
        if let JoinProgress::Confirming { words, inviter } = &progress {
            shown = words.clone();
            asked = who(inviter);
            eprintln!("{}", found(inviter));
            if json {
                println!("{}", json!({ "words": words }));
            } else {
                println!("Check that the other device shows these words:   {words}");
            }
            let _ = std::io::stdout().flush();
        } else {
            eprintln!("{}", telling(&progress, &asked));
        }
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

/// A line for each step of the join but the handshake's end.
fn telling(progress: &JoinProgress, asked: &str) -> String {
    match progress {
        JoinProgress::Looking { lan, addrs, listen } => {
            let mut places = Vec::new();
            if *lan {
                places.push("on this network".to_string());
            }
            if !addrs.is_empty() {
                places.push(format!("at {}", some(addrs)));
            }
            let mut line = String::new();
            if !places.is_empty() {
                line = format!("looking for the inviting device {}…", places.join(" and "));
            }
            if !listen.is_empty() {
                if !line.is_empty() {
                    line.push('\n');
                }
                line.push_str(&format!(
                    "waiting for the inviting device to dial in at {}…",
                    some(listen)
                ));
            }
            line
        }
        JoinProgress::StillLooking { left } => {
            format!("still looking (giving up in {})…", in_words(round(*left)))
        }
        JoinProgress::StillConfirming { left } => format!(
            "still waiting for {asked} to confirm (giving up in {})…",
            in_words(round(*left))
        ),
        JoinProgress::Confirming { .. } => String::new(),
    }
}

/// "found Alex's laptop (ab12cd34), waiting for Alex to confirm…"
fn found(inviter: &Inviter) -> String {
    let device = match (&inviter.person, &inviter.device) {
        (Some(person), Some(device)) if !person.is_empty() => {
            format!("{}'s {}", safe::line(person), safe::line(device))
        }
        _ => "the inviting device".to_string(),
    };
    format!(
        "found {device} ({}), waiting for {} to confirm…",
        safe::line(&inviter.short_id),
        who(inviter)
    )
}

/// Whose confirmation the join waits for.
fn who(inviter: &Inviter) -> String {
    match &inviter.person {
        Some(person) if !person.is_empty() => safe::line(person).into_owned(),
        _ => "its person".to_string(),
    }
}

/// The first few addresses, and how many more.
fn some(addrs: &[Multiaddr]) -> String {
    let shown: Vec<String> = addrs.iter().take(3).map(|a| a.to_string()).collect();
    match addrs.len().saturating_sub(3) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// A time left, to the second, for a person to read.
fn round(left: Duration) -> Duration {
    Duration::from_secs(left.as_secs_f64().round() as u64)
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
    prompt::ask("Code from `duet invite` on the other device (Tab completes words): ")
}
