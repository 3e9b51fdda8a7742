//! Advanced hunting (`POST /security/runHuntingQuery`): KQL over Defender XDR
//! data. The answer's `schema` names each column and its type; each row is an
//! object keyed by column. Both become the same typed table as a Log
//! Analytics query, so a playbook reads either the same way.

use serde_json::{Map, Value};

use super::url;
use crate::core::config::Settings;
use crate::core::error::Error;
use crate::core::kql::{self, Column, Table};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HuntingOptions {
    /// ISO 8601: `P30D`, `start/end`, `P30D/end`, `start/P30D`, or a start
    /// time. Graph's default is 30 days.
    pub timespan: Option<String>,
}

pub fn validate(text: &str, options: &HuntingOptions) -> Result<(), Error> {
    kql::validate_text(text)?;
    match &options.timespan {
        Some(span) if !kql::is_timespan(span) && !kql::is_time(span) => Err(Error::invalid(
            "timespan",
            format!(
                "'{}' is not an ISO 8601 duration (P30D), a start/end interval or a start time",
                crate::core::config::shown(span)
            ),
        )),
        _ => Ok(()),
    }
}

/// The URL and body; keys are PascalCase as Graph documents them.
pub fn request_parts(settings: &Settings, text: &str, options: &HuntingOptions) -> (url::Url, Vec<u8>) {
    let mut body = Map::new();
    body.insert("Query".into(), Value::String(text.to_owned()));
    if let Some(span) = &options.timespan {
        body.insert("Timespan".into(), Value::String(span.clone()));
    }
    (url(settings, &["security", "runHuntingQuery"]), serde_json::to_vec(&body).unwrap_or_default())
}

/// The answer as a typed table named `results`. Keys are read
/// case-insensitively (one of Microsoft's examples uses `Name`/`Type`).
pub fn parse(body: &[u8]) -> Result<Table, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid_response(format!("the hunting result could not be read: {e}")))?;
    let columns: Vec<Column> = array(&value, "schema")
        .iter()
        .map(|c| Column { name: text(c, "name"), column_type: text(c, "type") })
        .collect();
    let rows = array(&value, "results")
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| kql::cell(kql_type(&c.column_type), field(row, &c.name).cloned().unwrap_or(Value::Null)))
                .collect()
        })
        .collect();
    Ok(Table { name: "results".into(), columns, rows })
}

/// Graph's .NET type names mapped to the KQL types the cell parser knows.
fn kql_type(graph_type: &str) -> &'static str {
    match graph_type.to_ascii_lowercase().as_str() {
        "datetime" | "datetimeoffset" => "datetime",
        "int32" | "int64" | "int" | "long" => "long",
        "double" | "single" | "real" => "real",
        "boolean" | "bool" => "bool",
        "guid" => "guid",
        "timespan" => "timespan",
        "decimal" => "decimal",
        "object" | "dynamic" => "dynamic",
        _ => "string",
    }
}

fn field<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

fn array<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    field(object, key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn text(object: &Value, key: &str) -> String {
    field(object, key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::kql::Cell;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/azure-specs/graph");

    #[test]
    fn both_of_microsofts_shapes_give_the_same_typed_table() {
        for name in
            ["security-runhuntingquery.example1.response.json", "security-runhuntingquery.sdk-tab.response.json"]
        {
            let table = parse(&std::fs::read(format!("{FIXTURES}/{name}")).unwrap()).unwrap();
            let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["Timestamp", "FileName", "InitiatingProcessFileName"], "{name}");
            assert!(matches!(table.rows[0][0], Cell::Datetime(_)), "{name}");
            assert_eq!(table.rows[0][2], Cell::Text("powershell.exe".into()));
        }
    }

    #[test]
    fn numbers_and_missing_cells_are_typed() {
        let body =
            br#"{"schema":[{"name":"Pid","type":"Int64"},{"name":"Gone","type":"String"}],"results":[{"Pid":4}]}"#;
        let table = parse(body).unwrap();
        assert_eq!(table.rows[0], [Cell::Integer(4), Cell::Null]);
    }

    #[test]
    fn the_request_uses_microsofts_keys() {
        let example =
            std::fs::read_to_string(format!("{FIXTURES}/security-runhuntingquery.example1.request.json")).unwrap();
        let example: Value = serde_json::from_str(&example).unwrap();
        let settings = crate::core::config::tests::settings();
        let (url, body) = request_parts(&settings, example["Query"].as_str().unwrap(), &HuntingOptions::default());
        assert!(url.as_str().ends_with("/v1.0/security/runHuntingQuery"));
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), example);
        assert!(validate("x", &HuntingOptions { timespan: Some("P30D/2024-03-01T00:00:00Z".into()) }).is_ok());
        assert!(validate("x", &HuntingOptions { timespan: Some("2024-03-01T00:00:00Z".into()) }).is_ok());
        assert!(matches!(
            validate("x", &HuntingOptions { timespan: Some("30 days".into()) }),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(validate(" ", &HuntingOptions::default()), Err(Error::InvalidInput { .. })));
    }
}
