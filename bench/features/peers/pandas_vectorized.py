"""Peer: the same features with vectorized pandas (groupby / cumsum), written to be correct.

CSV -> features.parquet (one row per loan, ordered by loan_date, loan_id) + online.parquet (one row
per customer, ordered by id), zstd, as ours writes them; the semantics
of lib/features/catalog.ts: same-day loans do not see each other, amounts summed exactly in
micro-units, whole years with anniversary semantics, no years on the job for the 365243 sentinel.
No validation (the input is clean): this peer does less work than our path.

usage: pandas_vectorized.py INPUT.csv OUTDIR   -> prints {"seconds": {...}, "rows": N} on stdout
"""

import json
import sys
import time

import numpy as np
import pandas as pd


def ymd(days: np.ndarray):
    """year, month, day of datetime64[D] values (numpy handles the year-3000 sentinel dates)."""
    years = days.astype("datetime64[Y]")
    months = days.astype("datetime64[M]")
    return (
        years.astype(np.int64) + 1970,
        months.astype(np.int64) % 12 + 1,
        (days - months).astype(np.int64) + 1,
    )


def whole_years(frm: np.ndarray, to: np.ndarray) -> np.ndarray:
    fy, fm, fd = ymd(frm)
    ty, tm, td = ymd(to)
    before = (tm < fm) | ((tm == fm) & (td < fd))
    return ty - fy - before.astype(np.int64)


def main(inp: str, out: str) -> None:
    t = {}
    t0 = time.perf_counter()
    df = pd.read_csv(
        inp,
        engine="pyarrow",
        usecols=["loan_id", "id", "code_gender", "flag_own_car", "amt_income_total", "status", "birthday", "job_start_date", "loan_date", "loan_amount"],
        dtype={"birthday": str, "job_start_date": str, "loan_date": str, "flag_own_car": str, "code_gender": str},
    )
    t["read_csv"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    loan_day = df["loan_date"].to_numpy(dtype="datetime64[D]")
    birthday = df["birthday"].to_numpy(dtype="datetime64[D]")
    job = df["job_start_date"].to_numpy(dtype="datetime64[D]")
    df["loan_day"] = loan_day
    df["micro"] = np.floor(df["loan_amount"].to_numpy() * 1e6 + 0.5).astype(np.int64)

    days = df.groupby(["id", "loan_day"], sort=True).agg(n=("loan_id", "size"), s=("micro", "sum")).reset_index()
    by_id = days.groupby("id", sort=False)
    days["prev_n"] = by_id["n"].cumsum() - days["n"]
    days["prev_s"] = by_id["s"].cumsum() - days["s"]
    days["prev_day"] = by_id["loan_day"].shift()
    f = df.merge(days[["id", "loan_day", "prev_n", "prev_s", "prev_day"]], on=["id", "loan_day"], how="left")

    prev_n = f["prev_n"].to_numpy()
    avg = np.where(prev_n == 0, np.nan, (f["prev_s"].to_numpy().astype(np.float64) / 1e6) / np.maximum(prev_n, 1))
    job_f = f["job_start_date"].to_numpy(dtype="datetime64[D]")
    ld = f["loan_day"].to_numpy(dtype="datetime64[D]")
    prev_day = f["prev_day"].to_numpy(dtype="datetime64[D]")
    yoj = whole_years(job_f, ld)
    age = whole_years(f["birthday"].to_numpy(dtype="datetime64[D]"), ld).astype("int32")
    bands = np.array(["<25", "25-34", "35-44", "45-54", "55-64", "65+"], dtype=object)
    features = pd.DataFrame(
        {
            "loan_id": f["loan_id"].astype("int64"),
            "id": f["id"].astype("int64"),
            "loan_date": ld,
            "status": f["status"].astype("int32"),
            "nb_previous_loans": prev_n.astype("int32"),
            "avg_amount_loans_previous": avg,
            "age": age,
            "years_on_the_job": pd.arrays.IntegerArray(np.where(job_f > ld, 0, yoj).astype(np.int32), job_f > ld),
            "flag_own_car": (f["flag_own_car"] == "Y").astype("int32"),
            "days_since_previous_loan": pd.arrays.IntegerArray(np.where(np.isnat(prev_day), 0, (ld - prev_day).astype(np.int64)).astype(np.int32), np.isnat(prev_day)),
            "amt_income_total": f["amt_income_total"].astype("float64"),
            "code_gender": f["code_gender"],
            "age_band": bands[np.searchsorted([25, 35, 45, 55, 65], age, side="right")],
        }
    )
    t["features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # The same output as ours: rows ordered by loan_date, loan_id; zstd.
    features = features.sort_values(["loan_date", "loan_id"], ignore_index=True)
    features.to_parquet(f"{out}/features.parquet", index=False, compression="zstd")
    t["write_features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    latest = df.sort_values(["id", "loan_day", "loan_id"]).drop_duplicates("id", keep="last").set_index("id")
    totals = days.groupby("id").agg(nb_loans=("n", "sum"), s=("s", "sum"))
    last_day = days.drop_duplicates("id", keep="last").set_index("id")
    online = pd.DataFrame(
        {
            "id": totals.index.astype(str),
            "nb_loans": totals["nb_loans"].astype("int32").to_numpy(),
            "sum_loan_amount": totals["s"].to_numpy().astype(np.float64) / 1e6,
            "last_loan_date": last_day["loan_day"].to_numpy(),
            "nb_loans_before_last_date": last_day["prev_n"].astype("int32").to_numpy(),
            "sum_loan_amount_before_last_date": last_day["prev_s"].to_numpy().astype(np.float64) / 1e6,
            "previous_loan_date": last_day["prev_day"].to_numpy(),
            "birthday": latest["birthday"].to_numpy(dtype="datetime64[D]"),
            "job_start_date": latest["job_start_date"].to_numpy(dtype="datetime64[D]"),
            "flag_own_car": (latest["flag_own_car"] == "Y").astype("int32").to_numpy(),
            "amt_income_total": latest["amt_income_total"].to_numpy(),
        }
    )
    online = online.sort_values("id", ignore_index=True)
    online.to_parquet(f"{out}/online.parquet", index=False, compression="zstd")
    t["online"] = time.perf_counter() - t0
    print(json.dumps({"seconds": {k: round(v, 3) for k, v in t.items()}, "rows": len(features)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
