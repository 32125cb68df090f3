//! The newcomer's path (issue #18): `provenance demo` tells `provenance simulate` where its
//! server and broker are (its ports move when Mosquitto holds 1883), SIGTERM to the demo stops
//! its `serve` child and frees its ports, and a simulate whose broker never acknowledges says
//! so instead of waiting in silence.

mod support;

use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `provenance demo`, stopped (SIGTERM, then SIGKILL) if a test fails with it up.
struct Demo {
    child: Child,
    dir: tempfile::TempDir,
}

impl Demo {
    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("demo")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("demo.err")).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the demo to exit, at most `limit`.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal("TERM");
            if self.wait(Duration::from_secs(20)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// Starts the demo on free ports (port 0: the demo picks them) and waits for its banner.
fn start_demo() -> Demo {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = std::fs::File::create(dir.path().join("demo.err")).expect("log file");
    let mut child = support::provenance()
        .arg("demo")
        .arg("--data")
        .arg(dir.path().join("demo"))
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--mqtt-listen", "127.0.0.1:0"])
        .args(["--grpc-listen", "127.0.0.1:0"])
        .args(["--boards", "2"])
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut demo = Demo { child, dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains("is on its way") {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the demo ended before its banner:\n{seen}\n{}", demo.log())
            }
        }
        if let Some(status) = demo.child.try_wait().expect("try_wait") {
            panic!("the demo exited ({status}):\n{seen}\n{}", demo.log());
        }
        assert!(
            Instant::now() < deadline,
            "no banner within 60 s:\n{seen}\n{}",
            demo.log()
        );
    }
    // Keep reading, so the demo never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    demo
}

/// The addresses the demo's endpoints file names: http, mqtt, grpc.
fn endpoints(data: &Path) -> [SocketAddr; 3] {
    let text = std::fs::read_to_string(data.join("endpoints.json")).expect("endpoints.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let addr = |name: &str, scheme: &str| -> SocketAddr {
        v[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .trim_start_matches(scheme)
            .parse()
            .unwrap_or_else(|e| panic!("{name} in {text}: {e}"))
    };
    [
        addr("http", "http://"),
        addr("mqtt", "mqtt://"),
        addr("grpc", ""),
    ]
}

#[test]
fn sigterm_stops_the_demo_and_its_server_and_simulate_finds_the_demo() {
    let mut demo = start_demo();
    let data = demo.data();
    let ports = endpoints(&data);
    for addr in ports {
        assert!(
            TcpListener::bind(addr).is_err(),
            "the demo's server should hold {addr}"
        );
    }

    // `simulate` with --data alone finds the demo's server and broker (not 127.0.0.1:1883,
    // where Mosquitto runs on these machines).
    let out = support::provenance()
        .arg("simulate")
        .arg("--data")
        .arg(&data)
        .args(["--boards", "2", "--items", "1", "--speedup", "50000"])
        .args(["--sea-days", "0.1", "--drain", "60", "--no-faults"])
        .args(["--run", "42"])
        .env_remove("PROVENANCE_SERVER")
        .output()
        .expect("simulate runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\ndemo:\n{}",
        demo.log()
    );
    assert!(stdout.contains("nothing lost"), "{stdout}");
    assert!(
        stderr.contains(&format!("mqtt://{}", ports[1])),
        "simulate says which broker it took from the demo: {stderr}"
    );

    // SIGTERM: the demo stops its server, which frees every port, and the file goes.
    demo.signal("TERM");
    let status = demo.wait(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "the demo ended with {status:?} after SIGTERM:\n{}",
        demo.log()
    );
    for addr in ports {
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpListener::bind(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "{addr} is still held 5 s after the demo ended:\n{}",
                demo.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(
        !data.join("endpoints.json").exists(),
        "the demo removes its endpoints file when it ends"
    );
    let log = demo.log();
    assert!(log.contains("SIGTERM: stopping"), "{log}");
    assert!(
        log.contains("stopped."),
        "serve took its graceful path: {log}"
    );
}

/// Boards publishing to a broker that never answers (the port is open, nobody speaks MQTT
/// there): simulate says that no acknowledgement came and what to pass, rather than wait out
/// --drain in silence.
#[test]
fn simulate_says_when_no_acknowledgement_comes() {
    let server = support::Server::start(&[]);
    // Connections queue in the backlog and are never answered.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let out = support::provenance()
        .arg("simulate")
        .args(["--server", &server.http, "--data"])
        .arg(server.dir.path())
        .args(["--mqtt-url", &format!("mqtt://{silent_addr}")])
        .args(["--boards", "2", "--items", "1", "--speedup", "20000"])
        .args(["--sea-days", "0.5", "--drain", "3", "--no-faults"])
        .args(["--run", "43"])
        .output()
        .expect("simulate runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nothing was acknowledged: {stderr}");
    let hint = format!("no acknowledgement from the broker at mqtt://{silent_addr} after 5 s");
    assert!(stderr.contains(&hint), "{stderr}");
    assert!(stderr.contains("--mqtt-url"), "{stderr}");
    assert!(stderr.contains("endpoints.json"), "{stderr}");
    drop(silent);
}
