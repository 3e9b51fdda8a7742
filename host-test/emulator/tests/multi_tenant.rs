//! The multi-tenant emulator over real loopback: one port, N tenants, each
//! request routed to its tenant's store (token endpoint by the tenant in the
//! path, ARM by subscription, the query API by workspace id, Graph by the
//! token's `tid`), and a token of one tenant refused by another's.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::{form, jwt_claims, send, Answer, FORM};
use sentinel_emulator::{
    MultiTenantEmulator, MultiTenantOptions, TenantIdentity, ARM_SCOPE, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
    DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, DEFAULT_WORKSPACE_ID, DEFAULT_WORKSPACE_NAME,
    GRAPH_SCOPE, LOG_ANALYTICS_SCOPE,
};

const INCIDENTS: usize = 7;

async fn start(tenants: u32) -> MultiTenantEmulator {
    MultiTenantEmulator::start(MultiTenantOptions {
        tenants,
        incidents_per_tenant: INCIDENTS,
        ..MultiTenantOptions::default()
    })
    .await
    .expect("the multi-tenant emulator starts")
}

fn token_url(emulator: &MultiTenantEmulator, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", emulator.url())
}

async fn request_token(
    emulator: &MultiTenantEmulator,
    tenant: &str,
    client: &str,
    secret: &str,
    scope: &str,
) -> Answer {
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", secret),
        ("scope", scope),
    ]);
    send("POST", &token_url(emulator, tenant), &[FORM], &body).await
}

/// Tenant `index`'s token for `scope`, through the token endpoint.
async fn token(emulator: &MultiTenantEmulator, index: usize, scope: &str) -> String {
    let id = &emulator.tenants()[index];
    let answer = request_token(emulator, &id.tenant_id, &id.client_id, &id.client_secret, scope).await;
    assert_eq!(answer.status, 200, "tenant {index}'s token: {}", answer.body);
    answer.body["access_token"].as_str().expect("an access_token").to_owned()
}

async fn get(url: &str, token: &str) -> Answer {
    send("GET", url, &[("authorization", &format!("Bearer {token}"))], "").await
}

/// `print x = 1` against a workspace of the query API.
async fn query(emulator: &MultiTenantEmulator, workspace: &str, token: &str) -> Answer {
    let url = format!("{}/v1/workspaces/{workspace}/query", emulator.url());
    let authorization = format!("Bearer {token}");
    let headers = [("authorization", authorization.as_str()), ("content-type", "application/json")];
    send("POST", &url, &headers, &json!({"query": "print x = 1"}).to_string()).await
}

