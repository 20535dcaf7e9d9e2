//! Replaying a recorded invocation: the same plugin version (checked by digest) runs again on
//! the recorded input, with the recorded as-of time (the sandbox's clock and randomness derive
//! from it), and the answer is compared with the recorded one.
//!
//! A plugin is a deterministic function of its input and what it reads through the
//! capabilities. A replay reads the capabilities as they are now, so a plugin that reads data
//! which changed since (an order paid meanwhile, say) may answer differently: the report
//! shows where.

use crate::PluginHost;
use crate::audit::{AuditLog, Purpose};
use crate::error::ExtensionError;
use pchost_domain::errors::ErrorCode;
use pchost_runtime::World;
use pchost_runtime::model::{ApprovalRequest, Quote};
use pchost_store::audit::InvocationRecord;
use serde::Serialize;
use serde_json::Value;
use std::time::Instant;
use utoipa::ToSchema;

/// What a replay found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayReport {
    /// The recorded invocation.
    pub invocation: i64,
    /// The replay's own audit record.
    pub replay: Option<i64>,
    /// `name@version`.
    pub plugin: String,
    /// sha256 of the component that ran both times.
    pub digest: String,
    /// Whether the replay answered exactly as recorded.
    pub identical: bool,
    /// The recorded answer: `{"output": ...}` or `{"failure": ...}`.
    #[schema(value_type = Object)]
    pub recorded: Value,
    /// The replay's answer, in the same shape.
    #[schema(value_type = Object)]
    pub replayed: Value,
    /// Where they differ: JSON pointers, each with both values.
    pub differences: Vec<Difference>,
}

/// One place where two answers differ.
#[derive(Debug, Serialize, ToSchema)]
pub struct Difference {
    /// JSON pointer into the answer.
    pub path: String,
    /// The recorded value there (null when absent).
    #[schema(value_type = Object)]
    pub recorded: Value,
    /// The replayed value there (null when absent).
    #[schema(value_type = Object)]
    pub replayed: Value,
}

/// Replays a recorded invocation.
pub async fn replay(host: &PluginHost, record: InvocationRecord) -> Result<ReplayReport, ExtensionError> {
    let plugin_id = format!("{}/{}", record.owner, record.plugin);
    let plugin = host.runtime.plugin(&plugin_id).ok_or_else(|| {
        ExtensionError::refused(
            ErrorCode::PluginNotLoaded,
            format!("{plugin_id} is not installed on this host any more"),
        )
    })?;
    if plugin.digest != record.digest {
        return Err(ExtensionError::refused(
            ErrorCode::DigestMismatch,
            format!(
                "{plugin_id} is now {}, the invocation ran {}",
                plugin.digest, record.digest
            ),
        ));
    }
    let world = if record.world == plugin.manifest.wit_world() || record.world == plugin.manifest.world.as_str() {
        plugin.manifest.world
    } else {
        return Err(ExtensionError::refused(
            ErrorCode::DigestMismatch,
            format!(
                "the invocation ran world {}, {plugin_id} implements {}",
                record.world, plugin.manifest.world
            ),
        ));
    };
    let recorded = match (&record.output, &record.failure) {
        (Some(output), _) => serde_json::json!({ "output": parse(output)? }),
        (None, Some(failure)) => serde_json::json!({ "failure": parse(failure)? }),
        (None, None) => Value::Null,
    };
    let id = record.id;
    let input = record.input.clone();
    let (replayed, ids) = crate::audit::run_audited_with_ids(host.clone(), move |host, log: &mut AuditLog| {
        let started = Instant::now();
        let answer = match world {
            World::PricingRule => {
                let quote: Quote = serde_json::from_str(&input).map_err(|e| bad_input(id, e))?;
                let result = host.runtime.price(&plugin.id, &quote, host.data.clone());
                log.records.extend(crate::audit::record(
                    &plugin,
                    &quote,
                    quote.as_of,
                    started,
                    Purpose::Replay,
                    &result,
                ));
                answer_of(result)?
            }
            World::ApprovalRule => {
                let request: ApprovalRequest = serde_json::from_str(&input).map_err(|e| bad_input(id, e))?;
                let result = host.runtime.decide(&plugin.id, &request, host.data.clone());
                log.records.extend(crate::audit::record(
                    &plugin,
                    &request,
                    request.as_of,
                    started,
                    Purpose::Replay,
                    &result,
                ));
                answer_of(result)?
            }
        };
        Ok(answer)
    })
    .await?;
    let replayed = replayed?;
    let replay = ids.first().copied();
    let differences = differences(&recorded, &replayed);
    Ok(ReplayReport {
        invocation: id,
        replay,
        plugin: record.plugin,
        digest: record.digest,
        identical: differences.is_empty(),
        recorded,
        replayed,
        differences,
    })
}

fn answer_of<T: Serialize>(
    result: Result<pchost_runtime::Invocation<T>, pchost_runtime::InvokeError>,
) -> Result<Value, ExtensionError> {
    match result {
        Ok(invocation) => Ok(serde_json::json!({ "output": invocation.output })),
        Err(pchost_runtime::InvokeError::Plugin(failure)) => Ok(serde_json::json!({ "failure": failure })),
        Err(other) => Err(other.into()),
    }
}

fn parse(text: &str) -> Result<Value, ExtensionError> {
    serde_json::from_str(text)
        .map_err(|e| ExtensionError::Internal(anyhow::anyhow!("a recorded answer is not JSON: {e}")))
}

fn bad_input(id: i64, e: serde_json::Error) -> ExtensionError {
    ExtensionError::Internal(anyhow::anyhow!(
        "the recorded input of invocation {id} is unreadable: {e}"
    ))
}

/// Where two answers differ, by JSON pointer: for a replay, or for a shadow version's answer
/// beside the active one's (in [`Difference`]'s `recorded` and `replayed` then).
pub fn differences(a: &Value, b: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    diff("", a, b, &mut out);
    out
}

/// Collects the JSON pointers where `a` and `b` differ.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<Difference>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let null = Value::Null;
                diff(
                    &format!("{path}/{}", key.replace('~', "~0").replace('/', "~1")),
                    x.get(key).unwrap_or(&null),
                    y.get(key).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}/{i}"), p, q, out);
            }
        }
        _ if a == b => {}
        _ => out.push(Difference {
            path: if path.is_empty() { "/".into() } else { path.into() },
            recorded: a.clone(),
            replayed: b.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_diff_names_each_differing_leaf_by_json_pointer() {
        let mut out = Vec::new();
        diff(
            "",
            &json!({ "output": { "lines": [{ "unit_price": "1.00" }, { "unit_price": "2.00" }] } }),
            &json!({ "output": { "lines": [{ "unit_price": "1.00" }, { "unit_price": "2.50" }] } }),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].path, "/output/lines/1/unit_price");
        assert_eq!((&out[0].recorded, &out[0].replayed), (&json!("2.00"), &json!("2.50")));
        let mut none = Vec::new();
        diff("", &json!({ "a": [1, 2] }), &json!({ "a": [1, 2] }), &mut none);
        assert!(none.is_empty());
    }
}
