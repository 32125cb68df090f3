//! An operator's day with the command line against a running server: make a key, register
//! it, sign and submit an inspection, see duplicates and revocation handled.

mod support;

use support::{Server, provenance};

fn run(args: &[&str]) -> (bool, String) {
    let o = provenance().args(args).output().expect("runs");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn register_sign_submit_revoke() {
    let s = Server::start(&[]);
    let data = s.dir.path().to_str().expect("utf-8").to_string();
    let work = tempfile::tempdir().expect("tempdir");
    let p = |n: &str| work.path().join(n).to_str().expect("utf-8").to_string();
    let srv = ["--server", s.http.as_str(), "--data", data.as_str()];

    let (ok, out) = run(&["keygen", "--out", &p("customs.key")]);
    assert!(ok, "{out}");
    let public = out.lines().next().expect("public key").trim().to_string();

    let mut args = vec![
        "device",
        "register",
        "--id",
        "customs-rtm",
        "--role",
        "customs",
        "--org",
        "Dutch Customs",
        "--public-key",
        &public,
    ];
    args.extend_from_slice(&srv);
    let (ok, out) = run(&args);
    assert!(ok, "{out}");
    assert!(out.contains("mqtt_password "), "{out}");
    let (ok, out) = run(&[
        "device",
        "register",
        "--id",
        "customs-rtm",
        "--role",
        "customs",
        "--org",
        "x",
        "--public-key",
        &public,
        "--server",
        &s.http,
        "--data",
        &data,
    ]);
    assert!(!ok && out.contains("already registered"), "{out}");
    let (ok, out) = run(&[
        "device",
        "register",
        "--id",
        "x",
        "--role",
        "customs",
        "--org",
        "x",
        "--public-key",
        &public,
        "--server",
        &s.http,
        "--token-file",
        &p("nope"),
    ]);
    assert!(!ok && out.contains("--token-file"), "{out}");

    let item = "urn:epc:id:sscc:4012345.0000000017";
    let (ok, out) = run(&[
        "sign",
        "--key",
        &p("customs.key"),
        "--device",
        "customs-rtm",
        "--seq",
        "1",
        "--kind",
        "inspected",
        "--item",
        item,
        "--doc",
        "MRN-1",
        "--out",
        &p("1.cose"),
    ]);
    assert!(ok, "{out}");
    let mut submit = vec!["submit", &p("1.cose")]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    submit.extend(srv.iter().map(|s| s.to_string()));
    let submit_ref: Vec<&str> = submit.iter().map(String::as_str).collect();
    let (ok, out) = run(&submit_ref);
    assert!(ok && out.contains("anchored at log index 1"), "{out}");
    let (ok, out) = run(&submit_ref);
    assert!(
        ok && out.contains("already anchored at log index 1"),
        "{out}"
    );

    // The registry is a partner's read: the admin token (from --data) reads it.
    let (ok, out) = run(&["device", "list", "--server", &s.http, "--data", &data]);
    assert!(
        ok && out.contains("customs-rtm")
            && out.contains("Dutch Customs")
            && out.contains("active"),
        "{out}"
    );

    let (ok, out) = run(&[
        "device",
        "revoke",
        "--id",
        "customs-rtm",
        "--reason",
        "key lost",
        "--server",
        &s.http,
        "--data",
        &data,
    ]);
    assert!(ok, "{out}");
    let (ok, out) = run(&[
        "sign",
        "--key",
        &p("customs.key"),
        "--device",
        "customs-rtm",
        "--seq",
        "2",
        "--prev-file",
        &p("1.cose"),
        "--kind",
        "cleared",
        "--item",
        item,
        "--out",
        &p("2.cose"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["submit", &p("2.cose"), "--server", &s.http, "--data", &data]);
    assert!(!ok && out.contains("rejected: revoked"), "{out}");
    let (_, out) = run(&["device", "list", "--server", &s.http, "--data", &data]);
    assert!(out.contains("revoked at"), "{out}");
    // Without a token the registry is refused, saying which tier it needs.
    let (ok, out) = run(&["device", "list", "--server", &s.http]);
    assert!(!ok && out.contains("needs the partner tier"), "{out}");

    let (ok, out) = run(&["device", "list", "--server", "http://127.0.0.1:9"]);
    assert!(
        !ok && out.contains("is `provenance serve` running?"),
        "{out}"
    );
}

/// Place names through the command line: set (admin token from --data), list (public), a
/// wrong GLN refused with what to give instead, remove.
#[test]
fn places_are_named_listed_and_removed() {
    let mut s = Server::start(&[]);
    let data = s.dir.path().to_str().expect("utf-8").to_string();
    let srv = ["--server", s.http.as_str(), "--data", data.as_str()];
    let with = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend_from_slice(&srv);
        run(&v)
    };
    let (ok, out) = with(&[
        "places",
        "set",
        "urn:epc:id:sgln:4012345.00007.7",
        "Port of Felixstowe, berth 7",
    ]);
    assert!(ok && out.contains("4012345.00007.7 is now called"), "{out}");
    let (ok, out) = with(&["places", "set", "Felixstowe", "Port"]);
    assert!(!ok && out.contains("SGLN or PGLN EPC URI"), "{out}");
    let (ok, out) = with(&["places", "list"]);
    assert!(ok && out.contains("Port of Felixstowe, berth 7"), "{out}");
    let (ok, out) = with(&["places", "remove", "urn:epc:id:sgln:4012345.00007.7"]);
    assert!(ok, "{out}");
    let (ok, out) = with(&["places", "list"]);
    assert!(ok && out.contains("no names set"), "{out}");
    let (ok, out) = with(&["places", "remove", "urn:epc:id:sgln:4012345.00007.7"]);
    assert!(!ok && out.contains("no name is set"), "{out}");
    assert!(s.stop());
}

/// Read grants through the command line: a token printed once, listed without it, refused
/// with what to type instead, revoked by organisation.
#[test]
fn read_grants_are_made_listed_and_revoked() {
    let mut s = Server::start(&[]);
    let data = s.dir.path().to_str().expect("utf-8").to_string();
    let srv = ["--server", s.http.as_str(), "--data", data.as_str()];
    let with = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend_from_slice(&srv);
        run(&v)
    };
    let org = "Second Life Recycling urn:epc:id:pgln:4012345.00009";
    let (ok, out) = with(&[
        "access",
        "grant",
        "--org",
        org,
        "--tier",
        "partner",
        "--items",
        "urn:epc:id:sgtin:4012345.012345.",
    ]);
    assert!(ok && out.contains("at tier partner"), "{out}");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("token "))
        .expect("the token, once")
        .to_string();
    let (ok, out) = with(&["access", "grant", "--org", org, "--tier", "owner"]);
    assert!(!ok && out.contains("public, partner or authority"), "{out}");
    let (ok, out) = with(&["access", "list"]);
    assert!(
        ok && out.contains("partner") && out.contains("active"),
        "{out}"
    );
    assert!(!out.contains(&token), "never the token again: {out}");
    let (ok, out) = with(&["access", "revoke", "--org", org]);
    assert!(ok && out.contains("revoked grant"), "{out}");
    let (ok, out) = with(&["access", "list"]);
    assert!(ok && out.contains("revoked"), "{out}");
    let (ok, out) = with(&["access", "revoke", "--org", org]);
    assert!(!ok && out.contains("no active grant"), "{out}");
    assert!(s.stop());
}
