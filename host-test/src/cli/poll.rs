//! `sentinel poll`: incident events as JSON lines, the cursor saved only
//! after they are written and flushed. A crash between the two re-delivers at
//! most the last batch; nothing is ever skipped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use serde::Serialize;

use super::output::{self, IncidentJson};
use super::writes::{SeverityArg, StatusArg};
use super::{exit, Failure};
use crate::runtime::types::{self, EventKind, IncidentStatus, PollOptions, Severity};
use crate::runtime::Session;

#[derive(Args, Debug)]
pub struct PollArgs {
    /// Where the cursor is kept between runs (created on the first run).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// Where a first run starts: RFC 3339, or a duration back from now (7d, 12h, 30m).
    #[arg(long, value_name = "TIME", default_value = "7d")]
    first_fetch: String,
    /// Keep polling every --interval seconds.
    #[arg(long)]
    follow: bool,
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    interval: u64,
    /// Most events per batch (a backlog drains over several batches).
    #[arg(long, value_name = "N", default_value_t = 100)]
    max: u32,
    /// Also emit each new version of an incident already emitted.
    #[arg(long)]
    updates: bool,
    /// Only incidents at least this severe.
    #[arg(long, value_enum)]
    min_severity: Option<SeverityArg>,
    /// Only incidents in these statuses (repeatable).
    #[arg(long = "status", value_enum)]
    statuses: Vec<StatusArg>,
    /// Title must match one of these wildcard patterns (repeatable).
    #[arg(long = "title-include", value_name = "PATTERN")]
    title_includes: Vec<String>,
    /// Skip titles matching any of these wildcard patterns (repeatable).
    #[arg(long = "title-exclude", value_name = "PATTERN")]
    title_excludes: Vec<String>,
    /// Seconds re-scanned behind the watermark for incidents that show up late.
    #[arg(long, value_name = "SECONDS")]
    look_back: Option<u32>,
    /// Add each incident's alerts and entities to its event (fetched concurrently).
    #[arg(long)]
    details: bool,
}

#[derive(Serialize)]
struct EventLine<'a> {
    event: &'static str,
    incident: IncidentJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entities: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details_error: Option<String>,
}

pub async fn run(session: &mut Session, args: PollArgs) -> Result<(), Failure> {
    let options = poll_options(&args)?;
    let mut cursor = read_state(&args.state)?;
    loop {
        let batch = session.poll(cursor.clone(), options.clone()).await?;
        emit(&batch.events)?;
        save_state(&args.state, &batch.cursor)
            .map_err(|e| Failure { code: exit::OTHER, message: format!("cannot save the cursor to {}: {e}", args.state.display()) })?;
        report(&batch);
        cursor = Some(batch.cursor);
        if batch.more {
            continue;
        }
        if !args.follow {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(args.interval)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn poll_options(args: &PollArgs) -> Result<PollOptions, Failure> {
    Ok(PollOptions {
        first_fetch: Some(first_fetch_time(&args.first_fetch, SystemTime::now())?),
        look_back_seconds: args.look_back,
        max_events: Some(args.max),
        include_updates: args.updates,
        min_severity: args.min_severity.map(Severity::from),
        statuses: args.statuses.iter().copied().map(IncidentStatus::from).collect(),
        title_includes: args.title_includes.clone(),
        title_excludes: args.title_excludes.clone(),
        include_details: args.details,
    })
}

/// RFC 3339 as given, or a duration back from `now`.
pub fn first_fetch_time(text: &str, now: SystemTime) -> Result<String, Failure> {
    if humantime::parse_rfc3339_weak(text.trim_end_matches(['Z', 'z'])).is_ok() {
        return Ok(text.to_owned());
    }
    let back = humantime::parse_duration(text).map_err(|_| Failure {
        code: exit::USAGE,
        message: format!("--first-fetch {text:?} is neither an RFC 3339 time nor a duration such as 7d or 12h"),
    })?;
    let start = now.checked_sub(back).ok_or_else(|| Failure { code: exit::USAGE, message: format!("--first-fetch {text} reaches before 1970") })?;
    Ok(humantime::format_rfc3339_seconds(start).to_string())
}

fn read_state(path: &Path) -> Result<Option<String>, Failure> {
    match fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(Failure { code: exit::USAGE, message: format!("cannot read the state file {}: {error}", path.display()) }),
    }
}

/// Every event as one JSON line, flushed before the cursor moves.
fn emit(events: &[types::IncidentEvent]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    for event in events {
        let line = EventLine {
            event: match event.kind {
                EventKind::Created => "created",
                EventKind::Updated => "updated",
            },
            incident: output::incident_json(&event.incident),
            alerts: event.alerts.as_ref().map(|alerts| alerts.iter().map(output::alert_json).collect()),
            entities: event.entities.as_ref().map(|entities| entities.iter().map(output::entity_json).collect()),
            details_error: event.details_error.as_ref().map(crate::runtime::describe),
        };
        let json = serde_json::to_string(&line).map_err(|e| Failure { code: exit::OTHER, message: format!("cannot render an event: {e}") })?;
        writeln!(stdout, "{json}").map_err(output_failed)?;
    }
    stdout.flush().map_err(output_failed)
}

fn output_failed(error: std::io::Error) -> Failure {
    Failure { code: exit::OTHER, message: format!("cannot write events to stdout ({error}); the cursor was not advanced") }
}

/// Write, fsync, rename, fsync the directory: after a crash the file holds
/// either the old cursor or the new one, whole.
pub fn save_state(path: &Path, cursor: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "state".into());
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = fs::File::create(&temp)?;
    file.write_all(cursor.as_bytes())?;
    file.sync_all()?;
    fs::rename(&temp, path)?;
    fs::File::open(dir)?.sync_all()
}

fn report(batch: &types::PollBatch) {
    let created = batch.events.iter().filter(|e| matches!(e.kind, EventKind::Created)).count();
    let updated = batch.events.len() - created;
    let lag = humantime::parse_rfc3339_weak(batch.watermark.trim_end_matches('Z'))
        .ok()
        .and_then(|mark| SystemTime::now().duration_since(mark).ok())
        .map_or("-".into(), |lag| format!("{}s", lag.as_secs()));
    eprintln!(
        "poll: {created} created, {updated} updated; watermark {}; lag {lag}; {}",
        batch.watermark,
        if batch.more { "more waiting" } else { "caught up" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fetch_accepts_times_and_durations() {
        let now = humantime::parse_rfc3339("2026-11-22T10:00:00Z").unwrap();
        assert_eq!(first_fetch_time("7d", now).ok().unwrap(), "2026-11-15T10:00:00Z");
        assert_eq!(first_fetch_time("2026-01-01T00:00:00Z", now).ok().unwrap(), "2026-01-01T00:00:00Z");
        assert_eq!(first_fetch_time("someday", now).err().map(|f| f.code), Some(exit::USAGE));
    }

    #[test]
    fn state_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor");
        save_state(&path, "sp1.a").unwrap();
        save_state(&path, "sp1.b").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "sp1.b");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }
}
