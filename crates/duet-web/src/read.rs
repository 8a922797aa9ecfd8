//! The one place the web app reads the journal: a page from the sealed
//! read index (`duet_core::index`) when it is current, as `duet log`
//! reads, else from the whole document.

use duet_core::home::{Home, HomeError};
use duet_core::index::Cursor;
use duet_core::journal::{DeviceRecord, Entry, EntryKind, Filter};

/// Entries on one page of the timeline.
pub const PAGE: usize = 20;

/// What the timeline asks for: the filters of `duet log`, and where the
/// page starts.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Query {
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub by: Option<String>,
    /// The cursor of the page before: `MS.ID` of its last entry.
    #[serde(default)]
    pub before: Option<String>,
    /// `1`: only the inner HTML of `#timeline` (the live refresh).
    #[serde(default)]
    pub fragment: Option<String>,
}

impl Query {
    /// The kind asked for, if it names one ("" and "any" do not).
    pub fn kind(&self) -> Option<EntryKind> {
        self.kind.as_deref().and_then(|k| k.parse().ok())
    }

    fn filter(&self) -> Filter {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Filter {
            person: text(&self.by),
            kind: self.kind(),
            tag: text(&self.tag).map(|t| t.trim_start_matches('#').to_string()),
            since: None,
            until: None,
            search: text(&self.search),
            limit: None,
        }
    }
}

/// One page of the timeline and what showing it needs.
pub struct Timeline {
    /// Newest first, at most [`PAGE`].
    pub entries: Vec<Entry>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
    /// The person of this device: their entries get no "heard" button.
    pub me: String,
    pub devices: Vec<DeviceRecord>,
    /// True when the journal holds no entries at all (not just none that
    /// match).
    pub empty: bool,
}

/// A page of entries matching `query`, newest first: from the sealed read
/// index when it reflects the whole store (a page costs a page), else from
/// the whole journal, which also brings the index current for the next.
pub fn timeline_page(home: &Home, query: &Query) -> Result<Timeline, ReadError> {
    if let Some(page) = indexed_page(home, query) {
        return Ok(page);
    }
    whole_journal_page(home, query)
}

/// The page from the index; `None` when the index cannot answer (not
/// current, damaged, or the cursor came from a whole-journal page).
fn indexed_page(home: &Home, query: &Query) -> Option<Timeline> {
    if std::env::var_os("DUET_NO_INDEX").is_some() {
        return None;
    }
    let before = match query.before.as_deref() {
        None => None,
        Some(cursor) => Some(parse_index_cursor(cursor)?),
    };
    let (store, index) = home.open_index().ok()?;
    let page = index.page(&store, &query.filter(), before, PAGE).ok()??;
    let me = home.device_id().ok()?.to_text();
    let me = page
        .devices
        .iter()
        .find(|d| d.id == me)
        .map(|d| d.person.clone())
        .unwrap_or_default();
    let next = page
        .next
        .filter(|_| page.entries.len() == PAGE)
        .map(|c| format!("i{}.{}", c.ord, c.skip));
    Some(Timeline {
        entries: page.entries,
        next,
        me,
        devices: page.devices,
        empty: page.journal_empty,
    })
}

fn parse_index_cursor(cursor: &str) -> Option<Cursor> {
    let (ord, skip) = cursor.strip_prefix('i')?.split_once('.')?;
    Some(Cursor {
        ord: ord.parse().ok()?,
        skip: skip.parse().ok()?,
    })
}

fn whole_journal_page(home: &Home, query: &Query) -> Result<Timeline, ReadError> {
    let replica = home.open()?;
    let journal = replica.journal();
    let me = replica.author().map(|a| a.person).unwrap_or_default();
    let all = journal.query(&query.filter());
    let start = match query.before.as_deref().and_then(parse_cursor) {
        None => 0,
        Some((ms, id)) => match all.iter().position(|e| e.id == id) {
            Some(i) => i + 1,
            // The entry the cursor names is gone: start after its time.
            None => all
                .iter()
                .position(|e| e.listed_at() < ms)
                .unwrap_or(all.len()),
        },
    };
    let entries: Vec<Entry> = all.iter().skip(start).take(PAGE).cloned().collect();
    let next = (start + entries.len() < all.len())
        .then(|| {
            entries
                .last()
                .map(|e| format!("{}.{}", e.listed_at(), e.id))
        })
        .flatten();
    Ok(Timeline {
        entries,
        next,
        me,
        devices: replica.devices().to_vec(),
        empty: journal.is_empty(),
    })
}

/// Every entry, oldest first, and the devices: what an export holds.
pub fn everything(home: &Home) -> Result<(Vec<Entry>, Vec<DeviceRecord>), ReadError> {
    let replica = home.open()?;
    let mut entries = replica.journal().query(&Filter::default());
    entries.reverse();
    Ok((entries, replica.journal().devices()))
}

fn parse_cursor(cursor: &str) -> Option<(i64, String)> {
    let (ms, id) = cursor.split_once('.')?;
    Some((ms.parse().ok()?, id.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Home(#[from] HomeError),
}
