//! The typed fields playbooks act on, read from an alert's or entity's
//! properties by the 2025-09-01 spec's names: alerts, and the details of each
//! of the 21 entity kinds. Every property also stays available as JSON.

use super::entities::{Entity, EntityKind};
use super::incidents::Severity;
use crate::core::enums::open_enum;

open_enum!(AlertStatus { Unknown => "Unknown", New => "New", Resolved => "Resolved", Dismissed => "Dismissed", InProgress => "InProgress" });

/// A security alert (from an incident's alerts, or a SecurityAlert entity).
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The alert's name (its system alert id).
    pub id: String,
    pub resource_id: String,
    pub display_name: Option<String>,
    pub alert_type: Option<String>,
    pub severity: Option<Severity>,
    pub status: Option<AlertStatus>,
    pub description: Option<String>,
    pub product_name: Option<String>,
    pub provider_alert_id: Option<String>,
    pub compromised_entity: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub time_generated: Option<String>,
    pub tactics: Vec<String>,
    pub remediation_steps: Vec<String>,
    pub alert_link: Option<String>,
    /// Every property, exactly as received, as JSON text.
    pub properties: String,
}

impl Alert {
    pub fn from_entity(entity: Entity) -> Alert {
        let t = |field: &str| entity.text(field);
        Alert {
            display_name: t("alertDisplayName"),
            alert_type: t("alertType"),
            severity: t("severity").map(|s| Severity::parse(&s)),
            status: t("status").map(|s| AlertStatus::parse(&s)),
            description: t("description"),
            product_name: t("productName"),
            provider_alert_id: t("providerAlertId"),
            compromised_entity: t("compromisedEntity"),
            start_time: t("startTimeUtc"),
            end_time: t("endTimeUtc"),
            time_generated: t("timeGenerated"),
            tactics: entity.texts("tactics"),
            remediation_steps: entity.texts("remediationSteps"),
            alert_link: t("alertLink"),
            properties: entity.properties_json(),
            id: entity.name,
            resource_id: entity.id,
        }
    }
}

/// A hunting bookmark attached to an incident.
#[derive(Clone, Debug, PartialEq)]
pub struct Bookmark {
    pub id: String,
    pub resource_id: String,
    pub display_name: Option<String>,
    pub query: Option<String>,
    pub notes: Option<String>,
    pub labels: Vec<String>,
    pub created: Option<String>,
    pub event_time: Option<String>,
    pub query_result: Option<String>,
    pub properties: String,
}

impl Bookmark {
    pub fn from_entity(entity: Entity) -> Bookmark {
        let t = |field: &str| entity.text(field);
        Bookmark {
            display_name: t("displayName"),
            query: t("query"),
            notes: t("notes"),
            labels: entity.texts("labels"),
            created: t("created"),
            event_time: t("eventTime"),
            query_result: t("queryResult"),
            properties: entity.properties_json(),
            id: entity.name,
            resource_id: entity.id,
        }
    }
}

/// Calls `$callback!` with every entity-detail record, its name and typed
/// fields. The core declares the records with it and the component their WIT
/// conversions, so each field list is written once.
macro_rules! entity_records {
    ($callback:ident) => {
        $callback! {
            AccountEntity { account_name: Option<String>, nt_domain: Option<String>, upn_suffix: Option<String>, user_principal_name: Option<String>, sid: Option<String>, aad_user_id: Option<String>, aad_tenant_id: Option<String>, object_guid: Option<String>, display_name: Option<String>, host_entity_id: Option<String> },
            HostEntity { host_name: Option<String>, dns_domain: Option<String>, nt_domain: Option<String>, net_bios_name: Option<String>, azure_id: Option<String>, oms_agent_id: Option<String>, os_family: Option<String>, os_version: Option<String> },
            IpEntity { address: Option<String>, country: Option<String>, city: Option<String> },
            UrlEntity { url: Option<String> },
            FileHashEntity { algorithm: Option<String>, hash_value: Option<String> },
            FileEntity { file_name: Option<String>, directory: Option<String>, host_entity_id: Option<String>, file_hash_entity_ids: Vec<String> },
            ProcessEntity { process_id: Option<String>, command_line: Option<String>, creation_time: Option<String>, elevation_token: Option<String>, account_entity_id: Option<String>, host_entity_id: Option<String>, image_file_entity_id: Option<String>, parent_process_entity_id: Option<String> },
            MailboxEntity { primary_address: Option<String>, display_name: Option<String>, upn: Option<String>, external_directory_object_id: Option<String> },
            MailMessageEntity { network_message_id: Option<String>, internet_message_id: Option<String>, subject: Option<String>, sender: Option<String>, recipient: Option<String>, sender_ip: Option<String>, receive_date: Option<String>, delivery_action: Option<String>, delivery_location: Option<String>, urls: Vec<String>, file_entity_ids: Vec<String> },
            CloudApplicationEntity { app_id: Option<String>, app_name: Option<String>, instance_name: Option<String> },
            AzureResourceEntity { resource_id: Option<String>, subscription_id: Option<String> },
            DnsResolutionEntity { domain_name: Option<String>, dns_server_ip_entity_id: Option<String>, host_ip_address_entity_id: Option<String>, ip_address_entity_ids: Vec<String> },
            RegistryKeyEntity { hive: Option<String>, key: Option<String> },
            RegistryValueEntity { key_entity_id: Option<String>, value_name: Option<String>, value_data: Option<String>, value_type: Option<String> },
            SecurityGroupEntity { distinguished_name: Option<String>, object_guid: Option<String>, sid: Option<String> },
            MalwareEntity { malware_name: Option<String>, category: Option<String>, file_entity_ids: Vec<String>, process_entity_ids: Vec<String> },
            IotDeviceEntity { device_id: Option<String>, device_name: Option<String>, device_type: Option<String>, vendor: Option<String>, model: Option<String>, mac_address: Option<String>, host_entity_id: Option<String>, ip_address_entity_id: Option<String> },
            MailClusterEntity { query: Option<String>, source: Option<String>, network_message_ids: Vec<String> },
            SubmissionMailEntity { submission_id: Option<String>, network_message_id: Option<String>, submitter: Option<String>, sender: Option<String>, recipient: Option<String>, subject: Option<String>, report_type: Option<String> },
            BookmarkEntity { display_name: Option<String>, query: Option<String>, notes: Option<String>, event_time: Option<String>, created: Option<String> }
        }
    };
}
// Used by the component (wasm only) for the WIT conversions.
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_imports))]
pub(crate) use entity_records;

