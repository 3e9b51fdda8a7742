//! End to end: Sentinel watchlists through the component against the
//! emulator: create from CSV (waiting for the long-running operation), list,
//! get, idempotent upserts (the connector's own items and the CSV's), contains
//! (one KQL query, or the items), bulk add of entities, deletes, and every
//! limit refused before any request.

mod common;

use common::{arm_requests, config_for, emulator, host, session};
use sentinel_host::runtime::types::{EntityKind, ErrorKind, NormalizedEntity};
use sentinel_host::runtime::watchlists::{columns, new_watchlist, ContentFormat, Lookup, ProvisioningState};
use sentinel_host::runtime::CallError;

const CSV: &str = "ip,owner\n10.0.0.1,alice\n10.0.0.2,bob\n";

fn ip(address: &str) -> NormalizedEntity {
    NormalizedEntity {
        id: format!("entity-{address}"),
        kind: EntityKind::Ip,
        identifier: address.to_owned(),
        display_name: address.to_owned(),
        references: Vec::new(),
        object_id: None,
    }
}

fn invalid_field(result: Result<impl std::fmt::Debug, CallError>) -> String {
    match result {
        Err(CallError::Connector(error)) if error.kind == ErrorKind::InvalidInput => error.subject,
        other => panic!("expected invalid-input, got {other:?}"),
    }
}

fn paths(emulator: &sentinel_emulator::Emulator, part: &str) -> usize {
    emulator.requests().iter().filter(|r| r.path.contains(part)).count()
}

