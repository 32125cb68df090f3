//! The log's side of C2SP tlog-witness: `serve --witness URL=VKEY` sends each new checkpoint
//! to each of its witnesses and keeps the cosignatures they return.
//!
//! One task per witness, so a slow or dead witness delays nobody else:
//! - once a second the newest checkpoint becomes the round's, the same for every witness (so
//!   a quorum forms on one checkpoint), and each witness is asked for it once: at most one
//!   request a second per witness (public witness networks budget about that per log), with
//!   the size the witness last cosigned and the consistency proof between them;
//! - a 409 answer tells the size the witness holds (after a restart of either side, or an
//!   answer that was lost): the next request starts from it, at once — from the very size
//!   asked for, if the witness already holds it, which it cosigns again;
//! - any other failure backs off, doubling from one second up to [`MAX_BACKOFF`], and says
//!   so in the log once per change of state, not once per try;
//! - every returned line is checked against the witness's configured key before it is
//!   recorded; lines by other keys are ignored, as the spec asks.
//!
//! It only reads the log (the newest checkpoint, tiles for the proof) and writes cosignatures:
//! anchoring never waits for it.

use std::sync::Arc;
use std::time::Duration;

use provenance_ledger::witnessed::StoredCosignature;
use provenance_ledger::{Ledger, SignedCheckpoint};
use provenance_tlog::cosignature::CosignatureVerifier;

use crate::AddCheckpoint;

/// The longest pause between tries to a witness that keeps failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// At most one request per this interval to one witness.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How far a witness's clock may run ahead of this server's.
const CLOCK_SLACK_S: u64 = 300;
/// The largest answer read from a witness.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A witness the log sends its checkpoints to: `URL=VKEY` on the command line.
#[derive(Debug, Clone)]
pub struct WitnessTarget {
    /// The witness's submission prefix; `add-checkpoint` is appended to it.
    pub url: String,
    /// The witness's cosignature key.
    pub key: CosignatureVerifier,
}

/// A `--witness` value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// No `=` between the URL and the key.
    #[error("expected URL=VKEY, e.g. http://witness.example:8090=witness.example/w1+1a2b3c4d+BA…")]
    Shape,
    /// The URL is not http(s).
    #[error("the witness URL {0:?} must start with http:// or https://")]
    Url(String),
    /// The key is not a cosignature/v1 vkey.
    #[error(
        "the witness key: {0} (expected the vkey the witness prints at start or serves at GET /key)"
    )]
    Key(provenance_tlog::NoteError),
}

impl std::str::FromStr for WitnessTarget {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The URL may hold `=` (a query), the vkey too (base64 padding, even its name): the
        // split is at the rightmost `=` whose right side is a cosignature key.
        let mut first_problem = None;
        let mut found = None;
        for (i, _) in s.match_indices('=').rev() {
            match CosignatureVerifier::parse(&s[i + 1..]) {
                Ok(key) => {
                    found = Some((&s[..i], key));
                    break;
                }
                Err(e) => first_problem = Some(e),
            }
        }
        let (url, key) = match (found, first_problem) {
            (Some(f), _) => f,
            (None, Some(e)) => return Err(TargetError::Key(e)),
            (None, None) => return Err(TargetError::Shape),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(TargetError::Url(url.to_string()));
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            key,
        })
    }
}

/// What one request to a witness came to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Cosigned the checkpoint of this size.
    Cosigned(u64),
    /// The witness holds another size.
    Conflict(u64),
    /// Refused or unreachable: why.
    Failed(String),
}

/// Starts the witnessing: one round a second (the newest checkpoint, the same for every
/// witness, so that a quorum forms on one checkpoint) and one task per witness. They end
/// when `stop` changes.
pub fn spawn(
    ledger: Arc<Ledger>,
    targets: Vec<WitnessTarget>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let http = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("provenance/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot make an HTTP client; no witness will be asked");
            return Vec::new();
        }
    };
    let (round_tx, round_rx) = tokio::sync::watch::channel(None::<SignedCheckpoint>);
    let mut tasks = vec![tokio::spawn(rounds(ledger.clone(), round_tx, stop.clone()))];
    tasks.extend(targets.into_iter().map(|target| {
        let ledger = ledger.clone();
        let http = http.clone();
        let (round, stop) = (round_rx.clone(), stop.clone());
        tokio::spawn(async move { follow(ledger, http, target, round, stop).await })
    }));
    tasks
}