macro_rules! declare_records {
    ($($name:ident { $($field:ident: $type:ty),+ $(,)? }),+ $(,)?) => {
        $(
            #[derive(Clone, Debug, Default, PartialEq, Eq)]
            pub struct $name { $(pub $field: $type),+ }
        )+
    };
}

entity_records!(declare_records);

/// The typed fields of one entity, by its kind; `Other` for kinds added later.
#[derive(Clone, Debug, PartialEq)]
pub enum EntityDetails {
    Account(AccountEntity),
    Host(HostEntity),
    Ip(IpEntity),
    Url(UrlEntity),
    FileHash(FileHashEntity),
    File(FileEntity),
    Process(ProcessEntity),
    Mailbox(MailboxEntity),
    MailMessage(MailMessageEntity),
    CloudApplication(CloudApplicationEntity),
    AzureResource(AzureResourceEntity),
    DnsResolution(DnsResolutionEntity),
    RegistryKey(RegistryKeyEntity),
    RegistryValue(RegistryValueEntity),
    SecurityGroup(SecurityGroupEntity),
    Malware(MalwareEntity),
    IoTDevice(IotDeviceEntity),
    MailCluster(MailClusterEntity),
    SubmissionMail(SubmissionMailEntity),
    SecurityAlert(Box<Alert>),
    Bookmark(BookmarkEntity),
    Other,
}

