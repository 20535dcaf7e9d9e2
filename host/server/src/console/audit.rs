//! The invocation audit: recorded invocations with the API's filters, one invocation in
//! full, and its replay (identical, or where the answers differ).

use super::page::{failure, json_block, time, token, urlencode};
use super::{Fields, Nav, PathId, Posted, Session, page};
use crate::api::audit::{self as api, InvocationQuery};
use crate::api::extract::{Params, Path};
use crate::error::AppError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use maud::html;
use pchost_extensions::metrics::failure_kind;
use pchost_runtime::{World, WorldVersion};
use pchost_store::audit::InvocationRecord;

type Page = Result<Response, Response>;

/// Invocations a page lists.
const PAGE: u32 = 50;

/// A `datetime-local` input's value (`2026-12-06T13:05`), read as UTC.
fn utc(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, AppError> {
    value
        .map(|v| {
            NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
                .map(|t| t.and_utc())
                .map_err(|_| AppError::field(field.to_owned(), "a date and time, as 2026-12-06T13:05 (UTC)"))
        })
        .transpose()
}

/// The WIT worlds a filter may name.
fn worlds() -> Vec<&'static str> {
    let versions = [WorldVersion::V0_1, WorldVersion::V0_2, WorldVersion::V0_3];
    [World::PricingRule, World::ApprovalRule]
        .into_iter()
        .flat_map(|w| versions.into_iter().filter_map(move |v| w.wit_name(v)))
        .collect()
}

/// `ok`, or the recorded failure's kind: what `/metrics` and the health page count it as.
fn outcome(record: &InvocationRecord) -> String {
    record.failure.as_deref().map_or_else(|| "ok".to_owned(), failure_kind)
}

pub(super) async fn list(State(state): State<AppState>, session: Session, query: Fields) -> Page {
    let fail = |e| failure(Some(&session), e);
    let text = |name: &str| query.filled(name).map(str::to_owned);
    let filters = (|| {
        Ok::<_, AppError>(InvocationQuery {
            owner: text("owner")
                .map(|o| o.parse().map_err(|_| AppError::field("owner", "a partner id")))
                .transpose()?,
            plugin: text("plugin"),
            digest: text("digest"),
            world: text("world"),
            failed: match query.filled("outcome") {
                Some("failed") => Some(true),
                Some("ok") => Some(false),
                _ => None,
            },
            purpose: text("purpose"),
            since: utc("since", query.filled("since"))?,
            until: utc("until", query.filled("until"))?,
            before: text("before")
                .map(|b| b.parse().map_err(|_| AppError::field("before", "an invocation id")))
                .transpose()?,
            limit: Some(PAGE),
        })
    })()
    .map_err(fail)?;
    let Json(records) = api::invocations(State(state), session.caller.clone(), Params(filters))
        .await
        .map_err(fail)?;
    let selected = |name: &str, value: &str| query.filled(name) == Some(value);
    // The next page keeps the filters.
    let older = records.last().filter(|_| records.len() == PAGE as usize).map(|last| {
        let mut pairs: Vec<(String, String)> = query
            .with_prefix("")
            .filter(|(n, v)| *n != "before" && !v.trim().is_empty())
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        pairs.push(("before".into(), last.id.to_string()));
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(n, v)| format!("{}={}", urlencode(n), urlencode(v)))
            .collect();
        format!("/console/invocations?{}", encoded.join("&"))
    });
    let body = html! {
        form.filters method="get" action="/console/invocations" aria-label="Filters" {
            div.field {
                label for="plugin" { "Plugin (name or name@version)" }
                input #plugin type="text" name="plugin" value=[query.filled("plugin")] maxlength="128";
            }
            @if session.caller.is_operator() {
                div.field {
                    label for="owner" { "Owner (partner id)" }
                    input #owner type="number" name="owner" min="1" value=[query.filled("owner")];
                }
            }
            div.field {
                label for="world" { "Extension point" }
                select #world name="world" {
                    option value="" { "any" }
                    @for w in worlds() { option value=(w) selected[selected("world", w)] { (w) } }
                }
            }
            div.field {
                label for="outcome" { "Outcome" }
                select #outcome name="outcome" {
                    option value="" { "any" }
                    option value="failed" selected[selected("outcome", "failed")] { "failed" }
                    option value="ok" selected[selected("outcome", "ok")] { "succeeded" }
                }
            }
            div.field {
                label for="purpose" { "Purpose" }
                select #purpose name="purpose" {
                    option value="" { "any" }
                    @for p in ["live", "shadow", "replay"] { option value=(p) selected[selected("purpose", p)] { (p) } }
                }
            }
            div.field {
                label for="since" { "As of, from (UTC)" }
                input #since type="datetime-local" name="since" value=[query.filled("since")];
            }
            div.field {
                label for="until" { "As of, until (UTC)" }
                input #until type="datetime-local" name="until" value=[query.filled("until")];
            }
            div.field {
                button type="submit" { "Filter" }
                a href="/console/invocations" { "Clear" }
            }
        }
        @if records.is_empty() {
            p { "No invocations match." }
        } @else {
            table {
                caption { "Recorded invocations, newest first" }
                thead { tr {
                    th scope="col" { "Id" } th scope="col" { "As of" } th scope="col" { "Plugin" } th scope="col" { "Owner" }
                    th scope="col" { "Extension point" } th scope="col" { "Purpose" } th scope="col" { "Outcome" }
                    th scope="col" { "Time" } th scope="col" { "Fuel" }
                } }
                tbody {
                    @for r in &records {
                        @let outcome = outcome(r);
                        tr {
                            td { a href=(format!("/console/invocations/{}", r.id)) { "#" (r.id) } }
                            td { (time(r.as_of)) }
                            td { (r.plugin) }
                            td { (r.owner) }
                            td { span.help { (r.world) } }
                            td { (r.purpose) }
                            td { @if outcome == "ok" { span.ok { "ok" } } @else { span.bad { (outcome) } } }
                            td.num { (duration(r.duration_us)) }
                            td.num { (r.fuel_used.map(|f| f.to_string()).unwrap_or_else(|| "not metered".into())) }
                        }
                    }
                }
            }
            @if let Some(href) = older { p { a href=(href) { "Older invocations" } } }
        }
    };
    Ok(page(&session, Nav::Audit, "Invocation audit", body))
}

