//! Offline verification of an evidence bundle (SPEC §7) with nothing but its bytes and the
//! log's verifier key, and optionally a witness policy (C2SP `tlog-policy`).
//!
//! In order, each step a section of the [`Report`]:
//!
//! 1. **bundle**: the bytes parse as a `provenance-evidence/v1` bundle.
//! 2. **checkpoint**: the checkpoint note is signed by the log key (given, or one of the
//!    policy's logs).
//! 3. **witnesses**: with a policy, every cosignature on the checkpoint by a witness of the
//!    policy verifies and those witnesses meet its quorum (the log must be one the policy
//!    accepts); the quorum's time ("witnessed by T") then bounds every event's date, see
//!    [`crate::rules::dated_after_witnessed`]. Without a policy the cosignature lines are only
//!    listed, by name, unverified.
//! 4. **inclusion**: every entry's C2SP tlog proof is for that entry's index, against that
//!    very checkpoint note (the same bytes, cosignatures included), and leads from the entry's
//!    leaf hash to the checkpoint's root.
//! 5. **registry**: every registry entry is signed by the log key, and the registry's history
//!    makes sense (registered first, nothing after a revocation); every event's signer was
//!    registered before the event's index and not revoked before it.
//! 6. **signatures**: every event verifies with the key its signer had at that index (key
//!    rotations respected) and its payload follows SPEC §3.
//! 7. **chains**: each event of the subject links to its signer's previous event (`prev` is
//!    that event's hash), or the gap is explained by a `dropped` report; no signer signed
//!    two events with one seq.
//! 8. **custody**: the rules of [`crate::rules`] over the subject's trace, which the verifier
//!    derives itself from the proven events: those naming the subject, and those of each
//!    container while the subject was inside (windows from the `packed`/`unpacked` events);
//!    with a witnessed time, every proven event of the bundle dated after it is a warning.
//!
//! Only entries whose proof and signature hold take part in steps 7 and 8.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_event::cose::Sign1;
use provenance_event::ed25519_dalek::VerifyingKey;
use provenance_event::registry::{self, Action, Role};
use provenance_event::{Event, Kind, SignedEvent, message_hash};
use provenance_tlog::merkle::verify_inclusion;
use provenance_tlog::note;
use provenance_tlog::policy::{Policy, Quorum, VerifyError};
use provenance_tlog::{Checkpoint, Verifier, leaf_hash};
use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, Scope};
use crate::rules::{
    self, ChainStatus, CustodyReport, Limits, Signer, TraceEvent, Verdict, Window, chain_status,
    gap_explained,
};

/// The steps of verification, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The file parses as a bundle.
    Bundle,
    /// The checkpoint is signed by the log key.
    Checkpoint,
    /// Witnesses cosigned the checkpoint as the policy requires.
    Witnesses,
    /// Every entry is in the checkpointed tree.
    Inclusion,
    /// Registry entries are the log's, and every signer was registered and not revoked.
    Registry,
    /// Every event signature holds with the signer's key at that index.
    Signatures,
    /// Every event links to its signer's previous event.
    Chains,
    /// The chain-of-custody rules.
    Custody,
}

impl Step {
    /// A heading for people.
    pub fn title(self) -> &'static str {
        match self {
            Step::Bundle => "Evidence file",
            Step::Checkpoint => "Log checkpoint",
            Step::Witnesses => "Independent witnesses",
            Step::Inclusion => "Inclusion in the log",
            Step::Registry => "Device and operator registry",
            Step::Signatures => "Event signatures",
            Step::Chains => "Device hash chains",
            Step::Custody => "Chain of custody",
        }
    }
}

/// Something that does not hold, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// In plain words.
    pub message: String,
    /// The log index, if one entry is concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The device or operator, if one is concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The device's seq, if one event is concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// One step's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// Which step.
    pub step: Step,
    /// What was checked, in plain words ("14 inclusion proofs").
    pub checked: String,
    /// How many things were checked.
    pub count: usize,
    /// What failed.
    pub problems: Vec<Problem>,
}

/// The checkpoint the bundle is proved against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// Origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash, base64.
    pub root: String,
    /// The log key whose signature on it holds (given, or taken from the policy).
    #[serde(default)]
    pub key: String,
}

/// A signature line on the checkpoint besides the log's own: a witness's cosignature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignatureLine {
    /// The key name on the line (the witness's name, such as `w1.example/witness`).
    pub name: String,
    /// What the policy calls the witness, when a policy knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<String>,
    /// When the witness cosigned, seconds since the Epoch: known only once verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// Whether the cosignature was verified with the witness key of a policy.
    pub verified: bool,
}

