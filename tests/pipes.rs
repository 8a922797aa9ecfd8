//! A reader that goes away early (`duet log | head -1`) ends duet quietly,
//! as it ends git: success, or death by SIGPIPE (141 in a shell), never a
//! panic or an error line.

mod common;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use common::Device;

/// Runs `duet args`, reads `take` bytes of its output and closes the pipe.
fn read_a_little(device: &Device, args: &[&str], take: usize) {
    let mut child = device
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut head = vec![0u8; take];
    stdout.read_exact(&mut head).expect("the first bytes");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let quiet = out.status.success() || out.status.signal() == Some(libc_sigpipe());
    assert!(quiet, "duet {args:?} ended with {:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "duet {args:?} said: {stderr}");
}

/// SIGPIPE's number on Linux.
fn libc_sigpipe() -> i32 {
    13
}

#[test]
fn a_reader_that_leaves_early_ends_duet_quietly() {
    let device = Device::init("Alex");
    // One entry far longer than a pipe holds, so duet is still writing
    // when the reader leaves.
    let long = "I want to remember this evening. ".repeat(6_000);
    let added = device.run_with_stdin(&["add", "-"], long.as_bytes());
    assert!(added.status.success());
    device.add("a short one");

    read_a_little(&device, &["log"], 1);
    read_a_little(&device, &["--json", "log"], 10);
    read_a_little(&device, &["export", "--format", "md"], 1);
    read_a_little(&device, &["export", "--format", "json"], 1);
}
