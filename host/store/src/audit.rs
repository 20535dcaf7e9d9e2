//! The audit trail of plugin invocations: what ran, on what input, with what outcome, cost
//! and log lines. The input is kept whole so that an invocation can be replayed. Each record
//! says why the plugin ran: for a live request, as a binding's shadow version, or replayed.

use crate::entities::PartnerId;
use crate::errors::{DomainError, Entity};
use crate::store::StoreError;
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The most records one query returns.
pub const MAX_AUDIT_PAGE: u32 = 500;

/// [`InvocationRecord::purpose`] of an invocation for a live request.
pub const PURPOSE_LIVE: &str = "live";
/// [`InvocationRecord::purpose`] of a binding's shadow version run beside the active one.
pub const PURPOSE_SHADOW: &str = "shadow";
/// [`InvocationRecord::purpose`] of a recorded invocation run again.
pub const PURPOSE_REPLAY: &str = "replay";
/// Every purpose an invocation may have.
pub const PURPOSES: [&str; 3] = [PURPOSE_LIVE, PURPOSE_SHADOW, PURPOSE_REPLAY];

/// One plugin invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvocationRecord {
    /// Id (0 before it is recorded).
    pub id: i64,
    /// `name@version`.
    pub plugin: String,
    /// sha256 of the component.
    pub digest: String,
    /// The world: pricing-rule or approval-rule.
    pub world: String,
    /// The plugin's owner: the tenant.
    pub owner: PartnerId,
    /// sha256 of `input`.
    pub input_hash: String,
    /// The input, as JSON.
    pub input: String,
    /// The invocation's as-of time.
    pub as_of: DateTime<Utc>,
    /// The output as JSON, when it succeeded.
    pub output: Option<String>,
    /// The failure as JSON, when it failed.
    pub failure: Option<String>,
    /// Wall time in microseconds.
    pub duration_us: i64,
    /// Fuel burnt, when known.
    pub fuel_used: Option<i64>,
    /// Capability calls made, refused ones included (the operator caps them per invocation).
    pub capability_calls: i64,
    /// Capability calls refused as outside the owner's scope.
    pub denied_calls: i64,
    /// Log lines, as a JSON array (already capped by the runtime).
    pub logs: String,
    /// Why it ran: `live`, `shadow` or `replay` (see [`PURPOSES`]).
    pub purpose: String,
}

impl InvocationRecord {
    /// sha256 (hex) of an input.
    pub fn hash_input(input: &str) -> String {
        hex::encode(Sha256::digest(input.as_bytes()))
    }
}

/// Which invocations to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    /// Of this owner only.
    pub owner: Option<PartnerId>,
    /// Of this component only.
    pub digest: Option<String>,
    /// Of this plugin only: a `name@version` label exactly, or a name (any version).
    pub plugin: Option<String>,
    /// Of this world only.
    pub world: Option<String>,
    /// Only failed invocations (`Some(true)`) or only successful ones (`Some(false)`).
    pub failed: Option<bool>,
    /// Only those with an id below this one: the next page, newest first.
    pub before: Option<i64>,
    /// Only those run for this purpose: `live`, `shadow` or `replay`.
    pub purpose: Option<String>,
    /// Only those whose as-of time is at or after this time (for a live or shadow run, when
    /// it ran; a replay keeps the recorded one's).
    pub since: Option<DateTime<Utc>>,
    /// Only those whose as-of time is before this time.
    pub until: Option<DateTime<Utc>>,
}

const INVOCATION_FIELDS: &str = "id, plugin, digest, world, owner, input_hash, input, as_of, output, failure, duration_us, fuel_used, capability_calls, denied_calls, logs, purpose";

