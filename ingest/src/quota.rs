//! How much of what the ingest refuses it keeps: every rejected message is kept whole (SPEC
//! §4) until one sender, or everybody together, passes the hour's quota; past it, the
//! rejections of that sender are counted in one `rate_limited` row per topic instead, so a
//! registered device (or a stranger on an external broker) cannot fill the disk with junk.
//! Pure: the caller passes the time.

use std::collections::HashMap;

use provenance_ledger::rejections::Rejected;

use crate::service::Quota;

/// The reason word of the row that counts what a quota did not keep.
pub const RATE_LIMITED: &str = crate::validate::Reason::RateLimited.as_str();

/// Most senders tracked in one hour; beyond it every new sender counts as over quota (the
/// total quota is the one that holds then).
const MAX_SENDERS: usize = 100_000;

const HOUR_MS: i64 = 3_600_000;

/// The quota's account for the current hour.
#[derive(Debug)]
pub struct QuotaState {
    quota: Quota,
    hour: i64,
    senders: HashMap<String, (u64, u64)>,
    total: (u64, u64),
}

impl QuotaState {
    /// An empty account.
    pub fn new(quota: Quota) -> Self {
        QuotaState {
            quota,
            hour: i64::MIN,
            senders: HashMap::new(),
            total: (0, 0),
        }
    }

    /// The rejection as it is to be kept: whole while its sender (the device the topic names,
    /// else the signer it claims, else the API) is within the quota, else a `rate_limited`
    /// record without the bytes (one row per topic, counted).
    pub fn admit(&mut self, now_ms: i64, r: Rejected) -> Rejected {
        let hour = now_ms.div_euclid(HOUR_MS);
        if hour != self.hour {
            self.hour = hour;
            self.senders.clear();
            self.total = (0, 0);
        }
        let bytes = u64::try_from(r.data.len()).unwrap_or(u64::MAX);
        let sender = r
            .topic
            .as_deref()
            .and_then(crate::validate::topic_device)
            .or(r.device.as_deref())
            .unwrap_or("api");
        let q = self.quota;
        let total_ok =
            self.total.0 < q.total_rows && self.total.1.saturating_add(bytes) <= q.total_bytes;
        let known = self.senders.contains_key(sender);
        let room = known || self.senders.len() < MAX_SENDERS;
        let used = self.senders.get(sender).copied().unwrap_or((0, 0));
        let sender_ok = room && used.0 < q.rows && used.1.saturating_add(bytes) <= q.bytes;
        if total_ok && sender_ok {
            if !known {
                self.senders.insert(sender.to_string(), (0, 0));
            }
            if let Some(u) = self.senders.get_mut(sender) {
                u.0 += 1;
                u.1 = u.1.saturating_add(bytes);
            }
            self.total.0 += 1;
            self.total.1 = self.total.1.saturating_add(bytes);
            return r;
        }
        metrics::counter!("provenance_rejections_rate_limited_total").increment(1);
        Rejected {
            reason: RATE_LIMITED.to_string(),
            detail: format!(
                "more rejected messages than the quota keeps ({} or {} bytes per sender per \
                 hour, {} or {} bytes in all): counted here, not kept; the last one was {}",
                q.rows, q.bytes, q.total_rows, q.total_bytes, r.reason
            ),
            seq: None,
            data: Vec::new(),
            ..r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn junk(topic: &str, n: usize) -> Rejected {
        Rejected {
            received_ms: 0,
            topic: Some(topic.to_string()),
            reason: "malformed".into(),
            detail: "x".into(),
            device: None,
            seq: None,
            data: vec![n as u8; 100],
            times: 1,
            last_received_ms: 0,
        }
    }

    #[test]
    fn a_sender_past_its_quota_is_counted_not_kept() {
        let quota = Quota {
            rows: 10,
            bytes: 1 << 20,
            total_rows: 1000,
            total_bytes: 1 << 30,
        };
        let mut q = QuotaState::new(quota);
        let kept: Vec<Rejected> = (0..50)
            .map(|n| q.admit(1_000, junk("prov/v1/dev/mallory/ev", n)))
            .collect();
        assert_eq!(kept.iter().filter(|r| r.reason == "malformed").count(), 10);
        let limited: Vec<&Rejected> = kept.iter().filter(|r| r.reason == RATE_LIMITED).collect();
        assert_eq!(limited.len(), 40);
        // All the same row once stored: same topic, reason and (empty) bytes.
        assert!(
            limited
                .iter()
                .all(|r| r.digest() == limited[0].digest() && r.data.is_empty())
        );
        // Another device is not affected; the next hour starts afresh.
        assert_eq!(
            q.admit(1_000, junk("prov/v1/dev/honest/ev", 0)).reason,
            "malformed"
        );
        assert_eq!(
            q.admit(HOUR_MS + 1, junk("prov/v1/dev/mallory/ev", 0))
                .reason,
            "malformed"
        );
    }

    #[test]
    fn made_up_topics_meet_the_total_quota() {
        let quota = Quota {
            rows: 10,
            bytes: 1 << 20,
            total_rows: 100,
            total_bytes: 1 << 30,
        };
        let mut q = QuotaState::new(quota);
        let kept = (0..1000)
            .map(|n| q.admit(5, junk(&format!("prov/v1/dev/fake{n}/ev"), n)))
            .filter(|r| r.reason != RATE_LIMITED)
            .count();
        assert_eq!(kept, 100);
    }
}
