//! Warnings about what others send, rate limited: the first refusal from a
//! source is logged at once, and what follows within the next minute is
//! counted and logged as one summary line. A peer that sends a flood of
//! junk, or a stranger that keeps knocking, costs a few lines a minute.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// At most one line per source per this long.
pub const EVERY: Duration = Duration::from_secs(60);

struct Source {
    last_logged: Instant,
    /// Refusals since then, and the first reason among them.
    count: u64,
    reason: Option<String>,
}

/// What to log about one source: how many were refused, and a reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<K> {
    pub source: K,
    pub count: u64,
    pub reason: String,
}

pub struct Warnings<K> {
    sources: HashMap<K, Source>,
}

impl<K> Default for Warnings<K> {
    fn default() -> Self {
        Self {
            sources: HashMap::new(),
        }
    }
}

impl<K: Clone + Eq + Hash> Warnings<K> {
    /// `count` refusals from `source`, for `reason`. Returns the line to
    /// log now, if one is due (with what was counted since the last one).
    pub fn note(&mut self, source: &K, count: u64, reason: &str, now: Instant) -> Option<Line<K>> {
        let s = self.sources.entry(source.clone()).or_insert(Source {
            last_logged: now - EVERY,
            count: 0,
            reason: None,
        });
        if now.duration_since(s.last_logged) < EVERY {
            s.count += count;
            s.reason.get_or_insert_with(|| reason.to_string());
            return None;
        }
        s.last_logged = now;
        Some(Line {
            source: source.clone(),
            count: std::mem::take(&mut s.count) + count,
            reason: s.reason.take().unwrap_or_else(|| reason.to_string()),
        })
    }

    /// The summaries due: a line for each source with refusals counted and
    /// not logged for a minute. Sources quiet for long are forgotten.
    pub fn due(&mut self, now: Instant) -> Vec<Line<K>> {
        let mut lines = Vec::new();
        self.sources.retain(|source, s| {
            if now.duration_since(s.last_logged) < EVERY {
                return true;
            }
            if s.count == 0 {
                return now.duration_since(s.last_logged) < EVERY * 10;
            }
            lines.push(Line {
                source: source.clone(),
                count: std::mem::take(&mut s.count),
                reason: s.reason.take().unwrap_or_default(),
            });
            s.last_logged = now;
            true
        });
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_one_line_then_one_summary_a_minute() {
        let mut w = Warnings::default();
        let t = Instant::now();
        assert!(w.note(&"peer", 3, "bad signature", t).is_some());
        for i in 1..1000 {
            assert!(w
                .note(&"peer", 1, "junk", t + Duration::from_millis(i))
                .is_none());
        }
        assert!(w.due(t + Duration::from_secs(30)).is_empty());
        let lines = w.due(t + EVERY);
        assert_eq!(
            lines,
            [Line {
                source: "peer",
                count: 999,
                reason: "junk".into()
            }]
        );
        assert!(w.due(t + EVERY * 2).is_empty());
        assert!(
            w.note(&"other", 1, "x", t).is_some(),
            "each source has its own"
        );
        // Without a flush, the next line due carries what was counted.
        assert!(w
            .note(&"other", 5, "y", t + Duration::from_secs(1))
            .is_none());
        let line = w.note(&"other", 1, "z", t + EVERY).expect("due");
        assert_eq!((line.count, line.reason.as_str()), (6, "y"));
    }
}
