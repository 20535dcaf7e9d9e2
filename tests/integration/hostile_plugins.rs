//! Hostile plugins: each failure is contained as a typed plugin failure and the runtime keeps
//! serving.

use crate::support::*;
use pchost_runtime::{CapabilityFailure, FailureKind, InvokeError, PluginRuntime, RuleFailure};
use pchost_store::demo;
use pchost_test_plugins as built;

/// Installs a hostile plugin (built against extension@0.1.0) or an example one (0.2.0);
/// returns its id.
fn install(runtime: &PluginRuntime, name: &str, path: &str, owner: i64, grants: &[&str]) -> String {
    let world = if path.contains("hostile") {
        "pricing-rule"
    } else if path == built::VOLUME_DISCOUNT {
        "pricing-rule@0.3.0"
    } else {
        "pricing-rule@0.2.0"
    };
    runtime
        .install(manifest(name, world, owner, grants), &built::read(path))
        .expect("hostile plugins are valid components")
        .id
        .clone()
}

fn failure(result: Result<impl std::fmt::Debug, InvokeError>) -> FailureKind {
    match result {
        Err(InvokeError::Plugin(failure)) => failure.kind,
        other => panic!("expected a plugin failure, got {other:?}"),
    }
}

#[test]
fn an_endless_loop_stops_at_its_deadline_and_the_next_invocation_succeeds() {
    let runtime = runtime();
    let digest = install(
        &runtime,
        "infinite-loop",
        built::HOSTILE_INFINITE_LOOP,
        demo::RESELLER,
        &[],
    );
    let looping = quote(demo::STANDARD_CUSTOMER, 1, &[(0, "100")]);
    assert_eq!(
        failure(runtime.price(&digest, &looping, demo_data())),
        FailureKind::Timeout(100)
    );
    // Same plugin, same runtime, an input that terminates.
    let fine = quote(demo::STANDARD_CUSTOMER, 1, &[(3, "100")]);
    let result = runtime
        .price(&digest, &fine, demo_data())
        .expect("the next invocation runs normally");
    assert!(result.output.lines.is_empty());
}

#[test]
fn unbounded_memory_growth_fails_with_out_of_memory_at_the_cap() {
    let runtime = runtime();
    // A deadline long enough that a busy machine cannot stop it before the cap does.
    let mut hog = manifest("memory-hog", "pricing-rule", demo::RESELLER, &[]);
    hog.limits.deadline_ms = Some(2000);
    let digest = runtime
        .install(hog, &built::read(built::HOSTILE_MEMORY_HOG))
        .expect("a valid component")
        .id
        .clone();
    let q = quote(demo::STANDARD_CUSTOMER, 1, &[(1, "100")]);
    assert_eq!(
        failure(runtime.price(&digest, &q, demo_data())),
        FailureKind::OutOfMemory(64 << 20)
    );
    // The pool slot is reusable: a well-behaved plugin runs next.
    let good = install(&runtime, "volume-discount", built::VOLUME_DISCOUNT, demo::SELLER, &[]);
    runtime
        .price(&good, &quote(demo::STANDARD_CUSTOMER, 1, &[(10, "100")]), demo_data())
        .expect("runs");
}

#[test]
fn unbounded_recursion_traps_with_a_stack_overflow() {
    let runtime = runtime();
    let digest = install(
        &runtime,
        "deep-recursion",
        built::HOSTILE_DEEP_RECURSION,
        demo::RESELLER,
        &[],
    );
    let kind = failure(runtime.price(&digest, &quote(demo::STANDARD_CUSTOMER, 1, &[(1, "100")]), demo_data()));
    // Plugins get a 64 KiB shadow stack at the bottom of linear memory
    // (plugins/.cargo/config.toml): it overflows below address 0, an out-of-bounds access,
    // before wasm's own call stack runs out; with a larger stack the call stack would go
    // first. Either way the plugin traps and nothing it did escapes.
    assert!(
        matches!(&kind, FailureKind::Trap(message)
            if message.contains("out of bounds memory access") || message.contains("call stack exhausted")),
        "got {kind:?}"
    );
}

#[test]
fn an_oversized_output_is_refused() {
    let runtime = runtime();
    let digest = install(
        &runtime,
        "oversized-output",
        built::HOSTILE_OVERSIZED_OUTPUT,
        demo::RESELLER,
        &[],
    );
    let kind = failure(runtime.price(&digest, &quote(demo::STANDARD_CUSTOMER, 1, &[(1, "100")]), demo_data()));
    // Refused while being copied out of the guest, past twice the output limit (this also
    // pins wasmtime's wording of that refusal, which the runtime recognises).
    assert_eq!(
        kind,
        FailureKind::InvalidOutput(format!(
            "the plugin passed the host more than {} bytes in one call; the output limit is {}",
            2 << 20,
            1 << 20
        ))
    );
}

#[test]
fn a_panic_becomes_a_trap_carrying_its_message() {
    let runtime = runtime();
    let digest = install(&runtime, "panicking", built::HOSTILE_PANICKING, demo::RESELLER, &[]);
    let kind = failure(runtime.price(&digest, &quote(demo::STANDARD_CUSTOMER, 1, &[(1, "100")]), demo_data()));
    assert!(
        matches!(&kind, FailureKind::Trap(message) if message.contains("no tier table for currency CNY")),
        "got {kind:?}"
    );
}

