//! Inline SVG drawings: the route from GNSS fixes (no map tiles: the server has no internet,
//! and a tile server would learn where every consignment goes) and readings over time against
//! their limits. The arithmetic (projection, scales, ticks) is pure and tested; the markup is
//! maud, so every label is escaped like the rest of the page.

use maud::{Markup, html};

use crate::format;

/// Mean Earth radius per degree of arc, km.
const KM_PER_DEGREE: f64 = 6_371.0 * std::f64::consts::PI / 180.0;

/// Numbers in SVG attributes: one decimal is below a pixel's width.
fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// An equirectangular projection fitted into a `width` × `height` box with `pad` around it:
/// longitudes shrink by the cosine of the mean latitude so a route's shape is true at the
/// scale of a journey (a few thousand km), which is all a clerk needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    cos_lat: f64,
    west: f64,
    north: f64,
    /// Pixels per projected degree.
    scale: f64,
    offset: (f64, f64),
}

impl Projection {
    /// Fits `points` (lat, lon in degrees) into the box, centred, keeping the aspect ratio.
    /// A single point, or points on one spot, get a 0.02° neighbourhood.
    pub fn fit(points: &[(f64, f64)], width: f64, height: f64, pad: f64) -> Self {
        let lats = points.iter().map(|p| p.0);
        let (south, north) = lats.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (south, north) = if south.is_finite() {
            (south, north)
        } else {
            (0.0, 0.0)
        };
        let cos_lat = ((south + north) / 2.0).to_radians().cos().max(0.01);
        let xs = points.iter().map(|p| p.1 * cos_lat);
        let (west, east) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (west, east) = if west.is_finite() {
            (west, east)
        } else {
            (0.0, 0.0)
        };
        let span_x = (east - west).max(0.02);
        let span_y = (north - south).max(0.02);
        let scale = ((width - 2.0 * pad) / span_x).min((height - 2.0 * pad) / span_y);
        // Centre the drawing in the box.
        let offset = (
            (width - (east - west) * scale) / 2.0,
            (height - (north - south) * scale) / 2.0,
        );
        Self {
            cos_lat,
            west,
            north,
            scale,
            offset,
        }
    }

    /// Box coordinates of (lat, lon) in degrees: x grows east, y grows south.
    pub fn project(&self, (lat, lon): (f64, f64)) -> (f64, f64) {
        (
            self.offset.0 + (lon * self.cos_lat - self.west) * self.scale,
            self.offset.1 + (self.north - lat) * self.scale,
        )
    }

    /// Kilometres per box unit (the same in both directions).
    pub fn km_per_unit(&self) -> f64 {
        KM_PER_DEGREE / self.scale
    }
}

/// The largest 1, 2 or 5 × 10ⁿ not above `x` (`x` > 0): round numbers for scale bars and axes.
pub fn nice_floor(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * p)
        .find(|v| *v <= x * (1.0 + 1e-9))
        .unwrap_or(p)
}

/// Evenly spaced round values covering `lo..=hi`, about `count` of them.
pub fn ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let step = nice_floor((hi - lo).abs().max(1e-9) / count.max(1) as f64);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 50 {
        // Avoid "-0.0" and float dust in labels.
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// Round UTC times covering `from..=until` (ms), at most `max` of them, at a step people use
/// (quarter hours up to weeks).
pub fn time_ticks(from: i64, until: i64, max: usize) -> Vec<i64> {
    const MIN: i64 = 60_000;
    const STEPS: [i64; 13] = [
        5 * MIN,
        15 * MIN,
        30 * MIN,
        60 * MIN,
        120 * MIN,
        180 * MIN,
        360 * MIN,
        720 * MIN,
        1_440 * MIN,
        2 * 1_440 * MIN,
        7 * 1_440 * MIN,
        14 * 1_440 * MIN,
        28 * 1_440 * MIN,
    ];
    let span = (until - from).max(1);
    let step = STEPS
        .into_iter()
        .find(|s| span / s < max.max(1) as i64)
        .unwrap_or(span);
    let first = from.div_euclid(step) * step + if from % step == 0 { 0 } else { step };
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= until)
        .take(max.max(1))
        .collect()
}

