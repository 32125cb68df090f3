//! `provenance access …`: who may read what (issue #14). Grants give an organisation a read
//! token at a tier (public, partner, authority), optionally sharing an item prefix with it;
//! the token is shown once and only its hash is kept. Through the server's admin API.

use anyhow::Context as _;
use reqwest::Method;
use serde_json::{Value, json};

use super::device::{ServerArgs, admin_request, runtime};

/// Give organisations read tokens, list and revoke them.
#[derive(clap::Subcommand)]
pub enum AccessCommand {
    /// Make a read token for an organisation; prints it once.
    ///
    /// partner: everything about the items the organisation signed for or received in
    /// custody, plus the items under --items; the public view of the rest.
    /// authority: everything (customs, market surveillance, notified bodies).
    /// public: what anonymous visitors get, for when `serve --public-tier none`.
    ///
    /// Example: provenance access grant --org "Second Life Recycling
    /// urn:epc:id:pgln:4012345.00009" --tier partner --items urn:epc:id:sgtin:4012345.012345.
    Grant {
        /// The organisation as the registry names organisations, its PGLN inside (that is how
        /// a handover to it is recognised as its own).
        #[arg(long)]
        org: String,
        /// public, partner or authority.
        #[arg(long)]
        tier: String,
        /// Share the items whose EPC URI starts with this with the organisation.
        #[arg(long, value_name = "PREFIX")]
        items: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke a grant (--id) or all of an organisation's (--org); its tokens stop working at
    /// the next request.
    Revoke {
        /// The grant's number, as `access list` shows it.
        #[arg(long, conflicts_with = "org", required_unless_present = "org")]
        id: Option<i64>,
        /// Every active grant of this organisation.
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the grants (never their tokens).
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(cmd: AccessCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match cmd {
            AccessCommand::Grant {
                org,
                tier,
                items,
                server,
            } => {
                let body = json!({ "org": org, "tier": tier, "items": items });
                let b = admin_request(&server, Method::POST, "/api/v1/access", Some(&body)).await?;
                println!(
                    "grant {} for {} at tier {}",
                    b["id"],
                    b["org"].as_str().unwrap_or_default(),
                    b["tier"].as_str().unwrap_or_default()
                );
                println!("token {}", b["token"].as_str().unwrap_or_default());
                eprintln!(
                    "Hand the token over now: the server keeps only its hash and cannot show it \
                     again. Readers send it as `Authorization: Bearer <token>`, or log in with \
                     it once on the pages."
                );
            }
            AccessCommand::Revoke { id, org, server } => {
                let ids: Vec<i64> = match (id, org) {
                    (Some(id), _) => vec![id],
                    (None, Some(org)) => grants(&server)
                        .await?
                        .iter()
                        .filter(|g| g["org"].as_str() == Some(org.trim()) && g["revoked_ms"].is_null())
                        .filter_map(|g| g["id"].as_i64())
                        .collect(),
                    (None, None) => anyhow::bail!("give --id N or --org ORG"),
                };
                if ids.is_empty() {
                    anyhow::bail!("no active grant matches; `provenance access list` shows them");
                }
                for id in ids {
                    let path = format!("/api/v1/access/{id}");
                    admin_request(&server, Method::DELETE, &path, None).await?;
                    println!("revoked grant {id}");
                }
            }
            AccessCommand::List { server } => {
                let list = grants(&server).await?;
                if list.is_empty() {
                    println!("no grants; make one with `provenance access grant --org ORG --tier partner`");
                }
                for g in &list {
                    let state = if g["revoked_ms"].is_null() { "active" } else { "revoked" };
                    println!(
                        "{:>5}  {:<9} {:<7} {}{}",
                        g["id"],
                        g["tier"].as_str().unwrap_or_default(),
                        state,
                        g["org"].as_str().unwrap_or_default(),
                        g["items"]
                            .as_str()
                            .map(|i| format!("  (shares {i}…)"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        Ok(())
    })
}

async fn grants(server: &ServerArgs) -> anyhow::Result<Vec<Value>> {
    let b = admin_request(server, Method::GET, "/api/v1/access", None).await?;
    b["grants"]
        .as_array()
        .cloned()
        .context("the server's answer has no grants list")
}
