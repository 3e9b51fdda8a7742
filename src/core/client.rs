//! The actions, driven over any [`Transport`]: the component passes its
//! `wasi:http` transport, unit tests a scripted one. All decisions (which URL,
//! which token, what an answer means) are made here or in the plain functions
//! this calls; the transport only moves bytes.

use url::Url;

use super::auth::{self, Api, TokenCache};
use super::config::{Credential, Settings};
use super::error::{Error, ServiceFailure};
use super::ids::validate_id;
use super::http::{Method, Request, Response, Secret, Timeouts};
use super::entities::{self, Alert, Entity};
use super::incidents::{self, Incident, IncidentList, ListOptions};
use super::check::{self, ApiCheck};
use super::comments::{self, Comment};
use super::query::{self, QueryOptions, QueryResult};
use super::relations::{self as rel, Relation, Task, TaskProperties, TaskUpdate};
use super::paging::{check_link, parse, Page, PageWalk};
use super::retry::{self, Decision};
use super::updates::{self, IncidentUpdate, NewIncident};
use super::poller::{self, Event, Phase, PollOptions, Progress, Scan};

/// The outside world the core needs: moving requests (errors are
/// `Error::Transport`), clocks, waiting, and randomness.
pub trait Transport {
    fn send(&mut self, request: &Request, timeouts: &Timeouts) -> Result<Response, Error>;

    /// Several requests at once; answers in the same order. The default sends
    /// them one after another; a transport that can overlap them should.
    fn send_all(&mut self, requests: &[Request], timeouts: &Timeouts) -> Vec<Result<Response, Error>> {
        requests.iter().map(|request| self.send(request, timeouts)).collect()
    }

    /// Seconds since the Unix epoch, for token expiry.
    fn now_unix_secs(&self) -> u64;

    /// A monotonic clock in milliseconds, for retry budgets.
    fn monotonic_millis(&self) -> u64;

    /// Waits before a retry.
    fn sleep(&mut self, duration: std::time::Duration);

    /// Randomness for backoff jitter and new ids.
    fn random_u64(&mut self) -> u64;
}

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

/// A poll reads at most this many pages; the rest waits for the next poll.
const MAX_POLL_PAGES: u32 = 100;
/// Detail requests in flight at once while enriching a batch: enough to hide
/// latency, few enough to stay inside Sentinel's per-5-minute read limits.
pub const DETAIL_CONCURRENCY: usize = 8;
/// Reads and re-applies of an update that keeps meeting 409 Conflict.
pub const MAX_CONFLICT_ATTEMPTS: u32 = 5;

