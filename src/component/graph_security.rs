//! The `graph-security` interface: Defender XDR incidents, alerts and
//! advanced hunting over the connection's Graph token.

use super::exports::soar::sentinel::graph_security::{self as gwit, Guest};
use super::exports::soar::sentinel::sentinel_connector::ConnectionBorrow;
use super::exports::soar::sentinel::types as wit;
use super::sentinel_connector::ConnectionResource;
use super::types::{event_kind, planned, table};
use super::Component;
use crate::core::graph::hunting::HuntingOptions;
use crate::core::graph::poller::{GraphEvent, GraphPollOptions};
use crate::core::graph::security::{
    self as gsec, Assignee, Collection, Evidence, GraphAlert, GraphAlertUpdate, GraphComment, GraphIncident,
    GraphIncidentUpdate, GraphListOptions,
};

open_enum_to_wit!(gsec::GraphSeverity => gwit::Severity { Unknown, Informational, Low, Medium, High });
open_enum_to_wit!(gsec::GraphIncidentStatus => gwit::IncidentStatus { Active, Resolved, InProgress, Redirected, AwaitingAction });
open_enum_to_wit!(gsec::GraphAlertStatus => gwit::AlertStatus { New, InProgress, Resolved });
open_enum_to_wit!(gsec::GraphClassification => gwit::Classification { Unknown, FalsePositive, TruePositive, InformationalExpectedActivity });
open_enum_to_wit!(gsec::Determination => gwit::Determination {
    Unknown, Apt, Malware, SecurityPersonnel, SecurityTesting, UnwantedSoftware, OtherDetermination, MultiStagedAttack,
    CompromisedAccount, Phishing, MaliciousUserActivity, NotMalicious, NotEnoughDataToValidate, ConfirmedActivity,
    LineOfBusinessApplication,
});

impl Guest for Component {
    fn list_incidents(
        connection: ConnectionBorrow<'_>,
        options: gwit::ListOptions,
    ) -> Result<gwit::IncidentPage, wit::ConnectorError> {
        let page = resource(&connection)
            .with_client(|client, http| client.graph().list_incidents(http, &list_options(options)))?;
        Ok(gwit::IncidentPage {
            incidents: page.value.into_iter().map(incident).collect(),
            continuation: page.next_link,
        })
    }

    fn list_all_incidents(
        connection: ConnectionBorrow<'_>,
        options: gwit::ListOptions,
    ) -> Result<Vec<gwit::Incident>, wit::ConnectorError> {
        let all = resource(&connection)
            .with_client(|client, http| client.graph().list_all_incidents(http, &list_options(options)))?;
        Ok(all.into_iter().map(incident).collect())
    }

    fn get_incident(
        connection: ConnectionBorrow<'_>,
        incident_id: String,
        expand_alerts: bool,
    ) -> Result<gwit::Incident, wit::ConnectorError> {
        resource(&connection)
            .with_client(|client, http| client.graph().get_incident(http, &incident_id, expand_alerts))
            .map(incident)
    }

    fn update_incident(
        connection: ConnectionBorrow<'_>,
        incident_id: String,
        update: gwit::IncidentUpdate,
    ) -> Result<gwit::Incident, wit::ConnectorError> {
        let update = incident_update(update);
        resource(&connection)
            .with_client(|client, http| client.graph().update_incident(http, &incident_id, &update))
            .map(incident)
    }

    fn plan_incident_update(
        connection: ConnectionBorrow<'_>,
        incident_id: String,
        update: gwit::IncidentUpdate,
    ) -> Result<wit::PlannedRequest, wit::ConnectorError> {
        let update = incident_update(update);
        resource(&connection)
            .with_client(|client, http| client.graph().plan_incident_update(http, &incident_id, &update))
            .map(planned)
    }

    fn list_alerts(
        connection: ConnectionBorrow<'_>,
        options: gwit::ListOptions,
    ) -> Result<gwit::AlertPage, wit::ConnectorError> {
        let page = resource(&connection)
            .with_client(|client, http| client.graph().list_alerts(http, &list_options(options)))?;
        Ok(gwit::AlertPage { alerts: page.value.into_iter().map(alert).collect(), continuation: page.next_link })
    }

