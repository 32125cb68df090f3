//! `provenance serve`: the whole system in one process.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use provenance_ingest::broker::{self, Authenticate};
use provenance_ingest::mqtt::{self, Broker, Connection};
use provenance_ingest::service::{Config as IngestConfig, Ingest};
use provenance_ledger::{Config as LedgerConfig, Ledger};
use provenance_web::AppState;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::layout::DataDir;

/// How long after Ctrl-C or SIGTERM the process ends at the latest, whatever is still running:
/// below the 10 s a service manager commonly waits before it kills (systemd's default is 90 s,
/// but container runtimes give 10). Nothing is lost by ending then: an event is acknowledged
/// only after its batch committed, so one still in hand is sent again by its device, the
/// broker or the HTTP/gRPC caller.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(8);

/// How long open HTTP connections may finish the request in hand after the stop before they
/// are closed (a page's live stream would otherwise hold the shutdown for 20 s, a slow client
/// for ever). gRPC calls get as long, in `provenance_proto::serve`.
const HTTP_GRACE: Duration = Duration::from_secs(2);
/// How long an HTTP/1 client may take to send a request's head.
const HTTP_HEADER_WITHIN: Duration = Duration::from_secs(10);
/// How long a request may take to be answered (its head; a live stream's body goes on).
const HTTP_ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// HTTP connections at once, and from one address.
const HTTP_MAX_CONNECTIONS: usize = 4096;
const HTTP_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;

/// What the MQTT readers, HTTP and gRPC get in all before they are abandoned (their own
/// graces, and a little for the tasks to end).
const FRONT_GRACE: Duration = Duration::from_millis(2500);

/// Run ingest, ledger, HTTP, gRPC and (unless --mqtt-url) an MQTT broker in one process.
///
/// On first start it creates the data directory, the log's signing key (DIR/log.key) and an
/// admin token (DIR/admin.token), all readable only by you. Stop it with Ctrl-C or SIGTERM:
/// the batch in hand is finished and anchored first, and the process ends within 8 s whatever
/// else is still running (a second Ctrl-C ends it at once).
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
    /// The URL others reach the web view at, e.g. https://trace.example.com: the base of the
    /// Digital Link each item page prints and encodes in its QR code (default: http(s)://
    /// the --http-listen address). The request's Host header is never used for it, so a
    /// request naming another host cannot put that host on a printed label.
    #[arg(long, value_name = "URL", value_parser = |s: &str| provenance_web::PublicUrl::new(s))]
    public_url: Option<provenance_web::PublicUrl>,
    /// What visitors without a read token see: `public` (each item's public facts: who made
    /// it, where and when) or `none` (nothing but checkpoints, the log key and hash tiles).
    /// Tokens come from `provenance access grant`.
    #[arg(long, value_name = "TIER", default_value = "public", value_parser = ["public", "none"])]
    public_tier: String,
    /// Give the public whole the entries that state a battery's public facts alone (its own
    /// commissioning, its decommissioning) with their signers' registrations, so anyone can
    /// check the maker's signature on a passport (`verify --bundle … --passport …`). A whole
    /// entry shows its signer's device ID and sequence number, and a station's sequence
    /// numbers count what it made: off by default, when the public proves each field's entry
    /// by its inclusion proof only.
    #[arg(long)]
    public_entries: bool,
    /// Where the gRPC API listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:50051")]
    grpc_listen: SocketAddr,
    /// The log's origin line (and its key's name) when the log is created.
    #[arg(long, default_value = "provenance.local/log")]
    origin: String,
    /// The ingest's MQTT client ID (default: provenance-ingest-<log key id>-<process id>, the
    /// process ID kept in the data directory). Keep it stable: the broker holds undelivered
    /// events in this client's session across restarts. Unique per process, so processes
    /// sharing a broker never take over each other's sessions.
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
    /// Rejected messages kept whole per sender and hour; past it they are only counted (one
    /// `rate_limited` row per topic). Raise it for a test bench that floods on purpose.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    rejections_per_hour: u64,
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
    /// A witness to send each new checkpoint to (C2SP tlog-witness): its URL, `=`, and its
    /// cosignature key (what `provenance witness` prints at start or serves at GET /key), e.g.
    /// --witness http://customs.example:8090=customs.example/w1+1a2b3c4d+BA…  Repeat for each
    /// witness. Each is asked at most once a second, with back-off when it fails; anchoring
    /// never waits for them. With witnesses, /checkpoint, /api/v1/checkpoint and evidence
    /// bundles carry the newest cosigned checkpoint, with every cosignature the log holds.
    #[arg(long = "witness", value_name = "URL=VKEY")]
    witnesses: Vec<provenance_witness::client::WitnessTarget>,
    /// How many of the --witness witnesses must cosign a checkpoint before the log publishes
    /// it (default: a majority). Set it to what the verifiers' policies require.
    #[arg(long, value_name = "K", requires = "witnesses")]
    witness_quorum: Option<usize>,
}

