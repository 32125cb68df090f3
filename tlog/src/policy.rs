//! C2SP `tlog-policy`: the logs a verifier trusts, the witnesses it knows, and which subsets of
//! those witnesses (the *quorum*) must have cosigned a checkpoint before it is believed. With a
//! policy file an offline verifier needs nothing else to tell a checkpoint the world sees from a
//! split view shown to it alone.
//!
//! A policy is lines of
//!
//! ```text
//! log <vkey> [<url>]
//! witness <name> <vkey> [<url>]
//! group <name> all|any|<k> <name>...
//! quorum <name>
//! ```
//!
//! plus blank lines and comment lines (first field starts with `#`). Fields are separated by
//! spaces and tabs only. Witnesses and groups share one namespace, in which `none` is
//! predefined (`quorum none`: no cosignature needed). A group or quorum line may name only
//! witnesses and groups defined on earlier lines, so a policy has no cycles and is evaluated in
//! one pass in file order.
//!
//! Where the spec leaves room, this implementation decides:
//!
//! - **Octets, not text.** The file is read as bytes, as the spec says. Names are opaque octet
//!   strings ([`Name`]): compared byte for byte (`K` and the Kelvin sign `K` are two names),
//!   never normalised, and not required to be UTF-8, so every file the spec allows parses. A
//!   vkey must be UTF-8, as signed-note key names are. URLs are kept as the octets written.
//! - **A last line without its newline** is read as if it had one, as Go's line scanners do.
//! - **Keys.** Log keys are signed-note Ed25519 keys (type 0x01), the only log signature this
//!   crate checks. Witness keys are `cosignature/v1` keys (type 0x04). An ML-DSA-44 witness
//!   key (type 0x06) is refused: counting it as a witness that never cosigns would quietly make
//!   the quorum unreachable.
//! - **Membership.** The spec lets each name be listed as a group member "at most once", so
//!   that a witness contributes to the quorum in only one way. A witness in two groups would
//!   contribute twice, so the rule is applied across the whole policy, not only within one
//!   group (as `transparency-dev/formats` also reads it); the groups form a tree.
//! - **Limits.** At most [`MAX_LOGS`] logs, [`MAX_WITNESSES`] witnesses and [`MAX_GROUPS`]
//!   groups (the spec asks for at least 32 of each) and lines of at most [`MAX_LINE_BYTES`]
//!   octets, so parsing and evaluation cost grows linearly with the input.
//!
//! Pure: no clock (a cosignature's timestamp is reported, not judged), no I/O.

use std::collections::HashMap;
use std::fmt;

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::cosignature::{self, ALG_COSIGNATURE_V1, CosignatureError, CosignatureVerifier};
use crate::note::{self, NoteError, Verifier};

/// The most `log` lines a policy may have.
pub const MAX_LOGS: usize = 256;
/// The most `witness` lines a policy may have.
pub const MAX_WITNESSES: usize = 256;
/// The most `group` lines a policy may have.
pub const MAX_GROUPS: usize = 256;
/// The longest line, in octets without its newline: room for a group of every witness and
/// group with long names, and a bound on the work one line can cause.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The predefined name: as the quorum, no cosignature is needed.
const NONE: &[u8] = b"none";
/// The signature type byte of Ed25519 signed-note keys, which logs sign checkpoints with.
const ALG_ED25519: u8 = 0x01;
/// The signature type byte of ML-DSA-44 cosignature keys, which this crate does not verify.
const ALG_MLDSA44_COSIGNATURE: u8 = 0x06;

const LOG_USAGE: &str = "log <vkey> [<url>]";
const WITNESS_USAGE: &str = "witness <name> <vkey> [<url>]";
const GROUP_USAGE: &str = "group <name> all|any|<k> <name>...";
const QUORUM_USAGE: &str = "quorum <name>";

/// A witness or group name: opaque octets, compared byte for byte.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Vec<u8>);

impl Name {
    /// The octets as written in the policy.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as text, if it is UTF-8 (as the spec recommends).
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

/// UTF-8 as is, any other octet as `\xNN`, so that two different names never print alike.
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name(\"{self}\")")
    }
}

/// A `log <vkey> [<url>]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Log {
    /// The log's key; its name is the log's origin, as the spec requires.
    pub key: Verifier,
    /// The URL, if given; application specific, so kept as written.
    pub url: Option<Vec<u8>>,
    /// The line it is defined on (1-based).
    pub line: usize,
}

/// A `witness <name> <vkey> [<url>]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Witness {
    /// The name the policy calls it by (not its key name).
    pub name: Name,
    /// Its `cosignature/v1` key.
    pub key: CosignatureVerifier,
    /// The URL, if given (for tlog-witness, its submission prefix); kept as written.
    pub url: Option<Vec<u8>>,
    /// The line it is defined on (1-based).
    pub line: usize,
}

/// A `group <name> all|any|<k> <name>...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Group {
    /// The group's name.
    pub name: Name,
    /// How many members must have witnessed a checkpoint for the group to have: `any` is 1,
    /// `all` the number of members; always between 1 and that number.
    pub threshold: usize,
    /// The members, in the order written, each defined on an earlier line.
    pub members: Vec<Member>,
    /// The line it is defined on (1-based).
    pub line: usize,
}

/// A group member: an index into [`Policy::witnesses`] or [`Policy::groups`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Member {
    /// A witness, by index.
    Witness(usize),
    /// An earlier group, by index.
    Group(usize),
}

/// What the `quorum` line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    /// `quorum none`: no cosignature is needed.
    None,
    /// A single witness, by index into [`Policy::witnesses`].
    Witness(usize),
    /// A group, by index into [`Policy::groups`].
    Group(usize),
}

/// A parsed and checked policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<Log>,
    witnesses: Vec<Witness>,
    groups: Vec<Group>,
    quorum: Quorum,
}

/// Why a policy file is refused: the line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy line {line}: {kind}")]
#[non_exhaustive]
pub struct PolicyError {
    /// The line, 1-based; for a missing quorum line, the last line.
    pub line: usize,
    /// What is wrong, and what to write instead.
    pub kind: PolicyErrorKind,
}

