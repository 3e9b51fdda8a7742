//! Sentinel watchlists (`{workspace}/providers/Microsoft.SecurityInsights/watchlists`,
//! Watchlists.json): watchlists and their items, the long-running create and
//! delete (`Azure-AsyncOperation`, polled as `Retry-After` says within a
//! deadline), upsert of an item by its search key's value, membership checks
//! (one KQL `_GetWatchlist` query, or the items), and bulk add of entities.
//!
//! Everything that decides is a plain function over data, tested here on
//! Microsoft's example payloads; the `impl Sentinel` block at the end drives
//! them over a transport.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::incidents::workspace_url;
use super::query::QueryOptions;
use super::Sentinel;
use crate::core::auth::Api;
use crate::core::client::Transport;
use crate::core::config::{shown, validate_text, Settings};
use crate::core::error::{Error, LocalFailure, ServiceFailure};
use crate::core::http::{Method, Response};
use crate::core::ids::validate_id;
use crate::core::kql::Cell;
use crate::core::paging::{check_link, parse, Page};
use crate::core::retry;

/// Items the connector creates are named by a UUIDv5 in this namespace.
const ITEM_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5b0e_7c1d_94a2_4f63_8e17_c2d9_a4f0_6004);

/// Microsoft: "File uploads are currently limited to files of up to 3.8 MB
/// in size" (rawContent; larger ones go through Azure Storage, which this
/// connector does not use). Taken as decimal megabytes, the stricter reading.
pub const MAX_CONTENT_BYTES: usize = 3_800_000;
/// Microsoft: "The total number of active watchlist items across all
/// watchlists in a single workspace is currently limited to 10 million."
pub const MAX_ITEMS: usize = 10_000_000;
/// Aliases: a letter or digit, then letters, digits, `-` and `_`, at most
/// 64 in all. The alias is a URL path segment and the argument of KQL's
/// `_GetWatchlist('alias')`, so nothing that needs quoting in either.
pub const MAX_ALIAS_CHARS: usize = 64;
/// At most this many values per `watchlist-contains`, and entities per bulk add.
pub const MAX_VALUES: usize = 1000;
/// One cell of an item (a search-key value, a column name or value).
pub const MAX_CELL_CHARS: usize = 4096;
/// Columns of one item.
pub const MAX_COLUMNS: usize = 256;

/// How long a create or delete waits for its operation by default, and at most.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(120);
pub const MAX_WAIT_SECS: u32 = 600;
/// Without a `Retry-After`, the operation is polled this often.
pub const DEFAULT_POLL: Duration = Duration::from_secs(5);
/// A `Retry-After` is kept within these bounds: a zero (or hostile) one
/// never spins, a huge one never outlives the deadline anyway.
pub const MIN_POLL: Duration = Duration::from_millis(250);
pub const MAX_POLL: Duration = Duration::from_secs(60);
/// At most this many polls of one operation, whatever the clock says.
pub const MAX_POLLS: u32 = 1000;

crate::core::enums::open_enum!(
    /// `sourceType`.
    SourceType { Local => "Local", AzureStorage => "AzureStorage" }
);

crate::core::enums::open_enum!(
    /// `provisioningState`.
    ProvisioningState {
        New => "New",
        InProgress => "InProgress",
        Uploading => "Uploading",
        Deleting => "Deleting",
        Succeeded => "Succeeded",
        Failed => "Failed",
        Canceled => "Canceled",
    }
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WatchlistProperties {
    pub watchlist_id: Option<String>,
    pub display_name: String,
    pub provider: String,
    pub source: Option<String>,
    pub source_type: Option<SourceType>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub description: Option<String>,
    pub watchlist_type: Option<String>,
    pub watchlist_alias: Option<String>,
    pub is_deleted: Option<bool>,
    #[serde(deserialize_with = "strings")]
    pub labels: Vec<String>,
    pub default_duration: Option<String>,
    pub tenant_id: Option<String>,
    pub items_search_key: String,
    pub upload_status: Option<String>,
    pub provisioning_state: Option<ProvisioningState>,
}

/// A watchlist as read: typed properties and every property as sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Watchlist {
    pub alias: String,
    pub resource_id: String,
    pub etag: Option<String>,
    pub properties: WatchlistProperties,
    pub raw_properties: Value,
}

/// One row of a watchlist.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchlistItem {
    pub id: String,
    pub resource_id: String,
    pub etag: Option<String>,
    /// `itemsKeyValue`, column by column (a value that is not a string as its JSON text).
    pub values: Vec<(String, String)>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub raw_properties: Value,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentFormat {
    #[default]
    Csv,
    Tsv,
}

impl ContentFormat {
    fn separator(self) -> char {
        match self {
            ContentFormat::Csv => ',',
            ContentFormat::Tsv => '\t',
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            ContentFormat::Csv => "text/csv",
            ContentFormat::Tsv => "text/tsv",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ContentFormat::Csv => "csv",
            ContentFormat::Tsv => "tsv",
        }
    }
}

/// A watchlist to create from CSV (or TSV) content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewWatchlist {
    pub display_name: String,
    /// The column items are found by; it must be in the content's header.
    pub items_search_key: String,
    pub description: Option<String>,
    /// Defaults to "Custom".
    pub provider: Option<String>,
    /// The file name shown as the source; defaults to `{alias}.csv`.
    pub source: Option<String>,
    /// The header line, then one line per item.
    pub content: String,
    pub format: ContentFormat,
    /// Lines before the header to skip.
    pub lines_to_skip: u32,
    pub labels: Vec<String>,
    /// ISO 8601 duration each item lives (`P30D`).
    pub default_duration: Option<String>,
}

/// What an upsert did.
#[derive(Clone, Debug, PartialEq)]
pub struct Upserted {
    pub item: WatchlistItem,
    /// No item had the search key's value before.
    pub created: bool,
}

/// Whether a value is in the watchlist, and the item that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub value: String,
    pub found: bool,
    pub item_id: Option<String>,
}

