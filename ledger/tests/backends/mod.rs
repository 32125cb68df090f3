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
