//! The Graph actions, driven over any [`Transport`] like the Sentinel ones.
//! Containment always runs the same steps: refuse a listed account, or a
//! group listed by id as the target, before any request; resolve the user;
//! refuse a protected one (listed by its other identifier, or a member of a
//! protected group) and a protected target group; then send the planned
//! request, or in a dry run return it unsent.

use serde_json::Value;
use url::Url;

use super::comments;
use super::containment::{self, ContainmentAction, ContainmentResult};
use super::hunting::{self, HuntingOptions};
use super::merging::{self, MergeOutcome};
use super::poller::{self, GraphEvent, GraphPollBatch, GraphPollOptions, Progress, Scan};
use super::security::{
    self, Collection, GraphAlert, GraphAlertUpdate, GraphComment, GraphIncident, GraphIncidentUpdate, GraphListOptions,
};
use super::users::{self, GraphUser, GroupRef, RiskyUser, UserRef};
use super::{with_query, PlannedRequest};
use crate::core::auth::Api;
use crate::core::check;
use crate::core::client::{Client, Transport};
use crate::core::config::Settings;
use crate::core::error::Error;
use crate::core::http::{Method, Request, Response, TABLE_ANSWER_WEIGHT};
use crate::core::kql::Table;
use crate::core::paging::{self, check_link, parse, Page};
use crate::core::retry;
use crate::core::sentinel::poller::{format_time, EventKind};

/// A page of a list asked with `$count=true`.
#[derive(serde::Deserialize)]
struct CountedPage<T = GraphIncident> {
    value: Vec<T>,
    #[serde(default, rename = "@odata.nextLink")]
    next_link: Option<String>,
    #[serde(default, rename = "@odata.count")]
    count: Option<u64>,
    /// The answer's `Date`, in microseconds.
    #[serde(skip)]
    served_at: Option<i64>,
}

/// An HTTP `Date` in microseconds since the epoch; anything else is none.
fn served_at(date: &str) -> Option<i64> {
    let at = httpdate::parse_http_date(date).ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(at.as_micros()).ok()
}

/// The manifest entry of the Graph poller's reads.
const POLL: &str = "graph-security.poll";
const GET_ALERT: &str = "graph-security.get-alert";
/// Pages of one microsecond's incidents a poll walks at most (5,000 incidents).
const MAX_INSTANT_PAGES: u32 = 100;
/// The manifest entry of the reads that apply protected groups.
const PROTECTED_GROUPS_CHECK: &str = "containment protected-groups check";
/// The manifest entry that lets a group with hidden membership be checked.
const PROTECTED_HIDDEN_GROUPS_CHECK: &str = "containment protected-hidden-groups check";

/// The Graph half of [`Client`]: security (incidents, alerts, hunting) and
/// Entra ID containment.
pub struct Graph<'a> {
    client: &'a mut Client,
}

impl<'a> Graph<'a> {
    pub(crate) fn new(client: &'a mut Client) -> Self {
        Graph { client }
    }

    fn settings(&self) -> &Settings {
        self.client.settings()
    }

    /// The connection check's Graph read: one incident.
    pub(crate) fn probe(&mut self, transport: &mut impl Transport) -> Result<(), Error> {
        self.list_incidents(transport, &GraphListOptions { top: Some(1), ..Default::default() }).map(|_| ())
    }

    pub fn list_incidents(
        &mut self,
        transport: &mut impl Transport,
        options: &GraphListOptions,
    ) -> Result<Page<GraphIncident>, Error> {
        let page = self.security_page(transport, Collection::Incidents, options)?;
        Ok(Page {
            value: page.value.into_iter().map(security::incident_from_value).collect::<Result<_, _>>()?,
            next_link: page.next_link,
        })
    }

    pub fn list_all_incidents(
        &mut self,
        transport: &mut impl Transport,
        options: &GraphListOptions,
    ) -> Result<Vec<GraphIncident>, Error> {
        let values = self.security_walk(transport, Collection::Incidents, options)?;
        values.into_iter().map(security::incident_from_value).collect()
    }

    pub fn list_alerts(
        &mut self,
        transport: &mut impl Transport,
        options: &GraphListOptions,
    ) -> Result<Page<GraphAlert>, Error> {
        let page = self.security_page(transport, Collection::Alerts, options)?;
        Ok(Page {
            value: page.value.into_iter().map(security::alert_from_value).collect::<Result<_, _>>()?,
            next_link: page.next_link,
        })
    }

    pub fn list_all_alerts(
        &mut self,
        transport: &mut impl Transport,
        options: &GraphListOptions,
    ) -> Result<Vec<GraphAlert>, Error> {
        let values = self.security_walk(transport, Collection::Alerts, options)?;
        values.into_iter().map(security::alert_from_value).collect()
    }

    pub fn get_incident(
        &mut self,
        transport: &mut impl Transport,
        id: &str,
        expand_alerts: bool,
    ) -> Result<GraphIncident, Error> {
        let url = security::item_url(self.settings(), Collection::Incidents, id, expand_alerts)?;
        let response = self.call(transport, Method::Get, url, None, "graph-security.get-incident")?;
        security::parse_incident(&response.body)
    }

    pub fn get_alert(&mut self, transport: &mut impl Transport, id: &str) -> Result<GraphAlert, Error> {
        let url = security::item_url(self.settings(), Collection::Alerts, id, false)?;
        let response = self.call(transport, Method::Get, url, None, "graph-security.get-alert")?;
        security::parse_alert(&response.body)
    }

    /// PATCH with only what changes. Tag changes read the incident first and
    /// send the merged list (Graph replaces `customTags` whole and has no etag).
    pub fn update_incident(
        &mut self,
        transport: &mut impl Transport,
        id: &str,
        update: &GraphIncidentUpdate,
    ) -> Result<GraphIncident, Error> {
        let planned = self.plan_incident_update(transport, id, update)?;
        let response = self.send_plan(transport, &planned, "graph-security.update-incident")?;
        security::parse_incident(&response.body)
    }

