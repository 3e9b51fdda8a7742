//! The Graph tenant the emulator starts with: fixed users, groups and risky
//! users (their ids are constants tests can name), and security incidents,
//! alerts and hunting tables generated deterministically from the seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::tenant::{GraphState, Group, Table};
use crate::data::{format_time, guid};

pub const DOMAIN: &str = "contoso.onmicrosoft.com";

pub const ALICE_ID: &str = "a11ce5a1-0000-4000-8000-000000000001";
pub const ALICE_UPN: &str = "alice@contoso.onmicrosoft.com";
pub const BOB_ID: &str = "b0b5b0b5-0000-4000-8000-000000000002";
pub const BOB_UPN: &str = "bob@contoso.onmicrosoft.com";
pub const CAROL_ID: &str = "ca201ca2-0000-4000-8000-000000000003";
pub const CAROL_UPN: &str = "carol@contoso.onmicrosoft.com";
pub const DAVE_ID: &str = "da7eda7e-0000-4000-8000-000000000004";
pub const DAVE_UPN: &str = "dave@contoso.onmicrosoft.com";
pub const EVE_ID: &str = "e7e0e7e0-0000-4000-8000-000000000005";
pub const EVE_UPN: &str = "eve@contoso.onmicrosoft.com";
/// The guest (B2B) user from fabrikam.com.
pub const GUEST_ID: &str = "f2a4cf2a-0000-4000-8000-000000000006";
pub const GUEST_UPN: &str = "frank_fabrikam.com#EXT#@contoso.onmicrosoft.com";
pub const FRANK_ID: &str = GUEST_ID;
pub const FRANK_UPN: &str = GUEST_UPN;

pub const BREAK_GLASS_GROUP_ID: &str = "b4ea6000-0000-4000-8000-0000000000a1";
pub const BREAK_GLASS_GROUP_NAME: &str = "Break Glass Admins";
pub const SOC_GROUP_ID: &str = "50c00000-0000-4000-8000-0000000000a2";
pub const SOC_GROUP_NAME: &str = "SOC Analysts";
pub const QUARANTINE_GROUP_ID: &str = "0a4a2a17-0000-4000-8000-0000000000a3";
pub const QUARANTINE_GROUP_NAME: &str = "Quarantined Users";
/// A Microsoft 365 group whose membership is hidden (visibility
/// `HiddenMembership`); Eve is its member. `checkMemberGroups` leaves it out
/// of its answer unless the token carries `Member.Read.Hidden`.
pub const HIDDEN_GROUP_ID: &str = "e8ec0000-0000-4000-8000-0000000000a4";
pub const HIDDEN_GROUP_NAME: &str = "Executive Leadership";
/// Tier-0 role groups, more than `checkMemberGroups` takes in one request
/// (20); the last one nests Break Glass Admins, so Alice is its member.
pub const TIER0_GROUP_COUNT: usize = 24;

/// The object id of tier-0 group `n` (1 to [`TIER0_GROUP_COUNT`]).
pub fn tier0_group_id(n: usize) -> String {
    format!("7e400000-0000-4000-8000-0000000001{n:02}")
}

/// The display name of tier-0 group `n`.
pub fn tier0_group_name(n: usize) -> String {
    format!("Tier 0 Admins {n:02}")
}

/// Incident ids are numeric strings counting up from this one.
pub const FIRST_INCIDENT_ID: u64 = 2_972_395;
pub const INCIDENT_COUNT: usize = 45;

/// (id, upn, display name, job title, guest)
const USERS: &[(&str, &str, &str, &str, bool)] = &[
    (ALICE_ID, ALICE_UPN, "Alice Admin", "Global Administrator", false),
    (BOB_ID, BOB_UPN, "Bob Analyst", "SOC Analyst", false),
    (CAROL_ID, CAROL_UPN, "Carol Analyst", "SOC Analyst", false),
    (DAVE_ID, DAVE_UPN, "Dave Developer", "Software Engineer", false),
    (EVE_ID, EVE_UPN, "Eve Finance", "Accountant", false),
    (GUEST_ID, GUEST_UPN, "Frank (Fabrikam)", "Contractor", true),
];

