//! Issue 12's density gate: a host sized for 1,200 sessions holds 1,200 open
//! at once (the old pool stopped at 1,000 fibers), refuses the next with an
//! error naming the operator's limit, and gives a slot back when a session
//! closes. Each session is a live connection: the first and the last answer.

mod common;
use common::*;
use sentinel_host::runtime::{list_options, CallError, ConnectorHost, HostOptions, Limits};

const SESSIONS: u32 = 1_200;

#[tokio::test(flavor = "multi_thread")]
async fn twelve_hundred_sessions_open_at_once_and_the_next_is_refused_by_name() {
    let emulator = emulator(3, 12).await;
    let limits = Limits { max_sessions: SESSIONS, ..Limits::default() };
    let host = ConnectorHost::new(HostOptions { limits, ..test_host_options() }).unwrap();
    let mut sessions = Vec::with_capacity(SESSIONS as usize);
    for tenant in 0..SESSIONS {
        let session = host.open(&format!("tenant-{tenant}"), config_for(&emulator.url()), None).await;
        sessions.push(session.unwrap_or_else(|error| panic!("session {tenant} of {SESSIONS}: {error}")));
    }
    assert_eq!(host.live_sessions(), SESSIONS);

    let refused = host.open("one-too-many", config_for(&emulator.url()), None).await.err();
    assert!(
        matches!(refused, Some(CallError::AtCapacity { max_sessions: SESSIONS })),
        "the 1,201st names the limit: {refused:?}"
    );
    let message = refused.unwrap().to_string();
    assert!(message.contains("1200 sessions") && message.contains("max_sessions"), "{message}");

    for session in [0, SESSIONS as usize - 1] {
        let page = sessions[session].list_incidents(list_options()).await.expect("an open session answers");
        assert_eq!(page.incidents.len(), 3);
    }

    sessions.pop();
    assert_eq!(host.live_sessions(), SESSIONS - 1, "a closed session gives its slot back");
    let again = host.open("in-the-freed-slot", config_for(&emulator.url()), None).await;
    assert!(again.is_ok(), "{:?}", again.err());
}
