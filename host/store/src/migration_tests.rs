//! Ids numbered alike on both engines, and databases that older releases migrated upgraded
//! by the new migrations without losing a row.

use crate::accounts::Actor;
use crate::demo::{self, DemoData};
use crate::entities::*;
use crate::invoicing::{InvoiceScope, Issuer, NewInvoiceRequest};
use crate::orders::{NewOrder, NewOrderLine};
use crate::partners::NewCustomer;
use crate::store::{SQLITE_MIGRATIONS, Store};
use crate::testing::{PostgresDatabase, SqliteFile, migrations_up_to, on_both_backends, remove_sqlite_files};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use sqlx::Row;

fn next_id_is(store: &Store, table: &str, id: i64, expected: i64) {
    assert_eq!(id, expected, "{table}: the new row's id on {:?}", store.backend());
}

async fn highest(store: &Store, table: &str, column: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(&format!("SELECT COALESCE(MAX({column}), 0) FROM {table}"))
        .fetch_one(store.pool())
        .await
        .expect("highest id")
}

/// A product: no operation creates one, so it is inserted as the demo does, without an id.
async fn new_product(store: &Store) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO products (seller, service_type, resource_type, spec_code, region, charging_mode) \
         VALUES (NULL, 'ecs', 'vm', 'c1', 'cn-north-1', 'on-demand') RETURNING id",
    )
    .fetch_one(store.pool())
    .await
    .expect("product")
}

fn new_customer(partner: PartnerId, account_name: &str) -> NewCustomer {
    NewCustomer {
        partner,
        account_name: account_name.into(),
        association: Association::Referral,
        customer_type: CustomerType::Enterprise,
        country: "CN".into(),
        manager: None,
    }
}

on_both_backends! {
    async fn a_fresh_database_numbers_new_rows_from_1(store: Store) {
        let now = Utc::now();
        let partner = store.create_partner(PartnerKind::Reseller, "First", "CN").await.expect("partner");
        next_id_is(&store, "partners", partner.id, 1);
        let staff = store.create_staff(partner.id, Role::PartnerAdmin, None).await.expect("staff");
        next_id_is(&store, "staff", staff.id, 1);
        let customer = store.create_customer(&new_customer(partner.id, "first"), now).await.expect("customer");
        next_id_is(&store, "customers", customer.id, 1);
        next_id_is(&store, "products", new_product(&store).await, 1);
        // An order needs a priced product, an invoice request an order: both inserted directly.
        let order: i64 = sqlx::query_scalar(
            "INSERT INTO orders (customer, kind, status, currency, list_amount, amount, created_at, paid_by_partner) \
             VALUES ($1, 'new', 'pending-payment', 'CNY', '1.00', '1.00', 0, 0) RETURNING id",
        )
        .bind(customer.id)
        .fetch_one(store.pool())
        .await
        .expect("order");
        next_id_is(&store, "orders", order, 1);
        let request: i64 = sqlx::query_scalar(
            "INSERT INTO invoice_requests (customer, basis, kind, medium, amount, currency, status, requested_at) \
             VALUES ($1, 'order', 'vat-general', 'electronic', '1.00', 'CNY', 'requested', 0) RETURNING id",
        )
        .bind(customer.id)
        .fetch_one(store.pool())
        .await
        .expect("invoice request");
        next_id_is(&store, "invoice_requests", request, 1);
    }

    async fn ids_after_the_demo_follow_the_highest_demo_id(store: Store) {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().expect("date");
        store.seed_demo_if_empty(&DemoData::new(now)).await.expect("seed");

        let expected = highest(&store, "partners", "id").await + 1;
        let partner = store.create_partner(PartnerKind::Reseller, "After the demo", "CN").await.expect("partner");
        next_id_is(&store, "partners", partner.id, expected);

        let expected = highest(&store, "staff", "id").await + 1;
        let staff = store.create_staff(demo::RESELLER, Role::Salesperson, None).await.expect("staff");
        next_id_is(&store, "staff", staff.id, expected);

        let expected = highest(&store, "customers", "id").await + 1;
        let customer = store.create_customer(&new_customer(demo::RESELLER, "after-the-demo"), now).await.expect("customer");
        next_id_is(&store, "customers", customer.id, expected);

        let expected = highest(&store, "products", "id").await + 1;
        next_id_is(&store, "products", new_product(&store).await, expected);

        let expected = highest(&store, "orders", "id").await + 1;
        let price = Decimal::new(1000, 2);
        let order = NewOrder {
            customer: demo::STANDARD_CUSTOMER,
            currency: "CNY".parse().expect("currency"),
            lines: vec![NewOrderLine { product: 2001, period: PeriodType::Month, period_count: 1, quantity: 1, list_unit_price: price, unit_price: price }],
            quote: None,
        };
        let actor = Actor { role: Role::PartnerAdmin, partner: Some(demo::RESELLER), id: Some(demo::STAFF_ADMIN), on_behalf_of: None };
        let created = store.create_order(&order, &actor, "after-the-demo", now).await.expect("order");
        next_id_is(&store, "orders", created.id, expected);

        let expected = highest(&store, "invoice_requests", "id").await + 1;
        let request = NewInvoiceRequest {
            customer: demo::KEY_ACCOUNT_CUSTOMER,
            issuer: Issuer::Partner(demo::RESELLER),
            scope: InvoiceScope::Order { order: 9001 },
            kind: InvoiceKind::VatSpecial,
            medium: InvoiceMedium::Digital,
            currency: "CNY".parse().expect("currency"),
        };
        let (id, _) = store.request_invoice(&request, now).await.expect("invoice request");
        next_id_is(&store, "invoice_requests", id, expected);
    }
}

