//! How incidents are shown: JSON for programs, a table for people.

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Color, ContentArrangement, Table};
use sentinel_connector::core::redact::escape_controls;
use serde::Serialize;

use crate::runtime::types::{self as wit, Incident};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Table,
}

impl Format {
    /// A table on a terminal, JSON when piped.
    pub fn detect(explicit: Option<Format>) -> Format {
        use std::io::IsTerminal;
        explicit.unwrap_or(if std::io::stdout().is_terminal() { Format::Table } else { Format::Json })
    }
}

/// The JSON shape of an incident: stable, flat where it can be, with the
/// service's own enum spellings.
#[derive(Serialize)]
pub struct IncidentJson<'a> {
    pub id: &'a str,
    pub number: Option<i64>,
    pub title: &'a str,
    pub severity: &'a str,
    pub status: &'a str,
    pub classification: Option<&'a str>,
    pub classification_reason: Option<&'a str>,
    pub classification_comment: Option<&'a str>,
    pub owner: Option<OwnerJson<'a>>,
    pub labels: Vec<&'a str>,
    pub created_time: Option<&'a str>,
    pub last_modified_time: Option<&'a str>,
    pub first_activity_time: Option<&'a str>,
    pub last_activity_time: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub description: Option<&'a str>,
    pub url: Option<&'a str>,
    pub provider_name: Option<&'a str>,
    pub alerts_count: Option<u32>,
    pub comments_count: Option<u32>,
    pub alert_product_names: &'a [String],
    pub tactics: &'a [String],
    pub resource_id: &'a str,
    /// `incidents update`'s receipt of its write, for `poll --own-write`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_receipt: Option<&'a str>,
}

#[derive(Serialize)]
pub struct OwnerJson<'a> {
    pub object_id: Option<&'a str>,
    pub email: Option<&'a str>,
    pub user_principal_name: Option<&'a str>,
    pub assigned_to: Option<&'a str>,
    pub owner_type: Option<&'a str>,
}

pub fn incident_json(incident: &Incident) -> IncidentJson<'_> {
    IncidentJson {
        id: &incident.id,
        number: incident.number,
        title: &incident.title,
        severity: severity(&incident.severity),
        status: status(&incident.status),
        classification: incident.classification.as_ref().map(classification),
        classification_reason: incident.classification_reason.as_ref().map(classification_reason),
        classification_comment: incident.classification_comment.as_deref(),
        owner: incident.owner.as_ref().map(|o| OwnerJson {
            object_id: o.object_id.as_deref(),
            email: o.email.as_deref(),
            user_principal_name: o.user_principal_name.as_deref(),
            assigned_to: o.assigned_to.as_deref(),
            owner_type: o.owner_type.as_ref().map(owner_type),
        }),
        labels: incident.labels.iter().map(|l| l.name.as_str()).collect(),
        created_time: incident.created_time.as_deref(),
        last_modified_time: incident.last_modified_time.as_deref(),
        first_activity_time: incident.first_activity_time.as_deref(),
        last_activity_time: incident.last_activity_time.as_deref(),
        etag: incident.etag.as_deref(),
        description: incident.description.as_deref(),
        url: incident.url.as_deref(),
        provider_name: incident.provider_name.as_deref(),
        alerts_count: incident.alerts_count,
        comments_count: incident.comments_count,
        alert_product_names: &incident.alert_product_names,
        tactics: &incident.tactics,
        resource_id: &incident.resource_id,
        write_receipt: incident.write_receipt.as_deref(),
    }
}

pub fn severity(value: &wit::Severity) -> &str {
    match value {
        wit::Severity::High => "High",
        wit::Severity::Medium => "Medium",
        wit::Severity::Low => "Low",
        wit::Severity::Informational => "Informational",
        wit::Severity::Other(text) => text,
    }
}

pub fn status(value: &wit::IncidentStatus) -> &str {
    match value {
        wit::IncidentStatus::New => "New",
        wit::IncidentStatus::Active => "Active",
        wit::IncidentStatus::Closed => "Closed",
        wit::IncidentStatus::Other(text) => text,
    }
}

fn classification(value: &wit::Classification) -> &str {
    match value {
        wit::Classification::Undetermined => "Undetermined",
        wit::Classification::TruePositive => "TruePositive",
        wit::Classification::BenignPositive => "BenignPositive",
        wit::Classification::FalsePositive => "FalsePositive",
        wit::Classification::Other(text) => text,
    }
}

