//! Plugin settings (extension@0.3.0 on): the typed settings a manifest declares, and the
//! values a binding gives them, checked at bind time and resolved (values, else defaults) into
//! what the plugin receives in its input.
//!
//! Settings are configuration, not secrets: operators and the binding's owner read them, and
//! every invocation's audited input carries them. A binding's values are JSON: a decimal is a
//! string (`"0.08"`, never a JSON number), an integer a JSON integer, a string or one-of
//! option a string, a bool a bool.
//!
//! ```toml
//! [settings.rate]
//! type = "decimal"
//! min = "0"
//! max = "0.5"
//! default = "0.05"
//! doc = "The renewal discount, as a share of the price."
//! ```

use crate::model::{MAX_SCALE, Setting, SettingValue};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The most settings a manifest declares.
pub const MAX_SETTINGS: usize = 32;
/// The longest setting name.
pub const MAX_NAME: usize = 32;
/// The longest doc line of a setting.
pub const MAX_DOC: usize = 512;
/// The most options of a one-of setting.
pub const MAX_OPTIONS: usize = 32;
/// The longest option of a one-of setting.
pub const MAX_OPTION: usize = 64;
/// The longest string a string setting holds (its `max-length` may lower it).
pub const MAX_STRING: usize = 1024;

/// The type of a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingType {
    /// An exact decimal, written as a string.
    Decimal,
    /// A 64-bit integer.
    Integer,
    /// A string.
    String,
    /// A boolean.
    Bool,
    /// One of the declared `options`.
    OneOf,
}

/// A setting as a manifest declares it (`[settings.<name>]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SettingSpec {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// What it means, for the people who bind the plugin.
    #[serde(default)]
    pub doc: String,
    /// The least value of a decimal (a string) or integer setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    /// The greatest value of a decimal (a string) or integer setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// The longest value of a string setting, in bytes (at most 1,024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// The options of a one-of setting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Its value when a binding gives none; without one, every binding must give one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// A setting refused: `field` is its path (`settings.rate`, `settings.rate.max`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingError {
    /// The path of the value at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> SettingError {
    SettingError {
        field: field.into(),
        message: message.into(),
    }
}

/// An exact decimal written as a JSON string, at most [`MAX_SCALE`] places.
fn decimal(value: &Value, field: &str) -> Result<Decimal, SettingError> {
    let Value::String(text) = value else {
        return Err(refuse(field, "a decimal is a string, e.g. \"0.08\""));
    };
    let d = Decimal::from_str_exact(text).map_err(|_| refuse(field, format!("{text:?} is not a decimal")))?;
    if d.scale() > MAX_SCALE {
        return Err(refuse(
            field,
            format!("{text} has more than {MAX_SCALE} decimal places"),
        ));
    }
    Ok(d)
}

