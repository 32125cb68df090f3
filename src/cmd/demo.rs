//! `provenance demo`: the server and a small simulated journey together, so a newcomer sees a
//! populated trace page within a minute of the first command.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Where the demo says what it listens on, in its data directory: `simulate` reads it.
pub const ENDPOINTS_FILE: &str = "endpoints.json";

/// The demo's data directory unless --data says otherwise (`simulate` looks there too).
pub const DEFAULT_DIR: &str = "provenance-demo";

/// Run the whole system and a small simulated journey: plant, road, sea, customs, warehouse.
///
/// Starts `provenance serve` (embedded broker, SQLite in --data), then `provenance simulate`
/// with a few boards at high speed, and prints the pages to open. The server keeps running
/// after the journey until Ctrl-C or SIGTERM, which stop it too. Ports already taken
/// (Mosquitto on 1883, say) are replaced by free ones, and the demo says which; port 0 means
/// any free port. The addresses in use are written to DIR/endpoints.json while the demo runs,
/// where `provenance simulate` finds them.
#[derive(clap::Args)]
pub struct Args {
    /// Where the demo's log, key and admin token go.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DIR)]
    data: PathBuf,
    /// The web view and HTTP API (a free port is used if this one is taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http_listen: SocketAddr,
    /// The embedded MQTT broker (a free port is used if this one is taken).
    #[arg(long, default_value = "127.0.0.1:1883")]
    mqtt_listen: SocketAddr,
    /// gRPC (a free port is used if this one is taken).
    #[arg(long, default_value = "127.0.0.1:50051")]
    grpc_listen: SocketAddr,
    /// Boards in the simulated fleet.
    #[arg(long, default_value_t = 6)]
    boards: usize,
    /// Stop the server once the journey is over (for scripts), instead of running until Ctrl-C.
    #[arg(long)]
    once: bool,
}

/// `addr`, or a free port on the same interface when `addr` is taken or its port is 0. The
/// port is chosen here rather than by `serve`, because the demo must know it to hand it on.
fn available(addr: SocketAddr, what: &str) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 && TcpListener::bind(addr).is_ok() {
        return Ok(addr);
    }
    let free = TcpListener::bind(SocketAddr::new(addr.ip(), 0))
        .and_then(|l| l.local_addr())
        .with_context(|| format!("no free port for the {what} on {}", addr.ip()))?;
    if addr.port() != 0 {
        eprintln!(
            "demo: {addr} is taken (another program listens there); the {what} uses {free} \
             instead"
        );
    }
    Ok(free)
}

/// What the demo runs on, as `DIR/endpoints.json`: `{"http": URL, "mqtt": URL, "grpc":
/// HOST:PORT}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The web view and HTTP API, `http://HOST:PORT`.
    pub http: String,
    /// The embedded broker, `mqtt://HOST:PORT`.
    pub mqtt: String,
    /// The gRPC API, `HOST:PORT`.
    pub grpc: String,
}

/// Why DIR/endpoints.json could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    /// Not readable (other than missing).
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not what the demo writes.
    #[error(
        "{path} is not what `provenance demo` writes ({why}); delete it, or pass --server and \
         --mqtt-url"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl Endpoints {
    /// The file in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(ENDPOINTS_FILE)
    }

    /// What the demo running on `dir` wrote, or `None` when no demo runs there (no file).
    pub fn read(dir: &Path) -> Result<Option<Self>, EndpointsError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(EndpointsError::Read { path, source }),
        };
        let malformed = |why: String| EndpointsError::Malformed {
            path: path.clone(),
            why,
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
        let field = |name: &str| {
            v[name]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| malformed(format!("no \"{name}\"")))
        };
        Ok(Some(Self {
            http: field("http")?,
            mqtt: field("mqtt")?,
            grpc: field("grpc")?,
        }))
    }

    /// Writes the file in `dir` (whole or not at all: a reader never sees half of it).
    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = Self::path(dir);
        let tmp = dir.join(format!("{ENDPOINTS_FILE}.tmp"));
        let text = serde_json::json!({ "http": self.http, "mqtt": self.mqtt, "grpc": self.grpc });
        std::fs::write(&tmp, format!("{text:#}\n"))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// Removes DIR/endpoints.json when the demo ends, however it ends (short of SIGKILL), so that
