//! Conformance with Microsoft's stable OpenAPI for Sentinel incidents
//! (`Incidents.json`, api-versions 2025-09-01, the default, and 2025-12-01,
//! each run with the connector configured for it):
//! - every ARM request the connector sends, for every action it is asked to
//!   run here, is an operation of the spec and meets it (see
//!   `common/openapi.rs` for what is checked);
//! - the emulator's answers have the shape of Microsoft's x-ms-examples.
//!
//! The validator's own tests (Microsoft's example requests pass, broken
//! requests fail) live in `common/openapi.rs` and run in this binary.

mod common;
#[path = "common/openapi.rs"]
mod openapi;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::ops::Range;

use sentinel_connector::core::config::ConnectionConfig;
use sentinel_emulator::{Emulator, RecordedRequest};
use sentinel_host::runtime::types::{
    Classification, ClassificationReason, IncidentStatus, IncidentUpdate, ListIncidentsOptions, NewIncident,
    OwnerChange, PollOptions, Severity, TaskStatus, TaskUpdate,
};
use sentinel_host::runtime::{indicators, list_options, poll_options, watchlists, CallError};
use serde_json::Value;

use common::{config_for, emulator, host, session};
use openapi::{fixture, Request, Spec};

/// The operations the actions below must have sent, together. Add the ones a
/// new action sends; the test fails if an action sends one not listed, or a
/// listed one is no longer sent.
const EXPECTED_OPERATIONS: &[&str] = &[
    "Incidents_List",
    "Incidents_Get",
    "Incidents_ListAlerts",
    "Incidents_ListEntities",
    "Incidents_ListBookmarks",
    "Incidents_CreateOrUpdate",
    "Incidents_Delete",
    "IncidentComments_List",
    "IncidentComments_CreateOrUpdate",
    "IncidentComments_Delete",
    "IncidentRelations_List",
    "IncidentRelations_CreateOrUpdate",
    "IncidentRelations_Delete",
    "IncidentTasks_List",
    "IncidentTasks_Get",
    "IncidentTasks_CreateOrUpdate",
    "IncidentTasks_Delete",
    "AlertRules_List",
    "AlertRules_Get",
    "AlertRules_CreateOrUpdate",
    "Watchlists_List",
    "Watchlists_Get",
    "Watchlists_CreateOrUpdate",
    "Watchlists_Delete",
    "WatchlistItems_List",
    "WatchlistItems_Get",
    "WatchlistItems_CreateOrUpdate",
    "WatchlistItems_Delete",
    "ThreatIntelligenceIndicator_CreateIndicator",
    "ThreatIntelligenceIndicator_QueryIndicators",
    "ThreatIntelligenceIndicators_List",
    "ThreatIntelligenceIndicator_Get",
    "ThreatIntelligenceIndicator_AppendTags",
    "ThreatIntelligenceIndicator_ReplaceTags",
    "ThreatIntelligenceIndicator_Delete",
];

/// Connection functions of the WIT (`wit/sentinel-connector.wit`) that this
/// test does not run yet. Every other one must be run below, so a new
/// function in the WIT fails this test until it is exercised or listed here.
const NOT_YET_EXERCISED: &[(&str, &str)] = &[
    ("search-events", "Log Analytics query API (/v1/workspaces/.../query): not an operation of Incidents.json"),
    ("threat-intelligence.observable-from-entity", "sends nothing: it converts a normalized entity"),
];

/// The actions run so far, and which of the emulator's recorded requests each sent.
struct Log<'a> {
    emulator: &'a Emulator,
    steps: Vec<(&'static str, Range<usize>)>,
}

impl<'a> Log<'a> {
    fn new(emulator: &'a Emulator) -> Self {
        Log { emulator, steps: Vec::new() }
    }

