"""Shared fixtures: the repository's paths and the `exfee` command."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NIGHTLY = ROOT / "examples" / "nightly"


def exfee_command():
    """The `exfee` binary: $EXFEE_BIN, else one built in the workspace's
    target folder (or $CARGO_TARGET_DIR), else `cargo run`."""
    if os.environ.get("EXFEE_BIN"):
        return [os.environ["EXFEE_BIN"]]
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release"):
        binary = target / profile / "exfee"
        if binary.is_file():
            return [str(binary)]
    if shutil.which("cargo"):
        return ["cargo", "run", "--quiet", "--manifest-path", str(ROOT / "Cargo.toml"), "--bin", "exfee", "--"]
    pytest.skip("no exfee binary and no cargo")


@pytest.fixture(scope="session")
def exfee_bin():
    return exfee_command()


@pytest.fixture(scope="session")
def nightly():
    return NIGHTLY


def run_cli(command, *args, cwd=None):
    return subprocess.run(list(command) + [str(a) for a in args], cwd=cwd, capture_output=True, text=True)
