//! The command line as people reach for it: words without quotes, piped
//! text, dates as calendar days, one-line logs, a pager on a terminal,
//! answers with their question, replies by id, and usage mistakes that
//! say everything clap knows.

mod common;

use std::process::Command;

use common::{duet_bin, Device};

/// Just after midnight on Monday 30 November 2026, in UTC (`TZ=UTC`).
const MONDAY_AFTER_MIDNIGHT: &str = "2026-11-30T00:05:00Z";

fn at(device: &Device, now: &str, args: &[&str]) -> std::process::Output {
    let out = device
        .cmd(args)
        .env("DUET_NOW", now)
        .env("TZ", "UTC")
        .output()
        .expect("run duet");
    assert!(
        out.status.success(),
        "duet {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn bodies_at(device: &Device, now: &str, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--json", "log"];
    all.extend_from_slice(args);
    let out = at(device, now, &all);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut bodies: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["body"].as_str().expect("body").to_string())
        .collect();
    bodies.sort();
    bodies
}

#[test]
fn words_without_quotes_are_the_entry() {
    let device = Device::init("Alex");
    device.ok(&["add", "--kind", "feeling", "I", "loved", "our", "walk"]);
    device.ok(&["add", "We", "laughed", "--tag", "us"]);
    let log = device.json(&["log"]);
    assert_eq!(log[1]["body"], "I loved our walk");
    assert_eq!(log[1]["kind"], "feeling");
    assert_eq!(log[0]["body"], "We laughed");
    assert_eq!(log[0]["tags"][0], "us");
}

