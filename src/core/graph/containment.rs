//! Entra ID containment and its guardrails: the protected-accounts list, the
//! exact request an action sends (which a dry run returns instead of sending),
//! the compensating action that undoes it, and the Graph permission it needs.

use serde_json::json;

use super::users::{same_name, trimmed, GraphUser, UserRef};
use super::{url, PlannedRequest};
use crate::core::config::{shown, validate_guid, Settings};
use crate::core::error::Error;
use crate::core::http::Method;
use crate::core::sentinel::entities::is_upn;

const USER_IDS: &str = "protected-accounts.user-ids";
const USER_PRINCIPAL_NAMES: &str = "protected-accounts.user-principal-names";
const GROUPS: &str = "protected-accounts.groups";

/// Accounts no containment action may touch: break-glass and admin accounts.
/// Groups are named by object id or exact display name; their members
/// (transitive) are resolved at call time, so a new admin is protected at once,
/// and their own membership is off-limits (no member is added or removed).
/// Read from a configuration file's `[protected_accounts]` table as it is
/// (each list optional, unknown keys refused).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtectedAccounts {
    pub user_ids: Vec<String>,
    pub user_principal_names: Vec<String>,
    pub groups: Vec<String>,
}

impl ProtectedAccounts {
    /// The list as every check compares it, or the first bad entry. Each
    /// entry is [`trimmed`] of Unicode whitespace and zero-width characters
    /// (a UPN pasted as `" breakglass@contoso.com\u{a0}"` protects
    /// `breakglass@contoso.com`), object ids are put in lower case; UPNs and
    /// group names keep their case and are compared without regard to it.
    pub fn normalized(&self) -> Result<ProtectedAccounts, Error> {
        let mut normalized = ProtectedAccounts::default();
        for id in &self.user_ids {
            let id = trimmed(id);
            validate_guid(USER_IDS, id)?;
            normalized.user_ids.push(id.to_ascii_lowercase());
        }
        for upn in &self.user_principal_names {
            match UserRef::parse(USER_PRINCIPAL_NAMES, upn)? {
                UserRef::Upn(upn) => normalized.user_principal_names.push(upn),
                UserRef::ObjectId(id) => {
                    return Err(Error::invalid(
                        USER_PRINCIPAL_NAMES,
                        format!("'{id}' is an object id: list it under user-ids"),
                    ))
                }
            }
        }
        for group in &self.groups {
            let group = trimmed(group);
            if group.is_empty() || group.chars().count() > 256 || group.chars().any(char::is_control) {
                return Err(Error::invalid(
                    GROUPS,
                    format!("'{}' is not a group object id or display name", shown(group)),
                ));
            }
            normalized.groups.push(if validate_guid(GROUPS, group).is_ok() {
                group.to_ascii_lowercase()
            } else {
                group.to_owned()
            });
        }
        Ok(normalized)
    }

    pub fn validate(&self) -> Result<(), Error> {
        self.normalized().map(drop)
    }

    /// Why the user, as named or as resolved, is protected by id or UPN.
    /// The list is [`ProtectedAccounts::normalized`]; `user` is trimmed here.
    pub fn listed(&self, user: &str) -> Option<String> {
        let user = trimmed(user);
        if self.user_ids.iter().any(|id| id.eq_ignore_ascii_case(user)) {
            return Some("its object id is in protected-accounts.user-ids".into());
        }
        if self.user_principal_names.iter().any(|upn| same_name(upn, user)) {
            return Some("its user principal name is in protected-accounts.user-principal-names".into());
        }
        None
    }

    /// Whether the group is listed by its object id (names need a lookup).
    pub fn lists_group_id(&self, group_id: &str) -> bool {
        let group_id = trimmed(group_id);
        self.groups.iter().any(|g| g.eq_ignore_ascii_case(group_id))
    }

    pub fn has_groups(&self) -> bool {
        !self.groups.is_empty()
    }
}

