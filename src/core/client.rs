//! The client: one tenant's validated settings and token cache, and the
//! plumbing every API shares (tokens, sending with retries, error mapping and
//! scrubbing, page walks, etag-guarded updates). The actions live in one
//! handler per API, octocrab-style: `client.sentinel()` in
//! [`super::sentinel::actions`], `client.graph()` in
//! [`super::graph::actions`]. Everything is driven over a [`Transport`]: the
//! component passes its `wasi:http` one, unit tests a scripted one; the
//! transport only moves bytes.

use serde::de::DeserializeOwned;
use url::Url;

use super::auth::{self, Api, TokenCache};
use super::check::{self, ApiCheck};
use super::config::{Credential, Settings};
use super::error::{Error, ServiceFailure, Trace};
use super::graph::Graph;
use super::http::{
    Method, Request, Response, Secret, Timeouts, CLIENT_REQUEST_ID, GRAPH_CLIENT_REQUEST_ID, GRAPH_PREFER,
};
use super::paging::{self, parse, Collected, Gather, Page, PageWalk, DEFAULT_COLLECT_LIMIT};
use super::retry::{self, Decision};
use super::sentinel::Sentinel;

/// The outside world the core needs: moving requests (errors are
/// `Error::Transport`), clocks, waiting, and randomness.
pub trait Transport {
    fn send(&mut self, request: &Request, timeouts: &Timeouts) -> Result<Response, Error>;

    /// Several requests, at most `concurrency` in flight at once, each next
    /// one started as soon as one answers (a sliding window, not waves of
    /// `concurrency`); answers in request order. The default sends them one
    /// after another; a transport that can overlap them runs
    /// [`sliding_window`] over its own requests in flight.
    fn send_all(
        &mut self,
        requests: &[Request],
        concurrency: usize,
        timeouts: &Timeouts,
    ) -> Vec<Result<Response, Error>> {
        let _ = concurrency;
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

/// What a transport that overlaps requests gives [`sliding_window`]: starting
/// one, and waiting until some answer. Only bytes move here; which requests,
/// how many at once and what to retry stay the core's.
pub trait Overlapping {
    /// Starts request `index` (it answers later, through `wait_any`); an
    /// error is that request's answer.
    fn start(&mut self, index: usize) -> Result<(), Error>;

    /// Waits until at least one started request has answered, and returns
    /// each answered request's index with its answer.
    fn wait_any(&mut self) -> Vec<(usize, Result<Response, Error>)>;
}

/// The window every overlapping transport runs: requests start in order, at
/// most `concurrency` (at least 1) in flight, and a slot is refilled as soon
/// as its request answers, so one slow answer holds one slot, not the rest
/// of a wave. Answers in request order.
pub fn sliding_window(
    transport: &mut impl Overlapping,
    count: usize,
    concurrency: usize,
) -> Vec<Result<Response, Error>> {
    let limit = concurrency.max(1);
    let mut answers: Vec<Option<Result<Response, Error>>> = (0..count).map(|_| None).collect();
    let (mut next, mut in_flight) = (0, 0usize);
    while next < count || in_flight > 0 {
        while next < count && in_flight < limit {
            match transport.start(next) {
                Ok(()) => in_flight += 1,
                Err(error) => answers[next] = Some(Err(error)),
            }
            next += 1;
        }
        if in_flight == 0 {
            continue;
        }
        let answered = transport.wait_any();
        if answered.is_empty() {
            // A transport that answers nothing would loop forever: what is
            // still in flight is reported lost below.
            break;
        }
        for (index, answer) in answered {
            if let Some(slot @ None) = answers.get_mut(index) {
                *slot = Some(answer);
                in_flight = in_flight.saturating_sub(1);
            }
        }
    }
    answers.into_iter().map(|answer| answer.unwrap_or_else(|| Err(lost()))).collect()
}

fn lost() -> Error {
    Error::transport("a request got no answer", "An error in the host's HTTP implementation; retry the call.")
}

/// Reads and re-applies of an update that keeps meeting 409 Conflict.
pub const MAX_CONFLICT_ATTEMPTS: u32 = 5;

/// Which failed answers [`Client::exchange`] sends a request again after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Repeat {
    /// Every transient answer (the retry policy's): for requests safe to repeat.
    Transient,
    /// Only 429, answered before anything is done: for a change that adds.
    ThrottledOnly,
}

/// One tenant's connection: validated settings and its token cache.
#[derive(Debug)]
pub struct Client {
    settings: Settings,
    tokens: TokenCache,
    /// What one list-all call may gather, in bytes (estimated): see [`Collected`].
    collect_limit: usize,
}

impl Client {
    pub fn new(settings: Settings) -> Self {
        Client { settings, tokens: TokenCache::default(), collect_limit: DEFAULT_COLLECT_LIMIT }
    }

