//! Storage of the partner-center data: an embedded SQLite file by default, PostgreSQL for
//! scale-out. One code path serves both through sqlx's `Any` driver: SQL uses `$N`
//! placeholders (both engines accept them), money is TEXT holding an exact decimal, times are
//! 64-bit milliseconds, flags are 0/1 integers. Each engine has its own embedded migrations.

use crate::bindings::{NewPluginVersion, PluginQuota, PluginUsage, Recorded};
use crate::demo::DemoData;
use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode};
use crate::money::Currency;
use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Row};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

pub(crate) static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
pub(crate) static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Why a store operation did not happen: a business rule refused it (nothing was written),
/// or the storage itself failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A rule refused the operation; the transaction wrote nothing.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("unsupported database URL {0:?}: use sqlite:<path> or postgres://...")]
    UnsupportedUrl(String),
    /// A stored value does not parse: the database was written by something else.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What did not parse.
        detail: String,
    },
    /// The operating system gave no randomness for a secret (a token, a code).
    #[error("no randomness from the operating system: {0}")]
    Randomness(String),
}

/// `N` bytes from the operating system's CSPRNG: what secrets (invitation tokens, verification
/// codes) are made of, never a hasher's keys.
pub(crate) fn os_random<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Randomness(e.to_string()))?;
    Ok(bytes)
}

impl StoreError {
    /// The stable code: the refusal's, or `internal` for a storage failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Refused(refusal) => refusal.code(),
            _ => ErrorCode::Internal,
        }
    }
}

/// Which database engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (or memory).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The partner-center store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Queues this process's hottest SQLite writers (see [`Store::sqlite_writer`]).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// The URL it was opened with, for a connection of its own (see `changes`).
    url: DatabaseUrl,
}

/// A database URL, never printed: it may hold a password.
#[derive(Clone)]
struct DatabaseUrl(Arc<str>);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(..)")
    }
}

/// An installed plugin version as recorded in the store (its manifest is read on its own:
/// [`Store::plugin_manifest`], only for a version a runtime has not loaded).
#[derive(Clone, Debug, PartialEq)]
pub struct PluginRecord {
    /// The owning partner.
    pub owner: PartnerId,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// sha256 of the component, hex.
    pub digest: String,
    /// Whether the database holds its component (see [`Store::plugin_component`]).
    pub component_stored: bool,
}

impl PluginRecord {
    /// `owner/name@version`, as the runtime names a loaded version.
    pub fn id(&self) -> String {
        format!("{}/{}@{}", self.owner, self.name, self.version)
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite file at `path` and applies the migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let path = path
            .to_str()
            .ok_or_else(|| StoreError::UnsupportedUrl(path.display().to_string()))?;
        Self::connect(&format!("sqlite://{path}?mode=rwc")).await
    }

    /// A private in-memory SQLite database, for tests and one-off runs.
    pub async fn in_memory() -> Result<Self, StoreError> {
        Self::connect("sqlite::memory:").await
    }

