//! The console (`/console`) against the real `pchost` binary: its sessions and forms attacked
//! over plain HTTP, then the whole journey in a real browser (tests/console/console.test.mjs,
//! Debian's chromium driven by playwright-core, installed by `scripts/console-browser`).

mod common;

use common::*;
use pchost_test_plugins as built;
use serde_json::{Value, json};
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// An HTML answer: status, headers (lower-case names) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// One request with the session cookie (if any) and extra header lines.
fn browse(server: &Server, method: &str, path: &str, cookie: Option<&str>, form: &str, extra: &str) -> Answer {
    let cookie = cookie
        .map(|c| format!("Cookie: __Host-pchost-console={c}\r\n"))
        .unwrap_or_default();
    let mut stream = send(
        &server.address,
        method,
        path,
        None,
        "application/x-www-form-urlencoded",
        form.as_bytes(),
        &format!("{cookie}{extra}"),
    )
    .expect("connect");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Signs in with `key`; the session cookie's value.
fn sign_in(server: &Server, key: &str) -> String {
    let answer = browse(server, "POST", "/console/login", None, &format!("key={key}"), "");
    assert_eq!(answer.status, 303, "{}", answer.body);
    let cookie = answer.header("set-cookie").expect("a session cookie");
    assert!(
        cookie.ends_with("; Path=/; Secure; HttpOnly; SameSite=Strict"),
        "{cookie}"
    );
    let value = cookie
        .strip_prefix("__Host-pchost-console=")
        .and_then(|c| c.split(';').next())
        .expect("the cookie's value");
    value.to_owned()
}

/// The forms' token on a page.
fn token_of(page: &Answer) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.body.find(marker).expect("a form token") + marker.len();
    page.body[start..start + 64].to_owned()
}

fn seller_binding(server: &Server) -> Value {
    let (status, bindings) = request(
        server,
        "GET",
        "/v1/bindings",
        Some("pch_demo_seller_admin"),
        "",
        b"",
        "",
    );
    assert_eq!(status, 200, "{bindings}");
    bindings
        .as_array()
        .expect("bindings")
        .iter()
        .find(|b| b["plugin_name"] == "volume-discount")
        .expect("the seller's volume discount binding")
        .clone()
}

