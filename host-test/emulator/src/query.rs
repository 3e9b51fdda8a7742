//! The Log Analytics query API: `POST /v1/workspaces/{id}/query`, its own
//! token audience, and a small KQL subset: `Table [| where Column ==
//! 'value'] [| take N]` over `SigninLogs` (generated), `SecurityIncident`
//! and `SecurityAlert` (the emulator's incidents and alerts, `tables`),
//! `print name = value`, and `EmptyTable` (204, a workspace with no data).

use serde_json::{json, Value};

use crate::reply::Reply;
use crate::request::Call;
use crate::state::{Shared, State};
use crate::tables::{self, Columns};
use crate::token::LOG_ANALYTICS_AUDIENCE;

fn error(status: u16, code: &str, message: &str, inner: Option<(&str, &str)>) -> Reply {
    let mut body = json!({"error": {"code": code, "message": message}});
    if let Some((inner_code, inner_message)) = inner {
        body["error"]["innererror"] = json!({"code": inner_code, "message": inner_message});
    }
    Reply::json(status, body)
}

fn syntax(message: &str) -> Reply {
    error(400, "BadArgumentError", "The request had some invalid properties", Some(("SyntaxError", message)))
}

/// The query API's answer for a workspace it does not know.
pub(crate) fn workspace_not_found(workspace: &str) -> Reply {
    error(404, "PathNotFoundError", &format!("The requested path does not exist: workspace '{workspace}'"), None)
}

pub fn handle(shared: &Shared, workspace: &str, call: &Call) -> Reply {
    if let Err(reply) = authorize(shared, call.authorization()) {
        return reply;
    }
    if !workspace.eq_ignore_ascii_case(&shared.options.identity.workspace_id) {
        return workspace_not_found(workspace);
    }
    let json_body = call.header("content-type").is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        // What the service does without the content type: an empty 200.
        return Reply::empty(200);
    }
    if let Some(wait) = prefer_wait(call) {
        if !(1..=600).contains(&wait) {
            return error(400, "BadArgumentError", "The wait preference must be between 1 and 600 seconds", None);
        }
    }
    let Ok(request) = serde_json::from_slice::<Value>(call.body) else { return syntax("The body is not JSON") };
    let Some(query) = request["query"].as_str() else {
        return error(400, "BadArgumentError", "The 'query' property is required", None);
    };
    let mut state = shared.state();
    let partial = state.partial_error.take();
    match run(query, &state) {
        Ok(None) => Reply::empty(204),
        Ok(Some(table)) => {
            let mut answer = json!({"tables": [table]});
            if let Some(message) = partial {
                answer["error"] = json!({"code": "PartialError", "message": "There were some errors when processing your query.",
                    "details": [{"code": "EngineError", "message": message}]});
            }
            Reply::json(200, answer)
        }
        Err(reply) => reply,
    }
}

fn prefer_wait(call: &Call) -> Option<i64> {
    let prefer = call.header("prefer")?;
    prefer.split(',').find_map(|p| p.trim().strip_prefix("wait=")).and_then(|v| v.trim().parse().ok())
}

fn authorize(shared: &Shared, authorization: Option<&str>) -> Result<(), Reply> {
    let Some(token) = authorization.and_then(|v| v.strip_prefix("Bearer ")) else {
        return Err(error(401, "AuthorizationRequiredError", "Valid authentication was not provided", None));
    };
    let ours = &shared.options.identity.tenant_id;
    if let Some(tenant) = crate::token::foreign_tenant(token.trim(), ours) {
        return Err(error(
            401,
            "InvalidAuthenticationTokenTenant",
            &format!("The access token is from the wrong issuer 'https://sts.windows.net/{tenant}/'. It must match the tenant 'https://sts.windows.net/{ours}/' associated with this workspace."),
            None,
        ));
    }
    let issued = shared.state().tokens.get(token.trim()).cloned();
    match issued {
        None => Err(error(
            403,
            "InvalidAuthenticationToken",
            "The provided authentication is not valid for this resource",
            None,
        )),
        Some(issued) if issued.audience != LOG_ANALYTICS_AUDIENCE => Err(error(
            403,
            "InvalidAuthenticationTokenAudience",
            "The provided authentication is not valid for this resource",
            Some(("InvalidAudience", "The audience of the token is not valid for this resource")),
        )),
        Some(issued) if issued.expires_at <= jiff::Timestamp::now().as_second() => {
            Err(error(401, "AuthenticationFailed", "The provided token has expired", None))
        }
        Some(_) => Ok(()),
    }
}

