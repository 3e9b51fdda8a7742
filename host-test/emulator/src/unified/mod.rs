//! Unified mode: Sentinel onboarded to the Defender portal. The ARM incident
//! stays the one copy of an incident; its Graph entity is derived from it on
//! every read (`convert`), so the two views cannot drift apart, and a Graph
//! change is written back into it. What only Graph has (the determination,
//! the redirect of a merged incident) is kept beside it in [`Unified`], and
//! the Graph alerts are the alerts of both views (ARM's
//! `incidents/{id}/alerts` and `alertsCount` follow them), so a merge that
//! moves alerts shows on both sides.
//!
//! Changes made on the Defender side go through [`State::defender_write`]:
//! with a coalescing window they wait there, Graph seeing them at once and
//! ARM only when the window closes, as one update carrying the latest state.
//! Incidents created through the ARM API stay Sentinel-only, as Microsoft
//! documents ("aren't synchronized to the Defender portal").

pub(crate) mod convert;
pub(crate) mod merge;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::clock::format_instant;
use crate::config::EmulatorOptions;
use crate::data::{self, new_etag};
use crate::graph::seed::{self, FIRST_INCIDENT_ID};
use crate::odata::Filter;
use crate::state::{Kind, State};
use crate::store::Incidents;

/// The Graph side of the incidents, beside the ARM store.
pub(crate) struct Unified {
    /// Graph incident id → ARM incident name, for every incident Defender has.
    names: BTreeMap<String, String>,
    extras: HashMap<String, Extra>,
    next_id: u64,
    window: Option<jiff::SignedDuration>,
    /// Defender-side changes ARM has not seen yet, by lower-cased ARM name.
    pending: HashMap<String, Pending>,
}

/// What Graph holds that the ARM incident has no property for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    /// The determination Graph set, and the ARM classification it went with.
    pub determination: Option<(Option<String>, String)>,
    /// The incident this one was merged into.
    pub redirect: Option<String>,
}

struct Pending {
    due: jiff::Timestamp,
    value: Value,
}

/// The Defender portal link of an incident of `tenant`.
pub(crate) fn defender_url(tenant: &str, graph_id: &str) -> String {
    format!("https://security.microsoft.com/incidents/{graph_id}?tid={tenant}")
}

fn graph_id(arm: &Value) -> Option<&str> {
    arm["properties"]["providerIncidentId"].as_str()
}

impl Unified {
    fn new(window: Option<Duration>) -> Unified {
        Unified {
            names: BTreeMap::new(),
            extras: HashMap::new(),
            next_id: FIRST_INCIDENT_ID,
            window: window.and_then(|w| jiff::SignedDuration::try_from(w).ok()),
            pending: HashMap::new(),
        }
    }
}

