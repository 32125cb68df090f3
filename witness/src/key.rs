//! The witness's signing key on disk: one line,
//! `PRIVATE+KEY+<name>+<hex key ID>+base64(0x04 ‖ Ed25519 seed)`, in a file of mode 0600,
//! written atomically on first start (the rules of `provenance_ledger::write_private` and
//! `read_private`, which refuse a file others can read).

use std::path::{Path, PathBuf};

use provenance_tlog::cosignature::CosignatureSigner;

/// The key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing it failed, or others can read it (the message says how to fix it).
    #[error(transparent)]
    File(#[from] provenance_ledger::LedgerError),
    /// It holds no witness key.
    #[error(
        "{path}: {problem}. It should hold one line, PRIVATE+KEY+name+id+key (a cosignature/v1 \
         key); if it was cut short, restore it from a backup: a new key is a new witness that \
         the logs' verifiers do not trust"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// No key file and no name to make one with.
    #[error(
        "there is no witness key at {0}; pass --name NAME (e.g. --name witness.example.org/w1) \
         to create one"
    )]
    NoName(PathBuf),
    /// The name given is not the key's.
    #[error(
        "the witness key in {path} is named {found:?}, not {given:?}; a witness keeps its \
         name (drop --name, or use another --key file for a new witness)"
    )]
    NameMismatch {
        /// The file.
        path: PathBuf,
        /// The key's name.
        found: String,
        /// The name given.
        given: String,
    },
    /// The name given cannot name a key.
    #[error("{0:?} cannot name a witness key: {1}")]
    BadName(String, provenance_tlog::NoteError),
    /// No randomness for a new key.
    #[error("no randomness from the OS for a new key: {0}")]
    Random(String),
}

/// Loads the witness key from `path`, or creates one named `name` if the file does not exist.
/// Returns the signer and whether it was created.
pub fn load_or_create(
    path: &Path,
    name: Option<&str>,
) -> Result<(CosignatureSigner, bool), KeyError> {
    match provenance_ledger::read_private(path)? {
        Some(text) => {
            let signer = CosignatureSigner::parse(text.trim()).map_err(|e| KeyError::Parse {
                path: path.to_path_buf(),
                problem: e.to_string(),
            })?;
            if let Some(given) = name {
                if given != signer.name() {
                    return Err(KeyError::NameMismatch {
                        path: path.to_path_buf(),
                        found: signer.name().to_string(),
                        given: given.to_string(),
                    });
                }
            }
            Ok((signer, false))
        }
        None => {
            let name = name.ok_or_else(|| KeyError::NoName(path.to_path_buf()))?;
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
            let signer = CosignatureSigner::new(name, &seed)
                .map_err(|e| KeyError::BadName(name.to_string(), e))?;
            provenance_ledger::write_private(path, format!("{}\n", signer.to_skey()).as_bytes())?;
            Ok((signer, true))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_private_and_keeps_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("witness.key");
        assert!(matches!(
            load_or_create(&path, None),
            Err(KeyError::NoName(_))
        ));
        let (made, created) = load_or_create(&path, Some("w.example/1")).expect("made");
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let (again, created) = load_or_create(&path, None).expect("loaded");
        assert!(!created);
        assert_eq!(again.vkey(), made.vkey());
        assert!(matches!(
            load_or_create(&path, Some("w.example/2")),
            Err(KeyError::NameMismatch { .. })
        ));
        assert!(matches!(
            load_or_create(&dir.path().join("other.key"), Some("bad name")),
            Err(KeyError::BadName(..))
        ));
    }
}
