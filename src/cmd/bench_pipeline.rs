//! The end-to-end benchmark of issue #5: many devices publish pre-signed events over MQTT to a
//! real `provenance serve` process; an event counts when the ack covering it arrives, which
//! the server sends only after the event is in a durable signed checkpoint.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use provenance_event::wire::AckPayload;
use provenance_event::{DeviceId, Draft, Epc, Kind, Quantity, message_hash, sign_event};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::Mutex;

/// What one run measured.
pub struct PipelineResult {
    pub events: u64,
    pub devices: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
    pub peak_rss_kib: Option<u64>,
    pub backend: String,
    /// CPU time the measured window cost: the server, this load generator (broker clients),
    /// and everything else on the machine (other work on a shared VM).
    pub cpu: Option<CpuUse>,
    /// With witnesses: how long each checkpoint waited for its cosignatures.
    pub witnessing: Option<WitnessingLag>,
}

/// Witnessing lag over a run: for each checkpoint cosigned by the quorum (or by all), the time
/// from the log signing it to the quorum's (all's) last cosignature arriving, in ms.
pub struct WitnessingLag {
    pub witnesses: usize,
    pub quorum: usize,
    pub quorum_ms: Vec<u64>,
    pub all_ms: Vec<u64>,
    /// For every checkpoint the log signed (each acknowledges a batch of events): the time
    /// until a checkpoint at least as large had the quorum's cosignatures, in ms. What an
    /// event waits to be witnessed, the once-a-second ask included.
    pub covered_ms: Vec<u64>,
    /// Checkpoints the log signed during the run, and how many of them were cosigned by the
    /// quorum (witnesses are asked at most once a second, so most are skipped, by design).
    pub signed: u64,
    pub cosigned: u64,
}

impl WitnessingLag {
    pub fn percentile(v: &[u64], p: f64) -> Option<u64> {
        let mut v = v.to_vec();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(i).copied()
    }
}

/// `provenance witness` processes beside the benchmarked server, killed when dropped.
struct Witnesses {
    children: Vec<std::process::Child>,
    /// `URL=VKEY` for `serve --witness`.
    flags: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Witnesses {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `n` witnesses of the log whose key is `log_vkey`, each its own process and SQLite
/// database, and waits until each serves its key.
async fn start_witnesses(n: usize, log_vkey: &str) -> anyhow::Result<Witnesses> {
    let dir = tempfile::tempdir()?;
    let mut w = Witnesses {
        children: Vec::new(),
        flags: Vec::new(),
        _dir: tempfile::tempdir()?,
    };
    let http = reqwest::Client::new();
    for i in 1..=n {
        let data = dir.path().join(format!("w{i}"));
        let port = free_port()?;
        let child = std::process::Command::new(std::env::current_exe()?)
            .arg("witness")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data")
            .arg(&data)
            .args(["--name", &format!("w{i}.bench/witness"), "--log", log_vkey])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting provenance witness")?;
        w.children.push(child);
        let url = format!("http://127.0.0.1:{port}");
        let mut vkey = None;
        for _ in 0..600 {
            if let Ok(r) = http.get(format!("{url}/key")).send().await {
                if r.status().is_success() {
                    vkey = Some(r.text().await?.trim().to_string());
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let vkey = vkey.with_context(|| format!("witness {i} did not come up"))?;
        w.flags.push(format!("{url}={vkey}"));
    }
    w._dir = dir;
    Ok(w)
}

/// The witnessing lags of the log in `db` (the server's SQLite file), read beside the running
/// server (WAL lets a reader in).
async fn witnessing_lags(
    db: &std::path::Path,
    witnesses: usize,
    since_size: u64,
) -> anyhow::Result<WitnessingLag> {
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true),
    )
    .await?;
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT c.size, k.created_ms, c.received_ms FROM cosignatures c \
         JOIN checkpoints k ON k.size = c.size WHERE c.size > ?1 ORDER BY c.size, c.received_ms",
    )
    .bind(since_size as i64)
    .fetch_all(&pool)
    .await?;
    let checkpoints: Vec<(i64, i64)> =
        sqlx::query_as("SELECT size, created_ms FROM checkpoints WHERE size > ?1 ORDER BY size")
            .bind(since_size as i64)
            .fetch_all(&pool)
            .await?;
    let signed = checkpoints.len();
    pool.close().await;
    let quorum = witnesses / 2 + 1;
    let (mut quorum_ms, mut all_ms) = (Vec::new(), Vec::new());
    // (size, when the quorum's cosignature arrived), ascending by size.
    let mut witnessed: Vec<(i64, i64)> = Vec::new();
    for group in rows.chunk_by(|a, b| a.0 == b.0) {
        let lag = |r: &(i64, i64, i64)| u64::try_from(r.2 - r.1).unwrap_or(0);
        if let Some(r) = group.get(quorum - 1) {
            quorum_ms.push(lag(r));
            witnessed.push((r.0, r.2));
        }
        if let Some(r) = group.get(witnesses - 1) {
            all_ms.push(lag(r));
        }
    }
    // The earliest quorum time among the cosigned checkpoints at or above each size: a
    // suffix minimum, since a later (larger) one may have been cosigned sooner.
    let mut earliest = vec![i64::MAX; witnessed.len()];
    for i in (0..witnessed.len()).rev() {
        earliest[i] = witnessed[i]
            .1
            .min(earliest.get(i + 1).copied().unwrap_or(i64::MAX));
    }
    let covered_ms = checkpoints
        .iter()
        .filter_map(|&(size, created)| {
            let i = witnessed.partition_point(|w| w.0 < size);
            earliest
                .get(i)
                .map(|&t| u64::try_from(t - created).unwrap_or(0))
        })
        .collect();
    Ok(WitnessingLag {
        witnesses,
        quorum,
        covered_ms,
        cosigned: quorum_ms.len() as u64,
        quorum_ms,
        all_ms,
        signed: signed as u64,
    })
}

/// CPU seconds spent during the measured window, from /proc (Linux).
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub server: f64,
    pub load_generator: f64,
    pub machine_busy: f64,
    pub machine_capacity: f64,
}

impl CpuUse {
    /// What other processes took: the noise of a shared machine.
    pub fn others(&self) -> f64 {
        (self.machine_busy - self.server - self.load_generator).max(0.0)
    }
}

/// Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every Linux we run on).
const TICKS: f64 = 100.0;

/// User + system CPU seconds of a process so far.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS)
}

