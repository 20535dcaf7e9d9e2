//! A partner operating inside a customer's account only with its authorization (rule 23): the
//! customer's own partner requests it (agreeing to the operate-on-behalf terms the first time),
//! the customer grants or refuses it, and may revoke it. Every move is recorded with who made
//! it (rule 21). The writes that act inside a customer's account (an order, a payment on its
//! behalf, an unsubscription, its auto-renew setting) call [`check_may_operate`] themselves, so
//! no caller can forget it.

use crate::accounts::Actor;
use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode, refused};
use crate::store::{Store, StoreError, from_millis, word};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

pchost_domain::word_enum! {
    /// Where an authorization stands.
    pub enum AuthorizationStatus {
        /// The partner asked; the customer has not answered.
        Requested => "requested",
        /// The customer granted it: the partner may operate in its account.
        Granted => "granted",
        /// The customer refused the request.
        Refused => "refused",
        /// A granted authorization (or a pending request) was withdrawn: by the customer, by
        /// the operator, or by the customer's unbinding from the partner.
        Revoked => "revoked",
    }
}

/// One move of an authorization, with who made it (rule 21).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationEvent {
    /// The status it moved to.
    pub status: AuthorizationStatus,
    /// Who moved it, as the ledger names actors (`partner-admin:2/500`, `customer:2/102`).
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A partner's authorization to operate inside a customer's account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The partner authorized.
    pub partner: PartnerId,
    /// The customer whose account it is.
    pub customer: CustomerId,
    /// Where it stands.
    pub status: AuthorizationStatus,
    /// When the partner agreed to the operate-on-behalf terms (its first request).
    pub terms_agreed_at: DateTime<Utc>,
    /// When it last moved.
    pub updated_at: DateTime<Utc>,
    /// Every move recorded, oldest first.
    pub history: Vec<AuthorizationEvent>,
}

impl Store {
    /// The partner asks a customer of its own for authorization; the first request must agree
    /// to the operate-on-behalf terms. Asking again after a refusal or a revocation needs no
    /// new agreement; asking while granted changes nothing.
    pub async fn request_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        agree_terms: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Authorization, StoreError> {
        let found = self.existing_customer(customer).await?;
        if found.partner != partner {
            return Err(DomainError::NotOfPartner {
                what: "customer",
                id: customer,
                partner,
            }
            .into());
        }
        match self.status_of(partner, customer).await? {
            None if !agree_terms => Err(refused(
                ErrorCode::OperateTermsNotAgreed,
                "the first authorization request agrees to the operate-on-behalf terms (rule 23)",
            )
            .into()),
            None => {
                let mut tx = self.pool().begin().await?;
                // Conditional: of two first requests racing, one inserts and the other is
                // told the state it found.
                let inserted = sqlx::query(
                    "INSERT INTO authorizations (partner, customer, status, terms_agreed_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (partner, customer) DO NOTHING",
                )
                .bind(partner)
                .bind(customer)
                .bind(AuthorizationStatus::Requested.as_str())
                .bind(now.timestamp_millis())
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() == 0 {
                    tx.rollback().await?;
                    let found = self.status_of(partner, customer).await?;
                    return Err(state_refusal(partner, customer, found, AuthorizationStatus::Requested).into());
                }
                record(
                    &mut tx,
                    partner,
                    customer,
                    AuthorizationStatus::Requested,
                    &actor.label(),
                    now,
                )
                .await?;
                tx.commit().await?;
                self.existing_authorization(partner, customer).await
            }
            Some(AuthorizationStatus::Granted) => self.existing_authorization(partner, customer).await,
            Some(_) => {
                use AuthorizationStatus::*;
                self.move_authorization(partner, customer, &[Refused, Revoked], Requested, actor, now)
                    .await
            }
        }
    }

    /// The customer grants its partner's pending request.
    pub async fn grant_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Authorization, StoreError> {
        use AuthorizationStatus::*;
        self.move_authorization(partner, customer, &[Requested], Granted, actor, now)
            .await
    }

    /// The customer refuses its partner's pending request.
    pub async fn refuse_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Authorization, StoreError> {
        use AuthorizationStatus::*;
        self.move_authorization(partner, customer, &[Requested], Refused, actor, now)
            .await
    }

