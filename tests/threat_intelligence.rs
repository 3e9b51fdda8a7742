//! End to end: threat-intelligence indicators through the component against
//! the emulator: create from an observable and from an incident's entity
//! (twice: one indicator), get, list and query every page, tags appended
//! (only what is missing) and replaced, delete, every bad input refused before
//! any request, and a queryIndicators walk that misbehaves (a repeated
//! nextLink, a page elsewhere, an empty page with a nextLink, a next page
//! that fails).

mod common;

use common::{arm_requests, emulator, session};
use sentinel_emulator::{Emulator, Injection};
use sentinel_host::runtime::indicators::{
    indicator_query, list_indicators_options, new_indicator, FileHash, HashAlgorithm, IndicatorQuery,
    ListIndicatorsOptions, Observable, ThreatType,
};
use sentinel_host::runtime::types::{EntityKind, ErrorKind, NormalizedEntity};
use sentinel_host::runtime::CallError;

fn invalid_field<T: std::fmt::Debug>(result: Result<T, CallError>) -> String {
    match result {
        Err(CallError::Connector(error)) if error.kind == ErrorKind::InvalidInput => error.subject,
        other => panic!("expected invalid-input, got {other:?}"),
    }
}

fn posts_to(emulator: &Emulator, part: &str) -> usize {
    emulator.requests().iter().filter(|r| r.method == "POST" && r.path.ends_with(part)).count()
}

fn with_pattern(emulator: &Emulator, pattern: &str) -> usize {
    emulator.indicators().iter().filter(|i| i["properties"]["pattern"] == pattern).count()
}

fn query_path() -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights/threatIntelligence/main/queryIndicators",
        sentinel_emulator::DEFAULT_SUBSCRIPTION_ID,
        sentinel_emulator::DEFAULT_RESOURCE_GROUP,
        sentinel_emulator::DEFAULT_WORKSPACE_NAME
    )
}

