"""Micro-benchmarks of every operation in one adam minibatch step, as skreg does it and leaner.

Usage::

    python benchmarks/micro_hot_loop.py [--config big32,big64,small] [--min-time 0.2]

Self-contained (numpy/scipy only): it re-implements the operations of skreg's hot loop
(``skreg/_training.py`` ``run_epoch``/``train_step``, ``_network.forward``/``backward``,
``_losses``, ``_optimizers.Adam.step``, as of commit 6adc4d9, during 0.1.0) on arrays of the benchmark shapes, so
it keeps working while those modules change. For each operation it prints the time of skreg's way
and of an alternative, then times a whole step both ways and checks that they compute the same
gradients and loss.

Timings are the minimum over repeats of the mean over many calls (the minimum is the least disturbed
by other processes); they measure one operation in a warm cache, so they are a guide to what each
change can save, not a prediction of the epoch time.
"""

import argparse
import time
import timeit
from pathlib import Path

import numpy as np
from scipy.linalg import blas
from threadpoolctl import ThreadpoolController, threadpool_info, threadpool_limits

from skreg._network import ParameterLayout

CONFIGS = {
    # name: rows, features, hidden, outputs, batch, dtype, output activation
    "big32": (50_000, 100, (256, 256), 10, 256, np.float32, "softmax"),
    "big64": (50_000, 100, (256, 256), 10, 256, np.float64, "softmax"),
    "small": (5_000, 20, (32,), 1, 32, np.float64, "logistic"),
}


def best_us(fn, min_time: float, repeat: int = 15) -> float:
    """Microseconds per call: min over ``repeat`` runs of ``number`` calls lasting ~min_time/repeat each."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(1, int(number * min_time / repeat / 0.2))
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


class Problem:
    """Arrays of one training problem laid out as skreg lays them out (member axis m = 1)."""

    def __init__(self, n, d, hidden, k, batch, dtype, out):
        rng = np.random.default_rng(0)
        self.dtype, self.batch, self.out = dtype, batch, out
        self.units = (d, *hidden, k)
        self.X = rng.standard_normal((n, d)).astype(dtype)
        labels = rng.integers(0, max(k, 2), n)
        self.Y = (np.eye(k, dtype=dtype)[labels] if k > 1 else labels[:, None].astype(dtype))
        self.w = np.ones(n, dtype=dtype)
        self.perm = rng.permutation(n)
        self.rows = self.perm[:batch]
        self.n_steps = int(np.ceil(n / batch))
        self._next = 0
        self.ones = np.ones(batch, dtype)
        self.shuffled = (np.empty_like(self.X), np.empty_like(self.Y), np.empty_like(self.w))
        shapes = list(zip(self.units[:-1], self.units[1:], strict=True))
        self.n_weights = sum(a * b for a, b in shapes)
        self.n_params = self.n_weights + sum(self.units[1:])
        self.params = (rng.uniform(-1, 1, (1, self.n_params)) * 0.1).astype(dtype)
        self.grads = np.empty_like(self.params)
        self.shapes = shapes
        self.W, self.b = self.views(self.params)
        self.gW, self.gb = self.views(self.grads)
        # skreg's Workspace: 3-D forward and delta buffers
        self.Z = [np.empty((1, batch, u), dtype) for u in self.units[1:]]
        self.D = [np.empty((1, batch, u), dtype) for u in self.units[1:-1]]
        # buffers for the lean variants (2-D)
        self.Xb = np.empty((batch, d), dtype)
        self.Yb = np.empty((batch, k), dtype)
        self.wb = np.empty(batch, dtype)
        self.T = np.empty((batch, k), dtype)
        self.mask = [np.empty((batch, u), bool) for u in self.units[1:-1]]
        self.adam_m = np.zeros_like(self.params)
        self.adam_v = np.zeros_like(self.params)
        self.adam_den = np.empty_like(self.params)
        self.adam_work = np.empty_like(self.params)
        self.before = np.empty_like(self.params)
        self.member_scale = np.ones((1, 1), dtype)
        self.adam_t = np.full((1, 1), 9.0)
        self.l2 = np.array([1e-4 / batch])

    def next_rows(self):
        """The next batch of an epoch's permutation, as in training (rows not in cache)."""
        start = self._next * self.batch
        self._next = (self._next + 1) % (self.n_steps - 1)
        return self.perm[start : start + self.batch]

    def views(self, flat):
        """skreg's ``ParameterLayout.views``, called as skreg's step calls it (recomputed every time)."""
        return ParameterLayout(tuple(self.units)).views(flat)


