//! Approval tasks: when an approval rule escalates an action to a role, the action is kept as
//! a task until a principal with that role decides on it. Approving it lets the caller carry
//! the action out and record how that went; rejecting it ends it. The action and its outcome
//! are JSON that the domain stores without reading.

use crate::entities::{ApprovalKind, CustomerId, PartnerId, Role};
use crate::errors::{DomainError, Entity, ErrorCode, refused};
use crate::store::StoreError;
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The longest reason stored, in bytes.
pub const MAX_TASK_REASON: usize = 1024;
/// The longest action stored, in bytes.
pub const MAX_TASK_ACTION: usize = 64 << 10;
/// The longest outcome (or rejection note) stored, in bytes.
pub const MAX_TASK_OUTCOME: usize = 1 << 20;
/// The most tasks one query returns.
pub const MAX_TASK_PAGE: u32 = 500;

pchost_domain::word_enum! {
    /// Where a task is.
    pub enum TaskStatus {
        /// Waiting for a decision.
        Pending => "pending",
        /// Approved, and the action was carried out (or is being carried out).
        Approved => "approved",
        /// Rejected: the action was not carried out.
        Rejected => "rejected",
        /// Approved, but the action was then refused; the outcome says why.
        Failed => "failed",
    }
}

/// Which tasks [`Store::tasks`] lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskFilter {
    /// Of this partner only; `None`: every partner's (the operator).
    pub partner: Option<PartnerId>,
    /// In this status only.
    pub status: Option<TaskStatus>,
    /// Rule 16: only the tasks that concern no customer, or a customer of the task's partner
    /// managed by one of these staff; `None`: every customer's (a partner admin, the operator).
    pub managers: Option<Vec<i64>>,
}

/// An action waiting for a person's decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalTask {
    /// Id.
    pub id: i64,
    /// What kind of action it is.
    pub kind: ApprovalKind,
    /// The partner whose staff decide.
    pub partner: PartnerId,
    /// The customer concerned, if any: it limits which staff may decide (rule 16).
    pub customer: Option<CustomerId>,
    /// The role that must decide.
    pub role: Role,
    /// The escalating rule's reason.
    pub reason: String,
    /// `name@version` of the escalating rule.
    pub plugin: String,
    /// The action, a JSON object (opaque to the store: the plugin host reads it).
    pub action: serde_json::Value,
    /// The actor label of who asked for the action.
    pub requested_by: String,
    /// The API key it was asked with, if one was (none for a standing instruction).
    pub requested_key: Option<i64>,
    /// Where it is.
    pub status: TaskStatus,
    /// The actor label of who decided, once decided.
    pub decided_by: Option<String>,
    /// When it was decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// The action's result, or why it was refused, or the rejection note: a JSON object.
    pub outcome: Option<serde_json::Value>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A task to create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// What kind of action it is.
    pub kind: ApprovalKind,
    /// The partner whose staff decide; must exist.
    pub partner: PartnerId,
    /// The customer concerned, if any; must exist.
    pub customer: Option<CustomerId>,
    /// The role that must decide.
    pub role: Role,
    /// The escalating rule's reason, at most [`MAX_TASK_REASON`] bytes.
    pub reason: String,
    /// `name@version` of the escalating rule.
    pub plugin: String,
    /// The action, a JSON object of at most [`MAX_TASK_ACTION`] bytes.
    pub action: serde_json::Value,
    /// The actor label of who asked for the action.
    pub requested_by: String,
    /// The API key it was asked with, if one was.
    pub requested_key: Option<i64>,
}

const TASK_FIELDS: &str = "id, kind, partner, customer, role, reason, plugin, action, requested_by, requested_key, status, decided_by, decided_at, outcome, created_at";

fn task_from_row(r: &AnyRow) -> Result<ApprovalTask, StoreError> {
    let decided_at: Option<i64> = r.try_get("decided_at")?;
    Ok(ApprovalTask {
        id: r.try_get("id")?,
        kind: store::word(r, "approval_tasks", "kind")?,
        partner: r.try_get("partner")?,
        customer: r.try_get("customer")?,
        role: store::word(r, "approval_tasks", "role")?,
        reason: r.try_get("reason")?,
        plugin: r.try_get("plugin")?,
        action: json_column(r, "action")?.unwrap_or_default(),
        requested_by: r.try_get("requested_by")?,
        requested_key: r.try_get("requested_key")?,
        status: store::word(r, "approval_tasks", "status")?,
        decided_by: r.try_get("decided_by")?,
        decided_at: decided_at
            .map(|ms| store::from_millis("approval_tasks", ms))
            .transpose()?,
        outcome: json_column(r, "outcome")?,
        created_at: store::millis(r, "approval_tasks", "created_at")?,
    })
}

