//! The Graph tenant's data: security incidents and alerts, users, groups,
//! risky users and hunting tables, as JSON in Graph's own casing.

use std::cell::OnceCell;
use std::ops::{Deref, DerefMut};

use serde_json::Value;

/// A group and its direct members (user or group object ids).
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub json: Value,
    pub members: Vec<String>,
}

impl Group {
    /// Visibility `HiddenMembership`: members are seen only with `Member.Read.Hidden`.
    pub fn hides_membership(&self) -> bool {
        self.json["visibility"].as_str().is_some_and(|v| v.eq_ignore_ascii_case("HiddenMembership"))
    }
}

/// An advanced-hunting table; `columns` are (name, Graph type).
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: Vec<(&'static str, &'static str)>,
    pub rows: Vec<Vec<Value>>,
}

/// Everything Graph serves, as JSON in Graph's own casing.
#[derive(Clone, Debug, Default)]
pub(crate) struct GraphState {
    pub incidents: Vec<Value>,
    pub alerts: Vec<Value>,
    pub users: Vec<Value>,
    pub groups: Vec<Group>,
    pub risky: Vec<Value>,
    pub tables: Vec<Table>,
}

impl GraphState {
    /// A user by object id or by UPN, both case-insensitive as in Entra ID.
    pub fn user_index(&self, key: &str) -> Option<usize> {
        let matches = |field: &str, user: &Value| user[field].as_str().is_some_and(|v| v.eq_ignore_ascii_case(key));
        self.users.iter().position(|u| matches("id", u) || matches("userPrincipalName", u))
    }

    pub fn user(&self, key: &str) -> Option<&Value> {
        self.user_index(key).map(|i| &self.users[i])
    }

    pub fn group_index(&self, id: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.json["id"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(id)))
    }

    pub fn risky_index(&self, id: &str) -> Option<usize> {
        self.risky.iter().position(|r| r["id"].as_str().is_some_and(|v| v.eq_ignore_ascii_case(id)))
    }

    pub fn incident(&self, id: &str) -> Option<&Value> {
        self.incidents.iter().find(|i| i["id"] == id)
    }

    pub fn alert(&self, id: &str) -> Option<&Value> {
        self.alerts.iter().find(|a| a["id"] == id)
    }
}

/// The Graph tenant, generated from its seed the first time it is read or
/// changed: a multi-tenant emulator holds a thousand of them (over a
/// megabyte each, mostly alert evidence), most never asked for. The data
/// do not depend on when they are generated.
#[derive(Debug, Default)]
pub(crate) struct LazyGraph {
    /// What it is generated from: the seed, the anchor of its times, the tenant.
    from: Option<(u64, jiff::Timestamp, String)>,
    built: OnceCell<GraphState>,
}

impl LazyGraph {
    pub fn seeded(seed: u64, anchor: jiff::Timestamp, tenant: &str) -> LazyGraph {
        LazyGraph { from: Some((seed, anchor, tenant.to_owned())), built: OnceCell::new() }
    }

    fn generate(&self) -> GraphState {
        match &self.from {
            Some((seed, anchor, tenant)) => super::seed::generate(*seed, *anchor, tenant),
            None => GraphState::default(),
        }
    }
}

impl Deref for LazyGraph {
    type Target = GraphState;

    fn deref(&self) -> &GraphState {
        self.built.get_or_init(|| self.generate())
    }
}

impl DerefMut for LazyGraph {
    fn deref_mut(&mut self) -> &mut GraphState {
        if self.built.get().is_none() {
            self.built = OnceCell::from(self.generate());
        }
        self.built.get_mut().expect("generated above")
    }
}
