//! HTTP-level tests of the emulator's Microsoft Graph v1.0 endpoints over
//! real loopback, checked against the contract (shared/docs/azure-api.md §3,
//! §3.5) and Microsoft's example payloads in tests/fixtures/azure-specs/graph.

use std::collections::HashSet;

use serde_json::{json, Value};

mod common;

use common::{jwt_claims, send, token, Answer};
use sentinel_emulator::graph_seed::{
    tier0_group_id, ALICE_ID, ALICE_UPN, BOB_ID, BREAK_GLASS_GROUP_ID, BREAK_GLASS_GROUP_NAME, CAROL_ID, DAVE_ID,
    EVE_ID, FIRST_INCIDENT_ID, GUEST_ID, GUEST_UPN, HIDDEN_GROUP_ID, HIDDEN_GROUP_NAME, INCIDENT_COUNT,
    QUARANTINE_GROUP_ID, SOC_GROUP_ID, TIER0_GROUP_COUNT,
};
use sentinel_emulator::{Emulator, EmulatorOptions, Injection, ARM_SCOPE, DEFAULT_GRAPH_ROLES, GRAPH_SCOPE};

const INCIDENT_UPDATE_REQUEST: &str =
    include_str!("../../../tests/fixtures/azure-specs/graph/security-incident-update.request.json");
const INCIDENT_UPDATE_RESPONSE: &str =
    include_str!("../../../tests/fixtures/azure-specs/graph/security-incident-update.response.json");
const HUNTING_REQUEST: &str =
    include_str!("../../../tests/fixtures/azure-specs/graph/security-runhuntingquery.example1.request.json");
const HUNTING_RESPONSE: &str =
    include_str!("../../../tests/fixtures/azure-specs/graph/security-runhuntingquery.example1.response.json");
const REVOKE_RESPONSE: &str =
    include_str!("../../../tests/fixtures/azure-specs/graph/user-revokesigninsessions.response.json");
const ALERTS_RESPONSE: &str =
    include_str!("../../../tests/fixtures/azure-specs/graph/security-list-alerts_v2.response.json");

async fn start() -> Emulator {
    let options = EmulatorOptions {
        seed: 11,
        anchor: Some("2026-06-01T00:00:00Z".parse().unwrap()),
        ..EmulatorOptions::default()
    };
    Emulator::start(options).await.expect("the emulator starts")
}

/// A Graph client: the emulator's URL and a Graph token.
struct Graph {
    base: String,
    bearer: String,
}

impl Graph {
    async fn new(emulator: &Emulator) -> Graph {
        Graph { base: emulator.url(), bearer: format!("Bearer {}", token(emulator, GRAPH_SCOPE).await) }
    }

    /// `{base}/v1.0/{path}` with the query pairs, percent-encoded.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&format!("{}/v1.0/{path}", self.base)).expect("a valid URL");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url.to_string()
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.get_url(&self.url(path, query)).await
    }

    async fn get_url(&self, url: &str) -> Answer {
        send("GET", url, &[("authorization", &self.bearer)], "").await
    }

    async fn write(&self, method: &str, path: &str, body: &Value) -> Answer {
        let headers = [("authorization", self.bearer.as_str()), ("content-type", "application/json")];
        send(method, &self.url(path, &[]), &headers, &body.to_string()).await
    }
}

/// A Graph error with `code`, and the `innerError` Graph always adds.
fn assert_graph_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let error = &answer.body["error"];
    assert_eq!(error["code"], code, "{}", answer.body);
    assert!(error["message"].is_string(), "{}", answer.body);
    for key in ["date", "request-id", "client-request-id"] {
        assert!(error["innerError"][key].is_string(), "innerError.{key}: {}", answer.body);
    }
}

// ---------------------------------------------------------------------------
// Authentication and authorization
// ---------------------------------------------------------------------------

