//! Accounts and their ledger: every change of a balance is a ledger entry in the same
//! transaction, so a balance always equals the sum of its entries (DOMAIN "Entities").

use crate::entities::{CustomerId, PartnerId, Role};
use crate::errors::{DomainError, Entity, out_of_range};
use crate::money::{Currency, MAX_CENTS, from_cents, in_range, to_cents};
use crate::orders::{check_key, claim_key, remember, remembered};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// Who an account belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum AccountOwner {
    /// A partner.
    Partner(PartnerId),
    /// A (resale) customer.
    Customer(CustomerId),
}

impl AccountOwner {
    pub(crate) fn parts(self) -> (&'static str, i64) {
        match self {
            AccountOwner::Partner(id) => ("partner", id),
            AccountOwner::Customer(id) => ("customer", id),
        }
    }
}

pchost_domain::word_enum! {
    /// The kind of an account.
    pub enum AccountKind {
        /// Money paid in.
        Cash => "cash",
        /// Credit granted, down to minus its limit.
        Credit => "credit",
        /// Bonus or voucher money.
        Bonus => "bonus",
        /// Money a partner may allocate to customers and resellers.
        Allocatable => "allocatable",
    }
}

/// An account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Id.
    pub id: i64,
    /// Owner.
    pub owner: AccountOwner,
    /// Kind.
    pub kind: AccountKind,
    /// Currency.
    pub currency: Currency,
    /// Balance (2 places); a credit account's is negative while credit is used.
    #[serde(with = "rust_decimal::serde::str")]
    pub balance: Decimal,
    /// How far below zero a credit account may go.
    #[serde(with = "rust_decimal::serde::str")]
    pub credit_limit: Decimal,
    /// Ring-fenced ("designated") amount that may not be allocated.
    #[serde(with = "rust_decimal::serde::str")]
    pub designated: Decimal,
}

impl Account {
    /// What the account can still pay: its balance, plus unused credit for a credit account.
    pub fn available(&self) -> Decimal {
        // Both come from i64 cents: their sum cannot overflow a decimal.
        (self.balance + self.credit_limit).max(Decimal::ZERO)
    }
}

/// Who did something, and on whose behalf (rule 21).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The acting principal's role.
    pub role: Role,
    /// Its partner, if any.
    pub partner: Option<PartnerId>,
    /// The staff member or customer id, if any.
    pub id: Option<i64>,
    /// The principal acted for, if not itself (e.g. `customer:101`).
    pub on_behalf_of: Option<String>,
}

impl Actor {
    /// `role:partner/id`, as the ledger records it.
    pub fn label(&self) -> String {
        let partner = self.partner.map(|p| p.to_string()).unwrap_or_default();
        let id = self.id.map(|i| i.to_string()).unwrap_or_default();
        format!("{}:{partner}/{id}", self.role)
    }
}

/// One ledger entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Id.
    pub id: i64,
    /// Account.
    pub account: i64,
    /// Signed amount (2 places).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Why: `top-up`, `payment`, `refund`...
    pub reason: String,
    /// The order it concerns.
    pub order: Option<i64>,
    /// Who.
    pub actor: String,
    /// On whose behalf.
    pub on_behalf_of: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

const ACCOUNT_COLUMNS: &str = "SELECT id, owner_kind, owner_id, kind, currency, balance_cents, credit_limit_cents, designated_cents FROM accounts";

pub(crate) fn account_from_row(r: &sqlx::any::AnyRow) -> Result<Account, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "accounts",
        detail,
    };
    let owner_id: i64 = r.try_get("owner_id")?;
    let owner = match r.try_get::<String, _>("owner_kind")?.as_str() {
        "partner" => AccountOwner::Partner(owner_id),
        "customer" => AccountOwner::Customer(owner_id),
        other => return Err(corrupt(format!("owner_kind {other:?}"))),
    };
    Ok(Account {
        id: r.try_get("id")?,
        owner,
        kind: r
            .try_get::<String, _>("kind")?
            .parse()
            .map_err(|e: pchost_domain::UnknownWord| corrupt(e.to_string()))?,
        currency: r
            .try_get::<String, _>("currency")?
            .parse()
            .map_err(|e: pchost_domain::CurrencyError| corrupt(e.to_string()))?,
        balance: from_cents(r.try_get("balance_cents")?),
        credit_limit: from_cents(r.try_get("credit_limit_cents")?),
        designated: from_cents(r.try_get("designated_cents")?),
    })
}

