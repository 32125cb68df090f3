//! The witness's judgement, as pure functions: the logs it follows ([`Logs`]), the
//! `add-checkpoint` request body ([`AddCheckpoint::parse`]) and the decision over one request
//! given the stored state of its log ([`decide`]): a cosignature and the new state, or the
//! refusal C2SP tlog-witness names, and any fork evidence to keep. No clock (the caller passes
//! the time), no storage.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_tlog::cosignature::{CosignatureError, CosignatureSigner};
use provenance_tlog::merkle::{self, EMPTY_ROOT, Hash, ProofError};
use provenance_tlog::note::{self, NoteError, OpenedNote};
use provenance_tlog::{Checkpoint, Verifier};

/// The most consistency proof lines a client may send (tlog-witness: "MUST NOT send more than
/// 63").
pub const MAX_PROOF_LINES: usize = 63;

/// The logs a witness follows: for each origin, the keys whose signature it trusts.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    by_origin: BTreeMap<String, Vec<Verifier>>,
}

/// A log list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsError {
    /// Not a log's signed-note vkey.
    #[error("{0} (expected a log's vkey, name+id+key, whose name is the log's origin)")]
    Vkey(NoteError),
    /// A line of a log list that is not a log's signed-note vkey.
    #[error(
        "line {line}: {problem} (expected a log's vkey, name+id+key, whose name is the log's origin)"
    )]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: NoteError,
    },
}

impl Logs {
    /// No logs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows the log whose origin is the key's name, trusting this key's signatures (a second
    /// key with the same name is trusted too: a log rotating its key).
    pub fn add(&mut self, key: Verifier) {
        let keys = self.by_origin.entry(key.name().to_string()).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }

    /// Adds one vkey given as text (`--log`).
    pub fn add_vkey(&mut self, vkey: &str) -> Result<(), LogsError> {
        let key = Verifier::parse(vkey.trim()).map_err(LogsError::Vkey)?;
        self.add(key);
        Ok(())
    }

    /// Adds the vkeys of a log list: one per line; blank lines and `#` comments are skipped.
    pub fn add_list(&mut self, text: &str) -> Result<(), LogsError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let key = Verifier::parse(line).map_err(|problem| LogsError::Line {
                line: i + 1,
                problem,
            })?;
            self.add(key);
        }
        Ok(())
    }

    /// The keys trusted for `origin`, if the witness follows it.
    pub fn keys(&self, origin: &str) -> Option<&[Verifier]> {
        self.by_origin.get(origin).map(Vec::as_slice)
    }

    /// The origins followed, in order, with their keys.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Verifier])> {
        self.by_origin
            .iter()
            .map(|(o, k)| (o.as_str(), k.as_slice()))
    }

    /// How many logs.
    pub fn len(&self) -> usize {
        self.by_origin.len()
    }

    /// Whether it follows no log.
    pub fn is_empty(&self) -> bool {
        self.by_origin.is_empty()
    }
}

/// An `add-checkpoint` request: the old size, the consistency proof and the signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness cosigned last.
    pub old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint note, with the log's signature (and perhaps others).
    pub note: String,
}

impl AddCheckpoint {
    /// Parses the body: `old <N>\n`, up to 63 base64 hash lines, an empty line, the note.
    pub fn parse(body: &[u8]) -> Result<Self, Refusal> {
        let bad = |why: &str| Refusal::Malformed(why.to_string());
        let body = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
        let (first, mut rest) = body
            .split_once('\n')
            .ok_or_else(|| bad("no old size line"))?;
        let old = first
            .strip_prefix("old ")
            .ok_or_else(|| bad("the first line must be `old <size>`"))?;
        let old_size = decimal(old)
            .ok_or_else(|| bad("the old size must be a decimal number without leading zeroes"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| bad("no empty line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let hash = B64
                .decode(line)
                .ok()
                .and_then(|h| Hash::try_from(h).ok())
                .ok_or_else(|| bad("a proof line is not a base64 32-byte hash"))?;
            proof.push(hash);
        }
        Ok(Self {
            old_size,
            proof,
            note: rest.to_string(),
        })
    }

    /// The request body, as a client sends it.
    pub fn to_body(&self) -> String {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&B64.encode(h));
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note);
        s
    }
}