    fn list_all_alerts(
        connection: ConnectionBorrow<'_>,
        options: gwit::ListOptions,
    ) -> Result<Vec<gwit::Alert>, wit::ConnectorError> {
        let all = resource(&connection)
            .with_client(|client, http| client.graph().list_all_alerts(http, &list_options(options)))?;
        Ok(all.into_iter().map(alert).collect())
    }

    fn get_alert(connection: ConnectionBorrow<'_>, alert_id: String) -> Result<gwit::Alert, wit::ConnectorError> {
        resource(&connection).with_client(|client, http| client.graph().get_alert(http, &alert_id)).map(alert)
    }

    fn update_alert(
        connection: ConnectionBorrow<'_>,
        alert_id: String,
        update: gwit::AlertUpdate,
    ) -> Result<gwit::Alert, wit::ConnectorError> {
        let update = alert_update(update);
        resource(&connection)
            .with_client(|client, http| client.graph().update_alert(http, &alert_id, &update))
            .map(alert)
    }

    fn plan_alert_update(
        connection: ConnectionBorrow<'_>,
        alert_id: String,
        update: gwit::AlertUpdate,
    ) -> Result<wit::PlannedRequest, wit::ConnectorError> {
        let update = alert_update(update);
        resource(&connection).with_client(|client, _| client.graph().plan_alert_update(&alert_id, &update)).map(planned)
    }

    fn add_incident_comment(
        connection: ConnectionBorrow<'_>,
        incident_id: String,
        comment: String,
        idempotency_key: Option<String>,
    ) -> Result<Vec<gwit::Comment>, wit::ConnectorError> {
        add_comment(&connection, Collection::Incidents, &incident_id, &comment, idempotency_key.as_deref())
    }

    fn add_alert_comment(
        connection: ConnectionBorrow<'_>,
        alert_id: String,
        comment: String,
        idempotency_key: Option<String>,
    ) -> Result<Vec<gwit::Comment>, wit::ConnectorError> {
        add_comment(&connection, Collection::Alerts, &alert_id, &comment, idempotency_key.as_deref())
    }

    fn merge_incidents(
        connection: ConnectionBorrow<'_>,
        incident_ids: Vec<String>,
        comment: Option<String>,
        dry_run: bool,
    ) -> Result<gwit::MergeOutcome, wit::ConnectorError> {
        let outcome = resource(&connection).with_client(|client, http| {
            client.graph().merge_incidents(http, &incident_ids, comment.as_deref(), dry_run)
        })?;
        Ok(gwit::MergeOutcome {
            target_incident_id: outcome.target_incident_id,
            request: planned(outcome.request),
            dry_run: outcome.dry_run,
        })
    }

    fn poll(
        connection: ConnectionBorrow<'_>,
        cursor: Option<String>,
        options: gwit::PollOptions,
    ) -> Result<gwit::PollBatch, wit::ConnectorError> {
        let options = poll_options(options);
        let batch =
            resource(&connection).with_client(|client, http| client.graph().poll(http, cursor.as_deref(), &options))?;
        Ok(gwit::PollBatch {
            events: batch.events.into_iter().map(poll_event).collect(),
            cursor: batch.cursor,
            watermark: batch.watermark,
            more: batch.more,
        })
    }

    fn run_hunting_query(
        connection: ConnectionBorrow<'_>,
        query: String,
        options: gwit::HuntingOptions,
    ) -> Result<wit::Table, wit::ConnectorError> {
        let options = HuntingOptions { timespan: options.timespan };
        resource(&connection)
            .with_client(|client, http| client.graph().run_hunting_query(http, &query, &options))
            .map(table)
    }
}

fn add_comment(
    connection: &ConnectionBorrow<'_>,
    collection: Collection,
    id: &str,
    text: &str,
    key: Option<&str>,
) -> Result<Vec<gwit::Comment>, wit::ConnectorError> {
    let list =
        resource(connection).with_client(|client, http| client.graph().add_comment(http, collection, id, text, key))?;
    Ok(list.into_iter().map(comment).collect())
}

pub fn resource<'a>(connection: &'a ConnectionBorrow<'_>) -> &'a ConnectionResource {
    connection.get::<ConnectionResource>()
}

fn list_options(options: gwit::ListOptions) -> GraphListOptions {
    GraphListOptions {
        filter: options.filter,
        top: options.top,
        expand_alerts: options.expand_alerts,
        continuation: options.continuation,
        max_pages: options.max_pages,
    }
}