/// Who vouches for the checkpoint besides the log operator: the witnesses section in detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witnessing {
    /// Whether a witness policy was applied. Without one the lines are listed by name only.
    pub policy: bool,
    /// With a policy, the cosignatures by its witnesses, verified, in policy order; without,
    /// every signature line besides the log's, unverified.
    pub cosignatures: Vec<CosignatureLine>,
    /// The policy's quorum: a witness or group name, or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum: Option<String>,
    /// What a group quorum needs: `2 of 3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum_needs: Option<String>,
    /// Whether the quorum is met; `None` when no policy was given or the checkpoint could not
    /// be judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum_met: Option<bool>,
    /// Why the policy is not satisfied: the groups that fall short and the witnesses they
    /// lack, or the cosignature or log that is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// The time the quorum vouches for, seconds since the Epoch: by then the witnesses had
    /// seen the checkpoint, so every entry under it existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witnessed_by: Option<u64>,
}

impl Witnessing {
    /// One line for people: `witnessed: w1.example/witness at 2026-12-07 19:01:02 UTC,
    /// w3.example/witness at …; policy quorum g met (2 of 3)`, or why not.
    pub fn summary(&self) -> String {
        if !self.policy {
            if self.cosignatures.is_empty() {
                return "not witnessed: the checkpoint carries the log's signature only".into();
            }
            let names: Vec<&str> = self.cosignatures.iter().map(|c| c.name.as_str()).collect();
            return format!(
                "cosignature lines by {} (names only, not verified: no witness policy given)",
                names.join(", ")
            );
        }
        let seen = if self.cosignatures.is_empty() {
            "not witnessed by any witness of the policy".to_string()
        } else {
            let each: Vec<String> = self
                .cosignatures
                .iter()
                .map(|c| match c.timestamp {
                    Some(t) => format!("{} at {}", c.name, utc_seconds(t)),
                    None => c.name.clone(),
                })
                .collect();
            format!("witnessed: {}", each.join(", "))
        };
        let quorum = self.quorum.as_deref().unwrap_or("?");
        let verdict = match (self.quorum_met, &self.explanation) {
            (Some(true), _) if quorum == "none" => {
                "policy quorum none: no cosignature needed".to_string()
            }
            (Some(true), _) => match &self.quorum_needs {
                Some(needs) => format!("policy quorum {quorum} met ({needs})"),
                None => format!("policy quorum {quorum} met"),
            },
            (_, Some(why)) => format!("policy not satisfied: {why}"),
            _ => "policy not satisfied".to_string(),
        };
        format!("{seen}; {verdict}")
    }

    /// `anchored by 2026-12-07 19:01:03 UTC, witnessed by A and B`: when the quorum had seen
    /// the checkpoint, and which witnesses had by then.
    pub fn anchored(&self) -> Option<String> {
        let t = self.witnessed_by?;
        let names: Vec<&str> = self
            .cosignatures
            .iter()
            .filter(|c| c.verified && c.timestamp.is_some_and(|s| s <= t))
            .map(|c| c.name.as_str())
            .collect();
        let who = match names.split_last() {
            None => String::new(),
            Some((last, [])) => format!(", witnessed by {last}"),
            Some((last, rest)) => format!(", witnessed by {} and {last}", rest.join(", ")),
        };
        Some(format!("anchored by {}{who}", utc_seconds(t)))
    }
}

/// `2026-12-07 19:01:02 UTC`, from seconds since the Epoch.
pub fn utc_seconds(s: u64) -> String {
    let ms = i64::try_from(s)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .unwrap_or(i64::MAX);
    let t = crate::epcis::rfc3339(ms);
    match (t.get(..10), t.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => t,
    }
}

/// One event of the verified trace, for the journey listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceLine {
    /// Log index.
    pub index: u64,
    /// Device time, Unix ms.
    pub time_ms: i64,
    /// Kind name.
    pub kind: String,
    /// Signer ID.
    pub signer: String,
    /// Signer's organisation.
    pub org: Option<String>,
    /// Place (SGLN), if given.
    pub place: Option<String>,
    /// GNSS fix in degrees (lat, lon).
    pub position: Option<(f64, f64)>,
    /// The container it was inherited from.
    pub via_container: Option<String>,
}

/// The outcome of [`verify_bundle`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The overall verdict: `fail` when any step has a problem or a custody rule fails.
    pub verdict: Verdict,
    /// The item or consignment.
    pub subject: String,
    /// The checkpoint, when its signature holds.
    pub checkpoint: Option<CheckpointInfo>,
    /// Who cosigned the checkpoint and what the policy made of it, when the bundle parsed.
    #[serde(default)]
    pub witnesses: Option<Witnessing>,
    /// Each step.
    pub sections: Vec<Section>,
    /// The subject's trace as verified.
    pub trace: Vec<TraceLine>,
    /// The custody findings, when the bundle parsed and holds the whole history.
    pub custody: Option<CustodyReport>,
    /// Whole (SPEC §7), or public entries only (then chains and custody are not judged).
    #[serde(default)]
    pub scope: Scope,
    /// The subject's events as verified (signature, inclusion, registry), for checks made on
    /// top of the bundle's (a battery passport's fields, [`crate::passport::check`]).
    #[serde(skip)]
    pub events: Vec<TraceEvent>,
}

