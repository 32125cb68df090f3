//! The log on a PostgreSQL reached over TLS (issue #12): `serve --database-url
//! 'postgres://…?sslmode=verify-full&sslrootcert=CA'` checks the server's certificate against
//! the given CA and its name; a server whose certificate another CA signed is refused at start.
//! Against a private PostgreSQL with TLS on (the machine's shared one has none).

mod support;

use std::path::Path;
use std::process::Command;

use support::postgres::{Postgres, postgres_bin};
use support::{Server, certificate};

/// A TLS-enabled PostgreSQL of the test's own, with `cert`/`key` (made readable only by the
/// server's user, as PostgreSQL demands).
fn postgres_with_tls(bin: std::path::PathBuf, dir: &Path, cert: &Path, key: &Path) -> Postgres {
    let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::copy(cert, &c).expect("copy cert");
    std::fs::copy(key, &k).expect("copy key");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root {
        for f in [&c, &k] {
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(f)
                .status()
                .expect("chown");
            assert!(ok.success());
        }
    }
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    Postgres::start_with(
        bin,
        &[
            "ssl=on".to_string(),
            format!("ssl_cert_file={}", c.display()),
            format!("ssl_key_file={}", k.display()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_its_log_on_postgres_over_verified_tls() {
    let Some(bin) = support::external("PostgreSQL's server binaries", postgres_bin()) else {
        return;
    };
    let certs = tempfile::tempdir().expect("tempdir");
    let Some((cert, key)) = certificate(certs.path()) else {
        return;
    };
    let pg = postgres_with_tls(bin, certs.path(), &cert, &key);
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port,
        cert.display()
    );
    let s = Server::start(&["--database-url", &url]);
    let http = reqwest::Client::new();
    let d = support::Device::new("tracker-1", 51);
    support::delivery::register(&http, &s, &d).await;
    // The server's own view: every connection of the log is encrypted.
    let plain = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
        pg.port
    );
    let pool = sqlx::PgPool::connect(&plain).await.expect("connect");
    let (tls, all): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE s.ssl), COUNT(*) FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.pid <> pg_backend_pid() \
         AND a.backend_type = 'client backend'",
    )
    .fetch_one(&pool)
    .await
    .expect("pg_stat_ssl");
    eprintln!("{tls} of {all} server connections over TLS");
    assert!(all > 0 && tls == all, "{tls} of {all} connections over TLS");
    pool.close().await;
    drop(s);

    // Another CA's certificate: the server is not who the URL says; serve refuses to start.
    let other = tempfile::tempdir().expect("tempdir");
    let (other_ca, _) = certificate(other.path()).expect("openssl");
    let wrong = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port,
        other_ca.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = support::provenance()
        .arg("serve")
        .arg("--data")
        .arg(dir.path())
        .args(["--database-url", &wrong])
        .args([
            "--http-listen",
            &format!("127.0.0.1:{}", support::free_port()),
        ])
        .args([
            "--mqtt-listen",
            &format!("127.0.0.1:{}", support::free_port()),
        ])
        .args([
            "--grpc-listen",
            &format!("127.0.0.1:{}", support::free_port()),
        ])
        .output()
        .expect("serve runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "serve started against an unverified server"
    );
    assert!(
        err.to_lowercase().contains("certificate"),
        "the error says why: {err}"
    );
}
