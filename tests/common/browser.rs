//! Headless Chromium for the browser tests, driven through `chromedriver`
//! over the W3C WebDriver protocol (the wire client is `webdriver.rs`).
//!
//! A test calls [`Browser::start`] and gets `None`, with a note on stderr,
//! where no browser is installed, unless `DUET_REQUIRE_BROWSER` is set
//! (as `.ci/run` does): then a missing browser fails the test, so CI cannot
//! pass by skipping. Every wait has a limit, and dropping the browser ends
//! the session and the chromedriver process group it started.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::webdriver::{call, WireError};

mod wait;

/// The key under which WebDriver names an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver command may take (a navigation waits for the
/// page to load).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// Where Debian's `chromium` and `chromium-driver` packages put them;
/// `DUET_CHROMIUM` and `DUET_CHROMEDRIVER` point elsewhere.
fn programs() -> (PathBuf, PathBuf) {
    let chromium = std::env::var_os("DUET_CHROMIUM").map_or("/usr/bin/chromium".into(), Into::into);
    let driver =
        std::env::var_os("DUET_CHROMEDRIVER").map_or("/usr/bin/chromedriver".into(), Into::into);
    (chromium, driver)
}

/// Why the browser tests cannot run here, or `None` when they can.
pub fn missing() -> Option<String> {
    let (chromium, driver) = programs();
    let absent: Vec<String> = [&chromium, &driver]
        .into_iter()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    (!absent.is_empty()).then(|| {
        format!(
            "{} not installed (apt-get install chromium chromium-driver)",
            absent.join(" and ")
        )
    })
}

/// What the browser is started with.
#[derive(Default)]
pub struct Options<'a> {
    /// A YUV4MPEG2 file Chromium's fake camera plays in a loop, and
    /// camera permission granted without asking.
    pub camera: Option<&'a Path>,
}

/// An element reference in the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

