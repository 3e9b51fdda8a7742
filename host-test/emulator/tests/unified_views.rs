//! Unified mode over real loopback: the ARM and Graph views are one set of
//! incidents (unified-secops.md §1.2, §2.1), a change on either side shows
//! on the other, Graph comments work and are Sentinel comments too (§2.2),
//! and `$orderby` is honoured only when the option turns it on (§2.3).

use std::collections::HashSet;

use serde_json::{json, Value};

mod common;
mod unified;

use sentinel_emulator::graph_seed::BOB_UPN;
use sentinel_emulator::DEFAULT_GRAPH_ROLES;
use unified::{assert_graph_error, create, graph_id, label_names, name, start, Client};

#[tokio::test]
async fn every_arm_incident_is_a_graph_incident_with_the_same_alerts() {
    let emulator = start(|_| {}).await;
    let client = Client::new(&emulator).await;
    let list = client.arm_list(&[("$top", "1000")]).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let incidents = list.body["value"].as_array().unwrap().clone();
    assert_eq!(incidents.len(), 12);
    let mut ids = HashSet::new();
    for arm in &incidents {
        let p = &arm["properties"];
        assert_eq!(p["providerName"], "Microsoft XDR", "{arm}");
        let id = graph_id(arm);
        assert!(ids.insert(id.clone()), "one Graph id per incident");
        let url = p["additionalData"]["providerIncidentUrl"].as_str().unwrap();
        assert!(url.starts_with(&format!("https://security.microsoft.com/incidents/{id}?tid=")), "{url}");
        assert!(
            p["incidentUrl"].as_str().unwrap().starts_with("https://portal.azure.com/"),
            "incidentUrl stays Azure's"
        );

        let graph = client.graph_get(&format!("security/incidents/{id}"), &[("$expand", "alerts")]).await;
        assert_eq!(graph.status, 200, "{}", graph.body);
        let g = &graph.body;
        assert_eq!(
            (&g["displayName"], &g["incidentWebUrl"]),
            (&p["title"], &p["additionalData"]["providerIncidentUrl"])
        );
        assert_eq!(g["lastUpdateDateTime"], p["lastModifiedTimeUtc"]);
        let status = match p["status"].as_str().unwrap() {
            "New" => "active",
            "Active" => "inProgress",
            _ => "resolved",
        };
        assert_eq!(g["status"], status, "{g}");
        assert_eq!(g["severity"], p["severity"].as_str().unwrap().to_lowercase());
        let alerts = g["alerts"].as_array().unwrap();
        assert_eq!(alerts.len() as u64, p["additionalData"]["alertsCount"].as_u64().unwrap());
        let arm_alerts = client.arm("POST", &format!("/{}/alerts", name(arm)), None).await;
        let arm_ids: HashSet<&str> = arm_alerts.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["properties"]["systemAlertId"].as_str().unwrap())
            .collect();
        let graph_ids: HashSet<&str> = alerts.iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(arm_ids, graph_ids, "the same alerts on both sides");
    }
    let all = client.graph_get("security/incidents", &[("$count", "true")]).await;
    assert_eq!(all.body["@odata.count"], 12, "Graph has exactly the ARM incidents");
}

