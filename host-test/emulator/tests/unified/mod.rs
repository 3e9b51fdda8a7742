//! What the unified-mode tests share: an emulator with Sentinel in the
//! Defender portal, and a client holding an ARM and a Graph token.

#![allow(dead_code)]

use serde_json::Value;

use crate::common::{send, token, Answer};
use sentinel_emulator::{
    Emulator, EmulatorOptions, Mutation, NewIncident, ARM_SCOPE, DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE_NAME, GRAPH_SCOPE,
};

pub const API_VERSION: &str = "2025-09-01";

pub async fn start(change: impl FnOnce(&mut EmulatorOptions)) -> Emulator {
    let mut options = EmulatorOptions {
        incidents: 12,
        seed: 5,
        anchor: Some("2026-06-01T00:00:00Z".parse().unwrap()),
        unified: true,
        ..EmulatorOptions::default()
    };
    change(&mut options);
    Emulator::start(options).await.expect("the emulator starts")
}

/// A new open, unassigned, unclassified incident (mergeable); its ARM JSON.
pub fn create(emulator: &Emulator, title: &str) -> Value {
    let spec = NewIncident { title: Some(title.into()), ..NewIncident::default() };
    emulator.apply(Mutation::Create(spec)).expect("created")
}

pub fn graph_id(arm: &Value) -> String {
    arm["properties"]["providerIncidentId"].as_str().expect("a providerIncidentId").to_owned()
}

pub fn name(arm: &Value) -> String {
    arm["name"].as_str().expect("a name").to_owned()
}

pub fn label_names(arm: &Value) -> Vec<String> {
    let labels = arm["properties"]["labels"].as_array().cloned().unwrap_or_default();
    labels.iter().filter_map(|l| l["labelName"].as_str()).map(str::to_owned).collect()
}

pub struct Client {
    pub base: String,
    pub arm: String,
    pub graph: String,
}

impl Client {
    pub async fn new(emulator: &Emulator) -> Client {
        Client {
            base: emulator.url(),
            arm: format!("Bearer {}", token(emulator, ARM_SCOPE).await),
            graph: format!("Bearer {}", token(emulator, GRAPH_SCOPE).await),
        }
    }

    pub fn incidents_url(&self, rest: &str, query: &[(&str, &str)]) -> String {
        let path = format!(
            "{}/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/{DEFAULT_RESOURCE_GROUP}/providers/Microsoft.OperationalInsights/workspaces/{DEFAULT_WORKSPACE_NAME}/providers/Microsoft.SecurityInsights/incidents{rest}",
            self.base
        );
        let mut url = url::Url::parse(&path).expect("a valid URL");
        url.query_pairs_mut().append_pair("api-version", API_VERSION).extend_pairs(query);
        url.to_string()
    }

    /// An ARM call under `.../incidents`.
    pub async fn arm(&self, method: &str, rest: &str, body: Option<&Value>) -> Answer {
        let url = self.incidents_url(rest, &[]);
        let text = body.map(Value::to_string).unwrap_or_default();
        send(method, &url, &[("authorization", &self.arm), ("content-type", "application/json")], &text).await
    }

    pub async fn arm_list(&self, query: &[(&str, &str)]) -> Answer {
        send("GET", &self.incidents_url("", query), &[("authorization", &self.arm)], "").await
    }

    pub fn graph_url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&format!("{}/v1.0/{path}", self.base)).expect("a valid URL");
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url.to_string()
    }

    pub async fn graph_get(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        send("GET", &self.graph_url(path, query), &[("authorization", &self.graph)], "").await
    }

    pub async fn graph_send(&self, method: &str, path: &str, body: &Value) -> Answer {
        let headers = [("authorization", self.graph.as_str()), ("content-type", "application/json")];
        send(method, &self.graph_url(path, &[]), &headers, &body.to_string()).await
    }

    /// A fresh Graph token (after `set_graph_roles`).
    pub async fn renew_graph(&mut self, emulator: &Emulator) {
        self.graph = format!("Bearer {}", token(emulator, GRAPH_SCOPE).await);
    }
}

/// A Graph error answer: status, `error.code`, and Graph's `innerError`.
pub fn assert_graph_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    assert!(answer.body["error"]["innerError"]["request-id"].is_string(), "{}", answer.body);
}
