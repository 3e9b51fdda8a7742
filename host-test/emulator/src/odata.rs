//! The OData subset Sentinel's incident list takes: `$filter` comparisons on
//! `properties/<field>` joined by `and`, `or`, `not` and parentheses, and
//! `$orderby` on the same fields.

use std::cmp::Ordering;

use serde_json::Value;

/// A field's value, typed so datetimes compare as instants.
#[derive(Clone, Debug, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
pub enum Key {
    Missing,
    Number(i64),
    Time(i64),
    Text(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Status,
    Severity,
    Classification,
    Title,
    CreatedTime,
    LastModifiedTime,
    IncidentNumber,
}

impl Field {
    fn parse(text: &str) -> Result<Field, String> {
        let name = text
            .strip_prefix("properties/")
            .ok_or_else(|| format!("'{text}' is not a property path such as properties/status"))?;
        Ok(match name.to_ascii_lowercase().as_str() {
            "status" => Field::Status,
            "severity" => Field::Severity,
            "classification" => Field::Classification,
            "title" => Field::Title,
            "createdtimeutc" => Field::CreatedTime,
            "lastmodifiedtimeutc" => Field::LastModifiedTime,
            "incidentnumber" => Field::IncidentNumber,
            _ => return Err(format!("Could not find a property named '{name}' on type 'Incident' that can be filtered or ordered")),
        })
    }

    fn json_name(self) -> &'static str {
        match self {
            Field::Status => "status",
            Field::Severity => "severity",
            Field::Classification => "classification",
            Field::Title => "title",
            Field::CreatedTime => "createdTimeUtc",
            Field::LastModifiedTime => "lastModifiedTimeUtc",
            Field::IncidentNumber => "incidentNumber",
        }
    }

    fn key_of(self, incident: &Value) -> Key {
        let value = &incident["properties"][self.json_name()];
        match self {
            Field::IncidentNumber => value.as_i64().map_or(Key::Missing, Key::Number),
            Field::CreatedTime | Field::LastModifiedTime => value.as_str().and_then(parse_time).map_or(Key::Missing, Key::Time),
            _ => value.as_str().map_or(Key::Missing, |s| Key::Text(s.to_lowercase())),
        }
    }

