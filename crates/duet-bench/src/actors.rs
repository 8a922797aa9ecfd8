//! One automerge actor per session, or one per device: what a journal's
//! document costs to load either way (`--actors N`).
//!
//! duet gives each session (each `duet add`, each daemon run) a fresh
//! actor, so that a restored or copied home can never reuse an actor's
//! sequence number (automerge refuses a second change under one). Each
//! actor is a 40-byte id in the document and a column of its history. This
//! builds a journal of N entries both ways, one entry per session (the
//! most actors a journal of N entries can have), and loads each in a
//! fresh process: load time (median of 5) and peak memory.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use duet_core::journal::{Author, DeviceRecord, Journal, NewEntry};
use duet_core::{DeviceId, JournalId};

pub fn run(entries: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!("A journal of {entries} entries, loaded in a fresh process (median of 5 loads):");
    println!(
        "{:<28} {:>12} {:>12} {:>14}",
        "actors", "saved bytes", "load ms", "peak RSS MB"
    );
    for per_session in [false, true] {
        let saved = build(entries, per_session)?;
        let path = dir
            .path()
            .join(if per_session { "sessions" } else { "one" });
        std::fs::write(&path, &saved)?;
        let out = Command::new(std::env::current_exe()?)
            .arg("--load-doc")
            .arg(&path)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "loading failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        let mut parts = said.split_whitespace();
        let ms: f64 = parts.next().unwrap_or("0").parse()?;
        let peak: f64 = parts.next().unwrap_or("0").parse()?;
        let label = if per_session {
            format!("one per session ({entries})")
        } else {
            "one per device (1)".to_string()
        };
        println!(
            "{label:<28} {:>12} {ms:>12.1} {:>14.1}",
            saved.len(),
            peak / 1e6
        );
    }
    Ok(())
}

/// A journal of `entries` entries by one device, each under a fresh actor
/// when `per_session`.
fn build(entries: usize, per_session: bool) -> anyhow::Result<Vec<u8>> {
    let device = DeviceId([7; 32]);
    let record = DeviceRecord {
        id: device.to_text(),
        person: "Alex".into(),
        name: "laptop".into(),
        added_by: None,
        added_at: 1_700_000_000_000,
        role: None,
    };
    let (mut journal, _) = Journal::genesis(&JournalId([1; 16]), &record, 1_700_000_000_000)?;
    journal.write_as(&device);
    let author = Author {
        person: "Alex".into(),
        device,
    };
    let mut rng = crate::text::Rng::new(2026);
    for i in 0..entries {
        if per_session {
            journal.write_as(&device);
        }
        let entry = NewEntry {
            body: crate::text::entry(&mut rng, 300),
            ..NewEntry::default()
        };
        journal.add_entry(&author, entry, 1_700_000_000_000 + i as i64 * 60_000)?;
    }
    Ok(journal.save())
}

/// The child's side: loads the document at `path` five times and prints
/// the median milliseconds and this process's peak RSS in bytes.
pub fn load(path: &Path) -> anyhow::Result<()> {
    let saved = std::fs::read(path)?;
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let journal = Journal::load(Some(&saved), [])?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(journal);
    }
    times.sort_by(f64::total_cmp);
    let peak = crate::procfs::rss(std::process::id()).map_or(0, |(peak, _)| peak);
    println!("{} {peak}", times[2]);
    Ok(())
}
