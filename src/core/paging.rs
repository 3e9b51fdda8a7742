//! Following `nextLink`: exactly as given, only to the origin the first page
//! came from, never in a loop.

use std::collections::HashSet;

use serde::Deserialize;
use url::Url;

use super::error::{Error, LocalFailure};

pub const DEFAULT_MAX_PAGES: u32 = 1000;

/// One page of a pageable list: `value` and, unless last, the link to the
/// next page (ARM's `nextLink`, Graph's `@odata.nextLink`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(default, rename = "nextLink", alias = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// Reads an answer's JSON, naming what could not be read.
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::invalid_response(format!("the {what} could not be read: {e}")))
}

/// Parses a next link and checks that its scheme, host and port are the
/// configured endpoint's; a link elsewhere would carry the bearer token there.
pub fn check_link(link: &str, endpoint: &Url) -> Result<Url, String> {
    let url = Url::parse(link).map_err(|e| format!("'{}' is not an absolute URL ({e})", super::config::shown(link)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("it is a {}: URL, not the endpoint's http(s)", super::config::shown(url.scheme())));
    }
    let same_origin = url.scheme() == endpoint.scheme()
        && url.host_str().map(str::to_ascii_lowercase) == endpoint.host_str().map(str::to_ascii_lowercase)
        && url.port_or_known_default() == endpoint.port_or_known_default();
    if !same_origin {
        return Err(format!(
            "it points to {}, not to the configured endpoint {}",
            url.origin().ascii_serialization(),
            endpoint.origin().ascii_serialization()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries credentials".into());
    }
    Ok(url)
}

/// The state of one walk over pages.
#[derive(Debug)]
pub struct PageWalk {
    endpoint: Url,
    seen: HashSet<String>,
    pages: u32,
    max_pages: u32,
}

impl PageWalk {
    pub fn new(endpoint: Url, max_pages: Option<u32>) -> Self {
        PageWalk { endpoint, seen: HashSet::new(), pages: 1, max_pages: max_pages.unwrap_or(DEFAULT_MAX_PAGES) }
    }

    /// The URL of the next page, or an error that ends the walk.
    pub fn next(&mut self, link: &str) -> Result<Url, Error> {
        let url = check_link(link, &self.endpoint)
            .map_err(|reason| walk_error(format!("the service's nextLink was not followed: {reason}")))?;
        if !self.seen.insert(link.to_owned()) {
            return Err(walk_error("the service returned the same nextLink twice; stopped instead of looping".into()));
        }
        if self.pages >= self.max_pages {
            return Err(Error::InvalidResponse(LocalFailure {
                message: format!("more than {} pages; stopped", self.max_pages),
                hint: "Narrow the filter, raise max-pages, or page with list-incidents and its continuation.".into(),
            }));
        }
        self.pages += 1;
        Ok(url)
    }
}

fn walk_error(message: String) -> Error {
    Error::InvalidResponse(LocalFailure {
        message,
        hint: "The results so far were not returned as complete; retry, and report it if it persists.".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(max: Option<u32>) -> PageWalk {
        PageWalk::new(Url::parse("https://management.azure.com/").unwrap(), max)
    }

    #[test]
    fn follows_links_on_the_same_origin() {
        let link = "https://management.azure.com/subscriptions/x/incidents?api-version=2025-09-01&$skipToken=abc";
        assert_eq!(walk(None).next(link).unwrap().as_str(), link);
        let explicit_port = "https://MANAGEMENT.azure.com:443/a?$skipToken=1";
        assert!(walk(None).next(explicit_port).is_ok());
    }

    #[test]
    fn refuses_other_origins() {
        for link in [
            "https://evil.example/incidents?$skipToken=1",
            "http://management.azure.com/incidents",
            "https://management.azure.com:8443/incidents",
            "https://user:pw@management.azure.com/incidents",
            "/relative/link",
        ] {
            assert!(matches!(walk(None).next(link), Err(Error::InvalidResponse(_))), "{link}");
        }
    }

    #[test]
    fn a_repeated_link_ends_the_walk() {
        let mut walk = walk(None);
        let link = "https://management.azure.com/a?$skipToken=1";
        walk.next(link).unwrap();
        let Err(Error::InvalidResponse(failure)) = walk.next(link) else { panic!() };
        assert!(failure.message.contains("twice"));
    }

    #[test]
    fn the_page_cap_ends_the_walk() {
        let mut walk = walk(Some(3));
        walk.next("https://management.azure.com/a?$skipToken=1").unwrap();
        walk.next("https://management.azure.com/a?$skipToken=2").unwrap();
        let Err(Error::InvalidResponse(failure)) = walk.next("https://management.azure.com/a?$skipToken=3") else {
            panic!()
        };
        assert!(failure.message.contains("more than 3 pages"));
    }
}