/// One GNSS fix of the route.
#[derive(Debug, Clone, PartialEq)]
pub struct Fix {
    /// Degrees.
    pub lat: f64,
    /// Degrees.
    pub lon: f64,
    /// Device time, Unix ms.
    pub time_ms: i64,
    /// What happened there (`Departed`, `Customs inspection`); key events are labelled.
    pub label: Option<String>,
    /// A line for the tooltip.
    pub detail: String,
    /// Something went wrong here (an excursion, a broken seal).
    pub alert: bool,
}

const ROUTE_W: f64 = 640.0;
const ROUTE_H: f64 = 360.0;

/// The route as an SVG map: a polyline through the fixes in time order, start and end
/// markers, labels at key events, a scale bar and a north arrow. `None` without fixes.
pub fn route(fixes: &[Fix]) -> Option<Markup> {
    let first = fixes.first()?;
    let last = fixes.last()?;
    let points: Vec<(f64, f64)> = fixes.iter().map(|f| (f.lat, f.lon)).collect();
    let proj = Projection::fit(&points, ROUTE_W, ROUTE_H, 48.0);
    let xy: Vec<(f64, f64)> = points.iter().map(|p| proj.project(*p)).collect();
    let line: Vec<String> = xy
        .iter()
        .map(|(x, y)| format!("{},{}", n(*x), n(*y)))
        .collect();
    let km: f64 = points
        .windows(2)
        .map(|w| {
            provenance_custody::rules::distance_km(
                ((w[0].0 * 1e7) as i32, (w[0].1 * 1e7) as i32),
                ((w[1].0 * 1e7) as i32, (w[1].1 * 1e7) as i32),
            )
        })
        .sum();
    // A scale bar about a quarter of the width.
    let bar_km = nice_floor(proj.km_per_unit() * ROUTE_W / 4.0);
    let bar_len = bar_km / proj.km_per_unit();
    let bar_label = if bar_km >= 1.0 {
        format!("{bar_km:.0} km")
    } else {
        format!("{:.0} m", bar_km * 1000.0)
    };
    let summary = format!(
        "{} GNSS fixes over about {:.0} km, from {} ({}) to {} ({}).",
        fixes.len(),
        km,
        format::position(((first.lat * 1e7) as i32, (first.lon * 1e7) as i32)),
        format::utc(first.time_ms),
        format::position(((last.lat * 1e7) as i32, (last.lon * 1e7) as i32)),
        format::utc(last.time_ms),
    );
    Some(html! {
        svg.route viewBox={"0 0 " (ROUTE_W) " " (ROUTE_H)} role="img"
            aria-labelledby="route-title route-desc" xmlns="http://www.w3.org/2000/svg" {
            title #route-title { "Route drawn from the GNSS fixes" }
            desc #route-desc { (summary) }
            rect.ground x="0" y="0" width=(ROUTE_W) height=(ROUTE_H) {}
            polyline.path points=(line.join(" ")) data-fixes=(fixes.len()) {}
            @for (f, (x, y)) in fixes.iter().zip(&xy) {
                circle.fix.alert[f.alert] cx=(n(*x)) cy=(n(*y)) r=(if f.alert { 6 } else { 4 }) {
                    title { (f.detail) }
                }
            }
            circle.start cx=(n(xy[0].0)) cy=(n(xy[0].1)) r="9" { title { "Start: " (first.detail) } }
            @let (ex, ey) = xy[xy.len() - 1];
            rect.end x=(n(ex - 8.0)) y=(n(ey - 8.0)) width="16" height="16" { title { "End: " (last.detail) } }
            @for (i, (f, (x, y))) in fixes.iter().zip(&xy).enumerate() {
                @if let Some(label) = &f.label {
                    // Labels alternate above and below their point, and flip to the left
                    // near the right edge, so neighbours rarely collide.
                    @let dy = if i % 2 == 0 { -14.0 } else { 22.0 };
                    @let (dx, anchor) = if *x > ROUTE_W * 0.7 { (-12.0, "end") } else { (12.0, "start") };
                    text.label x=(n(x + dx)) y=(n(y + dy)) text-anchor=(anchor) { (label) }
                }
            }
            g.scale transform={"translate(16," (ROUTE_H - 20.0) ")"} {
                line x1="0" y1="0" x2=(n(bar_len)) y2="0" {}
                line x1="0" y1="-5" x2="0" y2="5" {}
                line x1=(n(bar_len)) y1="-5" x2=(n(bar_len)) y2="5" {}
                text x=(n(bar_len / 2.0)) y="-8" text-anchor="middle" { (bar_label) }
            }
            g.north transform={"translate(" (ROUTE_W - 24.0) ",28)"} {
                path d="M0,-14 L6,4 L0,0 L-6,4 Z" {}
                text x="0" y="18" text-anchor="middle" { "N" }
            }
        }
    })
}

