//! The Monte Carlo generator: keyed, seekable draws of every variable of a
//! scenario and of every single stock's own move.

use std::f64::consts::SQRT_2;
use std::ops::Range;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::erf::erfc;

use crate::as241::normal_quantiles_v2;
use crate::chacha::own_probabilities;
use crate::correlation::Factor;
use crate::quantile::{normal_quantile, normal_quantiles};
use crate::{Copula, DrawVersion, Marginal, ScenarioError, ScenarioSpec, SingleStock};

/// Domain tag of the factor draws' ChaCha20 key (bytes 8..16).
const FACTOR_DOMAIN: [u8; 8] = *b"FACTORS\0";
/// Domain tag of the single stocks' own draws' ChaCha20 key (bytes 8..16).
const IDIO_DOMAIN: [u8; 8] = *b"IDIOSYN\0";
/// Own draws made in one piece (a multiple of 128, ChaCha20's widest pass):
/// 4 KiB of f64s.
const OWN_PIECE: usize = 512;

/// FNV-1a, 64 bits, over the UTF-8 bytes of `text`: a fixed, documented
/// hash (unlike `std`'s `DefaultHasher`, which may change between releases).
pub(crate) fn fnv1a64(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in text.as_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The 32-byte ChaCha20 key: seed (little-endian) | domain tag | symbol hash
/// (little-endian; 0 for the factor draws) | 8 zero bytes.
fn key(seed: u64, domain: [u8; 8], symbol_hash: u64) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&domain);
    key[16..24].copy_from_slice(&symbol_hash.to_le_bytes());
    key
}

/// Φ(z).
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / SQRT_2)
}

/// The copula's state.
#[derive(Debug, Clone)]
enum CopulaDraw {
    Gaussian,
    StudentT {
        nu: f64,
        chi: ChiSquared<f64>,
        t: StudentsT,
    },
}

/// Everything needed to draw any Monte Carlo scenario on its own.
#[derive(Debug, Clone)]
pub(crate) struct Draws {
    count: usize,
    dims: usize,
    factor_key: [u8; 32],
    factor: Factor,
    copula: CopulaDraw,
    marginal: Marginal,
    lower: Vec<f64>,
    upper: Vec<f64>,
    stock_keys: Vec<[u8; 32]>,
    stock_scales: Vec<f64>,
    stock_lower: f64,
    stock_upper: f64,
    idio_z_at_bound: f64,
    version: DrawVersion,
}

impl Draws {
    /// `stocks` must already be sorted and de-duplicated.
    pub fn new(spec: &ScenarioSpec, stocks: &[SingleStock]) -> Result<Self, ScenarioError> {
        let config = spec.config();
        let seed = config.seed;
        let copula = match config.copula {
            Copula::Gaussian => CopulaDraw::Gaussian,
            Copula::StudentT { nu } => {
                let invalid = || crate::ConfigError::Invalid {
                    file: "scenario configuration".into(),
                    key: "copula.nu",
                    value: nu.to_string(),
                    rule: "degrees of freedom must be finite and at least 1",
                };
                CopulaDraw::StudentT {
                    nu,
                    chi: ChiSquared::new(nu).map_err(|_| invalid())?,
                    t: StudentsT::new(0.0, 1.0, nu).map_err(|_| invalid())?,
                }
            }
        };
        let mut lower = Vec::new();
        let mut upper = Vec::new();
        let bounds = spec
            .factor_table()
            .factors()
            .iter()
            .map(|f| f.bounds)
            .chain(spec.fx_table().currencies().iter().map(|c| c.bounds))
            .chain(std::iter::once(spec.equity_vol_bounds()));
        for b in bounds {
            lower.push(b.lower());
            upper.push(b.upper());
        }
        let reference = config.single_stock.default_idio_vol;
        let mut stock_keys = Vec::with_capacity(stocks.len());
        let mut stock_scales = Vec::with_capacity(stocks.len());
        for stock in stocks {
            if !(stock.idio_vol.is_finite() && stock.idio_vol >= 0.0) {
                return Err(ScenarioError::BadIdioVol {
                    symbol: stock.symbol.clone(),
                    vol: stock.idio_vol,
                });
            }
            stock_keys.push(key(seed, IDIO_DOMAIN, fnv1a64(&stock.symbol)));
            stock_scales.push(stock.idio_vol / reference);
        }
        let single = spec.factor_table().single_stock_bounds();
        Ok(Draws {
            count: config.scenarios,
            dims: lower.len(),
            factor_key: key(seed, FACTOR_DOMAIN, 0),
            factor: spec.factor().clone(),
            copula,
            marginal: config.marginal,
            lower,
            upper,
            stock_keys,
            stock_scales,
            stock_lower: single.lower(),
            stock_upper: single.upper(),
            idio_z_at_bound: config.single_stock.idio_z_at_bound,
            version: config.draw_version,
        })
    }