/// How `watchlist-contains` looks values up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lookup {
    /// KQL when the connection has a workspace id, else the items.
    #[default]
    Auto,
    /// One KQL query, `_GetWatchlist('alias')`, on the Log Analytics API.
    Query,
    /// Every item through ARM (what was just written, with no ingestion delay).
    Items,
}

/// One entity of a bulk add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityAdded {
    pub identifier: String,
    pub item_id: String,
    /// False: an item already held the value, nothing was written.
    pub added: bool,
}

/// A long-running operation's state, as its status URL answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationStatus {
    InProgress,
    Succeeded,
    /// Failed or Canceled, with the service's code and message.
    Failed {
        status: String,
        code: String,
        message: String,
    },
}

// ---- validation -------------------------------------------------------------

pub fn validate_alias(alias: &str) -> Result<&str, Error> {
    let mut chars = alias.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && alias.len() <= MAX_ALIAS_CHARS;
    if ok {
        return Ok(alias);
    }
    Err(Error::invalid(
        "alias",
        format!(
            "'{}' must be 1 to {MAX_ALIAS_CHARS} letters, digits, '-' or '_', starting with a letter or digit",
            shown(alias)
        ),
    ))
}

/// The limits Microsoft documents, and a content whose header names the
/// search key, checked before anything is sent.
pub fn validate_new(watchlist: &NewWatchlist) -> Result<(), Error> {
    validate_text("display-name", &watchlist.display_name, 256)?;
    validate_text("items-search-key", &watchlist.items_search_key, MAX_CELL_CHARS)?;
    if let Some(provider) = &watchlist.provider {
        validate_text("provider", provider, 256)?;
    }
    if let Some(source) = &watchlist.source {
        validate_text("source", source, 256)?;
    }
    if watchlist.description.as_ref().is_some_and(|d| d.chars().count() > 10_000) {
        return Err(Error::invalid("description", "is longer than 10,000 characters"));
    }
    for label in &watchlist.labels {
        validate_text("labels", label, 256)?;
    }
    if let Some(duration) = &watchlist.default_duration {
        if !is_duration(duration) {
            return Err(Error::invalid(
                "default-duration",
                format!("'{}' is not an ISO 8601 duration such as P30D or P1DT12H", shown(duration)),
            ));
        }
    }
    if watchlist.content.len() > MAX_CONTENT_BYTES {
        return Err(Error::invalid(
            "content",
            format!(
                "is {} bytes; Microsoft limits a watchlist upload to 3.8 MB ({MAX_CONTENT_BYTES} bytes)",
                watchlist.content.len()
            ),
        ));
    }
    let mut lines = watchlist.content.lines().skip(watchlist.lines_to_skip as usize);
    let Some(header) = lines.next() else {
        return Err(Error::invalid("content", "has no header line (after the lines to skip)"));
    };
    let columns = split_row(header, watchlist.format.separator());
    let key = watchlist.items_search_key.trim();
    if !columns.iter().any(|c| c.trim() == key) {
        let shown_columns: Vec<String> = columns.iter().take(20).map(|c| shown(c)).collect();
        return Err(Error::invalid(
            "items-search-key",
            format!("'{}' is not a column of the content's header ({})", shown(key), shown_columns.join(", ")),
        ));
    }
    let rows = lines.filter(|line| !line.trim().is_empty()).count();
    if rows > MAX_ITEMS {
        return Err(Error::invalid(
            "content",
            format!("has {rows} rows; Microsoft limits a workspace to {MAX_ITEMS} watchlist items"),
        ));
    }
    Ok(())
}

/// `P[nY][nM][nW][nD][T[nH][nM][n[.n]S]]`, at least one part.
pub fn is_duration(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('P') else { return false };
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return false,
        None => (rest, None),
    };
    let parts = |text: &str, units: &str, fraction: bool| -> Option<usize> {
        let mut count = 0;
        let mut number = String::new();
        let mut allowed = units;
        for c in text.chars() {
            if c.is_ascii_digit() || (fraction && c == '.' && !number.is_empty() && !number.contains('.')) {
                number.push(c);
                continue;
            }
            let at = allowed.find(c)?;
            if number.is_empty() || number.ends_with('.') {
                return None;
            }
            allowed = &allowed[at + c.len_utf8()..];
            number.clear();
            count += 1;
        }
        number.is_empty().then_some(count)
    };
    let date_parts = parts(date, "YMWD", false);
    let time_parts = time.map(|t| parts(t, "HMS", true));
    match (date_parts, time_parts) {
        (Some(d), None) => d > 0,
        (Some(d), Some(Some(t))) => d + t > 0 && t > 0,
        _ => false,
    }
}

/// The fields of one CSV (or TSV) line: quoted fields may hold the
/// separator and doubled quotes.
pub fn split_row(line: &str, separator: char) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (c, false) if c == separator => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// The columns of an item to write: at least one, names and values bounded.
pub fn validate_values(values: &[(String, String)]) -> Result<(), Error> {
    if values.is_empty() {
        return Err(Error::invalid("values", "is empty: give at least the search key's column"));
    }
    if values.len() > MAX_COLUMNS {
        return Err(Error::invalid("values", format!("has more than {MAX_COLUMNS} columns")));
    }
    for (column, value) in values {
        validate_text("values", column, MAX_CELL_CHARS)?;
        if value.chars().count() > MAX_CELL_CHARS {
            return Err(Error::invalid("values", format!("the value of '{}' is too long", shown(column))));
        }
        if value.chars().any(char::is_control) {
            return Err(Error::invalid(
                "values",
                format!("the value of '{}' holds a control character", shown(column)),
            ));
        }
    }
    Ok(())
}

/// Values to look up or add: 1 to [`MAX_VALUES`], none blank.
pub fn validate_lookup_values(field: &str, values: &[String]) -> Result<(), Error> {
    if values.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    if values.len() > MAX_VALUES {
        return Err(Error::invalid(field, format!("has {} entries; at most {MAX_VALUES} per call", values.len())));
    }
    values.iter().try_for_each(|value| validate_text(field, value, MAX_CELL_CHARS))
}

