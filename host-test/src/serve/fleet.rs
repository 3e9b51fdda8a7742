//! A fleet of services on NATS JetStream (`sentinel serve --nats URL`):
//! workers share the tenants through JetStream's own primitives, no
//! coordination protocol of ours.
//!
//! - **Leases**: a key-value bucket whose `max_age` is the lease TTL. A
//!   worker takes a tenant with `create` (only if no live lease), renews it
//!   with `update` on the revision it holds (compare-and-set), and gives it
//!   up with a delete on that revision. A worker that dies stops renewing,
//!   the key ages out, and another worker's `create` takes it.
//! - **Workers**: a bucket of heartbeats with the same `max_age`; a worker
//!   takes free leases up to its share, the tenants divided by the workers
//!   alive, and gives back what is over it.
//! - **Cursors**: a bucket without an age, one key per tenant and poller,
//!   written with `update` on the revision the owner last read or wrote. A
//!   new owner first writes the key (the same cursor) on the revision it
//!   read, so the old owner's next commit fails and it stops that tenant at
//!   once: a worker that lost its lease cannot commit a cursor.
//! - **Events**: a stream on `sentinel.events.<tenant>`, each message's
//!   `Nats-Msg-Id` the event's idempotency key (tenant, poller, incident,
//!   version, kind): a batch published again after a takeover is stored
//!   once, as long as it comes within the stream's `duplicate_window`, which
//!   is at least the lease TTL plus the longest batch.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::sink::Envelope;
use super::tenants::PollerKind;

/// The fleet's names in JetStream.
pub const LEASES_BUCKET: &str = "sentinel_leases";
/// Heartbeats of the live workers.
pub const WORKERS_BUCKET: &str = "sentinel_workers";
/// Cursors, per tenant and poller.
pub const CURSORS_BUCKET: &str = "sentinel_cursors";
/// The events stream and its subjects.
pub const EVENTS_STREAM: &str = "SENTINEL_EVENTS";
/// `sentinel.events.<tenant>`.
pub const EVENTS_SUBJECT_PREFIX: &str = "sentinel.events";

/// Cursor revisions kept, so an operator (and the fleet test) can read a
/// key's history and see it only ever moved forward.
const CURSOR_HISTORY: i64 = 64;

/// How the fleet is set up.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// `nats://host:port`.
    pub url: String,
    /// This worker's id (unique in the fleet).
    pub worker: String,
    /// A lease lives this long without renewal.
    pub lease_ttl: Duration,
    /// The events stream's de-duplication window.
    pub duplicate_window: Duration,
}

/// A connected worker: its buckets and stream.
pub struct Fleet {
    js: jetstream::Context,
    leases: kv::Store,
    workers: kv::Store,
    cursors: kv::Store,
    options: FleetOptions,
}

/// What a lease key holds: who owns it (for people reading the bucket).
#[derive(Serialize, Deserialize)]
struct LeaseValue<'a> {
    worker: &'a str,
}

/// What a cursor key holds.
#[derive(Serialize, Deserialize)]
pub struct CursorValue {
    /// The poller's cursor; `None` before the first batch.
    pub cursor: Option<String>,
    /// The batch's watermark (RFC 3339): never goes backwards.
    pub watermark: Option<String>,
    /// The worker that wrote it.
    pub worker: String,
}

/// The revision of a cursor key its owner commits on next.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvHeld {
    revision: u64,
}

/// Why a commit failed.
pub enum CommitError {
    /// Someone else wrote the key: this worker no longer owns the tenant.
    Lost,
    /// JetStream did not answer or refused otherwise.
    Failed(String),
}

fn failed(what: &str) -> impl Fn(&dyn std::fmt::Display) -> String + '_ {
    move |error| format!("JetStream: {what}: {error}")
}

