//! Two real `duet daemon` processes on loopback: pairing with the whole
//! journal, live latency, the CLI with a daemon, the daemon's memory and
//! idle CPU, and what a reconnect of synced devices costs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use duet_core::home::Home;
use duet_daemon::child::{self, ChildDaemon};
use serde::Serialize;

use crate::limit::{self, Limit};
use crate::local::{self, Latency};
use crate::procfs;
use crate::relay::Relay;
use crate::text::{self, Rng};
use crate::web::{self, TimelineReport};

/// How long a daemon may take to stop on SIGTERM.
const STOP: Duration = Duration::from_secs(20);

#[derive(Clone, Serialize)]
pub struct NetReport {
    pub entries: usize,
    pub limit: Limit,
    /// `duet join` on a fresh device, through to the whole journal stored:
    /// SPAKE2, confirmation, and the journal as one sealed snapshot.
    pub join_seconds: f64,
    pub join_bytes: u64,
    pub join_to_limit: f64,
    pub live: Latency,
    pub live_adds: usize,
    pub add_with_daemon: Latency,
    pub log_with_daemon: Latency,
    /// `duet ui`'s timeline page, daemon running, timed from loopback.
    pub timeline_with_daemon: TimelineReport,
    pub daemon_rss_peak_bytes: u64,
    pub daemon_rss_steady_bytes: u64,
    /// Alex's daemon's resident memory after each step, to see which step
    /// grows it.
    pub daemon_rss_steps: Vec<RssStep>,
    pub idle_cpu_percent: f64,
    pub reconnect_bytes: u64,
    pub reconnect_seconds: f64,
}

/// A daemon's resident memory after one step of the run.
#[derive(Clone, Serialize)]
pub struct RssStep {
    pub after: &'static str,
    pub peak_bytes: u64,
    pub current_bytes: u64,
}

fn rss_step(after: &'static str, pid: u32) -> RssStep {
    let (peak_bytes, current_bytes) = procfs::rss(pid).unwrap_or((0, 0));
    RssStep {
        after,
        peak_bytes,
        current_bytes,
    }
}

/// Starts `duet daemon` for `home`, logging warnings to `log`.
fn daemon(duet: &Path, home: &Path, log: &Path) -> anyhow::Result<ChildDaemon> {
    let options = child::Options {
        log: Some(log),
        env: &[("RUST_LOG", "warn")],
        ..child::Options::default()
    };
    ChildDaemon::start(duet, home, &options).context("the daemon did not start")
}

fn wait_until(
    limit: Duration,
    mut ready: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready()? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bail!("timed out after {limit:?}")
}

fn addrs(home: &Path) -> anyhow::Result<Vec<String>> {
    Ok(duet_daemon::client::listen_addrs(home))
}

/// The highest contiguous sequence `home`'s store holds from `author`.
fn held_from(conn: &rusqlite::Connection, author: &[u8]) -> u64 {
    conn.query_row("SELECT seq FROM vector WHERE author = ?1", [author], |r| {
        r.get::<_, i64>(0)
    })
    .map(|s| s as u64)
    .unwrap_or(0)
}

fn port_of(addr: &str) -> anyhow::Result<u16> {
    addr.rsplit('/')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow!("no port in {addr}"))
}