    /// Number of draws.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Number of variables of a draw (factors, currencies, equity vol).
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The standard normal scores z' of draw `index` into `out` (length
    /// `dims`), using `z` (length `dims`) as scratch.
    ///
    /// ChaCha20 keyed by (seed, "FACTORS"), stream = `index`, from word 0:
    /// `dims` standard normals z, then (Student-t) one χ²(ν) draw W.
    pub fn normal_scores(&self, index: usize, z: &mut [f64], out: &mut [f64]) {
        let mut rng = ChaCha20Rng::from_seed(self.factor_key);
        rng.set_stream(index as u64);
        for value in z.iter_mut() {
            *value = StandardNormal.sample(&mut rng);
        }
        let k = self.dims;
        let f = &self.factor.values;
        for (row, x) in out.iter_mut().enumerate() {
            let end = if self.factor.lower_triangular {
                row + 1
            } else {
                k
            };
            *x = f[row * k..row * k + end]
                .iter()
                .zip(&z[..end])
                .map(|(a, b)| a * b)
                .sum();
        }
        if let CopulaDraw::StudentT { nu, chi, t } = &self.copula {
            let w: f64 = chi.sample(&mut rng);
            let scale = (nu / w).sqrt();
            for x in out.iter_mut() {
                *x = t_to_normal(*x * scale, t);
            }
        }
    }

    /// The moves of draw `index` (variable order) into `out`.
    pub fn moves(&self, index: usize, z: &mut [f64], out: &mut [f64]) {
        self.normal_scores(index, z, out);
        for ((x, &lo), &hi) in out.iter_mut().zip(&self.lower).zip(&self.upper) {
            *x = marginal_move(self.marginal, *x, lo, hi);
        }
    }

    /// The standard normal scores of single stock `stock`'s own draws for
    /// scenarios `range` (all < `count`), into `out`.
    ///
    /// ChaCha20 keyed by (seed, "IDIOSYN", FNV-1a(symbol)), stream 0: the
    /// scenario-i score is Φ⁻¹ of the i-th 64-bit output (words 2i, 2i+1)
    /// mapped to ((x >> 11) + ½)·2⁻⁵³ ∈ (0, 1); Φ⁻¹ is statrs' in draw
    /// version 1, AS 241's (`as241`) in version 2.
    pub fn idio_scores(&self, stock: usize, range: Range<usize>, out: &mut [f64]) {
        self.idio_pieces(stock, range, out, |_| {});
    }

    /// Single stock `stock`'s own moves for scenarios `range` into `out`:
    /// t = clamp(z·(σ/σ_ref)/z_idio, −1, 1); move = t·upper for t ≥ 0,
    /// t·|lower| for t < 0 (the single-stock bounds).
    pub fn idio_moves(&self, stock: usize, range: Range<usize>, out: &mut [f64]) {
        let scale = self.stock_scales[stock] / self.idio_z_at_bound;
        let (lower, upper) = (self.stock_lower, self.stock_upper);
        self.idio_pieces(stock, range, out, |piece| {
            crate::lanes::map(piece, |z| tail_move(z * scale, lower, upper));
        });
    }