fn page_with_next(next: &str) -> Injection {
    Injection {
        method: Some("POST".into()),
        path_contains: "/queryIndicators".into(),
        times: 1,
        status: 200,
        headers: vec![],
        body: format!(r#"{{"value":[],"nextLink":"{next}"}}"#),
    }
}

#[tokio::test]
async fn indicators_are_created_once_per_pattern_read_queried_tagged_and_deleted() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let mut ti = session.indicators();

    // An IP, twice (a retried create): one indicator, the same name.
    let mut new = new_indicator(Observable::Ip("203.0.113.7".into()));
    new.confidence = Some(80);
    new.threat_types = vec![ThreatType::MaliciousActivity];
    new.tags = vec!["playbook".into()];
    new.valid_until = Some("2099-01-01T00:00:00Z".into());
    let first = ti.create(new.clone()).await.unwrap();
    let again = ti.create(new).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(first.indicator.name, again.indicator.name);
    assert_eq!(first.indicator.pattern, "[ipv4-addr:value = '203.0.113.7']");
    assert_eq!(first.indicator.pattern_type.as_deref(), Some("ipv4-addr"));
    assert_eq!(first.indicator.confidence, Some(80));
    assert!(matches!(first.indicator.threat_types.as_slice(), [ThreatType::MaliciousActivity]));
    assert_eq!(first.indicator.source.as_deref(), Some("Microsoft Sentinel"));
    assert!(first.indicator.valid_from.is_some(), "defaults to now");
    assert_eq!(with_pattern(&emulator, "[ipv4-addr:value = '203.0.113.7']"), 1);
    assert_eq!(posts_to(&emulator, "/createIndicator"), 1, "the retry only looked");
    assert_eq!(posts_to(&emulator, "/queryIndicators"), 2, "each create looks the pattern up first");

    // One of Microsoft's seeded URL indicators: found, not created again.
    let contoso = ti.create(new_indicator(Observable::Url("https://www.contoso.com".into()))).await.unwrap();
    assert!(!contoso.created);
    assert_eq!(contoso.indicator.name, "27d963e6-e6e4-e0f9-e9d7-c53985b3bbe8");

    // From an incident's file-hash entity, its quote escaped in nothing (hex only).
    let hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    let entity = NormalizedEntity {
        id: "e1".into(),
        kind: EntityKind::FileHash,
        identifier: format!("sha256:{}", hash.to_lowercase()),
        display_name: "payload".into(),
        references: Vec::new(),
        object_id: None,
    };
    let observable = ti.observable_from_entity(entity.clone()).await.unwrap();
    let expected = Observable::FileHash(FileHash { algorithm: HashAlgorithm::Sha256, value: hash.to_lowercase() });
    assert_eq!(format!("{observable:?}"), format!("{expected:?}"));
    let from_entity = ti.create(new_indicator(observable)).await.unwrap();
    assert_eq!(from_entity.indicator.pattern, format!("[file:hashes.'SHA-256' = '{}']", hash.to_lowercase()));
    let account = NormalizedEntity { kind: EntityKind::Account, identifier: "alice@contoso.com".into(), ..entity };
    assert_eq!(invalid_field(ti.observable_from_entity(account).await), "entity");

    // A quote in a URL is escaped in the pattern and found again by it.
    let quoted = new_indicator(Observable::Url("https://evil.example/it's".into()));
    let made = ti.create(quoted.clone()).await.unwrap();
    assert_eq!(made.indicator.pattern, r"[url:value = 'https://evil.example/it\'s']");
    assert!(!ti.create(quoted).await.unwrap().created);

    // Get, list (pages of 2), query with criteria.
    let name = first.indicator.name.clone();
    assert_eq!(ti.get(&name).await.unwrap().pattern, first.indicator.pattern);
    let listed = ti.list(ListIndicatorsOptions { top: Some(2), ..list_indicators_options() }).await.unwrap();
    assert_eq!((listed.indicators.len(), listed.more), (5, false), "2 examples and 3 created, over 3 pages");
    let capped = ti
        .list(ListIndicatorsOptions { top: Some(2), max_results: Some(3), ..list_indicators_options() })
        .await
        .unwrap();
    assert_eq!((capped.indicators.len(), capped.more), (3, true));
    let query = IndicatorQuery {
        sources: vec!["Azure Sentinel".into()],
        min_confidence: Some(80),
        page_size: Some(1),
        ..indicator_query()
    };
    let found = ti.query(query).await.unwrap();
    assert_eq!(found.indicators.iter().map(|i| i.confidence).collect::<Vec<_>>(), [Some(90)]);
    let by_type = IndicatorQuery { pattern_types: vec!["url".into()], page_size: Some(1), ..indicator_query() };
    assert_eq!(ti.query(by_type).await.unwrap().indicators.len(), 3, "walked one page at a time");

    // Tags: only the missing one is appended; a retry writes nothing.
    let tags = vec!["PLAYBOOK".to_owned(), "c2".to_owned()];
    let tagged = ti.append_tags(&name, tags.clone()).await.unwrap();
    assert_eq!(tagged.tags, ["playbook", "c2"]);
    let appends = posts_to(&emulator, "/appendTags");
    assert_eq!(ti.append_tags(&name, tags).await.unwrap().tags, ["playbook", "c2"]);
    assert_eq!(posts_to(&emulator, "/appendTags"), appends, "nothing missing, nothing sent");
    let replaced = ti.replace_tags(&name, vec!["triaged".into()]).await.unwrap();
    assert_eq!(replaced.tags, ["triaged"]);
    assert_eq!(ti.replace_tags(&name, Vec::new()).await.unwrap().tags, Vec::<String>::new());

    // Delete, and again: gone is success.
    ti.delete(&name).await.unwrap();
    ti.delete(&name).await.unwrap();
    let error = ti.get(&name).await.unwrap_err();
    assert!(matches!(error, CallError::Connector(ref e) if e.kind == ErrorKind::NotFound), "{error}");
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let mut ti = session.indicators();
    let cases = [
        (Observable::Ip("999.1.1.1".into()), "observable"),
        (Observable::Domain("not a domain".into()), "observable"),
        (Observable::Url("mailto:x@example.com".into()), "observable"),
        (Observable::FileHash(FileHash { algorithm: HashAlgorithm::Md5, value: "abc".into() }), "observable"),
        (Observable::Email("nobody".into()), "observable"),
    ];
    for (observable, field) in cases {
        assert_eq!(invalid_field(ti.create(new_indicator(observable)).await), field);
    }
    let mut new = new_indicator(Observable::Domain("example.com".into()));
    new.valid_from = Some("yesterday".into());
    assert_eq!(invalid_field(ti.create(new.clone()).await), "valid-from");
    new.valid_from = None;
    new.confidence = Some(200);
    assert_eq!(invalid_field(ti.create(new).await), "confidence");
    assert_eq!(invalid_field(ti.get("../x").await), "name");
    assert_eq!(invalid_field(ti.append_tags("x", vec![]).await), "tags");
    let query = IndicatorQuery { page_size: Some(5000), ..indicator_query() };
    assert_eq!(invalid_field(ti.query(query).await), "page-size");
    assert!(arm_requests(&emulator).is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_query_walk_that_repeats_goes_elsewhere_or_fails_midway_is_an_error_never_a_short_list() {
    let emulator = emulator(0, 1).await;
    let mut session = session(&emulator).await;
    let origin = emulator.url();
    let all = session.indicators().query(IndicatorQuery { page_size: Some(1), ..indicator_query() }).await.unwrap();
    assert_eq!(all.indicators.len(), 2);

    // An empty page with a nextLink: the walk goes on (it does not stop early).
    let next = format!("{origin}{}?api-version=2025-09-01&$skipToken=0", query_path());
    emulator.inject(page_with_next(&next));
    emulator.clear_requests();
    let walked = session.indicators().query(IndicatorQuery { page_size: Some(1), ..indicator_query() }).await.unwrap();
    assert_eq!(walked.indicators.len(), 2, "every indicator after the empty page");
    let posts: Vec<_> = emulator.requests().into_iter().filter(|r| r.path.ends_with("/queryIndicators")).collect();
    assert!(posts.iter().all(|r| r.method == "POST"), "each nextLink is POSTed, never a GET");
    assert!(posts.iter().all(|r| r.body == posts[0].body), "with the same criteria");
    assert_eq!(posts[1].query.as_deref(), Some("api-version=2025-09-01&$skipToken=0"), "the link exactly as given");

    // The same nextLink twice: a typed error, not a loop.
    let mut repeat = page_with_next(&next);
    repeat.times = 2;
    emulator.inject(repeat);
    let error = session.indicators().query(indicator_query()).await.unwrap_err();
    assert!(matches!(error, CallError::Connector(ref e) if e.kind == ErrorKind::InvalidResponse), "{error}");
    assert!(error.to_string().contains("same nextLink"), "{error}");

    // A next page that fails: the error, not the indicators read so far.
    emulator.inject(page_with_next(&format!("{origin}{}?api-version=2025-09-01&$skipToken=bad", query_path())));
    let error = session.indicators().query(indicator_query()).await.unwrap_err();
    assert!(matches!(error, CallError::Connector(ref e) if e.kind == ErrorKind::BadRequest), "{error}");

    // A nextLink to another origin: refused before anything is sent there.
    let decoy = common::emulator(0, 2).await;
    emulator.inject(page_with_next(&format!("{}{}?$skipToken=1", decoy.url(), query_path())));
    let error = session.indicators().query(indicator_query()).await.unwrap_err();
    assert!(matches!(error, CallError::Connector(ref e) if e.kind == ErrorKind::InvalidResponse), "{error}");
    assert!(decoy.requests().is_empty(), "the bearer token never left for the other origin");

    // The create's look-up walks the same way: a repeated link fails the create, and nothing is created.
    let mut repeat = page_with_next(&next);
    repeat.times = 2;
    emulator.inject(repeat);
    let before = emulator.indicators().len();
    assert!(session.indicators().create(new_indicator(Observable::Ip("198.51.100.1".into()))).await.is_err());
    assert_eq!(emulator.indicators().len(), before);
}
