//! Verbs over Microsoft Graph security: Defender XDR incidents and alerts,
//! and advanced hunting (each change has `--dry-run`). Entra ID containment
//! is in `containment.rs`, as the WIT has it.

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::Cell;
use serde::Serialize;
use serde_json::{json, Value};

use super::output::{self, Format};
use super::pages::{list_pages, Listed, Page, Walk};
use super::poll;
use super::values::azure;
use super::{print, Failure};
use crate::runtime::graph_security::{self as g, Assignee, Determination};
use crate::runtime::{types, Session};

#[derive(Subcommand, Debug)]
pub enum GraphCommand {
    /// Defender XDR incidents through Graph.
    #[command(subcommand)]
    Incidents(GraphIncidents),
    /// Defender XDR alerts (alerts_v2) through Graph.
    #[command(subcommand)]
    Alerts(GraphAlerts),
    /// Incident events as JSON lines (created, updated, merged), the cursor
    /// saved after they are written; the same contract as `sentinel poll`.
    Poll(GraphPollArgs),
}

#[derive(Args, Debug)]
pub struct GraphPollArgs {
    #[command(flatten)]
    common: poll::PollLoopArgs,
    /// Only incidents at least this severe.
    #[arg(long, value_parser = azure::<SeverityArg>())]
    min_severity: Option<SeverityArg>,
    /// Only incidents in these statuses (repeatable); merges come whatever the statuses.
    #[arg(long = "status", value_parser = azure::<IncidentStatusArg>())]
    statuses: Vec<IncidentStatusArg>,
    /// Add each incident's alerts, with their evidence, to its event.
    #[arg(long)]
    alerts: bool,
    /// With --alerts: reads in flight at once, 1 to 16 (default 8).
    #[arg(long, value_name = "N", requires = "alerts")]
    concurrency: Option<u8>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SeverityArg {
    Informational,
    Low,
    Medium,
    High,
}

#[derive(Serialize)]
struct GraphEventLine {
    event: &'static str,
    incident: Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    merge_chain: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    merge_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details_error: Option<String>,
}

impl poll::Batch for g::PollBatch {
    fn cursor(&self) -> &str {
        &self.cursor
    }

    fn more(&self) -> bool {
        self.more
    }

    fn watermark(&self) -> &str {
        &self.watermark
    }

    fn events(&self) -> Vec<poll::Rendered> {
        self.events
            .iter()
            .map(|event| {
                let line = GraphEventLine {
                    event: poll::event_name(event.kind),
                    incident: incident_json(&event.incident),
                    merge_chain: event.merge_chain.clone(),
                    merge_error: event.merge_error.as_ref().map(super::errors::describe),
                    details_error: event.details_error.as_ref().map(super::errors::describe),
                };
                let incident = &event.incident;
                poll::Rendered::new(event.kind, &incident.id, incident.last_update_time.as_deref(), &line)
            })
            .collect()
    }

