//! Incident alerts, entities and bookmarks (`POST .../incidents/{id}/alerts`,
//! `/entities`, `/bookmarks`, no body), and the normalized entity view.
//!
//! Entities are read as JSON and every property is kept (`properties`); the
//! fields playbooks act on are lifted into typed details per kind, and each
//! entity gets one kind, one stable identifier and its references resolved.

use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::incidents::workspace_url;
use crate::core::config::Settings;
use crate::core::enums::open_enum;
use crate::core::error::Error;
use crate::core::ids::validate_id;

open_enum!(
    /// The entity kinds the 2025-09-01 spec defines, by service name.
    EntityKind {
    Account => "Account", Host => "Host", Ip => "Ip", Url => "Url", FileHash => "FileHash", File => "File",
    Process => "Process", Mailbox => "Mailbox", MailMessage => "MailMessage", CloudApplication => "CloudApplication",
    AzureResource => "AzureResource", DnsResolution => "DnsResolution", RegistryKey => "RegistryKey",
    RegistryValue => "RegistryValue", SecurityGroup => "SecurityGroup", Malware => "Malware", IoTDevice => "IoTDevice",
    MailCluster => "MailCluster", SubmissionMail => "SubmissionMail", SecurityAlert => "SecurityAlert", Bookmark => "Bookmark",
});

/// An entity as the service sends it: `kind` discriminates `properties`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Entity {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub properties: Map<String, Value>,
}

impl Entity {
    pub fn kind(&self) -> EntityKind {
        EntityKind::parse(&self.kind)
    }

    pub fn text(&self, field: &str) -> Option<String> {
        text(&self.properties, field)
    }

    pub fn texts(&self, field: &str) -> Vec<String> {
        match self.properties.get(field) {
            Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
            Some(value) => scalar_text(value).into_iter().collect(),
            None => Vec::new(),
        }
    }

    pub fn friendly_name(&self) -> Option<String> {
        self.text("friendlyName")
    }

    /// An account's full UPN as Sentinel sends it since July 2026
    /// (`userPrincipalName`; the property's case is not in the spec yet, so
    /// any case is read).
    pub fn user_principal_name(&self) -> Option<String> {
        self.properties
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("userPrincipalName"))
            .and_then(|(_, value)| scalar_text(value))
    }

    /// Every property, exactly as received, as JSON text.
    pub fn properties_json(&self) -> String {
        Value::Object(self.properties.clone()).to_string()
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn text(map: &Map<String, Value>, field: &str) -> Option<String> {
    map.get(field).and_then(scalar_text)
}

#[derive(Deserialize)]
struct EntityList {
    #[serde(default)]
    entities: Vec<Entity>,
}

#[derive(Deserialize)]
struct ValueList {
    value: Vec<Entity>,
}

pub fn alerts_url(settings: &Settings, incident_id: &str) -> Result<Url, Error> {
    child_url(settings, incident_id, "alerts")
}

pub fn entities_url(settings: &Settings, incident_id: &str) -> Result<Url, Error> {
    child_url(settings, incident_id, "entities")
}

pub fn bookmarks_url(settings: &Settings, incident_id: &str) -> Result<Url, Error> {
    child_url(settings, incident_id, "bookmarks")
}

fn child_url(settings: &Settings, incident_id: &str, child: &str) -> Result<Url, Error> {
    let id = validate_id("incident-id", incident_id)?;
    Ok(workspace_url(settings, &["incidents", id, child]))
}

/// `IncidentEntitiesResponse`: `{entities, metaData}`, neither required.
pub fn parse_entities(body: &[u8]) -> Result<Vec<Entity>, Error> {
    serde_json::from_slice::<EntityList>(body)
        .map(|list| list.entities)
        .map_err(|e| Error::invalid_response(format!("the incident's entities could not be read: {e}")))
}

/// `IncidentAlertList` and `IncidentBookmarkList`: `{value}`.
pub fn parse_value_list(body: &[u8], what: &str) -> Result<Vec<Entity>, Error> {
    serde_json::from_slice::<ValueList>(body)
        .map(|list| list.value)
        .map_err(|e| Error::invalid_response(format!("the incident's {what} could not be read: {e}")))
}

/// One entity as a SOAR case wants it: one kind, one stable identifier, a
/// display name, and what it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalized {
    pub id: String,
    pub kind: EntityKind,
    pub identifier: String,
    pub display_name: String,
    pub references: Vec<Reference>,
    /// An account's Entra object id (`aadUserId`).
    pub object_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The property's name without its `EntityId(s)` suffix: `host`, `account`, `imageFile`...
    pub role: String,
    pub id: String,
    pub kind: EntityKind,
    pub identifier: String,
}

