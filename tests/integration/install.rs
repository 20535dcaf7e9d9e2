//! Install-time refusals: each with a precise error, nothing registered. The pre-check before
//! compiling, the bounds of compilation, unloading and deleting versions.

use crate::support::*;
use pchost_runtime::compile::{ChildCompiler, CompileConfig, Compiler};
use pchost_runtime::{
    Capability, InstallError, PluginManifest, PluginRuntime, RuntimeConfig, RuntimeLimits, ShapeLimits,
};
use pchost_store::bindings::PluginQuota;
use pchost_store::demo;
use pchost_test_plugins as built;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn pricing() -> PluginManifest {
    manifest("candidate", "pricing-rule", demo::RESELLER, &[])
}

#[test]
fn an_ungranted_import_is_refused_naming_the_capability() {
    let runtime = runtime();
    let refused = runtime.install(
        manifest("payment-on-behalf", "approval-rule", demo::RESELLER, &[]),
        &built::read(built::PAYMENT_ON_BEHALF),
    );
    assert_eq!(
        refused.map(|p| p.digest.clone()),
        Err(InstallError::MissingGrant {
            capability: Capability::Order,
            import: "partner-center:order/orders@0.1.0".into()
        })
    );
    assert_eq!(
        refused_message(&runtime),
        "component imports `partner-center:order/orders@0.1.0`, which needs the `order` grant; its manifest neither grants it nor lists it in unused-imports (for an import the rule never calls)"
    );
    assert!(runtime.plugins().is_empty(), "nothing was installed");
}

