//! Compiling in a child process, as `pchost serve` and `pchost plugin install` do: the real
//! `pchost` binary compiles, the parent loads what it compiled and runs it. Past the time
//! ceiling or its memory limit the child is stopped, and nothing is kept.

use pchost_runtime::compile::{ChildCompiler, CompileConfig, Compiler};
use pchost_runtime::model::Quote;
use pchost_runtime::{InstallError, PluginManifest, PluginRuntime, RuntimeConfig};
use pchost_server::capability_data::StoreData;
use pchost_store::demo::DemoData;
use pchost_store::store::Store;
use pchost_test_plugins as built;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A fresh artefact directory, removed when dropped.
struct Artefacts(PathBuf);

impl Artefacts {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("pchost-compile-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Artefacts(dir)
    }

    /// The files in it.
    fn files(&self) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(&self.0)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

impl Drop for Artefacts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn runtime(artefacts: &Path, ceiling: Duration, memory_bytes: u64) -> PluginRuntime {
    PluginRuntime::new(RuntimeConfig {
        artefact_dir: Some(artefacts.to_owned()),
        compile: CompileConfig {
            compiler: Compiler::ChildProcess(ChildCompiler {
                memory_bytes,
                ..ChildCompiler::new(env!("CARGO_BIN_EXE_pchost").into())
            }),
            ceiling,
            ..CompileConfig::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

fn volume_discount() -> PluginManifest {
    let text =
        std::fs::read_to_string(built::repo_root().join("plugins/volume-discount/plugin.toml")).expect("plugin.toml");
    PluginManifest::from_toml(&text).expect("valid manifest")
}

/// The volume-discount example prices its fixture as checked in beside it.
fn prices_its_example(runtime: &PluginRuntime, id: &str) {
    let example = built::repo_root().join("examples/volume-discount");
    let read = |file: &str| std::fs::read_to_string(example.join(file)).expect("example file");
    let quote: Quote = serde_json::from_str(&read("tiers.input.json")).expect("a quote");
    let expected: Value = serde_json::from_str(&read("tiers.expected.json")).expect("JSON");
    let tokio = tokio::runtime::Runtime::new().expect("tokio");
    let store = tokio.block_on(async {
        let store = Store::in_memory().await.expect("store");
        store
            .seed_demo_if_empty(&DemoData::new(chrono::Utc::now()))
            .await
            .expect("seed");
        store
    });
    let priced = runtime
        .price(id, &quote, Arc::new(StoreData::new(store)))
        .expect("priced");
    assert_eq!(serde_json::to_value(&priced.output).expect("JSON"), expected);
}

#[test]
fn a_component_compiled_in_a_child_process_is_stored_loaded_and_run() {
    let artefacts = Artefacts::new("child");
    let installed = {
        let runtime = runtime(&artefacts.0, Duration::from_secs(60), 1 << 30);
        let plugin = runtime
            .install(volume_discount(), &built::read(built::VOLUME_DISCOUNT))
            .expect("compiled by the child and loaded");
        prices_its_example(&runtime, &plugin.id);
        plugin
    };
    let digest = &installed.digest;
    // The original, and the artefact compiled for this engine (named by its fingerprint).
    let files = artefacts.files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files[0].starts_with(&format!("{digest}.")) && files[0].ends_with(".cwasm"),
        "{files:?}"
    );
    assert_eq!(files[1], format!("{digest}.wasm"));
    // The child's artefact is what a later start loads, without compiling.
    let restarted = runtime(&artefacts.0, Duration::from_nanos(1), 1 << 30);
    let loaded = restarted
        .load(volume_discount(), digest, None)
        .expect("loads the child's artefact");
    prices_its_example(&restarted, &loaded.id);
}

#[test]
fn past_the_ceiling_the_child_compiler_is_killed_and_nothing_is_kept() {
    let artefacts = Artefacts::new("ceiling");
    let runtime = runtime(&artefacts.0, Duration::from_millis(1), 1 << 30);
    let refused = runtime.install(volume_discount(), &built::read(built::VOLUME_DISCOUNT));
    assert_eq!(refused.map(|_| ()), Err(InstallError::CompileTimeout { ceiling_ms: 1 }));
    assert!(runtime.plugins().is_empty());
    assert_eq!(artefacts.files(), Vec::<String>::new());
}

#[test]
fn a_child_compiler_past_its_memory_limit_fails_the_install_and_nothing_is_kept() {
    let artefacts = Artefacts::new("memory");
    let runtime = runtime(&artefacts.0, Duration::from_secs(60), 4 << 20);
    let refused = runtime.install(volume_discount(), &built::read(built::VOLUME_DISCOUNT));
    assert!(
        matches!(&refused, Err(InstallError::CompileFailed(message)) if message.contains("at most 4 MiB")),
        "{:?}",
        refused.map(|_| ())
    );
    assert!(runtime.plugins().is_empty());
    assert_eq!(artefacts.files(), Vec::<String>::new());
}

#[test]
fn a_child_compiler_runs_at_the_lowest_cpu_priority_below_the_guests() {
    let request = serde_json::json!({
        "engine": pchost_runtime::compile::EngineSettings::of(&RuntimeConfig::default()),
        "cpu_seconds": 60,
        "memory_bytes": 1u64 << 30,
        "max_input_bytes": 1024,
    });
    // The child limits itself, then waits for the component on its stdin: it is read there.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pchost"))
        .args([pchost_runtime::compile::CHILD_SUBCOMMAND, &request.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the child compiler starts");
    let nice = |pid: u32| -> Option<i64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command's name: state is field 3, nice field 19.
        stat.rsplit_once(')')?.1.split_whitespace().nth(16)?.parse().ok()
    };
    let started = std::time::Instant::now();
    let mut seen = nice(child.id());
    while seen != Some(19) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
        seen = nice(child.id());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen, Some(19), "the child compiler's nice value");
}
