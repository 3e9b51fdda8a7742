//! Realistic incidents, generated deterministically from a seed and shaped
//! like Microsoft's `GetIncidents.json` example.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::config::{DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, DEFAULT_WORKSPACE_NAME};

const TITLES: &[(&str, &str, &[&str])] = &[
    ("Sign-in from an anonymous IP address", "A user signed in from a Tor exit node.", &["InitialAccess"]),
    (
        "Impossible travel activity",
        "Sign-ins from two countries 40 minutes apart.",
        &["InitialAccess", "CredentialAccess"],
    ),
    (
        "Mass download by a single user",
        "A user downloaded 1,200 files from SharePoint in 10 minutes.",
        &["Exfiltration", "Collection"],
    ),
    (
        "Suspicious PowerShell command line",
        "Encoded PowerShell launched by winword.exe.",
        &["Execution", "DefenseEvasion"],
    ),
    (
        "Possible ransomware activity on host",
        "Many files renamed with a new extension, shadow copies deleted.",
        &["Impact"],
    ),
    ("Brute force attack against RDP", "Over 500 failed RDP logons followed by a success.", &["CredentialAccess"]),
    ("User clicked a phishing link", "A user opened a URL later classified as phishing.", &["InitialAccess"]),
    (
        "Suspicious inbox forwarding rule",
        "A new rule forwards all mail to an external address.",
        &["Collection", "Exfiltration"],
    ),
    ("Credential dumping from LSASS", "A process read LSASS memory.", &["CredentialAccess"]),
    (
        "New admin account created",
        "A global administrator was added outside a change window.",
        &["Persistence", "PrivilegeEscalation"],
    ),
    (
        "Connection to a known C2 domain",
        "A host resolved and contacted a known command-and-control domain.",
        &["CommandAndControl"],
    ),
    (
        "Multistage attack with lateral movement",
        "Fusion correlated a suspicious sign-in with remote execution.",
        &["LateralMovement", "Execution"],
    ),
];
const PRODUCTS: &[&str] = &[
    "Azure Sentinel",
    "Microsoft Defender for Endpoint",
    "Azure Active Directory Identity Protection",
    "Microsoft Defender for Office 365",
    "Microsoft Defender for Cloud Apps",
];
const ANALYSTS: &[(&str, &str)] = &[
    ("Alex Chen", "alex.chen"),
    ("Priya Natarajan", "priya.n"),
    ("Sam Okafor", "sam.okafor"),
    ("Jordan Lee", "jordan.lee"),
];
const LABELS: &[&str] = &["phishing", "vip", "false-alarm-candidate", "ransomware", "needs-escalation"];

pub struct Workspace<'a> {
    pub subscription: &'a str,
    pub resource_group: &'a str,
    pub workspace: &'a str,
}

/// The one workspace the emulator serves.
pub fn default_workspace() -> Workspace<'static> {
    Workspace {
        subscription: DEFAULT_SUBSCRIPTION_ID,
        resource_group: DEFAULT_RESOURCE_GROUP,
        workspace: DEFAULT_WORKSPACE_NAME,
    }
}

impl Workspace<'_> {
    pub fn prefix(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.OperationalInsights/workspaces/{}/providers/Microsoft.SecurityInsights",
            self.subscription, self.resource_group, self.workspace
        )
    }
}

/// `count` incidents created within the 30 days before `anchor`.
pub fn generate_incidents(count: usize, seed: u64, anchor: jiff::Timestamp, workspace: &Workspace) -> Vec<Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let window = 30 * 24 * 3600;
    let mut created: Vec<i64> = (0..count).map(|_| anchor.as_second() - rng.random_range(600..window)).collect();
    created.sort_unstable();
    let mut numbers: Vec<i64> = (0..count as i64).map(|i| 1000 + i).collect();
    // Real incident numbers do not follow creation time: swap some neighbours.
    for i in 1..count {
        if rng.random_bool(0.15) {
            numbers.swap(i - 1, i);
        }
    }
    (0..count).map(|i| incident(&mut rng, workspace, numbers[i], created[i], anchor)).collect()
}

pub fn guid(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid().to_string()
}

/// Now, as Azure and Graph write times (seven fractional digits).
pub fn now() -> String {
    let now = jiff::Timestamp::now();
    format!("{}.{:07}Z", now.strftime("%Y-%m-%dT%H:%M:%S"), now.subsec_nanosecond() / 100)
}

/// A new etag, quoted as ARM sends it.
pub fn new_etag() -> String {
    format!("\"{}\"", uuid::Uuid::new_v4())
}

