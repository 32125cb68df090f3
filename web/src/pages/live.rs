//! `GET /items/{id}/live?v=VERSION`: server-sent events telling an open trace page that its
//! item's history changed.
//!
//! All the streams about one item share one feed: a task that waits on the ledger's indexer
//! (`Ledger::wait_indexed`, which wakes it when new entries are indexed, so nothing polls),
//! recomputes the item's version (a digest of its entries and their chain status) once per
//! index advance, and publishes it on a watch channel. Each stream compares the published
//! version with its page's and sends `anchored` when they differ. So a thousand open pages of
//! one item cost one trace per append, not a thousand (issue #12); the feed ends when its
//! last stream does.
//!
//! Streams are capped server-wide and per client IP address ([`crate::reads::Limits`]); past
//! the cap the answer is 503 with `Retry-After`, and the page, complete without its stream,
//! just does not update by itself. A stream ends after [`LIFETIME`]; the browser reconnects by
//! itself (`retry`). That bounds how long a server shutting down gracefully waits for open
//! pages, and how long one client holds a place.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Extension;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use provenance_event::Epc;
use provenance_ledger::Ledger;
use serde::Deserialize;
use tokio::sync::watch;

use super::PageError;
use super::trace::version;
use crate::api::AppState;
use crate::reads::{Reads, lock};

/// How long one stream stays open before the browser reconnects.
const LIFETIME: Duration = Duration::from_secs(20);
/// A burst of entries (one ingest batch after another) becomes one refresh.
const SETTLE: Duration = Duration::from_millis(250);

/// The query: the version of the history the page shows.
#[derive(Deserialize)]
pub struct Seen {
    #[serde(default)]
    v: String,
}

/// What a feed publishes: the item's version at an indexed size.
#[derive(Clone, Debug)]
struct Snapshot {
    version: String,
    events: usize,
    size: u64,
}

/// The live streams of one site: their places (the caps) and the feeds they share.
pub(crate) struct Hub {
    max_total: usize,
    max_per_ip: usize,
    places: Mutex<Places>,
    /// Item → its feed while some stream watches it. Weak: the streams own the feeds, and the
    /// last one to go removes the entry ([`Feed`]'s `Drop`).
    feeds: Mutex<HashMap<String, Weak<Feed>>>,
    recomputes: Arc<AtomicU64>,
}

#[derive(Default)]
struct Places {
    open: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl Hub {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            max_total,
            max_per_ip,
            places: Mutex::new(Places::default()),
            feeds: Mutex::new(HashMap::new()),
            recomputes: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(crate) fn recomputes(&self) -> u64 {
        self.recomputes.load(Ordering::Relaxed)
    }

    pub(crate) fn open(&self) -> usize {
        lock(&self.places).open
    }

    /// A place for one more stream from `ip` (unknown when the server does not pass the
    /// peer's address: then only the server-wide cap applies), or `None` past a cap.
    fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Option<Place> {
        let mut p = lock(&self.places);
        if p.open >= self.max_total {
            return None;
        }
        if let Some(ip) = ip {
            let n = p.per_ip.entry(ip).or_insert(0);
            if *n >= self.max_per_ip {
                return None;
            }
            *n += 1;
        }
        p.open += 1;
        metrics::gauge!("provenance_live_streams").set(p.open as f64);
        Some(Place {
            hub: self.clone(),
            ip,
        })
    }

    /// The feed of `item`, started if no stream watches it yet (or its task ended).
    fn feed(self: &Arc<Self>, ledger: &Arc<Ledger>, item: &str) -> Arc<Feed> {
        // A dead feed found in the map is dropped only after the lock is released: its `Drop`
        // takes the same lock.
        let mut dead = None;
        let mut feeds = lock(&self.feeds);
        if let Some(f) = feeds.get(item).and_then(Weak::upgrade) {
            // `has_changed` fails once the task dropped its sender (the indexer stopped).
            if f.rx.has_changed().is_ok() {
                return f;
            }
            dead = Some(f);
        }
        let (tx, rx) = watch::channel(None);
        tokio::spawn(follow(
            ledger.clone(),
            item.to_string(),
            tx,
            self.recomputes.clone(),
        ));
        let feed = Arc::new(Feed {
            item: item.to_string(),
            rx,
            hub: Arc::downgrade(self),
        });
        feeds.insert(item.to_string(), Arc::downgrade(&feed));
        drop(feeds);
        drop(dead);
        feed
    }
}

/// One stream's place under the caps, given back when the stream ends.
struct Place {
    hub: Arc<Hub>,
    ip: Option<IpAddr>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut p = lock(&self.hub.places);
        p.open = p.open.saturating_sub(1);
        if let Some(ip) = self.ip {
            if let Some(n) = p.per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    p.per_ip.remove(&ip);
                }
            }
        }
        metrics::gauge!("provenance_live_streams").set(p.open as f64);
    }
}

