//! Verbs that change Sentinel: update, create and delete incidents; comments.

use clap::{Args, Subcommand, ValueEnum};

use super::output::{self, Format};
use super::values::azure;
use super::{exit, print, Failure};
use crate::runtime::types::{self, Classification, ClassificationReason, IncidentStatus, OwnerChange, Severity};
use crate::runtime::Session;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SeverityArg {
    High,
    Medium,
    Low,
    Informational,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StatusArg {
    New,
    Active,
    Closed,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ClassificationArg {
    Undetermined,
    TruePositive,
    BenignPositive,
    FalsePositive,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReasonArg {
    SuspiciousActivity,
    SuspiciousButExpected,
    IncorrectAlertLogic,
    InaccurateData,
}

impl From<SeverityArg> for Severity {
    fn from(value: SeverityArg) -> Self {
        match value {
            SeverityArg::High => Severity::High,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::Low => Severity::Low,
            SeverityArg::Informational => Severity::Informational,
        }
    }
}

impl From<StatusArg> for IncidentStatus {
    fn from(value: StatusArg) -> Self {
        match value {
            StatusArg::New => IncidentStatus::New,
            StatusArg::Active => IncidentStatus::Active,
            StatusArg::Closed => IncidentStatus::Closed,
        }
    }
}

impl From<ClassificationArg> for Classification {
    fn from(value: ClassificationArg) -> Self {
        match value {
            ClassificationArg::Undetermined => Classification::Undetermined,
            ClassificationArg::TruePositive => Classification::TruePositive,
            ClassificationArg::BenignPositive => Classification::BenignPositive,
            ClassificationArg::FalsePositive => Classification::FalsePositive,
        }
    }
}

impl From<ReasonArg> for ClassificationReason {
    fn from(value: ReasonArg) -> Self {
        match value {
            ReasonArg::SuspiciousActivity => ClassificationReason::SuspiciousActivity,
            ReasonArg::SuspiciousButExpected => ClassificationReason::SuspiciousButExpected,
            ReasonArg::IncorrectAlertLogic => ClassificationReason::IncorrectAlertLogic,
            ReasonArg::InaccurateData => ClassificationReason::InaccurateData,
        }
    }
}

/// Who gets the incident; at most one of these.
#[derive(Args, Debug)]
#[group(multiple = false)]
pub struct OwnerArgs {
    /// Assign to a user by Entra object id.
    #[arg(long)]
    owner_object_id: Option<String>,
    /// Assign to a user by UPN.
    #[arg(long)]
    owner_upn: Option<String>,
    /// Assign to a user by email.
    #[arg(long)]
    owner_email: Option<String>,
    /// Remove the owner.
    #[arg(long)]
    unassign: bool,
}

impl OwnerArgs {
    fn change(&self) -> Option<OwnerChange> {
        if self.unassign {
            return Some(OwnerChange::Unassign);
        }
        self.owner_object_id
            .clone()
            .map(OwnerChange::ObjectId)
            .or_else(|| self.owner_upn.clone().map(OwnerChange::UserPrincipalName))
            .or_else(|| self.owner_email.clone().map(OwnerChange::Email))
    }
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    id: String,
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long, value_parser = azure::<SeverityArg>())]
    severity: Option<SeverityArg>,
    #[arg(long, value_parser = azure::<StatusArg>())]
    status: Option<StatusArg>,
    #[arg(long, value_parser = azure::<ClassificationArg>())]
    classification: Option<ClassificationArg>,
    #[arg(long, value_parser = azure::<ReasonArg>())]
    reason: Option<ReasonArg>,
    /// The classification comment.
    #[arg(long)]
    comment: Option<String>,
    #[command(flatten)]
    owner: OwnerArgs,
    #[arg(long = "add-label", value_name = "LABEL")]
    add_labels: Vec<String>,
    #[arg(long = "remove-label", value_name = "LABEL")]
    remove_labels: Vec<String>,
    /// Change an incident Defender merged into another (a closed shell);
    /// without it such an update is refused, naming where the incident went.
    #[arg(long)]
    update_merged_source: bool,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    #[arg(long)]
    title: String,
    #[arg(long, value_parser = azure::<SeverityArg>())]
    severity: SeverityArg,
    #[arg(long, value_parser = azure::<StatusArg>(), default_value = "new")]
    status: StatusArg,
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    owner: OwnerArgs,
    #[arg(long = "label", value_name = "LABEL")]
    labels: Vec<String>,
    /// The new incident's id (a GUID); a random one when left out.
    #[arg(long)]
    id: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum CommentsCommand {
    /// Every comment of an incident.
    List { id: String },
    /// Add a comment; retrying the same call never posts twice.
    Add {
        id: String,
        message: String,
        /// Makes the comment unique per key (for example a playbook run id) rather than per text.
        #[arg(long)]
        key: Option<String>,
    },
    /// Delete one comment.
    Delete { id: String, comment_id: String },
}

pub async fn update(session: &mut Session, args: UpdateArgs, format: Format) -> Result<(), Failure> {
    let update = types::IncidentUpdate {
        title: args.title,
        description: args.description,
        severity: args.severity.map(Into::into),
        status: args.status.map(Into::into),
        classification: args.classification.map(Into::into),
        classification_reason: args.reason.map(Into::into),
        classification_comment: args.comment,
        owner: args.owner.change(),
        add_labels: args.add_labels,
        remove_labels: args.remove_labels,
        update_merged_source: args.update_merged_source,
    };
    let incident = session.update_incident(&args.id, update).await?;
    show_incident(&incident, format);
    Ok(())
}

pub async fn create(session: &mut Session, args: CreateArgs, format: Format) -> Result<(), Failure> {
    let incident = types::NewIncident {
        title: args.title,
        severity: args.severity.into(),
        status: args.status.into(),
        description: args.description,
        classification: None,
        classification_reason: None,
        classification_comment: None,
        owner: args.owner.change(),
        labels: args.labels,
    };
    let created = session.create_incident(incident, args.id).await?;
    show_incident(&created, format);
    Ok(())
}

pub async fn delete(session: &mut Session, id: &str, confirmed: bool) -> Result<(), Failure> {
    if !confirmed {
        return Err(Failure {
            code: exit::USAGE,
            message: format!("deleting incident {id} cannot be undone: add --yes to confirm"),
        });
    }
    session.delete_incident(id).await?;
    eprintln!("deleted incident {id}");
    Ok(())
}

pub async fn comments(session: &mut Session, command: CommentsCommand) -> Result<(), Failure> {
    let shown = match command {
        CommentsCommand::List { id } => session.list_comments(&id).await?,
        CommentsCommand::Add { id, message, key } => session.add_comment(&id, &message, key.as_deref()).await?,
        CommentsCommand::Delete { id, comment_id } => {
            session.delete_comment(&id, &comment_id).await?;
            eprintln!("deleted comment {comment_id}");
            return Ok(());
        }
    };
    print(output::to_json(&shown.iter().map(output::comment_json).collect::<Vec<_>>()));
    Ok(())
}

fn show_incident(incident: &types::Incident, format: Format) {
    print(match format {
        Format::Json => output::to_json(&output::incident_json(incident)),
        Format::Table => output::incident_detail(incident),
    });
}

#[derive(Subcommand, Debug)]
pub enum RelationsCommand {
    /// The resources linked to an incident.
    List {
        id: String,
    },
    /// Link a resource (its full ARM id); linking it again is the same relation.
    Add {
        id: String,
        related_resource_id: String,
        #[arg(long)]
        name: Option<String>,
    },
    Delete {
        id: String,
        name: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum TaskStatusArg {
    New,
    Completed,
}

#[derive(Subcommand, Debug)]
pub enum TasksCommand {
    List {
        id: String,
    },
    /// Add a task; retrying the same call adds one task.
    Add {
        id: String,
        title: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        task_id: Option<String>,
    },
    Update {
        id: String,
        task_id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_parser = azure::<TaskStatusArg>())]
        status: Option<TaskStatusArg>,
    },
    Delete {
        id: String,
        task_id: String,
    },
}

pub async fn relations(session: &mut Session, command: RelationsCommand) -> Result<(), Failure> {
    let shown = match command {
        RelationsCommand::List { id } => session.list_relations(&id).await?,
        RelationsCommand::Add { id, related_resource_id, name } => {
            vec![session.add_relation(&id, &related_resource_id, name.as_deref()).await?]
        }
        RelationsCommand::Delete { id, name } => {
            session.delete_relation(&id, &name).await?;
            eprintln!("deleted relation {name}");
            return Ok(());
        }
    };
    print(output::to_json(&shown.iter().map(output::relation_json).collect::<Vec<_>>()));
    Ok(())
}

pub async fn tasks(session: &mut Session, command: TasksCommand) -> Result<(), Failure> {
    let shown = match command {
        TasksCommand::List { id } => session.list_tasks(&id).await?,
        TasksCommand::Add { id, title, description, task_id } => {
            vec![session.add_task(&id, &title, description.as_deref(), task_id.as_deref()).await?]
        }
        TasksCommand::Update { id, task_id, title, description, status } => {
            let status = status.map(|s| match s {
                TaskStatusArg::New => types::TaskStatus::New,
                TaskStatusArg::Completed => types::TaskStatus::Completed,
            });
            vec![session.update_task(&id, &task_id, types::TaskUpdate { title, description, status }).await?]
        }
        TasksCommand::Delete { id, task_id } => {
            session.delete_task(&id, &task_id).await?;
            eprintln!("deleted task {task_id}");
            return Ok(());
        }
    };
    print(output::to_json(&shown.iter().map(output::task_json).collect::<Vec<_>>()));
    Ok(())
}
