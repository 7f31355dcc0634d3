#!/usr/bin/env python3
"""exfee's nightly batch on Apache Spark (see README.md beside this file).

    spark-submit examples/spark/nightly.py --drop DIR --date D --out OUT [--partitions N] [--state FILE]
    python examples/spark/nightly.py --drop DIR --date D --out OUT          # local mode

Evaluates every account of the drop on the cluster (one task per shard of
the `exfee evaluate --shard` hash), then charges the night once, on the
driver, with `exfee charge`: OUT/results.csv is byte for byte that of
`exfee run DIR --date D --out OUT` with the same options. Exit code as
`exfee run`: 0 every account evaluated, 1 some failed (outputs written),
2 the night could not be done.
"""

import argparse
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drop", required=True, help="the drop folder (accounts.csv, positions.csv, cash.csv, market/)")
    parser.add_argument("--date", required=True, help="valuation date YYYY-MM-DD (the night charged)")
    parser.add_argument("--out", required=True, help="output folder (results.csv, reports, state.sqlite)")
    parser.add_argument("--partitions", type=int, help="shards (Spark tasks); default: the default parallelism")
    parser.add_argument("--state", help="state database (default OUT/state.sqlite)")
    parser.add_argument("--scenario-set", help="scenario-set TOML (as exfee run --scenario-set)")
    parser.add_argument("--fee", help="fee schedule TOML (as exfee run --fee)")
    parser.add_argument("--holidays", help="holidays file (as exfee run --holidays)")
    parser.add_argument("--horizon-days", type=int, default=0)
    parser.add_argument("--memory-budget", type=int, default=512, help="revaluation block budget per task, MiB")
    parser.add_argument("--no-reports", action="store_true")
    parser.add_argument("--evaluations", help="folder for the evaluation files, seen by executors and driver "
                        "(default OUT/evaluations/DATE)")
    parser.add_argument("--exfee-bin", help="the exfee binary for the charge (default $EXFEE_BIN, else PATH)")
    parser.add_argument("--master", help="Spark master when not set by spark-submit (default local[*])")
    args = parser.parse_args(argv)

    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    from exfee import ExfeeError
    from exfee.spark import SparkNightError, run_night

    builder = SparkSession.builder.appName(f"exfee nightly {args.date}")
    if args.master:
        builder = builder.master(args.master)
    elif not SparkConf().contains("spark.master"):
        builder = builder.master("local[*]")
    master = args.master or SparkConf().get("spark.master", "local[*]")
    if master.startswith("local"):
        # Local mode: the Python workers run this interpreter (the one that
        # has the exfee package), unless told otherwise.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = builder.getOrCreate()
    try:
        return run_night(
            spark,
            args.drop,
            args.date,
            args.out,
            partitions=args.partitions,
            state=args.state,
            scenario_set=args.scenario_set,
            fee=args.fee,
            holidays=args.holidays,
            horizon_days=args.horizon_days,
            memory_budget_mib=args.memory_budget,
            reports=not args.no_reports,
            evaluations=args.evaluations,
            exfee_bin=args.exfee_bin,
        )
    except (SparkNightError, ExfeeError) as error:
        print(f"exfee spark: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a Spark job aborted (a task failed every attempt)
        print(f"exfee spark: the night could not be done: {error}", file=sys.stderr)
        return 2
    finally:
        spark.stop()


if __name__ == "__main__":
    sys.exit(main())
