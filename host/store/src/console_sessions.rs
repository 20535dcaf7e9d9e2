//! Sign-ins of the browser console: a random token the browser keeps in an `HttpOnly` cookie,
//! standing for the API key it was opened with. Only the token's sha256 is stored. The key is
//! still checked on every request (a revoked key ends its sessions); a session also ends when
//! it is signed out of or expires. Sessions ended or expired are deleted as new ones open, and
//! a key keeps at most [`MAX_SESSIONS_PER_KEY`] open: signing in again and again with one key
//! ends its oldest sessions instead of growing the table.

use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};

/// The most open sessions one API key has; the oldest end first.
pub const MAX_SESSIONS_PER_KEY: i64 = 20;

impl Store {
    /// Opens a session (by the hash of its token) for key `key_id`, until `expires_at`.
    pub async fn open_console_session(
        &self,
        token_hash: &str,
        key_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = now.timestamp_millis();
        let mut tx = self.pool().begin().await?;
        // Sign-ins with one key take turns on PostgreSQL, so that two at once cannot both keep
        // the key's oldest session past the cap (SQLite has one writer already).
        if self.backend() == crate::store::Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))::TEXT")
                .bind(format!("console_sessions:{key_id}"))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1 OR ended_at IS NOT NULL")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO console_sessions (token_hash, key_id, opened_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(key_id)
            .bind(now)
            .bind(expires_at.timestamp_millis())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM console_sessions WHERE key_id = $1 AND token_hash NOT IN \
             (SELECT token_hash FROM console_sessions WHERE key_id = $1 ORDER BY opened_at DESC, token_hash LIMIT $2)",
        )
        .bind(key_id)
        .bind(MAX_SESSIONS_PER_KEY)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The key of the session whose token hashes to `token_hash`, while it is open at `now`.
    pub async fn console_session_key(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT key_id FROM console_sessions WHERE token_hash = $1 AND ended_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now.timestamp_millis())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Ends a session (signing out). False when it was not open.
    pub async fn end_console_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let ended = sqlx::query("UPDATE console_sessions SET ended_at = $1 WHERE token_hash = $2 AND ended_at IS NULL")
            .bind(now.timestamp_millis())
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(ended.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DemoData;
    use crate::keys::{KeyPrincipal, NewApiKey};
    use crate::testing::on_both_backends;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).single().expect("date")
    }

    async fn key(store: &Store, hash: &str) -> i64 {
        store
            .create_api_key(
                &NewApiKey {
                    name: "console".into(),
                    key_hash: hash.into(),
                    prefix: "pch_test".into(),
                    principal: KeyPrincipal::Operator,
                    scopes: vec!["*".into()],
                    created_by: "test".into(),
                    expires_at: None,
                    parent_key: None,
                },
                t0(),
            )
            .await
            .expect("key")
            .id
    }

    on_both_backends! {
        async fn a_console_session_stands_for_its_key_until_it_ends_or_expires(store: Store) {
            store.seed_demo_if_empty(&DemoData::new(t0())).await.expect("seed");
            let id = key(&store, "k1").await;
            store.open_console_session("s1", id, t0(), t0() + Duration::hours(12)).await.expect("opened");
            assert_eq!(store.console_session_key("s1", t0()).await.expect("read"), Some(id));
            assert_eq!(store.console_session_key("s2", t0()).await.expect("read"), None);
            // Expired at its time, not a millisecond later.
            assert_eq!(store.console_session_key("s1", t0() + Duration::hours(12)).await.expect("read"), None);
            // Signed out: ended at once, once.
            assert!(store.end_console_session("s1", t0()).await.expect("ended"));
            assert!(!store.end_console_session("s1", t0()).await.expect("already ended"));
            assert_eq!(store.console_session_key("s1", t0()).await.expect("read"), None);
            // A token is one session's.
            store.open_console_session("s3", id, t0(), t0() + Duration::hours(1)).await.expect("opened");
            assert!(store.open_console_session("s3", id, t0(), t0() + Duration::hours(1)).await.is_err());
        }

        async fn a_key_keeps_its_newest_sessions_and_ended_or_expired_ones_are_deleted(store: Store) {
            store.seed_demo_if_empty(&DemoData::new(t0())).await.expect("seed");
            let (one, other) = (key(&store, "k1").await, key(&store, "k2").await);
            store.open_console_session("other", other, t0(), t0() + Duration::hours(1)).await.expect("opened");
            for i in 0..=MAX_SESSIONS_PER_KEY {
                let at = t0() + Duration::seconds(i);
                store.open_console_session(&format!("s{i}"), one, at, at + Duration::hours(12)).await.expect("opened");
            }
            // The oldest of the key's sessions ended; another key's session is untouched.
            let now = t0() + Duration::minutes(1);
            assert_eq!(store.console_session_key("s0", now).await.expect("read"), None);
            assert_eq!(store.console_session_key("s1", now).await.expect("read"), Some(one));
            assert_eq!(store.console_session_key("other", now).await.expect("read"), Some(other));
            // Opening a session after the other expired deletes its row.
            let later = t0() + Duration::hours(2);
            store.open_console_session("late", one, later, later + Duration::hours(12)).await.expect("opened");
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_sessions")
                .fetch_one(store.pool())
                .await
                .expect("count");
            assert_eq!(rows, MAX_SESSIONS_PER_KEY);
        }
    }
}