/// After the demo, every PostgreSQL identity (not only those the demo's explicit ids touch)
/// gives an id above its table's highest: what the list in `seed_demo_if_empty` must cover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "PostgreSQL: set PCHOST_TEST_POSTGRES_URL to run")]
async fn after_the_demo_every_postgres_identity_is_past_its_highest_id() {
    let database = PostgresDatabase::create().await;
    let store = database.store.clone();
    let now = Utc::now();
    store.seed_demo_if_empty(&DemoData::new(now)).await.expect("seed");
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .expect("identity columns");
    assert!(identities.len() > 10, "{identities:?}");
    let mut behind = Vec::new();
    for (table, column) in &identities {
        let sequence: String = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
            .bind(table)
            .bind(column)
            .fetch_one(store.pool())
            .await
            .expect("sequence");
        let next: i64 = sqlx::query_scalar(&format!(
            "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {sequence}"
        ))
        .fetch_one(store.pool())
        .await
        .expect("next value");
        let highest = highest(&store, table, column).await;
        if next != highest + 1 {
            behind.push(format!("{table}.{column}: next {next}, highest {highest}"));
        }
    }
    database.drop().await;
    assert!(
        behind.is_empty(),
        "identities not right after the highest id: {behind:#?}"
    );
}

// ---- Databases that older releases migrated up to 0016, upgraded by 0017 ------------------

/// A frozen partner, a reseller whose id is above its child's, and rows in tables that
/// refer to partners, as an older release could have written them.
const SQLITE_ROWS_AT_0016: &str = "
    INSERT INTO partners (id, kind, name, distributor, country, frozen) VALUES
        (1, 'distributor', 'Frozen distributor', NULL, 'CN', 1),
        (7, 'reseller', 'Reseller', 1, 'CN', 0),
        (10, 'seller', 'Seller', NULL, 'CN', 0);
    INSERT INTO partners (id, kind, name, distributor, country, frozen) VALUES
        (3, 'reseller', 'Reseller under 7', 7, 'CN', 0);
    INSERT INTO customers (id, partner, account_name, association, associated_at, real_name, customer_type, freeze, country)
        VALUES (101, 7, 'lotus', 'resale', 0, 'none', 'enterprise', 'not-frozen', 'CN');
    INSERT INTO products (id, seller, service_type, resource_type, spec_code, region, charging_mode)
        VALUES (2001, 10, 'ecs', 'vm', 'c1', 'cn-north-1', 'on-demand');
    INSERT INTO staff (id, partner, role, supervisor) VALUES (500, 7, 'partner-admin', NULL);
    INSERT INTO plugin_versions (owner, name, version, digest, world, manifest, installed_at, size_bytes)
        VALUES (7, 'rule', '0.1.0', 'aa', 'pricing-rule', 'm', 0, 1);
    INSERT INTO invitations (token, partner, customer, channel, created_at) VALUES ('token', 7, 101, 'online', 0);
    INSERT INTO phone_verifications (phone, code_hash, expires_at) VALUES ('+8613800000000', 'hash', 0);
    INSERT INTO capability_labels (partner, label, granted_at) VALUES (7, 'label', 0);
    INSERT INTO coupon_quotas (id, partner, currency, amount_cents, balance_cents, max_face_cents, status)
        VALUES (1, 1, 'CNY', 100, 100, 10, 'normal');
    INSERT INTO authorizations (partner, customer, status, terms_agreed_at, updated_at) VALUES (7, 101, 'granted', 0, 0);
