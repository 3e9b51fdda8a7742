//! The emulator's clock (in-process and `/_emulator/clock`) and Defender's
//! update coalescing ("multiple changes ... in a 5-10 minute period, a
//! single update is sent to Microsoft Sentinel, with only the most recent
//! change", unified-secops.md §1.4), run as a poller would meet them: a day
//! of changes and polls in well under a second of real time.

use std::time::Duration;

use serde_json::{json, Value};

mod common;
mod unified;

use common::send;
use sentinel_emulator::graph_seed::BOB_UPN;
use sentinel_emulator::{Emulator, EmulatorOptions, Mutation, NewIncident};
use unified::{create, graph_id, name, start, Client};

const T0: &str = "2030-03-01T08:00:00Z";

fn t0() -> jiff::Timestamp {
    T0.parse().unwrap()
}

fn time(value: &Value) -> jiff::Timestamp {
    value.as_str().expect("a time").parse().expect("RFC 3339")
}

/// Whether `at` is `expected`, give or take the real time a test takes.
fn near(at: jiff::Timestamp, expected: jiff::Timestamp) -> bool {
    let gap = at.duration_since(expected);
    gap >= jiff::SignedDuration::ZERO && gap < jiff::SignedDuration::from_secs(10)
}

#[tokio::test]
async fn written_times_come_from_the_settable_clock() {
    let emulator = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let client = Client::new(&emulator).await;
    emulator.set_now(t0());
    let created = emulator.apply(Mutation::Create(NewIncident::default())).unwrap();
    assert!(near(time(&created["properties"]["createdTimeUtc"]), t0()), "{created}");

    let clock = format!("{}/_emulator/clock", emulator.url());
    let advanced = send("POST", &clock, &[], &json!({"advanceSeconds": 86_400}).to_string()).await;
    assert_eq!(advanced.status, 200, "{}", advanced.body);
    let day_later = t0() + jiff::SignedDuration::from_hours(24);
    assert!(near(time(&advanced.body["now"]), day_later), "{}", advanced.body);
    let mut put = json!({"properties": created["properties"].clone()});
    put["properties"]["severity"] = json!("High");
    let answer = client.arm("PUT", &format!("/{}", name(&created)), Some(&put)).await;
    assert!(near(time(&answer.body["properties"]["lastModifiedTimeUtc"]), day_later), "{}", answer.body);

    let set = send("POST", &clock, &[], &json!({"now": "2031-01-01T00:00:00Z"}).to_string()).await;
    assert!(set.body["now"].as_str().unwrap().starts_with("2031-01-01T00:00:0"), "{}", set.body);
    assert!(send("GET", &clock, &[], "").await.body["now"].as_str().unwrap().starts_with("2031-01-01"));
    assert_eq!(send("POST", &clock, &[], r#"{"now": "yesterday"}"#).await.status, 400);
    assert!(emulator.now() >= "2031-01-01T00:00:00Z".parse().unwrap());
}

/// The incidents a poller's `lastModifiedTimeUtc gt cursor` query returns.
async fn poll(client: &Client, cursor: &str) -> Vec<Value> {
    let filter = format!("properties/lastModifiedTimeUtc gt {cursor}");
    let answer = client.arm_list(&[("$filter", &filter), ("$top", "1000")]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn changes_within_the_window_reach_arm_as_one_update_with_the_latest_state() {
    let emulator = start(|o| o.coalesce_window = Some(Duration::from_secs(300))).await;
    let client = Client::new(&emulator).await;
    emulator.set_now(t0());
    let incident = create(&emulator, "Coalesced");
    let (id, incident_name) = (graph_id(&incident), name(&incident));
    let path = format!("security/incidents/{id}");
    let changes = [json!({"status": "inProgress"}), json!({"assignedTo": BOB_UPN}), json!({"customTags": ["vip"]})];
    for change in &changes {
        assert_eq!(client.graph_send("PATCH", &path, change).await.status, 200);
        emulator.advance(Duration::from_secs(60));
    }
    // Defender (Graph) has every change; Sentinel (ARM) none yet.
    let graph = emulator.graph_incident(&id).unwrap();
    assert_eq!((graph["status"].as_str(), graph["assignedTo"].as_str()), (Some("inProgress"), Some(BOB_UPN)));
    let held = client.arm("GET", &format!("/{incident_name}"), None).await.body;
    assert_eq!((held["etag"].clone(), held["properties"]["status"].clone()), (incident["etag"].clone(), json!("New")));
    let cursor = incident["properties"]["lastModifiedTimeUtc"].as_str().unwrap();
    assert!(poll(&client, cursor).await.is_empty(), "nothing new for the poller yet");

    emulator.advance(Duration::from_secs(180));
    let updates = poll(&client, cursor).await;
    assert_eq!(updates.len(), 1, "one update");
    let p = &updates[0]["properties"];
    assert_eq!((p["status"].as_str(), p["owner"]["userPrincipalName"].as_str()), (Some("Active"), Some(BOB_UPN)));
    assert_eq!(p["labels"], json!([{"labelName": "vip", "labelType": "User"}]), "with the latest state");
    let window_end = t0() + jiff::SignedDuration::from_mins(5);
    assert!(near(time(&p["lastModifiedTimeUtc"]), window_end), "stamped at the window's end: {p}");
    let again = client.arm("GET", &format!("/{incident_name}"), None).await.body;
    assert_eq!(again["etag"], updates[0]["etag"], "one new version, not three");
}

#[tokio::test]
async fn an_arm_put_within_the_window_is_not_undone_by_the_held_update() {
    let emulator = start(|o| o.coalesce_window = Some(Duration::from_secs(600))).await;
    let client = Client::new(&emulator).await;
    let incident = create(&emulator, "Both sides");
    let path = format!("security/incidents/{}", graph_id(&incident));
    assert_eq!(client.graph_send("PATCH", &path, &json!({"assignedTo": BOB_UPN})).await.status, 200);
    let current = client.arm("GET", &format!("/{}", name(&incident)), None).await.body;
    let mut put = json!({"etag": current["etag"], "properties": current["properties"].clone()});
    put["properties"]["severity"] = json!("High");
    assert_eq!(client.arm("PUT", &format!("/{}", name(&incident)), Some(&put)).await.status, 200);
    assert_eq!(emulator.graph_incident(&graph_id(&incident)).unwrap()["severity"], "high", "Defender sees the PUT");
    emulator.advance(Duration::from_secs(601));
    let after = client.arm("GET", &format!("/{}", name(&incident)), None).await.body;
    let p = &after["properties"];
    // The PUT echoed ARM's (unassigned) owner: that is no change, so Defender's assignment stays.
    assert_eq!((p["severity"].as_str(), p["owner"]["userPrincipalName"].as_str()), (Some("High"), Some(BOB_UPN)));
}

#[tokio::test]
async fn a_day_in_the_life_of_a_poller_sees_one_update_per_burst() {
    let emulator = start(|o| o.coalesce_window = Some(Duration::from_secs(300))).await;
    let client = Client::new(&emulator).await;
    emulator.set_now(t0());
    let incident = create(&emulator, "Busy incident");
    let path = format!("security/incidents/{}", graph_id(&incident));
    let mut cursor = incident["properties"]["lastModifiedTimeUtc"].as_str().unwrap().to_owned();
    let mut seen = 0;
    for hour in 0..24 {
        // A burst of changes within two minutes, then the poll at the end of the hour.
        for (minute, tag) in ["a", "b", "c"].iter().enumerate() {
            let body = json!({"customTags": [format!("h{hour}-{tag}")]});
            assert_eq!(client.graph_send("PATCH", &path, &body).await.status, 200);
            emulator.advance(Duration::from_secs(60 * (minute as u64 + 1) / 2 + 1));
        }
        emulator.advance(Duration::from_secs(3600 - 5 * 60));
        let updates = poll(&client, &cursor).await;
        assert_eq!(updates.len(), 1, "hour {hour}: one update for the burst");
        assert_eq!(updates[0]["properties"]["labels"][0]["labelName"], format!("h{hour}-c"), "the latest change");
        cursor = updates[0]["properties"]["lastModifiedTimeUtc"].as_str().unwrap().to_owned();
        seen += 1;
    }
    assert_eq!(seen, 24);
    assert!(emulator.now() >= t0() + jiff::SignedDuration::from_hours(23), "a day went by");
}
