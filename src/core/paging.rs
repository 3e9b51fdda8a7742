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

/// The state of one walk over pages: the origin every link must keep, and
/// the [`LinkGuard`].
#[derive(Debug)]
pub struct PageWalk {
    endpoint: Url,
    guard: LinkGuard,
}

impl PageWalk {
    pub fn new(endpoint: Url, max_pages: Option<u32>) -> Self {
        PageWalk { endpoint, guard: LinkGuard::new(max_pages) }
    }

    /// The URL of the next page, or an error that ends the walk.
    pub fn next(&mut self, link: &str) -> Result<Url, Error> {
        let url = check_link(link, &self.endpoint).map_err(|reason| link_not_followed(&reason))?;
        self.guard.follow(link)?;
        Ok(url)
    }
}

/// What ends a walk wherever its links are followed: a link seen before (a
/// loop), and a page past `max_pages`. [`PageWalk`] adds the origin check;
/// a host that walks a one-page call with the continuation it returns (the
/// CLI's streaming `--all`) uses the guard alone, since the guest checks
/// each continuation's origin when it is passed back.
#[derive(Debug)]
pub struct LinkGuard {
    seen: HashSet<String>,
    pages: u32,
    max_pages: u32,
}

impl LinkGuard {
    /// A walk whose first page has been (or is being) read.
    pub fn new(max_pages: Option<u32>) -> Self {
        LinkGuard { seen: HashSet::new(), pages: 1, max_pages: max_pages.unwrap_or(DEFAULT_MAX_PAGES) }
    }

    /// The link the first page itself came from (a continuation the walk
    /// starts at): the service sending it back is a loop too.
    pub fn started_at(&mut self, link: &str) {
        self.seen.insert(link.to_owned());
    }

    /// Pages read so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Counts the page `link` leads to, or the error that ends the walk.
    pub fn follow(&mut self, link: &str) -> Result<(), Error> {
        if !self.seen.insert(link.to_owned()) {
            return Err(walk_error("the service returned the same nextLink twice; stopped instead of looping".into()));
        }
        if self.pages >= self.max_pages {
            return Err(Error::InvalidResponse(LocalFailure {
                message: format!("more than {} pages; stopped", self.max_pages),
                hint: "Narrow the filter, raise max-pages, or page with list-incidents and its continuation.".into(),
                ..LocalFailure::default()
            }));
        }
        self.pages += 1;
        Ok(())
    }
}

/// What one list-all call may hold, in bytes, when the host says nothing:
/// half the 64 MiB a store gets by default (twice the answer cap the host
/// derives from it), leaving the rest for the page in flight, the
/// allocator and the component itself. Measured (tests/list_all_bound.rs):
/// 24,000 emulator incidents of 1.7 KB took 58 MB of guest memory at their
/// peak, 2.4 KB each; the estimate below counts 3.3 KB each, so a call is
/// refused at about 10,000 of them, at about 26 MB.
pub const DEFAULT_COLLECT_LIMIT: usize = 32 << 20;

/// How a walk's items are weighed, and what its refusal suggests instead.
#[derive(Clone, Copy, Debug)]
pub struct Gather {
    /// How many times its answer's size a page takes once parsed: 1 for
    /// typed items (they keep less than the answer's text), more for
    /// [`VALUE_PAGE_WEIGHT`].
    pub weight: usize,
    /// The refusal's hint.
    pub hint: &'static str,
}

/// Sentinel incidents: they have a one-page call to page with.
pub const INCIDENTS: Gather = Gather {
    weight: 1,
    hint: "Page with list-incidents and its continuation (the CLI's --all streams), or narrow the filter.",
};

/// Graph security incidents and alerts: plain JSON values, with a one-page call.
pub const GRAPH_SECURITY: Gather = Gather {
    weight: VALUE_PAGE_WEIGHT,
    hint: "Page with list-incidents or list-alerts and its continuation (the CLI's --all streams), or narrow the \
           filter.",
};

/// Other Graph lists (risky users): plain JSON values, read whole.
pub const GRAPH_LIST: Gather =
    Gather { weight: VALUE_PAGE_WEIGHT, hint: "Narrow the filter, or raise the host's memory limit." };