#[tokio::test]
async fn graph_refuses_missing_unknown_and_wrong_audience_tokens() {
    let emulator = start().await;
    let url = format!("{}/v1.0/security/incidents", emulator.url());
    let missing = send("GET", &url, &[], "").await;
    assert_graph_error(&missing, 401, "InvalidAuthenticationToken");
    assert_eq!(missing.body["error"]["message"], "Access token is empty.");
    let unknown = send("GET", &url, &[("authorization", "Bearer not-a-token")], "").await;
    assert_graph_error(&unknown, 401, "InvalidAuthenticationToken");

    let arm = format!("Bearer {}", token(&emulator, ARM_SCOPE).await);
    let wrong = send("GET", &url, &[("authorization", &arm)], "").await;
    assert_graph_error(&wrong, 401, "InvalidAuthenticationToken");
    assert_eq!(wrong.body["error"]["message"], "Access token validation failure. Invalid audience.");
    assert!(wrong.headers.get("request-id").is_some(), "Graph answers carry a request-id");

    let graph = Graph::new(&emulator).await;
    assert_eq!(graph.get("security/incidents", &[]).await.status, 200);
}

#[tokio::test]
async fn a_token_without_the_role_is_refused_with_403() {
    let emulator = start().await;
    let before = Graph::new(&emulator).await;
    let roles: Vec<String> =
        DEFAULT_GRAPH_ROLES.iter().filter(|r| **r != "User.EnableDisableAccount.All").map(|r| r.to_string()).collect();
    emulator.set_graph_roles(roles);
    let limited = Graph::new(&emulator).await;
    let claims = jwt_claims(limited.bearer.trim_start_matches("Bearer "));
    assert!(!claims["roles"].as_array().unwrap().contains(&json!("User.EnableDisableAccount.All")), "{claims}");

    let headers = [
        ("authorization", limited.bearer.as_str()),
        ("content-type", "application/json"),
        ("client-request-id", "6f0e3b1c-1111-4222-8333-944455556666"),
    ];
    let answer =
        send("PATCH", &limited.url(&format!("users/{ALICE_ID}"), &[]), &headers, r#"{"accountEnabled":false}"#).await;
    assert_graph_error(&answer, 403, "Authorization_RequestDenied");
    assert_eq!(answer.body["error"]["message"], "Insufficient privileges to complete the operation.");
    assert_eq!(answer.body["error"]["innerError"]["client-request-id"], "6f0e3b1c-1111-4222-8333-944455556666");
    assert_eq!(emulator.graph_user(ALICE_ID).unwrap()["accountEnabled"], true, "nothing changed");
    // Reading users needs User.Read.All, which the limited token still has.
    assert_eq!(limited.get(&format!("users/{ALICE_ID}"), &[]).await.status, 200);

    // A token issued before the change keeps its roles.
    let answer = before.write("PATCH", &format!("users/{ALICE_ID}"), &json!({"accountEnabled": false})).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
}

#[tokio::test]
async fn read_write_roles_include_read() {
    let emulator = start().await;
    emulator.set_graph_roles(vec!["SecurityIncident.ReadWrite.All".into()]);
    let graph = Graph::new(&emulator).await;
    assert_eq!(graph.get("security/incidents", &[]).await.status, 200);
    assert_graph_error(&graph.get("security/alerts_v2", &[]).await, 403, "Authorization_RequestDenied");
}

// ---------------------------------------------------------------------------
// Security incidents and alerts
// ---------------------------------------------------------------------------

#[tokio::test]
async fn incident_paging_returns_every_incident_once_newest_first() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let mut answer = graph.get("security/incidents", &[("$top", "10"), ("$count", "true")]).await;
    assert_eq!(answer.body["@odata.count"], INCIDENT_COUNT);
    let mut ids = Vec::new();
    let mut times = Vec::new();
    let mut pages = 0;
    loop {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["@odata.context"], "https://graph.microsoft.com/v1.0/$metadata#security/incidents");
        pages += 1;
        for incident in answer.body["value"].as_array().unwrap() {
            ids.push(incident["id"].as_str().unwrap().to_owned());
            times.push(incident["createdDateTime"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap());
        }
        let Some(next) = answer.body["@odata.nextLink"].as_str() else { break };
        assert!(
            next.starts_with(&format!("{}/v1.0/security/incidents?", emulator.url())),
            "same host and port: {next}"
        );
        assert!(next.contains("%24skiptoken=") || next.contains("$skiptoken="), "{next}");
        answer = graph.get_url(next).await;
    }
    assert_eq!(pages, 5);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (INCIDENT_COUNT, INCIDENT_COUNT), "every id exactly once");
    let expected: HashSet<String> = (0..INCIDENT_COUNT as u64).map(|i| (FIRST_INCIDENT_ID + i).to_string()).collect();
    assert_eq!(unique.into_iter().cloned().collect::<HashSet<_>>(), expected);
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "createdDateTime descending");
}