/// The anchor of generated times when the options give none.
pub fn now_to_the_hour() -> jiff::Timestamp {
    let now = jiff::Timestamp::now().as_second();
    jiff::Timestamp::from_second(now - now.rem_euclid(3600)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

pub fn format_time(seconds: i64, rng: &mut ChaCha8Rng) -> String {
    // The service writes up to seven fractional digits; some times have none.
    let fraction =
        if rng.random_bool(0.5) { format!(".{:07}", rng.random_range(0..10_000_000)) } else { String::new() };
    let time = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{}{fraction}Z", time.strftime("%Y-%m-%dT%H:%M:%S"))
}

fn incident(rng: &mut ChaCha8Rng, ws: &Workspace, number: i64, created: i64, anchor: jiff::Timestamp) -> Value {
    let name = guid(rng);
    let (title, description, tactics) = TITLES[rng.random_range(0..TITLES.len())];
    let severity = ["High", "Medium", "Medium", "Low", "Low", "Informational"][rng.random_range(0..6)];
    let status = ["New", "New", "New", "Active", "Active", "Closed"][rng.random_range(0..6)];
    let modified = (created + rng.random_range(1..7200)).min(anchor.as_second());
    let first_activity = created - rng.random_range(300..3600);
    let mut properties = json!({
        "title": title,
        "description": description,
        "severity": severity,
        "status": status,
        "createdTimeUtc": format_time(created, rng),
        "lastModifiedTimeUtc": format_time(modified, rng),
        "firstActivityTimeUtc": format_time(first_activity, rng),
        "lastActivityTimeUtc": format_time(created - rng.random_range(0..300), rng),
        "incidentNumber": number,
        "incidentUrl": format!("https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident{}/incidents/{name}", ws.prefix()),
        "labels": labels(rng),
        "providerName": "Azure Sentinel",
        "providerIncidentId": number.to_string(),
        "relatedAnalyticRuleIds": [format!("{}/alertRules/{}", ws.prefix(), guid(rng))],
        "additionalData": {
            "alertsCount": rng.random_range(1..6),
            "bookmarksCount": rng.random_range(0..2),
            "commentsCount": rng.random_range(0..4),
            "alertProductNames": [PRODUCTS[rng.random_range(0..PRODUCTS.len())]],
            "tactics": tactics,
        },
    });
    if rng.random_bool(0.5) {
        let (display, alias) = ANALYSTS[rng.random_range(0..ANALYSTS.len())];
        properties["owner"] = json!({
            "objectId": guid(rng),
            "email": format!("{alias}@contoso.com"),
            "userPrincipalName": format!("{alias}@contoso.com"),
            "assignedTo": display,
            "ownerType": "User",
        });
    } else {
        properties["owner"] = json!({"objectId": null, "email": null, "assignedTo": null, "userPrincipalName": null});
    }
    if status == "Closed" {
        let (classification, reason) = [
            ("TruePositive", "SuspiciousActivity"),
            ("BenignPositive", "SuspiciousButExpected"),
            ("FalsePositive", "IncorrectAlertLogic"),
            ("FalsePositive", "InaccurateData"),
        ][rng.random_range(0..4)];
        properties["classification"] = json!(classification);
        properties["classificationReason"] = json!(reason);
        properties["classificationComment"] = json!("Reviewed by the SOC.");
    }
    resource(ws, &name, format!("\"{}\"", guid(rng)), properties)
}

/// The ARM resource around an incident's properties.
fn resource(ws: &Workspace, name: &str, etag: String, properties: Value) -> Value {
    json!({
        "id": format!("{}/incidents/{name}", ws.prefix()),
        "name": name,
        "type": "Microsoft.SecurityInsights/incidents",
        "etag": etag,
        "properties": properties,
    })
}

/// A plain incident with chosen fields, for tests and the admin endpoint.
#[allow(clippy::too_many_arguments)]
pub fn incident_from(
    ws: &Workspace,
    name: &str,
    number: i64,
    title: &str,
    severity: &str,
    status: &str,
    created: &str,
    modified: &str,
) -> Value {
    let properties = json!({
        "title": title,
        "severity": severity,
        "status": status,
        "createdTimeUtc": created,
        "lastModifiedTimeUtc": modified,
        "incidentNumber": number,
        "labels": [],
        "providerName": "Azure Sentinel",
        "providerIncidentId": number.to_string(),
        "additionalData": {"alertsCount": 1, "bookmarksCount": 0, "commentsCount": 0, "alertProductNames": ["Azure Sentinel"], "tactics": []},
    });
    resource(ws, name, new_etag(), properties)
}

fn labels(rng: &mut ChaCha8Rng) -> Value {
    if rng.random_bool(0.7) {
        return json!([]);
    }
    let label = LABELS[rng.random_range(0..LABELS.len())];
    let kind = if rng.random_bool(0.5) { "User" } else { "AutoAssigned" };
    json!([{"labelName": label, "labelType": kind}])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> Workspace<'static> {
        Workspace { subscription: "s", resource_group: "rg", workspace: "ws" }
    }

    fn anchor() -> jiff::Timestamp {
        "2026-11-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn same_seed_same_incidents() {
        let a = generate_incidents(30, 7, anchor(), &workspace());
        assert_eq!(a, generate_incidents(30, 7, anchor(), &workspace()));
        assert_ne!(a, generate_incidents(30, 8, anchor(), &workspace()));
    }

    #[test]
    fn incidents_are_consistent_like_the_service() {
        let all = generate_incidents(200, 3, anchor(), &workspace());
        let mut numbers_out_of_creation_order = 0;
        for pair in all.windows(2) {
            if pair[0]["properties"]["incidentNumber"].as_i64() > pair[1]["properties"]["incidentNumber"].as_i64() {
                numbers_out_of_creation_order += 1;
            }
        }
        assert!(numbers_out_of_creation_order > 0, "numbers do not follow creation time");
        for incident in &all {
            let p = &incident["properties"];
            if p["status"] == "Closed" {
                assert!(p["classification"].is_string() && p["classificationReason"].is_string());
            }
            let created = crate::odata::parse_time(p["createdTimeUtc"].as_str().unwrap()).unwrap();
            let modified = crate::odata::parse_time(p["lastModifiedTimeUtc"].as_str().unwrap()).unwrap();
            assert!(modified > created, "modified after created");
            assert!(incident["etag"].as_str().unwrap().starts_with('"'));
            assert!(incident["id"].as_str().unwrap().ends_with(incident["name"].as_str().unwrap()));
        }
    }
}
