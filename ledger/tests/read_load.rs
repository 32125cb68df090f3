//! Reads against appends (issue #12, "cost of reads"): anyone can ask for traces, entries and
//! proofs, as often as they like; none of that may hold up the sequencer. The reads have a
//! connection pool of their own, so appends never queue behind them for a connection.

mod backends;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use provenance_event::Kind;
use provenance_ledger::Ledger;

/// Concurrent readers, each tracing the item in a loop.
const READERS: usize = 32;
/// Events about the item: each trace reads all of them (index rows and entry bytes).
const HISTORY: u64 = 1500;
/// Appends measured while the readers run.
const APPENDS: usize = 20;
/// What an append may take under that load. Unloaded it takes a few ms (one fsync); behind
/// 32 traces waiting for the same four connections it took seconds.
const BOUND: Duration = Duration::from_millis(750);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_starve_appends() {
    for b in backends::all("read_load").await {
        let ledger = Arc::new(Ledger::open(&b.config()).await.expect(b.name));
        let item = backends::sgtin(1);
        let mut station = backends::Signer::new("station-load", 3);
        let mut t = 1_763_719_200_000i64;
        let mut history = Vec::new();
        for _ in 0..HISTORY {
            t += 1000;
            history.push(station.event(Kind::Commissioned, &[item.as_str()], None, t));
        }
        let a = ledger.append(&history).await.expect("history");
        ledger
            .wait_indexed(a.checkpoint.checkpoint.size)
            .await
            .expect("indexed");

        let stop = Arc::new(AtomicBool::new(false));
        let traces = Arc::new(AtomicU64::new(0));
        let mut readers = Vec::new();
        for n in 0..READERS {
            let (ledger, stop, traces, item) =
                (ledger.clone(), stop.clone(), traces.clone(), item.clone());
            readers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    // Traces, and now and then a page of entries and a proof: what the
                    // pages, the API and a crawler ask for.
                    let t = ledger.trace_with_gaps(&item).await.expect("trace");
                    assert_eq!(t.entries.len() as u64, HISTORY);
                    if n % 4 == 0 {
                        ledger.entries(0, 1000).await.expect("entries");
                        ledger.inclusion_proof(7, HISTORY).await.expect("proof");
                    }
                    traces.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        // The readers are all at work before the clock starts.
        while traces.load(Ordering::Relaxed) < READERS as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let mut other = backends::Signer::new("station-other", 4);
        let mut slowest = Duration::ZERO;
        let mut took = Vec::new();
        for n in 0..APPENDS {
            t += 1000;
            let e = other.event(
                Kind::Commissioned,
                &[backends::sgtin(1000 + n as u64).as_str()],
                None,
                t,
            );
            let clock = Instant::now();
            ledger.append(&[e]).await.expect("append");
            let d = clock.elapsed();
            took.push(d.as_millis());
            slowest = slowest.max(d);
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.await.expect("reader");
        }
        eprintln!(
            "{}: {APPENDS} appends under {READERS} looping readers ({} traces): slowest {slowest:?}, all (ms) {took:?}",
            b.name,
            traces.load(Ordering::Relaxed)
        );
        assert!(
            slowest < BOUND,
            "{}: an append took {slowest:?} under read load (bound {BOUND:?})",
            b.name
        );
        ledger.close().await;
        b.cleanup().await;
    }
}

/// The same attack at its worst: reads that hold every connection of their pool for as long
/// as they like (a slow query, a huge range, a client reading a stream slowly). Appends do
/// not need any of those connections, so they go on. On a single shared pool the append
/// waited for a connection until the pool's acquire timeout and failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_holding_every_read_connection_do_not_stop_appends() {
    for b in backends::all("read_hold").await {
        let ledger = Ledger::open(&b.config()).await.expect(b.name);
        let mut station = backends::Signer::new("station-hold", 5);
        let t = 1_763_719_200_000i64;
        let first = station.event(Kind::Commissioned, &[backends::sgtin(1).as_str()], None, t);
        ledger.append(&[first]).await.expect("append");

        // Every connection the read pool will give, each inside an open read.
        let mut held = Vec::new();
        loop {
            let got = match ledger.read_store() {
                provenance_ledger::Store::Sqlite(p) => {
                    match tokio::time::timeout(Duration::from_millis(300), p.begin()).await {
                        Ok(Ok(mut tx)) => {
                            let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entries")
                                .fetch_one(&mut *tx)
                                .await
                                .expect("read");
                            Some(Box::new(tx) as Box<dyn std::any::Any + Send>)
                        }
                        _ => None,
                    }
                }
                provenance_ledger::Store::Postgres(p) => {
                    match tokio::time::timeout(Duration::from_millis(300), p.begin()).await {
                        Ok(Ok(mut tx)) => {
                            let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entries")
                                .fetch_one(&mut *tx)
                                .await
                                .expect("read");
                            Some(Box::new(tx) as Box<dyn std::any::Any + Send>)
                        }
                        _ => None,
                    }
                }
            };
            match got {
                Some(tx) => held.push(tx),
                None => break,
            }
            assert!(held.len() <= 64, "{}: the read pool has no bound", b.name);
        }
        assert!(!held.is_empty(), "{}: no read connection", b.name);

        for n in 0..5u64 {
            let e = station.event(
                Kind::Commissioned,
                &[backends::sgtin(10 + n).as_str()],
                None,
                t + 1000 * (n as i64 + 1),
            );
            let clock = Instant::now();
            let r = tokio::time::timeout(BOUND, ledger.append(&[e])).await;
            assert!(
                matches!(r, Ok(Ok(_))),
                "{}: with {} read connections held, an append did not finish within {BOUND:?} \
                 (took {:?})",
                b.name,
                held.len(),
                clock.elapsed()
            );
        }
        drop(held);
        // And the reads see what was appended meanwhile.
        assert_eq!(ledger.entries(0, 100).await.expect("entries").len(), 6);
        ledger.close().await;
        b.cleanup().await;
    }
}