fn classification_reason(value: &wit::ClassificationReason) -> &str {
    match value {
        wit::ClassificationReason::SuspiciousActivity => "SuspiciousActivity",
        wit::ClassificationReason::SuspiciousButExpected => "SuspiciousButExpected",
        wit::ClassificationReason::IncorrectAlertLogic => "IncorrectAlertLogic",
        wit::ClassificationReason::InaccurateData => "InaccurateData",
        wit::ClassificationReason::Other(text) => text,
    }
}

fn owner_type(value: &wit::OwnerType) -> &str {
    match value {
        wit::OwnerType::Unknown => "Unknown",
        wit::OwnerType::User => "User",
        wit::OwnerType::Group => "Group",
        wit::OwnerType::Other(text) => text,
    }
}

pub fn owner_name(incident: &Incident) -> &str {
    incident
        .owner
        .as_ref()
        .and_then(|o| o.assigned_to.as_deref().or(o.user_principal_name.as_deref()).or(o.email.as_deref()))
        .unwrap_or("-")
}

pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"cannot render JSON: {e}\"}}"))
}

fn severity_color(value: &wit::Severity) -> Color {
    match value {
        wit::Severity::High => Color::Red,
        wit::Severity::Medium => Color::Yellow,
        wit::Severity::Low => Color::Cyan,
        _ => Color::Reset,
    }
}

/// Text from a service or a user (titles, messages, links) as one terminal
/// line: ESC, OSC and every other control character escaped, so no answer can
/// drive the terminal. JSON output needs none of this: serde escapes it.
pub fn safe_line(text: &str) -> String {
    escape_controls(text)
}

/// A table cell: like [`safe_line`], but a line break stays a line break.
pub fn cell(text: impl AsRef<str>) -> Cell {
    let lines: Vec<String> = text.as_ref().split('\n').map(escape_controls).collect();
    Cell::new(lines.join("\n"))
}

/// A row of [`cell`]s.
pub fn row<T: AsRef<str>>(cells: impl IntoIterator<Item = T>) -> Vec<Cell> {
    cells.into_iter().map(cell).collect()
}

/// A table that wraps to the terminal, or to 120 columns when there is none.
pub fn new_table() -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    if table.width().is_none() {
        table.set_width(120);
    }
    table
}

pub const INCIDENT_HEADER: &[&str] = &["#", "Severity", "Status", "Title", "Owner", "Created", "Id"];

pub fn incidents_table(incidents: &[Incident]) -> String {
    let mut table = new_table();
    table.set_header(INCIDENT_HEADER.to_vec());
    for incident in incidents {
        table.add_row(incident_row(incident));
    }
    table.to_string()
}

/// An incident's row under [`INCIDENT_HEADER`].
pub fn incident_row(incident: &Incident) -> Vec<Cell> {
    vec![
        cell(incident.number.map_or("-".into(), |n| n.to_string())),
        cell(severity(&incident.severity)).fg(severity_color(&incident.severity)),
        cell(status(&incident.status)),
        cell(&incident.title),
        cell(owner_name(incident)),
        cell(incident.created_time.as_deref().unwrap_or("-")),
        cell(&incident.id),
    ]
}

pub fn incident_detail(incident: &Incident) -> String {
    let mut table = new_table();
    let labels: Vec<&str> = incident.labels.iter().map(|l| l.name.as_str()).collect();
    let rows: Vec<(&str, String)> = vec![
        ("Incident", format!("#{} {}", incident.number.map_or("-".into(), |n| n.to_string()), incident.title)),
        ("Id", incident.id.clone()),
        ("Severity", severity(&incident.severity).into()),
        ("Status", status(&incident.status).into()),
        ("Classification", incident.classification.as_ref().map_or("-", classification).into()),
        ("Owner", owner_name(incident).into()),
        ("Labels", if labels.is_empty() { "-".into() } else { labels.join(", ") }),
        ("Tactics", if incident.tactics.is_empty() { "-".into() } else { incident.tactics.join(", ") }),
        (
            "Products",
            if incident.alert_product_names.is_empty() { "-".into() } else { incident.alert_product_names.join(", ") },
        ),
        ("Alerts", incident.alerts_count.map_or("-".into(), |n| n.to_string())),
        ("Created", incident.created_time.clone().unwrap_or_else(|| "-".into())),
        ("Last modified", incident.last_modified_time.clone().unwrap_or_else(|| "-".into())),
        ("Description", incident.description.clone().unwrap_or_else(|| "-".into())),
        ("Portal", incident.url.clone().unwrap_or_else(|| "-".into())),
    ];
    for (name, value) in rows {
        table.add_row(vec![cell(name).fg(Color::DarkGrey), cell(value)]);
    }
    table.to_string()
}

