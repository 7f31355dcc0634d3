//! The `exfee` command line: the nightly batch and its tools.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's allocator: the nightly run frees and
/// allocates many scenario-sized vectors among small strings, and glibc's
/// `malloc` spent a fifth of the reports' CPU sorting its free lists for
/// them (docs/performance.md, "The reports' allocations").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    if !cli.is_service() {
        allocator::configure();
    }
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("exfee: error: {}", exfee::error_message(&error));
            ExitCode::from(2)
        }
    }
}

/// mimalloc's options for the batch commands (docs/architecture.md, "The
/// allocator"; figures in docs/performance.md, "Allocator and page faults
/// (session 7)"): memory is not returned to the system during the command
/// (`purge_delay` −1; it goes back when the process exits) and transparent
/// huge pages are off for the process (`allow_thp` 0). With mimalloc's
/// defaults a night faulted hundreds of megabytes back in after returning
/// them, each fresh 2 MiB page zero-filled whole.
///
/// Each option is a *default*: mimalloc reads its `MIMALLOC_*` environment
/// variables when the process loads, before `main`, and an option given
/// there keeps the user's value (`mi_option_set_default` changes only an
/// option the environment did not set; the huge-page switch is left alone
/// when `MIMALLOC_ALLOW_THP` is set). `exfee serve`, which runs for days,
/// keeps mimalloc's defaults.
mod allocator {
    use std::ffi::{c_int, c_long};

    /// `mi_option_allow_thp` in mimalloc v3's `mi_option_t` (libmimalloc-sys
    /// 0.1.49 names no constant for it);
    /// `tests::the_environment_wins_and_the_indices_name_the_options` checks
    /// the index against mimalloc's own reading of the environment.
    pub(crate) const ALLOW_THP: c_int = 43;
    /// `mi_option_purge_delay` in mimalloc v3's `mi_option_t`.
    pub(crate) const PURGE_DELAY: c_int = 15;

    /// The options the batch commands run with.
    const OPTIONS: [(c_int, c_long); 2] = [(ALLOW_THP, 0), (PURGE_DELAY, -1)];

    /// Sets [`OPTIONS`] as mimalloc's defaults and, unless the environment
    /// says otherwise, turns transparent huge pages off for the process.
    /// Called at the start of `main`, while the process has one thread.
    pub(crate) fn configure() {
        for (option, value) in OPTIONS {
            set_default(option, value);
        }
        #[cfg(target_os = "linux")]
        if get(ALLOW_THP) == 0 {
            // mimalloc applies `allow_thp` 0 at load only (with this same
            // `prctl`), and it advised huge pages for its first arena before
            // `main` ran: the process-wide switch covers that arena too. A
            // kernel without it (before 3.15) runs the night with them.
            #[allow(clippy::let_underscore_must_use, reason = "best effort, see above")]
            let _ = rustix::thread::disable_transparent_huge_pages(true);
        }
    }

    /// `mi_option_set_default(option, value)`.
    #[allow(unsafe_code, reason = "mimalloc's options are set through its C API")]
    fn set_default(option: c_int, value: c_long) {
        // SAFETY: `mi_option_set_default` stores `value` into entry `option`
        // of mimalloc's static option table unless the environment set that
        // entry; `option` is one of the indices above, below
        // `_mi_option_last` (47 in v3), so the entry exists. The table is
        // not synchronised: this runs at the start of `main`, before the
        // command starts any thread, and nothing else sets options.
        unsafe { libmimalloc_sys::mi_option_set_default(option, value) };
    }

    /// The current value of `option`.
    #[allow(unsafe_code, reason = "mimalloc's options are read through its C API")]
    pub(crate) fn get(option: c_int) -> c_long {
        // SAFETY: `mi_option_get` reads entry `option` (one of the indices
        // above, below `_mi_option_last`) of mimalloc's option table; it is
        // called on the main thread before the command starts any thread
        // (and by the tests, each in a process of its own).
        unsafe { libmimalloc_sys::mi_option_get(option) }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::ffi::c_long;
    use std::process::Command;

    use super::allocator::{self, ALLOW_THP, PURGE_DELAY};

    /// Runs [`child`] in a process of its own (this test binary again), with
    /// no `MIMALLOC_*` variable but those of `env`, and returns the values
    /// of `allow_thp` and `purge_delay` it found after `configure`, and
    /// whether transparent huge pages were off for it.
    fn options_in_a_child(env: &[(&str, &str)]) -> (c_long, c_long, bool) {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.args(["--exact", "tests::child", "--ignored", "--nocapture"]);
        for (name, _) in std::env::vars_os() {
            if name
                .to_string_lossy()
                .to_ascii_uppercase()
                .starts_with("MIMALLOC_")
            {
                command.env_remove(name);
            }
        }
        command.envs(env.iter().copied());
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        let line = stdout
            .lines()
            .find_map(|line| line.strip_prefix("options: "))
            .unwrap_or_else(|| panic!("no options line in {stdout}"));
        let values: Vec<c_long> = line.split(' ').map(|v| v.parse().unwrap()).collect();
        (values[0], values[1], values[2] == 1)
    }

    /// Prints the options after `configure`, and whether transparent huge
    /// pages are off for the process (1) or not (0) (run by the tests below,
    /// each in a fresh process: mimalloc reads the environment once, at
    /// load).
    #[test]
    #[ignore = "run in a child process by the tests below"]
    fn child() {
        allocator::configure();
        let thp_off = rustix::thread::transparent_huge_pages_are_disabled().unwrap();
        println!(
            "options: {} {} {}",
            allocator::get(ALLOW_THP),
            allocator::get(PURGE_DELAY),
            c_long::from(thp_off)
        );
    }

    /// With no `MIMALLOC_*` variable a batch command runs with the options
    /// docs/architecture.md gives: memory kept until the process exits
    /// (`purge_delay` −1) and no transparent huge pages (`allow_thp` 0, and
    /// the kernel's switch for the process on).
    #[test]
    fn the_command_sets_its_options() {
        assert_eq!(options_in_a_child(&[]), (0, -1, true));
    }

    /// A variable of the environment wins over the command's default (huge
    /// pages stay on when `MIMALLOC_ALLOW_THP` allows them), and mimalloc,
    /// reading `MIMALLOC_ALLOW_THP` and `MIMALLOC_PURGE_DELAY` itself,
    /// stores them at the indices `configure` writes: values no default has
    /// come back from those indices.
    #[test]
    fn the_environment_wins_and_the_indices_name_the_options() {
        let env = [
            ("MIMALLOC_ALLOW_THP", "7"),
            ("MIMALLOC_PURGE_DELAY", "4321"),
        ];
        assert_eq!(options_in_a_child(&env), (7, 4321, false));
    }

    /// Only the variable a user gives wins: `MIMALLOC_PURGE_DELAY` alone
    /// leaves the huge pages off.
    #[test]
    fn one_variable_leaves_the_other_option_to_the_command() {
        let env = [("mimalloc_purge_delay", "250")];
        assert_eq!(options_in_a_child(&env), (0, 250, true));
    }
}
