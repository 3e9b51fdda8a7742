//! The incident poller: every incident delivered exactly once, across pages,
//! restarts and late arrivals, with no state kept between calls but the cursor.
//!
//! How it works (the README's "Poller semantics" says the same for users):
//! - Each poll scans incidents whose `lastModifiedTimeUtc` is at or after
//!   `watermark - look_back`, oldest first. The watermark is the newest
//!   modification time processed so far, so nothing is missed when numbers do
//!   not follow creation time, when many incidents share one timestamp across
//!   a page boundary, or when an incident becomes visible late (within the
//!   look-back window).
//! - The cursor remembers each incident modified inside the look-back window,
//!   with the version it was delivered at, so the re-scanned window is never
//!   delivered twice. Entries older than the window are dropped: the cursor's
//!   size follows the window, not the number of incidents ever seen.
//! - An incident not remembered is `created` if it was created inside the
//!   scanned window, and otherwise an `updated` version of one an earlier
//!   poll delivered.
//! - Incidents created before the first-fetch start are out of scope.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::incidents::{Incident, IncidentStatus, Severity};

const CURSOR_PREFIX: &str = "sp1.";
/// Far above any real window; refuses a corrupt or hostile cursor early.
const MAX_CURSOR_LEN: usize = 1 << 20;
pub const DEFAULT_LOOK_BACK_SECS: u32 = 300;
pub const DEFAULT_MAX_EVENTS: u32 = 100;
pub const MAX_EVENTS: u32 = 5000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub incident: Incident,
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
}

/// The saved state between polls. Times are microseconds since the epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Incidents created before this are out of scope.
    start: i64,
    /// The newest `lastModifiedTimeUtc` processed.
    watermark: i64,
    /// Incident name → the modification time it was last delivered (or
    /// skipped) at, for incidents modified inside the look-back window.
    seen: BTreeMap<String, i64>,
}

/// `v` first, then the state: a reader checks the version before the rest.
#[derive(Serialize, Deserialize)]
struct CursorV1 {
    v: u32,
    state: Cursor,
}

impl Cursor {
    pub fn first(start_micros: i64) -> Self {
        Cursor { start: start_micros, watermark: start_micros, seen: BTreeMap::new() }
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(&CursorV1 { v: 1, state: self.clone() }).unwrap_or_default();
        format!("{CURSOR_PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    pub fn decode(text: &str) -> Result<Cursor, Error> {
        let refuse = |reason: &str| Error::invalid("cursor", format!("{reason}; pass the cursor the last poll returned, unchanged, or none to start over"));
        if text.len() > MAX_CURSOR_LEN {
            return Err(refuse("is too long to be a cursor"));
        }
        let Some(body) = text.trim().strip_prefix(CURSOR_PREFIX) else {
            return Err(refuse("is not a cursor of a version this connector knows (expected sp1.)"));
        };
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| refuse("is corrupt (not base64url)"))?;
        let versioned: CursorV1 = serde_json::from_slice(&bytes).map_err(|_| refuse("is corrupt"))?;
        if versioned.v != 1 {
            return Err(refuse(&format!("has version {}, which this connector does not know", versioned.v)));
        }
        let cursor = versioned.state;
        if cursor.watermark < cursor.start {
            return Err(refuse("is corrupt (its watermark is before its start)"));
        }
        Ok(cursor)
    }

    pub fn watermark_micros(&self) -> i64 {
        self.watermark
    }

    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

/// Checks the options before any request.
pub fn validate(options: &PollOptions) -> Result<(), Error> {
    if let Some(max) = options.max_events {
        if !(1..=MAX_EVENTS).contains(&max) {
            return Err(Error::invalid("max-events", format!("{max} is outside 1 to {MAX_EVENTS}")));
        }
    }
    if let Some(first) = &options.first_fetch {
        parse_time(first).map_err(|reason| Error::invalid("first-fetch", reason))?;
    }
    for (field, patterns) in [("title-includes", &options.title_includes), ("title-excludes", &options.title_excludes)] {
        if patterns.iter().any(|p| p.trim().is_empty() || p.chars().any(char::is_control)) {
            return Err(Error::invalid(field, "holds an empty pattern or a control character"));
        }
    }
    if let Some(Severity::Other(text)) = &options.min_severity {
        return Err(Error::invalid("min-severity", format!("'{text}' is not High, Medium, Low or Informational")));
    }
    Ok(())
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

/// The server-side part of the selection: the window, and the severity and
/// status filters, so filtered incidents are not even sent.
pub fn scan_filter(cursor: &Cursor, options: &PollOptions) -> String {
    let mut clauses = vec![format!("properties/lastModifiedTimeUtc ge {}", format_time(window_start(cursor, options)))];
    let severities = severities_at_least(options.min_severity.as_ref());
    if !severities.is_empty() {
        clauses.push(any_of("properties/severity", severities.iter().map(|s| s.as_str())));
    }
    if !options.statuses.is_empty() {
        clauses.push(any_of("properties/status", options.statuses.iter().map(IncidentStatus::as_str)));
    }
    clauses.join(" and ")
}

pub const SCAN_ORDER: &str = "properties/lastModifiedTimeUtc asc";

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

fn window_start(cursor: &Cursor, options: &PollOptions) -> i64 {
    let look_back = i64::from(options.look_back_secs.unwrap_or(DEFAULT_LOOK_BACK_SECS)) * 1_000_000;
    cursor.start.max(cursor.watermark - look_back)
}

/// One poll in progress: incidents are offered oldest first; it says when
/// the batch is full.
pub struct Scan<'a> {
    options: &'a PollOptions,
    cursor: Cursor,
    window_start: i64,
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
        let window_start = window_start(&cursor, options);
        let max_events = options.max_events.unwrap_or(DEFAULT_MAX_EVENTS) as usize;
        Scan { options, cursor, window_start, events: Vec::new(), max_events }
    }

