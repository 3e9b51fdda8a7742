//! The `sentinel-connector` interface: the `connection` resource.

use std::cell::RefCell;

use super::details::{alert, bookmark, entity, normalize};
use super::exports::soar::sentinel::sentinel_connector::{Connection, Guest, GuestConnection};
use super::exports::soar::sentinel::types as wit;
use super::transport::WasiHttp;
use super::types::{
    api_check, comment, event, incident, incident_update, list_options, new_incident, poll_options, query_options,
    query_result, relation, task, task_update,
};
use super::Component;
use crate::core::merges::Lookup;
use crate::core::{Client, Settings};

impl Guest for Component {
    type Connection = ConnectionResource;

    fn permission_manifest() -> Vec<wit::RequiredPermission> {
        crate::core::check::PERMISSIONS
            .iter()
            .map(|(api, action, permissions)| wit::RequiredPermission {
                action: (*action).to_owned(),
                api: super::types::api(*api),
                permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            })
            .collect()
    }
}

/// Calls on one resource never overlap (a component instance is single
/// threaded and these calls do not re-enter), so a `RefCell` is enough.
pub struct ConnectionResource {
    client: RefCell<Client>,
}

/// What one list-all call may gather (estimated, see
/// `core::paging::Collected`): twice the answer cap, which the host sets to a
/// quarter of the store's memory (`transport.rs` reads the same variable),
/// so half the memory, the rest left for the page in flight and the
/// component. Past it the call refuses and says to page; it never traps.
fn collect_limit() -> usize {
    std::env::var("SENTINEL_MAX_RESPONSE_BYTES")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .map_or(crate::core::paging::DEFAULT_COLLECT_LIMIT, |cap| cap.clamp(1 << 20, 1 << 30).saturating_mul(2))
}

impl ConnectionResource {
    pub(super) fn with_client<T>(
        &self,
        action: impl FnOnce(&mut Client, &mut WasiHttp) -> Result<T, crate::core::Error>,
    ) -> Result<T, wit::ConnectorError> {
        let mut client = self.client.borrow_mut();
        // Scrubbed once more at the boundary: parse errors quote what a
        // service sent, and that may be a secret it echoed.
        action(&mut client, &mut WasiHttp).map_err(|error| wit::ConnectorError::from(client.scrub(error)))
    }
}

impl GuestConnection for ConnectionResource {
    fn open(config: wit::ConnectionConfig) -> Result<Connection, wit::ConnectorError> {
        let settings = Settings::from_config(config.into())?;
        let client = Client::new(settings).with_collect_limit(collect_limit());
        Ok(Connection::new(ConnectionResource { client: RefCell::new(client) }))
    }

    fn check_connection(&self) -> Vec<wit::ApiCheck> {
        let mut client = self.client.borrow_mut();
        client.check_connection(&mut WasiHttp).into_iter().map(api_check).collect()
    }

    fn list_incidents(&self, options: wit::ListIncidentsOptions) -> Result<wit::IncidentPage, wit::ConnectorError> {
        let page = self.with_client(|client, http| client.sentinel().list_incidents(http, &list_options(options)))?;
        Ok(wit::IncidentPage {
            incidents: page.value.into_iter().map(incident).collect(),
            continuation: page.next_link,
        })
    }

    fn list_all_incidents(
        &self,
        options: wit::ListIncidentsOptions,
    ) -> Result<Vec<wit::Incident>, wit::ConnectorError> {
        let all =
            self.with_client(|client, http| client.sentinel().list_all_incidents(http, &list_options(options)))?;
        Ok(all.into_iter().map(incident).collect())
    }

    fn get_incident(&self, incident_id: String) -> Result<wit::Incident, wit::ConnectorError> {
        self.with_client(|client, http| client.sentinel().get_incident(http, &incident_id)).map(incident)
    }

    fn update_incident(
        &self,
        incident_id: String,
        update: wit::IncidentUpdate,
    ) -> Result<wit::Incident, wit::ConnectorError> {
        let update = incident_update(update);
        self.with_client(|client, http| client.sentinel().update_incident(http, &incident_id, &update)).map(incident)
    }

    fn create_incident(&self, new: wit::NewIncident, id: Option<String>) -> Result<wit::Incident, wit::ConnectorError> {
        let new = new_incident(new);
        self.with_client(|client, http| client.sentinel().create_incident(http, &new, id.as_deref())).map(incident)
    }

    fn delete_incident(&self, incident_id: String) -> Result<(), wit::ConnectorError> {
        self.with_client(|client, http| client.sentinel().delete_incident(http, &incident_id))
    }

    fn list_comments(&self, incident_id: String) -> Result<Vec<wit::Comment>, wit::ConnectorError> {
        let comments = self.with_client(|client, http| client.sentinel().list_comments(http, &incident_id))?;
        Ok(comments.into_iter().map(comment).collect())
    }

