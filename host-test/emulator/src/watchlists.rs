//! Sentinel watchlists (Watchlists.json, 2025-12-01), shaped on Microsoft's
//! examples: watchlists created from CSV/TSV `rawContent` (201 with an
//! `Azure-AsyncOperation` status URL that answers `InProgress`, with
//! `Retry-After`, before `Succeeded`), deleted the same way (202 with
//! `Azure-AsyncOperation` and `Location`, or 204 when already gone), their
//! items (pageable with `$skipToken`, GUID ids, PUT 200/201, DELETE 200/204),
//! errors as ARM's v5 `ErrorResponse`, and the KQL function
//! `_GetWatchlist('alias')` over the same items for the query API.

use std::collections::{BTreeMap, HashMap};

use axum::http::Method;
use serde_json::{json, Map, Value};

use crate::config::TenantIdentity;
use crate::data::new_etag;
use crate::reply::Reply;
use crate::request::{self, percent_decode, Call};
use crate::state::{Shared, State};
use crate::tables::Columns;
use crate::Emulator;

/// Microsoft's rawContent limit (3.8 MB).
const MAX_RAW_CONTENT: usize = 3_800_000;

/// The watchlists of the workspace and their operations.
pub(crate) struct Watchlists {
    /// By lower-cased alias.
    lists: BTreeMap<String, Stored>,
    operations: HashMap<String, Operation>,
    /// How many polls of a new operation answer `InProgress` before `Succeeded`.
    in_progress_polls: u32,
    /// The `Retry-After` (seconds) of the PUT/DELETE answer and of each `InProgress` poll.
    retry_after_secs: u32,
}

impl Default for Watchlists {
    fn default() -> Self {
        Watchlists { lists: BTreeMap::new(), operations: HashMap::new(), in_progress_polls: 1, retry_after_secs: 1 }
    }
}

struct Stored {
    watchlist: Value,
    /// In insertion order (CSV rows first, as uploaded).
    items: Vec<Value>,
}

struct Operation {
    alias: String,
    polls_left: u32,
    deleting: bool,
}

impl Emulator {
    /// Every watchlist as stored (its JSON resource), by alias.
    pub fn watchlists(&self) -> Vec<Value> {
        self.shared.state().watchlists.lists.values().map(|s| s.watchlist.clone()).collect()
    }

    /// A watchlist's items as stored, in order; empty when it does not exist.
    pub fn watchlist_items(&self, alias: &str) -> Vec<Value> {
        let state = self.shared.state();
        state.watchlists.lists.get(&alias.to_ascii_lowercase()).map(|s| s.items.clone()).unwrap_or_default()
    }

    /// How watchlist operations answer from now on: `in_progress_polls`
    /// polls say `InProgress` (each with `Retry-After: retry_after_secs`)
    /// before one says `Succeeded`.
    pub fn set_watchlist_operations(&self, in_progress_polls: u32, retry_after_secs: u32) {
        let mut state = self.shared.state();
        state.watchlists.in_progress_polls = in_progress_polls;
        state.watchlists.retry_after_secs = retry_after_secs;
    }
}

/// ARM v5 `ErrorResponse`: `error.code`, `error.message`, `target`, `details`, `additionalInfo`.
fn error_response(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": code, "message": message, "target": null, "details": [], "additionalInfo": []}}),
    )
    .header("x-ms-request-id", uuid::Uuid::new_v4().to_string())
}

fn not_found(identity: &TenantIdentity, alias: &str) -> Reply {
    error_response(
        404,
        "NotFound",
        &format!("Watchlist '{alias}' was not found in workspace '{}'.", identity.workspace_name),
    )
}

fn bad_request(message: &str) -> Reply {
    error_response(400, "BadRequest", message)
}

fn workspace_path(identity: &TenantIdentity) -> String {
    identity.workspace().prefix()
}