/// A headless Chromium session.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    /// The browser profile, removed with the browser.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session, or returns
    /// `None` after saying why `test` did not run. Panics when the browser
    /// is missing and `DUET_REQUIRE_BROWSER` is set, or when it is there
    /// but does not start.
    pub fn start(test: &str, options: &Options<'_>) -> Option<Self> {
        if let Some(why) = missing() {
            assert!(
                std::env::var_os("DUET_REQUIRE_BROWSER").is_none(),
                "{test}: DUET_REQUIRE_BROWSER is set but {why}"
            );
            eprintln!("{test} did not run: {why}");
            return None;
        }
        Some(Self::launch(options).unwrap_or_else(|e| panic!("{test}: {e}")))
    }

    fn launch(options: &Options<'_>) -> Result<Self, String> {
        let (chromium, driver_exe) = programs();
        let port = free_port().map_err(|e| format!("no free loopback port: {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let profile = tempfile::tempdir().map_err(|e| format!("profile dir: {e}"))?;
        // Its own process group, so that Drop can end chromedriver and
        // every Chromium process it started with one signal.
        let driver = {
            use std::os::unix::process::CommandExt;
            Command::new(&driver_exe)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(|e| format!("starting {}: {e}", driver_exe.display()))?
        };
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        browser.wait_ready()?;
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--no-first-run".into(),
            "--window-size=1100,900".into(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        if let Some(y4m) = options.camera {
            args.push("--use-fake-ui-for-media-stream".into());
            args.push("--use-fake-device-for-media-stream".into());
            args.push(format!(
                "--use-file-for-fake-video-capture={}",
                y4m.display()
            ));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "timeouts": {"pageLoad": 30_000, "script": 30_000, "implicit": 0},
        }}});
        let session = call(addr, "POST", "/session", Some(&caps), COMMAND_LIMIT)
            .map_err(|e| format!("starting Chromium: {e}"))?;
        browser.session = session["sessionId"]
            .as_str()
            .ok_or("chromedriver gave no session id")?
            .to_string();
        Ok(browser)
    }

    /// Waits until chromedriver answers `/status` as ready.
    fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(status) = call(self.addr, "GET", "/status", None, COMMAND_LIMIT) {
                if status["ready"] == true {
                    return Ok(());
                }
            }
            if let Ok(Some(exit)) = self.driver.try_wait() {
                return Err(format!("chromedriver exited at start: {exit}"));
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err("chromedriver did not answer within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One command in this session: `path` is relative to `/session/ID`.
    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WireError> {
        let full = format!("/session/{}{path}", self.session);
        call(self.addr, method, &full, body.as_ref(), COMMAND_LIMIT)
    }

    /// Like `cmd`, for commands a test cannot go on without.
    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e} (page {})", self.url()))
    }

    /// Loads `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({ "url": url })));
    }

    /// The page's current address.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The first element that matches `css`, if there is one now.
    pub fn find(&self, css: &str) -> Option<Element> {
        let found = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        match found {
            Ok(v) => element_of(&v),
            Err(e) if e.is_no_such_element() => None,
            Err(e) => panic!("finding {css:?}: {e}"),
        }
    }

    /// Every element that matches `css`, in document order.
    pub fn find_all(&self, css: &str) -> Vec<Element> {
        let all = self.must(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        all.as_array()
            .map(|a| a.iter().filter_map(element_of).collect())
            .unwrap_or_default()
    }

    /// The first element under `parent` that matches `css`.
    pub fn find_in(&self, parent: &Element, css: &str) -> Option<Element> {
        let found = self.cmd(
            "POST",
            &format!("/element/{}/element", parent.0),
            Some(json!({"using": "css selector", "value": css})),
        );
        match found {
            Ok(v) => element_of(&v),
            // The parent went away (the page refreshed): not there now.
            Err(e) if e.is_no_such_element() || e.is_stale() => None,
            Err(e) => panic!("finding {css:?} in an element: {e}"),
        }
    }

    /// The element's rendered text; empty when it went away meanwhile.
    pub fn text(&self, el: &Element) -> String {
        self.cmd("GET", &format!("/element/{}/text", el.0), None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The element's attribute (or property) `name`.
    pub fn attr(&self, el: &Element, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{}/attribute/{name}", el.0), None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    }

    /// The element's DOM property `name` as text (`value` is what a
    /// field holds now; its attribute is only what the page was served
    /// with).
    pub fn prop(&self, el: &Element, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{}/property/{name}", el.0), None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
    }

    pub fn click(&self, el: &Element) {
        self.must("POST", &format!("/element/{}/click", el.0), None);
    }

    /// Types `text` into the element (after what it holds).
    pub fn type_into(&self, el: &Element, text: &str) {
        self.must(
            "POST",
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": text })),
        );
    }

    /// Empties an input or textarea.
    pub fn clear(&self, el: &Element) {
        self.must("POST", &format!("/element/{}/clear", el.0), None);
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the
    /// page and returns what it returns.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The element's reference as a script argument.
    pub fn arg(el: &Element) -> Value {
        json!({ ELEMENT_KEY: el.0 })
    }

    /// A PNG of the element, as the page shows it.
    pub fn element_png(&self, el: &Element) -> Vec<u8> {
        let b64 = self.must("GET", &format!("/element/{}/screenshot", el.0), None);
        decode_png_b64(&b64)
    }

    /// A PNG of the whole viewport.
    pub fn page_png(&self) -> Vec<u8> {
        decode_png_b64(&self.must("GET", "/screenshot", None))
    }

    /// True when the element is displayed.
    pub fn shown(&self, el: &Element) -> bool {
        self.cmd("GET", &format!("/element/{}/displayed", el.0), None)
            .is_ok_and(|v| v == Value::Bool(true))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = call(self.addr, "DELETE", &path, None, Duration::from_secs(10));
        }
        // Whatever is left of chromedriver's process group (a Chromium
        // that did not quit) goes with it. The standard `kill` sends the
        // signal to the group without unsafe code here.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The element reference in a `find` answer.
fn element_of(v: &Value) -> Option<Element> {
    v[ELEMENT_KEY].as_str().map(|id| Element(id.to_string()))
}

fn decode_png_b64(v: &Value) -> Vec<u8> {
    let text = v.as_str().expect("a screenshot is a base64 string");
    data_encoding::BASE64
        .decode(text.as_bytes())
        .expect("a screenshot is valid base64")
}

/// A loopback port nobody listens on right now. chromedriver takes a port
/// number, not a socket, so there is a short window in which another
/// process could take it; a clash shows as chromedriver failing to start.
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
