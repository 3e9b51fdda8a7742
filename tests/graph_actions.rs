//! End to end through the component: the Graph actions the unified portal
//! needs (issue 13 item 3): comments on incidents and alerts, safe to retry
//! with a key, and `mergeIncidents` with Defender's no-merge rules applied
//! before the POST, against the emulator over loopback.

mod common;

use common::{config_for, emulator, host, session};
use sentinel_emulator::{Emulator, EmulatorOptions, Injection, DEFAULT_GRAPH_ROLES};
use sentinel_host::runtime::graph_security::{Assignee, Classification, Determination, IncidentStatus, IncidentUpdate};
use sentinel_host::runtime::types::{ConnectorError, ErrorKind};
use sentinel_host::runtime::{CallError, Session};
use serde_json::Value;

const MERGE_PERMISSION: &str = "SecurityData.Manage.All";

fn connector_error(result: Result<impl std::fmt::Debug, CallError>) -> ConnectorError {
    match result {
        Err(CallError::Connector(error)) => error,
        other => panic!("expected the connector's error, got {other:?}"),
    }
}

/// Graph POSTs whose path ends so (token requests are not Graph's).
fn posts_to(emulator: &Emulator, suffix: &str) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/v1.0/") && r.path.ends_with(suffix))
        .count()
}

/// A 503 given after the comment was added: the POST landed, the client cannot know.
fn unavailable_after_post(path: &str) -> Injection {
    Injection {
        method: Some("POST".into()),
        path_contains: path.into(),
        times: 1,
        status: 503,
        headers: vec![],
        body: r#"{"error":{"code":"ServiceUnavailable","message":"Try later."}}"#.into(),
    }
}

fn texts(comments: &Value) -> Vec<String> {
    comments.as_array().into_iter().flatten().filter_map(|c| c["comment"].as_str()).map(str::to_owned).collect()
}

