#!/usr/bin/python3
"""gen.py N OUT.csv [SEED] — writes N rows shaped like spam.csv (the same 57 feature columns, an
`id` column first, no label): each row resamples a spam row and jitters its non-zero values with
multiplicative noise (integer columns stay integers). Deterministic for a seed. Streams in chunks,
so memory does not grow with N."""
import sys

import numpy as np
import pandas as pd

SPAM = "/work/shared/datasets/spam.csv"


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    src = pd.read_csv(SPAM)
    feats = [c for c in src.columns if c != "type"]
    x = src[feats].to_numpy(dtype=np.float64)
    is_int = [bool(np.all(src[c] == np.round(src[c]))) for c in feats]
    rng = np.random.default_rng(seed)
    chunk = 100_000
    with open(out, "w") as f:
        f.write("id," + ",".join(feats) + "\n")
        done = 0
        while done < n:
            k = min(chunk, n - done)
            rows = x[rng.integers(0, len(x), size=k)]
            noise = np.exp(rng.normal(0.0, 0.15, size=rows.shape))
            rows = rows * noise
            df = pd.DataFrame(rows, columns=feats)
            for c, integer in zip(feats, is_int):
                df[c] = df[c].round(0).astype(np.int64) if integer else df[c].round(3)
            df.insert(0, "id", np.arange(done + 1, done + k + 1, dtype=np.int64))
            df.to_csv(f, header=False, index=False)
            done += k


if __name__ == "__main__":
    main()