/// An incident's comments, alerts, entities, relations or tasks: no call
/// reads them a page at a time.
pub const CHILD_LIST: Gather =
    Gather { weight: 1, hint: "Too large for one call at this sandbox's memory limit; raise the host's memory limit." };

/// How many times its answer's size a page of plain JSON values
/// (`serde_json::Value`, Graph's lists) takes once parsed: every key and
/// string its own allocation, every value 32 bytes, map nodes around them.
pub const VALUE_PAGE_WEIGHT: usize = 6;

/// How many times its in-memory size each item a list-all call returns is
/// held at its peak: the items read (with the slack of a growing vector),
/// the component's WIT copy, and the canonical-ABI copy it is lowered into.
const ITEM_COPIES: usize = 4;

/// What a list-all call holds so far, estimated from the answers it read,
/// against the limit it refuses at: a call that gathers every page in one
/// answer stops with a typed error long before it could run out of memory
/// (a trap), and says to page instead.
#[derive(Debug)]
pub struct Collected {
    limit: usize,
    /// What to do instead, the error's hint.
    hint: &'static str,
    /// Each parsed byte of answer held as this many bytes.
    weight: usize,
    /// The in-memory size of one item (its struct, not what it points to).
    item_size: usize,
    items: usize,
    /// Answers whose size is known (every page but the first, which the
    /// caller read), and the items they held.
    measured_bytes: usize,
    measured_items: usize,
}

impl Collected {
    pub fn new(limit: usize, gather: Gather, item_size: usize) -> Self {
        Collected {
            limit,
            hint: gather.hint,
            weight: gather.weight.max(1),
            item_size,
            items: 0,
            measured_bytes: 0,
            measured_items: 0,
        }
    }

    /// Items held now.
    pub fn items(&self) -> usize {
        self.items
    }

    /// Adds a page of `items` items, read from an answer of `body_bytes`
    /// bytes (`None`: the first page, whose answer the caller parsed), or the
    /// error that ends the call because the estimate passed the limit. Pages
    /// of unknown size are estimated at the measured ones' bytes per item.
    pub fn add(&mut self, items: usize, body_bytes: Option<usize>) -> Result<(), Error> {
        self.items = self.items.saturating_add(items);
        if let Some(bytes) = body_bytes {
            self.measured_bytes = self.measured_bytes.saturating_add(bytes);
            self.measured_items = self.measured_items.saturating_add(items);
        }
        if self.held() <= self.limit {
            return Ok(());
        }
        Err(Error::InvalidResponse(LocalFailure {
            message: format!(
                "the list is too large to return in one call: {} items so far, about {} MiB held of the {} MiB \
                 one call may gather; stopped before it could run out of memory",
                self.items,
                self.held().div_ceil(1 << 20),
                self.limit >> 20
            ),
            hint: self.hint.into(),
            ..LocalFailure::default()
        }))
    }

    /// The estimate: each item's share of the answers, parsed, plus its
    /// copies; with nothing measured yet, the copies alone.
    pub fn held(&self) -> usize {
        let per_item_answer = match self.measured_items {
            0 => 0,
            n => self.measured_bytes / n,
        };
        let per_item =
            per_item_answer.saturating_mul(self.weight).saturating_add(self.item_size.saturating_mul(ITEM_COPIES));
        self.items.saturating_mul(per_item)
    }
}

/// The error that ends a walk whose next link [`check_link`] refused.
pub fn link_not_followed(reason: &str) -> Error {
    walk_error(format!("the service's nextLink was not followed: {reason}"))
}

