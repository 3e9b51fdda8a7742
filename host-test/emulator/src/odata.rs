//! The OData `$filter` subset the emulated collections take: comparisons
//! (`eq ne gt ge lt le`) joined by `and`, `or`, `not` and parentheses, with
//! `and` binding tighter than `or`. Each collection supplies a [`Schema`]
//! naming its filterable fields; ARM incidents also take `$orderby`.
//! Text compares case-insensitively (as both Sentinel and Graph do for
//! enums); datetimes compare as instants, quoted or not.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// A field's value, typed so datetimes compare as instants. The order is
/// total (a missing value first, then by variant), so keys can index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Key {
    Missing,
    Number(i64),
    Time(i64),
    Text(String),
}

/// How a field's value is read, and so how a literal is typed against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Time,
    Number,
}

/// The fields one collection lets `$filter` name and where they sit in its JSON.
pub struct Schema {
    /// The object holding the fields, named as a path prefix in filters:
    /// `properties` for ARM resources, none for Graph's flat entities.
    pub parent: Option<&'static str>,
    /// Field names as they appear in the JSON; matched case-insensitively.
    pub fields: &'static [(&'static str, Kind)],
    /// The entity type named in "no such property" errors.
    pub type_name: &'static str,
}

/// A field a filter or order term reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldRef {
    parent: Option<&'static str>,
    name: &'static str,
    kind: Kind,
    /// Its position in its schema's `fields`.
    index: usize,
}

/// Something a filter can read fields of: a JSON item, or an incident whose
/// fields were read once when it was stored.
pub trait Fields {
    fn field(&self, field: FieldRef) -> Cow<'_, Key>;
}

impl Fields for Value {
    fn field(&self, field: FieldRef) -> Cow<'_, Key> {
        Cow::Owned(field.key_of(self))
    }
}

impl<T: Fields + ?Sized> Fields for &T {
    fn field(&self, field: FieldRef) -> Cow<'_, Key> {
        (**self).field(field)
    }
}

/// Sentinel incidents in ARM: fields under `properties/`.
pub const INCIDENTS: Schema = Schema {
    parent: Some("properties"),
    fields: &[
        ("status", Kind::Text),
        ("severity", Kind::Text),
        ("classification", Kind::Text),
        ("title", Kind::Text),
        ("createdTimeUtc", Kind::Time),
        ("lastModifiedTimeUtc", Kind::Time),
        ("incidentNumber", Kind::Number),
    ],
    type_name: "Incident",
};

/// ARM's order when `$orderby` is absent: newest change first.
const LAST_MODIFIED: FieldRef =
    FieldRef { parent: Some("properties"), name: "lastModifiedTimeUtc", kind: Kind::Time, index: 5 };

impl Schema {
    /// The field `path` names, e.g. `properties/status` or `status`.
    pub fn resolve(&self, path: &str) -> Result<FieldRef, String> {
        let name = match self.parent {
            None => path,
            Some(parent) => path
                .strip_prefix(parent)
                .and_then(|rest| rest.strip_prefix('/'))
                .ok_or_else(|| format!("'{path}' is not a property path such as {parent}/status"))?,
        };
        let (index, (name, kind)) = self
            .fields
            .iter()
            .enumerate()
            .find(|(_, (field, _))| field.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("Could not find a property named '{name}' on type '{}'.", self.type_name))?;
        Ok(FieldRef { parent: self.parent, name, kind: *kind, index })
    }

    /// Every field of the schema, in the order of `fields`.
    pub fn all(&self) -> impl Iterator<Item = FieldRef> + '_ {
        self.fields.iter().enumerate().map(|(index, (name, kind))| FieldRef {
            parent: self.parent,
            name,
            kind: *kind,
            index,
        })
    }
}

impl FieldRef {
    /// Its name, as the JSON spells it.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Its position in its schema's fields.
    pub fn index(self) -> usize {
        self.index
    }

    pub fn key_of(self, item: &Value) -> Key {
        let value = match self.parent {
            Some(parent) => &item[parent][self.name],
            None => &item[self.name],
        };
        match self.kind {
            Kind::Number => value.as_i64().map_or(Key::Missing, Key::Number),
            Kind::Time => value.as_str().and_then(parse_time).map_or(Key::Missing, Key::Time),
            Kind::Text => value.as_str().map_or(Key::Missing, |s| Key::Text(s.to_lowercase())),
        }
    }

    /// A literal typed for comparison with this field.
    fn key_from_literal(self, literal: &Literal) -> Result<Key, String> {
        match (self.kind, literal) {
            // null only matches a missing or null value, whatever the field's type.
            (_, Literal::Null) => Ok(Key::Missing),
            (Kind::Number, Literal::Number(n)) => Ok(Key::Number(*n)),
            (Kind::Time, Literal::Text(t) | Literal::Bare(t)) => {
                parse_time(t).map(Key::Time).ok_or_else(|| format!("The DateTimeOffset text '{t}' is invalid."))
            }
            (Kind::Text, Literal::Text(t)) => Ok(Key::Text(t.to_lowercase())),
            (_, literal) => Err(format!(
                "A binary operator with incompatible types was detected: {literal} cannot be compared with {self}."
            )),
        }
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.parent {
            Some(parent) => write!(f, "{parent}/{}", self.name),
            None => f.write_str(self.name),
        }
    }
}