#[tokio::test]
async fn incident_filter_top_and_expand_follow_the_contract() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let active = emulator.graph_incidents().iter().filter(|i| i["status"] == "active").count();
    let mut seen = 0;
    let mut answer = graph
        .get(
            "security/incidents",
            &[
                ("$filter", "status eq 'Active' and createdDateTime ge 2024-01-01T00:00:00Z"),
                ("$top", "3"),
                ("$expand", "alerts"),
            ],
        )
        .await;
    loop {
        assert_eq!(answer.status, 200, "{}", answer.body);
        for incident in answer.body["value"].as_array().unwrap() {
            assert_eq!(incident["status"], "active");
            let alerts = incident["alerts"].as_array().expect("alerts expanded");
            assert!((1..=3).contains(&alerts.len()));
            assert!(alerts.iter().all(|a| a["incidentId"] == incident["id"]));
            seen += 1;
        }
        let Some(next) = answer.body["@odata.nextLink"].as_str() else { break };
        answer = graph.get_url(next).await;
    }
    assert_eq!(seen, active, "the filter and $expand survive paging");

    let bad_top = graph.get("security/incidents", &[("$top", "51")]).await;
    assert_graph_error(&bad_top, 400, "invalidRequest");
    assert!(bad_top.body["error"]["message"].as_str().unwrap().contains("$top"));
    assert_graph_error(&graph.get("security/incidents", &[("$filter", "owner eq 'x'")]).await, 400, "BadRequest");
    assert_graph_error(&graph.get("security/incidents/1", &[]).await, 404, "NotFound");
}

#[tokio::test]
async fn patching_an_incident_stores_camel_case_enums() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let id = FIRST_INCIDENT_ID.to_string();
    let before = emulator.graph_incident(&id).unwrap();
    let request: Value = serde_json::from_str(INCIDENT_UPDATE_REQUEST).unwrap();
    let answer = graph.write("PATCH", &format!("security/incidents/{id}"), &request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["classification"], "truePositive");
    assert_eq!(answer.body["determination"], "multiStagedAttack");
    assert_eq!(answer.body["customTags"], json!(["Demo"]));
    assert_ne!(answer.body["lastUpdateDateTime"], before["lastUpdateDateTime"]);
    let fixture: Value = serde_json::from_str(INCIDENT_UPDATE_RESPONSE).unwrap();
    for key in fixture.as_object().unwrap().keys().filter(|k| !k.starts_with('@')) {
        assert!(answer.body.get(key).is_some(), "the answer has the fixture's '{key}': {}", answer.body);
    }
    let stored = emulator.graph_incident(&id).unwrap();
    assert_eq!(
        (stored["classification"].as_str(), stored["determination"].as_str()),
        (Some("truePositive"), Some("multiStagedAttack"))
    );

    let answer = graph
        .write("PATCH", &format!("security/incidents/{id}"), &json!({"status": "RESOLVED", "assignedTo": null}))
        .await;
    assert_eq!((answer.status, answer.body["status"].as_str()), (200, Some("resolved")));
    assert!(answer.body["assignedTo"].is_null());

    let bad = graph.write("PATCH", &format!("security/incidents/{id}"), &json!({"status": "closed"})).await;
    assert_graph_error(&bad, 400, "BadRequest");
    assert!(bad.body["error"]["message"].as_str().unwrap().contains("Invalid value 'closed' for property 'status'"));
    assert_graph_error(
        &graph.write("PATCH", &format!("security/incidents/{id}"), &json!({"severity": "high"})).await,
        400,
        "BadRequest",
    );
    let no_type = send(
        "PATCH",
        &graph.url(&format!("security/incidents/{id}"), &[]),
        &[("authorization", &graph.bearer)],
        r#"{"status":"active"}"#,
    )
    .await;
    assert_eq!(no_type.status, 415, "{}", no_type.body);
    assert_eq!(emulator.graph_incident(&id).unwrap()["status"], "resolved", "refused changes change nothing");
}

