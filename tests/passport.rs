//! The battery passport of a simulated cell (issue #14), end to end: `provenance simulate`
//! runs the firmware through a journey whose container overheats at the destination port;
//! the cell's passport shows the public fields to anyone and the excursion, with its entry
//! and that entry's inclusion proof, to the carrier involved; `provenance verify --bundle
//! --passport` proves every field offline with the log key alone, and names a field that was
//! changed after the fact.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{Server, provenance};

const RUN: &str = "543";
/// `simulator::scenario`'s numbering: run, kind 1 (cell), shipment 0, cell 0.
const CELL: &str = "urn:epc:id:sgtin:4012345.012345.54310000000";
const CARRIER: &str = "Blue Sea Lines urn:epc:id:pgln:4012345.00002";

fn get(url: &str, token: Option<&str>) -> reqwest::blocking::Response {
    let mut r = reqwest::blocking::Client::new().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().expect("get");
    assert_eq!(r.status(), 200, "{url}");
    r
}

/// `provenance verify --bundle BUNDLE --passport PASSPORT --log-key KEY`: exit code and output.
fn verify(dir: &Path, bundle: &str, passport: &Value, key: &Path) -> (i32, String) {
    let (b, p) = (
        dir.join("cell.passport-evidence.json"),
        dir.join("cell.passport.json"),
    );
    std::fs::write(&b, bundle).expect("write bundle");
    std::fs::write(&p, serde_json::to_vec_pretty(passport).expect("json")).expect("write");
    let o = provenance()
        .args(["verify", "--bundle"])
        .arg(&b)
        .arg("--passport")
        .arg(&p)
        .arg("--log-key")
        .arg(key)
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
fn a_simulated_cells_passport_shows_its_excursion_and_verifies_offline() {
    let mut s = Server::start(&["--public-entries"]);
    s.simulate(&format!(
        "--boards 3 --items 4 --speedup 20000 --sea-days 1 --drain 60 --seed 5 --run {RUN} \
         --offline 0 --reboots 0 --seal-breaks 0 --heat 1 --drops 0 --holds 0"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("log.vkey");
    std::fs::write(
        &key,
        get(&format!("{}/api/v1/log/key", s.http), None)
            .text()
            .expect("key"),
    )
    .expect("write key");
    let passport = format!("{}/api/v1/items/{CELL}/passport", s.http);

    // Anyone: the maker's public statement, proved field by field from the public bundle.
    let public: Value = get(&passport, None).json().expect("json");
    assert_eq!(public["access"]["view"], "public");
    assert_eq!(
        public["materialComposition"]["batteryChemistry"]["shortName"],
        "NMC811"
    );
    assert_eq!(
        public["generalProductInformation"]["manufacturerInformation"]["contactName"],
        "Arnstadt Cell Works"
    );
    assert!(!public.to_string().contains("negativeEvent"));
    let bundle = get(&format!("{passport}/evidence"), None)
        .text()
        .expect("bundle");
    let (code, out) = verify(dir.path(), &bundle, &public, &key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("BATTERY PASSPORT"), "{out}");
    assert!(!out.contains('✘'), "{out}");
    assert!(
        out.contains("chains and custody") || out.contains("not judged"),
        "{out}"
    );
    let mut forged = public.clone();
    forged["carbonFootprint"]["carbonFootprintPerformanceClass"] = json!("A");
    let (code, out) = verify(dir.path(), &bundle, &forged, &key);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("✘ /carbonFootprint/carbonFootprintPerformanceClass"),
        "{out}"
    );

    // The carrier whose tracker reported the heat: the excursion, its entry and its proof.
    let grant: Value = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/access", s.http))
        .bearer_auth(s.token())
        .json(&json!({ "org": CARRIER, "tier": "partner" }))
        .send()
        .expect("grant")
        .json()
        .expect("json");
    let carrier = grant["token"].as_str().expect("token");
    let full: Value = get(&passport, Some(carrier)).json().expect("json");
    assert_eq!(full["access"]["view"], "full");
    let negative = full["performance"]["batteryCondition"]["negativeEvents"]
        .as_array()
        .expect("negative events");
    let heat = negative
        .iter()
        .find(|n| {
            n["negativeEvent"]
                .as_str()
                .is_some_and(|t| t.contains("41.0"))
        })
        .unwrap_or_else(|| panic!("the excursion at the port: {negative:?}"));
    let pointer = format!(
        "/performance/batteryCondition/negativeEvents/{}",
        negative.iter().position(|n| n == heat).expect("position")
    );
    let proof_url = full["evidence"][&pointer]["inclusionProof"]
        .as_str()
        .expect("proof url")
        .to_string();
    // Anyone can fetch the proof: it reveals hashes only.
    let proof: Value = get(&proof_url, None).json().expect("proof");
    assert_eq!(
        proof["index"], full["evidence"][&pointer]["logIndex"],
        "{proof}"
    );
    assert!(
        proof["hashes"].as_array().is_some_and(|h| !h.is_empty()),
        "{proof}"
    );
    let bundle = get(&format!("{passport}/evidence"), Some(carrier))
        .text()
        .expect("bundle");
    let (code, out) = verify(dir.path(), &bundle, &full, &key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("✔ {pointer}")), "{out}");
    let tally = out
        .lines()
        .find(|l| l.contains("fields proved"))
        .expect("the tally");
    let n: Vec<&str> = tally.split_whitespace().collect();
    assert_eq!(
        n[0], n[2],
        "every field's entry is in the whole bundle: {out}"
    );
    assert!(s.stop(), "{}", s.log());
}
