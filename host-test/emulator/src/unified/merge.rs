//! Defender's incident merge (alert correlation, or `mergeIncidents`): each
//! source incident's alerts and tags move to the target, the source is
//! closed with a `Redirected` label and, in Graph, `status: redirected`
//! with `redirectIncidentId`; comments stay where they are. Microsoft's
//! no-merge rules are enforced: no closed incident, no two assignees, no two
//! classifications or determinations (defender-xdr/alerts-incidents-correlation.md).

use std::fmt;

use serde_json::{json, Value};

use super::convert::REDIRECTED;
use super::defender_url;
use crate::data::new_etag;
use crate::state::State;

/// Why a merge was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MergeError {
    /// Merges need `EmulatorOptions::unified`.
    NotUnified,
    /// No incident has this Graph id or ARM name (or it is Sentinel-only).
    NotFound(String),
    /// No source, or the target among the sources.
    NothingToMerge,
    /// This incident is closed (resolved or already redirected).
    Closed(String),
    DifferentAssignees,
    DifferentClassifications,
    DifferentDeterminations,
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            MergeError::NotUnified => f.write_str("incidents are merged only in unified mode (Sentinel in Defender)"),
            MergeError::NotFound(id) => write!(f, "incident '{id}' was not found"),
            MergeError::NothingToMerge => f.write_str("a merge needs at least two different incidents"),
            MergeError::Closed(id) => write!(f, "incident '{id}' is closed and cannot be merged"),
            MergeError::DifferentAssignees => f.write_str("the incidents are assigned to different users"),
            MergeError::DifferentClassifications => f.write_str("the incidents have different classifications"),
            MergeError::DifferentDeterminations => f.write_str("the incidents have different determinations"),
        }
    }
}

impl std::error::Error for MergeError {}

/// An incident in both views: its ARM name and its Graph id.
struct Both {
    name: String,
    id: String,
}

impl State {
    /// Merges `sources` into `target` (each a Graph id or an ARM name) as a
    /// Defender change; answers the target as Defender now has it (ARM JSON).
    pub(crate) fn merge(&mut self, sources: &[String], target: &str) -> Result<Value, MergeError> {
        let target = self.both(target)?;
        let sources = sources.iter().map(|s| self.both(s)).collect::<Result<Vec<_>, _>>()?;
        if sources.is_empty() || sources.iter().any(|s| s.id == target.id) {
            return Err(MergeError::NothingToMerge);
        }
        self.check_mergeable(std::iter::once(&target).chain(&sources))?;
        let now = self.clock.text();
        for source in &sources {
            self.merge_one(source, &target, &now);
        }
        self.latest(&target.name).ok_or(MergeError::NotFound(target.id))
    }

    fn both(&self, key: &str) -> Result<Both, MergeError> {
        let unified = self.unified.as_ref().ok_or(MergeError::NotUnified)?;
        let not_found = || MergeError::NotFound(key.to_owned());
        if let Some(name) = unified.names.get(key) {
            return Ok(Both { name: name.clone(), id: key.to_owned() });
        }
        let arm = self.latest(key).ok_or_else(not_found)?;
        let id = super::graph_id(&arm).filter(|id| unified.names.contains_key(*id)).ok_or_else(not_found)?;
        Ok(Both { name: arm["name"].as_str().unwrap_or(key).to_owned(), id: id.to_owned() })
    }

    /// Microsoft's rules, read from the Graph views of the incidents.
    fn check_mergeable<'a>(&self, all: impl Iterator<Item = &'a Both>) -> Result<(), MergeError> {
        let views: Vec<Value> = all.filter_map(|b| self.graph_view(&b.id)).collect();
        if let Some(closed) = views.iter().find(|v| v["status"] == "resolved" || v["status"] == "redirected") {
            return Err(MergeError::Closed(closed["id"].as_str().unwrap_or_default().to_owned()));
        }
        let distinct = |field: &str| {
            let mut values: Vec<String> =
                views.iter().filter_map(|v| v[field].as_str()).map(str::to_ascii_lowercase).collect();
            values.sort();
            values.dedup();
            values.len() > 1
        };
        if distinct("assignedTo") {
            return Err(MergeError::DifferentAssignees);
        }
        if distinct("classification") {
            return Err(MergeError::DifferentClassifications);
        }
        if distinct("determination") {
            return Err(MergeError::DifferentDeterminations);
        }
        Ok(())
    }

    fn merge_one(&mut self, source: &Both, target: &Both, now: &str) {
        for alert in self.graph.alerts.iter_mut().filter(|a| a["incidentId"] == source.id.as_str()) {
            alert["incidentId"] = json!(target.id);
            alert["incidentWebUrl"] = json!(defender_url(&self.identity.tenant_id, &target.id));
        }
        let Some(mut closed) = self.latest(&source.name) else { return };
        let labels = std::mem::take(&mut closed["properties"]["labels"]);
        let moved: Vec<Value> =
            labels.as_array().into_iter().flatten().filter(|l| !is_redirected(l)).cloned().collect();
        closed["properties"]["labels"] = json!([{"labelName": REDIRECTED, "labelType": "AutoAssigned"}]);
        closed["properties"]["status"] = json!("Closed");
        closed["properties"]["additionalData"]["alertsCount"] = json!(0);
        stamp(&mut closed, now);
        if let Some(unified) = self.unified.as_mut() {
            unified.extras.entry(source.id.clone()).or_default().redirect = Some(target.id.clone());
        }
        self.defender_write(closed);

        let Some(mut grown) = self.latest(&target.name) else { return };
        let mut labels = grown["properties"]["labels"].as_array().cloned().unwrap_or_default();
        for label in moved {
            if !labels.iter().any(|l| same_name(l, &label)) {
                labels.push(label);
            }
        }
        grown["properties"]["labels"] = Value::Array(labels);
        let count = self.graph.alerts.iter().filter(|a| a["incidentId"] == target.id.as_str()).count();
        grown["properties"]["additionalData"]["alertsCount"] = json!(count);
        stamp(&mut grown, now);
        self.defender_write(grown);
    }
}

fn stamp(incident: &mut Value, now: &str) {
    incident["properties"]["lastModifiedTimeUtc"] = json!(now);
    incident["etag"] = json!(new_etag());
}

fn is_redirected(label: &Value) -> bool {
    label["labelName"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(REDIRECTED))
}

fn same_name(a: &Value, b: &Value) -> bool {
    match (a["labelName"].as_str(), b["labelName"].as_str()) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}
