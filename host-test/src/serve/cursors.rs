//! Where a service keeps each tenant's cursors. The embedded default is a
//! directory: `<tenant>.<poller>.cursor` files written as `poll --state`
//! writes its file (whole or not at all, 0600), under one lock, `serve.lock`,
//! held for the service's life, so two services never share a directory.
//! A fleet keeps them in JetStream instead (`fleet`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fleet::{CommitError, Fleet, KvHeld};
use super::tenants::PollerKind;
use crate::cli::poll::{lock_state, read_state, save_state};

/// A directory of cursors, locked by this service.
pub struct DirCursors {
    dir: PathBuf,
    _lock: fs::File,
}

impl DirCursors {
    /// Creates the directory (0700) if need be and takes its lock; fails if
    /// another service holds it.
    pub fn open(dir: &Path) -> Result<DirCursors, String> {
        create_private_dir(dir).map_err(|e| format!("cannot create the state directory {}: {e}", dir.display()))?;
        let lock = lock_state(&dir.join("serve"))
            .map_err(|failure| format!("{} (one `sentinel serve` per state directory)", failure.message))?;
        Ok(DirCursors { dir: dir.to_owned(), _lock: lock })
    }

    fn path(&self, tenant: &str, poller: PollerKind) -> PathBuf {
        // Tenant names are checked to be plain file names (tenants::check_name).
        self.dir.join(format!("{tenant}.{}.cursor", poller.name()))
    }

    /// The saved cursor, if any.
    pub fn load(&self, tenant: &str, poller: PollerKind) -> Result<Option<String>, String> {
        read_state(&self.path(tenant, poller)).map_err(|failure| failure.message)
    }

    /// Replaces the cursor, durably: called only after the sink acknowledged
    /// the batch the cursor follows.
    pub fn save(&self, tenant: &str, poller: PollerKind, cursor: &str) -> Result<(), String> {
        let path = self.path(tenant, poller);
        save_state(&path, cursor).map_err(|e| format!("cannot save the cursor to {}: {e}", path.display()))
    }
}

/// Where cursors are kept: a locked directory (one machine) or the fleet's
/// key-value bucket (JetStream).
pub enum Cursors {
    /// `<tenant>.<poller>.cursor` files.
    Dir(DirCursors),
    /// The fleet's `sentinel_cursors` bucket, committed by compare-and-set.
    Fleet(Arc<Fleet>),
}

/// A cursor as its tenant task holds it between commits.
#[derive(Clone, Debug, Default)]
pub struct Held {
    /// Where the next poll starts; `None` before the first batch.
    pub cursor: Option<String>,
    /// The fleet's revision to commit on.
    kv: Option<KvHeld>,
}

/// Why a cursor could not be claimed or saved.
pub enum SaveError {
    /// Another worker owns the tenant now: stop it at once.
    Lost,
    /// The store failed; retry later.
    Failed(String),
}

impl From<CommitError> for SaveError {
    fn from(error: CommitError) -> Self {
        match error {
            CommitError::Lost => SaveError::Lost,
            CommitError::Failed(message) => SaveError::Failed(message),
        }
    }
}

impl Cursors {
    /// The cursor this task starts from; in a fleet, claimed (so a former
    /// owner can no longer commit).
    pub async fn claim(&self, tenant: &str, poller: PollerKind) -> Result<Held, SaveError> {
        match self {
            Cursors::Dir(dir) => Ok(Held { cursor: dir.load(tenant, poller).map_err(SaveError::Failed)?, kv: None }),
            Cursors::Fleet(fleet) => {
                let (cursor, kv) = fleet.claim_cursor(tenant, poller).await?;
                Ok(Held { cursor, kv: Some(kv) })
            }
        }
    }

    /// Saves the cursor that follows a delivered batch.
    pub async fn save(
        &self,
        tenant: &str,
        poller: PollerKind,
        held: &mut Held,
        cursor: &str,
        watermark: &str,
    ) -> Result<(), SaveError> {
        match (self, &mut held.kv) {
            (Cursors::Fleet(fleet), Some(kv)) => fleet.commit_cursor(tenant, poller, kv, cursor, watermark).await?,
            (Cursors::Fleet(_), None) => return Err(SaveError::Lost),
            (Cursors::Dir(dir), _) => dir.save(tenant, poller, cursor).map_err(SaveError::Failed)?,
        }
        held.cursor = Some(cursor.to_owned());
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_per_tenant_and_poller() {
        let dir = tempfile::tempdir().unwrap();
        let cursors = DirCursors::open(dir.path()).unwrap();
        assert_eq!(cursors.load("contoso", PollerKind::Sentinel).unwrap(), None);
        cursors.save("contoso", PollerKind::Sentinel, "sp1.a").unwrap();
        cursors.save("contoso", PollerKind::Graph, "gp1.b").unwrap();
        assert_eq!(cursors.load("contoso", PollerKind::Sentinel).unwrap().as_deref(), Some("sp1.a"));
        assert_eq!(cursors.load("contoso", PollerKind::Graph).unwrap().as_deref(), Some("gp1.b"));
    }

    #[test]
    fn a_second_service_on_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = DirCursors::open(dir.path()).unwrap();
        let second = DirCursors::open(dir.path()).err().unwrap();
        assert!(second.contains("one `sentinel serve` per state directory"), "{second}");
    }
}
