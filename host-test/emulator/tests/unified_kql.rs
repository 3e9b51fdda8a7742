//! KQL over the incidents the emulator holds: `SecurityIncident` and
//! `SecurityAlert` with Microsoft's column names, as Microsoft support
//! suggests correlating Sentinel and Defender ids
//! (`SecurityIncident | where ProviderIncidentId == "..."`, unified-secops.md §1.2).

use serde_json::{json, Value};

mod common;
mod unified;

use common::{send, token, Answer};
use sentinel_emulator::{Emulator, EmulatorOptions, DEFAULT_WORKSPACE_ID, LOG_ANALYTICS_SCOPE};
use unified::{create, graph_id, name, start};

async fn query(emulator: &Emulator, kql: &str) -> Answer {
    let url = format!("{}/v1/workspaces/{DEFAULT_WORKSPACE_ID}/query", emulator.url());
    let bearer = format!("Bearer {}", token(emulator, LOG_ANALYTICS_SCOPE).await);
    let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    send("POST", &url, &headers, &json!({"query": kql}).to_string()).await
}

/// The rows of the first table, each as column name → value.
fn rows(answer: &Answer) -> Vec<serde_json::Map<String, Value>> {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let table = &answer.body["tables"][0];
    let columns: Vec<&str> = table["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    let rows = table["rows"].as_array().unwrap();
    rows.iter()
        .map(|r| columns.iter().zip(r.as_array().unwrap()).map(|(c, v)| (c.to_string(), v.clone())).collect())
        .collect()
}

#[tokio::test]
async fn security_incident_finds_the_sentinel_incident_of_a_defender_id() {
    let emulator = start(|_| {}).await;
    let [target, source] = [create(&emulator, "Target"), create(&emulator, "Source")];
    emulator.merge(&[graph_id(&source)], &graph_id(&target)).unwrap();
    let kql = format!("SecurityIncident | where ProviderIncidentId == \"{}\"", graph_id(&source));
    let found = rows(&query(&emulator, &kql).await);
    assert_eq!(found.len(), 1);
    let row = &found[0];
    assert_eq!(row["IncidentName"], name(&source).as_str());
    assert_eq!(
        (row["ProviderName"].as_str(), row["Status"].as_str(), row["Title"].as_str()),
        (Some("Microsoft XDR"), Some("Closed"), Some("Source"))
    );
    let labels: Value = serde_json::from_str(row["Labels"].as_str().unwrap()).unwrap();
    assert_eq!(labels[0]["labelName"], "Redirected");
    assert!(row["ClosedTime"].is_string() && row["CreatedTime"].is_string() && row["LastModifiedTime"].is_string());
    for column in ["IncidentNumber", "Severity", "TimeGenerated", "AlertIds", "IncidentUrl"] {
        assert!(!row[column].is_null(), "{column}: {row:?}");
    }

    // The target holds every alert, in SecurityIncident and SecurityAlert alike.
    let target_row =
        &rows(&query(&emulator, &format!("SecurityIncident | where IncidentName == '{}'", name(&target))).await)[0];
    let alert_ids: Vec<String> = serde_json::from_str(target_row["AlertIds"].as_str().unwrap()).unwrap();
    assert_eq!(alert_ids.len(), 2);
    for id in &alert_ids {
        let alert = rows(&query(&emulator, &format!("SecurityAlert | where SystemAlertId == '{id}'")).await);
        assert_eq!(alert.len(), 1, "{id}");
        for column in ["AlertName", "AlertSeverity", "ProviderName", "TimeGenerated", "ProductName"] {
            assert!(alert[0][column].is_string(), "{column}: {:?}", alert[0]);
        }
    }
}

#[tokio::test]
async fn default_mode_tables_and_numeric_where() {
    let emulator = Emulator::start(EmulatorOptions { incidents: 20, ..EmulatorOptions::default() }).await.unwrap();
    let all = rows(&query(&emulator, "SecurityIncident").await);
    assert_eq!(all.len(), 20);
    let number = emulator.incidents()[3]["properties"]["incidentNumber"].as_i64().unwrap();
    let one = rows(&query(&emulator, &format!("SecurityIncident | where IncidentNumber == {number}")).await);
    assert_eq!((one.len(), one[0]["ProviderName"].as_str()), (1, Some("Azure Sentinel")));
    let alerts: u64 =
        emulator.incidents().iter().map(|i| i["properties"]["additionalData"]["alertsCount"].as_u64().unwrap()).sum();
    assert_eq!(rows(&query(&emulator, "SecurityAlert").await).len() as u64, alerts);
    assert_eq!(rows(&query(&emulator, "SecurityAlert | take 2").await).len(), 2);
    assert_eq!(query(&emulator, "SecurityIncident | where Nope == 'x'").await.status, 400);
}
