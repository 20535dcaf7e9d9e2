//! One schema for two engines: the SQLite and the PostgreSQL migrations must build the same
//! tables, columns, keys, constraints and id numbering. Each engine's catalog is read after all
//! migrations and described as a list of facts in the same words (`partners.frozen: integer,
//! not null, default 0`); the test fails on any fact only one engine states, listing them.

use crate::testing::{PostgresDatabase, SqliteFile};
use sqlx::{AnyPool, Row};
use std::collections::{BTreeMap, BTreeSet};

/// Facts about a schema, each with how many times it holds (two identical CHECKs count twice).
type Facts = BTreeMap<String, usize>;

fn add(facts: &mut Facts, fact: String) {
    *facts.entry(fact).or_default() += 1;
}

/// Differences the two engines cannot remove, each with its reason. Kept exact: an entry that
/// no longer matches a difference fails the test, so the list only shrinks.
const ACCEPTED: &[(Engine, &str, &str)] = &[
    (
        Engine::Sqlite,
        "invoice_infos.customer: numbered by the database from 1",
        "SQLite numbers any INTEGER PRIMARY KEY (its rowid); this one is always given, the customer's id",
    ),
    (
        Engine::Sqlite,
        "payment_requests.order_id: numbered by the database from 1",
        "SQLite numbers any INTEGER PRIMARY KEY (its rowid); this one is always given, the order's id",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
        }
    }
}

/// The facts only one engine states (accepted ones aside), and accepted differences no longer
/// found; as a readable report, or None when the schemas agree.
fn differences(sqlite: &Facts, postgres: &Facts) -> Option<String> {
    let mut lines = Vec::new();
    let mut accepted_seen = BTreeSet::new();
    let all: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for fact in all {
        let (s, p) = (
            sqlite.get(fact).copied().unwrap_or(0),
            postgres.get(fact).copied().unwrap_or(0),
        );
        if s == p {
            continue;
        }
        let (engine, times) = if s > p {
            (Engine::Sqlite, s - p)
        } else {
            (Engine::Postgres, p - s)
        };
        if let Some(i) = ACCEPTED.iter().position(|(e, f, _)| *e == engine && f == fact) {
            accepted_seen.insert(i);
            continue;
        }
        let times = if times > 1 {
            format!(" ({times} times)")
        } else {
            String::new()
        };
        lines.push(format!("  {:<10} only | {fact}{times}", engine.name()));
    }
    for (i, (engine, fact, why)) in ACCEPTED.iter().enumerate() {
        if !accepted_seen.contains(&i) {
            lines.push(format!(
                "  accepted difference no longer found, remove it from ACCEPTED: {} only | {fact} ({why})",
                engine.name()
            ));
        }
    }
    (!lines.is_empty()).then(|| {
        format!(
            "the SQLite and PostgreSQL migrations build different schemas ({} differences):\n{}",
            lines.len(),
            lines.join("\n")
        )
    })
}

// ---- Reading SQLite's catalog -------------------------------------------------------------

