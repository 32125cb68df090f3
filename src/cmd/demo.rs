//! `provenance demo`: the server and a small simulated journey together, so a newcomer sees a
//! populated trace page within a minute of the first command.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Run the whole system and a small simulated journey: plant, road, sea, customs, warehouse.
///
/// Starts `provenance serve` (embedded broker, SQLite in --data), then `provenance simulate`
/// with a few boards at high speed, and prints the pages to open. The server keeps running
/// after the journey until Ctrl-C. Ports already taken (Mosquitto on 1883, say) are replaced by
/// free ones, and the demo says which.
#[derive(clap::Args)]
pub struct Args {
    /// Where the demo's log, key and admin token go.
    #[arg(long, value_name = "DIR", default_value = "provenance-demo")]
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

/// `addr`, or a free port on the same interface when `addr` is taken.
fn available(addr: SocketAddr, what: &str) -> anyhow::Result<SocketAddr> {
    if TcpListener::bind(addr).is_ok() {
        return Ok(addr);
    }
    let free = TcpListener::bind(SocketAddr::new(addr.ip(), 0))
        .and_then(|l| l.local_addr())
        .with_context(|| format!("no free port for the {what}"))?;
    eprintln!(
        "demo: {addr} is taken (another program listens there); the {what} uses {free} instead"
    );
    Ok(free)
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(self.0.id().to_string())
                .status();
            let _ = self.0.wait();
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the provenance binary")?;
    let http = available(args.http_listen, "web view")?;
    let mqtt = available(args.mqtt_listen, "MQTT broker")?;
    let grpc = available(args.grpc_listen, "gRPC API")?;
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let mut server = Guard(
        Command::new(&exe)
            .arg("serve")
            .arg("--data")
            .arg(&args.data)
            .args(["--http-listen", &http.to_string()])
            .args(["--mqtt-listen", &mqtt.to_string()])
            .args(["--grpc-listen", &grpc.to_string()])
            .spawn()
            .context("starting provenance serve")?,
    );
    let base = format!("http://{http}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.0.try_wait()? {
            bail!("provenance serve stopped ({status}); see its messages above");
        }
        if ready(http) {
            break;
        }
        if Instant::now() > deadline {
            bail!("provenance serve did not answer on {base} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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
    println!();
    let sim = Command::new(&exe)
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
        .args(["--mqtt-url", &format!("mqtt://{mqtt}")])
        .status()
        .context("starting provenance simulate")?;
    if !sim.success() {
        bail!("the simulated journey did not complete ({sim})");
    }
    if args.once {
        return Ok(());
    }
    println!("\ndemo: the journey is over; the server keeps running at {base} (Ctrl-C stops it)");
    let status = server.0.wait()?;
    if !status.success() {
        bail!("provenance serve ended with {status}");
    }
    Ok(())
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
