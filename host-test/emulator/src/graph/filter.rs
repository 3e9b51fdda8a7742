//! The OData `$filter` subset Graph's collections take here: comparisons
//! (`eq ne gt ge lt le`) on top-level properties joined by `and` and `or`
//! (`and` binds tighter). Text compares case-insensitively, as Graph does for
//! enums; datetimes compare as instants, quoted or not.

use serde_json::Value;

use crate::odata::{parse_time, Key};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Time,
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

#[derive(Clone, Debug)]
struct Compare {
    field: String,
    kind: Kind,
    op: Op,
    value: Key,
}

/// Alternatives (`or`) of conjunctions (`and`).
#[derive(Clone, Debug)]
pub struct Filter {
    any: Vec<Vec<Compare>>,
}

impl Filter {
    /// Parses `input` against the filterable `fields` of `type_name`.
    pub fn parse(input: &str, fields: &[(&str, Kind)], type_name: &str) -> Result<Filter, String> {
        let tokens = tokenize(input)?;
        let mut any = vec![Vec::new()];
        let mut rest = tokens.as_slice();
        loop {
            let (compare, after) = comparison(rest, fields, type_name)?;
            if let Some(all) = any.last_mut() {
                all.push(compare);
            }
            match after {
                [] => return Ok(Filter { any }),
                [Token::Word(w), tail @ ..] if w.eq_ignore_ascii_case("and") => rest = tail,
                [Token::Word(w), tail @ ..] if w.eq_ignore_ascii_case("or") => {
                    any.push(Vec::new());
                    rest = tail;
                }
                [other, ..] => return Err(format!("Syntax error at '{}' in $filter: expected 'and' or 'or'.", other.text())),
            }
        }
    }

    pub fn matches(&self, item: &Value) -> bool {
        self.any.iter().any(|all| all.iter().all(|c| c.matches(item)))
    }
}

impl Compare {
    fn matches(&self, item: &Value) -> bool {
        let value = &item[self.field.as_str()];
        let left = match self.kind {
            Kind::Time => value.as_str().and_then(parse_time).map_or(Key::Missing, Key::Time),
            Kind::Text => value.as_str().map_or(Key::Missing, |s| Key::Text(s.to_lowercase())),
        };
        compare(&left, self.op, &self.value)
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
        Op::Eq => ordering.is_some_and(|o| o.is_eq()),
        Op::Ne => !ordering.is_some_and(|o| o.is_eq()),
        Op::Gt => ordering.is_some_and(|o| o.is_gt()),
        Op::Ge => ordering.is_some_and(|o| o.is_ge()),
        Op::Lt => ordering.is_some_and(|o| o.is_lt()),
        Op::Le => ordering.is_some_and(|o| o.is_le()),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
}

impl Token {
    fn text(&self) -> &str {
        match self {
            Token::Word(w) | Token::Quoted(w) => w,
        }
    }
}

fn comparison<'t>(tokens: &'t [Token], fields: &[(&str, Kind)], type_name: &str) -> Result<(Compare, &'t [Token]), String> {
    let [Token::Word(name), Token::Word(op), literal, rest @ ..] = tokens else {
        return Err("Syntax error in $filter: expected '<property> <operator> <value>'.".into());
    };
    let Some((field, kind)) = fields.iter().find(|(f, _)| f.eq_ignore_ascii_case(name)) else {
        return Err(format!("Could not find a property named '{name}' on type '{type_name}'."));
    };
    let op = match op.to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "lt" => Op::Lt,
        "le" => Op::Le,
        other => return Err(format!("Syntax error at '{other}' in $filter: the emulator supports eq, ne, gt, ge, lt, le.")),
    };
    let value = match (kind, literal) {
        (_, Token::Word(w)) if w.eq_ignore_ascii_case("null") => Key::Missing,
        (Kind::Time, t) => parse_time(t.text()).map(Key::Time).ok_or_else(|| format!("The DateTimeOffset text '{}' is invalid.", t.text()))?,
        (Kind::Text, Token::Quoted(t)) => Key::Text(t.to_lowercase()),
        (Kind::Text, Token::Word(w)) => return Err(format!("A binary operator with incompatible types was detected: '{w}' is not a quoted string for '{field}'.")),
    };
    Ok((Compare { field: (*field).to_owned(), kind: *kind, op, value }, rest))
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
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
                    None => return Err("Unterminated string literal in $filter.".into()),
                }
            }
            tokens.push(Token::Quoted(text));
        } else if c == '(' || c == ')' {
            return Err("Parentheses in $filter are not supported by the emulator.".into());
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '\'' || c == '(' || c == ')' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[(&str, Kind)] = &[("status", Kind::Text), ("assignedTo", Kind::Text), ("createdDateTime", Kind::Time)];

    #[test]
    fn and_or_null_and_times() {
        let item = json!({"status": "active", "assignedTo": null, "createdDateTime": "2024-02-01T10:00:00.1234567Z"});
        let parse = |f: &str| Filter::parse(f, FIELDS, "incident").unwrap();
        assert!(parse("status eq 'Active' and createdDateTime ge 2024-01-01T00:00:00Z").matches(&item));
        assert!(parse("assignedTo eq null").matches(&item));
        assert!(!parse("assignedTo ne null").matches(&item));
        assert!(parse("status eq 'resolved' or createdDateTime lt '2024-02-02T00:00:00Z'").matches(&item));
        assert!(!parse("status ne 'active'").matches(&item));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(Filter::parse("owner eq 'x'", FIELDS, "incident").unwrap_err().contains("owner"));
        assert!(Filter::parse("status like 'x'", FIELDS, "incident").unwrap_err().contains("like"));
        assert!(Filter::parse("createdDateTime ge yesterday", FIELDS, "incident").unwrap_err().contains("yesterday"));
        assert!(Filter::parse("status eq 'x", FIELDS, "incident").is_err());
        assert!(Filter::parse("status eq", FIELDS, "incident").is_err());
    }
}
