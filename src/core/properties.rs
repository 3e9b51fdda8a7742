//! Property tests over everything that parses what the network or a user
//! sends (issue 9, "Make it stay fixed"): cursors, nextLinks, ids,
//! `Retry-After`, token answers, error bodies and their redaction, incident,
//! entity and Graph JSON, KQL and hunting tables, and the configuration.
//!
//! No input may panic. Where it is cheap, a property that matters is checked
//! too: a result is `Ok` or a typed error, a saved cursor is accepted back, a
//! followed nextLink keeps the endpoint's origin and carries no credentials, no
//! eight characters of any encoded form of a secret survive redaction, waits
//! and token lifetimes are clamped.
//!
//! Inputs are built to reach the checks behind the parsers: JSON assembled
//! field by field from the shapes the services send (each field sometimes of
//! the wrong type, missing, or duplicated), numbers past every integer type,
//! multi-byte and control characters, and secrets cut anywhere and encoded as
//! a server might echo them. The seed and the case counts are fixed so CI runs
//! the same cases every time; a failure is kept in `proptest-regressions/`.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{FileFailurePersistence, RngSeed};
use serde_json::Value;
use url::Url;

use super::auth::{self, Api, TokenCache, MAX_TOKEN_LIFETIME_SECS, REFRESH_MARGIN_SECS};
use super::client::{Client, Transport};
use super::config::{self, Cloud, ConnectionConfig, Credential, CustomCloud, ProtectedAccounts, Settings};
use super::error::{self, Error, MAX_MESSAGE_CHARS};
use super::graph::containment::ContainmentAction;
use super::graph::users::{self, GroupRef, RiskyUser, UserRef};
use super::graph::{hunting, security};
use super::http::{Request, Response, Secret, Timeouts};
use super::kql::{self as kql_cells, Cell};
use super::paging::Page;
use super::redact::{self, encoded_forms, Redactor, MIN_PART, REDACTED};
use super::retry::{self, Decision, RetryPolicy, MAX_RETRY_AFTER};
use super::sentinel::incidents::{self, Incident, IncidentProperties, IncidentStatus, ListOptions, Severity};
use super::sentinel::poller::{self, Cursor, Phase, PollOptions, Progress, Scan, MAX_TIME_MICROS};
use super::sentinel::query;
use super::sentinel::{comments, entities, relations};
use super::{check, ids, paging};

/// Fixed, so CI runs the same cases on every machine and every run.
const SEED: u64 = 0x0009_5e47_1ae1_0009;

fn proptest_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(SEED),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel("proptest-regressions"))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Text and JSON generators
// ---------------------------------------------------------------------------

/// Characters that break naive code: controls (C0, C1, DEL), terminal
/// escapes, Unicode whitespace and zero-width characters, characters whose
/// case mapping changes their length, astral characters, and the ASCII
/// punctuation that means something in URLs, JSON, form bodies and OData.
const SPECIAL: &[char] = &[
    '\u{0}',
    '\t',
    '\n',
    '\r',
    '\u{7}',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{9b}',
    '\u{a0}',
    '\u{200b}',
    '\u{200d}',
    '\u{2028}',
    '\u{202e}',
    '\u{2060}',
    '\u{3000}',
    '\u{feff}',
    'é',
    'ß',
    'İ',
    'ﬃ',
    'Ω',
    '⚠',
    '😀',
    '\u{10ffff}',
    '"',
    '\\',
    '/',
    '%',
    '+',
    '&',
    '=',
    '?',
    '#',
    '@',
    ':',
    ';',
    '.',
    '~',
    '\'',
    ' ',
    '-',
    '_',
    '[',
    ']',
    '{',
    '}',
    ',',
    '*',
    '$',
    '(',
    ')',
    '<',
    '>',
];

fn tricky_char() -> BoxedStrategy<char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('0', '9'),
        2 => select(SPECIAL),
        2 => any::<char>(),
    ]
    .boxed()
}

/// Up to `max` characters, any of them tricky.
fn text(max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(tricky_char(), 0..=max).prop_map(String::from_iter).boxed()
}

/// JSON text, built so that numbers can be written as no integer type holds
/// them and strings carry any character.
#[derive(Clone, Debug)]
enum J {
    /// Written as is: `null`, `true`, numbers of any size, broken escapes.
    Raw(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Raw(raw) => out.push_str(raw),
            J::Str(text) => out.push_str(&quoted(text)),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&quoted(key));
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}

fn s(text: impl Into<String>) -> J {
    J::Str(text.into())
}

/// Numbers as JSON text: every integer type's edges and past them, floats,
/// exponents no float holds.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "1.0",
    "1e2",
    "1E400",
    "1e999",
    "-1e999",
    "3599",
    "86400",
    "86401",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "0.000000000000000000000000000001",
];

fn number() -> BoxedStrategy<String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:?}")),
        select(NUMBERS).prop_map(str::to_owned),
    ]
    .boxed()
}

/// Keys the connector's parsers look for, so random objects hit them.
const KEYS: &[&str] = &[
    "id",
    "name",
    "kind",
    "etag",
    "properties",
    "value",
    "nextLink",
    "@odata.nextLink",
    "title",
    "severity",
    "status",
    "createdTimeUtc",
    "lastModifiedTimeUtc",
    "entities",
    "error",
    "code",
    "message",
    "details",
    "innerError",
    "request-id",
    "date",
    "tables",
    "columns",
    "rows",
    "type",
    "schema",
    "results",
    "evidence",
    "@odata.type",
    "alerts",
    "roles",
    "access_token",
    "expires_in",
    "token_type",
    "error_codes",
    "error_description",
    "friendlyName",
    "hostEntityId",
    "accountEntityIds",
    "labels",
    "owner",
    "additionalData",
    "v",
    "state",
    "mark",
    "seen",
];

fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => select(KEYS).prop_map(str::to_owned), 1 => text(12)].boxed()
}

fn scalar() -> BoxedStrategy<J> {
    prop_oneof![
        1 => Just(J::Raw("null".into())),
        1 => any::<bool>().prop_map(|b| J::Raw(b.to_string())),
        2 => number().prop_map(J::Raw),
        1 => number().prop_map(J::Str),
        3 => text(24).prop_map(J::Str),
    ]
    .boxed()
}

/// Any JSON value, nested a few levels.
fn any_json() -> BoxedStrategy<J> {
    scalar()
        .prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(J::Arr),
                prop::collection::vec((key(), inner), 0..5).prop_map(J::Obj),
            ]
        })
        .boxed()
}

/// A field of an object and the values of the shape it expects.
struct Field {
    key: &'static str,
    good: BoxedStrategy<J>,
    required: bool,
}

fn field(key: &'static str, good: BoxedStrategy<J>) -> Field {
    Field { key, good, required: false }
}

/// A field the parser requires: always there in an object of the shape.
fn must(key: &'static str, good: BoxedStrategy<J>) -> Field {
    Field { key, good, required: true }
}

/// An object of these fields, in this order. Most objects are of the
/// expected shape (each field present with a value of its shape, or left
/// out), so the parsers' later checks are reached; the others are wild:
/// any field may be any JSON at all (a wrong type, `null`, a huge number),
/// and a stray field or two is added (unknown, or a known one again).
fn object(fields: Vec<Field>) -> BoxedStrategy<J> {
    let shaped: Vec<BoxedStrategy<Option<(String, J)>>> = fields
        .iter()
        .map(|Field { key, good, required }| {
            let key = *key;
            let absent = if *required { 0 } else { 1 };
            prop_oneof![absent => Just(None), 6 => good.clone().prop_map(move |value| Some((key.to_owned(), value)))]
                .boxed()
        })
        .collect();
    let wild: Vec<BoxedStrategy<Option<(String, J)>>> = fields
        .iter()
        .map(|Field { key, good, .. }| {
            let key = *key;
            prop_oneof![
                1 => Just(None),
                5 => good.clone().prop_map(move |value| Some((key.to_owned(), value))),
                1 => any_json().prop_map(move |value| Some((key.to_owned(), value))),
            ]
            .boxed()
        })
        .collect();
    prop_oneof![
        3 => shaped.prop_map(|fields| J::Obj(fields.into_iter().flatten().collect())),
        1 => (wild, prop::collection::vec((key(), any_json()), 0..3))
            .prop_map(|(fields, extra)| J::Obj(fields.into_iter().flatten().chain(extra).collect())),
    ]
    .boxed()
}

fn list_of(item: BoxedStrategy<J>, max: usize) -> BoxedStrategy<J> {
    prop::collection::vec(item, 0..=max).prop_map(J::Arr).boxed()
}

/// One of the values a service sends, in another case, or any text.
fn one_of(values: &'static [&'static str]) -> BoxedStrategy<J> {
    prop_oneof![
        4 => select(values).prop_map(s),
        1 => select(values).prop_map(|v| s(v.to_uppercase())),
        2 => text(16).prop_map(J::Str),
    ]
    .boxed()
}

fn any_text_j(max: usize) -> BoxedStrategy<J> {
    text(max).prop_map(J::Str).boxed()
}

fn int_j() -> BoxedStrategy<J> {
    prop_oneof![4 => (0u32..100_000).prop_map(|n| J::Raw(n.to_string())), 1 => number().prop_map(J::Raw)].boxed()
}

fn bool_j() -> BoxedStrategy<J> {
    prop_oneof![4 => any::<bool>().prop_map(|b| J::Raw(b.to_string())), 1 => select(&["\"true\"", "0", "1", "null"][..]).prop_map(|t| J::Raw(t.into()))].boxed()
}

/// A body as the network delivers it: the shape, cut short, any JSON, any
/// bytes, or nesting far past any recursion limit.
fn body(shape: BoxedStrategy<J>) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        8 => shape.clone().prop_map(|j| j.render().into_bytes()),
        1 => (shape, any::<Index>()).prop_map(|(j, cut)| {
            let text = j.render().into_bytes();
            let at = cut.index(text.len() + 1);
            text[..at].to_vec()
        }),
        1 => any_json().prop_map(|j| j.render().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (select(&[127usize, 128, 129, 5_000, 100_000][..]), select(&["[", "{\"a\":", "{\"value\":[", "{\"properties\":"][..]))
            .prop_map(|(depth, open)| open.repeat(depth).into_bytes()),
        1 => select(&["", " ", "null", "[]", "{}", "\"x\"", "1e999", "\u{feff}{}", "{\"value\":null}"][..]).prop_map(|t| t.as_bytes().to_vec()),
    ]
    .boxed()
}

/// A JSON value the parsers' callers hold (`serde_json` refuses what it
/// cannot represent, such as `1e999`; those bodies are tested as bytes).
fn json_value() -> BoxedStrategy<Value> {
    any_json().prop_filter_map("representable in serde_json", |j| serde_json::from_str(&j.render()).ok()).boxed()
}

/// Times as services and users write them, and how they get them wrong.
const EDGE_TIMES: &[&str] = &[
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59.9999999Z",
    "9999-12-31T23:59:60Z",
    "9999-12-31T23:59:60.999999Z",
    "2016-12-31T23:59:60Z",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2024-02-29T12:00:00Z",
    "2023-02-29T12:00:00Z",
    "2024-01-01T00:00:00.1234567890123Z",
    "2024-01-01 00:00:00Z",
    "2024-01-01T00:00:00+14:00",
    " 2024-01-01T00:00:00Z ",
    "2024-01-01T00:00:00ZZ",
    "2024-01-01T24:00:00Z",
    "2024-01-01",
    "",
];

