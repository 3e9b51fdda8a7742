//! The Microsoft identity platform v2 token endpoint, client credentials
//! only, with Entra's error shape and AADSTS codes.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::Rng;
use serde_json::{json, Value};

use crate::config::{
    ARM_SCOPE, FEDERATED_AUDIENCE, FEDERATED_ISSUER, FEDERATED_SUBJECT, GRAPH_SCOPE, LOG_ANALYTICS_SCOPE,
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
use crate::reply::Reply;
use crate::request::Call;
use crate::state::{Issued, Shared};

pub const ARM_AUDIENCE: &str = "https://management.azure.com/";
pub const LOG_ANALYTICS_AUDIENCE: &str = "https://api.loganalytics.io";
pub const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";

/// The Graph application roles a token gets unless the options or
/// `Emulator::set_graph_roles` say otherwise: everything the connector uses.
pub const DEFAULT_GRAPH_ROLES: &[&str] = &[
    "SecurityIncident.ReadWrite.All",
    "SecurityAlert.ReadWrite.All",
    "ThreatHunting.Read.All",
    "User.Read.All",
    "User.EnableDisableAccount.All",
    "User.RevokeSessions.All",
    "IdentityRiskyUser.ReadWrite.All",
    "GroupMember.ReadWrite.All",
];

/// The audience of a scope and the roles its tokens carry; Graph's roles are
/// configurable (`graph_roles`), so tests can take a permission away.
fn audience_of(scope: &str, graph_roles: Option<&[String]>) -> Option<(&'static str, Vec<String>)> {
    let owned = |roles: &[&str]| roles.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
    match scope {
        ARM_SCOPE => Some((ARM_AUDIENCE, Vec::new())),
        LOG_ANALYTICS_SCOPE => Some((LOG_ANALYTICS_AUDIENCE, owned(&["Data.Read"]))),
        GRAPH_SCOPE => {
            Some((GRAPH_AUDIENCE, graph_roles.map_or_else(|| owned(DEFAULT_GRAPH_ROLES), <[String]>::to_vec)))
        }
        _ => None,
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) fn issue(shared: &Shared, tenant: &str, call: &Call, body: &[u8]) -> Reply {
    let authorization = call.authorization();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    let (basic_id, basic_secret) = basic_credentials(authorization);
    let identity = &shared.options.identity;
    if tenant != identity.tenant_id {
        return tenant_not_found(tenant);
    }
    let Some(grant) = field("grant_type") else { return missing("grant_type") };
    if grant != "client_credentials" {
        return entra_error(
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant}'."),
        );
    }
    let Some(client_id) = field("client_id").or(basic_id) else { return missing("client_id") };
    if client_id != identity.client_id {
        return entra_error(400, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."));
    }
    if let Some(assertion) = field("client_assertion") {
        if field("client_assertion_type").as_deref() != Some(JWT_BEARER) {
            return entra_error(
                400,
                "invalid_request",
                50027,
                "Invalid client_assertion_type: it must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
            );
        }
        let audience = format!("http://{}/{tenant}/oauth2/v2.0/token", call.host);
        let checked = match assertion_header(&assertion) {
            Some(header) if header.get("x5t#S256").is_some() || header.get("x5t").is_some() => {
                crate::certificates::check(shared, &assertion, &header, &client_id, &audience)
            }
            _ => check_federated(shared, &assertion),
        };
        if let Err(refused) = checked {
            return refused;
        }
    } else {
        let Some(secret) = field("client_secret").or(basic_secret) else {
            return missing("client_assertion' or 'client_secret");
        };
        if secret != identity.client_secret {
            return entra_error(401, "invalid_client", 7000215, &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."));
        }
    }
    let Some(scope) = field("scope") else { return missing("scope") };
    let Some(token) = mint(shared, scope.trim(), &client_id) else {
        return entra_error(
            400,
            "invalid_scope",
            70011,
            &format!(
                "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        );
    };
    let lifetime = shared.options.token_lifetime_secs as i64;
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}),
    )
}

/// Entra's answer to a token request for a tenant it does not know.
pub(crate) fn tenant_not_found(tenant: &str) -> Reply {
    entra_error(400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."))
}

/// The tenant (`tid` claim) a bearer token names, read without checking
/// it: None when it is not a JWT with a `tid`. How a multi-tenant emulator
/// routes a Graph request, and how a service tells a token of another
/// tenant from a token that is merely unknown.
pub(crate) fn tenant_of(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (_, claims, _) = (parts.next()?, parts.next()?, parts.next()?);
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
    claims["tid"].as_str().map(str::to_owned)
}

/// The tenant of a token issued for a tenant other than `ours`, if it is one.
pub(crate) fn foreign_tenant(token: &str, ours: &str) -> Option<String> {
    tenant_of(token).filter(|tenant| !tenant.eq_ignore_ascii_case(ours))
}

/// Issues (and remembers) a token for `scope`; None for a scope the
/// emulator does not serve.
pub(crate) fn mint(shared: &Shared, scope: &str, client_id: &str) -> Option<String> {
    let graph_roles = shared.state().graph_roles.clone();
    let (audience, roles) = audience_of(scope, graph_roles.as_deref())?;
    let lifetime = shared.options.token_lifetime_secs as i64;
    let now = jiff::Timestamp::now().as_second();
    let token = jwt(&shared.options.identity.tenant_id, audience, &roles, client_id, now, now + lifetime);
    shared
        .state()
        .tokens
        .insert(token.clone(), Issued { audience, expires_at: now + lifetime, client_id: client_id.to_owned(), roles });
    Some(token)
}

/// `GET /msi/token` (App Service, Container Apps: `X-IDENTITY-HEADER`,
/// api-version 2019-08-01) and `GET /metadata/identity/oauth2/token` (IMDS:
/// `Metadata: true`, 2018-02-01): a token of the machine's managed identity
/// (system-assigned, or the user-assigned one `client_id` names) for
/// `resource`, as those endpoints answer (`expires_on` in epoch seconds, as
/// a string).
pub(crate) fn managed_identity(shared: &Shared, call: &Call) -> Reply {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(call.uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let param = |name: &str| query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let imds = call.uri.path().starts_with("/metadata/");
    let (proof, version) = if imds { ("metadata", "2018-02-01") } else { ("x-identity-header", "2019-08-01") };
    let expected = if imds { "true" } else { crate::config::IDENTITY_HEADER };
    if call.header(proof) != Some(expected) {
        return Reply::json(
            400,
            json!({"error": "invalid_request", "error_description": format!("Required header {proof} is missing or wrong.")}),
        );
    }
    if param("api-version").as_deref() != Some(version) {
        return Reply::json(
            400,
            json!({"error": "invalid_request", "error_description": format!("api-version {version} is required.")}),
        );
    }
    let client_id = match param("client_id").or_else(|| param("clientid")) {
        None => crate::config::SYSTEM_IDENTITY_CLIENT_ID.to_owned(),
        Some(id) if id == crate::config::USER_IDENTITY_CLIENT_ID => id,
        Some(id) => {
            return Reply::json(
                400,
                json!({"error": "invalid_request", "error_description": format!("Identity not found: no user-assigned identity with client id {id} is assigned to this resource.")}),
            );
        }
    };
    let Some(resource) = param("resource") else {
        return Reply::json(
            400,
            json!({"error": "invalid_request", "error_description": "Required query parameter resource is missing."}),
        );
    };
    let scope = format!("{}/.default", resource.trim_end_matches('/'));
    let Some(token) = mint(shared, &scope, &client_id) else {
        return Reply::json(
            400,
            json!({"error": "invalid_resource", "error_description": format!("AADSTS500011: The resource principal named {resource} was not found in the tenant.")}),
        );
    };
    let expires_on = jiff::Timestamp::now().as_second() + shared.options.token_lifetime_secs as i64;
    Reply::json(
        200,
        json!({
            "access_token": token, "expires_on": expires_on.to_string(), "resource": resource,
            "token_type": "Bearer", "client_id": client_id,
        }),
    )
}

/// A federated token for the app's federated credential, from the issuer it
/// trusts, valid for `lifetime_secs` (negative: already expired).
pub(crate) fn federated_token(shared: &Shared, lifetime_secs: i64) -> String {
    let now = jiff::Timestamp::now().as_second();
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "emulator-oidc"});
    let claims = json!({
        "iss": FEDERATED_ISSUER, "sub": FEDERATED_SUBJECT, "aud": [FEDERATED_AUDIENCE],
        "iat": now, "nbf": now.min(now + lifetime_secs), "exp": now + lifetime_secs,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let signature: [u8; 32] = rand::rng().random();
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    );
    shared.state().federated.insert(token.clone());
    token
}

/// A JWT's header, if it is one.
fn assertion_header(assertion: &str) -> Option<Value> {
    let header = assertion.split('.').next()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()
}

/// Entra's checks of a federated client assertion, with its codes: the
/// issuer's signature (here: a token the issuer gave out), then the
/// federated credential's issuer, subject and audience, then the time.
fn check_federated(shared: &Shared, assertion: &str) -> Result<(), Reply> {
    if !shared.state().federated.contains(assertion) {
        return Err(entra_error(401, "invalid_client", 700027, "Client assertion failed signature validation."));
    }
    let claims: Value = assertion
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let audience_ok = claims["aud"].as_array().is_some_and(|a| a.iter().any(|v| v == FEDERATED_AUDIENCE));
    if claims["iss"] != FEDERATED_ISSUER || claims["sub"] != FEDERATED_SUBJECT || !audience_ok {
        return Err(entra_error(
            400,
            "invalid_client",
            70021,
            "No matching federated identity record found for presented assertion.",
        ));
    }
    let now = jiff::Timestamp::now().as_second();
    let (nbf, exp) = (claims["nbf"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    if now < nbf || now >= exp {
        return Err(entra_error(
            400,
            "invalid_client",
            700024,
            &format!("Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."),
        ));
    }
    Ok(())
}

fn basic_credentials(authorization: Option<&str>) -> (Option<String>, Option<String>) {
    let decoded = authorization
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded.as_deref().and_then(|text| text.split_once(':')) {
        Some((id, secret)) => (Some(decode_component(id)), Some(decode_component(secret))),
        None => (None, None),
    }
}

/// RFC 6749 2.3.1: Basic credentials are form-encoded before base64.
fn decode_component(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

fn jwt(tenant: &str, audience: &str, roles: &[String], client_id: &str, now: i64, expires: i64) -> String {
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "emulator"});
    let mut rng = rand::rng();
    let claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "tid": tenant,
        "appid": client_id,
        "oid": uuid::Uuid::new_v4().to_string(),
        "roles": roles,
        "iat": now, "nbf": now, "exp": expires,
        "uti": URL_SAFE_NO_PAD.encode(rng.random::<[u8; 12]>()),
    });
    let signature: [u8; 32] = rng.random();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn missing(name: &str) -> Reply {
    entra_error(
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

pub(crate) fn entra_error(status: u16, error: &str, code: u32, message: &str) -> Reply {
    let trace = uuid::Uuid::new_v4().to_string();
    let correlation = uuid::Uuid::new_v4().to_string();
    let timestamp = jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%SZ").to_string();
    let body: Value = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": "https://login.microsoftonline.com/error?code=".to_owned() + &code.to_string(),
    });
    Reply::json(status, body)
}
