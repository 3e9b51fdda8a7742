//! Entra ID containment: users (read, enable/disable, revoke sessions,
//! group checks), group membership by `$ref`, and Identity Protection's
//! risky users. Errors use the directory's codes (`Request_*`).

use std::collections::HashSet;

use serde_json::{json, Value};

use super::{newest_first, page, select, selection, Ctx, GraphState, Paging, METADATA};
use crate::odata::{parse_filter, Kind, Schema};
use crate::reply::Reply;

const USER_TYPE: &str = "Microsoft.DirectoryServices.User";
const GROUP_TYPE: &str = "Microsoft.DirectoryServices.Group";
const DEFAULT_USER_PROPERTIES: &[&str] =
    &["id", "userPrincipalName", "displayName", "mail", "accountEnabled", "userType", "jobTitle"];
const GROUP_FILTER: Schema = Schema {
    parent: None,
    fields: &[("displayName", Kind::Text), ("mailNickname", Kind::Text)],
    type_name: GROUP_TYPE,
};
const RISKY_FILTER: Schema = Schema {
    parent: None,
    fields: &[
        ("riskLevel", Kind::Text),
        ("riskState", Kind::Text),
        ("riskDetail", Kind::Text),
        ("userPrincipalName", Kind::Text),
        ("userDisplayName", Kind::Text),
        ("riskLastUpdatedDateTime", Kind::Time),
    ],
    type_name: "microsoft.graph.riskyUser",
};
const GROUPS: Paging = Paging { default_top: 100, max_top: 999 };
const RISKY: Paging = Paging { default_top: 20, max_top: 500 };

/// The directory's 404 for an object that does not exist.
fn missing(ctx: &Ctx, key: &str) -> Reply {
    ctx.error(
        404,
        "Request_ResourceNotFound",
        &format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
    )
}

fn user_index(graph: &GraphState, ctx: &Ctx, key: &str) -> Result<usize, Reply> {
    graph.user_index(key).ok_or_else(|| missing(ctx, key))
}

pub fn get_user(graph: &mut GraphState, ctx: &Ctx, key: &str) -> Result<Reply, Reply> {
    let user = &graph.users[user_index(graph, ctx, key)?];
    let (names, context) = match selection(ctx) {
        Some(names) => {
            let context = format!("{METADATA}#users({})/$entity", names.join(","));
            (names, context)
        }
        None => {
            (DEFAULT_USER_PROPERTIES.iter().map(|n| (*n).to_owned()).collect(), format!("{METADATA}#users/$entity"))
        }
    };
    let mut body = select(ctx, user, &names, USER_TYPE)?;
    body["@odata.context"] = json!(context);
    Ok(Reply::json(200, body))
}

/// Only `accountEnabled` can change here: containment disables accounts.
pub fn patch_user(graph: &mut GraphState, ctx: &Ctx, key: &str) -> Result<Reply, Reply> {
    let index = user_index(graph, ctx, key)?;
    let body = ctx.json_object()?;
    let mut enabled = None;
    for (name, value) in &body {
        match (name.as_str(), value) {
            ("accountEnabled", Value::Bool(b)) => enabled = Some(*b),
            ("accountEnabled", other) => {
                return Err(ctx.bad_request(
                    "Request_BadRequest",
                    &format!("Invalid value '{other}' for property 'accountEnabled': a boolean is required."),
                ))
            }
            (other, _) => {
                return Err(ctx.bad_request(
                    "Request_BadRequest",
                    &format!("Property '{other}' cannot be updated by the emulator; only 'accountEnabled' can."),
                ))
            }
        }
    }
    if let Some(enabled) = enabled {
        graph.users[index]["accountEnabled"] = json!(enabled);
    }
    Ok(Reply::empty(204))
}

/// Sessions issued before now become invalid: recorded on the user.
pub fn revoke_sessions(graph: &mut GraphState, ctx: &Ctx, key: &str) -> Result<Reply, Reply> {
    let index = user_index(graph, ctx, key)?;
    graph.users[index]["signInSessionsValidFromDateTime"] = json!(ctx.now);
    Ok(Reply::json(200, json!({"@odata.context": format!("{METADATA}#Edm.Boolean"), "value": true})))
}