fn time_text() -> BoxedStrategy<String> {
    let zone = select(&["Z", "z", "", "+01:00", "-00:00", " Z", "ZZ"][..]);
    let parts = (0u32..10_001, 0u32..14, 0u32..33, 0u32..26, 0u32..62, 0u32..62, "[0-9]{0,12}", zone);
    prop_oneof![
        4 => any::<i64>().prop_map(poller::format_time),
        4 => (0..=MAX_TIME_MICROS).prop_map(poller::format_time),
        3 => select(EDGE_TIMES).prop_map(str::to_owned),
        2 => parts.prop_map(|(y, mo, d, h, mi, sec, frac, zone)| {
            let frac = if frac.is_empty() { frac } else { format!(".{frac}") };
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}{frac}{zone}")
        }),
        1 => text(30),
    ]
    .boxed()
}

/// Any moment a clock may report, from before the epoch to far past 9999.
fn any_system_time() -> BoxedStrategy<SystemTime> {
    prop_oneof![
        3 => (0..=MAX_TIME_MICROS as u64).prop_map(|m| UNIX_EPOCH + Duration::from_micros(m)),
        1 => any::<u64>().prop_map(|m| UNIX_EPOCH.checked_add(Duration::from_micros(m)).unwrap_or(UNIX_EPOCH)),
        1 => any::<u64>().prop_map(|m| UNIX_EPOCH.checked_sub(Duration::from_micros(m)).unwrap_or(UNIX_EPOCH)),
    ]
    .boxed()
}

fn any_duration() -> BoxedStrategy<Duration> {
    prop_oneof![
        3 => (0u64..200_000).prop_map(Duration::from_millis),
        1 => (any::<u64>(), 0u32..1_000_000_000).prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
        1 => Just(Duration::MAX),
    ]
    .boxed()
}

/// A status a server may send: the ones the connector handles, and any.
fn status() -> BoxedStrategy<u16> {
    prop_oneof![
        3 => select(&[200u16, 201, 204, 301, 302, 307, 308, 400, 401, 403, 404, 405, 408, 409, 412, 413, 422, 429, 500, 502, 503, 504][..]),
        1 => any::<u16>(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// Secrets and leaks
// ---------------------------------------------------------------------------

/// Secrets as configured: Azure-generated client secrets (with `~`), JWT-like
/// tokens, and any text without the characters of the redaction marker.
fn secret() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[A-Za-z0-9]{3}8Q~[A-Za-z0-9_.~-]{34}",
        2 => "eyJ[A-Za-z0-9_-]{10,30}\\.[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{5,20}",
        2 => "[A-Za-z0-9+/=~._-]{8,40}",
        2 => text(30).prop_filter("printable, no marker characters", |t| {
            t.chars().count() >= MIN_PART && !t.contains(['[', ']']) && !t.contains("redacted") && !t.chars().any(char::is_control) && !t.trim().is_empty()
        }),
    ]
    .boxed()
}

/// The first run of [`MIN_PART`] characters of an encoded form of `secret`
/// that `shown` contains.
fn leak(shown: &str, secret: &str) -> Option<String> {
    for form in encoded_forms(secret) {
        let chars: Vec<char> = form.chars().collect();
        for window in chars.windows(MIN_PART) {
            let window: String = window.iter().collect();
            if shown.contains(&window) {
                return Some(window);
            }
        }
    }
    None
}

/// A piece of one of the secrets as a server might echo it: one encoded
/// form, whole or cut anywhere to at least [`MIN_PART`] characters.
#[derive(Clone, Debug)]
struct Cut {
    secret: Index,
    form: Index,
    start: Index,
    len: usize,
    whole: bool,
}

fn cut() -> BoxedStrategy<Cut> {
    (any::<Index>(), any::<Index>(), any::<Index>(), MIN_PART..64, any::<bool>())
        .prop_map(|(secret, form, start, len, whole)| Cut { secret, form, start, len, whole })
        .boxed()
}

impl Cut {
    fn of(&self, secrets: &[String]) -> String {
        let forms = encoded_forms(&secrets[self.secret.index(secrets.len())]);
        let form: Vec<char> = forms[self.form.index(forms.len())].chars().collect();
        if self.whole || form.len() <= self.len {
            return form.iter().collect();
        }
        let start = self.start.index(form.len() - self.len + 1);
        form[start..start + self.len].iter().collect()
    }
}

// ---------------------------------------------------------------------------
// Cursors
// ---------------------------------------------------------------------------

/// A time as a cursor may hold one: any i64, with the edges of 1970 to 9999.
fn cursor_time() -> BoxedStrategy<i64> {
    prop_oneof![
        3 => any::<i64>(),
        3 => 0..=MAX_TIME_MICROS,
        1 => select(&[0, -1, MAX_TIME_MICROS, MAX_TIME_MICROS + 1, i64::MIN, i64::MAX][..]),
    ]
    .boxed()
}

fn stream_json(time: BoxedStrategy<i64>) -> BoxedStrategy<J> {
    let seen = prop::collection::vec((text(12), time.clone()), 0..4)
        .prop_map(|seen| J::Obj(seen.into_iter().map(|(name, at)| (name, J::Raw(at.to_string()))).collect()));
    object(vec![field("mark", time.prop_map(|t| J::Raw(t.to_string())).boxed()), field("seen", seen.boxed())])
}

/// `{v, state: {start, created, modified}}` with any values, any of them
/// missing or of the wrong type.
fn any_cursor_json() -> BoxedStrategy<J> {
    let version = prop_oneof![4 => Just(J::Raw("1".into())), 1 => int_j(), 1 => Just(s("1"))].boxed();
    let state = object(vec![
        field("start", cursor_time().prop_map(|t| J::Raw(t.to_string())).boxed()),
        field("created", stream_json(cursor_time())),
        field("modified", stream_json(cursor_time())),
    ]);
    object(vec![field("v", version), field("state", state)])
}

/// A cursor the poller could have written: every time inside 1970 to 9999,
/// each watermark at or after the start.
fn valid_cursor_json() -> BoxedStrategy<J> {
    let half = MAX_TIME_MICROS / 2;
    let seen = || prop::collection::vec((text(12), 0..=MAX_TIME_MICROS), 0..4);
    (0..=half, 0..=half, 0..=half, seen(), seen())
        .prop_map(|(start, created, modified, created_seen, modified_seen)| {
            let stream = |mark: i64, seen: Vec<(String, i64)>| {
                J::Obj(vec![
                    ("mark".into(), J::Raw(mark.to_string())),
                    (
                        "seen".into(),
                        J::Obj(seen.into_iter().map(|(name, at)| (name, J::Raw(at.to_string()))).collect()),
                    ),
                ])
            };
            J::Obj(vec![
                ("v".into(), J::Raw("1".into())),
                (
                    "state".into(),
                    J::Obj(vec![
                        ("start".into(), J::Raw(start.to_string())),
                        ("created".into(), stream(start + created, created_seen)),
                        ("modified".into(), stream(start + modified, modified_seen)),
                    ]),
                ),
            ])
        })
        .boxed()
}

fn sp1(json: &J) -> String {
    format!("sp1.{}", URL_SAFE_NO_PAD.encode(json.render()))
}

/// What a caller may pass as a cursor: mostly well-encoded JSON (so the
/// decoder's checks are reached), and every way of getting it wrong.
fn cursor_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => any_cursor_json().prop_map(|j| sp1(&j)),
        3 => valid_cursor_json().prop_map(|j| sp1(&j)),
        1 => (valid_cursor_json(), select(&["", " ", "\n", "\t", "\u{a0}"][..]), select(&["", " ", "\r\n", "="][..]))
            .prop_map(|(j, before, after)| format!("{before}{}{after}", sp1(&j))),
        1 => any_json().prop_map(|j| sp1(&j)),
        1 => prop::collection::vec(any::<u8>(), 0..48).prop_map(|b| format!("sp1.{}", URL_SAFE_NO_PAD.encode(b))),
        1 => any_cursor_json().prop_map(|j| format!("sp1.{}", STANDARD.encode(j.render()))),
        1 => text(40).prop_map(|t| format!("sp1.{t}")),
        1 => select(&["sp0.e30", "sp2.e30", "SP1.e30", "sp1.", "sp1", ""][..]).prop_map(str::to_owned),
        1 => text(40),
    ]
    .boxed()
}

fn poll_options() -> BoxedStrategy<PollOptions> {
    let pattern = "[a-zA-Z0-9 *?é]{0,6}[a-z*?]";
    (
        prop::option::of(any::<u32>()),
        prop::option::of(1u32..8),
        any::<bool>(),
        prop::option::of(select(&[Severity::High, Severity::Medium, Severity::Low, Severity::Informational][..])),
        prop::collection::vec(select(&[IncidentStatus::New, IncidentStatus::Active, IncidentStatus::Closed][..]), 0..2),
        prop::collection::vec(pattern, 0..2),
        prop::collection::vec(pattern, 0..2),
    )
        .prop_map(
            |(look_back_secs, max_events, include_updates, min_severity, statuses, title_includes, title_excludes)| {
                PollOptions {
                    first_fetch: None,
                    look_back_secs,
                    max_events,
                    include_updates,
                    min_severity,
                    statuses,
                    title_includes,
                    title_excludes,
                    include_details: false,
                    detail_concurrency: None,
                    ignore_merges: false,
                    own_writes: Vec::new(),
                }
            },
        )
        .boxed()
}

fn severity() -> BoxedStrategy<Severity> {
    prop_oneof![
        4 => select(&[Severity::High, Severity::Medium, Severity::Low, Severity::Informational][..]),
        1 => text(8).prop_map(Severity::Other),
    ]
    .boxed()
}

fn incident_status() -> BoxedStrategy<IncidentStatus> {
    prop_oneof![
        4 => select(&[IncidentStatus::New, IncidentStatus::Active, IncidentStatus::Closed][..]),
        1 => text(8).prop_map(IncidentStatus::Other),
    ]
    .boxed()
}

