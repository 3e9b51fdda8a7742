//! End to end through the component: Microsoft Graph security (incidents,
//! alerts, advanced hunting) and Entra ID containment with its guardrails,
//! against the emulator's Graph endpoints over loopback.

mod common;

use std::collections::HashSet;

use common::{config_for, emulator, host, session};
use sentinel_connector::core::config::ProtectedAccounts;
use sentinel_emulator::{graph_seed as seed, Emulator, Injection};
use sentinel_host::runtime::containment::{Action, RiskLevel, RiskState};
use sentinel_host::runtime::graph_security::{
    AlertStatus, AlertUpdate, Assignee, Classification, Determination, HuntingOptions, IncidentStatus, IncidentUpdate,
};
use sentinel_host::runtime::types::{Api, Cell, ConnectorError, EntityKind, ErrorKind, NormalizedEntity};
use sentinel_host::runtime::{graph_list_options, CallError, Session};

fn no_incident_change() -> IncidentUpdate {
    IncidentUpdate {
        status: None,
        classification: None,
        determination: None,
        assigned_to: None,
        add_tags: Vec::new(),
        remove_tags: Vec::new(),
    }
}

async fn protected_session(emulator: &Emulator, protected: ProtectedAccounts) -> Session {
    let config =
        sentinel_connector::core::ConnectionConfig { protected_accounts: protected, ..config_for(&emulator.url()) };
    host().open("test", config, None).await.expect("the connection opens")
}

/// Requests that reached Graph (token requests left out).
fn graph_requests(emulator: &Emulator) -> Vec<(String, String)> {
    emulator.requests().into_iter().filter(|r| r.path.starts_with("/v1.0/")).map(|r| (r.method, r.path)).collect()
}

fn changes(emulator: &Emulator) -> Vec<(String, String)> {
    graph_requests(emulator)
        .into_iter()
        .filter(|(method, path)| method != "GET" && !path.ends_with("/checkMemberGroups"))
        .collect()
}

fn connector_error(result: Result<impl std::fmt::Debug, CallError>) -> ConnectorError {
    match result {
        Err(CallError::Connector(error)) => error,
        other => panic!("expected the connector's error, got {other:?}"),
    }
}

#[tokio::test]
async fn graph_paging_returns_every_incident_once() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let options = sentinel_host::runtime::graph_security::ListOptions { top: Some(10), ..graph_list_options() };
    let all = session.graph().list_all_incidents(options.clone()).await.unwrap();
    let ids: HashSet<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!((all.len(), ids.len()), (seed::INCIDENT_COUNT, seed::INCIDENT_COUNT), "every incident, once");
    let pages = graph_requests(&emulator).iter().filter(|(_, p)| p == "/v1.0/security/incidents").count();
    assert_eq!(pages, seed::INCIDENT_COUNT.div_ceil(10));

    // Page by page with the continuation gives the same incidents in the same order.
    let mut walked = Vec::new();
    let mut page = session.graph().list_incidents(options).await.unwrap();
    loop {
        walked.extend(page.incidents.iter().map(|i| i.id.clone()));
        let Some(link) = page.continuation else { break };
        page = session
            .graph()
            .list_incidents(sentinel_host::runtime::graph_security::ListOptions {
                continuation: Some(link),
                ..graph_list_options()
            })
            .await
            .unwrap();
    }
    assert_eq!(walked, all.iter().map(|i| i.id.clone()).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_continuation_to_another_origin_is_refused_before_sending() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let foreign = sentinel_host::runtime::graph_security::ListOptions {
        continuation: Some("https://evil.example/v1.0/security/incidents?$skiptoken=x".into()),
        ..graph_list_options()
    };
    let error = connector_error(session.graph().list_incidents(foreign).await);
    assert!(error.kind == ErrorKind::InvalidInput && error.subject == "continuation", "{error:?}");
    assert!(graph_requests(&emulator).is_empty());
}

