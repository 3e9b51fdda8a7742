//! Alerts, entities with their typed details, normalized entities and
//! bookmarks: the core's records (core/sentinel/details.rs, entities.rs) as
//! their WIT twins. Conversions only; what each field is read from is the core's.

use super::exports::soar::sentinel::types as wit;
use crate::core::sentinel::details::{self as det, Alert, Bookmark, EntityDetails};
use crate::core::sentinel::entities::{self as ent, Entity, EntityKind, Normalized};

pub fn alert(a: Alert) -> wit::Alert {
    wit::Alert {
        id: a.id,
        resource_id: a.resource_id,
        display_name: a.display_name,
        alert_type: a.alert_type,
        severity: a.severity.map(Into::into),
        status: a.status.map(Into::into),
        description: a.description,
        product_name: a.product_name,
        provider_alert_id: a.provider_alert_id,
        compromised_entity: a.compromised_entity,
        start_time: a.start_time,
        end_time: a.end_time,
        time_generated: a.time_generated,
        tactics: a.tactics,
        remediation_steps: a.remediation_steps,
        alert_link: a.alert_link,
        properties: a.properties,
    }
}

open_enum_to_wit!(det::AlertStatus => wit::AlertStatus { Unknown, New, Resolved, Dismissed, InProgress });

pub fn entity_kind(kind: EntityKind) -> wit::EntityKind {
    use wit::EntityKind as W;
    match kind {
        EntityKind::Account => W::Account,
        EntityKind::Host => W::Host,
        EntityKind::Ip => W::Ip,
        EntityKind::Url => W::Url,
        EntityKind::FileHash => W::FileHash,
        EntityKind::File => W::File,
        EntityKind::Process => W::Process,
        EntityKind::Mailbox => W::Mailbox,
        EntityKind::MailMessage => W::MailMessage,
        EntityKind::CloudApplication => W::CloudApplication,
        EntityKind::AzureResource => W::AzureResource,
        EntityKind::DnsResolution => W::DnsResolution,
        EntityKind::RegistryKey => W::RegistryKey,
        EntityKind::RegistryValue => W::RegistryValue,
        EntityKind::SecurityGroup => W::SecurityGroup,
        EntityKind::Malware => W::Malware,
        EntityKind::IoTDevice => W::IotDevice,
        EntityKind::MailCluster => W::MailCluster,
        EntityKind::SubmissionMail => W::SubmissionMail,
        EntityKind::SecurityAlert => W::SecurityAlert,
        EntityKind::Bookmark => W::Bookmark,
        EntityKind::Other(text) => W::Other(text),
    }
}

pub fn entity(entity: Entity) -> wit::Entity {
    wit::Entity {
        id: entity.name.clone(),
        resource_id: entity.id.clone(),
        kind: entity_kind(entity.kind()),
        friendly_name: entity.friendly_name(),
        properties: entity.properties_json(),
        details: entity_details(det::details(&entity)),
    }
}

/// Each record's WIT twin, field by field (the list is the core's, written once).
macro_rules! records_to_wit {
    ($($name:ident { $($field:ident: $type:ty),+ $(,)? }),+ $(,)?) => {
        $(
            impl From<det::$name> for wit::$name {
                fn from(record: det::$name) -> Self {
                    wit::$name { $($field: record.$field),+ }
                }
            }
        )+
    };
}

det::entity_records!(records_to_wit);

fn entity_details(details: EntityDetails) -> wit::EntityDetails {
    use wit::EntityDetails as W;
    use EntityDetails as D;
    match details {
        D::Account(r) => W::Account(r.into()),
        D::Host(r) => W::Host(r.into()),
        D::Ip(r) => W::Ip(r.into()),
        D::Url(r) => W::Url(r.into()),
        D::FileHash(r) => W::FileHash(r.into()),
        D::File(r) => W::File(r.into()),
        D::Process(r) => W::Process(r.into()),
        D::Mailbox(r) => W::Mailbox(r.into()),
        D::MailMessage(r) => W::MailMessage(r.into()),
        D::CloudApplication(r) => W::CloudApplication(r.into()),
        D::AzureResource(r) => W::AzureResource(r.into()),
        D::DnsResolution(r) => W::DnsResolution(r.into()),
        D::RegistryKey(r) => W::RegistryKey(r.into()),
        D::RegistryValue(r) => W::RegistryValue(r.into()),
        D::SecurityGroup(r) => W::SecurityGroup(r.into()),
        D::Malware(r) => W::Malware(r.into()),
        D::IoTDevice(r) => W::IotDevice(r.into()),
        D::MailCluster(r) => W::MailCluster(r.into()),
        D::SubmissionMail(r) => W::SubmissionMail(r.into()),
        D::SecurityAlert(r) => W::SecurityAlert(alert(*r)),
        D::Bookmark(r) => W::Bookmark(r.into()),
        D::Other => W::Other,
    }
}

pub fn normalized(entity: Normalized) -> wit::NormalizedEntity {
    wit::NormalizedEntity {
        id: entity.id,
        kind: entity_kind(entity.kind),
        identifier: entity.identifier,
        display_name: entity.display_name,
        object_id: entity.object_id,
        references: entity
            .references
            .into_iter()
            .map(|r| wit::EntityReference {
                role: r.role,
                id: r.id,
                kind: entity_kind(r.kind),
                identifier: r.identifier,
            })
            .collect(),
    }
}

pub fn bookmark(b: Bookmark) -> wit::Bookmark {
    wit::Bookmark {
        id: b.id,
        resource_id: b.resource_id,
        display_name: b.display_name,
        query: b.query,
        notes: b.notes,
        labels: b.labels,
        created: b.created,
        event_time: b.event_time,
        query_result: b.query_result,
        properties: b.properties,
    }
}

/// For the normalized view: what `ent::normalize` needs.
pub fn normalize(entities: &[Entity]) -> Vec<wit::NormalizedEntity> {
    ent::normalize(entities).into_iter().map(normalized).collect()
}
