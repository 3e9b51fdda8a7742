//! The `threat-intelligence` interface: indicators over the connection's ARM token.

use super::exports::soar::sentinel::sentinel_connector::ConnectionBorrow;
use super::exports::soar::sentinel::threat_intelligence::{self as twit, Guest};
use super::exports::soar::sentinel::types as wit;
use super::graph_security::resource;
use super::Component;
use crate::core::sentinel::entities::EntityKind;
use crate::core::sentinel::threat_intelligence::{
    self as ti, CreatedIndicator, HashAlgorithm, Indicator, IndicatorPage, IndicatorQuery, ListIndicatorsOptions,
    NewIndicator, Observable, SortOrder,
};

open_enum_to_wit!(ti::ThreatType => twit::ThreatType {
    AnomalousActivity, Anonymization, Benign, Compromised, MaliciousActivity, Attribution, Unknown,
});

impl Guest for Component {
    fn observable_from_entity(
        _connection: ConnectionBorrow<'_>,
        entity: wit::NormalizedEntity,
    ) -> Result<twit::Observable, wit::ConnectorError> {
        let kind = match entity.kind {
            wit::EntityKind::Ip => EntityKind::Ip,
            wit::EntityKind::Url => EntityKind::Url,
            wit::EntityKind::Host => EntityKind::Host,
            wit::EntityKind::DnsResolution => EntityKind::DnsResolution,
            wit::EntityKind::FileHash => EntityKind::FileHash,
            wit::EntityKind::Mailbox => EntityKind::Mailbox,
            wit::EntityKind::Account => EntityKind::Account,
            wit::EntityKind::Other(name) => EntityKind::Other(name),
            other => EntityKind::Other(format!("{other:?}")),
        };
        ti::observable_from_entity(&kind, &entity.identifier).map(observable_to_wit).map_err(Into::into)
    }

    fn create_indicator(
        connection: ConnectionBorrow<'_>,
        indicator: twit::NewIndicator,
    ) -> Result<twit::CreatedIndicator, wit::ConnectorError> {
        let new = new_indicator(indicator);
        resource(&connection).with_client(|client, http| client.sentinel().create_indicator(http, &new)).map(
            |CreatedIndicator { indicator: i, created }| twit::CreatedIndicator {
                indicator: indicator_to_wit(i),
                created,
            },
        )
    }

    fn get_indicator(connection: ConnectionBorrow<'_>, name: String) -> Result<twit::Indicator, wit::ConnectorError> {
        resource(&connection)
            .with_client(|client, http| client.sentinel().get_indicator(http, &name))
            .map(indicator_to_wit)
    }

    fn list_indicators(
        connection: ConnectionBorrow<'_>,
        options: twit::ListIndicatorsOptions,
    ) -> Result<twit::IndicatorPage, wit::ConnectorError> {
        let options = ListIndicatorsOptions {
            filter: options.filter,
            orderby: options.orderby,
            top: options.top,
            max_results: options.max_results,
        };
        resource(&connection).with_client(|client, http| client.sentinel().list_indicators(http, &options)).map(page)
    }

    fn query_indicators(
        connection: ConnectionBorrow<'_>,
        query: twit::IndicatorQuery,
    ) -> Result<twit::IndicatorPage, wit::ConnectorError> {
        let query = IndicatorQuery {
            keywords: query.keywords,
            pattern_types: query.pattern_types,
            sources: query.sources,
            threat_types: query.threat_types.into_iter().map(Into::into).collect(),
            ids: query.ids,
            min_confidence: query.min_confidence,
            max_confidence: query.max_confidence,
            min_valid_until: query.min_valid_until,
            max_valid_until: query.max_valid_until,
            include_disabled: query.include_disabled,
            sort_by: query
                .sort_by
                .into_iter()
                .map(|s| {
                    let order = match s.order {
                        twit::SortOrder::Unsorted => SortOrder::Unsorted,
                        twit::SortOrder::Ascending => SortOrder::Ascending,
                        twit::SortOrder::Descending => SortOrder::Descending,
                    };
                    (s.item_key, order)
                })
                .collect(),
            page_size: query.page_size,
            max_results: query.max_results,
        };
        resource(&connection).with_client(|client, http| client.sentinel().query_indicators(http, &query)).map(page)
    }

