//! The tenants a service polls: a directory of TOML files, one per tenant
//! (its name is the file's stem), or one file of `[[tenant]]` tables (each
//! with a `name`). A tenant's keys are `--config`'s, plus how to poll it.
//! Reading them is a pure function of the files, rerun on every rescan: what
//! changed is told apart by each tenant's fingerprint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::{self, ConfigError, FileConfig};

/// The pollers a tenant can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PollerKind {
    /// Sentinel's incidents through ARM (`sentinel poll`).
    Sentinel,
    /// Defender XDR's incidents through Graph (`sentinel graph poll`).
    Graph,
}

impl PollerKind {
    /// Its name in events, metrics, file names and the status table.
    pub fn name(self) -> &'static str {
        match self {
            PollerKind::Sentinel => "sentinel",
            PollerKind::Graph => "graph",
        }
    }
}

/// How one tenant is polled: the keys a tenant file adds to `--config`'s.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSettings {
    /// In a `[[tenant]]` table: the tenant's name (a file's is its stem).
    pub name: Option<String>,
    /// Which pollers run; unset, Sentinel's only.
    pub pollers: Option<Vec<PollerKind>>,
    /// Seconds between polls once caught up; unset, the service's `--interval`.
    pub interval_seconds: Option<u64>,
    /// Where a first poll starts: RFC 3339, or a duration back (7d, 12h).
    pub first_fetch: Option<String>,
    /// Also deliver each new version of an incident already delivered.
    pub include_updates: Option<bool>,
    /// Most events per batch; unset, 100. Fairness is per batch: a backlog
    /// drains one batch per turn while other tenants take theirs.
    pub max_events: Option<u32>,
    /// Seconds re-scanned behind the watermark for late incidents.
    pub look_back_seconds: Option<u32>,
}

/// The keys of [`PollSettings`], split off before the rest is read as
/// [`FileConfig`] (which refuses unknown keys).
const POLL_KEYS: &[&str] =
    &["name", "pollers", "interval_seconds", "first_fetch", "include_updates", "max_events", "look_back_seconds"];

/// One tenant, as read from its file.
#[derive(Clone, Debug)]
pub struct TenantSpec {
    /// Its name: unique, safe as a file name and a metric label.
    pub name: String,
    /// Its connection settings (secret files not yet read: they are read
    /// each time its session opens).
    pub connection: FileConfig,
    /// How it is polled.
    pub poll: PollSettings,
    /// A digest of its file's text: a change restarts the tenant.
    pub fingerprint: String,
    /// Where it came from, for messages.
    pub source: PathBuf,
}

impl TenantSpec {
    /// Its pollers, Sentinel's when none are named, each once.
    pub fn pollers(&self) -> Vec<PollerKind> {
        let mut pollers = self.poll.pollers.clone().unwrap_or_else(|| vec![PollerKind::Sentinel]);
        pollers.sort();
        pollers.dedup();
        pollers
    }

    /// Its interval, or the service's.
    pub fn interval(&self, default: Duration) -> Duration {
        self.poll.interval_seconds.map_or(default, Duration::from_secs)
    }
}

/// What a scan found: the tenants read, and the files that could not be
/// (each with why), so one bad file never stops the others.
#[derive(Debug, Default)]
pub struct Scan {
    /// By name.
    pub tenants: BTreeMap<String, TenantSpec>,
    /// The tenant a bad file would have been (a table: its file and place)
    /// and what is wrong with it (naming the file).
    pub invalid: Vec<(String, ConfigError)>,
}

/// Reads every tenant under `path`: a directory's `*.toml` files, or one
/// file of `[[tenant]]` tables. Only a missing or unreadable `path` fails.
pub fn scan(path: &Path) -> Result<Scan, ConfigError> {
    let mut found = Scan::default();
    if path.is_dir() {
        for file in toml_files(path)? {
            let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let read = read_text(&file).and_then(|text| {
                let table = config::parse::<toml::Table>(&text, &origin(&file, None))?;
                tenant(table, Some(name.clone()), &file, &text)
            });
            // A bad file's row is named as its tenant would be.
            found.add(read, || name.clone());
        }
    } else {
        let text = read_text(path)?;
        let tables = config::parse::<TenantsFile>(&text, &origin(path, None))?;
        for (index, table) in tables.tenant.into_iter().enumerate() {
            let text_of_table = toml::to_string(&table).unwrap_or_default();
            found.add(tenant(table, None, path, &text_of_table), || {
                format!("{} [[tenant]] #{}", path.display(), index + 1)
            });
        }
    }
    Ok(found)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    #[serde(default)]
    tenant: Vec<toml::Table>,
}

impl Scan {
    fn add(&mut self, read: Result<TenantSpec, ConfigError>, place: impl Fn() -> String) {
        match read {
            Ok(spec) if self.tenants.contains_key(&spec.name) => {
                let first = self.tenants[&spec.name].source.display().to_string();
                self.invalid
                    .push((place(), ConfigError(format!("the tenant name {} is taken (by {first})", spec.name))))
            }
            Ok(spec) => {
                self.tenants.insert(spec.name.clone(), spec);
            }
            Err(error) => self.invalid.push((place(), error)),
        }
    }
}

fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| ConfigError(format!("cannot read the tenants directory {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        // Editors' and our own temporary files start with a dot.
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .filter(|path| !path.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    Ok(files)
}

/// The largest tenant file read: settings, never megabytes.
const MAX_TENANT_FILE_BYTES: u64 = 1 << 20;

fn read_text(path: &Path) -> Result<String, ConfigError> {
    config::read_bounded(path, MAX_TENANT_FILE_BYTES)
        .map_err(|problem| ConfigError(format!("cannot read the tenants file {}: {problem}", path.display())))
}

fn origin(path: &Path, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("the tenant {name} in {}", path.display()),
        None => format!("the tenants file {}", path.display()),
    }
}

/// One tenant from its table: the poll keys split off, the rest `--config`'s.
fn tenant(
    mut table: toml::Table,
    file_name: Option<String>,
    path: &Path,
    text: &str,
) -> Result<TenantSpec, ConfigError> {
    let mut poll_table = toml::Table::new();
    for key in POLL_KEYS {
        if let Some(value) = table.remove(*key) {
            poll_table.insert((*key).to_owned(), value);
        }
    }
    let poll: PollSettings = config::from_table(poll_table, &origin(path, None))?;
    let name = match (&file_name, &poll.name) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(format!(
                "{}: `name` is for [[tenant]] tables; a tenant file's name is its file name",
                path.display()
            )))
        }
        (Some(name), None) | (None, Some(name)) => name.clone(),
        (None, None) => return Err(ConfigError(format!("{}: a [[tenant]] table needs a `name`", path.display()))),
    };
    check_name(&name)
        .map_err(|problem| ConfigError(format!("{}: the tenant name {name:?} {problem}", path.display())))?;
    let connection: FileConfig = config::from_table(table, &origin(path, Some(&name)))?;
    if poll.max_events == Some(0) {
        return Err(ConfigError(format!("{}: max_events must be at least 1", origin(path, Some(&name)))));
    }
    if poll.interval_seconds == Some(0) {
        return Err(ConfigError(format!("{}: interval_seconds must be at least 1", origin(path, Some(&name)))));
    }
    let fingerprint = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(TenantSpec { name, connection, poll, fingerprint, source: path.to_owned() })
}

/// Names become file names (cursors) and metric labels: letters, digits,
/// `.`, `_` and `-`, at most 64, not starting with a dot.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if name.starts_with('.') {
        return Err("must not start with a dot");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err("may hold only letters, digits, '.', '_' and '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str =
        "tenant_id = \"contoso.onmicrosoft.com\"\nclient_id = \"5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b\"\n\
        client_secret_file = \"/run/secrets/contoso\"\nsubscription_id = \"d0cfe6b2-9ac0-4464-9919-dccaee2e48c0\"\n\
        resource_group = \"rg\"\nworkspace_name = \"ws\"\npollers = [\"sentinel\", \"graph\"]\ninterval_seconds = 30\n";

    #[test]
    fn a_directory_gives_one_tenant_per_file_named_by_its_stem() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("contoso.toml"), TENANT).unwrap();
        std::fs::write(dir.path().join(".contoso.toml.swp"), "junk").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "junk").unwrap();
        let scan = scan(dir.path()).unwrap();
        assert!(scan.invalid.is_empty(), "{:?}", scan.invalid);
        let contoso = &scan.tenants["contoso"];
        assert_eq!(contoso.pollers(), vec![PollerKind::Sentinel, PollerKind::Graph]);
        assert_eq!(contoso.interval(Duration::from_secs(60)), Duration::from_secs(30));
        assert_eq!(contoso.connection.client_secret_file.as_deref(), Some(Path::new("/run/secrets/contoso")));
        assert!(contoso.connection.client_secret.is_none(), "the secret file is read when the session opens");
    }

    #[test]
    fn one_file_of_tenant_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tenants.toml");
        let body = TENANT.replace("pollers", "name = \"contoso\"\npollers");
        std::fs::write(
            &path,
            format!("[[tenant]]\n{body}\n[[tenant]]\n{}", body.replace("contoso\"\n", "fabrikam\"\n")),
        )
        .unwrap();
        let scan = scan(&path).unwrap();
        assert!(scan.invalid.is_empty(), "{:?}", scan.invalid);
        assert_eq!(scan.tenants.keys().collect::<Vec<_>>(), ["contoso", "fabrikam"]);
    }

    #[test]
    fn a_bad_file_is_reported_and_the_others_still_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.toml"), TENANT).unwrap();
        std::fs::write(dir.path().join("typo.toml"), format!("{TENANT}worksapce = \"x\"\n")).unwrap();
        std::fs::write(dir.path().join("zero.toml"), TENANT.replace("= 30", "= 0")).unwrap();
        std::fs::write(dir.path().join("bad name!.toml"), TENANT).unwrap();
        let scan = scan(dir.path()).unwrap();
        assert_eq!(scan.tenants.keys().collect::<Vec<_>>(), ["good"]);
        let problems: Vec<String> = scan.invalid.iter().map(|(place, e)| format!("{place}: {e}")).collect();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("worksapce")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("interval_seconds must be at least 1")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("may hold only letters")), "{problems:?}");
    }

    #[test]
    fn a_secret_is_never_quoted_in_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.toml"), "client_secret = [\"Abc8Q~hunter2-secret\"]\n").unwrap();
        let scan = scan(dir.path()).unwrap();
        let message = scan.invalid[0].1.to_string();
        assert!(message.contains("client_secret") && !message.contains("hunter2"), "{message}");
    }

    #[test]
    fn the_fingerprint_follows_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, TENANT).unwrap();
        let before = scan(dir.path()).unwrap().tenants["t"].fingerprint.clone();
        std::fs::write(&path, TENANT.replace("= 30", "= 31")).unwrap();
        assert_ne!(scan(dir.path()).unwrap().tenants["t"].fingerprint, before);
    }
}
