"""The nightly batch on Apache Spark: evaluate in parallel, charge once.

:func:`run_night` reads a drop folder (``accounts.csv``, ``positions.csv``,
``cash.csv`` and ``market/``) with Spark, routes every row of the account
files to the shard of the account it names (the hash of ``exfee evaluate
--shard I/N``, :func:`shard_of`), evaluates each shard in one task with
``mapInArrow`` (Arrow batches of raw rows in, Arrow batches of per-account
results out) and the engine's own code, writes one evaluation file per shard
(``shard-I-of-N.evaluation.parquet``, the format of ``exfee evaluate``), then
runs ``exfee charge`` on the driver over them. Design, broadcast and retries:
docs/scaling.md ("On Spark") and examples/spark/README.md.

The engine's reader stays the only parser and validator: Spark moves raw
lines, each with its line number in the original file, and each task hands
its lines to the Rust reader at their original line numbers, so a bad row
fails its account with the same file, line, column and reason as ``exfee
run``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from . import _exfee

__all__ = ["SparkNightError", "evaluate_on_spark", "run_night", "shard_of"]

#: The account files, in the order the reader reads them (an account's
#: place in the input is that of its first row in this order).
ACCOUNT_FILES = ("accounts", "positions", "cash")
#: The market files, read once on the driver and broadcast.
MARKET_FILES = ("fx", "factors", "underlyings", "rates")
#: The per-account columns the evaluation tasks return (those of the
#: evaluation file but its ``detail`` JSON).
RESULT_COLUMNS = (
    "position",
    "account",
    "base_currency",
    "status",
    "nlv",
    "worst_loss",
    "uncovered",
    "worst_scenario",
    "subject",
)


class SparkNightError(Exception):
    """The Spark night cannot be done as asked (an input it cannot split, an
    account missing or twice, ``exfee charge`` failing)."""


def shard_of(account: str, count: int) -> int:
    """The shard of ``count`` that ``account`` belongs to: the one stable
    hash of ``exfee evaluate --shard I/N`` (FNV-1a of the UTF-8 id, mod N)."""
    return _exfee.shard_of(account, count)


def _uri(path: str) -> str:
    """A local path as a URI Spark reads from the local file system (a path
    with a scheme, e.g. ``hdfs://``, is kept)."""
    if "://" in path:
        return path
    return "file://" + os.path.abspath(path)


def _result_schema() -> Any:
    from pyspark.sql.types import (
        BooleanType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    text = StringType()
    return StructType(
        [
            StructField("position", LongType(), False),
            StructField("account", text, False),
            StructField("base_currency", text, True),
            StructField("status", text, False),
            StructField("nlv", text, True),
            StructField("worst_loss", text, True),
            StructField("uncovered", text, True),
            StructField("worst_scenario", LongType(), True),
            StructField("subject", BooleanType(), False),
        ]
    )


def _input_schema() -> Any:
    from pyspark.sql.types import (
        BinaryType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    return StructType(
        [
            StructField("shard", LongType(), False),
            StructField("kind", StringType(), False),  # "row" or "place"
            StructField("file", IntegerType(), True),  # index in ACCOUNT_FILES
            StructField("line", LongType(), True),  # line number in that file
            StructField("raw", BinaryType(), True),  # the line as read
            StructField("account", StringType(), True),
            StructField("place", LongType(), True),  # the account's place in the input
        ]
    )


def _route(file: int, header_line: int, header: bytes, count: int):
    """The routing of one account file's (raw line, index) pairs: each line
    after the header to the shard of the account it names, lines naming no
    account to every shard, lines whose quotes do not balance flagged."""

    def route(pairs: Iterator[Tuple[bytes, int]]) -> Iterator[Tuple]:
        lines: List[Tuple[int, bytes]] = []
        for raw, index in pairs:
            line = index + 1
            if line > header_line and raw != b"":
                lines.append((line, raw))
        if not lines:
            return
        accounts, spanning = _exfee.route_lines(header, [raw for _, raw in lines])
        for index in spanning:
            yield ("spans", None, file, lines[index][0], None, None)
        for (line, raw), account in zip(lines, accounts):
            if account is None:
                yield ("all", None, file, line, raw, None)
            else:
                yield ("row", _exfee.shard_of(account, count), file, line, raw, account)

    return route


def _first_record(rdd: Any) -> Optional[Tuple[int, bytes]]:
    """The header: the first non-empty line, with its line number."""
    found = rdd.filter(lambda pair: pair[0] != b"").take(1)
    if not found:
        return None
    raw, index = found[0]
    return index + 1, raw


def evaluate_on_spark(
    spark: Any,
    drop: str,
    date: str,
    evaluations: str,
    partitions: Optional[int] = None,
    scenario_set: Optional[str] = None,
    fee: Optional[str] = None,
    horizon_days: int = 0,
    memory_budget_mib: int = 512,
    fail_once: Optional[int] = None,
) -> Dict[str, int]:
    """The evaluation half on Spark: every account of the drop at ``drop``
    evaluated in ``partitions`` shards (default: the context's default
    parallelism), one ``shard-I-of-N.evaluation.parquet`` per shard holding
    accounts, written into ``evaluations`` (a folder every executor and the
    driver see; emptied of evaluation files first).

    ``fail_once`` (tests): the first attempt of that shard's task kills its
    Python worker half-way through returning its results, as a lost
    executor would; Spark retries the task (``spark.task.maxFailures``, in
    local mode ``local[N,F]``).

    Returns ``{"accounts": …, "shards": …}``; raises
    :class:`SparkNightError` when an account is missing or twice among the
    results.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import TaskContext
    from pyspark.sql import functions as F

    sc = spark.sparkContext
    count = int(partitions or sc.defaultParallelism)
    if count < 1:
        raise ValueError("partitions must be at least 1")
    drop_dir = str(drop)
    base = Path(drop_dir)
    out_dir = Path(evaluations).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.evaluation.parquet"):
        old.unlink()

    # Read once on the driver and broadcast: the market files and the
    # scenario set (configuration and tables) and the fee schedule.
    market: Dict[str, bytes] = {}
    for name in MARKET_FILES:
        path = base / "market" / f"{name}.csv"
        if path.is_file():
            market[name] = path.read_bytes()
    bundle = _exfee.scenario_bundle(scenario_set)
    fee_text = Path(fee).read_text() if fee else None

    # Each account file as (raw line, index) pairs, in file order.
    headers: Dict[int, Tuple[int, bytes]] = {}
    routed = []
    for file, name in enumerate(ACCOUNT_FILES):
        path = base / f"{name}.csv"
        if name == "cash" and not path.exists():
            continue
        if not path.exists():
            headers[file] = (0, b"")  # let the reader say what is missing
            continue
        lines = sc.textFile(_uri(str(path)), use_unicode=False).zipWithIndex()
        header = _first_record(lines)
        if header is None:
            headers[file] = (0, b"")
            continue
        headers[file] = header
        routed.append(lines.mapPartitions(_route(file, header[0], header[1], count)))

    def common_files(extra_rows: Dict[int, List[Tuple[int, bytes]]]) -> Dict[str, List[Tuple[int, bytes]]]:
        files: Dict[str, List[Tuple[int, bytes]]] = {}
        for file, (line, raw) in headers.items():
            if line == 0 and raw == b"" and not (base / f"{ACCOUNT_FILES[file]}.csv").exists():
                continue  # absent: the reader reports it
            files[ACCOUNT_FILES[file]] = ([(line, raw)] if line else []) + list(extra_rows.get(file, []))
        return files

    # The headers, read by the engine on the driver first: a missing file
    # or column stops the night here, named as `exfee run` names it.
    _exfee.part_stocks(drop_dir, common_files({}), market, bundle)

    all_routed = sc.union(routed) if routed else sc.emptyRDD()
    all_routed.persist()
    shared = all_routed.filter(lambda r: r[0] != "row").map(lambda r: (r[0], r[2], r[3], r[4])).collect()
    spans = sorted((file, line) for kind, file, line, _ in shared if kind == "spans")
    if spans:
        file, line = spans[0]
        raise SparkNightError(
            f"{base / (ACCOUNT_FILES[file] + '.csv')} line {line}: a quoted field goes on past the "
            "line end; the Spark night reads one record per line: evaluate this drop with "
            "`exfee run` or `exfee evaluate --shard`"
        )
    # Rows naming no account: every shard reads them (their errors are the
    # whole night's, the same in every evaluation file).
    everywhere: Dict[int, List[Tuple[int, bytes]]] = {}
    for kind, file, line, raw in shared:
        everywhere.setdefault(file, []).append((line, raw))
    common = sc.broadcast(
        {
            "files": common_files(everywhere),
            "market": market,
            "scenario": bundle,
            "fee": fee_text,
        }
    )

    rows = all_routed.filter(lambda r: r[0] == "row")
    # Each account's place in the input: the order of its first row over
    # accounts.csv, positions.csv, cash.csv (the reader's order).
    places = (
        rows.map(lambda r: (r[5], (r[2], r[3])))
        .reduceByKey(min)
        .map(lambda kv: (kv[1], kv[0]))
        .sortByKey(numPartitions=count)
        .zipWithIndex()
        .map(lambda kvi: (_exfee.shard_of(kvi[0][1], count), ("place", None, None, None, kvi[0][1], kvi[1])))
    )
    by_shard = (
        rows.map(lambda r: (r[1], ("row", r[2], r[3], r[4], r[5], None)))
        .union(places)
        .partitionBy(count, lambda shard: shard)
    )
    by_shard.persist()

    def gather(items: Sequence[Tuple[str, Any, Any, Any, Any, Any]]):
        extra: Dict[int, List[Tuple[int, bytes]]] = {}
        place: Dict[str, int] = {}
        for kind, file, line, raw, account, where in items:
            if kind == "row":
                extra.setdefault(file, []).append((line, raw))
            else:
                place[account] = where
        files = {}
        for name, lines in common.value["files"].items():
            files[name] = list(lines) + extra.get(ACCOUNT_FILES.index(name), [])
        return files, place

    # Pass 1: the night's single stocks (every shard's scenarios move all
    # of them: the scenarios of the full run).
    def part_stocks(items: Iterator[Tuple[int, Tuple]]) -> Iterator[Tuple[str, int]]:
        values = [v for _, v in items]
        if not values:
            return iter(())
        files, _ = gather(values)
        night = common.value
        return iter(_exfee.part_stocks(drop_dir, files, night["market"], night["scenario"]))

    stocks_found: Dict[str, int] = {}
    for symbol, bits in sorted(by_shard.mapPartitions(part_stocks).collect()):
        stocks_found.setdefault(symbol, bits)
    stocks = sc.broadcast(sorted(stocks_found.items()))

    # Pass 2: each shard evaluated in one task, through mapInArrow.
    frame = spark.createDataFrame(
        by_shard.map(lambda kv: (kv[0],) + tuple(kv[1])),
        _input_schema(),
    )
    out_text = str(out_dir)

    def evaluate_shard(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        received = [b for b in batches if b.num_rows]
        if not received:
            return
        table = pa.Table.from_batches(received)
        shard_ids = set(table.column("shard").to_pylist())
        context = TaskContext.get()
        if len(shard_ids) != 1 or context.partitionId() not in shard_ids:
            raise SparkNightError(f"partition {context.partitionId()} holds shards {sorted(shard_ids)}")
        items = zip(*(table.column(c).to_pylist() for c in ("kind", "file", "line", "raw", "account", "place")))
        files, place = gather(list(items))
        index = context.partitionId()
        path = os.path.join(out_text, f"shard-{index}-of-{count}.evaluation.parquet")
        night = common.value
        _exfee.evaluate_part_file(
            drop_dir,
            files,
            night["market"],
            night["scenario"],
            index,
            count,
            place,
            stocks.value,
            path,
            date,
            horizon_days,
            memory_budget_mib,
            night["fee"],
        )
        # Spark has no unsigned integers: positions and scenario indices as int64.
        results = pq.read_table(path, columns=list(RESULT_COLUMNS)).cast(
            pa.schema(
                [
                    ("position", pa.int64()),
                    ("account", pa.string()),
                    ("base_currency", pa.string()),
                    ("status", pa.string()),
                    ("nlv", pa.string()),
                    ("worst_loss", pa.string()),
                    ("uncovered", pa.string()),
                    ("worst_scenario", pa.int64()),
                    ("subject", pa.bool_()),
                ]
            )
        )
        out_batches = results.to_batches(max_chunksize=max(1, (results.num_rows + 1) // 2))
        for number, batch in enumerate(out_batches):
            yield batch
            if fail_once == index and context.attemptNumber() == 0 and number == 0:
                os._exit(17)  # a worker lost half-way through its results

    results = frame.mapInArrow(evaluate_shard, _result_schema())
    summary = results.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("account").alias("accounts"),
        F.countDistinct("position").alias("positions"),
        F.min("position").alias("first"),
        F.max("position").alias("last"),
    ).collect()[0]
    expected = by_shard.filter(lambda kv: kv[1][0] == "place").count()
    by_shard.unpersist()
    all_routed.unpersist()
    if not (summary["rows"] == summary["accounts"] == summary["positions"] == expected) or (
        expected and (summary["first"], summary["last"]) != (0, expected - 1)
    ):
        raise SparkNightError(
            f"{expected} account(s) in the input but {summary['rows']} result row(s) for "
            f"{summary['accounts']} account(s): an account is missing or twice"
        )
    shards = sorted(p.name for p in out_dir.glob("*.evaluation.parquet"))
    return {"accounts": int(expected), "shards": len(shards)}


def find_exfee_binary(given: Optional[str] = None) -> str:
    """The ``exfee`` binary for the charge: ``given``, else ``$EXFEE_BIN``,
    else ``exfee`` on the PATH; always as an absolute path."""
    candidate = given or os.environ.get("EXFEE_BIN") or shutil.which("exfee")
    if not candidate:
        raise SparkNightError("no exfee binary: give --exfee-bin, set EXFEE_BIN or put exfee on the PATH")
    path = Path(candidate).resolve()
    if not path.is_file():
        raise SparkNightError(f"exfee binary {path} not found")
    return str(path)


def run_night(
    spark: Any,
    drop: str,
    date: str,
    out: str,
    partitions: Optional[int] = None,
    state: Optional[str] = None,
    scenario_set: Optional[str] = None,
    fee: Optional[str] = None,
    holidays: Optional[str] = None,
    horizon_days: int = 0,
    memory_budget_mib: int = 512,
    reports: bool = True,
    evaluations: Optional[str] = None,
    exfee_bin: Optional[str] = None,
    fail_once: Optional[int] = None,
) -> int:
    """The whole night: :func:`evaluate_on_spark` into ``evaluations``
    (default ``OUT/evaluations/DATE``), then ``exfee charge`` on the driver
    into ``out`` (``results.csv``, reports, state). Returns the charge's exit
    code: 0 every account evaluated, 1 some failed (outputs written, as
    ``exfee run``); anything else raises :class:`SparkNightError`."""
    binary = find_exfee_binary(exfee_bin)
    folder = evaluations or os.path.join(out, "evaluations", date)
    evaluate_on_spark(
        spark,
        drop,
        date,
        folder,
        partitions=partitions,
        scenario_set=scenario_set,
        fee=fee,
        horizon_days=horizon_days,
        memory_budget_mib=memory_budget_mib,
        fail_once=fail_once,
    )
    command = [binary, "charge", "--evaluations", folder, "--date", date, "--out", out]
    if state:
        command += ["--state", state]
    if scenario_set:
        command += ["--scenario-set", scenario_set]
    if fee:
        command += ["--fee", fee]
    if holidays:
        command += ["--holidays", holidays]
    if not reports:
        command.append("--no-reports")
    done = subprocess.run(command)
    if done.returncode not in (0, 1):
        raise SparkNightError(f"exfee charge failed (exit code {done.returncode}): {' '.join(command)}")
    return done.returncode
