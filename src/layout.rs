//! The data directory of `provenance serve`: one place for its file names.

use std::path::{Path, PathBuf};

/// A data directory.
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new(root: &Path) -> Self {
        Self(root.to_path_buf())
    }

    pub fn root(&self) -> &Path {
        &self.0
    }

    /// The SQLite database of the ledger.
    pub fn database_file(&self) -> PathBuf {
        self.0.join("ledger.db")
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.database_file().display())
    }

    /// The admin token for writes and registry changes (mode 0600).
    pub fn admin_token(&self) -> PathBuf {
        self.0.join("admin.token")
    }

    /// The log's signing key (C2SP note key, mode 0600).
    pub fn log_key(&self) -> PathBuf {
        self.0.join("log.key")
    }
}
