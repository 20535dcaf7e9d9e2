//! The `pchost` command line: `serve` the API, `plugin run` a component locally.

use crate::app::{AppState, router};
use crate::bundle;
use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use pchost_domain::audit::AuditFilter;
use pchost_domain::demo::DemoData;
use pchost_domain::store::Store;
use pchost_runtime::manifest::RequestedLimits;
use pchost_runtime::model::{ApprovalRequest, Quote};
use pchost_runtime::{Capability, PluginManifest, PluginRuntime, RuntimeConfig, StoreData, World};
use serde_json::json;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
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
    /// Address to listen on.
    #[arg(long, env = "PCHOST_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where compiled plugin artefacts are kept (default: `artefacts/` beside the database).
    #[arg(long)]
    artefacts: Option<PathBuf>,
    /// Load the demo data set into an empty database.
    #[arg(long)]
    demo: bool,
    /// Install the bundled plugins: directories holding `plugin.toml` manifests.
    #[arg(long, requires = "wasm_dir")]
    bundled_plugins: Option<PathBuf>,
    /// Where the bundled plugins' built components (`<name>.wasm`) are.
    #[arg(long)]
    wasm_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Run a component once on an input file and print the result as JSON.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The component (`.wasm`).
    component: PathBuf,
    /// The world it implements: pricing-rule or approval-rule.
    #[arg(long)]
    world: World,
    /// The input: a quote (pricing-rule) or an approval request (approval-rule), as JSON.
    #[arg(long)]
    input: PathBuf,
    /// Capabilities granted (repeatable): customer, order, pricing, invoicing.
    #[arg(long = "grant")]
    grants: Vec<Capability>,
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
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Plugin(PluginCommand::Run(args)) => runtime.block_on(run_plugin(args)),
        Command::Audit(args) => runtime.block_on(audit(args)),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(parent) = args.db.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let store = match &args.database_url {
        Some(url) => Store::connect(url).await.context("connecting to the database URL")?,
        None => Store::open(&args.db)
            .await
            .with_context(|| format!("opening {}", args.db.display()))?,
    };
    if args.demo && store.seed_demo_if_empty(&DemoData::new(Utc::now())).await? {
        tracing::info!("demo data loaded");
    }
    let artefacts = args
        .artefacts
        .unwrap_or_else(|| args.db.parent().unwrap_or(std::path::Path::new(".")).join("artefacts"));
    let runtime = Arc::new(PluginRuntime::new(RuntimeConfig {
        artefact_dir: Some(artefacts),
        ..RuntimeConfig::default()
    })?);
    let loaded = bundle::load_installed(&store, &runtime).await?;
    tracing::info!(loaded, "installed plugins loaded");
    if let (Some(manifests), Some(wasm_dir)) = (&args.bundled_plugins, &args.wasm_dir) {
        let installed = bundle::install_bundled(&store, &runtime, manifests, wasm_dir).await?;
        tracing::info!(?installed, "bundled plugins installed");
    }
    let data = Arc::new(StoreData::new(store.clone(), tokio::runtime::Handle::current()));
    let app = router(AppState { store, runtime, data });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %args.listen, "serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await?;
    Ok(ExitCode::SUCCESS)
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
        owner,
        grants: args.grants.into_iter().collect::<BTreeSet<_>>(),
        limits: RequestedLimits {
            deadline_ms: args.deadline_ms,
            fuel: args.fuel,
            memory_mib: args.memory_mib,
        },
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
    let data = Arc::new(StoreData::new(store, tokio::runtime::Handle::current()));
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