#[tokio::test]
async fn a_graph_patch_shows_in_arm_and_an_arm_put_shows_in_graph() {
    let emulator = start(|_| {}).await;
    let client = Client::new(&emulator).await;
    let arm = create(&emulator, "Phishing");
    let (id, incident) = (graph_id(&arm), name(&arm));
    let patch = json!({"status": "inProgress", "classification": "truePositive", "determination": "malware",
        "assignedTo": BOB_UPN, "customTags": ["vip"]});
    let patched = client.graph_send("PATCH", &format!("security/incidents/{id}"), &patch).await;
    assert_eq!(patched.status, 200, "{}", patched.body);

    let after = client.arm("GET", &format!("/{incident}"), None).await.body;
    let p = &after["properties"];
    assert_eq!((p["status"].as_str(), p["classification"].as_str()), (Some("Active"), Some("TruePositive")));
    assert_eq!(p["owner"]["userPrincipalName"], BOB_UPN);
    assert_eq!(p["owner"]["assignedTo"], "Bob Analyst", "the directory's display name");
    assert!(label_names(&after).contains(&"vip".to_owned()));
    assert_ne!(after["etag"], arm["etag"], "a Defender change is a new ARM version");
    assert_eq!(p["lastModifiedTimeUtc"], patched.body["lastUpdateDateTime"]);

    // The connector's GET → modify → PUT with the etag, on the ARM side.
    let mut put = json!({"etag": after["etag"], "properties": after["properties"].clone()});
    put["properties"]["severity"] = json!("High");
    put["properties"]["status"] = json!("Closed");
    put["properties"]["classification"] = json!("FalsePositive");
    put["properties"]["classificationReason"] = json!("InaccurateData");
    put["properties"]["labels"] =
        json!([{"labelName": "vip", "labelType": "User"}, {"labelName": "closed-by-soar", "labelType": "User"}]);
    let answer = client.arm("PUT", &format!("/{incident}"), Some(&put)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let graph = client.graph_get(&format!("security/incidents/{id}"), &[]).await.body;
    assert_eq!((graph["status"].as_str(), graph["severity"].as_str()), (Some("resolved"), Some("high")));
    assert_eq!(
        (graph["classification"].as_str(), graph["determination"].as_str()),
        (Some("falsePositive"), Some("notEnoughDataToValidate"))
    );
    assert_eq!(graph["customTags"], json!(["vip", "closed-by-soar"]));
    assert_eq!(graph["assignedTo"], BOB_UPN);
    assert_eq!(graph["lastUpdateDateTime"], answer.body["properties"]["lastModifiedTimeUtc"]);
}

#[tokio::test]
async fn graph_comments_answer_the_whole_list_and_are_sentinel_comments() {
    let emulator = start(|_| {}).await;
    let mut client = Client::new(&emulator).await;
    let arm = create(&emulator, "Commented");
    let (id, incident) = (graph_id(&arm), name(&arm));
    let body = |text: &str| json!({"@odata.type": "microsoft.graph.security.alertComment", "comment": text});
    let first = client.graph_send("POST", &format!("security/incidents/{id}/comments"), &body("first")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let arm_comment = json!({"properties": {"message": "from sentinel"}});
    let put = client.arm("PUT", &format!("/{incident}/comments/c1"), Some(&arm_comment)).await;
    assert_eq!(put.status, 201, "{}", put.body);
    let second = client.graph_send("POST", &format!("security/incidents/{id}/comments"), &body("second")).await;
    let texts: Vec<&str> =
        second.body["value"].as_array().unwrap().iter().map(|c| c["comment"].as_str().unwrap()).collect();
    assert_eq!(texts, ["first", "from sentinel", "second"], "{}", second.body);
    for comment in second.body["value"].as_array().unwrap() {
        assert!(comment["createdByDisplayName"].is_string() && comment["createdDateTime"].is_string(), "{comment}");
    }
    let messages: Vec<String> =
        emulator.comments(&incident).iter().map(|c| c["properties"]["message"].as_str().unwrap().to_owned()).collect();
    assert_eq!(messages, ["first", "from sentinel", "second"]);
    assert_eq!(emulator.incident(&incident).unwrap()["properties"]["additionalData"]["commentsCount"], 3);

    let alert = emulator.graph_alerts().into_iter().find(|a| a["incidentId"] == id.as_str()).unwrap();
    let alert_path = format!("security/alerts_v2/{}/comments", alert["id"].as_str().unwrap());
    let on_alert = client.graph_send("POST", &alert_path, &body("alert note")).await;
    assert_eq!(on_alert.status, 200, "{}", on_alert.body);
    assert_eq!(on_alert.body["value"][0]["comment"], "alert note");
    assert_graph_error(&client.graph_send("POST", &alert_path, &json!({"comment": ""})).await, 400, "BadRequest");

    // Reading is not enough to comment.
    let read_only = ["SecurityIncident.Read.All", "SecurityAlert.Read.All"].map(String::from).to_vec();
    emulator.set_graph_roles(read_only);
    client.renew_graph(&emulator).await;
    let refused = client.graph_send("POST", &format!("security/incidents/{id}/comments"), &body("x")).await;
    assert_graph_error(&refused, 403, "Authorization_RequestDenied");
    assert_graph_error(&client.graph_send("POST", &alert_path, &body("x")).await, 403, "Authorization_RequestDenied");
}

#[tokio::test]
async fn default_mode_graph_comments_and_unchanged_providers() {
    let emulator = sentinel_emulator::Emulator::start(sentinel_emulator::EmulatorOptions::default()).await.unwrap();
    let client = Client::new(&emulator).await;
    assert!(emulator.incidents().iter().all(|i| i["properties"]["providerName"] == "Azure Sentinel"));
    let id = emulator.graph_incidents()[0]["id"].as_str().unwrap().to_owned();
    let answer =
        client.graph_send("POST", &format!("security/incidents/{id}/comments"), &json!({"comment": "noted"})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["value"].as_array().unwrap().last().unwrap()["comment"], "noted");
    assert!(DEFAULT_GRAPH_ROLES.contains(&"SecurityIncident.ReadWrite.All"));
}

#[tokio::test]
async fn orderby_is_ignored_unless_the_option_turns_it_on() {
    let times = |answer: &Value, field: &str| -> Vec<String> {
        answer["value"].as_array().unwrap().iter().map(|i| i[field].as_str().unwrap().to_owned()).collect()
    };
    let query = [("$orderby", "lastUpdateDateTime asc"), ("$top", "50")];
    let plain = start(|_| {}).await;
    let client = Client::new(&plain).await;
    let ignored = client.graph_get("security/incidents", &query).await;
    let unordered = client.graph_get("security/incidents", &[("$top", "50")]).await;
    assert_eq!(ignored.body["value"], unordered.body["value"], "$orderby is ignored");
    let created = times(&ignored.body, "createdDateTime");
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest created first");
    let updated = times(&ignored.body, "lastUpdateDateTime");
    assert!(!updated.windows(2).all(|w| w[0] <= w[1]), "not by lastUpdateDateTime: a poller must not rely on it");

    let ordered = start(|o| o.graph_orderby = true).await;
    let client = Client::new(&ordered).await;
    let answer = client.graph_get("security/incidents", &query).await;
    let updated = times(&answer.body, "lastUpdateDateTime");
    assert!(updated.windows(2).all(|w| w[0] <= w[1]), "{updated:?}");
    assert_graph_error(&client.graph_get("security/incidents", &[("$orderby", "severity")]).await, 400, "BadRequest");
}

#[tokio::test]
async fn graph_filters_and_pages_the_unified_incidents() {
    let emulator = start(|o| o.incidents = 30).await;
    let client = Client::new(&emulator).await;
    let cutoff = "2026-05-20T00:00:00Z";
    let expected: HashSet<String> = emulator
        .graph_incidents()
        .iter()
        .filter(|i| i["lastUpdateDateTime"].as_str().unwrap() >= cutoff && i["status"] != "resolved")
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    let filter = format!("lastUpdateDateTime ge {cutoff} and status ne 'resolved'");
    let mut answer = client.graph_get("security/incidents", &[("$filter", &filter), ("$top", "4")]).await;
    let mut seen = HashSet::new();
    loop {
        assert_eq!(answer.status, 200, "{}", answer.body);
        for incident in answer.body["value"].as_array().unwrap() {
            assert!(seen.insert(incident["id"].as_str().unwrap().to_owned()), "no incident twice");
        }
        let Some(next) = answer.body["@odata.nextLink"].as_str() else { break };
        answer = common::send("GET", next, &[("authorization", &client.graph)], "").await;
    }
    assert_eq!(seen, expected);
    assert!(!expected.is_empty());
}
