#!/usr/bin/python3
"""bandit_regret.py [BUILD_DIR] — issue 19's bandit target: the regret of Flywheel's `kind: bandit`
sampler (src/experiment/bandit.h, driven as the server drives it by bench/experiment/sim_bandit.c)
against a reference Thompson sampler written here with numpy, on the same arms and the same reward
delays, over many seeds; prints the ratio of the mean regrets (target: <= 1.1).

The reference is textbook Thompson sampling with delayed feedback: each request draws one sample
from every arm's posterior and takes the best; the request's outcome (click or not; a Normal reward)
is revealed to the posterior after its delay, drawn uniformly from 1..DELAY steps — for a request
without a click too, which a real server cannot know (it knows "no click" for sure only when the
reward window closes). Flywheel instead routes by the shares it publishes every REFRESH steps
(P(best) by Monte Carlo, plus the floor); it counts a click when it arrives, a silent trial as a
fraction of a 0 growing with its age (by the observed reward delays) and as a whole 0 when its
WINDOW (>= DELAY) has passed (src/experiment/bandit.h). Same
posterior families and priors on both sides: Beta(1, 1) for rates; for means, a Normal posterior
with one pseudo-observation at the pooled mean and variance (bandit.c). With a floor, the reference
picks a uniform arm with probability arms x floor (the same minimum share).

Statistical figures, not timings: no bench lock (everything runs at nice 10; every case's C run
and reference side by side). SEEDS (default 200) runs per
side. Uses Debian's /usr/bin/python3 with python3-numpy (scripts/install-deps.sh --bench).
"""
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
SEEDS = int(os.environ.get("SEEDS", "200"))


def build():
    subprocess.run(["make", "-s", "-j2", f"BUILD={BUILD}", f"{BUILD}/libflywheel.a"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    os.makedirs(os.path.join(ROOT, BUILD, "bench"), exist_ok=True)
    out = os.path.join(ROOT, BUILD, "bench", "sim_bandit")
    subprocess.run(["gcc", "-std=c17", "-D_GNU_SOURCE", "-O2", "-Iinclude", "-Isrc", "-o", out,
                    "bench/experiment/sim_bandit.c", f"{BUILD}/libflywheel.a", "-lsqlite3", "-lyaml", "-lxxhash",
                    "-lz", "-lzstd", "-ljansson", "-lpthread", "-lm"], cwd=ROOT, check=True)
    return out


def flywheel(sim, model, T, D, W, R, floor, means, seed0):
    """Starts the C simulation (at nice 10 in all); .result() waits for its regrets."""
    args = [sim, model, str(T), str(D), str(W), str(R), str(floor), str(SEEDS), str(seed0)] + [str(m) for m in means]
    p = subprocess.Popen(["nice", "-n", str(max(0, 10 - os.nice(0)))] + args, stdout=subprocess.PIPE, text=True)

    class Run:
        def result(self):
            out, _ = p.communicate()
            if p.returncode:
                raise subprocess.CalledProcessError(p.returncode, args)
            return np.array([float(l.split()[3]) for l in out.splitlines() if l.startswith("run ")])
    return Run()


def reference(model, T, D, floor, means, seed0):
    """Thompson sampling, SEEDS independent runs side by side (vectorised over runs)."""
    rng = np.random.default_rng(seed0)
    mu = np.asarray(means, dtype=float)
    k, S = len(mu), SEEDS
    best = mu.max()
    runs = np.arange(S)
    # posterior sums per run and arm, and the outcomes still in flight (ring of D + 1 steps)
    n = np.zeros((S, k))
    s = np.zeros((S, k))
    ss = np.zeros((S, k))
    fly_n = np.zeros((D + 1, S, k))
    fly_s = np.zeros((D + 1, S, k))
    fly_ss = np.zeros((D + 1, S, k))
    regret = np.zeros(S)
    for t in range(T):
        slot = t % (D + 1)
        n += fly_n[slot]
        s += fly_s[slot]
        ss += fly_ss[slot]
        fly_n[slot] = 0
        fly_s[slot] = 0
        fly_ss[slot] = 0
        if model == "rate":
            draw = rng.beta(1 + s, 1 + n - s)
        else:
            N, Sm, SS = n.sum(1, keepdims=True), s.sum(1, keepdims=True), ss.sum(1, keepdims=True)
            m0 = np.where(N > 0, Sm / np.maximum(N, 1), 0.0)
            v0 = np.where(N > 1, (SS - Sm * Sm / np.maximum(N, 1)) / np.maximum(N - 1, 1), 1.0)
            v0 = np.maximum(v0, 1e-12)
            within = np.where(n > 0, ss - s * s / np.maximum(n, 1), 0.0)
            within = np.maximum(within, 0)
            var = (within + v0) / (n + 1)
            draw = (s + m0) / (n + 1) + np.sqrt(var / (n + 1)) * rng.standard_normal((S, k))
        arm = draw.argmax(1)
        if floor > 0:
            explore = rng.random(S) < k * floor
            arm = np.where(explore, rng.integers(0, k, S), arm)
        regret += best - mu[arm]
        if model == "rate":
            r = (rng.random(S) < mu[arm]).astype(float)
        else:
            r = mu[arm] + rng.standard_normal(S)
        d = rng.integers(1, D + 1, S)
        due = (t + d) % (D + 1)
        np.add.at(fly_n, (due, runs, arm), 1)
        np.add.at(fly_s, (due, runs, arm), r)
        np.add.at(fly_ss, (due, runs, arm), r * r)
    return regret


CASES = [
    # model, T, DELAY, WINDOW, REFRESH, FLOOR, means
    ("rate", 20000, 500, 500, 50, 0.0, [0.10, 0.12, 0.15]),
    ("rate", 20000, 500, 500, 50, 0.01, [0.10, 0.12, 0.15]),
    ("mean", 20000, 500, 500, 50, 0.0, [1.0, 1.05, 1.1]),
]


def main():
    sim = build()
    load = open("/proc/loadavg").read().split()[:3]
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.cpu_count()} cores, load average "
          f"{' '.join(load)}, {rev}; {SEEDS} runs per side")
    # every case's C run and reference side by side (a process each)
    runs = [flywheel(sim, model, T, D, W, R, floor, means, 100 + i)
            for i, (model, T, D, W, R, floor, means) in enumerate(CASES)]
    with multiprocessing.Pool(len(CASES)) as pool:
        refs = [pool.apply_async(reference, (model, T, D, floor, means, 200 + i))
                for i, (model, T, D, W, R, floor, means) in enumerate(CASES)]
        refs = [r.get() for r in refs]
    for i, (model, T, D, W, R, floor, means) in enumerate(CASES):
        ref = refs[i]
        fw = runs[i].result()
        se_fw = fw.std(ddof=1) / np.sqrt(len(fw))
        se_ref = ref.std(ddof=1) / np.sqrt(len(ref))
        ratio = fw.mean() / ref.mean()
        # the ratio's standard error by the delta method (independent sides)
        se_ratio = ratio * np.sqrt((se_fw / fw.mean()) ** 2 + (se_ref / ref.mean()) ** 2)
        print(f"{model} arms={means} T={T} delay=U(1,{D}) window={W} refresh={R} floor={floor}: "
              f"regret flywheel {fw.mean():.1f} (se {se_fw:.1f})  reference {ref.mean():.1f} (se {se_ref:.1f})  "
              f"ratio {ratio:.3f} (se {se_ratio:.3f})  {'<= 1.1' if ratio <= 1.1 else '> 1.1'}")
    print(f"== done {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}")


if __name__ == "__main__":
    main()
