"""The nightly batch on Spark (exfee.spark, examples/spark/nightly.py)
against `exfee run` on the same drop: the oracle is the single-machine
night, byte for byte."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

if os.environ.get("EXFEE_REQUIRE_SPARK"):
    import pyspark  # CI (.ci/run) installs it: a missing pyspark fails there
else:
    pyspark = pytest.importorskip(
        "pyspark", reason="pyspark is not installed (.ci/run installs it, with a Java runtime)"
    )

import exfee  # noqa: E402
from exfee import spark as exfee_spark  # noqa: E402

DATE = "2026-11-20"
#: A small Monte Carlo set (keeps CI short): the default set's tables and
#: copula with 40 draws, plus every fixed stress scenario.
SMALL_SET = """
factor_table = "{root}/scenarios/risk-factors-current.csv"
fx_table = "{root}/scenarios/fx-factors-current.csv"
correlation = "{root}/scenarios/correlation-default.csv"
scenarios = 40
seed = 7
include_fixed = true
[copula]
kind = "student-t"
nu = 4.0
"""


@pytest.fixture(scope="module")
def night(tmp_path_factory, exfee_bin):
    """A 5,000-account synthetic drop, a small scenario set and `exfee run`'s
    night on them (the oracle)."""
    base = tmp_path_factory.mktemp("spark")
    drop = base / "drop"
    done = run_cli(exfee_bin, "synth", "--accounts", 5000, "--seed", 3, "--date", DATE,
                   "--mean-positions", 4, "--out", drop)
    assert done.returncode == 0, done.stderr
    # A bad row in the middle of the file: its account must fail with the
    # original file, line and column, as `exfee run` says it.
    positions = drop / "positions.csv"
    lines = positions.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    cells = lines[1000].rstrip("\n").split(",")
    cells[header.index("quantity")] = "ten"
    lines[1000] = ",".join(cells) + "\n"
    positions.write_text("".join(lines))
    scenario_set = base / "small.toml"
    scenario_set.write_text(SMALL_SET.format(root=ROOT))
    oracle = base / "oracle"
    done = run_cli(exfee_bin, "run", drop, "--date", DATE, "--out", oracle, "--scenario-set", scenario_set)
    assert done.returncode == 1, done.stderr  # the bad row fails its account
    return {"base": base, "drop": drop, "set": scenario_set, "oracle": oracle, "bad_line": 1001,
            "bad_account": cells[header.index("account")]}


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    # The Python workers run this interpreter (the one with exfee).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    # local[2,4]: two cores, a task may fail 4 times (local mode retries
    # only with the second number).
    session = (
        SparkSession.builder.master("local[2,4]")
        .appName("exfee-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    yield session
    session.stop()


def exfee_binary():
    command = os.environ.get("EXFEE_BIN")
    if command:
        return command
    for profile in ("debug", "release"):
        candidate = ROOT / "target" / profile / "exfee"
        if candidate.is_file():
            return str(candidate)
    pytest.skip("no exfee binary (set EXFEE_BIN)")


def read_bytes(path):
    return Path(path).read_bytes()


def test_shard_of_is_the_fnv1a_hash():
    # FNV-1a 64 reference vectors (Fowler, Noll, Vo): "" -> cbf29ce484222325,
    # "a" -> af63dc4c8601ec8c, "foobar" -> 85944171f73967e8.
    assert exfee_spark.shard_of("", 1 << 63) == 0xCBF29CE484222325 % (1 << 63)
    assert exfee_spark.shard_of("a", 1000) == 0xAF63DC4C8601EC8C % 1000
    assert exfee_spark.shard_of("foobar", 7) == 0x85944171F73967E8 % 7
    with pytest.raises(ValueError):
        exfee_spark.shard_of("a", 0)


def test_spark_night_equals_exfee_run(night, spark, tmp_path, exfee_bin):
    out = tmp_path / "out"
    code = exfee_spark.run_night(spark, str(night["drop"]), DATE, str(out), partitions=5,
                                 scenario_set=str(night["set"]), exfee_bin=exfee_binary())
    assert code == 1  # as exfee run: one account failed
    oracle = night["oracle"]
    for name in ("results.csv", "errors.csv", "options.csv", "changes.csv", "fees_by_class.csv"):
        assert read_bytes(out / "current" / name) == read_bytes(oracle / "current" / name), name
    assert read_bytes(out / "results.csv") == read_bytes(oracle / "results.csv")
    # The reports and index.html too (the same charge over the same records).
    assert read_bytes(out / "current" / "index.html") == read_bytes(oracle / "current" / "index.html")
    reports = sorted(p.relative_to(oracle / "current") for p in (oracle / "current" / "reports").rglob("*") if p.is_file())
    assert len(reports) > 10
    assert reports == sorted(p.relative_to(out / "current") for p in (out / "current" / "reports").rglob("*") if p.is_file())
    for name in reports:
        assert read_bytes(out / "current" / name) == read_bytes(oracle / "current" / name), name
    # Every account once, in the drop's order.
    with open(out / "results.csv", newline="") as f:
        accounts = [row[0] for row in csv.reader(f)][1:]
    with open(night["drop"] / "accounts.csv", newline="") as f:
        want = [row[0] for row in csv.reader(f)][1:]
    assert accounts == want and len(accounts) == 5000
    # The bad row fails its account with the original line and column.
    failed = [line for line in (out / "results.csv").read_text().splitlines()
              if line.startswith(night["bad_account"] + ",")]
    assert len(failed) == 1
    assert f"line {night['bad_line']}" in failed[0] and "quantity" in failed[0]
    # The shard files are those of `exfee evaluate --shard I/5`, byte for byte.
    evaluations = out / "evaluations" / DATE
    for index in (0, 3):
        shard_dir = tmp_path / f"shard{index}"
        done = run_cli(exfee_bin, "evaluate", night["drop"], "--date", DATE, "--shard", f"{index}/5",
                       "--scenario-set", night["set"], "--out", shard_dir)
        assert done.returncode == 0, done.stderr
        name = f"shard-{index}-of-5.evaluation.parquet"
        assert read_bytes(evaluations / name) == read_bytes(shard_dir / name), name


def test_a_task_killed_half_way_is_retried_exactly(night, spark, tmp_path):
    out = tmp_path / "out"
    folder = tmp_path / "evaluations"
    context = spark.sparkContext
    context.setJobGroup("kill-test", "a task killed half-way")
    try:
        code = exfee_spark.run_night(spark, str(night["drop"]), DATE, str(out), partitions=3,
                                     scenario_set=str(night["set"]), exfee_bin=exfee_binary(),
                                     evaluations=str(folder), reports=False, fail_once=1)
    finally:
        context.setJobGroup("other", "")
    assert code == 1
    # The kill happened: one task attempt failed, and was retried.
    tracker = context.statusTracker()
    failed = 0
    for job in tracker.getJobIdsForGroup("kill-test"):
        info = tracker.getJobInfo(job)
        for stage in info.stageIds if info else ():
            stage_info = tracker.getStageInfo(stage)
            failed += stage_info.numFailedTasks if stage_info else 0
    assert failed == 1
    assert read_bytes(out / "results.csv") == read_bytes(night["oracle"] / "results.csv")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"shard-{i}-of-3.evaluation.parquet" for i in range(3)], names


def test_nightly_example_from_the_command_line(night, tmp_path, exfee_bin):
    """examples/spark/nightly.py as a user runs it, on examples/broken (bad
    rows in every file): results.csv and errors.csv as `exfee run`'s, every
    error at its original file, line and column."""
    drop = ROOT / "examples" / "broken"
    oracle = tmp_path / "oracle"
    done = run_cli(exfee_bin, "run", drop, "--date", DATE, "--out", oracle, "--scenario-set", night["set"],
                   "--no-reports")
    assert done.returncode == 1, done.stderr
    out = tmp_path / "out"
    env = dict(os.environ, EXFEE_BIN=exfee_binary())
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "spark" / "nightly.py"), "--drop", str(drop),
         "--date", DATE, "--out", str(out), "--partitions", "3", "--scenario-set", str(night["set"]),
         "--master", "local[2]", "--no-reports"],
        capture_output=True, text=True, env=env,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    for name in ("results.csv", "errors.csv"):
        assert read_bytes(out / name) == read_bytes(oracle / name), name
    assert len((out / "errors.csv").read_text().splitlines()) > 5


def test_a_record_spread_over_lines_is_refused_with_its_line(spark, tmp_path):
    # examples/hostile/accounts.csv line 8 opens a quoted account id that
    # closes on line 9 (read by hand): one line is not one record there.
    with pytest.raises(exfee_spark.SparkNightError, match=r"hostile/accounts\.csv line 8: a quoted field"):
        exfee_spark.evaluate_on_spark(spark, str(ROOT / "examples" / "hostile"), DATE, str(tmp_path / "e"),
                                      partitions=2)
