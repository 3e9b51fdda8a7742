//! The Graph incident poller (`/security/incidents`): the Sentinel poller's
//! contract (stateless, an opaque versioned cursor, each incident version
//! delivered once as `created`, `updated` or `merged`) over an API that
//! pages by `$skip` and documents no `$orderby`.
//!
//! Two scans, as in the Sentinel poller: a created scan over
//! `createdDateTime`, which never changes, delivers each incident once as
//! `created`; then (for updates or merges) an updated scan over
//! `lastUpdateDateTime`, restricted to incidents the created scan has
//! passed, delivers `updated` and `merged`. An incident changed long after
//! its creation is therefore still `created` first, however late a backlog
//! reaches it.
//!
//! Why each scan reads in time slices: with `$skip` paging, an incident that
//! changes mid-walk moves, and the items behind it shift a place, so a walk
//! of many pages can skip an incident it never sees again. So a poll never
//! walks pages. It reads its scan's time in slices `[from, to)` small enough
//! to come back in one page of 50 — a single answer, so consistent — sized
//! from `$count` and halved when an answer has a next page. The last slice
//! is open-ended. A change during the poll only moves an incident to a later
//! `lastUpdateDateTime`, which this or the next poll reads. Order is never
//! needed, so none is asked for.
//!
//! - Each scan's watermark is the latest time it read (a service time; the
//!   host's clock only shapes slices). Each poll re-reads from the watermark
//!   minus the look-back (default 15 minutes: Defender documents up to 10
//!   minutes before an incident appears or its coalesced update lands),
//!   except what an answer's `Date` shows was settled a look-back before,
//!   and the cursor remembers what it delivered inside the window.
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

/// One scan's progress, in microseconds: its watermark, what it delivered
/// inside its look-back window, and how far its answers settled it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stream {
    mark: i64,
    seen: BTreeMap<String, i64>,
    /// Everything before this was read by an answer dated at least a
    /// look-back later: nothing can still appear there, so a poll need not
    /// re-read it (a backlog drains without re-reading its window each poll).
    settled: i64,
}

impl Stream {
    fn starting_at(start: i64) -> Stream {
        Stream { mark: start, seen: BTreeMap::new(), settled: start }
    }

    fn window_start(&self, start: i64, look_back: i64) -> i64 {
        start.max(self.mark.saturating_sub(look_back))
    }

    fn times(&self) -> impl Iterator<Item = i64> + '_ {
        [self.mark, self.settled].into_iter().chain(self.seen.values().copied())
    }
}

/// What a poll keeps: each scan's stream, and the merges delivered inside
/// the updated scan's window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    start: i64,
    created: Stream,
    updated: Stream,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    merged: BTreeMap<String, i64>,
}

impl Cursor {
    pub fn first(start_micros: i64) -> Self {
        Cursor {
            start: start_micros,
            created: Stream::starting_at(start_micros),
            updated: Stream::starting_at(start_micros),
            merged: BTreeMap::new(),
        }
    }

    pub fn encode(&self) -> String {
        cursor::encode(CURSOR_PREFIX, self)
    }

    /// A saved cursor, refused unless this poller wrote it (an `sp1.` cursor
    /// of the Sentinel poller is refused by its prefix).
    pub fn decode(text: &str) -> Result<Cursor, Error> {
        let cursor: Cursor = cursor::decode(CURSOR_PREFIX, text)?;
        let times = [cursor.start].into_iter().chain(cursor.created.times()).chain(cursor.updated.times());
        if !times.chain(cursor.merged.values().copied()).all(|time| (0..=MAX_TIME_MICROS).contains(&time)) {
            return Err(cursor::refuse("is corrupt (a time outside 1970 to 9999)"));
        }
        if cursor.created.mark < cursor.start || cursor.updated.mark < cursor.start {
            return Err(cursor::refuse("is corrupt (a watermark is before its start)"));
        }
        Ok(cursor)
    }

    /// The newest `lastUpdateDateTime` read (or creation, before updates are read).
    pub fn watermark_micros(&self) -> i64 {
        self.updated.mark.max(self.created.mark)
    }

    fn stream(&mut self, phase: Phase) -> &mut Stream {
        match phase {
            Phase::Created => &mut self.created,
            Phase::Updated => &mut self.updated,
        }
    }
}

