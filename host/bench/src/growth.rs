//! Section 6: how an isolated invocation's cost grows with the quote's lines, fitted to a
//! straight line and plotted.

use crate::fixtures::{Bench, VOLUME, quote};
use crate::measure::{Results, measure};
use std::hint::black_box;

impl Bench {
    pub(crate) fn cost_growth(&self, results: &mut Results) -> anyhow::Result<()> {
        let mut points = Vec::new();
        for lines in [1, 10, 50, 100, 200, 400, 600, 800, 1000] {
            let q = quote(lines, 60);
            let latency = measure(|| {
                black_box(self.runtime.price(VOLUME, &q, self.data.clone()).ok());
            });
            results.latency("6 cost growth", &format!("isolated invocation, {lines} lines"), latency);
            points.push((lines, latency.p50));
        }
        // Least squares: time = a + b × lines; R² says how straight the line is.
        let n = points.len() as f64;
        let (sx, sy) = points
            .iter()
            .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + *x as f64, sy + y));
        let (mx, my) = (sx / n, sy / n);
        let sxy: f64 = points.iter().map(|(x, y)| (*x as f64 - mx) * (y - my)).sum();
        let sxx: f64 = points.iter().map(|(x, _)| (*x as f64 - mx).powi(2)).sum();
        let slope = sxy / sxx;
        let intercept = my - slope * mx;
        let ss_res: f64 = points
            .iter()
            .map(|(x, y)| (y - (intercept + slope * *x as f64)).powi(2))
            .sum();
        let ss_tot: f64 = points.iter().map(|(_, y)| (y - my).powi(2)).sum();
        results.figure("6 cost growth", "fixed cost (intercept)", intercept, "µs");
        results.figure("6 cost growth", "cost per line (slope)", slope * 1000.0, "ns");
        results.figure(
            "6 cost growth",
            "linearity (R² of the straight-line fit)",
            1.0 - ss_res / ss_tot,
            "",
        );
        results.growth = points;
        Ok(())
    }
}
