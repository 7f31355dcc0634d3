use std::path::PathBuf;

/// A problem that stops a run before any output is written: a file that
/// cannot be read at all, or lacks a required column.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The file cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A configuration or table file holds more bytes than its limit
    /// (see [`MAX_CONFIG_BYTES`](crate::MAX_CONFIG_BYTES) and
    /// [`MAX_TABLE_BYTES`](crate::MAX_TABLE_BYTES)).
    #[error(
        "cannot read {}: the file is larger than {limit} bytes, the limit for this kind of file",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The header row cannot be read.
    #[error("{path}: cannot read the header row: {reason}")]
    BadHeader {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A required column is not in the header.
    #[error(
        "{path}: required column '{column}' is missing from the header (columns found: {found})"
    )]
    MissingColumn {
        /// The file.
        path: String,
        /// The column.
        column: &'static str,
        /// The header as read.
        found: String,
    },
    /// A column name appears twice in the header.
    #[error("{path}: column '{column}' appears twice in the header")]
    DuplicateColumn {
        /// The file.
        path: String,
        /// The column.
        column: String,
    },
    /// A factor or FX table that cannot be used.
    #[error("{path}: {reason}")]
    BadTable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Writing an output failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
