//! The backends every ledger test runs on: SQLite always; PostgreSQL when
//! `PROVENANCE_TEST_POSTGRES_URL` names a server (CI sets it), each test in a schema of its
//! own that is dropped afterwards.
#![allow(dead_code)]

use std::path::PathBuf;

use provenance_ledger::Config;

pub struct Backend {
    pub name: &'static str,
    pub url: String,
    pub dir: tempfile::TempDir,
    schema: Option<(String, String)>,
}

impl Backend {
    pub fn config(&self) -> Config {
        Config {
            database_url: self.url.clone(),
            key_file: self.dir.path().join("log.key"),
            origin: "provenance.test/log".into(),
        }
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("log.key")
    }

    pub async fn cleanup(self) {
        if let Some((admin_url, schema)) = &self.schema {
            if let Ok(pool) = sqlx::PgPool::connect(admin_url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&pool)
                .await;
            }
        }
    }
}

fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("PROVENANCE_REQUIRE_ALL").is_some()
}

pub async fn all(test: &str) -> Vec<Backend> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().expect("tempdir");
    out.push(Backend {
        name: "sqlite",
        url: format!("sqlite://{}", dir.path().join("ledger.db").display()),
        dir,
        schema: None,
    });
    match std::env::var("PROVENANCE_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let mut suffix = [0u8; 4];
            getrandom::fill(&mut suffix).expect("random");
            let schema = format!("t_{}_{}", test, u32::from_le_bytes(suffix));
            let pool = sqlx::PgPool::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("PROVENANCE_TEST_POSTGRES_URL={admin_url}: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&pool)
                .await
                .expect("create schema");
            let sep = if admin_url.contains('?') { '&' } else { '?' };
            out.push(Backend {
                name: "postgres",
                url: format!("{admin_url}{sep}options=-c%20search_path%3D{schema}"),
                dir: tempfile::tempdir().expect("tempdir"),
                schema: Some((admin_url, schema)),
            });
        }
        Err(_) if required() => panic!("PROVENANCE_TEST_POSTGRES_URL must be set in CI"),
        Err(_) => {
            eprintln!("SKIPPED PostgreSQL: set PROVENANCE_TEST_POSTGRES_URL to run on it too")
        }
    }
    out
}

/// Signs events as a device would, keeping its seq and hash chain.
pub struct Signer {
    pub id: provenance_event::DeviceId,
    pub key: provenance_event::ed25519_dalek::SigningKey,
    pub seq: u64,
    pub prev: [u8; 32],
}

impl Signer {
    pub fn new(id: &str, seed: u8) -> Self {
        Self {
            id: provenance_event::DeviceId::new(id).expect("id"),
            key: provenance_event::ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
            seq: 0,
            prev: [0; 32],
        }
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The next event of this signer.
    pub fn event(
        &mut self,
        kind: provenance_event::Kind,
        items: &[&str],
        parent: Option<&str>,
        time: i64,
    ) -> Vec<u8> {
        use provenance_event::{Draft, Epc, Quantity, sign_event};
        self.seq += 1;
        let items: Vec<Epc> = items.iter().map(|s| Epc::parse(s).expect("epc")).collect();
        let parent = parent.map(|p| Epc::parse(p).expect("epc"));
        let party = Epc::parse("urn:epc:id:pgln:4012345.00002").expect("epc");
        let mut d = Draft::new(self.seq, self.prev, time, kind, &items);
        d.parent = parent.as_ref();
        if kind == provenance_event::Kind::HandedOver {
            d.party = Some(&party);
        }
        if matches!(
            kind,
            provenance_event::Kind::Measured | provenance_event::Kind::Excursion
        ) {
            d.readings
                .set(Quantity::Temperature, 21_000)
                .expect("range");
        }
        let mut buf = vec![0u8; 4096];
        let n = sign_event(&self.key, &self.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = provenance_event::message_hash(&buf);
        buf
    }

    /// The next event of this signer with its payload edited before signing: the last
    /// occurrence of `from` replaced by `to` (same length). For entries that the event crate
    /// refuses to produce (an item named twice, say), appended raw to show that the ledger
    /// survives what older or careless appenders let in.
    pub fn event_patched(
        &mut self,
        kind: provenance_event::Kind,
        items: &[&str],
        parent: Option<&str>,
        time: i64,
        from: &str,
        to: &str,
    ) -> Vec<u8> {
        use provenance_event::{Draft, Epc};
        assert_eq!(from.len(), to.len(), "a patch keeps the CBOR framing");
        self.seq += 1;
        let items: Vec<Epc> = items.iter().map(|s| Epc::parse(s).expect("epc")).collect();
        let parent = parent.map(|p| Epc::parse(p).expect("epc"));
        let mut d = Draft::new(self.seq, self.prev, time, kind, &items);
        d.parent = parent.as_ref();
        let mut payload = vec![0u8; 4096];
        let n = d.encode(&mut payload).expect("encode");
        payload.truncate(n);
        let at = payload
            .windows(from.len())
            .rposition(|w| w == from.as_bytes())
            .expect("the payload holds the text to patch");
        payload[at..at + from.len()].copy_from_slice(to.as_bytes());
        let mut buf = vec![0u8; 8192];
        let n =
            provenance_event::sign_payload(&self.key, &self.id, &payload, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = provenance_event::message_hash(&buf);
        buf
    }

    /// Skips `n` seqs as if those events were lost.
    pub fn lose(&mut self, n: u64) {
        self.seq += n;
    }
}

pub fn sgtin(n: u64) -> String {
    format!("urn:epc:id:sgtin:4012345.012345.{n}")
}

pub fn sscc(n: u64) -> String {
    format!("urn:epc:id:sscc:4012345.{n:010}")
}
