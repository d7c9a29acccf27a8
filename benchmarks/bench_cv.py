"""Time RegularizedMLPClassifierCV against GridSearchCV over the same grid, in the same run.

Usage::

    python benchmarks/bench_cv.py [--repeats N] [--epochs E] [--hidden H] [--batch-size B] [--quick] [--one-core]
                                   [--warmup N]

The workload: digits (1797 x 64, standardized), hidden (64,), relu, adam, ``max_iter``
epochs (40; ``tol=0`` and a huge ``n_iter_no_change``, so every fit runs them all), alphas x dropouts
= 3 x 3, ``cv=3`` (stratified), refit on all rows. Timed, alternating within each repeat so that
drifting load hits all alike:

* ``cv``: ``RegularizedMLPClassifierCV`` (all 27 (candidate, fold) networks in one batched fit, in
  groups side by side on the cores), and ``cv n_jobs=2`` (the members over 2 joblib workers);
  ``cv f32`` and ``cv n_jobs=2 f32``: the same with ``search_dtype='float32'`` (the search's networks
  in float32, the refit in float64);
* ``grid``: ``GridSearchCV(RegularizedMLPClassifier(...), n_jobs=2)`` over the same grid;
* ``sklearn``: ``GridSearchCV(MLPClassifier(...), n_jobs=2)`` over the 3 alphas alone (scikit-learn's
  alpha converted to the same objective, ``alpha_sklearn = alpha * batch_size / n_fold``).

``--hidden 16 --batch-size 32 --epochs 10`` is a small network, whose steps are bound by Python's
per-step overhead, the case batching is made for. ``--one-core`` runs every contender on one core
(``threadpool_limits(1)``, ``n_jobs=1``): the work each does, less sensitive to other processes on a
shared machine than the two-core wall times.

A warm-up round, not counted, starts joblib's worker processes for every contender alike. Each
timing prints the 1-minute load average before it; the summary gives the median and the minimum over
repeats (the minimum is the least disturbed by other processes), the ratios cv / grid and cv /
sklearn of those, and the ratios repeat by repeat (the two timed one after the other: a drift of the
machine's load hits both), then the agreement table: each candidate's mean_test_score
from the CV estimator and from GridSearchCV (same folds and seeds; with one BLAS thread per worker
the two are the same networks, so the columns agree to the last digit).
"""

import argparse
import contextlib
import os
import statistics
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from skreg import RegularizedMLPClassifier, RegularizedMLPClassifierCV

ALPHAS = [0.1, 1.0, 10.0]
DROPOUTS = [0.0, 0.2, 0.5]


