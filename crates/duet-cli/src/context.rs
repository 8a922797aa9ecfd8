//! What every command needs: where the home is, whether to print JSON, the
//! clock, and turning errors into one sentence.

use std::path::PathBuf;

use anyhow::Context as _;
use duet_core::home::Home;
use duet_core::replica::Replica;

pub struct Context {
    pub home: Home,
    pub json: bool,
}

impl Context {
    pub fn new(home: Option<PathBuf>, json: bool) -> Self {
        let root = home.unwrap_or_else(default_home);
        Self {
            home: Home::new(root),
            json,
        }
    }

    /// Opens this device's replica, with the compaction threshold from
    /// `DUET_COMPACT_AFTER` when set.
    pub fn open(&self) -> anyhow::Result<Replica> {
        let mut replica = match self.home.open() {
            Ok(replica) => replica,
            // A home that cannot be written (a read-only disk, a backup
            // mounted read-only) still reads: `log`, `show`, `export` and
            // `status` work, and a write says the home can only be read.
            Err(_) if self.check_writable().is_err() => self.home.open_read_only()?,
            Err(e) => return Err(e.into()),
        };
        if replica.set_aside() > 0 {
            eprintln!(
                "duet: note: {} damaged item(s) in the store were set aside, and everything else reads; with `duet daemon` running, a partner's device sends good copies",
                replica.set_aside()
            );
        }
        self.tell_about_new_devices(&mut replica);
        self.tell_about_removals(&replica);
        if let Some(n) = std::env::var("DUET_COMPACT_AFTER")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            replica.set_compact_after(n);
        }
        Ok(replica)
    }

    /// A page of the timeline from the sealed read index, without loading
    /// the journal, when the index holds everything the store does and no
    /// notice is owed (a device added, a removal: the whole journal's path
    /// tells those). `None` sends the caller to [`Context::open`], which
    /// also brings the index current.
    pub fn indexed_page(
        &self,
        filter: &duet_core::journal::Filter,
    ) -> Option<duet_core::index::Page> {
        if std::env::var_os("DUET_NO_INDEX").is_some() {
            return None;
        }
        let (store, index) = self.home.open_index().ok()?;
        let page = index
            .page(&store, filter, None, filter.limit.unwrap_or(usize::MAX))
            .ok()??;
        owes_notice(&store, &page.devices, &index.notices(&store).ok()?)
            .is_ok_and(|owed| !owed)
            .then_some(page)
    }

    /// A device added since this one last looked gets a notice, once:
    /// every device in the list can read the whole journal.
    fn tell_about_new_devices(&self, replica: &mut Replica) {
        let Ok(new) = replica.take_new_devices() else {
            return;
        };
        let devices = replica.devices().to_vec();
        for d in new {
            let by = d
                .added_by
                .as_ref()
                .and_then(|by| devices.iter().find(|x| &x.id == by))
                .map(|x| {
                    format!(
                        ", added by {}'s {}",
                        crate::safe::line(&x.person),
                        crate::safe::line(&x.name)
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "duet: notice: {}'s device \"{}\" ({}) joined the journal{by}, {}. It can read every entry; `duet devices` lists them all.",
                crate::safe::line(&d.person),
                crate::safe::line(&d.name),
                crate::safe::prefix(&d.id, 8),
                crate::render::when(d.added_at)
            );
        }
    }

    /// A removal this device has not told its person about gets a notice,
    /// once: who removed which device, from which device, when.
    fn tell_about_removals(&self, replica: &Replica) {
        let removals = replica.journal().removals();
        if removals.is_empty() {
            return;
        }
        let me = replica.device_id().to_text();
        let devices = replica.devices();
        let name = |id: &str| match devices.iter().find(|d| d.id == id) {
            Some(d) => format!(
                "{}'s device \"{}\" ({})",
                crate::safe::line(&d.person),
                crate::safe::line(&d.name),
                crate::safe::prefix(&d.id, 8)
            ),
            None => format!("device {}", crate::safe::prefix(id, 8)),
        };
        // A record a device wrote to follow removals it learned is no
        // person's decision: nobody is told about it.
        for r in removals.into_iter().filter(|r| !r.follows) {
            let key = format!("removal:{}:{}", r.device, r.by);
            if !replica.store().tell_once(&key).unwrap_or(false) {
                continue;
            }
            if r.device == me {
                eprintln!(
                    "duet: notice: this device was removed from the journal by {}, {}. It keeps what it had and gets nothing new; `duet status` says more.",
                    name(&r.by),
                    crate::render::when(r.at)
                );
            } else if r.by != me {
                eprintln!(
                    "duet: notice: {} removed {} from the journal, {}. It reads nothing written since; `duet devices` lists removed devices.",
                    name(&r.by),
                    name(&r.device),
                    crate::render::when(r.at)
                );
            }
        }
    }

    /// Runs after a write has been saved and reported: tells a running
    /// daemon, which sends it to connected devices at once, and folds a
    /// long tail of envelopes into the snapshot. A failure here loses
    /// nothing.
    pub fn tidy(&self, replica: &mut Replica) {
        duet_daemon::client::poke(self.home.root());
        if let Err(e) = replica.maybe_compact() {
            eprintln!("duet: note: could not compact the store ({e}); your entries are safe");
        }
    }

    /// Checks, before an editor opens, that a write can be saved: the
    /// store and the home can be written to (not a read-only disk or a
    /// file that lost its permissions), so that nobody writes a long
    /// entry only to learn it cannot be kept.
    pub fn check_writable(&self) -> anyhow::Result<()> {
        let store = self.home.store_path();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&store)
            .with_context(|| format!("cannot write to the store {}", store.display()))?;
        tempfile::NamedTempFile::new_in(self.home.root())
            .with_context(|| format!("cannot write in the home {}", self.home.root().display()))?;
        Ok(())
    }

    /// Prints `value` as one JSON document.
    pub fn print_json(&self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value).context("cannot encode JSON")?;
        println!("{text}");
        Ok(())
    }
}

/// True when this device owes its person a notice: a device in `devices`
/// it has not told of, or one of the removal `notices` not yet told.
pub fn owes_notice(
    store: &duet_core::store::Store,
    devices: &[duet_core::journal::DeviceRecord],
    notices: &[String],
) -> Result<bool, duet_core::store::StoreError> {
    let seen = store.seen_devices()?;
    let unseen = devices
        .iter()
        .any(|d| duet_core::DeviceId::from_text(&d.id).is_none_or(|id| !seen.contains(&id)));
    if unseen {
        return Ok(true);
    }
    for notice in notices {
        if !store.was_told(notice)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Asks `question` on the terminal and reads a yes or no (no by default).
pub fn ask_yes_no(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    now().timestamp_millis()
}

/// Now, in local time: the clock, or `DUET_NOW` (an RFC 3339 time) when
/// set, so that tests and a person reproducing a report can fix what
/// "today" means. It moves only this command's dates, never another
/// device's view of them.
pub fn now() -> chrono::DateTime<chrono::Local> {
    std::env::var("DUET_NOW")
        .ok()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&chrono::Local))
        .unwrap_or_else(chrono::Local::now)
}

fn default_home() -> PathBuf {
    directories::ProjectDirs::from("", "", "duet")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".duet"))
}