    /// The PATCH `update_incident` would send, unsent (tag changes read the incident).
    pub fn plan_incident_update(
        &mut self,
        transport: &mut impl Transport,
        id: &str,
        update: &GraphIncidentUpdate,
    ) -> Result<PlannedRequest, Error> {
        security::validate_incident_update(update)?;
        let url = security::item_url(self.settings(), Collection::Incidents, id, false)?;
        let current_tags = if update.changes_tags() {
            self.get_incident(transport, id, false)?.fields.custom_tags
        } else {
            Vec::new()
        };
        Ok(PlannedRequest::new(Method::Patch, url, Some(security::incident_patch(update, &current_tags))))
    }

    pub fn update_alert(
        &mut self,
        transport: &mut impl Transport,
        id: &str,
        update: &GraphAlertUpdate,
    ) -> Result<GraphAlert, Error> {
        let planned = self.plan_alert_update(id, update)?;
        let response = self.send_plan(transport, &planned, "graph-security.update-alert")?;
        security::parse_alert(&response.body)
    }

    /// The PATCH `update_alert` would send, unsent; needs no request.
    pub fn plan_alert_update(&self, id: &str, update: &GraphAlertUpdate) -> Result<PlannedRequest, Error> {
        security::validate_alert_update(update)?;
        let url = security::item_url(self.settings(), Collection::Alerts, id, false)?;
        Ok(PlannedRequest::new(Method::Patch, url, Some(security::alert_patch(update))))
    }

