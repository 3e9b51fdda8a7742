//! The incident poller: every incident delivered exactly once, across pages,
//! restarts and late arrivals, with no state kept between calls but the cursor.
//!
//! How it works (the README's "Poller semantics" says the same for users):
//! - Two scans, each oldest first, each from its own watermark minus a
//!   look-back window. The *created* scan walks `createdTimeUtc` and delivers
//!   each incident once, as `created`, with its version at that moment. The
//!   *modified* scan (only with updates) walks `lastModifiedTimeUtc` over the
//!   incidents the created scan has passed, and delivers each new version once,
//!   as `updated`.
//! - Watermarks are service timestamps, not incident numbers, which do not
//!   follow creation time. Many incidents on one timestamp across a page or
//!   batch boundary are re-read, not skipped, and the look-back window re-reads
//!   incidents that become visible late.
//! - The cursor remembers what each scan delivered inside its look-back window,
//!   so re-read incidents are not delivered twice. Entries older than the
//!   window are dropped: the cursor's size follows the window, not the number
//!   of incidents ever seen.
//! - Incidents created before the first-fetch start are out of scope.
//! - Two-way mirroring: `update-incident` gives a write receipt (the version
//!   it read before its PUT, and the version it produced). Receipts passed
//!   in `own_writes` stay in the cursor until their versions are seen; a
//!   version reached from the delivered one through own writes alone is
//!   `own-change`; one that own writes only contributed to is `updated` with
//!   `includes_own_write`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::incidents::{Incident, IncidentStatus, Severity};
use crate::core::cursor;
use crate::core::error::Error;
use crate::core::merges::MergeTarget;

const CURSOR_PREFIX: &str = "sp1.";
const RECEIPT_PREFIX: &str = "ow1.";
/// Receipts one poll takes: a mirror writes fewer between two polls.
pub const MAX_OWN_WRITES: usize = 10_000;
pub const DEFAULT_LOOK_BACK_SECS: u32 = 300;
pub const DEFAULT_MAX_EVENTS: u32 = 100;
pub const MAX_EVENTS: u32 = 5000;
/// Detail requests in flight at once while enriching a batch, unless the
/// options say otherwise: enough to hide latency, few enough to stay inside
/// Sentinel's per-tenant read limits.
pub const DEFAULT_DETAIL_CONCURRENCY: u8 = 8;
/// The most the options may ask for: beyond it a batch mostly buys 429s.
pub const MAX_DETAIL_CONCURRENCY: u8 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
    /// Closed by a Defender merge into another incident: delivered once,
    /// instead of the `updated` the closing would be, with updates on or off.
    Merged,
    /// A version the connector's own writes alone produced (see [`WriteReceipt`]).
    OwnChange,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub incident: Incident,
    /// For an incident Defender merged into another: where it went.
    pub merged_into: Option<MergeTarget>,
    /// Own writes and someone else's change are both in this version.
    pub includes_own_write: bool,
}

/// What `update-incident` wrote: the incident, the version (its
/// `lastModifiedTimeUtc`, µs) the successful PUT was computed from, and the
/// version it produced. Given back to `poll` as `own_writes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteReceipt {
    pub incident: String,
    pub base: i64,
    pub produced: i64,
}

impl WriteReceipt {
    /// The receipt of a write from its base and produced times, if both parse.
    pub fn of(incident: &str, base: Option<&str>, produced: Option<&str>) -> Option<WriteReceipt> {
        let (base, produced) = (parse_time(base?).ok()?, parse_time(produced?).ok()?);
        Some(WriteReceipt { incident: incident.to_owned(), base, produced })
    }

    pub fn encode(&self) -> String {
        cursor::encode(RECEIPT_PREFIX, self)
    }

    /// A receipt this connector wrote, or `invalid-input` on `own-writes`.
    pub fn decode(text: &str) -> Result<WriteReceipt, Error> {
        let receipt: WriteReceipt = cursor::decode(RECEIPT_PREFIX, text).map_err(|_| {
            Error::invalid("own-writes", "holds a value that is not a write-receipt update-incident returned")
        })?;
        let times_ok = [receipt.base, receipt.produced].iter().all(|t| (0..=MAX_TIME_MICROS).contains(t));
        if !times_ok || receipt.produced < receipt.base || receipt.incident.is_empty() {
            return Err(Error::invalid("own-writes", "holds a corrupt write-receipt"));
        }
        Ok(receipt)
    }
}

/// How own writes account for the versions after the delivered one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwnPart {
    None,
    /// Some of the change is the connector's, some someone else's.
    Some,
    /// A chain of own writes leads from the delivered version to this one.
    All,
}

/// `writes`: (base, produced) of one incident; `delivered`: the version
/// delivered before, when the cursor still holds it; `window`: where the
/// re-scanned window starts; `version`: the new one.
fn own_part(writes: &[(i64, i64)], delivered: Option<i64>, window: i64, version: i64) -> OwnPart {
    let after_delivered = |produced: i64| delivered.is_none_or(|d| produced > d);
    if !writes.iter().any(|(_, produced)| *produced <= version && after_delivered(*produced)) {
        return OwnPart::None;
    }
    // The chain starts at the delivered version. Once the window has dropped
    // it, at a base older than the window: every version that old was
    // delivered before the window moved past it. A base inside the window
    // that is not the delivered version is someone else's undelivered change.
    let start = delivered.or_else(|| writes.iter().map(|(base, _)| *base).filter(|base| *base < window).min());
    let Some(mut at) = start else { return OwnPart::Some };
    // Bounded: each step moves strictly forward to a produced version.
    for _ in 0..=writes.len() {
        if at == version {
            return OwnPart::All;
        }
        match writes.iter().find(|(base, produced)| *base == at && *produced > at && *produced <= version) {
            Some((_, produced)) => at = *produced,
            None => return OwnPart::Some,
        }
    }
    OwnPart::Some
}

