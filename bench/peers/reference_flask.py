"""The challenge's reference design, reproduced for the serve bench: a Flask app that unpickles a
scikit-learn RandomForestClassifier at start, and per request looks the customer's latest row up
in SQLite (a connection per request, Flask's documented `g` pattern), builds the feature row and
calls predict_proba. Served by Flask's own server (`python reference_flask.py`) or by gunicorn
(`gunicorn -w 2 reference_flask:app`, default sync workers).

It answers with the same contract as ours (200 body, 404 UNKNOWN_CUSTOMER, 400 INVALID_JSON /
INVALID_ID) so the bench's request mix gets the same status codes from every target.
Environment: FOREST (pickle from prepare_peers.py), SQLITE (customer_features), PORT.
"""
import json
import os
import pickle
import sqlite3
from datetime import date

import numpy as np
from flask import Flask, Response, g, request

from online_features import error, feature_vector, parse_id

with open(os.environ["FOREST"], "rb") as f:
    bundle = pickle.load(f)
MODEL = bundle["model"]
FEATURES = bundle["features"]
THRESHOLD = bundle["threshold"]
VERSION = "reference-random-forest"
DATABASE = os.environ["SQLITE"]

app = Flask(__name__)


def get_db():
    if "db" not in g:
        g.db = sqlite3.connect(DATABASE)
        g.db.row_factory = sqlite3.Row
    return g.db


@app.teardown_appcontext
def close_db(_exc):
    db = g.pop("db", None)
    if db is not None:
        db.close()


def answer(status, body):
    return Response(json.dumps(body), status=status, mimetype="application/json")


@app.route("/predict", methods=["POST"])
def predict():
    cid, problem = parse_id(request.get_data())
    if problem:
        return answer(*problem)
    row = get_db().execute("SELECT * FROM customer_features WHERE id = ?", (cid,)).fetchone()
    if row is None:
        return answer(404, error("UNKNOWN_CUSTOMER", f"customer {cid} is not in the feature store"))
    vector = feature_vector(dict(row), date.today())
    x = np.array([[np.nan if vector[n] is None else vector[n] for n in FEATURES]], dtype=np.float32)
    probability = float(MODEL.predict_proba(x)[0, 1])
    return answer(200, {
        "id": cid,
        "prediction": int(probability >= THRESHOLD),
        "probability": probability,
        "threshold": THRESHOLD,
        "modelVersion": VERSION,
        "featureSnapshot": "sqlite",
    })


if __name__ == "__main__":
    # Flask's own server, as the reference design ran it (threaded, its default).
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
