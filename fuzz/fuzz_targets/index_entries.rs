//! Signed entries of any payload appended raw to a real SQLite ledger (as an appender that
//! skips validation, or an entry anchored under older rules, would): the indexer and the
//! views must take whatever the log holds. Each input is up to four payloads (split at the
//! byte sequence `|||`), each signed by a registered key with a seq taken from the payload and
//! appended as one batch; then the index must catch up within 10 s (no wedge), the traces of
//! the items the payloads name must answer, and every 64 inputs the ledger is closed, its
//! index forgotten and the ledger opened again: start-up must rebuild the index through
//! everything appended so far.
#![no_main]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::registry::Role;
use provenance_event::DeviceId;
use provenance_ledger::{Config, Ledger};

const DEVICE: &str = "packer-1";
/// Inputs between restarts.
const RESTART_EVERY: usize = 64;
/// Entries appended per process, so a long run neither fills tmpfs nor slows to a crawl.
const BUDGET: usize = 20_000;

struct World {
    rt: tokio::runtime::Runtime,
    ledger: Mutex<Option<Ledger>>,
    config: Config,
    key: SigningKey,
    _dir: tempfile::TempDir,
}

static RUNS: AtomicUsize = AtomicUsize::new(0);
static APPENDED: AtomicUsize = AtomicUsize::new(0);

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::Builder::new()
                .prefix("provenance-fuzz-index")
                .tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("tempdir");
        let config = Config {
            database_url: format!("sqlite://{}", dir.path().join("ledger.db").display()),
            key_file: dir.path().join("log.key"),
            origin: "provenance.fuzz/index".into(),
        };
        let key = SigningKey::from_bytes(&[11; 32]);
        let ledger = rt.block_on(async {
            let ledger = Ledger::open(&config).await.expect("open");
            ledger
                .register(
                    &DeviceId::new(DEVICE).expect("id"),
                    Role::Station,
                    "Fuzz Packing",
                    key.verifying_key().to_bytes(),
                )
                .await
                .expect("register");
            ledger
        });
        World {
            rt,
            ledger: Mutex::new(Some(ledger)),
            config,
            key,
            _dir: dir,
        }
    })
}

/// `payload` signed as a COSE_Sign1 event of [`DEVICE`].
fn sign(key: &SigningKey, payload: &[u8]) -> Option<Vec<u8>> {
    let device = DeviceId::new(DEVICE).ok()?;
    let mut out = vec![0u8; payload.len() + 512];
    let n = provenance_event::sign_payload(key, &device, payload, &mut out).ok()?;
    out.truncate(n);
    Some(out)
}

/// The items a payload names, if it decodes at all (to trace them).
fn items(payload: &[u8]) -> Vec<String> {
    provenance_event::Event::decode(payload)
        .map(|e| {
            let mut v: Vec<String> = e.items.iter().map(str::to_string).collect();
            v.extend(e.parent.map(|p| p.to_string()));
            v
        })
        .unwrap_or_default()
}

async fn restart(w: &World, ledger: Ledger) -> Ledger {
    ledger.close().await;
    // Forget the index, as after a crash before the indexer wrote: start-up rebuilds it.
    let url = provenance_ledger::store::index_url(&w.config.database_url);
    let pool = sqlx::SqlitePool::connect(&url).await.expect("the index database");
    sqlx::query("UPDATE index_meta SET value = '0' WHERE key = 'indexed_size'")
        .execute(&pool)
        .await
        .expect("reset the index");
    pool.close().await;
    tokio::time::timeout(Duration::from_secs(60), Ledger::open(&w.config))
        .await
        .expect("start-up does not hang")
        .expect("start-up works over whatever the log holds")
}

fuzz_target!(|data: &[u8]| {
    if APPENDED.load(Ordering::Relaxed) >= BUDGET {
        return;
    }
    let w = world();
    let payloads: Vec<&[u8]> = split(data).into_iter().take(4).collect();
    let entries: Vec<Vec<u8>> = payloads.iter().filter_map(|p| sign(&w.key, p)).collect();
    if entries.is_empty() {
        return;
    }
    APPENDED.fetch_add(entries.len(), Ordering::Relaxed);
    let mut guard = w.ledger.lock().expect("ledger");
    let Some(mut ledger) = guard.take() else {
        return;
    };
    ledger = w.rt.block_on(async {
        // The ledger itself refuses what it cannot sequence (no event envelope, no seq): that
        // is its check, not the indexer's, and nothing is appended then.
        let appended = match ledger.append(&entries).await {
            Ok(a) => a,
            Err(provenance_ledger::LedgerError::Entry { .. }) => return ledger,
            Err(e) => panic!("a raw append of signed bytes failed: {e}"),
        };
        let size = appended.checkpoint.checkpoint.size;
        tokio::time::timeout(Duration::from_secs(10), ledger.wait_indexed(size))
            .await
            .expect("the indexer keeps up: no wedge")
            .expect("the indexer is alive");
        for p in &payloads {
            for item in items(p) {
                ledger.trace_with_gaps(&item).await.expect("a trace answers");
            }
        }
        ledger.index_findings(None, 10).await.expect("findings");
        if RUNS.fetch_add(1, Ordering::Relaxed) % RESTART_EVERY == RESTART_EVERY - 1 {
            ledger = restart(w, ledger).await;
            assert_eq!(ledger.indexed_size(), size, "start-up indexed the whole log");
        }
        ledger
    });
    *guard = Some(ledger);
});

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(3).position(|w| w == b"|||") {
        out.push(&rest[..at]);
        rest = &rest[at + 3..];
    }
    out.push(rest);
    out
}
