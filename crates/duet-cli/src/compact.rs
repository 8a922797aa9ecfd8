//! `duet compact`: fold the journal's history (every change stored one by
//! one) into one sealed snapshot, which takes less room.

use std::path::Path;

use serde::Serialize;

use crate::context::Context;

#[derive(Serialize)]
struct Report {
    compacted: bool,
    snapshot_bytes: usize,
    /// Changes (envelopes) still stored beside the snapshot.
    envelopes_left: usize,
    /// Changes folded into the snapshot this time.
    changes_folded: usize,
    /// The store's size on disk before and after, in bytes.
    store_bytes_before: u64,
    store_bytes_after: u64,
}

/// The store's size on disk, with its write-ahead log.
fn store_bytes(path: &Path) -> u64 {
    let wal = path.with_extension("sqlite-wal");
    [path, wal.as_path()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let mut replica = ctx.open()?;
    let path = ctx.home.store_path();
    let before = replica.store().envelope_count()?;
    let store_bytes_before = store_bytes(&path);
    let report = match replica.compact()? {
        Some(c) => Report {
            compacted: true,
            snapshot_bytes: c.snapshot_bytes,
            envelopes_left: c.envelopes_left,
            changes_folded: before.saturating_sub(c.envelopes_left),
            store_bytes_before,
            store_bytes_after: store_bytes(&path),
        },
        None => Report {
            compacted: false,
            snapshot_bytes: 0,
            envelopes_left: before,
            changes_folded: 0,
            store_bytes_before,
            store_bytes_after: store_bytes_before,
        },
    };
    if ctx.json {
        return ctx.print_json(&report);
    }
    if !report.compacted {
        println!("Nothing to compact: the history is already folded.");
        return Ok(());
    }
    let saved = report
        .store_bytes_before
        .saturating_sub(report.store_bytes_after);
    println!(
        "Folded {} into one snapshot of {}; the journal now takes {} on disk{}.",
        plural(report.changes_folded, "change"),
        kib(report.snapshot_bytes as u64),
        kib(report.store_bytes_after),
        if saved > 0 {
            format!(" ({} saved)", kib(saved))
        } else {
            String::new()
        }
    );
    Ok(())
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// "34 KiB", "1.2 MiB".
fn kib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}