#[test]
fn piped_text_is_the_entry_without_a_dash() {
    let device = Device::init("Alex");
    let out = device.run_with_stdin(&["add"], b"x\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(device.bodies(), ["x"]);
}

#[test]
fn date_words_are_calendar_days_at_a_fixed_now() {
    let device = Device::init("Alex");
    let write = |date: &str, body: &str| {
        at(
            &device,
            MONDAY_AFTER_MIDNIGHT,
            &["add", "--date", date, body],
        );
    };
    write("2026-11-29 08:00", "sunday morning");
    write("2026-11-29 22:30", "sunday evening");
    write("2026-11-27 12:00", "friday");
    write("2026-11-23 09:00", "last monday");
    at(&device, MONDAY_AFTER_MIDNIGHT, &["add", "just now"]);
    let now = MONDAY_AFTER_MIDNIGHT;
    assert_eq!(bodies_at(&device, now, &["--since", "today"]), ["just now"]);
    assert_eq!(
        bodies_at(&device, now, &["--since", "monday"]),
        ["just now"]
    );
    assert_eq!(
        bodies_at(&device, now, &["--since", "this week"]),
        ["just now"]
    );
    assert_eq!(
        bodies_at(&device, now, &["--since", "yesterday"]),
        ["just now", "sunday evening", "sunday morning"]
    );
    assert_eq!(
        bodies_at(
            &device,
            now,
            &["--since", "yesterday", "--until", "yesterday"]
        ),
        ["sunday evening", "sunday morning"]
    );
    assert_eq!(
        bodies_at(
            &device,
            now,
            &["--since", "last week", "--until", "last week"]
        ),
        ["friday", "last monday", "sunday evening", "sunday morning"]
    );
    assert_eq!(
        bodies_at(
            &device,
            now,
            &["--since", "3 days ago", "--until", "3 days ago"]
        ),
        ["friday"]
    );
    // On Wednesday afternoon, `monday` is two days back and `today` is
    // Wednesday alone.
    let wednesday = "2026-12-02T15:00:00Z";
    assert_eq!(
        bodies_at(&device, wednesday, &["--since", "monday"]),
        ["just now"]
    );
    assert!(bodies_at(&device, wednesday, &["--since", "today"]).is_empty());
}

#[test]
fn an_entry_dated_yesterday_is_listed_yesterday() {
    let device = Device::init("Alex");
    at(
        &device,
        MONDAY_AFTER_MIDNIGHT,
        &["add", "--date", "yesterday", "the", "fair"],
    );
    let out = at(&device, MONDAY_AFTER_MIDNIGHT, &["--json", "log"]);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // Sunday 29 November 2026, 12:00 UTC.
    assert_eq!(log[0]["created"], 1_795_953_600_000_i64);
    let out = device
        .cmd(&["add", "--date", "next year", "no"])
        .env("DUET_NOW", MONDAY_AFTER_MIDNIGHT)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in the future"));
    assert_eq!(device.bodies(), ["the fair"]);
}

#[test]
fn oneline_prints_one_line_per_entry_and_reverse_puts_the_oldest_first() {
    let device = Device::init("Alex");
    device.ok(&["add", "first"]);
    device.add("second entry\nwith a second line");
    device.ok(&["add", "third"]);
    let out = device.ok(&["log", "--oneline"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].ends_with("third"), "{out}");
    assert!(lines[1].contains("second entry…"), "{out}");
    assert!(lines.iter().all(|l| l.contains("Alex · note")), "{out}");
    let out = device.ok(&["log", "--oneline", "--reverse"]);
    assert!(
        out.lines().next().is_some_and(|l| l.ends_with("first")),
        "{out}"
    );
}

/// Runs `duet args` on a pseudo-terminal (python3's `pty`), returning
/// what the terminal showed.
fn on_a_terminal(device: &Device, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg("import os, pty, sys; sys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))")
        .arg(duet_bin())
        .args(args)
        .env("DUET_HOME", device.home())
        .env_remove("PAGER")
        .env_remove("DUET_PAGER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn log_goes_through_the_pager_on_a_terminal_only() {
    let device = Device::init("Alex");
    device.ok(&["add", "a", "line", "to", "page"]);
    // `sed` as the pager marks every line it passed through.
    let paged = on_a_terminal(
        &device,
        &[("PAGER", "sed 's/^/PAGED:/'")],
        &["log", "--oneline"],
    );
    assert!(
        paged.contains("PAGED:") && paged.contains("a line to page"),
        "{paged}"
    );
    let direct = on_a_terminal(
        &device,
        &[("PAGER", "sed 's/^/PAGED:/'")],
        &["log", "--oneline", "--no-pager"],
    );
    assert!(
        !direct.contains("PAGED:") && direct.contains("a line to page"),
        "{direct}"
    );
    let piped = device
        .cmd(&["log"])
        .env("PAGER", "sed 's/^/PAGED:/'")
        .output()
        .expect("run");
    assert!(!String::from_utf8_lossy(&piped.stdout).contains("PAGED:"));
}

#[test]
fn an_answer_keeps_the_question_it_answers() {
    let device = Device::init("Alex");
    let question = device.json(&["prompt"])["text"]
        .as_str()
        .expect("text")
        .to_string();
    let kind = device.json(&["prompt"])["kind"]
        .as_str()
        .expect("kind")
        .to_string();
    device.ok(&["prompt", "--answer", "the", "sea", "at", "dawn"]);
    let entry = &device.json(&["log"])[0];
    assert_eq!(entry["body"], "the sea at dawn");
    assert_eq!(entry["prompt"].as_str(), Some(question.as_str()));
    assert_eq!(entry["kind"].as_str(), Some(kind.as_str()));
    let shown = device.ok(&["show", entry["id"].as_str().expect("id")]);
    assert!(
        shown.contains(&question) && shown.contains("the sea at dawn"),
        "{shown}"
    );
}

#[test]
fn a_reply_id_works_wherever_an_entry_id_does() {
    let device = Device::init("Alex");
    let entry = device.add("a long day");
    let out = device.json(&["reply", &entry, "tell me about it"]);
    let reply = out["reply_id"].as_str().expect("reply id").to_string();
    let shown = device.ok(&["show", &reply[..6]]);
    assert!(
        shown.contains("a long day") && shown.contains("tell me about it"),
        "{shown}"
    );
    device.ok(&["react", &reply[..6], "🤗"]);
    let e = device.json(&["show", &entry]);
    assert_eq!(e["replies"][0]["reactions"][0]["emoji"], "🤗");
    device.ok(&["edit", &reply[..6], "tell me everything"]);
    let e = device.json(&["show", &entry]);
    assert_eq!(e["replies"][0]["body"], "tell me everything");
    assert!(e["replies"][0]["edited"].is_i64());
    // Deleting by a reply's id deletes the reply, not the entry.
    device.ok(&["rm", "--yes", &reply[..6]]);
    let e = device.json(&["show", &entry]);
    assert_eq!(e["body"], "a long day");
    assert_eq!(e["replies"].as_array().map(Vec::len), Some(0));
}

#[test]
fn an_id_too_short_says_ids_need_four_characters() {
    let device = Device::init("Alex");
    let id = device.add("words");
    let out = device.run(&["show", &id[..2]]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 4 characters"), "{stderr}");
}

fn usage_error(args: &[&str]) -> String {
    let device = Device::init("Alex");
    let out = device.run(args);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_argument_is_named_with_the_subcommands_help() {
    let stderr = usage_error(&["show"]);
    assert!(stderr.contains("<ID>"), "{stderr}");
    assert!(stderr.contains("duet show --help"), "{stderr}");
}

#[test]
fn a_mistyped_subcommand_gets_a_suggestion() {
    let stderr = usage_error(&["lgo"]);
    assert!(stderr.contains("log"), "{stderr}");
    assert!(stderr.contains("similar"), "{stderr}");
}

#[test]
fn a_wrong_value_lists_the_possible_ones() {
    let stderr = usage_error(&["log", "--kind", "poem"]);
    assert!(
        stderr.contains("gratitude") && stderr.contains("duet log --help"),
        "{stderr}"
    );
}