/// A JSON column of a task: stored as text, answered as the JSON it holds.
fn json_column(r: &AnyRow, column: &'static str) -> Result<Option<serde_json::Value>, StoreError> {
    let text: Option<String> = r.try_get(column)?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            table: "approval_tasks",
            detail: format!("{column} is not JSON: {e}"),
        })
    })
    .transpose()
}

/// Whether two actor labels name one principal: the same label, or the same principal with
/// another key or console (`operator(key 3)`, `operator(cli)`; a staff member's second key).
fn same_principal(a: &str, b: &str) -> bool {
    a == b || crate::keys::principal_of_label(a).is_some_and(|p| crate::keys::principal_of_label(b) == Some(p))
}

fn task_not_found(id: i64) -> DomainError {
    DomainError::NotFound {
        what: Entity::ApprovalTask,
        id,
    }
}

/// `value` as the text a JSON column stores: a JSON object of at most `limit` bytes.
fn json_text(field: &'static str, value: &serde_json::Value, limit: usize) -> Result<String, StoreError> {
    let text = value.to_string();
    if !value.is_object() || text.len() > limit {
        return Err(DomainError::Invalid {
            field,
            message: format!("a JSON object of at most {limit} bytes"),
        }
        .into());
    }
    Ok(text)
}

impl Store {
    /// Stores an escalated action as a pending task.
    pub async fn create_task(&self, new: &NewTask, now: DateTime<Utc>) -> Result<ApprovalTask, StoreError> {
        if new.reason.len() > MAX_TASK_REASON {
            return Err(DomainError::Invalid {
                field: "reason",
                message: format!("at most {MAX_TASK_REASON} bytes"),
            }
            .into());
        }
        let action = json_text("action", &new.action, MAX_TASK_ACTION)?;
        if self.partner(new.partner).await?.is_none() {
            return Err(DomainError::NotFound {
                what: Entity::Partner,
                id: new.partner,
            }
            .into());
        }
        if let Some(customer) = new.customer {
            self.existing_customer(customer).await?;
        }
        let row = sqlx::query(&format!(
            "INSERT INTO approval_tasks (kind, partner, customer, role, reason, plugin, action, requested_by, requested_key, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, 'pending', $9) RETURNING {TASK_FIELDS}"
        ))
        .bind(new.kind.as_str())
        .bind(new.partner)
        .bind(new.customer)
        .bind(new.role.as_str())
        .bind(&new.reason)
        .bind(&new.plugin)
        .bind(&action)
        .bind(&new.requested_by)
        .bind(now.timestamp_millis())
        .bind(new.requested_key)
        .fetch_one(self.pool())
        .await?;
        task_from_row(&row)
    }