const INCIDENT_NAMES: &[&str] = &[
    "Multi-stage incident involving Initial access & Command and control on multiple endpoints reported by multiple sources",
    "Suspicious execution of hidden file on one endpoint",
    "Impossible travel activity involving one user",
    "Password spray attack against multiple users",
    "Ransomware activity on one endpoint",
    "Suspicious inbox forwarding rule created by one user",
    "Credential dumping from LSASS on one endpoint",
    "Phishing email delivered to multiple users",
];
const SERVICE_SOURCES: &[(&str, &str)] = &[
    ("microsoftDefenderForEndpoint", "antivirus"),
    ("microsoftDefenderForIdentity", "microsoftDefenderForIdentity"),
    ("azureAdIdentityProtection", "azureAdIdentityProtection"),
    ("microsoftDefenderForOffice365", "microsoftDefenderForOffice365"),
];

pub(crate) fn generate(seed: u64, anchor: jiff::Timestamp, tenant: &str) -> GraphState {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6a09_e667);
    let mut state =
        GraphState { users: users(anchor), groups: groups(), risky: risky(anchor), ..GraphState::default() };
    let window = 30 * 24 * 3600;
    let mut created: Vec<i64> =
        (0..INCIDENT_COUNT).map(|_| anchor.as_second() - rng.random_range(3600..window)).collect();
    // Later ids are created later, as in Defender.
    created.sort_unstable();
    for (index, created) in created.into_iter().enumerate() {
        let id = (FIRST_INCIDENT_ID + index as u64).to_string();
        let incident = incident(&mut rng, tenant, &id, created, anchor);
        for n in 0..rng.random_range(1..=3) {
            state.alerts.push(alert(&mut rng, tenant, &incident, n));
        }
        state.incidents.push(incident);
    }
    state.tables = vec![device_process_events(&mut rng, anchor), identity_logon_events(&mut rng, anchor)];
    state
}

fn users(anchor: jiff::Timestamp) -> Vec<Value> {
    USERS
        .iter()
        .map(|(id, upn, name, title, guest)| {
            let (given, surname) = name.split_once(' ').unwrap_or((name, ""));
            let mail = if *guest { "frank@fabrikam.com".to_owned() } else { upn.to_string() };
            json!({
                "id": id, "userPrincipalName": upn, "displayName": name, "givenName": given, "surname": surname,
                "mail": mail, "accountEnabled": true, "userType": if *guest { "Guest" } else { "Member" },
                "jobTitle": title, "department": if *guest { "External" } else { "Contoso" },
                "createdDateTime": time(anchor.as_second() - 400 * 24 * 3600),
                "signInSessionsValidFromDateTime": time(anchor.as_second() - 90 * 24 * 3600),
            })
        })
        .collect()
}

fn groups() -> Vec<Group> {
    // Security groups have no visibility (null), as in Entra ID.
    let group = |id: &str, name: &str, description: &str, members: &[&str]| Group {
        json: json!({
            "id": id, "displayName": name, "description": description, "mailEnabled": false,
            "mailNickname": name.to_lowercase().replace(' ', "-"), "securityEnabled": true, "groupTypes": [], "visibility": null,
        }),
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    };
    let mut groups = vec![
        group(BREAK_GLASS_GROUP_ID, BREAK_GLASS_GROUP_NAME, "Emergency access accounts", &[ALICE_ID]),
        group(SOC_GROUP_ID, SOC_GROUP_NAME, "Security operations", &[BOB_ID, CAROL_ID]),
        group(QUARANTINE_GROUP_ID, QUARANTINE_GROUP_NAME, "Users blocked by conditional access", &[]),
        Group {
            json: json!({
                "id": HIDDEN_GROUP_ID, "displayName": HIDDEN_GROUP_NAME, "description": "Board and executive team", "mailEnabled": true,
                "mailNickname": "executive-leadership", "securityEnabled": false, "groupTypes": ["Unified"], "visibility": "HiddenMembership",
            }),
            members: vec![EVE_ID.to_owned()],
        },
    ];
    for n in 1..=TIER0_GROUP_COUNT {
        let members: &[&str] = if n == TIER0_GROUP_COUNT { &[BREAK_GLASS_GROUP_ID] } else { &[] };
        groups.push(group(&tier0_group_id(n), &tier0_group_name(n), "Privileged role assignments", members));
    }
    groups
}

