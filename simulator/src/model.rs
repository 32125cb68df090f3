//! The physical world the simulated chips read: where a shipment is, how warm its container
//! is, how hard it is shaken, and what a lithium-ion cell's terminal voltage is at a state of
//! charge. Pure functions of simulated time, so a run is reproducible from its seed.

/// A WGS 84 point in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Latitude, north positive.
    pub lat: f64,
    /// Longitude, east positive.
    pub lon: f64,
}

impl Point {
    /// A point at `lat`, `lon` degrees.
    pub const fn new(lat: f64, lon: f64) -> Self {
        Self { lat, lon }
    }

    /// In 1e-7 degrees, as NMEA receivers report and SPEC §3 stores.
    pub fn e7(self) -> (i32, i32) {
        (
            (self.lat * 1e7).round() as i32,
            (self.lon * 1e7).round() as i32,
        )
    }
}

/// Great-circle distance in metres (haversine; plenty for a tracker's "every M metres").
pub fn distance_m(a: Point, b: Point) -> f64 {
    const R: f64 = 6_371_000.0;
    let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
    let dp = p2 - p1;
    let dl = (b.lon - a.lon).to_radians();
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().asin()
}

/// A path through waypoints, travelled at constant speed between a start and an end time.
#[derive(Debug, Clone)]
pub struct Leg {
    /// The waypoints, first to last.
    pub path: &'static [Point],
    /// Simulated time of departure, Unix ms.
    pub from_ms: u64,
    /// Simulated time of arrival, Unix ms.
    pub until_ms: u64,
}

impl Leg {
    /// Length of the path in metres.
    pub fn length_m(&self) -> f64 {
        self.path.windows(2).map(|w| distance_m(w[0], w[1])).sum()
    }

    /// Where the shipment is at `t` (clamped to the ends).
    pub fn position(&self, t: u64) -> Point {
        let (Some(&first), Some(&last)) = (self.path.first(), self.path.last()) else {
            return Point::new(0.0, 0.0);
        };
        if t <= self.from_ms || self.until_ms <= self.from_ms {
            return first;
        }
        if t >= self.until_ms {
            return last;
        }
        let share = (t - self.from_ms) as f64 / (self.until_ms - self.from_ms) as f64;
        let mut left = share * self.length_m();
        for w in self.path.windows(2) {
            let d = distance_m(w[0], w[1]);
            if left <= d && d > 0.0 {
                let f = left / d;
                return Point::new(
                    w[0].lat + f * (w[1].lat - w[0].lat),
                    w[0].lon + f * (w[1].lon - w[0].lon),
                );
            }
            left -= d;
        }
        last
    }
}

/// The route of the simulated journey: a cell plant in Thuringia, by road to the port of
/// Hamburg, by sea to Felixstowe (UK customs), by road to a warehouse in the Midlands.
pub mod route {
    use super::Point;

    /// The cell plant (Arnstadt, Thuringia).
    pub const PLANT: Point = Point::new(50.8350, 10.9460);
    /// By road from the plant to Hamburg's container terminal.
    pub const ROAD_TO_PORT: &[Point] = &[
        PLANT,
        Point::new(51.0, 10.3),
        Point::new(51.3127, 9.4797),
        Point::new(52.3759, 9.7320),
        Point::new(53.2, 10.0),
        Point::new(53.5330, 9.9350),
    ];
    /// Down the Elbe, across the North Sea, into Felixstowe.
    pub const SEA: &[Point] = &[
        Point::new(53.5330, 9.9350),
        Point::new(53.8700, 8.7000),
        Point::new(54.0000, 7.0000),
        Point::new(53.5000, 4.5000),
        Point::new(52.2000, 2.6000),
        Point::new(51.9540, 1.3250),
    ];
    /// From Felixstowe to the warehouse near Coventry.
    pub const ROAD_TO_WAREHOUSE: &[Point] = &[
        Point::new(51.9540, 1.3250),
        Point::new(52.0567, 1.1482),
        Point::new(52.2053, 0.1218),
        Point::new(52.3, -0.7),
        Point::new(52.4068, -1.5197),
    ];
}

/// A small deterministic generator (SplitMix64): reproducible runs without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// Open-circuit voltage of an NMC lithium-ion cell at a state of charge (‰), in mV: the
/// steep knee below 10 %, the long plateau, the rise towards 4.2 V when full.
pub fn cell_voltage_mv(soc_permille: u16) -> u32 {
    const CURVE: [(f64, f64); 8] = [
        (0.0, 3000.0),
        (50.0, 3420.0),
        (100.0, 3560.0),
        (200.0, 3630.0),
        (400.0, 3710.0),
        (600.0, 3820.0),
        (800.0, 3970.0),
        (1000.0, 4180.0),
    ];
    let s = f64::from(soc_permille.min(1000));
    for w in CURVE.windows(2) {
        let ((s0, v0), (s1, v1)) = (w[0], w[1]);
        if s <= s1 {
            return (v0 + (s - s0) / (s1 - s0) * (v1 - v0)).round() as u32;
        }
    }
    4180
}

