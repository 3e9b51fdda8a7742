//! The `sentinel` command line.

pub mod bench;
mod containment;
mod demo;
pub mod errors;
mod graph;
mod indicators;
pub mod output;
mod pages;
pub(crate) mod poll;
mod rules;
mod serve;
mod values;
mod watchlists;
mod writes;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, ConfigError, FileConfig};
use crate::emulator::{Emulator, EmulatorOptions};
use crate::identity;
use crate::runtime::egress::{EgressPolicy, PrivateNetwork};
use crate::runtime::sandbox::{AuditRecord, AuditSink};
use crate::runtime::types::{self, ListIncidentsOptions};
use crate::runtime::{CallError, ConnectorHost, HostOptions, Session};
use output::Format;
use values::azure;

/// Exit codes a script can branch on.
pub mod exit {
    pub const OTHER: u8 = 1;
    /// Bad command line, configuration or input (clap also uses 2).
    pub const USAGE: u8 = 2;
    /// The credentials or permissions were refused.
    pub const AUTH: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    /// A guardrail refused the action (a protected account); nothing changed.
    pub const PROTECTED: u8 = 5;
}

#[derive(Parser, Debug)]
#[command(
    name = "sentinel",
    version,
    about = "Microsoft Sentinel incident response through a sandboxed WebAssembly connector"
)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
pub(crate) struct Global {
    /// TOML file with the connection settings (environment variables override it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Point every endpoint at a local emulator; its default credentials fill what is unset.
    #[arg(long, global = true, value_name = "URL")]
    emulator: Option<String>,
    /// Output format; a table on a terminal, JSON otherwise.
    #[arg(long, short, global = true, value_parser = azure::<Format>())]
    output: Option<Format>,
    /// Log each outbound request (method, host, path, status, ms) to stderr.
    #[arg(long, short, global = true)]
    verbose: bool,
    /// Run another build of the component instead of the embedded one.
    #[arg(long, global = true, value_name = "PATH")]
    component: Option<PathBuf>,
    /// Let a custom cloud reach loopback and private addresses (RFC 1918,
    /// unique-local). Off by default; --emulator implies it. Link-local and
    /// metadata addresses stay refused. Not a --config key: the person
    /// running the CLI decides, never a tenant's file.
    #[arg(long, global = true, env = "SENTINEL_ALLOW_PRIVATE_NETWORK", value_parser = clap::builder::FalseyValueParser::new())]
    allow_private_network: bool,
    /// How to sign in; unset, the first that this environment offers of a
    /// client secret, a federated token file, a managed identity endpoint
    /// (IDENTITY_ENDPOINT / MSI_ENDPOINT) and the Azure CLI.
    #[arg(long, global = true, value_parser = azure::<crate::identity::AuthMethod>())]
    auth: Option<crate::identity::AuthMethod>,
    /// PEM CA certificates to trust beside the public roots (a TLS-inspecting
    /// proxy's, an internal endpoint's). Not a --config key: the operator's.
    #[arg(long, global = true, env = "SSL_CERT_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read Sentinel incidents.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// Check each API: a token, one cheap read, and what the permissions allow.
    Check,
    /// Run a KQL query against the workspace (Log Analytics).
    Query {
        query: String,
        /// ISO 8601 duration (P1D, PT12H) or start/end interval.
        #[arg(long)]
        timespan: Option<String>,
        /// Server-side timeout in seconds (1 to 600).
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u32>,
    },
    /// Links from incidents to other resources.
    #[command(subcommand)]
    Relations(writes::RelationsCommand),
    /// Incident tasks.
    #[command(subcommand)]
    Tasks(writes::TasksCommand),
    /// Read, add and delete incident comments.
    #[command(subcommand)]
    Comments(writes::CommentsCommand),
    /// Defender XDR incidents and alerts through Microsoft Graph.
    #[command(subcommand)]
    Graph(graph::GraphCommand),
    /// Run an advanced hunting query (KQL over Defender XDR data) through Graph.
    Hunt {
        query: String,
        /// ISO 8601: P30D, start/end, P30D/end, start/P30D, or a start time (Graph's default is 30 days).
        #[arg(long)]
        timespan: Option<String>,
    },
    /// Analytics rules: list, show, enable and disable.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Watchlists: create from CSV, items, upsert, contains, bulk add of entities.
    #[command(subcommand)]
    Watchlists(watchlists::WatchlistsCommand),
    /// Threat-intelligence indicators: create (once per pattern), show, list, query, tags, delete.
    #[command(subcommand)]
    Indicators(indicators::IndicatorsCommand),
    /// Entra ID users: read, and contain (each change has --dry-run).
    #[command(subcommand)]
    Users(containment::UsersCommand),
    /// Entra ID group membership (each change has --dry-run).
    #[command(subcommand)]
    Groups(containment::GroupsCommand),
    /// The least-privileged permission each action needs.
    Permissions,
    /// Stream incident events as JSON lines, saving a cursor after each batch.
    Poll(poll::PollArgs),
    /// Poll many tenants in one sandboxed service (`serve status`: their state).
    Serve(serve::ServeArgs),
    /// Serve a local emulator of the Azure endpoints.
    Emulator(EmulatorArgs),
    /// Start an emulator in-process and run the connector against it.
    Demo,
    /// Measure load, session, list, poll and Graph figures; write them as a table.
    Bench(bench::BenchArgs),
}

