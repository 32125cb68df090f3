//! Every answer of C2SP tlog-witness's `add-checkpoint`, through the HTTP router over a real
//! SQLite store: 200 with a verifiable cosignature, 400, 403, 404, 409 with the size held,
//! 413, 422, fork evidence served to anyone, and concurrent requests of which one wins.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use provenance_tlog::cosignature::CosignatureSigner;
use provenance_tlog::merkle::{MemoryTree, consistency_proof, leaf_hash};
use provenance_tlog::{Checkpoint, EMPTY_ROOT, Signer};
use provenance_witness::http::{MAX_BODY_BYTES, TLOG_SIZE, router};
use provenance_witness::{AddCheckpoint, Logs, Store, Witness, WitnessError};
use sha2::Digest as _;
use tower::ServiceExt as _;

const ORIGIN: &str = "example.com/log";

/// A log: a key and a tree whose leaves depend on `salt` (another salt, another history).
struct Log {
    signer: Signer,
    tree: MemoryTree,
    salt: u8,
}

impl Log {
    fn new(seed: u8, salt: u8) -> Self {
        Self {
            signer: Signer::new(ORIGIN, &[seed; 32]).expect("signer"),
            tree: MemoryTree::new(),
            salt,
        }
    }

    fn grow_to(&mut self, size: u64) {
        while self.tree.size() < size {
            let i = self.tree.size();
            self.tree
                .push(leaf_hash(&[&i.to_be_bytes()[..], &[self.salt]].concat()));
        }
    }

    fn checkpoint(&self, size: u64) -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: self.tree.root_at(size).expect("root"),
            extensions: vec![],
        }
    }

    fn note(&self, size: u64) -> String {
        self.checkpoint(size).sign(&self.signer).expect("sign")
    }

    fn request(&self, old: u64, size: u64) -> AddCheckpoint {
        let proof = if old == 0 || old == size {
            vec![]
        } else {
            let mut t = &self.tree;
            consistency_proof(old, size, &mut t).expect("proof")
        };
        AddCheckpoint {
            old_size: old,
            proof,
            note: self.note(size),
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    witness: Arc<Witness>,
    signer_vkey: String,
    clock: Arc<AtomicU64>,
}

async fn fixture(log: &Log) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("witness.db"))
        .await
        .expect("store");
    let mut logs = Logs::new();
    logs.add(log.signer.verifier().clone());
    let signer = CosignatureSigner::new("witness.example/w1", &[42; 32]).expect("witness key");
    let signer_vkey = signer.vkey();
    let clock = Arc::new(AtomicU64::new(1_700_000_000));
    let c = clock.clone();
    let witness =
        Witness::new(logs, signer, store).with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    Fixture {
        _dir: dir,
        witness: Arc::new(witness),
        signer_vkey,
        clock,
    }
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

async fn send(w: &Arc<Witness>, method: &str, path: &str, body: impl Into<Body>) -> Answer {
    let response = router(w.clone())
        .oneshot(
            Request::builder()
                .method(method)
                .uri(path)
                .body(body.into())
                .expect("request"),
        )
        .await
        .expect("answer");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Answer {
        status,
        content_type,
        body: String::from_utf8(bytes.to_vec()).expect("utf-8"),
    }
}

async fn post(w: &Arc<Witness>, req: &AddCheckpoint) -> Answer {
    send(w, "POST", "/add-checkpoint", req.to_body()).await
}

async fn json(w: &Arc<Witness>, path: &str) -> serde_json::Value {
    let a = send(w, "GET", path, Body::empty()).await;
    assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
    serde_json::from_str(&a.body).expect("json")
}

fn verify(f: &Fixture, log: &Log, size: u64, line: &str) -> u64 {
    provenance_tlog::cosignature::CosignatureVerifier::parse(&f.signer_vkey)
        .expect("vkey")
        .verify_line(&log.checkpoint(size).body(), line)
        .expect("the cosignature verifies")
}

