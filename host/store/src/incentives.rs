//! Project subsidies for partners holding capability labels (rule 24).

use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode, refused};
use crate::money::Currency;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// The platform's home region, where thresholds are in CNY.
pub const HOME_COUNTRY: &str = "CN";

/// The yearly new cloud spend a subsidy needs: 1,000,000 CNY in the home region, 125,000
/// USD outside it (rule 24).
pub fn subsidy_threshold(partner_country: &str) -> (Decimal, &'static str) {
    if partner_country == HOME_COUNTRY {
        (Decimal::new(1_000_000, 0), "CNY")
    } else {
        (Decimal::new(125_000, 0), "USD")
    }
}

impl Store {
    /// Grants a partner a capability label.
    pub async fn grant_label(&self, partner: PartnerId, label: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        if label.trim().is_empty() || label.len() > 64 {
            return Err(DomainError::Invalid {
                field: "label",
                message: "1 to 64 characters".into(),
            }
            .into());
        }
        sqlx::query("INSERT INTO capability_labels (partner, label, granted_at) VALUES ($1, $2, $3)")
            .bind(partner)
            .bind(label)
            .bind(now.timestamp_millis())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Revokes a partner's capability label.
    pub async fn revoke_label(&self, partner: PartnerId, label: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE capability_labels SET revoked_at = $1 WHERE partner = $2 AND label = $3 AND revoked_at IS NULL",
        )
        .bind(now.timestamp_millis())
        .bind(partner)
        .bind(label)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Claims a project subsidy for a yearly new cloud spend: only at or above the threshold,
    /// and only for a partner holding at least one capability label at the time of the claim
    /// (rule 24). Returns the claim's id.
    pub async fn claim_subsidy(
        &self,
        partner: PartnerId,
        annual_spend: Decimal,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let found = self.partner(partner).await?.ok_or(DomainError::NotFound {
            what: Entity::Partner,
            id: partner,
        })?;
        let (threshold, threshold_currency) = subsidy_threshold(&found.country);
        if currency.as_str() != threshold_currency {
            return Err(DomainError::CurrencyMismatch(format!(
                "partner {partner}'s subsidies are claimed in {threshold_currency}"
            ))
            .into());
        }
        if annual_spend < threshold {
            return Err(refused(
                ErrorCode::BelowSubsidyThreshold,
                format!("a subsidy needs {threshold} {threshold_currency} of new cloud spend a year (rule 24)"),
            )
            .into());
        }
        let labels: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM capability_labels WHERE partner = $1 AND granted_at <= $2 AND (revoked_at IS NULL OR revoked_at > $2)",
        )
        .bind(partner)
        .bind(now.timestamp_millis())
        .fetch_one(self.pool())
        .await?;
        if labels == 0 {
            return Err(refused(
                ErrorCode::CapabilityLabelRequired,
                format!("partner {partner} holds no capability label now (rule 24)"),
            )
            .into());
        }
        Ok(sqlx::query_scalar("INSERT INTO subsidy_claims (partner, annual_spend, currency, claimed_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(partner)
            .bind(annual_spend.to_string())
            .bind(currency.as_str())
            .bind(now.timestamp_millis())
            .fetch_one(self.pool())
            .await?)
    }
}
