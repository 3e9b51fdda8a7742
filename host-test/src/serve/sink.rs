//! Where a service delivers events: NDJSON on stdout (the default) or an
//! HTTP webhook. A delivery returns only once the sink has the batch
//! (flushed, or answered 2xx); the caller saves the cursor after that, and
//! not otherwise, so a failed delivery is retried from the same cursor and
//! nothing is lost. A batch delivered twice (a crash between delivery and
//! the save) carries the same idempotency keys, so a receiver can drop the
//! second copy.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::tenants::PollerKind;
use crate::cli::poll::Rendered;
use crate::runtime::types::EventKind;

/// One event as a sink receives it: the poller's JSON line, with whose it is
/// and the key that identifies it.
#[derive(Serialize)]
pub struct Envelope<'a> {
    /// The tenant's name in the service.
    pub tenant: &'a str,
    /// `sentinel` or `graph`.
    pub poller: &'static str,
    /// Hex SHA-256 (128 bits) of tenant, poller, incident, version and kind:
    /// the same event always has the same key.
    pub idempotency_key: String,
    /// The poller's own line (`event`, `incident`, ...), its keys beside these.
    #[serde(flatten)]
    pub event: &'a serde_json::Value,
}

/// The key of one event: tenant, poller, incident, version and kind, so an
/// incident's `created` and a later `updated` differ, and a re-delivery of
/// either does not.
pub fn idempotency_key(tenant: &str, poller: PollerKind, event: &Rendered) -> String {
    let mut digest = Sha256::new();
    for part in [tenant, poller.name(), &event.incident_id, &event.version, crate::cli::poll::event_name(event.kind)] {
        // Length-prefixed, so no two tuples run together into one string.
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    hex::encode(&digest.finalize()[..16])
}

/// The envelopes of a batch, in order.
pub fn envelopes<'a>(tenant: &'a str, poller: PollerKind, events: &'a [Rendered]) -> Vec<Envelope<'a>> {
    events
        .iter()
        .map(|event| Envelope {
            tenant,
            poller: poller.name(),
            idempotency_key: idempotency_key(tenant, poller, event),
            event: &event.line,
        })
        .collect()
}

/// Where events go.
pub enum Sink {
    /// One JSON object per line on stdout, flushed before the cursor moves.
    Stdout(tokio::sync::Mutex<tokio::io::Stdout>),
    /// POSTed in batches to an HTTP endpoint.
    Webhook(Webhook),
    /// Published to the fleet's stream, `sentinel.events.<tenant>`.
    JetStream(std::sync::Arc<super::fleet::Fleet>),
}

impl Sink {
    /// The default: NDJSON on stdout.
    pub fn stdout() -> Sink {
        Sink::Stdout(tokio::sync::Mutex::new(tokio::io::stdout()))
    }

    /// Its name in logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Sink::Stdout(_) => "stdout",
            Sink::Webhook(_) => "webhook",
            Sink::JetStream(_) => "jetstream",
        }
    }

    /// Delivers a batch; `Ok` once the sink has all of it.
    pub async fn deliver(&self, batch: &[Envelope<'_>]) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        match self {
            Sink::Stdout(out) => {
                let mut lines = Vec::with_capacity(batch.len() * 512);
                for envelope in batch {
                    serde_json::to_writer(&mut lines, envelope).map_err(|e| format!("cannot render an event: {e}"))?;
                    lines.push(b'\n');
                }
                let mut out = out.lock().await;
                let written = async {
                    out.write_all(&lines).await?;
                    out.flush().await
                };
                written.await.map_err(|e| format!("cannot write events to stdout: {e}"))
            }
            Sink::Webhook(webhook) => webhook.post(batch).await,
            Sink::JetStream(fleet) => fleet.publish(batch).await,
        }
    }
}