async fn sqlite_facts(pool: &AnyPool) -> Facts {
    let mut facts = Facts::new();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .expect("SQLite tables");
    for (table, sql) in &tables {
        add(&mut facts, format!("{table}: table"));
        let columns =
            sqlx::query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info($1) ORDER BY cid")
                .bind(table)
                .fetch_all(pool)
                .await
                .expect("SQLite columns");
        let mut key: Vec<(i64, String, String)> = Vec::new();
        for c in &columns {
            let pk: i64 = c.get("pk");
            if pk > 0 {
                key.push((pk, c.get("name"), c.get("type")));
            }
        }
        key.sort();
        // A lone INTEGER PRIMARY KEY is the rowid: never NULL, numbered max(rowid) + 1.
        let rowid = match key.as_slice() {
            [(_, name, declared)] if declared.eq_ignore_ascii_case("INTEGER") && !without_rowid(sql) => {
                Some(name.clone())
            }
            _ => None,
        };
        let mut names = Vec::new();
        for c in &columns {
            let name: String = c.get("name");
            let declared: String = c.get("type");
            let not_null = c.get::<i64, _>("notnull") == 1 || rowid.as_ref() == Some(&name);
            let default: Option<String> = c.get("dflt_value");
            add(
                &mut facts,
                column_fact(table, &name, sqlite_class(&declared), not_null, default.as_deref()),
            );
            names.push(name.to_ascii_lowercase());
        }
        if let Some(name) = &rowid {
            add(&mut facts, format!("{table}.{name}: numbered by the database from 1"));
        }
        if !key.is_empty() {
            let key: Vec<&str> = key.iter().map(|(_, name, _)| name.as_str()).collect();
            add(&mut facts, format!("{table}: primary key ({})", key.join(", ")));
        }
        for check in checks_in_create_table(sql) {
            let mentioned: BTreeSet<String> = check
                .iter()
                .filter_map(|t| match t {
                    Token::Word(w) | Token::Quoted(w) => Some(w.to_ascii_lowercase()),
                    _ => None,
                })
                .filter(|w| names.contains(w))
                .collect();
            add(&mut facts, check_fact(table, &mentioned, &literals(&check)));
        }
        let indexes = sqlx::query("SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)")
            .bind(table)
            .fetch_all(pool)
            .await
            .expect("SQLite indexes");
        for index in &indexes {
            let origin: String = index.get("origin");
            if origin == "pk" {
                continue; // the primary key, stated above
            }
            let name: String = index.get("name");
            let columns = sqlx::query("SELECT name, \"desc\" FROM pragma_index_xinfo($1) WHERE key = 1 ORDER BY seqno")
                .bind(&name)
                .fetch_all(pool)
                .await
                .expect("SQLite index columns");
            let columns: Vec<String> = columns
                .iter()
                .map(|c| index_column(&c.get::<String, _>("name"), c.get::<i64, _>("desc") == 1))
                .collect();
            let unique = index.get::<i64, _>("unique") == 1;
            let partial = index.get::<i64, _>("partial") == 1;
            add(&mut facts, index_fact(table, unique, partial, &columns));
        }
        let keys = sqlx::query(
            "SELECT id, \"table\" AS parent, \"from\" AS col, \"to\" AS parent_col, on_update, on_delete \
             FROM pragma_foreign_key_list($1) ORDER BY id, seq",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("SQLite foreign keys");
        let mut by_id: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for k in &keys {
            let fk = by_id.entry(k.get("id")).or_insert_with(|| ForeignKey {
                parent: k.get("parent"),
                on_update: k.get::<String, _>("on_update").to_ascii_lowercase(),
                on_delete: k.get::<String, _>("on_delete").to_ascii_lowercase(),
                ..ForeignKey::default()
            });
            fk.columns.push(k.get("col"));
            // No parent column named: the parent's primary key (every key here names it).
            fk.parent_columns.push(
                k.get::<Option<String>, _>("parent_col")
                    .unwrap_or_else(|| "<primary key>".into()),
            );
        }
        for fk in by_id.values() {
            add(&mut facts, fk.fact(table));
        }
    }
    facts
}

fn without_rowid(create_table: &str) -> bool {
    let words: Vec<String> = tokens(create_table)
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w.to_ascii_uppercase()),
            _ => None,
        })
        .collect();
    words.windows(2).any(|w| w[0] == "WITHOUT" && w[1] == "ROWID")
}

/// SQLite's type affinity of a declared type (https://sqlite.org/datatype3.html, 3.1).
fn sqlite_class(declared: &str) -> &'static str {
    let t = declared.to_ascii_uppercase();
    if t.contains("INT") {
        "integer"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "text"
    } else if t.contains("BLOB") || t.is_empty() {
        "blob"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "real"
    } else {
        "numeric"
    }
}