/// The typed fields of each kind, read from the properties by their spec names.
pub fn details(entity: &Entity) -> EntityDetails {
    use EntityDetails as D;
    let t = |field: &str| entity.text(field);
    let list = |field: &str| entity.texts(field);
    match entity.kind() {
        EntityKind::Account => D::Account(AccountEntity {
            account_name: t("accountName"),
            nt_domain: t("ntDomain"),
            upn_suffix: t("upnSuffix"),
            user_principal_name: entity.user_principal_name(),
            sid: t("sid"),
            aad_user_id: t("aadUserId"),
            aad_tenant_id: t("aadTenantId"),
            object_guid: t("objectGuid"),
            display_name: t("displayName"),
            host_entity_id: t("hostEntityId"),
        }),
        EntityKind::Host => D::Host(HostEntity {
            host_name: t("hostName"),
            dns_domain: t("dnsDomain"),
            nt_domain: t("ntDomain"),
            net_bios_name: t("netBiosName"),
            azure_id: t("azureID"),
            oms_agent_id: t("omsAgentID"),
            os_family: t("osFamily"),
            os_version: t("osVersion"),
        }),
        EntityKind::Ip => {
            let location = entity.properties.get("location");
            let place = |field: &str| location.and_then(|l| l.get(field)).and_then(|v| v.as_str()).map(str::to_owned);
            D::Ip(IpEntity { address: t("address"), country: place("countryName"), city: place("city") })
        }
        EntityKind::Url => D::Url(UrlEntity { url: t("url") }),
        EntityKind::FileHash => D::FileHash(FileHashEntity { algorithm: t("algorithm"), hash_value: t("hashValue") }),
        EntityKind::File => D::File(FileEntity {
            file_name: t("fileName"),
            directory: t("directory"),
            host_entity_id: t("hostEntityId"),
            file_hash_entity_ids: list("fileHashEntityIds"),
        }),
        EntityKind::Process => D::Process(ProcessEntity {
            process_id: t("processId"),
            command_line: t("commandLine"),
            creation_time: t("creationTimeUtc"),
            elevation_token: t("elevationToken"),
            account_entity_id: t("accountEntityId"),
            host_entity_id: t("hostEntityId"),
            image_file_entity_id: t("imageFileEntityId"),
            parent_process_entity_id: t("parentProcessEntityId"),
        }),
        EntityKind::Mailbox => D::Mailbox(MailboxEntity {
            primary_address: t("mailboxPrimaryAddress"),
            display_name: t("displayName"),
            upn: t("upn"),
            external_directory_object_id: t("externalDirectoryObjectId"),
        }),
        EntityKind::MailMessage => D::MailMessage(MailMessageEntity {
            network_message_id: t("networkMessageId"),
            internet_message_id: t("internetMessageId"),
            subject: t("subject"),
            sender: t("p1Sender").or_else(|| t("p2Sender")),
            recipient: t("recipient"),
            sender_ip: t("senderIP"),
            receive_date: t("receiveDate"),
            delivery_action: t("deliveryAction"),
            delivery_location: t("deliveryLocation"),
            urls: list("urls"),
            file_entity_ids: list("fileEntityIds"),
        }),
        EntityKind::CloudApplication => D::CloudApplication(CloudApplicationEntity {
            app_id: t("appId"),
            app_name: t("appName"),
            instance_name: t("instanceName"),
        }),
        EntityKind::AzureResource => {
            D::AzureResource(AzureResourceEntity { resource_id: t("resourceId"), subscription_id: t("subscriptionId") })
        }
        EntityKind::DnsResolution => D::DnsResolution(DnsResolutionEntity {
            domain_name: t("domainName"),
            dns_server_ip_entity_id: t("dnsServerIpEntityId"),
            host_ip_address_entity_id: t("hostIpAddressEntityId"),
            ip_address_entity_ids: list("ipAddressEntityIds"),
        }),
        EntityKind::RegistryKey => D::RegistryKey(RegistryKeyEntity { hive: t("hive"), key: t("key") }),
        EntityKind::RegistryValue => D::RegistryValue(RegistryValueEntity {
            key_entity_id: t("keyEntityId"),
            value_name: t("valueName"),
            value_data: t("valueData"),
            value_type: t("valueType"),
        }),
        EntityKind::SecurityGroup => D::SecurityGroup(SecurityGroupEntity {
            distinguished_name: t("distinguishedName"),
            object_guid: t("objectGuid"),
            sid: t("sid"),
        }),
        EntityKind::Malware => D::Malware(MalwareEntity {
            malware_name: t("malwareName"),
            category: t("category"),
            file_entity_ids: list("fileEntityIds"),
            process_entity_ids: list("processEntityIds"),
        }),
        EntityKind::IoTDevice => D::IoTDevice(IotDeviceEntity {
            device_id: t("deviceId"),
            device_name: t("deviceName"),
            device_type: t("deviceType"),
            vendor: t("vendor"),
            model: t("model"),
            mac_address: t("macAddress"),
            host_entity_id: t("hostEntityId"),
            ip_address_entity_id: t("ipAddressEntityId"),
        }),
        EntityKind::MailCluster => D::MailCluster(MailClusterEntity {
            query: t("query"),
            source: t("source"),
            network_message_ids: list("networkMessageIds"),
        }),
        EntityKind::SubmissionMail => D::SubmissionMail(SubmissionMailEntity {
            submission_id: t("submissionId"),
            network_message_id: t("networkMessageId"),
            submitter: t("submitter"),
            sender: t("sender"),
            recipient: t("recipient"),
            subject: t("subject"),
            report_type: t("reportType"),
        }),
        EntityKind::Bookmark => D::Bookmark(BookmarkEntity {
            display_name: t("displayName"),
            query: t("query"),
            notes: t("notes"),
            event_time: t("eventTime"),
            created: t("created"),
        }),
        EntityKind::SecurityAlert => D::SecurityAlert(Box::new(Alert::from_entity(entity.clone()))),
        EntityKind::Other(_) => D::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sentinel::entities::{parse_entities, parse_value_list};
    use serde_json::Value;

    fn fixture_body(path: &str) -> Value {
        let path = format!("{}/tests/fixtures/azure-specs/{path}", env!("CARGO_MANIFEST_DIR"));
        let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        file["responses"]["200"]["body"].clone()
    }

    fn entity_of(path: &str) -> Entity {
        serde_json::from_value(fixture_body(path)).unwrap()
    }

    #[test]
    fn an_incident_alert_reads_its_fields_from_microsofts_example() {
        let body = fixture_body("incidents/GetAllIncidentAlerts.json").to_string();
        let alert = Alert::from_entity(parse_value_list(body.as_bytes(), "alerts").unwrap().remove(0));
        assert_eq!(alert.severity, Some(Severity::Low));
        assert_eq!(alert.status, Some(AlertStatus::New));
        assert_eq!(alert.display_name.as_deref(), Some("myAlert"));
        assert_eq!(alert.product_name.as_deref(), Some("Azure Security Center"));
        assert!(alert.properties.contains("alertDisplayName"), "every property is kept");
    }

    #[test]
    fn a_bookmark_reads_its_fields_from_microsofts_example() {
        let body = fixture_body("incidents/GetAllIncidentBookmarks.json").to_string();
        let bookmark = Bookmark::from_entity(parse_value_list(body.as_bytes(), "bookmarks").unwrap().remove(0));
        assert!(bookmark.display_name.is_some() && bookmark.query.is_some(), "{bookmark:?}");
        assert!(!bookmark.id.is_empty());
    }

    #[test]
    fn each_kind_of_microsofts_examples_gets_its_typed_details() {
        let account = parse_entities(fixture_body("incidents/GetAllIncidentEntities.json").to_string().as_bytes())
            .unwrap()
            .remove(0);
        let EntityDetails::Account(account) = details(&account) else { panic!("an account") };
        assert_eq!(
            (account.account_name.as_deref(), account.nt_domain.as_deref()),
            (Some("administrator"), Some("domain"))
        );
        match details(&entity_of("entities-preview/GetIpEntityById.json")) {
            EntityDetails::Ip(ip) => assert!(ip.address.is_some()),
            other => panic!("{other:?}"),
        }
        match details(&entity_of("entities-preview/GetUrlEntityById.json")) {
            EntityDetails::Url(url) => assert!(url.url.is_some()),
            other => panic!("{other:?}"),
        }
        match details(&entity_of("entities-preview/GetFileHashEntityById.json")) {
            EntityDetails::FileHash(hash) => assert!(hash.algorithm.is_some() && hash.hash_value.is_some()),
            other => panic!("{other:?}"),
        }
        match details(&entity_of("entities-preview/GetProcessEntityById.json")) {
            EntityDetails::Process(process) => {
                assert!(process.process_id.is_some() || process.command_line.is_some(), "{process:?}")
            }
            other => panic!("{other:?}"),
        }
        match details(&entity_of("entities-preview/GetMailboxEntityById.json")) {
            EntityDetails::Mailbox(mailbox) => assert!(mailbox.primary_address.is_some()),
            other => panic!("{other:?}"),
        }
        match details(&entity_of("entities-preview/GetMailMessageEntityById.json")) {
            EntityDetails::MailMessage(message) => {
                assert!(message.network_message_id.is_some() || message.subject.is_some(), "{message:?}")
            }
            other => panic!("{other:?}"),
        }
        match details(&entity_of("entities-preview/GetAzureResourceEntityById.json")) {
            EntityDetails::AzureResource(resource) => assert!(resource.resource_id.is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn odd_shapes_keep_what_can_be_read() {
        let entity = |kind: &str, properties: Value| Entity {
            id: "/x".into(),
            name: "n".into(),
            kind: kind.into(),
            properties: properties.as_object().unwrap().clone(),
        };
        let ip = details(&entity(
            "Ip",
            serde_json::json!({"address": "10.0.0.1", "location": {"countryName": "NL", "city": "Delft"}}),
        ));
        assert_eq!(
            ip,
            EntityDetails::Ip(IpEntity {
                address: Some("10.0.0.1".into()),
                country: Some("NL".into()),
                city: Some("Delft".into())
            })
        );
        let mail = details(&entity(
            "MailMessage",
            serde_json::json!({"p2Sender": "x@contoso.com", "urls": ["https://a", "https://b"]}),
        ));
        let EntityDetails::MailMessage(mail) = mail else { panic!() };
        assert_eq!(mail.sender.as_deref(), Some("x@contoso.com"), "p2Sender when p1Sender is missing");
        assert_eq!(mail.urls.len(), 2);
        let process = details(&entity("Process", serde_json::json!({"processId": 4242})));
        let EntityDetails::Process(process) = process else { panic!() };
        assert_eq!(process.process_id.as_deref(), Some("4242"), "a number is kept as text");
        assert_eq!(details(&entity("SomethingNew", serde_json::json!({}))), EntityDetails::Other);
        assert!(
            matches!(details(&entity("SecurityAlert", serde_json::json!({"severity": "High"}))), EntityDetails::SecurityAlert(alert) if alert.severity == Some(Severity::High))
        );
    }
}
