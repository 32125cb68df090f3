//! `provenance verify`: check a stored log against its checkpoints (`--data`), or an evidence
//! bundle offline (`--bundle FILE --log-key VKEY`), optionally under a witness policy
//! (`--policy FILE`, C2SP tlog-policy).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use provenance_ledger::Store;
use provenance_ledger::audit::{self, Finding};
use provenance_tlog::policy::{Policy, VerifyError};
use provenance_tlog::{Signer, Verifier};

use crate::layout::DataDir;

/// Check a log's storage against every checkpoint it signed, or an evidence bundle offline.
///
/// With --bundle: checks an evidence file (from GET /api/v1/items/{id}/evidence) with nothing
/// but the log's public key: the checkpoint signature, every inclusion proof, the registry,
/// every event signature, the devices' hash chains and the chain of custody. Exit status 0
/// when everything holds (warnings allowed), 1 when something fails, 2 for usage errors.
///
/// With --bundle and --passport: also checks a battery passport (from GET
/// /api/v1/items/{id}/passport): derives the passport again from the entries the bundle
/// proves and compares every field the passport says one of them states. A public reader's
/// bundle (from …/passport/evidence) holds the public entries only; a field whose entry it
/// leaves out is reported as not proved by this bundle.
///
/// With --policy (and --bundle or --url): the checkpoint must also satisfy a witness policy
/// (C2SP tlog-policy): signed by a log the policy lists (or by --log-key), every cosignature
/// by a witness it knows valid, and enough of them to meet its quorum. Then no one can show
/// you a history the witnesses have not seen. With a policy, an event dated more than five
/// minutes after the witnesses saw the checkpoint holding it is a warning.
///
/// With --url: follows a running log over C2SP tlog-tiles with nothing but its public key:
/// checks the newest checkpoint's signature, that the tiles give its root, that it is
/// consistent with the checkpoint this follower saw last (kept in --state), and that the entries
/// since then hash into it. Run it from cron: exit status 1 means the log showed you a history
/// that contradicts what it showed you before.
///
/// With --data: reads every entry, rebuilds the Merkle tree, and compares it with every stored checkpoint
/// (whose signatures it checks with the log's public key), with the stored subtree hashes, and
/// with any checkpoints you kept elsewhere (--checkpoint). Every event's signature is checked
/// with the key its signer had at that point. Exit status 0 only when everything holds.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  provenance verify --data ./provenance-data\n  \
    provenance verify --data ./provenance-data --checkpoint saved-checkpoint.txt\n  \
    provenance verify --database-url postgres://db/prov --log-key 'name+1a2b3c4d+AbC…'\n  \
    provenance verify --bundle consignment.evidence.json --log-key log.vkey\n  \
    provenance verify --bundle consignment.evidence.json --log-key log.vkey --json\n  \
    provenance verify --bundle cell.passport-evidence.json --passport cell.passport.json --log-key log.vkey\n  \
    provenance verify --url https://log.example.com --log-key log.vkey\n  \
    provenance verify --url https://log.example.com --log-key log.vkey --state audit/log.checkpoint\n  \
    provenance verify --bundle consignment.evidence.json --policy witnesses.policy\n  \
    provenance verify --url https://log.example.com --policy witnesses.policy\n\n\
A witness policy (C2SP tlog-policy) is a text file, one definition a line, each defined \
before it is used; the checkpoint must be signed by a `log` and cosigned as the `quorum` \
says. Two of three witnesses:\n\n  \
    # the log, with its verifier key (GET /api/v1/log/key)\n  \
    log provenance.example/log+1a2b3c4d+AbC…\n  \
    # each witness: a name for it here, its cosignature/v1 key (GET /key of `provenance\n  \
    # witness`), optionally its URL\n  \
    witness w1 w1.example/witness+5e6f7a8b+BdE… https://w1.example/\n  \
    witness w2 w2.example/witness+9c0d1e2f+BfG…\n  \
    witness w3 w3.example/witness+3a4b5c6d+BhI…\n  \
    # a group: all, any, or how many of its members must have cosigned\n  \
    group g 2 w1 w2 w3\n  \
    quorum g\n\n\