fn risky(anchor: jiff::Timestamp) -> Vec<Value> {
    [(EVE_ID, EVE_UPN, "Eve Finance", "high"), (DAVE_ID, DAVE_UPN, "Dave Developer", "medium")]
        .iter()
        .enumerate()
        .map(|(i, (id, upn, name, level))| {
            json!({
                "id": id, "isDeleted": false, "isProcessing": false,
                "riskLastUpdatedDateTime": time(anchor.as_second() - 3600 * (i as i64 + 2)),
                "riskLevel": level, "riskState": "atRisk", "riskDetail": "none",
                "userDisplayName": name, "userPrincipalName": upn,
            })
        })
        .collect()
}

/// A time as Graph writes it, with seven fractional digits.
pub(super) fn time(seconds: i64) -> String {
    let time = jiff::Timestamp::from_second(seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{}.0000000Z", time.strftime("%Y-%m-%dT%H:%M:%S"))
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn incident(rng: &mut ChaCha8Rng, tenant: &str, id: &str, created: i64, anchor: jiff::Timestamp) -> Value {
    let status = *pick(rng, &["active", "active", "active", "resolved", "redirected"]);
    let (classification, determination) = match status {
        "resolved" => *pick(
            rng,
            &[
                ("truePositive", "malware"),
                ("falsePositive", "notMalicious"),
                ("informationalExpectedActivity", "securityTesting"),
            ],
        ),
        _ => ("unknown", "unknown"),
    };
    let assigned = [None, Some(BOB_UPN), Some(CAROL_UPN)][rng.random_range(0..3)];
    let updated = (created + rng.random_range(60..86_400)).min(anchor.as_second());
    let comments = if rng.random_bool(0.3) {
        json!([{"comment": "Investigating", "createdBy": BOB_UPN, "createdTime": format_time(updated, rng)}])
    } else {
        json!([])
    };
    json!({
        "@odata.type": "#microsoft.graph.security.incident",
        "id": id,
        "incidentWebUrl": format!("https://security.microsoft.com/incidents/{id}?tid={tenant}"),
        "redirectIncidentId": if status == "redirected" { json!(id.parse::<u64>().unwrap_or(1).saturating_sub(1).to_string()) } else { Value::Null },
        "displayName": pick(rng, INCIDENT_NAMES),
        "tenantId": tenant,
        "createdDateTime": format_time(created, rng),
        "lastUpdateDateTime": format_time(updated, rng),
        "assignedTo": assigned,
        "classification": classification,
        "determination": determination,
        "status": status,
        "severity": pick(rng, &["high", "medium", "medium", "low", "informational"]),
        "customTags": if rng.random_bool(0.2) { json!(["Demo"]) } else { json!([]) },
        "comments": comments,
        "systemTags": if rng.random_bool(0.1) { json!(["Defender Experts"]) } else { json!([]) },
        "description": "Emulated Microsoft Defender XDR incident.",
    })
}

/// An alert of `incident`, shaped like Microsoft's alerts_v2 example, whose
/// evidence names a seeded user.
pub(crate) fn alert(rng: &mut ChaCha8Rng, tenant: &str, incident: &Value, n: usize) -> Value {
    let incident_id = incident["id"].as_str().unwrap_or_default();
    let id = format!("da637551227677{incident_id}{n}_{}", -rng.random_range(100_000_000i64..2_000_000_000));
    let (service, detection) = *pick(rng, SERVICE_SOURCES);
    let (user_id, upn, name, _, _) = *pick(rng, &USERS[..5]);
    let created = incident["createdDateTime"].clone();
    let status = match incident["status"].as_str() {
        Some("resolved") => "resolved",
        _ => *pick(rng, &["new", "inProgress"]),
    };
    let device = format!("ws-{}.contoso.com", upn.split('@').next().unwrap_or("host"));
    json!({
        "@odata.type": "#microsoft.graph.security.alert",
        "id": id, "providerAlertId": id, "incidentId": incident_id,
        "status": status, "severity": incident["severity"],
        "classification": incident["classification"], "determination": incident["determination"],
        "serviceSource": service, "detectionSource": detection,
        "detectorId": guid(rng),
        "tenantId": tenant,
        "title": "Suspicious execution of hidden file",
        "description": "A hidden file has been launched. This activity could indicate a compromised host.",
        "recommendedActions": "Collect artifacts and determine scope.",
        "category": pick(rng, &["DefenseEvasion", "InitialAccess", "CredentialAccess", "Execution"]),
        "assignedTo": incident["assignedTo"],
        "alertWebUrl": format!("https://security.microsoft.com/alerts/{id}?tid={tenant}"),
        "incidentWebUrl": incident["incidentWebUrl"],
        "actorDisplayName": null, "threatDisplayName": null, "threatFamilyName": null,
        "mitreTechniques": ["T1564.001"],
        "createdDateTime": created, "lastUpdateDateTime": incident["lastUpdateDateTime"],
        "resolvedDateTime": if status == "resolved" { incident["lastUpdateDateTime"].clone() } else { Value::Null },
        "firstActivityDateTime": created, "lastActivityDateTime": created,
        "comments": [],
        "evidence": [device_evidence(&created, &device, upn), user_evidence(&created, user_id, upn, name)],
        "systemTags": incident["systemTags"],
    })
}

fn device_evidence(created: &Value, device: &str, upn: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.security.deviceEvidence",
        "createdDateTime": created, "verdict": "suspicious", "remediationStatus": "none", "remediationStatusDetails": null,
        "firstSeenDateTime": created, "mdeDeviceId": "73e7e2de709dff64ef64b1d0c30e67fab63279db", "azureAdDeviceId": null,
        "deviceDnsName": device, "osPlatform": "Windows11", "osBuild": 22631, "version": "23H2", "healthStatus": "active",
        "riskScore": "medium", "rbacGroupId": 75, "rbacGroupName": "UnassignedGroup", "onboardingStatus": "onboarded",
        "defenderAvStatus": "updated", "ipInterfaces": ["10.0.0.4"],
        "loggedOnUsers": [{"accountName": upn.split('@').next().unwrap_or_default(), "domainName": "CONTOSO"}],
        "roles": ["compromised"], "detailedRoles": ["Main device"], "tags": [], "vmMetadata": null,
    })
}

