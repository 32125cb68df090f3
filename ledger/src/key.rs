//! The log's signing key: a C2SP signed-note key (`PRIVATE+KEY+name+id+key`) in a file of mode
//! 0600 in the data directory, created on first start; and the rules every secret file of the
//! server follows (the log key, the admin token, operator keys): written atomically, readable
//! only by its owner, and refused when anyone else can read it.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use provenance_tlog::Signer;

use crate::LedgerError;

/// Loads the log key from `path`, or creates one named `origin` if the file does not exist.
/// Returns the signer and whether it was created.
pub fn load_or_create(path: &Path, origin: &str) -> Result<(Signer, bool), LedgerError> {
    match read_private(path)? {
        Some(text) => {
            let signer = Signer::parse(text.trim()).map_err(|e| LedgerError::Key {
                path: path.to_path_buf(),
                problem: format!(
                    "{e}; if the file was cut short (a crash while it was written), restore it \
                     from a backup: a new key would not match the log's checkpoints"
                ),
            })?;
            Ok((signer, false))
        }
        None => {
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
    }
}

/// Writes a new secret file readable only by its owner, atomically: the bytes go to a
/// temporary file of mode 0600 in the same directory, which is synced and then linked under
/// `path`, and the directory is synced. A crash at any point leaves either no file at `path`
/// or the whole file, never a short one (a truncated admin token or key is worse than none:
/// the next start would make a new one). An existing file is never replaced: the link fails
/// with [`std::io::ErrorKind::AlreadyExists`] (as `rename` would not), so two processes
/// creating the same key at once cannot leave one of them with a key that is gone.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LedgerError::Io { path, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let tmp = temporary_name(&dir, path)?;
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })()
    .map_err(io(&tmp));
    let published = written.and_then(|()| publish(&tmp, path));
    // The temporary name goes whether or not the link was made (a leftover would hold the
    // secret under a name nobody looks at).
    let _ = std::fs::remove_file(&tmp);
    published?;
    sync_dir(&dir)
}

/// A name in `dir` nobody else uses: the target's name, the process ID and 64 random bits.
fn temporary_name(dir: &Path, path: &Path) -> Result<PathBuf, LedgerError> {
    let name = path
        .file_name()
        .map_or_else(|| "secret".into(), |n| n.to_string_lossy().into_owned());
    let nonce = getrandom::u64().map_err(|e| LedgerError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(format!("no randomness from the OS: {e}")),
    })?;
    Ok(dir.join(format!(".{name}.{}.{nonce:016x}.tmp", std::process::id())))
}

/// Makes `tmp` appear under `path`, unless `path` exists.
fn publish(tmp: &Path, path: &Path) -> Result<(), LedgerError> {
    let io = |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::hard_link(tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(io(e)),
        // A file system without hard links (FAT, some network and FUSE mounts): rename, which
        // is atomic too but would replace a file made since the check (a narrow race, only
        // there).
        Err(e) => {
            if path.exists() {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("it exists (and linking failed: {e})"),
                )));
            }
            std::fs::rename(tmp, path).map_err(io)
        }
    }
}

/// Syncs a directory, so that a name just linked into it survives a power cut.
fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| LedgerError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Reads a secret file (`None` when it does not exist), refusing one that users other than
/// its owner can read ([`LedgerError::NotPrivate`], which says how to fix it). The mode is
/// taken from the opened file, so the bytes returned are those of the file that was checked.
pub fn read_private(path: &Path) -> Result<Option<String>, LedgerError> {
    let io = |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    check_mode(path, &file.metadata().map_err(io)?)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io)?;
    Ok(Some(text))
}

/// Refuses a secret whose file mode lets the group or others read or write it.
fn check_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), LedgerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(LedgerError::NotPrivate {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn a_secret_is_written_whole_with_mode_0600_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("admin.token");
        write_private(&path, b"a-token\n").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"a-token\n");
        assert_eq!(mode(&path), 0o600);
        // No temporary file stays behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["admin.token"]);
        assert_eq!(read_private(&path).expect("read"), Some("a-token\n".into()));
    }

    #[test]
    fn a_secret_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.key");
        write_private(&path, b"first").expect("write");
        let e = write_private(&path, b"second").expect_err("exists");
        assert!(
            matches!(&e, LedgerError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }

    #[test]
    fn a_secret_goes_into_a_directory_made_for_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new/data/log.key");
        write_private(&path, b"k").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"k");
    }

    #[test]
    fn a_secret_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("admin.token");
        write_private(&path, b"t").expect("write");
        for bad in [0o644, 0o640, 0o604, 0o660, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).expect("chmod");
            let e = read_private(&path).expect_err("readable by others");
            let msg = e.to_string();
            assert!(
                matches!(e, LedgerError::NotPrivate { mode, .. } if mode == bad),
                "{msg}"
            );
            assert!(
                msg.contains(&format!("chmod 600 {}", path.display())),
                "{msg}"
            );
        }
        for good in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(good)).expect("chmod");
            assert_eq!(read_private(&path).expect("private"), Some("t".into()));
        }
        assert_eq!(
            read_private(&dir.path().join("missing")).expect("absent"),
            None
        );
    }

    #[test]
    fn a_world_readable_log_key_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.key");
        let (_, created) = load_or_create(&path, "example.org/log").expect("create");
        assert!(created);
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = load_or_create(&path, "example.org/log").expect_err("refused");
        assert!(e.to_string().contains("chmod 600"), "{e}");
    }
}
