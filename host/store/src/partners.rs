//! Partners and their customers: reseller invitations (rule 15), association, budgets and
//! freezing (rule 18), and the partner-granted discount range (rule 19).

use crate::entities::*;
use crate::errors::{DomainError, Entity, ErrorCode, refused};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// Rule 19: a partner-granted discount is a ratio of list price between 0.80 and 1.00 with
/// at most 2 decimal places.
pub fn check_partner_discount(ratio: Decimal) -> Result<Decimal, StoreError> {
    let low = Decimal::new(80, 2);
    if ratio < low || ratio > Decimal::ONE || ratio.normalize().scale() > 2 {
        return Err(refused(
            ErrorCode::DiscountOutOfRange,
            format!(
                "a partner-granted discount of {ratio} is outside 0.80 to 1.00 of list price with 2 places (rule 19)"
            ),
        )
        .into());
    }
    Ok(ratio)
}

/// A new customer of a partner.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCustomer {
    /// The partner.
    pub partner: PartnerId,
    /// Unique account name.
    pub account_name: String,
    /// Resale or referral.
    pub association: Association,
    /// Individual or enterprise.
    pub customer_type: CustomerType,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// The staff member who registered it and manages it: a customer manager or salesperson
    /// of the same partner (rule 16), or none.
    pub manager: Option<i64>,
}

impl Store {
    /// Registers a partner.
    pub async fn create_partner(&self, kind: PartnerKind, name: &str, country: &str) -> Result<Partner, StoreError> {
        if name.trim().is_empty() || name.len() > 200 {
            return Err(DomainError::Invalid {
                field: "name",
                message: "1 to 200 characters".into(),
            }
            .into());
        }
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(DomainError::Invalid {
                field: "country",
                message: "an ISO 3166-1 alpha-2 code such as CN".into(),
            }
            .into());
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO partners (kind, name, country, frozen) VALUES ($1, $2, $3, 0) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(name)
        .bind(country)
        .fetch_one(self.pool())
        .await?;
        Ok(Partner {
            id,
            kind,
            name: name.to_owned(),
            distributor: None,
            country: country.to_owned(),
            frozen: false,
        })
    }

