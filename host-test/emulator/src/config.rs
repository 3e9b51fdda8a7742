//! The emulated tenant's fixed identity (tenant, client, workspace, scopes)
//! and the options an emulator starts with.

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
        }
    }
}
