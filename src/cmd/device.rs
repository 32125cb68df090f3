//! `provenance device …` and `provenance submit`: the registry and event submission through the
//! server's admin API.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// Where the server is and how to prove you are its admin.
#[derive(clap::Args, Clone)]
pub struct ServerArgs {
    /// The server's HTTP address.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:8080",
        env = "PROVENANCE_SERVER"
    )]
    pub server: String,
    /// The admin token file (default: DIR/admin.token of --data).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The server's data directory, to find admin.token in.
    #[arg(long, value_name = "DIR", default_value = "provenance-data")]
    pub data: PathBuf,
    #[command(flatten)]
    pub tls: crate::tls::ClientTls,
    /// Send the admin token over plain http:// to a host other than this machine (anyone on
    /// the path can read it and then administer the log). Prefer https:// with --cacert.
    #[arg(long)]
    pub insecure_http: bool,
}

impl ServerArgs {
    /// The admin token, for a request to --server: refused when it would cross the network
    /// in clear text (see [`check_transport`]) or when its file is open to other users.
    pub fn token(&self) -> anyhow::Result<String> {
        check_transport(&self.server, self.insecure_http)?;
        let path = self
            .token_file
            .clone()
            .unwrap_or_else(|| self.data.join("admin.token"));
        let t = provenance_ledger::read_private(&path)?.with_context(|| {
            format!(
                "there is no admin token at {}; pass --token-file FILE or --data DIR (the \
                 directory `provenance serve` uses)",
                path.display()
            )
        })?;
        let t = t.trim();
        if t.is_empty() {
            bail!(
                "the admin token file {} is empty; `provenance serve` refuses such a file too. \
                 Pass the right --token-file or --data DIR",
                path.display()
            );
        }
        Ok(t.to_string())
    }

    /// An HTTP client for this server (trusting --cacert for https://).
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        self.tls.http_client()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }
}

/// Refuses to send the admin token over plain `http://` to anything but this machine, unless
/// `insecure` (`--insecure-http`): whoever can read the traffic could then register keys and
/// read the rejected messages.
pub(crate) fn check_transport(server: &str, insecure: bool) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(server).with_context(|| {
        format!("--server {server:?} is not a URL; write it like https://log.example:8080")
    })?;
    if url.scheme() != "http" || insecure {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(ip) => ip.is_loopback(),
        // RFC 6761: localhost names are this machine's.
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    };
    if loopback {
        return Ok(());
    }
    bail!(
        "refusing to send the admin token in clear text to {server}: over plain http:// anyone \
         on the way can read it. Serve with --tls-cert/--tls-key and use https:// with --cacert \
         FILE (the server's certificate), or pass --insecure-http if this network is yours alone"
    )
}

