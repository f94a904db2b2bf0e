#!/usr/bin/python3
"""peers.py — the Python side of bench/train/run.sh (Debian's /usr/bin/python3: numpy, pandas,
scikit-learn 1.2, xgboost 1.7).

  peers.py split SRC.csv[.gz] OUTDIR [TEST_SRC.csv[.gz]]
      writes OUTDIR/train.csv and OUTDIR/test.csv as the source lines themselves (header kept):
      with TEST_SRC the two files are copied as they are, otherwise the data lines are shuffled
      with numpy's RandomState(42) and the last 20% become the test file. Flywheel and the peers
      then read exactly the same bytes. DROP=a,b (environment) leaves those columns out first
      (a label leak, an identifier).
  peers.py synth OUTDIR N D
      a generated binary set (numpy RandomState(7)): N training and N/4 test rows, D standard
      normal features, label 1 when a linear score plus a few non-linear terms and noise is > 0.
  peers.py fit OUTDIR LABEL TASK [PEERS]
      trains each peer on train.csv, scores test.csv and prints `peer=<name> metric=<value>
      train_s=<s>` lines, then `best_peer=<name> best_metric=<value>`. TASK: binary (metric: ROC
      AUC), multiclass (accuracy) or regression (RMSE). PEERS (comma list, default all that fit
      the task): xgboost (hist, 100 rounds, depth 6, eta 0.3, nthread 2), hgb (sklearn
      HistGradientBoosting, defaults), logreg (sklearn LogisticRegression lbfgs, C=1,
      max_iter=1000), liblinear (sklearn's bundled liblinear, C=1: the same solver as
      `liblinear-train -s 0`), ridge (regression only, sklearn Ridge alpha=1).
      Features: numeric columns as they are (NaN kept for the tree models, median-imputed and
      standardized for the linear ones); text/categorical columns as ordinal codes for the tree
      models (HGB marks them categorical) and one-hot for the linear ones."""
import gzip
import sys
import time

import numpy as np


def read_lines(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        return f.read().splitlines(keepends=True)


def drop_columns(lines, drop):
    """The lines without the named columns (RFC 4180 fields re-quoted only where needed)."""
    import csv
    import io
    rows = list(csv.reader(lines))
    keep = [j for j, name in enumerate(rows[0]) if name not in drop]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        if r:
            w.writerow([r[j] for j in keep])
    return buf.getvalue().splitlines(keepends=True)


def split(src, out, test_src=None, drop=()):
    lines = read_lines(src)
    if drop:
        lines = drop_columns(lines, set(drop))
    header, rows = lines[0], lines[1:]
    rows = [r if r.endswith("\n") else r + "\n" for r in rows if r.strip()]
    if test_src:
        test = [r if r.endswith("\n") else r + "\n" for r in read_lines(test_src)[1:] if r.strip()]
        train = rows
    else:
        perm = np.random.RandomState(42).permutation(len(rows))
        n_test = len(rows) // 5
        train = [rows[i] for i in perm[:len(rows) - n_test]]
        test = [rows[i] for i in perm[len(rows) - n_test:]]
    for name, part in (("train", train), ("test", test)):
        with open("%s/%s.csv" % (out, name), "w", newline="") as f:
            f.write(header if header.endswith("\n") else header + "\n")
            f.writelines(part)
    print("split rows_train=%d rows_test=%d" % (len(train), len(test)))


def synth(out, n, d):
    rng = np.random.RandomState(7)
    w = np.where(np.arange(d) < 10, 1.0, 0.1) * rng.normal(size=d)
    names = ["f%d" % j for j in range(d)] + ["y"]
    for name, m in (("train", n), ("test", n // 4)):
        X = rng.normal(size=(m, d)).astype(np.float32)
        s = X.astype(np.float64) @ w + 1.5 * X[:, 0] * X[:, 1] - np.abs(X[:, 2]) + \
            np.sin(3 * X[:, 3]) + rng.normal(size=m)
        y = (s > 0).astype(np.int64)
        import pandas as pd
        df = pd.DataFrame(X, columns=names[:-1])
        df["y"] = y
        df.to_csv("%s/%s.csv" % (out, name), index=False, float_format="%.6g")
    print("synth rows_train=%d rows_test=%d features=%d" % (n, n // 4, d))


def load(out, label, task):
    import pandas as pd
    tr = pd.read_csv(out + "/train.csv", keep_default_na=True)
    te = pd.read_csv(out + "/test.csv", keep_default_na=True)
    ytr, yte = tr.pop(label), te.pop(label)
    if task == "regression":
        ytr, yte = ytr.to_numpy(np.float64), yte.to_numpy(np.float64)
    else:
        classes = sorted(set(ytr.astype(str)) | set(yte.astype(str)))
        idx = {c: i for i, c in enumerate(classes)}
        ytr = np.array([idx[v] for v in ytr.astype(str)])
        yte = np.array([idx[v] for v in yte.astype(str)])
    cat = [c for c in tr.columns if tr[c].dtype == object or te[c].dtype == object]
    num = [c for c in tr.columns if c not in cat]
    return tr, te, ytr, yte, cat, num


def tree_matrix(tr, te, cat, num):
    import pandas as pd
    cols = num + cat
    Xtr = np.empty((len(tr), len(cols)), dtype=np.float32)
    Xte = np.empty((len(te), len(cols)), dtype=np.float32)
    for j, c in enumerate(cols):
        if c in cat:
            levels = pd.Index(sorted(set(tr[c].dropna().astype(str))))
            for X, df in ((Xtr, tr), (Xte, te)):
                codes = levels.get_indexer(df[c].astype(str)).astype(np.float32)
                codes[codes < 0] = np.nan
                X[:, j] = codes
        else:
            Xtr[:, j] = tr[c].to_numpy(np.float32)
            Xte[:, j] = te[c].to_numpy(np.float32)
    is_cat = np.array([c in cat for c in cols])
    return Xtr, Xte, is_cat


def linear_matrix(tr, te, cat, num):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    parts = []
    if num:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num))
    if cat:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                           OneHotEncoder(handle_unknown="ignore")), cat))
    ct = ColumnTransformer(parts)
    return ct.fit_transform(tr), ct.transform(te)