/// The cents of a settled, non-negative amount within the platform's range.
pub(crate) fn cents(amount: Decimal, field: &'static str) -> Result<i64, StoreError> {
    if !in_range(amount) {
        return Err(out_of_range(field, amount).into());
    }
    match to_cents(amount) {
        Some(c) if c >= 0 => Ok(c),
        _ => Err(DomainError::Invalid {
            field,
            message: format!("{amount} is not a non-negative amount in cents"),
        }
        .into()),
    }
}

impl Store {
    /// The accounts of an owner, by id.
    pub async fn accounts_of(&self, owner: AccountOwner) -> Result<Vec<Account>, StoreError> {
        let (owner_kind, owner_id) = owner.parts();
        let rows = sqlx::query(&format!(
            "{ACCOUNT_COLUMNS} WHERE owner_kind = $1 AND owner_id = $2 ORDER BY id"
        ))
        .bind(owner_kind)
        .bind(owner_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(account_from_row).collect::<Result<_, _>>()
    }

    /// One account.
    pub async fn account_by_id(&self, id: i64) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(&format!("{ACCOUNT_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The account of an owner, kind and currency.
    pub async fn account(
        &self,
        owner: AccountOwner,
        kind: AccountKind,
        currency: Currency,
    ) -> Result<Option<Account>, StoreError> {
        let (owner_kind, owner_id) = owner.parts();
        let row = sqlx::query(&format!(
            "{ACCOUNT_COLUMNS} WHERE owner_kind = $1 AND owner_id = $2 AND kind = $3 AND currency = $4"
        ))
        .bind(owner_kind)
        .bind(owner_id)
        .bind(kind.as_str())
        .bind(currency.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Opens an account (or returns the existing one) with a credit limit.
    pub async fn open_account(
        &self,
        owner: AccountOwner,
        kind: AccountKind,
        currency: Currency,
        credit_limit: Decimal,
    ) -> Result<Account, StoreError> {
        let (owner_kind, owner_id) = owner.parts();
        let limit = cents(credit_limit, "credit_limit")?;
        sqlx::query("INSERT INTO accounts (owner_kind, owner_id, kind, currency, credit_limit_cents) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
            .bind(owner_kind)
            .bind(owner_id)
            .bind(kind.as_str())
            .bind(currency.as_str())
            .bind(limit)
            .execute(self.pool())
            .await?;
        self.account(owner, kind, currency)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                table: "accounts",
                detail: "account vanished after insert".into(),
            })
    }

    /// Credits an account with money paid in (a top-up), with its ledger entry. The
    /// idempotency key is claimed in the same transaction: a retry with it (the first answer
    /// lost to a crash, say) answers the account as the first top-up left it and credits
    /// nothing more.
    pub async fn top_up(
        &self,
        account: i64,
        amount: Decimal,
        actor: &Actor,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Account, StoreError> {
        check_key(idempotency_key)?;
        let amount_cents = cents(amount, "amount")?;
        let scope = format!("top-up:{}", actor.label());
        let request = serde_json::json!({ "account": account, "amount": amount.normalize().to_string() });
        let mut tx = self.pool().begin().await?;
        if let Some(first) = claim_key::<Account>(&mut tx, &scope, idempotency_key, &request, now).await? {
            return Ok(first);
        }
        if !credit(&mut tx, account, amount_cents).await? {
            tx.rollback().await?;
            return Err(match self.account_by_id(account).await? {
                Some(found) => out_of_range("amount", format!("a balance of {} plus {amount}", found.balance)).into(),
                None => DomainError::NotFound {
                    what: Entity::Account,
                    id: account,
                }
                .into(),
            });
        }
        insert_entry(&mut tx, account, amount_cents, "top-up", None, actor, now).await?;
        let row = sqlx::query(&format!("{ACCOUNT_COLUMNS} WHERE id = $1"))
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
        let account = account_from_row(&row)?;
        remember(&mut tx, &scope, idempotency_key, &account).await?;
        tx.commit().await?;
        Ok(account)
    }

    /// The ledger of an account, oldest first.
    pub async fn ledger(&self, account: i64) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, account, amount_cents, reason, order_id, actor, on_behalf_of, created_at FROM ledger_entries WHERE account = $1 ORDER BY id",
        )
        .bind(account)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let created: i64 = r.try_get("created_at")?;
                Ok(LedgerEntry {
                    id: r.try_get("id")?,
                    account: r.try_get("account")?,
                    amount: from_cents(r.try_get("amount_cents")?),
                    reason: r.try_get("reason")?,
                    order: r.try_get("order_id")?,
                    actor: r.try_get("actor")?,
                    on_behalf_of: r.try_get("on_behalf_of")?,
                    created_at: DateTime::from_timestamp_millis(created).ok_or_else(|| StoreError::Corrupt {
                        table: "ledger_entries",
                        detail: format!("created_at {created}"),
                    })?,
                })
            })
            .collect()
    }
}

/// Adds `amount_cents` (0 to [`MAX_CENTS`]) to an account's balance inside the caller's
/// transaction. Conditional, so that no balance grows beyond the platform's range however
/// many credits arrive (the database's arithmetic would fail, or SQLite's turn to floating
/// point, long before an i64 overflows): `false` when the account is missing or would
/// exceed it.
pub(crate) async fn credit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: i64,
    amount_cents: i64,
) -> Result<bool, sqlx::Error> {
    let credited =
        sqlx::query("UPDATE accounts SET balance_cents = balance_cents + $1 WHERE id = $2 AND balance_cents <= $3")
            .bind(amount_cents)
            .bind(account)
            .bind(MAX_CENTS.saturating_sub(amount_cents))
            .execute(&mut **tx)
            .await?;
    Ok(credited.rows_affected() == 1)
}

