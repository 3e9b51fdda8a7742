//! The `types` interface: conversions between the WIT records and the core's.

use super::details::{alert, entity};
use super::exports::soar::sentinel::types as wit;
use crate::core::auth::Api;
use crate::core::check::{missing_permissions, ApiCheck, CredentialKind};
use crate::core::config::{Cloud, ConnectionConfig, Credential, CustomCloud, ProtectedAccounts};
use crate::core::error::Error;
use crate::core::graph::PlannedRequest;
use crate::core::http::{Secret, Timeouts};
use crate::core::kql::{Cell, Table};
use crate::core::retry::RetryPolicy;
use crate::core::sentinel::actions::Details;
use crate::core::sentinel::comments::{Author, Comment};
use crate::core::sentinel::incidents::{self, Incident, ListOptions};
use crate::core::sentinel::poller::{Event, EventKind, PollOptions};
use crate::core::sentinel::query::{QueryOptions, QueryResult};
use crate::core::sentinel::relations::{Relation, Task, TaskUpdate};
use crate::core::sentinel::updates::{IncidentUpdate, NewIncident, OwnerChange};

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
            retry: config.retry.map(|r| RetryPolicy {
                max_retries: r.max_retries,
                initial_delay_ms: r.initial_delay_ms,
                max_delay_ms: r.max_delay_ms,
                total_budget_ms: r.total_budget_ms,
            }),
            protected_accounts: config.protected_accounts.map(protected_accounts).unwrap_or_default(),
        }
    }
}

fn protected_accounts(p: wit::ProtectedAccounts) -> ProtectedAccounts {
    ProtectedAccounts { user_ids: p.user_ids, user_principal_names: p.user_principal_names, groups: p.groups }
}

