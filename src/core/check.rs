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
    /// How this API's token is obtained.
    pub credential: CredentialKind,
    /// With a certificate: its SHA-1 thumbprint (hex), the one Entra must have on file.
    pub certificate_thumbprint: Option<String>,
    pub token_ok: bool,
    /// None when no read was tried (no token, or nothing configured to read).
    pub read_ok: Option<bool>,
    pub failure: Option<Error>,
    pub roles: Vec<String>,
    pub allowed_actions: Vec<String>,
    /// ARM: the stable Sentinel api-versions the workspace accepts (see
    /// `sentinel::versions`); empty for the other APIs.
    pub api_versions: Vec<String>,
}

/// How a connection gets an API's token, as `check-connection` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// The client-credentials grant with the app's client secret.
    ClientSecret,
    /// The client-credentials grant with a client assertion (a federated token).
    ClientAssertion,
    /// The client-credentials grant with an assertion the component signs
    /// with the app's certificate.
    Certificate,
    /// A token the host obtained and handed over (or none for this API).
    AccessToken,
}

impl CredentialKind {
    pub fn of(credential: &crate::core::config::Credential) -> CredentialKind {
        use crate::core::config::Credential;
        match credential {
            Credential::ClientSecret(_) => CredentialKind::ClientSecret,
            Credential::ClientAssertion(_) => CredentialKind::ClientAssertion,
            Credential::Certificate { .. } => CredentialKind::Certificate,
            Credential::AccessTokens { .. } => CredentialKind::AccessToken,
        }
    }
}

/// The least-privileged application permissions each action needs, by API,
/// named as the WIT functions are. Containment also reads the user (and, with
/// protected groups, the groups and the user's membership; a group that hides
/// its membership needs Member.Read.Hidden) before it acts.
pub const PERMISSIONS: &[(Api, &str, &[&str])] = &[
    (Api::LogAnalytics, "search-events", &["Data.Read"]),
    // With a workspace id, one `_GetWatchlist` query (else the items, through ARM).
    (Api::LogAnalytics, "watchlists.watchlist-contains", &["Data.Read"]),
    // resolve-incident follows merges on Graph, then finds the target's
    // Sentinel incident in the workspace's SecurityIncident table.
    (Api::Graph, "resolve-incident", &["SecurityIncident.Read.All"]),
    (Api::LogAnalytics, "resolve-incident", &["Data.Read"]),
    (Api::Graph, "graph-security.list-incidents", &["SecurityIncident.Read.All"]),
    (Api::Graph, "graph-security.get-incident", &["SecurityIncident.Read.All"]),
    // Reads incidents, follows merges and (with include-alerts) reads alerts:
    // SecurityAlert.Read.All is needed only for the alerts.
    (Api::Graph, "graph-security.poll", &["SecurityIncident.Read.All", "SecurityAlert.Read.All"]),
    (Api::Graph, "graph-security.update-incident", &["SecurityIncident.ReadWrite.All"]),
    (Api::Graph, "graph-security.list-alerts", &["SecurityAlert.Read.All"]),
    (Api::Graph, "graph-security.get-alert", &["SecurityAlert.Read.All"]),
    (Api::Graph, "graph-security.update-alert", &["SecurityAlert.ReadWrite.All"]),
    (Api::Graph, "graph-security.run-hunting-query", &["ThreatHunting.Read.All"]),
    // A keyed retry reads the item's comments first, as get-incident/get-alert do.
    (Api::Graph, "graph-security.add-incident-comment", &["SecurityIncident.ReadWrite.All"]),
    (Api::Graph, "graph-security.add-alert-comment", &["SecurityAlert.ReadWrite.All"]),
    // Reads each incident first (SecurityIncident.Read.All) to apply the no-merge rules.
    (Api::Graph, "graph-security.merge-incidents", &["SecurityData.Manage.All", "SecurityIncident.Read.All"]),
    (Api::Graph, "containment.get-user", &["User.Read.All"]),
    (Api::Graph, "containment.list-risky-users", &["IdentityRiskyUser.Read.All"]),
    (Api::Graph, "containment.disable-account", &["User.EnableDisableAccount.All", "User.Read.All"]),
    (Api::Graph, "containment.enable-account", &["User.EnableDisableAccount.All", "User.Read.All"]),
    (Api::Graph, "containment.revoke-sessions", &["User.RevokeSessions.All", "User.Read.All"]),
    (Api::Graph, "containment.confirm-compromised", &["IdentityRiskyUser.ReadWrite.All", "User.Read.All"]),
    (Api::Graph, "containment.dismiss-risk", &["IdentityRiskyUser.ReadWrite.All", "User.Read.All"]),
    (Api::Graph, "containment.add-to-group", &["GroupMember.ReadWrite.All", "User.Read.All"]),
    (Api::Graph, "containment.remove-from-group", &["GroupMember.ReadWrite.All", "User.Read.All"]),
    (Api::Graph, "containment protected-groups check", &["GroupMember.Read.All"]),
    // A protected group whose membership is hidden (visibility HiddenMembership)
    // is only checked with this; without it containment fails closed.
    (Api::Graph, "containment protected-hidden-groups check", &["Member.Read.Hidden"]),
];