    /// Decides what one incident means, and remembers it.
    pub fn offer(&mut self, incident: Incident) -> Result<Progress, Error> {
        let modified = incident_time(&incident, incident.properties.last_modified_time_utc.as_deref(), "lastModifiedTimeUtc")?;
        let created = incident_time(&incident, incident.properties.created_time_utc.as_deref(), "createdTimeUtc")?;
        self.cursor.watermark = self.cursor.watermark.max(modified);
        if created < self.cursor.start {
            return Ok(Progress::Continue);
        }
        let previous = self.cursor.seen.insert(incident.name.clone(), modified);
        let kind = match previous {
            Some(version) if version >= modified => return Ok(Progress::Continue),
            Some(_) => EventKind::Updated,
            None if created >= self.window_start => EventKind::Created,
            None => EventKind::Updated,
        };
        if kind == EventKind::Updated && !self.options.include_updates {
            return Ok(Progress::Continue);
        }
        if !self.selected(&incident) {
            return Ok(Progress::Continue);
        }
        self.events.push(Event { kind, incident });
        Ok(if self.events.len() >= self.max_events { Progress::BatchFull } else { Progress::Continue })
    }

    /// The filters the service cannot apply, checked here as well as the
    /// ones it can (a service that ignored them would not leak incidents).
    fn selected(&self, incident: &Incident) -> bool {
        let p = &incident.properties;
        let severities = severities_at_least(self.options.min_severity.as_ref());
        let title = p.title.to_ascii_lowercase();
        let matches = |pattern: &String| wildmatch::WildMatch::new(&pattern.to_ascii_lowercase()).matches(&title);
        (severities.is_empty() || severities.contains(&p.severity))
            && (self.options.statuses.is_empty() || self.options.statuses.contains(&p.status))
            && (self.options.title_includes.is_empty() || self.options.title_includes.iter().any(matches))
            && !self.options.title_excludes.iter().any(matches)
    }

    /// The events and the cursor to save, with entries older than the next
    /// window dropped.
    pub fn finish(mut self) -> (Vec<Event>, Cursor) {
        let next_window = window_start(&self.cursor, self.options);
        self.cursor.seen.retain(|_, modified| *modified >= next_window);
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
        .map_err(|e| format!("'{}' is not an RFC 3339 UTC time ({e})", super::config::shown(text)))?;
    Ok(micros(time))
}

fn micros(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_micros() as i64,
        Err(before) => -(before.duration().as_micros() as i64),
    }
}

