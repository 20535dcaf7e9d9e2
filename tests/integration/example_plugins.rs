//! The bundled example plugins, each checked against its rule with exact numbers.

use crate::support::*;
use chrono::Utc;
use pchost_domain::{ApprovalKind, Association, FreezeState, Role};
use pchost_runtime::model::{ActionDetail, ApprovalRequest, Decision, LinePrice, Principal, SubjectCustomer};
use pchost_store::demo;
use pchost_test_plugins as built;

fn prices(adjusted: &[LinePrice]) -> Vec<(u32, String, &str)> {
    adjusted
        .iter()
        .map(|l| (l.line, l.unit_price.to_string(), &*l.reason))
        .collect()
}

#[test]
fn volume_discount_applies_the_tier_of_each_lines_quantity() {
    let runtime = runtime();
    let plugin = runtime
        .install(
            manifest("volume-discount", "pricing-rule@0.3.0", demo::SELLER, &[]),
            &built::read(built::VOLUME_DISCOUNT),
        )
        .expect("install");
    let quote = quote(
        demo::STANDARD_CUSTOMER,
        1,
        &[(5, "100"), (10, "88.5"), (60, "88.5"), (150, "299.99")],
    );
    let result = runtime.price(&plugin.id, &quote, demo_data()).expect("priced");
    assert_eq!(
        prices(&result.output.lines),
        vec![
            (1, "84.075".to_string(), "volume tier 10+ units: 5% off"),
            (2, "79.650".to_string(), "volume tier 50+ units: 10% off"),
            (3, "254.9915".to_string(), "volume tier 100+ units: 15% off"),
        ]
    );
    assert!(result.usage.fuel_used > 0, "fuel used is reported");
}

/// extension@0.1.0 and 0.2.0 carry the same quote: the same do-nothing rule built against
/// each hands every price back exactly, to the digit (each keeps its own scale), isolated and
/// warm.
#[test]
fn both_contract_versions_carry_every_price_exactly() {
    let runtime = runtime();
    let v1 = runtime
        .install(
            manifest("echo-v1", "pricing-rule", demo::RESELLER, &[]),
            &built::read(built::BENCH_ECHO_V1),
        )
        .expect("install 0.1.0");
    let v2 = runtime
        .install(
            manifest("echo-v2", "pricing-rule@0.2.0", demo::RESELLER, &[]),
            &built::read(built::BENCH_ECHO_V2),
        )
        .expect("install 0.2.0");
    let quote = quote(
        demo::STANDARD_CUSTOMER,
        1,
        &[
            (1, "88.5"),
            (2, "0.0000000001"),
            (3, "60000.00"),
            (4, "922337203.6854775807"),
        ],
    );
    let expected = ["88.5", "0.0000000001", "60000.00", "922337203.6854775807"];
    for plugin in [&v1, &v2] {
        let isolated = runtime.price(&plugin.id, &quote, demo_data()).expect("priced");
        let mut warm = runtime
            .warm_pricing(&plugin.id, quote.as_of, demo_data())
            .expect("warm");
        for answer in [isolated.output, warm.price(&quote).expect("priced warm")] {
            assert_eq!(
                answer.lines.iter().map(|l| l.line).collect::<Vec<_>>(),
                vec![0, 1, 2, 3]
            );
            assert_eq!(
                answer
                    .lines
                    .iter()
                    .map(|l| l.unit_price.to_string())
                    .collect::<Vec<_>>(),
                expected,
                "{}",
                plugin.id
            );
            assert!(answer.lines.iter().all(|l| &*l.reason == "unchanged"));
        }
    }
}