impl Fleet {
    /// Connects, and creates the buckets and stream if they are missing
    /// (every worker may: creating an existing one with the same settings
    /// is a no-op).
    pub async fn connect(options: FleetOptions) -> Result<Fleet, String> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("sentinel-serve {}", options.worker))
            .connect(options.url.as_str())
            .await
            .map_err(|e| format!("cannot connect to NATS at {}: {e}", without_credentials(&options.url)))?;
        let js = jetstream::new(client);
        let bucket = |name: &str, max_age: Duration, history: i64| kv::Config {
            bucket: name.to_owned(),
            history,
            max_age,
            ..kv::Config::default()
        };
        let leases = create_bucket(&js, bucket(LEASES_BUCKET, options.lease_ttl, 1)).await?;
        let workers = create_bucket(&js, bucket(WORKERS_BUCKET, options.lease_ttl, 1)).await?;
        let cursors = create_bucket(&js, bucket(CURSORS_BUCKET, Duration::ZERO, CURSOR_HISTORY)).await?;
        js.get_or_create_stream(stream::Config {
            name: EVENTS_STREAM.to_owned(),
            subjects: vec![format!("{EVENTS_SUBJECT_PREFIX}.>")],
            duplicate_window: options.duplicate_window,
            ..stream::Config::default()
        })
        .await
        .map_err(|e| failed("the events stream")(&e))?;
        Ok(Fleet { js, leases, workers, cursors, options })
    }

    /// This worker's id.
    pub fn worker(&self) -> &str {
        &self.options.worker
    }

    /// How long a lease lives unrenewed.
    pub fn lease_ttl(&self) -> Duration {
        self.options.lease_ttl
    }

    /// Says this worker is alive (before its lease TTL runs out).
    pub async fn heartbeat(&self) -> Result<(), String> {
        self.workers
            .put(&self.options.worker, Bytes::from_static(b"alive"))
            .await
            .map(|_| ())
            .map_err(|e| failed("heartbeat")(&e))
    }

    /// Workers alive now (this one included).
    pub async fn live_workers(&self) -> Result<usize, String> {
        Ok(all_keys(&self.workers).await?.len().max(1))
    }

    /// Takes the tenant if no live lease exists; the revision it holds.
    pub async fn take_lease(&self, tenant: &str) -> Result<Option<u64>, String> {
        let value = serde_json::to_vec(&LeaseValue { worker: &self.options.worker }).unwrap_or_default();
        match self.leases.create(tenant, Bytes::from(value)).await {
            Ok(revision) => Ok(Some(revision)),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(error) => Err(failed("take a lease")(&error)),
        }
    }

    /// Renews a lease on the revision held; `None` if it was lost (expired
    /// and taken, or deleted).
    pub async fn renew_lease(&self, tenant: &str, revision: u64) -> Result<Option<u64>, String> {
        let value = serde_json::to_vec(&LeaseValue { worker: &self.options.worker }).unwrap_or_default();
        match self.leases.update(tenant, Bytes::from(value), revision).await {
            Ok(revision) => Ok(Some(revision)),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
            Err(error) => Err(failed("renew a lease")(&error)),
        }
    }

    /// Gives a lease back (its revision must still be ours).
    pub async fn release_lease(&self, tenant: &str, revision: u64) {
        if let Err(error) = self.leases.delete_expect_revision(tenant, Some(revision)).await {
            tracing::warn!(tenant, error = %error, "could not give the lease back; it will expire");
        }
    }

    /// Gives up the worker's heartbeat (a graceful stop).
    pub async fn leave(&self) {
        let _ = self.workers.delete(&self.options.worker).await;
    }

    /// The tenant's cursor, claimed for this worker: the key is written
    /// again on the revision read (created if absent), so whoever owned it
    /// before can no longer commit.
    pub async fn claim_cursor(
        &self,
        tenant: &str,
        poller: PollerKind,
    ) -> Result<(Option<String>, KvHeld), CommitError> {
        let key = cursor_key(tenant, poller);
        let entry =
            self.cursors.entry(key.as_str()).await.map_err(|e| CommitError::Failed(failed("read a cursor")(&e)))?;
        let (current, read_revision) = match entry {
            Some(entry) if entry.operation == kv::Operation::Put => {
                let value: CursorValue = serde_json::from_slice(&entry.value)
                    .map_err(|e| CommitError::Failed(format!("the cursor {key} is not ours: {e}")))?;
                (value, Some(entry.revision))
            }
            _ => (CursorValue { cursor: None, watermark: None, worker: String::new() }, None),
        };
        let fenced = CursorValue { worker: self.options.worker.clone(), ..current };
        let bytes = Bytes::from(serde_json::to_vec(&fenced).unwrap_or_default());
        let revision = match read_revision {
            Some(revision) => self.cursors.update(key.as_str(), bytes, revision).await.map_err(update_error)?,
            None => self.cursors.create(key.as_str(), bytes).await.map_err(|error| match error.kind() {
                kv::CreateErrorKind::AlreadyExists => CommitError::Lost,
                _ => CommitError::Failed(failed("create a cursor")(&error)),
            })?,
        };
        Ok((fenced.cursor, KvHeld { revision }))
    }

    /// Commits a cursor on the revision held.
    pub async fn commit_cursor(
        &self,
        tenant: &str,
        poller: PollerKind,
        held: &mut KvHeld,
        cursor: &str,
        watermark: &str,
    ) -> Result<(), CommitError> {
        let value = CursorValue {
            cursor: Some(cursor.to_owned()),
            watermark: Some(watermark.to_owned()),
            worker: self.options.worker.clone(),
        };
        let bytes = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        held.revision = self
            .cursors
            .update(cursor_key(tenant, poller).as_str(), bytes, held.revision)
            .await
            .map_err(update_error)?;
        Ok(())
    }

    /// Publishes a batch and waits for every acknowledgement; duplicates
    /// (the same `Nats-Msg-Id` within the window) are acknowledged and not
    /// stored again.
    pub async fn publish(&self, batch: &[Envelope<'_>]) -> Result<(), String> {
        let mut acks = Vec::with_capacity(batch.len());
        for envelope in batch {
            let subject = format!("{EVENTS_SUBJECT_PREFIX}.{}", envelope.tenant);
            let payload = Bytes::from(serde_json::to_vec(envelope).map_err(|e| e.to_string())?);
            let message =
                jetstream::message::PublishMessage::build().payload(payload).message_id(&envelope.idempotency_key);
            acks.push(self.js.send_publish(subject, message).await.map_err(|e| failed("publish")(&e))?);
        }
        let mut duplicates = 0;
        for ack in acks {
            duplicates += usize::from(ack.await.map_err(|e| failed("publish acknowledgement")(&e))?.duplicate);
        }
        if duplicates > 0 {
            // Published before by a worker that died before its commit.
            tracing::info!(tenant = batch[0].tenant, duplicates, "JetStream already had these events; stored once");
        }
        Ok(())
    }
}

