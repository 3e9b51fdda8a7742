//! Calls through one session: the list walk in wasm against the same core
//! compiled natively, the poller draining a backlog and fanning out for
//! details under latency, and the Graph and containment figures.

use std::time::{Duration, Instant};

use sentinel_connector::core::sentinel::incidents::ListOptions;
use sentinel_connector::core::{Client, ConnectionConfig, Settings};

use super::fetch;
use super::table::Row;
use super::{failure, median, ms, per_second, thousands, us, NativeHttp, Setup};
use crate::cli::Failure;
use crate::emulator::{Emulator, EmulatorOptions};
use crate::runtime::containment::Action;
use crate::runtime::graph_security::ListOptions as GraphListOptions;
use crate::runtime::types::ListIncidentsOptions;
use crate::runtime::{graph_list_options, graph_poll_options, list_options, poll_options, ConnectorHost, Session};

/// The detail fan-out the issue measures: 8 requests in flight.
const DETAIL_WIDTH: usize = 8;
const UNIFORM_GOAL: Duration = Duration::from_millis(1350);

/// The component's walk over every page against the native core's, as a ratio.
pub async fn wasm_vs_native(
    session: &mut Session,
    connection: &ConnectionConfig,
    incidents: usize,
    runs: usize,
) -> Result<Row, Failure> {
    let mut wasm = Vec::new();
    for _ in 0..runs {
        let options = ListIncidentsOptions { top: Some(1000), ..list_options() };
        let started = Instant::now();
        let all = session.list_all_incidents(options).await?;
        wasm.push(started.elapsed());
        if all.len() != incidents {
            return Err(failure(format!("the component listed {} incidents, not {incidents}", all.len())));
        }
    }
    let native = native_list_all(connection.clone(), incidents, runs).await?;
    let (wasm, native) = (median(wasm), median(native));
    let ratio = wasm.as_secs_f64() / native.as_secs_f64().max(1e-9);
    Ok(Row::new(format!("wasm vs native core, list-all {}", thousands(incidents as u64)), format!("{ratio:.2}×"))
        .goal("≤ 1.10×", ratio <= 1.10)
        .note(format!(
            "component {} ({} incidents/s), the same core natively over hyper {}; pages of 1,000, median of {runs}",
            ms(wasm),
            thousands(per_second(incidents, wasm)),
            ms(native)
        )))
}

/// The same walk by the same core compiled natively, over hyper.
async fn native_list_all(
    connection: ConnectionConfig,
    incidents: usize,
    runs: usize,
) -> Result<Vec<Duration>, Failure> {
    let settings = Settings::from_config(connection).map_err(|e| failure(e.to_string()))?;
    tokio::task::spawn_blocking(move || -> Result<Vec<Duration>, String> {
        let mut client = Client::new(settings);
        let mut transport = NativeHttp::new().map_err(|e| e.to_string())?;
        let mut times = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let all = client
                .sentinel()
                .list_all_incidents(&mut transport, &ListOptions { top: Some(1000), ..ListOptions::default() })
                .map_err(|e| e.to_string())?;
            times.push(started.elapsed());
            if all.len() != incidents {
                return Err(format!("the native core listed {} incidents, not {incidents}", all.len()));
            }
        }
        Ok(times)
    })
    .await
    .map_err(|e| failure(format!("the native run panicked: {e}")))?
    .map_err(failure)
}

/// A backlog drained by polling with batches of at most 500.
pub async fn poll_drain(host: &ConnectorHost, connection: &ConnectionConfig, incidents: usize) -> Result<Row, Failure> {
    let mut session = host.open("poller", connection.clone(), None).await?;
    let mut options = poll_options();
    options.first_fetch = Some("2000-01-01T00:00:00Z".into());
    options.max_events = Some(500);
    let (mut cursor, mut delivered, mut polls) = (None, 0, 0);
    let started = Instant::now();
    loop {
        let batch = session.poll(cursor.take(), options.clone()).await?;
        delivered += batch.events.len();
        polls += 1;
        cursor = Some(batch.cursor);
        if !batch.more {
            break;
        }
    }
    let took = started.elapsed();
    if delivered != incidents {
        return Err(failure(format!("the poller delivered {delivered} events for {incidents} incidents")));
    }
    Ok(Row::new("poll: drain the backlog", ms(took)).note(format!(
        "{} events in {polls} polls of at most 500, {} events/s",
        thousands(delivered as u64),
        thousands(per_second(delivered, took))
    )))
}