/// One reading on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Device time, Unix ms.
    pub time_ms: i64,
    /// In the chart's unit.
    pub value: f64,
    /// Log index of the event.
    pub index: u64,
    /// Outside the limits.
    pub outside: bool,
    /// Reported by the device as an excursion.
    pub reported: bool,
}

/// A quantity over time with its limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart<'a> {
    /// Element ID prefix (unique on the page).
    pub id: &'a str,
    /// `Temperature`.
    pub title: &'a str,
    /// `°C`.
    pub unit: &'a str,
    /// In time order.
    pub samples: Vec<Sample>,
    /// Lowest acceptable value, if any.
    pub low: Option<f64>,
    /// Highest acceptable value, if any.
    pub high: Option<f64>,
    /// The time axis (the whole journey, so charts line up with each other).
    pub span: (i64, i64),
    /// Whether the value axis starts at zero (shock cannot be negative).
    pub from_zero: bool,
}

const CHART_W: f64 = 640.0;
const CHART_H: f64 = 240.0;
const LEFT: f64 = 60.0;
// Room for half of the last time label.
const RIGHT: f64 = 40.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// A linear map from `domain` onto `range`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Input interval.
    pub domain: (f64, f64),
    /// Output interval (may run backwards, as a y axis does).
    pub range: (f64, f64),
}

impl Scale {
    /// Where `v` lands.
    pub fn at(&self, v: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if (d1 - d0).abs() < f64::EPSILON {
            return (r0 + r1) / 2.0;
        }
        r0 + (v - d0) / (d1 - d0) * (r1 - r0)
    }
}

/// The value axis of a chart: data and limits in view, with a margin.
pub fn value_domain(c: &Chart<'_>) -> (f64, f64) {
    let values = c.samples.iter().map(|s| s.value).chain(c.low).chain(c.high);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let margin = ((hi - lo) * 0.08).max(0.5);
    let lo = if c.from_zero {
        0.0_f64.min(lo)
    } else {
        lo - margin
    };
    (lo, hi + margin)
}

