//! Partners on different networks, on one machine: network namespaces
//! made by the test (the `duet-netns` crate), a "public" network with the
//! mirror, and two homes, each behind a router that masquerades (NAT), one
//! device in each. Paired at home first (on loopback), then apart: they
//! reach each other through the mirror with no address given by hand, and
//! hole punch to a direct connection where both NATs allow it.
//!
//! Needs root, `ip` and `nft`. Without them the tests say why and pass,
//! unless `DUET_REQUIRE_NETNS` is set (as `.ci/run` does), when they fail.

mod common;

use std::time::Duration;

use common::{contains, eventually, files_under, pair, Daemon, Device, Invite};
use duet_netns::{self as netns, NatKind, Net, Node, MIRROR_ADDR};

const WAIT: Duration = Duration::from_secs(60);
const MIRROR_PORT: u16 = 4001;

/// The namespaces, or `None` (said on stderr) when this machine cannot
/// make them.
fn net(a: NatKind, b: NatKind) -> Option<Net> {
    match netns::available() {
        Ok(()) => Some(Net::new(a, b).expect("build the networks")),
        Err(why) => {
            assert!(
                std::env::var_os("DUET_REQUIRE_NETNS").is_none(),
                "the network-namespace tests cannot run here: {why}"
            );
            eprintln!("skipped: the network-namespace tests cannot run here: {why}");
            None
        }
    }
}

/// Starts `device`'s daemon inside `node`'s namespace, on every interface.
fn daemon_in(net: &Net, node: Node, device: &Device, listen: &str) -> Daemon {
    let ns = net.ns(node);
    let log = std::env::var("DUET_NAT_LOG").unwrap_or_else(|_| "info".into());
    device.daemon_as(
        &[("RUST_LOG", log.as_str())],
        &["--listen", listen],
        &["ip", "netns", "exec", &ns],
    )
}

/// Runs `duet ARGS` for `device`'s home inside `node`'s namespace, with
/// `env` (the code or link of an invitation).
fn duet_in(
    net: &Net,
    node: Node,
    device: &Device,
    args: &[&str],
    env: (&str, &str),
) -> std::process::Output {
    let runtime = device.dir.path().join("run");
    std::fs::create_dir_all(&runtime).expect("runtime dir");
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &net.ns(node)])
        .arg(common::duet_bin())
        .args(args)
        .env("DUET_HOME", device.home())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env(env.0, env.1)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run duet");
    if !out.status.success() {
        common::show_daemon_logs();
    }
    out
}

