//! Entra ID users, groups and risky users: who a containment action targets,
//! and the requests that read them.

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::security::{object, opt};
use super::{url, validate_filter, with_query};
use crate::core::config::{shown, validate_guid, Settings};
use crate::core::enums::open_enum;
use crate::core::error::Error;

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

/// Graph's `checkMemberGroups` takes at most this many group ids a request.
pub const MAX_CHECK_MEMBER_GROUPS: usize = 20;

/// The properties read for a protected group: `visibility` tells whether its
/// membership is hidden (`HiddenMembership`).
pub const GROUP_SELECT: &str = "id,displayName,visibility";

/// Characters trimmed from both ends of every name compared by the
/// guardrails (protected entries and the caller's input alike): Unicode
/// whitespace, U+00A0 no-break space among it, and the zero-width characters
/// a copy from a web page or a document brings along, which
/// `char::is_whitespace` leaves out.
pub fn is_blank(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}')
}

/// A name as the guardrails compare it: trimmed of [`is_blank`] characters.
/// The one normalization of protected entries and user input.
pub fn trimmed(text: &str) -> &str {
    text.trim_matches(is_blank)
}

/// UPNs and group names are the same whatever their case, as in Entra ID.
pub fn same_name(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

/// A user as the caller names one: an object id or a user principal name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef {
    ObjectId(String),
    Upn(String),
}

