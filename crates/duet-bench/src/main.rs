//! `duet-bench`: duet measured end to end against the best the machine
//! could do, in one run, so the figures are ratios that hold on a noisy
//! machine.
//!
//! ```text
//! cargo run --release -p duet-bench -- [--entries N] [--quick] [--json FILE]
//! ```
//!
//! Without `--entries` it measures journals of 1,000, 10,000 and 40,000
//! entries (the growth figures need all three); the single-device CLI and
//! disk figures are taken at 10,000. `--quick` runs 1,000 entries and a
//! few repetitions, and checks only that every entry arrived. As root, it
//! also measures live latency between two homes behind NAT, through a
//! mirror's relay and after hole punching (`nat.rs`); `--no-nat` skips it.

mod actors;
mod limit;
mod local;
mod nat;
mod net;
mod procfs;
mod profile;
mod relay;
mod text;
mod web;

use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Benchmarks duet end to end on this machine")]
struct Args {
    /// Measure only a journal of this many entries.
    #[arg(long)]
    entries: Option<usize>,
    /// Only compare one automerge actor per session with one per device,
    /// for a journal of this many entries.
    #[arg(long, value_name = "ENTRIES")]
    actors: Option<usize>,
    /// Pair and remove a third device first, so that everything measured
    /// runs in the journal's second key epoch.
    #[arg(long)]
    after_removal: bool,
    /// (Internal: the child of `--actors`.)
    #[arg(long, hide = true)]
    load_doc: Option<PathBuf>,
    /// A small run (1,000 entries, few repetitions) that checks it works.
    #[arg(long)]
    quick: bool,
    /// Also write the results here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Skip the live latency across two NATs (network namespaces, root).
    #[arg(long)]
    no_nat: bool,
    /// Seed for the generated text.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Keep the single-device benchmark's journal (its path is printed).
    #[arg(long)]
    keep: bool,
    /// Instead of benchmarking, show where opening this home's journal
    /// spends its time.
    #[arg(long, value_name = "HOME")]
    profile: Option<PathBuf>,
}

