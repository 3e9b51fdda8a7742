//! HTTP-level tests of the emulator over real loopback: the token endpoint,
//! the ARM incidents API (auth, api-version, resource path, OData, paging)
//! and the admin endpoint, checked against the Azure contract
//! (shared/docs/azure-api.md §1.1, §4, §5) and Microsoft's example payloads.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

mod common;

use common::{form, jwt_claims, request_token, request_token_for, send, token, token_url, Answer, FORM};
use sentinel_emulator::{
    Emulator, EmulatorOptions, Mutation, NewIncident, ARM_SCOPE, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, DEFAULT_WORKSPACE_NAME, GRAPH_SCOPE,
    LOG_ANALYTICS_SCOPE,
};

const API_VERSION: &str = "2025-09-01";
const GET_INCIDENTS_FIXTURE: &str = include_str!("../../../tests/fixtures/azure-specs/incidents/GetIncidents.json");
const TOKEN_SUCCESS_FIXTURE: &str =
    include_str!("../../../tests/fixtures/azure-specs/auth/docs-token-success-client-credentials.json");
const TOKEN_ERROR_FIXTURE: &str =
    include_str!("../../../tests/fixtures/azure-specs/auth/docs-token-error-invalid_scope.json");

// ---------------------------------------------------------------------------
// Emulator, token and URL helpers
// ---------------------------------------------------------------------------

async fn start(options: EmulatorOptions) -> Emulator {
    Emulator::start(options).await.expect("the emulator starts")
}

async fn start_default() -> Emulator {
    start(EmulatorOptions::default()).await
}

fn workspace_path(subscription: &str, resource_group: &str, workspace: &str) -> String {
    format!(
        "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.OperationalInsights/workspaces/{workspace}/providers/Microsoft.SecurityInsights"
    )
}

/// `{emulator}{path}` with the query pairs, percent-encoded.
fn url_with(emulator: &Emulator, path: &str, query: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{}{path}", emulator.url())).expect("a valid URL");
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url.to_string()
}

/// The incidents collection of the default workspace, with `api-version` and `query`.
fn incidents_url(emulator: &Emulator, query: &[(&str, &str)]) -> String {
    let path = workspace_path(DEFAULT_SUBSCRIPTION_ID, DEFAULT_RESOURCE_GROUP, DEFAULT_WORKSPACE_NAME) + "/incidents";
    url_with(emulator, &path, &[&[("api-version", API_VERSION)], query].concat())
}

fn incident_url(emulator: &Emulator, name: &str) -> String {
    let path =
        workspace_path(DEFAULT_SUBSCRIPTION_ID, DEFAULT_RESOURCE_GROUP, DEFAULT_WORKSPACE_NAME) + "/incidents/" + name;
    url_with(emulator, &path, &[("api-version", API_VERSION)])
}

async fn arm(method: &str, url: &str, token: &str) -> Answer {
    send(method, url, &[("authorization", &format!("Bearer {token}"))], "").await
}

async fn arm_get(url: &str, token: &str) -> Answer {
    arm("GET", url, token).await
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

/// An Entra v2 error: status, `error`, `error_codes` and an `error_description`
/// of the form "AADSTS<code>: ...\r\nTrace ID: ...", with the fixture's fields.
fn assert_entra_error(answer: &Answer, status: u16, error: &str, code: u64) {
    assert_eq!(answer.status, status, "status of {}", answer.body);
    let body = &answer.body;
    assert_eq!(body["error"], error, "error of {body}");
    assert_eq!(body["error_codes"], json!([code]), "error_codes of {body}");
    let description = body["error_description"].as_str().expect("an error_description");
    assert!(description.starts_with(&format!("AADSTS{code}:")), "description: {description}");
    assert!(description.contains("Trace ID"), "description: {description}");
    let fixture: Value = serde_json::from_str(TOKEN_ERROR_FIXTURE).unwrap();
    for key in fixture.as_object().unwrap().keys() {
        assert!(body.get(key).is_some(), "the error lacks the fixture's '{key}': {body}");
    }
}

/// An ARM CloudError `{"error":{"code","message"}}` with this status and code.
fn assert_cloud_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "status of {}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "code of {}", answer.body);
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "a CloudError has a message: {}", answer.body);
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn names(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["name"].as_str().expect("a name").to_owned()).collect()
}

