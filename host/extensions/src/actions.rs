//! The actions approval rules govern (DOMAIN rules 8, 10-14, 17, 18 and payment on behalf),
//! as data: an action is asked of the bound approval rules, then carried out at once
//! (approve), refused (reject), or kept as an approval task until a person with the
//! escalated role decides it (escalate). The same [`Action::execute`] carries it out in both
//! cases, so an approved task does exactly what the original request would have done.

use crate::error::ExtensionError;
use crate::views::{CustomerView, OrderView};
use chrono::{DateTime, Utc};
use pchost_domain::errors::Entity;
use pchost_domain::{Association, Currency, CustomerId, FreezeState, OrderId, PartnerId, Staff};
use pchost_store::accounts::{Actor, AllocationTarget};
use pchost_store::coupons::CouponLimits;
use pchost_store::orders::{NewOrder, Payer, Payment, RefundDone};
use pchost_store::resources::Unsubscription;
use pchost_store::store::Store;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An action waiting for, or past, its approval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Refund part or all of a paid order to whoever paid it (rules 9, 10).
    Refund {
        /// The order.
        order: OrderId,
        /// How much.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
        /// Who asked.
        actor: Actor,
        /// The request's idempotency key: a retry, or a second task holding the same request,
        /// refunds once. Tasks stored before refunds took a key have none (see `execute`).
        #[serde(default)]
        idempotency_key: String,
    },
    /// The partner pays a customer's order from its own balance (rule 22).
    PaymentOnBehalf {
        /// The order.
        order: OrderId,
        /// The paying partner.
        partner: PartnerId,
        /// Who asked.
        actor: Actor,
        /// The request's idempotency key: a retry pays once.
        idempotency_key: String,
    },
    /// Issue a coupon from a quota (rules 12, 13).
    CouponIssue {
        /// The quota.
        quota: i64,
        /// The customer.
        customer: CustomerId,
        /// Face value.
        #[serde(with = "rust_decimal::serde::str")]
        face: Decimal,
        /// Its limits.
        limits: CouponLimits,
    },
    /// Move balance from a partner to a resale customer or a reseller (rules 12, 14).
    Allocation {
        /// The giving partner.
        partner: PartnerId,
        /// A customer, when the receiver is one.
        customer: Option<CustomerId>,
        /// A reseller, when the receiver is one.
        reseller: Option<PartnerId>,
        /// Currency.
        currency: Currency,
        /// How much.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
        /// Who asked.
        actor: Actor,
        /// The request's idempotency key: a retry, or a second task holding the same request,
        /// allocates once. Tasks stored before allocations took a key have none (see
        /// [`Action::keyed_for_task`]).
        #[serde(default)]
        idempotency_key: String,
    },
    /// Lift a customer's freeze (rule 18).
    CustomerUnfreeze {
        /// The customer.
        customer: CustomerId,
        /// The freeze lifted.
        state: FreezeState,
    },
    /// Bind a reseller to a distributor (rule 15).
    ResellerInvitation {
        /// The distributor.
        distributor: PartnerId,
        /// The reseller.
        reseller: PartnerId,
    },
    /// Unsubscribe a resource with its children, recording the refund of its unused term
    /// (rule 10).
    Unsubscribe {
        /// The main resource.
        resource: i64,
        /// Who asked.
        actor: Actor,
        /// The request's idempotency key: a retry unsubscribes and refunds once. Tasks stored
        /// before unsubscriptions took a key have none (see `execute`).
        #[serde(default)]
        idempotency_key: String,
    },
    /// Order the renewal of a resource, priced by the chain in saved quote `quote` (rule 11):
    /// the order is payable at once, and paying it extends the term.
    Renewal {
        /// The renewal quote.
        quote: i64,
        /// Who asked.
        actor: Actor,
        /// The request's idempotency key: a retry orders once.
        idempotency_key: String,
    },
    /// Freeze a customer.
    Freeze {
        /// The customer.
        customer: CustomerId,
        /// The freeze.
        state: FreezeState,
    },
    /// Set a resale customer's budget, lifting the freeze of its association (rule 18).
    Budget {
        /// The customer.
        customer: CustomerId,
        /// The budget.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
    },
    /// Change a customer's association (rule 17).
    AssociationChange {
        /// The customer.
        customer: CustomerId,
        /// The new association.
        association: Association,
        /// The partner admin who asked.
        staff: Staff,
    },
    /// Unbind a customer from its partner (rule 17).
    Unbind {
        /// The customer.
        customer: CustomerId,
        /// The partner admin who asked.
        staff: Staff,
    },
    /// Cancel an unpaid order (rule 8).
    Cancel {
        /// The order.
        order: OrderId,
    },
    /// Let a new order out of review: it becomes payable for 7 days (rule 8). Rejected, the
    /// order is cancelled ([`Action::on_rejection`]).
    OrderRelease {
        /// The order.
        order: OrderId,
    },
    /// Take allocated balance back from a resale customer or a reseller (rules 12, 14).
    BalanceReclaim {
        /// The partner taking it back.
        partner: PartnerId,
        /// A customer, when the balance is one's.
        customer: Option<CustomerId>,
        /// A reseller, when the balance is one's.
        reseller: Option<PartnerId>,
        /// Currency.
        currency: Currency,
        /// How much.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
        /// Who asked.
        actor: Actor,
        /// The request's idempotency key: a retry, or a second task holding the same request,
        /// reclaims once. Tasks stored before reclaims took a key have none (see
        /// [`Action::keyed_for_task`]).
        #[serde(default)]
        idempotency_key: String,
    },
    /// Reclaim an unused coupon; its value returns to the quota (rule 13).
    CouponReclaim {
        /// The coupon.
        coupon: i64,
    },
    /// Reclaim a quota split to a reseller: its unissued balance returns to the parent.
    QuotaReclaim {
        /// The split quota.
        quota: i64,
    },
    /// Split part of a distributor's quota to a reseller (rule 13).
    QuotaSplit {
        /// The distributor's quota.
        parent: i64,
        /// The reseller.
        reseller: PartnerId,
        /// The amount split.
        #[serde(with = "rust_decimal::serde::str")]
        amount: Decimal,
        /// The largest face value of its coupons.
        #[serde(with = "rust_decimal::serde::str")]
        max_face: Decimal,
    },
}

