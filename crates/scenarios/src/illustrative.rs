//! The documented rule behind the shipped illustrative correlation matrices
//! (`scenarios/correlation-default.csv`, `scenarios/correlation-legacy.csv`),
//! and the tests that the shipped files follow it and validate.
//!
//! Rule (see `scenarios/README.md`): every variable belongs to one group g
//! with loadings (β_g, δ_g, a_g) on a global "risk-on" factor, a global
//! "dollar-weakness" factor and its group's own factor:
//!
//! ```text
//! ρ_ij = β_g(i)·β_g(j) + δ_g(i)·δ_g(j) + [g(i) = g(j)]·a_g(i)²   (i ≠ j),  ρ_ii = 1
//! ```
//!
//! with β² + δ² + a² < 1 for every group of two or more members and
//! β² + δ² ≤ 1 for every group, so the matrix is a correlation matrix of a
//! latent factor model, positive definite by construction. Entries are
//! rounded to 4 decimals.
//!
//! To rewrite the files after changing the table below:
//! `cargo test -p exfee-scenarios -- --ignored write_illustrative_matrices`.

use exfee_model::{Bounds, Currency, FactorTable, FxFactor, FxTable, PrimaryFactor};
use nalgebra::DMatrix;
use rust_decimal::Decimal;

use crate::{
    DEFAULT_EQUITY_VOL_NAME, ScenarioConfig, ScenarioSpec, correlation::min_eigenvalue,
    parse_correlation,
};

/// A group: name, β (risk-on), δ (dollar weakness: a currency's value
/// against USD rising), a (own group factor), members.
type Group = (&'static str, f64, f64, f64, &'static [&'static str]);

#[rustfmt::skip]
pub(crate) const GROUPS: &[Group] = &[
    ("equity, Americas and Europe", 0.85, 0.00, 0.35,
        &["Equity", "United Kingdom Equity", "European Equity"]),
    ("equity, Asia-Pacific", 0.65, 0.00, 0.45,
        &["Australia Equity", "Hong Kong Equity", "Japanese Equity", "Korean Equity",
          "Mainland China Equity", "Indian Equity"]),
    ("equity volatility", -0.80, 0.00, 0.00, &[DEFAULT_EQUITY_VOL_NAME]),
    ("crude oil", 0.40, 0.10, 0.88, &["Oil (Crude Oil)", "Oil (Brent Oil)", "Oil"]),
    ("natural gas", 0.20, 0.00, 0.00, &["Gas", "Natural Gas"]),
    ("carbon", 0.30, 0.00, 0.00, &["CO2"]),
    ("government bonds", -0.30, 0.00, 0.60,
        &["Treasury", "Treasury1", "Treasury2", "Italian Govt Bond", "BAX", "EuroBund", "JGB"]),
    ("industrial metals", 0.55, 0.15, 0.00, &["Ind. Metals", "Industrial Metals"]),
    ("precious metals", 0.10, 0.35, 0.85, &["Prec. Metals", "Silver", "Precious Metals"]),
    ("grains", 0.20, 0.10, 0.70, &["Wheat", "Corn", "Soybean", "Rice"]),
    ("livestock", 0.15, 0.00, 0.75, &["Live Cattle", "Feeder Cattle", "Hogs", "Meat"]),
    ("softs", 0.20, 0.10, 0.40, &["Cocoa", "Sugar", "Cotton", "Coffee", "Orange Juice"]),
    ("lumber", 0.30, 0.00, 0.00, &["Lumber"]),
    ("dairy", 0.10, 0.00, 0.00, &["Milk"]),
    ("crypto", 0.50, 0.00, 0.00, &["Crypto"]),
    ("FX: euro and euro-pegged", 0.10, 0.70, 0.69,
        &["EUR", "DKK", "BGN", "HRK", "CYP", "EEK", "LTL", "LVL", "MTL", "SIT", "SKK"]),
    ("FX: other Europe", 0.20, 0.60, 0.35, &["GBP", "SEK", "NOK", "ISK"]),
    ("FX: safe havens", -0.35, 0.55, 0.50, &["JPY", "CHF"]),
    ("FX: central Europe", 0.30, 0.60, 0.45, &["CZK", "HUF", "PLN", "RON"]),
    ("FX: commodity", 0.50, 0.50, 0.35, &["AUD", "NZD", "CAD", "ZAR", "BRL", "MXN"]),
    ("FX: renminbi", 0.25, 0.40, 0.85, &["CNY", "CNH"]),
    ("FX: Asia", 0.30, 0.45, 0.45, &["KRW", "TWD", "SGD", "INR"]),
    ("FX: Hong Kong dollar (pegged to USD)", 0.00, 0.10, 0.00, &["HKD"]),
    ("FX: Israeli shekel", 0.25, 0.40, 0.00, &["ILS"]),
    ("FX: stressed emerging", 0.35, 0.30, 0.30, &["RUB", "TRY"]),
    ("FX: US dollar (against a non-USD base)", -0.20, -0.95, 0.00, &["USD"]),
];

fn group_of(name: &str) -> &'static Group {
    GROUPS
        .iter()
        .find(|g| g.4.contains(&name))
        .unwrap_or_else(|| panic!("{name} has no group in the illustrative rule"))
}

/// The rule's matrix over `names`, rounded to 4 decimals.
pub(crate) fn illustrative_matrix(names: &[String]) -> DMatrix<f64> {
    let groups: Vec<&Group> = names.iter().map(|n| group_of(n)).collect();
    DMatrix::from_fn(names.len(), names.len(), |i, j| {
        if i == j {
            return 1.0;
        }
        let (gi, gj) = (groups[i], groups[j]);
        let mut rho = gi.1 * gj.1 + gi.2 * gj.2;
        if std::ptr::eq(gi, gj) {
            rho += gi.3 * gi.3;
        }
        let rounded = (rho * 1e4).round() / 1e4;
        if rounded == 0.0 { 0.0 } else { rounded }
    })
}

fn to_csv(names: &[String], matrix: &DMatrix<f64>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = std::iter::once("")
        .chain(names.iter().map(String::as_str))
        .collect();
    writer.write_record(&header).unwrap();
    for (i, name) in names.iter().enumerate() {
        let row: Vec<String> = std::iter::once(name.clone())
            .chain((0..names.len()).map(|j| format!("{:.4}", matrix[(i, j)])))
            .collect();
        writer.write_record(&row).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

/// A minimal reader of the shipped factor and FX tables (the real one is
/// `exfee_io::parse_factor_table`, which this crate cannot depend on).
pub(crate) fn load_tables(factors: &str, fx: &str) -> (FactorTable, FxTable) {
    let pct = |s: &str| s.trim().parse::<Decimal>().unwrap();
    let mut reader = csv::Reader::from_reader(factors.as_bytes());
    let rows = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            PrimaryFactor {
                name: r[0].to_string(),
                representative: r[1].to_string(),
                symbol: r[2].to_string(),
                bounds: Bounds::new(&r[0], pct(&r[3]), pct(&r[4])).unwrap(),
            }
        })
        .collect();
    let mut reader = csv::Reader::from_reader(fx.as_bytes());
    let currencies = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            FxFactor {
                currency: r[0].parse::<Currency>().unwrap(),
                bounds: Bounds::new(&r[0], pct(&r[1]), pct(&r[2])).unwrap(),
            }
        })
        .collect();
    (
        FactorTable::new(rows).unwrap(),
        FxTable::new(currencies).unwrap(),
    )
}

