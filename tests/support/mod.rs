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