#[tokio::test]
async fn alerts_look_like_the_example_and_can_be_updated() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let answer = graph
        .get("security/alerts_v2", &[("$filter", "serviceSource eq 'microsoftDefenderForEndpoint'"), ("$top", "2000")])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let alerts = answer.body["value"].as_array().unwrap();
    assert!(!alerts.is_empty() && alerts.iter().all(|a| a["serviceSource"] == "microsoftDefenderForEndpoint"));
    let fixture: Value = serde_json::from_str(ALERTS_RESPONSE).unwrap();
    let alert = &alerts[0];
    for key in fixture["value"][0].as_object().unwrap().keys() {
        assert!(alert.get(key).is_some(), "the alert has the fixture's '{key}'");
    }
    assert!(alert["id"].as_str().unwrap().starts_with("da6375"));
    let user_evidence = alert["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["@odata.type"] == "#microsoft.graph.security.userEvidence")
        .expect("user evidence");
    let upn = user_evidence["userAccount"]["userPrincipalName"].as_str().unwrap();
    assert!(emulator.graph_user(upn).is_some(), "the evidence names a seeded user: {upn}");
    assert!(emulator.graph_incident(alert["incidentId"].as_str().unwrap()).is_some());

    let id = alert["id"].as_str().unwrap();
    let answer = graph
        .write(
            "PATCH",
            &format!("security/alerts_v2/{id}"),
            &json!({"status": "Resolved", "determination": "NotEnoughDataToValidate"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(emulator.graph_alert(id).unwrap()["determination"], "notEnoughDataToValidate");
    assert_eq!(graph.get(&format!("security/alerts_v2/{id}"), &[]).await.body["status"], "resolved");
    assert_graph_error(
        &graph.write("PATCH", &format!("security/alerts_v2/{id}"), &json!({"status": "active"})).await,
        400,
        "BadRequest",
    );
}

#[tokio::test]
async fn hunting_queries_answer_a_typed_schema() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let request: Value = serde_json::from_str(HUNTING_REQUEST).unwrap();
    let answer = graph.write("POST", "security/runHuntingQuery", &request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let fixture: Value = serde_json::from_str(HUNTING_RESPONSE).unwrap();
    assert_eq!(answer.body["@odata.context"], fixture["@odata.context"]);
    assert_eq!(answer.body["schema"], fixture["schema"], "same columns and types as Microsoft's example");
    let results = answer.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["InitiatingProcessFileName"] == "powershell.exe"));

    let query = json!({"query": "DeviceProcessEvents | where FileName =~ 'CMD.EXE' | project DeviceName, ProcessId | take 3", "timespan": "P30D"});
    let answer = graph.write("POST", "security/runHuntingQuery", &query).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["schema"],
        json!([{"name": "DeviceName", "type": "String"}, {"name": "ProcessId", "type": "Int64"}])
    );
    assert!(answer.body["results"].as_array().unwrap().iter().all(|r| r["ProcessId"].is_i64()), "Int64 as numbers");

    let unknown = graph.write("POST", "security/runHuntingQuery", &json!({"Query": "NoSuchTable | take 1"})).await;
    assert_graph_error(&unknown, 400, "BadRequest");
    assert_eq!(unknown.body["error"]["message"], "Failed to resolve table or column expression named 'NoSuchTable'");
    assert_graph_error(
        &graph.write("POST", "security/runHuntingQuery", &json!({"Timespan": "P1D"})).await,
        400,
        "BadRequest",
    );
}

