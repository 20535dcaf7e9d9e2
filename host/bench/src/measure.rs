//! Timing and the figures' record: latency percentiles, plugin-vs-native comparisons in
//! alternating rounds, and the results written to `bench-results/`.

use crate::plot;
use chrono::Utc;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

/// Samples per latency figure.
pub(crate) const SAMPLES: usize = 2_000;

/// Latency percentiles of a sample set, in microseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
}

impl Latency {
    pub(crate) fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
        Latency {
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

/// Times `f` per call, after a warm-up.
pub(crate) fn measure(mut f: impl FnMut()) -> Latency {
    for _ in 0..SAMPLES / 10 {
        f();
    }
    let samples = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    Latency::of(samples)
}

/// Times `f` in batches of `batch` calls and reports per-call figures of the batches: for
/// calls too short to time one by one (the clock read would dominate).
pub(crate) fn measure_batched(batch: u32, mut f: impl FnMut()) -> Latency {
    for _ in 0..batch * 10 {
        f();
    }
    let samples = (0..SAMPLES / 4)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..batch {
                f();
            }
            started.elapsed() / batch
        })
        .collect();
    Latency::of(samples)
}

/// The figures, in the order they were measured.
#[derive(Default)]
pub(crate) struct Results {
    rows: Vec<(String, String, Value)>,
    pub(crate) growth: Vec<(usize, f64)>,
}

impl Results {
    pub(crate) fn latency(&mut self, section: &str, name: &str, latency: Latency) {
        println!(
            "{section:<22} {name:<58} p50 {:>10.3} µs   p99 {:>10.3} µs",
            latency.p50, latency.p99
        );
        self.rows.push((
            section.into(),
            name.into(),
            json!({ "p50_us": latency.p50, "p99_us": latency.p99 }),
        ));
    }

    pub(crate) fn figure(&mut self, section: &str, name: &str, value: f64, unit: &str) {
        println!("{section:<22} {name:<58} {value:>14.3} {unit}");
        self.rows
            .push((section.into(), name.into(), json!({ "value": value, "unit": unit })));
    }

    /// A ratio measured in alternating rounds: the median, with the lowest and highest round.
    pub(crate) fn ratio(&mut self, section: &str, name: &str, ratios: &[f64]) {
        let (low, high) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        let value = median(ratios.to_vec());
        println!("{section:<22} {name:<58} {value:>14.3} ×   (rounds {low:.3}-{high:.3})");
        self.rows.push((
            section.into(),
            name.into(),
            json!({ "value": value, "unit": "×", "low": low, "high": high, "rounds": ratios.len() }),
        ));
    }

    pub(crate) fn write(&self, out: &Path) -> anyhow::Result<()> {
        let machine = machine();
        let json = json!({
            "machine": machine,
            "measured_at": Utc::now(),
            "figures": self.rows.iter().map(|(s, n, v)| json!({ "section": s, "name": n, "figure": v })).collect::<Vec<_>>(),
            "cost_growth": self.growth.iter().map(|(l, us)| json!({ "lines": l, "p50_us": us })).collect::<Vec<_>>(),
        });
        std::fs::write(out.join("results.json"), serde_json::to_string_pretty(&json)?)?;
        let mut md = format!(
            "Measured {} on {machine}.\n\n| section | figure | value |\n|---|---|---|\n",
            Utc::now().format("%Y-%m-%d %H:%M UTC")
        );
        for (section, name, value) in &self.rows {
            let shown = match (value.get("p50_us"), value.get("value")) {
                (Some(p50), _) => format!(
                    "p50 {:.3} µs, p99 {:.3} µs",
                    p50.as_f64().unwrap_or(0.0),
                    value["p99_us"].as_f64().unwrap_or(0.0)
                ),
                (None, Some(v)) => match (value.get("low"), value.get("high")) {
                    (Some(low), Some(high)) => format!(
                        "{:.3} {} (median of {} alternating rounds, {:.3}-{:.3})",
                        v.as_f64().unwrap_or(0.0),
                        value["unit"].as_str().unwrap_or(""),
                        value["rounds"],
                        low.as_f64().unwrap_or(0.0),
                        high.as_f64().unwrap_or(0.0)
                    ),
                    _ => format!(
                        "{:.3} {}",
                        v.as_f64().unwrap_or(0.0),
                        value["unit"].as_str().unwrap_or("")
                    ),
                },
                _ => String::new(),
            };
            md.push_str(&format!("| {section} | {name} | {shown} |\n"));
        }
        std::fs::write(out.join("results.md"), md)?;
        std::fs::write(out.join("cost-growth.svg"), plot::cost_growth(&self.growth))?;
        println!(
            "\nwritten: {0}/results.json, {0}/results.md, {0}/cost-growth.svg",
            out.display()
        );
        Ok(())
    }
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cpu}, {cores} cores")
}

/// What [`alternating`] measured of one contender: its latency over every round, and its p50
/// in each round.
pub(crate) struct Measured {
    pub(crate) all: Latency,
    round_p50s: Vec<f64>,
}

impl Measured {
    /// `self` over `other`, round by round: both were measured in the same rounds, so a change
    /// in the machine's load falls on both alike.
    pub(crate) fn ratios_to(&self, other: &Measured) -> Vec<f64> {
        self.round_p50s
            .iter()
            .zip(&other.round_p50s)
            .map(|(a, b)| a / b)
            .collect()
    }
}

/// Times each of `runs` per call in `rounds` alternating rounds (A B C A B C ...), after a
/// warm-up of each: the way every comparison of the suite is measured, since a benchmark run
/// minutes apart from another on this shared machine can differ by half.
pub(crate) fn alternating<const N: usize>(rounds: usize, runs: [&mut dyn FnMut(); N]) -> [Measured; N] {
    let mut runs = runs;
    for run in runs.iter_mut() {
        for _ in 0..SAMPLES / 10 {
            run();
        }
    }
    let per_round = SAMPLES / rounds;
    let mut samples: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::with_capacity(SAMPLES));
    let mut round_p50s: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(rounds));
    for _ in 0..rounds {
        for (k, run) in runs.iter_mut().enumerate() {
            let round: Vec<Duration> = (0..per_round)
                .map(|_| {
                    let started = Instant::now();
                    run();
                    started.elapsed()
                })
                .collect();
            round_p50s[k].push(Latency::of(round.clone()).p50);
            samples[k].extend(round);
        }
    }
    std::array::from_fn(|k| Measured {
        all: Latency::of(std::mem::take(&mut samples[k])),
        round_p50s: std::mem::take(&mut round_p50s[k]),
    })
}

/// The middle value (the upper of the two middle ones for an even count).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
