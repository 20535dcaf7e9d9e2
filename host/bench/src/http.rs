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
/// per invocation, every invocation audited) and as native Rust, in alternating rounds.
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
    // Both servers up at once, driven in turns: background load on this shared machine then
    // falls on both modes alike, and the ratio is taken per round.
    // No rate limit: wrk drives one key as fast as the server answers.
    let servers = [
        HttpServer::start(&pchost, false, 1_000_000, &std::env::temp_dir())?,
        HttpServer::start(&pchost, true, 1_000_000, &std::env::temp_dir())?,
    ];
    let mut rounds: [Vec<(f64, f64, f64)>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..HTTP_ROUNDS {
        for (server, figures) in servers.iter().zip(rounds.iter_mut()) {
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
    for (mode, figures) in ["plugins", "native rules"].iter().zip(&rounds) {
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
    Ok(())
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
}

impl HttpServer {
    /// `rate_limit`: requests per second (and burst) each API key may make; `base`: where its
    /// database and artefacts go.
    pub(crate) fn start(pchost: &Path, native: bool, rate_limit: u32, base: &Path) -> anyhow::Result<HttpServer> {
        use std::io::BufRead;
        let dir = base.join(format!("pchost-bench-http-{}-{native}", std::process::id()));
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
        // From here on the server is killed on every way out, failures included.
        let mut server = HttpServer {
            child: command.spawn()?,
            address: String::new(),
            dir: dir.clone(),
            program: pchost.to_owned(),
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
        // The server picks both up within its 2 s sync.
        std::thread::sleep(Duration::from_secs(3));
        Ok(server)
    }

    /// Runs a `pchost` command on this server's database (a running server picks up what it
    /// installs or binds within its 2 s sync).
    pub(crate) fn pchost(&self, args: &[&str]) -> anyhow::Result<()> {
        let status = std::process::Command::new(&self.program)
            .args(args)
            .arg("--db")
            .arg(self.dir.join("pchost.db"))
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
