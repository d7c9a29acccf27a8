"""Time skreg against scikit-learn's MLP in the same run, on identical settings.

Usage::

    python benchmarks/bench_vs_sklearn.py [--quick] [--only NAME[,NAME...]] [--repeats N]

Workloads (see ``benchmarks/README.md``):

* ``big32`` / ``big64``: 50 000 x 100 inputs, 10 classes, hidden (256, 256), relu, adam, batch 256,
  a fixed number of epochs; seconds per epoch.
* ``small``: 5 000 x 20, 2 classes, hidden (32,), batch 32; microseconds per minibatch step.
* ``ensemble``: 10 bootstrap nets (64, 64) on a 5 000 x 20 regression; skreg's
  ``n_estimators=10, bootstrap=True`` against ``BaggingRegressor(MLPRegressor)`` and against one skreg net.
* ``predict``: ``predict`` on 1 000 000 x 100 rows with the big float32 net; time and peak extra memory.
* ``predict-loaded``: a 20-member (64, 64) regressor's ``predict`` on 200 000 x 20 rows against
  ``BaggingRegressor(MLPRegressor)`` and one ``MLPRegressor``, idle and with 1 and 2 busy-loop processes.

Both libraries get the same hidden layers, activation, solver, learning rate, batch size, epochs,
shuffling and the *same objective*: scikit-learn divides its L2 term by the batch size B for adam,
skreg by the training-set size n, so ``alpha_skreg = alpha_sklearn * n / B`` (``--alpha`` sets
``alpha_sklearn``; its default is scikit-learn's 1e-4). ``tol=0`` and a huge ``n_iter_no_change`` make
both run exactly ``max_iter`` epochs.

Timings are the median of ``--repeats`` fits (skreg and scikit-learn alternate, so drifting machine load
hits both alike), after one untimed warm-up fit per library during which tracemalloc records the peak
memory allocated beyond the inputs. The loss columns: ``loss_`` as each library reports it (skreg: the
exact objective at the final weights; scikit-learn: the running average over the last epoch's batches),
then both models' training data loss recomputed here with one formula on the same rows.
"""

import argparse
import gc
import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy
import sklearn
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import BaggingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_info, threadpool_limits

import skreg
import skreg._train.blas
from skreg import RegularizedMLPClassifier, RegularizedMLPRegressor
from skreg._train.parallel import side_by_side_groups

WORKLOADS = ("big32", "big64", "small", "ensemble", "predict", "predict-loaded")
MB = 1024.0**2


# --------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the result table."""

    name: str
    unit: str
    skreg: float
    sklearn: float
    target: str
    loss_skreg: float = float("nan")
    loss_sklearn: float = float("nan")
    train_skreg: float = float("nan")
    train_sklearn: float = float("nan")
    test_skreg: float = float("nan")
    test_sklearn: float = float("nan")
    mem_skreg: float = float("nan")
    mem_sklearn: float = float("nan")
    floor: float = float("nan")
    notes: list = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.skreg / self.sklearn


CLOCK = {"name": "wall"}


def timed(fn):
    """``(wall seconds, CPU seconds of this process, result)`` of one call, after a garbage collection.

    CPU time sums over all threads (BLAS's included); with one BLAS thread it equals the wall time on an
    idle machine and, unlike the wall time, barely moves when other processes compete for the cores.
    """
    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - start, time.process_time() - cpu_start, result


def traced_peak(fn):
    """``(peak MB allocated during fn beyond what was live before, result)`` via tracemalloc.

    numpy reports its data buffers to tracemalloc, so this counts every array the call creates
    (BLAS's internal scratch space excepted).
    """
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / MB, result


def cpu_busy(interval: float = 0.25) -> float | None:
    """Fraction of all cores busy during ``interval`` seconds (Linux ``/proc/stat``; ``None`` elsewhere).

    Called while this process sleeps, so it measures the other processes' load.
    """
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]
        return idle, sum(values)

    try:
        idle0, total0 = sample()
        time.sleep(interval)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


class Quiet:
    """Optionally wait, before each timed run, until other processes leave the cores idle."""

    def __init__(self, max_wait: float, threshold: float = 0.10):
        self.max_wait = max_wait
        self.threshold = threshold
        self.busy_runs = 0
        self.runs = 0

    def wait(self) -> None:
        if self.max_wait <= 0:
            return
        deadline = time.perf_counter() + self.max_wait
        busy = cpu_busy()
        while busy is not None and busy > self.threshold and time.perf_counter() < deadline:
            busy = cpu_busy(1.0)
        self.runs += 1
        self.busy_runs += busy is not None and busy > self.threshold