#[tokio::test]
async fn incidents_filter_expand_get_and_update_in_camel_case() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let active = sentinel_host::runtime::graph_security::ListOptions {
        filter: Some("status eq 'active'".into()),
        expand_alerts: true,
        ..graph_list_options()
    };
    let incidents = session.graph().list_all_incidents(active).await.unwrap();
    assert!(!incidents.is_empty());
    assert!(incidents.iter().all(|i| matches!(i.status, Some(IncidentStatus::Active))));
    assert!(incidents.iter().any(|i| !i.alerts.is_empty()), "alerts expanded");
    let id = incidents[0].id.clone();

    emulator.graph_incident(&id).expect("seeded");
    let update = IncidentUpdate {
        status: Some(IncidentStatus::Resolved),
        classification: Some(Classification::TruePositive),
        determination: Some(Determination::MultiStagedAttack),
        assigned_to: Some(Assignee::User("soc@contoso.onmicrosoft.com".into())),
        add_tags: vec!["contained".into()],
        ..no_incident_change()
    };
    let before_tags = emulator.graph_incident(&id).unwrap()["customTags"].as_array().cloned().unwrap_or_default();
    let updated = session.graph().update_incident(&id, update).await.unwrap();
    assert!(matches!(updated.status, Some(IncidentStatus::Resolved)));
    assert!(matches!(updated.determination, Some(Determination::MultiStagedAttack)));
    let stored = emulator.graph_incident(&id).unwrap();
    assert_eq!(stored["classification"], "truePositive", "sent in Graph's camelCase");
    assert_eq!(stored["determination"], "multiStagedAttack");
    assert_eq!(stored["assignedTo"], "soc@contoso.onmicrosoft.com");
    let tags = stored["customTags"].as_array().unwrap();
    assert_eq!(tags.len(), before_tags.len() + 1, "the existing tags are kept");
    assert!(tags.iter().any(|t| t == "contained"));

    let patch = emulator.requests().into_iter().find(|r| r.method == "PATCH").unwrap();
    let body: serde_json::Value = serde_json::from_slice(&patch.body).unwrap();
    assert_eq!(body["status"], "resolved");

    let fetched = session.graph().get_incident(&id, false).await.unwrap();
    assert_eq!(fetched.assigned_to.as_deref(), Some("soc@contoso.onmicrosoft.com"));
    let missing = connector_error(session.graph().get_incident("1", false).await);
    assert_eq!(missing.kind, ErrorKind::NotFound, "{missing:?}");
}

#[tokio::test]
async fn an_update_plan_is_the_patch_the_update_sends() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let id = (seed::FIRST_INCIDENT_ID + 3).to_string();
    let before = emulator.graph_incident(&id).unwrap();
    let update = || IncidentUpdate {
        status: Some(IncidentStatus::Active),
        add_tags: vec!["triage".into()],
        ..no_incident_change()
    };
    let plan = session.graph().plan_incident_update(&id, update()).await.unwrap();
    assert_eq!(emulator.graph_incident(&id).unwrap(), before, "the plan changed nothing");
    assert!(changes(&emulator).is_empty(), "and sent no change: {:?}", graph_requests(&emulator));
    session.graph().update_incident(&id, update()).await.unwrap();
    let patch = emulator.requests().into_iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!((plan.method.as_str(), plan.url.clone()), ("PATCH", format!("{}{}", emulator.url(), patch.path)));
    assert_eq!(
        plan.body.as_deref().map(str::as_bytes),
        Some(patch.body.as_slice()),
        "the dry run showed the exact body"
    );

    let alert_id = emulator.graph_alerts()[0]["id"].as_str().unwrap().to_owned();
    emulator.clear_requests();
    let alert_update = AlertUpdate {
        status: Some(AlertStatus::Resolved),
        classification: Some(Classification::FalsePositive),
        determination: None,
        assigned_to: None,
    };
    let plan = session.graph().plan_alert_update(&alert_id, alert_update).await.unwrap();
    assert_eq!(plan.body.as_deref(), Some(r#"{"classification":"falsePositive","status":"resolved"}"#));
    assert!(emulator.requests().is_empty(), "an alert plan needs no request at all");
}

#[tokio::test]
async fn alerts_list_get_and_update_with_typed_evidence() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let alerts = session
        .graph()
        .list_all_alerts(sentinel_host::runtime::graph_security::ListOptions { top: Some(7), ..graph_list_options() })
        .await
        .unwrap();
    assert_eq!(alerts.len(), emulator.graph_alerts().len());
    let with_user = alerts.iter().find(|a| a.evidence.iter().any(|e| e.kind == "userEvidence")).expect("user evidence");
    let user_evidence = with_user.evidence.iter().find(|e| e.kind == "userEvidence").unwrap();
    assert!(user_evidence.identifier.as_deref().is_some_and(|upn| upn.ends_with(seed::DOMAIN)), "{user_evidence:?}");

    let id = with_user.id.clone();
    let update = AlertUpdate {
        status: Some(AlertStatus::InProgress),
        classification: None,
        determination: None,
        assigned_to: Some(Assignee::Unassigned),
    };
    let updated = session.graph().update_alert(&id, update).await.unwrap();
    assert!(matches!(updated.status, Some(AlertStatus::InProgress)));
    assert_eq!(emulator.graph_alert(&id).unwrap()["status"], "inProgress");
    assert_eq!(session.graph().get_alert(&id).await.unwrap().assigned_to, None);
}