pub(crate) const DEFAULT_TOML: &str = include_str!("../../../scenarios/default.toml");
pub(crate) const LEGACY_TOML: &str = include_str!("../../../scenarios/legacy.toml");
const CURRENT_FACTORS: &str = include_str!("../../../scenarios/risk-factors-current.csv");
const CURRENT_FX: &str = include_str!("../../../scenarios/fx-factors-current.csv");
const LEGACY_FACTORS: &str = include_str!("../../../scenarios/risk-factors-legacy.csv");
const LEGACY_FX: &str = include_str!("../../../scenarios/fx-factors-legacy.csv");
const DEFAULT_CORRELATION: &str = include_str!("../../../scenarios/correlation-default.csv");
const LEGACY_CORRELATION: &str = include_str!("../../../scenarios/correlation-legacy.csv");

/// (config name, config, factors, fx, correlation file name, correlation).
pub(crate) const SHIPPED: [(&str, &str, &str, &str, &str, &str); 2] = [
    (
        "default.toml",
        DEFAULT_TOML,
        CURRENT_FACTORS,
        CURRENT_FX,
        "correlation-default.csv",
        DEFAULT_CORRELATION,
    ),
    (
        "legacy.toml",
        LEGACY_TOML,
        LEGACY_FACTORS,
        LEGACY_FX,
        "correlation-legacy.csv",
        LEGACY_CORRELATION,
    ),
];

fn variable_names(tables: &(FactorTable, FxTable), vol: &str) -> Vec<String> {
    tables
        .0
        .factors()
        .iter()
        .map(|f| f.name.clone())
        .chain(tables.1.currencies().iter().map(|c| c.currency.to_string()))
        .chain(std::iter::once(vol.to_string()))
        .collect()
}

