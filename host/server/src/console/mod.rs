//! The operator and partner console at `/console`: server-rendered pages over the API's own
//! handlers. Each page calls the handler functions of [`crate::api`] with the session's
//! caller, so it shows and does exactly what that key may over the API (roles, rule 16's
//! scopes, four eyes, limits, the administrative audit), and no more.
//!
//! - **Sessions.** The API key entered at sign-in is checked as an API request's would be, and
//!   the browser gets a random session token in an `HttpOnly`, `Secure`, `SameSite=Strict`
//!   cookie for the browser session: the key itself is never sent back nor kept by the
//!   browser. The database keeps the token's hash and the key it stands for
//!   ([`pchost_store::console_sessions`]), so every replica knows every session. Each request
//!   resolves the session to its key and checks the key as the API does: a revoked or expired
//!   key ends its sessions at once. A session ends when signed out of, and after 12 hours.
//! - **Forged requests.** Every form carries a token derived from the session's, which a page
//!   of another site can neither read nor have sent (SameSite); a `POST` whose `Origin` or
//!   `Sec-Fetch-Site` says another site is refused before anything is read.
//! - **No script.** Forms and links only, so every action works from the keyboard and with a
//!   screen reader; the charts are inline SVG drawn by the server, with the figures as a table
//!   beside them. The content security policy allows nothing but this server's stylesheet.
//!
//! docs/console.md shows the pages.

mod audit;
mod health;
mod page;
mod plugins;
mod tasks;

use crate::auth::{Caller, Principal};
use crate::error::AppError;
use crate::state::{AppState, MAX_UPLOAD_BYTES};
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use pchost_domain::errors::ErrorCode;
use sha2::{Digest, Sha256};

pub(crate) use page::{Nav, page};

/// The session cookie. `__Host-`: the browser keeps it only if it is `Secure`, for this host
/// alone and for every path.
const COOKIE: &str = "__Host-pchost-console";
/// How long a sign-in lasts, whatever the key's own expiry.
const SESSION_HOURS: i64 = 12;
/// What clears the cookie.
const CLEARED: &str = "__Host-pchost-console=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0";

/// The console's routes, under `/console`.
pub fn router() -> Router<AppState> {
    let uploads = Router::new()
        .route("/console/plugins", post(plugins::upload))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/plugins") }))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/console.css", get(stylesheet))
        .route("/console/plugins", get(plugins::list))
        .route(
            "/console/plugins/{owner}/{name}/{version}/delete",
            post(plugins::delete),
        )
        .route("/console/bindings", get(plugins::bindings).post(plugins::bind))
        .route("/console/bindings/new", get(plugins::new_binding))
        .route("/console/bindings/{id}", get(plugins::binding).post(plugins::change))
        .route("/console/bindings/{id}/rollback", post(plugins::rollback))
        .route("/console/bindings/{id}/delete", post(plugins::unbind))
        .route("/console/bindings/{id}/shadow-diffs", get(plugins::shadow_diffs))
        .route("/console/invocations", get(audit::list))
        .route("/console/invocations/{id}", get(audit::detail))
        .route("/console/invocations/{id}/replay", post(audit::replay))
        .route("/console/tasks", get(tasks::list))
        .route("/console/tasks/{id}/{decision}", post(tasks::decide))
        .route("/console/health", get(health::show))
        .merge(uploads)
        .layer(axum::middleware::map_response(secure_headers))
}

/// Headers on every console answer: nothing but this server's stylesheet loads, no page is
/// framed or cached (they hold tenants' data), and no address leaks to other sites.
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console.css"),
    )
        .into_response()
}

/// A signed-in browser: the caller its key resolves to, and the token its forms carry.
#[derive(Debug)]
pub(crate) struct Session {
    /// Who, exactly as over the API.
    pub caller: Caller,
    /// The forms' token.
    pub csrf: String,
    /// The hash of the session's token, as stored.
    token_hash: String,
}

/// Why the sign-in page is shown; fixed texts, so a link cannot put words on the page.
fn sign_in_reason(reason: &str) -> Option<&'static str> {
    match reason {
        "signed-out" => Some("You are signed out."),
        "expired" => Some("Your session ended (12 hours at most, or the key was revoked or expired): sign in again."),
        _ => None,
    }
}

