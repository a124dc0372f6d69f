"""Reference SHAP values of our trees, by the `shap` package and by LightGBM, from explainer.json.

Used by test/integration/model/shap-reference.test.ts (agreement within 1e-6) and by bench/shap
(the batch comparison). Both references read the SAME trees, covers and leaf values our
TypeScript explainer reads (lib/model/explainer-artifact.ts):

  shap      shap.TreeExplainer on shap's own tree dict (children_left/right/default, features,
            thresholds, values, node_sample_weight), feature_perturbation="tree_path_dependent":
            shap's C++ Algorithm 2 with our covers as node_sample_weight.
  lightgbm  our trees written as a LightGBM model text (split thresholds, decision types for
            missing values, leaf values, internal_count/leaf_count = our covers), then
            Booster.predict(pred_contrib=True): LightGBM's own TreeSHAP.

Routing parity. Our split sends x left when x < t (t a float32 number) and NaN by missingLeft.
Both references send x left when x <= t' and a missing value to the default child. With
t' = the largest double below t, x <= t' holds exactly when x < t for every double x, so every
float32 input (converted to double exactly) takes the same path. The one exception is t = -inf
(a "missing or not" split, no value goes left): no double t' makes -inf <= t' false, so rows
holding -inf are outside the comparison (the TypeScript tests cover them against brute force).
LightGBM gets missing type NaN (decision_type bit 3), so only NaN is "missing", never 0.

Our base score has no slot in a LightGBM model: it is added to every leaf of the first tree, which
moves only the bias column (a constant added to every leaf of a tree changes no Shapley value).

Usage:
  shap_reference.py --explainer explainer.json --rows X.f32 --impl shap|lightgbm
                    [--threads N] [--processes N] [--out contributions.f64] [--lightgbm-model-out model.txt]
cpuSeconds: CPU time of the SHAP call (every thread of the process, or of the forked processes),
which a busy machine inflates less than wall time. --threads: LightGBM's OpenMP threads. --processes: shap's C++ TreeSHAP is single-threaded, so N
forked processes each explain a contiguous share of the rows into one shared output file (what a
user does to put shap on N cores); seconds is the wall time from the fork to the last one done.
X.f32: row-major float32 [rows, features]. Writes float64 [rows, features + 1] (bias last) to
--out and one JSON line to stdout: impl, rows, seconds (the SHAP call only), setupSeconds, threads.
"""
import argparse
import json
import sys
import time

import numpy as np


def load(path):
    with open(path, "r", encoding="utf-8") as f:
        doc = json.load(f)
    trees = []
    for t in doc["trees"]:
        thr = [float("inf") if v == "Infinity" else float("-inf") if v == "-Infinity" else float(v) for v in t["threshold"]]
        trees.append(
            {
                "feature": np.array(t["feature"], dtype=np.int64),
                "threshold": np.array(thr, dtype=np.float64),
                "missingLeft": np.array(t["missingLeft"], dtype=np.int64),
                "left": np.array(t["left"], dtype=np.int64),
                "right": np.array(t["right"], dtype=np.int64),
                "value": np.array(t["value"], dtype=np.float64),
                "count": np.array(t["count"], dtype=np.float64),
            }
        )
    return doc["featureNames"], float(doc["baseScore"]), trees


def below(t):
    """The largest double below t: x <= below(t) exactly when x < t."""
    return np.nextafter(t, -np.inf)


def shap_explainer(trees, base_score):
    import shap

    dict_trees = []
    for t in trees:
        leaf = t["left"] < 0
        dict_trees.append(
            {
                "children_left": np.where(leaf, -1, t["left"]).astype(np.int32),
                "children_right": np.where(leaf, -1, t["right"]).astype(np.int32),
                "children_default": np.where(leaf, -1, np.where(t["missingLeft"] == 1, t["left"], t["right"])).astype(np.int32),
                "features": np.where(leaf, 0, t["feature"]).astype(np.int32),
                "thresholds": np.where(leaf, 0.0, below(t["threshold"])),
                # shap recomputes internal nodes' values as cover-weighted means (compute_expectations).
                "values": t["value"].reshape(-1, 1),
                "node_sample_weight": t["count"],
            }
        )
    model = {"trees": dict_trees, "base_offset": base_score, "input_dtype": np.float64, "internal_dtype": np.float64}
    return shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")


def shap_in_processes(explainer, X64, processes, out_path):
    """Forked workers, each a contiguous share of the rows, writing into one memory-mapped file."""
    import multiprocessing as mp

    if not out_path:
        raise SystemExit("--processes needs --out (the shared output file)")
    rows, F = X64.shape
    result = np.lib.format.open_memmap(out_path + ".npy", mode="w+", dtype=np.float64, shape=(rows, F + 1))
    del result
    bounds = np.linspace(0, rows, processes + 1).astype(int)

    def work(lo, hi):
        mm = np.load(out_path + ".npy", mmap_mode="r+")
        phi = explainer.shap_values(X64[lo:hi], check_additivity=False)
        mm[lo:hi, :F] = np.asarray(phi, dtype=np.float64).reshape(hi - lo, F)
        mm[lo:hi, F] = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)[0]
        mm.flush()

    import os

    ctx = mp.get_context("fork")
    before = os.times()
    start = time.perf_counter()
    children = [ctx.Process(target=work, args=(int(bounds[i]), int(bounds[i + 1]))) for i in range(processes)]
    for c in children:
        c.start()
    for c in children:
        c.join()
        if c.exitcode != 0:
            raise SystemExit(f"a shap worker process failed (exit {c.exitcode})")
    seconds = time.perf_counter() - start
    after = os.times()
    cpu_seconds = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    out = np.load(out_path + ".npy")
    os.remove(out_path + ".npy")
    return out, seconds, cpu_seconds