/// What a containment action does to one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainmentAction {
    DisableAccount,
    EnableAccount,
    RevokeSessions,
    ConfirmCompromised,
    DismissRisk,
    /// Adds the user to the group (object id), e.g. a conditional-access quarantine group.
    AddToGroup(String),
    RemoveFromGroup(String),
}

impl ContainmentAction {
    /// Its entry in the permission manifest ([`crate::core::check::PERMISSIONS`]).
    pub fn manifest_key(&self) -> &'static str {
        match self {
            ContainmentAction::DisableAccount => "containment.disable-account",
            ContainmentAction::EnableAccount => "containment.enable-account",
            ContainmentAction::RevokeSessions => "containment.revoke-sessions",
            ContainmentAction::ConfirmCompromised => "containment.confirm-compromised",
            ContainmentAction::DismissRisk => "containment.dismiss-risk",
            ContainmentAction::AddToGroup(_) => "containment.add-to-group",
            ContainmentAction::RemoveFromGroup(_) => "containment.remove-from-group",
        }
    }

    /// The action that undoes this one, if any can: sessions once revoked
    /// stay revoked, and a dismissed risk cannot be restored to its level.
    pub fn compensation(&self) -> Option<ContainmentAction> {
        match self {
            ContainmentAction::DisableAccount => Some(ContainmentAction::EnableAccount),
            ContainmentAction::EnableAccount => Some(ContainmentAction::DisableAccount),
            ContainmentAction::ConfirmCompromised => Some(ContainmentAction::DismissRisk),
            ContainmentAction::AddToGroup(group) => Some(ContainmentAction::RemoveFromGroup(group.clone())),
            ContainmentAction::RemoveFromGroup(group) => Some(ContainmentAction::AddToGroup(group.clone())),
            ContainmentAction::RevokeSessions | ContainmentAction::DismissRisk => None,
        }
    }

    /// The group whose membership the action changes, if any.
    pub fn group(&self) -> Option<&str> {
        match self {
            ContainmentAction::AddToGroup(group) | ContainmentAction::RemoveFromGroup(group) => Some(group),
            _ => None,
        }
    }

    /// The action with its group id [`trimmed`] and in lower case, or the
    /// refusal of an id that is not a GUID.
    pub fn normalized(&self) -> Result<ContainmentAction, Error> {
        let group_id = |group: &str| {
            let group = trimmed(group);
            validate_guid("group-id", group).map(|()| group.to_ascii_lowercase())
        };
        Ok(match self {
            ContainmentAction::AddToGroup(group) => ContainmentAction::AddToGroup(group_id(group)?),
            ContainmentAction::RemoveFromGroup(group) => ContainmentAction::RemoveFromGroup(group_id(group)?),
            other => other.clone(),
        })
    }

    pub fn validate(&self) -> Result<(), Error> {
        self.normalized().map(drop)
    }
}

/// The request that performs `action` on the resolved user.
pub fn plan(settings: &Settings, user: &GraphUser, action: &ContainmentAction) -> PlannedRequest {
    let user_id = user.id.as_str();
    let (method, url, body) = match action {
        ContainmentAction::DisableAccount => {
            (Method::Patch, url(settings, &["users", user_id]), Some(json!({"accountEnabled": false})))
        }
        ContainmentAction::EnableAccount => {
            (Method::Patch, url(settings, &["users", user_id]), Some(json!({"accountEnabled": true})))
        }
        ContainmentAction::RevokeSessions => {
            (Method::Post, url(settings, &["users", user_id, "revokeSignInSessions"]), None)
        }
        ContainmentAction::ConfirmCompromised => (
            Method::Post,
            url(settings, &["identityProtection", "riskyUsers", "confirmCompromised"]),
            Some(json!({"userIds": [user_id]})),
        ),
        ContainmentAction::DismissRisk => (
            Method::Post,
            url(settings, &["identityProtection", "riskyUsers", "dismiss"]),
            Some(json!({"userIds": [user_id]})),
        ),
        ContainmentAction::AddToGroup(group) => {
            let member = url(settings, &["directoryObjects", user_id]);
            (
                Method::Post,
                url(settings, &["groups", group, "members", "$ref"]),
                Some(json!({"@odata.id": member.as_str()})),
            )
        }
        ContainmentAction::RemoveFromGroup(group) => {
            (Method::Delete, url(settings, &["groups", group, "members", user_id, "$ref"]), None)
        }
    };
    PlannedRequest::new(method, url, body.map(|b| b.to_string()))
}

