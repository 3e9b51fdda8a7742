//! Realistic incidents, generated deterministically from a seed and shaped
//! like Microsoft's `GetIncidents.json` example.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::borrow::Cow;

use serde_json::{json, Value};

use crate::config::TenantIdentity;
use crate::odata::{parse_time, FieldRef, Fields, Key};

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

impl TenantIdentity {
    /// The one workspace this tenant's emulator serves.
    pub(crate) fn workspace(&self) -> Workspace<'_> {
        Workspace {
            subscription: &self.subscription_id,
            resource_group: &self.resource_group,
            workspace: &self.workspace_name,
        }
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
    incidents(count, seed, anchor, workspace).map(|incident| incident.to_value()).collect()
}

/// The same incidents as [`generate_incidents`], one at a time, so a large
/// set is never held twice.
pub fn incidents<'w>(
    count: usize,
    seed: u64,
    anchor: jiff::Timestamp,
    workspace: &'w Workspace<'w>,
) -> impl Iterator<Item = Generated> + 'w {
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
    let prefix = workspace.prefix();
    (0..count).map(move |i| incident(&mut rng, &prefix, numbers[i], created[i], anchor))
}

pub fn guid(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid().to_string()
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
    let fraction = if rng.random_bool(0.5) { Some(rng.random_range(0..10_000_000)) } else { None };
    let mut text = String::with_capacity(28);
    write_time(&mut text, seconds, fraction);
    text
}

/// `YYYY-MM-DDThh:mm:ss[.fffffff]Z`, as `strftime` writes it but without its
/// cost (generating 100,000 incidents formats 400,000 times).
fn write_time(out: &mut String, seconds: i64, fraction: Option<i32>) {
    use std::fmt::Write as _;
    let seconds = if jiff::Timestamp::from_second(seconds).is_ok() { seconds } else { 0 };
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    let _ = write!(out, "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if let Some(fraction) = fraction {
        let _ = write!(out, ".{fraction:07}");
    }
    out.push('Z');
}

