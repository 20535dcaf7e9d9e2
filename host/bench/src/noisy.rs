//! Section 7: noisy neighbours. A good tenant's quotes are timed alone, then beside a tenant
//! sending as many quotes to a well-behaved rule (what the same load costs anyway), then
//! beside a hostile marketplace seller whose pricing rule sleeps, spins, bombs memory and
//! traps, in rounds so that the three conditions share whatever else this machine does. The
//! targets: no good quote fails, and the good p99 beside the hostile tenant is within 2x of
//! the good p99 alone.
//!
//! Both tenants send on a schedule (open loop: a slow answer does not delay the next request,
//! so queueing shows in the latency, timed from when each request was due). The hostile
//! tenant sends at the full rate the server allows one API key in this section. A flood of
//! requests beyond any key's limit is for the rate limiter and the load balancer to stop, for
//! requests of any kind; what is measured here is what the plugins themselves can do.
//!
//! The server's database lives in memory (`/dev/shm`) when the machine has one: this VM's
//! disk now and then takes 50-150 ms over an fsync, which then decides a 1,500-sample p99 in
//! whichever condition it falls, whatever the plugins do. Commits still run with SQLite's
//! full synchronisation; the figures on disk are in BENCHMARKS.md.

use crate::http::HttpServer;
use crate::measure::{Latency, Results};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SECTION: &str = "7 noisy neighbour";
/// Rounds of (alone, beside a well-behaved tenant, beside the hostile tenant).
const ROUNDS: usize = 5;
/// Length of each phase.
const PHASE: Duration = Duration::from_secs(5);
/// Quiet time after an attack, so that its last invocations end before the good tenant is
/// timed alone again.
const DRAIN: Duration = Duration::from_secs(1);
/// Requests per second (and burst) the server allows each API key in this section; the
/// default is 50, too few for the good tenant's own rate.
const KEY_RATE_LIMIT: u32 = 200;
/// The good tenant's quotes per second.
const GOOD_RATE: u32 = 100;
/// The hostile tenant's quotes per second: its key's whole limit.
const HOSTILE_RATE: u32 = KEY_RATE_LIMIT;
/// Threads sending each tenant's quotes: enough that the hostile tenant's slowest quotes
/// (100 ms spins) never hold back its schedule.
const SENDERS: usize = 32;
/// What the hostile rule does, by quantity (plugins/hostile/README.md): sleep an hour, spin,
/// allocate without end, panic.
const HOSTILE_MODES: [u32; 4] = [1, 7, 8, 9];
/// The same rule, well-behaved: it answers at once.
const BUSY_MODES: [u32; 1] = [10];

/// Customer 101's quote of the platform's product 1001: the platform surcharge and reseller
/// 2's markup price it; no rule of seller 10 runs.
const GOOD_QUOTE: &str = r#"{"customer_id":101,"currency":"CNY","lines":[{"product_id":1001,"period":"month","period_count":1,"quantity":2}]}"#;

