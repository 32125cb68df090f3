//! `provenance simulate`: a fleet of simulated boards (the real firmware on simulated chips)
//! against a running server's MQTT broker, with the journey of SPEC §1 and injected faults.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use provenance_simulator::{Backend, Config, FaultRates, Progress};

use crate::cmd::demo::{self, Endpoints};
use crate::cmd::device::ServerArgs;

/// Run a fleet of simulated boards through a whole journey against a running server.
///
/// Each shipment is a container of battery cells: commissioned, measured and packed at a plant
/// station, sealed, tracked by road to Hamburg, by sea (no network: store and forward) to
/// Felixstowe, inspected and cleared by customs, handed over and received at a warehouse.
/// Boards are registered through the admin API, then publish over MQTT like real ones.
///
/// Example: `provenance simulate --boards 1000 --speedup 5000` against `provenance serve`.
///
/// After `provenance demo`, `provenance simulate` alone runs against the demo: the demo writes
/// where its server and broker listen to provenance-demo/endpoints.json, and simulate reads it
/// when neither --data nor --server is given (and provenance-data/ holds no server's token).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The MQTT broker the boards publish to: the "MQTT" line `provenance serve` prints.
    /// Without it, the broker of the `provenance demo` running on --data (DIR/endpoints.json,
    /// which the demo writes; provenance-demo/ when neither --data nor --server is given),
    /// else mqtt://127.0.0.1:1883.
    #[arg(long, value_name = "URL")]
    mqtt_url: Option<String>,
    /// Boards in the fleet: one plant station per ten trackers, one tracker per shipment.
    #[arg(long, default_value_t = 20)]
    boards: usize,
    /// Battery cells per shipment (packed four to a pack, the packs onto one pallet).
    #[arg(long, default_value_t = 8)]
    items: usize,
    /// Simulated seconds per real second (a four-day journey takes about two minutes at 3000).
    #[arg(long, default_value_t = 3000.0)]
    speedup: f64,
    /// Days at sea between Hamburg and Felixstowe (no network there).
    #[arg(long, default_value_t = 2.0)]
    sea_days: f64,
    /// Seed for every random choice: the same seed gives the same journeys and faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run number in device IDs and serials (default: from the clock), so runs never collide.
    #[arg(long)]
    run: Option<u32>,
    /// Share of trackers with an extra offline spell.
    #[arg(long, default_value_t = 0.1, value_name = "FRACTION")]
    offline: f64,
    /// Length of those spells, hours (a week: 168; the flash ring then overflows).
    #[arg(long, default_value_t = 18.0, value_name = "HOURS")]
    offline_hours: f64,
    /// Share of trackers whose power is cut in the middle of a flash write.
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION")]
    reboots: f64,
    /// Share of containers whose seal is broken at sea.
    #[arg(long, default_value_t = 0.02, value_name = "FRACTION")]
    seal_breaks: f64,
    /// Share of containers that overheat on the quay (a temperature excursion).
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION")]
    heat: f64,
    /// Share of containers dropped by a crane (a shock excursion).
    #[arg(long, default_value_t = 0.02, value_name = "FRACTION")]
    drops: f64,
    /// Share of consignments customs holds before clearing.
    #[arg(long, default_value_t = 0.1, value_name = "FRACTION")]
    holds: f64,
    /// No faults at all (overrides the shares above).
    #[arg(long)]
    no_faults: bool,
    /// Seconds to wait after the journeys for every event to be acknowledged.
    #[arg(long, default_value_t = 120)]
    drain: u64,
    /// Threads driving the boards (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

/// The server's admin API, blocking (called from the fleet's threads).
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    server: ServerArgs,
    token: String,
}

impl Backend for Http {
    fn register(
        &self,
        id: &str,
        role: &str,
        org: &str,
        public_key: [u8; 32],
    ) -> Result<String, String> {
        let body = serde_json::json!({
            "id": id, "role": role, "org": org,
            "public_key": base64::engine::general_purpose::STANDARD.encode(public_key),
        });
        self.rt.block_on(async {
            let r = self
                .client
                .post(self.server.url("/api/v1/devices"))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await
                .map_err(|e| format!("cannot reach {}: {e}", self.server.server))?;
            let status = r.status();
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            if !status.is_success() {
                return Err(format!(
                    "registering {id}: {status}: {} (pass --run N to use other IDs)",
                    v["error"].as_str().unwrap_or("")
                ));
            }
            v["mqtt_password"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("registering {id}: no mqtt_password in the answer"))
        })
    }