/// What is wrong with a policy line. Each message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// A line longer than [`MAX_LINE_BYTES`].
    #[error(
        "the line is {len} octets, more than the {limit} this implementation reads; split a \
         long group into smaller groups"
    )]
    LineTooLong {
        /// The line's length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// An octet below 0x20 other than tab, or 0x7f.
    #[error(
        "octet {byte:#04x} at column {column} is a control character; only tab and newline \
         are allowed (save the file with LF line endings)"
    )]
    ControlCharacter {
        /// The octet.
        byte: u8,
        /// Its 1-based position in the line.
        column: usize,
    },
    /// The first field is not a keyword.
    #[error(
        "unknown keyword {found}; a line is `log`, `witness`, `group` or `quorum`, a comment \
         starting with #, or blank"
    )]
    UnknownKeyword {
        /// The first field.
        found: Name,
    },
    /// Too few or too many fields.
    #[error("wrong number of fields; write `{usage}`")]
    Usage {
        /// The line's syntax.
        usage: &'static str,
    },
    /// Too many fields, one starting with `#`: a comment after a definition.
    #[error("comments go on a line of their own, starting with #; write `{usage}`")]
    TrailingComment {
        /// The line's syntax.
        usage: &'static str,
    },
    /// A log vkey that does not parse.
    #[error(
        "bad log key: {problem}; write the log's signed-note vkey, \
         <origin>+<key ID in hex>+<base64 of 0x01 and the Ed25519 public key>"
    )]
    LogKey {
        /// Why the key does not parse.
        problem: NoteError,
    },
    /// A witness key on a log line.
    #[error(
        "this is a witness's cosignature/v1 key (type 0x04); a log line takes the log's own \
         Ed25519 signed-note key (type 0x01), named by the log's origin"
    )]
    WitnessKeyOnLogLine,
    /// A witness vkey that does not parse.
    #[error(
        "bad witness key: {problem}; write the witness's cosignature/v1 vkey, \
         <name>+<key ID in hex>+<base64 of 0x04 and the Ed25519 public key>"
    )]
    WitnessKey {
        /// Why the key does not parse.
        problem: NoteError,
    },
    /// A plain note key on a witness line.
    #[error(
        "this is a plain Ed25519 signed-note key (type 0x01); a witness line takes the \
         witness's cosignature/v1 key (type 0x04), whose key ID differs even for the same \
         public key"
    )]
    NoteKeyOnWitnessLine,
    /// An ML-DSA-44 witness key.
    #[error(
        "ML-DSA-44 cosignature keys (type 0x06) are not supported here; list the witness's \
         Ed25519 cosignature/v1 key (type 0x04) instead"
    )]
    UnsupportedWitnessKey,
    /// A log whose public key an earlier log line already has.
    #[error(
        "this log's public key is already listed on line {first} (the key name or ID may \
         differ); list each log once"
    )]
    DuplicateLog {
        /// The earlier line.
        first: usize,
    },
    /// A witness whose public key an earlier witness line already has.
    #[error(
        "this witness's public key is already listed on line {first} as {name} (the key name \
         or ID may differ); list each witness once and refer to it as {name}"
    )]
    DuplicateWitness {
        /// The earlier line.
        first: usize,
        /// The earlier witness's name.
        name: Name,
    },
    /// Another key with the same key name and key ID: signature lines could not tell the two
    /// apart (only a crafted key collides so).
    #[error(
        "key name and ID {key} are those of another key, on line {first}; signature lines \
         could not tell them apart, so use another key"
    )]
    AmbiguousKey {
        /// `name+id` of the key.
        key: String,
        /// The earlier line.
        first: usize,
    },
    /// A witness or group name already defined.
    #[error(
        "{name} is already defined on line {first}; witnesses and groups share one namespace, \
         so pick another name"
    )]
    NameTaken {
        /// The name.
        name: Name,
        /// The line defining it.
        first: usize,
    },
    /// A witness or group named `none`.
    #[error("`none` is predefined (for `quorum none`); pick another name")]
    ReservedName,
    /// A name not defined on an earlier line.
    #[error(
        "{name} is not defined on an earlier line; define each witness and group above the \
         group or quorum line that uses it"
    )]
    Undefined {
        /// The name.
        name: Name,
    },
    /// `none` listed as a group member.
    #[error(
        "`none` cannot be a group member; list witnesses and groups (a policy that needs no \
         cosignature says `quorum none`)"
    )]
    NoneMember,
    /// A name listed as a member a second time.
    #[error(
        "{name} is already listed as a group member on line {first}; each witness or group \
         may be a member once in the whole policy, so that it counts toward the quorum in one \
         way only: list it in one group and nest that group where it is needed"
    )]
    RepeatedMember {
        /// The name.
        name: Name,
        /// The line of the earlier listing.
        first: usize,
    },
    /// A threshold that is not `all`, `any` or a decimal number.
    #[error("threshold {found} is not `all`, `any` or a decimal number; write one of those")]
    BadThreshold {
        /// The field as written.
        found: Name,
    },
    /// A threshold outside 1..=n.
    #[error(
        "threshold {k} is not between 1 and {n}, the number of members; write a number in \
         that range, `any` (1) or `all` ({n})"
    )]
    ThresholdRange {
        /// The threshold as written.
        k: String,
        /// The number of members.
        n: usize,
    },
    /// A second `quorum` line.
    #[error("a second quorum line (the first is on line {first}); a policy has exactly one")]
    SecondQuorum {
        /// The first quorum line.
        first: usize,
    },
    /// No `quorum` line.
    #[error(
        "the policy has no quorum line; add `quorum <name>` naming a witness or group defined \
         above it, or `quorum none` to need no cosignature"
    )]
    NoQuorum,
    /// More logs, witnesses or groups than this implementation reads.
    #[error("more than {limit} {what}; this implementation reads at most {limit}")]
    TooMany {
        /// `logs`, `witnesses` or `groups`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

/// Why a checkpoint could not be judged against a policy. A quorum that is not met is not an
/// error here: [`PolicyVerdict`] says so and why; [`PolicyVerdict::require_quorum`] turns it
/// into [`VerifyError::QuorumNotMet`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// [`Policy::verify_checkpoint`] on a policy without log lines.
    #[error(
        "the policy lists no logs; give the log's key (verify_checkpoint_with_log, for example \
         from --log-key) or add a `log <vkey>` line"
    )]
    NoLogs,
    /// [`Policy::verify_checkpoint_with_log`] with a key the policy's log lines do not have.
    #[error(
        "log key {key} is not one of the policy's logs; the policy accepts only the logs it \
         lists, so use one of them (or a policy without log lines)"
    )]
    LogNotInPolicy {
        /// The key given.
        key: String,
    },
    /// Not a well-formed signed note.
    #[error(transparent)]
    Note(NoteError),
    /// The note's text is not a checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// No trusted log has the checkpoint's origin as key name.
    #[error("checkpoint origin {origin:?} is not the key name of a trusted log (logs: {logs:?})")]
    UnknownOrigin {
        /// The checkpoint's origin.
        origin: String,
        /// The key names of the trusted logs.
        logs: Vec<String>,
    },
    /// The log's signature is missing or does not verify.
    #[error("log signature: {0}")]
    LogSignature(NoteError),
    /// A known witness's cosignature does not verify: the whole note is refused, as
    /// signed-note asks of known keys.
    #[error(transparent)]
    Cosignature(#[from] CosignatureError),
    /// The quorum is not met; the message says which groups fall short.
    #[error("{0}")]
    QuorumNotMet(String),
}

/// A verified cosignature by one of the policy's witnesses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WitnessCosignature {
    /// Index into [`Policy::witnesses`].
    pub witness: usize,
    /// The witness's name in the policy.
    pub name: Name,
    /// Its key name (on the signature line).
    pub key_name: String,
    /// Its key ID.
    pub key_id: u32,
    /// When it cosigned, seconds since the Epoch; the earliest if it cosigned more than once.
    pub timestamp: u64,
}

/// What a policy makes of a checkpoint whose signatures all verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyVerdict {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The log key whose signature verified.
    pub log: Verifier,
    /// The policy's witnesses that cosigned it, in policy order, one entry each.
    pub cosigned: Vec<WitnessCosignature>,
    /// Whether those witnesses satisfy the quorum.
    pub quorum_met: bool,
    /// The time the quorum vouches for (see [`Policy::quorum_time`]); `None` if the quorum is
    /// not met, or is `none`.
    pub witnessed_by: Option<u64>,
    /// For an unmet quorum, which groups fall short and which members they lack.
    pub explanation: Option<String>,
}

impl PolicyVerdict {
    /// The verdict if the quorum is met, else [`VerifyError::QuorumNotMet`] with the
    /// explanation: for callers that accept nothing less.
    pub fn require_quorum(self) -> Result<Self, VerifyError> {
        if self.quorum_met {
            Ok(self)
        } else {
            Err(VerifyError::QuorumNotMet(
                self.explanation
                    .unwrap_or_else(|| "quorum not met".to_string()),
            ))
        }
    }
}

