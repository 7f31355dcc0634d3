//! Reading configuration and table files whole, with a size limit: the one
//! reader for the fee schedule, the holiday list, scenario-set
//! configurations, factor and FX tables, correlation matrices and the market
//! tables of a drop. A file past its limit is a clear error, read no further
//! than the limit (a `/dev/zero` or a runaway generator costs at most the
//! limit in memory and time).

use std::io::Read;
use std::path::Path;

use crate::IoError;

/// The limit for configuration files (fee schedule, holiday list,
/// scenario-set configuration): 1 MiB. A real one is a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The limit for table files (factor and FX tables, correlation matrices,
/// `market/*.csv`): 64 MiB. A correlation matrix of 2,000 factors or a
/// `market/factors.csv` of a million symbols fits.
pub const MAX_TABLE_BYTES: u64 = 64 << 20;

/// The bytes of the file at `path`, at most `limit` of them.
///
/// # Errors
///
/// [`IoError::Unreadable`] when the file cannot be opened or read;
/// [`IoError::TooLarge`] when it holds more than `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, IoError> {
    let unreadable = |source| IoError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    read_bounded_from(path, file, limit)
}

/// [`read_bounded`] of an open reader; `path` names it in errors.
///
/// # Errors
///
/// As [`read_bounded`].
pub fn read_bounded_from(path: &Path, reader: impl Read, limit: u64) -> Result<Vec<u8>, IoError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| IoError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
///
/// # Errors
///
/// As [`read_bounded`]; [`IoError::BadTable`] when the text is not UTF-8.
pub fn read_bounded_text(path: &Path, limit: u64) -> Result<String, IoError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|e| IoError::BadTable {
        path: path.display().to_string(),
        reason: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_at_the_limit_is_read_one_past_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "abcd").unwrap();
        assert_eq!(read_bounded(&path, 4).unwrap(), b"abcd");
        let err = read_bounded(&path, 3).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "cannot read {}: the file is larger than 3 bytes, the limit for this kind of file",
                path.display()
            )
        );
    }

    #[test]
    fn an_endless_input_stops_at_the_limit() {
        /// Zeros for ever, counting what was read.
        struct Zeros(u64);
        impl Read for Zeros {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                buf.fill(0);
                self.0 += buf.len() as u64;
                Ok(buf.len())
            }
        }
        let mut zeros = Zeros(0);
        let err = read_bounded_from(Path::new("/dev/zero"), &mut zeros, 1 << 20).unwrap_err();
        assert!(matches!(err, IoError::TooLarge { limit, .. } if limit == 1 << 20));
        assert!(zeros.0 <= (1 << 20) + 64 * 1024, "read {} bytes", zeros.0);
    }

    #[cfg(unix)]
    #[test]
    fn dev_zero_is_refused() {
        let err = read_bounded(Path::new("/dev/zero"), MAX_CONFIG_BYTES).unwrap_err();
        assert!(matches!(err, IoError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fee.toml");
        std::fs::write(&path, b"a = 1\n\xff").unwrap();
        let err = read_bounded_text(&path, 100).unwrap_err().to_string();
        assert!(
            err.ends_with("not UTF-8 text (invalid byte at offset 6)"),
            "{err}"
        );
    }
}