# --------------------------------------------------------------------------
# skreg's step at commit 6adc4d9 (during 0.1.0), operation by operation
# --------------------------------------------------------------------------

def activation(p, Z, last):
    if not last:
        return np.maximum(Z, 0, out=Z)
    if p.out == "logistic":
        from scipy.special import expit
        return expit(Z, out=Z)
    Z -= Z.max(axis=-1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=-1, keepdims=True)
    return Z


def skreg_loss(p, Y, P, weight):
    eps = np.finfo(P.dtype).eps
    if p.out == "softmax":
        per_sample = -np.einsum("...k,...k->...", np.broadcast_to(Y, P.shape), np.log(np.clip(P, eps, 1 - eps)))
    else:
        Pc = np.clip(P, eps, 1 - eps)
        Yb = np.broadcast_to(Y, Pc.shape)
        per_sample = -(np.einsum("...k,...k->...", Yb, np.log(Pc)) + np.einsum("...k,...k->...", 1 - Yb, np.log1p(-Pc)))
    return np.sum(per_sample * weight, axis=-1) / np.sum(weight, axis=-1)


def skreg_step(p, rows):
    """One step as skreg ran it at commit 6adc4d9; returns the batch loss."""
    X, Y, weight = p.X[rows], p.Y[rows], p.w[rows]
    np.copyto(p.before, p.params)  # FiniteGuard.before_step
    W, b = p.views(p.params)
    gW, gb = p.views(p.grads)
    inputs, outputs = [X], []
    for layer in range(len(W)):
        Z = np.matmul(inputs[-1], W[layer], out=p.Z[layer])
        Z += b[layer]
        A = activation(p, Z, layer == len(W) - 1)
        outputs.append(A)
        inputs.append(A)
    P = outputs[-1]
    loss = skreg_loss(p, Y, P, weight)
    np.subtract(P, Y, out=P)
    P *= (weight / np.sum(weight, axis=-1, keepdims=True))[..., None]
    delta = P
    for layer in range(len(W) - 1, -1, -1):
        A_in = inputs[layer]
        if layer == 0:
            np.matmul(A_in.T, delta, out=gW[0])
        else:
            np.matmul(A_in.transpose(0, 2, 1), delta, out=gW[layer])
        np.sum(delta, axis=-2, keepdims=True, out=gb[layer])
        if layer == 0:
            break
        delta = np.matmul(delta, W[layer].transpose(0, 2, 1), out=p.D[layer - 1])
        delta *= outputs[layer - 1] > 0
    factor = p.l2.astype(p.dtype)[:, None]
    p.grads[:, : p.n_weights] += np.multiply(p.params[:, : p.n_weights], factor, out=p.adam_work[:, : p.n_weights])
    skreg_adam(p, p.params, p.grads)
    return loss


def skreg_adam(p, params, grads, b1=0.9, b2=0.999, eps=1e-8, lr=1e-3):
    """skreg's Adam.step, with its per-member step count ``t`` of shape (m, 1)."""
    p.adam_t += p.member_scale
    work = p.adam_work
    p.adam_m *= b1
    p.adam_m += np.multiply(grads, 1.0 - b1, out=work)
    p.adam_v *= b2
    np.multiply(grads, grads, out=work)
    work *= 1.0 - b2
    p.adam_v += work
    t = np.maximum(p.adam_t, 1.0)
    rate = (lr * np.sqrt(1.0 - b2**t) / (1.0 - b1**t)).astype(work.dtype)
    np.sqrt(p.adam_v, out=p.adam_den)
    p.adam_den += eps
    np.divide(p.adam_m, p.adam_den, out=work)
    work *= p.member_scale * rate
    params -= work


# --------------------------------------------------------------------------
# The lean step: one member -> 2-D arrays, buffers everywhere, views cached
# --------------------------------------------------------------------------

