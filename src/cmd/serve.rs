//! `provenance serve`: the whole system in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use provenance_ingest::broker::{self, Authenticate};
use provenance_ingest::mqtt::{self, Broker, Connection};
use provenance_ingest::service::{Config as IngestConfig, Ingest};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_web::AppState;
use tokio::sync::{mpsc, oneshot, watch};

use crate::layout::DataDir;

/// Run ingest, ledger, HTTP, gRPC and (unless --mqtt-url) an MQTT broker in one process.
///
/// On first start it creates the data directory, the log's signing key (DIR/log.key) and an
/// admin token (DIR/admin.token), both readable only by you. Stop it with Ctrl-C: the batch in
/// hand is finished and anchored first.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  provenance serve --data ./provenance-data\n  \
    provenance serve --mqtt-listen 127.0.0.1:1884      # when port 1883 is taken\n  \
    provenance serve --mqtt-url mqtt://127.0.0.1:1883 --database-url postgres://localhost/prov"
)]
pub struct Args {
    /// Data directory: SQLite database, log key, admin token.
    #[arg(long, value_name = "DIR", default_value = "provenance-data")]
    data: PathBuf,
    /// PostgreSQL instead of SQLite in DIR (postgres://user@host/db).
    #[arg(long, value_name = "URL", env = "PROVENANCE_DATABASE_URL")]
    database_url: Option<String>,
    /// Use this MQTT broker instead of the embedded one (mqtt://[user:pass@]host:port, or
    /// mqtts://… for TLS, trusting the system's root certificates or --mqtt-cacert).
    #[arg(long, value_name = "URL", env = "PROVENANCE_MQTT_URL")]
    mqtt_url: Option<String>,
    /// With an mqtts:// --mqtt-url: trust only this certificate (PEM: the broker's own or its
    /// CA's) instead of the system's roots.
    #[arg(long, value_name = "FILE", requires = "mqtt_url")]
    mqtt_cacert: Option<PathBuf>,
    /// Where the embedded MQTT broker listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1883")]
    mqtt_listen: SocketAddr,
    /// Let any client connect to the embedded broker without a password (closed lab networks).
    #[arg(long)]
    mqtt_allow_anonymous: bool,
    /// Where the web view and JSON API listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    http_listen: SocketAddr,
    /// Where the gRPC API listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    grpc_listen: SocketAddr,
    /// The log's origin line (and its key's name) when the log is created.
    #[arg(long, default_value = "provenance.local/log")]
    origin: String,
    /// The ingest's MQTT client ID (default: provenance-ingest-<log key id>). Keep it stable:
    /// the broker holds undelivered events in this client's session across restarts.
    #[arg(long, value_name = "ID")]
    mqtt_client_id: Option<String>,
    /// The shared-subscription group; ingest processes of one deployment share it.
    #[arg(long, value_name = "NAME", default_value = "ingest")]
    mqtt_share_group: String,
    /// MQTT connections the ingest shares its subscription over (more connections, more
    /// events in flight between broker and ingest).
    #[arg(long, default_value_t = 48, value_name = "N")]
    mqtt_connections: usize,
    /// Events per ledger batch (one checkpoint each).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// How often the web view re-audits the stored log against its checkpoints (as `verify
    /// --data` does) to mark tampered events: seconds or a duration like 5m or 1h; 0 audits
    /// once, at start.
    #[arg(long, value_name = "DURATION", default_value = "5m", env = "PROVENANCE_AUDIT_EVERY",
          value_parser = provenance_web::audit::parse_interval)]
    audit_every: std::time::Duration,
    /// Serve TLS with this certificate chain (PEM, the server's first) on all three ports:
    /// HTTPS for the web view and API, gRPC over TLS, and MQTT over TLS for devices (the
    /// embedded broker's port). Make a self-signed one for a lab with
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365
    /// -subj /CN=provenance -addext subjectAltName=DNS:localhost,IP:127.0.0.1
    /// -addext basicConstraints=critical,CA:FALSE -keyout key.pem -out cert.pem` and give
    /// clients cert.pem to trust (`--cacert`, `mosquitto_pub --cafile`, `curl --cacert`).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, RSA or EC). Keep it readable only by the
    /// server's user.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

async fn listen(
    addr: SocketAddr,
    what: &str,
    flag: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "{addr} is already in use, so the {what} cannot listen there. Pass {flag} with a \
                 free address, e.g. {flag} {}:{}",
                addr.ip(),
                addr.port() + 1
            )
        } else {
            anyhow::anyhow!("cannot listen on {addr} for the {what}: {e}")
        }
    })
}