#[derive(Subcommand, Debug)]
enum IncidentsCommand {
    /// List incidents, one page or (--all) every page.
    List(ListArgs),
    /// Show one incident by its id (the GUID name).
    Get { id: String },
    /// The incident's security alerts.
    Alerts { id: String },
    /// The incident's entities, typed; --normalized gives one identifier each with references resolved.
    Entities {
        id: String,
        #[arg(long)]
        normalized: bool,
    },
    /// The hunting bookmarks attached to the incident.
    Bookmarks { id: String },
    /// Change only the fields given (GET, merge, PUT with the etag; retried on conflict).
    Update(writes::UpdateArgs),
    /// Create an incident.
    Create(writes::CreateArgs),
    /// Delete an incident (needs --yes).
    Delete {
        id: String,
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args, Debug)]
struct ListArgs {
    /// OData filter, e.g. "properties/status eq 'New'".
    #[arg(long)]
    filter: Option<String>,
    /// OData order, e.g. "properties/createdTimeUtc desc".
    #[arg(long)]
    orderby: Option<String>,
    /// Page size, 1 to 1000.
    #[arg(long)]
    top: Option<u32>,
    /// Follow every next link, printing each page as it arrives.
    #[arg(long)]
    all: bool,
    /// With --all: stop with an error after this many pages.
    #[arg(long)]
    max_pages: Option<u32>,
    /// JSON lines: one incident a line, for streaming tools (implies JSON).
    #[arg(long)]
    ndjson: bool,
    /// Fetch the page a previous list pointed to.
    #[arg(long, conflicts_with_all = ["filter", "orderby", "top"])]
    continuation: Option<String>,
}

#[derive(Args, Debug)]
struct EmulatorArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: std::net::SocketAddr,
    /// How many incidents to generate (with --tenants: per tenant).
    #[arg(long, default_value_t = 50)]
    incidents: usize,
    /// Seed of the generated data (same seed, same incidents).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Serve this many tenants from the one port, as an MSSP sees its
    /// customers: tenant i has identity `TenantIdentity::numbered(i)` and
    /// data of its own; GET /_emulator/tenants lists them. 1 is the single
    /// tenant of the default identity.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    tenants: u32,
    /// Write each tenant's host configuration (`tenant-<index>.toml`, for
    /// --config; mode 0600, it holds the client secret) into DIR, creating
    /// it, before the `listening on` line.
    #[arg(long, value_name = "DIR")]
    tenant_configs: Option<PathBuf>,
    /// The Graph application permissions its tokens carry (comma-separated);
    /// by default every one the connector uses. Leave one out to see the
    /// forbidden error that names it.
    #[arg(long, value_delimiter = ',')]
    graph_roles: Option<Vec<String>>,
    /// Milliseconds added before every ARM, Log Analytics and Graph answer
    /// (not the token endpoint's), to see and measure concurrency.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency: u64,
    /// Spread each delay uniformly over latency ± this many milliseconds
    /// (never below zero; the same seed gives the same delays).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    jitter: u64,
    /// Behave like a workspace in the Defender portal: ARM and Graph show
    /// the same incidents (provider Microsoft XDR), merges on demand
    /// (POST /_emulator/merge), the clock settable (/_emulator/clock).
    #[arg(long)]
    unified: bool,
    /// With --unified: Defender's update coalescing, several changes within
    /// this many seconds reaching ARM as one update.
    #[arg(long, value_name = "SECONDS", requires = "unified")]
    coalesce: Option<u64>,
    /// Honour `$orderby` on Graph incidents, which Microsoft does not document (off by default).
    #[arg(long)]
    graph_orderby: bool,
    /// Serve HTTPS with a throwaway CA made now, written to FILE (point the
    /// client's --ca-file or SSL_CERT_FILE at it).
    #[arg(long, value_name = "FILE")]
    tls_ca_out: Option<PathBuf>,
}