/// An incident as a page delivers it to the poller: any name and title, and
/// times of every kind, a few of them shared so re-reads happen.
fn polled_incident() -> BoxedStrategy<Incident> {
    let name = prop_oneof![3 => select(&["a", "b", "c", "A"][..]).prop_map(str::to_owned), 1 => text(10)];
    let time = prop_oneof![
        3 => select(&["2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", "2024-01-01T00:10:00Z"][..]).prop_map(|t| Some(t.to_owned())),
        4 => time_text().prop_map(Some),
        1 => Just(None),
    ];
    (name, text(12), severity(), incident_status(), time.clone(), time)
        .prop_map(|(name, title, severity, status, created, modified)| {
            let mut properties = IncidentProperties::new(title, severity, status);
            properties.created_time_utc = created;
            properties.last_modified_time_utc = modified;
            Incident { id: String::new(), name, etag: None, properties, write_receipt: None }
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// nextLinks
// ---------------------------------------------------------------------------

const ENDPOINTS: &[&str] = &[
    "https://management.azure.com",
    "http://127.0.0.1:7000",
    "https://graph.microsoft.com",
    "https://[::1]:8443",
    "https://api.example:443/base",
];

fn endpoint() -> BoxedStrategy<Url> {
    select(ENDPOINTS)
        .prop_map(|base| config::base_url("endpoint", base).expect("the endpoints above are valid"))
        .boxed()
}

/// Next links on the endpoint and around it: other schemes, hosts spelled
/// to confuse a parser, ports, user info, and paths of any text.
fn link() -> BoxedStrategy<String> {
    let scheme = select(&["https", "http", "HTTPS", "ftp", "javascript", "file"][..]);
    let userinfo = select(&["", "", "", "user@", "user:pw@", ":@", "@", ":pw@", "%40@"][..]);
    let host = select(
        &[
            "management.azure.com",
            "MANAGEMENT.Azure.COM",
            "management.azure.com.",
            "graph.microsoft.com",
            "api.example",
            "127.0.0.1",
            "127.1",
            "0x7f.1",
            "2130706433",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "[0:0:0:0:0:0:0:1]",
            "localhost",
            "evil.example",
            "management.azure.com.evil.example",
            "management.azure.com@evil.example",
            "evil.example#@management.azure.com",
            "evil.example\\@management.azure.com",
            "xn--mnagement-q2a.example",
            "mänagement.example",
            "",
        ][..],
    );
    let port = select(&["", "", ":443", ":80", ":7000", ":8443", ":0", ":65535", ":65536", ":", ":0443"][..]);
    let path = prop_oneof![3 => "[a-zA-Z0-9/._~$=&?-]{0,24}", 1 => text(16)];
    prop_oneof![
        6 => (scheme, userinfo, host, port, path).prop_map(|(scheme, userinfo, host, port, path)| format!("{scheme}://{userinfo}{host}{port}/{path}")),
        1 => select(&["/relative?$skipToken=1", "//evil.example/x", "https:evil.example", "https:/management.azure.com/x", "", " "][..]).prop_map(str::to_owned),
        1 => text(40),
    ]
    .boxed()
}

/// An endpoint, links on it and around it, and the order a server hands
/// them out in (with repeats).
fn walk_case() -> BoxedStrategy<(Url, Vec<String>, Vec<Index>)> {
    let same_origin = |base: &'static str| {
        prop_oneof![
            "[a-z0-9/]{0,12}\\?\\$skipToken=[a-z0-9]{1,4}".prop_map(move |rest| format!("{base}/{rest}")),
            text(12).prop_map(move |rest| format!("{base}/{rest}")),
        ]
    };
    select(ENDPOINTS)
        .prop_flat_map(move |base| {
            let links = prop::collection::vec(prop_oneof![2 => same_origin(base).boxed(), 1 => link()], 1..6);
            (
                Just(config::base_url("endpoint", base).expect("valid")),
                links,
                prop::collection::vec(any::<Index>(), 0..12),
            )
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// Retry-After and token answers
// ---------------------------------------------------------------------------

fn retry_after_value() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<u64>().prop_map(|n| n.to_string()),
        2 => select(NUMBERS).prop_map(str::to_owned),
        2 => (0u64..=253_402_300_799).prop_map(|secs| httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))),
        1 => (text(2), any::<u32>(), text(2)).prop_map(|(before, n, after)| format!("{before}{n}{after}")),
        1 => select(
            &[
                " 7 ", "+7", "-7", "007", "7.5", "1e3", "", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                "Fri, 31 Dec 9999 23:59:59 GMT", "Sat, 01 Jan 10000 00:00:00 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "Wed, 31 Dec 1969 23:59:59 GMT",
            ][..],
        )
        .prop_map(str::to_owned),
        1 => text(30),
    ]
    .boxed()
}

fn headers() -> BoxedStrategy<Vec<(String, String)>> {
    let name =
        select(
            &[
                "Retry-After",
                "retry-after",
                "RETRY-AFTER",
                "Retry-After ",
                "x-ms-retry-after-ms",
                "Location",
                "location",
            ][..],
        )
        .prop_map(str::to_owned);
    let value = prop_oneof![3 => retry_after_value(), 1 => link()];
    prop::collection::vec((name, value), 0..3).boxed()
}

fn response_with(body: BoxedStrategy<Vec<u8>>) -> BoxedStrategy<Response> {
    (status(), headers(), body).prop_map(|(status, headers, body)| Response { status, headers, body }).boxed()
}

fn retry_policy() -> BoxedStrategy<RetryPolicy> {
    prop_oneof![
        2 => Just(RetryPolicy::default()),
        1 => (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(max_retries, initial_delay_ms, max_delay_ms, total_budget_ms)| {
            RetryPolicy { max_retries, initial_delay_ms, max_delay_ms, total_budget_ms }
        }),
    ]
    .boxed()
}

fn access_token() -> BoxedStrategy<String> {
    prop_oneof![
        8 => "[A-Za-z0-9._~+/=-]{1,120}",
        1 => "eyJ[A-Za-z0-9_-]{10,30}\\.[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{5,20}",
        1 => text(30),
        1 => select(&["", " ", "tok\r\nX-Injected: 1", "tok\nen", "tok en", "tok\u{0}", "tøken"][..]).prop_map(str::to_owned),
        1 => select(&[64 * 1024, 64 * 1024 + 1][..]).prop_map(|n| "a".repeat(n)),
    ]
    .boxed()
}

fn expires_in() -> BoxedStrategy<J> {
    prop_oneof![
        4 => (0u64..200_000).prop_map(|n| J::Raw(n.to_string())),
        4 => number().prop_map(J::Raw),
        2 => number().prop_map(J::Str),
        1 => select(&[" 3599 ", "+3599", "3599s", "", "-1", "0x10"][..]).prop_map(s),
        1 => any_json(),
    ]
    .boxed()
}

fn token_answer(token: BoxedStrategy<String>) -> BoxedStrategy<J> {
    object(vec![
        field(
            "token_type",
            prop_oneof![6 => one_of(&["Bearer", "bearer"]), 1 => one_of(&["pop", "mac", "Bearer ", ""])].boxed(),
        ),
        must("expires_in", expires_in()),
        field("ext_expires_in", expires_in()),
        must("access_token", token.prop_map(J::Str).boxed()),
    ])
}

fn token_body() -> BoxedStrategy<Vec<u8>> {
    body(token_answer(access_token()))
}

/// What `usable_lifetime` promises: at most a day, less the refresh margin
/// (at most half the lifetime).
fn expected_lifetime(expires_in: u64) -> u64 {
    let lifetime = expires_in.min(MAX_TOKEN_LIFETIME_SECS);
    lifetime - REFRESH_MARGIN_SECS.min(lifetime / 2)
}

// ---------------------------------------------------------------------------
// Error bodies
// ---------------------------------------------------------------------------

/// A text that holds a piece of a secret somewhere, the way a server echoes
/// a request: inside other text, or JSON-escaped character by character.
fn echoed(secrets: &[String], cut: &Cut, before: &str, after: &str, escape_all: bool) -> J {
    let piece = cut.of(secrets);
    let text = format!("{before}{piece}{after}");
    if escape_all {
        let escaped: String = text.encode_utf16().map(|unit| format!("\\u{unit:04x}")).collect();
        J::Raw(format!("\"{escaped}\""))
    } else {
        J::Str(text)
    }
}

/// Secrets, and an answer that echoes pieces of them in every place an
/// error's text is taken from.
fn echo_case() -> BoxedStrategy<(Vec<String>, Response)> {
    let pieces = prop::collection::vec((cut(), text(12), text(12), any::<bool>()), 5);
    (prop::collection::vec(secret(), 1..3), pieces, 0u8..6, status(), headers())
        .prop_map(|(secrets, pieces, shape, status, mut headers)| {
            let texts: Vec<J> = pieces
                .iter()
                .map(|(cut, before, after, escape)| echoed(&secrets, cut, before, after, *escape))
                .collect();
            let [a, b, c, d, e] = <[J; 5]>::try_from(texts).expect("five pieces");
            let raw = |j: &J| match j {
                J::Str(text) => text.clone(),
                other => other.render(),
            };
            let body = match shape {
                0 => J::Obj(vec![("error".into(), J::Obj(vec![("code".into(), a), ("message".into(), b)]))]).render(),
                1 => J::Obj(vec![(
                    "error".into(),
                    J::Obj(vec![
                        ("code".into(), s("BadRequest")),
                        ("message".into(), a),
                        ("innerError".into(), J::Obj(vec![("request-id".into(), b), ("date".into(), c)])),
                    ]),
                )])
                .render(),
                2 => J::Obj(vec![
                    ("error".into(), a),
                    ("error_description".into(), b),
                    ("error_codes".into(), J::Arr(vec![J::Raw("7000215".into())])),
                ])
                .render(),
                3 => format!("client_id=x&client_secret={}&scope=y {}", raw(&a), raw(&b)),
                4 => format!("<html>{}</html>", raw(&a)).repeat(3),
                _ => format!("{}{}", "x".repeat(8_190), raw(&a)),
            };
            // ASCII letters, digits and `-._~` only in the host: a host label with an
            // upper-case letter and a non-ASCII character panics in debug builds
            // (`a_url_from_the_network_never_panics`), which would hide this test.
            let host: String = raw(&d).chars().filter(|c| c.is_ascii_alphanumeric() || "-._~".contains(*c)).collect();
            headers.push(("Location".into(), format!("https://{host}.example/{}", raw(&e))));
            (secrets, Response { status, headers, body: body.into_bytes() })
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// Incidents, entities, Graph, KQL
// ---------------------------------------------------------------------------

fn time_j() -> BoxedStrategy<J> {
    time_text().prop_map(J::Str).boxed()
}

fn incident_j() -> BoxedStrategy<J> {
    let owner = object(vec![
        field("objectId", any_text_j(12)),
        field("email", any_text_j(12)),
        field("userPrincipalName", any_text_j(12)),
        field("assignedTo", any_text_j(12)),
        field("ownerType", one_of(&["User", "Group", "Unknown"])),
    ]);
    let label = object(vec![field("labelName", any_text_j(12)), field("labelType", one_of(&["User", "AutoAssigned"]))]);
    let additional = object(vec![
        field("alertsCount", int_j()),
        field("bookmarksCount", int_j()),
        field("commentsCount", int_j()),
        field("alertProductNames", list_of(any_text_j(8), 2)),
        field("tactics", list_of(any_text_j(8), 2)),
    ]);
    let properties = object(vec![
        must("title", any_text_j(24)),
        must("severity", one_of(&["High", "Medium", "Low", "Informational"])),
        must("status", one_of(&["New", "Active", "Closed"])),
        field("description", any_text_j(24)),
        field("classification", one_of(&["Undetermined", "TruePositive", "BenignPositive", "FalsePositive"])),
        field(
            "classificationReason",
            one_of(&["SuspiciousActivity", "SuspiciousButExpected", "IncorrectAlertLogic", "InaccurateData"]),
        ),
        field("owner", owner),
        field("labels", list_of(label, 2)),
        field("createdTimeUtc", time_j()),
        field("lastModifiedTimeUtc", time_j()),
        field("incidentNumber", int_j()),
        field("incidentUrl", link().prop_map(J::Str).boxed()),
        field("relatedAnalyticRuleIds", list_of(any_text_j(12), 2)),
        field("additionalData", additional),
    ]);
    let name = prop_oneof![2 => "[0-9a-f-]{36}".prop_map(J::Str), 1 => any_text_j(16)].boxed();
    object(vec![
        field("id", any_text_j(24)),
        field("name", name),
        field("etag", any_text_j(12)),
        must("properties", properties),
    ])
}

fn incident_list_j() -> BoxedStrategy<J> {
    object(vec![must("value", list_of(incident_j(), 3)), field("nextLink", link().prop_map(J::Str).boxed())])
}

/// Entity names used by references, so `...EntityId(s)` resolve (or not).
const ENTITY_NAMES: &[&str] = &["a", "b", "A", "/x/Entities/a", "missing"];

const ENTITY_KINDS: &[&str] = &[
    "Account",
    "Host",
    "Ip",
    "Url",
    "FileHash",
    "File",
    "Process",
    "Mailbox",
    "MailMessage",
    "CloudApplication",
    "AzureResource",
    "DnsResolution",
    "RegistryKey",
    "RegistryValue",
    "SecurityGroup",
    "Malware",
    "IoTDevice",
    "MailCluster",
    "SubmissionMail",
    "SecurityAlert",
    "Bookmark",
];

/// Every property the identifier and references read, of any kind.
const ENTITY_FIELDS: &[&str] = &[
    "friendlyName",
    "accountName",
    "upnSuffix",
    "sid",
    "aadUserId",
    "ntDomain",
    "hostName",
    "netBiosName",
    "dnsDomain",
    "azureID",
    "address",
    "url",
    "algorithm",
    "hashValue",
    "directory",
    "fileName",
    "commandLine",
    "processId",
    "mailboxPrimaryAddress",
    "upn",
    "internetMessageId",
    "appName",
    "resourceId",
    "domainName",
    "hive",
    "key",
    "valueName",
    "objectGuid",
    "malwareName",
    "deviceId",
    "query",
    "networkMessageIds",
    "submissionId",
    "systemAlertId",
    "displayName",
    "severity",
];

fn entity_j() -> BoxedStrategy<J> {
    let value = prop_oneof![
        4 => any_text_j(16),
        1 => select(&["contoso.com", "CORP", "C:\\dir\\", "/usr/bin/", ""][..]).prop_map(s),
        1 => int_j(),
        1 => bool_j(),
        1 => list_of(any_text_j(8), 2),
    ];
    let reference =
        prop_oneof![select(ENTITY_NAMES).prop_map(s), list_of(select(ENTITY_NAMES).prop_map(s).boxed(), 3), any_json()];
    let known = prop::collection::vec((select(ENTITY_FIELDS).prop_map(str::to_owned), value), 0..6);
    let references = prop::collection::vec(
        (
            select(&["hostEntityId", "accountEntityIds", "EntityId", "imageFileEntityId", "parentProcessEntityId"][..])
                .prop_map(str::to_owned),
            reference,
        ),
        0..3,
    );
    let properties = (known, references)
        .prop_map(|(known, references)| J::Obj(known.into_iter().chain(references).collect()))
        .boxed();
    object(vec![
        field("id", select(ENTITY_NAMES).prop_map(|n| s(format!("/x/Entities/{n}"))).boxed()),
        field("name", select(ENTITY_NAMES).prop_map(s).boxed()),
        field("kind", one_of(ENTITY_KINDS)),
        field("properties", properties),
    ])
}

fn evidence_j() -> BoxedStrategy<J> {
    let kind = prop_oneof![
        4 => select(&["userEvidence", "deviceEvidence", "fileEvidence", "processEvidence", "ipEvidence", "urlEvidence", "mailboxEvidence", "registryKeyEvidence", "cloudApplicationEvidence", "mailClusterEvidence", "unknownEvidence"][..])
            .prop_map(|k| s(format!("#microsoft.graph.security.{k}"))),
        1 => select(&["", ".", "#", "userEvidence"][..]).prop_map(s),
        1 => any_json(),
    ]
    .boxed();
    let account = object(vec![
        field("userPrincipalName", any_text_j(12)),
        field("accountName", any_text_j(8)),
        field("azureAdUserId", any_text_j(8)),
    ]);
    let file =
        object(vec![field("sha256", any_text_j(12)), field("sha1", any_text_j(12)), field("fileName", any_text_j(8))]);
    object(vec![
        field("@odata.type", kind),
        field("userAccount", account),
        field("fileDetails", file.clone()),
        field("imageFile", file),
        field("deviceDnsName", any_text_j(12)),
        field("ipAddress", any_text_j(12)),
        field("url", any_text_j(12)),
        field("verdict", one_of(&["malicious", "suspicious", "noThreatsFound", "unknown"])),
        field("remediationStatus", one_of(&["none", "remediated", "prevented", "blocked", "notFound"])),
    ])
}

fn graph_alert_j() -> BoxedStrategy<J> {
    object(vec![
        must("id", any_text_j(16)),
        field("title", any_text_j(16)),
        field("status", one_of(&["new", "inProgress", "resolved", "unknownFutureValue"])),
        field("severity", one_of(&["unknown", "informational", "low", "medium", "high"])),
        field("classification", one_of(&["unknown", "falsePositive", "truePositive", "informationalExpectedActivity"])),
        field("determination", one_of(&["apt", "malware", "other", "clean"])),
        field("createdDateTime", time_j()),
        field("mitreTechniques", list_of(any_text_j(8), 2)),
        field("evidence", list_of(evidence_j(), 3)),
    ])
}

fn graph_incident_j() -> BoxedStrategy<J> {
    let comment = object(vec![
        field("comment", any_text_j(16)),
        field("createdBy", any_text_j(8)),
        field("createdTime", time_j()),
    ]);
    object(vec![
        must("id", any_text_j(16)),
        field("displayName", any_text_j(16)),
        field("status", one_of(&["active", "resolved", "inProgress", "redirected", "awaitingAction"])),
        field("severity", one_of(&["unknown", "informational", "low", "medium", "high"])),
        field("assignedTo", any_text_j(12)),
        field("customTags", list_of(any_text_j(8), 3)),
        field("systemTags", list_of(any_text_j(8), 3)),
        field("comments", list_of(comment, 2)),
        field("alerts", list_of(graph_alert_j(), 2)),
    ])
}

fn graph_user_j() -> BoxedStrategy<J> {
    object(vec![
        must("id", any_text_j(36)),
        field("userPrincipalName", any_text_j(24)),
        field("displayName", any_text_j(16)),
        field("mail", any_text_j(16)),
        field("accountEnabled", bool_j()),
        field("userType", one_of(&["Member", "Guest"])),
        field("riskLevel", one_of(&["none", "low", "medium", "high", "hidden"])),
        field(
            "riskState",
            one_of(&["none", "confirmedSafe", "remediated", "dismissed", "atRisk", "confirmedCompromised"]),
        ),
        field("isDeleted", bool_j()),
        field("visibility", one_of(&["Public", "Private", "HiddenMembership"])),
    ])
}

const KQL_TYPES: &[&str] = &[
    "int", "long", "real", "bool", "datetime", "guid", "timespan", "decimal", "dynamic", "string", "INT", "Long",
    "BOOL", "Dynamic", "",
];

fn kql_cell_j() -> BoxedStrategy<J> {
    prop_oneof![
        3 => scalar(),
        1 => select(&["true", "False", " 1 ", "0", "1.5", " 42 ", "-9223372036854775809", "NaN", "inf", "1e999"][..]).prop_map(s),
        1 => any_json(),
    ]
    .boxed()
}

fn kql_body() -> BoxedStrategy<Vec<u8>> {
    let column = object(vec![field("name", any_text_j(8)), field("type", one_of(KQL_TYPES))]);
    let row = list_of(kql_cell_j(), 5);
    let table = object(vec![
        field("name", any_text_j(12)),
        field("columns", list_of(column, 4)),
        field("rows", list_of(row, 4)),
    ]);
    let detail = object(vec![field("code", any_text_j(8)), field("message", any_text_j(16))]);
    let error = object(vec![
        field("code", any_text_j(12)),
        field("message", any_text_j(24)),
        field("details", list_of(detail, 2)),
    ]);
    body(object(vec![field("tables", list_of(table, 2)), field("error", error)]))
}

fn hunting_body() -> BoxedStrategy<Vec<u8>> {
    let names = || select(&["Timestamp", "FileName", "Pid", "name", "Name"][..]).prop_map(str::to_owned);
    let column = object(vec![
        field("name", names().prop_map(J::Str).boxed()),
        field("Name", names().prop_map(J::Str).boxed()),
        field(
            "type",
            one_of(&[
                "String", "DateTime", "Int32", "Int64", "Double", "Boolean", "Guid", "TimeSpan", "Decimal", "Object",
                "Dynamic",
            ]),
        ),
    ]);
    let result = prop::collection::vec((names(), kql_cell_j()), 0..4).prop_map(J::Obj).boxed();
    body(object(vec![
        field("schema", list_of(column.clone(), 4)),
        field("Schema", list_of(column, 2)),
        field("results", list_of(result.clone(), 4)),
        field("Results", list_of(result, 2)),
    ]))
}

fn assert_typed_parse_error<T>(result: &Result<T, Error>) -> Result<(), TestCaseError> {
    if let Err(error) = result {
        prop_assert!(matches!(error, Error::InvalidResponse(_)), "a parse error must be invalid-response: {error:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

fn guid_text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
        1 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string().to_uppercase()),
        1 => any::<u128>().prop_map(|n| format!("{{{}}}", uuid::Uuid::from_u128(n))),
        1 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).simple().to_string()),
        1 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).urn().to_string()),
        1 => any::<u128>().prop_map(|n| format!(" {}\u{a0}", uuid::Uuid::from_u128(n))),
        1 => "[0-9a-fé-]{36}",
        2 => text(40),
    ]
    .boxed()
}