class Lean:
    """Cached 2-D views and BLAS axpy for one member."""

    def __init__(self, p):
        W, b = p.views(p.params)
        gW, gb = p.views(p.grads)
        self.W, self.b = [w[0] for w in W], [v[0, 0] for v in b]
        self.gW, self.gb = [w[0] for w in gW], [v[0, 0] for v in gb]
        self.Z = [z[0] for z in p.Z]
        self.D = [z[0] for z in p.D]
        self.flat = p.params[0]
        self.gflat = p.grads[0]
        self.weights, self.gweights = p.params[0, : p.n_weights], p.grads[0, : p.n_weights]
        self.m, self.v = p.adam_m[0], p.adam_v[0]
        self.den, self.work = p.adam_den[0], p.adam_work[0]
        self.axpy = blas.get_blas_funcs("axpy", dtype=p.dtype)
        self.l2 = float(p.l2[0])
        self.t = 9  # a Python int when there is one member


def lean_loss(p, P, Y, w, wsum):
    """Same value as skreg_loss, one clip+log into a buffer and a dot product."""
    eps = np.finfo(P.dtype).eps
    T = np.minimum(np.maximum(P, eps, out=p.T), 1 - eps, out=p.T)  # np.clip has more call overhead
    if p.out == "softmax":
        np.log(T, out=T)
        T *= Y
        return -float(w @ T.sum(axis=1)) / wsum
    # binary: y log p + (1 - y) log(1 - p) = log(where(y, p, 1 - p)) for 0/1 labels
    np.subtract(1, T, out=T, where=Y < 0.5)
    np.log(T, out=T)
    return -float(w @ T[:, 0]) / wsum


def lean_step(p, lean, rows):
    X = np.take(p.X, rows, axis=0, out=p.Xb)
    Y = np.take(p.Y, rows, axis=0, out=p.Yb)
    w = np.take(p.w, rows, out=p.wb)
    np.copyto(p.before, p.params)
    wsum = float(w.sum())
    A = X
    acts = [X]
    n_layers = len(lean.W)
    for layer in range(n_layers):
        Z = np.matmul(A, lean.W[layer], out=lean.Z[layer])
        Z += lean.b[layer]
        A = activation(p, Z, layer == n_layers - 1)
        acts.append(A)
    P = A
    loss = lean_loss(p, P, Y, w, wsum)
    np.subtract(P, Y, out=P)
    P *= (w / wsum)[:, None]
    delta = P
    for layer in range(n_layers - 1, -1, -1):
        np.matmul(acts[layer].T, delta, out=lean.gW[layer])
        np.matmul(p.ones, delta, out=lean.gb[layer])  # column sums by BLAS gemv
        if layer == 0:
            break
        delta = np.matmul(delta, lean.W[layer].T, out=lean.D[layer - 1])
        mask = np.greater(acts[layer], 0, out=p.mask[layer - 1])
        delta *= mask
    lean.axpy(lean.weights, lean.gweights, a=lean.l2)  # grads_W += l2 * W, one pass
    lean.t += 1
    lean_adam(lean, lean.t)
    return loss


def lean_adam(lean, t, b1=0.9, b2=0.999, eps=1e-8, lr=1e-3):
    g, m, v, work, den = lean.gflat, lean.m, lean.v, lean.work, lean.den
    m *= b1
    lean.axpy(g, m, a=1.0 - b1)
    v *= b2
    np.multiply(g, g, out=work)
    lean.axpy(work, v, a=1.0 - b2)
    rate = lr * np.sqrt(1.0 - b2**t) / (1.0 - b1**t)
    np.sqrt(v, out=den)
    den += eps
    np.divide(m, den, out=work)
    lean.axpy(work, lean.flat, a=-rate)


# --------------------------------------------------------------------------
# Per-operation comparisons
# --------------------------------------------------------------------------

def shuffled_slices(p):
    """Every n_steps calls, copy the whole data set in the epoch's order (one np.take each); then slice a batch."""
    step = p._next
    if step == 0:
        for src, dst in zip((p.X, p.Y, p.w), p.shuffled, strict=True):
            np.take(src, p.perm, axis=0, out=dst)
    p._next = (p._next + 1) % (p.n_steps - 1)
    start = step * p.batch
    return tuple(a[start : start + p.batch] for a in p.shuffled)


