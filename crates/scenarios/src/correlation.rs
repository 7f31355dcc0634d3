//! Correlation matrices: reading, validating, factoring and repairing them.

use std::collections::BTreeSet;
use std::io::Read;

use nalgebra::{DMatrix, SymmetricEigen};

/// Largest |a_ij − a_ji| accepted as symmetric, and largest |a_ii − 1|
/// accepted as a unit diagonal.
pub const SYMMETRY_TOLERANCE: f64 = 1e-12;

/// Smallest eigenvalue still taken as zero when testing positive
/// semi-definiteness: a matrix whose smallest eigenvalue is ≥ −this value is
/// accepted as it is (it is PSD up to rounding).
pub const PSD_TOLERANCE: f64 = 1e-10;

/// Why a correlation matrix is not usable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CorrelationError {
    /// The CSV text cannot be read as CSV.
    #[error("{file}: line {line}: {message}")]
    Csv {
        /// The source, as named by the caller.
        file: String,
        /// Line number (1-based) when known, else 0.
        line: u64,
        /// What the CSV reader said.
        message: String,
    },
    /// No header line, or a header with no name.
    #[error(
        "{file}: no header; the first line must be an empty cell followed by the variable names"
    )]
    NoHeader {
        /// The source.
        file: String,
    },
    /// The first cell of the header is not empty.
    #[error(
        "{file}: the header's first cell must be empty (it heads the column of row names), found {found:?}"
    )]
    HeaderFirstCell {
        /// The source.
        file: String,
        /// What the first cell held.
        found: String,
    },
    /// A name is empty.
    #[error("{file}: variable {index} (1-based) has an empty name")]
    EmptyName {
        /// The source.
        file: String,
        /// 1-based position of the name.
        index: usize,
    },
    /// A name appears twice.
    #[error("{file}: {name:?} appears twice")]
    DuplicateName {
        /// The source.
        file: String,
        /// The name.
        name: String,
    },
    /// The matrix is not square or a row has the wrong number of cells.
    #[error("{file}: {message}")]
    Shape {
        /// The source.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A row's name differs from the header's name at that position.
    #[error(
        "{file}: line {line}: row {row} is named {found:?}, but the header names {expected:?} there (rows must follow the header's order)"
    )]
    RowName {
        /// The source.
        file: String,
        /// CSV line.
        line: u64,
        /// 1-based row number.
        row: usize,
        /// Name found in the first cell.
        found: String,
        /// Name expected from the header.
        expected: String,
    },
    /// A cell is not a number.
    #[error("{file}: row {row:?}, column {column:?}: {text:?} is not a number")]
    BadNumber {
        /// The source.
        file: String,
        /// Row name.
        row: String,
        /// Column name.
        column: String,
        /// The cell's text.
        text: String,
    },
    /// A value is NaN or infinite.
    #[error("{file}: row {row:?}, column {column:?}: {value} is not finite")]
    NotFinite {
        /// The source.
        file: String,
        /// Row name.
        row: String,
        /// Column name.
        column: String,
        /// The value.
        value: f64,
    },
    /// A value lies outside [−1, 1].
    #[error("{file}: row {row:?}, column {column:?}: {value} is outside [-1, 1]")]
    OutOfRange {
        /// The source.
        file: String,
        /// Row name.
        row: String,
        /// Column name.
        column: String,
        /// The value.
        value: f64,
    },
    /// A diagonal entry is not 1.
    #[error("{file}: the diagonal entry of {name:?} is {value}, not 1")]
    Diagonal {
        /// The source.
        file: String,
        /// The variable.
        name: String,
        /// The value found.
        value: f64,
    },
    /// a_ij ≠ a_ji.
    #[error(
        "{file}: not symmetric: row {row:?}, column {column:?} holds {value} but row {column:?}, column {row:?} holds {mirror}"
    )]
    Asymmetric {
        /// The source.
        file: String,
        /// Row name.
        row: String,
        /// Column name.
        column: String,
        /// a_ij.
        value: f64,
        /// a_ji.
        mirror: f64,
    },
    /// The matrix has a negative eigenvalue (no joint distribution has these
    /// correlations).
    #[error(
        "{file}: not positive semi-definite (smallest eigenvalue {min_eigenvalue:.6e}): no set of variables has these correlations; fix the matrix or set repair_correlation = true to use the nearest correlation matrix (Higham 2002)"
    )]
    NotPositiveSemidefinite {
        /// The source.
        file: String,
        /// The smallest eigenvalue.
        min_eigenvalue: f64,
    },
}

