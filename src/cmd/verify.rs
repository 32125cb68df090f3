//! `provenance verify`: check a stored log against its checkpoints.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use provenance_ledger::Store;
use provenance_ledger::audit::{self, Finding};
use provenance_tlog::{Signer, Verifier};

use crate::layout::DataDir;

/// Check a log's storage against every checkpoint it signed.
///
/// Reads every entry, rebuilds the Merkle tree, and compares it with every stored checkpoint
/// (whose signatures it checks with the log's public key), with the stored subtree hashes, and
/// with any checkpoints you kept elsewhere (--checkpoint). Every event's signature is checked
/// with the key its signer had at that point. Exit status 0 only when everything holds.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  provenance verify --data ./provenance-data\n  \
    provenance verify --data ./provenance-data --checkpoint saved-checkpoint.txt\n  \
    provenance verify --database-url postgres://db/prov --log-key 'name+1a2b3c4d+AbC…'"
)]
pub struct Args {
    /// The data directory of `provenance serve` (holds ledger.db and log.key).
    #[arg(long, value_name = "DIR", required_unless_present = "database_url")]
    data: Option<PathBuf>,
    /// The log's database, if not DIR/ledger.db (e.g. postgres://…).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The log's public key (name+id+key, from GET /api/v1/log/key). Default: read from
    /// DIR/log.key. Give it when you do not trust the data directory.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// A signed checkpoint kept outside the database; the log must still agree with it.
    #[arg(long = "checkpoint", value_name = "FILE")]
    checkpoints: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = args.data.as_deref().map(DataDir::new);
    let url = match (&args.database_url, &dir) {
        (Some(u), _) => u.clone(),
        (None, Some(d)) => {
            if !d.database_file().exists() {
                bail!(
                    "{} has no ledger.db; is --data the directory `provenance serve` used?",
                    d.root().display()
                );
            }
            d.sqlite_url()
        }
        (None, None) => bail!("give --data DIR or --database-url URL"),
    };
    let verifier = match (&args.log_key, &dir) {
        (Some(v), _) => Verifier::parse(v)
            .map_err(|e| anyhow::anyhow!("--log-key: {e}; it looks like name+1a2b3c4d+base64"))?,
        (None, Some(d)) => {
            let text = std::fs::read_to_string(d.log_key())
                .with_context(|| format!("reading {}; or give --log-key", d.log_key().display()))?;
            Signer::parse(text.trim())
                .map_err(|e| anyhow::anyhow!("{}: {e}", d.log_key().display()))?
                .verifier()
                .clone()
        }
        (None, None) => bail!("with --database-url, give --log-key too"),
    };
    let external = args
        .checkpoints
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let store = Store::connect(&url).await?;
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(indicatif::ProgressStyle::with_template(
            "verifying {bar:40} {pos}/{len} entries {per_sec} eta {eta}",
        )?);
        let report = audit::audit(&store, &verifier, &external, |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
        bar.finish_and_clear();
        store.close().await;
        anyhow::Ok(report)
    })?;

    println!("log key   {verifier}");
    println!(
        "checked   {} entries, {} checkpoints, {} event signatures, {} external checkpoint(s)",
        report.entries,
        report.checkpoints,
        report.signatures,
        external.len()
    );
    if report.ok() {
        println!("verdict   OK: every entry, hash and checkpoint agrees");
        return Ok(());
    }
    println!("verdict   FAILED: {} problem(s)", report.findings.len());
    for f in &report.findings {
        let tag = match f {
            Finding::EntryChanged { .. }
            | Finding::EntryMissing { .. }
            | Finding::EntriesUncovered { .. } => "entry",
            Finding::HashChanged { .. } | Finding::TileMissing { .. } => "hash",
            Finding::RootMismatch { .. }
            | Finding::BadCheckpoint { .. }
            | Finding::ExternalCheckpoint { .. } => "checkpoint",
            Finding::Undecodable { .. }
            | Finding::BadEventSignature { .. }
            | Finding::BadRegistrySignature { .. } => "signature",
        };
        println!("  {tag:<10} {f}");
    }
    std::process::exit(1);
}
