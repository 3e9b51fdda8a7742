//! The `graph-security` and `containment` exports, called on a session's
//! connection under the same deadline and sandbox as every other call.

use super::exports::soar::sentinel::containment as cwit;
use super::exports::soar::sentinel::graph_security as gwit;
use super::{types, CallError, Session};

impl Session {
    pub async fn graph_list_incidents(&mut self, options: gwit::ListOptions) -> Result<gwit::IncidentPage, CallError> {
        let connection = self.connection()?;
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_list_incidents(store, connection, &options).await }))
            .await
    }

    pub async fn graph_list_all_incidents(&mut self, options: gwit::ListOptions) -> Result<Vec<gwit::Incident>, CallError> {
        let connection = self.connection()?;
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_list_all_incidents(store, connection, &options).await }))
            .await
    }

    pub async fn graph_get_incident(&mut self, incident_id: &str, expand_alerts: bool) -> Result<gwit::Incident, CallError> {
        let connection = self.connection()?;
        let id = incident_id.to_owned();
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_get_incident(store, connection, &id, expand_alerts).await }))
            .await
    }

    pub async fn graph_update_incident(&mut self, incident_id: &str, update: gwit::IncidentUpdate) -> Result<gwit::Incident, CallError> {
        let connection = self.connection()?;
        let id = incident_id.to_owned();
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_update_incident(store, connection, &id, &update).await }))
            .await
    }

    /// The dry run of `graph_update_incident`.
    pub async fn graph_plan_incident_update(&mut self, incident_id: &str, update: gwit::IncidentUpdate) -> Result<types::PlannedRequest, CallError> {
        let connection = self.connection()?;
        let id = incident_id.to_owned();
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_plan_incident_update(store, connection, &id, &update).await }))
            .await
    }

    /// The dry run of `graph_update_alert`.
    pub async fn graph_plan_alert_update(&mut self, alert_id: &str, update: gwit::AlertUpdate) -> Result<types::PlannedRequest, CallError> {
        let connection = self.connection()?;
        let id = alert_id.to_owned();
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_plan_alert_update(store, connection, &id, &update).await }))
            .await
    }

    pub async fn graph_list_alerts(&mut self, options: gwit::ListOptions) -> Result<gwit::AlertPage, CallError> {
        let connection = self.connection()?;
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_list_alerts(store, connection, &options).await }))
            .await
    }

    pub async fn graph_list_all_alerts(&mut self, options: gwit::ListOptions) -> Result<Vec<gwit::Alert>, CallError> {
        let connection = self.connection()?;
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_list_all_alerts(store, connection, &options).await }))
            .await
    }

    pub async fn graph_get_alert(&mut self, alert_id: &str) -> Result<gwit::Alert, CallError> {
        let connection = self.connection()?;
        let id = alert_id.to_owned();
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_get_alert(store, connection, &id).await }))
            .await
    }

    pub async fn graph_update_alert(&mut self, alert_id: &str, update: gwit::AlertUpdate) -> Result<gwit::Alert, CallError> {
        let connection = self.connection()?;
        let id = alert_id.to_owned();
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_update_alert(store, connection, &id, &update).await }))
            .await
    }

    pub async fn run_hunting_query(&mut self, query: &str, options: gwit::HuntingOptions) -> Result<types::Table, CallError> {
        let connection = self.connection()?;
        let query = query.to_owned();
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_graph_security().call_run_hunting_query(store, connection, &query, &options).await }))
            .await
    }

    pub async fn get_user(&mut self, user: &str) -> Result<cwit::User, CallError> {
        let connection = self.connection()?;
        let user = user.to_owned();
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_containment().call_get_user(store, connection, &user).await })).await
    }

    pub async fn list_risky_users(&mut self, filter: Option<&str>) -> Result<Vec<cwit::RiskyUser>, CallError> {
        let connection = self.connection()?;
        let filter = filter.map(str::to_owned);
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_containment().call_list_risky_users(store, connection, filter.as_deref()).await }))
            .await
    }

    /// One containment action; see the WIT `contain`.
    pub async fn contain(&mut self, user: &str, action: cwit::Action, dry_run: bool) -> Result<cwit::Outcome, CallError> {
        let connection = self.connection()?;
        let user = user.to_owned();
        self.call(|instance, store| Box::pin(async move { instance.soar_sentinel_containment().call_contain(store, connection, &user, &action, dry_run).await }))
            .await
    }

    /// The permission manifest (needs no connection, only the instance).
    pub async fn permission_manifest(&mut self) -> Result<Vec<types::RequiredPermission>, CallError> {
        self.call(|instance, store| Box::pin(async move { Ok(Ok(instance.soar_sentinel_sentinel_connector().call_permission_manifest(store).await?)) })).await
    }
}

/// Graph list options with every default.
pub fn graph_list_options() -> gwit::ListOptions {
    gwit::ListOptions { filter: None, top: None, expand_alerts: false, continuation: None, max_pages: None }
}
