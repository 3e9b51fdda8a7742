//! `POST security/runHuntingQuery`: a small KQL subset over the seeded
//! tables — `Table`, then any of `| where Col == "v"` (`=~` ignores case,
//! `!=`, `!~`), `| project A, B`, `| order by Col [asc|desc]`,
//! `| take N` / `| limit N` — answered as `huntingQueryResults`.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use super::{Ctx, GraphState, METADATA};
use crate::reply::Reply;

/// The working result: typed columns and rows in column order.
struct Rows {
    columns: Vec<(String, &'static str)>,
    rows: Vec<Vec<Value>>,
}

pub fn run(graph: &mut GraphState, ctx: &Ctx) -> Result<Reply, Reply> {
    let body = ctx.json_object()?;
    // The documentation spells the keys `Query`/`Timespan`; accept any case.
    let field = |name: &str| body.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let query = match field("query") {
        Some(Value::String(q)) if !q.trim().is_empty() => q.clone(),
        _ => {
            return Err(
                ctx.bad_request("BadRequest", "The 'Query' parameter is required and must be a non-empty string.")
            )
        }
    };
    if field("timespan").is_some_and(|t| !t.is_string() && !t.is_null()) {
        return Err(ctx.bad_request("BadRequest", "The 'Timespan' parameter must be an ISO 8601 string."));
    }
    let result = execute(graph, &query).map_err(|message| ctx.bad_request("BadRequest", &message))?;
    let schema: Vec<Value> = result.columns.iter().map(|(name, kind)| json!({"name": name, "type": kind})).collect();
    let results: Vec<Value> = result
        .rows
        .into_iter()
        .map(|row| Value::Object(result.columns.iter().map(|(name, _)| name.clone()).zip(row).collect::<Map<_, _>>()))
        .collect();
    Ok(Reply::json(
        200,
        json!({"@odata.context": format!("{METADATA}#microsoft.graph.security.huntingQueryResults"), "schema": schema, "results": results}),
    ))
}

fn execute(graph: &GraphState, query: &str) -> Result<Rows, String> {
    let stages = split_stages(query);
    let source = stages.first().map(|s| s.trim()).unwrap_or_default();
    let table = graph
        .tables
        .iter()
        .find(|t| t.name == source)
        .ok_or_else(|| format!("Failed to resolve table or column expression named '{source}'"))?;
    let mut rows =
        Rows { columns: table.columns.iter().map(|(n, t)| ((*n).to_owned(), *t)).collect(), rows: table.rows.clone() };
    for stage in &stages[1..] {
        rows = apply(rows, stage.trim())?;
    }
    Ok(rows)
}

/// Splits on `|` outside string literals.
fn split_stages(query: &str) -> Vec<String> {
    let mut stages = vec![String::new()];
    let mut quote: Option<char> = None;
    for c in query.chars() {
        match (c, quote) {
            ('|', None) => stages.push(String::new()),
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            _ => {}
        }
        if c != '|' || quote.is_some() {
            if let Some(last) = stages.last_mut() {
                last.push(c);
            }
        }
    }
    stages
}

fn apply(rows: Rows, stage: &str) -> Result<Rows, String> {
    let (operator, rest) = stage.split_once(char::is_whitespace).unwrap_or((stage, ""));
    let rest = rest.trim();
    match operator {
        "take" | "limit" => {
            let n: usize =
                rest.parse().map_err(|_| format!("Syntax error: '{rest}' is not a row count for '{operator}'"))?;
            Ok(Rows { rows: rows.rows.into_iter().take(n).collect(), ..rows })
        }
        "where" => filter(rows, rest),
        "project" => project(rows, rest),
        "order" | "sort" => {
            let spec =
                rest.strip_prefix("by").ok_or_else(|| format!("Syntax error: expected 'by' after '{operator}'"))?;
            order(rows, spec.trim())
        }
        _ => Err(format!("The emulator does not support the operator '{operator}' in '{stage}'")),
    }
}

fn column(rows: &Rows, name: &str) -> Result<usize, String> {
    rows.columns
        .iter()
        .position(|(n, _)| n == name)
        .ok_or_else(|| format!("Failed to resolve scalar expression named '{name}'"))
}

fn filter(rows: Rows, condition: &str) -> Result<Rows, String> {
    let (op, at) = ["==", "=~", "!=", "!~"]
        .iter()
        .filter_map(|op| condition.find(op).map(|at| (*op, at)))
        .min_by_key(|(_, at)| *at)
        .ok_or_else(|| {
            format!("The emulator supports only 'where Column == \"value\"' (or =~, !=, !~), not '{condition}'")
        })?;
    let index = column(&rows, condition[..at].trim())?;
    let literal = condition[at + op.len()..].trim();
    let expected = unquote(literal).map_or_else(
        || literal.parse::<i64>().map(|n| json!(n)).map_err(|_| format!("Syntax error at '{literal}'")),
        |s| Ok(json!(s)),
    )?;
    let ignore_case = op.ends_with('~');
    let equal = |cell: &Value| match (cell, &expected) {
        (Value::String(a), Value::String(b)) if ignore_case => a.eq_ignore_ascii_case(b),
        (a, b) => a == b,
    };
    let keep = |row: &Vec<Value>| equal(&row[index]) == op.starts_with('=');
    Ok(Rows { rows: rows.rows.into_iter().filter(keep).collect(), ..rows })
}

fn unquote(literal: &str) -> Option<&str> {
    ['"', '\''].iter().find_map(|q| literal.strip_prefix(*q).and_then(|s| s.strip_suffix(*q)))
}

fn project(rows: Rows, list: &str) -> Result<Rows, String> {
    let indexes = list.split(',').map(|name| column(&rows, name.trim())).collect::<Result<Vec<_>, _>>()?;
    let columns = indexes.iter().map(|i| rows.columns[*i].clone()).collect();
    let rows = rows.rows.into_iter().map(|row| indexes.iter().map(|i| row[*i].clone()).collect()).collect();
    Ok(Rows { columns, rows })
}

fn order(mut rows: Rows, spec: &str) -> Result<Rows, String> {
    let mut words = spec.split_whitespace();
    let index = column(&rows, words.next().unwrap_or_default())?;
    // KQL sorts descending unless told otherwise.
    let descending = match words.next() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => return Err(format!("Syntax error at '{other}': expected asc or desc")),
    };
    let time = rows.columns[index].1 == "DateTime";
    rows.rows.sort_by(|a, b| {
        let ordering = compare(&a[index], &b[index], time);
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
    Ok(rows)
}

fn compare(a: &Value, b: &Value, time: bool) -> Ordering {
    match (a, b) {
        (Value::String(a), Value::String(b)) if time => crate::odata::parse_time(a).cmp(&crate::odata::parse_time(b)),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (a, b) => a.as_i64().cmp(&b.as_i64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipes_inside_quotes_do_not_split() {
        assert_eq!(split_stages("T | where A == \"x|y\" | take 1"), vec!["T ", " where A == \"x|y\" ", " take 1"]);
    }
}
