//! Dates as people write them, read as calendar days in local time:
//! `today`, `yesterday`, `monday`, `this week`, `last month`,
//! `3 days ago`, `2026-11-01`, or a moment (`2026-11-01 14:30`,
//! `2 hours ago`).
//!
//! A word names a stretch of the calendar, not a moment: `--since today`
//! starts at this morning's midnight, `--until yesterday` ends at last
//! night's, and `monday` on a Monday is today. A weekday is the latest one
//! on or before today; a week starts on Monday. Anything these rules do
//! not cover is handed to `interim` (`"last friday 3pm"`, `"Nov 3"`),
//! whose answer counts as a day when it falls at midnight.

use anyhow::anyhow;
use chrono::{
    DateTime, Datelike, Duration, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday,
};

/// A stretch of time a date word names: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: DateTime<Local>,
    pub end: DateTime<Local>,
    /// True when the words named whole days, false for a moment.
    pub days: bool,
}

/// Reads `text` as of `now`.
pub fn parse(text: &str, now: DateTime<Local>) -> anyhow::Result<Span> {
    let words = text.trim().to_lowercase();
    let words: Vec<&str> = words.split_whitespace().collect();
    if let Some(span) = calendar(&words, now) {
        return Ok(span);
    }
    if let Some(span) = written_date(&words.join(" ")) {
        return Ok(span);
    }
    let t = interim::parse_date_string(text, now, interim::Dialect::Uk).map_err(|_| {
        anyhow!(
            "`{text}` is not a date duet understands; try 2026-11-01, today, yesterday, monday, \"this week\" or \"3 days ago\""
        )
    })?;
    Ok(if t.time() == NaiveTime::MIN {
        days(t.date_naive(), t.date_naive())
    } else {
        moment(t)
    })
}

/// The start of the window `--since TEXT` names, in ms since the epoch.
pub fn since(text: &str, now: DateTime<Local>) -> anyhow::Result<i64> {
    Ok(parse(text, now)?.start.timestamp_millis())
}

/// The end of the window `--until TEXT` names (exclusive): a day counts
/// whole, up to the next midnight.
pub fn until(text: &str, now: DateTime<Local>) -> anyhow::Result<i64> {
    let span = parse(text, now)?;
    Ok(if span.days { span.end } else { span.start }.timestamp_millis())
}

/// The moment `--date TEXT` gives a new entry: a moment as written; a
/// day, at this time of day when it is today and at noon otherwise (the
/// middle of the day, whatever the clocks do at its ends). Never ahead of
/// `now`: an entry is written about what happened.
pub fn entry_date(text: &str, now: DateTime<Local>) -> anyhow::Result<i64> {
    let span = parse(text, now)?;
    let at = if !span.days {
        span.start
    } else if span.start.date_naive() == now.date_naive() {
        now
    } else {
        local(
            span.start.date_naive(),
            NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default(),
        )
    };
    if at > now {
        anyhow::bail!("`{text}` is in the future; an entry can be dated today or earlier");
    }
    Ok(at.timestamp_millis())
}

/// The words duet reads itself, relative to the calendar.
fn calendar(words: &[&str], now: DateTime<Local>) -> Option<Span> {
    let today = now.date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    Some(match words {
        ["today"] => days(today, today),
        ["now"] => moment(now),
        ["yesterday"] => days(today.pred_opt()?, today.pred_opt()?),
        ["this", "week"] => days(monday, monday + Duration::days(6)),
        ["last", "week"] => days(monday - Duration::days(7), monday - Duration::days(1)),
        ["this", "month"] => {
            let first = today.with_day(1)?;
            days(first, last_of_month(first)?)
        }
        ["last", "month"] => {
            let first = today.with_day(1)?.pred_opt()?.with_day(1)?;
            days(first, last_of_month(first)?)
        }
        ["this", "year"] => days(
            NaiveDate::from_ymd_opt(today.year(), 1, 1)?,
            NaiveDate::from_ymd_opt(today.year(), 12, 31)?,
        ),
        [day] => {
            let weekday = weekday(day)?;
            let back = days_back(today.weekday(), weekday, false);
            let d = today - Duration::days(back);
            days(d, d)
        }
        ["last", day] => {
            let weekday = weekday(day)?;
            let back = days_back(today.weekday(), weekday, true);
            let d = today - Duration::days(back);
            days(d, d)
        }
        [n, unit, "ago"] => {
            let n: i64 = n.parse().ok().filter(|n| (0..=100_000).contains(n))?;
            match unit.trim_end_matches('s') {
                "day" => {
                    let d = today - Duration::days(n);
                    days(d, d)
                }
                "week" => {
                    let d = today - Duration::days(7 * n);
                    days(d, d)
                }
                "hour" => moment(now - Duration::hours(n)),
                "minute" | "min" => moment(now - Duration::minutes(n)),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// `2026-11-01`, `2026-11-01 14:30`, `2026-11-01T14:30:15`.
fn written_date(text: &str) -> Option<Span> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(days(d, d));
    }
    for format in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(moment(local(t.date(), t.time())));
        }
    }
    None
}

fn weekday(word: &str) -> Option<Weekday> {
    let word = word.trim_end_matches('s');
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .into_iter()
    .find(|d| {
        let name = format!("{d:?}").to_lowercase();
        let full = match d {
            Weekday::Mon => "monday",
            Weekday::Tue => "tuesday",
            Weekday::Wed => "wednesday",
            Weekday::Thu => "thursday",
            Weekday::Fri => "friday",
            Weekday::Sat => "saturday",
            Weekday::Sun => "sunday",
        };
        word == name || word == full || (word.len() >= 3 && full.starts_with(word))
    })
}

/// How many days back from `today` the latest `day` is: 0 when it is
/// today, unless `before` asks for one strictly before today.
fn days_back(today: Weekday, day: Weekday, before: bool) -> i64 {
    let back =
        (7 + i64::from(today.num_days_from_monday()) - i64::from(day.num_days_from_monday())) % 7;
    if back == 0 && before {
        7
    } else {
        back
    }
}

fn last_of_month(first: NaiveDate) -> Option<NaiveDate> {
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)?
    };
    next.pred_opt()
}

/// The days `first` to `last`, whole: from `first`'s midnight to the
/// midnight after `last`.
fn days(first: NaiveDate, last: NaiveDate) -> Span {
    Span {
        start: start_of(first),
        end: start_of(last.succ_opt().unwrap_or(last)),
        days: true,
    }
}

fn moment(t: DateTime<Local>) -> Span {
    Span {
        start: t,
        end: t,
        days: false,
    }
}

/// The first moment of `day` in local time. Where the clocks skip
/// midnight (a few zones change at 00:00), the day starts when they land.
fn start_of(day: NaiveDate) -> DateTime<Local> {
    local(day, NaiveTime::MIN)
}

/// `day` at `time` in local time: the earlier of two when the clocks go
/// back, and the first moment after a gap when they skip it.
fn local(day: NaiveDate, time: NaiveTime) -> DateTime<Local> {
    let naive = day.and_time(time);
    for minutes in [0, 30, 60, 90, 120] {
        if let Some(t) = Local
            .from_local_datetime(&(naive + Duration::minutes(minutes)))
            .earliest()
        {
            return t;
        }
    }
    Local.from_utc_datetime(&naive)
}

#[cfg(test)]
mod tests;