    /// The pending task of `partner` that holds exactly `action` (of `kind`), if any: whether
    /// a request that escalated was answered before it stopped.
    pub async fn pending_task_holding(
        &self,
        partner: PartnerId,
        kind: ApprovalKind,
        action: &serde_json::Value,
    ) -> Result<Option<ApprovalTask>, StoreError> {
        let action = json_text("action", action, MAX_TASK_ACTION)?;
        let row = sqlx::query(&format!(
            "SELECT {TASK_FIELDS} FROM approval_tasks WHERE partner = $1 AND status = 'pending' AND kind = $2 AND action = $3 ORDER BY id LIMIT 1"
        ))
        .bind(partner)
        .bind(kind.as_str())
        .bind(&action)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// The pending task of `partner` (of `kind`) whose action carries idempotency key `key`,
    /// if any: a standing instruction the rules escalated (an auto-renewal) waits for its
    /// task rather than asking again at every try.
    pub async fn pending_task_keyed(
        &self,
        partner: PartnerId,
        kind: ApprovalKind,
        key: &str,
    ) -> Result<Option<ApprovalTask>, StoreError> {
        // LIKE narrows the search to the actions that mention the key (its wildcards escaped);
        // the key is then compared exactly.
        let escaped = key.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let rows = sqlx::query(&format!(
            "SELECT {TASK_FIELDS} FROM approval_tasks WHERE partner = $1 AND status = 'pending' AND kind = $2 \
             AND action LIKE $3 ESCAPE '\\' ORDER BY id"
        ))
        .bind(partner)
        .bind(kind.as_str())
        .bind(format!("%{escaped}%"))
        .fetch_all(self.pool())
        .await?;
        for row in &rows {
            let task = task_from_row(row)?;
            if task.action.get("idempotency_key").and_then(|k| k.as_str()) == Some(key) {
                return Ok(Some(task));
            }
        }
        Ok(None)
    }

    /// One task.
    pub async fn task(&self, id: i64) -> Result<Option<ApprovalTask>, StoreError> {
        let row = sqlx::query(&format!("SELECT {TASK_FIELDS} FROM approval_tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(task_from_row).transpose()
    }

    /// A page of the tasks matching `filter`, by id, after `after`; at most `limit` (capped at
    /// [`MAX_TASK_PAGE`]). Only the filters that are set are written, so that a partner's page
    /// is sought in its index rather than found by reading every tenant's tasks.
    pub async fn tasks(&self, filter: &TaskFilter, after: i64, limit: u32) -> Result<Vec<ApprovalTask>, StoreError> {
        let mut next = 0;
        let mut placeholder = || {
            next += 1;
            format!("${next}")
        };
        let mut sql = format!("SELECT {TASK_FIELDS} FROM approval_tasks WHERE id > {}", placeholder());
        if filter.partner.is_some() {
            sql.push_str(&format!(" AND partner = {}", placeholder()));
        }
        if filter.status.is_some() {
            sql.push_str(&format!(" AND status = {}", placeholder()));
        }
        if let Some(managers) = &filter.managers {
            // Rule 16, in the query rather than after it: a page holds the tasks the caller
            // sees, however many others' come between them. No managers: no customer's task.
            let managers = managers.iter().map(|_| placeholder()).collect::<Vec<_>>().join(", ");
            let managed = if managers.is_empty() {
                String::new()
            } else {
                format!(
                    " OR customer IN (SELECT c.id FROM customers c \
                     WHERE c.partner = approval_tasks.partner AND c.manager IN ({managers}))"
                )
            };
            sql.push_str(&format!(" AND (customer IS NULL{managed})"));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", placeholder()));
        let mut query = sqlx::query(&sql).bind(after);
        if let Some(partner) = filter.partner {
            query = query.bind(partner);
        }
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        for manager in filter.managers.iter().flatten() {
            query = query.bind(*manager);
        }
        let rows = query
            .bind(i64::from(limit.min(MAX_TASK_PAGE)))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(task_from_row).collect()
    }

    /// Approved tasks decided before `decided_before` whose outcome was never recorded: the
    /// host stopped between the approval and the end of its action. Oldest first, at most
    /// [`MAX_TASK_PAGE`].
    pub async fn tasks_without_outcome(&self, decided_before: DateTime<Utc>) -> Result<Vec<ApprovalTask>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_FIELDS} FROM approval_tasks WHERE status = 'approved' AND outcome IS NULL AND decided_at < $1 \
             ORDER BY id LIMIT $2"
        ))
        .bind(decided_before.timestamp_millis())
        .bind(i64::from(MAX_TASK_PAGE))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    /// Decides a pending task: approving makes it [`TaskStatus::Approved`] (the caller then
    /// carries the action out and records its outcome), rejecting makes it
    /// [`TaskStatus::Rejected`] with `note` as its outcome; a note with an approval is
    /// ignored. One conditional update claims the task, so of two racing deciders exactly one
    /// wins; the other is refused `task-not-pending`, as is any decision on a decided task.
    pub async fn decide_task(
        &self,
        id: i64,
        approve: bool,
        decided_by: &str,
        note: Option<&serde_json::Value>,
        now: DateTime<Utc>,
    ) -> Result<ApprovalTask, StoreError> {
        let note = match note {
            Some(note) if !approve => Some(json_text("note", note, MAX_TASK_OUTCOME)?),
            _ => None,
        };
        // Four eyes: whoever asked for the action does not decide it, with any of its keys.
        // `requested_by` never changes, so checking before the conditional update is exact.
        let task = self.task(id).await?.ok_or_else(|| task_not_found(id))?;
        if same_principal(&task.requested_by, decided_by) {
            return Err(refused(
                ErrorCode::SelfApproval,
                format!(
                    "approval task {id} was requested by {}: another person decides it (four eyes)",
                    task.requested_by
                ),
            )
            .into());
        }
        let status = if approve {
            TaskStatus::Approved
        } else {
            TaskStatus::Rejected
        };
        let row = sqlx::query(&format!(
            "UPDATE approval_tasks SET status = $1, decided_by = $2, decided_at = $3, outcome = $4 \
             WHERE id = $5 AND status = 'pending' RETURNING {TASK_FIELDS}"
        ))
        .bind(status.as_str())
        .bind(decided_by)
        .bind(now.timestamp_millis())
        .bind(note)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => task_from_row(&row),
            None => {
                let task = self.task(id).await?.ok_or_else(|| task_not_found(id))?;
                Err(refused(
                    ErrorCode::TaskNotPending,
                    format!("approval task {id} is {}: it was already decided", task.status),
                )
                .into())
            }
        }
    }

