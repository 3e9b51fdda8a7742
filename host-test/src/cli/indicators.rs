//! `sentinel indicators`: threat-intelligence indicators, as the WIT's
//! `threat-intelligence` interface has them: create (once per pattern),
//! show, list, query, tags, delete.

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::graph::items;
use super::output::{self, Format};
use super::values::azure;
use super::{exit, print, Failure};
use crate::runtime::indicators::{
    new_indicator, FileHash, HashAlgorithm, Indicator, IndicatorPage, IndicatorQuery, ListIndicatorsOptions,
    Observable, SortCriterion, SortOrder, ThreatType,
};
use crate::runtime::Session;

#[derive(Subcommand, Debug)]
pub enum IndicatorsCommand {
    /// Create an indicator, unless one with the same pattern exists (then it is shown, created: false).
    Create(CreateArgs),
    /// Show one indicator.
    Get { name: String },
    /// List indicators (GET, every page up to --max).
    List {
        /// OData $filter, passed as given.
        #[arg(long)]
        filter: Option<String>,
        #[arg(long)]
        orderby: Option<String>,
        /// Page size (1 to 1000).
        #[arg(long)]
        top: Option<u32>,
        /// Indicators to show at most (1 to 10000, default 1000).
        #[arg(long)]
        max: Option<u32>,
    },
    /// Query indicators (queryIndicators, every page up to --max).
    Query(QueryArgs),
    /// Append tags the indicator lacks (nothing is sent when it has them all).
    Tag {
        name: String,
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Replace the indicator's tags (none clears them).
    Retag { name: String, tags: Vec<String> },
    /// Delete an indicator (one already gone is success).
    Delete { name: String },
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("observable").required(true).args(["ip", "domain", "url", "file_hash", "email"])))]
pub struct CreateArgs {
    /// An IPv4 or IPv6 address.
    #[arg(long)]
    ip: Option<String>,
    #[arg(long)]
    domain: Option<String>,
    #[arg(long)]
    url: Option<String>,
    /// ALGORITHM:HEX, the algorithm md5, sha1, sha256 or sha512 (sha256:e3b0c442...).
    #[arg(long, value_name = "ALGORITHM:HEX")]
    file_hash: Option<String>,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    display_name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// 0 to 100.
    #[arg(long)]
    confidence: Option<u8>,
    /// RFC 3339 (default: now).
    #[arg(long)]
    valid_from: Option<String>,
    /// RFC 3339.
    #[arg(long)]
    valid_until: Option<String>,
    #[arg(long = "label")]
    labels: Vec<String>,
    #[arg(long = "threat-type", value_parser = azure::<ThreatTypeArg>())]
    threat_types: Vec<ThreatTypeArg>,
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Default: Microsoft Sentinel.
    #[arg(long)]
    source: Option<String>,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[arg(long = "keyword")]
    keywords: Vec<String>,
    /// ipv4-addr, domain-name, url, file, email-addr, ...
    #[arg(long = "pattern-type")]
    pattern_types: Vec<String>,
    #[arg(long = "source")]
    sources: Vec<String>,
    #[arg(long = "threat-type", value_parser = azure::<ThreatTypeArg>())]
    threat_types: Vec<ThreatTypeArg>,
    /// Indicator names.
    #[arg(long = "id")]
    ids: Vec<String>,
    #[arg(long)]
    min_confidence: Option<u8>,
    #[arg(long)]
    max_confidence: Option<u8>,
    #[arg(long)]
    min_valid_until: Option<String>,
    #[arg(long)]
    max_valid_until: Option<String>,
    #[arg(long)]
    include_disabled: bool,
    /// Sort by this property (lastUpdatedTimeUtc, confidence, ...).
    #[arg(long)]
    sort: Option<String>,
    #[arg(long, value_parser = azure::<OrderArg>(), default_value = "descending")]
    order: OrderArg,
    /// Page size (1 to 1000, default 100).
    #[arg(long)]
    page_size: Option<u32>,
    /// Indicators to show at most (1 to 10000, default 1000).
    #[arg(long)]
    max: Option<u32>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ThreatTypeArg {
    AnomalousActivity,
    Anonymization,
    Benign,
    Compromised,
    MaliciousActivity,
    Attribution,
    Unknown,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OrderArg {
    Ascending,
    Descending,
}

impl From<ThreatTypeArg> for ThreatType {
    fn from(arg: ThreatTypeArg) -> Self {
        match arg {
            ThreatTypeArg::AnomalousActivity => ThreatType::AnomalousActivity,
            ThreatTypeArg::Anonymization => ThreatType::Anonymization,
            ThreatTypeArg::Benign => ThreatType::Benign,
            ThreatTypeArg::Compromised => ThreatType::Compromised,
            ThreatTypeArg::MaliciousActivity => ThreatType::MaliciousActivity,
            ThreatTypeArg::Attribution => ThreatType::Attribution,
            ThreatTypeArg::Unknown => ThreatType::Unknown,
        }
    }
}

fn usage(message: String) -> Failure {
    Failure { code: exit::USAGE, message }
}

fn observable(args: &CreateArgs) -> Result<Observable, Failure> {
    let given = |value: &Option<String>| value.clone();
    if let Some(ip) = given(&args.ip) {
        return Ok(Observable::Ip(ip));
    }
    if let Some(domain) = given(&args.domain) {
        return Ok(Observable::Domain(domain));
    }
    if let Some(url) = given(&args.url) {
        return Ok(Observable::Url(url));
    }
    if let Some(email) = given(&args.email) {
        return Ok(Observable::Email(email));
    }
    let value = given(&args.file_hash).unwrap_or_default();
    let (algorithm, hex) = value
        .split_once(':')
        .ok_or_else(|| usage("a file hash is ALGORITHM:HEX, such as sha256:e3b0c442...".into()))?;
    let algorithm = match algorithm.to_ascii_lowercase().replace('-', "").as_str() {
        "md5" => HashAlgorithm::Md5,
        "sha1" => HashAlgorithm::Sha1,
        "sha256" => HashAlgorithm::Sha256,
        "sha512" => HashAlgorithm::Sha512,
        other => return Err(usage(format!("'{}' is not md5, sha1, sha256 or sha512", output::safe_line(other)))),
    };
    Ok(Observable::FileHash(FileHash { algorithm, value: hex.to_owned() }))
}

pub async fn indicators(session: &mut Session, command: IndicatorsCommand, format: Format) -> Result<(), Failure> {
    let mut ti = session.indicators();
    let shown = match command {
        IndicatorsCommand::Create(args) => {
            let mut new = new_indicator(observable(&args)?);
            new.display_name = args.display_name;
            new.description = args.description;
            new.confidence = args.confidence;
            new.valid_from = args.valid_from;
            new.valid_until = args.valid_until;
            new.labels = args.labels;
            new.threat_types = args.threat_types.into_iter().map(Into::into).collect();
            new.tags = args.tags;
            new.source = args.source;
            let done = ti.create(new).await?;
            let mut shown = indicator_json(&done.indicator, true);
            shown["created"] = json!(done.created);
            shown
        }
        IndicatorsCommand::Get { name } => indicator_json(&ti.get(&name).await?, true),
        IndicatorsCommand::List { filter, orderby, top, max } => {
            let options = ListIndicatorsOptions { filter, orderby, top, max_results: max };
            return print_page(ti.list(options).await?, format);
        }
        IndicatorsCommand::Query(args) => {
            let query = IndicatorQuery {
                keywords: args.keywords,
                pattern_types: args.pattern_types,
                sources: args.sources,
                threat_types: args.threat_types.into_iter().map(Into::into).collect(),
                ids: args.ids,
                min_confidence: args.min_confidence,
                max_confidence: args.max_confidence,
                min_valid_until: args.min_valid_until,
                max_valid_until: args.max_valid_until,
                include_disabled: args.include_disabled,
                sort_by: args
                    .sort
                    .map(|item_key| {
                        let order = match args.order {
                            OrderArg::Ascending => SortOrder::Ascending,
                            OrderArg::Descending => SortOrder::Descending,
                        };
                        vec![SortCriterion { item_key, order }]
                    })
                    .unwrap_or_default(),
                page_size: args.page_size,
                max_results: args.max,
            };
            return print_page(ti.query(query).await?, format);
        }
        IndicatorsCommand::Tag { name, tags } => indicator_json(&ti.append_tags(&name, tags).await?, true),
        IndicatorsCommand::Retag { name, tags } => indicator_json(&ti.replace_tags(&name, tags).await?, true),
        IndicatorsCommand::Delete { name } => {
            ti.delete(&name).await?;
            eprintln!("deleted indicator {}", output::safe_line(&name));
            return Ok(());
        }
    };
    print(output::to_json(&shown));
    Ok(())
}

fn print_page(page: IndicatorPage, format: Format) -> Result<(), Failure> {
    let rows = page.indicators.iter().map(|i| indicator_json(i, false)).collect();
    print(items(format, rows, &["name", "pattern", "source", "confidence", "tags", "validUntil"]));
    if page.more {
        eprintln!("more indicators than --max; narrow the query or raise --max");
    }
    Ok(())
}

fn threat_type_name(threat: &ThreatType) -> &str {
    match threat {
        ThreatType::AnomalousActivity => "anomalous-activity",
        ThreatType::Anonymization => "anonymization",
        ThreatType::Benign => "benign",
        ThreatType::Compromised => "compromised",
        ThreatType::MaliciousActivity => "malicious-activity",
        ThreatType::Attribution => "attribution",
        ThreatType::Unknown => "unknown",
        ThreatType::Other(text) => text,
    }
}

/// An indicator as JSON in the service's names; `whole` adds its properties.
fn indicator_json(i: &Indicator, whole: bool) -> Value {
    let mut value = json!({
        "name": i.name,
        "displayName": i.display_name,
        "pattern": i.pattern,
        "patternType": i.pattern_type,
        "source": i.source,
        "confidence": i.confidence,
        "threatTypes": i.threat_types.iter().map(threat_type_name).collect::<Vec<_>>(),
        "tags": i.tags,
        "labels": i.labels,
        "validFrom": i.valid_from,
        "validUntil": i.valid_until,
        "revoked": i.revoked,
        "lastUpdated": i.last_updated,
        "etag": i.etag,
    });
    if whole {
        value["properties"] = serde_json::from_str(&i.properties).unwrap_or(Value::Null);
    }
    value
}
