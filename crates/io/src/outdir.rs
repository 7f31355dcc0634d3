//! A run's outputs as one set: written into a fresh staging folder, then
//! published all at once by repointing one symbolic link, so a reader (or a
//! run killed at any moment) sees the previous complete set or the new one,
//! never a mix.
//!
//! # Layout of `OUT_DIR`
//!
//! ```text
//! OUT_DIR/
//!   .runs/<label>-<pid>-<nanos>/   one folder per run: results.csv, errors.csv,
//!                                  options.csv, index.html, reports/ …
//!   .runs/lock                     held (flock) while a run stages and publishes
//!   current -> .runs/<run>          the published run (a symbolic link)
//!   results.csv -> current/results.csv   the documented paths: links, made once
//!   errors.csv  -> current/errors.csv
//!   options.csv -> current/options.csv
//!   run.json    -> current/run.json
//!   index.html  -> current/index.html
//!   reports     -> current/reports
//!   reconciliation.csv -> current/reconciliation.csv   (--flex runs)
//! ```
//!
//! Publishing renames a new link over `current` (`rename(2)` is atomic), so
//! every path above switches together. The run folder it replaced is kept
//! (a reader still inside it is not cut off) and every older one, and the
//! staging folders of killed runs, are removed.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::IoError;

/// The names published at the top of `OUT_DIR`, each a link to
/// `current/<name>` (a name the run did not write, e.g. `reports` with
/// `--no-reports`, is a link to nothing until a run writes it).
pub const PUBLISHED: [&str; 7] = [
    "results.csv",
    "errors.csv",
    "options.csv",
    "run.json",
    "index.html",
    "reports",
    "reconciliation.csv",
];

/// The folder of the run folders, inside `OUT_DIR`.
pub const RUNS_DIR: &str = ".runs";

/// The link to the published run folder, inside `OUT_DIR`.
pub const CURRENT: &str = "current";

const LOCK: &str = "lock";
const LINK_TEMP_PREFIX: &str = ".exfee-link-";

/// The staging folders of this process not yet committed or dropped: a file
/// written atomically inside one is not synced on its own
/// ([`write_atomically`](crate::write_atomically)), because the commit makes
/// the whole folder durable with one barrier before publishing it.
static STAGES: Mutex<Vec<Stage>> = Mutex::new(Vec::new());

/// A staging folder of [`STAGES`] and the files last written in it, still
/// open (at most [`RELEASE_LAG`]): see [`release_later`].
struct Stage {
    dir: PathBuf,
    written: VecDeque<File>,
}

/// How many files written in a staging folder wait before their pages are
/// dropped from the page cache ([`release_later`]), at most: enough that
/// the write-back started as each was written has finished by then (a
/// night writes a few thousand files a second; write-back of one takes well
/// under a millisecond), few enough to keep that many descriptors open.
/// [`release_lag`] lowers it under a small limit of open files.
const RELEASE_LAG: usize = 128;

/// [`RELEASE_LAG`], or an eighth of the process's limit of open files
/// when that is lower (`ulimit -n 256` keeps 32 files waiting; a limit
/// under 8 none, each file then closed at once), so the files kept open
/// never use up a small limit.
fn release_lag() -> usize {
    static LAG: OnceLock<usize> = OnceLock::new();
    *LAG.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
            limit.map_or(RELEASE_LAG, |open| {
                usize::try_from(open / 8).map_or(RELEASE_LAG, |lag| lag.min(RELEASE_LAG))
            })
        }
        #[cfg(not(target_os = "linux"))]
        RELEASE_LAG
    })
}

/// Whether `dir` is (inside) a staging folder of this process that is not
/// published yet.
pub(crate) fn is_staged(dir: &Path) -> bool {
    let stages = STAGES.lock().unwrap_or_else(|e| e.into_inner());
    stages.iter().any(|stage| dir.starts_with(&stage.dir))
}

