"""Coverage and width of skreg's intervals, per half of the data and overall, and their cost against a predict.

Data sets (5 splits each, ``--splits``), 20 bootstrap members of (64,) relu nets:

* ``sine``: x uniform on [-3, 3], y = sin(x) + noise whose std grows linearly from 0.05 to 0.5 with
  x; 1500 training rows, 20 000 new rows drawn alike; halves: x < 0 (quiet) and x >= 0 (noisy). Also the
  width just outside the data (|x| in [3.5, 4]) against just inside it (|x| in [2.5, 3]), side by side.
* ``friedman1``: ``make_friedman1`` (10 inputs, noise std 1), 1000 training rows, 5000 new ones;
  halves: below and above the median prediction.
* ``diabetes``: scikit-learn's bundled diabetes data (442 rows), a 75/25 split; halves as friedman1's.

Methods: ``jackknife+ab`` and its ``adaptive=True`` version, both at 0.8 and 0.9, and the ``percentile``
band of the members (a band for f(x), shown for contrast). ``mc`` fits one net with ``dropout=0.2`` and
reads the MC-dropout band (``mc_dropout=50``) of the sine inside and outside the data.

    python benchmarks/bench_uncertainty.py            # about 2-4 minutes on 2 cores
    python benchmarks/bench_uncertainty.py --quick    # 2 splits, fewer epochs
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skreg import RegularizedMLPRegressor
from skreg._train.blas import blas_threads_for

LEVELS = (0.8, 0.9)


def sine(n, rng, low=-3.0, high=3.0):
    x = rng.uniform(low, high, n)
    noise = 0.05 + 0.45 * (np.clip(x, -3, 3) + 3) / 6
    return x[:, None], np.sin(x) + noise * rng.normal(size=n)


def model(max_iter, **extra):
    return RegularizedMLPRegressor(hidden_layer_sizes=(64,), n_estimators=20, bootstrap=True, learning_rate_init=0.01,
                                   max_iter=max_iter, **extra)


def splits(name, seed, max_iter):
    """``(X_train, y_train, X_test, y_test)`` of split ``seed``, X and y standardized by the training rows."""
    rng = np.random.default_rng(seed)
    if name == "sine":
        X, y = sine(1500, rng)
        X_test, y_test = sine(20_000, rng)
        return X, y, X_test, y_test
    if name == "friedman1":
        X, y = make_friedman1(6000, noise=1.0, random_state=seed)
        X, X_test, y, y_test = X[:1000], X[1000:], y[:1000], y[1000:]
    else:
        X, y = load_diabetes(return_X_y=True)
        X, X_test, y, y_test = train_test_split(X, y, test_size=0.25, random_state=seed)
    scaler = StandardScaler().fit(X)
    center, scale = y.mean(), y.std()
    return scaler.transform(X), (y - center) / scale, scaler.transform(X_test), (y_test - center) / scale


def halves(name, X_test, fitted):
    if name == "sine":
        return X_test[:, 0] < 0
    prediction = fitted.predict(X_test)
    return prediction < np.median(prediction)


def measure(name, n_splits, max_iter):
    rows = {}
    for seed in range(n_splits):
        X, y, X_test, y_test = splits(name, seed, max_iter)
        fitted = model(max_iter, random_state=seed).fit(X, y)
        first = halves(name, X_test, fitted)
        for level in LEVELS:
            for method, kwargs in (("jackknife+ab", {}), ("jackknife+ab adaptive", {"adaptive": True}),
                                   ("percentile (f band)", {"method": "percentile"})):
                interval = fitted.predict_interval(X_test, level, **kwargs)
                covered = (y_test >= interval[:, 0]) & (y_test <= interval[:, 1])
                width = interval[:, 1] - interval[:, 0]
                entry = [covered[first].mean(), covered[~first].mean(), covered.mean(),
                         width[first].mean(), width[~first].mean(), width.mean()]
                if name == "sine":
                    edges = np.array([[-3.0], [3.0]])
                    inside = np.concatenate([edges + np.array([[0.25], [-0.25]]) * s for s in (0.5, 1, 1.5, 2)])
                    outside = np.concatenate([edges + np.array([[-0.5], [0.5]]) - np.array([[0.25], [-0.25]]) * s
                                              for s in (0, 1, 2)])
                    w_in = np.diff(fitted.predict_interval(inside, level, **kwargs), axis=1).ravel()
                    w_out = np.diff(fitted.predict_interval(outside, level, **kwargs), axis=1).ravel()
                    # Per side: quiet (x < 0) then noisy.
                    entry += [w_out[0::2].mean() / w_in[0::2].mean(), w_out[1::2].mean() / w_in[1::2].mean()]
                rows.setdefault((level, method), []).append(entry)
    return {key: np.mean(values, axis=0) for key, values in rows.items()}


def costs(max_iter, repeats=5):
    """Seconds of each method on 10 000 new friedman1 rows, against a plain predict, in the same run."""
    X, y, X_test, _ = splits("friedman1", 0, max_iter)
    X_test = np.tile(X_test, (2, 1))
    start = time.perf_counter()
    fitted = model(max_iter, random_state=0).fit(X, y)
    fit_time = time.perf_counter() - start
    scale_time = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        with blas_threads_for(0):  # as fit runs it
            fitted._fit_adaptive_scales(X, np.ones(len(X)))
        scale_time = min(scale_time, time.perf_counter() - start)
    dropout = model(max_iter, random_state=0, dropout=0.1).fit(X, y)
    calls = {
        "predict": lambda: fitted.predict(X_test),
        "predict(return_std=True)": lambda: fitted.predict(X_test, return_std=True),
        "predict_interval jackknife+ab": lambda: fitted.predict_interval(X_test),
        "predict_interval jackknife+ab adaptive": lambda: fitted.predict_interval(X_test, adaptive=True),
        "predict_interval percentile": lambda: fitted.predict_interval(X_test, method="percentile"),
        "predict, mc_dropout=10": lambda: dropout.set_params(mc_dropout=10).predict(X_test),
        "predict(return_std=True), mc_dropout=50": lambda: dropout.set_params(mc_dropout=50).predict(
            X_test, return_std=True),
    }
    # Rounds over every method, the best of each: a busy spell on a shared machine hits all of them alike.
    best = dict.fromkeys(calls, np.inf)
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - start)
    return fit_time, scale_time, best


def mc_dropout_spread(max_iter):
    rng = np.random.default_rng(0)
    X, y = sine(1500, rng)
    net = RegularizedMLPRegressor(hidden_layer_sizes=(128,), dropout=0.2, learning_rate_init=0.01, max_iter=max_iter,
                                  mc_dropout=50, random_state=0).fit(X, y)
    inside = np.linspace(-3, 3, 200)[:, None]
    outside = np.concatenate([np.linspace(-5, -4, 50), np.linspace(4, 5, 50)])[:, None]
    return net.predict(inside, return_std=True)[1].mean(), net.predict(outside, return_std=True)[1].mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--splits", type=int, default=None)
    args = parser.parse_args()
    n_splits = args.splits or (2 if args.quick else 5)
    max_iter = 100 if args.quick else 300
    print(f"{n_splits} splits each, 20 bootstrap members (64,), max_iter={max_iter}; coverage of new y, mean width\n")
    print("| data | level | method | cover half A | cover half B | marginal | width A | width B | width | "
          "outside/inside width (A side, B side) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("sine", "friedman1", "diabetes"):
        table = measure(name, n_splits, max_iter)
        for (level, method), entry in sorted(table.items()):
            edges = f"{entry[6]:.2f}, {entry[7]:.2f}" if len(entry) > 6 else ""
            print(f"| {name} | {level} | {method} | {entry[0]:.3f} | {entry[1]:.3f} | {entry[2]:.3f} | "
                  f"{entry[3]:.3f} | {entry[4]:.3f} | {entry[5]:.3f} | {edges} |")
    print("\nhalves: sine x < 0 (quiet, A) / x >= 0 (noisy, B); friedman1, diabetes: below / above the median "
          "prediction. Widths in units of the training targets' std for friedman1 and diabetes.")
    inside, outside = mc_dropout_spread(max_iter)
    print(f"\nMC dropout (one (128,) net, dropout=0.2, mc_dropout=50) on the sine: std inside [-3, 3] {inside:.3f}, "
          f"outside (|x| in [4, 5]) {outside:.3f}, ratio {outside / inside:.1f}")
    fit_time, scale_time, best = costs(max_iter)
    plain = best["predict"]
    print(f"\ncost on 10 000 new friedman1 rows (20 members, best of 5 rounds), against predict "
          f"({plain * 1e3:.1f} ms):")
    for name, seconds in best.items():
        print(f"  {name:42s} {seconds * 1e3:8.1f} ms  {seconds / plain:6.1f}x")
    print(f"  learning the adaptive scales at fit time: {scale_time * 1e3:.0f} ms, {scale_time / fit_time:.1%} of "
          f"the fit ({fit_time:.1f} s)")


if __name__ == "__main__":
    main()
