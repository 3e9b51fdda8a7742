//! The emulated tenant's identity (tenant, client, workspace; the default
//! one is fixed by the constants below), the scopes, and the options an
//! emulator starts with.

use std::net::SocketAddr;
use std::time::Duration;

pub const DEFAULT_TENANT_ID: &str = "8a1b4c2d-0e5f-4a6b-9c7d-1e2f3a4b5c6d";
pub const DEFAULT_CLIENT_ID: &str = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b";
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-client-secret";
/// The federated identity credential the emulator's app registration has on
/// file (Entra: Certificates & secrets, Federated credentials): tokens of
/// this issuer, for this subject and audience, sign the app in.
pub const FEDERATED_ISSUER: &str = "https://oidc.emulator.invalid/";
pub const FEDERATED_SUBJECT: &str = "system:serviceaccount:soar:sentinel-connector";
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";
/// The managed identity endpoint's `IDENTITY_HEADER` (App Service sets a
/// random one per process; a request without it is refused).
pub const IDENTITY_HEADER: &str = "emulator-identity-header";
/// The system-assigned identity's client id, and one user-assigned identity's.
pub const SYSTEM_IDENTITY_CLIENT_ID: &str = "0b3c9c4e-6f5e-4a3c-9b1e-5c2d8e7f6a10";
pub const USER_IDENTITY_CLIENT_ID: &str = "7d2f1e3c-8a4b-4c5d-9e6f-0a1b2c3d4e5f";
pub const DEFAULT_SUBSCRIPTION_ID: &str = "d0cfe6b2-9ac0-4464-9919-dccaee2e48c0";
pub const DEFAULT_RESOURCE_GROUP: &str = "myRg";
pub const DEFAULT_WORKSPACE_NAME: &str = "myWorkspace";
pub const DEFAULT_WORKSPACE_ID: &str = "63c5ed4c-3d9d-4a46-9f5e-0b7c2b3a1f10";
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
pub const LOG_ANALYTICS_SCOPE: &str = "https://api.loganalytics.io/.default";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Who one emulated tenant is: its Entra tenant, the app registration that
/// signs in to it, and its Sentinel workspace. An emulator serves the
/// tenant its options name ([`EmulatorOptions::identity`]); the default is
/// the fixed identity of the `DEFAULT_*` constants.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TenantIdentity {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_id: String,
    pub resource_group: String,
    pub workspace_name: String,
    pub workspace_id: String,
}

impl Default for TenantIdentity {
    fn default() -> Self {
        TenantIdentity {
            tenant_id: DEFAULT_TENANT_ID.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            subscription_id: DEFAULT_SUBSCRIPTION_ID.to_owned(),
            resource_group: DEFAULT_RESOURCE_GROUP.to_owned(),
            workspace_name: DEFAULT_WORKSPACE_NAME.to_owned(),
            workspace_id: DEFAULT_WORKSPACE_ID.to_owned(),
        }
    }
}

impl TenantIdentity {
    /// Tenant `n` of a multi-tenant emulator: lower-case GUIDs whose last
    /// group is `n` (in hex) and whose first group tells the kind of id
    /// (`7e0a…` tenant, `c1e0…` client, `5b00…` subscription, `3d00…`
    /// workspace), so they are distinct from each other, from every other
    /// tenant's and from the default identity's; secret
    /// `emulator-secret-{n}`, resource group `rg-{n}`, workspace `ws-{n}`.
    pub fn numbered(n: u32) -> TenantIdentity {
        let guid = |kind: &str| format!("{kind}-0000-4000-8000-{n:012x}");
        TenantIdentity {
            tenant_id: guid("7e0a0000"),
            client_id: guid("c1e00000"),
            client_secret: format!("emulator-secret-{n}"),
            subscription_id: guid("5b000000"),
            resource_group: format!("rg-{n}"),
            workspace_name: format!("ws-{n}"),
            workspace_id: guid("3d000000"),
        }
    }