    fn append_tags(
        connection: ConnectionBorrow<'_>,
        name: String,
        tags: Vec<String>,
    ) -> Result<twit::Indicator, wit::ConnectorError> {
        resource(&connection)
            .with_client(|client, http| client.sentinel().append_tags(http, &name, &tags))
            .map(indicator_to_wit)
    }

    fn replace_tags(
        connection: ConnectionBorrow<'_>,
        name: String,
        tags: Vec<String>,
    ) -> Result<twit::Indicator, wit::ConnectorError> {
        resource(&connection)
            .with_client(|client, http| client.sentinel().replace_tags(http, &name, &tags))
            .map(indicator_to_wit)
    }

    fn delete_indicator(connection: ConnectionBorrow<'_>, name: String) -> Result<(), wit::ConnectorError> {
        resource(&connection).with_client(|client, http| client.sentinel().delete_indicator(http, &name))
    }
}

fn algorithm_from_wit(algorithm: twit::HashAlgorithm) -> HashAlgorithm {
    match algorithm {
        twit::HashAlgorithm::Md5 => HashAlgorithm::Md5,
        twit::HashAlgorithm::Sha1 => HashAlgorithm::Sha1,
        twit::HashAlgorithm::Sha256 => HashAlgorithm::Sha256,
        twit::HashAlgorithm::Sha512 => HashAlgorithm::Sha512,
    }
}

fn algorithm_to_wit(algorithm: HashAlgorithm) -> twit::HashAlgorithm {
    match algorithm {
        HashAlgorithm::Md5 => twit::HashAlgorithm::Md5,
        HashAlgorithm::Sha1 => twit::HashAlgorithm::Sha1,
        HashAlgorithm::Sha256 => twit::HashAlgorithm::Sha256,
        HashAlgorithm::Sha512 => twit::HashAlgorithm::Sha512,
    }
}

fn observable_from_wit(observable: twit::Observable) -> Observable {
    match observable {
        twit::Observable::Ip(value) => Observable::Ip(value),
        twit::Observable::Domain(value) => Observable::Domain(value),
        twit::Observable::Url(value) => Observable::Url(value),
        twit::Observable::FileHash(hash) => {
            Observable::FileHash { algorithm: algorithm_from_wit(hash.algorithm), value: hash.value }
        }
        twit::Observable::Email(value) => Observable::Email(value),
    }
}

fn observable_to_wit(observable: Observable) -> twit::Observable {
    match observable {
        Observable::Ip(value) => twit::Observable::Ip(value),
        Observable::Domain(value) => twit::Observable::Domain(value),
        Observable::Url(value) => twit::Observable::Url(value),
        Observable::FileHash { algorithm, value } => {
            twit::Observable::FileHash(twit::FileHash { algorithm: algorithm_to_wit(algorithm), value })
        }
        Observable::Email(value) => twit::Observable::Email(value),
    }
}

fn new_indicator(new: twit::NewIndicator) -> NewIndicator {
    NewIndicator {
        observable: observable_from_wit(new.observable),
        display_name: new.display_name,
        description: new.description,
        confidence: new.confidence,
        valid_from: new.valid_from,
        valid_until: new.valid_until,
        labels: new.labels,
        threat_types: new.threat_types.into_iter().map(Into::into).collect(),
        tags: new.tags,
        source: new.source,
    }
}

fn indicator_to_wit(i: Indicator) -> twit::Indicator {
    twit::Indicator {
        display_name: i.display_name(),
        description: i.description(),
        pattern: i.pattern(),
        pattern_type: i.pattern_type(),
        source: i.source(),
        confidence: i.confidence(),
        valid_from: i.valid_from(),
        valid_until: i.valid_until(),
        created: i.created(),
        last_updated: i.last_updated(),
        external_id: i.external_id(),
        revoked: i.revoked(),
        labels: i.labels(),
        threat_types: i.threat_types().into_iter().map(Into::into).collect(),
        tags: i.tags(),
        properties: i.properties.to_string(),
        name: i.name,
        resource_id: i.resource_id,
        etag: i.etag,
    }
}

fn page(page: IndicatorPage) -> twit::IndicatorPage {
    twit::IndicatorPage { indicators: page.indicators.into_iter().map(indicator_to_wit).collect(), more: page.more }
}
