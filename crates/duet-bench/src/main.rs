//! `duet-bench`: measures duet on this machine.
//!
//! ```text
//! cargo run --release -p duet-bench -- [--entries N] [--quick] [--json FILE]
//! ```
//!
//! Today it measures the local journal (issue 2): the wall time of
//! `duet add` and `duet log -n 20` on a journal of N entries of ~400 bytes,
//! and the store's bytes per plaintext byte before and after compaction.
//! Sync figures join it with the daemon.

mod local;
mod profile;
mod text;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Benchmarks duet end to end on this machine")]
struct Args {
    /// Entries in the journal.
    #[arg(long, default_value_t = 10_000)]
    entries: usize,
    /// A small run (1,000 entries, few repetitions) that checks it works.
    #[arg(long)]
    quick: bool,
    /// Also write the results here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Seed for the generated text.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Keep the benchmark's journal (its path is printed) for profiling.
    #[arg(long)]
    keep: bool,
    /// Instead of benchmarking, show where opening this home's journal
    /// spends its time.
    #[arg(long, value_name = "HOME")]
    profile: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(home) = &args.profile {
        return profile::run(home);
    }
    let entries = if args.quick { 1_000 } else { args.entries };
    let runs = if args.quick { 5 } else { 25 };
    let report = local::run(entries, runs, args.seed, args.keep)?;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}
