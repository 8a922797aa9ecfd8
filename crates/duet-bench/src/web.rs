//! The timeline page of `duet ui`, timed from loopback while the daemon
//! runs: what a person waits for when they open the app, less the browser.
//!
//! The client is a plain HTTP/1.1 exchange on a `TcpStream` (as the tests
//! speak to the app), so that nothing but the server's work and loopback is
//! in the figure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde::Serialize;

use crate::local::{self, Latency};

/// A search that no generated entry contains: the page decrypts every row
/// looking for 20 matches, the slowest page the timeline can be asked for.
pub const RARE: &str = "quokka";

#[derive(Clone, Serialize)]
pub struct TimelineReport {
    /// `GET /timeline`: the newest 20 entries.
    pub page: Latency,
    /// `GET /timeline?search=RARE`: a search that matches nothing.
    pub search: Latency,
    pub search_term: String,
}

/// A running `duet ui --no-open` and where it listens.
struct Ui {
    child: Child,
    port: u16,
    secret: String,
    /// Its stdout, kept open so that a later line does not meet a closed
    /// pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Ui {
    /// Starts `duet ui` for `home` and reads its one line,
    /// `duet ui: http://127.0.0.1:PORT/?t=SECRET`.
    fn start(duet: &Path, home: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(duet)
            .args([
                "ui",
                "--no-open",
                "--no-mdns",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ])
            .env("DUET_HOME", home)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("could not start `duet ui`")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let url = line
            .trim()
            .strip_prefix("duet ui: http://127.0.0.1:")
            .ok_or_else(|| anyhow!("`duet ui` printed an unexpected line: {line:?}"))?;
        let (port, secret) = url
            .split_once("/?t=")
            .ok_or_else(|| anyhow!("no port and secret in {url:?}"))?;
        Ok(Self {
            port: port.parse().context("the port of `duet ui`")?,
            secret: secret.to_string(),
            child,
            _stdout: stdout,
        })
    }

    /// The session cookie the secret URL sets (`duet_session=...`).
    fn session(&self) -> anyhow::Result<String> {
        let (head, _) = self.get(&format!("/?t={}", self.secret), None)?;
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("set-cookie"))
            .and_then(|(_, v)| v.split(';').next())
            .map(|c| c.trim().to_string())
            .filter(|c| c.starts_with("duet_session="))
            .ok_or_else(|| anyhow!("the secret URL set no session cookie"))
    }

    /// One request; the head and body of the answer.
    fn get(&self, path: &str, cookie: Option<&str>) -> anyhow::Result<(String, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", self.port);
        if let Some(c) = cookie {
            head.push_str(&format!("Cookie: {c}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| anyhow!("an answer without a head"))?;
        Ok((head.to_string(), body.to_string()))
    }

    /// SIGTERM, as a person closing it would, then waits for it to end.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Times `runs` requests for `path`, each from the request's first byte to
/// the last byte of the body, and checks each is a page of `entries`
/// entries (at least one, for the newest page).
fn timed(
    ui: &Ui,
    cookie: &str,
    path: &str,
    runs: usize,
    entries: Option<usize>,
) -> anyhow::Result<Latency> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let (head, body) = ui.get(path, Some(cookie))?;
        samples.push(start.elapsed());
        if !head.starts_with("HTTP/1.1 200") {
            let status = head.lines().next().unwrap_or("");
            bail!("GET {path} answered {status:?}");
        }
        let shown = body.matches("<article class=\"entry").count();
        match entries {
            Some(n) if shown != n => bail!("GET {path} showed {shown} entries, not {n}"),
            None if shown == 0 => bail!("GET {path} showed no entries"),
            _ => {}
        }
    }
    Ok(local::latency(samples))
}

/// Opens the app on `home` (whose daemon is running) and times the
/// timeline's first page and a search that matches nothing.
pub fn run(duet: &Path, home: &Path, runs: usize) -> anyhow::Result<TimelineReport> {
    let ui = Ui::start(duet, home)?;
    let measured = (|| -> anyhow::Result<TimelineReport> {
        let cookie = ui.session()?;
        // One page first, so that the figures are of a warm app, as a
        // person sees it after the first page.
        timed(&ui, &cookie, "/timeline", 1, None)?;
        let page = timed(&ui, &cookie, "/timeline", runs, Some(20))?;
        let search = timed(
            &ui,
            &cookie,
            &format!("/timeline?search={RARE}"),
            runs,
            Some(0),
        )?;
        Ok(TimelineReport {
            page,
            search,
            search_term: RARE.to_string(),
        })
    })();
    ui.stop();
    measured
}