fn time_of(incident: &Value, field: &str) -> jiff::Timestamp {
    incident["properties"][field]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {incident}"))
}

fn query_has(url: &str, key: &str, value: &str) -> bool {
    url::Url::parse(url).unwrap().query_pairs().any(|(k, v)| k == key && v == value)
}

/// Follows `nextLink` from `first` to the end, checking each link, and
/// returns the pages. Each link must be absolute on the emulator's host:port,
/// carry a `$skipToken` and keep api-version and `$top`.
async fn walk(emulator: &Emulator, token: &str, first: &str, top: usize) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(url) = next.take() {
        assert!(pages.len() < 100, "paging does not end");
        let answer = arm_get(&url, token).await;
        assert_eq!(answer.status, 200, "page {} ({url}): {}", pages.len() + 1, answer.body);
        let items = answer.body["value"].as_array().expect("a value array").clone();
        if let Some(link) = answer.body.get("nextLink") {
            let link = link.as_str().expect("nextLink is a string").to_owned();
            assert!(link.starts_with(&format!("{}/", emulator.url())), "nextLink {link} is not on {}", emulator.url());
            assert!(link.contains("$skipToken") || link.contains("%24skipToken"), "nextLink {link} has no $skipToken");
            assert!(query_has(&link, "api-version", API_VERSION), "nextLink {link} drops api-version");
            assert!(query_has(&link, "$top", &top.to_string()), "nextLink {link} drops $top");
            assert_eq!(items.len(), top, "a page before the last is full");
            next = Some(link);
        }
        pages.push(items);
    }
    pages
}

// ---------------------------------------------------------------------------
// 1. Token endpoint
// ---------------------------------------------------------------------------

#[tokio::test]
async fn token_success_has_the_v2_shape_and_a_jwt_for_the_scope() {
    let emulator = start_default().await;
    let answer = request_token_for(&emulator, ARM_SCOPE).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].is_u64(), "expires_in is an integer: {body}");
    assert!(body["ext_expires_in"].is_u64(), "ext_expires_in is an integer: {body}");
    assert!(body.get("refresh_token").is_none(), "client credentials never return a refresh token");
    let fixture: Value = serde_json::from_str(TOKEN_SUCCESS_FIXTURE).unwrap();
    for (key, value) in fixture.as_object().unwrap() {
        assert_eq!(json_kind(&body[key]), json_kind(value), "'{key}' has the fixture's type");
    }
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://management.azure.com/");
    assert_eq!(claims["tid"], DEFAULT_TENANT_ID);
    assert!(claims["exp"].as_i64() > claims["iat"].as_i64(), "exp after iat: {claims}");
}

#[tokio::test]
async fn log_analytics_token_carries_the_data_read_role() {
    let emulator = start_default().await;
    let claims = jwt_claims(&token(&emulator, LOG_ANALYTICS_SCOPE).await);
    assert!(claims["roles"].as_array().unwrap().contains(&json!("Data.Read")), "roles: {claims}");
    assert_ne!(claims["aud"], "https://management.azure.com/");
    let graph = jwt_claims(&token(&emulator, GRAPH_SCOPE).await);
    assert_ne!(graph["aud"], claims["aud"], "one audience per resource");
}

#[tokio::test]
async fn token_accepts_the_client_secret_in_http_basic_auth() {
    let emulator = start_default().await;
    let basic = format!("Basic {}", STANDARD.encode(format!("{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}")));
    let body = form(&[("grant_type", "client_credentials"), ("scope", ARM_SCOPE)]);
    let answer =
        send("POST", &token_url(&emulator, DEFAULT_TENANT_ID), &[FORM, ("authorization", &basic)], &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(jwt_claims(answer.body["access_token"].as_str().unwrap())["aud"], "https://management.azure.com/");

    let wrong = format!("Basic {}", STANDARD.encode(format!("{DEFAULT_CLIENT_ID}:not-the-secret")));
    let answer =
        send("POST", &token_url(&emulator, DEFAULT_TENANT_ID), &[FORM, ("authorization", &wrong)], &body).await;
    assert_entra_error(&answer, 401, "invalid_client", 7000215);
}

#[tokio::test]
async fn token_for_an_unknown_tenant_is_aadsts90002() {
    let emulator = start_default().await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", DEFAULT_CLIENT_ID),
        ("client_secret", DEFAULT_CLIENT_SECRET),
        ("scope", ARM_SCOPE),
    ]);
    let answer = send("POST", &token_url(&emulator, "00000000-1111-2222-3333-444444444444"), &[FORM], &body).await;
    assert_entra_error(&answer, 400, "invalid_request", 90002);
}

