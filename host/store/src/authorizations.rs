//! A partner operating inside a customer's account only with its authorization (rule 23).

use crate::entities::*;
use crate::errors::{DomainError, ErrorCode, refused};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};

impl Store {
    /// The partner asks a customer of its own for authorization; the first request must agree
    /// to the operate-on-behalf terms.
    pub async fn request_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        agree_terms: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let found = self.existing_customer(customer).await?;
        if found.partner != partner {
            return Err(DomainError::NotOfPartner {
                what: "customer",
                id: customer,
                partner,
            }
            .into());
        }
        let status = self.authorization(partner, customer).await?;
        match status.as_deref() {
            None if !agree_terms => Err(refused(
                ErrorCode::OperateTermsNotAgreed,
                "the first authorization request agrees to the operate-on-behalf terms (rule 23)",
            )
            .into()),
            None => {
                sqlx::query("INSERT INTO authorizations (partner, customer, status, terms_agreed_at, updated_at) VALUES ($1, $2, 'requested', $3, $3)")
                    .bind(partner)
                    .bind(customer)
                    .bind(now.timestamp_millis())
                    .execute(self.pool())
                    .await?;
                Ok(())
            }
            Some("granted") => Ok(()),
            Some(_) => {
                self.set_authorization(partner, customer, &["refused", "revoked"], "requested", now)
                    .await
            }
        }
    }

    /// The customer grants a pending request.
    pub async fn grant_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.set_authorization(partner, customer, &["requested"], "granted", now)
            .await
    }

    /// The customer refuses a pending request.
    pub async fn refuse_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.set_authorization(partner, customer, &["requested"], "refused", now)
            .await
    }

    /// The customer revokes a granted authorization.
    pub async fn revoke_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.set_authorization(partner, customer, &["granted"], "revoked", now)
            .await
    }

    /// Refuses an operation inside the customer's account without a granted authorization.
    pub async fn ensure_authorized(&self, partner: PartnerId, customer: CustomerId) -> Result<(), StoreError> {
        match self.authorization(partner, customer).await?.as_deref() {
            Some("granted") => Ok(()),
            other => Err(refused(
                ErrorCode::NotAuthorized,
                format!(
                    "partner {partner} is not authorized to operate in customer {customer}'s account ({}) (rule 23)",
                    other.unwrap_or("never requested")
                ),
            )
            .into()),
        }
    }

    async fn authorization(&self, partner: PartnerId, customer: CustomerId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT status FROM authorizations WHERE partner = $1 AND customer = $2")
                .bind(partner)
                .bind(customer)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn set_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        from: &[&str],
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let current = self.authorization(partner, customer).await?;
        let updated = match current.as_deref() {
            Some(status) if from.contains(&status) => sqlx::query("UPDATE authorizations SET status = $1, updated_at = $2 WHERE partner = $3 AND customer = $4 AND status = $5")
                .bind(to)
                .bind(now.timestamp_millis())
                .bind(partner)
                .bind(customer)
                .bind(status)
                .execute(self.pool())
                .await?
                .rows_affected(),
            _ => 0,
        };
        if updated == 0 {
            return Err(refused(
                ErrorCode::AuthorizationState,
                format!(
                    "the authorization of partner {partner} by customer {customer} is {}: it cannot become {to}",
                    current.as_deref().unwrap_or("not requested")
                ),
            )
            .into());
        }
        Ok(())
    }
}
