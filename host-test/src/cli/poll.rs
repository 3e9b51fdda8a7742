//! `sentinel poll`: incident events as JSON lines, the cursor saved only
//! after they are written and flushed. A crash between the two re-delivers at
//! most the last batch; nothing is ever skipped.
//!
//! One poller per state file: a run holds an exclusive lock on `FILE.lock`
//! beside it from start to end, so a second poller exits at once instead of
//! delivering the same batches again.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use clap::Args;
use serde::Serialize;

use super::output::{self, IncidentJson};
use super::values::azure;
use super::writes::{SeverityArg, StatusArg};
use super::Global;
use super::{exit, Failure};
use crate::runtime::types::{self, ErrorKind, EventKind, IncidentStatus, PollOptions, Severity};
use crate::runtime::{CallError, Session};

/// What both pollers' verbs share: the state file, the loop, the batch.
#[derive(Args, Debug)]
pub struct PollLoopArgs {
    /// Where the cursor is kept between runs (created on the first run).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// Where a first run starts: RFC 3339, or a duration back from now (7d, 12h, 30m).
    #[arg(long, value_name = "TIME", default_value = "7d")]
    first_fetch: String,
    /// Keep polling every --interval seconds.
    #[arg(long)]
    follow: bool,
    /// Seconds between polls with --follow (at least 1).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = interval_seconds)]
    interval: u64,
    /// Most events per batch (a backlog drains over several batches).
    #[arg(long, value_name = "N", default_value_t = 100)]
    max: u32,
    /// Also emit each new version of an incident already emitted.
    #[arg(long)]
    updates: bool,
    /// Seconds re-scanned behind the watermark for incidents that show up late.
    #[arg(long, value_name = "SECONDS")]
    look_back: Option<u32>,
    /// No `merged` events (incidents Defender merged into another).
    #[arg(long)]
    ignore_merges: bool,
}

#[derive(Args, Debug)]
pub struct PollArgs {
    #[command(flatten)]
    common: PollLoopArgs,
    /// Only incidents at least this severe.
    #[arg(long, value_parser = azure::<SeverityArg>())]
    min_severity: Option<SeverityArg>,
    /// Only incidents in these statuses (repeatable).
    #[arg(long = "status", value_parser = azure::<StatusArg>())]
    statuses: Vec<StatusArg>,
    /// Title must match one of these wildcard patterns (repeatable).
    #[arg(long = "title-include", value_name = "PATTERN")]
    title_includes: Vec<String>,
    /// Skip titles matching any of these wildcard patterns (repeatable).
    #[arg(long = "title-exclude", value_name = "PATTERN")]
    title_excludes: Vec<String>,
    /// Add each incident's alerts and entities to its event (fetched concurrently).
    #[arg(long)]
    details: bool,
    /// With --details: detail requests in flight at once, 1 to 16 (default
    /// 8); each next one starts as soon as one answers. Sentinel throttles a
    /// tenant's reads: more is not always faster.
    #[arg(long, value_name = "N", requires = "details")]
    concurrency: Option<u8>,
    /// A `writeReceipt` of `incidents update` made since the last poll
    /// (repeatable): that write's version comes as `own-change`, not
    /// `updated`, so a two-way mirror does not echo its own writes.
    #[arg(long = "own-write", value_name = "RECEIPT")]
    own_writes: Vec<String>,
}

impl PollLoopArgs {
    pub fn state(&self) -> &Path {
        &self.state
    }

    /// The first fetch as a time.
    pub fn first_fetch(&self) -> Result<String, Failure> {
        first_fetch_time(&self.first_fetch, SystemTime::now())
    }

    pub fn max(&self) -> u32 {
        self.max
    }

    pub fn updates(&self) -> bool {
        self.updates
    }

    pub fn look_back(&self) -> Option<u32> {
        self.look_back
    }

    pub fn ignore_merges(&self) -> bool {
        self.ignore_merges
    }
}