pub(crate) async fn listen(
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

/// The admin token: read it, or create it on first start. A file others can read is refused
/// (the token administers the log), and so is one too short to be a token: an empty one (a
/// crash while it was first written, before writes were atomic) matched requests that sent
/// no token at all.
fn admin_token(dir: &DataDir) -> anyhow::Result<String> {
    use provenance_web::auth::{MIN_TOKEN_CHARS, check_token, new_secret};
    let path = dir.admin_token();
    match provenance_ledger::read_private(&path)? {
        Some(text) => {
            let token = text.trim();
            if let Err(problem) = check_token(token) {
                bail!(
                    "the admin token in {} cannot be used: {problem}. A crash while it was \
                     written can leave it empty or short, and a short token is easy to guess. \
                     Delete the file and start again to get a new token (then give the new one \
                     to whoever runs `provenance device`), or write a token of at least \
                     {MIN_TOKEN_CHARS} printable characters into it, e.g. `openssl rand -base64 \
                     32 > {}`",
                    path.display(),
                    path.display()
                );
            }
            Ok(token.to_string())
        }
        None => {
            let token =
                new_secret().map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
            provenance_ledger::write_private(&path, format!("{token}\n").as_bytes())?;
            Ok(token)
        }
    }
}

/// Creates the data directory readable only by its owner (it holds the log key, the admin
/// token and the database); one that exists keeps its mode.
pub(crate) fn create_data_dir(dir: &DataDir) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir.root())
        .with_context(|| format!("creating the data directory {}", dir.root().display()))
}

/// Serves `site` on `listener` until `stop`, then lets each open connection finish the request
/// in hand for [`HTTP_GRACE`] and closes those still open; returns how many it closed.
/// `axum::serve` would wait for every connection without limit, in tasks nothing can end from
/// outside (and each holds the ingest's queue open through the handlers' state); here they are
/// tasks of a `JoinSet`, which can be aborted.
pub(crate) async fn serve_http<L>(
    mut listener: L,
    site: axum::Router,
    stop: impl Future<Output = ()>,
) -> usize
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let places = provenance_ingest::limits::Places::new(
        HTTP_MAX_CONNECTIONS,
        HTTP_MAX_CONNECTIONS_PER_ADDRESS,
    );
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            (io, peer) = listener.accept() => {
                // Full, in all or for this address: closed at once (the cheapest answer).
                let Some(place) = places.take(Some(peer.ip())) else {
                    metrics::counter!("provenance_http_refused_total").increment(1);
                    continue;
                };
                // The client's address, for per-client caps (the live streams', web `reads`).
                let site = site
                    .clone()
                    .layer(axum::middleware::from_fn(answer_within))
                    .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
                let service = TowerToHyperService::new(site);
                let mut closing = closing_rx.clone();
                connections.spawn(async move {
                    let _place = place;
                    let mut builder = Builder::new(TokioExecutor::new());
                    // A client that opens a connection and sends no request head in time is
                    // closed: half-open connections hold nothing for long.
                    builder
                        .http1()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HTTP_HEADER_WITHIN);
                    builder
                        .http2()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .max_concurrent_streams(64)
                        .keep_alive_interval(Duration::from_secs(60))
                        .keep_alive_timeout(Duration::from_secs(20));
                    let heard = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    let io = Heard { io, heard: heard.clone() };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
                    tokio::pin!(conn);
                    let closing = async move {
                        let _ = closing.wait_for(|c| *c).await;
                    };
                    // The header timeout starts with the first byte (and the HTTP/1-or-2
                    // detection before it has none): a client that sends nothing is closed here.
                    let silent = async {
                        tokio::time::sleep(HTTP_HEADER_WITHIN).await;
                        if heard.load(std::sync::atomic::Ordering::Relaxed) {
                            std::future::pending::<()>().await;
                        }
                    };
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        () = silent => return,
                        () = closing => conn.as_mut().graceful_shutdown(),
                    }
                    let _ = conn.await;
                });
            }
            // Finished connections leave the set as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let _ = tokio::time::timeout(HTTP_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    let left = connections.len();
    // Aborting a connection's task drops its requests' handlers (an SSE stream, a body still
    // being received) with it.
    connections.shutdown().await;
    left
}

