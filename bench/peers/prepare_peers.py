"""The peers' side of the serve bench data (bench/peers/prepare.ts runs this once per prepared home).

Usage: prepare_peers.py FEATURES_PARQUET ONLINE_PARQUET OUT_SQLITE OUT_PICKLE FEATURES_JSON SEED

- OUT_SQLITE: table customer_features, one row per customer (the latest state), the SAME rows and
  columns as the online store our server reads (online.parquet, published into PGlite); dates as
  ISO text, id the primary key. This is the challenge reference design's "latest row per
  customer" lookup.
- OUT_PICKLE: {"model": RandomForestClassifier(), "features": [...], "threshold": 0.5}, trained
  on the same feature table as our GBDT, with scikit-learn's DEFAULT parameters, as the challenge
  trained it (random_state fixed so the file is reproducible; n_jobs is used for fitting only and
  reset to the default before pickling, so serving predicts exactly as a default forest does).
  Missing values stay NaN: scikit-learn >= 1.4 forests split on them natively.
"""
import json
import os
import pickle
import sqlite3
import sys
import time

import pyarrow.parquet as pq
from sklearn.ensemble import RandomForestClassifier

features_parquet, online_parquet, out_sqlite, out_pickle, features_json, seed = sys.argv[1:7]
features = json.loads(features_json)

t = time.time()
online = pq.read_table(online_parquet).to_pandas()
for col in ("last_loan_date", "previous_loan_date", "birthday", "job_start_date"):
    online[col] = online[col].map(lambda d: None if d is None or d != d else d.isoformat())
if os.path.exists(out_sqlite):
    os.remove(out_sqlite)
db = sqlite3.connect(out_sqlite)
db.execute(
    """CREATE TABLE customer_features (
         id TEXT PRIMARY KEY, nb_loans INTEGER, sum_loan_amount REAL, last_loan_date TEXT,
         nb_loans_before_last_date INTEGER, sum_loan_amount_before_last_date REAL, previous_loan_date TEXT,
         birthday TEXT, job_start_date TEXT, flag_own_car INTEGER, amt_income_total REAL)"""
)
columns = ["id", "nb_loans", "sum_loan_amount", "last_loan_date", "nb_loans_before_last_date",
           "sum_loan_amount_before_last_date", "previous_loan_date", "birthday", "job_start_date",
           "flag_own_car", "amt_income_total"]
rows = [tuple(None if (v is None or v != v) else (v.item() if hasattr(v, "item") else v) for v in r)
        for r in online[columns].itertuples(index=False, name=None)]
db.executemany(f"INSERT INTO customer_features VALUES ({','.join('?' * len(columns))})", rows)
db.commit()
db.close()
print(f"[peers] {len(rows)} customers in {out_sqlite} ({time.time() - t:.1f} s)", file=sys.stderr)

t = time.time()
table = pq.read_table(features_parquet).to_pandas()
X = table[features].astype("float32").to_numpy()
y = table["status"].astype("int64").to_numpy()
forest = RandomForestClassifier(random_state=int(seed), n_jobs=-1)
forest.fit(X, y)
forest.n_jobs = None
with open(out_pickle, "wb") as f:
    pickle.dump({"model": forest, "features": features, "threshold": 0.5}, f, protocol=pickle.HIGHEST_PROTOCOL)
nodes = sum(e.tree_.node_count for e in forest.estimators_)
print(f"[peers] random forest: {len(forest.estimators_)} trees, {nodes} nodes, trained on {len(y)} loans in "
      f"{time.time() - t:.1f} s, {os.path.getsize(out_pickle) / 2**20:.0f} MiB pickled", file=sys.stderr)