/// The admin token: read it, or create it on first start.
fn admin_token(dir: &DataDir) -> anyhow::Result<String> {
    let path = dir.admin_token();
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(t.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = provenance_web::auth::new_secret()
                .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
            provenance_ledger::write_private(&path, format!("{token}\n").as_bytes())?;
            Ok(token)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// A device login check that runs on this process's runtime: the broker's own runtime hands
/// each CONNECT over a channel and waits for the answer.
fn authenticator(ledger: Arc<Ledger>, ingest_user: String, ingest_secret: String) -> Authenticate {
    let (tx, mut rx) = mpsc::channel::<(String, String, oneshot::Sender<bool>)>(1024);
    tokio::spawn(async move {
        while let Some((user, password, reply)) = rx.recv().await {
            let ok = if user == ingest_user {
                provenance_web::auth::constant_time_eq(
                    password.as_bytes(),
                    ingest_secret.as_bytes(),
                )
            } else {
                match ledger.mqtt_password_hash(&user).await {
                    Ok(Some(hash)) => {
                        let revoked = ledger
                            .device(&user)
                            .await
                            .ok()
                            .flatten()
                            .is_some_and(|d| d.revoked_idx.is_some());
                        !revoked && provenance_web::auth::password_matches(&password, &hash)
                    }
                    _ => false,
                }
            };
            if !ok {
                // Never the password itself.
                tracing::warn!(user = %user, "MQTT login refused");
            }
            let _ = reply.send(ok);
        }
    });
    Arc::new(move |_client, user, password| {
        let tx = tx.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            if tx.send((user, password, reply)).await.is_err() {
                return false;
            }
            answer.await.unwrap_or(false)
        })
    })
}

