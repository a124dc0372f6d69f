"""Glue job: the project's feature SQL on Spark.

A thin wrapper, on purpose: the features are defined once, in lib/features/sql/features.sql, and this
job runs that text unchanged on Spark SQL, as DuckDB runs it in the Lambda. It is used when the
data outgrows one machine; tests run it on local pyspark and hold its rows identical to DuckDB's.

Arguments (Glue job parameters; locally the same names as command-line flags):
  --input        validated loans (the raw_valid table): a Parquet file or directory, local or s3://
  --output       output prefix: <output>/features/ (one row per loan) and <output>/online/
                 (one row per customer), Parquet, overwritten
  --sql_path     the feature SQL file (local path or s3:// object), or --sql with the text itself
  --as_of        the snapshot date YYYY-MM-DD (recorded; validation already quarantined later loans)
  --shuffle_partitions, --driver_memory   local-mode tuning (Glue sizes its own workers)

In Glue, arguments come through awsglue.utils.getResolvedOptions, which finds only the exact
names above (underscores: the job definition sets --sql_path); without awsglue (local runs, tests)
an argparse parser accepts the same names, with '-' or '_'. The training state machine passes
--input s3://<features>/staging/<snapshotId>/raw_valid.parquet (validated by the extract
function's prepare stage), --output s3://<features>/staging/<snapshotId>/spark/ and --as_of; its
publish stage turns the output into the snapshot (lib/features/staging.ts).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

REQUIRED = ("input", "output")
OPTIONAL = ("sql_path", "sql", "as_of", "shuffle_partitions", "driver_memory", "master")
STATEMENT_MARKER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$")


def parse_args(argv: list[str]) -> dict[str, str | None]:
    """Job arguments as a dict: Glue's resolver when present, argparse otherwise."""
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        getResolvedOptions = None

    if getResolvedOptions is not None:
        # getResolvedOptions has no optional arguments: ask only for those that were passed.
        present = [name for name in OPTIONAL if f"--{name}" in argv]
        resolved = getResolvedOptions(argv, list(REQUIRED) + present)
        args: dict[str, str | None] = {name: resolved.get(name) for name in REQUIRED + OPTIONAL}
    else:
        parser = argparse.ArgumentParser(description="Run the feature SQL on Spark (local mode)")
        for name in REQUIRED + OPTIONAL:
            flags = sorted({f"--{name}", f"--{name.replace('_', '-')}"})
            parser.add_argument(*flags, dest=name, required=name in REQUIRED, default=None)
        args = vars(parser.parse_args(argv[1:]))
    if not args.get("sql_path") and not args.get("sql"):
        raise SystemExit("extract_features: one of --sql_path or --sql is required")
    return args


def split_statements(text: str) -> dict[str, str]:
    """The statements of the SQL file by name, in file order (the same rule as lib/features/feature-sql.ts)."""
    statements: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = STATEMENT_MARKER.match(line)
        if m:
            current = m.group(1)
            if current in statements:
                raise ValueError(f'feature SQL: statement "{current}" is defined twice')
            statements[current] = []
        elif current is not None:
            statements[current].append(line)
    out = {name: re.sub(r";\s*$", "", "\n".join(lines).strip()) for name, lines in statements.items()}
    if "features" not in out or "online" not in out:
        raise ValueError('feature SQL: needs a "features" and an "online" statement')
    return out


def read_sql_text(spark, args: dict[str, str | None]) -> str:
    if args.get("sql"):
        return str(args["sql"])
    # wholetext reads a local file or an s3:// object alike.
    return spark.read.text(str(args["sql_path"]), wholetext=True).first()[0]


def create_spark(args: dict[str, str | None]):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("credit-risk-extract-features")
    try:
        import awsglue  # type: ignore[import-not-found]  # noqa: F401

        in_glue = True
    except ImportError:
        in_glue = False
    if not in_glue:
        builder = (
            builder.master(args.get("master") or "local[2]")
            .config("spark.sql.shuffle.partitions", args.get("shuffle_partitions") or "4")
            .config("spark.driver.memory", args.get("driver_memory") or "1g")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.sources.partitionOverwriteMode", "static")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run(spark, input_path: str, output: str, sql_text: str) -> dict[str, int]:
    """Registers the input as raw_valid, runs the views, writes the two queries. Returns row counts."""
    statements = split_statements(sql_text)
    spark.read.parquet(input_path).createOrReplaceTempView("raw_valid")
    for name, sql in statements.items():
        if name not in ("features", "online"):
            spark.sql(sql)
    counts: dict[str, int] = {}
    for name in ("features", "online"):
        df = spark.sql(statements[name])
        target = f"{output.rstrip('/')}/{name}"
        df.write.mode("overwrite").parquet(target)
        counts[name] = spark.read.parquet(target).count()
    return counts


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.time()
    spark = create_spark(args)
    try:
        counts = run(spark, str(args["input"]), str(args["output"]), read_sql_text(spark, args))
    finally:
        spark.stop()
    print(json.dumps({"rows": counts, "asOf": args.get("as_of"), "seconds": round(time.time() - started, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