/// Takes `file`, just written in folder `dir` with its write-back started
/// ([`crate::output::release_pages`]), and releases the file written
/// [`release_lag`] files before it in the same staging folder: its pages,
/// written back by now, are dropped from the page cache and it is closed.
///
/// Why: a night's report files (≈ 700 MB at 100,000 accounts) are written
/// once and never read back by the run. Left cached, every one of them
/// takes fresh pages, which evicts the machine's working set and, on a
/// virtual machine whose free memory is handed back to the host (virtio
/// free page reporting), costs a host page fault per page: measured 1.4 to
/// 1.7 s of system time per 700 MB there, against ≈ 0.2 s when the pages
/// of files already on disk are dropped and reused (docs/performance.md,
/// "The report files' page cache"). Durability is the commit's barrier's
/// alone, as before: dropping a clean page writes nothing and loses
/// nothing, and a page still under write-back is left where it is.
///
/// A file outside any staging folder is closed at once.
pub(crate) fn release_later(dir: &Path, file: File) {
    let oldest = {
        let mut stages = STAGES.lock().unwrap_or_else(|e| e.into_inner());
        match stages.iter_mut().find(|stage| dir.starts_with(&stage.dir)) {
            Some(stage) => {
                stage.written.push_back(file);
                if stage.written.len() > release_lag() {
                    stage.written.pop_front()
                } else {
                    None
                }
            }
            None => Some(file),
        }
    };
    // Outside the lock: the system call does not hold up the other writers.
    if let Some(file) = oldest {
        crate::output::release_pages(&file);
    }
}

fn unregister(stage: &Path) {
    // The files still waiting are closed with the stage (their pages stay
    // cached; nothing else changes).
    let mut stages = STAGES.lock().unwrap_or_else(|e| e.into_inner());
    stages.retain(|s| s.dir != stage);
}

/// The outputs of one run being written: a fresh folder
/// `OUT_DIR/.runs/<label>-<pid>-<nanos>/` that nothing reads until
/// [`commit`](StagedOutputs::commit) publishes it.
///
/// Holding a `StagedOutputs` holds an exclusive lock on `OUT_DIR/.runs/lock`,
/// so two runs never stage into (or clean up) one output folder at the same
/// time. Dropped without commit (an error part-way), the staging folder is
/// removed and the published outputs are untouched; a killed run leaves its
/// staging folder behind, and the next commit removes it.
///
/// # Examples
///
/// ```
/// let out = tempfile::tempdir().unwrap();
/// let stage = exfee_io::StagedOutputs::begin(out.path(), "2026-11-20").unwrap();
/// std::fs::write(stage.dir().join("results.csv"), "account\n").unwrap();
/// stage.commit().unwrap();
/// # #[cfg(unix)]
/// assert_eq!(std::fs::read_to_string(out.path().join("results.csv")).unwrap(), "account\n");
/// ```
#[derive(Debug)]
pub struct StagedOutputs {
    out: PathBuf,
    name: String,
    stage: PathBuf,
    _lock: File,
    committed: bool,
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> IoError + '_ {
    move |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl StagedOutputs {
    /// Creates `out` and `out/.runs` when needed, takes the output folder's
    /// lock and creates a fresh, empty staging folder named after `label`
    /// (e.g. the valuation date; characters other than `A-Za-z0-9-_` become
    /// `_`), the process id and the time.
    ///
    /// # Errors
    ///
    /// [`IoError::Write`] when a folder cannot be created, or another run
    /// holds the lock (kind [`io::ErrorKind::WouldBlock`]).
    pub fn begin(out: &Path, label: &str) -> Result<StagedOutputs, IoError> {
        let runs = out.join(RUNS_DIR);
        fs::create_dir_all(&runs).map_err(write_error(&runs))?;
        refuse_link(&runs)?;
        let lock_path = runs.join(LOCK);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(write_error(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(IoError::Write {
                    path: out.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "another exfee run is writing to this output folder",
                    ),
                });
            }
            // A file system without locks: go on unlocked.
            Err(fs::TryLockError::Error(_)) => {}
        }
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("{label}-{}-{nanos}", std::process::id());
        let stage = runs.join(&name);
        fs::create_dir(&stage).map_err(write_error(&stage))?;
        STAGES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Stage {
                dir: stage.clone(),
                written: VecDeque::new(),
            });
        Ok(StagedOutputs {
            out: out.to_path_buf(),
            name,
            stage,
            _lock: lock,
            committed: false,
        })
    }

    /// The staging folder: write every output of the run here.
    pub fn dir(&self) -> &Path {
        &self.stage
    }

    /// Publishes the staged outputs: syncs every file and folder of the
    /// staging folder to disk, repoints `OUT_DIR/current` at it in one
    /// `rename(2)` and syncs `OUT_DIR`, makes the [`PUBLISHED`] links when
    /// missing, then removes every run folder but this one and the one it
    /// replaced. Returns the published run folder.
    ///
    /// Until the rename, the previous outputs are published; from it on,
    /// the new ones. Removing old folders is best effort (a failure there
    /// does not fail the run).
    ///
    /// # Errors
    ///
    /// [`IoError::Write`] when syncing or switching fails; the previous
    /// outputs are then still published.
    pub fn commit(mut self) -> Result<PathBuf, IoError> {
        // Nothing more is written into the folder: files written from here
        // on (by another stage of this process) sync on their own.
        unregister(&self.stage);
        let runs = self.out.join(RUNS_DIR);
        sync_stage(&self.stage, &runs)?;
        let current = self.out.join(CURRENT);
        let previous = fs::read_link(&current)
            .ok()
            .and_then(|target| target.file_name().map(|n| n.to_string_lossy().into_owned()));
        publish(&self.out, &self.name)?;
        self.committed = true;
        remove_old_runs(&runs, &[self.name.as_str(), LOCK], previous.as_deref());
        remove_link_temps(&self.out);
        Ok(self.stage.clone())
    }
}

