//! Files, secrets, the admin surface and stopping, attacked as issue #12 lists them, against
//! the real binary: a cut-short admin token, secret files and databases other users can read,
//! a stranger's body on an admin route, the rejected messages without the token, the token
//! sent in clear text, and a SIGTERM that open streams, slow clients or a locked database
//! must not hold.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Device, Server, free_port, provenance, sgtin};

/// `provenance serve --data DIR` on free ports, its output in `log`.
fn spawn_serve(data: &Path, log: &Path) -> (Child, u16, u16) {
    let (h, m, g) = (free_port(), free_port(), free_port());
    let out = std::fs::File::create(log).expect("log file");
    let child = provenance()
        .arg("serve")
        .arg("--data")
        .arg(data)
        .args(["--http-listen", &format!("127.0.0.1:{h}")])
        .args(["--mqtt-listen", &format!("127.0.0.1:{m}")])
        .args(["--grpc-listen", &format!("127.0.0.1:{g}")])
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("serve starts");
    (child, h, g)
}

/// Waits for `child` to end, for at most `within`.
fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Runs `serve` on `data` and expects it to refuse to start; returns what it printed.
fn serve_refuses(data: &Path) -> String {
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("serve.log");
    let (mut child, _, _) = spawn_serve(data, &log);
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("serve started anyway:\n{out}"));
    assert!(!status.success(), "serve exited 0:\n{out}");
    assert!(
        !out.contains("Provenance is running"),
        "serve ran before refusing:\n{out}"
    );
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Writes a secret file as an operator would, mode 0600.
fn write_secret(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    chmod(path, 0o600);
}