fn url_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "https://[a-z]{1,8}\\.example(:[0-9]{1,5})?(/[a-z]{0,5})?/?",
        2 => select(
            &[
                "http://127.0.0.1:7000", "http://localhost", "http://[::1]:80", "http://127.1", "http://evil.example", "ftp://x.example", "https://u:p@x.example",
                "https://u@x.example", "https://x.example/?q", "https://x.example/#f", "https://", "https:///path", "https://é.example", "data:text/plain,x",
                " https://x.example ", "https://x.example:99999", "http://0x7f.1", "file:///etc/passwd",
            ][..],
        )
        .prop_map(str::to_owned),
        1 => text(30),
    ]
    .boxed()
}

/// Mostly a valid value, sometimes anything: most configurations then get
/// past the first fields, and each field's checks are reached.
fn mostly(valid: BoxedStrategy<String>, wild: BoxedStrategy<String>) -> BoxedStrategy<String> {
    prop_oneof![8 => valid, 1 => wild].boxed()
}

fn guid() -> BoxedStrategy<String> {
    prop_oneof![4 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()), 1 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string().to_uppercase())].boxed()
}

fn cloud() -> BoxedStrategy<Cloud> {
    let scope = prop::option::of(prop_oneof![6 => Just("https://x.example/.default".to_owned()), 1 => text(20)]);
    let url = || mostly("https://[a-z]{1,8}\\.example(:[0-9]{1,4})?(/[a-z]{0,5})?/?".boxed(), url_text());
    let custom = (url(), url(), url(), url(), scope.clone(), scope.clone(), scope).prop_map(
        |(login_url, arm_url, log_analytics_url, graph_url, arm_scope, log_analytics_scope, graph_scope)| {
            Cloud::Custom(CustomCloud {
                login_url,
                arm_url,
                log_analytics_url,
                graph_url,
                arm_scope,
                log_analytics_scope,
                graph_scope,
            })
        },
    );
    prop_oneof![2 => Just(Cloud::Public), 1 => Just(Cloud::UsGovernment), 1 => Just(Cloud::China), 4 => custom].boxed()
}

fn credential() -> BoxedStrategy<Credential> {
    let token = || prop::option::of(mostly(secret(), text(20)).prop_map(Secret::new));
    prop_oneof![
        3 => mostly(secret(), text(20)).prop_map(|s| Credential::ClientSecret(Secret::new(s))),
        1 => mostly(secret(), text(20)).prop_map(|s| Credential::ClientAssertion(Secret::new(format!("eyJ{s}.e30.c2ln")))),
        2 => (token(), token(), token()).prop_map(|(arm, log_analytics, graph)| Credential::AccessTokens { arm, log_analytics, graph }),
    ]
    .boxed()
}

