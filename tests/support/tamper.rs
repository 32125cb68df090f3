//! Tampering with a stopped server's SQLite database, as someone with write access to the data
//! directory could: the cases SPEC §6 says the log must reveal. Shared by tests/verify_data.rs
//! (the CLI names each) and tests/web_tamper.rs (the web marks the affected events).

use std::path::Path;

fn url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

async fn open(dir: &Path, file: &str) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&url(dir, file))
        .await
        .expect("open db")
}

/// Runs SQL statements on the log's database (DIR/ledger.db).
pub async fn sql(dir: &Path, statements: &[&str]) {
    let pool = open(dir, "ledger.db").await;
    for s in statements {
        sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    pool.close().await;
}

/// The stored bytes of entry `index`.
pub async fn entry(dir: &Path, index: u64) -> Vec<u8> {
    let pool = open(dir, "ledger.db").await;
    let data: Vec<u8> = sqlx::query_scalar("SELECT data FROM entries WHERE idx = $1")
        .bind(index as i64)
        .fetch_one(&pool)
        .await
        .expect("entry");
    pool.close().await;
    data
}

/// Edits entry `index` in place: the first `from` in its bytes becomes `to` (same length,
/// so the entry still decodes and only its signature and hash tell).
pub async fn edit_entry(dir: &Path, index: u64, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len(), "a same-length edit");
    let mut data = entry(dir, index).await;
    let at = data
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("entry {index} does not contain {from:?}"));
    data[at..at + to.len()].copy_from_slice(to);
    let pool = open(dir, "ledger.db").await;
    sqlx::query("UPDATE entries SET data = $1 WHERE idx = $2")
        .bind(data)
        .bind(index as i64)
        .execute(&pool)
        .await
        .expect("edit");
    pool.close().await;
}

/// Deletes entry `index`.
pub async fn delete_entry(dir: &Path, index: u64) {
    sql(dir, &[&format!("DELETE FROM entries WHERE idx = {index}")]).await;
}

/// Swaps entries `a` and `b` (a reordering).
pub async fn swap_entries(dir: &Path, a: u64, b: u64) {
    sql(
        dir,
        &[
            &format!("UPDATE entries SET idx = -1 WHERE idx = {a}"),
            &format!("UPDATE entries SET idx = {a} WHERE idx = {b}"),
            &format!("UPDATE entries SET idx = {b} WHERE idx = -1"),
        ],
    )
    .await;
}

/// Stores `data` as entry `index` (past the end: no checkpoint covers it).
pub async fn insert_entry(dir: &Path, index: u64, data: &[u8]) {
    let pool = open(dir, "ledger.db").await;
    sqlx::query("INSERT INTO entries (idx, data) VALUES ($1, $2)")
        .bind(index as i64)
        .bind(data)
        .execute(&pool)
        .await
        .expect("insert");
    pool.close().await;
}

/// Zeroes stored hash `position` of tile `level`/`tile`.
pub async fn zero_tile_hash(dir: &Path, level: u8, tile: u64, position: usize) {
    let at = position * 32;
    sql(
        dir,
        &[&format!(
            "UPDATE tiles SET hashes = substr(hashes, 1, {at}) || zeroblob(32) || substr(hashes, {}) \
             WHERE level = {level} AND idx = {tile}",
            at + 33
        )],
    )
    .await;
}

/// Makes the stored checkpoint of `size` claim size `size + 1` (its signature no longer holds).
pub async fn edit_checkpoint(dir: &Path, size: u64) {
    sql(
        dir,
        &[&format!(
            "UPDATE checkpoints SET note = REPLACE(note, char(10) || '{size}' || char(10), \
             char(10) || '{}' || char(10)) WHERE size = {size}",
            size + 1
        )],
    )
    .await;
}

/// Adds an event to the event index (DIR/ledger-index.db) as the indexer would have, so the
/// pages of `items` show entry `index`: what someone who inserts an entry does to make it seen.
pub async fn index_event(dir: &Path, index: u64, data: &[u8], items: &[&str]) {
    let signed = provenance_event::SignedEvent::parse(data).expect("an event");
    let e = provenance_event::Event::decode(signed.sign1().payload()).expect("payload");
    let pool = open(dir, "ledger-index.db").await;
    sqlx::query(
        "INSERT INTO events (idx, device, seq, hash, prev, time_ms, kind, dropped) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
    )
    .bind(index as i64)
    .bind(signed.device().as_str())
    .bind(e.seq as i64)
    .bind(provenance_event::message_hash(data).to_vec())
    .bind(e.prev.to_vec())
    .bind(e.time)
    .bind(i64::from(e.kind.code()))
    .execute(&pool)
    .await
    .expect("index event");
    for item in items {
        sqlx::query("INSERT INTO item_events (item, idx) VALUES ($1, $2)")
            .bind(*item)
            .bind(index as i64)
            .execute(&pool)
            .await
            .expect("index item");
    }
    pool.close().await;
}
