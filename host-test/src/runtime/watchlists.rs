//! The `watchlists` export, called on a session's connection under the same
//! deadline and sandbox as every other call (see `session.rs`), and its WIT
//! types (`Watchlist`, `NewWatchlist`, `Lookup`, ...), re-exported here.
//!
//! A create or delete waits for its long-running operation inside the call:
//! its `max-wait-seconds` (default 120) should stay below the host's call
//! deadline (`Limits::call_timeout`, 300 s by default).

use wasmtime::component::ResourceAny;
use wasmtime::Store;

use super::bindings::watchlists as wwit;
pub use super::bindings::watchlists::*;
use super::session::Answer;
use super::{CallError, Session, TenantState};

/// The `watchlists` calls of a session, as `session.watchlists()`.
pub struct Watchlists<'a> {
    session: &'a mut Session,
}

impl Session {
    /// Sentinel watchlists and their items on this session's connection.
    pub fn watchlists(&mut self) -> Watchlists<'_> {
        Watchlists { session: self }
    }
}

/// What a call answers: the WIT result, or why the host could not call.
type Outcome<T> = Result<T, CallError>;

impl Watchlists<'_> {
    async fn call<T>(
        &mut self,
        invoke: impl AsyncFnOnce(&wwit::Guest, &mut Store<TenantState>, ResourceAny) -> Answer<T>,
    ) -> Outcome<T> {
        let connection = self.session.connection;
        self.session
            .call(async |instance, store| invoke(instance.soar_sentinel_watchlists(), store, connection).await)
            .await
    }

    /// Every watchlist, without items.
    pub async fn list(&mut self) -> Outcome<Vec<Watchlist>> {
        self.call(async |api, store, connection| api.call_list_watchlists(store, connection).await).await
    }

    /// One watchlist by alias.
    pub async fn get(&mut self, alias: &str) -> Outcome<Watchlist> {
        self.call(async |api, store, connection| api.call_get_watchlist(store, connection, alias).await).await
    }

    /// Creates (or replaces) a watchlist from CSV content and waits for its operation.
    pub async fn create(
        &mut self,
        alias: &str,
        watchlist: NewWatchlist,
        max_wait_seconds: Option<u32>,
    ) -> Outcome<Watchlist> {
        self.call(async |api, store, connection| {
            api.call_create_watchlist(store, connection, alias, &watchlist, max_wait_seconds).await
        })
        .await
    }

    /// Deletes a watchlist and waits for its operation.
    pub async fn delete(&mut self, alias: &str, max_wait_seconds: Option<u32>) -> Outcome<()> {
        self.call(async |api, store, connection| {
            api.call_delete_watchlist(store, connection, alias, max_wait_seconds).await
        })
        .await
    }

    /// Every item of a watchlist.
    pub async fn items(&mut self, alias: &str) -> Outcome<Vec<WatchlistItem>> {
        self.call(async |api, store, connection| api.call_list_items(store, connection, alias).await).await
    }

    /// One item by id.
    pub async fn item(&mut self, alias: &str, item_id: &str) -> Outcome<WatchlistItem> {
        self.call(async |api, store, connection| api.call_get_item(store, connection, alias, item_id).await).await
    }

    /// Adds an item or updates the one holding the same search-key value.
    pub async fn upsert_item(&mut self, alias: &str, values: Vec<ColumnValue>) -> Outcome<UpsertedItem> {
        self.call(async |api, store, connection| api.call_upsert_item(store, connection, alias, &values).await).await
    }

    /// Deletes one item.
    pub async fn delete_item(&mut self, alias: &str, item_id: &str) -> Outcome<()> {
        self.call(async |api, store, connection| api.call_delete_item(store, connection, alias, item_id).await).await
    }

    /// Whether each value is in the watchlist.
    pub async fn contains(&mut self, alias: &str, values: Vec<String>, lookup: Lookup) -> Outcome<Vec<Membership>> {
        self.call(async |api, store, connection| {
            api.call_watchlist_contains(store, connection, alias, &values, lookup).await
        })
        .await
    }

    /// Adds one item per entity identifier not yet held.
    pub async fn add_entities(&mut self, alias: &str, entities: Vec<NormalizedEntity>) -> Outcome<Vec<EntityAdded>> {
        self.call(async |api, store, connection| api.call_add_entities(store, connection, alias, &entities).await).await
    }
}

/// The columns of an item, as `(column, value)` pairs.
pub fn columns(pairs: &[(&str, &str)]) -> Vec<ColumnValue> {
    pairs
        .iter()
        .map(|(column, value)| ColumnValue { column: (*column).to_owned(), value: (*value).to_owned() })
        .collect()
}

/// A new watchlist from CSV content with everything else at its default.
pub fn new_watchlist(display_name: &str, items_search_key: &str, csv: &str) -> NewWatchlist {
    NewWatchlist {
        display_name: display_name.to_owned(),
        items_search_key: items_search_key.to_owned(),
        description: None,
        provider: None,
        source: None,
        content: csv.to_owned(),
        format: ContentFormat::Csv,
        lines_to_skip: 0,
        labels: Vec::new(),
        default_duration: None,
    }
}
