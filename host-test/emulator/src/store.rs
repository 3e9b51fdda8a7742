//! The Sentinel incidents, each held once: its ARM JSON, serialized (with
//! the workspace's long resource prefix, which every incident repeats in
//! `id`, `incidentUrl` and its rule ids, written as one byte), and the fields
//! `$filter` and `$orderby` read, parsed when it is stored.
//!
//! A page is answered from indexes without copying the rest: a get by name is
//! a hash lookup, and every field `$orderby` can name has an ordered index
//! (key, then name), so a keyset `$skipToken` resumes in O(log n) and a page
//! costs O(page), plus the incidents a filter skips. Only orders of two or
//! more terms sort the (visible, matching) incidents, by reference, per page.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::time::Instant;

use serde_json::Value;

use crate::config::TenantIdentity;
use crate::data::Generated;
use crate::odata::{FieldRef, Fields, Filter, Key, Order, INCIDENTS};

/// The position of an incident in insertion order; never reused.
pub(crate) type Id = u32;

/// A `$skipToken`'s content: the sort keys of the last item sent, and its name.
pub(crate) type SortKey = (Vec<Key>, String);

/// How many fields an incident is indexed by: those of `INCIDENTS`.
const FIELDS: usize = INCIDENTS.fields.len();

/// Stands for the workspace prefix in stored JSON. Serialized JSON never
/// holds this byte raw (a control character in a string is escaped).
const MARK: char = '\u{1}';

/// One incident: its packed ARM JSON and the fields filters and orders read.
pub(crate) struct Stored {
    name: Box<str>,
    packed: Box<str>,
    /// `INCIDENTS`' fields, in their schema order.
    keys: [Key; FIELDS],
    /// Reads do not return it before this instant (late indexing).
    visible_from: Option<Instant>,
}

impl Stored {
    pub fn visible_at(&self, now: Instant) -> bool {
        self.visible_from.is_none_or(|at| at <= now)
    }

    fn key(&self, field: usize) -> &Key {
        &self.keys[field]
    }
}

impl Fields for Stored {
    fn field(&self, field: FieldRef) -> Cow<'_, Key> {
        Cow::Borrowed(self.key(field.index()))
    }
}

/// The ids that share one key, in name order; most keys (times, numbers)
/// have one, held without an allocation of its own.
#[derive(Clone, Debug)]
enum Ties {
    One(Id),
    Many(Vec<Id>),
}

impl Ties {
    fn ids(&self) -> &[Id] {
        match self {
            Ties::One(id) => std::slice::from_ref(id),
            Ties::Many(ids) => ids,
        }
    }

    fn insert(&mut self, at: usize, id: Id) {
        match self {
            Ties::One(first) => {
                let mut ids = vec![*first];
                ids.insert(at, id);
                *self = Ties::Many(ids);
            }
            Ties::Many(ids) => ids.insert(at, id),
        }
    }

    /// Removes the id at `at`; true when none is left.
    fn remove(&mut self, at: usize) -> bool {
        match self {
            Ties::One(_) => true,
            Ties::Many(ids) => {
                ids.remove(at);
                ids.is_empty()
            }
        }
    }
}

/// The incidents in insertion order, by name, and in each field's order.
pub(crate) struct Incidents {
    slots: Vec<Option<Stored>>,
    /// Names lower-cased: ARM matches them without regard to case.
    by_name: HashMap<Box<str>, Id>,
    /// One per `INCIDENTS` field: each key to the ids that have it, in name order.
    sorted: Vec<BTreeMap<Key, Ties>>,
    /// What [`MARK`] stands for.
    prefix: Box<str>,
}

impl Default for Incidents {
    fn default() -> Self {
        Incidents::empty(&TenantIdentity::default().workspace().prefix())
    }
}

/// A page: the ids to send, and whether more follow.
pub(crate) struct Page {
    pub ids: Vec<Id>,
    pub more: bool,
}

impl Incidents {
    /// No incidents yet, of the workspace whose resource prefix is `prefix`.
    pub fn empty(prefix: &str) -> Incidents {
        Incidents {
            slots: Vec::new(),
            by_name: HashMap::new(),
            sorted: vec![BTreeMap::new(); FIELDS],
            prefix: prefix.into(),
        }
    }