pub fn validate_max_wait(seconds: Option<u32>) -> Result<Duration, Error> {
    match seconds {
        None => Ok(DEFAULT_MAX_WAIT),
        Some(s) if (1..=MAX_WAIT_SECS).contains(&s) => Ok(Duration::from_secs(u64::from(s))),
        Some(s) => Err(Error::invalid("max-wait-seconds", format!("{s} is outside 1 to {MAX_WAIT_SECS}"))),
    }
}

// ---- requests and answers ---------------------------------------------------

pub fn watchlists_url(settings: &Settings) -> Url {
    workspace_url(settings, &["watchlists"])
}

pub fn watchlist_url(settings: &Settings, alias: &str) -> Result<Url, Error> {
    Ok(workspace_url(settings, &["watchlists", validate_alias(alias)?]))
}

pub fn items_url(settings: &Settings, alias: &str, item_id: Option<&str>) -> Result<Url, Error> {
    let alias = validate_alias(alias)?;
    match item_id {
        None => Ok(workspace_url(settings, &["watchlists", alias, "watchlistItems"])),
        Some(id) => Ok(workspace_url(settings, &["watchlists", alias, "watchlistItems", validate_id("item-id", id)?])),
    }
}

/// The PUT body of a new watchlist: its content as `rawContent`, `Local`.
pub fn create_body(alias: &str, watchlist: &NewWatchlist) -> Vec<u8> {
    let format = watchlist.format;
    let mut properties = serde_json::json!({
        "displayName": watchlist.display_name,
        "provider": watchlist.provider.as_deref().unwrap_or("Custom"),
        "source": watchlist.source.clone().unwrap_or_else(|| format!("{alias}.{}", format.extension())),
        "sourceType": "Local",
        "itemsSearchKey": watchlist.items_search_key.trim(),
        "rawContent": watchlist.content,
        "contentType": format.content_type(),
        "numberOfLinesToSkip": watchlist.lines_to_skip,
    });
    if let Some(description) = &watchlist.description {
        properties["description"] = Value::String(description.clone());
    }
    if !watchlist.labels.is_empty() {
        properties["labels"] = Value::from(watchlist.labels.clone());
    }
    if let Some(duration) = &watchlist.default_duration {
        properties["defaultDuration"] = Value::String(duration.clone());
    }
    serde_json::to_vec(&serde_json::json!({ "properties": properties })).unwrap_or_default()
}

/// The PUT body of an item.
pub fn item_body(values: &[(String, String)]) -> Vec<u8> {
    let map: Map<String, Value> = values.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    serde_json::to_vec(&serde_json::json!({"properties": {"itemsKeyValue": map}})).unwrap_or_default()
}

#[derive(Deserialize)]
struct WireResource {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    properties: Value,
}

fn strings<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::String(text) => Some(text),
                // Older versions' `{labelName}` shape.
                Value::Object(mut map) => match map.remove("labelName") {
                    Some(Value::String(text)) => Some(text),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

fn last_segment(id: Option<&str>) -> Option<String> {
    id.and_then(|id| id.rsplit('/').next()).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn watchlist_from(wire: WireResource) -> Result<Watchlist, Error> {
    if !wire.properties.is_object() {
        return Err(Error::invalid_response("a watchlist without properties"));
    }
    let properties: WatchlistProperties = serde_json::from_value(wire.properties.clone())
        .map_err(|e| Error::invalid_response(format!("a watchlist's properties: {e}")))?;
    let alias = wire
        .name
        .or_else(|| properties.watchlist_alias.clone())
        .or_else(|| last_segment(wire.id.as_deref()))
        .unwrap_or_default();
    Ok(Watchlist {
        alias,
        resource_id: wire.id.unwrap_or_default(),
        etag: wire.etag,
        properties,
        raw_properties: wire.properties,
    })
}

fn item_from(wire: WireResource) -> Result<WatchlistItem, Error> {
    let Some(values) = wire.properties.get("itemsKeyValue").and_then(Value::as_object) else {
        return Err(Error::invalid_response("a watchlist item without itemsKeyValue"));
    };
    let values =
        values.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect();
    let text = |name: &str| wire.properties.get(name).and_then(Value::as_str).map(str::to_owned);
    let id = wire
        .name
        .clone()
        .or_else(|| text("watchlistItemId"))
        .or_else(|| last_segment(wire.id.as_deref()))
        .unwrap_or_default();
    Ok(WatchlistItem {
        id,
        resource_id: wire.id.unwrap_or_default(),
        etag: wire.etag,
        values,
        created: text("created"),
        updated: text("updated"),
        raw_properties: wire.properties,
    })
}

pub fn parse_watchlist(body: &[u8]) -> Result<Watchlist, Error> {
    watchlist_from(parse(body, "watchlist")?)
}

pub fn parse_item(body: &[u8]) -> Result<WatchlistItem, Error> {
    item_from(parse(body, "watchlist item")?)
}

/// The value an item holds in the search key's column (its name compared
/// exactly, else without regard to case).
pub fn key_value<'a>(item: &'a WatchlistItem, search_key: &str) -> Option<&'a str> {
    item.values
        .iter()
        .find(|(k, _)| k == search_key)
        .or_else(|| item.values.iter().find(|(k, _)| k.eq_ignore_ascii_case(search_key)))
        .map(|(_, v)| v.as_str())
}

/// How values are compared: without regard to case (IPs, hashes, UPNs and
/// host names all compare so), trimmed.
pub fn normalized(value: &str) -> String {
    value.trim().to_lowercase()
}

/// The id of an item the connector creates: UUIDv5 of the alias and the
/// value, both lower-cased, so a retried add names the same item.
pub fn item_id(alias: &str, value: &str) -> String {
    uuid::Uuid::new_v5(&ITEM_NAMESPACE, format!("{}\n{}", alias.to_ascii_lowercase(), normalized(value)).as_bytes())
        .to_string()
}

