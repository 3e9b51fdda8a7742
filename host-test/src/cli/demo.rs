//! `sentinel demo`: an emulator in-process, the connector against it, and
//! what a SOC engineer would look at first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::errors::describe;
use super::{exit, output, Failure};
use crate::config::{self, FileConfig};
use crate::emulator::{graph_seed, Emulator, EmulatorOptions};
use crate::runtime::containment::Action;
use crate::runtime::egress::PrivateNetwork;
use crate::runtime::sandbox::{AuditRecord, AuditSink};
use crate::runtime::types::{self, ListIncidentsOptions};
use crate::runtime::{CallError, ConnectorHost, HostOptions, Session};

const INCIDENTS: usize = 40;
const SEED: u64 = 7;

pub async fn run(mut options: HostOptions, verbose: bool) -> Result<(), Failure> {
    // The demo's emulator listens on loopback; nothing else is reached.
    if options.egress.private_network == PrivateNetwork::Refuse {
        options.egress.private_network = PrivateNetwork::LoopbackOnly;
    }
    let emulator = Emulator::start(EmulatorOptions { incidents: INCIDENTS, seed: SEED, ..EmulatorOptions::default() })
        .await
        .map_err(|e| Failure { code: exit::OTHER, message: format!("cannot start the emulator: {e}") })?;
    let url = emulator.url();
    println!("Sentinel emulator on {url}: {INCIDENTS} incidents (seed {SEED}), offline.");

    let size_kib = options.component.len() / 1024;
    let started = Instant::now();
    let host = ConnectorHost::new(options)?;
    println!("Connector component ({size_kib} KiB) ready in {} ms.", started.elapsed().as_millis());

    let requests = Arc::new(AtomicUsize::new(0));
    let mut connection = config::resolve(&|_| None, &FileConfig::default(), Some(&url))?;
    // Break-glass admins are never contained, whoever names them.
    connection.protected_accounts.groups = vec![graph_seed::BREAK_GLASS_GROUP_NAME.into()];
    let mut session = host.open("demo", connection, Some(counting_audit(requests.clone(), verbose))).await?;

    let open = session
        .list_all_incidents(ListIncidentsOptions {
            filter: Some("properties/status ne 'Closed'".into()),
            orderby: Some("properties/createdTimeUtc desc".into()),
            top: Some(10),
            continuation: None,
            max_pages: None,
        })
        .await?;
    println!("\n{} open incidents (read in pages of 10): {}", open.len(), severity_summary(&open));
    println!("{}", output::incidents_table(&open[..open.len().min(8)]));

    let Some(first) = open.iter().find(|i| matches!(i.severity, types::Severity::High)).or(open.first()) else {
        println!("No open incidents.");
        return Ok(());
    };
    let incident = session.get_incident(&first.id).await?;
    println!("\nNewest high-severity incident:\n{}", output::incident_detail(&incident));
    contain(&mut session).await?;
    println!(
        "\n{} requests went out through wasi:http, all to {url}: the sandbox lets this connection reach only its own endpoints.",
        requests.load(Ordering::Relaxed)
    );
    println!("Try: sentinel emulator --incidents 120 --seed 7   then   sentinel --emulator URL incidents list --all --top 50");
    Ok(())
}

/// After triage: plan the containment of a user, and see a protected admin refused.
async fn contain(session: &mut Session) -> Result<(), Failure> {
    println!("\nContainment through Microsoft Graph, with guardrails:");
    let plan = session.graph().contain(graph_seed::BOB_UPN, Action::DisableAccount, true).await?;
    let body = plan.request.body.as_deref().unwrap_or_default();
    println!("  dry run, nothing sent: {} {} {body}   (undo: enable-account)", plan.request.method, plan.request.url);
    match session.graph().contain(graph_seed::ALICE_UPN, Action::DisableAccount, false).await {
        Err(CallError::Connector(error)) => println!("  refused: {}", describe(&error)),
        Err(other) => return Err(other.into()),
        Ok(_) => return Err(Failure { code: exit::OTHER, message: "the protected admin was not refused".into() }),
    }
    Ok(())
}

fn counting_audit(count: Arc<AtomicUsize>, verbose: bool) -> AuditSink {
    Arc::new(move |record: &AuditRecord| {
        count.fetch_add(1, Ordering::Relaxed);
        if verbose {
            eprintln!("audit: {record}");
        }
    })
}

fn severity_summary(incidents: &[types::Incident]) -> String {
    let count = |wanted: &str| incidents.iter().filter(|i| output::severity(&i.severity) == wanted).count();
    ["High", "Medium", "Low", "Informational"].map(|s| format!("{} {s}", count(s))).join(", ")
}