/// A validated correlation matrix over named variables: square, symmetric,
/// unit diagonal, finite entries in [−1, 1]. Positive semi-definiteness is
/// checked where the matrix is used ([`ScenarioSpec`](crate::ScenarioSpec)),
/// since it may be repaired there.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationMatrix {
    source: String,
    names: Vec<String>,
    matrix: DMatrix<f64>,
}

impl CorrelationMatrix {
    /// Builds a matrix from names and values; `source` names it in errors.
    /// Entries within [`SYMMETRY_TOLERANCE`] of symmetric are averaged with
    /// their mirror so the stored matrix is exactly symmetric.
    ///
    /// # Errors
    ///
    /// [`CorrelationError`] naming the row and column of the first entry that
    /// is not finite, is outside [−1, 1], breaks symmetry or a unit diagonal;
    /// or a duplicate or empty name, or a shape that does not match the names.
    ///
    /// # Examples
    ///
    /// ```
    /// use exfee_scenarios::CorrelationMatrix;
    /// use nalgebra::DMatrix;
    ///
    /// let m = DMatrix::from_row_slice(2, 2, &[1.0, -0.7, -0.7, 1.0]);
    /// let c = CorrelationMatrix::new("example", vec!["Equity".into(), "Equity Volatility".into()], m)
    ///     .unwrap();
    /// assert_eq!(c.get("Equity", "Equity Volatility"), Some(-0.7));
    /// let bad = DMatrix::from_row_slice(2, 2, &[1.0, 0.5, 0.4, 1.0]);
    /// assert!(CorrelationMatrix::new("example", vec!["A".into(), "B".into()], bad).is_err());
    /// ```
    pub fn new(
        source: &str,
        names: Vec<String>,
        mut matrix: DMatrix<f64>,
    ) -> Result<Self, CorrelationError> {
        let file = || source.to_string();
        let n = names.len();
        if matrix.nrows() != n || matrix.ncols() != n {
            return Err(CorrelationError::Shape {
                file: file(),
                message: format!(
                    "{} names but a {}x{} matrix",
                    n,
                    matrix.nrows(),
                    matrix.ncols()
                ),
            });
        }
        let mut seen = BTreeSet::new();
        for (index, name) in names.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(CorrelationError::EmptyName {
                    file: file(),
                    index: index + 1,
                });
            }
            if !seen.insert(name.as_str()) {
                return Err(CorrelationError::DuplicateName {
                    file: file(),
                    name: name.clone(),
                });
            }
        }
        for i in 0..n {
            for j in 0..n {
                let value = matrix[(i, j)];
                let (row, column) = (names[i].clone(), names[j].clone());
                if !value.is_finite() {
                    return Err(CorrelationError::NotFinite {
                        file: file(),
                        row,
                        column,
                        value,
                    });
                }
                if !(-1.0..=1.0).contains(&value) {
                    return Err(CorrelationError::OutOfRange {
                        file: file(),
                        row,
                        column,
                        value,
                    });
                }
            }
        }
        for i in 0..n {
            let value = matrix[(i, i)];
            if (value - 1.0).abs() > SYMMETRY_TOLERANCE {
                return Err(CorrelationError::Diagonal {
                    file: file(),
                    name: names[i].clone(),
                    value,
                });
            }
            matrix[(i, i)] = 1.0;
            for j in 0..i {
                let (value, mirror) = (matrix[(i, j)], matrix[(j, i)]);
                if (value - mirror).abs() > SYMMETRY_TOLERANCE {
                    return Err(CorrelationError::Asymmetric {
                        file: file(),
                        row: names[i].clone(),
                        column: names[j].clone(),
                        value,
                        mirror,
                    });
                }
                let mean = 0.5 * (value + mirror);
                matrix[(i, j)] = mean;
                matrix[(j, i)] = mean;
            }
        }
        Ok(CorrelationMatrix {
            source: source.to_string(),
            names,
            matrix,
        })
    }

    /// How the matrix is named in errors (usually its file name).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variable names, in matrix order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The matrix.
    pub fn matrix(&self) -> &DMatrix<f64> {
        &self.matrix
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the matrix has no variable.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Position of a variable.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// The correlation of two variables, by name.
    pub fn get(&self, row: &str, column: &str) -> Option<f64> {
        Some(self.matrix[(self.index_of(row)?, self.index_of(column)?)])
    }

    /// The smallest eigenvalue (negative when the matrix is not positive
    /// semi-definite). `None` for an empty matrix.
    pub fn min_eigenvalue(&self) -> Option<f64> {
        min_eigenvalue(&self.matrix)
    }
}

