//! Runs a test body against each storage backend: SQLite (a file of its own, so connections
//! really run concurrently) always, PostgreSQL in a
//! database of its own, created for the test and dropped after it, when
//! `PCHOST_TEST_POSTGRES_URL` names a server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).

use crate::store::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, Store};
use sqlx::migrate::Migrator;
use std::sync::atomic::{AtomicU32, Ordering};

/// Declares each test twice, as `sqlite::<name>` and `postgres::<name>`; the PostgreSQL one
/// is ignored, saying why, unless the suite was built with a PostgreSQL URL.
macro_rules! on_both_backends {
    ($(async fn $name:ident($store:ident: Store) $body:block)+) => {
        mod sqlite {
            #[allow(unused_imports, reason = "some test modules use nothing from their parent")]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let database = $crate::testing::SqliteFile::create().await;
                    let $store = database.store.clone();
                    $body
                    database.remove().await;
                }
            )+
        }
        mod postgres {
            #[allow(unused_imports, reason = "some test modules use nothing from their parent")]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(postgres_tests), ignore = "PostgreSQL: set PCHOST_TEST_POSTGRES_URL to run")]
                async fn $name() {
                    let database = $crate::testing::PostgresDatabase::create().await;
                    let $store = database.store.clone();
                    $body
                    database.drop().await;
                }
            )+
        }
    };
}
pub(crate) use on_both_backends;

/// A SQLite file of its own in the temporary directory, removed after the test.
pub(crate) struct SqliteFile {
    pub(crate) store: Store,
    path: std::path::PathBuf,
}

impl SqliteFile {
    pub(crate) async fn create() -> Self {
        let path = Self::next_path();
        let store = Store::open(&path).await.expect("SQLite test database");
        SqliteFile { store, path }
    }

    /// A database as the migrations up to `version` left it, holding the rows `fill` inserts,
    /// then opened as a store: the upgrade an older deployment goes through.
    pub(crate) async fn upgraded_from(version: i64, fill: &str) -> Self {
        let path = Self::next_path();
        sqlx::any::install_default_drivers();
        let older = sqlx::AnyPool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .expect("SQLite test database");
        migrations_up_to(&SQLITE_MIGRATIONS, version)
            .run(&older)
            .await
            .expect("the older migrations");
        sqlx::raw_sql(fill)
            .execute(&older)
            .await
            .expect("fill the older database");
        older.close().await;
        match Store::open(&path).await {
            Ok(store) => SqliteFile { store, path },
            Err(e) => {
                remove_sqlite_files(&path);
                panic!("upgrading a database from migration {version}: {e}");
            }
        }
    }

    pub(crate) fn next_path() -> std::path::PathBuf {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        std::env::temp_dir().join(format!(
            "pchost-test-{}-{}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ))
    }

    pub(crate) async fn remove(self) {
        self.store.close().await;
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        remove_sqlite_files(&self.path);
    }
}

pub(crate) fn remove_sqlite_files(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = path.to_path_buf().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
}

/// `all` cut down to its migrations up to `version`: what an older release applied.
pub(crate) fn migrations_up_to(all: &Migrator, version: i64) -> Migrator {
    Migrator {
        migrations: all
            .iter()
            .filter(|m| m.version <= version)
            .cloned()
            .collect::<Vec<_>>()
            .into(),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

/// A database of its own on the PostgreSQL server. Dropped after the test, and on a failing
/// test's unwinding too, so no run leaves databases behind.
pub(crate) struct PostgresDatabase {
    pub(crate) store: Store,
    admin_url: String,
    name: String,
    dropped: bool,
}

impl PostgresDatabase {
    pub(crate) async fn create() -> Self {
        let (admin_url, name, url) = Self::create_empty().await;
        let store = match Store::connect(&url).await {
            Ok(store) => store,
            Err(e) => {
                drop_database(&admin_url, &name).await;
                panic!("migrate the test database: {e}");
            }
        };
        PostgresDatabase {
            store,
            admin_url,
            name,
            dropped: false,
        }
    }

    /// A database as the migrations up to `version` left it, holding the rows `fill` inserts,
    /// then opened as a store: the upgrade an older deployment goes through.
    pub(crate) async fn upgraded_from(version: i64, fill: &str) -> Self {
        let (admin_url, name, url) = Self::create_empty().await;
        let older = sqlx::AnyPool::connect(&url)
            .await
            .expect("connect to the test database");
        let filled = match migrations_up_to(&POSTGRES_MIGRATIONS, version).run(&older).await {
            Ok(()) => sqlx::raw_sql(fill)
                .execute(&older)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        older.close().await;
        let store = match filled {
            Ok(()) => Store::connect(&url).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match store {
            Ok(store) => PostgresDatabase {
                store,
                admin_url,
                name,
                dropped: false,
            },
            Err(e) => {
                drop_database(&admin_url, &name).await;
                panic!("upgrading a database from migration {version}: {e}");
            }
        }
    }

    /// Creates a database of its own; returns the admin URL, its name and its URL.
    async fn create_empty() -> (String, String, String) {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = std::env::var("PCHOST_TEST_POSTGRES_URL").expect("PCHOST_TEST_POSTGRES_URL");
        let name = format!(
            "pchost_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&admin_url).await.expect("connect to PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').expect("URL ends in /<database>");
        let url = format!("{base}/{name}");
        (admin_url, name, url)
    }

    pub(crate) async fn drop(mut self) {
        self.store.close().await;
        drop_database(&self.admin_url, &self.name).await;
        self.dropped = true;
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // The test failed before dropping its database: drop it from a thread of its own,
        // since this may run inside the test's async runtime.
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                runtime.block_on(drop_database(&url, &name));
            }
        })
        .join();
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    let admin = sqlx::AnyPool::connect(admin_url).await.expect("connect to PostgreSQL");
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .expect("drop test database");
    admin.close().await;
}

/// A demo customer of reseller 2 acting for itself.
pub(crate) fn customer_itself(customer: crate::entities::CustomerId) -> crate::accounts::Actor {
    crate::accounts::Actor {
        role: crate::entities::Role::Customer,
        partner: Some(crate::demo::RESELLER),
        id: Some(customer),
        on_behalf_of: None,
    }
}

/// The platform operator.
pub(crate) fn operator() -> crate::accounts::Actor {
    crate::accounts::Actor {
        role: crate::entities::Role::PlatformOperator,
        partner: None,
        id: None,
        on_behalf_of: None,
    }
}