/// The chart: the acceptable band shaded, limit lines labelled, readings as a line with dots,
/// readings outside the limits large and red with their value written beside them.
pub fn chart(c: &Chart<'_>) -> Markup {
    let (lo, hi) = value_domain(c);
    let y = Scale {
        domain: (lo, hi),
        range: (CHART_H - BOTTOM, TOP),
    };
    let (t0, t1) = if c.span.1 > c.span.0 {
        c.span
    } else {
        (c.span.0 - 1_800_000, c.span.0 + 1_800_000)
    };
    let x = Scale {
        domain: (t0 as f64, t1 as f64),
        range: (LEFT, CHART_W - RIGHT),
    };
    let pt = |s: &Sample| (x.at(s.time_ms as f64), y.at(s.value));
    let line: Vec<String> = c
        .samples
        .iter()
        .map(|s| {
            let (px, py) = pt(s);
            format!("{},{}", n(px), n(py))
        })
        .collect();
    let outside = c.samples.iter().filter(|s| s.outside).count();
    let value = |v: f64| format!("{v:.1} {}", c.unit);
    let limits = match (c.low, c.high) {
        (Some(l), Some(h)) => format!("acceptable {} to {}", value(l), value(h)),
        (None, Some(h)) => format!("acceptable up to {}", value(h)),
        (Some(l), None) => format!("acceptable from {}", value(l)),
        (None, None) => "no limits".to_string(),
    };
    let (min, max) = c
        .samples
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| {
            (a.min(s.value), b.max(s.value))
        });
    let desc = format!(
        "{} readings, lowest {}, highest {}; {limits}; {outside} outside the limits.",
        c.samples.len(),
        value(min),
        value(max),
    );
    let band_top = y.at(c.high.unwrap_or(hi).min(hi));
    let band_bottom = y.at(c.low.unwrap_or(lo).max(lo));
    let title_id = format!("{}-title", c.id);
    let desc_id = format!("{}-desc", c.id);
    html! {
        svg.chart #(c.id) viewBox={"0 0 " (CHART_W) " " (CHART_H)} role="img"
            aria-labelledby={(title_id) " " (desc_id)} xmlns="http://www.w3.org/2000/svg" {
            title #(title_id) { (c.title) " over time, in " (c.unit) }
            desc #(desc_id) { (desc) }
            @if c.low.is_some() || c.high.is_some() {
                rect.band x=(LEFT) y=(n(band_top)) width=(CHART_W - LEFT - RIGHT)
                    height=(n((band_bottom - band_top).max(0.0))) {}
            }
            @for (i, v) in ticks(lo, hi, 5).into_iter().enumerate() {
                line.grid x1=(LEFT) x2=(CHART_W - RIGHT) y1=(n(y.at(v))) y2=(n(y.at(v))) {}
                text.tick.odd[i % 2 == 1] x=(LEFT - 6.0) y=(n(y.at(v) + 4.0)) text-anchor="end" { (format!("{v}")) }
            }
            @for (i, t) in time_ticks(t0, t1, 6).into_iter().enumerate() {
                @let tx = x.at(t as f64);
                line.grid x1=(n(tx)) x2=(n(tx)) y1=(TOP) y2=(CHART_H - BOTTOM) {}
                // Every other label is `odd`: a narrow screen shows half of them, larger.
                text.tick.odd[i % 2 == 1] x=(n(tx)) y=(CHART_H - BOTTOM + 16.0) text-anchor="middle" { (format::short(t)) }
            }
            text.axis x="14" y=(n((TOP + CHART_H - BOTTOM) / 2.0)) text-anchor="middle"
                transform={"rotate(-90 14 " (n((TOP + CHART_H - BOTTOM) / 2.0)) ")"} { (c.title) " (" (c.unit) ")" }
            text.axis x=(n((LEFT + CHART_W - RIGHT) / 2.0)) y=(CHART_H - 6.0) text-anchor="middle" { "time (UTC)" }
            @for (name, limit) in [("min", c.low), ("max", c.high)] {
                @if let Some(l) = limit {
                    line.limit x1=(LEFT) x2=(CHART_W - RIGHT) y1=(n(y.at(l))) y2=(n(y.at(l))) data-limit=(l) {}
                    text.limit-label x=(CHART_W - RIGHT - 4.0) y=(n(y.at(l) - 5.0))
                        text-anchor="end" { "limit " (name) " " (value(l)) }
                }
            }
            polyline.series points=(line.join(" ")) {}
            @for s in &c.samples {
                @let (px, py) = pt(s);
                circle.sample.outside[s.outside].reported[s.reported]
                    cx=(n(px)) cy=(n(py)) r=(if s.outside { 7 } else { 4 }) data-index=(s.index) {
                    title { (format::utc(s.time_ms)) ": " (value(s.value))
                        @if s.outside { " (outside the limits)" } " · log #" (s.index) }
                }
                @if s.outside {
                    text.outside-label x=(n(px + 10.0)) y=(n(py + 4.0)) { (value(s.value)) }
                }
            }
            line.axis-line x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(CHART_H - BOTTOM) {}
            line.axis-line x1=(LEFT) x2=(CHART_W - RIGHT) y1=(CHART_H - BOTTOM) y2=(CHART_H - BOTTOM) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_fits_centres_and_keeps_shape() {
        // A square of 1° × 1° at the equator is square on screen.
        let pts = [(0.0, 0.0), (1.0, 1.0)];
        let p = Projection::fit(&pts, 400.0, 200.0, 20.0);
        let (x0, y0) = p.project(pts[0]);
        let (x1, y1) = p.project(pts[1]);
        // (cos 0.5° shrinks x by 0.004 %)
        assert!(((x1 - x0) - (y0 - y1)).abs() < 0.05, "square stays square");
        assert!(
            (y0 - y1 - 160.0).abs() < 1e-9,
            "the tall side fills the box"
        );
        assert!(((x0 + x1) / 2.0 - 200.0).abs() < 1e-9, "centred");
        assert!(y1 < y0, "north is up");
        // At 60° N a degree of longitude is half as wide as one of latitude.
        let p = Projection::fit(&[(59.5, 0.0), (60.5, 2.0)], 1000.0, 1000.0, 0.0);
        let (a, _) = p.project((60.0, 0.0));
        let (b, _) = p.project((60.0, 2.0));
        let (_, c) = p.project((59.5, 0.0));
        let (_, d) = p.project((60.5, 0.0));
        assert!(((b - a) - (c - d)).abs() < 1.0, "{} vs {}", b - a, c - d);
        // 1 box unit is km_per_unit km.
        assert!(((c - d) * p.km_per_unit() - KM_PER_DEGREE).abs() < 1e-6);
    }

    #[test]
    fn one_point_is_drawn_in_the_middle() {
        let p = Projection::fit(&[(51.9, 4.4)], 640.0, 360.0, 48.0);
        let (x, y) = p.project((51.9, 4.4));
        assert!(
            (x - 320.0).abs() < 1e-6 && (y - 180.0).abs() < 1e-6,
            "{x},{y}"
        );
    }

    #[test]
    fn round_numbers() {
        assert_eq!(nice_floor(7.3), 5.0);
        assert_eq!(nice_floor(250.0), 200.0);
        assert_eq!(nice_floor(100.0), 100.0);
        assert_eq!(nice_floor(0.034), 0.02);
        assert_eq!(
            ticks(-21.0, 64.0, 5),
            vec![-20.0, -10.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
        );
        assert_eq!(ticks(0.0, 10.5, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[test]
    fn time_ticks_are_round_utc() {
        const H: i64 = 3_600_000;
        let from = 1_700_000_000_000; // 2023-11-14T22:13:20Z
        let t = time_ticks(from, from + 33 * H, 6);
        assert!(t.len() <= 6 && t.len() >= 3, "{t:?}");
        assert!(t.iter().all(|x| x % (6 * H) == 0), "{t:?}");
        assert!(t[0] >= from && *t.last().expect("ticks") <= from + 33 * H);
    }

    #[test]
    fn scales_map_and_flip() {
        let y = Scale {
            domain: (-20.0, 60.0),
            range: (200.0, 0.0),
        };
        assert_eq!(y.at(-20.0), 200.0);
        assert_eq!(y.at(60.0), 0.0);
        assert_eq!(y.at(20.0), 100.0);
    }

    fn sample(t: i64, v: f64, outside: bool) -> Sample {
        Sample {
            time_ms: t,
            value: v,
            index: t as u64,
            outside,
            reported: false,
        }
    }

    #[test]
    fn the_chart_shows_limits_and_marks_readings_outside_them() {
        let c = Chart {
            id: "temperature",
            title: "Temperature",
            unit: "°C",
            samples: vec![sample(0, 21.0, false), sample(10, 71.5, true)],
            low: Some(-20.0),
            high: Some(60.0),
            span: (0, 10),
            from_zero: false,
        };
        assert!(value_domain(&c).1 > 71.5 && value_domain(&c).0 < -20.0);
        let svg = chart(&c).into_string();
        assert_eq!(svg.matches("class=\"limit\"").count(), 2, "{svg}");
        assert!(svg.contains("class=\"sample outside\""), "{svg}");
        assert!(svg.contains("limit max 60.0 °C"), "{svg}");
        assert!(svg.contains("71.5 °C"), "{svg}");
        assert!(svg.contains("1 outside the limits"), "{svg}");
    }

    #[test]
    fn the_route_has_a_line_markers_and_escaped_labels() {
        let fix = |lat: f64, lon: f64, label: Option<&str>| Fix {
            lat,
            lon,
            time_ms: 0,
            label: label.map(str::to_string),
            detail: "<b>".into(),
            alert: false,
        };
        let svg = route(&[
            fix(51.9, 4.4, Some("Departed")),
            fix(52.3, 3.8, None),
            fix(53.9, 2.0, Some("Arrived <script>")),
        ])
        .expect("drawn")
        .into_string();
        assert!(svg.contains("data-fixes=\"3\""), "{svg}");
        assert_eq!(svg.matches("<circle class=\"fix").count(), 3);
        assert!(svg.contains("class=\"start\"") && svg.contains("class=\"end\""));
        assert!(svg.contains("Arrived &lt;script&gt;") && !svg.contains("<script>"));
        assert!(svg.contains(" km</text>"), "scale bar: {svg}");
        assert!(route(&[]).is_none());
    }
}