/// Routes what follows `.../providers/Microsoft.SecurityInsights/watchlists`.
pub fn handle(shared: &Shared, call: &Call, rest: &[&str]) -> Reply {
    let query = call.query();
    let api_version = request::param(&query, "api-version").unwrap_or_default().to_owned();
    let skip = request::param(&query, "$skipToken").map(str::to_owned);
    let page_size = shared.options.default_page_size.max(1);
    let link = |offset: usize| {
        format!("http://{}{}?api-version={api_version}&$skipToken={offset}", call.host, call.uri.path())
    };
    let method = call.method;
    let identity = &shared.options.identity;
    let decoded: Vec<String> = rest.iter().map(|s| percent_decode(s)).collect();
    let mut state = shared.state();
    match decoded.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] if *method == Method::GET => {
            let all: Vec<Value> = state.watchlists.lists.values().map(|s| s.watchlist.clone()).collect();
            page(&all, skip.as_deref(), page_size, link)
        }
        [alias] if *method == Method::GET => match state.watchlists.lists.get(&alias.to_ascii_lowercase()) {
            Some(stored) => Reply::json(200, stored.watchlist.clone()),
            None => not_found(identity, alias),
        },
        [alias] if *method == Method::PUT => put_watchlist(&mut state, identity, call, alias, &api_version),
        [alias] if *method == Method::DELETE => delete_watchlist(&mut state, identity, call, alias, &api_version),
        [alias, items] if items.eq_ignore_ascii_case("watchlistItems") && *method == Method::GET => {
            match state.watchlists.lists.get(&alias.to_ascii_lowercase()) {
                Some(stored) => page(&stored.items, skip.as_deref(), page_size, link),
                None => not_found(identity, alias),
            }
        }
        [alias, items, id] if items.eq_ignore_ascii_case("watchlistItems") => {
            let author = author(&state, call);
            let Some(stored) = state.watchlists.lists.get_mut(&alias.to_ascii_lowercase()) else {
                return not_found(identity, alias);
            };
            let position =
                stored.items.iter().position(|i| i["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(id)));
            match (method.clone(), position) {
                (Method::GET, Some(at)) => Reply::json(200, stored.items[at].clone()),
                (Method::GET, None) => {
                    error_response(404, "NotFound", &format!("Watchlist item '{id}' was not found."))
                }
                (Method::PUT, _) => put_item(identity, stored, alias, id, position, call.body, author),
                (Method::DELETE, Some(at)) => {
                    stored.items.remove(at);
                    Reply::empty(200)
                }
                (Method::DELETE, None) => Reply::empty(204),
                _ => error_response(405, "MethodNotAllowed", "The method is not allowed here."),
            }
        }
        [_, statuses, id] if statuses.eq_ignore_ascii_case("watchlistStatuses") && *method == Method::GET => {
            operation_status(&mut state, id)
        }
        _ => error_response(404, "NotFound", "No HTTP resource was found that matches the request URI."),
    }
}

/// One page of `all` from the offset a `$skipToken` names, with a nextLink when more remain.
fn page(all: &[Value], skip: Option<&str>, size: usize, link: impl Fn(usize) -> String) -> Reply {
    let offset = match skip.map(str::parse::<usize>) {
        None => 0,
        Some(Ok(offset)) => offset,
        Some(Err(_)) => return bad_request("The $skipToken is not valid."),
    };
    let value: Vec<Value> = all.iter().skip(offset).take(size).cloned().collect();
    let mut body = json!({ "value": value });
    if offset.saturating_add(size) < all.len() {
        body["nextLink"] = Value::String(link(offset + size));
    }
    Reply::json(200, body)
}

fn author(state: &State, call: &Call) -> Value {
    let app = call
        .authorization()
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| state.tokens.get(token.trim()))
        .map(|issued| issued.client_id.clone())
        .unwrap_or_default();
    json!({"objectId": app, "email": null, "name": "SOAR connector"})
}

