"""A small ONNX model shaped like the trainer's export, for serving tests: input `features`
[N, 5] float (NaN = missing), a TreeEnsembleRegressor (ai.onnx.ml) of two stumps, then Sigmoid,
output `probability` [N, 1]. Known answer: logit = (nb_previous_loans < 2.5 ? -1 : 1)
+ (years_on_the_job missing or < 3.5 ? 0.5 : -0.5), all times SCALE (default 1: a different scale
gives different bytes, i.e. another registered version).
Usage: python make_fixture_model.py OUT_DIR THRESHOLD [SCALE]"""
import json, sys, os
import onnx
from onnx import helper, TensorProto

out, threshold = sys.argv[1], float(sys.argv[2])
scale = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
os.makedirs(out, exist_ok=True)
features = ["nb_previous_loans", "avg_amount_loans_previous", "age", "years_on_the_job", "flag_own_car"]
trees = helper.make_node(
    "TreeEnsembleRegressor", ["features"], ["logit"], domain="ai.onnx.ml",
    n_targets=1, aggregate_function="SUM", post_transform="NONE",
    nodes_treeids=[0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 0, 1, 2],
    nodes_featureids=[0, 0, 0, 3, 0, 0], nodes_values=[2.5, 0, 0, 3.5, 0, 0],
    nodes_modes=["BRANCH_LT", "LEAF", "LEAF", "BRANCH_LT", "LEAF", "LEAF"],
    nodes_truenodeids=[1, 0, 0, 1, 0, 0], nodes_falsenodeids=[2, 0, 0, 2, 0, 0],
    nodes_missing_value_tracks_true=[0, 0, 0, 1, 0, 0],
    target_treeids=[0, 0, 1, 1], target_nodeids=[1, 2, 1, 2], target_ids=[0, 0, 0, 0],
    target_weights=[w * scale for w in (-1.0, 1.0, 0.5, -0.5)],
)
sig = helper.make_node("Sigmoid", ["logit"], ["probability"])
graph = helper.make_graph(
    [trees, sig], "fixture",
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 5])],
    [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out, "model.onnx"))
with open(os.path.join(out, "card.json"), "w") as f:
    json.dump({"name": "fixture", "features": features, "threshold": threshold}, f)
with open(os.path.join(out, "report.html"), "w") as f:
    f.write("<html><body>fixture</body></html>")
