//! The ingest loop: messages from MQTT and the submission APIs go through one bounded queue,
//! are taken in batches, validated (SPEC §4 steps 1–4, signatures as one batch, on a blocking
//! thread so the async runtime's workers stay free), checked for duplicates and equivocation
//! (step 5), anchored in one ledger append (step 6), and only then answered and acknowledged.
//! Rejections are stored before anyone is told.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use provenance_event::batch::MIN_BATCH;
use provenance_event::ed25519_dalek::VerifyingKey;
use provenance_ledger::rejections::Rejected;
use provenance_ledger::{Ledger, LedgerError};
use tokio::sync::{mpsc, oneshot};

use crate::validate::{Holder, Message, Reason, Rejection, Valid, check_batch};

/// Tuning of the loop.
#[derive(Debug, Clone)]
pub struct Config {
    /// Most messages in one batch (one ledger append, one checkpoint).
    pub batch_max: usize,
    /// How long the first message of a batch may wait for others.
    pub batch_wait: Duration,
    /// Messages the queue holds before senders wait (backpressure to MQTT and HTTP).
    pub queue: usize,
    /// Bytes of messages the queue holds before senders wait: the count alone would let
    /// 20,000 messages of 64 KiB (what the broker lets through) hold 1.3 GB.
    pub queue_bytes: usize,
    /// How many rejected messages, and how many of their bytes, are kept per device (or per
    /// topic, for messages no device signed) and per hour; beyond that, one `rate_limited`
    /// row counts them.
    pub rejection_quota: Quota,
    /// How long a rejected message is kept (from its last arrival); older ones are deleted
    /// once an hour and only counted.
    pub rejection_retention: Duration,
}

/// A ceiling on what one sender, and everybody together, may make the server keep per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Rejections kept per sender per hour.
    pub rows: u64,
    /// Bytes of rejected messages kept per sender per hour.
    pub bytes: u64,
    /// Rejections kept per hour from all senders together (an attacker can make up topics).
    pub total_rows: u64,
    /// Bytes kept per hour from all senders together.
    pub total_bytes: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            rows: 1_000,
            bytes: 4 << 20,
            total_rows: 100_000,
            total_bytes: 256 << 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            batch_max: 1000,
            batch_wait: Duration::from_millis(5),
            queue: 20_000,
            queue_bytes: 64 << 20,
            rejection_quota: Quota::default(),
            rejection_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Anchored at `index`, covered by the checkpoint of `checkpoint_size`, which is durable.
    Anchored {
        /// Log index.
        index: u64,
        /// Size of the covering checkpoint.
        checkpoint_size: u64,
    },
    /// The same bytes were anchored before, at `index`; acknowledged again.
    Duplicate {
        /// Log index of the earlier copy.
        index: u64,
    },
    /// Refused, and kept with its reason.
    Rejected(Rejection),
    /// The ledger failed; nothing was anchored or acknowledged, the sender should retry.
    Unavailable(String),
}

/// What an acknowledgement tells a device (SPEC §5 `ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Every seq up to this one is anchored or finally rejected.
    pub seq: u64,
    /// The tree size of the checkpoint that covers them.
    pub tree_size: u64,
}

/// Where acknowledgements go (the MQTT side implements it; tests collect them).
pub trait Acknowledger: Send + Sync + 'static {
    /// Tells `device` that everything up to `ack.seq` is settled.
    fn ack(&self, device: &str, ack: Ack);
    /// Tells `device` that a message was refused.
    fn reject(&self, device: &str, seq: Option<u64>, reason: Reason);
}

/// An acknowledger that tells nobody (the HTTP-only configuration).
pub struct NoAcks;

impl Acknowledger for NoAcks {
    fn ack(&self, _: &str, _: Ack) {}
    fn reject(&self, _: &str, _: Option<u64>, _: Reason) {}
}

/// Called with a message's outcome once it is settled.
pub type Settled = Box<dyn FnOnce(&Outcome) + Send + Sync>;

/// One queued message and who waits for its outcome.
pub struct Submission {
    /// The message.
    pub message: Message,
    /// Receives the outcome (HTTP and gRPC callers wait on it).
    pub reply: Option<oneshot::Sender<Outcome>>,
    /// Called once the outcome is settled (MQTT: acknowledge the PUBLISH to the broker).
    pub settled: Option<Settled>,
}

