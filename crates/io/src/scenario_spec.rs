//! Loading a scenario-set configuration (TOML) with the files it names.

use std::path::Path;

use exfee_scenarios::{ScenarioConfig, ScenarioSpec, parse_correlation};

use crate::IoError;
use crate::bounded::{MAX_CONFIG_BYTES, MAX_TABLE_BYTES, read_bounded, read_bounded_text};
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
    // The parsers' messages already start with the file's name: it is not
    // repeated.
    let bad = |path: &str, reason: String| IoError::BadTable {
        path: path.to_string(),
        reason: reason
            .strip_prefix(path)
            .and_then(|rest| rest.strip_prefix(": "))
            .map_or(reason.clone(), str::to_string),
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
/// [`IoError::Unreadable`] when a file cannot be read; [`IoError::TooLarge`]
/// past [`MAX_CONFIG_BYTES`] (the configuration) or [`MAX_TABLE_BYTES`] (each
/// table and matrix); [`IoError::BadTable`] as [`parse_scenario_spec`].
pub fn read_scenario_spec(path: &Path) -> Result<ScenarioSpec, IoError> {
    let text = read_bounded_text(path, MAX_CONFIG_BYTES)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse_scenario_spec(&path.display().to_string(), &text, |name| {
        let file = dir.join(name);
        Ok((
            file.display().to_string(),
            read_bounded(&file, MAX_TABLE_BYTES)?,
        ))
    })
}
