//! The envelope of the pollers' cursors: a prefix naming the poller and
//! format (`sp1.` Sentinel, `gp1.` Graph), then base64url of
//! `{"v":1,"state":...}`. Hosts store it as an opaque string; a reader
//! checks the prefix and version before the state, so a cursor of one
//! poller is never taken for the other's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::Error;

/// Far above any real window; refuses a corrupt or hostile cursor early.
const MAX_CURSOR_LEN: usize = 1 << 20;

/// `v` first, then the state: a reader checks the version before the rest.
#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    v: u32,
    state: T,
}

pub fn encode<T: Serialize>(prefix: &str, state: &T) -> String {
    let json = serde_json::to_vec(&Versioned { v: 1, state }).unwrap_or_default();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(json))
}

/// The state of a cursor `encode` wrote with `prefix`; anything else is an
/// `invalid-input` on `cursor` that says what to pass instead.
pub fn decode<T: DeserializeOwned>(prefix: &str, text: &str) -> Result<T, Error> {
    if text.len() > MAX_CURSOR_LEN {
        return Err(refuse("is too long to be a cursor"));
    }
    let Some(body) = text.trim().strip_prefix(prefix) else {
        return Err(refuse(&format!("is not a cursor of a version this poller knows (expected {prefix})")));
    };
    let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| refuse("is corrupt (not base64url)"))?;
    let versioned: Versioned<T> = serde_json::from_slice(&bytes).map_err(|_| refuse("is corrupt"))?;
    if versioned.v != 1 {
        return Err(refuse(&format!("has version {}, which this connector does not know", versioned.v)));
    }
    Ok(versioned.state)
}

pub fn refuse(reason: &str) -> Error {
    Error::invalid(
        "cursor",
        format!("{reason}; pass the cursor the last poll returned, unchanged, or none to start over"),
    )
}