Without a `log` line give --log-key; with one, --log-key may be left out (if given, it must \
be a listed log). `quorum none` needs no cosignature."
)]
pub struct Args {
    /// The data directory of `provenance serve` (holds ledger.db and log.key).
    #[arg(long, value_name = "DIR", required_unless_present_any = ["database_url", "bundle", "url"])]
    data: Option<PathBuf>,
    /// An evidence bundle to check offline; needs --log-key, or a --policy with a `log` line.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["data", "database_url", "checkpoints"])]
    bundle: Option<PathBuf>,
    /// With --bundle: a battery passport (JSON from GET /api/v1/items/{id}/passport) whose
    /// fields must be what the bundle's entries state.
    #[arg(long, value_name = "FILE", requires = "bundle")]
    passport: Option<PathBuf>,
    /// With --bundle: print the verdict as JSON for machines.
    #[arg(long, requires = "bundle")]
    json: bool,
    /// With --bundle: the condition limits to judge against (battery: -20..60 °C; reefer:
    /// 2..8 °C; both: shock up to 10 g).
    #[arg(long, value_name = "PROFILE", default_value = "battery", value_parser = ["battery", "reefer"], requires = "bundle")]
    limits: String,
    /// A running log to follow over C2SP tlog-tiles (the URL `provenance serve` answers on);
    /// needs --log-key, or a --policy with a `log` line.
    #[arg(long, value_name = "URL", conflicts_with_all = ["data", "database_url", "checkpoints", "bundle"])]
    url: Option<String>,
    /// With --bundle or --url: a witness policy (C2SP tlog-policy) the checkpoint must
    /// satisfy: the logs you trust, the witnesses you know and how many must have cosigned
    /// (see the example below). Its `log` lines can stand in for --log-key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["data", "database_url", "checkpoints"])]
    policy: Option<PathBuf>,
    /// With --url: the file keeping the last checkpoint this follower verified (default:
    /// ~/.local/state/provenance/follow/<origin>.checkpoint). The next run must be consistent
    /// with it.
    #[arg(long, value_name = "FILE", requires = "url")]
    state: Option<PathBuf>,
    /// With --url: check the tree from its tiles only, without reading the entries.
    #[arg(long, requires = "url")]
    tiles_only: bool,
    /// With --url: a file holding a read token of the authority tier, for the entries (a log
    /// shows its tiles and checkpoints to anyone, its entries to authorities only).
    #[arg(
        long,
        value_name = "FILE",
        requires = "url",
        env = "PROVENANCE_READ_TOKEN_FILE"
    )]
    read_token: Option<PathBuf>,
    /// The log's database, if not DIR/ledger.db (e.g. postgres://…).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The log's public key (name+id+key, from GET /api/v1/log/key), or a file holding it.
    /// Default with --data: read from DIR/log.key. Give it when you do not trust the data
    /// directory.
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// A signed checkpoint kept outside the database; the log must still agree with it.
    #[arg(long = "checkpoint", value_name = "FILE")]
    checkpoints: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let policy = args.policy.as_deref().map(load_policy);
    if let Some(bundle) = &args.bundle {
        let key = trusted_log_key(args.log_key.as_deref(), policy.as_ref(), "--bundle");
        return run_bundle(
            bundle,
            key.as_ref(),
            policy.as_ref().zip(args.policy.as_deref()),
            &args.limits,
            args.json,
            args.passport.as_deref(),
        );
    }
    if let Some(url) = &args.url {
        let key = trusted_log_key(args.log_key.as_deref(), policy.as_ref(), "--url");
        return super::follow::run(super::follow::Follow {
            url,
            log_key: key.as_ref(),
            policy: policy.as_ref(),
            state: args.state.clone(),
            tiles_only: args.tiles_only,
            read_token: match &args.read_token {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading --read-token {}", path.display()))?
                        .trim()
                        .to_string(),
                ),
                None => None,
            },
        });
    }
    let dir = args.data.as_deref().map(DataDir::new);
    let url = match (&args.database_url, &dir) {
        (Some(u), _) => u.clone(),
        (None, Some(d)) => {
            if !d.database_file().exists() {
                bail!(
                    "{} has no ledger.db; is --data the directory `provenance serve` used?",
                    d.root().display()
                );
            }
            d.sqlite_url()
        }
        (None, None) => bail!("give --data DIR or --database-url URL"),
    };
    let verifier = match (&args.log_key, &dir) {
        (Some(v), _) => Verifier::parse(v)
            .map_err(|e| anyhow::anyhow!("--log-key: {e}; it looks like name+1a2b3c4d+base64"))?,
        (None, Some(d)) => {
            let text = std::fs::read_to_string(d.log_key())
                .with_context(|| format!("reading {}; or give --log-key", d.log_key().display()))?;
            Signer::parse(text.trim())
                .map_err(|e| anyhow::anyhow!("{}: {e}", d.log_key().display()))?
                .verifier()
                .clone()
        }
        (None, None) => bail!("with --database-url, give --log-key too"),
    };
    let external = args
        .checkpoints
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let store = Store::connect(&url).await?;
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(indicatif::ProgressStyle::with_template(
            "verifying {bar:40} {pos}/{len} entries {per_sec} eta {eta}",
        )?);
        let report = audit::audit(&store, &verifier, &external, |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
        bar.finish_and_clear();
        // What the indexer could not index (entries that break SPEC §3 or repeat a signer's
        // seq): the log holds them, intact, but no view shows them as events.
        let index = store.connect_index(&url).await?;
        let unindexed = index.index_findings().await?;
        index.close().await;
        store.close().await;
        anyhow::Ok((report, unindexed))
    })?;
    let (report, unindexed) = report;

    println!("log key   {verifier}");
    println!(
        "checked   {} entries, {} checkpoints, {} event signatures, {} external checkpoint(s)",
        report.entries,
        report.checkpoints,
        report.signatures,
        external.len()
    );
    // Intact and signed by their signer, but breaking SPEC §3: the signer's fault, not the
    // log's; the index leaves them out too, so each is listed once.
    let mut notes: BTreeMap<u64, String> = unindexed
        .iter()
        .map(|f| (f.index, f.problem.clone()))
        .collect();
    for e in &report.invalid_events {
        notes.insert(
            e.index,
            format!(
                "signed by {} but not a valid event: {}",
                e.device, e.problem
            ),
        );
    }
    if report.ok() && notes.is_empty() {
        println!("verdict   OK: every entry, hash and checkpoint agrees");
        return Ok(());
    }
    if report.ok() {
        println!(
            "verdict   OK: every entry, hash and checkpoint agrees; {} entr{} left out of the \
             index:",
            notes.len(),
            if notes.len() == 1 { "y" } else { "ies" }
        );
        for (index, problem) in &notes {
            println!("  {:<10} entry {index}: {problem}", "index");
        }
        return Ok(());
    }
    println!("verdict   FAILED: {} problem(s)", report.findings.len());
    for (index, problem) in &notes {
        println!("  {:<10} entry {index}: {problem}", "index");
    }
    for f in &report.findings {
        let tag = match f {
            Finding::EntryChanged { .. }
            | Finding::EntryMissing { .. }
            | Finding::EntriesUncovered { .. } => "entry",
            Finding::HashChanged { .. } | Finding::TileMissing { .. } => "hash",
            Finding::RootMismatch { .. }
            | Finding::BadCheckpoint { .. }
            | Finding::ExternalCheckpoint { .. } => "checkpoint",
            Finding::Undecodable { .. }
            | Finding::BadEventSignature { .. }
            | Finding::BadRegistrySignature { .. } => "signature",
        };
        println!("  {tag:<10} {f}");
    }
    std::process::exit(1);
}

