//! The harness on the bundled example plugins, as an author's `cargo test` would use it.

use pchost_plugin_test::{DataSet, Rule};
use std::path::Path;

fn rule(name: &str) -> Rule {
    let root = pchost_test_plugins::repo_root();
    Rule::load(
        root.join("plugins").join(name).join("plugin.toml"),
        Path::new(pchost_test_plugins::WASM_DIR).join(format!("{}.wasm", name.replace('-', "_"))),
    )
    .expect("loaded")
}

fn fixture(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(pchost_test_plugins::repo_root().join(path)).expect("fixture");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn a_rule_runs_a_fixture_and_reports_its_output_fuel_and_time() {
    let refunds = rule("refund-approval");
    let outcome = refunds
        .run(&fixture("examples/refund-approval/escalate-60000.input.json"))
        .expect("ran");
    assert_eq!(
        outcome.output,
        fixture("examples/refund-approval/escalate-60000.expected.json")
    );
    assert!(outcome.fuel_used > 0, "fuel is metered");
    // The invocation's deadline is 100 ms; the wall time adds the instance's set-up.
    assert!(
        outcome.wall_time < std::time::Duration::from_secs(2),
        "{:?}",
        outcome.wall_time
    );
}

#[test]
fn a_rules_capability_reads_see_the_data_set_it_is_given() {
    let input = fixture("examples/payment-on-behalf/escalate-large.input.json");
    let payments = rule("payment-on-behalf");
    assert_eq!(payments.run(&input).expect("ran").output["decision"], "escalate");
    // Customer 101's largest paid order raised from 12,000.00 to 20,000.00: 70,000.00 is
    // within 5 times it.
    let mut data = DataSet::new(chrono::Utc::now());
    for order in data.orders.iter_mut().filter(|o| o.customer == 101) {
        if order.amount == "12000.00".parse().expect("decimal") {
            order.amount = "20000.00".parse().expect("decimal");
        }
    }
    let payments = payments.with_data(&data).expect("data");
    assert_eq!(payments.run(&input).expect("ran").output["decision"], "approve");
}

#[test]
fn a_component_importing_an_ungranted_capability_is_refused_at_load() {
    let root = pchost_test_plugins::repo_root();
    let manifest = std::env::temp_dir().join(format!("harness-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(root.join("plugins/payment-on-behalf/plugin.toml")).expect("manifest");
    std::fs::write(&manifest, text.replace("grants = [\"order\"]", "grants = []")).expect("write");
    let loaded = Rule::load(
        &manifest,
        Path::new(pchost_test_plugins::WASM_DIR).join("payment_on_behalf.wasm"),
    );
    let _ = std::fs::remove_file(&manifest);
    let error = loaded.expect_err("refused").to_string();
    assert!(error.contains("order"), "{error}");
}