/// The receipts of the options, checked (before any request).
pub fn own_writes(options: &PollOptions) -> Result<Vec<WriteReceipt>, Error> {
    if options.own_writes.len() > MAX_OWN_WRITES {
        return Err(Error::invalid(
            "own-writes",
            format!("holds more than {MAX_OWN_WRITES} receipts; poll more often"),
        ));
    }
    options.own_writes.iter().map(|text| WriteReceipt::decode(text)).collect()
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollOptions {
    /// Where a first poll (no cursor) starts, RFC 3339; `None` starts now.
    pub first_fetch: Option<String>,
    pub look_back_secs: Option<u32>,
    pub max_events: Option<u32>,
    pub include_updates: bool,
    pub min_severity: Option<Severity>,
    pub statuses: Vec<IncidentStatus>,
    /// Case-insensitive wildcard patterns (`*`, `?`); the title must match one.
    pub title_includes: Vec<String>,
    /// Case-insensitive wildcard patterns; a title matching any is skipped.
    pub title_excludes: Vec<String>,
    /// Fetch each event's alerts and entities too.
    pub include_details: bool,
    /// Detail requests in flight at once (1 to [`MAX_DETAIL_CONCURRENCY`],
    /// default [`DEFAULT_DETAIL_CONCURRENCY`]).
    pub detail_concurrency: Option<u8>,
    /// No `merged` events (and no modified scan without updates).
    pub ignore_merges: bool,
    /// Write receipts of `update-incident` since the last poll.
    pub own_writes: Vec<String>,
}

impl PollOptions {
    /// Whether the modified scan runs: for updates, or for merges.
    pub fn scans_modified(&self) -> bool {
        self.include_updates || !self.ignore_merges
    }
}

/// One scan's progress. Times are microseconds since the epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stream {
    /// The newest time this scan processed.
    mark: i64,
    /// Incident name → the time it was processed at (created time for the
    /// created scan, the delivered version for the modified scan), for the
    /// incidents inside this scan's look-back window.
    seen: BTreeMap<String, i64>,
}

impl Stream {
    fn starting_at(start: i64) -> Stream {
        Stream { mark: start, seen: BTreeMap::new() }
    }

    fn window_start(&self, start: i64, look_back: i64) -> i64 {
        start.max(self.mark.saturating_sub(look_back))
    }
}

/// The saved state between polls.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Incidents created before this are out of scope.
    start: i64,
    created: Stream,
    modified: Stream,
    /// Incident name → the version delivered as `merged`, inside the
    /// modified window: a merged shell changed again is not merged again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    merged: BTreeMap<String, i64>,
    /// Incident name → (base, produced) of own writes whose versions the
    /// modified scan has not passed yet.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    own: BTreeMap<String, Vec<(i64, i64)>>,
}

impl Cursor {
    pub fn first(start_micros: i64) -> Self {
        Cursor {
            start: start_micros,
            created: Stream::starting_at(start_micros),
            modified: Stream::starting_at(start_micros),
            merged: BTreeMap::new(),
            own: BTreeMap::new(),
        }
    }

    /// Takes the receipts of own writes made since the last poll.
    pub fn remember_own_writes(&mut self, receipts: Vec<WriteReceipt>) {
        for receipt in receipts {
            let writes = self.own.entry(receipt.incident).or_default();
            if !writes.contains(&(receipt.base, receipt.produced)) {
                writes.push((receipt.base, receipt.produced));
            }
        }
    }

    pub fn encode(&self) -> String {
        cursor::encode(CURSOR_PREFIX, self)
    }

    /// A saved cursor, refused (`invalid-input` on `cursor`) unless it is one
    /// this poller wrote: right prefix and version, times inside 1970 to
    /// 9999, watermarks not before the start.
    pub fn decode(text: &str) -> Result<Cursor, Error> {
        let cursor: Cursor = cursor::decode(CURSOR_PREFIX, text)?;
        let refuse = cursor::refuse;
        if !cursor.times().all(|time| (0..=MAX_TIME_MICROS).contains(&time)) {
            return Err(refuse("is corrupt (a time outside 1970 to 9999)"));
        }
        if cursor.created.mark < cursor.start || cursor.modified.mark < cursor.start {
            return Err(refuse("is corrupt (a watermark is before its start)"));
        }
        Ok(cursor)
    }

    /// Every time the cursor holds; each must be one the filter can name.
    fn times(&self) -> impl Iterator<Item = i64> + '_ {
        let streams = [&self.created, &self.modified];
        let own = self.own.values().flatten().flat_map(|(base, produced)| [*base, *produced]);
        [self.start]
            .into_iter()
            .chain(
                streams.into_iter().flat_map(|stream| [stream.mark].into_iter().chain(stream.seen.values().copied())),
            )
            .chain(own)
    }

    /// How own writes account for `version` of `incident`, given the version
    /// delivered before; the writes it accounts for are forgotten.
    fn own_part(&mut self, incident: &str, delivered: Option<i64>, window: i64, version: i64) -> OwnPart {
        let Some(writes) = self.own.get_mut(incident) else { return OwnPart::None };
        let part = own_part(writes, delivered, window, version);
        writes.retain(|(_, produced)| *produced > version);
        if writes.is_empty() {
            self.own.remove(incident);
        }
        part
    }

    /// The newest creation time delivered up to: how far the poller has come.
    pub fn watermark_micros(&self) -> i64 {
        self.created.mark
    }

    pub fn remembered(&self) -> usize {
        self.created.seen.len() + self.modified.seen.len()
    }
}

