//! The hostile-server suite (issue 9, "Make it stay fixed"): the built
//! component, in the host, against a raw-TCP server on 127.0.0.1 that answers
//! with crafted bodies, headers, tokens and timings.
//!
//! Each case, through one helper ([`check`]):
//! 1. opens a fresh session and takes a baseline (`list-incidents`, normal mode);
//! 2. switches the server to the case, makes the call the case targets, and
//!    asserts the exact outcome from [`EXPECTED`];
//! 3. asserts that no part (8+ characters) of the client secret or of any
//!    token the server issued, in raw, form-, percent- (both hex cases) or
//!    JSON-escaped form, appears in the error's Display or Debug, in the
//!    value returned, or in the host's audit log; and that the error text
//!    holds no control character;
//! 4. switches back to normal and asserts that the same session's next call
//!    returns exactly the baseline.
//!
//! The `cli_` cases run the `sentinel` binary instead and check its exit
//! code, stdout and stderr (skipped when the binary has not been built).
//! `SENTINEL_HOSTILE_COMPONENT=path.wasm` runs the in-process cases against
//! another build of the component, such as an older commit's.
//!
//! Everything talks to 127.0.0.1 only (the host's loopback guard aborts the
//! run otherwise). Timeouts and retry delays are short so the suite is fast.

mod common;
#[path = "common/hostile_server.rs"]
mod hostile_server;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hostile_server::{
    head, incident, incident_page, incidents, mode, token_answer, HostileServer, Mode, Recorded, Reply, INCIDENT_NAMES,
};
use sentinel_connector::core::config::{ConnectionConfig, Credential, PUBLIC_ARM_SCOPE};
use sentinel_connector::core::http::{Secret, Timeouts};
use sentinel_connector::core::retry::RetryPolicy;
use sentinel_host::cli::errors::kind;
use sentinel_host::runtime::graph_security as gwit;
use sentinel_host::runtime::sandbox::AuditRecord;
use sentinel_host::runtime::types::{self, ConnectorError, ErrorKind};
use sentinel_host::runtime::{
    graph_list_options, list_options, poll_options, CallError, ConnectorHost, HostOptions, Limits, Session,
};
use serde_json::{json, Value};

/// Case → the outcome it must have: a WIT error case, or `ok`.
const EXPECTED: &[(&str, &str)] = &[
    // Item 1: a 401 echoing the Authorization header, on each API; a 403 too.
    ("arm_401_echoing_the_bearer_token", "auth"),
    ("log_analytics_401_echoing_the_bearer_token", "auth"),
    ("graph_401_echoing_the_bearer_token", "auth"),
    ("arm_403_echoing_the_bearer_token", "forbidden"),
    // Item 2: the secret and tokens in encoded forms, and long bodies.
    ("token_401_echoing_the_form_body", "auth"),
    ("token_400_echoing_the_form_body", "auth"),
    ("token_401_echoing_the_secret_percent_encoded_lower_case", "auth"),
    ("token_401_echoing_the_secret_with_every_non_alphanumeric_escaped", "auth"),
    ("arm_401_echoing_the_token_json_escaped", "auth"),
    ("token_error_body_longer_than_200_characters_starting_with_the_secret", "auth"),
    ("arm_409_body_longer_than_200_characters_starting_with_the_token", "conflict"),
    // Item 3 (not a server's doing, but the same promise): a secret in the wrong field.
    ("the_secret_pasted_as_the_client_id", "invalid-input"),
    // Item 4: terminal injection.
    ("escape_sequences_in_an_error_message", "bad-request"),
    ("escape_sequences_in_a_token_error_description", "auth"),
    ("escape_sequences_in_an_incident_title", "ok"),
    ("non_utf8_bytes_and_controls_in_an_error_body", "bad-request"),
    // Item 8: answers too large to hold.
    ("a_40_mb_body_with_content_length", "invalid-response"),
    ("a_40_mb_chunked_body", "invalid-response"),
    ("an_endless_chunked_body", "invalid-response"),
    ("a_kql_answer_of_12_mb", "invalid-response"),
    ("a_chunked_kql_answer_of_12_mb", "invalid-response"),
    // Item 9: arithmetic on service values.
    ("arm_429_with_a_huge_retry_after", "throttled"),
    ("arm_429_with_a_retry_after_date_in_year_9999", "throttled"),
    ("token_503_with_a_huge_retry_after", "service"),
    ("graph_429_with_a_huge_retry_after", "throttled"),
    ("a_token_with_a_huge_expires_in_is_cached", "ok"),
    ("a_token_with_a_negative_expires_in", "invalid-response"),
    ("a_token_with_a_garbage_expires_in", "invalid-response"),
    // Item 10: unusable cursors.
    ("a_cursor_past_year_9999", "invalid-input"),
    ("a_cursor_with_i64_min_values", "invalid-input"),
    // Item 11: a poison incident in a poll with details.
    ("a_poison_incident_in_a_poll_with_details", "ok"),
    // Redirects are never followed.
    ("redirect_301_to_another_port", "invalid-response"),
    ("redirect_302_to_another_port", "invalid-response"),
    ("redirect_307_to_another_port", "invalid-response"),
    ("redirect_308_to_another_port", "invalid-response"),
    ("token_endpoint_redirect_to_another_port", "invalid-response"),
    // Content-Length lies, huge headers, slow and silent servers.
    ("content_length_longer_than_the_body_then_close", "transport"),
    ("content_length_shorter_than_the_json", "invalid-response"),
    ("response_headers_of_500_kb", "transport"),
    ("slow_loris_body", "transport"),
    ("a_silent_server", "transport"),
    // Bodies that are not what they should be.
    ("json_nested_100k_deep", "invalid-response"),
    ("json_nested_100k_deep_in_a_kql_cell", "invalid-response"),
    ("json_nested_100k_deep_in_a_graph_list", "invalid-response"),
    ("number_1e999_as_the_incident_number", "invalid-response"),
    ("number_1e999_in_a_kql_cell", "invalid-response"),
    ("value_that_is_not_an_array", "invalid-response"),
    ("title_that_is_a_number", "invalid-response"),
    ("an_empty_200_answer", "invalid-response"),
    ("a_204_on_a_list", "invalid-response"),
    ("a_next_link_that_is_a_number", "invalid-response"),
    ("a_garbage_status_line", "transport"),
    ("closed_without_an_answer", "transport"),
    ("an_html_502", "service"),
    ("log_analytics_partial_error_echoing_the_token", "ok"),
    // Tokens that cannot be used as they are.
    ("crlf_in_the_access_token", "invalid-response"),
    ("a_token_type_other_than_bearer", "invalid-response"),
    ("a_token_answer_that_is_html", "invalid-response"),
    ("a_token_of_1_mb", "invalid-response"),
    // nextLinks that must not be followed.
    ("next_link_to_another_port", "invalid-response"),
    ("next_link_to_another_host_name", "invalid-response"),
    ("next_link_with_userinfo", "invalid-response"),
    ("next_link_with_another_scheme", "invalid-response"),
    ("next_link_to_a_file_url", "invalid-response"),
    ("an_endless_chain_of_next_links", "invalid-response"),
    ("a_repeated_next_link", "invalid-response"),
    ("graph_next_link_to_another_port", "invalid-response"),
    ("a_poll_whose_next_link_points_to_another_port", "invalid-response"),
    // The `sentinel` binary: what reaches stdout and stderr (exit code by variant).
    ("cli_arm_401_echoing_the_bearer_token", "auth"),
    ("cli_token_401_echoing_the_form_body", "auth"),
    ("cli_escape_sequences_in_incident_titles", "ok"),
    ("cli_a_40_mb_body", "invalid-response"),
    ("cli_partial_error_echoing_the_token", "ok"),
];