/// A NATS URL fit to show: its user and password (or token) left out.
fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "the --nats URL".into(),
    }
}

/// One tenant poller of the fleet as its buckets show it: who holds the
/// tenant's lease now, and its cursor's last commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetRow {
    /// The tenant.
    pub tenant: String,
    /// Its poller.
    pub poller: String,
    /// The worker holding the lease; `None`: no live lease (being taken over).
    pub owner: Option<String>,
    /// The watermark of the last committed batch.
    pub watermark: Option<String>,
    /// The worker that committed it.
    pub committed_by: String,
}

/// The whole fleet's state, read from its buckets (what `sentinel serve
/// status --nats URL` prints): every cursor, beside its tenant's lease.
pub async fn fleet_status(url: &str) -> Result<Vec<FleetRow>, String> {
    let client = async_nats::connect(url)
        .await
        .map_err(|e| format!("cannot connect to NATS at {}: {e}", without_credentials(url)))?;
    let js = jetstream::new(client);
    let leases = js.get_key_value(LEASES_BUCKET).await.map_err(|e| failed("the leases bucket")(&e))?;
    let cursors = js.get_key_value(CURSORS_BUCKET).await.map_err(|e| failed("the cursors bucket")(&e))?;
    let mut owners = BTreeMap::new();
    for key in all_keys(&leases).await? {
        if let Ok(Some(entry)) = leases.entry(key.as_str()).await {
            let worker = serde_json::from_slice::<serde_json::Value>(&entry.value)
                .ok()
                .and_then(|value| value["worker"].as_str().map(str::to_owned));
            owners.insert(key, worker);
        }
    }
    let mut rows = Vec::new();
    for key in all_keys(&cursors).await? {
        let Some((tenant, poller)) = key.rsplit_once('.') else { continue };
        let Ok(Some(entry)) = cursors.entry(key.as_str()).await else { continue };
        let Ok(value) = serde_json::from_slice::<CursorValue>(&entry.value) else { continue };
        rows.push(FleetRow {
            tenant: tenant.to_owned(),
            poller: poller.to_owned(),
            owner: owners.get(tenant).cloned().flatten(),
            watermark: value.watermark,
            committed_by: value.worker,
        });
    }
    rows.sort_by(|a, b| (&a.tenant, &a.poller).cmp(&(&b.tenant, &b.poller)));
    Ok(rows)
}

async fn all_keys(store: &kv::Store) -> Result<Vec<String>, String> {
    let mut keys = store.keys().await.map_err(|e| failed("list keys")(&e))?;
    let mut all = Vec::new();
    while let Some(key) = keys.next().await {
        all.push(key.map_err(|e| failed("list keys")(&e))?);
    }
    Ok(all)
}

fn update_error(error: kv::UpdateError) -> CommitError {
    match error.kind() {
        kv::UpdateErrorKind::WrongLastRevision => CommitError::Lost,
        _ => CommitError::Failed(failed("commit a cursor")(&error)),
    }
}

async fn create_bucket(js: &jetstream::Context, config: kv::Config) -> Result<kv::Store, String> {
    let name = config.bucket.clone();
    match js.get_key_value(name.as_str()).await {
        Ok(store) => Ok(store),
        Err(_) => js.create_key_value(config).await.map_err(|e| failed(&name)(&e)),
    }
}

/// `<tenant>.<poller>` (tenant names are checked to be valid key tokens).
pub fn cursor_key(tenant: &str, poller: PollerKind) -> String {
    format!("{tenant}.{}", poller.name())
}