/// `simulate` does not send a later fleet to a server that is gone.
struct EndpointsFile(PathBuf);

impl Drop for EndpointsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A child process (`serve`, `simulate`) in a process group of its own, stopped when the demo
/// stops. Its own group, because a Ctrl-C in the terminal reaches the whole foreground group:
/// `serve` would see the demo's forwarded SIGINT as a second Ctrl-C, which means "stop at once"
/// to it. So the demo alone hears the terminal and tells each child exactly once.
struct Guard {
    child: Child,
    name: &'static str,
}

/// How long a child has to stop after the demo tells it to (`serve` finishes its batch in at
/// most 8 s) before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(15);

impl Guard {
    fn spawn(cmd: &mut Command, name: &'static str) -> anyhow::Result<Self> {
        let child = cmd
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting provenance {name}"))?;
        Ok(Self { child, name })
    }

    /// Sends `signal` (a `kill` signal name), waits for the child to end, kills it if it has
    /// not within [`STOP_PATIENCE`].
    fn stop(&mut self, signal: &str) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // `kill` rather than libc: the workspace allows no `unsafe`.
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + STOP_PATIENCE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(_) => break,
            }
        }
        eprintln!(
            "demo: provenance {} did not stop within {} s; killing it",
            self.name,
            STOP_PATIENCE.as_secs()
        );
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop("INT");
    }
}

/// SIGINT, SIGTERM and SIGHUP as they arrive, by name ("INT", "TERM", "HUP"), from a thread
/// of their own. From this call on, none ends the demo by itself: the demo stops its children
/// first (which, in their own process group, do not hear a closing terminal's SIGHUP).
fn stop_signals() -> anyhow::Result<Receiver<&'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("a runtime for signal handling")?;
    // Registered here, not in the thread, so that none arriving from now on is missed.
    let (mut int, mut term, mut hup) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
                signal(SignalKind::hangup())?,
            ))
        })
        .context("catching SIGINT, SIGTERM and SIGHUP")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("demo-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    let name = tokio::select! {
                        _ = int.recv() => "INT",
                        _ = term.recv() => "TERM",
                        _ = hup.recv() => "HUP",
                    };
                    if tx.send(name).is_err() {
                        break;
                    }
                }
            });
        })
        .context("starting the signal thread")?;
    Ok(rx)
}

/// What waiting on a child ended with.
enum Waited {
    Exited(ExitStatus),
    Signal(&'static str),
}

/// Waits until `child` exits or a signal arrives, whichever is first.
fn wait(child: &mut Guard, signals: &Receiver<&'static str>) -> anyhow::Result<Waited> {
    loop {
        if let Some(status) = child.child.try_wait()? {
            return Ok(Waited::Exited(status));
        }
        if let Some(name) = signal_within(signals, Duration::from_millis(100))? {
            return Ok(Waited::Signal(name));
        }
    }
}

/// The signal that arrives within `time`, if any.
fn signal_within(
    signals: &Receiver<&'static str>,
    time: Duration,
) -> anyhow::Result<Option<&'static str>> {
    match signals.recv_timeout(time) {
        Ok(name) => Ok(Some(name)),
        Err(RecvTimeoutError::Timeout) => Ok(None),
        Err(RecvTimeoutError::Disconnected) => bail!("the demo's signal thread ended"),
    }
}

/// Stops `children` (newest first) with the signal the demo received (SIGTERM for SIGHUP,
/// which `serve` does not take as a request to stop), and says so.
fn stopped_by(signal: &str, children: &mut [&mut Guard]) -> anyhow::Result<()> {
    eprintln!("\ndemo: SIG{signal}: stopping");
    let forward = if signal == "HUP" { "TERM" } else { signal };
    for child in children.iter_mut().rev() {
        let status = child.stop(forward);
        // `simulate` has no graceful path (it just dies), `serve` has one and must take it.
        if child.name == "serve" {
            match status {
                Some(status) if !status.success() => {
                    bail!("provenance serve ended with {status} while stopping")
                }
                _ => {}
            }
        }
    }
    eprintln!("demo: stopped");
    Ok(())
}