/// A bound as the manifest writes it, without JSON's quotes.
fn shown(bound: &Value) -> String {
    match bound {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn integer(value: &Value, field: &str) -> Result<i64, SettingError> {
    value
        .as_i64()
        .ok_or_else(|| refuse(field, "an integer setting is a JSON integer"))
}

impl SettingSpec {
    /// Checks the declaration of setting `name`.
    fn validate(&self, name: &str) -> Result<(), SettingError> {
        let at = |part: &str| format!("settings.{name}.{part}");
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(refuse(
                format!("settings.{}", name.chars().take(40).collect::<String>()),
                format!("a setting's name is 1-{MAX_NAME} characters of a-z, 0-9 and '-', starting with a letter"),
            ));
        }
        if self.doc.len() > MAX_DOC {
            return Err(refuse(at("doc"), format!("at most {MAX_DOC} bytes")));
        }
        let bounded = matches!(self.kind, SettingType::Decimal | SettingType::Integer);
        if !bounded && (self.min.is_some() || self.max.is_some()) {
            return Err(refuse(at("min"), "only decimal and integer settings have bounds"));
        }
        if self.kind != SettingType::String && self.max_length.is_some() {
            return Err(refuse(at("max-length"), "only string settings have a maximum length"));
        }
        if self.kind != SettingType::OneOf && !self.options.is_empty() {
            return Err(refuse(at("options"), "only one-of settings have options"));
        }
        match self.kind {
            SettingType::Decimal => {
                let min = self.min.as_ref().map(|v| decimal(v, &at("min"))).transpose()?;
                let max = self.max.as_ref().map(|v| decimal(v, &at("max"))).transpose()?;
                if let (Some(min), Some(max)) = (min, max)
                    && min > max
                {
                    return Err(refuse(at("min"), format!("{min} is above max {max}")));
                }
            }
            SettingType::Integer => {
                let min = self.min.as_ref().map(|v| integer(v, &at("min"))).transpose()?;
                let max = self.max.as_ref().map(|v| integer(v, &at("max"))).transpose()?;
                if let (Some(min), Some(max)) = (min, max)
                    && min > max
                {
                    return Err(refuse(at("min"), format!("{min} is above max {max}")));
                }
            }
            SettingType::String => {
                if self.max_length.is_some_and(|n| n == 0 || n > MAX_STRING) {
                    return Err(refuse(at("max-length"), format!("1 to {MAX_STRING}")));
                }
            }
            SettingType::Bool => {}
            SettingType::OneOf => {
                if self.options.is_empty() || self.options.len() > MAX_OPTIONS {
                    return Err(refuse(at("options"), format!("1 to {MAX_OPTIONS} options")));
                }
                for (i, option) in self.options.iter().enumerate() {
                    if option.is_empty() || option.len() > MAX_OPTION {
                        return Err(refuse(
                            format!("settings.{name}.options[{i}]"),
                            format!("1 to {MAX_OPTION} bytes"),
                        ));
                    }
                    if self.options[..i].contains(option) {
                        return Err(refuse(
                            format!("settings.{name}.options[{i}]"),
                            format!("{option:?} twice"),
                        ));
                    }
                }
            }
        }
        if let Some(default) = &self.default {
            self.check(default, &at("default"))?;
        }
        Ok(())
    }

    /// The typed value of `value`, or why it is not one of this setting's values.
    pub fn check(&self, value: &Value, field: &str) -> Result<SettingValue, SettingError> {
        match self.kind {
            SettingType::Decimal => {
                let d = decimal(value, field)?;
                if let Some(min) = &self.min
                    && d < decimal(min, field)?
                {
                    return Err(refuse(field, format!("{d} is below the least value, {}", shown(min))));
                }
                if let Some(max) = &self.max
                    && d > decimal(max, field)?
                {
                    return Err(refuse(
                        field,
                        format!("{d} is above the greatest value, {}", shown(max)),
                    ));
                }
                Ok(SettingValue::Decimal(d))
            }
            SettingType::Integer => {
                let n = integer(value, field)?;
                if let Some(min) = &self.min
                    && n < integer(min, field)?
                {
                    return Err(refuse(field, format!("{n} is below the least value, {min}")));
                }
                if let Some(max) = &self.max
                    && n > integer(max, field)?
                {
                    return Err(refuse(field, format!("{n} is above the greatest value, {max}")));
                }
                Ok(SettingValue::Integer(n))
            }
            SettingType::String => {
                let Value::String(text) = value else {
                    return Err(refuse(field, "a string setting is a JSON string"));
                };
                let limit = self.max_length.unwrap_or(MAX_STRING);
                if text.len() > limit {
                    return Err(refuse(field, format!("{} bytes; at most {limit}", text.len())));
                }
                Ok(SettingValue::Text(text.clone()))
            }
            SettingType::Bool => value
                .as_bool()
                .map(SettingValue::Flag)
                .ok_or_else(|| refuse(field, "a bool setting is true or false")),
            SettingType::OneOf => match value {
                Value::String(text) if self.options.contains(text) => Ok(SettingValue::Text(text.clone())),
                _ => Err(refuse(field, format!("one of {}", self.options.join(", ")))),
            },
        }
    }
}

/// Checks a manifest's declarations of settings.
pub fn validate(specs: &BTreeMap<String, SettingSpec>) -> Result<(), SettingError> {
    if specs.len() > MAX_SETTINGS {
        return Err(refuse("settings", format!("at most {MAX_SETTINGS} settings")));
    }
    specs.iter().try_for_each(|(name, spec)| spec.validate(name))
}

/// What a plugin receives: every declared setting, with the binding's value or else the
/// default, in name order. Refuses a value the manifest does not declare, a value of the
/// wrong type or out of bounds, and a setting with neither value nor default, naming it.
pub fn resolve(
    specs: &BTreeMap<String, SettingSpec>,
    values: &Map<String, Value>,
) -> Result<Vec<Setting>, SettingError> {
    if let Some(unknown) = values.keys().find(|name| !specs.contains_key(*name)) {
        let known: Vec<&str> = specs.keys().map(String::as_str).collect();
        return Err(refuse(
            format!("settings.{}", unknown.chars().take(40).collect::<String>()),
            if known.is_empty() {
                "the plugin declares no settings".to_owned()
            } else {
                format!("not a setting of the plugin (it declares {})", known.join(", "))
            },
        ));
    }
    specs
        .iter()
        .map(|(name, spec)| {
            let field = format!("settings.{name}");
            let value = values
                .get(name)
                .or(spec.default.as_ref())
                .ok_or_else(|| refuse(&field, "required: the plugin gives it no default"))?;
            Ok(Setting {
                name: name.clone(),
                value: spec.check(value, &field)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn specs(toml_text: &str) -> BTreeMap<String, SettingSpec> {
        #[derive(Deserialize)]
        struct Doc {
            settings: BTreeMap<String, SettingSpec>,
        }
        toml::from_str::<Doc>(toml_text).expect("settings parse").settings
    }

    const RATE: &str = "[settings.rate]\ntype = \"decimal\"\nmin = \"0\"\nmax = \"0.5\"\ndefault = \"0.05\"\n\
                        [settings.tier]\ntype = \"one-of\"\noptions = [\"gold\", \"silver\"]\n";

    fn values(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("an object")
    }

    #[test]
    fn values_are_typed_defaults_fill_in_and_every_refusal_names_its_field() {
        let specs = specs(RATE);
        assert_eq!(validate(&specs), Ok(()));
        let d = |s: &str| Decimal::from_str_exact(s).expect("decimal");
        assert_eq!(
            resolve(&specs, &values(json!({ "tier": "gold" }))),
            Ok(vec![
                Setting {
                    name: "rate".into(),
                    value: SettingValue::Decimal(d("0.05"))
                },
                Setting {
                    name: "tier".into(),
                    value: SettingValue::Text("gold".into())
                },
            ])
        );
        let field = |v: Value| resolve(&specs, &values(v)).map_err(|e| e.field);
        assert_eq!(field(json!({})), Err("settings.tier".into()), "no default");
        assert_eq!(field(json!({ "tier": "bronze" })), Err("settings.tier".into()));
        assert_eq!(
            field(json!({ "tier": "gold", "rate": "0.6" })),
            Err("settings.rate".into())
        );
        assert_eq!(
            field(json!({ "tier": "gold", "rate": 0.08 })),
            Err("settings.rate".into()),
            "a number is not a decimal string"
        );
        assert_eq!(
            field(json!({ "tier": "gold", "rate": "0.00000000001" })),
            Err("settings.rate".into())
        );
        assert_eq!(
            field(json!({ "tier": "gold", "colour": "red" })),
            Err("settings.colour".into())
        );
    }

    #[test]
    fn bad_declarations_are_refused_naming_the_part() {
        let bad = |text: &str| validate(&specs(text)).map_err(|e| e.field);
        assert_eq!(
            bad("[settings.rate]\ntype = \"decimal\"\nmin = \"1\"\nmax = \"0.5\"\n"),
            Err("settings.rate.min".into())
        );
        assert_eq!(
            bad("[settings.rate]\ntype = \"decimal\"\nmax = \"0.5\"\ndefault = \"0.9\"\n"),
            Err("settings.rate.default".into())
        );
        assert_eq!(bad("[settings.Rate]\ntype = \"bool\"\n"), Err("settings.Rate".into()));
        assert_eq!(
            bad("[settings.flag]\ntype = \"bool\"\nmin = 1\n"),
            Err("settings.flag.min".into())
        );
        assert_eq!(
            bad("[settings.tier]\ntype = \"one-of\"\n"),
            Err("settings.tier.options".into())
        );
        assert_eq!(
            bad("[settings.tier]\ntype = \"one-of\"\noptions = [\"a\", \"a\"]\n"),
            Err("settings.tier.options[1]".into())
        );
        assert_eq!(
            bad("[settings.name]\ntype = \"string\"\nmax-length = 5000\n"),
            Err("settings.name.max-length".into())
        );
        let many: String = (0..=MAX_SETTINGS)
            .map(|i| format!("[settings.s{i}]\ntype = \"bool\"\n"))
            .collect();
        assert_eq!(bad(&many), Err("settings".into()));
    }
}
