//! A mirror: a device on an always-on machine that holds the journal
//! sealed, with no key. It follows the signed device list, stores what
//! members send, and serves it to a member that was away; it can read
//! nothing, and strangers get nothing from it.

mod common;

use std::time::Duration;

use common::{contains, eventually, files_under, pair, Device, Invite};

const WAIT: Duration = Duration::from_secs(60);

/// Pairs a fresh home into `inviter`'s journal as a mirror.
fn pair_mirror(inviter: &Device, name: &str) -> Device {
    let mirror = Device::new();
    let invite = Invite::open(inviter, "2m");
    let addr = inviter.addrs().into_iter().next().expect("inviter address");
    let out = mirror
        .cmd(&[
            "join",
            "--mirror",
            "--device",
            name,
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
        "join --mirror failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("mirror"));
    let joined = invite.finish().expect("the invite reports the mirror");
    assert_eq!(joined["joined"]["mirror"], true, "{joined}");
    mirror
}

/// The status `device` has of the device `id`.
fn peer_status(device: &Device, id: &str) -> serde_json::Value {
    device.json(&["status"])["status"]["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["device_id"] == id).cloned())
        .unwrap_or_default()
}

fn device_id(device: &Device) -> String {
    device.json(&["status"])["status"]["device_id"]
        .as_str()
        .expect("device id")
        .to_string()
}

#[test]
fn a_mirror_stores_and_forwards_what_it_cannot_read() {
    let alex = Device::init("Alex");
    let a = alex.daemon();
    let mirror = pair_mirror(&alex, "shelf-box");
    assert!(
        !mirror.home().join("journal.key").exists(),
        "a mirror holds no journal key"
    );
    let _m = mirror.daemon();
    let mirror_id = device_id(&mirror);
    let listed = alex.ok(&["devices"]);
    assert!(
        listed.contains("shelf-box") && listed.contains("a mirror"),
        "{listed}"
    );
    // Nothing on a mirror to read.
    let log = mirror.run(&["log"]);
    assert!(!log.status.success());
    assert!(
        String::from_utf8_lossy(&log.stderr).contains("is a mirror"),
        "{}",
        String::from_utf8_lossy(&log.stderr)
    );

    // Sam joins later, from Alex; Sam learns where the mirror is from
    // Alex, with no address given by hand.
    let sam = pair(&alex, "Sam", "laptop");
    let s = sam.daemon();
    eventually(WAIT, "Sam to reach the mirror", || {
        peer_status(&sam, &mirror_id)["connected"] == true
    });
    alex.add("first, while everyone is on");
    eventually(WAIT, "the first entry on Sam's laptop", || {
        sam.has_body("while everyone is on")
    });

    // Sam goes away; Alex writes; the mirror takes it.
    s.stop();
    alex.add("written while Sam is away");
    eventually(WAIT, "the mirror to hold Alex's entry", || {
        let p = peer_status(&alex, &mirror_id);
        p["connected"] == true && p["waiting"] == 0 && p["last_sync"].is_i64()
    });
    // Alex goes away too; Sam comes back and gets it from the mirror.
    a.stop();
    let _s = sam.daemon();
    eventually(
        WAIT,
        "Alex's entry on Sam's laptop, from the mirror",
        || sam.has_body("written while Sam is away"),
    );
    let status = mirror.ok(&["status"]);
    assert!(
        status.contains("mirror:") && status.contains("running"),
        "{status}"
    );

    // The mirror's disk holds no entry text and no names: not in its
    // store, not in its logs.
    let files: Vec<_> = files_under(mirror.dir.path())
        .into_iter()
        .filter(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file()))
        .collect();
    assert!(files.iter().any(|f| f.ends_with("store.sqlite")));
    assert!(files
        .iter()
        .any(|f| f.extension().is_some_and(|e| e == "log")));
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        for needle in [
            "while everyone is on",
            "written while Sam is away",
            "Alex",
            "Sam",
            "laptop",
        ] {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{} holds {needle:?}",
                file.display()
            );
        }
    }
}

/// A device that is not a member dials the mirror and asks for what it
/// holds, as a member would: the connection is refused and nothing comes
/// back.
#[test]
fn a_stranger_gets_nothing_from_a_mirror() {
    use duet_core::keys::DeviceKey;
    use duet_daemon::behaviour::{self, BehaviourEvent};
    use duet_daemon::gate::Members;
    use duet_daemon::protocol::{SyncRequest, SyncResponse};
    use futures::StreamExt;
    use libp2p::request_response::{Event, Message};
    use libp2p::swarm::dial_opts::DialOpts;
    use libp2p::swarm::SwarmEvent;

    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let mirror = pair_mirror(&alex, "shelf-box");
    let _m = mirror.daemon();
    alex.add("something for the mirror to keep");
    let mirror_id = duet_core::DeviceId::from_text(&device_id(&mirror)).expect("id");
    let mirror_peer = duet_daemon::identity::peer_id(&mirror_id).expect("peer");
    let addr: libp2p::Multiaddr = mirror.addrs()[0].parse().expect("address");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (answered, connected) = runtime.block_on(async {
        let stranger = DeviceKey::generate();
        let members = Members::default();
        members.set([mirror_peer]);
        let mut swarm = behaviour::build(
            duet_daemon::identity::keypair(&stranger),
            members,
            false,
            behaviour::Role::Device,
        )
        .expect("swarm");
        swarm
            .dial(DialOpts::peer_id(mirror_peer).addresses(vec![addr]).build())
            .expect("dial");
        let mut vector = Vec::new();
        duet_core::VersionVector::new().encode(&mut vector);
        let mut answered = None;
        let mut connected = false;
        let deadline = tokio::time::sleep(Duration::from_secs(15));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                event = swarm.select_next_some() => match event {
                    SwarmEvent::ConnectionEstablished { .. } => {
                        connected = true;
                        swarm.behaviour_mut().sync.send_request(
                            &mirror_peer,
                            SyncRequest::Hello {
                                vector: serde_bytes::ByteBuf::from(vector.clone()),
                                addrs: Vec::new(),
                                tips: Vec::new(),
                                now: None,
                                statements: None,
                                peers: Vec::new(),
                            },
                        );
                    }
                    SwarmEvent::Behaviour(BehaviourEvent::Sync(Event::Message {
                        message: Message::Response { response, .. },
                        ..
                    })) => {
                        answered = Some(matches!(
                            response,
                            SyncResponse::Missing { ref envelopes, ref snapshot, .. }
                                if !envelopes.is_empty() || snapshot.is_some()
                        ));
                        break;
                    }
                    _ => {}
                },
            }
        }
        (answered, connected)
    });
    assert_eq!(
        answered, None,
        "the mirror answered a stranger (connected: {connected})"
    );
}

