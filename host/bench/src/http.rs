//! Section 4: the HTTP API under load, the bundled chain as plugins and as native rules, in
//! alternating rounds; and the `pchost serve` it drives (also the noisy-neighbour section's).

use crate::measure::{Latency, Results, median};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Rounds of 5 s per mode in the HTTP section.
const HTTP_ROUNDS: usize = 5;

/// Section 4: the quote endpoint under load from `wrk`, with the three-rule chain (platform
/// surcharge, the seller's volume discount, the reseller's markup) as plugins (a fresh instance
/// per invocation, every invocation audited) and as native Rust, in alternating rounds; and,
/// when `PCHOST_BENCH_POSTGRES_URL` names a PostgreSQL server (`scripts/bench` sets it), the
/// plugins on a replica serving from PostgreSQL in the same rounds.
pub(crate) fn http_under_load(results: &mut Results) -> anyhow::Result<()> {
    let Ok(wrk) = which("wrk") else {
        println!("4 HTTP under load: skipped, `wrk` is not installed (scripts/bench installs it)");
        return Ok(());
    };
    let pchost = std::env::current_exe()?.with_file_name("pchost");
    if !pchost.exists() {
        bail!("{} is missing: build the workspace in release first", pchost.display());
    }
    let script = std::env::temp_dir().join(format!("pchost-bench-{}.lua", std::process::id()));
    std::fs::write(
        &script,
        r#"wrk.method = "POST"
wrk.body = '{"customer_id":102,"currency":"CNY","lines":[{"product_id":2001,"period":"month","period_count":1,"quantity":60}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer pch_demo_customer_102"
"#,
    )?;
    // Every server up at once, driven in turns: background load on this shared machine then
    // falls on every mode alike, and the ratios are taken per round.
    // No rate limit: wrk drives one key as fast as the server answers.
    let postgres = match std::env::var("PCHOST_BENCH_POSTGRES_URL").map(|url| BenchDatabase::create(&url)) {
        Ok(Ok(database)) => Some(database),
        Ok(Err(e)) => {
            println!("4 HTTP under load: PostgreSQL skipped, {e:#}");
            None
        }
        Err(_) => {
            println!("4 HTTP under load: PostgreSQL skipped, set PCHOST_BENCH_POSTGRES_URL to measure it");
            None
        }
    };
    let mut servers = vec![
        (
            "plugins",
            HttpServer::start(&pchost, false, 1_000_000, &std::env::temp_dir(), None)?,
        ),
        (
            "native rules",
            HttpServer::start(&pchost, true, 1_000_000, &std::env::temp_dir(), None)?,
        ),
    ];
    if let Some(database) = &postgres {
        let server = HttpServer::start(&pchost, false, 1_000_000, &std::env::temp_dir(), Some(&database.url))?;
        servers.push(("plugins on PostgreSQL", server));
    }
    let mut rounds: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); servers.len()];
    for _ in 0..HTTP_ROUNDS {
        for ((_, server), figures) in servers.iter().zip(rounds.iter_mut()) {
            let output = std::process::Command::new(&wrk)
                .args(["-t1", "-c8", "-d5s", "--latency", "-s"])
                .arg(&script)
                .arg(format!("http://{}/v1/quotes", server.address))
                .output()?;
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            if text.contains("Non-2xx") {
                bail!("some requests failed:\n{text}");
            }
            let rps = wrk_figure(&text, "Requests/sec:").context("wrk printed no throughput")?;
            let p50 = wrk_latency(&text, "50%").context("wrk printed no p50")?;
            let p99 = wrk_latency(&text, "99%").context("wrk printed no p99")?;
            figures.push((rps, p50, p99));
        }
    }
    for ((mode, _), figures) in servers.iter().zip(&rounds) {
        results.figure(
            "4 HTTP under load",
            &format!("POST /v1/quotes, 3-rule chain as {mode}: throughput (median of {HTTP_ROUNDS} rounds)"),
            median(figures.iter().map(|f| f.0).collect()),
            "req/s",
        );
        results.latency(
            "4 HTTP under load",
            &format!("POST /v1/quotes, 3-rule chain as {mode} (medians)"),
            Latency {
                p50: median(figures.iter().map(|f| f.1).collect()),
                p99: median(figures.iter().map(|f| f.2).collect()),
            },
        );
    }
    if let Some(on_postgres) = rounds.get(2) {
        let ratios = on_postgres
            .iter()
            .zip(&rounds[0])
            .map(|(pg, lite)| pg.0 / lite.0 * 100.0)
            .collect();
        results.figure(
            "4 HTTP under load",
            "throughput, plugins on PostgreSQL / on SQLite (median of the rounds)",
            median(ratios),
            "%",
        );
    }
    let ratios: Vec<f64> = rounds[0]
        .iter()
        .zip(&rounds[1])
        .map(|(p, n)| p.0 / n.0 * 100.0)
        .collect();
    let (low, high) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    results.figure(
        "4 HTTP under load",
        "throughput, plugins / native rules, lowest round",
        low,
        "%",
    );
    results.figure(
        "4 HTTP under load",
        "throughput, plugins / native rules, highest round",
        high,
        "%",
    );
    results.figure(
        "4 HTTP under load",
        "throughput, plugins / native rules (median of the rounds)",
        median(ratios),
        "%",
    );
    std::fs::remove_file(&script)?;
    drop(servers);
    drop(postgres);
    Ok(())
}

