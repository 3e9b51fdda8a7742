//! The `analytics-rules` export, called on a session's connection under the
//! same deadline and sandbox as every other call (see `session.rs`).

use wasmtime::component::ResourceAny;
use wasmtime::Store;

use super::bindings::analytics_rules as awit;
use super::session::Answer;
use super::{CallError, Session, TenantState};

/// The `analytics-rules` calls of a session, as `session.analytics_rules()`.
pub struct AnalyticsRules<'a> {
    session: &'a mut Session,
}

impl Session {
    /// The workspace's analytics rules: list, read, enable and disable.
    pub fn analytics_rules(&mut self) -> AnalyticsRules<'_> {
        AnalyticsRules { session: self }
    }
}

impl AnalyticsRules<'_> {
    async fn call<T>(
        &mut self,
        invoke: impl AsyncFnOnce(&awit::Guest, &mut Store<TenantState>, ResourceAny) -> Answer<T>,
    ) -> Result<T, CallError> {
        let connection = self.session.connection;
        self.session
            .call(async |instance, store| invoke(instance.soar_sentinel_analytics_rules(), store, connection).await)
            .await
    }

    /// Every rule of the workspace, all pages.
    pub async fn list(&mut self) -> Result<Vec<awit::AnalyticsRule>, CallError> {
        self.call(async |api, store, connection| api.call_list_rules(store, connection).await).await
    }

    /// One rule by its id (its ARM name).
    pub async fn get(&mut self, rule_id: &str) -> Result<awit::AnalyticsRule, CallError> {
        self.call(async |api, store, connection| api.call_get_rule(store, connection, rule_id).await).await
    }

    /// Turns the rule on or off (GET, change, PUT with the etag; re-applied
    /// on 409). A rule already so is returned as read, nothing sent.
    pub async fn set_enabled(&mut self, rule_id: &str, enabled: bool) -> Result<awit::AnalyticsRule, CallError> {
        self.call(async |api, store, connection| api.call_set_rule_enabled(store, connection, rule_id, enabled).await)
            .await
    }
}
