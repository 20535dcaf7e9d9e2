//! `pchost serve --config <file>` (or `PCHOST_CONFIG`): settings from a TOML file, each key the
//! long name of one of `serve`'s flags. The file is read before the command line is parsed and
//! its settings become flags placed before the user's, so one definition (clap's) holds the
//! names, types, defaults and checks of every setting. What wins: a flag on the command line,
//! then its environment variable, then the file, then the default (docs/deploy.md).

use anyhow::{Context, bail};
use clap::CommandFactory;
use std::ffi::OsString;

/// The largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 64 << 10;

/// `args` (the program's, program name first) with the settings of `serve`'s configuration
/// file, if it names one, inserted as flags after `serve`.
pub fn with_config_file(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    if args.get(1).and_then(|a| a.to_str()) != Some("serve") {
        return Ok(args);
    }
    let strings: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let named = strings.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--config=")
            .map(str::to_owned)
            .or_else(|| (a == "--config").then(|| strings.get(i + 1).cloned()).flatten())
    });
    let Some(path) = named.or_else(|| std::env::var("PCHOST_CONFIG").ok()) else {
        return Ok(args);
    };
    let text = read(&path)?;
    let flags = flags(&text, &strings[2..], |name| std::env::var_os(name).is_some())
        .with_context(|| format!("in the configuration file {path}"))?;
    let mut out = args;
    let tail = out.split_off(2);
    out.extend(flags.into_iter().map(OsString::from));
    out.extend(tail);
    Ok(out)
}

fn read(path: &str) -> anyhow::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).with_context(|| format!("opening the configuration file {path}"))?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading the configuration file {path} (UTF-8 TOML)"))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        bail!("the configuration file {path} is larger than {MAX_CONFIG_BYTES} bytes");
    }
    Ok(text)
}

/// The flags the file's settings make: one per key, unless the command line (`given`) has that
/// flag or its environment variable is set (`env_set`). Unknown keys and values that are not
/// scalars are refused, naming the key.
fn flags(text: &str, given: &[String], env_set: impl Fn(&str) -> bool) -> anyhow::Result<Vec<String>> {
    let table: toml::Table = toml::from_str(text).context("not valid TOML")?;
    let command = crate::cli::Cli::command();
    let serve = command.find_subcommand("serve").context("the serve command")?;
    let mut flags = Vec::new();
    for (key, value) in table {
        let Some(arg) = serve
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && !["config", "help", "version"].contains(&key.as_str()))
        else {
            bail!("`{key}` is not a setting of `pchost serve` (see `pchost serve --help`)");
        };
        let flag = format!("--{key}");
        if given.iter().any(|g| *g == flag || g.starts_with(&format!("{flag}="))) {
            continue;
        }
        if arg.get_env().and_then(|e| e.to_str()).is_some_and(&env_set) {
            continue;
        }
        let takes_value = arg.get_action().takes_values();
        match value {
            toml::Value::Boolean(on) if !takes_value => {
                if on {
                    flags.push(flag);
                }
            }
            toml::Value::String(v) if takes_value => flags.push(format!("{flag}={v}")),
            toml::Value::Integer(v) if takes_value => flags.push(format!("{flag}={v}")),
            toml::Value::Float(_) => bail!("`{key}`: write numbers as integers, or decimals as strings (\"1.5\")"),
            other if takes_value => bail!("`{key}` takes a string or an integer, not {}", other.type_str()),
            other => bail!("`{key}` is a switch: true or false, not {}", other.type_str()),
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn settings_become_flags_unless_the_command_line_or_the_environment_sets_them() {
        let text = "listen = \"0.0.0.0:9000\"\nplugin-instances = 64\ndemo = true\nno-fuel-metering = false\nrate-limit-burst = 7\n";
        let overridden = flags(text, &["--rate-limit-burst".into(), "9".into()], |env| {
            env == "PCHOST_LISTEN"
        })
        .expect("flags");
        assert_eq!(
            overridden,
            vec!["--demo".to_owned(), "--plugin-instances=64".to_owned()]
        );
        let all = flags(text, &[], |_| false).expect("flags");
        assert!(all.contains(&"--listen=0.0.0.0:9000".to_owned()), "{all:?}");
        assert!(all.contains(&"--rate-limit-burst=7".to_owned()), "{all:?}");
    }

    #[test]
    fn an_unknown_key_a_wrong_type_or_bad_toml_is_refused_naming_it() {
        let refused = |text: &str| format!("{:#}", flags(text, &[], |_| false).expect_err("refused"));
        assert!(refused("listn = \"x\"").contains("`listn` is not a setting"));
        assert!(refused("config = \"other.toml\"").contains("`config` is not a setting"));
        assert!(refused("help = true").contains("`help` is not a setting"));
        assert!(refused("demo = \"yes\"").contains("`demo` is a switch"));
        assert!(refused("listen = [1]").contains("`listen` takes a string or an integer"));
        assert!(refused("price-ceiling-partner = 1.5").contains("write numbers as integers"));
        assert!(refused("listen = ").contains("not valid TOML"));
    }

    #[test]
    fn the_file_is_inserted_after_serve_and_a_value_the_parser_refuses_is_refused_at_start() {
        let dir = std::env::temp_dir().join(format!("pchost-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("pchost.toml");
        std::fs::write(&path, "plugin-instances = 12\nscheduler-interval-secs = 0\n").expect("write");
        let args: Vec<OsString> = ["pchost", "serve", "--config", path.to_str().expect("path"), "--demo"]
            .iter()
            .map(OsString::from)
            .collect();
        let args = with_config_file(args).expect("read");
        let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(&shown[..2], ["pchost", "serve"]);
        assert!(shown.contains(&"--plugin-instances=12".to_owned()), "{shown:?}");
        assert!(crate::cli::Cli::try_parse_from(&args).is_ok());
        std::fs::write(&path, "plugin-instances = \"many\"\n").expect("write");
        let args = with_config_file(
            ["pchost", "serve", "--config", path.to_str().expect("path")]
                .map(OsString::from)
                .to_vec(),
        )
        .expect("read");
        assert!(
            crate::cli::Cli::try_parse_from(&args).is_err(),
            "clap checks the file's values"
        );
        std::fs::write(&path, "x".repeat(MAX_CONFIG_BYTES as usize + 1)).expect("write");
        let big = with_config_file(
            ["pchost", "serve", "--config", path.to_str().expect("path")]
                .map(OsString::from)
                .to_vec(),
        );
        assert!(format!("{:#}", big.expect_err("too big")).contains("larger than"));
        std::fs::remove_dir_all(dir).expect("clean up");
    }
}
