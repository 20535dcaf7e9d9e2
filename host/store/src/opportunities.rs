//! Opportunities shared between the platform (HO) and partners (PO), and the review of a PO
//! (rule 20).

use crate::entities::*;
use crate::errors::DomainError;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The smallest expected monthly revenue a PO may claim and still be plausible.
pub const MIN_MONTHLY_REVENUE: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// Words that tie a need to the platform's business.
const PLATFORM_TERMS: [&str; 10] = [
    "cloud",
    "server",
    "storage",
    "database",
    "ecs",
    "obs",
    "cdn",
    "migration",
    "ai",
    "network",
];

/// A partner-originated opportunity with its BANT fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOpportunity {
    /// The prospect.
    pub customer_name: String,
    /// B: budget.
    pub budget: Option<String>,
    /// A: authority, the decision maker.
    pub decision_maker: Option<String>,
    /// N: need.
    pub need: Option<String>,
    /// T: purchase timeline.
    pub timeline: Option<String>,
    /// Expected monthly revenue.
    #[serde(with = "rust_decimal::serde::str")]
    pub monthly_revenue: Decimal,
}

pchost_domain::word_enum! {
    /// The outcome of a PO review (rule 20).
    pub enum OpportunityReview {
        /// Complete, plausible and first.
        Approved => "approved",
        /// A BANT field is missing.
        Incomplete => "incomplete",
        /// Unrelated to the platform or with trivial revenue.
        Implausible => "implausible",
        /// An earlier opportunity for the same customer wins.
        Duplicate => "duplicate",
    }
}

/// A stored opportunity: an HO shared by the platform or a PO shared by a partner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    /// Id.
    pub id: i64,
    /// `ho` (platform to partner) or `po` (partner to platform).
    pub origin: String,
    /// The partner it is shared with or by.
    pub partner: PartnerId,
    /// The prospect.
    pub customer_name: String,
    /// B: budget.
    pub budget: Option<String>,
    /// A: authority, the decision maker.
    pub decision_maker: Option<String>,
    /// N: need.
    pub need: Option<String>,
    /// T: purchase timeline.
    pub timeline: Option<String>,
    /// Expected monthly revenue.
    #[serde(with = "rust_decimal::serde::str")]
    pub monthly_revenue: Decimal,
    /// The review's outcome (rule 20).
    pub review: OpportunityReview,
    /// Submitted.
    pub created_at: DateTime<Utc>,
}

/// Reviews a PO on its own: completeness of the BANT fields, then plausibility.
pub fn review(po: &NewOpportunity) -> OpportunityReview {
    let filled = |f: &Option<String>| f.as_deref().is_some_and(|v| !v.trim().is_empty());
    if !(filled(&po.budget) && filled(&po.decision_maker) && filled(&po.need) && filled(&po.timeline)) {
        return OpportunityReview::Incomplete;
    }
    let need = po.need.as_deref().unwrap_or_default().to_lowercase();
    let related = need
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| PLATFORM_TERMS.contains(&w));
    if !related || po.monthly_revenue < MIN_MONTHLY_REVENUE {
        return OpportunityReview::Implausible;
    }
    OpportunityReview::Approved
}

impl Store {
    /// Submits and reviews a PO; among duplicates (same prospect) the earlier approved one
    /// wins (rule 20). Returns its id and review.
    pub async fn submit_po(
        &self,
        partner: PartnerId,
        po: &NewOpportunity,
        now: DateTime<Utc>,
    ) -> Result<(i64, OpportunityReview), StoreError> {
        if po.customer_name.trim().is_empty() || po.customer_name.len() > 200 {
            return Err(DomainError::Invalid {
                field: "customer_name",
                message: "1 to 200 characters".into(),
            }
            .into());
        }
        let mut outcome = review(po);
        if outcome == OpportunityReview::Approved {
            let earlier: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM opportunities WHERE LOWER(customer_name) = LOWER($1) AND review = 'approved'",
            )
            .bind(po.customer_name.trim())
            .fetch_one(self.pool())
            .await?;
            if earlier > 0 {
                outcome = OpportunityReview::Duplicate;
            }
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO opportunities (origin, partner, customer_name, budget, decision_maker, need, timeline, monthly_revenue, review, created_at) \
             VALUES ('po', $1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(partner)
        .bind(po.customer_name.trim())
        .bind(po.budget.clone())
        .bind(po.decision_maker.clone())
        .bind(po.need.clone())
        .bind(po.timeline.clone())
        .bind(po.monthly_revenue.to_string())
        .bind(outcome.as_str())
        .bind(now.timestamp_millis())
        .fetch_one(self.pool())
        .await?;
        Ok((id, outcome))
    }
}

impl Store {
    /// A page of a partner's opportunities, by id after `after`, at most `limit` (capped at
    /// [`crate::partners::MAX_PAGE`]).
    pub async fn opportunities_of(
        &self,
        partner: PartnerId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Opportunity>, StoreError> {
        use crate::store::{decimal, millis, word};
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT id, origin, partner, customer_name, budget, decision_maker, need, timeline, monthly_revenue, review, created_at \
             FROM opportunities WHERE partner = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(partner)
        .bind(after)
        .bind(i64::from(limit.min(crate::partners::MAX_PAGE)))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Opportunity {
                    id: r.try_get("id")?,
                    origin: r.try_get("origin")?,
                    partner: r.try_get("partner")?,
                    customer_name: r.try_get("customer_name")?,
                    budget: r.try_get("budget")?,
                    decision_maker: r.try_get("decision_maker")?,
                    need: r.try_get("need")?,
                    timeline: r.try_get("timeline")?,
                    monthly_revenue: decimal(r, "opportunities", "monthly_revenue")?,
                    review: word(r, "opportunities", "review")?,
                    created_at: millis(r, "opportunities", "created_at")?,
                })
            })
            .collect()
    }
}