fn duration(micros: i64) -> String {
    if micros >= 10_000 {
        format!("{:.1} ms", micros as f64 / 1000.0)
    } else {
        format!("{micros} µs")
    }
}

pub(super) async fn detail(State(state): State<AppState>, PathId(id): PathId, session: Session) -> Page {
    let fail = |e| failure(Some(&session), e);
    session.caller.need("audit", crate::auth::Access::Read).map_err(fail)?;
    let r = api::visible_invocation(&state, &session.caller, id)
        .await
        .map_err(fail)?;
    let outcome = outcome(&r);
    let body = html! {
        dl.facts {
            dt { "Plugin" } dd { (r.plugin) " of owner " (r.owner) }
            dt { "Component" } dd { code { (r.digest) } }
            dt { "Extension point" } dd { (r.world) }
            dt { "Purpose" } dd { (r.purpose) }
            dt { "As of" } dd { (time(r.as_of)) }
            dt { "Outcome" } dd { @if outcome == "ok" { span.ok { "ok" } } @else { span.bad { (outcome) } } }
            dt { "Time" } dd { (duration(r.duration_us)) }
            dt { "Fuel" } dd { (r.fuel_used.map(|f| f.to_string()).unwrap_or_else(|| "not metered".into())) }
            dt { "Capability calls" } dd { (r.capability_calls) " (" (r.denied_calls) " refused as out of scope)" }
            dt { "Input sha256" } dd { code { (r.input_hash) } }
        }
        form method="post" action=(format!("/console/invocations/{id}/replay")) {
            (token(&session))
            button type="submit" aria-describedby="replay-help" { "Replay" }
            span.help #replay-help { " Runs the same component again on the recorded input and as-of time, and compares the answers (the replay is audited too)." }
        }
        div.side-by-side {
            div { h2 { "Input" } (json_block(&r.input)) }
            div {
                @match (&r.output, &r.failure) {
                    (_, Some(failure)) => { h2 { "Failure" } (json_block(failure)) }
                    (Some(output), None) => { h2 { "Output" } (json_block(output)) }
                    (None, None) => { h2 { "Output" } p { "none recorded" } }
                }
            }
        }
        h2 { "Logs" }
        (json_block(&r.logs))
    };
    Ok(page(&session, Nav::Audit, &format!("Invocation #{id}"), body))
}

pub(super) async fn replay(State(state): State<AppState>, PathId(id): PathId, posted: Posted) -> Page {
    let session = &posted.session;
    let fail = |e| failure(Some(session), e);
    let Json(report) = api::replay(State(state), session.caller.clone(), Path(id))
        .await
        .map_err(fail)?;
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let body = html! {
        @if report.identical {
            p.notice.ok role="status" { strong { "Identical." } " " (report.plugin) " answered exactly as recorded." }
        } @else {
            div.error role="alert" { p { strong { "Different." } " " (report.plugin) " answered otherwise than recorded, at " (report.differences.len()) " place(s)." } }
            table.paths {
                caption { "Where the answers differ" }
                thead { tr { th scope="col" { "Path" } th scope="col" { "Recorded" } th scope="col" { "Replayed" } } }
                tbody {
                    @for d in &report.differences {
                        tr { td { code { (d.path) } } td.was { code { (d.recorded) } } td.now { code { (d.replayed) } } }
                    }
                }
            }
        }
        p {
            "Recorded invocation " a href=(format!("/console/invocations/{id}")) { "#" (id) }
            @if let Some(replay) = report.replay { "; this replay is " a href=(format!("/console/invocations/{replay}")) { "#" (replay) } }
            ". Component " code { (report.digest.get(..12).unwrap_or(&report.digest)) "…" } "."
        }
        div.side-by-side {
            div { h2 { "Recorded" } pre.json { code { (pretty(&report.recorded)) } } }
            div { h2 { "Replayed" } pre.json { code { (pretty(&report.replayed)) } } }
        }
    };
    Ok(page(session, Nav::Audit, &format!("Replay of invocation #{id}"), body))
}
