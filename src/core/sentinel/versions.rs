//! Which stable api-versions of the Sentinel incidents API a workspace's ARM
//! accepts. 2025-12-01 is stable in Microsoft's spec repository but not yet
//! confirmed live in every cloud, so the default stays 2025-09-01 and
//! `check-connection` says, with evidence, which of the two a workspace takes.

use url::Url;

use super::actions::Sentinel;
use super::incidents::{list_url, ListOptions};
use crate::core::client::Transport;
use crate::core::error::Error;

/// The stable api-versions this connector knows, oldest first. Their
/// incident schemas are the same (2025-12-01's `Incidents.json` differs only
/// in its version string).
pub const STABLE_API_VERSIONS: &[&str] = &["2025-09-01", "2025-12-01"];

/// ARM's answer code for an api-version it does not serve; its message lists
/// those it does.
pub const INVALID_API_VERSION: &str = "InvalidApiVersionParameter";

/// The api-versions listed in an `InvalidApiVersionParameter` message ("...
/// The supported versions are '2025-09-01,2025-06-01'."). Each must look like
/// an api-version (a date, maybe `-preview`); anything else in the text is
/// ignored, so hostile text never passes for a version.
pub fn listed_in(message: &str) -> Vec<String> {
    let Some((_, rest)) = message.split_once("supported versions are '") else { return Vec::new() };
    let list = rest.split('\'').next().unwrap_or_default();
    list.split(',').map(str::trim).filter(|v| is_api_version(v)).map(str::to_owned).collect()
}

/// `YYYY-MM-DD`, optionally followed by `-` and lower-case letters.
fn is_api_version(text: &str) -> bool {
    let (date, suffix) = match text.get(..10) {
        Some(date) => (date, &text[date.len()..]),
        None => return false,
    };
    let date_ok = date.char_indices().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
    let suffix_ok = suffix.is_empty()
        || suffix
            .strip_prefix('-')
            .is_some_and(|s| !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_lowercase()));
    date_ok && suffix_ok
}

/// The hint for `InvalidApiVersionParameter`: which known stable versions the
/// message says this cloud serves.
pub fn hint(message: &str) -> String {
    let listed = listed_in(message);
    let known: Vec<&str> = STABLE_API_VERSIONS.iter().copied().filter(|v| listed.iter().any(|l| l == v)).collect();
    if known.is_empty() {
        return "The api-version is not supported here: use 2025-09-01 (the default).".into();
    }
    format!(
        "The api-version is not supported here; of the stable versions this connector knows, this cloud serves {}: \
         set api-version to one of them (2025-09-01 is the default).",
        known.join(", ")
    )
}

impl Sentinel<'_> {
    /// Of [`STABLE_API_VERSIONS`], those the workspace accepts: the
    /// configured version by `probe`'s outcome, each other by one read of
    /// one incident with it. An `InvalidApiVersionParameter` answer lists
    /// what the cloud serves and so decides the versions not yet tried; an
    /// answer that says nothing about the version (a 403, say) leaves it out.
    pub(crate) fn accepted_versions(
        &mut self,
        transport: &mut impl Transport,
        probe: &Result<(), Error>,
    ) -> Vec<String> {
        let configured = self.settings().api_version.clone();
        let mut accepted = Vec::new();
        let mut listed: Option<Vec<String>> = invalid_version_list(probe);
        for version in STABLE_API_VERSIONS {
            let taken = if *version == configured {
                probe.is_ok()
            } else if let Some(list) = &listed {
                list.iter().any(|l| l == version)
            } else {
                let outcome = self.probe_with(transport, version);
                listed = invalid_version_list(&outcome);
                outcome.is_ok()
            };
            if taken {
                accepted.push((*version).to_owned());
            }
        }
        accepted
    }

    /// The connection check's read of one incident, at `version`.
    fn probe_with(&mut self, transport: &mut impl Transport, version: &str) -> Result<(), Error> {
        let url = with_api_version(
            list_url(self.settings(), &ListOptions { top: Some(1), ..ListOptions::default() })?,
            version,
        );
        self.fetch_page(transport, url).map(|_| ())
    }
}

/// What an `InvalidApiVersionParameter` answer lists; `None` for any other outcome.
fn invalid_version_list(outcome: &Result<(), Error>) -> Option<Vec<String>> {
    match outcome {
        Err(error) => error
            .service_failure()
            .filter(|failure| failure.code == INVALID_API_VERSION)
            .map(|failure| listed_in(&failure.message)),
        Ok(()) => None,
    }
}

/// `url` with its `api-version` replaced by `version`, every other parameter kept in order.
fn with_api_version(mut url: Url, version: &str) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| {
            let value = if name == "api-version" { version.to_owned() } else { value.into_owned() };
            (name.into_owned(), value)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_versions_arm_lists_are_read_and_nothing_else_passes_for_one() {
        let message = "The api-version '2025-12-01' is invalid. The supported versions are \
                       '2025-09-01,2025-06-01, 2025-07-01-preview,2024-3-01,<script>,2025-09-01x'.";
        assert_eq!(listed_in(message), ["2025-09-01", "2025-06-01", "2025-07-01-preview"]);
        assert!(listed_in("The api-version is invalid.").is_empty());
        assert!(listed_in("supported versions are '2025-09-01").len() == 1, "an unclosed list still reads");
        assert!(listed_in("supported versions are 'é2025-09-01,ü'").is_empty(), "multibyte text, no panic");
    }

    #[test]
    fn the_hint_names_the_known_stable_versions_the_cloud_serves() {
        let served = hint("The supported versions are '2025-09-01,2025-06-01'.");
        assert!(served.contains("serves 2025-09-01:"), "{served}");
        assert!(hint("no list here").contains("use 2025-09-01"));
    }

    #[test]
    fn only_the_api_version_parameter_changes() {
        let url = Url::parse("https://arm.example/x?api-version=2025-09-01&%24top=1").unwrap();
        assert_eq!(
            with_api_version(url, "2025-12-01").as_str(),
            "https://arm.example/x?api-version=2025-12-01&%24top=1"
        );
    }
}
