//! KQL search over the Log Analytics query API (`POST
//! {log-analytics}/v1/workspaces/{workspaceId}/query`), with typed results:
//! each cell parsed by its column's declared type, accepting numbers and
//! booleans sent as strings. A partial error (200 with an `error` object) is
//! returned beside the data; 204 means the workspace has no data.

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::config::Settings;
use super::error::{Error, ServiceFailure};
use super::http::{Method, Request, TABLE_ANSWER_WEIGHT};

const MAX_QUERY_BYTES: usize = 64 * 1024;
/// The service's own limit for `Prefer: wait`.
pub const MAX_SERVER_TIMEOUT_SECS: u32 = 600;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// ISO 8601 duration (`PT12H`, `P1D`) or `start/end` interval.
    pub timespan: Option<String>,
    /// Sent as `Prefer: wait=N`.
    pub server_timeout_secs: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Integer(i64),
    Real(f64),
    Boolean(bool),
    Datetime(String),
    Guid(String),
    Timespan(String),
    Decimal(String),
    /// JSON text.
    Dynamic(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    /// The declared type as the service sent it (`string`, `long`, `datetime`, ...).
    pub column_type: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub tables: Vec<Table>,
    pub partial_error: Option<ServiceFailure>,
}

pub fn validate(settings: &Settings, query: &str, options: &QueryOptions) -> Result<(), Error> {
    if settings.workspace_id.is_none() {
        return Err(Error::invalid("workspace-id", "is needed for KQL queries: set the workspace GUID (Properties > Workspace ID)"));
    }
    validate_text(query)?;
    if let Some(span) = &options.timespan {
        validate_timespan(span)?;
    }
    if let Some(wait) = options.server_timeout_secs {
        if !(1..=MAX_SERVER_TIMEOUT_SECS).contains(&wait) {
            return Err(Error::invalid("server-timeout-seconds", format!("{wait} is outside 1 to {MAX_SERVER_TIMEOUT_SECS}")));
        }
    }
    Ok(())
}

/// KQL text, for Log Analytics and advanced hunting alike: not empty, not huge.
pub fn validate_text(query: &str) -> Result<(), Error> {
    if query.trim().is_empty() {
        return Err(Error::invalid("query", "is empty"));
    }
    if query.len() > MAX_QUERY_BYTES {
        return Err(Error::invalid("query", format!("is longer than {MAX_QUERY_BYTES} bytes")));
    }
    Ok(())
}

/// An ISO 8601 duration such as `P1D` or `PT12H`, or two parts joined by `/`
/// (times or a duration), as the query API takes.
fn validate_timespan(span: &str) -> Result<(), Error> {
    if is_timespan(span) {
        return Ok(());
    }
    Err(Error::invalid("timespan", format!("'{}' is not an ISO 8601 duration (P1D, PT12H) or a start/end interval", super::config::shown(span))))
}

/// A duration, or two parts (times or a duration) joined by `/`.
pub fn is_timespan(span: &str) -> bool {
    let part_ok = |part: &str| is_duration(part) || is_time(part);
    match span.split_once('/') {
        Some((start, end)) => part_ok(start) && part_ok(end),
        None => is_duration(span),
    }
}

/// An RFC 3339 time (the `Z` optional).
pub fn is_time(text: &str) -> bool {
    humantime::parse_rfc3339_weak(text.trim_end_matches(['Z', 'z'])).is_ok()
}

fn is_duration(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('P') else { return false };
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let units_ok = |part: &str, units: &str| {
        let mut digits = 0;
        for c in part.chars() {
            match c {
                '0'..='9' | '.' => digits += 1,
                c if units.contains(c) && digits > 0 => digits = 0,
                _ => return false,
            }
        }
        digits == 0
    };
    !(date.is_empty() && time.is_empty()) && units_ok(date, "YMWD") && units_ok(time, "HMS") && (!rest.contains('T') || !time.is_empty())
}

pub fn request(settings: &Settings, query: &str, options: &QueryOptions, token: &str) -> Result<Request, Error> {
    let workspace = settings.workspace_id.as_deref().ok_or_else(|| Error::invalid("workspace-id", "is needed for KQL queries"))?;
    let mut url: Url = settings.endpoints.log_analytics.base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(["v1", "workspaces", workspace, "query"]);
    }
    let mut body = serde_json::json!({"query": query});
    if let Some(span) = &options.timespan {
        body["timespan"] = Value::String(span.clone());
    }
    let mut request = Request::new(Method::Post, url)
        .answer_weight(TABLE_ANSWER_WEIGHT)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/json")
        .json_body(serde_json::to_vec(&body).unwrap_or_default());
    if let Some(wait) = options.server_timeout_secs {
        request = request.header("prefer", format!("wait={wait}"));
    }
    Ok(request)
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    tables: Vec<WireTable>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct WireTable {
    #[serde(default)]
    name: String,
    #[serde(default)]
    columns: Vec<WireColumn>,
    #[serde(default)]
    rows: Vec<Vec<Value>>,
}

#[derive(Deserialize)]
struct WireColumn {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    column_type: String,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<WireDetail>,
}

#[derive(Deserialize)]
struct WireDetail {
    #[serde(default)]
    message: String,
}

