//! The `watchlists` interface: Sentinel watchlists and their items over the
//! connection's ARM token (and, for `watchlist-contains`, its Log Analytics one).

use super::exports::soar::sentinel::sentinel_connector::ConnectionBorrow;
use super::exports::soar::sentinel::types as wit;
use super::exports::soar::sentinel::watchlists::{self as wwit, Guest};
use super::graph_security::resource;
use super::Component;
use crate::core::sentinel::watchlists::{
    self as wl, ContentFormat, EntityAdded, Lookup, Membership, NewWatchlist, Upserted, Watchlist, WatchlistItem,
};

open_enum_to_wit!(wl::SourceType => wwit::SourceType { Local, AzureStorage });
open_enum_to_wit!(wl::ProvisioningState => wwit::ProvisioningState {
    New, InProgress, Uploading, Deleting, Succeeded, Failed, Canceled,
});

impl Guest for Component {
    fn list_watchlists(connection: ConnectionBorrow<'_>) -> Result<Vec<wwit::Watchlist>, wit::ConnectorError> {
        let all = resource(&connection).with_client(|client, http| client.sentinel().list_watchlists(http))?;
        Ok(all.into_iter().map(watchlist).collect())
    }

    fn get_watchlist(connection: ConnectionBorrow<'_>, alias: String) -> Result<wwit::Watchlist, wit::ConnectorError> {
        resource(&connection).with_client(|client, http| client.sentinel().get_watchlist(http, &alias)).map(watchlist)
    }

    fn create_watchlist(
        connection: ConnectionBorrow<'_>,
        alias: String,
        new: wwit::NewWatchlist,
        max_wait_seconds: Option<u32>,
    ) -> Result<wwit::Watchlist, wit::ConnectorError> {
        let new = new_watchlist(new);
        resource(&connection)
            .with_client(|client, http| client.sentinel().create_watchlist(http, &alias, &new, max_wait_seconds))
            .map(watchlist)
    }

    fn delete_watchlist(
        connection: ConnectionBorrow<'_>,
        alias: String,
        max_wait_seconds: Option<u32>,
    ) -> Result<(), wit::ConnectorError> {
        resource(&connection)
            .with_client(|client, http| client.sentinel().delete_watchlist(http, &alias, max_wait_seconds))
    }

    fn list_items(
        connection: ConnectionBorrow<'_>,
        alias: String,
    ) -> Result<Vec<wwit::WatchlistItem>, wit::ConnectorError> {
        let all = resource(&connection).with_client(|client, http| client.sentinel().list_items(http, &alias))?;
        Ok(all.into_iter().map(item).collect())
    }

    fn get_item(
        connection: ConnectionBorrow<'_>,
        alias: String,
        item_id: String,
    ) -> Result<wwit::WatchlistItem, wit::ConnectorError> {
        resource(&connection).with_client(|client, http| client.sentinel().get_item(http, &alias, &item_id)).map(item)
    }

    fn upsert_item(
        connection: ConnectionBorrow<'_>,
        alias: String,
        values: Vec<wwit::ColumnValue>,
    ) -> Result<wwit::UpsertedItem, wit::ConnectorError> {
        let values: Vec<(String, String)> = values.into_iter().map(|c| (c.column, c.value)).collect();
        resource(&connection)
            .with_client(|client, http| client.sentinel().upsert_item(http, &alias, &values))
            .map(|Upserted { item: it, created }| wwit::UpsertedItem { item: item(it), created })
    }

    fn delete_item(
        connection: ConnectionBorrow<'_>,
        alias: String,
        item_id: String,
    ) -> Result<(), wit::ConnectorError> {
        resource(&connection).with_client(|client, http| client.sentinel().delete_item(http, &alias, &item_id))
    }

    fn watchlist_contains(
        connection: ConnectionBorrow<'_>,
        alias: String,
        values: Vec<String>,
        lookup: wwit::Lookup,
    ) -> Result<Vec<wwit::Membership>, wit::ConnectorError> {
        let lookup = match lookup {
            wwit::Lookup::Auto => Lookup::Auto,
            wwit::Lookup::Query => Lookup::Query,
            wwit::Lookup::Items => Lookup::Items,
        };
        let found = resource(&connection)
            .with_client(|client, http| client.sentinel().watchlist_contains(http, &alias, &values, lookup))?;
        Ok(found
            .into_iter()
            .map(|Membership { value, found, item_id }| wwit::Membership { value, found, item_id })
            .collect())
    }

    fn add_entities(
        connection: ConnectionBorrow<'_>,
        alias: String,
        entities: Vec<wit::NormalizedEntity>,
    ) -> Result<Vec<wwit::EntityAdded>, wit::ConnectorError> {
        let identifiers: Vec<String> = entities.into_iter().map(|entity| entity.identifier).collect();
        let added = resource(&connection)
            .with_client(|client, http| client.sentinel().add_identifiers(http, &alias, &identifiers))?;
        Ok(added
            .into_iter()
            .map(|EntityAdded { identifier, item_id, added }| wwit::EntityAdded { identifier, item_id, added })
            .collect())
    }
}

fn new_watchlist(new: wwit::NewWatchlist) -> NewWatchlist {
    NewWatchlist {
        display_name: new.display_name,
        items_search_key: new.items_search_key,
        description: new.description,
        provider: new.provider,
        source: new.source,
        content: new.content,
        format: match new.format {
            wwit::ContentFormat::Csv => ContentFormat::Csv,
            wwit::ContentFormat::Tsv => ContentFormat::Tsv,
        },
        lines_to_skip: new.lines_to_skip,
        labels: new.labels,
        default_duration: new.default_duration,
    }
}

fn watchlist(w: Watchlist) -> wwit::Watchlist {
    let p = w.properties;
    wwit::Watchlist {
        alias: w.alias,
        resource_id: w.resource_id,
        etag: w.etag,
        watchlist_id: p.watchlist_id,
        display_name: p.display_name,
        description: p.description,
        provider: p.provider,
        source: p.source,
        source_type: p.source_type.map(Into::into),
        items_search_key: p.items_search_key,
        labels: p.labels,
        default_duration: p.default_duration,
        created: p.created,
        updated: p.updated,
        upload_status: p.upload_status,
        provisioning_state: p.provisioning_state.map(Into::into),
        properties: w.raw_properties.to_string(),
    }
}

fn item(i: WatchlistItem) -> wwit::WatchlistItem {
    wwit::WatchlistItem {
        id: i.id,
        resource_id: i.resource_id,
        etag: i.etag,
        values: i.values.into_iter().map(|(column, value)| wwit::ColumnValue { column, value }).collect(),
        created: i.created,
        updated: i.updated,
        properties: i.raw_properties.to_string(),
    }
}
