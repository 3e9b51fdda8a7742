//! `sentinel serve`: the service's flags (the operator's), and `sentinel
//! serve status`, which prints a running service's tenants as a table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use comfy_table::Table;
use http_body_util::{BodyExt, Empty};

use super::output::Format;
use super::values::azure;
use super::{exit, print, Failure, Global};
use crate::runtime::budget::{Rate, RequestBudget};
use crate::runtime::egress::{EgressPolicy, PrivateNetwork};
use crate::runtime::sandbox::Origin;
use crate::runtime::{ConnectorHost, Limits};
use crate::serve::board::TenantStatus;
use crate::serve::fleet::FleetOptions;
use crate::serve::sink::{Sink, Webhook};
use crate::serve::{ServeOptions, SinkChoice};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    command: Option<ServeCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum ServeCommand {
    /// Print a running service's tenants: state, events, errors, lag, backoff.
    Status {
        /// The service's operations endpoint (its --ops).
        #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9464")]
        ops: String,
        /// Instead, the whole fleet from its JetStream buckets: every
        /// tenant's lease owner and last committed cursor.
        #[arg(long, value_name = "URL", conflicts_with = "ops")]
        nats: Option<String>,
    },
}

#[derive(Args, Debug)]
struct RunArgs {
    /// A directory of tenant TOML files (one per tenant: `--config`'s keys,
    /// plus pollers, interval_seconds, first_fetch, include_updates,
    /// max_events, look_back_seconds), or one file of [[tenant]] tables.
    /// Rescanned: changes are picked up without a restart.
    #[arg(long, value_name = "PATH")]
    tenants: Option<PathBuf>,
    /// Where cursors are kept on one machine (created 0700; one service per directory).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Where events go [default: stdout; with --nats, jetstream].
    #[arg(long, value_parser = azure::<SinkArg>())]
    sink: Option<SinkArg>,
    /// Run as one worker of a fleet on NATS JetStream (nats://host:port):
    /// tenants shared by leases, cursors in a key-value bucket, events
    /// published to `sentinel.events.<tenant>`. No --state.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// This worker's id in the fleet [default: worker-PID-RANDOM].
    #[arg(long, value_name = "ID")]
    worker_id: Option<String>,
    /// Seconds a worker's lease on a tenant lives without renewal; a dead
    /// worker's tenants are taken over after it (plus one --rescan).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..))]
    lease_ttl: u64,
    /// Seconds the events stream remembers a Nats-Msg-Id to drop a second
    /// copy; at least the lease TTL plus the longest batch [default: lease TTL + 120].
    #[arg(long, value_name = "SECONDS")]
    duplicate_window: Option<u64>,
    /// Test hook: SIGKILL this process after it delivered N batches, before
    /// the cursor of the Nth is saved (the fleet test's deterministic kill).
    #[arg(long, value_name = "N", hide = true)]
    test_kill_after_batches: Option<u64>,
    /// With --sink webhook: the URL batches are POSTed to.
    #[arg(long, value_name = "URL")]
    webhook_url: Option<String>,
    /// Where /healthz, /metrics and /status are served ("off": nowhere).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    ops: String,
    /// Polls in flight at once, across all tenants (1 to 1024).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,
    /// Seconds between a caught-up tenant's polls (±10% jitter), unless its file sets interval_seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// Where a tenant's first poll starts, unless its file sets first_fetch.
    #[arg(long, value_name = "TIME", default_value = "7d")]
    first_fetch: String,
    /// Seconds between rescans of --tenants.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    rescan: u64,
    /// An origin (scheme://host[:port]) tenants' custom clouds may use
    /// (repeatable). Without it tenants may name only Microsoft's clouds:
    /// a tenant's file never widens where the service connects.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// Sandboxed sessions open at once (each tenant holds one); sizes the instance pool.
    #[arg(long, value_name = "N", default_value_t = 2048)]
    max_sessions: u32,
    /// Requests a second each tenant may send, its pollers, detail fetches
    /// and actions together (bursts of twice as many).
    #[arg(long, value_name = "N", default_value_t = 20.0, value_parser = positive_rate)]
    tenant_rate: f64,
    /// Requests a second to one subscription's ARM, across its tenants
    /// (bursts of ten times as many: ARM's own read bucket is 250,
    /// refilled 25 a second). ARM's x-ms-ratelimit-remaining-subscription-*
    /// headers slow it further: what they report, less one second's worth,
    /// is the most this host uses, the rest left to the subscription's other clients.
    #[arg(long, value_name = "N", default_value_t = 25.0, value_parser = positive_rate)]
    subscription_rate: f64,
    /// Each tenant's wall-clock budget for one call, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    call_timeout: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SinkArg {
    /// NDJSON on stdout.
    Stdout,
    /// POST batches to --webhook-url.
    Webhook,
    /// Publish to the fleet's JetStream stream (needs --nats).
    Jetstream,
}

