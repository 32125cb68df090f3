//! `provenance witness` end to end: the real binary on a free port, a log built with
//! `provenance_tlog` posting its checkpoints over HTTP (C2SP tlog-witness), the cosignatures
//! checked with the tlog-cosignature verifier, the state surviving a kill and a restart, a
//! fork refused with its evidence public at /forks, and a taken port named plainly.

mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use provenance_tlog::cosignature::CosignatureVerifier;
use provenance_tlog::merkle::{MemoryTree, consistency_proof, leaf_hash};
use provenance_tlog::{Checkpoint, Signer};
use provenance_witness::AddCheckpoint;

const ORIGIN: &str = "test.example/log";

/// A log: its key and a tree whose leaves depend on `salt` (another salt, another history).
struct Log {
    signer: Signer,
    tree: MemoryTree,
    salt: u8,
}

impl Log {
    fn new(salt: u8) -> Self {
        Self {
            signer: Signer::new(ORIGIN, &[11; 32]).expect("log key"),
            tree: MemoryTree::new(),
            salt,
        }
    }

    fn grow_to(&mut self, size: u64) {
        while self.tree.size() < size {
            let i = self.tree.size();
            self.tree.push(leaf_hash(
                format!("entry {i} of history {}", self.salt).as_bytes(),
            ));
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

    fn request(&self, old: u64, size: u64) -> String {
        let proof = if old == 0 || old == size {
            vec![]
        } else {
            let mut t = &self.tree;
            consistency_proof(old, size, &mut t).expect("proof")
        };
        AddCheckpoint {
            old_size: old,
            proof,
            note: self.checkpoint(size).sign(&self.signer).expect("sign"),
        }
        .to_body()
    }
}

/// A `provenance witness` process, killed when dropped.
struct WitnessProcess {
    child: Child,
    url: String,
}

impl WitnessProcess {
    fn start(dir: &Path, port: u16, extra: &[&str]) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("witness.log"))
            .expect("log file");
        let child = support::provenance()
            .arg("witness")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data")
            .arg(dir)
            .args(extra)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("witness starts");
        let mut w = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = w.child.try_wait() {
                panic!("witness exited ({status}):\n{}", output(dir));
            }
            if reqwest::blocking::get(format!("{}/key", w.url)).is_ok_and(|r| r.status() == 200) {
                return w;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        w.kill();
        panic!("witness did not come up:\n{}", output(dir));
    }

    /// SIGKILL: no graceful path, as a crash.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn output(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("witness.log")).unwrap_or_default()
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn post(w: &WitnessProcess, body: String) -> Answer {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/add-checkpoint", w.url))
        .body(body)
        .send()
        .expect("POST /add-checkpoint");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Answer {
        status,
        content_type,
        body: r.text().expect("body"),
    }
}

fn get_json(w: &WitnessProcess, path: &str) -> serde_json::Value {
    let r = reqwest::blocking::get(format!("{}{path}", w.url)).expect("GET");
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().expect("json")
}

#[test]
fn a_witness_cosigns_survives_a_crash_and_publishes_a_fork() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = support::free_port();
    let mut log = Log::new(0);
    let log_vkey = log.signer.verifier().to_string();
    let mut w = WitnessProcess::start(
        dir.path(),
        port,
        &["--name", "witness.test/w1", "--log", &log_vkey],
    );

    // Its vkey: printed at start and served at /key, the same.
    let vkey = reqwest::blocking::get(format!("{}/key", w.url))
        .and_then(|r| r.text())
        .expect("GET /key")
        .trim()
        .to_string();
    assert!(
        output(dir.path()).contains(&vkey),
        "the vkey is printed at start:\n{}",
        output(dir.path())
    );
    let verifier = CosignatureVerifier::parse(&vkey).expect("a cosignature/v1 vkey");
    assert_eq!(verifier.name(), "witness.test/w1");

    // The first checkpoint, from old size 0.
    log.grow_to(10);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let a = post(&w, log.request(0, 10));
    assert_eq!(a.status, 200, "{}", a.body);
    let t10 = verifier
        .verify_line(&log.checkpoint(10).body(), &a.body)
        .expect("the cosignature verifies");
    assert!(
        t10 >= before && t10 <= before + 60,
        "timestamp {t10} is the system time"
    );

    // Advancing with a consistency proof.
    log.grow_to(25);
    let a = post(&w, log.request(10, 25));
    assert_eq!(a.status, 200, "{}", a.body);
    let t25 = verifier
        .verify_line(&log.checkpoint(25).body(), &a.body)
        .expect("the cosignature verifies");
    assert!(t25 >= t10);

    // Killed and started again (no --name: the key comes from its file): the state survived.
    w.kill();
    let w = WitnessProcess::start(dir.path(), port, &["--log", &log_vkey]);
    let key_again = reqwest::blocking::get(format!("{}/key", w.url))
        .and_then(|r| r.text())
        .expect("GET /key");
    assert_eq!(
        key_again.trim(),
        vkey,
        "the same witness key after the restart"
    );
    let status = get_json(&w, "/status");
    assert_eq!(status["logs"][0]["origin"], ORIGIN);
    assert_eq!(status["logs"][0]["size"], 25);
    let stale = post(&w, log.request(10, 25));
    assert_eq!(stale.status, 409);
    assert_eq!(stale.content_type, "text/x.tlog.size");
    assert_eq!(stale.body, "25\n");
    log.grow_to(40);
    let a = post(&w, log.request(25, 40));
    assert_eq!(a.status, 200, "{}", a.body);
    let t40 = verifier
        .verify_line(&log.checkpoint(40).body(), &a.body)
        .expect("the cosignature verifies");
    assert!(t40 >= t25, "timestamps never go back");

    // A fork: the log's key signs another history of size 40. Refused, and the evidence (both
    // signed checkpoints) is public.
    let mut forked = Log::new(1);
    forked.grow_to(40);
    let a = post(&w, forked.request(40, 40));
    assert_eq!(a.status, 422, "{}", a.body);
    // A longer forked history with a proof from its own size 40 fails too.
    forked.grow_to(50);
    assert_eq!(post(&w, forked.request(40, 50)).status, 422);
    let forks = get_json(&w, "/forks");
    let list = forks.as_array().expect("a list");
    let same_size = list
        .iter()
        .find(|f| f["kind"] == "same-size-different-root")
        .expect("the same-size fork");
    assert_eq!(same_size["origin"], ORIGIN);
    assert_eq!(same_size["conclusive"], true);
    let id = same_size["id"].as_i64().expect("id");
    assert_eq!(same_size["evidence"], format!("/forks/{id}"));
    let one = get_json(&w, &format!("/forks/{id}"));
    assert_eq!(one["kind"], same_size["kind"]);
    let open = |note: &serde_json::Value| {
        Checkpoint::open(
            note.as_str().expect("note").as_bytes(),
            log.signer.verifier(),
            Some(ORIGIN),
        )
        .expect("signed by the log")
        .0
    };
    let (cosigned, conflicting) = (open(&one["cosigned"]), open(&one["conflicting"]));
    assert_eq!((cosigned.size, conflicting.size), (40, 40));
    assert_ne!(cosigned.root, conflicting.root);
    assert_eq!(cosigned.root, log.tree.root_at(40).expect("root"));
    // The cosigned one carries the witness's cosignature.
    let found = provenance_tlog::cosignature::cosignatures(
        one["cosigned"].as_str().expect("note").as_bytes(),
        std::slice::from_ref(&verifier),
    )
    .expect("cosignature");
    assert_eq!(found.len(), 1);
    assert!(list.iter().any(|f| f["kind"] == "consistency-proof-failed"));
    // The witness stays on the history it cosigned, and the honest log goes on.
    assert_eq!(get_json(&w, "/status")["logs"][0]["size"], 40);
    log.grow_to(45);
    assert_eq!(post(&w, log.request(40, 45)).status, 200);

    // A second witness on the same port is told plainly what to do.
    let other = tempfile::tempdir().expect("tempdir");
    let out = support::provenance()
        .arg("witness")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data")
        .arg(other.path())
        .args(["--name", "witness.test/w2", "--log", &log_vkey])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already in use") && err.contains("--listen"),
        "{err}"
    );
}