/// One item's shared feed; the streams watching the item hold it.
struct Feed {
    item: String,
    rx: watch::Receiver<Option<Snapshot>>,
    hub: Weak<Hub>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        // The last stream left: forget the item, unless a new feed already replaced this one.
        // Its task notices that no receiver is left and ends.
        if let Some(hub) = self.hub.upgrade() {
            let mut feeds = lock(&hub.feeds);
            if feeds.get(&self.item).is_some_and(|w| w.strong_count() == 0) {
                feeds.remove(&self.item);
            }
        }
    }
}

/// The feed's task: after each advance of the index, one trace of the item, published to
/// every stream watching it. Ends when no stream is left or the indexer stopped.
async fn follow(
    ledger: Arc<Ledger>,
    item: String,
    tx: watch::Sender<Option<Snapshot>>,
    recomputes: Arc<AtomicU64>,
) {
    // Start from nothing: the first look takes the present, which each stream compares with
    // its page's version, so events anchored between rendering a page and opening its stream
    // are not missed.
    let mut size = 0;
    loop {
        tokio::select! {
            r = ledger.wait_indexed(size + 1) => if r.is_err() {
                // The indexer stopped (shutdown): the streams end with the sender.
                return;
            },
            () = tx.closed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(SETTLE) => {}
            () = tx.closed() => return,
        }
        size = ledger.indexed_size();
        recomputes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("provenance_live_recomputes_total").increment(1);
        match ledger.trace_with_gaps(&item).await {
            Ok(trace) => {
                tx.send_replace(Some(Snapshot {
                    version: version(&trace),
                    events: trace.entries.len(),
                    size,
                }));
            }
            // The streams keep waiting (until their lifetime ends); the next advance retries.
            Err(e) => tracing::warn!(error = %e, item = %item, "live feed: the trace failed"),
        }
    }
}

struct Watch {
    /// Held for its channel; dropping the last one ends the feed.
    _feed: Arc<Feed>,
    rx: watch::Receiver<Option<Snapshot>>,
    _place: Place,
    seen: String,
    /// The indexed size when the stream opened: a snapshot older than that may be older
    /// than the page itself, so it is not compared (the feed publishes a newer one soon,
    /// since the index has moved past it).
    since: u64,
    deadline: tokio::time::Instant,
}

impl Watch {
    /// Waits for a change to the item's history; `None` when the stream should end.
    async fn next(&mut self) -> Option<Event> {
        loop {
            let snap = self.rx.borrow_and_update().clone();
            if let Some(s) = snap {
                if s.size >= self.since && s.version != self.seen {
                    let data = serde_json::json!({
                        "version": s.version,
                        "events": s.events,
                        "size": s.size,
                    });
                    self.seen = s.version;
                    return Some(Event::default().event("anchored").data(data.to_string()));
                }
            }
            match tokio::time::timeout_at(self.deadline, self.rx.changed()).await {
                Ok(Ok(())) => {}
                // The lifetime is over, or the feed stopped (the indexer did: shutdown).
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }
}

/// `GET /items/{id}/live`.
pub async fn live(
    State(s): State<AppState>,
    Extension(reads): Extension<Reads>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(id): Path<String>,
    Query(q): Query<Seen>,
) -> Response {
    let epc = match Epc::parse(&id) {
        Ok(e) => e,
        Err(e) => {
            return PageError::BadRequest(format!("“{id}” is not an EPC URI ({e})."))
                .into_response();
        }
    };
    let ip = peer.map(|Extension(ConnectInfo(a))| a.ip());
    let Some(place) = reads.live.admit(ip) else {
        metrics::counter!("provenance_live_refused_total").increment(1);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, LIFETIME.as_secs().to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            "Too many live streams are open; the page works without one (reload it to see \
             new events).\n",
        )
            .into_response();
    };
    let since = s.ledger.indexed_size();
    let feed = reads.live.feed(&s.ledger, &epc.to_string());
    let watch = Watch {
        rx: feed.rx.clone(),
        _feed: feed,
        _place: place,
        seen: q.v,
        since,
        deadline: tokio::time::Instant::now() + LIFETIME,
    };
    let hello = Event::default()
        .retry(Duration::from_secs(1))
        .comment("live");
    let stream = futures_util::stream::unfold((watch, Some(hello)), |(mut w, hello)| async move {
        if let Some(h) = hello {
            return Some((Ok::<_, Infallible>(h), (w, None)));
        }
        let e = w.next().await?;
        Some((Ok(e), (w, None)))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
