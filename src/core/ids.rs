//! Ids that go into a URL path. Each must stay one path segment: an id such as
//! `../x` would otherwise walk the request to another resource.

use super::config::shown;
use super::error::Error;

const MAX_ID_LEN: usize = 256;

/// Refuses an id that is empty, `.` or `..`, too long, or holds `/`, `\`, `?`,
/// `#` or a control character. The caller then appends it with
/// `path_segments_mut().push`, which percent-encodes whatever else it holds.
pub fn validate_id<'a>(field: &str, id: &'a str) -> Result<&'a str, Error> {
    let reason = if id.is_empty() {
        "is empty".to_owned()
    } else if id == "." || id == ".." {
        format!("'{id}' is not an id")
    } else if id.len() > MAX_ID_LEN {
        format!("is longer than {MAX_ID_LEN} bytes")
    } else if let Some(c) = id.chars().find(|c| matches!(c, '/' | '\\' | '?' | '#') || c.is_control()) {
        format!("'{}' holds {} which cannot be part of one URL path segment", shown(id), describe(c))
    } else {
        return Ok(id);
    };
    Err(Error::invalid(field, reason))
}

fn describe(c: char) -> String {
    if c.is_control() {
        format!("the control character U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_would_leave_the_segment() {
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "a?b", "a#b", "a\nb", "a\u{7f}b"] {
            assert!(matches!(validate_id("incident-id", bad), Err(Error::InvalidInput { .. })), "{bad:?}");
        }
        assert!(validate_id("incident-id", &"x".repeat(257)).is_err());
    }

    #[test]
    fn accepts_guids_and_odd_but_safe_ids() {
        for good in ["73e01a99-5cd7-4139-a149-9f2736ff2ab5", "...", "a b%20", "ünïcode"] {
            assert_eq!(validate_id("incident-id", good).unwrap(), good);
        }
    }

    #[test]
    fn reason_names_the_character() {
        let Err(Error::InvalidInput { field, reason }) = validate_id("incident-id", "../x") else { panic!() };
        assert_eq!(field, "incident-id");
        assert!(reason.contains("'/'"), "{reason}");
    }
}
