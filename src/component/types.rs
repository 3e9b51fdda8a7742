//! The `types` interface: conversions between the WIT records and the core's.

use super::exports::soar::sentinel::types as wit;
use crate::core::config::{Cloud, ConnectionConfig, Credential, CustomCloud};
use crate::core::error::Error;
use crate::core::http::{Secret, Timeouts};
use crate::core::incidents::{self, Incident, ListOptions};
use crate::core::poller::{Event, EventKind, PollOptions};

impl From<wit::ConnectionConfig> for ConnectionConfig {
    fn from(config: wit::ConnectionConfig) -> Self {
        ConnectionConfig {
            tenant_id: config.tenant_id,
            client_id: config.client_id,
            credential: credential(config.credential),
            subscription_id: config.subscription_id,
            resource_group: config.resource_group,
            workspace_name: config.workspace_name,
            workspace_id: config.workspace_id,
            cloud: cloud(config.cloud),
            api_version: config.api_version,
            timeouts: config.timeouts.map(|t| Timeouts {
                connect_ms: t.connect_ms,
                first_byte_ms: t.first_byte_ms,
                between_bytes_ms: t.between_bytes_ms,
            }),
        }
    }
}

fn credential(credential: wit::Credential) -> Credential {
    match credential {
        wit::Credential::ClientSecret(secret) => Credential::ClientSecret(Secret::new(secret)),
        wit::Credential::AccessTokens(tokens) => Credential::AccessTokens {
            arm: tokens.arm.map(Secret::new),
            log_analytics: tokens.log_analytics.map(Secret::new),
            graph: tokens.graph.map(Secret::new),
        },
    }
}

fn cloud(cloud: wit::Cloud) -> Cloud {
    match cloud {
        wit::Cloud::Public => Cloud::Public,
        wit::Cloud::UsGovernment => Cloud::UsGovernment,
        wit::Cloud::China => Cloud::China,
        wit::Cloud::Custom(c) => Cloud::Custom(CustomCloud {
            login_url: c.login_url,
            arm_url: c.arm_url,
            log_analytics_url: c.log_analytics_url,
            graph_url: c.graph_url,
            arm_scope: c.arm_scope,
            log_analytics_scope: c.log_analytics_scope,
            graph_scope: c.graph_scope,
        }),
    }
}

pub fn list_options(options: wit::ListIncidentsOptions) -> ListOptions {
    ListOptions {
        filter: options.filter,
        orderby: options.orderby,
        top: options.top,
        continuation: options.continuation,
        max_pages: options.max_pages,
    }
}

impl From<Error> for wit::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidInput { field, reason } => wit::Error::InvalidInput(wit::InvalidInput { field, reason }),
            Error::Auth(f) => wit::Error::Auth(failure(f)),
            Error::Forbidden(f) => wit::Error::Forbidden(failure(f)),
            Error::NotFound(f) => wit::Error::NotFound(failure(f)),
            Error::Conflict(f) => wit::Error::Conflict(failure(f)),
            Error::Throttled { retry_after_seconds, failure: f } => {
                wit::Error::Throttled(wit::Throttled { retry_after_seconds, failure: failure(f) })
            }
            Error::BadRequest(f) => wit::Error::BadRequest(failure(f)),
            Error::Service(f) => wit::Error::Service(failure(f)),
            Error::Transport(l) => wit::Error::Transport(wit::LocalFailure { message: l.message, hint: l.hint }),
            Error::InvalidResponse(l) => wit::Error::InvalidResponse(wit::LocalFailure { message: l.message, hint: l.hint }),
        }
    }
}

fn failure(f: crate::core::ServiceFailure) -> wit::ServiceFailure {
    wit::ServiceFailure { status: f.status, code: f.code, message: f.message, hint: f.hint }
}

/// Open enums have the same case names on both sides; only the paths differ.
macro_rules! open_enum_to_wit {
    ($core:ident => $wit:ident { $($case:ident),+ }) => {
        impl From<incidents::$core> for wit::$wit {
            fn from(value: incidents::$core) -> Self {
                match value {
                    $(incidents::$core::$case => wit::$wit::$case,)+
                    incidents::$core::Other(text) => wit::$wit::Other(text),
                }
            }
        }

        impl From<wit::$wit> for incidents::$core {
            fn from(value: wit::$wit) -> Self {
                match value {
                    $(wit::$wit::$case => incidents::$core::$case,)+
                    wit::$wit::Other(text) => incidents::$core::Other(text),
                }
            }
        }
    };
}

open_enum_to_wit!(Severity => Severity { High, Medium, Low, Informational });
open_enum_to_wit!(IncidentStatus => IncidentStatus { New, Active, Closed });
open_enum_to_wit!(Classification => Classification { Undetermined, TruePositive, BenignPositive, FalsePositive });
open_enum_to_wit!(ClassificationReason => ClassificationReason {
    SuspiciousActivity, SuspiciousButExpected, IncorrectAlertLogic, InaccurateData
});
open_enum_to_wit!(OwnerType => OwnerType { Unknown, User, Group });
open_enum_to_wit!(LabelType => LabelType { User, AutoAssigned });

pub fn incident(incident: Incident) -> wit::Incident {
    let p = incident.properties;
    let extra = p.additional_data.unwrap_or_default();
    wit::Incident {
        id: incident.name,
        resource_id: incident.id,
        etag: incident.etag,
        number: p.incident_number,
        title: p.title,
        description: p.description,
        severity: p.severity.into(),
        status: p.status.into(),
        classification: p.classification.map(Into::into),
        classification_reason: p.classification_reason.map(Into::into),
        classification_comment: p.classification_comment,
        owner: p.owner.filter(|o| !o.is_unassigned()).map(|o| wit::IncidentOwner {
            object_id: o.object_id,
            email: o.email,
            user_principal_name: o.user_principal_name,
            assigned_to: o.assigned_to,
            owner_type: o.owner_type.map(Into::into),
        }),
        labels: p
            .labels
            .into_iter()
            .map(|l| wit::IncidentLabel { name: l.label_name, label_type: l.label_type.map(Into::into) })
            .collect(),
        created_time: p.created_time_utc,
        last_modified_time: p.last_modified_time_utc,
        first_activity_time: p.first_activity_time_utc,
        last_activity_time: p.last_activity_time_utc,
        url: p.incident_url,
        provider_name: p.provider_name,
        provider_incident_id: p.provider_incident_id,
        alerts_count: extra.alerts_count,
        bookmarks_count: extra.bookmarks_count,
        comments_count: extra.comments_count,
        alert_product_names: extra.alert_product_names,
        tactics: extra.tactics,
        related_analytic_rule_ids: p.related_analytic_rule_ids,
    }
}

pub fn poll_options(options: wit::PollOptions) -> PollOptions {
    PollOptions {
        first_fetch: options.first_fetch,
        look_back_secs: options.look_back_seconds,
        max_events: options.max_events,
        include_updates: options.include_updates,
        min_severity: options.min_severity.map(Into::into),
        statuses: options.statuses.into_iter().map(Into::into).collect(),
        title_includes: options.title_includes,
        title_excludes: options.title_excludes,
    }
}

pub fn event(event: Event) -> wit::IncidentEvent {
    let kind = match event.kind {
        EventKind::Created => wit::EventKind::Created,
        EventKind::Updated => wit::EventKind::Updated,
    };
    wit::IncidentEvent { kind, incident: incident(event.incident) }
}