    fn name_place(&self, gln: &str, name: &str) -> Result<(), String> {
        self.rt.block_on(async {
            let r = self
                .client
                .put(self.server.url(&format!("/api/v1/places/{gln}")))
                .bearer_auth(&self.token)
                .json(&serde_json::json!({ "name": name }))
                .send()
                .await
                .map_err(|e| format!("cannot reach {}: {e}", self.server.server))?;
            let status = r.status();
            if !status.is_success() {
                let v: serde_json::Value = r.json().await.unwrap_or_default();
                return Err(format!(
                    "naming {gln}: {status}: {}",
                    v["error"].as_str().unwrap_or("")
                ));
            }
            Ok(())
        })
    }

    fn submit(&self, event: &[u8]) -> Result<(), String> {
        self.rt.block_on(async {
            let r = self
                .client
                .post(self.server.url("/api/v1/events"))
                .bearer_auth(&self.token)
                .header("content-type", "application/cose")
                .body(event.to_vec())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("{status}: {}", r.text().await.unwrap_or_default()))
            }
        })
    }
}

/// The broker when neither --mqtt-url nor a demo's endpoints file names one.
const DEFAULT_BROKER: &str = "mqtt://127.0.0.1:1883";

/// How long the fleet may sign events without one being acknowledged before simulate says
/// that the broker is probably not a provenance server's.
const ACK_PATIENCE: Duration = Duration::from_secs(5);

/// Which of the flags a running demo can stand in for were given, on the command line or
/// through the environment (`PROVENANCE_SERVER`), rather than left at their defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Given {
    /// --server.
    pub server: bool,
    /// --data.
    pub data: bool,
}

impl Given {
    /// From the `simulate` subcommand's matches.
    pub fn from_matches(m: Option<&clap::ArgMatches>) -> Self {
        let given = |id: &str| {
            m.and_then(|m| m.value_source(id))
                .is_some_and(|s| s != clap::parser::ValueSource::DefaultValue)
        };
        Self {
            server: given("server"),
            data: given("data"),
        }
    }
}

/// Fills in, from the endpoints file of a running `provenance demo`, the server (unless
/// --server was given), the broker (unless --mqtt-url was) and the data directory with the
/// demo's admin token: the file in --data, or in provenance-demo/ when neither --data nor
/// --server was given and the default --data directory holds no server's token. Returns the
/// file used, if it filled anything in.
fn from_demo(args: &mut Args, given: Given) -> anyhow::Result<Option<PathBuf>> {
    if given.server && args.mqtt_url.is_some() {
        return Ok(None);
    }
    let mut dirs = vec![args.server.data.clone()];
    if !given.data && !given.server && !args.server.data.join("admin.token").exists() {
        dirs.push(PathBuf::from(demo::DEFAULT_DIR));
    }
    for dir in dirs {
        let Some(e) = Endpoints::read(&dir)? else {
            continue;
        };
        if !given.server {
            args.server.server = e.http;
        }
        if args.mqtt_url.is_none() {
            args.mqtt_url = Some(e.mqtt);
        }
        args.server.data = dir.clone();
        return Ok(Some(Endpoints::path(&dir)));
    }
    Ok(None)
}

fn broker_addr(url: &str) -> anyhow::Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs as _;
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .with_context(|| format!("--mqtt-url {url:?}: write mqtt://HOST:PORT"))?;
    let hostport = if rest.contains(':') {
        rest.trim_end_matches('/').to_string()
    } else {
        format!("{}:1883", rest.trim_end_matches('/'))
    };
    hostport
        .to_socket_addrs()
        .with_context(|| format!("--mqtt-url {url:?}: cannot resolve {hostport}"))?
        .next()
        .with_context(|| format!("--mqtt-url {url:?}: no address"))
}