fn protected_accounts() -> BoxedStrategy<ProtectedAccounts> {
    let upn =
        mostly(" ?[a-zA-Z]{1,8}@[a-z]{1,8}\\.(com|example)\u{a0}?".boxed(), prop_oneof![guid_text(), text(20)].boxed());
    let group = mostly(prop_oneof![guid(), "[A-Za-z][A-Za-z ]{0,20}".boxed()].boxed(), text(20));
    let entries = |item: BoxedStrategy<String>| prop::collection::vec(item, 0..3);
    (entries(mostly(guid(), guid_text())), entries(upn), entries(group))
        .prop_map(|(user_ids, user_principal_names, groups)| ProtectedAccounts {
            user_ids,
            user_principal_names,
            groups,
        })
        .boxed()
}

/// Where a configuration's secret is pasted by mistake, if anywhere.
#[derive(Clone, Copy, Debug)]
enum Pasted {
    Nowhere,
    TenantId,
    ClientId,
    SubscriptionId,
    ResourceGroup,
    WorkspaceName,
    WorkspaceId,
    ApiVersion,
    Url,
    ProtectedUpn,
}

fn connection_config() -> BoxedStrategy<ConnectionConfig> {
    let tenant = mostly(
        prop_oneof![guid(), "[a-z0-9][a-z0-9-]{0,12}(\\.[a-z0-9-]{1,8}){1,3}".boxed()].boxed(),
        prop_oneof![guid_text(), "[a-z0-9.-]{0,300}".boxed(), Just("contöso.onmicrosoft.com".to_owned()).boxed()]
            .boxed(),
    );
    let resource_group = mostly(
        "[A-Za-z0-9._()é-]{0,80}[A-Za-z0-9_()é-]".boxed(),
        prop_oneof!["[A-Za-z0-9._()-]{85,95}", "[a-zé()]{1,4}\\.", text(30)].boxed(),
    );
    let workspace_name = mostly(
        "[A-Za-z0-9][A-Za-z0-9-]{1,60}[A-Za-z0-9]".boxed(),
        prop_oneof!["[A-Za-z0-9][A-Za-z0-9-]{86,92}[A-Za-z0-9]", text(30)].boxed(),
    );
    let api_version = prop::option::of(mostly(
        "20[0-9]{2}-[01][0-9]-[0-3][0-9](-preview)?".boxed(),
        prop_oneof![Just("2025-09-0é".to_owned()), "[0-9é-]{8,12}".boxed(), text(12)].boxed(),
    ));
    let valid_timeouts = (1u32..=600_000, 1u32..=600_000, 1u32..=600_000);
    let timeouts =
        prop::option::of(prop_oneof![8 => valid_timeouts, 1 => (any::<u32>(), any::<u32>(), any::<u32>())].prop_map(
            |(connect_ms, first_byte_ms, between_bytes_ms)| Timeouts { connect_ms, first_byte_ms, between_bytes_ms },
        ));
    let valid_retry = (0u32..=20, 1u32..=5_000, 0u32..=60_000, 0u32..=3_600_000).prop_map(
        |(max_retries, initial_delay_ms, extra, total_budget_ms)| RetryPolicy {
            max_retries,
            initial_delay_ms,
            max_delay_ms: initial_delay_ms + extra,
            total_budget_ms,
        },
    );
    let retry = prop::option::of(prop_oneof![8 => valid_retry.boxed(), 1 => retry_policy()]);
    let pasted = select(
        &[
            Pasted::Nowhere,
            Pasted::Nowhere,
            Pasted::Nowhere,
            Pasted::Nowhere,
            Pasted::Nowhere,
            Pasted::Nowhere,
            Pasted::Nowhere,
            Pasted::Nowhere,
            Pasted::TenantId,
            Pasted::ClientId,
            Pasted::SubscriptionId,
            Pasted::ResourceGroup,
            Pasted::WorkspaceName,
            Pasted::WorkspaceId,
            Pasted::ApiVersion,
            Pasted::Url,
            Pasted::ProtectedUpn,
        ][..],
    );
    let ids = (
        tenant,
        mostly(guid(), guid_text()),
        mostly(guid(), guid_text()),
        resource_group,
        workspace_name,
        prop::option::of(mostly(guid(), guid_text())),
    );
    let rest = (credential(), cloud(), api_version, timeouts, retry, protected_accounts(), pasted);
    (ids, rest)
        .prop_map(|((tenant_id, client_id, subscription_id, resource_group, workspace_name, workspace_id), rest)| {
            let (credential, cloud, api_version, timeouts, retry, protected_accounts, pasted) = rest;
            let mut config = config::tests::sample_config();
            config.tenant_id = tenant_id;
            config.client_id = client_id;
            config.subscription_id = subscription_id;
            config.resource_group = resource_group;
            config.workspace_name = workspace_name;
            config.workspace_id = workspace_id;
            config.api_version = api_version;
            config.timeouts = timeouts;
            config.retry = retry;
            config.protected_accounts = protected_accounts;
            config.cloud = cloud;
            let secret = credential_secrets(&credential).first().cloned().unwrap_or_default();
            config.credential = credential;
            match pasted {
                Pasted::Nowhere => {}
                Pasted::TenantId => config.tenant_id = secret,
                Pasted::ClientId => config.client_id = secret,
                Pasted::SubscriptionId => config.subscription_id = secret,
                Pasted::ResourceGroup => config.resource_group = secret,
                Pasted::WorkspaceName => config.workspace_name = secret,
                Pasted::WorkspaceId => config.workspace_id = Some(secret),
                Pasted::ApiVersion => config.api_version = Some(secret),
                Pasted::Url => {
                    config.cloud = Cloud::Custom(CustomCloud {
                        // Never in a host: see `a_url_from_the_network_never_panics`.
                        login_url: format!("https://{secret}@x.example"),
                        arm_url: format!("https://x.example/{secret}?"),
                        log_analytics_url: "https://x.example".into(),
                        graph_url: "https://x.example".into(),
                        arm_scope: Some(secret.clone()),
                        log_analytics_scope: None,
                        graph_scope: None,
                    })
                }
                Pasted::ProtectedUpn => config.protected_accounts.user_principal_names.push(secret),
            }
            config
        })
        .boxed()
}

fn credential_secrets(credential: &Credential) -> Vec<String> {
    match credential {
        Credential::ClientSecret(secret) | Credential::ClientAssertion(secret) => vec![secret.expose().to_owned()],
        Credential::Certificate { private_key, .. } => vec![private_key.expose().to_owned()],
        Credential::AccessTokens { arm, log_analytics, graph } => {
            [arm, log_analytics, graph].into_iter().flatten().map(|t| t.expose().to_owned()).collect()
        }
    }
}

/// The fields a configuration error may name.
fn is_config_field(field: &str) -> bool {
    const EXACT: &[&str] = &[
        "tenant-id",
        "client-id",
        "subscription-id",
        "resource-group",
        "workspace-name",
        "workspace-id",
        "api-version",
    ];
    const FAMILIES: &[&str] = &["credential.", "timeouts.", "retry.", "protected-accounts.", "cloud."];
    EXACT.contains(&field) || FAMILIES.iter().any(|family| field.starts_with(family))
}

// ---------------------------------------------------------------------------
// A hostile transport for whole calls through the client
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Answer {
    Plain(Response),
    /// Echoes a piece of what was sent (the Authorization header, the body
    /// with its form-encoded secret, or all of it), raw or in an error body.
    Echo {
        status: u16,
        what: u8,
        json: bool,
        start: Index,
        len: usize,
    },
    Fail,
}

struct Hostile {
    answers: VecDeque<Answer>,
    now: u64,
    millis: u64,
    /// Every token the client was handed and accepted: all must stay hidden.
    issued: Vec<String>,
}

