//! `pchost plugin run`, run as a user would: every fixture in `examples/` prints exactly the
//! expected output checked in beside it, and failures exit non-zero with a clear message.

mod common;

use pchost_test_plugins as built;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// The authoring walk-throughs, one at a time. Each builds with a toolchain, compiles in its
/// own server and then times a rule against the 100 ms default deadline, in a guest thread
/// that runs at a lower priority than every other process: beside another walk-through's
/// compilers on this 2-core machine, a JavaScript rule's first quote (1.5 ms of CPU alone)
/// was once starved past its deadline.
fn one_walk_through_at_a_time() -> MutexGuard<'static, ()> {
    static WALK_THROUGH: Mutex<()> = Mutex::new(());
    WALK_THROUGH.lock().unwrap_or_else(|e| e.into_inner())
}

fn pchost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pchost"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("pchost runs")
}

/// `--world`, `--world-version` and `--grant` flags from the plugin's own manifest.
fn manifest_flags(plugin_dir: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(plugin_dir.join("plugin.toml")).expect("plugin.toml");
    let manifest = pchost_runtime::PluginManifest::from_toml(&manifest).expect("valid manifest");
    let mut flags = vec![
        "--world".to_owned(),
        manifest.world.to_string(),
        "--world-version".to_owned(),
        manifest.world_version.to_string(),
    ];
    for grant in manifest.grants {
        flags.push("--grant".into());
        flags.push(grant.to_string());
    }
    flags
}

#[test]
fn every_example_fixture_prints_its_expected_output() {
    let root = built::repo_root();
    let mut cases = 0;
    for plugin in std::fs::read_dir(root.join("examples")).expect("examples/").flatten() {
        if !plugin.path().is_dir() {
            continue;
        }
        let name = plugin.file_name().to_string_lossy().into_owned();
        let component = Path::new(built::WASM_DIR).join(format!("{}.wasm", name.replace('-', "_")));
        let flags = manifest_flags(&root.join("plugins").join(&name));
        for input in std::fs::read_dir(plugin.path()).expect("example dir").flatten() {
            let input = input.path();
            let Some(case) = input
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.strip_suffix(".input.json"))
            else {
                continue;
            };
            let expected_path = plugin.path().join(format!("{case}.expected.json"));
            let expected: Value =
                serde_json::from_str(&std::fs::read_to_string(&expected_path).expect("expected output"))
                    .expect("expected output is JSON");
            let mut args = vec!["plugin", "run", component.to_str().expect("utf-8 path"), "--input"];
            args.push(input.to_str().expect("utf-8 path"));
            args.extend(flags.iter().map(String::as_str));
            let out = pchost(&args);
            assert!(
                out.status.success(),
                "{name}/{case}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let printed: Value = serde_json::from_slice(&out.stdout).expect("plugin run prints JSON");
            assert_eq!(printed["output"], expected, "{name}/{case}");
            assert!(
                printed["fuel_used"].as_u64().is_some_and(|f| f > 0),
                "{name}/{case} reports fuel"
            );
            assert!(
                printed["wall_time_us"].as_u64().is_some(),
                "{name}/{case} reports wall time"
            );
            cases += 1;
        }
    }
    assert!(cases >= 5, "only {cases} example cases found");
}

#[test]
fn a_failing_plugin_exits_non_zero_with_the_failure() {
    let input = built::repo_root().join("examples/volume-discount/tiers.input.json");
    let mut quote: Value = serde_json::from_str(&std::fs::read_to_string(input).expect("fixture")).expect("json");
    quote["lines"][0]["quantity"] = 0.into();
    let looping = std::env::temp_dir().join(format!("pchost-cli-loop-{}.json", std::process::id()));
    std::fs::write(&looping, quote.to_string()).expect("write input");
    let out = pchost(&[
        "plugin",
        "run",
        built::HOSTILE_INFINITE_LOOP,
        "--world",
        "pricing-rule",
        "--input",
        looping.to_str().expect("utf-8"),
        "--deadline-ms",
        "50",
    ]);
    std::fs::remove_file(&looping).expect("clean up");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timed out at its deadline of 50 ms"), "{stderr}");
}