pub fn run(mut args: Args, given: Given) -> anyhow::Result<()> {
    if args.speedup.is_nan() || args.speedup < 1.0 {
        bail!("--speedup must be at least 1 (simulated seconds per real second)");
    }
    if args.boards < 2 {
        bail!("--boards must be at least 2: a plant station and a tracker");
    }
    for (name, v) in [
        ("--offline", args.offline),
        ("--reboots", args.reboots),
        ("--seal-breaks", args.seal_breaks),
        ("--heat", args.heat),
        ("--drops", args.drops),
        ("--holds", args.holds),
    ] {
        if !(0.0..=1.0).contains(&v) {
            bail!("{name} is a share of the fleet, between 0 and 1 (0.05 = 5 %); got {v}");
        }
    }
    if let Some(file) = from_demo(&mut args, given)? {
        eprintln!(
            "simulate: the demo's server {} and broker {} (from {}); pass --server and \
             --mqtt-url for others",
            args.server.server,
            args.mqtt_url.as_deref().unwrap_or(DEFAULT_BROKER),
            file.display()
        );
    }
    let mqtt_url = args
        .mqtt_url
        .clone()
        .unwrap_or_else(|| DEFAULT_BROKER.to_string());
    let broker = broker_addr(&mqtt_url)?;
    let token = args.server.token()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let run = args.run.unwrap_or_else(|| {
        let s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        100 + (s % 900) as u32
    });
    let faults = if args.no_faults {
        FaultRates {
            offline: 0.0,
            offline_hours: 0.0,
            reboot: 0.0,
            seal_break: 0.0,
            heat: 0.0,
            drop: 0.0,
            hold: 0.0,
        }
    } else {
        FaultRates {
            offline: args.offline,
            offline_hours: args.offline_hours,
            reboot: args.reboots,
            seal_break: args.seal_breaks,
            heat: args.heat,
            drop: args.drops,
            hold: args.holds,
        }
    };
    let config = Config {
        broker,
        boards: args.boards,
        cells: args.items.max(1),
        speedup: args.speedup,
        sea_days: args.sea_days.max(0.1),
        faults,
        seed: args.seed,
        run,
        drain: Duration::from_secs(args.drain),
        workers: args
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
    };
    let server = args.server.server.trim_end_matches('/').to_string();
    let backend = Arc::new(Http {
        rt,
        client: args.server.client()?,
        server: args.server,
        token,
    });
    let progress = Arc::new(Progress::default());
    let fleet = std::thread::spawn({
        let (progress, backend) = (progress.clone(), backend.clone());
        move || provenance_simulator::run(&config, backend, progress)
    });
    let bar = indicatif::ProgressBar::new(args.boards as u64);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{spinner} {elapsed:>4} {bar:30} {pos}/{len} boards done · {msg}",
    )?);
    // Since when events are signed and none is acknowledged (the boards publish to a broker
    // no provenance ingest reads, say Mosquitto on 1883 while the demo's broker moved).
    let mut unacknowledged_since: Option<Instant> = None;
    let mut warned = false;
    while !fleet.is_finished() {
        let p = &progress;
        let sim = p.sim_ms.load(Ordering::Relaxed);
        let (signed, acknowledged) = (
            p.signed.load(Ordering::Relaxed),
            p.acknowledged.load(Ordering::Relaxed),
        );
        if signed > 0 && acknowledged == 0 {
            let since = *unacknowledged_since.get_or_insert_with(Instant::now);
            if !warned && since.elapsed() >= ACK_PATIENCE {
                warned = true;
                bar.suspend(|| eprintln!("simulate: {}", no_ack_hint(&mqtt_url, signed)));
            }
        }
        bar.set_position(p.boards_done.load(Ordering::Relaxed));
        bar.set_message(if sim == 0 {
            format!(
                "registering {}/{}",
                p.registered.load(Ordering::Relaxed),
                args.boards + 2
            )
        } else {
            format!(
                "{} · signed {} · acknowledged {} · operator events {}",
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + Duration::from_millis(sim)
                ),
                p.signed.load(Ordering::Relaxed),
                p.acknowledged.load(Ordering::Relaxed),
                p.operator_events.load(Ordering::Relaxed),
            )
        });
        bar.tick();
        std::thread::sleep(Duration::from_millis(200));
    }
    bar.finish_and_clear();
    let summary = fleet
        .join()
        .map_err(|_| anyhow::anyhow!("the simulator panicked"))?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{summary}");
    if let Some(c) = &summary.example_container {
        println!("look at     {server}/items/{c}");
    }
    if let Some(c) = &summary.example_cell {
        println!("            {server}/items/{c}");
    }
    if !summary.complete() {
        if progress.acknowledged.load(Ordering::Relaxed) == 0 {
            bail!(
                "not one event was acknowledged: {}",
                no_ack_hint(&mqtt_url, progress.signed.load(Ordering::Relaxed))
            );
        }
        bail!(
            "not every event was acknowledged within --drain {} s after the journeys",
            args.drain
        );
    }
    Ok(())
}

/// What to say when the boards publish and nothing comes back.
fn no_ack_hint(mqtt_url: &str, signed: u64) -> String {
    format!(
        "no acknowledgement from the broker at {mqtt_url} after {} s ({signed} events \
         signed): is a provenance server listening there? `provenance demo` writes its \
         broker's address to {}/{} (read when --mqtt-url is not given; pass --data DIR for a \
         demo elsewhere); otherwise pass --mqtt-url with the MQTT address `provenance serve` \
         printed at start",
        ACK_PATIENCE.as_secs(),
        demo::DEFAULT_DIR,
        demo::ENDPOINTS_FILE,
    )
}
