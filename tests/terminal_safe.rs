//! Names and entries carrying terminal escape sequences, written on one
//! device and paired or synced to the other, never reach a terminal raw:
//! every command prints their control characters as visible symbols, and
//! `--json` keeps them exact.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

use common::{eventually, join_with_code, Device};

/// What a hostile name or entry could carry: clear the screen, set the
/// window title, ring the bell, a C1 control sequence introducer, a
/// right-to-left override, a carriage return.
const NASTY: &str = "\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}31m\u{202e}\r";

/// Any character a terminal would act on, other than newline and tab.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c < ' ' && c != '\n' && c != '\t')
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
        .collect()
}

fn assert_clean(what: &str, out: &std::process::Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        let found = raw_controls(&text);
        assert!(
            found.is_empty(),
            "`duet {what}` printed raw control characters {found:?} on {stream}: {text:?}"
        );
    }
}

#[test]
fn control_characters_from_the_journal_or_a_peer_never_reach_the_terminal() {
    let alex = Device::new();
    let person = format!("Alex{NASTY}");
    assert_clean(
        "init",
        &alex.run(&["init", "--person", &person, "--device", "laptop"]),
    );
    let daemon = alex.daemon();
    let addr = alex.addrs().into_iter().next().expect("address");

    // Sam joins with a name and device name full of escapes, and Alex's
    // `duet invite` (not --json) prints who joined.
    let mut invite = alex
        .cmd(&["invite", "--yes", "--no-qr", "--timeout", "2m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("invite");
    let stdout = invite.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let code = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("when it asks:")
                .nth(1)
                .map(|c| c.trim().to_string())
        })
        .expect("the code phrase");
    let sam = Device::new();
    let joined = join_with_code(
        &sam,
        &format!("Sam{NASTY}"),
        &format!("phone{NASTY}"),
        &code,
        &addr,
    );
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    assert_clean("join", &joined);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let _ = invite.wait();
    let printed = rest.join("\n");
    assert!(printed.contains("has joined"), "{printed}");
    assert!(
        raw_controls(&printed).is_empty(),
        "invite printed {printed:?}"
    );

    // Sam writes entries with escapes everywhere, one with a NUL through
    // stdin, replies and reacts; they reach Alex.
    let _sam_daemon = sam.daemon();
    let tagged = sam.json(&[
        "add",
        "--kind",
        "feeling",
        "--tag",
        &format!("us{NASTY}"),
        "--mood",
        &format!("warm{NASTY}"),
        &format!("Hello{NASTY}\nsecond line\twith a tab"),
    ]);
    let sams = tagged["id"].as_str().expect("id").to_string();
    let mut add = sam
        .cmd(&["--json", "add", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("add");
    add.stdin
        .take()
        .expect("stdin")
        .write_all(format!("a NUL \u{0} here{NASTY}").as_bytes())
        .expect("write");
    assert!(add.wait_with_output().expect("add").status.success());
    let alexs = alex.add("an entry of Alex's");
    eventually(
        Duration::from_secs(30),
        "Alex's entry on Sam's device",
        || sam.has_body("an entry of Alex's"),
    );
    sam.ok(&["reply", &alexs, &format!("a reply{NASTY}")]);
    sam.ok(&["react", &alexs, "❤️\u{1b}[2J\u{7}"]);
    sam.ok(&["heard", &alexs]);
    eventually(
        Duration::from_secs(30),
        "Sam's writes on Alex's device",
        || {
            let log = alex.json(&["log"]);
            log.as_array().is_some_and(|entries| {
                entries.len() == 3
                    && entries
                        .iter()
                        .any(|e| e["replies"].as_array().is_some_and(|r| !r.is_empty()))
            })
        },
    );

    // Every command Alex runs prints them safely; --json keeps them exact.
    for args in [
        vec!["log"],
        vec!["show", &sams],
        vec!["show", &alexs],
        vec!["devices"],
        vec!["status"],
        vec!["prompt"],
        vec!["edit", &sams, "not mine"],
        vec!["rm", &sams],
    ] {
        assert_clean(&args.join(" "), &alex.run(&args));
    }
    let exact = alex.json(&["show", &sams]);
    assert!(exact["body"].as_str().expect("body").contains(NASTY));
    // (`join` trims the name it is given, so its final \r is gone.)
    assert!(exact["person"]
        .as_str()
        .expect("person")
        .contains(NASTY.trim_end()));
    // A third device, with a hostile name, joins through Alex's; Sam's
    // device tells its person about it, safely (the notice is on stderr).
    let _third = common::pair(&alex, &format!("Eve{}", NASTY.trim_end()), "tablet");
    sam.stderr.borrow_mut().clear();
    eventually(
        Duration::from_secs(30),
        "the notice on Sam's device",
        || {
            sam.ok(&["log"]);
            sam.stderr.borrow().contains("notice")
        },
    );
    let told = sam.stderr.borrow().clone();
    assert!(raw_controls(&told).is_empty(), "{told:?}");
    drop(daemon);
}