impl Drop for StagedOutputs {
    fn drop(&mut self) {
        unregister(&self.stage);
        if !self.committed {
            #[allow(
                clippy::let_underscore_must_use,
                reason = "best effort: a staging folder left behind is removed by the next run"
            )]
            let _ = fs::remove_dir_all(&self.stage);
        }
    }
}

/// Refuses `OUT_DIR/.runs` unless it is a real folder: run folders are
/// created and old ones removed in it, so a symbolic link planted there would
/// make the clean-up delete files elsewhere.
fn refuse_link(runs: &Path) -> Result<(), IoError> {
    let meta = fs::symlink_metadata(runs).map_err(write_error(runs))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(IoError::Write {
            path: runs.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a symbolic link or not a folder; exfee writes and removes run folders only in a real folder inside the output folder (remove it)",
            ),
        });
    }
    Ok(())
}

/// Syncs a folder's entries to disk.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Makes the staging folder and its entry in `.runs` durable: one
/// `syncfs(2)` of the file system holding them on Linux (every file and
/// folder written there reaches the disk before it returns, and since Linux
/// 5.8 it reports any write-back error of that file system), so a night
/// pays one barrier instead of one `fsync` per file. When `.runs` is on
/// another file system than the staging folder (it never is: the folder is
/// made inside it), or elsewhere than Linux, every file and folder is synced
/// one by one.
fn sync_stage(stage: &Path, runs: &Path) -> Result<(), IoError> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let same_fs = match (fs::metadata(stage), fs::metadata(runs)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev(),
            _ => false,
        };
        if same_fs {
            let folder = File::open(stage).map_err(write_error(stage))?;
            return rustix::fs::syncfs(&folder).map_err(|e| IoError::Write {
                path: stage.to_path_buf(),
                source: e.into(),
            });
        }
    }
    sync_tree(stage).map_err(write_error(stage))?;
    sync_dir(runs).map_err(write_error(runs))
}

/// Syncs every file and folder under `dir` (depth first, `dir` last).
fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            sync_tree(&entry.path())?;
        } else if kind.is_file() {
            File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(dir)
}