#[tokio::test]
async fn hunting_returns_typed_columns_and_rows() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let table = session
        .graph()
        .run_hunting_query(
            "DeviceProcessEvents | where FileName =~ 'cmd.exe' | take 3",
            HuntingOptions { timespan: Some("P7D".into()) },
        )
        .await
        .unwrap();
    let columns: Vec<(&str, &str)> = table.columns.iter().map(|c| (c.name.as_str(), c.column_type.as_str())).collect();
    assert!(columns.contains(&("Timestamp", "DateTime")) && columns.contains(&("ProcessId", "Int64")), "{columns:?}");
    assert!(!table.rows.is_empty() && table.rows.len() <= 3);
    let at = |name: &str| table.columns.iter().position(|c| c.name == name).unwrap();
    for row in &table.rows {
        assert!(matches!(row[at("Timestamp")], Cell::Datetime(_)));
        assert!(matches!(row[at("ProcessId")], Cell::Integer(_)));
        assert!(matches!(&row[at("FileName")], Cell::Text(f) if f.eq_ignore_ascii_case("cmd.exe")));
    }
    let request = emulator.requests().into_iter().find(|r| r.path.ends_with("/runHuntingQuery")).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["Timespan"], "P7D", "Graph's PascalCase keys");
    let unknown = connector_error(
        session.graph().run_hunting_query("NoSuchTable | take 1", HuntingOptions { timespan: None }).await,
    );
    assert!(unknown.kind == ErrorKind::BadRequest && unknown.message.contains("NoSuchTable"), "{unknown:?}");
}

#[tokio::test]
async fn a_protected_account_is_refused_and_no_request_is_sent() {
    let emulator = emulator(0, 1).await;
    let protected =
        ProtectedAccounts { user_principal_names: vec![seed::ALICE_UPN.to_uppercase()], ..Default::default() };
    let mut session = protected_session(&emulator, protected).await;
    for action in [Action::DisableAccount, Action::RevokeSessions, Action::AddToGroup(seed::QUARANTINE_GROUP_ID.into())]
    {
        let error = connector_error(session.graph().contain(seed::ALICE_UPN, action, false).await);
        assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{error:?}");
        assert!(error.message.contains("user-principal-names"), "{}", error.message);
    }
    assert!(emulator.requests().is_empty(), "not even a token request: {:?}", emulator.requests());
    assert_eq!(emulator.graph_user(seed::ALICE_ID).unwrap()["accountEnabled"], true);
}

#[tokio::test]
async fn a_protected_group_member_is_refused_whoever_names_them() {
    let emulator = emulator(0, 1).await;
    let protected = ProtectedAccounts { groups: vec![seed::BREAK_GLASS_GROUP_NAME.into()], ..Default::default() };
    let mut session = protected_session(&emulator, protected).await;
    for user in [seed::ALICE_ID, seed::ALICE_UPN] {
        let error = connector_error(session.graph().contain(user, Action::DisableAccount, false).await);
        assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{error:?}");
        assert!(error.message.contains(seed::BREAK_GLASS_GROUP_NAME), "{}", error.message);
    }
    assert!(changes(&emulator).is_empty(), "reads only: {:?}", graph_requests(&emulator));
    assert_eq!(emulator.graph_user(seed::ALICE_ID).unwrap()["accountEnabled"], true);

    // Membership is resolved on every call: once bob joins the group, he is protected too.
    session.graph().contain(seed::BOB_UPN, Action::RevokeSessions, false).await.unwrap();
    let mut admin = common::session(&emulator).await;
    admin.graph().contain(seed::BOB_UPN, Action::AddToGroup(seed::BREAK_GLASS_GROUP_ID.into()), false).await.unwrap();
    let error = connector_error(session.graph().contain(seed::BOB_UPN, Action::DisableAccount, false).await);
    assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{error:?}");
}