/// A device that is not a member asks the mirror for a relay reservation,
/// while a member has an invitation open (the mirror then lets strangers
/// connect, to pair): refused all the same.
#[test]
fn a_stranger_cannot_reserve_a_slot_on_a_mirror() {
    use duet_core::keys::DeviceKey;
    use duet_daemon::behaviour;
    use duet_daemon::gate::Members;
    use futures::StreamExt;
    use libp2p::multiaddr::Protocol;
    use libp2p::swarm::SwarmEvent;

    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let mirror = pair_mirror(&alex, "shelf-box");
    let _m = mirror.daemon();
    let mirror_id = device_id(&mirror);
    eventually(WAIT, "Alex and the mirror connected", || {
        peer_status(&alex, &mirror_id)["connected"] == true
    });
    let mut invite = Invite::open(&alex, "2m");
    std::thread::sleep(Duration::from_secs(1));
    let mirror_peer =
        duet_daemon::identity::peer_id(&duet_core::DeviceId::from_text(&mirror_id).expect("id"))
            .expect("peer");
    let addr: libp2p::Multiaddr = mirror.addrs()[0].parse().expect("address");
    let circuit = addr
        .with(Protocol::P2p(mirror_peer))
        .with(Protocol::P2pCircuit);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reserved = runtime.block_on(async {
        let stranger = DeviceKey::generate();
        let members = Members::default();
        members.set([mirror_peer]);
        let mut swarm = behaviour::build(
            duet_daemon::identity::keypair(&stranger),
            members,
            false,
            behaviour::Role::Device,
        )
        .expect("swarm");
        swarm.listen_on(circuit).expect("ask for a reservation");
        let deadline = tokio::time::sleep(Duration::from_secs(15));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => break None,
                event = swarm.select_next_some() => match event {
                    SwarmEvent::NewListenAddr { address, .. } => break Some(address.to_string()),
                    SwarmEvent::ListenerClosed { .. } => break None,
                    _ => {}
                },
            }
        }
    });
    let _ = invite.child.kill();
    assert_eq!(reserved, None, "a stranger got a relayed address");
}

/// A mirror is removed like any device: members refuse it from then on,
/// and it stores nothing written after.
#[test]
fn a_mirror_is_removed_like_a_device() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let mirror = pair_mirror(&alex, "shelf-box");
    let _m = mirror.daemon();
    let mirror_id = device_id(&mirror);
    alex.add("before the mirror was removed");
    eventually(WAIT, "the mirror to hold Alex's entry", || {
        let p = peer_status(&alex, &mirror_id);
        p["connected"] == true && p["waiting"] == 0 && p["last_sync"].is_i64()
    });
    alex.ok(&["devices", "remove", &mirror_id, "--yes"]);
    let listed = alex.ok(&["devices"]);
    assert!(listed.contains("Removed"), "{listed}");
    // Alex's own envelopes are numbered; the removal is the newest so far.
    // The mirror may still be handed the removal itself (it is how it
    // reads that it was removed), but nothing Alex writes after it.
    let alex_id = duet_core::DeviceId::from_text(&device_id(&alex)).expect("id");
    let newest_of_alex = |device: &Device| -> i64 {
        rusqlite::Connection::open(device.home().join("store.sqlite"))
            .and_then(|c| {
                c.query_row(
                    "SELECT COALESCE(MAX(seq), 0) FROM envelopes WHERE author = ?1",
                    [&alex_id.0[..]],
                    |r| r.get(0),
                )
            })
            .unwrap_or(-1)
    };
    let removal = newest_of_alex(&alex);
    assert!(removal > 0, "Alex's store names no envelope of Alex");
    eventually(WAIT, "the mirror to learn it was removed", || {
        rusqlite::Connection::open(mirror.home().join("store.sqlite"))
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM removed", [], |r| r.get::<_, i64>(0)))
            .is_ok_and(|n| n > 0)
    });
    alex.add("after the mirror was removed");
    assert!(
        newest_of_alex(&alex) > removal,
        "Alex's entry was not stored"
    );
    std::thread::sleep(Duration::from_secs(3));
    let held = newest_of_alex(&mirror);
    assert!(
        (0..=removal).contains(&held),
        "the removed mirror stored Alex's envelope {held}, written after the removal ({removal})"
    );
}
