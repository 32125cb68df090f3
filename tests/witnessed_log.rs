//! Multi-party trust end to end: three `provenance witness` processes on free ports beside a
//! `provenance serve` that sends them its checkpoints (`--witness URL=VKEY`), under a device
//! delivering events over MQTT. The published checkpoint carries their cosignatures; one
//! witness killed and restarted leaves a 2-of-3 policy verifying; a bundle whose cosignature
//! is altered, or that lacks the quorum, fails `verify`; and a second server with the same
//! log key and another history (a fork) is refused by every witness, which publish the
//! evidence.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use provenance_tlog::cosignature::{CosignatureVerifier, cosignatures};
use provenance_tlog::{Checkpoint, Signer};
use support::delivery::{deliver, register, signed};
use support::witness::WitnessProcess;
use support::{Device, Server, free_port, provenance, sgtin};

const ORIGIN: &str = "provenance.local/log";

/// A data directory holding the log key made from `seed`, as `serve` would have made it.
fn data_dir_with_key(signer: &Signer) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.key");
    std::fs::write(&path, format!("{}\n", signer.to_skey())).expect("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("mode");
    }
    dir
}

async fn published(s: &Server) -> String {
    reqwest::get(format!("{}/checkpoint", s.http))
        .await
        .expect("GET /checkpoint")
        .text()
        .await
        .expect("text")
}

