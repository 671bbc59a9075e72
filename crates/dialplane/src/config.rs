//! `serve`'s settings from four layers: flags > `DIALPLANE_*` variables > a TOML file (`--config`)
//! > defaults.
//!
//! The file's keys are the flags' names without the dashes in front (`max-body-bytes = 2097152`,
//! `llm-models = ["gpt-4o", "gpt-5"]`). Each key becomes the default of its flag before the command
//! line is read, so clap checks a file value exactly as it checks a flag, and a flag or a variable
//! still wins. `--print-config` prints the settings in effect, each with where it came from, with
//! passwords replaced.

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The flag and variable that name the file.
pub const CONFIG_FLAG: &str = "--config";
pub const CONFIG_ENV: &str = "DIALPLANE_CONFIG";

/// The file named by `--config FILE` / `--config=FILE` after `serve` in `args`, or by
/// `DIALPLANE_CONFIG`.
pub fn config_file(args: &[OsString]) -> Option<PathBuf> {
    let serve = args.iter().position(|a| a == "serve")?;
    let mut rest = args[serve + 1..].iter();
    while let Some(arg) = rest.next() {
        let arg = arg.to_string_lossy();
        if arg == CONFIG_FLAG {
            return rest.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os(CONFIG_ENV).map(PathBuf::from)
}

/// A file value as a flag would give it: a string, a whole number, a boolean, or (for a setting
/// that takes a list) an array of strings.
fn flag_value(key: &str, value: &toml::Value, list: bool) -> anyhow::Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) if list => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(s.clone()),
                other => bail!("{key}: a list of strings, not of {}s", other.type_str()),
            })
            .collect::<anyhow::Result<Vec<_>>>()?
            .join(","),
        toml::Value::Array(_) => bail!("{key}: takes one value, not a list"),
        other => bail!("{key}: a {} is not a setting's value", other.type_str()),
    })
}

/// `serve` with the settings of the file at `path` as its defaults, and the ids of those settings.
pub fn with_file(serve: Command, path: &Path) -> anyhow::Result<(Command, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the settings file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))?;
    let mut serve = serve;
    let mut set = Vec::new();
    for (key, value) in &table {
        let arg = serve.get_arguments().find(|a| {
            a.get_long() == Some(key.as_str()) && !matches!(key.as_str(), "config" | "print-config")
        });
        let Some(arg) = arg else {
            bail!(
                "{}: {key:?} is not a setting a file can give to `dialplane serve` (see `dialplane serve --help`)",
                path.display()
            );
        };
        let id = arg.get_id().as_str().to_owned();
        let list = arg.get_value_delimiter().is_some();
        let value = flag_value(key, value, list).with_context(|| path.display().to_string())?;
        // A secret's value from the file is not shown as the default in `--help`.
        let secret = REDACTED.contains(&id.as_str());
        serve = serve.mut_arg(&id, |arg| {
            arg.default_value(value).hide_default_value(secret)
        });
        set.push(id);
    }
    Ok((serve, set))
}

/// Settings whose values are secret in part: shown with passwords replaced.
const REDACTED: [&str; 2] = ["url", "redis_url"];

/// The settings in effect, as TOML with where each came from: what `--print-config` prints.
pub fn effective(serve: &Command, matches: &ArgMatches, from_file: &[String]) -> String {
    let mut out = String::from("# dialplane serve: the settings in effect\n");
    for arg in serve.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else { continue };
        if matches!(id, "config" | "print_config" | "help" | "version") {
            continue;
        }
        let values: Vec<String> = matches
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "flag".to_owned(),
            Some(ValueSource::EnvVariable) => format!(
                "environment ({})",
                arg.get_env()
                    .map_or_else(String::new, |e| e.to_string_lossy().into_owned())
            ),
            Some(ValueSource::DefaultValue) if from_file.iter().any(|f| f == id) => {
                "file".to_owned()
            }
            Some(ValueSource::DefaultValue) => "default".to_owned(),
            _ => "unset".to_owned(),
        };
        let shown: Vec<String> = values
            .iter()
            .map(|v| {
                if REDACTED.contains(&id) {
                    dialplane_store::redact_url(v)
                } else {
                    v.clone()
                }
            })
            .collect();
        let value = match shown.as_slice() {
            [] => String::new(),
            [one] => toml::Value::String(one.clone()).to_string(),
            many => toml::Value::Array(
                many.iter()
                    .map(|v| toml::Value::String(v.clone()))
                    .collect(),
            )
            .to_string(),
        };
        if shown.is_empty() {
            out.push_str(&format!("# {long} = (not set)  # {source}\n"));
        } else {
            out.push_str(&format!("{long} = {value}  # {source}\n"));
        }
    }
    out
}