    /// Runs one action (a connector call on the session); it must succeed.
    /// `action` is the WIT function's name, with an optional note after a space.
    async fn run<T>(&mut self, action: &'static str, call: impl Future<Output = Result<T, CallError>>) -> T {
        let start = self.emulator.requests().len();
        let outcome = call.await;
        let end = self.emulator.requests().len();
        self.steps.push((action, start..end));
        outcome.unwrap_or_else(|e| panic!("{action} failed: {e}"))
    }
}

fn is_arm(request: &RecordedRequest) -> bool {
    request.path.starts_with("/subscriptions/")
}

fn shown(request: &RecordedRequest) -> String {
    let query = request.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
    let body = if request.body.is_empty() {
        String::new()
    } else {
        format!("\n    body: {}", String::from_utf8_lossy(&request.body))
    };
    format!("{} {}{query}{body}", request.method, request.path)
}

/// The request's `api-version` query parameter.
fn api_version_of(recorded: &RecordedRequest) -> Option<String> {
    url::form_urlencoded::parse(recorded.query.as_deref().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "api-version")
        .map(|(_, value)| value.into_owned())
}

fn as_request(recorded: &RecordedRequest) -> Request {
    Request {
        method: recorded.method.clone(),
        path: recorded.path.clone(),
        query: recorded.query.clone(),
        body: recorded.body.clone(),
    }
}

/// The functions of the WIT's `connection` resource, less the static `open`.
fn wit_connection_functions() -> BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("wit/sentinel-connector.wit");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let start = text.find("resource connection").expect("the WIT has a connection resource");
    let mut depth = 0usize;
    let mut functions = BTreeSet::new();
    for line in text[start..].lines() {
        let code = line.split("//").next().unwrap_or_default();
        if depth == 1 {
            if let Some((name, rest)) = code.trim().split_once(':') {
                let rest = rest.trim_start();
                if rest.starts_with("func") {
                    functions.insert(name.trim().to_owned());
                }
            }
        }
        depth += code.matches('{').count();
        depth = depth.saturating_sub(code.matches('}').count());
        if depth == 0 && code.contains('}') {
            break;
        }
    }
    assert!(functions.contains("list-incidents"), "the WIT parse found {functions:?}");
    functions
}

/// The functions of an interface that takes the connection as its first
/// parameter (`wit/<name>.wit`), as `<name>.<function>`.
fn wit_interface_functions(name: &str) -> BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("wit/{name}.wit"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let functions: BTreeSet<String> = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default().trim())
        .filter_map(|code| code.split_once(':').filter(|(_, rest)| rest.trim_start().starts_with("func")))
        .map(|(function, _)| format!("{name}.{}", function.trim()))
        .collect();
    assert!(!functions.is_empty(), "no function found in {}", path.display());
    functions
}

#[tokio::test]
async fn every_request_the_connector_sends_conforms_to_the_openapi() {
    conforms_at(None, "2025-09-01").await;
}

/// The newest stable api-version: the same suite, the connector configured
/// for 2025-12-01, against that version's `Incidents.json`.
#[tokio::test]
async fn every_request_conforms_to_the_2025_12_01_openapi_too() {
    conforms_at(Some("2025-12-01"), "2025-12-01").await;
}

