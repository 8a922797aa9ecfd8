//! `duet invite`: open a pairing window on the running daemon.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::bail;
use duet_daemon::client::{Client, ControlError};
use duet_daemon::control::InviteEvent;
use duet_daemon::invite::reach::Reach;
use duet_daemon::pairing::in_words;
use serde_json::json;

use crate::context::Context;
use crate::safe;

#[derive(clap::Args)]
pub struct Args {
    /// Do not draw the QR code.
    #[arg(long)]
    no_qr: bool,
    /// How long the invitation stays open: 90s, 5m, 1h.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
    /// Accept the joining device without asking (for scripts).
    #[arg(long)]
    yes: bool,
    /// Dial a joining device that listens (`duet join --listen`), such as
    /// a mirror on a server this device can reach (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    dial: Vec<duet_daemon::Multiaddr>,
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 5m or 1h"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n * 60,
        "h" | "hour" | "hours" => n * 3600,
        _ => return Err(format!("`{text}` is not a duration like 90s, 5m or 1h")),
    };
    Ok(Duration::from_secs(secs))
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    drop(ctx.open()?);
    let client = match Client::connect(ctx.home.root()) {
        Ok(c) => c,
        Err(ControlError::NotRunning) => {
            bail!(
                "`duet invite` needs the daemon running on this device; {}",
                crate::hints::START_DAEMON
            )
        }
        Err(e) => return Err(e.into()),
    };
    let dial: Vec<String> = args.dial.iter().map(|a| a.to_string()).collect();
    let mut invitation = client.invite(args.timeout, &dial)?;
    loop {
        match invitation.next_event()? {
            InviteEvent::Opened {
                code,
                uri,
                expires_at,
                addrs,
            } => {
                if ctx.json {
                    let addrs = Reach::sort(&addrs);
                    println!(
                        "{}",
                        json!({ "code": code, "uri": uri, "expires_at": expires_at, "addrs": addrs })
                    );
                } else {
                    print_invitation(&code, &uri, &addrs, args.timeout, !args.no_qr);
                }
                std::io::stdout().flush()?;
            }
            InviteEvent::Joining {
                person,
                device,
                device_id,
                words,
                mirror,
            } => {
                let accept = args.yes || ask(&person, &device, &device_id, &words, mirror)?;
                invitation.answer(accept)?;
            }
            InviteEvent::Joined {
                person,
                device,
                device_id,
                words,
                mirror,
            } => {
                if ctx.json {
                    let joined = json!({
                        "person": person, "device": device, "device_id": device_id, "words": words,
                        "mirror": mirror,
                    });
                    println!("{}", json!({ "joined": joined }));
                } else if mirror {
                    println!(
                        "The mirror \"{}\" ({}) has joined the journal. It holds no key.",
                        safe::line(&device),
                        safe::prefix(&device_id, 8)
                    );
                } else {
                    println!(
                        "{}'s {} ({}) has joined the journal.",
                        safe::line(&person),
                        safe::line(&device),
                        safe::prefix(&device_id, 8)
                    );
                }
                return Ok(());
            }
            InviteEvent::Failed { reason } => bail!("{reason}"),
        }
    }
}

fn print_invitation(code: &str, uri: &str, addrs: &[String], timeout: Duration, qr: bool) {
    println!("To add a device to your journal, run on it:");
    println!();
    println!("    duet join --person NAME");
    println!();
    println!("and type this code when it asks:   {}", safe::line(code));
    if qr {
        if let Ok(qr) = qrcode::QrCode::new(uri.as_bytes()) {
            let art = qr
                .render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build();
            println!();
            println!(
                "or scan this with the device (it holds a duet: link, nothing a browser opens):"
            );
            println!("{art}");
        }
    }
    println!();
    print_reach(&Reach::sort(addrs));
    println!();
    println!(
        "Waiting up to {}. Share the code only with the person whose device it is.",
        in_words(timeout)
    );
}

/// Tells a person how a device on another network joins.
fn print_reach(reach: &Reach) {
    if reach.public.is_empty() && reach.relayed.is_empty() {
        println!("This device has only addresses on this network, so a device elsewhere cannot reach it.");
        println!("From another network, forward a port of your router to it and join with");
        println!("`duet join --person NAME --addr /ip4/PUBLIC-IP/tcp/PORT`, or pair through a");
        println!("mirror both devices reach (docs/mirror.md).");
        if !reach.local.is_empty() {
            println!("On this network, without mDNS, it is at:");
            for addr in &reach.local {
                println!("    duet join --person NAME --addr {addr}");
            }
        }
        return;
    }
    println!("From another network, add one of its addresses:");
    for addr in &reach.public {
        println!("    duet join --person NAME --addr {addr}");
    }
    for addr in &reach.relayed {
        println!("    duet join --person NAME --addr {addr}   (through your mirror)");
    }
}

fn ask(
    person: &str,
    device: &str,
    device_id: &str,
    words: &str,
    mirror: bool,
) -> anyhow::Result<bool> {
    println!();
    if mirror {
        println!(
            "A mirror \"{}\" ({}) wants to join. It will store and serve the journal sealed, and get no key.",
            safe::line(device),
            safe::prefix(device_id, 8)
        );
    } else {
        println!(
            "{}'s device \"{}\" ({}) wants to join.",
            safe::line(person),
            safe::line(device),
            safe::prefix(device_id, 8)
        );
    }
    println!("It should show these words:   {}", safe::line(words));
    if !std::io::stdin().is_terminal() {
        println!("No terminal to ask on; declining. Use --yes to accept without asking.");
        return Ok(false);
    }
    if mirror {
        return crate::context::ask_yes_no("Do the words match?");
    }
    crate::context::ask_yes_no("Do the words match? It will be able to read the whole journal.")
}