pub(crate) fn min_eigenvalue(matrix: &DMatrix<f64>) -> Option<f64> {
    if matrix.is_empty() {
        return None;
    }
    SymmetricEigen::new(matrix.clone())
        .eigenvalues
        .iter()
        .copied()
        .reduce(f64::min)
}

/// Reads a correlation matrix from CSV text: a header line with an empty
/// first cell and then the variable names; then one row per variable, its
/// name first, in the header's order, then its correlations. Cells are
/// trimmed; blank lines are skipped. `source` names the text in errors.
///
/// # Errors
///
/// [`CorrelationError`] for malformed CSV, a shape that is not square, row
/// names out of the header's order, a cell that is not a number, and every
/// rule of [`CorrelationMatrix::new`].
///
/// # Examples
///
/// ```
/// let csv = ",Equity,EUR\nEquity,1,0.2\nEUR,0.2,1\n";
/// let c = exfee_scenarios::parse_correlation("correlation.csv", csv.as_bytes()).unwrap();
/// assert_eq!(c.names(), ["Equity", "EUR"]);
/// assert_eq!(c.get("EUR", "Equity"), Some(0.2));
///
/// let err = exfee_scenarios::parse_correlation("c.csv", ",A,B\nA,1,x\nB,0,1\n".as_bytes())
///     .unwrap_err();
/// assert!(err.to_string().contains("row \"A\", column \"B\""));
/// ```
pub fn parse_correlation(
    source: &str,
    reader: impl Read,
) -> Result<CorrelationMatrix, CorrelationError> {
    let file = || source.to_string();
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut records = csv.records();
    let csv_error = |e: csv::Error| CorrelationError::Csv {
        file: file(),
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };
    let header = match records.next() {
        Some(record) => record.map_err(csv_error)?,
        None => return Err(CorrelationError::NoHeader { file: file() }),
    };
    let mut header = header.iter();
    match header.next() {
        Some("") => {}
        Some(found) => {
            return Err(CorrelationError::HeaderFirstCell {
                file: file(),
                found: found.to_string(),
            });
        }
        None => return Err(CorrelationError::NoHeader { file: file() }),
    }
    let names: Vec<String> = header.map(str::to_string).collect();
    if names.is_empty() {
        return Err(CorrelationError::NoHeader { file: file() });
    }
    let n = names.len();
    // Filled row by row as read, so memory follows the input: a header of
    // many names alone never allocates an n × n matrix.
    let mut values: Vec<f64> = Vec::new();
    let mut rows = 0;
    for record in records {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows == n {
            return Err(CorrelationError::Shape {
                file: file(),
                message: format!(
                    "line {line}: more rows than the {n} names of the header (a correlation matrix is square)"
                ),
            });
        }
        if record.len() != n + 1 {
            return Err(CorrelationError::Shape {
                file: file(),
                message: format!(
                    "line {line}: {} cells, expected {} (the row name and {n} values)",
                    record.len(),
                    n + 1
                ),
            });
        }
        let found = record.get(0).unwrap_or_default();
        if found != names[rows] {
            return Err(CorrelationError::RowName {
                file: file(),
                line,
                row: rows + 1,
                found: found.to_string(),
                expected: names[rows].clone(),
            });
        }
        for (column, text) in record.iter().skip(1).enumerate() {
            values.push(
                exfee_model::is_plain_decimal(text)
                    .then(|| text.parse::<f64>().ok())
                    .flatten()
                    .ok_or_else(|| CorrelationError::BadNumber {
                        file: file(),
                        row: names[rows].clone(),
                        column: names[column].clone(),
                        text: text.to_string(),
                    })?,
            );
        }
        rows += 1;
    }
    if rows != n {
        return Err(CorrelationError::Shape {
            file: file(),
            message: format!(
                "{rows} rows for the {n} names of the header (a correlation matrix is square)"
            ),
        });
    }
    let matrix = DMatrix::from_row_slice(n, n, &values);
    CorrelationMatrix::new(source, names, matrix)
}