/// The registry as ingest caches it, reloaded when it changes.
#[derive(Default)]
struct RegistryCache {
    /// Shared with the validation threads as it is: replaced whole on reload, never copied.
    holders: Arc<HashMap<String, Holder>>,
    loaded: Option<Instant>,
    /// The ledger's registry generation when this was read (`Ledger::append_events`).
    generation: u64,
}

/// Per-device acknowledgement state: the highest seq below which everything is settled, and
/// the settled seqs above it as disjoint, non-adjacent ranges (start → end, inclusive). Ranges,
/// not seqs: a device may report 2^52 dropped events in one message, and what that costs must
/// be bounded by the message, not by the number in it.
#[derive(Default, Debug)]
struct AckState {
    through: u64,
    above: BTreeMap<u64, u64>,
}

impl AckState {
    fn settle(&mut self, seq: u64) {
        self.settle_range(seq, seq);
    }

    /// Marks `from..=to` settled, merging with the ranges it touches.
    fn settle_range(&mut self, from: u64, to: u64) {
        let (mut from, mut to) = (from.max(self.through.saturating_add(1)), to);
        if from > to {
            return;
        }
        let mut merged = Vec::new();
        for (&start, &end) in self.above.range(..=to.saturating_add(1)).rev() {
            if end.saturating_add(1) < from {
                break;
            }
            from = from.min(start);
            to = to.max(end);
            merged.push(start);
        }
        for start in merged {
            self.above.remove(&start);
        }
        self.above.insert(from, to);
        while let Some((&start, &end)) = self.above.first_key_value() {
            if start != self.through.saturating_add(1) {
                break;
            }
            self.through = end;
            self.above.remove(&start);
        }
    }

    /// The device says it dropped `n` events (its queue overflowed): those are the oldest
    /// unsettled seqs below `upto`, and they will never come. One step per settled range.
    fn dropped(&mut self, n: u64, upto: u64) {
        let mut left = n;
        let mut next = self.through.saturating_add(1);
        let mut fills = Vec::new();
        for (&start, &end) in &self.above {
            if left == 0 || next >= upto {
                break;
            }
            if start > next {
                let gap_end = (start - 1).min(upto - 1);
                let take = (gap_end - next + 1).min(left);
                fills.push((next, next + take - 1));
                left -= take;
            }
            next = end.saturating_add(1);
        }
        if left > 0 && next < upto {
            let take = (upto - next).min(left);
            fills.push((next, next + take - 1));
        }
        for (from, to) in fills {
            self.settle_range(from, to);
        }
    }
}

/// The running ingest.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<Submission>,
    /// Bytes the queue may still take (permits are bytes, returned when a batch is taken).
    room: Arc<tokio::sync::Semaphore>,
    queue_bytes: usize,
    /// Device IDs whose credentials just ended (revoked, or a new MQTT password): whoever
    /// holds their connections (the MQTT gate) closes them.
    credentials: tokio::sync::broadcast::Sender<String>,
    registry: Arc<RwLock<RegistryCache>>,
    depth: Arc<std::sync::atomic::AtomicUsize>,
}

impl Ingest {
    /// Starts the loop over `ledger`, answering devices through `acks`.
    pub async fn start(
        ledger: Arc<Ledger>,
        acks: Arc<dyn Acknowledger>,
        config: Config,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), LedgerError> {
        let (queue, rx) = mpsc::channel(config.queue);
        let registry = Arc::new(RwLock::new(RegistryCache::default()));
        let room = Arc::new(tokio::sync::Semaphore::new(config.queue_bytes));
        let ingest = Self {
            queue,
            room: room.clone(),
            queue_bytes: config.queue_bytes,
            credentials: tokio::sync::broadcast::channel(1024).0,
            registry: registry.clone(),
            depth: Arc::default(),
        };
        ingest.reload_registry(&ledger).await?;
        let depth = ingest.depth.clone();
        let task = tokio::spawn(run(ledger, acks, config, rx, registry, depth, room));
        Ok((ingest, task))
    }

    /// Says that `device`'s credentials ended: its live MQTT sessions must close.
    pub fn credentials_ended(&self, device: &str) {
        // No receiver (no gate, e.g. an external broker) is fine.
        let _ = self.credentials.send(device.to_string());
    }