/// The number of group ids in each `checkMemberGroups` request, in order.
fn member_checks(emulator: &Emulator) -> Vec<usize> {
    emulator
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/checkMemberGroups"))
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["groupIds"].as_array().map_or(0, Vec::len)
        })
        .collect()
}

fn enabled(emulator: &Emulator, user: &str) -> bool {
    emulator.graph_user(user).unwrap()["accountEnabled"] == true
}

// Issue 9, item 5: protected entries and the caller's input are trimmed of
// Unicode whitespace (no-break and zero-width spaces too) and compared
// without regard to case, so a UPN pasted with a stray space still protects.
#[tokio::test]
async fn protected_entries_and_input_with_stray_whitespace_still_match() {
    let emulator = emulator(0, 1).await;
    let by_upn =
        ProtectedAccounts { user_principal_names: vec![format!(" {}\u{a0}", seed::BOB_UPN)], ..Default::default() };
    let mut session = protected_session(&emulator, by_upn).await;
    let shouted = format!("\u{a0}{}\u{200b}", seed::BOB_UPN.to_uppercase());
    for user in [seed::BOB_UPN, shouted.as_str(), seed::BOB_ID] {
        for dry_run in [false, true] {
            let error = connector_error(session.graph().contain(user, Action::DisableAccount, dry_run).await);
            assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{error:?}");
            assert!(error.message.contains("user-principal-names"), "{}", error.message);
        }
    }
    assert!(changes(&emulator).is_empty(), "reads only: {:?}", graph_requests(&emulator));
    assert!(enabled(&emulator, seed::BOB_ID));

    let by_id = ProtectedAccounts {
        user_ids: vec![format!("\u{200b}{}\t", seed::CAROL_ID.to_uppercase())],
        ..Default::default()
    };
    let mut session = protected_session(&emulator, by_id).await;
    let spaced = format!("\u{feff}{} ", seed::CAROL_ID);
    for user in [seed::CAROL_ID, spaced.as_str(), seed::CAROL_UPN] {
        let error = connector_error(session.graph().contain(user, Action::RevokeSessions, false).await);
        assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{user:?}: {error:?}");
    }
    assert!(changes(&emulator).is_empty(), "reads only: {:?}", graph_requests(&emulator));
    // An unprotected user named with stray whitespace is found, trimmed.
    let dave =
        session.graph().contain(&format!(" {}\u{a0}", seed::DAVE_UPN), Action::DisableAccount, true).await.unwrap();
    assert_eq!(dave.user.id, seed::DAVE_ID);

    // Group entries too: a padded name is looked up trimmed, a padded id is an id.
    let groups = vec![
        format!("\u{a0}{} ", seed::BREAK_GLASS_GROUP_NAME),
        format!(" {}\u{200b}", seed::SOC_GROUP_ID.to_uppercase()),
    ];
    let mut session = protected_session(&emulator, ProtectedAccounts { groups, ..Default::default() }).await;
    for user in [seed::ALICE_UPN, seed::BOB_UPN] {
        let error = connector_error(session.graph().contain(user, Action::RevokeSessions, false).await);
        assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{user:?}: {error:?}");
    }
    assert!(changes(&emulator).is_empty(), "reads only: {:?}", graph_requests(&emulator));
}