QUIET = Quiet(0.0)


def alternate(fns: dict, repeats: int) -> dict:
    """Run each callable ``repeats`` times, alternating between them; times per name on the chosen clock.

    The other clock's times are kept in ``alternate.other`` for the notes.
    """
    times = {name: [] for name in fns}
    other = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            QUIET.wait()
            wall, cpu, _ = timed(fn)
            times[name].append(cpu if CLOCK["name"] == "cpu" else wall)
            other[name].append(wall if CLOCK["name"] == "cpu" else cpu)
    alternate.other = other
    return times


def other_clock_note(scale: float = 1.0, names=("skreg", "sklearn")) -> str:
    """The medians on the clock the table does not use."""
    other_name = "wall" if CLOCK["name"] == "cpu" else "CPU"
    medians = ", ".join(f"{name} {statistics.median(alternate.other[name]) * scale:.4g}" for name in names)
    return f"{other_name}-clock medians (same unit): {medians}"


def fmt_times(times: list, scale: float = 1.0) -> str:
    return "[" + ", ".join(f"{t * scale:.3g}" for t in times) + "]"


def log_loss_same_formula(proba: np.ndarray, y_index: np.ndarray) -> float:
    """Mean multinomial log-loss ``-mean log p[y]`` in float64 (probabilities clipped at 1e-15)."""
    p = np.asarray(proba, dtype=np.float64)[np.arange(len(y_index)), y_index]
    return float(-np.mean(np.log(np.clip(p, 1e-15, 1.0))))


def squared_loss_same_formula(y: np.ndarray, pred: np.ndarray) -> float:
    """``0.5 * mean((y - pred)**2)`` in float64 (one output: skreg's and scikit-learn's loss)."""
    return float(0.5 * np.mean((np.asarray(y, np.float64) - np.asarray(pred, np.float64)) ** 2))


def half_sq_norm(coefs) -> float:
    return float(sum(0.5 * np.sum(np.asarray(W, np.float64) ** 2) for W in coefs))


def matrix_product_seconds(layer_units: tuple, batch: int, steps: int, dtype, members: int = 1) -> float:
    """Seconds that the matrix products of ``steps`` minibatch steps take on their own.

    Per step, as in any MLP trained by backpropagation: ``A_l @ W_l`` forward for every layer, then
    backward ``A_l.T @ D_l`` (weight gradients) for every layer and ``D_l @ W_l.T`` for every layer
    but the first. Same shapes, dtype and BLAS threads as the fit; ``members`` > 1 stacks the arrays
    on a leading member axis and, as skreg does, splits them into groups side by side in threads with
    one BLAS thread each. An outer product (a layer of one unit) is a broadcast multiply, as skreg
    does it. Measured on ``min(steps, 50)`` steps, best of 3, scaled to ``steps``.
    """
    return _seconds_of_steps(layer_units, batch, steps, dtype, members, elementwise=False)


def lean_numpy_seconds(layer_units: tuple, batch: int, steps: int, dtype, members: int = 1) -> float:
    """Seconds of ``steps`` lean numpy steps of a relu regression net trained by adam with an L2 penalty.

    A lean step makes the matrix products of ``matrix_product_seconds`` and only the element-wise work
    that such a step cannot skip, each as one numpy call into a preallocated array: the bias adds, relu
    and its derivative, the output residual (its 1/B scale, on one column, left out), the bias
    gradients, the L2 gradient (scale, then add) and adam's ten passes over the parameters. It has no
    shuffling, batch gathering, loss value, divergence guard or other bookkeeping, so it bounds from
    below what a numpy implementation of the same training can reach.
    Members run in groups side by side as in ``matrix_product_seconds``.
    """
    return _seconds_of_steps(layer_units, batch, steps, dtype, members, elementwise=True)