/// An authority read grant for the demo's visitor (`provenance access grant`), its token.
fn viewer_token(exe: &Path, base: &str, data: &Path) -> anyhow::Result<String> {
    let out = Command::new(exe)
        .args([
            "access",
            "grant",
            "--org",
            "Demo viewer",
            "--tier",
            "authority",
        ])
        .args(["--server", base, "--data"])
        .arg(data)
        .output()
        .context("running provenance access grant")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("token ").map(str::to_string))
        .context("provenance access grant printed no token")
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the provenance binary")?;
    let signals = stop_signals()?;
    let http = available(args.http_listen, "web view")?;
    let mqtt = available(args.mqtt_listen, "MQTT broker")?;
    let grpc = available(args.grpc_listen, "gRPC API")?;
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let mut server = Guard::spawn(
        Command::new(&exe)
            .arg("serve")
            .arg("--data")
            .arg(&args.data)
            .args(["--http-listen", &http.to_string()])
            .args(["--mqtt-listen", &mqtt.to_string()])
            .args(["--grpc-listen", &grpc.to_string()]),
        "serve",
    )?;
    let base = format!("http://{http}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.child.try_wait()? {
            bail!("provenance serve stopped ({status}); see its messages above");
        }
        if ready(http) {
            break;
        }
        if Instant::now() > deadline {
            bail!("provenance serve did not answer on {base} within 30 s");
        }
        if let Some(name) = signal_within(&signals, Duration::from_millis(100))? {
            return stopped_by(name, &mut [&mut server]);
        }
    }
    let endpoints = Endpoints {
        http: base.clone(),
        mqtt: format!("mqtt://{mqtt}"),
        grpc: grpc.to_string(),
    };
    endpoints.write(&args.data)?;
    let _endpoints_file = EndpointsFile(Endpoints::path(&args.data));
    let run = 100
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            % 900) as u32;
    println!();
    println!(
        "demo: a fleet of {} boards is on its way. Open, while it travels:",
        args.boards
    );
    println!("  the container   {base}/items/urn:epc:id:sscc:4012345.9{run:03}000000");
    println!("  a cell in it    {base}/items/urn:epc:id:sgtin:4012345.012345.{run}10000000");
    println!("  customs view    {base}/customs/urn:epc:id:sscc:4012345.9{run:03}000000");
    println!("  its passport    {base}/passport/urn:epc:id:sgtin:4012345.012345.{run}10000000");
    // Anonymous visitors see each item's public facts only: a read token of the authority
    // tier shows a newcomer the whole journey.
    match viewer_token(&exe, &base, &args.data) {
        Ok(token) => println!(
            "  see it all      log in at {base}/login with the read token {token}\n                  \
             (without it you see the public view: who made each item, where and when)"
        ),
        Err(e) => eprintln!("demo: no read token for the pages ({e:#}); you see the public view"),
    }
    let simulate = if args.data == Path::new(DEFAULT_DIR) {
        "provenance simulate".to_string()
    } else {
        format!("provenance simulate --data {}", args.data.display())
    };
    println!(
        "  more boards     `{simulate}` finds this server in {}",
        Endpoints::path(&args.data).display()
    );
    println!();
    let mut sim = Guard::spawn(
        Command::new(&exe)
            .arg("simulate")
            .args(["--boards", &args.boards.to_string(), "--items", "8"])
            .args(["--speedup", "20000", "--sea-days", "1", "--drain", "60"])
            .args([
                "--run",
                &run.to_string(),
                "--seal-breaks",
                "0.2",
                "--heat",
                "0.2",
            ])
            .args(["--server", &base, "--data"])
            .arg(&args.data)
            .args(["--mqtt-url", &endpoints.mqtt]),
        "simulate",
    )?;
    match wait(&mut sim, &signals)? {
        Waited::Exited(status) if status.success() => {}
        Waited::Exited(status) => bail!("the simulated journey did not complete ({status})"),
        Waited::Signal(name) => return stopped_by(name, &mut [&mut server, &mut sim]),
    }
    if args.once {
        return Ok(());
    }
    println!("\ndemo: the journey is over; the server keeps running at {base} (Ctrl-C stops it)");
    match wait(&mut server, &signals)? {
        Waited::Exited(status) if status.success() => Ok(()),
        Waited::Exited(status) => bail!("provenance serve ended with {status}"),
        Waited::Signal(name) => stopped_by(name, &mut [&mut server]),
    }
}

fn ready(http: SocketAddr) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&http, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /api/v1/checkpoint HTTP/1.0\r\n\r\n");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}
