//! The administrative audit: who uploaded, bound, changed, rolled back or deleted a plugin
//! or a binding; who created or revoked a key or a publisher key, or set a signature policy;
//! who decided an approval task. Each event names the tenant it concerns, so that a partner's
//! admin lists its own and the operator all.

use crate::entities::PartnerId;
use crate::store::{self, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// The most events one query returns.
pub const MAX_EVENT_PAGE: u32 = 500;
/// The largest detail kept, in bytes.
pub const MAX_EVENT_DETAIL: usize = 16 << 10;

/// One administrative change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdminEvent {
    /// Id, increasing.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `staff:500@2`, `operator(key 1)`, `operator(cli)`...
    pub actor: String,
    /// The tenant the change concerns; `None` for the platform's own.
    pub partner: Option<PartnerId>,
    /// What: `plugin.upload`, `binding.create`, `key.revoke`, `task.approve`...
    pub action: String,
    /// On what: `2/refund-approval@0.2.0`, `binding:4`, `api-key:12`, `task:1`...
    pub target: String,
    /// The change's particulars, a JSON object.
    pub detail: serde_json::Value,
}

/// An event to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAdminEvent<'a> {
    /// Who.
    pub actor: &'a str,
    /// The tenant concerned.
    pub partner: Option<PartnerId>,
    /// What.
    pub action: &'a str,
    /// On what.
    pub target: String,
    /// Particulars: a JSON object; cut to a note when over [`MAX_EVENT_DETAIL`].
    pub detail: serde_json::Value,
}

impl Store {
    /// Records an administrative change.
    pub async fn record_admin_event(&self, event: &NewAdminEvent<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut detail = event.detail.to_string();
        if detail.len() > MAX_EVENT_DETAIL {
            detail = serde_json::json!({ "truncated": true, "bytes": detail.len() }).to_string();
        }
        sqlx::query(
            "INSERT INTO admin_events (at, actor, partner, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now.timestamp_millis())
        .bind(event.actor)
        .bind(event.partner)
        .bind(event.action)
        .bind(&event.target)
        .bind(detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Events after id `after`, oldest first: every tenant's (`None`) or one partner's.
    pub async fn admin_events(
        &self,
        partner: Option<PartnerId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AdminEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, partner, action, target, detail FROM admin_events \
             WHERE ($1 = 0 OR partner = $2) AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(i64::from(partner.is_some()))
        .bind(partner.unwrap_or(0))
        .bind(after)
        .bind(i64::from(limit.min(MAX_EVENT_PAGE)))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AdminEvent {
                    id: r.try_get("id")?,
                    at: store::millis(r, "admin_events", "at")?,
                    actor: r.try_get("actor")?,
                    partner: r.try_get("partner")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| store::corrupt("admin_events", format!("detail is not JSON: {e}")))?,
                })
            })
            .collect()
    }
}
