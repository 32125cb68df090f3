//! What the HTTP and gRPC targets run against: a real ledger (SQLite in a temporary directory,
//! on tmpfs where there is one, so that an append's fsync costs little) holding a registered
//! customs key and two of its events about one item, and the real ingest pipeline in front of
//! it, on a single-threaded tokio runtime built once per fuzzing process.
//!
//! Writes are bounded, so that a long run neither fills the disk nor slows down to the speed
//! of appends: a submission with the valid admin token always writes (an entry or a stored
//! rejection), so only the first `BUDGET` of them carry it; a registry change with the valid
//! token writes only when it is well-formed, so the token goes with registry requests until
//! `BUDGET` of them have actually appended (malformed ones, the interesting ones, cost
//! nothing). Past a budget the valid token is replaced by a wrong one: that path (refused with
//! 401 / UNAUTHENTICATED) is the one every other input already explores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::registry::Role;
use provenance_event::{DeviceId, Draft, Epc, Kind, message_hash, sign_event};
use provenance_ingest::admin::Registrar;
use provenance_ingest::service::{Config as IngestConfig, Ingest, NoAcks};
use provenance_ledger::{Config, Ledger};

/// The admin token of the fuzzed server.
pub const TOKEN: &str = "fuzz-admin-token";
/// The item the ledger holds events about.
pub const ITEM: &str = "urn:epc:id:sscc:4012345.0000000017";
/// The registered signer.
pub const DEVICE: &str = "customs-rtm";

/// Submissions with the valid token, and registry entries appended, per process.
const BUDGET: usize = 1000;
static SUBMISSIONS: AtomicUsize = AtomicUsize::new(0);
static REGISTRY_WRITES: AtomicUsize = AtomicUsize::new(0);
static GRANTS: AtomicUsize = AtomicUsize::new(0);

/// What a request would write with the valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Nothing: a read.
    Nothing,
    /// An entry or a rejection: an event submission.
    Submission,
    /// A registry entry, if the request is well-formed.
    Registry,
    /// A read grant (or a read of the grants): the admin's.
    Grant,
}

/// Counts the registry entries a request appended (from the log's size before and after).
pub fn registry_appended(before: u64, after: u64) {
    let n = usize::try_from(after.saturating_sub(before)).unwrap_or(usize::MAX);
    REGISTRY_WRITES.fetch_add(n, Ordering::Relaxed);
}

/// The server's parts.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub ledger: Arc<Ledger>,
    pub ingest: Ingest,
    _dir: tempfile::TempDir,
}

/// The world, built on first use.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(build)
}

fn build() -> World {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("provenance-fuzz")
            .tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    // libFuzzer ends the process with exit(): statics are not dropped, so the directory is
    // removed by an exit handler instead (a crash leaves it behind, with the finding).
    let _ = DIR.set(dir.path().to_path_buf());
    // SAFETY: atexit only records the function pointer; `remove_dir` takes no arguments and
    // does not unwind (`remove_dir_all` returns its errors, which are ignored).
    unsafe {
        libc::atexit(remove_dir);
    }
    let (ledger, ingest) = rt.block_on(async {
        let ledger = Arc::new(
            Ledger::open(&Config {
                database_url: format!("sqlite://{}", dir.path().join("ledger.db").display()),
                key_file: dir.path().join("log.key"),
                origin: "provenance.fuzz/log".into(),
            })
            .await
            .expect("open ledger"),
        );
        let config = IngestConfig {
            batch_wait: std::time::Duration::from_millis(1),
            ..IngestConfig::default()
        };
        let (ingest, task) = Ingest::start(ledger.clone(), Arc::new(NoAcks), config)
            .await
            .expect("ingest");
        // The pipeline runs as long as the process; the handle is not needed.
        drop(task);
        let key = SigningKey::from_bytes(&[9; 32]);
        let id = DeviceId::new(DEVICE).expect("id");
        Registrar::new(ledger.clone(), ingest.clone())
            .register(
                &id,
                Role::Customs,
                "Dutch Customs",
                key.verifying_key().to_bytes(),
            )
            .await
            .expect("register");
        let mut prev = [0; 32];
        for seq in 1..=2 {
            let bytes = event(&key, &id, seq, prev);
            prev = message_hash(&bytes);
            let outcome = ingest
                .submit(provenance_ingest::validate::Message {
                    topic: None,
                    bytes,
                    received_ms: now_ms(),
                })
                .await;
            assert!(
                matches!(
                    outcome,
                    provenance_ingest::service::Outcome::Anchored { .. }
                ),
                "{outcome:?}"
            );
        }
        let size = ledger.latest_checkpoint().await.checkpoint.size;
        ledger.wait_indexed(size).await.expect("indexed");
        (ledger, ingest)
    });
    World {
        rt,
        ledger,
        ingest,
        _dir: dir,
    }
}