/// The result of [`nearest_correlation`].
#[derive(Debug, Clone, PartialEq)]
pub struct NearestCorrelation {
    /// The nearest correlation matrix found (unit diagonal, symmetric,
    /// positive semi-definite up to rounding).
    pub matrix: DMatrix<f64>,
    /// Frobenius norm of the change, ‖result − input‖_F.
    pub frobenius_change: f64,
    /// Iterations run.
    pub iterations: usize,
    /// Whether the iteration met its tolerance before the iteration limit.
    pub converged: bool,
}

/// Relative tolerance of [`nearest_correlation`]'s stopping rule.
pub const NEAREST_TOLERANCE: f64 = 1e-12;

/// Iteration limit of [`nearest_correlation`].
pub const NEAREST_MAX_ITERATIONS: usize = 10_000;

/// The nearest correlation matrix (in the Frobenius norm) to a symmetric
/// matrix, by Higham's alternating projections with Dykstra's correction
/// (N. J. Higham, "Computing the nearest correlation matrix — a problem from
/// finance", IMA J. Numer. Anal. 22 (2002) 329–343; unweighted form):
///
/// ```text
/// ΔS₀ = 0, Y₀ = A
/// for k = 1, 2, …
///     R_k  = Y_{k−1} − ΔS_{k−1}
///     X_k  = P_S(R_k)        (eigenvalues clipped at 0: nearest PSD matrix)
///     ΔS_k = X_k − R_k       (Dykstra's correction)
///     Y_k  = P_U(X_k)        (diagonal set to 1)
/// ```
///
/// until the relative changes of X and Y and the relative gap ‖Y − X‖ are
/// all at most [`NEAREST_TOLERANCE`], or [`NEAREST_MAX_ITERATIONS`].
/// The input is symmetrised first.
///
/// # Examples
///
/// Higham's 3×3 example:
///
/// ```
/// use nalgebra::DMatrix;
/// let a = DMatrix::from_row_slice(3, 3, &[1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
/// let near = exfee_scenarios::nearest_correlation(&a);
/// assert!((near.matrix[(0, 1)] - 0.7607).abs() < 1e-4);
/// assert!((near.matrix[(0, 2)] - 0.1573).abs() < 1e-4);
/// ```
pub fn nearest_correlation(a: &DMatrix<f64>) -> NearestCorrelation {
    let n = a.nrows().min(a.ncols());
    let a: DMatrix<f64> = a.view((0, 0), (n, n)).into_owned();
    let a = (&a + a.transpose()) * 0.5;
    let mut y = a.clone();
    let mut x = a.clone();
    let mut correction = DMatrix::<f64>::zeros(n, n);
    let mut iterations = 0;
    let mut converged = n == 0;
    while !converged && iterations < NEAREST_MAX_ITERATIONS {
        iterations += 1;
        let r = &y - &correction;
        let x_next = project_psd(&r);
        correction = &x_next - &r;
        let mut y_next = x_next.clone();
        y_next.fill_diagonal(1.0);
        let y_norm = y_next.norm().max(f64::MIN_POSITIVE);
        let x_norm = x_next.norm().max(f64::MIN_POSITIVE);
        let change_x = (&x_next - &x).norm() / x_norm;
        let change_y = (&y_next - &y).norm() / y_norm;
        let gap = (&y_next - &x_next).norm() / y_norm;
        x = x_next;
        y = y_next;
        converged = change_x.max(change_y).max(gap) <= NEAREST_TOLERANCE;
    }
    NearestCorrelation {
        frobenius_change: (&y - &a).norm(),
        matrix: y,
        iterations,
        converged,
    }
}