fn poll_options(options: gwit::PollOptions) -> GraphPollOptions {
    GraphPollOptions {
        first_fetch: options.first_fetch,
        look_back_secs: options.look_back_seconds,
        max_events: options.max_events,
        include_updates: options.include_updates,
        ignore_merges: options.ignore_merges,
        min_severity: options.min_severity.map(Into::into),
        statuses: options.statuses.into_iter().map(Into::into).collect(),
        include_alerts: options.include_alerts,
        detail_concurrency: options.detail_concurrency,
    }
}

fn poll_event(event: GraphEvent) -> gwit::IncidentEvent {
    gwit::IncidentEvent {
        kind: event_kind(event.kind),
        incident: incident(event.incident),
        merge_chain: event.merge_chain,
        merge_error: event.merge_error.map(Into::into),
        details_error: event.details_error.map(Into::into),
    }
}

fn assignee(assignee: gwit::Assignee) -> Assignee {
    match assignee {
        gwit::Assignee::Unassigned => Assignee::Unassigned,
        gwit::Assignee::User(user) => Assignee::User(user),
    }
}

fn incident_update(u: gwit::IncidentUpdate) -> GraphIncidentUpdate {
    GraphIncidentUpdate {
        status: u.status.map(Into::into),
        classification: u.classification.map(Into::into),
        determination: u.determination.map(Into::into),
        assigned_to: u.assigned_to.map(assignee),
        add_tags: u.add_tags,
        remove_tags: u.remove_tags,
    }
}

fn alert_update(u: gwit::AlertUpdate) -> GraphAlertUpdate {
    GraphAlertUpdate {
        status: u.status.map(Into::into),
        classification: u.classification.map(Into::into),
        determination: u.determination.map(Into::into),
        assigned_to: u.assigned_to.map(assignee),
    }
}

fn incident(incident: GraphIncident) -> gwit::Incident {
    let f = incident.fields;
    gwit::Incident {
        id: f.id,
        display_name: f.display_name,
        description: f.description,
        status: f.status.map(Into::into),
        severity: f.severity.map(Into::into),
        classification: f.classification.map(Into::into),
        determination: f.determination.map(Into::into),
        assigned_to: f.assigned_to,
        created_time: f.created_date_time,
        last_update_time: f.last_update_date_time,
        incident_web_url: f.incident_web_url,
        redirect_incident_id: f.redirect_incident_id,
        tenant_id: f.tenant_id,
        custom_tags: f.custom_tags,
        system_tags: f.system_tags,
        comments: f.comments.into_iter().map(comment).collect(),
        alerts: incident.alerts.into_iter().map(alert).collect(),
        properties: incident.raw,
    }
}

fn comment(c: GraphComment) -> gwit::Comment {
    gwit::Comment { comment: c.comment, created_by: c.created_by, created_time: c.created_time }
}

fn alert(alert: GraphAlert) -> gwit::Alert {
    let f = alert.fields;
    gwit::Alert {
        id: f.id,
        provider_alert_id: f.provider_alert_id,
        incident_id: f.incident_id,
        title: f.title,
        description: f.description,
        status: f.status.map(Into::into),
        severity: f.severity.map(Into::into),
        classification: f.classification.map(Into::into),
        determination: f.determination.map(Into::into),
        service_source: f.service_source,
        detection_source: f.detection_source,
        category: f.category,
        assigned_to: f.assigned_to,
        alert_web_url: f.alert_web_url,
        incident_web_url: f.incident_web_url,
        created_time: f.created_date_time,
        last_update_time: f.last_update_date_time,
        resolved_time: f.resolved_date_time,
        first_activity_time: f.first_activity_date_time,
        last_activity_time: f.last_activity_date_time,
        mitre_techniques: f.mitre_techniques,
        recommended_actions: f.recommended_actions,
        evidence: alert.evidence.into_iter().map(evidence).collect(),
        properties: alert.raw,
    }
}

fn evidence(e: Evidence) -> gwit::Evidence {
    gwit::Evidence {
        kind: e.kind,
        identifier: e.identifier,
        verdict: e.verdict,
        remediation_status: e.remediation_status,
        properties: e.properties,
    }
}
