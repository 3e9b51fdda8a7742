//! Entra ID users, groups and risky users: who a containment action targets,
//! and the requests that read them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use super::{url, validate_filter, with_query};
use crate::core::config::{shown, validate_guid, Settings};
use crate::core::error::Error;
use crate::core::incidents::open_enum;

open_enum!(RiskLevel { None => "none", Low => "low", Medium => "medium", High => "high", Hidden => "hidden" });
open_enum!(RiskState {
    None => "none",
    ConfirmedSafe => "confirmedSafe",
    Remediated => "remediated",
    Dismissed => "dismissed",
    AtRisk => "atRisk",
    ConfirmedCompromised => "confirmedCompromised",
});

/// The properties read for a user. `accountEnabled` is not in Graph's default
/// set, so it is asked for by name.
pub const USER_SELECT: &str = "id,userPrincipalName,displayName,mail,accountEnabled,userType,jobTitle";

/// A user as the caller names one: an object id or a user principal name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef {
    ObjectId(String),
    Upn(String),
}

impl UserRef {
    /// A GUID is an object id; anything with an `@` a UPN (guest UPNs hold
    /// `#EXT#`, which is percent-encoded in the path).
    pub fn parse(field: &str, text: &str) -> Result<UserRef, Error> {
        let text = text.trim();
        if validate_guid(field, text).is_ok() {
            return Ok(UserRef::ObjectId(text.to_ascii_lowercase()));
        }
        let valid_upn = text.len() <= 1024
            && text.split_once('@').is_some_and(|(name, domain)| !name.is_empty() && domain.contains('.') && !domain.contains('@'))
            && !text.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\' | '?'));
        if valid_upn {
            return Ok(UserRef::Upn(text.to_owned()));
        }
        Err(Error::invalid(field, format!("'{}' is neither an object id (GUID) nor a user principal name (name@domain)", shown(text))))
    }

    pub fn as_str(&self) -> &str {
        match self {
            UserRef::ObjectId(id) | UserRef::Upn(id) => id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphUser {
    pub id: String,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskyUser {
    pub id: String,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub user_display_name: Option<String>,
    #[serde(default)]
    pub risk_level: Option<RiskLevel>,
    #[serde(default)]
    pub risk_state: Option<RiskState>,
    #[serde(default)]
    pub risk_detail: Option<String>,
    #[serde(default)]
    pub risk_last_updated_date_time: Option<String>,
    #[serde(default)]
    pub is_deleted: Option<bool>,
    #[serde(default)]
    pub is_processing: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

pub fn user_url(settings: &Settings, user: &UserRef) -> Url {
    url(settings, &["users", user.as_str()])
}

pub fn read_user_url(settings: &Settings, user: &UserRef) -> Url {
    with_query(user_url(settings, user), &[("$select", Some(USER_SELECT.into()))])
}

pub fn parse_user(body: &[u8]) -> Result<GraphUser, Error> {
    serde_json::from_slice(body).map_err(|e| Error::invalid_response(format!("the user could not be read: {e}")))
}

pub fn risky_users_url(settings: &Settings, filter: Option<&str>) -> Result<Url, Error> {
    validate_filter(filter)?;
    Ok(with_query(url(settings, &["identityProtection", "riskyUsers"]), &[("$filter", filter.map(str::to_owned))]))
}

/// Groups by exact display name (to resolve the protected groups named in the config).
pub fn group_by_name_url(settings: &Settings, name: &str) -> Url {
    let filter = format!("displayName eq '{}'", name.replace('\'', "''"));
    with_query(url(settings, &["groups"]), &[("$filter", Some(filter)), ("$select", Some("id,displayName".into()))])
}

/// `checkMemberGroups`: which of these groups the user is in, transitively,
/// in one request however large the groups are.
pub fn check_member_groups(settings: &Settings, user_id: &str, group_ids: &[String]) -> (Url, Vec<u8>) {
    let body = serde_json::json!({ "groupIds": group_ids });
    (url(settings, &["users", user_id, "checkMemberGroups"]), body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_and_upns_are_told_apart() {
        assert_eq!(UserRef::parse("user", "29F270BB-4D23-4F68-8A57-DC73DC0D4CAF").unwrap(), UserRef::ObjectId("29f270bb-4d23-4f68-8a57-dc73dc0d4caf".into()));
        assert_eq!(UserRef::parse("user", "bob@contoso.com").unwrap(), UserRef::Upn("bob@contoso.com".into()));
        for bad in ["", "bob", "bob@", "@contoso.com", "a/b@contoso.com", "bob@contoso", "x@y@z.com"] {
            assert!(matches!(UserRef::parse("user", bad), Err(Error::InvalidInput { ref field, .. }) if field == "user"), "{bad:?}");
        }
    }

    #[test]
    fn a_guest_upn_stays_one_path_segment() {
        let settings = crate::core::config::tests::settings();
        let guest = UserRef::parse("user", "frank_fabrikam.com#EXT#@contoso.onmicrosoft.com").unwrap();
        let url = user_url(&settings, &guest);
        assert_eq!(url.path(), "/v1.0/users/frank_fabrikam.com%23EXT%23@contoso.onmicrosoft.com");
        assert!(url.fragment().is_none());
    }

    #[test]
    fn group_names_are_quoted_for_odata() {
        let settings = crate::core::config::tests::settings();
        let url = group_by_name_url(&settings, "O'Brien admins");
        let filter = url.query_pairs().find(|(k, _)| k == "$filter").unwrap().1.into_owned();
        assert_eq!(filter, "displayName eq 'O''Brien admins'");
    }
}