#[test]
fn reseller_markup_never_goes_below_080_of_list_rule_19() {
    let runtime = runtime();
    let plugin = runtime
        .install(
            manifest("reseller-markup", "pricing-rule@0.3.0", demo::RESELLER, &[]),
            &built::read(built::RESELLER_MARKUP),
        )
        .expect("install");
    // Key account (level 3): 25% off, floored at 0.80 × list (list is 100).
    let key_account = quote(
        demo::KEY_ACCOUNT_CUSTOMER,
        3,
        &[(1, "100"), (1, "120"), (1, "106.666667")],
    );
    let result = runtime.price(&plugin.id, &key_account, demo_data()).expect("priced");
    assert_eq!(
        prices(&result.output.lines),
        vec![
            (
                0,
                "80.00".to_string(),
                "key-account discount capped at 0.80 of list (rule 19)"
            ),
            (1, "90.00".to_string(), "key-account discount: 25%"),
            (2, "80.000000".to_string(), "key-account discount: 25%"),
        ]
    );
    // A standard customer pays the 8% markup.
    let standard = quote(demo::STANDARD_CUSTOMER, 1, &[(1, "84.075")]);
    let result = runtime.price(&plugin.id, &standard, demo_data()).expect("priced");
    assert_eq!(
        prices(&result.output.lines),
        vec![(0, "90.80100".to_string(), "reseller markup: 8%")]
    );
}

pub(crate) fn request(kind: ApprovalKind, customer: i64, freeze: FreezeState, amount: &str) -> ApprovalRequest {
    ApprovalRequest {
        kind,
        as_of: Utc::now(),
        actor: Principal {
            partner: Some(demo::RESELLER),
            id: Some(501),
            role: Role::Salesperson,
        },
        partner: demo::RESELLER,
        customer: Some(SubjectCustomer {
            id: customer,
            association: Association::Resale,
            freeze,
            manager: Some(501),
        }),
        reseller: None,
        // Customer 101's paid order 9002: what a refund or a payment names.
        order: Some(9002),
        amount: Some(dec(amount)),
        currency: "CNY".parse().expect("currency"),
        detail: None,
        settings: Vec::new(),
    }
}

#[test]
fn refund_above_50000_escalates_to_a_customer_manager_rule_10() {
    let runtime = runtime();
    let plugin = runtime
        .install(
            manifest("refund-approval", "approval-rule@0.3.0", demo::RESELLER, &[]),
            &built::read(built::REFUND_APPROVAL),
        )
        .expect("install");
    let decide = |customer, freeze, amount| {
        runtime
            .decide(
                &plugin.id,
                &request(ApprovalKind::Refund, customer, freeze, amount),
                demo_data(),
            )
            .expect("decided")
            .output
    };
    assert_eq!(
        decide(demo::KEY_ACCOUNT_CUSTOMER, FreezeState::NotFrozen, "60000.00"),
        Decision::Escalate {
            role: Role::CustomerManager,
            reason: "refund of 60000.00 CNY is above 50000: a customer manager must approve it (rule 10)".into()
        }
    );
    assert_eq!(
        decide(demo::KEY_ACCOUNT_CUSTOMER, FreezeState::NotFrozen, "1000.00"),
        Decision::Approve
    );
    assert_eq!(
        decide(demo::KEY_ACCOUNT_CUSTOMER, FreezeState::NotFrozen, "50000.00"),
        Decision::Approve
    );
    assert_eq!(
        decide(demo::FROZEN_CUSTOMER, FreezeState::AccountFrozen, "10.00"),
        Decision::Reject {
            reason: "customer 103 is frozen: refunds are suspended until it is unfrozen".into()
        }
    );
}