/// A poller's batch, as the loop (and `sentinel serve`) handles it.
pub trait Batch {
    fn cursor(&self) -> &str;
    fn more(&self) -> bool;
    /// The newest modification time the batch read (RFC 3339).
    fn watermark(&self) -> &str;
    /// Every event, rendered, oldest first.
    fn events(&self) -> Vec<Rendered>;
    /// One line to stderr: counts, watermark, lag.
    fn report(&self);
}

/// One event as a JSON line, with what tells it apart from every other
/// event: the incident, its version (its last modification time) and the
/// kind. `sentinel serve` makes its idempotency key of them.
pub struct Rendered {
    pub kind: EventKind,
    pub incident_id: String,
    pub version: String,
    pub line: serde_json::Value,
}

impl Rendered {
    pub fn new(kind: EventKind, incident_id: &str, version: Option<&str>, line: &impl Serialize) -> Rendered {
        Rendered {
            kind,
            incident_id: incident_id.to_owned(),
            version: version.unwrap_or_default().to_owned(),
            // Our own records of strings, numbers and JSON values: they always render.
            line: serde_json::to_value(line).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// Every event of the batch as one JSON line.
fn emit(batch: &impl Batch, out: &mut dyn Write) -> Result<(), Failure> {
    for event in batch.events() {
        write_line(out, &event.line)?;
    }
    Ok(())
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
    #[serde(skip_serializing_if = "Option::is_none")]
    merged_into: Option<serde_json::Value>,
    /// An `updated` that also holds this connector's own writes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    includes_own_write: bool,
}

/// Host-held tokens are renewed when less than this is left, as
/// azure-identity renews its own five minutes before expiry.
const TOKEN_RENEWAL_MARGIN: Duration = Duration::from_secs(300);

/// The shortest --interval: 0 would poll without a pause.
const MIN_INTERVAL_SECONDS: u64 = 1;

/// The core poller's cursor limit (`MAX_CURSOR_LEN`, 1 MiB): a state file
/// larger than this cannot hold a cursor, so it is refused unread.
const MAX_STATE_BYTES: u64 = 1 << 20;

fn interval_seconds(text: &str) -> Result<u64, String> {
    let seconds: u64 = text.parse().map_err(|error| format!("{error}"))?;
    if seconds < MIN_INTERVAL_SECONDS {
        return Err(format!("the minimum is {MIN_INTERVAL_SECONDS} second (0 would poll without a pause)"));
    }
    Ok(seconds)
}

pub async fn run(global: &Global, args: PollArgs) -> Result<(), Failure> {
    let options = poll_options(&args)?;
    let poll = async |session: &mut Session, cursor| session.poll(cursor, options.clone()).await;
    poll_loop(global, &args.common, poll).await
}

/// Poll, emit and flush, then save the cursor; again while more waits, and
/// with --follow every interval. One poller per state file (its lock).
pub async fn poll_loop<B: Batch>(
    global: &Global,
    args: &PollLoopArgs,
    mut poll: impl AsyncFnMut(&mut Session, Option<String>) -> Result<B, CallError>,
) -> Result<(), Failure> {
    // Held until this run ends, whichever way it ends.
    let _lock = lock_state(&args.state)?;
    let mut cursor = read_state(&args.state)?;
    let (mut session, mut expires_at) = global.open_session_expiring().await?;
    loop {
        // Host-held tokens (managed identity, az) are renewed before they
        // expire by opening the connection again; the cursor lives here.
        if expires_at.is_some_and(|at| at <= SystemTime::now() + TOKEN_RENEWAL_MARGIN) {
            (session, expires_at) = global.open_session_expiring().await?;
        }
        let batch = match poll(&mut session, cursor.clone()).await {
            // A refused sign-in (an expired federated token, a rotated
            // secret): open the connection again, which reads the
            // credential anew, and retry once. The cursor lives here, so
            // nothing is lost.
            Err(CallError::Connector(error)) if error.kind == ErrorKind::Auth => {
                eprintln!("poll: sign-in refused ({}); reading the credential again", output::safe_line(&error.code));
                (session, expires_at) = global.open_session_expiring().await?;
                poll(&mut session, cursor.clone()).await?
            }
            answer => answer?,
        };
        let mut stdout = std::io::stdout().lock();
        emit(&batch, &mut stdout)?;
        stdout.flush().map_err(output_failed)?;
        drop(stdout);
        save_state(&args.state, batch.cursor()).map_err(|e| Failure {
            code: exit::OTHER,
            message: format!("cannot save the cursor to {}: {e}", args.state.display()),
        })?;
        batch.report();
        cursor = Some(batch.cursor().to_owned());
        if batch.more() {
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
    let common = &args.common;
    Ok(PollOptions {
        first_fetch: Some(common.first_fetch()?),
        look_back_seconds: common.look_back,
        max_events: Some(common.max),
        include_updates: common.updates,
        min_severity: args.min_severity.map(Severity::from),
        statuses: args.statuses.iter().copied().map(IncidentStatus::from).collect(),
        title_includes: args.title_includes.clone(),
        title_excludes: args.title_excludes.clone(),
        include_details: args.details,
        detail_concurrency: args.concurrency,
        ignore_merges: common.ignore_merges,
        own_writes: args.own_writes.clone(),
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
    let start = now
        .checked_sub(back)
        .ok_or_else(|| Failure { code: exit::USAGE, message: format!("--first-fetch {text} reaches before 1970") })?;
    Ok(humantime::format_rfc3339_seconds(start).to_string())
}

/// The state file's lock: `FILE.lock` beside it, not the file itself, since
/// each save renames a new file over it (a lock on the old one would not stop
/// the next poller). Never removed: removing it would let two pollers lock two
/// different files of that name.
pub(crate) fn lock_state(path: &Path) -> Result<fs::File, Failure> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&lock_path)
        .map_err(|e| Failure {
            code: exit::USAGE,
            message: format!("cannot open the lock file {} of the state file: {e}", lock_path.display()),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Failure {
            code: exit::USAGE,
            message: format!(
                "another poller holds the state file {} (its lock {} is taken); run one poller per state file",
                path.display(),
                lock_path.display()
            ),
        }),
        Err(fs::TryLockError::Error(e)) => Err(Failure {
            code: exit::USAGE,
            message: format!("cannot lock the state file {} through {}: {e}", path.display(), lock_path.display()),
        }),
    }
}

/// The saved cursor, if any. A file larger than a cursor can be is refused
/// by the size of the open file, before anything is read.
pub(crate) fn read_state(path: &Path) -> Result<Option<String>, Failure> {
    let failed = |error: std::io::Error| Failure {
        code: exit::USAGE,
        message: format!("cannot read the state file {}: {error}", path.display()),
    };
    let too_large = |size: String| {
        Failure {
        code: exit::USAGE,
        message: format!(
            "the state file {} is {size} bytes, larger than any cursor (at most {} MiB), so it was not read; check that --state names this poller's file",
            path.display(),
            MAX_STATE_BYTES >> 20
        ),
    }
    };
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(failed(error)),
    };
    let size = file.metadata().map_err(failed)?.len();
    if size > MAX_STATE_BYTES {
        return Err(too_large(size.to_string()));
    }
    // Bounded even if the file grows, or is not a regular file.
    let mut text = String::new();
    file.take(MAX_STATE_BYTES + 1).read_to_string(&mut text).map_err(failed)?;
    if text.len() as u64 > MAX_STATE_BYTES {
        return Err(too_large(format!("more than {MAX_STATE_BYTES}")));
    }
    let text = text.trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

impl Batch for types::PollBatch {
    fn cursor(&self) -> &str {
        &self.cursor
    }

    fn more(&self) -> bool {
        self.more
    }

    fn watermark(&self) -> &str {
        &self.watermark
    }

    fn events(&self) -> Vec<Rendered> {
        self.events
            .iter()
            .map(|event| {
                let line = EventLine {
                    event: event_name(event.kind),
                    incident: output::incident_json(&event.incident),
                    alerts: event.alerts.as_ref().map(|alerts| alerts.iter().map(output::alert_json).collect()),
                    entities: event
                        .entities
                        .as_ref()
                        .map(|entities| entities.iter().map(output::entity_json).collect()),
                    details_error: event.details_error.as_ref().map(super::errors::describe),
                    merged_into: event.merged_into.as_ref().map(|target| {
                        serde_json::json!({
                            "defender_chain": target.defender_chain,
                            "incident_id": target.incident_id,
                            "unresolved": target.unresolved.as_ref().map(super::errors::describe),
                        })
                    }),
                    includes_own_write: event.includes_own_write,
                };
                let incident = &event.incident;
                Rendered::new(event.kind, &incident.id, incident.last_modified_time.as_deref(), &line)
            })
            .collect()
    }

    fn report(&self) {
        report("poll", self.events.iter().map(|e| e.kind), &self.watermark, self.more);
    }
}

pub fn event_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Created => "created",
        EventKind::Updated => "updated",
        EventKind::Merged => "merged",
        EventKind::OwnChange => "own-change",
    }
}

/// One JSON line; the loop flushes before the cursor moves.
pub fn write_line(out: &mut dyn Write, line: &impl Serialize) -> Result<(), Failure> {
    let json = serde_json::to_string(line)
        .map_err(|e| Failure { code: exit::OTHER, message: format!("cannot render an event: {e}") })?;
    writeln!(out, "{json}").map_err(output_failed)
}

fn output_failed(error: std::io::Error) -> Failure {
    Failure {
        code: exit::OTHER,
        message: format!("cannot write events to stdout ({error}); the cursor was not advanced"),
    }
}

/// Write, fsync, rename, fsync the directory: after a crash the file holds
/// either the old cursor or the new one, whole. The temporary file has a
/// random name and is created new (never through an existing name or
/// symbolic link) and 0600, so the state file is the user's alone to read.
pub fn save_state(path: &Path, cursor: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "state".into());
    let temp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
    let written =
        file.write_all(cursor.as_bytes()).and_then(|()| file.sync_all()).and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    fs::File::open(dir)?.sync_all()
}

pub fn report(verb: &str, kinds: impl Iterator<Item = EventKind>, watermark: &str, more: bool) {
    let (mut created, mut updated, mut merged, mut own) = (0, 0, 0, 0);
    for kind in kinds {
        match kind {
            EventKind::Created => created += 1,
            EventKind::Updated => updated += 1,
            EventKind::Merged => merged += 1,
            EventKind::OwnChange => own += 1,
        }
    }
    let lag = humantime::parse_rfc3339_weak(watermark.trim_end_matches('Z'))
        .ok()
        .and_then(|mark| SystemTime::now().duration_since(mark).ok())
        .map_or("-".into(), |lag| format!("{}s", lag.as_secs()));
    eprintln!(
        "{verb}: {created} created, {updated} updated, {merged} merged, {own} own changes; watermark {watermark}; lag {lag}; {}",
        if more { "more waiting" } else { "caught up" }
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

    #[test]
    fn state_is_saved_0600_without_following_a_link_at_the_old_temporary_name() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor");
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep me").unwrap();
        // The name earlier versions wrote through, predictable from the pid.
        let predictable = dir.path().join(format!(".cursor.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &predictable).unwrap();
        save_state(&path, "sp1.a").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me", "the link was not followed");
        assert!(fs::symlink_metadata(&predictable).unwrap().file_type().is_symlink(), "and left alone");
        assert_eq!(fs::read_to_string(&path).unwrap(), "sp1.a");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_state_file_larger_than_a_cursor_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursor");
        let file = fs::File::create(&path).unwrap();
        // Sparse: a read of it would be a megabyte of zeros, never a cursor.
        file.set_len(MAX_STATE_BYTES + 1).unwrap();
        let refused = read_state(&path).err().unwrap();
        assert_eq!(refused.code, exit::USAGE);
        assert!(refused.message.contains(&format!("is {} bytes", MAX_STATE_BYTES + 1)), "{}", refused.message);
        file.set_len(MAX_STATE_BYTES).unwrap();
        assert!(read_state(&path).is_ok(), "the limit itself is read");
    }

    #[test]
    fn the_interval_has_a_minimum() {
        assert_eq!(interval_seconds("1"), Ok(1));
        assert!(interval_seconds("0").unwrap_err().contains("minimum is 1 second"));
    }
}