#[tokio::test]
async fn token_for_an_unknown_client_is_aadsts700016() {
    let emulator = start_default().await;
    let answer = request_token(
        &emulator,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "11111111-2222-3333-4444-555555555555"),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", ARM_SCOPE),
        ],
    )
    .await;
    assert_entra_error(&answer, 400, "unauthorized_client", 700016);
}

#[tokio::test]
async fn token_with_a_wrong_secret_is_401_aadsts7000215_and_does_not_echo_it() {
    let emulator = start_default().await;
    let secret = "Wr0ng~SecretValue.XYZ";
    let answer = request_token(
        &emulator,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", secret),
            ("scope", ARM_SCOPE),
        ],
    )
    .await;
    assert_entra_error(&answer, 401, "invalid_client", 7000215);
    let whole = format!("{:?} {}", answer.headers, answer.body);
    assert!(!whole.contains(secret), "the answer repeats the secret: {whole}");
}

#[tokio::test]
async fn token_with_an_unknown_scope_is_aadsts70011() {
    let emulator = start_default().await;
    let answer = request_token_for(&emulator, "https://foo.microsoft.com/.default").await;
    assert_entra_error(&answer, 400, "invalid_scope", 70011);
}

#[tokio::test]
async fn token_with_two_scopes_is_aadsts70011() {
    let emulator = start_default().await;
    let answer = request_token_for(&emulator, &format!("{ARM_SCOPE} {LOG_ANALYTICS_SCOPE}")).await;
    assert_entra_error(&answer, 400, "invalid_scope", 70011);
}

#[tokio::test]
async fn token_with_the_password_grant_is_aadsts70003() {
    let emulator = start_default().await;
    let answer = request_token(
        &emulator,
        &[
            ("grant_type", "password"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("scope", ARM_SCOPE),
        ],
    )
    .await;
    assert_entra_error(&answer, 400, "unsupported_grant_type", 70003);
}

#[tokio::test]
async fn token_without_a_scope_is_aadsts900144() {
    let emulator = start_default().await;
    let answer = request_token(
        &emulator,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_entra_error(&answer, 400, "invalid_request", 900144);
    assert!(answer.body["error_description"].as_str().unwrap().contains("'scope'"), "{}", answer.body);
}

// ---------------------------------------------------------------------------
// 2. Incidents list and get
// ---------------------------------------------------------------------------

#[tokio::test]
async fn incident_list_is_shaped_like_the_get_incidents_example() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let answer = arm_get(&incidents_url(&emulator, &[]), &token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")));
    let items = answer.body["value"].as_array().expect("value[]");
    assert_eq!(items.len(), 50);

    let fixture: Value = serde_json::from_str(GET_INCIDENTS_FIXTURE).unwrap();
    let example = &fixture["responses"]["200"]["body"]["value"][0];
    for item in items {
        let name = item["name"].as_str().expect("a name");
        assert!(item["id"].as_str().unwrap().ends_with(&format!("/incidents/{name}")), "id of {item}");
        assert_eq!(item["type"], "Microsoft.SecurityInsights/incidents");
        assert!(item["etag"].as_str().unwrap().starts_with('"'), "etag of {item}");
        let properties = &item["properties"];
        for (key, value) in example["properties"].as_object().unwrap() {
            if key.starts_with("classification") && properties["status"] != "Closed" {
                continue;
            }
            assert_eq!(json_kind(&properties[key]), json_kind(value), "properties/{key} of {name}");
        }
        for (key, value) in example["properties"]["additionalData"].as_object().unwrap() {
            assert_eq!(
                json_kind(&properties["additionalData"][key]),
                json_kind(value),
                "additionalData/{key} of {name}"
            );
        }
        assert!(["High", "Medium", "Low", "Informational"].contains(&properties["severity"].as_str().unwrap()));
        assert!(["New", "Active", "Closed"].contains(&properties["status"].as_str().unwrap()));
        time_of(item, "createdTimeUtc");
    }
}

#[tokio::test]
async fn incident_get_by_name_returns_that_incident() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let wanted = emulator.incidents()[17].clone();
    let name = wanted["name"].as_str().unwrap();
    let answer = arm_get(&incident_url(&emulator, name), &token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, wanted);
}

#[tokio::test]
async fn incident_get_of_an_unknown_name_is_a_404_cloud_error() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let answer = arm_get(&incident_url(&emulator, "7c0a1f4e-0000-4000-8000-000000000000"), &token).await;
    assert_cloud_error(&answer, 404, "NotFound");
    assert_eq!(answer.body["error"].as_object().unwrap().len(), 2, "exactly code and message: {}", answer.body);
}