    /// Device IDs whose credentials end from now on (see [`Ingest::credentials_ended`]).
    pub fn credential_changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.credentials.subscribe()
    }

    /// Reloads the registry (after a registration, rotation or revocation).
    pub async fn reload_registry(&self, ledger: &Ledger) -> Result<(), LedgerError> {
        load_registry(ledger, &self.registry).await
    }

    /// Queues a message and waits for its outcome (the HTTP and gRPC APIs).
    pub async fn submit(&self, message: Message) -> Outcome {
        let (tx, rx) = oneshot::channel();
        let s = Submission {
            message,
            reply: Some(tx),
            settled: None,
        };
        if self.enqueue(s).await.is_err() {
            return Outcome::Unavailable("ingest is shutting down".into());
        }
        rx.await
            .unwrap_or_else(|_| Outcome::Unavailable("ingest stopped before answering".into()))
    }

    /// Queues a message; waits while the queue is full (backpressure).
    pub async fn enqueue(&self, s: Submission) -> Result<(), Submission> {
        // Room in bytes first: a sender of large messages waits like one of many small ones.
        // The permits go back when the loop takes the message into a batch.
        match self
            .room
            .acquire_many(queue_cost(&s.message, self.queue_bytes))
            .await
        {
            Ok(p) => p.forget(),
            Err(_) => return Err(s),
        }
        // The gauge is set once per batch by the loop: a metrics lookup per message costs
        // more than the message's hash.
        self.depth
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.queue.send(s).await.map_err(|e| {
            self.depth
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            e.0
        })
    }

    /// Messages waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.depth.load(std::sync::atomic::Ordering::Relaxed)
    }
}

async fn load_registry(ledger: &Ledger, cache: &RwLock<RegistryCache>) -> Result<(), LedgerError> {
    // Read before the registry: a change in between makes this generation stale, never the
    // holders older than it says.
    let generation = ledger.registry_generation();
    let devices = ledger.devices().await?;
    let holders = devices
        .into_iter()
        .filter_map(|d| {
            let key = VerifyingKey::from_bytes(&d.public_key).ok()?;
            Some((
                d.id,
                Holder {
                    key,
                    revoked: d.revoked_idx.is_some(),
                },
            ))
        })
        .collect();
    if let Ok(mut c) = cache.write() {
        c.holders = Arc::new(holders);
        c.loaded = Some(Instant::now());
        c.generation = generation;
    }
    Ok(())
}

/// What a message costs of the queue's room in bytes (never more than the whole room, so an
/// oversized message waits for an empty queue instead of forever).
fn queue_cost(m: &Message, queue_bytes: usize) -> u32 {
    let cost = m.bytes.len().clamp(1, queue_bytes.max(1));
    u32::try_from(cost).unwrap_or(u32::MAX)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A batch after steps 1–4, on its way to step 5 and anchoring.
struct Checked {
    batch: Vec<Submission>,
    results: Vec<Result<Valid, Rejection>>,
    /// The registry generation its signatures were checked against.
    generation: u64,
}

/// Two stages joined by a one-batch channel: while the ledger anchors batch n, batch n + 1 is
/// being validated, so signature checking and the durable commit overlap. Step 5 and anchoring
/// stay strictly in batch order in the second stage.
async fn run(
    ledger: Arc<Ledger>,
    acks: Arc<dyn Acknowledger>,
    config: Config,
    mut rx: mpsc::Receiver<Submission>,
    registry: Arc<RwLock<RegistryCache>>,
    depth: Arc<std::sync::atomic::AtomicUsize>,
    room: Arc<tokio::sync::Semaphore>,
) {
    let (checked_tx, mut checked_rx) = mpsc::channel::<Checked>(1);
    let validator = tokio::spawn({
        let ledger = ledger.clone();
        let registry = registry.clone();
        async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + config.batch_wait;
                // Takes whatever is queued at once; waits (with one timer) only when the
                // queue is empty and the batch still has room.
                while batch.len() < config.batch_max {
                    let room = config.batch_max - batch.len();
                    match rx.try_recv() {
                        Ok(s) => {
                            batch.push(s);
                            continue;
                        }
                        Err(mpsc::error::TryRecvError::Disconnected) => break,
                        Err(mpsc::error::TryRecvError::Empty) => {}
                    }
                    match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, room)).await {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    }
                }
                let taken: usize = batch
                    .iter()
                    .map(|s| queue_cost(&s.message, config.queue_bytes) as usize)
                    .sum();
                room.add_permits(taken);
                let left = depth.fetch_sub(batch.len(), std::sync::atomic::Ordering::Relaxed);
                metrics::gauge!("provenance_ingest_queue_depth")
                    .set(left.saturating_sub(batch.len()) as f64);
                metrics::histogram!("provenance_ingest_batch_size").record(batch.len() as f64);
                let Some(checked) = validate(&ledger, &registry, batch).await else {
                    continue;
                };
                if let Err(e) = checked_tx.send(checked).await {
                    settle_all(e.0.batch, &Outcome::Unavailable("ingest stopped".into()));
                    break;
                }
            }
        }
    });
    let expiry = tokio::spawn(expire_rejections(
        ledger.clone(),
        config.rejection_retention,
    ));
    let mut ack_state: HashMap<String, AckState> = HashMap::new();
    let mut quota = crate::quota::QuotaState::new(config.rejection_quota);
    while let Some(mut c) = checked_rx.recv().await {
        // A registry change between checking and anchoring: check the batch again.
        while let Some(batch) = process(&ledger, &*acks, &mut ack_state, &mut quota, c).await {
            let _ = load_registry(&ledger, &registry).await;
            match validate(&ledger, &registry, batch).await {
                Some(again) => c = again,
                None => break,
            }
        }
    }
    let _ = validator.await;
    expiry.abort();
}

