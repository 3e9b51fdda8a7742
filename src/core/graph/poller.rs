//! The Graph incident poller (`/security/incidents`): the Sentinel poller's
//! contract (stateless, an opaque versioned cursor, each incident version
//! delivered once as `created`, `updated` or `merged`) over an API that
//! pages by `$skip` and documents no `$orderby`.
//!
//! Why it reads in time slices: with `$skip` paging, an incident that
//! changes mid-walk moves, and the items behind it shift a place, so a walk
//! of many pages can skip an incident it never sees again. So a poll never
//! walks pages. It reads `lastUpdateDateTime` in slices `[from, to)` small
//! enough to come back in one page of 50 — a single answer, so consistent —
//! halving a slice whose answer has a next page and doubling the next one
//! after a sparse answer. The last slice is open-ended. A change during the
//! poll only moves an incident to a later time, which this or the next poll
//! reads. Order is never needed, so none is asked for.
//!
//! - The watermark is the latest `lastUpdateDateTime` read (a service time;
//!   the host's clock only shapes slices). Each poll re-reads from the
//!   watermark minus the look-back (default 15 minutes: Defender documents
//!   up to 10 minutes before an incident appears or its coalesced update
//!   lands), and the cursor remembers each version delivered inside it.
//! - An incident is `created` when first seen with `createdDateTime` inside
//!   the window, `merged` once when seen `redirected`, else `updated`.
//! - More than 50 incidents on one microsecond cannot be split: that slice
//!   is walked page by page twice and the two read together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::security::{GraphIncident, GraphIncidentStatus, GraphSeverity};
use crate::core::cursor;
use crate::core::error::Error;
use crate::core::sentinel::poller::{format_time, parse_time, EventKind, MAX_EVENTS, MAX_TIME_MICROS};

const CURSOR_PREFIX: &str = "gp1.";
/// Covers Defender's documented 5 to 10 minutes of coalescing and late appearance.
pub const DEFAULT_LOOK_BACK_SECS: u32 = 900;
pub const DEFAULT_MAX_EVENTS: u32 = 100;
/// Graph's documented page maximum for incidents.
pub const PAGE_SIZE: u32 = super::security::MAX_INCIDENTS_TOP;
/// Requests one poll makes for its lists at most; the rest waits for the next.
pub const MAX_POLL_REQUESTS: u32 = 500;
/// How many incidents a slice is sized to hold: under a page, so a slice
/// that grew a little since it was sized still fits.
const TARGET_PER_SLICE: u64 = 40;
/// The first slice tried after an open-ended read overflows.
const FIRST_SPAN_MICROS: i64 = 60 * 60 * 1_000_000;
/// A slice never spans more than this (about 30 days).
const MAX_SPAN_MICROS: i64 = 30 * 24 * 60 * 60 * 1_000_000;

/// Options of a Graph poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphPollOptions {
    /// RFC 3339; incidents created before it are never delivered. None: now.
    pub first_fetch: Option<String>,
    pub look_back_secs: Option<u32>,
    pub max_events: Option<u32>,
    pub include_updates: bool,
    /// No `merged` events: a redirected incident is an ordinary update.
    pub ignore_merges: bool,
    pub min_severity: Option<GraphSeverity>,
    /// Empty: any. `merged` events come whatever the statuses.
    pub statuses: Vec<GraphIncidentStatus>,
    /// Also read each event's alerts with their evidence.
    pub include_alerts: bool,
    /// With `include_alerts`: reads in flight at once (1 to 16, default 8).
    pub detail_concurrency: Option<u8>,
}

/// One event of a Graph poll.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphEvent {
    pub kind: EventKind,
    /// With `include_alerts`, its `alerts` are filled.
    pub incident: GraphIncident,
    /// For `merged`: the Defender ids from this incident through each
    /// `redirectIncidentId` to the last, where its alerts are now.
    pub merge_chain: Vec<String>,
    /// For `merged`: why the chain could not be followed to its end.
    pub merge_error: Option<Error>,
    /// With `include_alerts`: why its alerts could not be read.
    pub details_error: Option<Error>,
}

