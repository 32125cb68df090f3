//! `provenance rejections`: the messages the ingest refused, each kept with its topic, arrival
//! time, reason and bytes (SPEC §4), listed through the server's API.

use anyhow::bail;
use provenance_ingest::validate::Reason;
use serde_json::Value;

use crate::cmd::device::ServerArgs;

/// List the messages the ingest refused, newest first, with their SPEC §4 reasons (needs the
/// admin token: the messages are kept whole).
///
/// Example: `provenance rejections --reason bad_signature --device tracker-17 --data DIR`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// Only this reason: too_large, malformed, unknown_device, topic_mismatch, revoked,
    /// bad_signature, invalid_event, equivocation (SPEC §4), or rate_limited (the count of
    /// what a sender's hourly quota did not keep).
    #[arg(long)]
    reason: Option<String>,
    /// Only messages that name this device.
    #[arg(long)]
    device: Option<String>,
    /// At most this many (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    /// Print the server's JSON (with each message's bytes in base64) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(r) = &args.reason {
        if Reason::from_word(r).is_none() {
            let words: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
            bail!(
                "--reason {r:?} is not a SPEC §4 reason; use one of: {}",
                words.join(", ")
            );
        }
    }
    let mut url = format!(
        "{}?limit={}",
        args.server.url("/api/v1/rejections"),
        args.limit
    );
    if let Some(r) = &args.reason {
        url.push_str(&format!("&reason={r}"));
    }
    if let Some(d) = &args.device {
        url.push_str(&format!("&device={d}"));
    }
    // The list holds raw message bytes, so the server wants the admin token.
    let token = args.server.token()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body: Value = rt.block_on(async {
        let r = args
            .server
            .client()?
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(crate::cmd::device::connect_error(&args.server.server))?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!(
                "the server answered {status}: {}",
                v["error"].as_str().unwrap_or("")
            );
        }
        Ok(v)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let list = body["rejections"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!(
            "no rejected messages{}",
            if args.reason.is_some() || args.device.is_some() {
                " match"
            } else {
                ""
            }
        );
        return Ok(());
    }
    println!(
        "{:<20}  {:>6}  {:<15}  {:<20}  {:>6}  {:<28}  detail",
        "received (UTC)", "times", "reason", "device", "seq", "topic"
    );
    for r in &list {
        let when = r["received_ms"]
            .as_u64()
            .map(|ms| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
                )
                .to_string()
            })
            .unwrap_or_default();
        println!(
            "{:<20}  {:>6}  {:<15}  {:<20}  {:>6}  {:<28}  {}",
            when.trim_end_matches('Z').replace('T', " "),
            r["times"].as_u64().unwrap_or(1),
            r["reason"].as_str().unwrap_or("?"),
            r["device"].as_str().unwrap_or("-"),
            r["seq"].as_u64().map_or("-".into(), |s| s.to_string()),
            r["topic"].as_str().unwrap_or("(HTTP or gRPC)"),
            r["detail"].as_str().unwrap_or(""),
        );
    }
    println!(
        "{} shown; each is kept whole (`--json` prints its bytes), once however often it came \
         (times)",
        list.len()
    );
    Ok(())
}