fn invocation_from_row(r: &AnyRow) -> Result<InvocationRecord, StoreError> {
    Ok(InvocationRecord {
        id: r.try_get("id")?,
        plugin: r.try_get("plugin")?,
        digest: r.try_get("digest")?,
        world: r.try_get("world")?,
        owner: r.try_get("owner")?,
        input_hash: r.try_get("input_hash")?,
        input: r.try_get("input")?,
        as_of: store::millis(r, "invocations", "as_of")?,
        output: r.try_get("output")?,
        failure: r.try_get("failure")?,
        duration_us: r.try_get("duration_us")?,
        fuel_used: r.try_get("fuel_used")?,
        capability_calls: r.try_get("capability_calls")?,
        denied_calls: r.try_get("denied_calls")?,
        logs: r.try_get("logs")?,
        purpose: r.try_get("purpose")?,
    })
}

impl Store {
    /// Records an invocation (its `id` is ignored); returns its id.
    pub async fn record_invocation(&self, r: &InvocationRecord, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let ids = self.record_invocations(std::slice::from_ref(r), now).await?;
        ids.first().copied().ok_or(
            DomainError::NotFound {
                what: Entity::Invocation,
                id: 0,
            }
            .into(),
        )
    }

    /// Records the invocations of one request in one transaction (one commit, not one per
    /// plugin); returns their ids, in order. All or none are written.
    pub async fn record_invocations(
        &self,
        records: &[InvocationRecord],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        check_purposes(records)?;
        let _turn = self.sqlite_writer().await;
        let mut tx = self.pool().begin().await?;
        let ids = insert_invocations(&mut tx, records, now).await?;
        tx.commit().await?;
        Ok(ids)
    }
}

/// Refuses records of an unknown purpose before anything is written.
pub(crate) fn check_purposes(records: &[InvocationRecord]) -> Result<(), StoreError> {
    match records.iter().find(|r| !PURPOSES.contains(&r.purpose.as_str())) {
        Some(r) => Err(DomainError::Invalid {
            field: "purpose",
            message: format!("{:?} is not one of {}", r.purpose, PURPOSES.join(", ")),
        }
        .into()),
        None => Ok(()),
    }
}

/// Rows per INSERT statement: a request's records go in one statement (one round trip to
/// the database while holding SQLite's single writer), within any engine's parameter limit.
const ROWS_PER_INSERT: usize = 64;

