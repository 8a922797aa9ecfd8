//! A `duet add` killed at any moment loses nothing it reported as saved,
//! and the store opens cleanly afterwards.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Device;

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn entries_reported_saved_survive_sigkill_at_random_moments() {
    let device = Device::init("Alex");
    // Compact often, so kills also land in the middle of compactions.
    let compact_after = "4";
    // How long an unkilled add takes here sets the range of kill moments.
    let mut typical = Duration::ZERO;
    for _ in 0..3 {
        let start = Instant::now();
        device.ok(&["add", "warm-up"]);
        typical = typical.max(start.elapsed());
    }
    let seed = std::env::var("DUET_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    eprintln!("seed {seed}, one add takes {typical:?}");
    let mut rng = Rng(seed);
    let mut saved = vec!["warm-up".to_string()];
    let mut kept = 0;
    let mut killed = 0;
    for i in 0..150 {
        let body = format!("durable entry {i}");
        let mut child = device
            .cmd(&["add", &body])
            .env("DUET_COMPACT_AFTER", compact_after)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let window = typical.as_micros() as u64 * 3 + 1;
        std::thread::sleep(Duration::from_micros(rng.next() % window));
        let _ = child.kill(); // SIGKILL on Unix
        let out = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout.starts_with("Saved") {
            saved.push(body);
            kept += 1;
        } else {
            killed += 1;
        }
    }
    eprintln!("{kept} saved, {killed} killed");
    assert!(
        killed > 0,
        "no add was interrupted; the test proved nothing"
    );
    assert!(kept > 0, "no add finished; the test proved nothing");

    let store = rusqlite::Connection::open(device.home().join("store.sqlite")).expect("open");
    let check: String = store
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    drop(store);

    let bodies = device.bodies();
    for body in &saved {
        assert!(
            bodies.contains(body),
            "`{body}` was reported saved but is gone"
        );
    }
    let mut unique: Vec<&String> = bodies.iter().filter(|b| *b != "warm-up").collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), bodies.len() - 3, "no entry is duplicated");
    // The journal still takes writes.
    device.ok(&["add", "after the storm"]);
}
