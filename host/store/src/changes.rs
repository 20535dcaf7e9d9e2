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
