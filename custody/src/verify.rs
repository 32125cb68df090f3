//! Offline verification of an evidence bundle (SPEC §7) with nothing but its bytes and the
//! log's verifier key.
//!
//! In order, each step a section of the [`Report`]:
//!
//! 1. **bundle**: the bytes parse as a `provenance-evidence/v1` bundle.
//! 2. **checkpoint**: the checkpoint note is signed by the log key.
//! 3. **inclusion**: every entry's C2SP tlog proof is for that entry's index, against that
//!    checkpoint, and leads from the entry's leaf hash to the checkpoint's root.
//! 4. **registry**: every registry entry is signed by the log key, and the registry's history
//!    makes sense (registered first, nothing after a revocation); every event's signer was
//!    registered before the event's index and not revoked before it.
//! 5. **signatures**: every event verifies with the key its signer had at that index (key
//!    rotations respected) and its payload follows SPEC §3.
//! 6. **chains**: each event of the subject links to its signer's previous event (`prev` is
//!    that event's hash), or the gap is explained by a `dropped` report; no signer signed
//!    two events with one seq.
//! 7. **custody**: the rules of [`crate::rules`] over the subject's trace, which the verifier
//!    derives itself from the proven events: those naming the subject, and those of each
//!    container while the subject was inside (windows from the `packed`/`unpacked` events).
//!
//! Only entries whose proof and signature hold take part in steps 6 and 7.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_event::cose::Sign1;
use provenance_event::ed25519_dalek::VerifyingKey;
use provenance_event::registry::{self, Action, Role};
use provenance_event::{Event, Kind, SignedEvent, message_hash};
use provenance_tlog::merkle::verify_inclusion;
use provenance_tlog::{Checkpoint, Verifier, leaf_hash};
use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
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
    /// Each step.
    pub sections: Vec<Section>,
    /// The subject's trace as verified.
    pub trace: Vec<TraceLine>,
    /// The custody findings, when the bundle parsed.
    pub custody: Option<CustodyReport>,
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
/// against `limits`.
pub fn verify_bundle(bytes: &[u8], log_key: &Verifier, limits: &Limits) -> Report {
    let bundle = match Bundle::parse(bytes) {
        Ok(b) => b,
        Err(e) => {
            return Report {
                verdict: Verdict::Fail,
                subject: String::new(),
                checkpoint: None,
                sections: vec![section(
                    Step::Bundle,
                    "the file's format".into(),
                    1,
                    vec![problem(e.to_string(), None)],
                )],
                trace: vec![],
                custody: None,
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
    let checkpoint = Checkpoint::open(bundle.checkpoint.as_bytes(), log_key, None);
    let mut cp_problems = vec![];
    match &checkpoint {
        Ok((cp, _)) if cp.origin != bundle.log.origin => cp_problems.push(problem(
            format!(
                "the checkpoint is for the log {:?}, the bundle says {:?}",
                cp.origin, bundle.log.origin
            ),
            None,
        )),
        Ok(_) => {}
        Err(e) => cp_problems.push(problem(
            format!(
                "the checkpoint is not signed by the log key {}: {e}",
                log_key
            ),
            None,
        )),
    }
    let checkpoint = checkpoint.ok().map(|(cp, _)| cp);
    sections.push(section(
        Step::Checkpoint,
        format!("signature of {} on the checkpoint", log_key.name()),
        1,
        cp_problems,
    ));

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

    let custody = rules::assess(&subject, &trace_events, limits);
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
    sections.push(section(
        Step::Custody,
        format!(
            "custody, seal, gaps and conditions ({} limits)",
            limits.profile
        ),
        trace_events.len(),
        custody_problems,
    ));

    let crypto_ok = sections
        .iter()
        .filter(|s| s.step != Step::Custody)
        .all(|s| s.problems.is_empty());
    let verdict = if crypto_ok {
        custody.verdict
    } else {
        Verdict::Fail
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
        }),
        sections,
        trace: lines,
        custody: Some(custody),
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
