//! A stolen device attacks its partner. Sam's laptop is in an attacker's
//! hands: the attacker uses duet-core's public API on Sam's home to make
//! changes no honest duet would make, seals them with Sam's keys and puts
//! them in Sam's store, and Sam's own daemon (a real `duet daemon`)
//! carries them to Alex's. After each attack, Alex's journal is intact
//! and readable, Alex can still write, the attack is refused with a
//! logged reason, and Alex's daemon stays small and its log short.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use automerge::transaction::{Transactable, Transaction};
use automerge::{ActorId, Automerge, ObjType, ReadDoc, ScalarValue, ROOT};
use common::{eventually, pair, Device};
use duet_core::envelope::{self, Body};
use duet_core::home::Home;
use duet_core::journal::actor_for;
use duet_core::keys::{DeviceKey, JournalKey};
use duet_core::ledger::proofs::Contents;
use duet_core::store::Store;
use duet_core::VersionVector;
use duet_core::{DeviceId, JournalId};

/// What a thief can do with Sam's home and duet-core.
struct Attacker {
    home: Home,
    device: DeviceKey,
    key: JournalKey,
    journal: JournalId,
    store: Store,
}

impl Attacker {
    fn open(home: &Path) -> Self {
        let home = Home::new(home);
        let replica = home.open().expect("the stolen home opens");
        let journal = replica.journal_id();
        drop(replica);
        Self {
            device: DeviceKey::read(&home.device_key_path()).expect("device key"),
            key: JournalKey::read(&home.journal_key_path()).expect("journal key"),
            store: Store::open(&home.store_path()).expect("store"),
            journal,
            home,
        }
    }