    /// Sets what one list-all call may gather: the component gives its
    /// answer cap, which the host derives from the store's memory limit.
    pub fn with_collect_limit(mut self, bytes: usize) -> Self {
        self.collect_limit = bytes;
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The `sentinel-connector` actions: incidents, comments, enrichment, KQL, the poller.
    pub fn sentinel(&mut self) -> Sentinel<'_> {
        Sentinel::new(self)
    }

    /// The `graph-security` and `containment` actions.
    pub fn graph(&mut self) -> Graph<'_> {
        Graph::new(self)
    }

    /// Per API: a token, one cheap read, and what its permissions allow.
    /// Failures are reported per API, never as a whole.
    pub fn check_connection(&mut self, transport: &mut impl Transport) -> Vec<ApiCheck> {
        let checks: Vec<ApiCheck> = Api::ALL.iter().map(|api| self.check_api(transport, *api)).collect();
        checks
            .into_iter()
            .map(|check| ApiCheck { failure: check.failure.map(|error| self.scrub(error)), ..check })
            .collect()
    }

    fn check_api(&mut self, transport: &mut impl Transport, api: Api) -> ApiCheck {
        let credential = check::CredentialKind::of(&self.settings.credential);
        let certificate_thumbprint = self.settings.certificate.as_ref().map(|key| key.thumbprint.clone());
        let token = match self.token(transport, api) {
            Ok(token) => token,
            Err(error) => {
                return ApiCheck {
                    api,
                    credential,
                    certificate_thumbprint,
                    token_ok: false,
                    read_ok: None,
                    failure: Some(error),
                    roles: Vec::new(),
                    allowed_actions: Vec::new(),
                    api_versions: Vec::new(),
                }
            }
        };
        let roles = check::roles(token.expose());
        let read = match api {
            Api::Arm => Some(self.sentinel().probe(transport)),
            Api::LogAnalytics if self.settings.workspace_id.is_some() => {
                Some(self.sentinel().probe_workspace(transport))
            }
            // Graph: one incident, when the roles allow reading them.
            Api::Graph
                if check::permission_for("graph-security.list-incidents").is_some_and(|p| check::covers(&roles, p)) =>
            {
                Some(self.graph().probe(transport))
            }
            // Nothing to read: the token and its roles are the check.
            Api::LogAnalytics | Api::Graph => None,
        };
        let api_versions = match (&read, api) {
            (Some(probe), Api::Arm) => self.sentinel().accepted_versions(transport, probe),
            _ => Vec::new(),
        };
        let read_ok = read.as_ref().map(Result::is_ok);
        ApiCheck {
            api,
            credential,
            certificate_thumbprint,
            token_ok: true,
            read_ok,
            failure: read.and_then(Result::err),
            allowed_actions: check::allowed_actions(api, &roles, read_ok),
            roles,
            api_versions,
        }
    }

