use proptest::prelude::*;

use super::*;
use crate::envelope::{Body, OpenError};
use crate::journal::{EntryEdit, Filter, JournalError, NewEntry};
use crate::ledger::proofs::{Contents, ProofError};
use crate::testing::{add, alex, everything, now, pair};

#[test]
fn an_envelope_from_a_partner_appears_in_the_journal() {
    let mut a = alex();
    let mut b = pair(&mut a, "Sam", "laptop");
    let id = add(&mut a, "Dinner on Friday?");
    for env in everything(&a) {
        let _ = b.receive_envelope(&env);
    }
    assert_eq!(
        b.journal().entry(&id).expect("arrived").body,
        "Dinner on Friday?"
    );
    assert_eq!(b.vector().expect("vv"), a.vector().expect("vv"));
}

#[test]
fn bad_envelopes_are_rejected_each_with_its_reason_and_nothing_applies() {
    let mut a = alex();
    let mut b = pair(&mut a, "Sam", "laptop");
    add(&mut a, "first");
    for env in everything(&a) {
        let _ = b.receive_envelope(&env);
    }
    add(&mut a, "second");
    let good = everything(&a).pop().expect("latest");
    let entries = b.journal().all_entries().len();
    let stored = b.store().envelope_count().expect("count");

    let mut tampered = good.clone();
    let mid = tampered.len() - 80;
    tampered[mid] ^= 4;
    assert!(matches!(
        b.receive_envelope(&tampered),
        Err(ReceiveError::Open(OpenError::BadSignature))
    ));
    let mut bad_sig = good.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 4;
    assert!(matches!(
        b.receive_envelope(&bad_sig),
        Err(ReceiveError::Open(OpenError::BadSignature))
    ));
    let stranger = alex();
    let foreign = everything(&stranger).pop().expect("foreign");
    assert!(matches!(
        b.receive_envelope(&foreign),
        Err(ReceiveError::Open(OpenError::WrongJournal))
    ));
    let impostor = DeviceKey::generate();
    let unknown = envelope::seal(
        &a.journal_id(),
        &impostor,
        &Body::Change {
            seq: 1,
            link: [0; 32],
        },
        &a.journal_key().recipient(),
        b"x",
    )
    .expect("seal");
    assert!(matches!(
        b.receive_envelope(&unknown),
        Err(ReceiveError::Open(OpenError::UnknownAuthor(_)))
    ));
    assert!(matches!(
        b.receive_envelope(&good[..good.len() / 2]),
        Err(ReceiveError::Open(OpenError::Truncated))
    ));
    let mut oversized = good.clone();
    oversized.resize(envelope::MAX_ENVELOPE_BYTES + 10, 0);
    assert!(matches!(
        b.receive_envelope(&oversized),
        Err(ReceiveError::Open(OpenError::TooLarge { .. }))
    ));
    let first = everything(&a).remove(0);
    assert!(matches!(
        b.receive_envelope(&first),
        Err(ReceiveError::Replay { .. })
    ));
    let garbage = envelope::seal(
        &a.journal_id(),
        a.device_key(),
        &Body::Change {
            seq: 99,
            link: [0; 32],
        },
        &a.journal_key().recipient(),
        b"not an automerge change",
    )
    .expect("seal");
    assert!(matches!(
        b.receive_envelope(&garbage),
        Err(ReceiveError::BadPayload(_))
    ));

    assert_eq!(b.journal().all_entries().len(), entries);
    assert_eq!(b.store().envelope_count().expect("count"), stored);
    b.receive_envelope(&good)
        .expect("the good one still applies");
    assert_eq!(b.journal().all_entries().len(), entries + 1);
}

#[test]
fn compaction_folds_envelopes_into_one_snapshot_and_reopens_identically() {
    let mut a = alex();
    for i in 0..20 {
        add(&mut a, &format!("entry {i}"));
    }
    let before = a.journal().all_entries();
    let report = a.compact().expect("compact").expect("did compact");
    assert_eq!(report.envelopes_left, 0);
    assert!(a.compact().expect("again").is_none());
    let (store, device, key) = a.into_parts();
    let reopened = Replica::open(store, device, key).expect("reopen");
    assert_eq!(reopened.journal().all_entries(), before);
}