    /// The store of generated incidents of the workspace whose resource
    /// prefix is `prefix`: each written as JSON once (never held as a
    /// `Value`), and each index sorted once.
    pub fn generated(prefix: &str, incidents: impl Iterator<Item = Generated>) -> Incidents {
        let mut store = Incidents::empty(prefix);
        let mut json = String::new();
        for incident in incidents {
            json.clear();
            incident.write_json(&mut json);
            let stored = store.stored_from(incident.name(), &json, &incident, None);
            let id = store.slots.len() as Id;
            if let Some(old) = store.by_name.insert(stored.name.to_ascii_lowercase().into(), id) {
                store.slots[old as usize] = None;
            }
            store.slots.push(Some(stored));
        }
        store.sorted = store.build_indexes();
        store
    }

    fn stored_from(&self, name: &str, json: &str, fields: &impl Fields, visible_from: Option<Instant>) -> Stored {
        let packed = if self.prefix.is_empty() { json.to_owned() } else { json.replace(&*self.prefix, "\u{1}") };
        let mut all = INCIDENTS.all();
        Stored {
            name: name.into(),
            packed: packed.into_boxed_str(),
            keys: std::array::from_fn(|_| all.next().map_or(Key::Missing, |field| fields.field(field).into_owned())),
            visible_from,
        }
    }

    /// Every field's index, from sorting plain numbers: each incident's key
    /// as a number (a text by its rank among the field's texts), then its
    /// name's rank among all names.
    fn build_indexes(&self) -> Vec<BTreeMap<Key, Ties>> {
        // The first eight bytes of a name decide most comparisons without reading it.
        let head = |name: &str| {
            let mut bytes = [0u8; 8];
            let head = &name.as_bytes()[..name.len().min(8)];
            bytes[..head.len()].copy_from_slice(head);
            u64::from_be_bytes(bytes)
        };
        let mut names: Vec<(u64, &str, Id)> = self.live().map(|(id, s)| (head(&s.name), &*s.name, id)).collect();
        names.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let mut rank = vec![0u32; self.slots.len()];
        for (position, (_, _, id)) in names.iter().enumerate() {
            rank[*id as usize] = position as u32;
        }
        (0..FIELDS)
            .map(|field| {
                let texts: Vec<&str> = self
                    .live()
                    .filter_map(|(_, s)| match s.key(field) {
                        Key::Text(text) => Some(text.as_str()),
                        _ => None,
                    })
                    .collect::<BTreeSet<&str>>()
                    .into_iter()
                    .collect();
                // In `Key`'s own order: missing, numbers, times, texts.
                let code = |key: &Key| match key {
                    Key::Missing => (0u8, 0i64),
                    Key::Number(n) => (1, *n),
                    Key::Time(t) => (2, *t),
                    Key::Text(text) => (3, texts.binary_search(&text.as_str()).unwrap_or_default() as i64),
                };
                let mut entries: Vec<(u8, i64, u32, Id)> = self
                    .live()
                    .map(|(id, s)| {
                        let (kind, value) = code(s.key(field));
                        (kind, value, rank[id as usize], id)
                    })
                    .collect();
                entries.sort_unstable();
                let mut groups: Vec<(Key, Ties)> = Vec::new();
                let mut last = None;
                for (kind, value, _, id) in entries {
                    match groups.last_mut() {
                        Some((_, ties)) if last == Some((kind, value)) => {
                            let at = ties.ids().len();
                            ties.insert(at, id);
                        }
                        _ => {
                            let key = match kind {
                                0 => Key::Missing,
                                1 => Key::Number(value),
                                2 => Key::Time(value),
                                _ => Key::Text(texts[value as usize].to_owned()),
                            };
                            groups.push((key, Ties::One(id)));
                        }
                    }
                    last = Some((kind, value));
                }
                groups.into_iter().collect()
            })
            .collect()
    }

    fn live(&self) -> impl Iterator<Item = (Id, &Stored)> {
        self.slots.iter().enumerate().filter_map(|(id, s)| s.as_ref().map(|s| (id as Id, s)))
    }