// Issue 9, item 6: a protected group is never the target of add-to-group or
// remove-from-group, whoever the user is.
#[tokio::test]
async fn a_protected_group_is_never_the_target_of_a_membership_change() {
    let emulator = emulator(0, 1).await;
    let protected = ProtectedAccounts {
        groups: vec![seed::BREAK_GLASS_GROUP_NAME.into(), seed::SOC_GROUP_ID.to_uppercase()],
        ..Default::default()
    };
    let mut session = protected_session(&emulator, protected).await;
    // By name (resolved, reads only) and by id (refused before any request).
    let soc_shouted = seed::SOC_GROUP_ID.to_uppercase();
    let cases = [
        (true, seed::BREAK_GLASS_GROUP_ID, seed::BREAK_GLASS_GROUP_NAME),
        (false, seed::BREAK_GLASS_GROUP_ID, seed::BREAK_GLASS_GROUP_NAME),
        (true, seed::SOC_GROUP_ID, seed::SOC_GROUP_ID),
        (false, soc_shouted.as_str(), seed::SOC_GROUP_ID),
    ];
    for dry_run in [false, true] {
        for (add, id, group) in cases {
            let action = if add { Action::AddToGroup(id.into()) } else { Action::RemoveFromGroup(id.into()) };
            let error = connector_error(session.graph().contain(seed::DAVE_UPN, action, dry_run).await);
            assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{error:?}");
            assert_eq!(error.subject, format!("group '{group}'"));
            assert!(
                error.message.contains("protected-accounts.groups") && error.message.contains("off-limits"),
                "{}",
                error.message
            );
        }
    }
    assert!(changes(&emulator).is_empty(), "reads only: {:?}", graph_requests(&emulator));
    assert_eq!(emulator.group_members(seed::BREAK_GLASS_GROUP_ID), [seed::ALICE_ID]);
    assert_eq!(emulator.group_members(seed::SOC_GROUP_ID), [seed::BOB_ID, seed::CAROL_ID]);
    // A group that is not protected still takes the user.
    session.graph().contain(seed::DAVE_UPN, Action::AddToGroup(seed::QUARANTINE_GROUP_ID.into()), false).await.unwrap();
    assert_eq!(emulator.group_members(seed::QUARANTINE_GROUP_ID), [seed::DAVE_ID]);
}

// Issue 9, item 7: Graph takes 20 group ids per checkMemberGroups; more
// protected groups are asked 20 at a time, and a member of the last is found.
#[tokio::test]
async fn more_than_twenty_protected_groups_are_checked_twenty_at_a_time() {
    let emulator = emulator(0, 1).await;
    let mut groups: Vec<String> = (1..=seed::TIER0_GROUP_COUNT).map(seed::tier0_group_id).collect();
    groups.push(seed::tier0_group_name(3)); // the same group by name: asked once
    let mut session = protected_session(&emulator, ProtectedAccounts { groups, ..Default::default() }).await;
    // Alice is in the last tier-0 group, through Break Glass Admins nested in it.
    let error = connector_error(session.graph().contain(seed::ALICE_UPN, Action::DisableAccount, false).await);
    assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{error:?}");
    assert!(error.message.contains(&seed::tier0_group_name(seed::TIER0_GROUP_COUNT)), "{}", error.message);
    assert_eq!(member_checks(&emulator), [20, seed::TIER0_GROUP_COUNT - 20]);
    assert!(changes(&emulator).is_empty(), "reads only: {:?}", graph_requests(&emulator));
    assert!(enabled(&emulator, seed::ALICE_ID));

    emulator.clear_requests();
    let revoked = session.graph().contain(seed::DAVE_UPN, Action::RevokeSessions, false).await.unwrap();
    assert_eq!(revoked.status, Some(200), "an unprotected user passes every chunk");
    assert_eq!(member_checks(&emulator), [20, seed::TIER0_GROUP_COUNT - 20]);
}

