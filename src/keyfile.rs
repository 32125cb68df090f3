//! Operator key files: PKCS#8 PEM (RFC 8410), readable by OpenSSL and most tools, written
//! atomically with mode 0600 and never over an existing file (as the server's own secrets:
//! `provenance_ledger::write_private`).

use std::path::Path;

use anyhow::{Context as _, bail};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};

/// Writes `key` to a new file at `path` readable only by its owner.
pub fn write_new(path: &Path, key: &SigningKey) -> anyhow::Result<()> {
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the key as PKCS#8")?;
    match provenance_ledger::write_private(path, pem.as_bytes()) {
        Ok(()) => Ok(()),
        Err(provenance_ledger::LedgerError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            bail!(
                "{} already exists; keys are never overwritten. Choose another --out, or delete \
                 the old key first if you are sure it is not registered anywhere",
                path.display()
            )
        }
        Err(e) => Err(e).with_context(|| format!("writing the key {}", path.display())),
    }
}

/// Reads a key written by [`write_new`] (or by `openssl genpkey -algorithm ed25519`).
pub fn read(path: &Path) -> anyhow::Result<SigningKey> {
    // The mode is checked on the opened file, before its bytes are used.
    let text = provenance_ledger::read_private(path)?.with_context(|| {
        format!(
            "there is no key file {}; make one with `provenance keygen --out {}`",
            path.display(),
            path.display()
        )
    })?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an Ed25519 private key in PKCS#8 PEM ({e}); make one with `provenance keygen`",
            path.display()
        )
    })
}