def operations(p, lean):
    """``(name, skreg's way, alternative)`` for each operation of the step."""
    X3 = p.X[p.rows]
    Wl, Zl = p.views(p.params)[0], p.Z
    A1 = np.abs(p.Z[0])
    last = len(Wl) - 1
    P = np.full((1, p.batch, p.units[-1]), 1.0 / max(p.units[-1], 2), p.dtype)
    Y = p.Y[p.rows]
    weight = p.w[p.rows]
    delta_out = np.ones((1, p.batch, p.units[-1]), p.dtype)
    delta_hidden = np.ones((1, p.batch, p.units[-2]), p.dtype)
    A_hidden = np.abs(np.ones((1, p.batch, p.units[-2]), p.dtype))
    ops = [
        ("gather X, Y, w: fancy index vs np.take(out=)",
         lambda: (lambda r: (p.X[r], p.Y[r], p.w[r]))(p.next_rows()),
         lambda: (lambda r: (np.take(p.X, r, axis=0, out=p.Xb), np.take(p.Y, r, axis=0, out=p.Yb),
                             np.take(p.w, r, out=p.wb)))(p.next_rows())),
        ("gather X, Y, w: fancy index vs per-epoch shuffled copy + slices (amortised)",
         lambda: (lambda r: (p.X[r], p.Y[r], p.w[r]))(p.next_rows()), lambda: shuffled_slices(p)),
        ("views() of params and grads: per step vs cached", lambda: (p.views(p.params), p.views(p.grads)),
         lambda: None),
        ("FiniteGuard copy of params (kept in the lean step)", lambda: np.copyto(p.before, p.params), None),
        ("fwd layer 0 matmul: 2-D X @ 3-D W vs 2-D @ 2-D",
         lambda: np.matmul(X3, Wl[0], out=Zl[0]), lambda: np.matmul(X3, lean.W[0], out=lean.Z[0])),
    ]
    for layer in range(1, len(Wl)):
        A_in = np.abs(p.Z[layer - 1])
        ops.append((f"fwd layer {layer} matmul: 3-D vs 2-D",
                    lambda A_in=A_in, layer=layer: np.matmul(A_in, Wl[layer], out=Zl[layer]),
                    lambda A_in=A_in, layer=layer: np.matmul(A_in[0], lean.W[layer], out=lean.Z[layer])))
    ops += [
        ("fwd bias add (all layers)", lambda: [np.add(z, b, out=z) for z, b in zip(p.Z, p.b, strict=True)],
         lambda: [np.add(z, b, out=z) for z, b in zip(lean.Z, lean.b, strict=True)]),
        ("fwd relu (hidden layers)", lambda: [np.maximum(z, 0, out=z) for z in p.Z[:-1]], None),
        (f"fwd output activation ({p.out}), incl. a copy", lambda: activation(p, p.Z[-1].copy(), True), None),
        ("loss: einsum(broadcast_to, log(clip)) vs clip/log into buffer + dot",
         lambda: skreg_loss(p, Y, P, weight), lambda: lean_loss(p, P[0], Y, weight, float(weight.sum()))),
        ("output delta (P - Y) * w / sum(w)",
         lambda: np.multiply(np.subtract(P, Y, out=delta_out), (weight / np.sum(weight, axis=-1, keepdims=True))[
             ..., None], out=delta_out),
         lambda: np.multiply(np.subtract(P[0], Y, out=delta_out[0]), (weight / float(weight.sum()))[:, None],
                             out=delta_out[0])),
        (f"bwd grad W{last}: A.transpose(0,2,1) @ delta (3-D) vs A.T @ delta (2-D)",
         lambda: np.matmul(A_hidden.transpose(0, 2, 1), delta_out, out=p.gW[last]),
         lambda: np.matmul(A_hidden[0].T, delta_out[0], out=lean.gW[last])),
        (f"bwd delta: delta @ W{last}.transpose(0,2,1) (3-D) vs 2-D",
         lambda: np.matmul(delta_out, Wl[last].transpose(0, 2, 1), out=p.D[last - 1]),
         lambda: np.matmul(delta_out[0], lean.W[last].T, out=lean.D[last - 1])),
        ("bwd relu': delta *= A > 0 vs np.greater(out=) then *=",
         lambda: np.multiply(delta_hidden, A_hidden > 0, out=delta_hidden),
         lambda: np.multiply(delta_hidden[0], np.greater(A_hidden[0], 0, out=p.mask[-1]), out=delta_hidden[0])),
    ]
    if len(Wl) > 2:
        dh = np.ones((1, p.batch, p.units[2]), p.dtype)
        ops += [
            ("bwd grad W1: 3-D transposed vs 2-D",
             lambda: np.matmul(A1.transpose(0, 2, 1), dh, out=p.gW[1]),
             lambda: np.matmul(A1[0].T, dh[0], out=lean.gW[1])),
            ("bwd delta through W1: 3-D vs 2-D",
             lambda: np.matmul(dh, Wl[1].transpose(0, 2, 1), out=p.D[0]),
             lambda: np.matmul(dh[0], lean.W[1].T, out=lean.D[0])),
        ]
    d1 = np.ones((1, p.batch, p.units[1]), p.dtype)
    ops += [
        ("bwd grad W0: 2-D X.T @ 3-D delta vs 2-D @ 2-D",
         lambda: np.matmul(X3.T, d1, out=p.gW[0]), lambda: np.matmul(X3.T, d1[0], out=lean.gW[0])),
        ("bwd bias grads: np.sum(axis=-2, keepdims, out=) vs ones @ delta (gemv)",
         lambda: [np.sum(dd, axis=-2, keepdims=True, out=g) for dd, g in zip([d1, *p.D[1:], delta_out], p.gb,
                                                                              strict=True)],
         lambda: [np.matmul(p.ones, dd[0], out=g) for dd, g in zip([d1, *p.D[1:], delta_out], lean.gb,
                                                                    strict=True)]),
        ("L2 gradient: grads_W += W * f (2 passes) vs BLAS axpy (1 pass)",
         lambda: np.add(p.grads[:, : p.n_weights],
                        np.multiply(p.params[:, : p.n_weights], p.l2.astype(p.dtype)[:, None],
                                    out=p.adam_work[:, : p.n_weights]), out=p.grads[:, : p.n_weights]),
         lambda: lean.axpy(lean.weights, lean.gweights, a=lean.l2)),
        ("Adam step: 13 passes + per-member rate (m,1) arrays vs 9 passes (axpy), scalar t",
         lambda: skreg_adam(p, p.params, p.grads), lambda: lean_adam(lean, 10)),
    ]
    return ops