/// The body of each `CHECK (...)` in a CREATE TABLE statement, as tokens. sqlite_master keeps
/// the statement's text, with the columns `ALTER TABLE ... ADD COLUMN` added folded in.
fn checks_in_create_table(sql: &str) -> Vec<Vec<Token>> {
    let tokens = tokens(sql);
    let mut checks = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let is_check = matches!(&tokens[i], Token::Word(w) if w.eq_ignore_ascii_case("CHECK"));
        if is_check && tokens.get(i + 1) == Some(&Token::Punct('(')) {
            let mut depth = 0usize;
            let start = i + 2;
            let mut end = start;
            for (j, t) in tokens.iter().enumerate().skip(i + 1) {
                match t {
                    Token::Punct('(') => depth += 1,
                    Token::Punct(')') => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            assert!(end >= start, "unbalanced CHECK in {sql}");
            checks.push(tokens[start..end].to_vec());
            i = end;
        }
        i += 1;
    }
    checks
}

// ---- Reading PostgreSQL's catalog ---------------------------------------------------------

async fn postgres_facts(pool: &AnyPool) -> Facts {
    let mut facts = Facts::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL tables");
    for table in &tables {
        add(&mut facts, format!("{table}: table"));
    }
    let columns = sqlx::query(
        "SELECT table_name::text AS tbl, column_name::text AS name, data_type::text AS data_type, \
         is_nullable::text AS nullable, column_default::text AS dflt, is_identity::text AS identity, \
         identity_start::text AS start, identity_generation::text AS generation \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations' ORDER BY tbl, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL columns");
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &columns {
        let (table, name): (String, String) = (c.get("tbl"), c.get("name"));
        let not_null = c.get::<String, _>("nullable") == "NO";
        let default: Option<String> = c.get("dflt");
        add(
            &mut facts,
            column_fact(
                &table,
                &name,
                &postgres_class(&c.get::<String, _>("data_type")),
                not_null,
                default.as_deref(),
            ),
        );
        if c.get::<String, _>("identity") == "YES" {
            let start: String = c.get("start");
            // ALWAYS refuses explicit ids, which the demo data and SQLite take.
            let always = if c.get::<Option<String>, _>("generation").as_deref() == Some("ALWAYS") {
                ", explicit ids refused"
            } else {
                ""
            };
            add(
                &mut facts,
                format!("{table}.{name}: numbered by the database from {start}{always}"),
            );
        }
        names.entry(table).or_default().push(name);
    }
    let indexes = sqlx::query(
        "SELECT t.relname::text AS tbl, i.relname::text AS name, ix.indisunique AS is_unique, \
         ix.indisprimary AS is_primary, (ix.indpred IS NOT NULL) AS partial, a.attname::text AS col, \
         (ix.indoption[k.ord::int - 1]::int & 1) = 1 AS descending \
         FROM pg_index ix \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE n.nspname = current_schema() AND t.relname <> '_sqlx_migrations' \
         ORDER BY tbl, name, k.ord",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL indexes");
    let mut by_index: BTreeMap<(String, String), Index> = BTreeMap::new();
    for ix in &indexes {
        let index = by_index
            .entry((ix.get("tbl"), ix.get("name")))
            .or_insert_with(|| Index {
                primary: ix.get("is_primary"),
                unique: ix.get("is_unique"),
                partial: ix.get("partial"),
                columns: Vec::new(),
            });
        index
            .columns
            .push(index_column(&ix.get::<String, _>("col"), ix.get("descending")));
    }
    for ((table, _), index) in &by_index {
        if index.primary {
            add(
                &mut facts,
                format!("{table}: primary key ({})", index.columns.join(", ")),
            );
        } else {
            add(
                &mut facts,
                index_fact(table, index.unique, index.partial, &index.columns),
            );
        }
    }
    let keys = sqlx::query(
        "SELECT c.conname::text AS name, t.relname::text AS tbl, p.relname::text AS parent, \
         a.attname::text AS col, pa.attname::text AS parent_col, \
         c.confupdtype::text AS on_update, c.confdeltype::text AS on_delete \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_class p ON p.oid = c.confrelid \
         CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(attnum, parent_attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
         JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_attnum \
         WHERE c.contype = 'f' AND n.nspname = current_schema() \
         ORDER BY tbl, name, k.ord",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL foreign keys");
    let mut by_key: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
    for k in &keys {
        let fk = by_key
            .entry((k.get("tbl"), k.get("name")))
            .or_insert_with(|| ForeignKey {
                parent: k.get("parent"),
                on_update: postgres_action(&k.get::<String, _>("on_update")),
                on_delete: postgres_action(&k.get::<String, _>("on_delete")),
                ..ForeignKey::default()
            });
        fk.columns.push(k.get("col"));
        fk.parent_columns.push(k.get("parent_col"));
    }
    for ((table, _), fk) in &by_key {
        add(&mut facts, fk.fact(table));
    }
    let checks = sqlx::query(
        "SELECT c.conname::text AS name, t.relname::text AS tbl, pg_get_constraintdef(c.oid)::text AS def, \
         a.attname::text AS col \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(c.conkey) AS k(attnum) \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
         WHERE c.contype = 'c' AND n.nspname = current_schema()",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL checks");
    let mut by_check: BTreeMap<(String, String), (String, BTreeSet<String>)> = BTreeMap::new();
    for c in &checks {
        let entry = by_check
            .entry((c.get("tbl"), c.get("name")))
            .or_insert_with(|| (c.get("def"), BTreeSet::new()));
        entry.1.insert(c.get::<String, _>("col").to_ascii_lowercase());
    }
    for ((table, _), (def, columns)) in &by_check {
        add(&mut facts, check_fact(table, columns, &literals(&tokens(def))));
    }
    facts
}

fn postgres_class(data_type: &str) -> String {
    match data_type {
        "smallint" | "integer" | "bigint" => "integer",
        "text" | "character varying" | "character" => "text",
        "bytea" => "blob",
        "real" | "double precision" => "real",
        "numeric" => "numeric",
        other => other,
    }
    .to_owned()
}

fn postgres_action(code: &str) -> String {
    match code {
        "a" => "no action",
        "r" => "restrict",
        "c" => "cascade",
        "n" => "set null",
        "d" => "set default",
        other => other,
    }
    .to_owned()
}

// ---- Facts in the same words for both engines ---------------------------------------------

fn column_fact(table: &str, name: &str, class: &str, not_null: bool, default: Option<&str>) -> String {
    let null = if not_null { "not null" } else { "null" };
    match default.map(normalise_default) {
        Some(default) => format!("{table}.{name}: {class}, {null}, default {default}"),
        None => format!("{table}.{name}: {class}, {null}"),
    }
}

/// `'live'::text` and `('live')` are SQLite's `'live'`: casts and outer parentheses go.
fn normalise_default(default: &str) -> String {
    let mut d = default.trim().to_owned();
    loop {
        let before = d.clone();
        if let Some(cast) = d.rfind("::") {
            let ty = &d[cast + 2..];
            if !ty.is_empty() && ty.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_') {
                d.truncate(cast);
            }
        }
        if d.starts_with('(') && d.ends_with(')') {
            d = d[1..d.len() - 1].trim().to_owned();
        }
        if d == before {
            return d;
        }
    }
}

fn check_fact(table: &str, columns: &BTreeSet<String>, literals: &BTreeSet<String>) -> String {
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let literals: Vec<&str> = literals.iter().map(String::as_str).collect();
    if literals.is_empty() {
        format!("{table}: check on ({})", columns.join(", "))
    } else {
        format!(
            "{table}: check on ({}) naming [{}]",
            columns.join(", "),
            literals.join(", ")
        )
    }
}

fn index_column(name: &str, descending: bool) -> String {
    if descending {
        format!("{name} desc")
    } else {
        name.to_owned()
    }
}

fn index_fact(table: &str, unique: bool, partial: bool, columns: &[String]) -> String {
    let kind = if unique { "unique" } else { "index" };
    let partial = if partial { ", partial" } else { "" };
    format!("{table}: {kind} ({}){partial}", columns.join(", "))
}

#[derive(Debug)]
struct Index {
    primary: bool,
    unique: bool,
    partial: bool,
    columns: Vec<String>,
}

#[derive(Debug, Default)]
struct ForeignKey {
    columns: Vec<String>,
    parent: String,
    parent_columns: Vec<String>,
    on_update: String,
    on_delete: String,
}

impl ForeignKey {
    fn fact(&self, table: &str) -> String {
        format!(
            "{table}: foreign key ({}) references {} ({}), on update {}, on delete {}",
            self.columns.join(", "),
            self.parent,
            self.parent_columns.join(", "),
            self.on_update,
            self.on_delete
        )
    }
}

// ---- SQL tokens, enough to find CHECK bodies and what they name ---------------------------

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    /// A "quoted" or `backquoted` identifier.
    Quoted(String),
    Str(String),
    Number(String),
    Punct(char),
}