pub struct GraphPollBatch {
    pub events: Vec<GraphEvent>,
    pub cursor: String,
    /// The latest `lastUpdateDateTime` read, RFC 3339.
    pub watermark: String,
    /// The batch filled or the poll's request budget ran out: poll again soon.
    pub more: bool,
}

/// What a poll keeps: the watermark, and the versions delivered (and the
/// merges) inside the look-back window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    start: i64,
    mark: i64,
    seen: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    merged: BTreeMap<String, i64>,
    /// Everything updated before this was read by an answer dated at least
    /// a look-back later: nothing can still appear there, so a poll need not
    /// re-read it (a backlog drains without re-reading its window each poll).
    #[serde(default)]
    settled: i64,
}

impl Cursor {
    pub fn first(start_micros: i64) -> Self {
        Cursor {
            start: start_micros,
            mark: start_micros,
            seen: BTreeMap::new(),
            merged: BTreeMap::new(),
            settled: start_micros,
        }
    }

    pub fn encode(&self) -> String {
        cursor::encode(CURSOR_PREFIX, self)
    }

    /// A saved cursor, refused unless this poller wrote it (an `sp1.` cursor
    /// of the Sentinel poller is refused by its prefix).
    pub fn decode(text: &str) -> Result<Cursor, Error> {
        let cursor: Cursor = cursor::decode(CURSOR_PREFIX, text)?;
        let times = [cursor.start, cursor.mark, cursor.settled].into_iter().chain(cursor.seen.values().copied());
        if !times.chain(cursor.merged.values().copied()).all(|time| (0..=MAX_TIME_MICROS).contains(&time)) {
            return Err(cursor::refuse("is corrupt (a time outside 1970 to 9999)"));
        }
        if cursor.mark < cursor.start {
            return Err(cursor::refuse("is corrupt (the watermark is before its start)"));
        }
        Ok(cursor)
    }

    pub fn watermark_micros(&self) -> i64 {
        self.mark
    }

    fn window_start(&self, look_back: i64) -> i64 {
        self.start.max(self.mark.saturating_sub(look_back))
    }
}

pub fn validate(options: &GraphPollOptions) -> Result<(), Error> {
    if let Some(max) = options.max_events {
        if !(1..=MAX_EVENTS).contains(&max) {
            return Err(Error::invalid("max-events", format!("{max} is outside 1 to {MAX_EVENTS}")));
        }
    }
    if let Some(first) = &options.first_fetch {
        parse_time(first).map_err(|reason| Error::invalid("first-fetch", reason))?;
    }
    if let Some(GraphSeverity::Other(text)) = &options.min_severity {
        return Err(Error::invalid("min-severity", format!("'{text}' is not a Graph severity")));
    }
    if let Some(GraphIncidentStatus::Other(text)) =
        options.statuses.iter().find(|s| matches!(s, GraphIncidentStatus::Other(_)))
    {
        return Err(Error::invalid("statuses", format!("'{text}' is not a Graph incident status")));
    }
    crate::core::sentinel::poller::validate_concurrency(options.detail_concurrency)
}

pub fn detail_concurrency(options: &GraphPollOptions) -> usize {
    usize::from(options.detail_concurrency.unwrap_or(crate::core::sentinel::poller::DEFAULT_DETAIL_CONCURRENCY))
}

/// The cursor a poll starts from: the saved one, or a first one at
/// `first_fetch` (else `now`).
pub fn starting_cursor(saved: Option<&str>, options: &GraphPollOptions, now_micros: i64) -> Result<Cursor, Error> {
    if let Some(text) = saved {
        return Cursor::decode(text);
    }
    let start = match &options.first_fetch {
        Some(text) => parse_time(text).map_err(|reason| Error::invalid("first-fetch", reason))?,
        None => now_micros,
    };
    Ok(Cursor::first(start))
}