// ---------------------------------------------------------------------------
// Users, groups, risky users
// ---------------------------------------------------------------------------

#[tokio::test]
async fn users_by_id_or_upn_with_select_and_disable() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let answer = graph.get(&format!("users/{}", ALICE_UPN.to_uppercase()), &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!((answer.body["id"].as_str(), answer.body["userType"].as_str()), (Some(ALICE_ID), Some("Member")));
    let guest = graph.get(&format!("users/{}", GUEST_UPN.replace('#', "%23")), &[("$select", "id,userType")]).await;
    assert_eq!(guest.status, 200, "{}", guest.body);
    assert_eq!(guest.body.as_object().unwrap().len(), 3, "only the selection and @odata.context: {}", guest.body);
    assert_eq!((guest.body["id"].as_str(), guest.body["userType"].as_str()), (Some(GUEST_ID), Some("Guest")));
    let unknown = graph.get("users/nobody@contoso.onmicrosoft.com", &[]).await;
    assert_graph_error(&unknown, 404, "Request_ResourceNotFound");

    let answer = graph.write("PATCH", &format!("users/{BOB_ID}"), &json!({"accountEnabled": false})).await;
    assert_eq!((answer.status, &answer.body), (204, &Value::Null));
    assert_eq!(emulator.graph_user(BOB_ID).unwrap()["accountEnabled"], false);
    assert_graph_error(
        &graph.write("PATCH", &format!("users/{BOB_ID}"), &json!({"jobTitle": "x"})).await,
        400,
        "Request_BadRequest",
    );
}

#[tokio::test]
async fn revoking_sessions_answers_the_documented_body() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let before = emulator.graph_user(CAROL_ID).unwrap()["signInSessionsValidFromDateTime"].clone();
    let answer = send(
        "POST",
        &graph.url(&format!("users/{CAROL_ID}/revokeSignInSessions"), &[]),
        &[("authorization", &graph.bearer)],
        "",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, serde_json::from_str::<Value>(REVOKE_RESPONSE).unwrap());
    assert_ne!(emulator.graph_user(CAROL_ID).unwrap()["signInSessionsValidFromDateTime"], before);
}

