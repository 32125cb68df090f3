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