#[tokio::test]
async fn a_watchlist_from_csv_its_items_upserts_lookups_and_deletes() {
    let emulator = emulator(0, 1).await;
    emulator.set_watchlist_operations(1, 1);
    let mut session = session(&emulator).await;
    let mut watchlists = session.watchlists();

    let created = watchlists.create("vip", new_watchlist("VIP hosts", "ip", CSV), None).await.unwrap();
    assert_eq!(created.alias, "vip");
    assert_eq!(created.items_search_key, "ip");
    assert!(
        matches!(created.provisioning_state, Some(ProvisioningState::Succeeded)),
        "read after the operation ended: {:?}",
        created.provisioning_state
    );
    assert_eq!(paths(&emulator, "/watchlistStatuses/"), 2, "polled InProgress, then Succeeded");
    let put = emulator.requests().into_iter().find(|r| r.method == "PUT").unwrap();
    let body: serde_json::Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(body["properties"]["rawContent"], CSV);
    assert_eq!(body["properties"]["contentType"], "text/csv");

    let all = watchlists.list().await.unwrap();
    assert_eq!(all.iter().map(|w| w.alias.as_str()).collect::<Vec<_>>(), ["vip"]);
    assert_eq!(watchlists.get("VIP").await.unwrap().display_name, "VIP hosts", "aliases compare without case");

    let items = watchlists.items("vip").await.unwrap();
    assert_eq!(items.len(), 2, "the CSV's rows");
    let csv_item = items.iter().find(|i| i.values.iter().any(|c| c.value == "10.0.0.1")).unwrap().id.clone();

    // The CSV's item is found by listing and updated in place; its other columns stay.
    let updated = watchlists.upsert_item("vip", columns(&[("ip", "10.0.0.1"), ("tier", "gold")])).await.unwrap();
    assert!(!updated.created);
    assert_eq!(updated.item.id, csv_item);
    let stored = emulator.watchlist_items("vip");
    assert_eq!(stored.len(), 2);
    let row = &stored.iter().find(|i| i["name"] == csv_item.as_str()).unwrap()["properties"]["itemsKeyValue"];
    assert_eq!((row["owner"].as_str(), row["tier"].as_str()), (Some("alice"), Some("gold")));

    // A new value twice (a retried add): one item, under its UUIDv5.
    let first = watchlists.upsert_item("vip", columns(&[("ip", "10.0.0.3")])).await.unwrap();
    let again = watchlists.upsert_item("vip", columns(&[("ip", "10.0.0.3")])).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(first.item.id, again.item.id);
    assert_eq!(emulator.watchlist_items("vip").len(), 3);
    assert_eq!(watchlists.item("vip", &first.item.id).await.unwrap().values[0].value, "10.0.0.3");

    // One value and many, through one KQL query.
    emulator.clear_requests();
    let found = watchlists.contains("vip", vec!["10.0.0.3".into()], Lookup::Auto).await.unwrap();
    assert!(found[0].found);
    assert_eq!(found[0].item_id.as_deref(), Some(first.item.id.as_str()));
    let many = vec!["10.0.0.1".to_owned(), "192.0.2.9".to_owned(), "10.0.0.2".to_owned()];
    let found = watchlists.contains("vip", many.clone(), Lookup::Auto).await.unwrap();
    assert_eq!(found.iter().map(|m| m.found).collect::<Vec<_>>(), [true, false, true]);
    assert_eq!(paths(&emulator, "/query"), 2, "one query per call");
    assert_eq!(paths(&emulator, "/watchlistItems"), 0, "no listing when the workspace id is set");
    let query: serde_json::Value = serde_json::from_slice(&emulator.requests().last().unwrap().body).unwrap();
    assert!(query["query"].as_str().unwrap().starts_with("_GetWatchlist('vip')"), "{query}");
    // The same answer from the items.
    let from_items = watchlists.contains("vip", many, Lookup::Items).await.unwrap();
    let summary = |found: &[sentinel_host::runtime::watchlists::Membership]| {
        found.iter().map(|m| (m.value.clone(), m.found, m.item_id.clone())).collect::<Vec<_>>()
    };
    assert_eq!(summary(&from_items), summary(&found));

    // Bulk add from entities: one already there, one new; the retry writes nothing.
    let entities = vec![ip("10.0.0.2"), ip("10.0.0.7")];
    let added = watchlists.add_entities("vip", entities.clone()).await.unwrap();
    assert_eq!(added.iter().map(|a| a.added).collect::<Vec<_>>(), [false, true]);
    let puts_before = emulator.requests().iter().filter(|r| r.method == "PUT").count();
    let again = watchlists.add_entities("vip", entities).await.unwrap();
    assert!(again.iter().all(|a| !a.added));
    assert_eq!(again[1].item_id, added[1].item_id);
    assert_eq!(emulator.requests().iter().filter(|r| r.method == "PUT").count(), puts_before, "nothing written");
    assert_eq!(emulator.watchlist_items("vip").len(), 4);

    watchlists.delete_item("vip", &added[1].item_id).await.unwrap();
    assert_eq!(emulator.watchlist_items("vip").len(), 3);
    watchlists.delete_item("vip", &added[1].item_id).await.unwrap();

    emulator.clear_requests();
    watchlists.delete("vip", None).await.unwrap();
    assert_eq!(paths(&emulator, "/watchlistStatuses/"), 2, "the delete's operation was polled to its end");
    assert!(emulator.watchlists().is_empty());
    watchlists.delete("vip", None).await.unwrap();
    let gone = watchlists.get("vip").await.unwrap_err();
    assert!(matches!(gone, CallError::Connector(ref e) if e.kind == ErrorKind::NotFound), "{gone:?}");
}

#[tokio::test]
async fn items_are_read_over_every_page() {
    let emulator = emulator(0, 1).await;
    emulator.set_watchlist_operations(0, 0);
    let mut session = session(&emulator).await;
    let rows: String = (0..120).map(|i| format!("host-{i}.contoso.com,{i}\n")).collect();
    let csv = format!("fqdn,rank\n{rows}");
    session.watchlists().create("hosts", new_watchlist("Hosts", "fqdn", &csv), None).await.unwrap();
    let items = session.watchlists().items("hosts").await.unwrap();
    assert_eq!(items.len(), 120);
    let pages = arm_requests(&emulator).iter().filter(|r| r.path.ends_with("/watchlistItems")).count();
    assert_eq!(pages, 3, "pages of 50 followed through $skipToken");
    // Items only (no workspace id): the last page's value is found.
    let mut config = config_for(&emulator.url());
    config.workspace_id = None;
    let mut no_workspace = host().open("t", config, None).await.unwrap();
    let found = no_workspace.watchlists().contains("hosts", vec!["HOST-119.contoso.com".into()], Lookup::Auto).await;
    assert!(found.unwrap()[0].found, "without regard to case");
}