def dtype_audit(p):
    """The dtype of every array skreg's step creates or touches (float32 must stay float32)."""
    X, Y, weight = p.X[p.rows], p.Y[p.rows], p.w[p.rows]
    W, b = p.views(p.params)
    Z = np.matmul(X, W[0])
    Z += b[0]
    P = Z[..., : p.units[-1]]
    loss = skreg_loss(p, Y, np.abs(P) / 10 + 0.01, weight)
    scale = weight / np.sum(weight, axis=-1, keepdims=True)
    factor = p.l2.astype(p.dtype)[:, None]
    rate = 1e-3 * np.sqrt(1.0 - 0.999**10) / (1.0 - 0.9**10)
    work = p.adam_work * (p.member_scale * p.adam_work.dtype.type(rate))
    return {"X batch": X.dtype, "Y batch": Y.dtype, "weight": weight.dtype, "params": p.params.dtype,
            "Z": Z.dtype, "batch loss": np.asarray(loss).dtype, "delta scale": scale.dtype,
            "L2 factor": factor.dtype, "Adam update": work.dtype}


def run(name, min_time, with_fits=False):
    p = Problem(*CONFIGS[name])
    lean = Lean(p)
    print(f"\n=== {name}: X {p.X.shape} {np.dtype(p.dtype).name}, layers {p.units}, batch {p.batch}, "
          f"{p.n_params} parameters ===")
    print("dtypes in skreg's step: " + ", ".join(f"{k} {np.dtype(v).name}" for k, v in dtype_audit(p).items()))
    # same result both ways?
    p0, m0, v0 = p.params.copy(), p.adam_m.copy(), p.adam_v.copy()
    loss_a = float(np.asarray(skreg_step(p, p.rows))[0])
    grads_a, params_a = p.grads.copy(), p.params.copy()
    p.params[:], p.adam_m[:], p.adam_v[:] = p0, m0, v0
    loss_b = lean_step(p, lean, p.rows)
    tol = 1e-4 if p.dtype == np.float32 else 1e-10
    same = (np.allclose(p.grads, grads_a, rtol=tol, atol=tol) and np.allclose(p.params, params_a, rtol=tol, atol=tol)
            and abs(loss_a - loss_b) <= tol * max(1.0, abs(loss_a)))
    print(f"lean step reproduces skreg's gradients, update and loss: {same} (loss {loss_a:.6f} vs {loss_b:.6f})")
    print(f"{'operation':<72} {'skreg us':>9} {'alt us':>9} {'saved':>8}")
    total_a = total_b = 0.0
    for label, skreg_way, alternative in operations(p, lean):
        a = best_us(skreg_way, min_time)
        b = a if alternative is None else best_us(alternative, min_time)
        total_a += a
        total_b += b
        print(f"{label:<72} {a:9.1f} {'(same)' if alternative is None else f'{b:.1f}':>9} {a - b:8.1f}")
    print(f"{'sum of the operations above':<72} {total_a:9.1f} {total_b:9.1f} {total_a - total_b:8.1f}")
    full_a = best_us(lambda: skreg_step(p, p.next_rows()), min_time * 3)
    full_b = best_us(lambda: lean_step(p, lean, p.next_rows()), min_time * 3)
    print(f"{'WHOLE STEP: skreg 6adc4d9 way vs lean (2-D, buffers, cached views)':<72} {full_a:9.1f} {full_b:9.1f} "
          f"{full_a - full_b:8.1f}  ({full_b / full_a:.2f}x)")
    steps = int(np.ceil(p.X.shape[0] / p.batch))
    print(f"-> per epoch of {steps} steps: {full_a * steps / 1e6:.3f} s vs {full_b * steps / 1e6:.3f} s")
    if with_fits:
        fits_per_step(p, name)


