//! Graph's security actions: comments on incidents and alerts (each answers
//! the whole comment list, as Graph does) and `mergeIncidents`.

use serde_json::{json, Value};

use super::{Ctx, METADATA};
use crate::reply::Reply;
use crate::state::{Kind, State};
use crate::unified::merge::MergeError;
use crate::writes;

/// Who a comment is by: the connector's app, named as ARM comments name it.
const AUTHOR: &str = "SOAR connector";
const COMMENT_TYPE: &str = "microsoft.graph.security.alertComment";

/// The comment text of a `{"@odata.type": ..alertComment, "comment": ...}` body.
fn comment_text(ctx: &Ctx) -> Result<String, Reply> {
    ctx.require_json_content()?;
    let body = ctx.json_object()?;
    if let Some(kind) = body.get("@odata.type").and_then(Value::as_str) {
        if !kind.trim_start_matches('#').eq_ignore_ascii_case(COMMENT_TYPE) {
            return Err(ctx.bad_request("BadRequest", &format!("The @odata.type '{kind}' is not {COMMENT_TYPE}.")));
        }
    }
    match body.get("comment").and_then(Value::as_str).map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text.to_owned()),
        _ => Err(ctx.bad_request("BadRequest", "The 'comment' property is required.")),
    }
}

fn comment_list(comments: Value) -> Reply {
    let context = format!("{METADATA}#Collection({COMMENT_TYPE})");
    Reply::json(200, json!({"@odata.context": context, "value": comments}))
}

fn new_comment(ctx: &Ctx, text: &str) -> Value {
    json!({"comment": text, "createdByDisplayName": AUTHOR, "createdDateTime": ctx.now})
}

/// `POST security/incidents/{id}/comments`. Unified: the comment is an ARM
/// comment of the incident, so Sentinel shows it too.
pub fn comment_incident(state: &mut State, ctx: &Ctx, id: &str) -> Result<Reply, Reply> {
    let text = comment_text(ctx)?;
    let not_found = || ctx.error(404, "NotFound", &format!("itemNotFound: Incident '{id}' was not found."));
    if state.unified.is_none() {
        let incident = state.graph.incidents.iter_mut().find(|i| i["id"] == id).ok_or_else(not_found)?;
        push_comment(incident, new_comment(ctx, &text));
        return Ok(comment_list(incident["comments"].clone()));
    }
    let name = state.latest_name_of(id).ok_or_else(not_found)?;
    if !add_arm_comment(state, &name, &text) {
        return Err(ctx.bad_request("BadRequest", "The comment could not be added to the incident."));
    }
    let view = state.graph_view(id).ok_or_else(not_found)?;
    Ok(comment_list(view["comments"].clone()))
}

/// `POST security/alerts_v2/{id}/comments`.
pub fn comment_alert(state: &mut State, ctx: &Ctx, id: &str) -> Result<Reply, Reply> {
    let text = comment_text(ctx)?;
    let comment = new_comment(ctx, &text);
    let alert = state
        .graph
        .alerts
        .iter_mut()
        .find(|a| a["id"] == id)
        .ok_or_else(|| ctx.error(404, "NotFound", &format!("itemNotFound: Alert '{id}' was not found.")))?;
    push_comment(alert, comment);
    Ok(comment_list(alert["comments"].clone()))
}

/// An ARM comment on incident `name`, by the connector; false if refused.
fn add_arm_comment(state: &mut State, name: &str, text: &str) -> bool {
    let body = json!({"properties": {"message": text}}).to_string();
    let author = json!({"objectId": null, "name": AUTHOR, "email": null, "userPrincipalName": null});
    let comment = uuid::Uuid::new_v4().to_string();
    writes::put_child(state, name, Kind::Comments, &comment, body.as_bytes(), author).status() < 300
}

fn push_comment(item: &mut Value, comment: Value) {
    match item["comments"].as_array_mut() {
        Some(comments) => comments.push(comment),
        None => item["comments"] = json!([comment]),
    }
}

/// `POST security/incidents/mergeIncidents`: Defender picks the target
/// (here the oldest incident: the lowest id, as Microsoft's example
/// answers); `incidentComment` is added to the target.
pub fn merge_incidents(state: &mut State, ctx: &Ctx) -> Result<Reply, Reply> {
    ctx.require_json_content()?;
    let body = ctx.json_object()?;
    let ids: Vec<String> = match body.get("incidentIds").and_then(Value::as_array) {
        Some(ids) if ids.len() >= 2 && ids.iter().all(Value::is_string) => {
            ids.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        }
        _ => return Err(ctx.bad_request("BadRequest", "'incidentIds' must list at least two incident ids.")),
    };
    let target = ids.iter().min_by_key(|id| (id.parse::<u64>().unwrap_or(u64::MAX), (*id).clone())).cloned();
    let target = target.unwrap_or_default();
    let sources: Vec<String> = ids.iter().filter(|id| **id != target).cloned().collect();
    state.merge(&sources, &target).map_err(|e| merge_error(ctx, &e))?;
    if let Some(text) = body.get("incidentComment").and_then(Value::as_str).filter(|t| !t.trim().is_empty()) {
        if let Some(name) = state.latest_name_of(&target) {
            add_arm_comment(state, &name, text);
        }
    }
    let context = format!("{METADATA}#microsoft.graph.security.mergeResponse");
    Ok(Reply::json(200, json!({"@odata.context": context, "targetIncidentId": target})))
}

fn merge_error(ctx: &Ctx, error: &MergeError) -> Reply {
    match error {
        MergeError::NotFound(_) => ctx.error(404, "NotFound", &format!("itemNotFound: {error}.")),
        _ => ctx.bad_request("BadRequest", &format!("The incidents cannot be merged: {error}.")),
    }
}