/// A PostgreSQL database of the benchmark's own, dropped after it.
struct BenchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl BenchDatabase {
    fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("pchost_bench_{}", std::process::id());
        admin(admin_url, &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("creating a benchmark database on {admin_url}"))?;
        let (base, _) = admin_url.rsplit_once('/').context("the URL ends in /<database>")?;
        Ok(BenchDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if let Err(e) = admin(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("dropping the benchmark database {}: {e:#}", self.name);
        }
    }
}

/// Runs one statement on the PostgreSQL server `url` names.
fn admin(url: &str, statement: &str) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(url).await?;
            sqlx::query(statement).execute(&pool).await?;
            pool.close().await;
            anyhow::Ok(())
        })
}

fn which(program: &str) -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .with_context(|| format!("{program} not found"))
}

fn wrk_figure(text: &str, label: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.trim_start().starts_with(label))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A latency line of `wrk --latency` (`99%   12.34ms`), in microseconds.
fn wrk_latency(text: &str, label: &str) -> Option<f64> {
    let after = text.split("Latency Distribution").nth(1)?;
    let value = after
        .lines()
        .find(|l| l.trim_start().starts_with(label))?
        .split_whitespace()
        .nth(1)?;
    let (number, factor) = if let Some(v) = value.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = value.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = value.strip_suffix('s') {
        (v, 1e6)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// A `pchost serve --demo` on a free port with the bundled rules and a platform surcharge
/// bound platform-wide; killed when dropped.
pub(crate) struct HttpServer {
    child: std::process::Child,
    pub(crate) address: String,
    pub(crate) dir: PathBuf,
    program: PathBuf,
    database_url: Option<String>,
}

impl HttpServer {
    /// `rate_limit`: requests per second (and burst) each API key may make; `base`: where its
    /// SQLite database and artefacts go; `database_url`: PostgreSQL instead of SQLite.
    pub(crate) fn start(
        pchost: &Path,
        native: bool,
        rate_limit: u32,
        base: &Path,
        database_url: Option<&str>,
    ) -> anyhow::Result<HttpServer> {
        use std::io::BufRead;
        let engine = if database_url.is_some() { "postgres" } else { "sqlite" };
        let dir = base.join(format!("pchost-bench-http-{}-{native}-{engine}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let db = dir.join("pchost.db");
        let root = pchost_test_plugins::repo_root();
        let mut command = std::process::Command::new(pchost);
        command
            .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
            .arg("--rate-limit-per-second")
            .arg(rate_limit.to_string())
            .arg("--rate-limit-burst")
            .arg(rate_limit.to_string())
            .arg("--db")
            .arg(&db)
            .arg("--bundled-plugins")
            .arg(root.join("plugins"))
            .arg("--wasm-dir")
            .arg(pchost_test_plugins::WASM_DIR)
            .env("RUST_LOG", "warn,pchost_server::cli=info")
            .env("NO_COLOR", "1")
            .stderr(std::process::Stdio::piped());
        if native {
            command.arg("--native-rules-for-benchmarks");
        }
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        // From here on the server is killed on every way out, failures included.
        let mut server = HttpServer {
            child: command.spawn()?,
            address: String::new(),
            dir: dir.clone(),
            program: pchost.to_owned(),
            database_url: database_url.map(str::to_owned),
        };
        let stderr = server.child.stderr.take().context("stderr")?;
        let mut lines = std::io::BufReader::new(stderr).lines();
        server.address = loop {
            let line = lines.next().context("the server stopped before serving")??;
            if line.contains("serving")
                && let Some(rest) = line.split("address=").nth(1)
            {
                break rest.split_whitespace().next().unwrap_or_default().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        // The platform-wide step: the markup component as an 8% platform surcharge.
        let manifest = dir.join("surcharge.toml");
        std::fs::write(
            &manifest,
            "name = \"platform-surcharge\"\nversion = \"1.0.0\"\nworld = \"pricing-rule\"\nworld-version = \"0.3.0\"\nowner = 1\n",
        )?;
        let manifest = manifest.display().to_string();
        server.pchost(&[
            "plugin",
            "install",
            "--manifest",
            &manifest,
            "--component",
            pchost_test_plugins::RESELLER_MARKUP,
        ])?;
        server.pchost(&[
            "binding",
            "create",
            "--world",
            "pricing-rule",
            "--scope",
            "platform",
            "--owner",
            "1",
            "--plugin",
            "platform-surcharge",
            "--version",
            "1.0.0",
        ])?;
        // The server picks both up at once on PostgreSQL (notified), within its 2 s poll on
        // SQLite.
        std::thread::sleep(Duration::from_secs(3));
        Ok(server)
    }

    /// Runs a `pchost` command on this server's database (a running server picks up what it
    /// installs or binds within its 2 s poll on SQLite, at once on PostgreSQL).
    pub(crate) fn pchost(&self, args: &[&str]) -> anyhow::Result<()> {
        let mut command = std::process::Command::new(&self.program);
        command.args(args).arg("--db").arg(self.dir.join("pchost.db"));
        if let Some(url) = &self.database_url {
            command.arg("--database-url").arg(url);
        }
        let status = command
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("pchost {args:?} failed");
        }
        Ok(())
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
