"""Peer: the same features with Polars (lazy API, the latest release: requirements-peers.txt), the
way a team reaching for the fastest dataframe library today would write them. CSV ->
features.parquet (one row per loan, ordered by loan_date, loan_id) + online.parquet (one row per
customer, ordered by id), the semantics of lib/features/catalog.ts: same-day loans do not see each
other, amounts summed exactly in micro-units, whole years with anniversary semantics, no years on
the job for a job start after the loan date (the 365243 sentinel). No validation (the input is
clean): this peer does less work than our path.

usage: polars_features.py INPUT.csv OUTDIR   -> prints {"seconds": {...}, "rows": N} on stdout
"""

import json
import sys
import time

import polars as pl


def whole_years(frm: pl.Expr, to: pl.Expr) -> pl.Expr:
    before = (to.dt.month() < frm.dt.month()) | ((to.dt.month() == frm.dt.month()) & (to.dt.day() < frm.dt.day()))
    return (to.dt.year() - frm.dt.year() - before.cast(pl.Int32)).cast(pl.Int32)


def main(inp: str, out: str) -> None:
    t = {}
    t0 = time.perf_counter()
    loans = (
        pl.scan_csv(
            inp,
            schema_overrides={
                "loan_id": pl.Int64,
                "id": pl.Int64,
                "status": pl.Int32,
                "amt_income_total": pl.Float64,
                "loan_amount": pl.Float64,
                "birthday": pl.Date,
                "job_start_date": pl.Date,
                "loan_date": pl.Date,
            },
        )
        .select(
            "loan_id",
            "id",
            "loan_date",
            "status",
            "birthday",
            "job_start_date",
            "flag_own_car",
            "amt_income_total",
            "code_gender",
            ((pl.col("loan_amount") * 1e6 + 0.5).floor().cast(pl.Int64)).alias("micro"),
        )
        .with_columns(whole_years(pl.col("birthday"), pl.col("loan_date")).alias("age"))
        .collect()
        .lazy()
    )
    # One row per customer and loan day: what was known strictly before that day.
    history = (
        loans.group_by("id", "loan_date")
        .agg(pl.len().alias("n"), pl.col("micro").sum().alias("s"))
        .sort("id", "loan_date")
        .with_columns(
            (pl.col("n").cum_sum().over("id") - pl.col("n")).alias("prev_n"),
            (pl.col("s").cum_sum().over("id") - pl.col("s")).alias("prev_s"),
            pl.col("loan_date").shift(1).over("id").alias("prev_day"),
        )
        .collect()
        .lazy()
    )
    flag_car = pl.when(pl.col("flag_own_car") == "Y").then(1).when(pl.col("flag_own_car") == "N").then(0).cast(pl.Int32)
    age = pl.col("age")
    features = (
        loans.join(history, on=["id", "loan_date"], how="inner")
        .select(
            "loan_id",
            "id",
            "loan_date",
            "status",
            pl.col("prev_n").cast(pl.Int32).alias("nb_previous_loans"),
            pl.when(pl.col("prev_n") == 0)
            .then(None)
            .otherwise((pl.col("prev_s").cast(pl.Float64) / 1e6) / pl.col("prev_n").cast(pl.Float64))
            .alias("avg_amount_loans_previous"),
            age,
            pl.when(pl.col("job_start_date") > pl.col("loan_date"))
            .then(None)
            .otherwise(whole_years(pl.col("job_start_date"), pl.col("loan_date")))
            .alias("years_on_the_job"),
            flag_car.alias("flag_own_car"),
            (pl.col("loan_date") - pl.col("prev_day")).dt.total_days().cast(pl.Int32).alias("days_since_previous_loan"),
            "amt_income_total",
            "code_gender",
            pl.when(age < 25)
            .then(pl.lit("<25"))
            .when(age < 35)
            .then(pl.lit("25-34"))
            .when(age < 45)
            .then(pl.lit("35-44"))
            .when(age < 55)
            .then(pl.lit("45-54"))
            .when(age < 65)
            .then(pl.lit("55-64"))
            .otherwise(pl.lit("65+"))
            .alias("age_band"),
        )
        .sort("loan_date", "loan_id")
    )
    features.sink_parquet(f"{out}/features.parquet", compression="zstd")
    t["features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    latest = loans.sort("loan_date", "loan_id").group_by("id").last()
    totals = history.group_by("id").agg(pl.col("n").sum().alias("nb_loans"), pl.col("s").sum().alias("s"))
    online = (
        latest.join(totals, on="id")
        .join(history, on=["id", "loan_date"])
        .select(
            pl.col("id").cast(pl.String),
            pl.col("nb_loans").cast(pl.Int32),
            (pl.col("s").cast(pl.Float64) / 1e6).alias("sum_loan_amount"),
            pl.col("loan_date").alias("last_loan_date"),
            pl.col("prev_n").cast(pl.Int32).alias("nb_loans_before_last_date"),
            (pl.col("prev_s").cast(pl.Float64) / 1e6).alias("sum_loan_amount_before_last_date"),
            pl.col("prev_day").alias("previous_loan_date"),
            "birthday",
            "job_start_date",
            flag_car.alias("flag_own_car"),
            "amt_income_total",
        )
        .sort("id")
    )
    online.sink_parquet(f"{out}/online.parquet", compression="zstd")
    t["online"] = time.perf_counter() - t0
    rows = loans.select(pl.len()).collect().item()
    print(json.dumps({"seconds": {k: round(v, 3) for k, v in t.items()}, "rows": rows}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
