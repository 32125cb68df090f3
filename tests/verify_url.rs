//! `provenance verify --url`: our own client follows a running log over C2SP tlog-tiles with
//! nothing but the log key, keeps the last checkpoint it verified, and fails (exit 1, with both
//! checkpoints as evidence) when the log shows it a history that contradicts the one it saw.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use provenance_tlog::{Checkpoint, Signer};
use support::delivery::{deliver, register, signed};
use support::{Device, Server, provenance};

fn follow(s: &Server, vkey: &str, state: &Path, extra: &[&str]) -> (i32, String) {
    // Entries are the authority tier's; the admin token reads as one.
    let out = provenance()
        .args(["verify", "--url", &s.http, "--log-key", vkey, "--state"])
        .arg(state)
        .arg("--read-token")
        .arg(s.dir.path().join("admin.token"))
        .args(extra)
        .output()
        .expect("verify runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_url_follows_a_remote_log_and_catches_a_history_that_contradicts_it() {
    let s = Server::start(&[]);
    let http = reqwest::Client::new();
    let mut d = Device::new("follow-1", 41);
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
    send(signed(&mut d, 300)).await;
    let vkey = http
        .get(format!("{}/api/v1/log/key", s.http))
        .send()
        .await
        .expect("key")
        .text()
        .await
        .expect("text")
        .trim()
        .to_string();
    let work = tempfile::tempdir().expect("tempdir");
    let state = work.path().join("log.checkpoint");

    // Without a read token the entries are refused, and the follower says what to pass.
    let anonymous = provenance()
        .args(["verify", "--url", &s.http, "--log-key", &vkey, "--state"])
        .arg(work.path().join("anonymous.checkpoint"))
        .output()
        .expect("verify runs");
    let said = String::from_utf8_lossy(&anonymous.stderr);
    assert!(!anonymous.status.success());
    assert!(
        said.contains("--read-token FILE") && said.contains("--tiles-only"),
        "{said}"
    );

    // First contact: every entry is read and hashed into the signed tree.
    let (code, out) = follow(&s, &vkey, &state, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("first contact"), "{out}");
    assert!(out.contains("300 events, 1 registry entries"), "{out}");
    let seen = std::fs::read_to_string(&state).expect("state kept");
    let signer = Signer::parse(
        std::fs::read_to_string(s.dir.path().join("log.key"))
            .expect("log key")
            .trim(),
    )
    .expect("signer");
    let (first, _) = Checkpoint::open(seen.as_bytes(), signer.verifier(), None).expect("signed");
    assert_eq!(first.size, 301);

    // The log grows: the next run proves consistency and reads only the new entries.
    send(signed(&mut d, 500)).await;
    let (code, out) = follow(&s, &vkey, &state, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("consistent with the checkpoint of size 301"),
        "{out}"
    );
    assert!(out.contains("500 new: 500 events"), "{out}");
    let (code, out) = follow(&s, &vkey, &state, &["--tiles-only"]);
    assert_eq!(code, 0, "{out}");

    // A split view: the operator (holding the log key) once showed this follower another
    // history of the same size. The follower keeps what it saw; the log now contradicts it.
    let forged = Checkpoint {
        origin: first.origin.clone(),
        size: 801,
        root: [9; 32],
        extensions: vec![],
    };
    std::fs::write(&state, forged.sign(&signer).expect("sign")).expect("write");
    let (code, out) = follow(&s, &vkey, &state, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("two roots for size 801"), "{out}");
    assert!(
        out.contains("the checkpoint seen before") && out.contains("the checkpoint served now"),
        "both checkpoints are printed as evidence: {out}"
    );
    // An earlier size with a root the log's history does not have.
    let forged = Checkpoint {
        size: 300,
        ..forged
    };
    std::fs::write(&state, forged.sign(&signer).expect("sign")).expect("write");
    let (code, out) = follow(&s, &vkey, &state, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("no consistency proof from 300 to 801"),
        "{out}"
    );
    // The state is left as it was: a failed run never moves it forward.
    assert_eq!(
        std::fs::read_to_string(&state).expect("state"),
        forged.sign(&signer).expect("sign")
    );

    // A checkpoint the log key did not sign is not believed at all.
    let other = Signer::new(&first.origin, &[3; 32]).expect("signer");
    let (code, out) = follow(&s, &other.verifier().to_string(), &state, &[]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("does not verify with --log-key"), "{out}");
}
