//! Writing the derived index rows of a batch, inside the batch's transaction.

/// Inserts the index rows of `$derived` (entries numbered from `$first`) using transaction
/// `$tx`. A macro rather than a function so that it expands for both backends' transaction
/// types inside `on_pool!`.
macro_rules! insert {
    ($tx:expr, $first:expr, $derived:expr) => {{
        use $crate::derive::{Change, Derived};
        let first: i64 = $first;
        let derived: &[Derived] = $derived;
        let events: Vec<(i64, &$crate::derive::EventRow)> = derived
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match d {
                Derived::Event(e) => Some((first + i as i64, e)),
                Derived::Registry(_) => None,
            })
            .collect();
        for chunk in events.chunks(2000) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO events (idx, device, seq, hash, prev, time_ms, kind, dropped) ",
            );
            q.push_values(chunk.iter(), |mut b, (idx, e)| {
                b.push_bind(*idx)
                    .push_bind(e.device.as_str())
                    .push_bind(e.seq as i64)
                    .push_bind(e.hash.as_slice())
                    .push_bind(e.prev.as_slice())
                    .push_bind(e.time_ms)
                    .push_bind(i64::from(e.kind.code()))
                    .push_bind(e.dropped.map(|d| d as i64));
            });
            q.build().execute(&mut *$tx).await?;
        }
        let items: Vec<(&str, i64)> = events
            .iter()
            .flat_map(|(idx, e)| e.items.iter().map(move |it| (it.as_str(), *idx)))
            .collect();
        for chunk in items.chunks(4000) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO item_events (item, idx) ");
            q.push_values(chunk.iter(), |mut b, (item, idx)| {
                b.push_bind(*item).push_bind(*idx);
            });
            q.build().execute(&mut *$tx).await?;
        }
        let aggs: Vec<(&str, &str, i64, i64, i64)> = events
            .iter()
            .flat_map(|(idx, e)| {
                e.aggregation
                    .iter()
                    .map(move |(c, p, d)| (c.as_str(), p.as_str(), *idx, e.time_ms, *d))
            })
            .collect();
        for chunk in aggs.chunks(2000) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO aggregations (child, parent, idx, time_ms, delta) ",
            );
            q.push_values(chunk.iter(), |mut b, (c, p, idx, t, d)| {
                b.push_bind(*c)
                    .push_bind(*p)
                    .push_bind(*idx)
                    .push_bind(*t)
                    .push_bind(*d);
            });
            q.build().execute(&mut *$tx).await?;
        }
        for (i, d) in derived.iter().enumerate() {
            let Derived::Registry(r) = d else { continue };
            let idx = first + i as i64;
            match &r.change {
                Change::Registered { key, role, org } => {
                    sqlx::query(
                        "INSERT INTO devices (id, role, org, public_key, registered_idx, key_idx) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(r.device.as_str())
                    .bind(role.name())
                    .bind(org.as_str())
                    .bind(key.as_slice())
                    .bind(idx)
                    .execute(&mut *$tx)
                    .await?;
                }
                Change::KeyRotated { key } => {
                    sqlx::query("UPDATE devices SET public_key = $2, key_idx = $3 WHERE id = $1")
                        .bind(r.device.as_str())
                        .bind(key.as_slice())
                        .bind(idx)
                        .execute(&mut *$tx)
                        .await?;
                }
                Change::Revoked { .. } => {
                    sqlx::query("UPDATE devices SET revoked_idx = $2 WHERE id = $1")
                        .bind(r.device.as_str())
                        .bind(idx)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
            if let Change::Registered { key, .. } | Change::KeyRotated { key } = &r.change {
                sqlx::query(
                    "INSERT INTO device_keys (device, idx, public_key) VALUES ($1, $2, $3)",
                )
                .bind(r.device.as_str())
                .bind(idx)
                .bind(key.as_slice())
                .execute(&mut *$tx)
                .await?;
            }
        }
    }};
}
pub(crate) use insert;