impl Report {
    /// Whether everything holds (warnings allowed): what exit status 0 means.
    pub fn ok(&self) -> bool {
        self.verdict != Verdict::Fail
    }

    /// Every problem of every step.
    pub fn problems(&self) -> impl Iterator<Item = (Step, &Problem)> {
        self.sections
            .iter()
            .flat_map(|s| s.problems.iter().map(move |p| (s.step, p)))
    }
}

fn problem(message: String, index: Option<u64>) -> Problem {
    Problem {
        message,
        index,
        device: None,
        seq: None,
    }
}

fn section(step: Step, checked: String, count: usize, problems: Vec<Problem>) -> Section {
    Section {
        step,
        checked,
        count,
        problems,
    }
}

/// The registry history of one signer.
#[derive(Debug, Clone)]
enum Change {
    Registered {
        key: [u8; 32],
        role: Role,
        org: String,
    },
    Rotated {
        key: [u8; 32],
    },
    Revoked,
}

/// What the registry says of a signer at a log index.
#[derive(Debug, Clone, Default)]
struct Standing {
    key: Option<[u8; 32]>,
    role: Option<Role>,
    org: Option<String>,
    registered_at: Option<u64>,
    revoked_at: Option<u64>,
}

fn standing(history: Option<&Vec<(u64, Change)>>, index: u64) -> Standing {
    let mut s = Standing::default();
    for (i, c) in history.into_iter().flatten() {
        if *i >= index {
            break;
        }
        match c {
            Change::Registered { key, role, org } => {
                s.key = Some(*key);
                s.role = Some(*role);
                s.org = Some(org.clone());
                s.registered_at = Some(*i);
            }
            Change::Rotated { key } => s.key = Some(*key),
            Change::Revoked => s.revoked_at = Some(*i),
        }
    }
    s
}

/// An event whose inclusion and signature hold.
struct Proven<'a> {
    index: u64,
    device: String,
    bytes: &'a [u8],
    event: Event<'a>,
    signer: Signer,
}

impl Proven<'_> {
    fn names(&self, epc: &str) -> bool {
        self.event.items.iter().any(|i| i == epc)
            || self
                .event
                .parent
                .as_ref()
                .is_some_and(|p| p.to_string() == epc)
    }
}

/// Verifies `bytes` as an evidence bundle with the log's verifier key, judging conditions
/// against `limits`, without a witness policy (cosignatures are listed, not verified).
pub fn verify_bundle(bytes: &[u8], log_key: &Verifier, limits: &Limits) -> Report {
    verify_bundle_with(bytes, Some(log_key), limits, None)
}

/// Verifies `bytes` as an evidence bundle, judging conditions against `limits`. The
/// checkpoint must be signed by `log_key`, or, when it is `None`, by one of the `policy`'s
/// logs. With a `policy` the checkpoint must also satisfy it: the log is one it accepts,
/// every cosignature by one of its witnesses verifies, and they meet its quorum; anything
/// less is a problem of [`Step::Witnesses`] saying why. The quorum's time then bounds every
/// event's device time ([`crate::rules::dated_after_witnessed`]).
pub fn verify_bundle_with(
    bytes: &[u8],
    log_key: Option<&Verifier>,
    limits: &Limits,
    policy: Option<&Policy>,
) -> Report {
    verify_scoped(bytes, log_key, limits, policy, Scope::Whole)
}

/// As [`verify_bundle_with`], and also accepts a public bundle (`scope: public`, a battery
/// passport's public entries, `docs/PASSPORT.md`): for checking a passport, never for a
/// custody verdict. A public bundle may hold nothing but the subject's own making and end of
/// life, naming it alone, and its signers' registry entries; its chains and custody are not
/// judged, and the report says so.
pub fn verify_passport_bundle(
    bytes: &[u8],
    log_key: Option<&Verifier>,
    limits: &Limits,
    policy: Option<&Policy>,
) -> Report {
    verify_scoped(bytes, log_key, limits, policy, Scope::Public)
}