";

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(store.pool()).await.expect(sql)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_to_0017_keeps_every_row_and_adds_the_constraints() {
    let database = SqliteFile::upgraded_from(16, SQLITE_ROWS_AT_0016).await;
    let store = database.store.clone();
    for (table, rows) in [
        ("partners", 4),
        ("customers", 1),
        ("products", 1),
        ("staff", 1),
        ("plugin_versions", 1),
        ("invitations", 1),
        // 0031 keys codes by partner and drops those pending (valid ten minutes).
        ("phone_verifications", 0),
        ("capability_labels", 1),
        ("coupon_quotas", 1),
        ("authorizations", 1),
    ] {
        assert_eq!(
            count(&store, &format!("SELECT COUNT(*) FROM {table}")).await,
            rows,
            "{table}"
        );
    }
    let frozen = store.partner(1).await.expect("read").expect("the frozen partner");
    assert!(frozen.frozen, "frozen = 1 survives the rebuild");
    let child = store.partner(3).await.expect("read").expect("the reseller under 7");
    assert_eq!(child.distributor, Some(7));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM pragma_foreign_key_check").await, 0);
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(store.pool())
        .await
        .expect("integrity");
    assert_eq!(integrity, "ok");

    for refused in [
        "UPDATE partners SET frozen = 2 WHERE id = 7",
        "INSERT INTO phone_verifications (phone, code_hash, expires_at) VALUES (NULL, 'h', 0)",
        "INSERT INTO invitations (token, partner, customer, channel, created_at) VALUES (NULL, 7, 101, 'online', 0)",
        "DELETE FROM partners WHERE id = 7",
    ] {
        assert!(
            sqlx::query(refused).execute(store.pool()).await.is_err(),
            "{refused} is refused after 0017"
        );
    }
    let partner = store
        .create_partner(PartnerKind::Reseller, "New", "CN")
        .await
        .expect("partner");
    assert_eq!(partner.id, 11, "numbered after the highest id");
    database.remove().await;
}

/// A row that breaks a new constraint stops the upgrade before anything changes: the
/// database stays as 0016 left it, rows and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_to_0017_fails_whole_on_a_row_it_cannot_keep() {
    let path = SqliteFile::next_path();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    sqlx::any::install_default_drivers();
    let older = sqlx::AnyPool::connect(&url).await.expect("SQLite test database");
    migrations_up_to(&SQLITE_MIGRATIONS, 16)
        .run(&older)
        .await
        .expect("up to 0016");
    sqlx::raw_sql(SQLITE_ROWS_AT_0016).execute(&older).await.expect("rows");
    sqlx::query("UPDATE partners SET frozen = 2 WHERE id = 10")
        .execute(&older)
        .await
        .expect("a flag SQLite did not check");
    older.close().await;

    let upgraded = Store::open(&path).await;
    let after = sqlx::AnyPool::connect(&url).await.expect("reopen");
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&after)
        .await
        .expect("version");
    let partners: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM partners")
        .fetch_one(&after)
        .await
        .expect("partners");
    let flag: i64 = sqlx::query_scalar("SELECT frozen FROM partners WHERE id = 10")
        .fetch_one(&after)
        .await
        .expect("flag");
    after.close().await;
    remove_sqlite_files(&path);
    let error = upgraded.map(|_| ()).expect_err("the upgrade fails");
    assert!(error.to_string().contains("CHECK constraint failed"), "{error}");
    assert_eq!((version, partners, flag), (16, 4, 2), "nothing changed");
}