    /// The customer (or the operator) revokes a granted authorization.
    pub async fn revoke_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Authorization, StoreError> {
        use AuthorizationStatus::*;
        self.move_authorization(partner, customer, &[Granted], Revoked, actor, now)
            .await
    }

    /// The authorization of `partner` by `customer`, with its history, if it was ever
    /// requested.
    pub async fn authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
    ) -> Result<Option<Authorization>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT status, terms_agreed_at, updated_at FROM authorizations WHERE partner = $1 AND customer = $2",
        )
        .bind(partner)
        .bind(customer)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let events = sqlx::query(
            "SELECT status, actor, created_at FROM authorization_events WHERE partner = $1 AND customer = $2 ORDER BY id",
        )
        .bind(partner)
        .bind(customer)
        .fetch_all(self.pool())
        .await?;
        let history = events
            .iter()
            .map(|e| {
                Ok(AuthorizationEvent {
                    status: word(e, "authorization_events", "status")?,
                    actor: e.try_get("actor")?,
                    at: from_millis("authorization_events", e.try_get("created_at")?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(Authorization {
            partner,
            customer,
            status: word(&row, "authorizations", "status")?,
            terms_agreed_at: from_millis("authorizations", row.try_get("terms_agreed_at")?)?,
            updated_at: from_millis("authorizations", row.try_get("updated_at")?)?,
            history,
        }))
    }

    /// Refuses `actor` operating inside `customer`'s account without the authorization rule 23
    /// asks for (see [`check_may_operate`]): for a refusal before anything else is asked
    /// (approval rules, pricing).
    pub async fn ensure_may_operate(&self, actor: &Actor, customer: CustomerId) -> Result<(), StoreError> {
        check_may_operate(self.pool(), actor, customer).await
    }

    async fn existing_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
    ) -> Result<Authorization, StoreError> {
        self.authorization(partner, customer)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                table: "authorizations",
                detail: format!("the authorization of partner {partner} by customer {customer} vanished"),
            })
    }

    async fn status_of(
        &self,
        partner: PartnerId,
        customer: CustomerId,
    ) -> Result<Option<AuthorizationStatus>, StoreError> {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM authorizations WHERE partner = $1 AND customer = $2")
                .bind(partner)
                .bind(customer)
                .fetch_optional(self.pool())
                .await?;
        parse_status(status)
    }

    /// Moves the authorization from one of `from` to `to`, recording who did it; any other
    /// state is refused (`authorization-state`).
    async fn move_authorization(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        from: &[AuthorizationStatus],
        to: AuthorizationStatus,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Authorization, StoreError> {
        let current = self.status_of(partner, customer).await?;
        let Some(status) = current.filter(|s| from.contains(s)) else {
            return Err(state_refusal(partner, customer, current, to).into());
        };
        let mut tx = self.pool().begin().await?;
        // Conditional on the status read: of two racing moves, one wins and the other is
        // refused as if it came second.
        let moved = sqlx::query(
            "UPDATE authorizations SET status = $1, updated_at = $2 WHERE partner = $3 AND customer = $4 AND status = $5",
        )
        .bind(to.as_str())
        .bind(now.timestamp_millis())
        .bind(partner)
        .bind(customer)
        .bind(status.as_str())
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            tx.rollback().await?;
            let now_status = self.status_of(partner, customer).await?;
            return Err(state_refusal(partner, customer, now_status, to).into());
        }
        record(&mut tx, partner, customer, to, &actor.label(), now).await?;
        tx.commit().await?;
        self.existing_authorization(partner, customer).await
    }
}

fn parse_status(status: Option<String>) -> Result<Option<AuthorizationStatus>, StoreError> {
    status
        .map(|s| {
            s.parse()
                .map_err(|e: UnknownWord| crate::store::corrupt("authorizations", e.to_string()))
        })
        .transpose()
}

fn state_refusal(
    partner: PartnerId,
    customer: CustomerId,
    current: Option<AuthorizationStatus>,
    to: AuthorizationStatus,
) -> DomainError {
    refused(
        ErrorCode::AuthorizationState,
        format!(
            "the authorization of partner {partner} by customer {customer} is {}: it cannot become {to} (rule 23)",
            current.map_or("not requested", AuthorizationStatus::as_str)
        ),
    )
}

