//! The log on every backend: batches, checkpoints, proofs, restarts, ownership.

mod backends;

use provenance_ledger::{Ledger, LedgerError};
use provenance_tlog::merkle::{verify_consistency, verify_inclusion};
use provenance_tlog::{Checkpoint, leaf_hash};

/// Entry `i` of a test log: device events of ten stations, each its own chain.
fn entry(i: u64) -> Vec<u8> {
    thread_local! {
        static CACHE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_empty() {
            let mut stations: Vec<backends::Signer> = (0..10)
                .map(|s| backends::Signer::new(&format!("station-{s}"), s as u8 + 1))
                .collect();
            for n in 0..2000u64 {
                let item = backends::sgtin(n);
                c.push(stations[(n % 10) as usize].event(
                    provenance_event::Kind::Commissioned,
                    &[item.as_str()],
                    None,
                    1_763_719_200_000 + n as i64,
                ));
            }
        }
        c[i as usize].clone()
    })
}

#[tokio::test]
async fn batches_checkpoints_and_proofs() {
    for b in backends::all("proofs").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let empty = ledger.latest_checkpoint().await;
        assert_eq!(
            empty.checkpoint.size, 0,
            "{}: a new log signs the empty tree",
            b.name
        );

        let mut n = 0u64;
        let mut sizes = vec![0];
        for batch in [1u64, 2, 255, 1, 300, 700] {
            let entries: Vec<Vec<u8>> = (n..n + batch).map(entry).collect();
            let a = ledger.append(&entries).await.expect("append");
            assert_eq!(a.first_index, n);
            n += batch;
            assert_eq!(a.checkpoint.checkpoint.size, n);
            sizes.push(n);
            // The note is a valid signed checkpoint under the log's public key.
            let (cp, _) = Checkpoint::open(
                a.checkpoint.note.as_bytes(),
                ledger.verifier(),
                Some("provenance.test/log"),
            )
            .expect("note opens");
            assert_eq!(cp, a.checkpoint.checkpoint);
        }
        assert_eq!(
            ledger.checkpoint_sizes().await.expect("sizes"),
            sizes,
            "{}: every checkpoint kept",
            b.name
        );

        // Every entry is stored byte for byte and proves into every checkpoint that covers it.
        let stored = ledger.entries(0, n).await.expect("entries");
        assert_eq!(stored.len() as u64, n);
        for &size in &sizes[1..] {
            let cp = ledger
                .checkpoint(size)
                .await
                .expect("checkpoint")
                .checkpoint;
            assert_eq!(ledger.root(size).await.expect("root"), cp.root);
            for index in [0, size / 3, size / 2, size - 1] {
                assert_eq!(stored[index as usize].1, entry(index));
                let proof = ledger.inclusion_proof(index, size).await.expect("proof");
                verify_inclusion(&leaf_hash(&entry(index)), index, size, &proof, &cp.root)
                    .unwrap_or_else(|e| panic!("{}: {index} in {size}: {e}", b.name));
            }
            for &older in sizes[1..].iter().filter(|&&s| s <= size) {
                let old = ledger
                    .checkpoint(older)
                    .await
                    .expect("checkpoint")
                    .checkpoint;
                let proof = ledger.consistency_proof(older, size).await.expect("proof");
                verify_consistency(older, size, &proof, &old.root, &cp.root)
                    .unwrap_or_else(|e| panic!("{}: {older}->{size}: {e}", b.name));
            }
        }
        assert!(matches!(
            ledger.inclusion_proof(0, n + 1).await,
            Err(LedgerError::Proof(_))
        ));
        assert!(matches!(
            ledger.checkpoint(5).await,
            Err(LedgerError::NoCheckpoint(5))
        ));
        ledger.close().await;
        b.cleanup().await;
    }
}

#[tokio::test]
async fn reopening_continues_the_same_log() {
    for b in backends::all("reopen").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        ledger
            .append(&(0..300).map(entry).collect::<Vec<_>>())
            .await
            .expect("append");
        let before = ledger.latest_checkpoint().await;
        ledger.close().await;

        let ledger = Ledger::open(&b.config()).await.expect("reopen");
        assert_eq!(ledger.latest_checkpoint().await, before, "{}", b.name);
        let a = ledger
            .append(&(300..600).map(entry).collect::<Vec<_>>())
            .await
            .expect("append");
        assert_eq!(a.first_index, 300);
        let proof = ledger.consistency_proof(300, 600).await.expect("proof");
        verify_consistency(
            300,
            600,
            &proof,
            &before.checkpoint.root,
            &a.checkpoint.checkpoint.root,
        )
        .expect("consistent");
        ledger.close().await;
        b.cleanup().await;
    }
}

#[tokio::test]
async fn a_database_refuses_another_logs_key() {
    for b in backends::all("wrongkey").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        ledger.close().await;
        let other = tempfile::tempdir().expect("tempdir");
        let mut config = b.config();
        config.key_file = other.path().join("log.key");
        match Ledger::open(&config).await {
            Err(LedgerError::WrongLog { .. }) => {}
            Err(e) => panic!("{}: wrong error {e}", b.name),
            Ok(_) => panic!("{}: opened a log with another key", b.name),
        }
        b.cleanup().await;
    }
}