// ---------------------------------------------------------------------------
// 3. Authentication failures
// ---------------------------------------------------------------------------

#[tokio::test]
async fn arm_without_authorization_is_401_authentication_failed() {
    let emulator = start_default().await;
    let answer = send("GET", &incidents_url(&emulator, &[]), &[], "").await;
    assert_cloud_error(&answer, 401, "AuthenticationFailed");
    assert!(answer.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{:?}", answer.headers);
}

#[tokio::test]
async fn arm_with_an_unknown_token_is_401_invalid_authentication_token() {
    let emulator = start_default().await;
    let answer = arm_get(&incidents_url(&emulator, &[]), "eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.c2ln").await;
    assert_cloud_error(&answer, 401, "InvalidAuthenticationToken");
}

#[tokio::test]
async fn arm_with_a_log_analytics_token_is_401_wrong_audience() {
    let emulator = start_default().await;
    let token = token(&emulator, LOG_ANALYTICS_SCOPE).await;
    let answer = arm_get(&incidents_url(&emulator, &[]), &token).await;
    assert_cloud_error(&answer, 401, "InvalidAuthenticationTokenAudience");
}

#[tokio::test]
async fn arm_with_an_expired_token_is_401_expired_authentication_token() {
    let emulator = start(EmulatorOptions { token_lifetime_secs: 1, ..EmulatorOptions::default() }).await;
    let token = token(&emulator, ARM_SCOPE).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let answer = arm_get(&incidents_url(&emulator, &[]), &token).await;
    assert_cloud_error(&answer, 401, "ExpiredAuthenticationToken");
}

// ---------------------------------------------------------------------------
// 4. api-version
// ---------------------------------------------------------------------------

#[tokio::test]
async fn arm_without_api_version_is_400_missing_api_version_parameter() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let path = workspace_path(DEFAULT_SUBSCRIPTION_ID, DEFAULT_RESOURCE_GROUP, DEFAULT_WORKSPACE_NAME) + "/incidents";
    let answer = arm_get(&url_with(&emulator, &path, &[]), &token).await;
    assert_cloud_error(&answer, 400, "MissingApiVersionParameter");
}

#[tokio::test]
async fn arm_with_an_old_api_version_is_400_invalid_api_version_parameter() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let path = workspace_path(DEFAULT_SUBSCRIPTION_ID, DEFAULT_RESOURCE_GROUP, DEFAULT_WORKSPACE_NAME) + "/incidents";
    let answer = arm_get(&url_with(&emulator, &path, &[("api-version", "2019-01-01")]), &token).await;
    assert_cloud_error(&answer, 400, "InvalidApiVersionParameter");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("2019-01-01"), "{}", answer.body);
}

// ---------------------------------------------------------------------------
// 5. Resource path
// ---------------------------------------------------------------------------

async fn get_under(
    emulator: &Emulator,
    token: &str,
    subscription: &str,
    resource_group: &str,
    workspace: &str,
) -> Answer {
    let path = workspace_path(subscription, resource_group, workspace) + "/incidents";
    arm_get(&url_with(emulator, &path, &[("api-version", API_VERSION)]), token).await
}

#[tokio::test]
async fn arm_with_a_wrong_subscription_is_404_subscription_not_found() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let answer = get_under(
        &emulator,
        &token,
        "11111111-2222-3333-4444-555555555555",
        DEFAULT_RESOURCE_GROUP,
        DEFAULT_WORKSPACE_NAME,
    )
    .await;
    assert_cloud_error(&answer, 404, "SubscriptionNotFound");
}

#[tokio::test]
async fn arm_with_a_wrong_resource_group_is_404_resource_group_not_found() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let answer = get_under(&emulator, &token, DEFAULT_SUBSCRIPTION_ID, "otherRg", DEFAULT_WORKSPACE_NAME).await;
    assert_cloud_error(&answer, 404, "ResourceGroupNotFound");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("otherRg"));
}