/// A successful answer: 204 (no data) or 200 with tables, and maybe a partial error.
pub fn parse(status: u16, body: &[u8]) -> Result<QueryResult, Error> {
    if status == 204 || body.is_empty() {
        return Ok(QueryResult { tables: Vec::new(), partial_error: None });
    }
    let body: Body = serde_json::from_slice(body).map_err(|e| Error::invalid_response(format!("the query result could not be read: {e}")))?;
    let partial_error = body.error.map(|e| {
        let details: Vec<String> = e.details.into_iter().map(|d| d.message).filter(|m| !m.is_empty()).collect();
        let message = if details.is_empty() { e.message } else { format!("{} ({})", e.message, details.join("; ")) };
        ServiceFailure {
            status,
            code: e.code,
            message,
            hint: "Some data could not be read; the tables hold what could. Narrow the query or the timespan.".into(),
        }
    });
    Ok(QueryResult { tables: body.tables.into_iter().map(typed_table).collect(), partial_error })
}

fn typed_table(table: WireTable) -> Table {
    let columns: Vec<Column> = table.columns.into_iter().map(|c| Column { name: c.name, column_type: c.column_type }).collect();
    let rows = table
        .rows
        .into_iter()
        .map(|row| row.into_iter().enumerate().map(|(i, value)| cell(columns.get(i).map_or("", |c| c.column_type.as_str()), value)).collect())
        .collect();
    Table { name: table.name, columns, rows }
}

/// A cell by its column's type. A value that does not parse as its type is
/// kept as text rather than dropped.
pub fn cell(column_type: &str, value: Value) -> Cell {
    let text = |value: Value| match value {
        Value::String(s) => s,
        other => other.to_string(),
    };
    match (column_type.to_ascii_lowercase().as_str(), value) {
        (_, Value::Null) => Cell::Null,
        ("int" | "long", Value::Number(n)) if n.is_i64() => Cell::Integer(n.as_i64().unwrap_or_default()),
        ("int" | "long", Value::String(s)) if s.trim().parse::<i64>().is_ok() => Cell::Integer(s.trim().parse().unwrap_or_default()),
        ("real", Value::Number(n)) => n.as_f64().map_or(Cell::Text(n.to_string()), Cell::Real),
        ("real", Value::String(s)) if s.trim().parse::<f64>().is_ok() => Cell::Real(s.trim().parse().unwrap_or_default()),
        ("bool", Value::Bool(b)) => Cell::Boolean(b),
        ("bool", Value::Number(n)) if n.as_i64().is_some_and(|v| v == 0 || v == 1) => Cell::Boolean(n.as_i64() == Some(1)),
        ("bool", Value::String(s)) if parse_bool(&s).is_some() => Cell::Boolean(parse_bool(&s).unwrap_or_default()),
        ("datetime", value) => Cell::Datetime(text(value)),
        ("guid", value) => Cell::Guid(text(value)),
        ("timespan", value) => Cell::Timespan(text(value)),
        ("decimal", value) => Cell::Decimal(text(value)),
        ("dynamic", Value::String(s)) => Cell::Dynamic(s),
        ("dynamic", value) => Cell::Dynamic(value.to_string()),
        (_, value) => Cell::Text(text(value)),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/azure-specs/loganalytics/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_example_parses_with_strings_typed_by_column() {
        let body = fixture("la-post-example.json")["responses"]["200"]["body"].to_string();
        let result = parse(200, body.as_bytes()).unwrap();
        let table = &result.tables[0];
        assert_eq!(table.name, "PrimaryResult");
        let long = table.columns.iter().position(|c| c.column_type == "long").unwrap();
        assert!(matches!(table.rows[0][long], Cell::Integer(_)), "a long sent as a string is an integer: {:?}", table.rows[0][long]);
        let datetime = table.columns.iter().position(|c| c.column_type == "datetime").unwrap();
        assert!(matches!(table.rows[0][datetime], Cell::Datetime(_)));
        assert!(result.partial_error.is_none());
    }

    #[test]
    fn cells_follow_their_declared_types() {
        assert_eq!(cell("bool", Value::String("true".into())), Cell::Boolean(true));
        assert_eq!(cell("bool", serde_json::json!(0)), Cell::Boolean(false));
        assert_eq!(cell("real", Value::String("1.5".into())), Cell::Real(1.5));
        assert_eq!(cell("int", serde_json::json!(7)), Cell::Integer(7));
        assert_eq!(cell("long", Value::String("x".into())), Cell::Text("x".into()), "kept, not dropped");
        assert_eq!(cell("dynamic", serde_json::json!({"a": 1})), Cell::Dynamic(r#"{"a":1}"#.into()));
        assert_eq!(cell("string", Value::Null), Cell::Null);
    }

    #[test]
    fn a_partial_error_comes_beside_the_data_and_204_is_empty() {
        let body = br#"{"tables":[{"name":"PrimaryResult","columns":[{"name":"n","type":"long"}],"rows":[["1"]]}],
            "error":{"code":"PartialError","message":"There were some errors","details":[{"code":"EngineError","message":"part failed"}]}}"#;
        let result = parse(200, body).unwrap();
        assert_eq!(result.tables[0].rows.len(), 1);
        let failure = result.partial_error.unwrap();
        assert_eq!(failure.code, "PartialError");
        assert!(failure.message.contains("part failed"));
        assert!(parse(204, b"").unwrap().tables.is_empty());
    }

    #[test]
    fn timespans_are_checked() {
        for good in ["PT12H", "P1D", "P7DT6H", "2026-01-01T00:00:00Z/2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z/P1D"] {
            assert!(validate_timespan(good).is_ok(), "{good}");
        }
        for bad in ["12h", "P", "PT", "P1X", "yesterday/today"] {
            assert!(validate_timespan(bad).is_err(), "{bad}");
        }
    }
}
