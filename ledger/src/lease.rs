//! The sequencer's lease (issue #19): several `serve` processes may share one database, and
//! exactly one appends at a time. The lease is one row (holder, fencing token, expiry). Every
//! append renews it inside its own transaction, on the condition that the row still names
//! this process and its token; a process whose lease expired and was taken over fails that
//! condition and appends nothing, however long it was paused. Taking the lease over bumps the
//! token, and the new holder reloads the tree's head from the database before it appends, so
//! the log never forks.
//!
//! A process is identified by a random ID kept beside its log key (`<key>.holder`): a process
//! restarted on the same data directory is the same holder and takes its lease back at once;
//! another process waits until the lease expires ([`LEASE_MS`] after the last append).

use std::path::Path;

use crate::LedgerError;

/// How long a lease lasts after the append that renewed it.
pub const LEASE_MS: i64 = 5_000;

/// This process's holder ID: read from `<key file>.holder`, or made and kept there.
pub(crate) fn holder_id(key_file: &Path) -> Result<String, LedgerError> {
    let mut path = key_file.as_os_str().to_owned();
    path.push(".holder");
    let path = std::path::PathBuf::from(path);
    let io = |source| LedgerError::Io {
        path: path.clone(),
        source,
    };
    let make = || {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes).map_err(|e| {
            io(std::io::Error::other(format!(
                "no randomness for a holder ID: {e}"
            )))
        })?;
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let id = format!("{}-{hex}", host.trim());
        // Private, like everything in a data directory (the secrets test checks it).
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{id}").and_then(|()| f.sync_all()))
            .map_err(io)?;
        Ok(id)
    };
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Ok(_) => make(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => make(),
        Err(e) => Err(io(e)),
    }
}

/// The claim made at the start of an append transaction: renew our lease, or take an
/// expired one (bumping the token). Returns the token now held, or `None` when another
/// process holds a live lease.
pub(crate) const CLAIM: &str = "UPDATE sequencer SET \
     token = CASE WHEN holder = $1 AND token = $2 THEN token ELSE token + 1 END, \
     holder = $1, expires_ms = $3 \
     WHERE id = 1 AND (holder = $1 OR expires_ms < $4) \
     RETURNING token";

/// Inside an append transaction: renews the lease only if it still names this process and
/// token. No row changed: the lease was lost, and the transaction must append nothing.
pub(crate) const FENCE: &str =
    "UPDATE sequencer SET expires_ms = $3 WHERE id = 1 AND holder = $1 AND token = $2";

/// Who holds the lease, and until when.
pub(crate) const WHO: &str = "SELECT holder, expires_ms FROM sequencer WHERE id = 1";

/// Lets the lease go at a graceful stop: another process may append at once.
pub(crate) const RELEASE: &str =
    "UPDATE sequencer SET expires_ms = 0 WHERE id = 1 AND holder = $1 AND token = $2";
