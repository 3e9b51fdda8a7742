//! KQL, as both Log Analytics and Graph advanced hunting take it and answer
//! it: query text and timespan checks, and the typed table every KQL answer
//! becomes (each cell parsed by its column's declared type).

use serde_json::Value;

use super::error::Error;

const MAX_QUERY_BYTES: usize = 64 * 1024;

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

/// KQL text, for Log Analytics and advanced hunting alike: not empty, not huge.
/// A single-quoted string literal with `\` and `'` escaped: how KQL writes
/// one, and STIX patterns too (threat-intelligence indicators).
pub fn string_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

pub fn validate_text(query: &str) -> Result<(), Error> {
    if query.trim().is_empty() {
        return Err(Error::invalid("query", "is empty"));
    }
    if query.len() > MAX_QUERY_BYTES {
        return Err(Error::invalid("query", format!("is longer than {MAX_QUERY_BYTES} bytes")));
    }
    Ok(())
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
    !(date.is_empty() && time.is_empty())
        && units_ok(date, "YMWD")
        && units_ok(time, "HMS")
        && (!rest.contains('T') || !time.is_empty())
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
        ("int" | "long", Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
            Cell::Integer(s.trim().parse().unwrap_or_default())
        }
        ("real", Value::Number(n)) => n.as_f64().map_or(Cell::Text(n.to_string()), Cell::Real),
        ("real", Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
            Cell::Real(s.trim().parse().unwrap_or_default())
        }
        ("bool", Value::Bool(b)) => Cell::Boolean(b),
        ("bool", Value::Number(n)) if n.as_i64().is_some_and(|v| v == 0 || v == 1) => {
            Cell::Boolean(n.as_i64() == Some(1))
        }
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
}