#[tokio::test]
async fn group_membership_by_ref() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let answer = graph
        .get(
            "groups",
            &[("$filter", &format!("displayName eq '{BREAK_GLASS_GROUP_NAME}'")), ("$select", "id,displayName")],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["value"], json!([{"id": BREAK_GLASS_GROUP_ID, "displayName": BREAK_GLASS_GROUP_NAME}]));

    let reference = json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{DAVE_ID}")});
    let path = format!("groups/{QUARANTINE_GROUP_ID}/members/$ref");
    assert_eq!(graph.write("POST", &path, &reference).await.status, 204);
    assert_eq!(emulator.group_members(QUARANTINE_GROUP_ID), vec![DAVE_ID.to_owned()]);
    let again = graph.write("POST", &path, &reference).await;
    assert_graph_error(&again, 400, "Request_BadRequest");
    assert_eq!(
        again.body["error"]["message"],
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    let nobody =
        json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/00000000-0000-0000-0000-000000000000"});
    assert_graph_error(&graph.write("POST", &path, &nobody).await, 404, "Request_ResourceNotFound");

    let check = graph
        .write(
            "POST",
            &format!("users/{DAVE_ID}/checkMemberGroups"),
            &json!({"groupIds": [QUARANTINE_GROUP_ID, SOC_GROUP_ID]}),
        )
        .await;
    assert_eq!(check.status, 200, "{}", check.body);
    assert_eq!(check.body["value"], json!([QUARANTINE_GROUP_ID]));

    // `$ref` may arrive percent-encoded.
    let delete = format!("{}/v1.0/groups/{QUARANTINE_GROUP_ID}/members/{DAVE_ID}/%24ref", emulator.url());
    assert_eq!(send("DELETE", &delete, &[("authorization", &graph.bearer)], "").await.status, 204);
    assert!(emulator.group_members(QUARANTINE_GROUP_ID).is_empty());
    assert_graph_error(
        &send("DELETE", &delete, &[("authorization", &graph.bearer)], "").await,
        404,
        "Request_ResourceNotFound",
    );
    assert_eq!(emulator.group_members(SOC_GROUP_ID), vec![BOB_ID.to_owned(), CAROL_ID.to_owned()]);
}

#[tokio::test]
async fn groups_serve_their_visibility_by_id_and_by_name() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let hidden = graph.get(&format!("groups/{HIDDEN_GROUP_ID}"), &[("$select", "id,displayName,visibility")]).await;
    assert_eq!(hidden.status, 200, "{}", hidden.body);
    assert_eq!(
        (hidden.body["displayName"].as_str(), hidden.body["visibility"].as_str()),
        (Some(HIDDEN_GROUP_NAME), Some("HiddenMembership"))
    );
    assert_eq!(
        hidden.body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#groups(id,displayName,visibility)/$entity"
    );
    let security = graph.get(&format!("groups/{}", BREAK_GLASS_GROUP_ID.to_uppercase()), &[]).await;
    assert_eq!(security.status, 200, "{}", security.body);
    assert!(
        security.body.as_object().unwrap().contains_key("visibility") && security.body["visibility"].is_null(),
        "{}",
        security.body
    );
    let by_name = graph
        .get(
            "groups",
            &[("$filter", &format!("displayName eq '{HIDDEN_GROUP_NAME}'")), ("$select", "id,displayName,visibility")],
        )
        .await;
    assert_eq!(
        by_name.body["value"],
        json!([{"id": HIDDEN_GROUP_ID, "displayName": HIDDEN_GROUP_NAME, "visibility": "HiddenMembership"}])
    );
    assert_graph_error(
        &graph.get("groups/00000000-0000-4000-8000-000000000000", &[]).await,
        404,
        "Request_ResourceNotFound",
    );
}

#[tokio::test]
async fn check_member_groups_takes_twenty_ids_and_leaves_hidden_membership_out() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let check = |ids: Vec<String>| json!({"groupIds": ids});
    let tier0: Vec<String> = (1..=TIER0_GROUP_COUNT).map(tier0_group_id).collect();
    assert!(tier0.len() > 20);
    let too_many =
        graph.write("POST", &format!("users/{ALICE_ID}/checkMemberGroups"), &check(tier0[..21].to_vec())).await;
    assert_graph_error(&too_many, 400, "Request_BadRequest");
    let last = graph.write("POST", &format!("users/{ALICE_ID}/checkMemberGroups"), &check(tier0[20..].to_vec())).await;
    assert_eq!(last.status, 200, "{}", last.body);
    assert_eq!(
        last.body["value"],
        json!([tier0_group_id(TIER0_GROUP_COUNT)]),
        "Alice is in the last tier-0 group through Break Glass Admins"
    );

    // Eve is a member of the hidden-membership group: without Member.Read.Hidden it is left out.
    let asked = check(vec![HIDDEN_GROUP_ID.into(), SOC_GROUP_ID.into()]);
    let without = graph.write("POST", &format!("users/{EVE_ID}/checkMemberGroups"), &asked).await;
    assert_eq!((without.status, &without.body["value"]), (200, &json!([])), "{}", without.body);
    let mut roles: Vec<String> = DEFAULT_GRAPH_ROLES.iter().map(|r| r.to_string()).collect();
    assert!(!roles.iter().any(|r| r == "Member.Read.Hidden"), "the default token lacks it");
    roles.push("Member.Read.Hidden".into());
    emulator.set_graph_roles(roles);
    let hidden_reader = Graph::new(&emulator).await;
    let with = hidden_reader.write("POST", &format!("users/{EVE_ID}/checkMemberGroups"), &asked).await;
    assert_eq!(with.body["value"], json!([HIDDEN_GROUP_ID]), "{}", with.body);
}