/// Which scan: `createdDateTime` (never changes, so its slices never lose
/// an incident) delivers `created`; `lastUpdateDateTime`, over incidents the
/// created scan has passed, delivers `updated` and `merged`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Created,
    Updated,
}

impl Phase {
    fn field(self) -> &'static str {
        match self {
            Phase::Created => "createdDateTime",
            Phase::Updated => "lastUpdateDateTime",
        }
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

/// A range of the scan's time: `[from, to)`, or from on when `to` is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub phase: Phase,
    pub from: i64,
    pub to: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Continue,
    BatchFull,
}

/// Where a scan is: the next slice's start and width.
struct Slicer {
    phase: Phase,
    next: i64,
    span: i64,
    /// The host's clock when the poll began (pushed later when incidents
    /// are newer): a slice reaching past it is open-ended.
    horizon: i64,
    /// Whether every slice so far was settled by its answer's date.
    settling: bool,
}

/// One poll in progress: it names the next slice to read, and takes each
/// slice's incidents whole; the created scan, then the updated one.
pub struct Scan<'a> {
    options: &'a GraphPollOptions,
    cursor: Cursor,
    look_back: i64,
    now: i64,
    /// The windows' starts: versions delivered from here on are remembered.
    created_window: i64,
    updated_window: i64,
    slicer: Option<Slicer>,
    events: Vec<GraphEvent>,
    max_events: usize,
}