pub(crate) fn noisy_neighbour(results: &mut Results) -> anyhow::Result<()> {
    let pchost = std::env::current_exe()?.with_file_name("pchost");
    if !pchost.exists() {
        bail!("{} is missing: build the workspace in release first", pchost.display());
    }
    let memory = Path::new("/dev/shm");
    let base = if memory.is_dir() {
        memory.to_owned()
    } else {
        std::env::temp_dir()
    };
    let server = HttpServer::start(&pchost, false, KEY_RATE_LIMIT, &base, None)?;
    let manifest = server.dir.join("noisy.toml");
    std::fs::write(
        &manifest,
        "name = \"noisy-neighbour\"\nversion = \"1.0.0\"\nworld = \"pricing-rule\"\nworld-version = \"0.2.0\"\nowner = 10\ngrants = [\"customer\"]\n",
    )?;
    server.pchost(&[
        "plugin",
        "install",
        "--manifest",
        &manifest.display().to_string(),
        "--component",
        pchost_test_plugins::HOSTILE_NOISY_NEIGHBOUR,
    ])?;
    server.pchost(&[
        "binding",
        "create",
        "--world",
        "pricing-rule",
        "--scope",
        "seller",
        "--scope-id",
        "10",
        "--owner",
        "10",
        "--plugin",
        "noisy-neighbour",
        "--version",
        "1.0.0",
        "--position",
        "10",
    ])?;
    std::thread::sleep(Duration::from_secs(3));
    let (status, body) = post(&server.address, "pch_demo_customer_101", GOOD_QUOTE)?;
    if status != 201 {
        bail!("the good quote failed before any attack: {body}");
    }
    let expected_total = total(&body).context("the good quote has no total")?;

    // Warm-up: connections, caches and the database's first pages, not measured.
    run_phase(&server.address, &expected_total, None);
    let mut alone = Tally::default();
    let mut busy = Tally::default();
    let mut beside = Tally::default();
    // Per round: the good p99 beside the hostile tenant, and beside the well-behaved one, over
    // the good p99 alone in the same round.
    let mut ratios: Vec<(f64, f64)> = Vec::new();
    for round in 1..=ROUNDS {
        let quiet = run_phase(&server.address, &expected_total, None);
        let loaded = run_phase(&server.address, &expected_total, Some(&BUSY_MODES));
        std::thread::sleep(DRAIN);
        let noisy = run_phase(&server.address, &expected_total, Some(&HOSTILE_MODES));
        println!(
            "{SECTION:<22} round {round}: good p99 alone {:.1} ms, beside a well-behaved tenant {:.1} ms, beside the hostile tenant {:.1} ms",
            quiet.good.latency().p99 / 1e3,
            loaded.good.latency().p99 / 1e3,
            noisy.good.latency().p99 / 1e3
        );
        let p99_alone = quiet.good.latency().p99;
        ratios.push((
            noisy.good.latency().p99 / p99_alone,
            loaded.good.latency().p99 / p99_alone,
        ));
        alone.add(quiet);
        busy.add(loaded);
        beside.add(noisy);
        std::thread::sleep(DRAIN);
    }
    let (alone_latency, busy_latency, beside_latency) =
        (alone.good.latency(), busy.good.latency(), beside.good.latency());
    for (name, tally, latency) in [
        ("good tenant alone", &alone, alone_latency),
        ("good tenant beside a well-behaved tenant", &busy, busy_latency),
        ("good tenant beside the hostile tenant", &beside, beside_latency),
    ] {
        results.latency(SECTION, &format!("{name}: quote latency ({GOOD_RATE} req/s)"), latency);
        results.figure(
            SECTION,
            &format!("{name}: quotes sent"),
            tally.good.latencies.len() as f64,
            "",
        );
        results.figure(
            SECTION,
            &format!("{name}: quotes failed"),
            tally.good.failures as f64,
            "",
        );
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let hostile: Vec<f64> = ratios.iter().map(|r| r.0).collect();
    let (low, high) = hostile
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    results.figure(
        SECTION,
        &format!("good p99 beside the hostile tenant / alone (median of {ROUNDS} rounds)"),
        median(hostile),
        "x",
    );
    results.figure(
        SECTION,
        "good p99 beside the hostile tenant / alone, lowest round",
        low,
        "x",
    );
    results.figure(
        SECTION,
        "good p99 beside the hostile tenant / alone, highest round",
        high,
        "x",
    );
    results.figure(
        SECTION,
        &format!("good p99 beside a well-behaved tenant at the same rate / alone (median of {ROUNDS} rounds)"),
        median(ratios.iter().map(|r| r.1).collect()),
        "x",
    );
    results.figure(
        SECTION,
        &format!("hostile tenant: quotes sent ({HOSTILE_RATE} req/s)"),
        beside.hostile.values().sum::<u64>() as f64,
        "",
    );
    for (outcome, count) in &beside.hostile {
        results.figure(
            SECTION,
            &format!("hostile tenant: answered {outcome}"),
            *count as f64,
            "",
        );
    }
    Ok(())
}

/// The good tenant's latencies and failures.
#[derive(Default)]
struct Good {
    latencies: Vec<Duration>,
    failures: u64,
}

impl Good {
    fn latency(&self) -> Latency {
        Latency::of(self.latencies.clone())
    }
}

/// What one or more phases gave: the good tenant's figures, and how the hostile tenant's
/// quotes were answered (HTTP status and failure kind or code, counted).
#[derive(Default)]
struct Tally {
    good: Good,
    hostile: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.good.latencies.extend(other.good.latencies);
        self.good.failures += other.good.failures;
        for (outcome, count) in other.hostile {
            *self.hostile.entry(outcome).or_default() += count;
        }
    }
}

