"""LightGBM on the same rows and the same search budget as ours (bench/small-data/run.ts).

    .venv/bin/python bench/small-data/lgb_peer.py SPEC_JSON

SPEC_JSON: {"csv", "target", "ignore": [...], "split": {"train","valid","test"} (row indices),
"grid": [{"numLeaves","minDataInLeaf","learningRate"}...], "numTrees", "earlyStoppingRounds", "seed"}.
Every grid point is trained on the train rows with early stopping on validation and scored by
validation AUC; the best one is then (a) scored on test as trained, (b) refit on train +
validation with its best iteration count and scored on test. Prints one JSON object.
"""
import json
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

spec = json.load(open(sys.argv[1]))
df = pd.read_csv(spec["csv"])
y = df[spec["target"]].to_numpy()
x = df.drop(columns=[spec["target"], *spec["ignore"]]).to_numpy(dtype=np.float64)
tr, va, te = (np.array(spec["split"][k], dtype=np.int64) for k in ("train", "valid", "test"))


def params(g):
    return {
        "objective": "binary",
        "num_leaves": g["numLeaves"],
        "min_data_in_leaf": g["minDataInLeaf"],
        "learning_rate": g["learningRate"],
        "max_bin": 255,
        "min_sum_hessian_in_leaf": 1e-3,
        "lambda_l2": 0.0,
        "seed": spec["seed"],
        "deterministic": True,
        "num_threads": 1,
        "verbose": -1,
    }


trials = []
for g in spec["grid"]:
    train = lgb.Dataset(x[tr], label=y[tr])
    valid = lgb.Dataset(x[va], label=y[va], reference=train)
    b = lgb.train(
        params(g),
        train,
        num_boost_round=spec["numTrees"],
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(spec["earlyStoppingRounds"], verbose=False)],
    )
    it = b.best_iteration or spec["numTrees"]
    trials.append(
        {
            **g,
            "trees": it,
            "validAuc": roc_auc_score(y[va], b.predict(x[va], num_iteration=it)),
            "testAuc": roc_auc_score(y[te], b.predict(x[te], num_iteration=it)),
        }
    )
best = max(trials, key=lambda t: t["validAuc"])
both = np.concatenate([tr, va])
refit = lgb.train(
    params(best), lgb.Dataset(x[both], label=y[both]), num_boost_round=best["trees"]
)
print(
    json.dumps(
        {
            "best": best,
            "testAuc": best["testAuc"],
            "refitTestAuc": roc_auc_score(y[te], refit.predict(x[te])),
            "trials": trials,
        }
    )
)