/// A range of `lastUpdateDateTime`: `[from, to)`, or from on when `to` is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub from: i64,
    pub to: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Continue,
    BatchFull,
}

/// One poll in progress: it names the next slice to read, and takes each
/// slice's incidents whole.
pub struct Scan<'a> {
    options: &'a GraphPollOptions,
    cursor: Cursor,
    /// The window's start: versions delivered from here on are remembered.
    window: i64,
    look_back: i64,
    next: i64,
    /// Whether every slice so far was settled by its answer's date.
    settling: bool,
    span: i64,
    /// The host's clock when the poll began (pushed later when incidents
    /// are newer): a slice reaching past it is open-ended.
    horizon: i64,
    done: bool,
    events: Vec<GraphEvent>,
    max_events: usize,
}

impl<'a> Scan<'a> {
    pub fn new(cursor: Cursor, options: &'a GraphPollOptions, now_micros: i64) -> Scan<'a> {
        let look_back = look_back(options);
        let window = cursor.window_start(look_back);
        Scan {
            options,
            window,
            look_back,
            next: window.max(cursor.settled),
            settling: true,
            span: MAX_SPAN_MICROS,
            horizon: now_micros,
            done: false,
            events: Vec::new(),
            max_events: options.max_events.unwrap_or(DEFAULT_MAX_EVENTS) as usize,
            cursor,
        }
    }

    /// The slice to read next; none when the poll has read up to now.
    pub fn next_slice(&self) -> Option<Slice> {
        if self.done {
            return None;
        }
        let to = self.next.saturating_add(self.span);
        Some(Slice { from: self.next, to: (to <= self.horizon).then_some(to) })
    }

    /// The slice's `$filter`, with the severity and status filters.
    pub fn filter(&self, slice: Slice) -> String {
        let mut clauses = vec![format!("lastUpdateDateTime ge {}", format_time(slice.from))];
        if let Some(to) = slice.to {
            clauses.push(format!("lastUpdateDateTime lt {}", format_time(to)));
        }
        clauses.push(format!("createdDateTime ge {}", format_time(self.cursor.start)));
        let severities = severities_at_least(self.options.min_severity.as_ref());
        if !severities.is_empty() {
            clauses.push(any_of("severity", severities.iter().map(GraphSeverity::as_str)));
        }
        let statuses = self.statuses_read();
        if !statuses.is_empty() {
            clauses.push(any_of("status", statuses.iter().map(GraphIncidentStatus::as_str)));
        }
        clauses.join(" and ")
    }

    /// The statuses asked for, and `redirected` for the merges.
    fn statuses_read(&self) -> Vec<GraphIncidentStatus> {
        let mut statuses = self.options.statuses.clone();
        if !statuses.is_empty() && !self.options.ignore_merges && !statuses.contains(&GraphIncidentStatus::Redirected) {
            statuses.push(GraphIncidentStatus::Redirected);
        }
        statuses
    }

    /// The slice's answer had a next page: split it, to the share of the
    /// slice that should hold [`TARGET_PER_SLICE`] of its `count` incidents
    /// (Graph's `@odata.count`), else in half. False when it cannot be split
    /// (one microsecond): then read it whole, page by page.
    pub fn overflowed(&mut self, slice: Slice, count: Option<u64>) -> bool {
        let width = match slice.to {
            Some(to) => to - slice.from,
            None if self.horizon > slice.from => self.horizon - slice.from,
            None => FIRST_SPAN_MICROS.min(self.span),
        };
        if width <= 1 {
            return false;
        }
        let share = match count {
            Some(count) if count > 0 => scale(width, TARGET_PER_SLICE, count),
            _ => width / 2,
        };
        self.span = share.clamp(1, width / 2);
        self.horizon = self.horizon.max(slice.from.saturating_add(width));
        true
    }

    /// A slice's incidents, all of them: offered oldest change first.
    /// `served_at` is the answer's `Date` (the service's clock), if it sent one.
    pub fn read_whole(
        &mut self,
        slice: Slice,
        mut incidents: Vec<GraphIncident>,
        served_at: Option<i64>,
    ) -> Result<Progress, Error> {
        let mut timed = Vec::with_capacity(incidents.len());
        for incident in incidents.drain(..) {
            let updated =
                incident_time(&incident, incident.fields.last_update_date_time.as_deref(), "lastUpdateDateTime")?;
            timed.push((updated, incident));
        }
        timed.sort_by(|a, b| (a.0, &a.1.fields.id).cmp(&(b.0, &b.1.fields.id)));
        let read = timed.len() as u64;
        for (updated, incident) in timed {
            if self.offer(updated, incident)? == Progress::BatchFull {
                return Ok(Progress::BatchFull);
            }
        }
        self.settle(slice, served_at);
        match slice.to {
            None => self.done = true,
            Some(to) => {
                self.next = to;
                // Sized for the next slice to hold about as many: at most four times wider.
                let wider = scale(self.span, TARGET_PER_SLICE, read.max(1));
                self.span = wider.clamp(1, self.span.saturating_mul(4).min(MAX_SPAN_MICROS));
            }
        }
        Ok(Progress::Continue)
    }

    /// A slice read whole at `served_at` settles what is a look-back older
    /// than that, as long as every slice before it in this poll did.
    fn settle(&mut self, slice: Slice, served_at: Option<i64>) {
        let Some(settled_to) = served_at.map(|at| at.saturating_sub(self.look_back)) else {
            self.settling = false;
            return;
        };
        if !self.settling || settled_to < slice.from {
            self.settling = false;
            return;
        }
        let end = slice.to.map_or(settled_to, |to| to.min(settled_to));
        self.cursor.settled = self.cursor.settled.max(end);
        self.settling = slice.to == Some(end);
    }

    fn offer(&mut self, updated: i64, incident: GraphIncident) -> Result<Progress, Error> {
        let created = incident_time(&incident, incident.fields.created_date_time.as_deref(), "createdDateTime")?;
        self.cursor.mark = self.cursor.mark.max(updated);
        if created < self.cursor.start {
            return Ok(Progress::Continue);
        }
        let Some(kind) = self.kind_of(&incident, created, updated) else { return Ok(Progress::Continue) };
        if !self.selected(kind, &incident) {
            return Ok(Progress::Continue);
        }
        self.events.push(GraphEvent {
            kind,
            incident,
            merge_chain: Vec::new(),
            merge_error: None,
            details_error: None,
        });
        Ok(if self.events.len() >= self.max_events { Progress::BatchFull } else { Progress::Continue })
    }

    /// The event this version is, if it is one, remembered as delivered.
    fn kind_of(&mut self, incident: &GraphIncident, created: i64, updated: i64) -> Option<EventKind> {
        let id = &incident.fields.id;
        let cursor = &mut self.cursor;
        if cursor.seen.get(id).is_some_and(|version| *version >= updated) {
            return None;
        }
        let redirected = incident.fields.status == Some(GraphIncidentStatus::Redirected);
        let merge = redirected && !self.options.ignore_merges && !cursor.merged.contains_key(id);
        // Created before the window: its creation was delivered by an earlier poll.
        let known = cursor.seen.contains_key(id) || created < self.window;
        let kind = if merge {
            cursor.merged.insert(id.clone(), updated);
            EventKind::Merged
        } else if !known {
            EventKind::Created
        } else if self.options.include_updates {
            EventKind::Updated
        } else {
            return None;
        };
        cursor.seen.insert(id.clone(), updated);
        Some(kind)
    }

    /// The filters, checked here too: a service that ignored them would not
    /// leak incidents. A merge comes whatever the statuses polled.
    fn selected(&self, kind: EventKind, incident: &GraphIncident) -> bool {
        let fields = &incident.fields;
        let severities = severities_at_least(self.options.min_severity.as_ref());
        let severity_ok = severities.is_empty() || fields.severity.as_ref().is_some_and(|s| severities.contains(s));
        let status_ok = kind == EventKind::Merged
            || self.options.statuses.is_empty()
            || fields.status.as_ref().is_some_and(|s| self.options.statuses.contains(s));
        severity_ok && status_ok
    }

    pub fn options(&self) -> &GraphPollOptions {
        self.options
    }

    /// The events and the cursor to save, with what is older than the next
    /// window forgotten.
    pub fn finish(mut self) -> (Vec<GraphEvent>, Cursor) {
        let window = self.cursor.window_start(look_back(self.options));
        self.cursor.seen.retain(|_, version| *version >= window);
        self.cursor.merged.retain(|_, version| *version >= window);
        (self.events, self.cursor)
    }
}

/// `width * part / whole`, without overflow.
fn scale(width: i64, part: u64, whole: u64) -> i64 {
    let scaled = i128::from(width) * i128::from(part) / i128::from(whole.max(1));
    i64::try_from(scaled).unwrap_or(i64::MAX)
}

fn look_back(options: &GraphPollOptions) -> i64 {
    i64::from(options.look_back_secs.unwrap_or(DEFAULT_LOOK_BACK_SECS)) * 1_000_000
}

fn severities_at_least(min: Option<&GraphSeverity>) -> Vec<GraphSeverity> {
    let ladder = [GraphSeverity::High, GraphSeverity::Medium, GraphSeverity::Low, GraphSeverity::Informational];
    match min {
        None | Some(GraphSeverity::Unknown) | Some(GraphSeverity::Informational) => Vec::new(),
        Some(min) => match ladder.iter().position(|s| s == min) {
            Some(rank) => ladder[..=rank].to_vec(),
            None => Vec::new(),
        },
    }
}

fn any_of<'a>(field: &str, values: impl Iterator<Item = &'a str>) -> String {
    let terms: Vec<String> = values.map(|v| format!("{field} eq '{}'", v.replace('\'', "''"))).collect();
    format!("({})", terms.join(" or "))
}

