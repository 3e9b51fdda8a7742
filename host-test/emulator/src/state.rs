//! What the emulator holds while it runs: the incidents (and when each
//! becomes visible), their comments, relations and tasks, the tokens issued,
//! the Graph tenant, the request log, canned answers and scheduled changes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::clock::Clock;
use crate::config::{EmulatorOptions, TenantIdentity};
use crate::data::{self, new_etag};
use crate::graph::tenant::LazyGraph;
use crate::reply::Reply;
use crate::store::Incidents;
use crate::unified::Unified;

/// One request as received. The bearer token and the client secret are
/// replaced, so a recorded request can be printed.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A canned answer for the next `times` requests whose path contains
/// `path_contains` (and whose method matches, if given).
#[derive(Clone, Debug)]
pub struct Injection {
    pub method: Option<String>,
    pub path_contains: String,
    pub times: usize,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A new incident for tests and the admin endpoint; every field has a
/// default (a new GUID, the next number, now, "Medium", "New").
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NewIncident {
    pub name: Option<String>,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub incident_number: Option<i64>,
    pub created_time_utc: Option<String>,
    /// Defaults to the creation time.
    pub last_modified_time_utc: Option<String>,
    /// Reads do not return it until this many seconds have passed.
    pub visible_after_seconds: Option<f64>,
}

/// A change made to the incidents while the emulator runs.
#[derive(Clone, Debug)]
pub enum Mutation {
    Create(NewIncident),
    /// Merges `properties` into the incident, sets `lastModifiedTimeUtc` (to
    /// `modified_at` or now) and gives it a new etag.
    Update {
        name: String,
        properties: serde_json::Map<String, Value>,
        modified_at: Option<String>,
    },
}

/// What a token was issued for.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    pub audience: &'static str,
    pub expires_at: i64,
    pub client_id: String,
    /// The application roles in the token (`roles` claim), checked by Graph.
    pub roles: Vec<String>,
}

/// The kinds of child an incident has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Comments,
    Relations,
    Tasks,
}

impl Kind {
    pub fn parse(segment: &str) -> Option<Kind> {
        match segment.to_ascii_lowercase().as_str() {
            "comments" => Some(Kind::Comments),
            "relations" => Some(Kind::Relations),
            "tasks" => Some(Kind::Tasks),
            _ => None,
        }
    }

    pub fn segment(self) -> &'static str {
        match self {
            Kind::Comments => "comments",
            Kind::Relations => "relations",
            Kind::Tasks => "tasks",
        }
    }

    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::Comments => "Microsoft.SecurityInsights/incidents/comments",
            Kind::Relations => "Microsoft.SecurityInsights/incidents/relations",
            Kind::Tasks => "Microsoft.SecurityInsights/incidents/tasks",
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub incidents: Incidents,
    pub tokens: HashMap<String, Issued>,
    pub requests: Vec<RecordedRequest>,
    pub injections: Vec<Injection>,
    /// Canned answers given after the request was processed (see `Emulator::inject_after`).
    pub after_injections: Vec<Injection>,
    /// Mutations applied right after the n-th incident list request is answered.
    pub scheduled: Vec<(usize, Vec<Mutation>)>,
    pub lists_served: usize,
    /// Comments, relations and tasks, by (incident, kind, name), names lower-cased.
    pub children: HashMap<(String, Kind, String), Value>,
    /// The next query answers 200 with its tables and this partial error.
    pub partial_error: Option<String>,
    /// Microsoft Graph's tenant: security data and the directory.
    pub graph: LazyGraph,
    /// The roles of Graph tokens issued from now on; `None` is the default list.
    pub graph_roles: Option<Vec<String>>,
    /// The api-versions ARM accepts from now on; `None` is the default list.
    pub api_versions: Option<Vec<String>>,
    /// Where the times the emulator writes come from.
    pub clock: Clock,
    /// What unified mode adds: the Graph side of each incident. None when off.
    pub unified: Option<Unified>,
    /// Federated tokens the trusted issuer gave out (`Emulator::federated_token`):
    /// an assertion not among them fails "signature validation".
    pub federated: std::collections::HashSet<String>,
    /// The certificates the app registration has on file (PEM).
    pub certificates: Vec<String>,
    /// `jti`s of certificate assertions already used: a replay is refused.
    pub assertion_ids: std::collections::HashSet<String>,
    /// Changes to apply right after the next GET of a path (see `Emulator::after_next_read`).
    pub after_read: Vec<(String, Mutation)>,
    /// Analytics rules by lower-cased name (Microsoft's examples at first).
    pub alert_rules: std::collections::BTreeMap<String, Value>,
    /// Watchlists, their items and their long-running operations.
    pub watchlists: crate::watchlists::Watchlists,
    /// Threat-intelligence indicators (Microsoft's examples at first).
    pub threat_intelligence: crate::threat_intelligence::Indicators,
    /// The tenant served (`EmulatorOptions::identity`), for what only has the state.
    pub identity: TenantIdentity,
}

