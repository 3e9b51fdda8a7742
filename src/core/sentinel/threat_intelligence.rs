//! Threat-intelligence indicators (`{workspace}/providers/Microsoft.SecurityInsights/threatIntelligence/main`,
//! ThreatIntelligence.json): STIX patterns built from a typed observable (or
//! an incident's normalized entity) and checked before any request, create
//! idempotent by pattern (looked up with `queryIndicators` before the one
//! `createIndicator` POST, and again when that POST's answer is lost), get,
//! list and query every page (each `nextLink` exactly as given, only to the
//! ARM origin, never twice), tags appended or replaced, delete.
//!
//! Why a lookup and not a stable name: the service names indicators itself.
//! Its PUT `/indicators/{name}` is documented as an update, and Microsoft's
//! own example answers a PUT to one name with another, so a UUIDv5 name the
//! connector chose would not survive to make a retry find its indicator.
//!
//! Everything that decides is a plain function over data, tested here on
//! Microsoft's example payloads; the `impl Sentinel` block at the end drives
//! them over a transport.

use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use url::Url;

use super::entities::EntityKind;
use super::incidents::{append_odata, workspace_url};
use super::Sentinel;
use crate::core::auth::Api;
use crate::core::client::Transport;
use crate::core::config::{shown, validate_text, Settings};
use crate::core::error::Error;
use crate::core::http::{Method, Request};
use crate::core::ids::validate_id;
use crate::core::kql::is_time;
use crate::core::paging::{parse, Page, PageWalk};

/// The source of an indicator the connector creates, unless one is given.
pub const DEFAULT_SOURCE: &str = "Microsoft Sentinel";
/// Indicators a list or a query returns by default, and at most.
pub const DEFAULT_MAX_RESULTS: u32 = 1000;
pub const MAX_RESULTS: u32 = 10_000;
/// Page sizes (`$top`, `pageSize`).
pub const MAX_PAGE_SIZE: u32 = 1000;
pub const DEFAULT_QUERY_PAGE_SIZE: u32 = 100;
/// The look-up before a create reads at most this many candidates.
pub const LOOKUP_MAX_RESULTS: u32 = 1000;
/// Tags of one call; labels, threat types and query lists of one indicator or query.
pub const MAX_TAGS: usize = 100;
pub const MAX_LIST: usize = 100;
/// One tag, label, keyword, source or name.
pub const MAX_TEXT_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// An observable's value (URLs are the longest).
pub const MAX_VALUE_CHARS: usize = 2048;
pub const MAX_FILTER_CHARS: usize = 2000;

crate::core::enums::open_enum!(
    /// STIX 2 indicator types, as Sentinel's `threatTypes` hold them.
    ThreatType {
        AnomalousActivity => "anomalous-activity",
        Anonymization => "anonymization",
        Benign => "benign",
        Compromised => "compromised",
        MaliciousActivity => "malicious-activity",
        Attribution => "attribution",
        Unknown => "unknown",
    }
);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgorithm {
    /// The STIX hash name, as in `file:hashes.'SHA-256'`.
    pub fn stix_name(self) -> &'static str {
        match self {
            HashAlgorithm::Md5 => "MD5",
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha512 => "SHA-512",
        }
    }

    pub fn hex_digits(self) -> usize {
        match self {
            HashAlgorithm::Md5 => 32,
            HashAlgorithm::Sha1 => 40,
            HashAlgorithm::Sha256 => 64,
            HashAlgorithm::Sha512 => 128,
        }
    }

    /// Sentinel's FileHash `algorithm` (`SHA256`, `sha256`, `SHA-256`, ...).
    pub fn parse(text: &str) -> Option<HashAlgorithm> {
        match text.trim().to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => Some(HashAlgorithm::Md5),
            "sha1" => Some(HashAlgorithm::Sha1),
            "sha256" => Some(HashAlgorithm::Sha256),
            "sha512" => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }
}

/// What an indicator matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observable {
    Ip(String),
    Domain(String),
    Url(String),
    FileHash { algorithm: HashAlgorithm, value: String },
    Email(String),
}

/// A checked observable's STIX pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// `[ipv4-addr:value = '1.2.3.4']`.
    pub pattern: String,
    /// `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, `file`, `email-addr`.
    pub pattern_type: &'static str,
    /// The left side, `ipv4-addr:value` or `file:hashes.'SHA-256'`.
    pub path: String,
    /// The value, normalized (what the pattern holds, unescaped).
    pub value: String,
}

/// An indicator to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIndicator {
    pub observable: Observable,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub confidence: Option<u8>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub labels: Vec<String>,
    pub threat_types: Vec<ThreatType>,
    pub tags: Vec<String>,
    pub source: Option<String>,
}

impl NewIndicator {
    /// An indicator of `observable` with nothing else set.
    pub fn of(observable: Observable) -> Self {
        NewIndicator {
            observable,
            display_name: None,
            description: None,
            confidence: None,
            valid_from: None,
            valid_until: None,
            labels: Vec::new(),
            threat_types: Vec::new(),
            tags: Vec::new(),
            source: None,
        }
    }
}

/// An indicator as read: the shared fields typed, every property as sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Indicator {
    pub name: String,
    pub resource_id: String,
    pub etag: Option<String>,
    pub properties: Value,
}

impl Indicator {
    fn text(&self, field: &str) -> Option<String> {
        self.properties.get(field).and_then(Value::as_str).map(str::to_owned)
    }

    fn texts(&self, field: &str) -> Vec<String> {
        let list = self.properties.get(field).and_then(Value::as_array);
        list.map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
    }