/// The scope a bundle may have is the caller's choice, never the file's: `accept` is the
/// widest the caller takes.
fn verify_scoped(
    bytes: &[u8],
    log_key: Option<&Verifier>,
    limits: &Limits,
    policy: Option<&Policy>,
    accept: Scope,
) -> Report {
    let bundle = match Bundle::parse(bytes) {
        Ok(b) => b,
        Err(e) => {
            return Report {
                verdict: Verdict::Fail,
                subject: String::new(),
                checkpoint: None,
                witnesses: None,
                sections: vec![section(
                    Step::Bundle,
                    "the file's format".into(),
                    1,
                    vec![problem(e.to_string(), None)],
                )],
                trace: vec![],
                custody: None,
                scope: Scope::Whole,
                events: vec![],
            };
        }
    };
    let mut sections = vec![section(
        Step::Bundle,
        format!("{} entries for {}", bundle.entries.len(), bundle.subject),
        1,
        vec![],
    )];

    // Checkpoint.
    let note = bundle.checkpoint.as_bytes();
    let mut cp_problems = vec![];
    let opened = open_checkpoint(note, log_key, policy, &bundle.log.origin, &mut cp_problems);
    if let Some((_, cp)) = &opened {
        if cp.origin != bundle.log.origin {
            cp_problems.push(problem(
                format!(
                    "the checkpoint is for the log {:?}, the bundle says {:?}",
                    cp.origin, bundle.log.origin
                ),
                None,
            ));
        }
    }
    let signer = opened
        .as_ref()
        .map(|(k, _)| k.name())
        .or(log_key.map(Verifier::name))
        .unwrap_or(bundle.log.origin.as_str());
    sections.push(section(
        Step::Checkpoint,
        format!("signature of {signer} on the checkpoint"),
        1,
        cp_problems,
    ));
    // The key the log signs with: the one whose signature on the checkpoint holds, else the
    // one given (registry entries are still checked with it).
    let (signing_key, checkpoint) = match opened {
        Some((k, cp)) => (Some(k), Some(cp)),
        None => (None, None),
    };
    let log_key = signing_key.clone().or_else(|| log_key.cloned());

    // Witnesses.
    let (witnessing, witness_section) =
        witnesses(note, signing_key.as_ref(), policy, &bundle.log.origin);
    sections.push(witness_section);

    // Inclusion.
    let mut included = std::collections::HashSet::new();
    let mut problems = vec![];
    for e in &bundle.entries {
        let Some(cp) = &checkpoint else {
            break;
        };
        let at = Some(e.index);
        if e.proof.index != e.index {
            problems.push(problem(
                format!(
                    "entry {}: its proof is for index {}",
                    e.index, e.proof.index
                ),
                at,
            ));
        } else if e.proof.checkpoint != bundle.checkpoint {
            problems.push(problem(
                format!(
                    "entry {}: its proof is against another checkpoint than the bundle's",
                    e.index
                ),
                at,
            ));
        } else if let Err(err) = verify_inclusion(
            &leaf_hash(&e.bytes),
            e.index,
            cp.size,
            &e.proof.hashes,
            &cp.root,
        ) {
            problems.push(problem(
                format!(
                    "entry {}: not in the log at size {} ({err}): the entry or its proof was \
                     altered",
                    e.index, cp.size
                ),
                at,
            ));
        } else {
            included.insert(e.index);
        }
    }
    if checkpoint.is_none() {
        problems.push(problem(
            "no inclusion proof can be checked without a valid checkpoint".into(),
            None,
        ));
    }
    sections.push(section(
        Step::Inclusion,
        format!(
            "{} inclusion proofs against the checkpoint of size {}",
            bundle.entries.len(),
            checkpoint.as_ref().map_or(0, |c| c.size)
        ),
        bundle.entries.len(),
        problems,
    ));

    // Registry entries, and which entries are events.
    let mut reg_problems = vec![];
    let mut sig_problems = vec![];
    let mut history: HashMap<String, Vec<(u64, Change)>> = HashMap::new();
    let mut events: Vec<(u64, SignedEvent<'_>)> = vec![];
    let mut registry_count = 0;
    for e in &bundle.entries {
        let at = Some(e.index);
        let sign1 = match Sign1::parse(&e.bytes) {
            Ok(s) => s,
            Err(err) => {
                sig_problems.push(problem(
                    format!("entry {} is not a COSE_Sign1 message: {err}", e.index),
                    at,
                ));
                continue;
            }
        };
        if registry::is_registry(&sign1) {
            registry_count += 1;
            let Some(log_key) = &log_key else {
                reg_problems.push(problem(
                    format!(
                        "registry entry {}: cannot be checked without the log's key",
                        e.index
                    ),
                    at,
                ));
                continue;
            };
            match registry::verify(&e.bytes, log_key.public_key()) {
                Ok(r) => {
                    let change = match r.action {
                        Action::Registered { key, role, org } => Change::Registered {
                            key,
                            role,
                            org: org.to_string(),
                        },
                        Action::KeyRotated { key } => Change::Rotated { key },
                        Action::Revoked { .. } => Change::Revoked,
                    };
                    history
                        .entry(r.device.as_str().to_string())
                        .or_default()
                        .push((e.index, change));
                }
                Err(err) => reg_problems.push(Problem {
                    message: format!("registry entry {}: {err}", e.index),
                    index: at,
                    device: None,
                    seq: None,
                }),
            }
            continue;
        }
        match SignedEvent::parse(&e.bytes) {
            Ok(s) => events.push((e.index, s)),
            Err(err) => sig_problems.push(problem(
                format!("entry {} is not a signed event: {err}", e.index),
                at,
            )),
        }
    }
    // The history must read as a registry would write it.
    for (device, h) in &history {
        for (n, (i, c)) in h.iter().enumerate() {
            let ok = match c {
                Change::Registered { .. } => n == 0,
                _ => n > 0 && !matches!(h[n - 1].1, Change::Revoked),
            };
            if !ok {
                reg_problems.push(Problem {
                    message: format!(
                        "registry entry {i} for {device} does not follow from the ones before it"
                    ),
                    index: Some(*i),
                    device: Some(device.clone()),
                    seq: None,
                });
            }
        }
    }

    // Event signatures with the key at each index.
    let mut proven: Vec<Proven<'_>> = vec![];
    for (index, signed) in events {
        let device = signed.device().as_str().to_string();
        let seq = provenance_event::peek_seq(signed.sign1().payload());
        let st = standing(history.get(&device), index);
        let at = |message: String| Problem {
            message,
            index: Some(index),
            device: Some(device.clone()),
            seq,
        };
        if st.registered_at.is_none() {
            reg_problems.push(at(format!(
                "event {index} is signed by {device}, which has no registration before it in \
                 the bundle"
            )));
            continue;
        }
        if let Some(r) = st.revoked_at {
            reg_problems.push(at(format!(
                "event {index} is signed by {device}, revoked at log index {r}"
            )));
            continue;
        }
        let key = st.key.and_then(|k| VerifyingKey::from_bytes(&k).ok());
        let Some(key) = key else {
            reg_problems.push(at(format!("{device}'s registered key is not usable")));
            continue;
        };
        let authenticated = match signed.verify(&key) {
            Ok(a) => a,
            Err(_) => {
                sig_problems.push(at(format!(
                    "event {index}: the signature is not {device}'s (key registered at log \
                     index {}): forged or altered",
                    st.registered_at.unwrap_or_default()
                )));
                continue;
            }
        };
        let verified = match authenticated.decode() {
            Ok(v) => v,
            Err(err) => {
                sig_problems.push(at(format!("event {index}: {err}")));
                continue;
            }
        };
        if !included.contains(&index) {
            continue;
        }
        proven.push(Proven {
            index,
            bytes: verified.bytes(),
            event: verified.event().clone(),
            signer: Signer {
                id: device.clone(),
                role: st.role.map(|r| r.name().to_string()),
                org: st.org,
                registered_at: st.registered_at,
                revoked_at: st.revoked_at,
            },
            device,
        });
    }
    let event_count = bundle.entries.len() - registry_count;
    sections.push(section(
        Step::Registry,
        format!(
            "{registry_count} registry entries signed by the log; registration and revocation \
             of every signer"
        ),
        registry_count,
        reg_problems,
    ));
    sections.push(section(
        Step::Signatures,
        format!("{event_count} event signatures with the key each signer had at the time"),
        event_count,
        sig_problems,
    ));

    // The subject's trace, derived from proven events only.
    let subject = bundle.subject.clone();
    let walk = containers(&subject, &proven);
    let windows = &walk.windows;
    let mut trace: Vec<(&Proven<'_>, Option<Window>)> = vec![];
    for p in &proven {
        if p.names(&subject) {
            trace.push((p, None));
        } else if let Some(w) = windows
            .iter()
            .find(|w| p.names(&w.container) && w.contains(p.event.time))
        {
            trace.push((p, Some(w.clone())));
        }
    }
    trace.sort_by_key(|(p, _)| (p.event.time, p.index));

    // Chains.
    let mut chain_problems = vec![];
    let mut by_device: HashMap<&str, BTreeMap<u64, &Proven<'_>>> = HashMap::new();
    for p in &proven {
        let chain = by_device.entry(p.device.as_str()).or_default();
        if let Some(other) = chain.insert(p.event.seq, p) {
            if other.bytes != p.bytes {
                chain_problems.push(Problem {
                    message: format!(
                        "{} signed two different events with seq {} (log indexes {} and {})",
                        p.device, p.event.seq, other.index, p.index
                    ),
                    index: Some(p.index),
                    device: Some(p.device.clone()),
                    seq: Some(p.event.seq),
                });
            }
        }
    }
    // Per signer: its seqs in order and the losses it reported, so that each gap is judged in
    // logarithmic time (a count per gap made a bundle of n gaps cost n² steps).
    let chain_facts: HashMap<&str, (Vec<u64>, u64)> = by_device
        .iter()
        .map(|(d, c)| {
            let reported = c
                .values()
                .filter_map(|e| e.event.dropped)
                .fold(0u64, u64::saturating_add);
            (*d, (c.keys().copied().collect(), reported))
        })
        .collect();
    let mut trace_events = vec![];
    for (p, inherited) in &trace {
        let seq = p.event.seq;
        let chain = by_device.get(p.device.as_str());
        let below = chain.and_then(|c| c.range(..seq).next_back());
        let predecessor = below
            .filter(|(s, _)| **s == seq - 1)
            .map(|(_, before)| message_hash(before.bytes));
        let mut status = chain_status(
            seq,
            &p.event.prev,
            predecessor.as_ref(),
            below.map(|(s, _)| *s),
            p.event.dropped,
        );
        if let ChainStatus::Gap { to, explained, .. } = &mut status {
            // The signer's reports in the bundle must cover every seq it lacks up to the gap's
            // end (the rule of the ledger's views).
            let (reported, present) =
                chain_facts
                    .get(p.device.as_str())
                    .map_or((0, 0), |(seqs, reported)| {
                        let present = seqs.partition_point(|s| s <= to);
                        (*reported, u64::try_from(present).unwrap_or(u64::MAX))
                    });
            *explained |= gap_explained(reported, to.saturating_sub(present));
        }
        let broken = match status {
            // A public bundle leaves every other event out, its signers' earlier ones too.
            ChainStatus::Gap { .. } if bundle.scope == Scope::Public => None,
            ChainStatus::PrevMismatch => Some(format!(
                "{} seq {seq} (log index {}): prev is not the hash of seq {} in the bundle",
                p.device,
                p.index,
                seq - 1
            )),
            ChainStatus::Gap {
                from,
                to,
                explained: false,
            } => Some(format!(
                "{} seq {seq} (log index {}): seq {from}..={to} before it are not in the bundle \
                 and not reported dropped: an event is missing",
                p.device, p.index
            )),
            _ => None,
        };
        if let Some(message) = broken {
            chain_problems.push(Problem {
                message,
                index: Some(p.index),
                device: Some(p.device.clone()),
                seq: Some(seq),
            });
        }
        trace_events.push(TraceEvent::from_event(
            p.index,
            &p.event,
            p.signer.clone(),
            inherited.clone(),
            status,
        ));
    }
    sections.push(section(
        Step::Chains,
        format!(
            "{} events of {subject} against their signers' previous events",
            trace_events.len()
        ),
        trace_events.len(),
        chain_problems,
    ));

    let mut custody = rules::assess(&subject, &trace_events, limits);
    // Every proven event of the bundle was under the checkpoint the witnesses saw by then.
    if let Some(t) = witnessing.witnessed_by {
        let late = proven
            .iter()
            .filter_map(|p| rules::dated_after_witnessed(p.index, &p.device, p.event.time, t))
            .collect();
        custody.add_findings(&trace_events, late);
    }
    let mut custody_problems: Vec<Problem> = custody
        .findings
        .iter()
        .filter(|f| f.severity == rules::Severity::Failure)
        .map(|f| problem(f.message.clone(), f.indexes.last().copied()))
        .collect();
    if walk.truncated {
        custody_problems.push(problem(
            format!(
                "the containers of {subject} go beyond what a check walks (nesting {}, {} \
                 containers, {} windows): events of containers further out are not checked",
                crate::history::MAX_DEPTH,
                crate::history::MAX_CONTAINERS,
                crate::history::MAX_WINDOWS
            ),
            None,
        ));
    }
    let public = bundle.scope == Scope::Public;
    if public {
        let bundle_step = &mut sections[0].problems;
        if accept != Scope::Public {
            bundle_step.push(problem(
                "this is a public bundle (scope public): it holds a battery passport's public \
                 entries only and proves no chain of custody; check it with `verify --bundle \
                 … --passport …`, or get the whole evidence bundle"
                    .into(),
                None,
            ));
        }
        for e in &trace_events {
            let own_fact = matches!(e.kind, Kind::Commissioned | Kind::Decommissioned)
                && e.inherited.is_none()
                && e.items.len() == 1
                && e.items[0] == subject;
            if !own_fact {
                bundle_step.push(problem(
                    format!(
                        "entry {}: a public bundle may hold only the subject's own making and \
                         end of life, and this is a {} event",
                        e.index,
                        e.kind.name()
                    ),
                    Some(e.index),
                ));
            }
        }
    }
    sections.push(if public {
        section(
            Step::Custody,
            "not judged: a public bundle holds the public entries only, and the custody rules \
             need the whole history (a partner's or an authority's bundle)"
                .into(),
            0,
            vec![],
        )
    } else {
        section(
            Step::Custody,
            format!(
                "custody, seal, gaps and conditions ({} limits)",
                limits.profile
            ),
            trace_events.len(),
            custody_problems,
        )
    });

    let crypto_ok = sections
        .iter()
        .filter(|s| s.step != Step::Custody)
        .all(|s| s.problems.is_empty());
    let verdict = match (crypto_ok, public) {
        (false, _) => Verdict::Fail,
        (true, true) => Verdict::Pass,
        (true, false) => custody.verdict,
    };
    let lines = trace_events
        .iter()
        .map(|e| TraceLine {
            index: e.index,
            time_ms: e.time_ms,
            kind: e.kind.name().to_string(),
            signer: e.signer.id.clone(),
            org: e.signer.org.clone(),
            place: e.place.clone(),
            position: e
                .position
                .map(|(a, b)| (f64::from(a) / 1e7, f64::from(b) / 1e7)),
            via_container: e.inherited.as_ref().map(|w| w.container.clone()),
        })
        .collect();
    Report {
        verdict,
        subject,
        checkpoint: checkpoint.map(|c| CheckpointInfo {
            origin: c.origin,
            size: c.size,
            root: B64.encode(c.root),
            key: signing_key
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }),
        witnesses: Some(witnessing),
        sections,
        trace: lines,
        custody: (!public).then_some(custody),
        scope: bundle.scope,
        events: trace_events,
    }
}

/// Opens the checkpoint with `log_key`, or without one with the first of the policy's logs
/// whose signature holds; returns the key and the checkpoint, or records why not.
fn open_checkpoint(
    note: &[u8],
    log_key: Option<&Verifier>,
    policy: Option<&Policy>,
    origin: &str,
    problems: &mut Vec<Problem>,
) -> Option<(Verifier, Checkpoint)> {
    // A log's key is named after its origin (C2SP tlog-checkpoint, tlog-policy): a checkpoint
    // of another origin signed with the same key is not this log's.
    if let Some(key) = log_key {
        return match Checkpoint::open(note, key, Some(key.name())) {
            Ok((cp, _)) => Some((key.clone(), cp)),
            Err(e) => {
                problems.push(problem(
                    format!("the checkpoint is not signed by the log key {key}: {e}"),
                    None,
                ));
                None
            }
        };
    }
    let Some(policy) = policy else {
        problems.push(problem(
            "no log key to check the checkpoint with: give the log's key, or a policy with a \
             `log` line"
                .into(),
            None,
        ));
        return None;
    };
    if policy.logs().is_empty() {
        problems.push(problem(VerifyError::NoLogs.to_string(), None));
        return None;
    }
    let mut why = None;
    for log in policy.logs() {
        match Checkpoint::open(note, &log.key, Some(log.key.name())) {
            Ok((cp, _)) => return Some((log.key.clone(), cp)),
            // The log the bundle names: say why its signature fails.
            Err(e) if log.key.name() == origin && why.is_none() => {
                why = Some(format!(" ({}: {e})", log.key));
            }
            Err(_) => {}
        }
    }
    let logs: Vec<String> = policy.logs().iter().map(|l| l.key.to_string()).collect();
    problems.push(problem(
        format!(
            "the checkpoint is not signed by a log of the policy{}; the policy's logs are {}",
            why.unwrap_or_default(),
            logs.join(", ")
        ),
        None,
    ));
    None
}

/// What the witnesses say of a signed checkpoint `note` whose signature by `log_key` holds:
/// with a `policy`, its verdict (`quorum_met == Some(true)` only if the log is one it accepts,
/// every cosignature by its witnesses verifies and they meet its quorum; else `explanation`
/// says why); without, the signature lines besides the log's, by name. The same judgement as
/// [`Step::Witnesses`] of [`verify_bundle_with`], for a checkpoint fetched on its own.
pub fn witnessing(note: &[u8], log_key: &Verifier, policy: Option<&Policy>) -> Witnessing {
    witnesses(note, Some(log_key), policy, log_key.name()).0
}

/// The witnesses step: with a policy, its verdict on the checkpoint (`log_key` is the key
/// whose signature on it holds, if any); without, the signature lines besides the log's.
fn witnesses(
    note: &[u8],
    log_key: Option<&Verifier>,
    policy: Option<&Policy>,
    origin: &str,
) -> (Witnessing, Section) {
    let mut w = Witnessing {
        policy: policy.is_some(),
        cosignatures: vec![],
        quorum: None,
        quorum_needs: None,
        quorum_met: None,
        explanation: None,
        witnessed_by: None,
    };
    let Some(policy) = policy else {
        // Not the log's own line; each name once.
        let lines = note::parse(note).map(|(_, s)| s).unwrap_or_default();
        for s in lines {
            let log_line = match log_key {
                Some(k) => s.name == k.name() && s.key_id == k.key_id(),
                None => s.name == origin,
            };
            if !log_line && !w.cosignatures.iter().any(|c| c.name == s.name) {
                w.cosignatures.push(CosignatureLine {
                    name: s.name,
                    policy_name: None,
                    timestamp: None,
                    verified: false,
                });
            }
        }
        let checked = if w.cosignatures.is_empty() {
            "not witnessed: the checkpoint carries the log's signature only".to_string()
        } else {
            let names: Vec<&str> = w.cosignatures.iter().map(|c| c.name.as_str()).collect();
            format!(
                "cosigned by {} according to its signature lines: names only, not verified \
                 (no witness policy given)",
                names.join(", ")
            )
        };
        let count = w.cosignatures.len();
        return (w, section(Step::Witnesses, checked, count, vec![]));
    };

    let (quorum, needs) = quorum_words(policy);
    let checked = match &needs {
        Some(n) => format!(
            "cosignatures by the policy's {} witnesses; quorum {quorum}: {n}",
            policy.witnesses().len()
        ),
        None => format!(
            "cosignatures by the policy's {} witnesses; quorum {quorum}",
            policy.witnesses().len()
        ),
    };
    w.quorum = Some(quorum);
    w.quorum_needs = needs;
    let mut problems = vec![];
    let why = match log_key {
        None => Some(
            "the witnesses cannot be checked without a log signature on the checkpoint that \
             holds"
                .to_string(),
        ),
        Some(key) => match policy.verify_checkpoint_with_log(note, key) {
            Ok(v) => {
                w.cosignatures = v
                    .cosigned
                    .iter()
                    .map(|c| CosignatureLine {
                        name: c.key_name.clone(),
                        policy_name: Some(c.name.to_string()),
                        timestamp: Some(c.timestamp),
                        verified: true,
                    })
                    .collect();
                w.quorum_met = Some(v.quorum_met);
                w.witnessed_by = v.witnessed_by;
                v.explanation
                    .or_else(|| (!v.quorum_met).then(|| "quorum not met".to_string()))
            }
            Err(VerifyError::Cosignature(e)) => {
                w.quorum_met = Some(false);
                Some(format!(
                    "a cosignature by a witness of the policy does not hold ({e}): the \
                     checkpoint or the cosignature was altered"
                ))
            }
            Err(e) => {
                w.quorum_met = Some(false);
                Some(e.to_string())
            }
        },
    };
    if let Some(why) = why {
        problems.push(problem(why.clone(), None));
        w.explanation = Some(why);
    }
    let count = w.cosignatures.len();
    (w, section(Step::Witnesses, checked, count, problems))
}

/// The quorum's name, and what a group quorum needs (`2 of 3`).
fn quorum_words(policy: &Policy) -> (String, Option<String>) {
    match policy.quorum() {
        Quorum::None => ("none".into(), None),
        Quorum::Witness(i) => (
            policy
                .witnesses()
                .get(i)
                .map_or_else(|| "?".into(), |w| w.name.to_string()),
            None,
        ),
        Quorum::Group(g) => match policy.groups().get(g) {
            Some(g) => (
                g.name.to_string(),
                Some(format!("{} of {}", g.threshold, g.members.len())),
            ),
            None => ("?".into(), None),
        },
    }
}

/// The containers `item` was in, transitively, from the proven packed/unpacked events: the
/// same bounded walk as the ledger's traces.
fn containers(item: &str, proven: &[Proven<'_>]) -> crate::history::Walk {
    let mut rows: HashMap<String, Vec<crate::history::AggregationRow>> = HashMap::new();
    for p in proven {
        let delta = match p.event.kind {
            Kind::Packed => 1,
            Kind::Unpacked => -1,
            _ => continue,
        };
        let Some(parent) = &p.event.parent else {
            continue;
        };
        let index = i64::try_from(p.index).unwrap_or(i64::MAX);
        for child in p.event.items.iter() {
            rows.entry(child.to_string()).or_default().push((
                parent.to_string(),
                p.event.time,
                index,
                delta,
            ));
        }
    }
    for r in rows.values_mut() {
        r.sort_by_key(|(_, t, i, _)| (*t, *i));
    }
    crate::history::walk_in_memory(item, &rows)
}

#[cfg(test)]
mod tests;