/// The service's properties, parsed back so JSON output nests them.
fn properties(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

pub fn alert_json(alert: &wit::Alert) -> serde_json::Value {
    serde_json::json!({
        "id": alert.id,
        "display_name": alert.display_name,
        "severity": alert.severity.as_ref().map(severity),
        "product_name": alert.product_name,
        "time_generated": alert.time_generated,
        "properties": properties(&alert.properties),
    })
}

/// The service's spelling of a kind.
pub fn entity_kind(kind: &wit::EntityKind) -> &str {
    use wit::EntityKind as K;
    match kind {
        K::Account => "Account",
        K::Host => "Host",
        K::Ip => "Ip",
        K::Url => "Url",
        K::FileHash => "FileHash",
        K::File => "File",
        K::Process => "Process",
        K::Mailbox => "Mailbox",
        K::MailMessage => "MailMessage",
        K::CloudApplication => "CloudApplication",
        K::AzureResource => "AzureResource",
        K::DnsResolution => "DnsResolution",
        K::RegistryKey => "RegistryKey",
        K::RegistryValue => "RegistryValue",
        K::SecurityGroup => "SecurityGroup",
        K::Malware => "Malware",
        K::IotDevice => "IoTDevice",
        K::MailCluster => "MailCluster",
        K::SubmissionMail => "SubmissionMail",
        K::SecurityAlert => "SecurityAlert",
        K::Bookmark => "Bookmark",
        K::Other(text) => text,
    }
}

pub fn entity_json(entity: &wit::Entity) -> serde_json::Value {
    serde_json::json!({
        "id": entity.id,
        "kind": entity_kind(&entity.kind),
        "friendly_name": entity.friendly_name,
        "properties": properties(&entity.properties),
    })
}

pub fn normalized_json(entity: &wit::NormalizedEntity) -> serde_json::Value {
    let references: Vec<serde_json::Value> = entity
        .references
        .iter()
        .map(|r| serde_json::json!({"role": r.role, "id": r.id, "kind": entity_kind(&r.kind), "identifier": r.identifier}))
        .collect();
    serde_json::json!({
        "id": entity.id,
        "kind": entity_kind(&entity.kind),
        "identifier": entity.identifier,
        "display_name": entity.display_name,
        "references": references,
    })
}

pub fn bookmark_json(bookmark: &wit::Bookmark) -> serde_json::Value {
    serde_json::json!({
        "id": bookmark.id,
        "display_name": bookmark.display_name,
        "query": bookmark.query,
        "notes": bookmark.notes,
        "labels": bookmark.labels,
        "created": bookmark.created,
        "event_time": bookmark.event_time,
        "properties": properties(&bookmark.properties),
    })
}

pub fn alerts_table(alerts: &[wit::Alert]) -> String {
    let mut table = new_table();
    table.set_header(["Severity", "Alert", "Product", "Generated"]);
    for alert in alerts {
        table.add_row(row([
            alert.severity.as_ref().map_or("-", severity).to_owned(),
            alert.display_name.clone().unwrap_or_else(|| alert.id.clone()),
            alert.product_name.clone().unwrap_or_else(|| "-".into()),
            alert.time_generated.clone().unwrap_or_else(|| "-".into()),
        ]));
    }
    table.to_string()
}

pub fn normalized_table(entities: &[wit::NormalizedEntity]) -> String {
    let mut table = new_table();
    table.set_header(["Kind", "Identifier", "Name", "Refers to"]);
    for entity in entities {
        let references: Vec<String> =
            entity.references.iter().map(|r| format!("{}: {}", r.role, r.identifier)).collect();
        table.add_row(row([
            entity_kind(&entity.kind).to_owned(),
            entity.identifier.clone(),
            entity.display_name.clone(),
            if references.is_empty() { "-".into() } else { references.join("\n") },
        ]));
    }
    table.to_string()
}

pub fn comment_json(comment: &wit::Comment) -> serde_json::Value {
    serde_json::json!({
        "id": comment.id,
        "message": comment.message,
        "created_time": comment.created_time,
        "last_modified_time": comment.last_modified_time,
        "author": comment.author_name.as_ref().or(comment.author_user_principal_name.as_ref()),
        "etag": comment.etag,
    })
}

pub fn cell_json(cell: &wit::Cell) -> serde_json::Value {
    use wit::Cell as C;
    match cell {
        C::Null => serde_json::Value::Null,
        C::Integer(v) => serde_json::json!(v),
        C::Real(v) => serde_json::json!(v),
        C::Boolean(v) => serde_json::json!(v),
        C::Dynamic(v) => serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.clone())),
        C::Text(v) | C::Datetime(v) | C::Guid(v) | C::Timespan(v) | C::Decimal(v) => {
            serde_json::Value::String(v.clone())
        }
    }
}

