use std::fmt;

/// Where in an input file something was read: file, 1-based line, and the
/// column (1-based index and header name) when one column is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file as the user named it (e.g. `drop/positions.csv`).
    pub file: String,
    /// 1-based line number; the header is line 1.
    pub line: u64,
    /// 1-based column index and column name, when one column is at fault.
    pub column: Option<(usize, String)>,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.file, self.line)?;
        if let Some((index, name)) = &self.column {
            write!(f, " column {index} ({name})")?;
        }
        Ok(())
    }
}

/// A problem with one piece of input, with where it was found.
///
/// Displayed as `positions.csv line 7 column 9 (mark): negative price -3.5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// Where the problem is; `None` for problems that belong to no single row
    /// (e.g. "no FX rate for SEK" found while valuing an account).
    pub location: Option<SourceLocation>,
    /// What is wrong, in words.
    pub reason: String,
}

impl InputError {
    /// An error at a location.
    pub fn at(location: SourceLocation, reason: impl Into<String>) -> Self {
        InputError {
            location: Some(location),
            reason: reason.into(),
        }
    }

    /// An error that belongs to no single row.
    pub fn new(reason: impl Into<String>) -> Self {
        InputError {
            location: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for InputError {}