/// Inserts invocation records in the caller's transaction; returns their ids, in order.
pub(crate) async fn insert_invocations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    records: &[InvocationRecord],
    now: DateTime<Utc>,
) -> Result<Vec<i64>, StoreError> {
    const COLUMNS: usize = 17;
    let mut ids = Vec::with_capacity(records.len());
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let rows = (0..chunk.len())
            .map(|row| {
                let params = (1..=COLUMNS)
                    .map(|column| format!("${}", row * COLUMNS + column))
                    .collect::<Vec<_>>();
                format!("({})", params.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO invocations (plugin, digest, world, owner, input_hash, input, as_of, outcome, output, failure, duration_us, fuel_used, capability_calls, denied_calls, logs, recorded_at, purpose) \
             VALUES {rows} RETURNING id"
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for r in chunk {
            query = query
                .bind(&r.plugin)
                .bind(&r.digest)
                .bind(&r.world)
                .bind(r.owner)
                .bind(&r.input_hash)
                .bind(&r.input)
                .bind(r.as_of.timestamp_millis())
                .bind(if r.failure.is_some() { "failed" } else { "ok" })
                .bind(r.output.clone())
                .bind(r.failure.clone())
                .bind(r.duration_us)
                .bind(r.fuel_used)
                .bind(r.capability_calls)
                .bind(r.denied_calls)
                .bind(&r.logs)
                .bind(now.timestamp_millis())
                .bind(&r.purpose);
        }
        let mut chunk_ids = query.fetch_all(&mut **tx).await?;
        // Ids are assigned in the order of the VALUES rows (the writer is alone in its
        // transaction), but RETURNING may hand them back in any order.
        chunk_ids.sort_unstable();
        ids.extend(chunk_ids);
    }
    Ok(ids)
}

impl Store {
    /// One invocation.
    pub async fn invocation(&self, id: i64) -> Result<Option<InvocationRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {INVOCATION_FIELDS} FROM invocations WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(invocation_from_row).transpose()
    }

    /// The newest invocations matching `filter`, newest first, at most `limit` (capped).
    pub async fn invocations(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<InvocationRecord>, StoreError> {
        let (sql, args) = invocations_query(filter, limit);
        let rows = bind_audit_args(sqlx::query(&sql), args).fetch_all(self.pool()).await?;
        rows.iter().map(invocation_from_row).collect()
    }
}

/// The query of [`Store::invocations`] and its values in placeholder order.
fn invocations_query(filter: &AuditFilter, limit: u32) -> (String, Vec<AuditArg>) {
    let (conditions, mut args) = audit_conditions(filter);
    args.push(AuditArg::Int(i64::from(limit.min(MAX_AUDIT_PAGE))));
    let sql = format!(
        "SELECT {INVOCATION_FIELDS} FROM invocations{conditions} ORDER BY id DESC LIMIT ${}",
        args.len()
    );
    (sql, args)
}

fn bind_audit_args<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: Vec<AuditArg>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for arg in args {
        query = match arg {
            AuditArg::Int(v) => query.bind(v),
            AuditArg::Text(v) => query.bind(v),
        };
    }
    query
}

/// A value bound to one of [`audit_conditions`]' placeholders.
enum AuditArg {
    Int(i64),
    Text(String),
}

/// The `WHERE` clause of the filters that are set, and their values in placeholder order.
/// Only the set ones are written: a condition such as `($1 = 0 OR owner = $2)` keeps either
/// engine from using an index (SQLite plans it once, for any value), so a tenant's page of a
/// large audit, or a page far back, would scan the table from its newest row. Written alone,
/// the owner and the component are sought in their indexes, and `id < $n` in the key.
fn audit_conditions(filter: &AuditFilter) -> (String, Vec<AuditArg>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut args = Vec::new();
    let mut condition = |sql: &str, arg: AuditArg| {
        args.push(arg);
        conditions.push(sql.replace("$?", &format!("${}", args.len())));
    };
    if let Some(owner) = filter.owner {
        condition("owner = $?", AuditArg::Int(owner));
    }
    // A blank text filter filters nothing, as `?digest=` always has over the API.
    let given = |value: &Option<String>| value.as_deref().filter(|v| !v.is_empty()).map(str::to_owned);
    if let Some(digest) = given(&filter.digest) {
        condition("digest = $?", AuditArg::Text(digest));
    }
    if let Some(plugin) = given(&filter.plugin) {
        // A label exactly, or a name: any of its versions.
        condition(
            "(plugin = $? OR substr(plugin, 1, length($?) + 1) = $? || '@')",
            AuditArg::Text(plugin),
        );
    }
    if let Some(world) = given(&filter.world) {
        condition("world = $?", AuditArg::Text(world));
    }
    if let Some(failed) = filter.failed {
        let outcome = if failed { "failed" } else { "ok" };
        condition("outcome = $?", AuditArg::Text(outcome.to_owned()));
    }
    if let Some(before) = filter.before {
        condition("id < $?", AuditArg::Int(before));
    }
    if let Some(purpose) = given(&filter.purpose) {
        condition("purpose = $?", AuditArg::Text(purpose));
    }
    if let Some(since) = filter.since {
        condition("as_of >= $?", AuditArg::Int(since.timestamp_millis()));
    }
    if let Some(until) = filter.until {
        condition("as_of < $?", AuditArg::Int(until.timestamp_millis()));
    }
    if conditions.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::on_both_backends;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().expect("date")
    }

    fn record(plugin: &str, purpose: &str) -> InvocationRecord {
        InvocationRecord {
            id: 0,
            plugin: plugin.into(),
            digest: "dd".into(),
            world: "pricing-rule".into(),
            owner: 10,
            input_hash: InvocationRecord::hash_input(r#"{"quote":1}"#),
            input: r#"{"quote":1}"#.into(),
            as_of: t0(),
            output: Some(r#"{"adjustments":[]}"#.into()),
            failure: None,
            duration_us: 250,
            fuel_used: Some(12_000),
            capability_calls: 3,
            denied_calls: 1,
            logs: r#"["priced"]"#.into(),
            purpose: purpose.into(),
        }
    }

    /// A tenant's page of the audit, and a page far back, are sought in an index, not found by
    /// reading the table from its newest row (SQLite's own plan, on the real schema).
    #[tokio::test]
    async fn a_tenants_page_and_a_page_far_back_are_sought_in_an_index() {
        let database = crate::testing::SqliteFile::create().await;
        let plan = |filter: AuditFilter| {
            let store = database.store.clone();
            async move {
                let (sql, args) = invocations_query(&filter, 50);
                let explain = format!("EXPLAIN QUERY PLAN {sql}");
                let rows = bind_audit_args(sqlx::query(&explain), args)
                    .fetch_all(store.pool())
                    .await
                    .expect("plan");
                rows.iter()
                    .map(|r| r.try_get::<String, _>("detail").expect("detail"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        };
        let tenant = AuditFilter {
            owner: Some(10),
            before: Some(1_000_000),
            ..AuditFilter::default()
        };
        assert_eq!(
            plan(tenant).await,
            "SEARCH invocations USING INDEX invocations_by_owner (owner=? AND id<?)"
        );
        let far_back = AuditFilter {
            before: Some(1_000_000),
            purpose: Some(PURPOSE_LIVE.into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            plan(far_back).await,
            "SEARCH invocations USING INTEGER PRIMARY KEY (rowid<?)"
        );
        let component = AuditFilter {
            digest: Some("dd".into()),
            failed: Some(true),
            ..AuditFilter::default()
        };
        assert!(
            plan(component)
                .await
                .starts_with("SEARCH invocations USING INDEX invocations_by_digest (digest=?")
        );
        database.remove().await;
    }

    on_both_backends! {
        async fn a_quote_and_the_invocations_that_priced_it_commit_together(store: Store) {
            store.seed_demo_if_empty(&crate::demo::DemoData::new(t0())).await.expect("seeded");
            let quote = crate::quotes::NewQuote {
                customer: crate::demo::STANDARD_CUSTOMER,
                currency: "CNY".parse().expect("currency"),
                total: rust_decimal::Decimal::new(1000, 2),
                lines: &[crate::orders::NewOrderLine {
                    product: 2001,
                    period: crate::entities::PeriodType::Month,
                    period_count: 1,
                    quantity: 1,
                    list_unit_price: rust_decimal::Decimal::new(1000, 2),
                    unit_price: rust_decimal::Decimal::new(1000, 2),
                }],
                body: "{}",
                created_by: "customer:102",
                now: t0(),
                expires_at: t0() + chrono::Duration::hours(1),
                renews: None,
                spec_change: None,
            };
            let records = [record("a@1.0.0", PURPOSE_LIVE), record("b@1.0.0", PURPOSE_LIVE)];
            let (id, ids) = store.save_quote_with_invocations(&quote, &records).await.expect("saved");
            assert_eq!(ids.len(), 2);
            let read = store.invocation(ids[1]).await.expect("read").expect("recorded");
            assert_eq!(read, InvocationRecord { id: ids[1], ..record("b@1.0.0", PURPOSE_LIVE) });
            assert_eq!(store.saved_quote(id).await.expect("read").map(|q| q.body), Some("{}".to_owned()));
            // One bad record refuses the whole write: neither the quote nor any record.
            let bad = [record("c@1.0.0", PURPOSE_LIVE), record("d@1.0.0", "guess")];
            let refused = store.save_quote_with_invocations(&quote, &bad).await;
            assert_eq!(refused.map(|_| ()).map_err(|e| e.code().as_str()), Err("invalid-field"));
            assert_eq!(store.invocations(&AuditFilter::default(), 100).await.expect("list").len(), 2);
            assert_eq!(store.saved_quote(id + 1).await.expect("read"), None);
        }

        async fn many_records_of_one_request_keep_their_order_across_statements(store: Store) {
            // More than one INSERT's worth of rows: the ids still follow the records' order.
            let records: Vec<_> = (0..(ROWS_PER_INSERT * 2 + 3))
                .map(|i| record(&format!("rule-{i}@1.0.0"), PURPOSE_LIVE))
                .collect();
            let ids = store.record_invocations(&records, t0()).await.expect("recorded");
            assert_eq!(ids.len(), records.len());
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending ids");
            for (i, id) in ids.iter().enumerate().step_by(31) {
                let read = store.invocation(*id).await.expect("read").expect("recorded");
                assert_eq!(read.plugin, format!("rule-{i}@1.0.0"));
            }
        }

        async fn invocations_are_read_back_by_id_and_filtered_by_purpose(store: Store) {
            let live = store.record_invocation(&record("rule@0.1.0", PURPOSE_LIVE), t0()).await.expect("recorded");
            let shadow = store.record_invocation(&record("rule@0.2.0", PURPOSE_SHADOW), t0()).await.expect("recorded");
            let replay = store.record_invocation(&record("rule@0.1.0", PURPOSE_REPLAY), t0()).await.expect("recorded");
            let later = store.record_invocation(&record("rule@0.1.0", PURPOSE_LIVE), t0()).await.expect("recorded");
            assert!(live < shadow && shadow < replay && replay < later);

            let read = store.invocation(shadow).await.expect("read").expect("recorded");
            assert_eq!(read, InvocationRecord { id: shadow, ..record("rule@0.2.0", "shadow") });
            assert_eq!(read.input_hash, "c10ac9dbc9405ae872f3980ff71e0b8eb36aaad97b199a67a60517c12b01ba70");
            assert_eq!(store.invocation(4242).await.expect("read"), None);

            let found = |purpose: Option<&str>| {
                let store = store.clone();
                let filter = AuditFilter { purpose: purpose.map(str::to_owned), ..AuditFilter::default() };
                async move { store.invocations(&filter, 10).await.expect("list").iter().map(|r| r.id).collect::<Vec<_>>() }
            };
            assert_eq!(found(None).await, vec![later, replay, shadow, live]);
            assert_eq!(found(Some("live")).await, vec![later, live]);
            assert_eq!(found(Some("shadow")).await, vec![shadow]);
            assert_eq!(found(Some("replay")).await, vec![replay]);
            assert_eq!(found(Some("other")).await, Vec::<i64>::new());
            // Blank text filters filter nothing (`?plugin=&world=` over the API).
            let blank = AuditFilter {
                digest: Some(String::new()),
                plugin: Some(String::new()),
                world: Some(String::new()),
                purpose: Some(String::new()),
                ..AuditFilter::default()
            };
            let ids: Vec<i64> = store.invocations(&blank, 10).await.expect("list").iter().map(|r| r.id).collect();
            assert_eq!(ids, vec![later, replay, shadow, live]);
            let combined = AuditFilter {
                plugin: Some("rule@0.1.0".into()),
                purpose: Some("live".into()),
                before: Some(later),
                ..AuditFilter::default()
            };
            assert_eq!(store.invocations(&combined, 10).await.expect("list"), vec![InvocationRecord { id: live, ..record("rule@0.1.0", "live") }]);

            let refused = store.record_invocation(&record("rule@0.1.0", "rehearsal"), t0()).await;
            assert!(matches!(refused, Err(StoreError::Refused(DomainError::Invalid { field: "purpose", .. }))), "got {refused:?}");
            assert_eq!(found(None).await.len(), 4, "a refusal records nothing");
        }
    }
}