    fn stored(&self, id: Id) -> &Stored {
        self.slots[id as usize].as_ref().expect("an indexed id is live")
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// The incident of this name (without regard to case), visible or not.
    pub fn find(&self, name: &str) -> Option<Id> {
        self.by_name.get(name.to_ascii_lowercase().as_str()).copied()
    }

    pub fn get(&self, id: Id) -> Option<&Stored> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// Appends the incident's JSON to `out`.
    pub fn write_json(&self, id: Id, out: &mut String) {
        let Some(stored) = self.get(id) else { return };
        let mut parts = stored.packed.split(MARK);
        out.push_str(parts.next().unwrap_or_default());
        for part in parts {
            out.push_str(&self.prefix);
            out.push_str(part);
        }
    }

    /// The incident's JSON, as text.
    pub fn json(&self, id: Id) -> String {
        let mut out = String::with_capacity(self.get(id).map_or(0, |s| s.packed.len() + 3 * self.prefix.len()));
        self.write_json(id, &mut out);
        out
    }

    /// The incident's JSON, parsed.
    pub fn value(&self, id: Id) -> Option<Value> {
        self.get(id)?;
        serde_json::from_str(&self.json(id)).ok()
    }

    /// Every incident in insertion order, parsed.
    pub fn values(&self) -> impl Iterator<Item = Value> + '_ {
        self.live().filter_map(|(id, _)| self.value(id))
    }

