//! A tenant's open connection and the `sentinel-connector` exports called on
//! it; `graph.rs` adds the `graph-security` and `containment` exports.
//!
//! Every export is one thin method: it names the export and passes its
//! arguments through. [`Session::call`] does the rest, the same for all: it
//! refuses a broken session, runs the guest under the call deadline, and turns
//! a trap or a timeout into a [`CallError`].

use std::time::Duration;

use wasmtime::component::ResourceAny;
use wasmtime::Store;

use super::bindings::sentinel_connector::GuestConnection;
use super::bindings::{types, Connector};
use super::{within, CallError, SessionSlot, TenantState};
use types::ConnectorError;

/// What an export returns: a trap, or the connector's own answer.
pub(super) type Answer<T> = wasmtime::Result<Result<T, ConnectorError>>;

/// One tenant's sandboxed connection.
pub struct Session {
    store: Store<TenantState>,
    instance: Connector,
    /// The `connection` resource `open` returned; every export but
    /// `permission-manifest` borrows it.
    pub(super) connection: ResourceAny,
    call_timeout: Duration,
    /// Set when a call was cut short: the instance may be mid-call, so it is
    /// never entered again.
    broken: bool,
    /// Counts this session against the host's `max_sessions` until dropped
    /// (after the store, so the pool's slot is free when the count drops).
    _slot: SessionSlot,
}

impl Session {
    /// Opens the connection in a fresh instance, under the call deadline.
    pub(super) async fn open(
        mut store: Store<TenantState>,
        instance: Connector,
        slot: SessionSlot,
        call_timeout: Duration,
        config: &types::ConnectionConfig,
    ) -> Result<Session, CallError> {
        let api = instance.soar_sentinel_sentinel_connector().connection();
        let connection =
            within(call_timeout, api.call_open(&mut store, config)).await?.map_err(CallError::Connector)?;
        Ok(Session { store, instance, connection, call_timeout, broken: false, _slot: slot })
    }

    /// The largest the guest's linear memory has been, in bytes.
    pub fn guest_memory_bytes(&self) -> usize {
        self.store.data().limits.bytes
    }

    /// Runs one export under the call deadline, computing or waiting.
    pub(super) async fn call<T>(
        &mut self,
        invoke: impl AsyncFnOnce(&Connector, &mut Store<TenantState>) -> Answer<T>,
    ) -> Result<T, CallError> {
        if self.broken {
            return Err(CallError::Trap("an earlier call on this session was stopped; open a new session".into()));
        }
        let outcome = within(self.call_timeout, invoke(&self.instance, &mut self.store)).await;
        self.broken = outcome.is_err();
        outcome?.map_err(CallError::Connector)
    }

