#!/usr/bin/python3
"""peer.py — the benchmark's table, XGBoost side and judge (bench/rank/run.sh).
  peer.py split FULL WORK   group split of FULL (examples/ranking/make_data.py --full) by query,
                            80/20 with numpy seed 42: WORK/train.csv, WORK/test.csv sorted by
                            query, grades (cut, color, clarity) as ordinal codes, qid integer
  peer.py xgb WORK THREADS  XGBRanker(objective='rank:ndcg', 100 rounds, depth 6, eta 0.3,
                            tree_method='hist') on train.csv; prints fit wall / CPU seconds;
                            writes WORK/xgb.pred (one test score per line)
  peer.py ndcg WORK PRED    mean NDCG@10 over test queries: sklearn.metrics.ndcg_score per
                            query (a one-row query scores 1 when relevant, else 0, as sklearn's
                            definition gives); the same judge for both sides"""
import csv
import sys
import time

import numpy as np

LEVELS = {
    "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
    "color": ["D", "E", "F", "G", "H", "I", "J"],
    "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
}
FEATS = ["cut", "color", "clarity", "depth", "table", "x", "y", "z"]


def load(path):
    rows = list(csv.DictReader(open(path, newline="")))
    X = np.array([[float(r[f]) for f in FEATS] for r in rows], dtype=np.float32)
    y = np.array([float(r["relevance"]) for r in rows])
    q = np.array([int(r["qid"]) for r in rows])
    return X, y, q


def split(full, work):
    rows = list(csv.DictReader(open(full, newline="")))
    queries = sorted({r["query"] for r in rows})
    rng = np.random.default_rng(42)
    order = rng.permutation(len(queries))
    n_test = int(round(0.2 * len(queries)))
    test_q = {queries[i] for i in order[:n_test]}
    qid = {q: i for i, q in enumerate(queries)}
    for name, keep in (("train", lambda r: r["query"] not in test_q), ("test", lambda r: r["query"] in test_q)):
        sel = sorted((r for r in rows if keep(r)), key=lambda r: qid[r["query"]])
        with open("%s/%s.csv" % (work, name), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["qid"] + FEATS + ["relevance"])
            for r in sel:
                vals = [LEVELS[c].index(r[c]) if c in LEVELS else r[c] for c in FEATS]
                w.writerow([qid[r["query"]]] + vals + [r["relevance"]])
        print("%s: %d rows, %d queries" % (name, len(sel), len({r["query"] for r in sel})))


def xgb(work, threads):
    import xgboost
    X, y, q = load(work + "/train.csv")
    T, _, _ = load(work + "/test.csv")
    m = xgboost.XGBRanker(objective="rank:ndcg", n_estimators=100, max_depth=6, learning_rate=0.3,
                          tree_method="hist", n_jobs=int(threads), random_state=42)
    w0, c0 = time.perf_counter(), time.process_time()
    m.fit(X, y, qid=q)
    w1, c1 = time.perf_counter(), time.process_time()
    np.savetxt(work + "/xgb.pred", m.predict(T), fmt="%.9g")
    print("fit_wall_s=%.4f fit_cpu_s=%.4f" % (w1 - w0, c1 - c0))


def ndcg(work, pred):
    from sklearn.metrics import ndcg_score
    _, y, q = load(work + "/test.csv")
    p = np.loadtxt(pred)
    scores = []
    for g in np.unique(q):
        s = q == g
        if s.sum() == 1:
            scores.append(1.0 if y[s][0] > 0 else 0.0)
        else:
            scores.append(ndcg_score([y[s]], [p[s]], k=10))
    print("ndcg@10=%.6f queries=%d" % (np.mean(scores), len(scores)))


if __name__ == "__main__":
    {"split": lambda: split(sys.argv[2], sys.argv[3]), "xgb": lambda: xgb(sys.argv[2], sys.argv[3]),
     "ndcg": lambda: ndcg(sys.argv[2], sys.argv[3])}[sys.argv[1]]()
