//! Comments on Graph security incidents and alerts. Graph gives a comment no
//! id and answers a POST with the whole list, so a retried POST cannot
//! overwrite its first try as Sentinel's PUT does: a caller's idempotency key
//! instead ends the text as a short reference (` [ref:3f9a1c2b]`), and the
//! item's comments are read before the POST and before sending it again after
//! an answer that leaves it unknown whether it landed: with the reference
//! there, nothing is posted.

use serde_json::{json, Value};
use url::Url;

use super::security::{self, Collection, GraphComment};
use super::url;
use crate::core::config::Settings;
use crate::core::error::Error;
use crate::core::ids::validate_id;
use crate::core::sentinel::comments::MAX_COMMENT_CHARS;

/// The namespace of references: fixed, so a key gives the same one everywhere.
const REFERENCE_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x5d2c_91a0_7f3e_4b6a_8c1d_2e9f_0a4b_c0de);
/// An idempotency key's bound, as for Sentinel comments.
const MAX_KEY_BYTES: usize = 256;

/// The reference a key adds to the text: the first 8 hex digits of the key's
/// UUIDv5 (32 bits: two keys on one item collide about once in 4 billion).
pub fn reference(key: &str) -> String {
    let id = uuid::Uuid::new_v5(&REFERENCE_NAMESPACE, key.as_bytes()).simple().to_string();
    format!("[ref:{}]", &id[..8])
}

/// The text as posted: with a key, its reference after one space.
pub fn text_with_reference(text: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{text} {}", reference(key)),
        None => text.to_owned(),
    }
}

/// Whether any comment holds the reference (where the key put it or not).
pub fn has_reference(comments: &[GraphComment], reference: &str) -> bool {
    comments.iter().any(|c| c.comment.as_deref().is_some_and(|text| text.contains(reference)))
}

/// Refused before any request: an empty text, a control character, a text
/// that with its reference passes the limit, a blank or over-long key. The
/// limit is Sentinel's 30,000 characters (Graph documents none; a unified
/// incident's comments are Sentinel's).
pub fn validate(text: &str, key: Option<&str>) -> Result<(), Error> {
    if text.trim().is_empty() {
        return Err(Error::invalid("comment", "is empty"));
    }
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(Error::invalid("comment", "contains a control character"));
    }
    if key.is_some_and(|k| k.trim().is_empty() || k.len() > MAX_KEY_BYTES) {
        return Err(Error::invalid("idempotency-key", format!("must be 1 to {MAX_KEY_BYTES} bytes")));
    }
    let length = text_with_reference(text, key).chars().count();
    if length > MAX_COMMENT_CHARS {
        return Err(Error::invalid(
            "comment",
            format!("is {length} characters with its reference; at most {MAX_COMMENT_CHARS} are accepted"),
        ));
    }
    Ok(())
}

/// `POST {graph}/v1.0/security/{incidents|alerts_v2}/{id}/comments`.
pub fn post_url(settings: &Settings, collection: Collection, id: &str) -> Result<Url, Error> {
    let id = validate_id(collection.id_field(), id)?;
    Ok(url(settings, &["security", collection.segment(), id, "comments"]))
}

pub fn post_body(text: &str) -> Vec<u8> {
    json!({"@odata.type": "microsoft.graph.security.alertComment", "comment": text}).to_string().into_bytes()
}

/// The comment list a POST answers (`{"value": [...]}`).
pub fn parse_list(body: &[u8]) -> Result<Vec<GraphComment>, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid_response(format!("the comment list could not be read: {e}")))?;
    security::comments(value.get("value").unwrap_or(&Value::Null))
        .map_err(|e| Error::invalid_response(format!("the comment list could not be read: {e}")))
}

/// The comments of an incident or alert as read (its `comments` field).
pub fn parse_item_comments(body: &[u8]) -> Result<Vec<GraphComment>, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::invalid_response(format!("the Graph item could not be read: {e}")))?;
    security::comments(value.get("comments").unwrap_or(&Value::Null))
        .map_err(|e| Error::invalid_response(format!("the Graph item's comments could not be read: {e}")))
}

/// An answer after which the POST may have landed: no answer (a timeout, a
/// dropped connection) or a server error. A 4xx says it did not.
pub fn is_ambiguous(error: &Error) -> bool {
    match error {
        Error::Transport(_) => true,
        Error::Service(failure) => failure.status == 408 || failure.status >= 500,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(text: &str) -> GraphComment {
        GraphComment { comment: Some(text.to_owned()), ..Default::default() }
    }

    #[test]
    fn a_key_gives_one_short_reference_at_the_end() {
        let reference = reference("ticket-42");
        assert_eq!(reference, super::reference("ticket-42"), "stable");
        assert_ne!(reference, super::reference("ticket-43"));
        assert!(reference.starts_with("[ref:") && reference.ends_with(']') && reference.len() == 14, "{reference}");
        assert!(reference[5..13].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(text_with_reference("Isolated", Some("ticket-42")), format!("Isolated {reference}"));
        assert_eq!(text_with_reference("Isolated", None), "Isolated");
    }

    #[test]
    fn the_reference_is_found_wherever_it_stayed() {
        let reference = reference("k");
        let list = [said("other"), said(&format!("edited later: x {reference} y"))];
        assert!(has_reference(&list, &reference));
        assert!(!has_reference(&list[..1], &reference));
        assert!(!has_reference(&[GraphComment::default()], &reference));
    }

    #[test]
    fn bad_text_and_keys_are_refused() {
        let field = |r: Result<(), Error>| match r {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(validate(" \n", None)), "comment");
        assert_eq!(field(validate("a\u{7}b", None)), "comment");
        assert_eq!(field(validate("ok", Some(" "))), "idempotency-key");
        assert_eq!(field(validate("ok", Some(&"k".repeat(257)))), "idempotency-key");
        let full = "x".repeat(MAX_COMMENT_CHARS);
        assert!(validate(&full, None).is_ok());
        assert_eq!(field(validate(&full, Some("k"))), "comment", "the reference counts");
        assert!(validate("line one\nline two\ttab", Some("k")).is_ok());
    }

    #[test]
    fn only_answers_that_may_follow_a_landed_post_are_ambiguous() {
        let service = |status| {
            Error::Service(crate::core::error::ServiceFailure {
                status,
                code: String::new(),
                message: String::new(),
                hint: String::new(),
                ..Default::default()
            })
        };
        assert!(is_ambiguous(&Error::transport("timed out", "")));
        assert!(is_ambiguous(&service(503)) && is_ambiguous(&service(500)) && is_ambiguous(&service(408)));
        assert!(!is_ambiguous(&Error::invalid("comment", "x")));
        assert!(!is_ambiguous(&Error::BadRequest(crate::core::error::ServiceFailure {
            status: 400,
            code: String::new(),
            message: String::new(),
            hint: String::new(),
            ..Default::default()
        })));
    }

    #[test]
    fn lists_are_read_in_graphs_documented_names() {
        let body =
            br#"{"value":[{"comment":"a","createdByDisplayName":"SOC","createdDateTime":"2026-01-01T00:00:00Z"}]}"#;
        let list = parse_list(body).unwrap();
        assert_eq!(list[0].created_by.as_deref(), Some("SOC"));
        assert_eq!(list[0].created_time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert!(parse_item_comments(br#"{"id":"1","comments":null}"#).unwrap().is_empty());
    }
}