impl State {
    /// The initial state of unified mode: the generated incidents, each
    /// with its Defender id (counting up from the seed's first Graph id) and
    /// `alertsCount` Graph alerts; the Graph tenant's own seeded incidents
    /// and alerts give way to them.
    pub(crate) fn unified(mut self, options: &EmulatorOptions, anchor: jiff::Timestamp) -> State {
        let tenant = &options.identity.tenant_id;
        let workspace = options.identity.workspace();
        let mut next = FIRST_INCIDENT_ID;
        let generated = data::incidents(options.incidents, options.seed, anchor, &workspace).map(|mut incident| {
            incident.unify(next.to_string(), defender_url(tenant, &next.to_string()));
            next += 1;
            incident
        });
        self.incidents = Incidents::generated(&workspace.prefix(), generated);
        self.graph.incidents.clear();
        self.graph.alerts.clear();
        let mut unified = Unified::new(options.coalesce_window);
        unified.next_id = next;
        let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x756e_6966_6965_6421);
        for arm in self.incidents.values() {
            let id = graph_id(&arm).unwrap_or_default().to_owned();
            unified.names.insert(id, arm["name"].as_str().unwrap_or_default().to_owned());
            add_alerts(tenant, &mut self.graph.alerts, &arm, &mut rng);
        }
        self.unified = Some(unified);
        self
    }

    /// A new incident in unified mode: Defender's fields (kept when it
    /// already names itself Microsoft XDR with an id) and its Graph alerts.
    pub(crate) fn adopt(&mut self, mut incident: Value) -> Value {
        let Some(unified) = self.unified.as_mut() else { return incident };
        let p = &mut incident["properties"];
        let given =
            p["providerIncidentId"].as_str().filter(|id| !id.is_empty() && p["providerName"] == "Microsoft XDR");
        let id = match given {
            Some(id) => id.to_owned(),
            None => {
                unified.next_id += 1;
                (unified.next_id - 1).to_string()
            }
        };
        p["providerName"] = json!("Microsoft XDR");
        p["providerIncidentId"] = json!(id);
        p["additionalData"]["providerIncidentUrl"] = json!(defender_url(&self.identity.tenant_id, &id));
        unified.names.insert(id.clone(), incident["name"].as_str().unwrap_or_default().to_owned());
        if !self.graph.alerts.iter().any(|a| a["incidentId"] == id.as_str()) {
            let mut rng = ChaCha8Rng::seed_from_u64(id.parse().unwrap_or_default());
            add_alerts(&self.identity.tenant_id, &mut self.graph.alerts, &incident, &mut rng);
        }
        incident
    }

    /// An incident as Defender has it: a change still held back from ARM,
    /// or else what ARM shows.
    pub(crate) fn latest(&self, name: &str) -> Option<Value> {
        let pending = self.unified.as_ref().and_then(|u| u.pending.get(&name.to_ascii_lowercase()));
        match pending {
            Some(pending) => Some(pending.value.clone()),
            None => self.incidents.find(name).and_then(|id| self.incidents.value(id)),
        }
    }

    /// Stores a change made on the Defender side: into ARM at once, or,
    /// with a coalescing window, when the window opened by the incident's
    /// first held change closes. Returns the incident as Defender has it.
    pub(crate) fn defender_write(&mut self, value: Value) -> Value {
        let name = value["name"].as_str().unwrap_or_default().to_owned();
        let now = self.clock.now();
        if let Some(unified) = self.unified.as_mut() {
            if let Some(window) = unified.window {
                let key = name.to_ascii_lowercase();
                let due = unified.pending.get(&key).map_or(now + window, |p| p.due);
                unified.pending.insert(key, Pending { due, value: value.clone() });
                return value;
            }
        }
        match self.incidents.find(&name) {
            Some(id) => self.incidents.replace(id, &value),
            None => {
                self.incidents.push(&value, None);
            }
        }
        value
    }

    /// Sends ARM the held changes whose window has closed: one update each,
    /// stamped with the window's end and a new etag.
    pub(crate) fn flush_due(&mut self) {
        let Some(unified) = self.unified.as_mut().filter(|u| !u.pending.is_empty()) else { return };
        let now = self.clock.now();
        let due: Vec<String> = unified.pending.iter().filter(|(_, p)| p.due <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            let Some(Pending { due, mut value }) = unified.pending.remove(&key) else { continue };
            value["properties"]["lastModifiedTimeUtc"] = json!(format_instant(due));
            value["etag"] = json!(new_etag());
            match self.incidents.find(&key) {
                Some(id) => self.incidents.replace(id, &value),
                None => {
                    self.incidents.push(&value, None);
                }
            }
        }
    }

    /// After an ARM PUT: a Defender change still held for the incident
    /// takes what the PUT changed, so the later update does not undo it;
    /// what the PUT only echoed (ARM's older state) does not undo the held
    /// change either, as Sentinel syncs changes, not whole incidents.
    pub(crate) fn arm_written(&mut self, before: Option<&Value>, incident: &Value) {
        let name = incident["name"].as_str().unwrap_or_default().to_ascii_lowercase();
        let Some(pending) = self.unified.as_mut().and_then(|u| u.pending.get_mut(&name)) else { return };
        let old = |field: &str| before.and_then(|b| b["properties"].get(field));
        for field in crate::writes::WRITABLE {
            if old(field) == incident["properties"].get(*field) {
                continue;
            }
            match incident["properties"].get(*field) {
                Some(value) => pending.value["properties"][*field] = value.clone(),
                None => {
                    if let Some(map) = pending.value["properties"].as_object_mut() {
                        map.remove(*field);
                    }
                }
            }
        }
    }

    /// The Graph incident of Defender id `id`, derived from its ARM incident.
    pub(crate) fn graph_view(&self, id: &str) -> Option<Value> {
        let unified = self.unified.as_ref()?;
        let name = unified.names.get(id)?;
        let arm = self.latest(name).filter(|arm| graph_id(arm) == Some(id))?;
        let comments = self.children_of(name, Kind::Comments);
        Some(convert::to_graph(&self.identity.tenant_id, &arm, unified.extras.get(id), &comments))
    }

    /// The ARM name of the incident whose Graph id is `id`.
    pub(crate) fn latest_name_of(&self, id: &str) -> Option<String> {
        let name = self.unified.as_ref()?.names.get(id)?;
        self.latest(name).filter(|arm| graph_id(arm) == Some(id)).map(|_| name.clone())
    }

    /// Every Graph incident, in id order (Graph's list orders them itself).
    /// The comments are grouped in one pass: asking per incident would scan
    /// every child once per incident, which at 5,000 incidents made each
    /// Graph list take most of a tenth of a second.
    /// `times`: a filter on the ARM incidents' indexed times that every
    /// incident the request selects passes (see `graph::time_prefilter`);
    /// the others are not converted. A change still held back is always.
    pub(crate) fn graph_views(&self, times: Option<&Filter>) -> Vec<Value> {
        let Some(unified) = self.unified.as_ref() else { return Vec::new() };
        let mut comments: HashMap<String, Vec<(&String, &Value)>> = HashMap::new();
        for ((incident, kind, name), value) in &self.children {
            if *kind == Kind::Comments {
                comments.entry(incident.to_ascii_lowercase()).or_default().push((name, value));
            }
        }
        let created = |v: &Value| v["properties"]["createdTimeUtc"].as_str().map(str::to_owned);
        let mut views = Vec::with_capacity(unified.names.len());
        for (id, name) in &unified.names {
            let held = unified.pending.contains_key(&name.to_ascii_lowercase());
            let stored = self.incidents.find(name).and_then(|at| self.incidents.get(at));
            if !held && times.is_some_and(|filter| stored.is_some_and(|stored| !filter.matches(stored))) {
                continue;
            }
            let Some(arm) = self.latest(name).filter(|arm| graph_id(arm) == Some(id.as_str())) else { continue };
            let mut own = comments.remove(&name.to_ascii_lowercase()).unwrap_or_default();
            own.sort_by(|a, b| created(a.1).cmp(&created(b.1)).then(a.0.cmp(b.0)));
            let own: Vec<Value> = own.into_iter().map(|(_, v)| v.clone()).collect();
            views.push(convert::to_graph(&self.identity.tenant_id, &arm, unified.extras.get(id), &own));
        }
        views
    }

    /// A Graph PATCH of an incident, written back into its ARM incident
    /// (stamped with Graph's `lastUpdateDateTime`) as a Defender change.
    pub(crate) fn graph_written(&mut self, graph: &Value) {
        let Some(id) = graph["id"].as_str() else { return };
        let Some(name) = self.unified.as_ref().and_then(|u| u.names.get(id)).cloned() else { return };
        let Some(mut arm) = self.latest(&name) else { return };
        let user = graph["assignedTo"].as_str().and_then(|upn| self.graph.user(upn)).cloned();
        convert::apply_graph(&mut arm, graph, user.as_ref());
        arm["properties"]["lastModifiedTimeUtc"] = graph["lastUpdateDateTime"].clone();
        arm["etag"] = json!(new_etag());
        let classification = arm["properties"]["classification"].as_str().map(str::to_owned);
        let determination = graph["determination"].as_str().unwrap_or("unknown").to_owned();
        if let Some(unified) = self.unified.as_mut() {
            unified.extras.entry(id.to_owned()).or_default().determination = Some((classification, determination));
        }
        self.defender_write(arm);
    }

    /// ARM's `incidents/{name}/alerts` in unified mode: its Graph alerts.
    pub(crate) fn arm_alerts(&self, arm: &Value) -> Option<Vec<Value>> {
        self.unified.as_ref()?;
        let id = graph_id(arm)?;
        let prefix = self.identity.workspace().prefix();
        Some(
            self.graph
                .alerts
                .iter()
                .filter(|a| a["incidentId"] == id)
                .map(|a| convert::arm_alert(a, &prefix))
                .collect(),
        )
    }
}

/// `alertsCount` Graph alerts for an ARM incident, shaped by the seed's alerts.
fn add_alerts(tenant: &str, alerts: &mut Vec<Value>, arm: &Value, rng: &mut ChaCha8Rng) {
    let view = convert::to_graph(tenant, arm, None, &[]);
    let count = arm["properties"]["additionalData"]["alertsCount"].as_u64().unwrap_or(1);
    for n in 0..count as usize {
        let mut alert = seed::alert(rng, tenant, &view, n);
        alert["title"] = arm["properties"]["title"].clone();
        alerts.push(alert);
    }
}
