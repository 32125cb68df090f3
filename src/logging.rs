//! Structured logs through `tracing`: human-readable by default, one JSON object per line with
//! `PROVENANCE_LOG_FORMAT=json`; the level from `RUST_LOG` (default: [`DEFAULT_FILTER`]).
//!
//! The default is what an operator needs to read at start-up: one line per component, then
//! what goes wrong. Dependencies' chatter (the embedded broker's per-connection lines, sqlx's
//! per-query lines) stays below it; `RUST_LOG` brings any of it back.

use std::fmt::Debug;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// Without `RUST_LOG`: our own components at INFO, the libraries' at WARN.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,rumqttd=warn,rumqttc=warn";

/// Installs the subscriber (once; later calls do nothing).
pub fn init() {
    let from_env = EnvFilter::try_from_default_env().ok();
    // A client that connects and leaves is normal; with RUST_LOG the user decides.
    let quiet = from_env.is_none().then_some(PeerLeftIsNotAnError);
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("PROVENANCE_LOG_FORMAT").is_ok_and(|f| f == "json");
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(quiet);
    let _ = if json {
        registry.with(fmt.json()).try_init()
    } else {
        registry.with(fmt.compact()).try_init()
    };
}

/// Drops rumqttd's ERROR about a client that closed its connection (`ConnectionAborted`,
/// "connection closed by peer"). rumqttd itself logs that at INFO once a client is connected,
/// but at ERROR when it happens before the CONNECT packet: a port probe, a health check, a
/// device losing its network mid-handshake, and our own check that the embedded broker
/// listens. Nothing is wrong then, and an ERROR on every start taught people to ignore ERRORs.
/// (An event filter, not an `EnvFilter` directive: directives match targets and spans, not an
/// event's fields, and the same target reports real failures.)
struct PeerLeftIsNotAnError;

impl<S: Subscriber> Layer<S> for PeerLeftIsNotAnError {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if *meta.level() != Level::ERROR || !meta.target().starts_with("rumqttd") {
            return true;
        }
        let mut peer_left = PeerLeft(false);
        event.record(&mut peer_left);
        !peer_left.0
    }
}

/// Whether an event's `error` field is a connection closed by the peer.
struct PeerLeft(bool);

impl Visit for PeerLeft {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() == "error" {
            self.0 |= format!("{value:?}").contains("ConnectionAborted");
        }
    }
}