/// Writes a ledger entry inside the caller's transaction.
pub(crate) async fn insert_entry(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    account: i64,
    amount_cents: i64,
    reason: &str,
    order: Option<i64>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO ledger_entries (account, amount_cents, reason, order_id, actor, on_behalf_of, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(account)
        .bind(amount_cents)
        .bind(reason)
        .bind(order)
        .bind(actor.label())
        .bind(actor.on_behalf_of.clone())
        .bind(now.timestamp_millis())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Who receives an allocation, or gives back a reclaim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum AllocationTarget {
    /// A resale customer of the partner.
    Customer(CustomerId),
    /// A reseller of the distributor.
    Reseller(PartnerId),
}

impl AllocationTarget {
    fn owner(self) -> AccountOwner {
        match self {
            AllocationTarget::Customer(id) => AccountOwner::Customer(id),
            AllocationTarget::Reseller(id) => AccountOwner::Partner(id),
        }
    }
}

/// A transfer done: what [`Store::allocate`] and [`Store::reclaim`] answer, and answer again
/// to a retry with the same idempotency key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transferred {
    /// The cash account debited.
    pub from: i64,
    /// The cash account credited.
    pub to: i64,
    /// How much.
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// One transfer between two owners' cash accounts, as [`transfer`] carries it out.
struct TransferRequest<'a> {
    from: AccountOwner,
    to: AccountOwner,
    /// With it, `from`'s ring-fenced amount must stay; otherwise its balance may go down to
    /// zero.
    keep_designated: bool,
    currency: Currency,
    amount: Decimal,
    /// The ledger's reason, and the idempotency key's scope: `allocation` or `reclaim`.
    reason: &'static str,
    actor: &'a Actor,
    idempotency_key: &'a str,
}

impl TransferRequest<'_> {
    fn scope(&self) -> String {
        format!("{}:{}", self.reason, self.actor.label())
    }

    /// What the idempotency key is bound to: the same key for another transfer is refused.
    fn fingerprint(&self) -> serde_json::Value {
        serde_json::json!({
            "from": self.from,
            "to": self.to,
            "currency": self.currency.as_str(),
            "amount": self.amount.normalize().to_string(),
        })
    }

    /// The first answer to this request's key, if it was answered: a retry's, before any
    /// check that the first transfer itself may have changed the outcome of.
    async fn answered(&self, store: &Store) -> Result<Option<Transferred>, StoreError> {
        check_key(self.idempotency_key)?;
        remembered(store, &self.scope(), self.idempotency_key, &self.fingerprint()).await
    }
}