/// Runs every action with `api_version` configured (the default when none)
/// and checks every ARM request against the stable spec of `spec_version`.
async fn conforms_at(api_version: Option<&str>, spec_version: &str) {
    assert!(openapi::STABLE_VERSIONS.contains(&spec_version));
    let emulator = emulator(30, 8).await;
    let config = ConnectionConfig { api_version: api_version.map(str::to_owned), ..config_for(&emulator.url()) };
    let mut session = host().open("conformance", config, None).await.expect("the connection opens");
    let mut log = Log::new(&emulator);
    let id = emulator.incidents()[4]["name"].as_str().expect("incidents have names").to_owned();

    // ---- Actions. Each call goes through `log.run("<wit-function>", ...)`.
    let filtered = ListIncidentsOptions {
        filter: Some("properties/severity eq 'High' and properties/status ne 'Closed'".into()),
        orderby: Some("properties/createdTimeUtc desc".into()),
        top: Some(5),
        ..list_options()
    };
    log.run("list-incidents", session.list_incidents(filtered)).await;
    let first = log
        .run("list-incidents", session.list_incidents(ListIncidentsOptions { top: Some(7), ..list_options() }))
        .await;
    let continuation = first.continuation.expect("30 incidents by 7 leave a next page");
    log.run(
        "list-incidents (next page)",
        session.list_incidents(ListIncidentsOptions { continuation: Some(continuation), ..list_options() }),
    )
    .await;
    let all = log
        .run("list-all-incidents", session.list_all_incidents(ListIncidentsOptions { top: Some(10), ..list_options() }))
        .await;
    assert_eq!(all.len(), 30, "list-all-incidents walked every page");
    log.run("get-incident", session.get_incident(&id)).await;
    log.run("list-alerts", session.list_alerts(&id)).await;
    log.run("list-entities", session.list_entities(&id)).await;
    log.run("list-normalized-entities", session.list_normalized_entities(&id)).await;
    log.run("list-bookmarks", session.list_bookmarks(&id)).await;
    // A Sentinel-only incident (provider Azure Sentinel) resolves to itself: one get.
    log.run("resolve-incident", session.resolve_incident(&id)).await;
    let poll = PollOptions {
        first_fetch: Some("2020-01-01T00:00:00Z".into()),
        include_details: true,
        include_updates: true,
        ..poll_options()
    };
    let batch = log.run("poll", session.poll(None, poll)).await;
    let poll = PollOptions { include_details: true, include_updates: true, ..poll_options() };
    log.run("poll (from the cursor)", session.poll(Some(batch.cursor.clone()), poll)).await;
    log.run("check-connection", session.check_connection()).await;

    // ---- Writes. ----
    let update = IncidentUpdate {
        title: None,
        description: Some("Investigated".into()),
        severity: Some(Severity::Medium),
        status: Some(IncidentStatus::Closed),
        classification: Some(Classification::FalsePositive),
        classification_reason: Some(ClassificationReason::InaccurateData),
        classification_comment: Some("Test data".into()),
        owner: Some(OwnerChange::Email("soc@contoso.com".into())),
        add_labels: vec!["reviewed".into()],
        remove_labels: vec![],
        update_merged_source: false,
    };
    log.run("update-incident", session.update_incident(&id, update)).await;
    let new = NewIncident {
        title: "Conformance".into(),
        severity: Severity::Low,
        status: IncidentStatus::New,
        description: None,
        classification: None,
        classification_reason: None,
        classification_comment: None,
        owner: Some(OwnerChange::Unassign),
        labels: vec!["soar".into()],
    };
    let created = log.run("create-incident", session.create_incident(new, None)).await;
    log.run("delete-incident", session.delete_incident(&created.id)).await;
    let comment = log.run("add-comment", session.add_comment(&id, "conformance", None)).await;
    log.run("list-comments", session.list_comments(&id)).await;
    log.run("delete-comment", session.delete_comment(&id, &comment[0].id)).await;
    let workspace = emulator.incidents()[0]["id"]
        .as_str()
        .expect("an ARM id")
        .split("/incidents/")
        .next()
        .unwrap_or_default()
        .to_owned();
    let related = format!("{workspace}/bookmarks/2216d0e1-91e3-4902-89fd-d2df8c535096");
    let relation = log.run("add-relation", session.add_relation(&id, &related, None)).await;
    log.run("list-relations", session.list_relations(&id)).await;
    log.run("delete-relation", session.delete_relation(&id, &relation.name)).await;
    let task = log.run("add-task", session.add_task(&id, "Conformance task", None, None)).await;
    log.run("list-tasks", session.list_tasks(&id)).await;
    let done = TaskUpdate { title: None, description: Some("done".into()), status: Some(TaskStatus::Completed) };
    log.run("update-task", session.update_task(&id, &task.id, done)).await;
    log.run("delete-task", session.delete_task(&id, &task.id)).await;
    // Analytics rules: Microsoft's example Scheduled rule, off and on again.
    let rules = log.run("analytics-rules.list-rules", session.analytics_rules().list()).await;
    let rule = rules.iter().find(|r| r.enabled).expect("an enabled example rule").id.clone();
    log.run("analytics-rules.get-rule", session.analytics_rules().get(&rule)).await;
    log.run("analytics-rules.set-rule-enabled", session.analytics_rules().set_enabled(&rule, false)).await;
    log.run("analytics-rules.set-rule-enabled (back on)", session.analytics_rules().set_enabled(&rule, true)).await;
    // Watchlists: one from CSV content (its long-running operation polled to
    // the end), its items, upserts, a lookup through the items, deletes.
    emulator.set_watchlist_operations(1, 0);
    let csv = "ip,owner\n10.0.0.1,alice\n10.0.0.2,bob\n";
    let new = watchlists::new_watchlist("VIP", "ip", csv);
    log.run("watchlists.create-watchlist", session.watchlists().create("vip", new, None)).await;
    log.run("watchlists.list-watchlists", session.watchlists().list()).await;
    log.run("watchlists.get-watchlist", session.watchlists().get("vip")).await;
    let items = log.run("watchlists.list-items", session.watchlists().items("vip")).await;
    log.run("watchlists.get-item", session.watchlists().item("vip", &items[0].id)).await;
    let values = watchlists::columns(&[("ip", "10.0.0.3"), ("owner", "carol")]);
    let upserted = log.run("watchlists.upsert-item", session.watchlists().upsert_item("vip", values)).await;
    let by_items = watchlists::Lookup::Items;
    let mut wl = session.watchlists();
    log.run("watchlists.watchlist-contains (items)", wl.contains("vip", vec!["10.0.0.3".into()], by_items)).await;
    let entities = session.list_normalized_entities(&id).await.expect("entities");
    log.run("watchlists.add-entities", session.watchlists().add_entities("vip", entities)).await;
    log.run("watchlists.delete-item", session.watchlists().delete_item("vip", &upserted.item.id)).await;
    log.run("watchlists.delete-watchlist", session.watchlists().delete("vip", None)).await;
    // Threat intelligence: an IP indicator (its pattern looked up first, in
    // pages of one so a nextLink is POSTed), read, listed, tagged, deleted.
    let mut new = indicators::new_indicator(indicators::Observable::Ip("203.0.113.9".into()));
    new.confidence = Some(70);
    new.threat_types = vec![indicators::ThreatType::MaliciousActivity];
    new.tags = vec!["conformance".into()];
    new.valid_until = Some("2099-01-01T00:00:00Z".into());
    let made = log.run("threat-intelligence.create-indicator", session.indicators().create(new)).await;
    let name = made.indicator.name;
    log.run("threat-intelligence.get-indicator", session.indicators().get(&name)).await;
    let options = indicators::ListIndicatorsOptions { top: Some(1), ..indicators::list_indicators_options() };
    log.run("threat-intelligence.list-indicators", session.indicators().list(options)).await;
    let query = indicators::IndicatorQuery {
        keywords: vec!["contoso".into()],
        sources: vec!["Azure Sentinel".into()],
        min_confidence: Some(10),
        max_confidence: Some(95),
        include_disabled: true,
        sort_by: vec![indicators::SortCriterion {
            item_key: "lastUpdatedTimeUtc".into(),
            order: indicators::SortOrder::Descending,
        }],
        page_size: Some(1),
        ..indicators::indicator_query()
    };
    log.run("threat-intelligence.query-indicators", session.indicators().query(query)).await;
    let tags = vec!["c2".to_owned()];
    log.run("threat-intelligence.append-tags", session.indicators().append_tags(&name, tags)).await;
    let tags = vec!["triaged".to_owned()];
    log.run("threat-intelligence.replace-tags", session.indicators().replace_tags(&name, tags)).await;
    log.run("threat-intelligence.delete-indicator", session.indicators().delete(&name)).await;
    // ---- end of writes ----

    // Every ARM request, whichever action sent it, against the spec of its
    // api-version: the configured one, except check-connection's one read
    // with the other stable version (which must meet that version's spec).
    let specs: BTreeMap<&str, Spec> = openapi::STABLE_VERSIONS.iter().map(|v| (*v, Spec::load_version(v))).collect();
    let extras = Spec::load_extras();
    let spec_for = |request: &RecordedRequest, action: &str| {
        if let Some(extra) = extras.iter().find(|spec| spec.has_operation(&request.method, &request.path)) {
            return extra;
        }
        let version = api_version_of(request).filter(|_| action == "check-connection");
        &specs[version.as_deref().filter(|v| specs.contains_key(v)).unwrap_or(spec_version)]
    };
    let requests = emulator.requests();
    let action_of =
        |index: usize| log.steps.iter().find(|(_, range)| range.contains(&index)).map_or("(no action)", |(a, _)| *a);
    let mut failures = Vec::new();
    let mut covered: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut checked_per_action: BTreeMap<&str, usize> = BTreeMap::new();
    // A watchlist operation's status URL is the service's own (its
    // Azure-AsyncOperation header), not an operation of Watchlists.json.
    let operation_status = |r: &RecordedRequest| r.path.contains("/watchlistStatuses/");
    for (index, request) in requests.iter().enumerate().filter(|(_, r)| is_arm(r) && !operation_status(r)) {
        let action = action_of(index);
        *checked_per_action.entry(action).or_default() += 1;
        match spec_for(request, action).check(&as_request(request)) {
            Ok(operation) => {
                covered.entry(operation).or_default().insert(action);
            }
            Err(reason) => failures.push(format!("[{action}] {}\n    -> {reason}", shown(request))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} request(s) do not conform to Incidents.json:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Every action sent at least one ARM request, and paging followed nextLink.
    for (action, _) in &log.steps {
        assert!(
            checked_per_action.get(action).copied().unwrap_or(0) > 0,
            "{action} sent no ARM request: nothing of it was checked"
        );
    }
    let followed_next_link = requests.iter().filter(|r| is_arm(r)).any(|r| {
        r.query.as_deref().is_some_and(|q| {
            q.to_ascii_lowercase().contains("%24skiptoken=") || q.to_ascii_lowercase().contains("$skiptoken=")
        })
    });
    assert!(followed_next_link, "no request carried a $skipToken: the nextLink was never followed");

    // The operations covered.
    let got: BTreeSet<&str> = covered.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = EXPECTED_OPERATIONS.iter().copied().collect();
    let by_action: Vec<String> = covered
        .iter()
        .map(|(op, actions)| format!("{op} <- {}", actions.iter().copied().collect::<Vec<_>>().join(", ")))
        .collect();
    assert_eq!(got, expected, "the operations the actions sent:\n{}", by_action.join("\n"));
    let untouched: Vec<String> =
        specs[spec_version].operation_ids().into_iter().filter(|op| !got.contains(op.as_str())).collect();
    let checked: usize = checked_per_action.values().sum();
    println!(
        "{checked} ARM requests conform; covered: {}\nnot sent by any action run here: {}",
        by_action.join("; "),
        untouched.join(", ")
    );

    // Every connection function of the WIT is run here or listed as not yet.
    let ran: BTreeSet<String> =
        log.steps.iter().map(|(action, _)| action.split(' ').next().unwrap_or_default().to_owned()).collect();
    let pending: BTreeSet<String> = NOT_YET_EXERCISED.iter().map(|(name, _)| (*name).to_owned()).collect();
    let mut wit = wit_connection_functions();
    wit.extend(wit_interface_functions("analytics-rules"));
    wit.extend(wit_interface_functions("watchlists"));
    wit.extend(wit_interface_functions("threat-intelligence"));
    let forgotten: Vec<&String> = wit.iter().filter(|f| !ran.contains(*f) && !pending.contains(*f)).collect();
    assert!(
        forgotten.is_empty(),
        "connection functions neither run by this test nor in NOT_YET_EXERCISED: {forgotten:?}"
    );
    let stale: Vec<&String> = pending.iter().filter(|f| ran.contains(*f) || !wit.contains(*f)).collect();
    assert!(stale.is_empty(), "NOT_YET_EXERCISED lists functions that are run here or no longer in the WIT: {stale:?}");
}

// ---------------------------------------------------------------------------
// The emulator's answers against Microsoft's examples.

/// Keys of Microsoft's examples the emulator may leave out (or answer
/// `null`), by the example's dotted path. None is in a `required` list of
/// the spec; each is one the emulator does not generate today.
///
/// Bookmarks (`HuntingBookmark`, EntityTypes.json): the properties require
/// only `displayName` and `query`; `friendlyName` and `additionalData` come
/// from `EntityCommonProperties` (read-only, optional). Microsoft's example
/// has all five; the emulator's bookmarks are attributed to no one and
/// carry no service bookkeeping. Everything else in the examples of list,
/// get, alerts, entities and bookmarks (top level and `properties`) the
/// emulator answers, with the same JSON type.
const MAY_OMIT: &[(&str, &str)] = &[
    ("bookmark.properties.createdBy", "ClientInfo of the user who made the bookmark"),
    ("bookmark.properties.updated", "when the bookmark was last changed"),
    ("bookmark.properties.updatedBy", "ClientInfo of the user who last changed it"),
    ("bookmark.properties.friendlyName", "EntityCommonProperties: a copy of displayName in Microsoft's example"),
    ("bookmark.properties.additionalData", "EntityCommonProperties: service bookkeeping (ETag, EntityId)"),
];

/// Problems found comparing the shape of `answer` with Microsoft's
/// `example`: every key of the example (at the top, and in `properties`,
/// `levels` deep in all) is in the answer with the same JSON type; `kind`
/// must be equal.
fn shape(example: &Value, answer: &Value, at: &str, levels: usize, problems: &mut Vec<String>) {
    let (Some(example), Some(answer)) = (example.as_object(), answer.as_object()) else {
        problems.push(format!("{at}: expected an object, got {}", kind_of(answer)));
        return;
    };
    for (key, expected) in example {
        let path = format!("{at}.{key}");
        let may_omit = MAY_OMIT.iter().any(|(p, _)| *p == path);
        let got = answer.get(key).unwrap_or(&Value::Null);
        if got.is_null() && !expected.is_null() {
            if !may_omit {
                problems.push(format!("{path} is missing (the example has {})", kind_of(expected)));
            }
            continue;
        }
        if kind_of(got) != kind_of(expected) && !(expected.is_number() && got.is_number()) {
            problems.push(format!("{path} is {} (the example has {})", kind_of(got), kind_of(expected)));
            continue;
        }
        if key == "kind" && got != expected {
            problems.push(format!("{path} is {got} (the example has {expected})"));
        }
        if levels > 0 && key == "properties" {
            shape(expected, got, &path, levels - 1, problems);
        }
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Asks the emulator directly, like the connector would, with a token.
struct Direct<'a> {
    emulator: &'a Emulator,
    token: String,
    workspace: String,
}

impl<'a> Direct<'a> {
    async fn new(emulator: &'a Emulator) -> Direct<'a> {
        let token = common::client::token(emulator, "https://management.azure.com/.default").await;
        let incident = &emulator.incidents()[0];
        let id = incident["id"].as_str().expect("an id");
        let workspace = id[..id.find("/incidents/").expect("an incident id")].to_owned();
        Direct { emulator, token, workspace }
    }

    /// `method` on `{workspace}/providers/Microsoft.SecurityInsights/{rest}`;
    /// `query` is appended after the api-version.
    async fn call(&self, method: &str, rest: &str, query: &str) -> Value {
        let target = format!("{}/{rest}?api-version=2025-09-01{query}", self.workspace);
        let bearer = format!("Bearer {}", self.token);
        let url = format!("{}{target}", self.emulator.url());
        let answer =
            common::client::send(method, &url, &[("Authorization", &bearer), ("Accept", "application/json")], "").await;
        assert_eq!(answer.status, 200, "{method} {target}: {}", answer.body);
        answer.body
    }
}

fn example_body(path: &str) -> Value {
    let body = fixture(path)["responses"]["200"]["body"].clone();
    assert!(body.is_object(), "{path} has a 200 body");
    body
}

#[tokio::test]
async fn the_emulators_answers_have_the_shape_of_microsofts_examples() {
    let emulator = emulator(40, 4).await;
    let incidents = emulator.incidents();
    // The examples' incident is closed, classified and assigned.
    let incident = incidents
        .iter()
        .find(|i| i["properties"]["status"] == "Closed" && i["properties"]["owner"]["assignedTo"].is_string())
        .expect("a closed, assigned incident");
    let name = incident["name"].as_str().expect("a name").to_owned();
    let with_bookmarks = incidents
        .iter()
        .find(|i| i["properties"]["additionalData"]["bookmarksCount"].as_u64().unwrap_or(0) > 0)
        .and_then(|i| i["name"].as_str())
        .expect("an incident with bookmarks")
        .to_owned();
    let direct = Direct::new(&emulator).await;
    let mut problems = Vec::new();

    // List: the envelope, and the example's incident against ours.
    let list = direct.call("GET", "incidents", "&%24orderby=properties%2FcreatedTimeUtc+desc&%24top=1000").await;
    let example = example_body("incidents/GetIncidents.json");
    shape(&example, &list, "list", 0, &mut problems);
    let ours = list["value"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["name"] == name.as_str()))
        .expect("the incident is listed");
    shape(&example["value"][0], ours, "incident", 1, &mut problems);

    // Get.
    let got = direct.call("GET", &format!("incidents/{name}"), "").await;
    shape(&example_body("incidents/GetIncidentById.json"), &got, "incident", 1, &mut problems);

    // Alerts.
    let alerts = direct.call("POST", &format!("incidents/{name}/alerts"), "").await;
    let example = example_body("incidents/GetAllIncidentAlerts.json");
    shape(&example, &alerts, "alerts", 0, &mut problems);
    let first = alerts["value"].as_array().and_then(|a| a.first()).expect("the incident has alerts");
    shape(&example["value"][0], first, "alert", 1, &mut problems);

    // Entities: the envelope, the example's Account against ours, the metadata.
    let entities = direct.call("POST", &format!("incidents/{name}/entities"), "").await;
    let example = example_body("incidents/GetAllIncidentEntities.json");
    shape(&example, &entities, "entities", 0, &mut problems);
    let account = entities["entities"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "Account"))
        .expect("an Account entity");
    shape(&example["entities"][0], account, "entity", 1, &mut problems);
    let meta = entities["metaData"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["entityKind"] == "Account"))
        .expect("Account metadata");
    shape(&example["metaData"][0], meta, "metaData", 0, &mut problems);

    // Bookmarks.
    let bookmarks = direct.call("POST", &format!("incidents/{with_bookmarks}/bookmarks"), "").await;
    let example = example_body("incidents/GetAllIncidentBookmarks.json");
    shape(&example, &bookmarks, "bookmarks", 0, &mut problems);
    let first = bookmarks["value"].as_array().and_then(|b| b.first()).expect("the incident has bookmarks");
    shape(&example["value"][0], first, "bookmark", 1, &mut problems);

    assert!(
        problems.is_empty(),
        "the emulator's answers differ in shape from Microsoft's examples:\n{}",
        problems.join("\n")
    );

    // The requests made here are Microsoft's operations too.
    let spec = Spec::load();
    for request in emulator.requests().iter().filter(|r| is_arm(r)) {
        if let Err(reason) = spec.check(&as_request(request)) {
            panic!("this test's own request does not conform: {}\n    -> {reason}", shown(request));
        }
    }
}

// ---------------------------------------------------------------------------
// The emulator's stored incidents, comments, relations and tasks against the examples.

fn fixture_body(path: &str, status: &str) -> Value {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/azure-specs").join(path),
    )
    .unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["responses"][status]["body"].clone()
}