/// The one account an allocation or a reclaim names.
fn target(customer: Option<CustomerId>, reseller: Option<PartnerId>) -> Result<AllocationTarget, ExtensionError> {
    match (customer, reseller) {
        (Some(c), None) => Ok(AllocationTarget::Customer(c)),
        (None, Some(r)) => Ok(AllocationTarget::Reseller(r)),
        _ => Err(ExtensionError::Internal(anyhow::anyhow!(
            "an allocation or reclaim names one account"
        ))),
    }
}

fn to_json(value: impl Serialize) -> Result<Value, ExtensionError> {
    serde_json::to_value(value).map_err(|e| ExtensionError::Internal(e.into()))
}

async fn customer_view(store: &Store, id: CustomerId) -> Result<Value, ExtensionError> {
    let customer = store
        .customer(id)
        .await?
        .ok_or_else(|| ExtensionError::not_found(Entity::Customer, id))?;
    to_json(CustomerView::from(customer))
}

/// What an unsubscription answers: the resources closed, the refunds paid and their sum.
pub fn unsubscription_json(done: &Unsubscription) -> Value {
    json!({
        "closed": done.closed,
        "refunds": refunds_json(&done.refunds),
        "amount": done.amount.to_string(),
    })
}

/// The answer of a payment: the order, the amount, who paid and the debits, and the refunds a
/// change to a cheaper spec paid back (when there are any).
pub fn payment_json(payment: &Payment, payer: &str) -> Value {
    let mut answer = json!({
        "order_id": payment.order,
        "amount": payment.amount.to_string(),
        "payer": payer,
        "debits": payment.debits,
        "paid_at": payment.paid_at,
    });
    if !payment.refunds.is_empty() {
        answer["refunds"] = Value::Array(refunds_json(&payment.refunds));
    }
    answer
}

/// Refunds as the API shows them.
fn refunds_json(refunds: &[RefundDone]) -> Vec<Value> {
    refunds.iter().map(refund_json).collect()
}

/// A refund as the API shows it, with the credit note it issued when its order was already
/// invoiced.
fn refund_json(refund: &RefundDone) -> Value {
    let mut answer = json!({
        "refund_id": refund.refund,
        "order_id": refund.order,
        "amount": refund.amount.to_string(),
        "account": refund.account,
    });
    if let Some(note) = refund.credit_note {
        answer["credit_note_id"] = json!(note);
    }
    answer
}