/// Busy and total CPU seconds of the whole machine so far (all cores).
fn machine_cpu() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some(((total - idle) / TICKS, total / TICKS))
}

struct CpuMark {
    server: Option<f64>,
    me: Option<f64>,
    machine: Option<(f64, f64)>,
}

impl CpuMark {
    fn now(server: u32) -> Self {
        Self {
            server: process_cpu(server),
            me: process_cpu(std::process::id()),
            machine: machine_cpu(),
        }
    }

    fn since(&self, server: u32) -> Option<CpuUse> {
        let end = Self::now(server);
        let ((b0, t0), (b1, t1)) = (self.machine?, end.machine?);
        Some(CpuUse {
            server: end.server? - self.server?,
            load_generator: end.me? - self.me?,
            machine_busy: b1 - b0,
            machine_capacity: t1 - t0,
        })
    }
}

impl PipelineResult {
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        let mut v = self.latencies.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i]
    }
}

struct ServerProcess {
    child: std::process::Child,
    dir: tempfile::TempDir,
    http: String,
    mqtt: (String, u16),
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_server(
    dir: tempfile::TempDir,
    mqtt_url: Option<&str>,
    database_url: Option<&str>,
    witnesses: &[String],
) -> anyhow::Result<ServerProcess> {
    let (h, m, g) = (free_port()?, free_port()?, free_port()?);
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.arg("serve")
        .arg("--data")
        .arg(dir.path())
        .args(["--http-listen", &format!("127.0.0.1:{h}")])
        .args(["--mqtt-listen", &format!("127.0.0.1:{m}")])
        .args(["--grpc-listen", &format!("127.0.0.1:{g}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log"))?);
    for w in witnesses {
        cmd.args(["--witness", w]);
    }
    let mut mqtt = ("127.0.0.1".to_string(), m);
    if let Some(url) = mqtt_url {
        let run = std::process::id();
        cmd.args(["--mqtt-url", url])
            .args(["--mqtt-share-group", &format!("bench-{run}")])
            .args([
                "--mqtt-client-id",
                &format!("provenance-bench-ingest-{run}"),
            ]);
        let hp = url.trim_start_matches("mqtt://");
        let (host, port) = hp.rsplit_once(':').unwrap_or((hp, "1883"));
        mqtt = (
            host.to_string(),
            port.parse().context("port of --mqtt-url")?,
        );
    }
    if let Some(db) = database_url {
        cmd.args(["--database-url", db]);
    }
    let child = cmd.spawn().context("starting provenance serve")?;
    let s = ServerProcess {
        child,
        dir,
        http: format!("http://127.0.0.1:{h}"),
        mqtt,
    };
    for _ in 0..600 {
        if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", h)) {
            use std::io::{Read as _, Write as _};
            let _ = c.write_all(b"GET /api/v1/checkpoint HTTP/1.0\r\n\r\n");
            let mut head = [0u8; 12];
            if c.read_exact(&mut head).is_ok() && head.ends_with(b"200") {
                return Ok(s);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(s.dir.path().join("serve.log")).unwrap_or_default();
    bail!("provenance serve did not come up:\n{log}")
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Signs `per_device` events for each device, on every core, outside the measured time.
fn presign(devices: &[(DeviceId, SigningKey)], per_device: u64, run: u64) -> Vec<Vec<Vec<u8>>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = devices.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .chunks(chunk.max(1))
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(j, (id, key))| {
                            let mut prev = [0u8; 32];
                            (1..=per_device)
                                .map(|seq| {
                                    let n = ((c * chunk + j) as u64) * per_device + seq;
                                    let items = [Epc::parse(&format!(
                                        "urn:epc:id:sgtin:4012345.012345.b{run}x{n}"
                                    ))
                                    .expect("valid epc")];
                                    let mut d = Draft::new(seq, prev, now, Kind::Measured, &items);
                                    let _ = d.readings.set(Quantity::Voltage, 3_712);
                                    let _ = d.readings.set(Quantity::Temperature, 23_250);
                                    let mut buf = vec![0u8; 1024];
                                    let len = sign_event(key, id, &d, &mut buf).expect("signs");
                                    buf.truncate(len);
                                    prev = message_hash(&buf);
                                    buf
                                })
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signer thread"))
            .collect()
    })
}

/// Runs one pipeline measurement.
pub async fn run(
    devices: usize,
    events: u64,
    rate: Option<u64>,
    mqtt_url: Option<&str>,
    database_url: Option<&str>,
    witnesses: usize,
) -> anyhow::Result<PipelineResult> {
    // A PostgreSQL run gets a schema of its own, dropped afterwards: a benchmark must not
    // touch a real log, and every run makes a new log key.
    let schema = match database_url {
        Some(url) if url.starts_with("postgres") => {
            static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let name = format!(
                "provenance_bench_{}_{}",
                std::process::id(),
                RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let pool = sqlx::PgPool::connect(url)
                .await
                .context("connecting to PostgreSQL")?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                .execute(&pool)
                .await?;
            let sep = if url.contains('?') { '&' } else { '?' };
            Some((
                pool,
                name.clone(),
                format!("{url}{sep}options=-c%20search_path%3D{name}"),
            ))
        }
        _ => None,
    };
    let db_url = schema.as_ref().map(|(_, _, u)| u.as_str()).or(database_url);
    let dir = tempfile::tempdir()?;
    // With witnesses, the log key is made here: they must know it before the server starts.
    let witness_processes = if witnesses > 0 {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let signer = provenance_tlog::Signer::new("provenance.local/log", &seed)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        provenance_ledger::write_private(
            &dir.path().join("log.key"),
            format!("{}\n", signer.to_skey()).as_bytes(),
        )?;
        Some(start_witnesses(witnesses, &signer.verifier().to_string()).await?)
    } else {
        None
    };
    let flags = witness_processes
        .as_ref()
        .map(|w| w.flags.clone())
        .unwrap_or_default();
    let server = start_server(dir, mqtt_url, db_url, &flags)?;
    let token = std::fs::read_to_string(server.dir.path().join("admin.token"))?
        .trim()
        .to_string();
    let run = u64::from(std::process::id());
    let http = reqwest::Client::new();
    let mut fleet = Vec::new();
    let mut passwords = Vec::new();
    for i in 0..devices {
        let id = DeviceId::new(&format!("bench-{run}-{i}")).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
        let key = SigningKey::from_bytes(&seed);
        let body = serde_json::json!({
            "id": id.as_str(), "role": "tracker", "org": "bench",
            "public_key": base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes()),
        });
        let r: serde_json::Value = http
            .post(format!("{}/api/v1/devices", server.http))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?
            .json()
            .await?;
        passwords.push(r["mqtt_password"].as_str().unwrap_or_default().to_string());
        fleet.push((id, key));
    }
    let per_device = events.div_ceil(devices as u64);
    eprintln!(
        "signing {} events for {devices} devices (outside the measured time) …",
        per_device * devices as u64
    );
    let signed = presign(&fleet, per_device, run);
    let total = per_device * devices as u64;

    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let start = Arc::new(tokio::sync::OnceCell::<Instant>::new());
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Instant>(devices);
    // Every device subscribed to its acks (the barrier), then all start publishing at once (go).
    let barrier = Arc::new(tokio::sync::Barrier::new(devices + 1));
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let per_device_rate = rate.map(|r| (r as f64 / devices as f64).max(1.0));
    for (i, ((id, _), events)) in fleet.iter().zip(signed).enumerate() {
        let mut opts = MqttOptions::new(id.as_str(), &server.mqtt.0, server.mqtt.1);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_inflight(200);
        if mqtt_url.is_none() {
            opts.set_credentials(id.as_str(), &passwords[i]);
        }
        let (client, mut el) = AsyncClient::new(opts, 2000);
        let topic = format!("prov/v1/dev/{id}/ev");
        client
            .subscribe(format!("prov/v1/dev/{id}/ack"), QoS::AtLeastOnce)
            .await?;
        let sent: Arc<Mutex<VecDeque<(u64, Instant)>>> = Arc::default();
        let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (lat, done, sent2, barrier2, acked2) = (
            latencies.clone(),
            done_tx.clone(),
            sent.clone(),
            barrier.clone(),
            acked.clone(),
        );
        tokio::spawn(async move {
            let mut subscribed = false;
            while let Ok(ev) = el.poll().await {
                match ev {
                    Event::Incoming(Packet::SubAck(_)) if !subscribed => {
                        subscribed = true;
                        barrier2.wait().await;
                    }
                    Event::Incoming(Packet::Publish(p)) => {
                        let Ok(ack) = AckPayload::decode(&p.payload) else {
                            continue;
                        };
                        let now = Instant::now();
                        acked2.fetch_max(ack.seq, std::sync::atomic::Ordering::Relaxed);
                        let mut s = sent2.lock().await;
                        let mut l = lat.lock().await;
                        while s.front().is_some_and(|(seq, _)| *seq <= ack.seq) {
                            if let Some((_, t)) = s.pop_front() {
                                l.push(now - t);
                            }
                        }
                        if ack.seq >= per_device {
                            let _ = done.send(now).await;
                            break;
                        }
                    }
                    _ => {}
                }
            }
        });
        let (mut go, start2) = (go_rx.clone(), start.clone());
        tokio::spawn(async move {
            if go.wait_for(|g| *g).await.is_err() {
                return;
            }
            let t0 = *start2.get_or_init(|| async { Instant::now() }).await;
            let events = Arc::new(events);
            for (n, e) in events.iter().cloned().enumerate() {
                if let Some(r) = per_device_rate {
                    let due = t0 + Duration::from_secs_f64(n as f64 / r);
                    tokio::time::sleep_until(due.into()).await;
                }
                sent.lock().await.push_back((n as u64 + 1, Instant::now()));
                if client
                    .publish(topic.as_str(), QoS::AtLeastOnce, false, e)
                    .await
                    .is_err()
                {
                    break;
                }
            }
            // Like a board: what stays unacknowledged is sent again (a broker may drop QoS 1
            // messages for a slow subscriber; the duplicate rule absorbs the copies).
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                let now = acked.load(std::sync::atomic::Ordering::Relaxed);
                if now >= per_device {
                    break;
                }
                if now == last {
                    for e in events.iter().skip(now as usize) {
                        if client
                            .publish(topic.as_str(), QoS::AtLeastOnce, false, e.clone())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
                last = now;
            }
        });
    }
    drop(done_tx);
    let bar = indicatif::ProgressBar::new(devices as u64);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "devices fully acknowledged {bar:40} {pos}/{len} {elapsed}",
    )?);
    barrier.wait().await;
    let cpu_mark = CpuMark::now(server.child.id());
    let _ = start.get_or_init(|| async { Instant::now() }).await;
    let _ = go_tx.send(true);
    let mut last = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    for _ in 0..devices {
        match tokio::time::timeout_at(deadline, done_rx.recv()).await {
            Ok(Some(t)) => {
                last = last.max(t);
                bar.inc(1);
            }
            _ => {
                let log = std::fs::read_to_string(server.dir.path().join("serve.log"))
                    .unwrap_or_default();
                bail!("not every event was acknowledged within 10 minutes; server log:\n{log}");
            }
        }
    }
    bar.finish_and_clear();
    let cpu = cpu_mark.since(server.child.id());
    let t0 = start.get().copied().unwrap_or(last);
    let witnessing = match &witness_processes {
        Some(_) if db_url.is_none() => {
            // The last checkpoint gets its turn: a witness is asked at most once a second.
            tokio::time::sleep(Duration::from_secs(3)).await;
            Some(
                witnessing_lags(
                    &server.dir.path().join("ledger.db"),
                    witnesses,
                    devices as u64,
                )
                .await?,
            )
        }
        _ => None,
    };
    let peak = peak_rss_kib(server.child.id());
    if std::env::var_os("PROVENANCE_BENCH_METRICS").is_some() {
        let m = http
            .get(format!("{}/metrics", server.http))
            .bearer_auth(&token)
            .send()
            .await?
            .text()
            .await?;
        eprintln!("{m}");
    }
    let latencies = std::mem::take(&mut *latencies.lock().await);
    let backend = format!(
        "{} + {}",
        if mqtt_url.is_some() {
            "external broker"
        } else {
            "embedded broker"
        },
        if database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    drop(server);
    drop(witness_processes);
    if let Some((pool, name, _)) = schema {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
            .execute(&pool)
            .await;
    }
    Ok(PipelineResult {
        events: total,
        devices,
        elapsed: last - t0,
        latencies,
        peak_rss_kib: peak,
        backend,
        cpu,
        witnessing,
    })
}
