//! A private Mosquitto for fault tests: its own port, config and persistence directory, so a
//! test can restart it or make it drop messages without touching the machine's shared broker.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Mosquitto process of this test's own.
pub struct Mosquitto {
    child: Option<Child>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    conf: PathBuf,
}

/// The Mosquitto binary, if installed (Debian's `mosquitto` package).
pub fn binary() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

impl Mosquitto {
    /// Starts one on a free port with `extra` configuration lines, persisting to its directory.
    pub fn start(bin: &std::path::Path, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // Started as root, Mosquitto drops to its own user, which must be able to write its
        // log and persistence file here.
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("chmod");
        }
        let port = super::free_port();
        let conf = dir.path().join("mosquitto.conf");
        let mut text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
             persistence_location {}/\nlog_dest file {}/mosquitto.log\n",
            dir.path().display(),
            dir.path().display()
        );
        for line in extra {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&conf, text).expect("conf");
        let mut m = Self {
            child: None,
            port,
            dir,
            conf,
        };
        m.child = Some(m.spawn(bin));
        m
    }

    fn spawn(&self, bin: &std::path::Path) -> Child {
        let child = Command::new(bin)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Stops it: SIGTERM (it saves its sessions and queued messages) or SIGKILL (it saves
    /// nothing since its last autosave).
    pub fn stop(&mut self, kill: bool) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg(if kill { "-KILL" } else { "-TERM" })
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port with the same persistence.
    pub fn restart(&mut self, bin: &std::path::Path) {
        self.stop(false);
        self.child = Some(self.spawn(bin));
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop(true);
    }
}