/// Exit status for a command line that cannot be acted on (as clap's own usage errors).
const USAGE: i32 = 2;

fn usage(message: impl std::fmt::Display) -> ! {
    eprintln!("error: {message}");
    std::process::exit(USAGE);
}

/// The log key from `--log-key`: the key text itself, or a file holding it.
fn log_key(arg: &str) -> Verifier {
    let arg = arg.trim();
    if let Ok(v) = Verifier::parse(arg) {
        return v;
    }
    let path = std::path::Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| usage(format_args!("--log-key {}: {e}", path.display())));
        return Verifier::parse(text.trim()).unwrap_or_else(|e| {
            usage(format_args!(
                "--log-key {}: {e}; the file must hold name+1a2b3c4d+base64 \
                 (GET /api/v1/log/key)",
                path.display()
            ))
        });
    }
    usage(
        "--log-key must be the log's verifier key (name+1a2b3c4d+base64, from GET \
         /api/v1/log/key) or a file holding it",
    )
}

/// The witness policy of `--policy FILE`; one that cannot be read or parsed is a usage error
/// with the parser's message, which names the line and what to write.
fn load_policy(path: &std::path::Path) -> Policy {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| usage(format_args!("--policy {}: {e}", path.display())));
    Policy::parse(&bytes)
        .unwrap_or_else(|e| usage(format_args!("--policy {}: {e}", path.display())))
}