/// Deletes rejections older than `retention`, at start and then hourly.
async fn expire_rejections(ledger: Arc<Ledger>, retention: Duration) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match ledger
            .expire_rejections(now_ms().saturating_sub(retention_ms))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "expired old rejections (their counts stay)"),
            Err(e) => {
                tracing::warn!(error = %e, "expiring old rejections failed; trying again in an hour")
            }
        }
    }
}

/// Steps 1–4 for a batch, off the runtime's threads; large batches are split over the cores
/// (one hand-over per chunk, not per message). The messages move to the checking threads and
/// back rather than being copied. `None` when a checking thread died (the batch was settled
/// as unavailable: nothing anchored, senders retry).
async fn validate(
    ledger: &Ledger,
    registry: &Arc<RwLock<RegistryCache>>,
    batch: Vec<Submission>,
) -> Option<Checked> {
    // A signer nobody has heard of may have registered through another process: reload once
    // a second at most before calling it unknown.
    let stale = registry
        .read()
        .ok()
        .and_then(|c| c.loaded)
        .is_none_or(|t| t.elapsed() > Duration::from_secs(1));
    if stale {
        let _ = load_registry(ledger, registry).await;
    }
    let (snapshot, generation): (Arc<HashMap<String, Holder>>, u64) = registry
        .read()
        .map(|c| (c.holders.clone(), c.generation))
        .unwrap_or_default();
    let now = now_ms();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Every chunk at least MIN_BATCH long: a shorter one would be checked one signature at a
    // time, at twice the cost per signature, so 200 messages go to one thread, not 128 + 72.
    let chunks = (batch.len() / MIN_BATCH).clamp(1, cores);
    let chunk = batch.len().div_ceil(chunks).max(1);
    let mut tasks = Vec::new();
    let mut rest = batch;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        let part = std::mem::replace(&mut rest, tail);
        let snapshot = snapshot.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            let messages: Vec<&Message> = part.iter().map(|s| &s.message).collect();
            let results = check_batch(&messages, &|id: &str| snapshot.get(id).copied(), now);
            (part, results)
        }));
    }
    let mut batch = Vec::new();
    let mut results = Vec::new();
    let mut failed = false;
    for t in tasks {
        match t.await {
            Ok((part, r)) => {
                batch.extend(part);
                results.extend(r);
            }
            Err(e) => {
                tracing::error!(error = %e, "validation thread failed");
                failed = true;
            }
        }
    }
    if failed {
        // The parts whose thread died are gone with it (their senders see a closed channel
        // and retry); the others are told to retry.
        settle_all(batch, &Outcome::Unavailable("validation failed".into()));
        return None;
    }
    Some(Checked {
        batch,
        results,
        generation,
    })
}