    fn add_comment(
        &self,
        incident_id: String,
        message: String,
        idempotency_key: Option<String>,
    ) -> Result<Vec<wit::Comment>, wit::ConnectorError> {
        let posted = self.with_client(|client, http| {
            client.sentinel().add_comment(http, &incident_id, &message, idempotency_key.as_deref())
        })?;
        Ok(posted.into_iter().map(comment).collect())
    }

    fn delete_comment(&self, incident_id: String, comment_id: String) -> Result<(), wit::ConnectorError> {
        self.with_client(|client, http| client.sentinel().delete_comment(http, &incident_id, &comment_id))
    }

    fn list_relations(&self, incident_id: String) -> Result<Vec<wit::Relation>, wit::ConnectorError> {
        let relations = self.with_client(|client, http| client.sentinel().list_relations(http, &incident_id))?;
        Ok(relations.into_iter().map(relation).collect())
    }

    fn add_relation(
        &self,
        incident_id: String,
        related_resource_id: String,
        relation_name: Option<String>,
    ) -> Result<wit::Relation, wit::ConnectorError> {
        self.with_client(|client, http| {
            client.sentinel().add_relation(http, &incident_id, &related_resource_id, relation_name.as_deref())
        })
        .map(relation)
    }

    fn delete_relation(&self, incident_id: String, relation_name: String) -> Result<(), wit::ConnectorError> {
        self.with_client(|client, http| client.sentinel().delete_relation(http, &incident_id, &relation_name))
    }

    fn list_tasks(&self, incident_id: String) -> Result<Vec<wit::IncidentTask>, wit::ConnectorError> {
        let tasks = self.with_client(|client, http| client.sentinel().list_tasks(http, &incident_id))?;
        Ok(tasks.into_iter().map(task).collect())
    }

    fn add_task(
        &self,
        incident_id: String,
        title: String,
        description: Option<String>,
        task_id: Option<String>,
    ) -> Result<wit::IncidentTask, wit::ConnectorError> {
        self.with_client(|client, http| {
            client.sentinel().add_task(http, &incident_id, &title, description.as_deref(), task_id.as_deref())
        })
        .map(task)
    }

    fn update_task(
        &self,
        incident_id: String,
        task_id: String,
        update: wit::TaskUpdate,
    ) -> Result<wit::IncidentTask, wit::ConnectorError> {
        let update = task_update(update);
        self.with_client(|client, http| client.sentinel().update_task(http, &incident_id, &task_id, &update)).map(task)
    }

    fn delete_task(&self, incident_id: String, task_id: String) -> Result<(), wit::ConnectorError> {
        self.with_client(|client, http| client.sentinel().delete_task(http, &incident_id, &task_id))
    }

    fn search_events(
        &self,
        query: String,
        options: wit::QueryOptions,
    ) -> Result<wit::QueryResult, wit::ConnectorError> {
        let options = query_options(options);
        self.with_client(|client, http| client.sentinel().search_events(http, &query, &options)).map(query_result)
    }

    fn list_alerts(&self, incident_id: String) -> Result<Vec<wit::Alert>, wit::ConnectorError> {
        let alerts = self.with_client(|client, http| client.sentinel().list_alerts(http, &incident_id))?;
        Ok(alerts.into_iter().map(alert).collect())
    }

    fn list_entities(&self, incident_id: String) -> Result<Vec<wit::Entity>, wit::ConnectorError> {
        let entities = self.with_client(|client, http| client.sentinel().list_entities(http, &incident_id))?;
        Ok(entities.into_iter().map(entity).collect())
    }

    fn list_normalized_entities(&self, incident_id: String) -> Result<Vec<wit::NormalizedEntity>, wit::ConnectorError> {
        let entities = self.with_client(|client, http| client.sentinel().list_entities(http, &incident_id))?;
        Ok(normalize(&entities))
    }

    fn resolve_incident(&self, incident_id: String) -> Result<wit::IncidentResolution, wit::ConnectorError> {
        let resolution = self.with_client(|client, http| client.resolve_incident(http, &incident_id))?;
        Ok(wit::IncidentResolution {
            chain: resolution.chain,
            incident: resolution.incident.map(incident),
            lookup: match resolution.lookup {
                Lookup::Unmoved => wit::IncidentLookup::Unmoved,
                Lookup::LogAnalytics => wit::IncidentLookup::LogAnalytics,
            },
        })
    }

    fn list_bookmarks(&self, incident_id: String) -> Result<Vec<wit::Bookmark>, wit::ConnectorError> {
        let bookmarks = self.with_client(|client, http| client.sentinel().list_bookmarks(http, &incident_id))?;
        Ok(bookmarks.into_iter().map(bookmark).collect())
    }

    fn poll(&self, cursor: Option<String>, options: wit::PollOptions) -> Result<wit::PollBatch, wit::ConnectorError> {
        let options = poll_options(options);
        let batch = self.with_client(|client, http| client.sentinel().poll(http, cursor.as_deref(), &options))?;
        let mut details = batch.details.into_iter();
        Ok(wit::PollBatch {
            events: batch.events.into_iter().map(|e| event(e, details.next())).collect(),
            cursor: batch.cursor,
            more: batch.more,
            watermark: batch.watermark,
        })
    }
}
