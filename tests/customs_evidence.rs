//! Customs end to end: a consignment's journey is signed by a plant station, a tracker,
//! customs and a warehouse and submitted to a real `provenance serve` over HTTP; its evidence
//! bundle is downloaded and checked offline by `provenance verify --bundle` with the key from
//! `/api/v1/log/key`; then the bundle is tampered with in every way SPEC §7 names, and a
//! journey that breaks custody (a seal broken in transit, a handover by someone who did not
//! hold the container) verifies cryptographically but fails. The EPCIS export of the journey
//! validates against GS1's schema with Python's `jsonschema`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_event::{Kind, Quantity};
use serde_json::{Value, json};
use support::journey::*;
use support::{external, go_tlogcheck, provenance, python_with, root};

// The journey itself (signers, the server, the events) is `support::journey`'s, shared with
// the browser test.
impl Site {
    /// The evidence bundle of `item`, and the log key, saved in `dir`.
    async fn download(&self, item: &str, dir: &Path) -> (Value, PathBuf) {
        let r = self.get(&format!("/api/v1/items/{item}/evidence")).await;
        let disposition = r
            .headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            disposition.starts_with("attachment; filename=")
                && disposition.contains(".evidence.json"),
            "{disposition}"
        );
        let bundle: Value = r.json().await.expect("json");
        let key = self.get("/api/v1/log/key").await.text().await.expect("key");
        let key_file = dir.join("log.vkey");
        std::fs::write(&key_file, key).expect("write key");
        (bundle, key_file)
    }
}