/// Nearest positive semi-definite matrix to a symmetric matrix: eigenvalues
/// clipped at zero.
fn project_psd(r: &DMatrix<f64>) -> DMatrix<f64> {
    let eigen = SymmetricEigen::new(r.clone());
    let mut q = eigen.eigenvectors.clone();
    for (j, &lambda) in eigen.eigenvalues.iter().enumerate() {
        let scale = lambda.max(0.0);
        q.column_mut(j).scale_mut(scale);
    }
    let x = q * eigen.eigenvectors.transpose();
    (&x + x.transpose()) * 0.5
}

/// A factor F with F·Fᵀ = the matrix used for draws.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Factor {
    /// k×k, row-major.
    pub values: Vec<f64>,
    /// Whether F is lower triangular (a Cholesky factor).
    pub lower_triangular: bool,
}

impl Factor {
    /// The Cholesky factor when the matrix is positive definite; otherwise
    /// (positive semi-definite but singular, up to [`PSD_TOLERANCE`], or a
    /// repaired matrix) the eigen factor Q·Λ₊^½ with each row scaled to unit
    /// length so every variable keeps a unit variance. Returns the factor and
    /// the matrix F·Fᵀ it actually draws with; `None` when the smallest
    /// eigenvalue is below −`psd_tolerance`.
    pub fn of(matrix: &DMatrix<f64>, psd_tolerance: f64) -> Option<(Factor, DMatrix<f64>)> {
        let n = matrix.nrows();
        if let Some(cholesky) = matrix.clone().cholesky() {
            let l = cholesky.l();
            let values = (0..n)
                .flat_map(|i| (0..n).map(move |j| (i, j)))
                .map(|(i, j)| l[(i, j)])
                .collect();
            return Some((
                Factor {
                    values,
                    lower_triangular: true,
                },
                matrix.clone(),
            ));
        }
        let eigen = SymmetricEigen::new(matrix.clone());
        let smallest = eigen
            .eigenvalues
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        if smallest < -psd_tolerance {
            return None;
        }
        let mut f = eigen.eigenvectors.clone();
        for (j, &lambda) in eigen.eigenvalues.iter().enumerate() {
            f.column_mut(j).scale_mut(lambda.max(0.0).sqrt());
        }
        for i in 0..n {
            let norm = f.row(i).norm();
            if norm > 0.0 {
                f.row_mut(i).scale_mut(1.0 / norm);
            }
        }
        let used = &f * f.transpose();
        let values = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| f[(i, j)])
            .collect();
        Some((
            Factor {
                values,
                lower_triangular: false,
            },
            used,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CorrelationMatrix, CorrelationError> {
        parse_correlation("c.csv", text.as_bytes())
    }

    #[test]
    fn reads_a_matrix_and_trims_cells() {
        let c = parse(" ,A , B\nA, 1, 0.5\n\nB ,0.5,1\n").unwrap();
        assert_eq!(c.names(), ["A", "B"]);
        assert_eq!(c.matrix()[(1, 0)], 0.5);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn errors_name_the_row_and_column() {
        let cases = [
            ("", "no header"),
            ("x,A\nA,1\n", "first cell must be empty"),
            (",A,A\nA,1,0\nA,0,1\n", "\"A\" appears twice"),
            (",A,B\nA,1,0\n", "1 rows for the 2 names"),
            (",A,B\nA,1,0\nB,0,1\nC,0,0\n", "more rows"),
            (",A,B\nA,1\nB,0,1\n", "2 cells, expected 3"),
            (",A,B\nB,1,0\nA,0,1\n", "row 1 is named \"B\""),
            (
                ",A,B\nA,1,zero\nB,0,1\n",
                "row \"A\", column \"B\": \"zero\"",
            ),
            (
                ",A,B\nA,1,NaN\nB,NaN,1\n",
                "row \"A\", column \"B\": \"NaN\" is not a number",
            ),
            // Only plain decimals: no `_`, no exponent, no `inf`.
            (
                ",A,B\nA,1,0_5\nB,0_5,1\n",
                "row \"A\", column \"B\": \"0_5\" is not a number",
            ),
            (
                ",A,B\nA,1,5e-1\nB,5e-1,1\n",
                "row \"A\", column \"B\": \"5e-1\" is not a number",
            ),
            (",A,B\nA,1,1.5\nB,1.5,1\n", "1.5 is outside [-1, 1]"),
            (",A,B\nA,0.9,0\nB,0,1\n", "diagonal entry of \"A\" is 0.9"),
            (
                ",A,B\nA,1,0.5\nB,0.4,1\n",
                "row \"B\", column \"A\" holds 0.4 but row \"A\", column \"B\" holds 0.5",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(err.starts_with("c.csv"), "{err}");
        }
    }

    /// Found by fuzzing (`fuzz/regressions/correlation/`): a header of
    /// 40,000 names and a single short row allocated the 40,000² matrix
    /// (12.8 GB) before reading any row. Memory now follows the input.
    #[test]
    fn a_wide_header_alone_allocates_no_square_matrix() {
        let mut text = String::new();
        for i in 0..40_000 {
            text.push_str(&format!(",V{i}"));
        }
        text.push_str("\nV0,1\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("2 cells, expected 40001"), "{err}");
        let header_only = text.lines().next().unwrap().to_string();
        let err = parse(&header_only).unwrap_err().to_string();
        assert!(err.contains("0 rows for the 40000 names"), "{err}");
    }

    #[test]
    fn tiny_asymmetry_is_averaged_away() {
        let c = parse(",A,B\nA,1,0.5\nB,0.5000000000001,1\n").unwrap();
        assert_eq!(c.matrix()[(0, 1)], c.matrix()[(1, 0)]);
    }

    /// Higham (2002), section 4's 3×3 example. By symmetry the answer has
    /// the form [[1,a,b],[a,1,a],[b,a,1]] on the PSD boundary b = 2a² − 1,
    /// and minimising 2(1−a)² + b² gives 4a³ − a − 1 = 0: a = 0.760689…,
    /// b = 0.157299…, the published 0.7607 and 0.1573.
    #[test]
    fn higham_three_by_three() {
        let a = DMatrix::from_row_slice(3, 3, &[1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
        let near = nearest_correlation(&a);
        assert!(near.converged, "{near:?}");
        let expected = [
            [1.0, 0.7607, 0.1573],
            [0.7607, 1.0, 0.7607],
            [0.1573, 0.7607, 1.0],
        ];
        for (i, row) in expected.iter().enumerate() {
            for (j, &value) in row.iter().enumerate() {
                assert!(
                    (near.matrix[(i, j)] - value).abs() < 1e-4,
                    "({i},{j}): {}",
                    near.matrix[(i, j)]
                );
            }
        }
        // The closed form above, to far tighter precision.
        let root = (0.5f64..1.0).step_by_bisection(|a| 4.0 * a * a * a - a - 1.0);
        assert!((near.matrix[(0, 1)] - root).abs() < 1e-8);
        assert!((near.matrix[(0, 2)] - (2.0 * root * root - 1.0)).abs() < 1e-8);
        // ‖A − X‖_F = sqrt(4(1−a)² + 2b²).
        let b = 2.0 * root * root - 1.0;
        let distance = (4.0 * (1.0 - root).powi(2) + 2.0 * b * b).sqrt();
        assert!((near.frobenius_change - distance).abs() < 1e-8);
    }

    /// MathWorks' documented `nearcorr` example (Financial Toolbox): a 5×5
    /// matrix with eigenvalue −0.1244 whose nearest correlation matrix is
    /// printed to four decimals.
    #[test]
    fn mathworks_five_by_five() {
        #[rustfmt::skip]
        let a = DMatrix::from_row_slice(5, 5, &[
            1.0000, 0.0, 0.0, 0.0, -0.9360,
            0.0, 1.0000, -0.5500, -0.3645, -0.5300,
            0.0, -0.5500, 1.0000, -0.0351, 0.0875,
            0.0, -0.3645, -0.0351, 1.0000, 0.4557,
            -0.9360, -0.5300, 0.0875, 0.4557, 1.0000,
        ]);
        #[rustfmt::skip]
        let b = [
            [1.0000, 0.0372, 0.0100, -0.0219, -0.8478],
            [0.0372, 1.0000, -0.5449, -0.3757, -0.4849],
            [0.0100, -0.5449, 1.0000, -0.0381, 0.0996],
            [-0.0219, -0.3757, -0.0381, 1.0000, 0.4292],
            [-0.8478, -0.4849, 0.0996, 0.4292, 1.0000],
        ];
        assert!((min_eigenvalue(&a).unwrap() + 0.1244).abs() < 1e-4);
        let near = nearest_correlation(&a);
        for (i, row) in b.iter().enumerate() {
            for (j, &value) in row.iter().enumerate() {
                // Printed to 4 decimals: within half a unit of the last digit.
                assert!(
                    (near.matrix[(i, j)] - value).abs() <= 0.5e-4 + 1e-9,
                    "({i},{j}): {}",
                    near.matrix[(i, j)]
                );
            }
        }
        // The result is singular PSD: the eigen factor still draws from it.
        let (factor, used) = Factor::of(&near.matrix, PSD_TOLERANCE).unwrap();
        assert!(!factor.lower_triangular || used == near.matrix);
        assert!((&used - &near.matrix).norm() < 1e-8);
        for i in 0..5 {
            assert!((used[(i, i)] - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn factor_rejects_indefinite_and_accepts_singular() {
        let indefinite =
            DMatrix::from_row_slice(3, 3, &[1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0]);
        assert!(Factor::of(&indefinite, PSD_TOLERANCE).is_none());
        let singular = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 1.0, 1.0]);
        let (factor, used) = Factor::of(&singular, PSD_TOLERANCE).unwrap();
        assert!(!factor.lower_triangular);
        assert!((&used - &singular).norm() < 1e-12);
        let definite = DMatrix::from_row_slice(2, 2, &[1.0, 0.5, 0.5, 1.0]);
        let (factor, _) = Factor::of(&definite, PSD_TOLERANCE).unwrap();
        assert!(factor.lower_triangular);
        assert_eq!(factor.values[1], 0.0);
    }

    trait Bisect {
        fn step_by_bisection(self, f: impl Fn(f64) -> f64) -> f64;
    }

    impl Bisect for std::ops::Range<f64> {
        fn step_by_bisection(self, f: impl Fn(f64) -> f64) -> f64 {
            let (mut lo, mut hi) = (self.start, self.end);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if (f(lo) < 0.0) == (f(mid) < 0.0) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        }
    }
}
