//! `provenance simulate` against a real `provenance serve` (embedded broker): a small fleet
//! runs the firmware through whole journeys with every kind of fault, every event it signs is
//! acknowledged, the log verifies, and a simulated container has a full trace.

mod support;

use serde_json::Value;
use support::Server;

#[test]
fn a_simulated_fleet_delivers_every_event_through_faults() {
    let mut s = Server::start(&[]);
    let out = support::provenance()
        .args([
            "simulate",
            "--boards",
            "8",
            "--items",
            "4",
            "--speedup",
            "20000",
        ])
        .args([
            "--sea-days",
            "1",
            "--drain",
            "60",
            "--seed",
            "7",
            "--run",
            "321",
        ])
        // Faults on every shipment, so each path is taken.
        .args([
            "--offline",
            "0.5",
            "--reboots",
            "0.5",
            "--seal-breaks",
            "0.3",
        ])
        .args(["--heat", "0.3", "--drops", "0.3", "--holds", "0.5"])
        .args(["--server", &s.http, "--data"])
        .arg(s.dir.path())
        .args(["--mqtt-url", &format!("mqtt://127.0.0.1:{}", s.mqtt_port)])
        .output()
        .expect("simulate runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(stdout.contains("nothing lost"), "{stdout}");
    assert!(stdout.contains("0 still unacknowledged"), "{stdout}");
    for kind in [
        "commissioned",
        "measured",
        "packed",
        "sealed",
        "departed",
        "located",
        "arrived",
    ] {
        assert!(stdout.contains(kind), "{kind} missing:\n{stdout}");
    }

    // The log holds what the boards say was acknowledged, and every entry verifies.
    let trace: Value = reqwest::blocking::Client::new()
        .get(format!(
            "{}/api/v1/items/urn:epc:id:sscc:4012345.9321000000/trace",
            s.http
        ))
        .bearer_auth(s.token())
        .send()
        .expect("trace")
        .json()
        .expect("json");
    let kinds: Vec<&str> = trace["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event"]["kind"].as_str())
        .collect();
    for k in [
        "packed",
        "sealed",
        "departed",
        "located",
        "arrived",
        "inspected",
        "cleared",
        "handed_over",
    ] {
        assert!(
            kinds.contains(&k),
            "{k} not in the container's trace: {kinds:?}"
        );
    }
    // A cell inherits the container's journey.
    let cell: Value = reqwest::blocking::Client::new()
        .get(format!(
            "{}/api/v1/items/urn:epc:id:sgtin:4012345.012345.32110000000/trace",
            s.http
        ))
        .bearer_auth(s.token())
        .send()
        .expect("trace")
        .json()
        .expect("json");
    let inherited = cell["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| !e["inherited_from"].is_null())
        .count();
    assert!(inherited > 10, "{cell}");

    assert!(s.stop(), "{}", s.log());
    let v = support::provenance()
        .args(["verify", "--data"])
        .arg(s.dir.path())
        .output()
        .expect("verify");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// The README's first command: the server and a small journey together. `--once` stops it
/// after the journey; ports are this test's own.
#[test]
fn demo_runs_the_server_and_a_journey() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = |_| format!("127.0.0.1:{}", support::free_port());
    let out = support::provenance()
        .args(["demo", "--once", "--boards", "3", "--data"])
        .arg(dir.path())
        .args(["--http-listen", &port(0), "--mqtt-listen", &port(1)])
        .args(["--grpc-listen", &port(2)])
        .output()
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("the container   http://"), "{stdout}");
    // Anonymous visitors see public facts only: the demo hands its visitor a read token.
    assert!(stdout.contains("/login with the read token "), "{stdout}");
    assert!(stdout.contains("nothing lost"), "{stdout}");
    let v = support::provenance()
        .args(["verify", "--data"])
        .arg(dir.path())
        .output()
        .expect("verify");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// A tracker offline for two simulated weeks (at sea): its flash ring fills, it keeps the newest
/// events and says in the next one how many it dropped; everything else arrives, in order, and the
/// trace shows the gap as explained loss, not as tampering.
#[test]
fn a_week_offline_overflows_the_ring_and_says_so() {
    let mut s = Server::start(&[]);
    // Two weeks at sea, where trackers have no network (the ring holds about one); no other
    // faults.
    let stdout = s.simulate(
        "--boards 3 --items 4 --speedup 60000 --sea-days 14 --drain 120 \
                 --seed 11 --run 777 --offline 0 --reboots 0 --seal-breaks 0 --heat 0 \
                 --drops 0 --holds 0",
    );
    let dropped: u64 = stdout
        .lines()
        .find_map(|l| {
            let at = l.find(" dropped and reported")?;
            l[..at].rsplit(", ").next()?.trim().parse().ok()
        })
        .expect("dropped count");
    assert!(
        dropped > 0,
        "a week of positions does not fit the ring:\n{stdout}"
    );
    let trace: Value = reqwest::blocking::Client::new()
        .get(format!(
            "{}/api/v1/items/urn:epc:id:sscc:4012345.9777000000/trace",
            s.http
        ))
        .bearer_auth(s.token())
        .send()
        .expect("trace")
        .json()
        .expect("json");
    let gaps: Vec<&Value> = trace["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["chain"]["status"] == "gap")
        .collect();
    assert!(!gaps.is_empty(), "the dropped events leave a gap");
    assert!(
        gaps.iter().all(|g| g["chain"]["explained"] == true),
        "every gap is explained by `dropped`: {gaps:?}"
    );
    assert!(s.stop(), "{}", s.log());
}