    /// Adds a comment to an incident or alert; answers the item's comments.
    /// Sent once (see [`Client::send_once`]). With a key, the text ends with
    /// the key's reference, and the item's comments are read before each
    /// POST (the first, and each after an answer that leaves it unknown
    /// whether the last one landed, within the retry policy's count): with the
    /// reference there, they are the answer and nothing is posted.
    pub fn add_comment(
        &mut self,
        transport: &mut impl Transport,
        collection: Collection,
        id: &str,
        text: &str,
        key: Option<&str>,
    ) -> Result<Vec<GraphComment>, Error> {
        comments::validate(text, key)?;
        let url = comments::post_url(self.settings(), collection, id)?;
        let body = comments::post_body(&comments::text_with_reference(text, key));
        let action = comment_action(collection);
        let mut attempt = 0;
        loop {
            if let Some(key) = key {
                let existing = self.item_comments(transport, collection, id)?;
                if comments::has_reference(&existing, &comments::reference(key)) {
                    return Ok(existing);
                }
            }
            match self.call_once(transport, url.clone(), body.clone(), action) {
                Ok(response) => return comments::parse_list(&response.body),
                Err(error)
                    if key.is_some()
                        && comments::is_ambiguous(&error)
                        && attempt < self.settings().retry.max_retries =>
                {
                    // Graph may show a landed comment a moment late.
                    let delay = retry::backoff(&self.settings().retry, attempt, transport.random_u64());
                    transport.sleep(delay);
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The comments of an incident or alert, read (a GET, safe to repeat).
    fn item_comments(
        &mut self,
        transport: &mut impl Transport,
        collection: Collection,
        id: &str,
    ) -> Result<Vec<GraphComment>, Error> {
        let url = security::item_url(self.settings(), collection, id, false)?;
        let read = match collection {
            Collection::Incidents => "graph-security.get-incident",
            Collection::Alerts => "graph-security.get-alert",
        };
        comments::parse_item_comments(&self.call(transport, Method::Get, url, None, read)?.body)
    }

    /// Merges incidents (or with `dry_run`, plans it): the ids checked, each
    /// incident read and Defender's no-merge rules applied before the POST,
    /// which is sent once (after a timeout or a 5xx the merge may have
    /// happened: read a source, redirected if so).
    pub fn merge_incidents(
        &mut self,
        transport: &mut impl Transport,
        ids: &[String],
        comment: Option<&str>,
        dry_run: bool,
    ) -> Result<MergeOutcome, Error> {
        merging::validate_ids(ids)?;
        merging::validate_comment(comment)?;
        let incidents = ids.iter().map(|id| self.get_incident(transport, id, false)).collect::<Result<Vec<_>, _>>()?;
        if let Some(reason) = merging::refusal(&incidents) {
            return Err(Error::invalid("incident-ids", format!("Defender would not merge them: {reason}")));
        }
        let request = merging::plan(self.settings(), ids, comment);
        let mut outcome = MergeOutcome { target_incident_id: None, request, dry_run };
        if !dry_run {
            let plan = &outcome.request;
            let body = plan.body.clone().unwrap_or_default().into_bytes();
            let response = self.call_once(transport, plan.url.clone(), body, MERGE_ACTION)?;
            outcome.target_incident_id = merging::parse_target(&response.body)?;
        }
        Ok(outcome)
    }

    /// One Graph incident poll (see [`poller`]): `lastUpdateDateTime` read
    /// in slices of one page each, then each `merged` event's chain
    /// followed, then with `include_alerts` each event's alerts read, several
    /// at once.
    pub fn poll(
        &mut self,
        transport: &mut impl Transport,
        cursor: Option<&str>,
        options: &GraphPollOptions,
    ) -> Result<GraphPollBatch, Error> {
        poller::validate(options)?;
        let now = i64::try_from(transport.now_unix_secs()).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        let mut scan = Scan::new(poller::starting_cursor(cursor, options, now)?, options, now);
        let more = self.read_slices(transport, &mut scan)?;
        let (mut events, cursor) = scan.finish();
        for event in events.iter_mut().filter(|e| e.kind == EventKind::Merged) {
            match self.client.merge_chain_of(transport, &event.incident) {
                Ok(chain) => event.merge_chain = chain,
                Err(error) => event.merge_error = Some(self.client.scrub(self.hinted_error(transport, POLL, error))),
            }
        }
        if options.include_alerts {
            self.read_alerts(transport, &mut events, poller::detail_concurrency(options))?;
        }
        Ok(GraphPollBatch { events, watermark: format_time(cursor.watermark_micros()), cursor: cursor.encode(), more })
    }

    /// Reads slice after slice until the open-ended one; true when the batch
    /// filled or the request budget ran out first.
    fn read_slices(&mut self, transport: &mut impl Transport, scan: &mut Scan) -> Result<bool, Error> {
        let mut requests = 0;
        while let Some(slice) = scan.next_slice() {
            if requests >= poller::MAX_POLL_REQUESTS {
                return Ok(true);
            }
            requests += 1;
            let filter = scan.filter(slice);
            let page = self.poll_page(transport, &filter)?;
            let (incidents, served_at) = match page.next_link {
                None => (page.value, page.served_at),
                Some(_) if scan.overflowed(slice, page.count) => continue,
                // Read over several answers: settles nothing.
                Some(_) => (self.read_instant(transport, &filter, &mut requests)?, None),
            };
            if scan.read_whole(slice, incidents, served_at)? == Progress::BatchFull {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One slice's first page, with Graph's `@odata.count` of the slice.
    fn poll_page(&mut self, transport: &mut impl Transport, filter: &str) -> Result<CountedPage, Error> {
        let options =
            GraphListOptions { filter: Some(filter.to_owned()), top: Some(poller::PAGE_SIZE), ..Default::default() };
        let url = security::list_url(self.settings(), Collection::Incidents, &options);
        let url = with_query(url, &[("$count", Some("true".to_owned()))]);
        let response = self.call(transport, Method::Get, url, None, POLL)?;
        let page: CountedPage<Value> = parse(&response.body, "Graph page")?;
        Ok(CountedPage {
            value: page.value.into_iter().map(security::incident_from_value).collect::<Result<_, _>>()?,
            next_link: page.next_link,
            count: page.count,
            served_at: response.header("date").and_then(served_at),
        })
    }

    /// More than a page of incidents on one microsecond: walked page by page
    /// twice and the two read together, so an incident a concurrent change
    /// shifted past one walk's page boundary is still read.
    fn read_instant(
        &mut self,
        transport: &mut impl Transport,
        filter: &str,
        requests: &mut u32,
    ) -> Result<Vec<GraphIncident>, Error> {
        let options =
            GraphListOptions { filter: Some(filter.to_owned()), top: Some(poller::PAGE_SIZE), ..Default::default() };
        let mut by_id = std::collections::BTreeMap::new();
        for _ in 0..2 {
            let url = security::list_url(self.settings(), Collection::Incidents, &options);
            let values = self.graph_walk(transport, url, Some(MAX_INSTANT_PAGES), POLL)?;
            *requests = requests.saturating_add(values.len().div_ceil(poller::PAGE_SIZE as usize).max(1) as u32);
            for value in values {
                let incident = security::incident_from_value(value)?;
                by_id.insert(incident.fields.id.clone(), incident);
            }
        }
        Ok(by_id.into_values().collect())
    }

    /// Each event's incident read again with its alerts (`$expand=alerts`),
    /// `concurrency` reads in flight; a failed read is the event's
    /// `details_error`, and the event is still delivered.
    fn read_alerts(
        &mut self,
        transport: &mut impl Transport,
        events: &mut [GraphEvent],
        concurrency: usize,
    ) -> Result<(), Error> {
        let mut requests = Vec::with_capacity(events.len());
        for event in events.iter() {
            let url = security::item_url(self.settings(), Collection::Incidents, &event.incident.fields.id, true)?;
            requests.push(Request::new(Method::Get, url).header("accept", "application/json"));
        }
        let answers = self.client.send_all(transport, Api::Graph, requests, concurrency)?;
        for (event, answer) in events.iter_mut().zip(answers) {
            match answer.and_then(|response| security::parse_incident(&response.body)) {
                Ok(read) => event.incident.alerts = read.alerts,
                // Reading alerts is what needs SecurityAlert.Read.All.
                Err(error) => {
                    event.details_error = Some(self.client.scrub(self.hinted_error(transport, GET_ALERT, error)))
                }
            }
        }
        Ok(())
    }

    pub fn run_hunting_query(
        &mut self,
        transport: &mut impl Transport,
        text: &str,
        options: &HuntingOptions,
    ) -> Result<Table, Error> {
        hunting::validate(text, options)?;
        let (url, body) = hunting::request_parts(self.settings(), text, options);
        let response = self.call_weighted(
            transport,
            Method::Post,
            url,
            Some(body),
            "graph-security.run-hunting-query",
            TABLE_ANSWER_WEIGHT,
        )?;
        hunting::parse(&response.body)
    }

    pub fn get_user(&mut self, transport: &mut impl Transport, user: &str) -> Result<GraphUser, Error> {
        let user = UserRef::parse("user", user)?;
        self.read_user(transport, &user)
    }

    /// Every risky user the filter selects (e.g. `riskLevel eq 'high'`), all pages.
    pub fn list_risky_users(
        &mut self,
        transport: &mut impl Transport,
        filter: Option<&str>,
    ) -> Result<Vec<RiskyUser>, Error> {
        let url = users::risky_users_url(self.settings(), filter)?;
        let values = self.graph_walk(transport, url, None, "containment.list-risky-users")?;
        values
            .into_iter()
            .map(|v| {
                users::risky_user_from_value(&v)
                    .map_err(|e| Error::invalid_response(format!("a risky user could not be read: {e}")))
            })
            .collect()
    }

    /// Runs (or with `dry_run`, plans) one containment action on one user.
    pub fn contain(
        &mut self,
        transport: &mut impl Transport,
        user: &str,
        action: &ContainmentAction,
        dry_run: bool,
    ) -> Result<ContainmentResult, Error> {
        let target = UserRef::parse("user", user)?;
        let action = action.normalized()?;
        if let Some(reason) = self.settings().protected.listed(target.as_str()) {
            return Err(containment::protected_error(target.as_str(), &reason));
        }
        if let Some(group) = action.group().filter(|group| self.settings().protected.lists_group_id(group)) {
            return Err(containment::protected_group_error(group));
        }
        let user = self.read_user(transport, &target)?;
        containment::refuse_if_listed(&self.settings().protected, &user)?;
        self.refuse_by_protected_groups(transport, &user, &action)?;
        let request = containment::plan(self.settings(), &user, &action);
        let mut result = ContainmentResult {
            compensation: action.compensation(),
            action,
            user,
            dry_run,
            request,
            status: None,
            already_done: false,
        };
        if !dry_run {
            let (status, already_done) = self.send_planned(transport, &result.action, &result.request)?;
            result.status = Some(status);
            result.already_done = already_done;
        }
        Ok(result)
    }

    /// Sends exactly the planned request (a dry run returned the same plan).
    fn send_plan(
        &mut self,
        transport: &mut impl Transport,
        plan: &PlannedRequest,
        action: &str,
    ) -> Result<Response, Error> {
        self.call(transport, plan.method, plan.url.clone(), plan.body.clone().map(String::into_bytes), action)
    }

    fn send_planned(
        &mut self,
        transport: &mut impl Transport,
        action: &ContainmentAction,
        request: &PlannedRequest,
    ) -> Result<(u16, bool), Error> {
        match self.send_plan(transport, request, action.manifest_key()) {
            Ok(response) => Ok((response.status, false)),
            // A retried add whose first try went through, or a user already in
            // the group: the state the playbook wants holds.
            Err(Error::BadRequest(failure))
                if matches!(action, ContainmentAction::AddToGroup(_)) && failure.message.contains("already exist") =>
            {
                Ok((failure.status, true))
            }
            Err(error) => Err(error),
        }
    }

    fn read_user(&mut self, transport: &mut impl Transport, user: &UserRef) -> Result<GraphUser, Error> {
        let url = users::read_user_url(self.settings(), user);
        match self.call(transport, Method::Get, url, None, "containment.get-user") {
            Ok(response) => users::parse_user(&response.body),
            Err(Error::NotFound(mut failure)) => {
                failure.hint =
                    format!("Entra ID has no user '{}': check the object id or user principal name.", user.as_str());
                Err(Error::NotFound(failure))
            }
            Err(error) => Err(error),
        }
    }

    /// Applies the protected groups, resolved on every call (membership
    /// changes take effect at once): refuses an action on a protected group's
    /// membership, then a member (direct or nested) of a protected group.
    /// `checkMemberGroups` takes 20 ids a request and may leave out a group
    /// whose membership is hidden from the token, which cannot be told from
    /// "not a member": with such a group, a token without Member.Read.Hidden
    /// is refused before any membership is asked.
    fn refuse_by_protected_groups(
        &mut self,
        transport: &mut impl Transport,
        user: &GraphUser,
        action: &ContainmentAction,
    ) -> Result<(), Error> {
        if !self.settings().protected.has_groups() {
            return Ok(());
        }
        let groups = self.protected_groups(transport)?;
        if let Some(group) = action.group().and_then(|id| groups.iter().find(|g| g.id.eq_ignore_ascii_case(id))) {
            return Err(containment::protected_group_error(&group.shown()));
        }
        if let Some(hidden) = groups.iter().find(|g| g.hides_membership()) {
            let permission = check::permission_for(PROTECTED_HIDDEN_GROUPS_CHECK).unwrap_or("Member.Read.Hidden");
            if !check::covers(&self.client.graph_roles(transport.now_unix_secs()), permission) {
                return Err(containment::hidden_membership_error(
                    &containment::shown_user(user),
                    &hidden.shown(),
                    permission,
                ));
            }
        }
        let ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        for (url, body) in users::check_member_groups(self.settings(), &user.id, &ids) {
            let response = self.call(transport, Method::Post, url, Some(body), PROTECTED_GROUPS_CHECK)?;
            let member_of: Page<String> = parse(&response.body, "group membership")?;
            if let Some(group) = groups.iter().find(|g| member_of.value.iter().any(|id| id.eq_ignore_ascii_case(&g.id)))
            {
                return Err(containment::protected_error(
                    &containment::shown_user(user),
                    &format!("it is a member of the protected group '{}'", group.shown()),
                ));
            }
        }
        Ok(())
    }

    /// The configured groups, each read once with its visibility: a GUID by
    /// id, a name looked up. An id that names no group, or a name that
    /// matches no group or several, fails closed.
    fn protected_groups(&mut self, transport: &mut impl Transport) -> Result<Vec<GroupRef>, Error> {
        let configured = self.settings().protected.groups.clone();
        let mut groups: Vec<GroupRef> = Vec::with_capacity(configured.len());
        for group in configured {
            let found = if crate::core::config::validate_guid("group", &group).is_ok() {
                self.read_group(transport, &group)?
            } else {
                self.group_by_name(transport, &group)?
            };
            if !groups.iter().any(|g| g.id.eq_ignore_ascii_case(&found.id)) {
                groups.push(found);
            }
        }
        Ok(groups)
    }

    fn read_group(&mut self, transport: &mut impl Transport, id: &str) -> Result<GroupRef, Error> {
        let url = users::group_url(self.settings(), id);
        match self.call(transport, Method::Get, url, None, PROTECTED_GROUPS_CHECK) {
            // The id asked for is the one checked, whatever the answer says.
            Ok(response) => Ok(GroupRef { id: id.to_owned(), ..parse(&response.body, "group")? }),
            Err(Error::NotFound(_)) => Err(Error::invalid(
                "protected-accounts.groups",
                format!(
                    "'{id}' names no group in Entra ID; containment is refused until it names one (or it is removed)"
                ),
            )),
            Err(error) => Err(error),
        }
    }

    fn group_by_name(&mut self, transport: &mut impl Transport, name: &str) -> Result<GroupRef, Error> {
        let url = users::group_by_name_url(self.settings(), name);
        let found: Page<GroupRef> =
            parse(&self.call(transport, Method::Get, url, None, PROTECTED_GROUPS_CHECK)?.body, "groups")?;
        match <[GroupRef; 1]>::try_from(found.value) {
            Ok([one]) => Ok(one),
            Err(found) => {
                let reason = format!("'{name}' names {} groups in Entra ID, not one; containment is refused until it names exactly one (or use its object id)", found.len());
                Err(Error::invalid("protected-accounts.groups", reason))
            }
        }
    }

    fn security_page(
        &mut self,
        transport: &mut impl Transport,
        collection: Collection,
        options: &GraphListOptions,
    ) -> Result<Page<Value>, Error> {
        security::validate_list(collection, options)?;
        let url = match &options.continuation {
            Some(link) => self.graph_link(link).map_err(|reason| Error::invalid("continuation", reason))?,
            None => security::list_url(self.settings(), collection, options),
        };
        let response = self.call(transport, Method::Get, url, None, collection.read_action())?;
        parse(&response.body, "Graph page")
    }

    fn security_walk(
        &mut self,
        transport: &mut impl Transport,
        collection: Collection,
        options: &GraphListOptions,
    ) -> Result<Vec<Value>, Error> {
        let first = self.security_page(transport, collection, options)?;
        self.walk_from(transport, first, options.max_pages, collection.read_action())
    }

    /// Every item of a Graph collection from its first page's URL.
    fn graph_walk(
        &mut self,
        transport: &mut impl Transport,
        url: Url,
        max_pages: Option<u32>,
        action: &str,
    ) -> Result<Vec<Value>, Error> {
        let first = parse(&self.call(transport, Method::Get, url, None, action)?.body, "Graph page")?;
        self.walk_from(transport, first, max_pages, action)
    }

    /// The first page's items and every later page's, each `@odata.nextLink`
    /// followed verbatim and only to the Graph endpoint's origin.
    fn walk_from(
        &mut self,
        transport: &mut impl Transport,
        first: Page<Value>,
        max_pages: Option<u32>,
        action: &str,
    ) -> Result<Vec<Value>, Error> {
        let gather = if action.starts_with("graph-security.") { paging::GRAPH_SECURITY } else { paging::GRAPH_LIST };
        let walked = self.client.walk_within(transport, Api::Graph, first, max_pages, "Graph page", gather);
        self.hinted(transport, action, walked)
    }

    fn graph_link(&self, link: &str) -> Result<Url, String> {
        check_link(link, &self.settings().endpoints.graph.base)
    }

    /// One Graph call made for `action` (its manifest entry); a 403 names the
    /// permission the manifest says it needs and whether the token carries it.
    fn call(
        &mut self,
        transport: &mut impl Transport,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        action: &str,
    ) -> Result<Response, Error> {
        self.call_weighted(transport, method, url, body, action, 1)
    }

    /// A POST that adds, sent once (see [`Client::send_once`]), for `action`.
    fn call_once(
        &mut self,
        transport: &mut impl Transport,
        url: Url,
        body: Vec<u8>,
        action: &str,
    ) -> Result<Response, Error> {
        let request = Request::new(Method::Post, url).header("accept", "application/json").json_body(body);
        let sent = self.client.send_once(transport, Api::Graph, request);
        self.hinted(transport, action, sent)
    }

    /// [`Self::call`] for an answer that takes `answer_weight` times its size once parsed.
    fn call_weighted(
        &mut self,
        transport: &mut impl Transport,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        action: &str,
        answer_weight: u32,
    ) -> Result<Response, Error> {
        let mut request = Request::new(method, url).header("accept", "application/json").answer_weight(answer_weight);
        if let Some(body) = body {
            request = request.json_body(body);
        }
        let sent = self.client.send_request(transport, Api::Graph, request);
        self.hinted(transport, action, sent)
    }

    /// A 403's hint names the permission `action` needs and what the token holds.
    fn hinted<T>(&self, transport: &impl Transport, action: &str, result: Result<T, Error>) -> Result<T, Error> {
        result.map_err(|error| self.hinted_error(transport, action, error))
    }

    fn hinted_error(&self, transport: &impl Transport, action: &str, error: Error) -> Error {
        match error {
            Error::Forbidden(mut failure) => {
                if let Some(permission) = check::permission_for(action) {
                    failure.hint = permission_hint(permission, &self.client.graph_roles(transport.now_unix_secs()));
                }
                Error::Forbidden(failure)
            }
            other => other,
        }
    }
}

/// The manifest entry of `mergeIncidents`.
const MERGE_ACTION: &str = "graph-security.merge-incidents";

/// The manifest entry of commenting on an item of the collection.
fn comment_action(collection: Collection) -> &'static str {
    match collection {
        Collection::Incidents => "graph-security.add-incident-comment",
        Collection::Alerts => "graph-security.add-alert-comment",
    }
}

/// The hint of a refused Graph call: the permission, and what the token holds.
pub fn permission_hint(permission: &str, roles: &[String]) -> String {
    let held = if roles.is_empty() {
        String::new()
    } else if check::covers(roles, permission) {
        " The token carries it: the target may need a stronger directory role (for example a privileged admin account)."
            .to_owned()
    } else {
        format!(" The app's token lacks it (its roles: {}).", roles.join(", "))
    };
    format!("This action needs the Microsoft Graph application permission {permission}: add it to the app registration and grant admin consent.{held}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::ProtectedAccounts;
    use crate::core::testing::{client, client_protecting, token, Script, BASE};

    const ALICE: &str = "29f270bb-4d23-4f68-8a57-dc73dc0d4caf";
    const ADMINS: &str = "0d0e0f10-1112-4314-9516-171819202122";

    fn alice() -> (u16, String) {
        (200, format!(r#"{{"id":"{ALICE}","userPrincipalName":"alice@contoso.com","accountEnabled":true}}"#))
    }

    #[test]
    fn a_listed_account_is_refused_before_any_request() {
        let protected =
            ProtectedAccounts { user_principal_names: vec!["ALICE@contoso.com".into()], ..Default::default() };
        let mut script = Script::new(vec![]);
        let error = client_protecting(protected)
            .graph()
            .contain(&mut script, "alice@contoso.com", &ContainmentAction::DisableAccount, false)
            .unwrap_err();
        assert!(matches!(error, Error::Protected { .. }), "{error:?}");
        assert!(script.sent.is_empty(), "not even a token request");
    }

    #[test]
    fn an_account_listed_by_its_other_identifier_is_refused_after_the_read() {
        let protected =
            ProtectedAccounts { user_principal_names: vec!["alice@contoso.com".into()], ..Default::default() };
        let mut script = Script::new(vec![token(), alice()]);
        let error = client_protecting(protected)
            .graph()
            .contain(&mut script, ALICE, &ContainmentAction::DisableAccount, false)
            .unwrap_err();
        assert!(matches!(error, Error::Protected { .. }));
        assert_eq!(script.sent.len(), 2, "the token and the read; no PATCH");
    }

    /// A Graph group as read, by id, with its visibility.
    fn group(id: &str, name: &str, visibility: Option<&str>) -> (u16, String) {
        (200, serde_json::json!({"id": id, "displayName": name, "visibility": visibility}).to_string())
    }

    /// A token whose `roles` claim holds these application permissions.
    fn token_with_roles(roles: &[&str]) -> (u16, String) {
        use base64::Engine as _;
        let claims = serde_json::json!({"aud": "https://graph.microsoft.com", "roles": roles}).to_string();
        let jwt =
            format!("eyJhbGciOiJSUzI1NiJ9.{}.sig", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims));
        (200, serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": jwt}).to_string())
    }

    fn changes(script: &Script) -> Vec<String> {
        script
            .sent
            .iter()
            .filter(|r| {
                r.method != Method::Get
                    && !r.url.path().ends_with("/token")
                    && !r.url.path().ends_with("/checkMemberGroups")
            })
            .map(|r| r.url.to_string())
            .collect()
    }

    #[test]
    fn a_protected_group_member_is_refused_and_nothing_is_changed() {
        let protected = ProtectedAccounts { groups: vec![ADMINS.into()], ..Default::default() };
        let member = (200, format!(r#"{{"value":["{ADMINS}"]}}"#));
        let mut script = Script::new(vec![token(), alice(), group(ADMINS, "Tier 0", None), member]);
        let error = client_protecting(protected)
            .graph()
            .contain(&mut script, ALICE, &ContainmentAction::RevokeSessions, false)
            .unwrap_err();
        let Error::Protected { reason, .. } = error else { panic!("{error:?}") };
        assert!(reason.contains("Tier 0"), "{reason}");
        assert_eq!(script.sent[2].url.query(), Some("%24select=id%2CdisplayName%2Cvisibility"));
        assert!(script.sent[3].url.path().ends_with("/checkMemberGroups"));
        assert_eq!(script.sent.len(), 4);
    }

    // Item 5: protected entries and input are trimmed of Unicode whitespace
    // and compared without regard to case.
    #[test]
    fn a_protected_upn_written_with_stray_whitespace_still_protects() {
        let protected =
            ProtectedAccounts { user_principal_names: vec![" alice@contoso.com\u{a0}".into()], ..Default::default() };
        let mut script = Script::new(vec![]);
        let error = client_protecting(protected.clone())
            .graph()
            .contain(&mut script, "\u{200b}ALICE@contoso.com\u{a0}", &ContainmentAction::DisableAccount, false)
            .unwrap_err();
        assert!(matches!(error, Error::Protected { .. }), "{error:?}");
        assert!(script.sent.is_empty(), "refused before any request");
        // Named by object id, the account is refused once read.
        let mut script = Script::new(vec![token(), alice()]);
        let error = client_protecting(protected)
            .graph()
            .contain(&mut script, ALICE, &ContainmentAction::DisableAccount, false)
            .unwrap_err();
        let Error::Protected { reason, .. } = error else { panic!("{error:?}") };
        assert!(reason.contains("user-principal-names"), "{reason}");
        assert_eq!(script.sent.len(), 2, "the token and the read; no PATCH");
        let by_id = ProtectedAccounts {
            user_ids: vec!["\u{feff}29F270BB-4D23-4F68-8A57-DC73DC0D4CAF\u{200b}".into()],
            ..Default::default()
        };
        let mut script = Script::new(vec![]);
        assert!(matches!(
            client_protecting(by_id).graph().contain(
                &mut script,
                &format!(" {ALICE}"),
                &ContainmentAction::RevokeSessions,
                true
            ),
            Err(Error::Protected { .. })
        ));
        assert!(script.sent.is_empty());
    }

    // Item 6: a protected group's own membership is off-limits.
    #[test]
    fn a_protected_group_is_never_the_target_of_a_membership_change() {
        let by_id =
            ProtectedAccounts { groups: vec![format!(" {}\u{a0}", ADMINS.to_uppercase())], ..Default::default() };
        for action in
            [ContainmentAction::AddToGroup(ADMINS.into()), ContainmentAction::RemoveFromGroup(ADMINS.to_uppercase())]
        {
            let mut script = Script::new(vec![]);
            let error =
                client_protecting(by_id.clone()).graph().contain(&mut script, ALICE, &action, false).unwrap_err();
            let Error::Protected { user, reason } = error else { panic!("{error:?}") };
            assert_eq!(user, format!("group '{ADMINS}'"));
            assert!(reason.contains("protected-accounts.groups") && reason.contains("off-limits"), "{reason}");
            assert!(script.sent.is_empty(), "refused before any request");
        }
        // Named by display name: resolved (reads only), then refused.
        let by_name = ProtectedAccounts { groups: vec!["Break Glass Admins".into()], ..Default::default() };
        let found =
            (200, format!(r#"{{"value":[{{"id":"{ADMINS}","displayName":"Break Glass Admins","visibility":null}}]}}"#));
        let mut script = Script::new(vec![token(), alice(), found]);
        let error = client_protecting(by_name)
            .graph()
            .contain(&mut script, ALICE, &ContainmentAction::AddToGroup(ADMINS.into()), false)
            .unwrap_err();
        let Error::Protected { user, .. } = error else { panic!("{error:?}") };
        assert_eq!(user, "group 'Break Glass Admins'");
        assert_eq!(script.sent.len(), 3);
        assert!(changes(&script).is_empty(), "{:?}", changes(&script));
    }

    // Item 7: more than 20 protected groups are checked 20 at a time.
    #[test]
    fn protected_groups_are_checked_twenty_at_a_time() {
        let ids: Vec<String> = (1..=25).map(|n| format!("7e400000-0000-4000-8000-{n:012}")).collect();
        let protected = ProtectedAccounts { groups: ids.clone(), ..Default::default() };
        let mut answers = vec![token(), alice()];
        answers.extend(ids.iter().map(|id| group(id, id, Some("Private"))));
        answers.push((200, r#"{"value":[]}"#.into()));
        answers.push((200, format!(r#"{{"value":["{}"]}}"#, ids[23].to_uppercase())));
        let mut script = Script::new(answers);
        let error = client_protecting(protected)
            .graph()
            .contain(&mut script, ALICE, &ContainmentAction::DisableAccount, false)
            .unwrap_err();
        let Error::Protected { reason, .. } = error else { panic!("{error:?}") };
        assert!(reason.contains(&ids[23]), "{reason}");
        let checks: Vec<usize> = script
            .sent
            .iter()
            .filter(|r| r.url.path().ends_with("/checkMemberGroups"))
            .map(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["groupIds"].as_array().unwrap().len()
            })
            .collect();
        assert_eq!(checks, [20, 5]);
        assert!(changes(&script).is_empty());
    }

    // Item 7: a hidden membership cannot be checked without Member.Read.Hidden: fail closed.
    #[test]
    fn a_hidden_membership_group_needs_member_read_hidden() {
        let protected = ProtectedAccounts { groups: vec![ADMINS.into()], ..Default::default() };
        let hidden = || group(ADMINS, "Executive Leadership", Some("HiddenMembership"));
        let mut script =
            Script::new(vec![token_with_roles(&["User.Read.All", "GroupMember.Read.All"]), alice(), hidden()]);
        let error = client_protecting(protected.clone())
            .graph()
            .contain(&mut script, ALICE, &ContainmentAction::DisableAccount, false)
            .unwrap_err();
        let Error::Protected { reason, .. } = error else { panic!("{error:?}") };
        assert!(
            reason.contains("Executive Leadership")
                && reason.contains("hidden")
                && reason.contains("Member.Read.Hidden"),
            "{reason}"
        );
        assert_eq!(script.sent.len(), 3, "no membership asked, nothing changed");
        // An opaque token shows no roles: refused the same way.
        let mut script = Script::new(vec![token(), alice(), hidden()]);
        assert!(matches!(
            client_protecting(protected.clone()).graph().contain(
                &mut script,
                ALICE,
                &ContainmentAction::DisableAccount,
                true
            ),
            Err(Error::Protected { .. })
        ));
        // With the permission, the membership is asked and answered.
        let none = (200, r#"{"value":[]}"#.to_owned());
        let mut script = Script::new(vec![
            token_with_roles(&["User.Read.All", "GroupMember.Read.All", "Member.Read.Hidden"]),
            alice(),
            hidden(),
            none,
        ]);
        let planned = client_protecting(protected)
            .graph()
            .contain(&mut script, ALICE, &ContainmentAction::DisableAccount, true)
            .unwrap();
        assert!(planned.dry_run);
        assert!(script.sent[3].url.path().ends_with("/checkMemberGroups"));
    }

    #[test]
    fn a_protected_group_id_that_names_no_group_fails_closed() {
        let protected = ProtectedAccounts { groups: vec![ADMINS.into()], ..Default::default() };
        let missing =
            (404, r#"{"error":{"code":"Request_ResourceNotFound","message":"Resource does not exist."}}"#.to_owned());
        let mut script = Script::new(vec![token(), alice(), missing]);
        let error = client_protecting(protected)
            .graph()
            .contain(&mut script, ALICE, &ContainmentAction::DisableAccount, false)
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidInput { ref field, .. } if field == "protected-accounts.groups"),
            "{error:?}"
        );
        assert_eq!(script.sent.len(), 3);
    }

    #[test]
    fn a_dry_run_reads_but_sends_no_change() {
        let mut script = Script::new(vec![token(), alice()]);
        let outcome = client().graph().contain(&mut script, ALICE, &ContainmentAction::DisableAccount, true).unwrap();
        assert!(outcome.dry_run);
        assert_eq!(outcome.request.method, Method::Patch);
        assert_eq!(outcome.request.url.as_str(), format!("{BASE}/v1.0/users/{ALICE}"));
        assert_eq!(outcome.compensation, Some(ContainmentAction::EnableAccount));
        assert!(script.sent.iter().all(|r| r.method == Method::Get || r.url.path().ends_with("/token")), "reads only");
    }

    #[test]
    fn the_sent_request_is_the_planned_one_and_revoke_accepts_204() {
        let mut script = Script::new(vec![token(), alice(), (204, String::new())]);
        let outcome = client().graph().contain(&mut script, ALICE, &ContainmentAction::RevokeSessions, false).unwrap();
        assert_eq!(outcome.status, Some(204));
        let sent = &script.sent[2];
        assert_eq!((sent.method, sent.url.clone()), (outcome.request.method, outcome.request.url));
    }

    #[test]
    fn a_forbidden_action_names_the_missing_permission() {
        let denied = (403, r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation.","innerError":{"request-id":"x"}}}"#.into());
        let mut script = Script::new(vec![token(), alice(), denied]);
        let error =
            client().graph().contain(&mut script, ALICE, &ContainmentAction::DisableAccount, false).unwrap_err();
        let Error::Forbidden(failure) = error else { panic!("{error:?}") };
        assert_eq!(failure.code, "Authorization_RequestDenied");
        assert!(failure.hint.contains("User.EnableDisableAccount.All"), "{}", failure.hint);
    }

    #[test]
    fn graph_next_links_are_followed_verbatim_and_only_to_graph() {
        let next = format!("{BASE}/v1.0/security/incidents?$top=1&$skiptoken=abc%3D%3D");
        let first = (200, format!(r#"{{"value":[{{"id":"1"}}],"@odata.nextLink":"{next}"}}"#));
        let last = (200, r#"{"value":[{"id":"2"}]}"#.to_owned());
        let mut script = Script::new(vec![token(), first, last]);
        let all = client().graph().list_all_incidents(&mut script, &GraphListOptions::default()).unwrap();
        assert_eq!(all.iter().map(|i| i.fields.id.as_str()).collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(script.sent[2].url.as_str(), next);
        let foreign = (200, r#"{"value":[],"@odata.nextLink":"https://evil.example/v1.0/x"}"#.to_owned());
        let mut script = Script::new(vec![token(), foreign]);
        assert!(matches!(
            client().graph().list_all_incidents(&mut script, &GraphListOptions::default()),
            Err(Error::InvalidResponse(_))
        ));
        assert_eq!(script.sent.len(), 2);
    }

    #[test]
    fn every_graph_call_names_a_manifest_entry() {
        let group = ADMINS.to_owned();
        let actions = [
            ContainmentAction::DisableAccount,
            ContainmentAction::EnableAccount,
            ContainmentAction::RevokeSessions,
            ContainmentAction::ConfirmCompromised,
            ContainmentAction::DismissRisk,
            ContainmentAction::AddToGroup(group.clone()),
            ContainmentAction::RemoveFromGroup(group),
        ];
        let keys = actions.iter().map(ContainmentAction::manifest_key).chain([
            Collection::Incidents.read_action(),
            Collection::Alerts.read_action(),
            "graph-security.get-incident",
            "graph-security.get-alert",
            "graph-security.update-incident",
            "graph-security.update-alert",
            "graph-security.run-hunting-query",
            comment_action(Collection::Incidents),
            comment_action(Collection::Alerts),
            MERGE_ACTION,
            "containment.list-risky-users",
            "containment.get-user",
            PROTECTED_GROUPS_CHECK,
            PROTECTED_HIDDEN_GROUPS_CHECK,
        ]);
        for key in keys {
            assert!(check::permission_for(key).is_some(), "{key} is not in the manifest");
        }
        assert_eq!(check::permission_for("containment.disable-account"), Some("User.EnableDisableAccount.All"));
        assert_eq!(check::permission_for(PROTECTED_HIDDEN_GROUPS_CHECK), Some("Member.Read.Hidden"));
    }

    fn unavailable() -> (u16, String) {
        (503, r#"{"error":{"code":"ServiceUnavailable","message":"Try later."}}"#.into())
    }

    fn posts(script: &Script) -> usize {
        script.sent.iter().filter(|r| r.method == Method::Post && !r.url.path().ends_with("/token")).count()
    }

    #[test]
    fn a_keyed_comment_after_an_ambiguous_failure_is_read_not_posted_again() {
        let reference = comments::reference("run-7");
        let landed = (200, format!(r#"{{"id":"7","comments":[{{"comment":"Contained {reference}"}}]}}"#));
        let absent = || (200, r#"{"id":"7","comments":[]}"#.to_owned());
        let mut script = Script::new(vec![token(), absent(), unavailable(), landed.clone()]);
        let list =
            client().graph().add_comment(&mut script, Collection::Incidents, "7", "Contained", Some("run-7")).unwrap();
        assert_eq!(list[0].comment.as_deref(), Some(format!("Contained {reference}").as_str()));
        assert_eq!(posts(&script), 1, "the 503 was not retried blindly");
        assert_eq!(script.sent[3].url.as_str(), format!("{BASE}/v1.0/security/incidents/7"));
        // The comment is not there: posted again, once.
        let posted = (200, format!(r#"{{"value":[{{"comment":"Contained {reference}"}}]}}"#));
        let mut script = Script::new(vec![token(), absent(), unavailable(), absent(), posted]);
        client().graph().add_comment(&mut script, Collection::Alerts, "da1", "Contained", Some("run-7")).unwrap();
        assert_eq!(posts(&script), 2);
        assert_eq!(script.sent[1].url.as_str(), format!("{BASE}/v1.0/security/alerts_v2/da1"));
        let body: Value = serde_json::from_slice(&script.sent[4].body).unwrap();
        assert_eq!(body["comment"], format!("Contained {reference}"));
        // The caller calls again with the same key: read, found, not posted.
        let mut script = Script::new(vec![token(), landed]);
        client().graph().add_comment(&mut script, Collection::Incidents, "7", "Contained", Some("run-7")).unwrap();
        assert_eq!(posts(&script), 0);
    }

    #[test]
    fn an_unkeyed_comment_is_posted_at_most_once_per_call() {
        let mut script = Script::new(vec![token(), unavailable()]);
        let error =
            client().graph().add_comment(&mut script, Collection::Incidents, "7", "Contained", None).unwrap_err();
        assert!(matches!(error, Error::Service(ref f) if f.status == 503), "{error:?}");
        assert_eq!(posts(&script), 1);
        // A 4xx says the POST did not land: no read, no second POST, even with a key.
        let bad = (400, r#"{"error":{"code":"BadRequest","message":"no"}}"#.to_owned());
        let absent = (200, r#"{"id":"7","comments":[]}"#.to_owned());
        let mut script = Script::new(vec![token(), absent, bad]);
        assert!(client().graph().add_comment(&mut script, Collection::Incidents, "7", "x", Some("k")).is_err());
        assert_eq!((script.sent.len(), posts(&script)), (3, 1));
    }

    #[test]
    fn a_merge_is_refused_by_the_rules_before_the_post() {
        let ids = vec!["1".to_owned(), "2".to_owned()];
        let active = (200, r#"{"id":"1","status":"active"}"#.to_owned());
        let resolved = (200, r#"{"id":"2","status":"resolved"}"#.to_owned());
        let mut script = Script::new(vec![token(), active.clone(), resolved]);
        let error = client().graph().merge_incidents(&mut script, &ids, None, false).unwrap_err();
        let Error::InvalidInput { field, reason } = error else { panic!("{error:?}") };
        assert_eq!(field, "incident-ids");
        assert!(reason.contains("'2' is resolved"), "{reason}");
        assert_eq!(posts(&script), 0);
        let other = (200, r#"{"id":"2","status":"active"}"#.to_owned());
        let merged = (200, r#"{"targetIncidentId":"1"}"#.to_owned());
        let mut script = Script::new(vec![token(), active, other, merged]);
        let outcome = client().graph().merge_incidents(&mut script, &ids, Some("same actor"), false).unwrap();
        assert_eq!(outcome.target_incident_id.as_deref(), Some("1"));
        let sent = &script.sent[3];
        assert_eq!(sent.url, outcome.request.url);
        assert_eq!(Some(String::from_utf8(sent.body.clone()).unwrap()), outcome.request.body);
    }

    #[test]
    fn adding_a_member_twice_is_already_done() {
        let exists = (400, r#"{"error":{"code":"Request_BadRequest","message":"One or more added object references already exist for the following modified properties: 'members'."}}"#.into());
        let mut script = Script::new(vec![token(), alice(), exists]);
        let outcome =
            client().graph().contain(&mut script, ALICE, &ContainmentAction::AddToGroup(ADMINS.into()), false).unwrap();
        assert!(outcome.already_done);
    }
}