    fn report(&self) {
        poll::report("graph poll", self.events.iter().map(|e| e.kind), &self.watermark, self.more);
    }
}

pub async fn graph_poll(global: &super::Global, args: GraphPollArgs) -> Result<(), Failure> {
    let common = &args.common;
    let options = g::PollOptions {
        first_fetch: Some(common.first_fetch()?),
        look_back_seconds: common.look_back(),
        max_events: Some(common.max()),
        include_updates: common.updates(),
        ignore_merges: common.ignore_merges(),
        min_severity: args.min_severity.map(severity),
        statuses: args.statuses.iter().copied().map(incident_status).collect(),
        include_alerts: args.alerts,
        detail_concurrency: args.concurrency,
    };
    let once = async |session: &mut Session, cursor| session.graph().poll(cursor, options.clone()).await;
    poll::poll_loop(global, common, once).await
}

fn severity(value: SeverityArg) -> g::Severity {
    match value {
        SeverityArg::Informational => g::Severity::Informational,
        SeverityArg::Low => g::Severity::Low,
        SeverityArg::Medium => g::Severity::Medium,
        SeverityArg::High => g::Severity::High,
    }
}

#[derive(Subcommand, Debug)]
pub enum GraphIncidents {
    /// List incidents, newest first: one page or (--all) every page.
    List(GraphListArgs),
    Get {
        id: String,
        /// Include the incident's alerts.
        #[arg(long)]
        expand_alerts: bool,
    },
    /// Change only what is given (PATCH).
    Update(IncidentUpdateArgs),
    /// Add a comment; prints every comment of the incident.
    Comment(CommentArgs),
    /// Merge incidents (Defender picks the target); refused when Defender would not merge them.
    Merge(MergeArgs),
}

#[derive(Subcommand, Debug)]
pub enum GraphAlerts {
    List(GraphListArgs),
    Get {
        id: String,
    },
    Update(AlertUpdateArgs),
    /// Add a comment; prints every comment of the alert.
    Comment(CommentArgs),
}

#[derive(Args, Debug)]
pub struct CommentArgs {
    id: String,
    message: String,
    /// Idempotency key: the comment ends with its reference ([ref:xxxxxxxx])
    /// and a retry with the same key never adds it twice.
    #[arg(long)]
    key: Option<String>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Two or more Graph incident ids.
    #[arg(required = true, num_args = 2..)]
    ids: Vec<String>,
    /// A comment added to the target incident.
    #[arg(long)]
    comment: Option<String>,
    /// Print the POST it would send; merge nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
pub struct GraphListArgs {
    /// OData filter, e.g. "status eq 'active' and severity eq 'high'".
    #[arg(long)]
    filter: Option<String>,
    /// Page size (incidents 1 to 50, alerts 1 to 2000).
    #[arg(long)]
    top: Option<u32>,
    /// Incidents: include each incident's alerts.
    #[arg(long)]
    expand_alerts: bool,
    /// Follow every @odata.nextLink, printing each page as it arrives.
    #[arg(long)]
    all: bool,
    /// With --all: stop with an error after this many pages.
    #[arg(long)]
    max_pages: Option<u32>,
    /// JSON lines: one item a line, for streaming tools (implies JSON).
    #[arg(long)]
    ndjson: bool,
    /// Fetch the page a previous list pointed to.
    #[arg(long, conflicts_with_all = ["filter", "top", "expand_alerts"])]
    continuation: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum IncidentStatusArg {
    Active,
    Resolved,
    InProgress,
    Redirected,
    AwaitingAction,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AlertStatusArg {
    New,
    InProgress,
    Resolved,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ClassificationArg {
    Unknown,
    FalsePositive,
    TruePositive,
    InformationalExpectedActivity,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DeterminationArg {
    Unknown,
    Apt,
    Malware,
    SecurityPersonnel,
    SecurityTesting,
    UnwantedSoftware,
    Other,
    MultiStagedAttack,
    #[value(alias = "compromised-user")]
    CompromisedAccount,
    Phishing,
    MaliciousUserActivity,
    #[value(alias = "clean")]
    NotMalicious,
    #[value(alias = "insufficient-data")]
    NotEnoughDataToValidate,
    #[value(alias = "confirmed-user-activity")]
    ConfirmedActivity,
    LineOfBusinessApplication,
}

/// The assignment change: at most one of these.
#[derive(Args, Debug)]
#[group(multiple = false)]
pub struct AssignArgs {
    /// Assign to this user (UPN or name).
    #[arg(long)]
    assign_to: Option<String>,
    #[arg(long)]
    unassign: bool,
}

/// What incident and alert updates share: the verdict and the assignee.
#[derive(Args, Debug)]
pub struct TriageArgs {
    #[arg(long, value_parser = azure::<ClassificationArg>())]
    classification: Option<ClassificationArg>,
    #[arg(long, value_parser = azure::<DeterminationArg>())]
    determination: Option<DeterminationArg>,
    #[command(flatten)]
    assign: AssignArgs,
}

#[derive(Args, Debug)]
pub struct IncidentUpdateArgs {
    id: String,
    #[arg(long, value_parser = azure::<IncidentStatusArg>())]
    status: Option<IncidentStatusArg>,
    #[command(flatten)]
    triage: TriageArgs,
    /// Add a custom tag (repeatable).
    #[arg(long = "add-tag")]
    add_tags: Vec<String>,
    /// Remove a custom tag (repeatable).
    #[arg(long = "remove-tag")]
    remove_tags: Vec<String>,
    /// Print the PATCH it would send; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
pub struct AlertUpdateArgs {
    id: String,
    #[arg(long, value_parser = azure::<AlertStatusArg>())]
    status: Option<AlertStatusArg>,
    #[command(flatten)]
    triage: TriageArgs,
    /// Print the PATCH it would send; change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn graph(session: &mut Session, command: GraphCommand, format: Format) -> Result<(), Failure> {
    match command {
        GraphCommand::Incidents(GraphIncidents::List(args)) => {
            let (first, walk, next) = list_options(args);
            let one = async |s: &mut Session, o| s.graph().list_incidents(o).await;
            list_pages(session, first, walk, format, one, next).await?;
        }
        GraphCommand::Incidents(GraphIncidents::Get { id, expand_alerts }) => {
            print(output::to_json(&incident_json(&session.graph().get_incident(&id, expand_alerts).await?)));
        }
        GraphCommand::Incidents(GraphIncidents::Update(args)) => {
            let update = g::IncidentUpdate {
                status: args.status.map(incident_status),
                classification: args.triage.classification.map(classification),
                determination: args.triage.determination.map(determination),
                assigned_to: args.triage.assign.change(),
                add_tags: args.add_tags,
                remove_tags: args.remove_tags,
            };
            if args.dry_run {
                dry_run(&session.graph().plan_incident_update(&args.id, update).await?);
                return Ok(());
            }
            print(output::to_json(&incident_json(&session.graph().update_incident(&args.id, update).await?)));
        }
        GraphCommand::Incidents(GraphIncidents::Comment(args)) => {
            let key = args.key.as_deref();
            let list = session.graph().add_incident_comment(&args.id, &args.message, key).await?;
            print(comments_output(&list, format));
        }
        GraphCommand::Incidents(GraphIncidents::Merge(args)) => merge(session, args).await?,
        GraphCommand::Alerts(GraphAlerts::Comment(args)) => {
            let key = args.key.as_deref();
            let list = session.graph().add_alert_comment(&args.id, &args.message, key).await?;
            print(comments_output(&list, format));
        }
        GraphCommand::Alerts(GraphAlerts::List(args)) => {
            let (first, walk, next) = list_options(args);
            let one = async |s: &mut Session, o| s.graph().list_alerts(o).await;
            list_pages(session, first, walk, format, one, next).await?;
        }
        // `cli::run` sends `graph poll` to `graph_poll`: its loop opens (and reopens) its own session.
        GraphCommand::Poll(args) => {
            return Err(Failure {
                code: super::exit::OTHER,
                message: format!("graph poll --state {} runs through graph_poll", args.common.state().display()),
            })
        }
        GraphCommand::Alerts(GraphAlerts::Get { id }) => {
            print(output::to_json(&alert_json(&session.graph().get_alert(&id).await?)))
        }
        GraphCommand::Alerts(GraphAlerts::Update(args)) => {
            let update = g::AlertUpdate {
                status: args.status.map(alert_status),
                classification: args.triage.classification.map(classification),
                determination: args.triage.determination.map(determination),
                assigned_to: args.triage.assign.change(),
            };
            if args.dry_run {
                dry_run(&session.graph().plan_alert_update(&args.id, update).await?);
                return Ok(());
            }
            print(output::to_json(&alert_json(&session.graph().update_alert(&args.id, update).await?)));
        }
    }
    Ok(())
}

pub async fn hunt(session: &mut Session, query: &str, timespan: Option<String>, format: Format) -> Result<(), Failure> {
    let table = session.graph().run_hunting_query(query, g::HuntingOptions { timespan }).await?;
    let result = types::QueryResult { tables: vec![table], partial_error: None };
    print(match format {
        Format::Json => output::to_json(&output::query_json(&result)["tables"][0]),
        Format::Table => output::query_tables(&result),
    });
    Ok(())
}

async fn merge(session: &mut Session, args: MergeArgs) -> Result<(), Failure> {
    let outcome = session.graph().merge_incidents(&args.ids, args.comment.as_deref(), args.dry_run).await?;
    if outcome.dry_run {
        dry_run(&outcome.request);
        return Ok(());
    }
    let merged = json!({"targetIncidentId": outcome.target_incident_id, "request": request_json(&outcome.request)});
    print(output::to_json(&merged));
    Ok(())
}

fn comments_output(list: &[g::Comment], format: Format) -> String {
    let rows = list
        .iter()
        .map(|c| json!({"comment": c.comment, "createdByDisplayName": c.created_by, "createdDateTime": c.created_time}))
        .collect();
    items(format, rows, &["createdDateTime", "createdByDisplayName", "comment"])
}

fn dry_run(request: &types::PlannedRequest) {
    print(output::to_json(&json!({"dry_run": true, "request": request_json(request)})));
    eprintln!("dry run: nothing was changed; the request above was not sent");
}

/// Permissions each action needs, for the admin granting them.
pub fn manifest_table(manifest: &[types::RequiredPermission], format: Format) -> String {
    let rows: Vec<Value> =
        manifest.iter().map(|p| json!({"action": p.action, "permissions": p.permissions.join(", ")})).collect();
    items(format, rows, &["action", "permissions"])
}

/// The first page's options, the walk, and the options that ask for the page a continuation names.
fn list_options(args: GraphListArgs) -> (g::ListOptions, Walk, impl Fn(String) -> g::ListOptions) {
    let walk = Walk { all: args.all, max_pages: args.max_pages, start: args.continuation.clone(), ndjson: args.ndjson };
    let max_pages = args.max_pages;
    let first = g::ListOptions {
        filter: args.filter,
        top: args.top,
        expand_alerts: args.expand_alerts,
        continuation: args.continuation,
        max_pages,
    };
    let next = move |link| g::ListOptions {
        filter: None,
        top: None,
        expand_alerts: false,
        continuation: Some(link),
        max_pages,
    };
    (first, walk, next)
}

const INCIDENT_COLUMNS: &[&str] = &["id", "severity", "status", "classification", "assignedTo", "displayName"];
const ALERT_COLUMNS: &[&str] = &["id", "severity", "status", "incidentId", "serviceSource", "title"];

impl Page for g::IncidentPage {
    type Item = g::Incident;
    const WHAT: &'static str = "items";
    fn split(self) -> (Vec<Self::Item>, Option<String>) {
        (self.incidents, self.continuation)
    }
}

impl Page for g::AlertPage {
    type Item = g::Alert;
    const WHAT: &'static str = "items";
    fn split(self) -> (Vec<Self::Item>, Option<String>) {
        (self.alerts, self.continuation)
    }
}

impl Listed for g::Incident {
    const HEADER: &'static [&'static str] = INCIDENT_COLUMNS;
    fn json(&self) -> impl Serialize + '_ {
        incident_json(self)
    }
    fn row(&self) -> Vec<Cell> {
        row(&incident_json(self), INCIDENT_COLUMNS)
    }
}

impl Listed for g::Alert {
    const HEADER: &'static [&'static str] = ALERT_COLUMNS;
    fn json(&self) -> impl Serialize + '_ {
        alert_json(self)
    }
    fn row(&self) -> Vec<Cell> {
        row(&alert_json(self), ALERT_COLUMNS)
    }
}

/// JSON as an array, or a table of the named fields.
pub(super) fn items(format: Format, rows: Vec<Value>, columns: &[&str]) -> String {
    if format == Format::Json {
        return output::to_json(&rows);
    }
    let mut table = output::new_table();
    table.set_header(columns.to_vec());
    for value in &rows {
        table.add_row(row(value, columns));
    }
    table.to_string()
}

/// The named fields of a JSON object as a table row.
fn row(value: &Value, columns: &[&str]) -> Vec<Cell> {
    output::row(columns.iter().map(|c| match &value[*c] {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }))
}

/// Graph's own object, exactly as it sent it, with expanded alerts put back.
fn incident_json(incident: &g::Incident) -> Value {
    let mut value: Value = serde_json::from_str(&incident.properties).unwrap_or(Value::Null);
    if !incident.alerts.is_empty() {
        value["alerts"] = Value::Array(incident.alerts.iter().map(alert_json).collect());
    }
    value
}

fn alert_json(alert: &g::Alert) -> Value {
    serde_json::from_str(&alert.properties).unwrap_or(Value::Null)
}

pub(super) fn request_json(request: &types::PlannedRequest) -> Value {
    json!({
        "method": request.method,
        "url": request.url,
        "headers": request.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body": request.body.as_deref().map(|b| serde_json::from_str::<Value>(b).unwrap_or_else(|_| Value::String(b.to_owned()))),
    })
}

impl AssignArgs {
    fn change(&self) -> Option<Assignee> {
        if self.unassign {
            return Some(Assignee::Unassigned);
        }
        self.assign_to.clone().map(Assignee::User)
    }
}

fn incident_status(value: IncidentStatusArg) -> g::IncidentStatus {
    match value {
        IncidentStatusArg::Active => g::IncidentStatus::Active,
        IncidentStatusArg::Resolved => g::IncidentStatus::Resolved,
        IncidentStatusArg::InProgress => g::IncidentStatus::InProgress,
        IncidentStatusArg::Redirected => g::IncidentStatus::Redirected,
        IncidentStatusArg::AwaitingAction => g::IncidentStatus::AwaitingAction,
    }
}

fn alert_status(value: AlertStatusArg) -> g::AlertStatus {
    match value {
        AlertStatusArg::New => g::AlertStatus::New,
        AlertStatusArg::InProgress => g::AlertStatus::InProgress,
        AlertStatusArg::Resolved => g::AlertStatus::Resolved,
    }
}

fn classification(value: ClassificationArg) -> g::Classification {
    match value {
        ClassificationArg::Unknown => g::Classification::Unknown,
        ClassificationArg::FalsePositive => g::Classification::FalsePositive,
        ClassificationArg::TruePositive => g::Classification::TruePositive,
        ClassificationArg::InformationalExpectedActivity => g::Classification::InformationalExpectedActivity,
    }
}

fn determination(value: DeterminationArg) -> Determination {
    use DeterminationArg as A;
    match value {
        A::Unknown => Determination::Unknown,
        A::Apt => Determination::Apt,
        A::Malware => Determination::Malware,
        A::SecurityPersonnel => Determination::SecurityPersonnel,
        A::SecurityTesting => Determination::SecurityTesting,
        A::UnwantedSoftware => Determination::UnwantedSoftware,
        A::Other => Determination::OtherDetermination,
        A::MultiStagedAttack => Determination::MultiStagedAttack,
        A::CompromisedAccount => Determination::CompromisedAccount,
        A::Phishing => Determination::Phishing,
        A::MaliciousUserActivity => Determination::MaliciousUserActivity,
        A::NotMalicious => Determination::NotMalicious,
        A::NotEnoughDataToValidate => Determination::NotEnoughDataToValidate,
        A::ConfirmedActivity => Determination::ConfirmedActivity,
        A::LineOfBusinessApplication => Determination::LineOfBusinessApplication,
    }
}
