//! A COSE library written by others (Python's pycose) verifies an event that
//! `provenance keygen` + `provenance sign` made, and our library verifies one that pycose
//! signed. Needs the virtualenv from `scripts/test-setup`.

mod support;

use std::process::Command;

use base64::Engine as _;
use provenance_event::ed25519_dalek::VerifyingKey;
use provenance_event::{Kind, SignedEvent};
use support::{external, provenance, python_with, root};

fn script() -> std::path::PathBuf {
    root().join("tests/python/cose_interop.py")
}

#[test]
fn pycose_verifies_our_event_and_refuses_a_tampered_one() {
    let Some(python) = external("python with pycose", python_with("pycose")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("op.key");
    let out = provenance()
        .args(["keygen", "--out"])
        .arg(&key)
        .output()
        .expect("keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();

    let event = dir.path().join("ev.cose");
    let out = provenance()
        .args(["sign", "--key"])
        .arg(&key)
        .args([
            "--device",
            "customs-rtm",
            "--seq",
            "1",
            "--kind",
            "cleared",
            "--item",
            "urn:epc:id:sscc:4012345.0000000017",
            "--doc",
            "MRN-24NL0000000000001",
            "--out",
        ])
        .arg(&event)
        .output()
        .expect("sign runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = Command::new(&python)
        .arg(script())
        .arg("verify")
        .arg(&event)
        .arg(&public)
        .output()
        .expect("python runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pycose refused our event: {report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(report.trim()).expect("json");
    assert_eq!(report["verified"], true);
    assert_eq!(report["kid"], "customs-rtm");
    assert_eq!(
        report["content_type"],
        "application/vnd.provenance.event+cbor"
    );
    assert_eq!(report["kind"], 14);

    // The same message with one payload byte changed must fail in pycose too.
    let mut bytes = std::fs::read(&event).expect("read");
    let n = bytes.len();
    bytes[n - 70] ^= 0x01; // inside the payload, just before the signature
    let tampered = dir.path().join("tampered.cose");
    std::fs::write(&tampered, &bytes).expect("write");
    let out = Command::new(&python)
        .arg(script())
        .arg("verify")
        .arg(&tampered)
        .arg(&public)
        .output()
        .expect("python runs");
    assert!(!out.status.success(), "pycose accepted a tampered event");
}

#[test]
fn we_verify_an_event_pycose_signed() {
    let Some(python) = external("python with pycose", python_with("pycose")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let event = dir.path().join("theirs.cose");
    let out = Command::new(&python)
        .arg(script())
        .arg("sign")
        .arg(&event)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = base64::engine::general_purpose::STANDARD
        .decode(String::from_utf8_lossy(&out.stdout).trim())
        .expect("base64 key");
    let key = VerifyingKey::from_bytes(&public.try_into().expect("32 bytes")).expect("key");

    let bytes = std::fs::read(&event).expect("read");
    let signed = SignedEvent::parse(&bytes).expect("pycose's message is a well-formed event");
    assert_eq!(signed.device().as_str(), "customs-rtm");
    let verified = signed
        .verify(&key)
        .expect("signature verifies")
        .decode()
        .expect("payload is a valid event");
    assert_eq!(verified.event().kind, Kind::Inspected);
    assert_eq!(verified.event().doc, Some("MRN-24NL0000000000001"));
    assert_eq!(
        verified.event().items.iter().collect::<Vec<_>>(),
        ["urn:epc:id:sscc:4012345.0000000017"]
    );
}