impl State {
    /// The generated incidents and Graph tenant the options ask for.
    fn initial(options: &EmulatorOptions) -> State {
        let anchor = options.anchor.unwrap_or_else(data::now_to_the_hour);
        let identity = &options.identity;
        let graph = LazyGraph::seeded(options.seed, anchor, &identity.tenant_id);
        let state = State {
            graph,
            graph_roles: options.graph_roles.clone(),
            certificates: vec![crate::certificates::DEFAULT_CERTIFICATE.to_owned()],
            alert_rules: crate::alert_rules::seed(identity),
            threat_intelligence: crate::threat_intelligence::Indicators::seeded(identity),
            identity: identity.clone(),
            ..State::default()
        };
        if options.unified {
            return state.unified(options, anchor);
        }
        let workspace = identity.workspace();
        let incidents = Incidents::generated(
            &workspace.prefix(),
            data::incidents(options.incidents, options.seed, anchor, &workspace),
        );
        State { incidents, ..state }
    }

    pub fn apply(&mut self, mutation: Mutation) -> Option<Value> {
        match mutation {
            Mutation::Create(spec) => Some(self.create(spec)),
            Mutation::Update { name, properties, modified_at } => self.update(&name, properties, modified_at),
        }
    }

    fn create(&mut self, spec: NewIncident) -> Value {
        let now = self.clock.text();
        let number = spec.incident_number.unwrap_or_else(|| self.next_incident_number());
        let created = spec.created_time_utc.unwrap_or(now);
        let incident = data::incident_from(
            &self.identity.workspace(),
            &spec.name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            number,
            spec.title.as_deref().unwrap_or("Emulated incident"),
            spec.severity.as_deref().unwrap_or("Medium"),
            spec.status.as_deref().unwrap_or("New"),
            &created,
            spec.last_modified_time_utc.as_deref().unwrap_or(&created),
        );
        let visible_from =
            spec.visible_after_seconds.filter(|s| *s > 0.0).map(|s| Instant::now() + Duration::from_secs_f64(s));
        self.upsert(&incident, visible_from);
        // Unified mode adds Defender's fields: answer what was stored.
        let stored = self.incidents.find(incident["name"].as_str().unwrap_or_default());
        stored.and_then(|id| self.incidents.value(id)).unwrap_or(incident)
    }

    fn update(
        &mut self,
        name: &str,
        properties: serde_json::Map<String, Value>,
        modified_at: Option<String>,
    ) -> Option<Value> {
        let modified_at = modified_at.unwrap_or_else(|| self.clock.text());
        let change = |json: &mut Value| {
            for (key, value) in properties {
                json["properties"][key] = value;
            }
            json["properties"]["lastModifiedTimeUtc"] = Value::String(modified_at);
            json["etag"] = Value::String(new_etag());
        };
        if self.unified.is_some() {
            // A change made in Defender: coalesced when the option says so.
            let mut json = self.latest(name)?;
            change(&mut json);
            return Some(self.defender_write(json));
        }
        let id = self.incidents.find(name)?;
        self.incidents.modify(id, change)
    }

    /// Adds an incident after all others, replacing one of the same name
    /// (without regard to case, as ARM matches names).
    pub fn upsert(&mut self, incident: &Value, visible_from: Option<Instant>) {
        match self.unified.is_some() {
            true => {
                let incident = self.adopt(incident.clone());
                self.incidents.push(&incident, visible_from);
            }
            false => {
                self.incidents.push(incident, visible_from);
            }
        }
    }

    /// One more than the highest incident number (1000 for the first).
    pub fn next_incident_number(&self) -> i64 {
        self.incidents.max_number().unwrap_or(999) + 1
    }