async fn next_partner_id(store: &Store) -> i64 {
    store
        .create_partner(PartnerKind::Reseller, "New", "CN")
        .await
        .expect("partner")
        .id
}

const POSTGRES_DEMO_AT_0016: &str = "
    INSERT INTO partners (id, kind, name, distributor, country, frozen) VALUES
        (1, 'distributor', 'Distributor', NULL, 'CN', 1), (2, 'reseller', 'Reseller', 1, 'CN', 0);
    INSERT INTO products (id, seller, service_type, resource_type, spec_code, region, charging_mode)
        VALUES (2001, NULL, 'ecs', 'vm', 'c1', 'cn-north-1', 'on-demand');
";

/// No id generated yet: the sequences move to just past the highest id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "PostgreSQL: set PCHOST_TEST_POSTGRES_URL to run")]
async fn postgres_upgrade_to_0017_numbers_after_the_highest_id() {
    let database = PostgresDatabase::upgraded_from(16, POSTGRES_DEMO_AT_0016).await;
    let store = database.store.clone();
    assert_eq!(next_partner_id(&store).await, 3);
    assert_eq!(
        new_product(&store).await,
        2002,
        "products now numbered, after the demo's"
    );
    let frozen = store.partner(1).await.expect("read").expect("the frozen partner");
    assert!(frozen.frozen);
    database.drop().await;
}

/// Ids already generated from 100000: numbering goes on from there, never giving one twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "PostgreSQL: set PCHOST_TEST_POSTGRES_URL to run")]
async fn postgres_upgrade_to_0017_continues_ids_already_generated() {
    let generated = format!(
        "{POSTGRES_DEMO_AT_0016} INSERT INTO partners (kind, name, country) VALUES ('reseller', 'Generated', 'CN');"
    );
    let database = PostgresDatabase::upgraded_from(16, &generated).await;
    let store = database.store.clone();
    let highest: i64 = sqlx::query_scalar("SELECT MAX(id) FROM partners")
        .fetch_one(store.pool())
        .await
        .expect("highest");
    assert_eq!(highest, 100_000, "generated under 0016");
    assert_eq!(next_partner_id(&store).await, 100_001);
    database.drop().await;
}

// ---- A database at 0027, upgraded by 0028: the terms of resources bought before -----------

