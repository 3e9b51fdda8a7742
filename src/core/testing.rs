//! Test support shared by the core's unit tests: a scripted transport and a
//! client on a loopback custom cloud.

use std::collections::VecDeque;

use super::client::{Client, Transport};
use super::config::{Cloud, ConnectionConfig, Credential, CustomCloud, ProtectedAccounts, Settings};
use super::error::Error;
use super::http::{Request, Response, Secret, Timeouts};

/// A scripted transport: answers in order and records what was sent.
pub struct Script {
    answers: VecDeque<Response>,
    pub sent: Vec<Request>,
    pub now: u64,
}

impl Script {
    pub fn new(answers: Vec<(u16, String)>) -> Self {
        let answers = answers.into_iter().map(|(status, body)| Response { status, headers: vec![], body: body.into_bytes() }).collect();
        Script { answers, sent: Vec::new(), now: 1_000 }
    }
}

impl Transport for Script {
    fn send(&mut self, request: &Request, _: &Timeouts) -> Result<Response, Error> {
        self.sent.push(request.clone());
        self.answers.pop_front().ok_or_else(|| Error::transport("script ran out", ""))
    }
    fn now_unix_secs(&self) -> u64 {
        self.now
    }
    fn monotonic_millis(&self) -> u64 {
        self.now * 1000
    }
    fn sleep(&mut self, duration: std::time::Duration) {
        self.now += duration.as_secs().max(1);
    }
    fn random_u64(&mut self) -> u64 {
        4
    }
}

pub const BASE: &str = "http://127.0.0.1:7000";

pub fn client() -> Client {
    client_protecting(ProtectedAccounts::default())
}

/// A client whose containment actions refuse these accounts.
pub fn client_protecting(protected: ProtectedAccounts) -> Client {
    let url = String::from(BASE);
    let cloud = CustomCloud {
        login_url: url.clone(),
        arm_url: url.clone(),
        log_analytics_url: url.clone(),
        graph_url: url,
        arm_scope: None,
        log_analytics_scope: None,
        graph_scope: None,
    };
    Client::new(
        Settings::from_config(ConnectionConfig {
            tenant_id: "8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d".into(),
            client_id: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b".into(),
            credential: Credential::ClientSecret(Secret::new("the-client-secret")),
            subscription_id: "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0".into(),
            resource_group: "myRg".into(),
            workspace_name: "myWorkspace".into(),
            workspace_id: None,
            cloud: Cloud::Custom(cloud),
            api_version: None,
            timeouts: None,
            retry: None,
            protected_accounts: protected,
        })
        .unwrap(),
    )
}

pub fn token() -> (u16, String) {
    (200, r#"{"token_type":"Bearer","expires_in":3599,"access_token":"tok-123"}"#.into())
}