/// Steps 5 and 6 for a checked batch. Returns the batch, untouched and unanswered, when the
/// registry changed after it was checked, for the caller to check it again.
async fn process(
    ledger: &Ledger,
    acks: &dyn Acknowledger,
    ack_state: &mut HashMap<String, AckState>,
    quota: &mut crate::quota::QuotaState,
    checked: Checked,
) -> Option<Vec<Submission>> {
    let Checked {
        batch,
        results: checked,
        generation,
    } = checked;
    // Signer, seq and dropped count of each valid message, for the acknowledgements.
    let signers: Vec<Option<(String, u64, Option<u64>)>> = checked
        .iter()
        .map(|c| {
            c.as_ref()
                .ok()
                .map(|v| (v.device.clone(), v.seq, v.dropped))
        })
        .collect();

    // Step 5: duplicates and equivocation, against the log and within the batch.
    let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
    let mut fresh: Vec<usize> = Vec::new();
    let mut seen: HashMap<(String, u64), (usize, [u8; 32])> = HashMap::new();
    let keys: Vec<(String, u64)> = checked
        .iter()
        .filter_map(|c| c.as_ref().ok().map(|v| (v.device.clone(), v.seq)))
        .collect();
    let known = match ledger.find_events(&keys).await {
        Ok(k) => k,
        Err(e) => {
            settle_all(batch, &Outcome::Unavailable(e.to_string()));
            return None;
        }
    };
    let mut known = known.into_iter();
    let mut suspects = Vec::new();
    for (i, c) in checked.into_iter().enumerate() {
        match c {
            Err(r) => outcomes[i] = Some(Outcome::Rejected(r)),
            Ok(v) => {
                let earlier = known.next().flatten();
                let key = (v.device.clone(), v.seq);
                let verdict = match (earlier, seen.get(&key)) {
                    (Some((index, hash)), _) if hash == v.hash => {
                        Some(Outcome::Duplicate { index })
                    }
                    (Some(_), _) => Some(equivocation(&v.device, v.seq)),
                    (None, Some((_, hash))) if *hash == v.hash => None, // settled with the first copy
                    (None, Some(_)) => Some(equivocation(&v.device, v.seq)),
                    (None, None) => {
                        seen.insert(key, (i, v.hash));
                        fresh.push(i);
                        None
                    }
                };
                if let Some(Outcome::Rejected(r)) = &verdict {
                    if r.reason == Reason::Equivocation {
                        suspects.push(v.device.clone());
                    }
                }
                outcomes[i] = verdict;
            }
        }
    }

    // Step 6: anchor the fresh ones in one append; the checkpoint is durable when it returns.
    let entries: Vec<&[u8]> = fresh
        .iter()
        .map(|&i| batch[i].message.bytes.as_slice())
        .collect();
    let anchored = if entries.is_empty() {
        None
    } else {
        match ledger.append_events(&entries, generation).await {
            Ok(a) => Some(a),
            Err(LedgerError::RegistryChanged { .. }) => {
                drop(entries);
                tracing::info!("the registry changed while a batch was checked; checking it again");
                return Some(batch);
            }
            Err(e @ LedgerError::NotSequencer { .. }) => {
                // Another process sequences this log (issue #19): nothing is acknowledged, so
                // the devices send again, and a broker's shared subscription hands the re-sends
                // to every process in turn.
                metrics::counter!("provenance_ingest_not_sequencer_total").increment(1);
                tracing::warn!(error = %e, "not the sequencer; nothing acknowledged");
                settle_all(batch, &Outcome::Unavailable(e.to_string()));
                return None;
            }
            Err(e) => {
                tracing::error!(error = %e, "anchoring failed; nothing acknowledged");
                settle_all(batch, &Outcome::Unavailable(e.to_string()));
                return None;
            }
        }
    };
    let checkpoint_size = anchored.as_ref().map(|a| a.checkpoint.checkpoint.size);
    if let Some(a) = &anchored {
        let now = now_ms();
        for (n, &i) in fresh.iter().enumerate() {
            outcomes[i] = Some(Outcome::Anchored {
                index: a.first_index + n as u64,
                checkpoint_size: a.checkpoint.checkpoint.size,
            });
            let waited = (now - batch[i].message.received_ms).max(0) as f64 / 1000.0;
            metrics::histogram!("provenance_ingest_anchor_latency_seconds").record(waited);
        }
        metrics::counter!("provenance_events_accepted_total").increment(fresh.len() as u64);
    }
    // In-batch second copies of the same bytes share the first copy's outcome.
    for (i, o) in outcomes.iter_mut().enumerate() {
        if o.is_none() {
            let first = seen
                .values()
                .find(|(j, _)| *j != i && batch[*j].message.bytes == batch[i].message.bytes)
                .map(|(j, _)| *j);
            *o = Some(
                match first.and_then(|j| fresh.iter().position(|&f| f == j)) {
                    Some(n) => Outcome::Duplicate {
                        index: anchored.as_ref().map_or(0, |a| a.first_index + n as u64),
                    },
                    None => Outcome::Unavailable("lost track of a duplicate".into()),
                },
            );
        }
    }

    // Rejections are stored before anybody is told, within the quota.
    let now = now_ms();
    let rejected: Vec<Rejected> = outcomes
        .iter()
        .zip(&batch)
        .filter_map(|(o, s)| match o {
            Some(Outcome::Rejected(r)) => Some(Rejected {
                received_ms: s.message.received_ms,
                topic: s.message.topic.clone(),
                reason: r.reason.as_str().to_string(),
                detail: r.detail.clone(),
                device: r.device.clone(),
                seq: r.seq,
                data: s.message.bytes.clone(),
                times: 1,
                last_received_ms: s.message.received_ms,
            }),
            _ => None,
        })
        .map(|r| quota.admit(now, r))
        .collect();
    if !rejected.is_empty() {
        if let Err(e) = ledger.record_rejections(&rejected).await {
            tracing::error!(error = %e, "storing rejections failed; those messages stay unacknowledged");
            for (o, _) in outcomes.iter_mut().zip(&batch) {
                if matches!(o, Some(Outcome::Rejected(_))) {
                    *o = Some(Outcome::Unavailable(e.to_string()));
                }
            }
        }
        for r in &rejected {
            metrics::counter!("provenance_events_rejected_total", "reason" => r.reason.clone())
                .increment(1);
        }
    }
    for d in suspects {
        if let Err(e) = ledger.flag_suspect(&d).await {
            tracing::error!(device = %d, error = %e, "could not flag an equivocating device");
        }
        tracing::warn!(device = %d, "equivocation: two different events with one seq");
    }

    // Acknowledgements (SPEC §5): per device, the highest seq up to which all is settled.
    let tree_size = match checkpoint_size {
        Some(s) => s,
        None => ledger.latest_checkpoint().await.checkpoint.size,
    };
    let mut touched: BTreeSet<String> = BTreeSet::new();
    // A device first seen by this process starts from what the log already settled for it.
    for (s, signer) in batch.iter().zip(&signers) {
        if s.message.topic.is_none() {
            continue;
        }
        if let Some((device, _, _)) = signer {
            if !ack_state.contains_key(device) {
                let st = load_ack_state(ledger, device).await;
                ack_state.insert(device.clone(), st);
            }
        }
    }
    for ((o, s), signer) in outcomes.iter().zip(&batch).zip(&signers) {
        let Some(o) = o else { continue };
        if s.message.topic.is_none() {
            continue; // API submissions are answered directly, not over MQTT.
        }
        match o {
            Outcome::Anchored { .. } | Outcome::Duplicate { .. } => {
                if let Some((device, seq, dropped)) = signer {
                    let st = ack_state.entry(device.clone()).or_default();
                    if let Some(d) = dropped {
                        st.dropped(*d, *seq);
                    }
                    st.settle(*seq);
                    touched.insert(device.clone());
                }
            }
            Outcome::Rejected(r) => {
                // Answered on the topic it came from: that device is listening on its rej topic.
                let from_topic = s
                    .message
                    .topic
                    .as_deref()
                    .and_then(crate::validate::topic_device)
                    .map(str::to_string);
                if let Some(device) = from_topic.as_ref().or(r.device.as_ref()) {
                    // Only messages the device really signed settle its seqs.
                    if matches!(r.reason, Reason::InvalidEvent | Reason::Equivocation) {
                        if let Some(seq) = r.seq {
                            ack_state.entry(device.clone()).or_default().settle(seq);
                            touched.insert(device.clone());
                        }
                    }
                    acks.reject(device, r.seq, r.reason);
                }
            }
            Outcome::Unavailable(_) => {}
        }
    }
    for device in touched {
        if let Some(st) = ack_state.get(&device) {
            if st.through > 0 {
                acks.ack(
                    &device,
                    Ack {
                        seq: st.through,
                        tree_size,
                    },
                );
            }
        }
    }
    for (s, o) in batch.into_iter().zip(outcomes) {
        let o = o.unwrap_or_else(|| Outcome::Unavailable("no outcome".into()));
        if let Some(f) = s.settled {
            f(&o);
        }
        if let Some(r) = s.reply {
            let _ = r.send(o);
        }
    }
    None
}

