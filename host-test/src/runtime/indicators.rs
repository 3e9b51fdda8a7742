//! The `threat-intelligence` export, called on a session's connection under
//! the same deadline and sandbox as every other call (see `session.rs`), and
//! its WIT types (`Observable`, `NewIndicator`, `Indicator`, ...), re-exported
//! here. (The module is `indicators` so it does not clash with the bindings'
//! `threat_intelligence`.)

use wasmtime::component::ResourceAny;
use wasmtime::Store;

use super::bindings::threat_intelligence as twit;
pub use super::bindings::threat_intelligence::*;
use super::session::Answer;
use super::{CallError, Session, TenantState};

/// The `threat-intelligence` calls of a session, as `session.indicators()`.
pub struct Indicators<'a> {
    session: &'a mut Session,
}

impl Session {
    /// Threat-intelligence indicators on this session's connection.
    pub fn indicators(&mut self) -> Indicators<'_> {
        Indicators { session: self }
    }
}

/// What a call answers: the WIT result, or why the host could not call.
type Outcome<T> = Result<T, CallError>;

impl Indicators<'_> {
    async fn call<T>(
        &mut self,
        invoke: impl AsyncFnOnce(&twit::Guest, &mut Store<TenantState>, ResourceAny) -> Answer<T>,
    ) -> Outcome<T> {
        let connection = self.session.connection;
        self.session
            .call(async |instance, store| invoke(instance.soar_sentinel_threat_intelligence(), store, connection).await)
            .await
    }

    /// The observable of an incident's entity (sends nothing).
    pub async fn observable_from_entity(&mut self, entity: NormalizedEntity) -> Outcome<Observable> {
        self.call(async |api, store, connection| api.call_observable_from_entity(store, connection, &entity).await)
            .await
    }

    /// Creates an indicator, or returns the one with the same pattern.
    pub async fn create(&mut self, indicator: NewIndicator) -> Outcome<CreatedIndicator> {
        self.call(async |api, store, connection| api.call_create_indicator(store, connection, &indicator).await).await
    }

    /// One indicator by name.
    pub async fn get(&mut self, name: &str) -> Outcome<Indicator> {
        self.call(async |api, store, connection| api.call_get_indicator(store, connection, name).await).await
    }

    /// `GET .../indicators`, every page up to `max-results`.
    pub async fn list(&mut self, options: ListIndicatorsOptions) -> Outcome<IndicatorPage> {
        self.call(async |api, store, connection| api.call_list_indicators(store, connection, &options).await).await
    }

    /// `POST .../queryIndicators`, every page up to `max-results`.
    pub async fn query(&mut self, query: IndicatorQuery) -> Outcome<IndicatorPage> {
        self.call(async |api, store, connection| api.call_query_indicators(store, connection, &query).await).await
    }

    /// Appends the tags the indicator lacks.
    pub async fn append_tags(&mut self, name: &str, tags: Vec<String>) -> Outcome<Indicator> {
        self.call(async |api, store, connection| api.call_append_tags(store, connection, name, &tags).await).await
    }

    /// Replaces the indicator's tags.
    pub async fn replace_tags(&mut self, name: &str, tags: Vec<String>) -> Outcome<Indicator> {
        self.call(async |api, store, connection| api.call_replace_tags(store, connection, name, &tags).await).await
    }

    /// Deletes the indicator (one already gone is success).
    pub async fn delete(&mut self, name: &str) -> Outcome<()> {
        self.call(async |api, store, connection| api.call_delete_indicator(store, connection, name).await).await
    }
}

/// A new indicator of `observable` with everything else at its default.
pub fn new_indicator(observable: Observable) -> NewIndicator {
    NewIndicator {
        observable,
        display_name: None,
        description: None,
        confidence: None,
        valid_from: None,
        valid_until: None,
        labels: Vec::new(),
        threat_types: Vec::new(),
        tags: Vec::new(),
        source: None,
    }
}

/// A query with no criteria: every indicator (enabled ones), default paging.
pub fn indicator_query() -> IndicatorQuery {
    IndicatorQuery {
        keywords: Vec::new(),
        pattern_types: Vec::new(),
        sources: Vec::new(),
        threat_types: Vec::new(),
        ids: Vec::new(),
        min_confidence: None,
        max_confidence: None,
        min_valid_until: None,
        max_valid_until: None,
        include_disabled: false,
        sort_by: Vec::new(),
        page_size: None,
        max_results: None,
    }
}

/// List options with nothing set.
pub fn list_indicators_options() -> ListIndicatorsOptions {
    ListIndicatorsOptions { filter: None, orderby: None, top: None, max_results: None }
}