#[tokio::test]
async fn confirming_and_dismissing_risky_users() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let high = graph.get("identityProtection/riskyUsers", &[("$filter", "riskLevel eq 'high'")]).await;
    assert_eq!(high.status, 200, "{}", high.body);
    assert_eq!(
        high.body["value"].as_array().unwrap().iter().map(|r| r["id"].clone()).collect::<Vec<_>>(),
        vec![json!(EVE_ID)]
    );

    let answer = graph
        .write("POST", "identityProtection/riskyUsers/confirmCompromised", &json!({"userIds": [ALICE_ID, DAVE_ID]}))
        .await;
    assert_eq!((answer.status, &answer.body), (204, &Value::Null));
    for id in [ALICE_ID, DAVE_ID] {
        let risky = emulator.risky_user(id).expect("a risky-user entry");
        assert_eq!(
            (risky["riskLevel"].as_str(), risky["riskState"].as_str()),
            (Some("high"), Some("confirmedCompromised"))
        );
        assert_eq!(risky["riskDetail"], "adminConfirmedUserCompromised");
    }
    assert_eq!(
        graph.write("POST", "identityProtection/riskyUsers/dismiss", &json!({"userIds": [EVE_ID]})).await.status,
        204
    );
    assert_eq!(emulator.risky_user(EVE_ID).unwrap()["riskState"], "dismissed");
    let unknown = graph
        .write(
            "POST",
            "identityProtection/riskyUsers/dismiss",
            &json!({"userIds": ["00000000-0000-0000-0000-000000000000"]}),
        )
        .await;
    assert_graph_error(&unknown, 404, "Request_ResourceNotFound");
    assert_graph_error(
        &graph.write("POST", "identityProtection/riskyUsers/dismiss", &json!({"userIds": []})).await,
        400,
        "Request_BadRequest",
    );
}

// ---------------------------------------------------------------------------
// Unknown paths, methods and injections
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unknown_paths_methods_and_injections() {
    let emulator = start().await;
    let graph = Graph::new(&emulator).await;
    let unknown = graph.get("security/nothingHere", &[]).await;
    assert_graph_error(&unknown, 400, "BadRequest");
    assert_eq!(unknown.body["error"]["message"], "Resource not found for the segment 'nothingHere'.");
    let method = send("DELETE", &graph.url("security/incidents", &[]), &[("authorization", &graph.bearer)], "").await;
    assert_eq!(method.status, 405, "{}", method.body);

    emulator.inject(Injection {
        method: Some("GET".into()),
        path_contains: "/v1.0/security/incidents".into(),
        times: 1,
        status: 429,
        headers: vec![("retry-after".into(), "2".into())],
        body: r#"{"error":{"code":"TooManyRequests","message":"Too many requests"}}"#.into(),
    });
    let throttled = graph.get("security/incidents", &[]).await;
    assert_eq!(
        (throttled.status, throttled.headers.get("retry-after").and_then(|v| v.to_str().ok())),
        (429, Some("2"))
    );
    assert_eq!(graph.get("security/incidents", &[]).await.status, 200);
}
