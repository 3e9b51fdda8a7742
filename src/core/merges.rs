//! Where a merged incident went. When Defender's correlation merges
//! incidents, the source is closed with the `Redirected` label and loses its
//! alerts to the target; ARM has no pointer to the target, Graph has
//! `status: redirected` and `redirectIncidentId`. Resolving follows Graph's
//! pointers from the incident's Defender id, through chains (A into B into
//! C), then maps the last Defender incident back to its Sentinel incident.

use super::client::{Client, Transport};
use super::error::Error;
use super::graph::security::{GraphIncident, GraphIncidentStatus};
use super::kql::Cell;
use super::sentinel::incidents::Incident;
use super::sentinel::query::QueryOptions;

/// Merges followed before giving up: Defender merges an incident a few
/// times at most; a longer chain means something is wrong.
pub const MAX_MERGE_CHAIN: usize = 8;

/// How the Sentinel incident of a Defender incident was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The incident asked about had not moved: no lookup.
    Unmoved,
    /// KQL on the workspace's `SecurityIncident` table (`ProviderIncidentId`),
    /// the lookup Microsoft suggests: one Log Analytics query.
    LogAnalytics,
}

/// Where an incident lives now.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    /// The Defender incident ids followed, from the one asked about to the
    /// last; empty for an incident not in the Defender portal.
    pub chain: Vec<String>,
    /// The Sentinel incident the last one is; `None` when the workspace has
    /// none (a Defender-only incident).
    pub incident: Option<Incident>,
    pub lookup: Lookup,
}

/// The provider names of incidents Defender holds: "Microsoft XDR" for
/// every incident once the workspace is in the Defender portal, earlier
/// names for Defender's own. Sentinel's own incidents ("Azure Sentinel")
/// carry their incident number as `providerIncidentId`, which is no
/// Defender id.
const DEFENDER_PROVIDERS: &[&str] = &["Microsoft XDR", "Microsoft Defender XDR", "Microsoft 365 Defender"];

/// The Defender incident id of a Sentinel incident Defender holds.
pub fn defender_id_of(incident: &Incident) -> Option<&str> {
    let p = &incident.properties;
    let by_defender =
        p.provider_name.as_deref().is_some_and(|n| DEFENDER_PROVIDERS.iter().any(|d| n.trim().eq_ignore_ascii_case(d)));
    p.provider_incident_id.as_deref().filter(|id| by_defender && is_defender_id(id))
}

/// Where a merged incident went, as a poll event carries it.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeTarget {
    /// The Defender incident ids followed (see [`Resolution::chain`]).
    pub chain: Vec<String>,
    /// The Sentinel incident it went to, when found.
    pub incident_id: Option<String>,
    /// Why the target could not be found (a missing Graph permission, say);
    /// `resolve-incident` can fill it in later.
    pub unresolved: Option<Error>,
}

impl MergeTarget {
    pub fn of(resolved: Result<Resolution, Error>) -> MergeTarget {
        match resolved {
            Ok(found) => MergeTarget {
                chain: found.chain,
                incident_id: found.incident.map(|incident| incident.name),
                unresolved: None,
            },
            Err(error) => MergeTarget { chain: Vec::new(), incident_id: None, unresolved: Some(error) },
        }
    }
}

/// A Defender (Graph security) incident id: digits only. Sentinel's ids are
/// GUIDs, so the two never mix up.
pub fn is_defender_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

/// The next link of a merge chain, or `None` at its end; a loop or a chain
/// past [`MAX_MERGE_CHAIN`] is an error, never an endless walk.
pub fn next_in_chain(chain: &[String], redirected_to: Option<&str>) -> Result<Option<String>, Error> {
    let Some(next) = redirected_to else { return Ok(None) };
    if !is_defender_id(next) {
        return Err(Error::invalid_response(format!("Graph redirected incident {} to an invalid id", last(chain))));
    }
    if chain.iter().any(|seen| seen == next) {
        return Err(Error::invalid_response(format!("Graph's merges loop: {} -> {next}", chain.join(" -> "))));
    }
    if chain.len() >= MAX_MERGE_CHAIN {
        return Err(Error::invalid_response(format!(
            "incident {} was merged more than {MAX_MERGE_CHAIN} times; stopped at {}",
            chain.first().map_or("", String::as_str),
            last(chain)
        )));
    }
    Ok(Some(next.to_owned()))
}

fn last(chain: &[String]) -> &str {
    chain.last().map_or("", String::as_str)
}

/// The KQL that finds the Sentinel incident of a Defender incident.
pub fn lookup_query(defender_id: &str) -> String {
    format!("SecurityIncident | where ProviderIncidentId == \"{defender_id}\" | take 100")
}

