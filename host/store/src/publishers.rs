//! Signed plugins: the publisher keys the operator trusts, whether a scope requires its
//! versions to be signed, and which key signed each version. The store keeps records only;
//! `pchost-extensions::signing` checks signatures.

use crate::bindings::BindingScope;
use crate::entities::PartnerId;
use crate::errors::{DomainError, Entity, ErrorCode, refused};
use crate::store::{self, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

/// The longest publisher key name, in characters.
pub const MAX_PUBLISHER_NAME: usize = 64;

/// A publisher key the operator trusts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PublisherKey {
    /// Id.
    pub id: i64,
    /// A name for people (`Acme Cloud release key`).
    pub name: String,
    /// The first 16 hex digits of the key's sha256: how a signature names its key.
    pub fingerprint: String,
    /// The ed25519 public key, hex.
    pub public_key: String,
    /// The only owner whose plugins it may sign, if it is restricted to one.
    pub owner: Option<PartnerId>,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Who registered it.
    pub created_by: String,
    /// When it stopped being trusted, if it did.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A publisher key to register.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPublisherKey {
    /// 1 to 64 characters.
    pub name: String,
    /// The key's fingerprint.
    pub fingerprint: String,
    /// The public key, hex.
    pub public_key: String,
    /// The only owner it may sign for, if any; must exist.
    pub owner: Option<PartnerId>,
    /// Who registers it.
    pub created_by: String,
}

/// Whether a scope requires signed versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignaturePolicy {
    /// `platform`, `seller` or `partner`.
    pub scope: BindingScope,
    /// Whether a version bound (or uploaded by an owner) at that scope must be signed.
    pub required: bool,
}

const PUBLISHER_COLUMNS: &str =
    "SELECT id, name, fingerprint, public_key, owner, created_at, created_by, revoked_at FROM publisher_keys";

fn publisher_from_row(r: &AnyRow) -> Result<PublisherKey, StoreError> {
    let revoked_at: Option<i64> = r.try_get("revoked_at")?;
    Ok(PublisherKey {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        fingerprint: r.try_get("fingerprint")?,
        public_key: r.try_get("public_key")?,
        owner: r.try_get("owner")?,
        created_at: store::millis(r, "publisher_keys", "created_at")?,
        created_by: r.try_get("created_by")?,
        revoked_at: revoked_at
            .map(|ms| store::from_millis("publisher_keys", ms))
            .transpose()?,
    })
}

impl Store {
    /// Registers a trusted publisher key; the same key twice is `publisher-key-exists`.
    pub async fn add_publisher_key(
        &self,
        new: &NewPublisherKey,
        now: DateTime<Utc>,
    ) -> Result<PublisherKey, StoreError> {
        if new.name.trim().is_empty() || new.name.chars().count() > MAX_PUBLISHER_NAME {
            return Err(DomainError::Invalid {
                field: "name",
                message: format!("1 to {MAX_PUBLISHER_NAME} characters"),
            }
            .into());
        }
        if let Some(owner) = new.owner
            && self.partner(owner).await?.is_none()
        {
            return Err(DomainError::NotFound {
                what: Entity::Partner,
                id: owner,
            }
            .into());
        }
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO publisher_keys (name, fingerprint, public_key, owner, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&new.name)
        .bind(&new.fingerprint)
        .bind(&new.public_key)
        .bind(new.owner)
        .bind(now.timestamp_millis())
        .bind(&new.created_by)
        .fetch_optional(self.pool())
        .await?;
        let id = id.ok_or_else(|| {
            refused(
                ErrorCode::PublisherKeyExists,
                format!("publisher key {} is registered already", new.fingerprint),
            )
        })?;
        let row = sqlx::query(&format!("{PUBLISHER_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        publisher_from_row(&row)
    }

    /// The publisher key with `fingerprint`, revoked or not.
    pub async fn publisher_key(&self, fingerprint: &str) -> Result<Option<PublisherKey>, StoreError> {
        let row = sqlx::query(&format!("{PUBLISHER_COLUMNS} WHERE fingerprint = $1"))
            .bind(fingerprint)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(publisher_from_row).transpose()
    }

    /// Every publisher key, revoked ones included, by id.
    pub async fn publisher_keys(&self) -> Result<Vec<PublisherKey>, StoreError> {
        let rows = sqlx::query(&format!("{PUBLISHER_COLUMNS} ORDER BY id"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(publisher_from_row).collect()
    }

    /// Stops trusting a publisher key: versions it signed can no longer be bound where a
    /// signature is required. False when there is no such key or it was revoked already.
    pub async fn revoke_publisher_key(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let revoked = sqlx::query("UPDATE publisher_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now.timestamp_millis())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(revoked.rows_affected() == 1)
    }

    /// Sets whether `scope` requires signed versions.
    pub async fn set_signature_policy(
        &self,
        scope: BindingScope,
        required: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signature_policies (scope, required, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope) DO UPDATE SET required = excluded.required, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
        )
        .bind(scope.as_str())
        .bind(i64::from(required))
        .bind(now.timestamp_millis())
        .bind(by)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The policy of each scope (a scope never set requires nothing).
    pub async fn signature_policies(&self) -> Result<Vec<SignaturePolicy>, StoreError> {
        let mut policies = Vec::new();
        for scope in [BindingScope::Platform, BindingScope::Seller, BindingScope::Partner] {
            policies.push(SignaturePolicy {
                scope,
                required: self.signature_required(scope).await?,
            });
        }
        Ok(policies)
    }

    /// Whether `scope` requires signed versions.
    pub async fn signature_required(&self, scope: BindingScope) -> Result<bool, StoreError> {
        let required: Option<i64> = sqlx::query_scalar("SELECT required FROM signature_policies WHERE scope = $1")
            .bind(scope.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(required == Some(1))
    }

    /// Records the key that signed an installed version, unless one is recorded already (a
    /// version is immutable; its first signature stands), and only if the version's stored
    /// manifest is the one signed (`manifest`, as stored): a signature of other settings or
    /// grants under the same version signs nothing installed.
    pub async fn record_signer(
        &self,
        owner: PartnerId,
        name: &str,
        version: &str,
        manifest: &str,
        fingerprint: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE plugin_versions SET signer = $1 WHERE owner = $2 AND name = $3 AND version = $4 AND manifest = $5 \
             AND signer IS NULL",
        )
        .bind(fingerprint)
        .bind(owner)
        .bind(name)
        .bind(version)
        .bind(manifest)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The publisher key that signed a version, if it was signed, whether or not the key is
    /// still trusted.
    pub async fn plugin_signer(
        &self,
        owner: PartnerId,
        name: &str,
        version: &str,
    ) -> Result<Option<PublisherKey>, StoreError> {
        let row = sqlx::query(&format!(
            "{PUBLISHER_COLUMNS} WHERE fingerprint = (SELECT signer FROM plugin_versions WHERE owner = $1 AND name = $2 AND version = $3)"
        ))
        .bind(owner)
        .bind(name)
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(publisher_from_row).transpose()
    }
}
