//! `duet demo`: the whole story on one machine. Two devices in temporary
//! homes, Alex's and Sam's, each with its own daemon on loopback; they pair
//! with a code phrase, write, lose touch, write again, and converge. Every
//! step runs the real `duet` binary, as a person would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use duet_daemon::child::{self, ChildDaemon};

#[derive(clap::Args)]
pub struct Args {
    /// Keep the temporary homes afterwards (their path is printed).
    #[arg(long)]
    keep: bool,
}

struct Device {
    name: &'static str,
    home: PathBuf,
    daemon: Option<ChildDaemon>,
}

impl Device {
    fn duet(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(exe()?)
            .arg("--home")
            .arg(&self.home)
            .args(args)
            .stdin(Stdio::null())
            .env_remove("DUET_HOME")
            .output()
            .with_context(|| format!("cannot run duet {args:?}"))?;
        if !out.status.success() {
            bail!(
                "duet {} failed on {}'s device: {}",
                args.join(" "),
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    fn start_daemon(&mut self) -> anyhow::Result<()> {
        let log = self.home.with_extension("daemon.log");
        let options = child::Options {
            log: Some(&log),
            wait: Duration::from_secs(10),
            ..child::Options::default()
        };
        let daemon = ChildDaemon::start(&exe()?, &self.home, &options)
            .with_context(|| format!("{}'s daemon did not start", self.name))?;
        self.daemon = Some(daemon);
        Ok(())
    }

    fn stop_daemon(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop(Duration::from_secs(3));
        }
    }

    fn addrs(&self) -> Vec<String> {
        self.daemon
            .as_ref()
            .map(ChildDaemon::addrs)
            .unwrap_or_default()
    }

    fn bodies(&self) -> anyhow::Result<Vec<String>> {
        let out = self.duet(&["--json", "log"])?;
        let v: serde_json::Value = serde_json::from_str(&out)?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["body"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn add(&self, kind: &str, text: &str) -> anyhow::Result<String> {
        let out = self.duet(&["--json", "add", "--kind", kind, text])?;
        let v: serde_json::Value = serde_json::from_str(&out)?;
        v["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no id"))
    }
}

fn exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find the duet binary")
}

fn wait_for(
    limit: Duration,
    mut ready: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready()? {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("timed out after {} s", limit.as_secs())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = tempfile::Builder::new().prefix("duet-demo-").tempdir()?;
    let root = dir.path().to_path_buf();
    let result = story(&root);
    if args.keep {
        let kept = dir.keep();
        println!("\nThe homes are kept in {}.", kept.display());
    }
    result?;
    println!(
        "\nDone in {:.1} s; the temporary homes are {}.",
        started.elapsed().as_secs_f64(),
        if args.keep { "kept" } else { "removed" }
    );
    Ok(())
}

fn story(root: &Path) -> anyhow::Result<()> {
    let mut alex = Device {
        name: "Alex",
        home: root.join("alex"),
        daemon: None,
    };
    let mut sam = Device {
        name: "Sam",
        home: root.join("sam"),
        daemon: None,
    };

    println!("1. Alex starts a journal on a laptop and runs the daemon.");
    alex.duet(&["init", "--person", "Alex", "--device", "laptop"])?;
    alex.start_daemon()?;
    let addr = alex
        .addrs()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("no address"))?;
    println!("   Alex's daemon listens on {addr}");

    println!("2. Alex invites Sam's laptop; Sam joins with the code phrase.");
    let t = Instant::now();
    let mut invite = Command::new(exe()?)
        .arg("--home")
        .arg(&alex.home)
        .args(["--json", "invite", "--yes", "--no-qr", "--timeout", "2m"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = invite.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let opened: serde_json::Value = serde_json::from_str(
        &lines
            .next()
            .ok_or_else(|| anyhow!("invite printed nothing"))??,
    )?;
    let code = opened["code"]
        .as_str()
        .ok_or_else(|| anyhow!("no code"))?
        .to_string();
    println!("   code phrase: {code}");
    let joined = Command::new(exe()?)
        .arg("--home")
        .arg(&sam.home)
        .args([
            "join",
            "--person",
            "Sam",
            "--device",
            "laptop",
            "--no-mdns",
            "--addr",
            &addr,
        ])
        .env("DUET_CODE", &code)
        .stdin(Stdio::null())
        .output()?;
    if !joined.status.success() {
        bail!(
            "Sam could not join: {}",
            String::from_utf8_lossy(&joined.stderr).trim()
        );
    }
    for line in String::from_utf8_lossy(&joined.stdout).lines() {
        println!("   sam$ {line}");
    }
    let _ = lines.next();
    let _ = invite.wait();
    println!("   paired in {}", ms(t.elapsed()));
    sam.start_daemon()?;

    println!("3. Both write; each entry reaches the other device.");
    let t = Instant::now();
    alex.add(
        "gratitude",
        "Thank you for making soup when I was tired tonight.",
    )?;
    wait_for(Duration::from_secs(10), || {
        Ok(sam.bodies()?.iter().any(|b| b.contains("soup")))
    })?;
    println!(
        "   Alex's entry was readable on Sam's laptop after {}",
        ms(t.elapsed())
    );
    let t = Instant::now();
    sam.add(
        "dream",
        "Let's spend a week by the sea next summer, phones off.",
    )?;
    wait_for(Duration::from_secs(10), || {
        Ok(alex.bodies()?.iter().any(|b| b.contains("sea")))
    })?;
    println!(
        "   Sam's entry was readable on Alex's laptop after {}",
        ms(t.elapsed())
    );

    println!("4. Sam's laptop goes offline; both keep writing.");
    sam.stop_daemon();
    alex.add(
        "need",
        "I need a quiet evening this week, just the two of us.",
    )?;
    sam.add(
        "laugh",
        "The cat knocked the plant over again and looked proud of it.",
    )?;
    println!(
        "   Alex has {} entries, Sam has {}",
        alex.bodies()?.len(),
        sam.bodies()?.len()
    );

    println!("5. Sam's laptop comes back; the journals merge.");
    let t = Instant::now();
    sam.start_daemon()?;
    wait_for(Duration::from_secs(15), || {
        Ok(alex.bodies()?.len() == 4 && sam.bodies()?.len() == 4)
    })?;
    println!(
        "   both devices hold all 4 entries, {} after the daemon restarted",
        ms(t.elapsed())
    );
    let (a, s) = (
        alex.duet(&["--json", "log"])?,
        sam.duet(&["--json", "log"])?,
    );
    if a != s {
        bail!("the journals differ after the merge");
    }
    println!("   the two journals are identical.\n");
    println!("Sam's laptop now shows:\n");
    println!("{}", sam.duet(&["log"])?);
    println!("{}", sam.duet(&["devices"])?.trim_end());
    alex.stop_daemon();
    sam.stop_daemon();
    Ok(())
}
