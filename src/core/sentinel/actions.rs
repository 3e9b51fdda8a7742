//! The `sentinel-connector` actions, the `client.sentinel()` handler: each
//! validates its input, builds its request with the plain functions beside
//! it, sends it through the client's plumbing, and reads the answer.

use url::Url;

use super::comments::{self, Comment};
use super::details::{Alert, Bookmark};
use super::entities::{self, Entity};
use super::incidents::{self, Incident, ListOptions};
use super::poller::{self, Event, EventKind, Phase, PollOptions, Progress, Scan};
use super::query::{self, QueryOptions, QueryResult};
use super::relations::{self as rel, Relation, Task, TaskProperties, TaskUpdate};
use super::updates::{self, IncidentUpdate, NewIncident};
use crate::core::auth::Api;
use crate::core::client::{Client, Transport};
use crate::core::config::{validate_guid, Settings};
use crate::core::error::Error;
use crate::core::http::{Method, Request, Response};
use crate::core::ids::validate_id;
use crate::core::merges::MergeTarget;
use crate::core::paging::{check_link, parse, Page, PageWalk};

/// A poll reads at most this many pages; the rest waits for the next poll.
const MAX_POLL_PAGES: u32 = 100;

/// What one poll returns: the events, the cursor to save after handling
/// them, whether a backlog remains, and the watermark (for lag).
#[derive(Clone, Debug, PartialEq)]
pub struct PollBatch {
    pub events: Vec<Event>,
    /// With `include_details`: one entry per event, in order.
    pub details: Vec<Result<Details, Error>>,
    pub cursor: String,
    pub more: bool,
    pub watermark: String,
}

/// An event with its incident's alerts and entities, or why they are missing.
#[derive(Clone, Debug, PartialEq)]
pub struct Details {
    pub alerts: Vec<Alert>,
    pub entities: Vec<Entity>,
}

/// The Sentinel half of [`Client`].
pub struct Sentinel<'a> {
    /// Visible to the sibling modules that add their own actions (analytics
    /// rules, watchlists) in `impl Sentinel` blocks beside their requests.
    pub(super) client: &'a mut Client,
}

impl<'a> Sentinel<'a> {
    pub(crate) fn new(client: &'a mut Client) -> Self {
        Sentinel { client }
    }

    pub(super) fn settings(&self) -> &Settings {
        self.client.settings()
    }

