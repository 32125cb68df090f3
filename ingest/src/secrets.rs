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

/// The fewest characters an admin token may have: as many as [`new_secret`] makes (24 random
/// bytes in base64, 192 bits). A shorter token in `admin.token` is most likely one cut short
/// by a crash, and an empty one would match a request without any token.
pub const MIN_TOKEN_CHARS: usize = 32;

/// Why an admin token cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Nothing but white space.
    #[error("it is empty")]
    Empty,
    /// Fewer than [`MIN_TOKEN_CHARS`] characters.
    #[error("it has {0} characters, fewer than the {MIN_TOKEN_CHARS} a token needs")]
    Short(usize),
    /// A character that cannot travel in an `Authorization` header as it is.
    #[error(
        "it holds a character other than printable ASCII (letters, digits, punctuation; no \
         spaces inside)"
    )]
    NotPrintable,
}

/// Checks an admin token as read from its file (surrounding white space already trimmed).
pub fn check_token(token: &str) -> Result<(), TokenError> {
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::NotPrintable);
    }
    if token.len() < MIN_TOKEN_CHARS {
        return Err(TokenError::Short(token.len()));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_pass_and_cut_ones_do_not() {
        for _ in 0..64 {
            let t = new_secret().expect("randomness");
            assert_eq!(t.len(), MIN_TOKEN_CHARS, "{t}");
            assert_eq!(check_token(&t), Ok(()));
            assert_eq!(
                check_token(&t[..MIN_TOKEN_CHARS - 1]),
                Err(TokenError::Short(MIN_TOKEN_CHARS - 1))
            );
        }
        assert_eq!(check_token(""), Err(TokenError::Empty));
        assert_eq!(
            check_token(&format!("{} {}", "a".repeat(20), "b".repeat(20))),
            Err(TokenError::NotPrintable)
        );
        assert_eq!(check_token(&"é".repeat(40)), Err(TokenError::NotPrintable));
        assert_eq!(check_token(&"x".repeat(200)), Ok(()));
    }
}
