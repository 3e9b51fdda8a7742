//! Entra ID containment and its guardrails: the protected-accounts list, the
//! exact request an action sends (which a dry run returns instead of sending),
//! the compensating action that undoes it, and the Graph permission it needs.

use serde_json::json;

use super::{url, PlannedRequest};
use super::users::{GraphUser, UserRef};
use crate::core::config::{shown, validate_guid, Settings};
use crate::core::error::Error;
use crate::core::http::Method;

/// Accounts no containment action may touch: break-glass and admin accounts.
/// Groups are named by object id or exact display name; their members
/// (transitive) are resolved at call time, so a new admin is protected at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtectedAccounts {
    pub user_ids: Vec<String>,
    pub user_principal_names: Vec<String>,
    pub groups: Vec<String>,
}

impl ProtectedAccounts {
    pub fn validate(&self) -> Result<(), Error> {
        for id in &self.user_ids {
            validate_guid("protected-accounts.user-ids", id)?;
        }
        for upn in &self.user_principal_names {
            if !matches!(UserRef::parse("protected-accounts.user-principal-names", upn)?, UserRef::Upn(_)) {
                return Err(Error::invalid("protected-accounts.user-principal-names", format!("'{}' is an object id: list it under user-ids", shown(upn))));
            }
        }
        if let Some(group) = self.groups.iter().find(|g| g.trim().is_empty() || g.len() > 256) {
            return Err(Error::invalid("protected-accounts.groups", format!("'{}' is not a group object id or display name", shown(group))));
        }
        Ok(())
    }

    /// Why the user, as named or as resolved, is protected by id or UPN.
    pub fn listed(&self, user: &str) -> Option<String> {
        if self.user_ids.iter().any(|id| id.eq_ignore_ascii_case(user)) {
            return Some("its object id is in protected-accounts.user-ids".into());
        }
        if self.user_principal_names.iter().any(|upn| upn.eq_ignore_ascii_case(user)) {
            return Some("its user principal name is in protected-accounts.user-principal-names".into());
        }
        None
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

    pub fn validate(&self) -> Result<(), Error> {
        match self {
            ContainmentAction::AddToGroup(group) | ContainmentAction::RemoveFromGroup(group) => validate_guid("group-id", group),
            _ => Ok(()),
        }
    }
}

/// The request that performs `action` on the resolved user.
pub fn plan(settings: &Settings, user: &GraphUser, action: &ContainmentAction) -> PlannedRequest {
    let user_id = user.id.as_str();
    let (method, url, body) = match action {
        ContainmentAction::DisableAccount => (Method::Patch, url(settings, &["users", user_id]), Some(json!({"accountEnabled": false}))),
        ContainmentAction::EnableAccount => (Method::Patch, url(settings, &["users", user_id]), Some(json!({"accountEnabled": true}))),
        ContainmentAction::RevokeSessions => (Method::Post, url(settings, &["users", user_id, "revokeSignInSessions"]), None),
        ContainmentAction::ConfirmCompromised => {
            (Method::Post, url(settings, &["identityProtection", "riskyUsers", "confirmCompromised"]), Some(json!({"userIds": [user_id]})))
        }
        ContainmentAction::DismissRisk => (Method::Post, url(settings, &["identityProtection", "riskyUsers", "dismiss"]), Some(json!({"userIds": [user_id]}))),
        ContainmentAction::AddToGroup(group) => {
            let member = url(settings, &["directoryObjects", user_id]);
            (Method::Post, url(settings, &["groups", group, "members", "$ref"]), Some(json!({"@odata.id": member.as_str()})))
        }
        ContainmentAction::RemoveFromGroup(group) => (Method::Delete, url(settings, &["groups", group, "members", user_id, "$ref"]), None),
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!((disable.method, disable.url.path()), (Method::Patch, "/v1.0/users/29f270bb-4d23-4f68-8a57-dc73dc0d4caf"));
        assert_eq!(disable.body.as_deref(), Some(r#"{"accountEnabled":false}"#));
        let confirm = plan(&settings, &user(), &ContainmentAction::ConfirmCompromised);
        assert_eq!(confirm.url.path(), "/v1.0/identityProtection/riskyUsers/confirmCompromised");
        let example: serde_json::Value = serde_json::from_slice(&std::fs::read(format!("{FIXTURES}/riskyuser-confirmcompromised.request.json")).unwrap()).unwrap();
        let ours: serde_json::Value = serde_json::from_str(confirm.body.as_deref().unwrap()).unwrap();
        assert_eq!(ours.as_object().unwrap().keys().collect::<Vec<_>>(), example.as_object().unwrap().keys().collect::<Vec<_>>());
        let group = "0d0e0f10-1112-4314-9516-171819202122".to_owned();
        let add = plan(&settings, &user(), &ContainmentAction::AddToGroup(group.clone()));
        assert_eq!(add.url.path(), format!("/v1.0/groups/{group}/members/$ref"));
        assert!(add.body.unwrap().contains("/v1.0/directoryObjects/29f270bb"));
        let remove = plan(&settings, &user(), &ContainmentAction::RemoveFromGroup(group.clone()));
        assert_eq!((remove.method, remove.body), (Method::Delete, None));
        assert!(!plan(&settings, &user(), &ContainmentAction::RevokeSessions).headers.iter().any(|(k, _)| k == "content-type"));
    }

    #[test]
    fn every_undoable_action_names_its_compensation() {
        assert_eq!(ContainmentAction::DisableAccount.compensation(), Some(ContainmentAction::EnableAccount));
        let group = "g".to_owned();
        assert_eq!(ContainmentAction::AddToGroup(group.clone()).compensation(), Some(ContainmentAction::RemoveFromGroup(group)));
        assert_eq!(ContainmentAction::RevokeSessions.compensation(), None);
    }

    #[test]
    fn protection_matches_id_or_upn_case_insensitively() {
        let protected = ProtectedAccounts { user_principal_names: vec!["alice@CONTOSO.com".into()], ..Default::default() };
        let Err(Error::Protected { user: shown, reason }) = refuse_if_listed(&protected, &user()) else { panic!("not refused") };
        assert_eq!(shown, "Alice@contoso.com");
        assert!(reason.contains("user-principal-names"));
        assert!(refuse_if_listed(&ProtectedAccounts::default(), &user()).is_ok());
        let by_id = ProtectedAccounts { user_ids: vec!["29F270BB-4D23-4F68-8A57-DC73DC0D4CAF".into()], ..Default::default() };
        assert!(refuse_if_listed(&by_id, &user()).is_err());
    }

    #[test]
    fn a_bad_protected_list_is_refused_naming_the_field() {
        let bad_id = ProtectedAccounts { user_ids: vec!["alice".into()], ..Default::default() };
        assert!(matches!(bad_id.validate(), Err(Error::InvalidInput { ref field, .. }) if field == "protected-accounts.user-ids"));
        let id_as_upn = ProtectedAccounts { user_principal_names: vec!["29f270bb-4d23-4f68-8a57-dc73dc0d4caf".into()], ..Default::default() };
        assert!(matches!(id_as_upn.validate(), Err(Error::InvalidInput { ref field, .. }) if field == "protected-accounts.user-principal-names"));
    }
}