/// The groups `object` belongs to, directly or through nested groups.
fn transitive_groups(graph: &GraphState, object: &str) -> HashSet<String> {
    let mut found: HashSet<String> = HashSet::new();
    let mut frontier = vec![object.to_ascii_lowercase()];
    while let Some(member) = frontier.pop() {
        for group in &graph.groups {
            let id = group.json["id"].as_str().unwrap_or_default().to_ascii_lowercase();
            if group.members.iter().any(|m| m.eq_ignore_ascii_case(&member)) && found.insert(id.clone()) {
                frontier.push(id);
            }
        }
    }
    found
}

/// The most group ids `checkMemberGroups` takes, as Microsoft documents.
pub const CHECK_MEMBER_GROUPS_MAX: usize = 20;

/// Which of the given groups the user is in, transitively. At most 20 ids
/// (more is a 400). A group whose membership is hidden is left out of the
/// answer unless the token carries `Member.Read.Hidden`, as Graph leaves out
/// groups the caller cannot evaluate: a left-out group looks like "not a member".
pub fn check_member_groups(graph: &mut GraphState, ctx: &Ctx, key: &str, granted: &[String]) -> Result<Reply, Reply> {
    let index = user_index(graph, ctx, key)?;
    let body = ctx.json_object()?;
    let ids = string_list(ctx, body.get("groupIds"), "groupIds", CHECK_MEMBER_GROUPS_MAX)?;
    let user_id = graph.users[index]["id"].as_str().unwrap_or_default().to_owned();
    let groups = transitive_groups(graph, &user_id);
    let sees_hidden = granted.iter().any(|role| role == "Member.Read.Hidden");
    let visible = |id: &str| sees_hidden || !graph.group_index(id).is_some_and(|i| graph.groups[i].hides_membership());
    let value: Vec<&String> =
        ids.iter().filter(|id| groups.contains(&id.to_ascii_lowercase()) && visible(id)).collect();
    Ok(Reply::json(200, json!({"@odata.context": format!("{METADATA}#Collection(Edm.String)"), "value": value})))
}

/// `GET /groups/{id}`, with `$select`; `visibility` is always there (null
/// for most security groups).
pub fn get_group(graph: &mut GraphState, ctx: &Ctx, id: &str) -> Result<Reply, Reply> {
    let index = graph.group_index(id).ok_or_else(|| missing(ctx, id))?;
    let group = &graph.groups[index].json;
    let (mut body, context) = match selection(ctx) {
        Some(names) => {
            (select(ctx, group, &names, GROUP_TYPE)?, format!("{METADATA}#groups({})/$entity", names.join(",")))
        }
        None => (group.clone(), format!("{METADATA}#groups/$entity")),
    };
    body["@odata.context"] = json!(context);
    Ok(Reply::json(200, body))
}

/// A JSON array of 1..=`max` strings, else a 400 naming `name`.
fn string_list(ctx: &Ctx, value: Option<&Value>, name: &str, max: usize) -> Result<Vec<String>, Reply> {
    let list: Option<Vec<String>> =
        value.and_then(Value::as_array).and_then(|items| items.iter().map(|v| v.as_str().map(str::to_owned)).collect());
    match list {
        Some(list) if (1..=max).contains(&list.len()) => Ok(list),
        _ => Err(ctx.bad_request("Request_BadRequest", &format!("'{name}' must be an array of 1 to {max} ids."))),
    }
}

pub fn list_groups(graph: &mut GraphState, ctx: &Ctx) -> Result<Reply, Reply> {
    let filter = ctx
        .param("$filter")
        .map(|text| parse_filter(text, &GROUP_FILTER))
        .transpose()
        .map_err(|reason| ctx.bad_request("Request_UnsupportedQuery", &reason))?;
    let names = selection(ctx);
    let mut value = Vec::new();
    for group in graph.groups.iter().filter(|g| filter.as_ref().is_none_or(|f| f.matches(&g.json))) {
        value.push(match &names {
            Some(names) => select(ctx, &group.json, names, GROUP_TYPE)?,
            None => group.json.clone(),
        });
    }
    let context = match &names {
        Some(names) => format!("{METADATA}#groups({})", names.join(",")),
        None => format!("{METADATA}#groups"),
    };
    Ok(Reply::json(200, page(ctx, value, &context, &GROUPS)?))
}

/// The object id an `@odata.id` names: its last segment, on any host;
/// `directoryObjects('id')` works too.
fn referenced_id(reference: &str) -> Option<String> {
    let last = reference.trim().trim_end_matches('/').rsplit('/').next()?;
    let id = match last.split_once('(') {
        Some((_, key)) => key.trim_end_matches(')').trim_matches('\''),
        None => last,
    };
    (!id.is_empty()).then(|| id.to_owned())
}

