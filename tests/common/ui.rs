//! A running `duet ui` for a test device: the process, the address with
//! the session secret it printed, and its log.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Device;

/// How long `duet ui` may take to print its address (it may start the
/// daemon first).
const START_LIMIT: Duration = Duration::from_secs(60);

/// A `duet ui --no-open` process; stopped with SIGTERM when dropped.
pub struct Ui {
    child: Child,
    /// `http://127.0.0.1:PORT/?t=SECRET`: opening it starts a session.
    pub url: String,
    /// `http://127.0.0.1:PORT`, to which page paths are appended.
    pub base: String,
    /// Everything it wrote on stderr.
    pub log: PathBuf,
}

impl Ui {
    /// `base` + `path`.
    pub fn page(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Device {
    /// Starts `duet ui --no-open`, listening for peers on loopback only,
    /// and waits for the line that gives its address.
    pub fn ui(&self) -> Ui {
        let log = self.dir.path().join(format!(
            "ui-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let stderr = std::fs::File::create(&log).expect("ui log file");
        if let Ok(mut logs) = super::DAEMON_LOGS.lock() {
            logs.push(log.clone());
        }
        let mut child = self
            .cmd(&["ui", "--no-open", "--listen", "/ip4/127.0.0.1/tcp/0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start duet ui");
        let stdout = child.stdout.take().expect("ui stdout");
        // A thread reads the first line (so the wait can time out) and then
        // drains the rest, so that `duet ui` never writes into a closed pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = match rx.recv_timeout(START_LIMIT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "duet ui printed no address within {START_LIMIT:?} ({other:?}); its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let url = line
            .strip_prefix("duet ui: ")
            .unwrap_or_else(|| panic!("duet ui's first line should be `duet ui: URL`: {line:?}"))
            .trim()
            .to_string();
        let base = url
            .split_once("/?t=")
            .map(|(base, _)| base.to_string())
            .unwrap_or_else(|| panic!("the address should carry ?t=SECRET: {url:?}"));
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "duet ui should serve on 127.0.0.1 only: {url:?}"
        );
        Ui {
            child,
            url,
            base,
            log,
        }
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        // The standard `kill` sends SIGTERM without unsafe code here.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