/// Sam, at home behind the other NAT, joins Alex's journal with the
/// invitation's link, which leads through the mirror once Alex holds a
/// reservation on it.
fn sam_joins_through_the_mirror(net: &Net, alex: &Device) -> Device {
    eventually(WAIT, "Alex to hold a reservation on the mirror", || {
        alex.addrs()
            .iter()
            .any(|a| a.contains("p2p-circuit") && a.contains(&MIRROR_ADDR.to_string()))
    });
    let invite = Invite::open(alex, "2m");
    let sam = Device::new();
    let out = duet_in(
        net,
        Node::HostB,
        &sam,
        &[
            "join",
            "--person",
            "Sam",
            "--device",
            "desktop",
            "--no-mdns",
            "--timeout",
            "60s",
        ],
        ("DUET_URI", &invite.uri),
    );
    assert!(
        out.status.success(),
        "join across networks failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let joined = invite.finish().expect("the invite reports Sam's device");
    assert_eq!(joined["joined"]["person"], "Sam");
    sam
}

fn device_id(device: &Device) -> String {
    let home = duet_core::home::Home::new(device.home());
    duet_core::keys::DeviceKey::read(&home.device_key_path())
        .expect("device key")
        .id()
        .to_text()
}

/// How `device` is connected to `id`: "direct", "relayed", or "".
fn via(device: &Device, id: &str) -> String {
    device.json(&["status"])["status"]["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["device_id"] == id).cloned())
        .and_then(|p| p["via"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Alex and a mirror, paired at home on loopback; the mirror announces the
/// address it will have on the public network. Alex's and the mirror's
/// daemons run (stop them with the returned handles).
fn alex_and_mirror_at_home() -> (Device, Device, Daemon, Daemon) {
    let alex = Device::init("Alex");
    let a = alex.daemon();
    let mirror = Device::new();
    let invite = Invite::open(&alex, "2m");
    let addr = alex.addrs().into_iter().next().expect("address");
    let out = mirror
        .cmd(&[
            "join",
            "--mirror",
            "--device",
            "shelf",
            "--no-mdns",
            "--addr",
            &addr,
            "--timeout",
            "60s",
        ])
        .env("DUET_CODE", &invite.code)
        .output()
        .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    invite.finish().expect("the mirror joined");
    let public = format!("/ip4/{MIRROR_ADDR}/tcp/{MIRROR_PORT}");
    let m = mirror.daemon_as(
        &[],
        &["--listen", "/ip4/127.0.0.1/tcp/0", "--announce", &public],
        &[],
    );
    let mirror_id = device_id(&mirror);
    eventually(WAIT, "Alex to know where the mirror will be", || {
        knows_public_mirror(&alex, &mirror_id)
    });
    (alex, mirror, a, m)
}

/// True when `device` has the mirror's public address.
fn knows_public_mirror(device: &Device, mirror_id: &str) -> bool {
    device.json(&["status"])["status"]["peers"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["device_id"] == mirror_id).cloned())
        .is_some_and(|p| p["addrs"].to_string().contains(&MIRROR_ADDR.to_string()))
}

/// Alex, a mirror and Sam, paired at home on loopback.
fn paired_at_home() -> (Device, Device, Device) {
    let (alex, mirror, a, m) = alex_and_mirror_at_home();
    let sam = pair(&alex, "Sam", "desktop");
    let s = sam.daemon();
    let mirror_id = device_id(&mirror);
    eventually(WAIT, "Sam to know where the mirror will be", || {
        knows_public_mirror(&sam, &mirror_id)
    });
    drop((a, s, m));
    (alex, mirror, sam)
}

#[test]
fn partners_behind_two_nats_sync_through_the_mirror_and_punch_through() {
    let Some(net) = net(NatKind::Cone, NatKind::Cone) else {
        return;
    };
    let (alex, mirror, sam) = paired_at_home();
    let (alex_id, sam_id) = (device_id(&alex), device_id(&sam));
    let _m = daemon_in(
        &net,
        Node::Mirror,
        &mirror,
        &format!("/ip4/0.0.0.0/tcp/{MIRROR_PORT}"),
    );
    let _a = daemon_in(&net, Node::HostA, &alex, "/ip4/0.0.0.0/tcp/0");
    let _s = daemon_in(&net, Node::HostB, &sam, "/ip4/0.0.0.0/tcp/0");

    // An entry either writes reaches the other, with no address given.
    alex.add("from Alex's home");
    sam.add("from Sam's home");
    eventually(WAIT, "each entry on the other's device", || {
        sam.has_body("from Alex's home") && alex.has_body("from Sam's home")
    });
    // Both NATs keep ports: the relayed connection becomes a direct one.
    eventually(WAIT, "a direct connection between the two homes", || {
        via(&alex, &sam_id) == "direct" && via(&sam, &alex_id) == "direct"
    });
    let status = sam.ok(&["status"]);
    assert!(status.contains("direct"), "{status}");
    // Each knows it cannot be dialled from outside its home: the mirror
    // tried.
    eventually(WAIT, "both devices to learn they are behind NAT", || {
        [&alex, &sam].iter().all(|d| {
            d.json(&["status"])["status"]["reachability"]
                .as_str()
                .is_some_and(|r| r.starts_with("private"))
        })
    });
    assert!(alex.ok(&["status"]).contains("reachable: private"));
    // And sync goes on over it.
    alex.add("after the hole punch");
    eventually(WAIT, "the later entry on Sam's device", || {
        sam.has_body("after the hole punch")
    });
    // The mirror read nothing.
    for file in files_under(mirror.dir.path())
        .into_iter()
        .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file()))
    {
        let bytes = std::fs::read(&file).expect("read");
        for needle in [
            "from Alex's home",
            "from Sam's home",
            "after the hole punch",
        ] {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{} holds {needle:?}",
                file.display()
            );
        }
    }
}

#[test]
fn behind_nats_that_forbid_hole_punching_sync_stays_relayed() {
    let Some(net) = net(NatKind::Symmetric, NatKind::Symmetric) else {
        return;
    };
    let (alex, mirror, sam) = paired_at_home();
    let alex_id = device_id(&alex);
    let _m = daemon_in(
        &net,
        Node::Mirror,
        &mirror,
        &format!("/ip4/0.0.0.0/tcp/{MIRROR_PORT}"),
    );
    let _a = daemon_in(&net, Node::HostA, &alex, "/ip4/0.0.0.0/tcp/0");
    let _s = daemon_in(&net, Node::HostB, &sam, "/ip4/0.0.0.0/tcp/0");
    eventually(WAIT, "a relayed connection between the two homes", || {
        via(&sam, &alex_id) == "relayed"
    });
    alex.add("through the relay");
    eventually(WAIT, "Alex's entry on Sam's device", || {
        sam.has_body("through the relay")
    });
    // Hole punching cannot succeed through these NATs: still relayed.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(via(&sam, &alex_id), "relayed");
    assert!(sam.ok(&["status"]).contains("relayed"));
    let doctor = String::from_utf8_lossy(&sam.run(&["doctor"]).stdout).into_owned();
    assert!(doctor.contains("connected through a mirror"), "{doctor}");
}

/// Store and forward across the NATs: Alex writes while Sam is off, then
/// goes off; Sam comes on and gets Alex's entries from the mirror alone.
#[test]
fn an_entry_waits_on_the_mirror_for_a_partner_who_was_away() {
    let Some(net) = net(NatKind::Cone, NatKind::Cone) else {
        return;
    };
    let (alex, mirror, sam) = paired_at_home();
    let mirror_id = device_id(&mirror);
    let _m = daemon_in(
        &net,
        Node::Mirror,
        &mirror,
        &format!("/ip4/0.0.0.0/tcp/{MIRROR_PORT}"),
    );
    let a = daemon_in(&net, Node::HostA, &alex, "/ip4/0.0.0.0/tcp/0");
    alex.add("left with the mirror while Sam was away");
    eventually(WAIT, "the mirror to hold Alex's entry", || {
        let peers = alex.json(&["status"])["status"]["peers"].clone();
        peers.as_array().is_some_and(|p| {
            p.iter().any(|p| {
                p["device_id"] == mirror_id.as_str() && p["connected"] == true && p["waiting"] == 0
            })
        })
    });
    a.stop();
    let _s = daemon_in(&net, Node::HostB, &sam, "/ip4/0.0.0.0/tcp/0");
    eventually(
        WAIT,
        "Alex's entry on Sam's device, from the mirror",
        || sam.has_body("left with the mirror while Sam was away"),
    );
}

/// A device on another network pairs through the mirror: the invitation's
/// link names the inviting device's relayed address, and the mirror
/// relays for a device pairing while the invitation is open.
#[test]
fn a_device_on_another_network_pairs_through_the_mirror() {
    let Some(net) = net(NatKind::Cone, NatKind::Cone) else {
        return;
    };
    let (alex, mirror, a, m) = alex_and_mirror_at_home();
    drop((a, m));
    let _m = daemon_in(
        &net,
        Node::Mirror,
        &mirror,
        &format!("/ip4/0.0.0.0/tcp/{MIRROR_PORT}"),
    );
    let _a = daemon_in(&net, Node::HostA, &alex, "/ip4/0.0.0.0/tcp/0");
    let sam = sam_joins_through_the_mirror(&net, &alex);
    let _s = daemon_in(&net, Node::HostB, &sam, "/ip4/0.0.0.0/tcp/0");
    alex.add("welcome from across the city");
    eventually(WAIT, "Alex's entry on Sam's new device", || {
        sam.has_body("welcome from across the city")
    });
}

/// A mirror on a server, paired from a device behind NAT: the server
/// cannot dial the device, so the device dials the server's joiner
/// (`duet invite --dial`, `duet join --mirror --listen`). Then a partner
/// paired later, elsewhere, syncs through it.
#[test]
fn a_mirror_on_a_server_is_paired_from_behind_nat() {
    use std::io::BufRead;
    use std::process::Stdio;
    let Some(net) = net(NatKind::Cone, NatKind::Cone) else {
        return;
    };
    let alex = Device::init("Alex");
    let _a = daemon_in(&net, Node::HostA, &alex, "/ip4/0.0.0.0/tcp/0");
    let public = format!("/ip4/{MIRROR_ADDR}/tcp/{MIRROR_PORT}");
    let mut invite = alex
        .cmd(&[
            "--json",
            "invite",
            "--yes",
            "--no-qr",
            "--timeout",
            "2m",
            "--dial",
            &public,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("invite");
    let stdout = invite.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first: serde_json::Value =
        serde_json::from_str(&lines.next().expect("a line").expect("read")).expect("json");
    let code = first["code"].as_str().expect("code").to_string();
    let mirror = Device::new();
    let out = duet_in(
        &net,
        Node::Mirror,
        &mirror,
        &[
            "join",
            "--mirror",
            "--device",
            "vps",
            "--no-mdns",
            "--listen",
            &public,
            "--timeout",
            "60s",
        ],
        ("DUET_CODE", &code),
    );
    assert!(
        out.status.success(),
        "the mirror did not join: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let joined: serde_json::Value =
        serde_json::from_str(&lines.next().expect("joined").expect("read")).expect("json");
    assert_eq!(joined["joined"]["mirror"], true, "{joined}");
    let _ = invite.wait();
    let _m = daemon_in(
        &net,
        Node::Mirror,
        &mirror,
        &format!("/ip4/0.0.0.0/tcp/{MIRROR_PORT}"),
    );
    let mirror_id = device_id(&mirror);
    eventually(WAIT, "Alex to reach the mirror on the server", || {
        alex.json(&["status"])["status"]["peers"]
            .as_array()
            .is_some_and(|p| {
                p.iter()
                    .any(|p| p["device_id"] == mirror_id.as_str() && p["connected"] == true)
            })
    });
    // Sam, behind the other NAT, pairs through the mirror and syncs.
    let sam = sam_joins_through_the_mirror(&net, &alex);
    let _s = daemon_in(&net, Node::HostB, &sam, "/ip4/0.0.0.0/tcp/0");
    alex.add("through a mirror paired from home");
    eventually(WAIT, "Alex's entry on Sam's device", || {
        sam.has_body("through a mirror paired from home")
    });
}
