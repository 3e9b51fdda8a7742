//! KQL search over the Log Analytics query API (`POST
//! {log-analytics}/v1/workspaces/{workspaceId}/query`), with typed results:
//! each cell parsed by its column's declared type, accepting numbers and
//! booleans sent as strings. A partial error (200 with an `error` object) is
//! returned beside the data; 204 means the workspace has no data.

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::core::config::{shown, Settings};
use crate::core::error::{Error, ServiceFailure};
use crate::core::http::{Method, Request, TABLE_ANSWER_WEIGHT};
use crate::core::kql::{cell, is_timespan, validate_text, Column, Table};

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
pub struct QueryResult {
    pub tables: Vec<Table>,
    pub partial_error: Option<ServiceFailure>,
}

pub fn validate(settings: &Settings, query: &str, options: &QueryOptions) -> Result<(), Error> {
    if settings.workspace_id.is_none() {
        return Err(Error::invalid(
            "workspace-id",
            "is needed for KQL queries: set the workspace GUID (Properties > Workspace ID)",
        ));
    }
    validate_text(query)?;
    if let Some(span) = &options.timespan {
        validate_timespan(span)?;
    }
    if let Some(wait) = options.server_timeout_secs {
        if !(1..=MAX_SERVER_TIMEOUT_SECS).contains(&wait) {
            return Err(Error::invalid(
                "server-timeout-seconds",
                format!("{wait} is outside 1 to {MAX_SERVER_TIMEOUT_SECS}"),
            ));
        }
    }
    Ok(())
}

/// An ISO 8601 duration such as `P1D` or `PT12H`, or two parts joined by `/`
/// (times or a duration), as the query API takes.
fn validate_timespan(span: &str) -> Result<(), Error> {
    if is_timespan(span) {
        return Ok(());
    }
    Err(Error::invalid(
        "timespan",
        format!("'{}' is not an ISO 8601 duration (P1D, PT12H) or a start/end interval", shown(span)),
    ))
}

/// The query request, without its bearer token (the client adds it).
pub fn request(settings: &Settings, query: &str, options: &QueryOptions) -> Result<Request, Error> {
    let workspace =
        settings.workspace_id.as_deref().ok_or_else(|| Error::invalid("workspace-id", "is needed for KQL queries"))?;
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
    let body: Body = serde_json::from_slice(body)
        .map_err(|e| Error::invalid_response(format!("the query result could not be read: {e}")))?;
    let partial_error = body.error.map(|e| {
        let details: Vec<String> = e.details.into_iter().map(|d| d.message).filter(|m| !m.is_empty()).collect();
        let message = if details.is_empty() { e.message } else { format!("{} ({})", e.message, details.join("; ")) };
        ServiceFailure {
            status,
            code: e.code,
            message,
            hint: "Some data could not be read; the tables hold what could. Narrow the query or the timespan.".into(),
            ..ServiceFailure::default()
        }
    });
    Ok(QueryResult { tables: body.tables.into_iter().map(typed_table).collect(), partial_error })
}

fn typed_table(table: WireTable) -> Table {
    let columns: Vec<Column> =
        table.columns.into_iter().map(|c| Column { name: c.name, column_type: c.column_type }).collect();
    let rows = table
        .rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .enumerate()
                .map(|(i, value)| cell(columns.get(i).map_or("", |c| c.column_type.as_str()), value))
                .collect()
        })
        .collect();
    Table { name: table.name, columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::kql::Cell;

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
        assert!(
            matches!(table.rows[0][long], Cell::Integer(_)),
            "a long sent as a string is an integer: {:?}",
            table.rows[0][long]
        );
        let datetime = table.columns.iter().position(|c| c.column_type == "datetime").unwrap();
        assert!(matches!(table.rows[0][datetime], Cell::Datetime(_)));
        assert!(result.partial_error.is_none());
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
        for good in ["PT12H", "P1D", "P7DT6H", "2026-01-01T00:00:00Z/2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z/P1D"]
        {
            assert!(validate_timespan(good).is_ok(), "{good}");
        }
        for bad in ["12h", "P", "PT", "P1X", "yesterday/today"] {
            assert!(validate_timespan(bad).is_err(), "{bad}");
        }
    }
}
