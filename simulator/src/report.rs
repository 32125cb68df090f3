//! The summary a simulation prints: what the fleet did, what was sent and acknowledged, and
//! which faults it survived.

use std::fmt;
use std::time::Duration;

use provenance_firmware::Report;

use crate::fleet::KINDS;

/// Totals over the fleet.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Plant stations.
    pub stations: usize,
    /// Trackers (one per shipment).
    pub trackers: usize,
    /// Shipments (containers).
    pub shipments: usize,
    /// Items: cells, packs, pallets, containers.
    pub items: u64,
    /// Events the boards signed, by kind (SPEC order).
    pub signed_by_kind: [u64; 15],
    /// Events the boards signed.
    pub signed: u64,
    /// Of those, acknowledged by the ingest (anchored).
    pub acknowledged: u64,
    /// Discarded by full queues and reported in a later event's `dropped`.
    pub dropped: u64,
    /// Still in a board's flash, not acknowledged when the run ended.
    pub unacknowledged: u64,
    /// PUBLISH packets sent (re-sends included).
    pub published: u64,
    /// Rejections the ingest sent back.
    pub rejected: u64,
    /// Transport connections opened.
    pub connections: u64,
    /// Operator events (customs, carrier) signed and anchored.
    pub operator_events: u64,
    /// Power cuts in the middle of a flash write, and the reboots after them.
    pub reboots: u64,
    /// Injected offline spells (besides the sea legs).
    pub offline_spells: u64,
    /// Seals broken at sea.
    pub seal_breaks: u64,
    /// Containers that overheated.
    pub heat_excursions: u64,
    /// Containers dropped.
    pub drops: u64,
    /// Consignments customs held.
    pub holds: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Simulated time covered, Unix ms.
    pub sim_from_ms: u64,
    /// End of simulated time, Unix ms.
    pub sim_to_ms: u64,
    /// A container to look at (one with a broken seal if there is one).
    pub example_container: Option<String>,
    /// A cell in it.
    pub example_cell: Option<String>,
}

impl Summary {
    /// Adds one board's report.
    pub fn add_board(&mut self, r: &Report) {
        for (i, n) in r.counters.by_kind.iter().enumerate() {
            self.signed_by_kind[i] += u64::from(*n);
        }
        self.signed += r.counters.signed;
        self.acknowledged += r.store.acked.min(r.store.last_seq);
        self.dropped += r.store.dropped_total;
        self.unacknowledged += crate::fleet::waiting(r);
        self.published += r.link.published;
        self.rejected += r.link.rejections;
        self.connections += r.link.connects;
    }

    /// Every signed event was acknowledged or reported dropped, and nothing was rejected.
    pub fn complete(&self) -> bool {
        self.unacknowledged == 0 && self.rejected == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.sim_to_ms.saturating_sub(self.sim_from_ms) as f64 / 86_400_000.0;
        writeln!(
            f,
            "fleet       {} boards: {} plant stations, {} trackers; {} shipments, {} items",
            self.stations + self.trackers,
            self.stations,
            self.trackers,
            self.shipments,
            self.items
        )?;
        writeln!(
            f,
            "time        {:.1} simulated days in {:.0} s",
            days,
            self.elapsed.as_secs_f64()
        )?;
        let kinds: Vec<String> = KINDS
            .iter()
            .zip(self.signed_by_kind)
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{} {n}", k.name()))
            .collect();
        writeln!(
            f,
            "signed      {} events by boards: {}",
            self.signed,
            kinds.join(", ")
        )?;
        writeln!(
            f,
            "            {} operator events (customs, carrier), anchored",
            self.operator_events
        )?;
        writeln!(
            f,
            "delivered   {} acknowledged (anchored), {} still unacknowledged, {} dropped and reported, {} rejected",
            self.acknowledged, self.unacknowledged, self.dropped, self.rejected
        )?;
        writeln!(
            f,
            "network     {} publishes ({:.2} per event), {} connections",
            self.published,
            self.published as f64 / self.signed.max(1) as f64,
            self.connections
        )?;
        writeln!(
            f,
            "faults      {} reboots mid-write, {} offline spells (plus every sea leg), {} seals broken, {} overheated, {} dropped, {} held by customs",
            self.reboots,
            self.offline_spells,
            self.seal_breaks,
            self.heat_excursions,
            self.drops,
            self.holds
        )?;
        write!(
            f,
            "verdict     {}",
            if self.complete() {
                "every signed event was acknowledged: nothing lost"
            } else {
                "NOT every event was acknowledged (see above)"
            }
        )
    }
}