    pub fn display_name(&self) -> Option<String> {
        self.text("displayName")
    }
    pub fn description(&self) -> Option<String> {
        self.text("description")
    }
    pub fn pattern(&self) -> String {
        self.text("pattern").unwrap_or_default()
    }
    pub fn pattern_type(&self) -> Option<String> {
        self.text("patternType")
    }
    pub fn source(&self) -> Option<String> {
        self.text("source")
    }
    /// Only a whole number within `i32` (the spec's int32); anything else is none.
    pub fn confidence(&self) -> Option<i32> {
        self.properties.get("confidence").and_then(Value::as_i64).and_then(|n| i32::try_from(n).ok())
    }
    /// An empty string (Microsoft's examples send `""`) is none.
    fn time(&self, field: &str) -> Option<String> {
        self.text(field).filter(|t| !t.trim().is_empty())
    }
    pub fn valid_from(&self) -> Option<String> {
        self.time("validFrom")
    }
    pub fn valid_until(&self) -> Option<String> {
        self.time("validUntil")
    }
    pub fn created(&self) -> Option<String> {
        self.time("created")
    }
    pub fn last_updated(&self) -> Option<String> {
        self.time("lastUpdatedTimeUtc")
    }
    pub fn external_id(&self) -> Option<String> {
        self.text("externalId")
    }
    pub fn revoked(&self) -> bool {
        self.properties.get("revoked").and_then(Value::as_bool).unwrap_or(false)
    }
    pub fn labels(&self) -> Vec<String> {
        self.texts("labels")
    }
    pub fn threat_types(&self) -> Vec<ThreatType> {
        self.texts("threatTypes").iter().map(|t| ThreatType::parse(t)).collect()
    }
    pub fn tags(&self) -> Vec<String> {
        self.texts("threatIntelligenceTags")
    }
}

/// The indicators a list or query read, and whether `max-results` left some.
#[derive(Clone, Debug, PartialEq)]
pub struct IndicatorPage {
    pub indicators: Vec<Indicator>,
    pub more: bool,
}

/// What a create did.
#[derive(Clone, Debug, PartialEq)]
pub struct CreatedIndicator {
    pub indicator: Indicator,
    /// False: an indicator with the same pattern was there, nothing written.
    pub created: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListIndicatorsOptions {
    pub filter: Option<String>,
    pub orderby: Option<String>,
    pub top: Option<u32>,
    pub max_results: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    #[default]
    Unsorted,
    Ascending,
    Descending,
}

impl SortOrder {
    fn as_str(self) -> &'static str {
        match self {
            SortOrder::Unsorted => "unsorted",
            SortOrder::Ascending => "ascending",
            SortOrder::Descending => "descending",
        }
    }
}

/// `ThreatIntelligenceFilteringCriteria`, plus how many indicators to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndicatorQuery {
    pub keywords: Vec<String>,
    pub pattern_types: Vec<String>,
    pub sources: Vec<String>,
    pub threat_types: Vec<ThreatType>,
    pub ids: Vec<String>,
    pub min_confidence: Option<u8>,
    pub max_confidence: Option<u8>,
    pub min_valid_until: Option<String>,
    pub max_valid_until: Option<String>,
    pub include_disabled: bool,
    pub sort_by: Vec<(String, SortOrder)>,
    pub page_size: Option<u32>,
    pub max_results: Option<u32>,
}

// ---- patterns ---------------------------------------------------------------

/// A STIX string literal: single-quoted, `\` and `'` escaped, as KQL's.
pub fn stix_string(value: &str) -> String {
    crate::core::kql::string_literal(value)
}

fn refuse(value: &str, what: &str) -> Error {
    Error::invalid("observable", format!("'{}' is not {what}", shown(value)))
}

fn check_value(value: &str) -> Result<&str, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid("observable", "is empty"));
    }
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(Error::invalid("observable", format!("is longer than {MAX_VALUE_CHARS} characters")));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid("observable", format!("'{}' holds a space or control character", shown(value))));
    }
    Ok(value)
}

/// A DNS name: dotted labels of letters, digits and `-` (and `_`, which
/// real service records carry), none empty, none starting or ending with
/// `-`, at most 63 each and 253 in all, and a last label that is not all digits.
pub fn is_domain(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        && labels.last().is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

/// The observable checked and its STIX pattern built.
pub fn pattern_of(observable: &Observable) -> Result<Pattern, Error> {
    let simple = |kind: &'static str, value: String| Pattern {
        pattern: format!("[{kind}:value = {}]", stix_string(&value)),
        pattern_type: kind,
        path: format!("{kind}:value"),
        value,
    };
    match observable {
        Observable::Ip(text) => {
            let text = check_value(text)?;
            match text.parse::<IpAddr>() {
                Ok(IpAddr::V4(ip)) => Ok(simple("ipv4-addr", ip.to_string())),
                Ok(IpAddr::V6(ip)) => Ok(simple("ipv6-addr", ip.to_string())),
                Err(_) => Err(refuse(text, "an IPv4 or IPv6 address")),
            }
        }
        Observable::Domain(text) => {
            let text = check_value(text)?;
            if !is_domain(text) {
                return Err(refuse(text, "a domain name (dotted labels of letters, digits and '-')"));
            }
            Ok(simple("domain-name", text.trim_end_matches('.').to_ascii_lowercase()))
        }
        Observable::Url(text) => {
            let text = check_value(text)?;
            let url = Url::parse(text).map_err(|_| refuse(text, "an absolute URL"))?;
            if !matches!(url.scheme(), "http" | "https" | "ftp") || url.host_str().is_none_or(str::is_empty) {
                return Err(refuse(text, "an http, https or ftp URL with a host"));
            }
            Ok(simple("url", text.to_owned()))
        }
        Observable::FileHash { algorithm, value } => {
            let value = check_value(value)?;
            let digits = algorithm.hex_digits();
            if value.len() != digits || !value.chars().all(|c| c.is_ascii_hexdigit()) {
                let what = format!("a {} hash ({digits} hex digits)", algorithm.stix_name());
                return Err(refuse(value, &what));
            }
            let value = value.to_ascii_lowercase();
            let path = format!("file:hashes.'{}'", algorithm.stix_name());
            Ok(Pattern { pattern: format!("[{path} = {}]", stix_string(&value)), pattern_type: "file", path, value })
        }
        Observable::Email(text) => {
            let text = check_value(text)?;
            let ok = match text.rsplit_once('@') {
                Some((local, domain)) => {
                    !local.is_empty() && local.len() <= 64 && !local.contains('@') && is_domain(domain)
                }
                None => false,
            };
            if !ok || text.len() > 254 {
                return Err(refuse(text, "an email address (local@domain)"));
            }
            Ok(simple("email-addr", text.to_lowercase()))
        }
    }
}

