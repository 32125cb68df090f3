//! The journey on an item page, grouped so that a person can read it: the legs (departure to
//! arrival) with their duration and distance, and the routine events (position reports,
//! readings within the limits, the repeats of an excursion episode) folded where they
//! happened. Every event is still on the page, once, in its place: a fold is one click, and
//! `?all=1` opens every fold.
//!
//! The legs and episodes come from the custody summary ([`provenance_custody::summary`]), so
//! the page groups exactly what the rules judged.

use std::collections::{BTreeMap, BTreeSet};

use maud::{Markup, html};
use provenance_custody::rules::TraceEvent;
use provenance_custody::summary::{Leg, crossed};
use provenance_event::{Kind, Quantity};

use super::trace::{Row, View, event, gap, place_short, plural, rows};
use crate::format;

/// Rows outside any leg (`None`), or one leg's (its number and the leg).
type Segment<'a> = (Option<(usize, &'a Leg)>, Vec<Row<'a>>);

/// A run of rows in the grouped journey.
enum Block<'a> {
    One(Row<'a>),
    /// Routine events folded together (two or more).
    Fold(Vec<&'a TraceEvent>),
}

/// The journey section.
pub(super) fn journey(v: &View) -> Markup {
    let members: BTreeSet<u64> = v
        .report
        .excursions
        .iter()
        .flat_map(|ep| ep.indexes.iter().skip(1).copied())
        .collect();
    let departures: BTreeMap<u64, (usize, &Leg)> = v
        .report
        .legs
        .iter()
        .enumerate()
        .map(|(i, l)| (l.departed, (i + 1, l)))
        .collect();
    // Segments: outside a leg (None) or one leg's rows.
    let mut segments: Vec<Segment<'_>> = vec![(None, Vec::new())];
    for row in rows(v) {
        let index = match &row {
            Row::Event(e) => Some(e.index),
            Row::Gap(_) => None,
        };
        if let Some(&(n, leg)) = index.and_then(|i| departures.get(&i)) {
            segments.push((Some((n, leg)), Vec::new()));
        }
        let ends_leg = matches!(
            (segments.last(), index),
            (Some((Some((_, leg)), _)), Some(i)) if leg.arrived == Some(i)
        );
        if let Some((_, rows)) = segments.last_mut() {
            rows.push(row);
        }
        if ends_leg {
            segments.push((None, Vec::new()));
        }
    }
    let routine = |e: &TraceEvent| {
        members.contains(&e.index)
            || (matches!(e.kind, Kind::Located | Kind::Measured)
                && !e.readings.iter().any(|(q, val)| {
                    crossed(*q, *val, &v.report.limits).is_some()
                        || (*q == Quantity::SealClosed && *val == 0)
                }))
    };
    let legs = v.report.legs.len();
    html! {
        section #journey aria-labelledby="journey-h" {
            h2 #journey-h { "Journey" }
            p {
                (plural(v.events.len(), "event"))
                @if legs > 0 { " in " (plural(legs, "leg")) }
                ", oldest first. Times are the devices' clocks, in UTC. Position reports, readings within the limits and the repeats of an excursion are folded where they happened. "
                @if v.all {
                    a href="?#journey" { "Fold routine events" }
                } @else {
                    a.show-all href="?all=1#journey" { "Show every event" }
                }
            }
            ol.timeline {
                @for (leg, rows) in segments {
                    @if rows.is_empty() {
                    } @else if let Some((n, leg)) = leg {
                        li.leg data-departed=(leg.departed) {
                            (leg_head(n, leg, v))
                            ol.leg-events { (blocks(fold(rows, &routine), v)) }
                        }
                    } @else {
                        (blocks(fold(rows, &routine), v))
                    }
                }
            }
        }
    }
}

/// Rows with consecutive routine events folded (a single one stays as it is).
fn fold<'a>(rows: Vec<Row<'a>>, routine: &dyn Fn(&TraceEvent) -> bool) -> Vec<Block<'a>> {
    let mut out: Vec<Block<'a>> = Vec::new();
    let mut run: Vec<&'a TraceEvent> = Vec::new();
    let flush = |run: &mut Vec<&'a TraceEvent>, out: &mut Vec<Block<'a>>| match run.len() {
        0 => {}
        1 => out.push(Block::One(Row::Event(run[0]))),
        _ => out.push(Block::Fold(std::mem::take(run))),
    };
    for row in rows {
        match row {
            Row::Event(e) if routine(e) => run.push(e),
            other => {
                flush(&mut run, &mut out);
                run.clear();
                out.push(Block::One(other));
            }
        }
    }
    flush(&mut run, &mut out);
    out
}

fn blocks(blocks: Vec<Block<'_>>, v: &View) -> Markup {
    html! {
        @for b in blocks {
            @match b {
                Block::One(Row::Event(e)) => (event(e, v)),
                Block::One(Row::Gap(g)) => (gap(g, v)),
                Block::Fold(events) => (folded(&events, v)),
            }
        }
    }
}

/// "12 position reports, 2 readings · 10:00 to 18:00", and the events inside.
fn folded(events: &[&TraceEvent], v: &View) -> Markup {
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    for e in events {
        let word = match e.kind {
            Kind::Located => "position report",
            Kind::Measured => "reading",
            Kind::Excursion => "further excursion report",
            _ => "other event",
        };
        *kinds.entry(word).or_default() += 1;
    }
    let what: Vec<String> = kinds.iter().map(|(w, n)| plural(*n, w)).collect();
    let (first, last) = (
        events.first().map_or(0, |e| e.time_ms),
        events.last().map_or(0, |e| e.time_ms),
    );
    html! {
        li.fold {
            details open[v.all] {
                summary {
                    (what.join(", "))
                    span.small { " · " (format::utc(first)) " to " (format::utc(last)) }
                }
                ol.folded {
                    @for e in events { (event(e, v)) }
                }
            }
        }
    }
}

fn leg_head(n: usize, leg: &Leg, v: &View) -> Markup {
    let fix_at = |index: u64| {
        v.events
            .iter()
            .find(|e| e.index == index)
            .and_then(|e| e.position)
    };
    let from = match (&leg.from_place, fix_at(leg.departed)) {
        (Some(p), _) => place_short(p, v),
        (None, Some(pos)) => html! { (format::position(pos)) },
        (None, None) => html! { "its departure" },
    };
    let to = match (&leg.to_place, leg.arrived.and_then(fix_at), leg.arrived) {
        (_, _, None) => html! { "under way" },
        (Some(p), _, _) => place_short(p, v),
        (None, Some(pos), _) => html! { (format::position(pos)) },
        (None, None, Some(_)) => html! { "arrival" },
    };
    html! {
        div.leg-head {
            h3 { "Leg " (n) ": " (from) " → " (to) }
            p.leg-facts {
                (format::duration(leg.until_ms - leg.from_ms))
                @if leg.arrived.is_none() { " so far" }
                @if leg.fixes > 1 { " · " (format!("{:.0}", leg.km)) " km along " (leg.fixes) " position fixes" }
                " · " (plural(leg.events, "event"))
                @if let Some(h) = &leg.holder { " · in the custody of " (super::trace::holder_words(h, v)) }
            }
        }
    }
}