/// Checks the options before any request.
pub fn validate(options: &PollOptions) -> Result<(), Error> {
    own_writes(options)?;
    if let Some(max) = options.max_events {
        if !(1..=MAX_EVENTS).contains(&max) {
            return Err(Error::invalid("max-events", format!("{max} is outside 1 to {MAX_EVENTS}")));
        }
    }
    if let Some(first) = &options.first_fetch {
        parse_time(first).map_err(|reason| Error::invalid("first-fetch", reason))?;
    }
    for (field, patterns) in [("title-includes", &options.title_includes), ("title-excludes", &options.title_excludes)]
    {
        if patterns.iter().any(|p| p.trim().is_empty() || p.chars().any(char::is_control)) {
            return Err(Error::invalid(field, "holds an empty pattern or a control character"));
        }
    }
    if let Some(Severity::Other(text)) = &options.min_severity {
        return Err(Error::invalid("min-severity", format!("'{text}' is not High, Medium, Low or Informational")));
    }
    validate_concurrency(options.detail_concurrency)
}

/// A detail concurrency inside 1 to [`MAX_DETAIL_CONCURRENCY`] (both pollers).
pub(crate) fn validate_concurrency(concurrency: Option<u8>) -> Result<(), Error> {
    match concurrency {
        Some(n) if !(1..=MAX_DETAIL_CONCURRENCY).contains(&n) => {
            Err(Error::invalid("detail-concurrency", format!("{n} is outside 1 to {MAX_DETAIL_CONCURRENCY}")))
        }
        _ => Ok(()),
    }
}

/// How many detail requests a poll keeps in flight (validated options).
pub fn detail_concurrency(options: &PollOptions) -> usize {
    usize::from(options.detail_concurrency.unwrap_or(DEFAULT_DETAIL_CONCURRENCY))
}

/// The cursor a poll starts from: the saved one, or a first one at the
/// first-fetch time (or now).
pub fn starting_cursor(saved: Option<&str>, options: &PollOptions, now: SystemTime) -> Result<Cursor, Error> {
    if let Some(text) = saved {
        return Cursor::decode(text);
    }
    let start = match &options.first_fetch {
        Some(text) => parse_time(text).map_err(|reason| Error::invalid("first-fetch", reason))?,
        None => micros(now),
    };
    Ok(Cursor::first(start))
}

/// Which scan a query or an incident belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Created,
    Modified,
}

/// The query of one scan: its window and order, plus the severity and status
/// filters, so filtered incidents are not even sent.
pub fn scan_query(cursor: &Cursor, options: &PollOptions, phase: Phase) -> (String, &'static str) {
    let look_back = look_back(options);
    let mut clauses = match phase {
        Phase::Created => {
            vec![format!(
                "properties/createdTimeUtc ge {}",
                format_time(cursor.created.window_start(cursor.start, look_back))
            )]
        }
        Phase::Modified => vec![
            format!(
                "properties/lastModifiedTimeUtc ge {}",
                format_time(cursor.modified.window_start(cursor.start, look_back))
            ),
            format!("properties/createdTimeUtc ge {}", format_time(cursor.start)),
            format!("properties/createdTimeUtc le {}", format_time(cursor.created.mark)),
        ],
    };
    let severities = severities_at_least(options.min_severity.as_ref());
    if !severities.is_empty() {
        clauses.push(any_of("properties/severity", severities.iter().map(|s| s.as_str())));
    }
    let statuses = statuses_scanned(options, phase);
    if !statuses.is_empty() {
        clauses.push(any_of("properties/status", statuses.iter().map(IncidentStatus::as_str)));
    }
    let order = match phase {
        Phase::Created => "properties/createdTimeUtc asc",
        Phase::Modified => "properties/lastModifiedTimeUtc asc",
    };
    (clauses.join(" and "), order)
}

/// The statuses a scan asks for. A merged incident is closed, and its
/// `merged` event comes whatever statuses are polled (the SOAR holds a case
/// for it), so the modified scan also asks for closed ones; without updates
/// it asks only for them.
fn statuses_scanned(options: &PollOptions, phase: Phase) -> Vec<IncidentStatus> {
    let merges_wanted = phase == Phase::Modified && !options.ignore_merges;
    if merges_wanted && !options.include_updates {
        return vec![IncidentStatus::Closed];
    }
    let mut statuses = options.statuses.clone();
    if merges_wanted && !statuses.is_empty() && !statuses.contains(&IncidentStatus::Closed) {
        statuses.push(IncidentStatus::Closed);
    }
    statuses
}

fn any_of<'a>(field: &str, values: impl Iterator<Item = &'a str>) -> String {
    let terms: Vec<String> = values.map(|v| format!("{field} eq '{}'", v.replace('\'', "''"))).collect();
    format!("({})", terms.join(" or "))
}

fn severities_at_least(min: Option<&Severity>) -> Vec<Severity> {
    let ladder = [Severity::High, Severity::Medium, Severity::Low, Severity::Informational];
    match min {
        None | Some(Severity::Informational) => Vec::new(),
        Some(min) => {
            let rank = ladder.iter().position(|s| s == min).unwrap_or(ladder.len());
            ladder[..=rank.min(ladder.len() - 1)].to_vec()
        }
    }
}