impl Policy {
    /// Parses and checks a policy file. See the module documentation for the syntax and for
    /// what this implementation refuses beyond the spec's rules.
    pub fn parse(text: &[u8]) -> Result<Self, PolicyError> {
        let mut parser = Parser::default();
        let mut lines = 0;
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            lines = i + 1;
            parser
                .line(lines, line)
                .map_err(|kind| PolicyError { line: lines, kind })?;
        }
        // A final newline leaves an empty piece after it, which is no line of the file.
        let last = if text.ends_with(b"\n") {
            lines - 1
        } else {
            lines
        };
        parser.finish().map_err(|kind| PolicyError {
            line: last.max(1),
            kind,
        })
    }

    /// The logs, in file order.
    pub fn logs(&self) -> &[Log] {
        &self.logs
    }

    /// The witnesses, in file order; [`Member::Witness`] and [`Quorum::Witness`] index this.
    pub fn witnesses(&self) -> &[Witness] {
        &self.witnesses
    }

    /// The groups, in file order (each refers only to earlier ones); [`Member::Group`] and
    /// [`Quorum::Group`] index this.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The quorum.
    pub fn quorum(&self) -> Quorum {
        self.quorum
    }

    /// Judges a signed checkpoint: it must be signed by one of the policy's logs whose key name
    /// is the checkpoint's origin, and every cosignature by a policy witness must verify (lines
    /// by other keys are ignored). The verdict says whether the witnesses that cosigned meet
    /// the quorum. A policy without log lines cannot vouch for any log: use
    /// [`Policy::verify_checkpoint_with_log`].
    pub fn verify_checkpoint(&self, note: &[u8]) -> Result<PolicyVerdict, VerifyError> {
        if self.logs.is_empty() {
            return Err(VerifyError::NoLogs);
        }
        let keys: Vec<Verifier> = self.logs.iter().map(|l| l.key.clone()).collect();
        self.verify_signed_by(note, &keys)
    }

    /// As [`Policy::verify_checkpoint`], with the log's key known from elsewhere (a
    /// `--log-key`), as the spec allows for a policy that lists no logs. If the policy does
    /// list logs, `log` must be one of them: the policy accepts only the logs it lists.
    pub fn verify_checkpoint_with_log(
        &self,
        note: &[u8],
        log: &Verifier,
    ) -> Result<PolicyVerdict, VerifyError> {
        if !self.logs.is_empty() && !self.logs.iter().any(|l| l.key == *log) {
            return Err(VerifyError::LogNotInPolicy {
                key: log.to_string(),
            });
        }
        self.verify_signed_by(note, std::slice::from_ref(log))
    }

    /// The time the quorum vouches for, given verified cosignatures: the smallest timestamp T
    /// such that the witnesses that cosigned at or before T meet the quorum ("witnessed by
    /// T"). A k-of-n group is witnessed at the k-th earliest time its members are, so this is
    /// exact, not a search. `None` if the cosignatures do not meet the quorum, or if the
    /// quorum is `none` (no witness vouches for anything). A witness listed more than once
    /// counts at its earliest time; indices outside the policy are ignored.
    pub fn quorum_time(&self, cosigned: &[WitnessCosignature]) -> Option<u64> {
        let mut times = vec![None; self.witnesses.len()];
        for c in cosigned {
            if let Some(t) = times.get_mut(c.witness) {
                *t = Some(t.map_or(c.timestamp, |old: u64| old.min(c.timestamp)));
            }
        }
        let groups = self.group_times(&times);
        self.quorum_time_of(&times, &groups)
    }

    fn verify_signed_by(
        &self,
        note: &[u8],
        logs: &[Verifier],
    ) -> Result<PolicyVerdict, VerifyError> {
        let (text, _) = note::parse(note).map_err(VerifyError::Note)?;
        let checkpoint = Checkpoint::parse_body(text)?;
        // The log's key name is its origin (the spec's MUST): only those keys may sign.
        let candidates: Vec<Verifier> = logs
            .iter()
            .filter(|k| k.name() == checkpoint.origin)
            .cloned()
            .collect();
        if candidates.is_empty() {
            return Err(VerifyError::UnknownOrigin {
                origin: checkpoint.origin,
                logs: logs.iter().map(|k| k.name().to_string()).collect(),
            });
        }
        let opened = note::open(note, &candidates).map_err(VerifyError::LogSignature)?;
        let log = candidates
            .into_iter()
            .find(|k| {
                opened
                    .verified
                    .iter()
                    .any(|s| s.name == k.name() && s.key_id == k.key_id())
            })
            .ok_or(VerifyError::LogSignature(NoteError::NoKnownSignature))?;

        let keys: Vec<CosignatureVerifier> = self.witnesses.iter().map(|w| w.key.clone()).collect();
        let mut times: Vec<Option<u64>> = vec![None; self.witnesses.len()];
        for c in cosignature::cosignatures(note, &keys)? {
            let i = self
                .witnesses
                .iter()
                .position(|w| w.key.name() == c.name && w.key.key_id() == c.key_id);
            if let Some(t) = i.and_then(|i| times.get_mut(i)) {
                *t = Some(t.map_or(c.timestamp, |old: u64| old.min(c.timestamp)));
            }
        }
        let cosigned = self
            .witnesses
            .iter()
            .zip(&times)
            .enumerate()
            .filter_map(|(i, (w, t))| {
                t.map(|timestamp| WitnessCosignature {
                    witness: i,
                    name: w.name.clone(),
                    key_name: w.key.name().to_string(),
                    key_id: w.key.key_id(),
                    timestamp,
                })
            })
            .collect();
        let groups = self.group_times(&times);
        let witnessed_by = self.quorum_time_of(&times, &groups);
        let quorum_met = self.quorum == Quorum::None || witnessed_by.is_some();
        let explanation = if quorum_met {
            None
        } else {
            Some(self.explain(&times, &groups))
        };
        Ok(PolicyVerdict {
            checkpoint,
            log,
            cosigned,
            quorum_met,
            witnessed_by,
            explanation,
        })
    }

    /// When each group was first witnessed, given when each witness cosigned (`None`: never).
    /// Groups refer only to earlier groups, so one pass in file order suffices.
    fn group_times(&self, witnesses: &[Option<u64>]) -> Vec<Option<u64>> {
        let mut out: Vec<Option<u64>> = Vec::with_capacity(self.groups.len());
        for g in &self.groups {
            let mut times: Vec<u64> = g
                .members
                .iter()
                .filter_map(|&m| member_time(m, witnesses, &out))
                .collect();
            times.sort_unstable();
            // The k-th earliest member time; None if fewer than k members were witnessed.
            let t = g
                .threshold
                .checked_sub(1)
                .and_then(|i| times.get(i))
                .copied();
            out.push(t);
        }
        out
    }

    fn quorum_time_of(&self, witnesses: &[Option<u64>], groups: &[Option<u64>]) -> Option<u64> {
        match self.quorum {
            Quorum::None => None,
            Quorum::Witness(i) => member_time(Member::Witness(i), witnesses, groups),
            Quorum::Group(g) => member_time(Member::Group(g), witnesses, groups),
        }
    }

    fn member_name(&self, m: Member) -> String {
        let name = match m {
            Member::Witness(i) => self.witnesses.get(i).map(|w| &w.name),
            Member::Group(g) => self.groups.get(g).map(|g| &g.name),
        };
        name.map_or_else(|| "?".to_string(), Name::to_string)
    }

    /// Why the quorum is not met: every group on the way down from the quorum that falls
    /// short, with the members it has and lacks.
    fn explain(&self, witnesses: &[Option<u64>], groups: &[Option<u64>]) -> String {
        let root = match self.quorum {
            Quorum::None => return "quorum none is always met".to_string(),
            Quorum::Witness(i) => {
                let name = self.member_name(Member::Witness(i));
                let key = self
                    .witnesses
                    .get(i)
                    .map_or_else(String::new, |w| w.key.to_string());
                return format!("quorum {name} not met: no valid cosignature by {name} ({key})");
            }
            Quorum::Group(g) => g,
        };
        let mut parts = Vec::new();
        let mut stack = vec![root];
        let mut seen = vec![false; self.groups.len()];
        while let Some(gi) = stack.pop() {
            let Some(g) = self.groups.get(gi) else {
                continue;
            };
            if seen.get(gi).copied().unwrap_or(true) {
                continue;
            }
            if let Some(s) = seen.get_mut(gi) {
                *s = true;
            }
            let (have, lack): (Vec<Member>, Vec<Member>) = g
                .members
                .iter()
                .partition(|&&m| member_time(m, witnesses, groups).is_some());
            let names = |ms: &[Member]| {
                ms.iter()
                    .map(|&m| self.member_name(m))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut detail = Vec::new();
            if !have.is_empty() {
                detail.push(format!("witnessed by {}", names(&have)));
            }
            if !lack.is_empty() {
                detail.push(format!("missing {}", names(&lack)));
            }
            parts.push(format!(
                "{} has {} of the {} it needs ({})",
                g.name,
                have.len(),
                g.threshold,
                detail.join("; ")
            ));
            // Descend into the groups it lacks, in the order written.
            for &m in lack.iter().rev() {
                if let Member::Group(sub) = m {
                    stack.push(sub);
                }
            }
        }
        format!(
            "quorum {} not met: {}",
            self.member_name(Member::Group(root)),
            parts.join("; ")
        )
    }
}

fn member_time(m: Member, witnesses: &[Option<u64>], groups: &[Option<u64>]) -> Option<u64> {
    match m {
        Member::Witness(i) => witnesses.get(i).copied().flatten(),
        Member::Group(g) => groups.get(g).copied().flatten(),
    }
}

/// The octets the spec allows: tab, printable ASCII, and any octet with the high bit set
/// (newline never reaches here: it ends the line).
fn allowed(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80
}

/// The error for a line with the wrong number of fields: a field starting with `#` suggests a
/// comment after a definition, which the spec does not allow.
fn wrong_fields(args: &[&[u8]], usage: &'static str) -> PolicyErrorKind {
    if args.iter().any(|a| a.starts_with(b"#")) {
        PolicyErrorKind::TrailingComment { usage }
    } else {
        PolicyErrorKind::Usage { usage }
    }
}

/// A vkey field as text and its signature type byte, so that a key of the wrong kind can be
/// named as such rather than reported as malformed.
fn vkey_type(field: &[u8]) -> Result<(&str, Option<u8>), NoteError> {
    let text = std::str::from_utf8(field).map_err(|_| NoteError::Key("a vkey is UTF-8 text"))?;
    Ok((text, note::split_vkey(text).ok().map(|(_, _, alg, _)| alg)))
}

