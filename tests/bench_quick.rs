//! The benchmark's quick mode, as part of the test suite: it runs every
//! measurement on a 1,000-entry journal and fails if any entry does not
//! arrive. It asserts no timing; timing goals live in the benchmark.

use std::process::Command;

#[test]
fn the_quick_benchmark_runs_and_every_entry_arrives() {
    let exe = std::env::current_exe().expect("test path");
    let profile_dir = exe.parent().and_then(|p| p.parent()).expect("profile dir");
    let target_dir = profile_dir.parent().expect("target dir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(&cargo);
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "duet-bench",
            "-p",
            "duet",
            "--target-dir",
        ])
        .arg(target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    assert!(build.status().expect("cargo build").success());
    let json = tempfile::NamedTempFile::new().expect("temp file");
    let out = Command::new(profile_dir.join("duet-bench"))
        .arg("--quick")
        .arg("--json")
        .arg(json.path())
        .env("CARGO", &cargo)
        .env_remove("DUET_HOME")
        .output()
        .expect("run duet-bench");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(json.path()).expect("read")).expect("json");
    let net = &report["net"][0];
    assert_eq!(net["entries"], 1000);
    assert_eq!(net["live_adds"], 50);
    assert_eq!(net["live"]["runs"], 50, "every live entry arrived");
    assert!(report["local"]["bytes_per_plaintext_byte_after"]
        .as_f64()
        .is_some());
}
