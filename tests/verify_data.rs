//! `provenance verify --data` on a real log, untouched and then tampered with in every way
//! SPEC §6 names: an edited, deleted, reordered or inserted entry, an edited stored hash, an
//! edited checkpoint, and a truncation caught by a checkpoint kept elsewhere.

mod support;

use std::path::Path;

use provenance_event::Kind;
use provenance_event::registry::Role;
use provenance_ledger::{Config, Ledger};
use support::tamper::{self, sql};
use support::{Device, copy_dir, provenance, sgtin};

/// Builds a log of 2 registrations and 600 events in 6 batches in `dir`; returns the newest
/// checkpoint note.
async fn build(dir: &Path) -> String {
    let ledger = Ledger::open(&Config {
        database_url: format!("sqlite://{}", dir.join("ledger.db").display()),
        key_file: dir.join("log.key"),
        origin: "provenance.test/log".into(),
    })
    .await
    .expect("open");
    let mut a = Device::new("station-1", 1);
    let mut b = Device::new("station-2", 2);
    ledger
        .register(&a.id, Role::Station, "plant", a.public_key())
        .await
        .expect("register");
    ledger
        .register(&b.id, Role::Station, "plant", b.public_key())
        .await
        .expect("register");
    for batch in 0..6u64 {
        let events: Vec<Vec<u8>> = (0..100u64)
            .map(|i| {
                let n = batch * 100 + i;
                let d = if n % 2 == 0 { &mut a } else { &mut b };
                d.event(
                    Kind::Commissioned,
                    &[&sgtin(n)],
                    None,
                    1_763_719_200_000 + n as i64,
                )
            })
            .collect();
        ledger.append(&events).await.expect("append");
    }
    let note = ledger.latest_checkpoint().await.note;
    ledger.close().await;
    note
}

fn verify(dir: &Path, extra: &[&str]) -> (bool, String) {
    let out = provenance()
        .args(["verify", "--data"])
        .arg(dir)
        .args(extra)
        .output()
        .expect("verify runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn verify_names_every_kind_of_tampering() {
    let root = tempfile::tempdir().expect("tempdir");
    let pristine = root.path().join("pristine");
    let newest = build(&pristine).await;

    let (ok, out) = verify(&pristine, &[]);
    assert!(ok, "untouched log must verify:\n{out}");
    assert!(
        out.contains("checked   602 entries, 9 checkpoints, 600 event signatures"),
        "{out}"
    );

    let case = |name: &str| {
        let d = root.path().join(name);
        copy_dir(&pristine, &d);
        d
    };
    // Entry 2 is the first event (0 and 1 are registrations).
    let d = case("edited");
    tamper::edit_entry(&d, 42, b"012345.40", b"012345.49").await;
    let (ok, out) = verify(&d, &[]);
    assert!(!ok);
    assert!(
        out.contains("entry 42: changed since it was anchored"),
        "{out}"
    );
    assert!(
        out.contains("entry 42 (signer station-1): the signature does not verify"),
        "{out}"
    );
    assert!(
        !out.contains("stored hash"),
        "the stored hashes are right:\n{out}"
    );

    let d = case("deleted");
    tamper::delete_entry(&d, 77).await;
    let (ok, out) = verify(&d, &[]);
    assert!(!ok);
    assert!(out.contains("entry 77: missing (deleted)"), "{out}");

    let d = case("reordered");
    tamper::swap_entries(&d, 100, 101).await;
    let (ok, out) = verify(&d, &[]);
    assert!(!ok);
    assert!(
        out.contains("entry 100: changed") && out.contains("entry 101: changed"),
        "{out}"
    );
    // The stored tree still knows where each was anchored.
    assert!(
        out.contains(
            "entry 100: changed since it was anchored: it holds the entry anchored at 101 (moved)"
        ) && out.contains("it holds the entry anchored at 100 (moved)"),
        "{out}"
    );

    let d = case("inserted");
    sql(
        &d,
        &["INSERT INTO entries (idx, data) SELECT 602, data FROM entries WHERE idx = 5"],
    )
    .await;
    let (ok, out) = verify(&d, &[]);
    assert!(!ok);
    assert!(
        out.contains("entries 602..=602: stored after the newest checkpoint"),
        "{out}"
    );

    let d = case("hash");
    // Level-1 tile 0 holds the roots of the first 256-leaf subtrees; edit its first hash.
    tamper::zero_tile_hash(&d, 1, 0, 0).await;
    let (ok, out) = verify(&d, &[]);
    assert!(!ok);
    assert!(out.contains("stored hash 0 of tile 1/0"), "{out}");
    assert!(!out.contains("entry "), "entries are intact:\n{out}");

    let d = case("leafhash");
    tamper::zero_tile_hash(&d, 0, 0, 10).await;
    let (ok, out) = verify(&d, &[]);
    assert!(!ok);
    assert!(out.contains("stored hash 10 of tile 0/0"), "{out}");

    let d = case("checkpoint");
    tamper::edit_checkpoint(&d, 302).await;
    let (ok, out) = verify(&d, &[]);
    assert!(!ok);
    assert!(out.contains("checkpoint 302:"), "{out}");

    // Truncation with the checkpoints rewound too: only a checkpoint kept elsewhere tells.
    let d = case("truncated");
    let saved = root.path().join("saved-checkpoint");
    std::fs::write(&saved, &newest).expect("save");
    sql(
        &d,
        &[
            "DELETE FROM entries WHERE idx >= 502",
            "DELETE FROM checkpoints WHERE size > 502",
        ],
    )
    .await;
    let (ok, out) = verify(&d, &[]);
    assert!(
        ok,
        "without outside knowledge a clean truncation looks like a shorter log:\n{out}"
    );
    let (ok, out) = verify(&d, &["--checkpoint", saved.to_str().expect("utf-8")]);
    assert!(!ok);
    assert!(
        out.contains("external checkpoint 602: the stored log has only 502 entries"),
        "{out}"
    );
}
