//! `provenance keygen`: a new operator key.

use std::path::PathBuf;

use base64::Engine as _;
use ed25519_dalek::SigningKey;

/// Make a new Ed25519 key pair for an operator.
///
/// The private key is written as PKCS#8 PEM with mode 0600; the public key is printed as
/// base64, ready for `provenance device register --public-key`.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  provenance keygen --out customs-rotterdam.key")]
pub struct Args {
    /// Where to write the private key. An existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    crate::keyfile::write_new(&args.out, &key)?;
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    println!("{public}");
    eprintln!(
        "wrote the private key to {} (mode 0600). Register the public key above with\n  \
         provenance device register --id <ID> --role <ROLE> --org <ORG> --public-key {public}",
        args.out.display()
    );
    Ok(())
}