def metric(task, y, p):
    if task == "binary":
        from sklearn.metrics import roc_auc_score
        return roc_auc_score(y, p[:, 1] if p.ndim == 2 else p)
    if task == "multiclass":
        return float(np.mean(np.argmax(p, axis=1) == y))
    return float(np.sqrt(np.mean((p - y) ** 2)))


def fit(out, label, task, peers):
    tr, te, ytr, yte, cat, num = load(out, label, task)
    results = []
    Xt = Xl = None
    for name in peers:
        t0 = time.perf_counter()
        if name in ("xgboost", "hgb"):
            if Xt is None:
                Xt = tree_matrix(tr, te, cat, num)
            Xtr, Xte, is_cat = Xt
            if name == "xgboost":
                import xgboost as xgb
                params = {"max_depth": 6, "eta": 0.3, "tree_method": "hist", "nthread": 2,
                          "seed": 42}
                if task == "binary":
                    params["objective"] = "binary:logistic"
                elif task == "multiclass":
                    params["objective"] = "multi:softprob"
                    params["num_class"] = int(max(ytr.max(), yte.max())) + 1
                else:
                    params["objective"] = "reg:squarederror"
                bst = xgb.train(params, xgb.DMatrix(Xtr, label=ytr, nthread=2), 100)
                p = bst.inplace_predict(Xte)
            else:
                from sklearn.ensemble import HistGradientBoostingClassifier as HGBC
                from sklearn.ensemble import HistGradientBoostingRegressor as HGBR
                kw = {"categorical_features": is_cat if is_cat.any() else None,
                      "random_state": 42}
                mdl = (HGBR(**kw) if task == "regression" else HGBC(**kw)).fit(Xtr, ytr)
                p = mdl.predict(Xte) if task == "regression" else mdl.predict_proba(Xte)
        else:
            if Xl is None:
                Xl = linear_matrix(tr, te, cat, num)
            Xtr, Xte = Xl
            if name == "ridge":
                from sklearn.linear_model import Ridge
                p = Ridge(alpha=1.0).fit(Xtr, ytr).predict(Xte)
            else:
                from sklearn.linear_model import LogisticRegression
                solver = "liblinear" if name == "liblinear" else "lbfgs"
                mdl = LogisticRegression(C=1.0, solver=solver, max_iter=1000).fit(Xtr, ytr)
                p = mdl.predict_proba(Xte)
        s = time.perf_counter() - t0
        m = metric(task, yte, p)
        results.append((name, m))
        print("peer=%s metric=%.6f train_s=%.3f" % (name, m, s), flush=True)
    best = (min if task == "regression" else max)(results, key=lambda r: r[1])
    print("best_peer=%s best_metric=%.6f" % best)


def main():
    mode = sys.argv[1]
    if mode == "split":
        import os
        drop = [c for c in os.environ.get("DROP", "").split(",") if c]
        split(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None, drop)
    elif mode == "synth":
        synth(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "fit":
        task = sys.argv[4]
        default = "xgboost,hgb,ridge" if task == "regression" else "xgboost,hgb,logreg,liblinear"
        fit(sys.argv[2], sys.argv[3], task,
            (sys.argv[5] if len(sys.argv) > 5 else default).split(","))
    else:
        sys.exit("usage: peers.py split|synth|fit ...")


if __name__ == "__main__":
    main()