/// To the sign-in page, dropping the browser's session cookie.
fn to_login(reason: &str) -> Response {
    let mut response = Redirect::to(&format!("/console/login?reason={reason}")).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEARED));
    response
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if parts.method != Method::GET && parts.method != Method::HEAD {
            same_origin(&parts.headers).map_err(|e| page::failure(None, e))?;
        }
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(Redirect::to("/console/login").into_response());
        };
        let (token_hash, now) = (crate::auth::hash_key(&token), Utc::now());
        let key = match state.store.console_session_key(&token_hash, now).await {
            Ok(Some(id)) => state.store.api_key(id).await,
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        }
        .map_err(|e| page::failure(None, e.into()))?;
        // Ended, expired, or its key revoked or expired since. Counted against the client's
        // address, as an unknown API key is: made-up cookies cost the database no more than
        // made-up keys.
        let Some(key) = key.filter(|k| k.usable_at(now)) else {
            let client = crate::state::client_addr(parts);
            if let Err(limited) = state.limiter.check(&format!("addr:{client}")) {
                return Err(page::failure(None, limited));
            }
            return Err(to_login("expired"));
        };
        let caller = Caller::of_key(state, key, now)
            .await
            .map_err(|e| page::failure(None, e))?;
        Ok(Session {
            caller,
            csrf: csrf_token(&token),
            token_hash,
        })
    }
}

/// The caller `key` resolves to, exactly as the API resolves an `Authorization` header
/// (revocation, expiry, rate limits per principal and per address). Customers use the API,
/// not the console.
async fn authenticate(parts: &mut Parts, state: &AppState, key: &str) -> Result<Caller, AppError> {
    let bearer = HeaderValue::from_str(&format!("Bearer {key}"))
        .map_err(|_| AppError::refused(ErrorCode::InvalidApiKey, "the API key is not valid (malformed)"))?;
    parts.headers.insert(header::AUTHORIZATION, bearer);
    let caller = Caller::from_request_parts(parts, state).await;
    parts.headers.remove(header::AUTHORIZATION);
    let caller = caller?;
    if matches!(caller.principal, Principal::Customer(_)) {
        return Err(AppError::refused(
            ErrorCode::RoleNotPermitted,
            "the console is for the platform operator and partner staff; customers use the API",
        ));
    }
    Ok(caller)
}

/// The session cookie's token, when it is one this server could have set (64 hex digits).
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

/// The forms' token of a session: derived from the session's token, which only this browser
/// holds.
fn csrf_token(token: &str) -> String {
    hex::encode(Sha256::digest(format!("pchost-console-csrf:{token}").as_bytes()))
}

/// Refuses a request another site's page sent: its `Sec-Fetch-Site` says so, or its `Origin`
/// is not this host. Behind a proxy that rewrites `Host`, the proxy's `X-Forwarded-Host`
/// names this host (a page of another site cannot set that header on a form's request).
fn same_origin(headers: &HeaderMap) -> Result<(), AppError> {
    let forged = || {
        AppError::refused(
            ErrorCode::CsrfRejected,
            "this form was sent from another site's page: refused",
        )
    };
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err(forged());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, authority)| authority);
        let this_host = [header::HOST.as_str(), "x-forwarded-host"]
            .into_iter()
            .filter_map(|name| headers.get(name).and_then(|h| h.to_str().ok()))
            .any(|host| Some(host) == origin_host);
        if !this_host {
            return Err(forged());
        }
    }
    Ok(())
}

/// A submitted form's fields, in order.
#[derive(Debug)]
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, when not empty.
    pub(crate) fn filled(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every field whose name starts with `prefix`, without it.
    pub(crate) fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .iter()
            .filter_map(move |(n, v)| n.strip_prefix(prefix).map(|n| (n, v.as_str())))
    }
}

/// An id in a console path (`/console/bindings/{id}`): a number, or the API's `invalid-field`
/// refusal as a page.
#[derive(Debug)]
pub(crate) struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let refused = || page::failure(None, AppError::field("path", "an id is a number"));
        let axum::extract::Path(id) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| refused())?;
        id.parse().map(PathId).map_err(|_| refused())
    }
}

/// A page's query string, as fields.
impl<S: Send + Sync> FromRequestParts<S> for Fields {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(fields)| Fields(fields))
            .map_err(|rejection| page::failure(None, AppError::field("query", rejection.body_text())))
    }
}

/// A form posted from a signed-in session's page: the session, and the fields once the
/// form's token is checked.
#[derive(Debug)]
pub(crate) struct Posted {
    /// Who posted.
    pub session: Session,
    /// The fields.
    pub fields: Fields,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(|rejection| {
                let error = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::payload_too_large(crate::state::MAX_BODY_BYTES)
                } else {
                    AppError::invalid_json(format!("not a form: {}", rejection.body_text()))
                };
                page::failure(Some(&session), error)
            })?;
        let fields = Fields(fields);
        session
            .check_token(fields.get("csrf"))
            .map_err(|e| page::failure(Some(&session), e))?;
        Ok(Posted { session, fields })
    }
}

impl Session {
    /// Refuses a form whose token is not this session's.
    pub(crate) fn check_token(&self, sent: Option<&str>) -> Result<(), AppError> {
        let sent = sent.unwrap_or_default().as_bytes();
        let expected = self.csrf.as_bytes();
        // Compared in constant time: the token guards every action.
        let same = sent.len() == expected.len() && sent.iter().zip(expected).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
        if same {
            Ok(())
        } else {
            Err(AppError::refused(
                ErrorCode::CsrfRejected,
                "the form's token is missing or not this session's: reload the page and try again",
            ))
        }
    }
}