/// The stable identifier of an entity of each kind.
pub fn identifier(entity: &Entity) -> String {
    let first = |fields: &[&str]| fields.iter().find_map(|f| entity.text(f));
    let found = match entity.kind() {
        EntityKind::Account => account_identifier(entity),
        EntityKind::Host => host_identifier(entity),
        EntityKind::Ip => first(&["address"]),
        EntityKind::Url => first(&["url"]),
        EntityKind::FileHash => match (entity.text("algorithm"), entity.text("hashValue")) {
            (Some(algorithm), Some(value)) => {
                Some(format!("{}:{}", algorithm.to_ascii_lowercase(), value.to_ascii_lowercase()))
            }
            (None, Some(value)) => Some(value.to_ascii_lowercase()),
            _ => None,
        },
        EntityKind::File => match (entity.text("directory"), entity.text("fileName")) {
            (Some(directory), Some(file)) => Some(join_path(&directory, &file)),
            (None, file) => file,
            (directory, None) => directory,
        },
        EntityKind::Process => first(&["commandLine", "processId"]),
        EntityKind::Mailbox => first(&["mailboxPrimaryAddress", "upn", "externalDirectoryObjectId"]),
        EntityKind::MailMessage => first(&["internetMessageId", "networkMessageId"]),
        EntityKind::CloudApplication => first(&["appName", "appId", "instanceName"]),
        EntityKind::AzureResource => first(&["resourceId"]),
        EntityKind::DnsResolution => first(&["domainName"]),
        EntityKind::RegistryKey => match (entity.text("hive"), entity.text("key")) {
            (Some(hive), Some(key)) => Some(join_path(&hive, &key)),
            (hive, key) => key.or(hive),
        },
        EntityKind::RegistryValue => first(&["valueName"]),
        EntityKind::SecurityGroup => first(&["sid", "objectGuid", "distinguishedName"]),
        EntityKind::Malware => first(&["malwareName"]),
        EntityKind::IoTDevice => first(&["deviceId", "macAddress", "deviceName"]),
        EntityKind::MailCluster => first(&["query"]).or_else(|| entity.texts("networkMessageIds").into_iter().next()),
        EntityKind::SubmissionMail => first(&["submissionId", "networkMessageId"]),
        EntityKind::SecurityAlert => first(&["systemAlertId", "providerAlertId"]),
        EntityKind::Bookmark => first(&["displayName"]),
        EntityKind::Other(_) => None,
    };
    found.or_else(|| entity.friendly_name()).unwrap_or_else(|| entity.name.clone())
}

/// The UPN (see [`account_upn`]), then SID, then the Entra object id, then
/// DOMAIN\name, then the name.
fn account_identifier(entity: &Entity) -> Option<String> {
    let name = entity.text("accountName");
    account_upn(entity).or_else(|| entity.text("sid")).or_else(|| entity.text("aadUserId")).or_else(|| {
        match (entity.text("ntDomain"), &name) {
            (Some(domain), Some(name)) => Some(format!("{domain}\\{name}")),
            _ => name.clone(),
        }
    })
}

/// An account's UPN, lower case, from either shape Sentinel sends: since
/// July 2026 `accountName` is the UPN's prefix and `userPrincipalName` the
/// whole; before, `accountName` was sometimes the whole UPN, sometimes the
/// prefix beside `upnSuffix`. A suffix without a dot is a NetBIOS domain,
/// not a UPN's, and a name alone is never taken for a UPN.
pub fn account_upn(entity: &Entity) -> Option<String> {
    if let Some(upn) = entity.user_principal_name().filter(|upn| is_upn(upn)) {
        return Some(upn.to_ascii_lowercase());
    }
    let name = entity.text("accountName")?;
    if is_upn(&name) {
        return Some(name.to_ascii_lowercase());
    }
    let suffix = entity.text("upnSuffix").filter(|suffix| suffix.contains('.'))?;
    Some(format!("{name}@{suffix}").to_ascii_lowercase())
}

/// `prefix@domain.tld`: something before the `@` and a dotted domain after it.
pub fn is_upn(text: &str) -> bool {
    text.split_once('@').is_some_and(|(prefix, domain)| !prefix.is_empty() && domain.contains('.'))
}

/// The FQDN when the DNS domain is known, else the host or NetBIOS name.
fn host_identifier(entity: &Entity) -> Option<String> {
    let host = entity.text("hostName").or_else(|| entity.text("netBiosName"));
    match (host, entity.text("dnsDomain")) {
        (Some(host), Some(domain)) if domain.contains('.') => Some(format!("{host}.{domain}").to_ascii_lowercase()),
        (Some(host), _) => Some(host.to_ascii_lowercase()),
        (None, _) => entity.text("azureID"),
    }
}

