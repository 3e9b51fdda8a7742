//! Removing secrets from text the connector shows: error messages built from
//! what a service (or a proxy in front of it) echoed back.
//!
//! A service may echo a secret in another encoding than the one it was sent
//! in (a token endpoint echoing the form body shows `~` as `%7E`), and may cut
//! it anywhere. So every encoded form of every secret is searched for, and
//! any run of [`MIN_PART`] or more characters of one is redacted, not only
//! whole occurrences: no part of a secret long enough to matter survives.

use std::collections::HashSet;

/// The shortest piece of a secret that is redacted on its own. Shorter
/// secrets are redacted where they occur whole.
pub const MIN_PART: usize = 8;

/// What replaces each redacted run.
pub const REDACTED: &str = "[redacted]";

/// The secrets of a connection, in every form a service might echo them.
pub struct Redactor {
    /// Every 8-byte window of every encoded form of every long secret.
    windows: HashSet<[u8; MIN_PART]>,
    /// Secrets too short for windows, redacted where they occur whole.
    whole: Vec<String>,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut redactor = Redactor { windows: HashSet::new(), whole: Vec::new() };
        for secret in secrets {
            for form in encoded_forms(secret) {
                redactor.add(form);
            }
        }
        redactor
    }

    fn add(&mut self, form: String) {
        let bytes = form.as_bytes();
        if bytes.len() < MIN_PART {
            // Four characters or fewer could be anything; there is nothing to hide.
            if bytes.len() >= 4 && !self.whole.contains(&form) {
                self.whole.push(form);
            }
            return;
        }
        for window in bytes.windows(MIN_PART) {
            let mut key = [0u8; MIN_PART];
            key.copy_from_slice(window);
            self.windows.insert(key);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.whole.is_empty()
    }

    /// The text with every part of every secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_owned();
        }
        let mut hidden = vec![false; text.len()];
        self.mark_windows(text.as_bytes(), &mut hidden);
        for whole in &self.whole {
            for (at, _) in text.match_indices(whole.as_str()) {
                hidden[at..at + whole.len()].iter_mut().for_each(|h| *h = true);
            }
        }
        replace_marked(text, &hidden)
    }

    /// Marks each byte covered by a window that occurs in a secret: a run of
    /// eight or more bytes of a secret is covered entirely.
    fn mark_windows(&self, bytes: &[u8], hidden: &mut [bool]) {
        if self.windows.is_empty() {
            return;
        }
        for (start, window) in bytes.windows(MIN_PART).enumerate() {
            let mut key = [0u8; MIN_PART];
            key.copy_from_slice(window);
            if self.windows.contains(&key) {
                hidden[start..start + MIN_PART].iter_mut().for_each(|h| *h = true);
            }
        }
    }
}

/// Builds the text back, each marked run (widened to whole characters) as one
/// [`REDACTED`].
fn replace_marked(text: &str, hidden: &[bool]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for (at, c) in text.char_indices() {
        let marked = hidden[at..at + c.len_utf8()].iter().any(|h| *h);
        if marked && !in_run {
            out.push_str(REDACTED);
        } else if !marked {
            out.push(c);
        }
        in_run = marked;
    }
    out
}

/// The secret as sent and as a server may echo it: raw, form-encoded,
/// percent-encoded (both hex cases), JSON-escaped (also with `\/`).
pub fn encoded_forms(secret: &str) -> Vec<String> {
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let percent_upper = percent_encode_all(secret, false);
    let percent_lower = percent_encode_all(secret, true);
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    // Only the outer quotes: an escaped quote at the end belongs to the secret.
    let json = quoted.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')).unwrap_or(&quoted).to_owned();
    let json_slash = json.replace('/', "\\/");
    // Some proxies escape every byte but letters and digits (`.` as %2E).
    let strict_upper = percent_encode_strict(secret, false);
    let strict_lower = percent_encode_strict(secret, true);
    let mut forms = vec![
        secret.to_owned(),
        form.clone(),
        form.replace("%20", "+"),
        form.replace('+', "%20"),
        percent_upper,
        percent_lower,
        strict_upper,
        strict_lower,
        json,
        json_slash,
    ];
    forms.sort();
    forms.dedup();
    forms.retain(|form| !form.is_empty());
    forms
}

/// Every byte outside RFC 3986's unreserved set as `%XX`.
fn percent_encode_all(text: &str, lower: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else if lower {
            out.push_str(&format!("%{byte:02x}"));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    // `~` is unreserved, yet encoders such as .NET's and Python 2's escape it.
    let escaped_tilde = if lower { "%7e" } else { "%7E" };
    if text.contains('~') {
        out.replace('~', escaped_tilde)
    } else {
        out
    }
}

/// Every byte but ASCII letters and digits as `%XX`.
fn percent_encode_strict(text: &str, lower: bool) -> String {
    text.bytes()
        .map(|byte| match byte {
            b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
            b if lower => format!("%{b:02x}"),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Control characters (ESC, CR, LF, BEL, ...) as `\u{..}` escapes, so text a
/// service sent cannot drive a terminal or forge a log line.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars().map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

/// At most `max` characters, with `...` when cut (never inside a character).
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Abc8Q~xY9.zz_Secret-Value~2/+ok";

    fn leaks(shown: &str, secret: &str) -> bool {
        encoded_forms(secret).iter().any(|form| {
            let chars: Vec<char> = form.chars().collect();
            chars.windows(MIN_PART).any(|w| shown.contains(&w.iter().collect::<String>()))
        })
    }

    #[test]
    fn every_encoded_form_is_redacted() {
        let redactor = Redactor::new([SECRET]);
        for form in encoded_forms(SECRET) {
            let shown = redactor.redact(&format!("echo: client_secret={form}&scope=x"));
            assert!(shown.contains(REDACTED), "{shown}");
            assert!(!leaks(&shown, SECRET), "{form} leaked as {shown}");
            assert!(shown.ends_with("&scope=x"), "the rest stays: {shown}");
        }
    }

    #[test]
    fn a_part_of_a_secret_is_redacted_too() {
        let redactor = Redactor::new([SECRET]);
        let shown = redactor.redact(&format!("truncated {}", &SECRET[..12]));
        assert_eq!(shown, "truncated [redacted]");
        let shown = redactor.redact(&format!("tail {} end", &SECRET[SECRET.len() - 9..]));
        assert_eq!(shown, "tail [redacted] end");
        assert_eq!(redactor.redact("Abc8Q~x is seven"), "Abc8Q~x is seven", "shorter than eight is kept");
    }

    #[test]
    fn short_secrets_are_redacted_whole_and_text_is_kept_intact() {
        let redactor = Redactor::new(["abcd", "xy"]);
        assert_eq!(redactor.redact("1abcd2 xy ünïcode"), "1[redacted]2 xy ünïcode");
        let redactor = Redactor::new([SECRET]);
        assert_eq!(redactor.redact("ünïcode ⚠ text"), "ünïcode ⚠ text");
    }

    #[test]
    fn controls_are_escaped_and_truncation_respects_characters() {
        assert_eq!(escape_controls("a\u{1b}]8;;x\u{7}b\r\n"), "a\\u{1b}]8;;x\\u{7}b\\u{d}\\u{a}");
        assert_eq!(truncate_chars("ééé", 2), "éé...");
        assert_eq!(truncate_chars("éé", 2), "éé");
    }
}
