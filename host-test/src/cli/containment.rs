//! Verbs over Entra ID containment (`users`, `groups`), as the WIT's
//! `containment` interface has them: every change has `--dry-run`, and a
//! protected account is refused (exit code 5).

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::graph::{items, request_json};
use super::output::{self, Format};
use super::{print, Failure};
use crate::runtime::containment::{Action, Outcome, RiskyUser, User};
use crate::runtime::Session;

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Show a user (object id or UPN).
    Get { user: String },
    /// Disable the account (undo: enable).
    Disable(ContainArgs),
    /// Enable the account (undo: disable).
    Enable(ContainArgs),
    /// Revoke refresh tokens and session cookies (cannot be undone).
    RevokeSessions(ContainArgs),
    /// Mark the user compromised: risk high (undo: dismiss-risk).
    ConfirmCompromised(ContainArgs),
    /// Dismiss the user's risk: risk none.
    DismissRisk(ContainArgs),
    /// List risky users.
    Risky {
        /// OData filter, e.g. "riskLevel eq 'high'".
        #[arg(long)]
        filter: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum GroupsCommand {
    /// Add a user to a group (undo: remove-member).
    AddMember(GroupArgs),
    /// Remove a user from a group (undo: add-member).
    RemoveMember(GroupArgs),
}

#[derive(Args, Debug)]
pub struct ContainArgs {
    /// Object id or user principal name.
    user: String,
    /// Resolve the user and apply the guardrails, print the request, send no change.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
pub struct GroupArgs {
    /// The group's object id.
    group: String,
    /// Object id or user principal name.
    user: String,
    #[arg(long)]
    dry_run: bool,
}

pub async fn users(session: &mut Session, command: UsersCommand, format: Format) -> Result<(), Failure> {
    let (args, action) = match command {
        UsersCommand::Get { user } => {
            print(output::to_json(&user_json(&session.graph().get_user(&user).await?)));
            return Ok(());
        }
        UsersCommand::Risky { filter } => {
            let users = session.graph().list_risky_users(filter.as_deref()).await?;
            let rows = users.iter().map(risky_json).collect();
            print(items(format, rows, &["id", "userPrincipalName", "riskLevel", "riskState", "riskDetail"]));
            return Ok(());
        }
        UsersCommand::Disable(args) => (args, Action::DisableAccount),
        UsersCommand::Enable(args) => (args, Action::EnableAccount),
        UsersCommand::RevokeSessions(args) => (args, Action::RevokeSessions),
        UsersCommand::ConfirmCompromised(args) => (args, Action::ConfirmCompromised),
        UsersCommand::DismissRisk(args) => (args, Action::DismissRisk),
    };
    contain(session, &args.user, action, args.dry_run).await
}

pub async fn groups(session: &mut Session, command: GroupsCommand) -> Result<(), Failure> {
    let (args, action) = match command {
        GroupsCommand::AddMember(args) => {
            let group = args.group.clone();
            (args, Action::AddToGroup(group))
        }
        GroupsCommand::RemoveMember(args) => {
            let group = args.group.clone();
            (args, Action::RemoveFromGroup(group))
        }
    };
    contain(session, &args.user, action, args.dry_run).await
}

async fn contain(session: &mut Session, user: &str, action: Action, dry_run: bool) -> Result<(), Failure> {
    let outcome = session.graph().contain(user, action, dry_run).await?;
    print(output::to_json(&outcome_json(&outcome)));
    if outcome.dry_run {
        eprintln!("dry run: nothing was changed; the request above was not sent");
    }
    Ok(())
}

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "mail": user.mail,
        "accountEnabled": user.account_enabled,
        "userType": user.user_type,
        "jobTitle": user.job_title,
    })
}

fn risky_json(user: &RiskyUser) -> Value {
    use crate::runtime::containment::{RiskLevel as L, RiskState as S};
    let level = user.risk_level.as_ref().map(|l| match l {
        L::None => "none",
        L::Low => "low",
        L::Medium => "medium",
        L::High => "high",
        L::Hidden => "hidden",
        L::Other(t) => t,
    });
    let state = user.risk_state.as_ref().map(|s| match s {
        S::None => "none",
        S::ConfirmedSafe => "confirmedSafe",
        S::Remediated => "remediated",
        S::Dismissed => "dismissed",
        S::AtRisk => "atRisk",
        S::ConfirmedCompromised => "confirmedCompromised",
        S::Other(t) => t,
    });
    json!({
        "id": user.id,
        "userPrincipalName": user.user_principal_name,
        "userDisplayName": user.user_display_name,
        "riskLevel": level,
        "riskState": state,
        "riskDetail": user.risk_detail,
        "riskLastUpdatedDateTime": user.risk_last_updated_time,
    })
}

pub fn action_json(action: &Action) -> Value {
    match action {
        Action::DisableAccount => json!({"action": "disable-account"}),
        Action::EnableAccount => json!({"action": "enable-account"}),
        Action::RevokeSessions => json!({"action": "revoke-sessions"}),
        Action::ConfirmCompromised => json!({"action": "confirm-compromised"}),
        Action::DismissRisk => json!({"action": "dismiss-risk"}),
        Action::AddToGroup(group) => json!({"action": "add-to-group", "group": group}),
        Action::RemoveFromGroup(group) => json!({"action": "remove-from-group", "group": group}),
    }
}

fn outcome_json(outcome: &Outcome) -> Value {
    json!({
        "action": action_json(&outcome.action),
        "user": user_json(&outcome.user),
        "dry_run": outcome.dry_run,
        "request": request_json(&outcome.request),
        "status": outcome.status,
        "already_done": outcome.already_done,
        "compensation": outcome.compensation.as_ref().map(action_json),
    })
}