def fits_per_step(p, name):
    """Whole fits of scikit-learn and of the installed skreg on the same data: microseconds per step."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    epochs = 1 if p.batch > 100 else 10
    y = p.Y.argmax(axis=1) if p.Y.shape[1] > 1 else p.Y[:, 0].astype(int)
    settings = dict(hidden_layer_sizes=p.units[1:-1], batch_size=p.batch, max_iter=epochs, tol=0.0,
                    n_iter_no_change=10**9, random_state=0)
    models = {"sklearn MLPClassifier": MLPClassifier(alpha=1e-4, **settings)}
    try:
        from skreg import RegularizedMLPClassifier

        models["skreg (installed)"] = RegularizedMLPClassifier(alpha=1e-4 * p.X.shape[0] / p.batch, **settings)
    except ImportError:
        pass
    steps = epochs * p.n_steps
    times = {label: [] for label in models}
    for _ in range(3):
        for label, model in models.items():
            start = time.perf_counter()
            model.fit(p.X, y)
            times[label].append(time.perf_counter() - start)
    for label, values in times.items():
        print(f"{'whole fit, ' + label + f' ({epochs} epochs)':<72} {min(values) / steps * 1e6:9.1f} us/step")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="big32,small", help=f"comma-separated subset of {', '.join(CONFIGS)}")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per measurement")
    parser.add_argument("--blas-threads", type=int, default=None, help="limit BLAS threads (default: as installed)")
    parser.add_argument("--fits", action="store_true",
                        help="also time whole fits of scikit-learn and the installed skreg (us per step)")
    args = parser.parse_args()
    threadpool_limits(limits=args.blas_threads, user_api="blas")
    # The lean step calls BLAS axpy through scipy.linalg.blas, i.e. SciPy's own OpenBLAS, a second thread
    # pool beside numpy's. Alternating between two 2-thread pools on 2 cores made the whole lean step 4x
    # slower (8.0 ms instead of 1.7 ms for big32), so SciPy's BLAS gets one thread, as skreg's L-BFGS does.
    controller = ThreadpoolController()
    scipy_own = [lib.filepath for lib in controller.lib_controllers if "scipy" in Path(lib.filepath).parts[-2]]
    if scipy_own:
        controller.select(filepath=scipy_own).limit(limits=1)
        print("SciPy's own BLAS limited to 1 thread (see the comment in main())")
    blas_info = [f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info()
                 if i["user_api"] == "blas"]
    print(f"numpy {np.__version__}, BLAS: {', '.join(blas_info)}")
    for name in args.config.split(","):
        run(name.strip(), args.min_time, args.fits)


if __name__ == "__main__":
    main()