fn user_evidence(created: &Value, user_id: &str, upn: &str, name: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.security.userEvidence",
        "createdDateTime": created, "verdict": "suspicious", "remediationStatus": "none", "remediationStatusDetails": null,
        "roles": ["compromised"], "detailedRoles": [], "tags": [],
        "userAccount": {
            "accountName": upn.split('@').next().unwrap_or_default(), "domainName": "contoso.onmicrosoft.com",
            "userSid": "S-1-5-21-1782456337-2876754321-1256789012-1105", "azureAdUserId": user_id,
            "userPrincipalName": upn, "displayName": name,
        },
    })
}

fn device_process_events(rng: &mut ChaCha8Rng, anchor: jiff::Timestamp) -> Table {
    let files = ["cmd.exe", "powershell.exe", "whoami.exe", "net.exe", "rundll32.exe", "conhost.exe"];
    let parents = ["powershell.exe", "explorer.exe", "winword.exe", "cmd.exe"];
    let rows = (0..30i64)
        .map(|i| {
            let (_, upn, ..) = USERS[i as usize % 5];
            vec![
                json!(format_time(anchor.as_second() - i * 1800 - rng.random_range(0..900), rng)),
                json!(format!("ws-{}.contoso.com", upn.split('@').next().unwrap_or("host"))),
                json!(pick(rng, &files)),
                json!(parents[i as usize % parents.len()]),
                json!(upn),
                json!(rng.random_range(1000i64..20_000)),
            ]
        })
        .collect();
    Table {
        name: "DeviceProcessEvents",
        columns: vec![
            ("Timestamp", "DateTime"),
            ("DeviceName", "String"),
            ("FileName", "String"),
            ("InitiatingProcessFileName", "String"),
            ("AccountUpn", "String"),
            ("ProcessId", "Int64"),
        ],
        rows,
    }
}

fn identity_logon_events(rng: &mut ChaCha8Rng, anchor: jiff::Timestamp) -> Table {
    let rows = (0..20i64)
        .map(|i| {
            let (_, upn, ..) = USERS[i as usize % USERS.len()];
            let failed = i % 4 == 0;
            vec![
                json!(format_time(anchor.as_second() - i * 2700 - rng.random_range(0..600), rng)),
                json!(upn),
                json!(if failed { "LogonFailed" } else { "LogonSuccess" }),
                json!(format!("203.0.113.{}", 10 + i)),
                json!(pick(rng, &["Interactive", "Resource access", "Credentials validation"])),
            ]
        })
        .collect();
    Table {
        name: "IdentityLogonEvents",
        columns: vec![
            ("Timestamp", "DateTime"),
            ("AccountUpn", "String"),
            ("ActionType", "String"),
            ("IPAddress", "String"),
            ("LogonType", "String"),
        ],
        rows,
    }
}