fn string_property<'a>(properties: &'a Value, name: &str) -> Option<&'a str> {
    properties.get(name).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

fn put_watchlist(state: &mut State, identity: &TenantIdentity, call: &Call, alias: &str, api_version: &str) -> Reply {
    let Ok(body) = serde_json::from_slice::<Value>(call.body) else {
        return bad_request("The request body is not JSON.");
    };
    let properties = &body["properties"];
    if !properties.is_object() {
        return bad_request("The watchlist has no properties.");
    }
    for required in ["displayName", "provider", "itemsSearchKey"] {
        if string_property(properties, required).is_none() {
            return bad_request(&format!("The property '{required}' is required."));
        }
    }
    let search_key = string_property(properties, "itemsSearchKey").unwrap_or_default().to_owned();
    let rows = match properties.get("rawContent").and_then(Value::as_str) {
        None => Vec::new(),
        Some(raw) => match parse_content(raw, properties, &search_key) {
            Ok(rows) => rows,
            Err(reply) => return reply,
        },
    };
    let now = state.clock.text();
    let author = author(state, call);
    let key = alias.to_ascii_lowercase();
    let existed = state.watchlists.lists.contains_key(&key);
    let in_progress = state.watchlists.in_progress_polls > 0;
    let mut stored_properties = properties.clone();
    if let Some(map) = stored_properties.as_object_mut() {
        map.remove("rawContent");
        let previous = state.watchlists.lists.get(&key).map(|s| s.watchlist["properties"].clone());
        let created = previous.as_ref().and_then(|p| p.get("created").cloned()).unwrap_or_else(|| json!(now));
        let id = previous
            .as_ref()
            .and_then(|p| p.get("watchlistId").cloned())
            .unwrap_or_else(|| json!(uuid::Uuid::new_v4().to_string()));
        for (name, value) in [
            ("watchlistId", id),
            ("watchlistAlias", json!(alias)),
            ("watchlistType", json!("watchlist")),
            ("created", created),
            ("updated", json!(now)),
            ("createdBy", author.clone()),
            ("updatedBy", author.clone()),
            ("isDeleted", json!(false)),
            ("tenantId", json!(identity.tenant_id)),
            ("uploadStatus", json!(if in_progress && !existed { "InProgress" } else { "Complete" })),
            ("provisioningState", json!(if in_progress && !existed { "InProgress" } else { "Succeeded" })),
        ] {
            map.insert(name.to_owned(), value);
        }
    }
    let watchlist = json!({
        "id": format!("{}/watchlists/{alias}", workspace_path(identity)),
        "name": alias,
        "etag": format!("\"{}\"", new_etag()),
        "type": "Microsoft.SecurityInsights/Watchlists",
        "properties": stored_properties,
    });
    let stored =
        state.watchlists.lists.entry(key).or_insert_with(|| Stored { watchlist: Value::Null, items: Vec::new() });
    stored.watchlist = watchlist.clone();
    // Rows whose search-key value an item already holds update it: uploading the same content twice is one set of items.
    for row in rows {
        let value = row.get(&search_key).and_then(Value::as_str).unwrap_or_default().to_lowercase();
        let position = stored.items.iter().position(|item| {
            item["properties"]["itemsKeyValue"][&search_key].as_str().is_some_and(|v| v.to_lowercase() == value)
        });
        match position {
            Some(at) => {
                stored.items[at]["properties"]["itemsKeyValue"] = Value::Object(row);
                stored.items[at]["properties"]["updated"] = json!(now);
            }
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                stored.items.push(item_json(identity, alias, &id, Value::Object(row), &now, &now, &author));
            }
        }
    }
    if existed || !in_progress {
        return Reply::json(200, watchlist);
    }
    let operation = new_operation(state, alias, false);
    let retry_after = state.watchlists.retry_after_secs;
    Reply::json(201, watchlist)
        .header("Azure-AsyncOperation", status_url(call, identity, alias, &operation, api_version))
        .header("Retry-After", retry_after.to_string())
}

