"""The strong Python peer for the serve bench: Starlette on uvicorn (uvloop + httptools), the SAME
model.onnx as our server in onnxruntime (one intra-op thread, like ours), and the same online rows
in SQLite (one connection per worker, opened at start, queried inline: a primary-key lookup takes
microseconds, less than a thread-pool hop). Run with `uvicorn --workers 2` (one per core).

Same contract as ours. Environment: MODEL_DIR (model.onnx + card.json), SQLITE.
"""
import json
import os
import sqlite3
from datetime import date

import numpy as np
import onnxruntime as ort
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from online_features import error, feature_vector, parse_id

MODEL_DIR = os.environ["MODEL_DIR"]
with open(os.path.join(MODEL_DIR, "card.json")) as f:
    CARD = json.load(f)
FEATURES = CARD["features"]
THRESHOLD = CARD["threshold"]
VERSION = CARD.get("version", "onnx")

options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
SESSION = ort.InferenceSession(os.path.join(MODEL_DIR, "model.onnx"), options, providers=["CPUExecutionProvider"])
INPUT = SESSION.get_inputs()[0].name
OUTPUTS = [o.name for o in SESSION.get_outputs()]
PROBABILITY = next((n for n in OUTPUTS if n.lower().startswith("prob")), OUTPUTS[-1])

DB = sqlite3.connect(os.environ["SQLITE"], check_same_thread=False)
DB.row_factory = sqlite3.Row


def answer(status, body):
    return Response(json.dumps(body), status_code=status, media_type="application/json")


async def predict(request):
    cid, problem = parse_id(await request.body())
    if problem:
        return answer(*problem)
    row = DB.execute("SELECT * FROM customer_features WHERE id = ?", (cid,)).fetchone()
    if row is None:
        return answer(404, error("UNKNOWN_CUSTOMER", f"customer {cid} is not in the feature store"))
    vector = feature_vector(dict(row), date.today())
    x = np.array([[np.nan if vector[n] is None else vector[n] for n in FEATURES]], dtype=np.float32)
    out = SESSION.run([PROBABILITY], {INPUT: x})[0]
    probability = float(out[0, -1] if out.ndim == 2 else out[0])
    return answer(200, {
        "id": cid,
        "prediction": int(probability >= THRESHOLD),
        "probability": probability,
        "threshold": THRESHOLD,
        "modelVersion": VERSION,
        "featureSnapshot": "sqlite",
    })


app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