/// Every key of Microsoft's example (at the top and under `properties`, less
/// the ones the service leaves out when empty) is in the emulator's answer,
/// with the same JSON type.
fn same_shape(example: &Value, answer: &Value, optional: &[&str], what: &str) {
    for (key, value) in example.as_object().unwrap() {
        let got = &answer[key];
        assert!(!got.is_null() || value.is_null(), "{what}: {key} is missing");
        assert_eq!(std::mem::discriminant(got), std::mem::discriminant(value), "{what}: {key} has another type");
    }
    for (key, value) in example["properties"].as_object().unwrap() {
        if optional.contains(&key.as_str()) {
            continue;
        }
        let got = &answer["properties"][key];
        assert!(!got.is_null(), "{what}: properties.{key} is missing");
        assert_eq!(
            std::mem::discriminant(got),
            std::mem::discriminant(value),
            "{what}: properties.{key} has another type"
        );
    }
}

#[tokio::test]
async fn stored_incidents_comments_relations_and_tasks_have_the_shape_of_the_examples() {
    let emulator = emulator(20, 4).await;
    let incident =
        emulator.incidents().into_iter().find(|i| i["properties"]["status"] == "Closed").expect("a closed incident");
    let id = incident["name"].as_str().unwrap().to_owned();
    same_shape(&fixture_body("incidents/GetIncidentById.json", "200"), &incident, &["owner"], "incident");

    let mut session = session(&emulator).await;
    session.add_comment(&id, "shape", None).await.unwrap();
    same_shape(
        &fixture_body("incident-comments/GetIncidentCommentById.json", "200"),
        &emulator.comments(&id)[0],
        &[],
        "comment",
    );
    let related = format!(
        "{}/bookmarks/2216d0e1-91e3-4902-89fd-d2df8c535096",
        incident["id"].as_str().unwrap().split("/incidents/").next().unwrap()
    );
    session.add_relation(&id, &related, None).await.unwrap();
    same_shape(
        &fixture_body("incident-relations/GetIncidentRelationByName.json", "200"),
        &emulator.relations(&id)[0],
        &["relatedResourceKind"],
        "relation",
    );
    session.add_task(&id, "shape", Some("d"), None).await.unwrap();
    same_shape(&fixture_body("incident-tasks/IncidentTasks_Get.json", "200"), &emulator.tasks(&id)[0], &[], "task");
}