    /// The highest `incidentNumber`, from its index.
    pub fn max_number(&self) -> Option<i64> {
        let field = INCIDENTS.resolve("properties/incidentNumber").ok()?.index();
        match self.sorted.get(field)?.last_key_value()?.0 {
            Key::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// Adds an incident after all others, replacing one of the same name.
    pub fn push(&mut self, value: &Value, visible_from: Option<Instant>) -> Id {
        let name = value["name"].as_str().unwrap_or_default();
        if let Some(old) = self.find(name) {
            self.remove(old);
        }
        let id = self.slots.len() as Id;
        let stored = self.stored_from(name, &value.to_string(), value, visible_from);
        self.slots.push(Some(stored));
        self.link(id);
        id
    }

    /// Replaces the incident `id` in place (the same position in insertion order).
    pub fn replace(&mut self, id: Id, value: &Value) {
        let Some(visible_from) = self.get(id).map(|s| s.visible_from) else { return };
        self.unlink(id);
        let name = value["name"].as_str().unwrap_or_default();
        if let Some(other) = self.find(name) {
            // Renamed onto another incident's name: that one goes.
            self.remove(other);
        }
        let stored = self.stored_from(name, &value.to_string(), value, visible_from);
        self.slots[id as usize] = Some(stored);
        self.link(id);
    }

    /// Changes the incident `id` through its JSON; returns it changed.
    pub fn modify(&mut self, id: Id, change: impl FnOnce(&mut Value)) -> Option<Value> {
        let mut value = self.value(id)?;
        change(&mut value);
        self.replace(id, &value);
        Some(value)
    }

    /// Removes the incident `id`; false if there was none.
    pub fn remove(&mut self, id: Id) -> bool {
        if self.get(id).is_none() {
            return false;
        }
        self.unlink(id);
        self.slots[id as usize] = None;
        true
    }

    /// Enters a stored incident in the name map and every index.
    fn link(&mut self, id: Id) {
        let stored = self.slots[id as usize].as_ref().expect("linked after storing");
        self.by_name.insert(stored.name.to_ascii_lowercase().into(), id);
        for (field, index) in self.sorted.iter_mut().enumerate() {
            let key = stored.key(field);
            match index.get_mut(key) {
                Some(ties) => {
                    let at = ties.ids().partition_point(|other| slot_name(&self.slots, *other) < &*stored.name);
                    ties.insert(at, id);
                }
                None => {
                    index.insert(key.clone(), Ties::One(id));
                }
            }
        }
    }

    /// Takes a stored incident out of the name map and every index.
    fn unlink(&mut self, id: Id) {
        let stored = self.slots[id as usize].as_ref().expect("unlinked while stored");
        self.by_name.remove(stored.name.to_ascii_lowercase().as_str());
        for (field, index) in self.sorted.iter_mut().enumerate() {
            let key = stored.key(field);
            let Some(ties) = index.get_mut(key) else { continue };
            let at = ties.ids().partition_point(|other| slot_name(&self.slots, *other) < &*stored.name);
            let at = if ties.ids().get(at) == Some(&id) { Some(at) } else { ties.ids().iter().position(|o| *o == id) };
            if at.is_some_and(|at| ties.remove(at)) {
                index.remove(key);
            }
        }
    }

    /// The ids of a page in `order`: at most `top` visible incidents that
    /// match `filter` and sort after `after`, and whether more follow.
    pub fn page(
        &self,
        order: &Order,
        filter: Option<&Filter>,
        after: Option<&SortKey>,
        top: usize,
        now: Instant,
    ) -> Page {
        let wanted = |stored: &Stored| stored.visible_at(now) && filter.is_none_or(|f| f.matches(stored));
        let mut ids = Vec::with_capacity(top.min(1024) + 1);
        match order.terms() {
            [(field, descending)] if after.is_none_or(|(keys, _)| keys.len() == 1) => {
                let after = after.map(|(keys, name)| (&keys[0], name.as_str()));
                for id in self.walk(field.index(), *descending, after) {
                    if wanted(self.stored(id)) {
                        ids.push(id);
                        if ids.len() > top {
                            break;
                        }
                    }
                }
            }
            _ => {
                // Several terms: sort the candidates by reference, keep the first ones.
                let compare = |a: Id, b: Id| {
                    let (a, b) = (self.stored(a), self.stored(b));
                    order.compare_by(|t| term_key(order, a, t), &a.name, |t| term_key(order, b, t), &b.name)
                };
                let after_ok = |stored: &Stored| {
                    after.is_none_or(|(keys, name)| {
                        order.compare_by(|t| term_key(order, stored, t), &stored.name, |t| keys.get(t), name).is_gt()
                    })
                };
                ids = self.live().filter(|(_, s)| wanted(s) && after_ok(s)).map(|(id, _)| id).collect();
                if ids.len() > top + 1 {
                    ids.select_nth_unstable_by(top, |a, b| compare(*a, *b));
                    ids.truncate(top + 1);
                }
                ids.sort_unstable_by(|a, b| compare(*a, *b));
            }
        }
        let more = ids.len() > top;
        ids.truncate(top);
        Page { ids, more }
    }

    /// The ids in one field's order (a descending order keeps names
    /// ascending among equal keys), from just after `after` (a key and a name).
    fn walk<'s>(
        &'s self,
        field: usize,
        descending: bool,
        after: Option<(&Key, &str)>,
    ) -> Box<dyn Iterator<Item = Id> + 's> {
        let index = &self.sorted[field];
        let ids = |ties: &'s Ties| ties.ids().iter().copied();
        let Some((key, name)) = after else {
            return if descending {
                Box::new(index.values().rev().flat_map(ids))
            } else {
                Box::new(index.values().flat_map(ids))
            };
        };
        // The rest of the cursor's own key: the names after it.
        let same_key = index.get(key).map_or(&[][..], |ties| {
            let ties = ties.ids();
            &ties[ties.partition_point(|id| &*self.stored(*id).name <= name)..]
        });
        let rest: Box<dyn Iterator<Item = Id> + 's> = if descending {
            Box::new(index.range(..key).rev().flat_map(move |(_, ties)| ids(ties)))
        } else {
            Box::new(index.range((Bound::Excluded(key), Bound::Unbounded)).flat_map(move |(_, ties)| ids(ties)))
        };
        Box::new(same_key.iter().copied().chain(rest))
    }

    /// The sort key of an incident in `order`, as a `$skipToken` carries it.
    pub fn sort_key(&self, id: Id, order: &Order) -> SortKey {
        let stored = self.stored(id);
        (order.terms().iter().map(|(field, _)| stored.key(field.index()).clone()).collect(), stored.name.to_string())
    }
}

/// An incident's key for the `term`-th term of `order`.
fn term_key<'a>(order: &Order, stored: &'a Stored, term: usize) -> Option<&'a Key> {
    order.terms().get(term).map(|(field, _)| stored.key(field.index()))
}

fn slot_name(slots: &[Option<Stored>], id: Id) -> &str {
    slots[id as usize].as_ref().map_or("", |s| &s.name)
}
