//! A real `pchost` server for the tests of this directory: started on a free port over a
//! fresh SQLite file, spoken to over plain HTTP/1.1.
#![allow(dead_code, reason = "each test file uses its own share of these helpers")]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens: `127.0.0.1:<port>`.
    pub address: String,
    /// Its data directory (database and artefacts), removed when it is dropped.
    pub dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Server {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself, at most `within`; its exit status.
    pub fn exited(mut self, within: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit within {within:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// SIGKILLs the process (`Child::kill` on Unix): no shutdown, no flush, transactions cut
    /// wherever they were. Hands back the data directory, kept for a restart.
    pub fn crash(mut self) -> PathBuf {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
        std::mem::take(&mut self.dir)
    }
}

pub fn pchost(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_pchost"))
        .args(args)
        .arg("--db")
        .arg(dir.join("pchost.db"))
        .env("RUST_LOG", "warn")
        .output()
        .expect("pchost runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Starts `pchost serve --demo` (for the catalog) with `extra` arguments on a free port and
/// waits until it serves.
pub fn serve(dir: PathBuf, extra: &[&str]) -> Server {
    let mut args = vec!["--demo"];
    args.extend_from_slice(extra);
    serve_with(dir, &args)
}

/// Starts `pchost serve` with `args` (no `--demo` unless given) on a free port and waits
/// until it serves.
pub fn serve_with(dir: PathBuf, args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pchost"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("pchost.db"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("pchost serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server logs until it serves")
            .expect("log line");
        if let Some(rest) = line.split("address=").nth(1)
            && line.contains("serving")
        {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, address, dir }
}

/// One HTTP/1.1 request over a fresh connection; returns the status and the JSON body.
pub fn request(
    server: &Server,
    method: &str,
    path: &str,
    key: Option<&str>,
    content_type: &str,
    body: &[u8],
    extra: &str,
) -> (u16, Value) {
    let stream = send(&server.address, method, path, key, content_type, body, extra).expect("connect");
    receive(stream).expect("read the answer")
}

/// Writes one HTTP/1.1 request to `address` over a fresh connection, without reading the
/// answer: a caller may read it ([`receive`]), or kill the server first.
pub fn send(
    address: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    content_type: &str,
    body: &[u8],
    extra: &str,
) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{auth}{extra}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    Ok(stream)
}

/// Reads the whole answer to a [`send`]: the status and the JSON body. An answer cut short
/// (the server died while writing it, or before) is an error, never a status.
pub fn receive(mut stream: TcpStream) -> std::io::Result<(u16, Value)> {
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let cut = |what: &str| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("answer cut short: {what}"));
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| cut("no end of head"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let body = &response[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| cut("no status line"))?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().map_err(|_| cut("content-length")))
        .transpose()?;
    let complete = match length {
        Some(n) => body.len() == n,
        None if head.contains("transfer-encoding: chunked") => body.ends_with(b"0\r\n\r\n"),
        None => true,
    };
    if !complete {
        return Err(cut("short body"));
    }
    let body = String::from_utf8_lossy(body);
    // Small responses may be chunked: take the JSON between the first '{' or '[' and the last.
    let start = body.find(['{', '[']).unwrap_or(body.len());
    let end = body.rfind(['}', ']']).map(|i| i + 1).unwrap_or(start);
    Ok((status, serde_json::from_str(&body[start..end]).unwrap_or(Value::Null)))
}

pub fn json_call(server: &Server, method: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
    request(
        server,
        method,
        path,
        Some(key),
        "application/json",
        body.to_string().as_bytes(),
        "",
    )
}

pub fn ok(expected: u16, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, expected, "{body}");
    body
}

pub fn upload(server: &Server, key: &str, manifest: &str, component: &[u8]) -> (u16, Value) {
    let boundary = "pchost-walkthrough-boundary";
    let mut body = Vec::new();
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n{manifest}\r\n").as_bytes(),
    );
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"component\"; filename=\"c.wasm\"\r\nContent-Type: application/wasm\r\n\r\n")
            .as_bytes(),
    );
    body.extend(component);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    request(
        server,
        "POST",
        "/v1/plugins",
        Some(key),
        &format!("multipart/form-data; boundary={boundary}"),
        &body,
        "",
    )
}

/// A current-thread tokio runtime, for a test's direct look at the database.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A database of its own on the PostgreSQL server, dropped after the test (failing or not).
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl PostgresDatabase {
    /// Creates `pchost_<purpose>_<pid>_<n>` on the server `admin_url` names.
    pub fn create(admin_url: &str, purpose: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "pchost_{purpose}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        runtime().block_on(async {
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(admin_url).await.expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .expect("create the test's database");
            admin.close().await;
        });
        let (base, _) = admin_url.rsplit_once('/').expect("URL ends in /<database>");
        PostgresDatabase {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // A thread of its own: this may run while a failing test unwinds.
        let _ = std::thread::spawn(move || {
            runtime().block_on(async {
                if let Ok(admin) = sqlx::AnyPool::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            })
        })
        .join();
    }
}