#[test]
fn fuel_is_metered_and_a_fuel_limit_stops_the_plugin() {
    let runtime = runtime();
    let mut limited = manifest("infinite-loop", "pricing-rule", demo::RESELLER, &[]);
    limited.limits.fuel = Some(1_000_000);
    let digest = runtime
        .install(limited, &built::read(built::HOSTILE_INFINITE_LOOP))
        .expect("install")
        .id
        .clone();
    let looping = quote(demo::STANDARD_CUSTOMER, 1, &[(0, "100")]);
    assert_eq!(
        failure(runtime.price(&digest, &looping, demo_data())),
        FailureKind::OutOfFuel(1_000_000)
    );
    let fine = runtime
        .price(&digest, &quote(demo::STANDARD_CUSTOMER, 1, &[(3, "100")]), demo_data())
        .expect("runs");
    assert!(
        fine.usage.fuel_used > 0 && fine.usage.fuel_used < 1_000_000,
        "fuel used {}",
        fine.usage.fuel_used
    );
}

#[test]
fn a_read_outside_the_owners_scope_gets_access_denied() {
    let runtime = runtime();
    let read = |owner: i64, customer: i64| {
        let digest = install(
            &runtime,
            &format!("cross-tenant-reader-{owner}"),
            built::HOSTILE_CROSS_TENANT_READER,
            owner,
            &["customer"],
        );
        runtime.price(&digest, &quote(customer, 1, &[(1, "100")]), demo_data())
    };
    // Reseller 2 reads its own customer...
    let own = read(demo::RESELLER, demo::KEY_ACCOUNT_CUSTOMER).expect("own customer is readable");
    assert!(own.output.lines.is_empty());
    // ...but not another reseller's customer.
    assert_eq!(
        failure(read(demo::RESELLER, demo::OTHER_RESELLERS_CUSTOMER)),
        FailureKind::RuleError(RuleFailure::Capability(CapabilityFailure::AccessDenied))
    );
}

#[test]
fn the_sandbox_has_no_ambient_authority_and_replays_deterministically() {
    let runtime = runtime();
    let digest = install(
        &runtime,
        "sandbox-probe",
        built::HOSTILE_SANDBOX_PROBE,
        demo::RESELLER,
        &[],
    );
    let findings = |q: &pchost_runtime::model::Quote| -> Vec<String> {
        let invocation = runtime.price(&digest, q, demo_data()).expect("probe runs");
        invocation.logs.into_iter().map(|l| l.message).collect()
    };
    let q = quote(demo::STANDARD_CUSTOMER, 1, &[(1, "100")]);
    let first = findings(&q);
    assert_eq!(
        first[0],
        format!("now={}", q.as_of.timestamp_millis()),
        "the clock reads the as-of time"
    );
    assert_eq!(
        &first[2..],
        ["env=0", "args=0", "fs=denied (entity not found)", "passwd=denied"]
    );
    // A replay (same plugin, same as-of) draws the same randomness; another as-of does not.
    assert_eq!(findings(&q), first);
    let mut later = q.clone();
    later.as_of += chrono::Duration::seconds(1);
    assert_ne!(findings(&later)[1], first[1]);
}

#[test]
fn when_every_instance_slot_is_busy_an_invocation_fails_with_capacity_and_nothing_else_breaks() {
    let runtime = std::sync::Arc::new(
        PluginRuntime::new(pchost_runtime::RuntimeConfig {
            limits: pchost_runtime::RuntimeLimits {
                max_concurrent_instances: 1,
                ..pchost_runtime::RuntimeLimits::default()
            },
            ..pchost_runtime::RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    let mut slow = manifest("infinite-loop", "pricing-rule", demo::RESELLER, &[]);
    slow.limits.deadline_ms = Some(2000);
    let looping = runtime
        .install(slow, &built::read(built::HOSTILE_INFINITE_LOOP))
        .expect("install")
        .id
        .clone();
    let good = install(&runtime, "volume-discount", built::VOLUME_DISCOUNT, demo::SELLER, &[]);
    // One invocation holds the only slot for 2 s...
    let holder = {
        let runtime = runtime.clone();
        std::thread::spawn(move || {
            runtime.price(&looping, &quote(demo::STANDARD_CUSTOMER, 1, &[(0, "100")]), demo_data())
        })
    };
    // ...so another finds none free and is refused at once rather than queued. (Until the
    // holder has started, the call still finds the slot free: ask again shortly.)
    let started = std::time::Instant::now();
    let busy = loop {
        match runtime.price(&good, &quote(demo::STANDARD_CUSTOMER, 1, &[(10, "100")]), demo_data()) {
            Ok(_) if started.elapsed() < std::time::Duration::from_millis(1500) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => break other,
        }
    };
    assert!(matches!(failure(busy), FailureKind::Capacity(_)));
    assert_eq!(failure(holder.join().expect("thread")), FailureKind::Timeout(2000));
    runtime
        .price(&good, &quote(demo::STANDARD_CUSTOMER, 1, &[(10, "100")]), demo_data())
        .expect("the slot is free again");
}

#[test]
fn an_input_over_the_limits_is_refused_before_the_plugin_runs() {
    let runtime = runtime();
    let digest = install(&runtime, "volume-discount", built::VOLUME_DISCOUNT, demo::SELLER, &[]);
    let lines: Vec<(u32, &str)> = vec![(1, "100"); 10_001];
    let refused = runtime.price(&digest, &quote(demo::STANDARD_CUSTOMER, 1, &lines), demo_data());
    assert!(
        matches!(&refused, Err(InvokeError::Input(pchost_runtime::model::InputError::Invalid { field, .. })) if field == "lines"),
        "got {refused:?}"
    );
    let mut bad_index = quote(demo::STANDARD_CUSTOMER, 1, &[(1, "100")]);
    bad_index.lines[0].product = 7;
    let refused = runtime.price(&digest, &bad_index, demo_data());
    assert!(
        matches!(&refused, Err(InvokeError::Input(pchost_runtime::model::InputError::Invalid { field, .. })) if field == "lines[0].product"),
        "got {refused:?}"
    );
}