fn new_operation(state: &mut State, alias: &str, deleting: bool) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let polls_left = state.watchlists.in_progress_polls;
    state.watchlists.operations.insert(id.clone(), Operation { alias: alias.to_owned(), polls_left, deleting });
    id
}

/// Where an operation is polled, as Microsoft's example spells it (`.../watchlists/{alias}/watchlistStatuses/{id}`).
fn status_url(call: &Call, identity: &TenantIdentity, alias: &str, operation: &str, api_version: &str) -> String {
    format!(
        "http://{}{}/watchlists/{alias}/watchlistStatuses/{operation}?api-version={api_version}",
        call.host,
        workspace_path(identity)
    )
}

/// The rows of a CSV/TSV upload as `itemsKeyValue` maps; the header must name the search key.
fn parse_content(raw: &str, properties: &Value, search_key: &str) -> Result<Vec<Map<String, Value>>, Reply> {
    if raw.len() > MAX_RAW_CONTENT {
        return Err(bad_request("The raw content is larger than 3.8 MB; upload it through Azure Storage."));
    }
    let separator = match properties.get("contentType").and_then(Value::as_str).unwrap_or("text/csv") {
        t if t.eq_ignore_ascii_case("text/csv") => ',',
        t if t.eq_ignore_ascii_case("text/tsv") => '\t',
        other => {
            return Err(bad_request(&format!("The content type '{other}' is not supported: text/csv or text/tsv.")))
        }
    };
    let skip = properties.get("numberOfLinesToSkip").and_then(Value::as_u64).unwrap_or(0);
    let mut lines = raw.lines().skip(usize::try_from(skip).unwrap_or(usize::MAX));
    let Some(header) = lines.next() else { return Err(bad_request("The raw content has no header line.")) };
    let columns: Vec<String> = split(header, separator).into_iter().map(|c| c.trim().to_owned()).collect();
    if !columns.iter().any(|c| c == search_key) {
        return Err(bad_request(&format!("The search key '{search_key}' is not a column of the raw content.")));
    }
    Ok(lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let cells = split(line, separator);
            columns
                .iter()
                .cloned()
                .zip(cells.into_iter().map(Value::String).chain(std::iter::repeat(json!(""))))
                .collect()
        })
        .collect())
}

/// One CSV line's fields: quotes may hold the separator and doubled quotes.
fn split(line: &str, separator: char) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        let field = fields.last_mut().expect("one field at least");
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' if quoted => quoted = false,
            '"' if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            c if c == separator && !quoted => fields.push(String::new()),
            c => field.push(c),
        }
    }
    fields
}

fn item_json(
    identity: &TenantIdentity,
    alias: &str,
    id: &str,
    values: Value,
    created: &str,
    updated: &str,
    author: &Value,
) -> Value {
    json!({
        "id": format!("{}/Watchlists/{alias}/WatchlistItems/{id}", workspace_path(identity)),
        "name": id,
        "etag": format!("\"{}\"", new_etag()),
        "type": "Microsoft.SecurityInsights/Watchlists/WatchlistItems",
        "properties": {
            "watchlistItemType": "watchlist-item",
            "watchlistItemId": id,
            "tenantId": identity.tenant_id,
            "isDeleted": false,
            "created": created,
            "updated": updated,
            "createdBy": author,
            "updatedBy": author,
            "itemsKeyValue": values,
            "entityMapping": {},
        },
    })
}