/// Each table as `{name, columns, rows}`, rows as objects keyed by column.
pub fn query_json(result: &wit::QueryResult) -> serde_json::Value {
    let tables: Vec<serde_json::Value> = result
        .tables
        .iter()
        .map(|table| {
            let rows: Vec<serde_json::Value> = table
                .rows
                .iter()
                .map(|row| {
                    let object: serde_json::Map<String, serde_json::Value> = table
                        .columns
                        .iter()
                        .zip(row)
                        .map(|(column, cell)| (column.name.clone(), cell_json(cell)))
                        .collect();
                    serde_json::Value::Object(object)
                })
                .collect();
            let columns: Vec<serde_json::Value> =
                table.columns.iter().map(|c| serde_json::json!({"name": c.name, "type": c.column_type})).collect();
            serde_json::json!({"name": table.name, "columns": columns, "rows": rows})
        })
        .collect();
    serde_json::json!({"tables": tables, "partial_error": result.partial_error.as_ref().map(|f| format!("{}: {}", f.code, f.message))})
}

pub fn query_tables(result: &wit::QueryResult) -> String {
    if result.tables.iter().all(|t| t.rows.is_empty()) {
        return "no rows".into();
    }
    let mut out = Vec::new();
    for table in &result.tables {
        let mut shown = new_table();
        shown.set_header(row(table.columns.iter().map(|c| c.name.as_str())));
        for cells in &table.rows {
            shown.add_row(row(cells.iter().map(|value| match cell_json(value) {
                serde_json::Value::String(text) => text,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            })));
        }
        out.push(shown.to_string());
    }
    out.join("\n")
}

fn api_name(api: &wit::Api) -> &'static str {
    match api {
        wit::Api::AzureResourceManager => "Azure Resource Manager (Sentinel)",
        wit::Api::LogAnalytics => "Log Analytics",
        wit::Api::Graph => "Microsoft Graph",
    }
}

pub fn check_json(check: &wit::ApiCheck) -> serde_json::Value {
    serde_json::json!({
        "api": api_name(&check.api),
        "credential": credential_name(&check.credential),
        "certificate_thumbprint": check.certificate_thumbprint,
        "token_ok": check.token_ok,
        "read_ok": check.read_ok,
        "failure": check.failure.as_ref().map(super::errors::describe),
        "roles": check.roles,
        "allowed_actions": check.allowed_actions,
        "missing_permissions": check.missing_permissions,
        "api_versions": check.api_versions,
    })
}

fn credential_name(kind: &wit::CredentialKind) -> &'static str {
    match kind {
        wit::CredentialKind::ClientSecret => "client secret",
        wit::CredentialKind::ClientAssertion => "client assertion",
        wit::CredentialKind::Certificate => "certificate",
        wit::CredentialKind::AccessToken => "access token",
    }
}

pub fn checks_table(checks: &[wit::ApiCheck]) -> String {
    let mut table = new_table();
    table.set_header(["API", "Credential", "Token", "Read", "api-versions", "Allowed", "Missing / problem"]);
    for check in checks {
        let mark = |ok: bool| if ok { "ok" } else { "FAILED" };
        let problem =
            check.failure.as_ref().map(super::errors::describe).unwrap_or_else(|| check.missing_permissions.join("\n"));
        table.add_row(row([
            api_name(&check.api).to_owned(),
            match &check.certificate_thumbprint {
                Some(thumbprint) => format!("certificate {thumbprint}"),
                None => credential_name(&check.credential).to_owned(),
            },
            mark(check.token_ok).to_owned(),
            check.read_ok.map_or("-", mark).to_owned(),
            check.api_versions.join(", "),
            check.allowed_actions.join(", "),
            problem,
        ]));
    }
    table.to_string()
}

pub fn relation_json(relation: &wit::Relation) -> serde_json::Value {
    serde_json::json!({
        "name": relation.name,
        "related_resource_id": relation.related_resource_id,
        "related_resource_name": relation.related_resource_name,
        "related_resource_type": relation.related_resource_type,
        "related_resource_kind": relation.related_resource_kind,
    })
}

pub fn task_json(task: &wit::IncidentTask) -> serde_json::Value {
    let status = match &task.status {
        wit::TaskStatus::New => "New",
        wit::TaskStatus::Completed => "Completed",
        wit::TaskStatus::Other(text) => text,
    };
    serde_json::json!({
        "id": task.id,
        "title": task.title,
        "description": task.description,
        "status": status,
        "created_time": task.created_time,
        "last_modified_time": task.last_modified_time,
        "created_by": task.created_by,
    })
}