/// The log key to check the checkpoint with: `--log-key`, which a policy listing logs must
/// list too; or none, to take the log from the policy's `log` lines.
fn trusted_log_key(arg: Option<&str>, policy: Option<&Policy>, mode: &str) -> Option<Verifier> {
    match (arg, policy) {
        (Some(arg), policy) => {
            let key = log_key(arg);
            if let Some(p) = policy {
                if !p.logs().is_empty() && !p.logs().iter().any(|l| l.key == key) {
                    usage(format_args!(
                        "--log-key: {}",
                        VerifyError::LogNotInPolicy {
                            key: key.to_string()
                        }
                    ));
                }
            }
            Some(key)
        }
        (None, Some(p)) if !p.logs().is_empty() => None,
        (None, Some(_)) => usage(format_args!(
            "{mode} needs the log's key: the policy has no `log` line, so give --log-key VKEY \
             (from GET /api/v1/log/key) or add `log <vkey>` to the policy"
        )),
        (None, None) => usage(format_args!(
            "{mode} needs --log-key VKEY (the log's verifier key, from GET /api/v1/log/key), or \
             --policy FILE with a `log` line"
        )),
    }
}

/// `verify --bundle`: the offline verdict, for a customs officer or (`--json`) a machine.
fn run_bundle(
    file: &std::path::Path,
    key: Option<&Verifier>,
    policy: Option<(&Policy, &std::path::Path)>,
    limits: &str,
    json: bool,
    passport: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use provenance_custody::rules::{Limits, Verdict};
    use provenance_custody::verify::{verify_bundle_with, verify_passport_bundle};

    let limits = Limits::by_name(limits).unwrap_or_default();
    let bytes = std::fs::read(file)
        .unwrap_or_else(|e| usage(format_args!("--bundle {}: {e}", file.display())));
    // A public bundle (a passport's public entries) is taken only to check a passport: it
    // proves no custody, whatever the file says of itself.
    let verify = if passport.is_some() {
        verify_passport_bundle
    } else {
        verify_bundle_with
    };
    let report = verify(&bytes, key, &limits, policy.map(|(p, _)| p));
    let fields = passport.map(|p| check_passport(p, &report));
    if json {
        let mut out = serde_json::to_value(&report)?;
        if let Some(f) = &fields {
            out["passport"] = passport_json(f);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_report(file, key, policy.map(|(_, path)| path), &report);
        if let Some(f) = &fields {
            print_passport(f);
        }
    }
    let passport_fails = fields.iter().flatten().any(|c| {
        matches!(
            c.outcome,
            provenance_custody::passport::FieldProof::Differs { .. }
        )
    });
    if report.verdict == Verdict::Fail || passport_fails {
        std::process::exit(1);
    }
    Ok(())
}

/// The largest passport file read.
const MAX_PASSPORT_BYTES: u64 = 16 << 20;

fn check_passport(
    path: &std::path::Path,
    report: &provenance_custody::verify::Report,
) -> Vec<provenance_custody::passport::FieldCheck> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PASSPORT_BYTES + 1).read_to_end(&mut bytes))
        .unwrap_or_else(|e| usage(format_args!("--passport {}: {e}", path.display())));
    if bytes.len() as u64 > MAX_PASSPORT_BYTES {
        usage(format_args!(
            "--passport {}: larger than 16 MiB, no passport is",
            path.display()
        ));
    }
    let claimed: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        usage(format_args!(
            "--passport {}: not JSON ({e}); give the file GET /api/v1/items/{{id}}/passport answers",
            path.display()
        ))
    });
    provenance_custody::passport::check(report, &claimed)
        .unwrap_or_else(|e| usage(format_args!("--passport {}: {e}", path.display())))
}