/// A failure already described in one line, with its exit code.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<ConfigError> for Failure {
    fn from(error: ConfigError) -> Self {
        Failure { code: exit::USAGE, message: error.0 }
    }
}

impl From<CallError> for Failure {
    fn from(error: CallError) -> Self {
        use types::ErrorKind as K;
        let code = match &error {
            CallError::Connector(e) => match e.kind {
                K::InvalidInput => exit::USAGE,
                K::Auth | K::Forbidden => exit::AUTH,
                K::NotFound => exit::NOT_FOUND,
                K::ProtectedAccount => exit::PROTECTED,
                _ => exit::OTHER,
            },
            _ => exit::OTHER,
        };
        Failure { code, message: error.to_string() }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure { code: exit::OTHER, message: format!("{error:#}") }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            return fail(Failure { code: exit::OTHER, message: format!("cannot start the async runtime: {error}") })
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(failure),
    }
}

fn fail(failure: Failure) -> ExitCode {
    eprintln!("error: {}", output::safe_line(&failure.message));
    ExitCode::from(failure.code)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let format = Format::detect(cli.global.output);
    match cli.command {
        Command::Emulator(args) => serve_emulator(args).await,
        Command::Demo => demo::run(cli.global.host_options()?, cli.global.verbose).await,
        Command::Bench(args) => bench::run(args, cli.global.component).await,
        Command::Poll(args) => poll::run(&cli.global, args).await,
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Graph(graph::GraphCommand::Poll(args)) => graph::graph_poll(&cli.global, args).await,
        Command::Check => {
            let checks = cli.global.open_session().await?.check_connection().await?;
            print(match format {
                Format::Json => output::to_json(&checks.iter().map(output::check_json).collect::<Vec<_>>()),
                Format::Table => output::checks_table(&checks),
            });
            let failed = checks.iter().any(|c| !c.token_ok || c.read_ok == Some(false));
            if failed {
                return Err(Failure {
                    code: exit::AUTH,
                    message: "some APIs are not usable; see the table above".into(),
                });
            }
            Ok(())
        }
        Command::Query { query, timespan, wait } => {
            let mut session = cli.global.open_session().await?;
            let options = types::QueryOptions { timespan, server_timeout_seconds: wait };
            let result = session.search_events(&query, options).await?;
            if let Some(partial) = &result.partial_error {
                eprintln!(
                    "warning: partial result: {}",
                    output::safe_line(&format!("{}: {}", partial.code, partial.message))
                );
            }
            print(match format {
                Format::Json => output::to_json(&output::query_json(&result)),
                Format::Table => output::query_tables(&result),
            });
            Ok(())
        }
        Command::Graph(command) => graph::graph(&mut cli.global.open_session().await?, command, format).await,
        Command::Hunt { query, timespan } => {
            graph::hunt(&mut cli.global.open_session().await?, &query, timespan, format).await
        }
        Command::Rules(command) => rules::rules(&mut cli.global.open_session().await?, command, format).await,
        Command::Watchlists(command) => {
            watchlists::watchlists(&mut cli.global.open_session().await?, command, format).await
        }
        Command::Indicators(command) => {
            indicators::indicators(&mut cli.global.open_session().await?, command, format).await
        }
        Command::Users(command) => containment::users(&mut cli.global.open_session().await?, command, format).await,
        Command::Groups(command) => containment::groups(&mut cli.global.open_session().await?, command).await,
        Command::Permissions => {
            let manifest = cli.global.open_session().await?.permission_manifest().await?;
            print(graph::manifest_table(&manifest, format));
            Ok(())
        }
        Command::Relations(command) => writes::relations(&mut cli.global.open_session().await?, command).await,
        Command::Tasks(command) => writes::tasks(&mut cli.global.open_session().await?, command).await,
        Command::Comments(command) => writes::comments(&mut cli.global.open_session().await?, command).await,
        Command::Incidents(command) => {
            let mut session = cli.global.open_session().await?;
            match command {
                IncidentsCommand::List(args) => list(&mut session, args, format).await,
                IncidentsCommand::Get { id } => {
                    let incident = session.get_incident(&id).await?;
                    print(match format {
                        Format::Json => output::to_json(&output::incident_json(&incident)),
                        Format::Table => output::incident_detail(&incident),
                    });
                    Ok(())
                }
                IncidentsCommand::Alerts { id } => {
                    let alerts = session.list_alerts(&id).await?;
                    print(match format {
                        Format::Json => output::to_json(&alerts.iter().map(output::alert_json).collect::<Vec<_>>()),
                        Format::Table => output::alerts_table(&alerts),
                    });
                    Ok(())
                }
                IncidentsCommand::Entities { id, normalized: true } => {
                    let entities = session.list_normalized_entities(&id).await?;
                    print(match format {
                        Format::Json => {
                            output::to_json(&entities.iter().map(output::normalized_json).collect::<Vec<_>>())
                        }
                        Format::Table => output::normalized_table(&entities),
                    });
                    Ok(())
                }
                IncidentsCommand::Entities { id, normalized: false } => {
                    let entities = session.list_entities(&id).await?;
                    print(output::to_json(&entities.iter().map(output::entity_json).collect::<Vec<_>>()));
                    Ok(())
                }
                IncidentsCommand::Update(args) => writes::update(&mut session, args, format).await,
                IncidentsCommand::Create(args) => writes::create(&mut session, args, format).await,
                IncidentsCommand::Delete { id, yes } => writes::delete(&mut session, &id, yes).await,
                IncidentsCommand::Bookmarks { id } => {
                    let bookmarks = session.list_bookmarks(&id).await?;
                    print(output::to_json(&bookmarks.iter().map(output::bookmark_json).collect::<Vec<_>>()));
                    Ok(())
                }
            }
        }
    }
}