/// A connection that notes when its client first sent something.
struct Heard<IO> {
    io: IO,
    heard: Arc<std::sync::atomic::AtomicBool>,
}

impl<IO: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Heard<IO> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.heard.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }
}

impl<IO: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Heard<IO> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A request not answered within [`HTTP_ANSWER_WITHIN`] gets a 503 (its handler is dropped).
async fn answer_within(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::time::timeout(HTTP_ANSWER_WITHIN, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the answer took too long; try again",
        )
            .into_response(),
    }
}

/// A task that was still running when its time was up, and was aborted.
struct Abandoned;

/// Waits for `task` until `until`, and aborts it if it is still running then. `Ok(None)`: it
/// ended without an answer (it panicked, and said so in the log).
async fn finish<T>(
    task: tokio::task::JoinHandle<T>,
    until: Instant,
) -> Result<Option<T>, Abandoned> {
    let abort = task.abort_handle();
    match tokio::time::timeout_at(until, task).await {
        Ok(ended) => Ok(ended.ok()),
        Err(_) => {
            abort.abort();
            Err(Abandoned)
        }
    }
}

/// What is running, to be stopped.
struct Running {
    stop: watch::Sender<bool>,
    mqtt: Vec<tokio::task::JoinHandle<()>>,
    http: tokio::task::JoinHandle<usize>,
    grpc: tokio::task::JoinHandle<()>,
    ingest: Ingest,
    ingest_task: tokio::task::JoinHandle<()>,
    witnessing: Vec<tokio::task::JoinHandle<()>>,
    ledger: Arc<Ledger>,
}

