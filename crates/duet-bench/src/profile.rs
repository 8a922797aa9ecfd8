//! `duet-bench profile HOME`: where the time of opening a journal goes.

use std::path::Path;
use std::time::Instant;

use duet_core::envelope;
use duet_core::home::Home;
use duet_core::journal::{Filter, Journal};
use duet_core::keys::JournalKey;
use duet_core::store::Store;

pub fn run(home: &Path) -> anyhow::Result<()> {
    let home = Home::new(home);
    let rss = || {
        crate::procfs::rss(std::process::id())
            .map(|(peak, now)| {
                format!(
                    "rss {:.1} MB (peak {:.1} MB)",
                    now as f64 / 1e6,
                    peak as f64 / 1e6
                )
            })
            .unwrap_or_default()
    };
    println!("at start             {}", rss());
    let t = Instant::now();
    let store = Store::open(&home.store_path())?;
    let key = JournalKey::read(&home.journal_key_path())?;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    println!("open store + key     {:>8.1} ms", ms(t));
    let t = Instant::now();
    let snapshot = store.snapshot()?.map(|s| s.bytes);
    let envelopes = store.envelopes_after(0)?;
    println!(
        "read rows            {:>8.1} ms  (snapshot {} B, {} envelopes)",
        ms(t),
        snapshot.as_ref().map_or(0, Vec::len),
        envelopes.len()
    );
    let t = Instant::now();
    let saved = match &snapshot {
        Some(bytes) => Some(
            duet_core::ledger::proofs::Contents::decode(&envelope::decode(bytes)?.decrypt(&key)?)?
                .doc,
        ),
        None => None,
    };
    println!("decrypt snapshot     {:>8.1} ms", ms(t));
    let t = Instant::now();
    let changes = envelopes
        .iter()
        .map(|e| envelope::decode(&e.bytes).and_then(|s| s.decrypt(&key)))
        .collect::<Result<Vec<_>, _>>()?;
    println!("decrypt envelopes    {:>8.1} ms", ms(t));
    let t = Instant::now();
    let journal = Journal::load(saved.as_deref(), [])?;
    println!("automerge load       {:>8.1} ms  {}", ms(t), rss());
    let t = Instant::now();
    let mut journal2 = journal;
    for c in changes {
        journal2.apply_change(c)?;
    }
    println!("apply envelopes      {:>8.1} ms", ms(t));
    let t = Instant::now();
    let top = journal2.query(&Filter {
        limit: Some(20),
        ..Filter::default()
    });
    println!(
        "query -n 20          {:>8.1} ms  ({} entries)",
        ms(t),
        top.len()
    );
    // What reading every entry costs: building the read index from
    // nothing (the first open after a join) does it.
    let t = Instant::now();
    let rows = journal2.every_row();
    println!(
        "read every entry     {:>8.1} ms  ({} keys)",
        ms(t),
        rows.len()
    );
    drop(rows);
    // What one live entry costs the two daemons' documents at this size.
    let author = duet_core::journal::Author {
        person: "Alex".into(),
        device: duet_core::DeviceId([7; 32]),
    };
    let mut receiver = Journal::load(Some(&journal2.save()), [])?;
    let (mut write, mut apply) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut rng = crate::text::Rng::new(9);
    for i in 0..50 {
        let new = duet_core::journal::NewEntry {
            body: crate::text::entry(&mut rng, 400),
            ..Default::default()
        };
        let t = Instant::now();
        let (_, commit) = journal2.add_entry(&author, new, 1_800_000_000_000 + i)?;
        write += t.elapsed();
        let t = Instant::now();
        receiver.apply_change(commit.bytes)?;
        apply += t.elapsed();
    }
    println!(
        "one new entry        {:>8.2} ms to write, {:.2} ms to apply elsewhere (mean of 50)",
        write.as_secs_f64() * 1e3 / 50.0,
        apply.as_secs_f64() * 1e3 / 50.0
    );
    drop(receiver);
    let t = Instant::now();
    let saved = journal2.save();
    println!(
        "save                 {:>8.1} ms  ({} B)",
        ms(t),
        saved.len()
    );
    Ok(())
}
