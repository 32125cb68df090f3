//! Go's transparency-log code (golang.org/x/mod/sumdb/note and sumdb/tlog, written by others)
//! accepts our signed checkpoints, inclusion proofs and consistency proofs, and refuses them
//! once tampered with. Needs Go and Debian's golang-golang-x-mod-dev (scripts/test-setup).

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_tlog::merkle::{MemoryTree, consistency_proof, inclusion_proof};
use provenance_tlog::{Checkpoint, Signer, leaf_hash};
use serde_json::json;
use support::{external, go_tlogcheck};

fn check(bin: &std::path::Path, input: &serde_json::Value) -> (bool, String) {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tlogcheck runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn go_accepts_our_checkpoints_and_proofs() {
    let Some(bin) = external("Go with golang.org/x/mod", go_tlogcheck()) else {
        return;
    };
    let signer = Signer::new("provenance.test/log", &[42; 32]).expect("signer");
    let mut tree = MemoryTree::new();
    for i in 0..1000u32 {
        tree.push(leaf_hash(format!("entry {i}").as_bytes()));
    }
    let size = 1000;
    let root = tree.root_at(size).expect("root");
    let cp = Checkpoint {
        origin: "provenance.test/log".into(),
        size,
        root,
        extensions: vec![],
    };
    let note = cp.sign(&signer).expect("sign");
    let mut r = &tree;
    let inclusion: Vec<_> = [0u64, 1, 255, 256, 511, 998, 999]
        .iter()
        .map(|&i| {
            let proof = inclusion_proof(i, size, &mut r).expect("proof");
            json!({
                "index": i,
                "leaf_hash": B64.encode(leaf_hash(format!("entry {i}").as_bytes())),
                "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let consistency: Vec<_> = [1u64, 2, 7, 256, 500, 999, 1000]
        .iter()
        .map(|&m| {
            let proof = consistency_proof(m, size, &mut r).expect("proof");
            json!({
                "size": m,
                "root": B64.encode(tree.root_at(m).expect("root")),
                "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let input = json!({
        "vkey": signer.verifier().to_string(),
        "checkpoint": note,
        "inclusion": inclusion,
        "consistency": consistency,
    });
    let (ok, text) = check(&bin, &input);
    assert!(ok, "Go refused: {text}");
    assert!(
        text.starts_with("ok origin=provenance.test/log size=1000"),
        "{text}"
    );

    // Tampering is caught by Go too: a changed root line, a changed proof hash.
    let mut bad = input.clone();
    bad["checkpoint"] = json!(note.replacen("\n1000\n", "\n1001\n", 1));
    assert!(!check(&bin, &bad).0, "Go accepted an edited checkpoint");
    let mut bad = input.clone();
    bad["inclusion"][3]["proof"][0] = json!(B64.encode([0u8; 32]));
    assert!(!check(&bin, &bad).0, "Go accepted a bad inclusion proof");
    let mut bad = input;
    bad["consistency"][2]["root"] = json!(B64.encode([1u8; 32]));
    assert!(!check(&bin, &bad).0, "Go accepted a bad consistency proof");
}

/// Go's tile reader (`tlog.TileHashReader`, which checks every tile against the signed tree)
/// follows a running `provenance serve` over C2SP tlog-tiles: it recomputes the root, proves
/// entries from their entry bundles, and proves consistency with a checkpoint seen earlier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_follows_a_running_log_over_c2sp_tiles() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use support::delivery::{deliver, register, signed};
    use support::{Device, Server};

    let Some(bin) = external("Go with golang.org/x/mod", go_tlogcheck()) else {
        return;
    };
    let s = Server::start(&[]);
    let http = reqwest::Client::new();
    let mut d = Device::new("tiles-1", 31);
    let password = register(&http, &s, &d).await;
    let id = d.id.as_str().to_string();
    let send = |events: Vec<Vec<u8>>| {
        deliver(
            s.mqtt_port,
            id.clone(),
            Some(password.clone()),
            events,
            Arc::new(AtomicU64::new(0)),
            Duration::from_secs(2),
        )
    };
    let first = signed(&mut d, 300);
    send(first).await;
    let get = |path: &str| {
        let url = format!("{}/{path}", s.http);
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("text")
        }
    };
    let vkey = get("api/v1/log/key").await.trim().to_string();
    let verifier = provenance_tlog::Verifier::parse(&vkey).expect("vkey");
    let (old, _) = Checkpoint::open(get("checkpoint").await.as_bytes(), &verifier, None)
        .expect("the served checkpoint verifies");
    let more = signed(&mut d, 400);
    send(more).await;
    let (now, _) =
        Checkpoint::open(get("checkpoint").await.as_bytes(), &verifier, None).expect("verifies");
    assert!(now.size >= 701, "registration and 700 events: {}", now.size);
    let input = json!({
        "url": s.http,
        // Entry bundles are the entries: the authority tier's (the admin token reads as one).
        "token": s.token(),
        "vkey": vkey,
        "records": [0, 1, 255, 256, old.size - 1, old.size, now.size - 1],
        "consistency": [{"size": old.size, "root": B64.encode(old.root)}],
    });
    let (ok, out) = check(&bin, &input);
    assert!(ok, "{out}");
    assert!(out.contains("records=7 consistency=1"), "{out}");
    // A stale or forged root is refused by the same code.
    let mut forged = input.clone();
    forged["consistency"][0]["root"] = json!(B64.encode([7u8; 32]));
    let (ok, out) = check(&bin, &forged);
    assert!(!ok, "a forged old root passed: {out}");
}