pub fn run(
    entries: usize,
    live_adds: usize,
    runs: usize,
    seed: u64,
    after_removal: bool,
) -> anyhow::Result<NetReport> {
    let duet = local::duet_binary()?;
    let dir = tempfile::tempdir()?;
    let alex_home = dir.path().join("alex");
    let sam_home = dir.path().join("sam");
    let mut rng = Rng::new(seed);

    eprintln!("[{entries}] building Alex's journal...");
    let home = Home::new(&alex_home);
    local::build_journal(&home, entries, &mut rng)?;
    let (alex_id, saved) = {
        let replica = home.open()?;
        (replica.device_id(), replica.journal().save())
    };
    let limit = limit::measure(&saved, entries)?;
    eprintln!("[{entries}] in-memory limit: {:.1} ms", limit.seconds * 1e3);

    let alex = daemon(&duet, &alex_home, &dir.path().join("alex.log"))?;
    let alex_addr = addrs(&alex_home)?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no address"))?;
    let mut steps = vec![rss_step("start", alex.pid())];
    let relay = Relay::start(([127, 0, 0, 1], port_of(&alex_addr)?).into())?;
    let via_relay = format!("/ip4/127.0.0.1/tcp/{}", relay.addr.port());

    if after_removal {
        // A phone joins and is removed: the journal is in its second key
        // epoch for everything measured after.
        eprintln!("[{entries}] pairing and removing Alex's phone...");
        let phone_home = dir.path().join("phone");
        pair(
            &duet,
            &alex_home,
            &phone_home,
            ("Alex", "phone"),
            &via_relay,
            &relay,
        )?;
        let phone = Home::new(&phone_home).open()?.device_id().to_text();
        local::output(&duet, &alex_home, &["devices", "remove", &phone, "--yes"])?;
    }
    eprintln!("[{entries}] pairing Sam's laptop...");
    let (join_seconds, join_bytes) = pair(
        &duet,
        &alex_home,
        &sam_home,
        ("Sam", "laptop"),
        &via_relay,
        &relay,
    )?;
    steps.push(rss_step("pairing", alex.pid()));
    let sam_store = rusqlite::Connection::open(PathBuf::from(&sam_home).join("store.sqlite"))?;
    let alex_store = rusqlite::Connection::open(alex_home.join("store.sqlite"))?;
    let target = held_from(&alex_store, &alex_id.0);
    if held_from(&sam_store, &alex_id.0) < target {
        bail!("Sam's laptop did not receive the whole journal when it joined");
    }
    if after_removal {
        let epochs: Option<Vec<u8>> = sam_store
            .query_row("SELECT value FROM meta WHERE key = 'epochs'", [], |r| {
                r.get(0)
            })
            .ok();
        if epochs.is_none() {
            bail!("Sam's laptop did not receive the second key epoch when it joined");
        }
    }

    let sam = daemon(&duet, &sam_home, &dir.path().join("sam.log"))?;
    wait_until(Duration::from_secs(30), || {
        let out = local::output(&duet, &sam_home, &["--json", "status"])?;
        let v: serde_json::Value = serde_json::from_str(&out)?;
        Ok(v["status"]["peers"][0]["connected"] == true)
    })
    .context("the devices did not connect")?;

    eprintln!("[{entries}] live latency, {live_adds} entries one at a time...");
    let mut live = Vec::new();
    let mut adds = Vec::new();
    for _ in 0..live_adds {
        let before = held_from(&sam_store, &alex_id.0);
        let body = text::entry(&mut rng, 400);
        let start = Instant::now();
        local::output(&duet, &alex_home, &["add", &body])?;
        let returned = Instant::now();
        adds.push(returned - start);
        let deadline = returned + Duration::from_secs(30);
        loop {
            if held_from(&sam_store, &alex_id.0) > before {
                break;
            }
            if Instant::now() > deadline {
                bail!("an entry did not arrive within 30 s");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        live.push(returned.elapsed());
    }
    steps.push(rss_step("live adds", alex.pid()));
    let mut logs = Vec::new();
    for _ in 0..runs {
        logs.push(local::time(&duet, &alex_home, &["log", "-n", "20"])?);
    }
    eprintln!("[{entries}] the timeline page of `duet ui`, {runs} requests...");
    steps.push(rss_step("logs", alex.pid()));
    let timeline = web::run(&duet, &alex_home, runs)?;
    steps.push(rss_step("timeline", alex.pid()));

    eprintln!("[{entries}] daemon memory and 10 idle seconds of CPU...");
    std::thread::sleep(Duration::from_secs(1));
    let cpu_before = procfs::cpu_seconds(alex.pid()).unwrap_or(0.0);
    std::thread::sleep(Duration::from_secs(10));
    let cpu_after = procfs::cpu_seconds(alex.pid()).unwrap_or(0.0);
    let (peak, steady) = procfs::rss(alex.pid()).unwrap_or((0, 0));
    steps.push(rss_step("idle", alex.pid()));
    for step in &steps {
        eprintln!(
            "[{entries}] daemon RSS after {}: {:.1} MB (peak {:.1} MB)",
            step.after,
            step.current_bytes as f64 / 1e6,
            step.peak_bytes as f64 / 1e6
        );
    }

    eprintln!("[{entries}] reconnect of synced devices...");
    sam.stop(STOP);
    let relay2 = Relay::start(([127, 0, 0, 1], port_of(&alex_addr)?).into())?;
    sam_store.execute(
        "UPDATE peers SET addrs = ?1 WHERE device = ?2",
        rusqlite::params![
            format!("[\"/ip4/127.0.0.1/tcp/{}\"]", relay2.addr.port()),
            alex_id.0.as_slice()
        ],
    )?;
    let last_sync = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row(
            "SELECT COALESCE(last_sync, 0) FROM peers WHERE device = ?1",
            [alex_id.0.as_slice()],
            |r| r.get(0),
        )
        .unwrap_or(0)
    };
    let synced_before = last_sync(&sam_store);
    let start = Instant::now();
    let sam = daemon(&duet, &sam_home, &dir.path().join("sam2.log"))?;
    wait_until(Duration::from_secs(30), || {
        Ok(last_sync(&sam_store) > synced_before)
    })
    .context("the devices did not confirm they are in sync")?;
    let reconnect_seconds = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let reconnect_bytes = relay2.bytes();
    sam.stop(STOP);
    alex.stop(STOP);

    Ok(NetReport {
        entries,
        join_to_limit: join_seconds / limit.seconds,
        limit,
        join_seconds,
        join_bytes,
        live: local::latency(live),
        live_adds,
        add_with_daemon: local::latency(adds),
        log_with_daemon: local::latency(logs),
        timeline_with_daemon: timeline,
        daemon_rss_peak_bytes: peak,
        daemon_rss_steady_bytes: steady,
        daemon_rss_steps: steps,
        idle_cpu_percent: (cpu_after - cpu_before) / 10.0 * 100.0,
        reconnect_bytes,
        reconnect_seconds,
    })
}

/// Runs `duet invite` on Alex and `duet join` on Sam through the relay.
fn pair(
    duet: &Path,
    alex: &Path,
    sam: &Path,
    (person, name): (&str, &str),
    addr: &str,
    relay: &Relay,
) -> anyhow::Result<(f64, u64)> {
    use std::io::BufRead;
    let mut invite = Command::new(duet)
        .args(["--json", "invite", "--yes", "--no-qr", "--timeout", "10m"])
        .env("DUET_HOME", alex)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = invite.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines
        .next()
        .ok_or_else(|| anyhow!("invite printed nothing"))??;
    let v: serde_json::Value = serde_json::from_str(&first)?;
    let code = v["code"]
        .as_str()
        .ok_or_else(|| anyhow!("no code"))?
        .to_string();
    let before = relay.bytes();
    let start = Instant::now();
    let out = Command::new(duet)
        .args([
            "join",
            "--person",
            person,
            "--device",
            name,
            "--no-mdns",
            "--addr",
            addr,
            "--timeout",
            "5m",
        ])
        .env("DUET_HOME", sam)
        .env("DUET_CODE", &code)
        .stdin(Stdio::null())
        .output()?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("join failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = lines.next();
    let _ = invite.wait();
    Ok((seconds, relay.bytes() - before))
}