def _seconds_of_steps(layer_units: tuple, batch: int, steps: int, dtype, members: int, elementwise: bool) -> float:
    sample = min(steps, 50)
    n_groups = side_by_side_groups(members)
    if n_groups == 1:
        step = _lean_step(layer_units, batch, dtype, members, elementwise)
        best = min(timed(lambda: _repeat(step, sample))[0] for _ in range(3))
        return best * steps / sample
    sizes = [len(group) for group in np.array_split(np.arange(members), n_groups)]
    group_steps = [_lean_step(layer_units, batch, dtype, size, elementwise) for size in sizes]

    def side_by_side():
        helpers = [threading.Thread(target=_repeat, args=(step, sample)) for step in group_steps[1:]]
        for helper in helpers:
            helper.start()
        _repeat(group_steps[0], sample)
        for helper in helpers:
            helper.join()

    with threadpool_limits(limits=1, user_api="blas"):
        best = min(timed(side_by_side)[0] for _ in range(3))
    return best * steps / sample


def _repeat(fn, times: int) -> None:
    for _ in range(times):
        fn()


def _lean_step(layer_units: tuple, batch: int, dtype, members: int, elementwise: bool):
    """A function running one step on random arrays: the products, and the element-wise work if asked.

    See ``matrix_product_seconds`` and ``lean_numpy_seconds``.
    """
    rng = np.random.default_rng(0)
    lead = (members,) if members > 1 else ()
    acts = [rng.standard_normal(lead + (batch, units)).astype(dtype) for units in layer_units]
    # Defined, finite values everywhere: without the element-wise work, the output delta is never written.
    deltas = [rng.standard_normal(A.shape).astype(dtype) for A in acts]
    active = [np.empty(A.shape, dtype=bool) for A in acts]
    shapes = zip(layer_units[:-1], layer_units[1:], strict=True)
    weights = [(rng.standard_normal(lead + shape) / np.sqrt(shape[0])).astype(dtype) for shape in shapes]
    grads = [np.empty_like(W) for W in weights]
    biases = [rng.standard_normal(lead + (1, units)).astype(dtype) for units in layer_units[1:]]
    bias_grads = [np.zeros_like(b) for b in biases]
    target = rng.standard_normal(acts[-1].shape).astype(dtype)
    ones = np.ones((1, batch), dtype=dtype)
    n_params = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:], strict=True))
    adam = _LeanAdam(lead, n_params, dtype)
    last = len(weights) - 1

    def transpose(M):
        return np.swapaxes(M, -1, -2)

    def step():
        for layer, W in enumerate(weights):
            np.matmul(acts[layer], W, out=acts[layer + 1])
            if elementwise:
                np.add(acts[layer + 1], biases[layer], out=acts[layer + 1])
                if layer < last:
                    np.maximum(acts[layer + 1], 0, out=acts[layer + 1])
        if elementwise:
            np.subtract(acts[-1], target, out=deltas[-1])
        for layer in range(last, -1, -1):
            np.matmul(transpose(acts[layer]), deltas[layer + 1], out=grads[layer])
            if elementwise:
                np.matmul(ones, deltas[layer + 1], out=bias_grads[layer])
            if layer > 0:
                product = np.multiply if weights[layer].shape[-1] == 1 else np.matmul
                product(deltas[layer + 1], transpose(weights[layer]), out=deltas[layer])
                if elementwise:
                    np.greater(acts[layer], 0, out=active[layer])
                    np.multiply(deltas[layer], active[layer], out=deltas[layer])
        if elementwise:
            adam.step()

    return step


class _LeanAdam:
    """Adam's ten passes, plus the L2 gradient's two, over a flat parameter array (see ``_lean_step``)."""

    def __init__(self, lead: tuple, n_params: int, dtype):
        self.params = np.full(lead + (n_params,), 0.1, dtype=dtype)
        self.grads, self.first, self.second, self.work, self.denominator = (
            np.full_like(self.params, 0.01) for _ in range(5))

    def step(self) -> None:
        np.multiply(self.params, 1e-4, out=self.work)  # the L2 gradient, (alpha / S) W ...
        np.add(self.grads, self.work, out=self.grads)  # ... added to the data term's
        np.multiply(self.first, 0.9, out=self.first)
        np.add(self.first, self.grads, out=self.first)
        np.multiply(self.grads, self.grads, out=self.work)
        np.multiply(self.second, 0.999, out=self.second)
        np.add(self.second, self.work, out=self.second)
        np.sqrt(self.second, out=self.denominator)
        np.add(self.denominator, 1e-8, out=self.denominator)
        np.divide(self.first, self.denominator, out=self.work)
        np.multiply(self.work, 1e-3, out=self.work)
        np.subtract(self.params, self.work, out=self.params)