impl Action {
    /// The action of approval task `task`, as it is carried out: an allocation or a reclaim
    /// stored before they took an idempotency key gets its task's, so that it too moves money
    /// once however often it is carried out.
    pub fn keyed_for_task(mut self, task: i64) -> Self {
        if let Action::Allocation { idempotency_key, .. } | Action::BalanceReclaim { idempotency_key, .. } = &mut self
            && idempotency_key.is_empty()
        {
            *idempotency_key = format!("task:{task}");
        }
        self
    }

    /// Undoes what asking for the action held, once it is refused (by a rule, or by the person
    /// deciding its task): an order held for review is cancelled. Other actions hold nothing.
    pub async fn on_rejection(&self, store: &Store) -> Result<(), ExtensionError> {
        match self {
            Action::OrderRelease { order } => Ok(store.cancel_reviewed_order(*order).await?),
            _ => Ok(()),
        }
    }

    /// Whether carrying the action out a second time does nothing more than the first time:
    /// those keyed by their request (refunds, payments on behalf, renewals, unsubscriptions,
    /// allocations and reclaims of balance, see [`Action::keyed_for_task`]) and those that set
    /// a state (a freeze, a budget). What the approval outbox may redo.
    pub fn replays_safely(&self) -> bool {
        match self {
            Action::Refund { .. }
            | Action::PaymentOnBehalf { .. }
            | Action::Renewal { .. }
            | Action::Unsubscribe { .. }
            | Action::Allocation { .. }
            | Action::BalanceReclaim { .. }
            | Action::Freeze { .. }
            | Action::Budget { .. } => true,
            Action::CouponIssue { .. }
            | Action::CustomerUnfreeze { .. }
            | Action::ResellerInvitation { .. }
            | Action::AssociationChange { .. }
            | Action::Unbind { .. }
            | Action::Cancel { .. }
            | Action::OrderRelease { .. }
            | Action::CouponReclaim { .. }
            | Action::QuotaReclaim { .. }
            | Action::QuotaSplit { .. } => false,
        }
    }

