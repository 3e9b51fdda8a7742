//! Microsoft Graph (v1.0): the security API (incidents, alerts_v2, advanced
//! hunting) and Entra ID containment with its guardrails. Plain functions over
//! data, like the rest of the core; [`actions`] drives them over a transport.

pub mod actions;
pub mod comments;
pub mod containment;
pub mod hunting;
pub mod merging;
pub mod poller;
pub mod security;
pub mod users;

pub use actions::Graph;

use url::Url;

use super::config::Settings;
use super::error::Error;
use super::http::{Method, GRAPH_PREFER};

/// A change request exactly as it would be sent, without its bearer token:
/// what a dry run returns instead of sending it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRequest {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl PlannedRequest {
    /// With the headers the transport sends besides the token.
    pub fn new(method: Method, url: Url, body: Option<String>) -> Self {
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        if body.is_some() {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
        }
        headers.push(GRAPH_PREFER.map(str::to_owned).into());
        PlannedRequest { method, url, headers, body }
    }
}

/// `{graph}/v1.0/{segments...}`; each segment percent-encoded as one segment.
pub fn url(settings: &Settings, segments: &[&str]) -> Url {
    let mut url = settings.endpoints.graph.base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().push("v1.0").extend(segments);
    }
    url
}

/// Appends OData query options, leaving out the unset ones.
pub fn with_query(mut url: Url, pairs: &[(&str, Option<String>)]) -> Url {
    let present: Vec<(&str, &String)> = pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| (*k, v))).collect();
    if !present.is_empty() {
        url.query_pairs_mut().extend_pairs(present);
    }
    url
}

/// A `$top` within the collection's documented bounds.
pub fn validate_top(top: Option<u32>, max: u32) -> Result<(), Error> {
    match top {
        Some(top) if top == 0 || top > max => Err(Error::invalid("top", format!("{top} is outside 1 to {max}"))),
        _ => Ok(()),
    }
}

/// An OData `$filter` as the caller wrote it: Graph parses it, but a control
/// character or an absurd length is refused here, before any request.
pub fn validate_filter(filter: Option<&str>) -> Result<(), Error> {
    const MAX_FILTER_LEN: usize = 4096;
    match filter {
        Some(f) if f.trim().is_empty() => Err(Error::invalid("filter", "is empty; leave it unset to list everything")),
        Some(f) if f.len() > MAX_FILTER_LEN => {
            Err(Error::invalid("filter", format!("is longer than {MAX_FILTER_LEN} bytes")))
        }
        Some(f) if f.chars().any(char::is_control) => Err(Error::invalid("filter", "holds a control character")),
        _ => Ok(()),
    }
}