    /// [`Draws::idio_scores`] piece by piece, `then` applied to each piece
    /// of scores: the probabilities, their Φ⁻¹ and `then` of at most
    /// [`OWN_PIECE`] draws stay in the L1 cache between the passes (the
    /// whole range is several times its size). Every value is computed on
    /// its own, so the pieces change no bit.
    fn idio_pieces(
        &self,
        stock: usize,
        range: Range<usize>,
        out: &mut [f64],
        mut then: impl FnMut(&mut [f64]),
    ) {
        let len = range.len().min(out.len());
        let out = &mut out[..len];
        let key = &self.stock_keys[stock];
        let mut done = 0;
        while done < len {
            // Pieces end at multiples of OWN_PIECE draws, so ChaCha20's
            // passes (8 or 16 blocks of 8 draws) are never split.
            let first = range.start + done;
            let end = ((first / OWN_PIECE + 1) * OWN_PIECE).min(range.start + len);
            let piece = &mut out[done..done + (end - first)];
            // rand_chacha's words, 16 (AVX-512) or 8 blocks at a time (see
            // `chacha`).
            own_probabilities(key, first, piece);
            match self.version {
                // Φ⁻¹ of all of them at once, bit for bit statrs' (see
                // `quantile`).
                DrawVersion::V1 => normal_quantiles(piece),
                // AS 241, the same bits in every lane (see `as241`).
                DrawVersion::V2 => normal_quantiles_v2(piece),
            }
            then(piece);
            done += piece.len();
        }
    }
}

/// z' = Φ⁻¹(F_ν(x)), through the lower tail on either side so neither tail
/// loses precision.
fn t_to_normal(x: f64, t: &StudentsT) -> f64 {
    if x.is_nan() {
        return 0.0;
    }
    if x <= 0.0 {
        normal_quantile(t.cdf(x))
    } else {
        -normal_quantile(t.sf(x))
    }
}

/// A score already divided by its z at the bound → a move.
fn tail_move(scaled: f64, lower: f64, upper: f64) -> f64 {
    let t = if scaled.is_nan() {
        0.0
    } else {
        scaled.clamp(-1.0, 1.0)
    };
    let m = if t >= 0.0 { upper * t } else { -lower * t };
    m.clamp(lower, upper)
}

/// The marginal mapping of a standard normal score into [lower, upper].
pub(crate) fn marginal_move(marginal: Marginal, z: f64, lower: f64, upper: f64) -> f64 {
    match marginal {
        Marginal::Tail { z_at_bound } => tail_move(z / z_at_bound, lower, upper),
        Marginal::Uniform => {
            let u = if z.is_nan() { 0.5 } else { normal_cdf(z) };
            (lower + u * (upper - lower)).clamp(lower, upper)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn marginal_maps() {
        let tail = Marginal::Tail { z_at_bound: 3.0 };
        assert_eq!(marginal_move(tail, 0.0, -0.3, 0.2), 0.0);
        assert!((marginal_move(tail, 1.5, -0.3, 0.2) - 0.1).abs() < 1e-15);
        assert!((marginal_move(tail, -1.5, -0.3, 0.2) + 0.15).abs() < 1e-15);
        assert_eq!(marginal_move(tail, 3.0, -0.3, 0.2), 0.2);
        assert_eq!(marginal_move(tail, 7.0, -0.3, 0.2), 0.2);
        assert_eq!(marginal_move(tail, f64::NEG_INFINITY, -0.3, 0.2), -0.3);
        assert_eq!(marginal_move(tail, f64::INFINITY, -0.3, 0.0), 0.0);
        assert_eq!(marginal_move(tail, f64::NAN, -0.3, 0.2), 0.0);
        let uniform = Marginal::Uniform;
        assert!((marginal_move(uniform, 0.0, -0.3, 0.2) + 0.05).abs() < 1e-15);
        assert_eq!(marginal_move(uniform, f64::INFINITY, -0.3, 0.2), 0.2);
        assert_eq!(marginal_move(uniform, f64::NEG_INFINITY, -0.3, 0.2), -0.3);
    }

    #[test]
    fn t_scores_are_symmetric_and_total() {
        let t = StudentsT::new(0.0, 1.0, 4.0).unwrap();
        for x in [0.1, 1.0, 2.5, 10.0, 1e6] {
            assert_eq!(t_to_normal(x, &t), -t_to_normal(-x, &t));
        }
        // F_4(2.132) ≈ 0.95 → Φ⁻¹ ≈ 1.645.
        assert!((t_to_normal(2.131_846_786, &t) - 1.644_853_627).abs() < 1e-6);
        assert_eq!(t_to_normal(f64::INFINITY, &t), f64::INFINITY);
        assert_eq!(t_to_normal(f64::NAN, &t), 0.0);
        assert_eq!(normal_quantile(0.5), 0.0);
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-8);
    }
}
