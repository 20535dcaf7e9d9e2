//! Plugins written in JavaScript (componentize-js) and Python (componentize-py): installed
//! under the host's default limits (but the deadline, see `runtime`), they give the same
//! answers as their Rust twins; the imports they never call need no grant, and a call to one
//! fails the invocation.
//!
//! `scripts/build-polyglot` builds them (`scripts/test` runs it and sets
//! `PCHOST_POLYGLOT_DIR`); without that variable these tests say so and pass nothing.

use crate::example_plugins::request;
use crate::support::*;
use pchost_domain::{ApprovalKind, FreezeState};
use pchost_runtime::{
    Capability, FailureKind, InstallError, InvokeError, PluginManifest, PluginRuntime, RuntimeConfig,
};
use pchost_store::demo;
use pchost_test_plugins as built;
use std::path::PathBuf;
use std::time::Duration;

/// The folder of the built components, or `None` (with a note) when they were not built.
fn polyglot_dir() -> Option<PathBuf> {
    match std::env::var_os("PCHOST_POLYGLOT_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!(
                "SKIPPED: PCHOST_POLYGLOT_DIR is not set (scripts/test builds the JS and Python plugins and sets it)"
            );
            None
        }
    }
}

/// A runtime with the default limits, but for the deadline (the ceiling a manifest may ask
/// for) and the compile time (an interpreter takes 12-15 s of one core to compile, and these
/// tests compile beside each other). These tests check answers, not speed. A JavaScript or Python invocation takes 1.5-2.5
/// ms in release (BENCHMARKS.md, section 8), but guest code runs at a lower OS priority than
/// everything else (`host/runtime/src/cpu.rs`): on a two-core machine running the rest of the
/// suite beside it (two replicas, PostgreSQL), one once passed the default 100 ms. The
/// time these rules take is measured by the benchmark, side by side with Rust's.
fn runtime() -> PluginRuntime {
    let mut config = RuntimeConfig::default();
    config.limits.default_invocation.deadline = config.limits.max_deadline;
    config.compile.ceiling = Duration::from_secs(120);
    config.compile.max_wait = Duration::from_secs(120);
    PluginRuntime::new(config).expect("runtime")
}

fn component(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(format!("{name}.wasm"))).unwrap_or_else(|e| panic!("{name}.wasm: {e}"))
}

/// The manifest in `plugins/<path>/plugin.toml`.
fn bundled_manifest(path: &str) -> PluginManifest {
    let file = built::repo_root().join("plugins").join(path).join("plugin.toml");
    PluginManifest::from_toml(&std::fs::read_to_string(&file).expect("manifest")).expect("valid manifest")
}

#[test]
fn volume_discounts_in_javascript_and_python_price_exactly_as_the_rust_one() {
    let Some(dir) = polyglot_dir() else { return };
    let runtime = runtime();
    let quote = quote(
        demo::STANDARD_CUSTOMER,
        1,
        &[(5, "100"), (10, "88.5"), (60, "88.5"), (150, "299.99")],
    );
    let priced = |manifest: PluginManifest, bytes: &[u8]| {
        let plugin = runtime
            .install(manifest, bytes)
            .expect("installs under the default limits");
        let answer = runtime.price(&plugin.id, &quote, demo_data()).expect("priced").output;
        answer
            .lines
            .iter()
            .map(|l| (l.line, l.unit_price.to_string(), l.reason.to_string(), l.kind))
            .collect::<Vec<_>>()
    };
    let rust = priced(
        manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
        &built::read(built::VOLUME_DISCOUNT),
    );
    assert_eq!(rust.len(), 3, "{rust:?}");
    assert_eq!(
        (rust[2].1.as_str(), rust[2].2.as_str()),
        ("254.9915", "volume tier 100+ units: 15% off")
    );
    for (path, name) in [
        ("js/volume-discount", "volume-discount-js"),
        ("python/volume-discount", "volume-discount-py"),
    ] {
        assert_eq!(
            priced(bundled_manifest(path), &component(&dir, name)),
            rust,
            "{name}: every price to the digit, every reason and kind"
        );
    }
}

