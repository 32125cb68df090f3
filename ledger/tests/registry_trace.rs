//! The registry as log entries, and item traces through nested containers, on every backend.

mod backends;

use backends::{Signer, sgtin, sscc};
use provenance_event::Kind;
use provenance_event::registry::{self, Role};
use provenance_ledger::trace::ChainStatus;
use provenance_ledger::{Ledger, LedgerError};

#[tokio::test]
async fn registry_changes_are_signed_log_entries() {
    for b in backends::all("registry").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let station = Signer::new("station-1", 1);
        let a = ledger
            .register(
                &station.id,
                Role::Station,
                "Cell plant Salzgitter",
                station.public_key(),
            )
            .await
            .expect("register");
        // The entry is in the log, signed by the log's key.
        let entry = ledger
            .entry(a.first_index)
            .await
            .expect("read")
            .expect("entry");
        let rec =
            registry::verify(&entry, ledger.verifier().public_key()).expect("signed by the log");
        assert_eq!(rec.device.as_str(), "station-1");

        let d = ledger
            .device("station-1")
            .await
            .expect("query")
            .expect("registered");
        assert_eq!(
            (d.role, d.org.as_str(), d.public_key),
            (Role::Station, "Cell plant Salzgitter", station.public_key())
        );
        assert_eq!(d.registered_idx, a.first_index);

        // IDs are never registered twice.
        let again = ledger
            .register(&station.id, Role::Station, "x", station.public_key())
            .await;
        assert!(matches!(again, Err(LedgerError::Registry(m)) if m.contains("already registered")));
        // Small-order keys are refused.
        let weak = ledger
            .register(&Signer::new("weak", 9).id, Role::Tracker, "x", [0; 32])
            .await;
        assert!(matches!(weak, Err(LedgerError::Registry(_))), "{}", b.name);

        let new_key = Signer::new("station-1", 2).public_key();
        let r = ledger
            .rotate_key(&station.id, new_key)
            .await
            .expect("rotate");
        let keys = ledger.device_keys("station-1").await.expect("keys");
        assert_eq!(
            keys,
            vec![
                (a.first_index, station.public_key()),
                (r.first_index, new_key)
            ]
        );
        let v = ledger
            .revoke(&station.id, Some("decommissioned line 2"))
            .await
            .expect("revoke");
        let d = ledger
            .device("station-1")
            .await
            .expect("query")
            .expect("known");
        assert_eq!(d.revoked_idx, Some(v.first_index));
        assert!(
            ledger
                .rotate_key(&station.id, station.public_key())
                .await
                .is_err(),
            "revoked stays revoked"
        );
        assert_eq!(ledger.devices().await.expect("list").len(), 1);
        ledger.close().await;
        b.cleanup().await;
    }
}

