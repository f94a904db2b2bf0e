"""peer_fastapi.py — the peer for bench/serve/run.sh: a carefully written FastAPI + uvicorn app
(one worker) serving a 100-tree XGBoost model trained on spam, one row per request, with no pandas
on the request path: a precomputed feature-name -> column map fills a preallocated numpy row and
XGBoost's inplace_predict scores it.

Usage: python3 peer_fastapi.py SPAM_CSV PORT
"""
import csv
import sys

import numpy as np
import uvicorn
import xgboost as xgb
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, data = rows[0], rows[1:]
    label = header.index("type") if "type" in header else len(header) - 1
    feats = [h for i, h in enumerate(header) if i != label]
    X = np.array([[float(v) for i, v in enumerate(r) if i != label] for r in data], dtype=np.float32)
    y = np.array([1.0 if r[label] in ("1", "spam", "yes") else 0.0 for r in data], dtype=np.float32)
    return feats, X, y


feats, X, y = load(sys.argv[1])
# the same family and size as flywheel's model: 100 trees of depth 6, learning rate 0.3, hist
booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "nthread": 1,
                     "tree_method": "hist"},
                    xgb.DMatrix(X, label=y), num_boost_round=100)
index = {name: i for i, name in enumerate(feats)}
app = FastAPI()


@app.post("/v1/models/spam:predict")
async def predict(request: Request):
    body = await request.json()
    out = []
    for inst in body["instances"]:
        row = np.full((1, len(feats)), np.nan, dtype=np.float32)
        for k, v in inst.items():
            j = index.get(k)
            if j is not None:
                row[0, j] = v
        p = float(booster.inplace_predict(row)[0])
        out.append({"label": "spam" if p >= 0.5 else "ham", "probabilities": {"ham": 1 - p, "spam": p},
                    "score": p, "threshold": 0.5, "abstained": False})
    return JSONResponse({"model": "spam", "version": "1", "predictions": out})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", workers=1,
                access_log=False)