/// `values` merged into `current`: a column given replaces its value, the rest stay.
pub fn merge_values(current: &[(String, String)], values: &[(String, String)]) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = current.to_vec();
    for (column, value) in values {
        match merged.iter_mut().find(|(k, _)| k == column) {
            Some(slot) => slot.1 = value.clone(),
            None => merged.push((column.clone(), value.clone())),
        }
    }
    merged
}

/// One query for every value: the watchlist's rows whose search key is
/// among them (without regard to case), with their item ids.
pub fn contains_query(alias: &str, values: &[String]) -> String {
    let literals: Vec<String> = values.iter().map(|v| crate::core::kql::string_literal(v.trim())).collect();
    format!("_GetWatchlist('{alias}') | where SearchKey in~ ({}) | project SearchKey, _DTItemId", literals.join(", "))
}

/// Each value, found or not, from what matched (normalized value -> item id).
pub fn memberships(values: &[String], matched: &HashMap<String, String>) -> Vec<Membership> {
    values
        .iter()
        .map(|value| {
            let item_id = matched.get(&normalized(value)).cloned();
            Membership { value: value.clone(), found: item_id.is_some(), item_id }
        })
        .collect()
}

/// The rows of the `contains_query` answer as normalized value -> item id.
pub fn matches_from_table(columns: &[String], rows: &[Vec<Cell>]) -> Result<HashMap<String, String>, Error> {
    let index = |name: &str| columns.iter().position(|c| c == name);
    let (Some(key), item) = (index("SearchKey"), index("_DTItemId")) else {
        return Err(Error::invalid_response("the _GetWatchlist answer has no SearchKey column"));
    };
    let text = |cell: Option<&Cell>| match cell {
        Some(Cell::Text(t) | Cell::Guid(t)) => Some(t.clone()),
        _ => None,
    };
    Ok(rows
        .iter()
        .filter_map(|row| {
            let value = text(row.get(key))?;
            let id = item.and_then(|i| text(row.get(i))).unwrap_or_default();
            Some((normalized(&value), id))
        })
        .collect())
}

// ---- long-running operations ------------------------------------------------

/// Where to poll an operation: its `Azure-AsyncOperation` header, which must
/// point at the ARM endpoint (the token goes with the poll). None: the
/// answer was final.
pub fn operation_url(response: &Response, arm: &Url) -> Result<Option<Url>, Error> {
    let Some(link) = response.header("azure-asyncoperation") else { return Ok(None) };
    check_link(link.trim(), arm)
        .map(Some)
        .map_err(|reason| Error::invalid_response(format!("the Azure-AsyncOperation link was not followed: {reason}")))
}

#[derive(Deserialize)]
struct WireOperation {
    #[serde(default)]
    status: String,
    #[serde(default)]
    error: Option<WireOperationError>,
}

#[derive(Deserialize)]
struct WireOperationError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// An operation status answer: `{"status": "InProgress" | "Succeeded" | "Failed" | "Canceled", "error": {...}}`.
pub fn parse_operation(body: &[u8]) -> Result<OperationStatus, Error> {
    let wire: WireOperation = parse(body, "operation status")?;
    let status = wire.status.trim();
    if status.eq_ignore_ascii_case("Succeeded") {
        return Ok(OperationStatus::Succeeded);
    }
    if status.eq_ignore_ascii_case("Failed") || status.eq_ignore_ascii_case("Canceled") {
        let (code, message) = wire.error.map(|e| (e.code, e.message)).unwrap_or_default();
        return Ok(OperationStatus::Failed { status: status.to_owned(), code, message });
    }
    if status.is_empty() {
        return Err(Error::invalid_response("an operation status without a status"));
    }
    // InProgress, Accepted, Running, Deleting, ...: not final.
    Ok(OperationStatus::InProgress)
}

/// A bound on the total wait of one operation, on the transport's monotonic clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub started_ms: u64,
    pub budget: Duration,
}

impl Deadline {
    pub fn new(started_ms: u64, budget: Duration) -> Self {
        Deadline { started_ms, budget }
    }

    /// What is left at `now_ms` (zero once spent; a clock that went back counts as none spent).
    pub fn remaining(&self, now_ms: u64) -> Duration {
        let spent = Duration::from_millis(now_ms.saturating_sub(self.started_ms));
        self.budget.saturating_sub(spent)
    }
}

/// How long to wait before the next poll: the service's `Retry-After`
/// (else [`DEFAULT_POLL`]) kept within [`MIN_POLL`] and [`MAX_POLL`], and
/// never past the deadline; None once the deadline is spent.
pub fn next_wait(retry_after: Option<Duration>, remaining: Duration) -> Option<Duration> {
    if remaining.is_zero() {
        return None;
    }
    Some(retry_after.unwrap_or(DEFAULT_POLL).clamp(MIN_POLL, MAX_POLL).min(remaining))
}

fn system_time(transport: &impl Transport) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(transport.now_unix_secs())
}

fn timed_out(what: &str, waited: Duration) -> Error {
    Error::Transport(LocalFailure {
        message: format!("the {what} operation had not finished after {} s", waited.as_secs()),
        hint: "It goes on at Azure: read the watchlist later (its provisioning state shows progress), or give a \
               longer max-wait-seconds."
            .into(),
        ..LocalFailure::default()
    })
}

fn operation_failed(what: &str, status: String, code: String, message: String) -> Error {
    let code = if code.is_empty() { format!("Operation{status}") } else { code };
    Error::Service(ServiceFailure {
        status: 200,
        message: format!("the {what} operation ended {status}: {message}"),
        hint: "Azure reported the operation's failure; check the content and the watchlist, then try again.".into(),
        code,
        ..ServiceFailure::default()
    })
}

// ---- actions ----------------------------------------------------------------