impl<'a> Scan<'a> {
    pub fn new(cursor: Cursor, options: &'a GraphPollOptions, now_micros: i64) -> Scan<'a> {
        let look_back = look_back(options);
        let mut scan = Scan {
            options,
            look_back,
            now: now_micros,
            created_window: cursor.created.window_start(cursor.start, look_back),
            updated_window: cursor.updated.window_start(cursor.start, look_back),
            slicer: None,
            events: Vec::new(),
            max_events: options.max_events.unwrap_or(DEFAULT_MAX_EVENTS) as usize,
            cursor,
        };
        scan.slicer = Some(scan.slicer_for(Phase::Created));
        scan
    }

    fn slicer_for(&self, phase: Phase) -> Slicer {
        let (window, stream) = match phase {
            Phase::Created => (self.created_window, &self.cursor.created),
            Phase::Updated => (self.updated_window, &self.cursor.updated),
        };
        Slicer { phase, next: window.max(stream.settled), span: MAX_SPAN_MICROS, horizon: self.now, settling: true }
    }

    /// Whether the updated scan runs: for updates, or for merges.
    fn scans_updates(&self) -> bool {
        self.options.include_updates || !self.options.ignore_merges
    }

    /// The slice to read next; none when both scans have read up to now.
    pub fn next_slice(&self) -> Option<Slice> {
        let slicer = self.slicer.as_ref()?;
        let to = slicer.next.saturating_add(slicer.span);
        Some(Slice { phase: slicer.phase, from: slicer.next, to: (to <= slicer.horizon).then_some(to) })
    }

    /// The slice's `$filter`, with the severity and status filters.
    pub fn filter(&self, slice: Slice) -> String {
        let field = slice.phase.field();
        let mut clauses = vec![format!("{field} ge {}", format_time(slice.from))];
        if let Some(to) = slice.to {
            clauses.push(format!("{field} lt {}", format_time(to)));
        }
        if slice.phase == Phase::Updated {
            clauses.push(format!("createdDateTime ge {}", format_time(self.cursor.start)));
            clauses.push(format!("createdDateTime le {}", format_time(self.cursor.created.mark)));
        }
        let severities = severities_at_least(self.options.min_severity.as_ref());
        if !severities.is_empty() {
            clauses.push(any_of("severity", severities.iter().map(GraphSeverity::as_str)));
        }
        let statuses = self.statuses_read(slice.phase);
        if !statuses.is_empty() {
            clauses.push(any_of("status", statuses.iter().map(GraphIncidentStatus::as_str)));
        }
        clauses.join(" and ")
    }

    /// The statuses asked for, and `redirected` for the merges (only it,
    /// when the updated scan runs for merges alone).
    fn statuses_read(&self, phase: Phase) -> Vec<GraphIncidentStatus> {
        let merges = !self.options.ignore_merges;
        if phase == Phase::Updated && merges && !self.options.include_updates {
            return vec![GraphIncidentStatus::Redirected];
        }
        let mut statuses = self.options.statuses.clone();
        if !statuses.is_empty() && merges && !statuses.contains(&GraphIncidentStatus::Redirected) {
            statuses.push(GraphIncidentStatus::Redirected);
        }
        statuses
    }

    /// The slice's answer had a next page: split it, to the share of the
    /// slice that should hold [`TARGET_PER_SLICE`] of its `count` incidents
    /// (Graph's `@odata.count`), else in half. False when it cannot be split
    /// (one microsecond): then read it whole, page by page.
    pub fn overflowed(&mut self, slice: Slice, count: Option<u64>) -> bool {
        let Some(slicer) = self.slicer.as_mut() else { return false };
        let width = match slice.to {
            Some(to) => to - slice.from,
            None if slicer.horizon > slice.from => slicer.horizon - slice.from,
            None => FIRST_SPAN_MICROS.min(slicer.span),
        };
        if width <= 1 {
            return false;
        }
        let share = match count {
            Some(count) if count > 0 => scale(width, TARGET_PER_SLICE, count),
            _ => width / 2,
        };
        slicer.span = share.clamp(1, width / 2);
        slicer.horizon = slicer.horizon.max(slice.from.saturating_add(width));
        true
    }

    /// A slice's incidents, all of them: offered oldest first.
    /// `served_at` is the answer's `Date` (the service's clock), if it sent one.
    pub fn read_whole(
        &mut self,
        slice: Slice,
        incidents: Vec<GraphIncident>,
        served_at: Option<i64>,
    ) -> Result<Progress, Error> {
        let mut timed = Vec::with_capacity(incidents.len());
        for incident in incidents {
            let created = incident_time(&incident, incident.fields.created_date_time.as_deref(), "createdDateTime")?;
            let updated =
                incident_time(&incident, incident.fields.last_update_date_time.as_deref(), "lastUpdateDateTime")?;
            let key = if slice.phase == Phase::Created { created } else { updated };
            timed.push((key, created, updated, incident));
        }
        timed.sort_by(|a, b| (a.0, &a.3.fields.id).cmp(&(b.0, &b.3.fields.id)));
        let read = timed.len() as u64;
        for (_, created, updated, incident) in timed {
            if self.offer(slice.phase, created, updated, incident) == Progress::BatchFull {
                return Ok(Progress::BatchFull);
            }
        }
        self.settle(slice, served_at);
        match slice.to {
            None => self.next_scan(slice.phase),
            Some(to) => {
                if let Some(slicer) = self.slicer.as_mut() {
                    slicer.next = to;
                    // Sized for the next slice to hold about as many: at most four times wider.
                    let wider = scale(slicer.span, TARGET_PER_SLICE, read.max(1));
                    slicer.span = wider.clamp(1, slicer.span.saturating_mul(4).min(MAX_SPAN_MICROS));
                }
            }
        }
        Ok(Progress::Continue)
    }

    fn next_scan(&mut self, finished: Phase) {
        self.slicer = (finished == Phase::Created && self.scans_updates()).then(|| self.slicer_for(Phase::Updated));
    }

    /// A slice read whole at `served_at` settles what is a look-back older
    /// than that, as long as every slice before it in this scan did.
    fn settle(&mut self, slice: Slice, served_at: Option<i64>) {
        let look_back = self.look_back;
        let Some(slicer) = self.slicer.as_mut() else { return };
        let settled_to = served_at.map(|at| at.saturating_sub(look_back));
        let Some(settled_to) = settled_to.filter(|to| slicer.settling && *to >= slice.from) else {
            slicer.settling = false;
            return;
        };
        let end = slice.to.map_or(settled_to, |to| to.min(settled_to));
        let stream = self.cursor.stream(slice.phase);
        stream.settled = stream.settled.max(end);
        slicer.settling = slice.to == Some(end);
    }

    fn offer(&mut self, phase: Phase, created: i64, updated: i64, incident: GraphIncident) -> Progress {
        let mark = &mut self.cursor.stream(phase).mark;
        *mark = (*mark).max(if phase == Phase::Created { created } else { updated });
        if created < self.cursor.start {
            return Progress::Continue;
        }
        let kind = match phase {
            Phase::Created => self.offer_created(&incident, created, updated),
            Phase::Updated => self.offer_updated(&incident, created, updated),
        };
        let Some(kind) = kind.filter(|kind| self.selected(*kind, &incident)) else { return Progress::Continue };
        self.events.push(GraphEvent {
            kind,
            incident,
            merge_chain: Vec::new(),
            merge_error: None,
            details_error: None,
        });
        if self.events.len() >= self.max_events {
            Progress::BatchFull
        } else {
            Progress::Continue
        }
    }

    /// First sighting in the created scan: `created` (or `merged`, for one
    /// already redirected), its current version delivered with it.
    fn offer_created(&mut self, incident: &GraphIncident, created: i64, updated: i64) -> Option<EventKind> {
        let id = &incident.fields.id;
        let cursor = &mut self.cursor;
        if cursor.created.seen.insert(id.clone(), created).is_some() {
            return None;
        }
        if self.options.include_updates || is_merge(self.options, incident) {
            cursor.updated.seen.insert(id.clone(), updated);
        }
        if is_merge(self.options, incident) {
            cursor.merged.insert(id.clone(), updated);
            return Some(EventKind::Merged);
        }
        Some(EventKind::Created)
    }

    /// A version newer than the one delivered, of an incident the created
    /// scan has delivered; one inside the created window not yet seen there
    /// (it showed up late) waits for the created scan.
    fn offer_updated(&mut self, incident: &GraphIncident, created: i64, updated: i64) -> Option<EventKind> {
        let id = &incident.fields.id;
        let merge = is_merge(self.options, incident) && !self.cursor.merged.contains_key(id);
        if !merge && !self.options.include_updates {
            return None;
        }
        let cursor = &mut self.cursor;
        let awaiting_created =
            created > cursor.created.mark || (created >= self.created_window && !cursor.created.seen.contains_key(id));
        if awaiting_created || cursor.updated.seen.get(id).is_some_and(|version| *version >= updated) {
            return None;
        }
        cursor.updated.seen.insert(id.clone(), updated);
        if merge {
            cursor.merged.insert(id.clone(), updated);
            return Some(EventKind::Merged);
        }
        Some(EventKind::Updated)
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

    /// The events and the cursor to save, with what is older than the next
    /// windows forgotten. Without the updated scan, its watermark follows
    /// the created one, so turning updates on later does not replay history.
    pub fn finish(mut self) -> (Vec<GraphEvent>, Cursor) {
        let scans_updates = self.scans_updates();
        let cursor = &mut self.cursor;
        if !scans_updates {
            cursor.updated.mark = cursor.updated.mark.max(cursor.created.mark);
            cursor.updated.settled = cursor.updated.settled.max(cursor.created.settled);
            cursor.updated.seen.clear();
        }
        let created_window = cursor.created.window_start(cursor.start, self.look_back);
        let updated_window = cursor.updated.window_start(cursor.start, self.look_back);
        cursor.created.seen.retain(|_, created| *created >= created_window);
        cursor.updated.seen.retain(|_, updated| *updated >= updated_window);
        cursor.merged.retain(|_, updated| *updated >= updated_window);
        (self.events, self.cursor)
    }
}

/// Seen `redirected`, with merges on.
fn is_merge(options: &GraphPollOptions, incident: &GraphIncident) -> bool {
    !options.ignore_merges && incident.fields.status == Some(GraphIncidentStatus::Redirected)
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

    fn created_at(incident: &GraphIncident) -> i64 {
        parse_time(incident.fields.created_date_time.as_deref().unwrap()).unwrap()
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
                .filter(|i| {
                    let at = if slice.phase == Phase::Created { created_at(i) } else { updated(i) };
                    at >= slice.from && slice.to.is_none_or(|to| at < to)
                })
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
        // Merges off: the service here ignores the status filter that keeps
        // the merge scan's reads to redirected incidents.
        let options = GraphPollOptions { max_events: Some(1000), ignore_merges: true, ..GraphPollOptions::default() };
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
    fn many_incidents_on_one_timestamp_across_batches_are_each_delivered_once() {
        let incidents: Vec<GraphIncident> = (1..=30).map(|id| incident(id, T0 + SECOND, T0 + SECOND)).collect();
        let mut service = Service { incidents, requests: 0 };
        let options = GraphPollOptions { max_events: Some(7), ..GraphPollOptions::default() };
        let (mut cursor, mut delivered) = (Cursor::first(T0), Vec::new());
        for _ in 0..10 {
            let (events, next, more) = poll(cursor, &options, T0 + 60 * SECOND, &mut service);
            delivered.extend(events);
            cursor = next;
            if !more {
                break;
            }
        }
        delivered.sort_by_key(|(_, id)| id.parse::<u32>().unwrap());
        assert_eq!(delivered, created(1..=30), "once each");
    }

    #[test]
    fn a_merge_during_a_poll_is_delivered_once() {
        let incidents: Vec<GraphIncident> =
            (1..=120).map(|id| incident(id, T0 + i64::from(id) * SECOND, T0 + i64::from(id) * SECOND)).collect();
        let mut service = Service { incidents, requests: 0 };
        let options = GraphPollOptions::default();
        let now = T0 + 300 * SECOND;
        let (_, cursor, _) = poll(Cursor::first(T0), &options, now, &mut service);
        let mut merged_once = false;
        // Incident 3 is merged into 100 while the next poll is reading.
        let (events, cursor, _) = poll_with(cursor, &options, now + SECOND, &mut service, |service, slice| {
            if !merged_once && slice.phase == Phase::Updated {
                merged_once = true;
                redirect(&mut service.incidents[2], 100, now + 2 * SECOND);
            }
        });
        assert!(merged_once);
        let (later, _, _) = poll(cursor, &options, now + 3 * SECOND, &mut service);
        let merges: Vec<_> = events.iter().chain(&later).filter(|(kind, _)| *kind == EventKind::Merged).collect();
        assert_eq!(merges, [&(EventKind::Merged, "3".to_owned())], "{events:?} {later:?}");
    }

    /// Incidents created long before their last change, drained in small
    /// batches: each is `created` once, however late its change moved it.
    #[test]
    fn an_incident_changed_long_after_its_creation_is_still_created_in_a_backlog() {
        let day = 86_400 * SECOND;
        let incidents: Vec<GraphIncident> = (1..=300)
            .map(|id| incident(id, T0 + i64::from(id) * SECOND, T0 + 10 * day - i64::from(id) * SECOND))
            .collect();
        let mut service = Service { incidents, requests: 0 };
        for include_updates in [false, true] {
            let options = GraphPollOptions { max_events: Some(40), include_updates, ..GraphPollOptions::default() };
            let mut cursor = Cursor::first(T0);
            let mut delivered = std::collections::BTreeMap::new();
            for _ in 0..50 {
                let (events, next, more) = poll(cursor, &options, T0 + 20 * day, &mut service);
                for (kind, id) in events {
                    assert_eq!(kind, EventKind::Created, "{id}");
                    *delivered.entry(id).or_insert(0) += 1;
                }
                cursor = next;
                if !more {
                    break;
                }
            }
            assert_eq!(delivered.len(), 300, "updates {include_updates}");
            assert!(delivered.values().all(|n| *n == 1));
        }
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
        let filter = scan.filter(Slice { phase: Phase::Created, from: T0, to: None });
        assert!(filter.ends_with("and (status eq 'active' or status eq 'redirected')"), "{filter}");
        let filter = scan.filter(Slice { phase: Phase::Updated, from: T0, to: None });
        assert!(filter.ends_with("and (status eq 'redirected')"), "without updates, only merges: {filter}");
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
            scan.filter(Slice { phase: Phase::Updated, from: T0, to: Some(T0 + SECOND) }),
            "lastUpdateDateTime ge 2026-01-01T00:00:00.000000Z and lastUpdateDateTime lt 2026-01-01T00:00:01.000000Z \
             and createdDateTime ge 2026-01-01T00:00:00.000000Z and createdDateTime le 2026-01-01T00:00:00.000000Z \
             and (severity eq 'high' or severity eq 'medium') and (status eq 'redirected')"
        );
        assert_eq!(
            scan.filter(Slice { phase: Phase::Created, from: T0, to: None }),
            "createdDateTime ge 2026-01-01T00:00:00.000000Z and (severity eq 'high' or severity eq 'medium')"
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