#[tokio::test]
async fn arm_with_a_wrong_workspace_is_404_resource_not_found() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let answer = get_under(&emulator, &token, DEFAULT_SUBSCRIPTION_ID, DEFAULT_RESOURCE_GROUP, "otherWorkspace").await;
    assert_cloud_error(&answer, 404, "ResourceNotFound");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("otherWorkspace"));
}

#[tokio::test]
async fn arm_path_literals_and_names_match_case_insensitively() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let path = format!(
        "/SUBSCRIPTIONS/{}/resourcegroups/{}/PROVIDERS/microsoft.operationalinsights/WORKSPACES/{}/providers/MICROSOFT.SECURITYINSIGHTS/Incidents",
        DEFAULT_SUBSCRIPTION_ID.to_uppercase(),
        DEFAULT_RESOURCE_GROUP.to_lowercase(),
        DEFAULT_WORKSPACE_NAME.to_uppercase()
    );
    let answer = arm_get(&url_with(&emulator, &path, &[("api-version", API_VERSION)]), &token).await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    assert_eq!(answer.body["value"].as_array().unwrap().len(), 50);
}

// ---------------------------------------------------------------------------
// 6. OData parameters
// ---------------------------------------------------------------------------

#[tokio::test]
async fn top_must_lie_between_1_and_1000() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    for bad in ["0", "1001", "-1", "ten"] {
        let answer = arm_get(&incidents_url(&emulator, &[("$top", bad)]), &token).await;
        assert_cloud_error(&answer, 400, "BadRequest");
    }
    let answer = arm_get(&incidents_url(&emulator, &[("$top", "1000")]), &token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["value"].as_array().unwrap().len(), 50);
    assert!(answer.body.get("nextLink").is_none(), "everything fits on one page");
}

#[tokio::test]
async fn filter_on_an_unknown_field_is_400_naming_the_field() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let answer = arm_get(&incidents_url(&emulator, &[("$filter", "properties/colour eq 'red'")]), &token).await;
    assert_cloud_error(&answer, 400, "BadRequest");
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("$filter") && message.contains("colour"), "{message}");
}

#[tokio::test]
async fn filter_with_an_unclosed_quote_is_400_saying_so() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let answer = arm_get(&incidents_url(&emulator, &[("$filter", "properties/status eq 'New")]), &token).await;
    assert_cloud_error(&answer, 400, "BadRequest");
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("$filter") && message.contains("not closed"), "{message}");
}

#[tokio::test]
async fn a_forged_skip_token_is_400() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    for bad in ["not a token!", &URL_SAFE_NO_PAD.encode(b"{\"page\":2}")] {
        let answer = arm_get(&incidents_url(&emulator, &[("$skipToken", bad)]), &token).await;
        assert_cloud_error(&answer, 400, "BadRequest");
    }
}

// ---------------------------------------------------------------------------
// 7. and 8. Paging
// ---------------------------------------------------------------------------

fn paging_options(incidents: usize) -> EmulatorOptions {
    EmulatorOptions {
        incidents,
        seed: 7,
        anchor: Some("2026-06-01T00:00:00Z".parse().unwrap()),
        ..EmulatorOptions::default()
    }
}

#[tokio::test]
async fn paging_follows_next_link_through_every_incident_once() {
    let emulator = start(paging_options(120)).await;
    let token = token(&emulator, ARM_SCOPE).await;
    let pages = walk(&emulator, &token, &incidents_url(&emulator, &[("$top", "50")]), 50).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![50, 50, 20]);

    let seen: Vec<String> = pages.iter().flat_map(|p| names(p)).collect();
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no incident twice");
    let all: HashSet<String> = names(&emulator.incidents()).into_iter().collect();
    assert_eq!(unique, all.iter().collect(), "every incident once");
}