fn refused_message(runtime: &PluginRuntime) -> String {
    runtime
        .install(
            manifest("payment-on-behalf", "approval-rule", demo::RESELLER, &[]),
            &built::read(built::PAYMENT_ON_BEHALF),
        )
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn random_bytes_and_non_components_are_refused_with_a_clear_error() {
    let runtime = runtime();
    assert_eq!(
        runtime.install(pricing(), b"definitely not wasm").map(|_| ()),
        Err(InstallError::NotWasm)
    );
    // A valid, empty core module: WebAssembly, but not a component.
    assert_eq!(
        runtime.install(pricing(), b"\0asm\x01\0\0\0").map(|_| ()),
        Err(InstallError::CoreModule)
    );
    // A real component cut short.
    let truncated = &built::read(built::VOLUME_DISCOUNT)[..200];
    assert!(matches!(
        runtime.install(pricing(), truncated),
        Err(InstallError::Invalid(_))
    ));
    // Deterministic pseudo-random bytes behind a component header.
    let mut noise = b"\0asm\x0d\0\x01\0".to_vec();
    let mut x: u32 = 0x2545_f491;
    noise.extend((0..4096).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    assert!(matches!(
        runtime.install(pricing(), &noise),
        Err(InstallError::Invalid(_))
    ));
    assert!(runtime.plugins().is_empty());
}

#[test]
fn an_oversized_component_is_refused_before_parsing() {
    let runtime = PluginRuntime::new(RuntimeConfig {
        limits: RuntimeLimits {
            max_component_bytes: 1024,
            ..RuntimeLimits::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let bytes = built::read(built::VOLUME_DISCOUNT);
    assert_eq!(
        runtime.install(pricing(), &bytes).map(|_| ()),
        Err(InstallError::TooLarge {
            size: bytes.len(),
            limit: 1024
        })
    );
}

#[test]
fn a_component_of_another_world_is_refused() {
    let runtime = runtime();
    let refused = runtime.install(
        manifest("volume-discount", "approval-rule", demo::SELLER, &[]),
        &built::read(built::VOLUME_DISCOUNT),
    );
    assert!(
        matches!(&refused, Err(InstallError::WrongWorld { world, .. }) if *world == "partner-center:extension/approval-rule@0.1.0"),
        "got {refused:?}"
    );
}

#[test]
fn installed_artefacts_reload_without_recompiling() {
    let dir = std::env::temp_dir().join(format!("pchost-artefacts-{}", std::process::id()));
    let config = RuntimeConfig {
        artefact_dir: Some(dir.clone()),
        ..RuntimeConfig::default()
    };
    let manifest = manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]);
    let digest = {
        let runtime = PluginRuntime::new(config.clone()).expect("runtime");
        runtime
            .install(manifest.clone(), &built::read(built::VOLUME_DISCOUNT))
            .expect("install")
            .digest
            .clone()
    };
    let runtime = PluginRuntime::new(config).expect("runtime");
    assert!(
        runtime.compiled_artefact(&digest).expect("artefact store").is_file(),
        "compiled artefact stored by digest and engine"
    );
    let plugin = runtime
        .load(manifest, &digest, None)
        .expect("load from the artefact store");
    let result = runtime.price(
        &plugin.id,
        &quote(demo::STANDARD_CUSTOMER, 1, &[(10, "100")]),
        demo_data(),
    );
    assert_eq!(result.expect("priced").output.lines[0].unit_price, dec("95.00"));
    std::fs::remove_dir_all(dir).expect("clean up");
}

#[test]
fn an_installed_version_is_immutable() {
    let store = demo_store();
    let runtime = std::sync::Arc::new(runtime());
    let manifest = manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]);
    let install = |bytes: Vec<u8>| {
        tokio().block_on(pchost_extensions::install::install(
            &store,
            &runtime,
            manifest.clone(),
            &bytes,
            &PluginQuota::default(),
        ))
    };
    let first = install(built::read(built::VOLUME_DISCOUNT)).expect("first install");
    assert_eq!(
        install(built::read(built::VOLUME_DISCOUNT))
            .expect("same bytes again")
            .digest,
        first.digest
    );
    let refused = install(built::read(built::RESELLER_MARKUP)).expect_err("other bytes, same version");
    assert!(refused.to_string().contains("versions are immutable"), "{refused}");
    assert_eq!(runtime.plugins().len(), 1, "the refused component was not registered");
}

#[test]
fn two_owners_may_install_the_same_component_and_each_version_is_immutable() {
    let runtime = runtime();
    let bytes = built::read(built::VOLUME_DISCOUNT);
    let seller = runtime
        .install(
            manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
            &bytes,
        )
        .expect("the seller installs it");
    let reseller = runtime
        .install(
            manifest("volume-discount", "pricing-rule@0.3.0", demo::RESELLER, &[]),
            &bytes,
        )
        .expect("and so may the reseller");
    assert_eq!(seller.digest, reseller.digest);
    assert_eq!(
        (seller.id.as_str(), reseller.id.as_str()),
        ("10/volume-discount@0.1.0", "2/volume-discount@0.1.0")
    );
    let q = quote(demo::STANDARD_CUSTOMER, 1, &[(10, "100")]);
    runtime
        .price(&reseller.id, &q, demo_data())
        .expect("each runs as its owner");
    assert_eq!(runtime.plugins().len(), 2, "two versions, one compiled component");
    let other_bytes = runtime.install(
        manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
        &built::read(built::RESELLER_MARKUP),
    );
    assert_eq!(
        other_bytes.map(|_| ()),
        Err(InstallError::VersionExists {
            id: seller.id.clone(),
            digest: seller.digest.clone()
        })
    );
}

#[test]
fn without_fuel_metering_rules_run_report_no_fuel_and_fuel_limits_are_refused() {
    let runtime = PluginRuntime::new(RuntimeConfig {
        meter_fuel: false,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let plugin = runtime
        .install(
            manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
            &built::read(built::VOLUME_DISCOUNT),
        )
        .expect("installs");
    let q = quote(demo::STANDARD_CUSTOMER, 1, &[(60, "100")]);
    let priced = runtime.price(&plugin.id, &q, demo_data()).expect("prices");
    assert_eq!(
        (priced.output.lines[0].unit_price, priced.usage.fuel_used),
        (dec("90.000000"), 0)
    );
    let limited = PluginManifest::from_toml(
        "name = \"capped\"\nversion = \"0.1.0\"\nworld = \"pricing-rule\"\nowner = 10\n[limits]\nfuel = 1000\n",
    )
    .expect("manifest");
    let refused = runtime.install(limited, &built::read(built::VOLUME_DISCOUNT));
    assert!(
        matches!(
            refused,
            Err(InstallError::Manifest(
                pchost_runtime::manifest::ManifestError::FuelNotMetered
            ))
        ),
        "{refused:?}"
    );
}

/// A runtime whose compiler cannot run: an install that gets as far as compiling fails with
/// `InstallError::Compiler`, so any other refusal came before compiling.
fn runtime_that_cannot_compile(shape: ShapeLimits) -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig {
        limits: RuntimeLimits {
            shape,
            ..RuntimeLimits::default()
        },
        compile: CompileConfig {
            compiler: Compiler::ChildProcess(ChildCompiler::new("/nonexistent/pchost".into())),
            ..CompileConfig::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

#[test]
fn imports_and_the_worlds_export_are_checked_before_compiling() {
    let runtime = runtime_that_cannot_compile(ShapeLimits::default());
    let ungranted = runtime.install(
        manifest("payment-on-behalf", "approval-rule", demo::RESELLER, &[]),
        &built::read(built::PAYMENT_ON_BEHALF),
    );
    assert_eq!(
        ungranted.map(|_| ()),
        Err(InstallError::MissingGrant {
            capability: Capability::Order,
            import: "partner-center:order/orders@0.1.0".into()
        })
    );
    // A pricing rule under an approval-rule manifest exports `price`, not `decide`.
    let wrong_world = runtime.install(
        manifest("volume-discount", "approval-rule", demo::SELLER, &[]),
        &built::read(built::VOLUME_DISCOUNT),
    );
    assert_eq!(
        wrong_world.map(|_| ()),
        Err(InstallError::WrongWorld {
            world: "partner-center:extension/approval-rule@0.1.0",
            detail: "it exports no function `decide`".into()
        })
    );
    // What passes the pre-check goes on to the compiler.
    let compiled = runtime.install(
        manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
        &built::read(built::VOLUME_DISCOUNT),
    );
    assert!(
        matches!(&compiled, Err(InstallError::Compiler(message)) if message.contains("/nonexistent/pchost")),
        "{:?}",
        compiled.map(|_| ())
    );
    assert!(runtime.plugins().is_empty());
}

#[test]
fn components_past_the_operators_shape_limits_are_refused_before_compiling() {
    let unlimited = ShapeLimits {
        core_modules: u64::MAX,
        nested_components: u64::MAX,
        functions: u64::MAX,
        code_bytes: u64::MAX,
        function_bytes: u64::MAX,
    };
    let bytes = built::read(built::VOLUME_DISCOUNT);
    let refusal = |shape: ShapeLimits| {
        runtime_that_cannot_compile(shape)
            .install(
                manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
                &bytes,
            )
            .map(|_| ())
    };
    let cases = [
        (
            ShapeLimits {
                core_modules: 1,
                ..unlimited
            },
            "core modules",
        ),
        (
            ShapeLimits {
                functions: 10,
                ..unlimited
            },
            "function bodies",
        ),
        (
            ShapeLimits {
                code_bytes: 1000,
                ..unlimited
            },
            "bytes of code",
        ),
        (
            ShapeLimits {
                function_bytes: 16,
                ..unlimited
            },
            "bytes in one function body",
        ),
    ];
    for (shape, counted) in cases {
        match refusal(shape) {
            Err(InstallError::TooComplex { what, count, limit }) => {
                assert_eq!(what, counted);
                assert!(count > limit, "{what}: {count} > {limit}");
            }
            other => panic!("{counted}: expected too-complex, got {other:?}"),
        }
    }
    // The real plugin is far within the default limits: it reaches the compiler.
    assert!(matches!(
        refusal(ShapeLimits::default()),
        Err(InstallError::Compiler(_))
    ));
}

#[test]
fn past_the_ceiling_an_in_process_compile_is_refused_and_keeps_its_turn_until_it_ends() {
    let dir = temp_dir("ceiling");
    let runtime = PluginRuntime::new(RuntimeConfig {
        artefact_dir: Some(dir.clone()),
        compile: CompileConfig {
            ceiling: Duration::from_millis(1),
            max_wait: Duration::from_millis(1),
            ..CompileConfig::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let refused = runtime.install(
        manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
        &built::read(built::VOLUME_DISCOUNT),
    );
    assert_eq!(refused.map(|_| ()), Err(InstallError::CompileTimeout { ceiling_ms: 1 }));
    // That compilation still runs, in its turn: the next install finds no turn free.
    let busy = runtime.install(
        manifest("reseller-markup", "pricing-rule@0.3.0", demo::RESELLER, &[]),
        &built::read(built::RESELLER_MARKUP),
    );
    assert_eq!(busy.map(|_| ()), Err(InstallError::CompileBusy { waited_ms: 1 }));
    assert!(runtime.plugins().is_empty());
    assert_eq!(
        std::fs::read_dir(&dir).expect("artefact dir").count(),
        0,
        "nothing stored"
    );
    std::fs::remove_dir_all(dir).expect("clean up");
}

/// Installs the volume discount as `version` of seller 10, recorded in `store`.
async fn install_volume_discount(
    store: &pchost_store::store::Store,
    runtime: &Arc<PluginRuntime>,
    version: &str,
) -> Arc<pchost_runtime::LoadedPlugin> {
    let mut manifest = manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]);
    manifest.version = version.into();
    let bytes = built::read(built::VOLUME_DISCOUNT);
    pchost_extensions::install::install(store, runtime, manifest, &bytes, &PluginQuota::default())
        .await
        .expect("installed")
}

/// A runtime keeping its artefacts in `dir`.
fn runtime_in(dir: &std::path::Path) -> Arc<PluginRuntime> {
    Arc::new(
        PluginRuntime::new(RuntimeConfig {
            artefact_dir: Some(dir.to_owned()),
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    )
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pchost-install-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn an_unloaded_version_stops_running_its_twin_keeps_the_code_and_the_last_takes_the_artefacts() {
    let dir = temp_dir("unload");
    let runtime = PluginRuntime::new(RuntimeConfig {
        artefact_dir: Some(dir.clone()),
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let bytes = built::read(built::VOLUME_DISCOUNT);
    let seller = runtime
        .install(
            manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
            &bytes,
        )
        .expect("installed");
    let reseller = runtime
        .install(
            manifest("volume-discount", "pricing-rule@0.3.0", demo::RESELLER, &[]),
            &bytes,
        )
        .expect("installed");
    let q = quote(demo::STANDARD_CUSTOMER, 1, &[(10, "100")]);

    assert_eq!(
        runtime.unload(&seller.id).map(|p| p.id.clone()),
        Some(seller.id.clone())
    );
    assert_eq!(
        runtime.unload(&seller.id).map(|p| p.id.clone()),
        None,
        "already unloaded"
    );
    assert!(matches!(
        runtime.price(&seller.id, &q, demo_data()),
        Err(pchost_runtime::InvokeError::UnknownPlugin(_))
    ));
    runtime
        .price(&reseller.id, &q, demo_data())
        .expect("the twin still runs");
    assert!(
        !runtime.remove_artefacts(&seller.digest).expect("kept"),
        "the twin uses them"
    );
    assert!(runtime.compiled_artefact(&seller.digest).expect("store").is_file());

    runtime.unload(&reseller.id).expect("unloaded");
    assert!(runtime.remove_artefacts(&seller.digest).expect("removed"));
    assert_eq!(std::fs::read_dir(&dir).expect("artefact dir").count(), 0);
    // Installed again, its artefacts are written again.
    let again = runtime
        .install(
            manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
            &bytes,
        )
        .expect("installed again");
    assert!(dir.join(format!("{}.wasm", again.digest)).is_file());
    assert!(runtime.compiled_artefact(&again.digest).expect("store").is_file());
    assert!(
        runtime.remove_artefacts("../../etc/passwd").is_err(),
        "a digest names no other path"
    );
    std::fs::remove_dir_all(dir).expect("clean up");
}

#[test]
fn a_deleted_version_is_unloaded_and_its_artefacts_go_with_the_last_version_of_its_bytes() {
    let dir = temp_dir("delete");
    let store = demo_store();
    let runtime = runtime_in(&dir);
    let bytes = built::read(built::VOLUME_DISCOUNT);
    let version = |v: &str| {
        let mut m = manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]);
        m.version = v.into();
        m
    };
    let install = |v: &str| {
        tokio()
            .block_on(pchost_extensions::install::install(
                &store,
                &runtime,
                version(v),
                &bytes,
                &PluginQuota::default(),
            ))
            .expect("installed")
    };
    let delete = |v: &str| {
        tokio().block_on(pchost_extensions::install::delete(
            &store,
            &runtime,
            demo::SELLER,
            "volume-discount",
            v,
        ))
    };
    let first = install("1.0.0");
    let second = install("2.0.0");
    let files = || std::fs::read_dir(&dir).expect("artefact dir").count();
    assert_eq!(files(), 2);

    delete("1.0.0").expect("deleted");
    assert!(runtime.plugin(&first.id).is_none(), "unloaded");
    assert_eq!(files(), 2, "2.0.0 has the same bytes");
    let q = quote(demo::STANDARD_CUSTOMER, 1, &[(10, "100")]);
    runtime.price(&second.id, &q, demo_data()).expect("2.0.0 still runs");

    delete("2.0.0").expect("deleted");
    assert!(runtime.plugins().is_empty());
    assert_eq!(files(), 0, "no version has the bytes");
    let again = delete("2.0.0").expect_err("already deleted");
    assert_eq!(again.code().as_str(), "not-found", "{again}");
    let versions = tokio()
        .block_on(store.plugin_versions(Some(demo::SELLER)))
        .expect("versions");
    assert!(versions.is_empty());
    std::fs::remove_dir_all(dir).expect("clean up");
}

#[test]
fn a_runtime_that_never_saw_the_file_compiles_the_version_from_the_database_and_follows_its_deletion() {
    let (dir_a, dir_b) = (temp_dir("replica-a"), temp_dir("replica-b"));
    let store = demo_store();
    let (a, b) = (runtime_in(&dir_a), runtime_in(&dir_b));
    let bytes = built::read(built::VOLUME_DISCOUNT);
    let installed = tokio().block_on(install_volume_discount(&store, &a, "1.0.0"));
    assert_eq!(
        tokio()
            .block_on(store.plugin_component(&installed.digest))
            .expect("read"),
        Some(bytes.clone()),
        "the component is kept in the database with its version"
    );

    // B has nothing on its disk: it compiles the version from the database.
    let synced = tokio()
        .block_on(pchost_extensions::install::sync_installed(
            &store,
            &b,
            &Default::default(),
        ))
        .expect("sync");
    assert_eq!((synced.loaded, synced.unloaded, synced.failed.len()), (1, 0, 0));
    let q = quote(demo::STANDARD_CUSTOMER, 1, &[(10, "100")]);
    let priced = b.price(&installed.id, &q, demo_data()).expect("B runs it");
    assert_eq!(priced.output.lines[0].unit_price, dec("95.00"));
    assert!(b.compiled_artefact(&installed.digest).expect("store").is_file());

    // A component changed in the database is refused, not compiled.
    let c = runtime_in(&temp_dir("replica-c"));
    tokio()
        .block_on(
            sqlx::query("UPDATE plugin_components SET bytes = $1 WHERE digest = $2")
                .bind(&bytes[..bytes.len() - 1])
                .bind(&installed.digest)
                .execute(store.pool()),
        )
        .expect("tamper");
    let synced = tokio()
        .block_on(pchost_extensions::install::sync_installed(
            &store,
            &c,
            &Default::default(),
        ))
        .expect("sync");
    assert_eq!(synced.loaded, 0);
    assert!(
        synced.failed[0].1.contains("does not match its digest"),
        "{:?}",
        synced.failed
    );
    assert!(c.plugins().is_empty());

    // Deleted through A: B unloads it and drops its artefacts; the component leaves the
    // database with its last version.
    tokio()
        .block_on(pchost_extensions::install::delete(
            &store,
            &a,
            demo::SELLER,
            "volume-discount",
            &installed.manifest.version,
        ))
        .expect("deleted");
    assert_eq!(
        tokio()
            .block_on(store.plugin_component(&installed.digest))
            .expect("read"),
        None
    );
    let synced = tokio()
        .block_on(pchost_extensions::install::sync_installed(
            &store,
            &b,
            &Default::default(),
        ))
        .expect("sync");
    assert_eq!((synced.loaded, synced.unloaded), (0, 1));
    assert!(b.plugin(&installed.id).is_none());
    assert_eq!(std::fs::read_dir(&dir_b).expect("B's artefacts").count(), 0);
    for dir in [dir_a, dir_b, temp_dir("replica-c")] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_version_installed_before_components_were_kept_in_the_database_is_copied_there_by_its_node() {
    let dir = temp_dir("backfill");
    let store = demo_store();
    let runtime = runtime_in(&dir);
    let bytes = built::read(built::VOLUME_DISCOUNT);
    let installed = tokio().block_on(install_volume_discount(&store, &runtime, "1.0.0"));
    // As migration 0033 found it: the version recorded, its bytes only on this node's disk.
    tokio()
        .block_on(sqlx::query("DELETE FROM plugin_components").execute(store.pool()))
        .expect("as before 0033");
    tokio()
        .block_on(pchost_extensions::install::sync_installed(
            &store,
            &runtime,
            &Default::default(),
        ))
        .expect("sync");
    assert_eq!(
        tokio()
            .block_on(store.plugin_component(&installed.digest))
            .expect("read"),
        Some(bytes),
        "copied from the artefact store for the other replicas"
    );
    std::fs::remove_dir_all(dir).expect("clean up");
}

#[test]
fn a_sync_while_a_version_is_being_installed_does_not_take_it_for_deleted() {
    let dir = temp_dir("sync-during-install");
    let store = demo_store();
    let runtime = runtime_in(&dir);
    let versions: Vec<String> = (0..20).map(|i| format!("1.0.{i}")).collect();
    let (installed, syncs) = tokio().block_on(async {
        // Another change's reload, over and over while versions are compiled and recorded.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let syncing = {
            let (store, runtime, stop) = (store.clone(), runtime.clone(), stop.clone());
            tokio::spawn(async move {
                let mut syncs = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let synced = pchost_extensions::install::sync_installed(&store, &runtime, &Default::default())
                        .await
                        .expect("sync");
                    assert_eq!(synced.unloaded, 0, "nothing was deleted");
                    syncs += 1;
                }
                syncs
            })
        };
        let mut installed = Vec::new();
        for version in &versions {
            installed.push(install_volume_discount(&store, &runtime, version).await);
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        (installed, syncing.await.expect("the syncs"))
    });
    assert!(syncs > versions.len(), "the syncs overlapped the installs ({syncs})");
    for plugin in &installed {
        assert!(runtime.plugin(&plugin.id).is_some(), "{} still loaded", plugin.id);
    }
    assert!(
        runtime
            .compiled_artefact(&installed[0].digest)
            .expect("store")
            .is_file()
    );
    std::fs::remove_dir_all(dir).expect("clean up");
}

#[test]
fn a_starting_server_loads_the_bound_versions_first_and_the_unbound_ones_after() {
    let (dir_a, dir_b) = (temp_dir("start-a"), temp_dir("start-b"));
    let store = demo_store();
    let a = runtime_in(&dir_a);
    for version in ["1.0.0", "2.0.0"] {
        tokio().block_on(install_volume_discount(&store, &a, version));
    }
    let binding = pchost_store::bindings::NewBinding {
        world: "pricing-rule".into(),
        scope: pchost_store::bindings::BindingScope::Seller,
        scope_id: Some(demo::SELLER),
        plugin_owner: demo::SELLER,
        plugin_name: "volume-discount".into(),
        version: "2.0.0".into(),
        position: 0,
        failure_policy: pchost_store::bindings::FailurePolicy::FailClosed,
        enabled: true,
        settings: Default::default(),
    };
    tokio()
        .block_on(store.create_binding(&binding, "operator", chrono::Utc::now()))
        .expect("bound");
    let b = runtime_in(&dir_b);
    let failures = Default::default();
    let synced = tokio()
        .block_on(pchost_extensions::install::sync_bound(&store, &b, &failures))
        .expect("sync");
    let loaded: Vec<String> = b.plugins().iter().map(|p| p.id.clone()).collect();
    assert_eq!(
        (synced.loaded, loaded),
        (1, vec![format!("{}/volume-discount@2.0.0", demo::SELLER)])
    );
    let synced = tokio()
        .block_on(pchost_extensions::install::sync_installed(&store, &b, &failures))
        .expect("sync");
    assert_eq!((synced.loaded, b.plugins().len()), (1, 2), "then the unbound one");
    for dir in [dir_a, dir_b] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