#[cfg(unix)]
fn publish(out: &Path, name: &str) -> Result<(), IoError> {
    let target = Path::new(RUNS_DIR).join(name);
    replace_link(out, CURRENT, &target)?;
    sync_dir(out).map_err(write_error(out))?;
    let mut changed = false;
    for entry in PUBLISHED {
        let link = out.join(entry);
        let target = Path::new(CURRENT).join(entry);
        match fs::symlink_metadata(&link) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if fs::read_link(&link).is_ok_and(|t| t == target) {
                    continue;
                }
            }
            Ok(meta) if meta.is_dir() => {
                // The `reports` folder of an older exfee: moved aside (the
                // clean-up removes it), then replaced by the link.
                let aside = out.join(RUNS_DIR).join(format!("legacy-{name}-{entry}"));
                fs::rename(&link, &aside).map_err(write_error(&link))?;
            }
            // A file of an older exfee is replaced by the rename below.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(write_error(&link)(e)),
        }
        replace_link(out, entry, &target)?;
        changed = true;
    }
    if changed {
        sync_dir(out).map_err(write_error(out))?;
    }
    Ok(())
}

/// Makes `out/name` a symbolic link to `target` in one rename: a link made
/// under a temporary name is renamed over it.
#[cfg(unix)]
fn replace_link(out: &Path, name: &str, target: &Path) -> Result<(), IoError> {
    let link = out.join(name);
    let temp = out.join(format!("{LINK_TEMP_PREFIX}{}.tmp", std::process::id()));
    #[allow(
        clippy::let_underscore_must_use,
        reason = "a temporary link left by a killed run may or may not be there"
    )]
    let _ = fs::remove_file(&temp);
    std::os::unix::fs::symlink(target, &temp).map_err(write_error(&temp))?;
    fs::rename(&temp, &link).map_err(|e| {
        #[allow(
            clippy::let_underscore_must_use,
            reason = "the rename's error is the one reported; the temporary link is removed \
                      by the next run if this fails"
        )]
        let _ = fs::remove_file(&temp);
        write_error(&link)(e)
    })
}

/// Without symbolic links: each published name is moved into place in turn
/// (each file atomically, the set not).
#[cfg(not(unix))]
fn publish(out: &Path, name: &str) -> Result<(), IoError> {
    let stage = out.join(RUNS_DIR).join(name);
    for entry in PUBLISHED {
        let from = stage.join(entry);
        let to = out.join(entry);
        if to.is_dir() {
            fs::remove_dir_all(&to).map_err(write_error(&to))?;
        }
        if from.exists() {
            fs::rename(&from, &to).map_err(write_error(&to))?;
        } else if to.exists() {
            fs::remove_file(&to).map_err(write_error(&to))?;
        }
    }
    Ok(())
}

/// Removes every entry of `runs` but those named in `keep` and `previous`.
fn remove_old_runs(runs: &Path, keep: &[&str], previous: Option<&str>) {
    // Never through a link (it could have been planted since `begin`).
    if refuse_link(runs).is_err() {
        return;
    }
    let Ok(entries) = fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if keep.contains(&name.as_ref()) || previous == Some(name.as_ref()) {
            continue;
        }
        let path = entry.path();
        #[allow(
            clippy::let_underscore_must_use,
            reason = "best effort: an old run folder that cannot be removed now is tried again \
                      by the next run"
        )]
        let _ = match entry.file_type() {
            Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
    }
}