#[test]
fn a_peer_behind_the_snapshot_gets_the_snapshot_then_the_tail() {
    let mut a = alex();
    let mut b = pair(&mut a, "Sam", "laptop");
    for i in 0..5 {
        add(&mut a, &format!("old {i}"));
    }
    a.compact().expect("compact");
    add(&mut a, "new");
    let out = a.outgoing_for(&b.vector().expect("vv")).expect("outgoing");
    assert!(out.snapshot.is_some());
    assert_eq!(out.envelopes.len(), 1);
    b.receive_snapshot(out.snapshot.as_deref().expect("snap"))
        .expect("snapshot");
    for env in &out.envelopes {
        b.receive_envelope(env).expect("tail");
    }
    assert_eq!(b.journal().query(&Filter::default()).len(), 6);
    assert_eq!(b.vector().expect("vv"), a.vector().expect("vv"));
    let nothing = a.outgoing_for(&b.vector().expect("vv")).expect("outgoing");
    assert!(nothing.snapshot.is_none() && nothing.envelopes.is_empty());
}

#[derive(Clone, Debug)]
enum Op {
    Add(usize),
    Edit(usize, usize),
    Remove(usize, usize),
    React(usize, usize),
    Reply(usize, usize),
    Heard(usize, usize),
    /// Deliver the n-th envelope ever sealed (any order, repeats allowed).
    Deliver(usize, usize),
    /// Send a fresh snapshot from one replica to another.
    Snapshot(usize, usize),
    Compact(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0usize..3;
    let n = 0usize..64;
    prop_oneof![
        2 => r.clone().prop_map(Op::Add),
        2 => (r.clone(), n.clone()).prop_map(|(a, b)| Op::Edit(a, b)),
        1 => (r.clone(), n.clone()).prop_map(|(a, b)| Op::Remove(a, b)),
        1 => (r.clone(), n.clone()).prop_map(|(a, b)| Op::React(a, b)),
        1 => (r.clone(), n.clone()).prop_map(|(a, b)| Op::Reply(a, b)),
        1 => (r.clone(), n.clone()).prop_map(|(a, b)| Op::Heard(a, b)),
        4 => (r.clone(), 0usize..1000).prop_map(|(a, b)| Op::Deliver(a, b)),
        1 => (r.clone(), r.clone()).prop_map(|(a, b)| Op::Snapshot(a, b)),
        1 => r.prop_map(Op::Compact),
    ]
}

/// Picks a live entry of `r` by index, if there is one.
fn pick(r: &Replica, n: usize) -> Option<String> {
    let live = r.journal().query(&Filter::default());
    (!live.is_empty()).then(|| live[n % live.len()].id.clone())
}

fn run(replicas: &mut [Replica], wire: &mut Vec<Vec<u8>>, op: Op) {
    let seen_before: Vec<i64> = replicas
        .iter()
        .map(|r| {
            r.store()
                .envelopes_after(0)
                .map(|e| e.last().map_or(0, |l| l.pos))
                .unwrap_or(0)
        })
        .collect();
    let who = match &op {
        Op::Add(i) | Op::Compact(i) => *i,
        Op::Edit(i, _) | Op::Remove(i, _) | Op::React(i, _) | Op::Reply(i, _) | Op::Heard(i, _) => {
            *i
        }
        Op::Deliver(i, _) | Op::Snapshot(_, i) => *i,
    };
    match op {
        Op::Add(i) => {
            add(&mut replicas[i], "a new entry");
        }
        Op::Edit(i, n) => {
            if let Some(id) = pick(&replicas[i], n) {
                let body = format!("edited on {i} ({n})");
                // Refusals (not the author) are part of the model.
                let _ = replicas[i].commit(|j, a| {
                    let edit = EntryEdit {
                        body: Some(body),
                        ..EntryEdit::default()
                    };
                    Ok(((), j.edit_entry(a, &id, edit, now())?))
                });
            }
        }
        Op::Remove(i, n) => {
            if let Some(id) = pick(&replicas[i], n) {
                let _ = replicas[i].commit(|j, a| Ok(((), j.remove_entry(a, &id, now())?)));
            }
        }
        Op::React(i, n) => {
            if let Some(id) = pick(&replicas[i], n) {
                let _ =
                    replicas[i].commit(|j, a| Ok(((), j.react(a, &id, "🙂", now() + n as i64)?)));
            }
        }
        Op::Reply(i, n) => {
            if let Some(id) = pick(&replicas[i], n) {
                let _ = replicas[i]
                    .commit(|j, a| j.reply(a, &id, "I hear you", now()).map(|(_, c)| ((), c)));
            }
        }
        Op::Heard(i, n) => {
            if let Some(id) = pick(&replicas[i], n) {
                let _ = replicas[i].commit(|j, a| Ok(((), j.heard(a, &id, now())?)));
            }
        }
        Op::Deliver(to, n) => {
            if !wire.is_empty() {
                let env = wire[n % wire.len()].clone();
                match replicas[to].receive_envelope(&env) {
                    Ok(_) | Err(ReceiveError::Replay { .. }) => {}
                    Err(e) => panic!("delivery failed: {e}"),
                }
            }
        }
        Op::Snapshot(from, to) => {
            let snap = replicas[from].seal_current().expect("seal");
            replicas[to]
                .receive_snapshot(&snap)
                .expect("snapshot applies");
        }
        Op::Compact(i) => {
            replicas[i].compact().expect("compact");
        }
    }
    // Whatever the acting replica newly sealed goes on the wire.
    if let Ok(new) = replicas[who].store().envelopes_after(seen_before[who]) {
        let me = replicas[who].device_id();
        wire.extend(new.into_iter().filter(|e| e.author == me).map(|e| e.bytes));
    }
}

/// Syncs every pair the way the daemon will, until nothing moves.
fn sync_all(replicas: &mut [Replica]) {
    for _round in 0..4 {
        for from in 0..replicas.len() {
            for to in 0..replicas.len() {
                if from == to {
                    continue;
                }
                let theirs = replicas[to].vector().expect("vv");
                let out = replicas[from].outgoing_for(&theirs).expect("outgoing");
                if let Some(s) = out.snapshot {
                    replicas[to].receive_snapshot(&s).expect("snapshot");
                }
                for env in out.envelopes {
                    match replicas[to].receive_envelope(&env) {
                        Ok(_) | Err(ReceiveError::Replay { .. }) => {}
                        Err(e) => panic!("sync failed: {e}"),
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Two or three replicas (Alex's laptop and desktop, Sam's laptop)
    /// making random writes and exchanging envelopes and snapshots in any
    /// order, with repeats, end with identical journals.
    #[test]
    fn replicas_converge_whatever_the_delivery_order(
        three in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut a = alex();
        let b = pair(&mut a, "Alex", "desktop");
        let mut replicas = vec![a, b];
        if three {
            let c = pair(&mut replicas[0], "Sam", "laptop");
            replicas.push(c);
        }
        // Everyone learns of everyone before the random part begins.
        sync_all(&mut replicas);
        let n = replicas.len();
        let mut wire = Vec::new();
        for op in ops {
            let op = match op {
                Op::Add(i) => Op::Add(i % n),
                Op::Edit(i, k) => Op::Edit(i % n, k),
                Op::Remove(i, k) => Op::Remove(i % n, k),
                Op::React(i, k) => Op::React(i % n, k),
                Op::Reply(i, k) => Op::Reply(i % n, k),
                Op::Heard(i, k) => Op::Heard(i % n, k),
                Op::Deliver(i, k) => Op::Deliver(i % n, k),
                Op::Snapshot(i, j) => Op::Snapshot(i % n, j % n),
                Op::Compact(i) => Op::Compact(i % n),
            };
            run(&mut replicas, &mut wire, op);
        }
        sync_all(&mut replicas);
        let first = replicas[0].journal().all_entries();
        for r in &replicas[1..] {
            prop_assert_eq!(&r.journal().all_entries(), &first);
            prop_assert_eq!(r.journal().devices(), replicas[0].journal().devices());
            prop_assert_eq!(r.vector().expect("vv"), replicas[0].vector().expect("vv"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A member's signature vouches for who sent the bytes, not for what
    /// they are: arbitrary payloads behind a valid signature, as a change
    /// or as a snapshot, are refused without a panic and change nothing.
    #[test]
    fn arbitrary_payloads_from_a_member_never_panic_or_apply(
        payload in proptest::collection::vec(any::<u8>(), 0..2048),
        seq in 1u64..1000,
    ) {
        let mut a = alex();
        let before = a.journal().all_entries();
        let me = a.device_id();
        let change = envelope::seal(
            &a.journal_id(),
            a.device_key(),
            &Body::Change { seq: seq + 1, link: [0; 32] },
            &a.journal_key().recipient(),
            &payload,
        )
        .expect("seal");
        prop_assert!(a.receive_envelope(&change).is_err());
        let covers: VersionVector = [(me, seq + 5)].into_iter().collect();
        let snapshot = envelope::seal(
            &a.journal_id(),
            a.device_key(),
            &Body::Snapshot { covers },
            &a.journal_key().recipient(),
            &payload,
        )
        .expect("seal");
        prop_assert!(a.receive_snapshot(&snapshot).is_err());
        prop_assert_eq!(a.journal().all_entries(), before);
        prop_assert_eq!(a.store().envelope_count().expect("count"), 1);
    }
}

#[test]
fn an_entry_signed_by_one_device_but_written_as_another_is_refused() {
    let mut alex = alex();
    let mut sam = pair(&mut alex, "Sam", "laptop");
    let forge = |sam: &mut Replica, person: &str, device: DeviceId| {
        let author = crate::journal::Author {
            person: person.into(),
            device,
        };
        sam.commit(|j, _| {
            j.add_entry(
                &author,
                NewEntry {
                    body: "not what it seems".into(),
                    ..NewEntry::default()
                },
                now(),
            )
        })
        .expect("a local commit");
        everything(sam).pop().expect("the forged envelope")
    };
    let sam_id = sam.device_id();
    let as_alex = forge(&mut sam, "Alex", sam_id);
    let as_alexs_device = forge(&mut sam, "Sam", alex.device_id());
    let before = alex.journal().all_entries();
    for forged in [as_alex, as_alexs_device] {
        assert!(matches!(
            alex.receive_envelope(&forged),
            Err(ReceiveError::BadPayload(JournalError::Breach(
                crate::journal::Breach::Misattributed { .. }
            )))
        ));
    }
    assert_eq!(alex.journal().all_entries(), before);
    // A device's own entries pass, and so does the record of a device
    // added by another member, which names that other device's person.
    let mut desktop = pair(&mut alex, "Sam", "desktop");
    let id = add(&mut desktop, "honestly mine");
    for env in everything(&desktop) {
        let _ = alex.receive_envelope(&env);
    }
    assert_eq!(alex.journal().entry(&id).expect("arrived").person, "Sam");
    let mut laptop2 = pair(&mut alex, "Alex", "desktop");
    for env in everything(&alex) {
        match laptop2.receive_envelope(&env) {
            Ok(_) | Err(ReceiveError::Replay { .. }) => {}
            Err(e) => panic!("a legitimate envelope was refused: {e}"),
        }
    }
}

#[test]
fn an_empty_snapshot_from_a_member_is_refused() {
    let mut a = alex();
    let covers: VersionVector = [(a.device_id(), 9)].into_iter().collect();
    let snapshot = envelope::seal(
        &a.journal_id(),
        a.device_key(),
        &Body::Snapshot { covers },
        &a.journal_key().recipient(),
        &[],
    )
    .expect("seal");
    assert!(matches!(
        a.receive_snapshot(&snapshot),
        Err(ReceiveError::Proof(ProofError::Malformed(_)))
    ));
    assert_eq!(a.vector().expect("vv").get(&a.device_id()), 1);
}

/// Sam's device seals a snapshot of what it holds with `contents`
/// changed by `forge`, claiming what `claim` says.
fn forged_snapshot(
    sam: &mut Replica,
    forge: impl FnOnce(&mut Contents),
    claim: impl FnOnce(&mut VersionVector),
) -> Vec<u8> {
    let honest = sam.seal_current().expect("seal");
    let sealed = envelope::decode(&honest).expect("decode");
    let Body::Snapshot { mut covers } = sealed.body.clone() else {
        panic!("a snapshot");
    };
    let payload = sealed.decrypt(sam.journal_key()).expect("open");
    let mut contents = Contents::decode(&payload).expect("contents");
    forge(&mut contents);
    claim(&mut covers);
    envelope::seal(
        &sam.journal_id(),
        sam.device_key(),
        &Body::Snapshot { covers },
        &sam.journal_key().recipient(),
        &contents.encode(),
    )
    .expect("seal")
}

#[test]
fn a_snapshot_that_claims_more_than_it_proves_changes_nothing() {
    let mut alex = alex();
    let mut sam = pair(&mut alex, "Sam", "laptop");
    add(&mut alex, "Alex's words");
    let alex_id = alex.device_id();
    // Sam holds a change Alex lacks, so Alex looks inside the snapshot.
    add(&mut sam, "Sam's words");
    // Sam claims Alex's changes up to 1000, holding a few.
    let overclaim = forged_snapshot(&mut sam, |_| {}, |covers| covers.set(alex_id, 1000));
    let before = alex.journal().all_entries();
    let vv = alex.vector().expect("vv");
    assert!(matches!(
        alex.receive_snapshot(&overclaim),
        Err(ReceiveError::Proof(ProofError::Overclaim))
    ));
    // A list of Alex's changes Alex never signed.
    let relisted = forged_snapshot(
        &mut sam,
        |c| {
            let chain = c.chains.iter_mut().find(|ch| ch.author == alex_id);
            chain.expect("Alex's chain").hashes.push([7; 32]);
        },
        |covers| covers.set(alex_id, covers.get(&alex_id) + 1),
    );
    assert!(matches!(
        alex.receive_snapshot(&relisted),
        Err(ReceiveError::Proof(ProofError::Chain(_)))
    ));
    assert_eq!(alex.vector().expect("vv"), vv);
    assert_eq!(alex.journal().all_entries(), before);
    // Alex still writes, and Alex's next words reach Sam.
    add(&mut alex, "Alex writes on");
    for env in everything(&alex) {
        let _ = sam.receive_envelope(&env);
    }
    assert!(sam
        .journal()
        .all_entries()
        .iter()
        .any(|e| e.body == "Alex writes on"));
}

#[test]
fn a_change_slipped_into_a_snapshot_under_the_partners_name_is_refused() {
    let mut alex = alex();
    let mut sam = pair(&mut alex, "Sam", "laptop");
    let id = add(&mut alex, "Alex's words");
    for env in everything(&alex) {
        let _ = sam.receive_envelope(&env);
    }
    // Sam's copy of the document, with an edit made as Alex's actor.
    let mut doc = automerge::Automerge::load(&sam.journal().save()).expect("load");
    doc.set_actor(crate::journal::actor_for(&alex.device_id()));
    assert!(sam.journal().entry(&id).is_some(), "Sam holds Alex's entry");
    let forged_doc = {
        use automerge::transaction::Transactable;
        use automerge::ReadDoc;
        let (_, entries) = doc
            .get(automerge::ROOT, "entries")
            .expect("get")
            .expect("entries");
        let key = doc.keys(&entries).last().expect("a key");
        let (_, obj) = doc
            .get(&entries, key.as_str())
            .expect("get")
            .expect("entry");
        let mut tx = doc.transaction();
        tx.put(&obj, "body", "words Alex never wrote").expect("put");
        tx.commit();
        doc.save()
    };
    add(&mut sam, "Sam's words");
    let forged = forged_snapshot(&mut sam, |c| c.doc = forged_doc, |_| {});
    let before = alex.journal().all_entries();
    assert!(matches!(
        alex.receive_snapshot(&forged),
        Err(ReceiveError::Proof(ProofError::Unproven))
    ));
    assert_eq!(alex.journal().all_entries(), before);
}

/// Moves every envelope `from` holds into `to` (refusals ignored).
fn deliver(from: &Replica, to: &mut Replica) {
    for env in everything(from) {
        let _ = to.receive_envelope(&env);
    }
}

#[test]
fn a_removed_device_reads_that_it_was_removed_and_nothing_after() {
    let mut laptop = alex();
    let mut desktop = pair(&mut laptop, "Sam", "desktop");
    let mut phone = pair(&mut laptop, "Alex", "phone");
    deliver(&laptop, &mut desktop);
    add(&mut phone, "from the phone, before");
    deliver(&phone, &mut laptop);
    deliver(&laptop, &mut desktop);

    let removal = laptop
        .remove_device(&phone.device_id(), now())
        .expect("remove");
    assert_eq!(removal.cut, 1);
    assert_eq!(laptop.journal_key().epochs(), vec![0, 1]);
    let after = add(&mut laptop, "after the removal");

    // The desktop learns the removal, and with it the new epoch.
    deliver(&laptop, &mut desktop);
    assert_eq!(desktop.journal_key().epochs(), vec![0, 1]);
    assert_eq!(
        desktop.journal().entry(&after).expect("read").body,
        "after the removal"
    );
    assert!(desktop.ledger().removed().contains_key(&phone.device_id()));

    // The phone reads that it was removed, by whom; not what came after.
    let mut refused = 0;
    for env in everything(&laptop) {
        if let Err(e) = phone.receive_envelope(&env) {
            if matches!(e, ReceiveError::Open(OpenError::UnknownEpoch(_))) {
                refused += 1;
            }
        }
    }
    assert!(refused >= 1, "the entry after the removal stays sealed");
    assert_eq!(phone.journal_key().epochs(), vec![0]);
    let told = phone.journal().removals();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].by, laptop.device_id().to_text());
    assert!(phone.journal().entry(&after).is_none());

    // What the phone writes now is refused everywhere.
    add(&mut phone, "from the phone, after");
    let late = everything(&phone).pop().expect("late");
    assert!(matches!(
        desktop.receive_envelope(&late),
        Err(ReceiveError::Removed { .. })
    ));

    // Reopened from the store alone, the desktop still holds the epoch.
    let (store, device, key) = desktop.into_parts();
    let plain = JournalKey::from_secret_text(&key.to_secret_text()).expect("key");
    drop(key);
    let first_only =
        JournalKey::from_secret_text(plain.to_secret_text().lines().next().expect("first line"))
            .expect("first key");
    let reopened = Replica::open(store, device, first_only).expect("reopen");
    assert_eq!(reopened.journal_key().epochs(), vec![0, 1]);
    assert!(reopened.journal().entry(&after).is_some());
}

#[test]
fn a_tip_no_device_could_reach_heals_nothing() {
    let mut a = alex();
    add(&mut a, "one");
    let me = a.device_id();
    let top = a.store().own_top(&me).expect("top");
    let absurd = crate::store::Tip {
        author: me,
        seq: u64::MAX - 3,
        link: [7; 32],
    };
    assert!(a.heal_own(absurd).expect("heal").is_none());
    add(&mut a, "two");
    assert_eq!(a.store().own_top(&me).expect("top"), top + 1);
}

#[test]
fn a_member_cannot_hand_over_a_key_epoch_nobody_uses() {
    let mut laptop = alex();
    let mut phone = pair(&mut laptop, "Alex", "phone");
    // The laptop seals a made-up epoch, numbered above any real one, to
    // the phone.
    let mut forged = JournalKey::new_epoch(999);
    forged.merge(laptop.journal_key());
    let recipient = crate::keys::device_recipient(&phone.device_id()).expect("recipient");
    let sealed = crate::keys::seal_to_devices(&[recipient], forged.to_secret_text().as_bytes())
        .expect("seal");
    assert!(phone
        .member
        .take_keys(&sealed, &[])
        .expect("take")
        .is_empty());
    assert_eq!(phone.journal_key().epochs(), vec![0]);
    // Asked for by id (an envelope sealed to it is held), it is taken.
    // The newest epoch of `forged` is the made-up one.
    let id = crate::keys::key_id(&forged.recipient());
    assert_eq!(
        phone.member.take_keys(&sealed, &[id]).expect("take"),
        vec![id]
    );
    assert_eq!(phone.journal_key().epochs(), vec![0, 999]);
}

/// Delivers, back and forth, until nothing new moves between `a` and `b`.
fn settle(a: &mut Replica, b: &mut Replica) {
    for _ in 0..4 {
        deliver(a, b);
        deliver(b, a);
    }
}

/// The removed devices and their cuts, as `r` holds them.
fn removed_set(r: &Replica) -> Vec<(DeviceId, u64)> {
    let mut out: Vec<(DeviceId, u64)> =
        r.ledger().removed().iter().map(|(d, c)| (*d, *c)).collect();
    out.sort();
    out
}

/// Four devices, all in step: Alex's laptop and phone, Sam's desktop and
/// tablet.
fn four() -> (Replica, Replica, Replica, Replica) {
    let mut laptop = alex();
    let mut phone = pair(&mut laptop, "Alex", "phone");
    let mut desktop = pair(&mut laptop, "Sam", "desktop");
    let mut tablet = pair(&mut laptop, "Sam", "tablet");
    for r in [&mut phone, &mut desktop, &mut tablet] {
        deliver(&laptop, r);
    }
    add(&mut phone, "the phone's first");
    add(&mut tablet, "the tablet's first");
    for _ in 0..2 {
        deliver(&phone, &mut laptop);
        deliver(&tablet, &mut laptop);
        for r in [&mut phone, &mut desktop, &mut tablet] {
            deliver(&laptop, r);
        }
    }
    (laptop, phone, desktop, tablet)
}

#[test]
fn two_devices_that_remove_each_other_are_both_removed_whatever_arrives_first() {
    let (mut laptop, mut phone, mut desktop, mut tablet) = four();
    // Apart, the laptop and the desktop remove each other.
    laptop
        .remove_device(&desktop.device_id(), now())
        .expect("laptop removes desktop");
    desktop
        .remove_device(&laptop.device_id(), now())
        .expect("desktop removes laptop");
    add(&mut laptop, "the laptop, after");
    add(&mut desktop, "the desktop, after");

    // The phone hears from the laptop first, the tablet from the desktop.
    for _ in 0..3 {
        deliver(&laptop, &mut phone);
        deliver(&desktop, &mut tablet);
    }
    for _ in 0..3 {
        deliver(&desktop, &mut phone);
        deliver(&laptop, &mut tablet);
    }
    assert!(phone.follow_removals(now()).expect("phone follows"));
    assert!(tablet.follow_removals(now()).expect("tablet follows"));
    settle(&mut phone, &mut tablet);

    let both = {
        let mut v = vec![laptop.device_id(), desktop.device_id()];
        v.sort();
        v
    };
    for r in [&phone, &tablet] {
        let removed: Vec<DeviceId> = removed_set(r).into_iter().map(|(d, _)| d).collect();
        assert_eq!(removed, both, "both removals stand");
    }
    assert_eq!(removed_set(&phone), removed_set(&tablet), "same cuts");
    // What either removed device wrote that a member took in before it
    // learned of the removal stands, on both: the phone took in the
    // laptop's, the tablet the desktop's.
    let bodies = |r: &Replica| {
        let mut b: Vec<String> = r
            .journal()
            .all_entries()
            .into_iter()
            .map(|e| e.body)
            .collect();
        b.sort();
        b
    };
    assert_eq!(bodies(&phone), bodies(&tablet));
    for body in [
        "the phone's first",
        "the tablet's first",
        "the laptop, after",
        "the desktop, after",
    ] {
        assert!(bodies(&phone).contains(&body.to_string()), "{body} stands");
    }
    for r in [&mut phone, &mut tablet] {
        assert!(!r.follow_removals(now()).expect("follow"), "settled");
    }
    // What they write from now on is refused.
    add(&mut laptop, "the laptop, later");
    let later = everything(&laptop).pop().expect("later");
    assert!(matches!(
        tablet.receive_envelope(&later),
        Err(ReceiveError::Removed { .. })
    ));

    // What the phone writes now is sealed to an epoch neither removed
    // device holds: the tablet reads it, the laptop and desktop cannot.
    let note = add(&mut phone, "only the two of us now");
    settle(&mut phone, &mut tablet);
    assert_eq!(
        tablet.journal().entry(&note).expect("tablet reads").body,
        "only the two of us now"
    );
    let sealed = everything(&phone).pop().expect("latest");
    let envelope = crate::envelope::decode(&sealed).expect("decode");
    for removed in [&laptop, &desktop] {
        assert!(
            envelope.decrypt(removed.journal_key()).is_err(),
            "a removed device's keys do not open what came after"
        );
    }
    // Both removed devices learn that they were removed.
    deliver(&phone, &mut laptop);
    deliver(&tablet, &mut desktop);
    for r in [&laptop, &desktop] {
        assert!(r.ledger().removed().contains_key(&r.device_id()));
    }
}

#[test]
fn what_a_removed_device_wrote_before_a_member_learned_stands_everywhere() {
    let (mut laptop, mut phone, mut desktop, mut tablet) = four();
    laptop
        .remove_device(&phone.device_id(), now())
        .expect("remove the phone");
    // The phone, not told yet, writes; the desktop takes it in before it
    // learns of the removal, the tablet after.
    let late = add(&mut phone, "written before it knew");
    deliver(&phone, &mut desktop);
    for _ in 0..2 {
        deliver(&laptop, &mut desktop);
        deliver(&laptop, &mut tablet);
    }
    deliver(&phone, &mut tablet);
    assert!(tablet.journal().entry(&late).is_none(), "refused at first");

    // The desktop raises the cut to what it took in; everyone follows.
    assert!(desktop.follow_removals(now()).expect("follow"));
    settle(&mut desktop, &mut tablet);
    settle(&mut desktop, &mut laptop);
    for r in [&laptop, &desktop, &tablet] {
        assert_eq!(
            r.journal().entry(&late).expect("stands").body,
            "written before it knew"
        );
    }
    assert_eq!(removed_set(&laptop), removed_set(&tablet));
    assert_eq!(removed_set(&desktop), removed_set(&tablet));
    // Nothing more to follow anywhere.
    for r in [&mut laptop, &mut desktop, &mut tablet] {
        assert!(!r.follow_removals(now()).expect("follow"));
    }
    // And what the phone writes now is refused everywhere.
    add(&mut phone, "written after");
    let after = everything(&phone).pop().expect("after");
    assert!(matches!(
        tablet.receive_envelope(&after),
        Err(ReceiveError::Removed { .. })
    ));
}

#[test]
fn a_removed_device_cannot_remove_a_device_that_only_followed_its_removal() {
    let (mut laptop, mut phone, mut desktop, mut tablet) = four();
    laptop
        .remove_device(&phone.device_id(), now())
        .expect("remove the phone");
    let _ = add(&mut phone, "written before it knew");
    deliver(&phone, &mut desktop);
    deliver(&laptop, &mut desktop);
    assert!(desktop.follow_removals(now()).expect("follow"));
    settle(&mut desktop, &mut tablet);
    settle(&mut laptop, &mut tablet);
    // The phone (a thief's, say) removes the desktop, which only
    // followed the laptop's removal: not a counter-removal, refused.
    let before = removed_set(&tablet);
    assert_eq!(before.len(), 1);
    phone
        .remove_device(&desktop.device_id(), now())
        .expect("the phone does not know yet");
    let counter = everything(&phone).pop().expect("removal");
    assert!(matches!(
        tablet.receive_envelope(&counter),
        Err(ReceiveError::Removed { .. })
    ));
    assert_eq!(removed_set(&tablet), before);
}
