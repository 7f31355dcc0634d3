//! Writing outputs: always to a temporary file in the target folder, then
//! renamed over the target, so a reader sees the old file or the new one,
//! never a part.

use std::io::{BufWriter, Write};
use std::path::Path;

use exfee_model::InputError;
pub use exfee_model::neutralise;

use crate::IoError;

/// Writes `path` atomically: `write` fills a temporary file beside it, which
/// is flushed, synced and renamed over `path`. Inside a staging folder of
/// [`StagedOutputs`](crate::StagedOutputs) not yet published, nothing reads
/// the file before the commit, which makes the whole folder durable with one
/// barrier and then publishes it at once: there the file is written in
/// place, neither synced nor renamed on its own (a run that fails or is
/// killed part-way never publishes the folder).
///
/// # Errors
///
/// [`IoError::Write`] when the folder is not writable or writing fails, or
/// when `path` is there and is not a regular file (a symbolic link, a
/// device, a pipe, a folder): renaming over it would replace the link or
/// the device itself (`--out /dev/full` as root replaced the device with a
/// file). The previous file, if any, is then untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), IoError> {
    let wrap = |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(metadata) = std::fs::symlink_metadata(path)
        && !metadata.file_type().is_file()
    {
        return Err(wrap(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is there and is not a regular file (a symbolic link, a device, a pipe or a \
             folder); outputs are written as new regular files that replace the old one whole",
        )));
    }
    if crate::outdir::is_staged(dir) {
        let file = std::fs::File::create(path).map_err(wrap)?;
        let mut out = BufWriter::new(file);
        write(&mut out).map_err(wrap)?;
        let file = out.into_inner().map_err(|e| wrap(e.into_error()))?;
        release_pages(&file);
        crate::outdir::release_later(dir, file);
        return Ok(());
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".exfee-").suffix(".tmp");
    // Created 0666 less the umask, as any file a program writes (a temporary
    // file's default, 0600, would keep the web server and colleagues out).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut temp = builder.tempfile_in(dir).map_err(wrap)?;
    {
        let mut out = BufWriter::new(temp.as_file_mut());
        write(&mut out).map_err(wrap)?;
        out.flush().map_err(wrap)?;
    }
    temp.as_file().sync_all().map_err(wrap)?;
    temp.persist(path).map_err(|e| wrap(e.error))?;
    Ok(())
}

/// `posix_fadvise(POSIX_FADV_DONTNEED)` on all of `file` (Linux; elsewhere
/// nothing): queues the write-back of its dirty pages without waiting for
/// it, and drops its clean pages from the page cache.
///
/// Called twice on each file written in a staging folder: right after
/// writing it, so that a night's report files (hundreds of MB) go to disk
/// while the next reports are computed and the folder's one barrier
/// (`syncfs`, at the commit) has little left to flush; and again
/// up to 128 files later (fewer under a small limit of open files), when
/// its pages are written back and are dropped
/// ([`release_later`](crate::outdir::release_later)).
/// Durability still comes from that barrier alone; this is a hint, so its
/// failure is ignored.
pub(crate) fn release_pages(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        #[allow(
            clippy::let_underscore_must_use,
            reason = "a hint: the commit's barrier makes the file durable either way"
        )]
        let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

fn csv_error(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// How a scenario is named in outputs: its name, or `#<index>` for an
/// unnamed Monte Carlo draw.
pub fn scenario_label(index: usize, name: Option<&str>) -> String {
    name.map_or_else(|| format!("#{index}"), str::to_string)
}

/// Joins an account's errors into one cell.
pub fn join_errors(errors: &[InputError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Passes every cell of a CSV text through [`neutralise`] and writes it
/// back (quoting only where needed): for CSV text rendered elsewhere
/// without the rule. (The per-account report CSV applies [`neutralise`] to
/// each cell as it is rendered, `exfee_report::csv`, and its tests check
/// it against this re-parse.) Idempotent: a neutralised cell starts with `'`.
///
/// # Errors
///
/// The CSV text cannot be parsed.
pub fn neutralise_csv(text: &str) -> Result<String, csv::Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::with_capacity(text.len() + 64));
    // One record read into and written from in place: a cell that needs no
    // `'` is written as it was read, without a copy (a report's CSV has a
    // few hundred cells, and a string for each cost more than the parse).
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record)? {
        for cell in &record {
            writer.write_field(neutralise(cell).as_bytes())?;
        }
        writer.write_record(None::<&[u8]>)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| csv::Error::from(std::io::Error::other(e.to_string())))?;
    // Valid UTF-8 (read from a `str`, `'` added): kept without a copy.
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Writes a CSV file atomically: `header`, then `rows`, every cell passed
/// through [`neutralise`].
///
/// # Errors
///
/// [`IoError::Write`] as [`write_atomically`].
pub fn write_csv<I>(path: &Path, header: &[&str], rows: I) -> Result<(), IoError>
where
    I: IntoIterator,
    I::Item: IntoIterator,
    <I::Item as IntoIterator>::Item: AsRef<str>,
{
    write_atomically(path, |out| {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(header).map_err(csv_error)?;
        for row in rows {
            let cells: Vec<String> = row
                .into_iter()
                .map(|cell| neutralise(cell.as_ref()).into_owned())
                .collect();
            csv.write_record(&cells).map_err(csv_error)?;
        }
        csv.flush()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralise_csv_rewrites_every_cell_once() {
        let text = "account,field,value\n-2+3,\"a,b\",-1.5\n\"=x\",'=y,\"-1 XYZ\"\n";
        let once = neutralise_csv(text).unwrap();
        assert_eq!(
            once,
            "account,field,value\n'-2+3,\"a,b\",-1.5\n'=x,'=y,'-1 XYZ\n"
        );
        assert_eq!(neutralise_csv(&once).unwrap(), once);
    }

    /// A link, a pipe or a folder at the output's path is refused and left
    /// as it was (renaming over it replaced it with a file: `/dev/full` as
    /// root); a regular file is replaced.
    #[cfg(unix)]
    #[test]
    fn only_a_regular_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.csv");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let pipe = dir.path().join("pipe.csv");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status();
        let folder = dir.path().join("folder.csv");
        std::fs::create_dir(&folder).unwrap();
        let mut refused = vec![&link, &folder];
        if made.is_ok_and(|s| s.success()) {
            refused.push(&pipe);
        }
        for path in refused {
            let error = write_atomically(path, |out| out.write_all(b"new")).unwrap_err();
            assert!(
                error.to_string().contains("is not a regular file"),
                "{error}"
            );
        }
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(std::fs::metadata(&folder).unwrap().is_dir());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        write_atomically(&target, |out| out.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }

    /// The process umask, from `/proc/self/status` (Linux).
    #[cfg(unix)]
    fn umask() -> Option<u32> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Umask:"))?;
        u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
    }

    #[cfg(unix)]
    #[test]
    fn written_files_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let Some(mask) = umask() else { return };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        write_atomically(&path, |out| out.write_all(b"x")).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !mask, "mode {mode:o}, umask {mask:o}");
    }
}
