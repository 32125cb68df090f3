//! Faults while a fleet publishes: the server is killed with SIGKILL at random moments and
//! started again on the same data and ports. The boards (the real firmware, in the simulator)
//! re-send what was not acknowledged; in the end every event is anchored exactly once and the
//! log verifies.

mod support;

use std::time::Duration;

use support::Server;
use support::postgres::{Postgres, postgres_bin};

/// A number from the clock, for the moments of the crashes.
fn jitter(max_ms: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) % max_ms
}

fn number_before(text: &str, word: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let at = l.find(word)?;
            l[..at].split_whitespace().last()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no number before {word:?} in:\n{text}"))
}

/// Starts a simulated fleet of `boards` (no injected faults) against `s`, in the background.
fn start_fleet(s: &Server, boards: u64, run: &str, seed: &str) -> std::process::Child {
    support::provenance()
        .args(["simulate", "--boards", &boards.to_string(), "--items", "4"])
        .args(["--speedup", "6000", "--sea-days", "1", "--drain", "120"])
        .args(["--run", run, "--seed", seed, "--no-faults"])
        .args(["--server", &s.http, "--data"])
        .arg(s.dir.path())
        .args(["--mqtt-url", &format!("mqtt://127.0.0.1:{}", s.mqtt_port)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("simulate starts")
}

/// Exactly once: the log holds the registrations (the boards and two operators), every
/// device event the boards saw acknowledged and every operator event, and nothing else.
fn assert_exactly_once(s: &Server, stdout: &str, boards: u64, peak_mib: u64) {
    let acknowledged = number_before(stdout, "acknowledged (anchored)");
    let operator = number_before(stdout, "operator events");
    let cp = reqwest::blocking::get(format!("{}/api/v1/checkpoint", s.http))
        .expect("checkpoint")
        .text()
        .expect("text");
    let size: u64 = cp
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("size");
    assert_eq!(size, boards + 2 + acknowledged + operator, "{stdout}\n{cp}");
    let signed = number_before(stdout, "events by boards");
    eprintln!(
        "{boards} boards signed {signed} events: {acknowledged} acknowledged and anchored once, \
         {operator} operator events, tree size {size} exact (0 lost, 0 duplicated); server peak \
         RSS {peak_mib} MiB"
    );
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    let mut s = Server::start(&[]);
    let boards: u64 = 6;
    let sim = start_fleet(&s, boards, "654", "3");
    let mut crashes = 0;
    let mut peak = 0;
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(4_000 + jitter(6_000)));
        peak = peak.max(s.peak_rss_mib());
        s.crash();
        crashes += 1;
        std::thread::sleep(Duration::from_millis(jitter(1_000)));
        s = s.restart(&[]);
    }
    let out = sim.wait_with_output().expect("simulate ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(stdout.contains("nothing lost"), "{stdout}");
    assert_eq!(crashes, 3);
    assert_eq!(
        s.log().matches("Provenance is running.").count(),
        4,
        "started once and after each crash:\n{}",
        s.log()
    );

    assert_exactly_once(&s, &stdout, boards, peak.max(s.peak_rss_mib()));
    assert!(s.stop(), "{}", s.log());
    let v = support::provenance()
        .args(["verify", "--data"])
        .arg(s.dir.path())
        .output()
        .expect("verify");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

/// PostgreSQL is restarted twice in immediate mode (no checkpoint: a crash) while a simulated
/// fleet publishes through a server that keeps its log there. Appends fail while it is down,
/// nothing is acknowledged then, the boards send again, and every event ends up anchored once.
#[test]
fn a_postgres_restart_loses_nothing_and_duplicates_nothing() {
    let Some(bin) = support::external("PostgreSQL's server binaries", postgres_bin()) else {
        return;
    };
    let pg = Postgres::start(bin);
    let mut s = Server::start(&["--database-url", &pg.url()]);
    let boards: u64 = 6;
    let sim = start_fleet(&s, boards, "655", "5");
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(5_000 + jitter(8_000)));
        pg.ctl(&["-m", "immediate", "restart", "-w"]);
    }
    let out = sim.wait_with_output().expect("simulate ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(
        s.log()
            .contains("terminating connection due to immediate shutdown"),
        "the server's connections should have seen the restarts:\n{}",
        s.log()
    );
    assert_exactly_once(&s, &stdout, boards, s.peak_rss_mib());
    assert!(s.stop(), "{}", s.log());
    let key = std::fs::read_to_string(s.dir.path().join("log.key")).ok();
    assert!(key.is_some(), "the log key stays in the data directory");
    let v = support::provenance()
        .args(["verify", "--database-url", &pg.url(), "--data"])
        .arg(s.dir.path())
        .output()
        .expect("verify");
    assert!(
        v.status.success(),
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
}
