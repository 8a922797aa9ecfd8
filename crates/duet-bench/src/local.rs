//! The local journal: CLI latency and bytes on disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use duet_core::home::Home;
use duet_core::journal::{EntryKind, NewEntry};
use serde::Serialize;

use crate::text::{self, Rng};

#[derive(Clone, Serialize)]
pub struct Latency {
    pub runs: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Serialize)]
pub struct Report {
    pub entries: usize,
    pub plaintext_bytes: u64,
    pub build_seconds: f64,
    pub add: Latency,
    pub log_20: Latency,
    pub store_bytes_before_compaction: u64,
    pub store_bytes_after_compaction: u64,
    pub bytes_per_plaintext_byte_before: f64,
    pub bytes_per_plaintext_byte_after: f64,
}

impl Report {
    pub fn table(&self) -> String {
        let mut t = String::new();
        t.push_str(&format!(
            "one device, no daemon: {} entries, {:.1} MB of text (built in {:.1} s)\n\n",
            self.entries,
            self.plaintext_bytes as f64 / 1e6,
            self.build_seconds
        ));
        t.push_str("(4),(6)                         p50        p90        max\n");
        for (name, l) in [("duet add", &self.add), ("duet log -n 20", &self.log_20)] {
            t.push_str(&format!(
                "{name:<28}{:>7.1} ms {:>7.1} ms {:>7.1} ms   ({} runs)\n",
                l.p50_ms, l.p90_ms, l.max_ms, l.runs
            ));
        }
        t.push_str(&format!(
            "\nstore bytes per plaintext byte: {:.3} before compaction ({:.1} MB), {:.3} after ({:.1} MB)\n",
            self.bytes_per_plaintext_byte_before,
            self.store_bytes_before_compaction as f64 / 1e6,
            self.bytes_per_plaintext_byte_after,
            self.store_bytes_after_compaction as f64 / 1e6,
        ));
        t
    }
}

pub fn run(entries: usize, runs: usize, seed: u64, keep: bool) -> anyhow::Result<Report> {
    let duet = duet_binary()?;
    let dir = tempfile::tempdir()?;
    let home = Home::new(dir.path().join("alex"));
    let mut rng = Rng::new(seed);

    eprintln!("building a journal of {entries} entries...");
    let started = Instant::now();
    let mut plaintext = build_journal(&home, entries, &mut rng)?;
    if keep {
        eprintln!("keeping the journal at {}", home.root().display());
        let _ = dir.keep();
    }
    let build_seconds = started.elapsed().as_secs_f64();

    let store_bytes_before = store_bytes(home.root());
    eprintln!("timing `duet add` and `duet log -n 20` ({runs} runs each)...");
    let mut adds = Vec::new();
    let mut logs = Vec::new();
    for _ in 0..runs {
        let body = text::entry(&mut rng, 400);
        plaintext += body.len() as u64;
        adds.push(time(&duet, home.root(), &["add", &body])?);
        logs.push(time(&duet, home.root(), &["log", "-n", "20"])?);
    }
    let shown = output(&duet, home.root(), &["--json", "log", "-n", "20"])?;
    let listed: serde_json::Value = serde_json::from_str(&shown)?;
    if listed.as_array().map(Vec::len) != Some(20) {
        bail!("`duet log -n 20` did not list 20 entries");
    }
    output(&duet, home.root(), &["compact"])?;
    let store_bytes_after = store_bytes(home.root());
    Ok(Report {
        entries,
        plaintext_bytes: plaintext,
        build_seconds,
        add: latency(adds),
        log_20: latency(logs),
        store_bytes_before_compaction: store_bytes_before,
        store_bytes_after_compaction: store_bytes_after,
        bytes_per_plaintext_byte_before: store_bytes_before as f64 / plaintext as f64,
        bytes_per_plaintext_byte_after: store_bytes_after as f64 / plaintext as f64,
    })
}

/// A new journal for Alex in `home` with `entries` entries of ~400 bytes,
/// written as `duet add` would; returns the plaintext bytes written.
pub fn build_journal(home: &Home, entries: usize, rng: &mut Rng) -> anyhow::Result<u64> {
    let mut replica = home.init("Alex", "laptop", 1_700_000_000_000)?;
    let mut plaintext = 0u64;
    for i in 0..entries {
        let body = text::entry(rng, 400);
        plaintext += body.len() as u64;
        let new = NewEntry {
            kind: EntryKind::ALL[i % EntryKind::ALL.len()],
            tags: vec![format!("t{}", i % 17)],
            mood: None,
            prompt: None,
            body,
        };
        let at = 1_700_000_000_000 + i as i64 * 60_000;
        replica.commit(|j, a| j.add_entry(a, new, at))?;
        replica.maybe_compact()?;
    }
    Ok(plaintext)
}

/// The `duet` binary beside this one, built in the same profile.
pub fn duet_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me
        .parent()
        .context("no directory for the benchmark binary")?;
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", "duet", "--bin", "duet"]);
    if profile == "release" {
        build.arg("--release");
    }
    if let Some(target) = dir.parent() {
        build.arg("--target-dir").arg(target);
    }
    if !build.status()?.success() {
        bail!("building the duet binary failed");
    }
    Ok(dir.join("duet"))
}

pub fn time(duet: &Path, home: &Path, args: &[&str]) -> anyhow::Result<Duration> {
    let start = Instant::now();
    output(duet, home, args)?;
    Ok(start.elapsed())
}

pub fn output(duet: &Path, home: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(duet)
        .args(args)
        .env("DUET_HOME", home)
        .output()?;
    if !out.status.success() {
        bail!(
            "duet {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Bytes of the store file and its WAL and shared-memory files.
pub fn store_bytes(home: &Path) -> u64 {
    ["store.sqlite", "store.sqlite-wal", "store.sqlite-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(home.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

pub fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    Latency {
        runs: samples.len(),
        p50_ms: at(0.5),
        p90_ms: at(0.9),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        max_ms: samples.last().map_or(0.0, |d| ms(*d)),
    }
}
