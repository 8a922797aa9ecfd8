//! Waiting in the browser: for an element, a text, a condition, each
//! with a limit, and acting on elements a live page may replace.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Browser, Element};
use crate::common::webdriver::WireError;

impl Browser {
    /// Waits up to `limit` for an element matching `css`.
    pub fn wait_for(&self, css: &str, limit: Duration) -> Element {
        let start = Instant::now();
        loop {
            if let Some(el) = self.find(css) {
                return el;
            }
            self.check_time(start, limit, &format!("an element {css:?}"));
        }
    }

    /// Clicks the element matching `css` once it is there. A live page may
    /// replace the element between finding and clicking it; then it is
    /// found again.
    pub fn click_on(&self, css: &str, limit: Duration) {
        self.retry_stale(css, limit, |el| {
            self.cmd("POST", &format!("/element/{}/click", el.0), None)
        });
    }

    /// Replaces what the field matching `css` holds with `text`, finding
    /// it again if the page replaced it meanwhile.
    pub fn fill(&self, css: &str, text: &str, limit: Duration) {
        self.retry_stale(css, limit, |el| {
            self.cmd("POST", &format!("/element/{}/clear", el.0), None)?;
            self.cmd(
                "POST",
                &format!("/element/{}/value", el.0),
                Some(json!({ "text": text })),
            )
        });
    }

    fn retry_stale(
        &self,
        css: &str,
        limit: Duration,
        mut act: impl FnMut(&Element) -> Result<Value, WireError>,
    ) {
        let start = Instant::now();
        loop {
            if let Some(el) = self.find(css) {
                match act(&el) {
                    Ok(_) => return,
                    Err(e) if e.is_stale() => {}
                    Err(e) => panic!("acting on {css:?}: {e} (page {})", self.url()),
                }
            }
            self.check_time(start, limit, &format!("{css:?} to act on"));
        }
    }

    /// Waits up to `limit` for an element matching `css` that is shown
    /// (a page may carry it hidden until it has something to say).
    pub fn wait_visible(&self, css: &str, limit: Duration) -> Element {
        let start = Instant::now();
        loop {
            if let Some(el) = self.find_all(css).into_iter().find(|el| self.shown(el)) {
                return el;
            }
            self.check_time(start, limit, &format!("{css:?} to be shown"));
        }
    }

    /// Waits up to `limit` for an element matching `css` whose text
    /// contains `needle`; returns it.
    pub fn wait_for_text(&self, css: &str, needle: &str, limit: Duration) -> Element {
        let start = Instant::now();
        loop {
            if let Some(el) = self
                .find_all(css)
                .into_iter()
                .find(|el| self.text(el).contains(needle))
            {
                return el;
            }
            self.check_time(start, limit, &format!("{css:?} to say {needle:?}"));
        }
    }

    /// Waits up to `limit` for `ready` to hold.
    pub fn wait_until(&self, what: &str, limit: Duration, mut ready: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !ready(self) {
            self.check_time(start, limit, what);
        }
    }

    /// Sleeps a poll interval, or panics naming `what` and showing the
    /// page when `limit` has passed since `start`.
    fn check_time(&self, start: Instant, limit: Duration, what: &str) {
        if start.elapsed() > limit {
            let body = self.find("body").map(|b| self.text(&b)).unwrap_or_default();
            let shown: String = body.chars().take(1500).collect();
            crate::common::show_daemon_logs();
            panic!(
                "timed out after {limit:?} waiting for {what} on {}; the page said:\n{shown}",
                self.url()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