/// Tokens of SQL text; comments dropped, so words and quotes in them do not count.
fn tokens(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c == '\'' || c == '"' || c == '`' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        text.push(c); // a doubled quote is the quote itself
                        i += 2;
                        continue;
                    }
                    break;
                }
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(if c == '\'' {
                Token::Str(text)
            } else {
                Token::Quoted(text)
            });
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// The values an expression names: strings and numbers, a minus sign kept where it is unary.
/// PostgreSQL writes `-1000` as `'-1000'::integer` and `IN (0, 1)` as `ANY (ARRAY[(0)::bigint,
/// (1)::bigint])`; both come out as the same values as SQLite's text.
fn literals(tokens: &[Token]) -> BTreeSet<String> {
    const OPERATORS: &[&str] = &[
        "AND", "OR", "NOT", "BETWEEN", "IN", "IS", "WHEN", "THEN", "ELSE", "CASE",
    ];
    let mut out = BTreeSet::new();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Str(s) => {
                out.insert(s.clone());
            }
            Token::Number(n) => {
                let unary_minus = i >= 1
                    && tokens[i - 1] == Token::Punct('-')
                    && match i.checked_sub(2).map(|j| &tokens[j]) {
                        None => true,
                        Some(Token::Punct(p)) => *p != ')',
                        Some(Token::Word(w)) => OPERATORS.iter().any(|o| w.eq_ignore_ascii_case(o)),
                        Some(_) => false,
                    };
                out.insert(if unary_minus { format!("-{n}") } else { n.clone() });
            }
            _ => {}
        }
    }
    out
}