impl UserRef {
    /// A GUID is an object id (kept in lower case); anything with an `@` a
    /// UPN (guest UPNs hold `#EXT#`, which is percent-encoded in the path).
    /// Both are [`trimmed`] first; a blank character inside is refused.
    pub fn parse(field: &str, text: &str) -> Result<UserRef, Error> {
        let text = trimmed(text);
        if validate_guid(field, text).is_ok() {
            return Ok(UserRef::ObjectId(text.to_ascii_lowercase()));
        }
        let valid_upn = text.len() <= 1024
            && text
                .split_once('@')
                .is_some_and(|(name, domain)| !name.is_empty() && domain.contains('.') && !domain.contains('@'))
            && !text.chars().any(|c| is_blank(c) || c.is_control() || matches!(c, '/' | '\\' | '?'));
        if valid_upn {
            return Ok(UserRef::Upn(text.to_owned()));
        }
        Err(Error::invalid(
            field,
            format!("'{}' is neither an object id (GUID) nor a user principal name (name@domain)", shown(text)),
        ))
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

/// The component reads it with `risky_user_from_value`; the derive is what
/// that function must agree with (see its test).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
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

/// A risky user from its list item, read field by field as the derive reads
/// it, with the same errors, without the derive's code for a `Value` (see
/// `security::incident_fields`).
pub fn risky_user_from_value(value: &Value) -> Result<RiskyUser, serde_json::Error> {
    let (mut u, mut id) = (RiskyUser::default(), None);
    for (key, value) in object(value, "struct RiskyUser")? {
        match key.as_str() {
            "id" => id = Some(String::deserialize(value)?),
            "userPrincipalName" => u.user_principal_name = opt(value)?,
            "userDisplayName" => u.user_display_name = opt(value)?,
            "riskLevel" => u.risk_level = opt(value)?,
            "riskState" => u.risk_state = opt(value)?,
            "riskDetail" => u.risk_detail = opt(value)?,
            "riskLastUpdatedDateTime" => u.risk_last_updated_date_time = opt(value)?,
            "isDeleted" => u.is_deleted = opt(value)?,
            "isProcessing" => u.is_processing = opt(value)?,
            _ => {}
        }
    }
    u.id = id.ok_or_else(|| serde::de::Error::missing_field("id"))?;
    Ok(u)
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRef {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `Public`, `Private` or `HiddenMembership`; often null for security groups.
    #[serde(default)]
    pub visibility: Option<String>,
}

impl GroupRef {
    /// Its membership is hidden: only a token with `Member.Read.Hidden`
    /// sees it, and `checkMemberGroups` may leave the group out otherwise.
    pub fn hides_membership(&self) -> bool {
        self.visibility.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("HiddenMembership"))
    }

    /// Its display name, or its id when the name is unknown.
    pub fn shown(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| self.id.clone())
    }
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
    with_query(url(settings, &["groups"]), &[("$filter", Some(filter)), ("$select", Some(GROUP_SELECT.into()))])
}

/// One group by object id, with its visibility.
pub fn group_url(settings: &Settings, id: &str) -> Url {
    with_query(url(settings, &["groups", id]), &[("$select", Some(GROUP_SELECT.into()))])
}

/// `checkMemberGroups`: which of these groups the user is in, transitively,
/// however large the groups are; one request per [`MAX_CHECK_MEMBER_GROUPS`]
/// ids, as Graph allows no more in one.
pub fn check_member_groups(settings: &Settings, user_id: &str, group_ids: &[String]) -> Vec<(Url, Vec<u8>)> {
    group_ids
        .chunks(MAX_CHECK_MEMBER_GROUPS)
        .map(|chunk| {
            let body = serde_json::json!({ "groupIds": chunk });
            (url(settings, &["users", user_id, "checkMemberGroups"]), body.to_string().into_bytes())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risky_users_are_read_as_serde_derive_did_with_the_same_errors() {
        let cases = [
            r#"{"id": "1", "userPrincipalName": "a@b", "riskLevel": "High", "isDeleted": false, "other": 1}"#,
            r#"{"id": "1", "riskLevel": null, "isDeleted": null}"#,
            r#"{"userPrincipalName": "no id"}"#,
            r#"{"id": "1", "isDeleted": "yes"}"#,
            r#"{"id": "1", "riskLevel": 2}"#,
            r#"{"id": "1", "userPrincipalName": 1e400}"#,
            r#""text""#,
        ];
        for case in cases {
            let Ok(value) = serde_json::from_str::<Value>(case) else { continue };
            let ours = risky_user_from_value(&value).map_err(|e| e.to_string());
            let derived = serde_json::from_value::<RiskyUser>(value).map_err(|e| e.to_string());
            assert_eq!(ours, derived, "{case}");
        }
    }

    #[test]
    fn object_ids_and_upns_are_told_apart() {
        assert_eq!(
            UserRef::parse("user", "29F270BB-4D23-4F68-8A57-DC73DC0D4CAF").unwrap(),
            UserRef::ObjectId("29f270bb-4d23-4f68-8a57-dc73dc0d4caf".into())
        );
        assert_eq!(UserRef::parse("user", "bob@contoso.com").unwrap(), UserRef::Upn("bob@contoso.com".into()));
        for bad in ["", "bob", "bob@", "@contoso.com", "a/b@contoso.com", "bob@contoso", "x@y@z.com"] {
            assert!(
                matches!(UserRef::parse("user", bad), Err(Error::InvalidInput { ref field, .. }) if field == "user"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn input_is_trimmed_of_unicode_whitespace_and_zero_width_characters() {
        assert_eq!(UserRef::parse("user", " bob@contoso.com\u{a0}").unwrap(), UserRef::Upn("bob@contoso.com".into()));
        assert_eq!(
            UserRef::parse("user", "\u{200b}\u{feff}bob@contoso.com\u{2060}\t").unwrap(),
            UserRef::Upn("bob@contoso.com".into())
        );
        assert_eq!(
            UserRef::parse("user", "\u{3000}29F270BB-4D23-4F68-8A57-DC73DC0D4CAF\u{200d}").unwrap(),
            UserRef::ObjectId("29f270bb-4d23-4f68-8a57-dc73dc0d4caf".into())
        );
        for bad in ["bob\u{200b}@contoso.com", "bob\u{a0}x@contoso.com", "\u{200b}\u{a0}"] {
            assert!(UserRef::parse("user", bad).is_err(), "{bad:?}");
        }
        assert!(same_name("BreakGlass@Contoso.com", "breakglass@contoso.com"));
        assert!(!same_name("breakglass@contoso.com", "breakglass@contoso.co"));
    }

    #[test]
    fn check_member_groups_sends_at_most_twenty_ids_a_request() {
        let settings = crate::core::config::tests::settings();
        let ids: Vec<String> = (0..45).map(|n| format!("00000000-0000-4000-8000-{n:012}")).collect();
        let requests = check_member_groups(&settings, "u", &ids);
        let sizes: Vec<usize> = requests
            .iter()
            .map(|(_, body)| {
                serde_json::from_slice::<serde_json::Value>(body).unwrap()["groupIds"].as_array().unwrap().len()
            })
            .collect();
        assert_eq!(sizes, [20, 20, 5]);
        assert!(requests.iter().all(|(url, _)| url.path() == "/v1.0/users/u/checkMemberGroups"));
        assert_eq!(check_member_groups(&settings, "u", &ids[..20]).len(), 1);
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