/// The observable of a normalized entity's identifier, by its kind.
pub fn observable_from_entity(kind: &EntityKind, identifier: &str) -> Result<Observable, Error> {
    let id = identifier.trim().to_owned();
    let observable = match kind {
        EntityKind::Ip => Observable::Ip(id),
        EntityKind::Url => Observable::Url(id),
        EntityKind::Host | EntityKind::DnsResolution => Observable::Domain(id),
        EntityKind::Mailbox => Observable::Email(id),
        EntityKind::FileHash => {
            let Some((algorithm, value)) = id.split_once(':') else {
                return Err(Error::invalid(
                    "entity",
                    format!("the file hash '{}' does not name its algorithm (algorithm:value)", shown(&id)),
                ));
            };
            let Some(algorithm) = HashAlgorithm::parse(algorithm) else {
                return Err(Error::invalid(
                    "entity",
                    format!("'{}' is not MD5, SHA1, SHA256 or SHA512", shown(algorithm)),
                ));
            };
            Observable::FileHash { algorithm, value: value.to_owned() }
        }
        other => {
            return Err(Error::invalid(
                "entity",
                format!(
                    "a {} entity has no indicator; give an ip, url, host, dns-resolution, file-hash or mailbox",
                    shown(other.as_str())
                ),
            ))
        }
    };
    pattern_of(&observable).map_err(|error| match error {
        Error::InvalidInput { reason, .. } => Error::InvalidInput { field: "entity".into(), reason },
        other => other,
    })?;
    Ok(observable)
}

/// A comparison pattern's left side (spaces dropped, lower-cased) and its
/// value (unescaped): `[ipv4-addr:value = '1.2.3.4']` is
/// (`ipv4-addr:value`, `1.2.3.4`). None for anything else (AND, OR, ...).
pub fn split_pattern(pattern: &str) -> Option<(String, String)> {
    let inner = pattern.trim().strip_prefix('[')?.strip_suffix(']')?;
    let (path, literal) = inner.split_once('=')?;
    let literal = literal.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    let mut value = String::with_capacity(literal.len());
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?),
            '\'' => return None,
            c => value.push(c),
        }
    }
    let path: String = path.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    Some((path, value))
}

/// Whether an indicator's pattern is `ours`: the same left side and value,
/// values compared without regard to case but for URLs, IPs by address.
pub fn same_pattern(ours: &Pattern, theirs: &str) -> bool {
    let Some((path, value)) = split_pattern(theirs) else { return false };
    if path != ours.path.to_ascii_lowercase() {
        return false;
    }
    match ours.pattern_type {
        "url" => value.trim() == ours.value,
        "ipv4-addr" | "ipv6-addr" => value.trim().parse::<IpAddr>().is_ok_and(|ip| ip.to_string() == ours.value),
        _ => value.trim().trim_end_matches('.').eq_ignore_ascii_case(&ours.value),
    }
}

// ---- validation -------------------------------------------------------------

fn validate_list(field: &str, items: &[String], max: usize) -> Result<(), Error> {
    if items.len() > max {
        return Err(Error::invalid(field, format!("has {} entries; at most {max}", items.len())));
    }
    items.iter().try_for_each(|item| validate_text(field, item, MAX_TEXT_CHARS))
}

fn validate_time(field: &str, text: &str) -> Result<(), Error> {
    if is_time(text.trim()) {
        return Ok(());
    }
    Err(Error::invalid(field, format!("'{}' is not an RFC 3339 time such as 2026-01-31T12:00:00Z", shown(text))))
}

fn validate_confidence(field: &str, confidence: Option<u8>) -> Result<(), Error> {
    match confidence {
        Some(c) if c > 100 => Err(Error::invalid(field, format!("{c} is outside 0 to 100"))),
        _ => Ok(()),
    }
}

fn validate_threat_types(types: &[ThreatType]) -> Result<(), Error> {
    if types.len() > MAX_LIST {
        return Err(Error::invalid("threat-types", format!("has more than {MAX_LIST} entries")));
    }
    types.iter().try_for_each(|t| validate_text("threat-types", t.as_str(), MAX_TEXT_CHARS))
}

fn micros_of(text: &str) -> Option<u128> {
    let time = humantime::parse_rfc3339_weak(text.trim().trim_end_matches(['Z', 'z'])).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_micros())
}

/// Everything about a new indicator, checked; its pattern.
pub fn validate_new(new: &NewIndicator) -> Result<Pattern, Error> {
    let pattern = pattern_of(&new.observable)?;
    if let Some(name) = &new.display_name {
        validate_text("display-name", name, MAX_TEXT_CHARS)?;
    }
    if let Some(source) = &new.source {
        validate_text("source", source, MAX_TEXT_CHARS)?;
    }
    if new.description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS) {
        return Err(Error::invalid("description", format!("is longer than {MAX_DESCRIPTION_CHARS} characters")));
    }
    validate_confidence("confidence", new.confidence)?;
    if let Some(from) = &new.valid_from {
        validate_time("valid-from", from)?;
    }
    if let Some(until) = &new.valid_until {
        validate_time("valid-until", until)?;
        if let (Some(from), Some(until)) = (new.valid_from.as_deref().and_then(micros_of), micros_of(until)) {
            if until <= from {
                return Err(Error::invalid("valid-until", "is not after valid-from"));
            }
        }
    }
    validate_list("labels", &new.labels, MAX_LIST)?;
    validate_list("tags", &new.tags, MAX_TAGS)?;
    validate_threat_types(&new.threat_types)?;
    Ok(pattern)
}

