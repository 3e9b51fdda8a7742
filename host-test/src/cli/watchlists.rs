//! Verbs over Sentinel watchlists, as the WIT's `watchlists` interface has
//! them: create from a CSV file (waiting for the upload), items, upsert by
//! the search key's value, membership checks and bulk add of an incident's
//! entities.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::graph::items;
use super::output::{self, Format};
use super::values::azure;
use super::{exit, print, Failure};
use crate::runtime::types::EntityKind;
use crate::runtime::watchlists::{
    ColumnValue, ContentFormat, Lookup, NewWatchlist, ProvisioningState, SourceType, Watchlist, WatchlistItem,
};
use crate::runtime::Session;

#[derive(Subcommand, Debug)]
pub enum WatchlistsCommand {
    /// List the workspace's watchlists.
    List,
    /// Show one watchlist.
    Get { alias: String },
    /// Create (or replace) a watchlist from a CSV file; waits for the upload to finish.
    Create(CreateArgs),
    /// Delete a watchlist and its items; waits for the deletion to finish.
    Delete {
        alias: String,
        /// Seconds to wait for the operation (1 to 600, default 120).
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u32>,
    },
    /// List a watchlist's items, or show one.
    Items { alias: String, item_id: Option<String> },
    /// Add an item, or update the one holding the same search-key value.
    Add {
        alias: String,
        /// The item's columns: COLUMN=VALUE, the search key's among them.
        #[arg(required = true, value_name = "COLUMN=VALUE")]
        values: Vec<String>,
    },
    /// Add one item per entity of an incident (its identifier), skipping those already held.
    AddEntities {
        alias: String,
        /// The incident whose normalized entities to add.
        #[arg(long)]
        incident: String,
        /// Only entities of this kind.
        #[arg(long, value_parser = azure::<EntityKindArg>())]
        kind: Option<EntityKindArg>,
    },
    /// Delete one item.
    Remove { alias: String, item_id: String },
    /// Whether each value is in the watchlist (exit code 4 when none is).
    Contains {
        alias: String,
        #[arg(required = true)]
        values: Vec<String>,
        /// query: one KQL query (needs the workspace id); items: read every item; auto: query when possible.
        #[arg(long, value_parser = azure::<LookupArg>(), default_value = "auto")]
        lookup: LookupArg,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    alias: String,
    /// The CSV (or TSV) file: a header line, then one line per item; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    file: PathBuf,
    #[arg(long)]
    display_name: String,
    /// The column items are found by (it must be in the header).
    #[arg(long)]
    search_key: String,
    #[arg(long, value_parser = azure::<FormatArg>(), default_value = "csv")]
    format: FormatArg,
    /// Lines before the header to skip.
    #[arg(long, default_value_t = 0)]
    skip_lines: u32,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    provider: Option<String>,
    #[arg(long = "label")]
    labels: Vec<String>,
    /// ISO 8601 duration each item lives (P30D).
    #[arg(long)]
    default_duration: Option<String>,
    /// Seconds to wait for the upload (1 to 600, default 120).
    #[arg(long, value_name = "SECONDS")]
    wait: Option<u32>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    Csv,
    Tsv,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LookupArg {
    Auto,
    Query,
    Items,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EntityKindArg {
    Account,
    Host,
    Ip,
    Url,
    FileHash,
    File,
    Mailbox,
}

impl EntityKindArg {
    fn matches(self, kind: &EntityKind) -> bool {
        matches!(
            (self, kind),
            (EntityKindArg::Account, EntityKind::Account)
                | (EntityKindArg::Host, EntityKind::Host)
                | (EntityKindArg::Ip, EntityKind::Ip)
                | (EntityKindArg::Url, EntityKind::Url)
                | (EntityKindArg::FileHash, EntityKind::FileHash)
                | (EntityKindArg::File, EntityKind::File)
                | (EntityKindArg::Mailbox, EntityKind::Mailbox)
        )
    }
}

fn usage(message: String) -> Failure {
    Failure { code: exit::USAGE, message }
}

pub async fn watchlists(session: &mut Session, command: WatchlistsCommand, format: Format) -> Result<(), Failure> {
    let mut w = session.watchlists();
    match command {
        WatchlistsCommand::List => {
            let rows = w.list().await?.iter().map(watchlist_json).collect();
            print(items(format, rows, &["alias", "displayName", "itemsSearchKey", "provisioningState", "updated"]));
        }
        WatchlistsCommand::Get { alias } => print(output::to_json(&watchlist_json(&w.get(&alias).await?))),
        WatchlistsCommand::Create(args) => {
            let alias = args.alias.clone();
            let wait = args.wait;
            let new = new_watchlist(args)?;
            print(output::to_json(&watchlist_json(&w.create(&alias, new, wait).await?)));
        }
        WatchlistsCommand::Delete { alias, wait } => {
            w.delete(&alias, wait).await?;
            eprintln!("deleted watchlist {}", output::safe_line(&alias));
        }
        WatchlistsCommand::Items { alias, item_id: Some(id) } => {
            print(output::to_json(&item_json(&w.item(&alias, &id).await?)));
        }
        WatchlistsCommand::Items { alias, item_id: None } => {
            let found = w.items(&alias).await?;
            if format == Format::Json {
                print(output::to_json(&found.iter().map(item_json).collect::<Vec<_>>()));
            } else {
                let rows = found.iter().map(|i| json!({"id": i.id, "values": values_line(i), "updated": i.updated}));
                print(items(format, rows.collect(), &["id", "values", "updated"]));
            }
        }
        WatchlistsCommand::Add { alias, values } => {
            let values = values
                .iter()
                .map(|pair| match pair.split_once('=') {
                    Some((column, value)) => Ok(ColumnValue { column: column.to_owned(), value: value.to_owned() }),
                    None => Err(usage(format!("'{}' is not COLUMN=VALUE", output::safe_line(pair)))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let done = w.upsert_item(&alias, values).await?;
            let mut shown = item_json(&done.item);
            shown["created"] = json!(done.created);
            print(output::to_json(&shown));
        }
        WatchlistsCommand::AddEntities { alias, incident, kind } => {
            let entities = session.list_normalized_entities(&incident).await?;
            let entities: Vec<_> = entities.into_iter().filter(|e| kind.is_none_or(|k| k.matches(&e.kind))).collect();
            if entities.is_empty() {
                return Err(Failure { code: exit::NOT_FOUND, message: "the incident has no such entities".into() });
            }
            let added = session.watchlists().add_entities(&alias, entities).await?;
            let rows = added
                .iter()
                .map(|a| json!({"identifier": a.identifier, "itemId": a.item_id, "added": a.added}))
                .collect();
            print(items(format, rows, &["identifier", "itemId", "added"]));
        }
        WatchlistsCommand::Remove { alias, item_id } => {
            w.delete_item(&alias, &item_id).await?;
            eprintln!("removed item {}", output::safe_line(&item_id));
        }
        WatchlistsCommand::Contains { alias, values, lookup } => {
            let lookup = match lookup {
                LookupArg::Auto => Lookup::Auto,
                LookupArg::Query => Lookup::Query,
                LookupArg::Items => Lookup::Items,
            };
            let found = w.contains(&alias, values, lookup).await?;
            let rows = found.iter().map(|m| json!({"value": m.value, "found": m.found, "itemId": m.item_id})).collect();
            print(items(format, rows, &["value", "found", "itemId"]));
            if !found.iter().any(|m| m.found) {
                return Err(Failure {
                    code: exit::NOT_FOUND,
                    message: "none of the values is in the watchlist".into(),
                });
            }
        }
    }
    Ok(())
}

fn new_watchlist(args: CreateArgs) -> Result<NewWatchlist, Failure> {
    let shown = args.file.display().to_string();
    let mut content = String::new();
    let read = if shown == "-" {
        std::io::stdin().read_to_string(&mut content).map(|_| ())
    } else {
        std::fs::read_to_string(&args.file).map(|text| content = text)
    };
    read.map_err(|e| usage(format!("cannot read {}: {e}", output::safe_line(&shown))))?;
    Ok(NewWatchlist {
        display_name: args.display_name,
        items_search_key: args.search_key,
        description: args.description,
        provider: args.provider,
        source: (shown != "-").then(|| args.file.file_name().map(|n| n.to_string_lossy().into_owned())).flatten(),
        content,
        format: match args.format {
            FormatArg::Csv => ContentFormat::Csv,
            FormatArg::Tsv => ContentFormat::Tsv,
        },
        lines_to_skip: args.skip_lines,
        labels: args.labels,
        default_duration: args.default_duration,
    })
}

fn watchlist_json(w: &Watchlist) -> Value {
    let source_type = w.source_type.as_ref().map(|s| match s {
        SourceType::Local => "Local".to_owned(),
        SourceType::AzureStorage => "AzureStorage".to_owned(),
        SourceType::Other(text) => text.clone(),
    });
    let state = w.provisioning_state.as_ref().map(|s| match s {
        ProvisioningState::New => "New".to_owned(),
        ProvisioningState::InProgress => "InProgress".to_owned(),
        ProvisioningState::Uploading => "Uploading".to_owned(),
        ProvisioningState::Deleting => "Deleting".to_owned(),
        ProvisioningState::Succeeded => "Succeeded".to_owned(),
        ProvisioningState::Failed => "Failed".to_owned(),
        ProvisioningState::Canceled => "Canceled".to_owned(),
        ProvisioningState::Other(text) => text.clone(),
    });
    json!({
        "alias": w.alias,
        "displayName": w.display_name,
        "description": w.description,
        "provider": w.provider,
        "source": w.source,
        "sourceType": source_type,
        "itemsSearchKey": w.items_search_key,
        "labels": w.labels,
        "defaultDuration": w.default_duration,
        "created": w.created,
        "updated": w.updated,
        "uploadStatus": w.upload_status,
        "provisioningState": state,
        "watchlistId": w.watchlist_id,
        "resourceId": w.resource_id,
    })
}

fn item_json(item: &WatchlistItem) -> Value {
    let values: serde_json::Map<String, Value> =
        item.values.iter().map(|c| (c.column.clone(), Value::String(c.value.clone()))).collect();
    json!({"id": item.id, "values": values, "created": item.created, "updated": item.updated})
}

fn values_line(item: &WatchlistItem) -> String {
    item.values.iter().map(|c| format!("{}={}", c.column, c.value)).collect::<Vec<_>>().join(", ")
}
