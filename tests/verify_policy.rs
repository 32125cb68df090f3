//! `provenance verify --bundle FILE --policy POLICY` on a bundle made offline: a station's
//! events in an in-memory log whose checkpoint two of three witnesses cosigned. A 2-of-3
//! policy passes (with or without --log-key), 3-of-3 fails saying which witness is missing, a
//! policy that does not parse or does not fit the key is a usage error, and events dated after
//! the witnesses saw them are a warning.

use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use provenance_custody::bundle::{Bundle, BundleEntry, LogInfo, Purpose, TlogProof};
use provenance_event::registry::{Action, Record, Role};
use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
use provenance_tlog::cosignature::CosignatureSigner;
use provenance_tlog::merkle::{MemoryTree, inclusion_proof};
use provenance_tlog::{Checkpoint, Signer, leaf_hash};

const ORIGIN: &str = "offline.example/log";
const ITEM: &str = "urn:epc:id:sgtin:4012345.012345.77";
/// 2026-12-07T18:00:00Z, ms.
const T0: i64 = 1_796_666_400_000;
const HOUR: i64 = 3_600_000;

/// A log of one registered station's three events (hours 0, 1 and 2), as a bundle whose
/// checkpoint each witness cosigned at its time (seconds).
fn bundle(log: &Signer, cosigners: &[(&CosignatureSigner, u64)]) -> Bundle {
    let key = SigningKey::from_bytes(&[5; 32]);
    let id = DeviceId::new("station-9").expect("id");
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut buf = vec![0u8; 1024];
    let n = Record {
        time: T0,
        device: id.clone(),
        action: Action::Registered {
            key: key.verifying_key().to_bytes(),
            role: Role::Station,
            org: "Acme Cells urn:epc:id:pgln:4012345.00001",
        },
    }
    .sign(log.ed25519(), log.name(), &mut buf)
    .expect("registry entry");
    entries.push(buf[..n].to_vec());
    let items = [Epc::parse(ITEM).expect("epc")];
    let mut prev = [0u8; 32];
    for (seq, kind) in [
        (1u64, Kind::Commissioned),
        (2, Kind::Located),
        (3, Kind::Located),
    ] {
        let hour = i64::try_from(seq).expect("seq") - 1;
        let d = Draft::new(seq, prev, T0 + hour * HOUR, kind, &items);
        let mut buf = vec![0u8; 4096];
        let n = sign_event(&key, &id, &d, &mut buf).expect("sign");
        prev = message_hash(&buf[..n]);
        entries.push(buf[..n].to_vec());
    }

    let mut tree = MemoryTree::new();
    for e in &entries {
        tree.push(leaf_hash(e));
    }
    let size = tree.size();
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: tree.root_at(size).expect("root"),
        extensions: vec![],
    };
    let mut note = cp.sign(log).expect("sign");
    for (w, t) in cosigners {
        note.push_str(&w.sign(&cp.body(), *t).expect("cosign"));
    }
    let entries = entries
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| {
            let index = i as u64;
            let mut r = &tree;
            BundleEntry {
                index,
                purpose: if i == 0 {
                    Purpose::Registry
                } else {
                    Purpose::Event
                },
                bytes,
                proof: TlogProof {
                    extra: None,
                    index,
                    hashes: inclusion_proof(index, size, &mut r).expect("proof"),
                    checkpoint: note.clone(),
                },
            }
        })
        .collect();
    Bundle {
        subject: ITEM.into(),
        log: LogInfo {
            origin: ORIGIN.into(),
            key: log.verifier().to_string(),
        },
        checkpoint: note,
        created_ms: None,
        scope: Default::default(),
        entries,
    }
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// Runs `provenance verify` with `args`; returns the exit code and stdout followed by stderr.
fn verify(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_provenance"))
        .arg("verify")
        .args(args)
        .output()
        .expect("verify runs");
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn a_bundle_verifies_under_a_witness_policy_or_says_why_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let log = Signer::new(ORIGIN, &[9; 32]).expect("log key");
    let vkey = log.verifier().to_string();
    let w: Vec<CosignatureSigner> = (1..=3u8)
        .map(|n| {
            CosignatureSigner::new(&format!("w{n}.test/witness"), &[40 + n; 32]).expect("witness")
        })
        .collect();
    // Cosigned by w1 and w3 an hour after the last event.
    let seen = u64::try_from((T0 + 3 * HOUR) / 1000).expect("time");
    let b = bundle(&log, &[(&w[0], seen), (&w[2], seen + 62)]);
    let file = write(d, "item.evidence.json", b.to_json());
    let file = file.to_str().expect("path");
    let policy = |log_line: bool, quorum: &str| {
        format!(
            "# who we trust\n{}witness w1 {}\nwitness w2 {}\nwitness w3 {}\n{quorum}",
            if log_line {
                format!("log {vkey}\n")
            } else {
                String::new()
            },
            w[0].vkey(),
            w[1].vkey(),
            w[2].vkey()
        )
    };
    let p2 = write(
        d,
        "2of3.policy",
        policy(true, "group g 2 w1 w2 w3\nquorum g\n"),
    );
    let p3 = write(
        d,
        "3of3.policy",
        policy(true, "group g all w1 w2 w3\nquorum g\n"),
    );
    let no_log = write(
        d,
        "nolog.policy",
        policy(false, "group g 2 w1 w2 w3\nquorum g\n"),
    );
    let (p2, p3, no_log) = (
        p2.to_str().expect("path"),
        p3.to_str().expect("path"),
        no_log.to_str().expect("path"),
    );

    // 2 of 3: holds, and says who witnessed it when.
    let (code, out) = verify(&["--bundle", file, "--log-key", &vkey, "--policy", p2]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "witnessed: w1.test/witness at 2026-12-07 21:00:00 UTC, w3.test/witness at \
             2026-12-07 21:01:02 UTC; policy quorum g met (2 of 3)"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "anchored by 2026-12-07 21:01:02 UTC, witnessed by w1.test/witness and \
             w3.test/witness"
        ),
        "{out}"
    );
    assert!(out.contains("✔ Independent witnesses"), "{out}");
    // The policy's log line stands in for --log-key.
    let (code, out) = verify(&["--bundle", file, "--policy", p2]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{vkey} (from the policy)")), "{out}");
    // Machines get the same in JSON.
    let (code, out) = verify(&["--bundle", file, "--policy", p2, "--json"]);
    assert_eq!(code, 0, "{out}");
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(json["witnesses"]["quorum_met"], true);
    assert_eq!(json["witnesses"]["cosignatures"][1]["policy_name"], "w3");

    // 3 of 3: fails, naming the witness that is missing.
    let (code, out) = verify(&["--bundle", file, "--log-key", &vkey, "--policy", p3]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "quorum g not met: g has 2 of the 3 it needs (witnessed by w1, w3; missing w2)"
        ),
        "{out}"
    );
    // Without a policy: the lines are listed, unverified, and the bundle holds.
    let (code, out) = verify(&["--bundle", file, "--log-key", &vkey]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("names only, not verified"), "{out}");

    // Usage errors (exit 2): a policy that does not parse, a key the policy does not list, no
    // key at all.
    let bad = write(d, "bad.policy", "witness w1 not-a-key\nquorum w1\n");
    let (code, out) = verify(
        &["--bundle", file, "--log-key", &vkey, "--policy"]
            .into_iter()
            .chain([bad.to_str().expect("path")])
            .collect::<Vec<_>>(),
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("policy line 1: bad witness key"), "{out}");
    let other = Signer::new(ORIGIN, &[10; 32]).expect("other key");
    let (code, out) = verify(&[
        "--bundle",
        file,
        "--log-key",
        &other.verifier().to_string(),
        "--policy",
        p2,
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not one of the policy's logs"), "{out}");
    let (code, out) = verify(&["--bundle", file, "--policy", no_log]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("give --log-key"), "{out}");
    let (code, out) = verify(&["--bundle", file, "--log-key", &vkey, "--policy", no_log]);
    assert_eq!(code, 0, "{out}");

    // Witnessed at hour 1: the event of hour 2 was dated after the fact.
    let early = u64::try_from((T0 + HOUR) / 1000).expect("time");
    let b = bundle(&log, &[(&w[0], early), (&w[1], early)]);
    let late = write(d, "late.evidence.json", b.to_json());
    let (code, out) = verify(&["--bundle", late.to_str().expect("path"), "--policy", p2]);
    assert_eq!(code, 0, "a warning, not a failure\n{out}");
    assert!(
        out.contains(
            "station-9's event at log index 3: device time 2026-12-07T20:00Z is 1 h after the \
             witnesses saw the checkpoint holding it (19:00Z)"
        ),
        "{out}"
    );
    assert!(out.contains("PASS WITH WARNINGS"), "{out}");
}