/// Tags of an append (1 to [`MAX_TAGS`]) or a replace (0 to [`MAX_TAGS`]).
pub fn validate_tags(tags: &[String], at_least_one: bool) -> Result<(), Error> {
    if at_least_one && tags.is_empty() {
        return Err(Error::invalid("tags", "is empty: give at least one tag"));
    }
    validate_list("tags", tags, MAX_TAGS)
}

fn validate_max_results(max_results: Option<u32>) -> Result<usize, Error> {
    match max_results {
        None => Ok(DEFAULT_MAX_RESULTS as usize),
        Some(n) if (1..=MAX_RESULTS).contains(&n) => Ok(n as usize),
        Some(n) => Err(Error::invalid("max-results", format!("{n} is outside 1 to {MAX_RESULTS}"))),
    }
}

fn validate_page_size(field: &str, size: Option<u32>) -> Result<(), Error> {
    match size {
        Some(n) if !(1..=MAX_PAGE_SIZE).contains(&n) => {
            Err(Error::invalid(field, format!("{n} is outside 1 to {MAX_PAGE_SIZE}")))
        }
        _ => Ok(()),
    }
}

pub fn validate_query(query: &IndicatorQuery) -> Result<usize, Error> {
    validate_list("keywords", &query.keywords, MAX_LIST)?;
    validate_list("pattern-types", &query.pattern_types, MAX_LIST)?;
    validate_list("sources", &query.sources, MAX_LIST)?;
    validate_list("ids", &query.ids, MAX_LIST)?;
    validate_threat_types(&query.threat_types)?;
    validate_confidence("min-confidence", query.min_confidence)?;
    validate_confidence("max-confidence", query.max_confidence)?;
    if let (Some(min), Some(max)) = (query.min_confidence, query.max_confidence) {
        if min > max {
            return Err(Error::invalid("min-confidence", format!("{min} is above max-confidence {max}")));
        }
    }
    if let Some(time) = &query.min_valid_until {
        validate_time("min-valid-until", time)?;
    }
    if let Some(time) = &query.max_valid_until {
        validate_time("max-valid-until", time)?;
    }
    if query.sort_by.len() > 10 {
        return Err(Error::invalid("sort-by", "has more than 10 entries"));
    }
    for (key, _) in &query.sort_by {
        validate_text("sort-by", key, MAX_TEXT_CHARS)?;
    }
    validate_page_size("page-size", query.page_size)?;
    validate_max_results(query.max_results)
}

pub fn validate_list_options(options: &ListIndicatorsOptions) -> Result<usize, Error> {
    for (field, value) in [("filter", &options.filter), ("orderby", &options.orderby)] {
        if let Some(text) = value {
            if text.chars().any(char::is_control) {
                return Err(Error::invalid(field, "holds a control character"));
            }
            if text.chars().count() > MAX_FILTER_CHARS {
                return Err(Error::invalid(field, format!("is longer than {MAX_FILTER_CHARS} characters")));
            }
        }
    }
    validate_page_size("top", options.top)?;
    validate_max_results(options.max_results)
}

// ---- requests and answers ---------------------------------------------------

fn ti_url(settings: &Settings, rest: &[&str]) -> Url {
    let mut path = vec!["threatIntelligence", "main"];
    path.extend_from_slice(rest);
    workspace_url(settings, &path)
}

pub fn create_url(settings: &Settings) -> Url {
    ti_url(settings, &["createIndicator"])
}

pub fn query_url(settings: &Settings) -> Url {
    ti_url(settings, &["queryIndicators"])
}

pub fn indicator_url(settings: &Settings, name: &str, action: Option<&str>) -> Result<Url, Error> {
    let name = validate_id("name", name)?;
    Ok(match action {
        None => ti_url(settings, &["indicators", name]),
        Some(action) => ti_url(settings, &["indicators", name, action]),
    })
}

pub fn list_url(settings: &Settings, options: &ListIndicatorsOptions) -> Result<Url, Error> {
    validate_list_options(options)?;
    let mut url = ti_url(settings, &["indicators"]);
    append_odata(&mut url, options.filter.as_deref(), options.orderby.as_deref(), options.top);
    Ok(url)
}

/// `2026-01-31T12:00:00Z` of a Unix time.
pub fn utc_text(unix_secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_secs)).to_string()
}

/// The `createIndicator` body: `kind` indicator and the STIX properties.
pub fn create_body(new: &NewIndicator, pattern: &Pattern, now_unix_secs: u64) -> Vec<u8> {
    let mut properties = json!({
        "source": new.source.as_deref().map(str::trim).unwrap_or(DEFAULT_SOURCE),
        "displayName": new.display_name.clone().unwrap_or_else(|| pattern.value.clone()),
        "pattern": pattern.pattern,
        "patternType": pattern.pattern_type,
        "validFrom": new.valid_from.as_deref().map(str::trim).map_or_else(|| utc_text(now_unix_secs), str::to_owned),
        "threatTypes": new.threat_types.iter().map(ThreatType::as_str).collect::<Vec<_>>(),
        "labels": new.labels,
        "threatIntelligenceTags": new.tags,
        "revoked": false,
    });
    if let Some(description) = &new.description {
        properties["description"] = Value::String(description.clone());
    }
    if let Some(confidence) = new.confidence {
        properties["confidence"] = Value::from(confidence);
    }
    if let Some(until) = &new.valid_until {
        properties["validUntil"] = Value::String(until.trim().to_owned());
    }
    serde_json::to_vec(&json!({ "kind": "indicator", "properties": properties })).unwrap_or_default()
}

