//! The audit trail of plugin invocations: what ran, on what input, with what outcome, cost
//! and log lines. The input is kept whole so that an invocation can be replayed.

use crate::entities::PartnerId;
use crate::errors::DomainError;
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The most records one query returns.
pub const MAX_AUDIT_PAGE: u32 = 500;

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
    /// Log lines, as a JSON array (already capped by the runtime).
    pub logs: String,
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
}

impl Store {
    /// Records an invocation; returns its id.
    pub async fn record_invocation(&self, r: &InvocationRecord, now: DateTime<Utc>) -> Result<i64, DomainError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO invocations (plugin, digest, world, owner, input_hash, input, as_of, outcome, output, failure, duration_us, fuel_used, logs, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
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
        .bind(&r.logs)
        .bind(now.timestamp_millis())
        .fetch_one(self.pool())
        .await?)
    }

    /// The newest invocations matching `filter`, newest first, at most `limit` (capped).
    pub async fn invocations(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<InvocationRecord>, DomainError> {
        let rows = sqlx::query(
            "SELECT id, plugin, digest, world, owner, input_hash, input, as_of, output, failure, duration_us, fuel_used, logs FROM invocations \
             WHERE ($1 = 0 OR owner = $2) AND ($3 = '' OR digest = $3) \
             AND ($5 = '' OR plugin = $5 OR substr(plugin, 1, length($5) + 1) = $5 || '@') \
             AND ($6 = '' OR world = $6) AND ($7 = '' OR outcome = $7) AND ($8 = 0 OR id < $9) \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(i64::from(filter.owner.is_some()))
        .bind(filter.owner.unwrap_or(0))
        .bind(filter.digest.clone().unwrap_or_default())
        .bind(i64::from(limit.min(MAX_AUDIT_PAGE)))
        .bind(filter.plugin.clone().unwrap_or_default())
        .bind(filter.world.clone().unwrap_or_default())
        .bind(match filter.failed {
            None => "",
            Some(true) => "failed",
            Some(false) => "ok",
        })
        .bind(i64::from(filter.before.is_some()))
        .bind(filter.before.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let as_of: i64 = r.try_get("as_of")?;
                Ok(InvocationRecord {
                    id: r.try_get("id")?,
                    plugin: r.try_get("plugin")?,
                    digest: r.try_get("digest")?,
                    world: r.try_get("world")?,
                    owner: r.try_get("owner")?,
                    input_hash: r.try_get("input_hash")?,
                    input: r.try_get("input")?,
                    as_of: DateTime::from_timestamp_millis(as_of).ok_or(DomainError::Invalid {
                        field: "as_of",
                        message: format!("{as_of}"),
                    })?,
                    output: r.try_get("output")?,
                    failure: r.try_get("failure")?,
                    duration_us: r.try_get("duration_us")?,
                    fuel_used: r.try_get("fuel_used")?,
                    logs: r.try_get("logs")?,
                })
            })
            .collect()
    }
}