/// One table, or None for a table with no data.
fn run(query: &str, state: &State) -> Result<Option<Value>, Reply> {
    let mut stages = query.split('|').map(str::trim);
    let source = stages.next().unwrap_or_default();
    if let Some(assignment) = source.strip_prefix("print ") {
        return Ok(Some(print(assignment)));
    }
    if source.starts_with("_GetWatchlist(") {
        return crate::watchlists::query(state, source, &stages.collect::<Vec<_>>());
    }
    let (columns, mut rows) = match source {
        "SigninLogs" => sign_ins(),
        "SecurityIncident" => tables::security_incident(state),
        "SecurityAlert" => tables::security_alert(state),
        "EmptyTable" => return Ok(None),
        other => return Err(syntax(&format!("'{other}' is not a table in this workspace"))),
    };
    for stage in stages {
        rows = apply(stage, &columns, rows)?;
    }
    let columns: Vec<Value> = columns.iter().map(|(name, kind)| json!({"name": name, "type": kind})).collect();
    Ok(Some(json!({"name": "PrimaryResult", "columns": columns, "rows": rows})))
}

fn print(assignment: &str) -> Value {
    let (name, value) = assignment.split_once('=').map_or(("print_0", assignment), |(n, v)| (n.trim(), v.trim()));
    let (kind, cell) = match value.parse::<i64>() {
        Ok(n) => ("long", json!(n)),
        Err(_) => ("string", json!(value.trim_matches('\''))),
    };
    json!({"name": "PrimaryResult", "columns": [{"name": name, "type": kind}], "rows": [[cell]]})
}

/// Sign-ins of the accounts the generated entities use; some numbers and
/// booleans are strings, as the real service sometimes sends them.
fn sign_ins() -> (Columns, Vec<Vec<Value>>) {
    let columns = vec![
        ("TimeGenerated", "datetime"),
        ("UserPrincipalName", "string"),
        ("IPAddress", "string"),
        ("ResultType", "string"),
        ("Location", "string"),
        ("Attempts", "long"),
        ("Succeeded", "bool"),
        ("RiskScore", "real"),
        ("Details", "dynamic"),
    ];
    let users = ["alice@contoso.com", "bob.ops@contoso.com", "svc-backup@contoso.com", "carol@contoso.com"];
    let now = jiff::Timestamp::now().as_second();
    let rows = (0..24)
        .map(|i: i64| {
            let user = users[(i as usize) % users.len()];
            let time = jiff::Timestamp::from_second(now - i * 3600).map(|t| t.to_string()).unwrap_or_default();
            let failed = i % 3 == 0;
            vec![
                json!(time),
                json!(user),
                json!(format!("203.0.113.{}", 10 + i)),
                json!(if failed { "50126" } else { "0" }),
                json!(if i % 5 == 0 { "NL" } else { "US" }),
                if i % 2 == 0 { json!((i % 4 + 1).to_string()) } else { json!(i % 4 + 1) },
                if i % 2 == 0 { json!((!failed).to_string()) } else { json!(!failed) },
                json!(0.1 * (i % 10) as f64),
                json!(r#"{"app":"Azure Portal"}"#),
            ]
        })
        .collect();
    (columns, rows)
}

fn apply(stage: &str, columns: &Columns, rows: Vec<Vec<Value>>) -> Result<Vec<Vec<Value>>, Reply> {
    if let Some(count) = stage.strip_prefix("take ").or_else(|| stage.strip_prefix("limit ")) {
        let n: usize = count.trim().parse().map_err(|_| syntax(&format!("'{count}' is not a row count")))?;
        return Ok(rows.into_iter().take(n).collect());
    }
    if let Some(condition) = stage.strip_prefix("where ") {
        let (column, value) =
            condition.split_once("==").ok_or_else(|| syntax("only 'where Column == \'value\'' is supported here"))?;
        let column = column.trim();
        let index = columns
            .iter()
            .position(|(name, _)| *name == column)
            .ok_or_else(|| syntax(&format!("'{column}' is not a column")))?;
        let value = value.trim().trim_matches('\'').trim_matches('"').to_owned();
        return Ok(rows
            .into_iter()
            .filter(|row| match &row[index] {
                Value::String(text) => text.eq_ignore_ascii_case(&value),
                Value::Number(number) => number.to_string() == value,
                _ => false,
            })
            .collect());
    }
    Err(syntax(&format!("the operator in '{stage}' is not supported by the emulator")))
}
