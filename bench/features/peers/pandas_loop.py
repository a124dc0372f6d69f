"""Peer: the loop the public solutions of the challenge used, re-written here in their style: for
each customer, select that customer's rows from the whole frame with a boolean mask, then a
shifted expanding mean of loan_amount; age and years on the job "as of today" // 365. It is both
slow (one full scan of the frame per customer) and wrong (ages change every day, same-day loans
see each other, pensioners get about -1000 years on the job): that is what we measure against.

Only the first SAMPLE customers go through the loop; the loop time is extrapolated linearly to
all customers (each iteration scans the whole frame; the growing Series._append makes the real
loop superlinear, so the extrapolation is a lower bound). Everything else (read, sort, rank, dates) runs in full.

usage: pandas_loop.py INPUT.csv SAMPLE -> {"seconds": {...}, "customers", "sampled", "extrapolatedSeconds"}
"""

import json
import sys
import time

import pandas as pd


def main(inp: str, sample: int) -> None:
    t = {}
    t0 = time.perf_counter()
    df = pd.read_csv(inp)
    t["read_csv"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    df = df.sort_values(by=["id", "loan_date"]).reset_index(drop=True)
    df["loan_date"] = pd.to_datetime(df["loan_date"])
    df["nb_previous_loans"] = df.groupby("id")["loan_date"].rank(method="first") - 1
    df["birthday"] = pd.to_datetime(df["birthday"], errors="coerce")
    df["age"] = (pd.to_datetime("today").normalize() - df["birthday"]).dt.days // 365
    df["job_start_date"] = pd.to_datetime(df["job_start_date"], errors="coerce")
    df["years_on_the_job"] = (pd.to_datetime("today").normalize() - df["job_start_date"]).dt.days // 365
    df["flag_own_car"] = df["flag_own_car"].apply(lambda x: 0 if x == "N" else 1)
    t["vectorized_parts"] = time.perf_counter() - t0

    customers = df["id"].unique()
    sampled = customers[:sample]
    t0 = time.perf_counter()
    avg_amount_loans_previous = pd.Series(dtype=float)
    for user in sampled:
        rows = df.loc[df["id"] == user, :]
        # Series._append in a loop, as the public code did: it copies the accumulated Series each
        # time (quadratic), so the linear extrapolation below is a LOWER bound of the full run.
        avg_amount_loans_previous = avg_amount_loans_previous._append(
            rows["loan_amount"].astype(float).rolling(rows.shape[0], min_periods=1).mean().shift(periods=1)
        )
    loop = time.perf_counter() - t0
    t["loop_sampled"] = loop
    extrapolated = loop * len(customers) / max(len(sampled), 1)
    print(json.dumps({
        "seconds": {k: round(v, 3) for k, v in t.items()},
        "customers": int(len(customers)),
        "sampled": int(len(sampled)),
        "extrapolatedLoopSeconds": round(extrapolated, 1),
        "extrapolatedTotalSeconds": round(t["read_csv"] + t["vectorized_parts"] + extrapolated, 1),
    }))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