/// The policy being read, with the indexes the checks need.
#[derive(Default)]
struct Parser {
    logs: Vec<Log>,
    witnesses: Vec<Witness>,
    groups: Vec<Group>,
    quorum: Option<(Quorum, usize)>,
    /// Witness and group names: what each is, and its line.
    names: HashMap<Vec<u8>, (Member, usize)>,
    /// Names listed as a group member, and the line listing them.
    listed: HashMap<Vec<u8>, usize>,
    /// Log public keys and `(key name, key ID)`s, and their lines.
    log_keys: HashMap<[u8; 32], usize>,
    log_ids: HashMap<(String, u32), usize>,
    /// Witness public keys and their indexes; `(key name, key ID)`s and their lines.
    witness_keys: HashMap<[u8; 32], usize>,
    witness_ids: HashMap<(String, u32), usize>,
}

impl Parser {
    fn line(&mut self, n: usize, line: &[u8]) -> Result<(), PolicyErrorKind> {
        if line.len() > MAX_LINE_BYTES {
            return Err(PolicyErrorKind::LineTooLong {
                len: line.len(),
                limit: MAX_LINE_BYTES,
            });
        }
        if let Some(i) = line.iter().position(|&b| !allowed(b)) {
            return Err(PolicyErrorKind::ControlCharacter {
                byte: line.get(i).copied().unwrap_or(0),
                column: i + 1,
            });
        }
        let fields: Vec<&[u8]> = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|f| !f.is_empty())
            .collect();
        let Some((&keyword, args)) = fields.split_first() else {
            return Ok(()); // blank
        };
        match keyword {
            k if k.starts_with(b"#") => Ok(()),
            b"log" => self.log(n, args),
            b"witness" => self.witness(n, args),
            b"group" => self.group(n, args),
            b"quorum" => self.quorum(n, args),
            _ => Err(PolicyErrorKind::UnknownKeyword {
                found: Name(keyword.to_vec()),
            }),
        }
    }

    fn log(&mut self, n: usize, args: &[&[u8]]) -> Result<(), PolicyErrorKind> {
        let (vkey, url) = match args {
            [k] => (*k, None),
            [k, u] => (*k, Some(u.to_vec())),
            _ => return Err(wrong_fields(args, LOG_USAGE)),
        };
        if self.logs.len() == MAX_LOGS {
            return Err(PolicyErrorKind::TooMany {
                what: "logs",
                limit: MAX_LOGS,
            });
        }
        let (text, alg) = vkey_type(vkey).map_err(|problem| PolicyErrorKind::LogKey { problem })?;
        if alg == Some(ALG_COSIGNATURE_V1) || alg == Some(ALG_MLDSA44_COSIGNATURE) {
            return Err(PolicyErrorKind::WitnessKeyOnLogLine);
        }
        let key = Verifier::parse(text).map_err(|problem| PolicyErrorKind::LogKey { problem })?;
        let public = key.public_key().to_bytes();
        if let Some(&first) = self.log_keys.get(&public) {
            return Err(PolicyErrorKind::DuplicateLog { first });
        }
        let id = (key.name().to_string(), key.key_id());
        if let Some(&first) = self.log_ids.get(&id) {
            return Err(PolicyErrorKind::AmbiguousKey {
                key: format!("{}+{:08x}", id.0, id.1),
                first,
            });
        }
        self.log_keys.insert(public, n);
        self.log_ids.insert(id, n);
        self.logs.push(Log { key, url, line: n });
        Ok(())
    }

    fn witness(&mut self, n: usize, args: &[&[u8]]) -> Result<(), PolicyErrorKind> {
        let (name, vkey, url) = match args {
            [name, k] => (*name, *k, None),
            [name, k, u] => (*name, *k, Some(u.to_vec())),
            _ => return Err(wrong_fields(args, WITNESS_USAGE)),
        };
        self.check_new_name(name)?;
        if self.witnesses.len() == MAX_WITNESSES {
            return Err(PolicyErrorKind::TooMany {
                what: "witnesses",
                limit: MAX_WITNESSES,
            });
        }
        let (text, alg) =
            vkey_type(vkey).map_err(|problem| PolicyErrorKind::WitnessKey { problem })?;
        match alg {
            Some(ALG_ED25519) => return Err(PolicyErrorKind::NoteKeyOnWitnessLine),
            Some(ALG_MLDSA44_COSIGNATURE) => return Err(PolicyErrorKind::UnsupportedWitnessKey),
            _ => {}
        }
        let key = CosignatureVerifier::parse(text)
            .map_err(|problem| PolicyErrorKind::WitnessKey { problem })?;
        let public = key.public_key().to_bytes();
        if let Some(w) = self
            .witness_keys
            .get(&public)
            .and_then(|&i| self.witnesses.get(i))
        {
            return Err(PolicyErrorKind::DuplicateWitness {
                first: w.line,
                name: w.name.clone(),
            });
        }
        let id = (key.name().to_string(), key.key_id());
        if let Some(&first) = self.witness_ids.get(&id) {
            return Err(PolicyErrorKind::AmbiguousKey {
                key: format!("{}+{:08x}", id.0, id.1),
                first,
            });
        }
        let index = self.witnesses.len();
        self.witness_keys.insert(public, index);
        self.witness_ids.insert(id, n);
        self.names
            .insert(name.to_vec(), (Member::Witness(index), n));
        self.witnesses.push(Witness {
            name: Name(name.to_vec()),
            key,
            url,
            line: n,
        });
        Ok(())
    }

    fn group(&mut self, n: usize, args: &[&[u8]]) -> Result<(), PolicyErrorKind> {
        let [name, threshold, members @ ..] = args else {
            return Err(wrong_fields(args, GROUP_USAGE));
        };
        if members.is_empty() {
            return Err(wrong_fields(args, GROUP_USAGE));
        }
        self.check_new_name(name)?;
        if self.groups.len() == MAX_GROUPS {
            return Err(PolicyErrorKind::TooMany {
                what: "groups",
                limit: MAX_GROUPS,
            });
        }
        let mut list = Vec::with_capacity(members.len());
        for &m in members {
            if m == NONE {
                return Err(PolicyErrorKind::NoneMember);
            }
            let &(member, _) = self
                .names
                .get(m)
                .ok_or_else(|| PolicyErrorKind::Undefined {
                    name: Name(m.to_vec()),
                })?;
            if let Some(&first) = self.listed.get(m) {
                return Err(PolicyErrorKind::RepeatedMember {
                    name: Name(m.to_vec()),
                    first,
                });
            }
            self.listed.insert(m.to_vec(), n);
            list.push(member);
        }
        let count = list.len();
        let k = match *threshold {
            b"all" => count,
            b"any" => 1,
            digits if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
                // Digits only: Rust's parser would also take a leading '+'.
                let text = String::from_utf8_lossy(digits).into_owned();
                match text.parse::<usize>() {
                    Ok(k) if (1..=count).contains(&k) => k,
                    _ => return Err(PolicyErrorKind::ThresholdRange { k: text, n: count }),
                }
            }
            other => {
                return Err(PolicyErrorKind::BadThreshold {
                    found: Name(other.to_vec()),
                });
            }
        };
        let index = self.groups.len();
        self.names.insert(name.to_vec(), (Member::Group(index), n));
        self.groups.push(Group {
            name: Name(name.to_vec()),
            threshold: k,
            members: list,
            line: n,
        });
        Ok(())
    }

    fn quorum(&mut self, n: usize, args: &[&[u8]]) -> Result<(), PolicyErrorKind> {
        let [name] = args else {
            return Err(wrong_fields(args, QUORUM_USAGE));
        };
        if let Some((_, first)) = self.quorum {
            return Err(PolicyErrorKind::SecondQuorum { first });
        }
        let quorum = if *name == NONE {
            Quorum::None
        } else {
            match self.names.get(*name) {
                Some(&(Member::Witness(i), _)) => Quorum::Witness(i),
                Some(&(Member::Group(g), _)) => Quorum::Group(g),
                None => {
                    return Err(PolicyErrorKind::Undefined {
                        name: Name(name.to_vec()),
                    });
                }
            }
        };
        self.quorum = Some((quorum, n));
        Ok(())
    }

    /// A new witness or group name must not be `none` nor already defined.
    fn check_new_name(&self, name: &[u8]) -> Result<(), PolicyErrorKind> {
        if name == NONE {
            return Err(PolicyErrorKind::ReservedName);
        }
        if let Some(&(_, first)) = self.names.get(name) {
            return Err(PolicyErrorKind::NameTaken {
                name: Name(name.to_vec()),
                first,
            });
        }
        Ok(())
    }

    fn finish(self) -> Result<Policy, PolicyErrorKind> {
        let Some((quorum, _)) = self.quorum else {
            return Err(PolicyErrorKind::NoQuorum);
        };
        Ok(Policy {
            logs: self.logs,
            witnesses: self.witnesses,
            groups: self.groups,
            quorum,
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;

    use super::*;
    use crate::cosignature::CosignatureSigner;
    use crate::note::Signer;

    const ORIGIN: &str = "example.com/log";

    fn log_signer() -> Signer {
        Signer::new(ORIGIN, &[1; 32]).expect("log signer")
    }

    fn witness(name: &str, seed: u8) -> CosignatureSigner {
        CosignatureSigner::new(name, &[seed; 32]).expect("witness signer")
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size: 7,
            root: [3; 32],
            extensions: vec![],
        }
    }

    /// The checkpoint signed by `log` and cosigned by each witness at its time.
    fn note(log: &Signer, cosigners: &[(&CosignatureSigner, u64)]) -> String {
        let cp = checkpoint();
        let mut note = cp.sign(log).expect("sign");
        for (w, t) in cosigners {
            note.push_str(&w.sign(&cp.body(), *t).expect("cosign"));
        }
        note
    }

    fn parse(text: &str) -> Policy {
        Policy::parse(text.as_bytes()).expect("policy parses")
    }

    fn refused(text: impl AsRef<[u8]>) -> PolicyError {
        Policy::parse(text.as_ref()).expect_err("policy is refused")
    }

    /// The spec's example, with generated keys: X1..X3 (2 needed), Y1..Y3 (any), both groups.
    struct Example {
        log: Signer,
        x: [CosignatureSigner; 3],
        y: [CosignatureSigner; 3],
        policy: Policy,
    }

    fn example() -> Example {
        let log = log_signer();
        let x = [
            witness("x1.example/w", 11),
            witness("x2.example/w", 12),
            witness("x3.example/w", 13),
        ];
        let y = [
            witness("y1.example/w", 21),
            witness("y2.example/w", 22),
            witness("y3.example/w", 23),
        ];
        let text = format!(
            "log {}\n\
             \n\
             witness X1 {}\n\
             witness X2 {}\n\
             witness X3 {}\n\
             group X-witnesses 2 X1 X2 X3\n\
             \n\
             witness Y1 {}\n\
             witness Y2 {}\n\
             witness Y3 {}\n\
             group Y-witnesses any Y1 Y2 Y3\n\
             \n\
             group X-and-Y all X-witnesses Y-witnesses\n\
             quorum X-and-Y\n",
            log.verifier(),
            x[0].vkey(),
            x[1].vkey(),
            x[2].vkey(),
            y[0].vkey(),
            y[1].vkey(),
            y[2].vkey(),
        );
        let policy = parse(&text);
        Example { log, x, y, policy }
    }

    #[test]
    fn the_spec_example_parses_into_two_levels_of_groups() {
        let e = example();
        let p = &e.policy;
        assert_eq!(p.logs().len(), 1);
        assert_eq!(p.logs()[0].key, *e.log.verifier());
        assert_eq!(p.logs()[0].line, 1);
        let names: Vec<String> = p.witnesses().iter().map(|w| w.name.to_string()).collect();
        assert_eq!(names, ["X1", "X2", "X3", "Y1", "Y2", "Y3"]);
        assert_eq!(p.witnesses()[3].key, *e.y[0].verifier());
        let groups: Vec<(String, usize, Vec<Member>)> = p
            .groups()
            .iter()
            .map(|g| (g.name.to_string(), g.threshold, g.members.clone()))
            .collect();
        use Member::{Group as G, Witness as W};
        assert_eq!(
            groups,
            [
                ("X-witnesses".into(), 2, vec![W(0), W(1), W(2)]),
                ("Y-witnesses".into(), 1, vec![W(3), W(4), W(5)]),
                ("X-and-Y".into(), 2, vec![G(0), G(1)]),
            ]
        );
        assert_eq!(p.quorum(), Quorum::Group(2));
        assert_eq!(p.groups()[2].line, 13);
    }

    #[test]
    fn the_spec_example_is_met_by_two_x_witnesses_and_one_y_witness() {
        let e = example();
        let n = note(&e.log, &[(&e.y[1], 500), (&e.x[2], 300), (&e.x[0], 100)]);
        let v = e.policy.verify_checkpoint(n.as_bytes()).expect("verifies");
        assert_eq!(v.checkpoint, checkpoint());
        assert_eq!(v.log, *e.log.verifier());
        assert!(v.quorum_met);
        assert_eq!(v.explanation, None);
        // In policy order, with policy names, key names and times.
        let got: Vec<(usize, String, String, u64)> = v
            .cosigned
            .iter()
            .map(|c| {
                (
                    c.witness,
                    c.name.to_string(),
                    c.key_name.clone(),
                    c.timestamp,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, "X1".into(), "x1.example/w".into(), 100),
                (2, "X3".into(), "x3.example/w".into(), 300),
                (4, "Y2".into(), "y2.example/w".into(), 500),
            ]
        );
        assert_eq!(v.cosigned[0].key_id, e.x[0].verifier().key_id());
        // X is witnessed at 300 (its second), Y at 500: both at 500.
        assert_eq!(v.witnessed_by, Some(500));
        assert_eq!(e.policy.quorum_time(&v.cosigned), Some(500));
        assert!(v.require_quorum().is_ok());
    }

    #[test]
    fn an_unmet_quorum_says_which_groups_fall_short_and_what_they_lack() {
        let e = example();
        let n = note(&e.log, &[(&e.x[0], 100)]);
        let v = e.policy.verify_checkpoint(n.as_bytes()).expect("verifies");
        assert!(!v.quorum_met);
        assert_eq!(v.witnessed_by, None);
        assert_eq!(v.cosigned.len(), 1);
        let why = "quorum X-and-Y not met: X-and-Y has 0 of the 2 it needs (missing \
                   X-witnesses, Y-witnesses); X-witnesses has 1 of the 2 it needs (witnessed by \
                   X1; missing X2, X3); Y-witnesses has 0 of the 1 it needs (missing Y1, Y2, Y3)";
        assert_eq!(v.explanation.as_deref(), Some(why));
        assert_eq!(
            v.clone().require_quorum(),
            Err(VerifyError::QuorumNotMet(why.to_string()))
        );

        // Two X but no Y: only Y is named as falling short below the quorum.
        let n = note(&e.log, &[(&e.x[0], 100), (&e.x[1], 200)]);
        let v = e.policy.verify_checkpoint(n.as_bytes()).expect("verifies");
        assert!(!v.quorum_met);
        assert_eq!(
            v.explanation.as_deref(),
            Some(
                "quorum X-and-Y not met: X-and-Y has 1 of the 2 it needs (witnessed by \
                 X-witnesses; missing Y-witnesses); Y-witnesses has 0 of the 1 it needs \
                 (missing Y1, Y2, Y3)"
            )
        );

        // Y alone: X-witnesses has none.
        let n = note(&e.log, &[(&e.y[2], 100)]);
        let v = e.policy.verify_checkpoint(n.as_bytes()).expect("verifies");
        assert!(!v.quorum_met);
        assert!(
            v.explanation
                .as_deref()
                .is_some_and(|s| s.contains("X-witnesses has 0 of the 2 it needs"))
        );
    }

    /// Three witnesses W1..W3 and a group of them with `threshold` as the quorum.
    fn threshold_policy(threshold: &str) -> (Policy, [CosignatureSigner; 3]) {
        let w = [
            witness("w1.example", 31),
            witness("w2.example", 32),
            witness("w3.example", 33),
        ];
        let text = format!(
            "log {}\nwitness W1 {}\nwitness W2 {}\nwitness W3 {}\ngroup G {threshold} W1 W2 \
             W3\nquorum G\n",
            log_signer().verifier(),
            w[0].vkey(),
            w[1].vkey(),
            w[2].vkey()
        );
        (parse(&text), w)
    }

    #[test]
    fn any_all_and_k_count_members_that_cosigned() {
        let log = log_signer();
        // Which of the subsets {}, {W1}, {W1,W2}, {W1,W2,W3}, {W3} meet each threshold.
        for (threshold, expected) in [
            ("any", [false, true, true, true, true]),
            ("1", [false, true, true, true, true]),
            ("2", [false, false, true, true, false]),
            ("02", [false, false, true, true, false]),
            ("all", [false, false, false, true, false]),
            ("3", [false, false, false, true, false]),
        ] {
            let (p, w) = threshold_policy(threshold);
            let subsets: [&[usize]; 5] = [&[], &[0], &[0, 1], &[0, 1, 2], &[2]];
            for (subset, want) in subsets.iter().zip(expected) {
                let cosigners: Vec<(&CosignatureSigner, u64)> =
                    subset.iter().map(|&i| (&w[i], 10 + i as u64)).collect();
                let n = note(&log, &cosigners);
                let v = p.verify_checkpoint(n.as_bytes()).expect("verifies");
                assert_eq!(
                    v.quorum_met, want,
                    "threshold {threshold}, subset {subset:?}"
                );
                assert_eq!(v.explanation.is_none(), want);
            }
        }
        let (p, _) = threshold_policy("all");
        assert_eq!(p.groups()[0].threshold, 3);
    }

    #[test]
    fn a_single_witness_can_be_the_quorum() {
        let log = log_signer();
        let w = witness("w1.example", 31);
        let other = witness("w2.example", 32);
        let p = parse(&format!(
            "log {}\nwitness W1 {}\nwitness W2 {}\nquorum W1\n",
            log.verifier(),
            w.vkey(),
            other.vkey()
        ));
        assert_eq!(p.quorum(), Quorum::Witness(0));
        let v = p
            .verify_checkpoint(note(&log, &[(&w, 42)]).as_bytes())
            .expect("verifies");
        assert!(v.quorum_met);
        assert_eq!(v.witnessed_by, Some(42));
        let v = p
            .verify_checkpoint(note(&log, &[(&other, 42)]).as_bytes())
            .expect("verifies");
        assert!(!v.quorum_met);
        let why = v.explanation.expect("explained");
        assert!(
            why.starts_with("quorum W1 not met: no valid cosignature by W1 (w1.example+"),
            "{why}"
        );
    }

    #[test]
    fn quorum_none_needs_no_cosignature() {
        let log = log_signer();
        let w = witness("w1.example", 31);
        let p = parse(&format!(
            "log {}\nwitness W1 {}\nquorum none\n",
            log.verifier(),
            w.vkey()
        ));
        assert_eq!(p.quorum(), Quorum::None);
        let v = p
            .verify_checkpoint(note(&log, &[]).as_bytes())
            .expect("verifies");
        assert!(v.quorum_met);
        assert_eq!(v.explanation, None);
        // Nothing is vouched for by nobody.
        assert_eq!(v.witnessed_by, None);
        // A cosignature is still checked and reported.
        let v = p
            .verify_checkpoint(note(&log, &[(&w, 9)]).as_bytes())
            .expect("verifies");
        assert_eq!(v.cosigned.len(), 1);
        assert_eq!(v.witnessed_by, None);
        // The smallest policy there is.
        let bare = parse("quorum none");
        assert!(bare.logs().is_empty() && bare.witnesses().is_empty());
        assert!(
            bare.verify_checkpoint_with_log(note(&log, &[]).as_bytes(), log.verifier())
                .expect("verifies")
                .quorum_met
        );
    }

    #[test]
    fn a_tampered_cosignature_by_a_known_witness_fails_the_checkpoint() {
        let e = example();
        let good = note(&e.log, &[(&e.x[0], 100), (&e.x[1], 200), (&e.y[0], 300)]);
        assert!(
            e.policy
                .verify_checkpoint(good.as_bytes())
                .expect("verifies")
                .quorum_met
        );
        // Flip one bit of X2's Ed25519 signature.
        let line = e.x[1].sign(&checkpoint().body(), 200).expect("cosign");
        let mut raw = B64
            .decode(line.trim_end().rsplit(' ').next().expect("base64 field"))
            .expect("base64");
        raw[40] ^= 1;
        let bad = good.replace(
            &line,
            &format!("\u{2014} x2.example/w {}\n", B64.encode(&raw)),
        );
        assert_ne!(bad, good);
        assert!(matches!(
            e.policy.verify_checkpoint(bad.as_bytes()),
            Err(VerifyError::Cosignature(CosignatureError::BadSignature(_)))
        ));
        // Even a witness the quorum could do without may not sign badly.
        let extra = format!(
            "{good}\u{2014} x3.example/w {}\n",
            B64.encode([&e.x[2].verifier().key_id().to_be_bytes()[..], &[0; 72]].concat())
        );
        assert!(matches!(
            e.policy.verify_checkpoint(extra.as_bytes()),
            Err(VerifyError::Cosignature(_))
        ));
    }

    #[test]
    fn a_cosignature_by_an_unknown_witness_is_ignored() {
        let e = example();
        let stranger = witness("stranger.example/w", 99);
        // Same name as a policy witness but another key: not that witness's line either.
        let impostor = witness("x2.example/w", 98);
        let n = note(
            &e.log,
            &[
                (&e.x[0], 100),
                (&stranger, 150),
                (&impostor, 160),
                (&e.y[0], 200),
            ],
        );
        let v = e.policy.verify_checkpoint(n.as_bytes()).expect("verifies");
        let names: Vec<String> = v.cosigned.iter().map(|c| c.name.to_string()).collect();
        assert_eq!(names, ["X1", "Y1"]);
        assert!(!v.quorum_met);
    }

    #[test]
    fn a_witness_that_cosigned_twice_counts_once_at_its_earliest_time() {
        let (p, w) = threshold_policy("2");
        let log = log_signer();
        let n = note(&log, &[(&w[0], 50), (&w[0], 10)]);
        let v = p.verify_checkpoint(n.as_bytes()).expect("verifies");
        assert_eq!(v.cosigned.len(), 1);
        assert_eq!(v.cosigned[0].timestamp, 10);
        assert!(!v.quorum_met);
    }

    #[test]
    fn the_log_signature_must_be_by_a_policy_log_named_by_the_origin() {
        let e = example();
        // Same origin, another key.
        let other = Signer::new(ORIGIN, &[2; 32]).expect("signer");
        assert!(matches!(
            e.policy
                .verify_checkpoint(note(&other, &[(&e.x[0], 1)]).as_bytes()),
            Err(VerifyError::LogSignature(NoteError::NoKnownSignature))
        ));
        // A checkpoint of another origin, even signed by a key of that name.
        let elsewhere = Signer::new("elsewhere.example/log", &[1; 32]).expect("signer");
        let cp = Checkpoint {
            origin: "elsewhere.example/log".into(),
            ..checkpoint()
        };
        let n = cp.sign(&elsewhere).expect("sign");
        assert_eq!(
            e.policy.verify_checkpoint(n.as_bytes()),
            Err(VerifyError::UnknownOrigin {
                origin: "elsewhere.example/log".into(),
                logs: vec![ORIGIN.into()],
            })
        );
        // A log signature that does not verify.
        let good = note(&e.log, &[]);
        let (text, sigs) = note::parse(good.as_bytes()).expect("parses");
        let mut sig = sigs[0].clone();
        sig.signature[0] ^= 1;
        let bad = format!("{text}\n{}", sig.to_line());
        assert!(matches!(
            e.policy.verify_checkpoint(bad.as_bytes()),
            Err(VerifyError::LogSignature(NoteError::BadSignature(_)))
        ));
        // Not a note at all.
        assert!(matches!(
            e.policy.verify_checkpoint(b"hello"),
            Err(VerifyError::Note(_))
        ));
    }

    #[test]
    fn a_policy_without_logs_takes_the_log_key_from_the_caller() {
        let log = log_signer();
        let w = witness("w1.example", 31);
        let p = parse(&format!("witness W1 {}\nquorum W1\n", w.vkey()));
        let n = note(&log, &[(&w, 7)]);
        assert_eq!(p.verify_checkpoint(n.as_bytes()), Err(VerifyError::NoLogs));
        let v = p
            .verify_checkpoint_with_log(n.as_bytes(), log.verifier())
            .expect("verifies");
        assert!(v.quorum_met);
        // The key given must still be named by the origin.
        let misnamed = Signer::new("other.example/log", &[1; 32]).expect("signer");
        assert!(matches!(
            p.verify_checkpoint_with_log(n.as_bytes(), misnamed.verifier()),
            Err(VerifyError::UnknownOrigin { .. })
        ));
        // A policy that lists logs accepts only those, whatever key the caller gives.
        let e = example();
        let other = Signer::new(ORIGIN, &[2; 32]).expect("signer");
        assert!(matches!(
            e.policy
                .verify_checkpoint_with_log(note(&other, &[]).as_bytes(), other.verifier()),
            Err(VerifyError::LogNotInPolicy { .. })
        ));
        assert!(
            e.policy
                .verify_checkpoint_with_log(note(&e.log, &[]).as_bytes(), e.log.verifier())
                .is_ok()
        );
    }

    #[test]
    fn the_quorum_time_is_when_enough_witnesses_had_cosigned() {
        let e = example();
        let at = |times: &[(usize, u64)]| {
            let cosigned: Vec<WitnessCosignature> = times
                .iter()
                .map(|&(witness, timestamp)| WitnessCosignature {
                    witness,
                    name: e.policy.witnesses()[witness].name.clone(),
                    key_name: String::new(),
                    key_id: 0,
                    timestamp,
                })
                .collect();
            e.policy.quorum_time(&cosigned)
        };
        // X1 10, X2 30, X3 20: X is witnessed at 20 (the second earliest). Y1 50, Y3 5: Y at 5.
        assert_eq!(at(&[(0, 10), (1, 30), (2, 20), (3, 50), (5, 5)]), Some(20));
        // Y late: Y's earliest decides.
        assert_eq!(at(&[(0, 10), (2, 20), (3, 50), (4, 70)]), Some(50));
        // One X only: never.
        assert_eq!(at(&[(0, 10), (3, 50)]), None);
        assert_eq!(at(&[]), None);
        // A witness listed twice counts at its earliest time; unknown indices are ignored.
        assert_eq!(at(&[(0, 10), (1, 40), (1, 15), (4, 1)]), Some(15));
        let ghost = [WitnessCosignature {
            witness: 999,
            name: Name(b"ghost".to_vec()),
            key_name: String::new(),
            key_id: 0,
            timestamp: 1,
        }];
        assert_eq!(e.policy.quorum_time(&ghost), None);
        // The brute-force definition agrees: the smallest T at which the witnesses with
        // timestamp <= T meet the quorum.
        let times = [(0, 12), (1, 7), (2, 30), (3, 40), (4, 25), (5, 3)];
        let brute = times
            .iter()
            .map(|&(_, t)| t)
            .filter(|&t| {
                let upto: Vec<(usize, u64)> =
                    times.iter().copied().filter(|&(_, s)| s <= t).collect();
                at(&upto).is_some()
            })
            .min();
        assert_eq!(brute, Some(12));
        assert_eq!(at(&times), brute);
    }

    #[test]
    fn names_are_opaque_octets() {
        let k = witness("k.example", 41);
        let kelvin = witness("kelvin.example", 42);
        let raw = witness("raw.example", 43);
        // "K", the Kelvin sign (U+212A) and a name that is not UTF-8 are three names.
        let mut text = format!(
            "witness K {}\nwitness \u{212A} {}\n",
            k.vkey(),
            kelvin.vkey()
        )
        .into_bytes();
        text.extend_from_slice(b"witness \xff\xfeW ");
        text.extend_from_slice(raw.vkey().as_bytes());
        text.extend_from_slice(b"\n# a comment in Latin-1: \xe9t\xe9\ngroup G all K \xe2\x84\xaa \xff\xfeW\nquorum G\n");
        let p = Policy::parse(&text).expect("parses");
        assert_eq!(p.witnesses()[0].name.as_bytes(), b"K");
        assert_eq!(p.witnesses()[1].name.as_bytes(), "\u{212A}".as_bytes());
        assert_eq!(p.witnesses()[1].name.to_str(), Some("\u{212A}"));
        assert_eq!(p.witnesses()[2].name.to_str(), None);
        assert_eq!(p.witnesses()[2].name.to_string(), "\\xff\\xfeW");
        assert_eq!(p.groups()[0].threshold, 3);
        // The Kelvin sign does not stand in for K.
        let mut text = format!("witness \u{212A} {}\n", kelvin.vkey()).into_bytes();
        text.extend_from_slice(b"quorum K\n");
        assert!(matches!(
            refused(&text).kind,
            PolicyErrorKind::Undefined { .. }
        ));
    }

    #[test]
    fn whitespace_comments_and_a_missing_final_newline() {
        let log = log_signer();
        let w = witness("w1.example", 31);
        let text = format!(
            "   # leading whitespace before a comment\n\
             \t\n\
             \t log\t\t{}   https://log.example/ \t\n\
             #\n\
             witness  W1 {} https://w1.example/add\n\
             quorum W1",
            log.verifier(),
            w.vkey()
        );
        let p = parse(&text);
        assert_eq!(
            p.logs()[0].url.as_deref(),
            Some(&b"https://log.example/"[..])
        );
        assert_eq!(p.logs()[0].line, 3);
        assert_eq!(
            p.witnesses()[0].url.as_deref(),
            Some(&b"https://w1.example/add"[..])
        );
        assert_eq!(p.witnesses()[0].line, 5);
        assert_eq!(p.quorum(), Quorum::Witness(0));
        // Keywords are exact.
        assert!(matches!(
            refused("Quorum none\n").kind,
            PolicyErrorKind::UnknownKeyword { .. }
        ));
        // Names that are keywords elsewhere are just names: the grammar is positional.
        let a = witness("a.example", 51);
        let p = parse(&format!(
            "witness any {}\ngroup all all any\nquorum all\n",
            a.vkey()
        ));
        assert_eq!(p.quorum(), Quorum::Group(0));
    }

    #[test]
    fn forward_references_are_refused() {
        let w = witness("w1.example", 31);
        let e = refused(format!(
            "group G any W1\nwitness W1 {}\nquorum G\n",
            w.vkey()
        ));
        assert_eq!(e.line, 1);
        assert!(
            matches!(e.kind, PolicyErrorKind::Undefined { ref name } if name.as_bytes() == b"W1")
        );
        let e = refused(format!("quorum W1\nwitness W1 {}\n", w.vkey()));
        assert_eq!(e.line, 1);
        assert!(matches!(e.kind, PolicyErrorKind::Undefined { .. }));
        // Nor may a group contain itself.
        let e = refused(format!(
            "witness W1 {}\ngroup G any W1 G\nquorum G\n",
            w.vkey()
        ));
        assert_eq!(e.line, 2);
        assert!(matches!(e.kind, PolicyErrorKind::Undefined { .. }));
    }

    #[test]
    fn duplicate_keys_are_refused_even_under_another_name() {
        // The same Ed25519 key under two names has two key IDs: still one witness.
        let a = witness("a.example/w", 61);
        let b = witness("b.example/w", 61);
        assert_ne!(a.verifier().key_id(), b.verifier().key_id());
        let e = refused(format!(
            "witness A {}\nwitness B {}\nquorum A\n",
            a.vkey(),
            b.vkey()
        ));
        assert_eq!(e.line, 2);
        assert_eq!(
            e.kind,
            PolicyErrorKind::DuplicateWitness {
                first: 1,
                name: Name(b"A".to_vec())
            }
        );
        // Logs likewise.
        let l1 = Signer::new("one.example/log", &[7; 32]).expect("signer");
        let l2 = Signer::new("two.example/log", &[7; 32]).expect("signer");
        let e = refused(format!(
            "log {}\n\nlog {}\nquorum none\n",
            l1.verifier(),
            l2.verifier()
        ));
        assert_eq!(e.line, 3);
        assert_eq!(e.kind, PolicyErrorKind::DuplicateLog { first: 1 });
        // The very same line twice.
        let e = refused(format!("log {0}\nlog {0}\nquorum none\n", l1.verifier()));
        assert_eq!(e.kind, PolicyErrorKind::DuplicateLog { first: 1 });
        // Two logs with one origin but different keys (a key rotation) are fine.
        let l3 = Signer::new("one.example/log", &[8; 32]).expect("signer");
        assert_eq!(
            parse(&format!(
                "log {}\nlog {}\nquorum none\n",
                l1.verifier(),
                l3.verifier()
            ))
            .logs()
            .len(),
            2
        );
    }

    #[test]
    fn thresholds_out_of_range_or_misspelt_are_refused() {
        let w = [witness("w1.example", 31), witness("w2.example", 32)];
        let policy = |threshold: &str| {
            format!(
                "witness W1 {}\nwitness W2 {}\ngroup G {threshold} W1 W2\nquorum G\n",
                w[0].vkey(),
                w[1].vkey()
            )
        };
        for k in ["0", "3", "99999999999999999999999999"] {
            let e = refused(policy(k));
            assert_eq!(e.line, 3);
            assert_eq!(
                e.kind,
                PolicyErrorKind::ThresholdRange {
                    k: k.to_string(),
                    n: 2
                }
            );
        }
        for k in ["+2", "-1", "two", "ALL", "1.0", "0x2"] {
            let e = refused(policy(k));
            assert!(
                matches!(e.kind, PolicyErrorKind::BadThreshold { .. }),
                "{k}: {e}"
            );
        }
        assert_eq!(parse(&policy("2")).groups()[0].threshold, 2);
        // A group needs a member.
        let e = refused("group G any\nquorum none\n");
        assert_eq!(e.kind, PolicyErrorKind::Usage { usage: GROUP_USAGE });
    }

    #[test]
    fn none_is_reserved_and_no_member() {
        let w = witness("w1.example", 31);
        let e = refused(format!(
            "witness W1 {}\ngroup G any W1 none\nquorum G\n",
            w.vkey()
        ));
        assert_eq!((e.line, e.kind), (2, PolicyErrorKind::NoneMember));
        let e = refused(format!("witness none {}\nquorum none\n", w.vkey()));
        assert_eq!((e.line, e.kind), (1, PolicyErrorKind::ReservedName));
        let e = refused(format!(
            "witness W1 {}\ngroup none any W1\nquorum none\n",
            w.vkey()
        ));
        assert_eq!((e.line, e.kind), (2, PolicyErrorKind::ReservedName));
    }

    #[test]
    fn members_are_listed_once_in_the_whole_policy() {
        let w = [witness("w1.example", 31), witness("w2.example", 32)];
        let head = format!("witness W1 {}\nwitness W2 {}\n", w[0].vkey(), w[1].vkey());
        let e = refused(format!("{head}group G 2 W1 W1\nquorum G\n"));
        assert_eq!(e.line, 3);
        assert_eq!(
            e.kind,
            PolicyErrorKind::RepeatedMember {
                name: Name(b"W1".to_vec()),
                first: 3
            }
        );
        // In two groups W1 would count twice toward `all A B`.
        let e = refused(format!(
            "{head}group A any W1\ngroup B any W1 W2\ngroup Q all A B\nquorum Q\n"
        ));
        assert_eq!(e.line, 4);
        assert_eq!(
            e.kind,
            PolicyErrorKind::RepeatedMember {
                name: Name(b"W1".to_vec()),
                first: 3
            }
        );
        // Names are one namespace.
        let e = refused(format!("{head}group W1 any W2\nquorum none\n"));
        assert_eq!(
            e.kind,
            PolicyErrorKind::NameTaken {
                name: Name(b"W1".to_vec()),
                first: 1
            }
        );
        let third = witness("w3.example", 33);
        let e = refused(format!(
            "{head}group G any W1\nwitness G {}\nquorum none\n",
            third.vkey()
        ));
        assert_eq!(e.line, 4);
        assert!(matches!(
            e.kind,
            PolicyErrorKind::NameTaken { first: 3, .. }
        ));
    }

    #[test]
    fn exactly_one_quorum_line() {
        let e = refused("quorum none\n# fine so far\nquorum none\n");
        assert_eq!(
            (e.line, e.kind),
            (3, PolicyErrorKind::SecondQuorum { first: 1 })
        );
        let w = witness("w1.example", 31);
        let e = refused(format!("witness W1 {}\n\n# no quorum\n", w.vkey()));
        assert_eq!((e.line, e.kind.clone()), (3, PolicyErrorKind::NoQuorum));
        assert!(e.to_string().contains("add `quorum <name>`"));
        assert_eq!(refused("").kind, PolicyErrorKind::NoQuorum);
        assert_eq!(refused("").line, 1);
        let e = refused("quorum\n");
        assert_eq!(
            e.kind,
            PolicyErrorKind::Usage {
                usage: QUORUM_USAGE
            }
        );
    }

    #[test]
    fn control_characters_are_refused() {
        for (byte, column) in [(b'\r', 12), (0x00, 12), (0x1b, 12), (0x7f, 12), (0x0b, 12)] {
            let mut text = b"quorum none".to_vec();
            text.push(byte);
            text.push(b'\n');
            let e = refused(&text);
            assert_eq!(e.line, 1);
            assert_eq!(e.kind, PolicyErrorKind::ControlCharacter { byte, column });
        }
        // Even in a comment, and on whichever line it is.
        let e = refused("quorum none\n\n# carriage\r\n");
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("LF line endings"), "{e}");
        // CRLF files are refused rather than read with a stray \r in every URL.
        assert!(matches!(
            refused("quorum none\r\n").kind,
            PolicyErrorKind::ControlCharacter { byte: b'\r', .. }
        ));
    }

    #[test]
    fn keys_of_the_wrong_kind_are_named() {
        let log = log_signer();
        let w = witness("w1.example", 31);
        let e = refused(format!("log {}\nquorum none\n", w.vkey()));
        assert_eq!(e.kind, PolicyErrorKind::WitnessKeyOnLogLine);
        let e = refused(format!("witness W {}\nquorum none\n", log.verifier()));
        assert_eq!(e.kind, PolicyErrorKind::NoteKeyOnWitnessLine);
        let mldsa = format!(
            "pq.example+00000000+{}",
            B64.encode([&[0x06u8][..], &[0; 1312]].concat())
        );
        let e = refused(format!("witness W {mldsa}\nquorum none\n"));
        assert_eq!(e.kind, PolicyErrorKind::UnsupportedWitnessKey);
        let e = refused("log example.com/log+00000000+AAAA\nquorum none\n");
        assert!(matches!(e.kind, PolicyErrorKind::LogKey { .. }));
        assert!(
            e.to_string().contains("write the log's signed-note vkey"),
            "{e}"
        );
        let e = refused("witness W not-a-key\nquorum none\n");
        assert!(matches!(e.kind, PolicyErrorKind::WitnessKey { .. }));
        let e = refused(b"log \xff+00000000+AAAA\nquorum none\n");
        assert!(matches!(e.kind, PolicyErrorKind::LogKey { .. }));
        // A key whose ID does not match it.
        let vkey = w.vkey();
        let bad_id = format!(
            "w1.example+00000000+{}",
            vkey.rsplit('+').next().expect("key")
        );
        assert!(matches!(
            refused(format!("witness W {bad_id}\nquorum none\n")).kind,
            PolicyErrorKind::WitnessKey { .. }
        ));
    }

    #[test]
    fn wrong_field_counts_say_how_to_write_the_line() {
        let w = witness("w1.example", 31);
        let e = refused("log\nquorum none\n");
        assert_eq!(e.kind, PolicyErrorKind::Usage { usage: LOG_USAGE });
        assert_eq!(
            e.to_string(),
            "policy line 1: wrong number of fields; write `log <vkey> [<url>]`"
        );
        let e = refused(format!(
            "witness W1 {} https://w/ extra\nquorum none\n",
            w.vkey()
        ));
        assert_eq!(
            e.kind,
            PolicyErrorKind::Usage {
                usage: WITNESS_USAGE
            }
        );
        // A comment after a definition is not a comment.
        let e = refused(format!(
            "witness W1 {} https://w/ # ours\nquorum none\n",
            w.vkey()
        ));
        assert_eq!(
            e.kind,
            PolicyErrorKind::TrailingComment {
                usage: WITNESS_USAGE
            }
        );
        let e = refused("quorum none # no witnesses yet\n");
        assert_eq!(
            e.kind,
            PolicyErrorKind::TrailingComment {
                usage: QUORUM_USAGE
            }
        );
    }

    #[test]
    fn limits_bound_the_work() {
        let mut text = String::new();
        for i in 0..=MAX_WITNESSES {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let w = CosignatureSigner::new("w.example", &seed).expect("signer");
            text.push_str(&format!("witness W{i} {}\n", w.vkey()));
        }
        text.push_str("quorum none\n");
        let e = refused(&text);
        assert_eq!(e.line, MAX_WITNESSES + 1);
        assert_eq!(
            e.kind,
            PolicyErrorKind::TooMany {
                what: "witnesses",
                limit: MAX_WITNESSES
            }
        );
        // One fewer is fine.
        let upto = text
            .lines()
            .take(MAX_WITNESSES)
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            parse(&format!("{upto}\nquorum none\n")).witnesses().len(),
            MAX_WITNESSES
        );

        let mut groups = String::from("quorum none\n");
        let w = witness("w1.example", 31);
        groups.push_str(&format!("witness W {}\ngroup G0 any W\n", w.vkey()));
        for i in 1..=MAX_GROUPS {
            groups.push_str(&format!("group G{i} any G{}\n", i - 1));
        }
        let e = refused(&groups);
        assert_eq!(e.line, 2 + MAX_GROUPS + 1);
        assert!(matches!(
            e.kind,
            PolicyErrorKind::TooMany { what: "groups", .. }
        ));

        let long = format!("#{}\nquorum none\n", "x".repeat(MAX_LINE_BYTES));
        let e = refused(&long);
        assert_eq!(e.line, 1);
        assert_eq!(
            e.kind,
            PolicyErrorKind::LineTooLong {
                len: MAX_LINE_BYTES + 1,
                limit: MAX_LINE_BYTES
            }
        );
        let fits = format!("#{}\nquorum none\n", "x".repeat(MAX_LINE_BYTES - 1));
        assert_eq!(parse(&fits).quorum(), Quorum::None);
    }
}