fn names(page: &Value) -> Vec<String> {
    page["value"].as_array().expect("a page").iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn identities_are_distinct_guids_and_the_default_is_the_constants() {
    let default = TenantIdentity::default();
    assert_eq!(
        (
            default.tenant_id.as_str(),
            default.client_id.as_str(),
            default.client_secret.as_str(),
            default.subscription_id.as_str(),
            default.resource_group.as_str(),
            default.workspace_name.as_str(),
            default.workspace_id.as_str(),
        ),
        (
            DEFAULT_TENANT_ID,
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_SUBSCRIPTION_ID,
            DEFAULT_RESOURCE_GROUP,
            DEFAULT_WORKSPACE_NAME,
            DEFAULT_WORKSPACE_ID
        )
    );
    let mut seen = std::collections::HashSet::new();
    for n in [0, 1, 2, 999, 1000, u32::MAX] {
        let id = TenantIdentity::numbered(n);
        assert_eq!(id, TenantIdentity::numbered(n), "deterministic");
        assert_ne!(id.tenant_id, default.tenant_id);
        for guid in [&id.tenant_id, &id.client_id, &id.subscription_id, &id.workspace_id] {
            let parsed = uuid::Uuid::parse_str(guid).unwrap_or_else(|e| panic!("{guid}: {e}"));
            assert_eq!(parsed.to_string(), *guid, "a lower-case GUID");
            assert!(seen.insert(guid.clone()), "{guid} is used twice");
        }
        assert_eq!(id.client_secret, format!("emulator-secret-{n}"));
        assert_eq!((id.resource_group, id.workspace_name), (format!("rg-{n}"), format!("ws-{n}")));
    }
}

#[test]
fn config_toml_has_the_hosts_keys() {
    let id = TenantIdentity::numbered(3);
    let toml = id.config_toml("http://127.0.0.1:4000");
    let lines: Vec<&str> = toml.lines().collect();
    let expected = [
        format!("tenant_id = \"{}\"", id.tenant_id),
        format!("client_id = \"{}\"", id.client_id),
        "client_secret = \"emulator-secret-3\"".to_owned(),
        format!("subscription_id = \"{}\"", id.subscription_id),
        "resource_group = \"rg-3\"".to_owned(),
        "workspace_name = \"ws-3\"".to_owned(),
        format!("workspace_id = \"{}\"", id.workspace_id),
        "cloud = \"custom\"".to_owned(),
        "login_url = \"http://127.0.0.1:4000\"".to_owned(),
        "arm_url = \"http://127.0.0.1:4000\"".to_owned(),
        "log_analytics_url = \"http://127.0.0.1:4000\"".to_owned(),
        "graph_url = \"http://127.0.0.1:4000\"".to_owned(),
    ];
    assert_eq!(lines, expected);
}

#[tokio::test]
async fn each_tenants_token_reads_only_its_own_subscription() {
    let emulator = start(3).await;
    let zero = token(&emulator, 0, ARM_SCOPE).await;
    let one = token(&emulator, 1, ARM_SCOPE).await;
    assert_eq!(jwt_claims(&zero)["tid"], emulator.tenants()[0].tenant_id.as_str());
    assert_eq!(jwt_claims(&one)["tid"], emulator.tenants()[1].tenant_id.as_str());

    for (index, token) in [(0, &zero), (1, &one)] {
        let page = get(&emulator.incidents_url(index, &[]), token).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let mut listed = names(&page.body);
        let mut held: Vec<String> =
            emulator.incidents(index).iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect();
        listed.sort();
        held.sort();
        assert_eq!((listed.len(), &listed), (INCIDENTS, &held), "tenant {index} lists its own incidents");
        let id = page.body["value"][0]["id"].as_str().unwrap();
        assert!(id.starts_with(&format!("/subscriptions/{}/", emulator.tenants()[index].subscription_id)), "{id}");
    }
    let zeros: Vec<Value> = emulator.incidents(0);
    let ones: Vec<Value> = emulator.incidents(1);
    assert_ne!(zeros[0]["name"], ones[0]["name"], "each tenant's data come from a seed of its own");

    // Tenant 0's token at tenant 1's subscription: ARM's wrong-tenant refusal.
    let refused = get(&emulator.incidents_url(1, &[]), &zero).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "InvalidAuthenticationTokenTenant");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&emulator.tenants()[0].tenant_id), "{message}");
    assert!(message.contains(&emulator.tenants()[1].tenant_id), "{message}");
    let challenge = refused.header("www-authenticate").unwrap_or_default();
    assert!(challenge.contains(&emulator.tenants()[1].tenant_id), "{challenge}");

    // An in-process token works as one from the endpoint.
    let minted = emulator.access_token(2, ARM_SCOPE).unwrap();
    assert_eq!(get(&emulator.incidents_url(2, &[("$top", "1")]), &minted).await.status, 200);
    assert_eq!(emulator.requests(2).len(), 1, "only the list request reached tenant 2");
}

#[tokio::test]
async fn a_tenant_refuses_another_tenants_credentials() {
    let emulator = start(2).await;
    let (zero, one) = (&emulator.tenants()[0], &emulator.tenants()[1]);

    let wrong_secret = request_token(&emulator, &one.tenant_id, &one.client_id, &zero.client_secret, ARM_SCOPE).await;
    assert_eq!(wrong_secret.status, 401, "{}", wrong_secret.body);
    assert_eq!(wrong_secret.body["error"], "invalid_client");
    assert_eq!(wrong_secret.body["error_codes"], json!([7000215]));

    let wrong_client = request_token(&emulator, &one.tenant_id, &zero.client_id, &zero.client_secret, ARM_SCOPE).await;
    assert_eq!(wrong_client.status, 400, "{}", wrong_client.body);
    assert_eq!(wrong_client.body["error_codes"], json!([700016]));

    let unknown =
        request_token(&emulator, DEFAULT_TENANT_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ARM_SCOPE).await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(unknown.body["error_codes"], json!([90002]));
    assert!(unknown.header("x-ms-request-id").is_some(), "an unrouted answer still has its request id");
}