fn expected(case: &str) -> &'static str {
    EXPECTED
        .iter()
        .find(|(name, _)| *name == case)
        .map(|(_, outcome)| *outcome)
        .unwrap_or_else(|| panic!("{case} is not in EXPECTED"))
}

// ---------------------------------------------------------------------------
// The connection: one host, one way to open a session.

/// An Azure-generated-looking client secret: `Abc8Q~` and 220 more
/// characters, with `~`, `.`, `_` and `-` among them.
fn client_secret() -> &'static str {
    static SECRET: OnceLock<String> = OnceLock::new();
    SECRET.get_or_init(|| {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        const SPECIAL: &[u8] = b"~._-";
        let mut x: u64 = 0x5DEE_CE66_D1CE_5EED;
        let mut secret = String::from("Abc8Q~");
        for i in 0..220 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let r = (x >> 33) as usize;
            secret.push(if i % 6 == 2 { SPECIAL[(i / 6) % SPECIAL.len()] } else { ALNUM[r % ALNUM.len()] } as char);
        }
        secret
    })
}

/// The suite's host: the tests' egress options (custom clouds on loopback
/// only, the loopback guard installed), and a call deadline well above the
/// connection's own timeouts, so a call the guest fails to bound shows up
/// as a host timeout instead of hanging the suite.
///
/// `SENTINEL_HOSTILE_COMPONENT=path/to.wasm` runs the in-process cases
/// against another build of the component (an older commit's, to see which
/// cases it fails) in today's host.
fn hostile_host() -> &'static ConnectorHost {
    static HOST: OnceLock<ConnectorHost> = OnceLock::new();
    HOST.get_or_init(|| {
        let limits = Limits { call_timeout: Duration::from_secs(20), ..Limits::default() };
        let mut options = HostOptions { limits, ..common::test_host_options() };
        if let Some(path) = std::env::var_os("SENTINEL_HOSTILE_COMPONENT") {
            options.component = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.to_string_lossy()));
        }
        ConnectorHost::new(options).expect("the component loads")
    })
}

/// Every endpoint on the hostile server (the tests' one fixture config,
/// with the hostile server's names); short timeouts and retry delays.
fn config_for(url: &str) -> ConnectionConfig {
    ConnectionConfig {
        tenant_id: hostile_server::TENANT.into(),
        credential: Credential::ClientSecret(Secret::new(client_secret())),
        subscription_id: hostile_server::SUBSCRIPTION.into(),
        resource_group: hostile_server::RESOURCE_GROUP.into(),
        workspace_name: hostile_server::WORKSPACE.into(),
        workspace_id: Some(hostile_server::WORKSPACE_ID.into()),
        timeouts: Some(Timeouts { connect_ms: 2_000, first_byte_ms: 2_000, between_bytes_ms: 1_000 }),
        retry: Some(RetryPolicy { max_retries: 2, initial_delay_ms: 10, max_delay_ms: 50, total_budget_ms: 2_000 }),
        ..common::config_for(url)
    }
}

/// The one place a session is opened (an operator's loopback opt-in, when
/// the host needs one, goes here).
async fn open(config: ConnectionConfig, audit: Arc<Mutex<Vec<AuditRecord>>>) -> Result<Session, CallError> {
    let sink: sentinel_host::runtime::sandbox::AuditSink =
        Arc::new(move |record: &AuditRecord| audit.lock().unwrap().push(record.clone()));
    hostile_host().open("hostile", config, Some(sink)).await
}

// ---------------------------------------------------------------------------
// What a case observes.

/// The value a call returned (read through its Debug).
#[derive(Debug)]
#[allow(dead_code)]
enum Observed {
    Page(types::IncidentPage),
    Incidents(Vec<types::Incident>),
    Incident(Box<types::Incident>),
    Query(types::QueryResult),
    GraphPage(gwit::IncidentPage),
    GraphIncidents(Vec<gwit::Incident>),
    Poll(types::PollBatch),
    Many(Vec<Observed>),
    Nothing,
}

type Outcome = Result<Observed, CallError>;

fn outcome_name(outcome: &Outcome) -> String {
    match outcome {
        Ok(_) => "ok".into(),
        Err(CallError::Connector(error)) => kind(error).into(),
        Err(CallError::Timeout(after)) => format!("host-timeout after {after:?}"),
        Err(CallError::Trap(_)) => "trap".into(),
        Err(CallError::AtCapacity { .. }) => "at-capacity".into(),
    }
}

/// The raw, form-encoded, percent-encoded (both hex cases; unreserved
/// characters kept, `~` escaped too, or everything but letters and digits
/// escaped) and JSON-escaped (with and without `\/`) forms of a secret.
fn encoded_forms(secret: &str) -> Vec<String> {
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    // `kept`: the bytes left as they are besides letters and digits.
    let percent = |lower: bool, kept: &[u8]| -> String {
        secret
            .bytes()
            .map(|b| match b {
                b if b.is_ascii_alphanumeric() || kept.contains(&b) => (b as char).to_string(),
                b if lower => format!("%{b:02x}"),
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    let json = serde_json::to_string(secret).unwrap();
    let json = json.trim_matches('"').to_owned();
    let mut forms = vec![
        secret.to_owned(),
        form.clone(),
        form.replace('+', "%20"),
        // RFC 3986 (unreserved kept), with `~` escaped as some encoders do,
        // and with every byte but letters and digits escaped.
        percent(false, b"-._~"),
        percent(true, b"-._~"),
        percent(false, b"-._"),
        percent(true, b"-._"),
        percent(false, b""),
        percent(true, b""),
        json.replace('/', "\\/"),
        json,
    ];
    forms.sort();
    forms.dedup();
    forms
}

/// Lower-case percent-encoding of every byte but letters, digits and `kept`.
fn percent_encoded(text: &str, kept: &[u8]) -> String {
    text.bytes()
        .map(
            |b| {
                if b.is_ascii_alphanumeric() || kept.contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02x}")
                }
            },
        )
        .collect()
}

/// The text with each `sp1.` cursor's base64url body cut out.
fn without_cursors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sp1.") {
        out.push_str(&rest[..at + 4]);
        rest = rest[at + 4..].trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        out.push_str("<cursor>");
    }
    out.push_str(rest);
    out
}

/// Every 8-byte window of every form of every secret.
struct Secrets(HashSet<Vec<u8>>);

impl Secrets {
    fn of<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Secrets {
        let mut windows = HashSet::new();
        for secret in secrets {
            for form in encoded_forms(secret) {
                for window in form.as_bytes().windows(8) {
                    windows.insert(window.to_vec());
                }
            }
        }
        Secrets(windows)
    }

    /// The first part of a secret found in the text.
    fn found_in(&self, text: &str) -> Option<String> {
        text.as_bytes().windows(8).find(|w| self.0.contains(*w)).map(|w| String::from_utf8_lossy(w).into_owned())
    }
}

/// What one case saw, for the assertions particular to it.
struct Checked {
    server: HostileServer,
    outcome: Outcome,
    /// The error's Display (or the value's Debug).
    shown: String,
    /// The requests that arrived during the case's call.
    during: Vec<Recorded>,
    elapsed: Duration,
    audit: Vec<AuditRecord>,
}

impl Checked {
    fn error(&self) -> &ConnectorError {
        match &self.outcome {
            Err(CallError::Connector(error)) => error,
            other => panic!("not a connector error: {other:?}"),
        }
    }

    fn message(&self) -> String {
        self.error().message.clone()
    }

    fn assert_redacted(&self) {
        assert!(self.shown.contains("[redacted]"), "the echo is shown as [redacted]: {}", self.shown);
    }

    fn assert_foreign_untouched(&self) {
        assert_eq!(
            self.server.foreign_connections(),
            0,
            "the other port was never connected to: {:?}",
            self.server.requests()
        );
    }

    fn count(&self, which: impl Fn(&Recorded) -> bool) -> usize {
        self.during.iter().filter(|r| which(r)).count()
    }
}