// Issue 9, item 7: checkMemberGroups leaves out a group whose membership is
// hidden from the token, which looks like "not a member"; without
// Member.Read.Hidden containment fails closed and says which permission allows it.
#[tokio::test]
async fn a_hidden_membership_group_fails_closed_without_member_read_hidden() {
    let emulator = emulator(0, 1).await;
    assert!(!sentinel_emulator::DEFAULT_GRAPH_ROLES.contains(&"Member.Read.Hidden"));
    let protected = ProtectedAccounts {
        groups: vec![seed::HIDDEN_GROUP_NAME.into(), seed::BREAK_GLASS_GROUP_ID.into()],
        ..Default::default()
    };
    let mut session = protected_session(&emulator, protected.clone()).await;
    // Eve is a member (hidden); Dave is not, but that cannot be told either.
    for user in [seed::EVE_UPN, seed::DAVE_UPN] {
        for dry_run in [false, true] {
            let error = connector_error(session.graph().contain(user, Action::DisableAccount, dry_run).await);
            assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{error:?}");
            let reason = &error.message;
            assert!(
                reason.contains(seed::HIDDEN_GROUP_NAME)
                    && reason.contains("hidden")
                    && reason.contains("lacks")
                    && reason.contains("Member.Read.Hidden"),
                "{reason}"
            );
        }
    }
    assert!(member_checks(&emulator).is_empty(), "not asked: the answer could not be trusted");
    assert!(changes(&emulator).is_empty(), "reads only: {:?}", graph_requests(&emulator));
    assert!(enabled(&emulator, seed::EVE_ID) && enabled(&emulator, seed::DAVE_ID));

    // With Member.Read.Hidden the membership is asked: Eve is refused as a member, Dave is contained.
    let mut roles: Vec<String> = sentinel_emulator::DEFAULT_GRAPH_ROLES.iter().map(|r| (*r).to_owned()).collect();
    roles.push("Member.Read.Hidden".into());
    emulator.set_graph_roles(roles);
    let mut session = protected_session(&emulator, protected).await;
    let error = connector_error(session.graph().contain(seed::EVE_ID, Action::DisableAccount, false).await);
    assert_eq!(error.kind, ErrorKind::ProtectedAccount, "{error:?}");
    assert!(
        error.message.contains(&format!("member of the protected group '{}'", seed::HIDDEN_GROUP_NAME)),
        "{}",
        error.message
    );
    assert!(enabled(&emulator, seed::EVE_ID));
    session.graph().contain(seed::DAVE_UPN, Action::DisableAccount, false).await.unwrap();
    assert!(!enabled(&emulator, seed::DAVE_ID));

    let manifest = session.permission_manifest().await.unwrap();
    let hidden =
        manifest.iter().find(|p| p.action == "containment protected-hidden-groups check").expect("in the manifest");
    assert_eq!(hidden.permissions, ["Member.Read.Hidden"]);
}

#[tokio::test]
async fn a_dry_run_returns_the_exact_request_and_changes_nothing() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let planned = session.graph().contain(seed::BOB_UPN, Action::DisableAccount, true).await.unwrap();
    assert!(planned.dry_run && planned.status.is_none());
    assert_eq!(planned.user.id, seed::BOB_ID);
    assert!(changes(&emulator).is_empty(), "nothing but reads was sent: {:?}", graph_requests(&emulator));
    assert_eq!(emulator.graph_user(seed::BOB_ID).unwrap()["accountEnabled"], true);

    let done = session.graph().contain(seed::BOB_UPN, Action::DisableAccount, false).await.unwrap();
    let shown = |r: &sentinel_host::runtime::types::PlannedRequest| {
        (r.method.clone(), r.url.clone(), r.headers.clone(), r.body.clone())
    };
    assert_eq!(shown(&done.request), shown(&planned.request), "the dry run showed exactly what is sent");
    let sent = emulator.requests().into_iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(format!("{}{}", emulator.url(), sent.path), planned.request.url);
    assert_eq!(Some(String::from_utf8(sent.body).unwrap()), planned.request.body);
    assert!(
        !planned.request.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization")),
        "no token in the plan"
    );
}

fn account(identifier: &str, object_id: Option<&str>) -> NormalizedEntity {
    NormalizedEntity {
        id: "account-1".into(),
        kind: EntityKind::Account,
        identifier: identifier.into(),
        display_name: identifier.into(),
        references: Vec::new(),
        object_id: object_id.map(str::to_owned),
    }
}

