#!/usr/bin/python3
"""peer_xgb_dask.py TRAIN.csv TEST.csv LABEL ROUNDS — XGBoost's own distributed training, the peer
of bench/scale/mpi_train.sh: xgboost.dask on a LocalCluster of 2 worker processes with 1 thread
each (the 2 cores), tree_method=hist, depth 6, eta 0.3, ROUNDS rounds, the same CSV files. Prints
key=value lines: cluster_s (start-up), load_s (read_csv + DaskDMatrix), fit_s (xgb.dask.train),
total_s (load + fit + test AUC), test_auc."""
import sys
import time


def main():
    train, test, label, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd
    import xgboost as xgb
    from dask.distributed import Client, LocalCluster
    from sklearn.metrics import roc_auc_score

    t0 = time.time()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    t1 = time.time()
    df = dd.read_csv(train, blocksize="32MB")
    y = df[label]
    X = df.drop(columns=[label])
    dtrain = xgb.dask.DaskDMatrix(client, X, y)
    t2 = time.time()
    params = {"tree_method": "hist", "objective": "binary:logistic", "max_depth": 6, "eta": 0.3,
              "max_bin": 256, "nthread": 1}
    out = xgb.dask.train(client, params, dtrain, num_boost_round=rounds)
    t3 = time.time()
    te = pd.read_csv(test)
    p = out["booster"].predict(xgb.DMatrix(te.drop(columns=[label])))
    auc = roc_auc_score(te[label].to_numpy(), p)
    t4 = time.time()
    print("cluster_s=%.3f" % (t1 - t0))
    print("load_s=%.3f" % (t2 - t1))
    print("fit_s=%.3f" % (t3 - t2))
    print("total_s=%.3f" % (t4 - t1))
    print("test_auc=%.6f" % auc)
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
