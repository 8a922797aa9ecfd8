//! The basics a command-line tool is expected to have: shell completions,
//! a manual page, a question before deleting, exports that end in a
//! newline, errors that keep their cause, a read-only home that still
//! reads, and the daemon installed as a service.

mod common;

use std::process::{Command, Stdio};

use common::{duet_bin, Device};

fn stdout_of(device: &Device, args: &[&str]) -> String {
    device.ok(args)
}

#[test]
fn bash_accepts_the_completion_script_and_it_completes_duet() {
    let device = Device::new();
    let script = stdout_of(&device, &["completions", "bash"]);
    let file = device.dir.path().join("duet.bash");
    std::fs::write(&file, &script).expect("write the script");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("run bash -n");
    assert!(
        syntax.status.success(),
        "bash -n rejects the script: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    let sourced = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p duet", file.display()))
        .output()
        .expect("run bash");
    let said = String::from_utf8_lossy(&sourced.stdout);
    assert!(
        sourced.status.success() && said.contains("duet"),
        "sourcing the script defines no completion for duet: {said} {}",
        String::from_utf8_lossy(&sourced.stderr)
    );
}

#[test]
fn zsh_and_fish_scripts_name_the_commands() {
    let device = Device::new();
    for shell in ["zsh", "fish"] {
        let script = stdout_of(&device, &["completions", shell]);
        for command in ["add", "log", "rm", "export"] {
            assert!(
                script.contains(command),
                "the {shell} script does not complete `{command}`"
            );
        }
    }
}

#[test]
fn the_manual_page_is_roff_that_describes_every_command() {
    let device = Device::new();
    let page = stdout_of(&device, &["man"]);
    assert!(page.contains(".TH duet 1"), "no man page title: {page}");
    for command in [
        "init", "add", "log", "show", "rm", "export", "invite", "join",
    ] {
        assert!(
            page.contains(&format!(".SS \"duet {command}\"")),
            "the page has no section for `duet {command}`"
        );
    }
    assert!(page.contains("\\-\\-yes"), "`rm --yes` is not documented");
    assert!(
        !page.contains("whole\\-job"),
        "the hidden internal command shows"
    );
}