    /// One ARM call with its bearer token and retries.
    pub(super) fn arm(
        &mut self,
        transport: &mut impl Transport,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Response, Error> {
        self.client.send(transport, Api::Arm, method, url, body)
    }

    /// One page: the first the options select, or the one a continuation names.
    pub fn list_incidents(
        &mut self,
        transport: &mut impl Transport,
        options: &ListOptions,
    ) -> Result<Page<Incident>, Error> {
        let url = self.first_page_url(options)?;
        self.fetch_page(transport, url)
    }

    /// Every page, following each `nextLink` verbatim.
    pub fn list_all_incidents(
        &mut self,
        transport: &mut impl Transport,
        options: &ListOptions,
    ) -> Result<Vec<Incident>, Error> {
        let first = self.list_incidents(transport, options)?;
        self.client.walk(transport, Api::Arm, first, options.max_pages, "incident list")
    }

    pub fn get_incident(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Incident, Error> {
        let url = incidents::get_url(self.settings(), incident_id)?;
        incidents::parse_incident(&self.arm(transport, Method::Get, url, None)?.body)
    }

    /// One poll: the created scan, then (with updates) the modified scan,
    /// each until the batch is full or its pages end. See [`poller`].
    pub fn poll(
        &mut self,
        transport: &mut impl Transport,
        cursor: Option<&str>,
        options: &PollOptions,
    ) -> Result<PollBatch, Error> {
        poller::validate(options)?;
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(transport.now_unix_secs());
        let mut cursor = poller::starting_cursor(cursor, options, now)?;
        cursor.remember_own_writes(poller::own_writes(options)?);
        let mut scan = Scan::new(cursor, options);
        let mut more = self.run_scan(transport, &mut scan, Phase::Created)?;
        if options.scans_modified() && !more {
            more = self.run_scan(transport, &mut scan, Phase::Modified)?;
        }
        let (mut events, cursor) = scan.finish();
        for event in events.iter_mut().filter(|e| e.kind == EventKind::Merged) {
            event.merged_into = Some(MergeTarget::of(self.client.resolve_incident(transport, &event.incident.name)));
        }
        let names: Vec<&str> = events.iter().map(|e| e.incident.name.as_str()).collect();
        let details = if options.include_details {
            self.fetch_details(transport, &names, poller::detail_concurrency(options))?
        } else {
            Vec::new()
        };
        Ok(PollBatch {
            events,
            details,
            watermark: poller::format_time(cursor.watermark_micros()),
            cursor: cursor.encode(),
            more,
        })
    }

    /// Incidents have no PATCH: GET, merge the delta, PUT with the etag read
    /// (re-applied on 409, see [`Client::read_modify_write`]).
    pub fn update_incident(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
        update: &IncidentUpdate,
    ) -> Result<Incident, Error> {
        updates::validate_update(update)?;
        let url = incidents::get_url(self.settings(), incident_id)?;
        let merged = std::cell::Cell::new(false);
        // The version the last PUT was computed from, if the last read led to one.
        let base = std::cell::RefCell::new(None::<String>);
        let updated = self.client.read_modify_write(transport, &url, incidents::parse_incident, |current| {
            if current.properties.is_merged() && !update.update_merged_source {
                merged.set(true);
                return Err(Error::invalid("incident-id", "was merged by Defender into another incident"));
            }
            let next = updates::apply(current, update);
            let changed = next != *current;
            *base.borrow_mut() = changed.then(|| current.properties.last_modified_time_utc.clone()).flatten();
            Ok(changed.then(|| updates::put_body(&next)))
        });
        if merged.get() {
            return Err(self.merged_refusal(transport, incident_id));
        }
        let mut incident = updated?;
        let produced = incident.properties.last_modified_time_utc.as_deref();
        let receipt = poller::WriteReceipt::of(&incident.name, base.borrow().as_deref(), produced);
        incident.write_receipt = receipt.map(|r| r.encode());
        Ok(incident)
    }

    /// Why an update of a merged source is refused, naming where it went
    /// when Graph can say (and why not when it cannot).
    fn merged_refusal(&mut self, transport: &mut impl Transport, incident_id: &str) -> Error {
        let went_to = match self.client.resolve_incident(transport, incident_id) {
            Ok(found) => match (found.incident, found.chain.last()) {
                (Some(target), _) => format!("incident {}", target.name),
                (None, Some(defender_id)) => format!("Defender incident {defender_id}"),
                (None, None) => "another incident".to_owned(),
            },
            Err(error) => format!("another incident (resolve-incident could not say which: {error})"),
        };
        Error::invalid(
            "incident-id",
            format!(
                "was closed by a Defender merge into {went_to}: update that one, or set update-merged-source \
                 to change this closed source itself"
            ),
        )
    }

    /// PUT to a new id: the caller's GUID, or a random one.
    pub fn create_incident(
        &mut self,
        transport: &mut impl Transport,
        incident: &NewIncident,
        id: Option<&str>,
    ) -> Result<Incident, Error> {
        updates::validate_new(incident)?;
        let id = match id {
            Some(id) => {
                validate_guid("id", id)?;
                id.to_owned()
            }
            None => random_guid(transport),
        };
        let url = incidents::get_url(self.settings(), &id)?;
        let response = self.arm(transport, Method::Put, url, Some(updates::put_body(&updates::from_new(incident))))?;
        incidents::parse_incident(&response.body)
    }

    pub fn delete_incident(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<(), Error> {
        let url = incidents::get_url(self.settings(), incident_id)?;
        self.arm(transport, Method::Delete, url, None).map(|_| ())
    }

    /// Every comment, following next links.
    pub fn list_comments(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Comment>, Error> {
        let url = comments::list_url(self.settings(), incident_id)?;
        self.all_pages(transport, url, "comments")
    }

    /// Posts the message, split into ordered parts if it is too long, each
    /// under an id derived from the incident and the key (or the message):
    /// calling again with the same input never posts twice.
    pub fn add_comment(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
        message: &str,
        key: Option<&str>,
    ) -> Result<Vec<Comment>, Error> {
        comments::validate_message(message, key)?;
        validate_id("incident-id", incident_id)?;
        let mut posted = Vec::new();
        for (part, text) in comments::split_message(message).iter().enumerate() {
            let id = comments::comment_id(incident_id, message, key, part);
            let url = comments::comment_url(self.settings(), incident_id, &id)?;
            let response = self.arm(transport, Method::Put, url, Some(comments::put_body(text)))?;
            posted.push(comments::parse_comment(&response.body)?);
        }
        Ok(posted)
    }

    pub fn delete_comment(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
        comment_id: &str,
    ) -> Result<(), Error> {
        let url = comments::comment_url(self.settings(), incident_id, comment_id)?;
        self.arm(transport, Method::Delete, url, None).map(|_| ())
    }

    pub fn list_relations(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
    ) -> Result<Vec<Relation>, Error> {
        let url = rel::relations_url(self.settings(), incident_id, None)?;
        self.all_pages(transport, url, "relations")
    }

    /// Links a resource; without a name the relation's name derives from the
    /// resource, so linking it again is the same relation.
    pub fn add_relation(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
        related_resource_id: &str,
        name: Option<&str>,
    ) -> Result<Relation, Error> {
        rel::validate_resource_id("related-resource-id", related_resource_id)?;
        let name = name.map_or_else(|| rel::default_relation_name(incident_id, related_resource_id), str::to_owned);
        rel::validate_relation_name(&name)?;
        let url = rel::relations_url(self.settings(), incident_id, Some(&name))?;
        let response = self.arm(transport, Method::Put, url, Some(rel::relation_body(related_resource_id)))?;
        parse(&response.body, "relation")
    }

    pub fn delete_relation(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
        name: &str,
    ) -> Result<(), Error> {
        rel::validate_relation_name(name)?;
        let url = rel::relations_url(self.settings(), incident_id, Some(name))?;
        self.arm(transport, Method::Delete, url, None).map(|_| ())
    }

    pub fn list_tasks(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Task>, Error> {
        let url = rel::tasks_url(self.settings(), incident_id, None)?;
        self.all_pages(transport, url, "tasks")
    }

    /// Adds a task with status New. Without an id, the id derives from the
    /// incident and the title, so a retried call adds one task.
    pub fn add_task(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
        title: &str,
        description: Option<&str>,
        id: Option<&str>,
    ) -> Result<Task, Error> {
        rel::validate_task_text(Some(title), description)?;
        let id = id.map_or_else(|| rel::default_task_id(incident_id, title), str::to_owned);
        let url = rel::tasks_url(self.settings(), incident_id, Some(&id))?;
        let properties = TaskProperties {
            title: title.to_owned(),
            status: "New".into(),
            description: description.map(str::to_owned),
            ..TaskProperties::default()
        };
        let response = self.arm(transport, Method::Put, url, Some(rel::task_body(&properties, None)))?;
        parse(&response.body, "task")
    }

    /// GET, merge, PUT with the etag; re-applied on 409 like incidents.
    pub fn update_task(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
        task_id: &str,
        update: &TaskUpdate,
    ) -> Result<Task, Error> {
        rel::validate_task_update(update)?;
        let url = rel::tasks_url(self.settings(), incident_id, Some(task_id))?;
        let read = |body: &[u8]| parse::<Task>(body, "task");
        self.client.read_modify_write(transport, &url, read, |current| {
            Ok(Some(rel::task_body(&rel::apply_task_update(current, update), current.etag.as_deref())))
        })
    }

    pub fn delete_task(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
        task_id: &str,
    ) -> Result<(), Error> {
        let url = rel::tasks_url(self.settings(), incident_id, Some(task_id))?;
        self.arm(transport, Method::Delete, url, None).map(|_| ())
    }

    /// A KQL query against the workspace, typed results.
    pub fn search_events(
        &mut self,
        transport: &mut impl Transport,
        text: &str,
        options: &QueryOptions,
    ) -> Result<QueryResult, Error> {
        query::validate(self.settings(), text, options)?;
        let request = query::request(self.settings(), text, options)?;
        let response = self.client.send_request(transport, Api::LogAnalytics, request)?;
        let mut result = query::parse(response.status, &response.body)?;
        // A partial error is the service's text beside the data: it may echo a secret too.
        result.partial_error = result.partial_error.map(|failure| self.client.scrub_failure(failure));
        Ok(result)
    }

    pub fn list_alerts(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Alert>, Error> {
        let url = entities::alerts_url(self.settings(), incident_id)?;
        let response = self.arm(transport, Method::Post, url, None)?;
        Ok(entities::parse_value_list(&response.body, "alerts")?.into_iter().map(Alert::from_entity).collect())
    }

    pub fn list_entities(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Entity>, Error> {
        let url = entities::entities_url(self.settings(), incident_id)?;
        entities::parse_entities(&self.arm(transport, Method::Post, url, None)?.body)
    }

    pub fn list_bookmarks(
        &mut self,
        transport: &mut impl Transport,
        incident_id: &str,
    ) -> Result<Vec<Bookmark>, Error> {
        let url = entities::bookmarks_url(self.settings(), incident_id)?;
        let bookmarks = entities::parse_value_list(&self.arm(transport, Method::Post, url, None)?.body, "bookmarks")?;
        Ok(bookmarks.into_iter().map(Bookmark::from_entity).collect())
    }

    /// The connection check's ARM read: one incident.
    pub(crate) fn probe(&mut self, transport: &mut impl Transport) -> Result<(), Error> {
        self.list_incidents(transport, &ListOptions { top: Some(1), ..ListOptions::default() }).map(|_| ())
    }

    /// The connection check's Log Analytics read: a query that reads no table.
    pub(crate) fn probe_workspace(&mut self, transport: &mut impl Transport) -> Result<(), Error> {
        self.search_events(transport, "print connection_check = 1", &QueryOptions::default()).map(|_| ())
    }

    /// Every item of a pageable child list, following next links.
    fn all_pages<T: serde::de::DeserializeOwned>(
        &mut self,
        transport: &mut impl Transport,
        url: Url,
        what: &str,
    ) -> Result<Vec<T>, Error> {
        let first = parse(&self.arm(transport, Method::Get, url, None)?.body, what)?;
        self.client.walk(transport, Api::Arm, first, None, what)
    }

    /// Alerts and entities of each incident, `concurrency` requests in flight
    /// at a time, each next one started as soon as one answers, transient
    /// answers retried (see [`Client::send_all`]). A failure is kept per
    /// incident, never dropped; an incident whose name cannot make a URL (a
    /// hostile or broken answer) gets its error in its own entry and never
    /// fails the batch.
    fn fetch_details(
        &mut self,
        transport: &mut impl Transport,
        incident_names: &[&str],
        concurrency: usize,
    ) -> Result<Vec<Result<Details, Error>>, Error> {
        let urls: Vec<Result<[Url; 2], Error>> = incident_names
            .iter()
            .map(|name| {
                Ok([entities::alerts_url(self.settings(), name)?, entities::entities_url(self.settings(), name)?])
            })
            .collect();
        let requests: Vec<Request> = urls
            .iter()
            .flatten()
            .flatten()
            .map(|url| Request::new(Method::Post, url.clone()).header("accept", "application/json"))
            .collect();
        let mut answers = self.client.send_all(transport, Api::Arm, requests, concurrency)?.into_iter();
        let mut details = Vec::with_capacity(incident_names.len());
        for urls in urls {
            let detail = match urls {
                Err(error) => Err(error),
                Ok(_) => match (answers.next(), answers.next()) {
                    (Some(alerts), Some(entities)) => read_details(alerts, entities),
                    _ => Err(Error::transport("a detail request got no answer", "Retry the poll.")),
                },
            };
            details.push(detail.map_err(|error| self.client.scrub(error)));
        }
        Ok(details)
    }

    /// Walks one scan's pages; true when it stopped before the end.
    fn run_scan(&mut self, transport: &mut impl Transport, scan: &mut Scan, phase: Phase) -> Result<bool, Error> {
        let (filter, order) = poller::scan_query(scan.cursor(), scan.options(), phase);
        let max_events = scan.options().max_events.unwrap_or(poller::DEFAULT_MAX_EVENTS);
        let list = ListOptions {
            filter: Some(filter),
            orderby: Some(order.into()),
            top: Some(max_events.saturating_mul(2).clamp(50, incidents::MAX_TOP)),
            ..ListOptions::default()
        };
        let mut url = incidents::list_url(self.settings(), &list)?;
        let mut walk = PageWalk::new(self.client.base(Api::Arm).clone(), Some(MAX_POLL_PAGES + 1));
        for page_number in 1.. {
            let page = self.fetch_page(transport, url)?;
            if offer_page(scan, phase, page.value)? {
                return Ok(true);
            }
            match page.next_link {
                Some(_) if page_number >= MAX_POLL_PAGES => return Ok(true),
                Some(link) => url = walk.next(&link)?,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    fn first_page_url(&self, options: &ListOptions) -> Result<Url, Error> {
        let Some(link) = &options.continuation else {
            return incidents::list_url(self.settings(), options);
        };
        if options.filter.is_some() || options.orderby.is_some() || options.top.is_some() {
            return Err(Error::invalid(
                "continuation",
                "cannot be combined with filter, orderby or top: the link already carries them",
            ));
        }
        incidents::validate_list_options(options)?;
        check_link(link, &self.settings().endpoints.arm.base).map_err(|reason| Error::invalid("continuation", reason))
    }

    pub(super) fn fetch_page(&mut self, transport: &mut impl Transport, url: Url) -> Result<Page<Incident>, Error> {
        incidents::parse_list(&self.arm(transport, Method::Get, url, None)?.body)
    }
}

fn random_guid(transport: &mut impl Transport) -> String {
    let bytes = (u128::from(transport.random_u64()) << 64 | u128::from(transport.random_u64())).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn read_details(alerts: Result<Response, Error>, entities: Result<Response, Error>) -> Result<Details, Error> {
    let alerts = entities::parse_value_list(&alerts?.body, "alerts")?.into_iter().map(Alert::from_entity).collect();
    Ok(Details { alerts, entities: entities::parse_entities(&entities?.body)? })
}

/// Offers a page's incidents in order; true when the batch filled up first.
fn offer_page(scan: &mut Scan, phase: Phase, incidents: Vec<Incident>) -> Result<bool, Error> {
    for incident in incidents {
        if scan.offer(phase, incident)? == Progress::BatchFull {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::core::client::Client;
    use crate::core::config::{ConnectionConfig, Credential};
    use crate::core::http::Secret;
    use crate::core::testing::{client, token, Script, Simulated, BASE};

    fn page(names: &[&str], next: Option<&str>) -> (u16, String) {
        let value: Vec<String> = names
            .iter()
            .map(|n| format!(r#"{{"name":"{n}","properties":{{"title":"t","severity":"High","status":"New"}}}}"#))
            .collect();
        let next = next.map(|link| format!(r#","nextLink":"{link}""#)).unwrap_or_default();
        (200, format!(r#"{{"value":[{}]{next}}}"#, value.join(",")))
    }

    #[test]
    fn walks_pages_following_next_links_verbatim_and_reuses_the_token() {
        let link =
            format!("{BASE}/subscriptions/x/incidents?api-version=2025-09-01&%24top=1&%24skipToken=opaque%3D%3D");
        let mut script = Script::new(vec![token(), page(&["a"], Some(&link)), page(&["b"], None)]);
        let all = client().sentinel().list_all_incidents(&mut script, &ListOptions::default()).unwrap();
        assert_eq!(all.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(script.sent.len(), 3, "one token request for both pages");
        assert_eq!(script.sent[2].url.as_str(), link);
        assert_eq!(script.sent[2].headers[0], ("authorization".into(), "Bearer tok-123".into()));
    }

    #[test]
    fn a_next_link_to_another_origin_is_not_followed() {
        let mut script = Script::new(vec![token(), page(&["a"], Some("https://evil.example/steal"))]);
        let error = client().sentinel().list_all_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse(_)));
        assert_eq!(script.sent.len(), 2, "nothing sent to the other origin");
    }

    #[test]
    fn a_looping_next_link_ends_with_an_error() {
        let link = format!("{BASE}/same?$skipToken=1");
        let mut script = Script::new(vec![token(), page(&["a"], Some(&link)), page(&["b"], Some(&link))]);
        assert!(matches!(
            client().sentinel().list_all_incidents(&mut script, &ListOptions::default()),
            Err(Error::InvalidResponse(_))
        ));
    }

    #[test]
    fn invalid_ids_are_refused_before_any_request() {
        let mut script = Script::new(vec![]);
        let error = client().sentinel().get_incident(&mut script, "../x").unwrap_err();
        assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "incident-id"));
        assert!(script.sent.is_empty());
    }

    #[test]
    fn continuation_must_stay_on_the_arm_origin_and_stand_alone() {
        let mut script = Script::new(vec![]);
        let foreign = ListOptions { continuation: Some("https://evil.example/x".into()), ..ListOptions::default() };
        assert!(matches!(client().sentinel().list_incidents(&mut script, &foreign), Err(Error::InvalidInput { .. })));
        let mixed = ListOptions { continuation: Some(format!("{BASE}/x")), top: Some(5), ..ListOptions::default() };
        assert!(matches!(client().sentinel().list_incidents(&mut script, &mixed), Err(Error::InvalidInput { .. })));
        assert!(script.sent.is_empty());
    }

    #[test]
    fn a_wrong_secret_is_an_auth_error_without_the_secret() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. the-client-secret\r\nTrace ID: 1","error_codes":[7000215]}"#;
        let mut script = Script::new(vec![(401, body.into())]);
        let error = client().sentinel().get_incident(&mut script, "id").unwrap_err();
        let Error::Auth(failure) = &error else { panic!("{error:?}") };
        assert_eq!(failure.code, "AADSTS7000215");
        assert!(!error.to_string().contains("the-client-secret"));
    }

    fn throttled() -> (u16, String) {
        (429, r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#.into())
    }

    #[test]
    fn transient_answers_are_retried_then_succeed() {
        let mut script = Script::new(vec![(503, "{}".into()), token(), throttled(), page(&["a"], None)]);
        let page = client().sentinel().list_incidents(&mut script, &ListOptions::default()).unwrap();
        assert_eq!(page.value.len(), 1);
        assert_eq!(script.sent.len(), 4, "the token request and the list were each retried once");
    }

    #[test]
    fn a_spent_budget_reports_throttled() {
        let mut script =
            Script::new(vec![token(), throttled(), throttled(), throttled(), throttled(), throttled(), throttled()]);
        let error = client().sentinel().list_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(matches!(error, Error::Throttled { .. }), "{error:?}");
        assert_eq!(script.sent.len(), 1 + 5, "the first try and max_retries (4) more");
    }

    #[test]
    fn a_refused_request_is_not_retried() {
        let mut script = Script::new(vec![token(), (400, r#"{"error":{"code":"BadRequest","message":"no"}}"#.into())]);
        assert!(matches!(
            client().sentinel().list_incidents(&mut script, &ListOptions::default()),
            Err(Error::BadRequest(_))
        ));
        assert_eq!(script.sent.len(), 2);
    }

    fn incident_json(etag: &str, labels: &[&str], owner: Option<&str>) -> (u16, String) {
        let labels: Vec<String> =
            labels.iter().map(|l| format!(r#"{{"labelName":"{l}","labelType":"User"}}"#)).collect();
        let owner = owner.map(|o| format!(r#","owner":{{"userPrincipalName":"{o}"}}"#)).unwrap_or_default();
        (
            200,
            format!(
                r#"{{"name":"i1","etag":"{etag}","properties":{{"title":"t","severity":"High","status":"New","labels":[{}]{owner}}}}}"#,
                labels.join(",")
            ),
        )
    }

    #[test]
    fn a_conflict_re_reads_and_re_applies_the_delta() {
        let conflict = (
            409,
            r#"{"error":{"code":"Conflict","message":"Newer version of resource exists. Data was not saved"}}"#.into(),
        );
        let mut script = Script::new(vec![
            token(),
            incident_json("e1", &["a"], None),
            conflict,
            incident_json("e2", &["a", "b"], Some("bob@contoso.com")),
            incident_json("e3", &["a", "b", "mine"], Some("bob@contoso.com")),
        ]);
        let update = IncidentUpdate {
            add_labels: vec!["mine".into()],
            severity: Some(super::super::incidents::Severity::Low),
            ..IncidentUpdate::default()
        };
        client().sentinel().update_incident(&mut script, "i1", &update).unwrap();
        let last_put: serde_json::Value = serde_json::from_slice(&script.sent[4].body).unwrap();
        assert_eq!(last_put["etag"], "e2", "the etag of the fresh read");
        let labels: Vec<&str> = last_put["properties"]["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["labelName"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["a", "b", "mine"], "the other writer's label survives");
        assert_eq!(last_put["properties"]["owner"]["userPrincipalName"], "bob@contoso.com", "and its owner");
        assert_eq!(last_put["properties"]["severity"], "Low");
    }

    const LONG_TOKEN: &str =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.c2lnbmF0dXJl";

    fn long_token() -> (u16, String) {
        (200, format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{LONG_TOKEN}"}}"#))
    }

    fn shows_no_part_of(error: &Error, secret: &str) -> bool {
        let shown = format!("{error} {error:?}");
        crate::core::redact::encoded_forms(secret).iter().all(|form| {
            let chars: Vec<char> = form.chars().collect();
            chars.windows(crate::core::redact::MIN_PART).all(|part| !shown.contains(&part.iter().collect::<String>()))
        })
    }

    #[test]
    fn a_401_echoing_the_bearer_token_is_redacted_before_the_token_is_forgotten() {
        let echo = format!(
            r#"{{"error":{{"code":"InvalidAuthenticationToken","message":"rejected header Authorization: Bearer {LONG_TOKEN}"}}}}"#
        );
        let mut script = Script::new(vec![long_token(), (401, echo)]);
        let error = client().sentinel().list_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(matches!(error, Error::Auth(_)), "{error:?}");
        assert!(error.to_string().contains("Bearer [redacted]"), "{error}");
        assert!(shows_no_part_of(&error, LONG_TOKEN), "{error}");
    }

    #[test]
    fn a_secret_echoed_in_any_encoding_or_cut_short_is_redacted() {
        let secret = "Abc8Q~xY9.zz_Secret-Value~2/long-enough-to-be-cut-by-any-excerpt-limit-".repeat(4);
        let config = ConnectionConfig {
            credential: Credential::ClientSecret(Secret::new(secret.clone())),
            ..crate::core::config::tests::loopback_config(crate::core::testing::BASE)
        };
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let json = serde_json::to_string(&secret).unwrap();
        let echoes = [
            format!(
                r#"{{"error":"invalid_client","error_description":"AADSTS7000215: got client_secret={form}&scope=x","error_codes":[7000215]}}"#
            ),
            format!(
                r#"{{"error":"invalid_client","error_description":"AADSTS7000215: got {}","error_codes":[7000215]}}"#,
                json.trim_matches('"')
            ),
            format!("<html>proxy echo: {form}</html>"),
            format!("{}{}", &secret[..150], "x".repeat(400)),
        ];
        for echo in echoes {
            let mut client = Client::new(Settings::from_config(config.clone()).unwrap());
            let mut script = Script::new(vec![(401, echo.clone())]);
            let error = client.sentinel().get_incident(&mut script, "id").unwrap_err();
            assert!(shows_no_part_of(&error, &secret), "{echo} was shown as {error}");
            assert!(error.to_string().contains("[redacted]"), "{error}");
        }
    }

    #[test]
    fn service_text_reaches_the_caller_without_control_characters() {
        let body = r#"{"error":{"code":"BadRequest","message":"bad ]8;;https://evilclick]8;; 
X-Forged: 1"}}"#;
        let mut script = Script::new(vec![token(), (400, body.into())]);
        let error = client().sentinel().list_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(!error.to_string().chars().any(char::is_control), "{error}");
    }

    #[test]
    fn a_redirect_is_refused_and_never_followed() {
        let mut script = Script::new(vec![token(), (302, String::new())]);
        let error = client().sentinel().list_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse(_)), "{error:?}");
        assert_eq!(script.sent.len(), 2);
    }

    #[test]
    fn a_poison_incident_gets_its_details_error_and_the_others_their_details() {
        let incident = |name: &str| {
            format!(
                r#"{{"name":"{name}","properties":{{"title":"t","severity":"High","status":"New","createdTimeUtc":"2026-01-01T00:00:0{}Z","lastModifiedTimeUtc":"2026-01-01T00:00:00Z"}}}}"#,
                name.len() % 10
            )
        };
        let list = format!(r#"{{"value":[{},{}]}}"#, incident("good"), incident("../x"));
        let mut script = Script::new(vec![
            token(),
            (200, list),
            (200, r#"{"value":[]}"#.into()),
            (200, r#"{"entities":[]}"#.into()),
        ]);
        // Merges off: the script answers the created scan only.
        let options = PollOptions {
            first_fetch: Some("2025-12-31T00:00:00Z".into()),
            include_details: true,
            ignore_merges: true,
            ..PollOptions::default()
        };
        let batch = client().sentinel().poll(&mut script, None, &options).unwrap();
        assert_eq!(batch.events.len(), 2);
        let by_name: Vec<(&str, bool)> =
            batch.events.iter().zip(&batch.details).map(|(e, d)| (e.incident.name.as_str(), d.is_ok())).collect();
        assert!(by_name.contains(&("good", true)) && by_name.contains(&("../x", false)), "{by_name:?}");
        assert!(!batch.cursor.is_empty());
    }

    /// A service for a poll with details over `count` incidents (`inc-00`,
    /// ...): the token, one page listing them oldest first, and each
    /// incident's alerts and entities, each named after its incident.
    /// `detail(incident, kind, asked_before)` gives a detail request's
    /// latency in ms and its status (a 429 asks for a 2 s wait).
    fn fan_out(count: usize, detail: impl Fn(usize, &str, u32) -> (u64, u16) + 'static) -> Simulated {
        let mut asked: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        Simulated::new(move |request: &Request| {
            let answer = |status: u16, body: String| Response { status, headers: vec![], body: body.into_bytes() };
            let path = request.url.path().to_owned();
            if path.ends_with("/oauth2/v2.0/token") {
                return (20, answer(200, token().1));
            }
            let Some((_, rest)) = path.split_once("/incidents/") else {
                let incidents: Vec<String> = (0..count)
                    .map(|i| {
                        format!(
                            r#"{{"name":"inc-{i:02}","properties":{{"title":"t","severity":"High","status":"New","createdTimeUtc":"2026-01-01T00:00:{i:02}Z","lastModifiedTimeUtc":"2026-01-01T00:00:{i:02}Z"}}}}"#
                        )
                    })
                    .collect();
                return (100, answer(200, format!(r#"{{"value":[{}]}}"#, incidents.join(","))));
            };
            let (name, kind) = rest.split_once('/').unwrap();
            let before = asked.entry(path.clone()).or_default();
            let (latency, status) = detail(name[4..].parse().unwrap(), kind, *before);
            *before += 1;
            let body = match (status, kind) {
                (200, "alerts") => format!(
                    r#"{{"value":[{{"name":"alert-{name}","kind":"SecurityAlert","properties":{{"alertDisplayName":"{name}"}}}}]}}"#
                ),
                (200, _) => {
                    format!(r#"{{"entities":[{{"name":"entity-{name}","kind":"Account","properties":{{}}}}]}}"#)
                }
                _ => r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#.into(),
            };
            let mut response = answer(status, body);
            if status == 429 {
                response.headers.push(("retry-after".into(), "2".into()));
            }
            (latency, response)
        })
    }

    fn poll_details(transport: &mut Simulated, concurrency: Option<u8>) -> Result<PollBatch, Error> {
        let options = PollOptions {
            first_fetch: Some("2025-12-31T00:00:00Z".into()),
            include_details: true,
            detail_concurrency: concurrency,
            ..PollOptions::default()
        };
        client().sentinel().poll(transport, None, &options)
    }

    /// The detail requests a simulated poll carried, in start order.
    fn detail_exchanges(transport: &Simulated) -> Vec<crate::core::testing::Exchange> {
        transport.exchanges.iter().filter(|e| e.request.url.path().contains("/incidents/")).cloned().collect()
    }

    /// Each event has its own incident's alerts and entities.
    fn assert_own_details(batch: &PollBatch) {
        assert_eq!(batch.details.len(), batch.events.len());
        for (event, details) in batch.events.iter().zip(&batch.details) {
            let name = &event.incident.name;
            let details = details.as_ref().unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(details.alerts[0].display_name.as_deref(), Some(name.as_str()));
            assert_eq!(details.entities[0].name, format!("entity-{name}"));
        }
    }

    #[test]
    fn details_slide_a_window_refilling_each_slot_as_soon_as_its_request_answers() {
        // Mixed latencies, 50 to 300 ms; the first request is the slowest.
        let latency = |incident: usize, kind: &str| match (incident, kind) {
            (0, "alerts") => 300,
            _ => 50 + 50 * ((incident * 7 + kind.len() * 3) % 5) as u64,
        };
        let mut wave_ms = 0;
        for concurrency in [1usize, 3, 8, 16] {
            let mut transport = fan_out(10, move |i, kind, _| (latency(i, kind), 200));
            let batch = poll_details(&mut transport, Some(concurrency as u8)).unwrap();
            assert_eq!(batch.events.len(), 10);
            assert_own_details(&batch);
            assert_eq!(transport.batches, [(20, concurrency)], "one window over every detail request");

            let details = detail_exchanges(&transport);
            let order: Vec<&str> = details.iter().map(|e| e.request.url.path()).collect();
            let expected: Vec<String> =
                (0..10).flat_map(|i| ["alerts", "entities"].map(|kind| format!("/inc-{i:02}/{kind}"))).collect();
            assert!(order.iter().zip(&expected).all(|(path, end)| path.ends_with(end.as_str())), "{order:?}");
            assert_eq!(transport.max_in_flight, concurrency.min(20));
            for exchange in &details {
                let t = exchange.started_ms;
                let in_flight = details.iter().filter(|e| e.started_ms <= t && e.answered_ms > t).count();
                assert!(in_flight <= concurrency, "{in_flight} in flight at {t} ms, limit {concurrency}");
            }
            if concurrency == 1 {
                assert!(details.windows(2).all(|pair| pair[1].started_ms == pair[0].answered_ms), "one at a time");
                continue;
            }
            if concurrency < 20 {
                let slowest_of_first = details[..concurrency].iter().map(|e| e.answered_ms).max().unwrap();
                assert!(
                    details[concurrency].started_ms < slowest_of_first,
                    "request {concurrency} waited for the slowest of the first {concurrency} ({} ms, not before {slowest_of_first} ms)",
                    details[concurrency].started_ms
                );
            }
            let took = details.iter().map(|e| e.answered_ms).max().unwrap() - details[0].started_ms;
            if concurrency == 8 {
                // What waves of 8 would have taken: each wave as long as its slowest request.
                let latencies: Vec<u64> =
                    (0..10).flat_map(|i| [latency(i, "alerts"), latency(i, "entities")]).collect();
                wave_ms = latencies.chunks(8).map(|wave| wave.iter().max().unwrap()).sum();
                assert!(took < wave_ms, "the window took {took} ms, waves would take {wave_ms} ms");
            }
        }
        assert!(wave_ms > 0);
    }

    #[test]
    fn a_throttled_detail_request_is_sent_again_after_its_wait_in_the_next_window() {
        let mut transport = fan_out(10, |i, kind, before| match (i, kind, before) {
            (3, "entities", 0) => (50, 429),
            _ => (100, 200),
        });
        let batch = poll_details(&mut transport, Some(4)).unwrap();
        assert_own_details(&batch);
        assert_eq!(transport.batches, [(20, 4), (1, 4)], "the retry goes in a window of its own");
        let details = detail_exchanges(&transport);
        assert_eq!(details.len(), 21);
        let first_round_end = details[..20].iter().map(|e| e.answered_ms).max().unwrap();
        let retry = &details[20];
        assert!(retry.request.url.path().ends_with("/inc-03/entities"));
        assert!(retry.started_ms >= first_round_end + 2000, "Retry-After: 2 was honoured");
        assert!(retry.request.headers[0].1.starts_with("Bearer "), "with its token");
    }

    #[test]
    fn a_detail_request_throttled_past_the_retry_policy_fails_alone() {
        let mut transport = fan_out(5, |i, kind, _| if (i, kind) == (2, "alerts") { (10, 429) } else { (10, 200) });
        let batch = poll_details(&mut transport, None).unwrap();
        assert_eq!(transport.batches, [(10, 8), (1, 8), (1, 8), (1, 8), (1, 8)], "the default 8, 4 retries");
        for (event, details) in batch.events.iter().zip(&batch.details) {
            if event.incident.name == "inc-02" {
                assert!(matches!(details, Err(Error::Throttled { .. })), "{details:?}");
            } else {
                assert!(details.is_ok(), "{details:?}");
            }
        }
    }

    #[test]
    fn a_detail_concurrency_outside_1_to_16_is_refused_before_any_request() {
        for concurrency in [0, 17, 255] {
            let mut transport = fan_out(3, |_, _, _| (10, 200));
            let error = poll_details(&mut transport, Some(concurrency)).unwrap_err();
            assert!(
                matches!(error, Error::InvalidInput { ref field, .. } if field == "detail-concurrency"),
                "{concurrency}: {error:?}"
            );
            assert!(transport.exchanges.is_empty());
        }
    }

    #[test]
    fn a_refused_token_is_forgotten() {
        let mut script = Script::new(vec![
            token(),
            (401, r#"{"error":{"code":"InvalidAuthenticationToken","message":"no"}}"#.into()),
            token(),
            page(&[], None),
        ]);
        let mut client = client();
        assert!(matches!(client.sentinel().list_incidents(&mut script, &ListOptions::default()), Err(Error::Auth(_))));
        client.sentinel().list_incidents(&mut script, &ListOptions::default()).unwrap();
        assert_eq!(script.sent.len(), 4, "a new token was requested after the 401");
    }
}
