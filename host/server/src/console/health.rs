//! Health at a glance: the last hour of plugin invocations (per minute, failures by kind,
//! p50 and p99 per plugin) from this replica's invocation metrics, drawn as inline SVG with
//! the same figures in tables. The operator sees every plugin, a partner's admins their own
//! (whoever may read the invocation audit).

use super::page::{failure, reloading_page};
use super::{Fields, Nav, Session, page};
use crate::auth::Access;
use crate::error::AppError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use chrono::{TimeZone, Utc};
use maud::{Markup, html};
use pchost_extensions::metrics::{Hour, PluginHour};

type Page = Result<Response, Response>;

/// How often the page may reload itself, in seconds (`?reload=`): often enough to watch an
/// incident unfold, never so often that a tab left open weighs on the host. It is opt-in, and
/// it ends with the session (which reloading does not prolong).
const RELOAD_CHOICES: [u32; 3] = [10, 30, 60];

pub(super) async fn show(State(state): State<AppState>, session: Session, query: Fields) -> Page {
    // The figures are of invocations: who may read the invocation audit may see them.
    let caller = &session.caller;
    caller
        .need("audit", Access::Read)
        .and_then(|()| match caller.is_operator() {
            true => Ok(()),
            false => caller.partner_admin().map(|_| ()),
        })
        .map_err(|e| failure(Some(&session), e))?;
    let reload = reload_of(&query).map_err(|e| failure(Some(&session), e))?;
    let owner = session.caller.partner().map(|p| p.id.to_string());
    let now = Utc::now();
    let hour = state.host.metrics.last_hour(now, owner.as_deref());
    let total: u64 = hour.minutes.iter().map(|m| m.1 + m.2).sum();
    let failed: u64 = hour.minutes.iter().map(|m| m.2).sum();
    let not_loaded = if session.caller.is_operator() {
        crate::metrics::not_loaded(&state)
    } else {
        Vec::new()
    };
    let body = html! {
        p.help {
            "The last hour on this replica"
            @if owner.is_some() { ", your plugins only" }
            " (every replica keeps its own; the operator's Prometheus adds them up from "
            code { "/metrics" } "). Figures as of " (now.format("%H:%M:%S UTC")) "."
        }
        nav.reload aria-label="Reload" {
            "Reload this page: "
            @for every in RELOAD_CHOICES {
                a href=(format!("/console/health?reload={every}")) aria-current=[(reload == Some(every)).then_some("true")] {
                    "every " (every) " s"
                }
                " · "
            }
            a href="/console/health" aria-current=[reload.is_none().then_some("true")] { "never" }
        }
        ul.tiles {
            li { span.figure { (total) } " invocations" }
            li { span.figure { (failed) } " failed" }
            li { span.figure { (hour.plugins.len()) } " plugin versions ran" }
            @if session.caller.is_operator() {
                li { span.figure { (not_loaded.len()) } " bound versions not loaded" }
            }
        }
        @if !not_loaded.is_empty() {
            div.error role="alert" { p { "Bound but not loaded on this replica: " (not_loaded.join(", ")) ". The log says why; it is retried." } }
        }
        section aria-labelledby="per-minute" {
            h2 #per-minute { "Invocations per minute" }
            (per_minute(&hour))
        }
        section aria-labelledby="by-kind" {
            h2 #by-kind { "Failures by kind" }
            @if hour.failures.is_empty() { p { "No failures in the last hour." } } @else { (by_kind(&hour)) }
        }
        section aria-labelledby="latency" {
            h2 #latency { "Duration per plugin: p50 and p99" }
            @if hour.plugins.is_empty() { p { "No invocations in the last hour." } } @else { (latency(&hour.plugins)) }
        }
    };
    Ok(match reload {
        Some(every) => reloading_page(&session, Nav::Health, "Health", every, body),
        None => page(&session, Nav::Health, "Health", body),
    })
}

/// The `reload` period asked for, if any: one of [`RELOAD_CHOICES`].
fn reload_of(query: &Fields) -> Result<Option<u32>, AppError> {
    let Some(asked) = query.filled("reload") else {
        return Ok(None);
    };
    asked
        .parse()
        .ok()
        .filter(|every| RELOAD_CHOICES.contains(every))
        .map(Some)
        .ok_or_else(|| AppError::field("reload", "10, 30 or 60 (seconds), or none"))
}

const WIDTH: f64 = 720.0;