fn live_ids(device: &Device) -> Vec<String> {
    device
        .json(&["log"])
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn rm_without_a_terminal_refuses_unless_told_yes() {
    let device = Device::init("Alex");
    let id = device.add("We walked by the river until the light went");
    let out = device.run(&["rm", &id]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--yes") && said.contains("no terminal"),
        "the refusal does not say to pass --yes: {said}"
    );
    assert_eq!(live_ids(&device), vec![id.clone()], "the entry was lost");

    device.ok(&["rm", "--yes", &id]);
    assert!(live_ids(&device).is_empty(), "rm --yes kept the entry");
}

/// Runs `duet rm ID` under a pseudo-terminal (util-linux `script`), typing
/// `answer` and a newline; returns what the terminal showed.
fn rm_on_a_terminal(device: &Device, id: &str, answer: &str) -> String {
    use std::io::Write;
    let command = format!("{} rm {id}", duet_bin().display());
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("DUET_HOME", device.home())
        .env("XDG_RUNTIME_DIR", device.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script (util-linux)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{answer}\n").as_bytes())
        .expect("type the answer");
    let out = child.wait_with_output().expect("wait for script");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "rm on a terminal failed: {shown}");
    shown
}

#[test]
fn rm_asks_on_a_terminal_and_no_keeps_the_entry() {
    let device = Device::init("Alex");
    let id = device.add("We walked by the river until the light went and the cold came");
    let shown = rm_on_a_terminal(&device, &id, "n");
    assert!(
        shown.contains(&format!(
            "Delete entry {} \"We walked by the river until the light…\"? [y/N]",
            &id[..7]
        )),
        "the question does not name the entry: {shown}"
    );
    assert_eq!(
        live_ids(&device),
        vec![id.clone()],
        "\"n\" deleted the entry"
    );

    rm_on_a_terminal(&device, &id, "y");
    assert!(live_ids(&device).is_empty(), "\"y\" kept the entry");
}

#[test]
fn a_json_export_ends_with_a_newline_and_parses() {
    let device = Device::init("Alex");
    device.add("A walk by the river");
    let out = device.ok(&["export", "--format", "json"]);
    assert!(out.ends_with("}\n"), "the export does not end in a newline");
    let parsed: serde_json::Value = serde_json::from_str(&out).expect("the export is JSON");
    assert_eq!(parsed["entries"][0]["body"], "A walk by the river");

    let file = device.dir.path().join("out.json");
    let path = file.to_str().expect("utf-8 path");
    device.ok(&["export", "--format", "json", "--output", path]);
    let written = std::fs::read_to_string(&file).expect("read the export");
    assert!(
        written.ends_with("}\n"),
        "the exported file does not end in a newline"
    );
}

#[test]
fn an_error_says_why_the_system_refused() {
    let device = Device::init("Alex");
    let missing = device.dir.path().join("no such folder").join("x.md");
    let out = device.run(&[
        "export",
        "--format",
        "md",
        "-o",
        missing.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        said.trim_end(),
        format!(
            "duet: cannot create {}: no such file or directory",
            missing.display()
        ),
        "the reason is missing or not in plain words"
    );
}

/// Runs `duet ARGS` on `device`'s home mounted read-only, in a mount
/// namespace of its own (`unshare`), so the mount ends with the command.
///
/// Why a read-only mount and not `chmod`: the tests run as root, whom
/// file modes do not stop, so a chmod'ed home would still be written and
/// the test would prove nothing. A read-only bind mount refuses every
/// write, root's too, exactly as a read-only disk or a backup mounted
/// read-only does. `None` where mount namespaces cannot be made (not
/// root); with `DUET_REQUIRE_NETNS` set, as CI sets it, that fails.
fn on_a_read_only_home(device: &Device, args: &[&str]) -> Option<std::process::Output> {
    let read_only = device.dir.path().join("read-only");
    std::fs::create_dir_all(&read_only).expect("mount point");
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            r#"src=$1; dst=$2; shift 2
               mount --bind "$src" "$dst" || exit 97
               mount -o remount,bind,ro "$dst" || exit 97
               exec "$@""#,
        )
        .arg("sh")
        .arg(device.home())
        .arg(&read_only)
        .arg(duet_bin())
        .args(args)
        .env("DUET_HOME", &read_only)
        .env("XDG_RUNTIME_DIR", device.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    let said = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(97) || said.contains("unshare failed") {
        assert!(
            std::env::var_os("DUET_REQUIRE_NETNS").is_none(),
            "cannot mount a read-only home here (needs root): {said}"
        );
        eprintln!("skipped: cannot mount a read-only home here (needs root): {said}");
        return None;
    }
    Some(out)
}

#[test]
fn a_read_only_home_still_reads_and_a_write_says_why_it_cannot() {
    let device = Device::init("Alex");
    let id = device.add("A walk by the river");
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let short = &id[..7];
    for args in [
        vec!["log"],
        vec!["show", short],
        vec!["export", "--format", "md"],
    ] {
        let Some(out) = on_a_read_only_home(&device, &args) else {
            return;
        };
        assert!(
            out.status.success() && text(&out).contains("A walk by the river"),
            "`duet {}` fails on a read-only home: {}",
            args.join(" "),
            text(&out)
        );
    }
    let out = on_a_read_only_home(&device, &["status"]).expect("mounted before");
    assert!(out.status.success(), "status fails: {}", text(&out));

    let out = on_a_read_only_home(&device, &["add", "more"]).expect("mounted before");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("read-only file system"),
        "add does not say why: {}",
        text(&out)
    );
    let out = on_a_read_only_home(&device, &["react", short, "❤️"]).expect("mounted before");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        said.lines().count(),
        1,
        "a write on a read-only home is not one sentence: {said}"
    );
    assert!(
        said.contains("can only be read"),
        "react does not say why: {said}"
    );

    // Nothing was lost or half-written: the home, writable again, is as it was.
    assert_eq!(device.bodies(), ["A walk by the river"]);
}
