//! Issue 17's fleet, shortened for CI: three `sentinel serve --nats`
//! workers on one JetStream server (started here on a free loopback port),
//! sixty tenants of one emulator, incidents added throughout; one worker
//! SIGKILLs itself after a delivered batch and before its cursor is saved,
//! another is stopped with SIGTERM halfway. The scenario is the bench's
//! (`sentinel bench --only fleet`, 300 tenants): see
//! host-test/src/cli/bench/fleet.rs.

use std::path::Path;
use std::time::Duration;

use sentinel_host::cli::bench::fleet::{nats_server_binary, scenario, FleetFigures, TAKEOVER_SLACK};

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_and_a_stopped_worker_lose_nothing_and_double_nothing() {
    let nats = nats_server_binary().expect("nats-server is installed by scripts/setup (.venv/bin/nats-server)");
    let figures = FleetFigures {
        tenants: 60,
        incidents_per_tenant: 3,
        lease_ttl: Duration::from_secs(5),
        rescan: Duration::from_secs(1),
        interval: Duration::from_secs(1),
        add_every: Duration::from_millis(40),
        run_for: Duration::from_secs(14),
        kill_after_batches: 30,
    };
    let report = scenario(Path::new(env!("CARGO_BIN_EXE_sentinel")), &nats, &figures).await.unwrap();
    eprintln!("{report:#?}");
    assert!(report.killed_by_sigkill, "the first worker died by its SIGKILL hook");
    assert!(report.terminated_cleanly, "the second worker exited 0 after SIGTERM");
    assert_eq!(report.missing, 0, "every incident of every tenant is in the stream");
    assert_eq!((report.doubled_by_id, report.doubled_by_content), (0, 0), "and only once");
    assert_eq!(report.messages, report.incidents);
    assert!(report.dropped_duplicates > 0, "the killed worker's last batch was published again, and dropped");
    assert!(report.takeovers >= 10, "the stopped workers held tenants: {}", report.takeovers);
    assert_eq!(report.late_takeovers, 0);
    assert!(report.worst_takeover <= figures.lease_ttl + figures.rescan + TAKEOVER_SLACK);
    assert!(report.cursor_commits > report.tenants, "cursors were committed");
    assert_eq!(report.cursor_regressions, 0, "no cursor went backwards");
    assert_eq!(report.held_by_last, report.tenants, "the fleet's status shows the last worker holding every tenant");
    assert!(report.passed(&figures));
}