/// The `queryIndicators` body: only the criteria set.
pub fn query_body(query: &IndicatorQuery) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("pageSize".into(), Value::from(query.page_size.unwrap_or(DEFAULT_QUERY_PAGE_SIZE)));
    let mut list = |name: &str, items: Vec<String>| {
        if !items.is_empty() {
            body.insert(name.into(), Value::from(items));
        }
    };
    list("keywords", query.keywords.clone());
    list("patternTypes", query.pattern_types.clone());
    list("sources", query.sources.clone());
    list("threatTypes", query.threat_types.iter().map(|t| t.as_str().to_owned()).collect());
    list("ids", query.ids.clone());
    if let Some(min) = query.min_confidence {
        body.insert("minConfidence".into(), Value::from(min));
    }
    if let Some(max) = query.max_confidence {
        body.insert("maxConfidence".into(), Value::from(max));
    }
    if let Some(time) = &query.min_valid_until {
        body.insert("minValidUntil".into(), Value::String(time.trim().to_owned()));
    }
    if let Some(time) = &query.max_valid_until {
        body.insert("maxValidUntil".into(), Value::String(time.trim().to_owned()));
    }
    if query.include_disabled {
        body.insert("includeDisabled".into(), Value::Bool(true));
    }
    if !query.sort_by.is_empty() {
        let sort: Vec<Value> = query
            .sort_by
            .iter()
            .map(|(key, order)| json!({"itemKey": key.trim(), "sortOrder": order.as_str()}))
            .collect();
        body.insert("sortBy".into(), Value::Array(sort));
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

/// The query that finds indicators with `pattern`: its value as keyword,
/// its type, disabled ones too.
pub fn lookup_query(pattern: &Pattern) -> IndicatorQuery {
    IndicatorQuery {
        keywords: vec![pattern.value.clone()],
        pattern_types: vec![pattern.pattern_type.to_owned()],
        include_disabled: true,
        page_size: Some(DEFAULT_QUERY_PAGE_SIZE),
        max_results: Some(LOOKUP_MAX_RESULTS),
        ..IndicatorQuery::default()
    }
}

pub fn tags_body(tags: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "threatIntelligenceTags": tags })).unwrap_or_default()
}

pub fn replace_tags_body(tags: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "kind": "indicator", "properties": { "threatIntelligenceTags": tags } }))
        .unwrap_or_default()
}

/// One indicator of an answer: a name (else the id's last segment) and
/// properties that are an object; anything else is refused.
pub fn indicator_from(value: Value) -> Result<Indicator, Error> {
    let Value::Object(mut map) = value else {
        return Err(Error::invalid_response("an indicator that is not a JSON object"));
    };
    let text = |map: &Map<String, Value>, field: &str| map.get(field).and_then(Value::as_str).map(str::to_owned);
    let resource_id = text(&map, "id").unwrap_or_default();
    let name = text(&map, "name")
        .or_else(|| resource_id.rsplit('/').next().filter(|s| !s.is_empty()).map(str::to_owned))
        .ok_or_else(|| Error::invalid_response("an indicator without a name"))?;
    let properties = map.remove("properties").unwrap_or(Value::Null);
    if !properties.is_object() {
        return Err(Error::invalid_response(format!("indicator {} has no properties", shown(&name))));
    }
    Ok(Indicator { name, resource_id, etag: text(&map, "etag"), properties })
}

pub fn parse_indicator(body: &[u8]) -> Result<Indicator, Error> {
    indicator_from(parse(body, "indicator")?)
}

/// Tags of `wanted` that `current` lacks (compared without regard to
/// case), each once, in the order given.
pub fn missing_tags(current: &[String], wanted: &[String]) -> Vec<String> {
    let mut missing: Vec<String> = Vec::new();
    for tag in wanted {
        let tag = tag.trim();
        let held = current.iter().chain(missing.iter()).any(|t| t.trim().eq_ignore_ascii_case(tag));
        if !held {
            missing.push(tag.to_owned());
        }
    }
    missing
}

/// A failure after which the POST may or may not have been carried out.
fn answer_lost(error: &Error) -> bool {
    match error {
        Error::Transport(_) => true,
        Error::Service(failure) => failure.status >= 500 || failure.status == 408,
        _ => false,
    }
}

// ---- actions ----------------------------------------------------------------

