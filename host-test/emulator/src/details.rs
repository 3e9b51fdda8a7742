//! An incident's alerts, entities and bookmarks, derived deterministically
//! from the incident (the same incident always has the same ones), shaped like
//! `GetAllIncidentAlerts.json`, `GetAllIncidentEntities.json` and
//! `GetAllIncidentBookmarks.json`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::config::TenantIdentity;
use crate::data::guid;

const USERS: &[(&str, &str)] =
    &[("alice", "Alice Example"), ("bob.ops", "Bob Ops"), ("svc-backup", "Backup service"), ("carol", "Carol Admin")];
const HOSTS: &[&str] = &["ws-0142", "srv-sql-02", "vm-web-7", "laptop-ceo"];
const DOMAINS: &[&str] = &["login-micros0ft.example", "cdn-update.example", "files.example"];

fn rng_for(incident: &Value) -> ChaCha8Rng {
    let name = incident["name"].as_str().unwrap_or_default();
    let seed = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    ChaCha8Rng::seed_from_u64(seed)
}

fn entity(rng: &mut ChaCha8Rng, prefix: &str, kind: &str, properties: Value) -> Value {
    let name = guid(rng);
    json!({
        "id": format!("{prefix}/Entities/{name}"),
        "name": name,
        "type": "Microsoft.SecurityInsights/Entities",
        "kind": kind,
        "properties": properties,
    })
}

/// Account, host, IP, file with its hash, a process tying them together, and a URL.
pub fn entities(identity: &TenantIdentity, incident: &Value) -> Vec<Value> {
    let mut rng = rng_for(incident);
    let prefix = identity.workspace().prefix();
    let (user, display) = USERS[rng.random_range(0..USERS.len())];
    let host_name = HOSTS[rng.random_range(0..HOSTS.len())];
    let account = entity(
        &mut rng,
        &prefix,
        "Account",
        json!({"friendlyName": user, "accountName": user, "upnSuffix": "contoso.com", "ntDomain": "CONTOSO",
        "displayName": display, "aadUserId": guid_of(user), "sid": format!("S-1-5-21-1004336348-1177238915-682003330-{}", 1100 + user.len())}),
    );
    let host = entity(
        &mut rng,
        &prefix,
        "Host",
        json!({"friendlyName": host_name, "hostName": host_name, "dnsDomain": "corp.contoso.com", "ntDomain": "CONTOSO",
        "osFamily": "Windows", "osVersion": "10.0.19045", "isDomainJoined": true}),
    );
    let address = format!("203.0.113.{}", rng.random_range(1..255));
    let ip = entity(
        &mut rng,
        &prefix,
        "Ip",
        json!({"friendlyName": address, "address": address, "location": {"countryName": "Netherlands", "city": "Amsterdam", "asn": 64500}}),
    );
    let sha256: String = (0..32).map(|_| format!("{:02x}", rng.random::<u8>())).collect();
    let hash = entity(
        &mut rng,
        &prefix,
        "FileHash",
        json!({"friendlyName": sha256, "algorithm": "SHA256", "hashValue": sha256}),
    );
    let file = entity(
        &mut rng,
        &prefix,
        "File",
        json!({"friendlyName": "invoice.exe", "fileName": "invoice.exe", "directory": "C:\\Users\\Public\\Downloads",
        "hostEntityId": host["name"], "fileHashEntityIds": [hash["name"]]}),
    );
    let pid = rng.random_range(1000..9000).to_string();
    let process = entity(
        &mut rng,
        &prefix,
        "Process",
        json!({"friendlyName": "invoice.exe", "processId": pid,
        "commandLine": "\"C:\\Users\\Public\\Downloads\\invoice.exe\" -silent", "hostEntityId": host["name"], "accountEntityId": account["name"],
        "imageFileEntityId": file["name"], "creationTimeUtc": incident["properties"]["createdTimeUtc"]}),
    );
    let domain = DOMAINS[rng.random_range(0..DOMAINS.len())];
    let url = entity(
        &mut rng,
        &prefix,
        "Url",
        json!({"friendlyName": format!("https://{domain}/login"), "url": format!("https://{domain}/login")}),
    );
    vec![account, host, ip, hash, file, process, url]
}

fn guid_of(text: &str) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(text.len() as u64 * 7919);
    guid(&mut rng)
}

/// `additionalData.alertsCount` SecurityAlert entities.
pub fn alerts(identity: &TenantIdentity, incident: &Value) -> Vec<Value> {
    let mut rng = rng_for(incident);
    let prefix = identity.workspace().prefix();
    let properties = &incident["properties"];
    let count = properties["additionalData"]["alertsCount"].as_u64().unwrap_or(1);
    let product = properties["additionalData"]["alertProductNames"][0].as_str().unwrap_or("Azure Sentinel");
    (0..count)
        .map(|n| {
            let id = guid(&mut rng);
            json!({
                "id": format!("{prefix}/Entities/{id}"),
                "name": id,
                "type": "Microsoft.SecurityInsights/Entities",
                "kind": "SecurityAlert",
                "properties": {
                    "systemAlertId": id,
                    "alertDisplayName": format!("{} ({})", properties["title"].as_str().unwrap_or("Alert"), n + 1),
                    "alertType": "CustomAnalytics",
                    "friendlyName": properties["title"],
                    "severity": properties["severity"],
                    "status": "New",
                    "confidenceLevel": "Unknown",
                    "vendorName": "Microsoft",
                    "productName": product,
                    "description": properties["description"],
                    "tactics": properties["additionalData"]["tactics"],
                    "startTimeUtc": properties["firstActivityTimeUtc"],
                    "endTimeUtc": properties["lastActivityTimeUtc"],
                    "timeGenerated": properties["createdTimeUtc"],
                    "processingEndTime": properties["createdTimeUtc"],
                    "remediationSteps": ["Review the account's recent sign-ins", "Isolate the host if the activity is confirmed"],
                    "resourceIdentifiers": [{"type": "LogAnalytics", "workspaceId": identity.workspace_id}],
                    "additionalData": {"AlertMessageEnqueueTime": properties["createdTimeUtc"]},
                }
            })
        })
        .collect()
}

/// `additionalData.bookmarksCount` hunting bookmarks.
pub fn bookmarks(identity: &TenantIdentity, incident: &Value) -> Vec<Value> {
    let mut rng = rng_for(incident);
    let prefix = identity.workspace().prefix();
    let count = incident["properties"]["additionalData"]["bookmarksCount"].as_u64().unwrap_or(0);
    (0..count)
        .map(|_| {
            let id = guid(&mut rng);
            json!({
                "id": format!("{prefix}/bookmarks/{id}"),
                "name": id,
                "type": "Microsoft.SecurityInsights/bookmarks",
                "kind": "Bookmark",
                "properties": {
                    "displayName": "Suspicious sign-ins of the account",
                    "query": "SigninLogs | where ResultType != 0 | take 10",
                    "queryResult": "{\"TimeGenerated\":\"2026-11-01T10:00:00Z\",\"UserPrincipalName\":\"alice@contoso.com\"}",
                    "notes": "Found while hunting",
                    "labels": ["hunting"],
                    "created": incident["properties"]["createdTimeUtc"],
                    "eventTime": incident["properties"]["firstActivityTimeUtc"],
                }
            })
        })
        .collect()
}