    /// Records the outcome of carrying out an approved task, once; `failed` means the
    /// action was refused, and makes the task [`TaskStatus::Failed`]. Refused
    /// `task-not-approved` unless the task was approved, `task-outcome-recorded` when its
    /// outcome already is.
    pub async fn record_task_outcome(
        &self,
        id: i64,
        outcome: &serde_json::Value,
        failed: bool,
    ) -> Result<ApprovalTask, StoreError> {
        let outcome = json_text("outcome", outcome, MAX_TASK_OUTCOME)?;
        let row = sqlx::query(&format!(
            "UPDATE approval_tasks SET outcome = $1, status = CASE WHEN $2 = 1 THEN 'failed' ELSE status END \
             WHERE id = $3 AND status = 'approved' AND outcome IS NULL RETURNING {TASK_FIELDS}"
        ))
        .bind(&outcome)
        .bind(i64::from(failed))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => task_from_row(&row),
            None => {
                let task = self.task(id).await?.ok_or_else(|| task_not_found(id))?;
                Err(match task.status {
                    TaskStatus::Approved | TaskStatus::Failed => refused(
                        ErrorCode::TaskOutcomeRecorded,
                        format!("approval task {id} already has its outcome recorded"),
                    )
                    .into(),
                    TaskStatus::Pending | TaskStatus::Rejected => refused(
                        ErrorCode::TaskNotApproved,
                        format!(
                            "approval task {id} is {}: only an approved task has an outcome",
                            task.status
                        ),
                    )
                    .into(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{self, DemoData};
    use crate::testing::on_both_backends;
    use chrono::{Duration, TimeZone};
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().expect("date")
    }

    fn action() -> serde_json::Value {
        json!({ "refund": { "order": 9001, "amount": "100.00" } })
    }

    fn refund() -> NewTask {
        NewTask {
            kind: ApprovalKind::Refund,
            partner: demo::RESELLER,
            customer: Some(demo::STANDARD_CUSTOMER),
            role: Role::PartnerAdmin,
            reason: "refunds over 50.00 need an admin".into(),
            plugin: "approver@1.0.0".into(),
            action: action(),
            requested_by: "salesperson:2/503".into(),
            requested_key: None,
        }
    }

    async fn seeded(store: &Store) {
        store.seed_demo_if_empty(&DemoData::new(t0())).await.expect("seed");
    }

    fn code<T>(r: Result<T, StoreError>) -> Result<(), &'static str> {
        r.map(|_| ()).map_err(|e| e.code().as_str())
    }

    on_both_backends! {
        async fn four_eyes_whoever_requested_a_task_decides_it_with_no_key_of_its_own(store: Store) {
            seeded(&store).await;
            for (requested_by, same) in [
                ("staff:500@2", "staff:500@2"),
                ("operator(key 1)", "operator(key 7)"),
                ("operator(key 1)", "operator(cli)"),
            ] {
                let task = store.create_task(&NewTask { requested_by: requested_by.into(), ..refund() }, t0()).await.expect("created");
                for approve in [true, false] {
                    assert_eq!(code(store.decide_task(task.id, approve, same, None, t0()).await), Err("self-approval"), "{requested_by} by {same}");
                }
                assert_eq!(store.task(task.id).await.expect("read").map(|t| t.status), Some(TaskStatus::Pending));
            }
            // Another person of the same partner and role decides.
            let task = store.create_task(&NewTask { requested_by: "staff:500@2".into(), ..refund() }, t0()).await.expect("created");
            let approved = store.decide_task(task.id, true, "staff:509@2", None, t0()).await.expect("approved");
            assert_eq!(approved.decided_by.as_deref(), Some("staff:509@2"));
            assert!(!same_principal("staff:5@2", "staff:50@2") && !same_principal("demo", "cli"));
            assert!(same_principal("operator(key 1)", "operator(cli)") && same_principal("test", "test"));
        }

        async fn a_task_is_created_listed_approved_and_its_outcome_recorded(store: Store) {
            seeded(&store).await;
            let created = store.create_task(&refund(), t0()).await.expect("created");
            assert_eq!(
                (created.kind, created.partner, created.customer, created.role),
                (ApprovalKind::Refund, 2, Some(102), Role::PartnerAdmin)
            );
            assert_eq!(
                (created.reason.as_str(), created.plugin.as_str(), &created.action, created.requested_by.as_str()),
                ("refunds over 50.00 need an admin", "approver@1.0.0", &action(), "salesperson:2/503")
            );
            assert_eq!((created.status, created.decided_by.as_deref(), created.decided_at), (TaskStatus::Pending, None, None));
            assert_eq!((created.outcome.as_ref(), created.created_at), (None, t0()));
            assert_eq!(store.task(created.id).await.expect("read"), Some(created.clone()));
            assert_eq!(store.task(4242).await.expect("read"), None);

            let other = NewTask { partner: demo::OTHER_RESELLER, customer: None, ..refund() };
            let other = store.create_task(&other, t0()).await.expect("created");
            let pending = store.tasks(&TaskFilter { partner: Some(demo::RESELLER), status: Some(TaskStatus::Pending), ..TaskFilter::default() }, 0, 10).await.expect("list");
            assert_eq!(pending, vec![created.clone()]);

            let t1 = t0() + Duration::minutes(5);
            let approved = store.decide_task(created.id, true, "partner-admin:2/500", Some(&json!({})), t1).await.expect("approved");
            assert_eq!(approved.status, TaskStatus::Approved);
            assert_eq!((approved.decided_by.as_deref(), approved.decided_at), (Some("partner-admin:2/500"), Some(t1)));
            assert_eq!(approved.outcome, None, "an approval's note is ignored");
            assert!(store.tasks(&TaskFilter { partner: Some(demo::RESELLER), status: Some(TaskStatus::Pending), ..TaskFilter::default() }, 0, 10).await.expect("list").is_empty());

            let again = store.decide_task(created.id, false, "partner-admin:2/500", None, t1).await;
            match again {
                Err(StoreError::Refused(DomainError::Refused { code: ErrorCode::TaskNotPending, message })) => {
                    assert_eq!(message, format!("approval task {} is approved: it was already decided", created.id));
                }
                other => panic!("expected task-not-pending, got {other:?}"),
            }
            assert_eq!(code(store.decide_task(4242, true, "operator", None, t1).await), Err("approval-task-not-found"));

            let result = &json!({ "refund": 7001 });
            let done = store.record_task_outcome(created.id, result, false).await.expect("recorded");
            assert_eq!((done.status, done.outcome.as_ref()), (TaskStatus::Approved, Some(result)));
            assert_eq!((&done.decided_by, done.decided_at), (&approved.decided_by, approved.decided_at));
            assert_eq!(code(store.record_task_outcome(created.id, result, true).await), Err("task-outcome-recorded"));
            assert_eq!(code(store.record_task_outcome(other.id, result, false).await), Err("task-not-approved"));
            assert_eq!(code(store.record_task_outcome(4242, result, false).await), Err("approval-task-not-found"));
            assert_eq!(store.task(created.id).await.expect("read"), Some(done.clone()));

            // Every partner, every status, by id; paged after an id.
            let all = store.tasks(&TaskFilter::default(), 0, 10).await.expect("list");
            assert_eq!(all, vec![done.clone(), other.clone()]);
            assert_eq!(store.tasks(&TaskFilter::default(), created.id, 10).await.expect("page"), vec![other.clone()]);
            assert_eq!(store.tasks(&TaskFilter::default(), 0, 1).await.expect("page"), vec![done.clone()]);
            assert_eq!(store.tasks(&TaskFilter { status: Some(TaskStatus::Approved), ..TaskFilter::default() }, 0, 10).await.expect("list"), vec![done]);
            assert_eq!(store.tasks(&TaskFilter { partner: Some(demo::OTHER_RESELLER), ..TaskFilter::default() }, 0, 10).await.expect("list"), vec![other]);
        }

        async fn a_rejection_keeps_its_note_and_a_refused_action_fails_the_task(store: Store) {
            seeded(&store).await;
            let rejected = store.create_task(&refund(), t0()).await.expect("created");
            let t1 = t0() + Duration::minutes(1);
            let note = &json!({ "note": "not this month" });
            let rejected = store.decide_task(rejected.id, false, "partner-admin:2/500", Some(note), t1).await.expect("rejected");
            assert_eq!(rejected.status, TaskStatus::Rejected);
            assert_eq!((rejected.decided_by.as_deref(), rejected.decided_at), (Some("partner-admin:2/500"), Some(t1)));
            assert_eq!(rejected.outcome.as_ref(), Some(note));
            assert_eq!(code(store.decide_task(rejected.id, true, "operator", None, t1).await), Err("task-not-pending"));
            assert_eq!(code(store.record_task_outcome(rejected.id, &json!({}), false).await), Err("task-not-approved"));

            let silent = store.create_task(&refund(), t0()).await.expect("created");
            let silent = store.decide_task(silent.id, false, "operator", None, t1).await.expect("rejected");
            assert_eq!((silent.status, silent.outcome.as_ref()), (TaskStatus::Rejected, None));

            let failing = store.create_task(&refund(), t0()).await.expect("created");
            store.decide_task(failing.id, true, "partner-admin:2/500", None, t1).await.expect("approved");
            let refusal = &json!({ "code": "order-state", "message": "order 9001 is refunded" });
            let failed = store.record_task_outcome(failing.id, refusal, true).await.expect("recorded");
            assert_eq!((failed.status, failed.outcome.as_ref()), (TaskStatus::Failed, Some(refusal)));
            assert_eq!(code(store.decide_task(failing.id, true, "operator", None, t1).await), Err("task-not-pending"));
            assert_eq!(code(store.record_task_outcome(failing.id, refusal, true).await), Err("task-outcome-recorded"));
            let failed_ids: Vec<i64> =
                store.tasks(&TaskFilter { partner: Some(demo::RESELLER), status: Some(TaskStatus::Failed), ..TaskFilter::default() }, 0, 10).await.expect("list").iter().map(|t| t.id).collect();
            assert_eq!(failed_ids, vec![failing.id]);
        }

        async fn rule_16_a_page_of_tasks_holds_those_of_the_staffs_customers_however_many_others_come_between(store: Store) {
            seeded(&store).await;
            let of = |customer: Option<i64>| NewTask { customer, ..refund() };
            // The manager's customer 101, then 600 tasks of the salesperson's customer 102,
            // then a task of no customer and another of 101's.
            let first = store.create_task(&of(Some(demo::KEY_ACCOUNT_CUSTOMER)), t0()).await.expect("created");
            for _ in 0..600 {
                store.create_task(&of(Some(demo::STANDARD_CUSTOMER)), t0()).await.expect("created");
            }
            let no_customer = store.create_task(&of(None), t0()).await.expect("created");
            let last = store.create_task(&of(Some(demo::KEY_ACCOUNT_CUSTOMER)), t0()).await.expect("created");
            let page = |managers: Option<Vec<i64>>, after: i64| {
                let store = store.clone();
                let filter = TaskFilter { partner: Some(demo::RESELLER), status: Some(TaskStatus::Pending), managers };
                async move { store.tasks(&filter, after, 10).await.expect("list").iter().map(|t| t.id).collect::<Vec<_>>() }
            };
            let manager = Some(vec![demo::STAFF_MANAGER]);
            assert_eq!(page(manager.clone(), 0).await, vec![first.id, no_customer.id, last.id]);
            assert_eq!(page(manager, first.id).await, vec![no_customer.id, last.id]);
            // A supervisor's list names itself and the managers under it.
            let supervisor = Some(vec![demo::STAFF_SUPERVISOR, demo::STAFF_MANAGER]);
            assert_eq!(page(supervisor, 0).await, vec![first.id, no_customer.id, last.id]);
            // Staff managing no customer see the tasks of none.
            assert_eq!(page(Some(Vec::new()), 0).await, vec![no_customer.id]);
            let salesperson = page(Some(vec![demo::STAFF_SALESPERSON]), 0).await;
            assert_eq!(salesperson.len(), 10);
            assert!(salesperson.iter().all(|id| *id > first.id && *id < no_customer.id), "{salesperson:?}");
            // The admin (no managers named) sees every one, in order.
            assert_eq!(page(None, 0).await.first(), Some(&first.id));
            assert_eq!(page(None, last.id - 2).await, vec![no_customer.id, last.id]);
            // A task of the reseller's naming another partner's customer stays hidden from the
            // manager, even were that customer's manager id the manager's own (staff_sees
            // compares partners first).
            sqlx::query("UPDATE customers SET manager = $1 WHERE id = $2")
                .bind(demo::STAFF_MANAGER)
                .bind(demo::OTHER_RESELLERS_CUSTOMER)
                .execute(store.pool())
                .await
                .expect("manager");
            let foreign = store.create_task(&of(Some(demo::OTHER_RESELLERS_CUSTOMER)), t0()).await.expect("created");
            assert_eq!(page(Some(vec![demo::STAFF_MANAGER]), last.id).await, Vec::<i64>::new());
            assert_eq!(page(None, last.id).await, vec![foreign.id]);
        }

        async fn task_refusals_name_the_field(store: Store) {
            seeded(&store).await;
            let invalid = |r: Result<ApprovalTask, StoreError>| match r {
                Err(StoreError::Refused(DomainError::Invalid { field, .. })) => field,
                other => panic!("expected an invalid field, got {other:?}"),
            };
            let long_reason = NewTask { reason: "r".repeat(MAX_TASK_REASON + 1), ..refund() };
            assert_eq!(invalid(store.create_task(&long_reason, t0()).await), "reason");
            let longest_reason = NewTask { reason: "r".repeat(MAX_TASK_REASON), ..refund() };
            assert_eq!(store.create_task(&longest_reason, t0()).await.expect("created").reason.len(), 1024);
            let no_action = NewTask { action: json!(null), ..refund() };
            assert_eq!(invalid(store.create_task(&no_action, t0()).await), "action");
            let huge_action = NewTask { action: json!({ "x": "x".repeat(MAX_TASK_ACTION) }), ..refund() };
            assert_eq!(invalid(store.create_task(&huge_action, t0()).await), "action");
            let unknown_partner = NewTask { partner: 4242, ..refund() };
            assert_eq!(code(store.create_task(&unknown_partner, t0()).await), Err("partner-not-found"));
            let unknown_customer = NewTask { customer: Some(4242), ..refund() };
            assert_eq!(code(store.create_task(&unknown_customer, t0()).await), Err("customer-not-found"));

            let task = store.create_task(&refund(), t0()).await.expect("created");
            assert_eq!(invalid(store.decide_task(task.id, false, "operator", Some(&json!("")), t0()).await), "note");
            assert_eq!(store.task(task.id).await.expect("read").expect("task").status, TaskStatus::Pending);
            store.decide_task(task.id, true, "operator", None, t0()).await.expect("approved");
            assert_eq!(invalid(store.record_task_outcome(task.id, &json!([]), false).await), "outcome");
        }

        async fn of_two_racing_deciders_exactly_one_wins(store: Store) {
            seeded(&store).await;
            for round in 0..5 {
                let task = store.create_task(&refund(), t0()).await.expect("created");
                let note = json!({});
                let (approve, reject) = tokio::join!(
                    store.decide_task(task.id, true, "partner-admin:2/500", None, t0()),
                    store.decide_task(task.id, false, "operator", Some(&note), t0()),
                );
                let decided = store.task(task.id).await.expect("read").expect("task");
                match (approve, reject) {
                    (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => {
                        assert_eq!(lost.code(), ErrorCode::TaskNotPending, "round {round}");
                        assert_eq!(decided, won, "round {round}");
                    }
                    other => panic!("round {round}: expected exactly one winner, got {other:?}"),
                }
            }
        }
    }
}