def load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def timed(label: str, make, X, y, times: dict, fitted: dict) -> None:
    before = load()
    started = time.perf_counter()
    model = make().fit(X, y)
    elapsed = time.perf_counter() - started
    times.setdefault(label, []).append(elapsed)
    fitted[label] = model
    print(f"  {label:<14} {elapsed:7.2f} s   (load average before: {before})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=64, help="units of the one hidden layer")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="5 epochs, 1 repeat")
    parser.add_argument("--one-core", action="store_true", help="every contender on one core, n_jobs=1")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (0: none)")
    args = parser.parse_args()
    n_jobs = 1 if args.one_core else 2
    epochs, repeats = (5, 1) if args.quick else (args.epochs, args.repeats)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    folds = StratifiedKFold(3)
    n_fold = len(next(folds.split(X, y))[0])
    batch = min(args.batch_size, n_fold)
    common = dict(hidden_layer_sizes=(args.hidden,), batch_size=batch, max_iter=epochs, tol=0.0,
                  n_iter_no_change=10**9, random_state=0)

    makers = {
        "cv": lambda: RegularizedMLPClassifierCV(**common, alphas=ALPHAS, dropouts=DROPOUTS, cv=folds),
        "cv n_jobs=2": lambda: RegularizedMLPClassifierCV(**common, alphas=ALPHAS, dropouts=DROPOUTS, cv=folds,
                                                          n_jobs=2),
        "cv f32": lambda: RegularizedMLPClassifierCV(**common, alphas=ALPHAS, dropouts=DROPOUTS, cv=folds,
                                                     search_dtype="float32"),
        "cv n_jobs=2 f32": lambda: RegularizedMLPClassifierCV(**common, alphas=ALPHAS, dropouts=DROPOUTS, cv=folds,
                                                              n_jobs=2, search_dtype="float32"),
        "grid": lambda: GridSearchCV(RegularizedMLPClassifier(**common), {"alpha": ALPHAS, "dropout": DROPOUTS},
                                     cv=folds, n_jobs=n_jobs),
        "sklearn": lambda: GridSearchCV(MLPClassifier(**common),
                                        {"alpha": [alpha * batch / n_fold for alpha in ALPHAS]}, cv=folds,
                                        n_jobs=n_jobs),
    }
    if args.one_core:
        del makers["cv n_jobs=2"], makers["cv n_jobs=2 f32"]
    ours_labels = [label for label in makers if label.startswith("cv")]
    print(f"digits {X.shape}, hidden ({args.hidden},), batch {batch}, {epochs} epochs, {len(ALPHAS)} alphas x "
          f"{len(DROPOUTS)} dropouts, cv=3, {os.cpu_count()} CPUs" + (", one core" if args.one_core else ""))
    times, fitted = {}, {}
    with threadpool_limits(1) if args.one_core else contextlib.nullcontext():
        if args.warmup:
            print("warm-up round (not counted: joblib starts its worker processes)")
            for label, make in makers.items():
                timed(label, make, X, y, {}, fitted)
        for repeat in range(repeats):
            print(f"repeat {repeat + 1}/{repeats}")
            for label, make in makers.items():
                timed(label, make, X, y, times, fitted)

    for summary, how in (("median", statistics.median), ("minimum", min)):
        value = {label: how(values) for label, values in times.items()}
        print(f"\n{summary} wall time (s): " + ", ".join(f"{label} {seconds:.2f}" for label, seconds in value.items()))
        for ours in ours_labels:
            print(f"  {ours:<15}: {value[ours] / value['grid']:.3f} x GridSearchCV(skreg, n_jobs={n_jobs}), "
                  f"{value[ours] / value['sklearn']:.3f} x GridSearchCV(MLPClassifier, 3 alphas, n_jobs={n_jobs})")
    print("\nratios repeat by repeat (each pair timed one after the other), median [min, max]:")
    for ours in ours_labels:
        for theirs in ("grid", "sklearn"):
            ratios = [mine / other for mine, other in zip(times[ours], times[theirs], strict=True)]
            print(f"  {ours:<15} / {theirs:<8}: {statistics.median(ratios):.3f} [{min(ratios):.3f}, {max(ratios):.3f}]")
    print(f"load average at the end: {load()}")

    ours, grid = fitted["cv"].cv_results_, fitted["grid"].cv_results_
    print("\nagreement: mean_test_score per candidate (same folds, same random_state)")
    print(f"{'alpha':>6} {'dropout':>8} {'CV estimator':>13} {'GridSearchCV':>13} {'difference':>11}")
    for params, mine, theirs in zip(ours["params"], ours["mean_test_score"], grid["mean_test_score"], strict=True):
        print(f"{params['alpha']:>6g} {params['dropout']:>8g} {mine:>13.6f} {theirs:>13.6f} {mine - theirs:>11.2e}")
    print(f"chosen: CV estimator {fitted['cv'].best_params_}, GridSearchCV {fitted['grid'].best_params_}")
    fast = fitted["cv f32"].cv_results_["mean_test_score"]
    print("\nsearch_dtype='float32': mean_test_score per candidate against GridSearchCV's (float64)")
    for params, mine, theirs in zip(ours["params"], fast, grid["mean_test_score"], strict=True):
        print(f"{params['alpha']:>6g} {params['dropout']:>8g} {mine:>13.6f} {theirs:>13.6f} {mine - theirs:>11.2e}")
    print(f"chosen: float32 search {fitted['cv f32'].best_params_}")


if __name__ == "__main__":
    main()