    /// A literal typed for comparison with this field.
    fn key_from_literal(self, literal: &Literal) -> Result<Key, String> {
        match (self, literal) {
            (Field::IncidentNumber, Literal::Number(n)) => Ok(Key::Number(*n)),
            (Field::CreatedTime | Field::LastModifiedTime, Literal::Text(t) | Literal::Bare(t)) => {
                parse_time(t).map(Key::Time).ok_or_else(|| format!("'{t}' is not a valid DateTimeOffset"))
            }
            (Field::Status | Field::Severity | Field::Classification | Field::Title, Literal::Text(t)) => Ok(Key::Text(t.to_lowercase())),
            (_, Literal::Null) => Ok(Key::Missing),
            (field, literal) => Err(format!("a {literal:?} cannot be compared with properties/{}", field.json_name())),
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
    field: Field,
    op: Op,
    value: Key,
}

impl Filter {
    pub fn matches(&self, incident: &Value) -> bool {
        match self {
            Filter::Compare(c) => compare(&c.field.key_of(incident), c.op, &c.value),
            Filter::And(a, b) => a.matches(incident) && b.matches(incident),
            Filter::Or(a, b) => a.matches(incident) || b.matches(incident),
            Filter::Not(inner) => !inner.matches(incident),
        }
    }
}

fn compare(left: &Key, op: Op, right: &Key) -> bool {
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

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
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
        let field = Field::parse(field)?;
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
            other => return Err(format!("expected a comparison operator after properties/{}, found {other:?}", field.json_name())),
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

pub fn parse_filter(input: &str) -> Result<Filter, String> {
    let mut parser = Parser { tokens: tokenize(input)?, at: 0 };
    let filter = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(filter),
        Some(extra) => Err(format!("unexpected {extra:?} after a complete expression")),
    }
}

/// A parsed `$orderby`, always ending with the incident name so that the
/// order is total and paging is stable.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    terms: Vec<(Field, bool)>,
}

impl Order {
    pub fn parse(input: Option<&str>) -> Result<Order, String> {
        let Some(input) = input else {
            return Ok(Order { terms: vec![(Field::LastModifiedTime, true)] });
        };
        let terms = input
            .split(',')
            .map(|term| {
                let mut words = term.split_whitespace();
                let field = Field::parse(words.next().ok_or("an empty $orderby term")?)?;
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

    /// The sort key of an incident: its ordered field values, then its name.
    pub fn key(&self, incident: &Value) -> (Vec<Key>, String) {
        let keys = self.terms.iter().map(|(field, _)| field.key_of(incident)).collect();
        (keys, incident["name"].as_str().unwrap_or_default().to_owned())
    }

    pub fn compare(&self, a: &(Vec<Key>, String), b: &(Vec<Key>, String)) -> Ordering {
        for (index, (_, descending)) in self.terms.iter().enumerate() {
            let ordering = a.0.get(index).partial_cmp(&b.0.get(index)).unwrap_or(Ordering::Equal);
            let ordering = if *descending { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        a.1.cmp(&b.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incident(status: &str, severity: &str, number: i64, created: &str) -> Value {
        json!({"name": format!("n{number}"), "properties": {"status": status, "severity": severity, "incidentNumber": number,
            "createdTimeUtc": created, "lastModifiedTimeUtc": created, "title": "It's bad"}})
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let filter = parse_filter("properties/status eq 'New' or properties/status eq 'Active' and properties/severity eq 'High'").unwrap();
        assert!(filter.matches(&incident("New", "Low", 1, "2026-01-01T00:00:00Z")));
        assert!(!filter.matches(&incident("Active", "Low", 1, "2026-01-01T00:00:00Z")));
        assert!(filter.matches(&incident("Active", "High", 1, "2026-01-01T00:00:00Z")));
    }

    #[test]
    fn parentheses_not_and_quotes() {
        let filter = parse_filter("not (properties/title eq 'It''s bad') or properties/incidentNumber gt 5").unwrap();
        assert!(!filter.matches(&incident("New", "Low", 1, "2026-01-01T00:00:00Z")));
        assert!(filter.matches(&incident("New", "Low", 6, "2026-01-01T00:00:00Z")));
    }

    #[test]
    fn datetimes_compare_as_instants_with_or_without_quotes() {
        let item = incident("New", "Low", 1, "2026-01-01T10:00:00.1234567Z");
        assert!(parse_filter("properties/createdTimeUtc ge 2026-01-01T10:00:00Z").unwrap().matches(&item));
        assert!(parse_filter("properties/createdTimeUtc lt '2026-01-01T10:00:00.2Z'").unwrap().matches(&item));
        assert!(!parse_filter("properties/lastModifiedTimeUtc gt 2026-01-01T11:00:00+00:00").unwrap().matches(&item));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        assert!(parse_filter("properties/owner eq 'x'").unwrap_err().contains("owner"));
        assert!(parse_filter("properties/status like 'x'").unwrap_err().contains("like"));
        assert!(parse_filter("properties/status eq 'x").unwrap_err().contains("not closed"));
        assert!(parse_filter("(properties/status eq 'x'").unwrap_err().contains("not closed"));
        assert!(parse_filter("properties/createdTimeUtc ge yesterday").unwrap_err().contains("yesterday"));
    }

    #[test]
    fn order_breaks_ties_by_name() {
        let order = Order::parse(Some("properties/severity desc, properties/incidentNumber")).unwrap();
        let a = order.key(&incident("New", "Low", 2, "2026-01-01T00:00:00Z"));
        let b = order.key(&incident("New", "Low", 1, "2026-01-01T00:00:00Z"));
        assert_eq!(order.compare(&a, &b), Ordering::Greater);
        assert!(Order::parse(Some("properties/status sideways")).is_err());
    }
}