fn look_back(options: &PollOptions) -> i64 {
    i64::from(options.look_back_secs.unwrap_or(DEFAULT_LOOK_BACK_SECS)) * 1_000_000
}

/// One poll in progress: incidents are offered scan by scan, oldest first;
/// it says when the batch is full.
pub struct Scan<'a> {
    options: &'a PollOptions,
    cursor: Cursor,
    created_window: i64,
    modified_window: i64,
    events: Vec<Event>,
    max_events: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Continue,
    BatchFull,
}

impl<'a> Scan<'a> {
    pub fn new(cursor: Cursor, options: &'a PollOptions) -> Self {
        let look_back = look_back(options);
        let created_window = cursor.created.window_start(cursor.start, look_back);
        let modified_window = cursor.modified.window_start(cursor.start, look_back);
        let max_events = options.max_events.unwrap_or(DEFAULT_MAX_EVENTS) as usize;
        Scan { options, cursor, created_window, modified_window, events: Vec::new(), max_events }
    }

    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    pub fn options(&self) -> &'a PollOptions {
        self.options
    }

    pub fn offer(&mut self, phase: Phase, incident: Incident) -> Result<Progress, Error> {
        let created = incident_time(&incident, incident.properties.created_time_utc.as_deref(), "createdTimeUtc")?;
        let modified =
            incident_time(&incident, incident.properties.last_modified_time_utc.as_deref(), "lastModifiedTimeUtc")?;
        if created < self.cursor.start {
            return Ok(Progress::Continue);
        }
        let delivered = match phase {
            Phase::Created => self.offer_created(&incident, created, modified).map(|kind| (kind, false)),
            Phase::Modified => self.offer_modified(&incident, created, modified),
        };
        let Some((kind, includes_own_write)) = delivered.filter(|(kind, _)| self.selected(*kind, &incident)) else {
            return Ok(Progress::Continue);
        };
        self.events.push(Event { kind, incident, merged_into: None, includes_own_write });
        Ok(if self.events.len() >= self.max_events { Progress::BatchFull } else { Progress::Continue })
    }

    /// First sighting in the created scan: `created`, and its current version
    /// counts as delivered for the modified scan.
    fn offer_created(&mut self, incident: &Incident, created: i64, modified: i64) -> Option<EventKind> {
        let cursor = &mut self.cursor;
        cursor.created.mark = cursor.created.mark.max(created);
        if cursor.created.seen.insert(incident.name.clone(), created).is_some() {
            return None;
        }
        // Already merged when first seen: its one event is `merged`, so the
        // SOAR links it to the target instead of opening a case for a shell.
        if !self.options.ignore_merges && incident.properties.is_merged() {
            cursor.merged.insert(incident.name.clone(), modified);
            cursor.modified.seen.insert(incident.name.clone(), modified);
            return Some(EventKind::Merged);
        }
        // Without updates only merges are looked for, and only they are
        // remembered: the cursor stays as small as the merges in the window.
        if self.options.include_updates && modified >= self.modified_window {
            cursor.modified.seen.insert(incident.name.clone(), modified);
        }
        Some(EventKind::Created)
    }

    /// A version newer than the one delivered, of an incident the created
    /// scan has delivered. One still inside the created window but not yet
    /// seen there (it showed up late) waits for the created scan.
    fn offer_modified(&mut self, incident: &Incident, created: i64, modified: i64) -> Option<(EventKind, bool)> {
        let merge = !self.options.ignore_merges
            && incident.properties.is_merged()
            && !self.cursor.merged.contains_key(&incident.name);
        let cursor = &mut self.cursor;
        cursor.modified.mark = cursor.modified.mark.max(modified);
        if !merge && !self.options.include_updates {
            return None;
        }
        let awaiting_created = created > cursor.created.mark
            || (created >= self.created_window && !cursor.created.seen.contains_key(&incident.name));
        if awaiting_created {
            return None;
        }
        if cursor.modified.seen.get(&incident.name).is_some_and(|version| *version >= modified) {
            return None;
        }
        let delivered = cursor.modified.seen.insert(incident.name.clone(), modified);
        let own = cursor.own_part(&incident.name, delivered, self.modified_window, modified);
        if merge {
            cursor.merged.insert(incident.name.clone(), modified);
            return Some((EventKind::Merged, own != OwnPart::None));
        }
        Some(match own {
            OwnPart::All => (EventKind::OwnChange, false),
            OwnPart::Some => (EventKind::Updated, true),
            OwnPart::None => (EventKind::Updated, false),
        })
    }

    /// The filters the service cannot apply, checked here as well as the
    /// ones it can (a service that ignored them would not leak incidents).
    fn selected(&self, kind: EventKind, incident: &Incident) -> bool {
        let p = &incident.properties;
        let severities = severities_at_least(self.options.min_severity.as_ref());
        let title = p.title.to_ascii_lowercase();
        let matches = |pattern: &String| wildmatch::WildMatch::new(&pattern.to_ascii_lowercase()).matches(&title);
        (severities.is_empty() || severities.contains(&p.severity))
            && (kind == EventKind::Merged
                || self.options.statuses.is_empty()
                || self.options.statuses.contains(&p.status))
            && (self.options.title_includes.is_empty() || self.options.title_includes.iter().any(matches))
            && !self.options.title_excludes.iter().any(matches)
    }

    /// The events and the cursor to save, with entries older than the next
    /// windows dropped. Without updates the modified scan just follows the
    /// created one and remembers nothing, so turning updates on later does
    /// not replay history (at most the versions inside one look-back window
    /// come once more, as `updated`).
    pub fn finish(mut self) -> (Vec<Event>, Cursor) {
        let look_back = look_back(self.options);
        let cursor = &mut self.cursor;
        if !self.options.scans_modified() {
            cursor.modified.mark = cursor.modified.mark.max(cursor.created.mark);
            cursor.modified.seen.clear();
        }
        let created_window = cursor.created.window_start(cursor.start, look_back);
        let modified_window = cursor.modified.window_start(cursor.start, look_back);
        cursor.created.seen.retain(|_, created| *created >= created_window);
        cursor.modified.seen.retain(|_, modified| *modified >= modified_window);
        cursor.merged.retain(|_, modified| *modified >= modified_window);
        // A write whose version left the re-scanned window was seen (and
        // forgotten) or superseded: the cursor stays as small as the window.
        cursor.own.retain(|_, writes| {
            writes.retain(|(_, produced)| *produced >= modified_window);
            !writes.is_empty()
        });
        (self.events, self.cursor)
    }
}

