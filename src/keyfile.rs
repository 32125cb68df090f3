//! Operator key files: PKCS#8 PEM (RFC 8410), readable by OpenSSL and most tools, written with
//! mode 0600 and never over an existing file.

use std::io::Write as _;
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
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; keys are never overwritten. Choose another --out, or delete the \
             old key first if you are sure it is not registered anywhere",
            path.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    };
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads a key written by [`write_new`] (or by `openssl genpkey -algorithm ed25519`).
pub fn read(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the key file {}; make one with `provenance keygen --out {}`",
            path.display(),
            path.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} can be read by other users (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an Ed25519 private key in PKCS#8 PEM ({e}); make one with `provenance keygen`",
            path.display()
        )
    })
}