/// Stops everything by `deadline`, in order: the front ends stop taking work and finish what
/// they hold (MQTT readers, HTTP, gRPC, within [`FRONT_GRACE`]); the ingest finishes the batch
/// in hand (committed and acknowledged, or given up unacknowledged) and stops; the ledger lets
/// the indexer catch up (at most `INDEXER_DRAIN`) and closes. Whatever has not ended when its
/// turn is over is abandoned, and is listed in the answer.
async fn shut_down(r: Running, started: Instant, deadline: Instant) -> Vec<String> {
    let mut abandoned = Vec::new();
    let _ = r.stop.send(true);
    // Witnessing holds nothing anyone waits for: a cosignature not kept is asked for again.
    for t in r.witnessing {
        t.abort();
    }
    let front = started + FRONT_GRACE;
    let mut stuck_readers = 0;
    for t in r.mqtt {
        if finish(t, front).await.is_err() {
            stuck_readers += 1;
        }
    }
    if stuck_readers > 0 {
        abandoned.push(format!(
            "{stuck_readers} MQTT reader(s) waiting on a full ingest queue (their messages are \
             not acknowledged: the broker delivers them again)"
        ));
    }
    match finish(r.http, front).await {
        Ok(Some(0) | None) => {}
        Ok(Some(n)) => abandoned.push(format!(
            "{n} HTTP connection(s) still open after {} s (live page streams, slow clients)",
            HTTP_GRACE.as_secs()
        )),
        Err(Abandoned) => abandoned.push("the HTTP server".into()),
    }
    if finish(r.grpc, front).await.is_err() {
        abandoned.push("the gRPC server".into());
    }
    // The queue's senders are gone once the servers stop; the loop drains and ends. It gets
    // what the ledger's close does not need.
    drop(r.ingest);
    let ingest_until = deadline
        .checked_sub(provenance_ledger::INDEXER_DRAIN + Duration::from_millis(500))
        .unwrap_or(front)
        .max(front);
    if finish(r.ingest_task, ingest_until).await.is_err() {
        abandoned.push(
            "the ingest's batch in hand (not acknowledged: its devices, the broker or the \
             caller send it again; a commit already under way still lands)"
                .into(),
        );
    }
    if tokio::time::timeout_at(deadline, r.ledger.close())
        .await
        .is_err()
    {
        abandoned.push("closing the database (a connection was still busy)".into());
    }
    abandoned
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
    let result = rt.block_on(serve(args));
    // Dropping a runtime waits for its blocking threads without limit; what the shutdown
    // abandoned (a database call waiting on a lock, say) must not keep the process alive.
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let dir = DataDir::new(&args.data);
    create_data_dir(&dir)?;
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
    // One line per component at start-up (their details follow at DEBUG, with RUST_LOG).
    tracing::info!(
        storage = ledger.store().backend(),
        entries = ledger.latest_checkpoint().await.checkpoint.size,
        "ledger opened"
    );
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();

    let ingest_secret = provenance_web::auth::new_secret()
        .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let ingest_user = "provenance-ingest".to_string();
    // The topic gate in front of the embedded broker, when devices log in: it also closes a
    // device's sessions the moment its credentials end.
    let mut device_gate: Option<Arc<provenance_ingest::gate::Gate>> = None;
    let client_id = args.mqtt_client_id.clone().unwrap_or_else(|| {
        format!(
            "provenance-ingest-{}-{}",
            ledger.verifier().key_id(),
            ledger.process_id()
        )
    });
    // Where devices connect: --mqtt-listen, with the port the system chose for port 0.
    let mut devices_addr = args.mqtt_listen;
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
            let url = provenance_ledger::store::redact(url);
            tracing::info!(broker = %url, "using the external MQTT broker");
            (b, format!("{url} (external)"))
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
                devices_addr = devices.local_addr()?;
                let inner = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .context("a loopback port for the broker")?;
                // One gate for both listeners: its connection limits hold for all of them.
                let gate = provenance_ingest::gate::Gate::new(
                    inner,
                    provenance_ingest::gate::Limits::default(),
                );
                device_gate = Some(gate.clone());
                match &tls {
                    Some(identity) => {
                        let mut devices = crate::tls::TlsListener::new(devices, identity, &[])?;
                        tokio::spawn(async move {
                            loop {
                                let (device, peer) = devices.next().await;
                                tokio::spawn(gate.clone().guard(device, peer));
                            }
                        });
                    }
                    None => {
                        tokio::spawn(gate.serve(devices));
                    }
                }
                inner
            } else {
                args.mqtt_listen
            };
            broker::start(broker_addr, auth)?;
            wait_listening(broker_addr).await?;
            tracing::info!(
                devices = %devices_addr,
                logins = if args.mqtt_allow_anonymous { "anonymous allowed" } else { "device passwords" },
                "embedded MQTT broker listening"
            );
            let mut b = Broker::from_url(&format!("mqtt://{broker_addr}"), &client_id)?;
            b.credentials = Some((ingest_user.clone(), ingest_secret.clone()));
            (
                b,
                format!(
                    "{}://{} (embedded{})",
                    if tls.is_some() { "mqtts" } else { "mqtt" },
                    devices_addr,
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
    let quota = provenance_ingest::service::Quota::default();
    let config = IngestConfig {
        batch_max: args.batch,
        rejection_quota: provenance_ingest::service::Quota {
            rows: args.rejections_per_hour,
            // The byte quota scales with the row quota (4 KiB per row, the largest event).
            bytes: quota
                .bytes
                .max(args.rejections_per_hour.saturating_mul(4096)),
            total_rows: quota.total_rows.max(args.rejections_per_hour),
            total_bytes: quota
                .total_bytes
                .max(args.rejections_per_hour.saturating_mul(4096)),
        },
        ..Default::default()
    };
    let (ingest, ingest_task) =
        Ingest::start(ledger.clone(), connections[0].acknowledger(), config).await?;
    if let Some(gate) = device_gate {
        // A revocation or a new MQTT password closes the device's open sessions at once.
        let mut ended = ingest.credential_changes();
        tokio::spawn(async move {
            loop {
                match ended.recv().await {
                    Ok(device) => {
                        gate.disconnect(&device);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut witnessing = Vec::new();
    if !args.witnesses.is_empty() {
        let quorum = args.witness_quorum.unwrap_or(args.witnesses.len() / 2 + 1);
        if quorum == 0 || quorum > args.witnesses.len() {
            bail!(
                "--witness-quorum {quorum} with {} --witness: pass a number from 1 to {}",
                args.witnesses.len(),
                args.witnesses.len()
            );
        }
        ledger.publish_witnessed(quorum).await?;
        witnessing = provenance_witness::client::spawn(
            ledger.clone(),
            args.witnesses.clone(),
            stop_rx.clone(),
        );
    }
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
    tracing::info!(
        connections = mqtt_tasks.len(),
        subscription = %broker_cfg.subscription(),
        "ingest subscribed"
    );
    let admin_token = Arc::new(token);
    let state = AppState {
        ledger: ledger.clone(),
        ingest: ingest.clone(),
        admin_token: admin_token.clone(),
        metrics,
    };
    let http_addr = http.local_addr()?;
    let grpc_addr = grpc.local_addr()?;
    let every = (!args.audit_every.is_zero()).then_some(args.audit_every);
    let auditor = provenance_web::audit::Auditor::start(ledger.clone(), every);
    let public_url = match &args.public_url {
        Some(u) => u.clone(),
        None => {
            let scheme = if tls.is_some() { "https" } else { "http" };
            if http_addr.ip().is_unspecified() {
                tracing::warn!(
                    "--http-listen {http_addr} names no host others can reach: pass \
                     --public-url so the QR codes on item pages point somewhere"
                );
            }
            provenance_web::PublicUrl::new(&format!("{scheme}://{http_addr}"))
                .map_err(|e| anyhow::anyhow!("{e}; pass --public-url"))?
        }
    };
    let anonymous = provenance_access::Anonymous::parse(&args.public_tier).unwrap_or_default();
    let site = provenance_web::site_with(state, auditor)
        .layer(axum::Extension(public_url))
        .layer(axum::Extension(provenance_web::access::PublicTier(
            anonymous,
        )))
        .layer(axum::Extension(provenance_web::passport::PublicEntries(
            args.public_entries,
        )));
    // Ctrl-C, or SIGTERM from a service manager: both take the graceful path. Caught from
    // here on, before the web view answers, so whoever sees it answer stops it gracefully;
    // until here either ends the process at once, as a crash would (which loses nothing
    // acknowledged), so a start stuck on a broker or a database cannot hold a stop either.
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // Said before the web view answers, so that anyone who sees it answer has seen this.
    let cp = ledger.latest_checkpoint().await.checkpoint;
    tracing::info!(address = %http_addr, tls = tls.is_some(), "web view and HTTP API listening");
    tracing::info!(address = %grpc_addr, tls = tls.is_some(), "gRPC API listening");
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
    for w in &args.witnesses {
        println!("  witness    {} at {}", w.key.name(), w.url);
    }
    println!("Stop with Ctrl-C.");
    let stop = stopped(stop_rx.clone());
    let http_task = match &tls {
        Some(identity) => {
            let https = crate::tls::TlsListener::new(http, identity, &[b"h2", b"http/1.1"])?;
            let site = site.layer(axum::middleware::map_request(
                crate::tls::as_served_over_tls,
            ));
            tokio::spawn(serve_http(https, site, stop))
        }
        None => tokio::spawn(serve_http(http, site, stop)),
    };
    let grpc_serve = provenance_proto::serve(
        ledger.clone(),
        Some(provenance_proto::Writes {
            ingest: ingest.clone(),
            admin_token: admin_token.clone(),
        }),
        provenance_access::Publish {
            anonymous,
            whole_entries: args.public_entries,
        },
        grpc,
        tls.as_ref()
            .map(|t| provenance_proto::Identity::from_pem(&t.cert_pem, &t.key_pem)),
        stopped(stop_rx.clone()),
    );
    let grpc_task = tokio::spawn(async move {
        if let Err(e) = grpc_serve.await {
            tracing::error!(error = %e, "the gRPC server failed");
        }
    });

    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    eprintln!(
        "stopping: finishing the batch in hand (at most {} s; Ctrl-C again to stop at once) …",
        SHUTDOWN_DEADLINE.as_secs()
    );
    let started = Instant::now();
    let deadline = started + SHUTDOWN_DEADLINE;
    let running = Running {
        stop: stop_tx,
        mqtt: mqtt_tasks,
        http: http_task,
        grpc: grpc_task,
        ingest,
        ingest_task,
        witnessing,
        ledger,
    };
    let abandoned = tokio::select! {
        // Each step is bounded by the deadline; the timeout only guards that promise.
        a = tokio::time::timeout_at(
            deadline + Duration::from_millis(100),
            shut_down(running, started, deadline),
        ) => a.unwrap_or_else(|_| vec!["the rest of the shutdown (past its deadline)".into()]),
        _ = int.recv() => vec!["everything still running (a second Ctrl-C)".into()],
        _ = term.recv() => vec!["everything still running (a second SIGTERM)".into()],
    };
    let took = started.elapsed().as_secs_f64();
    if abandoned.is_empty() {
        eprintln!("stopped. ({took:.1} s)");
    } else {
        for what in &abandoned {
            tracing::warn!(abandoned = %what, "shutdown: gave up waiting");
        }
        eprintln!(
            "stopped. ({took:.1} s, abandoning {}.) Nothing unacknowledged is lost; the next \
             start indexes what the index missed.",
            abandoned.join("; ")
        );
    }
    Ok(())
}