/// The user's own identifiers checked against the list; `Err` is the refusal.
pub fn refuse_if_listed(protected: &ProtectedAccounts, user: &GraphUser) -> Result<(), Error> {
    let names = std::iter::once(user.id.as_str()).chain(user.user_principal_name.as_deref());
    match names.into_iter().find_map(|name| protected.listed(name)) {
        Some(reason) => Err(protected_error(&shown_user(user), &reason)),
        None => Ok(()),
    }
}

pub fn protected_error(user: &str, reason: &str) -> Error {
    Error::Protected { user: user.to_owned(), reason: reason.to_owned() }
}

/// The refusal of an action whose target is a protected group: the group is
/// what adding or removing a member changes, so it is the one named.
pub fn protected_group_error(group: &str) -> Error {
    let reason =
        "it is listed in protected-accounts.groups, and a protected group's membership is off-limits either way: \
        no member, protected or not, is added to it or removed from it";
    protected_error(&format!("group '{group}'"), reason)
}

/// The refusal when a protected group hides its membership and the token
/// lacks `permission` (Member.Read.Hidden): `checkMemberGroups` may leave
/// such a group out of its answer, so "not a member" cannot be told from
/// "left out", and the guardrail fails closed.
pub fn hidden_membership_error(user: &str, group: &str, permission: &str) -> Error {
    let reason = format!(
        "the membership of the protected group '{group}' is hidden (visibility HiddenMembership) and the app's token lacks \
         the Microsoft Graph application permission {permission}, so Graph may leave that group out of checkMemberGroups and a member \
         would pass for a non-member; grant {permission} (with admin consent) to allow the check"
    );
    protected_error(user, &reason)
}

pub fn shown_user(user: &GraphUser) -> String {
    user.user_principal_name.clone().unwrap_or_else(|| user.id.clone())
}

/// What one containment call did (or, in a dry run, would do).
#[derive(Clone, Debug, PartialEq)]
pub struct ContainmentResult {
    pub action: ContainmentAction,
    pub user: GraphUser,
    pub dry_run: bool,
    pub request: PlannedRequest,
    /// Run this on the same user to undo the action.
    pub compensation: Option<ContainmentAction>,
    /// The HTTP status Graph answered; none in a dry run.
    pub status: Option<u16>,
    /// The user was already in that state (already a member): nothing changed.
    pub already_done: bool,
}