fn served() -> Server {
    let dir = std::env::temp_dir().join(format!("pchost-console-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let plugins = built::repo_root().join("plugins");
    serve(
        dir,
        &[
            "--bundled-plugins",
            plugins.to_str().expect("UTF-8 path"),
            "--wasm-dir",
            built::WASM_DIR,
        ],
    )
}

fn rand_suffix() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn console_sessions_refuse_forged_forms_customers_unknown_cookies_and_revoked_keys() {
    let server = served();

    // Anonymous: every page asks for a key; a wrong key is refused with 401.
    let anonymous = browse(&server, "GET", "/console/plugins", None, "", "");
    assert_eq!(
        (anonymous.status, anonymous.header("location")),
        (303, Some("/console/login"))
    );
    let wrong = browse(&server, "POST", "/console/login", None, "key=pch_wrong", "");
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.body.contains("That key is not valid"), "{}", wrong.body);
    assert!(wrong.header("set-cookie").is_none());

    // Another site's page cannot sign the browser in with a key of its choosing.
    for extra in ["Origin: https://evil.example\r\n", "Sec-Fetch-Site: cross-site\r\n"] {
        let planted = browse(
            &server,
            "POST",
            "/console/login",
            None,
            "key=pch_demo_seller_admin",
            extra,
        );
        assert_eq!(planted.status, 403, "{extra}: {}", planted.body);
        assert!(planted.body.contains("csrf-rejected"), "{}", planted.body);
        assert!(planted.header("set-cookie").is_none(), "{:?}", planted.headers);
    }

    // The seller signs in: its pages show its plugins only, under a strict content policy.
    let seller = sign_in(&server, "pch_demo_seller_admin");
    let page = browse(&server, "GET", "/console/plugins", Some(&seller), "", "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("volume-discount@0.2.0"), "{}", page.body);
    assert!(!page.body.contains("refund-approval"), "{}", page.body);
    assert!(
        page.header("content-security-policy")
            .is_some_and(|p| p.starts_with("default-src 'none'")),
        "{:?}",
        page.headers
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let token = token_of(&page);

    // Forged: a form without the session's token, or from another site's page, changes
    // nothing (csrf-rejected, 403).
    let binding = seller_binding(&server);
    let id = binding["id"].as_i64().expect("id");
    let path = format!("/console/bindings/{id}");
    for (form, extra) in [
        ("action=disable".to_owned(), String::new()),
        (format!("csrf={}&action=disable", "0".repeat(64)), String::new()),
        (
            format!("csrf={token}&action=disable"),
            "Origin: https://evil.example\r\n".to_owned(),
        ),
        (
            format!("csrf={token}&action=disable"),
            "Sec-Fetch-Site: cross-site\r\n".to_owned(),
        ),
    ] {
        let forged = browse(&server, "POST", &path, Some(&seller), &form, &extra);
        assert_eq!(forged.status, 403, "{form} {extra}: {}", forged.body);
        assert!(forged.body.contains("csrf-rejected"), "{}", forged.body);
        assert_eq!(seller_binding(&server)["enabled"], true, "{form} {extra}");
    }
    // The same form from the session's own page works, and the API sees the change.
    let origin = format!("Origin: http://{}\r\n", server.address);
    let done = browse(
        &server,
        "POST",
        &path,
        Some(&seller),
        &format!("csrf={token}&action=disable"),
        &origin,
    );
    assert_eq!(
        (done.status, done.header("location")),
        (303, Some(format!("{path}?done=changed").as_str())),
        "{}",
        done.body
    );
    assert_eq!(seller_binding(&server)["enabled"], false);
    // Another tenant's session may not change it: the API's refusal, as a page.
    let reseller = sign_in(&server, "pch_demo_reseller_admin");
    let theirs = browse(&server, "GET", "/console/plugins", Some(&reseller), "", "");
    let refused = browse(
        &server,
        "POST",
        &path,
        Some(&reseller),
        &format!("csrf={}&action=enable", token_of(&theirs)),
        &origin,
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("not-owner"), "{}", refused.body);
    assert_eq!(seller_binding(&server)["enabled"], false);
    // A token is its session's own: the seller's token in the reseller's session is refused.
    let swapped = browse(
        &server,
        "POST",
        &path,
        Some(&reseller),
        &format!("csrf={token}&action=enable"),
        &origin,
    );
    assert_eq!(swapped.status, 403);
    assert!(swapped.body.contains("csrf-rejected"), "{}", swapped.body);

    // Customers use the API, not the console.
    let customer = browse(&server, "POST", "/console/login", None, "key=pch_demo_customer_102", "");
    assert_eq!(customer.status, 403, "{}", customer.body);
    assert!(customer.body.contains("role-not-permitted"), "{}", customer.body);

    // A cookie is a session's random token, never a key: a key, or a token no session has,
    // is sent to sign in.
    for cookie in ["pch_demo_seller_admin".to_owned(), "ab".repeat(32)] {
        let refused = browse(&server, "GET", "/console/plugins", Some(&cookie), "", "");
        assert_eq!(refused.status, 303, "{cookie}");
        assert!(
            refused
                .header("location")
                .is_some_and(|l| l.starts_with("/console/login")),
            "{:?}",
            refused.headers
        );
    }
    assert!(!seller.contains("pch_"), "the cookie holds no key: {seller}");

    // A revoked key ends its sessions at once.
    let (status, created) = request(
        &server,
        "POST",
        "/v1/api-keys",
        Some("pch_demo_seller_admin"),
        "application/json",
        json!({ "name": "console", "staff_id": 505 }).to_string().as_bytes(),
        "",
    );
    assert_eq!(status, 201, "{created}");
    let session = sign_in(&server, created["api_key"].as_str().expect("key"));
    assert_eq!(
        browse(&server, "GET", "/console/bindings", Some(&session), "", "").status,
        200
    );
    let (status, _) = request(
        &server,
        "DELETE",
        &format!("/v1/api-keys/{}", created["key"]["id"]),
        Some("pch_demo_seller_admin"),
        "",
        b"",
        "",
    );
    assert_eq!(status, 204);
    let after = browse(&server, "GET", "/console/bindings", Some(&session), "", "");
    assert_eq!(
        (after.status, after.header("location")),
        (303, Some("/console/login?reason=expired"))
    );
    assert!(
        after.header("set-cookie").is_some_and(|c| c.contains("Max-Age=0")),
        "the ended session's cookie is dropped: {:?}",
        after.headers
    );

    // Signing out ends the session on the server, not only in the browser.
    let out = browse(
        &server,
        "POST",
        "/console/logout",
        Some(&seller),
        &format!("csrf={token}"),
        "",
    );
    assert_eq!(out.status, 303);
    assert!(
        out.header("set-cookie")
            .is_some_and(|c| c.starts_with("__Host-pchost-console=;") && c.contains("Max-Age=0")),
        "{:?}",
        out.headers
    );
    let replayed = browse(&server, "GET", "/console/plugins", Some(&seller), "", "");
    assert_eq!(
        (replayed.status, replayed.header("location")),
        (303, Some("/console/login?reason=expired"))
    );
}

#[test]
fn console_pages_answer_bad_input_with_the_apis_codes() {
    let server = served();
    let operator = sign_in(&server, "pch_demo_operator");
    for (path, code) in [
        ("/console/bindings/abc", "invalid-field"),
        ("/console/invocations/999999", "invocation-not-found"),
        ("/console/invocations?since=yesterday", "invalid-field"),
        ("/console/invocations?purpose=everything", "invalid-field"),
        ("/console/plugins?owner=x", "invalid-field"),
        ("/console/tasks?status=maybe", "invalid-field"),
        (
            "/console/bindings/new?owner=10&plugin=nothing&version=1.0.0",
            "plugin version 10/nothing@1.0.0 not found",
        ),
    ] {
        let answer = browse(&server, "GET", path, Some(&operator), "", "");
        assert!((400..500).contains(&answer.status), "{path}: {}", answer.status);
        assert!(answer.body.contains(code), "{path}: {}", answer.body);
    }
    // Text a user or tenant sends comes back escaped, never as markup.
    let echoed = browse(
        &server,
        "GET",
        "/console/invocations?plugin=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%3E",
        Some(&operator),
        "",
        "",
    );
    assert_eq!(echoed.status, 200, "{}", echoed.body);
    assert!(
        echoed
            .body
            .contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;\""),
        "{}",
        echoed.body
    );
    assert!(!echoed.body.contains("<script>"), "{}", echoed.body);
    // A salesperson reads the audit of no plugin (partner admins and the operator do).
    let salesperson = sign_in(&server, "pch_demo_reseller_salesperson");
    let audit = browse(&server, "GET", "/console/invocations", Some(&salesperson), "", "");
    assert_eq!(audit.status, 403, "{}", audit.body);
    assert!(audit.body.contains("role-not-permitted"), "{}", audit.body);
    // Nor the health figures drawn from those invocations, reloading or not.
    let health = browse(&server, "GET", "/console/health", Some(&salesperson), "", "");
    assert_eq!(health.status, 403, "{}", health.body);
    let health = browse(&server, "GET", "/console/health?reload=10", Some(&salesperson), "", "");
    assert_eq!(health.status, 403, "{}", health.body);
    // The health page reloads itself only when asked, at one of three periods, without a script.
    let reload = r#"<meta http-equiv="refresh" content="30">"#;
    let health = browse(&server, "GET", "/console/health", Some(&operator), "", "");
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(!health.body.contains("http-equiv"), "{}", health.body);
    let health = browse(&server, "GET", "/console/health?reload=30", Some(&operator), "", "");
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(health.body.contains(reload), "{}", health.body);
    for asked in ["1", "0", "-30", "30.5", "3600", "soon"] {
        let refused = browse(
            &server,
            "GET",
            &format!("/console/health?reload={asked}"),
            Some(&operator),
            "",
            "",
        );
        assert_eq!(refused.status, 400, "reload={asked}: {}", refused.body);
        assert!(refused.body.contains("invalid-field"), "{}", refused.body);
        assert!(
            !refused.body.contains("http-equiv"),
            "a refusal does not reload: {}",
            refused.body
        );
    }
    // A bind form is refused as the API refuses it, before any setting is read: a salesperson
    // binds nothing, and an admin naming another tenant's version learns nothing of it (its
    // settings included).
    let probe = |session: &str, key_name: &str| {
        let token = token_of(&browse(&server, "GET", "/console/bindings", Some(session), "", ""));
        let answer = browse(
            &server,
            "POST",
            "/console/bindings",
            Some(session),
            &format!(
                "csrf={token}&world=pricing-rule&owner=10&plugin=volume-discount&version=0.2.0&setting.tier-1-units=abc"
            ),
            "",
        );
        assert_eq!(answer.status, 403, "{key_name}: {}", answer.body);
        assert!(!answer.body.contains("tier-1-units"), "{key_name}: {}", answer.body);
        answer.body
    };
    assert!(probe(&salesperson, "salesperson").contains("role-not-permitted"));
    let reseller = sign_in(&server, "pch_demo_reseller_admin");
    assert!(probe(&reseller, "reseller admin").contains("out-of-scope"));
}

/// The browser journey: skipped, saying so, when `scripts/console-browser` has not set up the
/// browser (`scripts/test` and `.ci/run` always do).
#[test]
fn the_console_journey_in_a_real_browser() {
    use std::io::Write;
    let Ok(chromium) = std::env::var("PCHOST_CONSOLE_CHROMIUM") else {
        let _ = writeln!(
            std::io::stderr(),
            "console: SKIPPED the_console_journey_in_a_real_browser: PCHOST_CONSOLE_CHROMIUM is not set (scripts/test sets it up)"
        );
        return;
    };
    let root = built::repo_root();
    let script = root.join("tests/console/console.test.mjs");
    assert!(
        root.join("tests/console/node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in tests/console: run scripts/console-browser"
    );
    let server = served();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("screenshots dir");
    // The seller's plugin: the bundled volume discount's component under a name of its own.
    let manifest = std::fs::read_to_string(root.join("plugins/volume-discount/plugin.toml"))
        .expect("the volume discount manifest")
        .replace("name = \"volume-discount\"", "name = \"seller-tiers\"")
        .replace("version = \"0.2.0\"", "version = \"1.0.0\"");
    let manifest_path = shots.join("seller-tiers.template.toml");
    std::fs::write(&manifest_path, manifest).expect("write the manifest");
    let output = Command::new("node")
        .arg(&script)
        .current_dir(root.join("tests/console"))
        .env("PCHOST_URL", format!("http://{}", server.address))
        .env("PCHOST_CHROMIUM", chromium)
        .env("PCHOST_SHOTS", &shots)
        .env(
            "PCHOST_PLUGIN_COMPONENT",
            Path::new(built::WASM_DIR).join("volume_discount.wasm"),
        )
        .env(
            "PCHOST_PLUGIN_SHADOW_COMPONENT",
            Path::new(built::WASM_DIR).join("renewal_discount.wasm"),
        )
        .env("PCHOST_PLUGIN_MANIFEST", &manifest_path)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "the browser journey failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("console: every check passed"), "{stdout}");
    let kept = std::fs::read_dir(&shots)
        .expect("screenshots")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    assert!(kept >= 15, "{kept} screenshots in {}", shots.display());
    // Past the test harness's capture, so that the log of every run says where they are.
    let _ = writeln!(
        std::io::stderr(),
        "console: {kept} screenshots of the journey kept in {}",
        shots.display()
    );
}