#[test]
fn random_bytes_are_refused_with_a_clear_error() {
    let junk = std::env::temp_dir().join(format!("pchost-cli-junk-{}.wasm", std::process::id()));
    std::fs::write(&junk, b"MZ\x90\0 not a component").expect("write junk");
    let input = built::repo_root().join("examples/refund-approval/approve-1000.input.json");
    let out = pchost(&[
        "plugin",
        "run",
        junk.to_str().expect("utf-8"),
        "--world",
        "approval-rule",
        "--input",
        input.to_str().expect("utf-8"),
    ]);
    std::fs::remove_file(&junk).expect("clean up");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a WebAssembly file"), "{stderr}");
}

#[test]
fn slot_memory_kept_resident_beyond_an_instances_largest_memory_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("pchost-resident-{}", std::process::id()));
    let db = dir.join("pchost.db");
    let output = pchost(&[
        "serve",
        "--slot-resident-kib",
        "262145",
        "--db",
        db.to_str().expect("path"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--slot-resident-kib must be at most 262144"),
        "{stderr}"
    );
}

#[test]
fn a_price_ceiling_below_list_price_is_refused_at_start_from_the_flag_or_the_environment() {
    let output = pchost(&["serve", "--price-ceiling-partner", "0.5"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--price-ceiling-partner")
            && stderr.contains("0.5 is below 1: a rule may always price at list"),
        "{stderr}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_pchost"))
        .arg("serve")
        .env("PCHOST_PRICE_CEILING_SELLER", "ten")
        .output()
        .expect("pchost runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--price-ceiling-seller") && stderr.contains("\"ten\" is not a decimal"),
        "{stderr}"
    );
}

