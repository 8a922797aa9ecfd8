//! Shared harness for the end-to-end tests: a built `duet` binary and
//! temporary device homes to run it in.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

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
}

impl Device {
    /// A fresh, uninitialised home.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
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

    /// A `duet` command for this home, with a private runtime dir inside
    /// the temporary directory and no editor.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(duet_bin());
        let runtime = self.dir.path().join("run");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        cmd.args(args)
            .env("DUET_HOME", self.home())
            .env("XDG_RUNTIME_DIR", runtime)
            .env_remove("VISUAL")
            .env_remove("EDITOR")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run duet")
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
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