impl Global {
    fn host_options(&self) -> Result<HostOptions, Failure> {
        let private_network = if self.allow_private_network || self.emulator.is_some() {
            PrivateNetwork::Allow
        } else {
            PrivateNetwork::Refuse
        };
        // Whoever runs the CLI is its operator: custom clouds are theirs to name.
        let mut options = HostOptions { egress: EgressPolicy::operator(private_network), ..HostOptions::default() };
        if let Some(path) = &self.component {
            options.component = std::fs::read(path).map_err(|e| Failure {
                code: exit::USAGE,
                message: format!("cannot read the component {}: {e}", path.display()),
            })?;
        }
        let env = |name: &str| std::env::var(name).ok();
        options.proxies = crate::runtime::proxy::ProxySettings::from_env(&env)
            .map_err(|message| Failure { code: exit::USAGE, message })?;
        if let Some(path) = &self.ca_file {
            options.extra_ca_pem = Some(std::fs::read_to_string(path).map_err(|e| Failure {
                code: exit::USAGE,
                message: format!("cannot read the CA file {}: {e}", path.display()),
            })?);
        }
        Ok(options)
    }

    async fn open_session(&self) -> Result<Session, Failure> {
        Ok(self.open_session_expiring().await?.0)
    }

    /// A session, and when the host-held tokens it was given expire (none
    /// when the component gets its own tokens, which it renews itself).
    pub(crate) async fn open_session_expiring(&self) -> Result<(Session, Option<std::time::SystemTime>), Failure> {
        let file = match &self.config {
            Some(path) => config::read_file(path)?,
            None => FileConfig::default(),
        };
        let env = |name: &str| std::env::var(name).ok();
        let (mut connection, sign_in) = config::resolve_with(&env, &file, self.emulator.as_deref(), self.auth)?;
        let mut expires_at = None;
        if let Some(tokens) = host_tokens(&env, &connection, &sign_in).await? {
            connection.credential = tokens.credential;
            expires_at = tokens.expires_at;
        }
        let host = ConnectorHost::new(self.host_options()?)?;
        let audit = self.verbose.then(stderr_audit);
        Ok((host.open("cli", connection, audit).await?, expires_at))
    }
}

/// For a host sign-in, the tokens of the three APIs, got now.
async fn host_tokens(
    env: &dyn Fn(&str) -> Option<String>,
    connection: &sentinel_connector::core::ConnectionConfig,
    sign_in: &config::SignIn,
) -> Result<Option<identity::HostTokens>, Failure> {
    let failed = |e: identity::IdentityError| Failure { code: exit::AUTH, message: e.0 };
    let endpoints = sentinel_connector::core::config::endpoints_for(&connection.cloud)
        .map_err(|e| Failure { code: exit::USAGE, message: e.to_string() })?;
    let resources =
        identity::Resources::from_scopes(&endpoints.arm.scope, &endpoints.log_analytics.scope, &endpoints.graph.scope);
    match sign_in {
        config::SignIn::Component(_) => Ok(None),
        config::SignIn::ManagedIdentity => identity::managed_identity(env, &resources).await.map(Some).map_err(failed),
        config::SignIn::AzCli => {
            identity::az_cli(&resources, Some(connection.tenant_id.as_str())).map(Some).map_err(failed)
        }
    }
}

pub fn stderr_audit() -> AuditSink {
    Arc::new(|record: &AuditRecord| eprintln!("audit: {record}"))
}