/// An event with its incident's alerts and entities, or why they are missing.
#[derive(Clone, Debug, PartialEq)]
pub struct Details {
    pub alerts: Vec<Alert>,
    pub entities: Vec<Entity>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IncidentPage {
    pub incidents: Vec<Incident>,
    pub continuation: Option<String>,
}

/// One tenant's connection: validated settings and its token cache.
#[derive(Debug)]
pub struct Client {
    settings: Settings,
    tokens: TokenCache,
}

impl Client {
    pub fn new(settings: Settings) -> Self {
        Client { settings, tokens: TokenCache::default() }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn list_incidents(&mut self, transport: &mut impl Transport, options: &ListOptions) -> Result<IncidentPage, Error> {
        let url = self.first_page_url(options)?;
        let list = self.fetch_page(transport, url)?;
        Ok(IncidentPage { incidents: list.value, continuation: list.next_link })
    }

    /// Every page, following each `nextLink` verbatim through a [`PageWalk`].
    pub fn list_all_incidents(&mut self, transport: &mut impl Transport, options: &ListOptions) -> Result<Vec<Incident>, Error> {
        let first = self.list_incidents(transport, options)?;
        let mut walk = PageWalk::new(self.settings.endpoints.arm.base.clone(), options.max_pages);
        let mut all = first.incidents;
        let mut next = first.continuation;
        while let Some(link) = next {
            let list = self.fetch_page(transport, walk.next(&link)?)?;
            all.extend(list.value);
            next = list.next_link;
        }
        Ok(all)
    }

    pub fn get_incident(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Incident, Error> {
        let url = incidents::get_url(&self.settings, incident_id)?;
        let response = self.send_arm(transport, Method::Get, url)?;
        incidents::parse_incident(&response.body)
    }

    /// One poll: the created scan, then (with updates) the modified scan,
    /// each until the batch is full or its pages end. See [`poller`].
    pub fn poll(&mut self, transport: &mut impl Transport, cursor: Option<&str>, options: &PollOptions) -> Result<PollBatch, Error> {
        poller::validate(options)?;
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(transport.now_unix_secs());
        let mut scan = Scan::new(poller::starting_cursor(cursor, options, now)?, options);
        let mut more = self.run_scan(transport, &mut scan, Phase::Created)?;
        if options.include_updates && !more {
            more = self.run_scan(transport, &mut scan, Phase::Modified)?;
        }
        let (events, cursor) = scan.finish();
        let names: Vec<&str> = events.iter().map(|e| e.incident.name.as_str()).collect();
        let details = if options.include_details { self.fetch_details(transport, &names)? } else { Vec::new() };
        Ok(PollBatch { events, details, watermark: poller::format_time(cursor.watermark_micros()), cursor: cursor.encode(), more })
    }

    /// GET, merge the delta, PUT with the etag read; on 409 read again and
    /// re-apply the same delta, a bounded number of times.
    pub fn update_incident(&mut self, transport: &mut impl Transport, incident_id: &str, update: &IncidentUpdate) -> Result<Incident, Error> {
        updates::validate_update(update)?;
        let url = incidents::get_url(&self.settings, incident_id)?;
        let mut attempt = 1;
        loop {
            let current = incidents::parse_incident(&self.send_arm(transport, Method::Get, url.clone())?.body)?;
            let next = updates::apply(&current, update);
            if next == current {
                return Ok(current);
            }
            match self.send_arm_body(transport, Method::Put, url.clone(), Some(updates::put_body(&next))) {
                Err(Error::Conflict(_)) if attempt < MAX_CONFLICT_ATTEMPTS => attempt += 1,
                result => return incidents::parse_incident(&result?.body),
            }
        }
    }

    /// PUT to a new id: the caller's GUID, or a random one.
    pub fn create_incident(&mut self, transport: &mut impl Transport, incident: &NewIncident, id: Option<&str>) -> Result<Incident, Error> {
        updates::validate_new(incident)?;
        let id = match id {
            Some(id) => {
                super::config::validate_guid("id", id)?;
                id.to_owned()
            }
            None => random_guid(transport),
        };
        let url = incidents::get_url(&self.settings, &id)?;
        let response = self.send_arm_body(transport, Method::Put, url, Some(updates::put_body(&updates::from_new(incident))))?;
        incidents::parse_incident(&response.body)
    }

    pub fn delete_incident(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<(), Error> {
        let url = incidents::get_url(&self.settings, incident_id)?;
        self.send_arm(transport, Method::Delete, url).map(|_| ())
    }

    /// Every comment, following next links.
    pub fn list_comments(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Comment>, Error> {
        let url = comments::list_url(&self.settings, incident_id)?;
        self.all_pages(transport, url, "comments")
    }

    /// Posts the message, split into ordered parts if it is too long, each
    /// under an id derived from the incident and the key (or the message):
    /// calling again with the same input never posts twice.
    pub fn add_comment(&mut self, transport: &mut impl Transport, incident_id: &str, message: &str, key: Option<&str>) -> Result<Vec<Comment>, Error> {
        comments::validate_message(message, key)?;
        validate_id("incident-id", incident_id)?;
        let mut posted = Vec::new();
        for (part, text) in comments::split_message(message).iter().enumerate() {
            let id = comments::comment_id(incident_id, message, key, part);
            let url = comments::comment_url(&self.settings, incident_id, &id)?;
            let response = self.send_arm_body(transport, Method::Put, url, Some(comments::put_body(text)))?;
            posted.push(comments::parse_comment(&response.body)?);
        }
        Ok(posted)
    }

    pub fn delete_comment(&mut self, transport: &mut impl Transport, incident_id: &str, comment_id: &str) -> Result<(), Error> {
        let url = comments::comment_url(&self.settings, incident_id, comment_id)?;
        self.send_arm(transport, Method::Delete, url).map(|_| ())
    }

    /// Every item of a pageable child list, following next links.
    fn all_pages<T: for<'de> serde::Deserialize<'de>>(&mut self, transport: &mut impl Transport, url: Url, what: &str) -> Result<Vec<T>, Error> {
        let mut page: Page<T> = parse(&self.send_arm(transport, Method::Get, url)?.body, what)?;
        let mut walk = PageWalk::new(self.settings.endpoints.arm.base.clone(), None);
        let mut all = std::mem::take(&mut page.value);
        while let Some(link) = page.next_link.take() {
            page = parse(&self.send_arm(transport, Method::Get, walk.next(&link)?)?.body, what)?;
            all.append(&mut page.value);
        }
        Ok(all)
    }

    pub fn list_relations(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Relation>, Error> {
        let url = rel::relations_url(&self.settings, incident_id, None)?;
        self.all_pages(transport, url, "relations")
    }

    /// Links a resource; without a name the relation's name derives from the
    /// resource, so linking it again is the same relation.
    pub fn add_relation(&mut self, transport: &mut impl Transport, incident_id: &str, related_resource_id: &str, name: Option<&str>) -> Result<Relation, Error> {
        rel::validate_resource_id("related-resource-id", related_resource_id)?;
        let name = name.map_or_else(|| rel::default_relation_name(incident_id, related_resource_id), str::to_owned);
        rel::validate_relation_name(&name)?;
        let url = rel::relations_url(&self.settings, incident_id, Some(&name))?;
        let response = self.send_arm_body(transport, Method::Put, url, Some(rel::relation_body(related_resource_id)))?;
        parse(&response.body, "relation")
    }

    pub fn delete_relation(&mut self, transport: &mut impl Transport, incident_id: &str, name: &str) -> Result<(), Error> {
        rel::validate_relation_name(name)?;
        let url = rel::relations_url(&self.settings, incident_id, Some(name))?;
        self.send_arm(transport, Method::Delete, url).map(|_| ())
    }

    pub fn list_tasks(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Task>, Error> {
        let url = rel::tasks_url(&self.settings, incident_id, None)?;
        self.all_pages(transport, url, "tasks")
    }

    /// Adds a task with status New. Without an id, the id derives from the
    /// incident and the title, so a retried call adds one task.
    pub fn add_task(&mut self, transport: &mut impl Transport, incident_id: &str, title: &str, description: Option<&str>, id: Option<&str>) -> Result<Task, Error> {
        rel::validate_task_text(Some(title), description)?;
        let id = id.map_or_else(|| rel::default_task_id(incident_id, title), str::to_owned);
        let url = rel::tasks_url(&self.settings, incident_id, Some(&id))?;
        let properties = TaskProperties { title: title.to_owned(), status: "New".into(), description: description.map(str::to_owned), ..TaskProperties::default() };
        let response = self.send_arm_body(transport, Method::Put, url, Some(rel::task_body(&properties, None)))?;
        parse(&response.body, "task")
    }

    /// GET, merge, PUT with the etag; re-applied on 409 like incidents.
    pub fn update_task(&mut self, transport: &mut impl Transport, incident_id: &str, task_id: &str, update: &TaskUpdate) -> Result<Task, Error> {
        if *update == TaskUpdate::default() {
            return Err(Error::invalid("update", "sets nothing: give a title, description or status"));
        }
        rel::validate_task_text(update.title.as_deref(), update.description.as_deref())?;
        if let Some(status) = &update.status {
            rel::validate_task_status(status)?;
        }
        let url = rel::tasks_url(&self.settings, incident_id, Some(task_id))?;
        let mut attempt = 1;
        loop {
            let current: Task = parse(&self.send_arm(transport, Method::Get, url.clone())?.body, "task")?;
            let body = rel::task_body(&rel::apply_task_update(&current, update), current.etag.as_deref());
            match self.send_arm_body(transport, Method::Put, url.clone(), Some(body)) {
                Err(Error::Conflict(_)) if attempt < MAX_CONFLICT_ATTEMPTS => attempt += 1,
                result => return parse(&result?.body, "task"),
            }
        }
    }

    pub fn delete_task(&mut self, transport: &mut impl Transport, incident_id: &str, task_id: &str) -> Result<(), Error> {
        let url = rel::tasks_url(&self.settings, incident_id, Some(task_id))?;
        self.send_arm(transport, Method::Delete, url).map(|_| ())
    }

    /// A KQL query against the workspace, typed results.
    pub fn search_events(&mut self, transport: &mut impl Transport, text: &str, options: &QueryOptions) -> Result<QueryResult, Error> {
        query::validate(&self.settings, text, options)?;
        let token = self.token(transport, Api::LogAnalytics)?;
        let request = query::request(&self.settings, text, options, token.expose())?;
        let answer = self.exchange(transport, &request);
        let response = self.checked_for(Api::LogAnalytics, answer)?;
        let mut result = query::parse(response.status, &response.body)?;
        // A partial error is the service's text beside the data: it may echo a secret too.
        result.partial_error = result.partial_error.map(|failure| self.scrub_failure(failure));
        Ok(result)
    }

    /// Per API: a token, one cheap read, and what its permissions allow.
    /// Failures are reported per API, never as a whole.
    pub fn check_connection(&mut self, transport: &mut impl Transport) -> Vec<ApiCheck> {
        let checks: Vec<ApiCheck> = Api::ALL.iter().map(|api| self.check_api(transport, *api)).collect();
        checks.into_iter().map(|check| ApiCheck { failure: check.failure.map(|error| self.scrub(error)), ..check }).collect()
    }

    fn check_api(&mut self, transport: &mut impl Transport, api: Api) -> ApiCheck {
        let token = match self.token(transport, api) {
            Ok(token) => token,
            Err(error) => {
                return ApiCheck { api, token_ok: false, read_ok: None, failure: Some(error), roles: Vec::new(), allowed_actions: Vec::new() }
            }
        };
        let roles = check::roles(token.expose());
        let read = match api {
            Api::Arm => Some(self.list_incidents(transport, &ListOptions { top: Some(1), ..ListOptions::default() }).map(|_| ())),
            Api::LogAnalytics if self.settings.workspace_id.is_some() => {
                Some(self.search_events(transport, "print connection_check = 1", &QueryOptions::default()).map(|_| ()))
            }
            // Graph: one incident, when the roles allow reading them.
            Api::Graph if check::permission_for("graph-security.list-incidents").is_some_and(|p| check::covers(&roles, p)) => {
                let one = super::graph::security::GraphListOptions { top: Some(1), ..Default::default() };
                Some(self.list_graph_incidents(transport, &one).map(|_| ()))
            }
            // Nothing to read: the token and its roles are the check.
            Api::LogAnalytics | Api::Graph => None,
        };
        let read_ok = read.as_ref().map(Result::is_ok);
        ApiCheck {
            api,
            token_ok: true,
            read_ok,
            failure: read.and_then(Result::err),
            allowed_actions: check::allowed_actions(api, &roles, read_ok),
            roles,
        }
    }

    pub fn list_alerts(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Alert>, Error> {
        let url = entities::alerts_url(&self.settings, incident_id)?;
        let response = self.send_arm(transport, Method::Post, url)?;
        Ok(entities::parse_value_list(&response.body, "alerts")?.into_iter().map(Alert::from_entity).collect())
    }

    pub fn list_entities(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Entity>, Error> {
        let url = entities::entities_url(&self.settings, incident_id)?;
        entities::parse_entities(&self.send_arm(transport, Method::Post, url)?.body)
    }

    pub fn list_bookmarks(&mut self, transport: &mut impl Transport, incident_id: &str) -> Result<Vec<Entity>, Error> {
        let url = entities::bookmarks_url(&self.settings, incident_id)?;
        entities::parse_value_list(&self.send_arm(transport, Method::Post, url)?.body, "bookmarks")
    }

    /// Alerts and entities of each incident, `DETAIL_CONCURRENCY` requests in
    /// flight at a time. A failure is kept per incident, never dropped.
    /// An incident whose name cannot make a URL (a hostile or broken answer)
    /// gets its error in its own entry; it never fails the batch.
    fn fetch_details(&mut self, transport: &mut impl Transport, incident_names: &[&str]) -> Result<Vec<Result<Details, Error>>, Error> {
        let token = self.token(transport, Api::Arm)?;
        let urls: Vec<Result<[Url; 2], Error>> = incident_names
            .iter()
            .map(|name| Ok([entities::alerts_url(&self.settings, name)?, entities::entities_url(&self.settings, name)?]))
            .collect();
        let requests: Vec<Request> = urls.iter().flatten().flatten().map(|url| self.bearer_request(Method::Post, url.clone(), &token)).collect();
        let mut answers = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(DETAIL_CONCURRENCY) {
            answers.extend(transport.send_all(chunk, &self.settings.timeouts));
        }
        let checked: Vec<Result<Response, Error>> = answers.into_iter().map(|answer| self.checked(answer)).collect();
        let mut answers = checked.into_iter();
        let mut details = Vec::with_capacity(incident_names.len());
        for urls in urls {
            let detail = match urls {
                Err(error) => Err(error),
                Ok(_) => match (answers.next(), answers.next()) {
                    (Some(alerts), Some(entities)) => read_details(alerts, entities),
                    _ => Err(Error::transport("a detail request got no answer", "Retry the poll.")),
                },
            };
            details.push(detail.map_err(|error| self.scrub(error)));
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
        let mut url = incidents::list_url(&self.settings, &list)?;
        let mut walk = PageWalk::new(self.settings.endpoints.arm.base.clone(), Some(MAX_POLL_PAGES + 1));
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
            return incidents::list_url(&self.settings, options);
        };
        if options.filter.is_some() || options.orderby.is_some() || options.top.is_some() {
            return Err(Error::invalid("continuation", "cannot be combined with filter, orderby or top: the link already carries them"));
        }
        incidents::validate_list_options(options)?;
        check_link(link, &self.settings.endpoints.arm.base).map_err(|reason| Error::invalid("continuation", reason))
    }

    fn fetch_page(&mut self, transport: &mut impl Transport, url: Url) -> Result<IncidentList, Error> {
        let response = self.send_arm(transport, Method::Get, url)?;
        incidents::parse_list(&response.body)
    }

    /// Sends an ARM request with its bearer token, retrying transient
    /// answers (every ARM call here is idempotent: GET, PUT, DELETE and the
    /// read-only POSTs); a final non-2xx answer becomes the typed error.
    fn send_arm(&mut self, transport: &mut impl Transport, method: Method, url: Url) -> Result<Response, Error> {
        self.send_arm_body(transport, method, url, None)
    }

    fn send_arm_body(&mut self, transport: &mut impl Transport, method: Method, url: Url, body: Option<Vec<u8>>) -> Result<Response, Error> {
        let token = self.token(transport, Api::Arm)?;
        let mut request = self.bearer_request(method, url, &token);
        if let Some(body) = body {
            request = request.json_body(body);
        }
        let answer = self.exchange(transport, &request);
        self.checked(answer)
    }

    /// Sends a Graph request with its bearer token, retrying transient
    /// answers (429 and 503 with their `Retry-After`); a final non-2xx answer
    /// becomes the typed error. Every Graph call here is safe to repeat.
    pub(crate) fn send_graph(&mut self, transport: &mut impl Transport, method: Method, url: Url, body: Option<Vec<u8>>, answer_weight: u32) -> Result<Response, Error> {
        let token = self.token(transport, Api::Graph)?;
        let mut request = self.bearer_request(method, url, &token).answer_weight(answer_weight);
        if let Some(body) = body {
            request = request.json_body(body);
        }
        let answer = self.exchange(transport, &request);
        self.checked_for(Api::Graph, answer)
    }

    /// The Graph token's application permissions, as its `roles` claim shows
    /// them (empty when no token is at hand or it is opaque).
    pub(crate) fn graph_roles(&self, now: u64) -> Vec<String> {
        let token = auth::host_token(&self.settings, Api::Graph).ok().flatten().or_else(|| self.tokens.get(Api::Graph, now));
        token.map(|t| check::roles(t.expose())).unwrap_or_default()
    }

    /// Sends, and again after a wait while the answer is transient and the
    /// retry policy allows; returns the last answer.
    fn exchange(&mut self, transport: &mut impl Transport, request: &Request) -> Result<Response, Error> {
        let started = transport.monotonic_millis();
        let mut attempt = 0;
        loop {
            let response = transport.send(request, &self.settings.timeouts)?;
            if response.is_success() {
                return Ok(response);
            }
            let elapsed = std::time::Duration::from_millis(transport.monotonic_millis().saturating_sub(started));
            let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(transport.now_unix_secs());
            match retry::decide(&self.settings.retry, &response, attempt, elapsed, now, transport.random_u64()) {
                Decision::RetryAfter(delay) => transport.sleep(delay),
                Decision::GiveUp => return Ok(response),
            }
            attempt += 1;
        }
    }

    /// A bearer-authenticated JSON request (ARM and Graph alike).
    fn bearer_request(&self, method: Method, url: Url, token: &Secret) -> Request {
        Request::new(method, url).header("authorization", format!("Bearer {}", token.expose())).header("accept", "application/json")
    }

    /// A transport result as the caller sees it: success, or the typed error, scrubbed.
    fn checked(&mut self, answer: Result<Response, Error>) -> Result<Response, Error> {
        self.checked_for(Api::Arm, answer)
    }

    fn checked_for(&mut self, api: Api, answer: Result<Response, Error>) -> Result<Response, Error> {
        let response = answer.map_err(|e| self.scrub(e))?;
        if response.is_success() {
            return Ok(response);
        }
        // Scrubbed while the refused token is still known: a 401 body may echo it.
        let error = self.scrub(Error::from_service_response(&response));
        if response.status == 401 {
            // The service refused the token before it expired (revoked, or a
            // clock skew): the next call gets a fresh one.
            self.tokens.forget(api);
        }
        Err(error)
    }

    fn token(&mut self, transport: &mut impl Transport, api: Api) -> Result<Secret, Error> {
        if let Some(token) = auth::host_token(&self.settings, api)? {
            return Ok(token.clone());
        }
        let now = transport.now_unix_secs();
        if let Some(token) = self.tokens.get(api, now) {
            return Ok(token.clone());
        }
        let Credential::ClientSecret(secret) = &self.settings.credential else {
            return Err(Error::auth_local("NoCredential", "the connection has no credential for this API", "Configure a client secret."));
        };
        let request = auth::token_request(&self.settings, secret, api);
        // Retried only on transient answers (5xx, 429, 408): a refused secret is final.
        let response = self.exchange(transport, &request).map_err(|e| self.scrub(e))?;
        let token = auth::parse_token_response(&response, now).map_err(|e| self.scrub(e))?;
        let value = token.value.clone();
        self.tokens.put(api, token);
        Ok(value)
    }

    /// Removes the client secret and every token from an error's text (see
    /// [`Error::scrub`]). Every error a caller sees has passed through here.
    pub fn scrub(&self, error: Error) -> Error {
        error.scrub(&self.secrets())
    }

    /// A service's failure returned beside data (a KQL partial error), made safe the same way.
    pub fn scrub_failure(&self, failure: ServiceFailure) -> ServiceFailure {
        failure.scrub(&self.secrets())
    }

    fn secrets(&self) -> Vec<&str> {
        let mut secrets = self.settings.secrets();
        secrets.extend(self.tokens.secrets());
        secrets
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

    use crate::core::testing::{client, token, Script, BASE};

    fn page(names: &[&str], next: Option<&str>) -> (u16, String) {
        let value: Vec<String> =
            names.iter().map(|n| format!(r#"{{"name":"{n}","properties":{{"title":"t","severity":"High","status":"New"}}}}"#)).collect();
        let next = next.map(|link| format!(r#","nextLink":"{link}""#)).unwrap_or_default();
        (200, format!(r#"{{"value":[{}]{next}}}"#, value.join(",")))
    }

    #[test]
    fn walks_pages_following_next_links_verbatim_and_reuses_the_token() {
        let link = format!("{BASE}/subscriptions/x/incidents?api-version=2025-09-01&%24top=1&%24skipToken=opaque%3D%3D");
        let mut script = Script::new(vec![token(), page(&["a"], Some(&link)), page(&["b"], None)]);
        let all = client().list_all_incidents(&mut script, &ListOptions::default()).unwrap();
        assert_eq!(all.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(script.sent.len(), 3, "one token request for both pages");
        assert_eq!(script.sent[2].url.as_str(), link);
        assert_eq!(script.sent[2].headers[0], ("authorization".into(), "Bearer tok-123".into()));
    }

    #[test]
    fn a_next_link_to_another_origin_is_not_followed() {
        let mut script = Script::new(vec![token(), page(&["a"], Some("https://evil.example/steal"))]);
        let error = client().list_all_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse(_)));
        assert_eq!(script.sent.len(), 2, "nothing sent to the other origin");
    }

    #[test]
    fn a_looping_next_link_ends_with_an_error() {
        let link = format!("{BASE}/same?$skipToken=1");
        let mut script = Script::new(vec![token(), page(&["a"], Some(&link)), page(&["b"], Some(&link))]);
        assert!(matches!(client().list_all_incidents(&mut script, &ListOptions::default()), Err(Error::InvalidResponse(_))));
    }

    #[test]
    fn invalid_ids_are_refused_before_any_request() {
        let mut script = Script::new(vec![]);
        let error = client().get_incident(&mut script, "../x").unwrap_err();
        assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "incident-id"));
        assert!(script.sent.is_empty());
    }

    #[test]
    fn continuation_must_stay_on_the_arm_origin_and_stand_alone() {
        let mut script = Script::new(vec![]);
        let foreign = ListOptions { continuation: Some("https://evil.example/x".into()), ..ListOptions::default() };
        assert!(matches!(client().list_incidents(&mut script, &foreign), Err(Error::InvalidInput { .. })));
        let mixed = ListOptions { continuation: Some(format!("{BASE}/x")), top: Some(5), ..ListOptions::default() };
        assert!(matches!(client().list_incidents(&mut script, &mixed), Err(Error::InvalidInput { .. })));
        assert!(script.sent.is_empty());
    }

    #[test]
    fn a_wrong_secret_is_an_auth_error_without_the_secret() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. the-client-secret\r\nTrace ID: 1","error_codes":[7000215]}"#;
        let mut script = Script::new(vec![(401, body.into())]);
        let error = client().get_incident(&mut script, "id").unwrap_err();
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
        let page = client().list_incidents(&mut script, &ListOptions::default()).unwrap();
        assert_eq!(page.incidents.len(), 1);
        assert_eq!(script.sent.len(), 4, "the token request and the list were each retried once");
    }

    #[test]
    fn a_spent_budget_reports_throttled() {
        let mut script = Script::new(vec![token(), throttled(), throttled(), throttled(), throttled(), throttled(), throttled()]);
        let error = client().list_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(matches!(error, Error::Throttled { .. }), "{error:?}");
        assert_eq!(script.sent.len(), 1 + 5, "the first try and max_retries (4) more");
    }

    #[test]
    fn a_refused_request_is_not_retried() {
        let mut script = Script::new(vec![token(), (400, r#"{"error":{"code":"BadRequest","message":"no"}}"#.into())]);
        assert!(matches!(client().list_incidents(&mut script, &ListOptions::default()), Err(Error::BadRequest(_))));
        assert_eq!(script.sent.len(), 2);
    }

    fn incident_json(etag: &str, labels: &[&str], owner: Option<&str>) -> (u16, String) {
        let labels: Vec<String> = labels.iter().map(|l| format!(r#"{{"labelName":"{l}","labelType":"User"}}"#)).collect();
        let owner = owner.map(|o| format!(r#","owner":{{"userPrincipalName":"{o}"}}"#)).unwrap_or_default();
        (200, format!(r#"{{"name":"i1","etag":"{etag}","properties":{{"title":"t","severity":"High","status":"New","labels":[{}]{owner}}}}}"#, labels.join(",")))
    }

    #[test]
    fn a_conflict_re_reads_and_re_applies_the_delta() {
        let conflict = (409, r#"{"error":{"code":"Conflict","message":"Newer version of resource exists. Data was not saved"}}"#.into());
        let mut script = Script::new(vec![
            token(),
            incident_json("e1", &["a"], None),
            conflict,
            incident_json("e2", &["a", "b"], Some("bob@contoso.com")),
            incident_json("e3", &["a", "b", "mine"], Some("bob@contoso.com")),
        ]);
        let update = IncidentUpdate { add_labels: vec!["mine".into()], severity: Some(super::incidents::Severity::Low), ..IncidentUpdate::default() };
        client().update_incident(&mut script, "i1", &update).unwrap();
        let last_put: serde_json::Value = serde_json::from_slice(&script.sent[4].body).unwrap();
        assert_eq!(last_put["etag"], "e2", "the etag of the fresh read");
        let labels: Vec<&str> = last_put["properties"]["labels"].as_array().unwrap().iter().map(|l| l["labelName"].as_str().unwrap()).collect();
        assert_eq!(labels, ["a", "b", "mine"], "the other writer's label survives");
        assert_eq!(last_put["properties"]["owner"]["userPrincipalName"], "bob@contoso.com", "and its owner");
        assert_eq!(last_put["properties"]["severity"], "Low");
    }

    const LONG_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQuYXp1cmUuY29tIn0.c2lnbmF0dXJl";

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
        let echo = format!(r#"{{"error":{{"code":"InvalidAuthenticationToken","message":"rejected header Authorization: Bearer {LONG_TOKEN}"}}}}"#);
        let mut script = Script::new(vec![long_token(), (401, echo)]);
        let error = client().list_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(matches!(error, Error::Auth(_)), "{error:?}");
        assert!(error.to_string().contains("Bearer [redacted]"), "{error}");
        assert!(shows_no_part_of(&error, LONG_TOKEN), "{error}");
    }

    #[test]
    fn a_secret_echoed_in_any_encoding_or_cut_short_is_redacted() {
        let secret = "Abc8Q~xY9.zz_Secret-Value~2/long-enough-to-be-cut-by-any-excerpt-limit-".repeat(4);
        let config = crate::core::config::ConnectionConfig { credential: Credential::ClientSecret(Secret::new(secret.clone())), ..crate::core::config::tests::loopback_config(crate::core::testing::BASE) };
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let json = serde_json::to_string(&secret).unwrap();
        let echoes = [
            format!(r#"{{"error":"invalid_client","error_description":"AADSTS7000215: got client_secret={form}&scope=x","error_codes":[7000215]}}"#),
            format!(r#"{{"error":"invalid_client","error_description":"AADSTS7000215: got {}","error_codes":[7000215]}}"#, json.trim_matches('"')),
            format!("<html>proxy echo: {form}</html>"),
            format!("{}{}", &secret[..150], "x".repeat(400)),
        ];
        for echo in echoes {
            let mut client = Client::new(Settings::from_config(config.clone()).unwrap());
            let mut script = Script::new(vec![(401, echo.clone())]);
            let error = client.get_incident(&mut script, "id").unwrap_err();
            assert!(shows_no_part_of(&error, &secret), "{echo} was shown as {error}");
            assert!(error.to_string().contains("[redacted]"), "{error}");
        }
    }

    #[test]
    fn service_text_reaches_the_caller_without_control_characters() {
        let body = r#"{"error":{"code":"BadRequest","message":"bad ]8;;https://evilclick]8;; 
X-Forged: 1"}}"#;
        let mut script = Script::new(vec![token(), (400, body.into())]);
        let error = client().list_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(!error.to_string().chars().any(char::is_control), "{error}");
    }

    #[test]
    fn a_redirect_is_refused_and_never_followed() {
        let mut script = Script::new(vec![token(), (302, String::new())]);
        let error = client().list_incidents(&mut script, &ListOptions::default()).unwrap_err();
        assert!(matches!(error, Error::InvalidResponse(_)), "{error:?}");
        assert_eq!(script.sent.len(), 2);
    }

    #[test]
    fn a_poison_incident_gets_its_details_error_and_the_others_their_details() {
        let incident = |name: &str| format!(r#"{{"name":"{name}","properties":{{"title":"t","severity":"High","status":"New","createdTimeUtc":"2026-01-01T00:00:0{}Z","lastModifiedTimeUtc":"2026-01-01T00:00:00Z"}}}}"#, name.len() % 10);
        let list = format!(r#"{{"value":[{},{}]}}"#, incident("good"), incident("../x"));
        let mut script = Script::new(vec![token(), (200, list), (200, r#"{"value":[]}"#.into()), (200, r#"{"entities":[]}"#.into())]);
        let options = PollOptions { first_fetch: Some("2025-12-31T00:00:00Z".into()), include_details: true, ..PollOptions::default() };
        let batch = client().poll(&mut script, None, &options).unwrap();
        assert_eq!(batch.events.len(), 2);
        let by_name: Vec<(&str, bool)> = batch.events.iter().zip(&batch.details).map(|(e, d)| (e.incident.name.as_str(), d.is_ok())).collect();
        assert!(by_name.contains(&("good", true)) && by_name.contains(&("../x", false)), "{by_name:?}");
        assert!(!batch.cursor.is_empty());
    }

    #[test]
    fn a_refused_token_is_forgotten() {
        let mut script = Script::new(vec![token(), (401, r#"{"error":{"code":"InvalidAuthenticationToken","message":"no"}}"#.into()), token(), page(&[], None)]);
        let mut client = client();
        assert!(matches!(client.list_incidents(&mut script, &ListOptions::default()), Err(Error::Auth(_))));
        client.list_incidents(&mut script, &ListOptions::default()).unwrap();
        assert_eq!(script.sent.len(), 4, "a new token was requested after the 401");
    }
}
