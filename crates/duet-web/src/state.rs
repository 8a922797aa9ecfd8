//! What the web app keeps between requests: the session secret and the
//! sessions it opened, the in-process daemon, the change feed, and the
//! pairing in progress.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use duet_core::home::Home;
use duet_daemon::Multiaddr;
use tokio::sync::broadcast;

use crate::{invite, join, Config};

/// At most this many browser sessions at once; the oldest goes first. A
/// person opens one or two; the bound keeps a looping script from growing
/// the map.
const MAX_SESSIONS: usize = 16;

/// One browser's session: the cookie's id names it.
#[derive(Clone)]
pub struct Session {
    /// The token every POST carries (form field `csrf` or header
    /// `x-duet-csrf`): a page of another site cannot read it.
    pub csrf: String,
    /// When it was opened, to drop the oldest first.
    pub opened: std::time::Instant,
}

pub struct State {
    pub home: PathBuf,
    pub port: u16,
    pub listen: Vec<Multiaddr>,
    pub mdns: bool,
    pub whole_exe: Option<PathBuf>,
    /// The secret in the URL `duet ui` prints: whoever has it may open a
    /// session, nobody else.
    secret: String,
    sessions: Mutex<HashMap<String, Session>>,
    /// The daemon this process runs, when no other one did.
    pub daemon: tokio::sync::Mutex<Option<duet_daemon::Daemon>>,
    /// One message per change of the store; `/events` subscribes.
    pub changes: broadcast::Sender<()>,
    /// Set when the server begins to stop: ends the `/events` streams.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Cleared when the server stops, which ends the watcher thread.
    pub watching: Arc<AtomicBool>,
    /// When the person last looked at the timeline (ms): entries that
    /// arrived after it are marked new on the next look. Kept in the
    /// store (`LAST_LOOK`), so "new" means new since the last visit, not
    /// since this `duet ui` started.
    pub last_look: Mutex<Option<i64>>,
    pub invite: Mutex<invite::Slot>,
    pub join: Mutex<join::Slot>,
}

/// The store record of when the person last looked at the timeline: a
/// time of day this device's person used duet, not anything they wrote.
const LAST_LOOK: &str = "web.last_look";

/// When the person last looked, as kept in the store.
pub fn stored_last_look(home: &Home) -> Option<i64> {
    if !home.store_path().exists() {
        return None;
    }
    let store = duet_core::store::Store::open(&home.store_path()).ok()?;
    let bytes: [u8; 8] = store.record(LAST_LOOK).ok()??.try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
}

/// Keeps when the person looked; a store that cannot be written (a
/// read-only home) only loses the mark.
pub fn keep_last_look(home: &Home, at: i64) {
    let kept = duet_core::store::Store::open(&home.store_path())
        .and_then(|store| store.set_record(LAST_LOOK, &at.to_le_bytes()));
    if let Err(e) = kept {
        tracing::debug!("cannot keep when the timeline was last looked at: {e}");
    }
}

impl State {
    pub fn new(config: Config, port: u16) -> Self {
        let (changes, _) = broadcast::channel(16);
        let last_look = stored_last_look(&Home::new(&config.home));
        Self {
            home: config.home,
            port,
            listen: config.listen,
            mdns: config.mdns,
            whole_exe: config.whole_exe,
            secret: random_token(),
            sessions: Mutex::new(HashMap::new()),
            daemon: tokio::sync::Mutex::new(None),
            changes,
            stopping: tokio::sync::watch::Sender::new(false),
            watching: Arc::new(AtomicBool::new(true)),
            last_look: Mutex::new(last_look),
            invite: Mutex::new(invite::Slot::default()),
            join: Mutex::new(join::Slot::default()),
        }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn home(&self) -> Home {
        Home::new(&self.home)
    }

    pub fn root(&self) -> &Path {
        &self.home
    }

    /// True when `given` is the secret (compared in constant time).
    pub fn is_secret(&self, given: &str) -> bool {
        same(given.as_bytes(), self.secret.as_bytes())
    }

    /// Opens a session; returns its id.
    pub fn open_session(&self) -> String {
        let id = random_token();
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.opened)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            id.clone(),
            Session {
                csrf: random_token(),
                opened: std::time::Instant::now(),
            },
        );
        id
    }

    /// The session named by a cookie's id.
    pub fn session(&self, id: &str) -> Option<Session> {
        let sessions = lock(&self.sessions);
        sessions
            .iter()
            .find(|(k, _)| same(k.as_bytes(), id.as_bytes()))
            .map(|(_, s)| s.clone())
    }

    pub fn stop_watching(&self) {
        self.watching.store(false, Ordering::Relaxed);
    }
}

/// 32 random bytes as lowercase hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The operating system's generator failing leaves no safe way on.
    if getrandom::fill(&mut bytes).is_err() {
        panic!("the operating system's random number generator failed");
    }
    data_encoding::HEXLOWER.encode(&bytes)
}

/// Compares without stopping at the first difference, so the time taken
/// says nothing about how much of a guess was right.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A lock, even if a thread panicked while holding it (the data behind
/// these locks stays consistent at every step).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