/// The distinct `IncidentName`s of the lookup's answer, in order.
pub fn incident_names(tables: &[super::kql::Table]) -> Vec<String> {
    let mut names = Vec::new();
    for table in tables {
        let Some(column) = table.columns.iter().position(|c| c.name == "IncidentName") else { continue };
        for row in &table.rows {
            if let Some(Cell::Text(name) | Cell::Guid(name)) = row.get(column) {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
    }
    names
}

impl Client {
    /// Where the incident `id` (a Sentinel incident id, or a Defender
    /// incident id) lives now. Needs SecurityIncident.Read.All on Graph to
    /// follow merges, and, when it moved, the workspace id (Log Analytics
    /// Data.Read) to find the target's Sentinel incident.
    pub fn resolve_incident(&mut self, transport: &mut impl Transport, id: &str) -> Result<Resolution, Error> {
        let (start, asked) = if is_defender_id(id) {
            (id.to_owned(), None)
        } else {
            let incident = self.sentinel().get_incident(transport, id)?;
            match defender_id_of(&incident).map(str::to_owned) {
                Some(defender_id) => (defender_id, Some(incident)),
                // Not in the Defender portal: nothing merges it.
                None => return Ok(Resolution { chain: Vec::new(), incident: Some(incident), lookup: Lookup::Unmoved }),
            }
        };
        let chain = self.follow_merges(transport, start)?;
        match asked {
            Some(incident) if chain.len() == 1 => {
                Ok(Resolution { chain, incident: Some(incident), lookup: Lookup::Unmoved })
            }
            _ => {
                let incident = self.sentinel_incident_of(transport, last(&chain))?;
                Ok(Resolution { chain, incident, lookup: Lookup::LogAnalytics })
            }
        }
    }

    /// The Defender ids from `start` through each `redirectIncidentId`.
    fn follow_merges(&mut self, transport: &mut impl Transport, start: String) -> Result<Vec<String>, Error> {
        self.follow_chain(transport, vec![start])
    }

    /// Where a Graph incident seen `redirected` went: its id, its
    /// `redirectIncidentId`, and on through each merge after that.
    pub(crate) fn merge_chain_of(
        &mut self,
        transport: &mut impl Transport,
        incident: &GraphIncident,
    ) -> Result<Vec<String>, Error> {
        let chain = vec![incident.fields.id.clone()];
        match next_in_chain(&chain, incident.fields.redirect_incident_id.as_deref())? {
            Some(next) => self.follow_chain(transport, vec![incident.fields.id.clone(), next]),
            None => Err(Error::invalid_response(format!(
                "Graph says incident {} was redirected but names no redirectIncidentId",
                incident.fields.id
            ))),
        }
    }

    /// `chain` continued from its last id until an incident not redirected.
    fn follow_chain(&mut self, transport: &mut impl Transport, mut chain: Vec<String>) -> Result<Vec<String>, Error> {
        loop {
            let incident = self.graph().get_incident(transport, last(&chain), false)?;
            let fields = incident.fields;
            let redirected = fields.status == Some(GraphIncidentStatus::Redirected);
            let target = if redirected { fields.redirect_incident_id.as_deref() } else { None };
            if redirected && target.is_none() {
                return Err(Error::invalid_response(format!(
                    "Graph says incident {} was redirected but names no redirectIncidentId",
                    last(&chain)
                )));
            }
            match next_in_chain(&chain, target)? {
                Some(next) => chain.push(next),
                None => return Ok(chain),
            }
        }
    }

    /// The Sentinel incident whose `providerIncidentId` is `defender_id`,
    /// by KQL: ARM documents no filter on that property.
    fn sentinel_incident_of(
        &mut self,
        transport: &mut impl Transport,
        defender_id: &str,
    ) -> Result<Option<Incident>, Error> {
        if self.settings().workspace_id.is_none() {
            return Err(Error::invalid(
                "workspace-id",
                format!(
                    "is needed to find the Sentinel incident of Defender incident {defender_id}: Sentinel's API \
                     cannot filter on providerIncidentId, so the connector asks the workspace's SecurityIncident \
                     table (Log Analytics, Data.Read)"
                ),
            ));
        }
        let answer = self.sentinel().search_events(transport, &lookup_query(defender_id), &QueryOptions::default())?;
        match incident_names(&answer.tables).as_slice() {
            [] => Ok(None),
            [name] => self.sentinel().get_incident(transport, name).map(Some),
            names => Err(Error::invalid_response(format!(
                "Defender incident {defender_id} is {} Sentinel incidents: {}",
                names.len(),
                names.join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    #[test]
    fn a_chain_ends_loops_are_refused_and_its_length_is_bounded() {
        assert_eq!(next_in_chain(&chain(&["1"]), None).unwrap(), None);
        assert_eq!(next_in_chain(&chain(&["1"]), Some("2")).unwrap(), Some("2".into()));
        let looped = next_in_chain(&chain(&["1", "2", "3"]), Some("2")).unwrap_err();
        assert!(looped.to_string().contains("1 -> 2 -> 3 -> 2"), "{looped}");
        let long: Vec<String> = (1..=MAX_MERGE_CHAIN).map(|n| n.to_string()).collect();
        let stopped = next_in_chain(&long, Some("99")).unwrap_err();
        assert!(stopped.to_string().contains("more than 8 times"), "{stopped}");
        assert!(next_in_chain(&chain(&["1"]), Some("../x")).is_err(), "only a Defender id is followed");
    }

    #[test]
    fn only_an_incident_defender_holds_has_a_defender_id() {
        let incident = |provider: &str, id: &str| {
            let mut properties = crate::core::sentinel::incidents::IncidentProperties::new(
                "t".into(),
                crate::core::sentinel::incidents::Severity::Low,
                crate::core::sentinel::incidents::IncidentStatus::New,
            );
            properties.provider_name = Some(provider.into());
            properties.provider_incident_id = Some(id.into());
            Incident { id: String::new(), name: "n".into(), etag: None, properties, write_receipt: None }
        };
        assert_eq!(defender_id_of(&incident("Microsoft XDR", "2972395")), Some("2972395"));
        assert_eq!(defender_id_of(&incident("microsoft 365 defender", "17")), Some("17"));
        assert_eq!(defender_id_of(&incident("Azure Sentinel", "42")), None, "Sentinel's own number");
        assert_eq!(defender_id_of(&incident("Microsoft XDR", "x/1")), None);
    }

    #[test]
    fn defender_ids_are_digits_and_sentinel_ids_are_not() {
        assert!(is_defender_id("2972395"));
        assert!(!is_defender_id("73e01a99-5cd7-4139-a149-9f2736ff2ab5"));
        assert!(!is_defender_id(""));
        assert!(!is_defender_id("12345678901234567890123"));
    }
}
