//! Issue 12, "nothing unbounded in the guest": `list-all-incidents` gathers
//! a whole list in the guest's memory, so past what that memory can hold it
//! refuses with a typed error that says to page, and never traps; paging
//! with `list-incidents` and its continuation reads any number in a page of
//! memory. The built component in wasmtime, the emulator on loopback.

mod common;

use common::{config_for, emulator, test_host_options};
use sentinel_host::runtime::types::{self, ListIncidentsOptions};
use sentinel_host::runtime::{list_options, CallError, ConnectorHost, HostOptions, Limits, Session};

/// A small sandbox, so that a few thousand incidents are more than it holds.
const SMALL_MEMORY: usize = 16 << 20;

fn host(memory_bytes: usize) -> ConnectorHost {
    let limits = Limits { memory_bytes, max_sessions: 4, ..Limits::default() };
    ConnectorHost::new(HostOptions { limits, ..test_host_options() }).expect("the embedded component loads")
}

/// The incidents numbered up to `last`.
fn up_to(last: i64) -> ListIncidentsOptions {
    ListIncidentsOptions {
        filter: Some(format!("properties/incidentNumber le {last}")),
        top: Some(1000),
        ..list_options()
    }
}

/// The refusal, with its hint; anything else (a trap above all) fails the test.
fn assert_refused_saying_to_page(result: Result<Vec<types::Incident>, CallError>, what: &str) {
    match result {
        Err(CallError::Connector(failure)) if failure.kind == types::ErrorKind::InvalidResponse => {
            assert!(failure.message.contains("too large to return in one call"), "{what}: {}", failure.message);
            assert!(
                failure
                    .hint
                    .to_lowercase()
                    .contains("page with list-incidents and its continuation (the cli's --all streams)"),
                "{what}: {}",
                failure.hint
            );
        }
        Err(other) => panic!("{what}: refused with {other}, not the typed error"),
        Ok(all) => panic!("{what}: returned {} incidents", all.len()),
    }
}

/// Every incident by paging: each continuation passed back verbatim.
async fn page_through(session: &mut Session, top: u32) -> Vec<String> {
    let mut names = Vec::new();
    let mut page = session.list_incidents(ListIncidentsOptions { top: Some(top), ..list_options() }).await.unwrap();
    loop {
        names.extend(page.incidents.iter().map(|i| i.id.clone()));
        let Some(link) = page.continuation else { return names };
        page =
            session.list_incidents(ListIncidentsOptions { continuation: Some(link), ..list_options() }).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn list_all_refuses_past_what_the_sandbox_holds_never_traps_and_the_session_goes_on() {
    let count = 6_000;
    let emulator = emulator(count, 12).await;
    let host = host(SMALL_MEMORY);
    let mut session = host.open("bound", config_for(&emulator.url()), None).await.unwrap();

    // Every size either comes back whole or is refused, and once refused
    // every larger one is too: never a trap, never a partial list.
    let mut numbers: Vec<i64> =
        emulator.incidents().iter().map(|i| i["properties"]["incidentNumber"].as_i64().unwrap()).collect();
    numbers.sort();
    let mut largest_returned = 0;
    let mut refused_at = None;
    for number in (500..=count).step_by(500) {
        let result = session.list_all_incidents(up_to(numbers[number - 1])).await;
        match (&result, refused_at) {
            (Ok(all), None) => {
                assert_eq!(all.len(), number, "the first {number}");
                largest_returned = number;
            }
            (Ok(all), Some(at)) => panic!("{} incidents returned after {at} were refused", all.len()),
            (Err(_), _) => {
                assert_refused_saying_to_page(result, &format!("up to #{number}"));
                refused_at.get_or_insert(number);
            }
        }
    }
    assert!(refused_at.is_some(), "{count} incidents are more than a {SMALL_MEMORY}-byte sandbox gathers");
    assert!(largest_returned >= 1000, "list-all still returns a thousand or more ({largest_returned})");
    assert_refused_saying_to_page(
        session.list_all_incidents(ListIncidentsOptions { top: Some(1000), ..list_options() }).await,
        "all",
    );

    // The session goes on: one page, and every incident by paging, each once.
    let first = session.list_incidents(ListIncidentsOptions { top: Some(5), ..list_options() }).await.unwrap();
    assert_eq!(first.incidents.len(), 5);
    let mut names = page_through(&mut session, 1000).await;
    assert_eq!(names.len(), count);
    names.sort();
    names.dedup();
    assert_eq!(names, common::names_in(&emulator));
    let memory = session.guest_memory_bytes();
    assert!(memory <= SMALL_MEMORY, "{memory}");
}

/// The issue's own case: tens of thousands of incidents in the default
/// 64 MiB sandbox ran the guest out of memory (a trap and a wasm backtrace).
#[tokio::test(flavor = "multi_thread")]
async fn list_all_of_forty_thousand_incidents_is_a_typed_refusal_not_a_trap() {
    let emulator = emulator(40_000, 3).await;
    let mut session = common::session(&emulator).await;
    let result = session.list_all_incidents(ListIncidentsOptions { top: Some(1000), ..list_options() }).await;
    assert_refused_saying_to_page(result, "40,000 incidents");
    let page = session.list_incidents(ListIncidentsOptions { top: Some(10), ..list_options() }).await.unwrap();
    assert_eq!(page.incidents.len(), 10, "the session goes on");
}
