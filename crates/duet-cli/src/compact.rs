//! `duet compact`: fold stored envelopes into one sealed snapshot.

use serde::Serialize;

use crate::context::Context;

#[derive(Serialize)]
struct Report {
    compacted: bool,
    snapshot_bytes: usize,
    envelopes_left: usize,
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let mut replica = ctx.open()?;
    let report = match replica.compact()? {
        Some(c) => Report {
            compacted: true,
            snapshot_bytes: c.snapshot_bytes,
            envelopes_left: c.envelopes_left,
        },
        None => Report {
            compacted: false,
            snapshot_bytes: 0,
            envelopes_left: replica.store().envelope_count()?,
        },
    };
    if ctx.json {
        return ctx.print_json(&report);
    }
    if report.compacted {
        println!(
            "Compacted the journal into a {} KiB snapshot; {} envelopes remain outside it.",
            report.snapshot_bytes.div_ceil(1024),
            report.envelopes_left
        );
    } else {
        println!("Nothing to compact.");
    }
    Ok(())
}
