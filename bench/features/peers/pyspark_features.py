"""Peer: the same features with PySpark in local mode (DataFrame API and window functions), the
way a team reaching for Spark would write them. CSV -> features/ + online/ Parquet directories
(ordered as ours: features by loan_date, loan_id; online by id).
No validation (the input is clean). Reports its own phases; the caller measures the process.

usage: pyspark_features.py INPUT.csv OUTDIR [driver_memory]
"""

import json
import sys
import time

t_start = time.perf_counter()

from pyspark.sql import SparkSession, Window  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402


def whole_years(frm, to):
    before = (F.month(to) < F.month(frm)) | ((F.month(to) == F.month(frm)) & (F.dayofmonth(to) < F.dayofmonth(frm)))
    return (F.year(to) - F.year(frm) - F.when(before, 1).otherwise(0)).cast("int")


def main(inp: str, out: str, driver_memory: str) -> None:
    t = {}
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    t["jvm_start"] = time.perf_counter() - t_start

    t0 = time.perf_counter()
    schema = T.StructType(
        [T.StructField(n, T.StringType()) for n in ["loan_id", "id", "code_gender", "flag_own_car", "flag_own_realty", "cnt_children", "amt_income_total", "name_income_type", "name_education_type", "name_family_status", "name_housing_type", "days_birth", "days_employed", "flag_mobil", "flag_work_phone", "flag_phone", "flag_email", "occupation_type", "cnt_fam_members", "status", "birthday", "job_start_date", "loan_date", "loan_amount"]]
    )
    raw = spark.read.csv(inp, header=True, schema=schema)
    loans = raw.select(
        F.col("loan_id").cast("long").alias("loan_id"),
        F.col("id").cast("long").alias("id"),
        F.to_date("loan_date").alias("loan_date"),
        F.col("code_gender"),
        F.col("status").cast("int").alias("status"),
        F.to_date("birthday").alias("birthday"),
        F.to_date("job_start_date").alias("job_start_date"),
        F.col("flag_own_car"),
        F.col("amt_income_total").cast("double").alias("amt_income_total"),
        F.floor(F.col("loan_amount").cast("double") * 1e6 + 0.5).alias("micro"),
    )
    days = loans.groupBy("id", "loan_date").agg(F.count("*").alias("n"), F.sum("micro").alias("s"))
    earlier = Window.partitionBy("id").orderBy("loan_date").rowsBetween(Window.unboundedPreceding, -1)
    history = days.select(
        "id",
        "loan_date",
        F.coalesce(F.sum("n").over(earlier), F.lit(0)).alias("prev_n"),
        F.coalesce(F.sum("s").over(earlier), F.lit(0)).alias("prev_s"),
        F.lag("loan_date").over(Window.partitionBy("id").orderBy("loan_date")).alias("prev_day"),
    ).cache()
    f = loans.join(history, ["id", "loan_date"]).withColumn("age", whole_years(F.col("birthday"), F.col("loan_date")))
    features = f.select(
        "loan_id",
        "id",
        "loan_date",
        "status",
        F.col("prev_n").cast("int").alias("nb_previous_loans"),
        F.when(F.col("prev_n") == 0, F.lit(None)).otherwise((F.col("prev_s").cast("double") / 1e6) / F.col("prev_n").cast("double")).alias("avg_amount_loans_previous"),
        F.col("age"),
        F.when(F.col("job_start_date") > F.col("loan_date"), F.lit(None)).otherwise(whole_years(F.col("job_start_date"), F.col("loan_date"))).alias("years_on_the_job"),
        F.when(F.col("flag_own_car") == "Y", 1).otherwise(0).alias("flag_own_car"),
        F.datediff("loan_date", "prev_day").alias("days_since_previous_loan"),
        "amt_income_total",
        "code_gender",
        F.when(F.col("age") < 25, "<25")
        .when(F.col("age") < 35, "25-34")
        .when(F.col("age") < 45, "35-44")
        .when(F.col("age") < 55, "45-54")
        .when(F.col("age") < 65, "55-64")
        .otherwise("65+")
        .alias("age_band"),
    ).orderBy("loan_date", "loan_id")
    features.write.mode("overwrite").parquet(f"{out}/features")
    t["features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    latest_w = Window.partitionBy("id").orderBy(F.col("loan_date").desc(), F.col("loan_id").desc())
    latest = loans.withColumn("r", F.row_number().over(latest_w)).where("r = 1")
    totals = days.groupBy("id").agg(F.sum("n").alias("nb_loans"), F.sum("s").alias("s"))
    online = (
        totals.join(latest, "id")
        .join(history.withColumnRenamed("loan_date", "hd"), ["id"])
        .where(F.col("hd") == F.col("loan_date"))
        .select(
            F.col("id").cast("string").alias("id"),
            F.col("nb_loans").cast("int"),
            (F.col("s").cast("double") / 1e6).alias("sum_loan_amount"),
            F.col("loan_date").alias("last_loan_date"),
            F.col("prev_n").cast("int").alias("nb_loans_before_last_date"),
            (F.col("prev_s").cast("double") / 1e6).alias("sum_loan_amount_before_last_date"),
            F.col("prev_day").alias("previous_loan_date"),
            "birthday",
            "job_start_date",
            F.when(F.col("flag_own_car") == "Y", 1).otherwise(0).alias("flag_own_car"),
            "amt_income_total",
        )
        .orderBy("id")
    )
    online.write.mode("overwrite").parquet(f"{out}/online")
    t["online"] = time.perf_counter() - t0
    spark.stop()
    print(json.dumps({"seconds": {k: round(v, 3) for k, v in t.items()}}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "2g")
