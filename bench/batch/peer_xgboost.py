#!/usr/bin/python3
"""peer_xgboost.py — the Python peer for bench/batch: trains XGBoost on spam.csv with the same
parameters as the flywheel model (100 trees, depth 6, learning rate 0.3, hist, nthread=2), then
  end-to-end: pandas read_csv(INPUT) -> predict (nthread=2) -> to_csv(OUTPUT) with the id, the
              label, the probability, the model version and a timestamp;
  scoring:    predict on the same rows in memory (a float32 matrix; DMatrix built outside the
              timing, afresh each time since XGBoost caches a DMatrix's predictions) and
              inplace_predict on the matrix, best of 3 each (rows/s).
Usage: peer_xgboost.py SPAM.csv INPUT.csv OUTPUT.csv [e2e|score] [REPS]
Each figure is the best of REPS (default 2) end-to-end runs / 3 predict runs, in wall seconds and
process CPU seconds (all threads). Prints key=value lines."""
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb


def main():
    spam, inp, out = sys.argv[1], sys.argv[2], sys.argv[3]
    only_score = len(sys.argv) > 4 and sys.argv[4] == "score"
    train = pd.read_csv(spam)
    y = (train["type"] == "spam").astype(np.int32).to_numpy()
    feats = [c for c in train.columns if c != "type"]
    params = {"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "tree_method": "hist",
              "nthread": 2, "max_bin": 256, "seed": 42}
    bst = xgb.train(params, xgb.DMatrix(train[feats].to_numpy(np.float32), label=y), num_boost_round=100)
    bst.set_param({"nthread": 2})

    reps = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    df = None
    if not only_score:
        best, best_cpu = 1e9, 1e9
        for _ in range(reps):
            del df
            t0, c0 = time.perf_counter(), time.process_time()
            df = pd.read_csv(inp)
            p = bst.inplace_predict(df[feats].to_numpy(np.float32))
            stamp = pd.Timestamp.now(tz="UTC").isoformat()
            res = pd.DataFrame({"id": df["id"], "prediction": np.where(p >= 0.5, "spam", "nonspam"),
                                "score": p, "model_version": "1", "scored_at": stamp})
            res.to_csv(out, index=False)
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
            del res
        print(f"python_e2e_s={best:.3f}")
        print(f"python_e2e_cpu_s={best_cpu:.3f}")
        print(f"python_e2e_rows={len(df)}")
        print(f"python_e2e_rows_per_s={len(df) / best:.0f}")
    else:
        df = pd.read_csv(inp)
    m = df[feats].to_numpy(np.float32)
    # a fresh DMatrix each time: XGBoost caches the predictions of a DMatrix it has seen
    best, best_cpu = 1e9, 1e9
    for _ in range(3):
        dm = xgb.DMatrix(m, nthread=2)
        t0, c0 = time.perf_counter(), time.process_time()
        bst.predict(dm)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        del dm
    print(f"xgboost_predict_s={best:.3f}")
    print(f"xgboost_predict_cpu_s={best_cpu:.3f}")
    print(f"xgboost_predict_rows_per_s={len(m) / best:.0f}")
    best, best_cpu = 1e9, 1e9
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        bst.inplace_predict(m)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    print(f"xgboost_inplace_predict_s={best:.3f}")
    print(f"xgboost_inplace_predict_cpu_s={best_cpu:.3f}")
    print(f"xgboost_inplace_predict_rows_per_s={len(m) / best:.0f}")


if __name__ == "__main__":
    main()