    /// The host's tenant configuration file (TOML, the keys of its
    /// `FileConfig`) for this tenant of the emulator at `emulator_url`: a
    /// custom cloud whose every endpoint is the emulator.
    pub fn config_toml(&self, emulator_url: &str) -> String {
        let quoted = |value: &str| {
            let mut out = String::with_capacity(value.len() + 2);
            out.push('"');
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        };
        let mut toml = String::new();
        for (key, value) in [
            ("tenant_id", &self.tenant_id),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("subscription_id", &self.subscription_id),
            ("resource_group", &self.resource_group),
            ("workspace_name", &self.workspace_name),
            ("workspace_id", &self.workspace_id),
        ] {
            toml.push_str(&format!("{key} = {}\n", quoted(value)));
        }
        toml.push_str("cloud = \"custom\"\n");
        for key in ["login_url", "arm_url", "log_analytics_url", "graph_url"] {
            toml.push_str(&format!("{key} = {}\n", quoted(emulator_url)));
        }
        toml
    }
}

#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    pub addr: SocketAddr,
    pub incidents: usize,
    pub seed: u64,
    pub token_lifetime_secs: u64,
    /// Generated times lie in the 30 days before it; `None` is now, to the hour.
    pub anchor: Option<jiff::Timestamp>,
    /// Page size when the request gives no `$top`.
    pub default_page_size: usize,
    /// Added before every ARM, Log Analytics and Graph answer, to make
    /// concurrency (or its absence) visible and fan-out measurable. Not added
    /// to the token endpoint (a client fetches a token once per API and
    /// caches it), the `/_emulator` admin endpoint, or injected answers.
    pub latency: Duration,
    /// Spreads each delay uniformly over `latency ± jitter` (never below
    /// zero). The delays come from a generator seeded with `seed`: the same
    /// seed gives the same sequence of delays, in the order requests arrive.
    /// Zero (the default) is a uniform `latency`.
    pub jitter: Duration,
    /// The application roles in Graph tokens; `None` is [`DEFAULT_GRAPH_ROLES`](crate::DEFAULT_GRAPH_ROLES).
    pub graph_roles: Option<Vec<String>>,
    /// Sentinel onboarded to the Defender portal: the ARM and Graph views
    /// show the same incidents (`providerName` "Microsoft XDR",
    /// `providerIncidentId` = the Graph id), a change on one side shows on
    /// the other, and incidents can be merged. Off: the two are separate
    /// data sets, as before.
    pub unified: bool,
    /// Unified mode only: Defender-side changes (Graph PATCH, merges,
    /// in-process and admin updates) reach the ARM view once per incident
    /// per window, as one update with the latest state, stamped at the
    /// window's end ("a single update ... with only the most recent change").
    pub coalesce_window: Option<Duration>,
    /// Graph `$orderby` on `security/incidents` (`lastUpdateDateTime` or
    /// `createdDateTime`, `asc`/`desc`). Off (the default) it is ignored, as
    /// Microsoft documents no `$orderby` there: pages come newest created
    /// first, never by `lastUpdateDateTime`.
    pub graph_orderby: bool,
    /// Serve HTTPS with a throwaway CA made at start (`Emulator::ca_pem`).
    pub tls: bool,
    /// ARM's subscription quota as a token bucket, `(burst, per_second)`:
    /// every ARM answer says what is left
    /// (`x-ms-ratelimit-remaining-subscription-reads`, or `-writes` after a
    /// write), and an empty bucket answers 429 with `Retry-After`. `None`
    /// (the default): no quota headers and no 429s.
    pub arm_quota: Option<(f64, f64)>,
    /// The tenant served: tokens are issued to its client for its tenant
    /// (`tid`), ARM serves its subscription, resource group and workspace,
    /// the query API its workspace id.
    pub identity: TenantIdentity,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            incidents: 50,
            seed: 1,
            token_lifetime_secs: 3599,
            anchor: None,
            default_page_size: 50,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            graph_roles: None,
            unified: false,
            coalesce_window: None,
            graph_orderby: false,
            tls: false,
            arm_quota: None,
            identity: TenantIdentity::default(),
        }
    }
}
