//! `provenance keygen` and `provenance sign` as a user meets them: files, modes, messages.

mod support;

use std::os::unix::fs::PermissionsExt as _;

use provenance_event::{SignedEvent, message_hash};
use support::provenance;

fn run(args: &[&str]) -> std::process::Output {
    provenance().args(args).output().expect("binary runs")
}

#[test]
fn keygen_writes_0600_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k.pem");
    let k = key.to_str().expect("utf-8 path");
    let out = run(&["keygen", "--out", k]);
    assert!(out.status.success());
    let mode = std::fs::metadata(&key)
        .expect("exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&key)
            .expect("pem")
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    let out = run(&["keygen", "--out", k]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("never overwritten"));
}

#[test]
fn sign_chains_events_and_explains_mistakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    assert!(run(&["keygen", "--out", &p("k")]).status.success());
    let item = "urn:epc:id:sscc:4012345.0000000017";
    let out = run(&[
        "sign",
        "--key",
        &p("k"),
        "--device",
        "wh-7",
        "--seq",
        "1",
        "--kind",
        "arrived",
        "--item",
        item,
        "--sgln",
        "urn:epc:id:sgln:4012345.00001.0",
        "--out",
        &p("1.cose"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = std::fs::read(p("1.cose")).expect("written");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        hex::encode(message_hash(&first))
    );

    // seq 2 without --prev: told what to add.
    let out = run(&[
        "sign",
        "--key",
        &p("k"),
        "--device",
        "wh-7",
        "--seq",
        "2",
        "--kind",
        "handed_over",
        "--item",
        item,
        "--party",
        "urn:epc:id:pgln:4012345.00002",
        "--out",
        &p("2.cose"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--prev"));

    let out = run(&[
        "sign",
        "--key",
        &p("k"),
        "--device",
        "wh-7",
        "--seq",
        "2",
        "--prev-file",
        &p("1.cose"),
        "--kind",
        "handed_over",
        "--item",
        item,
        "--party",
        "urn:epc:id:pgln:4012345.00002",
        "--reading",
        "temperature=4500",
        "--out",
        &p("2.cose"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = std::fs::read(p("2.cose")).expect("written");
    let signed = SignedEvent::parse(&second).expect("well-formed");
    assert_eq!(signed.device().as_str(), "wh-7");

    // handed_over without --party: the library's rule, in words.
    let out = run(&[
        "sign",
        "--key",
        &p("k"),
        "--device",
        "wh-7",
        "--seq",
        "3",
        "--prev-file",
        &p("2.cose"),
        "--kind",
        "handed_over",
        "--item",
        item,
        "--out",
        &p("3.cose"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("handed_over event needs party"));

    // A misspelt kind gets a suggestion.
    let out = run(&[
        "sign",
        "--key",
        &p("k"),
        "--device",
        "wh-7",
        "--seq",
        "1",
        "--kind",
        "clear",
        "--item",
        item,
        "--out",
        &p("x.cose"),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Did you mean `cleared`?"));

    // An out-of-range reading names the range.
    let out = run(&[
        "sign",
        "--key",
        &p("k"),
        "--device",
        "wh-7",
        "--seq",
        "1",
        "--kind",
        "measured",
        "--item",
        item,
        "--reading",
        "soc=1500",
        "--out",
        &p("x.cose"),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside 0..=1000"));
}

#[test]
fn sign_refuses_a_key_others_can_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k");
    assert!(
        run(&["keygen", "--out", key.to_str().expect("utf-8")])
            .status
            .success()
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(&[
        "sign",
        "--key",
        key.to_str().expect("utf-8"),
        "--device",
        "a",
        "--seq",
        "1",
        "--kind",
        "inspected",
        "--item",
        "urn:epc:id:sscc:4012345.0000000017",
        "--out",
        dir.path().join("e").to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}