#[tokio::test]
async fn admin_inserts_reach_one_tenant_only() {
    let emulator = start(3).await;
    let target = emulator.tenants()[2].tenant_id.clone();
    let url = format!("{}/_emulator/tenants/{target}/incidents", emulator.url());
    let body = json!([{"name": "only-in-two", "title": "Only here"}, {"name": "also-in-two"}]).to_string();
    let created = send("POST", &url, &[("content-type", "application/json")], &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body[0]["id"].as_str().unwrap();
    assert!(id.contains(&emulator.tenants()[2].subscription_id) && id.contains("/workspaces/ws-2/"), "{id}");

    assert_eq!(
        [emulator.incident_count(0), emulator.incident_count(1), emulator.incident_count(2)],
        [INCIDENTS, INCIDENTS, INCIDENTS + 2]
    );
    for index in 0..3 {
        let page = get(&emulator.incidents_url(index, &[]), &token(&emulator, index, ARM_SCOPE).await).await;
        let listed = names(&page.body);
        assert_eq!(listed.contains(&"only-in-two".to_owned()), index == 2, "tenant {index}: {listed:?}");
    }

    // By index too; and the in-process API.
    let by_index = format!("{}/_emulator/tenants/1/incidents", emulator.url());
    let one = send("POST", &by_index, &[("content-type", "application/json")], r#"{"name": "one"}"#).await;
    assert_eq!(one.status, 201, "{}", one.body);
    emulator.insert_incident(0, emulator.incidents(2)[0].clone());
    assert_eq!([emulator.incident_count(0), emulator.incident_count(1)], [INCIDENTS + 1, INCIDENTS + 1]);

    let stats = send("GET", &format!("{}/_emulator/tenants/{target}/stats", emulator.url()), &[], "").await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    assert_eq!(stats.body["incidents"], INCIDENTS + 2);
    assert_eq!(stats.body["requests"], 2, "its token and list requests; admin requests are not recorded");
    assert_eq!(emulator.total_requests(), 6);

    let unknown = send("GET", &format!("{}/_emulator/tenants/nobody/stats", emulator.url()), &[], "").await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn the_tenants_are_listed() {
    let emulator = start(4).await;
    let listed = send("GET", &format!("{}/_emulator/tenants", emulator.url()), &[], "").await;
    assert_eq!(listed.status, 200);
    let listed = listed.body.as_array().expect("an array").clone();
    assert_eq!(listed.len(), 4);
    for (index, entry) in listed.iter().enumerate() {
        let id = TenantIdentity::numbered(index as u32);
        assert_eq!(entry["index"], index);
        assert_eq!(entry["tenant_id"], id.tenant_id.as_str());
        assert_eq!(entry["subscription_id"], id.subscription_id.as_str());
        assert_eq!(entry["workspace_id"], id.workspace_id.as_str());
        assert_eq!(entry["client_secret"], id.client_secret.as_str());
        assert_eq!(emulator.tenants()[index], id);
        assert_eq!(emulator.index_of(&id.tenant_id), Some(index));
    }
}

#[tokio::test]
async fn unknown_subscription_workspace_and_managed_identity() {
    let emulator = start(2).await;
    let arm = token(&emulator, 0, ARM_SCOPE).await;
    let url = format!(
        "{}/subscriptions/00000000-0000-4000-8000-00000000dead/resourceGroups/rg-0/providers/Microsoft.OperationalInsights/workspaces/ws-0/providers/Microsoft.SecurityInsights/incidents?api-version=2025-09-01",
        emulator.url()
    );
    let missing = get(&url, &arm).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(missing.body["error"]["code"], "SubscriptionNotFound");

    // The right subscription with another tenant's resource group: that tenant's ARM says so.
    let own = emulator.tenants()[0].subscription_id.clone();
    let other_group = url.replace("00000000-0000-4000-8000-00000000dead", &own).replace("rg-0", "rg-1");
    let group = get(&other_group, &arm).await;
    assert_eq!((group.status, group.body["error"]["code"].as_str()), (404, Some("ResourceGroupNotFound")));

    // Log Analytics: by workspace id.
    let la = token(&emulator, 1, LOG_ANALYTICS_SCOPE).await;
    let ok = query(&emulator, &emulator.tenants()[1].workspace_id, &la).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["tables"][0]["rows"], json!([[1]]));
    let foreign = query(&emulator, &emulator.tenants()[0].workspace_id, &la).await;
    assert_eq!(foreign.status, 401, "{}", foreign.body);
    assert_eq!(foreign.body["error"]["code"], "InvalidAuthenticationTokenTenant");
    let nowhere = query(&emulator, DEFAULT_WORKSPACE_ID, &la).await;
    assert_eq!(nowhere.status, 404, "{}", nowhere.body);
    assert_eq!(nowhere.body["error"]["code"], "PathNotFoundError");

    let msi = send("GET", &format!("{}/msi/token?api-version=2019-08-01&resource=x", emulator.url()), &[], "").await;
    assert_eq!(msi.status, 404);
}

#[tokio::test]
async fn graph_is_routed_by_the_tokens_tenant() {
    let emulator = start(2).await;
    for index in 0..2 {
        let graph = token(&emulator, index, GRAPH_SCOPE).await;
        let url = format!("{}/v1.0/security/incidents?$top=2", emulator.url());
        let page = get(&url, &graph).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let incidents = page.body["value"].as_array().unwrap();
        assert!(!incidents.is_empty());
        for incident in incidents {
            assert_eq!(incident["tenantId"], emulator.tenants()[index].tenant_id.as_str());
        }
        assert!(emulator.requests(index).iter().any(|r| r.path == "/v1.0/security/incidents"));
    }
    let url = format!("{}/v1.0/security/incidents", emulator.url());
    let anonymous = send("GET", &url, &[], "").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body["error"]["code"], "InvalidAuthenticationToken");
    assert!(anonymous.header("request-id").is_some());
    let garbage = get(&url, "not-a-jwt").await;
    assert_eq!(garbage.status, 401);
    assert_eq!(garbage.body["error"]["code"], "InvalidAuthenticationToken");
}

/// The resident set of this process, in KiB (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn a_thousand_tenants_start_on_one_port() {
    let before = rss_kib();
    let started = Instant::now();
    let emulator = MultiTenantEmulator::start(MultiTenantOptions {
        tenants: 1000,
        incidents_per_tenant: 20,
        ..MultiTenantOptions::default()
    })
    .await
    .expect("1,000 tenants start");
    let took = started.elapsed();
    let after = rss_kib();
    assert_eq!(emulator.tenants().len(), 1000);
    assert_eq!((0..1000).map(|i| emulator.incident_count(i)).sum::<usize>(), 20_000);
    let listed = send("GET", &format!("{}/_emulator/tenants", emulator.url()), &[], "").await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1000));
    let last = token(&emulator, 999, ARM_SCOPE).await;
    assert_eq!(get(&emulator.incidents_url(999, &[]), &last).await.status, 200);
    if let (Some(before), Some(after)) = (before, after) {
        let grown = after.saturating_sub(before) / 1024;
        eprintln!("1,000 tenants x 20 incidents: started in {took:?}; RSS {} MiB (+{grown} MiB)", after / 1024);
        // Other tests of this file run in this process at the same time, with a few tenants each.
        assert!(grown < 300, "1,000 tenants took {grown} MiB");
    }
    // Well under a few seconds in release; a debug build on a busy machine gets slack.
    assert!(took < Duration::from_secs(30), "1,000 tenants took {took:?} to start");
}
