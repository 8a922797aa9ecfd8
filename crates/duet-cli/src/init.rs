//! `duet init`: a new device holding a new journal.

use serde::Serialize;

use crate::context::{now_ms, Context};

#[derive(clap::Args)]
pub struct Args {
    /// Your name as your partner knows you, shown on every entry you write.
    #[arg(long)]
    person: String,
    /// This device's name (default: the host name).
    #[arg(long)]
    device: Option<String>,
}

#[derive(Serialize)]
struct Initialised {
    home: String,
    person: String,
    device: String,
    device_id: String,
}

/// The person's name as given, checked: not empty, and not one of the
/// words the journal keys its own fields by (reactions and heard marks
/// are keyed by person, so the schema refuses those names).
pub fn person_name(raw: &str) -> anyhow::Result<String> {
    use duet_core::journal::input::{self, InputError};
    input::person_name(raw).map_err(|e| match e {
        InputError::EmptyName => anyhow::anyhow!("the person's name is empty; pass --person NAME"),
        InputError::ReservedName(person) => anyhow::anyhow!(
            "`{person}` is a word the journal uses for itself; choose another name for --person"
        ),
        other => other.into(),
    })
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let person = person_name(&args.person)?;
    let person = person.as_str();
    let device = args
        .device
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(host_name);
    let replica = ctx.home.init(person, &device, now_ms())?;
    let out = Initialised {
        home: ctx.home.root().display().to_string(),
        person: person.to_string(),
        device: device.clone(),
        device_id: replica.device_id().to_text(),
    };
    if ctx.json {
        return ctx.print_json(&out);
    }
    println!(
        "Started a new journal for {} on {}.",
        crate::safe::line(person),
        crate::safe::line(&device)
    );
    println!("  home:      {}", crate::safe::line(&out.home));
    println!("  device id: {}", replica.device_id().short());
    println!();
    println!("Write your first entry with `duet add`, or try `duet prompt` for a question to start with.");
    Ok(())
}

pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this device".to_string())
}