fn passport_json(fields: &[provenance_custody::passport::FieldCheck]) -> serde_json::Value {
    use provenance_custody::passport::FieldProof;
    serde_json::Value::Array(
        fields
            .iter()
            .map(|c| {
                let (outcome, claimed, logged) = match &c.outcome {
                    FieldProof::Proved => ("proved", None, None),
                    FieldProof::NotInBundle => ("not_in_bundle", None, None),
                    FieldProof::Differs { claimed, logged } => {
                        ("differs", Some(claimed), Some(logged))
                    }
                };
                serde_json::json!({
                    "field": c.pointer, "logIndex": c.index, "outcome": outcome,
                    "claimed": claimed, "logged": logged,
                })
            })
            .collect(),
    )
}

fn print_passport(fields: &[provenance_custody::passport::FieldCheck]) {
    use provenance_custody::passport::FieldProof;
    let proved = fields
        .iter()
        .filter(|c| c.outcome == FieldProof::Proved)
        .count();
    println!();
    println!("BATTERY PASSPORT");
    println!(
        "  {proved} of {} fields proved by the entries of this bundle",
        fields.len()
    );
    for c in fields {
        let at = c
            .index
            .map_or_else(String::new, |i| format!(" (entry {i})"));
        match &c.outcome {
            FieldProof::Proved => println!("  ✔ {}{at}", c.pointer),
            FieldProof::NotInBundle => println!(
                "  · {}{at}: that entry is not in this public bundle (it names other items \
                 too); its inclusion proof is the passport's link, its content is proved by a \
                 partner's or an authority's bundle",
                c.pointer
            ),
            FieldProof::Differs { claimed, logged } => println!(
                "  ✘ {}{at}: the passport says {claimed}, the signed entries state {logged}",
                c.pointer
            ),
        }
    }
}

/// `2026-11-21 10:00 UTC`.
fn when(ms: i64) -> String {
    let t = provenance_custody::epcis::rfc3339(ms);
    format!("{} {} UTC", &t[..10], &t[11..16])
}