// ---- The tests ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "compares with PostgreSQL: set PCHOST_TEST_POSTGRES_URL to run"
)]
async fn sqlite_and_postgres_migrations_build_the_same_schema() {
    let sqlite = SqliteFile::create().await;
    let postgres = PostgresDatabase::create().await;
    let sqlite_facts = sqlite_facts(sqlite.store.pool()).await;
    let postgres_facts = postgres_facts(postgres.store.pool()).await;
    sqlite.remove().await;
    postgres.drop().await;
    assert!(
        sqlite_facts.len() > 300 && postgres_facts.len() > 300,
        "the catalogs were read: {} SQLite facts, {} PostgreSQL facts",
        sqlite_facts.len(),
        postgres_facts.len()
    );
    if let Some(report) = differences(&sqlite_facts, &postgres_facts) {
        panic!("{report}");
    }
}

/// The SQLite reader on its own, so that a laptop without PostgreSQL still checks it finds
/// what the comparison relies on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_catalog_reader_finds_columns_keys_and_checks() {
    let sqlite = SqliteFile::create().await;
    let facts = sqlite_facts(sqlite.store.pool()).await;
    sqlite.remove().await;
    for fact in [
        "partners: table",
        "partners.id: integer, not null",
        "partners.id: numbered by the database from 1",
        "partners.frozen: integer, not null, default 0",
        "partners: check on (frozen) naming [0, 1]",
        "customers: unique (account_name)",
        "customers: index (partner, id)",
        "orders: index (customer, created_at desc)",
        "customers: foreign key (partner) references partners (id), on update no action, on delete no action",
        "shadow_diffs: foreign key (binding) references plugin_bindings (id), on update no action, on delete cascade",
        // Added by ALTER TABLE ... ADD COLUMN: folded into the CREATE TABLE text.
        "invocations.purpose: text, not null, default 'live'",
        "invocations: check on (purpose) naming [live, replay, shadow]",
        "plugin_bindings: check on (position) naming [-1000, 1000]",
        "accounts: check on (balance_cents, credit_limit_cents)",
        "list_prices: primary key (product, period)",
    ] {
        assert!(facts.contains_key(fact), "missing {fact:?}; SQLite facts:\n{facts:#?}");
    }
    assert!(
        !facts
            .keys()
            .any(|f| f.starts_with("_sqlx_migrations") || f.starts_with("sqlite_"))
    );
}