#[test]
fn refund_approvals_in_javascript_and_python_decide_exactly_as_the_rust_one_rule_10() {
    let Some(dir) = polyglot_dir() else { return };
    let runtime = runtime();
    let rust = runtime
        .install(
            manifest("refund-approval", "approval-rule@0.3.0", demo::RESELLER, &[]),
            &built::read(built::REFUND_APPROVAL),
        )
        .expect("install");
    let cases = [
        (demo::KEY_ACCOUNT_CUSTOMER, FreezeState::NotFrozen, "60000.00"),
        (demo::KEY_ACCOUNT_CUSTOMER, FreezeState::NotFrozen, "50000.00"),
        (demo::FROZEN_CUSTOMER, FreezeState::AccountFrozen, "10.00"),
    ];
    for (path, name) in [
        ("js/refund-approval", "refund-approval-js"),
        ("python/refund-approval", "refund-approval-py"),
    ] {
        let plugin = runtime
            .install(bundled_manifest(path), &component(&dir, name))
            .expect("installs under the default limits");
        for (customer, freeze, amount) in cases {
            let request = request(ApprovalKind::Refund, customer, freeze, amount);
            let expected = runtime.decide(&rust.id, &request, demo_data()).expect("decided").output;
            let decided = runtime
                .decide(&plugin.id, &request, demo_data())
                .expect("decided")
                .output;
            assert_eq!(decided, expected, "{name} on a refund of {amount}");
        }
    }
}

#[test]
fn a_capability_listed_unused_needs_no_grant_and_a_call_to_it_fails_the_invocation() {
    let Some(dir) = polyglot_dir() else { return };
    let runtime = runtime();
    let reader = component(&dir, "customer-reader-js");
    let quote = quote(demo::STANDARD_CUSTOMER, 1, &[(5, "100")]);
    let with = |extra: &str| {
        PluginManifest::from_toml(&format!(
            "name = \"customer-reader\"\nversion = \"0.1.0\"\nworld = \"pricing-rule\"\nworld-version = \"0.3.0\"\nowner = {}\n{extra}\n",
            demo::RESELLER
        ))
        .expect("valid manifest")
    };
    // Neither granted nor listed: refused at install, naming the capability.
    assert_eq!(
        runtime.install(with(""), &reader).map(|p| p.id.clone()),
        Err(InstallError::MissingGrant {
            capability: Capability::Customer,
            import: "partner-center:customer/customers@0.1.0".into()
        })
    );
    // Listed unused: installed without the grant; the rule's call to it fails the invocation.
    let plugin = runtime
        .install(
            with("unused-imports = [\"customer\", \"order\", \"pricing\", \"invoicing\"]"),
            &reader,
        )
        .expect("installs without grants");
    match runtime.price(&plugin.id, &quote, demo_data()) {
        Err(InvokeError::Plugin(failure)) => assert!(
            matches!(&failure.kind, FailureKind::Trap(message) if message.contains(
                "partner-center:customer/customers@0.1.0#get was called, but plugin customer-reader@0.1.0 lists it in unused-imports: it has no grant"
            )),
            "{failure:?}"
        ),
        other => panic!("the call to an unused import must fail the invocation: {other:?}"),
    }
    // Granted: the same component reads the customer (in its owner's scope) and prices.
    runtime.unload(&plugin.id);
    let plugin = runtime
        .install(
            with("grants = [\"customer\"]\nunused-imports = [\"order\", \"pricing\", \"invoicing\"]"),
            &reader,
        )
        .expect("installs with the grant");
    let priced = runtime.price(&plugin.id, &quote, demo_data()).expect("priced");
    assert_eq!(priced.usage.capability_calls, 1);
    assert!(priced.output.lines.is_empty());
}

#[test]
fn a_python_component_needs_wasi_sockets_listed_unused_and_gets_only_stubs() {
    let Some(dir) = polyglot_dir() else { return };
    let runtime = runtime();
    let mut manifest = bundled_manifest("python/refund-approval");
    manifest.unused_imports.remove("wasi:sockets");
    let refused = runtime.install(manifest, &component(&dir, "refund-approval-py"));
    assert!(
        matches!(&refused, Err(InstallError::UnknownImport(import)) if import.starts_with("wasi:sockets/")),
        "{:?}",
        refused.map(|p| p.id.clone())
    );
}