fn sigterm(child: &Child) {
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Sends `head` (and no more) on a new connection to `addr` and returns the status line of the
/// answer, or `None` if none came within `within`.
fn answer_to_partial_request(addr: &str, head: &str, within: Duration) -> Option<String> {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(within)).expect("timeout");
    tcp.write_all(head.as_bytes()).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    while !got.windows(2).any(|w| w == b"\r\n") && Instant::now() < deadline {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    text.lines()
        .next()
        .filter(|l| l.starts_with("HTTP/"))
        .map(str::to_string)
}

fn addr(http: &str) -> &str {
    http.trim_start_matches("http://")
}

/// An admin token cut short by a crash (empty, a newline, a few characters) used to let every
/// request in: the empty token matched the empty string a request without a token compares.
/// `serve` refuses such a file and says what to do.
#[test]
fn serve_refuses_an_empty_admin_token() {
    for (case, text) in [
        ("empty", ""),
        ("only a newline", "\n"),
        ("cut short", "4fQ1x_Zk9\n"),
        ("one short", "abcdefghijklmnopqrstuvwxyz01234\n"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        write_secret(&dir.path().join("admin.token"), text);
        let out = serve_refuses(dir.path());
        assert!(
            out.contains("admin.token")
                && out.contains("Delete the file")
                && out.contains("at least 32"),
            "{case}: the message must say what to do:\n{out}"
        );
    }
    // A token of the generator's length that an operator wrote is fine.
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "k".repeat(32);
    write_secret(&dir.path().join("admin.token"), &format!("{token}\n"));
    let s = Server::start_in(dir, &[]);
    assert_eq!(s.token(), token);
}

/// A group- or world-readable admin token is refused, with the fix.
#[test]
fn serve_refuses_a_group_readable_admin_token() {
    for m in [0o640, 0o644] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("admin.token");
        write_secret(&path, &format!("{}\n", "t".repeat(40)));
        chmod(&path, m);
        let out = serve_refuses(dir.path());
        assert!(
            out.contains(&format!("chmod 600 {}", path.display())),
            "mode {m:o}:\n{out}"
        );
    }
}

/// A log key other users can read is refused, with the fix (the key signs every checkpoint).
#[test]
fn serve_refuses_a_world_readable_log_key() {
    let mut s = Server::start(&[]);
    assert!(s.stop(), "{}", s.log());
    let key = s.dir.path().join("log.key");
    assert_eq!(mode(&key), 0o600);
    chmod(&key, 0o644);
    let out = serve_refuses(s.dir.path());
    assert!(
        out.contains(&format!("chmod 600 {}", key.display())),
        "{out}"
    );
}

/// The data directory, the secrets and every database file (the log, the index, their WAL and
/// shared-memory files) are the server user's alone, whatever the umask (the test runs with
/// the usual 022, under which SQLite made them 0644).
#[test]
fn database_files_are_private() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("fresh/data");
    let log = tmp.path().join("serve.log");
    let (mut child, h, _) = spawn_serve(&data, &log);
    let http = format!("http://127.0.0.1:{h}");
    let ready = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("Provenance is running")
    {
        assert!(
            Instant::now() < ready,
            "{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Something in the log and in the index, so that every file exists.
    let token = std::fs::read_to_string(data.join("admin.token")).expect("token");
    let http_client = reqwest::blocking::Client::new();
    let mut d = Device::new("tracker-7", 7);
    let r = http_client
        .post(format!("{http}/api/v1/devices"))
        .bearer_auth(token.trim())
        .json(&json!({
            "id": "tracker-7", "role": "tracker", "org": "Test Lines",
            "public_key": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD, d.public_key()),
        }))
        .send()
        .expect("register");
    assert_eq!(r.status(), 201);
    let e = d.event(
        provenance_event::Kind::Located,
        &[&sgtin(1)],
        None,
        support::delivery::now_ms(),
    );
    let r = http_client
        .post(format!("{http}/api/v1/events"))
        .bearer_auth(token.trim())
        .header("content-type", "application/cose")
        .body(e)
        .send()
        .expect("submit");
    assert_eq!(r.status(), 201);

    assert_eq!(mode(&tmp.path().join("fresh")), 0o700);
    assert_eq!(mode(&data), 0o700);
    for name in ["admin.token", "log.key", "ledger.db", "ledger-index.db"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    let mut journals = Vec::new();
    for name in [
        "ledger.db-wal",
        "ledger.db-shm",
        "ledger-index.db-wal",
        "ledger-index.db-shm",
    ] {
        if data.join(name).exists() {
            assert_eq!(mode(&data.join(name)), 0o600, "{name}");
            journals.push(name);
        }
    }
    assert!(journals.contains(&"ledger.db-wal"), "{journals:?}");
    // Nothing else in the directory is readable by others either (no leftover temporary
    // files from the atomic writes).
    for e in std::fs::read_dir(&data).expect("list") {
        let e = e.expect("entry");
        assert_eq!(mode(&e.path()) & 0o077, 0, "{}", e.path().display());
    }
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(15)).is_some_and(|s| s.success()));
}

/// A stranger with a wrong token (or none) announces a body on each admin route and never
/// sends it: the answer is 401 at once, without waiting for the body (before, the JSON or
/// bytes extractor read it first and the token was checked after, so the server waited for,
/// buffered and parsed a stranger's body).
#[test]
fn admin_route_refuses_before_reading_the_body() {
    let s = Server::start(&[]);
    let wrong = "w".repeat(32);
    for (path, ct, auth) in [
        ("/api/v1/devices", "application/json", Some(wrong.as_str())),
        ("/api/v1/devices", "application/json", None),
        ("/api/v1/devices/x/rotate", "application/json", Some(&wrong)),
        ("/api/v1/devices/x/revoke", "application/json", Some(&wrong)),
        ("/api/v1/events", "application/cose", Some(&wrong)),
        ("/api/v1/events", "application/cose", None),
    ] {
        let auth = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        for framing in [
            "Content-Length: 1000000\r\n",
            "Transfer-Encoding: chunked\r\n",
        ] {
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: {ct}\r\n\
                 {framing}\r\n"
            );
            let started = Instant::now();
            let status = answer_to_partial_request(addr(&s.http), &head, Duration::from_secs(3));
            assert_eq!(
                status.as_deref(),
                Some("HTTP/1.1 401 Unauthorized"),
                "POST {path} ({framing:?}, {auth:?}) got no 401 without its body"
            );
            assert!(started.elapsed() < Duration::from_secs(2));
        }
    }
}

