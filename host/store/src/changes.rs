//! How replicas learn that another process changed what they keep in memory (installed
//! versions, bindings). On PostgreSQL, triggers (migration 0033) notify the channel
//! [`CHANNEL`] at the commit of every change, whoever made it; a replica listens on one
//! connection of its own. Notifications are not stored: one sent while the connection was
//! down is lost, so [`Changes::next`] says when that may have happened, and the replica
//! reloads everything then (and polls now and then besides). SQLite has no notifications:
//! one node needs none, and the server polls for the CLI's changes.

use crate::store::{Backend, Store, StoreError};
use sqlx::postgres::PgListener;

/// The channel the triggers notify, with the changed table's name as payload.
pub const CHANNEL: &str = "pchost_changes";

/// What [`Changes::next`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A committed change to this table.
    Table(String),
    /// The listening connection was lost and is being reopened: changes committed meanwhile
    /// were not announced.
    Missed,
}

/// A replica's subscription to the changes of the others.
#[derive(Debug)]
pub struct Changes {
    listener: PgListener,
}

impl Changes {
    /// Waits for the next change. An error is a failure to reconnect; the next call tries
    /// again.
    pub async fn next(&mut self) -> Result<Change, StoreError> {
        Ok(match self.listener.try_recv().await? {
            Some(notification) => Change::Table(notification.payload().to_owned()),
            None => Change::Missed,
        })
    }
}

impl Store {
    /// Subscribes to the changes committed by every process on this database: `None` on
    /// SQLite, which has no notifications.
    pub async fn listen_changes(&self) -> Result<Option<Changes>, StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(self.url()).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(Changes { listener }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::on_both_backends;
    use std::time::Duration;

    /// The next change within half a second, if any.
    async fn next(changes: &mut Changes) -> Option<Change> {
        tokio::time::timeout(Duration::from_millis(500), changes.next())
            .await
            .ok()
            .map(|c| c.expect("listening"))
    }

    on_both_backends! {
        async fn a_committed_change_notifies_and_a_statement_changing_nothing_does_not(store: Store) {
            store.seed_demo_if_empty(&crate::demo::DemoData::new(chrono::Utc::now())).await.expect("seed");
            let Some(mut changes) = store.listen_changes().await.expect("listen") else {
                assert_eq!(store.backend(), Backend::Sqlite, "only SQLite has no notifications");
                return;
            };
            // A refused deletion, an update of no row: nothing to reload.
            sqlx::query("DELETE FROM plugin_bindings WHERE id = -1").execute(store.pool()).await.expect("delete");
            sqlx::query("UPDATE plugin_versions SET world = world WHERE owner = -1").execute(store.pool()).await.expect("update");
            assert_eq!(next(&mut changes).await, None);
            // A transaction changing two rows: one notice.
            let mut tx = store.pool().begin().await.expect("begin");
            for version in ["1.0.0", "2.0.0"] {
                sqlx::query(
                    "INSERT INTO plugin_versions (digest, name, version, world, owner, manifest, installed_at, size_bytes) \
                     VALUES ('d', 'rule', $1, 'pricing-rule', $2, 'm', 0, 0)",
                )
                .bind(version)
                .bind(crate::demo::SELLER)
                .execute(&mut *tx)
                .await
                .expect("insert");
            }
            assert_eq!(next(&mut changes).await, None, "nothing before the commit");
            tx.commit().await.expect("commit");
            assert_eq!(next(&mut changes).await, Some(Change::Table("plugin_versions".into())));
            assert_eq!(next(&mut changes).await, None, "one notice per transaction");
        }
    }
}