/// Waits until something accepts TCP connections on `addr` (the broker's threads start it).
async fn wait_listening(addr: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    bail!("the embedded MQTT broker did not start listening on {addr}")
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::logging::init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let dir = DataDir::new(&args.data);
    std::fs::create_dir_all(dir.root())
        .with_context(|| format!("creating the data directory {}", dir.root().display()))?;
    // Fail early and plainly on ports that are taken, before anything is started.
    let http = listen(args.http_listen, "web view and HTTP API", "--http-listen").await?;
    let grpc = listen(args.grpc_listen, "gRPC API", "--grpc-listen").await?;
    if args.mqtt_url.is_none() {
        broker::check_port(args.mqtt_listen)?;
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::Identity::load(cert, key)?),
        _ => None,
    };
    if tls.is_some() && args.mqtt_url.is_none() && args.mqtt_allow_anonymous {
        bail!(
            "--tls-cert cannot be combined with --mqtt-allow-anonymous: devices reach the \
             embedded broker over TLS through its topic gate, which needs device logins. Drop \
             --mqtt-allow-anonymous and register the devices (`provenance device register`)"
        );
    }

    let token = admin_token(&dir)?;
    let ledger = Arc::new(
        Ledger::open(&LedgerConfig {
            database_url: args
                .database_url
                .clone()
                .unwrap_or_else(|| dir.sqlite_url()),
            key_file: dir.log_key(),
            origin: args.origin.clone(),
        })
        .await?,
    );
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();

    let ingest_secret = provenance_web::auth::new_secret()
        .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let ingest_user = "provenance-ingest".to_string();
    let client_id = args
        .mqtt_client_id
        .clone()
        .unwrap_or_else(|| format!("provenance-ingest-{}", ledger.verifier().key_id()));
    let (mut broker_cfg, mqtt_where) = match &args.mqtt_url {
        Some(url) => {
            let mut b = Broker::from_url(url, &client_id)?;
            if let Some(path) = &args.mqtt_cacert {
                if b.tls.is_none() {
                    bail!(
                        "--mqtt-cacert is for a broker reached over TLS; write the URL as \
                         mqtts://{}:{}",
                        b.host,
                        b.port
                    );
                }
                let pem = std::fs::read(path)
                    .with_context(|| format!("reading --mqtt-cacert {}", path.display()))?;
                b.tls = Some(provenance_ingest::mqtt::Tls::Ca(pem));
            }
            (
                b,
                format!("{} (external)", provenance_ledger::store::redact(url)),
            )
        }
        None => {
            let auth = (!args.mqtt_allow_anonymous)
                .then(|| authenticator(ledger.clone(), ingest_user.clone(), ingest_secret.clone()));
            // With device logins, devices reach the broker through the topic gate (their own
            // topics only); the broker itself listens on a loopback port of its own, where
            // the ingest connects.
            let broker_addr = if auth.is_some() {
                broker::check_port(args.mqtt_listen)?;
                let devices = tokio::net::TcpListener::bind(args.mqtt_listen)
                    .await
                    .with_context(|| format!("listening on {}", args.mqtt_listen))?;
                let inner = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .context("a loopback port for the broker")?;
                match &tls {
                    Some(identity) => {
                        let mut devices = crate::tls::TlsListener::new(devices, identity, &[])?;
                        tokio::spawn(async move {
                            loop {
                                let (device, peer) = devices.next().await;
                                tokio::spawn(provenance_ingest::gate::guard(device, peer, inner));
                            }
                        });
                    }
                    None => {
                        tokio::spawn(provenance_ingest::gate::serve(devices, inner));
                    }
                }
                inner
            } else {
                args.mqtt_listen
            };
            broker::start(broker_addr, auth)?;
            wait_listening(broker_addr).await?;
            let mut b = Broker::from_url(&format!("mqtt://{broker_addr}"), &client_id)?;
            b.credentials = Some((ingest_user.clone(), ingest_secret.clone()));
            (
                b,
                format!(
                    "{}://{} (embedded{})",
                    if tls.is_some() { "mqtts" } else { "mqtt" },
                    args.mqtt_listen,
                    if args.mqtt_allow_anonymous {
                        ", anonymous allowed"
                    } else {
                        ""
                    }
                ),
            )
        }
    };
    broker_cfg.share_group = args.mqtt_share_group.clone();
    // Checked here, so a bad --mqtt-cacert is an error at start, not a silent reconnect loop.
    let broker_tls = broker_cfg
        .tls
        .as_ref()
        .map(provenance_ingest::mqtt::Tls::client_config)
        .transpose()?;
    // Several connections in the share group: a broker lets each only so many unacknowledged
    // messages in flight (rumqttd: 100), and PUBACK waits for anchoring.
    let connections: Vec<Connection> = (0..args.mqtt_connections.max(1))
        .map(|i| {
            let mut b = broker_cfg.clone();
            b.client_id = format!("{}-{i}", broker_cfg.client_id);
            Connection::new(&b, broker_tls.clone())
        })
        .collect();
    let config = IngestConfig {
        batch_max: args.batch,
        ..Default::default()
    };
    let (ingest, ingest_task) =
        Ingest::start(ledger.clone(), connections[0].acknowledger(), config).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut mqtt_tasks = Vec::new();
    let mut readiness = Vec::new();
    for conn in connections {
        let (ready_tx, ready_rx) = oneshot::channel();
        readiness.push(ready_rx);
        mqtt_tasks.push(tokio::spawn(mqtt::run(
            conn,
            ingest.clone(),
            stopped(stop_rx.clone()),
            Some(ready_tx),
        )));
    }
    // Serve nothing until no device event can be missed.
    for ready_rx in readiness {
        match tokio::time::timeout(std::time::Duration::from_secs(30), ready_rx).await {
            Ok(Ok(())) => {}
            _ => bail!(
                "could not subscribe to {} at the MQTT broker {mqtt_where} within 30 s; is it \
                 running, and does it accept the ingest's login?",
                broker_cfg.subscription()
            ),
        }
    }
    let admin_token = Arc::new(token);
    let state = AppState {
        ledger: ledger.clone(),
        ingest: ingest.clone(),
        admin_token: admin_token.clone(),
        metrics,
    };
    let http_addr = http.local_addr()?;
    let every = (!args.audit_every.is_zero()).then_some(args.audit_every);
    let auditor = provenance_web::audit::Auditor::start(ledger.clone(), every);
    let site = provenance_web::site_with(state, auditor);
    let stop = stopped(stop_rx.clone());
    let http_task = match &tls {
        Some(identity) => {
            let https = crate::tls::TlsListener::new(http, identity, &[b"h2", b"http/1.1"])?;
            let site = site.layer(axum::middleware::map_request(
                crate::tls::as_served_over_tls,
            ));
            tokio::spawn(async move { axum::serve(https, site).with_graceful_shutdown(stop).await })
        }
        None => {
            tokio::spawn(async move { axum::serve(http, site).with_graceful_shutdown(stop).await })
        }
    };
    let grpc_addr = grpc.local_addr()?;
    let grpc_task = tokio::spawn(provenance_proto::serve(
        ledger.clone(),
        Some(provenance_proto::Writes {
            ingest: ingest.clone(),
            admin_token: admin_token.clone(),
        }),
        grpc,
        tls.as_ref()
            .map(|t| provenance_proto::Identity::from_pem(&t.cert_pem, &t.key_pem)),
        stopped(stop_rx.clone()),
    ));

    let cp = ledger.latest_checkpoint().await.checkpoint;
    println!("Provenance is running.");
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("  web view   {scheme}://{http_addr}/");
    println!(
        "  gRPC       {grpc_addr}{}",
        if tls.is_some() { " (TLS)" } else { "" }
    );
    println!("  MQTT       {mqtt_where}");
    println!(
        "  data       {} ({} entries, {})",
        dir.root().display(),
        cp.size,
        ledger.store().backend()
    );
    println!("  admin      token in {}", dir.admin_token().display());
    println!("  log key    {}", ledger.verifier());
    println!("Stop with Ctrl-C.");

    // Ctrl-C, or SIGTERM from a service manager: both take the graceful path.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    eprintln!("stopping: finishing the batch in hand …");
    let _ = stop_tx.send(true);
    for t in mqtt_tasks {
        let _ = t.await;
    }
    let _ = http_task.await;
    let _ = grpc_task.await;
    // The queue's senders are gone once the servers stop; the loop drains and ends.
    drop(ingest);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), ingest_task).await;
    ledger.close().await;
    eprintln!("stopped.");
    Ok(())
}