/// A generated incident, typed, so that it is written as JSON directly (its
/// fields in the order `serde_json::Value` writes them: sorted), and its
/// filter fields are read without parsing that JSON back.
#[derive(serde::Serialize)]
pub(crate) struct Generated {
    etag: String,
    id: String,
    name: String,
    properties: Properties,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Properties {
    additional_data: AdditionalData,
    #[serde(skip_serializing_if = "Option::is_none")]
    classification: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    classification_comment: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    classification_reason: Option<&'static str>,
    created_time_utc: String,
    description: &'static str,
    first_activity_time_utc: String,
    incident_number: i64,
    incident_url: String,
    labels: Vec<Label>,
    last_activity_time_utc: String,
    last_modified_time_utc: String,
    owner: Owner,
    provider_incident_id: String,
    provider_name: &'static str,
    related_analytic_rule_ids: [String; 1],
    severity: &'static str,
    status: &'static str,
    title: &'static str,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AdditionalData {
    alert_product_names: [&'static str; 1],
    alerts_count: i32,
    bookmarks_count: i32,
    comments_count: i32,
    /// Unified mode only: the incident in the Defender portal.
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_incident_url: Option<String>,
    tactics: &'static [&'static str],
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Owner {
    assigned_to: Option<&'static str>,
    email: Option<String>,
    object_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner_type: Option<&'static str>,
    user_principal_name: Option<String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Label {
    label_name: &'static str,
    label_type: &'static str,
}

impl Generated {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its JSON (as `to_value().to_string()` writes it), appended to `out`.
    pub fn write_json(&self, out: &mut String) {
        let mut bytes = std::mem::take(out).into_bytes();
        let _ = serde_json::to_writer(&mut bytes, self);
        *out = String::from_utf8(bytes).unwrap_or_default();
    }

    /// Onboarded to Defender: the provider is Defender XDR, and the
    /// incident carries its Defender id and portal link.
    pub fn unify(&mut self, graph_id: String, url: String) {
        self.properties.provider_name = "Microsoft XDR";
        self.properties.provider_incident_id = graph_id;
        self.properties.additional_data.provider_incident_url = Some(url);
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Fields for Generated {
    fn field(&self, field: FieldRef) -> Cow<'_, Key> {
        let p = &self.properties;
        let text = |value: Option<&str>| value.map_or(Key::Missing, |v| Key::Text(v.to_lowercase()));
        let time = |value: &str| parse_time(value).map_or(Key::Missing, Key::Time);
        Cow::Owned(match field.name() {
            "status" => text(Some(p.status)),
            "severity" => text(Some(p.severity)),
            "classification" => text(p.classification),
            "title" => text(Some(p.title)),
            "createdTimeUtc" => time(&p.created_time_utc),
            "lastModifiedTimeUtc" => time(&p.last_modified_time_utc),
            "incidentNumber" => Key::Number(p.incident_number),
            _ => Key::Missing,
        })
    }
}

/// One incident under the workspace `prefix` ([`Workspace::prefix`]).
fn incident(rng: &mut ChaCha8Rng, prefix: &str, number: i64, created: i64, anchor: jiff::Timestamp) -> Generated {
    // The draws are those (and in the order) of the JSON this replaced, so a
    // seed gives the incidents it always gave.
    let name = guid(rng);
    let (title, description, tactics) = TITLES[rng.random_range(0..TITLES.len())];
    let severity = ["High", "Medium", "Medium", "Low", "Low", "Informational"][rng.random_range(0..6)];
    let status = ["New", "New", "New", "Active", "Active", "Closed"][rng.random_range(0..6)];
    let modified = (created + rng.random_range(1..7200)).min(anchor.as_second());
    let first_activity = created - rng.random_range(300..3600);
    let created_time_utc = format_time(created, rng);
    let last_modified_time_utc = format_time(modified, rng);
    let first_activity_time_utc = format_time(first_activity, rng);
    let last_activity = created - rng.random_range(0..300);
    let last_activity_time_utc = format_time(last_activity, rng);
    let incident_url =
        format!("https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident{prefix}/incidents/{name}");
    let labels = labels(rng);
    let related_analytic_rule_ids = [format!("{prefix}/alertRules/{}", guid(rng))];
    let additional_data = AdditionalData {
        alerts_count: rng.random_range(1..6),
        bookmarks_count: rng.random_range(0..2),
        comments_count: rng.random_range(0..4),
        alert_product_names: [PRODUCTS[rng.random_range(0..PRODUCTS.len())]],
        provider_incident_url: None,
        tactics,
    };
    let owner = if rng.random_bool(0.5) {
        let (display, alias) = ANALYSTS[rng.random_range(0..ANALYSTS.len())];
        Owner {
            object_id: Some(guid(rng)),
            email: Some(format!("{alias}@contoso.com")),
            user_principal_name: Some(format!("{alias}@contoso.com")),
            assigned_to: Some(display),
            owner_type: Some("User"),
        }
    } else {
        Owner { object_id: None, email: None, assigned_to: None, user_principal_name: None, owner_type: None }
    };
    let (classification, classification_reason, classification_comment) = if status == "Closed" {
        let (classification, reason) = [
            ("TruePositive", "SuspiciousActivity"),
            ("BenignPositive", "SuspiciousButExpected"),
            ("FalsePositive", "IncorrectAlertLogic"),
            ("FalsePositive", "InaccurateData"),
        ][rng.random_range(0..4)];
        (Some(classification), Some(reason), Some("Reviewed by the SOC."))
    } else {
        (None, None, None)
    };
    let properties = Properties {
        additional_data,
        classification,
        classification_comment,
        classification_reason,
        created_time_utc,
        description,
        first_activity_time_utc,
        incident_number: number,
        incident_url,
        labels,
        last_activity_time_utc,
        last_modified_time_utc,
        owner,
        provider_incident_id: number.to_string(),
        provider_name: "Azure Sentinel",
        related_analytic_rule_ids,
        severity,
        status,
        title,
    };
    Generated {
        etag: format!("\"{}\"", guid(rng)),
        id: format!("{prefix}/incidents/{name}"),
        name,
        properties,
        kind: "Microsoft.SecurityInsights/incidents",
    }
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

fn labels(rng: &mut ChaCha8Rng) -> Vec<Label> {
    if rng.random_bool(0.7) {
        return Vec::new();
    }
    let label_name = LABELS[rng.random_range(0..LABELS.len())];
    let label_type = if rng.random_bool(0.5) { "User" } else { "AutoAssigned" };
    vec![Label { label_name, label_type }]
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

#[cfg(test)]
mod golden_tmp {
    #[test]
    fn write_golden() {
        let path = std::env::var("GOLDEN_OUT").unwrap_or_default();
        if path.is_empty() {
            return;
        }
        let mut out = String::new();
        for seed in [1, 7, 42] {
            for i in super::generate_incidents(
                3000,
                seed,
                "2026-06-01T00:00:00Z".parse().unwrap(),
                &crate::config::TenantIdentity::default().workspace(),
            ) {
                out.push_str(&i.to_string());
                out.push('\n');
            }
        }
        std::fs::write(path, out).unwrap();
    }
}
