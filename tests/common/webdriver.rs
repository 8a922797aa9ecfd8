//! A minimal W3C WebDriver wire client: one HTTP/1.1 request per
//! connection to a local `chromedriver`, JSON in and out.
//!
//! WebDriver is plain JSON over HTTP on loopback, so a few dozen lines over
//! `std::net` do the job without pulling an HTTP stack into the tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// Why a WebDriver command failed.
#[derive(Debug)]
pub enum WireError {
    /// The connection to chromedriver failed or broke.
    Io(std::io::Error),
    /// chromedriver answered something that is not a WebDriver response.
    Malformed(String),
    /// A WebDriver error (`no such element`, `timeout`, ...), with its
    /// message.
    Driver { error: String, message: String },
}

impl WireError {
    /// True for the error a `find` gives while the element is not there
    /// yet, which waits retry.
    pub fn is_no_such_element(&self) -> bool {
        matches!(self, WireError::Driver { error, .. } if error == "no such element")
    }

    /// True when an element reference outlived its page (a refresh).
    pub fn is_stale(&self) -> bool {
        matches!(self, WireError::Driver { error, .. } if error == "stale element reference")
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "talking to chromedriver: {e}"),
            WireError::Malformed(what) => write!(f, "chromedriver answered badly: {what}"),
            WireError::Driver { error, message } => {
                // Chromium's messages carry a long stack trace after the
                // first line; the first line says what happened.
                let first = message.lines().next().unwrap_or_default();
                write!(f, "{error}: {first}")
            }
        }
    }
}

impl From<std::io::Error> for WireError {
    fn from(e: std::io::Error) -> Self {
        WireError::Io(e)
    }
}

/// Sends `method path` with an optional JSON body to the driver at `addr`
/// and returns the `value` of its answer. `limit` bounds the whole
/// exchange, so a wedged browser fails the test instead of hanging it.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    limit: Duration,
) -> Result<Value, WireError> {
    let payload = match body {
        Some(v) => v.to_string(),
        None if method == "POST" => "{}".to_string(),
        None => String::new(),
    };
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(payload.as_bytes())?;
    let raw = read_response(&mut stream)?;
    let (status, body) = parse_response(&raw)?;
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| WireError::Malformed(format!("status {status}, body is not JSON ({e})")))?
    };
    let value = json.get("value").cloned().unwrap_or(Value::Null);
    if status >= 400 || value.get("error").is_some_and(Value::is_string) {
        return Err(WireError::Driver {
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_string(),
            message: value["message"].as_str().unwrap_or_default().to_string(),
        });
    }
    Ok(value)
}

/// Reads one whole response. chromedriver may keep the connection open
/// even when asked to close it, so the end is found from the headers:
/// `Content-Length`, the last chunk, or else the connection closing.
fn read_response(stream: &mut TcpStream) -> Result<Vec<u8>, WireError> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let body = &raw[split + 4..];
            let length = head.lines().find_map(|line| {
                line.strip_prefix("content-length:")
                    .and_then(|n| n.trim().parse::<usize>().ok())
            });
            let done = match length {
                Some(n) => body.len() >= n,
                None if head.contains("chunked") => body.ends_with(b"0\r\n\r\n"),
                None => false,
            };
            if done {
                return Ok(raw);
            }
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// Splits a whole HTTP/1.1 response into its status code and body,
/// undoing chunked transfer encoding where the server used it.
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), WireError> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| WireError::Malformed("no end of headers".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| WireError::Malformed(format!("status line {head:?}")))?;
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| WireError::Malformed("truncated chunk size".into()))?;
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| WireError::Malformed(format!("chunk size {size_text:?}")))?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Ok((status, out));
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| WireError::Malformed("truncated chunk".into()))?;
        out.extend_from_slice(chunk);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}