/// An account entity is contained by its Entra object id, else its UPN; a
/// bare name (all Sentinel's `accountName` holds since July 2026) is refused
/// before any request, never guessed into a UPN.
#[tokio::test]
async fn an_account_entity_is_contained_by_object_id_then_upn_and_a_bare_name_sends_nothing() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let mut graph = session.graph();
    let by_id = graph.contain_account(&account("someone-else", Some(seed::BOB_ID)), Action::DisableAccount, true).await;
    assert_eq!(by_id.unwrap().user.id, seed::BOB_ID, "the object id wins over the identifier");
    let by_upn = graph.contain_account(&account(seed::BOB_UPN, None), Action::DisableAccount, true).await;
    assert_eq!(by_upn.unwrap().user.id, seed::BOB_ID);

    let before = emulator.requests().len();
    let bare = account(seed::BOB_UPN.split('@').next().unwrap(), None);
    let error = connector_error(graph.contain_account(&bare, Action::DisableAccount, false).await);
    assert!(matches!(error.kind, ErrorKind::InvalidInput) && error.subject == "account", "{error:?}");
    let host = NormalizedEntity { kind: EntityKind::Host, ..account("vm1.contoso.com", None) };
    let error = connector_error(graph.contain_account(&host, Action::DisableAccount, false).await);
    assert!(matches!(error.kind, ErrorKind::InvalidInput) && error.subject == "account", "{error:?}");
    assert_eq!(emulator.requests().len(), before, "refused before any request");
    assert_eq!(emulator.graph_user(seed::BOB_ID).unwrap()["accountEnabled"], true);
}

#[tokio::test]
async fn containment_changes_state_and_its_compensation_undoes_it() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;

    let disabled = session.graph().contain(seed::BOB_UPN, Action::DisableAccount, false).await.unwrap();
    assert_eq!(disabled.status, Some(204));
    assert_eq!(emulator.graph_user(seed::BOB_ID).unwrap()["accountEnabled"], false);
    let undo = disabled.compensation.expect("disable can be undone");
    assert!(matches!(undo, Action::EnableAccount));
    session.graph().contain(&disabled.user.id, undo, false).await.unwrap();
    assert_eq!(emulator.graph_user(seed::BOB_ID).unwrap()["accountEnabled"], true);

    let revoked = session.graph().contain(seed::BOB_ID, Action::RevokeSessions, false).await.unwrap();
    assert_eq!(revoked.status, Some(200));
    assert!(revoked.compensation.is_none(), "revocation cannot be undone");
    assert!(emulator.graph_user(seed::BOB_ID).unwrap()["signInSessionsValidFromDateTime"].is_string());

    let joined = session
        .graph()
        .contain(seed::CAROL_UPN, Action::AddToGroup(seed::QUARANTINE_GROUP_ID.into()), false)
        .await
        .unwrap();
    assert!(emulator.group_members(seed::QUARANTINE_GROUP_ID).contains(&seed::CAROL_ID.to_owned()));
    let again = session
        .graph()
        .contain(seed::CAROL_UPN, Action::AddToGroup(seed::QUARANTINE_GROUP_ID.into()), false)
        .await
        .unwrap();
    assert!(again.already_done, "adding twice is one membership");
    session.graph().contain(seed::CAROL_UPN, joined.compensation.unwrap(), false).await.unwrap();
    assert!(emulator.group_members(seed::QUARANTINE_GROUP_ID).is_empty());
}

#[tokio::test]
async fn risky_users_are_confirmed_dismissed_and_listed() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let high = session.graph().list_risky_users(Some("riskLevel eq 'high'")).await.unwrap();
    assert_eq!(high.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), [seed::EVE_ID]);

    let confirmed = session.graph().contain(seed::DAVE_UPN, Action::ConfirmCompromised, false).await.unwrap();
    assert!(matches!(confirmed.compensation, Some(Action::DismissRisk)));
    let dave =
        session.graph().list_risky_users(None).await.unwrap().into_iter().find(|u| u.id == seed::DAVE_ID).unwrap();
    assert!(matches!(
        (dave.risk_level, dave.risk_state),
        (Some(RiskLevel::High), Some(RiskState::ConfirmedCompromised))
    ));

    session.graph().contain(seed::EVE_ID, Action::DismissRisk, false).await.unwrap();
    assert_eq!(emulator.risky_user(seed::EVE_ID).unwrap()["riskState"], "dismissed");
    let user = session.graph().get_user(seed::GUEST_UPN).await.unwrap();
    assert_eq!(
        (user.id.as_str(), user.user_type.as_deref()),
        (seed::GUEST_ID, Some("Guest")),
        "a guest UPN with #EXT# resolves"
    );
}