/// Inside a dry container (m°C) at simulated time `t`: a daily swing around `base_c`, the
/// heat of a quay in the afternoon, and `excursion` — a heat wave or a failed reefer —
/// pushing it to `peak_c` while it lasts.
pub fn container_temperature_mc(t: u64, base_c: f64, excursion: Option<(u64, u64, f64)>) -> i32 {
    let day = (t % 86_400_000) as f64 / 86_400_000.0;
    // Warmest at 15:00 UTC, coolest at 03:00.
    let swing = 3.0 * (std::f64::consts::TAU * (day - 0.375)).sin();
    let mut c = base_c + swing;
    if let Some((from, until, peak)) = excursion {
        if t >= from && t < until {
            // Rises over the first hour, then holds.
            let f = ((t - from) as f64 / 3_600_000.0).min(1.0);
            c += f * (peak - c);
        }
    }
    (c * 1000.0).round() as i32
}

/// Peak acceleration (mg, magnitude including gravity) a tracker feels in a sample period,
/// by what is happening: standing, on a truck, at sea, or being lifted by a crane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    /// Standing in a yard or warehouse.
    Still,
    /// On a truck: road vibration.
    Road,
    /// On a ship: slow roll, the odd slam.
    Sea,
    /// Lifted and set down by a crane or straddle carrier.
    Crane,
    /// Dropped (a fault): a hard landing.
    Drop,
}

impl Motion {
    /// The acceleration vector (x, y, z in mg) for one sample.
    pub fn acceleration_mg(self, rng: &mut Rng) -> (i32, i32, i32) {
        let (lateral, vertical) = match self {
            Motion::Still => (20.0, 20.0),
            Motion::Road => (250.0, 400.0),
            Motion::Sea => (300.0, 250.0),
            Motion::Crane => (900.0, 1300.0),
            Motion::Drop => (3500.0, 7000.0),
        };
        (
            rng.range(-lateral, lateral) as i32,
            rng.range(-lateral, lateral) as i32,
            1000 + rng.range(-vertical, vertical) as i32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_is_the_length_of_a_real_journey() {
        let road = Leg {
            path: route::ROAD_TO_PORT,
            from_ms: 0,
            until_ms: 1,
        };
        let sea = Leg {
            path: route::SEA,
            from_ms: 0,
            until_ms: 1,
        };
        // Arnstadt to Hamburg is about 370 km along these waypoints (400 by road), Hamburg to
        // Felixstowe some 650 km
        // by sea.
        assert!(
            (330_000.0..480_000.0).contains(&road.length_m()),
            "{}",
            road.length_m()
        );
        assert!(
            (560_000.0..760_000.0).contains(&sea.length_m()),
            "{}",
            sea.length_m()
        );
    }

    #[test]
    fn positions_move_along_the_path_and_stop_at_its_ends() {
        let leg = Leg {
            path: route::SEA,
            from_ms: 1_000,
            until_ms: 11_000,
        };
        assert_eq!(leg.position(0), route::SEA[0]);
        assert_eq!(leg.position(20_000), *route::SEA.last().expect("end"));
        let mid = leg.position(6_000);
        let to_start = distance_m(route::SEA[0], mid);
        assert!((to_start - leg.length_m() / 2.0).abs() < leg.length_m() * 0.25);
        // Monotonic progress along the path.
        let mut last = 0.0;
        for t in (1_000..=11_000).step_by(500) {
            let d = distance_m(route::SEA[0], leg.position(t));
            assert!(d + 1_000.0 >= last, "went back at {t}");
            last = last.max(d);
        }
    }

    #[test]
    fn cell_voltage_follows_the_discharge_curve() {
        assert_eq!(cell_voltage_mv(0), 3000);
        assert_eq!(cell_voltage_mv(1000), 4180);
        assert!((3600..3700).contains(&cell_voltage_mv(300)));
        let mut last = 0;
        for soc in (0..=1000).step_by(10) {
            let v = cell_voltage_mv(soc);
            assert!(v >= last, "monotonic");
            last = v;
        }
    }

    #[test]
    fn container_temperature_swings_daily_and_follows_an_excursion() {
        let day = 86_400_000;
        let cold = container_temperature_mc(3 * 3_600_000, 18.0, None);
        let warm = container_temperature_mc(15 * 3_600_000, 18.0, None);
        assert!(warm > cold + 5_000, "{cold} {warm}");
        let ex = Some((day, day + 4 * 3_600_000, 41.0));
        assert!(container_temperature_mc(day + 2 * 3_600_000, 18.0, ex) > 40_000);
        assert!(container_temperature_mc(day + 5 * 3_600_000, 18.0, ex) < 25_000);
    }

    #[test]
    fn a_drop_is_a_shock_a_road_is_not() {
        let mut rng = Rng::new(1);
        let peak = |m: Motion, rng: &mut Rng| {
            (0..200)
                .map(|_| {
                    let (x, y, z) = m.acceleration_mg(rng);
                    ((x * x + y * y + z * z) as f64).sqrt()
                })
                .fold(0.0, f64::max)
        };
        assert!(peak(Motion::Road, &mut rng) < 2_000.0);
        assert!(peak(Motion::Drop, &mut rng) > 4_000.0);
    }
}