    /// Connects to `sqlite:...` or `postgres://...` and applies that engine's migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            // The scheme only: the rest may hold a password.
            let scheme = url.split_once(':').map_or("(none)", |(scheme, _)| scheme);
            return Err(StoreError::UnsupportedUrl(format!("{scheme}:...")));
        };
        // One connection for an in-memory database: each connection would get its own.
        let in_memory = url.contains(":memory:");
        let pool = AnyPoolOptions::new()
            .max_connections(if in_memory { 1 } else { 8 })
            // SQLite serialises writers; the pool's wait is bounded by its acquire timeout.
            .connect(url)
            .await?;
        match backend {
            Backend::Sqlite => {
                if !in_memory {
                    // Readers never block the writer; persistent for the file.
                    sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
                }
                SQLITE_MIGRATIONS.run(&pool).await?;
            }
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store {
            pool,
            backend,
            writer: Arc::new(tokio::sync::Mutex::new(())),
            url: DatabaseUrl(Arc::from(url)),
        })
    }

    /// A turn to write, on SQLite: it has one writer at a time, and connections that find the
    /// file locked wait in its busy handler, which sleeps in steps of up to 100 ms. Under load
    /// that put the p99 of quotes at over half a second. The hottest writes (quotes, invocation
    /// records) take turns in a fair queue here instead; PostgreSQL needs none.
    pub(crate) async fn sqlite_writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.writer.lock().await),
            Backend::Postgres => None,
        }
    }

    /// The connection pool, for the operations of the other domain modules.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// An order that must exist.
    pub async fn existing_order(&self, id: OrderId) -> Result<Order, StoreError> {
        self.order(id).await?.ok_or(
            crate::errors::DomainError::NotFound {
                what: Entity::Order,
                id,
            }
            .into(),
        )
    }

    /// A customer that must exist.
    pub async fn existing_customer(&self, id: CustomerId) -> Result<Customer, StoreError> {
        self.customer(id).await?.ok_or(
            crate::errors::DomainError::NotFound {
                what: Entity::Customer,
                id,
            }
            .into(),
        )
    }

    /// The engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The URL it was opened with.
    pub(crate) fn url(&self) -> &str {
        &self.url.0
    }

    /// Closes every connection (before dropping a test database, say).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Loads the demo data set unless the store already holds partners. Returns whether it
    /// loaded. All or nothing: one transaction.
    pub async fn seed_demo_if_empty(&self, demo: &DemoData) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM partners")
            .fetch_one(&mut *tx)
            .await?;
        if count > 0 {
            return Ok(false);
        }
        for p in &demo.partners {
            sqlx::query(
                "INSERT INTO partners (id, kind, name, distributor, country, frozen) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(p.id)
            .bind(p.kind.as_str())
            .bind(&p.name)
            .bind(p.distributor)
            .bind(&p.country)
            .bind(i64::from(p.frozen))
            .execute(&mut *tx)
            .await?;
        }
        for c in &demo.customers {
            sqlx::query("INSERT INTO customers (id, partner, account_name, association, associated_at, real_name, customer_type, \"freeze\", manager, country, level) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                .bind(c.id).bind(c.partner).bind(&c.account_name).bind(c.association.as_str())
                .bind(c.associated_at.timestamp_millis()).bind(c.real_name.as_str())
                .bind(c.customer_type.as_str()).bind(c.freeze.as_str()).bind(c.manager)
                .bind(&c.country).bind(i64::from(c.level))
                .execute(&mut *tx).await?;
        }
        for p in &demo.products {
            sqlx::query("INSERT INTO products (id, seller, service_type, resource_type, spec_code, region, charging_mode) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(p.id).bind(p.seller).bind(&p.service_type).bind(&p.resource_type)
                .bind(&p.spec_code).bind(&p.region).bind(p.charging_mode.as_str())
                .execute(&mut *tx).await?;
        }
        for p in &demo.prices {
            sqlx::query("INSERT INTO list_prices (product, period, amount, currency) VALUES ($1, $2, $3, $4)")
                .bind(p.product)
                .bind(p.period.as_str())
                .bind(p.amount.to_string())
                .bind(p.currency.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for o in &demo.orders {
            // The demo's paid orders were paid by their customers: refunds go back to them.
            let paid_by = o.paid_at.map(|_| format!("customer:{}", o.customer));
            sqlx::query("INSERT INTO orders (id, customer, kind, status, currency, list_amount, amount, created_at, paid_at, paid_by_partner, paid_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                .bind(o.id).bind(o.customer).bind(o.kind.as_str()).bind(o.status.as_str())
                .bind(o.currency.as_str()).bind(o.list_amount.to_string()).bind(o.amount.to_string())
                .bind(o.created_at.timestamp_millis()).bind(o.paid_at.map(|t| t.timestamp_millis()))
                .bind(i64::from(o.paid_by_partner))
                .bind(paid_by)
                .execute(&mut *tx).await?;
        }
        for i in &demo.invoice_infos {
            sqlx::query("INSERT INTO invoice_infos (customer, title_type, title, tax_id) VALUES ($1, $2, $3, $4)")
                .bind(i.customer)
                .bind(i.title_type.as_str())
                .bind(&i.title)
                .bind(&i.tax_id)
                .execute(&mut *tx)
                .await?;
        }
        for r in &demo.invoice_requests {
            sqlx::query("INSERT INTO invoice_requests (id, customer, basis, kind, medium, amount, currency, status, requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(r.id).bind(r.customer).bind(r.basis.as_str()).bind(r.kind.as_str())
                .bind(r.medium.as_str()).bind(r.amount.to_string()).bind(r.currency.as_str())
                .bind(r.status.as_str()).bind(r.requested_at.timestamp_millis())
                .execute(&mut *tx).await?;
        }
        for m in &demo.staff {
            sqlx::query("INSERT INTO staff (id, partner, role, supervisor) VALUES ($1, $2, $3, $4)")
                .bind(m.id)
                .bind(m.partner)
                .bind(m.role.as_str())
                .bind(m.supervisor)
                .execute(&mut *tx)
                .await?;
        }
        for &customer in &demo.authorizations {
            let Some(c) = demo.customers.iter().find(|c| c.id == customer) else {
                return Err(corrupt(
                    "authorizations",
                    format!("demo customer {customer} is not in the demo"),
                ));
            };
            let at = c.associated_at.timestamp_millis();
            sqlx::query("INSERT INTO authorizations (partner, customer, status, terms_agreed_at, updated_at) VALUES ($1, $2, 'granted', $3, $3)")
                .bind(c.partner)
                .bind(c.id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            // Requested by the partner's admin, granted by the customer (rule 21).
            let admin = demo
                .staff
                .iter()
                .find(|m| m.partner == c.partner && m.role == Role::PartnerAdmin);
            let actor = |role, id| crate::accounts::Actor {
                role,
                partner: Some(c.partner),
                id,
                on_behalf_of: None,
            };
            use crate::authorizations::AuthorizationStatus::{Granted, Requested};
            for (status, actor) in [
                (Requested, actor(Role::PartnerAdmin, admin.map(|m| m.id))),
                (Granted, actor(Role::Customer, Some(c.id))),
            ] {
                sqlx::query("INSERT INTO authorization_events (partner, customer, status, actor, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(c.partner)
                    .bind(c.id)
                    .bind(status.as_str())
                    .bind(actor.label())
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        // A PostgreSQL identity does not see explicit ids: move each past the demo's, so new
        // rows follow the highest id, as SQLite numbers them.
        if self.backend == Backend::Postgres {
            for table in [
                "partners",
                "customers",
                "products",
                "orders",
                "invoice_requests",
                "staff",
            ] {
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}"
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// One partner.
    pub async fn partner(&self, id: PartnerId) -> Result<Option<Partner>, StoreError> {
        let row = sqlx::query(&format!("{PARTNER_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(partner_from_row).transpose()
    }

    /// One customer.
    pub async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        let row = sqlx::query(&format!("{CUSTOMER_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// A page of the customers of the given partners, by id, after `after`.
    pub async fn customers_of(
        &self,
        partners: &[PartnerId],
        after: CustomerId,
        limit: u32,
    ) -> Result<Vec<Customer>, StoreError> {
        if partners.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=partners.len()).map(|i| format!("${i}")).collect();
        let (after_at, limit_at) = (partners.len() + 1, partners.len() + 2);
        let sql = format!(
            "{CUSTOMER_COLUMNS} WHERE partner IN ({}) AND id > ${after_at} ORDER BY id LIMIT ${limit_at}",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for p in partners {
            query = query.bind(p);
        }
        let rows = query.bind(after).bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(customer_from_row).collect()
    }

    /// The resellers of a distributor.
    pub async fn resellers_of(&self, distributor: PartnerId) -> Result<Vec<PartnerId>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT id FROM partners WHERE distributor = $1 ORDER BY id")
                .bind(distributor)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// One order.
    pub async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let row = sqlx::query(&format!("{ORDER_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    /// The newest orders of a customer.
    pub async fn recent_orders(&self, customer: CustomerId, limit: u32) -> Result<Vec<Order>, StoreError> {
        let rows = sqlx::query(&format!(
            "{ORDER_COLUMNS} WHERE customer = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(customer)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(order_from_row).collect()
    }

    /// One product.
    pub async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        let row = sqlx::query("SELECT id, seller, service_type, resource_type, spec_code, region, charging_mode FROM products WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Product {
                id: r.try_get("id")?,
                seller: r.try_get("seller")?,
                service_type: r.try_get("service_type")?,
                resource_type: r.try_get("resource_type")?,
                spec_code: r.try_get("spec_code")?,
                region: r.try_get("region")?,
                charging_mode: word(&r, "products", "charging_mode")?,
            })
        })
        .transpose()
    }

    /// The list price of a product for a period.
    pub async fn list_price(&self, product: ProductId, period: PeriodType) -> Result<Option<ListPrice>, StoreError> {
        let row =
            sqlx::query("SELECT product, period, amount, currency FROM list_prices WHERE product = $1 AND period = $2")
                .bind(product)
                .bind(period.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(ListPrice {
                product: r.try_get("product")?,
                period: word(&r, "list_prices", "period")?,
                amount: decimal(&r, "list_prices", "amount")?,
                currency: currency(&r, "list_prices")?,
            })
        })
        .transpose()
    }

    /// The invoice-info record of a customer.
    pub async fn invoice_info(&self, customer: CustomerId) -> Result<Option<InvoiceInfo>, StoreError> {
        let row = sqlx::query("SELECT customer, title_type, title, tax_id FROM invoice_infos WHERE customer = $1")
            .bind(customer)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(InvoiceInfo {
                customer: r.try_get("customer")?,
                title_type: word(&r, "invoice_infos", "title_type")?,
                title: r.try_get("title")?,
                tax_id: r.try_get("tax_id")?,
            })
        })
        .transpose()
    }

    /// The newest invoice requests of a customer.
    pub async fn invoice_requests(&self, customer: CustomerId, limit: u32) -> Result<Vec<InvoiceRequest>, StoreError> {
        let rows = sqlx::query("SELECT id, customer, basis, kind, medium, amount, currency, status, requested_at FROM invoice_requests WHERE customer = $1 ORDER BY requested_at DESC, id DESC LIMIT $2")
            .bind(customer)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut requests = rows
            .iter()
            .map(|r| {
                Ok(InvoiceRequest {
                    id: r.try_get("id")?,
                    customer: r.try_get("customer")?,
                    basis: word(r, "invoice_requests", "basis")?,
                    kind: word(r, "invoice_requests", "kind")?,
                    medium: word(r, "invoice_requests", "medium")?,
                    amount: decimal(r, "invoice_requests", "amount")?,
                    currency: currency(r, "invoice_requests")?,
                    status: word(r, "invoice_requests", "status")?,
                    requested_at: millis(r, "invoice_requests", "requested_at")?,
                    credit_notes: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let notes = sqlx::query(
            "SELECT n.id, n.invoice_request, n.order_id, n.refund_id, n.amount_cents, n.created_at FROM credit_notes n \
             JOIN invoice_requests i ON i.id = n.invoice_request WHERE i.customer = $1 ORDER BY n.id",
        )
        .bind(customer)
        .fetch_all(&self.pool)
        .await?;
        for note in &notes {
            let invoice: i64 = note.try_get("invoice_request")?;
            if let Some(request) = requests.iter_mut().find(|r| r.id == invoice) {
                request.credit_notes.push(CreditNote {
                    id: note.try_get("id")?,
                    order: note.try_get("order_id")?,
                    refund: note.try_get("refund_id")?,
                    amount: crate::money::from_cents(note.try_get("amount_cents")?),
                    created_at: millis(note, "credit_notes", "created_at")?,
                });
            }
        }
        Ok(requests)
    }

    /// Records an installed plugin version if its owner's quota has room for it; recording the
    /// same one again is a no-op (and needs no room). Writes nothing when `name@version` of
    /// `owner` is recorded with another digest, or when the owner's versions or their bytes
    /// would exceed `quota` (checked in the same statement as the insert).
    pub async fn record_plugin(&self, new: &NewPluginVersion<'_>, quota: &PluginQuota) -> Result<Recorded, StoreError> {
        let size = i64::try_from(new.component.len()).unwrap_or(i64::MAX);
        let max_versions = i64::try_from(quota.max_versions).unwrap_or(i64::MAX);
        let max_bytes = i64::try_from(quota.max_bytes).unwrap_or(i64::MAX);
        let now = Utc::now().timestamp_millis();
        // The version and its component in one transaction: no replica ever finds a version
        // whose bytes it cannot fetch.
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // One owner's installs take turns, on every replica: two at once would each see
            // the quota's room before the other's row (SQLite runs one writer at a time).
            // NO KEY: rows referencing the partner (orders, payments...) are not held up.
            sqlx::query("SELECT id FROM partners WHERE id = $1 FOR NO KEY UPDATE")
                .bind(new.owner)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO plugin_versions (digest, name, version, world, owner, manifest, installed_at, size_bytes) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
             WHERE (SELECT COUNT(*) FROM plugin_versions WHERE owner = $5) < $9 \
             AND (SELECT COALESCE(SUM(size_bytes), 0) FROM plugin_versions WHERE owner = $5) + $8 <= $10 \
             ON CONFLICT DO NOTHING",
        )
        .bind(new.digest)
        .bind(new.name)
        .bind(new.version)
        .bind(new.world)
        .bind(new.owner)
        .bind(new.manifest)
        .bind(now)
        .bind(size)
        .bind(max_versions)
        .bind(max_bytes)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            // Updating the row a concurrent deletion of the last version with these bytes would
            // remove locks it against that deletion until this commits (see
            // `delete_plugin_version`).
            sqlx::query(
                "INSERT INTO plugin_components (digest, bytes, size_bytes, stored_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (digest) DO UPDATE SET stored_at = plugin_components.stored_at",
            )
            .bind(new.digest)
            .bind(new.component)
            .bind(size)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(match self.plugin_digest(new.name, new.version, new.owner).await? {
            Some(digest) if digest == new.digest => {
                if inserted == 0 {
                    // Recorded before the database kept components: keep this one now.
                    self.store_missing_component(new.digest, new.component).await?;
                }
                Recorded::Yes
            }
            Some(digest) => Recorded::OtherDigest(digest),
            None => Recorded::OverQuota(self.plugin_usage(new.owner).await?),
        })
    }

    /// The component stored under `digest`, if any version names it.
    pub async fn plugin_component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT bytes FROM plugin_components WHERE digest = $1")
                .bind(digest)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Keeps the component of an installed version that has none in the database: one
    /// installed before components were kept there (its bytes only on the installing node's
    /// disk). The caller checked that `bytes` hash to `digest`. Does nothing when no version
    /// names the digest, or its component is there already.
    pub async fn store_missing_component(&self, digest: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        let stored = sqlx::query(
            "INSERT INTO plugin_components (digest, bytes, size_bytes, stored_at) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM plugin_versions WHERE digest = $1) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(bytes)
        .bind(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
        .bind(Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(stored.rows_affected() == 1)
    }

    /// How many versions `owner` has installed, and their components' bytes.
    pub async fn plugin_usage(&self, owner: PartnerId) -> Result<PluginUsage, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS versions, CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) AS bytes \
             FROM plugin_versions WHERE owner = $1",
        )
        .bind(owner)
        .fetch_one(&self.pool)
        .await?;
        let count = |column: &str| -> Result<u64, StoreError> {
            let value: i64 = row.try_get(column)?;
            u64::try_from(value).map_err(|_| corrupt("plugin_versions", format!("{column} {value}")))
        };
        Ok(PluginUsage {
            versions: count("versions")?,
            bytes: count("bytes")?,
        })
    }

    /// The digest installed under `name@version` for `owner`, if any.
    pub async fn plugin_digest(
        &self,
        name: &str,
        version: &str,
        owner: PartnerId,
    ) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT digest FROM plugin_versions WHERE name = $1 AND version = $2 AND owner = $3")
                .bind(name)
                .bind(version)
                .bind(owner)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Every installed plugin version, oldest first.
    pub async fn plugins(&self) -> Result<Vec<PluginRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.owner, v.name, v.version, v.digest, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM plugin_components c WHERE c.digest = v.digest) THEN 1 ELSE 0 END AS BIGINT) AS stored \
             FROM plugin_versions v ORDER BY v.installed_at, v.owner, v.name, v.version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PluginRecord {
                    owner: r.try_get("owner")?,
                    name: r.try_get("name")?,
                    version: r.try_get("version")?,
                    digest: r.try_get("digest")?,
                    component_stored: r.try_get::<i64, _>("stored")? == 1,
                })
            })
            .collect()
    }
}

pub(crate) const PARTNER_COLUMNS: &str = "SELECT id, kind, name, distributor, country, frozen FROM partners";
pub(crate) const CUSTOMER_COLUMNS: &str = "SELECT id, partner, account_name, association, associated_at, real_name, customer_type, \"freeze\", manager, country, level FROM customers";
const ORDER_COLUMNS: &str = "SELECT id, customer, kind, status, currency, list_amount, amount, created_at, paid_at, paid_by_partner, quote_id, created_by FROM orders";

pub(crate) fn partner_from_row(r: &AnyRow) -> Result<Partner, StoreError> {
    Ok(Partner {
        id: r.try_get("id")?,
        kind: word(r, "partners", "kind")?,
        name: r.try_get("name")?,
        distributor: r.try_get("distributor")?,
        country: r.try_get("country")?,
        frozen: flag(r, "partners", "frozen")?,
    })
}

pub(crate) fn customer_from_row(r: &AnyRow) -> Result<Customer, StoreError> {
    let level: i64 = r.try_get("level")?;
    Ok(Customer {
        id: r.try_get("id")?,
        partner: r.try_get("partner")?,
        account_name: r.try_get("account_name")?,
        association: word(r, "customers", "association")?,
        associated_at: millis(r, "customers", "associated_at")?,
        real_name: word(r, "customers", "real_name")?,
        customer_type: word(r, "customers", "customer_type")?,
        freeze: word(r, "customers", "freeze")?,
        manager: r.try_get("manager")?,
        country: r.try_get("country")?,
        level: u8::try_from(level).map_err(|_| corrupt("customers", format!("level {level}")))?,
    })
}

fn order_from_row(r: &AnyRow) -> Result<Order, StoreError> {
    let paid_at: Option<i64> = r.try_get("paid_at")?;
    Ok(Order {
        id: r.try_get("id")?,
        customer: r.try_get("customer")?,
        kind: word(r, "orders", "kind")?,
        status: word(r, "orders", "status")?,
        currency: currency(r, "orders")?,
        list_amount: decimal(r, "orders", "list_amount")?,
        amount: decimal(r, "orders", "amount")?,
        created_at: millis(r, "orders", "created_at")?,
        paid_at: paid_at.map(|ms| from_millis("orders", ms)).transpose()?,
        paid_by_partner: flag(r, "orders", "paid_by_partner")?,
        quote: r.try_get("quote_id")?,
        created_by: r.try_get("created_by")?,
    })
}

pub(crate) fn corrupt(table: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { table, detail }
}

pub(crate) fn word<T: FromStr<Err = UnknownWord>>(
    r: &AnyRow,
    table: &'static str,
    column: &str,
) -> Result<T, StoreError> {
    let text: String = r.try_get(column)?;
    text.parse().map_err(|e: UnknownWord| corrupt(table, e.to_string()))
}

pub(crate) fn flag(r: &AnyRow, table: &'static str, column: &str) -> Result<bool, StoreError> {
    match r.try_get::<i64, _>(column)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(corrupt(table, format!("{column} = {other}"))),
    }
}

pub(crate) fn decimal(r: &AnyRow, table: &'static str, column: &str) -> Result<Decimal, StoreError> {
    let text: String = r.try_get(column)?;
    Decimal::from_str_exact(&text).map_err(|e| corrupt(table, format!("{column} {text:?}: {e}")))
}

pub(crate) fn currency(r: &AnyRow, table: &'static str) -> Result<Currency, StoreError> {
    let text: String = r.try_get("currency")?;
    text.parse()
        .map_err(|e: pchost_domain::CurrencyError| corrupt(table, e.to_string()))
}

pub(crate) fn millis(r: &AnyRow, table: &'static str, column: &str) -> Result<DateTime<Utc>, StoreError> {
    from_millis(table, r.try_get(column)?)
}

pub(crate) fn from_millis(table: &'static str, ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| corrupt(table, format!("timestamp {ms} out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo;
    use crate::testing::on_both_backends;

    #[tokio::test]
    async fn an_unsupported_url_is_refused_naming_its_scheme_never_its_password() {
        let refused = Store::connect("mysql://pchost:s3cret@db:3306/pchost")
            .await
            .expect_err("refused");
        let message = refused.to_string();
        assert!(message.contains("\"mysql:...\""), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    on_both_backends! {
        async fn demo_seed_loads_once_and_reads_back(store: Store) {
            let data = DemoData::new(Utc::now());
            assert!(store.seed_demo_if_empty(&data).await.expect("seed"));
            assert!(!store.seed_demo_if_empty(&data).await.expect("second seed is a no-op"));

            let c = store.customer(demo::KEY_ACCOUNT_CUSTOMER).await.expect("read").expect("exists");
            assert_eq!(c.account_name, "lotus-retail");
            assert_eq!(c.level, 3);
            assert_eq!(c.freeze, FreezeState::NotFrozen);
            let orders = store.recent_orders(demo::KEY_ACCOUNT_CUSTOMER, 10).await.expect("orders");
            assert_eq!(orders.iter().map(|o| o.id).collect::<Vec<_>>(), vec![9002, 9001]);
            assert_eq!(orders[1].amount.to_string(), "12000.00");
            assert!(!orders[1].paid_by_partner);
            let price = store.list_price(3001, PeriodType::Month).await.expect("price").expect("exists");
            assert_eq!(price.amount.to_string(), "120.123456");
            let page = store.customers_of(&[demo::RESELLER], 101, 2).await.expect("page");
            assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), vec![102, 103]);
            assert_eq!(store.resellers_of(demo::DISTRIBUTOR).await.expect("resellers"), vec![2, 3]);
            let partner = store.partner(demo::RESELLER).await.expect("read").expect("exists");
            assert_eq!((partner.kind, partner.distributor, partner.frozen), (PartnerKind::Reseller, Some(1), false));
            let info = store.invoice_info(demo::KEY_ACCOUNT_CUSTOMER).await.expect("read").expect("exists");
            assert_eq!(info.tax_id.as_deref(), Some("91110000MA01LOTUS1"));
        }

        async fn plugin_versions_are_recorded_once(store: Store) {
            store.seed_demo_if_empty(&DemoData::new(Utc::now())).await.expect("seed");
            let record = |digest: &'static str| {
                let new = NewPluginVersion { digest, name: "rule", version: "0.1.0", world: "pricing-rule", owner: demo::RESELLER, manifest: "m", component: &[0; 100] };
                let store = store.clone();
                async move { store.record_plugin(&new, &PluginQuota::default()).await }
            };
            assert_eq!(record("aaaa").await.expect("first"), Recorded::Yes);
            assert_eq!(record("aaaa").await.expect("again"), Recorded::Yes, "recording the same version again is a no-op");
            assert_eq!(record("bbbb").await.expect("conflict"), Recorded::OtherDigest("aaaa".into()), "other bytes under the same version are not recorded");
            assert_eq!(store.plugins().await.expect("list").len(), 1);
            assert_eq!(store.plugin_usage(demo::RESELLER).await.expect("usage"), PluginUsage { versions: 1, bytes: 100 });
        }
    }
}
