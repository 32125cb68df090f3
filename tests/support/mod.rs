//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

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
}

impl Device {
    pub fn new(id: &str, seed: u8) -> Self {
        Self {
            id: provenance_event::DeviceId::new(id).expect("id"),
            key: provenance_event::ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
            seq: 0,
            prev: [0; 32],
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