/// One phase: the good tenant at [`GOOD_RATE`] and, with `other` modes, the other tenant at
/// [`HOSTILE_RATE`] asking for them in turn, both for [`PHASE`].
fn run_phase(address: &str, expected_total: &str, other: Option<&[u32]>) -> Tally {
    let started = Instant::now();
    let tally = Mutex::new(Tally::default());
    let good = Schedule::new(started, GOOD_RATE);
    let hostile = Schedule::new(started, HOSTILE_RATE);
    std::thread::scope(|scope| {
        for _ in 0..SENDERS {
            scope.spawn(|| {
                while let Some(due) = good.next() {
                    let answer = post(address, "pch_demo_customer_101", GOOD_QUOTE);
                    let took = due.elapsed();
                    let ok = matches!(&answer, Ok((201, body)) if total(body).as_deref() == Some(expected_total));
                    let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
                    tally.good.latencies.push(took);
                    tally.good.failures += u64::from(!ok);
                }
            });
            if let Some(modes) = other {
                scope.spawn(|| {
                    let mut n = 0;
                    while let Some(_due) = hostile.next() {
                        let mode = modes[n % modes.len()];
                        n += 1;
                        let body = format!(
                            r#"{{"customer_id":102,"currency":"CNY","lines":[{{"product_id":2001,"period":"month","period_count":1,"quantity":{mode}}}]}}"#
                        );
                        let outcome = match post(address, "pch_demo_customer_102", &body) {
                            Ok((status, body)) => format!("{status} {}", failure_kind(&body)),
                            Err(e) => format!("error {e}"),
                        };
                        let mut tally = tally.lock().unwrap_or_else(|e| e.into_inner());
                        *tally.hostile.entry(outcome).or_default() += 1;
                    }
                });
            }
        }
    });
    tally.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Requests due at a steady rate over one phase, handed out to whichever sender asks next.
struct Schedule {
    started: Instant,
    interval: Duration,
    count: u64,
    next: AtomicU64,
}

impl Schedule {
    fn new(started: Instant, rate: u32) -> Self {
        Schedule {
            started,
            interval: Duration::from_secs(1) / rate,
            count: (f64::from(rate) * PHASE.as_secs_f64()) as u64,
            next: AtomicU64::new(0),
        }
    }

    /// Waits until the next request is due and returns when that was; `None` once all are.
    fn next(&self) -> Option<Instant> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        if k >= self.count {
            return None;
        }
        let due = self.started + self.interval * u32::try_from(k).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        Some(due)
    }
}

/// POSTs a quote on a fresh connection; the status and the body.
fn post(address: &str, key: &str, body: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "POST /v1/quotes HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer {key}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The JSON object in a response body (which may come chunked).
fn json(body: &str) -> serde_json::Value {
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map(|i| i + 1).unwrap_or(body.len());
    serde_json::from_str(body.get(start..end).unwrap_or("")).unwrap_or_default()
}

/// The `total` of a quote answer, as written.
fn total(body: &str) -> Option<String> {
    json(body)["total"].as_str().map(str::to_owned)
}

/// The failure kind of a refused quote (`timeout`, `trap`...), else its code, else `ok`.
fn failure_kind(body: &str) -> String {
    let value = json(body);
    value["plugin"]["kind"]["kind"]
        .as_str()
        .or(value["code"].as_str())
        .unwrap_or("ok")
        .to_owned()
}