#[tokio::test]
async fn a_cell_inherits_its_containers_events_while_inside() {
    for b in backends::all("trace").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let mut station = Signer::new("station-1", 1);
        let mut tracker = Signer::new("tracker-1", 2);
        let mut customs = Signer::new("customs-rtm", 3);
        for (s, role) in [
            (&station, Role::Station),
            (&tracker, Role::Tracker),
            (&customs, Role::Customs),
        ] {
            ledger
                .register(&s.id, role, "org", s.public_key())
                .await
                .expect("register");
        }
        let (c1, c2, c3) = (sgtin(1), sgtin(2), sgtin(3));
        let pack = sgtin(100);
        let (pallet, container) = (sscc(7), sscc(9));
        let t0 = 1_763_719_200_000i64;
        let batch = vec![
            station.event(Kind::Commissioned, &[&c1, &c2, &c3], None, t0),
            station.event(Kind::Packed, &[&c1, &c2], Some(&pack), t0 + 1000),
            station.event(Kind::Packed, &[&pack], Some(&pallet), t0 + 1100),
            station.event(Kind::Packed, &[&pallet], Some(&container), t0 + 1900),
            tracker.event(Kind::Sealed, &[&container], None, t0 + 2000),
            tracker.event(Kind::Departed, &[&container], None, t0 + 2100),
        ];
        ledger.append(&batch).await.expect("append");
        tracker.lose(2); // two located events never arrive
        let batch = vec![
            tracker.event(Kind::Located, &[&container], None, t0 + 3000),
            customs.event(Kind::Inspected, &[&container], None, t0 + 3500),
            tracker.event(Kind::Arrived, &[&container], None, t0 + 4000),
            station.event(Kind::Unpacked, &[&pallet], Some(&container), t0 + 5000),
            tracker.event(Kind::Located, &[&container], None, t0 + 6000),
        ];
        let a = ledger.append(&batch).await.expect("append");
        ledger
            .wait_indexed(a.checkpoint.checkpoint.size)
            .await
            .expect("indexed");

        let t = ledger.trace(&c1).await.expect("trace");
        let kinds: Vec<(Kind, Option<&str>)> = t
            .entries
            .iter()
            .map(|e| (e.kind, e.inherited.as_ref().map(|w| w.container.as_str())))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Kind::Commissioned, None),
                (Kind::Packed, None),
                (Kind::Packed, Some(pack.as_str())),
                (Kind::Packed, Some(pallet.as_str())),
                (Kind::Sealed, Some(container.as_str())),
                (Kind::Departed, Some(container.as_str())),
                (Kind::Located, Some(container.as_str())),
                (Kind::Inspected, Some(container.as_str())),
                (Kind::Arrived, Some(container.as_str())),
                (Kind::Unpacked, Some(pallet.as_str())),
            ],
            "{}: the container's last fix, after unpacking, is not the cell's",
            b.name
        );
        let via: Vec<&str> = t.containers.iter().map(|w| w.container.as_str()).collect();
        assert_eq!(
            via,
            vec![pack.as_str(), pallet.as_str(), container.as_str()]
        );
        let k = t
            .containers
            .iter()
            .find(|w| w.container == container)
            .expect("container window");
        assert_eq!((k.from_ms, k.until_ms), (t0 + 1900, Some(t0 + 5000)));
        assert_eq!(k.via, vec![pack.clone(), pallet.clone(), container.clone()]);
        // The lost tracker events show as a gap before the located fix.
        let located = t
            .entries
            .iter()
            .find(|e| e.kind == Kind::Located)
            .expect("located");
        assert_eq!(
            located.chain,
            ChainStatus::Gap {
                from: 3,
                to: 4,
                explained: false
            }
        );
        assert!(
            t.entries
                .iter()
                .filter(|e| e.kind != Kind::Located)
                .all(|e| matches!(e.chain, ChainStatus::Linked | ChainStatus::First))
        );

        // c3 was never packed: its own events only.
        assert_eq!(ledger.trace(&c3).await.expect("trace").entries.len(), 1);
        // The device view lists the gap too.
        let chain = ledger.device_chain("tracker-1").await.expect("chain");
        assert_eq!(
            chain.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![1, 2, 5, 6, 7]
        );
        // What the ingest reads back after a start: two runs, whatever the chain's length.
        let settled = ledger.settled_runs("tracker-1").await.expect("runs");
        assert_eq!(settled.runs, vec![(1, 2), (5, 7)]);
        assert!(settled.drop_reports.is_empty());
        assert_eq!(
            ledger.settled_runs("nobody").await.expect("runs"),
            Default::default()
        );
        // Ingest's duplicate lookup.
        let found = ledger
            .find_events(&[
                ("tracker-1".into(), 5),
                ("tracker-1".into(), 3),
                ("nobody".into(), 1),
            ])
            .await
            .expect("find");
        assert!(found[0].is_some() && found[1].is_none() && found[2].is_none());
        ledger.close().await;
        b.cleanup().await;
    }
}

/// A crash between anchoring and indexing loses no index: the next start rebuilds it from the
/// log (simulated by wiping the event index and its watermark).
#[tokio::test]
async fn the_event_index_is_rebuilt_from_the_log_after_a_crash() {
    for b in backends::all("reindex").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let mut station = Signer::new("station-1", 1);
        let t0 = 1_763_719_200_000i64;
        let batch: Vec<Vec<u8>> = (0..50)
            .map(|n| station.event(Kind::Commissioned, &[&sgtin(n)], None, t0 + n as i64))
            .collect();
        ledger.append(&batch).await.expect("append");
        ledger.close().await;
        let pool_url = if b.name == "sqlite" {
            provenance_ledger::store::index_url(&b.url)
        } else {
            b.url.clone()
        };
        // The crash: the index never got written.
        if b.name == "sqlite" {
            let pool = sqlx::SqlitePool::connect(&pool_url).await.expect("db");
            for q in [
                "DELETE FROM events",
                "DELETE FROM item_events",
                "UPDATE index_meta SET value = '0' WHERE key = 'indexed_size'",
            ] {
                sqlx::query(q).execute(&pool).await.expect("wipe");
            }
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&pool_url).await.expect("db");
            for q in [
                "DELETE FROM events",
                "DELETE FROM item_events",
                "UPDATE index_meta SET value = '0' WHERE key = 'indexed_size'",
            ] {
                sqlx::query(q).execute(&pool).await.expect("wipe");
            }
            pool.close().await;
        }
        let ledger = Ledger::open(&b.config()).await.expect("reopen");
        assert_eq!(ledger.indexed_size(), 50, "{}", b.name);
        assert_eq!(
            ledger.trace(&sgtin(7)).await.expect("trace").entries.len(),
            1
        );
        assert!(
            ledger
                .find_events(&[("station-1".into(), 50)])
                .await
                .expect("find")[0]
                .is_some()
        );
        ledger.close().await;
        b.cleanup().await;
    }
}
