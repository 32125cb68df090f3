//! `provenance places …`: the names pages show for places and parties (GLNs), kept by the
//! operator through the server's admin API. Labels for people, not evidence: they are not in
//! the log and no verdict reads them.

use anyhow::Context as _;
use serde_json::json;

use reqwest::Method;

use super::device::{ServerArgs, admin_request, answer, connect_error, fail, runtime};

/// Name places and parties so pages say "Port of Felixstowe" instead of a GLN.
#[derive(clap::Subcommand)]
pub enum PlacesCommand {
    /// Set the name of a place (SGLN) or party (PGLN); an SGLN with extension 0 names the
    /// whole GLN, another extension (a dock, a berth) only itself.
    Set {
        /// The SGLN or PGLN EPC URI, e.g. urn:epc:id:sgln:4012345.00001.0
        gln: String,
        /// The name, 1–120 characters, e.g. "Arnstadt Cell Works".
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Remove a name.
    Remove {
        /// The SGLN or PGLN EPC URI.
        gln: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the names (a partner's read; the admin token from --data reads them).
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(cmd: PlacesCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match cmd {
            PlacesCommand::Set { gln, name, server } => {
                let path = format!("/api/v1/places/{gln}");
                let body = json!({ "name": name });
                let body = admin_request(&server, Method::PUT, &path, Some(&body)).await?;
                println!(
                    "{} is now called {:?}",
                    body["gln"].as_str().unwrap_or(&gln),
                    name.trim()
                );
            }
            PlacesCommand::Remove { gln, server } => {
                let path = format!("/api/v1/places/{gln}");
                admin_request(&server, Method::DELETE, &path, None).await?;
                println!("removed the name of {gln}");
            }
            PlacesCommand::List { server } => {
                let mut req = server.client()?.get(server.url("/api/v1/places"));
                if let Ok(t) = server.token() {
                    req = req.bearer_auth(t);
                }
                let r = req.send().await.map_err(connect_error(&server.server))?;
                let (status, body) = answer(r).await?;
                if !status.is_success() {
                    return Err(fail(&server.server, status, &body));
                }
                let list = body["places"]
                    .as_array()
                    .context("the server's answer has no places list")?;
                if list.is_empty() {
                    println!("no names set; add one with `provenance places set GLN NAME`");
                }
                for p in list {
                    println!(
                        "{:<22} {}",
                        p["gln"].as_str().unwrap_or_default(),
                        p["name"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        Ok(())
    })
}