/// Once a second, the newest checkpoint, when it grew.
async fn rounds(
    ledger: Arc<Ledger>,
    round: tokio::sync::watch::Sender<Option<SignedCheckpoint>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let latest = ledger.latest_checkpoint().await;
        let size = latest.checkpoint.size;
        let newer = round
            .borrow()
            .as_ref()
            .is_none_or(|c| c.checkpoint.size < size);
        if size > 0 && newer {
            round.send_replace(Some(latest));
        }
    }
}

async fn follow(
    ledger: Arc<Ledger>,
    http: reqwest::Client,
    target: WitnessTarget,
    mut round: tokio::sync::watch::Receiver<Option<SignedCheckpoint>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let name = target.key.name().to_string();
    // The size the witness holds, as far as we know: unknown at start, so the first request
    // says 0 and a witness that knows the log answers 409 with its size.
    let mut held: Option<u64> = None;
    // The size of the newest checkpoint whose cosignature by this witness the log keeps. Not
    // `held`: a witness may have moved to a size whose cosignature never reached us (an answer
    // lost, or not kept), and then it is asked again from that size, which it answers with a
    // fresh cosignature.
    let mut kept: Option<u64> = None;
    // A 409 is followed at once by one more request, once per checkpoint: a witness that keeps
    // answering 409 with other sizes gets the back-off, not a tight loop.
    let mut retried_for: Option<u64> = None;
    let mut backoff = INTERVAL;
    let mut failing: Option<String> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let current = round.borrow_and_update().clone();
        let Some(latest) = current.filter(|c| kept != Some(c.checkpoint.size)) else {
            tokio::select! {
                r = round.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
            continue;
        };
        let size = latest.checkpoint.size;
        let old = match held {
            Some(h) if h <= size => h,
            _ => 0,
        };
        // From the empty tree, or to the same size, the proof is empty (tlog-witness).
        let proof = if old == 0 || old == size {
            Ok(Vec::new())
        } else {
            ledger.consistency_proof(old, size).await
        };
        let outcome = match proof {
            Ok(proof) => {
                let request = AddCheckpoint {
                    old_size: old,
                    proof,
                    note: latest.note.clone(),
                };
                ask(&http, &target, &request, &latest, &ledger).await
            }
            Err(e) => Outcome::Failed(format!("cannot prove consistency from {old}: {e}")),
        };
        match outcome {
            Outcome::Cosigned(s) => {
                held = Some(s);
                kept = Some(s);
                backoff = INTERVAL;
                if failing.take().is_some() {
                    tracing::info!(witness = %name, size = s, "the witness cosigns again");
                }
                continue;
            }
            Outcome::Conflict(s) if s <= size && retried_for != Some(size) => {
                // Ask again at once from the size it holds.
                held = Some(s);
                retried_for = Some(size);
                continue;
            }
            Outcome::Conflict(s) => {
                let why = if s > size {
                    format!(
                        "the witness holds size {s}, above this log's {size}: it follows another \
                         history under this origin (a fork), or this database lost entries"
                    )
                } else {
                    format!("the witness keeps answering 409 with size {s}")
                };
                held = Some(s).filter(|&s| s <= size);
                fail(&name, &mut failing, &mut backoff, why);
            }
            Outcome::Failed(why) => fail(&name, &mut failing, &mut backoff, why),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
    }
}

fn fail(name: &str, failing: &mut Option<String>, backoff: &mut Duration, why: String) {
    if failing.as_deref() != Some(why.as_str()) {
        tracing::warn!(witness = %name, problem = %why, "the witness did not cosign; retrying with back-off");
    }
    *backoff = if failing.is_some() {
        (*backoff * 2).min(MAX_BACKOFF)
    } else {
        INTERVAL
    };
    *failing = Some(why);
}

async fn ask(
    http: &reqwest::Client,
    target: &WitnessTarget,
    request: &AddCheckpoint,
    latest: &SignedCheckpoint,
    ledger: &Ledger,
) -> Outcome {
    let url = format!("{}/add-checkpoint", target.url);
    let answer = http.post(&url).body(request.to_body()).send().await;
    let response = match answer {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("POST {url}: {e}")),
    };
    let status = response.status();
    let body = match read_limited(response).await {
        Ok(b) => b,
        Err(e) => return Outcome::Failed(format!("POST {url}: reading the answer: {e}")),
    };
    let text = String::from_utf8_lossy(&body);
    match status.as_u16() {
        200 => {}
        409 => {
            let size = text.strip_suffix('\n').unwrap_or(&text);
            return match size
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| size.parse::<u64>())
            {
                Some(Ok(s)) => Outcome::Conflict(s),
                _ => Outcome::Failed(format!("a 409 answer without a size: {text:?}")),
            };
        }
        code => {
            return Outcome::Failed(format!(
                "{code} from {url}: {}",
                text.trim().chars().take(300).collect::<String>()
            ));
        }
    }
    let checkpoint = &latest.checkpoint;
    let body_text = checkpoint.body();
    // tlog-witness: lines by keys the client does not know are ignored. Every line by the
    // configured key must verify; all are checked before any is kept.
    let mut found = Vec::new();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let Ok(sig) = provenance_tlog::note::parse_signature_line(line) else {
            return Outcome::Failed(format!(
                "the answer holds a line that is not a signature: {line:?}"
            ));
        };
        if !target.key.is_signer_of(&sig) {
            continue;
        }
        let timestamp = match target.key.verify(&body_text, &sig) {
            Ok(t) => t,
            Err(e) => {
                return Outcome::Failed(format!(
                    "the answer carries a cosignature that does not verify with the configured \
                     key: {e}"
                ));
            }
        };
        // A time the log's own clock shows cannot be right: before the checkpoint was signed
        // (with a few minutes for the clocks), or in the future.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if timestamp == 0 || timestamp > now + CLOCK_SLACK_S {
            return Outcome::Failed(format!(
                "the witness's cosignature is dated {timestamp}, and this server's clock reads \
                 {now}: one of the clocks is wrong"
            ));
        }
        found.push(StoredCosignature {
            witness: target.key.to_string(),
            timestamp,
            line: line.to_string(),
        });
    }
    let Some(newest) = found.into_iter().max_by_key(|c| c.timestamp) else {
        return Outcome::Failed(
            "a 200 answer without a cosignature by the configured key".to_string(),
        );
    };
    if let Err(e) = ledger.record_cosignature(checkpoint.size, &newest).await {
        return Outcome::Failed(format!("cannot keep the cosignature: {e}"));
    }
    Outcome::Cosigned(checkpoint.size)
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("the answer is over {MAX_ANSWER_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use provenance_tlog::cosignature::CosignatureSigner;

    #[test]
    fn a_target_is_url_equals_vkey() {
        let vkey = CosignatureSigner::new("customs.example/w1", &[3; 32])
            .expect("signer")
            .vkey();
        let t: WitnessTarget = format!("http://127.0.0.1:8090/=  {vkey}")
            .trim()
            .replace("=  ", "=")
            .parse()
            .expect("parses");
        assert_eq!(t.url, "http://127.0.0.1:8090");
        assert_eq!(t.key.to_string(), vkey);
        let q: WitnessTarget = format!("https://w.example/a?b=c={vkey}")
            .parse()
            .expect("a query's = is kept");
        assert_eq!(q.url, "https://w.example/a?b=c");
        assert!(matches!(
            "http://x".parse::<WitnessTarget>(),
            Err(TargetError::Shape)
        ));
        assert!(matches!(
            format!("ftp://x={vkey}").parse::<WitnessTarget>(),
            Err(TargetError::Url(_))
        ));
        assert!(matches!(
            "http://x=a+1+AAAA".parse::<WitnessTarget>(),
            Err(TargetError::Key(_))
        ));
    }
}