pub async fn run(global: &Global, args: ServeArgs) -> Result<(), Failure> {
    match args.command {
        Some(ServeCommand::Status { nats: Some(url), .. }) => fleet_status(&url, global.output).await,
        Some(ServeCommand::Status { ops, nats: None }) => status(&ops, global.output).await,
        None => serve(global, args.run).await,
    }
}

fn usage(message: String) -> Failure {
    Failure { code: exit::USAGE, message }
}

async fn serve(global: &Global, args: RunArgs) -> Result<(), Failure> {
    if global.config.is_some() || global.emulator.is_some() || global.auth.is_some() {
        return Err(usage(
            "serve takes each tenant's settings from --tenants; --config, --emulator and --auth are for one connection"
                .into(),
        ));
    }
    let tenants = args.tenants.clone().ok_or_else(|| usage("serve needs --tenants DIR (or FILE)".into()))?;
    let fleet = fleet_options(&args)?;
    if fleet.is_none() && args.state.is_none() {
        return Err(usage("serve needs --state DIR for the cursors (or --nats URL for a fleet)".into()));
    }
    if fleet.is_some() && args.state.is_some() {
        return Err(usage("a fleet keeps its cursors in JetStream: give --nats or --state, not both".into()));
    }
    let ops_addr = match args.ops.as_str() {
        "off" => None,
        text => Some(text.parse::<SocketAddr>().map_err(|e| usage(format!("--ops {text:?}: {e}")))?),
    };
    let mut host_options = global.host_options()?;
    host_options.egress = egress(global, &args.allow_origins)?;
    host_options.limits = Limits {
        max_sessions: args.max_sessions,
        call_timeout: Duration::from_secs(args.call_timeout),
        ..Limits::default()
    };
    host_options.request_budget = Some(Arc::new(RequestBudget::new(
        Rate { burst: args.tenant_rate * 2.0, per_second: args.tenant_rate },
        Rate { burst: args.subscription_rate * 10.0, per_second: args.subscription_rate },
        args.subscription_rate.ceil() as u32,
    )));
    let tls = match &host_options.extra_ca_pem {
        Some(pem) => crate::runtime::egress::tls_with_extra_roots(pem).map_err(usage)?,
        None => crate::runtime::egress::default_tls(),
    };
    let default_sink = if fleet.is_some() { SinkArg::Jetstream } else { SinkArg::Stdout };
    let sink = match (args.sink.unwrap_or(default_sink), &args.webhook_url, fleet.is_some()) {
        (SinkArg::Jetstream, None, true) => SinkChoice::FleetStream,
        (_, _, true) => return Err(usage("a fleet (--nats) delivers to its JetStream stream only".into())),
        (SinkArg::Jetstream, _, false) => return Err(usage("--sink jetstream needs --nats URL".into())),
        (SinkArg::Stdout, None, false) => SinkChoice::Given(Box::new(Sink::stdout())),
        (SinkArg::Webhook, Some(url), false) => {
            SinkChoice::Given(Box::new(Sink::Webhook(Webhook::new(url, tls, Duration::from_secs(30)).map_err(usage)?)))
        }
        (SinkArg::Webhook, None, false) => return Err(usage("--sink webhook needs --webhook-url".into())),
        (SinkArg::Stdout, Some(_), false) => return Err(usage("--webhook-url needs --sink webhook".into())),
    };
    start_logs();
    let host = ConnectorHost::new(host_options)?;
    let options = ServeOptions {
        tenants,
        state_dir: args.state,
        fleet,
        kill_after_batches: args.test_kill_after_batches,
        concurrency: usize::from(args.concurrency),
        interval: Duration::from_secs(args.interval),
        first_fetch: args.first_fetch,
        rescan: Duration::from_secs(args.rescan),
        ops_addr,
    };
    let ready = |addr: Option<SocketAddr>| {
        if let Some(addr) = addr {
            tracing::info!(ops = %format!("http://{addr}"), "serving /healthz, /metrics and /status");
        }
    };
    crate::serve::serve(host, sink, options, ready, shutdown_signal())
        .await
        .map_err(|message| Failure { code: exit::OTHER, message })
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 100_000.0 => Ok(rate),
        Ok(_) => Err("a rate is more than 0 and at most 100000 requests a second".into()),
        Err(error) => Err(error.to_string()),
    }
}