#[tokio::test]
async fn the_first_checkpoint_is_cosigned_from_old_size_zero() {
    let mut log = Log::new(1, 0);
    log.grow_to(5);
    let f = fixture(&log).await;
    let a = post(&f.witness, &log.request(0, 5)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.starts_with("\u{2014} witness.example/w1 ") && a.body.ends_with('\n'));
    assert_eq!(a.body.lines().count(), 1);
    assert_eq!(verify(&f, &log, 5, &a.body), 1_700_000_000);
    // The client may append the line to its checkpoint: the note then carries both.
    let cosigned = format!("{}{}", log.note(5), a.body);
    let found = provenance_tlog::cosignature::cosignatures(
        cosigned.as_bytes(),
        &[f.witness.verifier().clone()],
    )
    .expect("cosigned note");
    assert_eq!(found.len(), 1);
    // The status and the monitoring endpoint show it.
    let status = json(&f.witness, "/status").await;
    assert_eq!(status["logs"][0]["origin"], ORIGIN);
    assert_eq!(status["logs"][0]["size"], 5);
    assert_eq!(status["logs"][0]["cosigned_at"], 1_700_000_000u64);
    assert_eq!(status["vkey"], f.signer_vkey.as_str());
    let hash = hex::encode(sha2::Sha256::digest(ORIGIN.as_bytes()));
    let served = send(
        &f.witness,
        "GET",
        &format!("/{hash}/checkpoint"),
        Body::empty(),
    )
    .await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, cosigned);
    let key = send(&f.witness, "GET", "/key", Body::empty()).await;
    assert_eq!(key.body.trim(), f.signer_vkey);
}