fn first_incident_id(emulator: &Emulator) -> String {
    emulator.graph_incidents()[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_keyed_comment_is_posted_once_with_its_reference() {
    let emulator = emulator(0, 1).await;
    let id = first_incident_id(&emulator);
    let before = texts(&emulator.graph_incident(&id).unwrap()["comments"]).len();
    let mut session = session(&emulator).await;
    let list = session.graph().add_incident_comment(&id, "Contained by playbook", Some("run-1")).await.unwrap();
    let text = list.last().and_then(|c| c.comment.clone()).unwrap();
    assert!(text.starts_with("Contained by playbook [ref:") && text.ends_with(']') && text.len() == 21 + 15, "{text}");
    assert_eq!(list.last().unwrap().created_by.as_deref(), Some("SOAR connector"), "Graph's names are read");
    // The caller retries the whole call: the comment is there, nothing is posted.
    let again = session.graph().add_incident_comment(&id, "Contained by playbook", Some("run-1")).await.unwrap();
    assert_eq!(again.len(), list.len());
    assert_eq!(posts_to(&emulator, "/comments"), 1);
    assert_eq!(texts(&emulator.graph_incident(&id).unwrap()["comments"]).len(), before + 1);
}

#[tokio::test]
async fn a_comment_whose_answer_was_lost_is_not_posted_twice() {
    let emulator = emulator(0, 1).await;
    let id = first_incident_id(&emulator);
    emulator.inject_after(unavailable_after_post("/comments"));
    let mut session = session(&emulator).await;
    let list = session.graph().add_incident_comment(&id, "Isolated host", Some("run-2")).await.unwrap();
    assert_eq!(posts_to(&emulator, "/comments"), 1, "the 503 came after the comment was added: not sent again");
    let stored = texts(&emulator.graph_incident(&id).unwrap()["comments"]);
    assert_eq!(stored.iter().filter(|t| t.starts_with("Isolated host [ref:")).count(), 1, "{stored:?}");
    assert_eq!(list.iter().filter(|c| c.comment.as_deref().is_some_and(|t| t.starts_with("Isolated host"))).count(), 1);

    // Without a key the call posts at most once and reports the failure.
    emulator.inject_after(unavailable_after_post("/comments"));
    let error = connector_error(session.graph().add_incident_comment(&id, "No key", None).await);
    assert_eq!(error.kind, ErrorKind::Service, "{error:?}");
    assert_eq!(posts_to(&emulator, "/comments"), 2);
}

#[tokio::test]
async fn alert_comments_are_keyed_the_same_way() {
    let emulator = emulator(0, 1).await;
    let alert = emulator.graph_alerts()[0]["id"].as_str().unwrap().to_owned();
    emulator.inject_after(unavailable_after_post("/alerts_v2/"));
    let mut session = session(&emulator).await;
    let list = session.graph().add_alert_comment(&alert, "Triaged", Some("a-1")).await.unwrap();
    assert!(list.iter().any(|c| c.comment.as_deref().is_some_and(|t| t.starts_with("Triaged [ref:"))));
    assert_eq!(posts_to(&emulator, "/comments"), 1);
    assert_eq!(texts(&emulator.graph_alert(&alert).unwrap()["comments"]).len(), list.len());
}

#[tokio::test]
async fn bad_comments_and_merges_are_refused_before_any_request() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    emulator.clear_requests();
    let subject = |e: ConnectorError| {
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{e:?}");
        e.subject
    };
    assert_eq!(subject(connector_error(session.graph().add_incident_comment("1", "  ", None).await)), "comment");
    let long = "x".repeat(30_001);
    assert_eq!(subject(connector_error(session.graph().add_alert_comment("a", &long, None).await)), "comment");
    assert_eq!(subject(connector_error(session.graph().add_incident_comment("a/b", "hi", None).await)), "incident-id");
    assert_eq!(
        subject(connector_error(session.graph().add_incident_comment("1", "hi", Some("")).await)),
        "idempotency-key"
    );
    let one = vec!["1".to_owned()];
    assert_eq!(subject(connector_error(session.graph().merge_incidents(&one, None, true).await)), "incident-ids");
    let twice = vec!["1".to_owned(), "1".to_owned()];
    assert_eq!(subject(connector_error(session.graph().merge_incidents(&twice, None, true).await)), "incident-ids");
    assert!(emulator.requests().iter().all(|r| !r.path.starts_with("/v1.0/")), "no Graph request");
}

async fn unified() -> Emulator {
    let emulator =
        Emulator::start(EmulatorOptions { incidents: 40, seed: 13, unified: true, ..EmulatorOptions::default() })
            .await
            .expect("the emulator starts");
    let mut roles: Vec<String> = DEFAULT_GRAPH_ROLES.iter().map(|r| (*r).to_owned()).collect();
    roles.push(MERGE_PERMISSION.into());
    emulator.set_graph_roles(roles);
    emulator
}

async fn open(emulator: &Emulator) -> Session {
    host().open("merge", config_for(&emulator.url()), None).await.expect("the connection opens")
}

/// Graph ids of open, unassigned incidents that agree on the verdict: Defender merges those.
fn mergeable(emulator: &Emulator, count: usize) -> Vec<String> {
    let views = emulator.graph_incidents();
    let open = |v: &&Value| v["status"] != "resolved" && v["status"] != "redirected" && v["assignedTo"].is_null();
    let first = views.iter().find(open).expect("an open incident");
    let same =
        |v: &&Value| v["classification"] == first["classification"] && v["determination"] == first["determination"];
    let ids: Vec<String> =
        views.iter().filter(open).filter(same).take(count).map(|v| v["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), count, "enough mergeable incidents");
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_shows_the_exact_merge_and_the_merge_redirects_the_source() {
    let emulator = unified().await;
    let ids = mergeable(&emulator, 2);
    let mut session = open(&emulator).await;
    let before = emulator.graph_incidents();
    let plan = session.graph().merge_incidents(&ids, Some("same campaign"), true).await.unwrap();
    assert!(plan.dry_run && plan.target_incident_id.is_none());
    assert_eq!(posts_to(&emulator, "/mergeIncidents"), 0, "a dry run sends nothing");
    assert_eq!(emulator.graph_incidents(), before, "and changes nothing");
    assert_eq!(plan.request.method, "POST");
    assert!(plan.request.url.ends_with("/v1.0/security/incidents/mergeIncidents"), "{}", plan.request.url);

    let merged = session.graph().merge_incidents(&ids, Some("same campaign"), false).await.unwrap();
    let shown = |r: &sentinel_host::runtime::types::PlannedRequest| {
        (r.method.clone(), r.url.clone(), r.headers.clone(), r.body.clone())
    };
    assert_eq!(shown(&merged.request), shown(&plan.request), "the merge sends what the dry run showed");
    let sent = emulator.requests().into_iter().find(|r| r.path.ends_with("/mergeIncidents")).unwrap();
    let sent_body: Value = serde_json::from_slice(&sent.body).unwrap();
    let planned: Value = serde_json::from_str(plan.request.body.as_deref().unwrap()).unwrap();
    assert_eq!(sent_body, planned);
    assert_eq!(planned["incidentIds"], serde_json::json!(ids));
    let target = merged.target_incident_id.expect("Defender names the target");
    assert!(ids.contains(&target));
    let source = ids.iter().find(|id| **id != target).unwrap();
    let view = session.graph().get_incident(source, false).await.unwrap();
    assert!(matches!(view.status, Some(IncidentStatus::Redirected)), "{:?}", view.status);
    assert_eq!(view.redirect_incident_id.as_deref(), Some(target.as_str()));
}

fn change() -> IncidentUpdate {
    IncidentUpdate {
        status: None,
        classification: None,
        determination: None,
        assigned_to: None,
        add_tags: vec![],
        remove_tags: vec![],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_no_merge_rule_is_refused_before_the_post() {
    let emulator = unified().await;
    let ids = mergeable(&emulator, 4);
    let mut session = open(&emulator).await;
    let pair = |a: usize, b: usize| vec![ids[a].clone(), ids[b].clone()];
    let refused = async |session: &mut Session, pair: Vec<String>, words: &[&str]| {
        let error = connector_error(session.graph().merge_incidents(&pair, None, false).await);
        assert_eq!((error.kind, error.subject.as_str()), (ErrorKind::InvalidInput, "incident-ids"), "{error:?}");
        assert!(words.iter().all(|w| error.message.contains(w)), "{words:?} in {}", error.message);
    };
    let resolve = IncidentUpdate { status: Some(IncidentStatus::Resolved), ..change() };
    session.graph().update_incident(&ids[0], resolve).await.unwrap();
    refused(&mut session, pair(0, 1), &[&format!("'{}' is resolved", ids[0])]).await;
    let assign = |who: &str| IncidentUpdate { assigned_to: Some(Assignee::User(who.into())), ..change() };
    session.graph().update_incident(&ids[1], assign("ann@contoso.com")).await.unwrap();
    session.graph().update_incident(&ids[2], assign("bob@contoso.com")).await.unwrap();
    refused(&mut session, pair(1, 2), &["different users", "bob@contoso.com"]).await;
    let classify = IncidentUpdate { classification: Some(Classification::FalsePositive), ..change() };
    session.graph().update_incident(&ids[3], classify).await.unwrap();
    let other = IncidentUpdate { classification: Some(Classification::TruePositive), ..change() };
    session.graph().update_incident(&ids[1], other).await.unwrap();
    session.graph().update_incident(&ids[3], assign("ann@contoso.com")).await.unwrap();
    refused(&mut session, pair(1, 3), &["classified differently", &ids[3]]).await;
    // Same classification, different determinations (one in the docs' spelling, read as the metadata's).
    let verdict = |determination: Determination| IncidentUpdate {
        classification: Some(Classification::TruePositive),
        determination: Some(determination),
        assigned_to: Some(Assignee::User("ann@contoso.com".into())),
        ..change()
    };
    session.graph().update_incident(&ids[3], verdict(Determination::Malware)).await.unwrap();
    session.graph().update_incident(&ids[1], verdict(Determination::CompromisedAccount)).await.unwrap();
    refused(&mut session, pair(1, 3), &["different determinations", &ids[3]]).await;
    assert_eq!(posts_to(&emulator, "/mergeIncidents"), 0, "every refusal came before the POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_security_data_manage_all_the_merge_is_forbidden_and_names_it() {
    let emulator = unified().await;
    let ids = mergeable(&emulator, 2);
    emulator.set_graph_roles(DEFAULT_GRAPH_ROLES.iter().map(|r| (*r).to_owned()).collect());
    let mut session = open(&emulator).await;
    let error = connector_error(session.graph().merge_incidents(&ids, None, false).await);
    assert_eq!(error.kind, ErrorKind::Forbidden, "{error:?}");
    assert!(error.hint.contains(MERGE_PERMISSION), "{error:?}");
    let manifest = session.permission_manifest().await.unwrap();
    let merge = manifest.iter().find(|p| p.action == "graph-security.merge-incidents").unwrap();
    assert_eq!(merge.permissions[0], MERGE_PERMISSION);
}