/// The permission a refused call of this action most likely lacked: the
/// first the manifest lists for it (the rest are reads it makes first).
pub fn permission_for(action: &str) -> Option<&'static str> {
    PERMISSIONS.iter().find(|(_, name, _)| *name == action).and_then(|(_, _, needs)| needs.first().copied())
}

/// Whether the roles grant the permission: itself, its ReadWrite form, or a
/// broader permission Graph accepts in its place.
pub fn covers(roles: &[String], permission: &str) -> bool {
    let broader: &[&str] = match permission {
        "User.Read.All" => &["User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"],
        "User.EnableDisableAccount.All" | "User.RevokeSessions.All" => {
            &["User.ReadWrite.All", "Directory.ReadWrite.All"]
        }
        "GroupMember.Read.All" => &[
            "GroupMember.ReadWrite.All",
            "Group.Read.All",
            "Group.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        "GroupMember.ReadWrite.All" => &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
        _ => &[],
    };
    let read_write = permission.replace(".Read.", ".ReadWrite.");
    roles.iter().any(|role| {
        role.eq_ignore_ascii_case(permission)
            || role.eq_ignore_ascii_case(&read_write)
            || broader.iter().any(|b| role.eq_ignore_ascii_case(b))
    })
}

/// What a successful ARM read lets the app do: reading is proven; changes
/// need Microsoft Sentinel Responder or Contributor (analytics rules:
/// Contributor), which only a write shows.
pub const SENTINEL_READ_ACTIONS: &[&str] = &[
    "list-incidents",
    "get-incident",
    "list-alerts",
    "list-entities",
    "list-bookmarks",
    "list-comments",
    "poll",
    "analytics-rules.list-rules",
    "analytics-rules.get-rule",
    // Watchlist writes need Microsoft Sentinel Contributor.
    "watchlists.list-watchlists",
    "watchlists.get-watchlist",
    "watchlists.list-items",
    "watchlists.get-item",
    // Indicator writes (create, tags, delete) need Microsoft Sentinel Contributor.
    "threat-intelligence.get-indicator",
    "threat-intelligence.list-indicators",
    "threat-intelligence.query-indicators",
];

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

/// The actions an API's roles (and read) allow.
pub fn allowed_actions(api: Api, roles: &[String], read_ok: Option<bool>) -> Vec<String> {
    let mut allowed: Vec<String> = PERMISSIONS
        .iter()
        .filter(|(a, _, needs)| *a == api && needs.iter().all(|p| covers(roles, p)))
        .map(|(_, action, _)| (*action).to_owned())
        .collect();
    if api == Api::Arm && read_ok == Some(true) {
        allowed.extend(SENTINEL_READ_ACTIONS.iter().map(|a| (*a).to_owned()));
    }
    allowed
}

/// What an API's token lacks, as `action needs Permission[, Permission]`
/// naming only the permissions not held.
pub fn missing_permissions(api: Api, roles: &[String]) -> Vec<String> {
    PERMISSIONS
        .iter()
        .filter(|(a, _, _)| *a == api)
        .filter_map(|(_, action, needs)| {
            let missing: Vec<&str> = needs.iter().copied().filter(|p| !covers(roles, p)).collect();
            (!missing.is_empty()).then(|| format!("{action} needs {}", missing.join(", ")))
        })
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
        assert!(allowed.contains(&"graph-security.list-incidents".to_owned()));
        assert!(allowed.contains(&"graph-security.update-incident".to_owned()));
        let missing = missing_permissions(Api::Graph, &roles);
        assert!(
            missing.iter().any(|m| m == "containment.revoke-sessions needs User.RevokeSessions.All, User.Read.All"),
            "{missing:?}"
        );
        let directory = vec!["Directory.ReadWrite.All".to_owned()];
        assert!(allowed_actions(Api::Graph, &directory, None).contains(&"containment.disable-account".to_owned()));
        let no_disable = vec!["User.Read.All".to_owned(), "User.RevokeSessions.All".to_owned()];
        assert!(missing_permissions(Api::Graph, &no_disable)
            .contains(&"containment.disable-account needs User.EnableDisableAccount.All".to_owned()));
        assert!(allowed_actions(Api::Arm, &[], Some(true)).contains(&"poll".to_owned()));
        assert!(allowed_actions(Api::Arm, &[], Some(false)).is_empty());
        // resolve-incident needs both APIs: Graph to follow merges, Log Analytics to map back.
        assert!(allowed.contains(&"resolve-incident".to_owned()));
        let data_read = vec!["Data.Read".to_owned()];
        assert!(allowed_actions(Api::LogAnalytics, &data_read, None).contains(&"resolve-incident".to_owned()));
    }
}
