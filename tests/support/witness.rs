//! A `provenance witness` process on a free port, for the tests that need independent
//! witnesses beside a log.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// A `provenance witness` process, killed when dropped.
pub struct WitnessProcess {
    child: Child,
    pub url: String,
    pub dir: PathBuf,
    port: u16,
    extra: Vec<String>,
}

impl WitnessProcess {
    /// Starts `provenance witness --listen 127.0.0.1:PORT --data DIR EXTRA…` and waits until
    /// it answers `GET /key`.
    pub fn start(dir: &Path, port: u16, extra: &[&str]) -> Self {
        let mut w = Self {
            child: spawn(dir, port, extra),
            url: format!("http://127.0.0.1:{port}"),
            dir: dir.to_path_buf(),
            port,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        w.wait_ready();
        w
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("witness exited ({status}):\n{}", output(&self.dir));
            }
            if reqwest::blocking::get(format!("{}/key", self.url)).is_ok_and(|r| r.status() == 200)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        panic!("witness did not come up:\n{}", output(&self.dir));
    }

    /// Its cosignature vkey, as served at `/key`.
    pub fn vkey(&self) -> String {
        reqwest::blocking::get(format!("{}/key", self.url))
            .and_then(|r| r.text())
            .expect("GET /key")
            .trim()
            .to_string()
    }

    /// SIGKILL: no graceful path, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same directory, port and flags (after [`WitnessProcess::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        self.child = spawn(&self.dir, self.port, &extra);
        self.wait_ready();
    }

    /// What it printed.
    pub fn output(&self) -> String {
        output(&self.dir)
    }
}

fn spawn(dir: &Path, port: u16, extra: &[&str]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("witness.log"))
        .expect("log file");
    super::provenance()
        .arg("witness")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data")
        .arg(dir)
        .args(extra)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("witness starts")
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the witness in `dir` printed.
pub fn output(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("witness.log")).unwrap_or_default()
}