def lightgbm_text(names, base_score, trees):
    """Our trees as a LightGBM v4 model text (see the module docstring for the mapping)."""
    multi = [t for t in trees if t["left"][0] >= 0]
    constant = base_score + sum(float(t["value"][0]) for t in trees if t["left"][0] < 0)
    if not multi:
        raise SystemExit("every tree is a single leaf: nothing for LightGBM to load")
    blocks = []
    for index, t in enumerate(multi):
        n = len(t["left"])
        internal = [i for i in range(n) if t["left"][i] >= 0]
        leaves = [i for i in range(n) if t["left"][i] < 0]
        # The root must be internal node 0.
        internal.sort(key=lambda i: (i != 0, i))
        iid = {node: k for k, node in enumerate(internal)}
        lid = {node: k for k, node in enumerate(leaves)}

        def child(c):
            return iid[c] if t["left"][c] >= 0 else -(lid[c] + 1)

        leaf_value = [float(t["value"][i]) + (constant if index == 0 else 0.0) for i in leaves]
        decision = [8 | (2 if t["missingLeft"][i] == 1 else 0) for i in internal]
        # -inf has no double below it; -DBL_MAX is what LightGBM itself writes for it (AvoidInf).
        thresholds = [max(below(t["threshold"][i]), -np.finfo(np.float64).max) for i in internal]
        fmt = lambda xs: " ".join(repr(float(x)) if isinstance(x, (float, np.floating)) else str(int(x)) for x in xs)
        blocks.append(
            "\n".join(
                [
                    f"Tree={index}",
                    f"num_leaves={len(leaves)}",
                    "num_cat=0",
                    "split_feature=" + fmt(t["feature"][i] for i in internal),
                    "split_gain=" + " ".join("0" for _ in internal),
                    "threshold=" + " ".join(repr(float(x)) for x in thresholds),
                    "decision_type=" + " ".join(str(d) for d in decision),
                    "left_child=" + " ".join(str(child(t["left"][i])) for i in internal),
                    "right_child=" + " ".join(str(child(t["right"][i])) for i in internal),
                    "leaf_value=" + " ".join(repr(v) for v in leaf_value),
                    "leaf_weight=" + " ".join("0" for _ in leaves),
                    "leaf_count=" + " ".join(str(int(t["count"][i])) for i in leaves),
                    "internal_value=" + " ".join("0" for _ in internal),
                    "internal_weight=" + " ".join("0" for _ in internal),
                    "internal_count=" + " ".join(str(int(t["count"][i])) for i in internal),
                    "is_linear=0",
                    "shrinkage=1",
                ]
            )
            + "\n\n"
        )
    for t in multi:
        if not np.all(t["count"] == np.round(t["count"])):
            raise SystemExit("LightGBM stores covers as integer counts; these trees have fractional covers")
    header = "\n".join(
        [
            "tree",
            "version=v4",
            "num_class=1",
            "num_tree_per_iteration=1",
            "label_index=0",
            f"max_feature_idx={len(names) - 1}",
            "objective=binary sigmoid:1",
            "feature_names=" + " ".join(names),
            "feature_infos=" + " ".join("[-1e+300:1e+300]" for _ in names),
        ]
    )
    return header + "\n\n" + "".join(blocks) + "end of trees\n\nparameters:\nend of parameters\n\npandas_categorical:null\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--explainer", required=True)
    p.add_argument("--rows", required=True)
    p.add_argument("--impl", choices=["shap", "lightgbm"], required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--out")
    p.add_argument("--lightgbm-model-out")
    a = p.parse_args()

    names, base_score, trees = load(a.explainer)
    F = len(names)
    X = np.fromfile(a.rows, dtype=np.float32).reshape(-1, F)
    setup = time.perf_counter()
    if a.impl == "shap":
        explainer = shap_explainer(trees, base_score)
        X64 = X.astype(np.float64)
        setup_seconds = time.perf_counter() - setup
        if a.processes > 1:
            out, seconds, cpu_seconds = shap_in_processes(explainer, X64, a.processes, a.out)
        else:
            start = time.perf_counter()
            cpu = time.process_time()
            phi = explainer.shap_values(X64, check_additivity=False)
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu
            bias = np.broadcast_to(np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)[0], (X.shape[0], 1))
            out = np.hstack([np.asarray(phi, dtype=np.float64).reshape(X.shape[0], F), bias])
    else:
        import lightgbm

        text = lightgbm_text(names, base_score, trees)
        if a.lightgbm_model_out:
            with open(a.lightgbm_model_out, "w", encoding="utf-8") as f:
                f.write(text)
        booster = lightgbm.Booster(model_str=text)
        setup_seconds = time.perf_counter() - setup
        start = time.perf_counter()
        cpu = time.process_time()
        out = booster.predict(X, pred_contrib=True, num_threads=a.threads)
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu
        out = np.asarray(out, dtype=np.float64)
    if a.out and out is not None:
        np.ascontiguousarray(out, dtype=np.float64).tofile(a.out)
    print(
        json.dumps(
            {
                "impl": a.impl,
                "rows": int(X.shape[0]),
                "features": F,
                "trees": len(trees),
                "seconds": seconds,
                "cpuSeconds": cpu_seconds,
                "setupSeconds": setup_seconds,
                "threads": a.threads if a.impl == "lightgbm" else 1,
                "processes": a.processes if a.impl == "shap" else 1,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
