#!/usr/bin/python3
"""peer_xgboost.py OUTDIR TASK — the XGBoost side of bench/gbdt/run.sh: reads the same
OUTDIR/{train,test}.bin that bench_gbdt wrote (i64 n, i64 d, f64 y[n], f32 X[n*d]), trains
100 trees, depth 6, eta 0.3, tree_method=hist, nthread=2, and prints the same key=value lines
(wall seconds, and process CPU seconds for the *_cpu_* keys); batch scoring with 2 threads and
then with 1 thread (nthread=1)."""
import sys
import time

import numpy as np
import xgboost as xgb


def read_bin(path):
    with open(path, "rb") as f:
        n, d = np.frombuffer(f.read(16), dtype="<i8")
        y = np.frombuffer(f.read(8 * n), dtype="<f8").copy()
        X = np.frombuffer(f.read(4 * n * d), dtype="<f4").reshape(n, d).copy()
    return X, y


def auc(p, y):
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ranks = np.empty(len(p))
    i = 0
    while i < len(p):
        j = i
        while j < len(p) and ps[j] == ps[i]:
            j += 1
        ranks[order[i:j]] = (i + j + 1) / 2.0
        i = j
    npos = (y > 0.5).sum()
    nneg = len(y) - npos
    return (ranks[y > 0.5].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def main():
    out, task = sys.argv[1], sys.argv[2]
    Xtr, ytr = read_bin(out + "/train.bin")
    Xte, yte = read_bin(out + "/test.bin")
    params = {"max_depth": 6, "eta": 0.3, "tree_method": "hist", "nthread": 2, "max_bin": 256,
              "seed": 42}
    if task == "binary":
        params["objective"] = "binary:logistic"
    elif task == "multiclass":
        params["objective"] = "multi:softprob"
        params["num_class"] = int(ytr.max()) + 1
    else:
        params["objective"] = "reg:squarederror"
    t0, c0 = time.perf_counter(), time.process_time()
    dtr = xgb.DMatrix(Xtr, label=ytr, nthread=2)
    bst = xgb.train(params, dtr, num_boost_round=100)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    best = best_cpu = 1e30
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        p = bst.inplace_predict(Xte)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    n = len(yte)
    bst.set_param({"nthread": 1})
    best1 = best1_cpu = 1e30
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        bst.inplace_predict(Xte)
        best1 = min(best1, time.perf_counter() - t0)
        best1_cpu = min(best1_cpu, time.process_time() - c0)
    bst.set_param({"nthread": 2})
    reps = min(n, 2000)
    t0 = time.perf_counter()
    for i in range(reps):
        bst.inplace_predict(Xte[i:i + 1])
    lat = (time.perf_counter() - t0) / reps
    print("xgboost_train_s=%.4f" % train_s)
    print("xgboost_train_cpu_s=%.4f" % train_cpu)
    if task == "binary":
        q = np.clip(p, 1e-15, 1 - 1e-15)
        ll = -np.mean(np.where(yte > 0.5, np.log(q), np.log(1 - q)))
        print("xgboost_metric_auc=%.6f" % auc(p, yte))
        print("xgboost_logloss=%.6f" % ll)
        print("xgboost_accuracy=%.6f" % np.mean((p > 0.5) == (yte > 0.5)))
    elif task == "multiclass":
        print("xgboost_metric_accuracy=%.6f" % np.mean(np.argmax(p, axis=1) == yte))
    else:
        print("xgboost_metric_rmse=%.6f" % np.sqrt(np.mean((p - yte) ** 2)))
    print("xgboost_predict_rows_per_s=%.0f" % (n / best))
    print("xgboost_predict_rows_per_cpu_s=%.0f" % (n / best_cpu))
    print("xgboost_predict_1thread_rows_per_s=%.0f" % (n / best1))
    print("xgboost_predict_1thread_rows_per_cpu_s=%.0f" % (n / best1_cpu))
    print("xgboost_single_row_us=%.3f (Python inplace_predict, includes interpreter overhead)"
          % (lat * 1e6))


if __name__ == "__main__":
    main()
