//! `provenance`: the one binary of SPEC §9. Each subcommand lives in `cmd/`; this file only
//! parses the command line and reports errors the way a person can act on.

// The server allocates a buffer or two per message on several threads; glibc's allocator took a
// quarter of the server's CPU in the pipeline benchmark, mimalloc's thread-local heaps far less.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;
mod keyfile;
mod layout;
mod logging;
mod tls;

use clap::{CommandFactory as _, FromArgMatches as _, Subcommand};

/// Supply-chain provenance: devices sign every event, a transparency log anchors it, anyone
/// can verify the chain of custody with nothing but the log's public key.
#[derive(clap::Parser)]
#[command(name = "provenance", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "New here? Run `provenance demo`: the whole system on this machine with a \
                  simulated journey, and the pages to open. Then `provenance serve --help` to run \
                  it for real, `provenance keygen --help` and `provenance sign --help` for \
                  operators' events."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Listed in this order by --help: a newcomer reads the first line first.
    /// Start here: the whole system plus a small simulated journey, the quickest way to see it work.
    Demo(cmd::demo::Args),
    /// Run the whole system: ingest, ledger, web, gRPC and an embedded MQTT broker.
    Serve(Box<cmd::serve::Args>),
    /// Register, rotate, revoke and list devices and operators (through the server).
    #[command(subcommand)]
    Device(cmd::device::DeviceCommand),
    /// Give organisations read tokens at a tier (public, partner, authority), list, revoke.
    #[command(subcommand)]
    Access(cmd::access::AccessCommand),
    /// Name places and parties (GLNs) so pages show names people know.
    #[command(subcommand)]
    Places(cmd::places::PlacesCommand),
    /// List the messages the ingest refused, with their reasons.
    Rejections(cmd::rejections::Args),
    /// Send a signed event file to the server and wait until it is anchored.
    Submit(cmd::device::SubmitArgs),
    /// Make an Ed25519 key for an operator (customs, a warehouse, an inspector).
    Keygen(cmd::keygen::Args),
    /// Sign an operator event (inspection, hold, clearance, handover …) into a COSE_Sign1 file.
    Sign(Box<cmd::sign::Args>),
    /// Check a log's storage (--data) or an evidence bundle offline (--bundle); exit 0 only if all holds.
    Verify(cmd::verify::Args),
    /// Run a fleet of simulated boards (the real firmware) through a whole journey.
    Simulate(Box<cmd::simulate::Args>),
    /// Measure ledger performance against this machine's own limits, printed as a table.
    Bench(cmd::bench::Args),
    /// Cosign a log's checkpoints as an independent witness (C2SP tlog-witness), refusing any
    /// that contradict what it cosigned before and publishing the evidence.
    Witness(cmd::witness::Args),
}

fn main() -> std::process::ExitCode {
    // Parsed in two steps so `simulate` can tell a flag left at its default from one given.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    tls::install_crypto();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(*args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Device(cmd) => cmd::device::run(cmd),
        Command::Places(cmd) => cmd::places::run(cmd),
        Command::Access(cmd) => cmd::access::run(cmd),
        Command::Submit(args) => cmd::device::submit(args),
        Command::Rejections(args) => cmd::rejections::run(args),
        Command::Sign(args) => cmd::sign::run(*args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Simulate(args) => cmd::simulate::run(
            *args,
            cmd::simulate::Given::from_matches(matches.subcommand_matches("simulate")),
        ),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Witness(args) => cmd::witness::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