fn print_report(
    file: &std::path::Path,
    verifier: Option<&Verifier>,
    policy: Option<&std::path::Path>,
    r: &provenance_custody::verify::Report,
) {
    use provenance_custody::rules::{Rule, Severity, Verdict};
    use provenance_custody::verify::Step;

    println!("EVIDENCE VERIFICATION");
    println!("  file         {}", file.display());
    if !r.subject.is_empty() {
        let what = if r.subject.starts_with("urn:epc:id:sscc:") {
            "consignment"
        } else {
            "item"
        };
        println!("  {what:<12} {}", r.subject);
    }
    match (
        r.checkpoint.as_ref().filter(|c| !c.key.is_empty()),
        verifier,
    ) {
        (Some(cp), None) => println!("  log key      {} (from the policy)", cp.key),
        (_, Some(v)) => println!("  log key      {v}"),
        (None, None) => println!("  log key      none of the policy's logs signed the checkpoint"),
    }
    if let Some(p) = policy {
        println!("  policy       {}", p.display());
    }
    if let Some(cp) = &r.checkpoint {
        println!(
            "  checkpoint   {} at {} entries, root {}",
            cp.origin, cp.size, cp.root
        );
    }
    if let Some(w) = &r.witnesses {
        println!();
        println!("WITNESSES");
        let failed = w.policy && w.quorum_met != Some(true);
        println!("  {}{}", if failed { "✘ " } else { "" }, w.summary());
        if let Some(anchored) = w.anchored() {
            println!("  {anchored}: every entry in this file was in the log by then");
        }
    }

    if let Some(c) = &r.custody {
        let j = &c.journey;
        if let (Some(first), Some(last)) = (j.first_ms, j.last_ms) {
            println!();
            println!("JOURNEY");
            println!(
                "  {} events from {} to {}; {} GNSS fixes{}",
                j.events,
                when(first),
                when(last),
                j.fixes,
                if j.containers.is_empty() {
                    String::new()
                } else {
                    format!("; carried in {}", j.containers.join(", "))
                }
            );
            if !j.places.is_empty() {
                println!("  places: {}", j.places.join(" → "));
            }
            if !j.documents.is_empty() {
                println!("  documents: {}", j.documents.join(", "));
            }
            println!("  status: {}", status_words(&c.status));
            if c.customs.is_empty() {
                println!("  customs: no inspection, hold or release recorded");
            } else {
                let steps: Vec<String> = c
                    .customs
                    .iter()
                    .map(|s| format!("{} {} by {}", s.kind, when(s.time_ms), s.by))
                    .collect();
                println!("  customs: {}", steps.join(" → "));
            }
            for t in &r.trace {
                let via = t
                    .via_container
                    .as_deref()
                    .map(|c| format!("  (via {c})"))
                    .unwrap_or_default();
                println!(
                    "  {}  #{:<6} {:<15} {}{}",
                    when(t.time_ms),
                    t.index,
                    t.kind,
                    t.signer,
                    via
                );
            }
            println!();
            println!("WHO HELD IT");
            for p in &c.custody {
                let until = p.until_ms.map(when).unwrap_or_else(|| "now".into());
                println!("  {} → {}  {}", when(p.from_ms), until, p.holder);
            }
            let seal = match c.seal.state {
                provenance_custody::rules::SealState::Unsealed => "never sealed",
                provenance_custody::rules::SealState::Sealed => "sealed, not yet inspected",
                provenance_custody::rules::SealState::Broken => "BROKEN before inspection",
                provenance_custody::rules::SealState::Inspected => {
                    "intact from sealing to inspection"
                }
            };
            println!("  seal: {seal}");
        }
    }

    println!();
    println!("CHECKS");
    for s in &r.sections {
        let mark = if s.problems.is_empty() { "✔" } else { "✘" };
        println!("  {mark} {}: {}", s.step.title(), s.checked);
        if s.step == Step::Custody {
            continue;
        }
        for p in &s.problems {
            let mut at = Vec::new();
            if let Some(i) = p.index {
                at.push(format!("log index {i}"));
            }
            if let Some(d) = &p.device {
                at.push(format!("device {d}"));
            }
            if let Some(q) = p.seq {
                at.push(format!("seq {q}"));
            }
            let at = if at.is_empty() {
                String::new()
            } else {
                format!("[{}] ", at.join(", "))
            };
            println!("      ✘ {at}{}", p.message);
        }
    }
    if let Some(c) = &r.custody {
        // Chain and registry findings are listed under their checks above.
        let shown: Vec<_> = c
            .findings
            .iter()
            .filter(|f| {
                !matches!(
                    f.rule,
                    Rule::ChainBreak { .. } | Rule::Unregistered { .. } | Rule::Revoked { .. }
                )
            })
            .collect();
        if !shown.is_empty() {
            println!();
            println!("CUSTODY FINDINGS ({} limits)", c.limits.profile);
            for f in shown {
                let mark = match f.severity {
                    Severity::Info => "·",
                    Severity::Warning => "!",
                    Severity::Failure => "✘",
                };
                println!("  {mark} {}", f.message);
            }
        }
    }

    println!();
    let problems = r.problems().count();
    let public = r.scope == provenance_custody::bundle::Scope::Public;
    match r.verdict {
        Verdict::Pass | Verdict::Warnings if public => println!(
            "VERDICT  ✔ THE PUBLIC ENTRIES VERIFY: signatures, proofs and registrations hold; \
             a public bundle proves no chain of custody"
        ),
        Verdict::Pass => println!(
            "VERDICT  ✔ PASS: every signature, proof, registration, chain and custody rule holds"
        ),
        Verdict::Warnings => println!(
            "VERDICT  ✔ PASS WITH WARNINGS: everything verifies; read the findings marked !"
        ),
        Verdict::Fail => {
            println!("VERDICT  ✘ FAIL: {problems} problem(s); see the lines marked ✘ above")
        }
    }
}

/// The status line: the stage, since when, and who holds the item.
fn status_words(s: &provenance_custody::summary::Status) -> String {
    let mut out = s.stage.words().to_string();
    if let Some(t) = s.since_ms {
        out.push_str(&format!(" since {}", when(t)));
    }
    if let Some(h) = &s.holder {
        out.push_str(&format!("; in the custody of {h}"));
    }
    out
}