/// A decimal without leading zeroes (`0` itself allowed).
fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// What the witness holds for one log: the latest checkpoint it cosigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogState {
    /// The log's origin.
    pub origin: String,
    /// The size of the latest cosigned checkpoint.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
    /// That checkpoint as served: its body, the log's signatures the witness verified and the
    /// witness's cosignature.
    pub note: String,
    /// The timestamp of that cosignature (seconds since the Epoch).
    pub cosigned_at: u64,
}

/// How a log was caught showing two views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkKind {
    /// Two checkpoints of one size with different roots, both signed by the log: proof of a
    /// fork on its own.
    SameSizeDifferentRoot,
    /// A signed checkpoint whose consistency proof from the cosigned one did not verify. Proof
    /// of a fork only if the log cannot produce a valid proof between the two (a client that
    /// sent a wrong proof also lands here): anyone can ask the log for one and check it.
    ConsistencyProofFailed,
}

impl ForkKind {
    /// The name in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SameSizeDifferentRoot => "same-size-different-root",
            Self::ConsistencyProofFailed => "consistency-proof-failed",
        }
    }

    /// Parses [`ForkKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "same-size-different-root" => Some(Self::SameSizeDifferentRoot),
            "consistency-proof-failed" => Some(Self::ConsistencyProofFailed),
            _ => None,
        }
    }

    /// Whether the two checkpoints prove a fork by themselves.
    pub fn conclusive(self) -> bool {
        self == Self::SameSizeDifferentRoot
    }
}

/// Evidence of a fork: both checkpoints, each signed by the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkEvidence {
    /// The log's origin.
    pub origin: String,
    /// How it was seen.
    pub kind: ForkKind,
    /// The checkpoint the witness had cosigned (as it serves it, with its cosignature).
    pub cosigned: String,
    /// The conflicting checkpoint, as submitted.
    pub conflicting: String,
    /// The old size the client sent.
    pub old_size: u64,
    /// The consistency proof the client sent (empty for a same-size fork).
    pub proof: Vec<Hash>,
}

/// Why a checkpoint is not cosigned, with the HTTP status tlog-witness gives it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the body is not an add-checkpoint request, or the note or checkpoint is malformed.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 400: the old size is above the checkpoint's size.
    #[error("the old size {old} is above the checkpoint's size {size}")]
    OldSizeAbove {
        /// The old size sent.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// 404: the witness does not follow this origin.
    #[error("this witness does not follow the log {0:?}")]
    UnknownOrigin(String),
    /// 403: no signature by a trusted key of the log, or one that does not verify.
    #[error("the checkpoint is not signed by the log's key: {0}")]
    NotSigned(NoteError),
    /// 409: the old size is not the size of the latest checkpoint this witness cosigned.
    #[error("the old size {old} is not the size this witness cosigned last, {size}")]
    Conflict {
        /// The old size sent.
        old: u64,
        /// The size of the latest cosigned checkpoint (0 if none).
        size: u64,
    },
    /// 422: a checkpoint of size 0 whose root is not the empty tree's.
    #[error("a checkpoint of size 0 must have the empty tree's root hash")]
    EmptyTreeRoot,
    /// 422: a proof was sent with old size 0.
    #[error("with old size 0 the consistency proof must be empty")]
    ProofFromZero,
    /// 422: the same size as the cosigned checkpoint with another root.
    #[error("the checkpoint has the size this witness cosigned, {size}, with another root hash")]
    RootMismatch {
        /// The size.
        size: u64,
    },
    /// 422: the consistency proof from the cosigned checkpoint does not verify.
    #[error("the consistency proof from size {old} to size {size} does not verify: {problem}")]
    BadProof {
        /// The old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
        /// What failed.
        problem: ProofError,
    },
}

