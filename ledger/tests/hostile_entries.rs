//! Entries that break SPEC §3 but are in a log anyway (anchored under older rules, or appended
//! raw by a careless appender): the indexer records a finding on each and goes on; it never
//! retries forever, never blocks appends, and start-up over such a log works (issue #12).

mod backends;

use std::time::Duration;

use backends::{Backend, Signer, sgtin, sscc};
use provenance_event::Kind;
use provenance_event::registry::Role;
use provenance_ledger::Ledger;

const T0: i64 = 1_763_719_200_000;

/// Waits for the index to reach `size`, failing the test (instead of hanging it) if the
/// indexer wedged.
async fn indexed(ledger: &Ledger, size: u64, what: &str) {
    tokio::time::timeout(Duration::from_secs(20), ledger.wait_indexed(size))
        .await
        .unwrap_or_else(|_| panic!("{what}: the indexer is stuck below {size}"))
        .expect("indexer alive");
}

/// Sets the index back to empty, as after a crash before the indexer wrote anything.
async fn forget_index(b: &Backend) {
    let q = "UPDATE index_meta SET value = '0' WHERE key = 'indexed_size'";
    if b.name == "sqlite" {
        let url = provenance_ledger::store::index_url(&b.url);
        let pool = sqlx::SqlitePool::connect(&url).await.expect("db");
        sqlx::query(q).execute(&pool).await.expect("reset");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&b.url).await.expect("db");
        sqlx::query(q).execute(&pool).await.expect("reset");
        pool.close().await;
    }
}

#[tokio::test]
async fn an_entry_naming_an_item_twice_is_a_finding_and_never_wedges_the_indexer() {
    for b in backends::all("dupitem").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let mut op = Signer::new("op-1", 3);
        ledger
            .register(&op.id, Role::Operator, "Customs Hamburg", op.public_key())
            .await
            .expect("register");
        let (a, x) = (sgtin(1), sgtin(2));
        let first = op.event(Kind::Inspected, &[&a], None, T0);
        ledger.append(&[first]).await.expect("append");
        // `provenance sign --item A --item A`, before decoding refused it: the items array
        // names the same cell twice. Once this wedged the indexer on a UNIQUE violation.
        let twice = op.event_patched(Kind::Inspected, &[&a, &x], None, T0 + 1, &x, &a);
        let bad = ledger
            .append(&[twice])
            .await
            .expect("append raw")
            .first_index;
        // A packing that names the same child twice and the container as its own child.
        let packed = op.event_patched(
            Kind::Packed,
            &[&x, &sscc(9)],
            Some(&sscc(1)),
            T0 + 2,
            &sscc(9),
            &sscc(1),
        );
        let bad_pack = ledger
            .append(&[packed])
            .await
            .expect("append raw")
            .first_index;
        let after = op.event(Kind::Cleared, &[&a], None, T0 + 3);
        let last = ledger.append(&[after]).await.expect("append after");
        let size = last.checkpoint.checkpoint.size;
        indexed(&ledger, size, b.name).await;

        let findings = ledger.index_findings(None, 100).await.expect("findings");
        let at: Vec<u64> = findings.iter().map(|f| f.index).collect();
        assert_eq!(at, vec![bad, bad_pack], "{}: {findings:?}", b.name);
        assert!(
            findings[0].problem.contains("name the same item"),
            "{findings:?}"
        );
        assert!(
            findings[1].problem.contains("parent itself"),
            "{findings:?}"
        );
        // The events around it are indexed and traced as usual.
        let trace = ledger.trace(&a).await.expect("trace");
        let kinds: Vec<Kind> = trace.entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![Kind::Inspected, Kind::Cleared], "{}", b.name);
        // The audit: the log is intact (no tampering finding), and both entries are named as
        // their signer's invalid events, not as undecodable storage.
        let report =
            provenance_ledger::audit::audit(ledger.store(), ledger.verifier(), &[], |_, _| {})
                .await
                .expect("audit");
        assert!(report.ok(), "{}: {:?}", b.name, report.findings);
        let invalid: Vec<(u64, &str)> = report
            .invalid_events
            .iter()
            .map(|e| (e.index, e.device.as_str()))
            .collect();
        assert_eq!(
            invalid,
            vec![(bad, "op-1"), (bad_pack, "op-1")],
            "{}",
            b.name
        );
        ledger.close().await;

        // Start-up over the same log rebuilds the index through the same entries.
        forget_index(&b).await;
        let ledger = tokio::time::timeout(Duration::from_secs(30), Ledger::open(&b.config()))
            .await
            .expect("start-up does not hang")
            .expect("start-up works over an unindexable entry");
        assert_eq!(ledger.indexed_size(), size, "{}", b.name);
        let again = ledger.index_findings(None, 100).await.expect("findings");
        assert_eq!(again, findings, "{}", b.name);
        // And appends go on.
        let more = op.event(Kind::Located, &[&a], None, T0 + 4);
        let appended = ledger.append(&[more]).await.expect("append");
        indexed(&ledger, appended.checkpoint.checkpoint.size, b.name).await;
        ledger.close().await;
        b.cleanup().await;
    }
}

