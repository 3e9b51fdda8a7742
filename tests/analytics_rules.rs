//! Analytics rules end to end through the built component: the emulator
//! serves Microsoft's three example rules (Scheduled, incident creation,
//! Fusion) in pages of two; a playbook lists them, reads one, turns a noisy
//! rule off and on, and a retried or conflicting change lands once.

mod common;

use common::{emulator, session};
use sentinel_emulator::Injection;
use sentinel_host::runtime::analytics_rules::RuleKind;
use sentinel_host::runtime::types::{ErrorKind, Severity};
use sentinel_host::runtime::CallError;
use serde_json::Value;

const SCHEDULED: &str = "73e01a99-5cd7-4139-a149-9f2736ff2ab5";

fn rule_requests(emulator: &sentinel_emulator::Emulator) -> Vec<(String, String)> {
    let requests = emulator.requests().into_iter().filter(|r| r.path.contains("/alertRules"));
    requests.map(|r| (r.method, r.path.rsplit('/').next().unwrap_or_default().to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_playbook_lists_reads_and_turns_a_rule_off_and_on() {
    let emulator = emulator(1, 1).await;
    let mut session = session(&emulator).await;

    let rules = session.analytics_rules().list().await.unwrap();
    let kinds: Vec<RuleKind> = rules.iter().map(|r| r.kind.clone()).collect();
    assert_eq!(kinds.len(), 3, "every rule over two pages: {kinds:?}");
    assert!(
        kinds.iter().any(|k| matches!(k, RuleKind::Fusion)) && kinds.iter().any(|k| matches!(k, RuleKind::Scheduled))
    );
    assert_eq!(rule_requests(&emulator).len(), 2, "the nextLink was followed");

    let rule = session.analytics_rules().get(SCHEDULED).await.unwrap();
    assert_eq!(rule.display_name.as_deref(), Some("My scheduled rule"));
    assert!(rule.enabled && matches!(rule.severity, Some(Severity::High)));
    assert_eq!(rule.tactics, ["Persistence", "LateralMovement"]);
    let properties: Value = serde_json::from_str(&rule.properties_json).unwrap();
    assert_eq!(properties["query"], "Heartbeat", "every property kept");

    emulator.clear_requests();
    let off = session.analytics_rules().set_enabled(SCHEDULED, false).await.unwrap();
    assert!(!off.enabled && off.etag != rule.etag && off.last_modified != rule.last_modified);
    let again = session.analytics_rules().set_enabled(SCHEDULED, false).await.unwrap();
    assert!(!again.enabled);
    let methods: Vec<String> = rule_requests(&emulator).into_iter().map(|(m, _)| m).collect();
    assert_eq!(methods, ["GET", "PUT", "GET"], "a retried disable sends no second PUT");
    let stored = emulator.requests().into_iter().find(|r| r.method == "PUT").unwrap();
    let sent: Value = serde_json::from_slice(&stored.body).unwrap();
    assert_eq!(sent["properties"]["query"], "Heartbeat", "the rule goes back whole");
    assert_eq!(sent["etag"].as_str(), rule.etag.as_deref(), "with the etag read");

    assert!(session.analytics_rules().set_enabled(SCHEDULED, true).await.unwrap().enabled);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_is_read_again_and_a_bad_id_never_leaves() {
    let emulator = emulator(1, 1).await;
    let mut session = session(&emulator).await;
    emulator.inject(Injection {
        method: Some("PUT".into()),
        path_contains: "/alertRules/".into(),
        times: 1,
        status: 409,
        headers: vec![],
        body: r#"{"error":{"code":"Conflict","message":"Newer version of resource exists. Data was not saved"}}"#
            .into(),
    });
    let off = session.analytics_rules().set_enabled(SCHEDULED, false).await.unwrap();
    assert!(!off.enabled);
    let methods: Vec<String> = rule_requests(&emulator).into_iter().map(|(m, _)| m).collect();
    assert_eq!(methods, ["GET", "PUT", "GET", "PUT"], "re-read, re-applied");

    emulator.clear_requests();
    let Err(CallError::Connector(error)) = session.analytics_rules().set_enabled("../incidents", true).await else {
        panic!("refused")
    };
    assert_eq!((error.kind, error.subject.as_str()), (ErrorKind::InvalidInput, "rule-id"), "{error:?}");
    let Err(CallError::Connector(missing)) = session.analytics_rules().get("no-such-rule").await else { panic!() };
    assert_eq!(missing.kind, ErrorKind::NotFound);
    assert_eq!(rule_requests(&emulator).len(), 1, "only the read of the missing rule was sent");
}
