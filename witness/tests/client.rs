//! The log's side of tlog-witness (`serve --witness`) against scripted witnesses on real
//! sockets, with a real ledger: what it keeps from an answer, and how it behaves when a
//! witness misbehaves (lines by other keys, a cosignature that does not verify, a time of 0,
//! 409s with changing sizes).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use provenance_event::{DeviceId, Draft, Epc, Kind, sign_event};
use provenance_ledger::{Config, Ledger};
use provenance_tlog::cosignature::CosignatureSigner;
use provenance_witness::AddCheckpoint;
use provenance_witness::client::{self, WitnessTarget};

/// What a scripted witness answers to the n-th request (counting from 0), given its body.
type Script = Arc<dyn Fn(usize, &AddCheckpoint) -> (StatusCode, String) + Send + Sync>;

async fn witness(script: Script) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/add-checkpoint",
        axum::routing::post(move |body: Bytes| {
            let script = script.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                let req = AddCheckpoint::parse(&body).expect("the log sends a valid body");
                let (status, text) = script(n, &req);
                (status, text).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

async fn ledger(dir: &std::path::Path) -> Arc<Ledger> {
    let ledger = Ledger::open(&Config {
        database_url: format!("sqlite://{}", dir.join("ledger.db").display()),
        key_file: dir.join("log.key"),
        origin: "client.test/log".into(),
    })
    .await
    .expect("ledger");
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let id = DeviceId::new("client-test-1").expect("id");
    let mut prev = [0u8; 32];
    let entries: Vec<Vec<u8>> = (1..=20u64)
        .map(|seq| {
            let item =
                [Epc::parse(&format!("urn:epc:id:sgtin:4012345.012345.{seq}")).expect("epc")];
            let d = Draft::new(
                seq,
                prev,
                1_765_000_000_000 + seq as i64,
                Kind::Located,
                &item,
            );
            let mut buf = vec![0u8; 1024];
            let len = sign_event(&key, &id, &d, &mut buf).expect("signs");
            buf.truncate(len);
            prev = provenance_event::message_hash(&buf);
            buf
        })
        .collect();
    ledger.append(&entries).await.expect("append");
    Arc::new(ledger)
}

fn signer() -> CosignatureSigner {
    CosignatureSigner::new("scripted.test/w", &[5; 32]).expect("signer")
}

fn body_of(req: &AddCheckpoint) -> String {
    let (text, _) = provenance_tlog::note::parse(req.note.as_bytes()).expect("note");
    text.to_string()
}

async fn run(script: Script, secs: u64) -> (Arc<Ledger>, Arc<AtomicUsize>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = ledger(dir.path()).await;
    ledger.publish_witnessed(1).await.expect("witnessed");
    let (url, calls) = witness(script).await;
    let target: WitnessTarget = format!("{url}={}", signer().vkey())
        .parse()
        .expect("target");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let tasks = client::spawn(ledger.clone(), vec![target], stop_rx);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    (ledger, calls, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_by_other_keys_are_ignored_and_the_cosignature_is_kept() {
    let other = CosignatureSigner::new("scripted.test/w", &[6; 32]).expect("same name, other key");
    let script: Script = Arc::new(move |_, req| {
        let body = body_of(req);
        let ours = signer().sign(&body, 1_765_000_100).expect("sign");
        let theirs = other.sign(&body, 1_765_000_100).expect("sign");
        (StatusCode::OK, format!("{theirs}{ours}"))
    });
    let (ledger, _, _dir) = run(script, 2).await;
    let published = ledger.published_checkpoint().await;
    let found = provenance_tlog::cosignature::cosignatures(
        published.note.as_bytes(),
        &[signer().verifier().clone()],
    )
    .expect("verifies");
    assert_eq!(found.len(), 1, "{}", published.note);
    assert_eq!(
        published.note.matches('\u{2014}').count(),
        2,
        "the log's line and ours only"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_cosignature_or_a_bad_time_is_not_kept_and_backs_off() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for bad in ["forged", "zero", "future"] {
        let script: Script = Arc::new(move |_, req| {
            let body = body_of(req);
            let line = match bad {
                // tlog-cosignature forbids the time 0; a day ahead of the log's clock is wrong.
                "zero" => signer().sign(&body, 0),
                "future" => signer().sign(&body, now + 86_400),
                _ => signer().sign(&body, now).map(|mut l| {
                    let at = l.len() - 10;
                    let c = if &l[at..at + 1] == "A" { "B" } else { "A" };
                    l.replace_range(at..at + 1, c);
                    l
                }),
            };
            match line {
                Ok(l) => (StatusCode::OK, l),
                // A signer that refuses to sign it: the case cannot arise from ours.
                Err(_) => (StatusCode::OK, String::new()),
            }
        });
        let (ledger, calls, _dir) = run(script, 4).await;
        let published = ledger.published_checkpoint().await;
        assert_eq!(
            published.note.matches('\u{2014}').count(),
            1,
            "{bad}: nothing but the log's own line: {}",
            published.note
        );
        // Back-off: 1 s, 2 s … not one request per round.
        let n = calls.load(Ordering::SeqCst);
        assert!((1..=4).contains(&n), "{bad}: {n} requests in 4 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_answering_409_with_changing_sizes_gets_back_off_not_a_loop() {
    let script: Script = Arc::new(|n, _| {
        (
            StatusCode::CONFLICT,
            format!("{}\n", if n % 2 == 0 { 3 } else { 5 }),
        )
    });
    let (_, calls, _dir) = run(script, 4).await;
    let n = calls.load(Ordering::SeqCst);
    assert!(
        n <= 8,
        "{n} requests in 4 s: a 409 is retried at once only once per checkpoint"
    );
    assert!(n >= 2, "{n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_already_holds_the_size_is_asked_again_from_it() {
    // It holds the log's size (its answer was lost): 409 with that size, then it cosigns a
    // request from that very size.
    let script: Script = Arc::new(|_, req| {
        let (text, _) = provenance_tlog::note::parse(req.note.as_bytes()).expect("note");
        let size: u64 = text
            .lines()
            .nth(1)
            .and_then(|l| l.parse().ok())
            .expect("size");
        if req.old_size != size {
            return (StatusCode::CONFLICT, format!("{size}\n"));
        }
        assert!(req.proof.is_empty(), "no proof from a size to itself");
        (
            StatusCode::OK,
            signer().sign(text, 1_765_000_100).expect("sign"),
        )
    });
    let (ledger, calls, _dir) = run(script, 2).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "asked, told, asked again once"
    );
    assert_eq!(ledger.published_checkpoint().await.checkpoint.size, 20);
    assert_eq!(
        ledger
            .cosignatures_of(20)
            .await
            .expect("cosignatures")
            .len(),
        1
    );
}
