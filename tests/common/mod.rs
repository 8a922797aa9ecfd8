//! Shared harness for the end-to-end tests: a built `duet` binary and
//! temporary device homes to run it in.

#![allow(dead_code)]

pub mod browser;
pub mod camera;
pub mod ui;
mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use duet_daemon::child::{self, ChildDaemon};

pub mod web;

/// The `duet` binary of this workspace, built once per test binary so the
/// tests never run a stale one.
pub fn duet_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> → target/<profile>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target profile dir")
            .to_path_buf();
        let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "duet",
                "--bin",
                "duet",
                "--target-dir",
            ])
            .arg(&target_dir);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the duet binary failed");
        profile_dir.join("duet")
    })
}

/// A device home in a temporary directory.
pub struct Device {
    pub dir: tempfile::TempDir,
    /// Everything `duet` printed on stderr for this device, in order.
    pub stderr: std::cell::RefCell<String>,
}

impl Device {
    /// A fresh, uninitialised home.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            stderr: std::cell::RefCell::new(String::new()),
        }
    }

    /// A home with a journal for `person`.
    pub fn init(person: &str) -> Self {
        let device = Self::new();
        device.ok(&["init", "--person", person, "--device", "test"]);
        device
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A private runtime dir inside the temporary directory.
    fn runtime_dir(&self) -> PathBuf {
        let runtime = self.dir.path().join("run");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        runtime
    }

    /// A `duet` command for this home, with a private runtime dir inside
    /// the temporary directory and no editor.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(duet_bin());
        cmd.args(args)
            .env("DUET_HOME", self.home())
            .env("XDG_RUNTIME_DIR", self.runtime_dir())
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().expect("run duet");
        self.stderr
            .borrow_mut()
            .push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Runs with `input` on stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn duet");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
        child.wait_with_output().expect("wait for duet")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "duet {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("JSON output")
    }

    /// Adds an entry and returns its id.
    pub fn add(&self, text: &str) -> String {
        let v = self.json(&["add", text]);
        v["id"].as_str().expect("id").to_string()
    }

    /// The bodies of every live entry.
    pub fn bodies(&self) -> Vec<String> {
        self.json(&["log"])
            .as_array()
            .expect("array")
            .iter()
            .map(|e| e["body"].as_str().expect("body").to_string())
            .collect()
    }
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// True when `needle` occurs in `haystack`.
/// Fails if any regular file under `dir` holds `text` in the clear
/// (`when` says at which point of the test).
pub fn assert_not_in_clear_under(dir: &Path, text: &str, when: &str) {
    for file in files_under(dir).into_iter().filter(|f| f.is_file()) {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !contains(&bytes, text.as_bytes()),
            "{} holds the entry text in the clear ({when})",
            file.display()
        );
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A running `duet daemon` (the shared child-process harness), with the
/// log it writes.
pub struct Daemon {
    pub child: ChildDaemon,
    pub log: PathBuf,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// SIGTERM, then waits; returns how long it took to exit.
    pub fn stop(self) -> std::time::Duration {
        let start = std::time::Instant::now();
        let status = self.child.stop(std::time::Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s.success()),
            "the daemon should exit 0 on SIGTERM: {status:?}"
        );
        start.elapsed()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(self) {
        self.child.kill();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Polls `ready` every 20 ms until it holds or `limit` passes.
pub fn eventually(limit: std::time::Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    show_daemon_logs();
    panic!("timed out after {limit:?} waiting for {what}");
}

/// The logs of every daemon this test process started, so a timeout shows
/// what the daemons were doing.
static DAEMON_LOGS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Prints the last lines of every daemon log still on disk.
pub fn show_daemon_logs() {
    let logs = DAEMON_LOGS.lock().map(|l| l.clone()).unwrap_or_default();
    for log in logs {
        let Ok(text) = std::fs::read_to_string(&log) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(60)..];
        eprintln!("--- {} (last {} lines)", log.display(), tail.len());
        for line in tail {
            eprintln!("{line}");
        }
    }
}

impl Device {
    /// Starts `duet daemon` on loopback with an ephemeral TCP port and
    /// waits until it answers on its control socket.
    pub fn daemon(&self) -> Daemon {
        self.daemon_with(&[])
    }

    /// `daemon`, with extra environment variables.
    pub fn daemon_with(&self, env: &[(&str, &str)]) -> Daemon {
        self.daemon_as(env, &["--listen", "/ip4/127.0.0.1/tcp/0"], &[])
    }

    /// `daemon` with `args` after `daemon --no-mdns` (where it listens,
    /// what a mirror announces), run through `wrapper` (`ip netns exec
    /// NAME`).
    pub fn daemon_as(&self, env: &[(&str, &str)], args: &[&str], wrapper: &[&str]) -> Daemon {
        let log = self.dir.path().join(format!(
            "daemon-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let runtime = self.runtime_dir();
        let mut all: Vec<(&str, &str)> = vec![
            ("RUST_LOG", "info"),
            ("XDG_RUNTIME_DIR", runtime.to_str().expect("utf-8 path")),
        ];
        all.extend_from_slice(env);
        let options = child::Options {
            log: Some(&log),
            env: &all,
            args,
            wrapper,
            ..child::Options::default()
        };
        if let Ok(mut logs) = DAEMON_LOGS.lock() {
            logs.push(log.clone());
        }
        let child = ChildDaemon::start(duet_bin(), &self.home(), &options).expect("start daemon");
        Daemon { child, log }
    }

    /// The daemon's listen addresses (empty when it is not running).
    pub fn addrs(&self) -> Vec<String> {
        let out = self.run(&["--json", "status"]);
        if !out.status.success() {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if v["daemon_running"] != true {
            return Vec::new();
        }
        v["status"]["addrs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn has_body(&self, needle: &str) -> bool {
        let out = self.run(&["--json", "log"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v.as_array().is_some_and(|a| {
            a.iter()
                .any(|e| e["body"].as_str().is_some_and(|b| b.contains(needle)))
        })
    }
}

/// A running `duet invite --json --yes`: its first line is read.
pub struct Invite {
    pub child: std::process::Child,
    pub code: String,
    pub uri: String,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Invite {
    pub fn open(inviter: &Device, timeout: &str) -> Self {
        use std::io::BufRead;
        let mut child = inviter
            .cmd(&["--json", "invite", "--yes", "--no-qr", "--timeout", timeout])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("invite");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.next().expect("invite printed a line").expect("read");
        let v: serde_json::Value = serde_json::from_str(&first).expect("json line");
        assert!(v["expires_at"].as_i64().is_some(), "{first}");
        Self {
            code: v["code"].as_str().expect("code").to_string(),
            uri: v["uri"].as_str().expect("uri").to_string(),
            child,
            lines,
        }
    }

    /// Waits for the invite to end: `Ok(joined line)` or `Err(stderr)`.
    pub fn finish(mut self) -> Result<serde_json::Value, String> {
        use std::io::Read;
        let next = self.lines.next();
        let status = self.child.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        match (status.success(), next) {
            (true, Some(Ok(line))) => Ok(serde_json::from_str(&line).expect("json")),
            _ => Err(err),
        }
    }
}

/// Joins `joiner` (a fresh home) to the inviter's journal with the code.
pub fn join_with_code(joiner: &Device, person: &str, name: &str, code: &str, addr: &str) -> Output {
    joiner
        .cmd(&[
            "join",
            "--person",
            person,
            "--device",
            name,
            "--no-mdns",
            "--addr",
            addr,
            "--timeout",
            "60s",
        ])
        .env("DUET_CODE", code)
        .output()
        .expect("join")
}

/// Pairs a new device into `inviter`'s journal (whose daemon runs).
pub fn pair(inviter: &Device, person: &str, name: &str) -> Device {
    let joiner = Device::new();
    let invite = Invite::open(inviter, "2m");
    // A direct address: pairing through a mirror's relay is tested on its
    // own (tests/nat.rs), and here it is only the way in.
    let addrs = inviter.addrs();
    let addr = addrs
        .iter()
        .find(|a| !a.contains("/p2p-circuit"))
        .or(addrs.first())
        .expect("inviter address")
        .clone();
    let out = join_with_code(&joiner, person, name, &invite.code, &addr);
    if !out.status.success() {
        show_daemon_logs();
    }
    assert!(
        out.status.success(),
        "join failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let joined = invite.finish().expect("the invite reports the new device");
    assert_eq!(joined["joined"]["person"], person);
    // Both sides showed the same verification words.
    let said = String::from_utf8_lossy(&out.stdout);
    let words = joined["joined"]["words"].as_str().expect("words");
    assert!(
        words.split('-').count() == 3 && said.contains(words),
        "{said} / {words}"
    );
    joiner
}