/// `2024-01-01T10:00:00.123456Z`: what the OData filter compares against.
pub fn format_time(micros: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_micros(micros.max(0) as u64);
    humantime::format_rfc3339_micros(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::incidents::IncidentProperties;

    fn incident(name: &str, created: &str, modified: &str, severity: Severity) -> Incident {
        Incident {
            id: String::new(),
            name: name.into(),
            etag: None,
            properties: IncidentProperties {
                title: format!("Incident {name}"),
                severity,
                status: IncidentStatus::New,
                description: None,
                classification: None,
                classification_reason: None,
                classification_comment: None,
                owner: None,
                labels: vec![],
                created_time_utc: Some(created.into()),
                last_modified_time_utc: Some(modified.into()),
                first_activity_time_utc: None,
                last_activity_time_utc: None,
                incident_number: None,
                incident_url: None,
                provider_name: None,
                provider_incident_id: None,
                related_analytic_rule_ids: vec![],
                additional_data: None,
            },
        }
    }

    fn start() -> Cursor {
        Cursor::first(parse_time("2026-01-01T00:00:00Z").unwrap())
    }

    fn poll(cursor: Cursor, options: &PollOptions, incidents: Vec<Incident>) -> (Vec<(EventKind, String)>, Cursor) {
        let mut scan = Scan::new(cursor, options);
        for incident in incidents {
            if scan.offer(incident).unwrap() == Progress::BatchFull {
                break;
            }
        }
        let (events, cursor) = scan.finish();
        (events.into_iter().map(|e| (e.kind, e.incident.name)).collect(), cursor)
    }

    #[test]
    fn the_cursor_round_trips_and_refuses_corruption() {
        let mut cursor = start();
        cursor.seen.insert("a".into(), 5);
        let text = cursor.encode();
        assert!(text.starts_with("sp1."));
        assert_eq!(Cursor::decode(&text).unwrap(), cursor);
        for bad in ["", "sp2.abc", "sp1.!!!", "sp1.e30", &text[..text.len() - 3]] {
            assert!(matches!(Cursor::decode(bad), Err(Error::InvalidInput { ref field, .. }) if field == "cursor"), "{bad}");
        }
    }

    #[test]
    fn the_re_scanned_window_is_not_delivered_twice() {
        let options = PollOptions::default();
        let a = incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::High);
        let (events, cursor) = poll(start(), &options, vec![a.clone()]);
        assert_eq!(events, vec![(EventKind::Created, "a".into())]);
        let (events, _) = poll(cursor, &options, vec![a]);
        assert!(events.is_empty());
    }

    #[test]
    fn a_late_arrival_behind_the_watermark_is_delivered_once() {
        let options = PollOptions::default();
        let b = incident("b", "2026-01-01T00:10:00Z", "2026-01-01T00:10:00Z", Severity::Low);
        let (_, cursor) = poll(start(), &options, vec![b.clone()]);
        let late = incident("late", "2026-01-01T00:08:00Z", "2026-01-01T00:08:00Z", Severity::Low);
        let (events, cursor) = poll(cursor, &options, vec![late.clone(), b.clone()]);
        assert_eq!(events, vec![(EventKind::Created, "late".into())]);
        let (events, _) = poll(cursor, &options, vec![late, b]);
        assert!(events.is_empty());
    }

    #[test]
    fn updates_are_delivered_once_per_version_when_asked() {
        let options = PollOptions { include_updates: true, ..PollOptions::default() };
        let v1 = incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::High);
        let v2 = incident("a", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z", Severity::High);
        let (_, cursor) = poll(start(), &options, vec![v1]);
        let (events, cursor) = poll(cursor, &options, vec![v2.clone()]);
        assert_eq!(events, vec![(EventKind::Updated, "a".into())]);
        let (events, _) = poll(cursor, &options, vec![v2]);
        assert!(events.is_empty());
    }

    #[test]
    fn an_update_of_an_incident_outside_the_window_is_updated_not_created() {
        let options = PollOptions { include_updates: true, ..PollOptions::default() };
        let old = incident("old", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::High);
        let later = incident("x", "2026-01-01T02:00:00Z", "2026-01-01T02:00:00Z", Severity::High);
        let (_, cursor) = poll(start(), &options, vec![old, later]);
        assert_eq!(cursor.remembered(), 1, "the old entry left the window");
        let touched = incident("old", "2026-01-01T00:01:00Z", "2026-01-01T03:00:00Z", Severity::High);
        let (events, _) = poll(cursor.clone(), &options, vec![touched.clone()]);
        assert_eq!(events, vec![(EventKind::Updated, "old".into())]);
        let (events, _) = poll(cursor, &PollOptions::default(), vec![touched]);
        assert!(events.is_empty(), "without updates, never a second created");
    }

    #[test]
    fn a_full_batch_resumes_where_it_stopped_even_on_one_timestamp() {
        let options = PollOptions { max_events: Some(2), look_back_secs: Some(0), ..PollOptions::default() };
        let same: Vec<Incident> =
            (0..5).map(|i| incident(&format!("n{i}"), "2026-01-01T00:05:00Z", "2026-01-01T00:05:00Z", Severity::Low)).collect();
        let mut cursor = start();
        let mut delivered = Vec::new();
        for _ in 0..4 {
            let (events, next) = poll(cursor, &options, same.clone());
            delivered.extend(events.into_iter().map(|(_, name)| name));
            cursor = next;
        }
        assert_eq!(delivered, ["n0", "n1", "n2", "n3", "n4"]);
    }

    #[test]
    fn filtered_incidents_advance_the_watermark() {
        let options = PollOptions { min_severity: Some(Severity::High), title_excludes: vec!["*test*".into()], ..PollOptions::default() };
        let low = incident("low", "2026-01-01T00:01:00Z", "2026-01-01T00:01:00Z", Severity::Low);
        let (events, cursor) = poll(start(), &options, vec![low]);
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
        assert_eq!(
            scan_filter(&start(), &options),
            "properties/lastModifiedTimeUtc ge 2026-01-01T00:00:00.000000Z and (properties/severity eq 'High' or properties/severity eq 'Medium') and (properties/status eq 'New' or properties/status eq 'Active')"
        );
    }

    #[test]
    fn incidents_created_before_the_start_are_out_of_scope() {
        let old = incident("old", "2025-12-31T23:00:00Z", "2026-01-01T00:03:00Z", Severity::High);
        let (events, _) = poll(start(), &PollOptions { include_updates: true, ..PollOptions::default() }, vec![old]);
        assert!(events.is_empty());
    }

    #[test]
    fn seven_digit_fractions_parse() {
        assert_eq!(parse_time("2026-01-01T00:00:00.1234567Z").unwrap() % 1_000_000, 123_456);
        assert!(validate(&PollOptions { first_fetch: Some("yesterday".into()), ..PollOptions::default() }).is_err());
    }
}
