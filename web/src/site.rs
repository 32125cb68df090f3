//! The pages people open. Until the trace pages of issue #6 exist, `/` is a plain status page
//! that says what the server holds and where its API is.

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;

use crate::api::{AppState, router};

/// The whole HTTP site: pages and API.
pub fn site(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .with_state(state.clone())
        .merge(router(state))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn index(State(s): State<AppState>) -> Html<String> {
    let cp = s.ledger.latest_checkpoint().await;
    let devices = s.ledger.devices().await.map(|d| d.len()).unwrap_or(0);
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Provenance</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1d2430}}
code,pre{{background:#f3f5f8;padding:.1rem .3rem;border-radius:4px}}pre{{padding:.8rem;overflow:auto}}</style></head>
<body><h1>Provenance</h1>
<p>A transparency log of {size} signed entries from {devices} registered devices and operators.</p>
<form action="/api/v1/items/" onsubmit="this.action='/api/v1/items/'+encodeURIComponent(this.q.value)+'/trace';return true" method="get">
<label>Trace an item (EPC URI): <input name="q" size="50" placeholder="urn:epc:id:sgtin:4012345.012345.1001"></label> <button>Trace</button></form>
<h2>Newest checkpoint</h2><pre>{note}</pre>
<h2>Verify it yourself</h2><p>Log key: <code>{vkey}</code></p>
<ul><li><a href="/api/v1/checkpoint">/api/v1/checkpoint</a> · <a href="/api/v1/log/key">/api/v1/log/key</a></li>
<li><a href="/api/v1/devices">/api/v1/devices</a> · <a href="/api/v1/rejections">/api/v1/rejections</a> · <a href="/metrics">/metrics</a></li></ul>
</body></html>"#,
        size = cp.checkpoint.size,
        note = escape(&cp.note),
        vkey = escape(&s.ledger.verifier().to_string()),
    ))
}
