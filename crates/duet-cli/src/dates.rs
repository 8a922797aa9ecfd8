//! Dates as people write them: `2026-11-01`, `yesterday`, `last week`,
//! `3 days ago`, `monday`. Parsed in local time by `interim`.

use anyhow::anyhow;
use chrono::{DateTime, Local, Timelike};

fn parse(text: &str) -> anyhow::Result<DateTime<Local>> {
    interim::parse_date_string(text, Local::now(), interim::Dialect::Uk).map_err(|_| {
        anyhow!(
            "`{text}` is not a date duet understands; try 2026-11-01, today, yesterday, \"last week\" or \"3 days ago\""
        )
    })
}

fn is_midnight(t: &DateTime<Local>) -> bool {
    t.hour() == 0 && t.minute() == 0 && t.second() == 0
}

/// The start of the window, in milliseconds since the epoch.
pub fn since(text: &str) -> anyhow::Result<i64> {
    Ok(parse(text)?.timestamp_millis())
}

/// The end of the window, exclusive. A bare day (`2026-11-01`,
/// `yesterday`) means up to the end of that day.
pub fn until(text: &str) -> anyhow::Result<i64> {
    let t = parse(text)?;
    let t = if is_midnight(&t) {
        t + chrono::Duration::days(1)
    } else {
        t
    };
    Ok(t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_and_words_parse() {
        for text in [
            "2026-11-01",
            "yesterday",
            "today",
            "last week",
            "3 days ago",
            "monday",
        ] {
            assert!(since(text).is_ok(), "{text}");
        }
        assert!(since("the day after never").is_err());
    }

    #[test]
    fn until_a_day_includes_that_day() {
        let from = since("2026-11-10").expect("since");
        let to = until("2026-11-10").expect("until");
        assert_eq!(to - from, 24 * 3600 * 1000);
    }
}
