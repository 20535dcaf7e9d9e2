//! API keys: a secret that lets a client act as one principal (the platform operator, a staff
//! member or a customer) within some scopes. Only the hash of the secret is stored; the
//! caller hashes a presented secret and looks the key up by that hash. Revoked keys stay on
//! record.

use crate::entities::CustomerId;
use crate::errors::{DomainError, Entity, ErrorCode, refused};
use crate::store::StoreError;
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The longest key name, in characters.
pub const MAX_KEY_NAME: usize = 64;
/// The most usable (neither revoked nor expired) keys one principal holds: a principal that
/// needs more shares them, and one that mints keys in a loop stops here.
pub const MAX_KEYS_PER_PRINCIPAL: i64 = 20;
/// How stale a key's `last_used_at` may get before a request writes it again: once a minute
/// at most, so that authenticating stays a read.
pub const LAST_USED_PRECISION: chrono::Duration = chrono::Duration::minutes(1);

/// Who a key acts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum KeyPrincipal {
    /// The platform operator.
    Operator,
    /// A member of a partner's staff, by staff id.
    Staff(i64),
    /// A customer.
    Customer(CustomerId),
}

/// The principal an actor label names (`staff:500@2`, `customer:102`, `operator(key 1)`), if
/// it names one.
pub fn principal_of_label(label: &str) -> Option<KeyPrincipal> {
    if label.starts_with("operator") {
        return Some(KeyPrincipal::Operator);
    }
    if let Some(rest) = label.strip_prefix("staff:") {
        return rest.split('@').next()?.parse().ok().map(KeyPrincipal::Staff);
    }
    label
        .strip_prefix("customer:")?
        .parse()
        .ok()
        .map(KeyPrincipal::Customer)
}

impl std::fmt::Display for KeyPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyPrincipal::Operator => f.write_str("the operator"),
            KeyPrincipal::Staff(id) => write!(f, "staff {id}"),
            KeyPrincipal::Customer(id) => write!(f, "customer {id}"),
        }
    }
}

impl KeyPrincipal {
    /// The stored kind word and id (none for the operator).
    pub(crate) fn parts(self) -> (&'static str, Option<i64>) {
        match self {
            KeyPrincipal::Operator => ("operator", None),
            KeyPrincipal::Staff(id) => ("staff", Some(id)),
            KeyPrincipal::Customer(id) => ("customer", Some(id)),
        }
    }
}

/// A stored API key (without its secret).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiKey {
    /// Id.
    pub id: i64,
    /// A name for people.
    pub name: String,
    /// The first characters of the secret, to recognise it by.
    pub prefix: String,
    /// Who it acts as.
    pub principal: KeyPrincipal,
    /// What it may do.
    pub scopes: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Who created it.
    pub created_by: String,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it stops working, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used, to the minute ([`LAST_USED_PRECISION`]); `None` if never.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether the key works at `now`: not revoked, not expired.
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

/// A key to create; the caller made the secret and passes its hash.
#[derive(Clone, Debug, PartialEq)]
pub struct NewApiKey {
    /// A name for people, 1 to 64 characters.
    pub name: String,
    /// The hash of the secret, unique among keys.
    pub key_hash: String,
    /// The first characters of the secret.
    pub prefix: String,
    /// Who it acts as.
    pub principal: KeyPrincipal,
    /// What it may do: words without spaces.
    pub scopes: Vec<String>,
    /// Who creates it.
    pub created_by: String,
    /// When it stops working, if it does: after its creation.
    pub expires_at: Option<DateTime<Utc>>,
    /// The key that made it, if a key did.
    pub parent_key: Option<i64>,
}

const KEY_COLUMNS: &str = "SELECT id, name, prefix, principal_kind, principal_id, scopes, created_at, created_by, revoked_at, \
     expires_at, last_used_at FROM api_keys";

fn key_from_row(r: &AnyRow) -> Result<ApiKey, StoreError> {
    let kind: String = r.try_get("principal_kind")?;
    let id: Option<i64> = r.try_get("principal_id")?;
    let principal = match (kind.as_str(), id) {
        ("operator", None) => KeyPrincipal::Operator,
        ("staff", Some(id)) => KeyPrincipal::Staff(id),
        ("customer", Some(id)) => KeyPrincipal::Customer(id),
        _ => return Err(store::corrupt("api_keys", format!("principal {kind} {id:?}"))),
    };
    let scopes: String = r.try_get("scopes")?;
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    let expires_at: Option<i64> = r.try_get("expires_at")?;
    let last_used_at: Option<i64> = r.try_get("last_used_at")?;
    Ok(ApiKey {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        principal,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        created_at: store::millis(r, "api_keys", "created_at")?,
        created_by: r.try_get("created_by")?,
        revoked_at: revoked_at.map(|ms| store::from_millis("api_keys", ms)).transpose()?,
        expires_at: expires_at.map(|ms| store::from_millis("api_keys", ms)).transpose()?,
        last_used_at: last_used_at.map(|ms| store::from_millis("api_keys", ms)).transpose()?,
    })
}