#[tokio::test]
async fn a_token_without_the_permission_gets_forbidden_naming_it() {
    let emulator = emulator(0, 1).await;
    let roles: Vec<String> = sentinel_emulator::DEFAULT_GRAPH_ROLES
        .iter()
        .filter(|r| **r != "User.EnableDisableAccount.All")
        .map(|r| (*r).to_owned())
        .collect();
    emulator.set_graph_roles(roles);
    let mut session = session(&emulator).await;
    let error = connector_error(session.graph().contain(seed::BOB_UPN, Action::DisableAccount, false).await);
    assert_eq!(error.kind, ErrorKind::Forbidden, "{error:?}");
    assert_eq!((error.status, error.code.as_str()), (403, "Authorization_RequestDenied"));
    assert!(error.hint.contains("User.EnableDisableAccount.All"), "{}", error.hint);
    assert!(error.hint.contains("lacks it"), "{}", error.hint);
    assert_eq!(emulator.graph_user(seed::BOB_ID).unwrap()["accountEnabled"], true);

    // The check reads the same lack from the token, before any action is tried.
    let checks = session.check_connection().await.unwrap();
    let graph = checks.iter().find(|c| c.api == Api::Graph).unwrap();
    assert!(
        graph
            .missing_permissions
            .iter()
            .any(|m| m == "containment.disable-account needs User.EnableDisableAccount.All"),
        "{:?}",
        graph.missing_permissions
    );
    assert!(graph.allowed_actions.iter().any(|a| a == "containment.revoke-sessions"));
    let manifest = session.permission_manifest().await.unwrap();
    let disable = manifest.iter().find(|p| p.action == "containment.disable-account").unwrap();
    assert_eq!(disable.permissions, ["User.EnableDisableAccount.All", "User.Read.All"]);
}

#[tokio::test]
async fn graph_throttling_and_unavailability_honour_retry_after() {
    let emulator = emulator(0, 1).await;
    emulator.inject(Injection {
        method: Some("GET".into()),
        path_contains: "/v1.0/security/alerts_v2".into(),
        times: 1,
        status: 429,
        headers: vec![("Retry-After".into(), "1".into())],
        body: r#"{"error":{"code":"TooManyRequests","message":"Too many requests.","innerError":{"request-id":"x"}}}"#
            .into(),
    });
    let mut session = session(&emulator).await;
    let started = std::time::Instant::now();
    session.graph().list_alerts(graph_list_options()).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "waited the Retry-After");
    assert_eq!(graph_requests(&emulator).len(), 2, "one retry");

    // 503 with Retry-After on a containment change, then the beta-style 204.
    let answer = |status: u16, headers: Vec<(String, String)>, body: &str| Injection {
        method: Some("POST".into()),
        path_contains: "/revokeSignInSessions".into(),
        times: 1,
        status,
        headers,
        body: body.into(),
    };
    emulator.inject(answer(
        503,
        vec![("Retry-After".into(), "1".into())],
        r#"{"error":{"code":"serviceNotAvailable","message":"Try later."}}"#,
    ));
    emulator.inject(answer(204, vec![], ""));
    emulator.clear_requests();
    let revoked = session.graph().contain(seed::BOB_UPN, Action::RevokeSessions, false).await.unwrap();
    assert_eq!(revoked.status, Some(204), "204 is accepted as well as the documented 200");
    let posts = graph_requests(&emulator).into_iter().filter(|(m, _)| m == "POST").count();
    assert_eq!(posts, 2, "the 503 was retried once");
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let field = |error: ConnectorError| {
        assert_eq!(error.kind, ErrorKind::InvalidInput, "{error:?}");
        error.subject
    };
    assert_eq!(field(connector_error(session.graph().contain("bob", Action::DisableAccount, false).await)), "user");
    assert_eq!(
        field(connector_error(
            session.graph().contain(seed::BOB_UPN, Action::AddToGroup("not-a-guid".into()), false).await
        )),
        "group-id"
    );
    assert_eq!(field(connector_error(session.graph().update_incident("1", no_incident_change()).await)), "update");
    let too_many = sentinel_host::runtime::graph_security::ListOptions { top: Some(51), ..graph_list_options() };
    assert_eq!(field(connector_error(session.graph().list_incidents(too_many).await)), "top");
    assert_eq!(
        field(connector_error(session.graph().run_hunting_query("  ", HuntingOptions { timespan: None }).await)),
        "query"
    );
    assert!(emulator.requests().is_empty());
}
