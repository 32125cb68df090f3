//! A realistic consignment journey signed by a plant station, a tracker, customs and a
//! warehouse, submitted to a real `provenance serve` over HTTP: what the web and customs
//! tests look at. (The same journey as tests/customs_evidence.rs, shared here for new tests.)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use provenance_event::ed25519_dalek::SigningKey;
use provenance_event::{DeviceId, Draft, Epc, Kind, Location, Quantity, sign_event};
use serde_json::{Value, json};

use super::Server;

pub const CELL: &str = "urn:epc:id:sgtin:4012345.012345.1001";
pub const SSCC: &str = "urn:epc:id:sscc:4012345.0000000017";
pub const PLANT: &str = "urn:epc:id:pgln:4012345.00001";
pub const CARRIER: &str = "urn:epc:id:pgln:4012345.00002";
pub const CUSTOMS: &str = "urn:epc:id:pgln:4012345.00003";
pub const WAREHOUSE: &str = "urn:epc:id:pgln:4012345.00004";
pub const PORT: &str = "urn:epc:id:sgln:4012345.00005.0";
pub const WAREHOUSE_DOCK: &str = "urn:epc:id:sgln:4012345.00004.1";
pub const HOUR: i64 = 3_600_000;

/// A key holder that signs events as a board or an operator would, keeping its chain.
pub struct Signer {
    pub id: DeviceId,
    pub key: SigningKey,
    pub seq: u64,
    pub prev: [u8; 32],
}

/// The optional fields of an event.
#[derive(Default, Clone, Copy)]
pub struct With<'a> {
    pub parent: Option<&'a str>,
    pub party: Option<&'a str>,
    pub fix: Option<(i32, i32)>,
    pub place: Option<&'a str>,
    pub readings: &'a [(Quantity, i64)],
    pub doc: Option<&'a str>,
}

impl Signer {
    pub fn new(id: &str, seed: u8) -> Self {
        Self {
            id: DeviceId::new(id).expect("id"),
            key: SigningKey::from_bytes(&[seed; 32]),
            seq: 0,
            prev: [0; 32],
        }
    }

    /// The next event of this signer.
    pub fn sign(&mut self, kind: Kind, items: &[&str], time: i64, w: With<'_>) -> Vec<u8> {
        self.seq += 1;
        let items: Vec<Epc> = items.iter().map(|s| Epc::parse(s).expect("epc")).collect();
        let parent = w.parent.map(|p| Epc::parse(p).expect("epc"));
        let party = w.party.map(|p| Epc::parse(p).expect("epc"));
        let location = (w.fix.is_some() || w.place.is_some()).then(|| Location {
            lat_lon: w.fix,
            sgln: w.place.map(|p| Epc::parse(p).expect("sgln")),
        });
        let mut d = Draft::new(self.seq, self.prev, time, kind, &items);
        d.parent = parent.as_ref();
        d.party = party.as_ref();
        d.location = location.as_ref();
        d.doc = w.doc;
        for (q, v) in w.readings {
            d.readings.set(*q, *v).expect("range");
        }
        let mut buf = vec![0u8; 4096];
        let n = sign_event(&self.key, &self.id, &d, &mut buf).expect("sign");
        buf.truncate(n);
        self.prev = provenance_event::message_hash(&buf);
        buf
    }
}

/// A server with the journey's four signers registered.
pub struct Site {
    pub server: Server,
    pub http: reqwest::Client,
    pub station: Signer,
    pub tracker: Signer,
    pub customs: Signer,
    pub warehouse: Signer,
    /// The journey starts 72 hours ago (events may not lie in the future).
    pub t0: i64,
}

impl Site {
    pub async fn start() -> Self {
        let server = Server::start(&[]);
        let t0 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64
            - 72 * HOUR;
        let http = server.http();
        let site = Self {
            server,
            http,
            station: Signer::new("station-1", 1),
            tracker: Signer::new("tracker-7", 2),
            customs: Signer::new("customs-rtm", 3),
            warehouse: Signer::new("wh-op", 4),
            t0,
        };
        for (s, role, org) in [
            (&site.station, "station", format!("Acme Cells {PLANT}")),
            (
                &site.tracker,
                "tracker",
                format!("Blue Sea Lines {CARRIER}"),
            ),
            (&site.customs, "customs", format!("Dutch Customs {CUSTOMS}")),
            (
                &site.warehouse,
                "operator",
                format!("Euro Warehouse {WAREHOUSE}"),
            ),
        ] {
            let r = site
                .http
                .post(format!("{}/api/v1/devices", site.server.http))
                .bearer_auth(site.server.token())
                .json(&json!({
                    "id": s.id.as_str(), "role": role, "org": org,
                    "public_key": B64.encode(s.key.verifying_key().to_bytes()),
                }))
                .send()
                .await
                .expect("register");
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
        }
        site
    }

