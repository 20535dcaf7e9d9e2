//! The console's page frame (navigation, who is signed in, sign-out), its error and sign-in
//! pages, and small shared pieces of markup.

use super::Session;
use crate::error::AppError;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

/// The console's sections, in the navigation's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nav {
    Plugins,
    Bindings,
    Audit,
    Tasks,
    Health,
    None,
}

const SECTIONS: &[(Nav, &str, &str)] = &[
    (Nav::Plugins, "/console/plugins", "Plugins"),
    (Nav::Bindings, "/console/bindings", "Bindings"),
    (Nav::Audit, "/console/invocations", "Invocation audit"),
    (Nav::Tasks, "/console/tasks", "Approval tasks"),
    (Nav::Health, "/console/health", "Health"),
];

/// A whole page: the frame around `body`, with status 200.
pub(crate) fn page(session: &Session, current: Nav, title: &str, body: Markup) -> Response {
    frame(Some(session), current, title, body, StatusCode::OK, None)
}

/// A whole page that the browser reloads every `every_secs` seconds, without a script.
pub(crate) fn reloading_page(session: &Session, current: Nav, title: &str, every_secs: u32, body: Markup) -> Response {
    frame(Some(session), current, title, body, StatusCode::OK, Some(every_secs))
}

fn frame(
    session: Option<&Session>,
    current: Nav,
    title: &str,
    body: Markup,
    status: StatusCode,
    reload_secs: Option<u32>,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(every) = reload_secs {
                    meta http-equiv="refresh" content=(every);
                }
                title { (title) " · pchost console" }
                link rel="stylesheet" href="/console/console.css";
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    span.brand { "pchost console" }
                    @if let Some(session) = session {
                        nav aria-label="Console sections" {
                            ul {
                                @for (nav, href, label) in SECTIONS {
                                    li {
                                        a href=(href) aria-current=[(*nav == current).then_some("page")] { (label) }
                                    }
                                }
                            }
                        }
                        div.who {
                            span { "Signed in as " strong { (who(session)) } }
                            form method="post" action="/console/logout" {
                                (token(session))
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// Who a session is, for people: role, partner and label.
fn who(session: &Session) -> String {
    let caller = &session.caller;
    match caller.partner() {
        Some(partner) => format!(
            "{} of {} {} “{}” ({})",
            caller.role(),
            partner.kind,
            partner.id,
            partner.name,
            caller.label()
        ),
        None => format!("{} ({})", caller.role(), caller.label()),
    }
}

/// The hidden field every form carries.
pub(crate) fn token(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A refusal or failure as a page, with the API's code and message (an internal error's
/// detail is logged, never shown), and the status the API would answer.
pub(crate) fn failure(session: Option<&Session>, error: AppError) -> Response {
    let (code, message) = (error.code(), error.to_string());
    let field = error.field_at_fault().map(str::to_owned);
    let api = error.into_response();
    let retry_after = api.headers().get(axum::http::header::RETRY_AFTER).cloned();
    let body = html! {
        div.error role="alert" {
            p { "Refused: " code { (code.as_str()) } }
            p { (message) }
            @if let Some(field) = field { p { "Field: " code { (field) } } }
        }
        p { "Nothing was changed by this request. The codes are listed in docs/errors.md." }
        p { "Use the browser's Back button to return to the form, or " a href="/console" { "go to the console" } "." }
    };
    let mut response = frame(session, Nav::None, "Refused", body, api.status(), None);
    if let Some(retry_after) = retry_after {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, retry_after);
    }
    response
}

/// The sign-in page, with why it is shown and what went wrong, if anything.
pub(crate) fn login(reason: Option<&str>, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        @if let Some(reason) = reason { p.notice role="status" { (reason) } }
        @if let Some(error) = error { div.error role="alert" { p { (error) } } }
        form.stack method="post" action="/console/login" {
            label for="key" { "API key" }
            input #key type="password" name="key" required autocomplete="off" spellcheck="false" maxlength="128"
                aria-describedby="key-help";
            p #key-help .help {
                "The key of the platform operator or of a partner's staff member (" code { "pch_…" } "). "
                "It is checked, then this browser gets a session (a random token in a secure, HTTP-only "
                "cookie, never the key) until the browser closes, 12 hours at most. Every request checks the "
                "key again: revoking it ends the session. Pages show what the key's role and scopes allow "
                "over the API, and nothing more."
            }
            button type="submit" { "Sign in" }
        }
    };
    frame(None, Nav::None, "Sign in", body, status, None)
}

/// Text for a query string: every byte but the unreserved ones percent-encoded.
pub(crate) fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A time, to the second, in UTC.
pub(crate) fn time(at: DateTime<Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M:%S UTC")) } }
}

/// JSON text, pretty-printed when it parses.
pub(crate) fn json_block(text: &str) -> Markup {
    let shown = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned());
    html! { pre.json { code { (shown) } } }
}

/// A notice after an action that succeeded, from a fixed list (a link cannot put words here).
pub(crate) fn done(what: Option<&str>) -> Markup {
    let text = match what.unwrap_or_default() {
        "uploaded" => "The version is installed.",
        "deleted" => "The version is deleted.",
        "bound" => "The binding is created; it runs from the next request.",
        "changed" => "The binding is changed; the change applies from the next request.",
        "rolled-back" => "The binding is rolled back to its previous version and settings.",
        "unbound" => "The binding is removed.",
        "approved" => "The task is approved and its action carried out (see its outcome).",
        "approved-failed" => "The task is approved, but its action was refused when carried out: see its outcome.",
        "rejected" => "The task is rejected: its action is refused.",
        _ => return html! {},
    };
    html! { p.notice role="status" { (text) } }
}
