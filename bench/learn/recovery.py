# recovery.py — the Python side of bench/learn/recovery.sh (issue 18: "online updates recover from
# an abrupt change no slower than ADWIN-triggered retraining of sklearn's SGD on the same stream").
#   recovery.py gen SEED DIR       writes DIR/base.csv (5,000 pre-change rows, the champion's training
#                                  data) and DIR/stream.csv (N_PRE pre-change rows, then N_POST after an
#                                  abrupt concept change: the signs of b0 and b1 flip)
#   recovery.py sgd DIR            sklearn SGDClassifier(loss="log_loss") fitted on base.csv, then the
#                                  stream: each row scored (progressive log loss) before anything else;
#                                  its 0/1 error feeds ADWIN (written here: river is not packaged in
#                                  Debian); on a detection the model is refitted on the rows of ADWIN's
#                                  window (what remains after the drop), else it learns the row
#                                  (partial_fit): online SGD with ADWIN-triggered retraining, the
#                                  stronger form of the peer. Writes DIR/sgd.txt, one loss a row
#   recovery.py report DIR...      per seed dir (each with fw.txt and sgd.txt): windowed curves and the
#                                  recovery time; the mean curves and the median recovery over seeds
import math, sys
import numpy as np

N_PRE, N_POST, NX = 10000, 20000, 8
B_BEFORE = np.array([1.2, -0.8, 0.6, 0.4, 0.0, 0.3, -0.5, 0.2])
B_AFTER = B_BEFORE * np.array([-1, -1, 1, 1, 1, 1, 1, 1])
WIN = 500          # the windowed loss (trailing rows)
PRE = 2000         # the pre-change level: mean loss of the last PRE rows before the change
TOL = 0.10         # recovered: a trailing window's loss within TOL of the pre-change level

def draw(rng, n, b):
    X = np.round(rng.standard_normal((n, NX)), 3)
    y = rng.random(n) < 1 / (1 + np.exp(-(X @ b)))
    return X, y

def write(path, X, y):
    with open(path, "w") as f:
        f.write(",".join("x%d" % k for k in range(NX)) + ",y\n")
        for x, t in zip(X, y):
            f.write(",".join("%.3f" % v for v in x) + ("," + ("yes" if t else "no")) + "\n")

def read(path):
    d = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=str)
    return d[:, :NX].astype(float), d[:, NX] == "yes"

class ADWIN:
    """ADWIN (Bifet & Gavaldà 2007) over a 0/1 stream, checked every `clock` values (as river's
    default): for every split of the window into an older part W0 and a newer W1 (split points every
    `clock` values), drop W0 when |mean0 - mean1| > eps_cut with
    eps_cut = sqrt(2/m * var * ln(2/d')) + 2/(3m) * ln(2/d'), m = 1/(1/n0 + 1/n1), d' = delta/n.
    The window is kept exactly (a list), not in exponential buckets: the same test, more memory."""
    def __init__(self, delta=0.002, clock=32, max_len=50000):
        self.delta, self.clock, self.max_len = delta, clock, max_len
        self.w = []
        self.t = 0
    def update(self, v):
        self.w.append(v)
        if len(self.w) > self.max_len:
            self.w.pop(0)
        self.t += 1
        if self.t % self.clock or len(self.w) < 2 * self.clock:
            return False
        a = np.asarray(self.w, dtype=float)
        n = len(a)
        c = np.cumsum(a)
        var = a.var()
        d2 = math.log(2 / (self.delta / n))
        cuts = np.arange(self.clock, n - self.clock + 1, self.clock)
        n0 = cuts.astype(float); n1 = n - n0
        mu0 = c[cuts - 1] / n0; mu1 = (c[-1] - c[cuts - 1]) / n1
        m = 1 / (1 / n0 + 1 / n1)
        eps = np.sqrt(2 / m * var * d2) + 2 / (3 * m) * d2
        hit = np.nonzero(np.abs(mu0 - mu1) > eps)[0]
        if len(hit) == 0:
            return False
        self.w = self.w[cuts[hit[-1]]:]  # drop the older part (the latest cut that passes)
        return True

def sgd(dir_):
    from sklearn.linear_model import SGDClassifier
    Xb, yb = read(dir_ + "/base.csv")
    Xs, ys = read(dir_ + "/stream.csv")
    def fit(X, y):
        m = SGDClassifier(loss="log_loss", alpha=1e-4, random_state=0)
        m.fit(X, y)
        return m
    m = fit(Xb, yb)
    ad = ADWIN()
    loss = np.empty(len(ys))
    retrains = []
    for i in range(len(ys)):
        p = min(max(m.predict_proba(Xs[i:i + 1])[0, 1], 1e-15), 1 - 1e-15)
        loss[i] = -math.log(p if ys[i] else 1 - p)
        if ad.update(float((p >= 0.5) != ys[i])):
            lo = i + 1 - len(ad.w)
            if len(set(ys[lo:i + 1])) == 2:      # refit on ADWIN's window (the rows after the cut)
                m = fit(Xs[lo:i + 1], ys[lo:i + 1])
                retrains.append((i, i + 1 - lo))
                continue
        m.partial_fit(Xs[i:i + 1], ys[i:i + 1])  # and it learns online between detections
    np.savetxt(dir_ + "/sgd.txt", loss, fmt="%.6f")
    with open(dir_ + "/sgd_retrains.txt", "w") as f:
        for i, w in retrains:
            f.write("%d %d\n" % (i, w))