    /// Submits one event; returns its log index once anchored.
    pub async fn submit(&self, event: Vec<u8>) -> u64 {
        let r = self
            .http
            .post(format!("{}/api/v1/events", self.server.http))
            .bearer_auth(self.server.token())
            .header("content-type", "application/cose")
            .body(event)
            .send()
            .await
            .expect("submit");
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, 201, "{body}");
        body["index"].as_u64().expect("index")
    }

    pub fn at(&self, hours: i64) -> i64 {
        self.t0 + hours * HOUR
    }

    /// GET a path; panics unless it answers 2xx.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let r = self
            .http
            .get(format!("{}{path}", self.server.http))
            .send()
            .await
            .expect("get");
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r
    }

    /// Commissioned, packed, sealed, handed to the carrier, departed, located, an excursion
    /// within limits, arrived, inspected, held, cleared, handed to the warehouse, arrived.
    /// Returns the log indexes in submission order.
    pub async fn journey(&mut self) -> Vec<u64> {
        let no = With::default();
        let ev = vec![
            self.station
                .sign(Kind::Commissioned, &[CELL], self.at(0), no),
            self.station
                .sign(Kind::Commissioned, &[SSCC], self.at(0), no),
            self.station.sign(
                Kind::Packed,
                &[CELL],
                self.at(1),
                With {
                    parent: Some(SSCC),
                    ..no
                },
            ),
            self.station.sign(
                Kind::Sealed,
                &[SSCC],
                self.at(2),
                With {
                    readings: &[(Quantity::SealClosed, 1)],
                    ..no
                },
            ),
            self.station.sign(
                Kind::HandedOver,
                &[SSCC],
                self.at(3),
                With {
                    party: Some(CARRIER),
                    doc: Some("BOL-2026-0042"),
                    ..no
                },
            ),
            self.tracker.sign(
                Kind::Departed,
                &[SSCC],
                self.at(4),
                With {
                    fix: Some((519_000_000, 44_000_000)),
                    ..no
                },
            ),
            self.tracker.sign(
                Kind::Located,
                &[SSCC],
                self.at(10),
                With {
                    fix: Some((523_000_000, 38_000_000)),
                    readings: &[(Quantity::Temperature, 24_000)],
                    ..no
                },
            ),
            self.tracker.sign(
                Kind::Excursion,
                &[SSCC],
                self.at(14),
                With {
                    fix: Some((530_000_000, 30_000_000)),
                    readings: &[(Quantity::Temperature, 45_500), (Quantity::Shock, 3_000)],
                    ..no
                },
            ),
            self.tracker.sign(
                Kind::Located,
                &[SSCC],
                self.at(20),
                With {
                    fix: Some((535_000_000, 25_000_000)),
                    readings: &[(Quantity::Humidity, 550)],
                    ..no
                },
            ),
            self.tracker.sign(
                Kind::Arrived,
                &[SSCC],
                self.at(26),
                With {
                    fix: Some((539_000_000, 20_000_000)),
                    place: Some(PORT),
                    ..no
                },
            ),
            self.customs.sign(
                Kind::Inspected,
                &[SSCC],
                self.at(28),
                With {
                    place: Some(PORT),
                    doc: Some("MRN-26NL0000000000042"),
                    ..no
                },
            ),
            self.customs.sign(Kind::Held, &[SSCC], self.at(29), no),
            self.customs.sign(
                Kind::Cleared,
                &[SSCC],
                self.at(30),
                With {
                    doc: Some("MRN-26NL0000000000042"),
                    ..no
                },
            ),
            self.tracker.sign(
                Kind::HandedOver,
                &[SSCC],
                self.at(31),
                With {
                    party: Some(WAREHOUSE),
                    ..no
                },
            ),
            self.warehouse.sign(
                Kind::Arrived,
                &[SSCC],
                self.at(33),
                With {
                    place: Some(WAREHOUSE_DOCK),
                    ..no
                },
            ),
        ];
        let mut indexes = vec![];
        for e in ev {
            indexes.push(self.submit(e).await);
        }
        indexes
    }
}