#[tokio::test]
async fn it_advances_with_a_valid_proof_and_its_timestamps_never_go_back() {
    let mut log = Log::new(1, 0);
    log.grow_to(100);
    let f = fixture(&log).await;
    assert_eq!(
        post(&f.witness, &log.request(0, 7)).await.status,
        StatusCode::OK
    );
    // The clock steps back an hour; the next cosignature keeps the last time.
    f.clock.store(1_700_000_000 - 3600, Ordering::SeqCst);
    let a = post(&f.witness, &log.request(7, 64)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(verify(&f, &log, 64, &a.body), 1_700_000_000);
    f.clock.store(1_700_000_100, Ordering::SeqCst);
    let a = post(&f.witness, &log.request(64, 100)).await;
    assert_eq!(verify(&f, &log, 100, &a.body), 1_700_000_100);
    // The same checkpoint again is cosigned again (old size = size, no proof).
    let a = post(&f.witness, &log.request(100, 100)).await;
    assert_eq!(a.status, StatusCode::OK);
    let state = f
        .witness
        .store()
        .state(ORIGIN)
        .await
        .expect("db")
        .expect("state");
    assert_eq!(state.size, 100);
}

#[tokio::test]
async fn a_stale_old_size_is_a_409_with_the_size_held() {
    let mut log = Log::new(1, 0);
    log.grow_to(40);
    let f = fixture(&log).await;
    assert_eq!(
        post(&f.witness, &log.request(0, 10)).await.status,
        StatusCode::OK
    );
    for old in [0, 5, 9] {
        let a = post(&f.witness, &log.request(old, 40)).await;
        assert_eq!(a.status, StatusCode::CONFLICT);
        assert_eq!(a.content_type, TLOG_SIZE);
        assert_eq!(a.body, "10\n");
    }
    // An old size above the checkpoint's size is a bad request.
    let mut req = log.request(10, 10);
    req.old_size = 11;
    assert_eq!(post(&f.witness, &req).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_bad_proof_is_422_and_nothing_moves() {
    let mut log = Log::new(1, 0);
    log.grow_to(40);
    let f = fixture(&log).await;
    assert_eq!(
        post(&f.witness, &log.request(0, 10)).await.status,
        StatusCode::OK
    );
    let mut req = log.request(10, 40);
    req.proof[1][5] ^= 0x40;
    let a = post(&f.witness, &req).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let mut short = log.request(10, 40);
    short.proof.pop();
    assert_eq!(
        post(&f.witness, &short).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A proof with old size 0 is refused too (on a fresh log).
    let mut log2 = Log::new(1, 0);
    log2.grow_to(3);
    let f2 = fixture(&log2).await;
    let mut req = log2.request(0, 3);
    req.proof.push([0; 32]);
    assert_eq!(
        post(&f2.witness, &req).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A checkpoint of size 0 must have the empty root.
    let bad_empty = Checkpoint {
        origin: ORIGIN.into(),
        size: 0,
        root: [7; 32],
        extensions: vec![],
    };
    let req = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: bad_empty.sign(&log2.signer).expect("sign"),
    };
    assert_eq!(
        post(&f2.witness, &req).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let empty = Checkpoint {
        root: EMPTY_ROOT,
        ..bad_empty
    };
    let req = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: empty.sign(&log2.signer).expect("sign"),
    };
    assert_eq!(post(&f2.witness, &req).await.status, StatusCode::OK);
    // The state did not move on the refusals, and the bad proof is kept as (inconclusive)
    // evidence for anyone to check against the log: once per pair of checkpoints.
    let state = f
        .witness
        .store()
        .state(ORIGIN)
        .await
        .expect("db")
        .expect("state");
    assert_eq!(state.size, 10);
    let forks = json(&f.witness, "/forks").await;
    assert_eq!(forks.as_array().map(Vec::len), Some(1));
    assert_eq!(forks[0]["kind"], "consistency-proof-failed");
    assert_eq!(forks[0]["conclusive"], false);
    let one = json(&f.witness, forks[0]["evidence"].as_str().expect("a link")).await;
    assert_eq!(one["old_size"], 10);
}

#[tokio::test]
async fn an_unknown_origin_is_404_and_a_bad_log_signature_403() {
    let mut log = Log::new(1, 0);
    log.grow_to(4);
    let f = fixture(&log).await;
    let other = Signer::new("other.example/log", &[3; 32]).expect("signer");
    let cp = Checkpoint {
        origin: "other.example/log".into(),
        size: 0,
        root: EMPTY_ROOT,
        extensions: vec![],
    };
    let req = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: cp.sign(&other).expect("sign"),
    };
    assert_eq!(post(&f.witness, &req).await.status, StatusCode::NOT_FOUND);
    // Signed by another key of the same name: no trusted signature.
    let impostor = {
        let mut l = Log::new(2, 0);
        l.grow_to(4);
        l
    };
    assert_eq!(
        post(&f.witness, &impostor.request(0, 4)).await.status,
        StatusCode::FORBIDDEN
    );
    // The trusted key's line, its signature altered.
    let good = log.note(4);
    let forged = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let at = good.rfind(' ').expect("sig") + 1;
        let mut raw = b64.decode(good[at..].trim_end()).expect("b64");
        raw[20] ^= 1;
        format!("{}{}\n", &good[..at], b64.encode(raw))
    };
    let req = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        note: forged,
    };
    assert_eq!(post(&f.witness, &req).await.status, StatusCode::FORBIDDEN);
    // Malformed bodies are bad requests.
    for body in [
        "",
        "old 0\n",
        "old 00\n\nx",
        "old 0\nnot base64\n\n",
        "old 0\n\nnot a note\n",
    ] {
        let a = send(&f.witness, "POST", "/add-checkpoint", body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body:?}: {}", a.body);
    }
    // Nothing was stored for anyone.
    assert!(f.witness.store().states().await.expect("db").is_empty());
}

#[tokio::test]
async fn a_same_size_different_root_is_refused_and_its_evidence_served() {
    let mut log = Log::new(1, 0);
    log.grow_to(16);
    let f = fixture(&log).await;
    let first = post(&f.witness, &log.request(0, 16)).await;
    assert_eq!(first.status, StatusCode::OK);
    // The log's key signs a second history of the same size.
    let mut fork = Log::new(1, 1);
    fork.grow_to(16);
    let a = post(&f.witness, &fork.request(16, 16)).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Sent again, and with a wrong old size: refused each time, kept once.
    assert_eq!(
        post(&f.witness, &fork.request(16, 16)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        post(&f.witness, &fork.request(0, 16)).await.status,
        StatusCode::CONFLICT
    );
    let forks = json(&f.witness, "/forks").await;
    let list = forks.as_array().expect("list");
    assert_eq!(list.len(), 1);
    let ev = &list[0];
    assert_eq!(ev["origin"], ORIGIN);
    assert_eq!(ev["kind"], "same-size-different-root");
    assert_eq!(ev["conclusive"], true);
    // The listing is the record; its evidence is one link away.
    let id = ev["id"].as_i64().expect("id");
    assert_eq!(ev["evidence"], format!("/forks/{id}"));
    let one = json(&f.witness, &format!("/forks/{id}")).await;
    assert_eq!(one["cosigned"], format!("{}{}", log.note(16), first.body));
    assert_eq!(one["conflicting"], fork.note(16));
    assert_eq!(one["kind"], ev["kind"]);
    // Both checkpoints open with the log's key: the evidence speaks for itself.
    for note in [&one["cosigned"], &one["conflicting"]] {
        let (cp, _) = Checkpoint::open(
            note.as_str().expect("note").as_bytes(),
            log.signer.verifier(),
            Some(ORIGIN),
        )
        .expect("signed by the log");
        assert_eq!(cp.size, 16);
    }
    assert_eq!(
        send(&f.witness, "GET", "/forks/999", Body::empty())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(json(&f.witness, "/status").await["forks"], 1);
    // The witness stays on its first view.
    let state = f
        .witness
        .store()
        .state(ORIGIN)
        .await
        .expect("db")
        .expect("state");
    assert_eq!(state.root, log.tree.root_at(16).expect("root"));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let mut log = Log::new(1, 0);
    log.grow_to(2);
    let f = fixture(&log).await;
    let mut body = log.request(0, 2).to_body();
    body.push_str(&"x".repeat(MAX_BODY_BYTES));
    let a = send(&f.witness, "POST", "/add-checkpoint", body).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(f.witness.store().states().await.expect("db").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_advances_from_one_state_only_one_wins() {
    let mut log = Log::new(1, 0);
    log.grow_to(64);
    let f = fixture(&log).await;
    assert!(f.witness.add_checkpoint(&log.request(0, 8)).await.is_ok());
    let log = Arc::new(log);
    let mut tasks = Vec::new();
    for size in 9..=40u64 {
        let (w, log) = (f.witness.clone(), log.clone());
        tasks.push(tokio::spawn(async move {
            (size, w.add_checkpoint(&log.request(8, size)).await)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.expect("task") {
            (size, Ok(c)) => {
                assert_eq!(c.state.size, size);
                winners.push(size);
            }
            (_, Err(WitnessError::Refused(r))) => assert_eq!(r.status(), 409, "{r}"),
            (_, Err(e)) => panic!("{e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one advance from size 8 is cosigned"
    );
    let state = f
        .witness
        .store()
        .state(ORIGIN)
        .await
        .expect("db")
        .expect("state");
    assert_eq!(state.size, winners[0]);
}

#[tokio::test]
async fn the_store_swaps_only_from_the_state_it_was_given() {
    let mut log = Log::new(1, 0);
    log.grow_to(30);
    let f = fixture(&log).await;
    let store = f.witness.store();
    let first = f
        .witness
        .add_checkpoint(&log.request(0, 10))
        .await
        .expect("first")
        .state;
    let to = |size: u64| provenance_witness::LogState {
        size,
        root: log.tree.root_at(size).expect("root"),
        ..first.clone()
    };
    // Two writers decided from `first`: one swap succeeds, the other finds it moved.
    assert!(store.advance(Some(&first), &to(20)).await.expect("db"));
    assert!(!store.advance(Some(&first), &to(30)).await.expect("db"));
    // A first state cannot be inserted twice either.
    assert!(!store.advance(None, &to(30)).await.expect("db"));
    assert_eq!(
        store.state(ORIGIN).await.expect("db").expect("state").size,
        20
    );
}