    /// Carries the action out as of `now`; returns what the endpoint answers.
    pub async fn execute(&self, store: &Store, now: DateTime<Utc>) -> Result<Value, ExtensionError> {
        match self {
            Action::Refund {
                order,
                amount,
                actor,
                idempotency_key,
            } => {
                // A task from before refunds took a key: one derived from what it asks, so
                // that approving it twice (or two such tasks) still refunds once.
                let key = if idempotency_key.is_empty() {
                    format!("task:{order}:{amount}")
                } else {
                    idempotency_key.clone()
                };
                let done = store.refund_order(*order, *amount, actor, &key, now).await?;
                Ok(refund_json(&done))
            }
            Action::PaymentOnBehalf {
                order,
                partner,
                actor,
                idempotency_key,
            } => {
                let payment = store
                    .pay_order(*order, Payer::Partner(*partner), actor, idempotency_key, now)
                    .await?;
                Ok(payment_json(&payment, "partner"))
            }
            Action::CouponIssue {
                quota,
                customer,
                face,
                limits,
            } => {
                let coupon = store.issue_coupon(*quota, *customer, *face, limits).await?;
                Ok(serde_json::to_value(coupon).map_err(|e| ExtensionError::Internal(e.into()))?)
            }
            Action::Allocation {
                partner,
                customer,
                reseller,
                currency,
                amount,
                actor,
                idempotency_key,
            } => {
                let to = target(*customer, *reseller)?;
                store
                    .allocate(*partner, to, *currency, *amount, actor, idempotency_key, now)
                    .await?;
                Ok(json!({ "allocated": amount.to_string(), "currency": currency }))
            }
            Action::CustomerUnfreeze { customer, state } => {
                store.unfreeze_customer(*customer, *state, now).await?;
                customer_view(store, *customer).await
            }
            Action::Unsubscribe {
                resource,
                actor,
                idempotency_key,
            } => {
                let key = if idempotency_key.is_empty() {
                    format!("task:{resource}")
                } else {
                    idempotency_key.clone()
                };
                let done = store.unsubscribe_resource(*resource, actor, &key, now).await?;
                Ok(unsubscription_json(&done))
            }
            Action::Renewal {
                quote,
                actor,
                idempotency_key,
            } => {
                let saved = store
                    .saved_quote(*quote)
                    .await?
                    .ok_or_else(|| ExtensionError::not_found(Entity::Quote, *quote))?;
                let lines = saved.lines.ok_or_else(|| {
                    ExtensionError::Internal(anyhow::anyhow!("renewal quote {quote} was saved without its lines"))
                })?;
                let order = NewOrder {
                    customer: saved.customer,
                    currency: saved.currency,
                    lines,
                    quote: Some(*quote),
                };
                let created = store.create_order(&order, actor, idempotency_key, now).await?;
                let order = store
                    .order(created.id)
                    .await?
                    .ok_or_else(|| ExtensionError::not_found(Entity::Order, created.id))?;
                Ok(json!({ "order": OrderView::from(order), "payment_deadline": created.payment_deadline }))
            }
            Action::Freeze { customer, state } => {
                store.freeze_customer(*customer, *state, now).await?;
                customer_view(store, *customer).await
            }
            Action::Budget { customer, amount } => {
                store.set_budget(*customer, *amount).await?;
                customer_view(store, *customer).await
            }
            Action::AssociationChange {
                customer,
                association,
                staff,
            } => {
                store.change_association(*customer, *association, staff).await?;
                customer_view(store, *customer).await
            }
            Action::Unbind { customer, staff } => {
                store.unbind_customer(*customer, staff, now).await?;
                Ok(json!({ "unbound": customer }))
            }
            Action::BalanceReclaim {
                partner,
                customer,
                reseller,
                currency,
                amount,
                actor,
                idempotency_key,
            } => {
                let from = target(*customer, *reseller)?;
                store
                    .reclaim(*partner, from, *currency, *amount, actor, idempotency_key, now)
                    .await?;
                Ok(json!({ "reclaimed": amount.to_string(), "currency": currency }))
            }
            Action::CouponReclaim { coupon } => {
                store.reclaim_coupon(*coupon).await?;
                Ok(json!({ "reclaimed": coupon }))
            }
            Action::QuotaReclaim { quota } => {
                let returned = store.reclaim_quota(*quota).await?;
                Ok(json!({ "returned": returned.to_string() }))
            }
            Action::QuotaSplit {
                parent,
                reseller,
                amount,
                max_face,
            } => {
                let quota_id = store.split_quota(*parent, *reseller, *amount, *max_face).await?;
                Ok(json!({ "quota_id": quota_id }))
            }
            Action::OrderRelease { order } => {
                let payment_deadline = store.release_reviewed_order(*order, now).await?;
                let order = store
                    .order(*order)
                    .await?
                    .ok_or_else(|| ExtensionError::not_found(Entity::Order, order))?;
                Ok(json!({ "order": OrderView::from(order), "payment_deadline": payment_deadline }))
            }
            Action::Cancel { order } => {
                store.cancel_order(*order).await?;
                let order = store
                    .order(*order)
                    .await?
                    .ok_or_else(|| ExtensionError::not_found(Entity::Order, order))?;
                to_json(OrderView::from(order))
            }
            Action::ResellerInvitation { distributor, reseller } => {
                store.invite_reseller(*distributor, *reseller).await?;
                let reseller = store
                    .partner(*reseller)
                    .await?
                    .ok_or_else(|| ExtensionError::not_found(Entity::Partner, reseller))?;
                Ok(serde_json::to_value(reseller).map_err(|e| ExtensionError::Internal(e.into()))?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_task_stored_without_a_key_gets_its_tasks() {
        let stored = json!({ "action": "allocation", "partner": 2, "customer": 101, "reseller": null,
            "currency": "CNY", "amount": "10.00",
            "actor": { "role": "partner-admin", "partner": 2, "id": 500, "on_behalf_of": null } });
        let key = |action: Action| match action {
            Action::Allocation { idempotency_key, .. } => idempotency_key,
            other => panic!("{other:?}"),
        };
        let legacy: Action = serde_json::from_value(stored.clone()).expect("a task from before keys");
        assert_eq!(
            key(legacy.keyed_for_task(7)),
            "task:7",
            "once, however often it is carried out"
        );
        let mut keyed = stored;
        keyed["idempotency_key"] = json!("client-key");
        let keyed: Action = serde_json::from_value(keyed).expect("a task with the request's key");
        assert_eq!(key(keyed.keyed_for_task(7)), "client-key");
    }
}
