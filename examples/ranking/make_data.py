#!/usr/bin/python3
"""make_data.py — derives examples/ranking/diamonds_rank.csv (a graded-relevance ranking table) from
../shared/datasets/diamonds.csv (R package ggplot2 3.4.1, object 'diamonds', via Debian's
r-cran-ggplot2 3.4.1+dfsg-1; GPL-2.0+).

Each query is one carat weight ("1.01ct"): "show me the diamonds of this weight, best first".
Relevance 0..4 grades the diamond's price percentile among all diamonds of its query in the full
table: 0 = lower half, 1 = 50-75th, 2 = 75-90th, 3 = 90-97th, 4 = the top 3% (a real outcome,
graded, top-heavy). The features are the grades and measures (cut, color, clarity, depth, table,
x, y, z); price is left out (it is the outcome) and so is carat (the query).

  python3 examples/ranking/make_data.py [--full] [SRC] [OUT]

Default: up to 24 diamonds per query (queries with at least 24), sampled with a fixed seed — the
committed example. --full writes every row (the benchmark's table, bench/rank/run.sh)."""
import csv
import random
import sys
from collections import defaultdict

args = [a for a in sys.argv[1:] if a != "--full"]
full = "--full" in sys.argv[1:]
src = args[0] if args else "../shared/datasets/diamonds.csv"
out = args[1] if len(args) > 1 else "examples/ranking/diamonds_rank.csv"

rows = list(csv.DictReader(open(src, newline="")))
by_q = defaultdict(list)
for r in rows:
    by_q["%.2fct" % float(r["carat"])].append(r)


def grades(items):
    """price percentile within the query (ties share the lowest position of their price), graded
    at the 50th, 75th, 90th and 97th percentiles"""
    order = sorted(range(len(items)), key=lambda i: float(items[i]["price"]))
    g = [0] * len(items)
    first_pos = {}
    for pos, i in enumerate(order):
        first_pos.setdefault(float(items[i]["price"]), pos)
    for i in order:
        pct = first_pos[float(items[i]["price"])] / len(items)
        g[i] = sum(pct >= t for t in (0.5, 0.75, 0.9, 0.97))
    return g


rng = random.Random(20261206)
picked = []
for q in sorted(by_q):
    items = by_q[q]
    g = grades(items)
    idx = list(range(len(items)))
    if not full:
        if len(items) < 24:
            continue
        idx = sorted(rng.sample(idx, 24))
    qname = q
    for i in idx:
        r = items[i]
        picked.append([qname, r["cut"], r["color"], r["clarity"], r["depth"], r["table"], r["x"],
                       r["y"], r["z"], g[i]])

with open(out, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["query", "cut", "color", "clarity", "depth", "table", "x", "y", "z", "relevance"])
    w.writerows(picked)
print("%s: %d rows, %d queries" % (out, len(picked), len({p[0] for p in picked})))