impl Sentinel<'_> {
    /// Every watchlist (without items), all pages.
    pub fn list_watchlists(&mut self, transport: &mut impl Transport) -> Result<Vec<Watchlist>, Error> {
        let url = watchlists_url(self.settings());
        let first: Page<WireResource> = parse(&self.arm(transport, Method::Get, url, None)?.body, "watchlists")?;
        let all = self.client.walk(transport, Api::Arm, first, None, "watchlists")?;
        all.into_iter().map(watchlist_from).collect()
    }

    pub fn get_watchlist(&mut self, transport: &mut impl Transport, alias: &str) -> Result<Watchlist, Error> {
        let url = watchlist_url(self.settings(), alias)?;
        parse_watchlist(&self.arm(transport, Method::Get, url, None)?.body)
    }

    /// PUT with the content; a 201 with `Azure-AsyncOperation` is polled
    /// until it ends (or `max_wait` passes), then the watchlist is read.
    /// A retried create PUTs the same content again (ARM's PUT replaces).
    pub fn create_watchlist(
        &mut self,
        transport: &mut impl Transport,
        alias: &str,
        watchlist: &NewWatchlist,
        max_wait_seconds: Option<u32>,
    ) -> Result<Watchlist, Error> {
        validate_new(watchlist)?;
        let max_wait = validate_max_wait(max_wait_seconds)?;
        let url = watchlist_url(self.settings(), alias)?;
        let response = self.arm(transport, Method::Put, url.clone(), Some(create_body(alias, watchlist)))?;
        if self.wait_for_operation(transport, &response, max_wait, "watchlist create")? {
            return parse_watchlist(&self.arm(transport, Method::Get, url, None)?.body);
        }
        parse_watchlist(&response.body)
    }

    /// DELETE; a 202 is polled until the operation ends (or `max_wait`
    /// passes). A watchlist already gone (204) is success.
    pub fn delete_watchlist(
        &mut self,
        transport: &mut impl Transport,
        alias: &str,
        max_wait_seconds: Option<u32>,
    ) -> Result<(), Error> {
        let max_wait = validate_max_wait(max_wait_seconds)?;
        let url = watchlist_url(self.settings(), alias)?;
        let response = self.arm(transport, Method::Delete, url, None)?;
        self.wait_for_operation(transport, &response, max_wait, "watchlist delete").map(|_| ())
    }

    /// Polls the answer's operation, if it has one, until it succeeds (true),
    /// fails (its error) or the deadline passes (a `transport` timeout).
    fn wait_for_operation(
        &mut self,
        transport: &mut impl Transport,
        response: &Response,
        max_wait: Duration,
        what: &str,
    ) -> Result<bool, Error> {
        let Some(url) = operation_url(response, &self.settings().endpoints.arm.base)? else { return Ok(false) };
        let deadline = Deadline::new(transport.monotonic_millis(), max_wait);
        let mut retry_after = retry::retry_after(response, system_time(transport));
        for _ in 0..MAX_POLLS {
            let Some(wait) = next_wait(retry_after, deadline.remaining(transport.monotonic_millis())) else { break };
            transport.sleep(wait);
            let answer = self.arm(transport, Method::Get, url.clone(), None)?;
            match parse_operation(&answer.body)? {
                OperationStatus::Succeeded => return Ok(true),
                OperationStatus::Failed { status, code, message } => {
                    return Err(self.client.scrub(operation_failed(what, status, code, message)))
                }
                OperationStatus::InProgress => retry_after = retry::retry_after(&answer, system_time(transport)),
            }
        }
        Err(timed_out(what, max_wait))
    }

    /// Every item, all pages.
    pub fn list_items(&mut self, transport: &mut impl Transport, alias: &str) -> Result<Vec<WatchlistItem>, Error> {
        let url = items_url(self.settings(), alias, None)?;
        let first: Page<WireResource> = parse(&self.arm(transport, Method::Get, url, None)?.body, "watchlist items")?;
        let all = self.client.walk(transport, Api::Arm, first, None, "watchlist items")?;
        all.into_iter().map(item_from).collect()
    }

    pub fn get_item(
        &mut self,
        transport: &mut impl Transport,
        alias: &str,
        item_id: &str,
    ) -> Result<WatchlistItem, Error> {
        let url = items_url(self.settings(), alias, Some(item_id))?;
        parse_item(&self.arm(transport, Method::Get, url, None)?.body)
    }

    pub fn delete_item(&mut self, transport: &mut impl Transport, alias: &str, item_id: &str) -> Result<(), Error> {
        let url = items_url(self.settings(), alias, Some(item_id))?;
        self.arm(transport, Method::Delete, url, None).map(|_| ())
    }

    /// Adds the item, or updates the one that holds the same search-key
    /// value: the connector's own item (its UUIDv5 id, one GET), else one
    /// from the CSV upload (found by listing). Columns not given keep their
    /// values. A retried call writes the same item again.
    pub fn upsert_item(
        &mut self,
        transport: &mut impl Transport,
        alias: &str,
        values: &[(String, String)],
    ) -> Result<Upserted, Error> {
        validate_alias(alias)?;
        validate_values(values)?;
        let search_key = self.get_watchlist(transport, alias)?.properties.items_search_key;
        let Some(value) = values
            .iter()
            .find(|(k, _)| *k == search_key)
            .or_else(|| values.iter().find(|(k, _)| k.eq_ignore_ascii_case(&search_key)))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
        else {
            return Err(Error::invalid(
                "values",
                format!("has no value for the watchlist's search key '{}'", shown(&search_key)),
            ));
        };
        let own_id = item_id(alias, &value);
        let existing = match self.get_item(transport, alias, &own_id) {
            Ok(item) => Some(item),
            Err(Error::NotFound(_)) => {
                let wanted = normalized(&value);
                self.list_items(transport, alias)?
                    .into_iter()
                    .find(|item| key_value(item, &search_key).is_some_and(|v| normalized(v) == wanted))
            }
            Err(error) => return Err(error),
        };
        let (id, merged, created) = match existing {
            Some(item) => (item.id.clone(), merge_values(&item.values, values), false),
            None => (own_id, values.to_vec(), true),
        };
        let url = items_url(self.settings(), alias, Some(&id))?;
        let item = parse_item(&self.arm(transport, Method::Put, url, Some(item_body(&merged)))?.body)?;
        Ok(Upserted { item, created })
    }

    /// Whether each value is in the watchlist (without regard to case).
    pub fn watchlist_contains(
        &mut self,
        transport: &mut impl Transport,
        alias: &str,
        values: &[String],
        lookup: Lookup,
    ) -> Result<Vec<Membership>, Error> {
        validate_alias(alias)?;
        validate_lookup_values("values", values)?;
        let by_query = match lookup {
            Lookup::Auto => self.settings().workspace_id.is_some(),
            Lookup::Query => true,
            Lookup::Items => false,
        };
        let matched = if by_query {
            let result = self.search_events(transport, &contains_query(alias, values), &QueryOptions::default())?;
            let Some(table) = result.tables.first() else { return Ok(memberships(values, &HashMap::new())) };
            let columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
            matches_from_table(&columns, &table.rows)?
        } else {
            let search_key = self.get_watchlist(transport, alias)?.properties.items_search_key;
            self.list_items(transport, alias)?
                .iter()
                .filter_map(|item| key_value(item, &search_key).map(|v| (normalized(v), item.id.clone())))
                .collect()
        };
        Ok(memberships(values, &matched))
    }

    /// Adds one item per identifier (an entity's), in the search key's
    /// column, unless an item already holds it: one read of the items,
    /// then one PUT per new value under its UUIDv5 id, so a retried bulk
    /// add writes only what is still missing.
    pub fn add_identifiers(
        &mut self,
        transport: &mut impl Transport,
        alias: &str,
        identifiers: &[String],
    ) -> Result<Vec<EntityAdded>, Error> {
        validate_alias(alias)?;
        validate_lookup_values("entities", identifiers)?;
        let search_key = self.get_watchlist(transport, alias)?.properties.items_search_key;
        let mut held: HashMap<String, String> = self
            .list_items(transport, alias)?
            .iter()
            .filter_map(|item| key_value(item, &search_key).map(|v| (normalized(v), item.id.clone())))
            .collect();
        let mut results = Vec::with_capacity(identifiers.len());
        for identifier in identifiers {
            let key = normalized(identifier);
            if let Some(id) = held.get(&key) {
                results.push(EntityAdded { identifier: identifier.clone(), item_id: id.clone(), added: false });
                continue;
            }
            let id = item_id(alias, identifier);
            let url = items_url(self.settings(), alias, Some(&id))?;
            let body = item_body(&[(search_key.clone(), identifier.trim().to_owned())]);
            self.arm(transport, Method::Put, url, Some(body))?;
            held.insert(key, id.clone());
            results.push(EntityAdded { identifier: identifier.clone(), item_id: id, added: true });
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::{client, token, Script};

    fn example(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/azure-specs/watchlists-2025-12-01/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn body(value: &Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    #[test]
    fn microsofts_examples_parse() {
        let list: Page<WireResource> =
            parse(&body(&example("GetWatchlists.json")["responses"]["200"]["body"]), "watchlists").unwrap();
        let watchlist = watchlist_from(list.value.into_iter().next().unwrap()).unwrap();
        assert_eq!(watchlist.alias, "highValueAsset");
        assert_eq!(watchlist.properties.items_search_key, "header1");
        assert_eq!(watchlist.properties.labels, ["Tag1", "Tag2"]);
        assert_eq!(watchlist.properties.source_type, Some(SourceType::Local));
        assert_eq!(watchlist.properties.default_duration.as_deref(), Some("P1279DT12H30M5S"));
        assert!(is_duration("P1279DT12H30M5S"));

        let created = parse_watchlist(&body(&example("CreateWatchlist.json")["responses"]["201"]["body"])).unwrap();
        assert_eq!(created.properties.display_name, "High Value Assets Watchlist");

        let item = parse_item(&body(&example("GetWatchlistItemById.json")["responses"]["200"]["body"])).unwrap();
        assert_eq!(item.id, "fd37d325-7090-47fe-851a-5b5a00c3f576");
        assert_eq!(key_value(&item, "Header-1"), Some("v1_1"));
        // The create example's answer has no name: the id comes from watchlistItemId.
        let created = parse_item(&body(&example("CreateWatchlistItem.json")["responses"]["201"]["body"])).unwrap();
        assert_eq!(created.id, "82ba292c-dc97-4dfc-969d-d4dd9e666842");
        assert_eq!(key_value(&created, "web tier"), Some("10.0.1.0/24"));

        let items: Page<WireResource> =
            parse(&body(&example("GetWatchlistItems.json")["responses"]["200"]["body"]), "items").unwrap();
        assert_eq!(items.value.len(), 1);
    }

    #[test]
    fn the_create_body_has_the_shape_of_microsofts_example() {
        let example = example("CreateWatchlistAndWatchlistItems.json")["parameters"]["watchlist"]["properties"].clone();
        let new = NewWatchlist {
            display_name: "High Value Assets Watchlist".into(),
            items_search_key: "header1".into(),
            description: Some("Watchlist from CSV content".into()),
            provider: Some("Microsoft".into()),
            source: Some("watchlist.csv".into()),
            content: example["rawContent"].as_str().unwrap().into(),
            lines_to_skip: 1,
            ..NewWatchlist::default()
        };
        validate_new(&new).unwrap();
        let sent: Value = serde_json::from_slice(&create_body("highValueAsset", &new)).unwrap();
        assert_eq!(sent["properties"], example, "every property as Microsoft's example sends it");
    }

    #[test]
    fn limits_are_checked_before_sending() {
        let new = NewWatchlist {
            display_name: "d".into(),
            items_search_key: "ip".into(),
            content: "ip,name\n10.0.0.1,a\n".into(),
            ..NewWatchlist::default()
        };
        validate_new(&new).unwrap();
        let field = |result: Result<(), Error>| match result {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(validate_new(&NewWatchlist { items_search_key: "host".into(), ..new.clone() })),
            "items-search-key"
        );
        let big = format!("ip\n{}", "10.0.0.1\n".repeat(MAX_CONTENT_BYTES / 9 + 1));
        assert_eq!(field(validate_new(&NewWatchlist { content: big, ..new.clone() })), "content");
        assert_eq!(field(validate_new(&NewWatchlist { lines_to_skip: 5, ..new.clone() })), "content");
        assert_eq!(
            field(validate_new(&NewWatchlist { default_duration: Some("30 days".into()), ..new.clone() })),
            "default-duration"
        );
        assert_eq!(field(validate_new(&NewWatchlist { display_name: " ".into(), ..new.clone() })), "display-name");
        for alias in ["", "-a", "a b", "a/b", "x'y", "ü", &"a".repeat(65)] {
            assert!(validate_alias(alias).is_err(), "{alias}");
        }
        for alias in ["highValueAsset", "1011-01", "a_b", &"a".repeat(64)] {
            assert!(validate_alias(alias).is_ok(), "{alias}");
        }
        assert!(validate_lookup_values("values", &[]).is_err());
        assert!(validate_lookup_values("values", &vec!["x".to_owned(); MAX_VALUES + 1]).is_err());
        assert!(validate_lookup_values("values", &["a\nb".to_owned()]).is_err());
        assert!(validate_values(&[]).is_err());
        assert!(validate_max_wait(Some(0)).is_err() && validate_max_wait(Some(601)).is_err());
        assert_eq!(validate_max_wait(None).unwrap(), DEFAULT_MAX_WAIT);
    }

    #[test]
    fn the_permission_manifest_names_the_query_and_the_reads() {
        use crate::core::check::allowed_actions;
        let data_read = vec!["Data.Read".to_owned()];
        assert!(allowed_actions(Api::LogAnalytics, &data_read, None).contains(&"watchlists.watchlist-contains".into()));
        assert!(allowed_actions(Api::Arm, &[], Some(true)).contains(&"watchlists.list-items".into()));
    }

    #[test]
    fn csv_rows_split_with_quotes() {
        assert_eq!(split_row(r#"a,"b,c","d""e""#, ','), ["a", "b,c", "d\"e"]);
        assert_eq!(split_row("a\tb\r", '\t'), ["a", "b"]);
        assert_eq!(split_row("", ','), [""]);
        assert!(!is_duration("P") && !is_duration("PT") && !is_duration("P1H") && is_duration("PT1.5S"));
        assert!(is_duration("P30D") && is_duration("P1Y2M") && !is_duration("P1DT") && !is_duration("PD"));
    }

    #[test]
    fn item_ids_are_deterministic_and_values_compare_without_case() {
        assert_eq!(item_id("HighValue", "10.0.0.1"), item_id("highvalue", " 10.0.0.1 "));
        assert_eq!(item_id("a", "Alice@Contoso.com"), item_id("a", "alice@contoso.com"));
        assert_ne!(item_id("a", "x"), item_id("b", "x"));
        assert!(uuid::Uuid::parse_str(&item_id("a", "x")).is_ok());
        let merged =
            merge_values(&[("ip".into(), "1".into()), ("n".into(), "old".into())], &[("n".into(), "new".into())]);
        assert_eq!(merged, [("ip".to_owned(), "1".to_owned()), ("n".to_owned(), "new".to_owned())]);
    }

    #[test]
    fn the_contains_query_quotes_every_value() {
        let query = contains_query("vip", &["a'b".into(), r"c\d".into(), " e ".into()]);
        assert_eq!(
            query,
            r"_GetWatchlist('vip') | where SearchKey in~ ('a\'b', 'c\\d', 'e') | project SearchKey, _DTItemId"
        );
        let columns = vec!["SearchKey".to_owned(), "_DTItemId".to_owned()];
        let rows = vec![vec![Cell::Text("A'B".into()), Cell::Text("id-1".into())]];
        let matched = matches_from_table(&columns, &rows).unwrap();
        let found = memberships(&["a'b".into(), "zzz".into()], &matched);
        assert_eq!(found[0], Membership { value: "a'b".into(), found: true, item_id: Some("id-1".into()) });
        assert!(!found[1].found);
        assert!(matches_from_table(&["x".into()], &rows).is_err());
    }

    #[test]
    fn operations_are_polled_as_retry_after_says_within_the_deadline() {
        let arm = Url::parse("http://127.0.0.1:7000/").unwrap();
        let answer = |link: &str| Response {
            status: 201,
            headers: vec![("Azure-AsyncOperation".into(), link.into())],
            body: Vec::new(),
        };
        let op = "http://127.0.0.1:7000/subscriptions/s/watchlists/a/watchlistStatuses/1?api-version=2025-12-01";
        assert_eq!(operation_url(&answer(op), &arm).unwrap().unwrap().as_str(), op);
        assert!(operation_url(&answer("https://evil.example/op"), &arm).is_err(), "only to the ARM origin");
        assert!(operation_url(&Response::default(), &arm).unwrap().is_none());

        assert_eq!(parse_operation(br#"{"status":"InProgress"}"#).unwrap(), OperationStatus::InProgress);
        assert_eq!(parse_operation(br#"{"status":"succeeded"}"#).unwrap(), OperationStatus::Succeeded);
        assert!(matches!(
            parse_operation(br#"{"status":"Failed","error":{"code":"BadCsv","message":"m"}}"#).unwrap(),
            OperationStatus::Failed { code, .. } if code == "BadCsv"
        ));
        assert!(parse_operation(b"{}").is_err() && parse_operation(b"<html>").is_err());

        let minute = Duration::from_secs(60);
        assert_eq!(next_wait(Some(Duration::from_secs(3)), minute), Some(Duration::from_secs(3)));
        assert_eq!(next_wait(None, minute), Some(DEFAULT_POLL));
        assert_eq!(next_wait(Some(Duration::ZERO), minute), Some(MIN_POLL), "a zero never spins");
        assert_eq!(next_wait(Some(Duration::from_secs(86_400)), Duration::from_secs(600)), Some(MAX_POLL));
        assert_eq!(next_wait(Some(Duration::from_secs(30)), Duration::from_secs(2)), Some(Duration::from_secs(2)));
        assert_eq!(next_wait(Some(Duration::from_secs(1)), Duration::ZERO), None);

        let deadline = Deadline::new(u64::MAX - 5, Duration::from_secs(10));
        assert_eq!(deadline.remaining(u64::MAX), Duration::from_millis(9_995), "no overflow");
        assert_eq!(deadline.remaining(0), Duration::from_secs(10), "a clock that went back");
        assert_eq!(Deadline::new(0, Duration::from_secs(1)).remaining(5_000), Duration::ZERO);
    }

    const OP: &str = "http://127.0.0.1:7000/subscriptions/x/op/1?api-version=2025-12-01";

    fn watchlist_body() -> String {
        example("GetWatchlistByAlias.json")["responses"]["200"]["body"].to_string()
    }

    #[test]
    fn create_waits_for_the_operation_then_reads_the_watchlist() {
        let mut script = Script::new(vec![token()])
            .then(201, &[("Azure-AsyncOperation", OP), ("Retry-After", "2")], &watchlist_body())
            .then(200, &[("Retry-After", "3")], r#"{"status":"InProgress"}"#)
            .then(200, &[], r#"{"status":"Succeeded"}"#)
            .then(200, &[], &watchlist_body());
        let new = NewWatchlist {
            display_name: "d".into(),
            items_search_key: "header1".into(),
            content: "header1\nv".into(),
            ..NewWatchlist::default()
        };
        let started = script.now;
        let created = client().sentinel().create_watchlist(&mut script, "highValueAsset", &new, None).unwrap();
        assert_eq!(created.alias, "highValueAsset");
        assert_eq!(script.sent.len(), 5);
        assert_eq!(script.sent[2].url.as_str(), OP);
        assert_eq!(script.now - started, 2 + 3, "each wait as Retry-After said");
    }

    #[test]
    fn an_operation_that_outlives_the_deadline_or_fails_is_an_error() {
        let mut script =
            Script::new(vec![token()]).then(202, &[("Azure-AsyncOperation", OP), ("Retry-After", "4")], "");
        for _ in 0..5 {
            script = script.then(200, &[("Retry-After", "4")], r#"{"status":"InProgress"}"#);
        }
        let error = client().sentinel().delete_watchlist(&mut script, "a", Some(10)).unwrap_err();
        assert!(matches!(error, Error::Transport(_)), "{error:?}");
        assert_eq!(script.sent.len(), 2 + 3, "polls at 4, 8 and 10 s, then the deadline");

        let mut script = Script::new(vec![token()])
            .then(202, &[("Azure-AsyncOperation", OP), ("Retry-After", "1")], "")
            .then(200, &[], r#"{"status":"Failed","error":{"code":"WatchlistInUse","message":"upload in progress"}}"#);
        let error = client().sentinel().delete_watchlist(&mut script, "a", None).unwrap_err();
        assert!(matches!(&error, Error::Service(f) if f.code == "WatchlistInUse"), "{error:?}");

        let mut script = Script::new(vec![token()]).then(204, &[], "");
        client().sentinel().delete_watchlist(&mut script, "a", None).unwrap();
    }

    #[test]
    fn an_upsert_updates_the_item_that_holds_the_value_or_adds_one_under_its_own_id() {
        let item = |id: &str, ip: &str| {
            format!(r#"{{"name":"{id}","properties":{{"itemsKeyValue":{{"header1":"{ip}","note":"from csv"}}}}}}"#)
        };
        let not_found = r#"{"error":{"code":"NotFound","message":"no"}}"#;
        // The CSV's item holds the value: found by listing, updated in place.
        let mut script = Script::new(vec![token(), (200, watchlist_body()), (404, not_found.into())])
            .then(200, &[], &format!(r#"{{"value":[{}]}}"#, item("csv-1", "10.0.0.1")))
            .then(200, &[], &item("csv-1", "10.0.0.1"));
        let values = [("header1".to_owned(), "10.0.0.1".to_owned()), ("owner".to_owned(), "bob".to_owned())];
        let done = client().sentinel().upsert_item(&mut script, "highValueAsset", &values).unwrap();
        assert!(!done.created);
        let put = script.sent.last().unwrap();
        assert!(put.url.path().ends_with("/watchlistItems/csv-1"));
        let sent: Value = serde_json::from_slice(&put.body).unwrap();
        assert_eq!(sent["properties"]["itemsKeyValue"]["note"], "from csv", "other columns kept");
        assert_eq!(sent["properties"]["itemsKeyValue"]["owner"], "bob");

        // Nobody holds it: PUT under the UUIDv5.
        let own = item_id("highValueAsset", "10.0.0.9");
        let mut script = Script::new(vec![token(), (200, watchlist_body()), (404, not_found.into())])
            .then(200, &[], r#"{"value":[]}"#)
            .then(201, &[], &item(&own, "10.0.0.9"));
        let values = [("header1".to_owned(), "10.0.0.9".to_owned())];
        let done = client().sentinel().upsert_item(&mut script, "highValueAsset", &values).unwrap();
        assert!(done.created);
        assert!(script.sent.last().unwrap().url.path().ends_with(&format!("/watchlistItems/{own}")));

        // Without the search key's column: refused after reading the key.
        let mut script = Script::new(vec![token(), (200, watchlist_body())]);
        let error = client().sentinel().upsert_item(&mut script, "highValueAsset", &[("x".into(), "y".into())]);
        assert!(matches!(error, Err(Error::InvalidInput { ref field, .. }) if field == "values"));
    }
}