/// What the log already settled for `device`: anchored seqs, explained losses, and seqs finally
/// rejected (invalid or equivocating events it really signed).
async fn load_ack_state(ledger: &Ledger, device: &str) -> AckState {
    let mut st = AckState::default();
    // Runs and drop reports, not the chain: a device with a million anchored events in a
    // handful of runs costs a handful of rows here.
    match ledger.settled_runs(device).await {
        Ok(settled) => {
            for (from, to) in settled.runs {
                st.settle_range(from, to);
            }
            for (seq, dropped) in settled.drop_reports {
                st.dropped(dropped, seq);
            }
        }
        Err(e) => tracing::error!(device, error = %e, "reading the device's settled seqs for acks"),
    }
    let query = provenance_ledger::rejections::RejectionQuery {
        device: Some(device.to_string()),
        limit: 1000,
        ..Default::default()
    };
    if let Ok(rows) = ledger.rejections(&query).await {
        for (_, r) in rows {
            if matches!(r.reason.as_str(), "invalid_event" | "equivocation") {
                if let Some(seq) = r.seq {
                    st.settle(seq);
                }
            }
        }
    }
    st
}

fn equivocation(device: &str, seq: u64) -> Outcome {
    Outcome::Rejected(Rejection {
        reason: Reason::Equivocation,
        detail: format!("{device} already has a different event anchored with seq {seq}"),
        device: Some(device.to_string()),
        seq: Some(seq),
    })
}

