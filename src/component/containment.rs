//! The `containment` interface: Entra ID user containment with guardrails.

use super::exports::soar::sentinel::containment::{self as cwit, Guest};
use super::exports::soar::sentinel::sentinel_connector::ConnectionBorrow;
use super::exports::soar::sentinel::types as wit;
use super::graph_security::resource;
use super::types::planned;
use super::Component;
use crate::core::graph::containment::{account_target, ContainmentAction, ContainmentResult};
use crate::core::graph::users::{self as gusers, GraphUser, RiskyUser};

open_enum_to_wit!(gusers::RiskLevel => cwit::RiskLevel { None, Low, Medium, High, Hidden });
open_enum_to_wit!(gusers::RiskState => cwit::RiskState { None, ConfirmedSafe, Remediated, Dismissed, AtRisk, ConfirmedCompromised });

impl Guest for Component {
    fn get_user(connection: ConnectionBorrow<'_>, user: String) -> Result<cwit::User, wit::ConnectorError> {
        resource(&connection).with_client(|client, http| client.graph().get_user(http, &user)).map(user_record)
    }

    fn list_risky_users(
        connection: ConnectionBorrow<'_>,
        filter: Option<String>,
    ) -> Result<Vec<cwit::RiskyUser>, wit::ConnectorError> {
        let users = resource(&connection)
            .with_client(|client, http| client.graph().list_risky_users(http, filter.as_deref()))?;
        Ok(users.into_iter().map(risky_user).collect())
    }

    fn contain(
        connection: ConnectionBorrow<'_>,
        user: String,
        action: cwit::Action,
        dry_run: bool,
    ) -> Result<cwit::Outcome, wit::ConnectorError> {
        let action = core_action(action);
        resource(&connection)
            .with_client(|client, http| client.graph().contain(http, &user, &action, dry_run))
            .map(outcome)
    }

    fn contain_account(
        connection: ConnectionBorrow<'_>,
        account: wit::NormalizedEntity,
        action: cwit::Action,
        dry_run: bool,
    ) -> Result<cwit::Outcome, wit::ConnectorError> {
        let is_account = matches!(account.kind, wit::EntityKind::Account);
        let user = account_target(is_account, account.object_id.as_deref(), &account.identifier)
            .map_err(wit::ConnectorError::from)?;
        Self::contain(connection, user, action, dry_run)
    }
}

fn core_action(action: cwit::Action) -> ContainmentAction {
    match action {
        cwit::Action::DisableAccount => ContainmentAction::DisableAccount,
        cwit::Action::EnableAccount => ContainmentAction::EnableAccount,
        cwit::Action::RevokeSessions => ContainmentAction::RevokeSessions,
        cwit::Action::ConfirmCompromised => ContainmentAction::ConfirmCompromised,
        cwit::Action::DismissRisk => ContainmentAction::DismissRisk,
        cwit::Action::AddToGroup(group) => ContainmentAction::AddToGroup(group),
        cwit::Action::RemoveFromGroup(group) => ContainmentAction::RemoveFromGroup(group),
    }
}

fn wit_action(action: ContainmentAction) -> cwit::Action {
    match action {
        ContainmentAction::DisableAccount => cwit::Action::DisableAccount,
        ContainmentAction::EnableAccount => cwit::Action::EnableAccount,
        ContainmentAction::RevokeSessions => cwit::Action::RevokeSessions,
        ContainmentAction::ConfirmCompromised => cwit::Action::ConfirmCompromised,
        ContainmentAction::DismissRisk => cwit::Action::DismissRisk,
        ContainmentAction::AddToGroup(group) => cwit::Action::AddToGroup(group),
        ContainmentAction::RemoveFromGroup(group) => cwit::Action::RemoveFromGroup(group),
    }
}

fn user_record(u: GraphUser) -> cwit::User {
    cwit::User {
        id: u.id,
        user_principal_name: u.user_principal_name,
        display_name: u.display_name,
        mail: u.mail,
        account_enabled: u.account_enabled,
        user_type: u.user_type,
        job_title: u.job_title,
    }
}

fn risky_user(u: RiskyUser) -> cwit::RiskyUser {
    cwit::RiskyUser {
        id: u.id,
        user_principal_name: u.user_principal_name,
        user_display_name: u.user_display_name,
        risk_level: u.risk_level.map(Into::into),
        risk_state: u.risk_state.map(Into::into),
        risk_detail: u.risk_detail,
        risk_last_updated_time: u.risk_last_updated_date_time,
        is_deleted: u.is_deleted,
        is_processing: u.is_processing,
    }
}

fn outcome(result: ContainmentResult) -> cwit::Outcome {
    cwit::Outcome {
        action: wit_action(result.action),
        user: user_record(result.user),
        dry_run: result.dry_run,
        request: planned(result.request),
        compensation: result.compensation.map(wit_action),
        status: result.status,
        already_done: result.already_done,
    }
}
