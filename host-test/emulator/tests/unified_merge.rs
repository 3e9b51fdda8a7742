//! Defender-style merges in unified mode (unified-secops.md §1.1, §2.2):
//! through Graph `mergeIncidents`, the admin endpoint and `Emulator::merge`,
//! what a poller or playbook sees on both sides, chains, and the no-merge
//! rules.

use std::collections::HashSet;

use serde_json::{json, Value};

mod common;
mod unified;

use common::send;
use sentinel_emulator::graph_seed::{BOB_UPN, CAROL_UPN};
use sentinel_emulator::{MergeError, Mutation, DEFAULT_GRAPH_ROLES};
use unified::{assert_graph_error, create, graph_id, label_names, name, start, Client};

fn tag(emulator: &sentinel_emulator::Emulator, arm: &Value, labels: Value) {
    let properties = json!({"labels": labels}).as_object().unwrap().clone();
    emulator.apply(Mutation::Update { name: name(arm), properties, modified_at: None }).unwrap();
}

fn alert_ids(emulator: &sentinel_emulator::Emulator, id: &str) -> HashSet<String> {
    let alerts = emulator.graph_alerts();
    alerts.iter().filter(|a| a["incidentId"] == id).map(|a| a["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn graph_merge_incidents_moves_alerts_and_tags_and_redirects_the_source() {
    let emulator = start(|_| {}).await;
    let mut client = Client::new(&emulator).await;
    let older = create(&emulator, "Older");
    let newer = create(&emulator, "Newer");
    tag(&emulator, &newer, json!([{"labelName": "vip", "labelType": "User"}]));
    let put = json!({"properties": {"message": "kept on the source"}});
    assert_eq!(client.arm("PUT", &format!("/{}/comments/c1", name(&newer)), Some(&put)).await.status, 201);
    let (target, source) = (graph_id(&older), graph_id(&newer));
    let moved: HashSet<String> = alert_ids(&emulator, &source).union(&alert_ids(&emulator, &target)).cloned().collect();
    let before_source = emulator.incident(&name(&newer)).unwrap();
    let before_target = emulator.incident(&name(&older)).unwrap();
    emulator.advance(std::time::Duration::from_secs(60));

    let body =
        json!({"incidentIds": [source, target], "incidentComment": "same campaign", "mergeReasons": "sameCampaign"});
    let refused = client.graph_send("POST", "security/incidents/mergeIncidents", &body).await;
    assert_graph_error(&refused, 403, "Authorization_RequestDenied");
    let mut roles: Vec<String> = DEFAULT_GRAPH_ROLES.iter().map(|r| r.to_string()).collect();
    roles.push("SecurityData.Manage.All".into());
    emulator.set_graph_roles(roles);
    client.renew_graph(&emulator).await;
    let merged = client.graph_send("POST", "security/incidents/mergeIncidents", &body).await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(merged.body["targetIncidentId"], target.as_str(), "Defender picks the older incident");

    // ARM: the source is closed and labelled Redirected; its alerts and tags are on the target.
    let src = client.arm("GET", &format!("/{}", name(&newer)), None).await.body;
    assert_eq!(src["properties"]["status"], "Closed");
    assert_eq!(label_names(&src), ["Redirected"]);
    assert_eq!(src["properties"]["additionalData"]["alertsCount"], 0);
    assert_ne!(src["etag"], before_source["etag"]);
    assert!(
        src["properties"]["lastModifiedTimeUtc"].as_str() > before_source["properties"]["lastModifiedTimeUtc"].as_str()
    );
    let tgt = client.arm("GET", &format!("/{}", name(&older)), None).await.body;
    assert_eq!(tgt["properties"]["status"], "New");
    assert_eq!(tgt["properties"]["additionalData"]["alertsCount"], moved.len());
    assert!(label_names(&tgt).contains(&"vip".to_owned()));
    assert_ne!(tgt["etag"], before_target["etag"]);
    assert!(
        tgt["properties"]["lastModifiedTimeUtc"].as_str() > before_target["properties"]["lastModifiedTimeUtc"].as_str()
    );
    let arm_alerts = client.arm("POST", &format!("/{}/alerts", name(&older)), None).await.body;
    let arm_alerts: HashSet<String> =
        arm_alerts["value"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(arm_alerts, moved);
    let source_comments: Vec<Value> = emulator.comments(&name(&newer));
    assert_eq!(source_comments.len(), 1, "comments stay on the source");
    let target_comments = emulator.comments(&name(&older));
    assert_eq!(target_comments[0]["properties"]["message"], "same campaign");

    // Graph: redirected to the target, which has every alert.
    let graph_src = client.graph_get(&format!("security/incidents/{source}"), &[]).await.body;
    assert_eq!(
        (graph_src["status"].as_str(), graph_src["redirectIncidentId"].as_str()),
        (Some("redirected"), Some(target.as_str()))
    );
    let graph_tgt = client.graph_get(&format!("security/incidents/{target}"), &[("$expand", "alerts")]).await.body;
    assert_eq!(graph_tgt["alerts"].as_array().unwrap().len(), moved.len());
    assert_eq!(graph_tgt["customTags"], json!(["vip"]));
    let redirected = client.graph_get("security/incidents", &[("$filter", "status eq 'redirected'")]).await.body;
    assert_eq!(redirected["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn chains_of_merges_can_be_followed_to_the_last_target() {
    let emulator = start(|_| {}).await;
    let client = Client::new(&emulator).await;
    let [a, b, c] = ["A", "B", "C"].map(|t| create(&emulator, t));
    let all: HashSet<String> = [&a, &b, &c].iter().flat_map(|i| alert_ids(&emulator, &graph_id(i))).collect();
    emulator.merge(&[&name(&a)], &graph_id(&b)).expect("A into B");
    let answer = send(
        "POST",
        &format!("{}/_emulator/merge", emulator.url()),
        &[("content-type", "application/json")],
        &json!({"sources": [graph_id(&b)], "target": name(&c)}).to_string(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["target"]["properties"]["additionalData"]["alertsCount"], all.len());

    // A poller holding A follows redirectIncidentId until an incident is not redirected.
    let mut at = graph_id(&a);
    let mut hops = 0;
    loop {
        let incident = client.graph_get(&format!("security/incidents/{at}"), &[]).await.body;
        if incident["status"] != "redirected" {
            break;
        }
        at = incident["redirectIncidentId"].as_str().unwrap().to_owned();
        hops += 1;
    }
    assert_eq!((at, hops), (graph_id(&c), 2));
    assert_eq!(alert_ids(&emulator, &graph_id(&c)), all);
    assert_eq!(emulator.merge(&[&graph_id(&a)], &graph_id(&c)), Err(MergeError::Closed(graph_id(&a))));
}

#[tokio::test]
async fn microsofts_no_merge_rules_are_enforced() {
    let emulator = start(|_| {}).await;
    let mut client = Client::new(&emulator).await;
    let mut roles: Vec<String> = DEFAULT_GRAPH_ROLES.iter().map(|r| r.to_string()).collect();
    roles.push("SecurityData.Manage.All".into());
    emulator.set_graph_roles(roles);
    client.renew_graph(&emulator).await;
    let patch = |id: String, body: Value| {
        let client = &client;
        async move { assert_eq!(client.graph_send("PATCH", &format!("security/incidents/{id}"), &body).await.status, 200) }
    };
    let pair = |title: &str| [create(&emulator, &format!("{title} 1")), create(&emulator, &format!("{title} 2"))];

    let closed = pair("closed");
    patch(graph_id(&closed[1]), json!({"status": "resolved"})).await;
    let assigned = pair("assigned");
    patch(graph_id(&assigned[0]), json!({"assignedTo": BOB_UPN})).await;
    patch(graph_id(&assigned[1]), json!({"assignedTo": CAROL_UPN})).await;
    let classified = pair("classified");
    patch(graph_id(&classified[0]), json!({"classification": "truePositive"})).await;
    let determined = pair("determined");
    patch(graph_id(&determined[0]), json!({"classification": "truePositive", "determination": "malware"})).await;
    patch(graph_id(&determined[1]), json!({"classification": "truePositive", "determination": "phishing"})).await;

    let cases = [
        (&closed, MergeError::Closed(graph_id(&closed[1]))),
        (&assigned, MergeError::DifferentAssignees),
        (&classified, MergeError::DifferentClassifications),
        (&determined, MergeError::DifferentDeterminations),
    ];
    for ([first, second], error) in cases {
        assert_eq!(emulator.merge(&[&graph_id(second)], &graph_id(first)), Err(error.clone()));
        let body = json!({"incidentIds": [graph_id(first), graph_id(second)]});
        let answer = client.graph_send("POST", "security/incidents/mergeIncidents", &body).await;
        assert_graph_error(&answer, 400, "BadRequest");
        assert!(answer.body["error"]["message"].as_str().unwrap().contains(&error.to_string()), "{}", answer.body);
        let admin = send(
            "POST",
            &format!("{}/_emulator/merge", emulator.url()),
            &[],
            &json!({"sources": [graph_id(second)], "target": graph_id(first)}).to_string(),
        )
        .await;
        assert_eq!((admin.status, admin.body["error"]["code"].as_str()), (409, Some("MergeRefused")), "{}", admin.body);
        assert_eq!(emulator.incident(&name(second)).unwrap()["properties"]["labels"], json!([]), "nothing changed");
    }
    // One side assigned and the other not: Defender merges them.
    let half = pair("half assigned");
    patch(graph_id(&half[0]), json!({"assignedTo": BOB_UPN})).await;
    assert!(emulator.merge(&[&name(&half[1])], &name(&half[0])).is_ok());
    assert_eq!(emulator.merge(&["nope"], &name(&half[0])), Err(MergeError::NotFound("nope".into())));
    let body = json!({"incidentIds": ["1", graph_id(&half[0])]});
    assert_graph_error(&client.graph_send("POST", "security/incidents/mergeIncidents", &body).await, 404, "NotFound");
    let one = json!({"incidentIds": [graph_id(&half[0])]});
    assert_graph_error(&client.graph_send("POST", "security/incidents/mergeIncidents", &one).await, 400, "BadRequest");
}

#[tokio::test]
async fn default_mode_refuses_merges() {
    let emulator = sentinel_emulator::Emulator::start(sentinel_emulator::EmulatorOptions::default()).await.unwrap();
    let names: Vec<String> = emulator.incidents().iter().take(2).map(name).collect();
    assert_eq!(emulator.merge(&[&names[0]], &names[1]), Err(MergeError::NotUnified));
}