#[derive(Serialize)]
struct Report {
    machine: String,
    local: local::Report,
    net: Vec<net::NetReport>,
    /// Across two NATs, or why not measured.
    nat: Result<nat::NatReport, String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(home) = &args.profile {
        return profile::run(home);
    }
    if let Some(path) = &args.load_doc {
        return actors::load(path);
    }
    if let Some(entries) = args.actors {
        return actors::run(entries);
    }
    let (sizes, local_size, live_adds, runs) = match (args.quick, args.entries) {
        (true, _) => (vec![1_000], 1_000, 50, 5),
        (false, Some(n)) => (vec![n], n, 200, 25),
        (false, None) => (vec![1_000, 10_000, 40_000], 10_000, 200, 25),
    };
    let local = local::run(local_size, runs, args.seed, args.keep)?;
    let mut net = Vec::new();
    for &n in &sizes {
        net.push(net::run(n, live_adds, runs, args.seed, args.after_removal)?);
    }
    let nat = if args.no_nat {
        Err("skipped (--no-nat)".to_string())
    } else {
        eprintln!("live latency across two NATs, through a mirror...");
        nat::run(if args.quick { 20 } else { 100 }, args.seed)
    };
    let report = Report {
        machine: machine(),
        local,
        net,
        nat,
    };
    print!("{}", table(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

fn table(r: &Report) -> String {
    let mut t = String::new();
    t.push_str(&format!("duet benchmark on {}\n\n", r.machine));
    t.push_str(&r.local.table());
    let cols: Vec<String> = r
        .net
        .iter()
        .map(|n| format!("{:>14}", format!("{} entries", n.entries)))
        .collect();
    t.push_str(&format!(
        "\n{:<44}{}\n",
        "two daemons on loopback",
        cols.join("")
    ));
    let row = |t: &mut String, name: &str, f: &dyn Fn(&net::NetReport) -> String| {
        let cells: Vec<String> = r.net.iter().map(|n| format!("{:>14}", f(n))).collect();
        t.push_str(&format!("{name:<44}{}\n", cells.join("")));
    };
    let ms = |s: f64| format!("{:.1} ms", s * 1e3);
    row(&mut t, "(1) in-memory automerge sync (the limit)", &|n| {
        ms(n.limit.seconds)
    });
    row(&mut t, "    its rounds / bytes", &|n| {
        format!("{} / {} KB", n.limit.rounds, n.limit.bytes / 1024)
    });
    row(&mut t, "(2) join: pair + whole journal stored", &|n| {
        ms(n.join_seconds)
    });
    row(&mut t, "    bytes on the wire", &|n| {
        format!("{} KB", n.join_bytes / 1024)
    });
    row(&mut t, "    ratio to the limit", &|n| {
        format!("{:.1}x", n.join_to_limit)
    });
    row(&mut t, "(3) live latency p50", &|n| {
        format!("{:.1} ms", n.live.p50_ms)
    });
    row(&mut t, "    p99", &|n| format!("{:.1} ms", n.live.p99_ms));
    row(&mut t, "    max", &|n| format!("{:.1} ms", n.live.max_ms));
    row(&mut t, "(4) duet add, daemon running, p50", &|n| {
        format!("{:.1} ms", n.add_with_daemon.p50_ms)
    });
    row(&mut t, "    duet log -n 20, daemon running, p50", &|n| {
        format!("{:.1} ms", n.log_with_daemon.p50_ms)
    });
    row(&mut t, "    timeline page (duet ui), p50", &|n| {
        format!("{:.1} ms", n.timeline_with_daemon.page.p50_ms)
    });
    row(&mut t, "    timeline page, p95", &|n| {
        format!("{:.1} ms", n.timeline_with_daemon.page.p95_ms)
    });
    row(&mut t, "    timeline, search matching nothing, p50", &|n| {
        format!("{:.1} ms", n.timeline_with_daemon.search.p50_ms)
    });
    row(&mut t, "    timeline, search matching nothing, p95", &|n| {
        format!("{:.1} ms", n.timeline_with_daemon.search.p95_ms)
    });
    row(&mut t, "(5) daemon RSS peak", &|n| {
        format!("{:.1} MB", n.daemon_rss_peak_bytes as f64 / 1e6)
    });
    row(&mut t, "    daemon RSS steady", &|n| {
        format!("{:.1} MB", n.daemon_rss_steady_bytes as f64 / 1e6)
    });
    row(&mut t, "    idle CPU over 10 s (% of a core)", &|n| {
        format!("{:.2} %", n.idle_cpu_percent)
    });
    row(&mut t, "(7) reconnect of synced devices: bytes", &|n| {
        format!("{} B", n.reconnect_bytes)
    });
    row(&mut t, "    time to confirm in sync", &|n| {
        ms(n.reconnect_seconds)
    });
    let at = |n: usize| r.net.iter().find(|x| x.entries == n);
    if let (Some(a), Some(b)) = (at(10_000), at(40_000)) {
        t.push_str(&format!(
            "\n(8) growth 10,000 -> 40,000 entries: join {:.2}x (linear would be 4x), live p50 {:.2}x\n",
            b.join_seconds / a.join_seconds,
            b.live.p50_ms / a.live.p50_ms
        ));
    }
    let loopback = r.net.iter().find(|n| n.entries == 10_000).or(r.net.first());
    t.push_str("\n(9) live latency, two homes behind NAT with a mirror   p50        p99\n");
    if let Some(n) = loopback {
        t.push_str(&format!(
            "    loopback, direct (as (3))                   {:>7.1} ms {:>7.1} ms\n",
            n.live.p50_ms, n.live.p99_ms
        ));
    }
    match &r.nat {
        Ok(nat) => {
            t.push_str(&format!(
                "    through the mirror's relay (symmetric NATs) {:>7.1} ms {:>7.1} ms\n",
                nat.relayed.p50_ms, nat.relayed.p99_ms
            ));
            t.push_str(&format!(
                "    hole punched to direct (cone NATs)          {:>7.1} ms {:>7.1} ms\n",
                nat.direct.p50_ms, nat.direct.p99_ms
            ));
        }
        Err(why) => t.push_str(&format!("    not measured: {why}\n")),
    }
    t
}