/// Takes the amount from `from`'s cash and gives it to `to`'s cash (opened if missing), in
/// one transaction with both ledger entries and the claim of the idempotency key, so that a
/// retry moves the money once (its answer lost to a crash, say): it answers the first
/// transfer and writes nothing.
async fn transfer(store: &Store, request: &TransferRequest<'_>, now: DateTime<Utc>) -> Result<Transferred, StoreError> {
    let TransferRequest {
        from,
        to,
        keep_designated,
        currency,
        amount,
        reason,
        actor,
        idempotency_key,
    } = *request;
    let amount_cents = cents(amount, "amount")?;
    if amount_cents == 0 {
        return Err(DomainError::Invalid {
            field: "amount",
            message: "must be positive".into(),
        }
        .into());
    }
    let source = store
        .account(from, AccountKind::Cash, currency)
        .await?
        .ok_or(DomainError::InsufficientBalance {
            needed: amount,
            available: Decimal::ZERO,
        })?;
    let target = store
        .open_account(to, AccountKind::Cash, currency, Decimal::ZERO)
        .await?;
    let floor = if keep_designated { "designated_cents" } else { "0" };
    let scope = request.scope();
    let mut tx = store.pool().begin().await?;
    if let Some(first) = claim_key(&mut tx, &scope, idempotency_key, &request.fingerprint(), now).await? {
        return Ok(first);
    }
    // Conditional: never below the floor, whatever else runs concurrently (rule 14).
    let debited = sqlx::query(&format!(
        "UPDATE accounts SET balance_cents = balance_cents - $1 WHERE id = $2 AND balance_cents - $1 >= {floor}"
    ))
    .bind(amount_cents)
    .bind(source.id)
    .execute(&mut *tx)
    .await?;
    if debited.rows_affected() == 0 {
        tx.rollback().await?;
        let now_source = store
            .account(from, AccountKind::Cash, currency)
            .await?
            .unwrap_or(source);
        let kept = if keep_designated {
            now_source.designated
        } else {
            Decimal::ZERO
        };
        return Err(DomainError::InsufficientBalance {
            needed: amount,
            // From i64 cents: cannot overflow a decimal.
            available: (now_source.balance - kept).max(Decimal::ZERO),
        }
        .into());
    }
    if !credit(&mut tx, target.id, amount_cents).await? {
        tx.rollback().await?;
        return Err(out_of_range(
            "amount",
            format!("the receiving account's balance of {} plus {amount}", target.balance),
        )
        .into());
    }
    insert_entry(&mut tx, source.id, -amount_cents, reason, None, actor, now).await?;
    insert_entry(&mut tx, target.id, amount_cents, reason, None, actor, now).await?;
    let done = Transferred {
        from: source.id,
        to: target.id,
        amount: from_cents(amount_cents),
    };
    remember(&mut tx, &scope, idempotency_key, &done).await?;
    tx.commit().await?;
    Ok(done)
}

