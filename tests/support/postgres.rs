//! A PostgreSQL of a test's own, for restarts and for settings (TLS) the machine's shared
//! server does not have.
#![allow(dead_code)]

/// A PostgreSQL of this test's own (initdb in a temporary directory, on a free port), so it
/// can be restarted without touching the machine's shared server.
pub struct Postgres {
    bin: std::path::PathBuf,
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// Extra server settings (`-c name=value`), e.g. for TLS.
    settings: Vec<String>,
}

pub fn postgres_bin() -> Option<std::path::PathBuf> {
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("pg_ctl").exists() && b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

impl Postgres {
    /// Runs a PostgreSQL tool as the `postgres` user when we are root (it refuses root).
    fn tool(&self, name: &str) -> std::process::Command {
        let exe = self.bin.join(name);
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
        if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            std::process::Command::new(exe)
        }
    }

    pub fn start(bin: std::path::PathBuf) -> Self {
        Self::start_with(bin, &[])
    }

    /// Starts one with extra server settings (`name=value`).
    pub fn start_with(bin: std::path::PathBuf, settings: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("chmod");
        }
        let pg = Self {
            bin,
            dir,
            port: super::free_port(),
            settings: settings.to_vec(),
        };
        let data = pg.dir.path().join("data");
        let ok = pg
            .tool("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("initdb");
        assert!(ok.success(), "initdb failed");
        pg.ctl(&["start", "-w"]);
        pg
    }

    pub fn ctl(&self, args: &[&str]) {
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        for s in &self.settings {
            opts.push_str(" -c ");
            opts.push_str(s);
        }
        let ok = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-o", &opts, "-l"])
            .arg(self.dir.path().join("log"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("pg_ctl");
        assert!(ok.success(), "pg_ctl {args:?} failed");
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .status();
    }
}