#[test]
fn serve_without_demo_refuses_a_database_whose_public_demo_keys_still_work() {
    let dir = std::env::temp_dir().join(format!("pchost-demo-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("pchost.db");
    let db = db.to_str().expect("path");
    // Seeded once with --demo, then stopped.
    let seeded = common::serve(dir.clone(), &[]);
    // A key made with a public demo key is as public as it.
    let (status, made) = common::json_call(
        &seeded,
        "POST",
        "/v1/api-keys",
        "pch_demo_operator",
        serde_json::json!({ "name": "made on the demo", "operator": true }),
    );
    assert_eq!(status, 201, "{made}");
    let made = made["api_key"].as_str().expect("secret").to_owned();
    let dir = seeded.crash();
    let refused = pchost(&["serve", "--listen", "127.0.0.1:0", "--db", db]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("11 of its demo API keys, or keys made with them, still")
            && stderr.contains(&format!("pchost keys revoke-demo --db {db}")),
        "the refusal names the command: {stderr}"
    );
    let revoked = pchost(&["keys", "revoke-demo", "--db", db]);
    assert!(revoked.status.success());
    assert!(String::from_utf8_lossy(&revoked.stderr).contains("11 demo keys and keys made with them revoked"));
    // Now it serves, and the demo keys are refused.
    let server = common::serve_with(dir, &[]);
    for key in ["pch_demo_operator", made.as_str()] {
        let (status, body) = common::json_call(&server, "GET", "/v1/me", key, Value::Null);
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid-api-key")),
            "{body}"
        );
    }
}

#[test]
fn plugin_test_runs_every_fixture_and_shows_a_diff_for_each_failure() {
    let root = built::repo_root();
    let component = Path::new(built::WASM_DIR).join("refund_approval.wasm");
    let manifest = root.join("plugins/refund-approval/plugin.toml");
    let run = |fixtures: &Path| {
        pchost(&[
            "plugin",
            "test",
            "--manifest",
            manifest.to_str().expect("path"),
            "--component",
            component.to_str().expect("path"),
            "--fixtures",
            fixtures.to_str().expect("path"),
        ])
    };
    let passing = run(&root.join("examples/refund-approval"));
    let stdout = String::from_utf8_lossy(&passing.stdout);
    assert!(passing.status.success(), "{stdout}");
    assert!(stdout.contains("PASS escalate-60000 (fuel "), "{stdout}");
    assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");

    // One expected output changed: that case fails with a diff, the run exits non-zero.
    let dir = std::env::temp_dir().join(format!("pchost-fixtures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for entry in std::fs::read_dir(root.join("examples/refund-approval"))
        .expect("fixtures")
        .flatten()
    {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
    let expected = dir.join("escalate-60000.expected.json");
    let text = std::fs::read_to_string(&expected).expect("read");
    std::fs::write(&expected, text.replace("customer-manager", "partner-admin")).expect("write");
    let failing = run(&dir);
    let stdout = String::from_utf8_lossy(&failing.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!failing.status.success(), "{stdout}");
    assert!(stdout.contains("FAIL escalate-60000"), "{stdout}");
    assert!(
        stdout.contains("-   \"role\": \"partner-admin\"") && stdout.contains("+   \"role\": \"customer-manager\""),
        "the diff shows expected then actual: {stdout}"
    );
    assert!(stdout.contains("2 passed, 1 failed"), "{stdout}");
}

#[test]
fn plugin_check_names_an_ungranted_capability_and_passes_a_well_formed_plugin() {
    let root = built::repo_root();
    let component = Path::new(built::WASM_DIR).join("payment_on_behalf.wasm");
    let check = |manifest: &Path| {
        pchost(&[
            "plugin",
            "check",
            component.to_str().expect("path"),
            "--manifest",
            manifest.to_str().expect("path"),
        ])
    };
    let good = check(&root.join("plugins/payment-on-behalf/plugin.toml"));
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let report: Value = serde_json::from_slice(&good.stdout).expect("JSON report");
    assert_eq!(
        (
            report["ok"].as_bool(),
            report["world"].as_str(),
            report["grants"].clone()
        ),
        (Some(true), Some("approval-rule"), serde_json::json!(["order"]))
    );
    // The host's standard fixtures ran: each action reseller 2 can take, small and large (it
    // has no reseller to invite), over customer 101 and its orders, which the rule reads.
    let simulations = report["simulations"].as_array().expect("simulations");
    assert_eq!(simulations.len(), 10, "{report}");
    assert!(simulations.iter().all(|s| s["passed"] == true), "{report}");
    // The same component whose manifest grants nothing: refused, naming the import.
    let manifest = std::env::temp_dir().join(format!("pchost-check-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(root.join("plugins/payment-on-behalf/plugin.toml")).expect("manifest");
    std::fs::write(&manifest, text.replace("grants = [\"order\"]", "grants = []")).expect("write");
    let bad = check(&manifest);
    let _ = std::fs::remove_file(&manifest);
    assert!(!bad.status.success());
    let report: Value = serde_json::from_slice(&bad.stdout).expect("JSON report");
    assert_eq!(report["code"], "missing-grant");
    assert!(
        report["message"]
            .as_str()
            .is_some_and(|m| m.contains("partner-center:order/orders") && m.contains("`order` grant")),
        "{report}"
    );
}

#[test]
fn a_plugin_project_made_by_plugin_new_builds_outside_the_repository_and_passes_test_and_check() {
    let _turn = one_walk_through_at_a_time();
    let dir = std::env::temp_dir().join(format!("pchost-new-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    // Built where the test build puts the guests, to reuse their compiled dependencies.
    let target = Path::new(built::WASM_DIR)
        .parent()
        .and_then(Path::parent)
        .expect("<target>/plugins")
        .to_path_buf();
    for (name, world, owner) in [("my-refunds", "approval-rule", "2"), ("my-tiers", "pricing-rule", "10")] {
        let made = pchost(&[
            "plugin",
            "new",
            name,
            "--world",
            world,
            "--owner",
            owner,
            "--dir",
            dir.to_str().expect("path"),
        ]);
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let project = dir.join(name);
        // The README's first command.
        let build = Command::new(env!("CARGO"))
            .current_dir(&project)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("cargo runs");
        assert!(
            build.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&build.stderr)
        );
        let component = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let manifest = project.join("plugin.toml");
        let report = tested_and_checked(name, &project, &component);
        assert_eq!(report["plugin"], format!("{name}@0.1.0"));
        if name == "my-tiers" {
            uploaded_and_bound_it_prices_a_quote(name, &manifest, &component, &[]);
        } else {
            uploaded_and_bound_it_decides_a_refund(name, &manifest, &component, &[]);
        }
    }
    // An existing project is refused plainly.
    let again = pchost(&[
        "plugin",
        "new",
        "my-tiers",
        "--world",
        "pricing-rule",
        "--owner",
        "10",
        "--dir",
        dir.to_str().expect("path"),
    ]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plugin_test_answers_capability_reads_from_the_fixtures_own_data() {
    let root = built::repo_root();
    let dir = std::env::temp_dir().join(format!("pchost-fixture-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for entry in std::fs::read_dir(root.join("examples/payment-on-behalf"))
        .expect("fixtures")
        .flatten()
    {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
    // In this case's data, customer 101's largest paid order is 20,000.00: 70,000.00 is within
    // 5 times it, so the rule (which reads the orders) approves.
    let mut data = serde_json::to_value(pchost_store::demo::DemoData::new(chrono::Utc::now())).expect("JSON");
    for order in data["orders"].as_array_mut().expect("orders") {
        if order["customer"] == 101 && order["amount"] == "12000.00" {
            order["amount"] = serde_json::json!("20000.00");
        }
    }
    std::fs::write(dir.join("escalate-large.data.json"), data.to_string()).expect("data");
    std::fs::write(dir.join("escalate-large.expected.json"), r#"{"decision": "approve"}"#).expect("expected");
    let component = Path::new(built::WASM_DIR).join("payment_on_behalf.wasm");
    let manifest = root.join("plugins/payment-on-behalf/plugin.toml");
    let run = || {
        pchost(&[
            "plugin",
            "test",
            "--manifest",
            manifest.to_str().expect("path"),
            "--component",
            component.to_str().expect("path"),
            "--fixtures",
            dir.to_str().expect("path"),
        ])
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("PASS escalate-large") && stdout.contains("2 passed, 0 failed"),
        "{stdout}"
    );
    // A data set that is not one is refused, naming the file.
    std::fs::write(dir.join("data.json"), r#"{"customerz": []}"#).expect("data");
    let bad = run();
    let stderr = String::from_utf8_lossy(&bad.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!bad.status.success());
    assert!(stderr.contains("data.json is not a fixture data set"), "{stderr}");
}

/// A demo server of its own (started with `serve`'s extra flags) to which `key` has uploaded
/// the plugin `name`.
fn serving_it_uploaded(name: &str, key: &str, manifest: &Path, component: &Path, serve: &[&str]) -> common::Server {
    let dir = std::env::temp_dir().join(format!("pchost-new-server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let server = common::serve(dir, serve);
    let manifest = std::fs::read_to_string(manifest).expect("manifest");
    let component = std::fs::read(component).expect("component");
    let (status, body) = common::upload(&server, key, &manifest, &component);
    assert_eq!(status, 201, "{body}");
    server
}

/// The last steps of docs/authoring.md for the scaffolded pricing rule: seller 10 uploads it
/// to a running host, binds it with its own settings, and a quote of its product changes as
/// they say: 5 units reach tier 1 at 2 units, 50% off 88.50 a month.
fn uploaded_and_bound_it_prices_a_quote(name: &str, manifest: &Path, component: &Path, serve: &[&str]) {
    let seller = "pch_demo_seller_admin";
    let server = serving_it_uploaded(name, seller, manifest, component, serve);
    let bound = common::ok(
        201,
        common::json_call(
            &server,
            "POST",
            "/v1/bindings",
            seller,
            serde_json::json!({ "world": "pricing-rule", "plugin": name, "version": "0.1.0", "position": 10,
                "settings": { "tier-1-units": 2, "tier-1-percent": "50" } }),
        ),
    );
    assert_eq!(bound["scope"], "seller", "{bound}");
    let quote = common::ok(
        201,
        common::json_call(
            &server,
            "POST",
            "/v1/quotes",
            "pch_demo_customer_102",
            serde_json::json!({ "customer_id": 102, "currency": "CNY",
                "lines": [{ "product_id": 2001, "period": "month", "period_count": 1, "quantity": 5 }] }),
        ),
    );
    assert_eq!(quote["total"], "221.25", "{quote}");
    assert!(
        quote["lines"][0]["adjustments"]
            .as_array()
            .is_some_and(|a| a.iter().any(|adj| adj["plugin"]
                .as_str()
                .is_some_and(|p| p.starts_with(&format!("{name}@0.1.0"))))),
        "the scaffolded rule priced it: {quote}"
    );
}

/// The same for the scaffolded approval rule: reseller 2 binds it with a threshold of 1,000,
/// and a refund of 1,200.00 of demo order 9003 is held for a customer manager.
fn uploaded_and_bound_it_decides_a_refund(name: &str, manifest: &Path, component: &Path, serve: &[&str]) {
    let admin = "pch_demo_reseller_admin";
    let server = serving_it_uploaded(name, admin, manifest, component, serve);
    common::ok(
        201,
        common::json_call(
            &server,
            "POST",
            "/v1/bindings",
            admin,
            serde_json::json!({ "world": "approval-rule", "plugin": name, "version": "0.1.0", "position": 10,
                "settings": { "threshold": "1000" } }),
        ),
    );
    let (status, held) = common::request(
        &server,
        "POST",
        "/v1/orders/9003/refunds",
        Some(admin),
        "application/json",
        serde_json::json!({ "amount": "1200.00" }).to_string().as_bytes(),
        "Idempotency-Key: authoring-refund\r\n",
    );
    assert_eq!(status, 202, "{held}");
    assert_eq!(
        (held["task"]["role"].as_str(), held["task"]["plugin"].as_str()),
        (Some("customer-manager"), Some(format!("{name}@0.1.0").as_str())),
        "{held}"
    );
}

/// The README's `plugin test` (every fixture passes) and `plugin check` (ok) of a project made
/// by `plugin new`: the check's report.
fn tested_and_checked(name: &str, project: &Path, component: &Path) -> Value {
    let manifest = project.join("plugin.toml");
    let tested = pchost(&[
        "plugin",
        "test",
        "--manifest",
        manifest.to_str().expect("path"),
        "--component",
        component.to_str().expect("path"),
        "--fixtures",
        project.join("fixtures").to_str().expect("path"),
    ]);
    let stdout = String::from_utf8_lossy(&tested.stdout);
    assert!(
        tested.status.success() && stdout.contains(" passed, 0 failed"),
        "{name}: {stdout}{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    let checked = pchost(&[
        "plugin",
        "check",
        component.to_str().expect("path"),
        "--manifest",
        manifest.to_str().expect("path"),
    ]);
    let report: Value = serde_json::from_slice(&checked.stdout).expect("JSON report");
    assert_eq!(report["ok"], true, "{name}: {report}");
    report
}

/// docs/authoring.md for a JavaScript or Python rule, from an empty folder: `plugin new`, the
/// README's toolchain and build commands (the pinned toolchain into the project's own
/// folder), `plugin test`, `plugin check`, then upload, bind with settings and see the result.
fn walk_through_authoring(lang: &str, setup: &[&str]) {
    let _turn = one_walk_through_at_a_time();
    let dir = std::env::temp_dir().join(format!("pchost-new-{lang}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for (name, world, owner) in [
        (format!("my-tiers-{lang}"), "pricing-rule", "10"),
        (format!("my-refunds-{lang}"), "approval-rule", "2"),
    ] {
        let made = pchost(&[
            "plugin",
            "new",
            &name,
            "--world",
            world,
            "--lang",
            lang,
            "--owner",
            owner,
            "--dir",
            dir.to_str().expect("path"),
        ]);
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        let project = dir.join(&name);
        let readme = std::fs::read_to_string(project.join("README.md")).expect("README");
        let wit_world = format!("partner-center:extension/{world}@0.3.0");
        for command in setup {
            let shell = command.replace("{name}", &name).replace("{world}", &wit_world);
            assert!(readme.contains(&shell), "the README gives `{shell}`:\n{readme}");
            let run = Command::new("sh")
                .current_dir(&project)
                .args(["-c", &shell])
                .output()
                .unwrap_or_else(|e| panic!("{shell}: {e}"));
            assert!(
                run.status.success(),
                "{name}: `{shell}` failed: {}{}",
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            );
        }
        let component = project.join(format!("{name}.wasm"));
        let manifest = project.join("plugin.toml");
        let report = tested_and_checked(&name, &project, &component);
        assert_eq!(report["grants"], serde_json::json!([]), "{report}");
        assert!(
            report["unused_imports"]
                .as_array()
                .is_some_and(|u| u.iter().any(|i| i == "customer")),
            "{report}"
        );
        // With `customer` taken off its unused-imports, the same component imports a
        // capability it has no grant for: the check fails, naming it.
        let text = std::fs::read_to_string(&manifest).expect("manifest");
        assert!(text.contains("unused-imports = [\"customer\", "), "{text}");
        let strict = dir.join(format!("{name}-strict.toml"));
        std::fs::write(
            &strict,
            text.replace("unused-imports = [\"customer\", ", "unused-imports = ["),
        )
        .expect("manifest");
        let refused = pchost(&[
            "plugin",
            "check",
            component.to_str().expect("path"),
            "--manifest",
            strict.to_str().expect("path"),
        ]);
        let report: Value = serde_json::from_slice(&refused.stdout).expect("JSON report");
        assert!(!refused.status.success(), "{report}");
        assert_eq!(report["code"], "missing-grant", "{report}");
        assert!(
            report["message"].as_str().is_some_and(
                |m| m.contains("`partner-center:customer/customers@0.1.0`, which needs the `customer` grant")
            ),
            "{report}"
        );
        // A compilation of an interpreter takes 12-15 s of one core: on a test machine busy
        // with the rest of the suite, give it the room an idle server has.
        let serve = ["--compile-timeout-secs", "120"];
        if world == "pricing-rule" {
            uploaded_and_bound_it_prices_a_quote(&name, &manifest, &component, &serve);
        } else {
            uploaded_and_bound_it_decides_a_refund(&name, &manifest, &component, &serve);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_javascript_project_made_by_plugin_new_builds_passes_test_and_check_and_runs_on_the_host() {
    walk_through_authoring("js", &["npm install", "npm run build"]);
}

#[test]
fn a_python_project_made_by_plugin_new_builds_passes_test_and_check_and_runs_on_the_host() {
    walk_through_authoring(
        "python",
        &[
            "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt",
            ".venv/bin/componentize-py -d wit -w {world} componentize app -o {name}.wasm",
        ],
    );
}

#[test]
fn plugin_check_runs_the_worlds_standard_fixtures_and_fails_a_rule_that_breaks_an_invariant_on_one() {
    // A rule that prices fine at small quantities and answers a negative price past them.
    let manifest = std::env::temp_dir().join(format!("pchost-negative-{}.toml", std::process::id()));
    std::fs::write(
        &manifest,
        "name = \"negative-price\"\nversion = \"0.1.0\"\nworld = \"pricing-rule\"\nowner = 10\n",
    )
    .expect("manifest");
    let component = Path::new(built::WASM_DIR).join("hostile_negative_price.wasm");
    let out = pchost(&[
        "plugin",
        "check",
        component.to_str().expect("path"),
        "--manifest",
        manifest.to_str().expect("path"),
    ]);
    let _ = std::fs::remove_file(&manifest);
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["ok"], false);
    let failed: Vec<(&str, &str)> = report["simulations"]
        .as_array()
        .expect("simulations")
        .iter()
        .filter(|s| s["passed"] == false)
        .map(|s| (s["name"].as_str().unwrap_or(""), s["problem"].as_str().unwrap_or("")))
        .collect();
    assert!(
        failed
            .iter()
            .any(|(name, problem)| *name == "pricing: 100,000 units" && problem.contains("negative unit price")),
        "{report}"
    );
}

#[test]
fn plugin_test_gives_an_input_without_settings_the_manifests_defaults_as_production_does() {
    // refund-approval's manifest with its threshold's default lowered to 500: the fixture of
    // a 1,000.00 refund (no settings in it) now escalates, as the bound rule would.
    let root = built::repo_root();
    let manifest = std::env::temp_dir().join(format!("pchost-defaults-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(root.join("plugins/refund-approval/plugin.toml")).expect("manifest");
    assert!(text.contains("default = \"50000\""));
    std::fs::write(&manifest, text.replace("default = \"50000\"", "default = \"500\"")).expect("write");
    let component = Path::new(built::WASM_DIR).join("refund_approval.wasm");
    let out = pchost(&[
        "plugin",
        "test",
        "--manifest",
        manifest.to_str().expect("path"),
        "--component",
        component.to_str().expect("path"),
        "--fixtures",
        root.join("examples/refund-approval").to_str().expect("path"),
    ]);
    let _ = std::fs::remove_file(&manifest);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL approve-1000") && stdout.contains("+   \"decision\": \"escalate\""),
        "{stdout}"
    );
}