impl Store {
    /// Creates a key for an existing principal.
    pub async fn create_api_key(&self, new: &NewApiKey, now: DateTime<Utc>) -> Result<ApiKey, StoreError> {
        if new.name.trim().is_empty() || new.name.chars().count() > MAX_KEY_NAME {
            return Err(DomainError::Invalid {
                field: "name",
                message: format!("1 to {MAX_KEY_NAME} characters"),
            }
            .into());
        }
        if new.key_hash.is_empty() {
            return Err(DomainError::Invalid {
                field: "key_hash",
                message: "the hash of the key's secret".into(),
            }
            .into());
        }
        if new
            .scopes
            .iter()
            .any(|s| s.is_empty() || s.chars().any(char::is_whitespace))
        {
            return Err(DomainError::Invalid {
                field: "scopes",
                message: "each scope is a non-empty word without spaces".into(),
            }
            .into());
        }
        match new.principal {
            KeyPrincipal::Operator => {}
            KeyPrincipal::Staff(id) => {
                self.staff(id).await?.ok_or(DomainError::NotFound {
                    what: Entity::Staff,
                    id,
                })?;
            }
            KeyPrincipal::Customer(id) => {
                self.existing_customer(id).await?;
            }
        }
        if new.expires_at.is_some_and(|expiry| expiry <= now) {
            return Err(DomainError::Invalid {
                field: "expires_at",
                message: "a time after now".into(),
            }
            .into());
        }
        let (kind, principal_id) = new.principal.parts();
        // The count and the insert are one statement; on PostgreSQL two creations for one
        // principal could each count the other out, so they take turns on a lock of the
        // principal's (SQLite has one writer already).
        let mut tx = self.pool().begin().await?;
        if self.backend() == store::Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))::TEXT")
                .bind(format!("api_keys:{kind}:{}", principal_id.unwrap_or(0)))
                .execute(&mut *tx)
                .await?;
        }
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO api_keys (name, key_hash, prefix, principal_kind, principal_id, scopes, created_at, created_by, expires_at, parent_key) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $12 \
             WHERE (SELECT COUNT(*) FROM api_keys WHERE principal_kind = $4 AND COALESCE(principal_id, 0) = $10 \
                    AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $7)) < $11 \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.key_hash)
        .bind(&new.prefix)
        .bind(kind)
        .bind(principal_id)
        .bind(new.scopes.join(" "))
        .bind(now.timestamp_millis())
        .bind(&new.created_by)
        .bind(new.expires_at.map(|t| t.timestamp_millis()))
        .bind(principal_id.unwrap_or(0))
        .bind(MAX_KEYS_PER_PRINCIPAL)
        .bind(new.parent_key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            tx.rollback().await?;
            return Err(if self.api_key_by_hash(&new.key_hash).await?.is_some() {
                refused(ErrorCode::ApiKeyExists, "a key with this secret already exists")
            } else {
                refused(
                    ErrorCode::KeyLimitReached,
                    format!(
                        "{} holds {MAX_KEYS_PER_PRINCIPAL} usable keys already: revoke one first",
                        new.principal
                    ),
                )
            }
            .into());
        };
        tx.commit().await?;
        self.api_key(id).await?.ok_or(
            DomainError::NotFound {
                what: Entity::ApiKey,
                id,
            }
            .into(),
        )
    }

    /// Whether `principal` held key `id` or any key of its line (the key that made it, the
    /// key that made that one...), or made one of them: then it can act with `id`, or could
    /// have kept a copy of it. Four eyes asks this of a decider's key about the requester.
    pub async fn key_line_touches(&self, id: i64, principal: KeyPrincipal) -> Result<bool, StoreError> {
        let rows = sqlx::query(
            "WITH RECURSIVE line (id, parent_key, principal_kind, principal_id, created_by, depth) AS ( \
               SELECT id, parent_key, principal_kind, principal_id, created_by, 0 FROM api_keys WHERE id = $1 \
               UNION ALL \
               SELECT k.id, k.parent_key, k.principal_kind, k.principal_id, k.created_by, line.depth + 1 \
               FROM api_keys k JOIN line ON k.id = line.parent_key WHERE line.depth < 1000) \
             SELECT principal_kind, principal_id, created_by FROM line",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        for row in &rows {
            let kind: String = row.try_get("principal_kind")?;
            let holder: Option<i64> = row.try_get("principal_id")?;
            let created_by: String = row.try_get("created_by")?;
            let (wanted_kind, wanted_id) = principal.parts();
            if (kind == wanted_kind && holder == wanted_id) || principal_of_label(&created_by) == Some(principal) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The keys made, directly or down the line, with any of `roots`, that still work at
    /// `now`: a public key's children are as public as it is.
    pub async fn usable_descendants(&self, roots: &[i64], now: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        let mut found = Vec::new();
        for root in roots {
            let ids: Vec<i64> = sqlx::query_scalar(
                "WITH RECURSIVE below (id, depth) AS ( \
                   SELECT id, 0 FROM api_keys WHERE parent_key = $1 \
                   UNION ALL \
                   SELECT k.id, below.depth + 1 FROM api_keys k JOIN below ON k.parent_key = below.id WHERE below.depth < 1000) \
                 SELECT k.id FROM api_keys k JOIN below ON k.id = below.id \
                 WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2) ORDER BY k.id",
            )
            .bind(root)
            .bind(now.timestamp_millis())
            .fetch_all(self.pool())
            .await?;
            found.extend(ids);
        }
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    /// Records that key `id` was used at `now`, unless it was within the last
    /// [`LAST_USED_PRECISION`] already.
    pub async fn touch_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
        )
        .bind(now.timestamp_millis())
        .bind(id)
        .bind((now - LAST_USED_PRECISION).timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The keys of a partner's staff and customers, revoked ones included, by id: what its
    /// admin lists and may revoke.
    pub async fn api_keys_of_partner(&self, partner: crate::entities::PartnerId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "{KEY_COLUMNS} WHERE (principal_kind = 'staff' AND principal_id IN (SELECT id FROM staff WHERE partner = $1)) \
             OR (principal_kind = 'customer' AND principal_id IN (SELECT id FROM customers WHERE partner = $1)) ORDER BY id"
        ))
        .bind(partner)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// The key whose secret hashes to `key_hash`, revoked or not: the caller checks
    /// [`ApiKey::revoked_at`].
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!("{KEY_COLUMNS} WHERE key_hash = $1"))
            .bind(key_hash)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// One key.
    pub async fn api_key(&self, id: i64) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!("{KEY_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// Revokes a key. False when there is no such key or it was already revoked.
    pub async fn revoke_api_key(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let revoked = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now.timestamp_millis())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(revoked.rows_affected() == 1)
    }

    /// Every key (`None`) or those of one principal, revoked ones included, by id.
    pub async fn api_keys(&self, principal: Option<KeyPrincipal>) -> Result<Vec<ApiKey>, StoreError> {
        let (kind, id) = principal.map(KeyPrincipal::parts).unwrap_or(("", None));
        let rows = sqlx::query(&format!(
            "{KEY_COLUMNS} WHERE ($1 = '' OR (principal_kind = $1 AND COALESCE(principal_id, 0) = $2)) ORDER BY id"
        ))
        .bind(kind)
        .bind(id.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(key_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{self, DemoData};
    use crate::testing::on_both_backends;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).single().expect("date")
    }

    fn new_key(name: &str, hash: &str, principal: KeyPrincipal) -> NewApiKey {
        NewApiKey {
            name: name.into(),
            key_hash: hash.into(),
            prefix: format!("pk_{}", &hash[..2]),
            principal,
            scopes: vec!["customers:read".into(), "orders:write".into()],
            created_by: "operator".into(),
            expires_at: None,
            parent_key: None,
        }
    }

    on_both_backends! {
        async fn api_keys_are_created_looked_up_by_hash_and_revoked_once(store: Store) {
            store.seed_demo_if_empty(&DemoData::new(t0())).await.expect("seed");
            let admin = store
                .create_api_key(&new_key("reseller admin", "aa11", KeyPrincipal::Staff(demo::STAFF_ADMIN)), t0())
                .await
                .expect("created");
            assert_eq!(admin.name, "reseller admin");
            assert_eq!(admin.prefix, "pk_aa");
            assert_eq!(admin.principal, KeyPrincipal::Staff(500));
            assert_eq!(admin.scopes, vec!["customers:read".to_string(), "orders:write".into()]);
            assert_eq!((admin.created_at, admin.created_by.as_str(), admin.revoked_at), (t0(), "operator", None));
            assert_eq!((admin.expires_at, admin.last_used_at), (None, None));
            let operator = store.create_api_key(&new_key("ops", "bb22", KeyPrincipal::Operator), t0()).await.expect("created");
            let customer = store
                .create_api_key(&new_key("lotus", "cc33", KeyPrincipal::Customer(demo::KEY_ACCOUNT_CUSTOMER)), t0())
                .await
                .expect("created");

            assert_eq!(store.api_key_by_hash("aa11").await.expect("read"), Some(admin.clone()));
            assert_eq!(store.api_key_by_hash("dd44").await.expect("read"), None);
            assert_eq!(store.api_key(operator.id).await.expect("read").map(|k| k.principal), Some(KeyPrincipal::Operator));
            let ids = |keys: Vec<ApiKey>| keys.iter().map(|k| k.id).collect::<Vec<_>>();
            assert_eq!(ids(store.api_keys(None).await.expect("all")), vec![admin.id, operator.id, customer.id]);
            assert_eq!(ids(store.api_keys(Some(KeyPrincipal::Operator)).await.expect("operator's")), vec![operator.id]);
            assert_eq!(ids(store.api_keys(Some(KeyPrincipal::Customer(101))).await.expect("customer's")), vec![customer.id]);
            assert_eq!(ids(store.api_keys(Some(KeyPrincipal::Staff(501))).await.expect("none")), Vec::<i64>::new());

            // Refusals: a bad name, unknown principals, a secret already in use.
            let code = |r: Result<ApiKey, StoreError>| r.map(|_| ()).map_err(|e| e.code().as_str());
            assert_eq!(code(store.create_api_key(&new_key(" ", "ee55", KeyPrincipal::Operator), t0()).await), Err("invalid-field"));
            assert_eq!(code(store.create_api_key(&new_key(&"k".repeat(65), "ee55", KeyPrincipal::Operator), t0()).await), Err("invalid-field"));
            let missing_staff = store.create_api_key(&new_key("x", "ee55", KeyPrincipal::Staff(4242)), t0()).await;
            assert!(matches!(missing_staff, Err(StoreError::Refused(DomainError::NotFound { what: Entity::Staff, id: 4242 }))), "got {missing_staff:?}");
            assert_eq!(code(store.create_api_key(&new_key("x", "ee55", KeyPrincipal::Customer(4242)), t0()).await), Err("customer-not-found"));
            let spaced = NewApiKey { scopes: vec!["two words".into()], ..new_key("x", "ee55", KeyPrincipal::Operator) };
            assert_eq!(code(store.create_api_key(&spaced, t0()).await), Err("invalid-field"));
            assert_eq!(code(store.create_api_key(&new_key("again", "aa11", KeyPrincipal::Operator), t0()).await), Err("api-key-exists"));
            let longest = store.create_api_key(&new_key(&"k".repeat(64), "ff66", KeyPrincipal::Operator), t0()).await.expect("64 characters");
            assert_eq!(longest.name.len(), 64);

            // Revoked once; the lookup still finds it, revoked.
            let later = t0() + Duration::hours(1);
            assert!(store.revoke_api_key(admin.id, later).await.expect("revoke"));
            assert!(!store.revoke_api_key(admin.id, later + Duration::hours(1)).await.expect("again"));
            assert!(!store.revoke_api_key(4242, later).await.expect("unknown"));
            let revoked = store.api_key_by_hash("aa11").await.expect("read").expect("still there");
            assert_eq!(revoked.revoked_at, Some(later));
            assert_eq!(store.api_key(operator.id).await.expect("read").expect("key").revoked_at, None);
        }

        async fn a_principal_holds_at_most_twenty_usable_keys_which_expire_and_record_their_use(store: Store) {
            store.seed_demo_if_empty(&DemoData::new(t0())).await.expect("seed");
            let staff = KeyPrincipal::Staff(demo::STAFF_MANAGER);
            let mut keys = Vec::new();
            for i in 0..MAX_KEYS_PER_PRINCIPAL {
                let hash = format!("{i:04}");
                keys.push(store.create_api_key(&new_key("k", &hash, staff), t0()).await.expect("under the cap"));
            }
            let over = store.create_api_key(&new_key("k", "over", staff), t0()).await;
            assert_eq!(over.map(|_| ()).map_err(|e| e.code().as_str()), Err("key-limit-reached"));
            // Another principal has its own count; a revoked key frees a place.
            store.create_api_key(&new_key("k", "elsewhere", KeyPrincipal::Staff(demo::STAFF_SALESPERSON)), t0()).await.expect("its own");
            assert!(store.revoke_api_key(keys[0].id, t0()).await.expect("revoke"));
            store.create_api_key(&new_key("k", "freed", staff), t0()).await.expect("a place was freed");
            assert_eq!(
                store.create_api_key(&new_key("k", "over-2", staff), t0()).await.map(|_| ()).map_err(|e| e.code().as_str()),
                Err("key-limit-reached")
            );

            // Expiry: after creation; an expired key no longer counts nor works.
            let customer = KeyPrincipal::Customer(demo::STANDARD_CUSTOMER);
            let past = NewApiKey { expires_at: Some(t0()), ..new_key("k", "past", customer) };
            assert_eq!(store.create_api_key(&past, t0()).await.map(|_| ()).map_err(|e| e.code().as_str()), Err("invalid-field"));
            let hour = NewApiKey { expires_at: Some(t0() + Duration::hours(1)), ..new_key("k", "hour", customer) };
            let hour = store.create_api_key(&hour, t0()).await.expect("created");
            assert!(hour.usable_at(t0() + Duration::minutes(59)));
            assert!(!hour.usable_at(t0() + Duration::hours(1)));

            // Last use: written, then not again within the minute.
            store.touch_api_key(hour.id, t0()).await.expect("touch");
            store.touch_api_key(hour.id, t0() + Duration::seconds(30)).await.expect("touch");
            assert_eq!(store.api_key(hour.id).await.expect("read").and_then(|k| k.last_used_at), Some(t0()));
            store.touch_api_key(hour.id, t0() + Duration::minutes(2)).await.expect("touch");
            assert_eq!(store.api_key(hour.id).await.expect("read").and_then(|k| k.last_used_at), Some(t0() + Duration::minutes(2)));

            // A key's line: made by 501's first key, a key of 503 is within 501's reach.
            let first = keys[1].id;
            let child = NewApiKey { parent_key: Some(first), created_by: "staff:501@2".into(), ..new_key("k", "child", KeyPrincipal::Staff(demo::STAFF_SALESPERSON)) };
            let child = store.create_api_key(&child, t0()).await.expect("created");
            let grandchild = NewApiKey { parent_key: Some(child.id), created_by: "staff:503@2".into(), ..new_key("k", "grandchild", KeyPrincipal::Staff(demo::STAFF_SALESPERSON)) };
            let grandchild = store.create_api_key(&grandchild, t0()).await.expect("created");
            assert!(store.key_line_touches(grandchild.id, staff).await.expect("line"), "501 made its parent");
            assert!(store.key_line_touches(grandchild.id, KeyPrincipal::Operator).await.expect("line"), "the operator made the first");
            assert!(!store.key_line_touches(grandchild.id, KeyPrincipal::Staff(demo::STAFF_ADMIN)).await.expect("line"));
            assert_eq!(principal_of_label("staff:500@2"), Some(KeyPrincipal::Staff(500)));
            assert_eq!(principal_of_label("operator(cli)"), Some(KeyPrincipal::Operator));
            assert_eq!(principal_of_label("customer:102"), Some(KeyPrincipal::Customer(102)));
            assert_eq!(principal_of_label("demo"), None);

            // A partner admin's view: its staff's and customers' keys, no one else's.
            let reseller = store.api_keys_of_partner(demo::RESELLER).await.expect("list");
            assert_eq!(reseller.len(), keys.len() + 5);
            assert!(store.api_keys_of_partner(demo::OTHER_RESELLER).await.expect("list").is_empty());
        }
    }

    #[test]
    fn a_key_principal_serialises_as_kind_and_id() {
        let json = |p: KeyPrincipal| serde_json::to_string(&p).expect("json");
        assert_eq!(json(KeyPrincipal::Operator), r#"{"kind":"operator"}"#);
        assert_eq!(json(KeyPrincipal::Staff(500)), r#"{"kind":"staff","id":500}"#);
        assert_eq!(json(KeyPrincipal::Customer(101)), r#"{"kind":"customer","id":101}"#);
        let back: KeyPrincipal = serde_json::from_str(r#"{"kind":"customer","id":101}"#).expect("parse");
        assert_eq!(back, KeyPrincipal::Customer(101));
    }
}