impl Transport for Hostile {
    fn send(&mut self, request: &Request, _: &Timeouts) -> Result<Response, Error> {
        self.millis += 10;
        let response = match self.answers.pop_front() {
            None => return Err(Error::transport("the hostile server has nothing more to say", "")),
            Some(Answer::Fail) => return Err(Error::transport("connection reset", "")),
            Some(Answer::Plain(response)) => response,
            Some(Answer::Echo { status, what, json, start, len }) => {
                let authorization = request
                    .headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let sent = String::from_utf8_lossy(&request.body).into_owned();
                let all = match what {
                    0 => authorization,
                    1 => sent,
                    _ => format!("{} {authorization} {sent}", request.url),
                };
                let chars: Vec<char> = all.chars().collect();
                let start = start.index(chars.len() + 1);
                let piece: String = chars[start..(start + len).min(chars.len())].iter().collect();
                let body =
                    if json { format!(r#"{{"error":{{"code":"Echo","message":{}}}}}"#, quoted(&piece)) } else { piece };
                Response { status, headers: Vec::new(), body: body.into_bytes() }
            }
        };
        if request.url.path().ends_with("/oauth2/v2.0/token") {
            if let Ok(token) = auth::parse_token_response(&response, self.now) {
                self.issued.push(token.value.expose().to_owned());
            }
        }
        Ok(response)
    }

    fn now_unix_secs(&self) -> u64 {
        self.now
    }

    fn monotonic_millis(&self) -> u64 {
        self.millis
    }

    fn sleep(&mut self, duration: Duration) {
        self.now = self.now.saturating_add(duration.as_secs());
        self.millis = self.millis.saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    }

    fn random_u64(&mut self) -> u64 {
        self.millis.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

fn answer() -> BoxedStrategy<Answer> {
    let token = token_answer(prop_oneof![4 => "[A-Za-z0-9._~+/=-]{8,40}".boxed(), 1 => access_token()].boxed())
        .prop_map(|j| Answer::Plain(Response { status: 200, headers: Vec::new(), body: j.render().into_bytes() }));
    // Mostly 200, so calls get past one answer to the next.
    let plain = |shape: BoxedStrategy<J>| {
        (prop_oneof![3 => Just(200u16), 2 => status()], headers(), body(shape))
            .prop_map(|(status, headers, body)| Answer::Plain(Response { status, headers, body }))
    };
    prop_oneof![
        3 => token,
        3 => plain(incident_list_j()),
        2 => plain(incident_j()),
        1 => plain(list_of(entity_j(), 3).prop_map(|v| J::Obj(vec![("value".into(), v)])).boxed()),
        1 => plain(list_of(entity_j(), 3).prop_map(|v| J::Obj(vec![("entities".into(), v)])).boxed()),
        3 => (status(), 0u8..3, any::<bool>(), any::<Index>(), MIN_PART..200).prop_map(|(status, what, json, start, len)| Answer::Echo { status, what, json, start, len }),
        1 => Just(Answer::Fail),
    ]
    .boxed()
}

/// A valid token first, most of the time, so the calls get past it.
fn hostile_script() -> BoxedStrategy<Vec<Answer>> {
    let first = prop_oneof![
        3 => "[A-Za-z0-9._~+/=-]{16,40}".prop_map(|token| {
            Answer::Plain(Response { status: 200, headers: Vec::new(), body: format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{token}"}}"#).into_bytes() })
        }),
        1 => answer(),
    ];
    (first, prop::collection::vec(answer(), 0..8))
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect())
        .boxed()
}

#[derive(Clone, Debug)]
enum Call {
    Get(String),
    ListAll(Option<u32>),
    Poll(Option<String>, PollOptions),
}

fn call() -> BoxedStrategy<Call> {
    let id = prop_oneof![3 => "[0-9a-f-]{36}", 1 => text(20)];
    prop_oneof![
        1 => id.prop_map(Call::Get),
        1 => prop::option::of(1u32..4).prop_map(Call::ListAll),
        2 => (prop_oneof![2 => Just(None), 1 => cursor_text().prop_map(Some)], poll_options(), any::<bool>()).prop_map(|(cursor, mut options, details)| {
            options.include_details = details;
            Call::Poll(cursor, options)
        }),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config(256))]

    // --- cursors ---

    /// Any text is a cursor or an `invalid-input` on `cursor`; one accepted
    /// holds only usable times, formats, and encodes to itself.
    #[test]
    fn a_cursor_decodes_or_is_refused_on_its_field(text in cursor_text(), options in poll_options()) {
        match Cursor::decode(&text) {
            Ok(cursor) => {
                prop_assert!((0..=MAX_TIME_MICROS).contains(&cursor.watermark_micros()));
                let _ = poller::format_time(cursor.watermark_micros());
                prop_assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor.clone()), "an encoded cursor decodes to itself");
                let _ = poller::scan_query(&cursor, &options, Phase::Created);
                let _ = poller::scan_query(&cursor, &options, Phase::Modified);
                let (_, after) = Scan::new(cursor, &options).finish();
                prop_assert_eq!(Cursor::decode(&after.encode()), Ok(after), "an untouched scan saves a cursor it accepts back");
            }
            Err(Error::InvalidInput { field, reason }) => {
                prop_assert_eq!(field, "cursor");
                prop_assert!(!reason.chars().any(char::is_control), "{:?}", reason);
            }
            Err(other) => prop_assert!(false, "not invalid-input: {:?}", other),
        }
    }

    /// A cursor the poller could have written is always accepted.
    #[test]
    fn a_well_formed_cursor_is_accepted(json in valid_cursor_json()) {
        let cursor = Cursor::decode(&sp1(&json));
        prop_assert!(cursor.is_ok(), "{:?}", cursor);
    }

    /// The saved cursor, or the first-fetch time, or a typed refusal naming
    /// which; a first cursor from an accepted first-fetch is accepted back.
    #[test]
    fn starting_cursor_is_ok_or_names_its_field(
        saved in prop::option::of(cursor_text()),
        first_fetch in prop::option::of(time_text()),
        now in any_system_time(),
    ) {
        let options = PollOptions { first_fetch: first_fetch.clone(), ..PollOptions::default() };
        let valid = poller::validate(&options);
        match poller::starting_cursor(saved.as_deref(), &options, now) {
            Ok(cursor) => {
                let _ = poller::scan_query(&cursor, &options, Phase::Created);
                let _ = poller::scan_query(&cursor, &options, Phase::Modified);
                if saved.is_none() && first_fetch.is_some() && valid.is_ok() {
                    let encoded = cursor.encode();
                    prop_assert_eq!(Cursor::decode(&encoded), Ok(cursor), "first-fetch {:?} gave a cursor the next poll refuses", first_fetch);
                }
            }
            Err(Error::InvalidInput { field, .. }) => prop_assert!(field == "cursor" || field == "first-fetch", "{}", field),
            Err(other) => prop_assert!(false, "not invalid-input: {:?}", other),
        }
    }

    /// Whatever incidents a scan is offered (any names, titles and times,
    /// out of order, repeated), the cursor it saves is one the next poll
    /// accepts: one hostile incident must never stall the poller.
    #[test]
    fn a_saved_cursor_is_always_accepted_back(
        start in valid_cursor_json(),
        options in poll_options(),
        offers in prop::collection::vec((any::<bool>(), polled_incident()), 0..12),
    ) {
        let cursor = Cursor::decode(&sp1(&start)).expect("a well-formed cursor");
        let mut scan = Scan::new(cursor, &options);
        for (modified, incident) in offers {
            let phase = if modified && options.include_updates { Phase::Modified } else { Phase::Created };
            match scan.offer(phase, incident) {
                Ok(Progress::Continue) => {}
                Ok(Progress::BatchFull) => break,
                Err(error) => {
                    prop_assert!(matches!(error, Error::InvalidResponse(_)), "{:?}", error);
                    break;
                }
            }
        }
        let (events, saved) = scan.finish();
        prop_assert!(events.len() <= options.max_events.unwrap_or(poller::DEFAULT_MAX_EVENTS) as usize);
        let encoded = saved.encode();
        prop_assert_eq!(Cursor::decode(&encoded), Ok(saved), "the poller saved a cursor it refuses");
    }

    /// Times: parsing never panics and what parses is a time the service can
    /// be asked about; formatting any i64 is total and parses back clamped.
    #[test]
    fn times_parse_and_format_for_any_value(text in time_text(), micros in cursor_time()) {
        if let Ok(parsed) = poller::parse_time(&text) {
            let _ = poller::format_time(parsed);
        }
        let formatted = poller::format_time(micros);
        prop_assert_eq!(poller::parse_time(&formatted), Ok(micros.clamp(0, MAX_TIME_MICROS)), "{}", formatted);
    }

    // --- nextLinks ---

    /// A link is followed only on the endpoint's origin, without user info.
    #[test]
    fn a_checked_link_keeps_the_endpoint_origin((endpoint, links, _) in walk_case()) {
        for link in &links {
            let Ok(url) = paging::check_link(link, &endpoint) else { continue };
            prop_assert_eq!(url.origin(), endpoint.origin(), "{} left {}", link, endpoint);
            prop_assert!(url.username().is_empty() && url.password().is_none(), "{} carries credentials", link);
            let reparsed = Url::parse(url.as_str()).expect("a parsed URL parses again");
            prop_assert_eq!(reparsed.origin(), endpoint.origin());
        }
    }

    /// A walk follows each link once, within its page cap, and only to the
    /// endpoint's origin; every refusal is invalid-response.
    #[test]
    fn a_page_walk_never_loops_or_leaves(
        (endpoint, links, order) in walk_case(),
        max_pages in prop::option::of(0u32..6),
    ) {
        let mut walk = paging::PageWalk::new(endpoint.clone(), max_pages);
        let mut followed = HashSet::new();
        for pick in order {
            let link = &links[pick.index(links.len())];
            match walk.next(link) {
                Ok(url) => {
                    prop_assert_eq!(url.origin(), endpoint.origin());
                    prop_assert!(url.username().is_empty() && url.password().is_none());
                    prop_assert!(followed.insert(link.clone()), "{} followed twice", link);
                }
                Err(error) => prop_assert!(matches!(error, Error::InvalidResponse(_)), "{:?}", error),
            }
        }
        let cap = max_pages.unwrap_or(paging::DEFAULT_MAX_PAGES);
        prop_assert!(followed.len() < cap.max(1) as usize, "{} links followed with a cap of {} pages", followed.len(), cap);
    }

    /// A URL from the network (a nextLink, a `Location` header) or from the
    /// configuration (a custom cloud) parses or is refused, whatever its host.
    #[test]
    fn a_url_from_the_network_never_panics(
        host in prop::collection::vec(prop_oneof![
            4 => proptest::char::range('a', 'z'),
            2 => proptest::char::range('A', 'Z'),
            1 => select(&['0', '-', '.', 'é', 'Ä', 'ß', 'İ', '\u{85}', '\u{a0}', '\u{200b}', '😀'][..]),
        ], 1..12).prop_map(String::from_iter),
        path in "[a-zA-Z0-9/?=&$-]{0,12}",
        status in select(&[301u16, 302, 307, 308][..]),
    ) {
        let link = format!("https://{host}/{path}");
        let endpoint = config::base_url("endpoint", "https://management.azure.com").expect("valid");
        let _ = paging::check_link(&link, &endpoint);
        let _ = paging::PageWalk::new(endpoint, None).next(&link);
        let response = Response { status, headers: vec![("Location".into(), link.clone())], body: Vec::new() };
        prop_assert!(matches!(Error::from_service_response(&response), Error::InvalidResponse(_)));
        let _ = config::base_url("cloud.arm-url", &link);
    }

    // --- ids ---

    /// An accepted id stays exactly one path segment, and comes back out of
    /// the URL unchanged; a refused one is invalid-input on its field.
    #[test]
    fn an_accepted_id_is_one_path_segment(id in prop_oneof![3 => text(20), 1 => "[.%2eE/\\\\?#]{1,6}", 1 => Just("x".repeat(257))]) {
        match ids::validate_id("incident-id", &id) {
            Ok(same) => {
                prop_assert_eq!(same, id.as_str());
                let settings = config::tests::settings();
                let base = incidents::workspace_url(&settings, &["incidents"]);
                let url = incidents::get_url(&settings, &id).expect("an accepted id makes a URL");
                let reparsed = Url::parse(url.as_str()).expect("a URL parses again");
                let segments: Vec<&str> = reparsed.path_segments().expect("a base").collect();
                prop_assert_eq!(segments.len(), base.path_segments().expect("a base").count() + 1);
                let last: Vec<u8> = percent_encoding::percent_decode_str(segments.last().expect("a segment")).collect();
                prop_assert_eq!(String::from_utf8(last).ok(), Some(id.clone()));
                for url in [
                    comments::comment_url(&settings, &id, &id),
                    relations::tasks_url(&settings, &id, Some(&id)),
                    relations::relations_url(&settings, &id, Some(&id)),
                    entities::alerts_url(&settings, &id),
                    security::item_url(&settings, security::Collection::Alerts, &id, false),
                ] {
                    let url = url.expect("an accepted id is accepted everywhere");
                    prop_assert!(url.fragment().is_none());
                }
            }
            Err(Error::InvalidInput { field, reason }) => {
                prop_assert_eq!(field, "incident-id");
                prop_assert!(!reason.chars().any(char::is_control), "{:?}", reason);
            }
            Err(other) => prop_assert!(false, "{:?}", other),
        }
    }

    /// GUIDs, UPNs, protected entries, group ids, relation names and
    /// resource ids: accepted or invalid-input naming the field, never the
    /// GUID field's value (it may be a secret pasted in the wrong place).
    #[test]
    fn ids_and_names_are_accepted_or_refused_on_their_field(value in prop_oneof![guid_text(), secret(), "[a-z]{1,8}@[a-z]{1,8}\\.com", text(40)]) {
        match config::validate_guid("client-id", &value) {
            Ok(()) => prop_assert!(uuid::Uuid::try_parse(&value).is_ok()),
            Err(Error::InvalidInput { field, reason }) => {
                prop_assert_eq!(field, "client-id");
                if value.chars().count() >= MIN_PART {
                    prop_assert!(!reason.contains(&value), "the value is echoed: {}", reason);
                }
            }
            Err(other) => prop_assert!(false, "{:?}", other),
        }
        for result in [
            UserRef::parse("user", &value).map(drop),
            ContainmentAction::AddToGroup(value.clone()).normalized().map(drop),
            ProtectedAccounts { user_ids: vec![value.clone()], ..ProtectedAccounts::default() }.normalized().map(drop),
            ProtectedAccounts { user_principal_names: vec![value.clone()], ..ProtectedAccounts::default() }.normalized().map(drop),
            ProtectedAccounts { groups: vec![value.clone()], ..ProtectedAccounts::default() }.normalized().map(drop),
            relations::validate_relation_name(&value),
            relations::validate_resource_id("related-resource-id", &value),
            relations::validate_task_status(&value),
            relations::validate_task_text(Some(&value), Some(&value)),
            comments::validate_message(&value, Some(&value)),
            kql_cells::validate_text(&value),
            hunting::validate(&value, &hunting::HuntingOptions { timespan: Some(value.clone()) }),
            incidents::validate_list_options(&ListOptions { filter: Some(value.clone()), orderby: Some(value.clone()), ..ListOptions::default() }),
        ] {
            if let Err(error) = result {
                prop_assert!(matches!(error, Error::InvalidInput { .. }), "{:?}", error);
            }
        }
        let _ = kql_cells::is_timespan(&value);
        let _ = users::same_name(&value, &value.to_uppercase());
        if let Ok(user) = UserRef::parse("user", &value) {
            let protected = ProtectedAccounts { user_principal_names: vec![format!(" {}\u{a0}", value.to_uppercase())], ..ProtectedAccounts::default() };
            if let (UserRef::Upn(_), Ok(protected)) = (&user, protected.normalized()) {
                prop_assert!(protected.listed(user.as_str()).is_some(), "{} is listed in another case and with blanks, yet not matched", value);
            }
        }
    }

    /// A comment of any length splits into parts within the limit that give
    /// the message back in order.
    #[test]
    fn a_long_comment_splits_without_loss(
        unit in "[a-zé😀 \n]{1,8}",
        repeat in prop_oneof![1usize..10, 3_000usize..12_000],
    ) {
        let message = unit.repeat(repeat);
        let parts = comments::split_message(&message);
        prop_assert!(parts.iter().all(|part| part.chars().count() <= comments::MAX_COMMENT_CHARS));
        if parts.len() == 1 {
            prop_assert_eq!(&parts[0], &message);
        } else {
            let total = parts.len();
            let joined: String = parts
                .iter()
                .enumerate()
                .map(|(i, part)| part.strip_prefix(&format!("({}/{total}) ", i + 1)).expect("numbered").to_owned())
                .collect();
            prop_assert_eq!(joined, message);
        }
    }

    // --- Retry-After ---

    /// Any `Retry-After` gives a wait of at most a day; delta-seconds are
    /// honoured up to it, whatever their size.
    #[test]
    fn retry_after_is_clamped(response in response_with(Just(Vec::new()).boxed()), now in any_system_time()) {
        let wait = retry::retry_after(&response, now);
        if let Some(wait) = wait {
            prop_assert!(wait <= MAX_RETRY_AFTER);
        }
        if let Some(seconds) = response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
            prop_assert_eq!(wait, Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER)));
            prop_assert_eq!(error::retry_after_seconds(&response), Some(u32::try_from(seconds).unwrap_or(u32::MAX)));
        } else {
            prop_assert_eq!(error::retry_after_seconds(&response), None);
        }
    }

    /// A retry is decided without overflow for any policy, attempt, elapsed
    /// time, clock and jitter, and only within the count and the budget.
    #[test]
    fn retry_decisions_never_overflow(
        policy in retry_policy(),
        response in response_with(Just(Vec::new()).boxed()),
        attempt in prop_oneof![0u32..6, any::<u32>()],
        elapsed in any_duration(),
        now in any_system_time(),
        jitter in any::<u64>(),
    ) {
        if let Decision::RetryAfter(wait) = retry::decide(&policy, &response, attempt, elapsed, now, jitter) {
            prop_assert!(retry::is_retryable(response.status));
            prop_assert!(attempt < policy.max_retries);
            let budget = Duration::from_millis(u64::from(policy.total_budget_ms));
            prop_assert!(elapsed.checked_add(wait).is_some_and(|total| total <= budget), "{:?} + {:?} past {:?}", elapsed, wait, budget);
            prop_assert!(wait <= MAX_RETRY_AFTER.max(Duration::from_millis(u64::from(policy.max_delay_ms))));
        }
    }

    // --- token answers ---

    /// A token answer is a usable bearer token or a typed error; a token's
    /// lifetime is clamped to a day and never wraps.
    #[test]
    fn a_token_answer_is_a_token_or_a_typed_error(status in status(), body in token_body(), now in prop_oneof![Just(1_700_000_000u64), any::<u64>()]) {
        let response = Response { status, headers: Vec::new(), body };
        match auth::parse_token_response(&response, now) {
            Ok(token) => {
                prop_assert!(response.is_success());
                prop_assert!(token.refresh_at >= now);
                prop_assert!(token.refresh_at - now <= MAX_TOKEN_LIFETIME_SECS);
                let value = token.value.expose();
                prop_assert!(!value.is_empty() && value.len() <= 64 * 1024);
                prop_assert!(value.chars().all(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c)), "{:?} cannot go in a header", value);
                let mut cache = TokenCache::default();
                cache.put(Api::Graph, token.clone());
                prop_assert_eq!(cache.get(Api::Graph, now).is_some(), now < token.refresh_at);
                prop_assert!(cache.get(Api::Graph, token.refresh_at).is_none());
            }
            Err(error) => {
                if response.is_success() {
                    prop_assert!(matches!(error, Error::InvalidResponse(_)), "{:?}", error);
                }
                let _ = error.to_string();
            }
        }
    }

    /// `expires_in` as any number or numeric text: exactly the clamped
    /// lifetime, saturating at the end of time.
    #[test]
    fn token_lifetimes_are_clamped_and_saturate(expires in expires_in(), now in prop_oneof![Just(1_700_000_000u64), Just(u64::MAX - 10), any::<u64>()]) {
        let body = format!(r#"{{"token_type":"Bearer","access_token":"tok-123","expires_in":{}}}"#, expires.render());
        let response = Response { status: 200, headers: Vec::new(), body: body.into_bytes() };
        let expected = match &expires {
            J::Raw(raw) => raw.parse::<u64>().ok(),
            J::Str(text) => text.trim().parse::<u64>().ok(),
            _ => None,
        };
        match (auth::parse_token_response(&response, now), expected) {
            (Ok(token), Some(seconds)) => prop_assert_eq!(token.refresh_at, now.saturating_add(expected_lifetime(seconds))),
            (Ok(token), None) => prop_assert!(token.refresh_at.saturating_sub(now) <= MAX_TOKEN_LIFETIME_SECS, "{}", expires.render()),
            (Err(error), _) => prop_assert!(matches!(error, Error::InvalidResponse(_)), "{:?}", error),
        }
    }

    /// The `roles` claim of any token, JWT or not, never panics.
    #[test]
    fn roles_come_from_any_token(
        token in prop_oneof![access_token(), (any_json(), text(4)).prop_map(|(claims, sig)| format!("eyJhbGciOiJub25lIn0.{}.{sig}", URL_SAFE_NO_PAD.encode(claims.render())))],
    ) {
        let roles = check::roles(&token);
        let _ = check::allowed_actions(Api::Graph, &roles, Some(true));
        let _ = check::missing_permissions(Api::Arm, &roles);
    }

    // --- error bodies and redaction ---

    /// Any error answer becomes a typed error; scrubbed, it shows no part of
    /// any secret in any encoding, and no control character.
    #[test]
    fn error_answers_are_typed_and_scrubbed((secrets, response) in echo_case()) {
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let service = Error::from_service_response(&response);
        match response.status {
            300..=399 => prop_assert!(matches!(service, Error::InvalidResponse(_)), "{:?}", service),
            401 => prop_assert!(matches!(service, Error::Auth(_))),
            403 => prop_assert!(matches!(service, Error::Forbidden(_))),
            404 => prop_assert!(matches!(service, Error::NotFound(_))),
            409 => prop_assert!(matches!(service, Error::Conflict(_))),
            429 => prop_assert!(matches!(service, Error::Throttled { .. }), "{:?}", service),
            _ => {}
        }
        for error in [service, Error::from_token_response(&response)] {
            let error = error.scrub(&refs);
            let shown = error.to_string();
            let debug = format!("{error:?}");
            for secret in &secrets {
                prop_assert_eq!(leak(&shown, secret), None, "leaked in {}", shown);
                prop_assert_eq!(leak(&debug, secret), None, "leaked in {}", debug);
            }
            prop_assert!(!shown.chars().any(char::is_control), "control character in {:?}", shown);
            if let Error::Auth(f) | Error::Forbidden(f) | Error::NotFound(f) | Error::Conflict(f) | Error::BadRequest(f) | Error::Service(f) | Error::Throttled { failure: f, .. } = &error {
                prop_assert!(f.message.chars().count() <= MAX_MESSAGE_CHARS + 3);
            }
        }
    }

    /// Arbitrary bodies and headers (not built around a secret) map to a
    /// typed error without panicking.
    #[test]
    fn any_error_answer_maps(response in response_with(prop_oneof![body(any_json()), kql_body(), token_body()].boxed()), secrets in prop::collection::vec(text(12), 0..3)) {
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let _ = Error::from_service_response(&response).scrub(&refs).to_string();
        let _ = Error::from_token_response(&response).scrub(&refs).to_string();
    }

    /// Redaction leaves no [`MIN_PART`] characters of any encoded form of
    /// any secret, however the text cuts and mixes them.
    #[test]
    fn redacted_text_keeps_no_part_of_a_secret(
        secrets in prop::collection::vec(secret(), 1..3),
        pieces in prop::collection::vec((text(10), prop::option::of(cut())), 1..5),
    ) {
        let text: String = pieces.iter().map(|(filler, cut)| format!("{filler}{}", cut.as_ref().map(|c| c.of(&secrets)).unwrap_or_default())).collect();
        let redactor = Redactor::new(secrets.iter().map(String::as_str));
        let shown = redactor.redact(&text);
        for secret in &secrets {
            prop_assert_eq!(leak(&shown, secret), None, "{:?} became {:?}", text, shown);
        }
        if pieces.iter().any(|(_, cut)| cut.is_some()) {
            prop_assert!(shown.contains(REDACTED));
        }
    }

    /// Text that shares no part with any secret is left exactly as it was.
    #[test]
    fn text_without_secrets_is_kept(secrets in prop::collection::vec(prop_oneof![secret(), text(12)], 0..3), text in text(60)) {
        let forms: Vec<String> = secrets.iter().flat_map(|s| encoded_forms(s)).collect();
        let shares = forms.iter().any(|form| {
            let form = form.as_bytes();
            if form.len() < MIN_PART {
                form.len() >= 4 && text.as_bytes().windows(form.len()).any(|w| w == form)
            } else {
                form.windows(MIN_PART).any(|part| text.as_bytes().windows(MIN_PART).any(|w| w == part))
            }
        });
        let shown = Redactor::new(secrets.iter().map(String::as_str)).redact(&text);
        if !shares {
            prop_assert_eq!(shown, text);
        }
    }

    /// Every encoded form is non-empty, listed once, and decodes back to the
    /// secret (raw, form- or percent-encoded, or JSON-escaped).
    #[test]
    fn encoded_forms_decode_back(secret in prop_oneof![secret(), text(20)]) {
        let forms = encoded_forms(&secret);
        prop_assert_eq!(forms.is_empty(), secret.is_empty());
        prop_assert!(secret.is_empty() || forms.contains(&secret));
        prop_assert!(forms.windows(2).all(|w| w[0] < w[1]), "sorted and without repeats: {:?}", forms);
        for form in &forms {
            let form_decoded = (!form.contains(['&', '='])).then(|| {
                url::form_urlencoded::parse(format!("x={form}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
            });
            let json_decoded = serde_json::from_str::<String>(&format!("\"{form}\"")).ok();
            prop_assert!(
                *form == secret || form_decoded.as_deref() == Some(secret.as_str()) || json_decoded.as_deref() == Some(secret.as_str()),
                "{:?} does not decode to {:?}", form, secret
            );
        }
    }

    /// Escaping removes every control character and keeps everything else;
    /// truncation counts characters and never cuts inside one.
    #[test]
    fn escaping_and_truncation_respect_characters(text in text(40), max in 0usize..50) {
        let escaped = redact::escape_controls(&text);
        prop_assert!(!escaped.chars().any(char::is_control));
        let kept: String = text.chars().filter(|c| !c.is_control()).collect();
        let kept_after: String = escaped.chars().filter(|c| !c.is_control()).collect();
        prop_assert!(kept_after.len() >= kept.len());
        if !text.chars().any(char::is_control) {
            prop_assert_eq!(&escaped, &text);
        }
        let cut = redact::truncate_chars(&text, max);
        if text.chars().count() <= max {
            prop_assert_eq!(&cut, &text);
        } else {
            prop_assert_eq!(cut.chars().count(), max + 3);
            let head: String = text.chars().take(max).collect();
            prop_assert_eq!(cut, format!("{head}..."));
        }
        let shown = config::shown(&text);
        prop_assert!(!shown.chars().any(char::is_control) && shown.chars().count() <= 83);
    }

    // --- incidents and entities ---

    /// An incident parses or is invalid-response; one that parses is written
    /// back (as a PUT sends it) to the same incident.
    #[test]
    fn an_incident_parses_and_writes_back(body in body(incident_j())) {
        let parsed = incidents::parse_incident(&body);
        assert_typed_parse_error(&parsed)?;
        if let Ok(incident) = parsed {
            let written = serde_json::to_vec(&incident).expect("an incident serializes");
            prop_assert_eq!(incidents::parse_incident(&written), Ok(incident));
        }
    }

    /// An incident page parses or is invalid-response; its nextLink goes
    /// through the walk's checks.
    #[test]
    fn an_incident_page_parses(body in body(incident_list_j()), endpoint in endpoint()) {
        let parsed = incidents::parse_list(&body);
        assert_typed_parse_error(&parsed)?;
        if let Ok(page) = parsed {
            if let Some(link) = page.next_link {
                if let Ok(url) = paging::PageWalk::new(endpoint.clone(), None).next(&link) {
                    prop_assert_eq!(url.origin(), endpoint.origin());
                }
            }
        }
    }

    /// Entities, alerts and bookmarks parse or are invalid-response; the
    /// normalized view has one entry per entity and resolves references only
    /// to entities in the list.
    #[test]
    fn entities_parse_and_normalize(
        body in body(list_of(entity_j(), 4).prop_map(|list| J::Obj(vec![("entities".into(), list)])).boxed()),
        values in body(list_of(entity_j(), 4).prop_map(|list| J::Obj(vec![("value".into(), list)])).boxed()),
    ) {
        let parsed = entities::parse_entities(&body);
        assert_typed_parse_error(&parsed)?;
        let listed = entities::parse_value_list(&values, "alerts");
        assert_typed_parse_error(&listed)?;
        for list in [parsed, listed].into_iter().flatten() {
            let normalized = entities::normalize(&list);
            prop_assert_eq!(normalized.len(), list.len());
            for (entity, view) in list.iter().zip(&normalized) {
                prop_assert_eq!(&view.id, &entity.name);
                prop_assert_eq!(&view.identifier, &entities::identifier(entity));
                for reference in &view.references {
                    prop_assert!(list.iter().any(|e| e.name == reference.id));
                }
                // Equal up to float rounding: serde_json's default float parsing is not exact.
                let properties: Value = serde_json::from_str(&entity.properties_json()).expect("properties are JSON");
                let keys: Vec<&String> = properties.as_object().expect("an object").keys().collect();
                prop_assert_eq!(keys, entity.properties.keys().collect::<Vec<_>>());
                let _ = super::sentinel::details::Alert::from_entity(entity.clone());
                let _ = super::sentinel::details::details(entity);
                let _ = entity.texts("networkMessageIds");
            }
        }
    }

    /// Graph incidents and alerts (with evidence) parse or are
    /// invalid-response; what is kept raw is JSON.
    #[test]
    fn graph_incidents_and_alerts_parse(incident in body(graph_incident_j()), alert in body(graph_alert_j())) {
        let parsed = security::parse_incident(&incident);
        assert_typed_parse_error(&parsed)?;
        if let Ok(incident) = parsed {
            prop_assert!(serde_json::from_str::<Value>(&incident.raw).is_ok());
        }
        let parsed = security::parse_alert(&alert);
        assert_typed_parse_error(&parsed)?;
        if let Ok(alert) = parsed {
            for evidence in &alert.evidence {
                prop_assert!(serde_json::from_str::<Value>(&evidence.properties).is_ok());
            }
        }
    }

    /// Graph users, risky-user pages and groups parse or are invalid-response.
    #[test]
    fn graph_users_and_groups_parse(
        user in body(graph_user_j()),
        page in body(object(vec![must("value", list_of(graph_user_j(), 3)), field("@odata.nextLink", link().prop_map(J::Str).boxed())])),
    ) {
        assert_typed_parse_error(&users::parse_user(&user))?;
        let _ = serde_json::from_slice::<Page<RiskyUser>>(&page);
        if let Ok(group) = serde_json::from_slice::<GroupRef>(&user) {
            let _ = (group.hides_membership(), group.shown());
        }
    }

    // --- KQL and hunting tables ---

    /// A query answer parses or is invalid-response, whatever its status;
    /// every row keeps one cell per value sent.
    #[test]
    fn a_query_answer_parses_into_typed_rows(status in status(), body in kql_body()) {
        let parsed = query::parse(status, &body);
        assert_typed_parse_error(&parsed)?;
        if let (Ok(result), Ok(value)) = (parsed, serde_json::from_slice::<Value>(&body)) {
            for (t, table) in result.tables.iter().enumerate() {
                for (r, row) in table.rows.iter().enumerate() {
                    let sent = value.pointer(&format!("/tables/{t}/rows/{r}")).and_then(Value::as_array).map(Vec::len);
                    prop_assert_eq!(Some(row.len()), sent);
                }
            }
        }
    }

    /// A cell of any declared type and any value: null stays null, anything
    /// else is kept (typed when it parses as its type, else as text).
    #[test]
    fn a_cell_is_typed_or_kept(column_type in prop_oneof![4 => select(KQL_TYPES).prop_map(str::to_owned), 1 => text(8)], value in json_value()) {
        let cell = kql_cells::cell(&column_type, value.clone());
        prop_assert_eq!(cell == Cell::Null, value.is_null());
        let kind = column_type.to_ascii_lowercase();
        match (&value, kind.as_str()) {
            (Value::Number(n), "int" | "long") if n.is_i64() => prop_assert_eq!(cell, Cell::Integer(n.as_i64().expect("i64"))),
            (Value::Bool(b), "bool") => prop_assert_eq!(cell, Cell::Boolean(*b)),
            (Value::Object(_) | Value::Array(_), "dynamic") => match cell {
                Cell::Dynamic(text) => prop_assert_eq!(serde_json::from_str::<Value>(&text).ok(), Some(value.clone())),
                other => prop_assert!(false, "{:?}", other),
            },
            _ => {}
        }
    }

    /// A hunting answer parses or is invalid-response; every row has a
    /// cell per column.
    #[test]
    fn a_hunting_answer_parses_into_full_rows(body in hunting_body()) {
        let parsed = hunting::parse(&body);
        assert_typed_parse_error(&parsed)?;
        if let Ok(table) = parsed {
            prop_assert!(table.rows.iter().all(|row| row.len() == table.columns.len()));
        }
    }

    // --- configuration ---

    /// Any configuration is settings or invalid-input naming a field; the
    /// reason never shows a part of a credential, wherever it was pasted;
    /// accepted endpoints are https (http only on loopback) without user
    /// info, query or fragment.
    #[test]
    fn a_configuration_is_settings_or_names_a_field(config in connection_config()) {
        let secrets = credential_secrets(&config.credential);
        match Settings::from_config(config) {
            Ok(settings) => {
                let endpoints = &settings.endpoints;
                for url in [&endpoints.login, &endpoints.arm.base, &endpoints.log_analytics.base, &endpoints.graph.base] {
                    prop_assert!(url.scheme() == "https" || (url.scheme() == "http" && config::is_loopback(url)), "{}", url);
                    prop_assert!(url.username().is_empty() && url.password().is_none() && url.query().is_none() && url.fragment().is_none(), "{}", url);
                }
                for scope in [&endpoints.arm.scope, &endpoints.log_analytics.scope, &endpoints.graph.scope] {
                    prop_assert!(!scope.trim().is_empty() && !scope.contains(char::is_whitespace));
                }
                let _ = incidents::workspace_url(&settings, &["incidents"]);
            }
            Err(error) => {
                let Error::InvalidInput { field, reason } = &error else {
                    return Err(TestCaseError::fail(format!("not invalid-input: {error:?}")));
                };
                prop_assert!(is_config_field(field), "unknown field {:?}", field);
                let shown = error.to_string();
                prop_assert!(!shown.chars().any(char::is_control), "{:?}", shown);
                for secret in &secrets {
                    prop_assert_eq!(leak(reason, secret), None, "{}", shown);
                }
            }
        }
    }
}

proptest! {
    // Whole calls do more work per case: fewer cases, the same seed.
    #![proptest_config(proptest_config(64))]

    /// Whole calls against a server that answers anything, in any order,
    /// echoing what it was sent: no panic, and no error (scrubbed as the
    /// component scrubs it) shows any part of the secret or of a token the
    /// client accepted; a poll that succeeds saves a cursor it accepts back.
    #[test]
    fn whole_calls_survive_a_hostile_server(secret in secret(), script in hostile_script(), calls in prop::collection::vec(call(), 1..3)) {
        let config = ConnectionConfig {
            credential: Credential::ClientSecret(Secret::new(secret.clone())),
            ..config::tests::loopback_config("http://127.0.0.1:7000")
        };
        let Ok(settings) = Settings::from_config(config) else {
            return Err(TestCaseError::fail("a generated secret is a valid credential"));
        };
        let mut client = Client::new(settings);
        let mut server = Hostile { answers: script.into(), now: 1_700_000_000, millis: 0, issued: Vec::new() };
        for call in calls {
            let result = match &call {
                Call::Get(id) => client.sentinel().get_incident(&mut server, id).map(drop),
                Call::ListAll(max_pages) => {
                    client.sentinel().list_all_incidents(&mut server, &ListOptions { max_pages: *max_pages, ..ListOptions::default() }).map(drop)
                }
                Call::Poll(cursor, options) => client.sentinel().poll(&mut server, cursor.as_deref(), options).map(|batch| {
                    let expected = if options.include_details { batch.events.len() } else { 0 };
                    (batch.cursor, batch.details.len() == expected)
                }).and_then(|(cursor, details_complete)| {
                    if Cursor::decode(&cursor).is_err() {
                        return Err(Error::invalid_response(format!("property violated: a poll saved a cursor it refuses: {cursor}")));
                    }
                    if !details_complete {
                        return Err(Error::invalid_response("property violated: a poll's details are not one per event"));
                    }
                    Ok(())
                }),
            };
            if let Err(Error::InvalidResponse(failure)) = &result {
                prop_assert!(!failure.message.starts_with("property violated"), "{}", failure.message);
            }
            if let Err(error) = result {
                let error = client.scrub(error);
                let shown = format!("{error}\n{error:?}");
                prop_assert_eq!(leak(&shown, &secret), None, "the client secret leaked in {}", shown);
                for token in &server.issued {
                    prop_assert_eq!(leak(&shown, token), None, "a token leaked in {}", shown);
                }
            }
        }
    }
}