/// Manage the registry of devices and operators.
#[derive(clap::Subcommand)]
pub enum DeviceCommand {
    /// Register a device or operator key; prints its one-time MQTT password.
    Register {
        /// The ID: 1–64 characters of a-z 0-9 . _ -
        #[arg(long)]
        id: String,
        /// station, tracker, carrier, inspector, customs or operator.
        #[arg(long)]
        role: String,
        /// The organisation it belongs to.
        #[arg(long)]
        org: String,
        /// Its Ed25519 public key, base64 (as `provenance keygen` prints it).
        #[arg(long, value_name = "BASE64")]
        public_key: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Replace a key (from the next log entry on).
    Rotate {
        /// The ID.
        #[arg(long)]
        id: String,
        /// The new public key, base64.
        #[arg(long, value_name = "BASE64")]
        public_key: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke: nothing it signs is accepted any more.
    Revoke {
        /// The ID.
        #[arg(long)]
        id: String,
        /// Why (kept in the log).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Issue a new MQTT password (a leaked one, or routine rotation): the old one stops
    /// working and the device's open sessions on the embedded broker close at once. Give the
    /// new password to the device; it is shown once.
    Password {
        /// The ID.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the registry.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) async fn answer(r: reqwest::Response) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

pub(crate) fn fail(server: &str, status: reqwest::StatusCode, body: &Value) -> anyhow::Error {
    let msg = body["error"].as_str().unwrap_or("no detail");
    anyhow::anyhow!("the server at {server} answered {status}: {msg}")
}

pub(crate) fn connect_error(server: &str) -> impl Fn(reqwest::Error) -> anyhow::Error + '_ {
    move |e| {
        // reqwest's own message is only the outermost layer; the cause (refused, certificate
        // unknown …) is further down.
        let mut cause = String::new();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause = s.to_string();
            source = s.source();
        }
        if cause.is_empty() {
            cause = e.to_string();
        }
        let tls_hint = if server.starts_with("https:")
            && (cause.contains("certificate") || cause.contains("Certificate"))
        {
            " It serves a certificate this command does not trust: pass --cacert FILE with the \
             server's certificate (or its CA's), as PEM."
        } else {
            ""
        };
        anyhow::anyhow!(
            "cannot reach {server} ({cause}); is `provenance serve` running? Pass --server URL \
             if it listens elsewhere.{tls_hint}"
        )
    }
}

/// POSTs `body` to an admin route and returns the answer, or an error that says what to do.
async fn post_admin(server: &ServerArgs, path: &str, body: &Value) -> anyhow::Result<Value> {
    admin_request(server, reqwest::Method::POST, path, Some(body)).await
}

/// Sends a request with the admin token (and `body` as JSON) and returns the answer, or an
/// error that says what to do.
pub(crate) async fn admin_request(
    server: &ServerArgs,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let mut req = server
        .client()?
        .request(method, server.url(path))
        .bearer_auth(server.token()?);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.map_err(connect_error(&server.server))?;
    let (status, body) = answer(r).await?;
    if !status.is_success() {
        return Err(fail(&server.server, status, &body));
    }
    Ok(body)
}

pub fn run(cmd: DeviceCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match cmd {
            DeviceCommand::Register {
                id,
                role,
                org,
                public_key,
                server,
            } => {
                let body = json!({ "id": id, "role": role, "org": org, "public_key": public_key });
                let body = post_admin(&server, "/api/v1/devices", &body).await?;
                println!(
                    "registered {} ({}, {}) at log index {}",
                    id, role, org, body["log_index"]
                );
                println!(
                    "mqtt_password {}",
                    body["mqtt_password"].as_str().unwrap_or("")
                );
                eprintln!(
                    "Keep the MQTT password now: the server keeps only its hash and cannot show it \
                     again. The device logs in with username {id} and this password."
                );
            }
            DeviceCommand::Rotate {
                id,
                public_key,
                server,
            } => {
                let path = format!("/api/v1/devices/{id}/rotate");
                let body = post_admin(&server, &path, &json!({ "public_key": public_key })).await?;
                println!("rotated the key of {id} at log index {}", body["log_index"]);
            }
            DeviceCommand::Revoke { id, reason, server } => {
                let path = format!("/api/v1/devices/{id}/revoke");
                let body = post_admin(&server, &path, &json!({ "reason": reason })).await?;
                println!("revoked {id} at log index {}", body["log_index"]);
            }
            DeviceCommand::Password { id, server } => {
                let path = format!("/api/v1/devices/{id}/password");
                let body = post_admin(&server, &path, &json!({})).await?;
                println!(
                    "new MQTT password of {id} (shown once; the old one no longer works):\n{}",
                    body["mqtt_password"].as_str().unwrap_or_default()
                );
            }
            DeviceCommand::List { server } => {
                // The registry is a partner's business: the admin token reads it, when here.
                let mut req = server.client()?.get(server.url("/api/v1/devices"));
                if let Ok(t) = server.token() {
                    req = req.bearer_auth(t);
                }
                let r = req.send().await.map_err(connect_error(&server.server))?;
                let (status, body) = answer(r).await?;
                if !status.is_success() {
                    return Err(fail(&server.server, status, &body));
                }
                println!(
                    "{:<24} {:<10} {:<24} {:>10} STATUS",
                    "ID", "ROLE", "ORGANISATION", "REGISTERED"
                );
                for d in body["devices"].as_array().into_iter().flatten() {
                    let status = if !d["revoked_index"].is_null() {
                        format!("revoked at {}", d["revoked_index"])
                    } else if d["suspect"].as_bool() == Some(true) {
                        "SUSPECT (equivocated)".to_string()
                    } else {
                        "active".to_string()
                    };
                    println!(
                        "{:<24} {:<10} {:<24} {:>10} {}",
                        d["id"].as_str().unwrap_or(""),
                        d["role"].as_str().unwrap_or(""),
                        d["org"].as_str().unwrap_or(""),
                        d["registered_index"],
                        status
                    );
                }
            }
        }
        Ok(())
    })
}

/// Send a signed event (COSE_Sign1 file from `provenance sign`) and wait until it is anchored.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  provenance submit inspected.cose --data ./provenance-data")]
pub struct SubmitArgs {
    /// The COSE_Sign1 file.
    file: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn submit(args: SubmitArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    runtime()?.block_on(async {
        let r = args
            .server
            .client()?
            .post(args.server.url("/api/v1/events"))
            .bearer_auth(args.server.token()?)
            .header("content-type", "application/cose")
            .body(bytes)
            .send()
            .await
            .map_err(connect_error(&args.server.server))?;
        let (status, body) = answer(r).await?;
        match body["status"].as_str() {
            Some("anchored") => println!(
                "anchored at log index {} (checkpoint size {})",
                body["index"], body["checkpoint_size"]
            ),
            Some("duplicate") => println!(
                "already anchored at log index {} (nothing changed)",
                body["index"]
            ),
            Some("rejected") => bail!(
                "rejected: {} ({}); the event is kept with this reason at GET /api/v1/rejections",
                body["reason"].as_str().unwrap_or("?"),
                body["detail"].as_str().unwrap_or("")
            ),
            _ => return Err(fail(&args.server.server, status, &body)),
        }
        Ok(())
    })
}