fn credential(credential: wit::Credential) -> Credential {
    match credential {
        wit::Credential::ClientSecret(secret) => Credential::ClientSecret(Secret::new(secret)),
        wit::Credential::ClientAssertion(assertion) => Credential::ClientAssertion(Secret::new(assertion)),
        wit::Credential::Certificate(c) => {
            Credential::Certificate { private_key: Secret::new(c.private_key), certificate: c.certificate }
        }
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

impl From<Error> for wit::ConnectorError {
    fn from(error: Error) -> Self {
        use wit::ErrorKind as K;
        let service = |kind, f: crate::core::ServiceFailure, retry_after_seconds| wit::ConnectorError {
            kind,
            subject: String::new(),
            status: f.status,
            code: f.code,
            message: f.message,
            hint: f.hint,
            retry_after_seconds,
            client_request_id: f.trace.client_request_id,
            request_id: f.trace.request_id,
        };
        let local = |kind, subject, message, hint, trace: crate::core::Trace| wit::ConnectorError {
            kind,
            subject,
            status: 0,
            code: String::new(),
            message,
            hint,
            retry_after_seconds: None,
            client_request_id: trace.client_request_id,
            request_id: trace.request_id,
        };
        let untraced = crate::core::Trace::default;
        match error {
            Error::InvalidInput { field, reason } => local(K::InvalidInput, field, reason, String::new(), untraced()),
            Error::Auth(f) => service(K::Auth, f, None),
            Error::Forbidden(f) => service(K::Forbidden, f, None),
            Error::NotFound(f) => service(K::NotFound, f, None),
            Error::Conflict(f) => service(K::Conflict, f, None),
            Error::Throttled { retry_after_seconds, failure } => service(K::Throttled, failure, retry_after_seconds),
            Error::BadRequest(f) => service(K::BadRequest, f, None),
            Error::Service(f) => service(K::Service, f, None),
            Error::Transport(l) => local(K::Transport, String::new(), l.message, l.hint, *l.trace),
            Error::InvalidResponse(l) => local(K::InvalidResponse, String::new(), l.message, l.hint, *l.trace),
            Error::Protected { user, reason } => local(K::ProtectedAccount, user, reason, String::new(), untraced()),
        }
    }
}

fn failure(f: crate::core::ServiceFailure) -> wit::ServiceFailure {
    wit::ServiceFailure { status: f.status, code: f.code, message: f.message, hint: f.hint }
}

open_enum_to_wit!(incidents::Severity => wit::Severity { High, Medium, Low, Informational });
open_enum_to_wit!(incidents::IncidentStatus => wit::IncidentStatus { New, Active, Closed });
open_enum_to_wit!(incidents::Classification => wit::Classification { Undetermined, TruePositive, BenignPositive, FalsePositive });
open_enum_to_wit!(incidents::ClassificationReason => wit::ClassificationReason {
    SuspiciousActivity, SuspiciousButExpected, IncorrectAlertLogic, InaccurateData
});
open_enum_to_wit!(incidents::OwnerType => wit::OwnerType { Unknown, User, Group });
open_enum_to_wit!(incidents::LabelType => wit::LabelType { User, AutoAssigned });

pub fn incident(incident: Incident) -> wit::Incident {
    let merged = incident.properties.is_merged();
    let p = incident.properties;
    let extra = p.additional_data.unwrap_or_default();
    wit::Incident {
        write_receipt: incident.write_receipt,
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
        provider_incident_url: extra.provider_incident_url,
        merged,
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
        include_details: options.include_details,
        detail_concurrency: options.detail_concurrency,
        ignore_merges: options.ignore_merges,
        own_writes: options.own_writes,
    }
}

pub fn event_kind(kind: EventKind) -> wit::EventKind {
    match kind {
        EventKind::Created => wit::EventKind::Created,
        EventKind::Updated => wit::EventKind::Updated,
        EventKind::Merged => wit::EventKind::Merged,
        EventKind::OwnChange => wit::EventKind::OwnChange,
    }
}

/// An event, with its details when they were asked for.
pub fn event(event: Event, details: Option<Result<Details, Error>>) -> wit::IncidentEvent {
    let kind = event_kind(event.kind);
    let (alerts, entities, details_error) = match details {
        None => (None, None, None),
        Some(Ok(d)) => {
            (Some(d.alerts.into_iter().map(alert).collect()), Some(d.entities.into_iter().map(entity).collect()), None)
        }
        Some(Err(error)) => (None, None, Some(error.into())),
    };
    let merged_into = event.merged_into.map(|target| wit::MergeTarget {
        defender_chain: target.chain,
        incident_id: target.incident_id,
        unresolved: target.unresolved.map(Into::into),
    });
    wit::IncidentEvent {
        kind,
        incident: incident(event.incident),
        alerts,
        entities,
        details_error,
        merged_into,
        includes_own_write: event.includes_own_write,
    }
}

fn owner_change(owner: wit::OwnerChange) -> OwnerChange {
    match owner {
        wit::OwnerChange::Unassign => OwnerChange::Unassign,
        wit::OwnerChange::ObjectId(id) => OwnerChange::ObjectId(id),
        wit::OwnerChange::UserPrincipalName(upn) => OwnerChange::UserPrincipalName(upn),
        wit::OwnerChange::Email(email) => OwnerChange::Email(email),
    }
}

pub fn incident_update(update: wit::IncidentUpdate) -> IncidentUpdate {
    IncidentUpdate {
        title: update.title,
        description: update.description,
        severity: update.severity.map(Into::into),
        status: update.status.map(Into::into),
        classification: update.classification.map(Into::into),
        classification_reason: update.classification_reason.map(Into::into),
        classification_comment: update.classification_comment,
        owner: update.owner.map(owner_change),
        add_labels: update.add_labels,
        remove_labels: update.remove_labels,
        update_merged_source: update.update_merged_source,
    }
}

pub fn new_incident(incident: wit::NewIncident) -> NewIncident {
    NewIncident {
        title: incident.title,
        severity: incident.severity.into(),
        status: incident.status.into(),
        description: incident.description,
        classification: incident.classification.map(Into::into),
        classification_reason: incident.classification_reason.map(Into::into),
        classification_comment: incident.classification_comment,
        owner: incident.owner.map(owner_change),
        labels: incident.labels,
    }
}

pub fn comment(comment: Comment) -> wit::Comment {
    let author = comment.properties.author.unwrap_or_default();
    wit::Comment {
        id: comment.name,
        message: comment.properties.message,
        created_time: comment.properties.created_time_utc,
        last_modified_time: comment.properties.last_modified_time_utc,
        author_name: author.name,
        author_email: author.email,
        author_user_principal_name: author.user_principal_name,
        author_object_id: author.object_id,
        etag: comment.etag,
    }
}

pub fn query_options(options: wit::QueryOptions) -> QueryOptions {
    QueryOptions { timespan: options.timespan, server_timeout_secs: options.server_timeout_seconds }
}

pub fn query_result(result: QueryResult) -> wit::QueryResult {
    wit::QueryResult {
        tables: result.tables.into_iter().map(table).collect(),
        partial_error: result.partial_error.map(failure),
    }
}

pub fn table(t: Table) -> wit::Table {
    wit::Table {
        name: t.name,
        columns: t.columns.into_iter().map(|c| wit::Column { name: c.name, column_type: c.column_type }).collect(),
        rows: t.rows.into_iter().map(|row| row.into_iter().map(cell).collect()).collect(),
    }
}

fn cell(cell: Cell) -> wit::Cell {
    match cell {
        Cell::Null => wit::Cell::Null,
        Cell::Text(v) => wit::Cell::Text(v),
        Cell::Integer(v) => wit::Cell::Integer(v),
        Cell::Real(v) => wit::Cell::Real(v),
        Cell::Boolean(v) => wit::Cell::Boolean(v),
        Cell::Datetime(v) => wit::Cell::Datetime(v),
        Cell::Guid(v) => wit::Cell::Guid(v),
        Cell::Timespan(v) => wit::Cell::Timespan(v),
        Cell::Decimal(v) => wit::Cell::Decimal(v),
        Cell::Dynamic(v) => wit::Cell::Dynamic(v),
    }
}

pub fn planned(request: PlannedRequest) -> wit::PlannedRequest {
    wit::PlannedRequest {
        method: request.method.as_str().to_owned(),
        url: request.url.into(),
        headers: request.headers,
        body: request.body,
    }
}

pub fn api(api: Api) -> wit::Api {
    match api {
        Api::Arm => wit::Api::AzureResourceManager,
        Api::LogAnalytics => wit::Api::LogAnalytics,
        Api::Graph => wit::Api::Graph,
    }
}

pub fn api_check(check: ApiCheck) -> wit::ApiCheck {
    wit::ApiCheck {
        api: api(check.api),
        certificate_thumbprint: check.certificate_thumbprint,
        credential: match check.credential {
            CredentialKind::ClientSecret => wit::CredentialKind::ClientSecret,
            CredentialKind::ClientAssertion => wit::CredentialKind::ClientAssertion,
            CredentialKind::Certificate => wit::CredentialKind::Certificate,
            CredentialKind::AccessToken => wit::CredentialKind::AccessToken,
        },
        token_ok: check.token_ok,
        read_ok: check.read_ok,
        failure: check.failure.map(Into::into),
        missing_permissions: if check.token_ok { missing_permissions(check.api, &check.roles) } else { Vec::new() },
        roles: check.roles,
        allowed_actions: check.allowed_actions,
        api_versions: check.api_versions,
    }
}

pub fn relation(relation: Relation) -> wit::Relation {
    let p = relation.properties;
    wit::Relation {
        name: relation.name,
        related_resource_id: p.related_resource_id,
        related_resource_name: p.related_resource_name,
        related_resource_type: p.related_resource_type,
        related_resource_kind: p.related_resource_kind,
        etag: relation.etag,
    }
}

fn task_status(status: &str) -> wit::TaskStatus {
    match status.to_ascii_lowercase().as_str() {
        "new" => wit::TaskStatus::New,
        "completed" => wit::TaskStatus::Completed,
        _ => wit::TaskStatus::Other(status.to_owned()),
    }
}

fn who(author: Option<Author>) -> Option<String> {
    author.and_then(|a| a.user_principal_name.or(a.email).or(a.name).or(a.object_id))
}

pub fn task(task: Task) -> wit::IncidentTask {
    let p = task.properties;
    wit::IncidentTask {
        id: task.name,
        status: task_status(&p.status),
        title: p.title,
        description: p.description,
        created_time: p.created_time_utc,
        last_modified_time: p.last_modified_time_utc,
        created_by: who(p.created_by),
        last_modified_by: who(p.last_modified_by),
        etag: task.etag,
    }
}

pub fn task_update(update: wit::TaskUpdate) -> TaskUpdate {
    TaskUpdate {
        title: update.title,
        description: update.description,
        status: update.status.map(|s| match s {
            wit::TaskStatus::New => "New".to_owned(),
            wit::TaskStatus::Completed => "Completed".to_owned(),
            wit::TaskStatus::Other(text) => text,
        }),
    }
}