fn settle_all(batch: Vec<Submission>, outcome: &Outcome) {
    for s in batch {
        if let Some(f) = s.settled {
            f(outcome);
        }
        if let Some(r) = s.reply {
            let _ = r.send(outcome.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AckState;

    #[test]
    fn acks_advance_only_over_settled_seqs() {
        let mut a = AckState::default();
        a.settle(2);
        assert_eq!(a.through, 0);
        a.settle(1);
        assert_eq!(a.through, 2);
        a.settle(5);
        assert_eq!(a.through, 2);
        // The device reports two dropped: 3 and 4 will never come.
        a.dropped(2, 6);
        a.settle(6);
        assert_eq!(a.through, 6);
    }

    #[test]
    fn dropped_fills_the_oldest_gaps_first() {
        let mut a = AckState::default();
        for s in [1, 3, 6, 10] {
            a.settle(s);
        }
        // Unsettled: 2, 4, 5, 7, 8, 9. Three dropped below 10: 2, 4 and 5.
        a.dropped(3, 10);
        assert_eq!(a.through, 6);
        assert_eq!(a.above.iter().collect::<Vec<_>>(), vec![(&10, &10)]);
        a.settle_range(7, 9);
        assert_eq!((a.through, a.above.len()), (10, 0));
    }

    /// The attack: one valid signed event with seq 2^41 and `dropped` 2^41 - 1 (SPEC §3 allows
    /// it). One set entry per missing seq took all memory, then the broker re-delivered the
    /// message to the restarted server: a crash loop. Now it is one range.
    #[test]
    fn a_report_of_2_pow_41_dropped_events_is_one_range() {
        let mut a = AckState::default();
        let seq = 1u64 << 41;
        a.dropped(seq - 1, seq);
        a.settle(seq);
        assert_eq!((a.through, a.above.len()), (seq, 0));
        // And far above anything settled, with settled seqs scattered below.
        let mut b = AckState::default();
        b.settle(5);
        b.settle(1 << 50);
        b.dropped((1 << 52) - 3, (1 << 52) + 1);
        assert_eq!(b.through, (1 << 52) - 1, "{b:?}");
    }

    #[test]
    fn ranges_merge_whatever_the_order() {
        let mut a = AckState::default();
        for s in [9, 7, 8, 3, 5, 4, 2] {
            a.settle(s);
        }
        assert_eq!(a.through, 0);
        assert_eq!(a.above.iter().collect::<Vec<_>>(), vec![(&2, &5), (&7, &9)]);
        a.settle(6);
        a.settle(1);
        assert_eq!((a.through, a.above.len()), (9, 0));
    }
}