fn put_item(
    identity: &TenantIdentity,
    stored: &mut Stored,
    alias: &str,
    id: &str,
    existing: Option<usize>,
    body: &[u8],
    author: Value,
) -> Reply {
    if uuid::Uuid::parse_str(id).is_err() {
        return bad_request(&format!("The watchlist item id '{id}' is not a GUID."));
    }
    let Ok(body) = serde_json::from_slice::<Value>(body) else { return bad_request("The request body is not JSON.") };
    let Some(values) = body["properties"]["itemsKeyValue"].as_object().filter(|m| !m.is_empty()) else {
        return bad_request("The property 'itemsKeyValue' is required.");
    };
    let now = jiff::Timestamp::now().to_string();
    match existing {
        Some(at) => {
            let item = &mut stored.items[at];
            item["properties"]["itemsKeyValue"] = Value::Object(values.clone());
            item["properties"]["updated"] = json!(now);
            item["properties"]["updatedBy"] = author;
            item["etag"] = json!(format!("\"{}\"", new_etag()));
            Reply::json(200, item.clone())
        }
        None => {
            let item = item_json(
                identity,
                alias,
                &id.to_ascii_lowercase(),
                Value::Object(values.clone()),
                &now,
                &now,
                &author,
            );
            stored.items.push(item.clone());
            Reply::json(201, item)
        }
    }
}

fn delete_watchlist(
    state: &mut State,
    identity: &TenantIdentity,
    call: &Call,
    alias: &str,
    api_version: &str,
) -> Reply {
    if state.watchlists.lists.remove(&alias.to_ascii_lowercase()).is_none() {
        return Reply::empty(204);
    }
    if state.watchlists.in_progress_polls == 0 {
        // Done at once: the spec's other answer (202 or 204).
        return Reply::empty(204);
    }
    let operation = new_operation(state, alias, true);
    let url = status_url(call, identity, alias, &operation, api_version);
    Reply::empty(202)
        .header("Azure-AsyncOperation", url.clone())
        .header("Location", url)
        .header("Retry-After", state.watchlists.retry_after_secs.to_string())
}

fn operation_status(state: &mut State, id: &str) -> Reply {
    let retry_after = state.watchlists.retry_after_secs;
    let Some(operation) = state.watchlists.operations.get_mut(id) else {
        return error_response(404, "NotFound", &format!("The operation '{id}' was not found."));
    };
    let name = json!(id);
    if operation.polls_left > 0 {
        operation.polls_left -= 1;
        return Reply::json(200, json!({"id": id, "name": name, "status": "InProgress"}))
            .header("Retry-After", retry_after.to_string());
    }
    let (alias, deleting) = (operation.alias.clone(), operation.deleting);
    if !deleting {
        if let Some(stored) = state.watchlists.lists.get_mut(&alias.to_ascii_lowercase()) {
            stored.watchlist["properties"]["provisioningState"] = json!("Succeeded");
            stored.watchlist["properties"]["uploadStatus"] = json!("Complete");
        }
    }
    Reply::json(200, json!({"id": id, "name": name, "status": "Succeeded"}))
}