/// An HTTP endpoint that takes `{"events": [...]}` by POST and answers 2xx
/// once it has them. Each POST carries `Idempotency-Key` (a digest of its
/// events' keys); each event its own `idempotency_key`.
pub struct Webhook {
    url: hyper::Uri,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// Tries within one delivery before the tenant backs off (and the batch is
/// polled again from the same cursor).
const WEBHOOK_ATTEMPTS: u32 = 3;

impl Webhook {
    /// A webhook at `url` (http or https), trusting `tls`'s roots.
    pub fn new(url: &str, tls: rustls::ClientConfig, timeout: Duration) -> Result<Webhook, String> {
        // Never echoed: a webhook URL may carry a password or a token.
        let parsed = url::Url::parse(url).map_err(|e| format!("--webhook-url is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--webhook-url must be http or https, not {}", parsed.scheme()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("--webhook-url carries a user or password, which would not be sent; put the receiver's token in its path or query".into());
        }
        let url: hyper::Uri = parsed.as_str().parse().map_err(|e| format!("--webhook-url: {e}"))?;
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Webhook { url, client, timeout })
    }

    async fn post(&self, batch: &[Envelope<'_>]) -> Result<(), String> {
        #[derive(Serialize)]
        struct Body<'a> {
            events: &'a [Envelope<'a>],
        }
        let body = Bytes::from(serde_json::to_vec(&Body { events: batch }).map_err(|e| e.to_string())?);
        let mut digest = Sha256::new();
        for envelope in batch {
            digest.update(envelope.idempotency_key.as_bytes());
        }
        let batch_key = hex::encode(&digest.finalize()[..16]);
        let mut last_error = String::new();
        for attempt in 0..WEBHOOK_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500) * 2u32.pow(attempt - 1)).await;
            }
            match tokio::time::timeout(self.timeout, self.send(body.clone(), &batch_key)).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => last_error = error,
                Err(_) => last_error = format!("no answer within {:?}", self.timeout),
            }
        }
        Err(format!("the webhook did not take the batch after {WEBHOOK_ATTEMPTS} tries: {last_error}"))
    }

    async fn send(&self, body: Bytes, batch_key: &str) -> Result<(), String> {
        let request = hyper::Request::post(self.url.clone())
            .header("content-type", "application/json")
            .header("idempotency-key", batch_key)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| format!("{e}"))?;
        let status = response.status();
        // Read (and drop) a bounded answer so the connection can be reused.
        let _ = http_body_util::Limited::new(response.into_body(), 64 * 1024).collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("it answered {status}"))
        }
    }
}

/// The kinds of events in a batch, for counting.
pub fn kinds(events: &[Rendered]) -> impl Iterator<Item = EventKind> + '_ {
    events.iter().map(|event| event.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, version: &str) -> Rendered {
        Rendered::new(kind, "incident-1", Some(version), &serde_json::json!({"event": "x"}))
    }

    #[test]
    fn the_key_tells_apart_tenant_poller_version_and_kind_and_nothing_else() {
        let created = event(EventKind::Created, "v1");
        let key = idempotency_key("contoso", PollerKind::Sentinel, &created);
        assert_eq!(key.len(), 32);
        assert_eq!(key, idempotency_key("contoso", PollerKind::Sentinel, &event(EventKind::Created, "v1")));
        assert_ne!(key, idempotency_key("fabrikam", PollerKind::Sentinel, &created));
        assert_ne!(key, idempotency_key("contoso", PollerKind::Graph, &created));
        assert_ne!(key, idempotency_key("contoso", PollerKind::Sentinel, &event(EventKind::Created, "v2")));
        assert_ne!(key, idempotency_key("contoso", PollerKind::Sentinel, &event(EventKind::Updated, "v1")));
        // Length prefixes: moving a character between parts changes the key.
        assert_ne!(
            idempotency_key("ab", PollerKind::Sentinel, &created),
            idempotency_key("a", PollerKind::Sentinel, &created)
        );
    }

    #[test]
    fn an_envelope_is_the_event_with_tenant_poller_and_key() {
        let events = [event(EventKind::Created, "v1")];
        let line = serde_json::to_value(&envelopes("contoso", PollerKind::Graph, &events)[0]).unwrap();
        assert_eq!(line["tenant"], "contoso");
        assert_eq!(line["poller"], "graph");
        assert_eq!(line["event"], "x");
        assert_eq!(line["idempotency_key"].as_str().unwrap().len(), 32);
    }
}