/// Runs one case: baseline, the case's call, the checks on what it showed,
/// and the same session's next normal call. Every problem is collected and
/// reported together.
async fn check<C>(case: &'static str, make_mode: impl FnOnce(&HostileServer) -> Option<Mode>, call: C) -> Checked
where
    C: AsyncFnOnce(&mut Session) -> Outcome,
{
    let server = HostileServer::start().await;
    let audit = Arc::new(Mutex::new(Vec::new()));
    let mut session = open(config_for(&server.url()), audit.clone()).await.expect("the session opens");
    let baseline = session.list_incidents(list_options()).await.expect("the baseline call succeeds");
    assert_eq!(baseline.incidents.len(), INCIDENT_NAMES.len(), "the normal mode's incidents");

    if let Some(mode) = make_mode(&server) {
        server.set(mode);
    }
    let before = server.requests().len();
    let started = Instant::now();
    let outcome = call(&mut session).await;
    let elapsed = started.elapsed();
    let during = server.requests()[before..].to_vec();

    let mut problems = Vec::new();
    let actual = outcome_name(&outcome);
    let want = expected(case);
    let (shown, debug) = match &outcome {
        Ok(value) => (format!("{value:?}"), String::new()),
        Err(error) => (error.to_string(), format!("{error:?}")),
    };
    // Shown with --nocapture: what each case ended as.
    eprintln!("{case}: {actual} in {elapsed:?}: {}", excerpt(&shown));
    if actual != want {
        problems.push(format!("expected {want}, got {actual}: {}", excerpt(&shown)));
    }
    if elapsed > Duration::from_secs(10) {
        problems.push(format!("the call took {elapsed:?}"));
    }

    // Nothing of a secret or token anywhere the caller can see. A poll's
    // cursor is left out: it is base64url JSON the poller writes from the
    // service's timestamps and names, and eight characters of it can equal
    // eight of a JWT's base64url claims (both encode `":17…`) by chance.
    let shown = without_cursors(&shown);
    let tokens = server.tokens();
    let secrets = Secrets::of(std::iter::once(client_secret()).chain(tokens.iter().map(String::as_str)));
    let records: Vec<String> = audit.lock().unwrap().iter().map(|r| format!("{r} {r:?}")).collect();
    let shown_as = if outcome.is_ok() { "the value returned" } else { "the error's Display" };
    for (what, text) in [(shown_as, &shown), ("the error's Debug", &debug), ("the audit log", &records.join("\n"))] {
        if let Some(part) = secrets.found_in(text) {
            problems.push(format!("{what} shows part of a secret ({part:?}): {}", excerpt(text)));
        }
    }
    if matches!(outcome, Err(CallError::Connector(_))) {
        if let Some(c) = shown.chars().find(|c| c.is_control()) {
            problems.push(format!(
                "the error text holds the control character U+{:04X}: {}",
                c as u32,
                excerpt(&shown.escape_debug().to_string())
            ));
        }
    }

    // The same session serves the next normal call, exactly as before.
    server.normal();
    match session.list_incidents(list_options()).await {
        Ok(after) if format!("{after:?}") == format!("{baseline:?}") => {}
        Ok(after) => {
            problems.push(format!("the next normal call differs from the baseline: {}", excerpt(&format!("{after:?}"))))
        }
        Err(error) => problems.push(format!("the next normal call failed: {}", excerpt(&format!("{error:?}")))),
    }
    assert!(problems.is_empty(), "{case}:\n  - {}", problems.join("\n  - "));
    let audit = audit.lock().unwrap().clone();
    Checked { server, outcome, shown, during, elapsed, audit }
}

/// At most 600 characters, a trap's wasm backtrace frames left out (its
/// cause comes after them).
fn excerpt(text: &str) -> String {
    let text: Vec<&str> = text.lines().filter(|line| !line.contains("<wasm function")).collect();
    let text = text.join("\n");
    let cut: String = text.chars().take(600).collect();
    if cut.len() < text.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

// ---------------------------------------------------------------------------
// Calls.

async fn list(session: &mut Session) -> Outcome {
    session.list_incidents(list_options()).await.map(Observed::Page)
}

async fn list_all(session: &mut Session) -> Outcome {
    session.list_all_incidents(list_options()).await.map(Observed::Incidents)
}

async fn get_first(session: &mut Session) -> Outcome {
    session.get_incident(INCIDENT_NAMES[0]).await.map(|incident| Observed::Incident(Box::new(incident)))
}

fn query_options() -> types::QueryOptions {
    types::QueryOptions { timespan: None, server_timeout_seconds: None }
}

async fn search(session: &mut Session) -> Outcome {
    session.search_events("SecurityEvent | take 2", query_options()).await.map(Observed::Query)
}

async fn graph_list(session: &mut Session) -> Outcome {
    session.graph().list_incidents(graph_list_options()).await.map(Observed::GraphPage)
}

async fn graph_list_all(session: &mut Session) -> Outcome {
    session.graph().list_all_incidents(graph_list_options()).await.map(Observed::GraphIncidents)
}

fn poll_from_long_ago(include_details: bool) -> types::PollOptions {
    types::PollOptions {
        first_fetch: Some("2020-01-01T00:00:00Z".into()),
        include_details,
        max_events: Some(100),
        ..poll_options()
    }
}

async fn poll(session: &mut Session) -> Outcome {
    session.poll(None, poll_from_long_ago(false)).await.map(Observed::Poll)
}

// ---------------------------------------------------------------------------
// Modes.

/// Answers every request `which` selects with `reply`.
fn on(which: fn(&Recorded) -> bool, reply: Reply) -> Option<Mode> {
    Some(mode(move |request| which(request).then(|| reply.clone())))
}

/// Answers every request `which` selects with what `answer` makes of it.
fn on_each(which: fn(&Recorded) -> bool, answer: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Option<Mode> {
    Some(mode(move |request| which(request).then(|| answer(request))))
}

fn normal_mode(_: &HostileServer) -> Option<Mode> {
    None
}

fn authorization(request: &Recorded) -> String {
    request.header("authorization").unwrap_or_default().to_owned()
}

fn la_token(request: &Recorded) -> bool {
    request.is_log_analytics_token()
}

fn incident_list(request: &Recorded) -> bool {
    request.is_incident_list()
}

fn arm(request: &Recorded) -> bool {
    request.is_arm()
}

fn query(request: &Recorded) -> bool {
    request.is_query()
}

fn graph(request: &Recorded) -> bool {
    request.is_graph()
}

/// The normal list page with `link` as its nextLink.
fn page_linking_to(link: String) -> Option<Mode> {
    on(incident_list, Reply::json(200, incident_page(&incidents(), Some(&link))))
}

/// The list path on the server, for nextLinks.
fn list_path() -> String {
    format!("{}/incidents", hostile_server::workspace_id_path())
}

/// A token answer with these fields in place of the normal ones.
fn token_answer_with(server: &HostileServer, fields: Value) -> Option<Mode> {
    let issuer = server.issuer();
    on_each(la_token, move |request| {
        let mut answer: Value =
            serde_json::from_str(&token_answer(&issuer.token(&request.token_scope().unwrap_or_default()))).unwrap();
        for (key, value) in fields.as_object().unwrap() {
            answer[key] = value.clone();
        }
        Reply::json(200, answer.to_string())
    })
}

/// A KQL answer of `rows` rows, about 60 bytes each.
fn big_query_answer(rows: usize) -> Vec<u8> {
    let row = r#"["2026-01-01T00:00:00Z","web-server-0001.contoso.com",12345]"#;
    let rows = vec![row; rows].join(",");
    format!(
        r#"{{"tables":[{{"name":"PrimaryResult","columns":[{{"name":"TimeGenerated","type":"datetime"}},{{"name":"Computer","type":"string"}},{{"name":"Count","type":"long"}}],"rows":[{rows}]}}]}}"#
    )
    .into_bytes()
}

/// `status` with `Retry-After: 1` first, then with `Retry-After:
/// 18446744073709551615`: the second decision is taken a second into the
/// call, where adding the two durations overflowed (issue 9, item 9).
fn retry_after_then_huge(which: fn(&Recorded) -> bool, status: u16, body: &'static str) -> Option<Mode> {
    let answered = Arc::new(AtomicUsize::new(0));
    on_each(which, move |_| {
        let retry_after = if answered.fetch_add(1, Ordering::SeqCst) == 0 { "1" } else { "18446744073709551615" };
        let content_type = if body.starts_with('{') { "application/json" } else { "text/html" };
        Reply::with(status, &[("retry-after", retry_after), ("content-type", content_type)], body)
    })
}

/// Waited the one second asked first, then refused the huge wait at once.
fn assert_waited_once_then_gave_up(c: &Checked, which: fn(&Recorded) -> bool) {
    assert_eq!(c.count(which), 2, "the first answer was retried once");
    assert!(
        c.elapsed >= Duration::from_secs(1) && c.elapsed < Duration::from_secs(3),
        "one 1 s wait, then no more: {:?}",
        c.elapsed
    );
}

const MB_40: usize = 40 * 1024 * 1024;

fn padding(len: usize) -> Vec<u8> {
    vec![b' '; len]
}

/// A redirect of the incident list to the foreign port.
fn redirect(server: &HostileServer, status: u16) -> Option<Mode> {
    let location = format!("{}/steal?from=redirect", server.foreign_url());
    on(incident_list, Reply::with(status, &[("location", &location)], ""))
}

// ---------------------------------------------------------------------------
// The cases.

/// One `#[tokio::test]` per case, and the list of the cases defined.
macro_rules! cases {
    ($($name:ident: $mode:expr, $call:expr $(, then $then:expr)?;)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                #[allow(unused_variables)]
                let checked = check(stringify!($name), $mode, $call).await;
                $( ($then)(&checked); )?
            }
        )+
        const DEFINED: &[&str] = &[$(stringify!($name)),+];
    };
}

cases! {
    arm_401_echoing_the_bearer_token:
        |_: &HostileServer| on_each(arm, |r| Reply::error(401, "InvalidAuthenticationToken", &format!("The access token is invalid. Received header 'Authorization: {}'", authorization(r)))),
        list, then Checked::assert_redacted;
    log_analytics_401_echoing_the_bearer_token:
        |_: &HostileServer| on_each(query, |r| Reply::json(401, json!({"error": {"code": "InvalidTokenError", "message": format!("The provided authentication is not valid for this resource: {}", authorization(r)), "correlationId": "7c3c4e8b-9a8f-4d2e-8f1a-2b3c4d5e6f70"}}).to_string())),
        search, then Checked::assert_redacted;
    graph_401_echoing_the_bearer_token:
        |_: &HostileServer| on_each(graph, |r| Reply::json(401, json!({"error": {"code": "InvalidAuthenticationToken", "message": format!("Access token validation failure. Invalid audience: {}", authorization(r)), "innerError": {"date": "2026-01-01T00:00:00", "request-id": "d6c8a1e2-0000-4000-8000-000000000001"}}}).to_string())),
        graph_list, then Checked::assert_redacted;
    arm_403_echoing_the_bearer_token:
        |_: &HostileServer| on_each(arm, |r| Reply::error(403, "AuthorizationFailed", &format!("The client with header '{}' does not have authorization to perform action", authorization(r)))),
        list, then Checked::assert_redacted;

    token_401_echoing_the_form_body:
        |_: &HostileServer| on_each(la_token, |r| Reply::json(401, json!({"error": "invalid_client", "error_description": format!("AADSTS7000215: Invalid client secret provided. Request was: {}\r\nTrace ID: 1", r.body_text()), "error_codes": [7000215]}).to_string())),
        search, then |c: &Checked| { c.assert_redacted(); assert!(c.shown.contains("AADSTS7000215"), "{}", c.shown) };
    token_400_echoing_the_form_body:
        |_: &HostileServer| on_each(la_token, |r| Reply::json(400, json!({"error": "invalid_request", "error_description": format!("AADSTS900144: Malformed request body: {}", r.body_text()), "error_codes": [900144]}).to_string())),
        search, then Checked::assert_redacted;
    token_401_echoing_the_secret_percent_encoded_lower_case:
        |_: &HostileServer| {
            let lower = percent_encoded(client_secret(), b"-._");
            on(la_token, Reply::with(401, &[("content-type", "text/plain")], format!("proxy: upstream refused client_secret={lower}&grant_type=client_credentials")))
        },
        search, then Checked::assert_redacted;
    token_401_echoing_the_secret_with_every_non_alphanumeric_escaped:
        |_: &HostileServer| {
            let all = percent_encoded(client_secret(), b"");
            on(la_token, Reply::with(401, &[("content-type", "text/plain")], format!("proxy: upstream refused client_secret={all}&grant_type=client_credentials")))
        },
        search, then Checked::assert_redacted;
    arm_401_echoing_the_token_json_escaped:
        |_: &HostileServer| on_each(arm, |r| {
            let escaped = serde_json::to_string(&authorization(r)).unwrap().replace('/', "\\/");
            Reply::with(401, &[("content-type", "application/json")], format!(r#"{{"echo":{{"headers":{{"Authorization":{escaped}}}}}}}"#))
        }),
        list, then Checked::assert_redacted;
    token_error_body_longer_than_200_characters_starting_with_the_secret:
        |_: &HostileServer| on(la_token, Reply::with(401, &[("content-type", "text/plain")], format!("{} {}", client_secret(), "x".repeat(400)))),
        search, then Checked::assert_redacted;
    arm_409_body_longer_than_200_characters_starting_with_the_token:
        |_: &HostileServer| on_each(arm, |r| Reply::with(409, &[("content-type", "text/plain")], format!("{} {}", authorization(r).trim_start_matches("Bearer "), "y".repeat(400)))),
        list, then Checked::assert_redacted;

    the_secret_pasted_as_the_client_id:
        normal_mode,
        async |_: &mut Session| {
            let server_url = "http://127.0.0.1:9";
            let swapped = ConnectionConfig { client_id: client_secret().to_owned(), ..config_for(server_url) };
            open(swapped, Arc::new(Mutex::new(Vec::new()))).await.map(|_| Observed::Nothing)
        },
        then |c: &Checked| assert!(c.error().kind == ErrorKind::InvalidInput && c.error().subject == "client-id", "{:?}", c.error());

    escape_sequences_in_an_error_message:
        |_: &HostileServer| on(incident_list, Reply::error(400, "BadRequest", "bad \u{1b}]8;;https://evil.example/\u{7}click here\u{1b}]8;;\u{7} \u{1b}[2J\u{1b}[31mred\r\nX-Forged: 1\u{0}\u{7f}")),
        list;
    escape_sequences_in_a_token_error_description:
        |_: &HostileServer| on(la_token, Reply::json(401, json!({"error": "invalid_client", "error_description": "AADSTS7000215: \u{1b}]0;pwned\u{7}Invalid \u{1b}[1;31msecret\u{9b}31m", "error_codes": [7000215]}).to_string())),
        search;
    escape_sequences_in_an_incident_title:
        |_: &HostileServer| {
            on_each(|r| r.incident_name().is_some(), |_| Reply::json(200, incident(INCIDENT_NAMES[0], 1, HOSTILE_TITLE).to_string()))
        },
        get_first,
        then |c: &Checked| {
            let Ok(Observed::Incident(incident)) = &c.outcome else { panic!() };
            assert_eq!(incident.title, HOSTILE_TITLE, "data comes back exact");
        };
    non_utf8_bytes_and_controls_in_an_error_body:
        |_: &HostileServer| on_each(incident_list, |r| {
            let mut body = b"\xff\xfe\x1b[31m not utf-8 \xc3\x28 \x00\x07 ".to_vec();
            body.extend_from_slice(authorization(r).as_bytes());
            body.extend_from_slice(b" \x80\x81\r\n");
            Reply::with(400, &[("content-type", "text/plain; charset=latin1")], body)
        }),
        list;

    a_40_mb_body_with_content_length:
        |_: &HostileServer| on(incident_list, Reply::Repeat { head: head(200, &[("content-type", "application/json"), ("content-length", &MB_40.to_string())]), chunk: padding(64 * 1024), total: Some(MB_40), chunked: false }),
        list, then |c: &Checked| assert!(c.message().contains("larger than"), "{}", c.shown);
    a_40_mb_chunked_body:
        |_: &HostileServer| on(incident_list, Reply::Repeat { head: head(200, &[("content-type", "application/json")]), chunk: padding(64 * 1024), total: Some(MB_40), chunked: true }),
        list, then |c: &Checked| assert!(c.message().contains("larger than"), "{}", c.shown);
    an_endless_chunked_body:
        |_: &HostileServer| on(incident_list, Reply::Repeat { head: head(200, &[("content-type", "application/json")]), chunk: padding(64 * 1024), total: None, chunked: true }),
        list, then |c: &Checked| assert!(c.message().contains("larger than"), "{}", c.shown);
    a_kql_answer_of_12_mb:
        |_: &HostileServer| {
            let body = big_query_answer(200_000);
            assert!(body.len() > 11_000_000, "{} bytes", body.len());
            on(query, Reply::json(200, body))
        },
        search, then |c: &Checked| assert!(c.message().contains("larger than"), "{}", c.shown);
    a_chunked_kql_answer_of_12_mb:
        |_: &HostileServer| {
            let body = big_query_answer(200_000);
            let total = body.len();
            on(query, Reply::Repeat { head: head(200, &[("content-type", "application/json")]), chunk: body, total: Some(total), chunked: true })
        },
        search, then |c: &Checked| assert!(c.message().contains("larger than"), "{}", c.shown);

    arm_429_with_a_huge_retry_after:
        |_: &HostileServer| retry_after_then_huge(incident_list, 429, r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#),
        list, then |c: &Checked| assert_waited_once_then_gave_up(c, Recorded::is_incident_list);
    arm_429_with_a_retry_after_date_in_year_9999:
        |_: &HostileServer| on(incident_list, Reply::with(429, &[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"), ("content-type", "application/json")], r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#)),
        list, then |c: &Checked| assert!(c.elapsed < Duration::from_secs(2), "the budget refused to wait: {:?}", c.elapsed);
    token_503_with_a_huge_retry_after:
        |_: &HostileServer| retry_after_then_huge(la_token, 503, "<html><body>Service Unavailable</body></html>"),
        search, then |c: &Checked| assert_waited_once_then_gave_up(c, Recorded::is_log_analytics_token);
    graph_429_with_a_huge_retry_after:
        |_: &HostileServer| retry_after_then_huge(graph, 429, r#"{"error":{"code":"TooManyRequests","message":"Too many requests."}}"#),
        graph_list, then |c: &Checked| assert_waited_once_then_gave_up(c, Recorded::is_graph);
    a_token_with_a_huge_expires_in_is_cached:
        |s: &HostileServer| token_answer_with(s, json!({"expires_in": 18446744073709551615u64})),
        async |s: &mut Session| {
            let first = search(s).await?;
            let second = search(s).await?;
            Ok(Observed::Many(vec![first, second]))
        },
        then |c: &Checked| assert_eq!(c.count(Recorded::is_log_analytics_token), 1, "the token was cached: {:?}", c.during.iter().map(|r| r.path()).collect::<Vec<_>>());
    a_token_with_a_negative_expires_in:
        |s: &HostileServer| token_answer_with(s, json!({"expires_in": -3599})),
        search;
    a_token_with_a_garbage_expires_in:
        |s: &HostileServer| token_answer_with(s, json!({"expires_in": "in a while"})),
        search;

    a_cursor_past_year_9999:
        normal_mode,
        async |s: &mut Session| {
            let cursor = edited_cursor(s, |state| state["created"]["mark"] = json!(253_402_300_800_000_000i64)).await?;
            s.poll(Some(cursor), poll_from_long_ago(false)).await.map(Observed::Poll)
        },
        then |c: &Checked| assert!(c.error().kind == ErrorKind::InvalidInput && c.error().subject == "cursor", "{:?}", c.error());
    a_cursor_with_i64_min_values:
        normal_mode,
        async |s: &mut Session| {
            let cursor = edited_cursor(s, |state| {
                state["start"] = json!(i64::MIN);
                state["created"]["mark"] = json!(i64::MIN);
                state["modified"]["mark"] = json!(i64::MIN);
            })
            .await?;
            s.poll(Some(cursor), poll_from_long_ago(false)).await.map(Observed::Poll)
        },
        then |c: &Checked| assert!(c.error().kind == ErrorKind::InvalidInput && c.error().subject == "cursor", "{:?}", c.error());

    a_poison_incident_in_a_poll_with_details:
        |_: &HostileServer| {
            let mut list = incidents();
            list.push(incident("../x", 4, "Poison one"));
            list.push(incident("a/b", 5, "Poison two"));
            on(incident_list, Reply::json(200, incident_page(&list, None)))
        },
        async |s: &mut Session| {
            let batch = s.poll(None, poll_from_long_ago(true)).await?;
            let cursor = batch.cursor.clone();
            let again = s.poll(Some(cursor), poll_from_long_ago(true)).await?;
            Ok(Observed::Many(vec![Observed::Poll(batch), Observed::Poll(again)]))
        },
        then check_poison_poll;

    redirect_301_to_another_port: |s: &HostileServer| redirect(s, 301), list, then Checked::assert_foreign_untouched;
    redirect_302_to_another_port: |s: &HostileServer| redirect(s, 302), list, then Checked::assert_foreign_untouched;
    redirect_307_to_another_port: |s: &HostileServer| redirect(s, 307), list, then Checked::assert_foreign_untouched;
    redirect_308_to_another_port: |s: &HostileServer| redirect(s, 308), list, then Checked::assert_foreign_untouched;
    token_endpoint_redirect_to_another_port:
        |s: &HostileServer| on(la_token, Reply::with(302, &[("location", &format!("{}/common/oauth2/v2.0/token", s.foreign_url()))], "")),
        search, then Checked::assert_foreign_untouched;

    content_length_longer_than_the_body_then_close:
        |_: &HostileServer| {
            let body = incident_page(&incidents(), None);
            let mut wire = head(200, &[("content-type", "application/json"), ("content-length", &(body.len() + 5000).to_string())]);
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(body.as_bytes());
            on(incident_list, Reply::Wire(wire))
        },
        list;
    content_length_shorter_than_the_json:
        |_: &HostileServer| {
            let body = incident_page(&incidents(), None);
            let mut wire = head(200, &[("content-type", "application/json"), ("content-length", "40")]);
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(body.as_bytes());
            on(incident_list, Reply::Wire(wire))
        },
        list;
    response_headers_of_500_kb:
        |_: &HostileServer| {
            let value = "v".repeat(10 * 1024);
            let names: Vec<String> = (0..50).map(|i| format!("x-padding-{i}")).collect();
            let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), value.as_str())).collect();
            on(incident_list, Reply::json(200, incident_page(&incidents(), None)).with_headers(&headers))
        },
        list;
    slow_loris_body:
        |_: &HostileServer| on(incident_list, Reply::Drip { head: head(200, &[("content-type", "application/json"), ("content-length", "100000")]), every: Duration::from_millis(300) }),
        list, then |c: &Checked| assert!(c.elapsed < Duration::from_secs(8), "stopped by the body deadline: {:?}", c.elapsed);
    a_silent_server:
        |_: &HostileServer| on(incident_list, Reply::Silent),
        list, then |c: &Checked| assert!(c.elapsed < Duration::from_secs(8), "stopped by the first-byte timeout: {:?}", c.elapsed);

    json_nested_100k_deep:
        |_: &HostileServer| on(incident_list, Reply::json(200, format!(r#"{{"value":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000)))),
        list;
    json_nested_100k_deep_in_a_kql_cell:
        |_: &HostileServer| on(query, Reply::json(200, format!(r#"{{"tables":[{{"name":"PrimaryResult","columns":[{{"name":"d","type":"dynamic"}}],"rows":[[{}{}]]}}]}}"#, "[".repeat(100_000), "]".repeat(100_000)))),
        search;
    json_nested_100k_deep_in_a_graph_list:
        |_: &HostileServer| on(Recorded::is_graph_incident_list, Reply::json(200, format!(r#"{{"value":[{{"id":"1","customTags":{}{}}}]}}"#, "[".repeat(100_000), "]".repeat(100_000)))),
        graph_list;
    number_1e999_as_the_incident_number:
        |_: &HostileServer| on(incident_list, Reply::json(200, incident_page(&incidents(), None).replace(r#""incidentNumber":3177"#, r#""incidentNumber":1e999"#))),
        list;
    number_1e999_in_a_kql_cell:
        |_: &HostileServer| on(query, Reply::json(200, r#"{"tables":[{"name":"PrimaryResult","columns":[{"name":"x","type":"real"}],"rows":[[1e999]]}]}"#)),
        search;
    value_that_is_not_an_array:
        |_: &HostileServer| on(incident_list, Reply::json(200, r#"{"value":{"name":"x","properties":{"title":"t"}}}"#)),
        list;
    title_that_is_a_number:
        |_: &HostileServer| {
            let mut list = incidents();
            list[1]["properties"]["title"] = json!(42);
            on(incident_list, Reply::json(200, incident_page(&list, None)))
        },
        list;
    an_empty_200_answer: |_: &HostileServer| on(incident_list, Reply::json(200, "")), list;
    a_204_on_a_list: |_: &HostileServer| on(incident_list, Reply::Wire(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_vec())), list;
    a_next_link_that_is_a_number:
        |_: &HostileServer| on(incident_list, Reply::json(200, incident_page(&incidents(), None).replacen(r#"{"value":"#, r#"{"nextLink":12345,"value":"#, 1))),
        list_all;
    a_garbage_status_line: |_: &HostileServer| on(incident_list, Reply::Wire(b"HELLO WORLD\r\n\r\n{}".to_vec())), list;
    closed_without_an_answer: |_: &HostileServer| on(incident_list, Reply::Wire(Vec::new())), list;
    an_html_502:
        |_: &HostileServer| on(incident_list, Reply::with(502, &[("content-type", "text/html")], "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>")),
        list;
    log_analytics_partial_error_echoing_the_token:
        |_: &HostileServer| on_each(query, |r| {
            let mut answer: Value = serde_json::from_str(&hostile_server::query_answer()).unwrap();
            answer["error"] = json!({"code": "PartialError", "message": format!("There were some errors \u{1b}[2J\r\nwhen processing your query ({})", authorization(r)), "details": [{"code": "EngineError", "message": "Query exceeded the memory limit \u{1b}]0;x\u{7}"}]});
            Reply::json(200, answer.to_string())
        }),
        search,
        then |c: &Checked| {
            let Ok(Observed::Query(result)) = &c.outcome else { panic!() };
            assert_eq!(result.tables[0].rows.len(), 2, "the data comes beside the partial error");
            let partial = result.partial_error.as_ref().expect("the partial error is returned");
            let text = format!("{} {}", partial.code, partial.message);
            assert!(!text.chars().any(char::is_control), "a partial error's text holds no control character: {}", text.escape_debug());
        };

    crlf_in_the_access_token:
        |s: &HostileServer| {
            let issuer = s.issuer();
            on_each(la_token, move |r| Reply::json(200, token_answer(&format!("{}\r\nX-Injected: 1", issuer.token(&r.token_scope().unwrap_or_default())))))
        },
        search, then |c: &Checked| assert_eq!(c.count(Recorded::is_query), 0, "nothing sent with that token");
    a_token_type_other_than_bearer:
        |s: &HostileServer| token_answer_with(s, json!({"token_type": "mac"})),
        search, then |c: &Checked| assert_eq!(c.count(Recorded::is_query), 0, "nothing sent with that token");
    a_token_answer_that_is_html:
        |_: &HostileServer| on(la_token, Reply::with(200, &[("content-type", "text/html")], "<html><body>Sign in to continue</body></html>")),
        search;

    a_token_of_1_mb:
        |s: &HostileServer| {
            let issuer = s.issuer();
            on_each(la_token, move |r| Reply::json(200, token_answer(&issuer.token(&r.token_scope().unwrap_or_default()).repeat(8_000))))
        },
        search, then |c: &Checked| assert_eq!(c.count(Recorded::is_query), 0, "nothing sent with that token");

    next_link_to_another_port:
        |s: &HostileServer| page_linking_to(format!("{}{}?api-version=2025-09-01&$skipToken=1", s.foreign_url(), list_path())),
        list_all, then Checked::assert_foreign_untouched;
    next_link_to_another_host_name:
        |s: &HostileServer| page_linking_to(format!("http://localhost.example:{}{}?api-version=2025-09-01&$skipToken=1", s.addr.port(), list_path())),
        list_all, then |c: &Checked| {
            assert_eq!(c.count(|_| true), 1, "only the first page was requested: {:?}", c.during.iter().map(|r| &r.target).collect::<Vec<_>>());
            assert!(c.audit.iter().all(|r| r.host.starts_with("127.0.0.1:")), "no request named another host: {:?}", c.audit);
        };
    next_link_with_userinfo:
        |s: &HostileServer| page_linking_to(format!("http://user:pw@{}{}?api-version=2025-09-01&$skipToken=userinfo", s.addr, list_path())),
        list_all, then |c: &Checked| assert_eq!(c.count(|r| r.target.contains("userinfo")), 0, "the link was not followed");
    next_link_with_another_scheme:
        |s: &HostileServer| page_linking_to(format!("https://{}{}?api-version=2025-09-01&$skipToken=scheme", s.addr, list_path())),
        list_all, then |c: &Checked| assert_eq!(c.count(|_| true), 1, "nothing after the first page (not even a TLS hello): {:?}", c.during.iter().map(|r| &r.target).collect::<Vec<_>>());
    next_link_to_a_file_url:
        |_: &HostileServer| page_linking_to("file:///etc/passwd".into()),
        list_all;
    an_endless_chain_of_next_links:
        |s: &HostileServer| {
            let base = format!("{}{}", s.url(), list_path());
            let pages = Arc::new(AtomicUsize::new(0));
            Some(mode(move |r| {
                r.is_incident_list().then(|| {
                    let n = pages.fetch_add(1, Ordering::SeqCst);
                    Reply::json(200, incident_page(&incidents(), Some(&format!("{base}?api-version=2025-09-01&$skipToken=page{n}"))))
                })
            }))
        },
        async |s: &mut Session| s.list_all_incidents(types::ListIncidentsOptions { max_pages: Some(5), ..list_options() }).await.map(Observed::Incidents),
        then |c: &Checked| {
            assert_eq!(c.count(Recorded::is_incident_list), 5, "stopped at max-pages");
            assert!(c.message().contains("more than 5 pages"), "{}", c.shown);
        };
    a_repeated_next_link:
        |s: &HostileServer| page_linking_to(format!("{}{}?api-version=2025-09-01&$skipToken=same", s.url(), list_path())),
        list_all, then |c: &Checked| assert_eq!(c.count(Recorded::is_incident_list), 2, "the first page and the link once");
    graph_next_link_to_another_port:
        |s: &HostileServer| {
            let mut page: Value = serde_json::from_str(&hostile_server::graph_incidents_answer()).unwrap();
            page["@odata.nextLink"] = json!(format!("{}/v1.0/security/incidents?$skiptoken=x", s.foreign_url()));
            on(Recorded::is_graph_incident_list, Reply::json(200, page.to_string()))
        },
        graph_list_all, then Checked::assert_foreign_untouched;
    a_poll_whose_next_link_points_to_another_port:
        |s: &HostileServer| page_linking_to(format!("{}{}?api-version=2025-09-01&$skipToken=1", s.foreign_url(), list_path())),
        poll, then Checked::assert_foreign_untouched;
}

/// A real cursor from a normal poll, its JSON state edited, encoded again.
async fn edited_cursor(session: &mut Session, edit: impl FnOnce(&mut Value)) -> Result<String, CallError> {
    let batch = session.poll(None, poll_from_long_ago(false)).await?;
    let body = batch.cursor.strip_prefix("sp1.").expect("a versioned cursor");
    let mut json: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).expect("base64url")).expect("JSON");
    edit(&mut json["state"]);
    Ok(format!("sp1.{}", URL_SAFE_NO_PAD.encode(json.to_string())))
}

fn check_poison_poll(c: &Checked) {
    let Ok(Observed::Many(polls)) = &c.outcome else { panic!() };
    let Observed::Poll(batch) = &polls[0] else { panic!() };
    let by_id: Vec<(&str, bool, bool)> = batch
        .events
        .iter()
        .map(|e| (e.incident.id.as_str(), e.details_error.is_some(), e.alerts.is_some() && e.entities.is_some()))
        .collect();
    assert_eq!(batch.events.len(), 5, "every incident is delivered: {by_id:?}");
    for event in &batch.events {
        let poison = matches!(event.incident.id.as_str(), "../x" | "a/b");
        if poison {
            assert!(
                event.details_error.is_some() && event.alerts.is_none(),
                "{} carries its details error: {by_id:?}",
                event.incident.id
            );
        } else {
            assert!(event.details_error.is_none(), "{}: {:?}", event.incident.id, event.details_error);
            assert_eq!(event.alerts.as_ref().map(Vec::len), Some(1), "{} has its alerts", event.incident.id);
            assert_eq!(event.entities.as_ref().map(Vec::len), Some(1), "{} has its entities", event.incident.id);
        }
    }
    assert!(
        c.during.iter().all(|r| !r.path().contains("/x/") && !r.path().contains("/a/b") && !r.path().contains("..")),
        "no request for a poison name"
    );
    let Observed::Poll(again) = &polls[1] else { panic!() };
    assert!(
        again.events.is_empty(),
        "the cursor moved past them: {:?}",
        again.events.iter().map(|e| &e.incident.id).collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------------------
// The same through the `sentinel` binary.

/// The `sentinel` binary next to this test's own directory (target/debug),
/// built by `cargo test --workspace` (host-test's CLI tests need it). A run
/// of this file alone may find none, or an older one: then build it first
/// (`cargo build -p sentinel-host --bin sentinel`).
fn sentinel_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let binary = exe.parent()?.parent()?.join(format!("sentinel{}", std::env::consts::EXE_SUFFIX));
    binary.is_file().then_some(binary)
}

/// The exit code the CLI gives each outcome.
fn exit_code(outcome: &str) -> i32 {
    match outcome {
        "ok" => 0,
        "invalid-input" => 2,
        "auth" | "forbidden" => 3,
        "not-found" => 4,
        "protected-account" => 5,
        _ => 1,
    }
}

struct CliChecked {
    stdout: String,
    stderr: String,
}

/// Runs `sentinel args...` against the hostile server (configured through
/// the environment, loopback allowed by the person running it) and checks
/// the exit code, that no part of a secret or token reaches stdout or
/// stderr, and that neither holds a control character but newlines.
async fn check_cli(
    case: &'static str,
    make_mode: impl FnOnce(&HostileServer) -> Option<Mode>,
    args: &[&str],
) -> Option<CliChecked> {
    let Some(binary) = sentinel_binary() else {
        eprintln!(
            "{case}: skipped, no sentinel binary next to this test (cargo build -p sentinel-host --bin sentinel)"
        );
        return None;
    };
    let server = HostileServer::start().await;
    if let Some(mode) = make_mode(&server) {
        server.set(mode);
    }
    let url = server.url();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(&str, String)> = vec![
        ("AZURE_CLOUD", "custom".into()),
        ("SENTINEL_LOGIN_URL", url.clone()),
        ("SENTINEL_ARM_URL", url.clone()),
        ("SENTINEL_LOGANALYTICS_URL", url.clone()),
        ("SENTINEL_GRAPH_URL", url.clone()),
        ("AZURE_TENANT_ID", hostile_server::TENANT.into()),
        ("AZURE_CLIENT_ID", sentinel_emulator::DEFAULT_CLIENT_ID.into()),
        ("AZURE_CLIENT_SECRET", client_secret().into()),
        ("SENTINEL_SUBSCRIPTION_ID", hostile_server::SUBSCRIPTION.into()),
        ("SENTINEL_RESOURCE_GROUP", hostile_server::RESOURCE_GROUP.into()),
        ("SENTINEL_WORKSPACE_NAME", hostile_server::WORKSPACE.into()),
        ("SENTINEL_WORKSPACE_ID", hostile_server::WORKSPACE_ID.into()),
        ("SENTINEL_ALLOW_PRIVATE_NETWORK", "1".into()),
        // The binary aborts rather than connect anywhere off 127.0.0.0/8.
        ("SENTINEL_TEST_LOOPBACK_ONLY", "1".into()),
    ];
    let output = tokio::task::spawn_blocking(move || {
        let mut command = std::process::Command::new(binary);
        command.args(&args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        if let Ok(home) = std::env::var("HOME") {
            command.env("HOME", home);
        }
        command.envs(env).output().expect("the binary runs")
    })
    .await
    .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned());
    eprintln!("{case}: exit {:?}: {}", output.status.code(), excerpt(&stderr));

    let mut problems = Vec::new();
    let want = expected(case);
    if output.status.code() != Some(exit_code(want)) {
        problems.push(format!(
            "expected {want} (exit {}), got exit {:?}; stderr: {}",
            exit_code(want),
            output.status.code(),
            excerpt(&stderr)
        ));
    }
    let tokens = server.tokens();
    let secrets = Secrets::of(std::iter::once(client_secret()).chain(tokens.iter().map(String::as_str)));
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        if let Some(part) = secrets.found_in(text) {
            problems.push(format!("{what} shows part of a secret ({part:?}): {}", excerpt(text)));
        }
        if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
            problems.push(format!(
                "{what} holds the control character U+{:04X}: {}",
                c as u32,
                excerpt(&text.escape_debug().to_string())
            ));
        }
    }
    assert!(problems.is_empty(), "{case}:\n  - {}", problems.join("\n  - "));
    Some(CliChecked { stdout, stderr })
}

macro_rules! cli_cases {
    ($($name:ident: $mode:expr, $args:expr $(, then $then:expr)?;)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                #[allow(unused_variables)]
                let Some(checked) = check_cli(stringify!($name), $mode, $args).await else { return };
                $( ($then)(&checked); )?
            }
        )+
        const CLI_DEFINED: &[&str] = &[$(stringify!($name)),+];
    };
}

const HOSTILE_TITLE: &str = "\u{1b}]8;;https://evil.example/\u{7}Open me\u{1b}]8;;\u{7}\u{1b}[2J\r\nforged line";

cli_cases! {
    cli_arm_401_echoing_the_bearer_token:
        |_: &HostileServer| on_each(arm, |r| Reply::error(401, "InvalidAuthenticationToken", &format!("The access token is invalid. Received header 'Authorization: {}'", authorization(r)))),
        &["incidents", "list", "--output", "table", "--verbose"],
        then |c: &CliChecked| assert!(c.stderr.contains("[redacted]"), "{}", c.stderr);
    cli_token_401_echoing_the_form_body:
        |_: &HostileServer| on_each(Recorded::is_token, |r| Reply::json(401, json!({"error": "invalid_client", "error_description": format!("AADSTS7000215: Invalid client secret provided. Request was: {}", r.body_text()), "error_codes": [7000215]}).to_string())),
        &["query", "SecurityEvent | take 2", "--verbose"],
        then |c: &CliChecked| assert!(c.stderr.contains("[redacted]"), "{}", c.stderr);
    cli_escape_sequences_in_incident_titles:
        |_: &HostileServer| {
            let mut list = incidents();
            list[0]["properties"]["title"] = json!(HOSTILE_TITLE);
            on(incident_list, Reply::json(200, incident_page(&list, None)))
        },
        &["incidents", "list", "--output", "table"],
        then |c: &CliChecked| assert!(c.stdout.contains("Open me") && c.stdout.contains("Incident 2"), "{}", c.stdout);
    cli_a_40_mb_body:
        |_: &HostileServer| on(incident_list, Reply::Repeat { head: head(200, &[("content-type", "application/json"), ("content-length", &MB_40.to_string())]), chunk: padding(64 * 1024), total: Some(MB_40), chunked: false }),
        &["incidents", "list", "--output", "json"],
        then |c: &CliChecked| assert!(c.stderr.contains("larger than"), "{}", c.stderr);
    cli_partial_error_echoing_the_token:
        |_: &HostileServer| on_each(query, |r| {
            let mut answer: Value = serde_json::from_str(&hostile_server::query_answer()).unwrap();
            answer["error"] = json!({"code": "PartialError", "message": format!("There were some errors \u{1b}[2J\r\nwhen processing your query ({})", authorization(r))});
            Reply::json(200, answer.to_string())
        }),
        &["query", "SecurityEvent | take 2", "--output", "json"];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_json_output_keeps_a_hostile_title_exact() {
    let Some(checked) = check_cli(
        "cli_escape_sequences_in_incident_titles",
        |_: &HostileServer| {
            let mut list = incidents();
            list[0]["properties"]["title"] = json!(HOSTILE_TITLE);
            on(incident_list, Reply::json(200, incident_page(&list, None)))
        },
        &["incidents", "list", "--output", "json"],
    )
    .await
    else {
        return;
    };
    let list: Value = serde_json::from_str(&checked.stdout).expect("stdout is JSON");
    assert_eq!(list[0]["title"], HOSTILE_TITLE, "JSON output stays exact");
}

#[test]
fn the_table_and_the_cases_match() {
    let table: HashSet<&str> = EXPECTED.iter().map(|(name, _)| *name).collect();
    let defined: HashSet<&str> = DEFINED.iter().chain(CLI_DEFINED).copied().collect();
    assert_eq!(table.len(), EXPECTED.len(), "no case twice in the table");
    assert_eq!(table, defined, "every case in the table is a test, and every test is in the table");
    assert!(defined.len() >= 40, "{} cases", defined.len());
    let variants = [
        "invalid-input",
        "auth",
        "forbidden",
        "not-found",
        "conflict",
        "throttled",
        "bad-request",
        "service",
        "transport",
        "invalid-response",
        "protected-account",
        "ok",
    ];
    assert!(EXPECTED.iter().all(|(_, outcome)| variants.contains(outcome)));
}

/// The server itself: its normal answers are what the connector reads, it
/// records both ports, and the foreign one counts any connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hostile_server_answers_normally_and_records_both_ports() {
    let server = HostileServer::start().await;
    let token_path = format!("/{}/oauth2/v2.0/token", hostile_server::TENANT);
    let form = format!(
        "grant_type=client_credentials&scope={}",
        url::form_urlencoded::byte_serialize(PUBLIC_ARM_SCOPE.as_bytes()).collect::<String>()
    );
    let answer =
        common::client::send("POST", &format!("{}{token_path}", server.url()), &[common::client::FORM], &form).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["access_token"], server.tokens()[0].as_str(), "the token issued is recorded");
    let list =
        common::client::send("GET", &format!("{}{}?api-version=2025-09-01", server.url(), list_path()), &[], "").await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), INCIDENT_NAMES.len());
    assert_eq!(server.foreign_connections(), 0);
    let foreign = common::client::send("GET", &format!("{}/steal", server.foreign_url()), &[], "").await;
    assert_eq!(foreign.status, 500);
    assert_eq!(server.foreign_connections(), 1, "a connection to the foreign port is counted");
    let recorded: Vec<(hostile_server::Listener, String)> =
        server.requests().iter().map(|r| (r.listener, r.path().to_owned())).collect();
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    assert_eq!(recorded[2], (hostile_server::Listener::Foreign, "/steal".to_owned()));
    assert!(server.requests()[0].is_token() && server.requests()[1].is_incident_list());
}

#[test]
fn the_leak_check_finds_every_form_of_a_secret() {
    let secret = client_secret();
    assert!(secret.len() > 200 && secret.starts_with("Abc8Q~") && secret.matches('~').count() > 2);
    let secrets = Secrets::of([secret]);
    for form in encoded_forms(secret) {
        assert!(secrets.found_in(&format!("echo {}...", &form[10..19])).is_some(), "{form}");
    }
    assert!(
        encoded_forms(secret).iter().any(|f| f.contains("%7E"))
            && encoded_forms(secret).iter().any(|f| f.contains("%7e"))
    );
    assert!(secrets.found_in("invalid input: client-id: is not a GUID [redacted]").is_none());
}

/// Issue 14's credential kinds under the same promise: a token endpoint
/// that echoes the form body (which holds a federated token, or an
/// assertion signed with the certificate's key) shows none of it, nor any
/// part of the private key, in the error's Display or Debug.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_or_federated_credential_never_shows_its_key_or_assertion() {
    let key = include_str!("fixtures/certificate/app-key.pem");
    let certificate = include_str!("fixtures/certificate/app-cert.pem");
    let federated = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZlZCJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c29hciJ9.c2lnbmF0dXJlLW9mLXRoZS1pc3N1ZXI";
    let credentials = [
        (Credential::Certificate { private_key: Secret::new(key), certificate: certificate.into() }, key),
        (Credential::ClientAssertion(Secret::new(federated)), federated),
    ];
    for (credential, secret) in credentials {
        let server = HostileServer::start().await;
        let mut config = config_for(&server.url());
        config.credential = credential;
        let mut session = open(config, Arc::new(Mutex::new(Vec::new()))).await.expect("opens");
        server.set(
            on_each(la_token, |r| {
                let echo = format!("AADSTS7000215: Invalid client secret provided. Request was: {}", r.body_text());
                Reply::json(
                    401,
                    json!({"error": "invalid_client", "error_description": echo, "error_codes": [7000215]}).to_string(),
                )
            })
            .unwrap(),
        );
        let outcome = search(&mut session).await;
        let Err(error) = &outcome else { panic!("the echoing endpoint refuses") };
        let sent: Vec<String> = server
            .requests()
            .iter()
            .filter(|r| r.is_token())
            .filter_map(|r| {
                url::form_urlencoded::parse(&r.body).find(|(k, _)| k == "client_assertion").map(|(_, v)| v.into_owned())
            })
            .collect();
        assert!(!sent.is_empty(), "an assertion was sent");
        let secrets = Secrets::of([secret].into_iter().chain(sent.iter().map(String::as_str)));
        for text in [error.to_string(), format!("{error:?}")] {
            assert_eq!(secrets.found_in(&text), None, "{text}");
        }
        assert!(error.to_string().contains("[redacted]"), "the echo was cut out: {error}");
    }
}