#[tokio::test]
async fn paging_with_filter_and_orderby_returns_the_high_ones_oldest_first() {
    let emulator = start(paging_options(120)).await;
    let token = token(&emulator, ARM_SCOPE).await;
    let first = incidents_url(
        &emulator,
        &[("$filter", "properties/severity eq 'High'"), ("$orderby", "properties/createdTimeUtc asc"), ("$top", "7")],
    );
    let pages = walk(&emulator, &token, &first, 7).await;
    assert!(pages.len() > 1, "several pages");
    let seen: Vec<Value> = pages.concat();

    let mut expected: Vec<Value> =
        emulator.incidents().into_iter().filter(|i| i["properties"]["severity"] == "High").collect();
    expected.sort_by_key(|i| (time_of(i, "createdTimeUtc"), i["name"].as_str().unwrap().to_owned()));
    assert!(expected.len() > 7, "the seed gives enough High incidents");
    assert_eq!(names(&seen), names(&expected));
    assert!(seen.windows(2).all(|w| time_of(&w[0], "createdTimeUtc") <= time_of(&w[1], "createdTimeUtc")));
}

fn new_incident(name: &str, last_modified: &str) -> Mutation {
    Mutation::Create(NewIncident {
        name: Some(name.to_owned()),
        title: Some("Inserted between pages".to_owned()),
        created_time_utc: Some("2026-01-01T00:00:00Z".to_owned()),
        last_modified_time_utc: Some(last_modified.to_owned()),
        ..NewIncident::default()
    })
}

#[tokio::test]
async fn keyset_paging_survives_inserts_between_pages() {
    let emulator = start(paging_options(120)).await;
    let token = token(&emulator, ARM_SCOPE).await;
    let at_start: Vec<String> = names(&emulator.incidents());

    // Default order: lastModifiedTimeUtc desc, then name.
    let page = arm_get(&incidents_url(&emulator, &[("$top", "40")]), &token).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let first_page = page.body["value"].as_array().unwrap().clone();
    let next = page.body["nextLink"].as_str().expect("a nextLink").to_owned();
    let cursor = first_page.last().unwrap();
    let cursor_modified = cursor["properties"]["lastModifiedTimeUtc"].as_str().unwrap().to_owned();
    let just_older =
        jiff::Timestamp::from_second(time_of(cursor, "lastModifiedTimeUtc").as_second() - 1).unwrap().to_string();

    // Before the cursor: newer than everything, or the cursor's time and a smaller name.
    let before = [
        ("00000000-0000-4000-8000-00000000000a", "2026-07-01T00:00:00Z"),
        ("00000000-0000-4000-8000-00000000000b", cursor_modified.as_str()),
    ];
    // After the cursor: older than it, or its time and a larger name.
    let after = [
        ("ffffffff-ffff-4fff-bfff-fffffffffff1", just_older.as_str()),
        ("ffffffff-ffff-4fff-bfff-fffffffffff2", "2025-01-01T00:00:00Z"),
        ("ffffffff-ffff-4fff-bfff-fffffffffff3", cursor_modified.as_str()),
    ];
    for (name, modified) in before.iter().chain(&after) {
        emulator.apply(new_incident(name, modified)).expect("created");
    }

    let rest = walk(&emulator, &token, &next, 40).await;
    let seen: Vec<String> = names(&first_page).into_iter().chain(rest.iter().flat_map(|p| names(p))).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for name in &seen {
        *counts.entry(name).or_default() += 1;
    }
    for name in &at_start {
        assert_eq!(counts.get(name.as_str()), Some(&1), "{name} existed at the start and is seen once");
    }
    for (name, _) in &after {
        assert_eq!(counts.get(name), Some(&1), "{name}, inserted after the cursor, is seen once");
    }
    assert!(counts.values().all(|c| *c == 1), "no incident twice");
}

// ---------------------------------------------------------------------------
// 9. Methods
// ---------------------------------------------------------------------------

#[tokio::test]
async fn put_and_delete_on_the_collection_are_405_unsupported_api_version() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    for method in ["PUT", "DELETE"] {
        let answer = arm(method, &incidents_url(&emulator, &[]), &token).await;
        assert_cloud_error(&answer, 405, "UnsupportedApiVersion");
        assert!(answer.body["error"]["message"].as_str().unwrap().contains(&format!("'{method}'")), "{}", answer.body);
    }
    assert_eq!(emulator.incidents().len(), 50, "nothing changed");
}

#[tokio::test]
async fn incidents_have_no_patch_or_post_so_those_are_405() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let name = emulator.incidents()[0]["name"].as_str().unwrap().to_owned();
    for method in ["PATCH", "POST"] {
        let answer = arm(method, &incident_url(&emulator, &name), &token).await;
        assert_cloud_error(&answer, 405, "UnsupportedApiVersion");
    }
}