/// The shipped set `which` (0 default, 1 legacy), parsed and validated.
pub(crate) fn shipped_spec(which: usize) -> ScenarioSpec {
    let (name, toml, factors, fx, corr_name, corr) = SHIPPED[which];
    let config = ScenarioConfig::parse(name, toml).unwrap();
    let (factor_table, fx_table) = load_tables(factors, fx);
    let matrix = parse_correlation(corr_name, corr.as_bytes()).unwrap();
    ScenarioSpec::new(config, factor_table, fx_table, matrix).unwrap()
}

#[test]
fn shipped_configs_parse_and_validate() {
    for (which, (name, _, _, fx, corr_name, _)) in SHIPPED.iter().enumerate() {
        let spec = shipped_spec(which);
        let config = spec.config();
        let table_name = if which == 0 { "current" } else { "legacy" };
        assert_eq!(
            config.factor_table,
            format!("risk-factors-{table_name}.csv"),
            "{name}"
        );
        assert_eq!(config.fx_table, format!("fx-factors-{table_name}.csv"));
        assert_eq!(config.correlation, *corr_name);
        assert!(
            spec.repair().is_none(),
            "{name}: shipped matrix needs repair"
        );
        assert_eq!(
            spec.variable_names().len(),
            spec.factor_table().factors().len() + fx.lines().count() - 1 + 1
        );
        // Equity and equity volatility strongly negatively correlated.
        let rho = spec
            .correlation()
            .get("Equity", &config.equity_vol.name)
            .unwrap();
        assert!((-0.8..=-0.6).contains(&rho), "{name}: {rho}");
    }
}

/// `scenarios/default-v2.toml` is `default.toml` with `draw_version = 2`:
/// the same lines after its own header, but the key (and its comment).
#[test]
fn default_v2_is_default_with_draw_version_2() {
    let v2 = include_str!("../../../scenarios/default-v2.toml");
    let body = |text: &'static str| -> Vec<&'static str> {
        text.lines()
            .skip_while(|l| l.starts_with('#'))
            .filter(|l| !l.contains("draw_version") && !l.starts_with("# Draw version"))
            .collect()
    };
    assert_eq!(body(v2), body(DEFAULT_TOML));
    let one = ScenarioConfig::parse("default.toml", DEFAULT_TOML).unwrap();
    let two = ScenarioConfig::parse("default-v2.toml", v2).unwrap();
    assert_eq!(one.draw_version, crate::DrawVersion::V1);
    assert_eq!(two.draw_version, crate::DrawVersion::V2);
    assert_eq!(
        ScenarioConfig {
            draw_version: crate::DrawVersion::V1,
            ..two
        },
        one
    );
}

#[test]
fn shipped_matrices_follow_the_documented_rule() {
    for (which, (_, _, factors, fx, corr_name, corr)) in SHIPPED.iter().enumerate() {
        let spec = shipped_spec(which);
        let names = variable_names(&load_tables(factors, fx), &spec.config().equity_vol.name);
        let expected = to_csv(&names, &illustrative_matrix(&names));
        assert_eq!(
            corr.replace("\r\n", "\n"),
            expected,
            "{corr_name} differs from the rule; rewrite it with --ignored write_illustrative_matrices"
        );
        // Positive definite with a margin well above the 4-decimal rounding
        // (at most n·0.5e-4 in the spectral norm).
        let smallest = min_eigenvalue(spec.correlation().matrix()).unwrap();
        assert!(smallest > 0.01, "{corr_name}: {smallest}");
    }
}

#[test]
fn rule_groups_are_valid_loadings() {
    for &(name, beta, delta, a, members) in GROUPS {
        let total = beta * beta + delta * delta + a * a;
        if members.len() > 1 {
            assert!(total < 1.0, "{name}: {total}");
        } else {
            assert!(beta * beta + delta * delta <= 1.0, "{name}");
        }
    }
}

#[test]
#[ignore = "writes scenarios/correlation-*.csv from the rule"]
fn write_illustrative_matrices() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/");
    for (which, (_, toml, factors, fx, corr_name, _)) in SHIPPED.iter().enumerate() {
        let _ = which;
        let config = ScenarioConfig::parse("config", toml).unwrap();
        let names = variable_names(&load_tables(factors, fx), &config.equity_vol.name);
        let text = to_csv(&names, &illustrative_matrix(&names));
        std::fs::write(format!("{dir}{corr_name}"), text).unwrap();
    }
}
