//! Loading a scenario-set configuration (TOML) with the files it names.

use std::path::Path;

use exfee_scenarios::{ScenarioConfig, ScenarioSpec, parse_correlation};

use crate::IoError;
use crate::tables::{parse_factor_table, parse_fx_table};

/// Builds a [`ScenarioSpec`] from a configuration's text; `open` gives the
/// text of each file the configuration names (resolved by the caller, e.g.
/// relative to the configuration's folder), with the name to show in errors.
///
/// # Errors
///
/// [`IoError::BadTable`] naming the file at fault when the configuration,
/// a table or the correlation matrix is invalid or does not match the others;
/// whatever `open` returns when a file cannot be read.
pub fn parse_scenario_spec(
    config_name: &str,
    config_text: &str,
    open: impl Fn(&str) -> Result<(String, Vec<u8>), IoError>,
) -> Result<ScenarioSpec, IoError> {
    let bad = |path: &str, reason: String| IoError::BadTable {
        path: path.to_string(),
        reason,
    };
    let config = ScenarioConfig::parse(config_name, config_text)
        .map_err(|e| bad(config_name, e.to_string()))?;
    let (name, text) = open(&config.factor_table)?;
    let factor_table = parse_factor_table(&name, text.as_slice())?;
    let (name, text) = open(&config.fx_table)?;
    let fx_table = parse_fx_table(&name, text.as_slice())?;
    let (name, text) = open(&config.correlation)?;
    let correlation =
        parse_correlation(&name, text.as_slice()).map_err(|e| bad(&name, e.to_string()))?;
    ScenarioSpec::new(config, factor_table, fx_table, correlation)
        .map_err(|e| bad(config_name, e.to_string()))
}

/// Reads a scenario-set configuration file and the files it names
/// (relative to the configuration's folder).
///
/// # Errors
///
/// [`IoError::Unreadable`] when a file cannot be read; [`IoError::BadTable`]
/// as [`parse_scenario_spec`].
pub fn read_scenario_spec(path: &Path) -> Result<ScenarioSpec, IoError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| IoError::Unreadable {
            path: path.to_path_buf(),
            source,
        })
    };
    let text = read(path)?;
    let text = String::from_utf8(text).map_err(|_| IoError::BadTable {
        path: path.display().to_string(),
        reason: "not UTF-8 text".to_string(),
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse_scenario_spec(&path.display().to_string(), &text, |name| {
        let file = dir.join(name);
        Ok((file.display().to_string(), read(&file)?))
    })
}