// ---------------------------------------------------------------------------
// 10. Recorded requests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn recorded_requests_hide_bearer_tokens_and_client_secrets() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    arm_get(&incidents_url(&emulator, &[("$top", "5")]), &token).await;
    let basic = format!("Basic {}", STANDARD.encode(format!("{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}")));
    let body = form(&[("grant_type", "client_credentials"), ("scope", ARM_SCOPE)]);
    send("POST", &token_url(&emulator, DEFAULT_TENANT_ID), &[FORM, ("authorization", &basic)], &body).await;

    let requests = emulator.requests();
    assert_eq!(requests.len(), 3);
    let mut authorizations = 0;
    for request in &requests {
        let printed = format!("{request:?}");
        assert!(!printed.contains(&token), "the bearer token leaks: {printed}");
        assert!(!printed.contains(DEFAULT_CLIENT_SECRET), "the secret leaks: {printed}");
        assert!(!printed.contains(&basic[6..]), "the Basic credentials leak: {printed}");
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("authorization") {
                authorizations += 1;
                assert_eq!(value, "[redacted]");
            }
        }
    }
    assert_eq!(authorizations, 2, "the ARM call and the Basic token call had Authorization headers");

    let token_request = &requests[0];
    assert!(token_request.path.ends_with("/oauth2/v2.0/token"));
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&token_request.body).into_owned().collect();
    assert_eq!(fields.get("client_secret").map(String::as_str), Some("[redacted]"));
    assert_eq!(fields.get("client_id").map(String::as_str), Some(DEFAULT_CLIENT_ID), "other fields are kept");
    assert!(requests[1].query.as_deref().is_some_and(|q| q.contains("api-version")));
}

// ---------------------------------------------------------------------------
// 11. Admin endpoint
// ---------------------------------------------------------------------------

async fn admin(emulator: &Emulator, path: &str, body: &Value) -> Answer {
    send(
        "POST",
        &format!("{}/_emulator/incidents{path}", emulator.url()),
        &[("content-type", "application/json")],
        &body.to_string(),
    )
    .await
}

#[tokio::test]
async fn admin_creates_an_incident_that_is_then_listed() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let answer =
        admin(&emulator, "", &json!({"title": "x", "severity": "High", "createdTimeUtc": "2026-01-01T00:00:00Z"}))
            .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let created = &answer.body[0];
    let name = created["name"].as_str().expect("a name").to_owned();
    assert_eq!(created["properties"]["title"], "x");
    assert_eq!(created["properties"]["status"], "New");

    let listed = arm_get(&incidents_url(&emulator, &[("$filter", "properties/title eq 'x'")]), &token).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(names(listed.body["value"].as_array().unwrap()), vec![name.clone()]);
    let got = arm_get(&incident_url(&emulator, &name), &token).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["properties"]["severity"], "High");
    assert_eq!(emulator.incidents().len(), 51);
}

#[tokio::test]
async fn admin_update_sets_status_and_bumps_modified_time_and_etag() {
    let emulator = start_default().await;
    let token = token(&emulator, ARM_SCOPE).await;
    let created =
        admin(&emulator, "", &json!({"title": "x", "severity": "High", "createdTimeUtc": "2026-01-01T00:00:00Z"}))
            .await;
    let before = created.body[0].clone();
    let name = before["name"].as_str().unwrap();

    let answer = admin(&emulator, &format!("/{name}"), &json!({"status": "Active"})).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let after = arm_get(&incident_url(&emulator, name), &token).await.body;
    assert_eq!(after["properties"]["status"], "Active");
    assert!(time_of(&after, "lastModifiedTimeUtc") > time_of(&before, "lastModifiedTimeUtc"), "{after}");
    assert_ne!(after["etag"], before["etag"]);
    assert!(after["etag"].as_str().unwrap().starts_with('"'));
}

#[tokio::test]
async fn admin_rejects_an_unknown_field() {
    let emulator = start_default().await;
    let answer = admin(&emulator, "", &json!({"title": "x", "colour": "red"})).await;
    assert_cloud_error(&answer, 400, "BadRequest");
    assert!(answer.body["error"]["message"].as_str().unwrap().contains("colour"), "{}", answer.body);
    assert_eq!(emulator.incidents().len(), 50, "nothing was created");
}