/// An order of two lines of one product (10 units for 1,000.00, 1 unit for 100.00) that made
/// two resources, and a paid renewal of the first, as an older release wrote them.
const ROWS_AT_0027: &str = "
    INSERT INTO partners (id, kind, name, distributor, country, frozen) VALUES
        (1, 'distributor', 'Distributor', NULL, 'CN', 0),
        (7, 'reseller', 'Reseller', 1, 'CN', 0);
    INSERT INTO customers (id, partner, account_name, association, associated_at, real_name, customer_type, \"freeze\", country)
        VALUES (101, 7, 'lotus', 'resale', 0, 'none', 'enterprise', 'not-frozen', 'CN');
    INSERT INTO products (id, seller, service_type, resource_type, spec_code, region, charging_mode)
        VALUES (2001, NULL, 'ecs', 'vm', 'c1', 'cn-north-1', 'yearly-monthly');
    INSERT INTO orders (id, customer, kind, status, currency, list_amount, amount, created_at, paid_by)
        VALUES (1, 101, 'new', 'completed', 'CNY', '1100.00', '1100.00', 0, 'customer:101');
    INSERT INTO order_lines (order_id, line, product, period, period_count, quantity, list_unit_price, unit_price, amount) VALUES
        (1, 0, 2001, 'month', 1, 10, '100.00', '100.00', '1000.00'),
        (1, 1, 2001, 'month', 1, 1, '100.00', '100.00', '100.00');
    INSERT INTO resources (id, customer, product, period, status, expiry_policy, effective_at, expires_at, main_resource, order_id, quantity) VALUES
        (1, 101, 2001, 'month', 'in-use', 'grace-period', 0, 5270400000, NULL, 1, 10),
        (2, 101, 2001, 'month', 'in-use', 'grace-period', 0, 2592000000, NULL, 1, 1);
    INSERT INTO orders (id, customer, kind, status, currency, list_amount, amount, created_at, paid_by, renews_resource)
        VALUES (2, 101, 'renew', 'completed', 'CNY', '1000.00', '1000.00', 0, 'customer:101', 1);
    INSERT INTO order_lines (order_id, line, product, period, period_count, quantity, list_unit_price, unit_price, amount)
        VALUES (2, 0, 2001, 'month', 1, 10, '100.00', '100.00', '1000.00');
";

/// Each resource gets the line of its own quantity, and the renewal its term.
async fn terms_after_0028(store: &Store) {
    let rows = sqlx::query("SELECT resource_id, order_id, line FROM resource_terms ORDER BY resource_id, order_id")
        .fetch_all(store.pool())
        .await
        .expect("terms");
    let terms: Vec<(i64, i64, Option<i64>)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("resource_id").expect("resource"),
                r.try_get("order_id").expect("order"),
                r.try_get("line").expect("line"),
            )
        })
        .collect();
    assert_eq!(terms, [(1, 1, Some(0)), (1, 2, Some(0)), (2, 1, Some(1))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_to_0028_gives_each_resource_its_own_lines_term() {
    let database = SqliteFile::upgraded_from(27, ROWS_AT_0027).await;
    terms_after_0028(&database.store).await;
    database.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "PostgreSQL: set PCHOST_TEST_POSTGRES_URL to run")]
async fn postgres_upgrade_to_0028_gives_each_resource_its_own_lines_term() {
    let database = PostgresDatabase::upgraded_from(27, ROWS_AT_0027).await;
    terms_after_0028(&database.store).await;
    database.drop().await;
}

// ---- A database at 0029, upgraded by 0030: billing-cycle invoices before 0023 --------------

/// A billing-cycle invoice request for October 2026 made before 0023 (it recorded no orders),
/// an order paid in October and one paid in November.
const CYCLE_ROWS_AT_0029: &str = "
    INSERT INTO partners (id, kind, name, distributor, country, frozen) VALUES
        (1, 'distributor', 'Distributor', NULL, 'CN', 0),
        (7, 'reseller', 'Reseller', 1, 'CN', 0);
    INSERT INTO customers (id, partner, account_name, association, associated_at, real_name, customer_type, \"freeze\", country)
        VALUES (101, 7, 'lotus', 'resale', 0, 'none', 'enterprise', 'not-frozen', 'CN');
    INSERT INTO invoice_requests (id, customer, basis, kind, medium, amount, currency, status, requested_at, cycle)
        VALUES (5, 101, 'billing-cycle', 'vat-general', 'electronic', '100.00', 'CNY', 'submitted', 1793836800000, '2026-10');
    INSERT INTO orders (id, customer, kind, status, currency, list_amount, amount, created_at, paid_at, paid_by) VALUES
        (1, 101, 'new', 'completed', 'CNY', '100.00', '100.00', 1791536000000, 1791536000000, 'customer:101'),
        (2, 101, 'new', 'completed', 'CNY', '50.00', '50.00', 1793536000000, 1793536000000, 'customer:101');
";

/// October's order is the October request's; November's is still to invoice.
async fn cycle_orders_after_0030(store: &Store) {
    let claimed: Vec<(i64, Option<i64>)> = sqlx::query("SELECT id, invoice_request FROM orders ORDER BY id")
        .fetch_all(store.pool())
        .await
        .expect("orders")
        .iter()
        .map(|r| {
            (
                r.try_get("id").expect("id"),
                r.try_get("invoice_request").expect("invoice request"),
            )
        })
        .collect();
    assert_eq!(claimed, [(1, Some(5)), (2, None)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_to_0030_marks_the_orders_of_earlier_cycle_invoices() {
    let database = SqliteFile::upgraded_from(29, CYCLE_ROWS_AT_0029).await;
    cycle_orders_after_0030(&database.store).await;
    database.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "PostgreSQL: set PCHOST_TEST_POSTGRES_URL to run")]
async fn postgres_upgrade_to_0030_marks_the_orders_of_earlier_cycle_invoices() {
    let database = PostgresDatabase::upgraded_from(29, CYCLE_ROWS_AT_0029).await;
    cycle_orders_after_0030(&database.store).await;
    database.drop().await;
}