pub fn add_member(graph: &mut GraphState, ctx: &Ctx, group: &str) -> Result<Reply, Reply> {
    let index = graph.group_index(group).ok_or_else(|| missing(ctx, group))?;
    let body = ctx.json_object()?;
    let Some(member) = body.get("@odata.id").and_then(Value::as_str).and_then(referenced_id) else {
        return Err(ctx.bad_request(
            "Request_BadRequest",
            "The request body must contain '@odata.id' with a directoryObjects URL.",
        ));
    };
    // A member is a user or a group (nesting).
    let known = graph
        .user(&member)
        .and_then(|u| u["id"].as_str().map(str::to_owned))
        .or_else(|| graph.group_index(&member).map(|_| member.clone()));
    let Some(member_id) = known else { return Err(missing(ctx, &member)) };
    let members = &mut graph.groups[index].members;
    if members.iter().any(|m| m.eq_ignore_ascii_case(&member_id)) {
        return Err(ctx.bad_request(
            "Request_BadRequest",
            "One or more added object references already exist for the following modified properties: 'members'.",
        ));
    }
    members.push(member_id);
    Ok(Reply::empty(204))
}

pub fn remove_member(graph: &mut GraphState, ctx: &Ctx, group: &str, member: &str) -> Result<Reply, Reply> {
    let index = graph.group_index(group).ok_or_else(|| missing(ctx, group))?;
    let members = &mut graph.groups[index].members;
    let position = members.iter().position(|m| m.eq_ignore_ascii_case(member)).ok_or_else(|| missing(ctx, member))?;
    members.remove(position);
    Ok(Reply::empty(204))
}

pub fn list_risky(graph: &mut GraphState, ctx: &Ctx) -> Result<Reply, Reply> {
    let filter = ctx
        .param("$filter")
        .map(|text| parse_filter(text, &RISKY_FILTER))
        .transpose()
        .map_err(|reason| ctx.bad_request("BadRequest", &reason))?;
    let mut value: Vec<Value> =
        graph.risky.iter().filter(|r| filter.as_ref().is_none_or(|f| f.matches(r))).cloned().collect();
    newest_first(&mut value, "riskLastUpdatedDateTime");
    Ok(Reply::json(200, page(ctx, value, &format!("{METADATA}#identityProtection/riskyUsers"), &RISKY)?))
}

pub fn get_risky(graph: &mut GraphState, ctx: &Ctx, id: &str) -> Result<Reply, Reply> {
    let index = graph
        .risky_index(id)
        .ok_or_else(|| ctx.error(404, "NotFound", &format!("Risky user '{id}' was not found.")))?;
    let mut body = graph.risky[index].clone();
    body["@odata.context"] = json!(format!("{METADATA}#identityProtection/riskyUsers/$entity"));
    Ok(Reply::json(200, body))
}

#[derive(Clone, Copy)]
pub enum Risk {
    Confirmed,
    Dismissed,
}

/// `confirmCompromised` / `dismiss`: every id must be a known user; the
/// risky-user entry is created if the user had none.
pub fn set_risk(graph: &mut GraphState, ctx: &Ctx, risk: Risk) -> Result<Reply, Reply> {
    let body = ctx.json_object()?;
    let ids = string_list(ctx, body.get("userIds"), "userIds", 60)?;
    let mut users = Vec::new();
    for id in &ids {
        // Identity Protection takes object ids, not UPNs.
        let user = graph.users.iter().find(|u| u["id"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(id))).cloned();
        users.push(user.ok_or_else(|| missing(ctx, id))?);
    }
    let (level, state, detail) = match risk {
        Risk::Confirmed => ("high", "confirmedCompromised", "adminConfirmedUserCompromised"),
        Risk::Dismissed => ("none", "dismissed", "adminDismissedAllRiskForUser"),
    };
    for user in users {
        let id = user["id"].as_str().unwrap_or_default().to_owned();
        let index = match graph.risky_index(&id) {
            Some(index) => index,
            None => {
                graph.risky.push(json!({"id": id, "isDeleted": false, "isProcessing": false,
                    "userDisplayName": user["displayName"], "userPrincipalName": user["userPrincipalName"]}));
                graph.risky.len() - 1
            }
        };
        let entry = &mut graph.risky[index];
        entry["riskLevel"] = json!(level);
        entry["riskState"] = json!(state);
        entry["riskDetail"] = json!(detail);
        entry["riskLastUpdatedDateTime"] = json!(ctx.now);
    }
    Ok(Reply::empty(204))
}
