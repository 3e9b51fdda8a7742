//! The connection check: per API, can a token be had, does one cheap read
//! work, and which actions do the token's application permissions allow.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

use super::auth::Api;
use super::error::Error;

#[derive(Clone, Debug, PartialEq)]
pub struct ApiCheck {
    pub api: Api,
    pub token_ok: bool,
    /// None when no read was tried (no token, or nothing configured to read).
    pub read_ok: Option<bool>,
    pub failure: Option<Error>,
    pub roles: Vec<String>,
    pub allowed_actions: Vec<String>,
}

/// The least-privileged application permission each action needs, by API.
/// Sentinel's ARM actions need an Azure role, not a permission: the read tells.
pub const PERMISSIONS: &[(Api, &str, &str)] = &[
    (Api::LogAnalytics, "search-events", "Data.Read"),
    (Api::Graph, "graph incidents (read)", "SecurityIncident.Read.All"),
    (Api::Graph, "graph incidents (update)", "SecurityIncident.ReadWrite.All"),
    (Api::Graph, "graph alerts (read)", "SecurityAlert.Read.All"),
    (Api::Graph, "graph alerts (update)", "SecurityAlert.ReadWrite.All"),
    (Api::Graph, "advanced hunting", "ThreatHunting.Read.All"),
    (Api::Graph, "disable or enable a user", "User.EnableDisableAccount.All"),
    (Api::Graph, "revoke sign-in sessions", "User.RevokeSessions.All"),
    (Api::Graph, "confirm or dismiss user risk", "IdentityRiskyUser.ReadWrite.All"),
    (Api::Graph, "group membership", "GroupMember.ReadWrite.All"),
];

/// What a successful ARM read lets the app do: reading is proven; changes
/// need Microsoft Sentinel Responder or Contributor, which only a write shows.
pub const SENTINEL_READ_ACTIONS: &[&str] =
    &["list-incidents", "get-incident", "list-alerts", "list-entities", "list-bookmarks", "list-comments", "poll"];

#[derive(Deserialize, Default)]
struct Claims {
    #[serde(default)]
    roles: Vec<String>,
}

/// The `roles` claim of a JWT access token. The token is not verified here
/// (the service does that); an opaque token simply has no roles to show.
pub fn roles(token: &str) -> Vec<String> {
    let payload = token.split('.').nth(1).unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Claims>(&bytes).ok())
        .unwrap_or_default()
        .roles
}

/// The actions an API's roles (and read) allow, and a hint per missing permission.
pub fn allowed_actions(api: Api, roles: &[String], read_ok: Option<bool>) -> Vec<String> {
    let has = |permission: &str| {
        roles.iter().any(|role| role.eq_ignore_ascii_case(permission))
            || (permission.ends_with(".Read.All") && roles.iter().any(|role| role.eq_ignore_ascii_case(&permission.replace(".Read.", ".ReadWrite."))))
    };
    let mut allowed: Vec<String> = PERMISSIONS.iter().filter(|(a, _, p)| *a == api && has(p)).map(|(_, action, _)| (*action).to_owned()).collect();
    if api == Api::Arm && read_ok == Some(true) {
        allowed.extend(SENTINEL_READ_ACTIONS.iter().map(|a| (*a).to_owned()));
    }
    allowed
}

/// The permissions an API's token lacks, as `action needs Permission`.
pub fn missing_permissions(api: Api, roles: &[String]) -> Vec<String> {
    let allowed = allowed_actions(api, roles, None);
    PERMISSIONS
        .iter()
        .filter(|(a, action, _)| *a == api && !allowed.iter().any(|x| x == action))
        .map(|(_, action, permission)| format!("{action} needs {permission}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> String {
        format!("{}.{}.sig", URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#), URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn roles_come_from_the_token() {
        assert_eq!(roles(&token(r#"{"aud":"x","roles":["Data.Read"]}"#)), vec!["Data.Read"]);
        assert!(roles("opaque-token").is_empty());
        assert!(roles(&token(r#"{"aud":"x"}"#)).is_empty());
    }

    #[test]
    fn permissions_map_to_actions_and_readwrite_covers_read() {
        let roles = vec!["SecurityIncident.ReadWrite.All".to_owned()];
        let allowed = allowed_actions(Api::Graph, &roles, None);
        assert!(allowed.contains(&"graph incidents (read)".to_owned()));
        assert!(allowed.contains(&"graph incidents (update)".to_owned()));
        assert!(missing_permissions(Api::Graph, &roles).iter().any(|m| m == "revoke sign-in sessions needs User.RevokeSessions.All"));
        assert!(allowed_actions(Api::Arm, &[], Some(true)).contains(&"poll".to_owned()));
        assert!(allowed_actions(Api::Arm, &[], Some(false)).is_empty());
    }
}