fn walk_error(message: String) -> Error {
    Error::InvalidResponse(LocalFailure {
        message,
        hint: "The results so far were not returned as complete; retry, and report it if it persists.".into(),
        ..LocalFailure::default()
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

    #[test]
    fn a_guard_alone_stops_a_loop_and_the_page_cap_where_the_walk_does() {
        let mut guard = LinkGuard::new(Some(3));
        guard.started_at("https://management.azure.com/a?$skipToken=0");
        let Err(Error::InvalidResponse(failure)) = guard.follow("https://management.azure.com/a?$skipToken=0") else {
            panic!("the link the walk started at, sent back")
        };
        assert!(failure.message.contains("twice"));
        let mut guard = LinkGuard::new(Some(3));
        guard.follow("x1").unwrap();
        guard.follow("x2").unwrap();
        assert_eq!(guard.pages(), 3);
        let Err(Error::InvalidResponse(failure)) = guard.follow("x3") else { panic!() };
        assert_eq!(failure.message, "more than 3 pages; stopped");
        assert_eq!(LinkGuard::new(None).max_pages, DEFAULT_MAX_PAGES);
    }

    #[test]
    fn what_a_walk_holds_is_estimated_from_the_answers_it_read() {
        let mut held = Collected::new(1 << 20, INCIDENTS, 100);
        held.add(10, None).unwrap();
        assert_eq!(held.held(), 10 * 100 * ITEM_COPIES, "the first page: its items' copies until a size is known");
        held.add(10, Some(10 * 1000)).unwrap();
        assert_eq!(held.held(), 20 * (1000 + 100 * ITEM_COPIES), "every item at the measured bytes per item");
        let mut values = Collected::new(1 << 20, GRAPH_SECURITY, 32);
        values.add(10, Some(10 * 1000)).unwrap();
        assert_eq!(values.held(), 10 * (1000 * VALUE_PAGE_WEIGHT + 32 * ITEM_COPIES));
    }

    #[test]
    fn past_its_limit_a_walk_refuses_with_a_typed_error_that_says_to_page() {
        let mut held = Collected::new(100_000, INCIDENTS, 0);
        for _ in 0..9 {
            held.add(10, Some(10_000)).unwrap();
        }
        let Err(Error::InvalidResponse(failure)) = held.add(10, Some(10_000)).and_then(|()| held.add(10, Some(10_000)))
        else {
            panic!("110 items of 1,000 bytes: past 100,000")
        };
        assert!(failure.message.contains("110 items so far"), "{}", failure.message);
        assert!(
            failure.hint.contains("page with list-incidents and its continuation (the CLI's --all streams)")
                || failure.hint.contains("Page with list-incidents and its continuation (the CLI's --all streams)")
        );
    }

    mod list_all {
        use crate::core::error::Error;
        use crate::core::sentinel::incidents::ListOptions;
        use crate::core::testing::{client, token, Script, BASE};

        /// `count` incidents, each with a title of `title_bytes`, and a next link unless last.
        fn page(number: usize, count: usize, title_bytes: usize, last: bool) -> (u16, String) {
            let title = "t".repeat(title_bytes);
            let properties = format!(r#"{{"title":"{title}","severity":"High","status":"New"}}"#);
            let value: Vec<String> =
                (0..count).map(|i| format!(r#"{{"name":"n{number}-{i}","properties":{properties}}}"#)).collect();
            let next = if last { String::new() } else { format!(r#","nextLink":"{BASE}/x?$skipToken={number}""#) };
            (200, format!(r#"{{"value":[{}]{next}}}"#, value.join(",")))
        }

        fn script(pages: usize) -> Script {
            let mut answers = vec![token()];
            answers.extend((0..pages).map(|n| page(n, 50, 1000, n + 1 == pages)));
            Script::new(answers)
        }

        #[test]
        fn a_list_within_the_limit_is_returned_whole() {
            let mut script = script(10);
            let mut client = client().with_collect_limit(4 << 20);
            let all = client.sentinel().list_all_incidents(&mut script, &ListOptions::default()).unwrap();
            assert_eq!(all.len(), 500);
        }

        #[test]
        fn a_list_past_the_limit_is_refused_before_the_rest_is_read() {
            // 50 incidents of about 1.1 KB a page, and their copies: a 1 MiB
            // limit is reached on the tenth page or so, long before the 100th.
            let mut script = script(100);
            let mut client = client().with_collect_limit(1 << 20);
            let Err(Error::InvalidResponse(failure)) =
                client.sentinel().list_all_incidents(&mut script, &ListOptions::default())
            else {
                panic!("refused")
            };
            assert!(failure.message.contains("too large to return in one call"), "{}", failure.message);
            assert!(failure.hint.contains("list-incidents and its continuation (the CLI's --all streams)"));
            assert!(script.sent.len() < 30, "stopped early: {} requests", script.sent.len());
            // The same client goes on: the next call is answered.
            let mut next = Script::new(vec![page(0, 1, 10, true)]);
            assert_eq!(client.sentinel().list_incidents(&mut next, &ListOptions::default()).unwrap().value.len(), 1);
        }
    }
}