fn join_path(directory: &str, file: &str) -> String {
    let separator = if directory.contains('/') { '/' } else { '\\' };
    format!("{}{separator}{file}", directory.trim_end_matches(['\\', '/']))
}

/// Every entity normalized, with each `...EntityId(s)` property resolved to
/// the entity it names (matched by name or by resource id).
pub fn normalize(entities: &[Entity]) -> Vec<Normalized> {
    entities
        .iter()
        .map(|entity| Normalized {
            id: entity.name.clone(),
            kind: entity.kind(),
            identifier: identifier(entity),
            display_name: entity.friendly_name().unwrap_or_else(|| identifier(entity)),
            references: references(entity, entities),
            object_id: (entity.kind() == EntityKind::Account).then(|| entity.text("aadUserId")).flatten(),
        })
        .collect()
}

fn references(entity: &Entity, all: &[Entity]) -> Vec<Reference> {
    let mut found = Vec::new();
    for (field, value) in &entity.properties {
        let Some(role) = field.strip_suffix("EntityIds").or_else(|| field.strip_suffix("EntityId")) else { continue };
        let targets: Vec<&str> = match value {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            Value::String(one) => vec![one.as_str()],
            _ => Vec::new(),
        };
        for target in targets {
            if let Some(other) =
                all.iter().find(|e| e.name.eq_ignore_ascii_case(target) || e.id.eq_ignore_ascii_case(target))
            {
                found.push(Reference {
                    role: role.to_owned(),
                    id: other.name.clone(),
                    kind: other.kind(),
                    identifier: identifier(other),
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> Value {
        let path = format!("{}/tests/fixtures/azure-specs/{path}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn entity(kind: &str, name: &str, properties: Value) -> Entity {
        Entity {
            id: format!("/x/Entities/{name}"),
            name: name.into(),
            kind: kind.into(),
            properties: properties.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn incident_entities_fixture_parses() {
        let body = fixture("incidents/GetAllIncidentEntities.json")["responses"]["200"]["body"].to_string();
        let entities = parse_entities(body.as_bytes()).unwrap();
        assert_eq!(entities.len(), 1);
        assert_eq!(entities[0].kind(), EntityKind::Account);
        assert_eq!(identifier(&entities[0]), "domain\\administrator");
    }

    #[test]
    fn alerts_and_bookmarks_fixtures_parse() {
        let body = fixture("incidents/GetAllIncidentAlerts.json")["responses"]["200"]["body"].to_string();
        let alerts = parse_value_list(body.as_bytes(), "alerts").unwrap();
        assert_eq!(identifier(&alerts[0]), "baa8a239-6fde-4ab7-a093-d09f7b75c58c");
        let body = fixture("incidents/GetAllIncidentBookmarks.json")["responses"]["200"]["body"].to_string();
        let bookmarks = parse_value_list(body.as_bytes(), "bookmarks").unwrap();
        assert_eq!(bookmarks[0].kind(), EntityKind::Bookmark);
    }

    #[test]
    fn every_preview_fixture_kind_gets_a_stable_identifier() {
        let expected = [
            ("entities-preview/GetIpEntityById.json", EntityKind::Ip),
            ("entities-preview/GetUrlEntityById.json", EntityKind::Url),
            ("entities-preview/GetFileHashEntityById.json", EntityKind::FileHash),
            ("entities-preview/GetProcessEntityById.json", EntityKind::Process),
            ("entities-preview/GetMailboxEntityById.json", EntityKind::Mailbox),
            ("entities-preview/GetMailMessageEntityById.json", EntityKind::MailMessage),
            ("entities-preview/GetAzureResourceEntityById.json", EntityKind::AzureResource),
        ];
        for (path, kind) in expected {
            let entity: Entity = serde_json::from_value(fixture(path)["responses"]["200"]["body"].clone()).unwrap();
            assert_eq!(entity.kind(), kind, "{path}");
            let id = identifier(&entity);
            assert!(!id.is_empty() && id != entity.name, "{path}: {id}");
        }
        let hash: Entity = serde_json::from_value(
            fixture("entities-preview/GetFileHashEntityById.json")["responses"]["200"]["body"].clone(),
        )
        .unwrap();
        assert!(identifier(&hash).starts_with("sha256:") || identifier(&hash).contains(':'), "algorithm:value");
    }

    #[test]
    fn accounts_prefer_the_upn_and_hosts_the_fqdn() {
        let account = entity(
            "Account",
            "a",
            serde_json::json!({"accountName": "Alice", "upnSuffix": "contoso.com", "sid": "S-1-5"}),
        );
        assert_eq!(identifier(&account), "alice@contoso.com");
        let account = entity(
            "Account",
            "b",
            serde_json::json!({"accountName": "bob", "upnSuffix": "contoso", "sid": "S-1-5-21"}),
        );
        assert_eq!(identifier(&account), "S-1-5-21");
        let host = entity("Host", "h", serde_json::json!({"hostName": "VM1", "dnsDomain": "corp.contoso.com"}));
        assert_eq!(identifier(&host), "vm1.corp.contoso.com");
    }

    /// Sentinel's July 2026 change: `accountName` holds the UPN's prefix and
    /// `userPrincipalName` the whole. Before it, `accountName` was the whole
    /// UPN or the prefix beside `upnSuffix`. Every shape gives the same
    /// identifier; a bare name never becomes a UPN.
    #[test]
    fn an_account_keeps_its_upn_identifier_across_the_july_2026_mapping_change() {
        let shapes = [
            serde_json::json!({"accountName": "jdoe", "upnSuffix": "contoso.com", "userPrincipalName": "JDoe@Contoso.com", "aadUserId": "5e1b0c55-7dc8-4b55-9c2b-0b3a2a8d6f11"}),
            serde_json::json!({"accountName": "jdoe", "UserPrincipalName": "jdoe@contoso.com"}),
            serde_json::json!({"accountName": "jdoe@contoso.com"}),
            serde_json::json!({"accountName": "jdoe", "upnSuffix": "contoso.com"}),
        ];
        for properties in shapes {
            let account = entity("Account", "a", properties.clone());
            assert_eq!(identifier(&account), "jdoe@contoso.com", "{properties}");
        }
        let bare = entity("Account", "b", serde_json::json!({"accountName": "jdoe"}));
        assert_eq!(identifier(&bare), "jdoe", "a bare name stays a name");
        assert_eq!(account_upn(&bare), None);
        let netbios = entity("Account", "c", serde_json::json!({"accountName": "jdoe", "ntDomain": "CONTOSO"}));
        assert_eq!(identifier(&netbios), "CONTOSO\\jdoe");
        let not_a_upn = entity("Account", "d", serde_json::json!({"accountName": "jdoe", "userPrincipalName": "jdoe"}));
        assert_eq!(identifier(&not_a_upn), "jdoe", "a UPN needs a dotted domain");
    }

    #[test]
    fn a_normalized_account_carries_its_entra_object_id_and_no_other_kind_does() {
        let entities = [
            entity(
                "Account",
                "a",
                serde_json::json!({"accountName": "jdoe", "aadUserId": "5e1b0c55-7dc8-4b55-9c2b-0b3a2a8d6f11"}),
            ),
            entity("Account", "b", serde_json::json!({"accountName": "jdoe", "upnSuffix": "contoso.com"})),
            entity("Host", "h", serde_json::json!({"hostName": "vm1", "aadUserId": "not-an-account"})),
        ];
        let normalized = normalize(&entities);
        assert_eq!(normalized[0].object_id.as_deref(), Some("5e1b0c55-7dc8-4b55-9c2b-0b3a2a8d6f11"));
        assert_eq!(normalized[1].object_id, None);
        assert_eq!(normalized[2].object_id, None);
    }

    #[test]
    fn references_resolve_to_the_entities_they_name() {
        let host = entity("Host", "h1", serde_json::json!({"hostName": "vm1", "dnsDomain": "contoso.com"}));
        let file =
            entity("File", "f1", serde_json::json!({"fileName": "cmd.exe", "directory": "C:\\Windows\\System32"}));
        let process = entity(
            "Process",
            "p1",
            serde_json::json!({"commandLine": "cmd.exe /c whoami", "hostEntityId": "h1", "imageFileEntityId": "/x/Entities/f1", "accountEntityId": "missing"}),
        );
        let normalized = normalize(&[host, file, process]);
        let process = &normalized[2];
        assert_eq!(process.identifier, "cmd.exe /c whoami");
        let roles: Vec<(&str, &str)> =
            process.references.iter().map(|r| (r.role.as_str(), r.identifier.as_str())).collect();
        assert!(roles.contains(&("host", "vm1.contoso.com")));
        assert!(roles.contains(&("imageFile", "C:\\Windows\\System32\\cmd.exe")));
        assert_eq!(roles.len(), 2, "an unknown id is not invented");
    }

    #[test]
    fn unknown_kinds_are_kept() {
        let thing = entity("Satellite", "s", serde_json::json!({"friendlyName": "sat-1", "orbit": "LEO"}));
        assert_eq!(thing.kind(), EntityKind::Other("Satellite".into()));
        assert_eq!(identifier(&thing), "sat-1");
        assert!(thing.properties_json().contains("LEO"), "nothing lost");
    }
}