impl Refusal {
    /// The HTTP status code tlog-witness gives this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::OldSizeAbove { .. } => 400,
            Self::NotSigned(_) => 403,
            Self::UnknownOrigin(_) => 404,
            Self::Conflict { .. } => 409,
            Self::EmptyTreeRoot
            | Self::ProofFromZero
            | Self::RootMismatch { .. }
            | Self::BadProof { .. } => 422,
        }
    }
}

/// A checkpoint the witness cosigns: the new state to store, and the signature line to return
/// once it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The state after this request.
    pub state: LogState,
    /// The cosignature line (ends in a newline): the response body.
    pub cosignature: String,
}

/// What one request comes to.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    /// The cosignature, or why not.
    pub outcome: Result<Cosigned, Refusal>,
    /// Evidence of a fork to keep, whatever the outcome.
    pub fork: Option<ForkEvidence>,
}

impl Decision {
    fn refuse(r: Refusal) -> Self {
        Self {
            outcome: Err(r),
            fork: None,
        }
    }
}

/// Decides one `add-checkpoint` request, in the order of C2SP tlog-witness: the origin is
/// followed (404), the log's signature verifies (403), the old size is at most the new size
/// (400), the old size is the size cosigned last (409), then the consistency checks (422).
/// `stored` is the log's state (`None`: never cosigned), `now` the time in seconds since the
/// Epoch; the cosignature's timestamp is `now`, or the last one issued for the log if that is
/// later, and never 0.
///
/// A checkpoint correctly signed by the log but inconsistent with the one cosigned gives fork
/// evidence: one of the same size with another root (even when the old size does not match,
/// so a log cannot dodge it by sending a wrong old size), and one whose consistency proof
/// from the cosigned checkpoint fails.
pub fn decide(
    logs: &Logs,
    signer: &CosignatureSigner,
    stored: Option<&LogState>,
    req: &AddCheckpoint,
    now: u64,
) -> Decision {
    let (text, _) = match note::parse(req.note.as_bytes()) {
        Ok(parsed) => parsed,
        Err(e) => return Decision::refuse(Refusal::Malformed(e.to_string())),
    };
    let cp = match Checkpoint::parse_body(text) {
        Ok(cp) => cp,
        Err(e) => return Decision::refuse(Refusal::Malformed(e.to_string())),
    };
    if i64::try_from(cp.size).is_err() {
        return Decision::refuse(Refusal::Malformed(
            "a tree size above 2^63 - 1 is not supported".into(),
        ));
    }
    let Some(keys) = logs.keys(&cp.origin) else {
        return Decision::refuse(Refusal::UnknownOrigin(cp.origin));
    };
    let OpenedNote { verified, .. } = match note::open(req.note.as_bytes(), keys) {
        Ok(opened) => opened,
        Err(e @ (NoteError::NoKnownSignature | NoteError::BadSignature(_))) => {
            return Decision::refuse(Refusal::NotSigned(e));
        }
        Err(e) => return Decision::refuse(Refusal::Malformed(e.to_string())),
    };
    if req.old_size > cp.size {
        return Decision::refuse(Refusal::OldSizeAbove {
            old: req.old_size,
            size: cp.size,
        });
    }
    if let Some(s) = stored {
        if s.origin != cp.origin {
            return Decision::refuse(Refusal::Malformed(
                "internal: the stored state is of another log".into(),
            ));
        }
    }
    // The conflicting checkpoint as evidence: its body and the log's signatures only, so that
    // a submitter cannot make one checkpoint into many records by adding stray lines.
    let mut canonical = format!("{text}\n");
    for s in &verified {
        canonical.push_str(&s.to_line());
    }
    let fork = |kind| {
        stored.map(|s| ForkEvidence {
            origin: cp.origin.clone(),
            kind,
            cosigned: s.note.clone(),
            conflicting: canonical.clone(),
            old_size: req.old_size,
            proof: req.proof.clone(),
        })
    };
    // Two signed views of one size: a fork whatever else the request says. (Of size 0 there
    // is one valid root: another is a malformed checkpoint, refused below, not a second view.)
    let same_size_fork = stored
        .filter(|s| s.size == cp.size && s.root != cp.root && cp.size > 0)
        .and_then(|_| fork(ForkKind::SameSizeDifferentRoot));
    let stored_size = stored.map_or(0, |s| s.size);
    let refuse_with = |r: Refusal, fork: Option<ForkEvidence>| Decision {
        outcome: Err(r),
        fork,
    };
    if req.old_size != stored_size {
        return refuse_with(
            Refusal::Conflict {
                old: req.old_size,
                size: stored_size,
            },
            same_size_fork,
        );
    }
    if cp.size == 0 && cp.root != EMPTY_ROOT {
        return Decision::refuse(Refusal::EmptyTreeRoot);
    }
    if req.old_size == 0 {
        if !req.proof.is_empty() {
            return Decision::refuse(Refusal::ProofFromZero);
        }
    } else if let Some(s) = stored {
        // old_size == s.size here.
        if s.size == cp.size {
            if s.root != cp.root {
                return refuse_with(Refusal::RootMismatch { size: cp.size }, same_size_fork);
            }
            if !req.proof.is_empty() {
                return Decision::refuse(Refusal::BadProof {
                    old: s.size,
                    size: cp.size,
                    problem: ProofError::WrongLength {
                        got: req.proof.len(),
                        want: 0,
                    },
                });
            }
        } else if let Err(problem) =
            merkle::verify_consistency(s.size, cp.size, &req.proof, &s.root, &cp.root)
        {
            return refuse_with(
                Refusal::BadProof {
                    old: s.size,
                    size: cp.size,
                    problem,
                },
                fork(ForkKind::ConsistencyProofFailed),
            );
        }
    }
    let timestamp = now.max(stored.map_or(0, |s| s.cosigned_at)).max(1);
    let cosignature = match signer.sign(text, timestamp) {
        Ok(line) => line,
        // A body that parsed as a checkpoint is signable and `now` is a clock's reading; say
        // what happened rather than panic if either ever is not so.
        Err(CosignatureError::Timestamp(t)) => {
            return Decision::refuse(Refusal::Malformed(format!(
                "internal: the clock reads {t}, above 2^63 - 1"
            )));
        }
        Err(e) => return Decision::refuse(Refusal::Malformed(e.to_string())),
    };
    let mut served = canonical;
    served.push_str(&cosignature);
    Decision {
        outcome: Ok(Cosigned {
            state: LogState {
                origin: cp.origin,
                size: cp.size,
                root: cp.root,
                note: served,
                cosigned_at: timestamp,
            },
            cosignature,
        }),
        fork: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provenance_tlog::Signer;
    use provenance_tlog::merkle::{MemoryTree, consistency_proof, leaf_hash};

    const ORIGIN: &str = "example.com/log";

    struct Log {
        signer: Signer,
        tree: MemoryTree,
    }

    impl Log {
        fn new(seed: u8) -> Self {
            Self {
                signer: Signer::new(ORIGIN, &[seed; 32]).expect("signer"),
                tree: MemoryTree::new(),
            }
        }
        fn grow(&mut self, n: u64, salt: u8) {
            for _ in 0..n {
                let i = self.tree.size();
                self.tree
                    .push(leaf_hash(&[&i.to_be_bytes()[..], &[salt]].concat()));
            }
        }
        fn note(&self, size: u64) -> String {
            Checkpoint {
                origin: ORIGIN.into(),
                size,
                root: self.tree.root_at(size).expect("root"),
                extensions: vec![],
            }
            .sign(&self.signer)
            .expect("sign")
        }
        fn request(&self, old: u64, size: u64) -> AddCheckpoint {
            let proof = if old == 0 || old == size {
                vec![]
            } else {
                let mut t = &self.tree;
                consistency_proof(old, size, &mut t).expect("proof")
            };
            AddCheckpoint {
                old_size: old,
                proof,
                note: self.note(size),
            }
        }
    }

    fn setup() -> (Logs, CosignatureSigner, Log) {
        let log = Log::new(1);
        let mut logs = Logs::new();
        logs.add(log.signer.verifier().clone());
        let w = CosignatureSigner::new("witness.example/w", &[9; 32]).expect("witness");
        (logs, w, log)
    }

    fn accept(d: Decision) -> Cosigned {
        match d.outcome {
            Ok(c) => c,
            Err(r) => panic!("refused: {r}"),
        }
    }

    #[test]
    fn request_bodies_parse_strictly_and_round_trip() {
        let (_, _, mut log) = setup();
        log.grow(10, 0);
        let req = log.request(3, 10);
        assert_eq!(
            AddCheckpoint::parse(req.to_body().as_bytes()),
            Ok(req.clone())
        );
        let bad = |b: &str| {
            AddCheckpoint::parse(b.as_bytes())
                .map(|_| ())
                .map_err(|r| r.status())
        };
        assert_eq!(bad("old 01\n\nx\n"), Err(400));
        assert_eq!(bad("old -1\n\nx\n"), Err(400));
        assert_eq!(bad("old 1"), Err(400));
        assert_eq!(bad("new 1\n\nx\n"), Err(400));
        assert_eq!(bad("old 1\nAAAA\n\nx\n"), Err(400));
        assert_eq!(bad("old 1\nabc\n"), Err(400));
        let lines = format!(
            "old 1\n{}\n",
            format!("{}\n", B64.encode([0u8; 32])).repeat(64)
        );
        assert_eq!(bad(&lines), Err(400));
        let lines = format!(
            "old 1\n{}\nnote\n",
            format!("{}\n", B64.encode([0u8; 32])).repeat(63)
        );
        assert_eq!(bad(&lines), Ok(()));
    }

    #[test]
    fn log_lists_take_vkeys_and_comments() {
        let (_, _, log) = setup();
        let other = Signer::new("other.example/log", &[2; 32]).expect("signer");
        let mut logs = Logs::new();
        logs.add_list(&format!(
            "# logs\n\n{}  # the main log\n{}\n",
            log.signer.verifier(),
            other.verifier()
        ))
        .expect("list");
        assert_eq!(logs.len(), 2);
        assert!(logs.keys(ORIGIN).is_some());
        let err = logs.add_list("# fine\nnot a key\n").expect_err("bad line");
        assert!(matches!(err, LogsError::Line { line: 2, .. }));
        assert!(matches!(logs.add_vkey("x+y"), Err(LogsError::Vkey(_))));
    }

    #[test]
    fn the_first_checkpoint_comes_with_old_size_zero_and_no_proof() {
        let (logs, w, mut log) = setup();
        log.grow(5, 0);
        let c = accept(decide(&logs, &w, None, &log.request(0, 5), 1000));
        assert_eq!(c.state.size, 5);
        assert_eq!(c.state.cosigned_at, 1000);
        let body = Checkpoint::parse_body(note::parse(log.note(5).as_bytes()).expect("p").0)
            .expect("cp")
            .body();
        assert_eq!(w.verifier().verify_line(&body, &c.cosignature), Ok(1000));
        // The stored note is the checkpoint with the log's signature and the cosignature.
        assert!(c.state.note.starts_with(&log.note(5)));
        assert!(c.state.note.ends_with(&c.cosignature));
        // A proof with old size 0 is refused.
        let mut req = log.request(0, 5);
        req.proof.push([0; 32]);
        assert_eq!(
            decide(&logs, &w, None, &req, 1000).outcome,
            Err(Refusal::ProofFromZero)
        );
    }

    #[test]
    fn it_advances_with_a_proof_and_timestamps_never_go_back() {
        let (logs, w, mut log) = setup();
        log.grow(5, 0);
        let first = accept(decide(&logs, &w, None, &log.request(0, 5), 1000)).state;
        log.grow(20, 0);
        let d = decide(&logs, &w, Some(&first), &log.request(5, 25), 900);
        let second = accept(d);
        assert_eq!(second.state.size, 25);
        assert_eq!(
            second.state.cosigned_at, 1000,
            "the clock went back; the timestamp did not"
        );
        // The same checkpoint again: cosigned again (no proof, same root).
        let again = accept(decide(
            &logs,
            &w,
            Some(&second.state),
            &log.request(25, 25),
            2000,
        ));
        assert_eq!(again.state.cosigned_at, 2000);
    }

    #[test]
    fn a_stale_old_size_is_a_conflict_with_the_size_held() {
        let (logs, w, mut log) = setup();
        log.grow(30, 0);
        let first = accept(decide(&logs, &w, None, &log.request(0, 10), 1)).state;
        let d = decide(&logs, &w, Some(&first), &log.request(5, 30), 2);
        assert_eq!(d.outcome, Err(Refusal::Conflict { old: 5, size: 10 }));
        assert_eq!(d.outcome.expect_err("409").status(), 409);
        assert_eq!(d.fork, None);
        // Old size 0 from a client that knows nothing: 409 too, telling it the size.
        let d = decide(&logs, &w, Some(&first), &log.request(0, 30), 2);
        assert_eq!(d.outcome, Err(Refusal::Conflict { old: 0, size: 10 }));
        // An old size above the checkpoint's size is a bad request, before the conflict.
        let mut req = log.request(10, 10);
        req.old_size = 11;
        assert_eq!(
            decide(&logs, &w, Some(&first), &req, 2)
                .outcome
                .map(|_| ())
                .map_err(|r| r.status()),
            Err(400)
        );
    }

    #[test]
    fn a_bad_proof_is_unprocessable_and_kept_as_inconclusive_evidence() {
        let (logs, w, mut log) = setup();
        log.grow(30, 0);
        let first = accept(decide(&logs, &w, None, &log.request(0, 10), 1)).state;
        let mut req = log.request(10, 30);
        req.proof[0][0] ^= 1;
        let d = decide(&logs, &w, Some(&first), &req, 2);
        assert!(matches!(
            d.outcome,
            Err(Refusal::BadProof {
                old: 10,
                size: 30,
                ..
            })
        ));
        let fork = d.fork.expect("evidence");
        assert_eq!(fork.kind, ForkKind::ConsistencyProofFailed);
        assert!(!fork.kind.conclusive());
        assert_eq!(fork.cosigned, first.note);
        assert_eq!(fork.conflicting, req.note);
        // A proof of the wrong length.
        let mut req = log.request(10, 30);
        req.proof.pop();
        assert_eq!(
            decide(&logs, &w, Some(&first), &req, 2)
                .outcome
                .map(|_| ())
                .map_err(|r| r.status()),
            Err(422)
        );
    }

    #[test]
    fn an_unknown_origin_is_not_found_and_a_bad_signature_forbidden() {
        let (logs, w, mut log) = setup();
        log.grow(3, 0);
        // Another log's checkpoint.
        let stranger = Signer::new("stranger.example/log", &[3; 32]).expect("signer");
        let cp = Checkpoint {
            origin: "stranger.example/log".into(),
            size: 0,
            root: EMPTY_ROOT,
            extensions: vec![],
        };
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            note: cp.sign(&stranger).expect("sign"),
        };
        assert_eq!(
            decide(&logs, &w, None, &req, 1).outcome,
            Err(Refusal::UnknownOrigin("stranger.example/log".into()))
        );
        // Our origin, signed by another key of the same name: no trusted signature.
        let impostor = Log::new(4);
        let mut req = log.request(0, 3);
        req.note = Checkpoint::parse_body(note::parse(req.note.as_bytes()).expect("p").0)
            .expect("cp")
            .sign(&impostor.signer)
            .expect("sign");
        let d = decide(&logs, &w, None, &req, 1);
        assert!(matches!(
            d.outcome,
            Err(Refusal::NotSigned(NoteError::NoKnownSignature))
        ));
        assert_eq!(d.outcome.expect_err("403").status(), 403);
        // The trusted key's line with a broken signature.
        let good = log.note(3);
        let sig_at = good.rfind(' ').expect("sig") + 1;
        let mut raw = B64.decode(good[sig_at..].trim_end()).expect("b64");
        raw[10] ^= 1;
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            note: format!("{}{}\n", &good[..sig_at], B64.encode(raw)),
        };
        let d = decide(&logs, &w, None, &req, 1);
        assert!(matches!(
            d.outcome,
            Err(Refusal::NotSigned(NoteError::BadSignature(_)))
        ));
        // An unknown extra signature is ignored.
        let extra = CosignatureSigner::new("someone.example/w", &[5; 32]).expect("w");
        let body = Checkpoint::parse_body(note::parse(good.as_bytes()).expect("p").0)
            .expect("cp")
            .body();
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            note: format!("{good}{}", extra.sign(&body, 7).expect("sign")),
        };
        let c = accept(decide(&logs, &w, None, &req, 1));
        assert!(
            !c.state.note.contains("someone.example/w"),
            "only the log's verified lines are kept"
        );
    }

    #[test]
    fn an_empty_tree_must_have_the_empty_root() {
        let (logs, w, log) = setup();
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: 0,
            root: [1; 32],
            extensions: vec![],
        };
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            note: cp.sign(&log.signer).expect("sign"),
        };
        assert_eq!(
            decide(&logs, &w, None, &req, 1).outcome,
            Err(Refusal::EmptyTreeRoot)
        );
        let ok = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            note: log.note(0),
        };
        let empty = accept(decide(&logs, &w, None, &ok, 1)).state;
        assert_eq!(empty.size, 0);
        // After an empty checkpoint, a bad empty one is malformed, not a fork.
        let d = decide(&logs, &w, Some(&empty), &req, 2);
        assert_eq!(d.outcome, Err(Refusal::EmptyTreeRoot));
        assert_eq!(d.fork, None);
    }

    #[test]
    fn a_same_size_different_root_is_a_fork_whatever_the_old_size() {
        let (logs, w, mut log) = setup();
        log.grow(8, 0);
        let first = accept(decide(&logs, &w, None, &log.request(0, 8), 1)).state;
        // The same key signs another history of the same size.
        let mut forked = Log::new(1);
        forked.grow(8, 1);
        let d = decide(&logs, &w, Some(&first), &forked.request(8, 8), 2);
        assert_eq!(d.outcome, Err(Refusal::RootMismatch { size: 8 }));
        let fork = d.fork.expect("evidence");
        assert_eq!(fork.kind, ForkKind::SameSizeDifferentRoot);
        assert!(fork.kind.conclusive());
        assert_eq!(
            (fork.cosigned.as_str(), fork.conflicting.as_str()),
            (first.note.as_str(), forked.note(8).as_str())
        );
        // Sent with a wrong old size, it is a 409 as the spec says, and still evidence.
        let d = decide(&logs, &w, Some(&first), &forked.request(0, 8), 2);
        assert_eq!(d.outcome, Err(Refusal::Conflict { old: 0, size: 8 }));
        assert!(d.fork.is_some());
        // A longer forked history with a proof from its own size 8: the proof fails.
        forked.grow(4, 1);
        let d = decide(&logs, &w, Some(&first), &forked.request(8, 12), 2);
        assert!(matches!(d.outcome, Err(Refusal::BadProof { .. })));
        assert_eq!(
            d.fork.map(|f| f.kind),
            Some(ForkKind::ConsistencyProofFailed)
        );
    }
}