pub fn parse_time(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_microsecond())
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Text(String),
    Number(i64),
    Bare(String),
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Literal::Text(t) => write!(f, "'{t}'"),
            Literal::Number(n) => write!(f, "{n}"),
            Literal::Bare(w) => f.write_str(w),
            Literal::Null => f.write_str("null"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A parsed `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Compare(FieldCompare),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldCompare {
    field: FieldRef,
    op: Op,
    value: Key,
}

impl Filter {
    pub fn matches(&self, item: &impl Fields) -> bool {
        match self {
            Filter::Compare(c) => compare(&item.field(c.field), c.op, &c.value),
            Filter::And(a, b) => a.matches(item) && b.matches(item),
            Filter::Or(a, b) => a.matches(item) || b.matches(item),
            Filter::Not(inner) => !inner.matches(item),
        }
    }
}

fn compare(left: &Key, op: Op, right: &Key) -> bool {
    // null only equals null; it is never greater or less than anything.
    if matches!(left, Key::Missing) || matches!(right, Key::Missing) {
        return match op {
            Op::Eq => left == right,
            Op::Ne => left != right,
            _ => false,
        };
    }
    let ordering = left.partial_cmp(right);
    match op {
        Op::Eq => ordering == Some(Ordering::Equal),
        Op::Ne => ordering != Some(Ordering::Equal),
        Op::Gt => ordering == Some(Ordering::Greater),
        Op::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => ordering == Some(Ordering::Less),
        Op::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Text(String),
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        // '' is a quote inside a literal.
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => text.push(c),
                        None => return Err("a string literal is not closed with '".into()),
                    }
                }
                tokens.push(Token::Text(text));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '\'' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser<'s> {
    schema: &'s Schema,
    tokens: Vec<Token>,
    at: usize,
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.peek_word("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("a '(' is not closed".into()),
                }
            }
            Some(Token::Word(field)) => self.comparison(&field),
            other => Err(format!("expected a property path, found {other:?}")),
        }
    }

    fn comparison(&mut self, field: &str) -> Result<Filter, String> {
        let field = self.schema.resolve(field)?;
        let op = match self.next() {
            Some(Token::Word(op)) => match op.to_ascii_lowercase().as_str() {
                "eq" => Op::Eq,
                "ne" => Op::Ne,
                "gt" => Op::Gt,
                "ge" => Op::Ge,
                "lt" => Op::Lt,
                "le" => Op::Le,
                other => return Err(format!("'{other}' is not a comparison operator (eq, ne, gt, ge, lt, le)")),
            },
            other => return Err(format!("expected a comparison operator after {field}, found {other:?}")),
        };
        let literal = match self.next() {
            Some(Token::Text(text)) => Literal::Text(text),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("null") => Literal::Null,
            Some(Token::Word(word)) => word.parse().map(Literal::Number).unwrap_or(Literal::Bare(word)),
            other => return Err(format!("expected a value, found {other:?}")),
        };
        Ok(Filter::Compare(FieldCompare { field, op, value: field.key_from_literal(&literal)? }))
    }
}

/// Parses `input` against the fields `schema` lets a filter name.
pub fn parse_filter(input: &str, schema: &Schema) -> Result<Filter, String> {
    let mut parser = Parser { schema, tokens: tokenize(input)?, at: 0 };
    let filter = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(filter),
        Some(extra) => Err(format!("unexpected {extra:?} after a complete expression")),
    }
}

/// A parsed `$orderby` on ARM incidents, always ending with the incident
/// name so that the order is total and paging is stable.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    terms: Vec<(FieldRef, bool)>,
}

impl Order {
    pub fn parse(input: Option<&str>) -> Result<Order, String> {
        let Some(input) = input else {
            return Ok(Order { terms: vec![(LAST_MODIFIED, true)] });
        };
        let terms = input
            .split(',')
            .map(|term| {
                let mut words = term.split_whitespace();
                let field = INCIDENTS.resolve(words.next().ok_or("an empty $orderby term")?)?;
                let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("asc") => false,
                    Some("desc") => true,
                    Some(other) => return Err(format!("'{other}' is neither asc nor desc")),
                };
                match words.next() {
                    None => Ok((field, descending)),
                    Some(extra) => Err(format!("unexpected '{extra}' in $orderby")),
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Order { terms })
    }

    /// The terms: each field and whether it is descending.
    pub fn terms(&self) -> &[(FieldRef, bool)] {
        &self.terms
    }

    /// The sort key of an incident: its ordered field values, then its name.
    #[cfg(test)]
    pub fn key(&self, incident: &Value) -> (Vec<Key>, String) {
        let keys = self.terms.iter().map(|(field, _)| field.key_of(incident)).collect();
        (keys, incident["name"].as_str().unwrap_or_default().to_owned())
    }

    #[cfg(test)]
    pub fn compare(&self, a: &(Vec<Key>, String), b: &(Vec<Key>, String)) -> Ordering {
        self.compare_by(|term| a.0.get(term), &a.1, |term| b.0.get(term), &b.1)
    }

    /// Compares two items given as their keys (by term index) and names; a
    /// missing key sorts first, and the name breaks ties, ascending.
    pub fn compare_by<'a, 'b>(
        &self,
        a: impl Fn(usize) -> Option<&'a Key>,
        a_name: &str,
        b: impl Fn(usize) -> Option<&'b Key>,
        b_name: &str,
    ) -> Ordering {
        for (index, (_, descending)) in self.terms.iter().enumerate() {
            let ordering = a(index).cmp(&b(index));
            let ordering = if *descending { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        a_name.cmp(b_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arm(filter: &str) -> Result<Filter, String> {
        parse_filter(filter, &INCIDENTS)
    }

    /// A Graph-style schema: top-level camelCase fields.
    const GRAPH: Schema = Schema {
        parent: None,
        fields: &[("status", Kind::Text), ("assignedTo", Kind::Text), ("createdDateTime", Kind::Time)],
        type_name: "incident",
    };

    fn incident(status: &str, severity: &str, number: i64, created: &str) -> Value {
        json!({"name": format!("n{number}"), "properties": {"status": status, "severity": severity, "incidentNumber": number,
            "createdTimeUtc": created, "lastModifiedTimeUtc": created, "title": "It's bad"}})
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let filter =
            arm("properties/status eq 'New' or properties/status eq 'Active' and properties/severity eq 'High'")
                .unwrap();
        assert!(filter.matches(&incident("New", "Low", 1, "2026-01-01T00:00:00Z")));
        assert!(!filter.matches(&incident("Active", "Low", 1, "2026-01-01T00:00:00Z")));
        assert!(filter.matches(&incident("Active", "High", 1, "2026-01-01T00:00:00Z")));
    }

    #[test]
    fn parentheses_not_and_quotes() {
        let filter = arm("not (properties/title eq 'It''s bad') or properties/incidentNumber gt 5").unwrap();
        assert!(!filter.matches(&incident("New", "Low", 1, "2026-01-01T00:00:00Z")));
        assert!(filter.matches(&incident("New", "Low", 6, "2026-01-01T00:00:00Z")));
    }

    #[test]
    fn datetimes_compare_as_instants_with_or_without_quotes() {
        let item = incident("New", "Low", 1, "2026-01-01T10:00:00.1234567Z");
        assert!(arm("properties/createdTimeUtc ge 2026-01-01T10:00:00Z").unwrap().matches(&item));
        assert!(arm("properties/createdTimeUtc lt '2026-01-01T10:00:00.2Z'").unwrap().matches(&item));
        assert!(!arm("properties/lastModifiedTimeUtc gt 2026-01-01T11:00:00+00:00").unwrap().matches(&item));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        assert!(arm("properties/owner eq 'x'").unwrap_err().contains("owner"));
        assert!(arm("properties/status like 'x'").unwrap_err().contains("like"));
        assert!(arm("properties/status eq 'x").unwrap_err().contains("not closed"));
        assert!(arm("(properties/status eq 'x'").unwrap_err().contains("not closed"));
        assert!(arm("properties/createdTimeUtc ge yesterday").unwrap_err().contains("yesterday"));
    }

    #[test]
    fn order_breaks_ties_by_name() {
        let order = Order::parse(Some("properties/severity desc, properties/incidentNumber")).unwrap();
        let a = order.key(&incident("New", "Low", 2, "2026-01-01T00:00:00Z"));
        let b = order.key(&incident("New", "Low", 1, "2026-01-01T00:00:00Z"));
        assert_eq!(order.compare(&a, &b), Ordering::Greater);
        assert!(Order::parse(Some("properties/status sideways")).is_err());
    }

    #[test]
    fn top_level_fields_null_and_times() {
        let item = json!({"status": "active", "assignedTo": null, "createdDateTime": "2024-02-01T10:00:00.1234567Z"});
        let matches = |f: &str| parse_filter(f, &GRAPH).is_ok_and(|filter| filter.matches(&item));
        assert!(matches("status eq 'Active' and createdDateTime ge 2024-01-01T00:00:00Z"));
        assert!(matches("assignedTo eq null"));
        assert!(!matches("assignedTo ne null"));
        assert!(matches("status eq 'resolved' or createdDateTime lt '2024-02-02T00:00:00Z'"));
        assert!(!matches("status ne 'active'"));
        assert!(matches("not (status eq 'resolved' or assignedTo ne null)"));
    }

    #[test]
    fn top_level_errors_name_the_problem() {
        let error = |f: &str| parse_filter(f, &GRAPH).unwrap_err();
        assert!(error("owner eq 'x'").contains("owner"));
        assert!(error("status like 'x'").contains("like"));
        assert!(error("createdDateTime ge yesterday").contains("yesterday"));
        assert!(error("status eq active").contains("active"));
        assert!(error("properties/status eq 'x'").contains("properties/status"));
        assert!(parse_filter("status eq 'x", &GRAPH).is_err());
        assert!(parse_filter("status eq", &GRAPH).is_err());
    }
}
