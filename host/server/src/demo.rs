//! What `serve --demo` adds to the domain's demo data set: an API key per demo principal
//! (documented in the README), balances, coupon quotas and a resource, all written through
//! the domain's own operations so that the ledger adds up. Never use `--demo` in production:
//! its keys are public.

use chrono::{Duration, Utc};
use pchost_domain::{Currency, PeriodType, Role};
use pchost_store::accounts::{AccountKind, AccountOwner, Actor, AllocationTarget};
use pchost_store::demo;
use pchost_store::keys::{KeyPrincipal, NewApiKey};
use pchost_store::resources::ExpiryPolicy;
use pchost_store::store::Store;
use rust_decimal::Decimal;

/// The demo resource: customer 102's monthly subscription of product 2001, from order 9003.
pub const DEMO_RESOURCE_OF_102: i64 = 1;

/// Seeds the keys, money, quotas and resource of the demo.
pub async fn seed(store: &Store) -> anyhow::Result<()> {
    seed_demo_keys(store).await?;
    let now = Utc::now();
    let operator = Actor {
        role: Role::PlatformOperator,
        partner: None,
        id: None,
        on_behalf_of: None,
    };
    let cny = Currency::CNY;
    let amount = |s: &str| Decimal::from_str_exact(s);
    for (partner, cash) in [
        (demo::DISTRIBUTOR, "500000.00"),
        (demo::RESELLER, "100000.00"),
        (demo::OTHER_RESELLER, "20000.00"),
        (demo::SOLUTION_PROVIDER, "50000.00"),
    ] {
        let account = store
            .open_account(AccountOwner::Partner(partner), AccountKind::Cash, cny, Decimal::ZERO)
            .await?;
        // Keyed like any top-up; seeding runs once, on an empty database.
        store
            .top_up(
                account.id,
                amount(cash)?,
                &operator,
                &format!("demo-top-up-{partner}"),
                now,
            )
            .await?;
    }
    let reseller_admin = Actor {
        role: Role::PartnerAdmin,
        partner: Some(demo::RESELLER),
        id: Some(demo::STAFF_ADMIN),
        on_behalf_of: None,
    };
    for (customer, cash) in [
        (demo::KEY_ACCOUNT_CUSTOMER, "20000.00"),
        (demo::STANDARD_CUSTOMER, "5000.00"),
    ] {
        let actor = Actor {
            on_behalf_of: Some(format!("customer:{customer}")),
            ..reseller_admin.clone()
        };
        store
            .allocate(
                demo::RESELLER,
                AllocationTarget::Customer(customer),
                cny,
                amount(cash)?,
                &actor,
                &format!("demo-allocation-{customer}"),
                now,
            )
            .await?;
    }
    store
        .create_quota(demo::DISTRIBUTOR, cny, amount("50000.00")?, amount("1000.00")?)
        .await?;
    store
        .create_quota(demo::RESELLER, cny, amount("10000.00")?, amount("500.00")?)
        .await?;
    store
        .create_resource(
            demo::STANDARD_CUSTOMER,
            2001,
            PeriodType::Month,
            ExpiryPolicy::GracePeriod,
            now - Duration::days(10),
            now + Duration::days(20),
            None,
            Some(9003),
        )
        .await?;
    Ok(())
}

/// The keys of the demo principals, documented in the README. They exist only in a database
/// seeded with `--demo`.
pub const DEMO_KEYS: &[(&str, &str)] = &[
    ("pch_demo_operator", "operator"),
    ("pch_demo_distributor_admin", "staff:504"),
    ("pch_demo_reseller_admin", "staff:500"),
    ("pch_demo_reseller_admin_2", "staff:509"),
    ("pch_demo_reseller_manager", "staff:501"),
    ("pch_demo_reseller_supervisor", "staff:502"),
    ("pch_demo_reseller_salesperson", "staff:503"),
    ("pch_demo_seller_admin", "staff:505"),
    ("pch_demo_customer_101", "customer:101"),
    ("pch_demo_customer_102", "customer:102"),
];

/// Creates the [`DEMO_KEYS`].
async fn seed_demo_keys(store: &Store) -> anyhow::Result<()> {
    for (key, principal) in DEMO_KEYS {
        let principal = match principal.split_once(':') {
            Some(("staff", id)) => KeyPrincipal::Staff(id.parse()?),
            Some(("customer", id)) => KeyPrincipal::Customer(id.parse()?),
            _ => KeyPrincipal::Operator,
        };
        store
            .create_api_key(
                &NewApiKey {
                    name: "demo".into(),
                    key_hash: crate::auth::hash_key(key),
                    prefix: (*key).into(),
                    principal,
                    scopes: vec!["*".into()],
                    created_by: "demo".into(),
                    expires_at: None,
                    parent_key: None,
                },
                chrono::Utc::now(),
            )
            .await?;
    }
    Ok(())
}

/// The ids of the [`DEMO_KEYS`], and of the keys made with them, that still work in `store`:
/// a database seeded with `--demo` keeps them until they are revoked, and their secrets are
/// public (so is whatever anyone made with them).
pub async fn usable_demo_keys(store: &Store) -> anyhow::Result<Vec<i64>> {
    let now = Utc::now();
    let mut demo = Vec::new();
    for (key, _) in DEMO_KEYS {
        if let Some(found) = store.api_key_by_hash(&crate::auth::hash_key(key)).await? {
            demo.push(found);
        }
    }
    let ids: Vec<i64> = demo.iter().map(|k| k.id).collect();
    let mut usable: Vec<i64> = demo.iter().filter(|k| k.usable_at(now)).map(|k| k.id).collect();
    usable.extend(store.usable_descendants(&ids, now).await?);
    Ok(usable)
}

/// Revokes every [`DEMO_KEYS`] key, and key made with one, that still works; returns how many
/// it revoked.
pub async fn revoke_demo_keys(store: &Store) -> anyhow::Result<usize> {
    let mut revoked = 0;
    for id in usable_demo_keys(store).await? {
        if store.revoke_api_key(id, Utc::now()).await? {
            revoked += 1;
        }
    }
    Ok(revoked)
}