/// `_GetWatchlist('alias')` and its stages (`where SearchKey in~ (...)`,
/// `where Column == 'v'`, `project A, B`, `take N`) for the query API.
pub fn query(state: &State, source: &str, stages: &[&str]) -> Result<Option<Value>, Reply> {
    let syntax = |message: &str| {
        Reply::json(
            400,
            json!({"error": {"code": "BadArgumentError", "message": "The request had some invalid properties",
                "innererror": {"code": "SyntaxError", "message": message}}}),
        )
    };
    let alias = source
        .strip_prefix("_GetWatchlist(")
        .and_then(|rest| rest.strip_suffix(')'))
        .map(|quoted| quoted.trim().trim_matches('\'').trim_matches('"'))
        .ok_or_else(|| syntax("expected _GetWatchlist('alias')"))?;
    let mut columns: Columns = vec![
        ("_DTItemId", "string"),
        ("LastUpdatedTimeUTC", "datetime"),
        ("SearchKey", "string"),
        ("WatchlistItem", "dynamic"),
    ];
    let stored = state.watchlists.lists.get(&alias.to_ascii_lowercase());
    let search_key =
        stored.and_then(|s| s.watchlist["properties"]["itemsSearchKey"].as_str()).unwrap_or_default().to_owned();
    let mut rows: Vec<Vec<Value>> = stored
        .map(|s| {
            s.items
                .iter()
                .map(|item| {
                    let values = &item["properties"]["itemsKeyValue"];
                    vec![
                        item["name"].clone(),
                        item["properties"]["updated"].clone(),
                        values.get(&search_key).cloned().unwrap_or(Value::Null),
                        json!(values.to_string()),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    for stage in stages {
        let index = |columns: &Columns, name: &str| columns.iter().position(|(n, _)| *n == name);
        if let Some(condition) = stage.strip_prefix("where ") {
            let (column, operator, list) = if let Some((c, l)) = condition.split_once(" in~ ") {
                (c.trim(), "in~", l)
            } else if let Some((c, l)) = condition.split_once(" in ") {
                (c.trim(), "in", l)
            } else if let Some((c, l)) = condition.split_once("==") {
                (c.trim(), "==", l)
            } else {
                return Err(syntax("only 'where Column in~ (...)', 'in (...)' and '==' are supported here"));
            };
            let at = index(&columns, column).ok_or_else(|| syntax(&format!("'{column}' is not a column")))?;
            let wanted = literals(list).ok_or_else(|| syntax("expected string literals"))?;
            rows.retain(|row| {
                row[at].as_str().is_some_and(|cell| {
                    wanted.iter().any(|w| {
                        if operator == "in" {
                            w == cell
                        } else {
                            w.to_lowercase() == cell.to_lowercase()
                        }
                    })
                })
            });
        } else if let Some(list) = stage.strip_prefix("project ") {
            let picked: Vec<usize> = list
                .split(',')
                .map(|name| {
                    index(&columns, name.trim()).ok_or_else(|| syntax(&format!("'{}' is not a column", name.trim())))
                })
                .collect::<Result<_, _>>()?;
            columns = picked.iter().map(|&i| columns[i]).collect();
            rows = rows.into_iter().map(|row| picked.iter().map(|&i| row[i].clone()).collect()).collect();
        } else if let Some(count) = stage.strip_prefix("take ") {
            let n: usize = count.trim().parse().map_err(|_| syntax("not a row count"))?;
            rows.truncate(n);
        } else {
            return Err(syntax(&format!("the operator in '{stage}' is not supported by the emulator")));
        }
    }
    let columns: Vec<Value> = columns.iter().map(|(name, kind)| json!({"name": name, "type": kind})).collect();
    Ok(Some(json!({"name": "PrimaryResult", "columns": columns, "rows": rows})))
}

/// `('a', 'b\'c')` or `'a'`: KQL string literals with backslash escapes.
fn literals(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    let inner = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')).unwrap_or(text);
    let mut values = Vec::new();
    let mut chars = inner.chars();
    loop {
        match chars.by_ref().find(|c| !c.is_whitespace() && *c != ',') {
            None => return Some(values),
            Some(quote @ ('\'' | '"')) => {
                let mut value = String::new();
                loop {
                    match chars.next()? {
                        '\\' => value.push(chars.next()?),
                        c if c == quote => break,
                        c => value.push(c),
                    }
                }
                values.push(value);
            }
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_literals_parse() {
        assert_eq!(split(r#"a,"b,c","d""e""#, ','), ["a", "b,c", "d\"e"]);
        assert_eq!(literals(r"('a\'b', 'c\\d','e')").unwrap(), ["a'b", r"c\d", "e"]);
        assert_eq!(literals("'x'").unwrap(), ["x"]);
        assert!(literals("(x)").is_none());
        let properties = json!({"numberOfLinesToSkip": 1, "contentType": "text/csv"});
        let rows = parse_content("skip me\nheader1,header2\nvalue1,value2", &properties, "header1").ok().unwrap();
        assert_eq!(rows[0]["header2"], "value2");
        assert!(parse_content("a,b\n1,2", &properties, "a").is_err(), "the header was skipped");
    }
}