async fn record(
    tx: &mut Transaction<'_, Any>,
    partner: PartnerId,
    customer: CustomerId,
    status: AuthorizationStatus,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO authorization_events (partner, customer, status, actor, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(partner)
    .bind(customer)
    .bind(status.as_str())
    .bind(actor)
    .bind(now.timestamp_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends what the customer authorized its partner to do, or was asked to, when it unbinds from
/// the partner (rule 17): binding again later does not bring an old grant back.
pub(crate) async fn revoke_on_unbind(
    tx: &mut Transaction<'_, Any>,
    partner: PartnerId,
    customer: CustomerId,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let revoked = sqlx::query(
        "UPDATE authorizations SET status = $1, updated_at = $2 WHERE partner = $3 AND customer = $4 AND status IN ($5, $6)",
    )
    .bind(AuthorizationStatus::Revoked.as_str())
    .bind(now.timestamp_millis())
    .bind(partner)
    .bind(customer)
    .bind(AuthorizationStatus::Requested.as_str())
    .bind(AuthorizationStatus::Granted.as_str())
    .execute(&mut **tx)
    .await?;
    if revoked.rows_affected() > 0 {
        record(tx, partner, customer, AuthorizationStatus::Revoked, actor, now).await?;
    }
    Ok(())
}

/// [`check_may_operate`] inside the transaction of the action it allows, holding the
/// authorization until that transaction ends: the grant is taken by a conditional update, so a
/// revocation made meanwhile waits for the action to commit (and comes after it) or has already
/// committed (and the action is refused). A plain read would let a revocation slip between the
/// check and the commit.
pub(crate) async fn hold_may_operate(
    tx: &mut sqlx::Transaction<'_, Any>,
    actor: &Actor,
    customer: CustomerId,
) -> Result<(), StoreError> {
    if matches!(actor.role, Role::PlatformOperator | Role::Customer) {
        return Ok(());
    }
    let held = sqlx::query(
        "UPDATE authorizations SET updated_at = updated_at WHERE customer = $1 AND status = $2 \
         AND partner = (SELECT partner FROM customers WHERE id = $1)",
    )
    .bind(customer)
    .bind(AuthorizationStatus::Granted.as_str())
    .execute(&mut **tx)
    .await?;
    if held.rows_affected() == 1 {
        return Ok(());
    }
    // Not granted: the refusal, naming why.
    check_may_operate(&mut **tx, actor, customer).await
}

/// Refuses `actor` operating inside `customer`'s account unless the customer granted its
/// partner the authorization (rule 23). Partner staff need it: the customer's own partner's,
/// and a distributor's admin acting on a reseller's customer acts under that reseller's (the
/// customer authorizes the partner it is associated with; it never deals with the distributor).
/// The customer itself and the platform operator need none; that a customer acts only in its
/// own account is the API's scope check (rule 16).
pub(crate) async fn check_may_operate<'c, E>(executor: E, actor: &Actor, customer: CustomerId) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    if matches!(actor.role, Role::PlatformOperator | Role::Customer) {
        return Ok(());
    }
    let row = sqlx::query(
        "SELECT c.partner, a.status FROM customers c \
         LEFT JOIN authorizations a ON a.partner = c.partner AND a.customer = c.id WHERE c.id = $1",
    )
    .bind(customer)
    .fetch_optional(executor)
    .await?
    .ok_or(DomainError::NotFound {
        what: Entity::Customer,
        id: customer,
    })?;
    let partner: PartnerId = row.try_get("partner")?;
    let why = match parse_status(row.try_get("status")?)? {
        Some(AuthorizationStatus::Granted) => return Ok(()),
        Some(AuthorizationStatus::Requested) => "requested, not yet granted",
        Some(other) => other.as_str(),
        None => "never requested",
    };
    Err(refused(
        ErrorCode::NotAuthorized,
        format!(
            "customer {customer} has not authorized its partner {partner} to operate in its account ({why}): \
             buying, renewing, unsubscribing, changing or paying there on its behalf needs its authorization (rule 23)"
        ),
    )
    .into())
}