    /// A distributor binds a reseller: only one of its own country, and not one bound to
    /// another distributor (rule 15). Inviting a reseller already bound to it is a no-op.
    pub async fn invite_reseller(&self, distributor: PartnerId, reseller: PartnerId) -> Result<(), StoreError> {
        let d = self.partner(distributor).await?.ok_or(DomainError::NotFound {
            what: Entity::Partner,
            id: distributor,
        })?;
        let r = self.partner(reseller).await?.ok_or(DomainError::NotFound {
            what: Entity::Partner,
            id: reseller,
        })?;
        if d.kind != PartnerKind::Distributor || r.kind != PartnerKind::Reseller {
            return Err(refused(
                ErrorCode::NotADistributorAndReseller,
                "only a distributor invites, and only a reseller",
            )
            .into());
        }
        if d.country != r.country {
            return Err(refused(
                ErrorCode::ResellerCountryMismatch,
                format!(
                    "reseller {reseller} is in {}, distributor {distributor} in {} (rule 15)",
                    r.country, d.country
                ),
            )
            .into());
        }
        let bound = sqlx::query(
            "UPDATE partners SET distributor = $1 WHERE id = $2 AND (distributor IS NULL OR distributor = $1)",
        )
        .bind(distributor)
        .bind(reseller)
        .execute(self.pool())
        .await?;
        if bound.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::ResellerAlreadyBound,
                format!("reseller {reseller} is bound to another distributor (rule 15)"),
            )
            .into());
        }
        Ok(())
    }

    /// Associates a new customer with a partner. A resale customer starts account-frozen
    /// until the partner sets its budget (rule 18).
    pub async fn create_customer(&self, new: &NewCustomer, now: DateTime<Utc>) -> Result<Customer, StoreError> {
        if new.account_name.trim().is_empty() || new.account_name.len() > 64 {
            return Err(DomainError::Invalid {
                field: "account_name",
                message: "1 to 64 characters".into(),
            }
            .into());
        }
        self.partner(new.partner).await?.ok_or(DomainError::NotFound {
            what: Entity::Partner,
            id: new.partner,
        })?;
        if let Some(manager) = new.manager {
            let staff = self.staff(manager).await?;
            if !staff.is_some_and(|s| {
                s.partner == new.partner && matches!(s.role, Role::CustomerManager | Role::Salesperson)
            }) {
                return Err(refused(
                    ErrorCode::InvalidManager,
                    format!(
                        "staff {manager} is not a customer manager or salesperson of partner {}",
                        new.partner
                    ),
                )
                .into());
            }
        }
        let freeze = match new.association {
            Association::Resale => FreezeState::AccountFrozen,
            Association::Referral => FreezeState::NotFrozen,
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO customers (partner, account_name, association, associated_at, real_name, customer_type, \"freeze\", country, manager, level) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) RETURNING id",
        )
        .bind(new.partner)
        .bind(&new.account_name)
        .bind(new.association.as_str())
        .bind(now.timestamp_millis())
        .bind(RealNameStatus::None.as_str())
        .bind(new.customer_type.as_str())
        .bind(freeze.as_str())
        .bind(&new.country)
        .bind(new.manager)
        .fetch_one(self.pool())
        .await?;
        self.customer(id).await?.ok_or(
            DomainError::NotFound {
                what: Entity::Customer,
                id,
            }
            .into(),
        )
    }

    /// Sets a resale customer's budget; a customer frozen since its association is unfrozen
    /// by it (rule 18).
    pub async fn set_budget(&self, customer: CustomerId, budget: Decimal) -> Result<(), StoreError> {
        let cents = crate::accounts::cents(budget, "budget")?;
        let found = self.existing_customer(customer).await?;
        if found.association != Association::Resale {
            return Err(DomainError::ReferralCustomer(customer).into());
        }
        let was_unset: bool = sqlx::query_scalar::<_, Option<i64>>("SELECT budget_cents FROM customers WHERE id = $1")
            .bind(customer)
            .fetch_one(self.pool())
            .await?
            .is_none();
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE customers SET budget_cents = $1 WHERE id = $2")
            .bind(cents)
            .bind(customer)
            .execute(&mut *tx)
            .await?;
        if was_unset {
            sqlx::query("UPDATE customers SET \"freeze\" = $1 WHERE id = $2 AND \"freeze\" = $3")
                .bind(FreezeState::NotFrozen.as_str())
                .bind(customer)
                .bind(FreezeState::AccountFrozen.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Freezes a customer (rule 18). Freezing its resources too stops those in use; freezing
    /// the account only (again) lets them run, as lifting that freeze does.
    pub async fn freeze_customer(
        &self,
        customer: CustomerId,
        state: FreezeState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if state == FreezeState::NotFrozen {
            return Err(DomainError::Invalid {
                field: "state",
                message: "freeze to account-frozen or account-and-resources-frozen".into(),
            }
            .into());
        }
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query("UPDATE customers SET \"freeze\" = $1 WHERE id = $2")
            .bind(state.as_str())
            .bind(customer)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(DomainError::NotFound {
                what: Entity::Customer,
                id: customer,
            }
            .into());
        }
        if state == FreezeState::AccountAndResourcesFrozen {
            sqlx::query("UPDATE resources SET status = 'frozen' WHERE customer = $1 AND status = 'in-use'")
                .bind(customer)
                .execute(&mut *tx)
                .await?;
        } else {
            resume_resources(&mut tx, customer, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Unfreezes a customer; the unfreeze must name the freeze type it lifts (rule 18).
    /// Lifting a freeze of its resources lets them run again.
    pub async fn unfreeze_customer(
        &self,
        customer: CustomerId,
        lifting: FreezeState,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query("UPDATE customers SET \"freeze\" = $1 WHERE id = $2 AND \"freeze\" = $3")
            .bind(FreezeState::NotFrozen.as_str())
            .bind(customer)
            .bind(lifting.as_str())
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 1 {
            resume_resources(&mut tx, customer, now).await?;
            tx.commit().await?;
            return Ok(());
        }
        drop(tx);
        let found = self.existing_customer(customer).await?;
        Err(refused(
            ErrorCode::FreezeTypeMismatch,
            format!(
                "customer {customer} is {}; an unfreeze of {lifting} does not lift it (rule 18)",
                found.freeze
            ),
        )
        .into())
    }

    /// Freezes a partner, its resale customers and, for a distributor, its resellers and
    /// their resale customers, in one transaction (rule 18).
    pub async fn freeze_partner(&self, partner: PartnerId) -> Result<(), StoreError> {
        let frozen = self.partner_and_resellers(partner).await?;
        let mut tx = self.pool().begin().await?;
        for id in frozen {
            sqlx::query("UPDATE partners SET frozen = 1 WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE customers SET \"freeze\" = $1 WHERE partner = $2 AND association = $3 AND \"freeze\" = $4",
            )
            .bind(FreezeState::AccountFrozen.as_str())
            .bind(id)
            .bind(Association::Resale.as_str())
            .bind(FreezeState::NotFrozen.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// A partner and, for a distributor, its resellers: whom a partner's freeze covers.
    async fn partner_and_resellers(&self, partner: PartnerId) -> Result<Vec<PartnerId>, StoreError> {
        let found = self.partner(partner).await?.ok_or(DomainError::NotFound {
            what: Entity::Partner,
            id: partner,
        })?;
        let mut covered = vec![partner];
        if found.kind == PartnerKind::Distributor {
            covered.extend(self.resellers_of(partner).await?);
        }
        Ok(covered)
    }

    /// Lifts a partner's freeze, and a distributor's resellers' (rule 18). Its customers stay
    /// as they are: a customer is unfrozen on its own (its freeze type, rule 18), so that one
    /// frozen for another reason is not let go with its partner.
    pub async fn unfreeze_partner(&self, partner: PartnerId) -> Result<(), StoreError> {
        let lifted = self.partner_and_resellers(partner).await?;
        let mut tx = self.pool().begin().await?;
        for id in lifted {
            sqlx::query("UPDATE partners SET frozen = 0 WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// How long after an unbind a customer may unbind again (rule 17).
pub const UNBIND_INTERVAL_MONTHS: u32 = 3;

impl Store {
    /// One staff member.
    pub async fn staff(&self, id: i64) -> Result<Option<Staff>, StoreError> {
        let row = sqlx::query("SELECT id, partner, role, supervisor FROM staff WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    /// The customers a staff member sees (rule 16): a partner admin all of the partner's; a
    /// customer manager or salesperson those assigned to them; a supervisor those assigned to
    /// them or to the staff they supervise. Unbound customers are no longer the partner's.
    pub async fn customers_visible_to(&self, staff: &Staff) -> Result<Vec<Customer>, StoreError> {
        let all = self.customers_of(&[staff.partner], 0, u32::MAX).await?;
        let supervised: Vec<i64> = if staff.role == Role::Supervisor {
            sqlx::query_scalar("SELECT id FROM staff WHERE supervisor = $1")
                .bind(staff.id)
                .fetch_all(self.pool())
                .await?
        } else {
            Vec::new()
        };
        let unbound: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM customers WHERE partner = $1 AND unbound_at IS NOT NULL")
                .bind(staff.partner)
                .fetch_all(self.pool())
                .await?;
        Ok(all
            .into_iter()
            .filter(|c| !unbound.contains(&c.id))
            .filter(|c| crate::access::staff_sees(staff, c, &supervised))
            .collect())
    }

    /// Unbinds a customer from its partner (rule 17): only the partner's admin may, at most
    /// once per 3 months for a customer, and only with no order awaiting payment.
    pub async fn unbind_customer(
        &self,
        customer: CustomerId,
        actor: &Staff,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let found = self.existing_customer(customer).await?;
        if actor.role != Role::PartnerAdmin || actor.partner != found.partner {
            return Err(refused(
                ErrorCode::PartnerAdminOnly,
                "only the partner's admin may unbind a customer (rule 17)",
            )
            .into());
        }
        let since = now
            .checked_sub_months(chrono::Months::new(UNBIND_INTERVAL_MONTHS))
            .ok_or(DomainError::Invalid {
                field: "now",
                message: "out of range".into(),
            })?;
        let recent: Option<i64> =
            sqlx::query_scalar("SELECT MAX(unbound_at) FROM customer_unbinds WHERE customer = $1 AND unbound_at > $2")
                .bind(customer)
                .bind(since.timestamp_millis())
                .fetch_one(self.pool())
                .await?;
        if recent.is_some() {
            return Err(refused(
                ErrorCode::UnbindTooSoon,
                format!("customer {customer} unbound less than 3 months ago (rule 17)"),
            )
            .into());
        }
        let awaiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE customer = $1 AND status = $2")
            .bind(customer)
            .bind(OrderStatus::PendingPayment.as_str())
            .fetch_one(self.pool())
            .await?;
        if awaiting > 0 {
            return Err(refused(
                ErrorCode::OrdersAwaitingPayment,
                format!("customer {customer} has {awaiting} order(s) awaiting payment: settle them first (rule 17)"),
            )
            .into());
        }
        let mut tx = self.pool().begin().await?;
        let unbound = sqlx::query("UPDATE customers SET unbound_at = $1 WHERE id = $2 AND unbound_at IS NULL")
            .bind(now.timestamp_millis())
            .bind(customer)
            .execute(&mut *tx)
            .await?;
        if unbound.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::CustomerNotBound,
                format!("customer {customer} is not bound to a partner"),
            )
            .into());
        }
        sqlx::query("INSERT INTO customer_unbinds (customer, partner, unbound_at, actor) VALUES ($1, $2, $3, $4)")
            .bind(customer)
            .bind(found.partner)
            .bind(now.timestamp_millis())
            .bind(format!("staff:{}", actor.id))
            .execute(&mut *tx)
            .await?;
        let by = crate::accounts::Actor {
            role: actor.role,
            partner: Some(actor.partner),
            id: Some(actor.id),
            on_behalf_of: None,
        };
        crate::authorizations::revoke_on_unbind(&mut tx, found.partner, customer, &by.label(), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Binds an unbound customer to a partner again.
    pub async fn rebind_customer(
        &self,
        customer: CustomerId,
        partner: PartnerId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let bound = sqlx::query("UPDATE customers SET unbound_at = NULL, partner = $1, associated_at = $2 WHERE id = $3 AND unbound_at IS NOT NULL")
            .bind(partner)
            .bind(now.timestamp_millis())
            .bind(customer)
            .execute(self.pool())
            .await?;
        if bound.rows_affected() == 0 {
            return Err(refused(
                ErrorCode::CustomerStillBound,
                format!("customer {customer} is bound: unbind it first"),
            )
            .into());
        }
        Ok(())
    }

    /// Changes a customer's association type: only the partner's admin may (rule 17).
    pub async fn change_association(
        &self,
        customer: CustomerId,
        association: Association,
        actor: &Staff,
    ) -> Result<(), StoreError> {
        let found = self.existing_customer(customer).await?;
        if actor.role != Role::PartnerAdmin || actor.partner != found.partner {
            return Err(refused(
                ErrorCode::PartnerAdminOnly,
                "only the partner's admin may change a customer's association (rule 17)",
            )
            .into());
        }
        sqlx::query("UPDATE customers SET association = $1 WHERE id = $2")
            .bind(association.as_str())
            .bind(customer)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// How long an online invitation link stays valid (rule 1); offline ones never expire.
pub const ONLINE_INVITATION_DAYS: i64 = 7;

/// How an invitation reaches the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvitationChannel {
    /// A link sent online: valid 7 days.
    Online,
    /// An offline link or QR code: never expires.
    Offline,
}

impl Store {
    /// Assigns a customer to a customer manager or salesperson of its partner; the partner's
    /// admin or a supervisor may.
    pub async fn assign_manager(&self, customer: CustomerId, manager: i64, actor: &Staff) -> Result<(), StoreError> {
        let found = self.existing_customer(customer).await?;
        if actor.partner != found.partner || !matches!(actor.role, Role::PartnerAdmin | Role::Supervisor) {
            return Err(refused(
                ErrorCode::AssignmentNotPermitted,
                "only the partner's admin or a supervisor assigns customers",
            )
            .into());
        }
        let staff = self.staff(manager).await?.ok_or(DomainError::NotFound {
            what: Entity::Staff,
            id: manager,
        })?;
        if staff.partner != found.partner || !matches!(staff.role, Role::CustomerManager | Role::Salesperson) {
            return Err(refused(
                ErrorCode::NotAManagerOfPartner,
                format!(
                    "staff {manager} is not a customer manager or salesperson of partner {}",
                    found.partner
                ),
            )
            .into());
        }
        sqlx::query("UPDATE customers SET manager = $1 WHERE id = $2")
            .bind(manager)
            .bind(customer)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Submits a customer's real-name verification: from none or rejected to under review.
    pub async fn submit_real_name(&self, customer: CustomerId, customer_type: CustomerType) -> Result<(), StoreError> {
        let updated = sqlx::query("UPDATE customers SET real_name = $1, customer_type = $2 WHERE id = $3 AND real_name IN ('none', 'rejected')")
            .bind(RealNameStatus::UnderReview.as_str())
            .bind(customer_type.as_str())
            .bind(customer)
            .execute(self.pool())
            .await?;
        self.real_name_moved(customer, updated.rows_affected(), "submitted")
            .await
    }

    /// Records the result of a real-name review.
    pub async fn record_real_name_result(&self, customer: CustomerId, verified: bool) -> Result<(), StoreError> {
        let result = if verified {
            RealNameStatus::Verified
        } else {
            RealNameStatus::Rejected
        };
        let updated = sqlx::query("UPDATE customers SET real_name = $1 WHERE id = $2 AND real_name = 'under-review'")
            .bind(result.as_str())
            .bind(customer)
            .execute(self.pool())
            .await?;
        self.real_name_moved(customer, updated.rows_affected(), "reviewed")
            .await
    }

    async fn real_name_moved(&self, customer: CustomerId, rows: u64, what: &str) -> Result<(), StoreError> {
        if rows == 1 {
            return Ok(());
        }
        let found = self.existing_customer(customer).await?;
        Err(refused(
            ErrorCode::RealNameState,
            format!(
                "customer {customer}'s real-name status is {}: it cannot be {what}",
                found.real_name
            ),
        )
        .into())
    }

    /// Invites a customer the partner has registered (rule 1). Returns the invitation token.
    pub async fn invite_customer(
        &self,
        partner: PartnerId,
        customer: CustomerId,
        channel: InvitationChannel,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let found = self.existing_customer(customer).await?;
        if found.partner != partner {
            return Err(refused(
                ErrorCode::CustomerNotRegistered,
                format!("partner {partner} must register customer {customer} before inviting it (rule 1)"),
            )
            .into());
        }
        // An accepted invitation gave the customer its key; whoever invites sees the token, so
        // a second one would hand the inviter a customer key of its own.
        let accepted: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM invitations WHERE customer = $1 AND accepted_at IS NOT NULL LIMIT 1")
                .bind(customer)
                .fetch_optional(self.pool())
                .await?;
        if accepted.is_some() {
            return Err(refused(
                ErrorCode::InvitationUsed,
                format!("customer {customer} accepted an invitation already: it makes more keys itself"),
            )
            .into());
        }
        // 128 bits from the operating system's CSPRNG, as hex: 32 characters, as before.
        let token = hex::encode(crate::store::os_random::<16>()?);
        sqlx::query(
            "INSERT INTO invitations (token, partner, customer, channel, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token)
        .bind(partner)
        .bind(customer)
        .bind(match channel {
            InvitationChannel::Online => "online",
            InvitationChannel::Offline => "offline",
        })
        .bind(now.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(token)
    }

    /// The customer accepts an invitation: an online link expires after 7 days, an offline
    /// link or QR code never (rule 1). Returns the customer.
    pub async fn accept_invitation(&self, token: &str, now: DateTime<Utc>) -> Result<CustomerId, StoreError> {
        use sqlx::Row;
        let row = sqlx::query("SELECT customer, channel, created_at, accepted_at FROM invitations WHERE token = $1")
            .bind(token)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| refused(ErrorCode::InvitationUnknown, "no such invitation"))?;
        let customer: i64 = row.try_get("customer")?;
        let channel: String = row.try_get("channel")?;
        let created: i64 = row.try_get("created_at")?;
        let accepted: Option<i64> = row.try_get("accepted_at")?;
        if accepted.is_some() {
            return Err(refused(ErrorCode::InvitationUsed, "this invitation was already accepted").into());
        }
        let age = now.timestamp_millis() - created;
        if channel == "online" && age > chrono::Duration::days(ONLINE_INVITATION_DAYS).num_milliseconds() {
            return Err(refused(
                ErrorCode::InvitationExpired,
                "an online invitation link expires after 7 days (rule 1)",
            )
            .into());
        }
        // Claimed conditionally, with the association, in one transaction: of two acceptances
        // at once, one accepts (and gets the customer's key) and the other is refused.
        let mut tx = self.pool().begin().await?;
        let claimed = sqlx::query(
            "UPDATE invitations SET accepted_at = $1 WHERE token = $2 AND accepted_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM invitations WHERE customer = $3 AND accepted_at IS NOT NULL)",
        )
        .bind(now.timestamp_millis())
        .bind(token)
        .bind(customer)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Err(refused(ErrorCode::InvitationUsed, "this invitation was already accepted").into());
        }
        sqlx::query("UPDATE customers SET associated_at = $1 WHERE id = $2")
            .bind(now.timestamp_millis())
            .bind(customer)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(customer)
    }
}

/// The most rows one listing page returns.
pub const MAX_PAGE: u32 = 500;

/// Which customers [`Store::find_customers`] lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomerFilter {
    /// Customers of any of these partners; empty for no restriction (the operator).
    pub partners: Vec<PartnerId>,
    /// Customers managed by one of these staff (rule 16); `Some(vec![])` matches none.
    pub managers: Option<Vec<i64>>,
    /// Of this association only.
    pub association: Option<Association>,
    /// In this freeze state only.
    pub freeze: Option<FreezeState>,
    /// In this real-name status only.
    pub real_name: Option<RealNameStatus>,
}

fn staff_from_row(row: &sqlx::any::AnyRow) -> Result<Staff, StoreError> {
    use sqlx::Row;
    Ok(Staff {
        id: row.try_get("id")?,
        partner: row.try_get("partner")?,
        role: crate::store::word(row, "staff", "role")?,
        supervisor: row.try_get("supervisor")?,
    })
}

impl Store {
    /// Adds a member to a partner's staff: a partner admin, customer manager, supervisor or
    /// salesperson. A customer manager or salesperson may report to a supervisor of the same
    /// partner.
    pub async fn create_staff(
        &self,
        partner: PartnerId,
        role: Role,
        supervisor: Option<i64>,
    ) -> Result<Staff, StoreError> {
        if matches!(role, Role::PlatformOperator | Role::Customer) {
            return Err(refused(
                ErrorCode::InvalidStaffRole,
                format!("{role} is not a staff role: partner-admin, customer-manager, supervisor or salesperson"),
            )
            .into());
        }
        self.partner(partner).await?.ok_or(DomainError::NotFound {
            what: Entity::Partner,
            id: partner,
        })?;
        if let Some(supervisor) = supervisor {
            if !matches!(role, Role::CustomerManager | Role::Salesperson) {
                return Err(refused(
                    ErrorCode::InvalidSupervisor,
                    format!("a {role} reports to no supervisor: only customer managers and salespeople do"),
                )
                .into());
            }
            let found = self.staff(supervisor).await?;
            if !found.is_some_and(|s| s.role == Role::Supervisor && s.partner == partner) {
                return Err(refused(
                    ErrorCode::InvalidSupervisor,
                    format!("staff {supervisor} is not a supervisor of partner {partner}"),
                )
                .into());
            }
        }
        let row = sqlx::query(
            "INSERT INTO staff (partner, role, supervisor) VALUES ($1, $2, $3) RETURNING id, partner, role, supervisor",
        )
        .bind(partner)
        .bind(role.as_str())
        .bind(supervisor)
        .fetch_one(self.pool())
        .await?;
        staff_from_row(&row)
    }

    /// A partner's staff, by id.
    pub async fn staff_of(&self, partner: PartnerId) -> Result<Vec<Staff>, StoreError> {
        let rows = sqlx::query("SELECT id, partner, role, supervisor FROM staff WHERE partner = $1 ORDER BY id")
            .bind(partner)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(staff_from_row).collect()
    }

    /// A page of the customers matching `filter`, by id after `after`, at most `limit`
    /// (capped at [`MAX_PAGE`]). When the filter names partners, customers unbound from
    /// their partner (rule 17) are left out: they are no longer any partner's.
    pub async fn find_customers(
        &self,
        filter: &CustomerFilter,
        after: CustomerId,
        limit: u32,
    ) -> Result<Vec<Customer>, StoreError> {
        if filter.managers.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let mut next = 0;
        let mut placeholder = || {
            next += 1;
            format!("${next}")
        };
        let mut sql = format!("{} WHERE id > {}", crate::store::CUSTOMER_COLUMNS, placeholder());
        let list = |ids: &[i64], placeholder: &mut dyn FnMut() -> String| {
            ids.iter().map(|_| placeholder()).collect::<Vec<_>>().join(", ")
        };
        if !filter.partners.is_empty() {
            sql.push_str(&format!(
                " AND partner IN ({}) AND unbound_at IS NULL",
                list(&filter.partners, &mut placeholder)
            ));
        }
        if let Some(managers) = &filter.managers {
            sql.push_str(&format!(" AND manager IN ({})", list(managers, &mut placeholder)));
        }
        if filter.association.is_some() {
            sql.push_str(&format!(" AND association = {}", placeholder()));
        }
        if filter.freeze.is_some() {
            sql.push_str(&format!(" AND \"freeze\" = {}", placeholder()));
        }
        if filter.real_name.is_some() {
            sql.push_str(&format!(" AND real_name = {}", placeholder()));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", placeholder()));
        let mut query = sqlx::query(&sql).bind(after);
        for id in filter.partners.iter().chain(filter.managers.iter().flatten()) {
            query = query.bind(*id);
        }
        let words = [
            filter.association.map(Association::as_str),
            filter.freeze.map(FreezeState::as_str),
            filter.real_name.map(RealNameStatus::as_str),
        ];
        for word in words.into_iter().flatten() {
            query = query.bind(word);
        }
        let rows = query
            .bind(i64::from(limit.min(MAX_PAGE)))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(crate::store::customer_from_row)
            .collect::<Result<_, _>>()
    }

    /// A page of partners, by id after `after`, at most `limit` (capped at [`MAX_PAGE`]).
    pub async fn partners_list(&self, after: PartnerId, limit: u32) -> Result<Vec<Partner>, StoreError> {
        let rows = sqlx::query(&format!(
            "{} WHERE id > $1 ORDER BY id LIMIT $2",
            crate::store::PARTNER_COLUMNS
        ))
        .bind(after)
        .bind(i64::from(limit.min(MAX_PAGE)))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(crate::store::partner_from_row)
            .collect::<Result<_, _>>()
    }
}

/// Lets a customer's resources frozen with it run again; those its own `freeze` expiry policy
/// froze at expiry stay frozen. One that expired meanwhile is back in use until the next
/// scheduler run applies its expiry policy.
async fn resume_resources(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE resources SET status = 'in-use' WHERE customer = $1 AND status = 'frozen' \
         AND NOT (expiry_policy = 'freeze' AND expires_at <= $2)",
    )
    .bind(customer)
    .bind(now.timestamp_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