fn incident_time(incident: &Incident, value: Option<&str>, field: &str) -> Result<i64, Error> {
    let text = value.ok_or_else(|| Error::invalid_response(format!("incident {} has no {field}", incident.name)))?;
    parse_time(text).map_err(|reason| Error::invalid_response(format!("incident {}: {field} {reason}", incident.name)))
}

/// RFC 3339 in UTC (`Z`), as the service sends it, to microseconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let time = humantime::parse_rfc3339_weak(text.trim().trim_end_matches(['Z', 'z']))
        .map_err(|e| format!("'{}' is not an RFC 3339 UTC time ({e})", crate::core::config::shown(text)))?;
    Ok(micros(time))
}

pub(crate) fn micros(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_micros() as i64,
        Err(before) => -(before.duration().as_micros() as i64),
    }
}

/// 9999-12-31T23:59:59.999999Z, the last time RFC 3339 (and OData) can write.
pub const MAX_TIME_MICROS: i64 = 253_402_300_799_999_999;

/// `2024-01-01T10:00:00.123456Z`: what the OData filter compares against.
/// Times outside 1970 to 9999 are clamped (decoded cursors are refused
/// before; this keeps formatting total).
pub fn format_time(micros: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_micros(micros.clamp(0, MAX_TIME_MICROS) as u64);
    humantime::format_rfc3339_micros(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sentinel::incidents::IncidentProperties;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn incident(name: &str, created: &str, modified: &str, severity: Severity) -> Incident {
        let mut properties = IncidentProperties::new(format!("Incident {name}"), severity, IncidentStatus::New);
        properties.created_time_utc = Some(created.into());
        properties.last_modified_time_utc = Some(modified.into());
        Incident { id: String::new(), name: name.into(), etag: None, properties, write_receipt: None }
    }

    fn start() -> Cursor {
        Cursor::first(parse_time("2026-01-01T00:00:00Z").unwrap())
    }

    /// What the client does, over an in-memory "service": each scan gets the
    /// incidents its query selects, in its order.
    fn poll(cursor: Cursor, options: &PollOptions, incidents: &[Incident]) -> (Vec<(EventKind, String)>, Cursor) {
        let (events, cursor) = poll_events(cursor, options, incidents);
        (events.into_iter().map(|e| (e.kind, e.incident.name)).collect(), cursor)
    }

    /// [`poll`] with whole events, the options' own writes taken first as `poll` does.
    fn poll_events(mut cursor: Cursor, options: &PollOptions, incidents: &[Incident]) -> (Vec<Event>, Cursor) {
        cursor.remember_own_writes(own_writes(options).unwrap());
        let mut scan = Scan::new(cursor, options);
        let phases: &[Phase] =
            if options.scans_modified() { &[Phase::Created, Phase::Modified] } else { &[Phase::Created] };
        'phases: for phase in phases {
            let (window, key): (i64, fn(&Incident) -> &str) = match phase {
                Phase::Created => (scan.created_window, |i| i.properties.created_time_utc.as_deref().unwrap()),
                Phase::Modified => (scan.modified_window, |i| i.properties.last_modified_time_utc.as_deref().unwrap()),
            };
            let created_mark = scan.cursor().created.mark;
            let mut selected: Vec<&Incident> = incidents
                .iter()
                .filter(|i| parse_time(key(i)).unwrap() >= window)
                .filter(|i| {
                    *phase == Phase::Created
                        || parse_time(i.properties.created_time_utc.as_deref().unwrap()).unwrap() <= created_mark
                })
                .collect();
            selected.sort_by_key(|i| (parse_time(key(i)).unwrap(), i.name.clone()));
            for incident in selected {
                if scan.offer(*phase, incident.clone()).unwrap() == Progress::BatchFull {
                    break 'phases;
                }
            }
        }
        scan.finish()
    }

    // ---- Two-way mirroring: the connector's own writes.

    const T0: &str = "2026-01-01T01:00:00Z";

    fn at(name: &str, modified: &str) -> Incident {
        incident(name, T0, modified, Severity::High)
    }

    fn receipt(name: &str, base: &str, produced: &str) -> String {
        WriteReceipt { incident: name.into(), base: parse_time(base).unwrap(), produced: parse_time(produced).unwrap() }
            .encode()
    }

    fn mirroring(own_writes: Vec<String>) -> PollOptions {
        PollOptions { include_updates: true, look_back_secs: Some(3600), own_writes, ..PollOptions::default() }
    }

    fn kinds(events: &[Event]) -> Vec<(EventKind, bool)> {
        events.iter().map(|e| (e.kind, e.includes_own_write)).collect()
    }

    #[test]
    fn the_connectors_own_write_comes_back_once_as_own_change() {
        let (_, cursor) = poll(start(), &mirroring(vec![]), &[at("a", T0)]);
        let written = at("a", "2026-01-01T02:00:00Z");
        let with_receipt = mirroring(vec![receipt("a", T0, "2026-01-01T02:00:00Z")]);
        let (events, cursor) = poll_events(cursor, &with_receipt, std::slice::from_ref(&written));
        assert_eq!(kinds(&events), [(EventKind::OwnChange, false)]);
        let (events, cursor) = poll_events(cursor, &mirroring(vec![]), std::slice::from_ref(&written));
        assert!(events.is_empty(), "exactly once");
        assert!(cursor.own.is_empty(), "a seen receipt is forgotten");
    }

    #[test]
    fn own_writes_in_a_row_are_one_own_change_and_receipts_wait_for_their_version() {
        let (_, cursor) = poll(start(), &mirroring(vec![]), &[at("a", T0)]);
        let receipts = vec![
            receipt("a", "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z"),
            receipt("a", T0, "2026-01-01T02:00:00Z"),
        ];
        // The service still shows the delivered version: the receipts wait in the cursor.
        let (events, cursor) = poll_events(cursor, &mirroring(receipts), &[at("a", T0)]);
        assert!(events.is_empty());
        let (events, _) = poll_events(cursor, &mirroring(vec![]), &[at("a", "2026-01-01T03:00:00Z")]);
        assert_eq!(kinds(&events), [(EventKind::OwnChange, false)]);
    }

    #[test]
    fn someone_elses_change_beside_an_own_write_is_updated_and_flagged() {
        // A conflict: the write re-read someone else's 01:30 version (never
        // delivered) and produced 02:00 over it.
        let (_, cursor) = poll(start(), &mirroring(vec![]), &[at("a", T0)]);
        let receipts = vec![receipt("a", "2026-01-01T01:30:00Z", "2026-01-01T02:00:00Z")];
        let (events, _) = poll_events(cursor.clone(), &mirroring(receipts), &[at("a", "2026-01-01T02:00:00Z")]);
        assert_eq!(kinds(&events), [(EventKind::Updated, true)], "the other change is not hidden");

        // Someone else changed it after the own write.
        let receipts = vec![receipt("a", T0, "2026-01-01T02:00:00Z")];
        let (events, _) = poll_events(cursor.clone(), &mirroring(receipts), &[at("a", "2026-01-01T03:00:00Z")]);
        assert_eq!(kinds(&events), [(EventKind::Updated, true)]);

        // Another incident's receipt changes nothing here.
        let receipts = vec![receipt("b", T0, "2026-01-01T02:00:00Z")];
        let (events, _) = poll_events(cursor, &mirroring(receipts), &[at("a", "2026-01-01T02:00:00Z")]);
        assert_eq!(kinds(&events), [(EventKind::Updated, false)]);
    }

    #[test]
    fn a_write_long_after_the_last_delivery_is_still_recognised() {
        // Delivered at 01:00; the window (1 h) then moves on for days.
        let (_, cursor) = poll(start(), &mirroring(vec![]), &[at("a", T0), at("b", T0)]);
        let (_, cursor) = poll(cursor, &mirroring(vec![]), &[at("a", T0), at("b", "2026-01-03T00:00:00Z")]);
        assert!(!cursor.modified.seen.contains_key("a"), "a's delivered version left the window");
        let receipts = vec![receipt("a", T0, "2026-01-03T01:00:00Z")];
        let (events, _) = poll_events(cursor.clone(), &mirroring(receipts), &[at("a", "2026-01-03T01:00:00Z")]);
        assert_eq!(kinds(&events), [(EventKind::OwnChange, false)]);
        // A base inside the window but not delivered: someone else's change came first.
        let receipts = vec![receipt("a", "2026-01-03T00:30:00Z", "2026-01-03T01:00:00Z")];
        let (events, _) = poll_events(cursor, &mirroring(receipts), &[at("a", "2026-01-03T01:00:00Z")]);
        assert_eq!(kinds(&events), [(EventKind::Updated, true)]);
    }

    #[test]
    fn a_receipt_not_from_this_connector_is_refused_before_any_request() {
        for bad in ["sp1.e30", "ow1.!!", "anything"] {
            let error = validate(&mirroring(vec![bad.into()])).unwrap_err();
            assert!(matches!(&error, Error::InvalidInput { field, .. } if field == "own-writes"), "{bad}: {error:?}");
        }
        let backwards = WriteReceipt { incident: "a".into(), base: 20, produced: 10 }.encode();
        assert!(validate(&mirroring(vec![backwards])).is_err());
        assert!(validate(&mirroring(vec![receipt("a", T0, T0)])).is_ok());
    }

    #[test]
    fn a_well_formed_cursor_with_unusable_times_is_refused_not_a_panic() {
        let encode = |json: String| format!("sp1.{}", URL_SAFE_NO_PAD.encode(json));
        let state = |start: i64, mark: i64, seen: i64| {
            format!(
                r#"{{"v":1,"state":{{"start":{start},"created":{{"mark":{mark},"seen":{{"a":{seen}}}}},"modified":{{"mark":{mark},"seen":{{}}}}}}}}"#
            )
        };
        let past_9999 = MAX_TIME_MICROS + 1;
        for json in [
            state(0, past_9999, 0),
            state(i64::MIN, 0, 0),
            state(i64::MIN, i64::MIN, i64::MIN),
            state(0, 0, i64::MAX),
            state(0, i64::MAX, 0),
        ] {
            let cursor = encode(json.clone());
            let error = starting_cursor(Some(&cursor), &PollOptions::default(), SystemTime::now()).unwrap_err();
            assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "cursor"), "{json}: {error:?}");
        }
        assert!(
            Cursor::decode(&encode(state(0, MAX_TIME_MICROS, MAX_TIME_MICROS))).is_ok(),
            "9999-12-31 itself is usable"
        );
        assert_eq!(format_time(i64::MIN), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_time(i64::MAX), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn the_cursor_round_trips_and_refuses_corruption() {
        let mut cursor = start();
        cursor.created.seen.insert("a".into(), cursor.start);
        let text = cursor.encode();
        assert!(text.starts_with("sp1."));
        assert_eq!(Cursor::decode(&text).unwrap(), cursor);
        for bad in ["", "sp2.abc", "sp1.!!!", "sp1.e30", &text[..text.len() - 3]] {
            assert!(
                matches!(Cursor::decode(bad), Err(Error::InvalidInput { ref field, .. }) if field == "cursor"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_re_scanned_window_is_not_delivered_twice() {
        let options = PollOptions { include_updates: true, ..PollOptions::default() };
        let a = [incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::High)];
        let (events, cursor) = poll(start(), &options, &a);
        assert_eq!(events, vec![(EventKind::Created, "a".into())], "created, and not also updated");
        let (events, _) = poll(cursor, &options, &a);
        assert!(events.is_empty());
    }

    #[test]
    fn a_late_arrival_behind_the_watermark_is_delivered_once() {
        let options = PollOptions::default();
        let b = incident("b", "2026-01-01T00:10:00Z", "2026-01-01T00:10:00Z", Severity::Low);
        let (_, cursor) = poll(start(), &options, std::slice::from_ref(&b));
        let late = incident("late", "2026-01-01T00:08:00Z", "2026-01-01T00:08:00Z", Severity::Low);
        let (events, cursor) = poll(cursor, &options, &[late.clone(), b.clone()]);
        assert_eq!(events, vec![(EventKind::Created, "late".into())]);
        let (events, _) = poll(cursor, &options, &[late, b]);
        assert!(events.is_empty());
    }

    #[test]
    fn updates_are_delivered_once_per_version_when_asked() {
        let options = PollOptions { include_updates: true, ..PollOptions::default() };
        let v1 = incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::High);
        let v2 = incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z", Severity::High);
        let (_, cursor) = poll(start(), &options, &[v1]);
        let (events, cursor) = poll(cursor, &options, std::slice::from_ref(&v2));
        assert_eq!(events, vec![(EventKind::Updated, "a".into())]);
        let (events, _) = poll(cursor, &options, &[v2]);
        assert!(events.is_empty());
    }

    #[test]
    fn a_version_newer_than_creation_is_still_created_first() {
        // Modified long after creation, first seen in a later batch: created, not updated.
        let options = PollOptions { include_updates: true, max_events: Some(1), ..PollOptions::default() };
        let early = incident("early", "2026-01-01T00:01:00Z", "2026-01-01T09:00:00Z", Severity::Low);
        let later = incident("later", "2026-01-01T00:30:00Z", "2026-01-01T05:00:00Z", Severity::Low);
        let all = [early, later];
        let (first, cursor) = poll(start(), &options, &all);
        let (second, cursor) = poll(cursor, &options, &all);
        let (third, _) = poll(cursor, &options, &all);
        assert_eq!(first, vec![(EventKind::Created, "early".into())]);
        assert_eq!(second, vec![(EventKind::Created, "later".into())]);
        assert!(third.is_empty());
    }

    #[test]
    fn without_updates_a_change_is_never_a_second_created() {
        let options = PollOptions::default();
        let old = incident("old", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::High);
        let later = incident("x", "2026-01-01T02:00:00Z", "2026-01-01T02:00:00Z", Severity::High);
        let (_, cursor) = poll(start(), &options, &[old, later.clone()]);
        let touched = incident("old", "2026-01-01T00:01:00Z", "2026-01-01T03:00:00Z", Severity::High);
        let (events, _) = poll(cursor, &options, &[touched, later]);
        assert!(events.is_empty());
    }

    #[test]
    fn a_full_batch_resumes_where_it_stopped_even_on_one_timestamp() {
        let options = PollOptions { max_events: Some(2), look_back_secs: Some(0), ..PollOptions::default() };
        let same: Vec<Incident> = (0..5)
            .map(|i| incident(&format!("n{i}"), "2026-01-01T00:05:00Z", "2026-01-01T00:05:00Z", Severity::Low))
            .collect();
        let mut cursor = start();
        let mut delivered = Vec::new();
        for _ in 0..4 {
            let (events, next) = poll(cursor, &options, &same);
            delivered.extend(events.into_iter().map(|(_, name)| name));
            cursor = next;
        }
        assert_eq!(delivered, ["n0", "n1", "n2", "n3", "n4"]);
    }

    #[test]
    fn filtered_incidents_advance_the_watermark() {
        let options = PollOptions {
            min_severity: Some(Severity::High),
            title_excludes: vec!["*test*".into()],
            ..PollOptions::default()
        };
        let low = incident("low", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::Low);
        let (events, cursor) = poll(start(), &options, &[low]);
        assert!(events.is_empty());
        assert_eq!(format_time(cursor.watermark_micros()), "2026-01-01T00:01:00.000000Z");
    }

    #[test]
    fn filters_reach_the_service() {
        let options = PollOptions {
            min_severity: Some(Severity::Medium),
            statuses: vec![IncidentStatus::New, IncidentStatus::Active],
            ..PollOptions::default()
        };
        let (filter, order) = scan_query(&start(), &options, Phase::Created);
        assert_eq!(
            filter,
            "properties/createdTimeUtc ge 2026-01-01T00:00:00.000000Z and (properties/severity eq 'High' or properties/severity eq 'Medium') and (properties/status eq 'New' or properties/status eq 'Active')"
        );
        assert_eq!(order, "properties/createdTimeUtc asc");
        let (filter, _) = scan_query(&start(), &options, Phase::Modified);
        assert!(filter.starts_with(
            "properties/lastModifiedTimeUtc ge 2026-01-01T00:00:00.000000Z and properties/createdTimeUtc ge"
        ));
    }

    fn merged(mut incident: Incident) -> Incident {
        incident.properties.status = IncidentStatus::Closed;
        incident
            .properties
            .labels
            .push(super::super::incidents::Label { label_name: "redirected".into(), label_type: None });
        incident
    }

    #[test]
    fn a_merge_is_one_merged_event_with_updates_on_or_off() {
        for include_updates in [false, true] {
            let options = PollOptions { include_updates, ..PollOptions::default() };
            let a = incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::High);
            let (_, cursor) = poll(start(), &options, std::slice::from_ref(&a));
            let mut shell = merged(a);
            shell.properties.last_modified_time_utc = Some("2026-01-01T00:05:00Z".into());
            let (events, cursor) = poll(cursor, &options, std::slice::from_ref(&shell));
            assert_eq!(events, vec![(EventKind::Merged, "a".into())], "updates {include_updates}");
            let (events, _) = poll(cursor, &options, &[shell]);
            assert!(events.is_empty(), "once, updates {include_updates}");
        }
    }

    #[test]
    fn an_incident_already_merged_when_first_seen_is_merged_not_created() {
        for include_updates in [false, true] {
            let options = PollOptions { include_updates, ..PollOptions::default() };
            let shell = merged(incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z", Severity::High));
            let (events, cursor) = poll(start(), &options, std::slice::from_ref(&shell));
            assert_eq!(events, vec![(EventKind::Merged, "a".into())], "updates {include_updates}");
            let (events, _) = poll(cursor, &options, &[shell]);
            assert!(events.is_empty());
        }
    }

    #[test]
    fn merges_off_a_merge_is_an_ordinary_update_or_nothing() {
        let shell = merged(incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z", Severity::High));
        let options = PollOptions { ignore_merges: true, ..PollOptions::default() };
        assert_eq!(poll(start(), &options, std::slice::from_ref(&shell)).0, vec![(EventKind::Created, "a".into())]);
        assert_eq!(
            scan_query(&start(), &options, Phase::Created).0,
            "properties/createdTimeUtc ge 2026-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn a_merged_event_comes_whatever_statuses_are_polled() {
        let options = PollOptions { statuses: vec![IncidentStatus::New], ..PollOptions::default() };
        let (filter, _) = scan_query(&start(), &options, Phase::Modified);
        assert!(filter.ends_with(" and (properties/status eq 'Closed')"), "{filter}");
        let with_updates = PollOptions { include_updates: true, ..options.clone() };
        let (filter, _) = scan_query(&start(), &with_updates, Phase::Modified);
        assert!(filter.ends_with(" and (properties/status eq 'New' or properties/status eq 'Closed')"), "{filter}");
        let (filter, _) = scan_query(&start(), &with_updates, Phase::Created);
        assert!(filter.ends_with(" and (properties/status eq 'New')"), "{filter}");

        let a = incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::High);
        let (_, cursor) = poll(start(), &with_updates, std::slice::from_ref(&a));
        let mut closed = a.clone();
        closed.properties.status = IncidentStatus::Closed;
        closed.properties.last_modified_time_utc = Some("2026-01-01T00:03:00Z".into());
        let (events, _) = poll(cursor.clone(), &with_updates, std::slice::from_ref(&closed));
        assert!(events.is_empty(), "an ordinary close is outside the statuses polled");
        let (events, _) = poll(cursor, &with_updates, &[merged(closed)]);
        assert_eq!(events, vec![(EventKind::Merged, "a".into())]);
    }

    #[test]
    fn incidents_created_before_the_start_are_out_of_scope() {
        let old = incident("old", "2025-12-31T23:00:00Z", "2026-01-01T00:03:00Z", Severity::High);
        let (events, _) = poll(start(), &PollOptions { include_updates: true, ..PollOptions::default() }, &[old]);
        assert!(events.is_empty());
    }

    #[test]
    fn seven_digit_fractions_parse() {
        assert_eq!(parse_time("2026-01-01T00:00:00.1234567Z").unwrap() % 1_000_000, 123_456);
        assert!(validate(&PollOptions { first_fetch: Some("yesterday".into()), ..PollOptions::default() }).is_err());
    }
}
