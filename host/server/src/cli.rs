//! The `pchost` command line: `serve` the API, `plugin run` a component locally, manage
//! plugins, bindings, keys and tasks.

use crate::app::router;
use crate::capability_data::StoreData;
use crate::ratelimit::{RateLimit, RateLimiter, UploadLimit};
use crate::state::AppState;
use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use pchost_extensions::bound::{check_change, check_settings};
use pchost_extensions::chain::{PriceCeilings, parse_ceiling};
use pchost_extensions::install as bundle;
use pchost_runtime::compile::{ChildCompiler, CompileConfig, Compiler};
use pchost_runtime::manifest::RequestedLimits;
use pchost_runtime::model::{ApprovalRequest, Quote};
use pchost_runtime::{Capability, PluginManifest, PluginRuntime, RuntimeConfig, RuntimeLimits, World, WorldVersion};
use pchost_store::audit::AuditFilter;
use pchost_store::bindings::{BindingChange, NewBinding, PluginQuota};
use pchost_store::demo::DemoData;
use pchost_store::keys::{KeyPrincipal, NewApiKey};
use pchost_store::store::Store;
use rust_decimal::Decimal;
use serde_json::json;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// The largest input file `plugin run` reads.
const MAX_INPUT_FILE_BYTES: u64 = 4 << 20;