def recovery(loss):
    pre = loss[N_PRE - PRE:N_PRE].mean()
    c = np.concatenate([[0], np.cumsum(loss)])
    for r in range(WIN, N_POST + 1):
        if (c[N_PRE + r] - c[N_PRE + r - WIN]) / WIN <= pre * (1 + TOL):
            return pre, r
    return pre, None

def report(dirs):
    sides = (("flywheel", "fw.txt"), ("flywheel_refit0", "fw0.txt"), ("flywheel_lr0.2", "fw2.txt"), ("sgd", "sgd.txt"))
    curves = {k: [] for k, _ in sides}
    rec = {k: [] for k, _ in sides}
    print("recovery: rows after the change until the trailing %d-row mean log loss is within %d%% of the "
          "pre-change level (the mean over the %d rows before it)" % (WIN, TOL * 100, PRE))
    for d in dirs:
        line = "seed %s:" % d.rsplit("/", 1)[-1]
        for side, f in sides:
            l = np.loadtxt(d + "/" + f)
            curves[side].append(l)
            pre, r = recovery(l)
            rec[side].append(r if r is not None else float("inf"))
            line += "  %s pre %.4f recovery %s" % (side, pre, r if r is not None else "never (> %d)" % N_POST)
        rt = open(d + "/sgd_retrains.txt").read().split("\n")
        line += "  (ADWIN retrains at rows %s)" % ", ".join(x.split()[0] for x in rt if x)
        line += "  resets: flywheel %s, refit0 %s" % tuple(open(d + f).read().split()[1] for f in ("/fw.resets", "/fw0.resets"))
        print(line)
    print("\nno change (still.csv, %d rows): mean progressive log loss and change-test firings per seed:" % (N_PRE + N_POST))
    still = {"refit": [], "refit0": []}
    for d in dirs:
        a, b = np.loadtxt(d + "/still.txt").mean(), np.loadtxt(d + "/still0.txt").mean()
        still["refit"].append(a); still["refit0"].append(b)
        print("seed %s: flywheel %.5f (resets %s)  refit0 %.5f (resets %s)" % (
            d.rsplit("/", 1)[-1], a, open(d + "/still.resets").read().split()[1], b, open(d + "/still0.resets").read().split()[1]))
    print("no change, mean over seeds: flywheel %.5f, refit0 %.5f" % (np.mean(still["refit"]), np.mean(still["refit0"])))
    print("\nwindowed progressive log loss, mean over %d seeds, %d-row windows (change at row %d):" % (len(dirs), WIN, N_PRE))
    print("%8s %16s %16s %16s %16s" % ("rows", "flywheel lr 0.1", "refit0 lr 0.1", "flywheel lr 0.2", "sgd+adwin"))
    fw = np.mean(curves["flywheel"], axis=0); f2 = np.mean(curves["flywheel_lr0.2"], axis=0)
    f0 = np.mean(curves["flywheel_refit0"], axis=0)
    sk = np.mean(curves["sgd"], axis=0)
    for s in range(N_PRE - 2000, N_PRE + N_POST, WIN):
        print("%8d %16.4f %16.4f %16.4f %16.4f%s" % (s, fw[s:s + WIN].mean(), f0[s:s + WIN].mean(), f2[s:s + WIN].mean(),
                                                     sk[s:s + WIN].mean(), "   <- change" if s == N_PRE else ""))
    mf, m0, m2, ms = (float(np.median(rec[k])) for k in ("flywheel", "flywheel_refit0", "flywheel_lr0.2", "sgd"))
    print("\nmedian recovery over %d seeds (the floor is %d: one full window after the change): flywheel online "
          "(FTRL from the batch weights, batch 1, change reset + refit) lr 0.1 (the default) %s rows, lr 0.2 %s rows; "
          "without the refit (step sizes reset only) %s rows; "
          "sklearn SGD (partial_fit) + ADWIN retraining %s rows" % (len(dirs), WIN, mf, m2, m0, ms))
    print("flywheel (default lr) no slower: %s; at lr 0.2: %s" % ("yes" if mf <= ms else "no", "yes" if m2 <= ms else "no"))

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "gen":
        rng = np.random.default_rng(int(sys.argv[2]))
        Xb, yb = draw(rng, 5000, B_BEFORE)
        write(sys.argv[3] + "/base.csv", Xb, yb)
        X0, y0 = draw(rng, N_PRE, B_BEFORE)
        X1, y1 = draw(rng, N_POST, B_AFTER)
        write(sys.argv[3] + "/stream.csv", np.vstack([X0, X1]), np.concatenate([y0, y1]))
        Xs, ys = draw(rng, N_PRE + N_POST, B_BEFORE)  # the no-change control: same length, no change
        write(sys.argv[3] + "/still.csv", Xs, ys)
    elif cmd == "sgd":
        sgd(sys.argv[2])
    elif cmd == "report":
        report(sys.argv[2:])
