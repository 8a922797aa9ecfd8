//! The basics a command-line tool is expected to have: shell completions,
//! a manual page, a question before deleting, exports that end in a
//! newline, errors that keep their cause, a read-only home that still
//! reads, and the daemon installed as a service.

mod common;

use std::path::Path;
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
        for command in ["add", "log", "rm", "export", "service"] {
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

/// `duet service …` for `device`, with its own config dir (where the
/// systemd unit goes) inside the device's temporary directory.
fn service(device: &Device, args: &[&str]) -> std::process::Output {
    let mut all = vec!["service"];
    all.extend_from_slice(args);
    device
        .cmd(&all)
        .env("XDG_CONFIG_HOME", device.dir.path().join("config"))
        .output()
        .expect("run duet service")
}

#[test]
fn the_service_unit_runs_this_binary_on_this_home_and_systemd_accepts_it() {
    let device = Device::init("Alex");
    let out = service(&device, &["install", "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = String::from_utf8(out.stdout).expect("utf-8 unit");
    let exe = duet_bin().canonicalize().expect("the binary's path");
    let home = device.home().canonicalize().expect("the home's path");
    assert!(
        unit.contains(&format!(
            "ExecStart=\"{}\" daemon --home \"{}\"",
            exe.display(),
            home.display()
        )),
        "the unit does not run this binary on this home: {unit}"
    );
    assert!(unit.contains("NoNewPrivileges=yes") && unit.contains("ProtectSystem=strict"));
    assert!(
        !device.dir.path().join("config").exists(),
        "--dry-run wrote something"
    );

    let Ok(which) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped the systemd-analyze check: systemd-analyze is not installed");
        return;
    };
    assert!(which.status.success());
    let dir = device.dir.path().join("unit");
    std::fs::create_dir_all(&dir).expect("unit dir");
    std::fs::write(dir.join("duet.service"), &unit).expect("write the unit");
    // A private runtime dir: `--user` wants one, and there may be no
    // user session (CI).
    let runtime = device.dir.path().join("analyze-run");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(dir.join("duet.service"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("run systemd-analyze");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !said.contains("duet.service"),
        "systemd-analyze verify rejects the unit: {said}\n{unit}"
    );
}

#[test]
fn without_systemd_install_says_so_and_writes_nothing() {
    if Path::new("/run/systemd/system").exists() {
        eprintln!("skipped: systemd runs on this machine, so `install` would install");
        return;
    }
    let device = Device::init("Alex");
    let out = service(&device, &["install"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("systemd is not running") && said.contains("changed nothing"),
        "install does not say systemd is missing: {said}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("[Service]"),
        "install does not print what it would install"
    );
    assert!(
        !device.dir.path().join("config").exists(),
        "install wrote something without systemd"
    );
}

#[test]
fn without_a_daemon_status_and_sync_suggest_the_service() {
    let device = Device::init("Alex");
    let status = device.ok(&["status"]);
    assert!(
        status.contains("duet service install"),
        "status does not suggest the service: {status}"
    );
    let out = device.run(&["sync"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("no daemon is running") && said.contains("duet service install"),
        "sync does not suggest the service: {said}"
    );
}
