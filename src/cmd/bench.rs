//! `provenance bench`: the performance figures of SPEC §10, each beside the limit of this
//! machine measured in the same run, so that a noisy shared machine still gives a meaningful
//! ratio.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ed25519_dalek::{Signer as _, SigningKey};
use provenance_ledger::{Config, Ledger};
use sha2::Digest as _;

/// Measure the ledger and the machine, and print a table.
///
/// Machine limits first (SHA-256 throughput, single-core Ed25519 verification, fsync rate of
/// the data directory's disk), then the ledger: append rate in batches with durable commits,
/// and proof latency at the size reached.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  provenance bench\n  provenance bench --entries 10000000 \
    --database-url postgres://postgres@127.0.0.1/test"
)]
pub struct Args {
    /// Entries to append (the proof figures are taken at this log size).
    #[arg(long, default_value_t = 200_000)]
    entries: u64,
    /// Entries per batch (one durable transaction and one signed checkpoint each).
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Benchmark this database instead of a fresh SQLite file (it must be empty or a log this
    /// run created: a test schema, for example).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Where the SQLite file and log key go (default: a temporary directory, removed after).
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
    /// Which benchmarks: the ledger alone, the MQTT pipeline end to end, or both.
    #[arg(long, value_enum, default_value = "all")]
    only: Which,
    /// Events the pipeline benchmark publishes at full speed.
    #[arg(long, default_value_t = 600_000)]
    pipeline_events: u64,
    /// Publishing devices (one MQTT connection each).
    #[arg(long, default_value_t = 100)]
    devices: usize,
    /// Offered rate (events/s) of the latency run.
    #[arg(long, default_value_t = 10_000)]
    latency_rate: u64,
    /// Run the pipeline against this broker instead of the embedded one (e.g. the Mosquitto
    /// at mqtt://127.0.0.1:1883).
    #[arg(long, value_name = "URL")]
    mqtt_url: Option<String>,
    /// Run the pipeline with this many witnesses (`provenance witness` processes on this
    /// machine, each cosigning every checkpoint it is sent): reports the witnessing lag
    /// (checkpoint signed → cosigned by a majority, and by all) beside the throughput.
    #[arg(long, default_value_t = 0, value_name = "N")]
    witnesses: usize,
}

/// Which benchmarks to run.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// Both.
    All,
    /// The ledger: append, proofs, trace.
    Ledger,
    /// MQTT publish to acknowledgement, through `provenance serve`.
    Pipeline,
}

/// The size of the events the bench signs, about that of a real measurement event.
const ENTRY_BYTES: usize = 300;

/// Signs `n` measurement events of 100 stations (each its own chain), on every core.
fn presign(n: u64, base: u64) -> Vec<Vec<u8>> {
    use provenance_event::{DeviceId, Draft, Epc, Kind, Quantity, message_hash, sign_event};
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()) as u64;
    let stations = 100u64;
    let per_thread = stations.div_ceil(threads);
    let mut parts: Vec<Vec<(u64, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    for st in t * per_thread..((t + 1) * per_thread).min(stations) {
                        // Runs are unique per base so repeated runs on one database never reuse
                        // a (device, seq).
                        let id = DeviceId::new(&format!("bench-{base}-{st}")).expect("valid id");
                        let key = SigningKey::from_bytes(&[st as u8 + 1; 32]);
                        let mut prev = [0u8; 32];
                        let mut seq = 0;
                        let mut i = st;
                        while i < n {
                            seq += 1;
                            let item = Epc::parse(&format!(
                                "urn:epc:id:sgtin:4012345.012345.{}",
                                base + i
                            ))
                            .expect("valid epc");
                            let items = [item];
                            let mut d = Draft::new(
                                seq,
                                prev,
                                1_763_719_200_000 + i as i64,
                                Kind::Measured,
                                &items,
                            );
                            for (q, v) in [
                                (Quantity::Voltage, 3_712),
                                (Quantity::Current, -1_250),
                                (Quantity::StateOfCharge, 870),
                                (Quantity::Temperature, 23_250),
                            ] {
                                d.readings.set(q, v).expect("in range");
                            }
                            let mut buf = vec![0u8; 1024];
                            let len = sign_event(&key, &id, &d, &mut buf).expect("signs");
                            buf.truncate(len);
                            prev = message_hash(&buf);
                            out.push((i, buf));
                            i += stations;
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signer thread"))
            .collect()
    });
    let mut all: Vec<(u64, Vec<u8>)> = parts.drain(..).flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, e)| e).collect()
}