#[test]
fn payment_on_behalf_judges_the_order_history_read_through_the_order_capability_rule_22() {
    let runtime = runtime();
    let plugin = runtime
        .install(
            manifest("payment-on-behalf", "approval-rule", demo::RESELLER, &["order"]),
            &built::read(built::PAYMENT_ON_BEHALF),
        )
        .expect("install");
    let decide = |customer, freeze, amount| {
        runtime
            .decide(
                &plugin.id,
                &request(ApprovalKind::PaymentOnBehalf, customer, freeze, amount),
                demo_data(),
            )
            .expect("decided")
    };
    // Largest recent paid order of customer 101 is 12000.00: up to 60000.00 is approved.
    let approved = decide(demo::KEY_ACCOUNT_CUSTOMER, FreezeState::NotFrozen, "5000.00");
    assert_eq!(approved.output, Decision::Approve);
    assert_eq!(approved.logs.len(), 1);
    assert_eq!(
        approved.logs[0].message,
        "customer 101: 2 recent orders, largest paid Some(12000.00)"
    );
    assert_eq!(
        decide(demo::KEY_ACCOUNT_CUSTOMER, FreezeState::NotFrozen, "70000.00").output,
        Decision::Escalate {
            role: Role::PartnerAdmin,
            reason: "70000.00 CNY is more than 5× the customer's largest recent paid order (12000.00)".into()
        }
    );
    assert_eq!(
        decide(demo::NEW_CUSTOMER, FreezeState::NotFrozen, "100.00").output,
        Decision::Escalate {
            role: Role::PartnerAdmin,
            reason: "customer 106 has no paid order in its last 20: a partner admin must approve paying on its behalf"
                .into()
        }
    );
    assert_eq!(
        decide(demo::FROZEN_CUSTOMER, FreezeState::AccountFrozen, "100.00").output,
        Decision::Reject {
            reason: "customer 103 is frozen: no payment on its behalf".into()
        }
    );
}

#[test]
fn unsubscribe_approval_reads_the_typed_action_of_extension_0_3_0_rule_10() {
    let runtime = runtime();
    let plugin = runtime
        .install(
            manifest("unsubscribe-approval", "approval-rule@0.3.0", demo::RESELLER, &[]),
            &built::read(built::UNSUBSCRIBE_APPROVAL),
        )
        .expect("install");
    let decide = |freeze, detail: ActionDetail| {
        let request = ApprovalRequest {
            detail: Some(detail),
            ..request(ApprovalKind::Refund, 102, freeze, "0")
        };
        runtime
            .decide(&plugin.id, &request, demo_data())
            .expect("decided")
            .output
    };
    let unsubscribe = |refund: &str| ActionDetail::Unsubscribe {
        resource: 1,
        order: 9003,
        refund: dec(refund),
    };
    assert_eq!(
        decide(FreezeState::NotFrozen, unsubscribe("6000.00")),
        Decision::Escalate {
            role: Role::PartnerAdmin,
            reason: "unsubscribing resource 1 refunds 6000.00 CNY, above 5000: a partner admin decides (rule 10)"
                .into()
        }
    );
    assert_eq!(
        decide(FreezeState::NotFrozen, unsubscribe("5000.00")),
        Decision::Approve
    );
    assert_eq!(
        decide(FreezeState::AccountFrozen, unsubscribe("10.00")),
        Decision::Reject {
            reason: "customer 102 is frozen: its resources are not unsubscribed until it is unfrozen".into()
        }
    );
    // Not its concern: another action is approved.
    assert_eq!(
        decide(FreezeState::AccountFrozen, ActionDetail::Cancel { order: 9007 }),
        Decision::Approve
    );
}

#[test]
fn an_extension_0_3_0_rule_is_not_sent_an_action_the_host_cannot_describe_in_full() {
    let runtime = runtime();
    let plugin = runtime
        .install(
            manifest("unsubscribe-approval", "approval-rule@0.3.0", demo::RESELLER, &[]),
            &built::read(built::UNSUBSCRIBE_APPROVAL),
        )
        .expect("install");
    // A coupon issue names its quota only in the detail: without it the input is refused,
    // before the plugin runs, naming the field.
    let request = request(ApprovalKind::CouponIssue, 102, FreezeState::NotFrozen, "100");
    match runtime.decide(&plugin.id, &request, demo_data()) {
        Err(pchost_runtime::InvokeError::Input(pchost_runtime::model::InputError::Invalid { field, .. })) => {
            assert_eq!(field, "action")
        }
        other => panic!("expected a refused input, got {other:?}"),
    }
}