/// The same on gRPC: tonic decodes the whole message before a handler runs, so the token is
/// checked by an interceptor on the request head. A write with a wrong token whose message
/// never comes is refused at once (before, the server waited for the message).
#[tokio::test]
async fn grpc_write_refuses_before_reading_the_message() {
    let s = tokio::task::spawn_blocking(|| Server::start(&[]))
        .await
        .expect("server");
    let channel = tonic::transport::Endpoint::from_shared(s.grpc.clone())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    for (path, wrong) in [
        ("/provenance.v1.Submission/SubmitEvent", true),
        ("/provenance.v1.Registry/RegisterDevice", true),
        ("/provenance.v1.Registry/RevokeDevice", false),
    ] {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(3),
            never_ending_call(channel.clone(), path, wrong.then(|| "w".repeat(32))),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer without the message"));
        let e = answer.expect_err("refused");
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{path}: {e:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    drop(s);
}

/// Starts a call on `path` whose request message never arrives (an HTTP/2 stream left
/// open), with `token` if given, and waits for the answer.
async fn never_ending_call(
    channel: tonic::transport::Channel,
    path: &'static str,
    token: Option<String>,
) -> Result<tonic::Response<provenance_proto::pb::SubmitEventResponse>, tonic::Status> {
    use provenance_proto::pb;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut req = tonic::Request::new(tonic::codegen::tokio_stream::pending::<
        pb::SubmitEventRequest,
    >());
    if let Some(t) = token {
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("ascii"),
        );
    }
    let codec =
        tonic_prost::ProstCodec::<pb::SubmitEventRequest, pb::SubmitEventResponse>::default();
    grpc.client_streaming(
        req,
        tonic::codegen::http::uri::PathAndQuery::from_static(path),
        codec,
    )
    .await
}

/// The rejected messages are kept whole (anyone's bytes, possibly another party's data): only
/// the admin reads them, a page at a time (at most 1000 rows, 100 by default); the CLI sends
/// the token.
#[test]
fn rejections_need_the_admin_token() {
    let s = Server::start(&[]);
    let http = reqwest::blocking::Client::new();
    let url = format!("{}/api/v1/rejections", s.http);
    assert_eq!(http.get(&url).send().expect("get").status(), 401);
    let r = http
        .get(&url)
        .bearer_auth("w".repeat(32))
        .send()
        .expect("get");
    assert_eq!(r.status(), 401);
    let r = http.get(&url).bearer_auth(s.token()).send().expect("get");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().expect("json");
    assert!(v["rejections"].is_array(), "{v}");
    for limit in ["1001", "0", "1000000"] {
        let r = http
            .get(format!("{url}?limit={limit}"))
            .bearer_auth(s.token())
            .send()
            .expect("get");
        assert_eq!(r.status(), 400, "limit={limit}");
        let v: Value = r.json().expect("json");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(msg.contains("1000") && msg.contains("100"), "{msg}");
    }
    let r = http
        .get(format!("{url}?limit=1000"))
        .bearer_auth(s.token())
        .send()
        .expect("get");
    assert_eq!(r.status(), 200);

    // The CLI: with the data directory it finds the token; without, it says where to look.
    let out = provenance()
        .args(["rejections", "--server", &s.http, "--data"])
        .arg(s.dir.path())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = provenance()
        .args(["rejections", "--server", &s.http, "--data"])
        .arg(elsewhere.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token-file"));
}

/// Every command that sends the admin token refuses plain http:// to another host (anyone on
/// the path would read the token) unless --insecure-http, and says what to do instead;
/// loopback stays allowed.
#[test]
fn cli_refuses_token_over_plain_http_to_a_remote_host() {
    let s = Server::start(&[]);
    let data = s.dir.path().to_str().expect("utf-8").to_string();
    let work = tempfile::tempdir().expect("tempdir");
    let event = work.path().join("e.cose");
    std::fs::write(&event, b"\xd2").expect("write");
    let event = event.to_str().expect("utf-8").to_string();
    let key = "A".repeat(43) + "=";
    let remote = "http://192.0.2.10:8080";
    let commands: Vec<Vec<&str>> = vec![
        vec![
            "device",
            "register",
            "--id",
            "x",
            "--role",
            "customs",
            "--org",
            "x",
            "--public-key",
            &key,
        ],
        vec!["device", "rotate", "--id", "x", "--public-key", &key],
        vec!["device", "revoke", "--id", "x"],
        vec!["submit", &event],
        vec!["rejections"],
    ];
    for c in &commands {
        let started = Instant::now();
        let out = provenance()
            .args(c)
            .args(["--server", remote, "--data", &data])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{c:?}");
        assert!(
            err.contains("clear text") && err.contains("https://") && err.contains("--cacert"),
            "{c:?}: {err}"
        );
        assert!(err.contains("--insecure-http"), "{c:?}: {err}");
        // Refused before any connection is tried (192.0.2.0/24 answers nobody).
        assert!(started.elapsed() < Duration::from_secs(5), "{c:?}");
    }
    // 0.0.0.0 is not a loopback address, though Linux connects it to this machine: refused,
    // and with --insecure-http the request goes through.
    let port = s.http.rsplit(':').next().expect("port");
    let any = format!("http://0.0.0.0:{port}");
    let out = provenance()
        .args(["rejections", "--server", &any, "--data", &data])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let out = provenance()
        .args([
            "rejections",
            "--insecure-http",
            "--server",
            &any,
            "--data",
            &data,
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Loopback by name or address needs no flag.
    for server in [
        s.http.clone(),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
    ] {
        let out = provenance()
            .args(["rejections", "--server", &server, "--data", &data])
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("clear text"), "{server}: {err}");
    }
}

/// SIGTERM stops `serve` within 10 s while a page's live stream is open (it lasts 20 s), a
/// client holds a request whose body never comes, another has sent half a request head, and a
/// gRPC call waits for a message that never comes. Before, the graceful shutdown waited for
/// all of them.
#[test]
fn sigterm_stops_serve_within_10_s() {
    let mut s = Server::start(&[]);
    let a = addr(&s.http).to_string();
    // A trace page's live stream.
    let mut live = TcpStream::connect(&a).expect("connect");
    live.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    live.write_all(
        format!(
            "GET /items/{}/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
            sgtin(1)
        )
        .as_bytes(),
    )
    .expect("write");
    let mut head = [0u8; 512];
    let n = live.read(&mut head).expect("stream head");
    assert!(
        String::from_utf8_lossy(&head[..n]).contains("text/event-stream"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    // An admin request whose body never comes (with the right token: the handler waits).
    let mut slow = TcpStream::connect(&a).expect("connect");
    slow.write_all(
        format!(
            "POST /api/v1/devices HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"id\":",
            s.token()
        )
        .as_bytes(),
    )
    .expect("write");
    // Half a request head.
    let mut half = TcpStream::connect(&a).expect("connect");
    half.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("write");
    // A gRPC submission whose message never comes.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let grpc = s.grpc.clone();
    let token = s.token();
    let call = rt.spawn(async move {
        let channel = tonic::transport::Endpoint::from_shared(grpc)
            .expect("url")
            .connect()
            .await
            .expect("connect");
        never_ending_call(
            channel,
            "/provenance.v1.Submission/SubmitEvent",
            Some(token),
        )
        .await
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!call.is_finished(), "the gRPC call must still be waiting");

    let started = Instant::now();
    sigterm(&s.child);
    let status = wait_exit(&mut s.child, Duration::from_secs(20));
    let took = started.elapsed();
    let log = s.log();
    let status = status.unwrap_or_else(|| panic!("serve still running after 20 s:\n{log}"));
    eprintln!("stopped {took:?} after SIGTERM; it said:\n{log}");
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{log}");
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("stopped."), "{log}");
    // Nothing was stuck but the connections: the ingest and the ledger closed in order.
    assert!(!log.contains("ingest's batch"), "{log}");
    assert!(!log.contains("closing the database"), "{log}");
    drop((live, slow, half));
    rt.shutdown_timeout(Duration::from_secs(1));
}

/// Opens a connection to a SQLite file and takes its write lock (`BEGIN EXCLUSIVE`), as
/// another process or a hung disk would hold it.
async fn lock_sqlite(path: &Path) -> sqlx::SqliteConnection {
    use sqlx::Connection as _;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(20));
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("open");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut conn)
        .await
        .expect("lock");
    conn
}

/// SIGTERM stops `serve` within 10 s while the database cannot be written: the event index
/// is locked (the indexer waits) and so is the log (the ingest waits in the middle of
/// appending a batch whose HTTP caller waits for its answer). The batch in hand is given up
/// unacknowledged, what was abandoned is logged, and the next start works and holds exactly
/// what was acknowledged.
#[test]
fn sigterm_stops_serve_within_10_s_with_the_database_locked() {
    let mut s = Server::start(&[]);
    let http = reqwest::blocking::Client::new();
    let mut d = Device::new("tracker-9", 9);
    let r = http
        .post(format!("{}/api/v1/devices", s.http))
        .bearer_auth(s.token())
        .json(&json!({
            "id": "tracker-9", "role": "tracker", "org": "Test Lines",
            "public_key": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD, d.public_key()),
        }))
        .send()
        .expect("register");
    assert_eq!(r.status(), 201);
    let submit = {
        let url = format!("{}/api/v1/events", s.http);
        let token = s.token();
        move |event: Vec<u8>| {
            reqwest::blocking::Client::new()
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/cose")
                .body(event)
                .timeout(Duration::from_secs(30))
                .send()
        }
    };
    let data: PathBuf = s.dir.path().to_path_buf();
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    // The index is locked: the first event is anchored, and the indexer waits to index it.
    let index_lock = rt.block_on(lock_sqlite(&data.join("ledger-index.db")));
    let first = d.event(
        provenance_event::Kind::Located,
        &[&sgtin(1)],
        None,
        support::delivery::now_ms(),
    );
    let r = submit(first).expect("submit");
    assert_eq!(r.status(), 201);
    // Then the log: the second event's batch waits in the append.
    let log_lock = rt.block_on(lock_sqlite(&data.join("ledger.db")));
    let second = d.event(
        provenance_event::Kind::Located,
        &[&sgtin(2)],
        None,
        support::delivery::now_ms(),
    );
    let waiting = std::thread::spawn(move || submit(second).map(|r| r.status()));
    std::thread::sleep(Duration::from_millis(700));
    assert!(!waiting.is_finished(), "the second event must be in hand");

    let started = Instant::now();
    sigterm(&s.child);
    let status = wait_exit(&mut s.child, Duration::from_secs(20));
    let took = started.elapsed();
    let log = s.log();
    let status = status.unwrap_or_else(|| panic!("serve still running after 20 s:\n{log}"));
    eprintln!("stopped {took:?} after SIGTERM; it said:\n{log}");
    assert!(took < Duration::from_secs(10), "took {took:?}:\n{log}");
    assert!(status.success(), "{status}:\n{log}");
    assert!(log.contains("abandoning"), "{log}");
    assert!(log.contains("ingest's batch in hand"), "{log}");
    // The caller of the second event never heard "anchored".
    let answer = waiting.join().expect("thread");
    assert!(!answer.as_ref().is_ok_and(|s| s.is_success()), "{answer:?}");

    // The locks go; the next start works and holds the registration and the first event only
    // (the second was rolled back, never acknowledged), with the first in its item's trace.
    rt.block_on(async {
        drop(index_lock);
        drop(log_lock);
    });
    let s = s.restart(&[]);
    let cp = http
        .get(format!("{}/api/v1/checkpoint", s.http))
        .send()
        .expect("checkpoint")
        .text()
        .expect("text");
    assert_eq!(cp.lines().nth(1), Some("2"), "{cp}");
    let trace: Value = http
        .get(format!("{}/api/v1/items/{}/trace", s.http, sgtin(1)))
        .bearer_auth(s.token())
        .send()
        .expect("trace")
        .json()
        .expect("json");
    assert_eq!(trace["events"].as_array().map(Vec::len), Some(1), "{trace}");
}