#[tokio::test]
async fn two_entries_under_one_seq_are_a_finding_on_the_second_and_its_items_show_it() {
    for b in backends::all("twoseq").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let mut dev = Signer::new("station-1", 4);
        ledger
            .register(&dev.id, Role::Station, "Cell plant", dev.public_key())
            .await
            .expect("register");
        let one = dev.event(Kind::Commissioned, &[&sgtin(1)], None, T0);
        // The same seq again, other bytes: an equivocation that bypassed the ingest.
        dev.seq -= 1;
        dev.prev = [0; 32];
        let other = dev.event(Kind::Commissioned, &[&sgtin(2)], None, T0 + 1);
        ledger.append(&[one]).await.expect("append");
        let second = ledger.append(&[other]).await.expect("append raw");
        indexed(&ledger, second.checkpoint.checkpoint.size, b.name).await;
        let findings = ledger.index_findings(None, 10).await.expect("findings");
        assert_eq!(findings.len(), 1, "{}: {findings:?}", b.name);
        assert_eq!(findings[0].index, second.first_index);
        assert!(
            findings[0].problem.contains("repeats seq 1"),
            "{findings:?}"
        );
        // The second cell's view shows why its event is not in its history.
        let trace = ledger.trace(&sgtin(2)).await.expect("trace");
        assert!(trace.entries.is_empty());
        assert_eq!(trace.unindexed, findings, "{}", b.name);
        ledger.close().await;
        forget_index(&b).await;
        let ledger = Ledger::open(&b.config()).await.expect("reopen");
        assert_eq!(
            ledger.index_findings(None, 10).await.expect("findings"),
            findings
        );
        ledger.close().await;
        b.cleanup().await;
    }
}

/// Five containers per level, each level's five packed into every one of the next level's
/// five, eight levels deep: 45 signed events, 5^8 (390,625) paths from the cell. The walk
/// once ran one query per path; now it visits each container once, one query per level, and
/// says it stopped at the depth bound.
#[tokio::test]
async fn a_lattice_of_containers_is_traced_in_bounded_work() {
    for b in backends::all("lattice").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let mut st = Signer::new("packer-1", 5);
        ledger
            .register(&st.id, Role::Station, "Packing line", st.public_key())
            .await
            .expect("register");
        let cell = sgtin(1);
        let level = |l: u64| -> Vec<String> { (0..5).map(|i| sscc(100 * l + i)).collect() };
        let mut batch = Vec::new();
        let first = level(0);
        for parent in &first {
            batch.push(st.event(Kind::Packed, &[&cell], Some(parent), T0));
        }
        for l in 0..9 {
            let children = level(l);
            let children: Vec<&str> = children.iter().map(String::as_str).collect();
            for parent in level(l + 1) {
                batch.push(st.event(Kind::Packed, &children, Some(&parent), T0 + 1 + l as i64));
            }
        }
        let last = ledger.append(&batch).await.expect("append");
        indexed(&ledger, last.checkpoint.checkpoint.size, b.name).await;
        let started = std::time::Instant::now();
        let trace = tokio::time::timeout(Duration::from_secs(10), ledger.trace(&cell))
            .await
            .expect("the trace answers in bounded time")
            .expect("trace");
        assert!(trace.containers_truncated, "{}", b.name);
        let containers: std::collections::BTreeSet<&str> = trace
            .containers
            .iter()
            .map(|w| w.container.as_str())
            .collect();
        assert_eq!(
            containers.len(),
            5 * provenance_ledger::trace::MAX_DEPTH,
            "{}",
            b.name
        );
        eprintln!(
            "{}: lattice trace in {:?}: {} windows, {} events",
            b.name,
            started.elapsed(),
            trace.containers.len(),
            trace.entries.len()
        );
        ledger.close().await;
        b.cleanup().await;
    }
}