/// The fleet's settings, with --nats.
fn fleet_options(args: &RunArgs) -> Result<Option<FleetOptions>, Failure> {
    let Some(url) = &args.nats else { return Ok(None) };
    let lease_ttl = Duration::from_secs(args.lease_ttl);
    let duplicate_window = Duration::from_secs(args.duplicate_window.unwrap_or(args.lease_ttl + 120));
    if duplicate_window < lease_ttl {
        return Err(usage(format!(
            "--duplicate-window {} s is shorter than --lease-ttl {} s: a batch published again after a takeover would be stored twice",
            duplicate_window.as_secs(),
            lease_ttl.as_secs()
        )));
    }
    let worker = match &args.worker_id {
        Some(id) => id.clone(),
        None => {
            let random: String = uuid::Uuid::new_v4().simple().to_string().chars().take(8).collect();
            format!("worker-{}-{random}", std::process::id())
        }
    };
    Ok(Some(FleetOptions { url: url.clone(), worker, lease_ttl, duplicate_window }))
}

/// The operator's egress: Microsoft's clouds, and custom clouds only where
/// every endpoint is an --allow-origin.
fn egress(global: &Global, allow_origins: &[String]) -> Result<EgressPolicy, Failure> {
    let extra_origins = allow_origins
        .iter()
        .map(|text| {
            url::Url::parse(text)
                .ok()
                .and_then(|url| Origin::of_url(&url))
                .ok_or_else(|| usage(format!("--allow-origin {text:?} is not an origin such as https://host:port")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let private_network = if global.allow_private_network { PrivateNetwork::Allow } else { PrivateNetwork::Refuse };
    Ok(EgressPolicy { custom_clouds: false, extra_origins, private_network, ..EgressPolicy::default() })
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Structured logs: one JSON object per line on stderr (stdout carries
/// events). The service's own at info; its libraries' (the NATS client's
/// connection chatter) only from warnings up.
fn start_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("sentinel_host", tracing::Level::INFO)
        .with_default(tracing::Level::WARN);
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .with_span_list(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry().with(json).try_init();
}

async fn status(ops: &str, output: Option<Format>) -> Result<(), Failure> {
    let url = format!("{}/status", ops.trim_end_matches('/'));
    let uri: hyper::Uri = url.parse().map_err(|e| usage(format!("--ops {ops:?}: {e}")))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let unreachable = |e: String| Failure { code: exit::OTHER, message: format!("cannot read {url}: {e}") };
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(uri))
        .await
        .map_err(|_| unreachable("no answer in 10 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(unreachable(format!("it answered {}", response.status())));
    }
    let body = http_body_util::Limited::new(response.into_body(), 64 << 20)
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    let rows: Vec<TenantStatus> =
        serde_json::from_slice(&body).map_err(|e| unreachable(format!("not a status table: {e}")))?;
    print(match Format::detect(output) {
        Format::Json => super::output::to_json(&rows),
        Format::Table => status_table(&rows),
    });
    Ok(())
}

async fn fleet_status(url: &str, output: Option<Format>) -> Result<(), Failure> {
    let rows =
        crate::serve::fleet::fleet_status(url).await.map_err(|message| Failure { code: exit::OTHER, message })?;
    print(match Format::detect(output) {
        Format::Json => super::output::to_json(&rows),
        Format::Table => {
            let mut table = Table::new();
            table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
            table.set_header(["Tenant", "Poller", "Lease held by", "Watermark", "Committed by"]);
            for row in &rows {
                table.add_row([
                    super::output::safe_line(&row.tenant),
                    super::output::safe_line(&row.poller),
                    row.owner.as_deref().map_or("- (free)".into(), super::output::safe_line),
                    row.watermark.as_deref().map_or("-".into(), super::output::safe_line),
                    super::output::safe_line(&row.committed_by),
                ]);
            }
            table.to_string()
        }
    });
    Ok(())
}

fn status_table(rows: &[TenantStatus]) -> String {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(["Tenant", "State", "Pollers", "Events", "Errors", "Lag", "Retry in", "Last error"]);
    for row in rows {
        table.add_row([
            super::output::safe_line(&row.tenant),
            row.state.clone(),
            row.pollers.join(","),
            row.events.to_string(),
            row.errors.to_string(),
            format!("{:.0}s", row.lag_seconds),
            row.retry_in_seconds.map_or("-".into(), |s| format!("{s:.0}s")),
            row.last_error.as_deref().map_or("-".into(), |e| super::output::safe_line(&shorten(e, 80))),
        ]);
    }
    table.to_string()
}

/// At most `max` characters.
fn shorten(text: &str, max: usize) -> String {
    let mut short: String = text.chars().take(max).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}
