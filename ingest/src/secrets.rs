//! Secrets: the admin token (a file of mode 0600 in the data directory) and device MQTT
//! passwords (given once at registration; only their hash is kept). Shared by the HTTP and
//! gRPC admin surfaces and the embedded broker's authentication hook.

use sha2::{Digest, Sha256};

/// A fresh random secret, URL-safe base64 of 24 bytes.
pub fn new_secret() -> Result<String, getrandom::Error> {
    use base64::Engine as _;
    let mut b = [0u8; 24];
    getrandom::fill(&mut b)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// How a password is kept: `sha256:<hex>`. The secrets are random and 192 bits long, so a
/// fast hash does not help anyone guess them, and a broker can check thousands of connecting
/// devices a second.
pub fn password_hash(password: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(password.as_bytes()))
    )
}

/// Compares in time independent of where the strings differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `password` matches a hash made by [`password_hash`].
pub fn password_matches(password: &str, hash: &str) -> bool {
    constant_time_eq(password_hash(password).as_bytes(), hash.as_bytes())
}