def floor_note(row: "Row", unit_scale: float = 1.0) -> str:
    return (f"matrix products alone (same shapes, dtype and BLAS threads): {row.floor * unit_scale:.4g} {row.unit}, "
            f"{row.floor / row.skreg:.0%} of skreg's time; without any other work skreg would be at "
            f"{row.floor / row.sklearn:.2f} x scikit-learn")


def mlp_settings(args, hidden, batch_size, max_iter) -> dict:
    """Parameters shared verbatim by skreg and scikit-learn (alpha is converted separately)."""
    return dict(hidden_layer_sizes=hidden, activation="relu", solver="adam", batch_size=batch_size,
                learning_rate_init=1e-3, max_iter=max_iter, shuffle=True, tol=0.0, n_iter_no_change=10**9,
                early_stopping=False, random_state=0)


def skreg_alpha(alpha_sklearn: float, n_train: int, batch_size: int) -> float:
    """skreg's alpha giving the same objective as scikit-learn's adam with ``alpha_sklearn``."""
    return alpha_sklearn * n_train / batch_size


# --------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------

def classification_data(n_train, n_test, n_features, n_classes, dtype, seed=0):
    X, y = make_classification(n_samples=n_train + n_test, n_features=n_features,
                               n_informative=min(30, n_features // 2), n_redundant=min(10, n_features // 4),
                               n_classes=n_classes, class_sep=1.0, random_state=seed)
    X = X.astype(dtype)
    return X[:n_train].copy(), y[:n_train].copy(), X[n_train:].copy(), y[n_train:].copy()


def fit_pair(args, X, y, hidden, batch_size, max_iter):
    """Unfitted (skreg, sklearn) classifiers with identical settings and the same objective."""
    settings = mlp_settings(args, hidden, batch_size, max_iter)
    ours = RegularizedMLPClassifier(alpha=skreg_alpha(args.alpha, X.shape[0], batch_size), **settings)
    theirs = MLPClassifier(alpha=args.alpha, **settings)
    return ours, theirs


def classifier_quality(row: Row, ours, theirs, X, y, X_test, y_test, args, batch_size):
    """Fill the loss / score columns of ``row`` from two fitted classifiers."""
    index = np.searchsorted(ours.classes_, y)
    row.loss_skreg, row.loss_sklearn = ours.loss_, theirs.loss_
    row.train_skreg = log_loss_same_formula(ours.predict_proba(X), index)
    row.train_sklearn = log_loss_same_formula(theirs.predict_proba(X), index)
    row.test_skreg, row.test_sklearn = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    penalty = args.alpha / batch_size
    j_ours = row.train_skreg + penalty * half_sq_norm(ours.coefs_)
    j_theirs = row.train_sklearn + penalty * half_sq_norm(theirs.coefs_)
    row.notes.append(f"objective J = data loss + (alpha_sk/B)*0.5*||W||^2 on the training rows: "
                     f"skreg {j_ours:.5f}, sklearn {j_theirs:.5f}")
    dtypes = {W.dtype.name for W in ours.coefs_}, {W.dtype.name for W in theirs.coefs_}
    row.notes.append(f"fitted weight dtypes: skreg {sorted(dtypes[0])}, sklearn {sorted(dtypes[1])}")


def run_big(args, dtype) -> Row:
    name = "big32" if dtype == np.float32 else "big64"
    epochs = 1 if args.quick else 3
    batch = 256
    X, y, X_test, y_test = classification_data(50_000, 10_000, 100, 10, dtype)
    ours, theirs = fit_pair(args, X, y, (256, 256), batch, epochs)
    warm_ours, warm_theirs = fit_pair(args, X, y, (256, 256), batch, 1)
    mem_ours, _ = traced_peak(lambda: warm_ours.fit(X, y))
    mem_theirs, _ = traced_peak(lambda: warm_theirs.fit(X, y))
    times = alternate({"skreg": lambda: ours.fit(X, y), "sklearn": lambda: theirs.fit(X, y)}, args.repeats)
    med = {k: statistics.median(v) / epochs for k, v in times.items()}
    row = Row(name, "s/epoch", med["skreg"], med["sklearn"], "<= 0.50" if dtype == np.float32 else "<= 0.60",
              mem_skreg=mem_ours, mem_sklearn=mem_theirs)
    row.notes.append(f"{X.shape[0]}x{X.shape[1]} {np.dtype(dtype).name}, {epochs} epoch(s) per fit, "
                     f"alpha_sklearn={args.alpha:g} -> alpha_skreg={ours.alpha:g}")
    row.notes.append(f"per-epoch times: skreg {fmt_times(times['skreg'], 1 / epochs)}, "
                     f"sklearn {fmt_times(times['sklearn'], 1 / epochs)}")
    row.notes.append(other_clock_note(1 / epochs))
    row.notes.append(f"n_iter_: skreg {ours.n_iter_}, sklearn {theirs.n_iter_}")
    steps_per_epoch = int(np.ceil(X.shape[0] / batch))
    row.floor = matrix_product_seconds((100, 256, 256, 10), batch, steps_per_epoch, dtype)
    row.notes.append(floor_note(row))
    classifier_quality(row, ours, theirs, X, y, X_test, y_test, args, batch)
    return row


def run_small(args) -> Row:
    epochs = 5 if args.quick else 20
    batch = 32
    X, y, X_test, y_test = classification_data(5_000, 5_000, 20, 2, np.float64)
    steps = epochs * int(np.ceil(X.shape[0] / batch))
    ours, theirs = fit_pair(args, X, y, (32,), batch, epochs)
    warm_ours, warm_theirs = fit_pair(args, X, y, (32,), batch, 1)
    mem_ours, _ = traced_peak(lambda: warm_ours.fit(X, y))
    mem_theirs, _ = traced_peak(lambda: warm_theirs.fit(X, y))
    times = alternate({"skreg": lambda: ours.fit(X, y), "sklearn": lambda: theirs.fit(X, y)}, args.repeats)
    med = {k: statistics.median(v) / steps * 1e6 for k, v in times.items()}
    row = Row("small", "us/step", med["skreg"], med["sklearn"], "<= 0.60", mem_skreg=mem_ours,
              mem_sklearn=mem_theirs)
    row.notes.append(f"{X.shape[0]}x{X.shape[1]} float64, {epochs} epochs x {steps // epochs} steps, "
                     f"alpha_sklearn={args.alpha:g} -> alpha_skreg={ours.alpha:g}")
    row.notes.append(f"us/step: skreg {fmt_times(times['skreg'], 1e6 / steps)}, "
                     f"sklearn {fmt_times(times['sklearn'], 1e6 / steps)}")
    row.notes.append(other_clock_note(1e6 / steps))
    row.floor = matrix_product_seconds((20, 32, 1), batch, steps, np.float64) / steps * 1e6
    row.notes.append(floor_note(row))
    classifier_quality(row, ours, theirs, X, y, X_test, y_test, args, batch)
    return row


def run_ensemble(args) -> list:
    epochs = 10 if args.quick else 50
    n_train, n_members, batch = 5_000, 10, 200
    X, y = make_regression(n_samples=n_train + 5_000, n_features=20, n_informative=10, noise=10.0, random_state=0)
    y = (y - y.mean()) / y.std()
    X_test, y_test, X, y = X[n_train:], y[n_train:], X[:n_train], y[:n_train]
    settings = mlp_settings(args, (64, 64), batch, epochs)
    alpha = skreg_alpha(args.alpha, n_train, batch)  # each bag has n_train rows, drawn with replacement

    def make_ours(m=n_members, max_iter=epochs):
        return RegularizedMLPRegressor(alpha=alpha, n_estimators=m, bootstrap=m > 1,
                                       **{**settings, "max_iter": max_iter})

    def make_theirs(max_iter=epochs):
        return BaggingRegressor(MLPRegressor(alpha=args.alpha, **{**settings, "max_iter": max_iter}),
                                n_estimators=n_members, bootstrap=True, random_state=0)

    ours, single, theirs = make_ours(), make_ours(1), make_theirs()
    mem_ours, _ = traced_peak(lambda: make_ours(max_iter=1).fit(X, y))
    mem_theirs, _ = traced_peak(lambda: make_theirs(max_iter=1).fit(X, y))
    mem_single, _ = traced_peak(lambda: make_ours(1, max_iter=1).fit(X, y))
    times = alternate({"skreg": lambda: ours.fit(X, y), "sklearn": lambda: theirs.fit(X, y),
                       "single": lambda: single.fit(X, y)}, args.repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    row = Row("ensemble", "s/fit", med["skreg"], med["sklearn"], "<= 0.30", mem_skreg=mem_ours,
              mem_sklearn=mem_theirs)
    row.loss_skreg = ours.loss_
    row.loss_sklearn = float(np.mean([est.loss_ for est in theirs.estimators_]))
    row.train_skreg = squared_loss_same_formula(y, ours.predict(X))
    row.train_sklearn = squared_loss_same_formula(y, theirs.predict(X))
    row.test_skreg, row.test_sklearn = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    row.notes.append(f"{n_train}x20 float64 regression, {n_members} bootstrap members (64, 64), {epochs} epochs, "
                     f"batch {batch}, alpha_sklearn={args.alpha:g} -> alpha_skreg={alpha:g}")
    row.notes.append("loss_ columns: mean over members of each library's own loss_; train loss: 0.5*mean((y-yhat)^2) "
                     "of the ensemble's mean prediction")
    row.notes.append(f"fit seconds: skreg(10) {fmt_times(times['skreg'])}, Bagging {fmt_times(times['sklearn'])}, "
                     f"skreg(1) {fmt_times(times['single'])}")
    row.notes.append(other_clock_note(names=("skreg", "sklearn", "single")))
    ens_vs_single = Row("ens/single", "s/fit", med["skreg"], med["single"], "<= 3.0", loss_skreg=ours.loss_,
                        loss_sklearn=single.loss_, train_skreg=row.train_skreg,
                        train_sklearn=squared_loss_same_formula(y, single.predict(X)),
                        test_skreg=row.test_skreg, test_sklearn=single.score(X_test, y_test),
                        mem_skreg=mem_ours, mem_sklearn=mem_single)
    ens_vs_single.notes.append("second column is one skreg net (n_estimators=1, no bootstrap), not scikit-learn")
    steps = epochs * int(np.ceil(n_train / batch))
    row.floor = ens_vs_single.floor = matrix_product_seconds((20, 64, 64, 1), batch, steps, np.float64, n_members)
    row.notes.append(floor_note(row) + f" (the members' products in {side_by_side_groups(n_members)} group(s) "
                     "side by side, as skreg runs them)")
    ens_vs_single.notes.append(f"the 10 members' matrix products alone take {row.floor / med['single']:.2f} x "
                               "one whole single-net fit")
    lean = lean_numpy_seconds((20, 64, 64, 1), batch, steps, np.float64, n_members)
    ens_vs_single.notes.append(f"lean numpy floor: the 10 members' lean numpy steps (products plus the element-wise "
                               f"work no step can skip, no bookkeeping) take {lean:.3g} s, "
                               f"{lean / med['single']:.2f} x one whole single-net fit")
    return [row, ens_vs_single]


def run_predict(args) -> Row:
    n_rows = 200_000 if args.quick else 1_000_000
    X, y, X_test, y_test = classification_data(50_000, 10_000, 100, 10, np.float32)
    ours, theirs = fit_pair(args, X, y, (256, 256), 256, 1)
    ours.fit(X, y)
    theirs.fit(X, y)
    rng = np.random.default_rng(1)
    X_big = X[rng.integers(0, X.shape[0], n_rows)]  # rows like the training data, jittered
    X_big += rng.standard_normal(X_big.shape, dtype=np.float32) * np.float32(0.1)
    peak_ours, out_ours = traced_peak(lambda: ours.predict(X_big))
    peak_theirs, out_theirs = traced_peak(lambda: theirs.predict(X_big))
    extra_ours, extra_theirs = peak_ours - out_ours.nbytes / MB, peak_theirs - out_theirs.nbytes / MB
    times = alternate({"skreg": lambda: ours.predict(X_big), "sklearn": lambda: theirs.predict(X_big)},
                      args.repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    row = Row("predict", "s/call", med["skreg"], med["sklearn"], "<= 1.0", mem_skreg=extra_ours,
              mem_sklearn=extra_theirs)
    row.test_skreg, row.test_sklearn = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    agree = float(np.mean(out_ours == out_theirs))
    row.notes.append(f"predict() on {n_rows}x100 float32 (X = {X_big.nbytes / MB:.0f} MB, output "
                     f"{out_ours.nbytes / MB:.0f} MB); nets fitted 1 epoch on big32 data")
    row.notes.append(f"peak MB column = extra memory beyond X and the output (target skreg <= 150 MB): "
                     f"skreg {extra_ours:.0f}, sklearn {extra_theirs:.0f}")
    row.notes.append(f"seconds: skreg {fmt_times(times['skreg'])}, sklearn {fmt_times(times['sklearn'])}; "
                     f"label agreement between the two nets {agree:.3f}")
    row.notes.append(other_clock_note())
    return row


class CompetingLoad:
    """``n`` busy-loop processes (``python -c "while True: pass"``) competing for the cores, killed on exit."""

    def __init__(self, n: int):
        self.n = n
        self.processes = []

    def __enter__(self):
        self.processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(0.5 if self.n else 0.0)  # let them reach the cores
        return self

    def __exit__(self, *exc_info):
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()


def run_predict_loaded(args) -> list:
    """20-member ``predict`` against BaggingRegressor(MLPRegressor) and one MLPRegressor, idle and under load."""
    n_rows = 50_000 if args.quick else 200_000
    n_members, n_train, hidden = 20, 5_000, (64, 64)
    X, y = make_regression(n_samples=n_train + n_rows, n_features=20, n_informative=10, noise=10.0, random_state=0)
    y = (y - y.mean()) / y.std()
    X_big, X, y = X[n_train:], X[:n_train], y[:n_train]
    settings = mlp_settings(args, hidden, 200, 2)  # 2 epochs: only prediction is timed
    ours = RegularizedMLPRegressor(alpha=skreg_alpha(args.alpha, n_train, 200), n_estimators=n_members,
                                   bootstrap=True, **settings).fit(X, y)
    bagging = BaggingRegressor(MLPRegressor(alpha=args.alpha, **settings), n_estimators=n_members, bootstrap=True,
                               random_state=0).fit(X, y)
    single = MLPRegressor(alpha=args.alpha, **settings).fit(X, y)
    size_rule = skreg._train.blas.SINGLE_THREAD_FLOPS

    X_tenth = X_big[: n_rows // 10]

    def ours_without_size_rule():
        # skreg as before the size rule, every product on the BLAS threads as set; 10-40x slower on a busy
        # machine, so timed once on a tenth of the rows.
        skreg._train.blas.SINGLE_THREAD_FLOPS = 0
        try:
            return timed(lambda: ours.predict(X_tenth))[0] * 10
        finally:
            skreg._train.blas.SINGLE_THREAD_FLOPS = size_rule

    rows = []
    for load in (0, 1) if args.quick else (0, 1, 2):
        with CompetingLoad(load):
            busy = cpu_busy()
            times = alternate({"skreg": lambda: ours.predict(X_big), "sklearn": lambda: bagging.predict(X_big),
                               "single": lambda: single.predict(X_big)}, args.repeats)
            unsized = ours_without_size_rule()
        med = {k: statistics.median(v) for k, v in times.items()}
        label = "idle" if load == 0 else f"load{load}"
        vs_bagging = Row(f"pred-{label}", "s/call", med["skreg"], med["sklearn"], "<= 0.50")
        vs_single = Row(f"pred-{label}/mlp", "s/call", med["skreg"], med["single"], "<= 20")
        vs_bagging.notes.append(f"predict() on {n_rows}x20 float64 rows, {n_members} nets {hidden}; {load} busy-loop "
                                f"process(es) started by the benchmark; cores busy before timing: "
                                f"{'unknown' if busy is None else f'{busy:.0%}'}")
        vs_bagging.notes.append(f"seconds: skreg {fmt_times(times['skreg'])}, Bagging {fmt_times(times['sklearn'])}, "
                                f"one MLPRegressor {fmt_times(times['single'])}")
        vs_bagging.notes.append(f"skreg without the BLAS size rule (every product on the BLAS threads as set; wall "
                                f"time of one call on a tenth of the rows, x 10): {unsized:.3g} s = "
                                f"{unsized / med['skreg']:.1f} x skreg, {unsized / med['sklearn']:.2f} x Bagging")
        vs_single.notes.append("second column is one scikit-learn MLPRegressor (the ensemble has 20 nets)")
        rows += [vs_bagging, vs_single]
    return rows


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def git_state() -> str:
    root = Path(skreg.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "skreg"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else " (clean)")


def load_average() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def header(args) -> str:
    blas = [f"{info['internal_api']} {info.get('version')} ({info['num_threads']} threads, {info['prefix']})"
            for info in threadpool_info() if info["user_api"] == "blas"]
    lines = [
        "skreg vs scikit-learn MLP benchmark",
        f"command : {shlex.join([sys.executable, *sys.argv])}",
        f"mode    : {'quick' if args.quick else 'full'}, {args.repeats} timed repeats (median) after one untimed "
        "warm-up fit (memory is traced during the warm-up)",
        f"clock   : {'process CPU time (all threads)' if args.clock == 'cpu' else 'wall time'} in the table",
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}, cpus {os.cpu_count()}, {platform.machine()}",
        f"BLAS    : {'; '.join(blas)}",
        f"skreg   : {Path(skreg.__file__).resolve().parent}, git {git_state()}",
        f"alpha   : sklearn alpha={args.alpha:g}; skreg alpha = alpha * n_train / batch_size "
        "(same objective J = mean loss + alpha/B * 0.5||W||^2)",
        f"started : {time.strftime('%Y-%m-%d %H:%M:%S')}, load average {load_average()}",
    ]
    return "\n".join(lines)


def table(rows: list) -> str:
    cols = ["workload", "unit", "skreg", "sklearn", "ratio", "target", "ok", "floor", "loss_ skreg", "loss_ sk",
            "train skreg", "train sk", "test skreg", "test sk", "MB skreg", "MB sk"]
    lines = []
    for row in rows:
        ok = "yes" if row.ratio <= float(row.target.split()[-1]) else "NO"
        floor = "" if np.isnan(row.floor) else f"{row.floor / row.sklearn:.2f}"
        lines.append([row.name, row.unit, f"{row.skreg:.4g}", f"{row.sklearn:.4g}", f"{row.ratio:.2f}", row.target, ok,
                      floor,
                      f"{row.loss_skreg:.4f}", f"{row.loss_sklearn:.4f}", f"{row.train_skreg:.4f}",
                      f"{row.train_sklearn:.4f}", f"{row.test_skreg:.4f}", f"{row.test_sklearn:.4f}",
                      f"{row.mem_skreg:.0f}", f"{row.mem_sklearn:.0f}"])
    widths = [max(len(c), *(len(line[i]) for line in lines)) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


LEGEND = """\
ratio = skreg / sklearn (lower is better; ens/single compares skreg's 10-net ensemble with one skreg net).
floor = the ratio skreg would reach if everything but its matrix products were free (their time alone, same
shapes and BLAS, over sklearn's time): about the hardware bound on the ratio for these settings.
loss_ = each library's own loss_ (skreg: exact objective at the final weights; sklearn: running average of
the last epoch's batch losses, penalty included). train = training data loss of the final model recomputed
here with one formula for both (log-loss, or 0.5*mean squared error). test = accuracy (classifiers) or R^2.
MB = tracemalloc peak during a fit (beyond the training data), or for predict the extra beyond X and output."""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs, rows and repeats (about 1-2 minutes)")
    parser.add_argument("--only", default=None,
                        help=f"comma-separated subset of {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per library (default 5, quick 3)")
    parser.add_argument("--alpha", type=float, default=1e-4,
                        help="scikit-learn's alpha (skreg gets alpha*n/batch_size); 0 disables the penalty")
    parser.add_argument("--blas-threads", type=int, default=None, help="limit BLAS threads (default: as installed)")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each timed run, wait up to SECONDS until other processes use < 10%% of the "
                             "cores (Linux; for shared machines)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time the table reports: wall (default) or this process's CPU time, which is robust "
                             "to other processes on a shared machine when used with --blas-threads 1")
    args = parser.parse_args(argv)
    QUIET.max_wait = args.wait_idle
    CLOCK["name"] = args.clock
    args.repeats = args.repeats or (3 if args.quick else 5)
    selected = WORKLOADS if args.only is None else tuple(name.strip() for name in args.only.split(","))
    unknown = set(selected) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s) {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        print(header(args), flush=True)
        runners = {"big32": lambda: [run_big(args, np.float32)], "big64": lambda: [run_big(args, np.float64)],
                   "small": lambda: [run_small(args)], "ensemble": lambda: run_ensemble(args),
                   "predict": lambda: [run_predict(args)], "predict-loaded": lambda: run_predict_loaded(args)}
        rows = []
        started = time.perf_counter()
        for name in selected:
            t0 = time.perf_counter()
            new_rows = runners[name]()
            rows += new_rows
            print(f"\n[{name}] done in {time.perf_counter() - t0:.1f} s", flush=True)
            for row in new_rows:
                for note in row.notes:
                    print(f"  {row.name}: {note}", flush=True)
    print(f"\nResults ({time.perf_counter() - started:.0f} s in total; load average now {load_average()}: "
          f"anything well above 0 means other processes shared the {os.cpu_count()} cores)")
    if QUIET.runs:
        print(f"--wait-idle: {QUIET.busy_runs} of {QUIET.runs} timed runs started while other processes were busy")
    print()
    print(table(rows))
    print()
    print(LEGEND)


if __name__ == "__main__":
    main()
