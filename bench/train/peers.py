"""Benchmark peers: LightGBM and scikit-learn HistGradientBoostingClassifier on the same files.

    python bench/train/peers.py lightgbm|lightgbm-valid|sklearn DIR PARAMS_JSON

lightgbm-valid is what a LightGBM user waits for in place of `credit-risk train`'s boost stage:
lgb.train with the validation split as a valid set (binned with the training bins, its logloss
evaluated after every tree), early stopping off. Prints {"trainSeconds","cpuSeconds","testAuc",
"peakRssBytes","trees"} (cpuSeconds: user + system CPU of the process over the training, all
threads). Threads come from PARAMS_JSON (LightGBM num_threads; scikit-learn via OMP_NUM_THREADS,
set by the caller).
"""
import json
import resource
import sys
import time

import numpy as np
from sklearn.metrics import roc_auc_score

kind, d, params_json = sys.argv[1], sys.argv[2], sys.argv[3]
params = json.loads(params_json)
meta = json.load(open(f"{d}/meta.json"))
F = len(meta["features"])


def load(part):
    x = np.fromfile(f"{d}/{part}.x.f32", dtype=np.float32).reshape(-1, F)
    y = np.fromfile(f"{d}/{part}.y.u8", dtype=np.uint8)
    return x, y


xtr, ytr = load("train")
if kind in ("lightgbm", "lightgbm-valid"):
    import lightgbm as lgb

    with_valid = kind == "lightgbm-valid"
    xva, yva = load("valid") if with_valid else (None, None)
    cpu_start = time.process_time()
    start = time.perf_counter()
    ds = lgb.Dataset(xtr, label=ytr, params={"max_bin": params["maxBin"], "verbose": -1})
    valid_sets = [lgb.Dataset(xva, label=yva, reference=ds)] if with_valid else None
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": params["leaves"],
            "learning_rate": params["learningRate"],
            "max_bin": params["maxBin"],
            "min_data_in_leaf": 20,
            "min_sum_hessian_in_leaf": 1e-3,
            "lambda_l2": 0.0,
            "num_threads": params["threads"],
            "seed": 42,
            "verbose": -1,
            "metric": "binary_logloss",
        },
        ds,
        num_boost_round=params["trees"],
        valid_sets=valid_sets,
    )
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    xte, yte = load("test")
    p = booster.predict(xte, num_threads=params["threads"])
    trees = booster.num_trees()
elif kind == "sklearn":
    from sklearn.ensemble import HistGradientBoostingClassifier

    cpu_start = time.process_time()
    start = time.perf_counter()
    model = HistGradientBoostingClassifier(
        max_iter=params["trees"],
        learning_rate=params["learningRate"],
        max_leaf_nodes=params["leaves"],
        max_bins=params["maxBin"],
        min_samples_leaf=20,
        l2_regularization=0.0,
        early_stopping=False,
        random_state=42,
    ).fit(xtr, ytr)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    xte, yte = load("test")
    p = model.predict_proba(xte)[:, 1]
    trees = model.n_iter_
else:
    raise SystemExit(f"unknown peer {kind}")

print(
    json.dumps(
        {
            "trainSeconds": seconds,
            "cpuSeconds": cpu_seconds,
            "testAuc": float(roc_auc_score(yte, p)),
            "peakRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "trees": int(trees),
        }
    )
)