/// Runs `provenance verify --bundle` on `bundle`; returns the exit code and the output.
fn verify(dir: &Path, name: &str, bundle: &Value, key: &Path, extra: &[&str]) -> (i32, String) {
    let file = dir.join(name);
    std::fs::write(&file, serde_json::to_vec_pretty(bundle).expect("json")).expect("write");
    let o = provenance()
        .args(["verify", "--bundle"])
        .arg(&file)
        .arg("--log-key")
        .arg(key)
        .args(extra)
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

fn entry_mut(bundle: &mut Value, index: u64) -> &mut Value {
    bundle["entries"]
        .as_array_mut()
        .expect("entries")
        .iter_mut()
        .find(|e| e["index"] == index)
        .expect("entry in bundle")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consignment_verifies_offline_and_every_tampering_is_named() {
    let mut site = Site::start().await;
    let idx = site.journey().await;
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path();
    let (bundle, key) = site.download(SSCC, dir).await;
    assert_eq!(bundle["format"], "provenance-evidence/v1");
    assert!(
        bundle["entries"][0]["proof"]
            .as_str()
            .is_some_and(|p| p.starts_with("c2sp.org/tlog-proof@v1\nindex "))
    );

    let (code, out) = verify(dir, "good.json", &bundle, &key, &[]);
    assert_eq!(code, 0, "{out}");
    // A real bundle makes a good fuzzing seed (fuzz/seeds/bundle_parse).
    if let Some(path) = std::env::var_os("PROVENANCE_KEEP_BUNDLE") {
        std::fs::copy(dir.join("good.json"), path).expect("keep the bundle");
    }
    assert!(out.contains("PASS WITH WARNINGS"), "{out}");
    assert!(
        out.contains("consignment  urn:epc:id:sscc:4012345.0000000017"),
        "{out}"
    );
    assert!(out.contains("intact from sealing to inspection"), "{out}");
    assert!(out.contains("Euro Warehouse"), "{out}");
    println!("{out}");
    let (code, out) = verify(dir, "good.json", &bundle, &key, &["--json"]);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(report["verdict"], "warnings");
    // The container's trace: all but the cell's own commissioning.
    assert_eq!(report["trace"].as_array().map(Vec::len), Some(14));
    // The key may be given as text too; a cold-chain profile fails the 45.5 °C excursion.
    let key_text = std::fs::read_to_string(&key).expect("key");
    let (code, out) = verify(
        dir,
        "good.json",
        &bundle,
        Path::new(key_text.trim()),
        &["--limits", "reefer"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("above the 8.0 °C limit of the reefer profile"),
        "{out}"
    );
    assert!(out.contains("peak 45.5 °C"), "{out}");

    // The cell inherits the container's journey.
    let (cell, _) = site.download(CELL, dir).await;
    let (code, out) = verify(dir, "cell.json", &cell, &key, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("(via urn:epc:id:sscc:4012345.0000000017)"),
        "{out}"
    );

    // The JSON trace carries the same findings.
    let trace: Value = site
        .get(&format!("/api/v1/items/{SSCC}/trace"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        trace["findings"]["verdict"], "warnings",
        "{}",
        trace["findings"]
    );
    assert_eq!(
        trace["findings"]["custody"].as_array().map(Vec::len),
        Some(3)
    );

    // An entry byte.
    let located = idx[6];
    let mut b = bundle.clone();
    let e = entry_mut(&mut b, located);
    let mut bytes = B64.decode(e["entry"].as_str().expect("b64")).expect("b64");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    e["entry"] = B64.encode(&bytes).into();
    let (code, out) = verify(dir, "byte.json", &b, &key, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("entry {located}: not in the log")),
        "{out}"
    );

    // A proof hash.
    let mut b = bundle.clone();
    let e = entry_mut(&mut b, idx[9]);
    let proof = e["proof"].as_str().expect("proof").to_string();
    let mut lines: Vec<String> = proof.split('\n').map(str::to_string).collect();
    let h = B64.decode(&lines[2]).expect("hash");
    lines[2] = B64.encode(h.iter().map(|b| b ^ 0xff).collect::<Vec<u8>>());
    e["proof"] = lines.join("\n").into();
    let (code, out) = verify(dir, "proof.json", &b, &key, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("entry {}: not in the log", idx[9])),
        "{out}"
    );

    // The checkpoint (its tree size).
    let mut b = bundle.clone();
    let cp = b["checkpoint"].as_str().expect("checkpoint").to_string();
    let mut lines: Vec<&str> = cp.split('\n').collect();
    let size: u64 = lines[1].parse().expect("size");
    let bigger = (size + 1).to_string();
    lines[1] = &bigger;
    b["checkpoint"] = lines.join("\n").into();
    let (code, out) = verify(dir, "checkpoint.json", &b, &key, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("✘ Log checkpoint"), "{out}");
    assert!(out.contains("not signed by the log key"), "{out}");

    // An event removed (the tracker's first fix after departure).
    let mut b = bundle.clone();
    b["entries"]
        .as_array_mut()
        .expect("entries")
        .retain(|e| e["index"] != located);
    let (code, out) = verify(dir, "removed.json", &b, &key, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("device tracker-7, seq 3]") && out.contains("an event is missing"),
        "{out}"
    );

    // A forged clearance signed by a key the registry never saw.
    let mut forger = Signer::new("customs-fake", 9);
    let forged = forger.sign(Kind::Cleared, &[SSCC], site.at(30), With::default());
    let mut b = bundle.clone();
    let template = entry_mut(&mut b, idx[12]).clone();
    let mut fake = template;
    fake["index"] = json!(size + 5);
    fake["entry"] = B64.encode(&forged).into();
    b["entries"].as_array_mut().expect("entries").push(fake);
    let (code, out) = verify(dir, "forged.json", &b, &key, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("signed by customs-fake, which has no registration"),
        "{out}"
    );
    // The same forgery under the name of the real customs key.
    let mut impostor = Signer::new("customs-rtm", 9);
    impostor.seq = 2;
    impostor.prev = site.customs.prev;
    let forged = impostor.sign(Kind::Cleared, &[SSCC], site.at(30), With::default());
    let mut b = bundle.clone();
    entry_mut(&mut b, idx[12])["entry"] = B64.encode(&forged).into();
    let (code, out) = verify(dir, "impostor.json", &b, &key, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the signature is not customs-rtm's"), "{out}");

    // Items the log does not know, and things that are not items.
    let r = site
        .http
        .get(format!(
            "{}/api/v1/items/urn:epc:id:sscc:4012345.0000000099/evidence",
            site.server.http
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    for route in ["evidence", "epcis"] {
        let r = site
            .http
            .get(format!(
                "{}/api/v1/items/pallet-7/{route}",
                site.server.http
            ))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 400, "{route}");
    }

    // Go's sumdb note and tlog code, written independently of ours, accepts the bundle's
    // checkpoint and every C2SP tlog proof in it.
    if let Some(bin) = external("Go with golang.org/x/mod", go_tlogcheck()) {
        let inclusion: Vec<Value> = bundle["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| {
                let entry = B64
                    .decode(e["entry"].as_str().expect("entry"))
                    .expect("b64");
                let proof = e["proof"].as_str().expect("proof");
                let hashes: Vec<&str> = proof
                    .split('\n')
                    .skip(2)
                    .take_while(|l| !l.is_empty())
                    .collect();
                json!({
                    "index": e["index"],
                    "leaf_hash": B64.encode(provenance_tlog::leaf_hash(&entry)),
                    "proof": hashes,
                })
            })
            .collect();
        let input = json!({
            "vkey": key_text.trim(),
            "checkpoint": bundle["checkpoint"],
            "inclusion": inclusion,
            "consistency": [],
        });
        let mut child = Command::new(bin)
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
        let o = child.wait_with_output().expect("tlogcheck");
        assert!(
            o.status.success(),
            "Go refused the bundle: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    // Usage errors are not verdicts.
    let (code, out) = verify(dir, "good.json", &bundle, Path::new("not-a-key"), &[]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = verify(dir, "garbage.json", &json!({"x": 1}), &key, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not an evidence bundle"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_custody_verifies_cryptographically_but_fails() {
    let mut site = Site::start().await;
    let no = With::default();
    let events = vec![
        site.station
            .sign(Kind::Commissioned, &[SSCC], site.at(0), no),
        site.station.sign(Kind::Sealed, &[SSCC], site.at(1), no),
        site.station.sign(
            Kind::HandedOver,
            &[SSCC],
            site.at(2),
            With {
                party: Some(CARRIER),
                ..no
            },
        ),
        site.tracker.sign(Kind::Departed, &[SSCC], site.at(3), no),
        // The seal loop opens in transit, before any inspection.
        site.tracker.sign(
            Kind::SealBroken,
            &[SSCC],
            site.at(5),
            With {
                readings: &[(Quantity::SealClosed, 0)],
                ..no
            },
        ),
        site.tracker.sign(Kind::Arrived, &[SSCC], site.at(8), no),
        site.customs.sign(Kind::Inspected, &[SSCC], site.at(9), no),
        // The warehouse signs the handover to itself, but the carrier holds the container.
        site.warehouse.sign(
            Kind::HandedOver,
            &[SSCC],
            site.at(10),
            With {
                party: Some(WAREHOUSE),
                ..no
            },
        ),
    ];
    for e in events {
        site.submit(e).await;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let (bundle, key) = site.download(SSCC, work.path()).await;
    let (code, out) = verify(work.path(), "custody.json", &bundle, &key, &[]);
    assert_eq!(code, 1, "{out}");
    for check in [
        "✔ Log checkpoint",
        "✔ Inclusion in the log",
        "✔ Device and operator registry",
        "✔ Event signatures",
        "✔ Device hash chains",
        "✘ Chain of custody",
    ] {
        assert!(out.contains(check), "{check}: {out}");
    }
    // Said against what came after: the inspection came later, and the line says so.
    assert!(
        out.contains("broken by tracker-7 while sealed, before customs inspected it"),
        "{out}"
    );
    assert!(
        out.contains(
            "is signed by wh-op (Euro Warehouse urn:epc:id:pgln:4012345.00004), but Blue Sea Lines"
        ),
        "{out}"
    );
    assert!(out.contains("seal: BROKEN before inspection"), "{out}");
    println!("{out}");
}

/// Validates JSON documents against GS1's EPCIS 2.0 schema with Python's `jsonschema`.
fn validate_epcis(python: &Path, files: &[PathBuf]) -> Value {
    let schema = root().join("../shared/testdata/epcis/schema/EPCIS-JSON-Schema.json");
    let o = Command::new(python)
        .arg(root().join("tests/python/epcis_validate.py"))
        .arg(&schema)
        .args(files)
        .output()
        .expect("python runs");
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(out.trim()).unwrap_or_else(|_| {
        panic!(
            "validator output: {out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_epcis_export_validates_against_gs1_schema() {
    let Some(python) = external("python with jsonschema", python_with("jsonschema")) else {
        return;
    };
    // The harness first: every example GS1 ships is valid.
    let mut examples = vec![];
    let mut dirs = vec![root().join("../shared/testdata/epcis/examples")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("examples") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonld") {
                examples.push(p);
            }
        }
    }
    assert_eq!(examples.len(), 47);
    let report = validate_epcis(&python, &examples);
    assert_eq!(report["invalid"], json!({}), "{report}");
    assert_eq!(report["valid"], 47);

    let mut site = Site::start().await;
    site.journey().await;
    let work = tempfile::tempdir().expect("tempdir");
    let mut files = vec![];
    for item in [SSCC, CELL] {
        let r = site.get(&format!("/api/v1/items/{item}/epcis")).await;
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(ct, "application/ld+json");
        let doc: Value = r.json().await.expect("json");
        let events = doc["epcisBody"]["eventList"].as_array().expect("events");
        let steps: Vec<&str> = events
            .iter()
            .filter_map(|e| e["bizStep"].as_str())
            .collect();
        if item == SSCC {
            assert_eq!(
                steps,
                [
                    "commissioning",
                    "packing",
                    "loading",
                    "shipping",
                    "departing",
                    "transporting",
                    "sensor_reporting",
                    "transporting",
                    "arriving",
                    "inspecting",
                    "holding",
                    "accepting",
                    "shipping",
                    "arriving"
                ]
            );
            let packed = &events[1];
            assert_eq!(packed["type"], "AggregationEvent");
            assert_eq!(packed["parentID"], SSCC);
            assert_eq!(packed["childEPCs"], json!([CELL]));
            let excursion = &events[6];
            let report = &excursion["sensorElementList"][0]["sensorReport"];
            assert_eq!(report[0]["type"], "Temperature");
            assert_eq!(report[0]["uom"], "CEL");
            assert_eq!(report[0]["value"], 45.5);
            assert_eq!(events[3]["destinationList"][0]["destination"], CARRIER);
            assert!(
                events[3]["bizTransactionList"][0]["bizTransaction"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("BOL-2026-0042"))
            );
            assert_eq!(events[8]["bizLocation"]["id"], PORT);
            assert!(
                events[8]["readPoint"]["id"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("geo:"))
            );
            assert!(events.iter().all(|e| {
                e["eventID"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("ni:///sha-256;"))
                    && e["prov:logIndex"].is_u64()
            }));
        }
        let file = work.path().join(format!("{}.jsonld", files.len()));
        std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
        files.push(file);
    }
    let report = validate_epcis(&python, &files);
    assert_eq!(report["invalid"], json!({}), "{report}");
    assert_eq!(report["valid"], 2);
}