static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();

extern "C" fn remove_dir() {
    if let Some(dir) = DIR.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A signed inspection of [`ITEM`]: the bytes a seed of a submission carries.
pub fn event(key: &SigningKey, id: &DeviceId, seq: u64, prev: [u8; 32]) -> Vec<u8> {
    let items = [Epc::parse(ITEM).expect("epc")];
    let mut d = Draft::new(seq, prev, now_ms(), Kind::Inspected, &items);
    d.doc = Some("MRN-24NL0000000000001");
    let mut buf = vec![0u8; 2048];
    let n = sign_event(key, id, &d, &mut buf).expect("sign");
    buf.truncate(n);
    buf
}

/// How a request authenticates, chosen by one input byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No authorization at all.
    None,
    /// `Bearer <the token>` (while the write budget lasts).
    Valid,
    /// `Bearer <another token>`.
    Wrong,
    /// The token without `Bearer `.
    NoScheme,
    /// `Bearer <the token with a byte flipped>` (same length).
    Flipped,
}

impl Auth {
    pub fn from_byte(b: u8) -> Self {
        match b % 5 {
            0 => Auth::None,
            1 => Auth::Valid,
            2 => Auth::Wrong,
            3 => Auth::NoScheme,
            _ => Auth::Flipped,
        }
    }

    /// The `authorization` value to send, if any; [`Auth::Valid`] turns into a wrong token
    /// once the budget of what the request would write is spent.
    pub fn header(self, write: Write) -> Option<String> {
        let within_budget = || match write {
            Write::Nothing => true,
            Write::Submission => SUBMISSIONS.fetch_add(1, Ordering::Relaxed) < BUDGET,
            Write::Registry => REGISTRY_WRITES.load(Ordering::Relaxed) < BUDGET,
            Write::Grant => GRANTS.fetch_add(1, Ordering::Relaxed) < BUDGET,
        };
        match self {
            Auth::None => None,
            Auth::Valid if within_budget() => Some(format!("Bearer {TOKEN}")),
            Auth::Valid | Auth::Wrong => Some("Bearer not-the-token".into()),
            Auth::NoScheme => Some(TOKEN.into()),
            Auth::Flipped => Some(format!("Bearer {}", TOKEN.replace('z', "y"))),
        }
    }

    /// Whether `header` is the valid token.
    pub fn is_valid(header: Option<&str>) -> bool {
        header.and_then(|h| h.strip_prefix("Bearer ")) == Some(TOKEN)
    }
}

/// Whether a conflict (HTTP 409, gRPC FAILED_PRECONDITION) is about the registry's state, the
/// only thing a well-formed request can conflict with; a malformed one is a 400 /
/// INVALID_ARGUMENT that says what to send.
pub fn registry_state_conflict(message: &str) -> bool {
    [
        "is already registered",
        "already has this key",
        "is revoked",
        "is not registered",
    ]
    .iter()
    .any(|m| message.contains(m))
}
