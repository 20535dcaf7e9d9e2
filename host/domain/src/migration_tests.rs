//! Databases that older releases migrated upgraded by the new migrations without losing a row.

use crate::entities::PartnerKind;
use crate::store::{SQLITE_MIGRATIONS, Store};
use crate::testing::{SqliteFile, migrations_up_to, remove_sqlite_files};

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
        ("phone_verifications", 1),
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