fn incident_time(incident: &GraphIncident, value: Option<&str>, field: &str) -> Result<i64, Error> {
    let id = &incident.fields.id;
    let text = value.ok_or_else(|| Error::invalid_response(format!("Graph incident {id} has no {field}")))?;
    parse_time(text).map_err(|reason| Error::invalid_response(format!("Graph incident {id}: {field} {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::graph::security::IncidentFields;

    const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
    const SECOND: i64 = 1_000_000;

    fn incident(id: u32, created: i64, updated: i64) -> GraphIncident {
        GraphIncident {
            fields: IncidentFields {
                id: id.to_string(),
                status: Some(GraphIncidentStatus::Active),
                severity: Some(GraphSeverity::High),
                created_date_time: Some(format_time(created)),
                last_update_date_time: Some(format_time(updated)),
                ..IncidentFields::default()
            },
            alerts: Vec::new(),
            raw: String::new(),
        }
    }

    fn updated(incident: &GraphIncident) -> i64 {
        parse_time(incident.fields.last_update_date_time.as_deref().unwrap()).unwrap()
    }

    fn touch(incident: &mut GraphIncident, at: i64) {
        incident.fields.last_update_date_time = Some(format_time(at));
    }

    fn redirect(incident: &mut GraphIncident, to: u32, at: i64) {
        incident.fields.status = Some(GraphIncidentStatus::Redirected);
        incident.fields.redirect_incident_id = Some(to.to_string());
        touch(incident, at);
    }

    /// A service as Graph documents it: a filter on lastUpdateDateTime, at
    /// most 50 a page, in no useful order (here: reversed by id). `between`
    /// runs before each answer, to change the store mid-poll.
    struct Service {
        incidents: Vec<GraphIncident>,
        requests: usize,
    }

    impl Service {
        fn answer(&mut self, slice: Slice) -> (Vec<GraphIncident>, bool) {
            self.requests += 1;
            let mut selected: Vec<GraphIncident> = self
                .incidents
                .iter()
                .filter(|i| updated(i) >= slice.from && slice.to.is_none_or(|to| updated(i) < to))
                .cloned()
                .collect();
            selected.sort_by(|a, b| b.fields.id.cmp(&a.fields.id));
            let more = selected.len() > PAGE_SIZE as usize;
            (selected, more)
        }
    }

    fn poll_with(
        cursor: Cursor,
        options: &GraphPollOptions,
        now: i64,
        service: &mut Service,
        mut between: impl FnMut(&mut Service, Slice),
    ) -> (Vec<(EventKind, String)>, Cursor, bool) {
        let mut scan = Scan::new(cursor, options, now);
        let mut full = false;
        while let Some(slice) = scan.next_slice() {
            between(service, slice);
            let (all, more) = service.answer(slice);
            if more && scan.overflowed(slice, Some(all.len() as u64)) {
                continue;
            }
            if scan.read_whole(slice, all, Some(now)).unwrap() == Progress::BatchFull {
                full = true;
                break;
            }
        }
        let (events, cursor) = scan.finish();
        (events.into_iter().map(|e| (e.kind, e.incident.fields.id)).collect(), cursor, full)
    }

    fn poll(
        cursor: Cursor,
        options: &GraphPollOptions,
        now: i64,
        service: &mut Service,
    ) -> (Vec<(EventKind, String)>, Cursor, bool) {
        poll_with(cursor, options, now, service, |_, _| {})
    }

    fn created(ids: impl IntoIterator<Item = u32>) -> Vec<(EventKind, String)> {
        ids.into_iter().map(|id| (EventKind::Created, id.to_string())).collect()
    }

    #[test]
    fn a_backlog_drains_in_batches_each_incident_once() {
        // 5,000 incidents over ten minutes, many sharing a second.
        let incidents: Vec<GraphIncident> = (1..=5000)
            .map(|id| incident(id, T0 + i64::from(id / 9) * SECOND / 8, T0 + i64::from(id / 9) * SECOND / 8))
            .collect();
        let mut service = Service { incidents, requests: 0 };
        let options = GraphPollOptions { max_events: Some(1000), ..GraphPollOptions::default() };
        let mut cursor = Cursor::first(T0);
        let mut delivered = std::collections::BTreeSet::new();
        for round in 0.. {
            assert!(round < 20, "drains");
            let (events, next, more) = poll(cursor, &options, T0 + 3600 * SECOND, &mut service);
            for (kind, id) in events {
                assert_eq!(kind, EventKind::Created);
                assert!(delivered.insert(id.clone()), "{id} delivered twice");
            }
            cursor = next;
            if !more {
                break;
            }
        }
        assert_eq!(delivered.len(), 5000);
        // About one request per 40 incidents: settled slices are not re-read.
        assert!(service.requests < 200, "{} requests", service.requests);
        let (events, _, _) = poll(cursor, &options, T0 + 3600 * SECOND, &mut service);
        assert!(events.is_empty());
    }

    #[test]
    fn more_than_a_page_on_one_microsecond_is_read_whole() {
        let mut service =
            Service { incidents: (1..=120).map(|id| incident(id, T0, T0 + SECOND)).collect(), requests: 0 };
        let mut scan_options = GraphPollOptions { max_events: Some(5000), ..GraphPollOptions::default() };
        scan_options.look_back_secs = Some(60);
        let mut scan = Scan::new(Cursor::first(T0), &scan_options, T0 + 60 * SECOND);
        let mut events = 0;
        while let Some(slice) = scan.next_slice() {
            let (all, more) = service.answer(slice);
            if more && scan.overflowed(slice, Some(all.len() as u64)) {
                continue;
            }
            if more {
                assert_eq!(slice.to.map(|to| to - slice.from), Some(1), "split down to one microsecond");
            }
            scan.read_whole(slice, all, Some(T0 + 60 * SECOND)).unwrap();
        }
        events += scan.finish().0.len();
        assert_eq!(events, 120);
    }

    #[test]
    fn a_change_mid_poll_is_neither_lost_nor_doubled() {
        let mut incidents: Vec<GraphIncident> =
            (1..=200).map(|id| incident(id, T0 + i64::from(id) * SECOND, T0 + i64::from(id) * SECOND)).collect();
        incidents[0].fields.id = "1".into();
        let mut service = Service { incidents, requests: 0 };
        let options = GraphPollOptions { include_updates: true, max_events: Some(5000), ..GraphPollOptions::default() };
        let now = T0 + 300 * SECOND;
        let mut changed = false;
        // Once incident 1 is read and 150 is not yet, both change.
        let (events, cursor, _) = poll_with(Cursor::first(T0), &options, now, &mut service, |service, slice| {
            let between = |at: i64| slice.from > at && slice.from < T0 + 150 * SECOND;
            if !changed && between(T0 + 10 * SECOND) {
                changed = true;
                touch(&mut service.incidents[0], now + SECOND);
                touch(&mut service.incidents[149], now + SECOND);
            }
        });
        assert!(changed);
        let mut ids: Vec<&str> = events.iter().map(|(_, id)| id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 200, "every incident, once created");
        let updates: Vec<&(EventKind, String)> = events.iter().filter(|(k, _)| *k == EventKind::Updated).collect();
        assert!(updates.len() <= 1, "{updates:?}");
        let (again, _, _) = poll(cursor, &options, now + 2 * SECOND, &mut service);
        let all_updates = updates.len() + again.iter().filter(|(k, _)| *k == EventKind::Updated).count();
        assert_eq!(all_updates, 1, "incident 1's change once; 150's new time was its first sight: {again:?}");
        assert!(again.iter().all(|(k, _)| *k == EventKind::Updated));
    }

    #[test]
    fn a_late_arrival_inside_the_look_back_is_delivered_once() {
        let mut service = Service { incidents: vec![incident(1, T0 + 600 * SECOND, T0 + 600 * SECOND)], requests: 0 };
        let options = GraphPollOptions::default();
        let (events, cursor, _) = poll(Cursor::first(T0), &options, T0 + 700 * SECOND, &mut service);
        assert_eq!(events, created([1]));
        // Incident 2 was updated before the watermark, but shows up only now.
        service.incidents.push(incident(2, T0 + 300 * SECOND, T0 + 400 * SECOND));
        let (events, cursor, _) = poll(cursor, &options, T0 + 800 * SECOND, &mut service);
        assert_eq!(events, created([2]));
        let (events, _, _) = poll(cursor, &options, T0 + 900 * SECOND, &mut service);
        assert!(events.is_empty());
    }

    #[test]
    fn a_crash_before_saving_repeats_the_batch_and_nothing_else() {
        let mut service =
            Service { incidents: (1..=30).map(|id| incident(id, T0 + SECOND, T0 + SECOND)).collect(), requests: 0 };
        let options = GraphPollOptions { max_events: Some(10), ..GraphPollOptions::default() };
        let (first, saved, _) = poll(Cursor::first(T0), &options, T0 + 60 * SECOND, &mut service);
        let (second, _, _) = poll(saved.clone(), &options, T0 + 60 * SECOND, &mut service);
        // The host crashed after output, before saving `second`'s cursor: it polls from `saved` again.
        let (retried, _, _) = poll(saved, &options, T0 + 60 * SECOND, &mut service);
        assert_eq!(retried, second);
        assert!(first.iter().all(|e| !second.contains(e)));
    }

    #[test]
    fn a_merge_is_one_merged_event_with_updates_on_or_off() {
        for include_updates in [false, true] {
            let options = GraphPollOptions { include_updates, ..GraphPollOptions::default() };
            let mut service = Service {
                incidents: vec![incident(1, T0 + SECOND, T0 + SECOND), incident(2, T0 + SECOND, T0 + SECOND)],
                requests: 0,
            };
            let (events, cursor, _) = poll(Cursor::first(T0), &options, T0 + 60 * SECOND, &mut service);
            assert_eq!(events, created([1, 2]));
            redirect(&mut service.incidents[0], 2, T0 + 90 * SECOND);
            touch(&mut service.incidents[1], T0 + 90 * SECOND);
            let (events, cursor, _) = poll(cursor, &options, T0 + 120 * SECOND, &mut service);
            let mut expected = vec![(EventKind::Merged, "1".to_owned())];
            if include_updates {
                expected.push((EventKind::Updated, "2".to_owned()));
            }
            assert_eq!(events, expected, "updates {include_updates}");
            touch(&mut service.incidents[0], T0 + 150 * SECOND);
            let (events, _, _) = poll(cursor, &options, T0 + 180 * SECOND, &mut service);
            let later: Vec<_> = events.iter().filter(|(k, _)| *k == EventKind::Merged).collect();
            assert!(later.is_empty(), "a merged shell changed again is not merged again");
        }
    }

    #[test]
    fn merges_come_whatever_statuses_are_polled_and_first_sight_of_a_shell_is_merged() {
        let options = GraphPollOptions { statuses: vec![GraphIncidentStatus::Active], ..GraphPollOptions::default() };
        let scan = Scan::new(Cursor::first(T0), &options, T0);
        let filter = scan.filter(Slice { from: T0, to: None });
        assert!(filter.ends_with("and (status eq 'active' or status eq 'redirected')"), "{filter}");
        let mut shell = incident(1, T0 + SECOND, T0 + 2 * SECOND);
        redirect(&mut shell, 2, T0 + 2 * SECOND);
        let mut service = Service { incidents: vec![shell], requests: 0 };
        let (events, _, _) = poll(Cursor::first(T0), &options, T0 + 60 * SECOND, &mut service);
        assert_eq!(events, vec![(EventKind::Merged, "1".to_owned())]);
        let off = GraphPollOptions { ignore_merges: true, ..options };
        let (events, _, _) = poll(Cursor::first(T0), &off, T0 + 60 * SECOND, &mut service);
        assert!(events.is_empty(), "merges off: a redirected incident is outside the statuses polled");
    }

    #[test]
    fn the_filter_reads_a_slice_and_leaves_out_what_is_out_of_scope() {
        let options = GraphPollOptions { min_severity: Some(GraphSeverity::Medium), ..GraphPollOptions::default() };
        let scan = Scan::new(Cursor::first(T0), &options, T0);
        assert_eq!(
            scan.filter(Slice { from: T0, to: Some(T0 + SECOND) }),
            "lastUpdateDateTime ge 2026-01-01T00:00:00.000000Z and lastUpdateDateTime lt 2026-01-01T00:00:01.000000Z \
             and createdDateTime ge 2026-01-01T00:00:00.000000Z and (severity eq 'high' or severity eq 'medium')"
        );
    }

    #[test]
    fn cursors_of_the_other_poller_or_corrupt_ones_are_refused() {
        let cursor = Cursor::first(T0);
        let text = cursor.encode();
        assert!(text.starts_with("gp1."));
        assert_eq!(Cursor::decode(&text).unwrap(), cursor);
        let sentinel = crate::core::sentinel::poller::Cursor::first(T0).encode();
        for bad in [sentinel.as_str(), "", "gp1.!!", "gp2.e30", &text[..text.len() - 2]] {
            let error = Cursor::decode(bad).unwrap_err();
            assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "cursor"), "{bad}: {error:?}");
        }
    }
}