/// The Graph poller draining the same number of incidents, batches of at
/// most 500, from a unified emulator (every incident also in Graph). Graph
/// pages hold 50, so it makes about ten times the requests of the Sentinel
/// poller's pages of 1,000.
pub async fn graph_poll_drain(setup: &Setup, incidents: usize) -> Result<Row, Failure> {
    let options = EmulatorOptions { incidents, seed: 13, unified: true, ..EmulatorOptions::default() };
    let emulator = Emulator::start(options).await.map_err(|e| failure(format!("cannot start the emulator: {e}")))?;
    let expected = emulator.graph_incidents().len();
    let host = ConnectorHost::new(setup.host_options(8))?;
    let mut session = host.open("graph-poller", setup.connection(&emulator.url())?, None).await?;
    let mut options = graph_poll_options();
    options.first_fetch = Some("2000-01-01T00:00:00Z".into());
    options.max_events = Some(500);
    let (mut cursor, mut delivered, mut polls) = (None, 0, 0);
    emulator.clear_requests();
    let started = Instant::now();
    loop {
        let batch = session.graph().poll(cursor.take(), options.clone()).await?;
        delivered += batch.events.len();
        polls += 1;
        cursor = Some(batch.cursor);
        if !batch.more {
            break;
        }
    }
    let took = started.elapsed();
    if delivered != expected {
        return Err(failure(format!("the Graph poller delivered {delivered} events for {expected} incidents")));
    }
    let requests = emulator.requests().iter().filter(|r| r.path.contains("/security/incidents")).count();
    Ok(Row::new("graph poll: drain the backlog", ms(took)).note(format!(
        "{} events in {polls} polls of at most 500, {} list requests of at most 50, {} events/s",
        thousands(delivered as u64),
        thousands(requests as u64),
        thousands(per_second(delivered, took))
    )))
}

/// `poll --details` for 50 new incidents (100 detail requests) with the
/// emulator's latency on every ARM answer, against lockstep waves of the
/// same requests. `jitter` zero is a uniform latency.
pub async fn poll_details(setup: &Setup, latency: Duration, jitter: Duration, runs: usize) -> Result<Row, Failure> {
    let options = EmulatorOptions { incidents: 50, seed: 3, latency, jitter, ..EmulatorOptions::default() };
    let emulator = Emulator::start(options).await.map_err(|e| failure(format!("cannot start the emulator: {e}")))?;
    let connection = setup.connection(&emulator.url())?;
    let host = ConnectorHost::new(setup.host_options(8))?;
    let mut session = host.open("details", connection, None).await?;
    let mut options = poll_options();
    options.first_fetch = Some("2000-01-01T00:00:00Z".into());
    options.max_events = Some(500);
    options.include_details = true;
    let (mut polled, mut waves) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let batch = session.poll(None, options.clone()).await?;
        polled.push(started.elapsed());
        let with_details = batch.events.iter().filter(|e| e.alerts.is_some() && e.details_error.is_none()).count();
        if batch.events.len() != 50 || with_details != 50 || batch.more {
            return Err(failure(format!(
                "the poll returned {} events, {with_details} with details (more: {})",
                batch.events.len(),
                batch.more
            )));
        }
        waves.push(fetch::detail_waves(emulator.addr(), DETAIL_WIDTH).await.map_err(failure)?);
    }
    let (polled, waves) = (median(polled), median(waves));
    let note = format!("waves of {DETAIL_WIDTH}: {}; median of {}", ms(waves), runs.max(1));
    Ok(if jitter.is_zero() {
        Row::new(format!("poll --details, 50 × 2 calls, {} uniform", ms_round(latency)), ms(polled))
            .goal("≤ 1.35 s (floor 1.25 s + list)", polled <= UNIFORM_GOAL)
            .note(note)
    } else {
        Row::new(
            format!(
                "poll --details, 50 × 2 calls, {}–{} mixed",
                ms_round(latency - jitter),
                ms_round(latency + jitter)
            ),
            ms(polled),
        )
        .goal("better than waves", polled < waves)
        .note(note)
    })
}

fn ms_round(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

pub async fn graph(session: &mut Session, runs: usize) -> Result<Vec<Row>, Failure> {
    let mut list_times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        session.graph().list_all_incidents(GraphListOptions { top: Some(10), ..graph_list_options() }).await?;
        list_times.push(started.elapsed());
    }
    let mut dry_runs = Vec::new();
    for _ in 0..runs.max(20) {
        let started = Instant::now();
        session.graph().contain("bob@contoso.onmicrosoft.com", Action::DisableAccount, true).await?;
        dry_runs.push(started.elapsed());
    }
    Ok(vec![
        Row::new("graph list-all-incidents", ms(median(list_times)))
            .note("45 incidents, pages of 10 via @odata.nextLink"),
        Row::new("containment dry run", us(median(dry_runs))).note("resolve the user, apply the guardrails, plan"),
    ])
}