#[test]
fn check_bodies_are_found_whole_and_comments_skipped() {
    let sql = "CREATE TABLE t (\n    a INTEGER CHECK (a IN (0, 1)), -- don't CHECK (b)\n    \
               b TEXT CHECK (b <> ')' AND length(b) > 2),\n    CHECK ((a = 1) = (b IS NULL))\n)";
    let checks = checks_in_create_table(sql);
    assert_eq!(checks.len(), 3, "{checks:?}");
    assert_eq!(literals(&checks[0]), BTreeSet::from(["0".to_owned(), "1".to_owned()]));
    assert_eq!(literals(&checks[1]), BTreeSet::from([")".to_owned(), "2".to_owned()]));
    assert_eq!(checks[2].first(), Some(&Token::Punct('(')));
}

#[test]
fn postgres_and_sqlite_spellings_of_a_check_name_the_same_values() {
    let sqlite = checks_in_create_table(
        "CREATE TABLE t (p INTEGER CHECK (p BETWEEN -1000 AND 1000), f INTEGER CHECK (f IN (0, 1)), k TEXT CHECK (k IN ('a', 'b')), x INTEGER CHECK (x >= -y))",
    );
    let postgres = [
        "CHECK (((\"position\" >= '-1000'::integer) AND (\"position\" <= 1000)))",
        "CHECK ((frozen = ANY (ARRAY[(0)::bigint, (1)::bigint])))",
        "CHECK ((kind = ANY (ARRAY['a'::text, 'b'::text])))",
        "CHECK ((x >= (- y)))",
    ];
    for (s, p) in sqlite.iter().zip(postgres) {
        assert_eq!(literals(s), literals(&tokens(p)), "{p}");
    }
    assert_eq!(normalise_default("'live'::text"), "'live'");
    assert_eq!(normalise_default("(0)"), "0");
}

#[test]
fn a_difference_is_reported_with_its_engine() {
    let mut sqlite = Facts::new();
    let mut postgres = Facts::new();
    for (engine, fact, _) in ACCEPTED {
        add(
            if *engine == Engine::Sqlite {
                &mut sqlite
            } else {
                &mut postgres
            },
            (*fact).to_owned(),
        );
    }
    add(&mut sqlite, "partners.frozen: integer, not null, default 0".into());
    add(&mut postgres, "partners.frozen: integer, not null, default 0".into());
    add(&mut postgres, "partners: check on (frozen) naming [0, 1]".into());
    let report = differences(&sqlite, &postgres).expect("a difference");
    assert!(
        report.contains("PostgreSQL only | partners: check on (frozen) naming [0, 1]"),
        "{report}"
    );
    assert!(report.contains("(1 differences)"), "{report}");
    add(&mut sqlite, "partners: check on (frozen) naming [0, 1]".into());
    assert_eq!(differences(&sqlite, &postgres), None);
    let stale = differences(&Facts::new(), &Facts::new()).expect("accepted differences not found");
    assert!(stale.contains("no longer found"), "{stale}");
}