impl Store {
    /// Checks that `target` belongs to `partner` and may hold a balance with it (rule 12).
    async fn check_target(&self, partner: PartnerId, target: AllocationTarget) -> Result<(), StoreError> {
        match target {
            AllocationTarget::Customer(id) => {
                let customer = self.customer(id).await?.ok_or(DomainError::NotFound {
                    what: Entity::Customer,
                    id,
                })?;
                if customer.partner != partner {
                    return Err(DomainError::NotOfPartner {
                        what: "customer",
                        id,
                        partner,
                    }
                    .into());
                }
                if customer.association == crate::entities::Association::Referral {
                    return Err(DomainError::ReferralCustomer(id).into());
                }
            }
            AllocationTarget::Reseller(id) => {
                let reseller = self.partner(id).await?.ok_or(DomainError::NotFound {
                    what: Entity::Partner,
                    id,
                })?;
                if reseller.distributor != Some(partner) {
                    return Err(DomainError::NotOfPartner {
                        what: "reseller",
                        id,
                        partner,
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    /// Allocates balance from a partner's cash to one of its resale customers or resellers:
    /// never more than the partner's balance minus its ring-fenced amount (rules 12, 14). A
    /// retry with the same idempotency key answers the first allocation and moves nothing.
    #[expect(
        clippy::too_many_arguments,
        reason = "one allocation, every part named at the call site"
    )]
    pub async fn allocate(
        &self,
        partner: PartnerId,
        to: AllocationTarget,
        currency: Currency,
        amount: Decimal,
        actor: &Actor,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Transferred, StoreError> {
        let request = TransferRequest {
            from: AccountOwner::Partner(partner),
            to: to.owner(),
            keep_designated: true,
            currency,
            amount,
            reason: "allocation",
            actor,
            idempotency_key,
        };
        if let Some(first) = request.answered(self).await? {
            return Ok(first);
        }
        self.check_target(partner, to).await?;
        if let AllocationTarget::Customer(customer) = to {
            // Rule 18: a frozen customer receives no allocations.
            let found = self.existing_customer(customer).await?;
            crate::orders::refuse_frozen(customer, found.freeze.as_str(), "receive allocations")?;
        }
        transfer(self, &request, now).await
    }

    /// Reclaims balance from a resale customer or reseller back to its partner: never more
    /// than the other side's balance (rule 14). A retry with the same idempotency key answers
    /// the first reclaim and moves nothing.
    #[expect(
        clippy::too_many_arguments,
        reason = "one reclaim, every part named at the call site"
    )]
    pub async fn reclaim(
        &self,
        partner: PartnerId,
        from: AllocationTarget,
        currency: Currency,
        amount: Decimal,
        actor: &Actor,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Transferred, StoreError> {
        let request = TransferRequest {
            from: from.owner(),
            to: AccountOwner::Partner(partner),
            keep_designated: false,
            currency,
            amount,
            reason: "reclaim",
            actor,
            idempotency_key,
        };
        if let Some(first) = request.answered(self).await? {
            return Ok(first);
        }
        self.check_target(partner, from).await?;
        transfer(self, &request, now).await
    }

    /// A customer's cash balance with its partner; refused for referral customers (rule 12).
    pub async fn customer_balance(&self, customer: CustomerId, currency: Currency) -> Result<Decimal, StoreError> {
        let found = self.existing_customer(customer).await?;
        if found.association == crate::entities::Association::Referral {
            return Err(DomainError::ReferralCustomer(customer).into());
        }
        Ok(self
            .account(AccountOwner::Customer(customer), AccountKind::Cash, currency)
            .await?
            .map(|a| a.balance)
            .unwrap_or(Decimal::ZERO))
    }

    /// Sets the ring-fenced ("designated") amount of an account.
    pub async fn designate(&self, account: i64, amount: Decimal) -> Result<(), StoreError> {
        let designated = cents(amount, "designated")?;
        let updated = sqlx::query("UPDATE accounts SET designated_cents = $1 WHERE id = $2")
            .bind(designated)
            .bind(account)
            .execute(self.pool())
            .await?;
        if updated.rows_affected() == 0 {
            return Err(DomainError::NotFound {
                what: Entity::Account,
                id: account,
            }
            .into());
        }
        Ok(())
    }
}