async fn list(session: &mut Session, args: ListArgs, format: Format) -> Result<(), Failure> {
    let walk =
        pages::Walk { all: args.all, max_pages: args.max_pages, start: args.continuation.clone(), ndjson: args.ndjson };
    let max_pages = args.max_pages;
    let options = ListIncidentsOptions {
        filter: args.filter,
        orderby: args.orderby,
        top: args.top,
        continuation: args.continuation,
        max_pages,
    };
    let next =
        |link| ListIncidentsOptions { filter: None, orderby: None, top: None, continuation: Some(link), max_pages };
    pages::list_pages(session, options, walk, format, Session::list_incidents, next).await
}

fn print(text: String) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = writeln!(stdout, "{text}");
}

async fn serve_emulator(args: EmulatorArgs) -> Result<(), Failure> {
    use crate::emulator::{MultiTenantEmulator, MultiTenantOptions, TenantIdentity};
    let failure = |message: String| Failure { code: exit::OTHER, message };
    let options = EmulatorOptions {
        addr: args.addr,
        incidents: args.incidents,
        seed: args.seed,
        graph_roles: args.graph_roles,
        latency: std::time::Duration::from_millis(args.latency),
        jitter: std::time::Duration::from_millis(args.jitter),
        unified: args.unified,
        coalesce_window: args.coalesce.map(std::time::Duration::from_secs),
        graph_orderby: args.graph_orderby,
        tls: args.tls_ca_out.is_some(),
        ..EmulatorOptions::default()
    };
    let write_ca = |ca: Option<&str>| -> Result<(), Failure> {
        if let (Some(path), Some(ca)) = (&args.tls_ca_out, ca) {
            std::fs::write(path, ca)
                .map_err(|e| failure(format!("cannot write the emulator's CA to {}: {e}", path.display())))?;
            eprintln!("emulator: HTTPS; its throwaway CA is in {}", path.display());
        }
        Ok(())
    };
    // Written before the `listening on` line, so a script that waits for it finds them.
    let write_configs = |url: &str, identities: &[TenantIdentity]| -> Result<(), Failure> {
        let Some(dir) = &args.tenant_configs else { return Ok(()) };
        std::fs::create_dir_all(dir).map_err(|e| failure(format!("cannot create {}: {e}", dir.display())))?;
        for (index, identity) in identities.iter().enumerate() {
            let path = dir.join(format!("tenant-{index}.toml"));
            let mut open = std::fs::OpenOptions::new();
            open.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
            let written = open.open(&path).and_then(|mut file| {
                // A file that was there keeps its mode on open: set it.
                #[cfg(unix)]
                file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
                file.write_all(identity.config_toml(url).as_bytes())
            });
            written.map_err(|e| failure(format!("cannot write {}: {e}", path.display())))?;
        }
        eprintln!("emulator: {} tenant configuration(s) in {}", identities.len(), dir.display());
        Ok(())
    };
    // The CA and the tenants' files first, then `listening on` alone on
    // stdout's first line (what scripts wait for), then the banner.
    let announce = |url: &str, ca: Option<&str>, identities: &[TenantIdentity], banner: String| {
        write_ca(ca)?;
        write_configs(url, identities)?;
        println!("listening on {url}");
        let _ = std::io::stdout().flush();
        eprintln!("{banner}");
        Ok::<(), Failure>(())
    };
    if args.tenants > 1 {
        let multi = MultiTenantOptions {
            addr: args.addr,
            tenants: args.tenants,
            incidents_per_tenant: args.incidents,
            seed: args.seed,
            latency: options.latency,
            base: options,
        };
        let emulator = MultiTenantEmulator::start(multi)
            .await
            .map_err(|e| failure(format!("cannot start the emulator on {}: {e}", args.addr)))?;
        let banner = format!(
            "emulator: {} tenants, {} incidents each (seed {}); GET {}/_emulator/tenants lists them",
            args.tenants,
            args.incidents,
            args.seed,
            emulator.url()
        );
        announce(&emulator.url(), emulator.ca_pem(), emulator.tenants(), banner)?;
        tokio::select! {
            _ = emulator.wait() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return Ok(());
    }
    let emulator = Emulator::start(options)
        .await
        .map_err(|e| failure(format!("cannot start the emulator on {}: {e}", args.addr)))?;
    let banner = format!(
        "emulator: {} incidents (seed {}); connect with: sentinel --emulator {} incidents list",
        args.incidents,
        args.seed,
        emulator.url()
    );
    announce(&emulator.url(), emulator.ca_pem(), std::slice::from_ref(emulator.identity()), banner)?;
    tokio::select! {
        _ = emulator.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
