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

impl KeyPrincipal {
    /// The stored kind word and id (none for the operator).
    fn parts(self) -> (&'static str, Option<i64>) {
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
}

const KEY_COLUMNS: &str =
    "SELECT id, name, prefix, principal_kind, principal_id, scopes, created_at, created_by, revoked_at FROM api_keys";

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
    Ok(ApiKey {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        prefix: r.try_get("prefix")?,
        principal,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        created_at: store::millis(r, "api_keys", "created_at")?,
        created_by: r.try_get("created_by")?,
        revoked_at: revoked_at.map(|ms| store::from_millis("api_keys", ms)).transpose()?,
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
        let (kind, principal_id) = new.principal.parts();
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO api_keys (name, key_hash, prefix, principal_kind, principal_id, scopes, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.key_hash)
        .bind(&new.prefix)
        .bind(kind)
        .bind(principal_id)
        .bind(new.scopes.join(" "))
        .bind(now.timestamp_millis())
        .bind(&new.created_by)
        .fetch_optional(self.pool())
        .await?;
        let id = id.ok_or_else(|| refused(ErrorCode::ApiKeyExists, "a key with this secret already exists"))?;
        self.api_key(id).await?.ok_or(
            DomainError::NotFound {
                what: Entity::ApiKey,
                id,
            }
            .into(),
        )
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
