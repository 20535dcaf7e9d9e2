//! Hostile: probes the sandbox and logs what it found: the wall clock, a value drawn from WASI
//! randomness, environment variables, arguments and the filesystem.
use pchost_plugin_sdk::pricing_rule::{Guest, PriceAdjustments, Quote, RuleError, log};
use std::hash::{BuildHasher, RandomState};
use std::time::{SystemTime, UNIX_EPOCH};

struct SandboxProbe;

impl Guest for SandboxProbe {
    fn price(_quote: Quote) -> Result<PriceAdjustments, RuleError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        // RandomState's keys come from WASI's random source.
        let random = RandomState::new().hash_one(42u64);
        let fs = match std::fs::read_dir("/") {
            Ok(_) => "readable".to_string(),
            Err(e) => format!("denied ({})", e.kind()),
        };
        let secret = std::fs::read_to_string("/etc/passwd")
            .map(|_| "read")
            .unwrap_or("denied");
        for finding in [
            format!("now={now}"),
            format!("random={random:016x}"),
            format!("env={}", std::env::vars().count()),
            format!("args={}", std::env::args().count()),
            format!("fs={fs}"),
            format!("passwd={secret}"),
        ] {
            log::log(log::Level::Info, &finding);
        }
        Ok(PriceAdjustments {
            lines: Vec::new(),
            reasons: Vec::new(),
        })
    }
}

pchost_plugin_sdk::pricing_rule::export_pricing_rule!(SandboxProbe);
