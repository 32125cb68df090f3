//! `provenance witness`: a C2SP tlog-witness server (the `provenance-witness` crate) on the
//! HTTP accept loop `serve` uses (connection caps, silent connections closed, bounded
//! shutdown).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use provenance_witness::{Logs, Store, Witness};

use crate::layout::DataDir;

const AFTER_HELP: &str = "\
What a witness is: an independent party (a customs office, a port, a bank) that follows a \
transparency log without trusting its operator. The log posts each new checkpoint to it with \
a consistency proof from the last one the witness cosigned; the witness checks the log's \
signature and the proof, stores the new size and root, and only then returns its \
cosignature (C2SP tlog-cosignature cosignature/v1, with the time). Verifiers who require a \
quorum of witnesses' cosignatures know the log showed them the history it showed everyone.

A checkpoint the log signed that contradicts one the witness cosigned (the same size with \
another root, or no valid proof from it) is refused, and both checkpoints are kept as \
evidence at GET /forks for anyone to fetch. The state is one SQLite file in --data. The \
witness key is made on first start (needs --name); its public key, the vkey verifiers \
configure, is printed at start and served at GET /key.

Examples:
  # Witness the log whose key `curl http://LOG/api/v1/log/key` prints (its name is the origin):
  provenance witness --name customs.example/witness --data ./witness-data \\
      --log provenance.local/log+1a2b3c4d+AU...
  # Several logs from a file (one vkey per line, # comments), on another port:
  provenance witness --listen 0.0.0.0:8091 --logs ./logs.txt

Endpoints: POST /add-checkpoint (C2SP tlog-witness), GET /key, GET /status, GET /forks, \
GET /forks/{id}, GET /{sha256(origin) in hex}/checkpoint.";

/// The flags of `provenance witness`; what it is and examples are in `AFTER_HELP`, which
/// `--help` shows (the subcommand's one-line doc in `main.rs` replaces this struct's doc).
#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct Args {
    /// Where the witness's HTTP interface listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Data directory: the witness's database (witness.db) and, unless --key, its key.
    #[arg(long, value_name = "DIR", default_value = "witness-data")]
    data: PathBuf,
    /// The witness's signing key file (default DIR/witness.key), made on first start with
    /// --name and readable only by you. Keep it: a new key is a new witness.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// The witness's name, e.g. customs.example/witness: needed to make its key on first
    /// start; later it must match the key's.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// A log to witness: its signed-note public key (name+id+key); the name is the log's
    /// origin. Repeat for more logs (or a second key of one log).
    #[arg(long = "log", value_name = "VKEY")]
    logs: Vec<String>,
    /// A file of logs to witness: one vkey per line; blank lines and # comments are skipped.
    #[arg(long = "logs", value_name = "FILE")]
    logs_file: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::logging::init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(witness(args));
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    result
}

async fn witness(args: Args) -> anyhow::Result<()> {
    let mut logs = Logs::new();
    for vkey in &args.logs {
        logs.add_vkey(vkey)
            .with_context(|| format!("--log {vkey:?}"))?;
    }
    if let Some(path) = &args.logs_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading --logs {}", path.display()))?;
        logs.add_list(&text)
            .with_context(|| format!("--logs {}", path.display()))?;
    }
    if logs.is_empty() {
        bail!(
            "no log to witness: pass --log VKEY (the log's public key, e.g. from \
             `curl http://LOG/api/v1/log/key`) or --logs FILE"
        );
    }
    let dir = DataDir::new(&args.data);
    crate::cmd::serve::create_data_dir(&dir)?;
    let listener = crate::cmd::serve::listen(args.listen, "witness", "--listen").await?;
    let key_path = args
        .key
        .clone()
        .unwrap_or_else(|| dir.root().join("witness.key"));
    let (signer, created) =
        provenance_witness::key::load_or_create(&key_path, args.name.as_deref())?;
    let store = Store::open(&dir.root().join("witness.db")).await?;
    let witness = Arc::new(Witness::new(logs, signer, store.clone()));

    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let addr = listener.local_addr()?;
    println!("Provenance witness is running.");
    println!("  listening  http://{addr}/ (POST /add-checkpoint)");
    println!(
        "  key        {} ({})",
        witness.verifier(),
        if created {
            format!("new, in {}", key_path.display())
        } else {
            format!("from {}", key_path.display())
        }
    );
    println!("  data       {}", dir.root().join("witness.db").display());
    for (origin, _) in witness.logs().iter() {
        let size = store.state(origin).await?.map(|s| s.size);
        match size {
            Some(n) => println!("  log        {origin} (cosigned up to size {n})"),
            None => println!("  log        {origin} (not cosigned yet)"),
        }
    }
    println!("Stop with Ctrl-C.");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let site = provenance_witness::http::router(witness);
    let http = tokio::spawn(crate::cmd::serve::serve_http(listener, site, async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    let _ = stop_tx.send(true);
    let _ = http.await;
    store.close().await;
    eprintln!("stopped.");
    Ok(())
}