/// Waits until the published checkpoint has at least `size` entries and cosignatures by
/// exactly the witnesses `by` (of `all`); returns it.
async fn wait_cosigned(
    s: &Server,
    log: &Signer,
    all: &[CosignatureVerifier],
    by: &[&str],
    size: u64,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        last = published(s).await;
        if let Ok((cp, _)) = Checkpoint::open(last.as_bytes(), log.verifier(), Some(ORIGIN)) {
            let found = cosignatures(last.as_bytes(), all).expect("every cosignature verifies");
            let mut names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
            names.sort();
            if cp.size >= size && names == by {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "no checkpoint of size ≥ {size} cosigned by {by:?} within 60 s; last:\n{last}\n{}",
        s.log()
    );
}

fn verify(args: &[&str], extra: &[&Path]) -> (bool, String) {
    let out = provenance()
        .arg("verify")
        .args(args)
        .args(extra)
        .output()
        .expect("verify runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn evidence(s: &Server, item: &str, to: &Path) -> String {
    let body = s
        .http()
        .get(format!("{}/api/v1/items/{item}/evidence", s.http))
        .send()
        .await
        .expect("evidence")
        .text()
        .await
        .expect("text");
    std::fs::write(to, &body).expect("write bundle");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_witnesses_cosign_a_live_log_survive_a_crash_and_refuse_a_fork() {
    let log = Signer::new(ORIGIN, &[21; 32]).expect("log key");
    let log_vkey = log.verifier().to_string();
    let work = tempfile::tempdir().expect("tempdir");

    // Three independent witnesses, each following this log.
    let mut witnesses: Vec<WitnessProcess> = (1..=3)
        .map(|n| {
            let dir = work.path().join(format!("w{n}"));
            std::fs::create_dir_all(&dir).expect("dir");
            let name = format!("w{n}.test/witness");
            tokio::task::block_in_place(|| {
                WitnessProcess::start(&dir, free_port(), &["--name", &name, "--log", &log_vkey])
            })
        })
        .collect();
    let vkeys: Vec<String> =
        tokio::task::block_in_place(|| witnesses.iter().map(|w| w.vkey()).collect());
    let keys: Vec<CosignatureVerifier> = vkeys
        .iter()
        .map(|v| CosignatureVerifier::parse(v).expect("cosignature vkey"))
        .collect();
    let flags: Vec<String> = witnesses
        .iter()
        .zip(&vkeys)
        .flat_map(|(w, v)| ["--witness".to_string(), format!("{}={v}", w.url)])
        .collect();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let s = tokio::task::block_in_place(|| Server::start_in(data_dir_with_key(&log), &flags));
    let http = s.http();
    let mut d = Device::new("witnessed-1", 51);
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
    let batch = signed(&mut d, 400);
    send(batch).await;
    let all = ["w1.test/witness", "w2.test/witness", "w3.test/witness"];
    let note = wait_cosigned(&s, &log, &keys, &all, 401).await;
    assert!(note.starts_with(&format!("{ORIGIN}\n")), "{note}");

    // The policies a verifier might hold.
    let policy = |quorum: &str| {
        format!(
            "# who we trust\nlog {log_vkey}\nwitness w1 {}\nwitness w2 {}\nwitness w3 {}\n{quorum}",
            vkeys[0], vkeys[1], vkeys[2]
        )
    };
    let two_of_three = work.path().join("2of3.policy");
    std::fs::write(&two_of_three, policy("group g 2 w1 w2 w3\nquorum g\n")).expect("policy");
    let all_three = work.path().join("3of3.policy");
    std::fs::write(&all_three, policy("group g all w1 w2 w3\nquorum g\n")).expect("policy");

    // One witness crashes; the other two go on cosigning the growing log.
    tokio::task::block_in_place(|| witnesses[1].kill());
    let batch = signed(&mut d, 300);
    send(batch).await;
    wait_cosigned(&s, &log, &keys, &[all[0], all[2]], 701).await;
    let bundle = work.path().join("item.evidence.json");
    let item = sgtin(5000);
    let body = evidence(&s, &item, &bundle).await;
    assert!(
        body.contains("w1.test/witness"),
        "the bundle's checkpoint is cosigned"
    );
    let (ok, out) = verify(
        &[
            "--bundle",
            bundle.to_str().expect("path"),
            "--log-key",
            &log_vkey,
            "--policy",
        ],
        &[&two_of_three],
    );
    assert!(ok, "2 of 3 cosigned: the policy holds\n{out}");
    let (ok, out) = verify(
        &[
            "--bundle",
            bundle.to_str().expect("path"),
            "--log-key",
            &log_vkey,
            "--policy",
        ],
        &[&all_three],
    );
    assert!(!ok, "3 of 3 required, 2 given: no quorum\n{out}");
    assert!(out.contains("quorum"), "{out}");
    // One entry of the bundle is a C2SP tlog-proof@v1 with the cosigned checkpoint: a generic
    // tool (Go's sumdb note and tlog code, cosignatures checked with crypto/ed25519 from the
    // spec alone) checks it without our code.
    if let Some(go) = support::external("Go with golang.org/x/mod", support::go_tlogcheck()) {
        let b: serde_json::Value = serde_json::from_str(&body).expect("bundle json");
        let e = &b["entries"][0];
        let input = serde_json::json!({
            "vkey": log_vkey,
            "tlog_proof": e["proof"],
            "entry": e["entry"],
            "witnesses": vkeys,
        });
        let mut child = std::process::Command::new(&go)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tlogcheck runs");
        use std::io::Write as _;
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
        assert!(out.status.success(), "Go refused the tlog-proof: {text}");
        assert!(
            text.contains("cosigned=2"),
            "two witnesses' cosignatures: {text}"
        );
    }
    // Our own client, following the tiles, under the same policy (entries need the
    // authority tier; the admin token reads as one).
    let state = work.path().join("follow.state");
    let admin_token = s.dir.path().join("admin.token").display().to_string();
    let (ok, out) = verify(
        &[
            "--url",
            &s.http,
            "--log-key",
            &log_vkey,
            "--state",
            state.to_str().expect("path"),
            "--read-token",
            &admin_token,
            "--policy",
        ],
        &[&two_of_three],
    );
    assert!(ok, "{out}");

    // ... and under a policy the published checkpoint does not meet: refused, state kept.
    let before = std::fs::read_to_string(&state).expect("state kept");
    let (ok, out) = verify(
        &[
            "--url",
            &s.http,
            "--state",
            state.to_str().expect("path"),
            "--read-token",
            &admin_token,
            "--policy",
        ],
        &[&all_three],
    );
    assert!(!ok, "3 of 3 required of a log 2 witnesses cosign\n{out}");
    assert!(out.contains("policy"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&state).expect("state"),
        before,
        "a refused checkpoint is not kept"
    );

    // An altered cosignature: one character of w1's signature changed everywhere it appears.
    let current = std::fs::read_to_string(&bundle).expect("bundle");
    let w1_now = current
        .split("\\u2014 w1.test/witness ")
        .nth(1)
        .or_else(|| current.split("\u{2014} w1.test/witness ").nth(1))
        .and_then(|rest| rest.split("\\n").next())
        .expect("w1's cosignature in the bundle")
        .to_string();
    let mut altered: Vec<char> = w1_now.chars().collect();
    altered[20] = if altered[20] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    let tampered = work.path().join("tampered.evidence.json");
    std::fs::write(&tampered, current.replace(&w1_now, &altered)).expect("write");
    let (ok, out) = verify(
        &[
            "--bundle",
            tampered.to_str().expect("path"),
            "--log-key",
            &log_vkey,
            "--policy",
        ],
        &[&two_of_three],
    );
    assert!(!ok, "an altered cosignature fails\n{out}");

    // The crashed witness comes back and catches up with the log.
    tokio::task::block_in_place(|| witnesses[1].restart());
    let batch = signed(&mut d, 100);
    send(batch).await;
    wait_cosigned(&s, &log, &keys, &all, 801).await;

    // The customs view says who witnessed the checkpoint.
    let page = s
        .http()
        .get(format!("{}/customs/{item}", s.http))
        .send()
        .await
        .expect("customs")
        .text()
        .await
        .expect("html");
    for w in all {
        assert!(page.contains(w), "the customs view names {w}");
    }
    // The trace says when witnesses saw each event in the log, on the page and in the API.
    let page = s
        .http()
        .get(format!("{}/items/{item}", s.http))
        .send()
        .await
        .expect("trace page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("witnessed by w1.test/witness"),
        "the trace page says who witnessed"
    );
    let trace: serde_json::Value = s
        .http()
        .get(format!("{}/api/v1/items/{item}/trace", s.http))
        .send()
        .await
        .expect("trace")
        .json()
        .await
        .expect("json");
    let first = &trace["events"][0]["witnessed"];
    assert!(
        first["anchored_by"]["cosignatures"]
            .as_array()
            .is_some_and(|c| c.len() == 3),
        "the first event was witnessed by all three before w2 failed: {first}"
    );
    assert!(first["anchored_by_time"].as_u64().is_some(), "{first}");

    // A fork: a second server with the same key and another history asks the same witnesses.
    let fork = tokio::task::block_in_place(|| Server::start_in(data_dir_with_key(&log), &flags));
    let mut e = Device::new("fork-1", 52);
    let password = register(&http, &fork, &e).await;
    deliver(
        fork.mqtt_port,
        e.id.as_str().to_string(),
        Some(password),
        signed(&mut e, 900),
        Arc::new(AtomicU64::new(0)),
        Duration::from_secs(2),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let forks: Vec<serde_json::Value> = witnesses
            .iter()
            .map(|w| {
                tokio::task::block_in_place(|| {
                    reqwest::blocking::get(format!("{}/forks", w.url))
                        .and_then(|r| r.json())
                        .expect("GET /forks")
                })
            })
            .collect();
        let all_saw = forks.iter().all(|f| {
            f.as_array()
                .or_else(|| f["forks"].as_array())
                .is_some_and(|a| !a.is_empty())
        });
        if all_saw {
            for f in &forks {
                let text = f.to_string();
                assert!(text.contains(ORIGIN), "the evidence names the log: {text}");
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "every witness refuses the fork and publishes evidence: {forks:?}\n{}",
            fork.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let forked = published(&fork).await;
    assert!(
        cosignatures(forked.as_bytes(), &keys)
            .expect("verifies")
            .is_empty(),
        "no witness cosigned the fork:\n{forked}"
    );
    assert!(fork.log().contains("did not cosign"), "{}", fork.log());
    // The honest log is still cosigned by all three.
    wait_cosigned(&s, &log, &keys, &all, 801).await;
}