struct Row {
    what: String,
    value: String,
    limit: String,
    ratio: String,
}

fn per_sec(n: f64, d: Duration) -> f64 {
    n / d.as_secs_f64()
}

fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.1}")
    }
}

/// SHA-256 of `size`-byte messages on one core, messages per second.
fn sha256_rate(size: usize) -> f64 {
    let data = vec![0x5au8; size];
    let start = Instant::now();
    let mut n = 0u64;
    let mut acc = 0u8;
    while start.elapsed() < Duration::from_millis(400) {
        for _ in 0..1000 {
            acc ^= sha2::Sha256::digest(&data)[0];
        }
        n += 1000;
    }
    std::hint::black_box(acc);
    per_sec(n as f64, start.elapsed())
}

/// Single-core Ed25519 verifications per second of a 300-byte message.
fn ed25519_rate() -> f64 {
    let key = SigningKey::from_bytes(&[9; 32]);
    let msg = [7u8; 300];
    let sig = key.sign(&msg);
    let vk = key.verifying_key();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(400) {
        for _ in 0..100 {
            std::hint::black_box(vk.verify_strict(&msg, &sig).is_ok());
        }
        n += 100;
    }
    per_sec(n as f64, start.elapsed())
}

/// fsyncs per second of a small append to a file in `dir`: the bound on durable commits.
fn fsync_rate(dir: &std::path::Path) -> anyhow::Result<f64> {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(500) {
        f.write_all(&[0u8; 512])?;
        f.sync_data()?;
        n += 1;
    }
    let rate = per_sec(n as f64, start.elapsed());
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// A cell packed into a pack, onto a pallet, into a container whose tracker logged 990 fixes
/// while the cell was inside: the trace must gather all of them through three containers.
async fn trace_bench(ledger: &Ledger) -> anyhow::Result<(Duration, usize)> {
    use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
    let run = ledger.latest_checkpoint().await.checkpoint.size;
    let epc = |s: String| Epc::parse(&s).expect("valid epc");
    let cell = epc(format!("urn:epc:id:sgtin:4099999.012345.t{run}"));
    let pack = epc(format!("urn:epc:id:sgtin:4099999.012346.t{run}"));
    let pallet = epc(format!(
        "urn:epc:id:sscc:4099999.{:010}",
        run % 10_000_000_000
    ));
    let container = epc(format!(
        "urn:epc:id:sscc:4099998.{:010}",
        run % 10_000_000_000
    ));
    let mut sign = {
        let mut state: std::collections::HashMap<String, (u64, [u8; 32])> = Default::default();
        move |who: &str, kind: Kind, items: &[Epc], parent: Option<&Epc>, t: i64| {
            let id = DeviceId::new(&format!("{who}-{run}")).expect("valid id");
            let key = SigningKey::from_bytes(&[who.len() as u8; 32]);
            let (seq, prev) = state.entry(who.to_string()).or_insert((0, [0; 32]));
            *seq += 1;
            let mut d = Draft::new(*seq, *prev, t, kind, items);
            d.parent = parent;
            let mut buf = vec![0u8; 1024];
            let n = sign_event(&key, &id, &d, &mut buf).expect("signs");
            buf.truncate(n);
            *prev = message_hash(&buf);
            buf
        }
    };
    let t0 = 1_763_719_200_000i64;
    let mut evs = vec![
        sign(
            "station",
            Kind::Commissioned,
            std::slice::from_ref(&cell),
            None,
            t0,
        ),
        sign(
            "station",
            Kind::Packed,
            std::slice::from_ref(&cell),
            Some(&pack),
            t0 + 10,
        ),
        sign(
            "station",
            Kind::Packed,
            std::slice::from_ref(&pack),
            Some(&pallet),
            t0 + 20,
        ),
        sign(
            "station",
            Kind::Packed,
            std::slice::from_ref(&pallet),
            Some(&container),
            t0 + 30,
        ),
        sign(
            "tracker",
            Kind::Sealed,
            std::slice::from_ref(&container),
            None,
            t0 + 40,
        ),
    ];
    for i in 0..990 {
        evs.push(sign(
            "tracker",
            Kind::Located,
            std::slice::from_ref(&container),
            None,
            t0 + 100 + i,
        ));
    }
    evs.push(sign(
        "tracker",
        Kind::Arrived,
        std::slice::from_ref(&container),
        None,
        t0 + 5_000,
    ));
    let size = ledger.append(&evs).await?.checkpoint.checkpoint.size;
    ledger.wait_indexed(size).await?;
    let item = cell.to_string();
    let n = ledger.trace(&item).await?.entries.len();
    let mut times = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        std::hint::black_box(ledger.trace(&item).await?);
        times.push(t.elapsed());
    }
    Ok((median(times), n))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    eprintln!("measuring this machine's limits …");
    let sha = sha256_rate(ENTRY_BYTES);
    let ed = ed25519_rate();
    let fsync = fsync_rate(&dir)?;
    let mut rows = vec![
        Row {
            what: format!("SHA-256, {}-byte messages, 1 core", ENTRY_BYTES),
            value: format!("{}/s", human(sha)),
            limit: "machine".into(),
            ratio: String::new(),
        },
        Row {
            what: "Ed25519 verify, 1 core".into(),
            value: format!("{}/s", human(ed)),
            limit: "machine".into(),
            ratio: String::new(),
        },
        Row {
            what: "fsync of the data directory".into(),
            value: format!("{}/s", human(fsync)),
            limit: "machine".into(),
            ratio: String::new(),
        },
    ];

    if args.only != Which::Ledger {
        rt.block_on(pipeline_rows(&args, ed, &mut rows))?;
    }
    if args.only == Which::Pipeline {
        print_rows(rows);
        return Ok(());
    }
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let config = Config {
        database_url: url,
        key_file: dir.join("bench-log.key"),
        origin: "provenance.bench/log".into(),
    };
    rt.block_on(async {
        let ledger = Ledger::open(&config).await.context("opening the ledger")?;
        let backend = ledger.store().backend();
        let base = ledger.latest_checkpoint().await.checkpoint.size;
        let bar = indicatif::ProgressBar::new(args.entries);
        bar.set_style(indicatif::ProgressStyle::with_template(
            "appending {bar:40} {pos}/{len} entries {per_sec} eta {eta}",
        )?);
        eprintln!(
            "signing {} events for the log (outside the measured time) …",
            args.entries
        );
        let events = presign(args.entries, base);
        let mut appended = 0u64;
        let wall = Instant::now();
        let mut busy = Duration::ZERO;
        let mut commits = 0u64;
        while appended < args.entries {
            let n = args.batch.min((args.entries - appended) as usize);
            let batch = &events[appended as usize..appended as usize + n];
            let t = Instant::now();
            ledger.append(batch).await?;
            busy += t.elapsed();
            commits += 1;
            appended += n as u64;
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        let mean_bytes = events.iter().map(Vec::len).sum::<usize>() / events.len().max(1);
        let rate = per_sec(appended as f64, busy);
        rows.push(Row {
            what: format!(
                "{backend} append (index written alongside), batches of {}, {mean_bytes} B events, durable",
                args.batch
            ),
            value: format!("{} entries/s", human(rate)),
            limit: "SHA-256 rate".into(),
            ratio: format!("{:.1}%", 100.0 * rate / sha),
        });
        let appended_at = wall.elapsed();
        ledger.wait_indexed(base + appended).await?;
        let sustained = per_sec(appended as f64, wall.elapsed());
        rows.push(Row {
            what: format!(
                "{backend} … until the event index caught up (+{:.0} ms)",
                (wall.elapsed() - appended_at).as_secs_f64() * 1e3
            ),
            value: format!("{} entries/s", human(sustained)),
            limit: "SHA-256 rate".into(),
            ratio: format!("{:.1}%", 100.0 * sustained / sha),
        });
        let commit_rate = per_sec(commits as f64, busy);
        rows.push(Row {
            what: format!("{backend} commits (one checkpoint each)"),
            value: format!("{}/s", human(commit_rate)),
            limit: "fsync rate".into(),
            ratio: format!("{:.1}%", 100.0 * commit_rate / fsync),
        });

        let size = ledger.latest_checkpoint().await.checkpoint.size;
        let mut incl = Vec::new();
        let mut cons = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let index = x % size;
            let t = Instant::now();
            ledger.inclusion_proof(index, size).await?;
            incl.push(t.elapsed());
            let from = 1 + x % size;
            let t = Instant::now();
            ledger.consistency_proof(from, size).await?;
            cons.push(t.elapsed());
        }
        for (name, v) in [("inclusion", incl), ("consistency", cons)] {
            let m = median(v);
            rows.push(Row {
                what: format!("{name} proof at {} entries, median", human(size as f64)),
                value: format!("{:.3} ms", m.as_secs_f64() * 1e3),
                limit: "1 ms target".into(),
                ratio: format!("{:.0}%", 100.0 * m.as_secs_f64() / 1e-3),
            });
        }
        let (median_trace, n_events) = trace_bench(&ledger).await?;
        rows.push(Row {
            what: format!("trace of a cell with {n_events} direct + inherited events, median"),
            value: format!("{:.2} ms", median_trace.as_secs_f64() * 1e3),
            limit: "20 ms target".into(),
            ratio: format!("{:.0}%", 100.0 * median_trace.as_secs_f64() / 20e-3),
        });
        ledger.close().await;
        anyhow::Ok(())
    })?;

    print_rows(rows);
    Ok(())
}