    /// Sends a JSON request to an API with its bearer token. See [`Client::send_request`].
    pub(crate) fn send(
        &mut self,
        transport: &mut impl Transport,
        api: Api,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Response, Error> {
        let mut request = Request::new(method, url).header("accept", "application/json");
        if let Some(body) = body {
            request = request.json_body(body);
        }
        self.send_request(transport, api, request)
    }

    /// Sends a request the caller built (extra headers, an answer weight) with
    /// the API's bearer token, retrying transient answers (every call here is
    /// safe to repeat: GET, PUT, DELETE, read-only POSTs and idempotent
    /// changes); a final non-2xx answer becomes the typed error, scrubbed.
    pub(crate) fn send_request(
        &mut self,
        transport: &mut impl Transport,
        api: Api,
        request: Request,
    ) -> Result<Response, Error> {
        let request = self.authorized(transport, api, request)?;
        let answer = self.exchange(transport, &request, Repeat::Transient);
        self.checked(api, &request, answer)
    }

    /// [`Client::send_request`] for a change that is not safe to repeat (a
    /// POST that adds): sent again only after 429, which Graph and ARM answer
    /// before doing anything. A timeout, a dropped connection or a 5xx may
    /// come after the change was made, so each is returned to the caller, who
    /// alone can tell (by reading) whether to send it again.
    pub(crate) fn send_once(
        &mut self,
        transport: &mut impl Transport,
        api: Api,
        request: Request,
    ) -> Result<Response, Error> {
        let request = self.authorized(transport, api, request)?;
        let answer = self.exchange(transport, &request, Repeat::ThrottledOnly);
        self.checked(api, &request, answer)
    }

    /// Several requests to one API at once (a fan-out): each with the API's
    /// bearer token, at most `concurrency` in flight through the transport's
    /// window, and retried as [`Client::send_request`] retries one. The
    /// transient answers of a round are sent again together, in the next
    /// window, after the longest wait any of them asks for (its
    /// `Retry-After`, or the backoff), while the retry policy allows; the
    /// retry budget counts from the fan-out's start. Each answer is checked
    /// and scrubbed on its own: one failure never fails the others. Only a
    /// token that cannot be had fails the whole fan-out.
    pub(crate) fn send_all(
        &mut self,
        transport: &mut impl Transport,
        api: Api,
        requests: Vec<Request>,
        concurrency: usize,
    ) -> Result<Vec<Result<Response, Error>>, Error> {
        let requests = requests
            .into_iter()
            .map(|request| self.authorized(transport, api, request))
            .collect::<Result<Vec<Request>, Error>>()?;
        let answers = self.exchange_all(transport, &requests, concurrency);
        Ok(requests.iter().zip(answers).map(|(request, answer)| self.checked(api, request, answer)).collect())
    }

    /// The request with the API's bearer token, first among its headers, and
    /// a fresh client request id (on Graph, also [`GRAPH_PREFER`]).
    pub(crate) fn authorized(
        &mut self,
        transport: &mut impl Transport,
        api: Api,
        request: Request,
    ) -> Result<Request, Error> {
        let token = self.token(transport, api)?;
        let mut request = traced(transport, request);
        request.headers.insert(0, ("authorization".to_owned(), format!("Bearer {}", token.expose())));
        if api == Api::Graph {
            let id = request.header_value(CLIENT_REQUEST_ID).unwrap_or_default().to_owned();
            request.headers.push((GRAPH_CLIENT_REQUEST_ID.to_owned(), id));
            request.headers.push(GRAPH_PREFER.map(str::to_owned).into());
        }
        Ok(request)
    }

    /// Every item: the first page's, then each `nextLink`'s, followed
    /// verbatim, only to the API's origin, never twice, at most `max_pages`,
    /// and only while what it gathers stays within the collect limit (past
    /// it, a typed error that says to page).
    pub(crate) fn walk<T: DeserializeOwned>(
        &mut self,
        transport: &mut impl Transport,
        api: Api,
        page: Page<T>,
        max_pages: Option<u32>,
        what: &str,
    ) -> Result<Vec<T>, Error> {
        let gather = if what == "incident list" { paging::INCIDENTS } else { paging::CHILD_LIST };
        self.walk_within(transport, api, page, max_pages, what, gather)
    }

    /// [`Client::walk`] with how its pages are weighed and what its refusal
    /// suggests (see [`Collected`]).
    pub(crate) fn walk_within<T: DeserializeOwned>(
        &mut self,
        transport: &mut impl Transport,
        api: Api,
        mut page: Page<T>,
        max_pages: Option<u32>,
        what: &str,
        gather: Gather,
    ) -> Result<Vec<T>, Error> {
        let mut walk = PageWalk::new(self.base(api).clone(), max_pages);
        let mut held = Collected::new(self.collect_limit, gather, std::mem::size_of::<T>());
        held.add(page.value.len(), None)?;
        let mut all = std::mem::take(&mut page.value);
        while let Some(link) = page.next_link.take() {
            let body = self.send(transport, api, Method::Get, walk.next(&link)?, None)?.body;
            page = parse(&body, what)?;
            held.add(page.value.len(), Some(body.len()))?;
            drop(body);
            all.append(&mut page.value);
        }
        Ok(all)
    }

    /// An etag-guarded ARM update: GET, `change` computes the body to PUT
    /// from what was read (the etag travels in it; `None`: nothing changes,
    /// the resource is returned as read), PUT; on 409 Conflict read again and
    /// re-apply the same change, so another writer's edit is never dropped.
    pub(crate) fn read_modify_write<T>(
        &mut self,
        transport: &mut impl Transport,
        url: &Url,
        read: impl Fn(&[u8]) -> Result<T, Error>,
        change: impl Fn(&T) -> Result<Option<Vec<u8>>, Error>,
    ) -> Result<T, Error> {
        let mut attempt = 1;
        loop {
            let current = read(&self.send(transport, Api::Arm, Method::Get, url.clone(), None)?.body)?;
            let Some(body) = change(&current)? else { return Ok(current) };
            match self.send(transport, Api::Arm, Method::Put, url.clone(), Some(body)) {
                Err(Error::Conflict(_)) if attempt < MAX_CONFLICT_ATTEMPTS => attempt += 1,
                result => return read(&result?.body),
            }
        }
    }

    /// The base URL of an API's endpoint: where its links may point.
    pub(crate) fn base(&self, api: Api) -> &Url {
        let endpoints = &self.settings.endpoints;
        match api {
            Api::Arm => &endpoints.arm.base,
            Api::LogAnalytics => &endpoints.log_analytics.base,
            Api::Graph => &endpoints.graph.base,
        }
    }

    /// The Graph token's application permissions, as its `roles` claim shows
    /// them (empty when no token is at hand or it is opaque).
    pub(crate) fn graph_roles(&self, now: u64) -> Vec<String> {
        let token =
            auth::host_token(&self.settings, Api::Graph).ok().flatten().or_else(|| self.tokens.get(Api::Graph, now));
        token.map(|t| check::roles(t.expose())).unwrap_or_default()
    }

    /// Sends, and again after a wait while the answer is transient and the
    /// retry policy allows; returns the last answer.
    fn exchange(
        &mut self,
        transport: &mut impl Transport,
        request: &Request,
        repeat: Repeat,
    ) -> Result<Response, Error> {
        let started = transport.monotonic_millis();
        let mut attempt = 0;
        loop {
            let response = transport.send(request, &self.settings.timeouts)?;
            if response.is_success() || (repeat == Repeat::ThrottledOnly && response.status != 429) {
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

    /// [`Client::exchange`] for a fan-out: every request once, through the
    /// window; then, round after round, the transient ones again. A request
    /// in round `n` has been retried `n` times, so the policy's count holds
    /// for each; no request is sent again before the wait its answer asked.
    fn exchange_all(
        &mut self,
        transport: &mut impl Transport,
        requests: &[Request],
        concurrency: usize,
    ) -> Vec<Result<Response, Error>> {
        let started = transport.monotonic_millis();
        let mut answers = transport.send_all(requests, concurrency, &self.settings.timeouts);
        answers.resize_with(requests.len(), || Err(lost()));
        let mut pending: Vec<usize> = (0..requests.len()).collect();
        for attempt in 0u32.. {
            let elapsed = std::time::Duration::from_millis(transport.monotonic_millis().saturating_sub(started));
            let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(transport.now_unix_secs());
            let mut wait = std::time::Duration::ZERO;
            let mut again = Vec::new();
            for index in pending {
                let Ok(response) = &answers[index] else { continue };
                if response.is_success() {
                    continue;
                }
                let jitter = transport.random_u64();
                if let Decision::RetryAfter(delay) =
                    retry::decide(&self.settings.retry, response, attempt, elapsed, now, jitter)
                {
                    wait = wait.max(delay);
                    again.push(index);
                }
            }
            if again.is_empty() {
                break;
            }
            transport.sleep(wait);
            let batch: Vec<Request> = again.iter().map(|index| requests[*index].clone()).collect();
            let mut retried = transport.send_all(&batch, concurrency, &self.settings.timeouts);
            retried.resize_with(batch.len(), || Err(lost()));
            for (index, answer) in again.iter().zip(retried) {
                answers[*index] = answer;
            }
            pending = again;
        }
        answers
    }

    /// A transport result as the caller sees it: success, or the typed error, scrubbed.
    pub(crate) fn checked(
        &mut self,
        api: Api,
        request: &Request,
        answer: Result<Response, Error>,
    ) -> Result<Response, Error> {
        let response = answer.map_err(|e| self.scrub(e).traced(Trace::of(request, None)))?;
        if response.is_success() {
            return Ok(response);
        }
        // Scrubbed while the refused token is still known: a 401 body may echo it.
        let error = self.scrub(Error::from_service_response(&response)).traced(Trace::of(request, Some(&response)));
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
        // A certificate signs a fresh assertion for each token request.
        let signed = match &self.settings.certificate {
            Some(key) => {
                let audience = auth::token_url(&self.settings);
                let mut rng = TransportRng(transport);
                Some(Secret::new(key.assertion(audience.as_str(), &self.settings.client_id, now, &mut rng)?))
            }
            None => None,
        };
        let proof = match (&self.settings.credential, &signed) {
            (Credential::Certificate { .. }, Some(assertion)) => auth::ClientProof::Assertion(assertion),
            (Credential::ClientSecret(secret), _) => auth::ClientProof::Secret(secret),
            (Credential::ClientAssertion(assertion), _) => auth::ClientProof::Assertion(assertion),
            (Credential::AccessTokens { .. } | Credential::Certificate { .. }, _) => {
                return Err(Error::auth_local(
                    "NoCredential",
                    "the connection has no credential for this API",
                    "Give a token for this API, or configure a client secret, assertion or certificate.",
                ))
            }
        };
        let request = traced(transport, auth::token_request(&self.settings, proof, api));
        // The signed assertion is a secret of this request alone: scrubbed too.
        let scrub = |client: &Client, error: Error| {
            let error = client.scrub(error);
            match &signed {
                Some(assertion) => error.scrub(&[assertion.expose()]),
                None => error,
            }
        };
        // Retried only on transient answers (5xx, 429, 408): a refused secret is final.
        let response = self
            .exchange(transport, &request, Repeat::Transient)
            .map_err(|e| scrub(self, e).traced(Trace::of(&request, None)))?;
        let token = auth::parse_token_response(&response, now)
            .map_err(|e| scrub(self, e).traced(Trace::of(&request, Some(&response))))?;
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

/// `request` with a fresh client request id from the transport's randomness.
fn traced(transport: &mut impl Transport, request: Request) -> Request {
    request.traced([transport.random_u64(), transport.random_u64()])
}

/// The transport's randomness as a CSPRNG for RSA blinding and `jti`s: the
/// component's transport reads `wasi:random/random`, which WASI specifies
/// as cryptographically secure.
struct TransportRng<'a, T: Transport>(&'a mut T);

impl<T: Transport> rsa::rand_core::RngCore for TransportRng<'_, T> {
    fn next_u32(&mut self) -> u32 {
        (self.0.random_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0.random_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rsa::rand_core::impls::fill_bytes_via_next(self, dest)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl<T: Transport> rsa::rand_core::CryptoRng for TransportRng<'_, T> {}

#[cfg(test)]
mod tests {
    use crate::core::http::CLIENT_REQUEST_ID;
    use crate::core::testing::{client, token, Script};
    use crate::core::Error;

    fn is_uuid(text: &str) -> bool {
        uuid::Uuid::try_parse(text).is_ok_and(|id| id.get_version_num() == 4)
    }

    #[test]
    fn every_request_carries_a_client_request_id_and_a_failure_names_both_ids() {
        let failed = r#"{"error":{"code":"NotFound","message":"Incident not found"}}"#;
        let mut script = Script::new(vec![token()]).then(503, &[], "").then(
            404,
            &[("x-ms-request-id", "7f3c9a2e-1111-4b5c-8d9e-0a1b2c3d4e5f")],
            failed,
        );
        let error = client().sentinel().get_incident(&mut script, "id").unwrap_err();

        let ids: Vec<&str> = script.sent.iter().map(|r| r.header_value(CLIENT_REQUEST_ID).unwrap()).collect();
        assert!(ids.iter().all(|id| is_uuid(id)), "{ids:?}");
        assert_eq!(ids[1], ids[2], "a retry keeps its request's id");
        let Error::NotFound(failure) = error else { panic!("{error:?}") };
        assert_eq!(failure.trace.client_request_id, ids[2]);
        assert_eq!(failure.trace.request_id, "7f3c9a2e-1111-4b5c-8d9e-0a1b2c3d4e5f");
    }

    #[test]
    fn a_request_that_got_no_answer_still_names_its_id_and_no_header_text_is_trusted() {
        let mut script = Script::new(vec![token()]);
        let error = client().sentinel().get_incident(&mut script, "id").unwrap_err();
        let trace = error.trace().expect("a request failed").clone();
        assert!(is_uuid(&trace.client_request_id) && trace.request_id.is_empty(), "{trace:?}");

        let hostile = "Bearer tok-123 <script>";
        let mut script = Script::new(vec![token()]).then(400, &[("x-ms-request-id", hostile)], "{}");
        let error = client().sentinel().get_incident(&mut script, "id").unwrap_err();
        assert_eq!(error.trace().unwrap().request_id, "", "{error:?}");
    }
}
