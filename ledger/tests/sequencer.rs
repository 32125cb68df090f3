//! The sequencer's lease (issue #19) on every backend: two processes of one log (two
//! `Ledger`s on one database, each with its own data directory and the same key) never both
//! append. The second is refused while the first holds the lease; once the lease runs out it
//! takes over and appends after what the first appended (no fork); the first, paused past its
//! lease, then appends nothing (its fencing token is stale); a graceful close hands the lease
//! over at once.

mod backends;

use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
use provenance_ledger::{Config, Ledger, LedgerError};
use provenance_tlog::merkle::verify_consistency;

fn events(n: u64) -> Vec<Vec<u8>> {
    let key = SigningKey::from_bytes(&[8; 32]);
    let id = DeviceId::new("station-1").expect("id");
    let mut prev = [0u8; 32];
    (1..=n)
        .map(|seq| {
            let items =
                [Epc::parse(&format!("urn:epc:id:sgtin:4012345.012345.{seq}")).expect("epc")];
            let d = Draft::new(
                seq,
                prev,
                1_763_719_200_000 + seq as i64,
                Kind::Commissioned,
                &items,
            );
            let mut buf = vec![0u8; 1024];
            let len = sign_event(&key, &id, &d, &mut buf).expect("sign");
            buf.truncate(len);
            prev = message_hash(&buf);
            buf
        })
        .collect()
}

/// Lets the lease run out now, as if its holder had been paused past it.
async fn expire(ledger: &Ledger) {
    let q = "UPDATE sequencer SET expires_ms = 0";
    match ledger.store() {
        provenance_ledger::store::Store::Sqlite(p) => sqlx::query(q).execute(p).await.map(|_| ()),
        provenance_ledger::store::Store::Postgres(p) => sqlx::query(q).execute(p).await.map(|_| ()),
    }
    .expect("expire");
}

#[tokio::test]
async fn one_sequencer_at_a_time_and_no_fork() {
    for b in backends::all("sequencer").await {
        let first = Ledger::open(&b.config()).await.expect(b.name);
        // A second process: its own data directory, a copy of the log's key.
        let other = tempfile::tempdir().expect("tempdir");
        std::fs::copy(b.key_file(), other.path().join("log.key")).expect("copy key");
        let second = Ledger::open(&Config {
            key_file: other.path().join("log.key"),
            ..b.config()
        })
        .await
        .expect(b.name);
        let ev = events(4);
        // Each process its own ID (its MQTT client ID ends with it), the same after a restart.
        assert_ne!(first.process_id(), second.process_id());
        assert_eq!(first.process_id().len(), 8);

        let a = first.append(&ev[..1]).await.expect("the first appends");
        assert_eq!(a.first_index, 0, "{}", b.name);
        let e = second.append(&ev[1..2]).await.expect_err("refused");
        assert!(
            matches!(e, LedgerError::NotSequencer { .. }),
            "{}: {e}",
            b.name
        );
        assert!(e.to_string().contains("sequencer"), "{e}");

        // The first is paused past its lease: the second takes over and appends after it.
        expire(&first).await;
        let s = second.append(&ev[1..2]).await.expect("takes over");
        assert_eq!(
            s.first_index, 1,
            "{}: after what the first appended",
            b.name
        );
        // The first wakes up: its token is stale, it appends nothing.
        let e = first.append(&ev[2..3]).await.expect_err("fenced");
        assert!(
            matches!(e, LedgerError::NotSequencer { .. }),
            "{}: {e}",
            b.name
        );
        assert_eq!(
            second.latest_checkpoint().await.checkpoint.size,
            2,
            "{}",
            b.name
        );

        // A graceful close hands the lease over at once; the first reads the head again.
        second.close().await;
        let a = first.append(&ev[2..4]).await.expect("the lease is free");
        assert_eq!(a.first_index, 2, "{}", b.name);
        let cp = first.latest_checkpoint().await.checkpoint;
        assert_eq!(cp.size, 4);
        // One tree: the second's checkpoint of 2 is consistent with the first's of 4.
        let old = first.checkpoint(2).await.expect("checkpoint 2").checkpoint;
        let proof = first.consistency_proof(2, 4).await.expect("proof");
        verify_consistency(2, 4, &proof, &old.root, &cp.root).expect(b.name);
        let id = first.process_id().to_string();
        first.close().await;
        let again = Ledger::open(&b.config()).await.expect(b.name);
        assert_eq!(
            again.process_id(),
            id,
            "{}: the same process after a restart",
            b.name
        );
        again.close().await;
        b.cleanup().await;
    }
}