#[derive(Debug, serde::Deserialize)]
struct LoginQuery {
    #[serde(default)]
    reason: String,
}

async fn login_page(axum::extract::Query(query): axum::extract::Query<LoginQuery>) -> Response {
    page::login(sign_in_reason(&query.reason), None, StatusCode::OK)
}

/// Signs in: the key is checked as any API request's would be, then a session is opened for it
/// and its token set in the cookie.
async fn login(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Err(e) = same_origin(&parts.headers) {
        return page::failure(None, e);
    }
    let request = Request::from_parts(parts.clone(), body);
    let Ok(axum::Form(fields)) = axum::Form::<Vec<(String, String)>>::from_request(request, &state).await else {
        return page::login(None, Some("Send the form: an API key."), StatusCode::BAD_REQUEST);
    };
    let key = Fields(fields).filled("key").unwrap_or_default().to_owned();
    let caller = match authenticate(&mut parts, &state, &key).await {
        Ok(caller) => caller,
        Err(e) if e.code() == ErrorCode::InvalidApiKey => {
            return page::login(
                None,
                Some("That key is not valid: unknown, revoked, expired or mistyped."),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(e) => return page::failure(None, e),
    };
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        return page::failure(None, AppError::Internal(anyhow::anyhow!("no OS randomness")));
    }
    let token = hex::encode(bytes);
    let now = Utc::now();
    let opened = state
        .store
        .open_console_session(
            &crate::auth::hash_key(&token),
            caller.key_id,
            now,
            now + chrono::Duration::hours(SESSION_HOURS),
        )
        .await;
    if let Err(e) = opened {
        return page::failure(None, e.into());
    }
    tracing::info!(principal = %caller.label(), key = caller.key_id, "console sign-in");
    let mut response = Redirect::to("/console/plugins").into_response();
    let cookie = format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict");
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Signs out: the session ends on every replica, and the browser drops its cookie (the key
/// itself stays valid until revoked).
async fn logout(State(state): State<AppState>, posted: Posted) -> Response {
    if let Err(e) = state
        .store
        .end_console_session(&posted.session.token_hash, Utc::now())
        .await
    {
        return page::failure(Some(&posted.session), e.into());
    }
    tracing::info!(principal = %posted.session.caller.label(), "console sign-out");
    to_login("signed-out")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_post_from_another_site_is_refused_and_one_from_this_host_passes() {
        for forged in [
            headers(&[("host", "console.example"), ("origin", "https://evil.example")]),
            headers(&[("host", "console.example"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "console.example"), ("sec-fetch-site", "same-site")]),
            headers(&[("origin", "https://console.example")]),
            headers(&[("host", "console.example"), ("origin", "null")]),
        ] {
            let refused = same_origin(&forged).expect_err("refused");
            assert_eq!(refused.code(), ErrorCode::CsrfRejected, "{forged:?}");
        }
        for sent in [
            headers(&[("host", "console.example"), ("origin", "https://console.example")]),
            headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin"),
            ]),
            headers(&[("host", "console.example")]),
            // Behind a proxy that rewrote Host.
            headers(&[
                ("host", "10.0.0.5:8080"),
                ("x-forwarded-host", "console.example"),
                ("origin", "https://console.example"),
            ]),
        ] {
            same_origin(&sent).expect("same origin");
        }
    }

    #[test]
    fn only_a_well_formed_session_cookie_is_read() {
        let found = |cookie: String| session_cookie(&headers(&[("cookie", Box::leak(cookie.into_boxed_str()))]));
        let token = "0123456789abcdef".repeat(4);
        assert_eq!(
            found(format!("a=1; __Host-pchost-console={token}; b=2")).as_deref(),
            Some(token.as_str())
        );
        assert_eq!(found(format!("pchost-console={token}")), None);
        assert_eq!(found(format!("__Host-pchost-console={token}0")), None);
        assert_eq!(found(format!("__Host-pchost-console={}", &token[1..])), None);
        assert_eq!(
            found(format!("__Host-pchost-console=pch_demo_operator{}", &token[17..])),
            None
        );
    }

    #[test]
    fn a_forms_token_is_its_sessions_alone() {
        let caller = Caller {
            key_id: 1,
            principal: Principal::Operator,
            scopes: vec!["*".into()],
            key_expires_at: None,
        };
        let session = Session {
            caller,
            csrf: csrf_token("a1"),
            token_hash: String::new(),
        };
        session.check_token(Some(&csrf_token("a1"))).expect("its own token");
        for sent in [None, Some(""), Some("00"), Some(csrf_token("b1").as_str())] {
            let refused = session.check_token(sent).expect_err("refused");
            assert_eq!(refused.code(), ErrorCode::CsrfRejected);
        }
    }
}