/// The validator reads `kind` as ARM does: Microsoft's example Scheduled
/// rule conforms; the same body with a read-only field, or named a Fusion
/// rule (whose properties differ), does not.
#[test]
fn an_analytics_rule_is_checked_as_the_kind_it_names() {
    let extras = Spec::load_extras();
    let spec = extras.iter().find(|s| s.operation("AlertRules_CreateOrUpdate").is_some()).unwrap();
    let example = fixture("alert-rules-2025-12-01/CreateScheduledAlertRule.json");
    let path = "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace/providers/Microsoft.SecurityInsights/alertRules/73e01a99-5cd7-4139-a149-9f2736ff2ab5";
    let check =
        |body: &Value| spec.check_parts("PUT", path, Some("api-version=2025-09-01"), body.to_string().as_bytes());
    let rule = example["parameters"]["alertRule"].clone();
    assert_eq!(check(&rule), Ok("AlertRules_CreateOrUpdate".into()));
    let mut read_only = rule.clone();
    read_only["properties"]["lastModifiedUtc"] = "2019-01-01T13:00:30Z".into();
    assert!(check(&read_only).unwrap_err().contains("read-only"));
    let mut fusion = rule;
    fusion["kind"] = "Fusion".into();
    assert!(check(&fusion).unwrap_err().contains("properties.query"), "checked as a Fusion rule");
}
