//! The parts of a request the APIs read, and the path and query helpers
//! ARM and Graph share.

use axum::http::{HeaderMap, Method, Uri};

/// One request as the router hands it to an API.
pub(crate) struct Call<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    /// The `Host` header, for the links an answer carries.
    pub host: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl<'a> Call<'a> {
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn authorization(&self) -> Option<&'a str> {
        self.header("authorization")
    }

    /// The query string's pairs, decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes()).into_owned().collect()
    }
}

/// A query option, by name without regard to case (`$top`, `$TOP`).
pub(crate) fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// A path segment, percent-decoded (`+` stays a plus; bytes that are not
/// UTF-8 become U+FFFD).
pub(crate) fn percent_decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}