/// The user containment acts on for an account entity (a normalized
/// entity's kind, object id and identifier): its Entra object id, else its
/// UPN. A bare name is refused, never guessed: since July 2026 Sentinel's
/// account name is only the UPN's prefix, and `jdoe` may be
/// `jdoe@contoso.com` or someone in another domain.
pub fn account_target(is_account: bool, object_id: Option<&str>, identifier: &str) -> Result<String, Error> {
    if !is_account {
        return Err(Error::invalid("account", "is not an account entity"));
    }
    if let Some(id) = object_id.map(trimmed).filter(|id| !id.is_empty()) {
        return Ok(id.to_owned());
    }
    if is_upn(identifier) {
        return Ok(identifier.to_owned());
    }
    Err(Error::invalid(
        "account",
        format!(
            "has no Entra object id and no UPN, only '{}': a name alone is ambiguous; \
             give contain the user's object id or UPN",
            shown(identifier)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_contained_by_object_id_then_upn_and_a_bare_name_is_refused() {
        let id = "5e1b0c55-7dc8-4b55-9c2b-0b3a2a8d6f11";
        assert_eq!(account_target(true, Some(id), "jdoe@contoso.com").unwrap(), id);
        assert_eq!(account_target(true, Some(" "), "jdoe@contoso.com").unwrap(), "jdoe@contoso.com");
        assert_eq!(account_target(true, None, "jdoe@contoso.com").unwrap(), "jdoe@contoso.com");
        for (is_account, identifier, reason) in [
            (true, "jdoe", "a name alone is ambiguous"),
            (true, "CONTOSO\\jdoe", "a name alone is ambiguous"),
            (true, "S-1-5-21-1", "a name alone is ambiguous"),
            (false, "vm1.contoso.com", "is not an account entity"),
        ] {
            match account_target(is_account, None, identifier) {
                Err(Error::InvalidInput { field, reason: text }) => {
                    assert_eq!(field, "account");
                    assert!(text.contains(reason), "{text}");
                }
                other => panic!("{identifier}: {other:?}"),
            }
        }
    }

    fn user() -> GraphUser {
        GraphUser {
            id: "29f270bb-4d23-4f68-8a57-dc73dc0d4caf".into(),
            user_principal_name: Some("Alice@contoso.com".into()),
            display_name: None,
            mail: None,
            account_enabled: Some(true),
            user_type: None,
            job_title: None,
        }
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/azure-specs/graph");

    #[test]
    fn plans_match_graphs_documented_requests() {
        let settings = crate::core::config::tests::settings();
        let disable = plan(&settings, &user(), &ContainmentAction::DisableAccount);
        assert_eq!(
            (disable.method, disable.url.path()),
            (Method::Patch, "/v1.0/users/29f270bb-4d23-4f68-8a57-dc73dc0d4caf")
        );
        assert_eq!(disable.body.as_deref(), Some(r#"{"accountEnabled":false}"#));
        let confirm = plan(&settings, &user(), &ContainmentAction::ConfirmCompromised);
        assert_eq!(confirm.url.path(), "/v1.0/identityProtection/riskyUsers/confirmCompromised");
        let example: serde_json::Value = serde_json::from_slice(
            &std::fs::read(format!("{FIXTURES}/riskyuser-confirmcompromised.request.json")).unwrap(),
        )
        .unwrap();
        let ours: serde_json::Value = serde_json::from_str(confirm.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            ours.as_object().unwrap().keys().collect::<Vec<_>>(),
            example.as_object().unwrap().keys().collect::<Vec<_>>()
        );
        let group = "0d0e0f10-1112-4314-9516-171819202122".to_owned();
        let add = plan(&settings, &user(), &ContainmentAction::AddToGroup(group.clone()));
        assert_eq!(add.url.path(), format!("/v1.0/groups/{group}/members/$ref"));
        assert!(add.body.unwrap().contains("/v1.0/directoryObjects/29f270bb"));
        let remove = plan(&settings, &user(), &ContainmentAction::RemoveFromGroup(group.clone()));
        assert_eq!((remove.method, remove.body), (Method::Delete, None));
        assert!(!plan(&settings, &user(), &ContainmentAction::RevokeSessions)
            .headers
            .iter()
            .any(|(k, _)| k == "content-type"));
    }

    #[test]
    fn every_undoable_action_names_its_compensation() {
        assert_eq!(ContainmentAction::DisableAccount.compensation(), Some(ContainmentAction::EnableAccount));
        let group = "g".to_owned();
        assert_eq!(
            ContainmentAction::AddToGroup(group.clone()).compensation(),
            Some(ContainmentAction::RemoveFromGroup(group))
        );
        assert_eq!(ContainmentAction::RevokeSessions.compensation(), None);
    }

    #[test]
    fn protection_matches_id_or_upn_case_insensitively() {
        let protected =
            ProtectedAccounts { user_principal_names: vec!["alice@CONTOSO.com".into()], ..Default::default() };
        let Err(Error::Protected { user: shown, reason }) = refuse_if_listed(&protected, &user()) else {
            panic!("not refused")
        };
        assert_eq!(shown, "Alice@contoso.com");
        assert!(reason.contains("user-principal-names"));
        assert!(refuse_if_listed(&ProtectedAccounts::default(), &user()).is_ok());
        let by_id =
            ProtectedAccounts { user_ids: vec!["29F270BB-4D23-4F68-8A57-DC73DC0D4CAF".into()], ..Default::default() };
        assert!(refuse_if_listed(&by_id, &user()).is_err());
    }

    #[test]
    fn protected_entries_are_normalized_once_and_still_match() {
        let written = ProtectedAccounts {
            user_ids: vec!["\u{200b}29F270BB-4D23-4F68-8A57-DC73DC0D4CAF\t".into()],
            user_principal_names: vec![
                " breakglass@contoso.com\u{a0}".into(),
                "\u{feff}Admin@Contoso.com\u{2060}".into(),
            ],
            groups: vec!["  Break Glass Admins\u{a0}".into(), "\u{200b}0D0E0F10-1112-4314-9516-171819202122 ".into()],
        };
        let normalized = written.normalized().unwrap();
        assert_eq!(normalized.user_ids, ["29f270bb-4d23-4f68-8a57-dc73dc0d4caf"]);
        assert_eq!(normalized.user_principal_names, ["breakglass@contoso.com", "Admin@Contoso.com"]);
        assert_eq!(normalized.groups, ["Break Glass Admins", "0d0e0f10-1112-4314-9516-171819202122"]);
        assert!(written.validate().is_ok(), "accepted, and normalized");
        for user in ["breakglass@contoso.com", "BREAKGLASS@Contoso.com\u{200b}", "\u{a0}admin@contoso.com"] {
            assert!(normalized.listed(user).is_some(), "{user:?}");
        }
        let breakglass = GraphUser {
            user_principal_name: Some("BreakGlass@contoso.com".into()),
            id: "c0ffee00-0000-4000-8000-000000000000".into(),
            ..user()
        };
        assert!(refuse_if_listed(&normalized, &breakglass).is_err());
        assert!(normalized.lists_group_id(" 0d0e0f10-1112-4314-9516-171819202122\u{a0}"));
        assert!(!normalized.lists_group_id("Break Glass Admins-x"));
        let blank = ProtectedAccounts { groups: vec!["\u{a0}\u{200b}".into()], ..Default::default() };
        assert!(
            matches!(blank.validate(), Err(Error::InvalidInput { ref field, .. }) if field == "protected-accounts.groups")
        );
    }

    #[test]
    fn a_group_id_given_with_stray_whitespace_is_normalized() {
        let action = ContainmentAction::AddToGroup("\u{a0}0D0E0F10-1112-4314-9516-171819202122\u{200b}".into());
        assert_eq!(
            action.normalized().unwrap(),
            ContainmentAction::AddToGroup("0d0e0f10-1112-4314-9516-171819202122".into())
        );
        assert_eq!(ContainmentAction::RevokeSessions.group(), None);
        assert!(ContainmentAction::RemoveFromGroup("x".into()).validate().is_err());
    }

    #[test]
    fn a_bad_protected_list_is_refused_naming_the_field() {
        let bad_id = ProtectedAccounts { user_ids: vec!["alice".into()], ..Default::default() };
        assert!(
            matches!(bad_id.validate(), Err(Error::InvalidInput { ref field, .. }) if field == "protected-accounts.user-ids")
        );
        let id_as_upn = ProtectedAccounts {
            user_principal_names: vec!["29f270bb-4d23-4f68-8a57-dc73dc0d4caf".into()],
            ..Default::default()
        };
        assert!(
            matches!(id_as_upn.validate(), Err(Error::InvalidInput { ref field, .. }) if field == "protected-accounts.user-principal-names")
        );
    }
}
