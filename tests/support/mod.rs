//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

pub mod delivery;
pub mod journey;
pub mod mosquitto;
pub mod postgres;
pub mod tamper;
pub mod witness;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `provenance` binary under test.
pub fn provenance() -> Command {
    Command::new(env!("CARGO_BIN_EXE_provenance"))
}

/// Whether tests that need tools installed by `scripts/test-setup` must run rather than skip:
/// always in CI, or when `PROVENANCE_REQUIRE_ALL` is set.
pub fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("PROVENANCE_REQUIRE_ALL").is_some()
}

/// Skips (returns `None`) or fails when an external tool is missing, as `required()` says.
pub fn external<T>(what: &str, found: Option<T>) -> Option<T> {
    match found {
        Some(t) => Some(t),
        None if required() => panic!("{what} is required here; run scripts/test-setup"),
        None => {
            eprintln!("SKIPPED: {what} not installed; run scripts/test-setup to include this test");
            None
        }
    }
}

/// A Python interpreter that has the packages of tests/python/requirements.txt.
pub fn python_with(module: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("PROVENANCE_PYTHON").map(PathBuf::from),
        Some(root().join(".venv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Path::new(p).exists()
            && Command::new(p)
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

/// Builds tests/go/tlogcheck (Go's sumdb note and tlog packages, from Debian's
/// golang-golang-x-mod-dev) and returns the binary, or `None` when Go is not installed.
pub fn go_tlogcheck() -> Option<PathBuf> {
    let gopath = Path::new("/usr/share/gocode");
    if !gopath.join("src/golang.org/x/mod/sumdb/note").exists() {
        return None;
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tlogcheck");
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg("./tests/go/tlogcheck")
        .current_dir(root())
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath)
        .env(
            "GOCACHE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        )
        .status()
        .ok()?;
    status.success().then_some(out)
}

/// Signs events as a device would, keeping its seq and hash chain.
pub struct Device {
    pub id: provenance_event::DeviceId,
    pub key: provenance_event::ed25519_dalek::SigningKey,
    pub seq: u64,
    pub prev: [u8; 32],
    /// Reported in the next event (then cleared): events the device says it dropped.
    pub dropped: Option<u64>,
}

impl Device {
    pub fn new(id: &str, seed: u8) -> Self {
        Self {
            id: provenance_event::DeviceId::new(id).expect("id"),
            key: provenance_event::ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
            seq: 0,
            prev: [0; 32],
            dropped: None,
        }
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The next event of this device about `items`.
    pub fn event(
        &mut self,
        kind: provenance_event::Kind,
        items: &[&str],
        parent: Option<&str>,
        time: i64,
    ) -> Vec<u8> {
        use provenance_event::{Draft, Epc, Kind, Quantity, sign_event};
        self.seq += 1;
        let items: Vec<Epc> = items.iter().map(|s| Epc::parse(s).expect("epc")).collect();
        let parent = parent.map(|p| Epc::parse(p).expect("epc"));
        let party = Epc::parse("urn:epc:id:pgln:4012345.00002").expect("epc");
        let mut d = Draft::new(self.seq, self.prev, time, kind, &items);
        d.parent = parent.as_ref();
        d.dropped = self.dropped.take();
        if kind == Kind::HandedOver {
            d.party = Some(&party);
        }
        if matches!(kind, Kind::Measured | Kind::Excursion) {
            d.readings
                .set(Quantity::Temperature, 21_000)
                .expect("range");
        }
        let mut buf = vec![0u8; 4096];
        let n = sign_event(&self.key, &self.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = provenance_event::message_hash(&buf);
        buf
    }
}

pub fn sgtin(n: u64) -> String {
    format!("urn:epc:id:sgtin:4012345.012345.{n}")
}

/// Copies a directory's files (not recursive): a pristine data dir for each tampering case.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `provenance serve` process on free ports, stopped (SIGINT, then kill) when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub dir: tempfile::TempDir,
    pub http: String,
    pub mqtt_port: u16,
    pub grpc: String,
}

impl Server {
    /// Starts `provenance serve` with the embedded broker, or with `extra` flags.
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, extra)
    }

    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let ports = (free_port(), free_port(), free_port());
        Self::start_on(dir, ports, extra)
    }

    /// Kills the process at once (SIGKILL: no graceful path, a crash).
    pub fn crash(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same data directory and ports, after a crash or a stop.
    pub fn restart(self, extra: &[&str]) -> Self {
        let port = |url: &str| -> u16 {
            url.rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port")
        };
        let ports = (port(&self.http), self.mqtt_port, port(&self.grpc));
        let mut old = std::mem::ManuallyDrop::new(self);
        let _ = old.child.kill();
        let _ = old.child.wait();
        // A Drop type gives its fields up only this way; what replaces the directory is empty.
        let dir = std::mem::replace(&mut old.dir, tempfile::tempdir().expect("tempdir"));
        Self::start_on(dir, ports, extra)
    }

    pub fn start_on(dir: tempfile::TempDir, (h, m, g): (u16, u16, u16), extra: &[&str]) -> Self {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("serve.log"))
            .expect("log file");
        let child = provenance()
            .arg("serve")
            .arg("--data")
            .arg(dir.path())
            .args(["--http-listen", &format!("127.0.0.1:{h}")])
            .args(["--mqtt-listen", &format!("127.0.0.1:{m}")])
            .args(["--grpc-listen", &format!("127.0.0.1:{g}")])
            .args(extra)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("serve starts");
        let scheme = if extra.contains(&"--tls-cert") {
            "https"
        } else {
            "http"
        };
        let mut s = Self {
            child,
            dir,
            http: format!("{scheme}://127.0.0.1:{h}"),
            mqtt_port: m,
            grpc: format!("http://127.0.0.1:{g}"),
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        if self.http.starts_with("https:") {
            // It prints its addresses once everything serves.
            while std::time::Instant::now() < deadline {
                if self.log().contains("Provenance is running.") {
                    return;
                }
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("serve exited ({status}):\n{}", self.log());
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            panic!("serve did not come up:\n{}", self.log());
        }
        // The HTTP port is bound before the server is ready; a 200 means it serves.
        while std::time::Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(self.http.trim_start_matches("http://"))
            {
                use std::io::{Read as _, Write as _};
                let _ = s.write_all(b"GET /api/v1/checkpoint HTTP/1.0\r\n\r\n");
                let mut head = [0u8; 12];
                if s.read_exact(&mut head).is_ok() && head.ends_with(b"200") {
                    return;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("serve did not come up:\n{}", self.log());
    }

    /// Runs `provenance simulate` with `flags` against this server (its HTTP API and its MQTT
    /// port), waits for it and returns what it printed; it must succeed.
    pub fn simulate(&self, flags: &str) -> String {
        let out = provenance()
            .arg("simulate")
            .args(flags.split_whitespace())
            .args(["--server", &self.http, "--data"])
            .arg(self.dir.path())
            .args([
                "--mqtt-url",
                &format!("mqtt://127.0.0.1:{}", self.mqtt_port),
            ])
            .output()
            .expect("simulate runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// The server process's peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .map_or(0, |kib| kib / 1024)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// An HTTP client that reads as an authority (the admin token reads as one): for tests
    /// about what the views show; `web/tests/access.rs` and `tests/access_tiers.rs` look at
    /// who may see them.
    pub fn http(&self) -> reqwest::Client {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.token()))
                .expect("a token is a header value"),
        );
        reqwest::Client::builder()
            .default_headers(h)
            .build()
            .expect("client")
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("admin.token"))
            .expect("token")
            .trim()
            .to_string()
    }

    /// SIGINT, then wait: the graceful path. Returns whether it exited 0.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A self-signed certificate for localhost and 127.0.0.1, made as `serve --help` says.
pub fn certificate(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    external("openssl", which("openssl"))?;
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "365", "-subj", "/CN=provenance"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((cert, key))
}

pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.exists())
    })
}