/// Stacked bars, one per minute: succeeded below, failed above.
fn per_minute(hour: &Hour) -> Markup {
    let height = 160.0;
    let top = hour.minutes.iter().map(|m| m.1 + m.2).max().unwrap_or(0).max(1);
    let bar = WIDTH / hour.minutes.len().max(1) as f64;
    let scale = |n: u64| n as f64 / top as f64 * (height - 20.0);
    let label = |at: i64| {
        Utc.timestamp_opt(at * 60, 0)
            .single()
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_default()
    };
    let busiest: Vec<&(i64, u64, u64)> = hour.minutes.iter().filter(|m| m.1 + m.2 > 0).collect();
    html! {
        figure {
            svg.chart viewBox=(format!("0 0 {WIDTH} {}", height + 20.0)) role="img" aria-labelledby="per-minute-title per-minute-desc" {
                title #per-minute-title { "Invocations per minute, last hour" }
                desc #per-minute-desc { "Bars per minute: succeeded in green, failed in red above them; the tallest bar is " (top) "." }
                line x1="0" y1=(height) x2=(WIDTH) y2=(height) stroke="#888" {}
                @for (i, (at, ok, failed)) in hour.minutes.iter().enumerate() {
                    @let x = i as f64 * bar + 1.0;
                    @let ok_h = scale(*ok);
                    @let failed_h = scale(*failed);
                    rect.ok x=(x) y=(height - ok_h) width=(bar - 2.0) height=(ok_h) {
                        title { (label(*at)) ": " (ok) " succeeded, " (failed) " failed" }
                    }
                    rect.bad x=(x) y=(height - ok_h - failed_h) width=(bar - 2.0) height=(failed_h) {}
                }
                text x="0" y="12" { (top) " per minute" }
                @if let (Some(first), Some(last)) = (hour.minutes.first(), hour.minutes.last()) {
                    text x="0" y=(height + 16.0) { (label(first.0)) }
                    text x=(WIDTH) y=(height + 16.0) text-anchor="end" { (label(last.0)) " UTC" }
                }
            }
            figcaption { "Succeeded (green) and failed (red) invocations in each minute of the last hour." }
        }
        @if !busiest.is_empty() {
            details {
                summary { "The figures" }
                table {
                    caption { "Minutes with invocations" }
                    thead { tr { th scope="col" { "Minute (UTC)" } th scope="col" { "Succeeded" } th scope="col" { "Failed" } } }
                    tbody { @for (at, ok, failed) in busiest { tr { td { (label(*at)) } td.num { (ok) } td.num { (failed) } } } }
                }
            }
        }
    }
}

/// Horizontal bars, one per failure kind.
fn by_kind(hour: &Hour) -> Markup {
    let top = hour.failures.values().copied().max().unwrap_or(1).max(1);
    let row = 26.0;
    let height = row * hour.failures.len() as f64;
    html! {
        figure {
            svg.chart viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-labelledby="by-kind-title" {
                title #by-kind-title { "Failures by kind, last hour" }
                @for (i, (kind, n)) in hour.failures.iter().enumerate() {
                    @let y = i as f64 * row;
                    text x="0" y=(y + 17.0) { (kind) }
                    rect.bad x="180" y=(y + 4.0) width=(*n as f64 / top as f64 * (WIDTH - 260.0)) height=(row - 8.0) {}
                    text x=(184.0 + *n as f64 / top as f64 * (WIDTH - 260.0)) y=(y + 17.0) { (n) }
                }
            }
        }
        table {
            caption { "Failures by kind (docs/errors.md)" }
            thead { tr { th scope="col" { "Kind" } th scope="col" { "Failures" } } }
            tbody { @for (kind, n) in &hour.failures { tr { td { code { (kind) } } td.num { (n) } } } }
        }
    }
}

fn ms(seconds: f64) -> String {
    let ms = seconds * 1000.0;
    if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// Paired bars per plugin, on one scale: p50 light, p99 dark.
fn latency(plugins: &[PluginHour]) -> Markup {
    let top = plugins.iter().map(|p| p.p99_seconds).fold(0.0_f64, f64::max).max(1e-6);
    let row = 40.0;
    let height = row * plugins.len() as f64;
    let span = WIDTH - 330.0;
    html! {
        figure {
            svg.chart viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-labelledby="latency-title" {
                title #latency-title { "p50 and p99 duration per plugin, last hour" }
                @for (i, p) in plugins.iter().enumerate() {
                    @let y = i as f64 * row;
                    text x="0" y=(y + 22.0) { (p.owner) "/" (p.plugin) }
                    rect.p50 x="250" y=(y + 4.0) width=(p.p50_seconds / top * span) height="14" {}
                    text x=(254.0 + p.p50_seconds / top * span) y=(y + 16.0) { "p50 " (ms(p.p50_seconds)) }
                    rect.p99 x="250" y=(y + 20.0) width=(p.p99_seconds / top * span) height="14" {}
                    text x=(254.0 + p.p99_seconds / top * span) y=(y + 32.0) { "p99 " (ms(p.p99_seconds)) }
                }
            }
            figcaption { "Estimated within the histogram's buckets, as Prometheus' histogram_quantile does; admission included." }
        }
        table {
            caption { "Per plugin, last hour" }
            thead { tr {
                th scope="col" { "Owner" } th scope="col" { "Plugin" } th scope="col" { "Invocations" }
                th scope="col" { "Failed" } th scope="col" { "p50" } th scope="col" { "p99" }
            } }
            tbody {
                @for p in plugins {
                    tr {
                        td { (p.owner) } td { (p.plugin) } td.num { (p.invocations) } td.num { (p.failed) }
                        td.num { (ms(p.p50_seconds)) } td.num { (ms(p.p99_seconds)) }
                    }
                }
            }
        }
    }
}