impl Sentinel<'_> {
    /// Every page from `url` (sent with `body`: the query's criteria, the
    /// same for each page), each `nextLink` followed exactly as given, only
    /// to the ARM origin, never twice, until `max_results` indicators.
    fn indicator_pages(
        &mut self,
        transport: &mut impl Transport,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        max_results: usize,
    ) -> Result<IndicatorPage, Error> {
        let mut walk = PageWalk::new(self.settings().endpoints.arm.base.clone(), None);
        let mut url = url;
        let mut indicators = Vec::new();
        loop {
            let answer = self.arm(transport, method, url, body.clone())?;
            let page: Page<Value> = parse(&answer.body, "indicator list")?;
            drop(answer);
            for value in page.value {
                if indicators.len() == max_results {
                    return Ok(IndicatorPage { indicators, more: true });
                }
                indicators.push(indicator_from(value)?);
            }
            match page.next_link.filter(|link| !link.trim().is_empty()) {
                Some(_) if indicators.len() == max_results => return Ok(IndicatorPage { indicators, more: true }),
                Some(link) => url = walk.next(&link)?,
                None => return Ok(IndicatorPage { indicators, more: false }),
            }
        }
    }

    /// The first indicator whose pattern is `pattern`'s, disabled ones too.
    fn find_indicator(
        &mut self,
        transport: &mut impl Transport,
        pattern: &Pattern,
    ) -> Result<Option<Indicator>, Error> {
        let found = self.query_indicators(transport, &lookup_query(pattern))?;
        Ok(found.indicators.into_iter().find(|indicator| same_pattern(pattern, &indicator.pattern())))
    }

    /// Creates the indicator unless one with the same pattern exists; see
    /// the module's comment for why this is a look-up and not a stable name.
    pub fn create_indicator(
        &mut self,
        transport: &mut impl Transport,
        new: &NewIndicator,
    ) -> Result<CreatedIndicator, Error> {
        let pattern = validate_new(new)?;
        if let Some(indicator) = self.find_indicator(transport, &pattern)? {
            return Ok(CreatedIndicator { indicator, created: false });
        }
        let body = create_body(new, &pattern, transport.now_unix_secs());
        let request = Request::new(Method::Post, create_url(self.settings()))
            .header("accept", "application/json")
            .json_body(body);
        match self.client.send_once(transport, Api::Arm, request) {
            Ok(answer) => Ok(CreatedIndicator { indicator: parse_indicator(&answer.body)?, created: true }),
            // The answer was lost: the indicator may exist. Look before failing.
            Err(error) if answer_lost(&error) => match self.find_indicator(transport, &pattern) {
                Ok(Some(indicator)) => Ok(CreatedIndicator { indicator, created: true }),
                _ => Err(error),
            },
            Err(error) => Err(error),
        }
    }

    pub fn get_indicator(&mut self, transport: &mut impl Transport, name: &str) -> Result<Indicator, Error> {
        let url = indicator_url(self.settings(), name, None)?;
        parse_indicator(&self.arm(transport, Method::Get, url, None)?.body)
    }

    pub fn list_indicators(
        &mut self,
        transport: &mut impl Transport,
        options: &ListIndicatorsOptions,
    ) -> Result<IndicatorPage, Error> {
        let max_results = validate_list_options(options)?;
        let url = list_url(self.settings(), options)?;
        self.indicator_pages(transport, Method::Get, url, None, max_results)
    }

    /// `queryIndicators`: each next page is its `nextLink` POSTed with the
    /// same criteria (a GET of it, as SDKs send, is refused by the service).
    pub fn query_indicators(
        &mut self,
        transport: &mut impl Transport,
        query: &IndicatorQuery,
    ) -> Result<IndicatorPage, Error> {
        let max_results = validate_query(query)?;
        let url = query_url(self.settings());
        self.indicator_pages(transport, Method::Post, url, Some(query_body(query)), max_results)
    }

    /// Reads the indicator, appends only the tags it lacks (one POST, sent
    /// once: a retry reads again), and reads it again.
    pub fn append_tags(
        &mut self,
        transport: &mut impl Transport,
        name: &str,
        tags: &[String],
    ) -> Result<Indicator, Error> {
        validate_tags(tags, true)?;
        let url = indicator_url(self.settings(), name, Some("appendTags"))?;
        let current = self.get_indicator(transport, name)?;
        let missing = missing_tags(&current.tags(), tags);
        if missing.is_empty() {
            return Ok(current);
        }
        let request =
            Request::new(Method::Post, url).header("accept", "application/json").json_body(tags_body(&missing));
        self.client.send_once(transport, Api::Arm, request)?;
        self.get_indicator(transport, name)
    }

    /// Replaces the tags (idempotent: the same call sets the same tags).
    pub fn replace_tags(
        &mut self,
        transport: &mut impl Transport,
        name: &str,
        tags: &[String],
    ) -> Result<Indicator, Error> {
        validate_tags(tags, false)?;
        let tags: Vec<String> = tags.iter().map(|t| t.trim().to_owned()).collect();
        let url = indicator_url(self.settings(), name, Some("replaceTags"))?;
        let answer = self.arm(transport, Method::Post, url, Some(replace_tags_body(&tags)))?;
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return self.get_indicator(transport, name);
        }
        parse_indicator(&answer.body)
    }

    /// Deletes the indicator; one already gone (204, or 404) is success.
    pub fn delete_indicator(&mut self, transport: &mut impl Transport, name: &str) -> Result<(), Error> {
        let url = indicator_url(self.settings(), name, None)?;
        match self.arm(transport, Method::Delete, url, None) {
            Ok(_) | Err(Error::NotFound(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{client, token, Script};

    fn example(name: &str) -> Value {
        let path =
            format!("{}/tests/fixtures/azure-specs/threat-intelligence-2025-12-01/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    fn answer(name: &str, status: &str) -> String {
        example(name)["responses"][status]["body"].to_string()
    }

    fn sha256() -> String {
        "a".repeat(64)
    }

    #[test]
    fn patterns_are_built_from_each_observable_and_escaped() {
        let ip = pattern_of(&Observable::Ip(" 1.2.3.4 ".into())).unwrap();
        assert_eq!((ip.pattern.as_str(), ip.pattern_type), ("[ipv4-addr:value = '1.2.3.4']", "ipv4-addr"));
        let v6 = pattern_of(&Observable::Ip("2001:DB8:0:0::1".into())).unwrap();
        assert_eq!(v6.pattern, "[ipv6-addr:value = '2001:db8::1']");
        let domain = pattern_of(&Observable::Domain("Evil.Example.COM.".into())).unwrap();
        assert_eq!(domain.pattern, "[domain-name:value = 'evil.example.com']");
        let url = pattern_of(&Observable::Url("https://x.example/a'b\\c".into())).unwrap();
        assert_eq!(url.pattern, r"[url:value = 'https://x.example/a\'b\\c']");
        let hash = Observable::FileHash { algorithm: HashAlgorithm::Sha256, value: sha256().to_uppercase() };
        let hash = pattern_of(&hash).unwrap();
        assert_eq!(hash.pattern, format!("[file:hashes.'SHA-256' = '{}']", sha256()));
        assert_eq!(hash.pattern_type, "file");
        let email = pattern_of(&Observable::Email("Bad.Actor@Example.com".into())).unwrap();
        assert_eq!(email.pattern, "[email-addr:value = 'bad.actor@example.com']");
        // The escaped pattern reads back to its value.
        assert_eq!(split_pattern(&url.pattern), Some(("url:value".into(), "https://x.example/a'b\\c".into())));
        assert!(same_pattern(&url, &url.pattern));
    }

    #[test]
    fn bad_observables_are_refused() {
        let refused = |observable: Observable| {
            let error = pattern_of(&observable).unwrap_err();
            assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "observable"), "{error:?}");
        };
        refused(Observable::Ip("1.2.3.256".into()));
        refused(Observable::Ip("".into()));
        refused(Observable::Domain("no_dots".into()));
        refused(Observable::Domain("-bad.example".into()));
        refused(Observable::Domain("1.2.3.4".into()));
        refused(Observable::Url("not a url".into()));
        refused(Observable::Url("javascript:alert(1)".into()));
        refused(Observable::Url("https://x.example/a\nb".into()));
        refused(Observable::FileHash { algorithm: HashAlgorithm::Sha256, value: "a".repeat(40) });
        refused(Observable::FileHash { algorithm: HashAlgorithm::Md5, value: "g".repeat(32) });
        refused(Observable::Email("no-at.example".into()));
        refused(Observable::Email("a@b".into()));
    }

    #[test]
    fn entities_become_observables() {
        let hash = format!("sha256:{}", sha256());
        assert_eq!(
            observable_from_entity(&EntityKind::FileHash, &hash).unwrap(),
            Observable::FileHash { algorithm: HashAlgorithm::Sha256, value: sha256() }
        );
        assert_eq!(observable_from_entity(&EntityKind::Ip, "10.0.0.1").unwrap(), Observable::Ip("10.0.0.1".into()));
        assert_eq!(
            observable_from_entity(&EntityKind::Host, "web.contoso.com").unwrap(),
            Observable::Domain("web.contoso.com".into())
        );
        for (kind, id) in [(EntityKind::Account, "alice@contoso.com"), (EntityKind::Host, "WEB01")] {
            let error = observable_from_entity(&kind, id).unwrap_err();
            assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "entity"), "{error:?}");
        }
    }

    #[test]
    fn patterns_compare_by_value_not_by_spelling() {
        let ours = pattern_of(&Observable::Url("https://www.contoso.com".into())).unwrap();
        let listed: Page<Value> = serde_json::from_str(&answer("GetThreatIntelligence.json", "200")).unwrap();
        let indicators: Vec<Indicator> = listed.value.into_iter().map(|v| indicator_from(v).unwrap()).collect();
        assert!(indicators.iter().all(|i| same_pattern(&ours, &i.pattern())), "Microsoft's examples match");
        let ip = pattern_of(&Observable::Ip("1.2.3.4".into())).unwrap();
        assert!(same_pattern(&ip, "[ipv4-addr:value='1.2.3.4']"));
        assert!(!same_pattern(&ip, "[ipv4-addr:value = '1.2.3.40']"));
        assert!(!same_pattern(&ip, "[ipv4-addr:value = '1.2.3.4'] AND [url:value = 'x']"));
        let domain = pattern_of(&Observable::Domain("example.com".into())).unwrap();
        assert!(same_pattern(&domain, "[domain-name:value = 'EXAMPLE.com']"));
        assert!(!same_pattern(&ours, "[url:value = 'https://WWW.contoso.com']"), "URLs compare exactly");
    }

    #[test]
    fn microsofts_examples_read_with_every_typed_field() {
        let indicator = parse_indicator(answer("GetThreatIntelligenceById.json", "200").as_bytes()).unwrap();
        assert_eq!(indicator.name, "e16ef847-962e-d7b6-9c8b-a33e4bd30e47");
        assert_eq!(indicator.pattern(), "[url:value = 'https://abc.com']");
        assert_eq!(indicator.pattern_type().as_deref(), Some("url"));
        assert_eq!(indicator.confidence(), Some(78));
        assert_eq!(indicator.threat_types(), [ThreatType::Compromised]);
        assert_eq!(indicator.tags(), ["patching tags"]);
        assert_eq!(indicator.source().as_deref(), Some("Azure Sentinel"));
        assert!(!indicator.revoked() && indicator.etag.is_some() && indicator.external_id().is_some());
        let created = parse_indicator(answer("CreateThreatIntelligence.json", "201").as_bytes()).unwrap();
        assert_eq!(created.valid_until(), None);
        let error = parse_indicator(br#"{"name":"x","properties":[]}"#).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse(_)));
    }

    #[test]
    fn the_create_body_has_the_shape_of_microsofts_example() {
        let mut new = NewIndicator::of(Observable::Url("https://www.contoso.com".into()));
        new.confidence = Some(78);
        new.threat_types = vec![ThreatType::Compromised];
        new.tags = vec!["new schema".into()];
        new.valid_from = Some("2020-04-15T17:44:00.114052Z".into());
        let pattern = validate_new(&new).unwrap();
        let body: Value = serde_json::from_slice(&create_body(&new, &pattern, 0)).unwrap();
        let sent = &example("CreateThreatIntelligence.json")["parameters"]["ThreatIntelligenceProperties"];
        assert_eq!(body["kind"], sent["kind"]);
        for field in ["pattern", "patternType", "confidence", "threatTypes", "threatIntelligenceTags", "validFrom"] {
            assert_eq!(body["properties"][field], sent["properties"][field], "{field}");
        }
        assert_eq!(body["properties"]["source"], DEFAULT_SOURCE);
        new.valid_from = None;
        let body: Value = serde_json::from_slice(&create_body(&new, &pattern, 1_700_000_000)).unwrap();
        assert_eq!(body["properties"]["validFrom"], "2023-11-14T22:13:20Z", "now, when not given");
    }

    #[test]
    fn inputs_are_checked_before_any_request() {
        let mut script = Script::new(vec![]);
        let mut new = NewIndicator::of(Observable::Ip("10.0.0.1".into()));
        new.confidence = Some(101);
        let error = client().sentinel().create_indicator(&mut script, &new).unwrap_err();
        assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "confidence"), "{error:?}");
        new.confidence = None;
        new.valid_from = Some("2026-02-01T00:00:00Z".into());
        new.valid_until = Some("2026-01-01T00:00:00Z".into());
        let error = client().sentinel().create_indicator(&mut script, &new).unwrap_err();
        assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "valid-until"), "{error:?}");
        let error = client().sentinel().append_tags(&mut script, "a/b", &["x".into()]).unwrap_err();
        assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "name"), "{error:?}");
        let error = client().sentinel().append_tags(&mut script, "n", &[]).unwrap_err();
        assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "tags"), "{error:?}");
        let query = IndicatorQuery { min_confidence: Some(90), max_confidence: Some(10), ..IndicatorQuery::default() };
        assert!(client().sentinel().query_indicators(&mut script, &query).is_err());
        let options = ListIndicatorsOptions { top: Some(0), ..ListIndicatorsOptions::default() };
        assert!(client().sentinel().list_indicators(&mut script, &options).is_err());
        assert!(script.sent.is_empty());
    }

    #[test]
    fn an_existing_pattern_is_returned_and_nothing_is_created() {
        let found = answer("QueryThreatIntelligence.json", "200");
        let mut script = Script::new(vec![token(), (200, found)]);
        let new = NewIndicator::of(Observable::Url("https://www.contoso.com".into()));
        let result = client().sentinel().create_indicator(&mut script, &new).unwrap();
        assert!(!result.created);
        assert_eq!(result.indicator.name, "27d963e6-e6e4-e0f9-e9d7-c53985b3bbe8");
        let sent = &script.sent[1];
        assert!(sent.url.path().ends_with("/threatIntelligence/main/queryIndicators"));
        let body: Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(body["keywords"], json!(["https://www.contoso.com"]));
        assert_eq!((body["patternTypes"].clone(), body["includeDisabled"].clone()), (json!(["url"]), json!(true)));
        assert_eq!(script.sent.len(), 2, "no create");
    }

    #[test]
    fn a_lost_create_answer_is_looked_up_before_failing() {
        let created = answer("CreateThreatIntelligence.json", "200");
        let mut found: Value = serde_json::from_str(r#"{"value":[]}"#).unwrap();
        found["value"] = json!([serde_json::from_str::<Value>(&created).unwrap()]);
        let mut script = Script::new(vec![
            token(),
            (200, r#"{"value":[]}"#.into()),
            (500, r#"{"error":{"code":"InternalServerError","message":"boom"}}"#.into()),
            (200, found.to_string()),
        ]);
        let new = NewIndicator::of(Observable::Url("https://www.contoso.com".into()));
        let result = client().sentinel().create_indicator(&mut script, &new).unwrap();
        assert!(result.created);
        assert_eq!(result.indicator.name, "180105c7-a28d-b1a2-4a78-234f6ec80fd6");
        let methods: Vec<&str> = script.sent.iter().skip(1).map(|r| r.url.path().rsplit('/').next().unwrap()).collect();
        assert_eq!(methods, ["queryIndicators", "createIndicator", "queryIndicators"], "the POST was sent once");
    }

    #[test]
    fn query_pages_post_the_same_criteria_to_each_next_link_and_stop_on_a_repeat() {
        let page = |next: Option<&str>| {
            let mut body: Value = serde_json::from_str(&answer("QueryThreatIntelligence.json", "200")).unwrap();
            if let Some(next) = next {
                body["nextLink"] = Value::String(next.into());
            }
            body.to_string()
        };
        let base = "http://127.0.0.1:7000/subscriptions/s/x/queryIndicators?api-version=2025-09-01&$skipToken=";
        let mut script = Script::new(vec![token(), (200, page(Some(&format!("{base}2")))), (200, page(None))]);
        let query = IndicatorQuery { sources: vec!["Azure Sentinel".into()], ..IndicatorQuery::default() };
        let result = client().sentinel().query_indicators(&mut script, &query).unwrap();
        assert_eq!((result.indicators.len(), result.more), (4, false));
        assert_eq!(script.sent[2].url.as_str(), format!("{base}2"), "followed exactly");
        assert_eq!((script.sent[2].method, &script.sent[2].body), (Method::Post, &script.sent[1].body));

        let repeat = format!("{base}2");
        let mut script = Script::new(vec![token(), (200, page(Some(&repeat))), (200, page(Some(&repeat)))]);
        let error = client().sentinel().query_indicators(&mut script, &query).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse(_)), "{error:?}");

        let elsewhere = page(Some("https://evil.example/queryIndicators?$skipToken=2"));
        let mut script = Script::new(vec![token(), (200, elsewhere)]);
        assert!(client().sentinel().query_indicators(&mut script, &query).is_err());
        assert_eq!(script.sent.len(), 2, "nothing sent elsewhere");

        let capped = IndicatorQuery { max_results: Some(1), ..query };
        let mut script = Script::new(vec![token(), (200, page(Some(&format!("{base}2"))))]);
        let result = client().sentinel().query_indicators(&mut script, &capped).unwrap();
        assert_eq!((result.indicators.len(), result.more), (1, true));
    }

    #[test]
    fn appending_sends_only_missing_tags_and_nothing_when_none_are() {
        let current = answer("GetThreatIntelligenceById.json", "200");
        let mut script = Script::new(vec![token(), (200, current.clone())]);
        let same = client().sentinel().append_tags(&mut script, "e16ef847", &["PATCHING TAGS".into()]).unwrap();
        assert_eq!(same.tags(), ["patching tags"]);
        assert_eq!(script.sent.len(), 2, "read, nothing written");

        let mut script = Script::new(vec![token(), (200, current.clone()), (200, String::new()), (200, current)]);
        let tags = vec!["patching tags".to_owned(), "tag1".to_owned(), "tag1".to_owned()];
        client().sentinel().append_tags(&mut script, "e16ef847", &tags).unwrap();
        let body: Value = serde_json::from_slice(&script.sent[2].body).unwrap();
        assert_eq!(body, json!({"threatIntelligenceTags": ["tag1"]}), "the shape of AppendTagsThreatIntelligence.json");
    }

    #[test]
    fn a_delete_of_an_indicator_already_gone_succeeds() {
        let gone = r#"{"error":{"code":"NotFound","message":"not found"}}"#;
        let mut script = Script::new(vec![token(), (404, gone.into())]);
        client().sentinel().delete_indicator(&mut script, "d9cd6f0b").unwrap();
        let mut script = Script::new(vec![token(), (204, String::new())]);
        client().sentinel().delete_indicator(&mut script, "d9cd6f0b").unwrap();
    }
}
