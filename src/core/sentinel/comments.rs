//! Incident comments. Adding is idempotent: each part's id is a UUIDv5 of the
//! incident, the caller's key (or the message) and the part number, so a
//! retried call overwrites its own comment instead of posting a second one.
//! A message over the service's 30,000 characters goes as ordered parts.

use serde::Deserialize;
use url::Url;

use super::incidents::workspace_url;
use crate::core::config::Settings;
use crate::core::error::Error;
use crate::core::ids::validate_id;

pub const MAX_COMMENT_CHARS: usize = 30_000;
/// Room for the "(2/3) " prefix of a split message.
const PART_PREFIX_ROOM: usize = 16;
/// The namespace of comment ids: a fixed UUID, so ids are the same everywhere.
const COMMENT_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1b_7d2e_43a9_4c1b_9a57_53e7_1c0d_a001);

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Author {
    #[serde(default)]
    pub object_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentProperties {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub created_time_utc: Option<String>,
    #[serde(default)]
    pub last_modified_time_utc: Option<String>,
    #[serde(default)]
    pub author: Option<Author>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Comment {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub properties: CommentProperties,
}

pub fn list_url(settings: &Settings, incident_id: &str) -> Result<Url, Error> {
    let id = validate_id("incident-id", incident_id)?;
    Ok(workspace_url(settings, &["incidents", id, "comments"]))
}

pub fn comment_url(settings: &Settings, incident_id: &str, comment_id: &str) -> Result<Url, Error> {
    let id = validate_id("incident-id", incident_id)?;
    let comment = validate_id("comment-id", comment_id)?;
    Ok(workspace_url(settings, &["incidents", id, "comments", comment]))
}

pub fn validate_message(message: &str, key: Option<&str>) -> Result<(), Error> {
    if message.trim().is_empty() {
        return Err(Error::invalid("message", "is empty"));
    }
    if message.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(Error::invalid("message", "contains a control character"));
    }
    if key.is_some_and(|k| k.trim().is_empty() || k.len() > 256) {
        return Err(Error::invalid("idempotency-key", "must be 1 to 256 bytes"));
    }
    Ok(())
}

/// The message in order, each part within the limit, split at a line or word
/// break where one is near.
pub fn split_message(message: &str) -> Vec<String> {
    if message.chars().count() <= MAX_COMMENT_CHARS {
        return vec![message.to_owned()];
    }
    let room = MAX_COMMENT_CHARS - PART_PREFIX_ROOM;
    let mut chunks = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        let end = rest.char_indices().nth(room).map_or(rest.len(), |(at, _)| at);
        let cut = if end == rest.len() { end } else { break_before(&rest[..end]).unwrap_or(end) };
        chunks.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    let total = chunks.len();
    chunks.iter().enumerate().map(|(i, chunk)| format!("({}/{total}) {chunk}", i + 1)).collect()
}

/// The last line break, or else space, in the final tenth of a chunk.
fn break_before(chunk: &str) -> Option<usize> {
    let floor = chunk.len() - chunk.len() / 10;
    chunk.rfind('\n').filter(|at| *at >= floor).or_else(|| chunk.rfind(' ').filter(|at| *at >= floor)).map(|at| at + 1)
}

/// The same incident, key (or message) and part always give the same id.
pub fn comment_id(incident_id: &str, message: &str, key: Option<&str>, part: usize) -> String {
    let basis = match key {
        Some(key) => format!("{incident_id}\nkey\n{key}\n{part}"),
        None => format!("{incident_id}\nmessage\n{message}\n{part}"),
    };
    uuid::Uuid::new_v5(&COMMENT_NAMESPACE, basis.as_bytes()).to_string()
}

pub fn put_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"properties": {"message": message}})).unwrap_or_default()
}

pub fn parse_comment(body: &[u8]) -> Result<Comment, Error> {
    serde_json::from_slice(body).map_err(|e| Error::invalid_response(format!("the comment could not be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/tests/fixtures/azure-specs/incident-comments/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn fixtures_parse() {
        let body = fixture("GetAllIncidentComments.json")["responses"]["200"]["body"].to_string();
        let list: crate::core::paging::Page<Comment> = crate::core::paging::parse(body.as_bytes(), "comments").unwrap();
        assert!(!list.value[0].properties.message.is_empty());
        assert!(list.value[0].properties.author.is_some());
        let created =
            parse_comment(fixture("CreateIncidentComment.json")["responses"]["201"]["body"].to_string().as_bytes())
                .unwrap();
        assert!(created.etag.is_some());
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(comment_id("i", "m", None, 0), comment_id("i", "m", None, 0));
        assert_ne!(comment_id("i", "m", None, 0), comment_id("i", "m", None, 1));
        assert_ne!(comment_id("i", "m", None, 0), comment_id("j", "m", None, 0));
        assert_eq!(comment_id("i", "a", Some("run-7"), 0), comment_id("i", "b", Some("run-7"), 0), "the key decides");
    }

    #[test]
    fn long_messages_split_in_order_within_the_limit() {
        let message = "word ".repeat(15_000);
        let parts = split_message(&message);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_COMMENT_CHARS));
        assert!(parts[0].starts_with("(1/3) ") && parts[2].starts_with("(3/3) "));
        let rejoined: String = parts.iter().map(|p| p.split_once(") ").unwrap().1).collect();
        assert_eq!(rejoined, message, "nothing lost");
        assert_eq!(split_message("short"), vec!["short"]);
    }
}