/// The pipeline at full speed (throughput), then paced (latency), each beside the machine's
/// single-core Ed25519 rate, which bounds how fast signatures can be checked.
async fn pipeline_rows(args: &Args, ed: f64, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let db = args.database_url.as_deref();
    let mqtt = args.mqtt_url.as_deref();
    eprintln!(
        "pipeline at full speed: {} events from {} devices …",
        args.pipeline_events, args.devices
    );
    let full = crate::cmd::bench_pipeline::run(
        args.devices,
        args.pipeline_events,
        None,
        mqtt,
        db,
        args.witnesses,
    )
    .await?;
    rows.push(Row {
        what: format!(
            "pipeline MQTT→anchored→acked, {}, {} devices",
            full.backend, full.devices
        ),
        value: format!("{} events/s", human(full.rate())),
        limit: "Ed25519 1 core".into(),
        ratio: format!("{:.0}%", 100.0 * full.rate() / ed),
    });
    if let Some(cpu) = full.cpu {
        let per_event = |secs: f64| 1e6 * secs / full.events as f64;
        let verify_us = 1e6 / ed;
        rows.push(Row {
            what: "  server CPU per event (all threads)".into(),
            value: format!("{:.1} µs", per_event(cpu.server)),
            limit: "1 Ed25519 verify".into(),
            ratio: format!("{:.0}%", 100.0 * per_event(cpu.server) / verify_us),
        });
        rows.push(Row {
            what: "  load generator CPU per event (100 MQTT clients)".into(),
            value: format!("{:.1} µs", per_event(cpu.load_generator)),
            limit: "1 Ed25519 verify".into(),
            ratio: format!("{:.0}%", 100.0 * per_event(cpu.load_generator) / verify_us),
        });
        rows.push(Row {
            what: "  machine busy during the run (server, load generator, others)".into(),
            value: format!(
                "{:.0}% = {:.0} + {:.0} + {:.0}",
                100.0 * cpu.machine_busy / cpu.machine_capacity,
                100.0 * cpu.server / cpu.machine_capacity,
                100.0 * cpu.load_generator / cpu.machine_capacity,
                100.0 * cpu.others() / cpu.machine_capacity,
            ),
            limit: "all cores".into(),
            ratio: String::new(),
        });
        // What the server alone could do with every core of this machine, at its measured
        // cost per event: the figure a dedicated ingest host would see.
        let cores = cpu.machine_capacity / full.elapsed.as_secs_f64();
        rows.push(Row {
            what: format!(
                "  server capacity on {cores:.0} cores at that cost (load generator elsewhere)"
            ),
            value: format!(
                "{} events/s",
                human(cores * full.events as f64 / cpu.server.max(1e-9))
            ),
            limit: "Ed25519 1 core".into(),
            ratio: format!(
                "{:.0}%",
                100.0 * cores * full.events as f64 / cpu.server.max(1e-9) / ed
            ),
        });
    }
    if let Some(kib) = full.peak_rss_kib {
        rows.push(Row {
            what: "server peak memory during that run".into(),
            value: format!("{:.0} MiB", kib as f64 / 1024.0),
            limit: String::new(),
            ratio: String::new(),
        });
    }
    let events = (args.latency_rate * 10).min(args.pipeline_events.max(args.latency_rate));
    eprintln!(
        "pipeline paced at {} events/s: {events} events …",
        args.latency_rate
    );
    let paced = crate::cmd::bench_pipeline::run(
        args.devices,
        events,
        Some(args.latency_rate),
        mqtt,
        db,
        args.witnesses,
    )
    .await?;
    for (name, p) in [("p50", 0.50), ("p99", 0.99)] {
        let v = paced.percentile(p);
        rows.push(Row {
            what: format!(
                "publish→ack latency {name} at {} events/s offered",
                human(args.latency_rate as f64)
            ),
            value: format!("{:.1} ms", v.as_secs_f64() * 1e3),
            limit: "250 ms target".into(),
            ratio: format!("{:.0}%", 100.0 * v.as_secs_f64() / 0.25),
        });
    }
    rows.push(Row {
        what: "  (achieved rate of the paced run)".into(),
        value: format!("{} events/s", human(paced.rate())),
        limit: String::new(),
        ratio: String::new(),
    });
    if let Some(w) = &paced.witnessing {
        use crate::cmd::bench_pipeline::WitnessingLag;
        for (what, lags) in [
            (
                format!(
                    "any checkpoint signed → covered by one {} of {} cosigned",
                    w.quorum, w.witnesses
                ),
                &w.covered_ms,
            ),
            (
                format!(
                    "checkpoint asked → {} of {} cosigned",
                    w.quorum, w.witnesses
                ),
                &w.quorum_ms,
            ),
            (
                format!("checkpoint asked → all {} cosigned", w.witnesses),
                &w.all_ms,
            ),
        ] {
            for (name, p) in [("p50", 0.50), ("p99", 0.99)] {
                if let Some(ms) = WitnessingLag::percentile(lags, p) {
                    rows.push(Row {
                        what: format!(
                            "witnessing lag {name}, {what}, at {} events/s",
                            human(args.latency_rate as f64)
                        ),
                        value: format!("{ms} ms"),
                        // Witnesses are asked at most once a second: the lag's floor.
                        limit: "1 s ask interval".into(),
                        ratio: format!("{:.0}%", ms as f64 / 10.0),
                    });
                }
            }
        }
        rows.push(Row {
            what: "  checkpoints signed / cosigned by the majority (≤ 1 ask/s per witness)".into(),
            value: format!("{} / {}", w.signed, w.cosigned),
            limit: String::new(),
            ratio: String::new(),
        });
    }
    Ok(())
}

fn print_rows(rows: Vec<Row>) {
    let w = rows.iter().map(|r| r.what.len()).max().unwrap_or(10);
    let v = rows.iter().map(|r| r.value.len()).max().unwrap_or(10);
    println!("{:w$}  {:>v$}  {:<14} ratio", "benchmark", "value", "vs");
    for r in rows {
        println!(
            "{:w$}  {:>v$}  {:<14} {}",
            r.what, r.value, r.limit, r.ratio
        );
    }
}
