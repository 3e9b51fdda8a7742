//! The `graph-security` and `containment` exports, called on a session's
//! connection under the same deadline and sandbox as every other call (see
//! `session.rs`).

use wasmtime::component::ResourceAny;
use wasmtime::Store;

use super::bindings::containment as cwit;
use super::bindings::graph_security as gwit;
use super::bindings::types;
use super::session::Answer;
use super::{CallError, Session, TenantState};

/// The `graph-security` and `containment` calls of a session, as
/// `session.graph()` (the twin of the core's `client.graph()`).
pub struct Graph<'a> {
    session: &'a mut Session,
}

impl Session {
    /// The Microsoft Graph calls on this session's connection: Defender XDR
    /// incidents, alerts and hunting, and Entra ID containment (which
    /// refuses protected accounts). Same deadline and sandbox as the rest.
    pub fn graph(&mut self) -> Graph<'_> {
        Graph { session: self }
    }
}

impl Graph<'_> {
    /// Calls a `graph-security` export on the open connection.
    async fn security<T>(
        &mut self,
        invoke: impl AsyncFnOnce(&gwit::Guest, &mut Store<TenantState>, ResourceAny) -> Answer<T>,
    ) -> Result<T, CallError> {
        let connection = self.session.connection;
        self.session
            .call(async |instance, store| invoke(instance.soar_sentinel_graph_security(), store, connection).await)
            .await
    }

    /// Calls a `containment` export on the open connection.
    async fn containment<T>(
        &mut self,
        invoke: impl AsyncFnOnce(&cwit::Guest, &mut Store<TenantState>, ResourceAny) -> Answer<T>,
    ) -> Result<T, CallError> {
        let connection = self.session.connection;
        self.session
            .call(async |instance, store| invoke(instance.soar_sentinel_containment(), store, connection).await)
            .await
    }

    pub async fn list_incidents(&mut self, options: gwit::ListOptions) -> Result<gwit::IncidentPage, CallError> {
        self.security(async |api, store, connection| api.call_list_incidents(store, connection, &options).await).await
    }

    pub async fn list_all_incidents(&mut self, options: gwit::ListOptions) -> Result<Vec<gwit::Incident>, CallError> {
        self.security(async |api, store, connection| api.call_list_all_incidents(store, connection, &options).await)
            .await
    }

    pub async fn get_incident(&mut self, incident_id: &str, expand_alerts: bool) -> Result<gwit::Incident, CallError> {
        self.security(async |api, store, connection| {
            api.call_get_incident(store, connection, incident_id, expand_alerts).await
        })
        .await
    }

    pub async fn update_incident(
        &mut self,
        incident_id: &str,
        update: gwit::IncidentUpdate,
    ) -> Result<gwit::Incident, CallError> {
        self.security(async |api, store, connection| {
            api.call_update_incident(store, connection, incident_id, &update).await
        })
        .await
    }

    /// The dry run of `update_incident`.
    pub async fn plan_incident_update(
        &mut self,
        incident_id: &str,
        update: gwit::IncidentUpdate,
    ) -> Result<types::PlannedRequest, CallError> {
        self.security(async |api, store, connection| {
            api.call_plan_incident_update(store, connection, incident_id, &update).await
        })
        .await
    }

    pub async fn list_alerts(&mut self, options: gwit::ListOptions) -> Result<gwit::AlertPage, CallError> {
        self.security(async |api, store, connection| api.call_list_alerts(store, connection, &options).await).await
    }

    pub async fn list_all_alerts(&mut self, options: gwit::ListOptions) -> Result<Vec<gwit::Alert>, CallError> {
        self.security(async |api, store, connection| api.call_list_all_alerts(store, connection, &options).await).await
    }

    pub async fn get_alert(&mut self, alert_id: &str) -> Result<gwit::Alert, CallError> {
        self.security(async |api, store, connection| api.call_get_alert(store, connection, alert_id).await).await
    }

    pub async fn update_alert(&mut self, alert_id: &str, update: gwit::AlertUpdate) -> Result<gwit::Alert, CallError> {
        self.security(async |api, store, connection| api.call_update_alert(store, connection, alert_id, &update).await)
            .await
    }

    /// The dry run of `update_alert`.
    pub async fn plan_alert_update(
        &mut self,
        alert_id: &str,
        update: gwit::AlertUpdate,
    ) -> Result<types::PlannedRequest, CallError> {
        self.security(async |api, store, connection| {
            api.call_plan_alert_update(store, connection, alert_id, &update).await
        })
        .await
    }

    /// Adds a comment to an incident; see the WIT `add-incident-comment`
    /// for what a key guarantees.
    pub async fn add_incident_comment(
        &mut self,
        incident_id: &str,
        comment: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Vec<gwit::Comment>, CallError> {
        self.security(async |api, store, connection| {
            api.call_add_incident_comment(store, connection, incident_id, comment, idempotency_key).await
        })
        .await
    }

    /// Adds a comment to an alert; see the WIT `add-alert-comment`.
    pub async fn add_alert_comment(
        &mut self,
        alert_id: &str,
        comment: &str,
        idempotency_key: Option<&str>,
    ) -> Result<Vec<gwit::Comment>, CallError> {
        self.security(async |api, store, connection| {
            api.call_add_alert_comment(store, connection, alert_id, comment, idempotency_key).await
        })
        .await
    }

    /// Merges incidents (or plans it); see the WIT `merge-incidents`.
    pub async fn merge_incidents(
        &mut self,
        incident_ids: &[String],
        comment: Option<&str>,
        dry_run: bool,
    ) -> Result<gwit::MergeOutcome, CallError> {
        self.security(async |api, store, connection| {
            api.call_merge_incidents(store, connection, incident_ids, comment, dry_run).await
        })
        .await
    }

    /// One Graph poll; see the WIT `graph-security.poll`.
    pub async fn poll(
        &mut self,
        cursor: Option<String>,
        options: gwit::PollOptions,
    ) -> Result<gwit::PollBatch, CallError> {
        self.security(async |api, store, connection| {
            api.call_poll(store, connection, cursor.as_deref(), &options).await
        })
        .await
    }

    pub async fn run_hunting_query(
        &mut self,
        query: &str,
        options: gwit::HuntingOptions,
    ) -> Result<types::Table, CallError> {
        self.security(async |api, store, connection| {
            api.call_run_hunting_query(store, connection, query, &options).await
        })
        .await
    }

    pub async fn get_user(&mut self, user: &str) -> Result<cwit::User, CallError> {
        self.containment(async |api, store, connection| api.call_get_user(store, connection, user).await).await
    }

    pub async fn list_risky_users(&mut self, filter: Option<&str>) -> Result<Vec<cwit::RiskyUser>, CallError> {
        self.containment(async |api, store, connection| api.call_list_risky_users(store, connection, filter).await)
            .await
    }

    /// One containment action; see the WIT `contain`.
    pub async fn contain(
        &mut self,
        user: &str,
        action: cwit::Action,
        dry_run: bool,
    ) -> Result<cwit::Outcome, CallError> {
        self.containment(async |api, store, connection| {
            api.call_contain(store, connection, user, &action, dry_run).await
        })
        .await
    }

    /// [`Graph::contain`] on the user an account entity names (its
    /// object id, else its UPN; a bare name is refused).
    pub async fn contain_account(
        &mut self,
        account: &types::NormalizedEntity,
        action: cwit::Action,
        dry_run: bool,
    ) -> Result<cwit::Outcome, CallError> {
        self.containment(async |api, store, connection| {
            api.call_contain_account(store, connection, account, &action, dry_run).await
        })
        .await
    }
}

/// Graph list options with every default.
pub fn graph_list_options() -> gwit::ListOptions {
    gwit::ListOptions { filter: None, top: None, expand_alerts: false, continuation: None, max_pages: None }
}

/// Graph poll options with every default.
pub fn graph_poll_options() -> gwit::PollOptions {
    gwit::PollOptions {
        first_fetch: None,
        look_back_seconds: None,
        max_events: None,
        include_updates: false,
        ignore_merges: false,
        min_severity: None,
        statuses: Vec::new(),
        include_alerts: false,
        detail_concurrency: None,
    }
}