    /// The comments, relations or tasks of an incident, oldest first.
    pub fn children_of(&self, incident: &str, kind: Kind) -> Vec<Value> {
        let mut items: Vec<(&String, &Value)> = self
            .children
            .iter()
            .filter(|((i, k, _), _)| i.eq_ignore_ascii_case(incident) && *k == kind)
            .map(|((_, _, name), value)| (name, value))
            .collect();
        items.sort_by(|a, b| {
            a.1["properties"]["createdTimeUtc"]
                .as_str()
                .cmp(&b.1["properties"]["createdTimeUtc"].as_str())
                .then(a.0.cmp(b.0))
        });
        items.into_iter().map(|(_, v)| v.clone()).collect()
    }

    /// Called after each incident list answer: runs what was scheduled for it.
    pub fn list_served(&mut self) {
        self.lists_served += 1;
        let served = self.lists_served;
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.scheduled).into_iter().partition(|(at, _)| *at <= served);
        self.scheduled = later;
        for mutation in due.into_iter().flat_map(|(_, mutations)| mutations) {
            self.apply(mutation);
        }
    }

    /// The canned answer of the first injection that matches, used up once.
    pub fn take_injection(&mut self, method: &str, path: &str) -> Option<Reply> {
        take_matching(&mut self.injections, method, path)
    }

    /// The same for the injections answered after processing.
    pub fn take_after_injection(&mut self, method: &str, path: &str) -> Option<Reply> {
        take_matching(&mut self.after_injections, method, path)
    }
}

fn take_matching(rules: &mut [Injection], method: &str, path: &str) -> Option<Reply> {
    let rule = rules.iter_mut().find(|rule| {
        rule.times > 0
            && path.contains(&rule.path_contains)
            && rule.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
    })?;
    rule.times -= 1;
    Some(Reply::canned(rule.status, rule.headers.clone(), rule.body.clone()))
}

/// The options and the state, shared by the handle and every request.
pub(crate) struct Shared {
    pub options: EmulatorOptions,
    state: Mutex<State>,
    /// Draws the delay of each answer (`latency` ± `jitter`).
    delays: Mutex<ChaCha8Rng>,
    /// `arm_quota`'s bucket: its tokens, and when they were counted.
    arm_quota: Mutex<(f64, Instant)>,
}

impl Shared {
    pub fn new(options: EmulatorOptions) -> Shared {
        let state = State::initial(&options);
        // A stream of its own, so delays do not change the generated data.
        let delays = Mutex::new(ChaCha8Rng::seed_from_u64(options.seed ^ 0x6c61_7465_6e63_7921));
        let arm_quota = Mutex::new((options.arm_quota.map_or(0.0, |(burst, _)| burst), Instant::now()));
        Shared { options, state: Mutex::new(state), delays, arm_quota }
    }

    /// One ARM request against `arm_quota`: what is left after it, or the
    /// seconds until a token comes back (the request is refused). `None`
    /// when the emulator has no quota.
    pub fn take_arm_quota(&self) -> Option<Result<u64, u64>> {
        let (burst, per_second) = self.options.arm_quota?;
        let mut bucket = self.arm_quota.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let refilled = bucket.0 + now.saturating_duration_since(bucket.1).as_secs_f64() * per_second;
        *bucket = (refilled.min(burst), now);
        if bucket.0 < 1.0 {
            return Some(Err(((1.0 - bucket.0) / per_second.max(f64::MIN_POSITIVE)).ceil().max(1.0) as u64));
        }
        bucket.0 -= 1.0;
        Some(Ok(bucket.0.floor() as u64))
    }

    /// How long the next API answer waits: `latency`, plus a uniform draw in
    /// `[-jitter, +jitter]` when there is jitter, never below zero.
    pub fn delay(&self) -> Duration {
        let EmulatorOptions { latency, jitter, .. } = self.options;
        if jitter.is_zero() {
            return latency;
        }
        let spread = i128::try_from(jitter.as_nanos()).unwrap_or(i128::MAX / 4);
        let offset = self.delays.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).random_range(-spread..=spread);
        let nanos = (latency.as_nanos() as i128 + offset).max(0);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The state; a panicked test thread does not poison the others.
    /// Coalesced updates whose window has closed are applied first, so no
    /// reader sees the time pass a window without its update.
    pub fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        state.flush_due();
        state
    }
}