#[tokio::test]
async fn an_operation_longer_than_the_wait_is_a_timeout_and_a_tsv_works() {
    let emulator = emulator(0, 1).await;
    emulator.set_watchlist_operations(100, 1);
    let mut session = session(&emulator).await;
    let error = session.watchlists().create("slow", new_watchlist("Slow", "ip", CSV), Some(2)).await.unwrap_err();
    assert!(matches!(error, CallError::Connector(ref e) if e.kind == ErrorKind::Transport), "{error:?}");
    assert!(paths(&emulator, "/watchlistStatuses/") <= 3, "bounded by the deadline");

    emulator.set_watchlist_operations(0, 0);
    let mut tsv = new_watchlist("Tab", "user", "# exported\nuser\tdept\nalice@contoso.com\tfinance\n");
    tsv.format = ContentFormat::Tsv;
    tsv.lines_to_skip = 1;
    session.watchlists().create("tab", tsv, None).await.unwrap();
    let items = session.watchlists().items("tab").await.unwrap();
    assert_eq!(items[0].values.iter().find(|c| c.column == "dept").unwrap().value, "finance");
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let mut w = session.watchlists();
    assert_eq!(invalid_field(w.get("bad alias").await), "alias");
    assert_eq!(invalid_field(w.get("../x").await), "alias");
    assert_eq!(invalid_field(w.create("a", new_watchlist("A", "host", CSV), None).await), "items-search-key");
    assert_eq!(invalid_field(w.create("a", new_watchlist("A", "ip", CSV), Some(0)).await), "max-wait-seconds");
    let huge = format!("ip\n{}", "10.0.0.1\n".repeat(430_000));
    assert_eq!(invalid_field(w.create("a", new_watchlist("A", "ip", &huge), None).await), "content");
    let mut bad_duration = new_watchlist("A", "ip", CSV);
    bad_duration.default_duration = Some("thirty days".into());
    assert_eq!(invalid_field(w.create("a", bad_duration, None).await), "default-duration");
    assert_eq!(invalid_field(w.upsert_item("a", Vec::new()).await), "values");
    assert_eq!(invalid_field(w.item("a", "x/y").await), "item-id");
    assert_eq!(invalid_field(w.contains("a", Vec::new(), Lookup::Auto).await), "values");
    assert_eq!(invalid_field(w.contains("a", vec!["x".into(); 1001], Lookup::Auto).await), "values");
    assert_eq!(invalid_field(w.add_entities("a", vec![ip(" ")]).await), "entities");
    assert!(emulator.requests().is_empty(), "not even a token was asked for");
}

/// The emulator's watchlists and items carry every field of Microsoft's
/// examples (GetWatchlistByAlias.json, GetWatchlistItemById.json).
#[tokio::test]
async fn the_emulators_watchlists_have_the_fields_of_microsofts_examples() {
    let example = |name: &str| -> serde_json::Value {
        let path = format!("{}/tests/fixtures/azure-specs/watchlists-2025-12-01/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(path).unwrap()).unwrap()["responses"]["200"]
            ["body"]
            .clone()
    };
    let missing = |example: &serde_json::Value, answer: &serde_json::Value| -> Vec<String> {
        let mut missing = Vec::new();
        for (key, value) in example.as_object().unwrap() {
            match answer.get(key) {
                None => missing.push(key.clone()),
                Some(inner) if value.is_object() && key == "properties" => {
                    missing.extend(value.as_object().unwrap().keys().filter(|k| inner.get(*k).is_none()).cloned())
                }
                Some(_) => {}
            }
        }
        missing
    };
    let emulator = emulator(0, 1).await;
    emulator.set_watchlist_operations(0, 0);
    let mut session = session(&emulator).await;
    let mut new = new_watchlist("VIP", "ip", CSV);
    new.labels = vec!["Tag1".into()];
    new.default_duration = Some("P30D".into());
    new.description = Some("d".into());
    session.watchlists().create("vip", new, None).await.unwrap();
    let stored = &emulator.watchlists()[0];
    assert_eq!(missing(&example("GetWatchlistByAlias.json"), stored), Vec::<String>::new(), "{stored}");
    let item = &emulator.watchlist_items("vip")[0];
    assert_eq!(missing(&example("GetWatchlistItemById.json"), item), Vec::<String>::new(), "{item}");
}