/// Removes temporary links left by a killed run.
fn remove_link_temps(out: &Path) {
    let Ok(entries) = fs::read_dir(out) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(LINK_TEMP_PREFIX)
        {
            #[allow(
                clippy::let_underscore_must_use,
                reason = "best effort: a link left behind is tried again by the next run"
            )]
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn stage(out: &Path, text: &str, reports: bool) -> PathBuf {
        let stage = StagedOutputs::begin(out, "2026-11-20").unwrap();
        fs::write(stage.dir().join("results.csv"), text).unwrap();
        if reports {
            fs::create_dir(stage.dir().join("reports")).unwrap();
            fs::write(stage.dir().join("reports/a.html"), text).unwrap();
        }
        stage.commit().unwrap()
    }

    fn runs(out: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(out.join(RUNS_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != LOCK)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn files_of_an_unpublished_stage_wait_for_the_one_barrier() {
        let out = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let staged = StagedOutputs::begin(out.path(), "2026-11-20").unwrap();
        let dir = staged.dir().to_path_buf();
        // Inside the stage (and its sub-folders): no sync per file.
        assert!(is_staged(&dir));
        assert!(is_staged(&dir.join("reports")));
        // Anywhere else, and the output folder itself: synced per file.
        assert!(!is_staged(outside.path()));
        assert!(!is_staged(out.path()));
        assert!(!is_staged(&out.path().join(RUNS_DIR)));
        fs::create_dir(dir.join("reports")).unwrap();
        crate::write_atomically(&dir.join("reports/a.html"), |w| w.write_all(b"a")).unwrap();
        let published = staged.commit().unwrap();
        // Published (after the barrier), and no longer a stage.
        assert!(!is_staged(&published));
        assert_eq!(
            fs::read_to_string(out.path().join("reports/a.html")).unwrap(),
            "a"
        );
        // A dropped stage is forgotten too.
        let dropped = StagedOutputs::begin(out.path(), "2026-11-21").unwrap();
        let dropped_dir = dropped.dir().to_path_buf();
        assert!(is_staged(&dropped_dir));
        drop(dropped);
        assert!(!is_staged(&dropped_dir));
    }

    /// How many written files the staging folder holding `dir` keeps open.
    fn waiting(dir: &Path) -> Option<usize> {
        let stages = STAGES.lock().unwrap_or_else(|e| e.into_inner());
        stages
            .iter()
            .find(|stage| dir.starts_with(&stage.dir))
            .map(|stage| stage.written.len())
    }

    #[test]
    fn files_of_a_stage_are_released_after_a_bounded_lag_and_stay_whole() {
        let out = tempfile::tempdir().unwrap();
        let staged = StagedOutputs::begin(out.path(), "2026-11-20").unwrap();
        let dir = staged.dir().join("reports");
        fs::create_dir(&dir).unwrap();
        let lag = release_lag();
        let count = lag * 2 + 7;
        // Each file's bytes tell its number: a file released (pages dropped,
        // closed) early must read back whole after the commit.
        let body = |i: usize| format!("{i:08}\n").repeat(1 + i % 700);
        for i in 0..count {
            crate::write_atomically(&dir.join(format!("{i}.json")), |w| {
                w.write_all(body(i).as_bytes())
            })
            .unwrap();
            assert_eq!(waiting(&dir), Some((i + 1).min(lag)));
        }
        let published = staged.commit().unwrap();
        // The commit closes the files still waiting.
        assert_eq!(waiting(&published), None);
        for i in 0..count {
            let text = fs::read_to_string(out.path().join(format!("reports/{i}.json"))).unwrap();
            assert_eq!(text, body(i), "file {i}");
        }
        // Outside a stage a file is written, synced and closed at once.
        let outside = tempfile::tempdir().unwrap();
        crate::write_atomically(&outside.path().join("a.csv"), |w| w.write_all(b"a")).unwrap();
        assert_eq!(waiting(outside.path()), None);
    }

    #[test]
    fn publishes_through_links_and_keeps_the_previous_run() {
        let out = tempfile::tempdir().unwrap();
        let first = stage(out.path(), "one", true);
        assert_eq!(
            fs::read_to_string(out.path().join("results.csv")).unwrap(),
            "one"
        );
        assert_eq!(
            fs::read_to_string(out.path().join("reports/a.html")).unwrap(),
            "one"
        );
        let second = stage(out.path(), "two", false);
        assert_eq!(
            fs::read_to_string(out.path().join("results.csv")).unwrap(),
            "two"
        );
        // The new run wrote no reports: the link leads nowhere.
        assert!(!out.path().join("reports").exists());
        assert!(first.exists());
        let third = stage(out.path(), "three", true);
        assert!(!first.exists(), "older runs are removed");
        assert!(second.exists(), "the previous run is kept");
        assert_eq!(runs(out.path()).len(), 2);
        assert_eq!(
            fs::read_link(out.path().join(CURRENT)).unwrap(),
            Path::new(RUNS_DIR).join(third.file_name().unwrap())
        );
    }

    #[test]
    fn a_dropped_stage_leaves_the_published_outputs() {
        let out = tempfile::tempdir().unwrap();
        stage(out.path(), "one", false);
        {
            let staged = StagedOutputs::begin(out.path(), "x").unwrap();
            fs::write(staged.dir().join("results.csv"), "half").unwrap();
        }
        assert_eq!(
            fs::read_to_string(out.path().join("results.csv")).unwrap(),
            "one"
        );
        assert_eq!(runs(out.path()).len(), 1);
    }

    #[test]
    fn leftovers_of_a_killed_run_are_removed() {
        let out = tempfile::tempdir().unwrap();
        stage(out.path(), "one", false);
        let killed = out.path().join(RUNS_DIR).join("2026-11-20-1-1");
        fs::create_dir(&killed).unwrap();
        fs::write(killed.join("results.csv"), "half").unwrap();
        std::os::unix::fs::symlink("x", out.path().join(".exfee-link-1.tmp")).unwrap();
        stage(out.path(), "two", false);
        assert!(!killed.exists());
        assert!(
            fs::symlink_metadata(out.path().join(".exfee-link-1.tmp")).is_err(),
            "temporary links are removed"
        );
        assert_eq!(runs(out.path()).len(), 2);
    }

    #[test]
    fn outputs_of_an_older_exfee_are_replaced() {
        let out = tempfile::tempdir().unwrap();
        fs::write(out.path().join("results.csv"), "old").unwrap();
        fs::create_dir(out.path().join("reports")).unwrap();
        fs::write(out.path().join("reports/old.html"), "old").unwrap();
        fs::write(out.path().join("state.sqlite"), "kept").unwrap();
        stage(out.path(), "new", true);
        assert_eq!(
            fs::read_to_string(out.path().join("results.csv")).unwrap(),
            "new"
        );
        assert!(out.path().join("reports/a.html").exists());
        assert!(!out.path().join("reports/old.html").exists());
        assert_eq!(
            fs::read_to_string(out.path().join("state.sqlite")).unwrap(),
            "kept"
        );
    }

    #[test]
    fn a_runs_link_out_of_the_output_folder_is_refused_and_never_cleaned() {
        let out = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::write(elsewhere.path().join("precious.txt"), "keep").unwrap();
        fs::create_dir(elsewhere.path().join("folder")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), out.path().join(RUNS_DIR)).unwrap();
        let error = StagedOutputs::begin(out.path(), "2026-11-20").unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert!(elsewhere.path().join("precious.txt").exists());
        assert!(elsewhere.path().join("folder").exists());
        // Planted after the run began: the clean-up does not follow it.
        let out = tempfile::tempdir().unwrap();
        let staged = StagedOutputs::begin(out.path(), "2026-11-20").unwrap();
        fs::write(staged.dir().join("results.csv"), "x").unwrap();
        let runs = out.path().join(RUNS_DIR);
        let real = out.path().join("real-runs");
        fs::rename(&runs, &real).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), &runs).unwrap();
        remove_old_runs(&runs, &[LOCK], None);
        assert!(elsewhere.path().join("precious.txt").exists());
        assert!(elsewhere.path().join("folder").exists());
        drop(staged);
    }

    #[test]
    fn a_second_run_on_the_same_folder_is_refused() {
        let out = tempfile::tempdir().unwrap();
        let _first = StagedOutputs::begin(out.path(), "a").unwrap();
        let second = StagedOutputs::begin(out.path(), "b").unwrap_err();
        assert!(second.to_string().contains("another exfee run"), "{second}");
    }
}
