//! Live latency across two NATs, through a mirror (`docs/mirror.md`):
//! network namespaces with a public network holding the mirror and two
//! homes behind masquerading routers (`duet-netns`). Behind routers that
//! pick a new port per destination ("symmetric"), the devices stay
//! connected through the mirror's relay; behind routers that keep ports
//! ("cone"), they hole punch to a direct connection. Needs root, `ip` and
//! `nft`; without them the figures are left out, and the report says why.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use duet_daemon::child::{self, ChildDaemon};
use duet_netns::{NatKind, Net, Node, MIRROR_ADDR};
use serde::Serialize;

use crate::local::{self, Latency};
use crate::text::{self, Rng};

const MIRROR_PORT: u16 = 4001;
const STOP: Duration = Duration::from_secs(20);

#[derive(Clone, Serialize)]
pub struct NatReport {
    /// Live latency while the devices are connected through the relay.
    pub relayed: Latency,
    /// Live latency after hole punching made the connection direct.
    pub direct: Latency,
}

/// The figures, or why they could not be taken.
pub fn run(live_adds: usize, seed: u64) -> Result<NatReport, String> {
    duet_netns::available()?;
    let mut rng = Rng::new(seed);
    let relayed = measure(NatKind::Symmetric, "relayed", live_adds, &mut rng)
        .map_err(|e| format!("through the relay: {e:#}"))?;
    let direct = measure(NatKind::Cone, "direct", live_adds, &mut rng)
        .map_err(|e| format!("after hole punching: {e:#}"))?;
    Ok(NatReport { relayed, direct })
}

fn daemon(
    duet: &Path,
    home: &Path,
    args: &[&str],
    wrapper: &[&str],
) -> anyhow::Result<ChildDaemon> {
    let options = child::Options {
        env: &[("RUST_LOG", "warn")],
        args,
        wrapper,
        ..child::Options::default()
    };
    ChildDaemon::start(duet, home, &options).context("the daemon did not start")
}

fn status(duet: &Path, home: &Path) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(&local::output(
        duet,
        home,
        &["--json", "status"],
    )?)?)
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
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("timed out after {limit:?}")
}

/// Pairs `joiner` into `inviter`'s journal on loopback (as a mirror with
/// `mirror`).
fn pair(duet: &Path, inviter: &Path, joiner: &Path, extra: &[&str]) -> anyhow::Result<()> {
    use std::io::BufRead;
    let mut invite = Command::new(duet)
        .args(["--json", "invite", "--yes", "--no-qr", "--timeout", "2m"])
        .env("DUET_HOME", inviter)
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
    let uri = v["uri"]
        .as_str()
        .ok_or_else(|| anyhow!("no link"))?
        .to_string();
    let out = Command::new(duet)
        .args(["join", "--no-mdns", "--timeout", "60s"])
        .args(extra)
        .env("DUET_HOME", joiner)
        .env("DUET_URI", &uri)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!("join failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = lines.next();
    let _ = invite.wait();
    Ok(())
}

/// Alex, a mirror and Sam, paired on loopback, then apart behind two NATs
/// of `kind`; live latency once the connection is `via`.
fn measure(kind: NatKind, via: &str, live_adds: usize, rng: &mut Rng) -> anyhow::Result<Latency> {
    let duet = local::duet_binary()?;
    let dir = tempfile::tempdir()?;
    let (alex, mirror, sam) = (
        dir.path().join("alex"),
        dir.path().join("mirror"),
        dir.path().join("sam"),
    );
    local::output(
        &duet,
        &alex,
        &["init", "--person", "Alex", "--device", "laptop"],
    )?;
    let public = format!("/ip4/{MIRROR_ADDR}/tcp/{MIRROR_PORT}");
    let loopback = ["--listen", "/ip4/127.0.0.1/tcp/0"];
    let (alex_id, sam_id) = {
        let a = daemon(&duet, &alex, &loopback, &[])?;
        pair(&duet, &alex, &mirror, &["--mirror", "--device", "mirror"])?;
        let m = daemon(
            &duet,
            &mirror,
            &["--listen", "/ip4/127.0.0.1/tcp/0", "--announce", &public],
            &[],
        )?;
        pair(
            &duet,
            &alex,
            &sam,
            &["--person", "Sam", "--device", "desktop"],
        )?;
        let s = daemon(&duet, &sam, &loopback, &[])?;
        // Both learn where the mirror will be.
        wait_until(Duration::from_secs(60), || {
            Ok([&alex, &sam].iter().all(|home| {
                status(&duet, home).is_ok_and(|v| v.to_string().contains(&MIRROR_ADDR.to_string()))
            }))
        })
        .context("the devices did not learn the mirror's address")?;
        let ids = (
            status(&duet, &alex)?["status"]["device_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            status(&duet, &sam)?["status"]["device_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        for d in [s, m, a] {
            d.stop(STOP);
        }
        ids
    };
    let net = Net::new(kind, kind).context("building the networks")?;
    let in_ns = |node: Node| net.ns(node);
    let (ns_m, ns_a, ns_b) = (in_ns(Node::Mirror), in_ns(Node::HostA), in_ns(Node::HostB));
    let mirror_listen = format!("/ip4/0.0.0.0/tcp/{MIRROR_PORT}");
    let any = ["--listen", "/ip4/0.0.0.0/tcp/0"];
    let m = daemon(
        &duet,
        &mirror,
        &["--listen", &mirror_listen],
        &["ip", "netns", "exec", &ns_m],
    )?;
    let a = daemon(&duet, &alex, &any, &["ip", "netns", "exec", &ns_a])?;
    let s = daemon(&duet, &sam, &any, &["ip", "netns", "exec", &ns_b])?;
    wait_until(Duration::from_secs(90), || {
        let v = status(&duet, &sam)?;
        Ok(v["status"]["peers"].as_array().is_some_and(|p| {
            p.iter()
                .any(|p| p["device_id"] == alex_id.as_str() && p["via"] == via)
        }))
    })
    .with_context(|| format!("no {via} connection between the homes"))?;
    let _ = sam_id;
    let sam_store = rusqlite::Connection::open(sam.join("store.sqlite"))?;
    let alex_device = duet_core::DeviceId::from_text(&alex_id).ok_or_else(|| anyhow!("id"))?;
    let held = |conn: &rusqlite::Connection| -> u64 {
        conn.query_row(
            "SELECT seq FROM vector WHERE author = ?1",
            [alex_device.0.as_slice()],
            |r| r.get::<_, i64>(0),
        )
        .map(|s| s as u64)
        .unwrap_or(0)
    };
    let mut live = Vec::new();
    for _ in 0..live_adds {
        let before = held(&sam_store);
        local::output(&duet, &alex, &["add", &text::entry(rng, 400)])?;
        let returned = Instant::now();
        let deadline = returned + Duration::from_secs(30);
        while held(&sam_store) <= before {
            if Instant::now() > deadline {
                bail!("an entry did not arrive within 30 s");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        live.push(returned.elapsed());
    }
    for d in [s, a, m] {
        d.stop(STOP);
    }
    drop(net);
    Ok(local::latency(live))
}