    /// Calls a method of the open `connection` resource.
    async fn sentinel<T>(
        &mut self,
        invoke: impl AsyncFnOnce(GuestConnection<'_>, &mut Store<TenantState>, ResourceAny) -> Answer<T>,
    ) -> Result<T, CallError> {
        let connection = self.connection;
        self.call(async |instance, store| {
            invoke(instance.soar_sentinel_sentinel_connector().connection(), store, connection).await
        })
        .await
    }

    /// The permission manifest (needs no connection, only the instance).
    pub async fn permission_manifest(&mut self) -> Result<Vec<types::RequiredPermission>, CallError> {
        self.call(async |instance, store| {
            instance.soar_sentinel_sentinel_connector().call_permission_manifest(store).await.map(Ok)
        })
        .await
    }

    /// For each API (ARM, Log Analytics, Graph): a token, one cheap read,
    /// and what works or why not, with the actions the token allows. An API
    /// that fails is reported in the list, not as an `Err`.
    pub async fn check_connection(&mut self) -> Result<Vec<types::ApiCheck>, CallError> {
        self.sentinel(async |api, store, connection| api.call_check_connection(store, connection).await.map(Ok)).await
    }

    /// One page of incidents; pass the page's `continuation` back in the
    /// options for the next.
    pub async fn list_incidents(
        &mut self,
        options: types::ListIncidentsOptions,
    ) -> Result<types::IncidentPage, CallError> {
        self.sentinel(async |api, store, connection| api.call_list_incidents(store, connection, &options).await).await
    }

    /// Every incident the options select, all pages, in one call (so under
    /// one call deadline); more than `max_pages` pages (default 1000) is an error.
    pub async fn list_all_incidents(
        &mut self,
        options: types::ListIncidentsOptions,
    ) -> Result<Vec<types::Incident>, CallError> {
        self.sentinel(async |api, store, connection| api.call_list_all_incidents(store, connection, &options).await)
            .await
    }

    /// One incident by its id: the GUID name, not the incident number.
    pub async fn get_incident(&mut self, incident_id: &str) -> Result<types::Incident, CallError> {
        self.sentinel(async |api, store, connection| api.call_get_incident(store, connection, incident_id).await).await
    }

    /// Changes only the fields set in `update` (read, merge, write with the
    /// etag; re-applied on a 409 Conflict). Closing rules are checked first.
    pub async fn update_incident(
        &mut self,
        incident_id: &str,
        update: types::IncidentUpdate,
    ) -> Result<types::Incident, CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_update_incident(store, connection, incident_id, &update).await
        })
        .await
    }

    /// Creates an incident under `id` (a GUID), or under a new random GUID
    /// when `None`.
    pub async fn create_incident(
        &mut self,
        incident: types::NewIncident,
        id: Option<String>,
    ) -> Result<types::Incident, CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_create_incident(store, connection, &incident, id.as_deref()).await
        })
        .await
    }

    /// Deletes the incident; this cannot be undone.
    pub async fn delete_incident(&mut self, incident_id: &str) -> Result<(), CallError> {
        self.sentinel(async |api, store, connection| api.call_delete_incident(store, connection, incident_id).await)
            .await
    }

    /// Every comment on the incident, all pages.
    pub async fn list_comments(&mut self, incident_id: &str) -> Result<Vec<types::Comment>, CallError> {
        self.sentinel(async |api, store, connection| api.call_list_comments(store, connection, incident_id).await).await
    }

    /// Adds a comment, idempotently: its id derives from the incident and
    /// `key` (or the message), so a retry never posts twice. Over 30,000
    /// characters it is posted as ordered parts, hence the list returned.
    pub async fn add_comment(
        &mut self,
        incident_id: &str,
        message: &str,
        key: Option<&str>,
    ) -> Result<Vec<types::Comment>, CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_add_comment(store, connection, incident_id, message, key).await
        })
        .await
    }

    /// Deletes one comment by its id.
    pub async fn delete_comment(&mut self, incident_id: &str, comment_id: &str) -> Result<(), CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_delete_comment(store, connection, incident_id, comment_id).await
        })
        .await
    }

    /// The resources (bookmarks, alerts, ...) linked to the incident.
    pub async fn list_relations(&mut self, incident_id: &str) -> Result<Vec<types::Relation>, CallError> {
        self.sentinel(async |api, store, connection| api.call_list_relations(store, connection, incident_id).await)
            .await
    }

    /// Links a resource, by its full ARM id, to the incident. Without `name`
    /// the name derives from the resource, so linking it twice is one link.
    pub async fn add_relation(
        &mut self,
        incident_id: &str,
        related_resource_id: &str,
        name: Option<&str>,
    ) -> Result<types::Relation, CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_add_relation(store, connection, incident_id, related_resource_id, name).await
        })
        .await
    }

    /// Removes the link named `name`; the linked resource itself stays.
    pub async fn delete_relation(&mut self, incident_id: &str, name: &str) -> Result<(), CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_delete_relation(store, connection, incident_id, name).await
        })
        .await
    }

    /// The incident's tasks, all pages.
    pub async fn list_tasks(&mut self, incident_id: &str) -> Result<Vec<types::IncidentTask>, CallError> {
        self.sentinel(async |api, store, connection| api.call_list_tasks(store, connection, incident_id).await).await
    }

    /// Adds a task with status New. Without `task_id` the id derives from
    /// the title, so a retried call adds one task.
    pub async fn add_task(
        &mut self,
        incident_id: &str,
        title: &str,
        description: Option<&str>,
        task_id: Option<&str>,
    ) -> Result<types::IncidentTask, CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_add_task(store, connection, incident_id, title, description, task_id).await
        })
        .await
    }

    /// Changes only the fields set in `update` (read, merge, write with the
    /// etag; re-applied on a 409 Conflict).
    pub async fn update_task(
        &mut self,
        incident_id: &str,
        task_id: &str,
        update: types::TaskUpdate,
    ) -> Result<types::IncidentTask, CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_update_task(store, connection, incident_id, task_id, &update).await
        })
        .await
    }

    /// Deletes one task of the incident.
    pub async fn delete_task(&mut self, incident_id: &str, task_id: &str) -> Result<(), CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_delete_task(store, connection, incident_id, task_id).await
        })
        .await
    }

    /// Runs a KQL query on the workspace through the Log Analytics API (its
    /// own token audience). Needs the configuration's `workspace_id`.
    pub async fn search_events(
        &mut self,
        query: &str,
        options: types::QueryOptions,
    ) -> Result<types::QueryResult, CallError> {
        self.sentinel(async |api, store, connection| api.call_search_events(store, connection, query, &options).await)
            .await
    }

    /// The incident's Sentinel security alerts (Defender XDR's are under
    /// [`Session::graph`]).
    pub async fn list_alerts(&mut self, incident_id: &str) -> Result<Vec<types::Alert>, CallError> {
        self.sentinel(async |api, store, connection| api.call_list_alerts(store, connection, incident_id).await).await
    }

    /// The incident's entities, typed by kind, every property kept.
    pub async fn list_entities(&mut self, incident_id: &str) -> Result<Vec<types::Entity>, CallError> {
        self.sentinel(async |api, store, connection| api.call_list_entities(store, connection, incident_id).await).await
    }

    /// The incident's entities normalized: one kind, one stable identifier,
    /// a display name and resolved references each.
    pub async fn list_normalized_entities(
        &mut self,
        incident_id: &str,
    ) -> Result<Vec<types::NormalizedEntity>, CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_list_normalized_entities(store, connection, incident_id).await
        })
        .await
    }

    /// Where an incident lives now after Defender merges; see the WIT
    /// `resolve-incident`.
    pub async fn resolve_incident(&mut self, incident_id: &str) -> Result<types::IncidentResolution, CallError> {
        self.sentinel(async |api, store, connection| api.call_resolve_incident(store, connection, incident_id).await)
            .await
    }

    /// The hunting bookmarks attached to the incident.
    pub async fn list_bookmarks(&mut self, incident_id: &str) -> Result<Vec<types::Bookmark>, CallError> {
        self.sentinel(async |api, store, connection| api.call_list_bookmarks(store, connection, incident_id).await)
            .await
    }

    /// The next batch after `cursor`; see the WIT `poll`.
    pub async fn poll(
        &mut self,
        cursor: Option<String>,
        options: types::PollOptions,
    ) -> Result<types::PollBatch, CallError> {
        self.sentinel(async |api, store, connection| {
            api.call_poll(store, connection, cursor.as_deref(), &options).await
        })
        .await
    }
}

/// Poll options with every default: from now, no filters, no updates, no
/// details (and 8 detail requests in flight when they are asked for).
pub fn poll_options() -> types::PollOptions {
    types::PollOptions {
        first_fetch: None,
        look_back_seconds: None,
        max_events: None,
        include_updates: false,
        min_severity: None,
        statuses: Vec::new(),
        title_includes: Vec::new(),
        title_excludes: Vec::new(),
        include_details: false,
        detail_concurrency: None,
        ignore_merges: false,
        own_writes: Vec::new(),
    }
}

/// Options that list everything with the service's defaults.
pub fn list_options() -> types::ListIncidentsOptions {
    types::ListIncidentsOptions { filter: None, orderby: None, top: None, continuation: None, max_pages: None }
}