    /// One change made with automerge on a copy of the whole document,
    /// as an actor of Sam's device, as duet's own changes are.
    fn change(&self, write: impl FnOnce(&mut Transaction<'_>)) -> Vec<u8> {
        self.change_as(actor_for(&self.device.id()), write)
    }

    fn change_as(&self, actor: ActorId, write: impl FnOnce(&mut Transaction<'_>)) -> Vec<u8> {
        let saved = self.home.open().expect("open").journal().save();
        let mut doc = Automerge::load(&saved).expect("load").with_actor(actor);
        let mut tx = doc.transaction();
        write(&mut tx);
        tx.commit();
        doc.get_last_local_change()
            .expect("a change")
            .raw_bytes()
            .to_vec()
    }

    /// Seals `payload` as Sam's next envelope, signed with Sam's key, into
    /// Sam's store: Sam's daemon pushes it to Alex's.
    fn send(&mut self, payload: &[u8]) {
        let (journal, device, recipient) = (self.journal, &self.device, self.key.recipient());
        let me = device.id();
        // The change's real hash where the payload is one, as Sam's own
        // duet would record it.
        let hash = automerge::Change::from_bytes(payload.to_vec())
            .map(|c| c.hash().0)
            .unwrap_or([0; 32]);
        self.store
            .insert_local(&me, &hash, |seq, link| {
                envelope::seal(
                    &journal,
                    device,
                    &Body::Change { seq, link },
                    &recipient,
                    payload,
                )
            })
            .expect("store")
            .expect("seal");
        duet_daemon::client::poke(self.home.root());
    }

    /// A snapshot of Sam's journal, sealed by Sam's device, with its
    /// contents and its vector changed: what a thief can make.
    fn snapshot(
        &self,
        forge: impl FnOnce(&mut Contents),
        claim: impl FnOnce(&mut VersionVector),
    ) -> Vec<u8> {
        // Sam writes something Alex lacks, so that Alex looks inside.
        let mut replica = self.home.open().expect("open");
        replica
            .commit(|j, a| {
                let new = duet_core::journal::NewEntry {
                    body: "Sam's words before the snapshot".into(),
                    ..Default::default()
                };
                j.add_entry(a, new, now_ms()).map(|(_, c)| ((), c))
            })
            .expect("write");
        let honest = replica.seal_current().expect("seal");
        let sealed = envelope::decode(&honest).expect("decode");
        let Body::Snapshot { mut covers } = sealed.body.clone() else {
            panic!("a snapshot");
        };
        let payload = sealed.decrypt(&self.key).expect("open");
        let mut contents = Contents::decode(&payload).expect("contents");
        forge(&mut contents);
        claim(&mut covers);
        envelope::seal(
            &self.journal,
            &self.device,
            &Body::Snapshot { covers },
            &self.key.recipient(),
            &contents.encode(),
        )
        .expect("seal")
    }

    /// Makes `snapshot` the one Sam's store holds: Sam's daemon offers it.
    fn offer_snapshot(&mut self, snapshot: &[u8]) {
        let generation = self.store.snapshot_generation().expect("generation");
        let envelope::Body::Snapshot { covers } = envelope::decode(snapshot).expect("decode").body
        else {
            panic!("a snapshot");
        };
        assert!(self
            .store
            .replace_snapshot(generation, &covers, snapshot, &[])
            .expect("store"));
        duet_daemon::client::poke(self.home.root());
    }

    /// Puts bytes in Sam's store as if received from `author`: Sam's
    /// daemon forwards them.
    fn forward(&mut self, author: &DeviceId, seq: u64, bytes: &[u8]) {
        self.store
            .insert_received(author, seq, None, bytes)
            .expect("store");
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The map at `key` of `obj`.
fn child(tx: &Transaction<'_>, obj: &automerge::ObjId, key: &str) -> automerge::ObjId {
    match tx.get(obj, key).expect("get") {
        Some((_, id)) => id,
        None => panic!("no {key}"),
    }
}

/// The map at `key` of the root.
fn root_map(tx: &Transaction<'_>, key: &str) -> automerge::ObjId {
    match tx.get(ROOT, key).expect("get") {
        Some((_, id)) => id,
        None => panic!("no {key}"),
    }
}

#[test]
fn a_stolen_device_cannot_lock_out_forge_or_exhaust_its_partner() {
    let alex = Device::init("Alex");
    let alex_daemon = alex.daemon_with(&[("DUET_COMPACT_AFTER", "4")]);
    let sam = pair(&alex, "Sam", "laptop");
    let mut sam_daemon = Some(sam.daemon());
    let kept = alex.add("Alex's words, which must survive");
    eventually(Duration::from_secs(30), "the devices in sync", || {
        sam.has_body("which must survive")
    });
    let start = Instant::now();
    alex.ok(&["log"]);
    let normal_log = start.elapsed();
    let alex_id = alex.json(&["devices"])[0]["id"]
        .as_str()
        .expect("id")
        .to_string();

    let mut thief = Attacker::open(&sam.home());
    let entries_key = {
        let doc =
            Automerge::load(&thief.home.open().expect("open").journal().save()).expect("load");
        let (_, entries) = doc.get(ROOT, "entries").expect("get").expect("entries");
        doc.keys(&entries).next().expect("an entry")
    };
    let newcomer = DeviceKey::generate().id().to_text();
    // Alex's entry, as Sam's copy of the document holds it.
    let alex_entry = |tx: &Transaction<'_>| child(tx, &root_map(tx, "entries"), &entries_key);
    let attacks: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "delete the device list",
            thief.change(|tx| tx.delete(ROOT, "devices").expect("delete")),
            "root",
        ),
        (
            "replace the entries map",
            thief.change(|tx| {
                tx.put_object(ROOT, "entries", ObjType::Map).expect("put");
            }),
            "root",
        ),
        (
            "delete Alex's entry",
            thief.change(|tx| {
                let entries = root_map(tx, "entries");
                tx.delete(&entries, entries_key.as_str()).expect("delete");
            }),
            "deletes or replaces an entry",
        ),
        (
            "record a device as added by Alex",
            thief.change(|tx| {
                let devices = root_map(tx, "devices");
                let r = tx
                    .put_object(&devices, newcomer.as_str(), ObjType::Map)
                    .expect("record");
                tx.put(&r, "person", "Alex").expect("put");
                tx.put(&r, "name", "spy").expect("put");
                tx.put(&r, "added_by", alex_id.as_str()).expect("put");
                tx.put(&r, "added_at", ScalarValue::Timestamp(1_700_000_000_000))
                    .expect("put");
            }),
            "naming itself",
        ),
        (
            "an entry dated in the year 2999",
            thief.change(|tx| {
                let entries = root_map(tx, "entries");
                let e = tx
                    .put_object(&entries, "9999999999999-future", ObjType::Map)
                    .expect("entry");
                tx.put(&e, "created", ScalarValue::Timestamp(32_503_680_000_000))
                    .expect("put");
            }),
            "time",
        ),
        (
            "a change of 20,000 operations",
            thief.change(|tx| {
                let entries = root_map(tx, "entries");
                let e = tx
                    .put_object(&entries, "1700000000000-bomb", ObjType::Map)
                    .expect("entry");
                let list = tx.put_object(&e, "tags", ObjType::List).expect("list");
                for i in 0..20_000 {
                    tx.insert(&list, i, "x").expect("insert");
                }
            }),
            "operations",
        ),
        (
            "rewrite Alex's entry",
            thief.change(|tx| {
                let e = alex_entry(tx);
                tx.put(&e, "body", "words Alex never wrote").expect("put");
            }),
            "other person's entry",
        ),
        (
            "a reaction as Alex",
            thief.change(|tx| {
                let reactions = child(tx, &alex_entry(tx), "reactions");
                let heart = tx.put_object(&reactions, "💔", ObjType::Map).expect("put");
                tx.put(&heart, "Sam", ScalarValue::Timestamp(1_700_000_000_000))
                    .expect("put");
                tx.put(&heart, "Alex", ScalarValue::Timestamp(1_700_000_000_000))
                    .expect("put");
            }),
            "as another person",
        ),
        (
            "a heard mark as Alex",
            thief.change(|tx| {
                let heard = child(tx, &alex_entry(tx), "heard");
                tx.put(&heard, "Alex", ScalarValue::Timestamp(1_700_000_000_000))
                    .expect("put");
            }),
            "as another person",
        ),
        (
            "wipe the reactions and replies of Alex's entry",
            thief.change(|tx| {
                let e = alex_entry(tx);
                tx.put_object(&e, "replies", ObjType::Map).expect("put");
            }),
            "which only the change making an object writes",
        ),
        (
            "an entry written by another actor than Sam's",
            thief.change_as(ActorId::random(), |tx| {
                let entries = root_map(tx, "entries");
                tx.put_object(&entries, "1700000000000-stray", ObjType::Map)
                    .expect("entry");
            }),
            "actor of another device",
        ),
        (
            "a compressed change that unpacks to 64 MiB",
            deflate_bomb(),
            "unpacks",
        ),
    ];
    // An entry dated 300 days ahead (a journal may hold it): Alex's
    // devices list it by when it arrived, marked, not on top for a year.
    let ahead_ms = now_ms() + 300 * 24 * 3600 * 1000;
    let sam_id = thief.device.id().to_text();
    let future = thief.change(|tx| {
        let entries = root_map(tx, "entries");
        let e = tx
            .put_object(
                &entries,
                format!("{ahead_ms:013}-future").as_str(),
                ObjType::Map,
            )
            .expect("entry");
        tx.put(&e, "person", "Sam").expect("put");
        tx.put(&e, "device", sam_id.as_str()).expect("put");
        tx.put(&e, "created", ScalarValue::Timestamp(ahead_ms))
            .expect("put");
        tx.put(&e, "kind", "note").expect("put");
        tx.put(&e, "body", "from the future").expect("put");
    });
    thief.send(&future);
    eventually(Duration::from_secs(30), "the future entry", || {
        alex.has_body("from the future")
    });
    let later = alex.add("Alex, after the future entry arrived");
    let listed = alex.json(&["log"]);
    assert_eq!(listed[0]["id"], later.as_str(), "{listed}");
    let future_entry = listed
        .as_array()
        .and_then(|l| l.iter().find(|e| e["body"] == "from the future"))
        .expect("listed");
    assert!(future_entry["arrived"].as_i64().is_some(), "{future_entry}");
    assert!(alex.ok(&["log"]).contains("ahead of this device's clock"));

    // Snapshots that lie: one claims Alex's changes up to 1000, one holds
    // an edit of Alex's entry made as Alex's own actor. Sam's daemon
    // offers each to Alex's.
    let alex_device = DeviceId::from_text(&alex_id).expect("Alex's id");
    type Lie<'a> = Box<dyn Fn(&Attacker) -> Vec<u8> + 'a>;
    let lies: Vec<(&str, Lie, &str)> = vec![
        (
            "a snapshot claiming more than it holds",
            Box::new(|thief: &Attacker| {
                thief.snapshot(|_| {}, |covers| covers.set(alex_device, 1000))
            }),
            "claims more than it proves",
        ),
        (
            "a snapshot with words put in Alex's mouth",
            Box::new(|thief: &Attacker| {
                thief.snapshot(
                    |contents| {
                        let mut doc = Automerge::load(&contents.doc)
                            .expect("load")
                            .with_actor(actor_for(&alex_device));
                        let mut tx = doc.transaction();
                        let e = alex_entry(&tx);
                        tx.put(&e, "body", "words Alex never wrote").expect("put");
                        tx.commit();
                        contents.doc = doc.save();
                    },
                    |_| {},
                )
            }),
            "no proof accounts for",
        ),
    ];
    for (what, snapshot, reason) in lies {
        // Sam's daemon is down while the thief puts the lie in place, so
        // that the first thing it offers Alex's is the lie.
        if let Some(d) = sam_daemon.take() {
            d.stop();
        }
        let snapshot = snapshot(&thief);
        thief.offer_snapshot(&snapshot);
        sam_daemon = Some(sam.daemon());
        eventually(Duration::from_secs(30), what, || {
            alex_daemon.log_text().contains(reason)
        });
        check_intact(&alex, &kept, what);
    }

    for (what, payload, reason) in attacks {
        thief.send(&payload);
        eventually(Duration::from_secs(30), what, || {
            alex_daemon.log_text().contains(reason)
        });
        check_intact(&alex, &kept, what);
    }

    // Envelopes from made-up authors, and junk that does not verify: a
    // flood of them, through Sam's daemon.
    let big = vec![7u8; 100 * 1024];
    for i in 0..200u64 {
        let stranger = DeviceKey::generate();
        let sealed = envelope::seal(
            &thief.journal,
            &stranger,
            &Body::Change {
                seq: 1,
                link: [0; 32],
            },
            &thief.key.recipient(),
            &big,
        )
        .expect("seal");
        thief.forward(&stranger.id(), 1, &sealed);
        // Sam's own envelopes with a broken signature: junk from a member.
        let seq = 100_000 + i;
        let mut junk = envelope::seal(
            &thief.journal,
            &thief.device,
            &Body::Change { seq, link: [0; 32] },
            &thief.key.recipient(),
            b"junk",
        )
        .expect("seal");
        let last = junk.len() - 1;
        junk[last] ^= 1;
        let sam_id = thief.device.id();
        thief.forward(&sam_id, seq, &junk);
    }
    duet_daemon::client::poke(&sam.home());
    eventually(Duration::from_secs(60), "the junk refused", || {
        alex_daemon.log_text().contains("signature")
    });
    check_intact(&alex, &kept, "a flood of unknown authors and junk");

    // A gap in Sam's sequence (the refused envelopes above made several):
    // Sam's later envelopes wait beyond it, and compaction cannot fold
    // them in. It must not start a whole-journal job every tick.
    for i in 0..6 {
        sam.add(&format!("Sam after the gap {i}"));
    }
    eventually(
        Duration::from_secs(60),
        "a compaction stopped by the gap",
        || alex_daemon.log_text().contains("beyond a gap"),
    );
    std::thread::sleep(Duration::from_secs(8));
    let log = alex_daemon.log_text();
    let gap_lines = log.matches("beyond a gap").count();
    assert!(
        (1..=2).contains(&gap_lines),
        "compaction tried {gap_lines} times:\n{log}"
    );

    // Alex's daemon stayed small, its log short, and `duet log` quick.
    let rss = rss_kb(alex_daemon.pid());
    assert!(rss < 64 * 1024, "Alex's daemon holds {rss} KiB");
    let lines = log.lines().count();
    assert!(lines < 300, "the attacks wrote {lines} log lines:\n{log}");
    let start = Instant::now();
    alex.ok(&["log"]);
    let under_attack = start.elapsed();
    assert!(
        under_attack < normal_log * 2 + Duration::from_millis(300),
        "`duet log` took {under_attack:?}, {normal_log:?} before the attacks"
    );
    let status = alex.json(&["status"]);
    assert_eq!(status["daemon_running"], true);
}

/// After an attack: Alex's entry is there as written, the journal reads,
/// the device list is the two devices it was, and Alex can still write.
fn check_intact(alex: &Device, kept: &str, after: &str) {
    let shown = alex.json(&["show", kept]);
    assert_eq!(
        shown["body"], "Alex's words, which must survive",
        "after {after}"
    );
    assert_eq!(shown["reactions"], serde_json::json!([]), "after {after}");
    assert_eq!(shown["replies"], serde_json::json!([]), "after {after}");
    assert_eq!(shown["heard"], serde_json::json!([]), "after {after}");
    let devices = alex.json(&["devices"]);
    assert_eq!(
        devices.as_array().map(Vec::len),
        Some(2),
        "after {after}: {devices}"
    );
    let id = alex.add(&format!("Alex writes on after: {after}"));
    assert_eq!(alex.json(&["show", &id])["person"], "Alex");
    // Alex's status still answers, and says what went to Sam's device.
    eventually(
        Duration::from_secs(30),
        "Alex's status after the attack",
        || {
            let status = alex.json(&["status"]);
            let peer = &status["status"]["peers"][0];
            peer["connected"] == true && peer["waiting"] == 0
        },
    );
}

/// An automerge compressed change chunk whose data inflates to 64 MiB of
/// zeros: a few kilobytes on the wire.
fn deflate_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        deflate.write_all(&zeros).expect("deflate");
    }
    let data = deflate.finish().expect("deflate");
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    leb128::write::unsigned(&mut chunk, data.len() as u64).expect("length");
    chunk.extend_from_slice(&data);
    chunk
}
