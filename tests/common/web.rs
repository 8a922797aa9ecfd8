//! `duet ui` as a person's browser meets it: a real process, and a tiny
//! HTTP/1.1 client on a plain TCP socket (so that the tests can send
//! exactly the headers an attacker would).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::{eventually, Device};

/// A running `duet ui --no-open`, its output in files.
pub struct Ui {
    pub child: Child,
    pub port: u16,
    pub secret: String,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// Where the output files live (kept apart from the home, so that a
    /// scan of the home does not read them).
    _logs: tempfile::TempDir,
}

impl Ui {
    /// Starts `duet ui` for `device` (its daemon listening on loopback,
    /// no mDNS) and waits for its one line.
    pub fn start(device: &Device, env: &[(&str, &str)]) -> Self {
        let logs = tempfile::tempdir().expect("tempdir");
        let stdout = logs.path().join("ui.out");
        let stderr = logs.path().join("ui.err");
        let mut cmd = device.cmd(&[
            "ui",
            "--no-open",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ]);
        cmd.stdout(Stdio::from(std::fs::File::create(&stdout).expect("out")))
            .stderr(Stdio::from(std::fs::File::create(&stderr).expect("err")));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn duet ui");
        let mut line = String::new();
        eventually(
            Duration::from_secs(30),
            "duet ui to print its address",
            || {
                line = std::fs::read_to_string(&stdout).unwrap_or_default();
                line.ends_with('\n')
            },
        );
        let url = line
            .trim()
            .strip_prefix("duet ui: http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        let (port, secret) = url.split_once("/?t=").expect("port and secret");
        assert_eq!(line.lines().count(), 1, "exactly one line: {line:?}");
        assert!(secret.len() >= 32, "a long secret: {secret}");
        Self {
            child,
            port: port.parse().expect("port"),
            secret: secret.to_string(),
            stdout,
            stderr,
            _logs: logs,
        }
    }

    /// The Host header a browser sends for this app.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A request with the right Host and `headers`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let host = self.host();
        let mut all: Vec<(&str, &str)> = Vec::new();
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            all.push(("Host", &host));
        }
        all.extend_from_slice(headers);
        request(self.port, method, path, &all, body)
    }

    /// Opens a session as the browser would: the secret URL, then the
    /// timeline's CSRF token.
    pub fn session(&self) -> Session {
        self.session_and_page().0
    }

    /// A session and the first page it was shown (the timeline, or the
    /// welcome page of a home with no journal).
    pub fn session_and_page(&self) -> (Session, String) {
        let opened = self.request("GET", &format!("/?t={}", self.secret), &[], b"");
        assert_eq!(opened.status, 303, "{opened:?}");
        let cookie = opened.header("set-cookie").expect("a cookie").to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let cookie = cookie.split(';').next().expect("name=value").to_string();
        let mut session = Session {
            cookie,
            csrf: String::new(),
        };
        let mut page = self.get(&session, "/timeline");
        // A home with no journal yet shows the welcome page instead.
        if page.status == 303 {
            let to = page.header("location").unwrap_or("/").to_string();
            page = self.get(&session, &to);
        }
        assert_eq!(page.status, 200, "{page:?}");
        session.csrf = between(&page.body, "<meta name=\"csrf\" content=\"", "\"").to_string();
        assert!(!session.csrf.is_empty());
        (session, page.body)
    }

    /// The JSON a polling page reads (`/invite/state`, `/join/state`).
    pub fn json(&self, session: &Session, path: &str) -> serde_json::Value {
        let r = self.get(session, path);
        assert_eq!(r.status, 200, "{r:?}");
        serde_json::from_str(&r.body).expect("json")
    }

    pub fn get(&self, session: &Session, path: &str) -> Response {
        self.request("GET", path, &[("Cookie", &session.cookie)], b"")
    }

    /// A form POST with the session's CSRF token added.
    pub fn post(&self, session: &Session, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all = vec![("csrf", session.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(session, path, &all)
    }

    /// A form POST of exactly `fields`.
    pub fn post_raw(&self, session: &Session, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = form(fields);
        self.request(
            "POST",
            path,
            &[
                ("Cookie", &session.cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
    }

    /// Everything the process printed, stdout and stderr.
    pub fn output(&self) -> String {
        let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("{out}{err}")
    }

    /// SIGTERM, and waits for it to end.
    pub fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(
                    status.success(),
                    "duet ui should exit 0 on SIGTERM: {status:?}\n{}",
                    self.output()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("duet ui did not stop on SIGTERM");
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A browser's session: its cookie and CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `application/x-www-form-urlencoded`.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The text between `start` and the next `end` in `haystack`.
pub fn between<'a>(haystack: &'a str, start: &str, end: &str) -> &'a str {
    let from = haystack
        .find(start)
        .map(|i| i + start.len())
        .unwrap_or(haystack.len());
    let rest = &haystack[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// One HTTP/1.1 request with exactly `headers`; reads the whole answer.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).expect("send head");
    // A server may refuse before reading a large body; what it answered
    // still counts.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_string()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An open `/events` stream.
pub struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    pub fn open(ui: &Ui, session: &Session) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", ui.port)).expect("connect");
        let head = format!(
            "GET /events HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nAccept: text/event-stream\r\n\r\n",
            ui.host(),
            session.cookie
        );
        stream.write_all(head.as_bytes()).expect("send");
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).expect("status line");
        assert!(status.contains(" 200 "), "{status}");
        Self { reader }
    }

    /// True when `event: journal` arrives within `limit`.
    pub fn wait_for_journal(&mut self, limit: Duration) -> bool {
        let start = std::time::Instant::now();
        let mut line = String::new();
        while start.elapsed() < limit {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return false,
                Ok(_) if line.trim() == "event: journal" => return true,
                _ => {}
            }
        }
        false
    }
}