/// The partner-center WebAssembly plugin host.
#[derive(Debug, Parser)]
#[command(name = "pchost", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API on an embedded SQLite file, with demo data and bundled plugins.
    Serve(ServeArgs),
    /// Work with plugin components.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// List recorded plugin invocations, newest first, as JSON.
    Audit(AuditArgs),
    /// List the administrative audit, oldest first, as JSON: who uploaded, bound, changed or
    /// deleted plugins and bindings, created or revoked keys, decided tasks.
    AdminAudit {
        #[command(flatten)]
        db: DbArgs,
        /// Only the events concerning this partner.
        #[arg(long)]
        partner: Option<i64>,
        /// Only events after this id.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// How many (at most 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage bindings of plugin versions to extension points.
    #[command(subcommand)]
    Binding(BindingCommand),
    /// Decide approval tasks, as the operator.
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Compile one component for a server or `plugin install` (they run it; see
    /// `pchost_runtime::compile`): the component on stdin, the compiled artefact on stdout.
    #[command(name = "compile-component", hide = true)]
    CompileComponent {
        /// The request, as JSON.
        request: String,
    },
    /// Re-run a recorded invocation on the same plugin version and input; prints whether it
    /// answered identically, or where it differs.
    Replay {
        #[command(flatten)]
        db: DbArgs,
        /// The invocation (`pchost audit` lists them).
        id: i64,
        /// Where compiled artefacts are kept (default: `artefacts/` beside the database).
        #[arg(long)]
        artefacts: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum TasksCommand {
    /// List approval tasks as JSON.
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Only pending, approved, rejected or failed ones.
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve a task: its action is carried out now.
    Approve {
        #[command(flatten)]
        db: DbArgs,
        /// The task.
        id: i64,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
    /// Reject a task: its action is refused.
    Reject {
        #[command(flatten)]
        db: DbArgs,
        /// The task.
        id: i64,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
}

/// Where the database is.
#[derive(Debug, Args)]
struct DbArgs {
    /// The SQLite file.
    #[arg(long, env = "PCHOST_DB", default_value = ".pchost/pchost.db")]
    db: PathBuf,
    /// A database URL instead of the SQLite file.
    #[arg(long, env = "PCHOST_DATABASE_URL")]
    database_url: Option<String>,
}

impl DbArgs {
    async fn open(&self) -> anyhow::Result<Store> {
        match &self.database_url {
            Some(url) => Store::connect(url).await.context("connecting to the database URL"),
            None => {
                if let Some(parent) = self.db.parent() {
                    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                }
                Store::open(&self.db)
                    .await
                    .with_context(|| format!("opening {}", self.db.display()))
            }
        }
    }

    fn artefacts(&self, explicit: &Option<PathBuf>) -> PathBuf {
        explicit
            .clone()
            .unwrap_or_else(|| self.db.parent().unwrap_or(std::path::Path::new(".")).join("artefacts"))
    }
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an operator key (the first key of a fresh installation) and print it once.
    CreateOperator {
        #[command(flatten)]
        db: DbArgs,
        /// What the key is for.
        #[arg(long, default_value = "operator")]
        name: String,
    },
    /// Revoke the demo keys (public, in the README) of a database once seeded with `--demo`:
    /// `serve` without `--demo` refuses to start while any of them works.
    RevokeDemo {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
enum BindingCommand {
    /// List every binding as JSON.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Bind an installed plugin version to an extension point in a scope.
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// pricing-rule or approval-rule.
        #[arg(long)]
        world: World,
        /// platform, seller or partner.
        #[arg(long)]
        scope: String,
        /// The seller or partner of the scope.
        #[arg(long)]
        scope_id: Option<i64>,
        /// The plugin's owner.
        #[arg(long)]
        owner: i64,
        /// The plugin's name.
        #[arg(long)]
        plugin: String,
        /// The version.
        #[arg(long)]
        version: String,
        /// Order within the scope.
        #[arg(long, default_value_t = 0)]
        position: i32,
        /// fail-closed, fail-open or fallback.
        #[arg(long, default_value = "fail-closed")]
        policy: String,
        /// Values for the plugin's settings, a JSON object (e.g. '{"rate": "0.08"}').
        #[arg(long, value_parser = settings_arg)]
        settings: Option<SettingsArg>,
    },
    /// Enable a binding.
    Enable {
        #[command(flatten)]
        db: DbArgs,
        /// The binding.
        id: i64,
    },
    /// Disable a binding.
    Disable {
        #[command(flatten)]
        db: DbArgs,
        /// The binding.
        id: i64,
    },
    /// Run another installed version (the current one becomes the previous version).
    Upgrade {
        #[command(flatten)]
        db: DbArgs,
        /// The binding.
        id: i64,
        /// The version.
        #[arg(long)]
        version: String,
    },
    /// Give a binding new settings (all of them: one left out takes its default).
    Configure {
        #[command(flatten)]
        db: DbArgs,
        /// The binding.
        id: i64,
        /// A JSON object, e.g. '{"rate": "0.08"}'.
        #[arg(long, value_parser = settings_arg)]
        settings: SettingsArg,
    },
    /// Go back to the previous revision (version and settings).
    Rollback {
        #[command(flatten)]
        db: DbArgs,
        /// The binding.
        id: i64,
    },
}

#[derive(Debug, Args)]
struct AuditArgs {
    /// The SQLite file.
    #[arg(long, env = "PCHOST_DB", default_value = ".pchost/pchost.db")]
    db: PathBuf,
    /// A database URL instead of the SQLite file.
    #[arg(long, env = "PCHOST_DATABASE_URL")]
    database_url: Option<String>,
    /// Only invocations of plugins owned by this partner.
    #[arg(long)]
    owner: Option<i64>,
    /// Only invocations of this component (sha256).
    #[arg(long)]
    digest: Option<String>,
    /// How many (at most 500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The SQLite file (created and migrated if missing).
    #[arg(long, env = "PCHOST_DB", default_value = ".pchost/pchost.db")]
    db: PathBuf,
    /// A database URL instead of the SQLite file: `postgres://user@host:5432/db` (migrated
    /// on start) or `sqlite:<path>`.
    #[arg(long, env = "PCHOST_DATABASE_URL")]
    database_url: Option<String>,
    /// A TOML file of settings: each key a flag of `serve` (`listen = "0.0.0.0:8080"`,
    /// `plugin-instances = 64`); flags and environment variables override it (docs/deploy.md).
    #[arg(long, env = "PCHOST_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "PCHOST_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Serve `/metrics` to anyone on this address too (an internal one: the scraper's network
    /// only). Without it, `/metrics` on the API's address needs the operator's key.
    #[arg(long, env = "PCHOST_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// On SIGTERM or Ctrl-C, how long requests in flight and the scheduler's run in progress
    /// get to finish before the process exits anyway, in seconds.
    #[arg(long, env = "PCHOST_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    shutdown_grace_secs: u64,
    /// On SIGTERM, how long to go on accepting requests while `/readyz` answers 503, so that
    /// load balancers stop sending before the listener closes, in seconds.
    #[arg(long, env = "PCHOST_SHUTDOWN_DELAY_SECS", default_value_t = 0)]
    shutdown_delay_secs: u64,
    /// Where compiled plugin artefacts are kept (default: `artefacts/` beside the database).
    #[arg(long)]
    artefacts: Option<PathBuf>,
    /// Load the demo data set into an empty database.
    #[arg(long)]
    demo: bool,
    /// How often the scheduler runs its jobs (auto-renewal and expiry policies, rule 11; the
    /// approval tasks' outbox; expiring unpaid orders, rule 8), in seconds;
    /// 0 turns it off (another instance runs it).
    #[arg(long, env = "PCHOST_SCHEDULER_INTERVAL_SECS", default_value_t = 60)]
    scheduler_interval_secs: u64,
    /// Install the bundled plugins: directories holding `plugin.toml` manifests.
    #[arg(long, requires = "wasm_dir")]
    bundled_plugins: Option<PathBuf>,
    /// Where the bundled plugins' built components (`<name>.wasm`) are.
    #[arg(long)]
    wasm_dir: Option<PathBuf>,
    /// Price with native Rust versions of the bundled example rules instead of their plugins:
    /// the baseline the benchmark suite compares the plugin chain with. Not for production.
    #[arg(long, hide = true)]
    native_rules_for_benchmarks: bool,
    /// Do not meter fuel: compute-bound rules run about 7% faster, invocations report 0 fuel,
    /// manifests with a fuel limit are refused; deadlines still bound every plugin.
    #[arg(long)]
    no_fuel_metering: bool,
    /// Requests per second each API key (or unauthenticated client address) may make.
    #[arg(long, env = "PCHOST_RATE_LIMIT", default_value_t = 50)]
    rate_limit_per_second: u32,
    /// Requests each may make in a burst.
    #[arg(long, env = "PCHOST_RATE_BURST", default_value_t = 100)]
    rate_limit_burst: u32,
    /// The most a platform-wide pricing rule may raise a unit price to, as a multiple of its
    /// list price (at least 1).
    #[arg(long, env = "PCHOST_PRICE_CEILING_PLATFORM", default_value = "10", value_parser = parse_ceiling)]
    price_ceiling_platform: Decimal,
    /// The most a seller's pricing rule may raise a unit price of its products to, as a
    /// multiple of list.
    #[arg(long, env = "PCHOST_PRICE_CEILING_SELLER", default_value = "10", value_parser = parse_ceiling)]
    price_ceiling_seller: Decimal,
    /// The most a partner's pricing rule may raise a unit price to, as a multiple of list.
    #[arg(long, env = "PCHOST_PRICE_CEILING_PARTNER", default_value = "2", value_parser = parse_ceiling)]
    price_ceiling_partner: Decimal,
    /// Plugin uploads per minute each owning partner may make (each may cost a compilation).
    #[arg(long, env = "PCHOST_UPLOADS_PER_MINUTE", default_value_t = 10)]
    uploads_per_minute: u32,
    /// Plugin uploads each owner may make in a burst.
    #[arg(long, env = "PCHOST_UPLOAD_BURST", default_value_t = 5)]
    upload_burst: u32,
    #[command(flatten)]
    containment: ContainmentArgs,
    #[command(flatten)]
    quota: QuotaArgs,
    #[command(flatten)]
    compile: CompileArgs,
}

/// How plugins share the host: the operator's containment settings (docs/api.md, Limits).
#[derive(Debug, Args)]
struct ContainmentArgs {
    /// Plugin instances alive at once, in all (the instance pool's size).
    #[arg(long, env = "PCHOST_PLUGIN_INSTANCES", default_value_t = RuntimeLimits::default().max_concurrent_instances)]
    plugin_instances: u32,
    /// Of those, how many one owner's plugins may hold at once (default: a quarter).
    #[arg(long, env = "PCHOST_OWNER_CONCURRENCY")]
    owner_concurrency: Option<u32>,
    /// How long an invocation waits for its owner's share or a slot before it is refused.
    #[arg(long, env = "PCHOST_ADMISSION_WAIT_MS", default_value_t = RuntimeLimits::default().admission_wait.as_millis() as u64)]
    admission_wait_ms: u64,
    /// How far past its deadline an invocation waiting on the host runs before it is dropped.
    #[arg(long, env = "PCHOST_WATCHDOG_MARGIN_MS", default_value_t = RuntimeLimits::default().watchdog_margin.as_millis() as u64)]
    watchdog_margin_ms: u64,
    /// Capability calls one invocation may make; the next ones answer `unavailable`.
    #[arg(long, env = "PCHOST_MAX_CAPABILITY_CALLS", default_value_t = RuntimeLimits::default().max_capability_calls)]
    max_capability_calls: u32,
    /// Invocations running guest code at once (default: one per core); the others wait for a
    /// turn, given to the waiting owners in turn.
    #[arg(long, env = "PCHOST_GUEST_TURNS", default_value_t = RuntimeLimits::default().guest_turns)]
    guest_turns: u32,
    /// KiB of each instance slot kept resident between instances (zeroed, not handed back to
    /// the kernel). 256 covers a Rust rule; a JavaScript or Python rule touches megabytes, and
    /// 8192 saves it about a fifth of an isolated invocation, at up to 8 MiB per slot.
    #[arg(long, env = "PCHOST_SLOT_RESIDENT_KIB", default_value_t = (RuntimeLimits::default().slot_resident_bytes >> 10) as u64)]
    slot_resident_kib: u64,
}

impl ContainmentArgs {
    fn limits(&self) -> anyhow::Result<RuntimeLimits> {
        if self.plugin_instances == 0 {
            bail!("--plugin-instances must be at least 1");
        }
        let owner_concurrency = self.owner_concurrency.unwrap_or((self.plugin_instances / 4).max(1));
        if owner_concurrency == 0 || owner_concurrency > self.plugin_instances {
            bail!(
                "--owner-concurrency must be 1 to --plugin-instances ({})",
                self.plugin_instances
            );
        }
        if self.guest_turns == 0 {
            bail!("--guest-turns must be at least 1");
        }
        // Within the largest linear memory an instance may have (256 MiB by default).
        let max_resident_kib = (RuntimeLimits::default().max_memory_bytes >> 10) as u64;
        if self.slot_resident_kib > max_resident_kib {
            bail!("--slot-resident-kib must be at most {max_resident_kib} (the largest memory of an instance)");
        }
        Ok(RuntimeLimits {
            max_concurrent_instances: self.plugin_instances,
            owner_concurrency,
            admission_wait: std::time::Duration::from_millis(self.admission_wait_ms),
            watchdog_margin: std::time::Duration::from_millis(self.watchdog_margin_ms),
            max_capability_calls: self.max_capability_calls,
            guest_turns: self.guest_turns,
            slot_resident_bytes: (self.slot_resident_kib << 10) as usize,
            ..RuntimeLimits::default()
        })
    }
}

/// What each owner may keep installed.
#[derive(Debug, Args)]
struct QuotaArgs {
    /// Plugin versions each owning partner may keep installed.
    #[arg(long, env = "PCHOST_PLUGIN_VERSIONS_PER_OWNER", default_value_t = 200)]
    plugin_versions_per_owner: u64,
    /// MiB of components each owning partner may keep installed, all its versions together.
    #[arg(long, env = "PCHOST_PLUGIN_MIB_PER_OWNER", default_value_t = 256)]
    plugin_mib_per_owner: u64,
}

impl QuotaArgs {
    fn quota(&self) -> PluginQuota {
        PluginQuota {
            max_versions: self.plugin_versions_per_owner,
            max_bytes: self.plugin_mib_per_owner.saturating_mul(1 << 20),
        }
    }
}

/// How components are compiled: each in a child process of this executable, killed past the
/// timeout.
#[derive(Debug, Args)]
struct CompileArgs {
    /// Seconds one compilation may take; past it the install is refused (`compile-timeout`).
    #[arg(long, env = "PCHOST_COMPILE_TIMEOUT_SECS", default_value_t = 30)]
    compile_timeout_secs: u64,
    /// Compilations at once; further uploads wait for a turn, first come, first served (up to
    /// 30 s, then `compile-busy`), one per owner in line (its next waits for it to end).
    #[arg(long, env = "PCHOST_COMPILE_CONCURRENCY", default_value_t = 1)]
    compile_concurrency: u32,
    /// Threads each compilation may use.
    #[arg(long, env = "PCHOST_COMPILE_THREADS", default_value_t = 1)]
    compile_threads: u32,
    /// MiB of address space each compilation may map.
    #[arg(long, env = "PCHOST_COMPILE_MEMORY_MIB", default_value_t = 1024)]
    compile_memory_mib: u64,
}

impl CompileArgs {
    fn config(&self) -> anyhow::Result<CompileConfig> {
        let program = std::env::current_exe().context("finding this executable, to compile components with")?;
        Ok(CompileConfig {
            compiler: Compiler::ChildProcess(ChildCompiler {
                program,
                memory_bytes: self.compile_memory_mib.saturating_mul(1 << 20),
                threads: self.compile_threads,
            }),
            concurrency: self.compile_concurrency,
            ceiling: Duration::from_secs(self.compile_timeout_secs),
            ..CompileConfig::default()
        })
    }
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run a component once on an input file and print the result as JSON.
    Run(RunArgs),
    /// Install a component with its manifest into the database and artefact store; a running
    /// server loads it within seconds.
    Install {
        #[command(flatten)]
        db: DbArgs,
        /// The manifest (`plugin.toml`).
        #[arg(long)]
        manifest: PathBuf,
        /// The component (`.wasm`).
        #[arg(long)]
        component: PathBuf,
        /// Where compiled artefacts are kept (default: `artefacts/` beside the database).
        #[arg(long)]
        artefacts: Option<PathBuf>,
        #[command(flatten)]
        quota: QuotaArgs,
        #[command(flatten)]
        compile: CompileArgs,
    },
    /// List installed plugin versions as JSON.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Start a plugin project from the worked example of a world: source, `plugin.toml`,
    /// fixtures and a README with the commands to build, test, check and upload it.
    New {
        /// The plugin's name (a-z, 0-9, '-'): the project's directory and crate.
        name: String,
        /// pricing-rule or approval-rule.
        #[arg(long)]
        world: World,
        /// The language: rust, js (componentize-js) or python (componentize-py).
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::scaffold::Lang,
        /// The partner that owns it.
        #[arg(long)]
        owner: i64,
        /// Where to create the project directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The Rust plugin SDK (default: the one of the tree pchost was built from).
        /// JavaScript and Python projects carry their kit and WIT themselves.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Run every fixture of a directory through the real runtime under production limits:
    /// `<case>.input.json` (a quote or an approval request, as the audit records them) with
    /// `<case>.expected.json` (the output). Prints PASS or FAIL per case with fuel and time,
    /// and a diff of each failure; exits non-zero if any fails.
    Test {
        /// The manifest (`plugin.toml`): world, contract version, grants, limits.
        #[arg(long)]
        manifest: PathBuf,
        /// The component (`.wasm`).
        #[arg(long)]
        component: PathBuf,
        /// The fixtures' directory.
        #[arg(long)]
        fixtures: PathBuf,
        /// Read capabilities from this SQLite file instead of a fresh demo data set.
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Check a component against its manifest as an upload is checked, without storing
    /// anything: the manifest, the world and contract version, imports against grants, the
    /// exports, the size and shape, limits within the operator's ceilings, and compiling.
    /// Prints a report; exits non-zero naming the first problem.
    Check {
        /// The component (`.wasm`).
        component: PathBuf,
        /// The manifest (`plugin.toml`).
        #[arg(long)]
        manifest: PathBuf,
    },
    /// Make a publisher signing key: writes its secret seed to `--out` (readable by its owner
    /// only) and prints the public key for the operator to register
    /// (`POST /v1/publisher-keys`).
    Keygen {
        /// Where to write the secret key; refused if the file exists.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a component and its manifest with a key from `keygen`: prints the signature to
    /// upload as the `signature` part beside them.
    Sign {
        /// The secret key file.
        #[arg(long)]
        key: PathBuf,
        /// The manifest (`plugin.toml`), exactly as it will be uploaded.
        #[arg(long)]
        manifest: PathBuf,
        /// The component (`.wasm`).
        #[arg(long)]
        component: PathBuf,
    },
    /// Delete an installed version that no binding names (as active, previous or shadow
    /// version), and its stored component unless another version has the same bytes. A
    /// running server keeps the version's code in memory until it restarts; nothing can bind
    /// it meanwhile.
    Delete {
        #[command(flatten)]
        db: DbArgs,
        /// The plugin's owner.
        #[arg(long)]
        owner: i64,
        /// The plugin's name.
        #[arg(long)]
        plugin: String,
        /// The version.
        #[arg(long)]
        version: String,
        /// Where compiled artefacts are kept (default: `artefacts/` beside the database).
        #[arg(long)]
        artefacts: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The component (`.wasm`).
    component: PathBuf,
    /// The world it implements: pricing-rule or approval-rule.
    #[arg(long)]
    world: World,
    /// The version of the extension package it is built against: 0.1.0 or 0.2.0.
    #[arg(long, default_value = "0.1.0")]
    world_version: WorldVersion,
    /// The input: a quote (pricing-rule) or an approval request (approval-rule), as JSON.
    #[arg(long)]
    input: PathBuf,
    /// Capabilities granted (repeatable): customer, order, pricing, invoicing.
    #[arg(long = "grant")]
    grants: Vec<Capability>,
    /// Imports the component never calls (repeatable), as a manifest's `unused-imports`: a
    /// JavaScript or Python component needs its ungranted capabilities listed.
    #[arg(long = "unused-import")]
    unused_imports: Vec<String>,
    /// The partner owning the plugin (default: the input's partner).
    #[arg(long)]
    owner: Option<i64>,
    /// Deadline in milliseconds.
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// Fuel limit.
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory cap in MiB.
    #[arg(long)]
    memory_mib: Option<u64>,
    /// Read capabilities from this SQLite file instead of a fresh in-memory demo data set.
    #[arg(long)]
    db: Option<PathBuf>,
}

/// Runs the command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // A child compiler logs nothing and needs no async runtime: only its exit code and
    // stderr reach its parent.
    if let Command::CompileComponent { request } = &cli.command {
        return Ok(pchost_runtime::compile::child_main(request));
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Serve(args) => {
            let served = runtime.block_on(serve(args));
            // Drained, or the grace period is over: a compile still running on a blocking
            // thread (an upload cut short, a sync) does not hold the exit.
            runtime.shutdown_timeout(Duration::from_secs(1));
            served
        }
        Command::Plugin(PluginCommand::Run(args)) => runtime.block_on(run_plugin(args)),
        Command::Audit(args) => runtime.block_on(audit(args)),
        Command::AdminAudit {
            db,
            partner,
            after,
            limit,
        } => runtime.block_on(async move {
            let limit = limit.clamp(1, pchost_store::admin_events::MAX_EVENT_PAGE);
            print_json(&db.open().await?.admin_events(partner, after, limit).await?)
        }),
        Command::Plugin(PluginCommand::Keygen { out }) => keygen(&out),
        Command::Plugin(PluginCommand::New {
            name,
            world,
            lang,
            owner,
            dir,
            sdk,
        }) => {
            let sdk = sdk.or_else(crate::scaffold::default_sdk);
            let project = crate::scaffold::new_project(&dir, &name, world, lang, owner, sdk.as_deref())?;
            eprintln!("{} created: see its README.md", project.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin(PluginCommand::Test {
            manifest,
            component,
            fixtures,
            db,
        }) => runtime.block_on(test_fixtures(&manifest, &component, &fixtures, db)),
        Command::Plugin(PluginCommand::Check { component, manifest }) => check_component(&component, &manifest),
        Command::Plugin(PluginCommand::Sign {
            key,
            manifest,
            component,
        }) => sign(&key, &manifest, &component),
        Command::Plugin(PluginCommand::Install {
            db,
            manifest,
            component,
            artefacts,
            quota,
            compile,
        }) => runtime.block_on(install_plugin(db, manifest, component, artefacts, quota, compile)),
        Command::Plugin(PluginCommand::List { db }) => runtime.block_on(async move {
            let store = db.open().await?;
            print_json(&store.plugin_versions(None).await?)
        }),
        Command::Plugin(PluginCommand::Delete {
            db,
            owner,
            plugin,
            version,
            artefacts,
        }) => runtime.block_on(delete_plugin(db, owner, plugin, version, artefacts)),
        Command::CompileComponent { .. } => unreachable!("served before the async runtime starts"),
        Command::Keys(KeysCommand::CreateOperator { db, name }) => runtime.block_on(create_operator_key(db, name)),
        Command::Keys(KeysCommand::RevokeDemo { db }) => runtime.block_on(async {
            let store = db.open().await?;
            let revoked = crate::demo::revoke_demo_keys(&store).await?;
            cli_event(
                &store,
                None,
                "key.revoke",
                "demo-keys".into(),
                serde_json::json!({ "revoked": revoked }),
            )
            .await?;
            eprintln!("{revoked} demo keys and keys made with them revoked");
            Ok(ExitCode::SUCCESS)
        }),
        Command::Binding(command) => runtime.block_on(binding(command)),
        Command::Tasks(command) => runtime.block_on(tasks(command)),
        Command::Replay { db, id, artefacts } => runtime.block_on(replay(db, id, artefacts)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let db = DbArgs {
        db: args.db.clone(),
        database_url: args.database_url.clone(),
    };
    let store = db.open().await?;
    if args.demo && store.seed_demo_if_empty(&DemoData::new(Utc::now())).await? {
        crate::demo::seed(&store).await?;
        tracing::info!("demo data and demo API keys loaded (see README: never use --demo in production)");
    }
    if !args.demo {
        let usable = crate::demo::usable_demo_keys(&store).await?;
        if !usable.is_empty() {
            let target = match &db.database_url {
                Some(_) => " --database-url <the same URL>".to_owned(),
                None => format!(" --db {}", db.db.display()),
            };
            anyhow::bail!(
                "this database was seeded with --demo and {} of its demo API keys, or keys made with them, still \
                 work; their secrets are public (README), so serving it without --demo is refused. Revoke them with \
                 `pchost keys revoke-demo{target}`, or serve it with --demo",
                usable.len()
            );
        }
    }
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        artefact_dir: Some(db.artefacts(&args.artefacts)),
        meter_fuel: !args.no_fuel_metering,
        limits: args.containment.limits()?,
        compile: args.compile.config()?,
        ..RuntimeConfig::default()
    })?);
    let mut state = AppState::new(
        store.clone(),
        runtime.clone(),
        RateLimit {
            per_second: args.rate_limit_per_second,
            burst: args.rate_limit_burst,
        },
    );
    // The versions bindings name, before listening; the others once it serves (follow.rs).
    // One version that cannot be loaded (say, refused by this replica's stricter limits)
    // does not keep the others from serving: the log names it, `/metrics` counts the bound
    // ones (`pchost_bound_versions_not_loaded`), and it is tried again later.
    let synced = bundle::sync_bound(&store, &runtime, &state.host.load_failures).await?;
    for (plugin, error) in &synced.failed {
        tracing::error!(%plugin, %error, "installed plugin version not loaded");
    }
    tracing::info!(
        loaded = synced.loaded,
        failed = synced.failed.len(),
        "bound plugin versions loaded"
    );
    let quota = args.quota.quota();
    if let (Some(manifests), Some(wasm_dir)) = (&args.bundled_plugins, &args.wasm_dir) {
        let installed = bundle::install_bundled(&store, &runtime, manifests, wasm_dir, &quota).await?;
        tracing::info!(?installed, "bundled plugins installed and bound");
    }
    state.host.price_ceilings = PriceCeilings {
        platform: args.price_ceiling_platform,
        seller: args.price_ceiling_seller,
        partner: args.price_ceiling_partner,
    };
    state.reveal_codes = args.demo;
    state.uploads = Arc::new(RateLimiter::for_uploads(UploadLimit {
        per_minute: args.uploads_per_minute,
        burst: args.upload_burst,
    }));
    state.host.plugin_quota = quota;
    state.host.native_rules = args.native_rules_for_benchmarks;
    if state.host.native_rules {
        tracing::warn!("pricing with native versions of the example rules: a benchmark baseline, not production");
    }
    let bound = state.host.bindings.reload(&store).await?;
    tracing::info!(bound, "bindings loaded");
    let scheduler = (args.scheduler_interval_secs > 0).then(|| {
        let interval = std::time::Duration::from_secs(args.scheduler_interval_secs);
        tokio::spawn(crate::scheduler::run_every(state.clone(), interval))
    });
    tokio::spawn(crate::follow::follow_changes(state.clone()));
    if let Some(address) = args.metrics_listen {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("listening on {address} for /metrics"))?;
        tracing::info!(address = %listener.local_addr()?, "/metrics listening");
        let (app, lifecycle) = (crate::app::metrics_router(state.clone()), state.lifecycle.clone());
        tokio::spawn(async move {
            let stopping = async move { lifecycle.stopping().await };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopping).await {
                tracing::error!(error = %e, "the /metrics listener failed");
            }
        });
    }
    let lifecycle = state.lifecycle.clone();
    let app = router(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving");
    let grace = Duration::from_secs(args.shutdown_grace_secs);
    let delay = Duration::from_secs(args.shutdown_delay_secs);
    let signalled = {
        let lifecycle = lifecycle.clone();
        async move {
            crate::lifecycle::terminate_signal().await;
            tracing::info!(
                delay_secs = delay.as_secs(),
                grace_secs = grace.as_secs(),
                "shutting down: not ready; new connections refused after the delay; draining"
            );
            lifecycle.begin_shutdown();
            tokio::time::sleep(delay).await;
        }
    };
    let serving = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(signalled)
        .into_future();
    // Requests in flight and the scheduler's run in progress share one grace period, from the
    // end of the delay on; then they are cut.
    let deadline = async {
        lifecycle.stopping().await;
        tokio::time::sleep(delay + grace).await;
    };
    tokio::pin!(deadline);
    tokio::select! {
        served = serving => served?,
        () = &mut deadline => {
            tracing::warn!("requests still in flight at the end of the grace period were cut");
            return Ok(ExitCode::FAILURE);
        }
    }
    if let Some(scheduler) = scheduler {
        tokio::select! {
            ended = scheduler => {
                if let Err(e) = ended {
                    tracing::error!(error = %e, "the scheduler ended abnormally");
                    return Ok(ExitCode::FAILURE);
                }
            }
            () = &mut deadline => {
                tracing::warn!("the scheduler's run in progress outlived the grace period and was cut");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    tracing::info!("drained; exiting");
    Ok(ExitCode::SUCCESS)
}

/// Reads a manifest file, within the upload's size limit.
fn read_manifest(path: &Path) -> anyhow::Result<PluginManifest> {
    let text = read_limited(path, pchost_extensions::install::MAX_MANIFEST_BYTES as u64)?;
    PluginManifest::from_toml(&String::from_utf8(text).with_context(|| format!("{} is not UTF-8", path.display()))?)
        .with_context(|| format!("{} is not a valid manifest", path.display()))
}

fn check_component(component: &Path, manifest: &Path) -> anyhow::Result<ExitCode> {
    let manifest = read_manifest(manifest)?;
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let bytes = read_limited(component, runtime.limits().max_component_bytes as u64)?;
    let label = manifest.label();
    match runtime.install(manifest, &bytes) {
        Ok(plugin) => {
            // The host's standard fixtures of the world, over the demo data (whose connections
            // live on `executor`, kept until they have run).
            let executor = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let store = executor.block_on(async {
                let store = Store::in_memory().await?;
                store.seed_demo_if_empty(&DemoData::new(Utc::now())).await?;
                anyhow::Ok(store)
            })?;
            let simulations = crate::simulations::run(&runtime, &plugin, Arc::new(StoreData::new(store)));
            let ok = simulations.iter().all(|s| s.passed);
            print_json(&json!({
                "ok": ok,
                "plugin": label,
                "world": plugin.manifest.world,
                "world_version": plugin.manifest.world_version.to_string(),
                "grants": plugin.manifest.grants,
                // Imported, never granted: linked to stubs that fail a call.
                "unused_imports": plugin.manifest.unused_imports,
                "digest": plugin.digest,
                "size_bytes": bytes.len(),
                "simulations": simulations,
            }))?;
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Err(refusal) => {
            let refusal = pchost_extensions::error::ExtensionError::from(refusal);
            print_json(&json!({
                "ok": false,
                "plugin": label,
                "code": refusal.code(),
                "message": refusal.to_string(),
            }))?;
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn test_fixtures(
    manifest: &Path,
    component: &Path,
    fixtures: &Path,
    db: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let manifest = read_manifest(manifest)?;
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let bytes = read_limited(component, runtime.limits().max_component_bytes as u64)?;
    let plugin = runtime.install(manifest, &bytes)?;
    // Capability reads, scoped to the owner as in production: a case's own data set
    // (`<case>.data.json`), else the folder's (`data.json`), else the database named, else the
    // demo data.
    let shared = fixtures.join("data.json");
    let data = if shared.is_file() {
        fixture_store(&shared).await?
    } else if let Some(path) = &db {
        Store::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?
    } else {
        let store = Store::in_memory().await?;
        store.seed_demo_if_empty(&DemoData::new(Utc::now())).await?;
        store
    };
    let data: Arc<dyn pchost_runtime::CapabilityData> = Arc::new(StoreData::new(data));
    let mut cases: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures)
        .with_context(|| format!("reading {}", fixtures.display()))?
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let case = path.file_name()?.to_str()?.strip_suffix(".input.json")?.to_owned();
            Some((case, path))
        })
        .collect();
    cases.sort();
    if cases.is_empty() {
        bail!("{} holds no `<case>.input.json` fixture", fixtures.display());
    }
    let (runtime, plugin) = (Arc::new(runtime), plugin);
    let mut failed = 0;
    for (case, input) in &cases {
        // A case that cannot run (a missing expected output, a bad data set) fails alone.
        match run_fixture(&runtime, &plugin, fixtures, case, input, &data).await {
            Ok((report, expected)) if report["output"] == expected => {
                println!(
                    "PASS {case} (fuel {}, {} us)",
                    report["fuel_used"], report["wall_time_us"]
                );
            }
            Ok((report, expected)) => {
                failed += 1;
                println!(
                    "FAIL {case} (fuel {}, {} us): the output differs",
                    report["fuel_used"], report["wall_time_us"]
                );
                for line in json_diff(&expected, &report["output"]) {
                    println!("    {line}");
                }
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {case}: {e:#}");
            }
        }
    }
    println!("{} passed, {failed} failed", cases.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs one fixture: its report (output, fuel, time) and its expected output. An input
/// without `settings` gets the manifest's defaults, as every bound rule does in production.
async fn run_fixture(
    runtime: &Arc<PluginRuntime>,
    plugin: &Arc<pchost_runtime::LoadedPlugin>,
    fixtures: &Path,
    case: &str,
    input: &Path,
    shared: &Arc<dyn pchost_runtime::CapabilityData>,
) -> anyhow::Result<(serde_json::Value, serde_json::Value)> {
    let text = String::from_utf8(read_limited(input, MAX_INPUT_FILE_BYTES)?)
        .with_context(|| format!("{} is not UTF-8", input.display()))?;
    let expected_path = fixtures.join(format!("{case}.expected.json"));
    let expected: serde_json::Value = serde_json::from_slice(&read_limited(&expected_path, MAX_INPUT_FILE_BYTES)?)
        .with_context(|| format!("{} is not JSON", expected_path.display()))?;
    let own_data = fixtures.join(format!("{case}.data.json"));
    let data: Arc<dyn pchost_runtime::CapabilityData> = if own_data.is_file() {
        Arc::new(StoreData::new(fixture_store(&own_data).await?))
    } else {
        shared.clone()
    };
    let defaults = pchost_runtime::settings::resolve(&plugin.manifest.settings, &serde_json::Map::new())
        .map_err(|e| anyhow::anyhow!("the manifest's setting {} has no default: {}", e.field, e.message));
    let (id, world, runtime) = (plugin.id.clone(), plugin.manifest.world, runtime.clone());
    let report = tokio::task::spawn_blocking(move || -> anyhow::Result<serde_json::Value> {
        Ok(match world {
            World::PricingRule => {
                let mut quote: Quote = serde_json::from_str(&text).context("the input is not a quote")?;
                if quote.settings.is_empty() {
                    quote.settings = defaults?;
                }
                serde_json::to_value(runtime.price(&id, &quote, data)?)?
            }
            World::ApprovalRule => {
                let mut request: ApprovalRequest =
                    serde_json::from_str(&text).context("the input is not an approval request")?;
                if request.settings.is_empty() {
                    request.settings = defaults?;
                }
                serde_json::to_value(runtime.decide(&id, &request, data)?)?
            }
        })
    })
    .await??;
    Ok((report, expected))
}

/// An in-memory store holding a fixture's data set: partners, customers, products, prices,
/// orders, invoice infos and requests, staff (the demo data's shape, every list optional).
async fn fixture_store(path: &Path) -> anyhow::Result<Store> {
    let data: DemoData = serde_json::from_slice(&read_limited(path, MAX_INPUT_FILE_BYTES)?)
        .with_context(|| format!("{} is not a fixture data set", path.display()))?;
    let store = Store::in_memory().await?;
    store
        .seed_demo_if_empty(&data)
        .await
        .with_context(|| format!("loading {}", path.display()))?;
    Ok(store)
}

/// The lines of `actual` (pretty JSON) against those of `expected`: `- ` for an expected line
/// missing, `+ ` for a line that should not be there, by their longest common subsequence.
fn json_diff(expected: &serde_json::Value, actual: &serde_json::Value) -> Vec<String> {
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let (old, new) = (pretty(expected), pretty(actual));
    let (old, new): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // The table below is lines × lines: past a few million cells, name the first difference.
    if old.len().saturating_mul(new.len()) > 4_000_000 {
        let first = old
            .iter()
            .zip(&new)
            .position(|(a, b)| a != b)
            .unwrap_or(old.len().min(new.len()));
        return vec![
            format!(
                "(too large to diff: {} lines expected, {} answered)",
                old.len(),
                new.len()
            ),
            format!("- {}", old.get(first).copied().unwrap_or("(end)")),
            format!("+ {}", new.get(first).copied().unwrap_or("(end)")),
        ];
    }
    // lcs[i][j]: the longest common subsequence of old[i..] and new[j..].
    let mut lcs = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut lines) = (0, 0, Vec::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            lines.push(format!("  {}", old[i]));
            i += 1;
            j += 1;
        } else if i < old.len() && (j == new.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(format!("- {}", old[i]));
            i += 1;
        } else {
            lines.push(format!("+ {}", new[j]));
            j += 1;
        }
    }
    lines
}

fn keygen(out: &Path) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (seed, public) = pchost_extensions::signing::generate_signing_key()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("creating {} (it must not exist)", out.display()))?;
    writeln!(file, "{seed}").with_context(|| format!("writing {}", out.display()))?;
    let fingerprint = pchost_extensions::signing::fingerprint(
        &pchost_extensions::signing::parse_public_key(&public).map_err(anyhow::Error::msg)?,
    );
    eprintln!(
        "secret key written to {}: keep it secret. Its public key (fingerprint {fingerprint}), for the operator to register:",
        out.display()
    );
    println!("{public}");
    Ok(ExitCode::SUCCESS)
}

fn sign(key: &Path, manifest: &Path, component: &Path) -> anyhow::Result<ExitCode> {
    let read = |path: &Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let seed = String::from_utf8(read(key)?).context("the key file is not text")?;
    println!(
        "{}",
        pchost_extensions::signing::sign(&seed, &read(manifest)?, &read(component)?)?
    );
    Ok(ExitCode::SUCCESS)
}

async fn create_operator_key(db: DbArgs, name: String) -> anyhow::Result<ExitCode> {
    let store = db.open().await?;
    let (secret, key_hash) = crate::auth::generate_key()?;
    let key = store
        .create_api_key(
            &NewApiKey {
                name,
                key_hash,
                prefix: secret[..crate::auth::KEY_PREFIX.len() + 8].to_owned(),
                principal: KeyPrincipal::Operator,
                scopes: vec!["*".into()],
                created_by: "cli".into(),
                expires_at: None,
                parent_key: None,
            },
            Utc::now(),
        )
        .await?;
    cli_event(
        &store,
        None,
        "key.create",
        format!("api-key:{}", key.id),
        serde_json::json!({ "principal": key.principal, "scopes": key.scopes }),
    )
    .await?;
    eprintln!("operator key {} created; it is shown once:", key.id);
    println!("{secret}");
    Ok(ExitCode::SUCCESS)
}

async fn install_plugin(
    db: DbArgs,
    manifest: PathBuf,
    component: PathBuf,
    artefacts: Option<PathBuf>,
    quota: QuotaArgs,
    compile: CompileArgs,
) -> anyhow::Result<ExitCode> {
    let store = db.open().await?;
    let text = read_limited(&manifest, pchost_extensions::install::MAX_MANIFEST_BYTES as u64)?;
    let manifest =
        PluginManifest::from_toml(&String::from_utf8(text)?).with_context(|| format!("in {}", manifest.display()))?;
    let wasm = read_limited(&component, pchost_runtime::DEFAULT_MAX_COMPONENT_BYTES as u64)?;
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        artefact_dir: Some(db.artefacts(&artefacts)),
        compile: compile.config()?,
        ..RuntimeConfig::default()
    })?);
    let plugin = bundle::install(&store, &runtime, manifest, &wasm, &quota.quota()).await?;
    cli_event(
        &store,
        Some(plugin.manifest.owner),
        "plugin.upload",
        plugin.id.clone(),
        json!({ "digest": plugin.digest, "signer": null }),
    )
    .await?;
    print_json(&json!({ "id": plugin.id, "digest": plugin.digest, "world": plugin.manifest.world }))
}

async fn delete_plugin(
    db: DbArgs,
    owner: i64,
    plugin: String,
    version: String,
    artefacts: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let store = db.open().await?;
    let id = format!("{owner}/{plugin}@{version}");
    let digest = store
        .delete_plugin_version(owner, &plugin, &version)
        .await?
        .with_context(|| format!("{id} is not installed"))?;
    if !store.digest_installed(&digest).await? {
        let dir = db.artefacts(&artefacts);
        pchost_runtime::remove_artefacts(&dir, &digest)
            .with_context(|| format!("removing the artefacts of {digest} from {}", dir.display()))?;
    }
    cli_event(&store, Some(owner), "plugin.delete", id.clone(), json!({})).await?;
    print_json(&json!({ "deleted": id, "digest": digest }))
}

async fn binding(command: BindingCommand) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    match command {
        BindingCommand::List { db } => print_json(&db.open().await?.bindings().await?),
        BindingCommand::Create {
            db,
            world,
            scope,
            scope_id,
            owner,
            plugin,
            version,
            position,
            policy,
            settings,
        } => {
            let store = db.open().await?;
            let settings = settings.map(|s| s.0).unwrap_or_default();
            check_settings(&store, owner, &plugin, &version, &settings).await?;
            let binding = NewBinding {
                world: world.as_str().into(),
                scope: scope.parse()?,
                scope_id,
                plugin_owner: owner,
                plugin_name: plugin,
                version,
                position,
                failure_policy: policy.parse()?,
                enabled: true,
                settings,
            };
            let binding = store.create_binding(&binding, CLI, now).await?;
            binding_event(&store, "binding.create", &binding).await?;
            print_json(&binding)
        }
        BindingCommand::Enable { db, id } => {
            let change = BindingChange {
                enabled: Some(true),
                ..BindingChange::default()
            };
            change_binding(db, id, change).await
        }
        BindingCommand::Disable { db, id } => {
            let change = BindingChange {
                enabled: Some(false),
                ..BindingChange::default()
            };
            change_binding(db, id, change).await
        }
        BindingCommand::Upgrade { db, id, version } => {
            let change = BindingChange {
                version: Some(version),
                ..BindingChange::default()
            };
            change_binding(db, id, change).await
        }
        BindingCommand::Configure { db, id, settings } => {
            let change = BindingChange {
                settings: Some(settings.0),
                ..BindingChange::default()
            };
            change_binding(db, id, change).await
        }
        BindingCommand::Rollback { db, id } => {
            let store = db.open().await?;
            let binding = store.rollback_binding(id, CLI, now).await?;
            binding_event(&store, "binding.rollback", &binding).await?;
            print_json(&binding)
        }
    }
}

/// Applies a change to a binding, its settings checked against the version active after it,
/// as the API does.
async fn change_binding(db: DbArgs, id: i64, change: BindingChange) -> anyhow::Result<ExitCode> {
    let store = db.open().await?;
    let current = store.binding(id).await?.with_context(|| format!("no binding {id}"))?;
    check_change(&store, &current, &change).await?;
    let binding = store.update_binding(id, &change, CLI, Utc::now()).await?;
    binding_event(&store, "binding.change", &binding).await?;
    print_json(&binding)
}

/// Who the command line acts as, in records: the operator, at the host's console.
const CLI: &str = "operator(cli)";

/// Records an administrative change made from the command line.
async fn cli_event(
    store: &Store,
    partner: Option<i64>,
    action: &str,
    target: String,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    store
        .record_admin_event(
            &pchost_store::admin_events::NewAdminEvent {
                actor: CLI,
                partner,
                action,
                target,
                detail,
            },
            Utc::now(),
        )
        .await?;
    Ok(())
}

async fn binding_event(store: &Store, action: &str, binding: &pchost_store::bindings::Binding) -> anyhow::Result<()> {
    let plugin = format!("{}/{}@{}", binding.plugin_owner, binding.plugin_name, binding.version);
    cli_event(
        store,
        Some(binding.scope_id.unwrap_or(binding.plugin_owner)),
        action,
        format!("binding:{}", binding.id),
        serde_json::json!({ "plugin": plugin, "scope": binding.scope, "enabled": binding.enabled }),
    )
    .await
}

/// A binding's settings on the command line: a JSON object of at most 8 KiB.
#[derive(Clone, Debug)]
struct SettingsArg(serde_json::Map<String, serde_json::Value>);

async fn task_event(store: &Store, action: &str, task: &pchost_store::tasks::ApprovalTask) -> anyhow::Result<()> {
    cli_event(
        store,
        Some(task.partner),
        action,
        format!("task:{}", task.id),
        serde_json::json!({ "kind": task.kind, "requested_by": task.requested_by, "status": task.status }),
    )
    .await
}

fn settings_arg(text: &str) -> Result<SettingsArg, String> {
    if text.len() > pchost_store::bindings::MAX_BINDING_SETTINGS {
        return Err(format!(
            "at most {} bytes of settings",
            pchost_store::bindings::MAX_BINDING_SETTINGS
        ));
    }
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(SettingsArg(map)),
        _ => Err("settings are a JSON object, e.g. '{\"rate\": \"0.08\"}'".into()),
    }
}

async fn tasks(command: TasksCommand) -> anyhow::Result<ExitCode> {
    const BY: &str = CLI;
    match command {
        TasksCommand::List { db, status } => {
            let status = status.map(|s| s.parse()).transpose()?;
            let filter = pchost_store::tasks::TaskFilter {
                status,
                ..Default::default()
            };
            print_json(&db.open().await?.tasks(&filter, 0, 500).await?)
        }
        TasksCommand::Approve { db, id, note } => {
            let store = db.open().await?;
            let task = pchost_extensions::approvals::decide_task(&store, id, true, BY, note.as_deref()).await?;
            task_event(&store, "task.approve", &task).await?;
            print_json(&task)
        }
        TasksCommand::Reject { db, id, note } => {
            let store = db.open().await?;
            let task = pchost_extensions::approvals::decide_task(&store, id, false, BY, note.as_deref()).await?;
            task_event(&store, "task.reject", &task).await?;
            print_json(&task)
        }
    }
}

async fn replay(db: DbArgs, id: i64, artefacts: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let store = db.open().await?;
    let record = store
        .invocation(id)
        .await?
        .with_context(|| format!("no invocation {id}"))?;
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        artefact_dir: Some(db.artefacts(&artefacts)),
        ..RuntimeConfig::default()
    })?);
    let state = AppState::new(store.clone(), runtime.clone(), RateLimit::default());
    bundle::sync_installed(&store, &runtime, &state.host.load_failures).await?;
    let report = pchost_extensions::replay::replay(&state.host, record).await?;
    print_json(&report)?;
    Ok(if report.identical {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}

fn read_limited(path: &std::path::Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    // Read at most one byte past the limit, whatever the file claims to be (a FIFO, a device,
    // a file that grows).
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("reading {}", path.display()))?
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{} is over {limit} bytes, the limit", path.display());
    }
    Ok(bytes)
}

async fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let store = match &args.database_url {
        Some(url) => Store::connect(url).await.context("connecting to the database URL")?,
        None => Store::open(&args.db)
            .await
            .with_context(|| format!("opening {}", args.db.display()))?,
    };
    let filter = AuditFilter {
        owner: args.owner,
        digest: args.digest,
        ..AuditFilter::default()
    };
    let records = store.invocations(&filter, args.limit).await?;
    println!("{}", serde_json::to_string_pretty(&records)?);
    Ok(ExitCode::SUCCESS)
}

async fn run_plugin(args: RunArgs) -> anyhow::Result<ExitCode> {
    let input_len = std::fs::metadata(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?
        .len();
    if input_len > MAX_INPUT_FILE_BYTES {
        bail!(
            "{} is {input_len} bytes; the limit is {MAX_INPUT_FILE_BYTES}",
            args.input.display()
        );
    }
    let input = std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let component = std::fs::read(&args.component).with_context(|| format!("reading {}", args.component.display()))?;
    enum Input {
        Quote(Quote),
        Approval(ApprovalRequest),
    }
    let (input, input_owner) = match args.world {
        World::PricingRule => {
            let quote: Quote =
                serde_json::from_str(&input).with_context(|| format!("{} is not a quote", args.input.display()))?;
            let owner = quote.partner.as_ref().map(|p| p.id);
            (Input::Quote(quote), owner)
        }
        World::ApprovalRule => {
            let request: ApprovalRequest = serde_json::from_str(&input)
                .with_context(|| format!("{} is not an approval request", args.input.display()))?;
            let owner = Some(request.partner);
            (Input::Approval(request), owner)
        }
    };
    let owner = args
        .owner
        .or(input_owner)
        .context("the input names no partner: give the plugin's owner with --owner")?;
    let name = args
        .component
        .file_stem()
        .and_then(|s| s.to_str())
        .map(|s| s.replace('_', "-").to_lowercase())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "plugin".into());
    let manifest = PluginManifest {
        name,
        version: "0.0.0".into(),
        world: args.world,
        world_version: args.world_version,
        owner,
        grants: args.grants.into_iter().collect::<BTreeSet<_>>(),
        limits: RequestedLimits {
            deadline_ms: args.deadline_ms,
            fuel: args.fuel,
            memory_mib: args.memory_mib,
        },
        settings: Default::default(),
        unused_imports: args.unused_imports.into_iter().collect(),
    };

    let store = match &args.db {
        Some(path) => Store::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?,
        None => {
            let store = Store::in_memory().await?;
            store.seed_demo_if_empty(&DemoData::new(Utc::now())).await?;
            store
        }
    };
    let data = Arc::new(StoreData::new(store));
    let runtime = PluginRuntime::new(RuntimeConfig::default())?;
    let plugin = runtime.install(manifest, &component)?;
    let id = plugin.id.clone();
    let label = plugin.manifest.label();
    let result = tokio::task::spawn_blocking(move || match input {
        Input::Quote(quote) => runtime.price(&id, &quote, data).map(serde_json::to_value),
        Input::Approval(request) => runtime.decide(&id, &request, data).map(serde_json::to_value),
    })
    .await?;
    let mut report = result.with_context(|| format!("running {label}"))??;
    if let Some(object) = report.as_object_mut() {
        object.insert("plugin".into(), json!(label));
        object.insert("digest".into(), json!(plugin.digest));
        object.insert("world".into(), json!(args.world));
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
