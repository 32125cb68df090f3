//! The log's signing key: a C2SP signed-note key (`PRIVATE+KEY+name+id+key`) in a file of mode
//! 0600 in the data directory, created on first start.

use std::io::Write as _;
use std::path::Path;

use provenance_tlog::Signer;

use crate::LedgerError;

/// Loads the log key from `path`, or creates one named `origin` if the file does not exist.
/// Returns the signer and whether it was created.
pub fn load_or_create(path: &Path, origin: &str) -> Result<(Signer, bool), LedgerError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            check_private(path)?;
            let signer = Signer::parse(text.trim()).map_err(|e| LedgerError::Key {
                path: path.to_path_buf(),
                problem: e.to_string(),
            })?;
            Ok((signer, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| LedgerError::Key {
                path: path.to_path_buf(),
                problem: format!("no randomness from the OS: {e}"),
            })?;
            let signer = Signer::new(origin, &seed).map_err(|e| LedgerError::Key {
                path: path.to_path_buf(),
                problem: format!("origin {origin:?} cannot name a key: {e}"),
            })?;
            write_private(path, format!("{}\n", signer.to_skey()).as_bytes())?;
            Ok((signer, true))
        }
        Err(e) => Err(LedgerError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

/// Writes a new secret file readable only by its owner, and syncs it.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let io = |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn check_private(path: &Path) -> Result<(), LedgerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|source| LedgerError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(LedgerError::Key {
                path: path.to_path_buf(),
                problem: format!(
                    "readable by other users (mode {:o}); run `chmod 600 {}`",
                    mode & 0o777,
                    path.display()
                ),
            });
        }
    }
    Ok(())
}
