//! Date words at fixed "nows": a Monday just after midnight, a
//! Wednesday afternoon, a Sunday just before midnight.

use super::*;

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Local> {
    local(
        NaiveDate::from_ymd_opt(y, m, d).expect("date"),
        NaiveTime::from_hms_opt(h, min, 0).expect("time"),
    )
}

fn ms(t: DateTime<Local>) -> i64 {
    t.timestamp_millis()
}

/// Just after midnight on Monday 30 November 2026.
fn monday_after_midnight() -> DateTime<Local> {
    at(2026, 11, 30, 0, 5)
}

#[test]
fn today_starts_at_midnight_even_just_after_it() {
    let now = monday_after_midnight();
    assert_eq!(
        since("today", now).expect("today"),
        ms(at(2026, 11, 30, 0, 0))
    );
    assert_eq!(
        until("today", now).expect("today"),
        ms(at(2026, 12, 1, 0, 0))
    );
}

#[test]
fn yesterday_is_the_whole_of_yesterday() {
    let now = monday_after_midnight();
    assert_eq!(
        since("yesterday", now).expect("since"),
        ms(at(2026, 11, 29, 0, 0))
    );
    assert_eq!(
        until("yesterday", now).expect("until"),
        ms(at(2026, 11, 30, 0, 0))
    );
    let afternoon = at(2026, 12, 2, 15, 0);
    assert_eq!(
        since("yesterday", afternoon).expect("since"),
        ms(at(2026, 12, 1, 0, 0))
    );
    assert_eq!(
        until("Yesterday", afternoon).expect("until"),
        ms(at(2026, 12, 2, 0, 0))
    );
}

#[test]
fn a_weekday_on_that_day_is_today() {
    let now = monday_after_midnight();
    assert_eq!(
        since("monday", now).expect("monday"),
        ms(at(2026, 11, 30, 0, 0))
    );
    assert_eq!(since("mon", now).expect("mon"), ms(at(2026, 11, 30, 0, 0)));
    assert_eq!(
        since("last monday", now).expect("last"),
        ms(at(2026, 11, 23, 0, 0))
    );
    assert_eq!(
        since("sunday", now).expect("sunday"),
        ms(at(2026, 11, 29, 0, 0))
    );
    assert_eq!(
        until("sunday", now).expect("sunday"),
        ms(at(2026, 11, 30, 0, 0))
    );
}

#[test]
fn a_weekday_is_the_latest_one_on_or_before_today() {
    let wednesday = at(2026, 12, 2, 15, 0);
    assert_eq!(
        since("monday", wednesday).expect("monday"),
        ms(at(2026, 11, 30, 0, 0))
    );
    assert_eq!(
        since("last monday", wednesday).expect("last"),
        ms(at(2026, 11, 30, 0, 0))
    );
    assert_eq!(
        since("wednesday", wednesday).expect("wed"),
        ms(at(2026, 12, 2, 0, 0))
    );
    assert_eq!(
        since("thursday", wednesday).expect("thu"),
        ms(at(2026, 11, 26, 0, 0))
    );
}

#[test]
fn weeks_start_on_monday() {
    let now = monday_after_midnight();
    assert_eq!(
        since("this week", now).expect("this"),
        ms(at(2026, 11, 30, 0, 0))
    );
    assert_eq!(
        until("this week", now).expect("this"),
        ms(at(2026, 12, 7, 0, 0))
    );
    assert_eq!(
        since("last week", now).expect("last"),
        ms(at(2026, 11, 23, 0, 0))
    );
    assert_eq!(
        until("last week", now).expect("last"),
        ms(at(2026, 11, 30, 0, 0))
    );
    let sunday_night = at(2026, 12, 6, 23, 59);
    assert_eq!(
        since("this week", sunday_night).expect("this"),
        ms(at(2026, 11, 30, 0, 0))
    );
}

#[test]
fn months_and_years_are_whole() {
    let now = monday_after_midnight();
    assert_eq!(
        since("this month", now).expect("this"),
        ms(at(2026, 11, 1, 0, 0))
    );
    assert_eq!(
        until("this month", now).expect("this"),
        ms(at(2026, 12, 1, 0, 0))
    );
    assert_eq!(
        since("last month", now).expect("last"),
        ms(at(2026, 10, 1, 0, 0))
    );
    assert_eq!(
        until("last month", now).expect("last"),
        ms(at(2026, 11, 1, 0, 0))
    );
    let january = at(2027, 1, 10, 9, 0);
    assert_eq!(
        since("last month", january).expect("last"),
        ms(at(2026, 12, 1, 0, 0))
    );
    assert_eq!(
        since("this year", january).expect("year"),
        ms(at(2027, 1, 1, 0, 0))
    );
}

#[test]
fn days_ago_are_days_and_hours_ago_are_moments() {
    let now = monday_after_midnight();
    assert_eq!(
        since("3 days ago", now).expect("days"),
        ms(at(2026, 11, 27, 0, 0))
    );
    assert_eq!(
        until("3 days ago", now).expect("days"),
        ms(at(2026, 11, 28, 0, 0))
    );
    assert_eq!(
        since("1 day ago", now).expect("day"),
        ms(at(2026, 11, 29, 0, 0))
    );
    assert_eq!(
        since("2 weeks ago", now).expect("weeks"),
        ms(at(2026, 11, 16, 0, 0))
    );
    assert_eq!(
        since("2 hours ago", now).expect("hours"),
        ms(now) - 2 * 3600 * 1000
    );
    assert_eq!(
        until("2 hours ago", now).expect("hours"),
        ms(now) - 2 * 3600 * 1000
    );
}

#[test]
fn written_dates_are_days_and_times_are_moments() {
    let now = monday_after_midnight();
    assert_eq!(
        since("2026-11-10", now).expect("day"),
        ms(at(2026, 11, 10, 0, 0))
    );
    assert_eq!(
        until("2026-11-10", now).expect("day"),
        ms(at(2026, 11, 11, 0, 0))
    );
    assert_eq!(
        since("2026-11-10 14:30", now).expect("t"),
        ms(at(2026, 11, 10, 14, 30))
    );
    assert_eq!(
        until("2026-11-10T14:30", now).expect("t"),
        ms(at(2026, 11, 10, 14, 30))
    );
}

#[test]
fn nonsense_is_refused_in_a_sentence() {
    let err = since("the day after never", monday_after_midnight()).expect_err("nonsense");
    assert!(
        err.to_string().contains("is not a date duet understands"),
        "{err}"
    );
}

#[test]
fn an_entry_dated_a_past_day_sits_at_its_noon_and_today_keeps_the_time() {
    let now = monday_after_midnight();
    assert_eq!(
        entry_date("yesterday", now).expect("y"),
        ms(at(2026, 11, 29, 12, 0))
    );
    assert_eq!(entry_date("today", now).expect("t"), ms(now));
    assert_eq!(
        entry_date("2026-11-29 23:50", now).expect("m"),
        ms(at(2026, 11, 29, 23, 50))
    );
    let err = entry_date("2026-12-03", now).expect_err("future");
    assert!(err.to_string().contains("in the future"), "{err}");
}