/// The leases this worker holds, and what a scan decides.
#[derive(Default)]
pub struct Leases {
    held: BTreeMap<String, u64>,
}

/// What changed in this worker's share after a scan.
#[derive(Debug, Default)]
pub struct LeaseChanges {
    /// Lost to another worker (or expired): stop these at once.
    pub lost: Vec<String>,
    /// Over this worker's share: stop gracefully, then give back.
    pub surplus: Vec<String>,
}

impl Leases {
    /// Tenants this worker holds a lease on.
    pub fn held(&self) -> BTreeSet<String> {
        self.held.keys().cloned().collect()
    }

    /// Renews what is held, drops leases of tenants no longer in the files,
    /// and takes free ones up to this worker's share. `order` spreads which
    /// free tenants each worker tries first.
    pub async fn scan(&mut self, fleet: &Fleet, tenants: &BTreeSet<String>) -> Result<LeaseChanges, String> {
        fleet.heartbeat().await?;
        let mut changes = LeaseChanges::default();
        for (tenant, revision) in std::mem::take(&mut self.held) {
            match fleet.renew_lease(&tenant, revision).await {
                Ok(Some(renewed)) => {
                    self.held.insert(tenant, renewed);
                }
                Ok(None) => changes.lost.push(tenant),
                // Not known to be lost: kept, and renewed again next scan
                // (or found lost then).
                Err(error) => {
                    tracing::warn!(tenant = %tenant, error = %error, "could not renew a lease; trying again");
                    self.held.insert(tenant, revision);
                }
            }
        }
        let share = tenants.len().div_ceil(fleet.live_workers().await?);
        changes.surplus = surplus(self.held.keys(), tenants, share);
        let mut owned = self.held.len() - changes.surplus.len();
        let mut candidates: Vec<&String> = tenants.iter().filter(|t| !self.held.contains_key(*t)).collect();
        // Each worker starts at a different place, so free tenants spread.
        let start = spread(fleet.worker(), candidates.len());
        candidates.rotate_left(start);
        for tenant in candidates {
            if owned >= share {
                break;
            }
            if let Some(revision) = fleet.take_lease(tenant).await? {
                tracing::info!(tenant = %tenant, worker = fleet.worker(), "lease taken");
                self.held.insert(tenant.clone(), revision);
                owned += 1;
            }
        }
        Ok(changes)
    }

    /// Gives a tenant's lease back (after its task stopped).
    pub async fn release(&mut self, fleet: &Fleet, tenant: &str) {
        if let Some(revision) = self.held.remove(tenant) {
            fleet.release_lease(tenant, revision).await;
            tracing::info!(tenant, worker = fleet.worker(), "lease given back");
        }
    }

    /// Forgets a lease without giving it back (it was lost).
    pub fn forget(&mut self, tenant: &str) {
        self.held.remove(tenant);
    }
}

/// Of the tenants held, those to give back: every one no longer in the
/// files, and of the rest, the last ones over this worker's share.
fn surplus<'a>(held: impl Iterator<Item = &'a String>, tenants: &BTreeSet<String>, share: usize) -> Vec<String> {
    let (kept, removed): (Vec<&String>, Vec<&String>) = held.partition(|tenant| tenants.contains(*tenant));
    let over = kept.len().saturating_sub(share);
    removed.into_iter().chain(kept.into_iter().rev().take(over)).cloned().collect()
}

fn spread(worker: &str, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(worker.as_bytes());
    (u64::from_be_bytes(digest[..8].try_into().unwrap_or_default()) % len as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_tenant_is_given_back_without_counting_against_the_share() {
        let names = |list: &[&str]| list.iter().map(|name| (*name).to_owned()).collect::<BTreeSet<String>>();
        let held = names(&["a", "b", "c", "gone"]);
        let tenants = names(&["a", "b", "c", "d", "e", "f"]);
        // A share of 3: only the removed tenant goes back, not "c" as well.
        assert_eq!(surplus(held.iter(), &tenants, 3), ["gone"]);
        // A worker joined (a share of 2): the last one held goes too.
        assert_eq!(surplus(held.iter(), &tenants, 2), ["gone", "c"]);
        assert!(surplus(held.iter(), &names(&["a", "b", "c", "gone"]), 4).is_empty());
    }

    #[test]
    fn a_nats_url_is_shown_without_its_credentials() {
        let shown = without_credentials("nats://svc:hunter2-password@nats.internal:4222");
        assert_eq!(shown, "nats://nats.internal:4222");
        assert_eq!(without_credentials("nats://token-abc123@nats:4222"), "nats://nats:4222");
        assert!(!without_credentials("not a url hunter2").contains("hunter2"));
    }
}