#[tokio::test]
async fn the_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    for b in backends::all("keymode").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let mode = std::fs::metadata(b.key_file())
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(b.key_file()).expect("key");
        assert!(text.starts_with("PRIVATE+KEY+provenance.test/log+"));
        ledger.close().await;
        std::fs::set_permissions(b.key_file(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        // Refused, saying to chmod it.
        assert!(matches!(
            Ledger::open(&b.config()).await,
            Err(LedgerError::NotPrivate { .. })
        ));
        b.cleanup().await;
    }
}

/// Witnesses' cosignatures on both backends: kept beside their checkpoint, the published
/// checkpoint switches to the newest cosigned one once witnessing is on, and each entry's
/// anchoring window is bounded by the cosigned checkpoints around it.
#[tokio::test]
async fn cosignatures_publish_and_bound_anchoring() {
    use provenance_ledger::witnessed::StoredCosignature;
    use provenance_tlog::cosignature::CosignatureSigner;
    for b in backends::all("cosignatures").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let first: Vec<Vec<u8>> = (0..10).map(entry).collect();
        let a = ledger.append(&first).await.expect("append");
        let second: Vec<Vec<u8>> = (10..30).map(entry).collect();
        let c = ledger.append(&second).await.expect("append");
        let third: Vec<Vec<u8>> = (30..35).map(entry).collect();
        let latest = ledger.append(&third).await.expect("append");
        assert_eq!(
            ledger.published_checkpoint().await.checkpoint.size,
            35,
            "{}: without witnesses the newest checkpoint is published",
            b.name
        );
        ledger.publish_witnessed(2).await.expect("witnessed");
        assert_eq!(ledger.published_checkpoint().await.checkpoint.size, 35);

        let witnesses: Vec<CosignatureSigner> = ["w1.test/w", "w2.test/w"]
            .iter()
            .enumerate()
            .map(|(i, n)| CosignatureSigner::new(n, &[i as u8 + 3; 32]).expect("signer"))
            .collect();
        let cosign =
            |w: &CosignatureSigner, cp: &provenance_tlog::Checkpoint, t: u64| StoredCosignature {
                witness: w.vkey(),
                timestamp: t,
                line: w
                    .sign(&cp.body(), t)
                    .expect("cosign")
                    .trim_end()
                    .to_string(),
            };
        for (size, cp, t) in [
            (10, &a.checkpoint.checkpoint, 1_000),
            (30, &c.checkpoint.checkpoint, 2_000),
        ] {
            for w in &witnesses {
                ledger
                    .record_cosignature(size, &cosign(w, cp, t))
                    .await
                    .expect(b.name);
            }
        }
        // A line that is not a signature line is refused; a size the log never signed too.
        let mut bad = cosign(&witnesses[0], &c.checkpoint.checkpoint, 3);
        bad.line = "not a line".into();
        assert!(ledger.record_cosignature(30, &bad).await.is_err());
        let stray = cosign(&witnesses[0], &c.checkpoint.checkpoint, 3);
        assert!(ledger.record_cosignature(31, &stray).await.is_err());

        let published = ledger.published_checkpoint().await;
        assert_eq!(published.checkpoint.size, 30, "{}", b.name);
        let verifiers: Vec<_> = witnesses.iter().map(|w| w.verifier().clone()).collect();
        let found =
            provenance_tlog::cosignature::cosignatures(published.note.as_bytes(), &verifiers)
                .expect("the published note's cosignatures verify");
        assert_eq!(found.len(), 2, "{}", published.note);
        assert!(
            published
                .note
                .starts_with(&c.checkpoint.note.trim_end().to_string())
        );

        // Entry 15: after the checkpoint of 10 (t=1000), by the checkpoint of 30 (t=2000).
        let w = ledger.anchoring(15).await.expect("anchoring");
        assert_eq!(w.after.as_ref().map(|a| a.size), Some(10));
        assert_eq!(w.by.as_ref().map(|a| a.size), Some(30));
        assert_eq!(w.by.as_ref().and_then(|a| a.earliest()), Some(2_000));
        assert_eq!(w.by.as_ref().and_then(|a| a.vouched_by(2)), Some(2_000));
        assert!(w.after.as_ref().and_then(|a| a.signed_ms).is_some());
        // Entry 32: after 30, not yet witnessed.
        let w = ledger.anchoring(32).await.expect("anchoring");
        assert_eq!(w.after.map(|a| a.size), Some(30));
        assert!(w.by.is_none());
        let all = ledger.anchorings(&[3, 15, 32]).await.expect("anchorings");
        assert_eq!(all.len(), 3);
        assert_eq!(all[&3].by.as_ref().map(|a| a.size), Some(10));
        assert_eq!(ledger.witnessing_lags(2).await.expect("lags").len(), 2);
        assert_eq!(latest.checkpoint.checkpoint.size, 35);
        ledger.close().await;
    }
}
